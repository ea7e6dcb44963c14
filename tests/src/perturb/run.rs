//! The runner: starts the network a manifest describes, offers load, applies the
//! perturbations on schedule, undoes them, then checks what every node holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ledger_api::v1 as pb;
use ledger_api::v1::ledger_client::LedgerClient;
use ledger_tls::ClientTls;
use serde::Serialize;
use tonic::transport::Channel;

use super::manifest::{Kind, Manifest, Placement};
use super::net::{Hosts, SmallDisk};
use crate::{bin, NodeAddr, TestNode, Writer, TEST_PASSPHRASE};

/// How long the network may stay without a new block while a quorum of validators is up
/// and connected.
pub const LIVENESS_SECS: u64 = 10;

/// What happened to one perturbation.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// Seconds from the start.
    pub at_secs: u64,
    /// Its window.
    pub for_secs: u64,
    /// The kind (and mode).
    pub kind: String,
    /// The validators.
    pub nodes: Vec<usize>,
    /// `applied`, `skipped: why` or `failed: why`.
    pub outcome: String,
    /// How undoing it went.
    pub undone: String,
    /// When quorum was back (or the perturbation ended), how long until the next block.
    pub next_block_after_ms: Option<u64>,
}

/// One checker's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The checker.
    pub name: String,
    /// Whether it holds.
    pub ok: bool,
    /// What it found.
    pub detail: String,
}

/// The load offered and what became of it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// Transactions signed and offered.
    pub offered: u64,
    /// Seen committed by the client.
    pub committed: u64,
    /// Seen failed.
    pub failed: u64,
    /// Submissions sent again to another node (the first did not answer or lost it).
    pub resubmitted: u64,
    /// Transactions signed again with a new nonce because another transaction of the
    /// organisation (a governance vote its gateway signed) took theirs.
    pub signed_again: u64,
    /// Offered but never seen committed.
    pub lost: u64,
}

/// The report of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The manifest's name.
    pub name: String,
    /// `namespaces` or `loopback`.
    pub placement: String,
    /// Validators.
    pub validators: usize,
    /// Seconds of perturbations and load.
    pub duration_secs: u64,
    /// Seconds the whole run took, checks included.
    pub wall_secs: u64,
    /// Final common height.
    pub height: u64,
    /// The perturbations.
    pub perturbations: Vec<Applied>,
    /// The load.
    pub load: LoadReport,
    /// Longest time without a new block while a quorum was up and connected, ms.
    pub longest_stall_with_quorum_ms: u64,
    /// The checkers.
    pub checks: Vec<Check>,
    /// Every checker green and every perturbation applied or honestly skipped.
    pub ok: bool,
}

impl Report {
    /// The human-readable form.
    pub fn text(&self) -> String {
        let mut s = format!(
            "perturbation run {:?}: {} validators in {}, {} s of load and faults ({} s in all), final height {}\n\n",
            self.name, self.validators, self.placement, self.duration_secs, self.wall_secs, self.height
        );
        s.push_str("perturbations:\n");
        for p in &self.perturbations {
            s.push_str(&format!(
                "  {:>4}s +{:>3}s  {:<28} nodes {:?}: {}; undone: {}{}\n",
                p.at_secs,
                p.for_secs,
                p.kind,
                p.nodes,
                p.outcome,
                p.undone,
                p.next_block_after_ms
                    .map(|ms| format!("; next block {ms} ms after"))
                    .unwrap_or_default()
            ));
        }
        s.push_str(&format!(
            "\nload: {} offered, {} committed, {} failed, {} resubmitted, {} signed again (nonce taken), {} lost\n",
            self.load.offered,
            self.load.committed,
            self.load.failed,
            self.load.resubmitted,
            self.load.signed_again,
            self.load.lost
        ));
        s.push_str(&format!(
            "longest stall with a quorum up: {} ms (limit {} s)\n\nchecks:\n",
            self.longest_stall_with_quorum_ms, LIVENESS_SECS
        ));
        for c in &self.checks {
            s.push_str(&format!(
                "  [{}] {}: {}\n",
                if c.ok { "ok" } else { "FAIL" },
                c.name,
                c.detail
            ));
        }
        s.push_str(&format!(
            "\nresult: {}\n",
            if self.ok { "green" } else { "RED" }
        ));
        s
    }
}

/// Samples of each node's height over the run.
#[derive(Default)]
struct Samples {
    /// (ms since start, highest height any node reported).
    progress: Vec<(u64, u64)>,
}

/// Shared between the runner and its load and monitor tasks.
struct Shared {
    start: Instant,
    urls: Vec<String>,
    /// Each validator organisation's client identity (when nodes take mutual TLS).
    tls: Vec<Option<ClientTls>>,
    stop_offering: std::sync::atomic::AtomicBool,
    stop_all: std::sync::atomic::AtomicBool,
    samples: Mutex<Samples>,
    load: Mutex<LoadReport>,
    /// Client-seen commits: tx hash -> height.
    seen: Mutex<HashMap<Vec<u8>, u64>>,
}

