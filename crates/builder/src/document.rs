//! Trade documents (purchase orders, delivery notes, invoices): built from a put's input
//! with a fresh blinding, opened from a record's sealed `document` field and checked
//! against the record's document commitment, rendered for a reader, and proved in zero
//! knowledge for the invoice checks (`invoice`, `invoice-linked`).

use std::sync::Arc;

use ledger_circuits::{CircuitId, Document, Line, ProvingKey};
use ledger_state::{RecordVersion, StateView};
use ledger_types::{
    CrossCheck, DocumentKind, FieldName, Operand, RegisterSchema, Relation, DOCUMENT_FIELD,
};
use zeroize::Zeroizing;

use crate::check::OperandInput;
use crate::resources::ProvingKeys;
use crate::{BuildError, Builder};

/// A trade document to put, as its issuer wrote it; the schema says which kind it is.
/// Amounts are in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentInput {
    /// The seller's identifier.
    pub seller: String,
    /// The buyer's identifier.
    pub buyer: String,
    /// The document number.
    pub number: String,
    /// The purchase order it refers to (delivery notes and invoices).
    pub reference: String,
    /// The issue date, `YYYY-MM-DD`.
    pub issue_date: String,
    /// The lines.
    pub lines: Vec<Line>,
    /// The total.
    pub total: u64,
}

/// The name of a document schema's sealed document field.
pub(crate) fn document_field() -> Result<FieldName, BuildError> {
    Ok(FieldName::new(DOCUMENT_FIELD)?)
}

/// The document of a put, of the schema's `kind`, with a fresh blinding.
pub(crate) fn build_document(
    kind: DocumentKind,
    d: &DocumentInput,
) -> Result<Document, BuildError> {
    let date = ledger_circuits::parse_date(&d.issue_date).map_err(BuildError::BadDocument)?;
    Document::new(
        kind,
        &d.seller,
        &d.buyer,
        &d.number,
        &d.reference,
        date,
        d.lines.clone(),
        d.total,
    )
    .map_err(BuildError::BadDocument)
}

/// A sealed document as text, if it opens its record's commitment; else why not.
pub(crate) fn render_document(
    rv: &RecordVersion,
    plain: &[u8],
) -> Result<Zeroizing<String>, String> {
    let doc = Document::from_bytes(plain)
        .map_err(|e| format!("the sealed document is malformed: {e}"))?;
    if Some(doc.commitment_bytes()) != rv.document_commitment {
        return Err("the sealed document does not match the record's document commitment".into());
    }
    let lines: Vec<String> = doc
        .lines
        .iter()
        .map(|l| format!("{} x {} = {}", l.unit_price, l.quantity, l.total))
        .collect();
    Ok(Zeroizing::new(format!(
        "{} {} seller={} buyer={}{} date={} lines=[{}] total={} (matches its commitment)",
        doc.kind.name(),
        doc.number,
        doc.seller,
        doc.buyer,
        if doc.reference.is_empty() {
            String::new()
        } else {
            format!(" ref={}", doc.reference)
        },
        ledger_circuits::format_date(doc.issue_date),
        lines.join("; "),
        doc.total
    )))
}

impl<V: StateView> Builder<'_, V> {
    /// Decrypts a document record's `document` field and checks it against the record's
    /// document commitment.
    pub(crate) fn open_document(
        &self,
        rv: &RecordVersion,
        schema: &RegisterSchema,
    ) -> Result<Document, BuildError> {
        let id = &rv.record;
        let field = document_field()?;
        if schema.document.is_none() {
            return Err(BuildError::NotADocumentRecord {
                record: id.clone(),
                schema: schema.schema.clone(),
            });
        }
        let wrap = rv
            .wrap(&field, self.org)
            .ok_or_else(|| BuildError::NoDocumentKey {
                org: self.org.clone(),
                record: id.clone(),
            })?;
        let unreadable = |reason: String| BuildError::DocumentUnreadable {
            record: id.clone(),
            reason,
        };
        let b = self.binding(rv, &field, schema);
        let key = self
            .unwrap(&b, wrap)
            .map_err(|e| unreadable(e.to_string()))?;
        let sealed = rv
            .field(&field)
            .ok_or_else(|| BuildError::NoDocument { record: id.clone() })?;
        let plain = key
            .open(&b, &sealed.sealed)
            .map_err(|e| unreadable(e.to_string()))?;
        let doc = Document::from_bytes(&plain).map_err(|e| unreadable(e.to_string()))?;
        if Some(doc.commitment_bytes()) != rv.document_commitment {
            return Err(BuildError::DocumentMismatch {
                record: id.clone(),
                version: rv.version,
            });
        }
        Ok(doc)
    }

    /// The proving key of `circuit` for this chain's verifying key.
    pub(crate) fn proving_key(
        &self,
        circuit: CircuitId,
        keys: &dyn ProvingKeys,
    ) -> Result<Arc<ProvingKey>, BuildError> {
        let chain_key =
            ledger_state::circuit_key(self.view, circuit)?.ok_or(BuildError::NoVerifyingKey {
                circuit: circuit.name(),
            })?;
        keys.proving_key(circuit, &chain_key)
    }

    /// An invoice check (`invoice`: one invoice; `invoice-linked`: the invoice, its
    /// purchase order and its delivery note): opens the documents and proves the relation.
    pub(crate) fn prove_invoice_check(
        &self,
        relation: Relation,
        inputs: &[OperandInput],
        keys: &dyn ProvingKeys,
    ) -> Result<CrossCheck, BuildError> {
        let mut docs = Vec::with_capacity(inputs.len());
        let mut operands = Vec::with_capacity(inputs.len());
        for o in inputs {
            let (rv, schema) = self.at(&o.record, o.version)?;
            docs.push(self.open_document(&rv, &schema)?);
            operands.push(Operand {
                record: o.record.clone(),
                version: rv.version,
                field: document_field()?,
            });
        }
        let unsatisfied = BuildError::Unsatisfied;
        let proof = match (&relation, docs.as_slice()) {
            (Relation::Invoice, [invoice]) => {
                let pk = self.proving_key(CircuitId::Invoice, keys)?;
                ledger_circuits::prove_invoice(&pk, invoice)
                    .map_err(unsatisfied)?
                    .0
            }
            (Relation::InvoiceLinked, [invoice, order, delivery]) => {
                let pk = self.proving_key(CircuitId::InvoiceLinked, keys)?;
                ledger_circuits::prove_linked_invoice(&pk, invoice, order, delivery)
                    .map_err(unsatisfied)?
                    .0
            }
            _ => {
                return Err(BuildError::internal(
                    "an invoice check with the wrong relation or number of documents",
                ))
            }
        };
        Ok(CrossCheck {
            relation,
            operands,
            proof,
        })
    }
}
