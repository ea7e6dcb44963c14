//! The gateway's domain logic as plans: what an organisation writes and reads on the
//! ledger, built from committed state and its own keys, with no transport in sight.
//!
//! A [`Builder`] acts for one organisation. It reads committed state through a
//! [`StateView`] and unwraps field keys through the organisation's key-agreement key in its
//! [`KeyProvider`] (ECDH inside the HSM). Each plan takes plain domain inputs (a
//! [`PutInput`], an [`AccessInput`], ...) and returns the payload to sign and submit
//! (a [`PutRecord`](ledger_types::PutRecord), a [`GrantAccess`](ledger_types::GrantAccess),
//! ...), a signed endorsement, or a read result; or one typed [`BuildError`]. What needs
//! more than state and keys — the sealed software secrets, the Groth16 proving keys, the
//! audit log — is provided by the caller through the small traits of [`resources`].
//!
//! The builder must never depend on a transport (no gRPC, no protobuf), never do file or
//! network I/O, and never sign with the organisation's signing key: the caller signs and
//! submits what a plan built. The shared rules of a write (ownership, next version,
//! declared and required fields, readers, auditors) come from `ledger_state::rules`, the
//! ones the executor applies.

mod access;
mod audit;
mod check;
mod document;
mod endorse;
mod error;
mod financing;
mod put;
mod read;
pub mod resources;
mod schema;
mod seal;
#[cfg(test)]
mod testkit;

use std::fmt;

use ledger_crypto::field::{FieldBinding, FieldKey};
use ledger_crypto::record::{binding, unwrap_key, Reader};
use ledger_crypto::CryptoError;
use ledger_hsm::KeyProvider;
use ledger_proofs::AuditKey;
use ledger_state::rules::{self, NoReaderKey};
use ledger_state::{record_head, record_version, schema_head, schema_version, RecordVersion};
use ledger_types::record::KeyWrap;
use ledger_types::{
    ChainId, FieldName, OrgId, Payload, RecordId, RegisterMember, RegisterSchema, SchemaId,
};
use zeroize::Zeroizing;

pub use access::AccessInput;
pub use audit::{AuditSum, AuditSumInput, RecordAt};
pub use check::{CheckRelation, CrossCheckInput, OperandInput};
pub use document::DocumentInput;
pub use endorse::{EndorseInput, SignedEndorsement, Statement};
pub use error::{BuildError, ErrorKind, OwnerOnly};
pub use financing::FinancingInput;
pub use ledger_state::StateView;
pub use put::{FieldValue, PutInput};
pub use read::{FieldAccess, FieldReaders, Grants, OpenedField, ReadInput, RecordRead};
pub use resources::{AuditEntry, AuditTrail, ProvingKeys, SealedSecrets};
pub use schema::{SchemaFieldInput, SchemaInput};

/// This organisation's key-agreement key, held by its key provider: field keys wrapped to
/// the organisation are unwrapped by an ECDH inside the provider, and the private key never
/// leaves it.
#[derive(Clone, Copy)]
pub struct AgreementKey<'a> {
    /// The key provider (an HSM; software keys in development and tests).
    pub provider: &'a dyn KeyProvider,
    /// The key's label in the provider.
    pub label: &'a str,
    /// Its public point (uncompressed SEC1), as registered in the member directory.
    pub public: &'a [u8],
    /// The organisation's former key-agreement keys (label and public point), replaced by
    /// rotations: field keys wrapped to them before open with them.
    pub former: &'a [(String, Vec<u8>)],
}

impl fmt::Debug for AgreementKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgreementKey")
            .field("provider", &self.provider.describe())
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Builds one organisation's writes and reads from committed state and its keys.
///
/// Cheap to make: a gateway makes one per request, over the state of that moment. Plans
/// block (each unwrap is an ECDH in the key provider; proofs take milliseconds to seconds),
/// so async callers run them on a blocking thread.
pub struct Builder<'a, V: StateView> {
    view: &'a V,
    chain: &'a ChainId,
    org: &'a OrgId,
    key: AgreementKey<'a>,
}

impl<V: StateView> fmt::Debug for Builder<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("chain", self.chain)
            .field("org", self.org)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What a write is about, as its client is told: the record written, granted, checked or
/// financed (none for a schema), and the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSubject {
    /// The record (for a cross-check: its first operand).
    pub record: Option<RecordId>,
    /// The record version, or the schema version.
    pub version: u32,
}

impl WriteSubject {
    /// The subject of a payload a plan built; `None` for kinds no plan builds.
    pub fn of(payload: &Payload) -> Option<Self> {
        let record = |record: &RecordId, version: u32| WriteSubject {
            record: Some(record.clone()),
            version,
        };
        match payload {
            Payload::PutRecord(p) => Some(record(&p.record, p.version)),
            Payload::GrantAccess(g) => Some(record(&g.record, g.version)),
            Payload::RevokeAccess(r) => Some(record(&r.put.record, r.put.version)),
            Payload::CrossCheck(c) => c.operands.first().map(|o| record(&o.record, o.version)),
            Payload::FinanceRequest(f) => Some(record(&f.invoice.record, f.invoice.version)),
            Payload::RegisterSchema(s) => Some(WriteSubject {
                record: None,
                version: s.version,
            }),
            Payload::Govern(_) | Payload::Analytics(_) => Some(WriteSubject {
                record: None,
                version: 0,
            }),
            _ => None,
        }
    }
}

