//! Harness for end-to-end tests: real `ledger-node` processes in temporary homes, on
//! loopback ports, talked to over gRPC.
//!
//! The binaries are taken from the cargo target directory these tests were built into;
//! build them first with `cargo build --workspace` (the README's test command does).

// A test harness: a failed set-up step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ledger_api::v1 as pb;

pub mod perturb;
pub mod webdriver;
use ledger_api::v1::ledger_client::LedgerClient;
use std::sync::Arc;

use ledger_crypto::record::{seal_record, FieldToSeal, Reader};
use ledger_crypto::sign_tx;
use ledger_hsm::{KdfCost, Pkcs11Config, Pkcs11Provider, ProviderSigner, SoftwareProvider};
use ledger_state::testing::payload_schema;
use ledger_types::{ChainId, FieldName, Hash, OrgId, Payload, RecordId, Transaction, TxBody};
use tonic::transport::Channel;

/// A path in the repository, found at run time: cargo sets CARGO_MANIFEST_DIR when it runs
/// a test, and a target directory shared by several checkouts may hold a test binary
/// compiled in another checkout, whose compile-time path would point there.
pub fn repo_path(rel: &str) -> PathBuf {
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    PathBuf::from(manifest).join("..").join(rel)
}

/// Path of a workspace binary next to the running test's target directory.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // Test binaries live in <target>/<profile>/deps, workspace binaries (the perturbation
    // runner) in <target>/<profile>.
    let parent = exe.parent().expect("an executable's directory");
    let dir = if parent.file_name().is_some_and(|n| n == "deps") {
        parent.parent().expect("<target>/<profile>")
    } else {
        parent
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first with `cargo build --workspace`",
        path.display()
    );
    path
}