impl Shared {
    fn ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// A client of `url` (over mutual TLS as `tls`'s organisation when the node takes it), or
/// `None` if it does not connect within 2 s.
async fn connect(url: &str, tls: Option<&ClientTls>) -> Option<LedgerClient<Channel>> {
    let ch = tokio::time::timeout(Duration::from_secs(2), ledger_tls::channel(url, tls))
        .await
        .ok()?
        .ok()?;
    Some(LedgerClient::new(ch).max_decoding_message_size(ledger_api::MAX_MESSAGE_BYTES))
}

/// A call that gives up after 3 s (a paused node accepts connections and never answers).
async fn timed<T>(
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, tonic::Status> {
    match tokio::time::timeout(Duration::from_secs(3), call).await {
        Ok(r) => r.map(tonic::Response::into_inner),
        Err(_) => Err(tonic::Status::deadline_exceeded("no answer within 3 s")),
    }
}

/// Trusts the validators' keys: the runner's clients talk to every node.
struct Members(HashMap<String, ledger_types::PublicKey>);

impl ledger_tls::Directory for Members {
    fn admit(&self, org: &ledger_types::OrgId) -> Result<ledger_types::PublicKey, String> {
        self.0
            .get(org.as_str())
            .cloned()
            .ok_or_else(|| format!("{org} is not a validator of this run"))
    }
}

/// Polls every node's height every 250 ms.
async fn monitor(shared: Arc<Shared>) {
    let mut clients: Vec<Option<LedgerClient<Channel>>> = vec![None; shared.urls.len()];
    let mut best = 0;
    while !shared.stop_all.load(std::sync::atomic::Ordering::Relaxed) {
        for (i, url) in shared.urls.iter().enumerate() {
            if clients[i].is_none() {
                clients[i] = connect(url, shared.tls[0].as_ref()).await;
            }
            if let Some(c) = clients[i].as_mut() {
                match timed(c.get_status(pb::GetStatusRequest {})).await {
                    Ok(s) => best = best.max(s.height),
                    Err(_) => clients[i] = None,
                }
            }
        }
        shared
            .samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .progress
            .push((shared.ms(), best));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

struct Pending {
    tx: ledger_types::Transaction,
    sent_at: Instant,
    target: usize,
}

/// Signs `me`'s record with `nonce`, offers it (its own node first) and keeps it pending.
async fn offer(
    w: &Writer,
    nonce: u64,
    me: usize,
    clients: &mut [Option<LedgerClient<Channel>>],
    shared: &Shared,
    pending: &mut BTreeMap<u64, Pending>,
) {
    let tx = w.put(
        nonce,
        &format!("load-{me}-{nonce}"),
        1,
        &nonce.to_be_bytes(),
    );
    let (target, _) = send(clients, shared, me, me, &tx).await;
    pending.insert(
        nonce,
        Pending {
            tx,
            sent_at: Instant::now(),
            target,
        },
    );
}

/// One writer: validator `me`'s organisation signs records and offers them to its own
/// node, or any other when that one does not answer, resubmitting what is not committed
/// after 4 s to the next node (the same bytes: a transaction commits once).
async fn writer(shared: Arc<Shared>, w: Writer, me: usize, first_nonce: u64, per_sec: f64) {
    use std::sync::atomic::Ordering::Relaxed;
    let n = shared.urls.len();
    let mut clients: Vec<Option<LedgerClient<Channel>>> = vec![None; n];
    let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
    let mut nonce = first_nonce;
    let interval = Duration::from_secs_f64(1.0 / per_sec.max(0.1));
    let mut next_offer = Instant::now();
    let mut next_check = Instant::now();
    while !shared.stop_all.load(Relaxed) {
        let offering = !shared.stop_offering.load(Relaxed);
        if !offering && pending.is_empty() {
            break;
        }
        if offering && Instant::now() >= next_offer && pending.len() < 400 {
            next_offer += interval;
            shared
                .load
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .offered += 1;
            offer(&w, nonce, me, &mut clients, &shared, &mut pending).await;
            nonce += 1;
        }
        if Instant::now() >= next_check {
            next_check = Instant::now() + Duration::from_millis(500);
            // Transactions whose nonce another transaction of the organisation took are
            // signed again with the next nonce (a new record), as a client would.
            for old in check(&shared, me, &mut clients, &mut pending).await {
                if pending.remove(&old).is_some() {
                    offer(&w, nonce, me, &mut clients, &shared, &mut pending).await;
                    nonce += 1;
                    shared
                        .load
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .signed_again += 1;
                }
            }
        }
        tokio::time::sleep(
            next_offer
                .min(next_check)
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50)),
        )
        .await;
    }
    for (nonce, p) in &pending {
        let mut seen_as = Vec::new();
        for (i, url) in shared.urls.iter().enumerate() {
            let Some(mut c) = connect(url, shared.tls[me].as_ref()).await else {
                continue;
            };
            let status = match timed(c.get_tx(pb::GetTxRequest {
                tx_hash: p.tx.hash().0.to_vec(),
            }))
            .await
            {
                Ok(r) => format!("status {} {}", r.status, r.failure),
                Err(e) => format!("{:?}", e.code()),
            };
            let submit = match timed(c.submit_tx(pb::SubmitTxRequest {
                tx: p.tx.bytes().to_vec(),
            }))
            .await
            {
                Ok(_) => "accepted".to_string(),
                Err(e) => format!("{:?} {}", e.code(), e.message()),
            };
            seen_as.push(format!("val-{}: {status}; submit: {submit}", i + 1));
        }
        eprintln!(
            "load: val-{}'s transaction {nonce} ({}) never seen committed; last sent to val-{}; {}",
            me + 1,
            p.tx.hash(),
            p.target + 1,
            seen_as.join(" | ")
        );
    }
    shared.load.lock().unwrap_or_else(|p| p.into_inner()).lost += pending.len() as u64;
}

/// The machine-readable reason of a refusal (`ledger_api::REJECT_REASON_KEY`).
fn reason(s: &tonic::Status) -> Option<String> {
    s.metadata()
        .get(ledger_api::REJECT_REASON_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Submits (as writer `me`) to node `from` or the next that takes it; returns the node
/// tried last, and whether a node said another transaction took the nonce.
async fn send(
    clients: &mut [Option<LedgerClient<Channel>>],
    shared: &Shared,
    me: usize,
    from: usize,
    tx: &ledger_types::Transaction,
) -> (usize, bool) {
    let n = shared.urls.len();
    let mut taken = false;
    for k in 0..n {
        let i = (from + k) % n;
        if clients[i].is_none() {
            clients[i] = connect(&shared.urls[i], shared.tls[me].as_ref()).await;
        }
        let Some(c) = clients[i].as_mut() else {
            continue;
        };
        match timed(c.submit_tx(pb::SubmitTxRequest {
            tx: tx.bytes().to_vec(),
        }))
        .await
        {
            Ok(_) => return (i, false),
            // Another transaction of the organisation took the nonce (its gateway signs
            // governance votes with the same key): this one can never commit. The reason
            // tells it from "already committed" or "already pending", which share the code.
            Err(s)
                if matches!(
                    reason(&s).as_deref(),
                    Some("nonce_replayed" | "nonce_pending")
                ) =>
            {
                taken = true;
            }
            Err(s) if s.code() == tonic::Code::AlreadyExists => return (i, false),
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::Unavailable
                        | tonic::Code::Cancelled
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Unknown
                ) =>
            {
                clients[i] = None;
            }
            // Refused for a reason of its own (busy, a nonce ahead of what it knows): try
            // the next node; the check resubmits later anyway.
            Err(_) => {}
        }
    }
    (from, taken)
}

/// Polls the pending transactions; resubmits those not committed after 4 s. Returns the
/// nonces another transaction of the organisation took.
async fn check(
    shared: &Shared,
    me: usize,
    clients: &mut [Option<LedgerClient<Channel>>],
    pending: &mut BTreeMap<u64, Pending>,
) -> Vec<u64> {
    let mut taken = Vec::new();
    let n = clients.len();
    let nonces: Vec<u64> = pending.keys().copied().take(200).collect();
    for nonce in nonces {
        let Some(p) = pending.get(&nonce) else {
            continue;
        };
        let hash = p.tx.hash().0.to_vec();
        let i = p.target;
        if clients[i].is_none() {
            clients[i] = connect(&shared.urls[i], shared.tls[me].as_ref()).await;
        }
        let status = match clients[i].as_mut() {
            Some(c) => match timed(c.get_tx(pb::GetTxRequest {
                tx_hash: hash.clone(),
            }))
            .await
            {
                Ok(r) => Some(r),
                Err(s) if s.code() == tonic::Code::NotFound => None,
                Err(_) => {
                    clients[i] = None;
                    None
                }
            },
            None => None,
        };
        match status {
            Some(r) if r.status == pb::TxStatus::Committed as i32 => {
                shared
                    .seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(hash, r.height);
                shared
                    .load
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .committed += 1;
                pending.remove(&nonce);
            }
            Some(r) if r.status == pb::TxStatus::Failed as i32 => {
                shared.load.lock().unwrap_or_else(|p| p.into_inner()).failed += 1;
                eprintln!("load: transaction {nonce} failed: {}", r.failure);
                pending.remove(&nonce);
            }
            _ => {
                if p.sent_at.elapsed() > Duration::from_secs(4) {
                    let tx = p.tx.clone();
                    let next = (p.target + 1) % n;
                    let (target, nonce_taken) = send(clients, shared, me, next, &tx).await;
                    if nonce_taken {
                        taken.push(nonce);
                        continue;
                    }
                    shared
                        .load
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .resubmitted += 1;
                    if let Some(p) = pending.get_mut(&nonce) {
                        p.sent_at = Instant::now();
                        p.target = target;
                    }
                }
            }
        }
    }
    taken
}

/// Where the binaries and run files are.
pub struct Options {
    /// Where logs and the report go.
    pub out: PathBuf,
}

/// The state of one validator during the run.
struct Node {
    node: TestNode,
    disk: Option<SmallDisk>,
}

/// Runs `manifest`; the report is also written to `opts.out` as `report.json` and
/// `report.txt`.
pub async fn run(manifest: &Manifest, opts: &Options) -> Result<Report, String> {
    manifest.check()?;
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let wall = Instant::now();
    let n = manifest.validators;
    let hosts = match manifest.placement {
        Placement::Loopback => Hosts::loopback(n),
        Placement::Namespaces => Hosts::namespaces(n)?,
        Placement::Auto => match Hosts::namespaces(n) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("network namespaces not available ({e}); nodes on loopback");
                Hosts::loopback(n)
            }
        },
    };
    let needs_disk: BTreeSet<usize> = manifest
        .perturbations
        .iter()
        .filter(|p| matches!(p.kind, Kind::DiskFull { .. }))
        .flat_map(|p| p.kind.nodes())
        .collect();
    let mut nodes = create(&hosts, &needs_disk, &manifest.hsm, &opts.out)?;
    // The validators' keys as genesis holds them: the runner's clients trust them.
    let genesis: ledger_core::genesis::GenesisFile = serde_json::from_slice(
        &std::fs::read(opts.out.join("genesis.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("genesis.json: {e}"))?;
    let mut known = HashMap::new();
    for m in &genesis.members {
        known.insert(
            m.org.clone(),
            ledger_types::PublicKey::from_text(&m.signing_key).map_err(|e| e.to_string())?,
        );
    }
    let members = Arc::new(Members(known));
    // Software validators sign the load and present their own certificates; clients of
    // validators whose keys are in an HSM present the first software validator's.
    let keys: Vec<Option<Arc<ledger_hsm::ProviderSigner>>> = nodes
        .iter()
        .enumerate()
        .map(|(i, v)| (!manifest.hsm.contains(&(i + 1))).then(|| v.node.key()))
        .collect();
    let mut tls: Vec<Option<ClientTls>> = Vec::new();
    for (v, k) in nodes.iter().zip(&keys) {
        tls.push(match (v.node.tls, k) {
            (true, Some(k)) => {
                let signer: Arc<dyn ledger_crypto::Signer> = k.clone();
                Some(ClientTls::for_signer(
                    crate::chain(),
                    v.node.org.clone(),
                    signer,
                    members.clone(),
                )?)
            }
            _ => None,
        });
    }
    let runner = (0..nodes.len())
        .find(|i| keys[*i].is_some())
        .ok_or("no validator keeps its keys in software")?;
    let runner_tls = tls[runner].clone();
    for (i, v) in nodes.iter_mut().enumerate() {
        if tls[i].is_none() {
            tls[i] = runner_tls.clone();
        }
        if keys[i].is_none() {
            if let Some(t) = &runner_tls {
                v.node.use_client_tls(t.clone());
            }
        }
        v.node.start(&[]).await;
    }
    let shared = Arc::new(Shared {
        start: Instant::now(),
        urls: nodes.iter().map(|v| v.node.url()).collect(),
        tls,
        stop_offering: false.into(),
        stop_all: false.into(),
        samples: Mutex::default(),
        load: Mutex::default(),
        seen: Mutex::default(),
    });
    let monitor_task = tokio::spawn(monitor(shared.clone()));
    let mut load_tasks = Vec::new();
    if manifest.load_tps > 0 {
        let writers = keys.iter().filter(|k| k.is_some()).count();
        let per = manifest.load_tps as f64 / writers as f64;
        for (i, v) in nodes.iter().enumerate() {
            let Some(key) = keys[i].clone() else {
                continue;
            };
            let mut client = v.node.client().await;
            let (w, first) = if i == runner {
                (Writer::setup(key, &v.node.org, &mut client).await, 2)
            } else {
                (Writer::join(key, &v.node.org, &mut client).await, 1)
            };
            load_tasks.push(tokio::spawn(writer(shared.clone(), w, i, first, per)));
        }
    }

    // The schedule: starts and ends, in time order (ends first at equal times).
    let mut events: Vec<(u64, bool, usize)> = Vec::new();
    for (i, p) in manifest.perturbations.iter().enumerate() {
        events.push((p.at_secs * 1000, true, i));
        events.push(((p.at_secs + p.for_secs) * 1000, false, i));
    }
    events.sort_by_key(|(t, start, _)| (*t, *start));
    let mut applied: Vec<Applied> = manifest
        .perturbations
        .iter()
        .map(|p| Applied {
            at_secs: p.at_secs,
            for_secs: p.for_secs,
            kind: match &p.kind {
                Kind::Byzantine { mode, .. } => format!("byzantine {mode}"),
                Kind::ClockSkew { skew_ms, .. } => format!("clock-skew {skew_ms:+} ms"),
                Kind::Netem {
                    delay_ms,
                    jitter_ms,
                    loss_percent,
                    ..
                } => format!("netem {delay_ms}±{jitter_ms} ms {loss_percent}% loss"),
                Kind::Partition { groups } => format!("partition {groups:?}"),
                k => k.name().to_string(),
            },
            nodes: p.kind.nodes(),
            outcome: String::new(),
            undone: String::new(),
            next_block_after_ms: None,
        })
        .collect();
    let mut active: BTreeSet<usize> = BTreeSet::new();
    // Validators governance removed, and the validator set of each height from then on.
    let mut removed: BTreeSet<usize> = BTreeSet::new();
    let mut schedule: Vec<(u64, BTreeSet<String>)> =
        vec![(0, (1..=n).map(|i| format!("val-{i}")).collect())];
    // (ms, quorum available) transitions, and the heal times to time the next block from.
    let mut quorum_timeline: Vec<(u64, bool)> = vec![(0, true)];
    let mut heals: Vec<(usize, u64)> = Vec::new();
    for (t, start, i) in events {
        let now = shared.ms();
        if t > now {
            tokio::time::sleep(Duration::from_millis(t - now)).await;
        }
        let p = &manifest.perturbations[i];
        if start {
            let outcome = if p.kind.needs_namespaces() && !hosts.isolated() {
                "skipped: needs network namespaces (loopback placement)".to_string()
            } else {
                let applied_now = match &p.kind {
                    Kind::RemoveValidator { nodes: which } => {
                        match remove_validator(&nodes, which[0], &removed).await {
                            Ok(effective) => {
                                removed.insert(which[0]);
                                let mut set =
                                    schedule.last().map(|(_, s)| s.clone()).unwrap_or_default();
                                set.remove(&format!("val-{}", which[0]));
                                schedule.push((effective, set));
                                applied[i].undone = "permanent".into();
                                Ok(format!(
                                    "applied: out of the validators from height {effective}"
                                ))
                            }
                            Err(e) => Err(e),
                        }
                    }
                    kind => apply(&hosts, &mut nodes, kind)
                        .await
                        .map(|()| "applied".to_string()),
                };
                match applied_now {
                    Ok(note) => note,
                    // Containers often run kernels built without sch_netem (and without
                    // modules to load it): the faults it would add are not available here.
                    Err(e) if e.starts_with("skipped: ") => e,
                    Err(e) if e.contains("qdisc kind is unknown") => {
                        "skipped: this kernel has no netem queueing discipline (sch_netem)"
                            .to_string()
                    }
                    Err(e) => format!("failed: {e}"),
                }
            };
            eprintln!(
                "[{:>6} ms] {} {:?}: {outcome}",
                shared.ms(),
                applied[i].kind,
                applied[i].nodes
            );
            if outcome == "applied" {
                active.insert(i);
            }
            applied[i].outcome = outcome;
        } else if active.remove(&i) {
            let undone = match undo(&hosts, &mut nodes, &p.kind).await {
                Ok(note) => note,
                Err(e) => format!("failed: {e}"),
            };
            eprintln!(
                "[{:>6} ms] {} {:?} undone: {undone}",
                shared.ms(),
                applied[i].kind,
                applied[i].nodes
            );
            applied[i].undone = undone;
            heals.push((i, shared.ms()));
        } else if applied[i].undone.is_empty() {
            applied[i].undone = "nothing to undo".into();
        }
        let q = quorum_available(manifest, &active, &removed);
        if quorum_timeline.last().map(|(_, b)| *b) != Some(q) {
            quorum_timeline.push((shared.ms(), q));
        }
    }
    let now = shared.ms();
    if manifest.duration_secs * 1000 > now {
        tokio::time::sleep(Duration::from_millis(manifest.duration_secs * 1000 - now)).await;
    }
    let end_of_faults = shared.ms();

    // Every node runs again (one that stopped by itself is started).
    for v in nodes.iter_mut() {
        if let Some(status) = v.node.exited() {
            eprintln!("{} had exited ({status}); starting it again", v.node.org);
            v.node.start(&[]).await;
        }
    }
    // Clients finish what they offered.
    shared
        .stop_offering
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let drain = Instant::now();
    for t in load_tasks {
        let left = Duration::from_secs(90).saturating_sub(drain.elapsed());
        if tokio::time::timeout(left, t).await.is_err() {
            break;
        }
    }
    shared
        .stop_all
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = monitor_task.await;

    let mut checks = Vec::new();
    let height = converge(&nodes, shared.tls[0].as_ref(), &mut checks).await;
    let chain = compare_chains(
        &nodes,
        shared.tls[0].as_ref(),
        height,
        &schedule,
        &mut checks,
    )
    .await;
    {
        let seen = shared.seen.lock().unwrap_or_else(|p| p.into_inner());
        let wrong: Vec<String> = seen
            .iter()
            .filter(|(h, at)| chain.get(*h) != Some(at))
            .take(5)
            .map(|(h, at)| {
                format!(
                    "{} seen at {at}, chain has {:?}",
                    hex::encode(&h[..8]),
                    chain.get(h)
                )
            })
            .collect();
        checks.push(Check {
            name: "client-seen commits".into(),
            ok: wrong.is_empty(),
            detail: if wrong.is_empty() {
                format!(
                    "all {} transactions a client saw committed are on every node at the height it saw",
                    seen.len()
                )
            } else {
                wrong.join("; ")
            },
        });
    }
    let load = shared
        .load
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    checks.push(Check {
        name: "nothing offered lost".into(),
        ok: load.lost == 0 && load.failed == 0,
        detail: format!(
            "{} offered, {} committed, {} failed, {} never committed",
            load.offered, load.committed, load.failed, load.lost
        ),
    });
    let progress = shared
        .samples
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .progress
        .clone();
    let (stall, stall_from) = longest_stall(&progress, &quorum_timeline, end_of_faults);
    for (i, at) in &heals {
        applied[*i].next_block_after_ms = next_block_after(&progress, *at);
    }
    let slow: Vec<String> = heals
        .iter()
        .filter_map(|(i, at)| match next_block_after(&progress, *at) {
            Some(ms) if ms <= LIVENESS_SECS * 1000 => None,
            other => Some(format!("{} at {at} ms: {other:?}", applied[*i].kind)),
        })
        .collect();
    checks.push(Check {
        name: "liveness".into(),
        ok: stall <= LIVENESS_SECS * 1000 && slow.is_empty(),
        // (`stall_from` is ms from the start of the run, as in the perturbation times.)
        detail: format!(
            "longest time without a block while a quorum was up: {stall} ms (from {stall_from} ms); {}",
            if slow.is_empty() {
                format!("a block within {LIVENESS_SECS} s of every perturbation's end")
            } else {
                format!("no block within {LIVENESS_SECS} s after: {}", slow.join(", "))
            }
        ),
    });
    for v in nodes.iter_mut() {
        v.node.stop_or_kill();
    }
    checks.push(panics(&nodes));
    let failed: Vec<&Applied> = applied
        .iter()
        .filter(|a| a.outcome.starts_with("failed") || a.undone.starts_with("failed"))
        .collect();
    checks.push(Check {
        name: "perturbations".into(),
        ok: failed.is_empty(),
        detail: format!(
            "{} applied, {} skipped, {} could not be applied or undone{}",
            applied
                .iter()
                .filter(|a| a.outcome.starts_with("applied"))
                .count(),
            applied
                .iter()
                .filter(|a| a.outcome.starts_with("skipped"))
                .count(),
            failed.len(),
            failed
                .iter()
                .map(|a| format!(": {} {}{}", a.kind, a.outcome, a.undone))
                .collect::<String>()
        ),
    });
    for v in nodes.iter_mut() {
        if let Some(d) = v.disk.as_mut() {
            d.unmount();
        }
    }
    drop(hosts);
    let ok = checks.iter().all(|c| c.ok);
    let report = Report {
        name: manifest.name.clone(),
        placement: if nodes.iter().any(|v| v.node.netns.is_some()) {
            "network namespaces".into()
        } else {
            "loopback".into()
        },
        validators: n,
        duration_secs: manifest.duration_secs,
        wall_secs: wall.elapsed().as_secs(),
        height,
        perturbations: applied,
        load,
        longest_stall_with_quorum_ms: stall,
        checks,
        ok,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(opts.out.join("report.json"), json).map_err(|e| e.to_string())?;
    std::fs::write(opts.out.join("report.txt"), report.text()).map_err(|e| e.to_string())?;
    Ok(report)
}

/// Creates the validators' homes on their hosts, the genesis and the wiring.
fn create(
    hosts: &Hosts,
    disks: &BTreeSet<usize>,
    hsm: &[usize],
    out: &Path,
) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    for (i, h) in hosts.hosts.iter().enumerate() {
        let home = tempfile::tempdir().map_err(|e| e.to_string())?;
        let disk = if disks.contains(&(i + 1)) {
            match SmallDisk::mount(home.path()) {
                Ok(d) => Some(d),
                Err(e) => {
                    eprintln!("val-{}: no small filesystem for its home ({e})", i + 1);
                    None
                }
            }
        } else {
            None
        };
        let addr = NodeAddr {
            ip: h.ip.clone(),
            netns: h.netns.clone(),
            logs: Some(out.join("logs")),
        };
        let p2p = format!("/ip4/{}/tcp/{}", h.ip, addr.port(5));
        let org = format!("val-{}", i + 1);
        let mut args = vec![
            "--roles".to_string(),
            "validator,member".into(),
            "--p2p-listen".into(),
            p2p,
        ];
        let env = if hsm.contains(&(i + 1)) {
            let label = format!("{org}-token");
            args.extend([
                "--key-backend".into(),
                "pkcs11".into(),
                "--pkcs11-module".into(),
                SOFTHSM_MODULE.into(),
                "--pkcs11-token".into(),
                label.clone(),
            ]);
            softhsm_token(&out.join("tokens").join(&org), &label)?
        } else {
            vec![(
                "LEDGER_KEY_PASSPHRASE".to_string(),
                TEST_PASSPHRASE.to_string(),
            )]
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let node = TestNode::init_on(home, &org, &addr, &args, env);
        nodes.push(Node { node, disk });
    }
    let genesis = out.join("genesis.json");
    let o = std::process::Command::new(bin("ledger-node"))
        .args(["genesis-merge", "--out"])
        .arg(&genesis)
        .args(nodes.iter().map(|v| v.node.home.path()))
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!(
            "genesis-merge: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    for v in &nodes {
        std::fs::copy(&genesis, v.node.home.path().join("genesis.json"))
            .map_err(|e| e.to_string())?;
    }
    let mut connect = std::process::Command::new(bin("ledger-node"));
    connect.arg("connect");
    for v in &nodes {
        connect.arg("--validator").arg(v.node.home.path());
    }
    let o = connect.output().map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!("connect: {}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok(nodes)
}

/// SoftHSM's PKCS#11 module, as Debian installs it.
const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A SoftHSM token in `dir` (hsm/softhsm-token.sh); returns the environment that opens it.
fn softhsm_token(dir: &Path, label: &str) -> Result<Vec<(String, String)>, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let o = std::process::Command::new(crate::repo_path("hsm/softhsm-token.sh"))
        .arg(dir)
        .arg(label)
        .env("HSM_SO_PIN", "perturb-so-pin")
        .env("HSM_USER_PIN", crate::TEST_PIN)
        .output()
        .map_err(|e| format!("hsm/softhsm-token.sh: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "hsm/softhsm-token.sh: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(vec![
        (
            "SOFTHSM2_CONF".to_string(),
            dir.join("softhsm2.conf").display().to_string(),
        ),
        ("LEDGER_HSM_PIN".to_string(), crate::TEST_PIN.to_string()),
    ])
}

/// Whether a quorum (more than two thirds) of validators is up, honest and connected
/// while the perturbations in `active` last.
/// More than two thirds of `n` validators.
fn quorum(n: usize) -> usize {
    2 * n / 3 + 1
}

fn quorum_available(m: &Manifest, active: &BTreeSet<usize>, removed: &BTreeSet<usize>) -> bool {
    let quorum = quorum(m.validators - removed.len());
    let mut out: BTreeSet<usize> = removed.clone();
    let mut groups: Vec<BTreeSet<usize>> = vec![(1..=m.validators).collect()];
    for i in active {
        let p = &m.perturbations[*i];
        out.extend(p.kind.silenced());
        if let Kind::Partition { groups: g } = &p.kind {
            // Split every current group along this partition's groups.
            let mut next = Vec::new();
            for cur in &groups {
                let mut rest = cur.clone();
                for part in g {
                    let piece: BTreeSet<usize> = cur
                        .intersection(&part.iter().copied().collect())
                        .copied()
                        .collect();
                    rest.retain(|x| !piece.contains(x));
                    next.push(piece);
                }
                next.push(rest);
            }
            groups = next;
        }
    }
    groups
        .iter()
        .any(|g| g.iter().filter(|x| !out.contains(x)).count() >= quorum)
}

/// The longest time, while a quorum was available, between blocks (or between quorum
/// returning and the next block), up to `end` ms.
fn longest_stall(progress: &[(u64, u64)], quorum: &[(u64, bool)], end: u64) -> (u64, u64) {
    let available = |t: u64| {
        quorum
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .is_none_or(|(_, q)| *q)
    };
    let since = |t: u64| {
        // When the current stretch of quorum began.
        quorum
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map_or(0, |(at, _)| *at)
    };
    let mut worst = (0, 0);
    let mut last_height = 0;
    let mut last_progress = 0;
    for (t, h) in progress.iter().copied().filter(|(t, _)| *t <= end) {
        if h > last_height {
            last_height = h;
            last_progress = t;
        }
        if available(t) && last_height > 0 {
            let from = last_progress.max(since(t));
            if t - from > worst.0 {
                worst = (t - from, from);
            }
        }
    }
    worst
}

/// How long after `at` ms the next block appeared.
fn next_block_after(progress: &[(u64, u64)], at: u64) -> Option<u64> {
    let before = progress
        .iter()
        .take_while(|(t, _)| *t <= at)
        .last()
        .map_or(0, |(_, h)| *h);
    progress
        .iter()
        .find(|(t, h)| *t > at && *h > before)
        .map(|(t, _)| t - at)
}

/// Governance removes validator `k`: the first other validator proposes it, every other
/// one votes yes (each once it holds the proposal). Returns the height the change takes
/// effect at (two after the vote passed).
async fn remove_validator(
    nodes: &[Node],
    k: usize,
    removed: &BTreeSet<usize>,
) -> Result<u64, String> {
    let voters: Vec<usize> = (0..nodes.len())
        .filter(|i| *i + 1 != k && !removed.contains(&(*i + 1)))
        .collect();
    let first = *voters.first().ok_or("no validator left to vote")?;
    let target = format!("val-{k}");
    let mut gw = nodes[first].node.gateway().await;
    let (id, at) = gw
        .propose_at("remove-validator", &target)
        .await
        .map_err(|e| format!("proposing: {}", e.message()))?;
    for i in &voters[1..] {
        let node = &nodes[*i].node;
        let deadline = Instant::now() + Duration::from_secs(30);
        while crate::height_of(node).await < at {
            if Instant::now() > deadline {
                return Err(format!("{} never held the proposal", node.org));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut g = node.gateway().await;
        if let Err(e) = g.vote(id, true).await {
            // Once the vote has passed, later votes are refused: that is fine.
            let passed = governance_closed(node, id).await.is_some();
            if !passed {
                return Err(format!("{} voting: {}", node.org, e.message()));
            }
        }
        if let Some(closed) = governance_closed(node, id).await {
            return Ok(closed + 2);
        }
    }
    Err(format!(
        "proposal {id} did not pass with every validator's vote"
    ))
}

/// The height proposal `id` passed at, as `node` holds it (none while open).
async fn governance_closed(node: &TestNode, id: u64) -> Option<u64> {
    let g = node
        .client()
        .await
        .get_governance(pb::GetGovernanceRequest::default())
        .await
        .ok()?
        .into_inner();
    g.proposals
        .iter()
        .find(|p| p.id == id && p.status == "passed")
        .map(|p| p.closed)
}

async fn apply(hosts: &Hosts, nodes: &mut [Node], kind: &Kind) -> Result<(), String> {
    let idx: Vec<usize> = kind.nodes().iter().map(|n| n - 1).collect();
    match kind {
        Kind::Kill { .. } => each(nodes, &idx, |v| v.node.kill9()),
        Kind::Pause { .. } => idx.iter().try_for_each(|i| nodes[*i].node.signal("STOP")),
        Kind::Restart { .. } => each(nodes, &idx, |v| {
            v.node.stop();
        }),
        Kind::Disconnect { .. } => idx.iter().try_for_each(|i| hosts.link(*i, false)),
        Kind::Partition { groups } => {
            let n = nodes.len();
            let group_of = |x: usize| {
                groups
                    .iter()
                    .position(|g| g.contains(&(x + 1)))
                    .unwrap_or(usize::MAX)
            };
            for a in 0..n {
                for b in 0..n {
                    if a != b && group_of(a) != group_of(b) {
                        hosts.cut(a, b)?;
                    }
                }
            }
            Ok(())
        }
        Kind::Netem {
            delay_ms,
            jitter_ms,
            loss_percent,
            ..
        } => idx
            .iter()
            .try_for_each(|i| hosts.netem(*i, Some((*delay_ms, *jitter_ms, *loss_percent)))),
        Kind::DiskFull { .. } => idx.iter().try_for_each(|i| {
            nodes[*i]
                .disk
                .as_ref()
                .ok_or("skipped: no small filesystem could be mounted for this node's home (mounting needs root)")?
                .fill()
        }),
        Kind::ClockSkew { skew_ms, .. } => {
            for i in &idx {
                restart_byzantine(&mut nodes[*i].node, &format!("clock-ahead:{skew_ms}")).await;
            }
            Ok(())
        }
        Kind::Reset { .. } => {
            for i in &idx {
                let v = &mut nodes[*i].node;
                v.kill9();
                let data = v.data_dir();
                std::fs::remove_dir_all(&data)
                    .map_err(|e| format!("deleting {}: {e}", data.display()))?;
            }
            Ok(())
        }
        // Done by the runner itself (it keeps the validator set's schedule).
        Kind::RemoveValidator { .. } => Ok(()),
        Kind::HsmSessionLoss { .. } => {
            for i in &idx {
                let v = &mut nodes[*i].node;
                v.set_env("LEDGER_TEST_PKCS11_MODULE", SOFTHSM_MODULE);
                restart_byzantine(v, "hsm-logout:2000").await;
            }
            Ok(())
        }
        Kind::Byzantine { mode, .. } if mode == "amnesia" => {
            for i in &idx {
                let v = &mut nodes[*i].node;
                v.kill9();
                let consensus = v.home.path().join("consensus");
                for what in ["wal", "guard"] {
                    let p = consensus.join(what);
                    let _ = std::fs::remove_dir_all(&p);
                    let _ = std::fs::remove_file(&p);
                }
                v.start(&[]).await;
            }
            Ok(())
        }
        Kind::Byzantine { mode, .. } => {
            for i in &idx {
                restart_byzantine(&mut nodes[*i].node, mode).await;
            }
            Ok(())
        }
    }
}

fn each(nodes: &mut [Node], idx: &[usize], f: impl Fn(&mut Node)) -> Result<(), String> {
    for i in idx {
        f(&mut nodes[*i]);
    }
    Ok(())
}

/// Restarts `v` as the test-only build misbehaving as `mode` (`LEDGER_BYZANTINE`).
async fn restart_byzantine(v: &mut TestNode, mode: &str) {
    v.stop();
    v.use_byzantine_binary();
    v.set_env("LEDGER_BYZANTINE", mode);
    v.start(&[]).await;
}

/// Restarts `v` as the node that ships (started even if it had stopped by itself).
async fn restart_honest(v: &mut TestNode) {
    if v.exited().is_none() {
        v.stop();
    }
    v.use_shipped_binary();
    v.remove_env("LEDGER_BYZANTINE");
    v.start(&[]).await;
}

/// Undoes a perturbation; returns a note on how it went.
async fn undo(hosts: &Hosts, nodes: &mut [Node], kind: &Kind) -> Result<String, String> {
    let idx: Vec<usize> = kind.nodes().iter().map(|n| n - 1).collect();
    match kind {
        Kind::Kill { .. } | Kind::Restart { .. } | Kind::Reset { .. } => {
            for i in &idx {
                nodes[*i].node.start(&[]).await;
            }
            Ok("started again".into())
        }
        Kind::Pause { .. } => {
            idx.iter().try_for_each(|i| nodes[*i].node.signal("CONT"))?;
            Ok("resumed".into())
        }
        Kind::Disconnect { .. } => {
            idx.iter().try_for_each(|i| hosts.link(*i, true))?;
            Ok("link up".into())
        }
        Kind::Partition { .. } => {
            (0..nodes.len()).try_for_each(|i| hosts.heal(i))?;
            Ok("healed".into())
        }
        Kind::Netem { .. } => {
            idx.iter().try_for_each(|i| hosts.netem(*i, None))?;
            Ok("link shaping removed".into())
        }
        Kind::DiskFull { .. } => {
            let mut notes = Vec::new();
            for i in &idx {
                let v = &mut nodes[*i];
                v.disk.as_ref().ok_or("no small disk")?.free()?;
                match v.node.exited() {
                    Some(status) => {
                        let last = v
                            .node
                            .log()
                            .lines()
                            .rfind(|l| l.contains("ERROR"))
                            .unwrap_or_default()
                            .to_string();
                        notes.push(format!(
                            "val-{} had stopped ({status}; last error: {}); started again",
                            i + 1,
                            last.chars().take(240).collect::<String>()
                        ));
                        v.node.start(&[]).await;
                    }
                    None => notes.push(format!("val-{} kept running", i + 1)),
                }
            }
            Ok(format!("space freed; {}", notes.join("; ")))
        }
        Kind::RemoveValidator { .. } => Ok("permanent".into()),
        Kind::HsmSessionLoss { .. } => {
            let mut notes = Vec::new();
            for i in &idx {
                let v = &mut nodes[*i].node;
                let log = v.log();
                let logouts = log.matches("logged this process out of the HSM").count();
                let recovered = log.matches("PKCS#11 session lost").count();
                restart_honest(v).await;
                if logouts == 0 || recovered == 0 {
                    return Err(format!(
                        "val-{}: {logouts} logouts, {recovered} recoveries: the HSM login was not lost and regained",
                        i + 1
                    ));
                }
                notes.push(format!(
                    "val-{}: logged out {logouts} times, logged in again {recovered} times",
                    i + 1
                ));
            }
            Ok(notes.join("; "))
        }
        Kind::ClockSkew { .. } | Kind::Byzantine { .. } => {
            for i in &idx {
                restart_honest(&mut nodes[*i].node).await;
            }
            Ok("honest again".into())
        }
    }
}

/// Waits (up to 180 s) until every node has committed the highest height any holds.
async fn converge(nodes: &[Node], tls: Option<&ClientTls>, checks: &mut Vec<Check>) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut target = 0;
    loop {
        let mut heights = Vec::new();
        for v in nodes {
            let h = match connect(&v.node.url(), tls).await {
                Some(mut c) => timed(c.get_status(pb::GetStatusRequest {}))
                    .await
                    .map(|s| s.height)
                    .unwrap_or(0),
                None => 0,
            };
            heights.push(h);
        }
        if target == 0 {
            target = heights.iter().copied().max().unwrap_or(0);
        }
        if heights.iter().all(|h| *h >= target) {
            checks.push(Check {
                name: "every node at the tip".into(),
                ok: true,
                detail: format!("all {} nodes committed height {target}", nodes.len()),
            });
            return target;
        }
        if Instant::now() > deadline {
            checks.push(Check {
                name: "every node at the tip".into(),
                ok: false,
                detail: format!(
                    "heights {heights:?} 180 s after the faults ended, target {target}"
                ),
            });
            return heights.iter().copied().min().unwrap_or(0);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Reads heights 1..=`height` from every node: the same block hash and state root at
/// every height, commits signed only by the validators and by more than two thirds of
/// them, and each node's validator set as scheduled. Returns tx hash -> height.
async fn compare_chains(
    nodes: &[Node],
    tls: Option<&ClientTls>,
    height: u64,
    schedule: &[(u64, BTreeSet<String>)],
    checks: &mut Vec<Check>,
) -> HashMap<Vec<u8>, u64> {
    // The set of height `h`: the last scheduled change at or below it.
    let set_at = |h: u64| {
        schedule
            .iter()
            .take_while(|(from, _)| *from <= h)
            .last()
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    };
    let expected = set_at(u64::MAX);
    let mut reference: Vec<(ledger_types::Hash, ledger_types::Hash)> = Vec::new();
    let mut txs = HashMap::new();
    let mut differences = Vec::new();
    let mut bad_commits = Vec::new();
    let mut bad_sets = Vec::new();
    for (k, v) in nodes.iter().enumerate() {
        let Some(mut c) = connect(&v.node.url(), tls).await else {
            differences.push(format!("{} does not answer", v.node.org));
            continue;
        };
        match timed(c.get_status(pb::GetStatusRequest {})).await {
            Ok(s) => {
                let set: BTreeSet<String> = s.validators.into_iter().collect();
                if set != expected {
                    bad_sets.push(format!("{}: {set:?}", v.node.org));
                }
            }
            Err(e) => bad_sets.push(format!("{}: {e}", v.node.org)),
        }
        for h in 1..=height {
            let block = match timed(c.get_block(pb::GetBlockRequest { height: Some(h) }))
                .await
                .map_err(|e| e.to_string())
                .and_then(|m| ledger_types::Block::decode(&m.block).map_err(|e| e.to_string()))
            {
                Ok(b) => b,
                Err(e) => {
                    differences.push(format!("{} block {h}: {e}", v.node.org));
                    break;
                }
            };
            let mine = (block.hash(), block.header().state_root);
            if k == 0 {
                reference.push(mine);
                for t in &block.txs {
                    txs.insert(t.hash().0.to_vec(), h);
                }
            } else if reference.get(h as usize - 1) != Some(&mine) {
                differences.push(format!(
                    "{} differs from {} at height {h}",
                    v.node.org, nodes[0].node.org
                ));
                break;
            }
            let signers: BTreeSet<String> = block
                .commit
                .signatures
                .iter()
                .map(|s| s.validator.to_string())
                .collect();
            let scheduled = set_at(h);
            if !signers.is_subset(&scheduled) || signers.len() < quorum(scheduled.len()) {
                bad_commits.push(format!("{} height {h}: {signers:?}", v.node.org));
            }
        }
    }
    checks.push(Check {
        name: "identical chains".into(),
        ok: differences.is_empty(),
        detail: if differences.is_empty() {
            format!(
                "the same block hash and state root at each of {height} heights on all {} nodes",
                nodes.len()
            )
        } else {
            differences.join("; ")
        },
    });
    checks.push(Check {
        name: "validator sets".into(),
        ok: bad_commits.is_empty() && bad_sets.is_empty(),
        detail: if bad_commits.is_empty() && bad_sets.is_empty() {
            format!(
                "every commit signed by more than two thirds of its height's scheduled validators and no one else ({}); every node reports the final set ({} validators)",
                schedule
                    .iter()
                    .map(|(from, s)| format!("{} from height {from}", s.len()))
                    .collect::<Vec<_>>()
                    .join(", "),
                expected.len()
            )
        } else {
            bad_commits
                .iter()
                .chain(bad_sets.iter())
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        },
    });
    txs
}

/// No panic in any node's log, of any start.
fn panics(nodes: &[Node]) -> Check {
    let mut found = Vec::new();
    let mut errors = 0;
    let mut kinds: BTreeSet<String> = BTreeSet::new();
    for v in nodes {
        for log in v.node.logs() {
            if let Some(line) = log.lines().find(|l| l.contains("panicked")) {
                found.push(format!("{}: {line}", v.node.org));
            }
            for l in log.lines().filter(|l| l.contains(" ERROR ")) {
                errors += 1;
                // The message without its timestamp and fields, to list the kinds.
                let msg = l.split(" ERROR ").nth(1).unwrap_or(l);
                let msg = msg.split(": ").last().unwrap_or(msg);
                kinds.insert(msg.chars().take(100).collect());
            }
        }
    }
    let errors = if errors == 0 {
        "no ERROR line".to_string()
    } else {
        format!(
            "{errors} ERROR lines: {}",
            kinds.into_iter().take(6).collect::<Vec<_>>().join(" | ")
        )
    };
    Check {
        name: "no panic".into(),
        ok: found.is_empty(),
        detail: if found.is_empty() {
            format!("no panic in any node's logs ({errors})")
        } else {
            found.join("; ")
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perturb::manifest::Perturbation;

    fn m(kinds: Vec<Kind>) -> Manifest {
        Manifest {
            name: "t".into(),
            validators: 4,
            duration_secs: 100,
            load_tps: 0,
            placement: Placement::Loopback,
            hsm: vec![],
            perturbations: kinds
                .into_iter()
                .map(|kind| Perturbation {
                    at_secs: 1,
                    for_secs: 1,
                    kind,
                })
                .collect(),
        }
    }

    #[test]
    fn quorum_is_judged_by_who_is_up_and_connected() {
        let all = |n: usize| (0..n).collect::<BTreeSet<usize>>();
        let q = |kinds: Vec<Kind>| {
            let man = m(kinds);
            quorum_available(&man, &all(man.perturbations.len()), &BTreeSet::new())
        };
        assert!(q(vec![]));
        assert!(q(vec![Kind::Kill { nodes: vec![1] }]));
        assert!(!q(vec![Kind::Kill { nodes: vec![1, 2] }]));
        assert!(!q(vec![
            Kind::Kill { nodes: vec![1] },
            Kind::Pause { nodes: vec![3] }
        ]));
        assert!(q(vec![Kind::Partition {
            groups: vec![vec![4]]
        }]));
        assert!(!q(vec![Kind::Partition {
            groups: vec![vec![1, 2]]
        }]));
        // The majority side of a partition with one of its own down.
        assert!(!q(vec![
            Kind::Partition {
                groups: vec![vec![4]]
            },
            Kind::Kill { nodes: vec![1] }
        ]));
        // Governance removed val-4: three validators, all three needed.
        let man = m(vec![Kind::Kill { nodes: vec![1] }]);
        let four: BTreeSet<usize> = [4].into();
        assert!(quorum_available(&man, &BTreeSet::new(), &four));
        assert!(!quorum_available(&man, &all(1), &four));
        assert!(q(vec![Kind::Netem {
            nodes: vec![1, 2, 3, 4],
            delay_ms: 50,
            jitter_ms: 0,
            loss_percent: 0
        }]));
    }

    #[test]
    fn stalls_count_only_while_a_quorum_is_up() {
        // Blocks every second to 10 s, none from 10 s to 30 s, then again.
        let mut p: Vec<(u64, u64)> = (0..=10).map(|s| (s * 1000, s + 1)).collect();
        p.extend((11..30).map(|s| (s * 1000, 11)));
        p.extend((30..40).map(|s| (s * 1000, s - 18)));
        // Quorum all along: a 19 s stall (sampled each second; the block at 30 s).
        assert_eq!(longest_stall(&p, &[(0, true)], 40_000), (19_000, 10_000));
        // Quorum lost at 10 s and back at 28 s: 1 s, as sampled.
        assert_eq!(
            longest_stall(&p, &[(0, true), (10_000, false), (28_000, true)], 40_000),
            (1_000, 28_000)
        );
        assert_eq!(next_block_after(&p, 28_000), Some(2_000));
        assert_eq!(next_block_after(&p, 39_500), None);
    }
}
