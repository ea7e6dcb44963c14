//! Block validation's multi-core proof verification: before a block's transactions are
//! executed in order, their signatures and proofs are checked on all cores, each core
//! batching its share (ring signatures, Bulletproofs, Groth16) and falling back to one by
//! one only when a batch fails. Execution then skips what verified here and checks the
//! rest again, in order, so that a failure is named exactly as without preverification.

use ledger_crypto::verify_tx_signature;
use std::collections::{HashMap, HashSet};

use ledger_types::{ChainId, Endorse, Hash, Payload, Transaction};

use crate::TxRejection;

use crate::payload::cross_check::{add_proof, check_proof};
use crate::payload::endorse::{add_endorsement, verify_endorsement};
use crate::payload::{add_proofs, verify_proofs, Ctx};
use crate::{model, StateView};

/// Checks the signatures and stateless proofs of `txs` on all cores (rayon's pool) and
/// returns the hashes of those that verify under their signer's registered key (keys
/// cannot change after genesis, so the state before the block decides). Execution then skips them and checks
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
) -> HashSet<Hash> {
    preverify_detailed(view, chain_id, height, txs).ok
}

/// What [`preverify_detailed`] found: what verified, and how the others failed where that
/// is certain (a signature that does not verify under the signer's registered key, proofs
/// or a ring signature that do not verify). Admission passes both to the state machine's
/// checks ([`crate::SignatureCache`]), so nothing is verified twice, valid or not.
#[derive(Debug, Default)]
pub struct Preverified {
    /// Hashes (and Groth16 statement keys) that verified.
    pub ok: HashSet<Hash>,
    /// Transactions whose signature or proofs failed, with the rejection execution gives.
    pub failed: HashMap<Hash, TxRejection>,
}

impl crate::SignatureCache for Preverified {
    fn is_verified(&self, tx: &Hash) -> bool {
        self.ok.contains(tx)
    }

    fn known_failure(&self, tx: &Hash) -> Option<TxRejection> {
        self.failed.get(tx).cloned()
    }
}

/// Whether `tx` carries a proof that verifies faster in a batch than alone: a range or
/// audit-handle proof, a cross-check's sigma, range or Groth16 proof, a financing
/// request's Groth16 proof, an endorsement's ring signature. (An Ed25519 transaction
/// signature has no batch check here, see docs/benchmarks.md.)
pub fn has_batched_proofs(tx: &Transaction) -> bool {
    crate::payload::carries_proofs(tx)
        || matches!(
            tx.body().payload,
            Payload::CrossCheck(_) | Payload::Endorse(_) | Payload::FinanceRequest(_)
        )
}

/// Below this many transactions (and two proofs), [`preverify_detailed`] stays on the
/// calling thread.
const SIGNATURES_WORTH_SPREADING: usize = 32;

/// [`preverify`], also naming how the transactions that failed failed.
pub fn preverify_detailed<V: StateView + Sync>(
    view: &V,
    chain_id: &ChainId,
    height: u64,
    txs: &[&Transaction],
) -> Preverified {
    if txs.is_empty() {
        return Preverified::default();
    }
    // A few signatures are checked on this thread: handing them to the pool (waking its
    // threads, which then spin waiting for more) costs more than it saves. Proofs, or
    // many signatures, are worth spreading over the cores.
    let proofs = txs.iter().filter(|t| has_batched_proofs(t)).count();
    if proofs < 2 && txs.len() < SIGNATURES_WORTH_SPREADING {
        return preverify_part(view, chain_id, height, txs);
    }
    // On rayon's one pool (a thread per core, started once): concurrent calls share the
    // cores instead of each starting threads of its own.
    use rayon::prelude::*;
    let chunk = txs.len().div_ceil(rayon::current_num_threads().max(1));
    txs.par_chunks(chunk)
        .map(|part| preverify_part(view, chain_id, height, part))
        .reduce(Preverified::default, |mut a, b| {
            a.ok.extend(b.ok);
            a.failed.extend(b.failed);
            a
        })
}

