//! The mempool: admits transactions, deduplicates them, bounds memory, and hands a proposer
//! candidates in an order that applies (each signer's transactions in nonce order).
//!
//! Anonymous endorsements have no signer and no nonce: each is keyed by its topic and key
//! image instead, so a second endorsement by one member of one topic waits nowhere.
//!
//! Admission checks, cheapest first: size, decoding, nonce against committed state, member
//! directory, chain, kind, signature, then (when no earlier transaction of the signer is
//! pending) the transaction's effect against committed state. Every refusal is a
//! [`Rejection`] with a stable [`Rejection::code`] and a readable message. A transaction in
//! the mempool has a verified signature, so block building does not verify it again.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ledger_state::{
    keys, next_nonce, precheck_tx, SignatureCache, StateError, StateView, TxFailure, TxRejection,
};
use ledger_types::{ChainId, CodecError, Hash, OrgId, Payload, Topic, Transaction};
use thiserror::Error;

/// Mempool limits.
#[derive(Debug, Clone)]
pub struct MempoolConfig {
    /// Most transactions held.
    pub max_txs: usize,
    /// Most transaction bytes held.
    pub max_bytes: usize,
    /// Largest transaction admitted, in bytes.
    pub max_tx_bytes: usize,
    /// How far ahead of a signer's next committed nonce a transaction may be.
    pub max_nonce_gap: u64,
    /// Most transactions one signer may have waiting behind a gap in its nonces (not
    /// includable until the missing nonces arrive), so that one member's gapped nonces
    /// cannot fill the mempool and keep the others out.
    pub max_gapped_per_signer: usize,
    /// How long a transaction may wait behind a gap in its signer's nonces before it is
    /// dropped: the missing nonce may never come.
    pub gapped_ttl: Duration,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self {
            max_txs: 100_000,
            max_bytes: 256 * 1024 * 1024,
            max_tx_bytes: 64 * 1024,
            max_nonce_gap: 100_000,
            max_gapped_per_signer: 1_000,
            gapped_ttl: Duration::from_secs(600),
        }
    }
}

/// Why a transaction was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The bytes are not a canonical transaction.
    #[error("malformed transaction: {0}")]
    Malformed(CodecError),
    /// Bigger than this node admits.
    #[error("transaction of {size} bytes exceeds this node's limit of {max} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// It can never be in a block as it stands.
    #[error(transparent)]
    Invalid(TxRejection),
    /// Its nonce is too far ahead of the signer's next nonce.
    #[error("nonce {got} of {signer} is more than {max_gap} ahead of the next nonce {next}")]
    NonceTooFarAhead {
        /// The signer.
        signer: OrgId,
        /// The nonce given.
        got: u64,
        /// The next committed nonce.
        next: u64,
        /// The allowed gap.
        max_gap: u64,
    },
    /// Another transaction of the signer with this nonce is waiting.
    #[error("nonce {nonce} of {signer} is already taken by pending transaction {pending}")]
    NoncePending {
        /// The signer.
        signer: OrgId,
        /// The nonce.
        nonce: u64,
        /// The pending transaction.
        pending: Hash,
    },
    /// An endorsement of the same topic with the same key image (by the same member) is
    /// already waiting.
    #[error("topic {topic} already has a pending endorsement with this ring key: transaction {pending}; one endorsement per member per topic")]
    EndorsementPending {
        /// The topic.
        topic: Topic,
        /// The pending endorsement.
        pending: Hash,
    },
    /// This exact transaction is already waiting.
    #[error("transaction {0} is already in the mempool")]
    Duplicate(Hash),
    /// This exact transaction is already committed.
    #[error("transaction {hash} is already committed at height {height}")]
    AlreadyCommitted {
        /// The transaction.
        hash: Hash,
        /// Its block.
        height: u64,
    },
    /// It would be included but have no effect.
    #[error("transaction would have no effect: {0}")]
    WouldFail(TxFailure),
    /// The signer already has as many transactions waiting behind gaps in its nonces as
    /// one signer may.
    #[error("{signer} already has {gapped} transactions waiting behind a gap in its nonces (the limit is {max}); submit nonce {next_missing} first")]
    TooManyGapped {
        /// The signer.
        signer: OrgId,
        /// Its transactions waiting behind a gap.
        gapped: usize,
        /// The limit.
        max: usize,
        /// The first nonce it has not submitted.
        next_missing: u64,
    },
    /// No room.
    #[error("mempool is full ({txs} transactions, {bytes} bytes); retry later")]
    Full {
        /// Transactions held.
        txs: usize,
        /// Bytes held.
        bytes: usize,
    },
    /// State could not be read.
    #[error("node storage error during admission: {0}")]
    Storage(StateError),
}

