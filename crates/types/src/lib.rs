//! Ledger types: identifiers, transactions, blocks, and their canonical bytes and hashes.
//!
//! Everything that is signed, hashed or stored has exactly one byte encoding, defined in
//! [`codec`] and written next to each type; decoders refuse non-canonical input, so a
//! value's hash is a function of its meaning. This crate does no I/O and holds no secrets.

pub mod analytics;
pub mod audit_alert;
pub mod block;
pub mod codec;
pub mod cross_check;
pub mod date;
pub mod endorse;
pub mod error;
pub mod finance;
pub mod governance;
pub mod grant;
pub mod hash;
pub mod ids;
pub mod keys;
pub mod member;
pub mod merkle;
pub mod record;
pub mod revoke;
pub mod schema;
pub mod tx;

pub use analytics::{Analytics, Question};
pub use audit_alert::AuditAlert;
pub use block::{Block, BlockHeader, BlockOutline, BlockSummary, Commit, CommitSignature};
pub use cross_check::{CrossCheck, Operand, Relation};
pub use date::Date;
pub use endorse::Endorse;
pub use error::CodecError;
pub use finance::{FinanceRequest, RecordAt};
pub use governance::{Action, Govern, GovernanceParams, KeyKind, RotateKey, RotationRequest};
pub use grant::GrantAccess;
pub use hash::{CryptoSuite, Hash, HashSuite, SuiteConflict, SM2_DIST_ID};
pub use ids::{ChainId, FieldName, OrgId, RecordId, SchemaId, Topic};
pub use keys::{PublicKey, Signature, SignatureScheme};
pub use member::{RegisterMember, Role};
pub use record::{
    AuditHandle, FheAmount, FieldCommitment, KeyWrap, PutRecord, RecordField, RecordRangeProof,
};
pub use revoke::RevokeAccess;
pub use schema::{DocumentKind, FieldType, RegisterSchema, SchemaField, DOCUMENT_FIELD};
pub use tx::{Payload, Transaction, TxBody, TxKind, ANONYMOUS_SIGNER};
