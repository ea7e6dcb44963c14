//! The three circuits.

use ark_r1cs_std::prelude::*;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

use crate::document::{Document, DocumentKind};
use crate::gadgets::{DocumentVar, DocumentWitness, FrVar};
use crate::Fr;

/// Every line total is unit price x quantity and the total is their sum, for the invoice
/// whose commitment is the one public input; every value is below 2^64.
#[derive(Clone)]
pub struct InvoiceCircuit {
    /// The invoice's witness values.
    pub invoice: DocumentWitness,
}

impl InvoiceCircuit {
    /// The circuit for an honest invoice.
    pub fn new(invoice: &Document) -> Self {
        InvoiceCircuit {
            invoice: DocumentWitness::of(invoice),
        }
    }

    /// The public inputs: the invoice commitment.
    pub fn public_inputs(&self) -> Vec<Fr> {
        vec![self.invoice.commit()]
    }
}

/// `total = Σ line totals` and `line total = price x quantity` on each line, with the
/// prices and quantities given (by default the invoice's own).
fn enforce_arithmetic(
    inv: &DocumentVar,
    prices: &[FrVar],
    quantities: &[FrVar],
) -> Result<(), SynthesisError> {
    let mut sum = FrVar::zero();
    for (i, l) in inv.lines.iter().enumerate() {
        prices[i].mul_equals(&quantities[i], &l[2])?;
        sum += &l[2];
    }
    // Sixteen totals below 2^64 add up to less than 2^68: no wrap-around in the field.
    sum.enforce_equal(&inv.total)
}

impl ConstraintSynthesizer<Fr> for InvoiceCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let commitment = FrVar::new_input(cs.clone(), || Ok(self.invoice.commit()))?;
        let inv = DocumentVar::alloc(&cs, &self.invoice, true)?;
        if inv.kind != DocumentKind::Invoice {
            return Err(SynthesisError::Unsatisfiable);
        }
        inv.commitment(&cs)?.enforce_equal(&commitment)?;
        let prices: Vec<FrVar> = inv.lines.iter().map(|l| l[0].clone()).collect();
        let quantities: Vec<FrVar> = inv.lines.iter().map(|l| l[1].clone()).collect();
        enforce_arithmetic(&inv, &prices, &quantities)
    }
}

/// The invoice checked against its purchase order and delivery note. Public inputs, in
/// order: the invoice, order and delivery-note commitments. Each line's unit price is the
/// order's price on that line and its quantity the delivery note's quantity; line totals
/// and the total add up; the invoice and the delivery note refer to the order's number;
/// the three documents have the same seller and buyer; every value is below 2^64.
#[derive(Clone)]
pub struct LinkedInvoiceCircuit {
    /// The invoice.
    pub invoice: DocumentWitness,
    /// The purchase order.
    pub order: DocumentWitness,
    /// The delivery note.
    pub delivery: DocumentWitness,
}

impl LinkedInvoiceCircuit {
    /// The circuit for honest documents.
    pub fn new(invoice: &Document, order: &Document, delivery: &Document) -> Self {
        LinkedInvoiceCircuit {
            invoice: DocumentWitness::of(invoice),
            order: DocumentWitness::of(order),
            delivery: DocumentWitness::of(delivery),
        }
    }

    /// The public inputs: invoice, order and delivery-note commitments.
    pub fn public_inputs(&self) -> Vec<Fr> {
        vec![
            self.invoice.commit(),
            self.order.commit(),
            self.delivery.commit(),
        ]
    }
}

impl ConstraintSynthesizer<Fr> for LinkedInvoiceCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let inputs = [
            FrVar::new_input(cs.clone(), || Ok(self.invoice.commit()))?,
            FrVar::new_input(cs.clone(), || Ok(self.order.commit()))?,
            FrVar::new_input(cs.clone(), || Ok(self.delivery.commit()))?,
        ];
        let inv = DocumentVar::alloc(&cs, &self.invoice, true)?;
        let po = DocumentVar::alloc(&cs, &self.order, true)?;
        let dn = DocumentVar::alloc(&cs, &self.delivery, true)?;
        if inv.kind != DocumentKind::Invoice
            || po.kind != DocumentKind::PurchaseOrder
            || dn.kind != DocumentKind::DeliveryNote
        {
            return Err(SynthesisError::Unsatisfiable);
        }
        for (doc, input) in [&inv, &po, &dn].into_iter().zip(&inputs) {
            doc.commitment(&cs)?.enforce_equal(input)?;
        }
        inv.reference.enforce_equal(&po.number)?;
        dn.reference.enforce_equal(&po.number)?;
        for d in [&po, &dn] {
            inv.seller.enforce_equal(&d.seller)?;
            inv.buyer.enforce_equal(&d.buyer)?;
        }
        let prices: Vec<FrVar> = po.lines.iter().map(|l| l[0].clone()).collect();
        let quantities: Vec<FrVar> = dn.lines.iter().map(|l| l[1].clone()).collect();
        for (i, l) in inv.lines.iter().enumerate() {
            l[0].enforce_equal(&prices[i])?;
            l[1].enforce_equal(&quantities[i])?;
        }
        enforce_arithmetic(&inv, &prices, &quantities)
    }
}

/// A receivable nullifier derived from a committed invoice, bound to one request.
/// Public inputs: the invoice commitment, the nullifier, and the request binding (a hash
/// of the chain, the requesting organisation and the invoice record, see
/// [`crate::finance_binding`]), so that a proof seen in a mempool cannot be filed by
/// another organisation.
#[derive(Clone)]
pub struct FinanceCircuit {
    /// The invoice.
    pub invoice: DocumentWitness,
    /// The request binding.
    pub binding: Fr,
}

impl FinanceCircuit {
    /// The circuit for an honest invoice and a request binding.
    pub fn new(invoice: &Document, binding: Fr) -> Self {
        FinanceCircuit {
            invoice: DocumentWitness::of(invoice),
            binding,
        }
    }

    /// The nullifier these values derive.
    pub fn nullifier(&self) -> Fr {
        let w = &self.invoice;
        crate::poseidon::hash(&[
            Fr::from(crate::poseidon::NULLIFIER_TAG),
            w.seller,
            w.buyer,
            w.number,
            w.issue_date,
            w.total,
        ])
    }

    /// The public inputs: the invoice commitment, the nullifier and the binding.
    pub fn public_inputs(&self) -> Vec<Fr> {
        vec![self.invoice.commit(), self.nullifier(), self.binding]
    }
}

impl ConstraintSynthesizer<Fr> for FinanceCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let commitment = FrVar::new_input(cs.clone(), || Ok(self.invoice.commit()))?;
        let nullifier = FrVar::new_input(cs.clone(), || Ok(self.nullifier()))?;
        let binding = FrVar::new_input(cs.clone(), || Ok(self.binding))?;
        let inv = DocumentVar::alloc(&cs, &self.invoice, false)?;
        if inv.kind != DocumentKind::Invoice {
            return Err(SynthesisError::Unsatisfiable);
        }
        inv.commitment(&cs)?.enforce_equal(&commitment)?;
        inv.nullifier(&cs)?.enforce_equal(&nullifier)?;
        // An input that appears in no constraint is not bound by a Groth16 proof: square
        // the binding so that it is.
        let square = FrVar::new_witness(cs.clone(), || Ok(self.binding * self.binding))?;
        binding.mul_equals(&binding, &square)
    }
}
