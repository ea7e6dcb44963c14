//! Zero-knowledge circuits for trade documents, proved with Groth16 over BN254 (arkworks
//! 0.6):
//!
//! - a **document commitment**: a Poseidon hash of a purchase order's, delivery note's or
//!   invoice's parties (organisation ids), identifying and numeric fields and a random
//!   blinding ([`Document::commit`]);
//! - the **invoice circuit**: every line total is unit price x quantity, the total is the
//!   sum of the line totals, every value is below 2^64, and the seller owns the invoice's
//!   record ([`CircuitId::Invoice`]);
//! - the **linked invoice circuit**: the same, with each line's unit price taken from the
//!   purchase order and its quantity from the delivery note, the documents referring to
//!   the same order and the same seller and buyer, the order written by the buyer and the
//!   delivery note by the carrier or the buyer ([`CircuitId::InvoiceLinked`]);
//! - the **financing circuit**: a receivable nullifier derived from the delivered goods,
//!   Poseidon over a domain tag and the committed delivery note's blinding, bound to one
//!   request ([`CircuitId::Finance`]).
//!
//! See `docs/circuits.md` for each statement, its public inputs, constraint counts and what
//! the trusted setup means.

pub mod ceremony;
mod circuit;
mod document;
mod gadgets;
mod keys;
mod poseidon;

pub use circuit::{FinanceCircuit, InvoiceCircuit, LinkedInvoiceCircuit};
pub use document::{
    canonical_id, format_date, id_to_fr, org_to_fr, parse_date, Document, DocumentKind, Line,
    MAX_LINES,
};
pub use gadgets::DocumentWitness;
pub use keys::{
    check_proof_encoding, constraint_count, dev_keys, dev_verifying_key, fingerprint,
    prove_finance, prove_invoice, prove_linked_invoice, setup, verify_batch, CircuitId, ProvingKey,
    VerifyingKey, PROOF_LEN,
};
pub use poseidon::poseidon_config;

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

/// What a financing request names: the seller assigning the receivable (the invoice
/// record's owner, who signs the request), the financing bank, the invoice and the
/// delivery note whose goods it bills.
#[derive(Debug, Clone, Copy)]
pub struct FinanceTerms<'a> {
    /// The chain id.
    pub chain_id: &'a str,
    /// The seller.
    pub seller: &'a str,
    /// The bank the receivable is assigned to.
    pub bank: &'a str,
    /// The invoice record and version.
    pub invoice: (&'a str, u32),
    /// The delivery-note record and version.
    pub delivery: (&'a str, u32),
}

/// The binding of a financing request: the first 31 bytes of SHA-256 over a domain label
/// and every one of its [`FinanceTerms`], so that a proof is good for this request only.
pub fn finance_binding(t: &FinanceTerms<'_>) -> Fr {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"cl/finance-binding/v2\0");
    for (part, version) in [
        (t.chain_id, None),
        (t.seller, None),
        (t.bank, None),
        (t.invoice.0, Some(t.invoice.1)),
        (t.delivery.0, Some(t.delivery.1)),
    ] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part.as_bytes());
        if let Some(v) = version {
            h.update(v.to_be_bytes());
        }
    }
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
