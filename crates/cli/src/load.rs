//! The load generator: signs PutRecord transactions up front, submits them over gRPC from
//! concurrent workers (optionally at a fixed rate), follows committed blocks, and reports
//! committed transactions per second and commit latency percentiles.
//!
//! Latency of a transaction is measured from just before its `SubmitTx` call to the moment
//! this client receives the block that holds it.

use ledger_home::out;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use ledger_crypto::record::{seal_record, FieldToSeal, Reader};
use ledger_types::{
    ChainId, FieldName, FieldType, Hash, Payload, RecordId, RegisterSchema, SchemaField, SchemaId,
    Transaction, TxBody,
};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::client::{CliError, Client, Identity, KeyArgs};

/// Load generator options.
#[derive(Args)]
pub struct LoadArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// Transactions to submit.
    #[arg(long, default_value_t = 20_000)]
    txs: usize,
    /// Target submission rate in tx/s (0: as fast as the workers go).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Concurrent submitting workers.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Transactions per call: 1 submits each with `SubmitTx`; more sends them in
    /// `SubmitTxs` calls of this many (at most 1,024), checked together by the node.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// gRPC connections the workers share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Bytes of field data per record.
    #[arg(long, default_value_t = 256)]
    record_bytes: usize,
    /// Confidential transactions: each record carries one committed amount with its
    /// Bulletproofs range proof, and is followed by a CrossCheck proving its amount equal
    /// to the previous record's (different blindings); everything is proved before the
    /// clock starts, on all cores, and every validator verifies every proof. `--txs`
    /// counts records; the cross-checks come on top.
    #[arg(long)]
    confidential: bool,
    /// Give up waiting for commits after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs the load.
