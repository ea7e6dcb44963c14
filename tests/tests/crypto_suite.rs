//! The crypto suite of a chain, fixed in genesis (docs/crypto-suites.md): an SM chain runs
//! the demo end to end on four validators; a node refuses a genesis of another suite than
//! its keys', a genesis whose suite its members' keys do not belong to, and a transaction
//! signed under the other suite.
//!
//! This test process itself stays on the default suite: what it builds for the SM node
//! (the refused transaction) is hashed the default way, as a client of the other suite
//! would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::sync::Arc;

use ledger_api::v1 as pb;
use ledger_crypto::sign_tx;
use ledger_e2e::{bin, chain, fields_of, http_get, repo_path, TestNode, TEST_PASSPHRASE};
use ledger_hsm::{KdfCost, ProviderSigner, SoftwareProvider};
use ledger_types::{CryptoSuite, OrgId, Payload, TxBody};

fn env() -> Vec<(String, String)> {
    vec![("LEDGER_KEY_PASSPHRASE".into(), TEST_PASSPHRASE.into())]
}

fn sm_node(org: &str) -> TestNode {
    TestNode::init_with(org, &["--crypto-suite", "sm"], env())
}

fn genesis_text(node: &TestNode) -> String {
    std::fs::read_to_string(node.home.path().join("genesis.json")).expect("genesis.json")
}

