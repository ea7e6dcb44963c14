//! Four validators running Malachite consensus as separate processes over loopback TCP,
//! with an observer following them: they agree at every height under load, survive a
//! `kill -9` of one validator, halt without a quorum and resume with it, and lose no
//! acknowledged transaction.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use ledger_api::v1 as pb;
use ledger_e2e::*;

/// Fast heights for tests: consensus waits at least this long per height.
const BLOCK_TIME: &[&str] = &["--block-time-ms", "30"];

/// Registers schema `payload` with val-1's key (its nonce 1).
async fn register_schema(net: &TestNet) {
    let first = &net.validators[0];
    let mut c = first.client().await;
    Writer::setup(first.key(), &first.org, &mut c).await;
}

/// Submits `count` records signed by validator `i`'s org to its own node, from nonce
/// `first`; returns the hashes.
async fn submit_from(net: &TestNet, i: usize, first: u64, count: u64) -> Vec<ledger_types::Hash> {
    let node = &net.validators[i];
    let mut c = node.client().await;
    let w = Writer::join(node.key(), &node.org, &mut c).await;
    let mut out = Vec::new();
    for n in first..first + count {
        let tx = w.put(n, &format!("{}-r{n}", node.org), 1, b"consensus test");
        out.push(submit(&mut c, &tx).await);
    }
    out
}

