//! Proofs of possession for the software-held Ristretto keys a member registers (its ring
//! key, a regulator's audit key): a Schnorr proof of knowledge of `x` with `P = x·B`,
//! made non-interactive with a SHA-512 challenge over a domain label, the context (chain,
//! organisation, what the key is for), the base, the key and the commitment.
//!
//! Without it, a joining organisation could register a key it cannot use: another
//! member's key (a duplicate, refused separately) or one derived from others' keys (a
//! rogue key: in a ring, a key `P' = P_a - P_b` nobody holds). The proof binds the
//! context, so a proof made for one chain, organisation or key kind does not count for
//! another.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use rand::rngs::OsRng;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use crate::CryptoError;

/// The bytes of a proof: the commitment `R` and the response `s`.
pub const PROOF_BYTES: usize = 64;

fn bad(reason: impl Into<String>) -> CryptoError {
    CryptoError::InvalidPossessionProof {
        reason: reason.into(),
    }
}

fn challenge(
    context: &[u8],
    base: &RistrettoPoint,
    key: &CompressedRistretto,
    r: &CompressedRistretto,
) -> Scalar {
    let mut h = Sha512::new();
    h.update(b"cl/possession/v1\0");
    h.update((context.len() as u64).to_be_bytes());
    h.update(context);
    h.update(base.compress().as_bytes());
    h.update(key.as_bytes());
    h.update(r.as_bytes());
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// A proof that the prover knows `x` (nonzero) with `x·base` its key, bound to `context`.
pub fn prove(x: &Scalar, base: &RistrettoPoint, context: &[u8]) -> [u8; PROOF_BYTES] {
    let key = (x * base).compress();
    let k = Zeroizing::new(Scalar::random(&mut OsRng));
    let r = (*k * base).compress();
    let c = challenge(context, base, &key, &r);
    let s = *k + c * x;
    let mut out = [0u8; PROOF_BYTES];
    out[..32].copy_from_slice(r.as_bytes());
    out[32..].copy_from_slice(s.as_bytes());
    out
}

/// Checks `proof` for `key` (32 bytes, a point other than the identity) on `base` and
/// `context`; the error names what failed.
pub fn verify(
    key: &[u8],
    base: &RistrettoPoint,
    context: &[u8],
    proof: &[u8],
) -> Result<(), CryptoError> {
    let key = CompressedRistretto::from_slice(key).map_err(|_| bad("the key is not 32 bytes"))?;
    let p = key
        .decompress()
        .ok_or_else(|| bad("the key is not a Ristretto point"))?;
    if p.is_identity() {
        return Err(bad("the key is the identity point"));
    }
    if proof.len() != PROOF_BYTES {
        return Err(bad(format!(
            "a proof is {PROOF_BYTES} bytes, not {}",
            proof.len()
        )));
    }
    let r = CompressedRistretto::from_slice(&proof[..32]).map_err(|_| bad("commitment"))?;
    let rp = r
        .decompress()
        .ok_or_else(|| bad("the commitment is not a Ristretto point"))?;
    let s_bytes: [u8; 32] = proof[32..].try_into().map_err(|_| bad("response"))?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))
        .ok_or_else(|| bad("the response is not a canonical scalar"))?;
    let c = challenge(context, base, &key, &r);
    if s * base == rp + c * p {
        Ok(())
    } else {
        Err(bad("it does not verify for this key and context"))
    }
}

/// The context a registration's proofs are bound to: the chain, the organisation and the
/// key's kind (`"ring"`, `"audit"`).
pub fn context(chain_id: &str, org: &str, kind: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for part in [chain_id, org, kind] {
        out.extend((part.len() as u64).to_be_bytes());
        out.extend(part.as_bytes());
    }
    out
}

/// The digest a new signing key signs to prove its holder has it: a domain label, the
/// context (chain, organisation, `"signing"`) and the new key's canonical encoding. A
/// signature over it by one key says nothing about another key, chain or organisation.
pub fn signing_statement(context: &[u8], key: &ledger_types::PublicKey) -> ledger_types::Hash {
    use sha2::Sha256;
    let mut e = ledger_types::codec::Encoder::new();
    key.encode(&mut e);
    let key = e.finish();
    let mut h = Sha256::new();
    h.update(b"cl/possession/signing/v1\0");
    h.update((context.len() as u64).to_be_bytes());
    h.update(context);
    h.update(&key);
    ledger_types::Hash(h.finalize().into())
}

/// Checks that `proof` is `key`'s signature over its [`signing_statement`] for `context`.
pub fn verify_signing(
    key: &ledger_types::PublicKey,
    context: &[u8],
    proof: &[u8],
) -> Result<(), CryptoError> {
    crate::verify_digest(
        key,
        &signing_statement(context, key),
        &ledger_types::Signature(proof.to_vec()),
    )
    .map_err(|e| bad(format!("the new key's signature over its statement: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;

    #[test]
    fn a_proof_verifies_only_for_its_key_base_and_context() {
        let x = Scalar::random(&mut OsRng);
        let key = (x * G).compress().to_bytes();
        let ctx = context("chain-1", "bank-a", "ring");
        let proof = prove(&x, &G, &ctx);
        verify(&key, &G, &ctx, &proof).unwrap();
        // Another organisation, chain or kind.
        for other in [
            context("chain-1", "bank-b", "ring"),
            context("chain-2", "bank-a", "ring"),
            context("chain-1", "bank-a", "audit"),
        ] {
            assert!(verify(&key, &G, &other, &proof).is_err());
        }
        // Another key, another base.
        let y = Scalar::random(&mut OsRng);
        assert!(verify((y * G).compress().as_bytes(), &G, &ctx, &proof).is_err());
        let h = RistrettoPoint::hash_from_bytes::<Sha512>(b"another base");
        assert!(verify(&key, &h, &ctx, &proof).is_err());
        // Each byte of the proof matters.
        for i in [0, 31, 32, 63] {
            let mut p = proof;
            p[i] ^= 1;
            assert!(verify(&key, &G, &ctx, &p).is_err(), "byte {i}");
        }
        assert!(verify(&key, &G, &ctx, &proof[..63]).is_err());
    }

    #[test]
    fn a_rogue_key_made_from_others_keys_has_no_proof() {
        // P' = P_a - P_b: its creator knows neither secret, so a proof with a guessed
        // scalar fails.
        let (a, b) = (Scalar::random(&mut OsRng), Scalar::random(&mut OsRng));
        let rogue = (a * G - b * G).compress().to_bytes();
        let ctx = context("chain-1", "mallory", "ring");
        let guess = Scalar::random(&mut OsRng);
        assert!(verify(&rogue, &G, &ctx, &prove(&guess, &G, &ctx)).is_err());
        // Whoever does know a - b can prove it.
        verify(&rogue, &G, &ctx, &prove(&(a - b), &G, &ctx)).unwrap();
    }
}
