//! Trade documents (purchase orders, delivery notes, invoices): built from a put's input
//! with a fresh blinding, opened from a record's sealed `document` field and checked
//! against the record's document commitment, rendered for a reader, and proved in zero
//! knowledge for the invoice checks (`invoice`, `invoice-linked`).

use std::sync::Arc;

use ledger_circuits::{CircuitId, Document, Line, ProvingKey};
use ledger_state::{RecordVersion, StateView};
use ledger_types::{
    CrossCheck, DocumentKind, FieldName, Operand, OrgId, RegisterSchema, Relation, DOCUMENT_FIELD,
};
use zeroize::Zeroizing;

use crate::check::OperandInput;
use crate::resources::ProvingKeys;
use crate::{BuildError, Builder};

/// A trade document to put, as its issuer wrote it; the schema says which kind it is.
/// Amounts are in minor units. The parties are organisation ids of the member directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentInput {
    /// The seller.
    pub seller: String,
    /// The buyer.
    pub buyer: String,
    /// The carrier (delivery notes; empty when the buyer confirms the delivery itself).
    pub carrier: String,
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
        "{} {} seller={} buyer={}{}{} date={} lines=[{}] total={} (matches its commitment)",
        doc.kind.name(),
        doc.number,
        doc.seller,
        doc.buyer,
        if doc.carrier.is_empty() {
            String::new()
        } else {
            format!(" carrier={}", doc.carrier)
        },
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
    /// The document of a put, of the schema's `kind`, with a fresh blinding (or `blinding`,
    /// the previous version's: a document keeps its blinding across its versions, so a
    /// delivery note keeps its goods nullifier). Its parties must be members, and this
    /// organisation the party that writes this kind: the buyer its purchase orders, the
    /// seller its invoices, the carrier or the buyer its delivery notes. (Validators cannot
    /// see the document: the circuits refuse, in every check and financing, a document
    /// whose party is not its record's owner; this refuses it before it is written.)
    pub(crate) fn build_document(
        &self,
        kind: DocumentKind,
        d: &DocumentInput,
        blinding: Option<ledger_circuits::Fr>,
    ) -> Result<Document, BuildError> {
        for (party, org, required) in [
            ("seller", &d.seller, true),
            ("buyer", &d.buyer, true),
            ("carrier", &d.carrier, false),
        ] {
            if org.is_empty() && !required {
                continue;
            }
            let known = match OrgId::new(org.as_str()) {
                Ok(id) => ledger_state::member(self.view, &id)?.is_some(),
                Err(_) => false,
            };
            if !known {
                return Err(BuildError::PartyNotAMember {
                    party,
                    org: org.clone(),
                });
            }
        }
        let me = self.org.as_str();
        let (ok, writer) = match kind {
            DocumentKind::PurchaseOrder => (me == d.buyer, format!("its buyer ({})", d.buyer)),
            DocumentKind::Invoice => (me == d.seller, format!("its seller ({})", d.seller)),
            DocumentKind::DeliveryNote => (
                me == d.buyer || (!d.carrier.is_empty() && me == d.carrier),
                if d.carrier.is_empty() {
                    format!("its buyer ({}) confirming the delivery", d.buyer)
                } else {
                    format!("its carrier ({}) or its buyer ({})", d.carrier, d.buyer)
                },
            ),
        };
        if !ok {
            return Err(BuildError::NotTheIssuer {
                kind: kind.name(),
                writer,
                org: self.org.clone(),
            });
        }
        let date = ledger_circuits::parse_date(&d.issue_date).map_err(BuildError::BadDocument)?;
        let mut doc = Document::new(
            kind,
            &d.seller,
            &d.buyer,
            &d.carrier,
            &d.number,
            &d.reference,
            date,
            d.lines.clone(),
            d.total,
        )
        .map_err(BuildError::BadDocument)?;
        if let Some(b) = blinding {
            doc.blinding = b;
        }
        Ok(doc)
    }

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
        let mut owners = Vec::with_capacity(inputs.len());
        let mut operands = Vec::with_capacity(inputs.len());
        for o in inputs {
            let (rv, schema) = self.at(&o.record, o.version)?;
            docs.push(self.open_document(&rv, &schema)?);
            owners.push(rv.owner.clone());
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
                ledger_circuits::prove_invoice(&pk, invoice, owners[0].as_str())
                    .map_err(unsatisfied)?
                    .0
            }
            (Relation::InvoiceLinked, [invoice, order, delivery]) => {
                let pk = self.proving_key(CircuitId::InvoiceLinked, keys)?;
                let owners = [0, 1, 2].map(|i| owners[i].as_str());
                ledger_circuits::prove_linked_invoice(&pk, invoice, order, delivery, owners)
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
