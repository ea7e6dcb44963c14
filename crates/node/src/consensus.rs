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
use ledger_state::{check_commit, execute_block, member, validators, Execution};
use ledger_types::{Block, Commit};
use malachitebft_app_channel::app::config::{
    ConsensusConfig, NodeConfig as EngineNodeConfig, P2pConfig, ValueSyncConfig,
};
use malachitebft_app_channel::app::net::Multiaddr;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{LinearTimeouts, SigningScheme};
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::{
    ConsensusContext, EngineBuilder, NetworkContext, NetworkIdentity, RequestContext, Signer,
    SyncContext, WalContext,
};

use ledger_node::config::{ConsensusSection, NodeConfig};
use ledger_node::error::NodeError;

use crate::ledger::{Ledger, Proposal};

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

impl Ledger {
    /// The transactions of `block` whose signature and proofs verify, checked on all cores,
    /// skipping those this node verified at admission.
    fn verify_in_parallel(&self, block: &Block) -> std::collections::HashSet<ledger_types::Hash> {
        let todo: Vec<&ledger_types::Transaction> = block
            .txs
            .iter()
            .filter(|t| !self.mempool.contains(&t.hash()))
            .collect();
        ledger_state::preverify(
            self.store.as_ref(),
            &self.chain_id,
            block.header().height,
            &todo,
        )
    }
}

impl LedgerApp for Ledger {
    fn height(&self) -> u64 {
        Ledger::height(self)
    }

    fn validator_set(&self) -> Result<ValidatorSet, String> {
        let store = self.store.as_ref();
        let mut out = Vec::new();
        for org in validators(store).map_err(|e| e.to_string())? {
            let m = member(store, &org)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("validator {org} has no member entry"))?;
            out.push(Validator {
                address: Address(org),
                public_key: m.signing_key,
            });
        }
        Ok(ValidatorSet::new(out))
    }

    fn build(&self, now_ms: u64) -> Result<(Block, Execution), String> {
        let built = self.build_next(now_ms).map_err(|e| e.to_string())?;
        #[cfg(feature = "byzantine")]
        match std::env::var("LEDGER_BYZANTINE").as_deref() {
            Ok("bad-signature") => return Ok(byzantine_block(self, built)),
            Ok("bad-proof") => return Ok(byzantine_proof_block(self, built)),
            _ => {}
        }
        Ok((
            Block::new(built.header, built.txs, Commit::default()),
            built.execution,
        ))
    }

    fn validate(&self, block: &Block) -> Result<Execution, String> {
        let tip = self.store.tip().ok_or("the store has no genesis block")?;
        let pre = self.verify_in_parallel(block);
        let verified = |h: &ledger_types::Hash| self.mempool.contains(h) || pre.contains(h);
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
        Ledger::commit(
            self,
            &Proposal {
                block,
                execution,
                dropped: vec![],
            },
        )
        .map_err(|e| e.to_string())
    }

    fn block(&self, height: u64) -> Result<Option<Block>, String> {
        self.store.block(height).map_err(|e| e.to_string())
    }
}

/// Reads the libp2p identity key, creating it on first use.
fn p2p_keypair(path: &Path) -> Result<Keypair, NodeError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut k = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k);
            ledger_node::fsutil::write_file(path, &k, 0o600)?;
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
        tokio::task::JoinHandle<Result<(), String>>,
    ),
    NodeError,
> {
    let c: &ConsensusSection = &config.consensus;
    let ctx = LedgerContext::new(ledger.chain_id.clone());
    let me = Address(ledger.org.clone());
    let keypair = p2p_keypair(&NodeConfig::resolve(home, &c.p2p_key))?;
    let guard = Arc::new(EquivocationGuard::open(&home.join("consensus/guard")).map_err(fatal)?);
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
            ..Default::default()
        },
    };
    let wal = NodeConfig::resolve(home, &c.wal);
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
            txs_per_part: 2000,
        },
    );
    let task = tokio::spawn(driver.run(channels));
    Ok((handle, task))
}

