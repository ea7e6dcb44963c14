//! `ledger-node start`: opens the chain and the keys, checks them against each other, and
//! runs the block driver, the servers and the regulator's checker until a signal or a
//! failure stops the node.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ledger_core::admission::Admission;
use ledger_core::consensus::ConsensusHook;
use ledger_core::genesis::{self, GenesisFile};
use ledger_core::writer::TxWriter;
use ledger_core::{auditor, consensus, follow, producer, Ledger, NodeError};
use ledger_crypto::Signer;
use ledger_home::audit_log::AuditLog;
use ledger_home::config::{NodeConfig, CONFIG_FILE, GENESIS_FILE};
use ledger_home::gateway_auth::GatewayClients;
use ledger_home::keys;
use ledger_hsm::{KeyProvider, ProviderSigner};
use ledger_mempool::Mempool;
use ledger_rpc::clients::PeerApi;
use ledger_rpc::gateway::Gateway;
use ledger_rpc::server;
use ledger_state::member;
use ledger_store::Store;
use ledger_tls::{ClientTls, LocalIdentity, MemberVerifier, SignerSource};
use ledger_types::{ChainId, OrgId, RegisterMember, Role};
use tokio::sync::watch;

use crate::cli::StartArgs;

/// What a test build changes in the node; the shipped node changes nothing.
#[derive(Default, Clone)]
pub struct Hooks {
    /// Changes what this validator does in consensus (see [`ConsensusHook`]).
    pub consensus: Option<Arc<dyn ConsensusHook>>,
}

/// Applies the flags of `start` over `config.toml`, sets up logging and runs the node.
pub fn start(a: StartArgs, hooks: Hooks) -> Result<(), NodeError> {
    let mut config = NodeConfig::load(&a.home)?;
    if let Some(v) = a.grpc_listen {
        config.grpc.listen = v;
    }
    if let Some(v) = a.block_interval_ms {
        config.block.interval_ms = v;
    }
    if let Some(v) = a.max_block_txs {
        config.block.max_txs = v;
    }
    if let Some(v) = a.mempool_max_txs {
        config.mempool.max_txs = v;
    }
    if let Some(v) = a.max_tx_bytes {
        config.mempool.max_tx_bytes = v;
    }
    if let Some(v) = a.log_level {
        config.log.level = v;
    }
    if let Some(v) = a.gateway_listen {
        config.gateway.listen = Some(v);
    }
    if let Some(v) = a.metrics_listen {
        config.metrics.listen = Some(v);
    }
    if let Some(v) = a.explorer_listen {
        config.explorer.listen = Some(v);
    }
    if let Some(v) = a.upstream {
        config.sync.upstream = Some(v);
    }
    if let Some(v) = a.block_time_ms {
        config.consensus.block_time_ms = v;
    }
    init_logging(&config.log.level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| NodeError::Io {
            what: "starting the async runtime".into(),
            reason: e.to_string(),
        })?;
    runtime.block_on(run(a.home, config, hooks))
}

fn init_logging(level: &str) {
    // The consensus engine and libp2p log every vote at info; keep them to warnings unless
    // the filter names them.
    let level = if level.contains('=') {
        level.to_string()
    } else {
        format!("{level},arc_malachitebft_core_consensus=warn,arc_malachitebft_engine=warn,arc_malachitebft_network=warn,arc_malachitebft_sync=warn,arc_malachitebft_core_driver=warn,arc_malachitebft_discovery=warn,libp2p=warn,libp2p_gossipsub=error")
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // arkworks opens a tracing span per gadget call while building a circuit (target
    // "gr1cs"); recorded, they cost minutes and gigabytes per proof. Never record them.
    if let Ok(d) = "gr1cs=off".parse() {
        filter = filter.add_directive(d);
    }
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|m| !demoted(m)));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(Demote)
        .try_init();
}

