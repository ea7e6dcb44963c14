//! Node configuration: `config.toml` in the node's home, overridable by flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::HomeError;

/// The configuration file name inside a node home.
pub const CONFIG_FILE: &str = "config.toml";
/// The genesis file name inside a node home.
pub const GENESIS_FILE: &str = "genesis.json";

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The organisation this node belongs to (its member id).
    pub org: String,
    /// gRPC settings.
    #[serde(default)]
    pub grpc: GrpcConfig,
    /// Storage settings.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Key settings.
    pub keys: KeysConfig,
    /// Block production settings.
    #[serde(default)]
    pub block: BlockConfig,
    /// Mempool limits.
    #[serde(default)]
    pub mempool: MempoolSection,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// The organisation-private gateway.
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// Following another node's blocks (nodes of organisations that are not validators).
    #[serde(default)]
    pub sync: SyncConfig,
    /// Regulator audit: the local audit log and the check of new records' audit wraps.
    #[serde(default)]
    pub audit: AuditConfig,
    /// BFT consensus among the validators (Malachite).
    #[serde(default)]
    pub consensus: ConsensusSection,
    /// The Prometheus metrics endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The block explorer.
    #[serde(default)]
    pub explorer: ExplorerConfig,
}

/// The block explorer (docs/explorer.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplorerConfig {
    /// Address the explorer's page and JSON API are served on over plain HTTP (absent: not
    /// served). It shows what any member reads through the public API (no plaintext, but
    /// the consortium's metadata: who holds which record and who reads it), without the
    /// API's mutual TLS: bind it where only those who may see that reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

/// The Prometheus metrics endpoint (docs/operations.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address `/metrics` is served on over plain HTTP (absent: not served). Metrics carry
    /// no plaintext, only counts, sizes, timings and organisation names; keep the port to
    /// the monitoring network all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

/// BFT consensus settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusSection {
    /// Run Malachite consensus with the other validators. Off: a single validator produces
    /// blocks alone (development and single-organisation chains).
    pub enabled: bool,
    /// The libp2p address this validator listens on, e.g. `/ip4/127.0.0.1/tcp/26600`.
    pub listen: String,
    /// The other validators' libp2p addresses, with `/p2p/<peer id>` (persistent peers
    /// only: no discovery).
    #[serde(default)]
    pub persistent_peers: Vec<String>,
    /// The libp2p identity key (ed25519, generated at first start); relative to the home.
    pub p2p_key: PathBuf,
    /// The consensus write-ahead log; relative to the home.
    pub wal: PathBuf,
    /// The pace of an idle chain, in milliseconds: a proposer with no transaction to
    /// propose waits this long for one before it proposes an empty block. With
    /// transactions waiting, it proposes as soon as the previous height is decided. At
    /// most half of `timeout_propose_ms`.
    pub block_time_ms: u64,
    /// How long to wait for a proposal before voting nil, in milliseconds (grows by half
    /// of it per round).
    pub timeout_propose_ms: u64,
    /// How long to wait for more votes after a quorum of mixed votes, in milliseconds.
    pub timeout_vote_ms: u64,
    /// The other validators' public APIs (`http://host:port`): transactions submitted here
    /// are relayed to them, so whichever validator proposes next holds them.
    #[serde(default)]
    pub relay: Vec<String>,
    /// The largest gossip message (proposal parts, votes) this validator sends or accepts,
    /// in bytes. The same on every validator.
    #[serde(default = "default_gossip_max_bytes")]
    pub gossip_max_bytes: usize,
    /// The most transaction bytes in one streamed part of a proposed block: well below
    /// `gossip_max_bytes`, and above `[mempool] max_tx_bytes` so that any admitted
    /// transaction fits in a part.
    #[serde(default = "default_proposal_part_bytes")]
    pub proposal_part_bytes: usize,
    /// How far apart honest validators' clocks may be, in ms. A validator refuses (votes
    /// nil on) a newly proposed block whose timestamp is more than this ahead of its own
    /// clock. The same on every validator.
    #[serde(default = "default_timestamp_precision_ms")]
    pub timestamp_precision_ms: u64,
    /// How long a proposal may take to reach every validator at round 0, in ms; it grows by
    /// half of itself each round. A validator refuses a newly proposed block whose
    /// timestamp is more than this (plus the precision) behind its own clock when it
    /// arrives. The same on every validator.
    #[serde(default = "default_timestamp_message_delay_ms")]
    pub timestamp_message_delay_ms: u64,
    /// How proposal parts and votes reach the other validators: `broadcast` (each sends to
    /// every validator it is connected to, once; validators are wired to each other) or
    /// `gossipsub` (relayed through a mesh, for networks where validators are not all
    /// connected). The same on every validator.
    #[serde(default)]
    pub gossip: GossipProtocol,
}

