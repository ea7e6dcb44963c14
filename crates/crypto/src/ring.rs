//! Linkable ring signatures over Ristretto: "one of these member banks signed this, on
//! this topic", without saying which, and a key image that links two signatures by one
//! key on one topic and nothing else.
//!
//! The scheme is the LSAG statement (Liu, Wei, Wong 2004, as in Monero's bLSAG) proved as
//! a Cramer-Damgård-Schoenmakers OR-proof made non-interactive with Fiat-Shamir, carrying
//! its commitments so that a verifier checks every branch in one multiscalar
//! multiplication:
//!
//! - ring `P_1..P_n` (members' ring public keys), signer `j` with secret `x`, `P_j = x·G`;
//! - topic point `T = H_p(chain, topic)` (hash to Ristretto); key image `I = x·T`;
//! - statement: for some `j`, `log_G P_j = log_T I`;
//! - for every `i ≠ j` the signer picks `c_i, s_i` at random and sets
//!   `L_i = s_i·G + c_i·P_i`, `R_i = s_i·T + c_i·I`; for `j`, `L_j = a·G`, `R_j = a·T`;
//! - `c = H(chain, topic, message, ring, I, L_1, R_1, ..., L_n, R_n)`, `c_j = c - Σ_{i≠j} c_i`,
//!   `s_j = a - c_j·x`;
//! - signature `(I, (L_i, R_i, c_i, s_i) for each i)`; the verifier recomputes `c`, checks
//!   `Σ c_i = c` and every `L_i = s_i·G + c_i·P_i`, `R_i = s_i·T + c_i·I`, the 2n equations
//!   weighted by random scalars and summed into one multiscalar multiplication.
//!
//! Pure functions, no I/O; secrets wiped on drop. See `docs/proofs.md`.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rand::rngs::OsRng;
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

/// Most members of a ring.
pub const MAX_RING: usize = 256;

fn invalid(reason: impl Into<String>) -> CryptoError {
    CryptoError::InvalidRingSignature {
        reason: reason.into(),
    }
}

/// A member's ring secret. Wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RingSecret(Scalar);

impl std::fmt::Debug for RingSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingSecret").finish_non_exhaustive()
    }
}

impl RingSecret {
    /// A fresh secret.
    pub fn generate() -> Self {
        loop {
            let s = Scalar::random(&mut OsRng);
            if s != Scalar::ZERO {
                return RingSecret(s);
            }
        }
    }

    /// The 32 bytes (to be sealed by the HSM; never stored in clear).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Reads 32 bytes (a canonical, nonzero scalar).
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = b
            .try_into()
            .map_err(|_| invalid("a ring secret is 32 bytes"))?;
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(arr))
            .ok_or_else(|| invalid("the ring secret is not a canonical scalar"))?;
        if s == Scalar::ZERO {
            return Err(invalid("the ring secret is zero"));
        }
        Ok(RingSecret(s))
    }

    /// The ring public key `x·G`, compressed.
    pub fn public(&self) -> [u8; 32] {
        (self.0 * G).compress().to_bytes()
    }

    /// A proof that the holder knows this key's secret, bound to `context`
    /// ([`crate::possession::context`]).
    pub fn prove_possession(&self, context: &[u8]) -> [u8; 64] {
        crate::possession::prove(&self.0, &G, context)
    }
}

/// Checks a proof of possession of the ring key `key` for `context`.
pub fn verify_possession(key: &[u8], context: &[u8], proof: &[u8]) -> Result<(), CryptoError> {
    crate::possession::verify(key, &G, context, proof)
}

/// Checks a registered ring public key: 32 bytes, a Ristretto point, not the identity.
pub fn check_ring_key(b: &[u8]) -> Result<(), CryptoError> {
    let arr: [u8; 32] = b
        .try_into()
        .map_err(|_| invalid("a ring key is 32 bytes"))?;
    if point(&arr, "the ring key")?.is_identity() {
        return Err(invalid("the ring key is the identity point"));
    }
    Ok(())
}

