//! Proofs about confidential amounts, on Ristretto (curve25519-dalek 4):
//!
//! - Pedersen commitments `C = v·G + r·H` (bulletproofs' generators);
//! - aggregated Bulletproofs range proofs that committed values lie in `[0, 2^64)`;
//! - sigma proofs (Schnorr over `H`) that committed values satisfy a linear relation with
//!   integer coefficients: equality of two values (`C1 - C2`), a total equal to the sum of
//!   its lines (`C_t - ΣC_i`);
//! - "at most": `a <= b` as a range proof on `C_b - C_a`;
//! - auditor twisted ElGamal: a decryption handle `D = r·P` under an auditor's key
//!   `P = s⁻¹·H`, with a proof that `D` and the commitment share `r` (so the auditor
//!   decrypts exactly the committed value), homomorphic sums and a bounded discrete log.
//!
//! Every proof's Merlin transcript starts with a domain label and the [`Context`]: the
//! chain id and the (record, version, field) of every commitment involved, so a proof
//! cannot be replayed against other records, versions or fields.

use std::collections::HashMap;
use std::sync::OnceLock;

use bulletproofs::{BulletproofGens, PedersenGens, RangeProof};
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity, MultiscalarMul};
use merlin::Transcript;
use rand::rngs::OsRng;
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

mod batch;
pub use batch::BatchVerifier;

/// Most values one aggregated range proof covers.
pub const MAX_AGGREGATED: usize = 16;
/// Bits of every range proof.
pub const RANGE_BITS: usize = 64;

/// Why a proof does not verify or cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// The proof does not verify.
    #[error("{kind} proof does not verify")]
    Invalid {
        /// The proof kind.
        kind: &'static str,
    },
    /// Bytes that are not a proof, a point or a scalar.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// What was read.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A commitment or key that is the identity point (it would prove nothing).
    #[error("{what} is the identity point")]
    Identity {
        /// What.
        what: &'static str,
    },
    /// The statement cannot be proved (wrong number of values, value out of range...).
    #[error("cannot prove: {0}")]
    Unprovable(String),
}

fn pc() -> &'static PedersenGens {
    static G: OnceLock<PedersenGens> = OnceLock::new();
    G.get_or_init(PedersenGens::default)
}

fn bp() -> &'static BulletproofGens {
    static G: OnceLock<BulletproofGens> = OnceLock::new();
    G.get_or_init(|| BulletproofGens::new(RANGE_BITS, MAX_AGGREGATED))
}

/// A committed value's opening: the value and the blinding. Wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Opening {
    /// The value.
    pub value: u64,
    /// The blinding scalar.
    pub blinding: Scalar,
}

impl std::fmt::Debug for Opening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opening").finish_non_exhaustive()
    }
}

impl Opening {
    /// An opening of `value` with a fresh random blinding.
    pub fn new(value: u64) -> Self {
        Opening {
            value,
            blinding: Scalar::random(&mut OsRng),
        }
    }

    /// The commitment `value·G + blinding·H`.
    pub fn commit(&self) -> Commitment {
        Commitment(
            pc().commit(Scalar::from(self.value), self.blinding)
                .compress(),
        )
    }

    /// 40 bytes: value (u64 big-endian) then blinding (32 bytes): what travels inside the
    /// encrypted field so that readers can check the commitment.
    pub fn to_bytes(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        out[..8].copy_from_slice(&self.value.to_be_bytes());
        out[8..].copy_from_slice(self.blinding.as_bytes());
        out
    }

    /// Reads [`Opening::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Self, ProofError> {
        if b.len() != 40 {
            return Err(ProofError::Malformed {
                what: "opening",
                reason: format!("{} bytes, expected 40", b.len()),
            });
        }
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[..8]);
        let mut r = [0u8; 32];
        r.copy_from_slice(&b[8..]);
        let blinding = Option::<Scalar>::from(Scalar::from_canonical_bytes(r)).ok_or(
            ProofError::Malformed {
                what: "opening",
                reason: "the blinding is not a canonical scalar".into(),
            },
        )?;
        Ok(Opening {
            value: u64::from_be_bytes(v),
            blinding,
        })
    }

    /// True if this opening opens `c`.
    pub fn opens(&self, c: &Commitment) -> bool {
        self.commit() == *c
    }
}

