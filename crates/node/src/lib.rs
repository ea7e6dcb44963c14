//! `ledger-node`, the confidential-ledger node daemon, as a library its binary (and the
//! test-only misbehaving build in `tests/byzantine`) calls.
//!
//! `init` creates a node home (configuration, genesis, keys); `start` runs the node: it
//! checks the stored chain and its keys, then runs its block driver and serves the public
//! ledger API and the organisation's gateway until SIGINT or SIGTERM. This crate only
//! wires `ledger-home`, `ledger-core` and `ledger-rpc` together; it never logs key
//! material.

pub mod admin;
pub mod ceremony;
pub mod cli;
pub mod init;
pub mod run;

use clap::Parser;

pub use run::Hooks;

/// Parses the command line, runs the command, and exits with status 1 and the error on
/// standard error if it fails.
pub fn main_with(hooks: Hooks) {
    use cli::Command;
    let cli = cli::Cli::parse();
    let result = match cli.command {
        Command::Init(a) => init::init(a),
        Command::Start(a) => run::start(a, hooks),
        Command::Keys { home } => admin::list_keys(&home),
        Command::JoinRequest { home, out } => admin::join_request(&home, &out),
        Command::RotateKey { home, kind, out } => admin::rotation_request(&home, &kind, &out),
        Command::GenesisMerge { out, inputs } => admin::genesis_merge(&out, &inputs),
        Command::GatewayClient { command } => admin::gateway_client(command),
        Command::Connect {
            validators,
            observers,
            joining,
        } => admin::connect(&validators, &observers, &joining),
        Command::PeerAddress { home } => admin::peer_address(&home),
        Command::AuditLog { home, verify_only } => admin::audit_log(&home, verify_only),
        Command::CircuitSetup { out, dev } => admin::circuit_setup(&out, dev),
        Command::Ceremony { command } => ceremony::run(command),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        tracing::error!(error = %e, "node stopped");
        std::process::exit(1);
    }
}
