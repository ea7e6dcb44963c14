//! A financing request: the seller assigns the receivable of an invoice to a bank. The
//! receivable is the delivered goods: the request names the invoice, the order and the
//! delivery note of a committed linked invoice check, and proves, in zero knowledge, the
//! nullifier derived from the delivery note, bound to this request, so that the same goods
//! cannot be financed twice, however the invoice is rewritten.

use ledger_circuits::{CircuitId, FinanceTerms};
use ledger_state::StateView;
use ledger_types::{DocumentKind, FinanceRequest, OrgId, RecordAt, RecordId, Relation};

use crate::resources::ProvingKeys;
use crate::{BuildError, Builder, OwnerOnly};

/// A request to finance an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinancingInput {
    /// The invoice record.
    pub invoice: RecordId,
    /// Its version (the latest when `None`).
    pub version: Option<u32>,
    /// The bank the receivable is assigned to.
    pub bank: OrgId,
}

impl<V: StateView> Builder<'_, V> {
    /// Assigns the receivable of an invoice this organisation owns (it is the seller) to a
    /// bank: finds the latest linked invoice check over this invoice version, opens its
    /// delivery note and proves the financing statement, bound to this chain, this seller,
    /// the bank, the invoice and the delivery note.
    pub fn request_financing(
        &self,
        input: &FinancingInput,
        keys: &dyn ProvingKeys,
    ) -> Result<FinanceRequest, BuildError> {
        let id = &input.invoice;
        let (rv, schema) = self.at(id, input.version)?;
        if schema.document != Some(DocumentKind::Invoice) {
            return Err(BuildError::NotAnInvoice {
                record: id.clone(),
                schema: schema.schema.clone(),
            });
        }
        if &rv.owner != self.org {
            return Err(BuildError::NotOwner {
                record: id.clone(),
                owner: rv.owner.clone(),
                only: OwnerOnly::Assign,
            });
        }
        let linked = ledger_state::cross_checks(self.view, id)?
            .into_iter()
            .rev()
            .find(|f| {
                f.check.relation == Relation::InvoiceLinked
                    && f.check.operands.first().map(|o| (&o.record, o.version))
                        == Some((id, rv.version))
            })
            .ok_or_else(|| BuildError::NoLinkedCheck {
                record: id.clone(),
                version: rv.version,
            })?;
        let [_, order, delivery] = &linked.check.operands[..] else {
            return Err(BuildError::internal(
                "a committed invoice-linked check without three operands",
            ));
        };
        let (dv, dschema) = self.at(&delivery.record, Some(delivery.version))?;
        let note = self.open_document(&dv, &dschema)?;
        let binding = ledger_circuits::finance_binding(&FinanceTerms {
            chain_id: self.chain.as_str(),
            seller: self.org.as_str(),
            bank: input.bank.as_str(),
            invoice: (id.as_str(), rv.version),
            delivery: (delivery.record.as_str(), delivery.version),
        });
        let pk = self.proving_key(CircuitId::Finance, keys)?;
        let (proof, public) =
            ledger_circuits::prove_finance(&pk, &note, binding).map_err(BuildError::Financing)?;
        let nullifier = public
            .get(1)
            .map(ledger_circuits::fr_to_bytes)
            .ok_or_else(|| BuildError::internal("the finance proof has no nullifier input"))?;
        let at = |record: &RecordId, version: u32| RecordAt {
            record: record.clone(),
            version,
        };
        let mut request = FinanceRequest {
            invoice: at(id, rv.version),
            order: at(&order.record, order.version),
            delivery: at(&delivery.record, delivery.version),
            bank: input.bank.clone(),
            nullifier,
            proof,
            amount: vec![],
        };
        // On a chain with analytics, the financed amount (the invoice total) encrypted
        // under the analytics key, proven for this request (docs/fhe.md).
        if let Some(analytics) = self.chain_analytics_keys(keys)? {
            let total = self.open_document(&rv, &schema)?.total;
            let context = ledger_state::amount_context(self.chain, &request);
            request.amount = ledger_fhe::encrypt_amount(&analytics, total, &context)
                .map_err(|e| BuildError::Analytics(e.to_string()))?
                .as_bytes()
                .to_vec();
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{org, po_put, record, Chain, NoProvingKeys};
    use ledger_state::TxOutcome;
    use ledger_types::{Payload, SchemaId};

    #[test]
    fn only_an_invoice_is_financed() {
        let mut c = Chain::new();
        let put = c
            .builder("bank-a")
            .put(
                &po_put("PO-1", true, &[("total", "1")], &[]),
                &NoProvingKeys,
            )
            .unwrap();
        assert_eq!(
            c.commit("bank-a", Payload::PutRecord(put)),
            TxOutcome::Applied
        );
        let b = c.builder("bank-b");
        let input = FinancingInput {
            invoice: record("PO-1"),
            version: None,
            bank: org("bank-b"),
        };
        assert_eq!(
            b.request_financing(&input, &NoProvingKeys).unwrap_err(),
            BuildError::NotAnInvoice {
                record: record("PO-1"),
                schema: SchemaId::new("po").unwrap(),
            }
        );
        let missing = FinancingInput {
            invoice: record("INV-9"),
            version: Some(2),
            bank: org("bank-b"),
        };
        assert_eq!(
            b.request_financing(&missing, &NoProvingKeys).unwrap_err(),
            BuildError::NoRecordVersion {
                record: record("INV-9"),
                version: 2,
            }
        );
    }
}
