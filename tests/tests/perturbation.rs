//! The default suite's perturbation run: `tests/perturb/short.toml` (four validators in
//! network namespaces where permitted, load throughout; kill, pause, a partition without a
//! quorum, a validator cut off and then another killed, byzantine proposers) through the
//! runner, and every checker green.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger_e2e::perturb::{self, Manifest};
use ledger_e2e::repo_path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_survive_kill_pause_partition_and_byzantine_proposers() {
    let manifest =
        Manifest::parse(&std::fs::read_to_string(repo_path("tests/perturb/short.toml")).unwrap())
            .unwrap();
    let out = tempfile::tempdir().unwrap();
    let report = perturb::run(
        &manifest,
        &perturb::Options {
            out: out.path().to_path_buf(),
        },
    )
    .await
    .unwrap();
    let text = report.text();
    println!("{text}");
    let logs = || {
        std::fs::read_dir(out.path().join("logs"))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| {
                let t = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = t.lines().rev().take(30).collect();
                format!(
                    "--- {}\n{}",
                    e.path().display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(report.ok, "{text}\n{}", logs());
    // The run did what it says: load committed, faults applied (network faults need
    // namespaces; on loopback they are reported skipped), a partition without quorum
    // timed.
    assert!(report.load.committed > 500, "{text}");
    assert!(report.height > 100, "{text}");
    for p in &report.perturbations {
        assert!(
            p.outcome == "applied" || p.outcome.starts_with("skipped: needs network namespaces"),
            "{text}"
        );
    }
    assert!(std::fs::read_to_string(out.path().join("report.json"))
        .unwrap()
        .contains("\"identical chains\""));
}
