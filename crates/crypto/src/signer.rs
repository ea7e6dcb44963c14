//! The signing interface, and software Ed25519 keys for development.

use std::fmt;

use ed25519_dalek::Signer as _;
use ledger_types::block::commit_digest;
use ledger_types::{
    BlockHeader, Hash, OrgId, PublicKey, Signature, SignatureScheme, Transaction, TxBody,
};
use zeroize::Zeroizing;

use crate::error::CryptoError;

/// Something that holds a private key and signs 32-byte digests with it.
///
/// Implementations keep the key to themselves: a software key in zeroizing memory, an HSM
/// key inside the token. Every signed ledger message is a domain-separated digest (see
/// `ledger_types`), so a signer never needs the message itself.
pub trait Signer: Send + Sync {
    /// The public key that verifies this signer's signatures.
    fn public_key(&self) -> PublicKey;

    /// Signs a digest.
    fn sign_digest(&self, digest: &Hash) -> Result<Signature, CryptoError>;
}

/// Signs a transaction body.
pub fn sign_tx(signer: &dyn Signer, body: TxBody) -> Result<Transaction, CryptoError> {
    let (unsigned, digest) = body.signing_bytes();
    let signature = signer.sign_digest(&digest)?;
    Ok(Transaction::assemble(body, unsigned, signature))
}

/// Signs `validator`'s commit (its precommit) of the block with `header` in `round`.
pub fn sign_commit(
    signer: &dyn Signer,
    header: &BlockHeader,
    round: u32,
    validator: &OrgId,
) -> Result<Signature, CryptoError> {
    let digest = commit_digest(
        &header.chain_id,
        header.height,
        round,
        &header.hash(),
        validator,
    );
    signer.sign_digest(&digest)
}

/// An Ed25519 key held in process memory, for development and tests.
///
/// The secret is wiped when the value is dropped and never appears in `Debug` output.
pub struct Ed25519SoftwareKey {
    key: ed25519_dalek::SigningKey,
}

impl Ed25519SoftwareKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> Self {
        Self {
            key: ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// A key from its 32-byte seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    /// A key from 64 hex digits of seed; the text is not kept.
    pub fn from_hex_seed(text: &str) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| {
            CryptoError::InvalidSecretKey {
                reason: "the seed is not hex",
            }
        })?);
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes.as_slice().try_into().map_err(|_| {
                CryptoError::InvalidSecretKey {
                    reason: "an Ed25519 seed is 32 bytes (64 hex digits)",
                }
            })?);
        Ok(Self::from_seed(&seed))
    }
}

impl Signer for Ed25519SoftwareKey {
    fn public_key(&self) -> PublicKey {
        // A 32-byte Ed25519 key always has the length the scheme requires.
        PublicKey::new(
            SignatureScheme::Ed25519,
            self.key.verifying_key().to_bytes().to_vec(),
        )
        .unwrap_or_else(|_| unreachable!("Ed25519 public keys are 32 bytes"))
    }

    fn sign_digest(&self, digest: &Hash) -> Result<Signature, CryptoError> {
        Ok(Signature(self.key.sign(&digest.0).to_bytes().to_vec()))
    }
}

impl fmt::Debug for Ed25519SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519SoftwareKey")
            .field("public_key", &self.public_key().to_text())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::verify_digest;

    // RFC 8032 section 7.1, TEST 1: the empty message.
    const RFC8032_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC8032_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    #[test]
    fn rfc8032_test_1() {
        let key = Ed25519SoftwareKey::from_hex_seed(RFC8032_SECRET).unwrap();
        assert_eq!(hex::encode(key.public_key().bytes()), RFC8032_PUBLIC);
        let sig = key.key.sign(b"");
        assert_eq!(hex::encode(sig.to_bytes()), RFC8032_SIG);
    }

    #[test]
    fn sign_then_verify_and_wrong_digest_fails() {
        let key = Ed25519SoftwareKey::generate();
        let d = Hash([7; 32]);
        let sig = key.sign_digest(&d).unwrap();
        verify_digest(&key.public_key(), &d, &sig).unwrap();
        assert!(matches!(
            verify_digest(&key.public_key(), &Hash([8; 32]), &sig),
            Err(CryptoError::BadSignature { .. })
        ));
        let other = Ed25519SoftwareKey::generate();
        assert!(verify_digest(&other.public_key(), &d, &sig).is_err());
    }

    #[test]
    fn ecdsa_p256_verifies_low_s_and_refuses_high_s() {
        use p256::ecdsa::signature::Signer as _;
        let sk = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let point = sk.verifying_key().to_encoded_point(false);
        let pk =
            PublicKey::new(SignatureScheme::EcdsaP256Sha256, point.as_bytes().to_vec()).unwrap();
        let digest = Hash([5; 32]);
        let sig: p256::ecdsa::Signature = sk.sign(&digest.0);
        let low = sig.normalize_s().unwrap_or(sig);
        verify_digest(&pk, &digest, &Signature(low.to_bytes().to_vec())).unwrap();
        assert!(matches!(
            verify_digest(&pk, &Hash([6; 32]), &Signature(low.to_bytes().to_vec())),
            Err(CryptoError::BadSignature { .. })
        ));
        // The same signature with s replaced by n - s is valid ECDSA but not accepted.
        let (r, s) = low.split_scalars();
        let high = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        assert!(matches!(
            verify_digest(&pk, &digest, &Signature(high.to_bytes().to_vec())),
            Err(CryptoError::MalformedSignature { .. })
        ));
        // A point off the curve is refused as a key.
        let mut bad = point.as_bytes().to_vec();
        bad[64] ^= 1;
        let bad = PublicKey::new(SignatureScheme::EcdsaP256Sha256, bad).unwrap();
        assert!(matches!(
            verify_digest(&bad, &digest, &Signature(low.to_bytes().to_vec())),
            Err(CryptoError::InvalidPublicKey { .. })
        ));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = Ed25519SoftwareKey::from_hex_seed(RFC8032_SECRET).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(RFC8032_SECRET), "{shown}");
        assert!(!shown.contains(&RFC8032_SECRET[..16]), "{shown}");
        assert!(shown.contains(RFC8032_PUBLIC));
    }

    #[test]
    fn bad_seed_text_is_refused_without_echo() {
        let err = Ed25519SoftwareKey::from_hex_seed("abcd").unwrap_err();
        assert!(!err.to_string().contains("abcd"));
        assert!(Ed25519SoftwareKey::from_hex_seed("zz").is_err());
    }
}
