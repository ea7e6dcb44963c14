//! A multi-party Groth16 setup (a "ceremony"): the circuit keys come from secrets that
//! several organisations contribute one after another, and they are sound if any one
//! contributor destroyed its secret. The construction is the one of the Zcash Sapling
//! ceremony (Bowe, Gabizon and Miers, "Scalable multi-party computation for zk-SNARK
//! parameters in the random beacon model", 2017), in two phases:
//!
//! 1. **Powers of tau**, for every circuit at once: `[τ^k]₁` (k < 2n−1), `[τ^k]₂`,
//!    `[ατ^k]₁`, `[βτ^k]₁` (k < n) and `[β]₂`, for a domain of size n as large as the
//!    largest circuit needs. A contribution multiplies τ, α and β by its own secrets.
//! 2. **Per circuit**: the powers are turned into the circuit's Groth16 keys with δ = γ = 1
//!    (a deterministic computation anyone repeats: Lagrange basis by an inverse FFT in
//!    the groups, then the R1CS matrices of arkworks' QAP reduction); a contribution
//!    multiplies δ by its secret d and divides the H and L queries by d.
//!
//! Every contribution carries, for each secret x, `[x]₁`, `[x]₂` and a Schnorr proof of
//! knowledge of x bound to the contributor and to the hash of the state it updated, so a
//! contributor cannot cancel the others' secrets with one of its own choosing. Checking a
//! contribution needs only the state before and after it: pairing equations tie each
//! updated element to `[x]₂`, and random linear combinations check that the whole new
//! state is well formed (the powers are powers of one τ; H and L moved by the same d).

use std::fmt;

use ark_bn254::{Bn254, Fr as F, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::pairing::Pairing;
use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup, VariableBaseMSM};
use ark_ff::{Field, One, PrimeField, UniformRand, Zero};
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
use ark_relations::gr1cs::{
    ConstraintSystem, ConstraintSystemRef, OptimizationGoal, SynthesisMode, R1CS_PREDICATE_LABEL,
};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;
use sha2::{Digest, Sha256, Sha512};
use thiserror::Error;
use zeroize::Zeroize;

use crate::keys::{shape_circuit, ProvingKey, VerifyingKey};
use crate::CircuitId;

/// Why a ceremony step is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CeremonyError {
    /// A contribution does not verify against the state it claims to update.
    #[error("contribution {index} by {who} ({phase}) does not verify: {reason}")]
    BadContribution {
        /// Its position (1 is the first).
        index: usize,
        /// The contributor it names.
        who: String,
        /// Which phase (and circuit).
        phase: String,
        /// What fails.
        reason: String,
    },
    /// Bytes that do not read as what they claim to be.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// What was read.
        what: String,
        /// Why.
        reason: String,
    },
    /// The circuit does not fit the powers, or arkworks failed.
    #[error("{0}")]
    Setup(String),
}

fn malformed(what: &str, e: impl fmt::Display) -> CeremonyError {
    CeremonyError::Malformed {
        what: what.into(),
        reason: e.to_string(),
    }
}

/// The evaluation domain size a circuit's keys need (arkworks' QAP reduction: constraints
/// plus instance variables, rounded up to a power of two).
pub fn domain_size(id: CircuitId) -> Result<usize, CeremonyError> {
    let cs = synthesize(id)?;
    let n = cs.num_constraints() + cs.num_instance_variables();
    GeneralEvaluationDomain::<F>::new(n)
        .map(|d| d.size())
        .ok_or_else(|| CeremonyError::Setup(format!("circuit {} is too large", id.name())))
}

fn synthesize(id: CircuitId) -> Result<ConstraintSystemRef<F>, CeremonyError> {
    let cs = ConstraintSystem::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Setup);
    shape_circuit(id, cs.clone()).map_err(|e| CeremonyError::Setup(e.to_string()))?;
    cs.finalize();
    Ok(cs)
}

/// The proof that a contributor knows a secret x: `[x]₁`, `[x]₂` and a Schnorr proof of
/// knowledge of x for `[x]₁`, bound to the contributor, the secret's role and the hash of
/// the state it updated.
#[derive(Clone, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct SecretProof {
    x_g1: G1Affine,
    x_g2: G2Affine,
    r: G1Affine,
    s: F,
}

