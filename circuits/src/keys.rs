//! Keys, proving and verification.
//!
//! Each circuit has its own Groth16 keys. `setup` runs the circuit-specific setup with a
//! caller's randomness (a production ceremony); `dev_keys` runs it with a seed derived
//! from the circuit name, so every machine gets the same development keys, whose
//! verifying keys are committed in `circuits/keys/dev/` and pinned, with the constraint
//! counts, in `circuits/keys/pins.txt`. Anyone who knows the development seed can forge
//! proofs: development keys are for tests and demos only (see `docs/circuits.md`).

use ark_bn254::Bn254;
use ark_groth16::{Groth16, PreparedVerifyingKey};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use ark_snark::{CircuitSpecificSetupSNARK, SNARK};
use rand::{CryptoRng, RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use crate::circuit::{FinanceCircuit, InvoiceCircuit, LinkedInvoiceCircuit};
use crate::document::{Document, DocumentKind};
use crate::{CircuitError, Fr};

/// Bytes of a compressed Groth16 proof over BN254.
pub const PROOF_LEN: usize = 128;

/// The circuits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CircuitId {
    /// [`InvoiceCircuit`]: two public inputs.
    Invoice,
    /// [`LinkedInvoiceCircuit`]: six public inputs.
    InvoiceLinked,
    /// [`FinanceCircuit`]: three public inputs.
    Finance,
}

impl CircuitId {
    /// All circuits.
    pub const ALL: [CircuitId; 3] = [
        CircuitId::Invoice,
        CircuitId::InvoiceLinked,
        CircuitId::Finance,
    ];

    /// Its name (key files, genesis, state).
    pub fn name(self) -> &'static str {
        match self {
            CircuitId::Invoice => "invoice",
            CircuitId::InvoiceLinked => "invoice-linked",
            CircuitId::Finance => "finance",
        }
    }

    /// From [`CircuitId::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    /// How many public inputs it has.
    pub fn public_inputs(self) -> usize {
        match self {
            CircuitId::Invoice => 2,
            CircuitId::InvoiceLinked => 6,
            CircuitId::Finance => 3,
        }
    }
}

fn backend(e: impl std::fmt::Display) -> CircuitError {
    CircuitError::Backend(e.to_string())
}

/// A placeholder witness of the right shape (setup does not use witness values).
fn shape(kind: DocumentKind) -> Document {
    Document {
        kind,
        seller: "s".into(),
        buyer: "b".into(),
        carrier: String::new(),
        number: "n".into(),
        reference: String::new(),
        issue_date: 0,
        lines: vec![],
        total: 0,
        blinding: Fr::from(0u64),
    }
}

fn invoice_shape() -> InvoiceCircuit {
    InvoiceCircuit::new(&shape(DocumentKind::Invoice), "s")
}

fn linked_shape() -> LinkedInvoiceCircuit {
    LinkedInvoiceCircuit::new(
        &shape(DocumentKind::Invoice),
        &shape(DocumentKind::PurchaseOrder),
        &shape(DocumentKind::DeliveryNote),
        ["s", "b", "b"],
    )
}

fn finance_shape() -> FinanceCircuit {
    FinanceCircuit::new(&shape(DocumentKind::DeliveryNote), Fr::from(0u64))
}

/// Synthesises circuit `id`'s shape into `cs` (for the ceremony's QAP).
pub(crate) fn shape_circuit(
    id: CircuitId,
    cs: ark_relations::gr1cs::ConstraintSystemRef<Fr>,
) -> Result<(), ark_relations::gr1cs::SynthesisError> {
    match id {
        CircuitId::Invoice => invoice_shape().generate_constraints(cs),
        CircuitId::InvoiceLinked => linked_shape().generate_constraints(cs),
        CircuitId::Finance => finance_shape().generate_constraints(cs),
    }
}

fn run_setup<R: RngCore + CryptoRng>(
    id: CircuitId,
    rng: &mut R,
) -> Result<(ProvingKey, VerifyingKey), CircuitError> {
    let (pk, vk) = match id {
        CircuitId::Invoice => Groth16::<Bn254>::setup(invoice_shape(), rng),
        CircuitId::InvoiceLinked => Groth16::<Bn254>::setup(linked_shape(), rng),
        CircuitId::Finance => Groth16::<Bn254>::setup(finance_shape(), rng),
    }
    .map_err(backend)?;
    Ok((ProvingKey { id, pk }, VerifyingKey::new(id, vk)?))
}

