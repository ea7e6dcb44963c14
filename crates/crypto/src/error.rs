use thiserror::Error;

/// Why a cryptographic operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A proof of possession of a registered key does not verify.
    #[error("proof of possession refused: {reason}")]
    InvalidPossessionProof {
        /// What failed.
        reason: String,
    },
    /// A ring signature does not verify, or its ring or encoding is unusable.
    #[error("ring signature refused: {reason}")]
    InvalidRingSignature {
        /// What failed.
        reason: String,
    },
    /// The signature does not verify under the key.
    #[error("signature does not verify under {key}")]
    BadSignature {
        /// The key, as `scheme:hex`.
        key: String,
    },
    /// The key's scheme does not belong to the chain's crypto suite (an Ed25519 key on an SM
    /// chain, an SM2 key on a default chain).
    #[error(
        "{scheme} keys do not sign on this chain: its crypto suite is {suite}, whose keys are {allowed}"
    )]
    SchemeNotInSuite {
        /// The key's scheme.
        scheme: &'static str,
        /// The chain's suite.
        suite: &'static str,
        /// The schemes the suite allows.
        allowed: &'static str,
    },
    /// The signature has the wrong length or form for the scheme.
    #[error("malformed {scheme} signature: {reason}")]
    MalformedSignature {
        /// The scheme.
        scheme: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The public key is not a valid point or value for its scheme.
    #[error("invalid {scheme} public key: {reason}")]
    InvalidPublicKey {
        /// The scheme.
        scheme: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Secret key material could not be parsed (the material itself is never shown).
    #[error("invalid secret key: {reason}")]
    InvalidSecretKey {
        /// What is wrong.
        reason: &'static str,
    },
    /// Sealed data did not open: altered, wrong key, or wrong context.
    #[error("{what} does not open: it was altered, or is addressed to another key or context")]
    OpenFailed {
        /// What was being opened.
        what: &'static str,
    },
    /// The recipient's Diffie-Hellman (a key provider) failed.
    #[error("key agreement failed: {reason}")]
    KeyAgreementFailed {
        /// What the provider reported.
        reason: String,
    },
    /// The signer (a key provider) failed.
    #[error("signing failed: {reason}")]
    SignerFailed {
        /// What the provider reported.
        reason: String,
    },
}
