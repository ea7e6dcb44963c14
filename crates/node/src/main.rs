//! `ledger-node`: the confidential-ledger node daemon.
//!
//! `init` creates a node home (configuration, genesis, signing key); `start` runs the node:
//! it checks the stored chain, then produces blocks and serves the public ledger API until
//! SIGINT or SIGTERM. The daemon never logs key material.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auditor;
mod consensus;
mod gateway;
mod genesis;
mod ledger;
mod producer;
mod service;
mod sync;
mod writer;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use ledger_crypto::Signer;
use ledger_hsm::ProviderSigner;
use ledger_mempool::{Mempool, MempoolConfig};
use ledger_state::member;
use ledger_store::Store;
use ledger_types::{ChainId, OrgId, Role};
use tokio::sync::watch;

use crate::genesis::{GenesisFile, GenesisMember};
use crate::ledger::Ledger;
use ledger_node::config::{self, KeyBackend, KeysConfig, NodeConfig, CONFIG_FILE, GENESIS_FILE};
use ledger_node::error::NodeError;
use ledger_node::gateway_auth::GatewayClients;
use ledger_node::keys;

#[derive(Parser)]
#[command(
    name = "ledger-node",
    version,
    about = "Confidential-ledger node: stores signed transactions in RocksDB, produces blocks, serves the gRPC ledger API",
    long_about = "Confidential-ledger node.\n\nA node home holds config.toml, genesis.json, the signing key (keys/) and the RocksDB data (data/).\nCreate one with `init`, run it with `start`. Every committed block is written with a synced,\natomic write; at startup the node re-checks the whole hash chain and the state root and refuses\nto start if stored data was altered."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a node home: signing key, config.toml and a single-organisation genesis.json.
    Init(InitArgs),
    /// Run the node until SIGINT or SIGTERM.
    Start(StartArgs),
    /// List the node's keys (labels, purposes, public keys) in its key provider.
    Keys {
        /// The node home.
        #[arg(long, env = "LEDGER_HOME")]
        home: PathBuf,
    },
    /// Merge the genesis files of founding organisations (each written by `init`) into the
    /// network's genesis file; copy the result to every node home as genesis.json.
    GenesisMerge {
        /// Where to write the merged genesis file.
        #[arg(long)]
        out: PathBuf,
        /// Genesis files (or node homes) to merge; the same chain id in each.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Wire node homes into a consensus network: validators get consensus enabled, each
    /// other as persistent peers (libp2p address with peer id) and transaction relays;
    /// observers follow a validator. Run after `genesis-merge`, before the first start.
    Connect {
        /// Homes of validators (repeatable).
        #[arg(long = "validator", required = true)]
        validators: Vec<PathBuf>,
        /// Homes of observers (repeatable): they follow a validator and never vote.
        #[arg(long = "observer")]
        observers: Vec<PathBuf>,
    },
    /// Manage the clients allowed to call the organisation-private gateway.
    GatewayClient {
        #[command(subcommand)]
        command: GatewayClientCommand,
    },
    /// Run the Groth16 setup of every circuit and write its proving key (<name>.pk) and
    /// verifying key (<name>.vk, hex) to a folder; `init --circuit-keys DIR` puts the
    /// verifying keys in genesis, and each node's gateway reads its proving keys from
    /// <home>/circuits. Whoever learns the setup's randomness can forge proofs: run it
    /// where that randomness is destroyed (see docs/circuits.md).
    CircuitSetup {
        /// The folder to write the keys to.
        #[arg(long)]
        out: PathBuf,
        /// The public development setup (deterministic, for tests and demos only).
        #[arg(long)]
        dev: bool,
    },
    /// Verify the node's audit log (hash chain and HSM seals) and print its entries.
    AuditLog {
        /// The node home.
        #[arg(long, env = "LEDGER_HOME")]
        home: PathBuf,
        /// Only verify; print the entry count.
        #[arg(long)]
        verify_only: bool,
    },
}

