//! Single-validator block production: the block driver of a one-validator chain.
//!
//! A block is built as soon as transactions wait (and the previous block is committed), or
//! after `interval_ms` with nothing waiting (an empty block shows the node is alive).
//! Consensus replaces this driver; the ledger calls it makes stay the same.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::ledger::Ledger;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs the producer until `shutdown` turns true. Finishes the block in progress first.
pub async fn run(ledger: Arc<Ledger>, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(ledger.block_config.interval_ms);
    let empty_blocks = !interval.is_zero();
    let mut last_block = Instant::now();
    let mut failures = 0u32;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let allow_empty = empty_blocks && last_block.elapsed() >= interval;
        let l = ledger.clone();
        let result = tokio::task::spawn_blocking(move || {
            let Some(proposal) = l.propose(now_ms(), allow_empty)? else {
                return Ok(None);
            };
            l.commit(&proposal)?;
            Ok::<_, crate::error::NodeError>(Some((
                proposal.block.height(),
                proposal.block.txs.len(),
                proposal.block.hash(),
            )))
        })
        .await;
        match result {
            Ok(Ok(Some((height, txs, hash)))) => {
                failures = 0;
                last_block = Instant::now();
                tracing::debug!(height, txs, %hash, "committed block");
            }
            Ok(Ok(None)) => {
                // Nothing ready: wait for a new transaction, the empty-block deadline, or
                // shutdown. Transactions waiting behind a nonce gap do not wake us.
                let wait = if empty_blocks {
                    interval.saturating_sub(last_block.elapsed())
                } else {
                    Duration::from_secs(3600)
                };
                tokio::select! {
                    _ = ledger.tx_arrived() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Ok(Err(e)) => {
                failures += 1;
                let backoff = Duration::from_millis(200 * u64::from(failures.min(25)));
                tracing::error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "could not produce a block; nothing was committed");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "block production task failed");
                break;
            }
        }
    }
    tracing::info!("block production stopped");
}
