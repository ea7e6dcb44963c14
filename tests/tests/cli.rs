//! The `ledger` CLI binary against a running node: schemas, records through the gateway,
//! status, refusals.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use ledger_e2e::*;

fn ledger(node: &TestNode, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin("ledger"))
        .arg("--node")
        .arg(node.url())
        .args(args)
        .env("LEDGER_KEY_PASSPHRASE", TEST_PASSPHRASE)
        .output()
        .expect("run ledger");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_registers_schemas_puts_and_reads_records() {
    let mut node = TestNode::init("bank-a");
    node.start(&[]).await;
    let home = node.home.path().display().to_string();

    let (ok, out) = ledger(
        &node,
        &[
            "register-schema",
            "--home",
            &home,
            "--schema",
            "invoice",
            "--field",
            "total:amount:required",
            "--field",
            "currency:enum=USD|EUR",
        ],
    );
    assert!(
        ok && out.contains("schema invoice version 1") && out.contains("committed at height"),
        "{out}"
    );
    let (ok, out) = ledger(&node, &["get-schema", "--schema", "invoice"]);
    assert!(
        ok && out.contains("currency : enumeration [EUR|USD]")
            && out.contains("total : amount (required)"),
        "{out}"
    );

    // Records go through the node's gateway: sealed by the node, read back decrypted.
    let (ok, out) = ledger(
        &node,
        &[
            "put-record",
            "--home",
            &home,
            "--record",
            "INV-1",
            "--schema",
            "invoice",
            "--field",
            "total=1200",
            "--field",
            "currency=EUR",
        ],
    );
    assert!(
        ok && out.contains("record INV-1 version 1 committed"),
        "{out}"
    );
    let (ok, out) = ledger(
        &node,
        &[
            "put-record",
            "--home",
            &home,
            "--record",
            "INV-1",
            "--field",
            "total=1300",
            "--field",
            "currency=USD",
        ],
    );
    assert!(ok && out.contains("record INV-1 version 2"), "{out}");
    let (ok, out) = ledger(
        &node,
        &[
            "read-record",
            "--home",
            &home,
            "--record",
            "INV-1",
            "--version",
            "1",
        ],
    );
    assert!(
        ok && out.contains("total = 1200")
            && out.contains("currency = EUR")
            && out.contains("latest 2"),
        "{out}"
    );
    // The public API shows ciphertext and who may read it, never the value.
    let (ok, out) = ledger(&node, &["get-record", "--record", "INV-1"]);
    assert!(
        ok && out.contains("total : 37 sealed bytes, readable by bank-a") && !out.contains("1300"),
        "{out}"
    );
    let (ok, out) = ledger(
        &node,
        &[
            "put-record",
            "--home",
            &home,
            "--record",
            "INV-2",
            "--schema",
            "invoice",
            "--field",
            "total=12.50",
        ],
    );
    assert!(
        !ok && out.contains("field total: an amount is a whole number of minor units"),
        "{out}"
    );

    // A schema from a file.
    let file = node.home.path().join("po.toml");
    std::fs::write(
        &file,
        "schema = \"po\"\n[[field]]\nname = \"qty\"\ntype = \"amount\"\nrequired = true\n[[field]]\nname = \"incoterm\"\ntype = \"enum\"\nvalues = [\"FOB\", \"CIF\"]\n",
    )
    .unwrap();
    let (ok, out) = ledger(
        &node,
        &[
            "register-schema",
            "--home",
            &home,
            "--file",
            file.to_str().unwrap(),
        ],
    );
    assert!(ok && out.contains("schema po version 1"), "{out}");
    let (ok, out) = ledger(&node, &["get-schema", "--schema", "po"]);
    assert!(
        ok && out.contains("incoterm : enumeration [CIF|FOB]")
            && out.contains("qty : amount (required)"),
        "{out}"
    );

    // A committed amount: the ledger holds a commitment and a range proof, the owner
    // reads the value back through the opening sealed in the field.
    let (ok, out) = ledger(
        &node,
        &[
            "register-schema",
            "--home",
            &home,
            "--schema",
            "loan",
            "--field",
            "amount:amount:required:committed",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = ledger(
        &node,
        &[
            "put-record",
            "--home",
            &home,
            "--record",
            "L-1",
            "--schema",
            "loan",
            "--field",
            "amount=75000",
        ],
    );
    assert!(ok && out.contains("committed at height"), "{out}");
    let (ok, out) = ledger(&node, &["read-record", "--home", &home, "--record", "L-1"]);
    assert!(ok && out.contains("amount = 75000"), "{out}");
    let (ok, out) = ledger(&node, &["get-record", "--record", "L-1"]);
    assert!(ok && out.contains("amount : 69 sealed bytes"), "{out}");
    // Cross-checks between committed amounts: equal, at-most; a false one is refused.
    for (rec, amount) in [("L-2", "75000"), ("L-3", "60000")] {
        let (ok, out) = ledger(
            &node,
            &[
                "put-record",
                "--home",
                &home,
                "--record",
                rec,
                "--schema",
                "loan",
                "--field",
                &format!("amount={amount}"),
            ],
        );
        assert!(ok, "{out}");
    }
    let (ok, out) = ledger(
        &node,
        &[
            "cross-check",
            "--home",
            &home,
            "--relation",
            "equal",
            "--operand",
            "L-1:amount",
            "--operand",
            "L-2@1:amount",
        ],
    );
    assert!(ok && out.contains("cross-check equal over"), "{out}");
    let (ok, out) = ledger(
        &node,
        &[
            "cross-check",
            "--home",
            &home,
            "--relation",
            "at-most",
            "--operand",
            "L-3:amount",
            "--operand",
            "L-1:amount",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = ledger(
        &node,
        &[
            "cross-check",
            "--home",
            &home,
            "--relation",
            "equal",
            "--operand",
            "L-1:amount",
            "--operand",
            "L-3:amount",
        ],
    );
    assert!(!ok && out.contains("the relation does not hold"), "{out}");
    let (ok, out) = ledger(&node, &["get-record", "--record", "L-1"]);
    assert!(
        ok && out.contains("check      linear [1, -1] over L-1@1:amount, L-2@1:amount")
            && out.contains("check      at-most over L-3@1:amount, L-1@1:amount"),
        "{out}"
    );

    // Refusals are readable and name the reason.
    let (ok, out) = ledger(
        &node,
        &[
            "register-schema",
            "--home",
            &home,
            "--schema",
            "po2",
            "--field",
            "total:amount",
            "--auditor",
            "bank-a",
        ],
    );
    assert!(
        !ok && out.contains("would_fail") && out.contains("bank-a is not a registered regulator"),
        "{out}"
    );
    let (ok, out) = ledger(&node, &["get-record", "--record", "NOPE"]);
    assert!(!ok && out.contains("no record NOPE"), "{out}");
    let (ok, out) = ledger(&node, &["status"]);
    assert!(ok && out.contains("chain id       e2e-chain"), "{out}");
}

#[test]
fn both_binaries_end_quietly_when_stdout_is_closed() {
    // `scripts/network.sh init` pipes `genesis-merge` into `head -1`, which may close the
    // pipe before the command's second line: a closed stdout must end the command with
    // success, not a panic.
    let node = TestNode::init("bank-a");
    let out_file = node.home.path().join("merged.json");
    let runs: [(&str, Vec<std::ffi::OsString>); 2] = [
        (
            "ledger-node",
            vec![
                "genesis-merge".into(),
                "--out".into(),
                out_file.clone().into(),
                node.home.path().into(),
            ],
        ),
        ("ledger", vec!["--help".into()]),
    ];
    for (binary, args) in runs {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(bin(binary))
            .args(&args)
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{binary}: {stderr}");
        if binary == "ledger-node" {
            assert!(out.status.success(), "{binary}: {stderr}");
            assert!(out_file.exists(), "the merged genesis was written first");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_development_circuit_keys_need_a_development_chain() {
    // init refuses them without --development, and without either flag asks for the
    // consortium's keys; nothing is created.
    let home = tempfile::tempdir().unwrap();
    for (args, says) in [
        (
            &["--circuit-keys", "dev"][..],
            "only a development chain may use them",
        ),
        (&[][..], "give --circuit-keys DIR"),
    ] {
        let out = Command::new(bin("ledger-node"))
            .args(["init", "--org", "bank-x", "--home"])
            .arg(home.path())
            .args(args)
            .env("LEDGER_KEY_PASSPHRASE", TEST_PASSPHRASE)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!home.path().join("config.toml").exists());
    }

    // A development chain says so at every start.
    let mut node = TestNode::init("bank-a");
    let genesis_path = node.home.path().join("genesis.json");
    let mut genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&genesis_path).unwrap()).unwrap();
    assert_eq!(genesis["development"], serde_json::Value::Bool(true));
    for _ in 0..2 {
        node.start(&[]).await;
        node.stop();
        assert!(node.log().contains("DEVELOPMENT CHAIN"), "{}", node.log());
    }

    // The same keys in a genesis that does not say development: refused, naming why.
    genesis.as_object_mut().unwrap().remove("development");
    std::fs::write(&genesis_path, genesis.to_string()).unwrap();
    let (status, log) = node.start_expecting_failure();
    assert!(!status.success());
    assert!(
        log.contains("pins the public development circuit keys")
            && log.contains("not a development chain"),
        "{log}"
    );
}

/// The load generator, one transaction per call and in `SubmitTxs` batches (with a batch
/// that does not divide the count): everything it submits commits, nothing is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_commits_everything_singly_and_in_batches() {
    let mut node = TestNode::init("bank-a");
    node.start(&[]).await;
    let home = node.home.path().to_str().unwrap().to_string();
    for (txs, extra) in [
        ("300", vec!["--batch", "1"]),
        ("1000", vec!["--batch", "64", "--concurrency", "4"]),
    ] {
        let mut args = vec!["load", "--home", &home, "--txs", txs];
        args.extend(extra.iter().copied());
        let (ok, text) = ledger(&node, &args);
        assert!(ok, "{text}");
        assert!(text.contains(&format!("committed      {txs} in")), "{text}");
        assert!(!text.contains("rejected"), "{text}");
    }
    // Confidential: each record with its range proof, each cross-check filed once its two
    // records are committed (admission refuses a check over a record not stored yet);
    // singly and batched, every one committed and applied.
    // (A batch of 64 holds every record of the run: the checks go in later batches.)
    for extra in [
        vec![],
        vec!["--batch", "16", "--concurrency", "4"],
        vec!["--batch", "64"],
    ] {
        let mut args = vec!["load", "--home", &home, "--txs", "40", "--confidential"];
        args.extend(extra.iter().copied());
        let (ok, text) = ledger(&node, &args);
        assert!(ok, "{text}");
        assert!(text.contains("committed      79 in"), "{text}");
        assert!(
            text.contains("40 records with a range proof + 39 equality cross-checks"),
            "{text}"
        );
        assert!(!text.contains("rejected"), "{text}");
    }
}
