//! The gateway load generator: concurrent puts of multi-field records from plaintext
//! through an organisation's gateway (each committed before it counts), then single-field
//! authorised reads one after another. Reports encrypted fields per second and the read
//! latency percentiles.

use ledger_home::out;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use rand::RngCore;

use crate::client::{CliError, Client};
use crate::gateway::GatewayArgs;
use crate::pb;

/// Gateway load options.
#[derive(Args)]
pub struct GatewayLoadArgs {
    #[command(flatten)]
    gw: GatewayArgs,
    /// Records to put.
    #[arg(long, default_value_t = 1000)]
    records: usize,
    /// Text fields per record (schema `gwload-N` is registered on first use).
    #[arg(long, default_value_t = 10)]
    fields: usize,
    /// Bytes per field value.
    #[arg(long, default_value_t = 32)]
    field_bytes: usize,
    /// Extra readers of every field (repeatable), beside the owner.
    #[arg(long = "reader")]
    readers: Vec<String>,
    /// Concurrent puts in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Single-field reads to time after the puts (one at a time).
    #[arg(long, default_value_t = 2000)]
    reads: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Runs the load.
pub async fn run(client: &mut Client, a: GatewayLoadArgs) -> Result<(), CliError> {
    let mut gw = a.gw.connect().await?;
    let schema = format!("gwload-{}", a.fields);
    let names: Vec<String> = (0..a.fields).map(|i| format!("f{i:03}")).collect();
    match client.schema(&schema, None).await {
        Ok(_) => {}
        Err(CliError::NotFound(_)) => {
            gw.register_schema(pb::GatewaySchemaRequest {
                document: String::new(),
                schema_id: schema.clone(),
                version: None,
                fields: names
                    .iter()
                    .map(|n| pb::SchemaField {
                        name: n.clone(),
                        r#type: "text".into(),
                        values: vec![],
                        required: false,
                        committed: false,
                        fhe: false,
                    })
                    .collect(),
                auditors: vec![],
                no_wait: false,
            })
            .await?;
        }
        Err(e) => return Err(e),
    }
    let mut run_id = [0u8; 4];
    rand::thread_rng().fill_bytes(&mut run_id);
    let run_id = hex::encode(run_id);
    eprintln!(
        "putting {} records of {} fields ({} bytes each, {} reader(s)) through the gateway, {} in flight...",
        a.records,
        a.fields,
        a.field_bytes,
        1 + a.readers.len(),
        a.concurrency
    );
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(a.records)));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..a.concurrency.max(1) {
        let (mut gw, next, latencies, failures) = (
            a.gw.connect().await?,
            next.clone(),
            latencies.clone(),
            failures.clone(),
        );
        let (schema, names, readers, run_id) = (
            schema.clone(),
            names.clone(),
            a.readers.clone(),
            run_id.clone(),
        );
        let (total, bytes) = (a.records, a.field_bytes);
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let fields = names
                    .iter()
                    .map(|n| pb::FieldValue {
                        name: n.clone(),
                        value: format!("{i:0width$}", width = bytes),
                    })
                    .collect();
                let t = Instant::now();
                let r = gw
                    .put(pb::GatewayPutRequest {
                        document: None,
                        record_id: format!("gw-{run_id}-{i}"),
                        schema_id: schema.clone(),
                        schema_version: None,
                        fields,
                        readers: readers.clone(),
                        no_wait: false,
                    })
                    .await;
                match r {
                    Ok(_) => latencies
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(t.elapsed()),
                    Err(e) => failures
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(e.to_string()),
                }
            }
        }));
    }
    for w in workers {
        w.await.map_err(|e| CliError::Invalid(e.to_string()))?;
    }
    let elapsed = start.elapsed();
    let failures = failures.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut lat = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    lat.sort();
    let ok = lat.len();
    out!(
        "puts: {ok} committed, {} failed, in {:.2} s: {:.0} records/s, {:.0} encrypted fields/s",
        failures.len(),
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64(),
        (ok * a.fields) as f64 / elapsed.as_secs_f64()
    );
    out!(
        "put latency (to commit): p50 {}  p95 {}  p99 {}",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.95)),
        ms(percentile(&lat, 0.99))
    );
    if let Some(f) = failures.first() {
        out!("first failure: {f}");
    }
    if ok == 0 || a.reads == 0 {
        return Ok(());
    }
    let mut reads = Vec::with_capacity(a.reads);
    for k in 0..a.reads {
        let i = (rand::thread_rng().next_u32() as usize) % a.records;
        let t = Instant::now();
        let r = gw
            .read(pb::ReadRecordRequest {
                record_id: format!("gw-{run_id}-{i}"),
                version: None,
                fields: vec![names[k % names.len()].clone()],
            })
            .await?;
        reads.push(t.elapsed());
        if r.fields.first().map(|f| f.access) != Some(pb::FieldAccess::Readable as i32) {
            return Err(CliError::Invalid(format!(
                "read {k}: the field did not open: {:?}",
                r.fields.first().map(|f| &f.error)
            )));
        }
    }
    reads.sort();
    out!(
        "single-field reads: {} one at a time: p50 {}  p95 {}  p99 {}",
        reads.len(),
        ms(percentile(&reads, 0.5)),
        ms(percentile(&reads, 0.95)),
        ms(percentile(&reads, 0.99))
    );
    Ok(())
}