fn challenge(who: &str, role: &str, previous: &[u8; 32], x_g1: &G1Affine, r: &G1Affine) -> F {
    let mut h = Sha512::new();
    h.update(b"cl/ceremony-pok/v1\0");
    for part in [who.as_bytes(), role.as_bytes(), previous.as_slice()] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part);
    }
    let mut points = Vec::new();
    // Serialising a valid point into a Vec cannot fail.
    let _ = x_g1.serialize_uncompressed(&mut points);
    let _ = r.serialize_uncompressed(&mut points);
    h.update(&points);
    F::from_le_bytes_mod_order(&h.finalize())
}

impl SecretProof {
    fn new<R: RngCore + CryptoRng>(
        x: &F,
        who: &str,
        role: &str,
        previous: &[u8; 32],
        rng: &mut R,
    ) -> Self {
        let g1 = G1Projective::generator();
        let x_g1 = (g1 * x).into_affine();
        let mut k = F::rand(rng);
        let r = (g1 * k).into_affine();
        let c = challenge(who, role, previous, &x_g1, &r);
        let proof = SecretProof {
            x_g1,
            x_g2: (G2Projective::generator() * x).into_affine(),
            r,
            s: k + c * x,
        };
        k.zeroize();
        proof
    }

    /// Checks the proof of knowledge and that `[x]₁` and `[x]₂` hold the same x ≠ 0.
    fn verify(&self, who: &str, role: &str, previous: &[u8; 32]) -> Result<(), String> {
        if self.x_g1.is_zero() || self.x_g2.is_zero() {
            return Err(format!("the {role} secret is zero"));
        }
        let c = challenge(who, role, previous, &self.x_g1, &self.r);
        if G1Projective::generator() * self.s != self.r.into_group() + self.x_g1 * c {
            return Err(format!(
                "the proof of knowledge of the {role} secret does not verify (for this contributor and this previous state)"
            ));
        }
        if !same_ratio(
            (self.x_g1, G1Affine::generator()),
            (G2Affine::generator(), self.x_g2),
        ) {
            return Err(format!("[x]₁ and [x]₂ of the {role} secret differ"));
        }
        Ok(())
    }
}

/// `e(a.0, b.0) == e(a.1, b.1)`: a.0/a.1 and b.1/b.0 have the same discrete logarithm.
fn same_ratio(a: (G1Affine, G1Affine), b: (G2Affine, G2Affine)) -> bool {
    let lhs = Bn254::multi_pairing([a.0, -a.1], [b.0, b.1]);
    lhs.is_zero()
}

fn random_scalars(n: usize) -> Vec<F> {
    (0..n)
        .map(|_| F::from(u128::from_le_bytes(rand::random::<[u8; 16]>())))
        .collect()
}

fn msm1(points: &[G1Affine], scalars: &[F]) -> G1Affine {
    G1Projective::msm_unchecked(points, scalars).into_affine()
}

fn msm2(points: &[G2Affine], scalars: &[F]) -> G2Affine {
    G2Projective::msm_unchecked(points, scalars).into_affine()
}

macro_rules! scaling {
    ($powers:ident, $all:ident, $affine:ty, $projective:ty) => {
        /// Multiplies point k by `first · step^k`.
        fn $powers(points: &mut [$affine], first: F, step: F) {
            const CHUNK: usize = 1024;
            points
                .par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(|(c, chunk)| {
                    let mut m = first * step.pow([(c * CHUNK) as u64]);
                    let projective: Vec<$projective> = chunk
                        .iter()
                        .map(|p| {
                            let q = *p * m;
                            m *= step;
                            q
                        })
                        .collect();
                    chunk.copy_from_slice(&<$projective>::normalize_batch(&projective));
                });
        }

        /// Multiplies every point by `by`.
        #[allow(dead_code)]
        fn $all(points: &mut [$affine], by: F) {
            points.par_chunks_mut(1024).for_each(|chunk| {
                let projective: Vec<$projective> = chunk.iter().map(|p| *p * by).collect();
                chunk.copy_from_slice(&<$projective>::normalize_batch(&projective));
            });
        }
    };
}

scaling!(scale_powers_g1, scale_all_g1, G1Affine, G1Projective);
scaling!(scale_powers_g2, scale_all_g2, G2Affine, G2Projective);

fn g1_mul(p: &G1Projective, s: &F) -> G1Projective {
    *p * s
}