/// The circuit-specific setup with the caller's randomness (a production ceremony; the
/// randomness must be destroyed afterwards).
pub fn setup<R: RngCore + CryptoRng>(
    id: CircuitId,
    rng: &mut R,
) -> Result<(ProvingKey, VerifyingKey), CircuitError> {
    run_setup(id, rng)
}

/// The development keys: the setup run with a seed derived from the circuit's name.
/// Deterministic, public, for tests and demos only.
pub fn dev_keys(id: CircuitId) -> Result<(ProvingKey, VerifyingKey), CircuitError> {
    let seed: [u8; 32] = Sha256::new()
        .chain_update(b"confidential-ledger/circuits/dev-setup/v1\0")
        .chain_update(id.name().as_bytes())
        .finalize()
        .into();
    run_setup(id, &mut rand_chacha::ChaCha20Rng::from_seed(seed))
}

/// The committed development verifying key (no setup run).
pub fn dev_verifying_key(id: CircuitId) -> Result<VerifyingKey, CircuitError> {
    let text = match id {
        CircuitId::Invoice => include_str!("../keys/dev/invoice.vk"),
        CircuitId::InvoiceLinked => include_str!("../keys/dev/invoice-linked.vk"),
        CircuitId::Finance => include_str!("../keys/dev/finance.vk"),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| CircuitError::Malformed {
        what: "development verifying key",
        reason: "not hex".into(),
    })?;
    VerifyingKey::from_bytes(id, &bytes)
}

/// The number of constraints of a circuit.
pub fn constraint_count(id: CircuitId) -> Result<usize, CircuitError> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    match id {
        CircuitId::Invoice => invoice_shape().generate_constraints(cs.clone()),
        CircuitId::InvoiceLinked => linked_shape().generate_constraints(cs.clone()),
        CircuitId::Finance => finance_shape().generate_constraints(cs.clone()),
    }
    .map_err(backend)?;
    cs.finalize();
    Ok(cs.num_constraints())
}

/// The fingerprint of a verifying key: SHA-256 over a domain label, the circuit name and
/// the compressed key, hex.
pub fn fingerprint(id: CircuitId, vk_bytes: &[u8]) -> String {
    hex::encode(
        Sha256::new()
            .chain_update(b"cl/circuit-vk/v1\0")
            .chain_update(id.name().as_bytes())
            .chain_update([0u8])
            .chain_update(vk_bytes)
            .finalize(),
    )
}

/// A proving key.
pub struct ProvingKey {
    id: CircuitId,
    pk: ark_groth16::ProvingKey<Bn254>,
}

impl ProvingKey {
    pub(crate) fn from_ark(id: CircuitId, pk: ark_groth16::ProvingKey<Bn254>) -> Self {
        ProvingKey { id, pk }
    }

    /// Its circuit.
    pub fn id(&self) -> CircuitId {
        self.id
    }

    /// Uncompressed bytes (fast to load; kept in a trusted local file).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CircuitError> {
        let mut out = Vec::new();
        self.pk.serialize_uncompressed(&mut out).map_err(backend)?;
        Ok(out)
    }

    /// Reads [`ProvingKey::to_bytes`] without curve checks (the file is the node's own).
    pub fn from_bytes_trusted(id: CircuitId, b: &[u8]) -> Result<Self, CircuitError> {
        let pk = ark_groth16::ProvingKey::<Bn254>::deserialize_uncompressed_unchecked(b).map_err(
            |e| CircuitError::Malformed {
                what: "proving key",
                reason: e.to_string(),
            },
        )?;
        Ok(ProvingKey { id, pk })
    }

    /// The verifying key inside it.
    pub fn verifying_key(&self) -> Result<VerifyingKey, CircuitError> {
        VerifyingKey::new(self.id, self.pk.vk.clone())
    }
}

/// A verifying key, prepared for verification.
#[derive(Clone)]
pub struct VerifyingKey {
    id: CircuitId,
    pvk: PreparedVerifyingKey<Bn254>,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VerifyingKey({}, {})",
            self.id.name(),
            self.fingerprint()
        )
    }
}

impl VerifyingKey {
    fn new(id: CircuitId, vk: ark_groth16::VerifyingKey<Bn254>) -> Result<Self, CircuitError> {
        if vk.gamma_abc_g1.len() != id.public_inputs() + 1 {
            return Err(CircuitError::Malformed {
                what: "verifying key",
                reason: format!(
                    "it has {} public inputs; circuit {} has {}",
                    vk.gamma_abc_g1.len().saturating_sub(1),
                    id.name(),
                    id.public_inputs()
                ),
            });
        }
        let mut bytes = Vec::new();
        vk.serialize_compressed(&mut bytes).map_err(backend)?;
        let pvk = ark_groth16::prepare_verifying_key(&vk);
        Ok(VerifyingKey { id, pvk, bytes })
    }