#[derive(Subcommand)]
enum GatewayClientCommand {
    /// Issue a credential for a new client. The token is shown once; the node keeps only
    /// its hash.
    Add {
        /// The node home.
        #[arg(long, env = "LEDGER_HOME")]
        home: PathBuf,
        /// The client's name (shown in logs and the audit log).
        #[arg(long)]
        name: String,
        /// Write the token to this file (mode 0600) instead of printing it.
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// List the registered clients.
    List {
        /// The node home.
        #[arg(long, env = "LEDGER_HOME")]
        home: PathBuf,
    },
}

#[derive(Args)]
struct InitArgs {
    /// The node home to create (must not hold a node already).
    #[arg(long, env = "LEDGER_HOME")]
    home: PathBuf,
    /// This node's organisation id (letters, digits, '-', '_', '.').
    #[arg(long)]
    org: String,
    /// The chain id of the new chain.
    #[arg(long, default_value = "local-ledger-1")]
    chain_id: String,
    /// The organisation's roles, comma-separated (validator, member, regulator, operator).
    #[arg(long, value_delimiter = ',', default_value = "validator,member")]
    roles: Vec<String>,
    /// Address the gRPC API will listen on.
    #[arg(long, default_value = "127.0.0.1:7100")]
    grpc_listen: SocketAddr,
    /// Address the organisation-private gateway will listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:7200")]
    gateway_listen: SocketAddr,
    /// Follow this node's public API instead of producing blocks (for organisations that
    /// are not validators), e.g. http://127.0.0.1:7100.
    #[arg(long)]
    upstream: Option<String>,
    /// The libp2p address for consensus, e.g. /ip4/127.0.0.2/tcp/26600 (see `connect`).
    #[arg(long)]
    p2p_listen: Option<String>,
    /// Where the keys are generated: passphrase-sealed files, or a PKCS#11 token.
    #[arg(long, value_enum, default_value = "software")]
    key_backend: KeyBackend,
    /// Software backend: environment variable holding the key store passphrase.
    #[arg(long, default_value = "LEDGER_KEY_PASSPHRASE")]
    passphrase_env: String,
    /// Software backend: file holding the passphrase (instead of the variable).
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// PKCS#11 backend: the vendor's module.
    #[arg(long, default_value = "/usr/lib/softhsm/libsofthsm2.so")]
    pkcs11_module: PathBuf,
    /// PKCS#11 backend: the token label.
    #[arg(long)]
    pkcs11_token: Option<String>,
    /// PKCS#11 backend: environment variable holding the user PIN.
    #[arg(long, default_value = "LEDGER_HSM_PIN")]
    pin_env: String,
    /// PKCS#11 backend: file holding the user PIN (instead of the variable).
    #[arg(long)]
    pin_file: Option<PathBuf>,
    /// PKCS#11 backend: signature algorithm of the signing key.
    #[arg(long, value_enum, default_value = "auto")]
    signing_algorithm: config::SigningAlgorithmName,
    /// The circuits' verifying keys to fix in genesis: "dev" (the public development
    /// setup, for tests and demos only) or a folder written by `circuit-setup`.
    #[arg(long, default_value = "dev")]
    circuit_keys: String,
}

#[derive(Args)]
struct StartArgs {
    /// The node home (created by `init`).
    #[arg(long, env = "LEDGER_HOME")]
    home: PathBuf,
    /// Override [grpc] listen.
    #[arg(long)]
    grpc_listen: Option<SocketAddr>,
    /// Override [block] interval_ms (0: no empty blocks).
    #[arg(long)]
    block_interval_ms: Option<u64>,
    /// Override [block] max_txs.
    #[arg(long)]
    max_block_txs: Option<usize>,
    /// Override [mempool] max_txs.
    #[arg(long)]
    mempool_max_txs: Option<usize>,
    /// Override [mempool] max_tx_bytes.
    #[arg(long)]
    max_tx_bytes: Option<usize>,
    /// Override [log] level (a tracing filter, e.g. `info` or `debug`); RUST_LOG wins.
    #[arg(long)]
    log_level: Option<String>,
    /// Override [gateway] listen.
    #[arg(long)]
    gateway_listen: Option<SocketAddr>,
    /// Override [sync] upstream.
    #[arg(long)]
    upstream: Option<String>,
    /// Override [consensus] block_time_ms.
    #[arg(long)]
    block_time_ms: Option<u64>,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(a) => init(a),
        Command::Start(a) => start(a),
        Command::Keys { home } => list_keys(&home),
        Command::GenesisMerge { out, inputs } => genesis_merge(&out, &inputs),
        Command::GatewayClient { command } => gateway_client(command),
        Command::Connect {
            validators,
            observers,
        } => connect(&validators, &observers),
        Command::AuditLog { home, verify_only } => audit_log(&home, verify_only),
        Command::CircuitSetup { out, dev } => circuit_setup(&out, dev),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        tracing::error!(error = %e, "node stopped");
        std::process::exit(1);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn init(a: InitArgs) -> Result<(), NodeError> {
    if a.home.join(CONFIG_FILE).exists() || a.home.join(GENESIS_FILE).exists() {
        return Err(NodeError::Fatal(format!(
            "{} already holds a node; choose another --home or remove it",
            a.home.display()
        )));
    }
    let org = OrgId::new(a.org.clone()).map_err(|e| NodeError::Fatal(e.to_string()))?;
    let chain_id = ChainId::new(a.chain_id.clone()).map_err(|e| NodeError::Fatal(e.to_string()))?;
    let roles = a
        .roles
        .iter()
        .map(|r| {
            Role::from_name(r.trim()).ok_or_else(|| {
                NodeError::Fatal(format!(
                    "unknown role {r:?}; roles are validator, member, regulator, operator"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut keys_config = KeysConfig::for_org(org.as_str());
    keys_config.backend = a.key_backend;
    if a.passphrase_file.is_some() {
        keys_config.software.passphrase_env = None;
        keys_config.software.passphrase_file = a.passphrase_file.clone();
    } else {
        keys_config.software.passphrase_env = Some(a.passphrase_env.clone());
    }
    if a.key_backend == KeyBackend::Pkcs11 {
        let token = a.pkcs11_token.clone().ok_or_else(|| {
            NodeError::Fatal("--key-backend pkcs11 needs --pkcs11-token LABEL".into())
        })?;
        keys_config.pkcs11 = Some(config::Pkcs11Keys {
            module: a.pkcs11_module.clone(),
            token,
            pin_env: a.pin_file.is_none().then(|| a.pin_env.clone()),
            pin_file: a.pin_file.clone(),
            signing_algorithm: a.signing_algorithm,
        });
    }
    let config = NodeConfig {
        org: org.to_string(),
        grpc: config::GrpcConfig {
            listen: a.grpc_listen,
        },
        storage: Default::default(),
        keys: keys_config,
        block: Default::default(),
        mempool: Default::default(),
        log: Default::default(),
        gateway: config::GatewayConfig {
            listen: Some(a.gateway_listen),
            ..Default::default()
        },
        sync: config::SyncConfig {
            upstream: a.upstream.clone(),
        },
        audit: Default::default(),
        consensus: config::ConsensusSection {
            listen: a
                .p2p_listen
                .clone()
                .unwrap_or_else(|| config::ConsensusSection::default().listen),
            ..Default::default()
        },
    };
    std::fs::create_dir_all(&a.home).map_err(|e| NodeError::Io {
        what: format!("creating {}", a.home.display()),
        reason: e.to_string(),
    })?;
    let provider = keys::open_provider(&a.home, &config.keys)?;
    let hsm = |e: ledger_hsm::HsmError| NodeError::Fatal(e.to_string());
    provider
        .generate_signing_key(&config.keys.signing_label)
        .map_err(hsm)?;
    let encryption_key = provider
        .generate_agreement_key(&config.keys.agreement_label)
        .map_err(hsm)?;
    provider
        .generate_sealing_key(&config.keys.sealing_label)
        .map_err(hsm)?;
    let key = ProviderSigner::new(provider.clone(), &config.keys.signing_label).map_err(hsm)?;
    // The software secrets the roles call for (a regulator's audit key, a member's ring
    // key), sealed by the key provider.
    let audit_key = ledger_node::sealed::create_for_roles::<ledger_proofs::AuditSecret>(
        &roles,
        &a.home,
        provider.as_ref(),
        &config.keys.sealing_label,
        chain_id.as_str(),
        org.as_str(),
    )?;
    let ring_key = ledger_node::sealed::create_for_roles::<ledger_crypto::ring::RingSecret>(
        &roles,
        &a.home,
        provider.as_ref(),
        &config.keys.sealing_label,
        chain_id.as_str(),
        org.as_str(),
    )?;
    let circuits = genesis::circuits_from(&a.circuit_keys)?;
    let genesis = GenesisFile {
        circuits,
        chain_id: chain_id.to_string(),
        hash_suite: ledger_types::HashSuite::CURRENT.name().to_string(),
        timestamp_ms: now_ms(),
        members: vec![GenesisMember::signed(
            &chain_id,
            &org,
            &roles,
            encryption_key,
            audit_key.clone(),
            ring_key,
            &key,
        )?],
    };
    let genesis_path = a.home.join(GENESIS_FILE);
    let genesis_hash = if roles.contains(&Role::Validator) {
        Some(genesis.build(&genesis_path)?.block.hash())
    } else {
        None
    };
    genesis.save(&genesis_path)?;
    config.save(&a.home)?;
    let mut clients = GatewayClients::default();
    let token = clients.add("cli")?;
    clients.save(&a.home.join(&config.gateway.clients_file))?;
    ledger_node::fsutil::write_file(
        &a.home.join(config::CLI_TOKEN_FILE),
        format!("{}\n", token.as_str()).as_bytes(),
        0o600,
    )?;
    println!("initialised node home {}", a.home.display());
    println!("  organisation  {org}");
    println!("  chain id      {chain_id}");
    match genesis_hash {
        Some(h) => println!("  genesis hash  {h}"),
        None => println!(
            "  genesis       this organisation's registration only: merge it with the validators' (ledger-node genesis-merge) and install the result as genesis.json"
        ),
    }
    println!("  keys          {}", provider.describe());
    println!("  signing key   {}", key.public_key());
    if a.circuit_keys == "dev" {
        println!("  circuits      development keys (public setup seed: tests and demos only; use --circuit-keys DIR in production)");
    } else {
        println!("  circuits      verifying keys from {}", a.circuit_keys);
    }
    if !audit_key.is_empty() {
        println!(
            "  audit key     {} (secret sealed by the key provider in {})",
            hex::encode(&audit_key),
            <ledger_proofs::AuditSecret as ledger_node::sealed::SealedKey>::FILE
        );
    }
    println!("  gRPC API      {}", config.grpc.listen);
    println!(
        "  gateway       {} (client \"cli\": token in {})",
        a.gateway_listen,
        config::CLI_TOKEN_FILE
    );
    Ok(())
}

fn circuit_setup(out: &Path, dev: bool) -> Result<(), NodeError> {
    use ledger_circuits::CircuitId;
    std::fs::create_dir_all(out).map_err(|e| NodeError::Io {
        what: format!("creating {}", out.display()),
        reason: e.to_string(),
    })?;
    let fatal = |e: ledger_circuits::CircuitError| NodeError::Fatal(e.to_string());
    for id in CircuitId::ALL {
        let started = std::time::Instant::now();
        let (pk, vk) = if dev {
            ledger_circuits::dev_keys(id).map_err(fatal)?
        } else {
            ledger_circuits::setup(id, &mut rand::rngs::OsRng).map_err(fatal)?
        };
        let pk_path = out.join(format!("{}.pk", id.name()));
        ledger_node::fsutil::write_file(&pk_path, &pk.to_bytes().map_err(fatal)?, 0o644)?;
        let vk_path = out.join(format!("{}.vk", id.name()));
        ledger_node::fsutil::write_file(
            &vk_path,
            format!("{}\n", hex::encode(vk.to_bytes())).as_bytes(),
            0o644,
        )?;
        println!(
            "{:<15} {} constraints, {} public inputs, verifying key {} ({:.1} s)",
            id.name(),
            ledger_circuits::constraint_count(id).map_err(fatal)?,
            id.public_inputs(),
            vk.fingerprint(),
            started.elapsed().as_secs_f64()
        );
    }
    if dev {
        println!("development keys: anyone can derive them; never use them for a real chain");
    } else {
        println!("the setup randomness was drawn from the operating system and is gone with this process; copy the .pk files to <home>/circuits of every node that proves, and give `init --circuit-keys {}` to every founding organisation", out.display());
    }
    Ok(())
}

fn genesis_merge(out: &Path, inputs: &[PathBuf]) -> Result<(), NodeError> {
    let mut merged: Option<GenesisFile> = None;
    for input in inputs {
        let path = if input.is_dir() {
            input.join(GENESIS_FILE)
        } else {
            input.clone()
        };
        let g = GenesisFile::load(&path)?;
        match &mut merged {
            None => merged = Some(g),
            Some(m) => {
                if m.chain_id != g.chain_id || m.hash_suite != g.hash_suite {
                    return Err(NodeError::Genesis {
                        path: path.display().to_string(),
                        reason: format!(
                            "chain {} ({}) does not match chain {} ({}) of the other inputs",
                            g.chain_id, g.hash_suite, m.chain_id, m.hash_suite
                        ),
                    });
                }
                if m.circuits != g.circuits {
                    return Err(NodeError::Genesis {
                        path: path.display().to_string(),
                        reason: "its circuit verifying keys differ from the other inputs' (every founding organisation must init with the same --circuit-keys)".into(),
                    });
                }
                m.timestamp_ms = m.timestamp_ms.max(g.timestamp_ms);
                for member in g.members {
                    if let Some(existing) = m.members.iter().find(|x| x.org == member.org) {
                        if existing.signing_key != member.signing_key {
                            return Err(NodeError::Genesis {
                                path: path.display().to_string(),
                                reason: format!(
                                    "organisation {} appears twice with different keys",
                                    member.org
                                ),
                            });
                        }
                        continue;
                    }
                    m.members.push(member);
                }
            }
        }
    }
    let mut merged = merged.ok_or_else(|| NodeError::Fatal("no genesis files given".into()))?;
    merged.members.sort_by(|a, b| a.org.cmp(&b.org));
    let built = merged.build(out)?;
    merged.save(out)?;
    println!(
        "wrote {} with {} members; genesis hash {}",
        out.display(),
        merged.members.len(),
        built.block.hash()
    );
    println!("copy it to every node home as {GENESIS_FILE} before the first start");
    Ok(())
}

fn connect(validators: &[PathBuf], observers: &[PathBuf]) -> Result<(), NodeError> {
    let mut configs = Vec::new();
    for home in validators {
        let config = NodeConfig::load(home)?;
        let peer = consensus::peer_id(&NodeConfig::resolve(home, &config.consensus.p2p_key))?;
        let addr = format!("{}/p2p/{peer}", config.consensus.listen);
        let api = format!("http://{}", config.grpc.listen);
        configs.push((home.clone(), config, addr, api));
    }
    for (i, (home, config, _, _)) in configs.iter().enumerate() {
        let mut config = config.clone();
        config.consensus.enabled = true;
        config.sync.upstream = None;
        config.consensus.persistent_peers = configs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, c)| c.2.clone())
            .collect();
        config.consensus.relay = configs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, c)| c.3.clone())
            .collect();
        config.save(home)?;
        println!(
            "validator {} at {} with {} peers",
            config.org,
            config.consensus.listen,
            config.consensus.persistent_peers.len()
        );
    }
    for (i, home) in observers.iter().enumerate() {
        let mut config = NodeConfig::load(home)?;
        let upstream = configs[i % configs.len()].3.clone();
        config.consensus.enabled = false;
        config.sync.upstream = Some(upstream.clone());
        config.save(home)?;
        println!("observer {} follows {upstream}", config.org);
    }
    Ok(())
}

fn gateway_client(command: GatewayClientCommand) -> Result<(), NodeError> {
    match command {
        GatewayClientCommand::Add {
            home,
            name,
            token_file,
        } => {
            let config = NodeConfig::load(&home)?;
            let path = NodeConfig::resolve(&home, &config.gateway.clients_file);
            let mut clients = GatewayClients::load(&path)?;
            let token = clients.add(&name)?;
            clients.save(&path)?;
            match token_file {
                Some(f) => {
                    ledger_node::fsutil::write_file(
                        &f,
                        format!("{}\n", token.as_str()).as_bytes(),
                        0o600,
                    )?;
                    println!("client {name} added; its token is in {}", f.display());
                }
                None => {
                    println!("client {name} added; its token (shown once, keep it secret):");
                    println!("{}", token.as_str());
                }
            }
            println!("a running node reads new clients at its next start");
            Ok(())
        }
        GatewayClientCommand::List { home } => {
            let config = NodeConfig::load(&home)?;
            let path = NodeConfig::resolve(&home, &config.gateway.clients_file);
            for c in GatewayClients::load(&path)?.clients {
                println!("{}", c.name);
            }
            Ok(())
        }
    }
}

fn audit_log(home: &Path, verify_only: bool) -> Result<(), NodeError> {
    let config = NodeConfig::load(home)?;
    let path = NodeConfig::resolve(home, &config.audit.log);
    if !path.exists() {
        println!("no audit log at {} (no audit reads yet)", path.display());
        return Ok(());
    }
    let provider = keys::open_provider(home, &config.keys)?;
    let (count, _) =
        ledger_node::audit_log::verify(&path, provider.as_ref(), &config.keys.sealing_label)?;
    println!(
        "audit log {} intact: {count} entries, hash chain and seals verified",
        path.display()
    );
    if !verify_only {
        let text = std::fs::read_to_string(&path).map_err(|e| NodeError::Io {
            what: format!("reading {}", path.display()),
            reason: e.to_string(),
        })?;
        for line in text.lines() {
            if let Ok(e) = serde_json::from_str::<ledger_node::audit_log::AuditEntry>(line) {
                println!(
                    "{:>6}  {}  {} read {} v{} field {} (owner {}) via {}",
                    e.seq,
                    e.read.time_ms,
                    e.read.org,
                    e.read.record,
                    e.read.version,
                    e.read.field,
                    e.read.owner,
                    e.read.client
                );
            }
        }
    }
    Ok(())
}

fn list_keys(home: &Path) -> Result<(), NodeError> {
    let config = NodeConfig::load(home)?;
    let provider = keys::open_provider(home, &config.keys)?;
    println!(
        "{} keys of {} in {}",
        config.keys.backend_name(),
        config.org,
        provider.describe()
    );
    for k in provider
        .list_keys()
        .map_err(|e| NodeError::Fatal(e.to_string()))?
    {
        println!(
            "  {:<28} {:<10} {}",
            k.label,
            format!("{:?}", k.purpose).to_lowercase(),
            k.public.unwrap_or_default()
        );
    }
    Ok(())
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

fn start(a: StartArgs) -> Result<(), NodeError> {
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
    runtime.block_on(run(a.home, config))
}

/// Opens the store, applies genesis on first start, and checks everything stored.
fn open_chain(
    home: &Path,
    config: &NodeConfig,
) -> Result<(Arc<Store>, genesis::Genesis), NodeError> {
    let genesis_path = home.join(GENESIS_FILE);
    let genesis = GenesisFile::load(&genesis_path)?.build(&genesis_path)?;
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

async fn run(home: PathBuf, config: NodeConfig) -> Result<(), NodeError> {
    let org = OrgId::new(config.org.clone()).map_err(|e| NodeError::Config {
        path: home.join(CONFIG_FILE).display().to_string(),
        reason: e.to_string(),
    })?;
    let (store, genesis) = {
        let home = home.clone();
        let config = config.clone();
        tokio::task::spawn_blocking(move || open_chain(&home, &config))
            .await
            .map_err(|e| NodeError::Fatal(e.to_string()))??
    };
    let provider = {
        let (home, keys_config) = (home.clone(), config.keys.clone());
        tokio::task::spawn_blocking(move || keys::open_provider(&home, &keys_config))
            .await
            .map_err(|e| NodeError::Fatal(e.to_string()))??
    };
    let hsm = |e: ledger_hsm::HsmError| NodeError::Fatal(e.to_string());
    let signer: Arc<dyn Signer> =
        Arc::new(ProviderSigner::new(provider.clone(), &config.keys.signing_label).map_err(hsm)?);
    let signer_for_consensus = signer.clone();
    let me = member(store.as_ref(), &org)?.ok_or_else(|| {
        NodeError::Fatal(format!(
            "organisation {org} (from config.toml) is not a member of this chain"
        ))
    })?;
    if me.signing_key != signer.public_key() {
        return Err(NodeError::Fatal(format!(
            "the signing key {:?} in the key provider is not the key registered for {org} ({})",
            config.keys.signing_label, me.signing_key
        )));
    }
    let my_key = provider
        .agreement_public_key(&config.keys.agreement_label)
        .map_err(hsm)?;
    if my_key != me.encryption_key {
        return Err(NodeError::Fatal(format!(
            "the agreement key {:?} in the key provider is not the encryption key registered for {org}",
            config.keys.agreement_label
        )));
    }
    {
        // The sealed software secrets must match what genesis registered.
        let (h, p, label, chain, m) = (
            home.clone(),
            provider.clone(),
            config.keys.sealing_label.clone(),
            genesis.chain_id.to_string(),
            me.clone(),
        );
        tokio::task::spawn_blocking(move || {
            use ledger_node::sealed::check_registered;
            check_registered::<ledger_crypto::ring::RingSecret>(
                &h,
                p.as_ref(),
                &label,
                &chain,
                &m,
            )?;
            check_registered::<ledger_proofs::AuditSecret>(&h, p.as_ref(), &label, &chain, &m)?;
            Ok::<(), NodeError>(())
        })
        .await
        .map_err(|e| NodeError::Fatal(e.to_string()))??;
    }
    let is_validator = me.has_role(Role::Validator);
    let mempool = Mempool::new(
        genesis.chain_id.clone(),
        MempoolConfig {
            max_txs: config.mempool.max_txs,
            max_bytes: config.mempool.max_bytes,
            max_tx_bytes: config.mempool.max_tx_bytes,
            max_nonce_gap: config.mempool.max_nonce_gap,
        },
    );
    let mut ledger = Ledger::new(
        store,
        mempool,
        signer,
        org.clone(),
        genesis.chain_id.clone(),
        genesis.block.hash(),
        config.block.clone(),
    );
    if let Some(up) = &config.sync.upstream {
        let endpoint = tonic::transport::Endpoint::from_shared(up.clone())
            .map_err(|e| NodeError::Fatal(format!("[sync] upstream {up:?} is not a URL: {e}")))?;
        ledger = ledger.with_upstream(
            ledger_api::v1::ledger_client::LedgerClient::new(endpoint.connect_lazy())
                .max_decoding_message_size(ledger_api::MAX_MESSAGE_BYTES),
        );
    }
    if config.consensus.enabled && config.sync.upstream.is_none() {
        ledger = ledger.with_relays(&config.consensus.relay)?;
    }
    let ledger = Arc::new(ledger);
    let writer = Arc::new(writer::TxWriter::new(ledger.clone()));
    let audit_path = NodeConfig::resolve(&home, &config.audit.log);
    let audit_log = {
        let (p, provider, label) = (
            audit_path.clone(),
            provider.clone(),
            config.keys.sealing_label.clone(),
        );
        tokio::task::spawn_blocking(move || {
            ledger_node::audit_log::AuditLog::open(&p, provider, &label)
        })
        .await
        .map_err(|e| NodeError::Fatal(e.to_string()))??
    };
    if me.has_role(Role::Regulator) {
        tracing::info!(entries = audit_log.len(), path = %audit_path.display(), "audit log verified");
    }
    let audit_log = Arc::new(std::sync::Mutex::new(audit_log));
    let listener = tokio::net::TcpListener::bind(config.grpc.listen)
        .await
        .map_err(|e| NodeError::Io {
            what: format!("listening on {} for the gRPC API", config.grpc.listen),
            reason: e.to_string(),
        })?;
    let local = listener.local_addr().map_err(|e| NodeError::Io {
        what: "reading the listening address".into(),
        reason: e.to_string(),
    })?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let _ = ledger
        .role
        .set(match (&config.sync.upstream, is_validator) {
            (Some(up), _) => ("follower", vec![up.clone()]),
            (None, true) if config.consensus.enabled => {
                ("validator", config.consensus.persistent_peers.clone())
            }
            (None, true) => ("producer", vec![]),
            (None, false) => ("idle", vec![]),
        });
    let mut engine = None;
    // Set when the consensus application ends: the node then stops rather than serve a
    // chain it no longer follows.
    let app_stopped = Arc::new(tokio::sync::Notify::new());
    let producer = match (&config.sync.upstream, is_validator) {
        (None, true) if config.consensus.enabled => {
            let (handle, driver) =
                consensus::start(&home, &config, ledger.clone(), signer_for_consensus.clone())
                    .await?;
            tracing::info!(listen = %config.consensus.listen, peers = config.consensus.persistent_peers.len(), "consensus engine started");
            engine = Some(handle);
            let stop = app_stopped.clone();
            Some(tokio::spawn(async move {
                match driver.await {
                    Ok(Err(e)) => tracing::error!(error = %e, "the consensus application stopped"),
                    Err(e) => tracing::error!(error = %e, "the consensus application failed"),
                    Ok(Ok(())) => {}
                }
                stop.notify_one();
            }))
        }
        (Some(up), _) => {
            if is_validator {
                tracing::warn!(%org, "a validator following an upstream node produces no blocks of its own");
            }
            Some(tokio::spawn(sync::run(
                ledger.clone(),
                up.clone(),
                shutdown_rx.clone(),
            )))
        }
        (None, true) => Some(tokio::spawn(producer::run(
            ledger.clone(),
            shutdown_rx.clone(),
        ))),
        (None, false) => {
            tracing::warn!(%org, "this organisation is not a validator and follows no upstream node: no blocks will arrive (set [sync] upstream)");
            None
        }
    };
    let auditor = if me.has_role(Role::Regulator) && config.audit.check_wraps {
        let a = Arc::new(auditor::Auditor {
            ledger: ledger.clone(),
            provider: provider.clone(),
            agreement_label: config.keys.agreement_label.clone(),
            my_key: my_key.clone(),
            writer: writer.clone(),
            state_file: home.join("audit/checked-height"),
        });
        Some(tokio::spawn(auditor::run(a, shutdown_rx.clone())))
    } else {
        None
    };
    let gateway_server = match config.gateway.listen {
        None => None,
        Some(addr) => {
            if !addr.ip().is_loopback() && !config.gateway.allow_non_loopback {
                return Err(NodeError::Config {
                    path: home.join(CONFIG_FILE).display().to_string(),
                    reason: format!(
                        "[gateway] listen {addr} is not a loopback address; gateway credentials travel in clear, so put a TLS-terminating proxy in front and set allow_non_loopback = true"
                    ),
                });
            }
            let clients_path = NodeConfig::resolve(&home, &config.gateway.clients_file);
            let clients = GatewayClients::load(&clients_path)?;
            if clients.clients.is_empty() {
                tracing::warn!(path = %clients_path.display(), "no gateway clients: every gateway call will be refused (add one with `ledger-node gateway-client add`)");
            }
            let listener =
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| NodeError::Io {
                        what: format!("listening on {addr} for the gateway"),
                        reason: e.to_string(),
                    })?;
            let gw = gateway::GatewayService(Arc::new(
                gateway::Gateway::new(
                    ledger.clone(),
                    provider.clone(),
                    config.keys.agreement_label.clone(),
                    my_key.clone(),
                    clients,
                    audit_log.clone(),
                    writer.clone(),
                )
                .with_sealed_keys(home.clone(), config.keys.sealing_label.clone()),
            ));
            tracing::info!(gateway = %addr, "organisation gateway listening");
            let mut gw_shutdown = shutdown_rx.clone();
            Some(tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(ledger_api::v1::gateway_server::GatewayServer::new(gw))
                    .serve_with_incoming_shutdown(
                        tokio_stream::StreamExt::map(
                            tokio_stream::wrappers::TcpListenerStream::new(listener),
                            |s| s.and_then(|s| s.set_nodelay(true).map(|()| s)),
                        ),
                        async move {
                            let _ = gw_shutdown.wait_for(|s| *s).await;
                        },
                    ),
            ))
        }
    };
    let svc = ledger_api::v1::ledger_server::LedgerServer::new(service::LedgerService::new(
        ledger.clone(),
        shutdown_rx.clone(),
    ))
    .max_decoding_message_size(ledger_api::MAX_MESSAGE_BYTES)
    .max_encoding_message_size(ledger_api::MAX_MESSAGE_BYTES);
    tracing::info!(
        %org,
        chain = %ledger.chain_id,
        height = ledger.height(),
        grpc = %local,
        "node started"
    );
    let mut server_shutdown = shutdown_rx.clone();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(
                // Small responses must not wait for delayed ACKs (Nagle): 40 ms a request.
                tokio_stream::StreamExt::map(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    |s| s.and_then(|s| s.set_nodelay(true).map(|()| s)),
                ),
                async move {
                    let _ = server_shutdown.wait_for(|s| *s).await;
                },
            ),
    );
    let engine_ended = async {
        match &mut engine {
            Some(e) => {
                let _ = (&mut e.handle).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let sig = tokio::select! {
        s = shutdown_signal() => s,
        _ = engine_ended => "consensus engine stopped",
        _ = app_stopped.notified() => "consensus application stopped",
    };
    let failed = matches!(
        sig,
        "consensus engine stopped" | "consensus application stopped"
    );
    tracing::info!(
        signal = sig,
        "shutting down: finishing the block in progress"
    );
    let _ = shutdown_tx.send(true);
    if let Some(e) = engine.take() {
        e.actor.stop(None);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), e.handle).await;
    }
    if let Some(p) = producer {
        if config.consensus.enabled {
            p.abort();
        }
        let _ = p.await;
    }
    if let Some(a) = auditor {
        let _ = a.await;
    }
    if let Some(g) = gateway_server {
        match g.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "gateway server ended with an error"),
            Err(e) => tracing::warn!(error = %e, "gateway server task failed"),
        }
    }
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "gRPC server ended with an error"),
        Err(e) => tracing::warn!(error = %e, "gRPC server task failed"),
    }
    if failed {
        return Err(NodeError::Fatal(format!(
            "{sig} at height {}: see the log above; restart the node to resume from its WAL",
            ledger.height()
        )));
    }
    tracing::info!(height = ledger.height(), "node stopped cleanly");
    Ok(())
}