/// The consensus engine's network layer logs at ERROR what is routine for a consortium:
/// a peer that is not up yet or went away ("Error dialing peer"), and its own actors
/// stopping at shutdown (and their timers firing at them afterwards). Its sync handler
/// logs at ERROR a commit certificate for a block this node voted against, which is
/// routine for a validator that was cut off: a block
/// proposed while it was partitioned reaches it late, is judged untimely (a nil vote),
/// and then arrives with its certificate; the block is checked again and committed (only
/// its validity counts then; a block that really is invalid fails our own commit, logged
/// at ERROR by us). An ERROR line must mean something is wrong with this node, so these
/// are logged as warnings instead (peers down and a stalled chain show in the metrics and
/// alerts: `malachitebft_core_consensus_connected_peers`, `LedgerValidatorMissing`,
/// `LedgerChainStalled`). The perturbation suite found the sync case (docs/reliability.md).
fn demoted(m: &tracing::Metadata<'_>) -> bool {
    *m.level() == tracing::Level::ERROR
        && m.is_event()
        && [
            "arc_malachitebft_network",
            "arc_malachitebft_discovery",
            "arc_malachitebft_engine::network",
            "arc_malachitebft_core_consensus::handle::sync",
            // A timer still firing at an actor that stopped, when consensus ends (a
            // validator governance removed, or a shutdown).
            "arc_malachitebft_engine::util::ticker",
        ]
        .iter()
        .any(|t| m.target().starts_with(t))
}

/// Logs the [`demoted`] events again as warnings.
struct Demote;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Demote {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if !demoted(event.metadata()) {
            return;
        }
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                } else {
                    self.0.push_str(&format!(" {}={v:?}", f.name()));
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        tracing::warn!(target: "p2p", origin = event.metadata().target(), "{}", m.0);
    }
}

/// Opens the store, applies genesis on first start, and checks everything stored.
fn open_chain(
    home: &Path,
    config: &NodeConfig,
) -> Result<(Arc<Store>, genesis::Genesis), NodeError> {
    let genesis_path = home.join(GENESIS_FILE);
    // The suite the keys were made for first, so a genesis of the other suite is refused
    // by name when it is read.
    let suite = config.keys.crypto_suite.suite();
    suite
        .select(&format!(
            "[keys] crypto_suite in {}",
            home.join(CONFIG_FILE).display()
        ))
        .map_err(|e| NodeError::Fatal(e.to_string()))?;
    let file = GenesisFile::load(&genesis_path)?;
    tracing::info!(
        suite = suite.name(),
        algorithms = suite.describe(),
        "crypto suite"
    );
    if genesis::pins_development_keys(&file.circuits) {
        if !file.development {
            return Err(NodeError::Fatal(format!(
                "{} pins the public development circuit keys, whose trapdoor anyone can recompute to forge invoice checks and financing proofs with fresh nullifiers, but the chain is not a development chain: pin the verifying keys of the consortium's setup, or create a test chain with `ledger-node init --development`",
                genesis_path.display()
            )));
        }
        tracing::warn!("DEVELOPMENT CHAIN: its circuit keys are the public development keys; anyone can forge invoice checks and financing proofs on it. Never put real value on it");
    } else if file.development {
        tracing::warn!("development chain (created with init --development)");
    }
    let genesis = file.build(&genesis_path)?;
    let data_dir = NodeConfig::resolve(home, &config.storage.data_dir);
    let store = Store::open(&data_dir)?;
    match store.height() {
        None => {
            store.commit_block(&genesis.block, &genesis.execution)?;
            tracing::info!(genesis = %genesis.block.hash(), chain = %genesis.chain_id, "new chain: committed the genesis block");
        }
        Some(_) => {
            let stored = store.block(0)?.ok_or(ledger_store::StoreError::Integrity {
                height: 0,
                what: "the genesis block is missing".into(),
            })?;
            if stored.hash() != genesis.block.hash() {
                return Err(NodeError::Fatal(format!(
                    "the data in {} belongs to a chain whose genesis block is {}, but {} describes genesis block {}; point --home at the right node or remove the data directory",
                    data_dir.display(),
                    stored.hash(),
                    genesis_path.display(),
                    genesis.block.hash()
                )));
            }
            let t = Instant::now();
            let report = store.verify_integrity()?;
            tracing::info!(
                height = report.height,
                transactions = report.transactions,
                state_entries = report.state_entries,
                elapsed_ms = t.elapsed().as_millis() as u64,
                "stored chain verified: hash chain, transaction roots, commits and state root match"
            );
        }
    }
    Ok((Arc::new(store), genesis))
}

/// The chain's analytics, if genesis set any: the public keys from the file beside
/// genesis.json (its hash must be the one genesis fixed), installed for the state machine
/// before anything is executed.
pub(crate) struct LoadedAnalytics {
    pub config: ledger_state::AnalyticsConfig,
    pub keys: Arc<ledger_fhe::PublicKeys>,
    pub evaluator: Arc<ledger_fhe::Evaluator>,
}

