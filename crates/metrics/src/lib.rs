//! The node's Prometheus metrics (docs/operations.md).
//!
//! Malachite registers its own (`malachitebft_core_consensus_*`, `malachitebft_network_*`,
//! `malachitebft_sync_*`) in its process-wide registry; ours are registered in the same
//! registry under the `ledger_` prefix the first time [`metrics`] is called, so one
//! endpoint ([`export`]) serves both in the OpenMetrics text format. Values that are a
//! state rather than an event (mempool size, seconds since the last commit) are read when
//! the endpoint is scraped, by the refreshers the node registers ([`Metrics::on_scrape`]).
//!
//! Labels are bounded sets: transaction kinds, failure and rejection reasons (variant
//! names), gateway methods, HSM operations, proof kinds and validators. No label carries a
//! record id, an amount or anything else a transaction says.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use malachitebft_metrics::SharedRegistry;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Unit;

/// A transaction kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `PutRecord`, `Analytics`, ...
    pub kind: String,
}

/// A transaction kind and why it failed or was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The transaction kind (empty when it could not be decoded).
    pub kind: String,
    /// A stable reason (`nonce_replayed`, `RecordVersionConflict`, ...).
    pub reason: String,
}

/// A validator.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ValidatorLabel {
    /// Its organisation.
    pub validator: String,
}

/// A gRPC method and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    /// `ledger.v1.Gateway` or `ledger.v1.Ledger`.
    pub service: String,
    /// The method (`PutRecord`, `SubmitTx`, ...).
    pub method: String,
    /// `ok` or the gRPC status code's name (`invalid_argument`, ...).
    pub outcome: String,
}

/// A gRPC method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    /// The service.
    pub service: String,
    /// The method.
    pub method: String,
}

/// An operation (HSM: `sign`, `derive`, `encrypt`, ...; proofs: `bulletproofs`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    /// The operation.
    pub operation: String,
}

/// The node's software version.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    /// The crate version.
    pub version: String,
}

/// A function run before each export.
type Refresher = Box<dyn Fn(&Metrics) + Send + Sync>;

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    // 100 us to about 52 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

fn batch_sizes() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 14))
}

/// Every metric of ours. Cheap to clone handles; one set per process ([`metrics`]).
pub struct Metrics {
    /// The committed height.
    pub height: Gauge,
    /// When the last block was committed (Unix seconds, this node's clock).
    pub last_commit_timestamp: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Seconds since then, read at each scrape.
    pub since_last_commit: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Time between consecutive blocks' timestamps.
    pub block_interval: Histogram,
    /// Encoded size of committed blocks.
    pub block_size: Histogram,
    /// Transactions per committed block.
    pub block_transactions: Histogram,
    /// Transactions committed, by kind (with or without effect).
    pub committed: Family<KindLabel, Counter>,
    /// Transactions committed without effect, by kind and reason.
    pub failed: Family<ReasonLabel, Counter>,
    /// Transactions refused at admission, by kind and reason.
    pub rejected: Family<ReasonLabel, Counter>,
    /// Transactions admitted into the mempool.
    pub admitted: Counter,
    /// Transactions waiting in the mempool, read at each scrape.
    pub mempool_transactions: Gauge,
    /// Their bytes, read at each scrape.
    pub mempool_bytes: Gauge,
    /// Validators in the current set.
    pub validators: Gauge,
    /// 1 if the validator signed the last committed block's certificate, else 0.
    pub validator_signed: Family<ValidatorLabel, Gauge>,
    /// Committed blocks whose certificate the validator did not sign.
    pub validator_missed: Family<ValidatorLabel, Counter>,
    /// Time to verify proofs, by kind (`bulletproofs`, `ring`, `groth16`, `fhe_amount`).
    pub proof_verification: HistogramFamily<OperationLabel>,
    /// Proofs verified at once, by kind.
    pub proof_batch_size: HistogramFamily<OperationLabel>,
    /// HSM operation latency, by operation.
    pub hsm_latency: HistogramFamily<OperationLabel>,
    /// HSM operations that failed, by operation.
    pub hsm_errors: Family<OperationLabel, Counter>,
    /// Times the HSM session was lost and opened again.
    pub hsm_session_recoveries: Counter,
    /// gRPC requests, by service, method and outcome.
    pub requests: Family<RequestLabel, Counter>,
    /// gRPC request latency, by service and method.
    pub request_latency: HistogramFamily<MethodLabel>,
    /// Plaintext reads written to this node's audit log (regulators).
    pub audit_reads: Counter,
    /// Software version (the value is 1).
    pub build_info: Family<VersionLabel, Gauge>,
    refreshers: Mutex<Vec<Refresher>>,
}

