//! The command line of `ledger`: its commands and flags, as `--help` shows them.

use clap::{Args, Parser, Subcommand};

use crate::{gateway, gwload, load};

#[derive(Parser)]
#[command(
    name = "ledger",
    version,
    about = "Command-line client of a confidential-ledger node (public gRPC API)"
)]
pub(crate) struct Cli {
    /// The node's gRPC address.
    #[arg(
        long,
        global = true,
        env = "LEDGER_NODE",
        default_value = "http://127.0.0.1:7100"
    )]
    pub(crate) node: String,
    #[command(flatten)]
    pub(crate) tls: crate::client::TlsArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Propose a governance action as your organisation (a governor), your yes vote cast
    /// with it: admit, suspend, reinstate or remove a member, set its roles, rotate its key
    /// after a loss, add or remove a validator, or change the governors and thresholds. It passes when the governors' yes votes reach the thresholds before
    /// its deadline, and is carried out in the block that passes it.
    Propose(ProposeArgs),
    /// Vote yes or no on an open proposal, as your organisation (a governor), once.
    Vote {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// The proposal number.
        #[arg(long)]
        proposal: u64,
        /// Vote yes.
        #[arg(long, conflicts_with = "no", required_unless_present = "no")]
        yes: bool,
        /// Vote no.
        #[arg(long)]
        no: bool,
        /// Return once admitted, without waiting for the block.
        #[arg(long)]
        no_wait: bool,
    },
    /// Replace one of your organisation's keys. Your node generates the new key (signing
    /// and encryption keys in its key provider, audit and ring keys sealed in its home)
    /// with the proof that it holds it, signs the rotation with the current signing key,
    /// and uses the new key once committed; the old one stays for what was made with it
    /// (older field wraps, former audit epochs). A validator's signing key is rotated
    /// outside the validator set. After losing the signing key, use --request-only and
    /// have governance carry it out (`ledger propose --rotate-key FILE`), then --adopt
    /// (or restart the node).
    RotateKey {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// Which key: signing, encryption, audit (regulators) or ring (members).
        #[arg(long)]
        kind: String,
        /// Only stage the new key and write the rotation request to FILE, for a governor
        /// to propose (`ledger propose --rotate-key FILE`).
        #[arg(long, value_name = "FILE", conflicts_with = "adopt")]
        request_only: Option<std::path::PathBuf>,
        /// Only adopt a staged key the ledger now holds (after governance rotated it).
        #[arg(long)]
        adopt: bool,
    },
    /// Withdraw your own open proposal.
    RevokeProposal {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// The proposal number.
        #[arg(long)]
        proposal: u64,
    },
    /// The governors, thresholds and proposals with their votes and status.
    Proposals {
        /// The first proposal listed.
        #[arg(long, default_value_t = 1)]
        from: u64,
    },
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
    /// Sellers: assign the receivable of your invoice to a bank. The invoice needs a
    /// committed linked check (prove-invoice with --order and --delivery); the request
    /// files the receivable's nullifier, derived from the delivered goods, with a
    /// zero-knowledge proof. The ledger refuses a second financing of the same goods
    /// however the invoice is rewritten, naming the first.
    RequestFinancing {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// The invoice record, RECORD[@VERSION].
        #[arg(long)]
        invoice: String,
        /// The bank the receivable is assigned to (a member bank you granted the invoice's
        /// document to).
        #[arg(long)]
        bank: String,
    },
    /// Banks and regulators: is a buyer's total financing, across every bank, above a
    /// limit? The amounts stay encrypted under the consortium's analytics key; validators
    /// compute and re-execute on ciphertexts; the analytics authority decrypts only the
    /// yes-or-no answer. Shows the computation's progress until answered (docs/fhe.md).
    ExposureQuery {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// The buyer (the organisation whose purchase orders were financed).
        #[arg(long)]
        buyer: String,
        /// The limit, in the amounts' minor units.
        #[arg(long)]
        limit: u64,
        /// Print the query id and return without waiting for the answer.
        #[arg(long)]
        no_wait: bool,
        /// How long to wait for the answer, in seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Banks and regulators: is the total of an `fhe` amount field over an organisation's
    /// records of a schema (the latest version of each) above a limit? Answered like
    /// exposure-query: on ciphertexts, yes or no only.
    FieldTotalQuery {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// The records' owner.
        #[arg(long)]
        owner: String,
        /// The schema.
        #[arg(long)]
        schema: String,
        /// The amount field, flagged fhe in the schema.
        #[arg(long)]
        field: String,
        /// The limit, in the field's minor units.
        #[arg(long)]
        limit: u64,
        /// Print the query id and return without waiting for the answer.
        #[arg(long)]
        no_wait: bool,
        /// How long to wait for the answer, in seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Banks and regulators: does any single bank hold more than a share of a buyer's
    /// financing? Answered like exposure-query: on ciphertexts, yes or no only.
    ConcentrationQuery {
        #[command(flatten)]
        gw: gateway::GatewayArgs,
        /// The buyer.
        #[arg(long)]
        buyer: String,
        /// The share, 1 to 99 percent.
        #[arg(long)]
        share: u32,
        /// Print the query id and return without waiting for the answer.
        #[arg(long)]
        no_wait: bool,
        /// How long to wait for the answer, in seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// An encrypted-analytics query: its question, results, validators' re-executions,
    /// acceptance and answer.
    AnalyticsQuery {
        /// The query id (the hash of the transaction that asked it, hex).
        #[arg(long)]
        query: String,
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
        /// List the record's audit alerts from this position (100 at a time).
        #[arg(long, default_value_t = 0)]
        alerts_from: u64,
        /// List the record's cross-checks from this position (100 at a time).
        #[arg(long, default_value_t = 0)]
        checks_from: u64,
    },
    /// Register a record schema (or its next version): typed fields and the regulators
    /// that must be able to read its records.
    RegisterSchema(SchemaArgs),
    /// The access history of a record: who was given or denied which fields, when.
    Grants {
        /// The record id.
        #[arg(long)]
        record: String,
        /// List the history from this position (0: the oldest event).
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Most events listed (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
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
pub(crate) struct SchemaArgs {
    #[command(flatten)]
    pub(crate) gw: gateway::GatewayArgs,
    /// The schema id (or `schema` in --file).
    #[arg(long)]
    pub(crate) schema: Option<String>,
    /// The version to register (default: the next one).
    #[arg(long)]
    pub(crate) version: Option<u32>,
    /// A field as NAME:TYPE[:required][:committed][:fhe]; TYPE is text, bytes, amount, date,
    /// identifier or enum=A|B|C; `committed` (amounts): a Pedersen commitment others can
    /// cross-check; `fhe` (amounts, chains with analytics): also encrypted for analytics
    /// questions (`ledger field-total-query`). Repeatable.
    #[arg(long = "field", value_name = "NAME:TYPE[:FLAGS]")]
    pub(crate) fields: Vec<String>,
    /// Read the schema from a TOML file instead (schema, auditors, [[field]] tables with
    /// name, type, values, required, committed, fhe); see docs/encryption.md.
    #[arg(long, conflicts_with_all = ["fields", "auditors"])]
    pub(crate) file: Option<std::path::PathBuf>,
    /// A regulator that must be able to read every record (repeatable).
    #[arg(long = "auditor", value_name = "ORG")]
    pub(crate) auditors: Vec<String>,
    /// Make it a document schema (purchase-order, delivery-note or invoice): its records
    /// carry a sealed document and its Poseidon commitment (`ledger put-document`), which
    /// zero-knowledge checks and financing requests prove things about.
    #[arg(long, value_name = "KIND")]
    pub(crate) document: Option<String>,
}

#[derive(Args)]
pub(crate) struct DocumentArgs {
    #[command(flatten)]
    pub(crate) gw: gateway::GatewayArgs,
    /// The record id.
    #[arg(long)]
    pub(crate) record: String,
    /// The document schema (required for a new record).
    #[arg(long)]
    pub(crate) schema: Option<String>,
    /// The seller: an organisation of the member directory (it writes the invoices).
    #[arg(long)]
    pub(crate) seller: String,
    /// The buyer: an organisation of the member directory (it writes the purchase orders,
    /// and may confirm a delivery itself).
    #[arg(long)]
    pub(crate) buyer: String,
    /// Delivery notes: the carrier, an organisation of the member directory (it writes
    /// the note). Leave it out when the buyer confirms the delivery.
    #[arg(long, default_value = "")]
    pub(crate) carrier: String,
    /// The document number.
    #[arg(long)]
    pub(crate) number: String,
    /// The purchase order it refers to (delivery notes and invoices).
    #[arg(long, default_value = "")]
    pub(crate) reference: String,
    /// The issue date, YYYY-MM-DD.
    #[arg(long)]
    pub(crate) date: String,
    /// A line as PRICExQUANTITY[=TOTAL] in minor units (repeatable, in order; TOTAL
    /// defaults to PRICE x QUANTITY; a delivery note gives 0xQUANTITY).
    #[arg(long = "line", value_name = "PRICExQTY[=TOTAL]")]
    pub(crate) lines: Vec<String>,
    /// The document total (default: the sum of the line totals).
    #[arg(long)]
    pub(crate) total: Option<u64>,
    /// Another field of the schema as NAME=VALUE (repeatable).
    #[arg(long = "field", value_name = "NAME=VALUE")]
    pub(crate) fields: Vec<String>,
    /// An organisation that may read every field of this version (repeatable).
    #[arg(long = "reader", value_name = "ORG")]
    pub(crate) readers: Vec<String>,
}

#[derive(Args)]
pub(crate) struct PutArgs {
    #[command(flatten)]
    pub(crate) gw: gateway::GatewayArgs,
    /// The record id.
    #[arg(long)]
    pub(crate) record: String,
    /// The schema (required for a new record; a new version keeps the record's).
    #[arg(long)]
    pub(crate) schema: Option<String>,
    /// The schema version (default: latest).
    #[arg(long)]
    pub(crate) schema_version: Option<u32>,
    /// A field as NAME=VALUE (repeatable): amounts in minor units, dates YYYY-MM-DD,
    /// bytes in hex.
    #[arg(long = "field", value_name = "NAME=VALUE", required = true)]
    pub(crate) fields: Vec<String>,
    /// An organisation that may read every field of this version (repeatable).
    #[arg(long = "reader", value_name = "ORG")]
    pub(crate) readers: Vec<String>,
    /// Return once admitted, without waiting for the block.
    #[arg(long)]
    pub(crate) no_wait: bool,
}

#[derive(Args)]
pub(crate) struct AccessArgs {
    #[command(flatten)]
    pub(crate) gw: gateway::GatewayArgs,
    /// The record id.
    #[arg(long)]
    pub(crate) record: String,
    /// The organisation gaining or losing access.
    #[arg(long)]
    pub(crate) org: String,
    /// A field (repeatable).
    #[arg(long = "field", required = true)]
    pub(crate) fields: Vec<String>,
    /// Return once admitted, without waiting for the block.
    #[arg(long)]
    pub(crate) no_wait: bool,
}

/// A governance proposal.
#[derive(clap::Args)]
pub(crate) struct ProposeArgs {
    #[command(flatten)]
    pub(crate) gw: gateway::GatewayArgs,
    /// Suspend this member: every validator refuses its transactions until reinstated.
    #[arg(long, group = "action")]
    pub(crate) suspend: Option<String>,
    /// Lift this member's suspension.
    #[arg(long, group = "action")]
    pub(crate) reinstate: Option<String>,
    /// Give this member the roles of --roles (the validator and member roles stay as they
    /// are: they change at a height, with their own actions).
    #[arg(long, group = "action", requires = "roles")]
    pub(crate) set_roles: Option<String>,
    /// The roles for --set-roles, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub(crate) roles: Vec<String>,
    /// Add this member to the validators, two heights after the proposal passes.
    #[arg(long, group = "action")]
    pub(crate) add_validator: Option<String>,
    /// With --add-validator: the new validator's consensus address, as its operator's
    /// `ledger-node peer-address` prints it (/ip4/.../tcp/.../p2p/<peer id>); the
    /// validators connect to that node, and accept its connections, once this passes.
    #[arg(long, requires = "add_validator")]
    pub(crate) p2p: Option<String>,
    /// With --add-validator: the new validator's public API address (http://host:port),
    /// recorded on the ledger so that followers and removed validators find the validators
    /// after the founding ones are gone.
    #[arg(long, requires = "add_validator")]
    pub(crate) api: Option<String>,
    /// Remove this validator, two heights after the proposal passes.
    #[arg(long, group = "action")]
    pub(crate) remove_validator: Option<String>,
    /// Remove this member for good: its transactions are refused, its ring key leaves the
    /// member ring, its keys and name are never registered again (a validator or governor
    /// is first removed from those places).
    #[arg(long, group = "action")]
    pub(crate) remove_member: Option<String>,
    /// Replace a member's key for it (after it lost its signing key, or while suspended):
    /// FILE holds its rotation request (`ledger-node rotate-key --request-only`).
    #[arg(long, group = "action", value_name = "FILE")]
    pub(crate) rotate_key: Option<std::path::PathBuf>,
    /// Admit the organisation whose join request (`ledger-node join-request`) is in FILE.
    #[arg(long, group = "action", value_name = "FILE")]
    pub(crate) admit: Option<std::path::PathBuf>,
    /// New governors as ORG=WEIGHT, comma-separated (with --quorum, --approval).
    #[arg(long, group = "action", value_delimiter = ',')]
    pub(crate) governors: Vec<String>,
    /// With --governors: the share of the total weight that must vote yes, in percent.
    #[arg(long, default_value_t = 67)]
    pub(crate) quorum: u32,
    /// With --governors: the share of the votes cast that must be yes, in percent.
    #[arg(long, default_value_t = 67)]
    pub(crate) approval: u32,
    /// With --governors: the longest a proposal may stay open, in blocks.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) max_open_blocks: u64,
    /// How many blocks the proposal stays open.
    #[arg(long, default_value_t = 100)]
    pub(crate) open_blocks: u64,
    /// Return once admitted, without waiting for the block.
    #[arg(long)]
    pub(crate) no_wait: bool,
}

/// A schema file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SchemaFile {
    pub(crate) schema: String,
    #[serde(default)]
    pub(crate) auditors: Vec<String>,
    #[serde(rename = "field")]
    pub(crate) fields: Vec<SchemaFileField>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SchemaFileField {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) ty: String,
    #[serde(default)]
    pub(crate) values: Vec<String>,
    #[serde(default)]
    pub(crate) required: bool,
    /// An amount committed with Pedersen (range-proven, cross-checkable).
    #[serde(default)]
    pub(crate) committed: bool,
    /// An amount also encrypted for analytics (tfhe).
    #[serde(default)]
    pub(crate) fhe: bool,
}