/// A free loopback port.
pub fn free_port() -> u16 {
    // Below Linux's ephemeral range (32768-60999): the ports of outgoing connections (the
    // nodes dial each other constantly) cannot take a port reserved here before the node
    // that will listen on it starts. Unique within this test process; checked free.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let base = std::process::id().wrapping_mul(7919);
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = 20_000 + (base.wrapping_add(n) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A node process in its own temporary home.
pub struct TestNode {
    /// The temporary home (removed on drop).
    pub home: tempfile::TempDir,
    /// The gRPC port.
    pub port: u16,
    /// The gateway port.
    pub gateway_port: u16,
    /// The Prometheus metrics port (/metrics).
    pub metrics_port: u16,
    /// The block explorer's port.
    pub explorer_port: u16,
    /// The organisation.
    pub org: OrgId,
    /// The address every port listens on (127.0.0.1 unless in a network namespace).
    pub host: String,
    /// The network namespace the node runs in, if any.
    pub netns: Option<String>,
    /// Where the logs of its starts go (its home unless set).
    log_dir: PathBuf,
    /// The mutual-TLS identity this handle's clients present (the node's own by default).
    client_tls: Option<ledger_tls::ClientTls>,
    child: Option<Child>,
    starts: u32,
    env: Vec<(String, String)>,
    binary: &'static str,
    /// The public API takes mutual TLS (`init --tls mutual`): clients dial `https://`
    /// and present a certificate bound to a member's key.
    pub tls: bool,
}

/// Where a test node listens: an address, and the network namespace it runs in.
#[derive(Debug, Clone)]
pub struct NodeAddr {
    /// The IP address every port listens on.
    pub ip: String,
    /// The network namespace (`ip netns exec`), if any.
    pub netns: Option<String>,
    /// Where logs go (the node's home if `None`).
    pub logs: Option<PathBuf>,
}

impl NodeAddr {
    /// 127.0.0.1, free ports, logs in the home.
    pub fn loopback() -> NodeAddr {
        NodeAddr {
            ip: "127.0.0.1".into(),
            netns: None,
            logs: None,
        }
    }

    /// The `k`th port of the node: fixed in a namespace (the address is the node's own),
    /// a free loopback port otherwise.
    pub fn port(&self, k: u16) -> u16 {
        match self.netns {
            Some(_) => 7100 + k,
            None => free_port(),
        }
    }
}

/// The node binary that ships.
pub const NODE_BINARY: &str = "ledger-node";
/// The test-only build of the node whose validators misbehave on request.
pub const BYZANTINE_BINARY: &str = "ledger-node-byzantine";

/// The passphrase of test nodes' software key stores.
pub const TEST_PASSPHRASE: &str = "e2e passphrase, not a secret";
/// The SoftHSM user PIN of test tokens.
pub const TEST_PIN: &str = "e2e-user-pin";

impl TestNode {
    /// `ledger-node init` in a fresh home, keys in the software store.
    pub fn init(org: &str) -> Self {
        Self::init_with(
            org,
            &[],
            vec![("LEDGER_KEY_PASSPHRASE".into(), TEST_PASSPHRASE.into())],
        )
    }

    /// `ledger-node init` in a fresh home with extra arguments and environment (kept for
    /// every later start).
    pub fn init_with(org: &str, args: &[&str], env: Vec<(String, String)>) -> Self {
        let home = tempfile::tempdir().expect("temporary home");
        Self::init_on(home, org, &NodeAddr::loopback(), args, env)
    }

    /// [`TestNode::init_with`] in `home`, listening on `addr`.
    pub fn init_on(
        home: tempfile::TempDir,
        org: &str,
        addr: &NodeAddr,
        args: &[&str],
        env: Vec<(String, String)>,
    ) -> Self {
        let port = addr.port(0);
        let gateway_port = addr.port(1);
        let metrics_port = addr.port(2);
        let explorer_port = addr.port(3);
        let ip = &addr.ip;
        let out = Command::new(bin("ledger-node"))
            .args([
                "init",
                "--org",
                org,
                "--chain-id",
                "e2e-chain",
                "--development",
                "--grpc-listen",
            ])
            .arg(format!("{ip}:{port}"))
            .arg("--gateway-listen")
            .arg(format!("{ip}:{gateway_port}"))
            .arg("--metrics-listen")
            .arg(format!("{ip}:{metrics_port}"))
            .arg("--explorer-listen")
            .arg(format!("{ip}:{explorer_port}"))
            .arg("--home")
            .arg(home.path())
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run ledger-node init");
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log_dir = addr
            .logs
            .clone()
            .unwrap_or_else(|| home.path().to_path_buf());
        std::fs::create_dir_all(&log_dir).expect("the log directory");
        let node = TestNode {
            home,
            port,
            gateway_port,
            metrics_port,
            explorer_port,
            org: OrgId::new(org).expect("org id"),
            host: ip.clone(),
            netns: addr.netns.clone(),
            log_dir,
            client_tls: None,
            child: None,
            starts: 0,
            env,
            binary: NODE_BINARY,
            // Off the loopback, init turns mutual TLS on unless told otherwise.
            tls: args.windows(2).any(|w| w == ["--tls", "mutual"])
                || (ip != "127.0.0.1" && !args.windows(2).any(|w| w == ["--tls", "off"])),
        };
        if ip != "127.0.0.1" {
            // A test network on a private bridge: the gateway is reached from the runner
            // in the host's namespace.
            node.set_config("gateway", "allow_non_loopback", "true");
        }
        node
    }

    /// Runs later starts with the test-only misbehaving build of the node
    /// (`ledger-node-byzantine`, from `tests/byzantine`) instead of the shipped binary.
    pub fn use_byzantine_binary(&mut self) {
        self.binary = BYZANTINE_BINARY;
    }

    /// Sets `key = value` (TOML) in section `[section]` of the node's `config.toml`, for
    /// later starts.
    pub fn set_config(&self, section: &str, key: &str, value: &str) {
        let path = self.home.path().join("config.toml");
        let text = std::fs::read_to_string(&path).expect("config");
        let mut out = String::new();
        let (mut current, mut done) = (String::new(), false);
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                if current == section && !done {
                    out.push_str(&format!("{key} = {value}\n"));
                    done = true;
                }
                current = t.trim_matches(|c| c == '[' || c == ']').to_string();
            }
            if current == section && t.split('=').next().map(str::trim) == Some(key) {
                out.push_str(&format!("{key} = {value}\n"));
                done = true;
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        if !done {
            if current != section {
                out.push_str(&format!("[{section}]\n"));
            }
            out.push_str(&format!("{key} = {value}\n"));
        }
        std::fs::write(&path, out).expect("write config");
    }

    /// If the node's process ended by itself, its exit status (the node is then stopped
    /// as far as this handle is concerned).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// Sends the running node a signal (`STOP`, `CONT`, `TERM`, ...).
    pub fn signal(&self, sig: &str) -> Result<(), String> {
        let child = self.child.as_ref().ok_or("the node is not running")?;
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .map_err(|e| format!("kill -{sig}: {e}"))?;
        if ok.success() {
            Ok(())
        } else {
            Err(format!("kill -{sig} {} failed", child.id()))
        }
    }

    /// Stops the node if it runs: SIGTERM (resuming it first, in case it is paused).
    pub fn stop_or_kill(&mut self) {
        let _ = self.signal("CONT");
        if self.exited().is_none() && self.child.is_some() {
            self.stop();
        }
    }

    /// Removes an environment variable set for later starts.
    pub fn remove_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// The logs of every start so far.
    pub fn logs(&self) -> Vec<String> {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.log_path(n)).unwrap_or_default())
            .collect()
    }

    /// The running node's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("node running").id()
    }

    /// Runs later starts with the shipped binary again.
    pub fn use_shipped_binary(&mut self) {
        self.binary = NODE_BINARY;
    }

    /// Waits for the running node to exit by itself (a crash); panics after `secs`.
    pub fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let mut child = self.child.take().expect("node running");
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = child.try_wait().expect("poll node") {
                return s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("node did not exit within {secs} s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sets an environment variable for every later start.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// The log file of the `n`th start.
    pub fn log_path(&self, n: u32) -> PathBuf {
        self.log_dir.join(format!("{}-{n}.log", self.org))
    }

    /// The log of the latest start.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
    }

    fn spawn(&mut self, extra: &[&str]) -> Child {
        self.starts += 1;
        let log = File::create(self.log_path(self.starts)).expect("log file");
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin(self.binary));
                c
            }
            None => Command::new(bin(self.binary)),
        };
        cmd.arg("start")
            .arg("--home")
            .arg(self.home.path())
            .args(extra)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn ledger-node start")
    }

    /// Starts the node and waits until its API answers.
    pub async fn start(&mut self, extra: &[&str]) {
        assert!(self.child.is_none(), "node already running");
        let mut child = self.spawn(extra);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("poll node") {
                panic!("node exited during start ({status}):\n{}", self.log());
            }
            // Bounded: a node that accepts connections and never answers (stopped, or a
            // handshake that hangs) must not hold the caller forever.
            let answered = tokio::time::timeout(Duration::from_secs(5), async {
                match self.try_client().await {
                    Ok(mut c) => c.get_status(pb::GetStatusRequest {}).await.is_ok(),
                    Err(_) => false,
                }
            })
            .await
            .unwrap_or(false);
            if answered {
                break;
            }
            if Instant::now() >= deadline {
                // Not left running behind the failed start.
                let _ = child.kill();
                let _ = child.wait();
            }
            assert!(
                Instant::now() < deadline,
                "node did not answer within 60 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.child = Some(child);
    }

    /// Starts the node expecting it to refuse; returns its exit status and log.
    pub fn start_expecting_failure(&mut self) -> (ExitStatus, String) {
        let mut child = self.spawn(&[]);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("poll node") {
                return (status, self.log());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "node kept running although it should have refused:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("TERM").expect("SIGTERM");
        let mut child = self.child.take().expect("node running");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = child.try_wait().expect("poll node") {
                return s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("node did not stop within 30 s of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the node with SIGKILL.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("node running");
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }

    /// The node's gRPC URL (`https://` when it takes mutual TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// The mutual-TLS side of a client of this node's own organisation: a certificate
    /// bound by the node's signing key, trusting only the node's own certificate.
    pub fn own_tls(&self) -> ledger_tls::ClientTls {
        let key: Arc<dyn ledger_crypto::Signer> = self.key();
        let own = ledger_tls::Pinned {
            org: Some(self.org.clone()),
            key: key.public_key(),
        };
        ledger_tls::ClientTls::for_signer(chain(), self.org.clone(), key, Arc::new(own))
            .expect("TLS client settings")
    }

    /// Clients of this node present `tls` instead of the node's own identity (a node whose
    /// keys are in an HSM the test does not open).
    pub fn use_client_tls(&mut self, tls: ledger_tls::ClientTls) {
        self.client_tls = Some(tls);
    }

    fn client_identity(&self) -> ledger_tls::ClientTls {
        match &self.client_tls {
            Some(t) => t.clone(),
            None => self.own_tls(),
        }
    }

    /// A client (over mutual TLS as the node's own organisation when the node takes it),
    /// or why it could not connect.
    pub async fn try_client(&self) -> Result<LedgerClient<Channel>, String> {
        let tls = self.tls.then(|| self.client_identity());
        let channel = ledger_tls::channel(&self.url(), tls.as_ref()).await?;
        Ok(LedgerClient::new(channel).max_decoding_message_size(ledger_api::MAX_MESSAGE_BYTES))
    }

    /// The explorer's address.
    pub fn explorer_url(&self) -> String {
        format!("http://{}:{}", self.host, self.explorer_port)
    }

    /// The node's metrics as served at /metrics (OpenMetrics text), over a plain HTTP/1.1
    /// request on a TCP socket, as a Prometheus scraper sends it.
    pub async fn scrape(&self) -> String {
        let url = format!("http://{}:{}/metrics", self.host, self.metrics_port);
        let (status, body) = http_get(&url, None).await;
        assert!(status.starts_with("HTTP/1.1 200"), "{url}: {status}");
        body
    }

    /// A channel to the public API (over mutual TLS when the node takes it), for the
    /// standard services beside ours (health, reflection).
    pub async fn channel(&self) -> Channel {
        let tls = self.tls.then(|| self.client_identity());
        ledger_tls::channel(&self.url(), tls.as_ref())
            .await
            .expect("connect to node")
    }

    /// A connected client.
    pub async fn client(&self) -> LedgerClient<Channel> {
        self.try_client().await.expect("connect to node")
    }

    /// The gateway's URL.
    pub fn gateway_url(&self) -> String {
        format!("http://{}:{}", self.host, self.gateway_port)
    }

    /// A gateway client with the credential `init` issued to the CLI.
    pub async fn gateway(&self) -> Gw {
        let token = std::fs::read_to_string(self.home.path().join("gateway-cli.token"))
            .expect("the CLI gateway token");
        Gw::connect(&self.gateway_url(), token.trim()).await
    }

    fn software_provider(&self) -> SoftwareProvider {
        SoftwareProvider::open(
            &self.home.path().join("keys"),
            zeroize::Zeroizing::new(TEST_PASSPHRASE.to_string()),
            KdfCost::DEFAULT,
        )
        .expect("open the node's key store")
    }

    /// The node's signing key, opened from its software key store.
    pub fn key(&self) -> Arc<ProviderSigner> {
        Arc::new(
            ProviderSigner::new(
                Arc::new(self.software_provider()),
                &format!("{}-signing", self.org),
            )
            .expect("the node's signing key"),
        )
    }

    /// The organisation's ring secret, unsealed with its software key store (tests that
    /// sign endorsements the gateway would refuse to send).
    pub fn ring_secret(&self) -> ledger_crypto::ring::RingSecret {
        ledger_home::sealed::load::<ledger_crypto::ring::RingSecret>(
            self.home.path(),
            &self.software_provider(),
            &format!("{}-seal", self.org),
            chain().as_str(),
            self.org.as_str(),
        )
        .expect("unseal the ring key")
    }

    /// The node's signing key in a PKCS#11 token (SOFTHSM2_CONF must point at it).
    pub fn hsm_key(&self, module: &str, token: &str) -> Arc<ProviderSigner> {
        let provider = Pkcs11Provider::open(Pkcs11Config {
            module: module.into(),
            token_label: token.into(),
            pin: cryptoki::types::AuthPin::from(TEST_PIN.to_string()),
            signing: ledger_hsm::SigningAlgorithm::Auto,
            suite: ledger_types::CryptoSuite::Default,
            sm2: None,
        })
        .expect("open the token");
        Arc::new(
            ProviderSigner::new(Arc::new(provider), &format!("{}-signing", self.org))
                .expect("the node's signing key"),
        )
    }

    /// The RocksDB directory.
    pub fn data_dir(&self) -> PathBuf {
        self.home.path().join("data")
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A plain HTTP/1.1 GET on a TCP socket (`Authorization: Bearer` when `bearer` is given):
/// the status line and the body.
pub async fn http_get(url: &str, bearer: Option<&str>) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let auth = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let mut s = tokio::net::TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("connect to {host}: {e}"));
    s.write_all(
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .expect("send the request");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read the response");
    let text = String::from_utf8(out).expect("a UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

/// The chain id every test node uses.
pub fn chain() -> ChainId {
    ChainId::new("e2e-chain").expect("chain id")
}

/// An organisation writing records through the public API with its own keys: signs with
/// its signing key and seals to its encryption key (as registered in the directory).
pub struct Writer {
    /// The signing key.
    pub key: Arc<ProviderSigner>,
    /// The organisation.
    pub org: OrgId,
    /// Its registered encryption key.
    pub enc_key: Vec<u8>,
}

impl Writer {
    /// Registers schema `payload` (one required bytes field) with nonce 1 and waits for it,
    /// so the organisation's records start at nonce 2.
    pub async fn setup(
        key: Arc<ProviderSigner>,
        org: &OrgId,
        client: &mut LedgerClient<Channel>,
    ) -> Writer {
        let enc_key = client
            .get_member(pb::GetMemberRequest {
                org: org.to_string(),
            })
            .await
            .expect("the writer is a member")
            .into_inner()
            .encryption_key;
        let schema = sign_tx(
            key.as_ref(),
            TxBody {
                chain_id: chain(),
                signer: org.clone(),
                nonce: 1,
                payload: Payload::RegisterSchema(payload_schema()),
            },
        )
        .expect("sign");
        let h = submit(client, &schema).await;
        let r = wait_committed(client, &h).await;
        assert_eq!(r.status, pb::TxStatus::Committed as i32, "{}", r.failure);
        Writer {
            key,
            org: org.clone(),
            enc_key,
        }
    }

    /// A writer for a chain where schema `payload` is (or will be) registered by someone
    /// else: nothing is submitted, so the organisation's records start at nonce 1.
    pub async fn join(
        key: Arc<ProviderSigner>,
        org: &OrgId,
        client: &mut LedgerClient<Channel>,
    ) -> Writer {
        let enc_key = client
            .get_member(pb::GetMemberRequest {
                org: org.to_string(),
            })
            .await
            .expect("the writer is a member")
            .into_inner()
            .encryption_key;
        Writer {
            key,
            org: org.clone(),
            enc_key,
        }
    }

    /// A signed PutRecord of schema `payload` whose field seals `value`, readable by the
    /// writer.
    pub fn put(&self, nonce: u64, record: &str, version: u32, value: &[u8]) -> Transaction {
        let put = seal_record(
            &chain(),
            &RecordId::new(record).expect("record id"),
            version,
            &payload_schema(),
            &[FieldToSeal {
                name: FieldName::new("payload").expect("field name"),
                plaintext: zeroize::Zeroizing::new(value.to_vec()),
                readers: vec![Reader {
                    org: self.org.clone(),
                    key: self.enc_key.clone(),
                }],
            }],
        )
        .expect("seal");
        sign_tx(
            self.key.as_ref(),
            TxBody {
                chain_id: chain(),
                signer: self.org.clone(),
                nonce,
                payload: Payload::PutRecord(put),
            },
        )
        .expect("sign")
    }
}

/// Submits `tx` and returns its hash; panics if the node refuses it.
pub async fn submit(client: &mut LedgerClient<Channel>, tx: &Transaction) -> Hash {
    let r = client
        .submit_tx(pb::SubmitTxRequest {
            tx: tx.bytes().to_vec(),
        })
        .await
        .unwrap_or_else(|s| panic!("submit refused: {s:?}"))
        .into_inner();
    Hash::from_slice(&r.tx_hash).expect("hash")
}

/// Waits until a transaction is committed (or failed) and returns its status.
pub async fn wait_committed(client: &mut LedgerClient<Channel>, hash: &Hash) -> pb::GetTxResponse {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // A node that was down while the transaction was relayed learns of it only from
        // the block: until then it does not know it.
        match client
            .get_tx(pb::GetTxRequest {
                tx_hash: hash.0.to_vec(),
            })
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                if r.status == pb::TxStatus::Committed as i32
                    || r.status == pb::TxStatus::Failed as i32
                {
                    return r;
                }
            }
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => panic!("get_tx: {s:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "transaction {hash} not committed within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads every block from 0 to the tip and checks heights are contiguous and each block
/// links to its parent. Returns the blocks' transaction hashes by height.
pub async fn walk_chain(client: &mut LedgerClient<Channel>) -> Vec<Vec<Hash>> {
    let tip = client
        .get_status(pb::GetStatusRequest {})
        .await
        .expect("status")
        .into_inner()
        .height;
    let mut out = Vec::new();
    let mut prev = Hash::ZERO;
    for h in 0..=tip {
        let b = client
            .get_block(pb::GetBlockRequest { height: Some(h) })
            .await
            .unwrap_or_else(|s| panic!("block {h}: {s:?}"))
            .into_inner();
        let block = ledger_types::Block::decode(&b.block).expect("block decodes");
        assert_eq!(block.height(), h, "heights are contiguous");
        assert_eq!(
            block.header().prev_hash,
            prev,
            "block {h} links to its parent"
        );
        assert_eq!(block.computed_tx_root(), block.header().tx_root);
        prev = block.hash();
        out.push(block.txs.iter().map(|t| t.hash()).collect());
    }
    out
}

/// A gateway client that presents a bearer token on every call.
#[derive(Clone)]
pub struct Gw {
    inner: ledger_api::v1::gateway_client::GatewayClient<Channel>,
    bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl Gw {
    /// Connects to `url` with `token`.
    pub async fn connect(url: &str, token: &str) -> Gw {
        Gw {
            inner: ledger_api::v1::gateway_client::GatewayClient::connect(url.to_string())
                .await
                .expect("connect to the gateway"),
            bearer: format!("Bearer {token}").parse().expect("ascii token"),
        }
    }

    fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut()
            .insert(ledger_api::AUTHORIZATION_KEY, self.bearer.clone());
        r
    }

    /// A governance transaction through the gateway (waits for the block unless
    /// `no_wait` says otherwise).
    pub async fn govern(
        &mut self,
        msg: pb::GovernRequest,
    ) -> Result<pb::WriteResponse, tonic::Status> {
        let r = self.req(msg);
        self.inner.govern(r).await.map(|r| r.into_inner())
    }

    /// Proposes `action` about `org`, open for 50 blocks; returns the proposal number.
    pub async fn propose(&mut self, action: &str, org: &str) -> Result<u64, tonic::Status> {
        self.propose_at(action, org).await.map(|(id, _)| id)
    }

    /// [`Gw::propose`], also returning the height of the block that holds the proposal
    /// (another node may not hold it yet: wait for that height before voting there).
    pub async fn propose_at(
        &mut self,
        action: &str,
        org: &str,
    ) -> Result<(u64, u64), tonic::Status> {
        self.govern(pb::GovernRequest {
            request: Some(pb::govern_request::Request::Propose(pb::ProposeRequest {
                action: action.into(),
                org: org.into(),
                open_blocks: 50,
                ..Default::default()
            })),
            no_wait: false,
        })
        .await
        .map(|w| (w.proposal, w.height))
    }

    /// Votes on `proposal`.
    pub async fn vote(
        &mut self,
        proposal: u64,
        yes: bool,
    ) -> Result<pb::WriteResponse, tonic::Status> {
        self.govern(pb::GovernRequest {
            request: Some(pb::govern_request::Request::Vote(pb::VoteRequest {
                proposal,
                yes,
            })),
            no_wait: false,
        })
        .await
    }

    /// Registers schema `note`: one required text field, `text`.
    pub async fn register_note_schema(&mut self) {
        self.register_schema(pb::GatewaySchemaRequest {
            document: String::new(),
            schema_id: "note".into(),
            version: None,
            fields: vec![pb::SchemaField {
                name: "text".into(),
                r#type: "text".into(),
                required: true,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .expect("register schema note");
    }

    /// Registers a schema through the gateway.
    pub async fn register_schema(
        &mut self,
        msg: pb::GatewaySchemaRequest,
    ) -> Result<pb::WriteResponse, tonic::Status> {
        let r = self.req(msg);
        self.inner.register_schema(r).await.map(|r| r.into_inner())
    }

    /// Puts `fields` (name, value) into `record` of `schema`, readable also by `readers`,
    /// and waits for the block.
    pub async fn put(
        &mut self,
        record: &str,
        schema: &str,
        fields: &[(&str, &str)],
        readers: &[&str],
    ) -> Result<pb::WriteResponse, tonic::Status> {
        self.put_with(record, schema, fields, readers, false).await
    }

    /// [`Gw::put`], returning once admitted when `no_wait`.
    pub async fn put_with(
        &mut self,
        record: &str,
        schema: &str,
        fields: &[(&str, &str)],
        readers: &[&str],
        no_wait: bool,
    ) -> Result<pb::WriteResponse, tonic::Status> {
        let r = self.req(pb::GatewayPutRequest {
            document: None,
            record_id: record.into(),
            schema_id: schema.into(),
            schema_version: None,
            fields: fields
                .iter()
                .map(|(n, v)| pb::FieldValue {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            readers: readers.iter().map(|r| r.to_string()).collect(),
            no_wait,
        });
        self.inner.put_record(r).await.map(|r| r.into_inner())
    }

    /// Reads `record` (latest version unless given).
    pub async fn read(
        &mut self,
        record: &str,
        version: Option<u32>,
    ) -> Result<pb::ReadRecordResponse, tonic::Status> {
        let r = self.req(pb::ReadRecordRequest {
            record_id: record.into(),
            version,
            fields: vec![],
        });
        self.inner.read_record(r).await.map(|r| r.into_inner())
    }

    /// Grants `fields` of `record` to `org`.
    pub async fn grant(
        &mut self,
        record: &str,
        org: &str,
        fields: &[&str],
    ) -> Result<pb::WriteResponse, tonic::Status> {
        let r = self.req(access(record, org, fields));
        self.inner.grant(r).await.map(|r| r.into_inner())
    }

    /// Revokes `fields` of `record` from `org`.
    pub async fn revoke(
        &mut self,
        record: &str,
        org: &str,
        fields: &[&str],
    ) -> Result<pb::WriteResponse, tonic::Status> {
        let r = self.req(access(record, org, fields));
        self.inner.revoke(r).await.map(|r| r.into_inner())
    }

    /// Current readers and access history of `record`.
    pub async fn list_grants(
        &mut self,
        record: &str,
    ) -> Result<pb::ListGrantsResponse, tonic::Status> {
        let r = self.req(pb::ListGrantsRequest {
            record_id: record.into(),
        });
        self.inner.list_grants(r).await.map(|r| r.into_inner())
    }

    /// Puts a trade document into `record` of document schema `schema`.
    pub async fn put_document(
        &mut self,
        record: &str,
        schema: &str,
        document: pb::DocumentInput,
    ) -> Result<pb::WriteResponse, tonic::Status> {
        self.put_document_for(record, schema, document, &[]).await
    }

    /// [`Gw::put_document`] readable by `readers` too.
    pub async fn put_document_for(
        &mut self,
        record: &str,
        schema: &str,
        document: pb::DocumentInput,
        readers: &[&str],
    ) -> Result<pb::WriteResponse, tonic::Status> {
        let r = self.req(pb::GatewayPutRequest {
            record_id: record.into(),
            schema_id: schema.into(),
            schema_version: None,
            fields: vec![],
            readers: readers.iter().map(|r| r.to_string()).collect(),
            no_wait: false,
            document: Some(document),
        });
        self.inner.put_record(r).await.map(|r| r.into_inner())
    }

    /// Files a cross-check (committed amounts or documents).
    pub async fn cross_check(
        &mut self,
        relation: &str,
        operands: &[(&str, &str)],
    ) -> Result<pb::WriteResponse, tonic::Status> {
        let r = self.req(pb::CrossCheckRequest {
            relation: relation.into(),
            operands: operands
                .iter()
                .map(|(record, field)| pb::CheckOperand {
                    record_id: record.to_string(),
                    version: 0,
                    field: field.to_string(),
                })
                .collect(),
            no_wait: false,
        });
        self.inner.cross_check(r).await.map(|r| r.into_inner())
    }

    /// Assigns the receivable of the latest version of invoice `record` (this
    /// organisation's) to `bank`.
    pub async fn request_financing(
        &mut self,
        record: &str,
        bank: &str,
        no_wait: bool,
    ) -> Result<pb::WriteResponse, tonic::Status> {
        let r = self.req(pb::FinancingRequest {
            invoice_id: record.into(),
            version: 0,
            no_wait,
            bank: bank.into(),
        });
        self.inner
            .request_financing(r)
            .await
            .map(|r| r.into_inner())
    }

    /// Asks an encrypted-analytics question about `buyer` ("exposure" with `limit`, or
    /// "concentration" with `share`).
    pub async fn ask_analytics(
        &mut self,
        buyer: &str,
        question: &str,
        limit: u64,
        share: u32,
    ) -> Result<pb::WriteResponse, tonic::Status> {
        let r = self.req(pb::AnalyticsAskRequest {
            subject: buyer.into(),
            question: question.into(),
            limit,
            share_percent: share,
            ..Default::default()
        });
        self.inner.ask_analytics(r).await.map(|r| r.into_inner())
    }

    /// Asks whether the total of `schema`.`field` over `owner`'s records is above `limit`.
    pub async fn ask_field_total(
        &mut self,
        owner: &str,
        schema: &str,
        field: &str,
        limit: u64,
    ) -> Result<pb::WriteResponse, tonic::Status> {
        let r = self.req(pb::AnalyticsAskRequest {
            subject: owner.into(),
            question: "field-total".into(),
            limit,
            schema: schema.into(),
            field: field.into(),
            ..Default::default()
        });
        self.inner.ask_analytics(r).await.map(|r| r.into_inner())
    }

    /// Endorses `statement` on `topic` anonymously.
    pub async fn endorse(
        &mut self,
        topic: &str,
        statement: &str,
        no_wait: bool,
    ) -> Result<pb::EndorseResponse, tonic::Status> {
        let r = self.req(pb::EndorseRequest {
            topic: topic.into(),
            statement: statement.into(),
            statement_hash: vec![],
            no_wait,
            sign_only: false,
        });
        self.inner.endorse(r).await.map(|r| r.into_inner())
    }

    /// Signs an endorsement of `statement` on `topic` without submitting it.
    pub async fn sign_endorsement(
        &mut self,
        topic: &str,
        statement: &str,
    ) -> Result<pb::EndorseResponse, tonic::Status> {
        let r = self.req(pb::EndorseRequest {
            topic: topic.into(),
            statement: statement.into(),
            statement_hash: vec![],
            no_wait: true,
            sign_only: true,
        });
        self.inner.endorse(r).await.map(|r| r.into_inner())
    }

    /// Rotates the organisation's `kind` key through its node (`request_only`: only the
    /// rotation request for governance; `adopt`: only adopt a staged key the ledger holds).
    pub async fn rotate_key(
        &mut self,
        kind: &str,
        request_only: bool,
        adopt: bool,
    ) -> Result<pb::RotateKeyResponse, tonic::Status> {
        let r = self.req(pb::RotateKeyRequest {
            kind: kind.into(),
            request_only,
            adopt,
        });
        self.inner.rotate_key(r).await.map(|r| r.into_inner())
    }

    /// A regulator's sum of committed `field` over the latest versions of `records`.
    pub async fn audit_sum(
        &mut self,
        field: &str,
        records: &[&str],
    ) -> Result<pb::AuditSumResponse, tonic::Status> {
        let r = self.req(pb::AuditSumRequest {
            field: field.into(),
            records: records
                .iter()
                .map(|r| pb::CheckOperand {
                    record_id: r.to_string(),
                    version: 0,
                    field: field.into(),
                })
                .collect(),
            max_bits: None,
        });
        self.inner.audit_sum(r).await.map(|r| r.into_inner())
    }
}

fn access(record: &str, org: &str, fields: &[&str]) -> pb::AccessRequest {
    pb::AccessRequest {
        record_id: record.into(),
        org: org.into(),
        fields: fields.iter().map(|f| f.to_string()).collect(),
        no_wait: false,
    }
}

/// The fields of a read as `name -> value`, or `name -> "<not authorised>"` /
/// `"<unreadable: why>"`.
pub fn fields_of(r: &pb::ReadRecordResponse) -> std::collections::BTreeMap<String, String> {
    r.fields
        .iter()
        .map(|f| {
            let v = match pb::FieldAccess::try_from(f.access) {
                Ok(pb::FieldAccess::Readable) => f.value.clone(),
                Ok(pb::FieldAccess::NotAuthorised) => "<not authorised>".into(),
                _ => format!("<unreadable: {}>", f.error),
            };
            (f.name.clone(), v)
        })
        .collect()
}

/// A network of validator nodes (software keys) running consensus, and observers that
/// follow them, all on loopback.
pub struct TestNet {
    /// The validators, in the order they were created (`val-1`, `val-2`, ...).
    pub validators: Vec<TestNode>,
    /// The observers (`obs-1`, ... with the regulator role).
    pub observers: Vec<TestNode>,
}

impl TestNet {
    /// Creates the homes, merges the genesis, and wires the consensus configuration with
    /// `ledger-node connect`. Nothing is started.
    pub fn new(validators: usize, observers: usize) -> TestNet {
        Self::with_observer_roles(validators, observers, "regulator")
    }

    /// [`TestNet::new`] with observers of `roles` (comma-separated), e.g. `member` for a
    /// bank that follows the validators and writes through its own gateway.
    pub fn with_observer_roles(validators: usize, observers: usize, roles: &str) -> TestNet {
        Self::with_joining(validators, observers, roles, 0).0
    }

    /// [`TestNet::with_observer_roles`] with `joining` member banks (`new-1`, ...) also
    /// founded in genesis, wired by `ledger-node connect --joining`: each follows a
    /// validator until governance adds it to the validators, then validates. Returns them
    /// (not started) with the consensus address to propose for each.
    pub fn with_joining(
        validators: usize,
        observers: usize,
        roles: &str,
        joining: usize,
    ) -> (TestNet, Vec<(TestNode, String)>) {
        Self::build(validators, observers, roles, joining, &[], false)
    }

    /// [`TestNet::with_observer_roles`] whose nodes all take mutual TLS on their public
    /// API (`init --tls mutual`): relays, followers and clients dial `https://`.
    pub fn with_mutual_tls(validators: usize, observers: usize, roles: &str) -> TestNet {
        Self::build(validators, observers, roles, 0, &["--tls", "mutual"], false).0
    }

    /// [`TestNet::with_observer_roles`] on a chain with encrypted analytics: one more
    /// observer, `reg-1`, a regulator, is the analytics authority (small profile: 8-bit
    /// amounts); its public keys are installed in every home.
    pub fn with_analytics(validators: usize, observers: usize, roles: &str) -> TestNet {
        Self::build(validators, observers, roles, 0, &[], true).0
    }

    fn build(
        validators: usize,
        observers: usize,
        roles: &str,
        joining: usize,
        init: &[&str],
        analytics: bool,
    ) -> (TestNet, Vec<(TestNode, String)>) {
        let env = || {
            vec![(
                "LEDGER_KEY_PASSPHRASE".to_string(),
                TEST_PASSPHRASE.to_string(),
            )]
        };
        let vals: Vec<TestNode> = (1..=validators)
            .map(|i| {
                let p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port());
                TestNode::init_with(
                    &format!("val-{i}"),
                    &[&["--roles", "validator,member", "--p2p-listen", &p2p], init].concat(),
                    env(),
                )
            })
            .collect();
        let mut obs: Vec<TestNode> = (1..=observers)
            .map(|i| {
                TestNode::init_with(
                    &format!("obs-{i}"),
                    &[&["--roles", roles], init].concat(),
                    env(),
                )
            })
            .collect();
        if analytics {
            obs.push(TestNode::init_with(
                "reg-1",
                &[
                    &[
                        "--roles",
                        "regulator",
                        "--analytics-authority",
                        "--analytics-profile",
                        "small",
                    ],
                    init,
                ]
                .concat(),
                env(),
            ));
        }
        let new: Vec<TestNode> = (1..=joining)
            .map(|i| {
                let p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port());
                TestNode::init_with(
                    &format!("new-{i}"),
                    &[&["--roles", "member", "--p2p-listen", &p2p], init].concat(),
                    env(),
                )
            })
            .collect();
        let dir = vals[0].home.path().join("net-genesis.json");
        let out = Command::new(bin("ledger-node"))
            .args(["genesis-merge", "--out"])
            .arg(&dir)
            .args(
                vals.iter()
                    .chain(obs.iter())
                    .chain(new.iter())
                    .map(|n| n.home.path()),
            )
            .output()
            .expect("run genesis-merge");
        assert!(
            out.status.success(),
            "genesis-merge: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for n in vals.iter().chain(obs.iter()).chain(new.iter()) {
            std::fs::copy(&dir, n.home.path().join("genesis.json")).expect("install genesis");
        }
        if analytics {
            let keys = obs
                .last()
                .expect("the authority")
                .home
                .path()
                .join("analytics-keys.bin");
            for n in vals.iter().chain(obs.iter()).chain(new.iter()) {
                let to = n.home.path().join("analytics-keys.bin");
                if to != keys {
                    std::fs::copy(&keys, to).expect("install the analytics keys");
                }
            }
        }
        let mut connect = Command::new(bin("ledger-node"));
        connect.arg("connect");
        for v in &vals {
            connect.arg("--validator").arg(v.home.path());
        }
        for o in &obs {
            connect.arg("--observer").arg(o.home.path());
        }
        let out = connect.output().expect("run connect");
        assert!(
            out.status.success(),
            "connect: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut addresses = Vec::new();
        if !new.is_empty() {
            let mut connect = Command::new(bin("ledger-node"));
            connect.arg("connect");
            for v in &vals {
                connect.arg("--validator").arg(v.home.path());
            }
            for n in &new {
                connect.arg("--joining").arg(n.home.path());
            }
            let out = connect.output().expect("run connect --joining");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                out.status.success(),
                "connect --joining: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let mut words = text.split_whitespace();
            while let Some(w) = words.next() {
                if w == "--p2p" {
                    addresses.push(words.next().expect("an address").to_string());
                }
            }
            assert_eq!(addresses.len(), new.len(), "{text}");
        }
        (
            TestNet {
                validators: vals,
                observers: obs,
            },
            new.into_iter().zip(addresses).collect(),
        )
    }

    /// Starts every node (validators first), each with `extra` start flags.
    pub async fn start_all(&mut self, extra: &[&str]) {
        for v in &mut self.validators {
            v.start(extra).await;
        }
        for o in &mut self.observers {
            o.start(extra).await;
        }
    }

    /// Every node, validators first.
    pub fn nodes(&self) -> impl Iterator<Item = &TestNode> {
        self.validators.iter().chain(self.observers.iter())
    }
}

/// The committed height a node reports.
pub async fn height_of(node: &TestNode) -> u64 {
    node.client()
        .await
        .get_status(pb::GetStatusRequest {})
        .await
        .expect("status")
        .into_inner()
        .height
}

/// Waits until every node in `nodes` has committed `height` (panics after `secs`).
pub async fn wait_for_height(nodes: &[&TestNode], height: u64, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    for n in nodes {
        loop {
            if let Ok(mut c) = n.try_client().await {
                if let Ok(s) = c.get_status(pb::GetStatusRequest {}).await {
                    if s.into_inner().height >= height {
                        break;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not reach height {height} within {secs} s:\n{}",
                n.org,
                n.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The block hash a node holds at `height`.
pub async fn block_hash_at(node: &TestNode, height: u64) -> Vec<u8> {
    node.client()
        .await
        .get_block(pb::GetBlockRequest {
            height: Some(height),
        })
        .await
        .expect("block")
        .into_inner()
        .header
        .expect("header")
        .hash
}

/// The organisations whose validators signed the commit of the block at `height`.
pub async fn signers_at(node: &TestNode, height: u64) -> Vec<String> {
    let m = node
        .client()
        .await
        .get_block(pb::GetBlockRequest {
            height: Some(height),
        })
        .await
        .expect("block")
        .into_inner();
    let block = ledger_types::Block::decode(&m.block).expect("block decodes");
    block
        .commit
        .signatures
        .iter()
        .map(|s| s.validator.to_string())
        .collect()
}

/// Waits until a block above `above` on `node` carries `org`'s commit signature: that
/// validator signs again. Returns that height; panics after `secs`.
pub async fn wait_signed_by(node: &TestNode, org: &str, above: u64, secs: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut h = above + 1;
    loop {
        while h <= height_of(node).await {
            if signers_at(node, h).await.iter().any(|s| s == org) {
                return h;
            }
            h += 1;
        }
        assert!(
            Instant::now() < deadline,
            "no block above {above} on {} carries {org}'s signature within {secs} s",
            node.org
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TCP proxy on loopback that can cut every connection through it and refuse new ones
/// until resumed: a network partition between nodes.
pub struct Proxy {
    /// The port it listens on.
    pub port: u16,
    paused: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    /// Forwards 127.0.0.1:`port` (a free port) to 127.0.0.1:`target`.
    pub async fn start(target: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let paused = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (p, l) = (paused.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if p.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                l.lock().expect("links").push(task.abort_handle());
            }
        });
        Proxy {
            port,
            paused,
            links,
        }
    }

    /// Cuts every open connection and refuses new ones.
    pub fn pause(&self) {
        self.paused.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in self.links.lock().expect("links").drain(..) {
            t.abort();
        }
    }

    /// Lets connections through again.
    pub fn resume(&self) {
        self.paused
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The consensus (libp2p) port a node's config listens on.
pub fn p2p_port(node: &TestNode) -> u16 {
    let text = std::fs::read_to_string(node.home.path().join("config.toml")).expect("config");
    let listen = text
        .lines()
        .find(|l| l.trim_start().starts_with("listen = \"/ip4/"))
        .expect("a consensus listen address");
    listen
        .rsplit("/tcp/")
        .next()
        .and_then(|p| p.trim_end_matches('"').parse().ok())
        .expect("a tcp port")
}

/// Replaces `/tcp/{from}/` by `/tcp/{to}/` in a node's persistent peers.
pub fn redirect_peer(node: &TestNode, from: u16, to: u16) {
    let path = node.home.path().join("config.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    let mut out = String::new();
    let mut in_peers = false;
    for line in text.lines() {
        if line.trim_start().starts_with("persistent_peers") {
            in_peers = true;
        }
        if in_peers {
            out.push_str(&line.replace(&format!("/tcp/{from}/"), &format!("/tcp/{to}/")));
            if line.contains(']') {
                in_peers = false;
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    std::fs::write(&path, out).expect("write config");
}