/// A Pedersen commitment (compressed Ristretto point).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Commitment(pub CompressedRistretto);

impl Commitment {
    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Reads 32 bytes, refusing non-points and the identity.
    pub fn from_bytes(b: &[u8]) -> Result<Self, ProofError> {
        let c = CompressedRistretto::from_slice(b).map_err(|_| ProofError::Malformed {
            what: "commitment",
            reason: format!("{} bytes, expected 32", b.len()),
        })?;
        let p = c.decompress().ok_or(ProofError::Malformed {
            what: "commitment",
            reason: "not a Ristretto point".into(),
        })?;
        if p.is_identity() {
            return Err(ProofError::Identity { what: "commitment" });
        }
        Ok(Commitment(c))
    }

    fn point(&self, what: &'static str) -> Result<RistrettoPoint, ProofError> {
        self.0.decompress().ok_or(ProofError::Malformed {
            what,
            reason: "not a Ristretto point".into(),
        })
    }
}

/// What a proof is about: the chain and, for each commitment involved, its record,
/// version and field. Bound into every transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// The chain id.
    pub chain_id: String,
    /// (record id, version, field name) per commitment, in statement order.
    pub items: Vec<(String, u32, String)>,
}

impl Context {
    /// This context bound to the organisation that files the proof (a cross-check): the
    /// proof verifies only in a transaction that organisation signs, so a reader cannot
    /// copy another's proof and file it again under its own name. The filer joins the
    /// chain id after a NUL, which no chain id contains, so the transcript stays
    /// unambiguous.
    pub fn filed_by(mut self, org: &str) -> Self {
        self.chain_id = format!("{}\0filed-by\0{org}", self.chain_id);
        self
    }

    fn transcript(&self, label: &'static [u8]) -> Transcript {
        let mut t = Transcript::new(b"confidential-ledger/proofs/v1");
        t.append_message(b"proof", label);
        t.append_message(b"chain", self.chain_id.as_bytes());
        t.append_u64(b"items", self.items.len() as u64);
        for (record, version, field) in &self.items {
            t.append_message(b"record", record.as_bytes());
            t.append_u64(b"version", u64::from(*version));
            t.append_message(b"field", field.as_bytes());
        }
        t
    }
}

fn challenge(t: &mut Transcript, label: &'static [u8]) -> Scalar {
    let mut buf = [0u8; 64];
    t.challenge_bytes(label, &mut buf);
    Scalar::from_bytes_mod_order_wide(&buf)
}

// ---------------------------------------------------------------------------------------
// Range proofs

/// An aggregated range proof for a record's committed values, padded to a power of two
/// with commitments to zero (carried here, checked to be in range like the others).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeProofData {
    /// Commitments that pad the aggregation to a power of two.
    pub padding: Vec<Commitment>,
    /// The Bulletproofs proof bytes.
    pub proof: Vec<u8>,
}

/// Proves that every opening's value is in `[0, 2^64)`, in one aggregated proof.
pub fn prove_range(ctx: &Context, openings: &[Opening]) -> Result<RangeProofData, ProofError> {
    if openings.is_empty() || openings.len() > MAX_AGGREGATED {
        return Err(ProofError::Unprovable(format!(
            "a range proof covers 1 to {MAX_AGGREGATED} values, got {}",
            openings.len()
        )));
    }
    let m = openings.len().next_power_of_two();
    let mut values: Vec<u64> = openings.iter().map(|o| o.value).collect();
    let mut blindings: Vec<Scalar> = openings.iter().map(|o| o.blinding).collect();
    let mut padding = Vec::new();
    while values.len() < m {
        let o = Opening::new(0);
        padding.push(o.commit());
        values.push(0);
        blindings.push(o.blinding);
    }
    let mut t = ctx.transcript(b"range");
    let (proof, _) =
        RangeProof::prove_multiple(bp(), pc(), &mut t, &values, &blindings, RANGE_BITS)
            .map_err(|e| ProofError::Unprovable(e.to_string()))?;
    blindings.zeroize();
    Ok(RangeProofData {
        padding,
        proof: proof.to_bytes(),
    })
}

