//! The builder's one error type, [`BuildError`], and the transport-neutral class of each
//! error, [`ErrorKind`], which a transport maps to its own codes in one place.
//!
//! Messages are what the gateway has always answered: clients, tests and the demo match
//! some of them, so a variant's text changes only with them.

use std::fmt;

use ledger_circuits::CircuitError;
use ledger_crypto::CryptoError;
use ledger_proofs::ProofError;
use ledger_state::{StateError, TxFailure, TxRejection};
use ledger_types::{CodecError, FieldName, OrgId, RecordId, SchemaId};
use thiserror::Error;

/// What only a record's owner may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerOnly {
    /// Write a new version.
    Write,
    /// Grant or revoke access.
    Access,
    /// Assign the receivable of an invoice (the seller).
    Assign,
}

impl fmt::Display for OwnerOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OwnerOnly::Write => "writes new versions",
            OwnerOnly::Access => "grants or revokes access",
            OwnerOnly::Assign => "(the seller) assigns its receivable",
        })
    }
}

/// The class of a [`BuildError`]: what the caller did wrong, or what is missing, in
/// terms any transport can map to its own codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is malformed or contradicts itself or its schema.
    InvalidInput,
    /// This organisation may not do it.
    PermissionDenied,
    /// A record, version, schema, member or field named does not exist.
    NotFound,
    /// What it asks for is already so.
    AlreadyExists,
    /// The state, the keys or the node's setup do not allow it now.
    FailedPrecondition,
    /// A value is beyond what can be computed (a sum too large).
    OutOfRange,
    /// Stored data is damaged.
    DataLoss,
    /// The node's storage or audit log failed; the request may succeed later.
    Unavailable,
    /// An invariant of the node's own code or data does not hold.
    Internal,
}