/// How consensus messages travel between validators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GossipProtocol {
    /// Directly to every connected validator.
    #[default]
    Broadcast,
    /// Through a GossipSub mesh.
    Gossipsub,
}

fn default_timestamp_precision_ms() -> u64 {
    500
}

fn default_timestamp_message_delay_ms() -> u64 {
    3000
}

fn default_gossip_max_bytes() -> usize {
    4 * 1024 * 1024
}

fn default_proposal_part_bytes() -> usize {
    1024 * 1024
}

/// What a proposal part adds to its transactions' bytes (stream and part framing,
/// signatures of the gossip layer), bounded generously.
pub const PART_OVERHEAD_BYTES: usize = 64 * 1024;
/// What one transaction adds inside a part (its length prefix), bounded generously.
pub const TX_IN_PART_OVERHEAD_BYTES: usize = 16;
/// What a synced block's response adds to the block's bytes (its commit certificate and
/// the sync framing), bounded generously.
pub const SYNC_OVERHEAD_BYTES: usize = 1024 * 1024;

impl Default for ConsensusSection {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "/ip4/127.0.0.1/tcp/26600".into(),
            persistent_peers: vec![],
            p2p_key: PathBuf::from("p2p.key"),
            wal: PathBuf::from("consensus/wal"),
            block_time_ms: 250,
            timeout_propose_ms: 1500,
            timeout_vote_ms: 500,
            relay: vec![],
            gossip_max_bytes: default_gossip_max_bytes(),
            proposal_part_bytes: default_proposal_part_bytes(),
            timestamp_precision_ms: default_timestamp_precision_ms(),
            timestamp_message_delay_ms: default_timestamp_message_delay_ms(),
            gossip: GossipProtocol::default(),
        }
    }
}

/// The organisation-private gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address the gateway listens on (absent: no gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// The gateway clients and their credential hashes; relative to the node home.
    pub clients_file: PathBuf,
    /// Permit a listen address other than loopback. Credentials travel in clear over
    /// plain gRPC: put a TLS-terminating proxy in front before setting this.
    #[serde(default)]
    pub allow_non_loopback: bool,
    /// Most regulator audit sums computed at once; more are refused until one ends. Each
    /// holds a table of up to 2^22 points while it decrypts (about 200 MB at 44 bits).
    #[serde(default = "default_max_concurrent_audit_sums")]
    pub max_concurrent_audit_sums: usize,
}

fn default_max_concurrent_audit_sums() -> usize {
    1
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: None,
            clients_file: PathBuf::from(GATEWAY_CLIENTS_FILE),
            allow_non_loopback: false,
            max_concurrent_audit_sums: default_max_concurrent_audit_sums(),
        }
    }
}

/// The gateway clients file name inside a node home.
pub const GATEWAY_CLIENTS_FILE: &str = "gateway-clients.toml";
/// The credential `init` issues to the local CLI, inside the node home.
pub const CLI_TOKEN_FILE: &str = "gateway-cli.token";

/// Following another node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// The public API of a node to follow (`http://host:port`): blocks are fetched from it,
    /// verified (validator commit signatures, re-execution, state root) and stored, and
    /// transactions submitted here are forwarded to it. Absent: a validator producing
    /// its own blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

/// Regulator audit settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The hash-chained audit log of reads made under an audit policy; relative to the
    /// node home.
    pub log: PathBuf,
    /// On a regulator's node: check every new record's audit wraps as blocks arrive and
    /// file an `AuditAlert` for a wrap that does not open.
    pub check_wraps: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            log: PathBuf::from("audit/audit.log"),
            check_wraps: true,
        }
    }
}

