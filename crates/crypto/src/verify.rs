//! Signature verification.

use ledger_types::block::commit_digest;
use ledger_types::{
    BlockHeader, CryptoSuite, Hash, OrgId, PublicKey, Signature, SignatureScheme, Transaction,
};

use crate::error::CryptoError;

/// Verifies `signature` over `digest` under `key`, on this process's chain: the key's scheme
/// must belong to the chain's crypto suite ([`CryptoSuite::current`]), so a transaction or
/// vote signed under the other suite is refused by name.
///
/// Ed25519 uses strict verification (RFC 8032 with canonical encodings and no small-order
/// keys), so a signature cannot be mutated into a second valid one.
pub fn verify_digest(
    key: &PublicKey,
    digest: &Hash,
    signature: &Signature,
) -> Result<(), CryptoError> {
    let suite = CryptoSuite::current();
    if !suite.allows(key.scheme()) {
        return Err(CryptoError::SchemeNotInSuite {
            scheme: key.scheme().name(),
            suite: suite.name(),
            allowed: suite.scheme_names(),
        });
    }
    verify_digest_any_suite(key, digest, signature)
}

/// [`verify_digest`] without the suite check: the scheme's own verification only (tests,
/// tools, and interoperability checks).
pub fn verify_digest_any_suite(
    key: &PublicKey,
    digest: &Hash,
    signature: &Signature,
) -> Result<(), CryptoError> {
    match key.scheme() {
        SignatureScheme::Sm2 => crate::sm::sm2_verify(key.bytes(), &digest.0, &signature.0),
        SignatureScheme::Ed25519 => {
            let pk_bytes: [u8; 32] =
                key.bytes()
                    .try_into()
                    .map_err(|_| CryptoError::InvalidPublicKey {
                        scheme: "ed25519",
                        reason: "not 32 bytes".into(),
                    })?;
            let pk = ed25519_key(&pk_bytes).map_err(|e| CryptoError::InvalidPublicKey {
                scheme: "ed25519",
                reason: e.to_string(),
            })?;
            let sig = ed25519_dalek::Signature::from_slice(&signature.0).map_err(|_| {
                CryptoError::MalformedSignature {
                    scheme: "ed25519",
                    reason: format!("expected 64 bytes, got {}", signature.0.len()),
                }
            })?;
            pk.verify_strict(&digest.0, &sig)
                .map_err(|_| CryptoError::BadSignature { key: key.to_text() })
        }
        SignatureScheme::EcdsaP256Sha256 => {
            use p256::ecdsa::signature::Verifier as _;
            let pk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key.bytes()).map_err(|_| {
                CryptoError::InvalidPublicKey {
                    scheme: "ecdsa-p256",
                    reason: "not a point on P-256".into(),
                }
            })?;
            let sig = p256::ecdsa::Signature::from_slice(&signature.0).map_err(|_| {
                CryptoError::MalformedSignature {
                    scheme: "ecdsa-p256",
                    reason: format!("expected 64 bytes r || s, got {}", signature.0.len()),
                }
            })?;
            // (r, n - s) verifies too; only the low-s form is accepted, so a signature
            // (and the transaction hash that covers it) cannot be mutated.
            if sig.normalize_s().is_some() {
                return Err(CryptoError::MalformedSignature {
                    scheme: "ecdsa-p256",
                    reason: "s is not in the lower half of the group order".into(),
                });
            }
            pk.verify(&digest.0, &sig)
                .map_err(|_| CryptoError::BadSignature { key: key.to_text() })
        }
        other => Err(CryptoError::InvalidPublicKey {
            scheme: other.name(),
            reason: "scheme not supported by this node".into(),
        }),
    }
}

/// An Ed25519 public key, decompressed once: decompressing the point (a square root) is
/// about a quarter of a verification, and a ledger verifies many signatures by few keys
/// (its members'). At most `KEYS` are kept; past that the cache starts over.
fn ed25519_key(
    bytes: &[u8; 32],
) -> Result<ed25519_dalek::VerifyingKey, ed25519_dalek::SignatureError> {
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};
    const KEYS: usize = 4096;
    static CACHE: OnceLock<RwLock<HashMap<[u8; 32], ed25519_dalek::VerifyingKey>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(k) = cache.read().unwrap_or_else(|p| p.into_inner()).get(bytes) {
        return Ok(*k);
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)?;
    let mut keys = cache.write().unwrap_or_else(|p| p.into_inner());
    if keys.len() >= KEYS {
        keys.clear();
    }
    keys.insert(*bytes, key);
    Ok(key)
}

/// Verifies a transaction's signature (over the bytes received) under the signer's key.
pub fn verify_tx_signature(tx: &Transaction, key: &PublicKey) -> Result<(), CryptoError> {
    verify_digest(key, &tx.signing_digest(), tx.signature())
}

/// Verifies one validator's commit signature (its precommit) for a block.
pub fn verify_commit_signature(
    key: &PublicKey,
    header: &BlockHeader,
    block_hash: &Hash,
    round: u32,
    validator: &OrgId,
    signature: &Signature,
) -> Result<(), CryptoError> {
    let digest = commit_digest(
        &header.chain_id,
        header.height,
        round,
        block_hash,
        validator,
    );
    verify_digest(key, &digest, signature)
}
