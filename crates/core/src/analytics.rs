//! The node's part in encrypted analytics (docs/fhe.md), as blocks commit:
//!
//! - a question (`Analytics::Ask`) is computed as a job on this node if it is a validator
//!   (it re-executes and attests the hash it got) or the asker's node (it publishes the
//!   encrypted result); progress is logged and kept for the API ([`Jobs`]);
//! - on the analytics authority's node, a query that became accepted (a published result
//!   attested by a quorum of validators) is decrypted, only as that result and only as a
//!   boolean, written in the audit log, and answered on the ledger.
//!
//! The last processed height is kept in the node home, so a restart resumes where it
//! stopped; a job interrupted by a restart is run again.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ledger_fhe::{Authority, EncryptedAmount, Evaluator, Progress, Query, QueryResult};
use ledger_home::audit_log::{AuditLog, AuditRead};
use ledger_state::{analytics_query, buyer_financing, field_entry, validators, AnalyticsQuery};
use ledger_types::{
    Analytics, FieldName, Hash, OrgId, Payload, Question, RecordId, SchemaId, Transaction,
};
use tokio::sync::watch;

use crate::ledger::Ledger;
use crate::writer::TxWriter;

/// A job's progress, for the API and `ledger exposure-query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// Steps done.
    pub done: usize,
    /// Steps in all (0 until the inputs are read).
    pub total: usize,
    /// The last step, or the outcome.
    pub what: String,
    /// The hash computed, once done.
    pub result_hash: Option<Hash>,
}

/// The jobs this node ran or runs, by query.
pub type Jobs = Arc<Mutex<HashMap<Hash, JobStatus>>>;

/// How the authority's node decrypts: the unsealed analytics secret's client key, made
/// when needed and dropped after.
pub trait AnswerKey: Send + Sync {
    /// The authority's decryption, for one answer.
    fn authority(&self) -> Result<Authority, String>;
}

/// The authority's key and the audit log its decryptions go to.
pub type Answering = (Arc<dyn AnswerKey>, Arc<Mutex<AuditLog>>);

/// What the worker needs.
pub struct AnalyticsWorker {
    /// The ledger.
    pub ledger: Arc<Ledger>,
    /// Files results, attestations and answers.
    pub writer: Arc<TxWriter>,
    /// The chain's evaluator.
    pub evaluator: Arc<Evaluator>,
    /// On the analytics authority's node: its key and its audit log.
    pub authority: Option<Answering>,
    /// Progress of the jobs.
    pub jobs: Jobs,
    /// Where the last processed height is kept.
    pub state_file: PathBuf,
    /// Queries this node answered (as the authority) since it started: each accepted
    /// result is decrypted once, however many attestations arrive before the answer
    /// commits. After a restart an unanswered query is decrypted again.
    pub answered: Mutex<std::collections::HashSet<Hash>>,
}

/// The financing transaction `tx`'s encrypted amount.
fn amount_of(ledger: &Ledger, tx: &Hash) -> Result<EncryptedAmount, String> {
    let t = committed_tx(ledger, tx)?;
    match &t.body().payload {
        Payload::FinanceRequest(f) => Ok(EncryptedAmount::from_bytes(f.amount.clone())),
        _ => Err(format!("transaction {tx} is not a financing request")),
    }
}

/// The encrypted value of `field` in record-writing transaction `tx`.
fn field_amount_of(
    ledger: &Ledger,
    tx: &Hash,
    field: &FieldName,
) -> Result<EncryptedAmount, String> {
    let t = committed_tx(ledger, tx)?;
    let put = match &t.body().payload {
        Payload::PutRecord(p) => p,
        Payload::RevokeAccess(r) => &r.put,
        _ => return Err(format!("transaction {tx} does not write a record")),
    };
    put.fhe_amounts
        .iter()
        .find(|a| &a.field == field)
        .map(|a| EncryptedAmount::from_bytes(a.amount.clone()))
        .ok_or_else(|| format!("transaction {tx} carries no encrypted {field}"))
}

/// A committed transaction by hash.
fn committed_tx(ledger: &Ledger, tx: &Hash) -> Result<Transaction, String> {
    let store = ledger.store.as_ref();
    let loc = store
        .tx_location(tx)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("transaction {tx} is not committed"))?;
    let block = store
        .block(loc.height)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("block {} is missing", loc.height))?;
    block.txs.get(loc.index as usize).cloned().ok_or_else(|| {
        format!(
            "transaction {tx} is not at its place in block {}",
            loc.height
        )
    })
}

impl AnalyticsWorker {
    fn me(&self) -> &OrgId {
        &self.ledger.org
    }