fn load_analytics(home: &Path, store: &Store) -> Result<Option<LoadedAnalytics>, NodeError> {
    let Some(config) =
        ledger_state::analytics_config(store).map_err(|e| NodeError::Fatal(e.to_string()))?
    else {
        return Ok(None);
    };
    let path = home.join(ledger_home::analytics::KEYS_FILE);
    let bytes = std::fs::read(&path).map_err(|e| NodeError::Io {
        what: format!(
            "reading the chain's analytics keys {} (genesis names keys {}; copy the authority's {} here)",
            path.display(),
            hex::encode(config.keys_id),
            ledger_home::analytics::KEYS_FILE
        ),
        reason: e.to_string(),
    })?;
    let t = Instant::now();
    let keys = ledger_fhe::PublicKeys::from_bytes(&bytes)
        .map_err(|e| NodeError::Fatal(format!("{}: {e}", path.display())))?;
    if keys.id() != config.keys_id {
        return Err(NodeError::Fatal(format!(
            "{} holds analytics keys {}, but genesis names keys {}: copy the authority's file",
            path.display(),
            hex::encode(keys.id()),
            hex::encode(config.keys_id)
        )));
    }
    if keys.profile().name() != config.profile {
        return Err(NodeError::Fatal(format!(
            "{} is for the {} profile, genesis says {}",
            path.display(),
            keys.profile().name(),
            config.profile
        )));
    }
    let evaluator = ledger_state::install_analytics(&keys)
        .map_err(|e| NodeError::Fatal(format!("preparing the analytics keys: {e}")))?;
    tracing::info!(
        authority = %config.authority,
        profile = %config.profile,
        keys = %hex::encode(config.keys_id),
        elapsed_ms = t.elapsed().as_millis() as u64,
        "analytics keys loaded"
    );
    Ok(Some(LoadedAnalytics {
        config,
        keys: Arc::new(keys),
        evaluator,
    }))
}

/// The authority's decryption key: the sealed secret, unsealed by the key provider for each
/// answer.
struct SealedAnswerKey {
    home: PathBuf,
    provider: Arc<dyn ledger_hsm::KeyProvider>,
    sealing_label: String,
    chain_id: String,
    org: String,
}

impl ledger_core::analytics::AnswerKey for SealedAnswerKey {
    fn authority(&self) -> Result<ledger_fhe::Authority, String> {
        let secret = ledger_home::analytics::load(
            &self.home,
            self.provider.as_ref(),
            &self.sealing_label,
            &self.chain_id,
            &self.org,
        )
        .map_err(|e| e.to_string())?;
        Ok(ledger_fhe::Authority::new(&secret))
    }
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return "none";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NodeError::Fatal(e.to_string()))?
}

/// The ledger in `store` as mutual TLS's directory, for the node of `org`.
fn directory(org: &OrgId, store: &Arc<Store>) -> Arc<dyn ledger_tls::Directory> {
    Arc::new(ledger_rpc::tls::StoreDirectory {
        store: store.clone(),
        own: org.clone(),
    })
}

/// The organisation's keys, checked against what the chain registered for it.
struct Keys {
    provider: Arc<dyn KeyProvider>,
    signer: Arc<dyn Signer>,
    /// The organisation's registration.
    me: RegisterMember,
    /// Its key-agreement keys: the current one (its registered encryption key) and those
    /// rotations replaced.
    agreement: ledger_home::rotation::AgreementCell,
}

