//! The application loop: answers the engine's requests with the ledger.
//!
//! - `GetValue`: the proposer builds a block from its mempool (or reloads the one it
//!   already proposed for that height and round, so a restart never proposes twice), keeps
//!   it in the [`ProposalStore`] before answering, and streams it as parts.
//! - `ReceivedProposalPart`: parts are reassembled per (publisher, stream); a complete
//!   block is fully validated (the state machine re-executes it: signatures, nonces, roles,
//!   schemas, audit wraps, state root) and reported valid or invalid. An invalid block
//!   makes this validator prevote nil. A valid block is kept in the [`ProposalStore`]
//!   before the verdict is reported.
//! - `Decided`: the block gets the commit certificate as its `Commit` and is committed
//!   with one atomic store write; the kept blocks at or below its height are then pruned.
//! - Value sync serves committed blocks with their certificates, and checks received ones
//!   before they are decided.
//!
//! The driver does no I/O of its own: the ledger ([`LedgerApp`]) and the kept blocks
//! ([`ProposalStore`]) are behind traits, and the engine behind its channels.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ledger_state::Execution;
use ledger_store::ProposalReceipt;
use ledger_types::{Block, BlockHeader, Commit, CommitSignature, Transaction};
use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app_channel::app::streaming::StreamContent;
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, ExtendedCommitCertificate, ExtendedCommitSignature, LinearTimeouts, Round,
    Validity,
};
use malachitebft_app_channel::app::types::streaming::{StreamId, StreamMessage};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};

use crate::context::{
    header_part_digest, proposer_of, Address, BlockId, ConsensusSignature, Height, LedgerContext,
    ProposalPart, ValidatorSet,
};
use crate::proposal_store::ProposalStore;

/// What the driver needs from the node's ledger. Blocking calls: the driver runs them on
/// blocking threads.
pub trait LedgerApp: Send + Sync + 'static {
    /// The latest committed height.
    fn height(&self) -> u64;
    /// The validator set in effect for the next height.
    fn validator_set(&self) -> Result<ValidatorSet, String>;
    /// Whether this node's organisation is in the validator set of the height after the
    /// next (a validator governance added: it runs consensus one height early, without a
    /// vote, so that its connections are up when it first votes or proposes).
    fn validates_after_next(&self) -> Result<bool, String> {
        Ok(false)
    }
    /// Builds the next block (no commit yet) from the mempool, for `round` of its height:
    /// at most the configured block size halved for every round before it, so that a block
    /// too heavy for the validators to check within a round's timeout is followed by a
    /// lighter one, whatever the machines and the load.
    fn build(&self, now_ms: u64, round: u32) -> Result<(Block, Execution), String>;
    /// Validates a block for the next height: everything but its commit.
    fn validate(&self, block: &Block) -> Result<Execution, String>;
    /// Commits a decided block (its commit attached) and its execution.
    fn commit(&self, block: Block, execution: Execution) -> Result<(), String>;
    /// A committed block.
    fn block(&self, height: u64) -> Result<Option<Block>, String>;
    /// The block decided at `height` with id `id`, from another node: for a decision this
    /// node no longer holds the block of (its data was lost between the decision and the
    /// commit, as after a power loss). The error says why no peer could give it.
    fn fetch_decided(&self, height: u64, id: &ledger_types::Hash) -> Result<Block, String>;
    /// This validator's clock, in ms since the Unix epoch: the time it puts in the blocks
    /// it builds and checks received proposals against.
    fn now_ms(&self) -> u64 {
        now_ms()
    }
    /// Signs a digest with this validator's consensus key (the header part of the blocks
    /// it streams).
    fn sign_digest(&self, digest: &ledger_types::Hash) -> Result<ledger_types::Signature, String>;
    /// The consensus addresses (libp2p multiaddresses with peer ids) of the other
    /// validators of the next two heights that governance approved on the ledger: the
    /// network connects to them, and accepts their connections, beside the configured
    /// persistent peers.
    fn validator_peers(&self) -> Result<Vec<String>, String> {
        Ok(vec![])
    }
    /// Called at each step where the consensus path has just written something durable
    /// (`proposal-saved`, `candidate-saved`, `before-commit`, `after-commit`,
    /// `after-prune`): nothing in the node that ships; a test-only build stops the
    /// process there, as a power loss would, to check that a restart recovers.
    fn crash_point(&self, _point: &'static str) {}
    /// Another block to stream for the height and round this node proposes `block` at:
    /// none in the node that ships (a test-only build equivocates with it).
    fn also_propose(&self, _block: &Block) -> Option<Block> {
        None
    }
    /// How many of a proposal's `parts` to stream: all of them in the node that ships (a
    /// test-only build withholds some).
    fn parts_to_stream(&self, parts: usize) -> usize {
        parts
    }
    /// Resolves when a transaction is admitted to the mempool (at once if one was admitted
    /// since the last wait): a proposer holding nothing to propose waits on it, up to the
    /// idle block time, before it proposes an empty block.
    fn tx_arrived(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::pending())
    }
}

/// Why the driver stopped without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The engine closed its channel (it is shutting down).
    EngineClosed,
    /// This node is not in the validator set of the next height any more (governance
    /// removed it): it leaves consensus, and follows the validators instead.
    LeftValidatorSet,
}

