//! Recovery without a restart: a gateway whose submitted transaction was lost before it
//! committed goes on writing, because its writer takes nonces from the mempool that holds
//! its submissions, not from a count of its own.

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