fn g2_mul(p: &G2Projective, s: &F) -> G2Projective {
    // arkworks multiplies G2 points by double-and-add; its GLV endomorphism is three times
    // faster.
    <ark_bn254::g2::Config as GLVConfig>::glv_mul_projective(*p, *s)
}

/// The inverse FFT over a radix-2 domain (generator inverse `omega_inv`) of group elements:
/// out_j = (1/n) Σ_k ω^-jk v_k. Iterative Cooley-Tukey; each level's butterflies on every
/// core.
fn ifft<P, A>(values: &[A], omega_inv: F, mul: fn(&P, &F) -> P) -> Vec<P>
where
    A: AffineRepr<Group = P> + Sync,
    P: CurveGroup<Affine = A> + Send + Sync,
{
    let n = values.len();
    let log_n = n.trailing_zeros();
    let mut a: Vec<P> = (0..n)
        .map(|i| values[i.reverse_bits() >> (usize::BITS - log_n)].into_group())
        .collect();
    let mut len = 2;
    while len <= n {
        let w_len = omega_inv.pow([(n / len) as u64]);
        let half = len / 2;
        let twiddles: Vec<F> = std::iter::successors(Some(F::one()), |w| Some(*w * w_len))
            .take(half)
            .collect();
        a.par_chunks_mut(len).for_each(|chunk| {
            let (lo, hi) = chunk.split_at_mut(half);
            for k in 0..half {
                let t = if k == 0 {
                    hi[k]
                } else {
                    mul(&hi[k], &twiddles[k])
                };
                hi[k] = lo[k] - t;
                lo[k] += t;
            }
        });
        len *= 2;
    }
    let n_inv = F::from(n as u64).inverse().unwrap_or_default();
    a.par_iter_mut().for_each(|x| *x = mul(x, &n_inv));
    a
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"cl/ceremony-state/v1\0")
        .chain_update(bytes)
        .finalize()
        .into()
}

/// The phase-1 state: powers of a secret τ, α and β for a domain of size `n`.
#[derive(Clone, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct Powers {
    tau_g1: Vec<G1Affine>,
    tau_g2: Vec<G2Affine>,
    alpha_tau_g1: Vec<G1Affine>,
    beta_tau_g1: Vec<G1Affine>,
    beta_g2: G2Affine,
}

/// One phase-1 contribution: who made it and the proofs of its three secrets.
#[derive(Clone, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct PowersUpdate {
    /// The contributor (an organisation id).
    pub who: String,
    tau: SecretProof,
    alpha: SecretProof,
    beta: SecretProof,
}

impl Powers {
    /// The starting state (τ = α = β = 1) for a domain of size `n` (a power of two).
    pub fn initial(n: usize) -> Self {
        let g1 = G1Affine::generator();
        let g2 = G2Affine::generator();
        Powers {
            tau_g1: vec![g1; 2 * n - 1],
            tau_g2: vec![g2; n],
            alpha_tau_g1: vec![g1; n],
            beta_tau_g1: vec![g1; n],
            beta_g2: g2,
        }
    }

    /// The domain size these powers serve.
    pub fn domain(&self) -> usize {
        self.tau_g2.len()
    }