/// Driver settings.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// This validator (or full node).
    pub me: Address,
    /// How long a round-0 proposer with nothing to propose waits for a transaction before
    /// it proposes an empty block (the pace of an idle chain). With transactions waiting,
    /// it proposes as soon as the previous height is decided.
    pub block_time: Duration,
    /// Round timeouts.
    pub timeouts: LinearTimeouts,
    /// Most transaction bytes per streamed part (kept below the gossip message limit).
    pub part_max_bytes: usize,
    /// How far apart honest clocks may be (see [`timely`]).
    pub timestamp_precision: Duration,
    /// How long a proposal may take to arrive at round 0 (see [`timely`]).
    pub timestamp_message_delay: Duration,
    /// The chain (in the digest a proposer signs for its stream).
    pub chain: ledger_types::ChainId,
    /// The largest block this network builds, in bytes: a stream carrying more is dropped.
    pub max_block_bytes: usize,
}

/// Whether a newly proposed block's timestamp `ts_ms` is timely for a validator whose clock
/// read `received_ms` when the block arrived in `round`, after CometBFT's proposer-based
/// timestamps: not more than `precision` ahead of that clock, and not more than
/// `precision` plus the message delay behind it. The delay grows by half of itself each
/// round, so a slow network still decides in a later round. A block that fails this is
/// voted nil; one re-proposed with a proof-of-lock round was found timely by a quorum
/// before and is not checked again. With at most f faulty validators, every decided block's
/// time is therefore within `precision` of an honest clock when it was proposed.
pub fn timely(
    ts_ms: u64,
    received_ms: u64,
    round: u32,
    precision: Duration,
    delay: Duration,
) -> Result<(), String> {
    let precision = precision.as_millis() as u64;
    let delay = delay.as_millis() as u64;
    let delay = delay.saturating_add(delay.saturating_mul(round as u64) / 2);
    if ts_ms > received_ms.saturating_add(precision) {
        return Err(format!(
            "its timestamp {ts_ms} is {} ms ahead of this validator's clock ({received_ms}); at most {precision} ms is allowed ([consensus] timestamp_precision_ms)",
            ts_ms - received_ms
        ));
    }
    let late = precision.saturating_add(delay);
    if ts_ms.saturating_add(late) < received_ms {
        return Err(format!(
            "its timestamp {ts_ms} is {} ms behind this validator's clock ({received_ms}) at round {round}; at most {late} ms is allowed ([consensus] timestamp_precision_ms + timestamp_message_delay_ms)",
            received_ms - ts_ms
        ));
    }
    Ok(())
}

/// What one transaction adds to a part beyond its bytes (its length prefix), bounded.
const TX_FRAMING_BYTES: usize = 16;

/// Cuts `txs` into consecutive parts of at most `max_bytes` (each transaction counted with
/// its framing); a transaction larger than that travels alone. The node's configuration
/// check keeps every admitted transaction below `max_bytes`.
pub fn part_boundaries(tx_sizes: impl IntoIterator<Item = usize>, max_bytes: usize) -> Vec<usize> {
    let mut ends = Vec::new();
    let (mut i, mut bytes) = (0usize, 0usize);
    for size in tx_sizes {
        let size = size + TX_FRAMING_BYTES;
        if bytes > 0 && bytes + size > max_bytes {
            ends.push(i);
            bytes = 0;
        }
        bytes += size;
        i += 1;
    }
    if bytes > 0 {
        ends.push(i);
    }
    ends
}

/// A block this node holds for a height, with its verdict.
struct Candidate {
    block: Block,
    execution: Option<Execution>,
    validity: Validity,
}

/// One incoming stream of parts.
struct StreamBuf {
    parts: BTreeMap<u64, StreamContent<ProposalPart>>,
    fin: Option<u64>,
    /// Its height, once its header part (checked) arrived; 0 before.
    height: u64,
    /// Bytes of the parts held.
    bytes: usize,
    /// When its first part arrived.
    opened: std::time::Instant,
}

impl StreamBuf {
    fn new() -> Self {
        Self {
            parts: BTreeMap::new(),
            fin: None,
            height: 0,
            bytes: 0,
            opened: std::time::Instant::now(),
        }
    }
}

/// Bounds on what other validators' streams may make this one hold. A stream is executed
/// only once its header part is signed by the proposer of its height and round; every
/// other bound keeps a faulty validator from filling memory before that.
const MAX_STREAM_PARTS: usize = 100_000;
/// Most streams open at once.
const MAX_STREAMS: usize = 256;
/// Most streams open at once from one publisher (a proposer streams one block per round).
const MAX_STREAMS_PER_PEER: usize = 4;
/// How long a stream may stay without its header part before it is dropped.
const HEADERLESS_TTL: Duration = Duration::from_secs(30);
/// Most complete blocks kept for the height after the next one.
const MAX_FUTURE_BLOCKS: usize = 16;
/// Most streams remembered as refused (their later parts are ignored).
const MAX_REFUSED: usize = 1024;

/// The bytes a part adds to its stream.
fn part_bytes(p: &StreamContent<ProposalPart>) -> usize {
    match p {
        StreamContent::Data(ProposalPart::Header {
            header, signature, ..
        }) => header.len() + signature.len() + 128,
        StreamContent::Data(ProposalPart::Txs(txs)) => {
            txs.iter()
                .map(|t| t.len() + TX_FRAMING_BYTES)
                .sum::<usize>()
                + 16
        }
        _ => 16,
    }
}