impl Rejection {
    /// A stable, machine-readable reason.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::TooLarge { .. } => "too_large",
            Rejection::Invalid(r) => match r {
                TxRejection::WrongChain { .. } => "wrong_chain",
                TxRejection::UnknownSigner { .. } => "unknown_signer",
                TxRejection::BadSignature { .. } => "bad_signature",
                TxRejection::Suspended { .. } => "suspended",
                TxRejection::Removed { .. } => "removed",
                TxRejection::NonceUsed { .. } => "nonce_replayed",
                TxRejection::NonceAhead { .. } => "nonce_ahead",
                TxRejection::NotAllowed { .. } => "not_allowed",
                TxRejection::InvalidProof { .. } => "invalid_proof",
                TxRejection::BadEndorsement { .. } => "bad_endorsement",
                TxRejection::AlreadyEndorsed { .. } => "already_endorsed",
                TxRejection::State(_) => "storage",
                _ => "invalid",
            },
            Rejection::NonceTooFarAhead { .. } => "nonce_too_far_ahead",
            Rejection::NoncePending { .. } => "nonce_pending",
            Rejection::EndorsementPending { .. } => "endorsement_pending",
            Rejection::Duplicate(_) => "duplicate",
            Rejection::AlreadyCommitted { .. } => "already_committed",
            Rejection::WouldFail(_) => "would_fail",
            Rejection::TooManyGapped { .. } => "too_many_gapped",
            Rejection::Full { .. } => "mempool_full",
            Rejection::Storage(_) => "storage",
        }
    }
}

/// Presents `nonce` as the signer's next nonce, so the state machine's checks can run on a
/// transaction queued behind pending ones.
struct NonceAt<'a, V> {
    view: &'a V,
    key: Vec<u8>,
    nonce: u64,
}

impl<V: StateView> StateView for NonceAt<'_, V> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if key == self.key.as_slice() {
            return Ok(Some(self.nonce.to_be_bytes().to_vec()));
        }
        self.view.get(key)
    }
}

struct Entry {
    tx: Transaction,
    seq: u64,
    admitted: Instant,
    /// The key generation ([`Mempool::keys_generation`]) its checks ran under.
    checked_at: u64,
}

/// One signer's waiting transactions by nonce. `run_end` caches the end of the run of
/// consecutive nonces from `base` (the signer's next committed nonce as last seen): every
/// nonce in `base..run_end` waits and `run_end` does not, so the transactions behind a gap
/// are counted without walking the run (each admission is O(log n)).
#[derive(Default)]
struct Queue {
    nonces: BTreeMap<u64, Hash>,
    base: u64,
    run_end: u64,
}

impl Queue {
    /// Moves `base` to the signer's next committed nonce (entries below it are stale and
    /// must be removed by the caller first), then extends the run as far as it goes.
    fn rebase(&mut self, base: u64) {
        if base < self.base {
            // Never happens with a chain that only moves forward; recount from `base`.
            self.run_end = base;
        } else {
            self.run_end = self.run_end.max(base);
        }
        self.base = base;
        while self.nonces.contains_key(&self.run_end) {
            self.run_end += 1;
        }
    }

    /// Transactions waiting behind a gap.
    fn gapped(&self) -> usize {
        self.nonces
            .len()
            .saturating_sub((self.run_end - self.base) as usize)
    }

    fn insert(&mut self, nonce: u64, hash: Hash) {
        self.nonces.insert(nonce, hash);
        if nonce == self.run_end {
            self.rebase(self.base);
        }
    }

    fn remove(&mut self, nonce: u64) {
        if self.nonces.remove(&nonce).is_some() && (self.base..self.run_end).contains(&nonce) {
            self.run_end = nonce;
        }
    }
}

