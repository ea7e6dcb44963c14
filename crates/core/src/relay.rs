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
    next: impl FnMut() -> Option<Vec<u8>>,
) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
    let mut batch = vec![first];
    let rest = extend_batch(&mut batch, next);
    (batch, rest)
}

/// Adds to `batch` what `next` gives, within the bounds of [`fill_batch`]; returns the
/// transaction that did not fit, if any.
fn extend_batch(
    batch: &mut Vec<Vec<u8>>,
    mut next: impl FnMut() -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let mut bytes: usize = batch.iter().map(Vec::len).sum();
    while batch.len() < RELAY_BATCH_TXS {
        let t = next()?;
        if bytes + t.len() > RELAY_BATCH_BYTES {
            return Some(t);
        }
        bytes += t.len();
        batch.push(t);
    }
    None
}

/// How long a batch of fewer than [`RELAY_LINGER_BELOW`] transactions waits for more before
/// it is signed. Each batch costs one signature by the node's key (about 0.2 ms in
/// SoftHSM): under a light, steady load (a client submitting one transaction per call)
/// batches otherwise hold one transaction each, and the submitting validator spent more on
/// signing relays than on checking the transactions. A few milliseconds are small beside
/// a block's interval. Under heavy load batches fill without waiting.
pub const RELAY_LINGER: std::time::Duration = std::time::Duration::from_millis(3);
/// See [`RELAY_LINGER`].
pub const RELAY_LINGER_BELOW: usize = 64;

/// Runs one relay: sends what `rx` delivers, in signed batches (waiting up to `linger` for
/// more when a batch is small), until the channel closes. Each relay has its own queue and
/// task: a slow validator gets larger batches, and delays no other.
pub(crate) async fn run(
    relay: Arc<dyn Relay>,
    mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    signer: crate::ledger::SignerCell,
    chain: ChainId,
    from: OrgId,
    linger: std::time::Duration,
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
        let (mut txs, mut rest) = fill_batch(first, || rx.try_recv().ok());
        if rest.is_none() && txs.len() < RELAY_LINGER_BELOW && !linger.is_zero() {
            tokio::time::sleep(linger).await;
            rest = extend_batch(&mut txs, || rx.try_recv().ok());
        }
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

    /// Records what it is sent.
    struct Peer(std::sync::Mutex<Vec<RelayBatch>>);

    #[async_trait::async_trait]
    impl Relay for Peer {
        fn name(&self) -> &str {
            "peer"
        }
        async fn relay(&self, batch: RelayBatch) -> Result<(), String> {
            self.0.lock().unwrap().push(batch);
            Ok(())
        }
    }

    /// A transaction that follows the first of a small batch within the linger travels
    /// with it (one signature for both); one that comes after the linger travels alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_batch_waits_for_more_before_it_is_signed() {
        let peer = Arc::new(Peer(Default::default()));
        let key = ledger_crypto::Ed25519SoftwareKey::from_seed(&[3; 32]);
        let public = key.public_key();
        let cell: crate::ledger::SignerCell =
            Arc::new(std::sync::RwLock::new(Arc::new(key) as Arc<dyn Signer>));
        let (tx, rx) = tokio::sync::mpsc::channel(100);
        let chain = ChainId::new("c").unwrap();
        let from = OrgId::new("val-1").unwrap();
        let task = tokio::spawn(run(
            peer.clone(),
            rx,
            cell,
            chain.clone(),
            from.clone(),
            std::time::Duration::from_millis(300),
        ));
        tx.send(vec![1]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        tx.send(vec![2]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        tx.send(vec![3]).await.unwrap();
        drop(tx);
        task.await.unwrap();
        let batches = peer.0.lock().unwrap().clone();
        assert_eq!(
            batches.iter().map(|b| b.txs.clone()).collect::<Vec<_>>(),
            vec![vec![vec![1], vec![2]], vec![vec![3]]],
            "the second waited with the first, the third came after the linger"
        );
        for b in &batches {
            verify_digest(
                &public,
                &relay_digest(&chain, &from, b.sent_ms, &b.txs),
                &b.signature,
            )
            .unwrap();
        }
    }
}
