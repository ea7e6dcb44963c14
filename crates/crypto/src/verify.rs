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
            let pk = ed25519_key(&pk_bytes)?;
            let sig: &[u8; 64] =
                signature
                    .0
                    .as_slice()
                    .try_into()
                    .map_err(|_| CryptoError::MalformedSignature {
                        scheme: "ed25519",
                        reason: format!("expected 64 bytes, got {}", signature.0.len()),
                    })?;
            if pk.verify_strict(&digest.0, sig) {
                Ok(())
            } else {
                Err(CryptoError::BadSignature { key: key.to_text() })
            }
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

/// An Ed25519 public key ready for verification: decompressed and negated once, its
/// order checked once.
#[derive(Clone, Copy)]
struct Ed25519Key {
    /// The key as encoded (hashed into the challenge as received, as RFC 8032 says).
    bytes: [u8; 32],
    /// `-A`.
    minus_a: curve25519_dalek::EdwardsPoint,
    /// A small-order ("weak") key, which strict verification refuses.
    small_order: bool,
}

impl Ed25519Key {
    fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        let a = curve25519_dalek::edwards::CompressedEdwardsY(*bytes)
            .decompress()
            .ok_or_else(|| CryptoError::InvalidPublicKey {
                scheme: "ed25519",
                reason: "not a point on the curve".into(),
            })?;
        Ok(Self {
            bytes: *bytes,
            minus_a: -a,
            small_order: a.is_small_order(),
        })
    }

    /// RFC 8032 verification with exactly the acceptance rule of ed25519-dalek's
    /// `verify_strict` (canonical `s`; no small-order `A` or `R`; `R` must equal
    /// `[s]B - [k]A` as encoded), without decompressing `R`, a square root that is about
    /// a tenth of a verification. dalek decompresses `R` only to refuse a small-order
    /// one; here the computed `R' = [s]B - [k]A` is compared with `R`'s bytes first, and
    /// when they are equal `R` is the canonical encoding of `R'`, so `R` decompresses to
    /// `R'` and "`R` has small order" is "`R'` has small order" (three doublings). When
    /// they differ both refuse: dalek because its own final comparison is the same one.
    /// The differential test `strict_verification_matches_ed25519_dalek` checks this on
    /// valid, tampered and crafted small-order and mixed-order signatures.
    fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        use curve25519_dalek::{EdwardsPoint, Scalar};
        use sha2::{Digest as _, Sha512};
        if self.small_order {
            return false;
        }
        let (r, s) = signature.split_at(32);
        let Ok(s) = <[u8; 32]>::try_from(s) else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else {
            return false;
        };
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(r)
                .chain_update(self.bytes)
                .chain_update(message),
        );
        let expected = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &self.minus_a, &s);
        expected.compress().as_bytes() == r && !expected.is_small_order()
    }
}

/// An Ed25519 public key, decompressed once: decompressing the point (a square root) is
/// about a quarter of a verification, and a ledger verifies many signatures by few keys
/// (its members'). At most `KEYS` are kept; past that the cache starts over.
fn ed25519_key(bytes: &[u8; 32]) -> Result<Ed25519Key, CryptoError> {
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};
    const KEYS: usize = 4096;
    static CACHE: OnceLock<RwLock<HashMap<[u8; 32], Ed25519Key>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(k) = cache.read().unwrap_or_else(|p| p.into_inner()).get(bytes) {
        return Ok(*k);
    }
    let key = Ed25519Key::from_bytes(bytes)?;
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

#[cfg(test)]
mod tests {
    // Test code: a failed step must stop the test where it happened.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::{EdwardsPoint, Scalar};
    use sha2::{Digest as _, Sha512};

