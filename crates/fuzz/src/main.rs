//! `ledger-fuzz`: writes the seed corpora and runs the fuzz targets for as long as asked
//! (docs/fuzzing.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use sha2::Digest as _;

#[derive(Parser)]
#[command(about = "Fuzz every decoder that reads bytes from outside the node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the seed inputs (valid transactions, blocks, documents, proofs, messages)
    /// into the corpus folders, one file per input named by its SHA-256.
    Seed {
        /// The corpora folder (one subfolder per target).
        #[arg(long, default_value = "fuzz/corpus")]
        out: PathBuf,
    },
    /// Mutate each target's corpus for a while; stop at the first input that makes a
    /// target panic, writing it to the crashes folder (exit status 1).
    Run {
        /// Only this target (default: every target, in turn).
        #[arg(long)]
        target: Option<String>,
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// The first seed (runs are reproducible from it).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The corpora folder.
        #[arg(long, default_value = "fuzz/corpus")]
        corpus: PathBuf,
        /// Where a crashing input is written.
        #[arg(long, default_value = "fuzz/crashes")]
        crashes: PathBuf,
    },
    /// List the targets.
    List,
}

fn name_of(input: &[u8]) -> String {
    hex::encode(&sha2::Sha256::digest(input)[..8])
}

/// Every file of `dir` (missing: none).
fn read_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if let Ok(b) = std::fs::read(&p) {
                out.push(b);
            }
        }
    }
    out
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::List => {
            for (name, _) in ledger_fuzz::TARGETS {
                println!("{name}");
            }
            ExitCode::SUCCESS
        }
        Command::Seed { out } => {
            for (target, input) in ledger_fuzz::seeds() {
                let dir = out.join(target);
                if let Err(e) = std::fs::create_dir_all(&dir)
                    .and_then(|_| std::fs::write(dir.join(name_of(&input)), &input))
                {
                    eprintln!("error: writing the {target} seed in {}: {e}", dir.display());
                    return ExitCode::FAILURE;
                }
            }
            println!("seeds written to {}", out.display());
            ExitCode::SUCCESS
        }
        Command::Run {
            target,
            secs,
            seed,
            corpus,
            crashes,
        } => {
            let targets: Vec<_> = ledger_fuzz::TARGETS
                .iter()
                .filter(|(n, _)| target.as_deref().is_none_or(|t| t == *n))
                .collect();
            if targets.is_empty() {
                eprintln!("error: no target {target:?}; `ledger-fuzz list` names them");
                return ExitCode::FAILURE;
            }
            for t in targets {
                let inputs = read_corpus(&corpus.join(t.0));
                let started = Instant::now();
                let (mut runs, mut round) = (0u64, 0u64);
                while started.elapsed() < Duration::from_secs(secs) {
                    match ledger_fuzz::run(*t, &inputs, 1_000, seed.wrapping_add(round)) {
                        Ok(s) => runs += s.runs,
                        Err(c) => {
                            let path = crashes.join(format!("{}-{}", c.target, name_of(&c.input)));
                            let _ = std::fs::create_dir_all(&crashes);
                            let _ = std::fs::write(&path, &c.input);
                            eprintln!(
                                "CRASH in {}: {} (seed {}); input written to {}",
                                c.target,
                                c.message,
                                seed.wrapping_add(round),
                                path.display()
                            );
                            return ExitCode::FAILURE;
                        }
                    }
                    round += 1;
                }
                println!(
                    "{:<18} {runs} inputs in {:.0} s ({} in the corpus), no crash",
                    t.0,
                    started.elapsed().as_secs_f64(),
                    inputs.len()
                );
            }
            ExitCode::SUCCESS
        }
    }
}
