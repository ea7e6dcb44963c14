//! Constraint gadgets: range-checked values, documents and their commitments in-circuit.

use ark_crypto_primitives::sponge::constraints::CryptographicSpongeVar;
use ark_crypto_primitives::sponge::poseidon::constraints::PoseidonSpongeVar;
use ark_ff::{BigInteger, PrimeField};
use ark_r1cs_std::fields::fp::FpVar;
use ark_r1cs_std::prelude::*;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};

use crate::document::{id_to_fr, org_to_fr, Document, DocumentKind, MAX_LINES};
use crate::poseidon::{poseidon_config, COMMITMENT_TAG, NULLIFIER_TAG};
use crate::Fr;

pub(crate) type FrVar = FpVar<Fr>;

/// The witness values of a document, as field elements. Built from a [`Document`];
/// tests build dishonest ones (a value of 2^64 or more) to show that no proof exists.
#[derive(Clone)]
pub struct DocumentWitness {
    pub(crate) kind: DocumentKind,
    pub(crate) seller: Fr,
    pub(crate) buyer: Fr,
    pub(crate) carrier: Fr,
    pub(crate) number: Fr,
    pub(crate) reference: Fr,
    pub(crate) issue_date: Fr,
    /// (unit price, quantity, line total) per line, padded with zeros.
    pub(crate) lines: [[Fr; 3]; MAX_LINES],
    pub(crate) total: Fr,
    pub(crate) blinding: Fr,
}

impl DocumentWitness {
    /// The honest witness of `doc`.
    pub fn of(doc: &Document) -> Self {
        let mut lines = [[Fr::from(0u64); 3]; MAX_LINES];
        for (i, l) in doc.padded_lines().iter().enumerate() {
            lines[i] = [
                Fr::from(l.unit_price),
                Fr::from(l.quantity),
                Fr::from(l.total),
            ];
        }
        DocumentWitness {
            kind: doc.kind,
            seller: org_to_fr(&doc.seller),
            buyer: org_to_fr(&doc.buyer),
            carrier: org_to_fr(&doc.carrier),
            number: id_to_fr(&doc.number),
            reference: id_to_fr(&doc.reference),
            issue_date: Fr::from(u64::from(doc.issue_date)),
            lines,
            total: Fr::from(doc.total),
            blinding: doc.blinding,
        }
    }

    /// Sets line `i`'s value `j` (0 price, 1 quantity, 2 total) to any field element.
    pub fn set_line_value(&mut self, i: usize, j: usize, v: Fr) {
        self.lines[i][j] = v;
    }

    /// Sets a party (0 seller, 1 buyer, 2 carrier) to any organisation id.
    pub fn set_party(&mut self, which: usize, org: &str) {
        let v = org_to_fr(org);
        match which {
            0 => self.seller = v,
            1 => self.buyer = v,
            _ => self.carrier = v,
        }
    }

    /// The goods nullifier these values derive (a delivery note's).
    pub fn goods_nullifier(&self) -> Fr {
        crate::poseidon::hash(&[Fr::from(NULLIFIER_TAG), self.blinding])
    }

    /// Sets the total to any field element.
    pub fn set_total(&mut self, v: Fr) {
        self.total = v;
    }

    fn packed(&self, i: usize) -> Fr {
        let two64 = Fr::from(1u128 << 64);
        self.lines[i][0] + self.lines[i][1] * two64 + self.lines[i][2] * two64 * two64
    }

    /// The commitment these values hash to (for a dishonest witness, what a prover would
    /// claim as public input).
    pub fn commit(&self) -> Fr {
        let mut v = vec![
            Fr::from(COMMITMENT_TAG),
            Fr::from(u64::from(self.kind.tag())),
            self.seller,
            self.buyer,
            self.carrier,
            self.number,
            self.reference,
            self.issue_date,
        ];
        v.extend((0..MAX_LINES).map(|i| self.packed(i)));
        v.push(self.total);
        v.push(self.blinding);
        crate::poseidon::hash(&v)
    }
}

