//! Running Malachite: the ledger as the engine's application, the engine's network,
//! WAL and sync, and the validator's signing through its key provider.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ledger_consensus::{
    Address, ConsensusSigner, ConsensusVerifier, Driver, DriverConfig, LedgerApp, LedgerCodec,
    LedgerContext, LedgerScheme, Validator, ValidatorSet,
};
use ledger_hsm::EquivocationGuard;
use ledger_state::{check_commit, execute_block, member, validator_set_at, Execution};
use ledger_types::{Block, Commit};
use malachitebft_app_channel::app::config::{
    ConsensusConfig, NodeConfig as EngineNodeConfig, P2pConfig, PubSubProtocol, ValueSyncConfig,
};
use malachitebft_app_channel::app::net::Multiaddr;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{LinearTimeouts, SigningScheme};
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::{
    ConsensusContext, EngineBuilder, NetworkContext, NetworkIdentity, RequestContext, Signer,
    SyncContext, WalContext,
};

pub use ledger_consensus::Ended;

use crate::error::NodeError;
use ledger_home::config::{ConsensusSection, NodeConfig};

use crate::ledger::{Ledger, Proposal};

/// Changes what this validator does in consensus. Only the test-only build of the node
/// (`tests/byzantine`, binary `ledger-node-byzantine`) installs one, to check that honest
/// validators refuse what it proposes and that a validator recovers from a crash at the
/// worst moment; the shipped `ledger-node` installs none.
pub trait ConsensusHook: Send + Sync + 'static {
    /// The block (and the execution the proposer claims for it) to propose instead of
    /// `built`.
    fn proposed(&self, _ledger: &Ledger, built: ledger_state::BuiltBlock) -> (Block, Execution) {
        (
            Block::new(built.header, built.txs, Commit::default()),
            built.execution,
        )
    }

    /// Called with a decided block just before it is committed.
    fn committing(&self, _ledger: &Ledger, _block: &Block) {}

    /// How far this validator's clock is off, in ms (positive: ahead).
    fn clock_skew_ms(&self) -> i64 {
        0
    }

    /// Called at each durable step of the consensus path (see
    /// `ledger_consensus::LedgerApp::crash_point`).
    fn crash_point(&self, _point: &'static str) {}

    /// Another block to stream for the height and round this validator proposes `block`
    /// at (see `ledger_consensus::LedgerApp::also_propose`).
    fn also_propose(&self, _ledger: &Ledger, _block: &Block) -> Option<Block> {
        None
    }

    /// How many of a proposal's `parts` to stream.
    fn parts_to_stream(&self, parts: usize) -> usize {
        parts
    }
}

/// Refuses to start on a consensus WAL the engine would stop on (`ledger_consensus::wal`),
/// saying why and what the operator can do.
fn check_wal_file(wal: &std::path::Path, next_height: u64) -> Result<(), NodeError> {
    let bytes = match std::fs::read(wal) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(fatal(format!(
                "reading the consensus WAL {}: {e}",
                wal.display()
            )))
        }
    };
    ledger_consensus::wal::check_wal(&bytes, next_height).map_err(|d| {
        fatal(format!(
            "the consensus WAL {} is damaged: entry {} of height {}, which this node has not committed, does not read back ({}). It may record a vote this validator signed and sent, and voting again without it could contradict that vote, so the node does not start. Once the other validators have committed height {} (`ledger status` against any of them), move the file aside and start again: the node catches up from them",
            wal.display(),
            d.entry,
            d.height,
            d.reason,
            d.height
        ))
    })
}

fn fatal(e: impl std::fmt::Display) -> NodeError {
    NodeError::Fatal(e.to_string())
}

/// The engine's view of our configuration.
struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl EngineNodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

/// What this validator verified beyond its mempool: the hashes of the transactions (and
/// the keys of the Groth16 statements) whose signatures and proofs verified, under key
/// generation `generation` ([`ledger_mempool::Mempool::keys_generation`]), in proposals and
/// in admissions not yet in the mempool; and what block validations are verifying right
/// now.
///
/// A proposal that misses its round is proposed again, or its transactions are, at a later
/// round or height; validating it again then verifies only what is new, so a heavy block
/// gets through within the next round's timeout instead of taking as long each time. A
/// relay that arrives while (or after) the block holding it is validated takes the
/// validation's verdict, and a validation takes the verdicts of an admission still under
/// way ([`Ledger::submit_many`]): each transaction is verified once per node, whichever
/// reaches it first. Committed transactions leave it; past `2 x` the block limit it starts
/// over.
#[derive(Default)]
pub(crate) struct Verdicts {
    generation: u64,
    hashes: std::collections::HashSet<ledger_types::Hash>,
    /// Transactions block validations are verifying, with how many validations.
    validating: std::collections::HashMap<ledger_types::Hash, u32>,
}

