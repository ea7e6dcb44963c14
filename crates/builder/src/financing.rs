//! A financing request: proof, in zero knowledge, that this organisation can read a
//! committed invoice, with the receivable's nullifier bound to the request so that the
//! same invoice cannot be financed twice, by anyone.

use ledger_circuits::CircuitId;
use ledger_state::StateView;
use ledger_types::{DocumentKind, FinanceRequest, RecordId};

use crate::resources::ProvingKeys;
use crate::{BuildError, Builder};

/// A request to finance an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinancingInput {
    /// The invoice record.
    pub invoice: RecordId,
    /// Its version (the latest when `None`).
    pub version: Option<u32>,
}

impl<V: StateView> Builder<'_, V> {
    /// Opens the invoice this organisation can read and proves the financing statement,
    /// bound to this chain, this organisation and the invoice version.
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
        let doc = self.open_document(&rv, &schema)?;
        let binding = ledger_circuits::finance_binding(
            self.chain.as_str(),
            self.org.as_str(),
            id.as_str(),
            rv.version,
        );
        let pk = self.proving_key(CircuitId::Finance, keys)?;
        let (proof, public) =
            ledger_circuits::prove_finance(&pk, &doc, binding).map_err(BuildError::Financing)?;
        let nullifier = public
            .get(1)
            .map(ledger_circuits::fr_to_bytes)
            .ok_or_else(|| BuildError::internal("the finance proof has no nullifier input"))?;
        Ok(FinanceRequest {
            invoice: id.clone(),
            version: rv.version,
            nullifier,
            proof,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{po_put, record, Chain, NoProvingKeys};
    use ledger_state::TxOutcome;
    use ledger_types::{Payload, SchemaId};

    #[test]
    fn only_an_invoice_is_financed() {
        let mut c = Chain::new();
        let put = c
            .builder("bank-a")
            .put(&po_put("PO-1", true, &[("total", "1")], &[]))
            .unwrap();
        assert_eq!(
            c.commit("bank-a", Payload::PutRecord(put)),
            TxOutcome::Applied
        );
        let b = c.builder("bank-b");
        let input = FinancingInput {
            invoice: record("PO-1"),
            version: None,
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