fn set_genesis(node: &TestNode, text: &str) {
    std::fs::write(node.home.path().join("genesis.json"), text).expect("write genesis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sm_node_writes_reads_and_reports_its_suite() {
    let mut node = sm_node("bank-sm");
    let genesis = genesis_text(&node);
    assert!(genesis.contains("\"crypto_suite\": \"sm\""), "{genesis}");
    assert!(genesis.contains("\"hash_suite\": \"sm3\""), "{genesis}");
    assert!(genesis.contains("\"signing_key\": \"sm2:04"), "{genesis}");
    node.start(&[]).await;
    let mut client = node.client().await;
    let status = client
        .get_status(pb::GetStatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.crypto_suite, "sm");
    let member = client
        .get_member(pb::GetMemberRequest {
            org: "bank-sm".into(),
        })
        .await
        .expect("member")
        .into_inner();
    assert!(
        member.signing_key.starts_with("sm2:04"),
        "{}",
        member.signing_key
    );
    // The explorer shows it too.
    let (_, body) = http_get(&format!("{}/api/status", node.explorer_url()), None).await;
    assert!(body.contains("\"crypto_suite\":\"sm\""), "{body}");
    assert!(body.contains("SM4-GCM"), "{body}");

    // Fields sealed with SM4-GCM and wrapped over SM2 through the gateway, read back.
    let mut gw = node.gateway().await;
    gw.register_note_schema().await;
    gw.put("note-1", "note", &[("text", "sealed under SM4-GCM")], &[])
        .await
        .expect("put on the SM chain");
    let read = gw.read("note-1", None).await.expect("read");
    assert_eq!(
        fields_of(&read).get("text").map(String::as_str),
        Some("sealed under SM4-GCM")
    );

    // The CLI learns the suite from the node and says so.
    let out = Command::new(bin("ledger"))
        .args(["--node", &node.url(), "status"])
        .output()
        .expect("ledger status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("crypto suite   sm (SM3;"), "{text}");

    // A transaction signed under the default suite (its signing digest by SHA-256) with the
    // member's own SM2 key is refused: the node's digest is SM3's.
    let provider = SoftwareProvider::open_in(
        CryptoSuite::Sm,
        &node.home.path().join("keys"),
        zeroize::Zeroizing::new(TEST_PASSPHRASE.to_string()),
        KdfCost::DEFAULT,
    )
    .expect("the SM key store");
    let key = Arc::new(ProviderSigner::new(Arc::new(provider), "bank-sm-signing").expect("key"));
    assert_eq!(CryptoSuite::current(), CryptoSuite::Default);
    let ed = ledger_crypto::Ed25519SoftwareKey::generate();
    // The member's own SM2 key over the default suite's digest, then a default-suite key
    // in the member's name: both refused, naming the member's SM2 key.
    for signer in [key.as_ref() as &dyn ledger_crypto::Signer, &ed] {
        let tx = sign_tx(
            signer,
            TxBody {
                chain_id: chain(),
                signer: OrgId::new("bank-sm").expect("org"),
                nonce: 5,
                payload: Payload::RegisterSchema(ledger_state::testing::payload_schema()),
            },
        )
        .expect("sign");
        let refused = client
            .submit_tx(pb::SubmitTxRequest {
                tx: tx.bytes().to_vec(),
            })
            .await
            .expect_err("a transaction signed under the other suite is refused");
        assert!(
            refused
                .message()
                .contains("signature does not verify under sm2:"),
            "{refused:?}"
        );
    }
    // Nothing of it was committed: the chain still serves the note, and only it.
    let read = gw.read("note-1", None).await.expect("read again");
    assert_eq!(read.version, 1);
    drop((gw, client));
    assert!(node.stop().success());
}

#[test]
fn a_node_refuses_a_genesis_of_another_suite() {
    let sm = sm_node("bank-sm");
    let default = TestNode::init_with("bank-default", &[], env());
    let sm_genesis = genesis_text(&sm);
    let default_genesis = genesis_text(&default);

    // SM keys, default genesis.
    let mut node = sm_node("bank-sm");
    set_genesis(&node, &default_genesis);
    let (status, log) = node.start_expecting_failure();
    assert!(!status.success());
    assert!(
        log.contains("this chain's crypto suite is default, but this process already uses sm"),
        "{log}"
    );

    // Default keys, SM genesis.
    let mut node = TestNode::init_with("bank-default", &[], env());
    set_genesis(&node, &sm_genesis);
    let (status, log) = node.start_expecting_failure();
    assert!(!status.success());
    assert!(
        log.contains("this chain's crypto suite is sm, but this process already uses default"),
        "{log}"
    );

    // A genesis that calls itself SM over members with Ed25519 keys, on an SM node: the
    // registrations are refused by scheme.
    let mut node = sm_node("bank-default");
    let relabelled = default_genesis
        .replace("\"crypto_suite\": \"default\"", "\"crypto_suite\": \"sm\"")
        .replace("\"hash_suite\": \"sha256\"", "\"hash_suite\": \"sm3\"");
    assert_ne!(relabelled, default_genesis);
    set_genesis(&node, &relabelled);
    let (status, log) = node.start_expecting_failure();
    assert!(!status.success());
    assert!(
        log.contains("ed25519 keys do not sign on this chain: its crypto suite is sm"),
        "{log}"
    );

    // A hash suite that is not the crypto suite's.
    let mut node = sm_node("bank-sm");
    set_genesis(
        &node,
        &sm_genesis.replace("\"hash_suite\": \"sm3\"", "\"hash_suite\": \"sha256\""),
    );
    let (status, log) = node.start_expecting_failure();
    assert!(!status.success());
    assert!(
        log.contains("hash suite \"sha256\" does not belong to crypto suite \"sm\""),
        "{log}"
    );
    // An unknown suite.
    set_genesis(
        &node,
        &sm_genesis.replace("\"crypto_suite\": \"sm\"", "\"crypto_suite\": \"gm\""),
    );
    let (_, log) = node.start_expecting_failure();
    assert!(
        log.contains("crypto suite \"gm\" is not one this node knows"),
        "{log}"
    );
}

/// The README's demo, on a chain of the SM suite: four bank validators, the regulator's
/// observer and two corporates' nodes, every key SM2, every hash SM3, every field SM4-GCM.
/// The script itself fails on any unexpected outcome (a forged ring signature accepted, a
/// second financing accepted, ...); here its story is checked too.
#[test]
fn the_demo_runs_end_to_end_on_the_sm_suite() {
    let net = tempfile::tempdir().expect("network folder");
    let out = Command::new(repo_path("scripts/demo.sh"))
        .env("LEDGER_CRYPTO_SUITE", "sm")
        .env("LEDGER_CEREMONY", "0")
        .env("LEDGER_NET", net.path())
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}\n{stderr}");
    assert!(out.status.success(), "the SM demo failed:\n{all}");
    let genesis = std::fs::read_to_string(net.path().join("genesis.json")).expect("genesis");
    assert!(genesis.contains("\"crypto_suite\": \"sm\""), "{genesis}");
    assert_eq!(
        genesis.matches("\"signing_key\": \"sm2:04").count(),
        7,
        "every founding member's key is SM2: {genesis}"
    );
    for expected in [
        "the goods it bills were already financed: INV-77 v1 assigned by acme-exports to bank-b",
        "bank-d   error: node refused (Unauthenticated, bad_endorsement)",
        "exposure above 5000000 = yes",
        "hash chain and seals verified",
        "bank-e         observer",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
}