/// Test-only: the block just built plus a transaction signed by a key that is not the
/// signer's, with the header's count and root recomputed so that only the signature is
/// wrong.
#[cfg(feature = "byzantine")]
fn byzantine_block(ledger: &Ledger, built: ledger_state::BuiltBlock) -> (Block, Execution) {
    use ledger_types::{HashSuite, Payload, TxBody};
    // The next nonce, so that only the signature is wrong.
    let nonce = ledger_state::next_nonce(ledger.store.as_ref(), &ledger.org).unwrap_or(0);
    let forged_key = ledger_crypto::Ed25519SoftwareKey::generate();
    let body = TxBody {
        chain_id: ledger.chain_id.clone(),
        signer: ledger.org.clone(),
        nonce,
        payload: Payload::AuditAlert(ledger_types::AuditAlert {
            record: ledger_types::RecordId::new("forged").unwrap_or_else(|_| unreachable!()),
            version: 1,
            field: ledger_types::FieldName::new("forged").unwrap_or_else(|_| unreachable!()),
            owner: ledger.org.clone(),
            reason: "byzantine test".into(),
        }),
    };
    let mut txs = built.txs;
    if let Ok(forged) = ledger_crypto::sign_tx(&forged_key, body) {
        txs.push(forged);
    }
    let mut header = built.header;
    header.tx_count = txs.len() as u32;
    header.tx_root = ledger_types::merkle::tx_root(
        HashSuite::CURRENT,
        &txs.iter().map(|t| t.hash()).collect::<Vec<_>>(),
    );
    tracing::warn!(
        height = header.height,
        "BYZANTINE TEST BUILD: proposing a block with a forged signature"
    );
    (Block::new(header, txs, Commit::default()), built.execution)
}

/// Test-only: the block just built plus a record signed by this validator with its next
/// nonce (so only the proof is wrong) whose range proof was made for another record.
#[cfg(feature = "byzantine")]
fn byzantine_proof_block(ledger: &Ledger, built: ledger_state::BuiltBlock) -> (Block, Execution) {
    use ledger_types::{
        FieldCommitment, FieldName, HashSuite, KeyWrap, Payload, PutRecord, RecordField, RecordId,
        RecordRangeProof, SchemaId, TxBody,
    };
    let nonce = ledger_state::next_nonce(ledger.store.as_ref(), &ledger.org).unwrap_or(0);
    let field = FieldName::new("amount").unwrap_or_else(|_| unreachable!());
    let opening = ledger_proofs::Opening::new(1_000);
    let elsewhere = ledger_proofs::Context {
        chain_id: ledger.chain_id.to_string(),
        items: vec![("another-record".into(), 1, "amount".into())],
    };
    let mut txs = built.txs;
    if let Ok(proof) = ledger_proofs::prove_range(&elsewhere, std::slice::from_ref(&opening)) {
        let put = PutRecord {
            record: RecordId::new("forged-proof").unwrap_or_else(|_| unreachable!()),
            version: 1,
            schema: SchemaId::new("loan").unwrap_or_else(|_| unreachable!()),
            schema_version: 1,
            fields: vec![RecordField {
                name: field.clone(),
                sealed: vec![1; 69],
            }],
            wraps: vec![KeyWrap {
                field: field.clone(),
                reader: ledger.org.clone(),
                enc: vec![4; 65],
                wrapped: vec![5; 48],
            }],
            commitments: vec![FieldCommitment {
                field,
                commitment: opening.commit().to_bytes(),
            }],
            range_proof: Some(RecordRangeProof {
                padding: proof.padding.iter().map(|p| p.to_bytes()).collect(),
                proof: proof.proof,
            }),
            audit_handles: vec![],
            document_commitment: None,
        };
        let body = TxBody {
            chain_id: ledger.chain_id.clone(),
            signer: ledger.org.clone(),
            nonce,
            payload: Payload::PutRecord(put),
        };
        if let Ok(tx) = ledger_crypto::sign_tx(ledger.signer.as_ref(), body) {
            txs.push(tx);
        }
    }
    let mut header = built.header;
    header.tx_count = txs.len() as u32;
    header.tx_root = ledger_types::merkle::tx_root(
        HashSuite::CURRENT,
        &txs.iter().map(|t| t.hash()).collect::<Vec<_>>(),
    );
    tracing::warn!(
        height = header.height,
        "BYZANTINE TEST BUILD: proposing a block with a forged range proof"
    );
    (Block::new(header, txs, Commit::default()), built.execution)
}