    /// Canonical bytes (uncompressed points).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Serialising valid points into a Vec cannot fail.
        let _ = self.serialize_uncompressed(&mut out);
        out
    }

    /// Reads [`Powers::to_bytes`], checking every point (on the curve, in the subgroup).
    pub fn from_bytes(b: &[u8]) -> Result<Self, CeremonyError> {
        let p = Powers::deserialize_uncompressed(b).map_err(|e| malformed("powers of tau", e))?;
        let n = p.tau_g2.len();
        if !n.is_power_of_two()
            || p.tau_g1.len() != 2 * n - 1
            || p.alpha_tau_g1.len() != n
            || p.beta_tau_g1.len() != n
        {
            return Err(malformed("powers of tau", "inconsistent lengths"));
        }
        Ok(p)
    }

    /// The hash contributions are bound to.
    pub fn hash(&self) -> [u8; 32] {
        digest(&self.to_bytes())
    }

    /// This state with `who`'s fresh secrets (drawn from `rng` and dropped on return).
    pub fn contribute<R: RngCore + CryptoRng>(
        &self,
        who: &str,
        rng: &mut R,
    ) -> (Self, PowersUpdate) {
        let previous = self.hash();
        let (t, a, b) = (F::rand(rng), F::rand(rng), F::rand(rng));
        let update = PowersUpdate {
            who: who.into(),
            tau: SecretProof::new(&t, who, "tau", &previous, rng),
            alpha: SecretProof::new(&a, who, "alpha", &previous, rng),
            beta: SecretProof::new(&b, who, "beta", &previous, rng),
        };
        let mut next = self.clone();
        scale_powers_g1(&mut next.tau_g1, F::one(), t);
        scale_powers_g2(&mut next.tau_g2, F::one(), t);
        scale_powers_g1(&mut next.alpha_tau_g1, a, t);
        scale_powers_g1(&mut next.beta_tau_g1, b, t);
        next.beta_g2 = (next.beta_g2 * b).into_affine();
        // The secrets ("toxic waste") die here.
        for mut x in [t, a, b] {
            x.zeroize();
        }
        (next, update)
    }

    /// Checks that `next` is this state updated by `update`'s secrets, and well formed.
    pub fn verify_update(&self, next: &Powers, update: &PowersUpdate) -> Result<(), String> {
        if next.domain() != self.domain() {
            return Err("the domain size changed".into());
        }
        let previous = self.hash();
        update.tau.verify(&update.who, "tau", &previous)?;
        update.alpha.verify(&update.who, "alpha", &previous)?;
        update.beta.verify(&update.who, "beta", &previous)?;
        let g2 = G2Affine::generator();
        for (what, old, new, x) in [
            ("τ", self.tau_g1[1], next.tau_g1[1], &update.tau),
            (
                "α",
                self.alpha_tau_g1[0],
                next.alpha_tau_g1[0],
                &update.alpha,
            ),
            ("β", self.beta_tau_g1[0], next.beta_tau_g1[0], &update.beta),
        ] {
            if !same_ratio((new, old), (g2, x.x_g2)) {
                return Err(format!(
                    "the new {what} is not the old one times the proven secret"
                ));
            }
        }
        next.check_well_formed()
    }

    /// The powers are powers of one τ, α and β multiply them, `[β]₂` matches `[β]₁`.
    pub fn check_well_formed(&self) -> Result<(), String> {
        let (g1, g2) = (G1Affine::generator(), G2Affine::generator());
        if self.tau_g1[0] != g1 || self.tau_g2[0] != g2 {
            return Err("the first powers are not the generators".into());
        }
        if self.tau_g1[1].is_zero() || self.alpha_tau_g1[0].is_zero() || self.beta_g2.is_zero() {
            return Err("a secret is zero".into());
        }
        let n = self.domain();
        let tau_2 = self.tau_g2[1];
        // [τ^(k+1)]₁ = τ·[τ^k]₁ for every k, at once.
        let r = random_scalars(self.tau_g1.len() - 1);
        let lo = msm1(&self.tau_g1[..self.tau_g1.len() - 1], &r);
        let hi = msm1(&self.tau_g1[1..], &r);
        if !same_ratio((hi, lo), (g2, tau_2)) {
            return Err("the G1 powers of tau are not consecutive powers".into());
        }
        let r = random_scalars(n - 1);
        let lo2 = msm2(&self.tau_g2[..n - 1], &r);
        let hi2 = msm2(&self.tau_g2[1..], &r);
        if !same_ratio((self.tau_g1[1], g1), (lo2, hi2)) {
            return Err("the G2 powers of tau are not the G1 ones".into());
        }
        let r = random_scalars(n);
        let powers2 = msm2(&self.tau_g2, &r);
        for (what, v) in [("α", &self.alpha_tau_g1), ("β", &self.beta_tau_g1)] {
            if !same_ratio((msm1(v, &r), v[0]), (g2, powers2)) {
                return Err(format!(
                    "the {what}·τ^k are not {what} times the powers of tau"
                ));
            }
        }
        if !same_ratio((self.beta_tau_g1[0], g1), (g2, self.beta_g2)) {
            return Err("[β]₂ does not match [β]₁".into());
        }
        Ok(())
    }

    /// Turns the powers into the Groth16 keys of circuit `id` with δ = γ = 1: the start of
    /// its phase 2. Deterministic: anyone recomputes it from the final powers.
    pub fn circuit_keys(&self, id: CircuitId) -> Result<CircuitState, CeremonyError> {
        let cs = synthesize(id)?;
        let num_constraints = cs.num_constraints();
        let num_instance = cs.num_instance_variables();
        let num_vars = num_instance + cs.num_witness_variables();
        let domain = GeneralEvaluationDomain::<F>::new(num_constraints + num_instance)
            .ok_or_else(|| CeremonyError::Setup(format!("circuit {} is too large", id.name())))?;
        let n = domain.size();
        if n > self.domain() {
            return Err(CeremonyError::Setup(format!(
                "circuit {} needs a domain of {n}; these powers serve {}",
                id.name(),
                self.domain()
            )));
        }
        let matrices = cs
            .to_matrices()
            .map_err(|e| CeremonyError::Setup(e.to_string()))?;
        let m = matrices
            .get(R1CS_PREDICATE_LABEL)
            .ok_or_else(|| CeremonyError::Setup("no R1CS matrices".into()))?;
        // The Lagrange basis of the domain at τ, in the groups: L_j(τ) = (1/n)Σ_k ω^-jk τ^k.
        let omega_inv = domain.group_gen_inv();
        let l_tau = G1Projective::normalize_batch(&ifft(&self.tau_g1[..n], omega_inv, g1_mul));
        let l_alpha =
            G1Projective::normalize_batch(&ifft(&self.alpha_tau_g1[..n], omega_inv, g1_mul));
        let l_beta =
            G1Projective::normalize_batch(&ifft(&self.beta_tau_g1[..n], omega_inv, g1_mul));
        let l_tau2 = G2Projective::normalize_batch(&ifft(&self.tau_g2[..n], omega_inv, g2_mul));
        // u_i, v_i, w_i of every variable (arkworks' LibsnarkReduction): row j of the A, B
        // and C matrices adds coefficient·L_j; instance variable i also gets L_(rows+i).
        // Column by column, each a small multi-scalar multiplication, on every core.
        let columns = |k: usize| {
            let mut cols: Vec<(Vec<usize>, Vec<F>)> = vec![(Vec::new(), Vec::new()); num_vars];
            for (j, row) in m[k].iter().enumerate().take(num_constraints) {
                for (c, v) in row {
                    cols[*v].0.push(j);
                    cols[*v].1.push(*c);
                }
            }
            cols
        };
        let (ca, cb, cc) = (columns(0), columns(1), columns(2));
        let pick1 = |basis: &[G1Affine], col: &(Vec<usize>, Vec<F>)| -> G1Projective {
            let points: Vec<G1Affine> = col.0.iter().map(|j| basis[*j]).collect();
            G1Projective::msm_unchecked(&points, &col.1)
        };
        let pick2 = |basis: &[G2Affine], col: &(Vec<usize>, Vec<F>)| -> G2Projective {
            let points: Vec<G2Affine> = col.0.iter().map(|j| basis[*j]).collect();
            G2Projective::msm_unchecked(&points, &col.1)
        };
        type Column = (G1Projective, G1Projective, G2Projective, G1Projective);
        // arkworks' multi-scalar multiplication is itself parallel: nested in this loop, its
        // work stealing needs deeper stacks than rayon's default 2 MiB.
        let pool = rayon::ThreadPoolBuilder::new()
            .stack_size(64 << 20)
            .build()
            .map_err(|e| CeremonyError::Setup(e.to_string()))?;
        let per_var: Vec<Column> = pool.install(|| {
            (0..num_vars)
                .into_par_iter()
                .map(|v| {
                    let mut a = pick1(&l_tau, &ca[v]);
                    let b1 = pick1(&l_tau, &cb[v]);
                    let b2 = pick2(&l_tau2, &cb[v]);
                    let mut abc =
                        pick1(&l_beta, &ca[v]) + pick1(&l_alpha, &cb[v]) + pick1(&l_tau, &cc[v]);
                    if v < num_instance {
                        a += l_tau[num_constraints + v];
                        abc += l_beta[num_constraints + v];
                    }
                    (a, b1, b2, abc)
                })
                .collect()
        });
        let a: Vec<G1Projective> = per_var.iter().map(|c| c.0).collect();
        let b1: Vec<G1Projective> = per_var.iter().map(|c| c.1).collect();
        let b2: Vec<G2Projective> = per_var.iter().map(|c| c.2).collect();
        let abc: Vec<G1Projective> = per_var.iter().map(|c| c.3).collect();
        // H: [τ^i·t(τ)]₁ = [τ^(n+i)]₁ − [τ^i]₁ for i < n − 1.
        let h: Vec<G1Projective> = (0..n - 1)
            .map(|i| self.tau_g1[n + i].into_group() - self.tau_g1[i])
            .collect();
        let g1 = G1Affine::generator();
        let g2 = G2Affine::generator();
        let vk = ark_groth16::VerifyingKey::<Bn254> {
            alpha_g1: self.alpha_tau_g1[0],
            beta_g2: self.beta_g2,
            gamma_g2: g2,
            delta_g2: g2,
            gamma_abc_g1: G1Projective::normalize_batch(&abc[..num_instance]),
        };
        let pk = ark_groth16::ProvingKey::<Bn254> {
            vk,
            beta_g1: self.beta_tau_g1[0],
            delta_g1: g1,
            a_query: G1Projective::normalize_batch(&a),
            b_g1_query: G1Projective::normalize_batch(&b1),
            b_g2_query: G2Projective::normalize_batch(&b2),
            h_query: G1Projective::normalize_batch(&h),
            l_query: G1Projective::normalize_batch(&abc[num_instance..]),
        };
        Ok(CircuitState { id, pk })
    }
}