impl Metrics {
    fn new() -> Self {
        Metrics {
            height: Gauge::default(),
            last_commit_timestamp: Gauge::default(),
            since_last_commit: Gauge::default(),
            block_interval: Histogram::new(exponential_buckets(0.025, 2.0, 14)),
            block_size: Histogram::new(exponential_buckets(256.0, 4.0, 10)),
            block_transactions: batch_sizes(),
            committed: Family::default(),
            failed: Family::default(),
            rejected: Family::default(),
            admitted: Counter::default(),
            mempool_transactions: Gauge::default(),
            mempool_bytes: Gauge::default(),
            validators: Gauge::default(),
            validator_signed: Family::default(),
            validator_missed: Family::default(),
            proof_verification: Family::new_with_constructor(latency),
            proof_batch_size: Family::new_with_constructor(batch_sizes),
            hsm_latency: Family::new_with_constructor(latency),
            hsm_errors: Family::default(),
            hsm_session_recoveries: Counter::default(),
            requests: Family::default(),
            request_latency: Family::new_with_constructor(latency),
            audit_reads: Counter::default(),
            build_info: Family::default(),
            refreshers: Mutex::new(Vec::new()),
        }
    }

    fn register(&self, r: &mut prometheus_client::registry::Registry) {
        r.register("height", "The committed height", self.height.clone());
        r.register_with_unit(
            "last_commit_timestamp",
            "When this node committed its last block (Unix time, its clock)",
            Unit::Seconds,
            self.last_commit_timestamp.clone(),
        );
        r.register_with_unit(
            "time_since_last_commit",
            "Seconds since this node committed a block (a stalled chain grows it)",
            Unit::Seconds,
            self.since_last_commit.clone(),
        );
        r.register_with_unit(
            "block_interval",
            "Time between consecutive committed blocks' timestamps",
            Unit::Seconds,
            self.block_interval.clone(),
        );
        r.register_with_unit(
            "block_size",
            "Encoded size of committed blocks",
            Unit::Bytes,
            self.block_size.clone(),
        );
        r.register(
            "block_transactions",
            "Transactions per committed block",
            self.block_transactions.clone(),
        );
        r.register(
            "transactions_committed",
            "Transactions committed, by kind (with or without effect)",
            self.committed.clone(),
        );
        r.register(
            "transactions_failed",
            "Transactions committed without effect, by kind and reason",
            self.failed.clone(),
        );
        r.register(
            "admission_rejections",
            "Transactions refused at admission, by kind and reason",
            self.rejected.clone(),
        );
        r.register(
            "transactions_admitted",
            "Transactions admitted into the mempool",
            self.admitted.clone(),
        );
        r.register(
            "mempool_transactions",
            "Transactions waiting in the mempool",
            self.mempool_transactions.clone(),
        );
        r.register_with_unit(
            "mempool",
            "Bytes of the transactions waiting in the mempool",
            Unit::Bytes,
            self.mempool_bytes.clone(),
        );
        r.register(
            "validators",
            "Validators in the current set",
            self.validators.clone(),
        );
        r.register(
            "validator_signed",
            "1 if the validator signed the last committed block's certificate, else 0",
            self.validator_signed.clone(),
        );
        r.register(
            "validator_missed_blocks",
            "Committed blocks whose certificate the validator did not sign",
            self.validator_missed.clone(),
        );
        r.register_with_unit(
            "proof_verification",
            "Time to verify proofs, by kind (one observation per batch)",
            Unit::Seconds,
            self.proof_verification.clone(),
        );
        r.register(
            "proof_batch_size",
            "Proofs verified at once, by kind",
            self.proof_batch_size.clone(),
        );
        r.register_with_unit(
            "hsm_operation",
            "HSM operation latency, by operation",
            Unit::Seconds,
            self.hsm_latency.clone(),
        );
        r.register(
            "hsm_errors",
            "HSM operations that failed, by operation",
            self.hsm_errors.clone(),
        );
        r.register(
            "hsm_session_recoveries",
            "Times the HSM session was lost and opened again",
            self.hsm_session_recoveries.clone(),
        );
        r.register(
            "grpc_requests",
            "gRPC requests, by service, method and outcome",
            self.requests.clone(),
        );
        r.register_with_unit(
            "grpc_request",
            "gRPC request latency, by service and method",
            Unit::Seconds,
            self.request_latency.clone(),
        );
        r.register(
            "audit_reads",
            "Plaintext reads written to this node's audit log",
            self.audit_reads.clone(),
        );
        r.register(
            "build_info",
            "The node's software version (value 1)",
            self.build_info.clone(),
        );
    }

