//! Crash points: a validator dies (abort, as a power loss) at each durable step of the
//! consensus path — its block saved as proposer, a received block kept for the decision,
//! a decided block before and after the store's synced write, kept blocks pruned — and its
//! consensus write-ahead log torn in its last entry. After each, the validator starts
//! again, catches up, and every node holds the same chain with every write a client saw
//! committed. A garbled entry instead makes it refuse to start, naming the file, until the
//! operator moves it aside.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use ledger_api::v1 as pb;
use ledger_e2e::*;

/// The crash points of the consensus path (`ledger_consensus::LedgerApp::crash_point`).
const POINTS: &[&str] = &[
    "proposal-saved",
    "candidate-saved",
    "before-commit",
    "after-commit",
    "after-prune",
];

/// Where each entry of a Malachite WAL file starts, and the file's length: a 12-byte
/// header (version u32, sequence u64), then entries of a compression flag (1 byte), a
/// big-endian length (8), a CRC (4) and the data. A file not there (yet) holds none.
fn wal_entries(wal: &Path) -> (Vec<usize>, usize) {
    let bytes = std::fs::read(wal).unwrap_or_default();
    let mut at = 12;
    let mut starts = Vec::new();
    while at + 13 <= bytes.len() {
        let len = u64::from_be_bytes(bytes[at + 1..at + 9].try_into().unwrap()) as usize;
        if at + 13 + len > bytes.len() {
            break;
        }
        starts.push(at);
        at += 13 + len;
    }
    (starts, bytes.len())
}

/// Kills `v` (SIGKILL) at a moment its WAL holds entries, and returns them. The WAL
/// starts empty at each height and an idle height writes nothing until its proposal
/// arrives (the proposer waits for a transaction first), so this waits for an entry, and
/// starts the node and tries again when the height turned over between the look and the
/// kill.
async fn kill_holding_wal_entries(v: &mut TestNode, wal: &Path) -> (Vec<usize>, usize) {
    let holds = || !wal_entries(wal).0.is_empty();
    for _ in 0..30 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !holds() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        v.kill9();
        let (starts, len) = wal_entries(wal);
        if !starts.is_empty() {
            return (starts, len);
        }
        v.start(&[]).await;
    }
    panic!(
        "{}'s WAL held no entry at any of 30 kills:\n{}",
        v.org,
        v.log()
    );
}

/// Puts `n` records through val-1 and waits for each; returns their hashes.
async fn write(w: &Writer, node: &TestNode, nonce: &mut u64, n: usize) -> Vec<ledger_types::Hash> {
    let mut c = node.client().await;
    let mut out = Vec::new();
    for _ in 0..n {
        let tx = w.put(*nonce, &format!("r{nonce}"), 1, b"crash point");
        *nonce += 1;
        let h = submit(&mut c, &tx).await;
        let r = wait_committed(&mut c, &h).await;
        assert_eq!(r.status, pb::TxStatus::Committed as i32, "{}", r.failure);
        out.push(h);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_killed_at_each_durable_step_or_with_a_torn_wal_recovers() {
    let mut net = TestNet::new(4, 0);
    net.start_all(&[]).await;
    let w = {
        let v = &net.validators[0];
        Writer::setup(v.key(), &v.org, &mut v.client().await).await
    };
    let mut nonce = 2;
    let mut seen = write(&w, &net.validators[0], &mut nonce, 3).await;

    for point in POINTS {
        let v = &mut net.validators[1];
        v.stop();
        v.use_byzantine_binary();
        v.set_env("LEDGER_BYZANTINE", &format!("crash:{point}:3"));
        v.start(&[]).await;
        // Load while it runs and after it died: the other three go on.
        seen.extend(write(&w, &net.validators[0], &mut nonce, 4).await);
        let status = net.validators[1].wait_exit(60);
        assert_eq!(
            status.signal(),
            Some(6),
            "val-2 should have aborted at {point}: {status}\n{}",
            net.validators[1].log()
        );
        assert!(
            net.validators[1].log().contains("dying at a crash point"),
            "{}",
            net.validators[1].log()
        );
        seen.extend(write(&w, &net.validators[0], &mut nonce, 2).await);
        let v = &mut net.validators[1];
        v.use_shipped_binary();
        v.remove_env("LEDGER_BYZANTINE");
        v.start(&[]).await;
        let tip = height_of(&net.validators[0]).await;
        wait_for_height(&[&net.validators[1]], tip, 60).await;
        // And it signs again: it takes part in consensus, not only follows.
        wait_signed_by(&net.validators[0], "val-2", tip, 60).await;
    }

    // The consensus WAL of the height the validator was deciding cut inside its last
    // entry (a write torn by the power loss): it starts, replays what is whole and catches
    // up.
    let wal = net.validators[1].home.path().join("consensus/wal");
    let (starts, len) = kill_holding_wal_entries(&mut net.validators[1], &wal).await;
    let last = *starts.last().expect("the WAL holds entries");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes.truncate(last + (len - last) / 2);
    std::fs::write(&wal, &bytes).unwrap();
    seen.extend(write(&w, &net.validators[0], &mut nonce, 2).await);
    net.validators[1].start(&[]).await;
    let tip = height_of(&net.validators[0]).await;
    wait_for_height(&[&net.validators[1]], tip, 60).await;
    wait_signed_by(&net.validators[0], "val-2", tip, 60).await;
    assert!(
        !net.validators[1].log().contains("panicked"),
        "{}",
        net.validators[1].log()
    );

    // Its last entry's data garbled instead (a sector that did not make it): the entry may
    // be a vote it signed, so it refuses to start, naming the file and the height; once
    // the others committed that height, the operator moves the file aside and it catches
    // up and signs again.
    let (starts, len) = kill_holding_wal_entries(&mut net.validators[1], &wal).await;
    let last = *starts.last().expect("the WAL holds entries");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[last + 13 + (len - last - 13) / 2] ^= 0xff;
    std::fs::write(&wal, &bytes).unwrap();
    let wal_height = u64::from_be_bytes(bytes[4..12].try_into().unwrap());
    let (status, log) = net.validators[1].start_expecting_failure();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("consensus WAL") && log.contains(&format!("of height {wal_height}")),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(
        std::fs::read(&wal).unwrap(),
        bytes,
        "the damaged WAL is left as it was"
    );
    seen.extend(write(&w, &net.validators[0], &mut nonce, 2).await);
    assert!(height_of(&net.validators[0]).await >= wal_height);
    std::fs::rename(&wal, wal.with_extension("damaged")).unwrap();
    net.validators[1].start(&[]).await;
    let tip = height_of(&net.validators[0]).await;
    wait_for_height(&[&net.validators[1]], tip, 60).await;
    wait_signed_by(&net.validators[0], "val-2", tip, 60).await;

    // Every node holds the same chain, and every write the client saw committed.
    let tip = height_of(&net.validators[0]).await;
    let nodes: Vec<&TestNode> = net.validators.iter().collect();
    wait_for_height(&nodes, tip, 60).await;
    for h in 1..=tip {
        let first = block_hash_at(nodes[0], h).await;
        for n in &nodes[1..] {
            assert_eq!(block_hash_at(n, h).await, first, "{} at height {h}", n.org);
        }
    }
    for n in &nodes {
        let mut c = n.client().await;
        for h in &seen {
            let r = wait_committed(&mut c, h).await;
            assert_eq!(
                r.status,
                pb::TxStatus::Committed as i32,
                "{} lost {h}",
                n.org
            );
        }
    }
}