impl Powers {
    /// Checks that `state` is circuit `id`'s keys from these powers with δ = γ = 1 (what
    /// [`Powers::circuit_keys`] computes), without recomputing them: each query against
    /// the powers under one random linear combination of the variables, whose Lagrange
    /// coefficients an inverse FFT in the field turns into coefficients of the powers.
    /// A wrong key passes with probability about 2^-128.
    pub fn check_circuit_keys(&self, state: &CircuitState) -> Result<(), String> {
        let cs = synthesize(state.id).map_err(|e| e.to_string())?;
        let nc = cs.num_constraints();
        let num_instance = cs.num_instance_variables();
        let num_vars = num_instance + cs.num_witness_variables();
        let domain = GeneralEvaluationDomain::<F>::new(nc + num_instance)
            .ok_or_else(|| "the circuit is too large".to_string())?;
        let n = domain.size();
        if n > self.domain() {
            return Err(format!(
                "the circuit needs a domain of {n}; the powers serve {}",
                self.domain()
            ));
        }
        let pk = &state.pk;
        let (g1, g2) = (G1Affine::generator(), G2Affine::generator());
        if pk.vk.alpha_g1 != self.alpha_tau_g1[0]
            || pk.beta_g1 != self.beta_tau_g1[0]
            || pk.vk.beta_g2 != self.beta_g2
            || pk.vk.gamma_g2 != g2
            || pk.vk.delta_g2 != g2
            || pk.delta_g1 != g1
        {
            return Err("α, β, γ or δ is not the powers' (γ = δ = 1)".into());
        }
        if pk.a_query.len() != num_vars
            || pk.b_g1_query.len() != num_vars
            || pk.b_g2_query.len() != num_vars
            || pk.vk.gamma_abc_g1.len() != num_instance
            || pk.l_query.len() != num_vars - num_instance
            || pk.h_query.len() != n - 1
        {
            return Err("a query has the wrong length for this circuit".into());
        }
        let h_ok = (0..n - 1).into_par_iter().all(|i| {
            pk.h_query[i].into_group() == self.tau_g1[n + i].into_group() - self.tau_g1[i]
        });
        if !h_ok {
            return Err("the H query is not τ^i·t(τ)".into());
        }
        let matrices = cs.to_matrices().map_err(|e| e.to_string())?;
        let m = matrices
            .get(R1CS_PREDICATE_LABEL)
            .ok_or_else(|| "no R1CS matrices".to_string())?;
        let r = random_scalars(num_vars);
        let combine = |k: usize, instance: bool| {
            let mut s = vec![F::zero(); n];
            for (j, row) in m[k].iter().enumerate().take(nc) {
                for (c, v) in row {
                    s[j] += r[*v] * c;
                }
            }
            if instance {
                for v in 0..num_instance {
                    s[nc + v] += r[v];
                }
            }
            domain.ifft_in_place(&mut s);
            s
        };
        let (sa, sb, sc) = (combine(0, true), combine(1, false), combine(2, false));
        let t1 = &self.tau_g1[..n];
        if msm1(&pk.a_query, &r) != msm1(t1, &sa) {
            return Err("the A query is not the circuit's".into());
        }
        if msm1(&pk.b_g1_query, &r) != msm1(t1, &sb) {
            return Err("the B query (G1) is not the circuit's".into());
        }
        if msm2(&pk.b_g2_query, &r) != msm2(&self.tau_g2[..n], &sb) {
            return Err("the B query (G2) is not the circuit's".into());
        }
        let abc: Vec<G1Affine> = pk
            .vk
            .gamma_abc_g1
            .iter()
            .chain(&pk.l_query)
            .copied()
            .collect();
        let expected = msm1(&self.beta_tau_g1[..n], &sa).into_group()
            + msm1(&self.alpha_tau_g1[..n], &sb)
            + msm1(t1, &sc);
        if msm1(&abc, &r).into_group() != expected {
            return Err("the input or L query is not the circuit's".into());
        }
        Ok(())
    }
}

