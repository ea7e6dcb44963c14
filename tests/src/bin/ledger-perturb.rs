//! `ledger-perturb`: runs a network of validators through faults and checks what every
//! node holds afterwards. See docs/reliability.md.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use ledger_e2e::perturb::{self, Manifest, Placement};

/// Runs real validator processes (as separate hosts in network namespaces when this
/// machine permits, on loopback otherwise) under load while killing, pausing,
/// partitioning, restarting, filling disks, skewing clocks, resetting data and turning
/// validators byzantine on a schedule; then checks that every node holds the same blocks
/// and state roots, that every commit a client saw is everywhere, that the chain moved
/// within 10 s whenever a quorum was up, and that no node panicked. Writes report.json and
/// report.txt. Needs root for namespaces and small disks; binaries from
/// `cargo build --workspace`.
#[derive(Parser)]
#[command(name = "ledger-perturb", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a manifest (TOML: validators, duration_secs, load_tps, placement and
    /// [[perturbation]] tables; see tests/perturb/*.toml).
    Run {
        /// The manifest.
        manifest: PathBuf,
        /// Where logs and the report go.
        #[arg(long, default_value = "perturb-out")]
        out: PathBuf,
        /// Overrides the manifest's placement: auto, namespaces or loopback.
        #[arg(long)]
        placement: Option<String>,
    },
    /// A soak: every kind of perturbation, one after another, for N minutes.
    Soak {
        /// Minutes of faults and load.
        #[arg(long, default_value_t = 10)]
        minutes: u64,
        /// Validators.
        #[arg(long, default_value_t = 7)]
        validators: usize,
        /// Transactions offered per second.
        #[arg(long, default_value_t = 40)]
        load_tps: u32,
        /// Seed of the schedule (the same seed, the same schedule).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where logs and the report go.
        #[arg(long, default_value = "perturb-out")]
        out: PathBuf,
        /// Prints the schedule as a manifest and exits.
        #[arg(long)]
        print: bool,
    },
}

fn placement(s: &str) -> Result<Placement, String> {
    match s {
        "auto" => Ok(Placement::Auto),
        "namespaces" => Ok(Placement::Namespaces),
        "loopback" => Ok(Placement::Loopback),
        other => Err(format!(
            "placement {other:?}: one of auto, namespaces, loopback"
        )),
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let (manifest, out) = match cli.command {
        Command::Run {
            manifest,
            out,
            placement: p,
        } => {
            let text = match std::fs::read_to_string(&manifest) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {}: {e}", manifest.display());
                    std::process::exit(2);
                }
            };
            let mut m = match Manifest::parse(&text) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("error: {}: {e}", manifest.display());
                    std::process::exit(2);
                }
            };
            if let Some(p) = p {
                match placement(&p) {
                    Ok(p) => m.placement = p,
                    Err(e) => {
                        eprintln!("error: {e}");
                        std::process::exit(2);
                    }
                }
            }
            (m, out)
        }
        Command::Soak {
            minutes,
            validators,
            load_tps,
            seed,
            out,
            print,
        } => {
            let m = Manifest::soak(minutes, validators, load_tps, seed);
            if print {
                match toml::to_string(&m) {
                    Ok(t) => println!("{t}"),
                    Err(e) => eprintln!("error: {e}"),
                }
                return;
            }
            (m, out)
        }
    };
    match perturb::run(&manifest, &perturb::Options { out: out.clone() }).await {
        Ok(report) => {
            println!("{}", report.text());
            println!("report: {}", out.join("report.json").display());
            if !report.ok {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
