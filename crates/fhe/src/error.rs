use thiserror::Error;

/// What went wrong in encrypted analytics; every variant names what failed.
#[derive(Debug, Error)]
pub enum FheError {
    /// Bytes from outside that do not decode, or do not match the chain's parameters.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// Why it was refused.
        detail: String,
    },
    /// A proof of encryption that does not verify (or was made for another context).
    #[error("the proof of encryption of the amount does not verify (wrong key, wrong context, or altered ciphertext)")]
    ProofInvalid,
    /// An argument outside what the profile allows.
    #[error("{0}")]
    Invalid(String),
    /// A ciphertext whose hash is not the hash of an accepted query's result.
    #[error("refused to decrypt: the ciphertext hashes to {found}, not to the result {accepted} of the accepted query")]
    NotAnAcceptedResult {
        /// Hex hash of the ciphertext offered.
        found: String,
        /// Hex hash the ledger accepted.
        accepted: String,
    },
    /// tfhe refused an operation.
    #[error("tfhe: {0}")]
    Tfhe(String),
}

impl FheError {
    pub(crate) fn malformed(what: &'static str, detail: impl ToString) -> Self {
        FheError::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}