/// A circuit's phase-2 state: its Groth16 keys with the δ of the contributions so far.
#[derive(Clone)]
pub struct CircuitState {
    id: CircuitId,
    pk: ark_groth16::ProvingKey<Bn254>,
}

/// One phase-2 contribution: who made it and the proof of its secret d.
#[derive(Clone, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct DeltaUpdate {
    /// The contributor (an organisation id).
    pub who: String,
    delta: SecretProof,
}

impl CircuitState {
    /// Its circuit.
    pub fn id(&self) -> CircuitId {
        self.id
    }

    /// Canonical bytes (uncompressed points).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Serialising valid points into a Vec cannot fail.
        let _ = self.pk.serialize_uncompressed(&mut out);
        out
    }

    /// Reads [`CircuitState::to_bytes`], checking every point.
    pub fn from_bytes(id: CircuitId, b: &[u8]) -> Result<Self, CeremonyError> {
        let pk = ark_groth16::ProvingKey::<Bn254>::deserialize_uncompressed(b)
            .map_err(|e| malformed(&format!("{} keys", id.name()), e))?;
        Ok(CircuitState { id, pk })
    }

    /// The hash contributions are bound to.
    pub fn hash(&self) -> [u8; 32] {
        digest(&self.to_bytes())
    }

    /// This state with `who`'s fresh secret d (δ·d; H and L divided by d).
    pub fn contribute<R: RngCore + CryptoRng>(
        &self,
        who: &str,
        rng: &mut R,
    ) -> (Self, DeltaUpdate) {
        let previous = self.hash();
        let d = loop {
            let d = F::rand(rng);
            if !d.is_zero() {
                break d;
            }
        };
        let update = DeltaUpdate {
            who: who.into(),
            delta: SecretProof::new(&d, who, self.id.name(), &previous, rng),
        };
        let mut inverse = d.inverse().unwrap_or_default();
        let mut next = self.clone();
        next.pk.delta_g1 = (next.pk.delta_g1 * d).into_affine();
        next.pk.vk.delta_g2 = (next.pk.vk.delta_g2 * d).into_affine();
        scale_all_g1(&mut next.pk.h_query, inverse);
        scale_all_g1(&mut next.pk.l_query, inverse);
        let mut d = d;
        d.zeroize();
        inverse.zeroize();
        (next, update)
    }

    /// Checks that `next` is this state with δ multiplied, and H and L divided, by
    /// `update`'s secret, and nothing else changed.
    pub fn verify_update(&self, next: &CircuitState, update: &DeltaUpdate) -> Result<(), String> {
        let previous = self.hash();
        update
            .delta
            .verify(&update.who, self.id.name(), &previous)?;
        let (p, q) = (&self.pk, &next.pk);
        if p.vk.alpha_g1 != q.vk.alpha_g1
            || p.vk.beta_g2 != q.vk.beta_g2
            || p.vk.gamma_g2 != q.vk.gamma_g2
            || p.vk.gamma_abc_g1 != q.vk.gamma_abc_g1
            || p.beta_g1 != q.beta_g1
            || p.a_query != q.a_query
            || p.b_g1_query != q.b_g1_query
            || p.b_g2_query != q.b_g2_query
        {
            return Err("it changed keys other than δ, H and L".into());
        }
        if p.h_query.len() != q.h_query.len() || p.l_query.len() != q.l_query.len() {
            return Err("the H or L query changed length".into());
        }
        let g2 = G2Affine::generator();
        if !same_ratio((q.delta_g1, p.delta_g1), (g2, update.delta.x_g2)) {
            return Err("the new δ is not the old one times the proven secret".into());
        }
        if !same_ratio((q.delta_g1, G1Affine::generator()), (g2, q.vk.delta_g2)) {
            return Err("[δ]₂ does not match [δ]₁".into());
        }
        for (what, old, new) in [("H", &p.h_query, &q.h_query), ("L", &p.l_query, &q.l_query)] {
            let r = random_scalars(old.len());
            if !same_ratio(
                (msm1(new, &r), msm1(old, &r)),
                (q.vk.delta_g2, p.vk.delta_g2),
            ) {
                return Err(format!(
                    "the {what} query was not divided by the proven secret"
                ));
            }
        }
        Ok(())
    }

    /// The keys (to prove with, and the verifying key genesis pins).
    pub fn keys(&self) -> Result<(ProvingKey, VerifyingKey), crate::CircuitError> {
        let pk = ProvingKey::from_ark(self.id, self.pk.clone());
        let vk = pk.verifying_key()?;
        Ok((pk, vk))
    }
}