/// The system clock, in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The driver's state.
pub struct Driver<A: LedgerApp, S: ProposalStore> {
    app: Arc<A>,
    store: Arc<S>,
    cfg: DriverConfig,
    candidates: HashMap<BlockId, Candidate>,
    /// Values seen per (height, round) with the proposer and pol round, for StartedRound.
    seen: HashMap<(u64, u32), Vec<ProposedValue<LedgerContext>>>,
    /// Blocks received for heights this node has not reached yet.
    future: Vec<(ProposalPart, Block, u64)>,
    /// When each proposed block first arrived at its round: its timeliness is judged
    /// against that time. Kept in the store for the blocks found timely and valid, so that
    /// a restart judges them as before.
    received: HashMap<(u64, u32, BlockId), u64>,
    streams: HashMap<(PeerId, Bytes), StreamBuf>,
    /// Streams refused (header not signed by the round's proposer, too large, too far
    /// ahead), with their height: their later parts are ignored.
    refused: HashMap<(PeerId, Bytes), u64>,
    /// The validator set, read for the height it was read at.
    set: Option<(u64, ValidatorSet)>,
    /// The on-ledger consensus addresses added to the network's persistent peers.
    ledger_peers: std::collections::BTreeSet<String>,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("blocking task failed: {e}"))
}

impl<A: LedgerApp, S: ProposalStore> Driver<A, S> {
    /// A driver over `app`, keeping its uncommitted blocks in `store`.
    pub fn new(app: Arc<A>, store: Arc<S>, cfg: DriverConfig) -> Self {
        Self {
            app,
            store,
            cfg,
            candidates: HashMap::new(),
            seen: HashMap::new(),
            future: Vec::new(),
            received: HashMap::new(),
            streams: HashMap::new(),
            refused: HashMap::new(),
            set: None,
            ledger_peers: std::collections::BTreeSet::new(),
        }
    }

