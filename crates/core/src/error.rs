//! The node's error type.

use thiserror::Error;

/// Why the node could not do what it was asked.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A file or socket operation failed.
    #[error("{what}: {reason}")]
    Io {
        /// What the node was doing.
        what: String,
        /// The OS error.
        reason: String,
    },
    /// The configuration is invalid.
    #[error("configuration {path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The genesis file is invalid.
    #[error("genesis {path}: {reason}")]
    Genesis {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The key file is invalid.
    #[error("signing key {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What is wrong (never the key).
        reason: String,
    },
    /// The node home (configuration, keys, sealed secrets, audit log) failed.
    #[error(transparent)]
    Home(#[from] ledger_home::HomeError),
    /// The store failed or is damaged.
    #[error(transparent)]
    Store(#[from] ledger_store::StoreError),
    /// A block could not be built or applied.
    #[error(transparent)]
    Block(#[from] ledger_state::BlockError),
    /// State could not be read.
    #[error(transparent)]
    State(#[from] ledger_state::StateError),
    /// Signing failed.
    #[error(transparent)]
    Crypto(#[from] ledger_crypto::CryptoError),
    /// Anything else that stops the node, with what to do about it.
    #[error("{0}")]
    Fatal(String),
}
