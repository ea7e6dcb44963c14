//! Consortium governance on the four-validator network: the validators (the governors by
//! default) suspend a member bank by vote through their gateways; from the block that
//! passes the proposal every validator refuses the bank's transactions; a second vote by
//! one governor counts once; reinstated by another vote, the bank writes again. The
//! proposals, their votes and status are on the public API and the CLI.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger_api::v1 as pb;
use ledger_e2e::*;

const BLOCK_TIME: &[&str] = &["--block-time-ms", "30"];

async fn schema(gw: &mut Gw) {
    gw.register_schema(pb::GatewaySchemaRequest {
        document: String::new(),
        schema_id: "note".into(),
        version: None,
        fields: vec![pb::SchemaField {
            name: "text".into(),
            r#type: "text".into(),
            required: true,
            ..Default::default()
        }],
        ..Default::default()
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governors_suspend_a_member_by_vote_and_every_validator_refuses_it_until_reinstated() {
    let mut net = TestNet::with_observer_roles(4, 1, "member");
    net.start_all(BLOCK_TIME).await;
    let mut bank = net.observers[0].gateway().await;
    schema(&mut bank).await;
    bank.put("note-1", "note", &[("text", "before")], &[])
        .await
        .unwrap();

    // val-1 proposes; its own yes is cast with the proposal: 1 of 4.
    let mut g1 = net.validators[0].gateway().await;
    let mut g2 = net.validators[1].gateway().await;
    let mut g3 = net.validators[2].gateway().await;
    let id = g1.propose("suspend", "obs-1").await.unwrap();
    assert_eq!(id, 1);
    g2.vote(id, true).await.unwrap();
    // A second vote by the same governor has no effect, and says why.
    let again = g2.vote(id, true).await.unwrap_err();
    assert!(
        again.message().contains("already voted"),
        "{}",
        again.message()
    );
    // Still 2 of 4: obs-1 still writes.
    bank.put("note-2", "note", &[("text", "still")], &[])
        .await
        .unwrap();
    // The third yes passes it (two thirds of the weight).
    g3.vote(id, true).await.unwrap();
    let mut c = net.validators[0].client().await;
    let g = c
        .get_governance(pb::GetGovernanceRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(g.governors.len(), 4);
    let p = &g.proposals[0];
    assert_eq!(
        (p.status.as_str(), p.yes_weight, p.votes.len()),
        ("passed", 3, 3)
    );
    let m = c
        .get_member(pb::GetMemberRequest {
            org: "obs-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.suspended_by, 1);

    // Every validator refuses obs-1's transactions, whoever it sends them to.
    let refused = bank
        .put("note-3", "note", &[("text", "after")], &[])
        .await
        .unwrap_err();
    assert!(
        refused.message().contains("suspended"),
        "{}",
        refused.message()
    );
    let obs = &net.observers[0];
    let mut oc = obs.client().await;
    let w = Writer::join(obs.key(), &obs.org, &mut oc).await;
    let next = oc
        .get_member(pb::GetMemberRequest {
            org: "obs-1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .next_nonce;
    let tx = w.put(next, "note-direct", 1, b"x");
    for v in &net.validators {
        let r = v
            .client()
            .await
            .submit_tx(pb::SubmitTxRequest {
                tx: tx.bytes().to_vec(),
            })
            .await
            .unwrap_err();
        assert_eq!(r.code(), tonic::Code::PermissionDenied, "{}: {r:?}", v.org);
        let reason = r
            .metadata()
            .get(ledger_api::REJECT_REASON_KEY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(reason, "suspended", "{}", v.org);
    }

    // val-4 proposes to reinstate it; two more yes votes pass it; obs-1 writes again.
    let mut g4 = net.validators[3].gateway().await;
    let id = g4.propose("reinstate", "obs-1").await.unwrap();
    assert_eq!(id, 2);
    g1.vote(id, true).await.unwrap();
    g2.vote(id, true).await.unwrap();
    bank.put("note-3", "note", &[("text", "after")], &[])
        .await
        .unwrap();

    // The CLI lists both proposals with their outcome.
    let out = std::process::Command::new(bin("ledger"))
        .args(["--node", &net.validators[1].url(), "proposals"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("#1    passed   suspend obs-1"), "{text}");
    assert!(text.contains("#2    passed   reinstate obs-1"), "{text}");
    // Everyone agrees.
    let nodes: Vec<&TestNode> = net.nodes().collect();
    let h = height_of(&net.validators[0]).await;
    wait_for_height(&nodes, h, 60).await;
    for n in &nodes[1..] {
        assert_eq!(block_hash_at(n, h).await, block_hash_at(nodes[0], h).await);
    }
}