/// The height at which `tx` was committed, if it was, asking `committed_at` (the
/// transaction index, a storage read that misses for every new transaction) only when it
/// can have been: a block's signed transaction uses its signer's next nonce and moves it
/// on whether it applied or failed (genesis registrations set it to 1), so a transaction
/// whose nonce the chain has not reached is not committed. Anonymous transactions have no
/// nonce and are always looked up.
pub fn committed_height(
    tx: &Transaction,
    view: &impl StateView,
    committed_at: impl Fn(&Hash) -> Result<Option<u64>, StateError>,
) -> Result<Option<u64>, Rejection> {
    if !tx.is_anonymous() {
        let body = tx.body();
        if body.nonce >= next_nonce(view, &body.signer).map_err(Rejection::Storage)? {
            return Ok(None);
        }
    }
    committed_at(&tx.hash()).map_err(Rejection::Storage)
}

/// An anonymous endorsement's place: its topic and key image.
type Slot = (Topic, [u8; 32]);

fn slot(tx: &Transaction) -> Option<Slot> {
    match &tx.body().payload {
        Payload::Endorse(e) => Some((e.topic.clone(), e.key_image()?)),
        _ => None,
    }
}

#[derive(Default)]
struct Inner {
    by_hash: HashMap<Hash, Entry>,
    by_signer: BTreeMap<OrgId, Queue>,
    anonymous: BTreeMap<Slot, Hash>,
    bytes: usize,
    seq: u64,
}

impl Inner {
    /// Brings `signer`'s queue to its next committed nonce `next`: removes the entries
    /// below it (committed or replaced) and extends the cached run.
    fn rebase(&mut self, signer: &OrgId, next: u64) {
        let Some(q) = self.by_signer.get(signer) else {
            return;
        };
        // A next nonce below the one already known was read before a block that committed
        // since (the chain only moves forward): taking it would count the pending
        // transactions as gapped and answer a nonce below them, one they hold
        // ([`Mempool::next_free_nonce`]).
        if q.base >= next {
            return;
        }
        let stale: Vec<Hash> = q.nonces.range(..next).map(|(_, h)| *h).collect();
        if let Some(q) = self.by_signer.get_mut(signer) {
            // First, so that removing the stale entries (all below it) keeps the run.
            q.rebase(next);
        }
        for h in stale {
            self.remove(&h);
        }
    }

    fn remove(&mut self, hash: &Hash) {
        if let Some(e) = self.by_hash.remove(hash) {
            self.bytes -= e.tx.len();
            if let Some(slot) = slot(&e.tx) {
                self.anonymous.remove(&slot);
                return;
            }
            let body = e.tx.body();
            if let Some(q) = self.by_signer.get_mut(&body.signer) {
                q.remove(body.nonce);
                if q.nonces.is_empty() {
                    self.by_signer.remove(&body.signer);
                }
            }
        }
    }
}

/// The mempool.
pub struct Mempool {
    config: MempoolConfig,
    chain_id: ChainId,
    inner: Mutex<Inner>,
    last_expiry: Mutex<Option<Instant>>,
    /// Moves on each time a committed block changes a key (see [`Mempool::keys_changed`]).
    keys_generation: AtomicU64,
}

