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
/// organisation that signs the transaction. Every operand must name a committed field of
/// a stored record version, checked here always; the proof itself is verified unless
/// `verified` says it was already, against the same stored commitments: by block
/// validation's batches ([`add_proof`]) or when this node admitted the transaction. A
/// stored version's commitments never change (a grant adds key wraps to the version,
/// nothing else), so a proof verified against them once stays verified.
pub(crate) fn check_proof<V: StateView>(
    check: &CrossCheck,
    ctx: &Ctx<'_, V>,
    filer: &OrgId,
    verified: bool,
) -> Result<(), TxRejection> {
    if matches!(check.relation, Relation::Invoice | Relation::InvoiceLinked) {
        // A Groth16 statement: see `circuits::statement`.
        return Ok(());
    }
    // Every operand must name a committed field of a stored record version: a check
    // over anything else is refused here, not passed on to execution.
    let commitments = operand_commitments(ctx, check, !verified)?.map_err(|(record, reason)| {
        TxRejection::InvalidProof {
            kind: "cross-check operand",
            record,
            reason,
        }
    })?;
    if verified {
        return Ok(());
    }
    let proof_ctx = proof_context(ctx.chain_id, check, filer);
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
                &at_most_data(check),
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

/// Adds a linear or at-most check's proof to `batch`, against the operands' commitments
/// stored in `ctx`'s state (preverification, see `crate::preverify`). True if the batch
/// now covers the check's proof, or there is none to cover (an invoice relation: its
/// Groth16 statement has a key of its own, see `circuits`). False if it cannot: an
/// operand this state does not hold (a record stored earlier in the same block) or a
/// malformed proof; execution then checks the proof alone and names what failed.
pub(crate) fn add_proof<V: StateView>(
    check: &CrossCheck,
    ctx: &Ctx<'_, V>,
    filer: &OrgId,
    batch: &mut ledger_proofs::BatchVerifier,
) -> bool {
    if matches!(check.relation, Relation::Invoice | Relation::InvoiceLinked) {
        return true;
    }
    let Ok(Ok(commitments)) = operand_commitments(ctx, check, true) else {
        return false;
    };
    let proof_ctx = proof_context(ctx.chain_id, check, filer);
    let added = match &check.relation {
        Relation::Linear(coeffs) => ledger_proofs::DlogProof::from_bytes(&check.proof)
            .and_then(|p| batch.add_linear(&proof_ctx, coeffs, &commitments, &p)),
        Relation::AtMost if commitments.len() == 2 => batch.add_at_most(
            &proof_ctx,
            &commitments[0],
            &commitments[1],
            &at_most_data(check),
        ),
        _ => return false,
    };
    added.is_ok()
}

/// An at-most check's proof: a range proof on the difference, no padding.
fn at_most_data(check: &CrossCheck) -> ledger_proofs::RangeProofData {
    ledger_proofs::RangeProofData {
        padding: vec![],
        proof: check.proof.clone(),
    }
}

/// What a check's proof is bound to: the chain, each operand's record, version and field,
/// and the organisation filing it.
fn proof_context(
    chain_id: &ledger_types::ChainId,
    check: &CrossCheck,
    filer: &OrgId,
) -> ledger_proofs::Context {
    ledger_proofs::Context {
        chain_id: chain_id.to_string(),
        items: check
            .operands
            .iter()
            .map(|o| (o.record.to_string(), o.version, o.field.to_string()))
            .collect(),
    }
    .filed_by(filer.as_str())
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

/// The operands' commitments (parsed only with `parse`: empty otherwise), or the first
/// operand that does not name a committed field of a stored record version, and why.
fn operand_commitments<V: StateView>(
    ctx: &Ctx<'_, V>,
    c: &CrossCheck,
    parse: bool,
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
        if !parse {
            continue;
        }
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