/// The commitments an aggregated range proof covers: the record's, then the padding; a
/// power of two, at most [`MAX_AGGREGATED`], at least one of the record's.
fn aggregated(
    commitments: &[Commitment],
    data: &RangeProofData,
) -> Result<Vec<CompressedRistretto>, ProofError> {
    let all: Vec<CompressedRistretto> = commitments
        .iter()
        .chain(data.padding.iter())
        .map(|c| c.0)
        .collect();
    if !all.len().is_power_of_two() || all.len() > MAX_AGGREGATED || commitments.is_empty() {
        return Err(ProofError::Malformed {
            what: "range proof",
            reason: format!(
                "{} commitments and {} padding: not a power of two up to {MAX_AGGREGATED}",
                commitments.len(),
                data.padding.len()
            ),
        });
    }
    Ok(all)
}

/// Verifies [`prove_range`] for `commitments`.
pub fn verify_range(
    ctx: &Context,
    commitments: &[Commitment],
    data: &RangeProofData,
) -> Result<(), ProofError> {
    let all = aggregated(commitments, data)?;
    let proof = RangeProof::from_bytes(&data.proof).map_err(|e| ProofError::Malformed {
        what: "range proof",
        reason: e.to_string(),
    })?;
    let mut t = ctx.transcript(b"range");
    proof
        .verify_multiple(bp(), pc(), &mut t, &all, RANGE_BITS)
        .map_err(|_| ProofError::Invalid { kind: "range" })
}

// ---------------------------------------------------------------------------------------
// Linear relations (equality, sums) as a Schnorr proof over H

/// A Schnorr proof of knowledge of `x` with `D = x·H`: 64 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DlogProof {
    r: CompressedRistretto,
    s: Scalar,
}

impl DlogProof {
    /// 64 bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(self.r.as_bytes());
        out[32..].copy_from_slice(self.s.as_bytes());
        out
    }

    /// Reads 64 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, ProofError> {
        if b.len() != 64 {
            return Err(ProofError::Malformed {
                what: "relation proof",
                reason: format!("{} bytes, expected 64", b.len()),
            });
        }
        let mut s = [0u8; 32];
        s.copy_from_slice(&b[32..]);
        Ok(DlogProof {
            r: CompressedRistretto::from_slice(&b[..32]).map_err(|_| ProofError::Malformed {
                what: "relation proof",
                reason: "bad point".into(),
            })?,
            s: Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).ok_or(
                ProofError::Malformed {
                    what: "relation proof",
                    reason: "non-canonical scalar".into(),
                },
            )?,
        })
    }
}

fn coeff(a: i64) -> Scalar {
    if a >= 0 {
        Scalar::from(a as u64)
    } else {
        -Scalar::from(a.unsigned_abs())
    }
}

/// Proves `Σ aᵢ·vᵢ = 0` for the openings' values (for example `[1, -1]`: equal values;
/// `[1, -1, -1, -1]`: a total equal to the sum of three lines). The verifier learns only
/// that the relation holds.
pub fn prove_linear(
    ctx: &Context,
    coeffs: &[i64],
    openings: &[Opening],
) -> Result<DlogProof, ProofError> {
    if coeffs.len() != openings.len() || coeffs.is_empty() {
        return Err(ProofError::Unprovable(
            "one coefficient per opening is needed".into(),
        ));
    }
    let sum: i128 = coeffs
        .iter()
        .zip(openings)
        .map(|(a, o)| i128::from(*a) * i128::from(o.value))
        .sum();
    if sum != 0 {
        return Err(ProofError::Unprovable(
            "the values do not satisfy the relation".into(),
        ));
    }
    let mut x: Scalar = coeffs
        .iter()
        .zip(openings)
        .map(|(a, o)| coeff(*a) * o.blinding)
        .sum();
    let commitments: Vec<Commitment> = openings.iter().map(Opening::commit).collect();
    let mut t = relation_transcript(ctx, coeffs, &commitments);
    let mut k = Scalar::random(&mut OsRng);
    let r = (k * pc().B_blinding).compress();
    t.append_message(b"R", r.as_bytes());
    let c = challenge(&mut t, b"c");
    let s = k + c * x;
    k.zeroize();
    x.zeroize();
    Ok(DlogProof { r, s })
}