/// Opens the key provider and checks that its keys, and the sealed secrets in the home,
/// are the ones the chain registered for `org`.
async fn open_keys(
    home: &Path,
    config: &mut NodeConfig,
    store: &Arc<Store>,
    chain: &str,
    org: &OrgId,
) -> Result<Keys, NodeError> {
    let provider = {
        let (home, keys_config) = (home.to_path_buf(), config.keys.clone());
        blocking(move || Ok(keys::open_provider(&home, &keys_config)?)).await?
    };
    let hsm = |e: ledger_hsm::HsmError| NodeError::Fatal(e.to_string());
    let me = match member(store.as_ref(), org)? {
        Some(m) => m,
        // A member admitted after genesis joins with a chain that does not yet reach its
        // admission: the node it follows says what was registered.
        None => match &config.sync.upstream {
            Some(up) => {
                // Over mutual TLS, presenting the signing key the node was made with.
                let tls = if ledger_tls::is_tls(up) {
                    let s: Arc<dyn Signer> = Arc::new(
                        ProviderSigner::new(provider.clone(), &config.keys.signing_label)
                            .map_err(hsm)?,
                    );
                    let chain_id =
                        ChainId::new(chain).map_err(|e| NodeError::Fatal(e.to_string()))?;
                    Some(
                        ClientTls::for_signer(chain_id, org.clone(), s, directory(org, store))
                            .map_err(NodeError::Fatal)?,
                    )
                } else {
                    None
                };
                let m = PeerApi::new(up, tls.as_ref())?
                    .member(org)
                    .await
                    .map_err(NodeError::Fatal)?
                    .ok_or_else(|| {
                        NodeError::Fatal(format!(
                            "organisation {org} (from config.toml) is not a member of this chain, here or at {up}: ask the consortium to admit it (`ledger-node join-request`)"
                        ))
                    })?;
                tracing::info!(%org, upstream = %up, height = store.height().unwrap_or(0), "not a member in this node's chain yet (admitted later): taking the registered keys from the node it follows");
                m
            }
            None => {
                return Err(NodeError::Fatal(format!(
                    "organisation {org} (from config.toml) is not a member of this chain"
                )))
            }
        },
    };
    // Keys staged for a rotation the ledger has carried out since (the node stopped
    // before adopting them, or governance rotated them) are adopted now.
    let adopted = {
        let (h, mut c, p, chain, m) = (
            home.to_path_buf(),
            config.clone(),
            provider.clone(),
            chain.to_string(),
            me.clone(),
        );
        let (c, adopted) = blocking(move || {
            let adopted = ledger_home::rotation::adopt(&h, &mut c, p.as_ref(), &chain, &m)?;
            Ok((c, adopted))
        })
        .await?;
        *config = c;
        adopted
    };
    for kind in adopted {
        tracing::info!(
            kind = kind.name(),
            "adopted the rotated key the ledger now holds"
        );
    }
    let current = ProviderSigner::new(provider.clone(), &config.keys.signing_label);
    let signer: Arc<dyn Signer> = match (current, &config.keys.staged_signing_label) {
        (Ok(s), _) if s.public_key() == me.signing_key => Arc::new(s),
        // The current key is lost (or no longer the registered one) and a new one waits
        // for a rotation this node's chain does not hold yet: start with it; the node
        // adopts it when the block that rotates it arrives.
        (_, Some(staged)) => {
            let s = ProviderSigner::new(provider.clone(), staged).map_err(hsm)?;
            tracing::warn!(label = %staged, "the registered signing key is not usable; starting with the staged one, which the ledger must adopt (`ledger propose --rotate-key`) before this node's writes are accepted");
            Arc::new(s)
        }
        (Ok(_), None) => {
            return Err(NodeError::Fatal(format!(
                "the signing key {:?} in the key provider is not the key registered for {org} ({})",
                config.keys.signing_label, me.signing_key
            )))
        }
        (Err(e), None) => return Err(hsm(e)),
    };
    let agreement = ledger_home::rotation::AgreementKeys::load(config, provider.as_ref())?;
    if agreement.current.1 != me.encryption_key {
        return Err(NodeError::Fatal(format!(
            "the agreement key {:?} in the key provider is not the encryption key registered for {org}",
            config.keys.agreement_label
        )));
    }
    {
        // The sealed software secrets must match what genesis registered.
        let (h, p, label, chain, m) = (
            home.to_path_buf(),
            provider.clone(),
            config.keys.sealing_label.clone(),
            chain.to_string(),
            me.clone(),
        );
        blocking(move || {
            use ledger_home::sealed::check_registered;
            check_registered::<ledger_crypto::ring::RingSecret>(
                &h,
                p.as_ref(),
                &label,
                &chain,
                &m,
            )?;
            check_registered::<ledger_proofs::AuditSecret>(&h, p.as_ref(), &label, &chain, &m)?;
            Ok(())
        })
        .await?;
    }
    Ok(Keys {
        provider,
        signer,
        me,
        agreement: Arc::new(std::sync::RwLock::new(Arc::new(agreement))),
    })
}

