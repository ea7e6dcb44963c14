//! `ledger`: the command-line client of a confidential-ledger node.
//!
//! Talks to a node's public gRPC API. Commands that write sign transactions with a software
//! key file (a node home's `keys/signing.key`, or `--key`); the key never leaves this
//! process and is never printed.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// `println!` that ends the program quietly when stdout is closed (`ledger ... | head`)
/// instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

mod client;
mod gateway;
mod gwload;
mod load;

use clap::{Args, Parser, Subcommand};
use ledger_api::v1 as pb;
use ledger_types::{Block, FieldName, FieldType, Hash, OrgId, SchemaField, SchemaId};

use crate::client::{CliError, Client};

#[derive(Parser)]
#[command(
    name = "ledger",
    version,
    about = "Command-line client of a confidential-ledger node (public gRPC API)"
)]
struct Cli {
    /// The node's gRPC address.
    #[arg(
        long,
        global = true,
        env = "LEDGER_NODE",
        default_value = "http://127.0.0.1:7100"
    )]
    node: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Chain and node status: height, last block, mempool.
    Status,
    /// Put a record (or its next version) from plaintext through your node's gateway: the
    /// node seals each field, wraps the keys to the owner, the schema's auditors, the
    /// record's current readers and --reader organisations, signs and submits.
    PutRecord(PutArgs),
    /// Read a record through your node's gateway: the fields your organisation may read,
    /// decrypted; the others marked not authorised.
    ReadRecord {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// The record id.
        #[arg(long)]
        record: String,
        /// The version (default: latest).
        #[arg(long)]
        version: Option<u32>,
        /// Only these fields (repeatable; default: all).
        #[arg(long = "field")]
        fields: Vec<String>,
    },
    /// Let another organisation read some fields of your record (their current keys).
    Grant(AccessArgs),
    /// Withdraw an organisation's access to some fields: they are re-sealed under new keys
    /// in a new version it cannot read (it keeps what it could already read).
    Revoke(AccessArgs),
    /// Prove a relation between committed amounts your organisation can read (in your own
    /// or others' records) and file it on the ledger: equal, sum (the first operand is the
    /// sum of the others) or at-most (the first is at most the second).
    CrossCheck {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// equal, sum or at-most.
        #[arg(long)]
        relation: String,
        /// An operand as RECORD[@VERSION]:FIELD (repeatable, in the relation's order).
        #[arg(long = "operand", required = true)]
        operands: Vec<String>,
    },
    /// Put a trade document (purchase order, delivery note, invoice) into a record of a
    /// document schema: sealed in its `document` field, committed with Poseidon.
    PutDocument(DocumentArgs),
    /// Prove in zero knowledge (Groth16) that an invoice's line totals are price x
    /// quantity and its total their sum, and, given its order and delivery note, that it
    /// bills the ordered prices and the delivered quantities; file the check on the ledger.
    ProveInvoice {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// The invoice record, RECORD[@VERSION].
        #[arg(long)]
        invoice: String,
        /// Its purchase order, RECORD[@VERSION].
        #[arg(long, requires = "delivery")]
        order: Option<String>,
        /// Its delivery note, RECORD[@VERSION].
        #[arg(long, requires = "order")]
        delivery: Option<String>,
    },
    /// Request financing of an invoice you can read: files its receivable nullifier with a
    /// zero-knowledge proof; the ledger refuses a second financing of the same receivable.
    RequestFinancing {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// The invoice record, RECORD[@VERSION].
        #[arg(long)]
        invoice: String,
    },
    /// Members: endorse a statement on a topic anonymously, as "one of the member banks".
    /// Your ring key (sealed by your HSM) signs for the whole member ring; the ledger
    /// accepts one endorsement per member per topic and never learns whose it is.
    Endorse {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// The topic (an alert, a ballot, a proposal), e.g. alert.INV-2026-001.
        #[arg(long)]
        topic: String,
        /// The statement endorsed (its hash goes on the ledger; for a ballot, the choice).
        #[arg(long, required_unless_present = "statement_hash")]
        statement: Option<String>,
        /// Or the statement's 32-byte hash, in hex.
        #[arg(long, conflicts_with = "statement")]
        statement_hash: Option<String>,
        /// Only sign: print the transaction (hex) instead of submitting it through your
        /// node, to submit it through another one (`ledger submit-tx`), so that your
        /// node's traffic does not tell that your bank endorsed.
        #[arg(long)]
        sign_only: bool,
    },
    /// Submit a signed transaction (hex, or - to read it from standard input) to the node
    /// given by --node, and wait up to 30 s for its block.
    SubmitTx {
        /// The transaction's canonical bytes in hex, or - for standard input.
        tx: String,
    },
    /// The anonymous endorsements of a topic: how many, the tally per statement, and each
    /// one's block and key image (which stands for one member on this topic without
    /// saying which).
    Endorsements {
        /// The topic.
        #[arg(long)]
        topic: String,
        /// A statement text to show by name instead of its hash (repeatable).
        #[arg(long)]
        statement: Vec<String>,
    },
    /// Regulators: the sum of a committed amount field over records, decrypted with your
    /// audit key (sealed by your HSM); no single amount is revealed. Every record added
    /// is written to your audit log.
    AuditSum {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// The committed field (for example total).
        #[arg(long)]
        field: String,
        /// A record as RECORD[@VERSION] (repeatable; latest version by default).
        #[arg(long = "record", required = true)]
        records: Vec<String>,
        /// Search the sum below 2^BITS (1 to 44; larger costs more time).
        #[arg(long, default_value_t = 32)]
        max_bits: u32,
    },
    /// A record version as every node stores it (latest by default): sealed fields, who
    /// holds a key wrap of each, audit alerts. No plaintext.
    GetRecord {
        /// The record id.
        #[arg(long)]
        record: String,
        /// The version (default: latest).
        #[arg(long)]
        version: Option<u32>,
    },
    /// Register a record schema (or its next version): typed fields and the regulators
    /// that must be able to read its records.
    RegisterSchema(SchemaArgs),
    /// The access history of a record: who was given or denied which fields, when.
    Grants {
        /// The record id.
        #[arg(long)]
        record: String,
    },
    /// A schema version (latest by default).
    GetSchema {
        /// The schema id.
        #[arg(long)]
        schema: String,
        /// The version (default: latest).
        #[arg(long)]
        version: Option<u32>,
    },
    /// A transaction by hash, with its status.
    GetTx {
        /// The transaction hash (hex).
        hash: String,
    },
    /// A block by height (default: latest).
    GetBlock {
        /// The height.
        #[arg(long)]
        height: Option<u64>,
    },
    /// Print blocks as they are committed, from a height on.
    Follow {
        /// First height to print (default: the next block).
        #[arg(long)]
        from: Option<u64>,
        /// Stop after this many blocks.
        #[arg(long)]
        count: Option<u64>,
    },
    /// A member of the directory.
    Member {
        /// The organisation id.
        org: String,
    },
    /// Load generator: submit signed PutRecord transactions and report committed tx/s and
    /// commit latency percentiles.
    Load(load::LoadArgs),
    /// Gateway load generator: concurrent puts of multi-field records from plaintext
    /// through your node's gateway, then timed single-field reads; reports encrypted
    /// fields/s and read latency percentiles.
    GatewayLoad(gwload::GatewayLoadArgs),
}

