//! The command line of `ledger-node`: its commands and flags, as `--help` shows them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ledger_home::config;
use ledger_home::config::KeyBackend;

#[derive(Parser)]
#[command(
    name = "ledger-node",
    version,
    about = "Confidential-ledger node: stores signed transactions in RocksDB, produces blocks, serves the gRPC ledger API",
    long_about = "Confidential-ledger node.\n\nA node home holds config.toml, genesis.json, the signing key (keys/) and the RocksDB data (data/).\nCreate one with `init`, run it with `start`. Every committed block is written with a synced,\natomic write; at startup the node re-checks the whole hash chain and the state root and refuses\nto start if stored data was altered."
)]
/// The `ledger-node` command line.
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
// Parsed once per process: the size of the largest variant (init's flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
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
    /// Write this node's join request: its registration (organisation, roles, public
    /// keys), signed by the signing key it registers, for a consortium that runs already.
    /// Run `init` with the consortium's chain id first; hand the file to a governor, who
    /// proposes `ledger propose --admit FILE`; once admitted, put the consortium's
    /// genesis.json in this home, set `[sync] upstream` to a validator's API, and start.
    JoinRequest {
        /// The node home (made by `init`).
        #[arg(long, env = "LEDGER_HOME")]
        home: PathBuf,
        /// Where to write the request (hex of the signed registration).
        #[arg(long)]
        out: PathBuf,
    },
    /// Stage a new key for this organisation and write the rotation request for
    /// governance, with the node stopped: for a member whose node cannot sign its own
    /// rotation (its signing key is lost: put a new token in place first) or is
    /// suspended. A governor proposes it (`ledger propose --rotate-key FILE`); once it
    /// passes, `start` adopts the new key. With a running node, `ledger rotate-key`
    /// does the same through the gateway.
    RotateKey {
        /// The node home.
        #[arg(long, env = "LEDGER_HOME")]
        home: PathBuf,
        /// Which key: signing, encryption, audit (regulators) or ring (members).
        #[arg(long)]
        kind: String,
        /// Where to write the rotation request (hex).
        #[arg(long)]
        out: PathBuf,
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
    /// With --joining, only the joining homes are written: each will follow a validator
    /// until governance adds it to the validators (`ledger propose --add-validator ORG
    /// --p2p ADDR`, with the address printed here), then take part in consensus.
    Connect {
        /// Homes of validators (repeatable).
        #[arg(long = "validator", required = true)]
        validators: Vec<PathBuf>,
        /// Homes of observers (repeatable): they follow a validator and never vote.
        #[arg(long = "observer")]
        observers: Vec<PathBuf>,
        /// Homes of nodes that will become validators by vote of a running network
        /// (repeatable); the validators' homes are only read.
        #[arg(long = "joining")]
        joining: Vec<PathBuf>,
    },
    /// Print this node's consensus address (its libp2p listen address with its peer id),
    /// for the proposal that adds it to the validators (`ledger propose --add-validator
    /// ORG --p2p ADDRESS`).
    PeerAddress {
        /// The node home.
        #[arg(long, env = "LEDGER_HOME")]
        home: PathBuf,
    },
    /// The consortium's multi-party setup of the circuit keys (a Groth16 ceremony): every
    /// bank adds its own secret, and the keys are sound if any one of them destroyed its
    /// secret. In a shared folder (the public transcript): `new`, then each bank
    /// `contribute`s (phase 1, powers of tau), someone runs `prepare`, each bank
    /// `contribute`s again (phase 2, every circuit), anyone runs `verify`, and `finish`
    /// writes the keys for `init --circuit-keys`. See docs/circuits.md.
    Ceremony {
        #[command(subcommand)]
        /// The step.
        command: CeremonyCommand,
    },
    /// Manage the clients allowed to call the organisation-private gateway.
    GatewayClient {
        #[command(subcommand)]
        /// What to do with the clients.
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

/// The `ceremony` steps.
#[derive(Subcommand)]
pub enum CeremonyCommand {
    /// Start a ceremony in an empty folder, sized for every circuit.
    New {
        /// The transcript folder.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Add this organisation's secret: to the powers of tau before `prepare`, to every
    /// circuit's keys after it. Checks the latest contribution first; the secret is drawn
    /// from the operating system and wiped when the command ends.
    Contribute {
        /// The transcript folder.
        #[arg(long)]
        dir: PathBuf,
        /// The contributing organisation (its id in the member directory).
        #[arg(long)]
        org: String,
    },
    /// End phase 1: check every contribution to the powers of tau and turn the final
    /// powers into each circuit's starting keys (deterministic; anyone can check it).
    Prepare {
        /// The transcript folder.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Check the whole transcript and name every contribution; a contribution that does
    /// not verify is named with what fails.
    Verify {
        /// The transcript folder.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Check the transcript and write each circuit's proving key (<name>.pk) and
    /// verifying key (<name>.vk) to a folder, for `init --circuit-keys DIR` and
    /// <home>/circuits.
    Finish {
        /// The transcript folder.
        #[arg(long)]
        dir: PathBuf,
        /// The folder to write the keys to.
        #[arg(long)]
        out: PathBuf,
    },
}

/// The `gateway-client` commands.
#[derive(Subcommand)]
pub enum GatewayClientCommand {
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

/// The flags of `init`.
#[derive(Args)]
pub struct InitArgs {
    /// The node home to create (must not hold a node already).
    #[arg(long, env = "LEDGER_HOME")]
    pub home: PathBuf,
    /// This node's organisation id (letters, digits, '-', '_', '.').
    #[arg(long)]
    pub org: String,
    /// The chain id of the new chain.
    #[arg(long, default_value = "local-ledger-1")]
    pub chain_id: String,
    /// The organisation's roles, comma-separated (validator, member, regulator, operator,
    /// corporate, carrier).
    #[arg(long, value_delimiter = ',', default_value = "validator,member")]
    pub roles: Vec<String>,
    /// Address the gRPC API will listen on.
    #[arg(long, default_value = "127.0.0.1:7100")]
    pub grpc_listen: SocketAddr,
    /// How clients connect to the gRPC API: "mutual" TLS with certificates bound to the
    /// members' ledger keys (clients dial https://), or "off" (plain, loopback only).
    /// Default: off on a loopback address, mutual otherwise.
    #[arg(long, value_enum)]
    pub tls: Option<config::TlsMode>,
    /// Address the organisation-private gateway will listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:7200")]
    pub gateway_listen: SocketAddr,
    /// Address the Prometheus metrics endpoint will listen on (/metrics over plain HTTP;
    /// default: none).
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Address the block explorer (a web page of the ledger's public data) will listen on
    /// (plain HTTP; default: none).
    #[arg(long)]
    pub explorer_listen: Option<SocketAddr>,
    /// Follow this node's public API instead of producing blocks (for organisations that
    /// are not validators), e.g. http://127.0.0.1:7100 (https:// for mutual TLS).
    #[arg(long)]
    pub upstream: Option<String>,
    /// The libp2p address for consensus, e.g. /ip4/127.0.0.2/tcp/26600 (see `connect`).
    #[arg(long)]
    pub p2p_listen: Option<String>,
    /// Where the keys are generated: passphrase-sealed files, or a PKCS#11 token.
    #[arg(long, value_enum, default_value = "software")]
    pub key_backend: KeyBackend,
    /// Software backend: environment variable holding the key store passphrase.
    #[arg(long, default_value = "LEDGER_KEY_PASSPHRASE")]
    pub passphrase_env: String,
    /// Software backend: file holding the passphrase (instead of the variable).
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// PKCS#11 backend: the vendor's module.
    #[arg(long, default_value = "/usr/lib/softhsm/libsofthsm2.so")]
    pub pkcs11_module: PathBuf,
    /// PKCS#11 backend: the token label.
    #[arg(long)]
    pub pkcs11_token: Option<String>,
    /// PKCS#11 backend: environment variable holding the user PIN.
    #[arg(long, default_value = "LEDGER_HSM_PIN")]
    pub pin_env: String,
    /// PKCS#11 backend: file holding the user PIN (instead of the variable).
    #[arg(long)]
    pub pin_file: Option<PathBuf>,
    /// PKCS#11 backend: signature algorithm of the signing key.
    #[arg(long, value_enum, default_value = "auto")]
    pub signing_algorithm: config::SigningAlgorithmName,
    /// The crypto suite of the chain this node's keys are for: "default" (SHA-256, Ed25519
    /// or ECDSA P-256, AES-256-GCM) or "sm" (SM3, SM2 with ZA, SM4-GCM; the Chinese
    /// commercial suite). Written into genesis by the founding node and fixed for the
    /// chain's life; a node refuses a genesis of the other suite. See docs/crypto-suites.md.
    #[arg(long, value_enum, default_value = "default")]
    pub crypto_suite: config::SuiteName,
    /// PKCS#11 backend on the SM suite: the token's SM2 signing mechanism, vendor-defined
    /// (`NAME=CKM_VENDOR_DEFINED+n` or a number; see docs/hsm.md). Written to
    /// [keys.pkcs11.sm2] with the standard EC key generation and ECDH; edit it there for
    /// vendor ones.
    #[arg(long, value_name = "MECHANISM")]
    pub pkcs11_sm2_sign: Option<String>,
    /// The circuits' verifying keys to fix in genesis: a folder of verifying keys (from
    /// the consortium's setup, e.g. `circuit-setup`), or "dev", the public development
    /// keys (with --development only). Default: "dev" with --development; required
    /// otherwise.
    #[arg(long)]
    pub circuit_keys: Option<String>,
    /// A development chain, for tests and demos: it may pin the public development
    /// circuit keys, whose trapdoor anyone can recompute to forge invoice checks and
    /// financing proofs. Fixed in genesis; every start warns about it.
    #[arg(long)]
    pub development: bool,
    /// Make this organisation (a regulator) the chain's analytics authority: generate the
    /// analytics key (its secret sealed by the key provider, in analytics.sealed), write
    /// the public keys to analytics-keys.bin (every node needs a copy beside genesis.json)
    /// and name them in genesis. Seconds to a minute. See docs/fhe.md.
    #[arg(long)]
    pub analytics_authority: bool,
    /// The analytics integer profile: "standard" (48-bit amounts, production) or "small"
    /// (8-bit amounts: tests and demos, same parameters on fewer blocks).
    #[arg(long, default_value = "standard")]
    pub analytics_profile: String,
    /// Joining a consortium that runs already (give its --chain-id): also write this
    /// organisation's join request to FILE (its registration signed by the new signing
    /// key, with proofs of possession of its keys), to hand to a governor, who proposes
    /// `ledger propose --admit FILE`. Once admitted: install the consortium's
    /// genesis.json in this home, set [sync] upstream to a validator's API, and start.
    #[arg(long, value_name = "FILE")]
    pub join: Option<PathBuf>,
}

/// The flags of `start`.
#[derive(Args)]
pub struct StartArgs {
    /// The node home (created by `init`).
    #[arg(long, env = "LEDGER_HOME")]
    pub home: PathBuf,
    /// Override [grpc] listen.
    #[arg(long)]
    pub grpc_listen: Option<SocketAddr>,
    /// Override [block] interval_ms (0: no empty blocks).
    #[arg(long)]
    pub block_interval_ms: Option<u64>,
    /// Override [block] max_txs.
    #[arg(long)]
    pub max_block_txs: Option<usize>,
    /// Override [mempool] max_txs.
    #[arg(long)]
    pub mempool_max_txs: Option<usize>,
    /// Override [mempool] max_tx_bytes.
    #[arg(long)]
    pub max_tx_bytes: Option<usize>,
    /// Override [log] level (a tracing filter, e.g. `info` or `debug`); RUST_LOG wins.
    #[arg(long)]
    pub log_level: Option<String>,
    /// Override [gateway] listen.
    #[arg(long)]
    pub gateway_listen: Option<SocketAddr>,
    /// Override [metrics] listen (the Prometheus endpoint, /metrics).
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Override [explorer] listen (the block explorer's web page).
    #[arg(long)]
    pub explorer_listen: Option<SocketAddr>,
    /// Override [sync] upstream.
    #[arg(long)]
    pub upstream: Option<String>,
    /// Override [consensus] block_time_ms.
    #[arg(long)]
    pub block_time_ms: Option<u64>,
}
