//! The home's error type.

use thiserror::Error;

/// Why a node home could not be read or written.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum HomeError {
    /// A file operation failed.
    #[error("{what}: {reason}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        reason: String,
    },
    /// A configuration file is invalid.
    #[error("configuration {path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The key provider could not be opened or used, or a secret it needs is missing.
    #[error("{0}")]
    Keys(String),
    /// A sealed secret is missing, damaged, or not the one registered.
    #[error("{0}")]
    Sealed(String),
    /// The audit log is damaged or could not be extended.
    #[error("{0}")]
    AuditLog(String),
    /// A gateway credential request is invalid.
    #[error("{0}")]
    Credentials(String),
}