/// Canonical bytes of an update (either phase).
pub fn update_bytes<T: CanonicalSerialize>(u: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = u.serialize_compressed(&mut out);
    out
}

/// Reads an update (either phase), checking its points.
pub fn update_from_bytes<T: CanonicalDeserialize>(b: &[u8]) -> Result<T, CeremonyError> {
    T::deserialize_compressed(b).map_err(|e| malformed("contribution", e))
}

/// Checks a whole phase 1: `states[0]` is the initial state of its domain and each
/// `states[i]` is `states[i - 1]` updated by `updates[i - 1]`; names the first contribution
/// that does not verify.
pub fn verify_powers(states: &[Powers], updates: &[PowersUpdate]) -> Result<(), CeremonyError> {
    let Some(first) = states.first() else {
        return Err(CeremonyError::Setup("no powers of tau".into()));
    };
    if states.len() != updates.len() + 1 {
        return Err(CeremonyError::Setup(format!(
            "{} states for {} contributions",
            states.len(),
            updates.len()
        )));
    }
    if *first != Powers::initial(first.domain()) {
        return Err(CeremonyError::Setup(
            "the first powers of tau are not the initial state".into(),
        ));
    }
    for (i, u) in updates.iter().enumerate() {
        states[i]
            .verify_update(&states[i + 1], u)
            .map_err(|reason| CeremonyError::BadContribution {
                index: i + 1,
                who: u.who.clone(),
                phase: "phase 1, powers of tau".into(),
                reason,
            })?;
    }
    Ok(())
}

