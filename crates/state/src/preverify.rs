//! Block validation's multi-core proof verification: before a block's transactions are
//! executed in order, their signatures and proofs are checked on all cores, each core
//! batching its share (ring signatures, Bulletproofs, Groth16) and falling back to one by
//! one only when a batch fails. Execution then skips what verified here and checks the
//! rest again, in order, so that a failure is named exactly as without preverification.

use ledger_crypto::verify_tx_signature;
use ledger_types::{ChainId, Endorse, Hash, Payload, Transaction};

use crate::payload::endorse::{add_endorsement, verify_endorsement};
use crate::payload::{add_proofs, verify_proofs};
use crate::{model, StateView};

/// Checks the signatures and stateless proofs of `txs` on all cores and returns the hashes
/// of those that verify under their signer's registered key (keys cannot change after
/// genesis, so the state before the block decides). Execution then skips them and checks
/// the others again, in order, naming the failure.
///
/// Each core checks its share of the proofs as one batch (one multiscalar multiplication,
/// see `ledger_proofs::BatchVerifier`); only if a batch fails are its proofs checked one
/// by one, to find which transactions carry the bad ones.
pub fn preverify<V: StateView + Sync>(
    view: &V,
    chain_id: &ChainId,
    height: u64,
    txs: &[&Transaction],
) -> std::collections::HashSet<Hash> {
    if txs.is_empty() {
        return Default::default();
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(txs.len());
    let chunk = txs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = txs
            .chunks(chunk)
            .map(|part| s.spawn(move || preverify_part(view, chain_id, height, part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn preverify_part<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    height: u64,
    part: &[&Transaction],
) -> Vec<Hash> {
    // Anonymous endorsements: their ring signature is their signature. One batch (one
    // multiscalar multiplication) for this core's share; one by one if it fails.
    let mut rings = ledger_crypto::ring::RingBatch::new();
    let endorsements: Vec<(Hash, &Endorse)> = part
        .iter()
        .filter_map(|t| match &t.body().payload {
            Payload::Endorse(e) => add_endorsement(view, chain_id, height, e, &mut rings)
                .ok()
                .map(|_| (t.hash(), e)),
            _ => None,
        })
        .collect();
    let endorsed: Vec<Hash> = if rings.verify().is_ok() {
        endorsements.into_iter().map(|(h, _)| h).collect()
    } else {
        endorsements
            .into_iter()
            .filter(|(_, e)| verify_endorsement(view, chain_id, height, e).is_ok())
            .map(|(h, _)| h)
            .collect()
    };
    let signed: Vec<&Transaction> = part
        .iter()
        .copied()
        .filter(|t| {
            model::member(view, &t.body().signer)
                .ok()
                .flatten()
                .is_some_and(|m| verify_tx_signature(t, &m.signing_key).is_ok())
        })
        .collect();
    let mut batch = ledger_proofs::BatchVerifier::new();
    let mut batched = Vec::with_capacity(signed.len());
    for t in &signed {
        if add_proofs(view, chain_id, t, &mut batch, false).is_ok() {
            batched.push(t.hash());
        }
    }
    let mut out = if batch.verify().is_ok() {
        batched
    } else {
        signed
            .iter()
            .filter(|t| verify_proofs(view, chain_id, t).is_ok())
            .map(|t| t.hash())
            .collect()
    };
    // Groth16 proofs whose records are already stored: verified here, on this core, as one
    // batch (one final exponentiation), and named by their statement key so that
    // execution can skip exactly those. A failing batch is checked one by one.
    let mut statements = Vec::new();
    for t in &signed {
        if let Ok(Some(st)) = crate::circuits::statement(view, chain_id, t) {
            if let Ok(Some(vk)) = crate::circuits::verifying_key(view, st.circuit) {
                statements.push((*t, st, vk));
            }
        }
    }
    let items: Vec<(
        &ledger_circuits::VerifyingKey,
        &[ledger_circuits::Fr],
        &[u8],
    )> = statements
        .iter()
        .map(|(_, st, vk)| (vk.as_ref(), st.inputs.as_slice(), st.proof))
        .collect();
    if ledger_circuits::verify_batch(&items).is_ok() {
        out.extend(
            statements
                .iter()
                .map(|(t, st, _)| crate::circuits::statement_key(t, st)),
        );
    } else {
        for (t, st, _) in &statements {
            if crate::circuits::verify(view, st).is_ok() {
                out.push(crate::circuits::statement_key(t, st));
            }
        }
    }
    out.extend(endorsed);
    out
}
