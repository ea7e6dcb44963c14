//! The consensus driver in process: no sockets, files or node processes. A fake ledger
//! (blocks over an in-memory chain) and an in-memory [`ProposalStore`] stand behind it, and
//! the test plays the engine through the driver's channels.
//!
//! What must hold: a proposal is kept before it is returned and the same block is proposed
//! again for that round after a restart; a proposal that cannot be kept is never returned;
//! a valid received block is kept before its verdict, so a decision replayed after a restart
//! commits it; an invalid one is not kept; a commit prunes what is kept at or below it.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ledger_consensus::{
    header_part_digest, Address, BlockId, Driver, DriverConfig, Height, LedgerApp, LedgerContext,
    ProposalPart, ProposalStore, Validator, ValidatorSet,
};
use ledger_crypto::{Ed25519SoftwareKey, LtHash16, Signer};
use ledger_state::{Execution, StateDiff};
use ledger_store::ProposalReceipt;
use ledger_types::{Block, BlockHeader, ChainId, Commit, Hash, OrgId};
use malachitebft_app_channel::app::events::TxEvent;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, LinearTimeouts, Round, Validity, VoteExtensions,
};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

// ---------------------------------------------------------------- the kept blocks

/// Holds a save until the test releases it, after telling the test it started.
struct Gate {
    entered: mpsc::UnboundedSender<&'static str>,
    release: std::sync::mpsc::Receiver<()>,
}

/// When proposed blocks first arrived, by (height, round, block hash).
type Arrivals = BTreeMap<(u64, u32, [u8; 32]), u64>;

/// An in-memory [`ProposalStore`]: survives a driver restart by being shared.
#[derive(Default)]
struct MemoryStore {
    proposals: Mutex<BTreeMap<(u64, u32), Block>>,
    candidates: Mutex<BTreeMap<(u64, [u8; 32]), Block>>,
    receipts: Mutex<Arrivals>,
    refuse_writes: AtomicBool,
    gate: Mutex<Option<Gate>>,
}

impl MemoryStore {
    fn write(&self, what: &'static str) -> Result<(), String> {
        if let Some(gate) = self.gate.lock().unwrap().as_ref() {
            gate.entered.send(what).unwrap();
            gate.release.recv().unwrap();
        }
        if self.refuse_writes.load(Ordering::SeqCst) {
            return Err(format!("disk full while keeping a {what}"));
        }
        Ok(())
    }

    /// From now on every save waits for `release` after announcing itself on the result.
    fn hold_saves(
        &self,
    ) -> (
        mpsc::UnboundedReceiver<&'static str>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (entered, entered_rx) = mpsc::unbounded_channel();
        let (release_tx, release) = std::sync::mpsc::channel();
        *self.gate.lock().unwrap() = Some(Gate { entered, release });
        (entered_rx, release_tx)
    }

    fn proposal_heights(&self) -> Vec<(u64, u32)> {
        self.proposals.lock().unwrap().keys().copied().collect()
    }

    fn candidate_hashes(&self) -> Vec<Hash> {
        let kept = self.candidates.lock().unwrap();
        kept.values().map(Block::hash).collect()
    }
}

