//! Key custody for the ledger node: the [`KeyProvider`] interface and its PKCS#11 backend.
//!
//! A provider generates keys inside the token, exports public keys, signs digests, runs
//! P-256 Diffie-Hellman key agreement, and seals small secrets under a token-held AES key.
//! Private keys never leave the token: they are created with `CKA_SENSITIVE=true` and
//! `CKA_EXTRACTABLE=false`. PINs are secret strings, never logged, never in `Debug` output.
//!
//! Calls block (a PKCS#11 call can take milliseconds on real hardware): async callers run
//! them with `spawn_blocking`.

mod error;
mod guard;
mod pkcs11;
mod software;

use std::sync::Arc;

pub use error::HsmError;
pub use guard::{ConsensusStep, EquivocationGuard};
use ledger_crypto::{CryptoError, Signer};
use ledger_types::{Hash, PublicKey, Signature};
pub use pkcs11::{
    MechanismSpec, Pkcs11Config, Pkcs11Provider, SigningAlgorithm, Sm2Mechanisms, Sm2SignInput,
};
pub use software::{KdfCost, SoftwareProvider};
use zeroize::Zeroizing;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Transaction and consensus signatures (Ed25519 where offered, else ECDSA P-256).
    Signing,
    /// P-256 key agreement (unwrapping field keys with HPKE).
    Agreement,
    /// AES-256-GCM sealing of small secrets.
    Sealing,
}

/// A key the provider holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The label an operator finds it by.
    pub label: String,
    /// What it is for.
    pub purpose: KeyPurpose,
    /// The public key, for key pairs (signing: `scheme:hex`; agreement: SEC1 hex).
    pub public: Option<String>,
}

/// Holds private keys and uses them without letting them out.
pub trait KeyProvider: Send + Sync {
    /// Where the keys live, for messages (`pkcs11:<token>`); never secret.
    fn describe(&self) -> String;
    /// Generates a signing key pair under `label`; fails if one exists.
    fn generate_signing_key(&self, label: &str) -> Result<PublicKey, HsmError>;
    /// The public key of the signing key `label`.
    fn signing_public_key(&self, label: &str) -> Result<PublicKey, HsmError>;
    /// Signs a 32-byte digest with the signing key `label`.
    fn sign(&self, label: &str, digest: &Hash) -> Result<Signature, HsmError>;
    /// Generates a P-256 key-agreement key pair; returns the uncompressed SEC1 point.
    fn generate_agreement_key(&self, label: &str) -> Result<Vec<u8>, HsmError>;
    /// The uncompressed SEC1 public point of the agreement key `label`.
    fn agreement_public_key(&self, label: &str) -> Result<Vec<u8>, HsmError>;
    /// The raw P-256 Diffie-Hellman shared secret (x-coordinate) with `peer_point`.
    fn ecdh(&self, label: &str, peer_point: &[u8]) -> Result<Zeroizing<Vec<u8>>, HsmError>;
    /// Generates an AES-256 sealing key.
    fn generate_sealing_key(&self, label: &str) -> Result<(), HsmError>;
    /// Seals `plaintext` (bound to `aad`) under the sealing key `label`.
    fn seal(&self, label: &str, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, HsmError>;
    /// Opens what [`KeyProvider::seal`] produced; fails on any change.
    fn unseal(
        &self,
        label: &str,
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HsmError>;
    /// The keys the provider holds.
    fn list_keys(&self) -> Result<Vec<KeyInfo>, HsmError>;
}

/// A [`Signer`] backed by a provider's signing key.
pub struct ProviderSigner {
    provider: Arc<dyn KeyProvider>,
    label: String,
    public: PublicKey,
}

impl ProviderSigner {
    /// Uses the signing key `label` of `provider`.
    pub fn new(provider: Arc<dyn KeyProvider>, label: &str) -> Result<Self, HsmError> {
        let public = provider.signing_public_key(label)?;
        Ok(Self {
            provider,
            label: label.to_string(),
            public,
        })
    }
}

impl Signer for ProviderSigner {
    fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    fn sign_digest(&self, digest: &Hash) -> Result<Signature, CryptoError> {
        self.provider
            .sign(&self.label, digest)
            .map_err(|e| CryptoError::SignerFailed {
                reason: e.to_string(),
            })
    }
}

impl std::fmt::Debug for ProviderSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSigner")
            .field("provider", &self.provider.describe())
            .field("label", &self.label)
            .field("public_key", &self.public.to_text())
            .finish()
    }
}

/// The design note behind this crate, `docs/hsm.md`: what is proved or guaranteed, and
/// why it holds (read it with `cargo doc --document-private-items`).
#[doc = include_str!("../../docs/hsm.md")]
mod notes {}