/// gRPC settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// Address the public ledger API listens on.
    pub listen: SocketAddr,
    /// Most connections open at once on the public API; more are closed as they arrive.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Most requests in progress on one connection.
    #[serde(default = "default_max_requests_per_connection")]
    pub max_requests_per_connection: usize,
    /// Longest time to answer one request, in seconds (a stream's later messages
    /// excepted).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Most transaction checks (signature, proofs) running at once; 0: eight per core.
    #[serde(default)]
    pub verify_workers: usize,
    /// Most submissions waiting for a free check; more are refused as busy (retry).
    #[serde(default = "default_max_waiting_admissions")]
    pub max_waiting_admissions: usize,
    /// Most `StreamBlocks` streams served at once (each holds at most two blocks).
    #[serde(default = "default_max_block_streams")]
    pub max_block_streams: usize,
    /// Seconds a stream's reader may take to take the next block before the stream is
    /// dropped.
    #[serde(default = "default_slow_reader_secs")]
    pub slow_reader_secs: u64,
    /// How clients connect to the public API: `mutual` (TLS 1.3, both ends present a
    /// certificate bound to their organisation's ledger signing key; members in good
    /// standing only; clients dial `https://`) or `off` (plain gRPC, `http://`; allowed
    /// on a loopback address only, for development).
    #[serde(default)]
    pub tls: TlsMode,
}

/// Transport security of the public API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain gRPC; only on a loopback address.
    #[default]
    Off,
    /// Mutual TLS with ledger-bound certificates.
    Mutual,
}

impl TlsMode {
    /// The URL scheme clients use to reach an API in this mode.
    pub fn scheme(self) -> &'static str {
        match self {
            TlsMode::Off => "http",
            TlsMode::Mutual => "https",
        }
    }
}

fn default_max_block_streams() -> usize {
    64
}

fn default_slow_reader_secs() -> u64 {
    30
}

fn default_max_connections() -> usize {
    1024
}

fn default_max_requests_per_connection() -> usize {
    64
}

fn default_request_timeout_secs() -> u64 {
    30
}

fn default_max_waiting_admissions() -> usize {
    4096
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7100)),
            max_connections: default_max_connections(),
            max_requests_per_connection: default_max_requests_per_connection(),
            request_timeout_secs: default_request_timeout_secs(),
            verify_workers: 0,
            max_waiting_admissions: default_max_waiting_admissions(),
            max_block_streams: default_max_block_streams(),
            slow_reader_secs: default_slow_reader_secs(),
            tls: TlsMode::Off,
        }
    }
}

/// Storage settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// RocksDB directory; relative paths are taken from the node home.
    pub data_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
        }
    }
}

/// Where the node's keys live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum KeyBackend {
    /// Passphrase-sealed key files (development).
    Software,
    /// A PKCS#11 token (production HSMs; SoftHSM in tests).
    Pkcs11,
}

/// The crypto suite a node's keys are made for (docs/crypto-suites.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SuiteName {
    /// SHA-256, Ed25519 or ECDSA P-256, AES-256-GCM, HPKE over P-256.
    #[default]
    Default,
    /// The Chinese commercial suite: SM3, SM2 (with ZA), SM4-GCM, key wrapping over SM2.
    Sm,
}

impl SuiteName {
    /// The suite.
    pub fn suite(self) -> ledger_types::CryptoSuite {
        match self {
            SuiteName::Default => ledger_types::CryptoSuite::Default,
            SuiteName::Sm => ledger_types::CryptoSuite::Sm,
        }
    }

    fn is_default(&self) -> bool {
        *self == SuiteName::Default
    }
}

/// Key settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// `software` or `pkcs11`.
    pub backend: KeyBackend,
    /// The crypto suite of the chain these keys sign on: `default` or `sm`. Fixed when
    /// the keys are made (`init --crypto-suite`); the node refuses a genesis of the other
    /// suite.
    #[serde(default, skip_serializing_if = "SuiteName::is_default")]
    pub crypto_suite: SuiteName,
    /// Label of the transaction and consensus signing key.
    pub signing_label: String,
    /// Label of the P-256 key-agreement key (unwrapping field keys).
    pub agreement_label: String,
    /// Label of the sealing key (sealing software secrets at rest).
    pub sealing_label: String,
    /// Labels of the organisation's former key-agreement keys, newest last: field keys
    /// wrapped to them before a rotation stay readable (the keys stay in the provider).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub former_agreement_labels: Vec<String>,
    /// A signing key generated for a rotation the ledger has not yet carried out
    /// (`ledger rotate-key`, `ledger-node rotate-key`): adopted as `signing_label` once the
    /// member directory holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_signing_label: Option<String>,
    /// The same for a key-agreement key (adopted as `agreement_label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_agreement_label: Option<String>,
    /// Software backend settings.
    #[serde(default)]
    pub software: SoftwareKeys,
    /// PKCS#11 backend settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11: Option<Pkcs11Keys>,
}

