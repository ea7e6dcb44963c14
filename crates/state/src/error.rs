use ledger_types::{CodecError, FieldName, Hash, OrgId, RecordId, SchemaId, Topic};
use thiserror::Error;

/// A failure to read state (storage trouble or corrupt stored values).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StateError {
    /// The storage layer failed.
    #[error("state storage: {0}")]
    Storage(String),
    /// A stored value does not decode.
    #[error("stored state under {key:?} is corrupt: {source}")]
    Corrupt {
        /// The key (printable: keys are built from identifiers).
        key: String,
        /// The decoding error.
        source: CodecError,
    },
}

/// The first financing of some goods, as a refusal of another names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstFinancing {
    /// Its transaction.
    pub tx: Hash,
    /// Its block's height.
    pub height: u64,
    /// The seller that assigned the receivable.
    pub by: OrgId,
    /// The bank it was assigned to.
    pub bank: OrgId,
    /// The invoice it named.
    pub invoice: ledger_types::RecordAt,
}

/// Why a transaction cannot be in a block at all (a block holding it is invalid).
///
/// The mempool refuses these at admission; a proposer drops them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TxRejection {
    /// Signed for another chain.
    #[error("transaction is for chain {got}, this is chain {expected}")]
    WrongChain {
        /// This chain.
        expected: String,
        /// The transaction's chain.
        got: String,
    },
    /// The signer is not in the member directory.
    #[error("unknown signer {signer}: no such member in the directory")]
    UnknownSigner {
        /// The signer.
        signer: OrgId,
    },
    /// The signer is suspended by governance: every validator refuses its transactions
    /// until it is reinstated.
    #[error("{signer} is suspended (proposal {proposal} passed at height {height}); its transactions are refused until it is reinstated")]
    Suspended {
        /// The signer.
        signer: OrgId,
        /// The proposal that suspended it.
        proposal: u64,
        /// When it passed.
        height: u64,
    },
    /// Governance removed the signer from the consortium: every validator refuses its
    /// transactions for good.
    #[error("{signer} was removed from the consortium (proposal {proposal} passed at height {height}); its transactions are refused")]
    Removed {
        /// The signer.
        signer: OrgId,
        /// The proposal that removed it.
        proposal: u64,
        /// When it passed.
        height: u64,
    },
    /// The signature does not verify under the signer's registered key.
    #[error("signature by {signer} does not verify: {reason}")]
    BadSignature {
        /// The signer.
        signer: OrgId,
        /// The verifier's reason.
        reason: String,
    },
    /// The nonce was already used.
    #[error(
        "nonce {got} of {signer} was already used (next nonce is {next}): replayed transaction"
    )]
    NonceUsed {
        /// The signer.
        signer: OrgId,
        /// The nonce in the transaction.
        got: u64,
        /// The next usable nonce.
        next: u64,
    },
    /// The nonce is ahead of the next one (an earlier transaction is missing).
    #[error("nonce {got} of {signer} is ahead of the next nonce {next}")]
    NonceAhead {
        /// The signer.
        signer: OrgId,
        /// The nonce in the transaction.
        got: u64,
        /// The next usable nonce.
        next: u64,
    },
    /// A kind that is not allowed at this height, or a genesis rule broken.
    #[error("{kind} is not allowed {context}")]
    NotAllowed {
        /// The transaction kind.
        kind: &'static str,
        /// Where it is not allowed and why.
        context: String,
    },
    /// A proof the transaction carries does not verify (no block may hold it).
    #[error("{kind} proof of record {record} does not verify: {reason}")]
    InvalidProof {
        /// The proof kind.
        kind: &'static str,
        /// The record it is about.
        record: RecordId,
        /// Why.
        reason: String,
    },
    /// An anonymous endorsement whose ring signature does not verify, or whose ring does
    /// not exist.
    #[error("endorsement of topic {topic} refused: {reason}")]
    BadEndorsement {
        /// The topic.
        topic: Topic,
        /// Why.
        reason: String,
    },
    /// A second endorsement of a topic by the same member (the same key image).
    #[error("topic {topic} was already endorsed with this ring key (key image {key_image}) in transaction {earlier_tx} at height {earlier_height}: one endorsement per member per topic")]
    AlreadyEndorsed {
        /// The topic.
        topic: Topic,
        /// The key image, hex.
        key_image: String,
        /// The earlier endorsement.
        earlier_tx: Hash,
        /// Its height.
        earlier_height: u64,
    },
    /// Reading state failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Why an included transaction had no effect (its nonce is still consumed).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TxFailure {
    /// The version written is not the record's next version.
    #[error("record {record}: version {got} given, the next version is {expected}")]
    RecordVersionConflict {
        /// The record.
        record: RecordId,
        /// The next version.
        expected: u32,
        /// The version in the transaction.
        got: u32,
    },
    /// Only the owner may write new versions.
    #[error("record {record} is owned by {owner}; {signer} may not write it")]
    NotRecordOwner {
        /// The record.
        record: RecordId,
        /// Its owner.
        owner: OrgId,
        /// Who tried.
        signer: OrgId,
    },
    /// The schema version written is not the schema's next version.
    #[error("schema {schema}: version {got} given, the next version is {expected}")]
    SchemaVersionConflict {
        /// The schema.
        schema: SchemaId,
        /// The next version.
        expected: u32,
        /// The version in the transaction.
        got: u32,
    },
    /// Only the registrar may register new versions of a schema.
    #[error("schema {schema} was registered by {owner}; {signer} may not add versions")]
    NotSchemaOwner {
        /// The schema.
        schema: SchemaId,
        /// Its registrar.
        owner: OrgId,
        /// Who tried.
        signer: OrgId,
    },
    /// An audit policy names an organisation that is not a registered regulator.
    #[error("schema {schema}: auditor {auditor} is not a registered regulator")]
    AuditorNotRegulator {
        /// The schema.
        schema: SchemaId,
        /// The named auditor.
        auditor: OrgId,
    },
    /// The record names a schema version that is not registered.
    #[error("record {record}: schema {schema} version {version} is not registered")]
    SchemaNotFound {
        /// The record.
        record: RecordId,
        /// The schema.
        schema: SchemaId,
        /// The version named.
        version: u32,
    },
    /// The record's fields do not fit its schema.
    #[error("record {record} does not match schema {schema} v{version}: {reason}")]
    RecordDoesNotMatchSchema {
        /// The record.
        record: RecordId,
        /// The schema.
        schema: SchemaId,
        /// The schema version.
        version: u32,
        /// Which rule, which field.
        reason: String,
    },
    /// A field lacks the wrap its schema's audit policy requires.
    #[error("record {record}: field {field} has no key wrap for auditor {auditor}, which the schema's audit policy requires")]
    MissingAuditWrap {
        /// The record.
        record: RecordId,
        /// The field.
        field: FieldName,
        /// The auditor without a wrap.
        auditor: OrgId,
    },
    /// The receivable was already financed: its nullifier is used.
    #[error("invoice {record} v{version}: the goods it bills were already financed: {} assigned by {} to {} in transaction {} at height {}", .first.invoice, .first.by, .first.bank, .first.tx, .first.height)]
    AlreadyFinanced {
        /// The invoice named by this request.
        record: RecordId,
        /// Its version.
        version: u32,
        /// The first financing of these goods.
        first: Box<FirstFinancing>,
    },
    /// A financing request not signed by the invoice's seller (the record's owner).
    #[error("invoice {record} is {owner}'s record: only its seller assigns its receivable, not {signer}")]
    NotTheSeller {
        /// The invoice.
        record: RecordId,
        /// Its owner.
        owner: OrgId,
        /// Who signed the request.
        signer: OrgId,
    },
    /// An encrypted-analytics step the rules refuse (the reason says which rule).
    #[error("analytics: {reason}")]
    AnalyticsRefused {
        /// Why.
        reason: String,
    },
    /// No query was asked in the transaction an analytics step names.
    #[error("analytics: no query was asked in transaction {query}")]
    QueryNotFound {
        /// The transaction named.
        query: ledger_types::Hash,
    },
    /// The bank a financing request names cannot take the receivable.
    #[error("{bank} cannot be assigned the receivable of invoice {record}: {reason}")]
    NotAFinancingBank {
        /// The invoice.
        record: RecordId,
        /// The bank named.
        bank: OrgId,
        /// Why not.
        reason: String,
    },
    /// No committed linked invoice check covers the documents a financing request names.
    #[error("no committed invoice-linked check proves that invoice {} bills the goods of delivery note {} ordered by {}: file one first (ledger prove-invoice)", .documents[0], .documents[2], .documents[1])]
    NoLinkedCheck {
        /// The invoice, the purchase order and the delivery note.
        documents: Box<[ledger_types::RecordAt; 3]>,
    },
    /// A record that must be a document of some kind is not.
    #[error("record {record} v{version} is not a {expected} document")]
    NotADocument {
        /// The record.
        record: RecordId,
        /// The version.
        version: u32,
        /// The kind it must be.
        expected: &'static str,
    },
    /// A committed field lacks the auditor handle its schema's audit policy requires.
    #[error("record {record}: committed field {field} has no audit handle for auditor {auditor}, which the schema's audit policy requires")]
    MissingAuditHandle {
        /// The record.
        record: RecordId,
        /// The field.
        field: FieldName,
        /// The auditor without a handle.
        auditor: OrgId,
    },
    /// A field lacks a wrap for the record's owner.
    #[error("record {record}: field {field} has no key wrap for its owner {owner}")]
    MissingOwnerWrap {
        /// The record.
        record: RecordId,
        /// The field.
        field: FieldName,
        /// The owner.
        owner: OrgId,
    },
    /// A wrap is addressed to an organisation that cannot hold one.
    #[error("record {record}: reader {reader} is not a member with an encryption key")]
    UnknownReader {
        /// The record.
        record: RecordId,
        /// The reader.
        reader: OrgId,
    },
    /// The record or the version does not exist.
    #[error("record {record} has no version {version}")]
    RecordVersionNotFound {
        /// The record.
        record: RecordId,
        /// The version.
        version: u32,
    },
    /// A grant must wrap the keys of the latest version.
    #[error("record {record}: grants wrap the keys of the latest version {latest}, not {version}")]
    GrantNotCurrent {
        /// The record.
        record: RecordId,
        /// The version named.
        version: u32,
        /// The latest version.
        latest: u32,
    },
    /// A named field is not in the record version.
    #[error("record {record} version {version} has no field {field}")]
    FieldNotInRecord {
        /// The record.
        record: RecordId,
        /// The version.
        version: u32,
        /// The field.
        field: FieldName,
    },
    /// The reader already holds a wrap of that field.
    #[error("record {record}: {reader} can already read field {field}")]
    AlreadyReader {
        /// The record.
        record: RecordId,
        /// The field.
        field: FieldName,
        /// The reader.
        reader: OrgId,
    },
    /// A revocation names a field the organisation could not read.
    #[error("record {record}: {reader} cannot read field {field}, so there is nothing to revoke")]
    NotAReader {
        /// The record.
        record: RecordId,
        /// The field.
        field: FieldName,
        /// The organisation.
        reader: OrgId,
    },
    /// The owner and the schema's auditors cannot lose access.
    #[error("record {record}: access of {org} cannot be revoked: {reason}")]
    CannotRevoke {
        /// The record.
        record: RecordId,
        /// The organisation named.
        org: OrgId,
        /// Why.
        reason: &'static str,
    },
    /// A revocation's new version drops a reader it did not revoke.
    #[error("record {record}: the new version drops {reader} from field {field}, which the revocation does not name")]
    ReaderDropped {
        /// The record.
        record: RecordId,
        /// The field.
        field: FieldName,
        /// The reader dropped.
        reader: OrgId,
    },
    /// Only an auditor named by the record's schema may file an audit alert on it.
    #[error("record {record}: {signer} is not an auditor of its schema")]
    NotAnAuditor {
        /// The record.
        record: RecordId,
        /// Who tried.
        signer: OrgId,
    },
    /// An audit alert names someone other than the record's owner.
    #[error("record {record} is owned by {owner}, the alert names {named}")]
    AlertOwnerMismatch {
        /// The record.
        record: RecordId,
        /// Its owner.
        owner: OrgId,
        /// Who the alert names.
        named: OrgId,
    },
    /// The same alert was already filed.
    #[error("record {record} version {version}: {signer} already filed an alert on field {field}")]
    DuplicateAlert {
        /// The record.
        record: RecordId,
        /// The version.
        version: u32,
        /// The field.
        field: FieldName,
        /// The regulator.
        signer: OrgId,
    },
    /// The signer lacks the role this kind requires.
    #[error("{signer} lacks the {role} role needed for {kind}")]
    MissingRole {
        /// The signer.
        signer: OrgId,
        /// The role needed.
        role: &'static str,
        /// The transaction kind.
        kind: &'static str,
    },
    /// Only governors propose and vote.
    #[error("{signer} is not a governor: only governors propose and vote")]
    NotAGovernor {
        /// The signer.
        signer: OrgId,
    },
    /// No such proposal.
    #[error("there is no proposal {proposal}")]
    ProposalNotFound {
        /// The proposal.
        proposal: u64,
    },
    /// The proposal is no longer open.
    #[error("proposal {proposal} is {status}, not open")]
    ProposalNotOpen {
        /// The proposal.
        proposal: u64,
        /// What it is.
        status: &'static str,
    },
    /// The proposal's deadline has passed.
    #[error("proposal {proposal}'s deadline was height {deadline}; this is height {height}")]
    ProposalExpired {
        /// The proposal.
        proposal: u64,
        /// Its deadline.
        deadline: u64,
        /// This height.
        height: u64,
    },
    /// The governor already voted on the proposal.
    #[error("{signer} already voted on proposal {proposal}; a vote counts once")]
    AlreadyVoted {
        /// The proposal.
        proposal: u64,
        /// The governor.
        signer: OrgId,
    },
    /// Only the proposer revokes a proposal.
    #[error("only {proposer}, who made proposal {proposal}, may revoke it")]
    NotTheProposer {
        /// The proposal.
        proposal: u64,
        /// Its proposer.
        proposer: OrgId,
    },
    /// A proposal on the same action and subject is already open.
    #[error("proposal {open} on {subject} is still open; one proposal per action and subject")]
    ProposalAlreadyOpen {
        /// The action and subject.
        subject: String,
        /// The open proposal.
        open: u64,
    },
    /// The proposal's deadline is not in the allowed window.
    #[error("deadline {deadline} must be after this height {height} and at most {max_open} blocks ahead")]
    BadDeadline {
        /// The deadline given.
        deadline: u64,
        /// This height.
        height: u64,
        /// The longest a proposal may stay open.
        max_open: u64,
    },
    /// The action cannot be carried out as proposed.
    #[error("{action}: {reason}")]
    BadAction {
        /// The action's kind.
        action: &'static str,
        /// Why.
        reason: String,
    },
    /// A key rotation that cannot be carried out.
    #[error("rotating {org}'s {kind} key: {reason}")]
    BadRotation {
        /// The member.
        org: OrgId,
        /// Which key.
        kind: &'static str,
        /// Why.
        reason: String,
    },
}

