//! Batch verification: many proofs checked with one multiscalar multiplication.
//!
//! Every proof in this crate verifies by checking that one linear combination of points
//! is the identity (for a Bulletproofs range proof that is the "mega-check" of the
//! Bulletproofs paper, §6.2; for a sigma proof, its verification equations). A batch
//! multiplies each proof's equation by an independent uniformly random scalar and adds
//! them up: if every equation holds, the sum is the identity; if one does not, the sum is
//! the identity with probability about 2⁻²⁵², over the verifier's private randomness,
//! which no prover sees. The generators every
//! range proof shares (`G`, `H`, the Bulletproofs vectors) then appear once in the sum
//! instead of once per proof, which is where the saving comes from.
//!
//! The range-proof equation is rebuilt here from the proof bytes, with the same Merlin
//! transcript as `bulletproofs` 5.0 (`RangeProof::verify_multiple`): the tests check that
//! the two accept and refuse the same proofs. A failing batch says only that some proof
//! failed: callers then verify the proofs one by one to name it.

use bulletproofs::BulletproofGens;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use merlin::Transcript;
use rand::rngs::OsRng;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::Shake256;
use std::sync::OnceLock;

use crate::{
    aggregated, bp, challenge, coeff, handle_transcript, pc, relation_transcript, AuditKey,
    Commitment, Context, DlogProof, Handle, HandleProof, ProofError, RangeProofData,
    MAX_AGGREGATED, RANGE_BITS,
};

/// The Bulletproofs `H` vectors, party by party (`bulletproofs` keeps them private; they
/// are derived exactly as it derives them: SHAKE256 over `"GeneratorsChain" ‖ 'H' ‖
/// party (u32 little-endian)`, 64 bytes per point, hashed to Ristretto).
fn h_gens() -> &'static Vec<RistrettoPoint> {
    static H: OnceLock<Vec<RistrettoPoint>> = OnceLock::new();
    H.get_or_init(|| {
        let mut out = Vec::with_capacity(RANGE_BITS * MAX_AGGREGATED);
        for party in 0..MAX_AGGREGATED as u32 {
            let mut shake = Shake256::default();
            shake.update(b"GeneratorsChain");
            let mut label = [b'H', 0, 0, 0, 0];
            label[1..].copy_from_slice(&party.to_le_bytes());
            shake.update(&label);
            let mut reader = shake.finalize_xof();
            for _ in 0..RANGE_BITS {
                let mut buf = [0u8; 64];
                reader.read(&mut buf);
                out.push(RistrettoPoint::from_uniform_bytes(&buf));
            }
        }
        out
    })
}

/// The Bulletproofs `G` vectors, party by party, flattened.
fn g_gens() -> &'static Vec<RistrettoPoint> {
    static G: OnceLock<Vec<RistrettoPoint>> = OnceLock::new();
    G.get_or_init(|| {
        let gens: &BulletproofGens = bp();
        (0..MAX_AGGREGATED)
            .flat_map(|j| gens.share(j).G(RANGE_BITS).copied())
            .collect()
    })
}

/// Accumulates proofs' verification equations; [`BatchVerifier::verify`] checks them all.
pub struct BatchVerifier {
    b: Scalar,
    b_blinding: Scalar,
    g: Vec<Scalar>,
    h: Vec<Scalar>,
    scalars: Vec<Scalar>,
    points: Vec<RistrettoPoint>,
    proofs: usize,
}

impl Default for BatchVerifier {
    fn default() -> Self {
        Self::new()
    }
}

fn point(c: &CompressedRistretto, what: &'static str) -> Result<RistrettoPoint, ProofError> {
    c.decompress().ok_or(ProofError::Malformed {
        what,
        reason: "not a Ristretto point".into(),
    })
}

fn read32(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&b[..32]);
    out
}

fn scalar(b: &[u8], what: &'static str) -> Result<Scalar, ProofError> {
    Option::<Scalar>::from(Scalar::from_canonical_bytes(read32(b))).ok_or(ProofError::Malformed {
        what,
        reason: "non-canonical scalar".into(),
    })
}

