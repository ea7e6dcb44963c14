//! A node whose keys live in a SoftHSM token: init generates them inside the token, the
//! daemon signs blocks through it, a client signs transactions through it, everything
//! survives a restart, and OpenSC's pkcs11-tool sees the keys the node made.

use std::process::Command;

use ledger_api::v1 as pb;
use ledger_e2e::*;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_keys_in_softhsm_commits_restarts_and_never_logs_the_pin() {
    let tokens = tempfile::tempdir().unwrap();
    let out = Command::new(repo_path("hsm/softhsm-token.sh"))
        .arg(tokens.path())
        .arg("bank-h-token")
        .env("HSM_SO_PIN", "e2e-so-pin")
        .env("HSM_USER_PIN", TEST_PIN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = tokens.path().join("softhsm2.conf");
    // This process opens the token too (to sign client transactions).
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let env = vec![
        ("SOFTHSM2_CONF".to_string(), conf.display().to_string()),
        ("LEDGER_HSM_PIN".to_string(), TEST_PIN.to_string()),
    ];
    let mut node = TestNode::init_with(
        "bank-h",
        &[
            "--key-backend",
            "pkcs11",
            "--pkcs11-module",
            MODULE,
            "--pkcs11-token",
            "bank-h-token",
        ],
        env.clone(),
    );
    let config = std::fs::read_to_string(node.home.path().join("config.toml")).unwrap();
    assert!(
        config.contains("backend = \"pkcs11\"") && !config.contains(TEST_PIN),
        "{config}"
    );
    assert!(
        !node.home.path().join("keys").exists(),
        "no key material on disk beside the node"
    );

    node.start(&[]).await;
    let key = node.hsm_key(MODULE, "bank-h-token");
    let mut c = node.client().await;
    let member = c
        .get_member(pb::GetMemberRequest {
            org: "bank-h".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        member.signing_key,
        ledger_crypto::Signer::public_key(key.as_ref()).to_text()
    );
    assert_eq!(
        member.encryption_key.len(),
        65,
        "the agreement key's P-256 point is the member's encryption key"
    );

    let writer = Writer::setup(key.clone(), &node.org, &mut c).await;
    let tx = writer.put(2, "inv-hsm", 1, b"signed in the token");
    let h = submit(&mut c, &tx).await;
    let r = wait_committed(&mut c, &h).await;
    assert_eq!(r.status, pb::TxStatus::Committed as i32);

    let block = c
        .get_block(pb::GetBlockRequest {
            height: Some(r.height),
        })
        .await
        .unwrap()
        .into_inner();
    let block = ledger_types::Block::decode(&block.block).unwrap();
    let digest = ledger_types::block::commit_digest(
        &block.header().chain_id,
        block.height(),
        block.commit.round,
        &block.hash(),
        &node.org,
    );
    // The node's metrics show its HSM at work, and its log holds no ERROR line: opening
    // SoftHSM used to log dozens (issue 19).
    let metrics = node.scrape().await;
    let signing = metrics
        .lines()
        .find(|l| l.starts_with("ledger_hsm_operation_seconds_count{operation=\"signing\"}"))
        .unwrap_or_else(|| panic!("no HSM signing latency in\n{metrics}"));
    assert!(!signing.ends_with(" 0"), "{signing}");
    let log = node.log();
    assert!(!log.contains("ERROR"), "{log}");
    assert!(node.stop().success());
    drop(key);
    // With the node stopped and our own sessions closed (SoftHSM 2.6 misbehaves when two
    // processes use one token at once), OpenSC exports the public key from the token and
    // OpenSSL verifies with it the commit signature the daemon made on the block holding the
    // transaction; a changed digest does not verify.
    let files = tempfile::tempdir().unwrap();
    let (pubkey, sig, msg) = (
        files.path().join("pub.pem"),
        files.path().join("sig"),
        files.path().join("msg"),
    );
    let export = Command::new("pkcs11-tool")
        .args([
            "--module",
            MODULE,
            "--token-label",
            "bank-h-token",
            "--read-object",
            "--type",
            "pubkey",
        ])
        .args(["--label", "bank-h-signing", "-o"])
        .arg(&pubkey)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    std::fs::write(&sig, &block.commit.signatures[0].signature.0).unwrap();
    // OpenSC 0.23's own `--verify --mechanism EDDSA` fails on some valid inputs
    // (C_VerifyUpdate: CKR_OPERATION_NOT_INITIALIZED), so OpenSSL checks the signature.
    let verify = |m: &[u8]| {
        std::fs::write(&msg, m).unwrap();
        Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
            .arg(&pubkey)
            .arg("-in")
            .arg(&msg)
            .arg("-sigfile")
            .arg(&sig)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(
        verify(&digest.0),
        "OpenSSL refuses the node's commit signature"
    );
    let mut other = digest.0;
    other[0] ^= 1;
    assert!(
        !verify(&other),
        "OpenSSL accepts a signature over another digest"
    );

    node.start(&[]).await;
    let key = node.hsm_key(MODULE, "bank-h-token");
    let mut c = node.client().await;
    let rec = c
        .get_record(pb::GetRecordRequest {
            record_id: "inv-hsm".into(),
            version: None,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        rec.fields[0].sealed.len(),
        29 + b"signed in the token".len()
    );
    assert_eq!(rec.wraps[0].reader, "bank-h");
    // Blocks after the restart are still committed with the token's key.
    let h2 = submit(
        &mut c,
        &Writer {
            key: key.clone(),
            ..writer
        }
        .put(3, "inv-hsm", 2, b"v2"),
    )
    .await;
    assert_eq!(
        wait_committed(&mut c, &h2).await.status,
        pb::TxStatus::Committed as i32
    );
    for n in 1..=2 {
        let log = std::fs::read_to_string(node.log_path(n)).unwrap();
        assert!(log.contains("PKCS#11 token opened"), "{log}");
        assert!(!log.contains(TEST_PIN), "start {n} logged the PIN");
    }

    // The operator's view: `ledger-node keys` and OpenSC list the three keys.
    let keys = Command::new(bin("ledger-node"))
        .args(["keys", "--home"])
        .arg(node.home.path())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let keys = String::from_utf8_lossy(&keys.stdout);
    for label in ["bank-h-signing", "bank-h-agreement", "bank-h-seal"] {
        assert!(keys.contains(label), "{keys}");
    }
    let listing = Command::new("pkcs11-tool")
        .args([
            "--module",
            MODULE,
            "--token-label",
            "bank-h-token",
            "--login",
            "--pin",
            "env:LEDGER_HSM_PIN",
            "--list-objects",
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("bank-h-signing") && listing.contains("never extractable"),
        "{listing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_pin_or_wrong_token_stops_init_with_a_clear_error() {
    let out = Command::new(bin("ledger-node"))
        .args([
            "init",
            "--development",
            "--org",
            "bank-x",
            "--key-backend",
            "pkcs11",
            "--pkcs11-token",
            "no-such-token",
            "--home",
        ])
        .arg(tempfile::tempdir().unwrap().path())
        .env_remove("LEDGER_HSM_PIN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LEDGER_HSM_PIN"), "{err}");
    let out = Command::new(bin("ledger-node"))
        .args(["init", "--development", "--org", "bank-x", "--home"])
        .arg(tempfile::tempdir().unwrap().path())
        .env_remove("LEDGER_KEY_PASSPHRASE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LEDGER_KEY_PASSPHRASE"));
}