impl Verdicts {
    /// Whether `h` verified under key generation `generation`.
    pub(crate) fn holds(&self, generation: u64, h: &ledger_types::Hash) -> bool {
        self.generation == generation && self.hashes.contains(h)
    }

    /// Keeps what verified under key generation `generation`; verdicts under keys older
    /// than those already kept are not kept.
    pub(crate) fn remember(
        &mut self,
        generation: u64,
        verified: &std::collections::HashSet<ledger_types::Hash>,
        most: usize,
    ) {
        if generation < self.generation {
            return;
        }
        if self.generation != generation || self.hashes.len() + verified.len() > most {
            self.hashes.clear();
            self.generation = generation;
        }
        if verified.len() <= most {
            self.hashes.extend(verified.iter().copied());
        }
    }

    /// Whether a block validation is verifying `h` right now.
    pub(crate) fn is_validating(&self, h: &ledger_types::Hash) -> bool {
        self.validating.contains_key(h)
    }

    #[cfg(test)]
    pub(crate) fn hashes_len(&self) -> usize {
        self.hashes.len()
    }

    /// Forgets the transactions of a committed block.
    pub(crate) fn committed(&mut self, block: &Block) {
        if !self.hashes.is_empty() {
            for t in &block.txs {
                self.hashes.remove(&t.hash());
            }
        }
    }
}

/// A block validation's hold on the transactions it verifies ([`Verdicts::is_validating`]),
/// released (and admissions waiting for it woken) when dropped, after its verdicts are
/// kept: also when the validation fails or panics.
pub(crate) struct Validating<'l> {
    ledger: &'l Ledger,
    hashes: Vec<ledger_types::Hash>,
}

impl Drop for Validating<'_> {
    fn drop(&mut self) {
        if self.hashes.is_empty() {
            return;
        }
        {
            let mut v = self.ledger.verdicts();
            for h in &self.hashes {
                if let std::collections::hash_map::Entry::Occupied(mut e) = v.validating.entry(*h) {
                    *e.get_mut() -= 1;
                    if *e.get() == 0 {
                        e.remove();
                    }
                }
            }
        }
        self.ledger.validated.notify_all();
    }
}

