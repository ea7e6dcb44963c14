//! The node's ledger core: store, mempool and signer, with the calls a block driver makes:
//! admit a transaction, build the next block, validate a received one, commit.

use std::sync::Arc;

use ledger_crypto::{sign_commit, Signer};
use ledger_home::config::BlockConfig;
use ledger_mempool::{Mempool, Rejection};
use ledger_state::{
    build_block, check_commit, execute_block, BuiltBlock, Execution, ProposeParams, TxRejection,
};
use ledger_store::Store;
use ledger_types::{Block, ChainId, Commit, CommitSignature, Hash, OrgId, Transaction};
use tokio::sync::{watch, Notify};

use crate::admission::{Admission, AdmissionError};
use crate::consensus::ConsensusHook;
use crate::error::NodeError;
use crate::transport::{BlockSource, Relay, RemoteRefusal, Upstream};

/// Why a submitted transaction was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// This node's mempool refused it.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The upstream node this one follows refused it, or could not be reached.
    #[error("{0}")]
    Upstream(RemoteRefusal),
    /// This node is too busy checking other submissions to take it now.
    #[error(transparent)]
    Busy(#[from] AdmissionError),
}

/// Why a relayed batch was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayRefused {
    /// It does not come from a validator of the chain, or its signature does not verify.
    #[error("relayed batch refused: {0}")]
    NotAuthenticated(String),
    /// The node is too busy.
    #[error(transparent)]
    Busy(#[from] AdmissionError),
}

/// A block ready to commit, with its execution.
pub struct Proposal {
    /// The block (with its commit).
    pub block: Block,
    /// Its execution against the tip's state.
    pub execution: Execution,
    /// Mempool transactions that can no longer be included, with why.
    pub dropped: Vec<(Hash, TxRejection)>,
}

/// A proposer's own block-size back-off across heights: its limits are halved `shift`
/// more times than the round asks, one more after each height at which its round-0 block
/// did not decide, one fewer after each at which it did.
#[derive(Debug, Default)]
struct Lighter {
    shift: u32,
    /// The height this node last built a round-0 block for, until that height commits.
    round0_at: Option<u64>,
}

/// The largest `Lighter::shift`: blocks as small as 1/65,536 of the limits (one
/// transaction at the default limits).
const MAX_LIGHTER: u32 = 16;

