//! Following another node: the block driver of a node whose organisation is not a
//! validator. Blocks stream from the upstream node's public API; each is verified here
//! (height, parent, re-executed transactions and state root, validator commit signatures)
//! before it is stored, so a faulty or malicious upstream cannot make this node accept
//! anything the validators did not sign or the state machine does not produce.

use std::sync::Arc;
use std::time::Duration;

use ledger_types::Block;
use tokio::sync::watch;

use crate::ledger::Ledger;
use crate::transport::BlockSource;

/// Runs until `shutdown` turns true, reconnecting to `upstream` (named `name` in logs)
/// when the stream breaks.
pub async fn run(
    ledger: Arc<Ledger>,
    upstream: Arc<dyn BlockSource>,
    name: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if *shutdown.borrow() {
            break;
        }
        match follow(&ledger, upstream.as_ref(), &name, &mut shutdown).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(upstream = %name, error = %e, retry_ms = backoff.as_millis() as u64, "following the upstream node");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn follow(
    ledger: &Arc<Ledger>,
    upstream: &dyn BlockSource,
    name: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let status = upstream.status().await?;
    if status.genesis_hash != ledger.genesis_hash.0 {
        return Err(format!(
            "the upstream node is on another chain (genesis {}, ours {})",
            hex::encode(&status.genesis_hash),
            ledger.genesis_hash
        ));
    }
    let from = ledger.height() + 1;
    tracing::info!(upstream = %name, from, upstream_height = status.height, "following the upstream node");
    let mut stream = upstream.blocks(from).await?;
    loop {
        let bytes = tokio::select! {
            m = stream.next_block() => m.map_err(|e| format!("stream: {e}"))?,
            _ = shutdown.changed() => return Ok(()),
        };
        let Some(bytes) = bytes else {
            return Err("the upstream node closed the stream".into());
        };
        let block = Block::decode(&bytes)
            .map_err(|e| format!("the upstream sent a block that does not decode: {e}"))?;
        let height = block.height();
        if height <= ledger.height() {
            continue;
        }
        let l = ledger.clone();
        let result = tokio::task::spawn_blocking(move || l.apply_received(&block))
            .await
            .map_err(|e| e.to_string())?;
        match result {
            Ok(()) => tracing::debug!(height, "stored a verified block from upstream"),
            Err(e) => {
                tracing::error!(height, error = %e, "refused a block from the upstream node");
                return Err(format!("block {height} refused: {e}"));
            }
        }
    }
}