/// Drives this node's chain until `shutdown`: through consensus while its organisation
/// is in the validator set of the next height and consensus is enabled; following an
/// upstream node (or, without one, the other validators) while it is not, switching when
/// governance adds it to the validators or removes it; as the single validator's
/// producer without consensus. An error says why the driver stopped on its own.
async fn drive(
    home: PathBuf,
    config: NodeConfig,
    ledger: Arc<Ledger>,
    tls: ClientTls,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), NodeError> {
    let org = ledger.org.clone();
    let mut fixed: Vec<Arc<dyn ledger_core::transport::BlockSource>> = Vec::new();
    let mut names = Vec::new();
    let sources: follow::Sources = if let Some(up) = &config.sync.upstream {
        fixed.push(Arc::new(PeerApi::new(up, Some(&tls))?));
        names.push(up.clone());
        Arc::new(move || fixed.clone())
    } else if config.consensus.enabled {
        // The configured validators, and those governance added with their API address:
        // once the founding validators are all replaced, a removed one still finds the
        // chain.
        fixed.extend(ledger.peers().iter().cloned());
        names.extend(config.consensus.relay.iter().cloned());
        let known = names.clone();
        let store = ledger.store.clone();
        let own = org.clone();
        let cache = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
            String,
            Arc<dyn ledger_core::transport::BlockSource>,
        >::new()));
        Arc::new(move || {
            let mut all = fixed.clone();
            let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
            for url in ledger_validator_apis(&store, &own) {
                if known.contains(&url) {
                    continue;
                }
                if let Some(s) = cache.get(&url) {
                    all.push(s.clone());
                } else if let Ok(p) = PeerApi::new(&url, Some(&tls)) {
                    let s: Arc<dyn ledger_core::transport::BlockSource> = Arc::new(p);
                    cache.insert(url, s.clone());
                    all.push(s);
                }
            }
            all
        })
    } else {
        Arc::new(Vec::new)
    };
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let validating = ledger.validates_soon()?;
        if config.consensus.enabled && validating {
            ledger.set_role("validator", config.consensus.persistent_peers.clone());
            let (engine, app) =
                consensus::start(&home, &config, ledger.clone(), ledger.signer()).await?;
            tracing::info!(listen = %config.consensus.listen, peers = config.consensus.persistent_peers.len(), height = ledger.height(), "consensus engine started");
            let malachitebft_app_channel::EngineHandle { actor, handle } = engine;
            let (mut handle, mut app) = (handle, app);
            let stop_engine = |actor: &malachitebft_app_channel::app::engine::node::NodeRef| {
                actor.stop(None);
            };
            tokio::select! {
                _ = shutdown.changed() => {
                    stop_engine(&actor);
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), &mut handle).await;
                    app.abort();
                    let _ = app.await;
                    return Ok(());
                }
                _ = &mut handle => {
                    app.abort();
                    let _ = app.await;
                    return Err(NodeError::Fatal(format!(
                        "consensus engine stopped at height {}: see the log above; restart the node to resume from its WAL",
                        ledger.height()
                    )));
                }
                ended = &mut app => {
                    stop_engine(&actor);
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), &mut handle).await;
                    match ended {
                        Ok(Ok(ledger_core::consensus::Ended::LeftValidatorSet)) => {
                            tracing::info!(%org, height = ledger.height(), "governance removed this organisation from the validators: following the validators from now on");
                            continue;
                        }
                        Ok(Ok(ledger_core::consensus::Ended::EngineClosed)) => {
                            if *shutdown.borrow() {
                                return Ok(());
                            }
                            return Err(NodeError::Fatal(format!("consensus application stopped at height {}: the engine closed its channel", ledger.height())));
                        }
                        Ok(Err(e)) => return Err(NodeError::Fatal(format!("consensus application stopped at height {}: {e}; restart the node to resume from its WAL", ledger.height()))),
                        Err(e) => return Err(NodeError::Fatal(format!("consensus application failed at height {}: {e}", ledger.height()))),
                    }
                }
            }
        }
        if config.consensus.enabled || config.sync.upstream.is_some() {
            let promote: Option<ledger_core::follow::Promote> = if config.consensus.enabled {
                tracing::info!(%org, height = ledger.height(), "not in the validator set of the next height: following until governance adds this organisation to the validators");
                Some(Arc::new(|l: &Ledger| l.validates_soon().unwrap_or(false)))
            } else {
                None
            };
            ledger.set_role("follower", names.clone());
            match follow::run(ledger.clone(), sources.clone(), shutdown.clone(), promote).await {
                follow::FollowEnd::Shutdown => return Ok(()),
                follow::FollowEnd::Promoted => {
                    tracing::info!(%org, height = ledger.height(), "this organisation validates the next height: taking part in consensus");
                    continue;
                }
            }
        }
        if validating {
            ledger.set_role("producer", vec![]);
            producer::run(ledger.clone(), shutdown.clone()).await;
            return Ok(());
        }
        ledger.set_role("idle", vec![]);
        tracing::warn!(%org, "this organisation is not a validator and follows no upstream node: no blocks will arrive (set [sync] upstream)");
        let _ = shutdown.changed().await;
        return Ok(());
    }
}

