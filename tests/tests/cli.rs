//! The `ledger` CLI binary against a running node: schema, status, refusals.

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
async fn the_cli_registers_and_reads_a_schema() {
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

    // Refusals are readable and name the reason.
    let (ok, out) = ledger(
        &node,
        &[
            "register-schema",
            "--home",
            &home,
            "--schema",
            "po",
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