/// The ledger core of a node.
pub struct Ledger {
    /// The store.
    pub store: Arc<Store>,
    /// The mempool.
    pub mempool: Mempool,
    /// This node's signing key (replaced when its organisation rotates it).
    signer: SignerCell,
    /// This node's organisation.
    pub org: OrgId,
    /// The chain.
    pub chain_id: ChainId,
    /// The genesis block hash.
    pub genesis_hash: Hash,
    /// Block limits.
    pub block_config: BlockConfig,
    committed: watch::Sender<u64>,
    tx_arrived: Notify,
    upstream: Option<Arc<dyn Upstream>>,
    relays: Vec<tokio::sync::mpsc::Sender<Vec<u8>>>,
    peers: Vec<Arc<dyn BlockSource>>,
    admission: Admission,
    /// Single submissions waiting for a check; each check takes all of them (see
    /// [`Ledger::submit_tx`]).
    waiting: std::sync::Mutex<Waiting>,
    last_commit_ms: std::sync::atomic::AtomicU64,
    /// The latest block's commit: its round and how many validators signed it.
    last_commit: std::sync::Mutex<(u32, u32)>,
    /// How much lighter this node's proposals are after its round-0 blocks did not
    /// decide (see [`Ledger::build_next_for_round`]).
    lighter: std::sync::Mutex<Lighter>,
    /// The last committed block's timestamp (milliseconds), for the block-interval metric.
    last_block_ts: std::sync::atomic::AtomicU64,
    /// What this validator verified beyond its mempool, and what block validations are
    /// verifying right now.
    verdicts: std::sync::Mutex<crate::consensus::Verdicts>,
    /// Woken when a block validation ends ([`Ledger::wait_for_validations`]).
    pub(crate) validated: std::sync::Condvar,
    /// How this node gets blocks, and from whom (for status); it changes when governance
    /// adds this node to the validators or removes it.
    role: std::sync::Mutex<(&'static str, Vec<String>)>,
    /// Whether submissions go to the upstream node (while following) rather than this
    /// node's mempool (while validating).
    forwarding: std::sync::atomic::AtomicBool,
    /// What changes the blocks this validator proposes (test builds only).
    pub(crate) consensus_hook: Option<Arc<dyn ConsensusHook>>,
    /// The encrypted-analytics jobs this node runs or ran, with their progress.
    pub analytics_jobs: crate::analytics::Jobs,
    /// The chain's public analytics keys, on a chain with analytics (docs/fhe.md).
    pub analytics: Option<Arc<ledger_fhe::PublicKeys>>,
}

/// Transactions per core checked at once when a batch is admitted. A smaller part is in
/// the mempool sooner, so that a block holding it is less often validated while it is
/// being checked (both would verify it); the batch verification of 32 proofs per core
/// cost no more CPU than of 64 on four validators under a confidential load
/// (docs/benchmarks.md).
const ADMITTED_PER_CORE: usize = 32;

/// How long an admission waits for a block validation verifying the same transactions
/// before it verifies them itself.
const VALIDATION_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The most single submissions one check takes ([`Ledger::submit_tx`]): as many as one
/// `SubmitTxs` call may carry.
const MAX_CHECKED_AT_ONCE: usize = 1024;

/// Single submissions waiting for a check, and the checkers draining them.
#[derive(Default)]
struct Waiting {
    txs: Vec<WaitingTx>,
    /// Checkers running (or about to).
    checkers: usize,
    /// Batches checked so far.
    checks: u64,
}

impl Waiting {
    /// Whether the submission just queued starts a checker: yes while fewer than `max`
    /// run. The count and the queue change under one lock, and a checker stops only when
    /// it finds the queue empty, so nothing queued is left without a checker.
    fn start_checker(&mut self, max: usize) -> bool {
        if self.checkers < max {
            self.checkers += 1;
            true
        } else {
            false
        }
    }
}

/// A waiting submission's outcome (and its bytes back), or why it was not checked.
type Checked = Result<(Result<Transaction, Rejection>, Vec<u8>), AdmissionError>;

/// One waiting submission, and where its outcome goes.
struct WaitingTx {
    bytes: Vec<u8>,
    reply: tokio::sync::oneshot::Sender<Checked>,
}

/// A signer shared by the tasks that sign for the node, replaced in place on rotation.
pub type SignerCell = Arc<std::sync::RwLock<Arc<dyn Signer>>>;

impl Ledger {
    /// This node's signing key as of now.
    pub fn signer(&self) -> Arc<dyn Signer> {
        self.signer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The cell this node's signer lives in, for a task that must sign with the current
    /// key whenever it signs (it is replaced in place on rotation).
    pub fn signer_cell(&self) -> SignerCell {
        self.signer.clone()
    }

    /// Signs with `signer` from now on (the organisation rotated its signing key and the
    /// ledger holds the new one).
    pub fn replace_signer(&self, signer: Arc<dyn Signer>) {
        *self.signer.write().unwrap_or_else(|p| p.into_inner()) = signer;
    }

    /// A ledger core over an opened store whose tip is at least the genesis block.
    pub fn new(
        store: Arc<Store>,
        mempool: Mempool,
        signer: Arc<dyn Signer>,
        org: OrgId,
        chain_id: ChainId,
        genesis_hash: Hash,
        block_config: BlockConfig,
    ) -> Self {
        let height = store.height().unwrap_or(0);
        // Read once here; each commit then replaces it, so status calls decode no block.
        let tip = store.block(height).ok().flatten();
        let last_commit = tip.as_ref().map_or((0, 0), |b| {
            (b.commit.round, b.commit.signatures.len() as u32)
        });
        let last_block_ts = tip.as_ref().map_or(0, |b| b.header().timestamp_ms);
        let m = ledger_metrics::metrics();
        m.height.set(height as i64);
        if let (Some(b), Ok(validators)) = (&tip, ledger_state::validators(store.as_ref())) {
            m.starting_signers(validators.iter().map(OrgId::as_str), |v| {
                b.commit
                    .signatures
                    .iter()
                    .any(|s| s.validator.as_str() == v)
            });
        }
        Self {
            store,
            mempool,
            signer: Arc::new(std::sync::RwLock::new(signer)),
            org,
            chain_id,
            genesis_hash,
            block_config,
            committed: watch::Sender::new(height),
            tx_arrived: Notify::new(),
            upstream: None,
            relays: Vec::new(),
            peers: Vec::new(),
            admission: Admission::default(),
            last_commit_ms: std::sync::atomic::AtomicU64::new(0),
            last_commit: std::sync::Mutex::new(last_commit),
            lighter: Default::default(),
            last_block_ts: std::sync::atomic::AtomicU64::new(last_block_ts),
            verdicts: Default::default(),
            validated: Default::default(),
            role: std::sync::Mutex::new(("idle", vec![])),
            forwarding: std::sync::atomic::AtomicBool::new(true),
            consensus_hook: None,
            analytics_jobs: Default::default(),
            waiting: Default::default(),
            analytics: None,
        }
    }

    pub(crate) fn verdicts(&self) -> std::sync::MutexGuard<'_, crate::consensus::Verdicts> {
        self.verdicts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How this node gets blocks (validator, follower, producer, idle) and from whom.
    pub fn role(&self) -> (&'static str, Vec<String>) {
        self.role
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Records how this node gets blocks from now on; a validator takes submissions into
    /// its own mempool, any other role forwards them to its upstream node (if it has one).
    pub fn set_role(&self, role: &'static str, from: Vec<String>) {
        self.forwarding.store(
            role != "validator" && role != "producer",
            std::sync::atomic::Ordering::Relaxed,
        );
        *self
            .role
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (role, from);
    }

    /// The upstream node submissions go to now, if any.
    fn forward_to(&self) -> Option<&Arc<dyn Upstream>> {
        self.upstream
            .as_ref()
            .filter(|_| self.forwarding.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Whether this organisation is in the validator set of the next height or of the one
    /// after (a validator governance just added runs consensus from one height early,
    /// without a vote, so that its connections are up when it first votes or proposes).
    pub fn validates_soon(&self) -> Result<bool, NodeError> {
        let h = self.height();
        Ok(
            ledger_state::validator_set_at(self.store.as_ref(), h + 1)?.contains(&self.org)
                || ledger_state::validator_set_at(self.store.as_ref(), h + 2)?.contains(&self.org),
        )
    }

    /// Whether this node's organisation is in the validator set of the next height.
    pub fn validates_next(&self) -> Result<bool, NodeError> {
        Ok(
            ledger_state::validator_set_at(self.store.as_ref(), self.height() + 1)?
                .contains(&self.org),
        )
    }

    /// Lets `hook` change the blocks this validator proposes through consensus (see
    /// [`ConsensusHook`]: test builds only).
    pub fn with_consensus_hook(mut self, hook: Arc<dyn ConsensusHook>) -> Self {
        self.consensus_hook = Some(hook);
        self
    }

    /// The latest committed block's commit: (round, validators that signed it).
    pub fn last_commit(&self) -> (u32, u32) {
        *self
            .last_commit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When this node last committed a block (its clock, ms since the epoch; 0: not yet).
    pub fn last_commit_ms(&self) -> u64 {
        self.last_commit_ms
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Relays transactions admitted from clients to the other validators (`relays`),
    /// batched, so that whichever validator proposes next holds them. Spawns one task per
    /// relay on the current runtime.
    pub fn with_relays(mut self, relays: Vec<Arc<dyn Relay>>) -> Self {
        for relay in relays {
            let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(100_000);
            tokio::spawn(crate::relay::run(
                relay,
                rx,
                self.signer.clone(),
                self.chain_id.clone(),
                self.org.clone(),
                crate::relay::RELAY_LINGER,
            ));
            self.relays.push(tx);
        }
        self
    }

    /// The chain's public analytics keys (loaded from the file beside genesis.json).
    pub fn with_analytics(mut self, keys: Option<Arc<ledger_fhe::PublicKeys>>) -> Self {
        self.analytics = keys;
        self
    }

    /// Checks untrusted submissions through `admission` (bounded workers and queue).
    pub fn with_admission(mut self, admission: Admission) -> Self {
        self.admission = admission;
        self
    }

    /// The other validators' APIs, asked for committed blocks this validator lacks: a
    /// decided block whose data it lost, the blocks past a restored copy of its data.
    pub fn with_peers(mut self, peers: Vec<Arc<dyn BlockSource>>) -> Self {
        self.peers = peers;
        self
    }

    /// The other validators' APIs (see [`Ledger::with_peers`]).
    pub fn peers(&self) -> &[Arc<dyn BlockSource>] {
        &self.peers
    }

    /// Forwards submitted transactions to `upstream` (the node this one follows) instead
    /// of its own mempool.
    pub fn with_upstream(mut self, upstream: Arc<dyn Upstream>) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// Submits a transaction: into this node's mempool, or to the upstream node when
    /// following one (its refusal, with its reason, comes back unchanged).
    ///
    /// The signature and proofs are checked on a blocking thread through the node's
    /// admission gate ([`Admission`]): at most one check per worker at once, a bounded
    /// queue, and [`SubmitError::Busy`] past it.
    ///
    /// Transactions carrying proofs that verify faster in a batch (range, sigma, Groth16,
    /// ring: [`ledger_state::has_batched_proofs`]) that arrive while others are being
    /// checked are checked together, as one [`Ledger::submit_many`] batch: each joins a
    /// queue, and at most one checker per core drains it, taking every transaction
    /// waiting each time (a lone one is checked at once, alone). A client that sends one
    /// transaction per call, from many connections, gets the batch verification a
    /// `SubmitTxs` client gets. Others are checked one by one as they come, by as many
    /// checks at once as the admission gate allows: their one signature gains nothing
    /// from waiting for others. Past the gate's limit of waiting submissions the node
    /// answers busy at once.
    pub async fn submit_tx(self: &Arc<Self>, bytes: Vec<u8>) -> Result<Hash, SubmitError> {
        if let Some(up) = self.forward_to() {
            return up.submit(bytes).await.map_err(SubmitError::Upstream);
        }
        let batched = bytes.len() <= self.mempool.max_tx_bytes()
            && Transaction::decode(&bytes).is_ok_and(|t| ledger_state::has_batched_proofs(&t));
        if !batched {
            let me = self.clone();
            let (result, bytes) = self
                .admission
                .run(move || {
                    let r = me.submit(&bytes);
                    (r, bytes)
                })
                .await?;
            return self.answer(result, bytes);
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let start = {
            let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            let max_waiting = self.admission.max_waiting();
            if w.txs.len() >= max_waiting {
                return Err(AdmissionError::Busy {
                    waiting: w.txs.len(),
                    max_waiting,
                }
                .into());
            }
            w.txs.push(WaitingTx { bytes, reply });
            w.start_checker(self.checkers())
        };
        if start {
            let me = self.clone();
            tokio::spawn(async move {
                let checker = me.clone();
                if let Err(e) = me.admission.run(move || checker.check_waiting()).await {
                    // No checker ran (the gate refused or failed): those waiting are
                    // answered with why, unless another checker still runs for them.
                    let mut w = me.waiting.lock().unwrap_or_else(|p| p.into_inner());
                    w.checkers -= 1;
                    if w.checkers == 0 {
                        for t in w.txs.drain(..) {
                            let _ = t.reply.send(Err(e.clone()));
                        }
                    }
                }
            });
        }
        let (result, bytes) = answer.await.map_err(|_| {
            SubmitError::Busy(AdmissionError::Failed(
                "the check holding this transaction stopped".into(),
            ))
        })??;
        self.answer(result, bytes)
    }

    /// How many checkers may drain the single submissions at once: one per core.
    fn checkers(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// A checker: checks the single submissions waiting (at most [`MAX_CHECKED_AT_ONCE`]
    /// at a time) as one batch and answers each, until none waits.
    fn check_waiting(&self) {
        loop {
            let txs: Vec<WaitingTx> = {
                let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
                if w.txs.is_empty() {
                    // Nothing left: this checker stops (whoever queues next starts one).
                    w.checkers -= 1;
                    return;
                }
                let n = w.txs.len().min(MAX_CHECKED_AT_ONCE);
                w.checks += 1;
                w.txs.drain(..n).collect()
            };
            let (bytes, replies): (Vec<Vec<u8>>, Vec<_>) =
                txs.into_iter().map(|t| (t.bytes, t.reply)).unzip();
            // Each submitter is answered as soon as its transaction is admitted (or
            // refused): it may send its next one while the rest of the batch is admitted.
            let mut replies = replies.into_iter().zip(&bytes);
            self.submit_each(&bytes, |result| {
                if let Some((reply, b)) = replies.next() {
                    // A submitter that went away (its call cancelled) needs no answer.
                    let _ = reply.send(Ok((result, b.clone())));
                }
            });
        }
    }

    /// A client's answer for one admission outcome: an admitted transaction is relayed to
    /// the other validators and answered by its hash, a refused one by its rejection.
    fn answer(
        &self,
        result: Result<Transaction, Rejection>,
        bytes: Vec<u8>,
    ) -> Result<Hash, SubmitError> {
        match result {
            Ok(tx) => {
                for r in &self.relays {
                    // A full relay queue drops the relay, never the transaction: the
                    // other validators get it when this one proposes.
                    let _ = r.try_send(bytes.clone());
                }
                Ok(tx.hash())
            }
            Err(r) => {
                tracing::debug!(reason = r.code(), error = %r, "refused a transaction");
                Err(SubmitError::Rejected(r))
            }
        }
    }

    /// Submits many transactions at once (the `SubmitTxs` call): one pass through the
    /// admission gate, their signatures and proofs checked together on all cores, then each
    /// admitted or refused on its own as [`Ledger::submit_tx`] would; the admitted ones are
    /// relayed. The outer error is for a batch that was not checked at all (busy). When
    /// following another node, each is forwarded to it in turn.
    pub async fn submit_txs(
        self: &Arc<Self>,
        txs: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<Hash, SubmitError>>, SubmitError> {
        if let Some(up) = self.forward_to() {
            let mut out = Vec::with_capacity(txs.len());
            for t in txs {
                out.push(up.submit(t).await.map_err(SubmitError::Upstream));
            }
            return Ok(out);
        }
        let me = self.clone();
        let (results, txs) = self
            .admission
            .run(move || {
                let r = me.submit_many(&txs);
                (r, txs)
            })
            .await?;
        Ok(results
            .into_iter()
            .zip(txs)
            .map(|(result, bytes)| self.answer(result, bytes))
            .collect())
    }

    /// Admits a batch relayed by another validator through the admission gate (see
    /// [`Ledger::submit_tx`]), once its sender is known to be a validator of the chain
    /// and its signature verifies ([`crate::relay::check_batch`]). Returns (admitted,
    /// refused), or why the batch was not taken.
    pub async fn submit_relayed(
        self: &Arc<Self>,
        batch: crate::relay::RelayBatch,
    ) -> Result<(u32, u32), RelayRefused> {
        let me = self.clone();
        self.admission
            .run(move || {
                crate::relay::check_batch(me.store.as_ref(), &me.chain_id, &batch)
                    .map_err(RelayRefused::NotAuthenticated)?;
                Ok(me.submit_batch(&batch.txs))
            })
            .await?
    }

    /// The next nonce `org` can use, given its next committed nonce `committed`: past the
    /// transactions pending in the mempool that takes this node's submissions (the
    /// upstream node's, when following one). A submitted transaction that left that
    /// mempool without committing (dropped by a proposer, lost in a restart) frees its
    /// nonce again, so the organisation's next write fills the gap instead of waiting
    /// behind it.
    pub async fn next_free_nonce(&self, org: &OrgId, committed: u64) -> Result<u64, RemoteRefusal> {
        match self.forward_to() {
            Some(up) => Ok(up.next_free_nonce(org).await?.max(committed)),
            None => {
                let free = self.mempool.next_free_nonce(org, committed);
                // A block may have committed since the caller read `committed`, and its
                // transactions left the mempool: the store has them by then (a commit
                // writes the store before the mempool forgets), so read it again.
                let now = ledger_state::next_nonce(self.store.as_ref(), org).unwrap_or(committed);
                Ok(free.max(now))
            }
        }
    }

    /// Verifies a block received from another node (the next height, its transactions
    /// re-executed to the same state root, a quorum of validator signatures) and commits it.
    pub fn apply_received(&self, block: &Block) -> Result<(), NodeError> {
        let tip = self
            .store
            .tip()
            .ok_or_else(|| NodeError::Fatal("the store has no genesis block".into()))?;
        let verified = |h: &Hash| self.mempool.verified(h);
        let execution = execute_block(
            self.store.as_ref(),
            &tip.accumulator,
            &tip.header,
            block,
            &verified,
        )?;
        check_commit(self.store.as_ref(), block)?;
        self.commit(&Proposal {
            block: block.clone(),
            execution,
            dropped: vec![],
        })
    }

    /// The latest committed height.
    pub fn height(&self) -> u64 {
        self.store.height().unwrap_or(0)
    }

    /// Follows the committed height.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Waits until a transaction is admitted (or returns at once if one arrived since the
    /// last wait).
    pub async fn tx_arrived(&self) {
        self.tx_arrived.notified().await
    }

    /// Admits a transaction into the mempool.
    pub fn submit(&self, bytes: &[u8]) -> Result<Transaction, Rejection> {
        let committed_at = |h: &Hash| {
            self.store
                .tx_location(h)
                .map(|loc| loc.map(|l| l.height))
                .map_err(|e| ledger_state::StateError::Storage(e.to_string()))
        };
        let tx = self
            .mempool
            .admit(bytes, self.store.as_ref(), self.height() + 1, committed_at)
            .inspect_err(|r| count_rejection(bytes, r))?;
        ledger_metrics::metrics().admitted.inc();
        self.tx_arrived.notify_one();
        Ok(tx)
    }

    /// Admits a batch relayed by another validator (see [`Ledger::submit_many`]). Returns
    /// (admitted, refused).
    pub fn submit_batch(&self, batch: &[Vec<u8>]) -> (u32, u32) {
        let results = self.submit_many(batch);
        let admitted = results.iter().filter(|r| r.is_ok()).count() as u32;
        (admitted, results.len() as u32 - admitted)
    }

    /// Admits a batch: signatures and proofs are checked on all cores first, each once:
    /// what failed there is refused with that failure, not checked again. One outcome per
    /// transaction, in order, each as [`Ledger::submit`] would give it.
    pub fn submit_many(&self, batch: &[Vec<u8>]) -> Vec<Result<Transaction, Rejection>> {
        let mut out = Vec::with_capacity(batch.len());
        self.submit_each(batch, |r| out.push(r));
        out
    }

    /// [`Ledger::submit_many`], handing each outcome to `each` as soon as it is known (in
    /// order), so that a submitter can be answered before the rest of the batch is
    /// admitted.
    fn submit_each(&self, batch: &[Vec<u8>], mut each: impl FnMut(Result<Transaction, Rejection>)) {
        let mut decoded: Vec<Option<Transaction>> = batch
            .iter()
            .map(|b| {
                (b.len() <= self.mempool.max_tx_bytes())
                    .then(|| Transaction::decode(b).ok())
                    .flatten()
            })
            .collect();
        let committed_at = |h: &Hash| {
            self.store
                .tx_location(h)
                .map(|loc| loc.map(|l| l.height))
                .map_err(|e| ledger_state::StateError::Storage(e.to_string()))
        };
        // Read before anything is checked: a block that changes a key while this batch is
        // checked leaves what it admits unverified ([`Mempool::verified`]).
        let checked_at = self.mempool.keys_generation();
        let most = 2 * self.block_config.max_txs;
        let per_check = ADMITTED_PER_CORE * self.checkers();
        let mut admitted = 0u64;
        for (part, decoded) in batch.chunks(per_check).zip(decoded.chunks_mut(per_check)) {
            let checked = self.check_part(decoded, checked_at, most, &committed_at);
            for (b, tx) in part.iter().zip(decoded.iter_mut().map(Option::take)) {
                let next = self.height() + 1;
                let store = self.store.as_ref();
                let r = match tx {
                    Some(tx) => self.mempool.admit_decoded(
                        tx,
                        store,
                        next,
                        committed_at,
                        &checked,
                        checked_at,
                    ),
                    // Too large or malformed: refused naming why.
                    None => {
                        self.mempool
                            .admit_with(b, store, next, committed_at, &checked, checked_at)
                    }
                };
                match &r {
                    Ok(_) => {
                        admitted += 1;
                        // The proposer may start on it already.
                        self.tx_arrived.notify_one();
                    }
                    Err(e) => count_rejection(b, e),
                }
                each(r);
            }
        }
        ledger_metrics::metrics().admitted.inc_by(admitted);
    }

    /// Checks the signatures and proofs of one part of an admitted batch on all cores, each
    /// transaction once per node: what is already pending or committed is not checked (a
    /// relay arriving after its block, the same batch sent twice; admission refuses it as
    /// such), a verdict this validator already holds is taken (a proposal's, or another
    /// admission's), and what a block validation is verifying right now is waited for and
    /// its verdict taken. What verified is kept at once ([`crate::consensus::Verdicts`]),
    /// so that a validation starting before this part is in the mempool does not verify it
    /// again.
    fn check_part(
        &self,
        part: &[Option<Transaction>],
        checked_at: u64,
        most: usize,
        committed_at: &impl Fn(&Hash) -> Result<Option<u64>, ledger_state::StateError>,
    ) -> ledger_state::Preverified {
        let mut checked = ledger_state::Preverified::default();
        // Read before the verdicts are locked: a validation needs them meanwhile.
        let new: Vec<&Transaction> = part
            .iter()
            .flatten()
            .filter(|t| {
                !self.mempool.contains(&t.hash())
                    && !matches!(
                        ledger_mempool::committed_height(t, self.store.as_ref(), committed_at),
                        Ok(Some(_))
                    )
            })
            .collect();
        let mut todo: Vec<&Transaction> = Vec::with_capacity(new.len());
        let mut validating: Vec<&Transaction> = Vec::new();
        {
            let verdicts = self.verdicts();
            for t in new {
                let h = t.hash();
                if verdicts.holds(checked_at, &h) {
                    checked.ok.insert(h);
                } else if verdicts.is_validating(&h) {
                    validating.push(t);
                } else {
                    todo.push(t);
                }
            }
        }
        let check = |txs: &[&Transaction], checked: &mut ledger_state::Preverified| {
            let found = ledger_state::preverify_detailed(
                self.store.as_ref(),
                &self.chain_id,
                self.height() + 1,
                txs,
            );
            if !found.ok.is_empty() {
                self.verdicts().remember(checked_at, &found.ok, most);
            }
            checked.ok.extend(found.ok);
            checked.failed.extend(found.failed);
        };
        check(&todo, &mut checked);
        if !validating.is_empty() {
            let hashes: Vec<Hash> = validating.iter().map(|t| t.hash()).collect();
            self.wait_for_validations(&hashes, VALIDATION_WAIT);
            let verdicts = self.verdicts();
            validating.retain(|t| {
                let h = t.hash();
                let known = verdicts.holds(checked_at, &h);
                if known {
                    checked.ok.insert(h);
                }
                !known
            });
            drop(verdicts);
            // What the validation did not verify (it failed there, or the validation gave
            // up) is checked here, naming the failure.
            check(&validating, &mut checked);
        }
        checked
    }

    /// Builds the next block (no commit yet) from the mempool's candidates, leaving out
    /// those that can no longer be included (listed in `dropped`). The one way a block is
    /// built, for the single-validator producer and for consensus.
    pub fn build_next(&self, now_ms: u64) -> Result<BuiltBlock, NodeError> {
        self.build_next_for_round(now_ms, 0)
    }

    /// [`Ledger::build_next`] for consensus round `round`: the block limits halved for
    /// each earlier round of the height (at least one transaction of the largest size),
    /// so that when validators could not check a block within a round's timeout, the next
    /// round's proposer offers a lighter one instead of the same weight again. And halved
    /// once more for each height at which this node's round-0 block did not decide (less
    /// one for each at which it did): when only this node holds a backlog (relays are
    /// best effort), the later rounds' proposers have nothing to offer, and the same
    /// heavy block would otherwise miss its round at every height this node proposes.
    pub fn build_next_for_round(&self, now_ms: u64, round: u32) -> Result<BuiltBlock, NodeError> {
        let carried = {
            let mut lighter = self.lighter.lock().unwrap_or_else(|p| p.into_inner());
            if round == 0 {
                lighter.round0_at = Some(self.height() + 1);
            }
            lighter.shift
        };
        let shift = round.saturating_add(carried).min(MAX_LIGHTER);
        let max_txs = (self.block_config.max_txs >> shift).max(1);
        let max_bytes = (self.block_config.max_bytes >> shift).max(self.mempool.max_tx_bytes());
        let tip = self
            .store
            .tip()
            .ok_or_else(|| NodeError::Fatal("the store has no genesis block".into()))?;
        let candidates = self
            .mempool
            .candidates(self.store.as_ref(), max_txs, max_bytes)?;
        let params = ProposeParams {
            proposer: self.org.clone(),
            // `build_block` keeps the timestamp no earlier than the parent's.
            timestamp_ms: now_ms,
            max_txs,
            max_bytes,
        };
        let verified = |h: &Hash| self.mempool.verified(h);
        Ok(build_block(
            self.store.as_ref(),
            &tip.accumulator,
            &tip.header,
            &params,
            candidates,
            &verified,
        )?)
    }

    /// Builds and signs the next block from the mempool. With nothing ready to include
    /// (an empty mempool, or only transactions waiting behind a nonce gap), returns `None`
    /// unless `allow_empty` asks for an empty block.
    pub fn propose(&self, now_ms: u64, allow_empty: bool) -> Result<Option<Proposal>, NodeError> {
        let built = self.build_next(now_ms)?;
        if built.txs.is_empty() && !allow_empty {
            self.forget_dropped(&built.dropped)?;
            return Ok(None);
        }
        let signature = sign_commit(self.signer().as_ref(), &built.header, 0, &self.org)?;
        let block = Block::new(
            built.header,
            built.txs,
            Commit {
                round: 0,
                signatures: vec![CommitSignature {
                    validator: self.org.clone(),
                    signature,
                }],
            },
        );
        Ok(Some(Proposal {
            block,
            execution: built.execution,
            dropped: built.dropped,
        }))
    }

    fn forget_dropped(&self, dropped: &[(Hash, TxRejection)]) -> Result<(), NodeError> {
        for (h, why) in dropped {
            tracing::info!(tx = %h, reason = %why, "dropped a mempool transaction that can no longer be included");
        }
        let hashes: Vec<Hash> = dropped.iter().map(|(h, _)| *h).collect();
        self.mempool
            .remove_committed(std::iter::empty(), &hashes, self.store.as_ref())?;
        Ok(())
    }

    /// The metrics of a committed block: height, interval, size, transactions by kind and
    /// failure, and which validators signed its certificate.
    fn record_metrics(&self, proposal: &Proposal) {
        let m = ledger_metrics::metrics();
        let b = &proposal.block;
        let previous = self.last_block_ts.swap(
            b.header().timestamp_ms,
            std::sync::atomic::Ordering::Relaxed,
        );
        m.block_committed(
            b.height(),
            b.header().timestamp_ms,
            (previous > 0).then_some(previous),
            b.txs.iter().map(Transaction::len).sum(),
            b.txs
                .iter()
                .zip(&proposal.execution.outcomes)
                .map(|(t, o)| {
                    (
                        t.body().payload.kind().name(),
                        match o {
                            ledger_state::TxOutcome::Failed(f) => {
                                Some(ledger_metrics::variant_name(f))
                            }
                            ledger_state::TxOutcome::Applied => None,
                        },
                    )
                }),
        );
        if let Ok(validators) = ledger_state::validators(self.store.as_ref()) {
            m.signers(validators.iter().map(OrgId::as_str), |v| {
                b.commit
                    .signatures
                    .iter()
                    .any(|s| s.validator.as_str() == v)
            });
        }
    }

    /// Commits a block durably, then clears what it made obsolete from the mempool.
    pub fn commit(&self, proposal: &Proposal) -> Result<(), NodeError> {
        self.store
            .commit_block(&proposal.block, &proposal.execution)?;
        if proposal.execution.changes_keys() {
            // Pending transactions were checked against the keys before this block.
            self.mempool.keys_changed();
        }
        self.verdicts().committed(&proposal.block);
        self.mempool.remove_committed(
            &proposal.block.txs,
            std::iter::empty(),
            self.store.as_ref(),
        )?;
        self.forget_dropped(&proposal.dropped)?;
        {
            let b = &proposal.block;
            let mut lighter = self.lighter.lock().unwrap_or_else(|p| p.into_inner());
            if lighter.round0_at == Some(b.height()) {
                lighter.round0_at = None;
                lighter.shift = if b.header().proposer == self.org && b.commit.round == 0 {
                    lighter.shift.saturating_sub(1)
                } else {
                    (lighter.shift + 1).min(MAX_LIGHTER)
                };
            }
        }
        *self
            .last_commit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (
            proposal.block.commit.round,
            proposal.block.commit.signatures.len() as u32,
        );
        self.record_metrics(proposal);
        self.last_commit_ms.store(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.committed.send_replace(proposal.block.height());
        Ok(())
    }
}

/// Counts a refused transaction by kind (when it decodes) and reason.
fn count_rejection(bytes: &[u8], r: &Rejection) {
    let kind = Transaction::decode(bytes)
        .map(|t| t.body().payload.kind().name())
        .unwrap_or("");
    ledger_metrics::metrics().rejected(kind, r.code());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ledger_crypto::Ed25519SoftwareKey;
    use ledger_mempool::MempoolConfig;
    use ledger_state::testing::{payload_schema, TestOrg};
    use ledger_types::{Payload, Role, SchemaId, TxBody};

    use super::*;

    /// bank-a's key (a validator and member).
    const BANK_A: [u8; 32] = [7; 32];
    /// bank-b's key (a member, not a validator).
    const BANK_B: [u8; 32] = [8; 32];

    /// A genesis registering bank-a and bank-b.
    fn genesis() -> (Block, Execution) {
        let chain = ChainId::new("c").unwrap();
        let registrations = [
            ("bank-a", BANK_A, vec![Role::Validator, Role::Member]),
            ("bank-b", BANK_B, vec![Role::Member]),
        ]
        .into_iter()
        .map(|(org, seed, roles)| {
            ledger_state::genesis::registration(
                &Ed25519SoftwareKey::from_seed(&seed),
                &chain,
                &OrgId::new(org).unwrap(),
                &roles,
                TestOrg::new(org).enc_pk,
            )
            .unwrap()
        })
        .collect();
        ledger_state::genesis::genesis_block(&chain, 1, registrations).unwrap()
    }

    /// bank-a's ledger on a fresh store with `genesis`, with `block` limits.
    fn ledger_on(
        dir: &std::path::Path,
        block: BlockConfig,
        genesis: &(Block, Execution),
    ) -> Ledger {
        let chain = ChainId::new("c").unwrap();
        let store = Arc::new(Store::open(dir).unwrap());
        store.commit_block(&genesis.0, &genesis.1).unwrap();
        Ledger::new(
            store,
            Mempool::new(chain.clone(), MempoolConfig::default()),
            Arc::new(Ed25519SoftwareKey::from_seed(&BANK_A)),
            OrgId::new("bank-a").unwrap(),
            chain,
            genesis.0.hash(),
            block,
        )
    }

    /// A ledger on a fresh store whose genesis registers bank-a (the returned key) and
    /// bank-b, with `block` limits.
    fn ledger(dir: &std::path::Path, block: BlockConfig) -> (Ledger, Ed25519SoftwareKey) {
        (
            ledger_on(dir, block, &genesis()),
            Ed25519SoftwareKey::from_seed(&BANK_A),
        )
    }

    /// bank-a's schema registration `s{nonce}` with `nonce`.
    fn schema_tx(ledger: &Ledger, key: &Ed25519SoftwareKey, nonce: u64) -> Transaction {
        let mut schema = payload_schema();
        schema.schema = SchemaId::new(format!("s{nonce}")).unwrap();
        ledger_crypto::sign_tx(
            key,
            TxBody {
                chain_id: ledger.chain_id.clone(),
                signer: ledger.org.clone(),
                nonce,
                payload: Payload::RegisterSchema(schema),
            },
        )
        .unwrap()
    }

    /// A ledger whose blocks hold at most 8 transactions, with `n` schema registrations
    /// waiting in its mempool.
    fn eight_per_block_with_schemas(dir: &std::path::Path, n: u64) -> Ledger {
        let (ledger, key) = ledger(
            dir,
            BlockConfig {
                max_txs: 8,
                ..Default::default()
            },
        );
        for nonce in 1..=n {
            ledger
                .submit(schema_tx(&ledger, &key, nonce).bytes())
                .unwrap();
        }
        ledger
    }

    /// A round whose block the validators could not check in time is followed by a
    /// lighter one: the limits halve with each round, down to one transaction.
    #[test]
    fn each_later_round_builds_at_most_half_the_block() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = eight_per_block_with_schemas(dir.path(), 20);
        for (round, expected) in [(0, 8), (1, 4), (2, 2), (3, 1), (9, 1)] {
            let built = ledger.build_next_for_round(10, round).unwrap();
            assert_eq!(built.txs.len(), expected, "round {round}");
        }
        assert_eq!(ledger.build_next(10).unwrap().txs.len(), 8);
    }

    /// A proposer whose round-0 block did not decide builds lighter blocks at its next
    /// heights (halved once more per such height), and heavier again, one step per height,
    /// once its round-0 blocks decide.
    #[test]
    fn a_round_0_block_that_did_not_decide_makes_the_next_heights_lighter() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = eight_per_block_with_schemas(dir.path(), 40);
        // Commits the block this node builds for `round`, as decided in `decided_in`.
        let decide = |round: u32, decided_in: u32| {
            let built = ledger.build_next_for_round(10, round).unwrap();
            let n = built.txs.len();
            let mut block = Block::new(built.header, built.txs, Commit::default());
            block.commit.round = decided_in;
            ledger
                .commit(&Proposal {
                    block,
                    execution: built.execution,
                    dropped: built.dropped,
                })
                .unwrap();
            n
        };
        // Height 1: the round-0 block (8) did not decide; round 1's (4) did.
        assert_eq!(ledger.build_next_for_round(10, 0).unwrap().txs.len(), 8);
        assert_eq!(decide(1, 1), 4);
        // Height 2: round 0 offers 4, round 1 2; again only round 1 decides.
        assert_eq!(ledger.build_next_for_round(10, 0).unwrap().txs.len(), 4);
        assert_eq!(decide(1, 1), 2);
        // Height 3: 2 in round 0, and it decides: the next heights offer 4, then 8.
        assert_eq!(decide(0, 0), 2);
        assert_eq!(decide(0, 0), 4);
        assert_eq!(decide(0, 0), 8);
        assert_eq!(decide(0, 0), 8);
        // Heights this node did not build a round-0 block for change nothing.
        assert_eq!(decide(2, 2), 2);
        assert_eq!(ledger.build_next_for_round(10, 0).unwrap().txs.len(), 8);
    }

    /// The next free nonce is never one a block committed after the caller read the
    /// committed nonce (the gateway's writer saw `nonce_replayed` under load when a block
    /// committed between its two reads).
    #[tokio::test]
    async fn a_stale_committed_nonce_never_gives_a_used_one() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, key) = ledger(dir.path(), BlockConfig::default());
        let stale = ledger_state::next_nonce(ledger.store.as_ref(), &ledger.org).unwrap();
        for n in stale..stale + 3 {
            ledger.submit(schema_tx(&ledger, &key, n).bytes()).unwrap();
        }
        let p = ledger.propose(10, false).unwrap().unwrap();
        ledger.commit(&p).unwrap();
        assert_eq!(ledger.mempool.len(), 0);
        let free = ledger.next_free_nonce(&ledger.org, stale).await.unwrap();
        assert_eq!(free, stale + 3);
        // Nor one a transaction submitted after that block holds (the gateway's writer saw
        // `nonce_pending` under load, once in 2,000 puts).
        for n in stale + 3..stale + 5 {
            ledger.submit(schema_tx(&ledger, &key, n).bytes()).unwrap();
        }
        let free = ledger.next_free_nonce(&ledger.org, stale).await.unwrap();
        assert_eq!(free, stale + 5);
        assert_eq!(ledger.mempool.gapped(&ledger.org), 0);
    }

    /// bank-a's equality cross-check of records `r{n}a` and `r{n}b` (not stored) with
    /// nonce `n`: a transaction whose proof verifies faster in a batch.
    fn check_tx(ledger: &Ledger, key: &Ed25519SoftwareKey, n: u64) -> Transaction {
        let operand = |r: String| ledger_types::Operand {
            record: ledger_types::RecordId::new(r).unwrap(),
            version: 1,
            field: ledger_types::FieldName::new("amount").unwrap(),
        };
        ledger_crypto::sign_tx(
            key,
            TxBody {
                chain_id: ledger.chain_id.clone(),
                signer: ledger.org.clone(),
                nonce: n,
                payload: Payload::CrossCheck(ledger_types::CrossCheck {
                    relation: ledger_types::Relation::Linear(vec![1, -1]),
                    operands: vec![operand(format!("r{n}a")), operand(format!("r{n}b"))],
                    proof: vec![0; 64],
                }),
            },
        )
        .unwrap()
    }

    /// Single submissions with proofs that wait for a check are checked together, and
    /// each still gets its own outcome; others are checked one by one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn single_submissions_with_proofs_waiting_together_are_checked_as_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, key) = ledger(dir.path(), BlockConfig::default());
        let ledger = Arc::new(ledger.with_admission(Admission::new(1, 1000)));
        // The one worker is busy: everything submitted meanwhile waits.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let gate = {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.admission.run(move || hold.recv()).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut txs: Vec<Vec<u8>> = (1..=30u64)
            .map(|n| check_tx(&ledger, &key, n).bytes().to_vec())
            .collect();
        let forged = {
            let mut b = check_tx(&ledger, &key, 31).bytes().to_vec();
            let last = b.len() - 1;
            b[last] ^= 1;
            b
        };
        txs.push(forged);
        let mut calls = Vec::new();
        for b in txs.clone() {
            let ledger = ledger.clone();
            calls.push(tokio::spawn(async move { ledger.submit_tx(b).await }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        release.send(()).unwrap();
        gate.await.unwrap().unwrap().unwrap();
        let mut outcomes = Vec::new();
        for c in calls {
            outcomes.push(c.await.unwrap().unwrap_err().to_string());
        }
        // Each is answered about itself: its own missing record, or its bad signature.
        for (i, o) in outcomes[..30].iter().enumerate() {
            assert!(o.contains(&format!("r{}a", i + 1)), "{o}");
        }
        assert!(outcomes[30].contains("signature"), "{}", outcomes[30]);
        let checks = ledger.waiting.lock().unwrap().checks;
        assert_eq!(checks, 1, "31 submissions that waited together, one check");
        // A lone one is checked at once, alone; one without proofs is not queued at all.
        let lone = check_tx(&ledger, &key, 1);
        assert!(ledger.submit_tx(lone.bytes().to_vec()).await.is_err());
        assert_eq!(ledger.waiting.lock().unwrap().checks, 2);
        let plain = schema_tx(&ledger, &key, 1);
        assert_eq!(
            ledger.submit_tx(plain.bytes().to_vec()).await.unwrap(),
            plain.hash()
        );
        assert_eq!(ledger.waiting.lock().unwrap().checks, 2);
    }

    /// A transaction admitted while its signer's key was about to be rotated is not taken
    /// as verified once the rotation commits: the next block checks its signature again,
    /// as a validator that never saw it would, and leaves it out, instead of committing
    /// what the replaced key signed (validators that held it and validators that did not
    /// would otherwise disagree on the block).
    #[test]
    fn a_pending_transaction_signed_with_a_replaced_key_is_checked_again() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) = ledger(dir.path(), BlockConfig::default());
        let bank_b = OrgId::new("bank-b").unwrap();
        let old = Ed25519SoftwareKey::from_seed(&BANK_B);
        let new = Ed25519SoftwareKey::from_seed(&[9u8; 32]);
        let sign = |key: &Ed25519SoftwareKey, nonce: u64, payload: Payload| {
            ledger_crypto::sign_tx(
                key,
                TxBody {
                    chain_id: ledger.chain_id.clone(),
                    signer: bank_b.clone(),
                    nonce,
                    payload,
                },
            )
            .unwrap()
        };
        let context =
            ledger_crypto::possession::context(ledger.chain_id.as_str(), "bank-b", "signing");
        let proof = new
            .sign_digest(&ledger_crypto::possession::signing_statement(
                &context,
                &new.public_key(),
            ))
            .unwrap()
            .0;
        let mut e = ledger_types::codec::Encoder::new();
        new.public_key().encode(&mut e);
        let rotation = sign(
            &old,
            1,
            Payload::RotateKey(ledger_types::RotateKey {
                kind: ledger_types::KeyKind::Signing,
                key: e.finish(),
                proof,
            }),
        );
        ledger.submit(rotation.bytes()).unwrap();
        let first = ledger.propose(10, false).unwrap().unwrap();
        assert_eq!(first.block.txs.len(), 1);
        // Signed with the old key while the rotation is proposed but not committed: the old
        // key is still in force, so it is admitted.
        let stale = sign(&old, 2, Payload::RegisterSchema(payload_schema()));
        ledger.submit(stale.bytes()).unwrap();
        assert!(ledger.mempool.verified(&stale.hash()));
        ledger.commit(&first).unwrap();
        assert!(!ledger.mempool.verified(&stale.hash()));
        let next = ledger.build_next(20).unwrap();
        assert!(
            next.txs.is_empty(),
            "the replaced key's signature is not committed"
        );
        assert!(
            matches!(&next.dropped[..], [(h, ledger_state::TxRejection::BadSignature { .. })] if *h == stale.hash()),
            "{:?}",
            next.dropped
        );
        // The same nonce signed with the new key goes through.
        ledger.forget_dropped(&next.dropped).unwrap();
        let fresh = sign(&new, 2, Payload::RegisterSchema(payload_schema()));
        ledger.submit(fresh.bytes()).unwrap();
        assert!(ledger.mempool.verified(&fresh.hash()));
        let next = ledger.build_next(30).unwrap();
        assert_eq!(
            next.txs.iter().map(Transaction::hash).collect::<Vec<_>>(),
            vec![fresh.hash()]
        );
    }

    /// A block of `n` schema registrations by bank-a, built by a ledger in `proposer_dir`,
    /// and another validator's ledger (in `validator_dir`, same genesis) that holds none of
    /// them.
    fn proposal_for_another(
        proposer_dir: &std::path::Path,
        validator_dir: &std::path::Path,
        n: u64,
    ) -> (Block, Ledger) {
        let genesis = genesis();
        let proposer = ledger_on(proposer_dir, BlockConfig::default(), &genesis);
        let key = Ed25519SoftwareKey::from_seed(&BANK_A);
        for nonce in 1..=n {
            proposer
                .submit(schema_tx(&proposer, &key, nonce).bytes())
                .unwrap();
        }
        let built = proposer.build_next(10).unwrap();
        let block = Block::new(built.header, built.txs, Commit::default());
        (
            block,
            ledger_on(validator_dir, BlockConfig::default(), &genesis),
        )
    }

    /// A relay that arrives while a block validation verifies the same transactions waits
    /// for that validation and takes its verdict instead of verifying them at the same
    /// time; what the validation did not find verified, it checks itself.
    #[test]
    fn a_relay_under_validation_waits_for_its_verdict() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (block, validator) = proposal_for_another(a_dir.path(), b_dir.path(), 1);
        let validator = Arc::new(validator);
        let generation = validator.mempool.keys_generation();
        // Forged signatures: only a verdict can let one in.
        let forged = |nonce| {
            let key = Ed25519SoftwareKey::from_seed(&BANK_A);
            let mut bytes = schema_tx(&validator, &key, nonce).bytes().to_vec();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            (Transaction::decode(&bytes).unwrap(), bytes)
        };
        let relay = |bytes: Vec<u8>| {
            let v = validator.clone();
            std::thread::spawn(move || v.submit_many(&[bytes]).remove(0).map(|t| t.hash()))
        };
        for (nonce, verdict) in [(1, true), (2, false)] {
            let (tx, bytes) = forged(nonce);
            let hash = tx.hash();
            let under = Block::new(block.header().clone(), vec![tx], Commit::default());
            let (todo, hold) = validator.claim_unverified(&under, generation);
            assert_eq!(todo.len(), 1);
            let relayed = relay(bytes);
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert!(!relayed.is_finished(), "the relay waits for the validation");
            if verdict {
                validator
                    .verdicts()
                    .remember(generation, &[hash].into_iter().collect(), 100);
            }
            drop(hold);
            match relayed.join().unwrap() {
                Ok(h) => assert!(verdict && h == hash),
                Err(e) => assert!(
                    !verdict
                        && matches!(
                            e,
                            Rejection::Invalid(ledger_state::TxRejection::BadSignature { .. })
                        ),
                    "{e}"
                ),
            }
        }
    }

    /// What an admission verified is a verdict a block validation takes at once, before the
    /// admission has put it into the mempool.
    #[test]
    fn a_validation_takes_what_an_admission_under_way_verified() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (block, validator) = proposal_for_another(a_dir.path(), b_dir.path(), 3);
        let generation = validator.mempool.keys_generation();
        let part: Vec<Option<Transaction>> = block.txs.iter().cloned().map(Some).collect();
        let never = |_: &Hash| Ok::<_, ledger_state::StateError>(None);
        let checked = validator.check_part(&part, generation, 100, &never);
        assert_eq!(checked.ok.len(), 3);
        assert!(block
            .txs
            .iter()
            .all(|t| !validator.mempool.contains(&t.hash())));
        assert!(validator.unverified(&block, generation).is_empty());
        // Verdicts reached under keys since replaced neither count nor displace newer ones.
        validator.mempool.keys_changed();
        let newer = Hash([7; 32]);
        validator
            .verdicts()
            .remember(generation + 1, &[newer].into_iter().collect(), 100);
        validator.check_part(&part, generation, 100, &never);
        assert!(validator.verdicts().holds(generation + 1, &newer));
        assert_eq!(validator.unverified(&block, generation + 1).len(), 3);
    }

    /// A validator verifies a proposal's transactions that its mempool does not hold once:
    /// when the proposal misses its round and comes again (at the next round or height),
    /// only what is new is verified; a key change, or the block's commit, ends that.
    #[test]
    fn a_proposal_verified_once_is_not_verified_again() {
        use ledger_consensus::LedgerApp as _;
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (block, validator) = proposal_for_another(a_dir.path(), b_dir.path(), 5);
        let generation = validator.mempool.keys_generation();
        assert_eq!(validator.unverified(&block, generation).len(), 5);
        let first = validator.validate(&block).unwrap();
        assert!(validator.unverified(&block, generation).is_empty());
        // The same verdicts, without verifying.
        let again = validator.validate(&block).unwrap();
        assert_eq!(again.state_root(), first.state_root());
        // A forged signature is not covered by the verdict on the real one.
        let mut forged = block.txs[0].bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let forged = Transaction::decode(&forged).unwrap();
        let tampered = Block::new(block.header().clone(), vec![forged], Commit::default());
        assert_eq!(validator.unverified(&tampered, generation).len(), 1);
        // Under other keys, everything is verified again.
        validator.mempool.keys_changed();
        assert_eq!(validator.unverified(&block, generation + 1).len(), 5);
        validator.validate(&block).unwrap();
        // Committed transactions are forgotten.
        let block = Block::new(block.header().clone(), block.txs.clone(), Commit::default());
        validator
            .commit(&Proposal {
                block: block.clone(),
                execution: first,
                dropped: vec![],
            })
            .unwrap();
        assert_eq!(validator.verdicts().hashes_len(), 0);
    }

    /// A relayed transaction this validator already verified in a proposal (the relay came
    /// after the block) is admitted without verifying it again.
    #[test]
    fn a_relay_that_follows_its_proposal_is_not_verified_again() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (block, validator) = proposal_for_another(a_dir.path(), b_dir.path(), 3);
        ledger_consensus::LedgerApp::validate(&validator, &block).unwrap();
        let key = Ed25519SoftwareKey::from_seed(&BANK_A);
        let relayed: Vec<Vec<u8>> = block.txs.iter().map(|t| t.bytes().to_vec()).collect();
        assert!(validator.submit_many(&relayed).iter().all(Result::is_ok));
        // What shows that the verdict was used: a transaction whose signature does not
        // verify is refused, unless a proposal's verdict says it verified.
        let mut forged = schema_tx(&validator, &key, 4).bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let hash = Transaction::decode(&forged).unwrap().hash();
        assert!(matches!(
            &validator.submit_many(std::slice::from_ref(&forged))[0],
            Err(Rejection::Invalid(
                ledger_state::TxRejection::BadSignature { .. }
            ))
        ));
        let generation = validator.mempool.keys_generation();
        validator
            .verdicts()
            .remember(generation, &[hash].into_iter().collect(), 100);
        assert!(validator.submit_many(&[forged])[0].is_ok());
    }
}
