//! `CrossCheck`: a proof, by a party that reads every operand, that committed values in
//! stored records satisfy a relation. Linear and at-most relations are Bulletproofs over
//! the operands' Pedersen commitments, checked here against this state before execution
//! (a proof that does not verify refuses the transaction); invoice relations are Groth16
//! proofs over the records' document commitments (see `circuits`). Execution checks that
//! every operand exists, is of the right document kind or carries a commitment, and is
//! readable by the signer, then files the check on each operand's record.

use std::collections::BTreeSet;

use ledger_types::{CrossCheck, Hash, OrgId, RecordId, RegisterMember, Relation};

use super::{Ctx, PayloadHandler, Writes};
use crate::error::{ExecError, StateError, TxFailure, TxRejection};
use crate::{model, StateView};

/// A cross-check's proof is about stored commitments and bound to `filer`, the
/// organisation that signs the transaction: checked against this state, always (the
/// signature cache does not cover it).
pub(crate) fn check_proof<V: StateView>(
    check: &CrossCheck,
    ctx: &Ctx<'_, V>,
    filer: &OrgId,
) -> Result<(), TxRejection> {
    if matches!(check.relation, Relation::Invoice | Relation::InvoiceLinked) {
        // A Groth16 statement: see `circuits::statement`.
        return Ok(());
    }
    // Every operand must name a committed field of a stored record version: a check
    // over anything else is refused here, not passed on to execution.
    let commitments = match operand_commitments(ctx, check)? {
        Ok(c) => c,
        Err((record, reason)) => {
            return Err(TxRejection::InvalidProof {
                kind: "cross-check operand",
                record,
                reason,
            })
        }
    };
    let proof_ctx = ledger_proofs::Context {
        chain_id: ctx.chain_id.to_string(),
        items: check
            .operands
            .iter()
            .map(|o| (o.record.to_string(), o.version, o.field.to_string()))
            .collect(),
    }
    .filed_by(filer.as_str());
    let (kind, result) = match &check.relation {
        Relation::Linear(coeffs) => (
            "linear relation",
            ledger_proofs::DlogProof::from_bytes(&check.proof)
                .and_then(|p| ledger_proofs::verify_linear(&proof_ctx, coeffs, &commitments, &p)),
        ),
        Relation::AtMost => (
            "at-most",
            ledger_proofs::verify_at_most(
                &proof_ctx,
                &commitments[0],
                &commitments[1],
                &ledger_proofs::RangeProofData {
                    padding: vec![],
                    proof: check.proof.clone(),
                },
            ),
        ),
        Relation::Invoice | Relation::InvoiceLinked => return Ok(()),
    };
    result.map_err(|e| TxRejection::InvalidProof {
        kind,
        record: check.operands[0].record.clone(),
        reason: e.to_string(),
    })
}

impl PayloadHandler for CrossCheck {
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

/// The operands' commitments, or the first operand that does not name a committed field
/// of a stored record version, and why.
fn operand_commitments<V: StateView>(
    ctx: &Ctx<'_, V>,
    c: &CrossCheck,
) -> Result<Result<Vec<ledger_proofs::Commitment>, (RecordId, String)>, StateError> {
    let mut out = Vec::with_capacity(c.operands.len());
    for o in &c.operands {
        let at = |why: String| Ok(Err((o.record.clone(), why)));
        let Some(v) = model::record_version(ctx.view, &o.record, o.version)? else {
            return at(format!("{} version {} does not exist", o.record, o.version));
        };
        let Some(fc) = v.commitment(&o.field) else {
            return at(format!(
                "{} version {} has no commitment for field {}",
                o.record, o.version, o.field
            ));
        };
        match ledger_proofs::Commitment::from_bytes(&fc.commitment) {
            Ok(cm) => out.push(cm),
            Err(e) => {
                return at(format!(
                    "the commitment of {} version {} field {} is malformed: {e}",
                    o.record, o.version, o.field
                ))
            }
        }
    }
    Ok(Ok(out))
}