async fn assert_same_chain(nodes: &[&TestNode], up_to: u64) {
    for h in 1..=up_to {
        let reference = block_hash_at(nodes[0], h).await;
        for n in &nodes[1..] {
            assert_eq!(
                block_hash_at(n, h).await,
                reference,
                "{} and {} differ at height {h}",
                nodes[0].org,
                n.org
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_and_an_observer_agree_at_every_height_under_load() {
    let mut net = TestNet::new(4, 1);
    net.start_all(BLOCK_TIME).await;
    register_schema(&net).await;
    // Every validator's organisation submits to its own node; relays spread the work.
    let mut hashes = Vec::new();
    for round in 0..3u64 {
        for i in 0..4 {
            let first = if i == 0 { 2 } else { 1 } + round * 50;
            hashes.extend(submit_from(&net, i, first, 50).await);
        }
    }
    let mut c = net.validators[2].client().await;
    for h in &hashes {
        let r = wait_committed(&mut c, h).await;
        assert_eq!(r.status, pb::TxStatus::Committed as i32, "{}", r.failure);
    }
    let nodes: Vec<&TestNode> = net.nodes().collect();
    wait_for_height(&nodes, 200, 120).await;
    assert_same_chain(&nodes, 200).await;
    // Every validator proposed some of those blocks.
    let mut proposers = std::collections::BTreeSet::new();
    for h in 1..=200 {
        let b = net.validators[0]
            .client()
            .await
            .get_block(pb::GetBlockRequest { height: Some(h) })
            .await
            .unwrap()
            .into_inner();
        proposers.insert(b.header.unwrap().proposer);
    }
    assert_eq!(proposers.len(), 4, "{proposers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_validator_rejoins_and_the_chain_never_stops() {
    let mut net = TestNet::new(4, 0);
    net.start_all(BLOCK_TIME).await;
    register_schema(&net).await;
    let before = submit_from(&net, 1, 1, 40).await;
    net.validators[3].kill9();
    let h_kill = height_of(&net.validators[0]).await;
    // The other three keep deciding, with transactions.
    let during = submit_from(&net, 1, 41, 40).await;
    let mut c = net.validators[0].client().await;
    for h in before.iter().chain(during.iter()) {
        assert_eq!(
            wait_committed(&mut c, h).await.status,
            pb::TxStatus::Committed as i32
        );
    }
    let live: Vec<&TestNode> = net.validators[..3].iter().collect();
    wait_for_height(&live, h_kill + 30, 60).await;
    // Restarted, it replays its WAL, catches up through sync and agrees.
    net.validators[3].start(BLOCK_TIME).await;
    let target = height_of(&net.validators[0]).await + 10;
    let all: Vec<&TestNode> = net.validators.iter().collect();
    wait_for_height(&all, target, 60).await;
    assert_same_chain(&all, target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_quorum_the_chain_halts_and_resumes_losing_nothing() {
    let mut net = TestNet::new(4, 0);
    net.start_all(BLOCK_TIME).await;
    register_schema(&net).await;
    assert!(net.validators[2].stop().success());
    assert!(net.validators[3].stop().success());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let halted = height_of(&net.validators[0]).await;
    // A transaction acknowledged while the chain is halted.
    let pending = submit_from(&net, 1, 1, 5).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        height_of(&net.validators[0]).await <= halted + 1,
        "two of four validators cannot decide"
    );
    net.validators[2].start(BLOCK_TIME).await;
    net.validators[3].start(BLOCK_TIME).await;
    let mut c = net.validators[1].client().await;
    for h in &pending {
        let r = wait_committed(&mut c, h).await;
        assert_eq!(r.status, pb::TxStatus::Committed as i32, "{}", r.failure);
    }
    let all: Vec<&TestNode> = net.validators.iter().collect();
    let target = height_of(&net.validators[0]).await + 5;
    wait_for_height(&all, target, 60).await;
    assert_same_chain(&all, target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_from_a_byzantine_proposer_are_never_decided() {
    byzantine_proposer("bad-signature", "does not verify").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_with_a_forged_range_proof_are_never_decided() {
    byzantine_proposer(
        "bad-proof",
        "range proof of record forged-proof does not verify",
    )
    .await;
}

async fn byzantine_proposer(mode: &str, honest_reason: &str) {
    let mut net = TestNet::new(4, 1);
    // val-1 runs the test-only build and proposes blocks holding a transaction with a
    // forged signature or proof.
    net.validators[0].use_byzantine_binary();
    net.validators[0].set_env("LEDGER_BYZANTINE", mode);
    net.start_all(BLOCK_TIME).await;
    let nodes: Vec<&TestNode> = net.nodes().collect();
    wait_for_height(&nodes, 24, 120).await;
    assert!(
        net.validators[0].log().contains("BYZANTINE TEST BUILD"),
        "the faulty validator proposed:\n{}",
        net.validators[0].log()
    );
    let honest_refused = net.validators[1..].iter().any(|v| {
        let log = v.log();
        log.contains("invalid proposed block: voting nil") && log.contains(honest_reason)
    });
    assert!(
        honest_refused,
        "honest validators said why they voted nil:\n{}",
        net.validators[1].log()
    );
    let mut c = net.observers[0].client().await;
    for h in 1..=24 {
        let b = c
            .get_block(pb::GetBlockRequest { height: Some(h) })
            .await
            .unwrap()
            .into_inner();
        let header = b.header.unwrap();
        assert_ne!(
            header.proposer, "val-1",
            "height {h}: a faulty block was decided"
        );
        let block = ledger_types::Block::decode(&b.block).unwrap();
        assert!(block
            .txs
            .iter()
            .all(|t| t.body().signer.as_str() != "val-1"));
    }
    assert_same_chain(&nodes, 24).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_whose_clock_is_hours_ahead_cannot_move_block_time() {
    let mut net = TestNet::new(4, 0);
    // val-4's clock is two hours ahead: for the blocks it builds and the ones it checks.
    net.validators[3].use_byzantine_binary();
    net.validators[3].set_env("LEDGER_BYZANTINE", "clock-ahead:7200000");
    net.start_all(BLOCK_TIME).await;
    let nodes: Vec<&TestNode> = net.validators.iter().collect();
    wait_for_height(&nodes, 16, 120).await;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut c = net.validators[0].client().await;
    for h in 1..=16 {
        let b = c
            .get_block(pb::GetBlockRequest { height: Some(h) })
            .await
            .unwrap()
            .into_inner();
        let block = ledger_types::Block::decode(&b.block).unwrap();
        // [consensus] timestamp_precision_ms (500 by default) bounds how far ahead of an
        // honest clock a block's time can be.
        assert!(
            block.header().timestamp_ms <= now_ms + 500,
            "height {h}: time {} is ahead of the honest clocks ({now_ms})",
            block.header().timestamp_ms
        );
        assert_ne!(block.header().proposer.as_str(), "val-4", "height {h}");
    }
    let honest_refused = net.validators[..3]
        .iter()
        .any(|v| v.log().contains("untimely proposed block: voting nil"));
    assert!(honest_refused, "{}", net.validators[0].log());
    assert_same_chain(&nodes, 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_configured_for_gossipsub_agree_too() {
    // Broadcast (each validator sends to every other once) is the default; GossipSub
    // remains for networks whose validators are not all wired to each other.
    let mut net = TestNet::new(4, 0);
    for v in &net.validators {
        v.set_config("consensus", "gossip", "\"gossipsub\"");
    }
    net.start_all(BLOCK_TIME).await;
    register_schema(&net).await;
    let hashes = submit_from(&net, 1, 1, 20).await;
    let mut c = net.validators[3].client().await;
    for h in &hashes {
        let r = wait_committed(&mut c, h).await;
        assert_eq!(r.status, pb::TxStatus::Committed as i32);
    }
    let nodes: Vec<&TestNode> = net.validators.iter().collect();
    let target = height_of(&net.validators[0]).await;
    wait_for_height(&nodes, target, 60).await;
    assert_same_chain(&nodes, target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_node_ignores_the_byzantine_switch() {
    // The binary operators run has no misbehaviour built in, whatever its environment
    // says: `cargo build --workspace` cannot fold the test-only build into it.
    let shipped = std::fs::read(bin(NODE_BINARY)).unwrap();
    let marker = b"BYZANTINE TEST BUILD";
    assert!(
        !shipped.windows(marker.len()).any(|w| w == marker),
        "the shipped ledger-node contains the byzantine proposer"
    );
    let byzantine = std::fs::read(bin(BYZANTINE_BINARY)).unwrap();
    assert!(
        byzantine.windows(marker.len()).any(|w| w == marker),
        "the marker this test looks for is the one the byzantine build logs"
    );
    let mut net = TestNet::new(4, 1);
    for v in &mut net.validators {
        v.set_env("LEDGER_BYZANTINE", "bad-signature");
    }
    net.start_all(BLOCK_TIME).await;
    let nodes: Vec<&TestNode> = net.nodes().collect();
    wait_for_height(&nodes, 12, 120).await;
    let mut c = net.observers[0].client().await;
    let mut proposers = std::collections::BTreeSet::new();
    for h in 1..=12 {
        let b = c
            .get_block(pb::GetBlockRequest { height: Some(h) })
            .await
            .unwrap()
            .into_inner();
        proposers.insert(b.header.unwrap().proposer);
    }
    assert!(
        proposers.len() >= 2,
        "several validators proposed decided blocks: {proposers:?}"
    );
    for v in &net.validators {
        let log = v.log();
        assert!(!log.contains("BYZANTINE"), "{}", log);
        assert!(!log.contains("invalid proposed block"), "{}", log);
    }
    assert_same_chain(&nodes, 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_cut_off_by_a_partition_catches_up_when_it_heals() {
    let mut net = TestNet::new(4, 0);
    // Every connection to or from val-4 goes through a proxy that can cut it.
    let ports: Vec<u16> = net.validators.iter().map(p2p_port).collect();
    let mut proxies = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let proxy = Proxy::start(*port).await;
        if i == 3 {
            for v in &net.validators[..3] {
                redirect_peer(v, *port, proxy.port);
            }
        } else {
            redirect_peer(&net.validators[3], *port, proxy.port);
        }
        proxies.push(proxy);
    }
    net.start_all(BLOCK_TIME).await;
    let all: Vec<&TestNode> = net.validators.iter().collect();
    wait_for_height(&all, 5, 60).await;

    for p in &proxies {
        p.pause();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cut_at = height_of(&net.validators[3]).await;
    let others_at = height_of(&net.validators[0]).await;
    let rest: Vec<&TestNode> = net.validators[..3].iter().collect();
    wait_for_height(&rest, others_at + 20, 60).await;
    assert!(
        height_of(&net.validators[3]).await <= cut_at + 1,
        "the cut-off validator kept deciding: the partition leaked"
    );

    for p in &proxies {
        p.resume();
    }
    let target = height_of(&net.validators[0]).await + 5;
    wait_for_height(&all, target, 90).await;
    assert_same_chain(&all, target).await;
}