#[derive(Args)]
struct SchemaArgs {
    #[command(flatten)]
    gw: gateway::GatewayArgs,
    /// The schema id (or `schema` in --file).
    #[arg(long)]
    schema: Option<String>,
    /// The version to register (default: the next one).
    #[arg(long)]
    version: Option<u32>,
    /// A field as NAME:TYPE[:required]; TYPE is text, bytes, amount, date, identifier or
    /// enum=A|B|C (repeatable).
    #[arg(long = "field", value_name = "NAME:TYPE[:required]")]
    fields: Vec<String>,
    /// Read the schema from a TOML file instead (schema, auditors, [[field]] tables with
    /// name, type, values, required); see docs/encryption.md.
    #[arg(long, conflicts_with_all = ["fields", "auditors"])]
    file: Option<std::path::PathBuf>,
    /// A regulator that must be able to read every record (repeatable).
    #[arg(long = "auditor", value_name = "ORG")]
    auditors: Vec<String>,
    /// Make it a document schema (purchase-order, delivery-note or invoice): its records
    /// carry a sealed document and its Poseidon commitment (`ledger put-document`), which
    /// zero-knowledge checks and financing requests prove things about.
    #[arg(long, value_name = "KIND")]
    document: Option<String>,
}

#[derive(Args)]
struct DocumentArgs {
    #[command(flatten)]
    gw: gateway::GatewayArgs,
    /// The record id.
    #[arg(long)]
    record: String,
    /// The document schema (required for a new record).
    #[arg(long)]
    schema: Option<String>,
    /// The seller's identifier.
    #[arg(long)]
    seller: String,
    /// The buyer's identifier.
    #[arg(long)]
    buyer: String,
    /// The document number.
    #[arg(long)]
    number: String,
    /// The purchase order it refers to (delivery notes and invoices).
    #[arg(long, default_value = "")]
    reference: String,
    /// The issue date, YYYY-MM-DD.
    #[arg(long)]
    date: String,
    /// A line as PRICExQUANTITY[=TOTAL] in minor units (repeatable, in order; TOTAL
    /// defaults to PRICE x QUANTITY; a delivery note gives 0xQUANTITY).
    #[arg(long = "line", value_name = "PRICExQTY[=TOTAL]")]
    lines: Vec<String>,
    /// The document total (default: the sum of the line totals).
    #[arg(long)]
    total: Option<u64>,
    /// Another field of the schema as NAME=VALUE (repeatable).
    #[arg(long = "field", value_name = "NAME=VALUE")]
    fields: Vec<String>,
    /// An organisation that may read every field of this version (repeatable).
    #[arg(long = "reader", value_name = "ORG")]
    readers: Vec<String>,
}