/// The public API addresses governance recorded for the validators of the next height
/// and of the latest scheduled set, other than `own`'s.
fn ledger_validator_apis(store: &Store, own: &OrgId) -> Vec<String> {
    let mut orgs = ledger_state::validators(store).unwrap_or_default();
    let next = store.height().unwrap_or(0) + 1;
    orgs.extend(ledger_state::validator_set_at(store, next).unwrap_or_default());
    orgs.sort();
    orgs.dedup();
    orgs.iter()
        .filter(|o| *o != own)
        .filter_map(|o| ledger_state::validator_api(store, o).ok().flatten())
        .collect()
}

/// The organisation's gateway on its loopback address, if configured.
async fn start_gateway(
    home: &Path,
    config: &NodeConfig,
    ledger: &Arc<Ledger>,
    keys: &Keys,
    audit_log: Arc<std::sync::Mutex<AuditLog>>,
    writer: Arc<TxWriter>,
    shutdown: &watch::Receiver<bool>,
) -> Result<Option<(server::ServerTask, Arc<Gateway>)>, NodeError> {
    let Some(addr) = config.gateway.listen else {
        return Ok(None);
    };
    if !addr.ip().is_loopback() && !config.gateway.allow_non_loopback {
        return Err(NodeError::Config {
            path: home.join(CONFIG_FILE).display().to_string(),
            reason: format!(
                "[gateway] listen {addr} is not a loopback address; gateway credentials travel in clear, so put a TLS-terminating proxy in front and set allow_non_loopback = true"
            ),
        });
    }
    let clients_path = NodeConfig::resolve(home, &config.gateway.clients_file);
    let clients = GatewayClients::load(&clients_path)?;
    if clients.clients.is_empty() {
        tracing::warn!(path = %clients_path.display(), "no gateway clients: every gateway call will be refused (add one with `ledger-node gateway-client add`)");
    }
    let listener = server::bind(addr, "gateway").await?;
    let gateway = Arc::new(
        Gateway::new(
            ledger.clone(),
            keys.provider.clone(),
            keys.agreement.clone(),
            clients,
            audit_log,
            writer,
        )
        .with_sealed_keys(home.to_path_buf(), config.keys.sealing_label.clone())
        .with_max_concurrent_audit_sums(config.gateway.max_concurrent_audit_sums),
    );
    tracing::info!(gateway = %addr, "organisation gateway listening");
    Ok(Some((
        server::spawn_gateway(listener, gateway.clone(), shutdown.clone()),
        gateway,
    )))
}