/// A value proved to be below 2^64: allocated with its 64 bits (each constrained boolean)
/// and constrained to equal their weighted sum. 65 constraints.
pub(crate) fn range_checked(cs: &ConstraintSystemRef<Fr>, v: Fr) -> Result<FrVar, SynthesisError> {
    let var = FrVar::new_witness(cs.clone(), || Ok(v))?;
    let bits_le = v.into_bigint().to_bits_le();
    let bits = (0..64)
        .map(|i| Boolean::new_witness(cs.clone(), || Ok(bits_le.get(i).copied().unwrap_or(false))))
        .collect::<Result<Vec<_>, _>>()?;
    Boolean::le_bits_to_fp(&bits)?.enforce_equal(&var)?;
    Ok(var)
}

/// A document in the circuit.
pub(crate) struct DocumentVar {
    pub kind: DocumentKind,
    pub seller: FrVar,
    pub buyer: FrVar,
    pub carrier: FrVar,
    pub number: FrVar,
    pub reference: FrVar,
    pub issue_date: FrVar,
    /// Unpacked (range-checked) line values, when allocated with `unpack`.
    pub lines: Vec<[FrVar; 3]>,
    pub packed: Vec<FrVar>,
    pub total: FrVar,
    pub blinding: FrVar,
}

impl DocumentVar {
    /// Allocates the witness. With `unpack`, every line value and the total are range
    /// checked below 2^64 and the packed lines are computed from them (so each packed line
    /// has exactly one reading); without, the packed lines are opaque witnesses (enough to
    /// hash them).
    pub fn alloc(
        cs: &ConstraintSystemRef<Fr>,
        w: &DocumentWitness,
        unpack: bool,
    ) -> Result<Self, SynthesisError> {
        let wit = |v: Fr| FrVar::new_witness(cs.clone(), || Ok(v));
        let two64 = FrVar::constant(Fr::from(1u128 << 64));
        let mut lines = Vec::new();
        let mut packed = Vec::with_capacity(MAX_LINES);
        for i in 0..MAX_LINES {
            if unpack {
                let l = [
                    range_checked(cs, w.lines[i][0])?,
                    range_checked(cs, w.lines[i][1])?,
                    range_checked(cs, w.lines[i][2])?,
                ];
                packed.push(&l[0] + &l[1] * &two64 + &l[2] * &two64 * &two64);
                lines.push(l);
            } else {
                packed.push(wit(w.packed(i))?);
            }
        }
        let total = if unpack {
            range_checked(cs, w.total)?
        } else {
            wit(w.total)?
        };
        Ok(DocumentVar {
            kind: w.kind,
            seller: wit(w.seller)?,
            buyer: wit(w.buyer)?,
            carrier: wit(w.carrier)?,
            number: wit(w.number)?,
            reference: wit(w.reference)?,
            issue_date: wit(w.issue_date)?,
            lines,
            packed,
            total,
            blinding: wit(w.blinding)?,
        })
    }

    /// The Poseidon commitment, computed in the circuit.
    pub fn commitment(&self, cs: &ConstraintSystemRef<Fr>) -> Result<FrVar, SynthesisError> {
        let mut inputs = vec![
            FrVar::constant(Fr::from(COMMITMENT_TAG)),
            FrVar::constant(Fr::from(u64::from(self.kind.tag()))),
            self.seller.clone(),
            self.buyer.clone(),
            self.carrier.clone(),
            self.number.clone(),
            self.reference.clone(),
            self.issue_date.clone(),
        ];
        inputs.extend(self.packed.iter().cloned());
        inputs.push(self.total.clone());
        inputs.push(self.blinding.clone());
        hash_var(cs, &inputs)
    }

    /// The goods nullifier (of a delivery note), computed in the circuit.
    pub fn goods_nullifier(&self, cs: &ConstraintSystemRef<Fr>) -> Result<FrVar, SynthesisError> {
        hash_var(
            cs,
            &[
                FrVar::constant(Fr::from(NULLIFIER_TAG)),
                self.blinding.clone(),
            ],
        )
    }
}

fn hash_var(cs: &ConstraintSystemRef<Fr>, inputs: &[FrVar]) -> Result<FrVar, SynthesisError> {
    let mut sponge = PoseidonSpongeVar::new(cs.clone(), poseidon_config());
    sponge.absorb(&inputs.to_vec())?;
    let out = sponge.squeeze_field_elements(1)?;
    out.into_iter().next().ok_or(SynthesisError::Unsatisfiable)
}
