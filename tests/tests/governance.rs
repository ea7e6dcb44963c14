//! Consortium governance on the four-validator network: the validators (the governors by
//! default) suspend a member bank by vote through their gateways; from the block that
//! passes the proposal every validator refuses the bank's transactions; a second vote by
//! one governor counts once; reinstated by another vote, the bank writes again. A fifth
//! bank joins under load, is promoted to validator and signs; a validator is removed and
//! follows. The proposals, their votes and status are on the public API and the CLI.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger_api::v1 as pb;
use ledger_e2e::*;

const BLOCK_TIME: &[&str] = &["--block-time-ms", "30"];

async fn schema(gw: &mut Gw) {
    gw.register_note_schema().await;
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
    let (id, at) = g1.propose_at("suspend", "obs-1").await.unwrap();
    assert_eq!(id, 1);
    // val-1 answered once its own node committed the proposal; the voters' nodes may be
    // a block behind.
    let all: Vec<&TestNode> = net.nodes().collect();
    wait_for_height(&all, at, 60).await;
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
    // The third yes passes it (two thirds of the weight), in the block every node then
    // holds.
    let passed = g3.vote(id, true).await.unwrap().height;
    let nodes: Vec<&TestNode> = net.nodes().collect();
    wait_for_height(&nodes, passed, 60).await;
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
    let (id, at) = g4.propose_at("reinstate", "obs-1").await.unwrap();
    assert_eq!(id, 2);
    wait_for_height(&nodes, at, 60).await;
    g1.vote(id, true).await.unwrap();
    let passed = g2.vote(id, true).await.unwrap().height;
    wait_for_height(&nodes, passed, 60).await;
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
    let h = height_of(&net.validators[0]).await;
    wait_for_height(&nodes, h, 60).await;
    for n in &nodes[1..] {
        assert_eq!(block_hash_at(n, h).await, block_hash_at(nodes[0], h).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifth_bank_joins_by_vote_under_load_is_promoted_to_validator_and_a_validator_is_removed()
{
    let mut net = TestNet::new(4, 0);
    net.start_all(BLOCK_TIME).await;
    let mut g1 = net.validators[0].gateway().await;
    schema(&mut g1).await;
    // Load from val-2 while the bank joins.
    let mut c2 = net.validators[1].client().await;
    let w2 = Writer::setup(net.validators[1].key(), &net.validators[1].org, &mut c2).await;
    let mut load_nonce = 2;
    load(&mut c2, &w2, "val-2", &mut load_nonce).await;

    // bank-e makes its keys and its join request for the consortium's chain.
    let p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    let staging = tempfile::tempdir().unwrap();
    let request = staging.path().join("join-request.hex");
    let mut bank = TestNode::init_with(
        "bank-e",
        &[
            "--roles",
            "member",
            "--p2p-listen",
            &p2p,
            "--join",
            request.to_str().unwrap(),
        ],
        vec![(
            "LEDGER_KEY_PASSPHRASE".to_string(),
            TEST_PASSPHRASE.to_string(),
        )],
    );
    let request_bytes = hex::decode(std::fs::read_to_string(&request).unwrap().trim()).unwrap();
    let join = ledger_types::governance::JoinRequest::decode(&request_bytes).unwrap();
    assert_eq!(join.ring_proof.len(), 64, "a member proves its ring key");
    assert!(join.audit_proof.is_empty(), "a bank registers no audit key");
    let registration = join.registration;
    // Not a member yet: its transactions are refused.
    let mut c1 = net.validators[0].client().await;
    let unknown = c1
        .submit_tx(pb::SubmitTxRequest {
            tx: registration.clone(),
        })
        .await
        .unwrap_err();
    assert!(
        unknown.message().contains("genesis"),
        "{}",
        unknown.message()
    );

    // val-1 proposes to admit it through the CLI; val-2 and val-3 vote yes.
    let out = std::process::Command::new(bin("ledger"))
        .args(["--node", &net.validators[0].url()])
        .args(["propose", "--gateway", &net.validators[0].gateway_url()])
        .arg("--token-file")
        .arg(net.validators[0].home.path().join("gateway-cli.token"))
        .arg("--admit")
        .arg(&request)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("proposed admit proposal #1"), "{text}");
    // The CLI answered once val-1 committed the proposal; the voters' nodes may be a block
    // behind (under load they were): vote once they hold it.
    let proposed = height_of(&net.validators[0]).await;
    wait_for_height(&[&net.validators[1], &net.validators[2]], proposed, 60).await;
    net.validators[1]
        .gateway()
        .await
        .vote(1, true)
        .await
        .unwrap();
    let passed = net.validators[2]
        .gateway()
        .await
        .vote(1, true)
        .await
        .unwrap()
        .height;
    // val-3 answered once its own node committed the vote; val-1 may be a block behind.
    wait_for_height(&[&net.validators[0]], passed, 60).await;
    let m = c1
        .get_member(pb::GetMemberRequest {
            org: "bank-e".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.roles, vec!["member".to_string()]);
    assert_eq!(m.next_nonce, 1);

    // bank-e takes the consortium's genesis, follows val-1, catches up, and writes.
    std::fs::copy(
        net.validators[0].home.path().join("genesis.json"),
        bank.home.path().join("genesis.json"),
    )
    .unwrap();
    bank.set_config(
        "sync",
        "upstream",
        &format!("\"{}\"", net.validators[0].url()),
    );
    bank.start(&[]).await;
    let tip = height_of(&net.validators[0]).await;
    wait_for_height(&[&bank], tip, 60).await;
    let mut gw = bank.gateway().await;
    gw.put(
        "inv-e-1",
        "note",
        &[("text", "bank-e's first invoice")],
        &[],
    )
    .await
    .unwrap();
    let r = gw.read("inv-e-1", None).await.unwrap();
    assert_eq!(fields_of(&r)["text"], "bank-e's first invoice");

    // bank-e is promoted: its operator wires its home as a joining validator (it follows
    // val-1 until it validates), a governor proposes it with its consensus address, two
    // more vote; load keeps coming from val-2.
    bank.stop();
    let mut connect = std::process::Command::new(bin("ledger-node"));
    connect.arg("connect");
    for v in &net.validators {
        connect.arg("--validator").arg(v.home.path());
    }
    let out = connect
        .arg("--joining")
        .arg(bank.home.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let address = text
        .split_whitespace()
        .skip_while(|w| *w != "--p2p")
        .nth(1)
        .unwrap_or_else(|| panic!("no consensus address in {text}"))
        .to_string();
    assert!(
        address.starts_with(&p2p) && address.contains("/p2p/"),
        "{address}"
    );
    bank.start(BLOCK_TIME).await;
    gw = bank.gateway().await;
    load(&mut c2, &w2, "val-2", &mut load_nonce).await;
    let out = std::process::Command::new(bin("ledger"))
        .args(["--node", &net.validators[0].url()])
        .args(["propose", "--gateway", &net.validators[0].gateway_url()])
        .arg("--token-file")
        .arg(net.validators[0].home.path().join("gateway-cli.token"))
        .args(["--add-validator", "bank-e", "--p2p", &address])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("proposed add-validator proposal #2"),
        "{text}"
    );
    net.validators[1]
        .gateway()
        .await
        .vote(2, true)
        .await
        .unwrap();
    let passed = net.validators[2]
        .gateway()
        .await
        .vote(2, true)
        .await
        .unwrap()
        .height;
    // From two heights after passing, bank-e signs commits.
    let signed = wait_signed_by(&net.validators[0], "bank-e", passed + 1, 90).await;
    assert!(
        signed >= passed + 2,
        "signed at {signed}, passed at {passed}"
    );
    let status = bank
        .client()
        .await
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.role, "validator");
    assert_eq!(
        status.validators,
        vec!["bank-e", "val-1", "val-2", "val-3", "val-4"]
    );
    // bank-e writes as a validator (into its own mempool, relayed to the others).
    gw.put("inv-e-2", "note", &[("text", "as a validator")], &[])
        .await
        .unwrap();

    // Later val-4 is removed: four of the five (bank-e now governs too) vote for it.
    let (id, at) = g1.propose_at("remove-validator", "val-4").await.unwrap();
    let voters: Vec<&TestNode> = net.validators[1..3].iter().chain([&bank]).collect();
    wait_for_height(&voters, at, 60).await;
    net.validators[1]
        .gateway()
        .await
        .vote(id, true)
        .await
        .unwrap();
    net.validators[2]
        .gateway()
        .await
        .vote(id, true)
        .await
        .unwrap();
    let passed = gw.vote(id, true).await.unwrap().height;
    let effective = passed + 2;
    load(&mut c2, &w2, "val-2", &mut load_nonce).await;
    let up: Vec<&TestNode> = net.validators[..3].iter().chain([&bank]).collect();
    wait_for_height(&up, effective + 5, 90).await;
    for h in effective..=effective + 5 {
        let signers = signers_at(&net.validators[0], h).await;
        assert!(
            !signers.iter().any(|s| s == "val-4"),
            "height {h}: {signers:?}"
        );
    }
    // val-4 left consensus and follows the validators; it reports so.
    let tip = height_of(&net.validators[0]).await;
    wait_for_height(&[&net.validators[3]], tip, 60).await;
    let status = net.validators[3]
        .client()
        .await
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.role, "follower");
    // At no height do two nodes disagree.
    let h = height_of(&net.validators[0]).await;
    let mut nodes: Vec<&TestNode> = net.nodes().collect();
    nodes.push(&bank);
    wait_for_height(&nodes, h, 60).await;
    for height in 1..=h {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_removed_by_vote_stops_counting_two_heights_later_and_sync_checks_each_heights_set(
) {
    // Five validators: val-5 is removed while val-4 is down; the four left need three.
    let mut net = TestNet::new(5, 1);
    for v in &mut net.validators {
        v.start(BLOCK_TIME).await;
    }
    let all: Vec<&TestNode> = net.validators.iter().collect();
    wait_for_height(&all, 3, 60).await;
    net.validators[3].stop();
    // Four of five must vote yes: val-1 (proposing), val-2, val-3, and val-5 itself.
    let mut g1 = net.validators[0].gateway().await;
    let (id, at) = g1.propose_at("remove-validator", "val-5").await.unwrap();
    let voters = [&net.validators[1], &net.validators[2], &net.validators[4]];
    wait_for_height(&voters, at, 60).await;
    net.validators[1]
        .gateway()
        .await
        .vote(id, true)
        .await
        .unwrap();
    net.validators[2]
        .gateway()
        .await
        .vote(id, true)
        .await
        .unwrap();
    let passed = net.validators[4]
        .gateway()
        .await
        .vote(id, true)
        .await
        .unwrap()
        .height;
    let effective = passed + 2;
    let up: Vec<&TestNode> = [0, 1, 2, 4].iter().map(|i| &net.validators[*i]).collect();
    wait_for_height(&up, effective + 5, 60).await;
    // From the change's height on, no certificate counts val-5.
    for h in effective..=effective + 5 {
        let signers = signers_at(&net.validators[0], h).await;
        assert!(
            !signers.iter().any(|s| s == "val-5"),
            "height {h}: {signers:?}"
        );
    }
    let status = net.validators[0]
        .client()
        .await
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.validators, vec!["val-1", "val-2", "val-3", "val-4"]);
    // val-5 stops; val-4 comes back and catches up across the change (value sync checks
    // each synced certificate against the set of its height), and signs again.
    net.validators[4].stop();
    net.validators[3].start(BLOCK_TIME).await;
    let tip = height_of(&net.validators[0]).await;
    wait_for_height(&[&net.validators[3]], tip, 60).await;
    wait_signed_by(&net.validators[0], "val-4", tip, 60).await;
    // An observer started now verifies every block from genesis, each certificate against
    // its own height's set.
    let target = height_of(&net.validators[0]).await + 3;
    net.observers[0].start(BLOCK_TIME).await;
    wait_for_height(&[&net.observers[0]], target, 60).await;
    for h in [1, effective - 1, effective, target] {
        assert_eq!(
            block_hash_at(&net.observers[0], h).await,
            block_hash_at(&net.validators[0], h).await,
            "height {h}"
        );
    }
    let g = net.validators[0]
        .client()
        .await
        .get_governance(pb::GetGovernanceRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(g.proposals[0].status, "passed");
    assert_eq!(g.governors.len(), 4, "the validators govern by default");
}

/// Twenty writes from `org` (whose node is `client`), from the later of `next` and its
/// committed next nonce (its own gateway's votes take nonces too).
async fn load(
    client: &mut ledger_api::v1::ledger_client::LedgerClient<tonic::transport::Channel>,
    writer: &Writer,
    org: &str,
    next: &mut u64,
) {
    let committed = client
        .get_member(pb::GetMemberRequest { org: org.into() })
        .await
        .unwrap()
        .into_inner()
        .next_nonce;
    let start = (*next).max(committed);
    for n in start..start + 20 {
        submit(client, &writer.put(n, &format!("load-{n}"), 1, b"load")).await;
    }
    *next = start + 20;
}

async fn member_of(node: &TestNode, org: &str) -> pb::GetMemberResponse {
    node.client()
        .await
        .get_member(pb::GetMemberRequest { org: org.into() })
        .await
        .unwrap()
        .into_inner()
}

/// `tx` offered to every validator: each refuses it with `reason` (the ledger's machine
/// code) and a message containing `says`.
async fn refused_by_every_validator(net: &TestNet, tx: &[u8], reason: &str, says: &str) {
    for v in &net.validators {
        let r = v
            .client()
            .await
            .submit_tx(pb::SubmitTxRequest { tx: tx.to_vec() })
            .await
            .unwrap_err();
        let code = r
            .metadata()
            .get(ledger_api::REJECT_REASON_KEY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(code, reason, "{}: {r:?}", v.org);
        assert!(r.message().contains(says), "{}: {}", v.org, r.message());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_rotates_each_of_its_keys_and_what_the_old_keys_made_stays_readable() {
    // obs-1 is a bank that is also a regulator: it holds all four kinds of key.
    let mut net = TestNet::with_observer_roles(4, 1, "member,regulator");
    net.start_all(BLOCK_TIME).await;
    let mut bank = net.observers[0].gateway().await;
    let mut v1 = net.validators[0].gateway().await;
    schema(&mut bank).await;
    v1.register_schema(pb::GatewaySchemaRequest {
        document: String::new(),
        schema_id: "loan".into(),
        version: None,
        fields: vec![pb::SchemaField {
            name: "amount".into(),
            r#type: "amount".into(),
            values: vec![],
            required: true,
            committed: true,
            fhe: false,
        }],
        auditors: vec!["obs-1".into()],
        no_wait: false,
    })
    .await
    .unwrap();
    bank.put(
        "note-1",
        "note",
        &[("text", "wrapped to the first key")],
        &[],
    )
    .await
    .unwrap();
    v1.put("LOAN-1", "loan", &[("amount", "1000")], &[])
        .await
        .unwrap();

    // Encryption key, through the CLI: new wraps go to the new key; the old wraps (its
    // own note, its audit wrap of LOAN-1) still open, and its node's audit watch files no
    // alert.
    let before = member_of(&net.validators[0], "obs-1").await;
    let out = std::process::Command::new(bin("ledger"))
        .args(["--node", &net.observers[0].url(), "rotate-key", "--home"])
        .arg(net.observers[0].home.path())
        .args(["--kind", "encryption"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("encryption key rotated"), "{text}");
    assert!(text.contains("the node uses it now"), "{text}");
    let after = member_of(&net.validators[0], "obs-1").await;
    assert_ne!(after.encryption_key, before.encryption_key);
    assert_eq!(after.key_history.len(), 1);
    assert_eq!(after.key_history[0].kind, "encryption");
    assert_eq!(after.key_history[0].old_key, before.encryption_key);
    bank.put("note-2", "note", &[("text", "wrapped to the new key")], &[])
        .await
        .unwrap();
    let w = v1
        .put("LOAN-2", "loan", &[("amount", "250")], &[])
        .await
        .unwrap();
    wait_for_height(&[&net.observers[0]], w.height, 60).await;
    for (record, field, value) in [
        ("note-1", "text", "wrapped to the first key"),
        ("note-2", "text", "wrapped to the new key"),
        ("LOAN-1", "amount", "1000"),
        ("LOAN-2", "amount", "250"),
    ] {
        let r = bank.read(record, None).await.unwrap();
        assert_eq!(fields_of(&r)[field], value, "{record}");
    }

    // Audit key: a new epoch. The sum spans both epochs, each read with its own secret.
    let r = bank.rotate_key("audit", false, false).await.unwrap();
    assert!(r.adopted, "{r:?}");
    let w = v1
        .put("LOAN-3", "loan", &[("amount", "30")], &[])
        .await
        .unwrap();
    wait_for_height(&[&net.observers[0]], w.height, 60).await;
    let s = bank
        .audit_sum("amount", &["LOAN-1", "LOAN-2", "LOAN-3"])
        .await
        .unwrap();
    assert_eq!(s.sum, 1280);

    // Ring key: an endorsement signed with the old ring before the rotation is refused
    // after it by every validator; the new key endorses.
    let early = bank.sign_endorsement("alert.INV-7", "seen").await.unwrap();
    let r = bank.rotate_key("ring", false, false).await.unwrap();
    assert!(r.adopted);
    let h = r.write.unwrap().height;
    wait_for_height(&net.nodes().collect::<Vec<_>>(), h, 60).await;
    refused_by_every_validator(&net, &early.tx, "bad_endorsement", "member ring changed").await;
    bank.endorse("alert.INV-7", "seen", false).await.unwrap();

    // Signing key: a transaction signed with the old key is refused by every validator
    // after the rotation; the node signs with the new key at once, and after a restart.
    let obs = &net.observers[0];
    let mut oc = obs.client().await;
    let old = Writer::join(obs.key(), &obs.org, &mut oc).await;
    let r = bank.rotate_key("signing", false, false).await.unwrap();
    assert!(r.adopted);
    let h = r.write.unwrap().height;
    wait_for_height(&net.nodes().collect::<Vec<_>>(), h, 60).await;
    let next = member_of(&net.validators[0], "obs-1").await.next_nonce;
    let stale = old.put(next, "note-old-key", 1, b"x");
    refused_by_every_validator(&net, stale.bytes(), "bad_signature", "does not verify").await;
    bank.put(
        "note-3",
        "note",
        &[("text", "signed with the new key")],
        &[],
    )
    .await
    .unwrap();
    net.observers[0].stop();
    net.observers[0].start(BLOCK_TIME).await;
    let mut bank = net.observers[0].gateway().await;
    bank.put("note-4", "note", &[("text", "after a restart")], &[])
        .await
        .unwrap();
    let history = member_of(&net.validators[0], "obs-1").await.key_history;
    let kinds: Vec<&str> = history.iter().map(|k| k.kind.as_str()).collect();
    assert_eq!(kinds, ["encryption", "audit", "ring", "signing"]);

    // A validator's signing key is rotated outside the validator set: refused.
    let e = v1.rotate_key("signing", false, false).await.unwrap_err();
    assert!(e.message().contains("is a validator"), "{e:?}");

    // After a loss, governance rotates: obs-1 stages a ring key and hands the request to
    // the governors; once it passes, obs-1's running node adopts the key by itself.
    let req = bank.rotate_key("ring", true, false).await.unwrap();
    let mut g = Vec::new();
    for v in &net.validators[..3] {
        g.push(v.gateway().await);
    }
    let w = g[0]
        .govern(pb::GovernRequest {
            request: Some(pb::govern_request::Request::Propose(pb::ProposeRequest {
                action: "rotate-key".into(),
                org: "obs-1".into(),
                open_blocks: 50,
                rotation: req.request.clone(),
                ..Default::default()
            })),
            no_wait: false,
        })
        .await
        .unwrap();
    let proposal = w.proposal;
    wait_for_height(&[&net.validators[1], &net.validators[2]], w.height, 60).await;
    g[1].vote(proposal, true).await.unwrap();
    let passed = g[2].vote(proposal, true).await.unwrap().height;
    wait_for_height(&net.nodes().collect::<Vec<_>>(), passed, 60).await;
    let m = member_of(&net.validators[0], "obs-1").await;
    assert_eq!(m.ring_key, req.new_key);
    let staged = net.observers[0].home.path().join("ring-key.sealed.next");
    for _ in 0..100 {
        if !staged.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!staged.exists(), "the node adopted the governance rotation");
    bank.endorse("alert.INV-8", "seen", false).await.unwrap();

    // Everyone agrees.
    let nodes: Vec<&TestNode> = net.nodes().collect();
    let h = height_of(&net.validators[0]).await;
    wait_for_height(&nodes, h, 60).await;
    for n in &nodes[1..] {
        assert_eq!(block_hash_at(n, h).await, block_hash_at(nodes[0], h).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corporate_writes_its_own_trade_documents_through_its_banks_node_and_nothing_else() {
    // obs-1 is a corporate (a seller) whose node follows its bank's, val-1.
    let mut net = TestNet::with_observer_roles(4, 1, "corporate");
    net.start_all(BLOCK_TIME).await;
    let mut bank = net.validators[0].gateway().await;
    schema(&mut bank).await;
    bank.register_schema(pb::GatewaySchemaRequest {
        schema_id: "invoice".into(),
        document: "invoice".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let w = bank
        .put("note-bank", "note", &[("text", "a bank's note")], &[])
        .await
        .unwrap();
    let corp = &net.observers[0];
    wait_for_height(&[corp], w.height, 60).await;
    let mut gw = corp.gateway().await;
    let invoice = pb::DocumentInput {
        seller: "obs-1".into(),
        buyer: "val-2".into(),
        carrier: String::new(),
        number: "INV-2026-100".into(),
        reference: String::new(),
        issue_date: "2026-12-01".into(),
        lines: vec![pb::DocumentLine {
            unit_price: 1_250,
            quantity: 4,
            total: 5_000,
        }],
        total: 5_000,
    };
    // Its invoice, signed with its own key, goes through its bank's node to the validators.
    let w = gw
        .put_document("INV-100", "invoice", invoice)
        .await
        .unwrap();
    assert!(w.committed);
    wait_for_height(&[&net.validators[2]], w.height, 60).await;
    let r = net.validators[2]
        .client()
        .await
        .get_record(pb::GetRecordRequest {
            record_id: "INV-100".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.owner, "obs-1");
    // A record that is no trade document, or a schema, is a bank's to write.
    let e = gw
        .put("note-corp", "note", &[("text", "not a document")], &[])
        .await
        .unwrap_err();
    assert!(e.message().contains("lacks the member"), "{e:?}");
    let e = gw
        .register_schema(pb::GatewaySchemaRequest {
            schema_id: "corp-schema".into(),
            document: "invoice".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(e.message().contains("member or operator"), "{e:?}");
}