/// A non-identity point appended to the transcript, as `bulletproofs` does.
fn validate_and_append(
    t: &mut Transcript,
    label: &'static [u8],
    c: &CompressedRistretto,
    what: &'static str,
) -> Result<RistrettoPoint, ProofError> {
    if c.is_identity() {
        return Err(ProofError::Identity { what });
    }
    t.append_message(label, c.as_bytes());
    point(c, what)
}

/// `1 + x + … + x^(n-1)`.
fn sum_of_powers(x: &Scalar, n: usize) -> Scalar {
    let mut acc = Scalar::ZERO;
    let mut p = Scalar::ONE;
    for _ in 0..n {
        acc += p;
        p *= x;
    }
    acc
}

impl BatchVerifier {
    /// An empty batch.
    pub fn new() -> Self {
        BatchVerifier {
            b: Scalar::ZERO,
            b_blinding: Scalar::ZERO,
            g: Vec::new(),
            h: Vec::new(),
            scalars: Vec::new(),
            points: Vec::new(),
            proofs: 0,
        }
    }

    /// How many proofs the batch holds.
    pub fn len(&self) -> usize {
        self.proofs
    }

    /// True if the batch holds no proof.
    pub fn is_empty(&self) -> bool {
        self.proofs == 0
    }

    fn weight() -> Scalar {
        Scalar::random(&mut OsRng)
    }

    fn push(&mut self, s: Scalar, p: RistrettoPoint) {
        self.scalars.push(s);
        self.points.push(p);
    }

    /// Adds a record's aggregated range proof ([`crate::prove_range`]).
    pub fn add_range(
        &mut self,
        ctx: &Context,
        commitments: &[Commitment],
        data: &RangeProofData,
    ) -> Result<(), ProofError> {
        let all = aggregated(commitments, data)?;
        let mut t = ctx.transcript(b"range");
        self.add_bulletproof(&mut t, &all, &data.proof, "range proof")
    }

    /// Adds an at-most proof ([`crate::prove_at_most`]): a range proof on `b - a`.
    pub fn add_at_most(
        &mut self,
        ctx: &Context,
        a: &Commitment,
        b: &Commitment,
        data: &RangeProofData,
    ) -> Result<(), ProofError> {
        let d = crate::at_most_difference(a, b)?;
        let mut t = ctx.transcript(b"at-most");
        self.add_bulletproof(&mut t, &[d], &data.proof, "at-most proof")
    }