impl Mempool {
    /// An empty mempool for `chain_id`.
    pub fn new(chain_id: ChainId, config: MempoolConfig) -> Self {
        Self {
            config,
            chain_id,
            inner: Mutex::new(Inner::default()),
            last_expiry: Mutex::new(None),
            keys_generation: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks and admits a transaction received as bytes; `next_height` is the height of
    /// the next block, `committed_at` tells the height at which a transaction hash was
    /// committed, if it was. Returns the decoded transaction.
    pub fn admit(
        &self,
        bytes: &[u8],
        view: &impl StateView,
        next_height: u64,
        committed_at: impl Fn(&Hash) -> Result<Option<u64>, StateError>,
    ) -> Result<Transaction, Rejection> {
        let now = self.keys_generation();
        self.admit_with(bytes, view, next_height, committed_at, &(), now)
    }

    /// [`Mempool::admit`], skipping the signature and proof checks of transactions `cache`
    /// says were already checked (for example on all cores, for a batch): those that
    /// verified are taken as verified, those that failed are refused with the failure
    /// found, so nothing is verified twice. `checked_at` is the key generation
    /// ([`Mempool::keys_generation`]) read before `cache`'s checks began: if a block changed
    /// a key since, the transaction is admitted but no longer counts as verified.
    pub fn admit_with(
        &self,
        bytes: &[u8],
        view: &impl StateView,
        next_height: u64,
        committed_at: impl Fn(&Hash) -> Result<Option<u64>, StateError>,
        cache: &dyn SignatureCache,
        checked_at: u64,
    ) -> Result<Transaction, Rejection> {
        if bytes.len() > self.config.max_tx_bytes {
            return Err(Rejection::TooLarge {
                size: bytes.len(),
                max: self.config.max_tx_bytes,
            });
        }
        let tx = Transaction::decode(bytes).map_err(Rejection::Malformed)?;
        self.admit_decoded(tx, view, next_height, committed_at, cache, checked_at)
    }

    /// [`Mempool::admit_with`] for a transaction already decoded (from bytes of at most
    /// the configured size).
    pub fn admit_decoded(
        &self,
        tx: Transaction,
        view: &impl StateView,
        next_height: u64,
        committed_at: impl Fn(&Hash) -> Result<Option<u64>, StateError>,
        cache: &dyn SignatureCache,
        checked_at: u64,
    ) -> Result<Transaction, Rejection> {
        if tx.len() > self.config.max_tx_bytes {
            return Err(Rejection::TooLarge {
                size: tx.len(),
                max: self.config.max_tx_bytes,
            });
        }
        if let Some(height) = committed_height(&tx, view, &committed_at)? {
            return Err(Rejection::AlreadyCommitted {
                hash: tx.hash(),
                height,
            });
        }
        if tx.is_anonymous() {
            return self.admit_anonymous(tx, view, next_height, cache, checked_at);
        }
        let body = tx.body();
        let committed_next = next_nonce(view, &body.signer).map_err(Rejection::Storage)?;
        if body.nonce < committed_next {
            return Err(Rejection::Invalid(TxRejection::NonceUsed {
                signer: body.signer.clone(),
                got: body.nonce,
                next: committed_next,
            }));
        }
        if body.nonce - committed_next > self.config.max_nonce_gap {
            return Err(Rejection::NonceTooFarAhead {
                signer: body.signer.clone(),
                got: body.nonce,
                next: committed_next,
                max_gap: self.config.max_nonce_gap,
            });
        }
        {
            let inner = self.lock();
            if inner.by_hash.contains_key(&tx.hash()) {
                return Err(Rejection::Duplicate(tx.hash()));
            }
        }
        // Chain, kind, member, signature and (when nothing of the signer is pending before
        // it) the effect: the state machine's own checks, with the nonce taken as next.
        let at = NonceAt {
            view,
            key: keys::nonce(&body.signer),
            nonce: body.nonce,
        };
        let failure = precheck_tx(&at, &self.chain_id, next_height, &tx, cache)
            .map_err(Rejection::Invalid)?;
        if let Some(f) = failure {
            if body.nonce == committed_next {
                return Err(Rejection::WouldFail(f));
            }
        }
        let mut inner = self.lock();
        if inner.by_hash.contains_key(&tx.hash()) {
            return Err(Rejection::Duplicate(tx.hash()));
        }
        if let Some(pending) = inner
            .by_signer
            .get(&body.signer)
            .and_then(|q| q.nonces.get(&body.nonce))
        {
            return Err(Rejection::NoncePending {
                signer: body.signer.clone(),
                nonce: body.nonce,
                pending: *pending,
            });
        }
        inner.rebase(&body.signer, committed_next);
        if let Some(q) = inner.by_signer.get(&body.signer) {
            if body.nonce > q.run_end && q.gapped() >= self.config.max_gapped_per_signer {
                return Err(Rejection::TooManyGapped {
                    signer: body.signer.clone(),
                    gapped: q.gapped(),
                    max: self.config.max_gapped_per_signer,
                    next_missing: q.run_end,
                });
            }
        }
        self.hold(&mut inner, &tx, checked_at)?;
        let q = inner.by_signer.entry(body.signer.clone()).or_default();
        if q.nonces.is_empty() {
            (q.base, q.run_end) = (committed_next, committed_next);
        }
        q.insert(body.nonce, tx.hash());
        Ok(tx)
    }

    /// Counts `tx` in, if there is room.
    fn hold(&self, inner: &mut Inner, tx: &Transaction, checked_at: u64) -> Result<(), Rejection> {
        if inner.by_hash.len() >= self.config.max_txs
            || inner.bytes + tx.len() > self.config.max_bytes
        {
            return Err(Rejection::Full {
                txs: inner.by_hash.len(),
                bytes: inner.bytes,
            });
        }
        inner.seq += 1;
        let seq = inner.seq;
        inner.bytes += tx.len();
        inner.by_hash.insert(
            tx.hash(),
            Entry {
                tx: tx.clone(),
                seq,
                admitted: Instant::now(),
                checked_at,
            },
        );
        Ok(())
    }

    /// Admits an anonymous endorsement: its ring signature and unused key image are the
    /// state machine's checks; one may wait per topic and key image.
    fn admit_anonymous(
        &self,
        tx: Transaction,
        view: &impl StateView,
        next_height: u64,
        cache: &dyn SignatureCache,
        checked_at: u64,
    ) -> Result<Transaction, Rejection> {
        if self.contains(&tx.hash()) {
            return Err(Rejection::Duplicate(tx.hash()));
        }
        precheck_tx(view, &self.chain_id, next_height, &tx, cache).map_err(Rejection::Invalid)?;
        let Some(slot) = slot(&tx) else {
            return Err(Rejection::Malformed(CodecError::NotCanonical {
                what: "Endorse",
                reason: "no key image".into(),
            }));
        };
        let mut inner = self.lock();
        if inner.by_hash.contains_key(&tx.hash()) {
            return Err(Rejection::Duplicate(tx.hash()));
        }
        if let Some(pending) = inner.anonymous.get(&slot) {
            return Err(Rejection::EndorsementPending {
                topic: slot.0,
                pending: *pending,
            });
        }
        self.hold(&mut inner, &tx, checked_at)?;
        inner.anonymous.insert(slot, tx.hash());
        Ok(tx)
    }

    /// Candidates for the next block: each signer's run of consecutive nonces starting at
    /// its next committed nonce, merged in arrival order, within the limits.
    pub fn candidates(
        &self,
        view: &impl StateView,
        max_txs: usize,
        max_bytes: usize,
    ) -> Result<Vec<Transaction>, StateError> {
        let inner = self.lock();
        let mut runs: Vec<Vec<&Entry>> = Vec::new();
        for (signer, q) in &inner.by_signer {
            let first = next_nonce(view, signer)?;
            let mut run: Vec<&Entry> = q
                .nonces
                .range(first..)
                .zip(first..)
                .take_while(|((nonce, _), expect)| *nonce == expect)
                .filter_map(|((_, hash), _)| inner.by_hash.get(hash))
                .collect();
            if !run.is_empty() {
                run.reverse();
                runs.push(run);
            }
        }
        runs.extend(
            inner
                .anonymous
                .values()
                .filter_map(|h| inner.by_hash.get(h))
                .map(|e| vec![e]),
        );
        let mut heap: BinaryHeap<Reverse<(u64, usize)>> = runs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.last().map(|e| Reverse((e.seq, i))))
            .collect();
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some(Reverse((_, i))) = heap.pop() {
            let Some(e) = runs[i].pop() else { continue };
            if out.len() >= max_txs || bytes + e.tx.len() > max_bytes {
                break;
            }
            bytes += e.tx.len();
            out.push(e.tx.clone());
            if let Some(next) = runs[i].last() {
                heap.push(Reverse((next.seq, i)));
            }
        }
        Ok(out)
    }

    /// Removes what a committed block included, anything it made stale (nonces below each
    /// signer's new next nonce, endorsements whose topic and key image it spent), and the
    /// transactions in `dropped`.
    pub fn remove_committed<'a>(
        &self,
        included: impl IntoIterator<Item = &'a Transaction>,
        dropped: impl IntoIterator<Item = &'a Hash>,
        view: &impl StateView,
    ) -> Result<(), StateError> {
        let mut inner = self.lock();
        let mut signers = HashSet::new();
        for tx in included {
            inner.remove(&tx.hash());
            match slot(tx) {
                // Another endorsement by the same member of the same topic (submitted
                // through another node) can never apply now.
                Some(spent) => {
                    if let Some(h) = inner.anonymous.get(&spent).copied() {
                        inner.remove(&h);
                    }
                }
                None => {
                    signers.insert(tx.body().signer.clone());
                }
            }
        }
        for h in dropped {
            inner.remove(h);
        }
        for signer in signers {
            let next = next_nonce(view, &signer)?;
            inner.rebase(&signer, next);
        }
        drop(inner);
        self.expire_gapped(Instant::now());
        Ok(())
    }