    fn set(&self, id: &Hash, s: JobStatus) {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(*id, s);
    }

    /// A financing question's inputs: the buyer's first `q.inputs` financings' encrypted
    /// amounts, grouped by bank.
    fn financings_by_bank(&self, q: &AnalyticsQuery) -> Result<Vec<Vec<EncryptedAmount>>, String> {
        let store = self.ledger.store.as_ref();
        let mut groups: BTreeMap<OrgId, Vec<EncryptedAmount>> = BTreeMap::new();
        for i in 0..q.inputs {
            let f = buyer_financing(store, &q.subject, i)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("financing {i} of {} is missing", q.subject))?;
            groups
                .entry(f.bank)
                .or_default()
                .push(amount_of(&self.ledger, &f.tx)?);
        }
        Ok(groups.into_values().collect())
    }

    /// A field total's inputs: of each of the owner's records among the first `q.inputs`
    /// entries of its `schema`.`field` list, the latest version's encrypted value.
    fn field_values(
        &self,
        q: &AnalyticsQuery,
        schema: &SchemaId,
        field: &FieldName,
    ) -> Result<Vec<EncryptedAmount>, String> {
        let store = self.ledger.store.as_ref();
        let mut latest: BTreeMap<RecordId, (u32, Hash)> = BTreeMap::new();
        for i in 0..q.inputs {
            let e = field_entry(store, &q.subject, schema, field, i)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| {
                    format!("entry {i} of {}'s {schema}.{field} is missing", q.subject)
                })?;
            let slot = latest.entry(e.record).or_insert((e.version, e.tx));
            if e.version >= slot.0 {
                *slot = (e.version, e.tx);
            }
        }
        latest
            .values()
            .map(|(_, tx)| field_amount_of(&self.ledger, tx, field))
            .collect()
    }

    /// Computes query `id` from its committed inputs.
    pub fn compute(&self, id: &Hash) -> Result<QueryResult, String> {
        let store = self.ledger.store.as_ref();
        let q = analytics_query(store, id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("query {id} is not committed"))?;
        let (query, groups) = match &q.question {
            Question::Exposure { limit } => (
                Query::Exposure { limit: *limit },
                self.financings_by_bank(&q)?,
            ),
            Question::Concentration { share_percent } => (
                Query::Concentration {
                    share_percent: *share_percent,
                },
                self.financings_by_bank(&q)?,
            ),
            Question::FieldTotal {
                schema,
                field,
                limit,
            } => (
                Query::Exposure { limit: *limit },
                vec![self.field_values(&q, schema, field)?],
            ),
        };
        let jobs = self.jobs.clone();
        let qid = *id;
        let started = std::time::Instant::now();
        let mut report = move |p: Progress| {
            tracing::debug!(query = %qid, done = p.done, total = p.total, step = %p.what, "analytics job");
            jobs.lock().unwrap_or_else(|p| p.into_inner()).insert(
                qid,
                JobStatus {
                    done: p.done,
                    total: p.total,
                    what: p.what,
                    result_hash: None,
                },
            );
        };
        let r = self
            .evaluator
            .run(&query, &groups, &mut report)
            .map_err(|e| e.to_string())?;
        tracing::info!(query = %id, inputs = q.inputs, banks = groups.len(), secs = started.elapsed().as_secs_f64(), result = %Hash(r.hash()), "analytics job done");
        Ok(r)
    }

    /// What to file for one block: results and attestations of the questions it holds,
    /// answers of the queries it made accepted.
    fn process_block(&self, height: u64) -> Result<Vec<Payload>, String> {
        let store = self.ledger.store.as_ref();
        let Some(block) = store.block(height).map_err(|e| e.to_string())? else {
            return Ok(vec![]);
        };
        let is_validator = validators(store)
            .map_err(|e| e.to_string())?
            .contains(self.me());
        let mut out = Vec::new();
        for tx in &block.txs {
            let Payload::Analytics(a) = &tx.body().payload else {
                continue;
            };
            let applied = store
                .tx_location(&tx.hash())
                .map_err(|e| e.to_string())?
                .is_some_and(|l| l.failure.is_none());
            if !applied {
                continue;
            }
            match a {
                Analytics::Ask { .. } => {
                    let id = tx.hash();
                    let asker = &tx.body().signer == self.me();
                    if !is_validator && !asker {
                        continue;
                    }
                    self.set(
                        &id,
                        JobStatus {
                            done: 0,
                            total: 0,
                            what: "started".into(),
                            result_hash: None,
                        },
                    );
                    let r = match self.compute(&id) {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::warn!(query = %id, error = %e, "analytics job failed");
                            self.set(
                                &id,
                                JobStatus {
                                    done: 0,
                                    total: 0,
                                    what: format!("failed: {e}"),
                                    result_hash: None,
                                },
                            );
                            continue;
                        }
                    };
                    let hash = Hash(r.hash());
                    {
                        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
                        let j = jobs.entry(id).or_insert(JobStatus {
                            done: 0,
                            total: 0,
                            what: String::new(),
                            result_hash: None,
                        });
                        j.done = j.total;
                        j.what = format!("computed {}", &hash.to_hex()[..16]);
                        j.result_hash = Some(hash);
                    }
                    if asker {
                        out.push(Payload::Analytics(Analytics::Result {
                            query: id,
                            result: r.bytes().to_vec(),
                        }));
                    }
                    if is_validator {
                        out.push(Payload::Analytics(Analytics::Attest {
                            query: id,
                            result_hash: hash,
                        }));
                    }
                }
                Analytics::Result { query, .. } | Analytics::Attest { query, .. } => {
                    if let Some(p) = self.answer(query)? {
                        out.push(p);
                    }
                }
                Analytics::Answer { .. } => {}
            }
        }
        Ok(out)
    }

    /// On the authority's node: the answer to `id` if it is accepted and unanswered.
    fn answer(&self, id: &Hash) -> Result<Option<Payload>, String> {
        let Some((key, log)) = &self.authority else {
            return Ok(None);
        };
        let store = self.ledger.store.as_ref();
        let Some(q) = analytics_query(store, id).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let (Some(accepted), None) = (q.accepted, q.answer) else {
            return Ok(None);
        };
        if self
            .answered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
        {
            return Ok(None);
        }
        let Some(published) = q.results.iter().find(|r| r.hash == accepted) else {
            return Err(format!(
                "query {id}: the accepted result {accepted} was never published"
            ));
        };
        let t = committed_tx(&self.ledger, &published.tx)?;
        let Payload::Analytics(Analytics::Result { result, .. }) = &t.body().payload else {
            return Err(format!(
                "query {id}: transaction {} is not its result",
                published.tx
            ));
        };
        let answer = key
            .authority()?
            .decrypt_answer(
                accepted.as_bytes(),
                &QueryResult::from_bytes(result.clone()),
            )
            .map_err(|e| e.to_string())?;
        let read = AuditRead {
            time_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            org: self.me().to_string(),
            client: "analytics".into(),
            record: format!("analytics-query/{id}"),
            version: 0,
            owner: q.subject.to_string(),
            field: format!(
                "answer: {} = {}",
                q.question,
                if answer { "yes" } else { "no" }
            ),
        };
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&[read])
            .map_err(|e| format!("writing the audit log: {e}"))?;
        self.answered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(*id);
        tracing::info!(query = %id, subject = %q.subject, question = %q.question, answer, "decrypted an accepted query's answer");
        Ok(Some(Payload::Analytics(Analytics::Answer {
            query: *id,
            answer,
        })))
    }

    fn load_done(&self) -> u64 {
        ledger_home::fsutil::read_height(&self.state_file)
    }

    fn save_done(&self, h: u64) {
        if let Err(e) = ledger_home::fsutil::write_height(&self.state_file, h) {
            tracing::warn!(error = %e, "saving the analytics position");
        }
    }
}