    /// Runs `f` before each export: for values read from the node's state when scraped.
    pub fn on_scrape(&self, f: impl Fn(&Metrics) + Send + Sync + 'static) {
        self.refreshers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(f));
    }

    /// Records a committed block: its height, timestamp (milliseconds), the previous
    /// block's timestamp, its size and its transactions' kinds and failures.
    pub fn block_committed<'a>(
        &self,
        height: u64,
        timestamp_ms: u64,
        previous_timestamp_ms: Option<u64>,
        bytes: usize,
        txs: impl IntoIterator<Item = (&'a str, Option<String>)>,
    ) {
        self.height.set(height as i64);
        self.last_commit_timestamp.set(unix_now());
        if let Some(p) = previous_timestamp_ms {
            self.block_interval
                .observe(timestamp_ms.saturating_sub(p) as f64 / 1000.0);
        }
        self.block_size.observe(bytes as f64);
        let mut n = 0u64;
        for (kind, failure) in txs {
            n += 1;
            self.committed
                .get_or_create(&KindLabel { kind: kind.into() })
                .inc();
            if let Some(reason) = failure {
                self.failed
                    .get_or_create(&ReasonLabel {
                        kind: kind.into(),
                        reason,
                    })
                    .inc();
            }
        }
        self.block_transactions.observe(n as f64);
    }

    /// Records who signed a committed block's certificate among `validators`.
    pub fn signers<'a>(
        &self,
        validators: impl IntoIterator<Item = &'a str>,
        signed: impl Fn(&str) -> bool,
    ) {
        self.record_signers(validators, signed, true);
    }

    /// Shows who signed the certificate of the block the node starts from, without
    /// counting a miss (that block was counted when it was committed).
    pub fn starting_signers<'a>(
        &self,
        validators: impl IntoIterator<Item = &'a str>,
        signed: impl Fn(&str) -> bool,
    ) {
        self.record_signers(validators, signed, false);
    }

    fn record_signers<'a>(
        &self,
        validators: impl IntoIterator<Item = &'a str>,
        signed: impl Fn(&str) -> bool,
        count_missed: bool,
    ) {
        let mut n = 0;
        for v in validators {
            n += 1;
            let l = ValidatorLabel {
                validator: v.into(),
            };
            let s = signed(v);
            self.validator_signed.get_or_create(&l).set(i64::from(s));
            if !s && count_missed {
                self.validator_missed.get_or_create(&l).inc();
            }
        }
        self.validators.set(n);
    }

    /// Records a transaction refused at admission.
    pub fn rejected(&self, kind: &str, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabel {
                kind: kind.into(),
                reason: reason.into(),
            })
            .inc();
    }

    /// Records a proof verification of `kind` over `batch` proofs that took `took`.
    pub fn proofs_verified(&self, kind: &str, batch: usize, took: Duration) {
        let l = OperationLabel {
            operation: kind.into(),
        };
        self.proof_verification
            .get_or_create(&l)
            .observe(took.as_secs_f64());
        self.proof_batch_size
            .get_or_create(&l)
            .observe(batch as f64);
    }

    /// Records an HSM operation started at `started`, failed or not.
    pub fn hsm_operation(&self, operation: &str, started: Instant, ok: bool) {
        let l = OperationLabel {
            operation: operation.into(),
        };
        self.hsm_latency
            .get_or_create(&l)
            .observe(started.elapsed().as_secs_f64());
        if !ok {
            self.hsm_errors.get_or_create(&l).inc();
        }
    }

    /// Records a gRPC request started at `started` and its outcome (`ok` or a code).
    pub fn request(&self, service: &str, method: &str, outcome: &str, started: Instant) {
        self.requests
            .get_or_create(&RequestLabel {
                service: service.into(),
                method: method.into(),
                outcome: outcome.into(),
            })
            .inc();
        self.request_latency
            .get_or_create(&MethodLabel {
                service: service.into(),
                method: method.into(),
            })
            .observe(started.elapsed().as_secs_f64());
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The process's metrics, registered (with the version this crate was built as) the first
/// time.
pub fn metrics() -> &'static Arc<Metrics> {
    static M: OnceLock<Arc<Metrics>> = OnceLock::new();
    M.get_or_init(|| {
        let m = Arc::new(Metrics::new());
        m.build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        SharedRegistry::global().with_prefix("ledger", |r| m.register(r));
        m
    })
}