fn preverify_part<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    height: u64,
    part: &[&Transaction],
) -> Preverified {
    let mut found = Preverified::default();
    // Anonymous endorsements: their ring signature is their signature. One batch (one
    // multiscalar multiplication) for this core's share; one by one if it fails.
    let mut rings = ledger_crypto::ring::RingBatch::new();
    let mut endorsements: Vec<(Hash, &Endorse)> = Vec::new();
    for t in part {
        if let Payload::Endorse(e) = &t.body().payload {
            match add_endorsement(view, chain_id, height, e, &mut rings) {
                Ok(_) => endorsements.push((t.hash(), e)),
                Err(r) => {
                    found.failed.insert(t.hash(), r);
                }
            }
        }
    }
    let started = std::time::Instant::now();
    let rings_ok = rings.verify().is_ok();
    if !endorsements.is_empty() {
        ledger_metrics::metrics().proofs_verified("ring", endorsements.len(), started.elapsed());
    }
    if rings_ok {
        found.ok.extend(endorsements.into_iter().map(|(h, _)| h));
    } else {
        for (h, e) in endorsements {
            match verify_endorsement(view, chain_id, height, e) {
                Ok(()) => {
                    found.ok.insert(h);
                }
                Err(r) => {
                    found.failed.insert(h, r);
                }
            }
        }
    }
    let mut signed: Vec<&Transaction> = Vec::with_capacity(part.len());
    for t in part.iter().copied() {
        if t.is_anonymous() {
            continue;
        }
        let Ok(Some(m)) = model::member(view, &t.body().signer) else {
            continue;
        };
        match verify_tx_signature(t, &m.signing_key) {
            Ok(()) => signed.push(t),
            Err(e) => {
                found.failed.insert(
                    t.hash(),
                    TxRejection::BadSignature {
                        signer: t.body().signer.clone(),
                        reason: e.to_string(),
                    },
                );
            }
        }
    }
    // Stateless proofs, and cross-checks' proofs over commitments this state holds (a
    // stored version's commitments never change): a transaction is verified here only if
    // all of its proofs are in the batch.
    let ctx = Ctx {
        view,
        chain_id,
        height,
    };
    let mut batch = ledger_proofs::BatchVerifier::new();
    let mut batched = Vec::with_capacity(signed.len());
    for t in &signed {
        let covered = match &t.body().payload {
            Payload::CrossCheck(c) => add_proof(c, &ctx, &t.body().signer, &mut batch),
            _ => add_proofs(view, chain_id, t, &mut batch, false).is_ok(),
        };
        if covered {
            batched.push(t.hash());
        }
    }
    let started = std::time::Instant::now();
    let batch_ok = batch.verify().is_ok();
    let with_proofs = signed
        .iter()
        .filter(|t| {
            crate::payload::carries_proofs(t) || matches!(t.body().payload, Payload::CrossCheck(_))
        })
        .count();
    if with_proofs > 0 {
        ledger_metrics::metrics().proofs_verified(
            crate::payload::RANGE_AND_SIGMA,
            with_proofs,
            started.elapsed(),
        );
    }
    if batch_ok {
        found.ok.extend(batched);
    } else {
        for t in &signed {
            if let Payload::CrossCheck(c) = &t.body().payload {
                // Against this state; a failure here may be an operand stored later in
                // the block: execution checks it again and names what failed.
                if check_proof(c, &ctx, &t.body().signer, false).is_ok() {
                    found.ok.insert(t.hash());
                }
                continue;
            }
            match verify_proofs(view, chain_id, t) {
                Ok(()) => {
                    found.ok.insert(t.hash());
                }
                Err(r) => {
                    found.failed.insert(t.hash(), r);
                }
            }
        }
    }
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
    let started = std::time::Instant::now();
    let groth16_ok = ledger_circuits::verify_batch(&items).is_ok();
    if !items.is_empty() {
        ledger_metrics::metrics().proofs_verified("groth16", items.len(), started.elapsed());
    }
    if groth16_ok {
        found.ok.extend(
            statements
                .iter()
                .map(|(t, st, _)| crate::circuits::statement_key(t, st)),
        );
    } else {
        for (t, st, _) in &statements {
            if crate::circuits::verify(view, st).is_ok() {
                found.ok.insert(crate::circuits::statement_key(t, st));
            }
        }
    }
    found
}