    /// Reads a compressed verifying key, checking its points.
    pub fn from_bytes(id: CircuitId, b: &[u8]) -> Result<Self, CircuitError> {
        let vk = ark_groth16::VerifyingKey::<Bn254>::deserialize_compressed(b).map_err(|e| {
            CircuitError::Malformed {
                what: "verifying key",
                reason: e.to_string(),
            }
        })?;
        Self::new(id, vk)
    }

    /// Its circuit.
    pub fn id(&self) -> CircuitId {
        self.id
    }

    /// The compressed bytes.
    pub fn to_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Its fingerprint.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.id, &self.bytes)
    }

    /// Verifies `proof` (compressed, [`PROOF_LEN`] bytes) for `public` inputs.
    pub fn verify(&self, public: &[Fr], proof: &[u8]) -> Result<(), CircuitError> {
        let name = self.id.name();
        if public.len() != self.id.public_inputs() {
            return Err(CircuitError::Malformed {
                what: "public inputs",
                reason: format!(
                    "{} given; circuit {name} takes {}",
                    public.len(),
                    self.id.public_inputs()
                ),
            });
        }
        if proof.len() != PROOF_LEN {
            return Err(CircuitError::Malformed {
                what: "proof",
                reason: format!("{} bytes, expected {PROOF_LEN}", proof.len()),
            });
        }
        let p = ark_groth16::Proof::<Bn254>::deserialize_compressed(proof).map_err(|e| {
            CircuitError::Malformed {
                what: "proof",
                reason: e.to_string(),
            }
        })?;
        match Groth16::<Bn254>::verify_with_processed_vk(&self.pvk, public, &p) {
            Ok(true) => Ok(()),
            Ok(false) => Err(CircuitError::Invalid { circuit: name }),
            Err(e) => Err(backend(e)),
        }
    }
}

/// Verifies many proofs at once (possibly of different circuits): each proof's pairing
/// equation `e(A, B) = e(α, β)·e(IC, γ)·e(C, δ)` is raised to an independent random
/// 128-bit weight `r` and the equations are multiplied together, so the batch costs one
/// Miller loop per proof, two per verifying key and a single final exponentiation:
///
/// `Π e(r·A, B) · Π_vk e(Σ r·IC, -γ) · e(Σ r·C, -δ) = Π_vk e(α, β)^(Σ r)`.
///
/// If every proof verifies, so does the batch; if one does not, the batch passes with
/// probability about 2^-128 over the weights, which the provers never see. `Err` says that
/// some proof failed (verify them one by one to find which).
pub fn verify_batch(items: &[(&VerifyingKey, &[Fr], &[u8])]) -> Result<(), CircuitError> {
    use ark_ec::pairing::Pairing;
    use ark_ec::{AffineRepr, CurveGroup};
    use ark_ff::{Field, PrimeField};
    if items.is_empty() {
        return Ok(());
    }
    let mut g1 = Vec::with_capacity(items.len() + 2);
    let mut g2 = Vec::with_capacity(items.len() + 2);
    // Per distinct key (by fingerprint bytes): Σ r·IC, Σ r·C, Σ r.
    let mut per_key: Vec<(
        &VerifyingKey,
        ark_bn254::G1Projective,
        ark_bn254::G1Projective,
        Fr,
    )> = Vec::new();
    for (vk, public, proof) in items {
        if public.len() != vk.id.public_inputs() || proof.len() != PROOF_LEN {
            return Err(CircuitError::Malformed {
                what: "batch item",
                reason: format!("wrong shape for circuit {}", vk.id.name()),
            });
        }
        let p = ark_groth16::Proof::<Bn254>::deserialize_compressed(*proof).map_err(|e| {
            CircuitError::Malformed {
                what: "proof",
                reason: e.to_string(),
            }
        })?;
        let ic = Groth16::<Bn254>::prepare_inputs(&vk.pvk, public).map_err(backend)?;
        let r = Fr::from(u128::from_le_bytes(rand::random::<[u8; 16]>()));
        g1.push((p.a.into_group() * r).into_affine());
        g2.push(<Bn254 as Pairing>::G2Prepared::from(p.b));
        let slot = match per_key.iter().position(|(k, ..)| k.bytes == vk.bytes) {
            Some(i) => i,
            None => {
                per_key.push((
                    vk,
                    ark_bn254::G1Projective::default(),
                    ark_bn254::G1Projective::default(),
                    Fr::from(0u64),
                ));
                per_key.len() - 1
            }
        };
        per_key[slot].1 += ic * r;
        per_key[slot].2 += p.c.into_group() * r;
        per_key[slot].3 += r;
    }
    let mut expected = <Bn254 as Pairing>::TargetField::ONE;
    for (vk, ic, c, r) in &per_key {
        g1.push(ic.into_affine());
        g2.push(vk.pvk.gamma_g2_neg_pc.clone());
        g1.push(c.into_affine());
        g2.push(vk.pvk.delta_g2_neg_pc.clone());
        expected *= vk.pvk.alpha_g1_beta_g2.pow(r.into_bigint());
    }
    let g1: Vec<<Bn254 as Pairing>::G1Prepared> = g1.into_iter().map(Into::into).collect();
    let mlo = Bn254::multi_miller_loop(g1, g2);
    let out = Bn254::final_exponentiation(mlo).ok_or_else(|| backend("final exponentiation"))?;
    if out.0 == expected {
        Ok(())
    } else {
        Err(CircuitError::Invalid { circuit: "batch" })
    }
}