impl Ledger {
    /// The transactions of `block` this node must still verify: neither verified at
    /// admission (under the keys in force), nor in an earlier proposal or an admission
    /// under way.
    #[cfg(test)]
    pub(crate) fn unverified<'b>(
        &self,
        block: &'b Block,
        generation: u64,
    ) -> Vec<&'b ledger_types::Transaction> {
        self.claim_unverified(block, generation).0
    }

    /// [`Ledger::unverified`], marked as being validated until the returned hold drops.
    pub(crate) fn claim_unverified<'b>(
        &self,
        block: &'b Block,
        generation: u64,
    ) -> (Vec<&'b ledger_types::Transaction>, Validating<'_>) {
        let mut checks = self.verdicts();
        let todo: Vec<&ledger_types::Transaction> = block
            .txs
            .iter()
            .filter(|t| {
                let h = t.hash();
                !self.mempool.verified(&h) && !checks.holds(generation, &h)
            })
            .collect();
        let hashes: Vec<ledger_types::Hash> = todo.iter().map(|t| t.hash()).collect();
        for h in &hashes {
            *checks.validating.entry(*h).or_default() += 1;
        }
        (
            todo,
            Validating {
                ledger: self,
                hashes,
            },
        )
    }

    /// Waits until no block validation is verifying any of `hashes`, at most `limit`.
    pub(crate) fn wait_for_validations(
        &self,
        hashes: &[ledger_types::Hash],
        limit: std::time::Duration,
    ) {
        let deadline = std::time::Instant::now() + limit;
        let mut checks = self.verdicts();
        while hashes.iter().any(|h| checks.is_validating(h)) {
            let now = std::time::Instant::now();
            if now >= deadline {
                return;
            }
            checks = self
                .validated
                .wait_timeout(checks, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Verifies the signatures and proofs of `block`'s transactions that this node has not
    /// verified yet, on all cores, and remembers which verified. Returns whether a
    /// transaction hash (or Groth16 statement key) verified, here or before. It never
    /// waits for an admission: what one is verifying right now may be verified twice, what
    /// it verified already is taken from it.
    fn verify_in_parallel(&self, block: &Block) -> impl Fn(&ledger_types::Hash) -> bool + '_ {
        let generation = self.mempool.keys_generation();
        let (todo, hold) = self.claim_unverified(block, generation);
        let pre = ledger_state::preverify(
            self.store.as_ref(),
            &self.chain_id,
            block.header().height,
            &todo,
        );
        let most = 2 * self.block_config.max_txs;
        self.verdicts().remember(generation, &pre, most);
        drop(hold);
        move |h: &ledger_types::Hash| {
            pre.contains(h) || self.mempool.verified(h) || self.verdicts().holds(generation, h)
        }
    }
}

impl LedgerApp for Ledger {
    fn height(&self) -> u64 {
        Ledger::height(self)
    }

    fn validates_after_next(&self) -> Result<bool, String> {
        let after = Ledger::height(self) + 2;
        Ok(validator_set_at(self.store.as_ref(), after)
            .map_err(|e| e.to_string())?
            .contains(&self.org))
    }

    fn validator_set(&self) -> Result<ValidatorSet, String> {
        let store = self.store.as_ref();
        let mut out = Vec::new();
        // The set that signs the next height (a change governance scheduled takes effect
        // two heights after it passed).
        let next = Ledger::height(self) + 1;
        let before = validator_set_at(store, next - 1).map_err(|e| e.to_string())?;
        for org in validator_set_at(store, next).map_err(|e| e.to_string())? {
            let m = member(store, &org)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("validator {org} has no member entry"))?;
            out.push(Validator {
                newcomer: !before.contains(&org),
                address: Address(org),
                public_key: m.signing_key,
            });
        }
        Ok(ValidatorSet::new(out))
    }

    fn build(&self, now_ms: u64, round: u32) -> Result<(Block, Execution), String> {
        let built = self
            .build_next_for_round(now_ms, round)
            .map_err(|e| e.to_string())?;
        if let Some(hook) = &self.consensus_hook {
            return Ok(hook.proposed(self, built));
        }
        Ok((
            Block::new(built.header, built.txs, Commit::default()),
            built.execution,
        ))
    }

    fn validate(&self, block: &Block) -> Result<Execution, String> {
        let tip = self.store.tip().ok_or("the store has no genesis block")?;
        let verified = self.verify_in_parallel(block);
        execute_block(
            self.store.as_ref(),
            &tip.accumulator,
            &tip.header,
            block,
            &verified,
        )
        .map_err(|e| e.to_string())
    }

    fn commit(&self, block: Block, execution: Execution) -> Result<(), String> {
        check_commit(self.store.as_ref(), &block).map_err(|e| e.to_string())?;
        if let Some(hook) = &self.consensus_hook {
            hook.committing(self, &block);
            hook.crash_point("before-commit");
        }
        Ledger::commit(
            self,
            &Proposal {
                block,
                execution,
                dropped: vec![],
            },
        )
        .map_err(|e| e.to_string())?;
        if let Some(hook) = &self.consensus_hook {
            hook.crash_point("after-commit");
        }
        Ok(())
    }

    fn crash_point(&self, point: &'static str) {
        if let Some(hook) = &self.consensus_hook {
            hook.crash_point(point);
        }
    }

    fn block(&self, height: u64) -> Result<Option<Block>, String> {
        self.store.block(height).map_err(|e| e.to_string())
    }

    fn tx_arrived(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(Ledger::tx_arrived(self))
    }

    fn sign_digest(&self, digest: &ledger_types::Hash) -> Result<ledger_types::Signature, String> {
        self.signer().sign_digest(digest).map_err(|e| e.to_string())
    }

    fn now_ms(&self) -> u64 {
        let now = ledger_consensus::app::now_ms();
        match &self.consensus_hook {
            Some(hook) => now.saturating_add_signed(hook.clock_skew_ms()),
            None => now,
        }
    }

    fn validator_peers(&self) -> Result<Vec<String>, String> {
        let store = self.store.as_ref();
        let next = Ledger::height(self) + 1;
        let mut orgs = validator_set_at(store, next).map_err(|e| e.to_string())?;
        // The set after a change passed in the latest block: connect before it counts.
        orgs.extend(validator_set_at(store, next + 1).map_err(|e| e.to_string())?);
        orgs.sort();
        orgs.dedup();
        let mut out = Vec::new();
        for org in orgs.iter().filter(|o| **o != self.org) {
            if let Some(addr) =
                ledger_state::validator_p2p(store, org).map_err(|e| e.to_string())?
            {
                out.push(addr);
            }
        }
        Ok(out)
    }

    fn also_propose(&self, block: &Block) -> Option<Block> {
        self.consensus_hook
            .as_ref()
            .and_then(|hook| hook.also_propose(self, block))
    }

    fn parts_to_stream(&self, parts: usize) -> usize {
        match &self.consensus_hook {
            Some(hook) => hook.parts_to_stream(parts),
            None => parts,
        }
    }

    fn fetch_decided(&self, height: u64, id: &ledger_types::Hash) -> Result<Block, String> {
        let runtime = tokio::runtime::Handle::current();
        let mut why = Vec::new();
        for peer in self.peers() {
            match runtime.block_on(peer.block(height)) {
                Ok(Some(bytes)) => match Block::decode(&bytes) {
                    Ok(b) if b.hash() == *id => return Ok(b),
                    Ok(b) => why.push(format!(
                        "{} holds block {} at height {height}, not the decided one",
                        peer.name(),
                        b.hash()
                    )),
                    Err(e) => why.push(format!("{}: the block does not decode: {e}", peer.name())),
                },
                Ok(None) => why.push(format!("{} has not committed height {height}", peer.name())),
                Err(e) => why.push(format!("{}: {e}", peer.name())),
            }
        }
        if why.is_empty() {
            return Err(
                "no peer to ask: [consensus] relay names the other validators' APIs".into(),
            );
        }
        Err(why.join("; "))
    }
}