fn relation_transcript(ctx: &Context, coeffs: &[i64], commitments: &[Commitment]) -> Transcript {
    let mut t = ctx.transcript(b"linear");
    for (a, c) in coeffs.iter().zip(commitments) {
        t.append_u64(b"coeff", *a as u64);
        t.append_message(b"C", c.0.as_bytes());
    }
    t
}

/// Verifies [`prove_linear`] for `commitments` (a batch of one: the equation is
/// written once, in [`BatchVerifier::add_linear`]).
pub fn verify_linear(
    ctx: &Context,
    coeffs: &[i64],
    commitments: &[Commitment],
    proof: &DlogProof,
) -> Result<(), ProofError> {
    let mut batch = BatchVerifier::new();
    batch.add_linear(ctx, coeffs, commitments, proof)?;
    batch
        .verify()
        .map_err(|_| ProofError::Invalid { kind: "relation" })
}

/// Proves `a <= b` for two committed values: a range proof on `C_b - C_a`.
pub fn prove_at_most(
    ctx: &Context,
    a: &Opening,
    b: &Opening,
) -> Result<RangeProofData, ProofError> {
    let diff = b
        .value
        .checked_sub(a.value)
        .ok_or_else(|| ProofError::Unprovable("the first value exceeds the second".into()))?;
    let d = Opening {
        value: diff,
        blinding: b.blinding - a.blinding,
    };
    let mut t = ctx.transcript(b"at-most");
    let (proof, _) = RangeProof::prove_single(bp(), pc(), &mut t, d.value, &d.blinding, RANGE_BITS)
        .map_err(|e| ProofError::Unprovable(e.to_string()))?;
    Ok(RangeProofData {
        padding: vec![],
        proof: proof.to_bytes(),
    })
}

/// `C_b - C_a`, the commitment an at-most proof proves in range; neither may be the
/// identity.
pub(crate) fn at_most_difference(
    a: &Commitment,
    b: &Commitment,
) -> Result<CompressedRistretto, ProofError> {
    let (pa, pb) = (a.point("commitment")?, b.point("commitment")?);
    if pa.is_identity() || pb.is_identity() {
        return Err(ProofError::Identity { what: "commitment" });
    }
    Ok((pb - pa).compress())
}

/// Verifies [`prove_at_most`].
pub fn verify_at_most(
    ctx: &Context,
    a: &Commitment,
    b: &Commitment,
    data: &RangeProofData,
) -> Result<(), ProofError> {
    let d = at_most_difference(a, b)?;
    let proof = RangeProof::from_bytes(&data.proof).map_err(|e| ProofError::Malformed {
        what: "at-most proof",
        reason: e.to_string(),
    })?;
    let mut t = ctx.transcript(b"at-most");
    proof
        .verify_single(bp(), pc(), &mut t, &d, RANGE_BITS)
        .map_err(|_| ProofError::Invalid { kind: "at-most" })
}

// ---------------------------------------------------------------------------------------
// Auditor twisted ElGamal

/// An auditor's ElGamal secret `s`. Wiped on drop; kept sealed by the auditor's HSM.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AuditSecret(Scalar);

impl std::fmt::Debug for AuditSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSecret").finish_non_exhaustive()
    }
}

/// An auditor's ElGamal public key `P = s⁻¹·H`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditKey(pub CompressedRistretto);

impl AuditKey {
    /// Checks a proof of possession of the audit key `key` for `context`.
    pub fn verify_possession(
        key: &[u8],
        context: &[u8],
        proof: &[u8],
    ) -> Result<(), ledger_crypto::CryptoError> {
        ledger_crypto::possession::verify(key, &pc().B_blinding, context, proof)
    }