/// The topic point `T = H_p(chain, topic)`: SHA-512 over a domain label, the chain id and
/// the topic, mapped to Ristretto (nobody knows its discrete log to `G`).
fn topic_point(chain_id: &str, topic: &[u8]) -> RistrettoPoint {
    let mut h = Sha512::new();
    h.update(b"cl/ring/topic/v1\0");
    h.update((chain_id.len() as u64).to_be_bytes());
    h.update(chain_id.as_bytes());
    h.update((topic.len() as u64).to_be_bytes());
    h.update(topic);
    RistrettoPoint::from_uniform_bytes(&h.finalize().into())
}

/// The key image of `secret` on `topic`: the same for every signature by this key on this
/// topic, unrelated (without the secret) to its images on other topics.
pub fn key_image(chain_id: &str, topic: &[u8], secret: &RingSecret) -> [u8; 32] {
    (secret.0 * topic_point(chain_id, topic))
        .compress()
        .to_bytes()
}

/// A linkable ring signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingSignature {
    /// The key image `I`.
    pub key_image: [u8; 32],
    /// Per ring member, in ring order: `(L_i, R_i, c_i, s_i)`.
    pub branches: Vec<Branch>,
}

/// One ring member's branch of the proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Branch {
    /// `L_i`, compressed.
    pub l: [u8; 32],
    /// `R_i`, compressed.
    pub r: [u8; 32],
    /// `c_i`.
    pub c: [u8; 32],
    /// `s_i`.
    pub s: [u8; 32],
}

impl RingSignature {
    /// `I ‖ (L_i ‖ R_i ‖ c_i ‖ s_i)*`: 32 + 128·n bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + 128 * self.branches.len());
        out.extend_from_slice(&self.key_image);
        for b in &self.branches {
            out.extend_from_slice(&b.l);
            out.extend_from_slice(&b.r);
            out.extend_from_slice(&b.c);
            out.extend_from_slice(&b.s);
        }
        out
    }

    /// Reads [`RingSignature::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        if b.len() < 32 + 128 || !(b.len() - 32).is_multiple_of(128) {
            return Err(invalid(format!(
                "{} bytes is not 32 + 128 per ring member",
                b.len()
            )));
        }
        let arr = |x: &[u8]| {
            let mut a = [0u8; 32];
            a.copy_from_slice(x);
            a
        };
        let branches = b[32..]
            .chunks(128)
            .map(|c| Branch {
                l: arr(&c[..32]),
                r: arr(&c[32..64]),
                c: arr(&c[64..96]),
                s: arr(&c[96..]),
            })
            .collect();
        Ok(RingSignature {
            key_image: arr(&b[..32]),
            branches,
        })
    }
}

fn point(b: &[u8; 32], what: &str) -> Result<RistrettoPoint, CryptoError> {
    let p = CompressedRistretto(*b)
        .decompress()
        .ok_or_else(|| invalid(format!("{what} is not a Ristretto point")))?;
    Ok(p)
}

fn scalar(b: &[u8; 32], what: &str) -> Result<Scalar, CryptoError> {
    Option::<Scalar>::from(Scalar::from_canonical_bytes(*b))
        .ok_or_else(|| invalid(format!("{what} is not a canonical scalar")))
}

/// Checks a ring's shape: 2 to [`MAX_RING`] members, no key twice.
fn check_ring(ring: &[[u8; 32]]) -> Result<(), CryptoError> {
    if ring.len() < 2 || ring.len() > MAX_RING {
        return Err(invalid(format!(
            "a ring has 2 to {MAX_RING} members, got {}",
            ring.len()
        )));
    }
    let mut sorted: Vec<&[u8; 32]> = ring.iter().collect();
    sorted.sort();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(invalid("a ring lists a key twice"));
    }
    Ok(())
}

/// A ring key: a Ristretto point, not the identity.
fn ring_key(k: &[u8; 32]) -> Result<RistrettoPoint, CryptoError> {
    let p = point(k, "a ring key")?;
    if p.is_identity() {
        return Err(invalid("a ring key is the identity point"));
    }
    Ok(p)
}

