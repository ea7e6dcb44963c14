//! `ledger exposure-query`, `concentration-query` and `analytics-query`: ask an
//! encrypted-analytics question through the gateway, then follow it on the node until the
//! authority answers: this node's progress computing it, the results published, the
//! validators' re-executions, acceptance, and the answer (docs/fhe.md).

use std::time::{Duration, Instant};

use ledger_api::v1 as pb;
use ledger_home::out;
use ledger_types::Hash;

use crate::client::{CliError, Client};
use crate::gateway::GatewayArgs;

fn short(h: &[u8]) -> String {
    hex::encode(h).chars().take(16).collect()
}

/// Prints a query.
pub fn print(id: &Hash, q: &pb::GetAnalyticsQueryResponse) {
    out!("query {id}");
    out!("  asked by   {} at height {}", q.asker, q.height);
    let inputs = if q.question.starts_with("total ") {
        "record versions"
    } else {
        "financings"
    };
    out!(
        "  question   {}'s {} ({} {inputs})",
        q.subject,
        q.question,
        q.inputs
    );
    for r in &q.results {
        out!(
            "  result     {} published by {}",
            short(&r.result_hash),
            r.by
        );
    }
    out!(
        "  attested   {} of {} validators (quorum {})",
        q.attestations.len(),
        q.validators,
        q.quorum
    );
    for m in &q.mismatches {
        out!(
            "  MISMATCH   {} computed {}: not the published result",
            m.validator,
            short(&m.result_hash)
        );
    }
    if q.accepted.is_empty() {
        out!("  accepted   not yet");
    } else {
        out!("  accepted   {}", short(&q.accepted));
    }
    if q.answered {
        out!("  answer     {}", if q.answer { "YES" } else { "NO" });
    } else {
        out!("  answer     not yet");
    }
}

/// Asks `ask` and, unless `no_wait`, follows it until answered or `timeout_secs`.
pub async fn ask(
    client: &mut Client,
    gw: &GatewayArgs,
    ask: pb::AnalyticsAskRequest,
    no_wait: bool,
    timeout_secs: u64,
) -> Result<(), CliError> {
    let mut gw = gw.connect().await?;
    let w = gw.ask_analytics(ask).await?;
    let id = Hash::from_slice(&w.tx_hash)
        .ok_or_else(|| CliError::Invalid("the gateway returned no transaction hash".into()))?;
    out!("asked at height {}: query {id}", w.height);
    if no_wait {
        out!("follow it with: ledger analytics-query --query {id}");
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    let mut last = String::new();
    loop {
        let q = client.analytics_query(&id).await?;
        let line = format!(
            "computing {}/{} {} | results {} | attested {}/{} (quorum {}){}",
            q.job_done,
            q.job_total,
            q.job_step,
            q.results.len(),
            q.attestations.len(),
            q.validators,
            q.quorum,
            if q.accepted.is_empty() {
                ""
            } else {
                " | accepted"
            }
        );
        if line != last {
            out!("  {line}");
            last = line;
        }
        if q.answered {
            print(&id, &q);
            return Ok(());
        }
        if Instant::now() > deadline {
            print(&id, &q);
            return Err(CliError::Invalid(format!(
                "no answer within {timeout_secs} s; follow it with: ledger analytics-query --query {id}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