/// Runs the worker until `shutdown` turns true.
pub async fn run(w: Arc<AnalyticsWorker>, mut shutdown: watch::Receiver<bool>) {
    let mut heights = w.ledger.subscribe();
    let mut done = w.load_done();
    tracing::info!(
        from = done + 1,
        authority = w.authority.is_some(),
        "analytics worker started"
    );
    loop {
        if *shutdown.borrow() {
            break;
        }
        while done < w.ledger.height() {
            let h = done + 1;
            let ww = w.clone();
            let filed = match tokio::task::spawn_blocking(move || ww.process_block(h)).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    tracing::warn!(height = h, error = %e, "analytics deferred");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "analytics task failed");
                    break;
                }
            };
            for p in filed {
                let what = match &p {
                    Payload::Analytics(Analytics::Result { .. }) => "result",
                    Payload::Analytics(Analytics::Attest { .. }) => "attestation",
                    _ => "answer",
                };
                match w.writer.submit(p).await {
                    Ok(tx) => tracing::info!(tx = %tx.hash(), what, "filed analytics"),
                    Err(e) => tracing::warn!(error = %e, what, "filing analytics"),
                }
            }
            done = h;
            w.save_done(h);
        }
        tokio::select! {
            r = heights.changed() => if r.is_err() { break },
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
    }
}