impl<'a, V: StateView> Builder<'a, V> {
    /// A builder for `org` on chain `chain`, reading `view`, unwrapping with `key`.
    pub fn new(view: &'a V, chain: &'a ChainId, org: &'a OrgId, key: AgreementKey<'a>) -> Self {
        Self {
            view,
            chain,
            org,
            key,
        }
    }

    /// The organisation this builder acts for.
    pub fn org(&self) -> &OrgId {
        self.org
    }

    /// The chain.
    pub fn chain(&self) -> &ChainId {
        self.chain
    }

    /// This organisation's registration.
    fn me(&self) -> Result<RegisterMember, BuildError> {
        ledger_state::member(self.view, self.org)?.ok_or_else(|| BuildError::SelfNotMember {
            org: self.org.clone(),
        })
    }

    /// Version `version` of schema `id`, or its latest.
    fn schema(&self, id: &SchemaId, version: Option<u32>) -> Result<RegisterSchema, BuildError> {
        let head = schema_head(self.view, id)?
            .ok_or_else(|| BuildError::NoSchema { schema: id.clone() })?;
        let v = version.unwrap_or(head.latest_version);
        schema_version(self.view, id, v)?.ok_or_else(|| BuildError::NoSchemaVersion {
            schema: id.clone(),
            version: v,
            latest: head.latest_version,
        })
    }

    /// The latest version of record `id`, with its schema.
    fn latest(&self, id: &RecordId) -> Result<(RecordVersion, RegisterSchema), BuildError> {
        let head = record_head(self.view, id)?
            .ok_or_else(|| BuildError::NoRecord { record: id.clone() })?;
        self.version(id, head.latest_version)
    }

    /// Version `v` of record `id`, with its schema.
    fn version(
        &self,
        id: &RecordId,
        v: u32,
    ) -> Result<(RecordVersion, RegisterSchema), BuildError> {
        let rv = record_version(self.view, id, v)?.ok_or_else(|| BuildError::NoRecordVersion {
            record: id.clone(),
            version: v,
        })?;
        let schema = self.schema(&rv.schema, Some(rv.schema_version))?;
        Ok((rv, schema))
    }

    /// Version `version` of record `id` (the latest when `None`), with its schema.
    fn at(
        &self,
        id: &RecordId,
        version: Option<u32>,
    ) -> Result<(RecordVersion, RegisterSchema), BuildError> {
        match version {
            None => self.latest(id),
            Some(v) => self.version(id, v),
        }
    }

    /// `org` as a field reader (see [`rules::reader`]).
    fn reader(&self, org: &OrgId) -> Result<Reader, BuildError> {
        rules::reader(self.view, org)?.map_err(|why| match why {
            NoReaderKey::NotAMember => BuildError::NotAMember { org: org.clone() },
            NoReaderKey::NoEncryptionKey => BuildError::NoEncryptionKey { org: org.clone() },
        })
    }

    /// The schema's auditors that hold an audit key, with their keys (see
    /// [`rules::audit_keys`]).
    fn audit_keys(&self, schema: &RegisterSchema) -> Result<Vec<(OrgId, AuditKey)>, BuildError> {
        rules::audit_keys(self.view, schema)?
            .into_iter()
            .map(|(org, bytes)| match AuditKey::from_bytes(&bytes) {
                Ok(key) => Ok((org, key)),
                Err(source) => Err(BuildError::UnusableAuditKey { org, source }),
            })
            .collect()
    }

    /// The binding of `field` of record version `rv`.
    fn binding(
        &self,
        rv: &RecordVersion,
        field: &FieldName,
        schema: &RegisterSchema,
    ) -> FieldBinding {
        binding(self.chain, &rv.record, rv.version, field, schema)
    }

    /// Unwraps a field key wrapped to this organisation (an ECDH in the key provider):
    /// with its current key, or, for a wrap made before a rotation, a former one.
    fn unwrap(&self, b: &FieldBinding, wrap: &KeyWrap) -> Result<FieldKey, CryptoError> {
        let first = unwrap_key(b, wrap, self.key.public, |enc| {
            self.ecdh(self.key.label, enc)
        });
        match first {
            Ok(k) => Ok(k),
            // The provider itself failed: trying other keys would hide it.
            Err(e @ CryptoError::KeyAgreementFailed { .. }) => Err(e),
            Err(e) => {
                for (label, public) in self.key.former.iter().rev() {
                    if let Ok(k) = unwrap_key(b, wrap, public, |enc| self.ecdh(label, enc)) {
                        return Ok(k);
                    }
                }
                Err(e)
            }
        }
    }

    fn ecdh(&self, label: &str, enc: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.key
            .provider
            .ecdh(label, enc)
            .map_err(|e| CryptoError::KeyAgreementFailed {
                reason: e.to_string(),
            })
    }
}