/// The ring: decompressed, no identity, no duplicates, 2 to [`MAX_RING`] members.
fn ring_points(ring: &[[u8; 32]]) -> Result<Vec<RistrettoPoint>, CryptoError> {
    check_ring(ring)?;
    ring.iter().map(ring_key).collect()
}

fn challenge(
    chain_id: &str,
    topic: &[u8],
    message: &[u8],
    ring: &[[u8; 32]],
    image: &[u8; 32],
    commitments: &[([u8; 32], [u8; 32])],
) -> Scalar {
    let mut h = Sha512::new();
    h.update(b"cl/ring/challenge/v1\0");
    for part in [chain_id.as_bytes(), topic, message] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update((ring.len() as u64).to_be_bytes());
    for k in ring {
        h.update(k);
    }
    h.update(image);
    for (l, r) in commitments {
        h.update(l);
        h.update(r);
    }
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// Signs `message` on `topic` as member `index` of `ring` (whose key must be `secret`'s).
pub fn ring_sign(
    chain_id: &str,
    topic: &[u8],
    message: &[u8],
    ring: &[[u8; 32]],
    index: usize,
    secret: &RingSecret,
) -> Result<RingSignature, CryptoError> {
    let points = ring_points(ring)?;
    if ring.get(index) != Some(&secret.public()) {
        return Err(invalid("the signer's key is not at its index in the ring"));
    }
    let t = topic_point(chain_id, topic);
    let image = secret.0 * t;
    let image_bytes = image.compress().to_bytes();
    let n = ring.len();
    let mut cs = vec![Scalar::ZERO; n];
    let mut ss = vec![Scalar::ZERO; n];
    let mut commitments = vec![([0u8; 32], [0u8; 32]); n];
    let mut a = Scalar::random(&mut OsRng);
    for i in 0..n {
        let (l, r) = if i == index {
            (a * G, a * t)
        } else {
            cs[i] = Scalar::random(&mut OsRng);
            ss[i] = Scalar::random(&mut OsRng);
            (
                RistrettoPoint::vartime_multiscalar_mul([ss[i], cs[i]], [G, points[i]]),
                RistrettoPoint::vartime_multiscalar_mul([ss[i], cs[i]], [t, image]),
            )
        };
        commitments[i] = (l.compress().to_bytes(), r.compress().to_bytes());
    }
    let c = challenge(chain_id, topic, message, ring, &image_bytes, &commitments);
    let others: Scalar = cs.iter().sum();
    cs[index] = c - others;
    ss[index] = a - cs[index] * secret.0;
    a.zeroize();
    Ok(RingSignature {
        key_image: image_bytes,
        branches: (0..n)
            .map(|i| Branch {
                l: commitments[i].0,
                r: commitments[i].1,
                c: cs[i].to_bytes(),
                s: ss[i].to_bytes(),
            })
            .collect(),
    })
}

/// Verifies a ring signature; `Ok` means some member of `ring` signed `message` on
/// `topic` on this chain, with key image `sig.key_image`.
pub fn ring_verify(
    chain_id: &str,
    topic: &[u8],
    message: &[u8],
    ring: &[[u8; 32]],
    sig: &RingSignature,
) -> Result<(), CryptoError> {
    let mut batch = RingBatch::new();
    batch.add(chain_id, topic, message, ring, sig)?;
    batch.verify()
}

/// Ring signatures verified together, as one multiscalar multiplication: each signature's
/// 2n equations weighted by fresh random scalars and summed, the base point's and every
/// ring key's coefficients merged across signatures (the signatures of a block share the
/// member ring). A forged signature makes the sum non-zero except with probability about
/// 2^-252; which one it was takes [`ring_verify`] of each.
#[derive(Default)]
pub struct RingBatch {
    /// Coefficient of `G`.
    g: Scalar,
    /// Ring keys by their bytes: the point (decompressed once) and its coefficient.
    keys: std::collections::BTreeMap<[u8; 32], (RistrettoPoint, Scalar)>,
    /// Per-signature terms: `L_i`, `R_i`, `T`, `I`.
    scalars: Vec<Scalar>,
    points: Vec<RistrettoPoint>,
}

impl RingBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a signature; refuses at once one that is malformed or whose challenges do not
    /// add up (nothing of it is then added).
    pub fn add(
        &mut self,
        chain_id: &str,
        topic: &[u8],
        message: &[u8],
        ring: &[[u8; 32]],
        sig: &RingSignature,
    ) -> Result<(), CryptoError> {
        check_ring(ring)?;
        let n = ring.len();
        if sig.branches.len() != n {
            return Err(invalid(format!(
                "the signature has {} branches for a ring of {n}",
                sig.branches.len()
            )));
        }
        let image = point(&sig.key_image, "the key image")?;
        if image.is_identity() {
            return Err(invalid("the key image is the identity point"));
        }
        let mut points = Vec::with_capacity(n);
        for k in ring {
            let p = match self.keys.get(k) {
                Some((p, _)) => *p,
                None => ring_key(k)?,
            };
            points.push(p);
        }
        let mut branches = Vec::with_capacity(n);
        let mut sum = Scalar::ZERO;
        for b in &sig.branches {
            let ci = scalar(&b.c, "a challenge")?;
            let si = scalar(&b.s, "a response")?;
            let li = point(&b.l, "a commitment")?;
            let ri = point(&b.r, "a commitment")?;
            sum += ci;
            branches.push((ci, si, li, ri));
        }
        let commitments: Vec<([u8; 32], [u8; 32])> =
            sig.branches.iter().map(|b| (b.l, b.r)).collect();
        if sum != challenge(chain_id, topic, message, ring, &sig.key_image, &commitments) {
            return Err(invalid("the challenges do not add up to the transcript's"));
        }
        // Σ u_i (s_i G + c_i P_i - L_i) + v_i (s_i T + c_i I - R_i) = 0.
        let t = topic_point(chain_id, topic);
        let (mut tc, mut ic) = (Scalar::ZERO, Scalar::ZERO);
        for ((ci, si, li, ri), (k, p)) in branches.into_iter().zip(ring.iter().zip(points)) {
            let (u, v) = (Scalar::random(&mut OsRng), Scalar::random(&mut OsRng));
            self.g += u * si;
            tc += v * si;
            ic += v * ci;
            self.keys.entry(*k).or_insert((p, Scalar::ZERO)).1 += u * ci;
            self.scalars.extend([-u, -v]);
            self.points.extend([li, ri]);
        }
        self.scalars.extend([tc, ic]);
        self.points.extend([t, image]);
        Ok(())
    }

    /// True if nothing was added.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Checks every signature added.
    pub fn verify(self) -> Result<(), CryptoError> {
        if self.is_empty() {
            return Ok(());
        }
        let (keys, coefficients): (Vec<RistrettoPoint>, Vec<Scalar>) =
            self.keys.into_values().unzip();
        let sum = RistrettoPoint::vartime_multiscalar_mul(
            self.scalars.into_iter().chain(coefficients).chain([self.g]),
            self.points.into_iter().chain(keys).chain([G]),
        );
        if sum.is_identity() {
            Ok(())
        } else {
            Err(invalid("a branch does not verify"))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CHAIN: &str = "test-chain";

    fn ring(n: usize) -> (Vec<RingSecret>, Vec<[u8; 32]>) {
        let secrets: Vec<RingSecret> = (0..n).map(|_| RingSecret::generate()).collect();
        let keys = secrets.iter().map(RingSecret::public).collect();
        (secrets, keys)
    }

    #[test]
    fn every_ring_size_from_2_to_64_signs_and_verifies() {
        for n in 2..=64usize {
            let (secrets, keys) = ring(n);
            let j = (n * 7 + 3) % n;
            let sig = ring_sign(CHAIN, b"topic", b"msg", &keys, j, &secrets[j]).unwrap();
            assert_eq!(sig.to_bytes().len(), 32 + 128 * n);
            ring_verify(CHAIN, b"topic", b"msg", &keys, &sig).unwrap();
            let back = RingSignature::from_bytes(&sig.to_bytes()).unwrap();
            assert_eq!(back, sig);
        }
    }

    #[test]
    fn forgeries_and_changes_are_refused() {
        let (secrets, keys) = ring(8);
        let sig = ring_sign(CHAIN, b"endorse:bank-x", b"stmt", &keys, 3, &secrets[3]).unwrap();
        let ok = |s: &RingSignature, k: &[[u8; 32]], topic: &[u8], msg: &[u8], chain: &str| {
            ring_verify(chain, topic, msg, k, s).is_ok()
        };
        assert!(ok(&sig, &keys, b"endorse:bank-x", b"stmt", CHAIN));
        // A changed message, topic, chain or ring.
        assert!(!ok(&sig, &keys, b"endorse:bank-x", b"stmt2", CHAIN));
        assert!(!ok(&sig, &keys, b"endorse:bank-y", b"stmt", CHAIN));
        assert!(!ok(&sig, &keys, b"endorse:bank-x", b"stmt", "other-chain"));
        let mut other = keys.clone();
        other[5] = RingSecret::generate().public();
        assert!(!ok(&sig, &other, b"endorse:bank-x", b"stmt", CHAIN));
        let mut swapped = keys.clone();
        swapped.swap(1, 2);
        assert!(!ok(&sig, &swapped, b"endorse:bank-x", b"stmt", CHAIN));
        assert!(!ok(&sig, &keys[..7], b"endorse:bank-x", b"stmt", CHAIN));
        // A signer outside the ring cannot sign for it.
        let outsider = RingSecret::generate();
        assert!(ring_sign(CHAIN, b"t", b"m", &keys, 0, &outsider).is_err());
        // Tampered scalars and points, in every branch and the key image.
        for i in 0..8 {
            for field in 0..4 {
                let mut t = sig.clone();
                let b = &mut t.branches[i];
                let target = match field {
                    0 => &mut b.l,
                    1 => &mut b.r,
                    2 => &mut b.c,
                    _ => &mut b.s,
                };
                target[0] ^= 1;
                assert!(
                    !ok(&t, &keys, b"endorse:bank-x", b"stmt", CHAIN),
                    "{i}/{field}"
                );
            }
        }
        let mut t = sig.clone();
        t.key_image = RingSecret::generate().public();
        assert!(!ok(&t, &keys, b"endorse:bank-x", b"stmt", CHAIN));
        // Identity points: as the key image, as a ring key, as a commitment.
        let identity = [0u8; 32];
        let mut t = sig.clone();
        t.key_image = identity;
        assert!(!ok(&t, &keys, b"endorse:bank-x", b"stmt", CHAIN));
        let mut k = keys.clone();
        k[0] = identity;
        assert!(!ok(&sig, &k, b"endorse:bank-x", b"stmt", CHAIN));
        let mut t = sig.clone();
        t.branches[0].l = identity;
        assert!(!ok(&t, &keys, b"endorse:bank-x", b"stmt", CHAIN));
        // A ring with a duplicate key, or of one member.
        let mut dup = keys.clone();
        dup[1] = dup[0];
        assert!(!ok(&sig, &dup, b"endorse:bank-x", b"stmt", CHAIN));
        assert!(ring_sign(CHAIN, b"t", b"m", &keys[..1], 0, &secrets[0]).is_err());
        assert!(RingSignature::from_bytes(&sig.to_bytes()[..100]).is_err());
        assert_eq!(format!("{:?}", secrets[0]), "RingSecret { .. }");
    }

    #[test]
    fn a_batch_verifies_many_signatures_and_fails_on_one_forgery() {
        let (secrets, keys) = ring(8);
        let (other_secrets, other_keys) = ring(3);
        type Signed = (Vec<u8>, Vec<[u8; 32]>, RingSignature);
        let sigs: Vec<Signed> = (0..10)
            .map(|i| {
                let topic = format!("topic-{i}").into_bytes();
                if i % 3 == 2 {
                    let sig =
                        ring_sign(CHAIN, &topic, b"m", &other_keys, 1, &other_secrets[1]).unwrap();
                    (topic, other_keys.clone(), sig)
                } else {
                    let sig =
                        ring_sign(CHAIN, &topic, b"m", &keys, i % 8, &secrets[i % 8]).unwrap();
                    (topic, keys.clone(), sig)
                }
            })
            .collect();
        let batch_of = |sigs: &[Signed]| {
            let mut batch = RingBatch::new();
            for (topic, ring, sig) in sigs {
                batch.add(CHAIN, topic, b"m", ring, sig).unwrap();
            }
            batch
        };
        assert!(RingBatch::new().verify().is_ok());
        batch_of(&sigs).verify().unwrap();
        // One signature's response changed so that its challenges still add up: only the
        // batched equation catches it.
        let mut forged = sigs.clone();
        let s = scalar(&forged[4].2.branches[0].s, "s").unwrap() + Scalar::ONE;
        forged[4].2.branches[0].s = s.to_bytes();
        assert!(batch_of(&forged).verify().is_err());
        let (topic, ring, sig) = &forged[4];
        assert!(ring_verify(CHAIN, topic, b"m", ring, sig).is_err());
        // A signature whose challenges do not add up is refused as it is added.
        let mut bad = sigs[0].2.clone();
        bad.branches[0].c = (scalar(&bad.branches[0].c, "c").unwrap() + Scalar::ONE).to_bytes();
        let err = RingBatch::new()
            .add(CHAIN, &sigs[0].0, b"m", &keys, &bad)
            .unwrap_err();
        assert!(err.to_string().contains("do not add up"), "{err}");
    }

    #[test]
    fn key_images_link_one_key_on_one_topic_and_nothing_else() {
        let (secrets, keys) = ring(5);
        let (secrets2, keys2) = ring(7);
        let mut keys2 = keys2;
        keys2[2] = keys[1]; // the same member in another ring
        let a = ring_sign(CHAIN, b"topic-1", b"m1", &keys, 1, &secrets[1]).unwrap();
        let b = ring_sign(CHAIN, b"topic-1", b"m2", &keys2, 2, &secrets[1]).unwrap();
        assert_eq!(a.key_image, b.key_image, "same key, same topic: linked");
        assert_eq!(a.key_image, key_image(CHAIN, b"topic-1", &secrets[1]));
        let c = ring_sign(CHAIN, b"topic-2", b"m1", &keys, 1, &secrets[1]).unwrap();
        assert_ne!(
            a.key_image, c.key_image,
            "same key, other topic: not linked"
        );
        let d = ring_sign(CHAIN, b"topic-1", b"m1", &keys, 0, &secrets[0]).unwrap();
        assert_ne!(
            a.key_image, d.key_image,
            "other key, same topic: not linked"
        );
        let _ = secrets2;
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Every index produces a valid signature whose key image depends on the key and
        /// the topic only, not on the ring or the signer's position in it; and the
        /// non-signers' branches are uniformly random, like the signer's.
        #[test]
        fn the_signers_index_is_not_visible(n in 2usize..12, seed in any::<u64>()) {
            let (secrets, keys) = ring(n);
            let mut rotated = keys.clone();
            rotated.rotate_left((seed as usize) % n);
            for j in 0..n {
                let sig = ring_sign(CHAIN, b"t", b"m", &keys, j, &secrets[j]).unwrap();
                prop_assert!(ring_verify(CHAIN, b"t", b"m", &keys, &sig).is_ok());
                prop_assert_eq!(sig.key_image, key_image(CHAIN, b"t", &secrets[j]));
                let k = rotated.iter().position(|x| *x == keys[j]).unwrap();
                let sig2 = ring_sign(CHAIN, b"t", b"m", &rotated, k, &secrets[j]).unwrap();
                prop_assert_eq!(sig2.key_image, sig.key_image);
                // Every branch's challenge and response are nonzero, well-formed scalars,
                // whether it is the signer's or not.
                for b in &sig.branches {
                    prop_assert!(scalar(&b.c, "c").is_ok() && scalar(&b.s, "s").is_ok());
                }
            }
        }
    }
}
