//! Seven validators replaced one at a time under load: seven new banks, founded in
//! genesis as members and wired to follow, are each added to the validators by vote and
//! the validator they replace removed, while a member keeps writing. The chain stays live
//! throughout, every certificate is signed by the validators of its own height, and at no
//! height do two nodes disagree. Alone in its test binary: fifteen nodes run at once.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger_api::v1 as pb;
use ledger_e2e::*;

const BLOCK_TIME: &[&str] = &["--block-time-ms", "100"];

/// Proposes `action` about `org` (with its consensus and API addresses for add-validator)
/// as the sole governor, which passes it at once; returns the height of the block that
/// passed it.
async fn pass(gov: &mut Gw, action: &str, org: &str, p2p: &str, api: &str) -> u64 {
    let w = gov
        .govern(pb::GovernRequest {
            request: Some(pb::govern_request::Request::Propose(pb::ProposeRequest {
                action: action.into(),
                org: org.into(),
                // The deadline counts from the height the gateway saw; with fifteen nodes
                // and the load on two cores the proposal once waited 54 blocks to commit.
                open_blocks: 300,
                p2p: p2p.into(),
                api: api.into(),
                ..Default::default()
            })),
            no_wait: false,
        })
        .await
        .unwrap_or_else(|e| panic!("{action} {org}: {e:?}"));
    assert!(w.committed);
    w.height
}

/// Ten writes through `gw`, not waiting for their blocks.
async fn load(gw: &mut Gw, round: usize) {
    for i in 0..10 {
        gw.put_with(
            &format!("load-{round}-{i}"),
            "note",
            &[("text", "under load")],
            &[],
            true,
        )
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_validators_are_replaced_one_at_a_time_under_load_and_the_chain_stays_live() {
    let (mut net, joining) = TestNet::with_joining(7, 1, "member", 7);
    net.start_all(BLOCK_TIME).await;
    let mut new: Vec<(TestNode, String)> = joining;
    for (n, _) in &mut new {
        n.start(BLOCK_TIME).await;
    }
    // The validators hand governance to obs-1 alone (five of seven vote for it), so that
    // each replacement below takes one transaction.
    let mut g: Vec<Gw> = Vec::new();
    for v in &net.validators[..5] {
        g.push(v.gateway().await);
    }
    let w = g[0]
        .govern(pb::GovernRequest {
            request: Some(pb::govern_request::Request::Propose(pb::ProposeRequest {
                action: "set-governance".into(),
                governance: Some(pb::GovernanceChange {
                    governors: vec![pb::Governor {
                        org: "obs-1".into(),
                        weight: 1,
                    }],
                    quorum_pct: 100,
                    approval_pct: 100,
                    max_open_blocks: 1000,
                }),
                open_blocks: 50,
                ..Default::default()
            })),
            no_wait: false,
        })
        .await
        .unwrap();
    let all: Vec<&TestNode> = net.nodes().collect();
    wait_for_height(&all, w.height, 60).await;
    let mut passed = 0;
    for gw in &mut g[1..] {
        passed = gw.vote(w.proposal, true).await.unwrap().height;
    }
    // obs-1 governs from that block: its node must hold it before it proposes.
    wait_for_height(&[&net.observers[0]], passed, 60).await;
    let mut gov = net.observers[0].gateway().await;
    gov.register_note_schema().await;

    let started = height_of(&net.validators[6]).await;
    for k in 0..7 {
        load(&mut gov, k).await;
        let (node, address) = &new[k];
        let org = node.org.to_string();
        // The replacement joins: it signs from two heights after the vote.
        let added = pass(&mut gov, "add-validator", &org, address, &node.url()).await;
        // Ask a validator that stays to the end of this round.
        let witness = &net.validators[6];
        let signed = wait_signed_by(witness, &org, added + 1, 120).await;
        assert!(
            signed >= added + 2,
            "{org} signed at {signed}, added at {added}"
        );
        // The validator it replaces leaves two heights after its vote.
        let old = net.validators[k].org.to_string();
        let removed = pass(&mut gov, "remove-validator", &old, "", "").await;
        let probe = if k < 6 { witness } else { &new[0].0 };
        wait_for_height(&[probe], removed + 4, 120).await;
        for h in removed + 2..=removed + 4 {
            let signers = signers_at(probe, h).await;
            assert!(!signers.contains(&old), "height {h}: {signers:?}");
        }
    }
    load(&mut gov, 7).await;

    // The new validators run the chain on their own; it is still live.
    let first = &new[0].0;
    let h = height_of(first).await;
    wait_for_height(&[first], h + 5, 120).await;
    let status = first
        .client()
        .await
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut want: Vec<String> = new.iter().map(|(n, _)| n.org.to_string()).collect();
    want.sort();
    assert_eq!(status.validators, want);
    assert_eq!(status.role, "validator");
    for s in signers_at(first, h + 5).await {
        assert!(want.contains(&s), "{s} signed at {}", h + 5);
    }
    let last = gov
        .put("after", "note", &[("text", "written by the new set")], &[])
        .await
        .unwrap();
    assert!(last.height > started);

    // At no height do two nodes disagree.
    let tip = height_of(first).await;
    let nodes: Vec<&TestNode> = net.nodes().chain(new.iter().map(|(n, _)| n)).collect();
    wait_for_height(&nodes, tip, 120).await;
    for height in 1..=tip {
        let want = block_hash_at(nodes[0], height).await;
        for n in &nodes[1..] {
            assert_eq!(
                block_hash_at(n, height).await,
                want,
                "{} at {height}",
                n.org
            );
        }
    }
}