/// Why a plan could not build its payload or read result.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BuildError {
    // ---- the input -------------------------------------------------------------------
    /// An identifier, a name or a schema in the input is not well formed.
    #[error(transparent)]
    Malformed(#[from] CodecError),
    /// A document in the input is not well formed (its date, lines or totals).
    #[error(transparent)]
    BadDocument(CircuitError),
    /// An endorsement names no statement.
    #[error("give a statement (text) or a statement hash")]
    NoStatement,
    /// A governance request is not well formed.
    #[error("governance: {0}")]
    BadGovernance(String),
    /// A statement hash of the wrong length.
    #[error("a statement hash is 32 bytes, got {len}")]
    StatementHashLength {
        /// The length given.
        len: usize,
    },
    /// An audit sum names no record.
    #[error("name at least one record")]
    NoRecords,
    /// An audit sum over a single record version would reveal its amount.
    #[error("an audit sum adds at least two record versions: a sum over one is its amount (read it under the audit policy instead, as a logged read)")]
    OneRecord,
    /// An audit sum's bound is out of range.
    #[error("max_bits is 1 to 44, got {max_bits}")]
    MaxBits {
        /// The bound given.
        max_bits: u32,
    },
    /// An audit sum names a record version twice.
    #[error("record {record} v{version} is named twice")]
    NamedTwice {
        /// The record.
        record: RecordId,
        /// The version.
        version: u32,
    },
    /// A new record names no schema.
    #[error("a new record needs schema_id (the schema it follows)")]
    SchemaNeeded {
        /// The record.
        record: RecordId,
    },
    /// A put gives a field twice.
    #[error("field {field} is given twice")]
    FieldTwice {
        /// The field.
        field: FieldName,
    },
    /// A document put in a schema that holds none.
    #[error("schema {schema} v{version} is not a document schema; a document cannot be put in it")]
    NotADocumentSchema {
        /// The schema.
        schema: SchemaId,
        /// Its version.
        version: u32,
    },
    /// A put in a document schema without its document.
    #[error("schema {schema} is a {kind} schema: give the document")]
    DocumentNeeded {
        /// The schema.
        schema: SchemaId,
        /// Its document kind.
        kind: &'static str,
    },
    /// A put gives the document field as a value.
    #[error("the document field is written from the document, not as a value")]
    DocumentAsValue,
    /// A field the schema does not declare.
    #[error("field {field} is not declared by schema {schema} v{version}")]
    UnknownField {
        /// The field.
        field: FieldName,
        /// The schema.
        schema: SchemaId,
        /// Its version.
        version: u32,
    },
    /// A value that is not of its field's type.
    #[error("field {field}: {reason}")]
    BadValue {
        /// The field.
        field: FieldName,
        /// Why, with the type's format.
        reason: String,
    },
    /// A required field without a value.
    #[error("required field {field} of schema {schema} is missing")]
    MissingField {
        /// The field.
        field: FieldName,
        /// The schema.
        schema: SchemaId,
    },
    /// A put with no field at all.
    #[error("give at least one field")]
    NoFields,
    /// Sealing a record version failed.
    #[error("sealing: {0}")]
    Sealing(CryptoError),
    /// Proving the committed amounts in range failed.
    #[error("range proof: {0}")]
    RangeProof(ProofError),
    /// A cross-check relation that does not exist, or not with this many operands.
    #[error("relation {relation:?} with {operands} operands: use equal (2), sum (3 or more: total first), at-most (2), invoice (1) or invoice-linked (3: invoice, order, delivery note)")]
    UnknownRelation {
        /// The relation named.
        relation: String,
        /// How many operands were given.
        operands: usize,
    },
    /// A cross-check of amounts whose operand names no field.
    #[error("record {record}: name the committed field of each operand")]
    OperandField {
        /// The operand's record.
        record: RecordId,
    },
    /// A grant or revocation that names no field.
    #[error("name the fields to {action}")]
    NoFieldsNamed {
        /// `grant` or `revoke`.
        action: &'static str,
    },
    /// A grant of a field the record version does not have.
    #[error("record {record} v{version} has no field {field}")]
    NoFieldToGrant {
        /// The record.
        record: RecordId,
        /// Its latest version.
        version: u32,
        /// The field.
        field: FieldName,
    },
    /// A revocation of the owner's own access.
    #[error("the owner always reads its own records")]
    OwnerAlwaysReads {
        /// The record.
        record: RecordId,
    },
    /// Wrapping a field key to a grantee failed.
    #[error("wrapping to {to}: {source}")]
    Wrapping {
        /// The grantee.
        to: OrgId,
        /// Why.
        source: CryptoError,
    },
    /// A schema field of a type that does not exist.
    #[error(
        "field {field}: unknown type {ty:?} (text, bytes, amount, date, identifier, enumeration)"
    )]
    UnknownFieldType {
        /// The field, as given.
        field: String,
        /// The type, as given.
        ty: String,
    },
    /// A schema of a document kind that does not exist.
    #[error("document kind {kind:?}: purchase-order, delivery-note or invoice")]
    UnknownDocumentKind {
        /// The kind, as given.
        kind: String,
    },

    // ---- permission ----------------------------------------------------------------
    /// This organisation has no such sealed secret registered on the chain.
    #[error("{org} has no {what} registered: only {role}s hold one")]
    NoSecretRegistered {
        /// This organisation.
        org: OrgId,
        /// The secret (`audit key`, `ring key`).
        what: &'static str,
        /// The role whose holders have one.
        role: &'static str,
    },
    /// Only the record's owner may do this.
    #[error("record {record} is owned by {owner}; only its owner {only}")]
    NotOwner {
        /// The record.
        record: RecordId,
        /// Its owner.
        owner: OrgId,
        /// What only the owner may do.
        only: OwnerOnly,
    },
    /// This organisation holds no key of a record's document.
    #[error("{org} holds no key for the document of record {record}")]
    NoDocumentKey {
        /// This organisation.
        org: OrgId,
        /// The record.
        record: RecordId,
    },
    /// An audit sum over a record whose schema this organisation does not audit.
    #[error(
        "{org} is not an auditor of schema {schema} v{version}, which record {record} follows"
    )]
    NotAuditor {
        /// This organisation.
        org: OrgId,
        /// The schema.
        schema: SchemaId,
        /// Its version.
        version: u32,
        /// The record.
        record: RecordId,
    },
    /// This organisation holds no key of a field it must open.
    #[error("{org} holds no key for field {field} of record {record}")]
    NoFieldKey {
        /// This organisation.
        org: OrgId,
        /// The record.
        record: RecordId,
        /// The field.
        field: FieldName,
    },

    // ---- not found -------------------------------------------------------------------
    /// No such schema.
    #[error("no schema {schema}")]
    NoSchema {
        /// The schema.
        schema: SchemaId,
    },
    /// No such schema version.
    #[error("schema {schema} has no version {version}; the latest is {latest}")]
    NoSchemaVersion {
        /// The schema.
        schema: SchemaId,
        /// The version named.
        version: u32,
        /// Its latest version.
        latest: u32,
    },
    /// An organisation named as a reader is not a member.
    #[error("{org} is not a member of this chain")]
    NotAMember {
        /// The organisation.
        org: OrgId,
    },
    /// No such record.
    #[error("no record {record}")]
    NoRecord {
        /// The record.
        record: RecordId,
    },
    /// No such record version.
    #[error("record {record} has no version {version}")]
    NoRecordVersion {
        /// The record.
        record: RecordId,
        /// The version named.
        version: u32,
    },
    /// A document record version without its sealed document.
    #[error("record {record} has no document")]
    NoDocument {
        /// The record.
        record: RecordId,
    },
    /// A record version without the sealed field named.
    #[error("record {record} has no field {field}")]
    NoSealedField {
        /// The record.
        record: RecordId,
        /// The field.
        field: FieldName,
    },
    /// A read of a field the record version does not have.
    #[error("record {record} v{version} has no field {field}")]
    FieldNotInVersion {
        /// The record.
        record: RecordId,
        /// The version.
        version: u32,
        /// The field.
        field: FieldName,
    },

    // ---- already so ------------------------------------------------------------------
    /// A grant to an organisation that already reads the field.
    #[error("{org} can already read field {field} of record {record}")]
    AlreadyReader {
        /// The grantee.
        org: OrgId,
        /// The field.
        field: FieldName,
        /// The record.
        record: RecordId,
    },

    // ---- state, keys and setup ---------------------------------------------------------
    /// The node cannot unseal a secret this organisation holds (set up by the node).
    #[error("{reason}")]
    Unsealing {
        /// The secret (`audit key`, `ring key`).
        what: &'static str,
        /// Why, with what to do.
        reason: String,
    },
    /// The chain fixed no member ring.
    #[error("this chain has no member ring")]
    NoMemberRing,
    /// Signing an endorsement failed.
    #[error("{0}")]
    Endorsement(TxRejection),
    /// The chain fixed no verifying key for a circuit.
    #[error("this chain registered no verifying key for circuit {circuit} in genesis")]
    NoVerifyingKey {
        /// The circuit.
        circuit: &'static str,
    },
    /// The node has no usable proving key for a circuit (set up by the node).
    #[error("{reason}")]
    ProvingKey {
        /// The circuit.
        circuit: &'static str,
        /// Why, with what to do.
        reason: String,
    },
    /// A record named as a document follows a schema without documents.
    #[error("record {record} follows schema {schema}, which is not a document schema")]
    NotADocumentRecord {
        /// The record.
        record: RecordId,
        /// Its schema.
        schema: SchemaId,
    },
    /// A record's document does not open.
    #[error("record {record}: {reason}")]
    DocumentUnreadable {
        /// The record.
        record: RecordId,
        /// Why.
        reason: String,
    },
    /// A record's sealed document is not the one its commitment commits to.
    #[error("record {record} v{version}: the sealed document does not match its commitment")]
    DocumentMismatch {
        /// The record.
        record: RecordId,
        /// The version.
        version: u32,
    },
    /// The documents do not satisfy an invoice check.
    #[error("the documents do not satisfy the check: {0}")]
    Unsatisfied(CircuitError),
    /// A financing request for a record that is not an invoice.
    #[error("record {record} is not an invoice (schema {schema})")]
    NotAnInvoice {
        /// The record.
        record: RecordId,
        /// Its schema.
        schema: SchemaId,
    },
    /// A document's party is not an organisation of the member directory.
    #[error("the {party} {org:?} is not an organisation of the member directory: a document's parties are members (corporates and carriers join by vote)")]
    PartyNotAMember {
        /// Which party.
        party: &'static str,
        /// What was written.
        org: String,
    },
    /// This organisation is not the party that writes this kind of document.
    #[error("a {kind} is written by {writer}; {org} is not")]
    NotTheIssuer {
        /// The document kind.
        kind: &'static str,
        /// Who writes it, from the document.
        writer: String,
        /// This organisation.
        org: OrgId,
    },
    /// No committed linked invoice check covers an invoice version to finance.
    #[error("no committed invoice-linked check covers invoice {record} v{version}: prove it against its order and delivery note first (ledger prove-invoice --invoice {record} --order PO --delivery DN)")]
    NoLinkedCheck {
        /// The invoice.
        record: RecordId,
        /// Its version.
        version: u32,
    },
    /// Proving a financing request failed.
    #[error("{0}")]
    Financing(CircuitError),
    /// An analytics question that does not make sense.
    #[error("{0}")]
    BadQuestion(String),
    /// The financed amount could not be encrypted under the chain's analytics key.
    #[error("encrypting the financed amount for the chain's analytics: {0}")]
    Analytics(String),
    /// A reader without a registered encryption key.
    #[error("{org} has no encryption key in the member directory")]
    NoEncryptionKey {
        /// The organisation.
        org: OrgId,
    },
    /// An auditor's registered audit key does not decode.
    #[error("the audit key of {org} is unusable: {source}")]
    UnusableAuditKey {
        /// The auditor.
        org: OrgId,
        /// Why.
        source: ProofError,
    },
    /// An audit sum over a field a record version does not commit.
    #[error("record {record} v{version} has no committed field {field}")]
    NoCommittedField {
        /// The record.
        record: RecordId,
        /// The version.
        version: u32,
        /// The field.
        field: FieldName,
    },
    /// A committed field without this auditor's handle.
    #[error("record {record} v{version} carries no audit handle of {field} for {org}")]
    NoAuditHandle {
        /// The record.
        record: RecordId,
        /// The version.
        version: u32,
        /// The field.
        field: FieldName,
        /// This organisation.
        org: OrgId,
    },
    /// A cross-check operand that is not a committed amount.
    #[error("field {field} of record {record} v{version} is not a committed amount")]
    NotCommitted {
        /// The record.
        record: RecordId,
        /// The version.
        version: u32,
        /// The field.
        field: FieldName,
    },
    /// A field this organisation must open does not open.
    #[error("field {field} of record {record}: {reason}")]
    FieldUnreadable {
        /// The record.
        record: RecordId,
        /// The field.
        field: FieldName,
        /// Why.
        reason: String,
    },
    /// A sealed opening that does not decode.
    #[error("{0}")]
    BadOpening(ProofError),
    /// A sealed amount that does not open its commitment.
    #[error("field {field} of record {record}: the sealed value does not match its commitment")]
    OpeningMismatch {
        /// The record.
        record: RecordId,
        /// The field.
        field: FieldName,
    },
    /// The amounts do not satisfy the relation.
    #[error("the relation does not hold: {0}")]
    RelationFails(ProofError),
    /// The owner holds no key of a field it grants.
    #[error("{org} holds no key for field {field}")]
    NoOwnKey {
        /// This organisation.
        org: OrgId,
        /// The field.
        field: FieldName,
    },
    /// Unwrapping the owner's key of a field it grants failed.
    #[error("unwrapping the key of field {field}: {source}")]
    Unwrapping {
        /// The field.
        field: FieldName,
        /// Why.
        source: CryptoError,
    },
    /// A revocation of an auditor's access.
    #[error("{org} audits schema {schema} v{version}: its access follows the audit policy and cannot be revoked")]
    AuditorCannotBeRevoked {
        /// The auditor.
        org: OrgId,
        /// The schema.
        schema: SchemaId,
        /// Its version.
        version: u32,
    },
    /// A revocation of a field the organisation cannot read.
    #[error("{org} cannot read field {field} of record {record} v{version}; nothing to revoke")]
    NothingToRevoke {
        /// The organisation.
        org: OrgId,
        /// The field.
        field: FieldName,
        /// The record.
        record: RecordId,
        /// Its latest version.
        version: u32,
    },
    /// A field that must be re-sealed for a revocation does not open.
    #[error("reading field {field} to re-seal it: {reason}")]
    Reseal {
        /// The field.
        field: FieldName,
        /// Why.
        reason: String,
    },
    /// The ledger would refuse the write (a shared rule of `ledger_state::rules`).
    #[error("{0}")]
    Rejected(TxFailure),

    /// A record's amount was committed for an audit key whose secret this node does not
    /// hold (a key from before a rotation whose secret is not in `former-keys/`).
    #[error("record {record} version {version} was audited under the audit key {key}, whose secret this node does not hold (keep former audit secrets in <home>/former-keys)")]
    NoAuditSecretForEpoch {
        /// The record.
        record: RecordId,
        /// The version.
        version: u32,
        /// The key of its epoch (hex).
        key: String,
    },

    // ---- beyond range, damaged ---------------------------------------------------------
    /// An audit sum at or above its bound.
    #[error("the sum is not below 2^{max_bits} (ask again with a larger max_bits): {source}")]
    SumTooLarge {
        /// The bound.
        max_bits: u32,
        /// Why.
        source: ProofError,
    },
    /// A stored commitment that does not decode.
    #[error("record {record}: {source}")]
    CorruptCommitment {
        /// The record.
        record: RecordId,
        /// Why.
        source: ProofError,
    },

    // ---- the node ----------------------------------------------------------------------
    /// Reading state failed.
    #[error("node storage error: {0}")]
    Storage(#[from] StateError),
    /// The audit log could not record a read; nothing was returned.
    #[error("audit log: {0}")]
    AuditLog(String),
    /// This node's organisation is not in the member directory.
    #[error("this node's organisation is not a member")]
    SelfNotMember {
        /// This organisation.
        org: OrgId,
    },
    /// An invariant of the node's code or data does not hold.
    #[error("{reason}")]
    Internal {
        /// What does not hold.
        reason: String,
    },
}