    /// The weighted Bulletproofs verification equation of `proof` for `values`, `n = 64`.
    fn add_bulletproof(
        &mut self,
        t: &mut Transcript,
        values: &[CompressedRistretto],
        proof: &[u8],
        what: &'static str,
    ) -> Result<(), ProofError> {
        let n = RANGE_BITS;
        let m = values.len();
        let nm = n * m;
        let lg = nm.trailing_zeros() as usize;
        let malformed = |reason: String| ProofError::Malformed { what, reason };
        if !proof.len().is_multiple_of(32) || proof.len() != (9 + 2 * lg) * 32 {
            return Err(malformed(format!(
                "{} bytes; {m} aggregated values need {}",
                proof.len(),
                (9 + 2 * lg) * 32
            )));
        }
        let pt = |i: usize| CompressedRistretto(read32(&proof[i * 32..]));
        let (a_c, s_c, t1_c, t2_c) = (pt(0), pt(1), pt(2), pt(3));
        let t_x = scalar(&proof[4 * 32..], what)?;
        let t_x_blinding = scalar(&proof[5 * 32..], what)?;
        let e_blinding = scalar(&proof[6 * 32..], what)?;
        let ipp = &proof[7 * 32..];
        let ipp_a = scalar(&ipp[2 * lg * 32..], what)?;
        let ipp_b = scalar(&ipp[(2 * lg + 1) * 32..], what)?;

        // Replay the transcript of bulletproofs' RangeProof::verify_multiple.
        t.append_message(b"dom-sep", b"rangeproof v1");
        t.append_u64(b"n", n as u64);
        t.append_u64(b"m", m as u64);
        let mut v_points = Vec::with_capacity(m);
        for v in values {
            t.append_message(b"V", v.as_bytes());
            v_points.push(point(v, "commitment")?);
        }
        let a_p = validate_and_append(t, b"A", &a_c, what)?;
        let s_p = validate_and_append(t, b"S", &s_c, what)?;
        let y = challenge(t, b"y");
        let z = challenge(t, b"z");
        let t1_p = validate_and_append(t, b"T_1", &t1_c, what)?;
        let t2_p = validate_and_append(t, b"T_2", &t2_c, what)?;
        let x = challenge(t, b"x");
        t.append_message(b"t_x", t_x.as_bytes());
        t.append_message(b"t_x_blinding", t_x_blinding.as_bytes());
        t.append_message(b"e_blinding", e_blinding.as_bytes());
        let w = challenge(t, b"w");
        // Inner-product argument challenges.
        t.append_message(b"dom-sep", b"ipp v1");
        t.append_u64(b"n", nm as u64);
        let mut u = Vec::with_capacity(lg);
        let mut l_points = Vec::with_capacity(lg);
        let mut r_points = Vec::with_capacity(lg);
        for i in 0..lg {
            let (l, r) = (
                CompressedRistretto(read32(&ipp[2 * i * 32..])),
                CompressedRistretto(read32(&ipp[(2 * i + 1) * 32..])),
            );
            l_points.push(validate_and_append(t, b"L", &l, what)?);
            r_points.push(validate_and_append(t, b"R", &r, what)?);
            u.push(challenge(t, b"u"));
        }
        if u.contains(&Scalar::ZERO) || y == Scalar::ZERO {
            return Err(ProofError::Invalid { kind: "range" });
        }
        let mut u_inv = u.clone();
        let all_inv = Scalar::batch_invert(&mut u_inv);
        let u_sq: Vec<Scalar> = u.iter().map(|x| x * x).collect();
        let u_inv_sq: Vec<Scalar> = u_inv.iter().map(|x| x * x).collect();
        let mut s = Vec::with_capacity(nm);
        s.push(all_inv);
        for i in 1..nm {
            let lg_i = (usize::BITS - 1 - i.leading_zeros()) as usize;
            let k = 1 << lg_i;
            s.push(s[i - k] * u_sq[(lg - 1) - lg_i]);
        }

        // The mega-check, times a random weight `ω`, with bulletproofs' inner batching
        // challenge `c` between its two equations.
        let omega = Self::weight();
        let c = Self::weight();
        let zz = z * z;
        let y_inv = y.invert();
        let two = Scalar::from(2u64);
        let delta = (z - zz) * sum_of_powers(&y, nm)
            - zz * z * sum_of_powers(&two, n) * sum_of_powers(&z, m);
        if self.g.len() < nm {
            self.g.resize(nm, Scalar::ZERO);
            self.h.resize(nm, Scalar::ZERO);
        }
        let mut y_inv_i = Scalar::ONE;
        let mut z_j = Scalar::ONE;
        for j in 0..m {
            let mut two_i = Scalar::ONE;
            for i in 0..n {
                let k = j * n + i;
                self.g[k] += omega * (-z - ipp_a * s[k]);
                self.h[k] += omega * (z + y_inv_i * (zz * z_j * two_i - ipp_b * s[nm - 1 - k]));
                y_inv_i *= y_inv;
                two_i += two_i;
            }
            z_j *= z;
        }
        self.b += omega * (w * (t_x - ipp_a * ipp_b) + c * (delta - t_x));
        self.b_blinding += omega * (-e_blinding - c * t_x_blinding);
        self.push(omega, a_p);
        self.push(omega * x, s_p);
        self.push(omega * c * x, t1_p);
        self.push(omega * c * x * x, t2_p);
        for i in 0..lg {
            self.push(omega * u_sq[i], l_points[i]);
            self.push(omega * u_inv_sq[i], r_points[i]);
        }
        let mut z_j = Scalar::ONE;
        for v in v_points {
            self.push(omega * c * zz * z_j, v);
            z_j *= z;
        }
        self.proofs += 1;
        Ok(())
    }