/// The name of an enum value's variant (`RecordVersionConflict` of
/// `RecordVersionConflict { .. }`): a bounded label for a reason.
pub fn variant_name(v: &impl Debug) -> String {
    let s = format!("{v:?}");
    s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Everything registered (ours after refreshing the scraped values, and Malachite's), in
/// the OpenMetrics text format.
pub fn export() -> String {
    let m = metrics();
    let last = m.last_commit_timestamp.get();
    if last > 0.0 {
        m.since_last_commit.set((unix_now() - last).max(0.0));
    }
    for f in m
        .refreshers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        f(m);
    }
    let mut out = String::new();
    malachitebft_metrics::export(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_are_exported_with_their_labels_and_move() {
        let m = metrics();
        m.block_committed(
            7,
            2_000,
            Some(1_750),
            4_096,
            [
                ("PutRecord", None),
                ("PutRecord", Some("RecordVersionConflict".to_string())),
            ],
        );
        m.signers(["val-1", "val-2"], |v| v == "val-1");
        m.rejected("PutRecord", "nonce_replayed");
        m.proofs_verified("bulletproofs", 64, Duration::from_millis(8));
        m.request("ledger.v1.Gateway", "PutRecord", "ok", Instant::now());
        m.on_scrape(|m| {
            m.mempool_transactions.set(3);
        });
        let text = export();
        for line in [
            "ledger_height 7",
            "ledger_transactions_committed_total{kind=\"PutRecord\"} 2",
            "ledger_transactions_failed_total{kind=\"PutRecord\",reason=\"RecordVersionConflict\"} 1",
            "ledger_admission_rejections_total{kind=\"PutRecord\",reason=\"nonce_replayed\"} 1",
            "ledger_validator_signed{validator=\"val-1\"} 1",
            "ledger_validator_signed{validator=\"val-2\"} 0",
            "ledger_validator_missed_blocks_total{validator=\"val-2\"} 1",
            "ledger_validators 2",
            "ledger_mempool_transactions 3",
            "ledger_block_interval_seconds_sum 0.25",
            "ledger_grpc_requests_total{service=\"ledger.v1.Gateway\",method=\"PutRecord\",outcome=\"ok\"} 1",
            "ledger_build_info{version=\"",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(text.contains("ledger_time_since_last_commit_seconds "));
        assert!(
            text.contains("ledger_proof_verification_seconds_count{operation=\"bulletproofs\"} 1")
        );
    }

    #[test]
    fn variant_names_are_bounded_labels() {
        #[derive(Debug)]
        #[allow(dead_code)]
        enum E {
            RecordVersionConflict { got: u32 },
            Tuple(u8),
            Unit,
        }
        assert_eq!(
            variant_name(&E::RecordVersionConflict { got: 3 }),
            "RecordVersionConflict"
        );
        assert_eq!(variant_name(&E::Tuple(1)), "Tuple");
        assert_eq!(variant_name(&E::Unit), "Unit");
    }
}
