//! The three circuits.

use ark_ff::Field;
use ark_r1cs_std::prelude::*;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

use crate::document::{org_to_fr, Document, DocumentKind};
use crate::gadgets::{DocumentVar, DocumentWitness, FrVar};
use crate::Fr;

/// Every line total is unit price x quantity and the total is their sum, for the invoice
/// whose commitment is the first public input, and the invoice's seller is the
/// organisation that owns its record (the second public input, computed by the
/// validators from the record); every value is below 2^64.
#[derive(Clone)]
pub struct InvoiceCircuit {
    /// The invoice's witness values.
    pub invoice: DocumentWitness,
    /// The invoice record's owner, as a field element.
    pub owner: Fr,
}

impl InvoiceCircuit {
    /// The circuit for an honest invoice held in a record of `owner`.
    pub fn new(invoice: &Document, owner: &str) -> Self {
        InvoiceCircuit {
            invoice: DocumentWitness::of(invoice),
            owner: org_to_fr(owner),
        }
    }

    /// The public inputs: the invoice commitment and its record's owner.
    pub fn public_inputs(&self) -> Vec<Fr> {
        vec![self.invoice.commit(), self.owner]
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
        let owner = FrVar::new_input(cs.clone(), || Ok(self.owner))?;
        let inv = DocumentVar::alloc(&cs, &self.invoice, true)?;
        if inv.kind != DocumentKind::Invoice {
            return Err(SynthesisError::Unsatisfiable);
        }
        inv.commitment(&cs)?.enforce_equal(&commitment)?;
        inv.seller.enforce_equal(&owner)?;
        let prices: Vec<FrVar> = inv.lines.iter().map(|l| l[0].clone()).collect();
        let quantities: Vec<FrVar> = inv.lines.iter().map(|l| l[1].clone()).collect();
        enforce_arithmetic(&inv, &prices, &quantities)
    }
}

/// The invoice checked against its purchase order and delivery note, each written by the
/// party that should write it. Public inputs, in order: the invoice, order and
/// delivery-note commitments, then the owners of the three records (computed by the
/// validators from the records). Each line's unit price is the order's price on that line
/// and its quantity the delivery note's quantity; line totals and the total add up; the
/// invoice and the delivery note refer to the order's number; the three documents have the
/// same seller and buyer; the invoice's record is the seller's, the order's the buyer's,
/// and the delivery note's its carrier's or its buyer's, never the seller's; every value
/// is below 2^64.
#[derive(Clone)]
pub struct LinkedInvoiceCircuit {
    /// The invoice.
    pub invoice: DocumentWitness,
    /// The purchase order.
    pub order: DocumentWitness,
    /// The delivery note.
    pub delivery: DocumentWitness,
    /// The owners of the invoice, order and delivery-note records.
    pub owners: [Fr; 3],
}

impl LinkedInvoiceCircuit {
    /// The circuit for honest documents held in records of `owners` (invoice, order,
    /// delivery note).
    pub fn new(
        invoice: &Document,
        order: &Document,
        delivery: &Document,
        owners: [&str; 3],
    ) -> Self {
        LinkedInvoiceCircuit {
            invoice: DocumentWitness::of(invoice),
            order: DocumentWitness::of(order),
            delivery: DocumentWitness::of(delivery),
            owners: owners.map(org_to_fr),
        }
    }

    /// The public inputs: invoice, order and delivery-note commitments, then the owners
    /// of their records.
    pub fn public_inputs(&self) -> Vec<Fr> {
        let mut v = vec![
            self.invoice.commit(),
            self.order.commit(),
            self.delivery.commit(),
        ];
        v.extend(self.owners);
        v
    }
}