pub async fn run(mut client: Client, a: LoadArgs) -> Result<(), CliError> {
    let status = client.status().await?;
    let identity = a.key.load()?;
    let chain_id = identity.chain_id(&status)?;
    let me = client.member(identity.org.as_str()).await?;
    if me.encryption_key.is_empty() {
        return Err(CliError::Invalid(format!(
            "{} has no encryption key in the member directory: records cannot be sealed to it",
            identity.org
        )));
    }
    let owner = Reader {
        org: identity.org.clone(),
        key: me.encryption_key.clone(),
    };
    let mut first_nonce = me.next_free_nonce;
    let schema = ensure_load_schema(
        &mut client,
        &identity,
        &chain_id,
        &mut first_nonce,
        a.confidential,
    )
    .await?;
    let mut run_id = [0u8; 4];
    rand::thread_rng().fill_bytes(&mut run_id);
    let run_id = hex::encode(run_id);
    eprintln!(
        "sealing and signing {} PutRecord transactions of {} field bytes as {} (nonces from {first_nonce})...",
        a.txs, a.record_bytes, identity.org
    );
    let field = schema.fields[0].name.clone();
    // Confidential records all commit the same amount (under different blindings), so
    // that each can be proved equal to the one before.
    let openings: Vec<ledger_proofs::Opening> = if a.confidential {
        (0..a.txs)
            .map(|_| ledger_proofs::Opening::new(LOAD_AMOUNT))
            .collect()
    } else {
        vec![]
    };
    let record_id = |i: usize| {
        RecordId::new(format!("load-{run_id}-{i}")).map_err(|e| CliError::Invalid(e.to_string()))
    };
    let make = |i: usize| -> Result<Vec<Payload>, CliError> {
        let record = record_id(i)?;
        let opening = openings.get(i).cloned();
        let plaintext = match &opening {
            Some(o) => o.to_bytes().to_vec(),
            None => {
                let mut blob = vec![0u8; a.record_bytes];
                rand::thread_rng().fill_bytes(&mut blob);
                blob
            }
        };
        let mut put = seal_record(
            &chain_id,
            &record,
            1,
            &schema,
            &[FieldToSeal {
                name: field.clone(),
                plaintext: Zeroizing::new(plaintext),
                readers: vec![owner.clone()],
            }],
        )
        .map_err(|e| CliError::Invalid(e.to_string()))?;
        if let Some(o) = opening {
            let ctx = ledger_proofs::Context {
                chain_id: chain_id.to_string(),
                items: vec![(record.to_string(), 1, field.to_string())],
            };
            let proof = ledger_proofs::prove_range(&ctx, std::slice::from_ref(&o))
                .map_err(|e| CliError::Invalid(e.to_string()))?;
            put.commitments = vec![ledger_types::FieldCommitment {
                field: field.clone(),
                commitment: o.commit().to_bytes(),
            }];
            put.range_proof = Some(ledger_types::RecordRangeProof {
                padding: proof.padding.iter().map(|p| p.to_bytes()).collect(),
                proof: proof.proof,
            });
        }
        let mut out = vec![Payload::PutRecord(put)];
        if a.confidential && i > 0 {
            let previous = record_id(i - 1)?;
            let ctx = ledger_proofs::Context {
                chain_id: chain_id.to_string(),
                items: vec![
                    (record.to_string(), 1, field.to_string()),
                    (previous.to_string(), 1, field.to_string()),
                ],
            }
            .filed_by(owner.org.as_str());
            let proof = ledger_proofs::prove_linear(
                &ctx,
                &[1, -1],
                &[openings[i].clone(), openings[i - 1].clone()],
            )
            .map_err(|e| CliError::Invalid(e.to_string()))?;
            out.push(Payload::CrossCheck(ledger_types::CrossCheck {
                relation: ledger_types::Relation::Linear(vec![1, -1]),
                operands: [record, previous]
                    .into_iter()
                    .map(|r| ledger_types::Operand {
                        record: r,
                        version: 1,
                        field: field.clone(),
                    })
                    .collect(),
                proof: proof.to_bytes().to_vec(),
            }));
        }
        Ok(out)
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = a.txs.div_ceil(threads).max(1);
    let payloads: Vec<Payload> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..a.txs)
            .collect::<Vec<_>>()
            .chunks(chunk)
            .map(|part| {
                let part = part.to_vec();
                let make = &make;
                s.spawn(move || part.into_iter().map(make).collect::<Result<Vec<_>, _>>())
            })
            .collect();
        // Every record first, then every cross-check: a check names committed records
        // only (admission refuses one whose operand is not stored yet), so the workers
        // hold each check until its two records are committed.
        let (mut records, mut checks) = (Vec::with_capacity(a.txs), Vec::new());
        for h in handles {
            for mut per_record in h
                .join()
                .map_err(|_| CliError::Invalid("a sealing thread failed".into()))??
            {
                let rest = per_record.split_off(1);
                records.extend(per_record);
                checks.extend(rest);
            }
        }
        records.extend(checks);
        Ok::<_, CliError>(records)
    })?;
    let records = a.txs;
    let mut txs: Vec<Transaction> = Vec::with_capacity(payloads.len());
    for (i, payload) in payloads.into_iter().enumerate() {
        let body = TxBody {
            chain_id: chain_id.clone(),
            signer: identity.org.clone(),
            nonce: first_nonce + i as u64,
            payload,
        };
        txs.push(
            ledger_crypto::sign_tx(identity.key.as_ref(), body)
                .map_err(|e| CliError::Invalid(e.to_string()))?,
        );
    }
    let total = txs.len();
    let index: HashMap<Hash, usize> = txs.iter().enumerate().map(|(i, t)| (t.hash(), i)).collect();
    let txs = Arc::new(txs);
    let submitted_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; total]));

    // Follow committed blocks before submitting anything.
    let mut stream = client.stream_blocks(status.height + 1, true).await?;
    let committed_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; total]));
    let blocks = Arc::new(AtomicUsize::new(0));
    let max_block = Arc::new(AtomicUsize::new(0));
    let follower = {
        let committed_at = committed_at.clone();
        let (blocks, max_block) = (blocks.clone(), max_block.clone());
        tokio::spawn(async move {
            let mut seen = 0usize;
            while seen < total {
                let Ok(Some(b)) = stream.message().await else {
                    break;
                };
                let now = Instant::now();
                blocks.fetch_add(1, Ordering::Relaxed);
                max_block.fetch_max(b.tx_hashes.len(), Ordering::Relaxed);
                let mut c = committed_at.lock().unwrap_or_else(|p| p.into_inner());
                for h in &b.tx_hashes {
                    if let Some(i) = Hash::from_slice(h).and_then(|h| index.get(&h)) {
                        if c[*i].is_none() {
                            c[*i] = Some(now);
                            seen += 1;
                        }
                    }
                }
            }
        })
    };

    let mut clients = Vec::new();
    for _ in 0..a.connections.max(1) {
        clients.push(client.another().await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let retried = Arc::new(AtomicUsize::new(0));
    let rejected = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let start = Instant::now();
    let mut workers = Vec::new();
    for w in 0..a.concurrency.max(1) {
        let mut c = clients[w % clients.len()].clone();
        let (txs, next, submitted_at, rejected, committed_at, retried) = (
            txs.clone(),
            next.clone(),
            submitted_at.clone(),
            rejected.clone(),
            committed_at.clone(),
            retried.clone(),
        );
        let rate = a.rate;
        let batch = a.batch.clamp(1, 1024);
        let wait_limit = Duration::from_secs(a.timeout_secs);
        workers.push(tokio::spawn(async move {
            let refuse = |i: usize, e: CliError| {
                let key = match e {
                    CliError::Refused { reason, code, .. } => format!("{code}{reason}"),
                    other => other.to_string(),
                };
                *rejected
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(key)
                    .or_default() += 1;
                submitted_at.lock().unwrap_or_else(|p| p.into_inner())[i] = None;
            };
            loop {
                // A batch holds records or checks, never both: a check may name a record
                // of the same batch, which is not committed before the batch is sent.
                let len = txs.len();
                let end_of = |f: usize| {
                    let boundary = if f < records { records } else { len };
                    (f + batch).min(boundary)
                };
                let Ok(first) = next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| {
                    (f < len).then(|| end_of(f))
                }) else {
                    break;
                };
                let range = first..end_of(first);
                // The check at `records + k` relates records k + 1 and k: it waits for
                // both to be committed (the latest check of the batch for all of them).
                if let Some(k) = (range.end - 1).checked_sub(records) {
                    let operands = [k, k + 1];
                    // A record refused or never committed: the check goes at the run's
                    // timeout, and is refused naming its missing operand.
                    let give_up = start + wait_limit;
                    while Instant::now() < give_up
                        && operands.iter().any(|r| {
                            committed_at.lock().unwrap_or_else(|p| p.into_inner())[*r].is_none()
                        })
                    {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                if rate > 0 {
                    let due = start + Duration::from_secs_f64(first as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let t0 = Instant::now();
                {
                    let mut at = submitted_at.lock().unwrap_or_else(|p| p.into_inner());
                    for i in range.clone() {
                        at[i] = Some(t0);
                    }
                }
                // A refusal that asks to retry (the node busy, its mempool full, too many
                // of this signer's transactions waiting behind a missing nonce: another
                // worker's batch) is retried, as a client must, until the run's timeout:
                // a transaction given up would leave every later nonce waiting for it.
                let give_up = start + wait_limit;
                let mut pending: Vec<usize> = range.collect();
                let mut pause = Duration::from_millis(5);
                while !pending.is_empty() {
                    let outcomes = if batch == 1 {
                        vec![c.submit(txs[pending[0]].bytes().to_vec()).await.map(|_| ())]
                    } else {
                        let bytes = pending.iter().map(|i| txs[*i].bytes().to_vec()).collect();
                        match c.submit_many(bytes).await {
                            Ok(o) => o.into_iter().map(|r| r.map(|_| ())).collect(),
                            // The whole call refused: each transaction shares its fate.
                            Err(e) => pending.iter().map(|_| Err(each(&e))).collect(),
                        }
                    };
                    let mut again = Vec::new();
                    for (i, o) in pending.iter().zip(outcomes) {
                        match o {
                            Ok(()) => {}
                            Err(e) if retryable(&e) && Instant::now() < give_up => {
                                retried.fetch_add(1, Ordering::Relaxed);
                                again.push(*i);
                            }
                            Err(e) => refuse(*i, e),
                        }
                    }
                    if !again.is_empty() {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(200));
                        let now = Instant::now();
                        let mut at = submitted_at.lock().unwrap_or_else(|p| p.into_inner());
                        for i in &again {
                            at[*i] = Some(now);
                        }
                    }
                    pending = again;
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let submit_elapsed = start.elapsed();
    let accepted = submitted_at
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|s| s.is_some())
        .count();
    let deadline = Instant::now() + Duration::from_secs(a.timeout_secs);
    loop {
        let c = committed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|c| c.is_some())
            .count();
        if c >= accepted || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    follower.abort();
    let (blocks, max_block) = (
        blocks.load(Ordering::Relaxed),
        max_block.load(Ordering::Relaxed),
    );
    let submitted = submitted_at
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let committed = committed_at
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut latencies = Vec::new();
    let mut last_commit = start;
    for (s, c) in submitted.iter().zip(&committed) {
        if let (Some(s), Some(c)) = (s, c) {
            latencies.push(c.saturating_duration_since(*s));
            last_commit = last_commit.max(*c);
        }
    }
    latencies.sort();
    let elapsed = last_commit.saturating_duration_since(start);
    let tps = if elapsed.as_secs_f64() > 0.0 {
        latencies.len() as f64 / elapsed.as_secs_f64()
    } else {
        0.0
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    out!(
        "load: {} txs of {} field bytes, concurrency {}, connections {}, batch {}, rate {}",
        a.txs,
        a.record_bytes,
        a.concurrency,
        a.connections,
        a.batch.clamp(1, 1024),
        if a.rate == 0 {
            "max".to_string()
        } else {
            format!("{}/s", a.rate)
        }
    );
    out!(
        "submitted      {accepted} accepted in {:.2} s ({:.0} tx/s offered)",
        submit_elapsed.as_secs_f64(),
        accepted as f64 / submit_elapsed.as_secs_f64().max(1e-9)
    );
    let retried = retried.load(Ordering::Relaxed);
    if retried > 0 {
        out!("retried        {retried} submissions the node asked to retry (busy, mempool full, too many gapped nonces)");
    }
    for (reason, n) in rejected.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        out!("rejected       {n} ({reason})");
    }
    out!(
        "committed      {} in {:.2} s: {:.0} tx/s",
        latencies.len(),
        elapsed.as_secs_f64(),
        tps
    );
    out!("blocks         {blocks} (largest {max_block} txs)");
    if a.confidential {
        // Every cross-check must have been applied, not merely included as failed.
        let mut failed = 0usize;
        let mut first_failure = String::new();
        for t in txs.iter() {
            if !matches!(t.body().payload, Payload::CrossCheck(_)) {
                continue;
            }
            let r = client.tx(&t.hash()).await?;
            if r.status != crate::pb::TxStatus::Committed as i32 {
                failed += 1;
                if first_failure.is_empty() {
                    first_failure = r.failure.clone();
                }
            }
        }
        let checks = total - a.txs;
        out!(
            "confidential   {} records with a range proof + {checks} equality cross-checks: {:.0} confidential tx/s (record + check)",
            a.txs,
            tps / 2.0
        );
        if failed > 0 {
            return Err(CliError::Invalid(format!(
                "{failed} equality cross-checks did not apply (first: {first_failure})"
            )));
        }
    }
    out!(
        "latency ms     p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default())
    );
    if latencies.len() < accepted {
        return Err(CliError::Invalid(format!(
            "{} accepted transactions were not seen committed within {} s",
            accepted - latencies.len(),
            a.timeout_secs
        )));
    }
    Ok(())
}

/// Whether the node asked to retry later: busy, mempool full, too many of the signer's
/// transactions waiting behind a missing nonce.
fn retryable(e: &CliError) -> bool {
    matches!(e, CliError::Refused { code, .. } if code == "ResourceExhausted" || code == "Unavailable")
}

/// A whole call's refusal, as one transaction's.
fn each(e: &CliError) -> CliError {
    match e {
        CliError::Refused {
            code,
            reason,
            message,
        } => CliError::Refused {
            code: code.clone(),
            reason: reason.clone(),
            message: message.clone(),
        },
        other => CliError::Invalid(other.to_string()),
    }
}

/// The amount every confidential load record commits.
const LOAD_AMOUNT: u64 = 125_000;

/// The `load` schema (one required bytes field, no auditors), or with `confidential`
/// the `load-confidential` schema (one committed amount), registered by this organisation
/// on first use; `nonce` moves past the registration.
async fn ensure_load_schema(
    client: &mut Client,
    identity: &Identity,
    chain_id: &ChainId,
    nonce: &mut u64,
    confidential: bool,
) -> Result<RegisterSchema, CliError> {
    let invalid = |e: ledger_types::CodecError| CliError::Invalid(e.to_string());
    let (id, field, ty) = if confidential {
        ("load-confidential", "amount", FieldType::Amount)
    } else {
        ("load", "payload", FieldType::Bytes)
    };
    let schema = RegisterSchema {
        document: None,
        schema: SchemaId::new(id).map_err(invalid)?,
        version: 1,
        fields: vec![SchemaField {
            name: FieldName::new(field).map_err(invalid)?,
            ty,
            required: true,
            committed: confidential,
            fhe: false,
        }],
        auditors: vec![],
    };
    match client.schema(id, Some(1)).await {
        Ok(_) => return Ok(schema),
        Err(CliError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    let tx = ledger_crypto::sign_tx(
        identity.key.as_ref(),
        TxBody {
            chain_id: chain_id.clone(),
            signer: identity.org.clone(),
            nonce: *nonce,
            payload: Payload::RegisterSchema(schema.clone()),
        },
    )
    .map_err(|e| CliError::Invalid(e.to_string()))?;
    let hash = client.submit(tx.bytes().to_vec()).await?;
    *nonce += 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = client.tx(&hash).await?;
        if t.status == crate::pb::TxStatus::Committed as i32 {
            return Ok(schema);
        }
        if t.status == crate::pb::TxStatus::Failed as i32 {
            return Err(CliError::Invalid(format!(
                "registering the load schema failed: {}",
                t.failure
            )));
        }
        if Instant::now() > deadline {
            return Err(CliError::Invalid(
                "the load schema registration was not committed within 30 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
