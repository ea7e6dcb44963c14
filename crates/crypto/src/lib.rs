//! Ledger cryptography: signature verification, the [`Signer`] trait that every key
//! provider (software now, PKCS#11 HSM next) implements, and the state accumulator.
//!
//! This crate is pure: it does no I/O (no files, no network, no clocks) and keeps secrets
//! only in types that zeroize on drop and never print them.

mod error;
pub mod field;
pub mod hpke;
pub mod lthash;
pub mod possession;
pub mod record;
pub mod ring;
mod signer;
pub mod sm;
mod verify;

pub use error::CryptoError;
pub use lthash::LtHash16;
pub use signer::{sign_commit, sign_tx, Ed25519SoftwareKey, Signer};
pub use sm::Sm2SoftwareKey;
pub use verify::{
    verify_commit_signature, verify_digest, verify_digest_any_suite, verify_tx_signature,
};

/// The design note behind this crate, `docs/encryption.md`: what is proved or guaranteed, and
/// why it holds (read it with `cargo doc --document-private-items`).
#[doc = include_str!("../../../docs/encryption.md")]
mod notes {}