impl ConstraintSynthesizer<Fr> for LinkedInvoiceCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let inputs = [
            FrVar::new_input(cs.clone(), || Ok(self.invoice.commit()))?,
            FrVar::new_input(cs.clone(), || Ok(self.order.commit()))?,
            FrVar::new_input(cs.clone(), || Ok(self.delivery.commit()))?,
        ];
        let owners = self.owners.map(|o| FrVar::new_input(cs.clone(), || Ok(o)));
        let [own_inv, own_po, own_dn] = owners;
        let (own_inv, own_po, own_dn) = (own_inv?, own_po?, own_dn?);
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
        // Who wrote what: the invoice is the seller's, the order the buyer's.
        inv.seller.enforce_equal(&own_inv)?;
        po.buyer.enforce_equal(&own_po)?;
        // The delivery note is its carrier's or its buyer's: (o - carrier)(o - buyer) = 0.
        (&own_dn - &dn.carrier).mul_equals(&(&own_dn - &dn.buyer), &FrVar::zero())?;
        // ... and never the seller's: o - seller has an inverse.
        let diff = self.owners[2] - self.invoice.seller;
        // (No inverse when they are equal: zero, and the constraint fails.)
        let inverse = FrVar::new_witness(cs.clone(), || Ok(diff.inverse().unwrap_or_default()))?;
        (&own_dn - &inv.seller).mul_equals(&inverse, &FrVar::one())?;
        let prices: Vec<FrVar> = po.lines.iter().map(|l| l[0].clone()).collect();
        let quantities: Vec<FrVar> = dn.lines.iter().map(|l| l[1].clone()).collect();
        for (i, l) in inv.lines.iter().enumerate() {
            l[0].enforce_equal(&prices[i])?;
            l[1].enforce_equal(&quantities[i])?;
        }
        enforce_arithmetic(&inv, &prices, &quantities)
    }
}

/// A receivable nullifier derived from the delivered goods, bound to one request: the
/// nullifier is Poseidon(NULLIFIER_TAG, blinding) of the delivery note whose commitment
/// is the first public input. Public inputs: the delivery-note commitment, the nullifier,
/// and the request binding (a hash of the chain, the seller, the financing bank, the
/// invoice and the delivery note, see [`crate::finance_binding`]), so that a proof seen in
/// a mempool cannot be filed for another request. (That the invoice bills exactly this
/// note's goods, at the ordered prices, between the parties that wrote the documents, is
/// the linked invoice check the ledger requires before a financing.)
#[derive(Clone)]
pub struct FinanceCircuit {
    /// The delivery note.
    pub delivery: DocumentWitness,
    /// The request binding.
    pub binding: Fr,
}

impl FinanceCircuit {
    /// The circuit for an honest delivery note and a request binding.
    pub fn new(delivery: &Document, binding: Fr) -> Self {
        FinanceCircuit {
            delivery: DocumentWitness::of(delivery),
            binding,
        }
    }

    /// The nullifier these values derive.
    pub fn nullifier(&self) -> Fr {
        self.delivery.goods_nullifier()
    }

    /// The public inputs: the delivery-note commitment, the nullifier and the binding.
    pub fn public_inputs(&self) -> Vec<Fr> {
        vec![self.delivery.commit(), self.nullifier(), self.binding]
    }
}

impl ConstraintSynthesizer<Fr> for FinanceCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let commitment = FrVar::new_input(cs.clone(), || Ok(self.delivery.commit()))?;
        let nullifier = FrVar::new_input(cs.clone(), || Ok(self.nullifier()))?;
        let binding = FrVar::new_input(cs.clone(), || Ok(self.binding))?;
        let dn = DocumentVar::alloc(&cs, &self.delivery, false)?;
        if dn.kind != DocumentKind::DeliveryNote {
            return Err(SynthesisError::Unsatisfiable);
        }
        dn.commitment(&cs)?.enforce_equal(&commitment)?;
        dn.goods_nullifier(&cs)?.enforce_equal(&nullifier)?;
        // An input that appears in no constraint is not bound by a Groth16 proof: square
        // the binding so that it is.
        let square = FrVar::new_witness(cs.clone(), || Ok(self.binding * self.binding))?;
        binding.mul_equals(&binding, &square)
    }
}
