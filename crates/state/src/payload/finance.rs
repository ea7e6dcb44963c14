//! `FinanceRequest`: a reader of an invoice asks to finance it. The invoice must be a
//! stored invoice document the requester owns or reads, and its receivable nullifier
//! must be unused: a second financing of the same receivable fails, naming the first.
//! (The Groth16 proof that the nullifier derives from the invoice's document commitment
//! and binds this requester is checked before execution, see `circuits`.)

use ledger_types::{FieldName, FinanceRequest, Hash, RegisterMember};

use super::{Ctx, PayloadHandler, Writes};
use crate::error::{ExecError, StateError, TxFailure};
use crate::{keys, model, StateView};

impl PayloadHandler for FinanceRequest {
    fn execute<V: StateView>(
        &self,
        ctx: &Ctx<'_, V>,
        signer: &RegisterMember,
        tx_hash: Hash,
    ) -> Result<Writes, ExecError> {
        let Some(v) = model::record_version(ctx.view, &self.invoice, self.version)? else {
            return Err(TxFailure::RecordVersionNotFound {
                record: self.invoice.clone(),
                version: self.version,
            }
            .into());
        };
        let doc = crate::circuits::document_of(ctx.view, &v)?;
        if doc.map(|(k, _)| k) != Some(ledger_types::DocumentKind::Invoice) {
            return Err(TxFailure::NotADocument {
                record: self.invoice.clone(),
                version: self.version,
                expected: "invoice",
            }
            .into());
        }
        let field = FieldName::new(ledger_types::DOCUMENT_FIELD)
            .map_err(|e| StateError::Storage(e.to_string()))?;
        if v.owner != signer.org && !v.can_read(&field, &signer.org) {
            return Err(TxFailure::NotAReader {
                record: self.invoice.clone(),
                field,
                reader: signer.org.clone(),
            }
            .into());
        }
        if let Some(earlier) = model::financing(ctx.view, &self.nullifier)? {
            return Err(TxFailure::AlreadyFinanced {
                record: self.invoice.clone(),
                version: self.version,
                earlier_tx: earlier.tx_hash,
                earlier_height: earlier.height,
                by: earlier.by,
            }
            .into());
        }
        let entry = model::Financing {
            height: ctx.height,
            tx_hash,
            by: signer.org.clone(),
            invoice: self.invoice.clone(),
            version: self.version,
        };
        Ok(vec![(keys::nullifier(&self.nullifier), entry.encode())])
    }
}