#[derive(Args)]
struct PutArgs {
    #[command(flatten)]
    gw: gateway::GatewayArgs,
    /// The record id.
    #[arg(long)]
    record: String,
    /// The schema (required for a new record; a new version keeps the record's).
    #[arg(long)]
    schema: Option<String>,
    /// The schema version (default: latest).
    #[arg(long)]
    schema_version: Option<u32>,
    /// A field as NAME=VALUE (repeatable): amounts in minor units, dates YYYY-MM-DD,
    /// bytes in hex.
    #[arg(long = "field", value_name = "NAME=VALUE", required = true)]
    fields: Vec<String>,
    /// An organisation that may read every field of this version (repeatable).
    #[arg(long = "reader", value_name = "ORG")]
    readers: Vec<String>,
    /// Return once admitted, without waiting for the block.
    #[arg(long)]
    no_wait: bool,
}

#[derive(Args)]
struct AccessArgs {
    #[command(flatten)]
    gw: gateway::GatewayArgs,
    /// The record id.
    #[arg(long)]
    record: String,
    /// The organisation gaining or losing access.
    #[arg(long)]
    org: String,
    /// A field (repeatable).
    #[arg(long = "field", required = true)]
    fields: Vec<String>,
    /// Return once admitted, without waiting for the block.
    #[arg(long)]
    no_wait: bool,
}

/// A schema file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    schema: String,
    #[serde(default)]
    auditors: Vec<String>,
    #[serde(rename = "field")]
    fields: Vec<SchemaFileField>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFileField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    required: bool,
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
    let mut client = Client::connect(&cli.node).await?;
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
        Command::GetRecord { record, version } => {
            let r = client.record(&record, version).await?;
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
        }
        Command::Grants { record } => {
            let h = client.access_history(&record).await?;
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
        Command::RequestFinancing { gw, invoice } => {
            let mut gw = gw.connect().await?;
            let (invoice_id, version) = record_at_version(&invoice)?;
            let w = gw
                .request_financing(pb::FinancingRequest {
                    invoice_id,
                    version,
                    no_wait: false,
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
        Command::Load(a) => load::run(&cli.node, client, a).await?,
        Command::GatewayLoad(a) => gwload::run(&mut client, a).await?,
    }
    Ok(())
}

fn parse_hash(s: &str) -> Result<Hash, CliError> {
    Hash::from_hex(s).ok_or_else(|| CliError::Invalid(format!("{s:?} is not a 64-digit hex hash")))
}

fn print_block(b: &pb::BlockMessage) {
    if let Some(h) = &b.header {
        out!(
            "block {:>8}  {}  txs {:>6}  proposer {}  time {}  state {}",
            h.height,
            hex::encode(&h.hash),
            h.tx_count,
            h.proposer,
            h.timestamp_ms,
            hex::encode(&h.state_root)
        );
    }
}

fn print_tx(h: &Hash, t: &pb::GetTxResponse) {
    let status = match pb::TxStatus::try_from(t.status) {
        Ok(pb::TxStatus::Pending) => "pending".to_string(),
        Ok(pb::TxStatus::Committed) => {
            format!("committed at height {} index {}", t.height, t.index)
        }
        Ok(pb::TxStatus::Failed) => format!(
            "committed without effect at height {} index {}: {}",
            t.height, t.index, t.failure
        ),
        _ => "unknown".to_string(),
    };
    out!("tx      {h}");
    out!("kind    {} by {} nonce {}", t.kind, t.signer, t.nonce);
    out!("status  {status}");
}

/// Parses `NAME:TYPE[:required]`, TYPE one of text, bytes, amount, date, identifier,
/// enum=A|B|C.
fn parse_schema_field(spec: &str) -> Result<SchemaField, CliError> {
    let bad = |why: &str| {
        CliError::Invalid(format!(
            "field {spec:?}: {why}; expected NAME:TYPE[:required] with TYPE text, bytes, amount, date, identifier or enum=A|B|C"
        ))
    };
    let mut parts = spec.split(':');
    let name = FieldName::new(parts.next().unwrap_or_default()).map_err(|e| bad(&e.to_string()))?;
    let ty = match parts.next().ok_or_else(|| bad("no type"))? {
        "text" => FieldType::Text,
        "bytes" => FieldType::Bytes,
        "amount" => FieldType::Amount,
        "date" => FieldType::Date,
        "identifier" => FieldType::Identifier,
        t => match t.strip_prefix("enum=") {
            Some(values) => {
                let mut v: Vec<String> = values.split('|').map(str::to_string).collect();
                v.sort();
                v.dedup();
                FieldType::Enumeration(v)
            }
            None => return Err(bad(&format!("unknown type {t:?}"))),
        },
    };
    let (mut required, mut committed) = (false, false);
    for flag in parts {
        match flag {
            "required" if !required => required = true,
            "committed" if !committed => committed = true,
            other => return Err(bad(&format!("unknown or repeated flag {other:?}"))),
        }
    }
    Ok(SchemaField {
        name,
        ty,
        required,
        committed,
    })
}

/// Reads a schema file into (id, field specs, auditors).
fn schema_from_file(
    path: &std::path::Path,
) -> Result<(String, Vec<String>, Vec<String>), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Invalid(format!("reading {}: {e}", path.display())))?;
    let f: SchemaFile =
        toml::from_str(&text).map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))?;
    let specs = f
        .fields
        .iter()
        .map(|x| {
            let ty = if x.ty == "enum" || x.ty == "enumeration" {
                format!("enum={}", x.values.join("|"))
            } else {
                x.ty.clone()
            };
            if x.required {
                format!("{}:{ty}:required", x.name)
            } else {
                format!("{}:{ty}", x.name)
            }
        })
        .collect();
    Ok((f.schema, specs, f.auditors))
}