    /// Adds a linear-relation proof ([`crate::prove_linear`]): `s·H = R + c·Σ aᵢ·Cᵢ`.
    pub fn add_linear(
        &mut self,
        ctx: &Context,
        coeffs: &[i64],
        commitments: &[Commitment],
        proof: &DlogProof,
    ) -> Result<(), ProofError> {
        if coeffs.len() != commitments.len() || coeffs.is_empty() {
            return Err(ProofError::Malformed {
                what: "relation proof",
                reason: "one coefficient per commitment is needed".into(),
            });
        }
        let mut points = Vec::with_capacity(commitments.len());
        for c in commitments {
            let p = c.point("commitment")?;
            if p.is_identity() {
                return Err(ProofError::Identity { what: "commitment" });
            }
            points.push(p);
        }
        let r = point(&proof.r, "relation proof")?;
        let mut t = relation_transcript(ctx, coeffs, commitments);
        t.append_message(b"R", proof.r.as_bytes());
        let ch = challenge(&mut t, b"c");
        let omega = Self::weight();
        self.b_blinding += omega * proof.s;
        self.push(-omega, r);
        for (a, p) in coeffs.iter().zip(points) {
            self.push(-omega * ch * coeff(*a), p);
        }
        self.proofs += 1;
        Ok(())
    }

    /// Adds an auditor handle proof ([`crate::audit_handle`]).
    pub fn add_audit_handle(
        &mut self,
        ctx: &Context,
        c: &Commitment,
        key: &AuditKey,
        d: &Handle,
        proof: &HandleProof,
    ) -> Result<(), ProofError> {
        let (cp, pp, dp) = (
            point(&c.0, "commitment")?,
            point(&key.0, "audit key")?,
            point(&d.0, "handle")?,
        );
        if cp.is_identity() || pp.is_identity() {
            return Err(ProofError::Identity {
                what: "commitment or audit key",
            });
        }
        let (y0, y1) = (
            point(&proof.y0, "handle proof")?,
            point(&proof.y1, "handle proof")?,
        );
        let mut t = handle_transcript(ctx, c, key, d);
        t.append_message(b"Y0", proof.y0.as_bytes());
        t.append_message(b"Y1", proof.y1.as_bytes());
        let ch = challenge(&mut t, b"c");
        // zv·G + zr·H - Y0 - c·C = 0 and zr·P - Y1 - c·D = 0, weighted.
        let (w0, w1) = (Self::weight(), Self::weight());
        self.b += w0 * proof.zv;
        self.b_blinding += w0 * proof.zr;
        self.push(-w0, y0);
        self.push(-w0 * ch, cp);
        self.push(w1 * proof.zr, pp);
        self.push(-w1, y1);
        self.push(-w1 * ch, dp);
        self.proofs += 1;
        Ok(())
    }

    /// Checks every proof added, with one multiscalar multiplication. `Err` means at
    /// least one does not verify (verify them one by one to find which).
    pub fn verify(self) -> Result<(), ProofError> {
        if self.proofs == 0 {
            return Ok(());
        }
        let gens = pc();
        let nm = self.g.len();
        let sum = RistrettoPoint::vartime_multiscalar_mul(
            [self.b, self.b_blinding]
                .into_iter()
                .chain(self.g)
                .chain(self.h)
                .chain(self.scalars),
            [gens.B, gens.B_blinding]
                .iter()
                .chain(g_gens()[..nm].iter())
                .chain(h_gens()[..nm].iter())
                .chain(self.points.iter()),
        );
        if sum.is_identity() {
            Ok(())
        } else {
            Err(ProofError::Invalid { kind: "batch" })
        }
    }
}