/// Checks a circuit's phase 2: `states[0]` is the circuit's keys from `powers` (the final
/// phase-1 state) and each `states[i]` is `states[i - 1]` updated by `updates[i - 1]`;
/// names the first contribution that does not verify.
pub fn verify_circuit(
    powers: &Powers,
    id: CircuitId,
    states: &[CircuitState],
    updates: &[DeltaUpdate],
) -> Result<(), CeremonyError> {
    let Some(first) = states.first() else {
        return Err(CeremonyError::Setup(format!("no keys for {}", id.name())));
    };
    if states.len() != updates.len() + 1 {
        return Err(CeremonyError::Setup(format!(
            "{}: {} states for {} contributions",
            id.name(),
            states.len(),
            updates.len()
        )));
    }
    if first.id != id {
        return Err(CeremonyError::Setup(format!(
            "keys of {} given for {}",
            first.id.name(),
            id.name()
        )));
    }
    powers.check_circuit_keys(first).map_err(|reason| {
        CeremonyError::Setup(format!(
            "the first {} keys are not those of the final powers of tau: {reason}",
            id.name()
        ))
    })?;
    for (i, u) in updates.iter().enumerate() {
        states[i]
            .verify_update(&states[i + 1], u)
            .map_err(|reason| CeremonyError::BadContribution {
                index: i + 1,
                who: u.who.clone(),
                phase: format!("phase 2, circuit {}", id.name()),
                reason,
            })?;
    }
    Ok(())
}