    fn random_scalar() -> Scalar {
        let mut wide = [0u8; 64];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut wide);
        Scalar::from_bytes_mod_order_wide(&wide)
    }

    fn challenge(r: &[u8; 32], a: &[u8; 32], m: &[u8]) -> Scalar {
        Scalar::from_hash(
            Sha512::new()
                .chain_update(r)
                .chain_update(a)
                .chain_update(m),
        )
    }

    /// Both verifiers' answers; the test fails where they differ.
    fn both(a: &[u8; 32], m: &[u8], sig: &[u8; 64]) -> bool {
        let dalek = ed25519_dalek::VerifyingKey::from_bytes(a)
            .map(|k| {
                k.verify_strict(m, &ed25519_dalek::Signature::from_bytes(sig))
                    .is_ok()
            })
            .unwrap_or(false);
        let ours = Ed25519Key::from_bytes(a)
            .map(|k| k.verify_strict(m, sig))
            .unwrap_or(false);
        assert_eq!(
            ours,
            dalek,
            "key {} message {} signature {}",
            hex::encode(a),
            hex::encode(m),
            hex::encode(sig)
        );
        ours
    }

    /// A signature `(R, s)` by secret `a` under key bytes `a_bytes` with nonce point
    /// `R = [r]B + t`: `s = r + k a`, so `[s]B - [k]A = [r]B - [k]T_A` for `A = [a]B + T_A`.
    fn sign_raw(
        a: &Scalar,
        a_bytes: &[u8; 32],
        r: &Scalar,
        t: &EdwardsPoint,
        m: &[u8],
    ) -> [u8; 64] {
        let big_r = (EdwardsPoint::mul_base(r) + t).compress().to_bytes();
        let k = challenge(&big_r, a_bytes, m);
        let s = r + k * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(s.as_bytes());
        sig
    }

    #[test]
    fn strict_verification_matches_ed25519_dalek() {
        // RFC 8032 section 7.1, TEST 1 to 3: valid, and invalid once a bit flips.
        for (public, message, signature) in [
            (
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
            (
                "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
                "af82",
                "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
            ),
        ] {
            let a: [u8; 32] = hex::decode(public).unwrap().try_into().unwrap();
            let m = hex::decode(message).unwrap();
            let sig: [u8; 64] = hex::decode(signature).unwrap().try_into().unwrap();
            assert!(both(&a, &m, &sig), "RFC 8032 vector {public}");
            for bit in [0, 7, 200, 255, 256, 300, 511] {
                let mut bad = sig;
                bad[bit / 8] ^= 1 << (bit % 8);
                assert!(!both(&a, &m, &bad));
            }
            assert!(!both(&a, b"another message", &sig));
        }

        // Random keys and messages: valid, then tampered anywhere.
        for i in 0..64u32 {
            let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            let a = key.verifying_key().to_bytes();
            let m = i.to_be_bytes();
            let sig = ed25519_dalek::Signer::sign(&key, &m).to_bytes();
            assert!(both(&a, &m, &sig));
            let mut bad = sig;
            bad[(i as usize * 7) % 64] ^= 1 << (i % 8);
            assert!(!both(&a, &m, &bad));
            let mut random_r = sig;
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random_r[..32]);
            assert!(!both(&a, &m, &random_r));
        }

        let a = random_scalar();
        let key = EdwardsPoint::mul_base(&a);
        let key_bytes = key.compress().to_bytes();
        let identity = EdwardsPoint::default();

        // s not reduced (s + l, when that still fits the 253 bits dalek's format allows).
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut unreduced_tried = false;
        for _ in 0..64 {
            let sig = sign_raw(&a, &key_bytes, &random_scalar(), &identity, b"m");
            assert!(both(&key_bytes, b"m", &sig));
            let mut unreduced = sig;
            let mut carry = 0u16;
            for (byte, l) in unreduced[32..].iter_mut().zip(L) {
                let sum = u16::from(*byte) + u16::from(l) + carry;
                *byte = sum as u8;
                carry = sum >> 8;
            }
            if unreduced[63] & 0xe0 == 0 {
                assert!(!both(&key_bytes, b"m", &unreduced));
                unreduced_tried = true;
                break;
            }
        }
        assert!(unreduced_tried);

        // R the identity with s = k a: the equation holds, and strict verification
        // refuses it (a small-order R); so must ours.
        let r_bytes = identity.compress().to_bytes();
        let k = challenge(&r_bytes, &key_bytes, b"m");
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice((k * a).as_bytes());
        let computed = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-key, &(k * a));
        assert_eq!(
            computed.compress().to_bytes(),
            r_bytes,
            "the equation holds"
        );
        assert!(!both(&key_bytes, b"m", &sig));

        // A mixed-order key A = [a]B + T (T of order 8): find messages where the
        // equation holds with R of small order (refused) and with R = [r]B + T' mixed
        // (accepted by both: cofactorless verification holds exactly).
        let t = EIGHT_TORSION[1];
        let mixed = key + t;
        let mixed_bytes = mixed.compress().to_bytes();
        assert!(!mixed.is_small_order());
        let (mut small_r, mut mixed_r) = (0, 0);
        for j in 0u32..4000 {
            let m = j.to_be_bytes();
            for (tr, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
                // Small-order R = T_r: s = k a gives [s]B - [k]A = -[k]T.
                let r_bytes = torsion.compress().to_bytes();
                let k = challenge(&r_bytes, &mixed_bytes, &m);
                if (-(k * t)).compress().to_bytes() == r_bytes && small_r < 3 {
                    let mut sig = [0u8; 64];
                    sig[..32].copy_from_slice(&r_bytes);
                    sig[32..].copy_from_slice((k * a).as_bytes());
                    assert!(!both(&mixed_bytes, &m, &sig), "small-order R {tr}");
                    small_r += 1;
                }
                // Mixed R = [r]B + T_r: s = r + k a.
                let r = Scalar::from(u64::from(j) + 1);
                let sig = sign_raw(&a, &mixed_bytes, &r, torsion, &m);
                let k = challenge(sig[..32].try_into().unwrap(), &mixed_bytes, &m);
                let holds = -(k * t) == *torsion;
                assert_eq!(both(&mixed_bytes, &m, &sig), holds, "mixed-order R {tr}");
                if holds {
                    mixed_r += 1;
                }
            }
            if small_r >= 3 && mixed_r >= 3 {
                break;
            }
        }
        assert!(
            small_r >= 3 && mixed_r >= 3,
            "crafted cases found: {small_r} {mixed_r}"
        );

        // Small-order keys sign nothing.
        for torsion in EIGHT_TORSION {
            let weak = torsion.compress().to_bytes();
            let sig = sign_raw(&Scalar::ZERO, &weak, &random_scalar(), &identity, b"m");
            assert!(!both(&weak, b"m", &sig));
        }
    }
}
