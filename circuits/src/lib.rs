//! Zero-knowledge circuits for trade documents, proved with Groth16 over BN254 (arkworks
//! 0.6):
//!
//! - a **document commitment**: a Poseidon hash of a purchase order's, delivery note's or
//!   invoice's identifying and numeric fields and a random blinding ([`Document::commit`]);
//! - the **invoice circuit**: every line total is unit price x quantity, the total is the
//!   sum of the line totals, every value is below 2^64 ([`CircuitId::Invoice`]);
//! - the **linked invoice circuit**: the same, with each line's unit price taken from the
//!   purchase order and its quantity from the delivery note, the documents referring to
//!   the same order and the same seller and buyer ([`CircuitId::InvoiceLinked`]);
//! - the **financing circuit**: a receivable nullifier, Poseidon over a domain tag and the
//!   invoice's seller, buyer, number, issue date and total, derived from the invoice's
//!   committed document ([`CircuitId::Finance`]).
//!
//! See `docs/circuits.md` for each statement, its public inputs, constraint counts and what
//! the trusted setup means.

mod circuit;
mod document;
mod gadgets;
mod keys;
mod poseidon;

pub use circuit::{FinanceCircuit, InvoiceCircuit, LinkedInvoiceCircuit};
pub use document::{
    canonical_id, format_date, id_to_fr, parse_date, Document, DocumentKind, Line, MAX_LINES,
};
pub use gadgets::DocumentWitness;
pub use keys::{
    check_proof_encoding, constraint_count, dev_keys, dev_verifying_key, fingerprint,
    prove_finance, prove_invoice, prove_linked_invoice, setup, verify_batch, CircuitId, ProvingKey,
    VerifyingKey, PROOF_LEN,
};
pub use poseidon::{nullifier, poseidon_config};

use ark_ff::{BigInteger, PrimeField};
use thiserror::Error;

/// The scalar field of BN254, in which the circuits compute.
pub type Fr = ark_bn254::Fr;

/// Why a proof, key or document is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CircuitError {
    /// Bytes that are not what they claim to be.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// What was read.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The witness does not satisfy the circuit: no valid proof exists for it.
    #[error("the {circuit} statement does not hold: {reason}")]
    Unsatisfied {
        /// The circuit.
        circuit: &'static str,
        /// What does not hold.
        reason: String,
    },
    /// The proof does not verify for these public inputs.
    #[error("the {circuit} proof does not verify")]
    Invalid {
        /// The circuit.
        circuit: &'static str,
    },
    /// Setup or proving failed inside arkworks.
    #[error("{0}")]
    Backend(String),
}

/// The binding of a financing request: the first 31 bytes of SHA-256 over a domain label,
/// the chain id, the requesting organisation, the invoice record and its version.
pub fn finance_binding(chain_id: &str, org: &str, record: &str, version: u32) -> Fr {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"cl/finance-binding/v1\0");
    for part in [chain_id, org, record] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.update(version.to_be_bytes());
    Fr::from_le_bytes_mod_order(&h.finalize()[..31])
}

/// A field element as 32 canonical little-endian bytes.
pub fn fr_to_bytes(x: &Fr) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&x.into_bigint().to_bytes_le());
    out
}

/// Reads 32 little-endian bytes, refusing values at or above the field modulus.
pub fn fr_from_bytes(b: &[u8; 32]) -> Result<Fr, CircuitError> {
    let x = Fr::from_le_bytes_mod_order(b);
    if fr_to_bytes(&x) != *b {
        return Err(CircuitError::Malformed {
            what: "field element",
            reason: "not below the BN254 scalar field modulus".into(),
        });
    }
    Ok(x)
}

/// The design note behind this crate, `docs/circuits.md`: what is proved or guaranteed, and
/// why it holds (read it with `cargo doc --document-private-items`).
#[doc = include_str!("../../docs/circuits.md")]
mod notes {}