/// Reads a proof's three points with all their checks (on the curve, in the right
/// subgroup), without verifying it: the parsing share of [`VerifyingKey::verify`].
pub fn check_proof_encoding(proof: &[u8]) -> Result<(), CircuitError> {
    ark_groth16::Proof::<Bn254>::deserialize_compressed(proof)
        .map(|_| ())
        .map_err(|e| CircuitError::Malformed {
            what: "proof",
            reason: e.to_string(),
        })
}

fn prove_checked<C: ConstraintSynthesizer<Fr> + Clone>(
    pk: &ProvingKey,
    expected: CircuitId,
    circuit: C,
) -> Result<Vec<u8>, CircuitError> {
    let name = expected.name();
    if pk.id != expected {
        return Err(CircuitError::Malformed {
            what: "proving key",
            reason: format!("it is for circuit {}, not {name}", pk.id.name()),
        });
    }
    // Groth16 proves whatever it is given; a witness that does not satisfy the circuit
    // would give a proof that does not verify. Say what does not hold instead.
    let cs = ConstraintSystem::<Fr>::new_ref();
    circuit
        .clone()
        .generate_constraints(cs.clone())
        .map_err(|e| CircuitError::Unsatisfied {
            circuit: name,
            reason: e.to_string(),
        })?;
    if !cs.is_satisfied().map_err(backend)? {
        let which = cs
            .which_is_unsatisfied()
            .map_err(backend)?
            .unwrap_or_default();
        return Err(CircuitError::Unsatisfied {
            circuit: name,
            reason: format!("constraint {which} fails"),
        });
    }
    let proof =
        Groth16::<Bn254>::prove(&pk.pk, circuit, &mut rand::rngs::OsRng).map_err(backend)?;
    let mut out = Vec::with_capacity(PROOF_LEN);
    proof.serialize_compressed(&mut out).map_err(backend)?;
    Ok(out)
}

/// Proves [`InvoiceCircuit`] for `invoice` held in a record of `owner`; returns the proof
/// and its public inputs.
pub fn prove_invoice(
    pk: &ProvingKey,
    invoice: &Document,
    owner: &str,
) -> Result<(Vec<u8>, Vec<Fr>), CircuitError> {
    let c = InvoiceCircuit::new(invoice, owner);
    let public = c.public_inputs();
    Ok((prove_checked(pk, CircuitId::Invoice, c)?, public))
}

/// Proves [`LinkedInvoiceCircuit`] for documents held in records of `owners` (invoice,
/// order, delivery note); returns the proof and its public inputs.
pub fn prove_linked_invoice(
    pk: &ProvingKey,
    invoice: &Document,
    order: &Document,
    delivery: &Document,
    owners: [&str; 3],
) -> Result<(Vec<u8>, Vec<Fr>), CircuitError> {
    let c = LinkedInvoiceCircuit::new(invoice, order, delivery, owners);
    let public = c.public_inputs();
    Ok((prove_checked(pk, CircuitId::InvoiceLinked, c)?, public))
}

/// Proves [`FinanceCircuit`] for a delivery note; returns the proof and its public inputs
/// (commitment, nullifier, binding).
pub fn prove_finance(
    pk: &ProvingKey,
    delivery: &Document,
    binding: Fr,
) -> Result<(Vec<u8>, Vec<Fr>), CircuitError> {
    let c = FinanceCircuit::new(delivery, binding);
    let public = c.public_inputs();
    Ok((prove_checked(pk, CircuitId::Finance, c)?, public))
}