impl BuildError {
    /// An [`BuildError::Internal`] error.
    pub fn internal(reason: impl Into<String>) -> Self {
        BuildError::Internal {
            reason: reason.into(),
        }
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        use BuildError as E;
        match self {
            E::Malformed(_)
            | E::BadDocument(_)
            | E::NoStatement
            | E::BadGovernance(_)
            | E::StatementHashLength { .. }
            | E::NoRecords
            | E::OneRecord
            | E::MaxBits { .. }
            | E::NamedTwice { .. }
            | E::SchemaNeeded { .. }
            | E::FieldTwice { .. }
            | E::NotADocumentSchema { .. }
            | E::DocumentNeeded { .. }
            | E::DocumentAsValue
            | E::UnknownField { .. }
            | E::BadValue { .. }
            | E::MissingField { .. }
            | E::NoFields
            | E::Sealing(_)
            | E::RangeProof(_)
            | E::UnknownRelation { .. }
            | E::OperandField { .. }
            | E::NoFieldsNamed { .. }
            | E::NoFieldToGrant { .. }
            | E::OwnerAlwaysReads { .. }
            | E::Wrapping { .. }
            | E::UnknownFieldType { .. }
            | E::UnknownDocumentKind { .. }
            | E::PartyNotAMember { .. }
            | E::BadQuestion(_) => ErrorKind::InvalidInput,
            E::NoSecretRegistered { .. }
            | E::NotOwner { .. }
            | E::NoDocumentKey { .. }
            | E::NotAuditor { .. }
            | E::NoFieldKey { .. }
            | E::NotTheIssuer { .. } => ErrorKind::PermissionDenied,
            E::NoSchema { .. }
            | E::NoSchemaVersion { .. }
            | E::NotAMember { .. }
            | E::NoRecord { .. }
            | E::NoRecordVersion { .. }
            | E::NoDocument { .. }
            | E::NoSealedField { .. }
            | E::FieldNotInVersion { .. } => ErrorKind::NotFound,
            E::AlreadyReader { .. } => ErrorKind::AlreadyExists,
            E::Unsealing { .. }
            | E::NoMemberRing
            | E::Endorsement(_)
            | E::NoVerifyingKey { .. }
            | E::ProvingKey { .. }
            | E::NotADocumentRecord { .. }
            | E::DocumentUnreadable { .. }
            | E::DocumentMismatch { .. }
            | E::Unsatisfied(_)
            | E::NotAnInvoice { .. }
            | E::NoLinkedCheck { .. }
            | E::Financing(_)
            | E::Analytics(_)
            | E::NoEncryptionKey { .. }
            | E::UnusableAuditKey { .. }
            | E::NoCommittedField { .. }
            | E::NoAuditHandle { .. }
            | E::NotCommitted { .. }
            | E::FieldUnreadable { .. }
            | E::BadOpening(_)
            | E::OpeningMismatch { .. }
            | E::RelationFails(_)
            | E::NoOwnKey { .. }
            | E::Unwrapping { .. }
            | E::AuditorCannotBeRevoked { .. }
            | E::NothingToRevoke { .. }
            | E::Reseal { .. }
            | E::Rejected(_)
            | E::NoAuditSecretForEpoch { .. } => ErrorKind::FailedPrecondition,
            E::SumTooLarge { .. } => ErrorKind::OutOfRange,
            E::CorruptCommitment { .. } => ErrorKind::DataLoss,
            E::Storage(_) | E::AuditLog(_) => ErrorKind::Unavailable,
            E::SelfNotMember { .. } | E::Internal { .. } => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_gateways() {
        let record = RecordId::new("INV-1").unwrap();
        let owner = OrgId::new("bank-a").unwrap();
        let e = BuildError::NotOwner {
            record: record.clone(),
            owner: owner.clone(),
            only: OwnerOnly::Write,
        };
        assert_eq!(
            e.to_string(),
            "record INV-1 is owned by bank-a; only its owner writes new versions"
        );
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let e = BuildError::NotOwner {
            record,
            owner,
            only: OwnerOnly::Access,
        };
        assert_eq!(
            e.to_string(),
            "record INV-1 is owned by bank-a; only its owner grants or revokes access"
        );
        let field = FieldName::new("total").unwrap();
        let schema = SchemaId::new("po").unwrap();
        let org = OrgId::new("bank-c").unwrap();
        let record = RecordId::new("INV-1").unwrap();
        let cases = [
            (
                BuildError::NoFieldsNamed { action: "revoke" },
                "name the fields to revoke",
                ErrorKind::InvalidInput,
            ),
            (
                BuildError::MissingField {
                    field: field.clone(),
                    schema: schema.clone(),
                },
                "required field total of schema po is missing",
                ErrorKind::InvalidInput,
            ),
            (
                BuildError::NoFieldKey {
                    org: org.clone(),
                    record: record.clone(),
                    field: field.clone(),
                },
                "bank-c holds no key for field total of record INV-1",
                ErrorKind::PermissionDenied,
            ),
            (
                BuildError::NoSchemaVersion {
                    schema: schema.clone(),
                    version: 3,
                    latest: 2,
                },
                "schema po has no version 3; the latest is 2",
                ErrorKind::NotFound,
            ),
            (
                BuildError::AlreadyReader {
                    org: org.clone(),
                    field: field.clone(),
                    record: record.clone(),
                },
                "bank-c can already read field total of record INV-1",
                ErrorKind::AlreadyExists,
            ),
            (
                BuildError::AuditorCannotBeRevoked {
                    org,
                    schema,
                    version: 1,
                },
                "bank-c audits schema po v1: its access follows the audit policy and cannot be revoked",
                ErrorKind::FailedPrecondition,
            ),
            (
                BuildError::NoCommittedField {
                    record,
                    version: 1,
                    field,
                },
                "record INV-1 v1 has no committed field total",
                ErrorKind::FailedPrecondition,
            ),
            (
                BuildError::AuditLog("disk full".into()),
                "audit log: disk full",
                ErrorKind::Unavailable,
            ),
        ];
        for (e, message, kind) in cases {
            assert_eq!((e.to_string().as_str(), e.kind()), (message, kind));
        }
        let e = BuildError::Storage(StateError::Storage("disk".into()));
        assert_eq!(e.to_string(), "node storage error: state storage: disk");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
    }
}
