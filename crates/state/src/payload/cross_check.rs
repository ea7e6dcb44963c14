//! `CrossCheck`: a proof, by a party that reads every operand, that committed values in
//! stored records satisfy a relation. Linear and at-most relations are Bulletproofs over
//! the operands' Pedersen commitments, checked here against this state before execution
//! (a proof that does not verify refuses the transaction); invoice relations are Groth16
//! proofs over the records' document commitments (see `circuits`). Execution checks that
//! every operand exists, is of the right document kind or carries a commitment, and is
//! readable by the signer, then files the check on each operand's record.

use std::collections::BTreeSet;

use ledger_types::{CrossCheck, Hash, RegisterMember, Relation};

use super::{Ctx, PayloadHandler, Writes};
use crate::error::{ExecError, StateError, TxFailure, TxRejection};
use crate::{model, StateView};

impl PayloadHandler for CrossCheck {
    /// Its proof is about stored commitments: checked against this state, always (the
    /// signature cache does not cover it).
    fn check_stateful<V: StateView>(&self, ctx: &Ctx<'_, V>) -> Result<(), TxRejection> {
        if matches!(self.relation, Relation::Invoice | Relation::InvoiceLinked) {
            // A Groth16 statement: see `circuits::statement`.
            return Ok(());
        }
        let Some(commitments) = operand_commitments(ctx, self)? else {
            return Ok(());
        };
        let proof_ctx = ledger_proofs::Context {
            chain_id: ctx.chain_id.to_string(),
            items: self
                .operands
                .iter()
                .map(|o| (o.record.to_string(), o.version, o.field.to_string()))
                .collect(),
        };
        let (kind, result) = match &self.relation {
            Relation::Linear(coeffs) => (
                "linear relation",
                ledger_proofs::DlogProof::from_bytes(&self.proof).and_then(|p| {
                    ledger_proofs::verify_linear(&proof_ctx, coeffs, &commitments, &p)
                }),
            ),
            Relation::AtMost => (
                "at-most",
                ledger_proofs::verify_at_most(
                    &proof_ctx,
                    &commitments[0],
                    &commitments[1],
                    &ledger_proofs::RangeProofData {
                        padding: vec![],
                        proof: self.proof.clone(),
                    },
                ),
            ),
            Relation::Invoice | Relation::InvoiceLinked => return Ok(()),
        };
        result.map_err(|e| TxRejection::InvalidProof {
            kind,
            record: self.operands[0].record.clone(),
            reason: e.to_string(),
        })
    }

    fn execute<V: StateView>(
        &self,
        ctx: &Ctx<'_, V>,
        signer: &RegisterMember,
        tx_hash: Hash,
    ) -> Result<Writes, ExecError> {
        use ledger_types::DocumentKind as K;
        let documents: Option<&[K]> = match self.relation {
            Relation::Invoice => Some(&[K::Invoice]),
            Relation::InvoiceLinked => Some(&[K::Invoice, K::PurchaseOrder, K::DeliveryNote]),
            _ => None,
        };
        for (i, o) in self.operands.iter().enumerate() {
            let Some(v) = model::record_version(ctx.view, &o.record, o.version)? else {
                return Err(TxFailure::RecordVersionNotFound {
                    record: o.record.clone(),
                    version: o.version,
                }
                .into());
            };
            if let Some(kinds) = documents {
                let got = crate::circuits::document_of(ctx.view, &v)?;
                if got.map(|(k, _)| k) != Some(kinds[i]) {
                    return Err(TxFailure::NotADocument {
                        record: o.record.clone(),
                        version: o.version,
                        expected: kinds[i].name(),
                    }
                    .into());
                }
            } else if v.commitment(&o.field).is_none() {
                return Err(TxFailure::FieldNotInRecord {
                    record: o.record.clone(),
                    version: o.version,
                    field: o.field.clone(),
                }
                .into());
            }
            if v.owner != signer.org && !v.can_read(&o.field, &signer.org) {
                return Err(TxFailure::NotAReader {
                    record: o.record.clone(),
                    field: o.field.clone(),
                    reader: signer.org.clone(),
                }
                .into());
            }
        }
        let mut writes = Vec::new();
        let mut seen = BTreeSet::new();
        for o in &self.operands {
            if !seen.insert(o.record.clone()) {
                continue;
            }
            writes.extend(model::append_check(
                ctx.view,
                &o.record,
                &model::FiledCheck {
                    height: ctx.height,
                    tx_hash,
                    by: signer.org.clone(),
                    check: self.clone(),
                },
            )?);
        }
        Ok(writes)
    }
}

/// The operands' commitments, if every operand names a committed field of a stored
/// record version (otherwise execution reports which one does not).
fn operand_commitments<V: StateView>(
    ctx: &Ctx<'_, V>,
    c: &CrossCheck,
) -> Result<Option<Vec<ledger_proofs::Commitment>>, StateError> {
    let mut out = Vec::with_capacity(c.operands.len());
    for o in &c.operands {
        let Some(v) = model::record_version(ctx.view, &o.record, o.version)? else {
            return Ok(None);
        };
        let Some(fc) = v.commitment(&o.field) else {
            return Ok(None);
        };
        match ledger_proofs::Commitment::from_bytes(&fc.commitment) {
            Ok(cm) => out.push(cm),
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(out))
}