/// What the network's request-response framing adds to a sync response.
const SYNC_FRAMING: usize = 64 * 1024;

/// Reads the libp2p identity key, creating it on first use.
fn p2p_keypair(path: &Path) -> Result<Keypair, NodeError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut k = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k);
            ledger_home::fsutil::write_file(path, &k, 0o600)?;
            k.to_vec()
        }
        Err(e) => {
            return Err(NodeError::Io {
                what: format!("reading the p2p key {}", path.display()),
                reason: e.to_string(),
            })
        }
    };
    let mut secret: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        fatal(format!(
            "{} must hold a 32-byte ed25519 secret",
            path.display()
        ))
    })?;
    Keypair::ed25519_from_bytes(&mut secret).map_err(fatal)
}

/// The peer id of the identity key at `path` (created if missing), for network set-up.
pub fn peer_id(path: &Path) -> Result<String, NodeError> {
    Ok(p2p_keypair(path)?.public().to_peer_id().to_string())
}

fn multiaddr(s: &str) -> Result<Multiaddr, NodeError> {
    s.parse()
        .map_err(|e| fatal(format!("{s:?} is not a libp2p multiaddress: {e}")))
}

/// Starts the engine and the driver; returns the engine's handle (it ends when the engine
/// stops) and the driver task.
pub async fn start(
    home: &Path,
    config: &NodeConfig,
    ledger: Arc<Ledger>,
    signer: Arc<dyn ledger_crypto::Signer>,
) -> Result<
    (
        malachitebft_app_channel::EngineHandle,
        tokio::task::JoinHandle<Result<ledger_consensus::Ended, String>>,
    ),
    NodeError,