impl KeysConfig {
    /// `software` or `pkcs11`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            KeyBackend::Software => "software",
            KeyBackend::Pkcs11 => "pkcs11",
        }
    }

    /// Labels for `org`, software backend by default.
    pub fn for_org(org: &str) -> Self {
        Self {
            backend: KeyBackend::Software,
            crypto_suite: SuiteName::Default,
            signing_label: format!("{org}-signing"),
            agreement_label: format!("{org}-agreement"),
            sealing_label: format!("{org}-seal"),
            former_agreement_labels: Vec::new(),
            staged_signing_label: None,
            staged_agreement_label: None,
            software: SoftwareKeys::default(),
            pkcs11: None,
        }
    }
}

/// Software backend settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftwareKeys {
    /// Key store folder; relative paths are taken from the node home.
    pub dir: PathBuf,
    /// Environment variable holding the store passphrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_env: Option<String>,
    /// File holding the store passphrase (first line), instead of the variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_file: Option<PathBuf>,
}

impl Default for SoftwareKeys {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("keys"),
            passphrase_env: Some("LEDGER_KEY_PASSPHRASE".into()),
            passphrase_file: None,
        }
    }
}

/// PKCS#11 backend settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Keys {
    /// The vendor's PKCS#11 module.
    pub module: PathBuf,
    /// The token label.
    pub token: String,
    /// Environment variable holding the user PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_env: Option<String>,
    /// File holding the user PIN (first line), instead of the variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_file: Option<PathBuf>,
    /// Signature algorithm of the signing key: `auto` (Ed25519 where the token offers
    /// `CKM_EDDSA`, else ECDSA P-256), `ed25519` or `ecdsa-p256`.
    #[serde(default)]
    pub signing_algorithm: SigningAlgorithmName,
    /// The token's SM2 mechanisms, for the SM suite (vendor-defined; see docs/hsm.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm2: Option<Pkcs11Sm2>,
}

/// `[keys.pkcs11.sm2]`: the vendor's SM2 mechanisms, each as `NAME=VALUE` or `VALUE`, where
/// `VALUE` is a number (`0x80000501`), `CKM_VENDOR_DEFINED+n`, or one of the standard names
/// `CKM_EC_KEY_PAIR_GEN`, `CKM_ECDSA`, `CKM_ECDH1_DERIVE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Sm2 {
    /// SM2 signing, for example `CKM_SM2_SIGN=CKM_VENDOR_DEFINED+0x8001`.
    pub sign: String,
    /// `message` (the token computes ZA and SM3) or `prehash` (the host does).
    #[serde(default = "Pkcs11Sm2::default_sign_input")]
    pub sign_input: String,
    /// Key-pair generation on the SM2 curve.
    #[serde(default = "Pkcs11Sm2::default_key_pair_gen")]
    pub key_pair_gen: String,
    /// Key agreement on the SM2 curve.
    #[serde(default = "Pkcs11Sm2::default_derive")]
    pub derive: String,
}

impl Pkcs11Sm2 {
    fn default_sign_input() -> String {
        "message".into()
    }
    fn default_key_pair_gen() -> String {
        "CKM_EC_KEY_PAIR_GEN".into()
    }
    fn default_derive() -> String {
        "CKM_ECDH1_DERIVE".into()
    }
}

/// The `signing_algorithm` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SigningAlgorithmName {
    /// Ed25519 where offered, else ECDSA P-256.
    #[default]
    Auto,
    /// Ed25519.
    Ed25519,
    /// ECDSA P-256.
    EcdsaP256,
}

/// Block production settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockConfig {
    /// Longest time between blocks: with nothing to include, an empty block is produced
    /// after this many milliseconds (0: never produce empty blocks). Waiting transactions
    /// are put in a block as soon as the previous block is committed.
    pub interval_ms: u64,
    /// Most transactions per block.
    pub max_txs: usize,
    /// Most transaction bytes per block.
    pub max_bytes: usize,
}

