//! `FinanceRequest`: a seller assigns the receivable of an invoice to a financing bank.
//!
//! Refused unless: the signer owns the invoice record (only the seller assigns: not a
//! reader, not a revoked reader, not an auditor, not a member who copied the invoice's
//! fields into a record of its own); the invoice, order and delivery-note versions exist
//! with documents of those kinds; a linked invoice check over exactly these three
//! versions is committed (it proves that the invoice bills the delivered quantities at
//! the ordered prices, the order written by the buyer and the delivery note by the carrier
//! or the buyer); the bank is a member bank in good standing that reads the invoice; and
//! the receivable's nullifier, derived from the delivery note, is unused: a second
//! financing of the same goods fails, naming the first, whatever the invoice says. (The
//! Groth16 proof that the nullifier derives from the delivery note's commitment and binds
//! this request is checked before execution, see `circuits`.)

use ledger_types::{
    DocumentKind, FieldName, FinanceRequest, Hash, RecordAt, RegisterMember, Relation, Role,
};

use super::{Ctx, PayloadHandler, Writes};
use crate::error::{ExecError, FirstFinancing, StateError, TxFailure, TxRejection};
use crate::{keys, model, StateView};

/// The stored version `at`, which must hold a document of `kind`.
fn document_version<V: StateView>(
    view: &V,
    at: &RecordAt,
    kind: DocumentKind,
) -> Result<model::RecordVersion, ExecError> {
    let Some(v) = model::record_version(view, &at.record, at.version)? else {
        return Err(TxFailure::RecordVersionNotFound {
            record: at.record.clone(),
            version: at.version,
        }
        .into());
    };
    if crate::circuits::document_of(view, &v)?.map(|(k, _)| k) != Some(kind) {
        return Err(TxFailure::NotADocument {
            record: at.record.clone(),
            version: at.version,
            expected: kind.name(),
        }
        .into());
    }
    Ok(v)
}

impl PayloadHandler for FinanceRequest {
    /// On a chain with analytics, the encrypted amount must be there and its proof of
    /// encryption must verify for this request (a forged or replayed one refuses the
    /// request); on a chain without, there must be none.
    fn check_stateful<V: StateView>(&self, ctx: &Ctx<'_, V>) -> Result<(), TxRejection> {
        let bad = |reason: String| TxRejection::InvalidProof {
            kind: "encrypted amount",
            record: self.invoice.record.clone(),
            reason,
        };
        match model::analytics_config(ctx.view)? {
            None if self.amount.is_empty() => Ok(()),
            None => Err(bad(
                "this chain has no analytics key: a financing request carries no encrypted amount"
                    .into(),
            )),
            Some(_) if self.amount.is_empty() => Err(bad(
                "this chain's analytics need the financed amount encrypted under its analytics key"
                    .into(),
            )),
            Some(c) => crate::analytics::check_amount(&c.keys_id, ctx.chain_id, self).map_err(bad),
        }
    }

    fn execute<V: StateView>(
        &self,
        ctx: &Ctx<'_, V>,
        signer: &RegisterMember,
        tx_hash: Hash,
    ) -> Result<Writes, ExecError> {
        let invoice = document_version(ctx.view, &self.invoice, DocumentKind::Invoice)?;
        if invoice.owner != signer.org {
            return Err(TxFailure::NotTheSeller {
                record: self.invoice.record.clone(),
                owner: invoice.owner.clone(),
                signer: signer.org.clone(),
            }
            .into());
        }
        let order = document_version(ctx.view, &self.order, DocumentKind::PurchaseOrder)?;
        document_version(ctx.view, &self.delivery, DocumentKind::DeliveryNote)?;
        let not_a_bank = |reason: String| -> ExecError {
            TxFailure::NotAFinancingBank {
                record: self.invoice.record.clone(),
                bank: self.bank.clone(),
                reason,
            }
            .into()
        };
        match model::member(ctx.view, &self.bank)? {
            None => return Err(not_a_bank("no such member in the directory".into())),
            Some(m) if !m.has_role(Role::Member) => {
                return Err(not_a_bank("it is not a bank (member role)".into()))
            }
            Some(_) => {}
        }
        if model::standing(ctx.view, &self.bank)? != model::Standing::Good {
            return Err(not_a_bank("it is suspended or removed".into()));
        }
        let field = FieldName::new(ledger_types::DOCUMENT_FIELD)
            .map_err(|e| StateError::Storage(e.to_string()))?;
        if self.bank == signer.org || !invoice.can_read(&field, &self.bank) {
            return Err(not_a_bank(format!(
                "it cannot read the invoice's document (version {}): grant it first",
                self.invoice.version
            )));
        }
        let linked = model::cross_checks(ctx.view, &self.invoice.record)?
            .into_iter()
            .any(|f| {
                f.check.relation == Relation::InvoiceLinked
                    && f.check.operands.iter().map(|o| (&o.record, o.version)).eq([
                        &self.invoice,
                        &self.order,
                        &self.delivery,
                    ]
                    .map(|a| (&a.record, a.version)))
            });
        if !linked {
            return Err(TxFailure::NoLinkedCheck {
                documents: Box::new([
                    self.invoice.clone(),
                    self.order.clone(),
                    self.delivery.clone(),
                ]),
            }
            .into());
        }
        if let Some(earlier) = model::financing(ctx.view, &self.nullifier)? {
            return Err(TxFailure::AlreadyFinanced {
                record: self.invoice.record.clone(),
                version: self.invoice.version,
                first: Box::new(FirstFinancing {
                    tx: earlier.tx_hash,
                    height: earlier.height,
                    by: earlier.by,
                    bank: earlier.bank,
                    invoice: RecordAt {
                        record: earlier.invoice,
                        version: earlier.version,
                    },
                }),
            }
            .into());
        }
        let entry = model::Financing {
            height: ctx.height,
            tx_hash,
            by: signer.org.clone(),
            bank: self.bank.clone(),
            invoice: self.invoice.record.clone(),
            version: self.invoice.version,
            delivery: self.delivery.record.clone(),
            delivery_version: self.delivery.version,
        };
        let mut writes = vec![(keys::nullifier(&self.nullifier), entry.encode())];
        // The buyer is the owner of the purchase order (the circuits bind it): its
        // financings are what analytics queries about it sum.
        if model::analytics_config(ctx.view)?.is_some() {
            writes.extend(model::append_buyer_financing(
                ctx.view,
                &order.owner,
                &model::BuyerFinancing {
                    bank: self.bank.clone(),
                    tx: tx_hash,
                },
            )?);
        }
        Ok(writes)
    }
}