> {
    let c: &ConsensusSection = &config.consensus;
    let ctx = LedgerContext::new(ledger.chain_id.clone());
    let me = Address(ledger.org.clone());
    let keypair = p2p_keypair(&NodeConfig::resolve(home, &c.p2p_key))?;
    let guard = Arc::new(EquivocationGuard::open(&home.join("consensus/guard")).map_err(fatal)?);
    // Data restored from an older copy: the guard rightly refuses to sign at heights this
    // validator already signed, so it follows its peers, without signing, past them.
    let signed = guard.last_step().map_or(0, |s| s.height);
    if signed > ledger.height() + 1 {
        tracing::warn!(
            height = ledger.height(),
            last_signed_height = signed,
            "this validator signed at heights past its chain (its data was restored from an older copy?): following the other validators without signing until it is past them"
        );
        crate::follow::catch_up(&ledger, signed).await?;
        tracing::info!(
            height = ledger.height(),
            "caught up with the other validators: taking part in consensus again"
        );
    }
    // Earlier versions kept the driver's blocks as loose files in consensus/proposals and
    // consensus/candidates: moved into the store once, before the engine can ask for them.
    ledger
        .store
        .import_loose_consensus_blocks(&home.join("consensus"))?;
    let consensus_signer = ConsensusSigner::new(ledger.chain_id.clone(), signer.clone(), guard);
    let verifier = ConsensusVerifier::new(ledger.chain_id.clone());
    let proof = consensus_signer
        .sign_validator_proof(
            LedgerScheme::encode_public_key(&signer.public_key()),
            keypair.public().to_peer_id().to_bytes(),
        )
        .await
        .map_err(|e| fatal(format!("signing the validator proof: {e}")))?;
    let proof_bytes = Codec::encode(&LedgerCodec, &proof).map_err(fatal)?;
    let identity =
        NetworkIdentity::new_validator(me.to_string(), keypair, me.to_string(), proof_bytes);

    let mut p2p = P2pConfig {
        listen_addr: multiaddr(&c.listen)?,
        persistent_peers: c
            .persistent_peers
            .iter()
            .map(|p| multiaddr(p))
            .collect::<Result<_, _>>()?,
        persistent_peers_only: true,
        // The limits agree end to end (checked at start): a proposal part fits in a
        // gossip message, and the largest block in a sync response.
        pubsub_max_size: bytesize::ByteSize::b(c.gossip_max_bytes as u64),
        // Validators are wired to each other directly (`ledger-node connect`): each sends
        // its proposal parts and votes to every peer once, instead of GossipSub relaying
        // every message through the mesh (three times the bytes of a block on four
        // validators).
        protocol: match c.gossip {
            ledger_home::config::GossipProtocol::Broadcast => PubSubProtocol::Broadcast,
            ledger_home::config::GossipProtocol::Gossipsub => PubSubProtocol::default(),
        },
        rpc_max_size: bytesize::ByteSize::b((config.sync_max_bytes() + SYNC_FRAMING) as u64),
        ..Default::default()
    };
    p2p.discovery.enabled = false;
    let engine_config = EngineConfig {
        moniker: me.to_string(),
        consensus: ConsensusConfig {
            p2p,
            ..Default::default()
        },
        value_sync: ValueSyncConfig {
            status_update_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            // A response holds as many blocks as fit and at least the largest one (the
            // engine trims a batch to this size, so a smaller limit would never sync it).
            max_response_size: bytesize::ByteSize::b(config.sync_max_bytes() as u64),
            ..Default::default()
        },
    };
    let wal = NodeConfig::resolve(home, &c.wal);
    check_wal_file(&wal, ledger.height() + 1)?;
    let (channels, handle) = EngineBuilder::new(ctx, engine_config)
        .with_default_wal(WalContext::new(wal, LedgerCodec))
        .with_default_network(NetworkContext::new(identity, LedgerCodec))
        .with_default_sync(SyncContext::new(LedgerCodec))
        .with_default_consensus(ConsensusContext::new_validator(
            me.clone(),
            Box::new(verifier),
            Box::new(consensus_signer),
        ))
        .with_default_request(RequestContext::new(128))
        .build()
        .await
        .map_err(|e| fatal(format!("starting the consensus engine: {e}")))?;
    let propose = Duration::from_millis(c.timeout_propose_ms);
    let vote = Duration::from_millis(c.timeout_vote_ms);
    let store = ledger.store.clone();
    let chain = ledger.chain_id.clone();
    let driver = Driver::new(
        ledger,
        store,
        DriverConfig {
            me,
            block_time: Duration::from_millis(c.block_time_ms),
            timeouts: LinearTimeouts {
                propose,
                propose_delta: propose / 2,
                prevote: vote,
                prevote_delta: vote / 2,
                precommit: vote,
                precommit_delta: vote / 2,
                rebroadcast: propose + vote + vote,
                max_timeout: Duration::from_secs(30),
            },
            part_max_bytes: c.proposal_part_bytes,
            timestamp_precision: Duration::from_millis(c.timestamp_precision_ms),
            timestamp_message_delay: Duration::from_millis(c.timestamp_message_delay_ms),
            chain,
            max_block_bytes: config.block.max_bytes,
        },
    );
    let task = tokio::spawn(driver.run(channels));
    Ok((handle, task))
}
