//! Mutual TLS on a four-validator network and a member bank that follows it, every
//! public API taking only members' certificates bound to their ledger keys: validators
//! relay to each other and the bank's node follows over TLS; a plain client, an
//! outsider and a certificate from the wrong organisation are refused; once governance
//! suspends the bank its connections are refused (new ones at the handshake, the open
//! block stream at the next block) and its node stops receiving blocks; reinstated, it
//! connects, catches up and writes again.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Output;
use std::time::Duration;

use ledger_e2e::*;

const BLOCK_TIME: &[&str] = &["--block-time-ms", "30"];

/// `ledger status` against `node`, as the organisation of the home `as_home`, pinning the
/// server's key when given.
fn cli_status(node: &TestNode, as_home: &TestNode, server_key: Option<&str>) -> Output {
    let mut c = std::process::Command::new(bin("ledger"));
    c.args(["--node", &node.url(), "--tls-home"])
        .arg(as_home.home.path())
        .env("LEDGER_KEY_PASSPHRASE", TEST_PASSPHRASE)
        .arg("status");
    if let Some(k) = server_key {
        c.args(["--server-key", k]);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn wait_log(node: &TestNode, needle: &str, secs: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !node.log().contains(needle) {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never logged {needle:?}:\n{}",
            node.org,
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_in_good_standing_connect_and_a_suspension_cuts_the_open_connections() {
    let mut net = TestNet::with_mutual_tls(4, 1, "member");
    net.start_all(BLOCK_TIME).await;
    let nodes: Vec<&TestNode> = net.nodes().collect();
    assert!(nodes.iter().all(|n| n.url().starts_with("https://")));

    // The bank writes through its node, which forwards to a validator over TLS; the
    // validators relay to each other and every node, the follower included, holds it.
    let mut bank = net.observers[0].gateway().await;
    bank.register_note_schema().await;
    let put = bank
        .put("note-1", "note", &[("text", "over tls")], &[])
        .await
        .unwrap();
    wait_for_height(&nodes, put.height, 60).await;

    // A plain (not TLS) client gets nothing from a validator.
    let v1 = &net.validators[0];
    let plain = ledger_tls::channel(&format!("http://127.0.0.1:{}", v1.port), None).await;
    let refused_plain = match plain {
        Err(_) => true,
        Ok(ch) => ledger_api::v1::ledger_client::LedgerClient::new(ch)
            .get_status(ledger_api::v1::GetStatusRequest {})
            .await
            .is_err(),
    };
    assert!(
        refused_plain,
        "a plain client was served by a mutual-TLS API"
    );

    // The CLI as val-2 talks to its own node; to val-1 only with val-1's key pinned.
    let v2 = &net.validators[1];
    let own = cli_status(v2, v2, None);
    assert!(own.status.success(), "{}", text(&own));
    assert!(
        text(&own).contains("node org       val-2"),
        "{}",
        text(&own)
    );
    let other = cli_status(v1, v2, None);
    assert!(!other.status.success());
    assert!(
        text(&other).contains("val-1's certificate where val-2's was expected"),
        "{}",
        text(&other)
    );
    let v1_key = ledger_crypto::Signer::public_key(v1.key().as_ref()).to_text();
    let pinned = cli_status(v1, v2, Some(&v1_key));
    assert!(pinned.status.success(), "{}", text(&pinned));
    // Without an identity, an https:// node is not even dialled.
    let anonymous = std::process::Command::new(bin("ledger"))
        .args(["--node", &v1.url(), "status"])
        .env_remove("LEDGER_HOME")
        .output()
        .unwrap();
    assert!(!anonymous.status.success());
    assert!(
        text(&anonymous).contains("--tls-home"),
        "{}",
        text(&anonymous)
    );

    // An organisation that is not a member of the chain is refused at the handshake,
    // and the validator says why.
    let outsider = TestNode::init_with(
        "outsider",
        &["--tls", "mutual"],
        vec![("LEDGER_KEY_PASSPHRASE".into(), TEST_PASSPHRASE.into())],
    );
    std::fs::copy(
        v1.home.path().join("genesis.json"),
        outsider.home.path().join("genesis.json"),
    )
    .unwrap();
    let o = cli_status(v1, &outsider, Some(&v1_key));
    assert!(!o.status.success());
    assert!(
        text(&o).contains("refused this client's certificate"),
        "{}",
        text(&o)
    );
    wait_log(v1, "outsider is not a member of this chain", 10).await;

    // The bank, before its suspension, connects as itself.
    let obs = &net.observers[0];
    let before = cli_status(v1, obs, Some(&v1_key));
    assert!(before.status.success(), "{}", text(&before));

    // The governors suspend the bank.
    let mut g1 = net.validators[0].gateway().await;
    let mut g2 = net.validators[1].gateway().await;
    let mut g3 = net.validators[2].gateway().await;
    let (id, at) = g1.propose_at("suspend", "obs-1").await.unwrap();
    let vals: Vec<&TestNode> = net.validators.iter().collect();
    wait_for_height(&vals, at, 60).await;
    g2.vote(id, true).await.unwrap();
    let passed = g3.vote(id, true).await.unwrap().height;
    wait_for_height(&vals, passed, 60).await;

    // Its new connections are refused by every validator, which logs why.
    for v in &net.validators {
        let key = ledger_crypto::Signer::public_key(v.key().as_ref()).to_text();
        let o = cli_status(v, obs, Some(&key));
        assert!(!o.status.success(), "{} served a suspended member", v.org);
        assert!(
            text(&o).contains("refused this client's certificate"),
            "{}",
            text(&o)
        );
        wait_log(v, "obs-1 is suspended", 10).await;
    }
    // The block stream its node had open is cut: it stops receiving blocks while the
    // validators go on.
    wait_log(
        &net.validators[0],
        "closing a TLS connection: its member may no longer connect",
        10,
    )
    .await;
    let stalled = height_of(obs).await;
    let later = height_of(v1).await + 40;
    wait_for_height(&vals, later, 60).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let now = height_of(obs).await;
    assert!(
        now < later,
        "the suspended bank's node still receives blocks: {stalled} -> {now}, validators at {later}"
    );

    // Reinstated, it connects again, its node catches up, and it writes.
    let mut g4 = net.validators[3].gateway().await;
    let (id, at) = g4.propose_at("reinstate", "obs-1").await.unwrap();
    wait_for_height(&vals, at, 60).await;
    g1.vote(id, true).await.unwrap();
    let passed = g2.vote(id, true).await.unwrap().height;
    wait_for_height(&vals, passed, 60).await;
    let again = cli_status(v1, obs, Some(&v1_key));
    assert!(again.status.success(), "{}", text(&again));
    wait_for_height(&[obs], passed, 60).await;
    let put = bank
        .put("note-2", "note", &[("text", "reinstated")], &[])
        .await
        .unwrap();
    wait_for_height(&nodes, put.height, 60).await;
    let h = height_of(v1).await;
    wait_for_height(&nodes, h, 60).await;
    for n in &nodes[1..] {
        assert_eq!(block_hash_at(n, h).await, block_hash_at(nodes[0], h).await);
    }
}