    /// Drops the transactions that waited behind a gap in their signer's nonces for longer
    /// than the configured time (at most once a second; also called at each commit).
    /// Returns how many it dropped.
    pub fn expire_gapped(&self, now: Instant) -> usize {
        {
            let mut last = self.last_expiry.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1)) {
                return 0;
            }
            *last = Some(now);
        }
        let mut inner = self.lock();
        let ttl = self.config.gapped_ttl;
        let expired: Vec<Hash> = inner
            .by_signer
            .values()
            .filter(|q| q.gapped() > 0)
            .flat_map(|q| q.nonces.range(q.run_end..).map(|(_, h)| *h))
            .filter(|h| {
                inner
                    .by_hash
                    .get(h)
                    .is_some_and(|e| now.saturating_duration_since(e.admitted) >= ttl)
            })
            .collect();
        for h in &expired {
            tracing::info!(tx = %h, "dropped a transaction that waited behind a gap in its signer's nonces for longer than [mempool] gapped_ttl_secs");
            inner.remove(h);
        }
        expired.len()
    }

    /// The largest transaction admitted, in bytes.
    pub fn max_tx_bytes(&self) -> usize {
        self.config.max_tx_bytes
    }

    /// The waiting transaction `hash`, if any.
    pub fn get(&self, hash: &Hash) -> Option<Transaction> {
        self.lock().by_hash.get(hash).map(|e| e.tx.clone())
    }

    /// True if `hash` waits in the mempool.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.lock().by_hash.contains_key(hash)
    }

    /// True if `hash` waits in the mempool and its signature and proofs were checked under
    /// the keys in force now: a block may then skip checking them again
    /// ([`ledger_state::SignatureCache`]). One checked before a block changed a key (a
    /// member rotated its signing key, or governance did after a loss; a regulator rotated
    /// its audit key) waits on, but is checked again when a block includes it, as a node
    /// that never saw it would check it.
    pub fn verified(&self, hash: &Hash) -> bool {
        let now = self.keys_generation();
        self.lock()
            .by_hash
            .get(hash)
            .is_some_and(|e| e.checked_at == now)
    }

    /// The key generation: how many committed blocks changed a key since this mempool
    /// started. Read it before checking a transaction whose verdict is then handed to
    /// [`Mempool::admit_with`].
    pub fn keys_generation(&self) -> u64 {
        self.keys_generation.load(Ordering::SeqCst)
    }

    /// A committed block changed a key (call after the block is in the store): what was
    /// checked before no longer counts as verified ([`Mempool::verified`]).
    pub fn keys_changed(&self) {
        self.keys_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Transactions waiting.
    pub fn len(&self) -> usize {
        self.lock().by_hash.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// The first nonce after `signer`'s consecutive pending run from `committed_next`.
    pub fn next_free_nonce(&self, signer: &OrgId, committed_next: u64) -> u64 {
        let mut inner = self.lock();
        inner.rebase(signer, committed_next);
        inner
            .by_signer
            .get(signer)
            .map_or(committed_next, |q| q.run_end)
    }

    /// How many of `signer`'s transactions wait behind a gap in its nonces.
    pub fn gapped(&self, signer: &OrgId) -> usize {
        self.lock().by_signer.get(signer).map_or(0, Queue::gapped)
    }
}
