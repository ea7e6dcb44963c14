//! A node started as a process keeps what it committed across a clean restart.

use ledger_api::v1 as pb;
use ledger_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_records_blocks_and_nonces() {
    let mut node = TestNode::init("bank-a");
    node.start(&[]).await;
    let mut c = node.client().await;
    let writer = Writer::setup(node.key(), &node.org, &mut c).await;

    let mut hashes = Vec::new();
    for i in 0..40u64 {
        let tx = writer.put(
            2 + i,
            &format!("inv-{}", i % 20),
            1 + (i / 20) as u32,
            format!("amount {i}").as_bytes(),
        );
        hashes.push(submit(&mut c, &tx).await);
    }
    for h in &hashes {
        let r = wait_committed(&mut c, h).await;
        assert_eq!(r.status, pb::TxStatus::Committed as i32, "{}", r.failure);
    }
    let before = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let chain_before = walk_chain(&mut c).await;
    let mut records_before = Vec::new();
    for i in 0..20 {
        for version in [Some(1), None] {
            records_before.push(
                c.get_record(pb::GetRecordRequest {
                    record_id: format!("inv-{i}"),
                    version,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner(),
            );
        }
    }

    let status = node.stop();
    assert!(status.success(), "clean shutdown exits 0: {status}");
    assert!(
        node.log().contains("node stopped cleanly"),
        "{}",
        node.log()
    );

    node.start(&[]).await;
    assert!(
        node.log().contains("stored chain verified"),
        "{}",
        node.log()
    );
    let mut c = node.client().await;
    let after = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(after.height >= before.height);
    assert_eq!(after.genesis_hash, before.genesis_hash);
    let chain_after = walk_chain(&mut c).await;
    assert_eq!(
        &chain_after[..chain_before.len()],
        &chain_before[..],
        "blocks unchanged"
    );

    let mut i = 0;
    for r in 0..20 {
        for version in [Some(1), None] {
            let after = c
                .get_record(pb::GetRecordRequest {
                    record_id: format!("inv-{r}"),
                    version,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(after, records_before[i], "inv-{r} {version:?} unchanged");
            assert_eq!(after.version, version.unwrap_or(2));
            i += 1;
        }
    }
    for h in &hashes {
        let r = c
            .get_tx(pb::GetTxRequest {
                tx_hash: h.0.to_vec(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, pb::TxStatus::Committed as i32);
    }
    // Neither start logged the key store passphrase.
    for n in 1..=2 {
        let log = std::fs::read_to_string(node.log_path(n)).unwrap();
        assert!(!log.is_empty());
        assert!(
            !log.contains(TEST_PASSPHRASE),
            "start {n} logged the passphrase"
        );
    }

    // The nonce sequence continues where it stopped.
    let m = c
        .get_member(pb::GetMemberRequest {
            org: "bank-a".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.next_nonce, 42);
    let tx = writer.put(42, "after-restart", 1, b"x");
    let h = submit(&mut c, &tx).await;
    assert_eq!(
        wait_committed(&mut c, &h).await.status,
        pb::TxStatus::Committed as i32
    );
}
