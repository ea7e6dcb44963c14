//! Recovery from what crashes and operators leave behind: a gateway whose submitted
//! transaction was lost before it committed goes on writing (its writer takes nonces from
//! the mempool that holds its submissions); a regulator whose audit log was torn starts; a
//! validator that lost a decided block between decision and commit fetches it from its
//! peers; a validator restored from an older copy of its data follows without signing
//! until it is past the heights it signed, then signs again.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use ledger_api::v1 as pb;
use ledger_e2e::*;

const BLOCK_TIME: &[&str] = &["--block-time-ms", "30"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_write_lost_before_commit_does_not_block_the_next_one() {
    // Four validators and a member bank that follows val-1 and writes through its own
    // gateway (its transactions are forwarded to val-1's mempool).
    let mut net = TestNet::with_observer_roles(4, 1, "member");
    net.start_all(BLOCK_TIME).await;
    let mut gw = net.observers[0].gateway().await;
    let schema = pb::GatewaySchemaRequest {
        document: String::new(),
        schema_id: "note".into(),
        version: None,
        fields: vec![pb::SchemaField {
            name: "text".into(),
            r#type: "text".into(),
            required: true,
            ..Default::default()
        }],
        auditors: vec![],
        no_wait: false,
    };
    gw.register_schema(schema).await.unwrap();
    gw.put("before", "note", &[("text", "committed")], &[])
        .await
        .unwrap();

    // Without a quorum the next write waits in the mempools of val-1 (which took it) and
    // val-2 (its relay); both are then killed, and the transaction is gone.
    assert!(net.validators[2].stop().success());
    assert!(net.validators[3].stop().success());
    let lost = gw
        .put_with("lost", "note", &[("text", "never committed")], &[], true)
        .await
        .unwrap();
    assert!(!lost.committed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    net.validators[0].kill9();
    net.validators[1].kill9();
    for v in &mut net.validators {
        v.start(BLOCK_TIME).await;
    }
    let all: Vec<&TestNode> = net.nodes().collect();
    let target = height_of(&net.validators[0]).await + 3;
    wait_for_height(&all, target, 60).await;

    // The gateway's next write takes the freed nonce and commits, without a restart.
    let next = tokio::time::timeout(
        Duration::from_secs(25),
        gw.put(
            "after",
            "note",
            &[("text", "committed after the loss")],
            &[],
        ),
    )
    .await
    .expect("the write after the lost one did not commit: it waits behind a nonce gap")
    .unwrap();
    assert!(next.committed);
    let mut c = net.validators[0].client().await;
    let lost_hash = ledger_types::Hash::from_slice(&lost.tx_hash).unwrap();
    let r = c
        .get_tx(pb::GetTxRequest {
            tx_hash: lost_hash.0.to_vec(),
        })
        .await;
    let status = r.expect_err("the lost transaction is neither pending nor committed");
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regulator_whose_audit_log_was_torn_by_a_crash_starts_and_says_so() {
    // A single-node chain whose one organisation validates and regulates.
    let mut reg = TestNode::init_with(
        "reg-eu",
        &["--roles", "validator,regulator"],
        vec![("LEDGER_KEY_PASSPHRASE".into(), TEST_PASSPHRASE.into())],
    );
    reg.start(&[]).await;
    assert!(reg.stop().success());
    // A crash while an entry was being written leaves part of a line at the end.
    let log = reg.home.path().join("audit/audit.log");
    let torn = br#"{"seq":1,"read":{"time_ms":17961"#;
    let mut bytes = std::fs::read(&log).unwrap();
    let intact = bytes.clone();
    bytes.extend_from_slice(torn);
    std::fs::write(&log, &bytes).unwrap();

    reg.start(&[]).await;
    let text = reg.log();
    assert!(
        text.contains("cut short by a crash") && text.contains(&format!("bytes={}", torn.len())),
        "{text}"
    );
    assert_eq!(std::fs::read(&log).unwrap(), intact);
    let set_aside: Vec<_> = std::fs::read_dir(log.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("audit.log.torn-")
        })
        .collect();
    assert_eq!(set_aside.len(), 1);
    assert_eq!(std::fs::read(set_aside[0].path()).unwrap(), torn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_that_lost_a_decided_block_in_a_crash_recovers_it_from_its_peers() {
    // val-4 runs the test build that, on the decision at height 4, deletes the block it
    // kept for it and dies before committing: a power loss between decision and commit.
    let mut net = TestNet::new(4, 0);
    net.validators[3].use_byzantine_binary();
    net.validators[3].set_env("LEDGER_BYZANTINE", "lose-decided-block:4");
    net.start_all(BLOCK_TIME).await;
    let status = net.validators[3].wait_exit(60);
    assert!(!status.success(), "the test hook aborts the process");
    assert!(
        net.validators[3].log().contains("losing the decided block"),
        "{}",
        net.validators[3].log()
    );
    // Still the shipped binary's path from here: its WAL names a decision whose block it
    // no longer holds.
    let others: Vec<&TestNode> = net.validators[..3].iter().collect();
    wait_for_height(&others, 8, 60).await;
    net.validators[3].use_shipped_binary();
    net.validators[3].start(BLOCK_TIME).await;
    let target = height_of(&net.validators[0]).await;
    wait_for_height(&[&net.validators[3]], target, 60).await;
    for h in 1..=target {
        assert_eq!(
            block_hash_at(&net.validators[3], h).await,
            block_hash_at(&net.validators[0], h).await,
            "height {h}"
        );
    }
    wait_signed_by(&net.validators[0], "val-4", target, 60).await;
    let log = net.validators[3].log();
    assert!(
        log.contains("recovered the decided block from a peer"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_restored_from_an_older_copy_follows_without_signing_then_signs_again() {
    let mut net = TestNet::new(4, 0);
    net.start_all(BLOCK_TIME).await;
    let all: Vec<&TestNode> = net.validators.iter().collect();
    wait_for_height(&all, 3, 60).await;
    // The operator's backup of val-4's chain data, taken while it was stopped.
    let backup = tempfile::tempdir().unwrap();
    net.validators[3].stop();
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        let out = std::process::Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    copy(&net.validators[3].data_dir(), backup.path());
    let backed_up = {
        net.validators[3].start(BLOCK_TIME).await;
        height_of(&net.validators[3]).await
    };
    // val-4 goes on signing for a while, then its disk fails; the backup is restored
    // (its consensus signing guard, which lives apart from the chain data, is not).
    let all: Vec<&TestNode> = net.validators.iter().collect();
    wait_for_height(&all, backed_up + 15, 60).await;
    let signed = wait_signed_by(&net.validators[0], "val-4", backed_up + 5, 60).await;
    net.validators[3].kill9();
    std::fs::remove_dir_all(net.validators[3].data_dir()).unwrap();
    copy(&backup.path().join("data"), net.validators[3].home.path());
    net.validators[3].start(BLOCK_TIME).await;
    let target = height_of(&net.validators[0]).await;
    wait_for_height(&[&net.validators[3]], target, 60).await;
    // Reaching the others' height, it starts consensus: the line may come a moment after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut log = net.validators[3].log();
    while !log.contains("taking part in consensus again") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        log = net.validators[3].log();
    }
    assert!(
        log.contains("following the other validators without signing"),
        "{log}"
    );
    assert!(log.contains("taking part in consensus again"), "{log}");
    assert!(!log.contains("consensus signing refused"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    for h in [1, backed_up, signed, target] {
        assert_eq!(
            block_hash_at(&net.validators[3], h).await,
            block_hash_at(&net.validators[0], h).await,
            "height {h}"
        );
    }
    wait_signed_by(&net.validators[0], "val-4", target, 60).await;
}
