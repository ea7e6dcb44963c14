//! Following another node: the block driver of a node whose organisation is not a
//! validator. Blocks stream from the upstream node's public API; each is verified here
//! (height, parent, re-executed transactions and state root, validator commit signatures)
//! before it is stored, so a faulty or malicious upstream cannot make this node accept
//! anything the validators did not sign or the state machine does not produce.

use std::sync::Arc;
use std::time::Duration;

use ledger_types::Block;
use tokio::sync::watch;

use crate::error::NodeError;
use crate::ledger::Ledger;
use crate::transport::BlockSource;

/// Why following ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowEnd {
    /// The node is shutting down.
    Shutdown,
    /// `promote` turned true: this node takes part in consensus from the next height.
    Promoted,
}

/// Whether following should stop after a block: a check of the ledger after each one.
pub type Promote = Arc<dyn Fn(&Ledger) -> bool + Send + Sync>;

/// The nodes a follower may follow, as of now (governance may add validators while it
/// follows).
pub type Sources = Arc<dyn Fn() -> Vec<Arc<dyn BlockSource>> + Send + Sync>;

/// Follows the nodes `sources` gives (among several, the one furthest ahead; another when
/// one fails or stops sending blocks) until `shutdown` turns true or, when given, until
/// `promote` holds after a stored block.
pub async fn run(
    ledger: Arc<Ledger>,
    sources: Sources,
    mut shutdown: watch::Receiver<bool>,
    promote: Option<Promote>,
) -> FollowEnd {
    let mut backoff = Duration::from_millis(200);
    let stop = |l: &Ledger, _h: u64| promote.as_ref().is_some_and(|p| p(l));
    let mut i = 0usize;
    loop {
        if *shutdown.borrow() {
            return FollowEnd::Shutdown;
        }
        if stop(&ledger, ledger.height()) {
            return FollowEnd::Promoted;
        }
        let upstreams = sources();
        if upstreams.is_empty() {
            tracing::error!("nothing to follow: no upstream node and no other validator's API");
            let _ = shutdown.changed().await;
            return FollowEnd::Shutdown;
        }
        // Among several (the validators a removed validator follows), the one furthest
        // ahead: another follower may be among them, and two followers following each
        // other would wait for each other for ever.
        if upstreams.len() > 1 {
            i = furthest(&upstreams, i).await;
        }
        let upstream = &upstreams[i % upstreams.len()];
        let name = upstream.name().to_string();
        let stall = (upstreams.len() > 1).then_some(STALL);
        match follow(
            &ledger,
            upstream.as_ref(),
            &name,
            &mut shutdown,
            &stop,
            false,
            stall,
        )
        .await
        {
            Ok(()) if *shutdown.borrow() => return FollowEnd::Shutdown,
            Ok(()) => return FollowEnd::Promoted,
            Err(e) => {
                tracing::warn!(upstream = %name, error = %e, retry_ms = backoff.as_millis() as u64, "following the upstream node");
            }
        }
        i += 1;
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// How long a follower with other nodes to ask waits for the next block from the one it
/// follows before asking them (a chain with no transactions still makes a block at every
/// block time, well below this).
const STALL: Duration = Duration::from_secs(5);

/// The index of the upstream with the highest tip, starting from `from` (ties keep the
/// earliest in that order; an upstream that does not answer is skipped).
async fn furthest(upstreams: &[Arc<dyn BlockSource>], from: usize) -> usize {
    let n = upstreams.len();
    let mut best: Option<(u64, usize)> = None;
    for k in 0..n {
        let i = (from + k) % n;
        if let Ok(s) = upstreams[i].status().await {
            if best.is_none_or(|(h, _)| s.height > h) {
                best = Some((s.height, i));
            }
        }
    }
    best.map_or(from % n, |(_, i)| i)
}

/// Brings this node's chain up to height `until` from its peers ([`Ledger::peers`]), before
/// a validator whose data was restored from an older copy takes part in consensus again:
/// its equivocation guard rightly refuses to sign at heights it already signed, so it
/// follows without signing until it is past them. Each block is verified as a follower's.
/// Waits for a peer that is ahead, however long that takes; stops one height short when
/// no peer has more (the network is waiting at the next height).
pub async fn catch_up(ledger: &Arc<Ledger>, until: u64) -> Result<(), NodeError> {
    let peers = ledger.peers().to_vec();
    if peers.is_empty() {
        return Err(NodeError::Fatal(format!(
            "this validator signed consensus messages at height {until} but its chain ends at height {}: it must fetch the blocks in between from the other validators before it signs again, and [consensus] relay names none of their APIs",
            ledger.height()
        )));
    }
    let (_keep, mut never) = watch::channel(false);
    let mut wait = Duration::from_millis(200);
    loop {
        let before = ledger.height();
        if before >= until {
            return Ok(());
        }
        let mut tips = Vec::new();
        for peer in &peers {
            let reached = |_: &Ledger, h: u64| h >= until;
            match follow(
                ledger,
                peer.as_ref(),
                peer.name(),
                &mut never,
                &reached,
                true,
                None,
            )
            .await
            {
                Ok(()) => {}
                Err(e) => {
                    tracing::debug!(peer = %peer.name(), error = %e, "catching up from a peer")
                }
            }
            if ledger.height() >= until {
                return Ok(());
            }
            if let Ok(s) = peer.status().await {
                tips.push(s.height);
            }
        }
        let now = ledger.height();
        if now + 1 == until && !tips.is_empty() && tips.iter().all(|t| *t <= now) {
            tracing::warn!(height = now, guard_height = until, "no peer is past this height: starting consensus one height short of the last one this validator signed");
            return Ok(());
        }
        if now == before {
            tracing::warn!(
                height = now,
                until,
                retry_ms = wait.as_millis() as u64,
                "waiting for a peer ahead of this validator's chain"
            );
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        } else {
            wait = Duration::from_millis(200);
        }
    }
}

/// Follows `upstream` until `shutdown`, or until `stop` holds after a stored block (given
/// the ledger and the block's height). With `need_more`, an upstream with nothing past
/// our tip is an error (ask another).
async fn follow(
    ledger: &Arc<Ledger>,
    upstream: &dyn BlockSource,
    name: &str,
    shutdown: &mut watch::Receiver<bool>,
    stop: &(dyn Fn(&Ledger, u64) -> bool + Send + Sync),
    need_more: bool,
    stall: Option<Duration>,
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
    if need_more && status.height < from {
        return Err(format!("{name} has nothing past height {}", from - 1));
    }
    tracing::info!(upstream = %name, from, upstream_height = status.height, "following the upstream node");
    let mut stream = upstream.blocks(from).await?;
    // Catch-up progress, every few seconds while behind the upstream's height at connect.
    let (started, mut reported) = (std::time::Instant::now(), std::time::Instant::now());
    let target = status.height;
    loop {
        let next = async {
            match stall {
                Some(d) => tokio::time::timeout(d, stream.next_block())
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "no block for {} s: asking the other nodes",
                            d.as_secs()
                        ))
                    }),
                None => stream.next_block().await,
            }
        };
        let bytes = tokio::select! {
            m = next => m.map_err(|e| format!("stream: {e}"))?,
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
            Ok(()) => {
                tracing::debug!(height, "stored a verified block from upstream");
                if height < target && reported.elapsed() >= Duration::from_secs(5) {
                    reported = std::time::Instant::now();
                    let done = height + 1 - from;
                    let per_min = done as f64 * 60.0 / started.elapsed().as_secs_f64().max(1e-3);
                    tracing::info!(
                        height,
                        target,
                        blocks_per_min = per_min as u64,
                        eta_secs = ((target - height) as f64 * 60.0 / per_min.max(1.0)) as u64,
                        "catching up with the upstream node"
                    );
                } else if height == target && target >= from + 100 {
                    tracing::info!(
                        height,
                        blocks = height + 1 - from,
                        secs = started.elapsed().as_secs(),
                        "caught up with the upstream node"
                    );
                }
                if stop(ledger, height) {
                    return Ok(());
                }
            }
            Err(e) => {
                tracing::error!(height, error = %e, "refused a block from the upstream node");
                return Err(format!("block {height} refused: {e}"));
            }
        }
    }
}