    /// Reads 32 bytes, refusing non-points and the identity.
    pub fn from_bytes(b: &[u8]) -> Result<Self, ProofError> {
        let c = CompressedRistretto::from_slice(b).map_err(|_| ProofError::Malformed {
            what: "audit key",
            reason: format!("{} bytes, expected 32", b.len()),
        })?;
        let p = c.decompress().ok_or(ProofError::Malformed {
            what: "audit key",
            reason: "not a Ristretto point".into(),
        })?;
        if p.is_identity() {
            return Err(ProofError::Identity { what: "audit key" });
        }
        Ok(AuditKey(c))
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

impl AuditSecret {
    /// A fresh secret.
    pub fn generate() -> Self {
        loop {
            let s = Scalar::random(&mut OsRng);
            if s != Scalar::ZERO {
                return AuditSecret(s);
            }
        }
    }

    /// The 32 bytes (to be sealed by the HSM; never stored in clear).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Reads 32 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, ProofError> {
        let arr: [u8; 32] = b.try_into().map_err(|_| ProofError::Malformed {
            what: "audit secret",
            reason: "expected 32 bytes".into(),
        })?;
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(arr)).ok_or(
            ProofError::Malformed {
                what: "audit secret",
                reason: "non-canonical scalar".into(),
            },
        )?;
        if s == Scalar::ZERO {
            return Err(ProofError::Malformed {
                what: "audit secret",
                reason: "zero".into(),
            });
        }
        Ok(AuditSecret(s))
    }

    /// The public key.
    pub fn public(&self) -> AuditKey {
        AuditKey((self.0.invert() * pc().B_blinding).compress())
    }

    /// A proof that the holder knows this key's secret (`s⁻¹` with `P = s⁻¹·H`), bound
    /// to `context` (`ledger_crypto::possession::context`).
    pub fn prove_possession(&self, context: &[u8]) -> [u8; 64] {
        let t = zeroize::Zeroizing::new(self.0.invert());
        ledger_crypto::possession::prove(&t, &pc().B_blinding, context)
    }

    /// `Σ vᵢ` from the commitments and handles of several records (homomorphic), when the
    /// sum is below `2^max_bits` (baby-step giant-step; `max_bits` at most 48).
    pub fn decrypt_sum(
        &self,
        commitments: &[Commitment],
        handles: &[Handle],
        max_bits: u32,
    ) -> Result<u64, ProofError> {
        if commitments.len() != handles.len() {
            return Err(ProofError::Unprovable(
                "one handle per commitment is needed".into(),
            ));
        }
        let mut c = RistrettoPoint::identity();
        let mut d = RistrettoPoint::identity();
        for (ci, hi) in commitments.iter().zip(handles) {
            c += ci.point("commitment")?;
            d += hi.0.decompress().ok_or(ProofError::Malformed {
                what: "handle",
                reason: "not a point".into(),
            })?;
        }
        let target = c - self.0 * d;
        bounded_dlog(&target, max_bits.min(48))
            .ok_or_else(|| ProofError::Unprovable(format!("the sum is not below 2^{max_bits}")))
    }
}

/// A decryption handle `D = r·P` of a commitment under an auditor key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle(pub CompressedRistretto);

impl Handle {
    /// The handle in 32 bytes (checked to be a point when used).
    pub fn from_bytes(b: &[u8; 32]) -> Self {
        Handle(CompressedRistretto(*b))
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

/// A proof that a handle and a commitment share the blinding `r` (and so decrypt to the
/// committed value): 96 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandleProof {
    y0: CompressedRistretto,
    y1: CompressedRistretto,
    zv: Scalar,
    zr: Scalar,
}

impl HandleProof {
    /// 128 bytes.
    pub fn to_bytes(&self) -> [u8; 128] {
        let mut out = [0u8; 128];
        out[..32].copy_from_slice(self.y0.as_bytes());
        out[32..64].copy_from_slice(self.y1.as_bytes());
        out[64..96].copy_from_slice(self.zv.as_bytes());
        out[96..].copy_from_slice(self.zr.as_bytes());
        out
    }

