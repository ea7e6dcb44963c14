//! The node's gRPC API, generated from `proto/` by tonic.
//!
//! This crate holds the generated types and the conversions between them and the ledger's
//! domain types ([`convert`]); the node implements the services and the CLI uses the
//! clients. The public ledger API never carries plaintext record fields.

// Generated code: no docs of its own.
#![allow(missing_docs, clippy::doc_markdown, clippy::large_enum_variant)]

/// `ledger.v1`: the public ledger API (`Ledger`) and the organisation-private `Gateway`.
pub mod v1 {
    tonic::include_proto!("ledger.v1");
}

/// The encoded `FileDescriptorSet` of `proto/` (both services and their messages), which
/// the node serves by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("ledger_descriptor");

/// The metadata key carrying a refusal's stable reason.
pub const REJECT_REASON_KEY: &str = "ledger-reject-reason";
/// Largest gRPC message the node and clients accept (blocks can be large).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// The metadata key carrying a gateway client's credential (`Bearer <token>`).
pub const AUTHORIZATION_KEY: &str = "authorization";

pub mod convert;