    /// Connects the network to the validators governance added with a consensus address,
    /// and disconnects from those it removed (the configured peers stay as they are).
    async fn update_peers(&mut self, channels: &Channels<LedgerContext>) {
        let app = self.app.clone();
        let wanted: std::collections::BTreeSet<String> =
            match blocking(move || app.validator_peers()).await {
                Ok(Ok(p)) => p.into_iter().collect(),
                Ok(Err(e)) | Err(e) => {
                    tracing::warn!(error = %e, "reading the validators' consensus addresses");
                    return;
                }
            };
        let added: Vec<String> = wanted.difference(&self.ledger_peers).cloned().collect();
        let removed: Vec<String> = self.ledger_peers.difference(&wanted).cloned().collect();
        for (addr, add) in added
            .into_iter()
            .map(|a| (a, true))
            .chain(removed.into_iter().map(|a| (a, false)))
        {
            let parsed: malachitebft_app_channel::app::net::Multiaddr = match addr.parse() {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(address = %addr, error = %e, "a validator's consensus address on the ledger is not a multiaddress: not connecting to it");
                    if add {
                        self.ledger_peers.insert(addr);
                    } else {
                        self.ledger_peers.remove(&addr);
                    }
                    continue;
                }
            };
            if add {
                self.ledger_peers.insert(addr.clone());
            } else {
                self.ledger_peers.remove(&addr);
            }
            let requests = channels.net_requests.clone();
            tokio::spawn(async move {
                use malachitebft_app_channel::NetworkRequest;
                let result = if add {
                    NetworkRequest::add_persistent_peer(&requests, parsed).await
                } else {
                    NetworkRequest::remove_persistent_peer(&requests, parsed).await
                };
                match result {
                    Ok(Ok(())) if add => {
                        tracing::info!(address = %addr, "connecting to a validator governance added")
                    }
                    Ok(Ok(())) => {
                        tracing::info!(address = %addr, "disconnected from a validator governance removed")
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(address = %addr, error = ?e, "updating the persistent peers")
                    }
                    Err(e) => {
                        tracing::warn!(address = %addr, error = %e, "updating the persistent peers")
                    }
                }
            });
        }
    }

    /// The validator set for heights after the tip (read once per height).
    async fn validators(&mut self) -> Result<ValidatorSet, String> {
        let tip = self.app.height();
        if let Some((h, set)) = &self.set {
            if *h == tip {
                return Ok(set.clone());
            }
        }
        let app = self.app.clone();
        let set = blocking(move || app.validator_set()).await??;
        self.set = Some((tip, set.clone()));
        Ok(set)
    }

    /// Checks a stream's header part before anything of the stream is kept for long or
    /// executed: a height this node can use (the next one, or the one after), the round's
    /// proposer as proposer, and that proposer's signature.
    async fn check_header(&mut self, part: &ProposalPart) -> Result<(), String> {
        let ProposalPart::Header {
            height,
            round,
            pol_round,
            proposer,
            header,
            signature,
        } = part
        else {
            return Ok(());
        };
        let tip = self.app.height();
        if height.0 <= tip {
            return Err(format!("height {} is already committed", height.0));
        }
        if height.0 > tip + 2 {
            return Err(format!(
                "height {} is too far ahead of this node's {}",
                height.0,
                tip + 1
            ));
        }
        let set = self.validators().await?;
        if set.is_empty() {
            return Err("the validator set is empty".into());
        }
        let expected = proposer_of(&set, *height, Round::new(*round));
        if &expected.address != proposer {
            return Err(format!(
                "{proposer} is not the proposer of height {} round {round} ({} is)",
                height.0, expected.address
            ));
        }
        let digest = header_part_digest(
            &self.cfg.chain,
            *height,
            *round,
            *pol_round,
            proposer,
            header,
        );
        ledger_crypto::verify_digest(
            &expected.public_key,
            &digest,
            &ledger_types::Signature(signature.clone()),
        )
        .map_err(|e| format!("the header part's signature by {proposer} does not verify: {e}"))
    }

    fn refuse(&mut self, key: (PeerId, Bytes), height: u64) {
        self.streams.remove(&key);
        if self.refused.len() >= MAX_REFUSED {
            self.refused.clear();
        }
        self.refused.insert(key, height);
    }

    async fn params(&self) -> Result<HeightParams<LedgerContext>, String> {
        let app = self.app.clone();
        let set = blocking(move || app.validator_set()).await??;
        // No target time: a decided height is finalised at once, and the next proposer
        // paces blocks itself (`propose`): at once when transactions wait, after
        // `block_time` when none do.
        Ok(HeightParams::new(set, self.cfg.timeouts, None))
    }

    /// The block this node proposes for (height, round): the one it already proposed if it
    /// restarted in between, else a new one from the mempool, kept before it is returned.
    async fn propose(&mut self, height: u64, round: u32) -> Result<Block, String> {
        let store = self.store.clone();
        let kept = match blocking(move || store.proposal(height, round)).await? {
            Ok(kept) => kept,
            Err(e) => {
                tracing::error!(height, round, error = %e, "reading the block proposed before a restart; building a new one");
                None
            }
        };
        if let Some(block) = kept.filter(|b| b.height() == height) {
            let (app, b) = (self.app.clone(), block.clone());
            let execution = blocking(move || app.validate(&b)).await?.ok();
            tracing::info!(height, round, block = %block.hash(), "re-proposing the block proposed before the restart");
            self.remember(block.clone(), execution, Validity::Valid)
                .await;
            return Ok(block);
        }
        let idle_until = tokio::time::Instant::now() + self.cfg.block_time;
        let (block, execution) = loop {
            let app = self.app.clone();
            let (block, execution) = blocking(move || {
                let now = app.now_ms();
                app.build(now, round)
            })
            .await??;
            // Later rounds propose at once: the validators have waited a round already.
            if !block.txs.is_empty() || round > 0 || tokio::time::Instant::now() >= idle_until {
                break (block, execution);
            }
            // Nothing to propose yet: wait for a transaction, at most until the idle block
            // is due (well inside the propose timeout, which the configuration checks).
            let _ = tokio::time::timeout_at(idle_until, self.app.tx_arrived()).await;
        };
        let (store, b) = (self.store.clone(), block.clone());
        blocking(move || store.save_proposal(height, round, &b)).await??;
        self.app.crash_point("proposal-saved");
        self.remember(block.clone(), Some(execution), Validity::Valid)
            .await;
        Ok(block)
    }

    /// Loads the valid blocks this node kept for heights it has not committed, so that a
    /// decision replayed from the WAL after a crash finds its block.
    async fn load_candidates(&mut self) {
        let tip = self.app.height();
        let store = self.store.clone();
        let kept = match blocking(move || store.candidates_above(tip)).await {
            Ok(Ok(kept)) => kept,
            Ok(Err(e)) | Err(e) => {
                tracing::error!(error = %e, "reading the candidate blocks kept before a restart");
                return;
            }
        };
        for block in kept {
            self.candidates.insert(
                BlockId(block.hash()),
                Candidate {
                    block,
                    execution: None,
                    validity: Validity::Valid,
                },
            );
        }
        let store = self.store.clone();
        match blocking(move || store.receipts_above(tip)).await {
            Ok(Ok(receipts)) => {
                for r in receipts {
                    self.received
                        .insert((r.height, r.round, BlockId(r.block)), r.received_ms);
                }
            }
            Ok(Err(e)) | Err(e) => {
                tracing::error!(error = %e, "reading the proposal receipts kept before a restart");
            }
        }
    }

    async fn remember(&mut self, block: Block, execution: Option<Execution>, validity: Validity) {
        self.remember_received(block, execution, validity, None)
            .await
    }

    /// [`Driver::remember`], keeping with a valid block when it arrived (`receipt`), in
    /// the same write.
    async fn remember_received(
        &mut self,
        block: Block,
        execution: Option<Execution>,
        validity: Validity,
        receipt: Option<ProposalReceipt>,
    ) {
        if validity.is_valid() {
            // Durable before the engine hears of it: the engine may log its decision in
            // the WAL and crash before this node commits.
            let (store, b) = (self.store.clone(), block.clone());
            let saved = blocking(move || match receipt {
                Some(r) => store.save_receipt(&r, Some(&b)),
                None => store.save_candidate(&b),
            });
            match saved.await {
                Ok(Ok(())) => self.app.crash_point("candidate-saved"),
                Ok(Err(e)) | Err(e) => {
                    tracing::error!(error = %e, "keeping a candidate block")
                }
            }
        }
        self.candidates.insert(
            BlockId(block.hash()),
            Candidate {
                block,
                execution,
                validity,
            },
        );
    }

    async fn stream(
        &self,
        channels: &Channels<LedgerContext>,
        block: &Block,
        round: u32,
        pol_round: Round,
        proposer: &Address,
    ) -> Result<(), String> {
        let mut id = block.height().to_be_bytes().to_vec();
        id.extend(round.to_be_bytes());
        id.extend(&block.hash().0[..8]);
        let stream_id = StreamId::new(Bytes::from(id));
        let header = block.header().encode();
        let digest = header_part_digest(
            &self.cfg.chain,
            Height(block.height()),
            round,
            pol_round,
            proposer,
            &header,
        );
        let app = self.app.clone();
        let signature = blocking(move || app.sign_digest(&digest)).await??;
        let mut parts = vec![ProposalPart::Header {
            height: Height(block.height()),
            round,
            pol_round,
            proposer: proposer.clone(),
            header,
            signature: signature.0,
        }];
        let mut start = 0;
        for end in part_boundaries(
            block.txs.iter().map(|t| t.bytes().len()),
            self.cfg.part_max_bytes,
        ) {
            parts.push(ProposalPart::Txs(
                block.txs[start..end]
                    .iter()
                    .map(|t| t.bytes().to_vec())
                    .collect(),
            ));
            start = end;
        }
        parts.push(ProposalPart::End {
            tx_count: block.txs.len() as u32,
        });
        let whole = parts.len();
        parts.truncate(self.app.parts_to_stream(whole));
        let n = parts.len() as u64;
        for (seq, p) in parts.into_iter().enumerate() {
            let msg = StreamMessage::new(stream_id.clone(), seq as u64, StreamContent::Data(p));
            channels
                .network
                .send(NetworkMsg::PublishProposalPart(msg))
                .await
                .map_err(|e| format!("publishing a proposal part: {e}"))?;
        }
        if (n as usize) < whole {
            // Withheld: the stream is never ended.
            return Ok(());
        }
        channels
            .network
            .send(NetworkMsg::PublishProposalPart(StreamMessage::new(
                stream_id,
                n,
                StreamContent::Fin,
            )))
            .await
            .map_err(|e| format!("publishing a proposal part: {e}"))
    }

    /// Adds a part (its header part already checked, if it is one); returns the header
    /// part and the block when its stream is complete.
    fn add_part(
        &mut self,
        publisher: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Option<Result<(ProposalPart, Block), String>> {
        let key = (publisher, msg.stream_id.to_bytes());
        if self.refused.contains_key(&key) {
            return None;
        }
        if !self.streams.contains_key(&key) {
            // Streams that never showed a header go after a while.
            self.streams
                .retain(|_, b| b.height != 0 || b.opened.elapsed() < HEADERLESS_TTL);
            // One publisher holds a few streams at most: its oldest goes.
            let mine: Vec<(&(PeerId, Bytes), &StreamBuf)> = self
                .streams
                .iter()
                .filter(|(k, _)| k.0 == publisher)
                .collect();
            if mine.len() >= MAX_STREAMS_PER_PEER {
                if let Some(k) = mine
                    .iter()
                    .min_by_key(|(_, b)| b.opened)
                    .map(|(k, _)| (*k).clone())
                {
                    self.streams.remove(&k);
                }
            }
            if self.streams.len() >= MAX_STREAMS {
                // Drop the stream of the lowest height to bound memory.
                if let Some(k) = self
                    .streams
                    .iter()
                    .min_by_key(|(_, b)| b.height)
                    .map(|(k, _)| k.clone())
                {
                    self.streams.remove(&k);
                }
            }
        }
        let max_bytes = self.cfg.max_block_bytes + (1 << 20);
        let buf = self
            .streams
            .entry(key.clone())
            .or_insert_with(StreamBuf::new);
        buf.bytes += part_bytes(&msg.content);
        if buf.parts.len() >= MAX_STREAM_PARTS || buf.bytes > max_bytes {
            let height = buf.height;
            self.refuse(key, height);
            return Some(Err(format!(
                "a proposal stream exceeded {MAX_STREAM_PARTS} parts or {max_bytes} bytes"
            )));
        }
        if let StreamContent::Data(ProposalPart::Header { height, .. }) = &msg.content {
            buf.height = height.0;
        }
        if msg.content.is_fin() {
            buf.fin = Some(msg.sequence);
        }
        buf.parts.insert(msg.sequence, msg.content);
        let fin = buf.fin?;
        if buf.parts.len() as u64 != fin + 1 {
            return None;
        }
        let buf = self.streams.remove(&key)?;
        Some(assemble(buf))
    }

    /// The verdict on a complete proposed block that arrived at `received_ms` (this
    /// validator's clock).
    async fn judge(
        &mut self,
        header_part: &ProposalPart,
        block: Block,
        received_ms: u64,
    ) -> Option<ProposedValue<LedgerContext>> {
        let ProposalPart::Header {
            height,
            round,
            pol_round,
            proposer,
            ..
        } = header_part
        else {
            return None;
        };
        let tip = self.app.height();
        if height.0 > tip + 1 {
            if self.future.len() >= MAX_FUTURE_BLOCKS {
                self.future.remove(0);
            }
            self.future.push((header_part.clone(), block, received_ms));
            return None;
        }
        if height.0 <= tip {
            return None;
        }
        let id = BlockId(block.hash());
        // Timeliness is judged when a block first arrives at a round: the same proposal
        // arriving again (restreamed, or after this validator restarted while the engine's
        // WAL kept its verdict) is judged against that first arrival, never turned from
        // timely to untimely by the wait.
        let key = (height.0, *round, id);
        let first_arrival = !self.received.contains_key(&key);
        let received_ms = (*self.received.entry(key).or_insert(received_ms)).min(received_ms);
        let receipt = ProposalReceipt {
            height: height.0,
            round: *round,
            block: id.0,
            received_ms,
        };
        let untimely = match pol_round {
            Round::Nil => timely(
                block.header().timestamp_ms,
                received_ms,
                *round,
                self.cfg.timestamp_precision,
                self.cfg.timestamp_message_delay,
            )
            .err(),
            _ => None,
        };
        // A receipt is kept for a block found timely that was not proposed with a
        // proof-of-lock round (judged on its contents alone), once.
        let keep_receipt = *pol_round == Round::Nil && first_arrival;
        // An untimely block is not kept as invalid: re-proposed with a proof-of-lock round,
        // the same block is judged on its contents alone.
        let validity = if let Some(why) = untimely {
            tracing::warn!(height = height.0, round, block = %id, proposer = %proposer, reason = %why, "untimely proposed block: voting nil");
            Validity::Invalid
        } else {
            match self.candidates.get(&id).map(|c| c.validity) {
                Some(validity) => {
                    if keep_receipt && validity.is_valid() {
                        let store = self.store.clone();
                        match blocking(move || store.save_receipt(&receipt, None)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) | Err(e) => {
                                tracing::warn!(error = %e, "keeping a proposal's arrival")
                            }
                        }
                    }
                    validity
                }
                None => {
                    let (app, b) = (self.app.clone(), block.clone());
                    match blocking(move || app.validate(&b)).await {
                        Ok(Ok(execution)) => {
                            let receipt = keep_receipt.then_some(receipt);
                            self.remember_received(
                                block,
                                Some(execution),
                                Validity::Valid,
                                receipt,
                            )
                            .await;
                            Validity::Valid
                        }
                        Ok(Err(why)) => {
                            tracing::warn!(height = height.0, round, block = %id, proposer = %proposer, reason = %why, "invalid proposed block: voting nil");
                            self.remember(block, None, Validity::Invalid).await;
                            Validity::Invalid
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "validating a proposed block");
                            return None;
                        }
                    }
                }
            }
        };
        let pv = ProposedValue {
            height: *height,
            round: Round::new(*round),
            valid_round: *pol_round,
            proposer: proposer.clone(),
            value: id,
            validity,
        };
        self.seen
            .entry((height.0, *round))
            .or_default()
            .push(pv.clone());
        Some(pv)
    }

    fn certificate_of(block: &Block) -> ExtendedCommitCertificate<LedgerContext> {
        ExtendedCommitCertificate {
            height: Height(block.height()),
            round: Round::new(block.commit.round),
            value_id: BlockId(block.hash()),
            commit_signatures: block
                .commit
                .signatures
                .iter()
                .map(|s| ExtendedCommitSignature {
                    address: Address(s.validator.clone()),
                    signature: ConsensusSignature(s.signature.0.clone()),
                    extension: None,
                })
                .collect(),
        }
    }

    async fn decided(&mut self, cert: CommitCertificate<LedgerContext>) -> Result<(), String> {
        let height = cert.height.0;
        if height <= self.app.height() {
            return Ok(());
        }
        let (mut block, execution) = match self.candidates.remove(&cert.value_id) {
            Some(c) => (c.block, c.execution),
            None => (self.recover_decided(height, &cert.value_id).await, None),
        };
        block.commit = Commit {
            round: cert.round.as_u32().unwrap_or(0),
            signatures: cert
                .commit_signatures
                .iter()
                .map(|s| CommitSignature {
                    validator: s.address.0.clone(),
                    signature: (&s.signature).into(),
                })
                .collect(),
        };
        let app = self.app.clone();
        let execution = match execution {
            Some(e) => e,
            None => {
                let (a, b) = (app.clone(), block.clone());
                blocking(move || a.validate(&b)).await??
            }
        };
        let hash = block.hash();
        let txs = block.txs.len();
        blocking(move || app.commit(block, execution)).await??;
        tracing::info!(height, round = cert.round.as_i64(), txs, block = %hash, "decided and committed");
        self.prune(height).await;
        Ok(())
    }

    /// The decided block this node does not hold, from its peers: asks again (at most every
    /// five seconds) until one gives it. Nothing else can happen at this height meanwhile:
    /// the engine waits for the commit.
    async fn recover_decided(&self, height: u64, id: &BlockId) -> Block {
        tracing::warn!(height, block = %id, "the decided block is not held here (its data was lost in a crash between the decision and the commit): fetching it from the other validators");
        let mut wait = Duration::from_millis(200);
        loop {
            let (app, hash) = (self.app.clone(), id.0);
            match blocking(move || app.fetch_decided(height, &hash)).await {
                Ok(Ok(block)) => {
                    tracing::info!(height, block = %id, "recovered the decided block from a peer");
                    return block;
                }
                Ok(Err(e)) | Err(e) => {
                    tracing::warn!(height, block = %id, error = %e, retry_ms = wait.as_millis() as u64, "fetching the decided block")
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }

    /// Forgets everything held for heights at or below the committed `height`. A failed
    /// prune in the store only leaves entries that no read returns (all are at or below the
    /// tip) until the next prune deletes them.
    async fn prune(&mut self, height: u64) {
        self.candidates.retain(|_, c| c.block.height() > height);
        self.seen.retain(|(h, _), _| *h > height);
        self.future.retain(|(_, b, _)| b.height() > height);
        self.received.retain(|(h, _, _), _| *h > height);
        self.streams
            .retain(|_, b| b.height == 0 || b.height > height);
        self.refused.retain(|_, h| *h == 0 || *h > height);
        let store = self.store.clone();
        match blocking(move || store.prune_at_or_below(height)).await {
            Ok(Ok(())) => self.app.crash_point("after-prune"),
            Ok(Err(e)) | Err(e) => {
                tracing::warn!(height, error = %e, "pruning the kept consensus blocks")
            }
        }
    }

    /// Runs until the engine closes the channel.
    pub async fn run(mut self, mut channels: Channels<LedgerContext>) -> Result<Ended, String> {
        self.load_candidates().await;
        while let Some(msg) = channels.consensus.recv().await {
            match msg {
                AppMsg::ConsensusReady { reply } => {
                    let h = Height(self.app.height() + 1);
                    tracing::info!(height = h.0, "consensus ready");
                    self.update_peers(&channels).await;
                    let _ = reply.send((h, self.params().await?));
                }
                AppMsg::StartedRound {
                    height,
                    round,
                    reply_value,
                    ..
                } => {
                    // Blocks that arrived before this height started: judge them now.
                    let early: Vec<(ProposalPart, Block, u64)> = std::mem::take(&mut self.future)
                        .into_iter()
                        .filter(|(_, b, _)| b.height() >= height.0)
                        .collect();
                    for (part, block, received) in early {
                        if block.height() == height.0 {
                            self.judge(&part, block, received).await;
                        } else {
                            self.future.push((part, block, received));
                        }
                    }
                    let r = round.as_u32().unwrap_or(0);
                    let values = self.seen.get(&(height.0, r)).cloned().unwrap_or_default();
                    let _ = reply_value.send(values);
                }
                AppMsg::GetValue {
                    height,
                    round,
                    reply,
                    ..
                } => {
                    let r = round.as_u32().unwrap_or(0);
                    let block = self.propose(height.0, r).await?;
                    let id = BlockId(block.hash());
                    tracing::debug!(height = height.0, round = r, block = %id, txs = block.txs.len(), "proposing");
                    let _ = reply.send(LocallyProposedValue::new(height, round, id));
                    let me = self.cfg.me.clone();
                    self.stream(&channels, &block, r, Round::Nil, &me).await?;
                    let (app, b) = (self.app.clone(), block.clone());
                    if let Some(other) = blocking(move || app.also_propose(&b)).await? {
                        self.stream(&channels, &other, r, Round::Nil, &me).await?;
                    }
                }
                AppMsg::ExtendVote { reply, .. } => {
                    let _ = reply.send(None);
                }
                AppMsg::VerifyVoteExtensions {
                    extensions, reply, ..
                } => {
                    let _ = reply.send(extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
                }
                AppMsg::RestreamProposal {
                    height,
                    round,
                    valid_round,
                    address,
                    value_id,
                } => {
                    if let Some(c) = self.candidates.get(&value_id) {
                        let block = c.block.clone();
                        self.stream(
                            &channels,
                            &block,
                            round.as_u32().unwrap_or(0),
                            valid_round,
                            &address,
                        )
                        .await?;
                    } else {
                        tracing::warn!(height = height.0, %value_id, "asked to restream a block this node does not hold");
                    }
                }
                AppMsg::GetHistoryMinHeight { reply } => {
                    let _ = reply.send(Height(1));
                }
                AppMsg::ReceivedProposalPart {
                    from,
                    published_by,
                    part,
                    reply,
                } => {
                    let publisher = published_by.unwrap_or(from);
                    if let StreamContent::Data(h @ ProposalPart::Header { .. }) = &part.content {
                        if let Err(why) = self.check_header(h).await {
                            tracing::warn!(peer = %publisher, reason = %why, "refused a proposal stream: it is not executed");
                            let height = match h {
                                ProposalPart::Header { height, .. } => height.0,
                                _ => 0,
                            };
                            self.refuse((publisher, part.stream_id.to_bytes()), height);
                            let _ = reply.send(None);
                            continue;
                        }
                    }
                    let out = match self.add_part(publisher, part) {
                        None => None,
                        Some(Err(e)) => {
                            tracing::warn!(peer = %publisher, error = %e, "dropped a proposal stream");
                            None
                        }
                        Some(Ok((header, block))) => {
                            let received = self.app.now_ms();
                            self.judge(&header, block, received).await
                        }
                    };
                    let _ = reply.send(out);
                }
                AppMsg::Decided {
                    certificate, reply, ..
                } => {
                    self.decided(certificate).await?;
                    let _ = reply.send(());
                }
                AppMsg::Finalized {
                    certificate, reply, ..
                } => {
                    let next = certificate.height.0 + 1;
                    let params = self.params().await?;
                    let validating = params.validator_set.contains(&self.cfg.me)
                        || self.app.validates_after_next().unwrap_or(false);
                    let _ = reply.send(Next::Start(Height(next), params));
                    self.update_peers(&channels).await;
                    if !validating {
                        tracing::info!(
                            height = next,
                            "this node is not in the validator set of the next height: leaving consensus"
                        );
                        return Ok(Ended::LeftValidatorSet);
                    }
                }
                AppMsg::GetDecidedValues { range, reply } => {
                    let tip = self.app.height();
                    let (start, end) = (range.start().0.max(1), range.end().0.min(tip));
                    let app = self.app.clone();
                    let values = blocking(move || {
                        let mut out = Vec::new();
                        for h in start..=end {
                            match app.block(h) {
                                Ok(Some(b)) => out.push(RawDecidedValue::new(
                                    Bytes::from(b.encode()),
                                    Self::certificate_of(&b),
                                )),
                                _ => break,
                            }
                        }
                        out
                    })
                    .await?;
                    let _ = reply.send(values);
                }
                AppMsg::ProcessSyncedValue {
                    height,
                    round,
                    proposer,
                    value_bytes,
                    reply,
                } => {
                    let outcome = match Block::decode(&value_bytes) {
                        Err(_) => SyncedValueOutcome::PeerFault,
                        Ok(block) if block.height() != height.0 => SyncedValueOutcome::PeerFault,
                        Ok(block) => {
                            let (app, b) = (self.app.clone(), block.clone());
                            match blocking(move || app.validate(&b)).await {
                                Ok(Ok(execution)) => {
                                    let id = BlockId(block.hash());
                                    self.remember(block, Some(execution), Validity::Valid).await;
                                    SyncedValueOutcome::Verdict(ProposedValue {
                                        height,
                                        round,
                                        valid_round: Round::Nil,
                                        proposer,
                                        value: id,
                                        validity: Validity::Valid,
                                    })
                                }
                                Ok(Err(why)) => {
                                    tracing::warn!(height = height.0, reason = %why, "a synced block is invalid");
                                    SyncedValueOutcome::PeerFault
                                }
                                Err(_) => SyncedValueOutcome::LocalTransientError,
                            }
                        }
                    };
                    let _ = reply.send(outcome);
                }
            }
        }
        Ok(Ended::EngineClosed)
    }
}

fn assemble(buf: StreamBuf) -> Result<(ProposalPart, Block), String> {
    let mut parts = buf.parts.into_values();
    let header_part = match parts.next() {
        Some(StreamContent::Data(p @ ProposalPart::Header { .. })) => p,
        _ => return Err("a proposal stream does not start with its header".into()),
    };
    let ProposalPart::Header { header, .. } = &header_part else {
        return Err("unreachable: not a header".into());
    };
    let header = BlockHeader::decode(header)
        .map_err(|e| format!("the proposed header does not decode: {e}"))?;
    let mut txs = Vec::new();
    let mut ended = None;
    for p in parts {
        match p {
            StreamContent::Data(ProposalPart::Txs(batch)) if ended.is_none() => {
                for t in batch {
                    txs.push(
                        Transaction::decode(&t)
                            .map_err(|e| format!("a proposed transaction does not decode: {e}"))?,
                    );
                }
            }
            StreamContent::Data(ProposalPart::End { tx_count }) if ended.is_none() => {
                ended = Some(tx_count)
            }
            StreamContent::Fin if ended.is_some() => {}
            _ => return Err("a proposal stream has parts out of place".into()),
        }
    }
    if ended != Some(txs.len() as u32) {
        return Err("a proposal stream's transaction count does not match".into());
    }
    Ok((header_part, Block::new(header, txs, Commit::default())))
}

#[cfg(test)]
mod tests {
    use super::part_boundaries;

    #[test]
    fn parts_are_cut_by_bytes() {
        // 10 transactions of 100 KB in parts of at most 256 KiB: two per part.
        let ends = part_boundaries([100_000; 10], 256 * 1024);
        assert_eq!(ends, vec![2, 4, 6, 8, 10]);
        // Small transactions share one part however many they are.
        assert_eq!(part_boundaries([300; 5000], 4 << 20), vec![5000]);
        // Each part stays within the bound.
        let sizes = [70_000, 10, 60_000, 200_000, 5, 5, 250_000];
        let ends = part_boundaries(sizes, 256 * 1024);
        let mut start = 0;
        for end in &ends {
            let bytes: usize = sizes[start..*end].iter().map(|s| s + 16).sum();
            assert!(bytes <= 256 * 1024, "{start}..{end}: {bytes}");
            start = *end;
        }
        assert_eq!(start, sizes.len());
        // An empty block has no transaction part.
        assert!(part_boundaries([], 1024).is_empty());
    }

    #[test]
    fn an_oversized_transaction_travels_alone() {
        assert_eq!(part_boundaries([10, 5_000, 10], 1_000), vec![1, 2, 3]);
    }
}
