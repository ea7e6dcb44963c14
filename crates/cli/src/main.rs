//! `ledger`: the command-line client of a confidential-ledger node.
//!
//! Talks to a node's public gRPC API. Commands that write sign transactions with a software
//! key file (a node home's `keys/signing.key`, or `--key`); the key never leaves this
//! process and is never printed.

use ledger_home::out;

mod analytics;
mod args;
mod client;
mod gateway;
mod gwload;
mod load;
mod util;

use clap::Parser;
use ledger_api::v1 as pb;
use ledger_types::{Block, Hash};

use crate::args::{Cli, Command};
use crate::client::{CliError, Client};
use crate::util::*;

/// Prints a governance write's outcome.
fn print_governance_write(what: &str, w: &pb::WriteResponse) {
    let hash = hex::encode(&w.tx_hash);
    let which = if w.proposal == 0 {
        String::new()
    } else {
        format!(" proposal #{}", w.proposal)
    };
    if w.committed {
        out!("{what}{which}: committed at height {} (tx {hash}); see `ledger proposals` for its status", w.height);
    } else {
        out!("{what}{which}: submitted (tx {hash})");
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let tls = cli.tls.client_tls(&cli.node)?;
    let mut client = Client::connect(&cli.node, tls).await?;
    if !matches!(cli.command, Command::Status) {
        // Fixes the process's crypto suite to the chain's before anything is hashed.
        client.status().await?;
    }
    match cli.command {
        Command::Status => {
            let s = client.status().await?;
            out!("chain id       {}", s.chain_id);
            out!("node org       {}", s.org);
            out!("height         {}", s.height);
            out!("last block     {}", hex::encode(&s.last_block_hash));
            out!("last block at  {} ms", s.last_block_time_ms);
            out!("genesis        {}", hex::encode(&s.genesis_hash));
            out!(
                "crypto suite   {} ({})",
                s.crypto_suite,
                ledger_types::CryptoSuite::from_name(&s.crypto_suite)
                    .map(|c| c.describe())
                    .unwrap_or("unknown to this CLI")
            );
            out!(
                "mempool        {} txs, {} bytes",
                s.mempool_txs,
                s.mempool_bytes
            );
            out!("node version   {}", s.node_version);
            out!("role           {}", s.role);
            out!(
                "last commit    round {}, {} of {} validators signed",
                s.round,
                s.last_commit_signatures,
                s.validators.len()
            );
            out!("validators     {}", s.validators.join(", "));
            for p in &s.peers {
                out!("peer           {p}");
            }
        }
        Command::GetRecord {
            record,
            version,
            alerts_from,
            checks_from,
        } => {
            let r = client
                .record_page(&record, version, alerts_from, checks_from)
                .await?;
            out!("record     {}", r.record_id);
            out!("version    {} (latest {})", r.version, r.latest_version);
            out!("owner      {}", r.owner);
            out!("height     {}", r.height);
            out!("tx         {}", hex::encode(&r.tx_hash));
            out!("schema     {} v{}", r.schema_id, r.schema_version);
            for f in &r.fields {
                let readers: Vec<&str> = r
                    .wraps
                    .iter()
                    .filter(|w| w.field == f.name)
                    .map(|w| w.reader.as_str())
                    .collect();
                out!(
                    "field      {} : {} sealed bytes, readable by {}",
                    f.name,
                    f.sealed.len(),
                    readers.join(", ")
                );
            }
            for c in &r.checks {
                out!(
                    "check      {} over {} by {} at height {}",
                    c.relation,
                    c.operands.join(", "),
                    c.by,
                    c.height
                );
            }
            for a in &r.alerts {
                out!(
                    "ALERT      v{} field {} by {} at height {}: {}",
                    a.version,
                    a.field,
                    a.regulator,
                    a.height,
                    a.reason
                );
            }
            let more = |what: &str, from: u64, shown: usize, total: u64, flag: &str| {
                if shown as u64 != total {
                    out!(
                        "{what:<10} {}-{} of {total} listed; more with {flag} N",
                        from,
                        from + shown as u64
                    );
                }
            };
            more(
                "checks",
                checks_from,
                r.checks.len(),
                r.checks_total,
                "--checks-from",
            );
            more(
                "alerts",
                alerts_from,
                r.alerts.len(),
                r.alerts_total,
                "--alerts-from",
            );
        }
        Command::Grants {
            record,
            from,
            limit,
        } => {
            let h = client.access_history(&record, from, limit).await?;
            let r = client.record(&record, None).await?;
            out!("record {} (owner {})", h.record_id, h.owner);
            out!("readers of version {}:", r.version);
            for f in &r.fields {
                let readers: Vec<&str> = r
                    .wraps
                    .iter()
                    .filter(|w| w.field == f.name)
                    .map(|w| w.reader.as_str())
                    .collect();
                out!("  {:<16} {}", f.name, readers.join(", "));
            }
            out!("history:");
            if h.events.is_empty() {
                out!("  no grants: only the owner and the schema's auditors read it");
            }
            for e in h.events {
                out!(
                    "  height {:>6}  {:<6} {} -> {}  v{}  fields {}",
                    e.height,
                    e.action,
                    e.by,
                    e.org,
                    e.version,
                    e.fields.join(",")
                );
            }
            if h.total > from + limit as u64 {
                out!(
                    "events {}-{} of {} listed; more with --from {}",
                    from,
                    (from + limit as u64).min(h.total),
                    h.total,
                    from + limit as u64
                );
            }
        }
        Command::RegisterSchema(a) => register_schema(a).await?,
        Command::PutRecord(a) => {
            let mut gw = a.gw.connect().await?;
            let fields = field_values(&a.fields)?;
            let w = gw
                .put(pb::GatewayPutRequest {
                    document: None,
                    record_id: a.record,
                    schema_id: a.schema.unwrap_or_default(),
                    schema_version: a.schema_version,
                    fields,
                    readers: a.readers,
                    no_wait: a.no_wait,
                })
                .await?;
            gateway::print_write("put", &w);
        }
        Command::ReadRecord {
            gw,
            record,
            version,
            fields,
        } => {
            let mut gw = gw.connect().await?;
            let r = gw
                .read(pb::ReadRecordRequest {
                    record_id: record,
                    version,
                    fields,
                })
                .await?;
            gateway::print_read(&r);
        }
        Command::PutDocument(a) => {
            let mut gw = a.gw.connect().await?;
            let mut lines = Vec::with_capacity(a.lines.len());
            for l in &a.lines {
                let bad = || CliError::Invalid(format!("line {l:?} must be PRICExQTY[=TOTAL]"));
                let (pq, total) = match l.split_once('=') {
                    Some((pq, t)) => (pq, Some(t.parse::<u64>().map_err(|_| bad())?)),
                    None => (l.as_str(), None),
                };
                let (p, q) = pq.split_once('x').ok_or_else(bad)?;
                let (p, q) = (
                    p.parse::<u64>().map_err(|_| bad())?,
                    q.parse::<u64>().map_err(|_| bad())?,
                );
                let total = match total {
                    Some(t) => t,
                    None => p.checked_mul(q).ok_or_else(bad)?,
                };
                lines.push(pb::DocumentLine {
                    unit_price: p,
                    quantity: q,
                    total,
                });
            }
            let total = match a.total {
                Some(t) => t,
                None => lines
                    .iter()
                    .try_fold(0u64, |acc, l| acc.checked_add(l.total))
                    .ok_or_else(|| CliError::Invalid("the line totals overflow".into()))?,
            };
            let fields = field_values(&a.fields)?;
            let w = gw
                .put(pb::GatewayPutRequest {
                    record_id: a.record,
                    schema_id: a.schema.unwrap_or_default(),
                    schema_version: None,
                    fields,
                    readers: a.readers,
                    no_wait: false,
                    document: Some(pb::DocumentInput {
                        seller: a.seller,
                        buyer: a.buyer,
                        carrier: a.carrier,
                        number: a.number,
                        reference: a.reference,
                        issue_date: a.date,
                        lines,
                        total,
                    }),
                })
                .await?;
            gateway::print_write("put", &w);
        }
        Command::ProveInvoice {
            gw,
            invoice,
            order,
            delivery,
        } => {
            let mut gw = gw.connect().await?;
            let mut names = vec![invoice.clone()];
            names.extend(order.iter().cloned());
            names.extend(delivery.iter().cloned());
            let operands = names
                .iter()
                .map(|r| {
                    let (record_id, version) = record_at_version(r)?;
                    Ok(pb::CheckOperand {
                        record_id,
                        version,
                        field: "document".into(),
                    })
                })
                .collect::<Result<Vec<_>, CliError>>()?;
            let relation = if operands.len() == 1 {
                "invoice"
            } else {
                "invoice-linked"
            };
            let w = gw
                .cross_check(pb::CrossCheckRequest {
                    relation: relation.into(),
                    operands,
                    no_wait: false,
                })
                .await?;
            out!(
                "{relation} proof over {} committed at height {} (tx {})",
                names.join(", "),
                w.height,
                hex::encode(&w.tx_hash)
            );
        }
        Command::ExposureQuery {
            gw,
            buyer,
            limit,
            no_wait,
            timeout_secs,
        } => {
            let ask = pb::AnalyticsAskRequest {
                subject: buyer,
                question: "exposure".into(),
                limit,
                ..Default::default()
            };
            analytics::ask(&mut client, &gw, ask, no_wait, timeout_secs).await?;
        }
        Command::ConcentrationQuery {
            gw,
            buyer,
            share,
            no_wait,
            timeout_secs,
        } => {
            let ask = pb::AnalyticsAskRequest {
                subject: buyer,
                question: "concentration".into(),
                share_percent: share,
                ..Default::default()
            };
            analytics::ask(&mut client, &gw, ask, no_wait, timeout_secs).await?;
        }
        Command::FieldTotalQuery {
            gw,
            owner,
            schema,
            field,
            limit,
            no_wait,
            timeout_secs,
        } => {
            let ask = pb::AnalyticsAskRequest {
                subject: owner,
                question: "field-total".into(),
                limit,
                schema,
                field,
                ..Default::default()
            };
            analytics::ask(&mut client, &gw, ask, no_wait, timeout_secs).await?;
        }
        Command::AnalyticsQuery { query } => {
            let id = Hash::from_hex(&query).ok_or_else(|| {
                CliError::Invalid(format!("query {query:?} is not a 32-byte hex hash"))
            })?;
            analytics::print(&id, &client.analytics_query(&id).await?);
        }
        Command::RequestFinancing { gw, invoice, bank } => {
            let mut gw = gw.connect().await?;
            let (invoice_id, version) = record_at_version(&invoice)?;
            let w = gw
                .request_financing(pb::FinancingRequest {
                    invoice_id,
                    version,
                    no_wait: false,
                    bank,
                })
                .await?;
            gateway::print_write("financing request", &w);
        }
        Command::Endorse {
            gw,
            topic,
            statement,
            statement_hash,
            sign_only,
        } => {
            let mut gw = gw.connect().await?;
            let statement_hash = match &statement_hash {
                Some(h) => parse_hash(h)?.0.to_vec(),
                None => vec![],
            };
            let r = gw
                .endorse(pb::EndorseRequest {
                    topic: topic.clone(),
                    statement: statement.unwrap_or_default(),
                    statement_hash,
                    no_wait: false,
                    sign_only,
                })
                .await?;
            if sign_only {
                out!("{}", hex::encode(&r.tx));
                eprintln!(
                    "signed (not submitted): topic {topic}, key image {}, ring of {} members fixed at height {}; submit with `ledger --node URL submit-tx HEX`",
                    hex::encode(&r.key_image),
                    r.ring_size,
                    r.ring_height
                );
                return Ok(());
            }
            out!(
                "endorsed topic {topic} anonymously at height {} (tx {})",
                r.height,
                hex::encode(&r.tx_hash)
            );
            out!("  statement hash {}", hex::encode(&r.statement_hash));
            out!("  key image      {}", hex::encode(&r.key_image));
            out!(
                "  ring           the {} members of the ring fixed at height {}",
                r.ring_size,
                r.ring_height
            );
        }
        Command::SubmitTx { tx } => {
            let text = if tx == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| CliError::Invalid(format!("reading standard input: {e}")))?;
                s
            } else {
                tx
            };
            let bytes = hex::decode(text.trim())
                .map_err(|e| CliError::Invalid(format!("the transaction is not hex: {e}")))?;
            let hash = client.submit(bytes).await?;
            // Wait for its block (or its failure), then show it.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            let t = loop {
                let t = client.tx(&hash).await?;
                if t.status != pb::TxStatus::Pending as i32 || std::time::Instant::now() > deadline
                {
                    break t;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            };
            print_tx(&hash, &t);
        }
        Command::Endorsements { topic, statement } => {
            let mut list = Vec::new();
            let total = loop {
                let page = client.endorsements(&topic, list.len() as u64).await?;
                let empty = page.endorsements.is_empty();
                list.extend(page.endorsements);
                if empty || list.len() as u64 >= page.total {
                    break page.total;
                }
            };
            let named: std::collections::BTreeMap<Vec<u8>, String> = statement
                .iter()
                .map(|t| (ledger_types::Endorse::statement_hash(t).to_vec(), t.clone()))
                .collect();
            let name = |h: &[u8]| {
                named
                    .get(h)
                    .map_or_else(|| hex::encode(h), |t| format!("{t:?}"))
            };
            out!("topic {topic}: {total} endorsement(s), one per member at most");
            let mut tally: std::collections::BTreeMap<Vec<u8>, u64> = Default::default();
            for e in &list {
                *tally.entry(e.statement_hash.clone()).or_default() += 1;
            }
            for (h, n) in &tally {
                out!("  {n:>4}  {}", name(h));
            }
            for e in &list {
                out!(
                    "  #{:<3} height {:>6}  key image {}  statement {}  (ring of height {})",
                    e.index,
                    e.height,
                    &hex::encode(&e.key_image)[..16],
                    name(&e.statement_hash),
                    e.ring_height
                );
            }
        }
        Command::AuditSum {
            gw,
            field,
            records,
            max_bits,
        } => {
            let mut gw = gw.connect().await?;
            let records = records
                .iter()
                .map(|r| {
                    let (record_id, version) = record_at_version(r)?;
                    Ok(pb::CheckOperand {
                        record_id,
                        version,
                        field: field.clone(),
                    })
                })
                .collect::<Result<Vec<_>, CliError>>()?;
            let r = gw
                .audit_sum(pb::AuditSumRequest {
                    field: field.clone(),
                    records,
                    max_bits: Some(max_bits),
                })
                .await?;
            out!(
                "sum of {} over {} records: {}",
                r.field,
                r.records.len(),
                r.sum
            );
            for rec in &r.records {
                out!("  {rec}");
            }
        }
        Command::CrossCheck {
            gw,
            relation,
            operands,
        } => {
            let mut gw = gw.connect().await?;
            let ops = operands
                .iter()
                .map(|o| {
                    let (rec, field) = o.split_once(':').ok_or_else(|| {
                        CliError::Invalid(format!("operand {o:?} must be RECORD[@VERSION]:FIELD"))
                    })?;
                    let (record, version) = record_at_version(rec)?;
                    Ok(pb::CheckOperand {
                        record_id: record,
                        version,
                        field: field.to_string(),
                    })
                })
                .collect::<Result<Vec<_>, CliError>>()?;
            let w = gw
                .cross_check(pb::CrossCheckRequest {
                    relation: relation.clone(),
                    operands: ops,
                    no_wait: false,
                })
                .await?;
            out!(
                "cross-check {relation} over {} committed at height {} (tx {})",
                operands.join(", "),
                w.height,
                hex::encode(&w.tx_hash)
            );
        }
        Command::Propose(a) => {
            let mut gw = a.gw.connect().await?;
            let mut registration = Vec::new();
            let mut rotation = Vec::new();
            let (action, org, governance) = if let Some(file) = &a.admit {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| CliError::Invalid(format!("reading {}: {e}", file.display())))?;
                registration = hex::decode(text.trim()).map_err(|e| {
                    CliError::Invalid(format!("{} is not a join request: {e}", file.display()))
                })?;
                let request = ledger_types::governance::JoinRequest::decode(&registration)
                    .map_err(|e| {
                        CliError::Invalid(format!(
                            "{} is not a join request (`ledger-node join-request` writes one): {e}",
                            file.display()
                        ))
                    })?;
                let tx = ledger_types::Transaction::decode(&request.registration).map_err(|e| {
                    CliError::Invalid(format!("{} is not a join request: {e}", file.display()))
                })?;
                let ledger_types::Payload::RegisterMember(m) = &tx.body().payload else {
                    return Err(CliError::Invalid(format!(
                        "{} holds a {}, not a registration",
                        file.display(),
                        tx.kind().name()
                    )));
                };
                ("admit", m.org.to_string(), None)
            } else if let Some(file) = &a.rotate_key {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| CliError::Invalid(format!("reading {}: {e}", file.display())))?;
                rotation = hex::decode(text.trim()).map_err(|e| {
                    CliError::Invalid(format!("{} is not a rotation request: {e}", file.display()))
                })?;
                let r = ledger_types::RotationRequest::decode(&rotation).map_err(|e| {
                    CliError::Invalid(format!(
                        "{} is not a rotation request (`ledger-node rotate-key --request-only` writes one): {e}",
                        file.display()
                    ))
                })?;
                ("rotate-key", r.org.to_string(), None)
            } else if let Some(o) = &a.remove_member {
                ("remove-member", o.clone(), None)
            } else if let Some(o) = &a.add_validator {
                ("add-validator", o.clone(), None)
            } else if let Some(o) = &a.remove_validator {
                ("remove-validator", o.clone(), None)
            } else if let Some(o) = &a.suspend {
                ("suspend", o.clone(), None)
            } else if let Some(o) = &a.reinstate {
                ("reinstate", o.clone(), None)
            } else if let Some(o) = &a.set_roles {
                ("set-roles", o.clone(), None)
            } else if !a.governors.is_empty() {
                let governors = a
                    .governors
                    .iter()
                    .map(|g| {
                        let (org, w) = g.split_once('=').ok_or_else(|| {
                            CliError::Invalid(format!("--governors takes ORG=WEIGHT, got {g:?}"))
                        })?;
                        let weight = w.parse().map_err(|_| {
                            CliError::Invalid(format!("the weight in {g:?} is not a number"))
                        })?;
                        Ok(pb::Governor {
                            org: org.to_string(),
                            weight,
                        })
                    })
                    .collect::<Result<Vec<_>, CliError>>()?;
                (
                    "set-governance",
                    String::new(),
                    Some(pb::GovernanceChange {
                        governors,
                        quorum_pct: a.quorum,
                        approval_pct: a.approval,
                        max_open_blocks: a.max_open_blocks,
                    }),
                )
            } else {
                return Err(CliError::Invalid(
                    "name an action: --admit, --add-validator, --remove-validator, --suspend, --reinstate, --remove-member, --rotate-key, --set-roles or --governors"
                        .into(),
                ));
            };
            let w = gw
                .govern(pb::GovernRequest {
                    request: Some(pb::govern_request::Request::Propose(pb::ProposeRequest {
                        action: action.into(),
                        org,
                        roles: a.roles.clone(),
                        governance,
                        open_blocks: a.open_blocks,
                        registration,
                        p2p: a.p2p.clone().unwrap_or_default(),
                        rotation,
                        api: a.api.clone().unwrap_or_default(),
                    })),
                    no_wait: a.no_wait,
                })
                .await?;
            print_governance_write(&format!("proposed {action}"), &w);
        }
        Command::Vote {
            gw,
            proposal,
            yes,
            no: _,
            no_wait,
        } => {
            let mut gw = gw.connect().await?;
            let w = gw
                .govern(pb::GovernRequest {
                    request: Some(pb::govern_request::Request::Vote(pb::VoteRequest {
                        proposal,
                        yes,
                    })),
                    no_wait,
                })
                .await?;
            print_governance_write(if yes { "voted yes" } else { "voted no" }, &w);
        }
        Command::RotateKey {
            gw,
            kind,
            request_only,
            adopt,
        } => {
            let mut gw = gw.connect().await?;
            let r = gw
                .rotate_key(pb::RotateKeyRequest {
                    kind: kind.clone(),
                    request_only: request_only.is_some(),
                    adopt,
                })
                .await?;
            if let Some(file) = request_only {
                std::fs::write(&file, hex::encode(&r.request))
                    .map_err(|e| CliError::Invalid(format!("writing {}: {e}", file.display())))?;
                out!(
                    "new {} key staged; rotation request written to {} (a governor proposes it with `ledger propose --rotate-key {}`; once it passes, run `ledger rotate-key --kind {} --adopt` or restart the node)",
                    r.kind,
                    file.display(),
                    file.display(),
                    r.kind
                );
            } else {
                match &r.write {
                    Some(w) => out!(
                        "{} key rotated: committed at height {} (tx {}); new key {}; {}",
                        r.kind,
                        w.height,
                        hex::encode(&w.tx_hash),
                        hex::encode(&r.new_key),
                        if r.adopted {
                            "the node uses it now"
                        } else {
                            "the node adopts it at its next start"
                        }
                    ),
                    None => out!(
                        "{} key adopted: the node uses {} now",
                        r.kind,
                        hex::encode(&r.new_key)
                    ),
                }
            }
        }
        Command::RevokeProposal { gw, proposal } => {
            let mut gw = gw.connect().await?;
            let w = gw
                .govern(pb::GovernRequest {
                    request: Some(pb::govern_request::Request::Revoke(proposal)),
                    no_wait: false,
                })
                .await?;
            print_governance_write("revoked", &w);
        }
        Command::Proposals { from } => {
            let g = client.governance(from).await?;
            out!(
                "governors  {}",
                g.governors
                    .iter()
                    .map(|x| format!("{}={}", x.org, x.weight))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            out!(
                "thresholds quorum {}% of the weight, approval {}% of the votes; open at most {} blocks",
                g.quorum_pct,
                g.approval_pct,
                g.max_open_blocks
            );
            out!("proposals  {} in all (height {})", g.total, g.height);
            for p in &g.proposals {
                let votes: Vec<String> = p
                    .votes
                    .iter()
                    .map(|v| format!("{} {}", v.org, if v.yes { "yes" } else { "no" }))
                    .collect();
                out!(
                    "  #{:<4} {:<8} {} by {} (opened {}, deadline {}) yes {} no {}: {}",
                    p.id,
                    p.status,
                    p.description,
                    p.proposer,
                    p.opened,
                    p.deadline,
                    p.yes_weight,
                    p.no_weight,
                    votes.join(", ")
                );
            }
        }
        Command::Grant(a) => {
            let mut gw = a.gw.connect().await?;
            let w = gw
                .grant(pb::AccessRequest {
                    record_id: a.record,
                    org: a.org.clone(),
                    fields: a.fields.clone(),
                    no_wait: a.no_wait,
                })
                .await?;
            gateway::print_write(&format!("granted {} to {}", a.fields.join(","), a.org), &w);
        }
        Command::Revoke(a) => {
            let mut gw = a.gw.connect().await?;
            let w = gw
                .revoke(pb::AccessRequest {
                    record_id: a.record,
                    org: a.org.clone(),
                    fields: a.fields.clone(),
                    no_wait: a.no_wait,
                })
                .await?;
            gateway::print_write(
                &format!("revoked {} from {}", a.fields.join(","), a.org),
                &w,
            );
        }
        Command::GetSchema { schema, version } => {
            let s = client.schema(&schema, version).await?;
            out!("schema     {}", s.schema_id);
            out!("version    {} (latest {})", s.version, s.latest_version);
            out!("registrar  {}", s.registrar);
            for f in s.fields {
                let values = if f.values.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", f.values.join("|"))
                };
                out!(
                    "field      {} : {}{}{}{}",
                    f.name,
                    f.r#type,
                    values,
                    if f.required { " (required)" } else { "" },
                    if f.committed { " (committed)" } else { "" }
                );
            }
            out!(
                "auditors   {}",
                if s.auditors.is_empty() {
                    "none".to_string()
                } else {
                    s.auditors.join(", ")
                }
            );
        }
        Command::GetTx { hash } => {
            let h = parse_hash(&hash)?;
            let t = client.tx(&h).await?;
            print_tx(&h, &t);
        }
        Command::GetBlock { height } => {
            let b = client.block(height).await?;
            print_block(&b);
            let block = Block::decode(&b.block).map_err(|e| {
                CliError::Invalid(format!("the node sent a block that does not decode: {e}"))
            })?;
            for (i, tx) in block.txs.iter().enumerate() {
                out!(
                    "  tx {i:>5}  {}  {} by {} nonce {}",
                    tx.hash(),
                    tx.kind().name(),
                    tx.body().signer,
                    tx.body().nonce
                );
            }
        }
        Command::Follow { from, count } => {
            let from = match from {
                Some(f) => f,
                None => client.status().await?.height + 1,
            };
            let mut stream = client.stream_blocks(from, true).await?;
            let mut n = 0;
            while let Some(b) = stream.message().await.map_err(CliError::from)? {
                print_block(&b);
                n += 1;
                if count.is_some_and(|c| n >= c) {
                    break;
                }
            }
        }
        Command::Member { org } => {
            let m = client.member(&org).await?;
            out!("org              {}", m.org);
            out!("signing key      {}", m.signing_key);
            out!("roles            {}", m.roles.join(","));
            out!("next nonce       {}", m.next_nonce);
            out!("next free nonce  {}", m.next_free_nonce);
            if !m.audit_key.is_empty() {
                out!("audit key        {}", hex::encode(&m.audit_key));
            }
            if !m.ring_key.is_empty() {
                out!("ring key         {}", hex::encode(&m.ring_key));
            }
        }
        Command::Load(a) => load::run(client, a).await?,
        Command::GatewayLoad(a) => gwload::run(&mut client, a).await?,
    }
    Ok(())
}
