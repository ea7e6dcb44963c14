//! Relaying admitted transactions between validators, authenticated: a relayed batch
//! names the validator that sent it, when, and carries that validator's signature over
//! the chain, the sender, the time and every transaction's bytes. A node takes relayed
//! batches only from validators of the chain (whose signing keys are in state); anyone
//! else submits one transaction at a time through `SubmitTx`, like every client.

use std::sync::Arc;

use ledger_crypto::{verify_digest, Signer};
use ledger_types::hash::Hasher as _;
use ledger_types::{ChainId, Hash, HashSuite, OrgId, Signature};

use crate::transport::Relay;

/// Most bytes of transactions in one relayed batch (a larger transaction travels alone).
/// The public API's message limit is set from it.
pub const RELAY_BATCH_BYTES: usize = 1024 * 1024;
/// Most transactions in one relayed batch.
pub const RELAY_BATCH_TXS: usize = 2000;
/// How far a relayed batch's time may be from the receiver's clock.
pub const RELAY_CLOCK_SLACK_MS: u64 = 120_000;

/// A batch of admitted transactions sent to another validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayBatch {
    /// Canonical transaction bytes.
    pub txs: Vec<Vec<u8>>,
    /// The validator that sends it.
    pub from: OrgId,
    /// When it was sent (the sender's clock, ms since the Unix epoch).
    pub sent_ms: u64,
    /// The sender's signature over [`relay_digest`].
    pub signature: Signature,
}

/// What a relaying validator signs.
pub fn relay_digest(chain: &ChainId, from: &OrgId, sent_ms: u64, txs: &[Vec<u8>]) -> Hash {
    let mut h = HashSuite::current().hasher();
    for tx in txs {
        h.update(&(tx.len() as u64).to_be_bytes());
        h.update(tx);
    }
    let body = h.finalize();
    HashSuite::current().digest(
        "cl/relay/v1",
        &[
            chain.as_str().as_bytes(),
            &[0],
            from.as_str().as_bytes(),
            &[0],
            &sent_ms.to_be_bytes(),
            &body.0,
        ],
    )
}

/// Signs `txs` as `from` for relaying (a blocking call: the key may be in an HSM).
pub fn sign_batch(
    signer: &dyn Signer,
    chain: &ChainId,
    from: &OrgId,
    txs: Vec<Vec<u8>>,
) -> Result<RelayBatch, String> {
    let sent_ms = ledger_consensus::app::now_ms();
    let signature = signer
        .sign_digest(&relay_digest(chain, from, sent_ms, &txs))
        .map_err(|e| format!("signing a relayed batch: {e}"))?;
    Ok(RelayBatch {
        txs,
        from: from.clone(),
        sent_ms,
        signature,
    })
}

/// Checks that `batch` comes from a validator of the chain whose state is `view`.
pub fn check_batch(
    view: &impl ledger_state::StateView,
    chain: &ChainId,
    batch: &RelayBatch,
) -> Result<(), String> {
    let validators = ledger_state::validators(view).map_err(|e| e.to_string())?;
    if !validators.contains(&batch.from) {
        return Err(format!(
            "{} is not a validator of this chain: only validators relay transactions (clients use SubmitTx)",
            batch.from
        ));
    }
    let now = ledger_consensus::app::now_ms();
    if batch.sent_ms.abs_diff(now) > RELAY_CLOCK_SLACK_MS {
        return Err(format!(
            "the batch's time {} is more than {} s from this node's clock {now}",
            batch.sent_ms,
            RELAY_CLOCK_SLACK_MS / 1000
        ));
    }
    let member = ledger_state::member(view, &batch.from)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("validator {} has no member entry", batch.from))?;
    let digest = relay_digest(chain, &batch.from, batch.sent_ms, &batch.txs);
    verify_digest(&member.signing_key, &digest, &batch.signature).map_err(|e| {
        format!(
            "the batch's signature by {} does not verify: {e}",
            batch.from
        )
    })
}

/// Cuts a queue of transactions into batches within [`RELAY_BATCH_TXS`] and
/// [`RELAY_BATCH_BYTES`]: takes from `next` (which returns `None` when nothing waits) after
/// `first`; returns the batch and the transaction that did not fit, if any.
pub fn fill_batch(
    first: Vec<u8>,
    mut next: impl FnMut() -> Option<Vec<u8>>,
) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
    let mut bytes = first.len();
    let mut batch = vec![first];
    while batch.len() < RELAY_BATCH_TXS {
        let Some(t) = next() else { break };
        if bytes + t.len() > RELAY_BATCH_BYTES {
            return (batch, Some(t));
        }
        bytes += t.len();
        batch.push(t);
    }
    (batch, None)
}

/// Runs one relay: sends what `rx` delivers, in signed batches, until the channel closes.
pub(crate) async fn run(
    relay: Arc<dyn Relay>,
    mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    signer: crate::ledger::SignerCell,
    chain: ChainId,
    from: OrgId,
) {
    let mut carry: Option<Vec<u8>> = None;
    loop {
        let first = match carry.take() {
            Some(t) => t,
            None => match rx.recv().await {
                Some(t) => t,
                None => return,
            },
        };
        let (txs, rest) = fill_batch(first, || rx.try_recv().ok());
        carry = rest;
        let n = txs.len();
        let s = signer.read().unwrap_or_else(|p| p.into_inner()).clone();
        let (c, f) = (chain.clone(), from.clone());
        let signed = tokio::task::spawn_blocking(move || sign_batch(s.as_ref(), &c, &f, txs))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        let batch = match signed {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(relay = relay.name(), txs = n, error = %e, "not relaying a batch");
                continue;
            }
        };
        if let Err(e) = relay.relay(batch).await {
            tracing::debug!(relay = relay.name(), txs = n, error = %e, "relaying transactions failed");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn batches_are_cut_by_count_and_bytes() {
        let mut q: Vec<Vec<u8>> = (0..10).map(|_| vec![0; 400_000]).collect();
        q.reverse();
        let first = q.pop().unwrap();
        let (batch, rest) = fill_batch(first, || q.pop());
        assert_eq!(batch.len(), 2, "two of 400 KB fit in 1 MiB");
        assert!(rest.is_some());
        let mut small: Vec<Vec<u8>> = (0..5000).map(|_| vec![0; 100]).collect();
        let (batch, rest) = fill_batch(vec![0; 100], || small.pop());
        assert_eq!(batch.len(), RELAY_BATCH_TXS);
        assert!(rest.is_none());
        // A transaction larger than the byte bound travels alone.
        let (batch, rest) = fill_batch(vec![0; 2 << 20], || Some(vec![1]));
        assert_eq!((batch.len(), rest), (1, Some(vec![1])));
    }

    #[test]
    fn the_digest_binds_chain_sender_time_and_every_byte() {
        let chain = ChainId::new("c").unwrap();
        let a = OrgId::new("val-1").unwrap();
        let txs = vec![vec![1, 2], vec![3]];
        let d = relay_digest(&chain, &a, 5, &txs);
        assert_ne!(d, relay_digest(&ChainId::new("d").unwrap(), &a, 5, &txs));
        assert_ne!(
            d,
            relay_digest(&chain, &OrgId::new("val-2").unwrap(), 5, &txs)
        );
        assert_ne!(d, relay_digest(&chain, &a, 6, &txs));
        assert_ne!(d, relay_digest(&chain, &a, 5, &[vec![1], vec![2, 3]]));
        assert_ne!(d, relay_digest(&chain, &a, 5, &txs[..1]));
    }
}