/// The kind of the next save the driver started (held by the gate).
async fn next_save(entered: &mut mpsc::UnboundedReceiver<&'static str>) -> &'static str {
    tokio::time::timeout(Duration::from_secs(10), entered.recv())
        .await
        .expect("the driver kept nothing")
        .unwrap()
}

impl ProposalStore for MemoryStore {
    fn save_proposal(&self, height: u64, round: u32, block: &Block) -> Result<(), String> {
        self.write("proposal")?;
        self.proposals
            .lock()
            .unwrap()
            .insert((height, round), block.clone());
        Ok(())
    }

    fn proposal(&self, height: u64, round: u32) -> Result<Option<Block>, String> {
        Ok(self
            .proposals
            .lock()
            .unwrap()
            .get(&(height, round))
            .cloned())
    }

    fn save_candidate(&self, block: &Block) -> Result<(), String> {
        self.write("candidate")?;
        self.candidates
            .lock()
            .unwrap()
            .insert((block.height(), block.hash().0), block.clone());
        Ok(())
    }

    fn candidates_above(&self, height: u64) -> Result<Vec<Block>, String> {
        let kept = self.candidates.lock().unwrap();
        Ok(kept
            .range((height + 1, [0; 32])..)
            .map(|(_, b)| b.clone())
            .collect())
    }

    fn save_receipt(
        &self,
        receipt: &ProposalReceipt,
        candidate: Option<&Block>,
    ) -> Result<(), String> {
        // One write: a candidate's, when it holds one.
        self.write(if candidate.is_some() {
            "candidate"
        } else {
            "receipt"
        })?;
        self.receipts.lock().unwrap().insert(
            (receipt.height, receipt.round, receipt.block.0),
            receipt.received_ms,
        );
        if let Some(block) = candidate {
            self.candidates
                .lock()
                .unwrap()
                .insert((block.height(), block.hash().0), block.clone());
        }
        Ok(())
    }

    fn receipts_above(&self, height: u64) -> Result<Vec<ProposalReceipt>, String> {
        let kept = self.receipts.lock().unwrap();
        Ok(kept
            .range((height + 1, 0, [0; 32])..)
            .map(|(&(height, round, block), &received_ms)| ProposalReceipt {
                height,
                round,
                block: Hash(block),
                received_ms,
            })
            .collect())
    }

    fn prune_at_or_below(&self, height: u64) -> Result<(), String> {
        self.receipts
            .lock()
            .unwrap()
            .retain(|(h, _, _), _| *h > height);
        self.proposals
            .lock()
            .unwrap()
            .retain(|(h, _), _| *h > height);
        self.candidates
            .lock()
            .unwrap()
            .retain(|(h, _), _| *h > height);
        Ok(())
    }
}

// ---------------------------------------------------------------- the fake ledger

fn chain_id() -> ChainId {
    ChainId::new("driver-test").unwrap()
}

fn org() -> OrgId {
    OrgId::new("bank-a").unwrap()
}

/// bank-a's consensus key (it signs the header parts of its streams).
fn key() -> Ed25519SoftwareKey {
    Ed25519SoftwareKey::from_seed(&[7; 32])
}

/// Another validator's key.
fn other_key() -> Ed25519SoftwareKey {
    Ed25519SoftwareKey::from_seed(&[8; 32])
}

/// A block on top of `parent`; `salt` (the timestamp) tells blocks of one height apart.
fn child_of(parent: &Block, salt: u64) -> Block {
    Block::new(
        BlockHeader {
            chain_id: chain_id(),
            height: parent.height() + 1,
            prev_hash: parent.hash(),
            timestamp_ms: salt,
            proposer: org(),
            tx_count: 0,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
        },
        vec![],
        Commit::default(),
    )
}

fn genesis() -> Block {
    Block::new(
        BlockHeader {
            chain_id: chain_id(),
            height: 0,
            prev_hash: Hash::ZERO,
            timestamp_ms: 0,
            proposer: org(),
            tx_count: 0,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
        },
        vec![],
        Commit::default(),
    )
}

fn execution() -> Execution {
    Execution {
        diff: StateDiff::default(),
        outcomes: vec![],
        accumulator: LtHash16::new(),
    }
}

/// A chain in memory: builds children of its tip, accepts only them, commits them.
struct FakeLedger {
    chain: Mutex<Vec<Block>>,
    builds: AtomicU64,
    /// Blocks the other validators committed (what `fetch_decided` can find).
    peers: Mutex<Vec<Block>>,
    fetches: AtomicU64,
    /// This validator's clock (ms); the blocks of these tests carry times near 1,000.
    clock: AtomicU64,
    /// bank-b is a validator too (then it proposes height 1 round 0).
    two_validators: AtomicBool,
    validations: AtomicU64,
}

impl FakeLedger {
    fn new() -> Arc<Self> {
        Arc::new(FakeLedger {
            chain: Mutex::new(vec![genesis()]),
            builds: AtomicU64::new(0),
            peers: Mutex::new(vec![]),
            fetches: AtomicU64::new(0),
            clock: AtomicU64::new(1_000),
            two_validators: AtomicBool::new(false),
            validations: AtomicU64::new(0),
        })
    }

    fn tip(&self) -> Block {
        self.chain.lock().unwrap().last().cloned().unwrap()
    }

    fn builds(&self) -> u64 {
        self.builds.load(Ordering::SeqCst)
    }
}

impl LedgerApp for FakeLedger {
    fn height(&self) -> u64 {
        self.tip().height()
    }

    fn validator_set(&self) -> Result<ValidatorSet, String> {
        let mut set = vec![Validator {
            address: Address(org()),
            public_key: key().public_key(),
            newcomer: false,
        }];
        if self.two_validators.load(Ordering::SeqCst) {
            set.push(Validator {
                address: Address(OrgId::new("bank-b").unwrap()),
                public_key: other_key().public_key(),
                newcomer: false,
            });
        }
        Ok(ValidatorSet::new(set))
    }

    fn sign_digest(&self, digest: &Hash) -> Result<ledger_types::Signature, String> {
        key().sign_digest(digest).map_err(|e| e.to_string())
    }

    fn build(&self, now_ms: u64, _round: u32) -> Result<(Block, Execution), String> {
        let n = self.builds.fetch_add(1, Ordering::SeqCst) + 1;
        Ok((child_of(&self.tip(), now_ms + n), execution()))
    }

    fn validate(&self, block: &Block) -> Result<Execution, String> {
        self.validations.fetch_add(1, Ordering::SeqCst);
        let tip = self.tip();
        if block.height() != tip.height() + 1 || block.header().prev_hash != tip.hash() {
            return Err(format!("block {} is not a child of the tip", block.hash()));
        }
        Ok(execution())
    }

    fn commit(&self, block: Block, _execution: Execution) -> Result<(), String> {
        self.validate(&block)?;
        self.chain.lock().unwrap().push(block);
        Ok(())
    }

    fn block(&self, height: u64) -> Result<Option<Block>, String> {
        Ok(self.chain.lock().unwrap().get(height as usize).cloned())
    }

    fn now_ms(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn fetch_decided(&self, height: u64, id: &Hash) -> Result<Block, String> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.peers
            .lock()
            .unwrap()
            .iter()
            .find(|b| b.height() == height && b.hash() == *id)
            .cloned()
            .ok_or_else(|| format!("no peer holds block {id} at height {height}"))
    }
}

// ---------------------------------------------------------------- the engine's side

/// A running driver and the engine's ends of its channels.
struct Engine {
    to_driver: mpsc::Sender<AppMsg<LedgerContext>>,
    network: mpsc::Receiver<NetworkMsg<LedgerContext>>,
    driver: JoinHandle<Result<ledger_consensus::Ended, String>>,
}

fn start(app: &Arc<FakeLedger>, store: &Arc<MemoryStore>) -> Engine {
    let (to_driver, consensus) = mpsc::channel(16);
    let (network_tx, network) = mpsc::channel(1024);
    let channels = Channels {
        consensus,
        network: network_tx,
        events: TxEvent::new(),
        requests: mpsc::channel(1).0,
        net_requests: mpsc::channel(1).0,
    };
    let driver = Driver::new(
        app.clone(),
        store.clone(),
        DriverConfig {
            me: Address(org()),
            block_time: Duration::ZERO,
            timeouts: LinearTimeouts::default(),
            part_max_bytes: 1 << 20,
            timestamp_precision: Duration::from_millis(500),
            timestamp_message_delay: Duration::from_secs(3),
            chain: chain_id(),
            max_block_bytes: 1 << 20,
        },
    );
    Engine {
        to_driver,
        network,
        driver: tokio::spawn(driver.run(channels)),
    }
}

impl Engine {
    async fn send(&self, msg: AppMsg<LedgerContext>) {
        self.to_driver.send(msg).await.unwrap();
    }

    /// Asks for the value of (height, round); returns the reply's receiver.
    async fn get_value(
        &self,
        height: u64,
        round: u32,
    ) -> oneshot::Receiver<malachitebft_app_channel::app::types::LocallyProposedValue<LedgerContext>>
    {
        let (reply, rx) = oneshot::channel();
        self.send(AppMsg::GetValue {
            height: Height(height),
            round: Round::new(round),
            timeout: Duration::from_secs(1),
            reply,
        })
        .await;
        rx
    }

    /// Delivers one part; returns the reply's receiver.
    async fn part(
        &self,
        part: StreamMessage<ProposalPart>,
    ) -> oneshot::Receiver<Option<ProposedValue<LedgerContext>>> {
        let (reply, rx) = oneshot::channel();
        self.send(AppMsg::ReceivedProposalPart {
            from: peer(2),
            published_by: Some(peer(1)),
            part,
            reply,
        })
        .await;
        rx
    }

    /// Delivers every part of `block`'s stream; returns the verdict on the last one.
    async fn receive(&self, block: &Block) -> Option<ProposedValue<LedgerContext>> {
        self.receive_stream(stream_of(block)).await
    }

    /// Delivers every part of a stream; returns the verdict on the last one.
    async fn receive_stream(
        &self,
        mut parts: Vec<StreamMessage<ProposalPart>>,
    ) -> Option<ProposedValue<LedgerContext>> {
        let last = parts.pop().unwrap();
        for p in parts {
            assert_eq!(self.part(p).await.await.unwrap(), None);
        }
        self.part(last).await.await.unwrap()
    }

    /// Reports the decision on `block` at round 0; returns the acknowledgement's receiver.
    async fn decided(&self, block: &Block) -> oneshot::Receiver<()> {
        let (reply, rx) = oneshot::channel();
        self.send(AppMsg::Decided {
            certificate: CommitCertificate {
                height: Height(block.height()),
                round: Round::new(0),
                value_id: BlockId(block.hash()),
                commit_signatures: vec![],
            },
            extensions: VoteExtensions::default(),
            reply,
        })
        .await;
        rx
    }

    /// The parts published so far, up to and including the first end of stream.
    async fn published_stream(&mut self) -> Vec<StreamContent<ProposalPart>> {
        let mut out = Vec::new();
        while let Some(NetworkMsg::PublishProposalPart(m)) = self.network.recv().await {
            let fin = m.content.is_fin();
            out.push(m.content);
            if fin {
                break;
            }
        }
        out
    }

    /// Closes the engine's side, as a crash or restart does, and waits for the driver.
    async fn stop(self) -> Result<(), String> {
        drop(self.to_driver);
        self.driver.await.unwrap().map(|ended| {
            assert_eq!(
                ended,
                ledger_consensus::Ended::EngineClosed,
                "the driver ended early"
            );
        })
    }
}

/// A peer id (an identity multihash of one byte).
fn peer(n: u8) -> PeerId {
    PeerId::from_bytes(&[0, 1, n]).unwrap()
}

/// The parts a proposer streams for `block` in round 0.
fn stream_of(block: &Block) -> Vec<StreamMessage<ProposalPart>> {
    stream_at(block, 0, Round::Nil)
}

/// The parts a proposer streams for `block` in `round`, with its proof-of-lock round.
fn stream_at(block: &Block, round: u32, pol_round: Round) -> Vec<StreamMessage<ProposalPart>> {
    signed_stream(block, round, pol_round, &org(), &key())
}

/// The parts `proposer` streams for `block`, its header part signed with `signer`.
fn signed_stream(
    block: &Block,
    round: u32,
    pol_round: Round,
    proposer: &OrgId,
    signer: &Ed25519SoftwareKey,
) -> Vec<StreamMessage<ProposalPart>> {
    let mut id = block.hash().0.to_vec();
    id.extend(round.to_be_bytes());
    id.extend(proposer.as_str().as_bytes());
    id.extend(&signer.public_key().bytes()[..4]);
    let id = StreamId::new(Bytes::from(id));
    let header = block.header().encode();
    let proposer = Address(proposer.clone());
    let digest = header_part_digest(
        &chain_id(),
        Height(block.height()),
        round,
        pol_round,
        &proposer,
        &header,
    );
    let contents = [
        StreamContent::Data(ProposalPart::Header {
            height: Height(block.height()),
            round,
            pol_round,
            proposer,
            header,
            signature: signer.sign_digest(&digest).unwrap().0,
        }),
        StreamContent::Data(ProposalPart::End { tx_count: 0 }),
        StreamContent::Fin,
    ];
    contents
        .into_iter()
        .enumerate()
        .map(|(seq, c)| StreamMessage::new(id.clone(), seq as u64, c))
        .collect()
}

// ---------------------------------------------------------------- the cases

#[tokio::test]
async fn a_proposal_is_kept_before_it_is_returned_and_proposed_again_after_a_restart() {
    let (app, store) = (FakeLedger::new(), Arc::new(MemoryStore::default()));
    let (mut entered, release) = store.hold_saves();
    let mut engine = start(&app, &store);
    let mut reply = engine.get_value(1, 0).await;
    // The proposal, then the same block as a candidate, each kept with no answer yet.
    for what in ["proposal", "candidate"] {
        assert_eq!(next_save(&mut entered).await, what);
        assert!(
            reply.try_recv().is_err(),
            "answered before the {what} was kept"
        );
        release.send(()).unwrap();
    }
    let proposed = reply.await.unwrap();
    let kept = store.proposal(1, 0).unwrap().unwrap();
    assert_eq!(proposed.value, BlockId(kept.hash()));
    assert_eq!(store.candidate_hashes(), vec![kept.hash()]);
    assert_eq!(engine.published_stream().await.len(), 3);
    *store.gate.lock().unwrap() = None;
    engine.stop().await.unwrap();

    // After a restart: the same block for (1, 0), built once; a new one for (1, 1).
    let mut engine = start(&app, &store);
    let again = engine.get_value(1, 0).await.await.unwrap();
    assert_eq!(again.value, proposed.value);
    assert_eq!(app.builds(), 1);
    let header = match engine.published_stream().await.remove(0) {
        StreamContent::Data(ProposalPart::Header { header, .. }) => header,
        other => panic!("the stream starts with {other:?}"),
    };
    assert_eq!(header, kept.header().encode());
    let next_round = engine.get_value(1, 1).await.await.unwrap();
    assert_ne!(next_round.value, proposed.value);
    assert_eq!(app.builds(), 2);
    assert_eq!(store.proposal_heights(), vec![(1, 0), (1, 1)]);
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn a_proposal_that_cannot_be_kept_is_never_returned() {
    let (app, store) = (FakeLedger::new(), Arc::new(MemoryStore::default()));
    store.refuse_writes.store(true, Ordering::SeqCst);
    let engine = start(&app, &store);
    let reply = engine.get_value(1, 0).await;
    assert!(
        reply.await.is_err(),
        "a proposal was returned without being kept"
    );
    let Engine {
        to_driver,
        mut network,
        driver,
    } = engine;
    assert_eq!(
        driver.await.unwrap(),
        Err("disk full while keeping a proposal".to_string())
    );
    assert!(network.recv().await.is_none(), "nothing was published");
    drop(to_driver);
}

#[tokio::test]
async fn a_valid_block_is_kept_before_its_verdict_and_a_decision_replayed_after_a_restart_commits_it(
) {
    let (app, store) = (FakeLedger::new(), Arc::new(MemoryStore::default()));
    let block = child_of(&genesis(), 7);
    let engine = start(&app, &store);
    let mut parts = stream_of(&block);
    let fin = parts.pop().unwrap();
    for p in parts {
        assert_eq!(engine.part(p).await.await.unwrap(), None);
    }
    let (mut entered, release) = store.hold_saves();
    let mut verdict = engine.part(fin).await;
    assert_eq!(next_save(&mut entered).await, "candidate");
    assert!(
        verdict.try_recv().is_err(),
        "the verdict came before the block was kept"
    );
    release.send(()).unwrap();
    let verdict = verdict.await.unwrap().unwrap();
    assert_eq!(
        (verdict.value, verdict.validity),
        (BlockId(block.hash()), Validity::Valid)
    );
    *store.gate.lock().unwrap() = None;
    // The engine logged its decision in its WAL, then the node crashed.
    engine.stop().await.unwrap();

    let engine = start(&app, &store);
    engine.decided(&block).await.await.unwrap();
    assert_eq!(app.height(), 1);
    assert_eq!(app.block(1).unwrap().unwrap().hash(), block.hash());
    assert!(store.candidate_hashes().is_empty());
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn a_decided_block_lost_in_a_crash_is_fetched_from_the_peers_and_committed() {
    // Power lost between the decision and the commit: the WAL replays the decision, the
    // kept block is gone. The driver asks its peers until one has committed it.
    let (app, store) = (FakeLedger::new(), Arc::new(MemoryStore::default()));
    let block = child_of(&genesis(), 7);
    let engine = start(&app, &store);
    let mut ack = engine.decided(&block).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        ack.try_recv().is_err(),
        "acknowledged a decision it holds no block for"
    );
    assert_eq!(app.height(), 0);
    assert!(app.fetches.load(Ordering::SeqCst) >= 2, "asked again");
    // A peer holding a different block at that height does not satisfy it.
    app.peers.lock().unwrap().push(child_of(&genesis(), 8));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.height(), 0);
    app.peers.lock().unwrap().push(block.clone());
    tokio::time::timeout(Duration::from_secs(10), ack)
        .await
        .expect("committed once a peer had it")
        .unwrap();
    assert_eq!(app.block(1).unwrap().unwrap().hash(), block.hash());
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn an_invalid_block_is_answered_invalid_and_not_kept() {
    let (app, store) = (FakeLedger::new(), Arc::new(MemoryStore::default()));
    let engine = start(&app, &store);
    let orphan = child_of(&child_of(&genesis(), 1), 2);
    let mut wrong_parent = child_of(&genesis(), 3);
    wrong_parent = Block::new(
        BlockHeader {
            prev_hash: Hash([9; 32]),
            ..wrong_parent.header().clone()
        },
        vec![],
        Commit::default(),
    );
    // A block two heights ahead waits for its height; one with a wrong parent is invalid.
    assert_eq!(engine.receive(&orphan).await, None);
    let verdict = engine.receive(&wrong_parent).await.unwrap();
    assert_eq!(verdict.validity, Validity::Invalid);
    assert!(store.candidate_hashes().is_empty());
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn committing_a_height_prunes_what_is_kept_at_or_below_it() {
    let (app, store) = (FakeLedger::new(), Arc::new(MemoryStore::default()));
    let (b1, other1) = (child_of(&genesis(), 1), child_of(&genesis(), 2));
    let b2 = child_of(&b1, 3);
    for (h, r, b) in [(1, 0, &other1), (1, 1, &b1), (2, 0, &b2)] {
        store.save_proposal(h, r, b).unwrap();
    }
    for b in [&b1, &other1, &b2] {
        store.save_candidate(b).unwrap();
    }
    // Kept before a restart: the driver loads them and commits b1 without seeing it again.
    let engine = start(&app, &store);
    engine.decided(&b1).await.await.unwrap();
    assert_eq!(app.height(), 1);
    assert_eq!(store.proposal_heights(), vec![(2, 0)]);
    assert_eq!(store.candidate_hashes(), vec![b2.hash()]);

    engine.decided(&b2).await.await.unwrap();
    assert_eq!(app.height(), 2);
    assert!(store.proposal_heights().is_empty());
    assert!(store.candidate_hashes().is_empty());
    engine.stop().await.unwrap();
}

/// A block at `ts_ms` on top of genesis.
fn block_at(ts_ms: u64) -> Block {
    child_of(&genesis(), ts_ms)
}

#[tokio::test]
async fn a_proposed_block_whose_time_is_off_this_validators_clock_is_voted_nil() {
    let (app, store) = (FakeLedger::new(), Arc::new(MemoryStore::default()));
    app.clock.store(100_000, Ordering::SeqCst);
    let engine = start(&app, &store);
    // Precision 500 ms, message delay 3 s at round 0 (4.5 s at round 1).
    for (ts, valid) in [
        (100_500, true),
        (100_501, false),
        (96_500, true),
        (96_499, false),
        (100_000 + 2 * 3_600_000, false),
    ] {
        let verdict = engine.receive(&block_at(ts)).await.unwrap();
        assert_eq!(verdict.validity.is_valid(), valid, "timestamp {ts}");
    }
    // The delay grows with the round: late at round 0, in time at round 1.
    let late = block_at(95_000);
    let v = engine
        .receive_stream(stream_at(&late, 1, Round::Nil))
        .await
        .unwrap();
    assert!(v.validity.is_valid());
    // An untimely block is not kept as invalid: re-proposed with a proof-of-lock round
    // (a quorum found it timely), it is judged on its contents.
    let ahead = block_at(101_000);
    assert!(!engine.receive(&ahead).await.unwrap().validity.is_valid());
    assert!(!store.candidate_hashes().contains(&ahead.hash()));
    let v = engine
        .receive_stream(stream_at(&ahead, 2, Round::new(1)))
        .await
        .unwrap();
    assert!(v.validity.is_valid());
    // What this validator builds carries its own clock.
    let built = engine.get_value(1, 3).await.await.unwrap();
    let kept = store.proposal(1, 3).unwrap().unwrap();
    assert_eq!(BlockId(kept.hash()), built.value);
    assert_eq!(kept.header().timestamp_ms, 100_001);
    engine.stop().await.unwrap();
}

/// A proposed block found timely when it arrived stays timely when it arrives again, also
/// after a restart: the engine's WAL keeps its first verdict (a valid block), and judging
/// it against the later clock contradicted it ("Application changed its mind ... Valid
/// --> Invalid", seen when all four validators restarted minutes after a crash).
#[tokio::test]
async fn a_timely_block_stays_timely_when_it_arrives_again() {
    let (app, store) = (FakeLedger::new(), Arc::new(MemoryStore::default()));
    app.clock.store(100_000, Ordering::SeqCst);
    let block = block_at(100_000);
    let engine = start(&app, &store);
    assert!(engine.receive(&block).await.unwrap().validity.is_valid());
    // Within the same run, restreamed four minutes later.
    app.clock.store(340_000, Ordering::SeqCst);
    assert!(engine.receive(&block).await.unwrap().validity.is_valid());
    engine.stop().await.unwrap();
    // And after a restart.
    let engine = start(&app, &store);
    assert!(engine.receive(&block).await.unwrap().validity.is_valid());
    // A block that first arrives now is judged against now, and a later round is a
    // new arrival.
    assert!(!engine
        .receive(&block_at(100_001))
        .await
        .unwrap()
        .validity
        .is_valid());
    let v = engine
        .receive_stream(stream_at(&block, 1, Round::Nil))
        .await
        .unwrap();
    assert!(!v.validity.is_valid());
    // Committing the height forgets the arrivals kept for it.
    engine.decided(&block).await.await.unwrap();
    assert!(store.receipts.lock().unwrap().is_empty());
    engine.stop().await.unwrap();
}

#[tokio::test]
async fn only_the_rounds_proposer_signed_stream_is_executed() {
    let (app, store) = (FakeLedger::new(), Arc::new(MemoryStore::default()));
    app.two_validators.store(true, Ordering::SeqCst);
    let engine = start(&app, &store);
    let bank_b = OrgId::new("bank-b").unwrap();
    let block = child_of(&genesis(), 5);
    // Height 1 round 0 is bank-b's: bank-a's stream for it is not executed, nor one that
    // names bank-b but is signed by another key.
    assert_eq!(
        engine
            .receive_stream(signed_stream(&block, 0, Round::Nil, &org(), &key()))
            .await,
        None
    );
    assert_eq!(
        engine
            .receive_stream(signed_stream(&block, 0, Round::Nil, &bank_b, &key()))
            .await,
        None
    );
    assert_eq!(
        app.validations.load(Ordering::SeqCst),
        0,
        "nothing executed"
    );
    // Its proposer's signed stream is.
    let v = engine
        .receive_stream(signed_stream(&block, 0, Round::Nil, &bank_b, &other_key()))
        .await
        .unwrap();
    assert!(v.validity.is_valid());
    assert_eq!(app.validations.load(Ordering::SeqCst), 1);
    // A stream for a height far ahead is refused before anything of it is kept.
    let far = child_of(&child_of(&child_of(&block, 6), 7), 8);
    assert_eq!(engine.receive(&far).await, None);
    assert_eq!(app.validations.load(Ordering::SeqCst), 1);
    engine.stop().await.unwrap();
}

/// A stream of `block` whose transaction parts carry `n` real transactions of 400 KB.
fn stream_with_txs(block: &Block, n: usize) -> Vec<StreamMessage<ProposalPart>> {
    use ledger_state::testing::{payload_schema, sealed_put, TestOrg};
    let signer = TestOrg::new("bank-a");
    let txs: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let put = sealed_put(
                &chain_id(),
                &format!("doc-{i}"),
                1,
                &payload_schema(),
                "payload",
                &vec![1; 400_000],
                &[&signer],
            );
            signer
                .sign(
                    &chain_id(),
                    i as u64 + 1,
                    ledger_types::Payload::PutRecord(put),
                )
                .bytes()
                .to_vec()
        })
        .collect();
    let mut parts = stream_at(block, 0, Round::Nil);
    let id = parts[0].stream_id.clone();
    let header = parts.remove(0);
    let mut out = vec![header];
    for (i, t) in txs.iter().enumerate() {
        out.push(StreamMessage::new(
            id.clone(),
            1 + i as u64,
            StreamContent::Data(ProposalPart::Txs(vec![t.clone()])),
        ));
    }
    out.push(StreamMessage::new(
        id.clone(),
        1 + n as u64,
        StreamContent::Data(ProposalPart::End { tx_count: n as u32 }),
    ));
    out.push(StreamMessage::new(id, 2 + n as u64, StreamContent::Fin));
    out
}

#[tokio::test]
async fn a_stream_larger_than_the_largest_block_is_dropped() {
    // Blocks of at most 1 MiB here; a stream may carry 1 MiB more (framing).
    let (app, store) = (FakeLedger::new(), Arc::new(MemoryStore::default()));
    let engine = start(&app, &store);
    let within = child_of(&genesis(), 5);
    let v = engine.receive_stream(stream_with_txs(&within, 2)).await;
    assert!(v.is_some(), "0.8 MB is taken and judged");
    assert_eq!(app.validations.load(Ordering::SeqCst), 1);
    let beyond = child_of(&genesis(), 6);
    assert_eq!(
        engine.receive_stream(stream_with_txs(&beyond, 6)).await,
        None
    );
    assert_eq!(
        app.validations.load(Ordering::SeqCst),
        1,
        "2.4 MB is dropped before it is complete"
    );
    engine.stop().await.unwrap();
}