impl Default for BlockConfig {
    fn default() -> Self {
        Self {
            interval_ms: 1000,
            max_txs: 20_000,
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Mempool limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolSection {
    /// Most transactions waiting.
    pub max_txs: usize,
    /// Most bytes waiting.
    pub max_bytes: usize,
    /// Largest transaction accepted, in bytes.
    pub max_tx_bytes: usize,
    /// How far ahead of a signer's next nonce a transaction may be.
    pub max_nonce_gap: u64,
    /// Most transactions one signer may have waiting behind a gap in its nonces.
    #[serde(default = "default_max_gapped_per_signer")]
    pub max_gapped_per_signer: usize,
    /// Seconds a transaction may wait behind a gap in its signer's nonces before it is
    /// dropped.
    #[serde(default = "default_gapped_ttl_secs")]
    pub gapped_ttl_secs: u64,
}

fn default_max_gapped_per_signer() -> usize {
    ledger_mempool::MempoolConfig::default().max_gapped_per_signer
}

fn default_gapped_ttl_secs() -> u64 {
    ledger_mempool::MempoolConfig::default()
        .gapped_ttl
        .as_secs()
}

impl MempoolSection {
    /// The mempool's limits.
    pub fn limits(&self) -> ledger_mempool::MempoolConfig {
        ledger_mempool::MempoolConfig {
            max_txs: self.max_txs,
            max_bytes: self.max_bytes,
            max_tx_bytes: self.max_tx_bytes,
            max_nonce_gap: self.max_nonce_gap,
            max_gapped_per_signer: self.max_gapped_per_signer,
            gapped_ttl: std::time::Duration::from_secs(self.gapped_ttl_secs),
        }
    }
}

impl Default for MempoolSection {
    fn default() -> Self {
        let d = ledger_mempool::MempoolConfig::default();
        Self {
            max_txs: d.max_txs,
            max_bytes: d.max_bytes,
            max_tx_bytes: d.max_tx_bytes,
            max_nonce_gap: d.max_nonce_gap,
            max_gapped_per_signer: d.max_gapped_per_signer,
            gapped_ttl_secs: d.gapped_ttl.as_secs(),
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `info,ledger_node=debug` (`RUST_LOG` wins).
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

impl NodeConfig {
    /// Checks that the size limits agree end to end: any transaction the mempool admits
    /// fits in a block and in a proposal part, a part fits in a gossip message, and a
    /// block fits in a catch-up sync response (derived: [`NodeConfig::sync_max_bytes`]).
    /// A disagreement would let the chain accept what it can never commit.
    pub fn check_limits(&self, home: &Path) -> Result<(), HomeError> {
        let fail = |reason: String| {
            Err(HomeError::Config {
                path: home.join(CONFIG_FILE).display().to_string(),
                reason,
            })
        };
        if self.grpc.tls == TlsMode::Off && !self.grpc.listen.ip().is_loopback() {
            return fail(format!(
                "[grpc] listen is {} but tls is \"off\": anyone who can reach it could connect unauthenticated; set [grpc] tls = \"mutual\" (members connect with certificates bound to their ledger keys), or listen on a loopback address for development",
                self.grpc.listen
            ));
        }
        if self.gateway.max_concurrent_audit_sums == 0 {
            return fail("[gateway] max_concurrent_audit_sums is 0: every audit sum would be refused; use at least 1".into());
        }
        let tx = self.mempool.max_tx_bytes;
        if self.block.max_bytes < tx {
            return fail(format!(
                "[block] max_bytes ({}) is below [mempool] max_tx_bytes ({tx}): an admitted transaction could never be included",
                self.block.max_bytes
            ));
        }
        let c = &self.consensus;
        if c.proposal_part_bytes < tx + TX_IN_PART_OVERHEAD_BYTES {
            return fail(format!(
                "[consensus] proposal_part_bytes ({}) must exceed [mempool] max_tx_bytes ({tx}) by at least {TX_IN_PART_OVERHEAD_BYTES}: a transaction must fit in one part",
                c.proposal_part_bytes
            ));
        }
        if c.enabled && c.block_time_ms.saturating_mul(2) > c.timeout_propose_ms {
            return fail(format!(
                "[consensus] block_time_ms ({}) must be at most half of timeout_propose_ms ({}): an idle proposer waits up to block_time_ms for a transaction before it proposes, and the other validators must not give up on its proposal first",
                c.block_time_ms, c.timeout_propose_ms
            ));
        }
        if c.proposal_part_bytes + PART_OVERHEAD_BYTES > c.gossip_max_bytes {
            return fail(format!(
                "[consensus] proposal_part_bytes ({}) must stay {PART_OVERHEAD_BYTES} bytes below gossip_max_bytes ({}): a part must fit in one gossip message",
                c.proposal_part_bytes, c.gossip_max_bytes
            ));
        }
        Ok(())
    }

    /// The largest catch-up sync message: the largest block this node builds or accepts,
    /// with its certificate and framing (at least Malachite's default of 10 MiB).
    pub fn sync_max_bytes(&self) -> usize {
        (self.block.max_bytes + SYNC_OVERHEAD_BYTES).max(10 * 1024 * 1024)
    }

    /// Reads `config.toml` from `home`.
    pub fn load(home: &Path) -> Result<Self, HomeError> {
        let path = home.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| HomeError::Io {
            what: format!(
                "reading {} (run `ledger-node init --home {}` first?)",
                path.display(),
                home.display()
            ),
            reason: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| HomeError::Config {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// Writes `config.toml` into `home`.
    pub fn save(&self, home: &Path) -> Result<(), HomeError> {
        let path = home.join(CONFIG_FILE);
        let text = toml::to_string_pretty(self).map_err(|e| HomeError::Config {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let text = format!(
            "# confidential-ledger node configuration. Every value can be overridden by a\n# flag of `ledger-node start`; see `ledger-node start --help`.\n\n{text}"
        );
        crate::fsutil::write_file(&path, text.as_bytes(), 0o644)
    }

    /// A path from the config, taken relative to `home` unless absolute.
    pub fn resolve(home: &Path, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            home.join(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NodeConfig {
        NodeConfig {
            org: "bank-a".into(),
            grpc: GrpcConfig::default(),
            storage: StorageConfig::default(),
            keys: KeysConfig::for_org("bank-a"),
            block: BlockConfig::default(),
            mempool: MempoolSection::default(),
            log: LogConfig::default(),
            gateway: GatewayConfig::default(),
            sync: SyncConfig::default(),
            audit: AuditConfig::default(),
            consensus: ConsensusSection::default(),
            metrics: MetricsConfig::default(),
            explorer: ExplorerConfig::default(),
        }
    }

    fn reason(c: &NodeConfig) -> String {
        match c.check_limits(Path::new("/home")) {
            Err(HomeError::Config { reason, .. }) => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_deployment_sample_is_a_valid_configuration() {
        let c: NodeConfig =
            toml::from_str(include_str!("../../../deploy/config/bank-node.toml")).unwrap();
        c.check_limits(Path::new("/var/lib/ledger")).unwrap();
        assert_eq!(c.keys.backend, KeyBackend::Pkcs11);
        assert!(c.consensus.enabled);
        assert!(c.metrics.listen.is_some());
    }

    #[test]
    fn the_default_limits_agree_and_sync_carries_the_largest_block() {
        let c = sample();
        c.check_limits(Path::new("/home")).unwrap();
        assert!(c.sync_max_bytes() >= c.block.max_bytes + SYNC_OVERHEAD_BYTES);
    }

    #[test]
    fn a_config_written_before_the_size_settings_reads_with_their_defaults() {
        let text = toml::to_string(&sample()).unwrap();
        let old: String = text
            .lines()
            .filter(|l| !l.starts_with("gossip_max_bytes") && !l.starts_with("proposal_part_bytes"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(old, text);
        let c: NodeConfig = toml::from_str(&old).unwrap();
        assert_eq!(c.consensus.gossip_max_bytes, 4 * 1024 * 1024);
        assert_eq!(c.consensus.proposal_part_bytes, 1024 * 1024);
    }

    #[test]
    fn limits_that_disagree_are_refused_naming_the_settings() {
        let mut c = sample();
        c.block.max_bytes = c.mempool.max_tx_bytes - 1;
        assert!(reason(&c).contains("[block] max_bytes"));
        let mut c = sample();
        c.consensus.proposal_part_bytes = c.mempool.max_tx_bytes;
        assert!(reason(&c).contains("a transaction must fit in one part"));
        let mut c = sample();
        c.consensus.proposal_part_bytes = c.consensus.gossip_max_bytes;
        assert!(reason(&c).contains("a part must fit in one gossip message"));
        let mut c = sample();
        c.consensus.enabled = true;
        c.consensus.block_time_ms = c.consensus.timeout_propose_ms / 2 + 1;
        assert!(reason(&c).contains("[consensus] block_time_ms"));
        c.consensus.block_time_ms = c.consensus.timeout_propose_ms / 2;
        c.check_limits(Path::new("/home")).unwrap();
        // A node without consensus never waits on a proposer.
        c.consensus.enabled = false;
        c.consensus.block_time_ms = c.consensus.timeout_propose_ms * 4;
        c.check_limits(Path::new("/home")).unwrap();
    }
}
