//! Size limits that agree end to end: whatever the mempools hold when consensus resumes,
//! blocks are cut to what a proposal part, a gossip message and a sync response carry, so
//! the chain keeps committing and a validator that was down catches up through sync.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use ledger_api::v1 as pb;
use ledger_e2e::*;

const BLOCK_TIME: &[&str] = &["--block-time-ms", "30"];
/// Malachite's default gossip limit, which `[consensus] gossip_max_bytes` keeps.
const GOSSIP_LIMIT: usize = 4 * 1024 * 1024;
/// A record close to the largest transaction the mempool admits (64 KiB).
const RECORD_BYTES: usize = 60_000;

async fn mempool_txs(node: &TestNode) -> u64 {
    let mut c = node.client().await;
    c.get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .mempool_txs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_ten_times_the_gossip_limit_drains_once_quorum_returns() {
    let mut net = TestNet::new(4, 0);
    net.start_all(BLOCK_TIME).await;
    {
        let first = &net.validators[0];
        let mut c = first.client().await;
        Writer::setup(first.key(), &first.org, &mut c).await;
    }
    // Quorum lost: two of four validators stop.
    assert!(net.validators[2].stop().success());
    assert!(net.validators[3].stop().success());

    // More than ten gossip messages' worth of large records wait in the two mempools.
    let per_signer = (10 * GOSSIP_LIMIT / RECORD_BYTES / 2 + 1) as u64;
    let mut pending = Vec::new();
    for (i, first_nonce) in [(0usize, 2u64), (1, 1)] {
        let node = &net.validators[i];
        let mut c = node.client().await;
        let w = Writer::join(node.key(), &node.org, &mut c).await;
        for n in first_nonce..first_nonce + per_signer {
            let value = vec![(n % 251) as u8; RECORD_BYTES];
            let tx = w.put(n, &format!("{}-scan-{n}", node.org), 1, &value);
            pending.push(submit(&mut c, &tx).await);
        }
    }
    let queued = pending.len() * RECORD_BYTES;
    assert!(queued > 10 * GOSSIP_LIMIT, "{queued} bytes queued");

    // Quorum back (val-4 stays down): every mempool drains within a minute.
    net.validators[2].start(BLOCK_TIME).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut left = 0;
        for v in &net.validators[..3] {
            left += mempool_txs(v).await;
        }
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} transactions still wait a minute after quorum returned:\n{}",
            net.validators[0].log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut c = net.validators[0].client().await;
    let mut largest = 0;
    for h in &pending {
        let r = wait_committed(&mut c, h).await;
        assert_eq!(r.status, pb::TxStatus::Committed as i32, "{}", r.failure);
        let b = c
            .get_block(pb::GetBlockRequest {
                height: Some(r.height),
            })
            .await
            .unwrap()
            .into_inner();
        largest = largest.max(b.block.len());
    }
    assert!(
        largest > GOSSIP_LIMIT,
        "a block larger than one gossip message was committed ({largest} bytes)"
    );

    // The validator that was down catches up through sync, largest block included.
    net.validators[3].start(BLOCK_TIME).await;
    let target = height_of(&net.validators[0]).await + 3;
    let all: Vec<&TestNode> = net.validators.iter().collect();
    wait_for_height(&all, target, 90).await;
    for h in 1..=target {
        let reference = block_hash_at(all[0], h).await;
        for n in &all[1..] {
            assert_eq!(block_hash_at(n, h).await, reference, "height {h}");
        }
    }
}