    /// Reads 128 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, ProofError> {
        let bad = |r: &str| ProofError::Malformed {
            what: "handle proof",
            reason: r.into(),
        };
        if b.len() != 128 {
            return Err(bad("expected 128 bytes"));
        }
        let scalar = |x: &[u8]| {
            let mut a = [0u8; 32];
            a.copy_from_slice(x);
            Option::<Scalar>::from(Scalar::from_canonical_bytes(a))
                .ok_or_else(|| bad("non-canonical scalar"))
        };
        Ok(HandleProof {
            y0: CompressedRistretto::from_slice(&b[..32]).map_err(|_| bad("bad point"))?,
            y1: CompressedRistretto::from_slice(&b[32..64]).map_err(|_| bad("bad point"))?,
            zv: scalar(&b[64..96])?,
            zr: scalar(&b[96..])?,
        })
    }
}

fn handle_transcript(ctx: &Context, c: &Commitment, key: &AuditKey, d: &Handle) -> Transcript {
    let mut t = ctx.transcript(b"audit-handle");
    t.append_message(b"C", c.0.as_bytes());
    t.append_message(b"P", key.0.as_bytes());
    t.append_message(b"D", d.0.as_bytes());
    t
}

/// The handle of `opening`'s commitment under `key`, with its proof.
pub fn audit_handle(
    ctx: &Context,
    opening: &Opening,
    key: &AuditKey,
) -> Result<(Handle, HandleProof), ProofError> {
    let p = key.0.decompress().ok_or(ProofError::Malformed {
        what: "audit key",
        reason: "not a point".into(),
    })?;
    if p.is_identity() {
        return Err(ProofError::Identity { what: "audit key" });
    }
    let d = Handle((opening.blinding * p).compress());
    let c = opening.commit();
    let mut t = handle_transcript(ctx, &c, key, &d);
    let (mut yv, mut yr) = (Scalar::random(&mut OsRng), Scalar::random(&mut OsRng));
    let y0 = RistrettoPoint::multiscalar_mul([yv, yr], [pc().B, pc().B_blinding]).compress();
    let y1 = (yr * p).compress();
    t.append_message(b"Y0", y0.as_bytes());
    t.append_message(b"Y1", y1.as_bytes());
    let ch = challenge(&mut t, b"c");
    let proof = HandleProof {
        y0,
        y1,
        zv: yv + ch * Scalar::from(opening.value),
        zr: yr + ch * opening.blinding,
    };
    yv.zeroize();
    yr.zeroize();
    Ok((d, proof))
}

/// Verifies [`audit_handle`]'s proof (a batch of one: the equations are written once, in
/// [`BatchVerifier::add_audit_handle`]).
pub fn verify_audit_handle(
    ctx: &Context,
    c: &Commitment,
    key: &AuditKey,
    d: &Handle,
    proof: &HandleProof,
) -> Result<(), ProofError> {
    let mut batch = BatchVerifier::new();
    batch.add_audit_handle(ctx, c, key, d, proof)?;
    batch.verify().map_err(|_| ProofError::Invalid {
        kind: "audit handle",
    })
}

/// `v` with `v·G = target` and `v < 2^bits`, by baby-step giant-step.
fn bounded_dlog(target: &RistrettoPoint, bits: u32) -> Option<u64> {
    let m: u64 = 1 << bits.div_ceil(2);
    let g = pc().B;
    let mut table = HashMap::with_capacity(m as usize);
    let mut p = RistrettoPoint::identity();
    for j in 0..m {
        table.insert(p.compress().to_bytes(), j);
        p += g;
    }
    let giant = Scalar::from(m) * g;
    let mut y = *target;
    for i in 0..m {
        if let Some(j) = table.get(&y.compress().to_bytes()) {
            let v = i.checked_mul(m)?.checked_add(*j)?;
            return (v < (1u64 << bits.min(63)) || bits >= 64).then_some(v);
        }
        y -= giant;
    }
    None
}

#[cfg(test)]
mod tests;

/// The design note behind this crate, `docs/proofs.md`: what is proved or guaranteed, and
/// why it holds (read it with `cargo doc --document-private-items`).
#[doc = include_str!("../../../docs/proofs.md")]
mod notes {}