async fn register_schema(a: SchemaArgs) -> Result<(), CliError> {
    let (schema_name, field_specs, auditor_names) = match &a.file {
        Some(path) => schema_from_file(path)?,
        None => (
            a.schema.clone().ok_or_else(|| {
                CliError::Invalid("give --schema ID with --field specs, or --file".into())
            })?,
            a.fields.clone(),
            a.auditors.clone(),
        ),
    };
    if field_specs.is_empty() && a.document.is_none() {
        return Err(CliError::Invalid(
            "a schema needs at least one field".into(),
        ));
    }
    let schema = SchemaId::new(schema_name).map_err(|e| CliError::Invalid(e.to_string()))?;
    let mut fields = field_specs
        .iter()
        .map(|f| parse_schema_field(f))
        .collect::<Result<Vec<_>, _>>()?;
    fields.sort_by(|x, y| x.name.cmp(&y.name));
    let mut auditors = auditor_names
        .iter()
        .map(|o| OrgId::new(o.clone()).map_err(|e| CliError::Invalid(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    auditors.sort();
    auditors.dedup();
    let mut gw = a.gw.connect().await?;
    let w = gw
        .register_schema(pb::GatewaySchemaRequest {
            document: a.document.clone().unwrap_or_default(),
            schema_id: schema.to_string(),
            version: a.version,
            fields: fields
                .iter()
                .map(|f| pb::SchemaField {
                    name: f.name.to_string(),
                    r#type: f.ty.name().to_string(),
                    values: match &f.ty {
                        FieldType::Enumeration(v) => v.clone(),
                        _ => vec![],
                    },
                    required: f.required,
                    committed: f.committed,
                })
                .collect(),
            auditors: auditors.iter().map(ToString::to_string).collect(),
            no_wait: false,
        })
        .await?;
    out!(
        "schema {schema} version {} committed at height {} (tx {})",
        w.version,
        w.height,
        hex::encode(&w.tx_hash)
    );
    Ok(())
}

/// `NAME=VALUE` arguments as gateway field values.
fn field_values(args: &[String]) -> Result<Vec<pb::FieldValue>, CliError> {
    args.iter()
        .map(|f| {
            let (n, v) = f
                .split_once('=')
                .ok_or_else(|| CliError::Invalid(format!("field {f:?} must be NAME=VALUE")))?;
            Ok(pb::FieldValue {
                name: n.to_string(),
                value: v.to_string(),
            })
        })
        .collect()
}

/// `RECORD[@VERSION]` (version 0: the latest).
fn record_at_version(s: &str) -> Result<(String, u32), CliError> {
    match s.split_once('@') {
        Some((r, v)) => Ok((
            r.to_string(),
            v.parse::<u32>().ok().filter(|v| *v > 0).ok_or_else(|| {
                CliError::Invalid(format!("{s:?}: the version is a number from 1"))
            })?,
        )),
        None => Ok((s.to_string(), 0)),
    }
}