/// Why a block is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BlockError {
    /// A header field does not follow from the parent or the contents.
    #[error("block {height}: {field} is {got}, expected {expected}")]
    HeaderMismatch {
        /// The block height.
        height: u64,
        /// The header field.
        field: &'static str,
        /// What the block says.
        got: String,
        /// What it should say.
        expected: String,
    },
    /// A transaction in the block cannot be in any block.
    #[error("block {height}: transaction {index} ({tx}) is invalid: {reason}")]
    InvalidTx {
        /// The block height.
        height: u64,
        /// The position in the block.
        index: usize,
        /// The transaction hash.
        tx: Hash,
        /// Why (boxed: blocks are valid far more often than not).
        reason: Box<TxRejection>,
    },
    /// The proposer is not a validator.
    #[error("block {height}: proposer {proposer} is not a validator")]
    ProposerNotValidator {
        /// The block height.
        height: u64,
        /// The proposer.
        proposer: String,
    },
    /// The commit does not carry a valid quorum of validator signatures.
    #[error("block {height}: commit invalid: {reason}")]
    BadCommit {
        /// The block height.
        height: u64,
        /// Why.
        reason: String,
    },
    /// Reading state failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Why executing a transaction stopped short, in the three ways the state machine tells
/// apart: the transaction is refused (no block may hold it, it writes nothing), it is
/// included without effect (its nonce is consumed), or state could not be read (the node
/// must stop, whatever the transaction).
///
/// Payload handlers return it so that `?` carries each kind out of nested checks; the
/// executor turns it back into the public [`TxRejection`] and [`TxFailure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExecError {
    /// The transaction cannot be in any block.
    Rejected(TxRejection),
    /// The transaction is included but has no effect.
    Failed(TxFailure),
    /// Reading state failed.
    State(StateError),
}

impl From<TxRejection> for ExecError {
    fn from(r: TxRejection) -> Self {
        match r {
            TxRejection::State(e) => ExecError::State(e),
            r => ExecError::Rejected(r),
        }
    }
}

impl From<TxFailure> for ExecError {
    fn from(f: TxFailure) -> Self {
        ExecError::Failed(f)
    }
}

impl From<StateError> for ExecError {
    fn from(e: StateError) -> Self {
        ExecError::State(e)
    }
}
