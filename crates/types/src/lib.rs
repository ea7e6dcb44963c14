//! Ledger types: identifiers, transactions, blocks, and their canonical bytes and hashes.
//!
//! Everything that is signed, hashed or stored has exactly one byte encoding, defined in
//! [`codec`] and written next to each type; decoders refuse non-canonical input, so a
//! value's hash is a function of its meaning. This crate does no I/O and holds no secrets.

pub mod block;
pub mod codec;
pub mod error;
pub mod hash;
pub mod ids;
pub mod keys;
pub mod merkle;
pub mod record;
pub mod schema;
pub mod tx;

pub use block::{Block, BlockHeader, Commit, CommitSignature};
pub use error::CodecError;
pub use hash::{Hash, HashSuite};
pub use ids::{ChainId, FieldName, OrgId, RecordId, SchemaId, Topic};
pub use keys::{PublicKey, Signature, SignatureScheme};
pub use record::{
    AuditAlert, AuditHandle, CrossCheck, FieldCommitment, FinanceRequest, GrantAccess, KeyWrap,
    Operand, PutRecord, RecordField, RecordRangeProof, Relation, RevokeAccess,
};
pub use schema::{DocumentKind, FieldType, RegisterSchema, SchemaField, DOCUMENT_FIELD};
pub use tx::{
    Endorse, Payload, RegisterMember, Role, Transaction, TxBody, TxKind, ANONYMOUS_SIGNER,
};