async fn run(home: PathBuf, mut config: NodeConfig, hooks: Hooks) -> Result<(), NodeError> {
    config.check_limits(&home)?;
    let org = OrgId::new(config.org.clone()).map_err(|e| NodeError::Config {
        path: home.join(CONFIG_FILE).display().to_string(),
        reason: e.to_string(),
    })?;
    let (store, genesis) = {
        let (home, config) = (home.clone(), config.clone());
        blocking(move || open_chain(&home, &config)).await?
    };
    let analytics = {
        let (home, store) = (home.clone(), store.clone());
        blocking(move || load_analytics(&home, &store)).await?
    };
    let keys = open_keys(&home, &mut config, &store, genesis.chain_id.as_str(), &org).await?;
    let mempool = Mempool::new(genesis.chain_id.clone(), config.mempool.limits());
    let mut ledger = Ledger::new(
        store,
        mempool,
        keys.signer.clone(),
        org.clone(),
        genesis.chain_id.clone(),
        genesis.block.hash(),
        config.block.clone(),
    );
    // The TLS certificate is bound by the key the node signs with now: the ledger's
    // signer, which a rotation of the organisation's signing key replaces.
    let signer_now: SignerSource = {
        let cell = ledger.signer_cell();
        Arc::new(move || cell.read().unwrap_or_else(|p| p.into_inner()).clone())
    };
    let identity = Arc::new(LocalIdentity::new(
        genesis.chain_id.clone(),
        org.clone(),
        signer_now,
    ));
    let verifier = Arc::new(MemberVerifier::new(
        genesis.chain_id.clone(),
        directory(&org, &ledger.store),
    ));
    let client_tls =
        ClientTls::new(identity.clone(), verifier.clone()).map_err(NodeError::Fatal)?;
    // While following, submissions go to the upstream node, or (a validator governance
    // removed) to another validator that still validates; while validating, into this
    // node's mempool.
    if let Some(up) = &config.sync.upstream {
        ledger = ledger.with_upstream(Arc::new(
            PeerApi::new(up, Some(&client_tls))
                .map_err(|e| NodeError::Fatal(format!("[sync] upstream: {e}")))?,
        ));
    } else if config.consensus.enabled {
        let (relay, store, own) = (
            config.consensus.relay.clone(),
            ledger.store.clone(),
            org.clone(),
        );
        ledger = ledger.with_upstream(Arc::new(ledger_rpc::clients::ValidatorsUpstream::new(
            move || {
                let mut urls = relay.clone();
                for url in ledger_validator_apis(&store, &own) {
                    if !urls.contains(&url) {
                        urls.push(url);
                    }
                }
                urls
            },
            Some(client_tls.clone()),
        )));
    }
    if config.consensus.enabled {
        let (relays, peers) = PeerApi::validators(&config.consensus.relay, Some(&client_tls))?;
        ledger = ledger.with_relays(relays).with_peers(peers);
    }
    ledger = ledger.with_analytics(analytics.as_ref().map(|a| a.keys.clone()));
    ledger = ledger.with_admission(Admission::new(
        config.grpc.verify_workers,
        config.grpc.max_waiting_admissions,
    ));
    if let Some(hook) = hooks.consensus.clone() {
        ledger = ledger.with_consensus_hook(hook);
    }
    let ledger = Arc::new(ledger);
    let writer = Arc::new(TxWriter::new(ledger.clone()));
    let audit_path = NodeConfig::resolve(&home, &config.audit.log);
    let audit_log = {
        let (p, provider, label) = (
            audit_path.clone(),
            keys.provider.clone(),
            config.keys.sealing_label.clone(),
        );
        blocking(move || Ok(AuditLog::open(&p, provider, &label)?)).await?
    };
    if let Some(torn) = audit_log.torn_tail() {
        tracing::warn!(
            path = %audit_path.display(),
            bytes = torn.bytes,
            set_aside = %torn.set_aside.display(),
            "the audit log ended in an entry cut short by a crash while it was written (its read never returned); set it aside and cut the log back to its last complete entry"
        );
    }
    if keys.me.has_role(Role::Regulator) {
        tracing::info!(entries = audit_log.len(), path = %audit_path.display(), "audit log verified");
    }
    let audit_log = Arc::new(std::sync::Mutex::new(audit_log));
    let listener = server::bind(config.grpc.listen, "gRPC API").await?;
    let local = listener.local_addr().map_err(|e| NodeError::Io {
        what: "reading the listening address".into(),
        reason: e.to_string(),
    })?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut driver = tokio::spawn(drive(
        home.clone(),
        config.clone(),
        ledger.clone(),
        client_tls.clone(),
        shutdown_rx.clone(),
    ));
    let auditor = if keys.me.has_role(Role::Regulator) && config.audit.check_wraps {
        let a = Arc::new(auditor::Auditor {
            ledger: ledger.clone(),
            provider: keys.provider.clone(),
            agreement: keys.agreement.clone(),
            writer: writer.clone(),
            state_file: home.join("audit/checked-height"),
        });
        Some(tokio::spawn(auditor::run(a, shutdown_rx.clone())))
    } else {
        None
    };
    if let Some(an) = &analytics {
        let authority = if an.config.authority == org {
            let key: Arc<dyn ledger_core::analytics::AnswerKey> = Arc::new(SealedAnswerKey {
                home: home.clone(),
                provider: keys.provider.clone(),
                sealing_label: config.keys.sealing_label.clone(),
                chain_id: ledger.chain_id.to_string(),
                org: org.to_string(),
            });
            // The secret must unseal now, not at the first answer.
            key.authority().map_err(NodeError::Fatal)?;
            Some((key, audit_log.clone()))
        } else {
            None
        };
        let w = Arc::new(ledger_core::analytics::AnalyticsWorker {
            ledger: ledger.clone(),
            writer: writer.clone(),
            evaluator: an.evaluator.clone(),
            authority,
            jobs: ledger.analytics_jobs.clone(),
            state_file: home.join("analytics/processed-height"),
            answered: Default::default(),
        });
        tokio::spawn(ledger_core::analytics::run(w, shutdown_rx.clone()));
    }
    // Keys staged for a rotation are adopted as soon as the ledger holds them.
    tokio::spawn(ledger_core::rotation::watch(
        ledger.clone(),
        home.clone(),
        keys.provider.clone(),
        keys.agreement.clone(),
        shutdown_rx.clone(),
    ));
    let gateway = start_gateway(
        &home,
        &config,
        &ledger,
        &keys,
        audit_log,
        writer,
        &shutdown_rx,
    )
    .await?;
    let metrics = match config.metrics.listen {
        None => None,
        Some(addr) => {
            let l = ledger.clone();
            ledger_metrics::metrics().on_scrape(move |m| {
                m.mempool_transactions.set(l.mempool.len() as i64);
                m.mempool_bytes.set(l.mempool.bytes() as i64);
            });
            Some(ledger_rpc::metrics::spawn_metrics(addr, shutdown_rx.clone()).await?)
        }
    };
    let explorer = match config.explorer.listen {
        None => None,
        Some(addr) => Some(
            ledger_rpc::explorer::spawn_explorer(
                addr,
                ledger.clone(),
                gateway.as_ref().map(|(_, g)| g.clone()),
                shutdown_rx.clone(),
            )
            .await?,
        ),
    };
    let public_tls = match config.grpc.tls {
        ledger_home::config::TlsMode::Off => None,
        ledger_home::config::TlsMode::Mutual => Some(server::PublicTls {
            server: ledger_tls::ServerTls::new(identity, verifier.clone())
                .map_err(NodeError::Fatal)?,
            verifier,
        }),
    };
    tracing::info!(
        %org,
        chain = %ledger.chain_id,
        height = ledger.height(),
        grpc = %local,
        tls = ?config.grpc.tls,
        "node started"
    );
    let public = server::spawn_public(
        listener,
        ledger.clone(),
        server::PublicLimits {
            max_connections: config.grpc.max_connections.max(1),
            max_requests_per_connection: config.grpc.max_requests_per_connection.max(1),
            request_timeout: std::time::Duration::from_secs(
                config.grpc.request_timeout_secs.max(1),
            ),
            max_request_bytes: server::PublicLimits::request_bytes_for(config.mempool.max_tx_bytes),
            streams: ledger_rpc::service::StreamLimits {
                max_block_streams: config.grpc.max_block_streams.max(1),
                slow_reader_timeout: std::time::Duration::from_secs(
                    config.grpc.slow_reader_secs.max(1),
                ),
            },
        },
        public_tls,
        shutdown_rx.clone(),
    );
    let mut driver_error = None;
    let sig = tokio::select! {
        s = shutdown_signal() => s,
        r = &mut driver => {
            driver_error = Some(match r {
                Ok(Ok(())) => NodeError::Fatal("the block driver ended".into()),
                Ok(Err(e)) => e,
                Err(e) => NodeError::Fatal(format!("the block driver failed: {e}")),
            });
            "block driver stopped"
        }
    };
    tracing::info!(
        signal = sig,
        "shutting down: finishing the block in progress"
    );
    let _ = shutdown_tx.send(true);
    if driver_error.is_none() {
        match driver.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the block driver ended with an error"),
            Err(e) => tracing::warn!(error = %e, "the block driver task failed"),
        }
    }
    if let Some(a) = auditor {
        let _ = a.await;
    }
    for task in [metrics, explorer].into_iter().flatten() {
        let _ = task.await;
    }
    for (what, task) in [("gateway", gateway.map(|(t, _)| t)), ("gRPC", Some(public))] {
        let Some(task) = task else { continue };
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "{what} server ended with an error"),
            Err(e) => tracing::warn!(error = %e, "{what} server task failed"),
        }
    }
    if let Some(e) = driver_error {
        return Err(e);
    }
    tracing::info!(height = ledger.height(), "node stopped cleanly");
    Ok(())
}
