//! The block explorer in a real browser (headless Chromium driven by chromedriver) on a
//! running network of four validators and a regulator: it finds a block, follows a
//! transaction to its record and the record to its checks and access history, lists
//! members, validators, schemas and governance, and no plaintext field value appears on
//! any page. `LEDGER_SCREENSHOTS=DIR` keeps screenshots of the main pages (docs/explorer/).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger_api::v1 as pb;
use ledger_e2e::webdriver::{Browser, ENTER};
use ledger_e2e::*;

/// Field values written below: none may appear on a page.
const SECRETS: [&str; 4] = [
    "7314259",
    "8426351",
    "globex-imports-secret",
    "Pallet of walnuts",
];

fn field(name: &str, ty: &str, committed: bool) -> pb::SchemaField {
    pb::SchemaField {
        name: name.into(),
        r#type: ty.into(),
        required: true,
        committed,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_shows_blocks_records_and_checks_in_a_browser_and_no_plaintext() {
    let mut net = TestNet::new(4, 1);
    net.start_all(&["--block-time-ms", "50"]).await;
    let node = &net.validators[0];
    let mut gw = node.gateway().await;
    gw.register_schema(pb::GatewaySchemaRequest {
        schema_id: "invoice".into(),
        fields: vec![
            field("buyer", "identifier", false),
            field("goods", "text", false),
            field("total", "amount", true),
        ],
        auditors: vec!["obs-1".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let put = gw
        .put(
            "INV-1",
            "invoice",
            &[
                ("total", SECRETS[0]),
                ("buyer", SECRETS[2]),
                ("goods", SECRETS[3]),
            ],
            &[],
        )
        .await
        .unwrap();
    gw.put(
        "PO-1",
        "invoice",
        &[("total", SECRETS[1]), ("buyer", SECRETS[2]), ("goods", "x")],
        &[],
    )
    .await
    .unwrap();
    gw.cross_check("at-most", &[("INV-1", "total"), ("PO-1", "total")])
        .await
        .unwrap();
    gw.grant("INV-1", "val-2", &["total"]).await.unwrap();
    gw.endorse("alert.INV-1", "offered twice", false)
        .await
        .unwrap();
    // The regulator files an alert about the invoice's total (its reason is public).
    let regulator = &net.observers[0];
    let mut c = node.client().await;
    let nonce = c
        .get_member(pb::GetMemberRequest {
            org: regulator.org.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .next_free_nonce;
    let alert = ledger_crypto::sign_tx(
        regulator.key().as_ref(),
        ledger_types::TxBody {
            chain_id: ledger_types::ChainId::new("e2e-chain").unwrap(),
            signer: regulator.org.clone(),
            nonce,
            payload: ledger_types::Payload::AuditAlert(ledger_types::AuditAlert {
                record: ledger_types::RecordId::new("INV-1").unwrap(),
                version: 1,
                field: ledger_types::FieldName::new("total").unwrap(),
                owner: node.org.clone(),
                reason: "audit wrap does not open".into(),
            }),
        },
    )
    .unwrap();
    let h = submit(&mut c, &alert).await;
    let r = wait_committed(&mut c, &h).await;
    assert_eq!(r.status, pb::TxStatus::Committed as i32, "{r:?}");
    let h = height_of(node).await;
    let all: Vec<&TestNode> = net.nodes().collect();
    wait_for_height(&all, h + 1, 30).await;

    // The regulator reads the invoice under the schema's audit policy (its audit log).
    let token = |n: &TestNode| {
        std::fs::read_to_string(n.home.path().join("gateway-cli.token"))
            .unwrap()
            .trim()
            .to_string()
    };
    let (bank_token, reg_token) = (token(node), token(regulator));
    let reg_url = regulator.explorer_url();

    let shots = std::env::var_os("LEDGER_SCREENSHOTS").map(std::path::PathBuf::from);
    let base = node.explorer_url();
    let url = base.clone();
    let put_height = put.height;
    let bank_token_b = bank_token.clone();
    let pages = tokio::task::spawn_blocking(move || {
        let b = Browser::start();
        let mut seen = Vec::new();
        let mut keep = |b: &Browser, name: &str| {
            seen.push((b.url(), b.source()));
            if let Some(dir) = &shots {
                std::fs::create_dir_all(dir).unwrap();
                std::fs::write(dir.join(format!("{name}.png")), b.screenshot()).unwrap();
            }
        };
        // The overview lists the latest blocks and the validators, live.
        b.go(&format!("{url}/#/"));
        b.find("#blocks a.block-link");
        b.wait_text("Validators signing the last block");
        b.wait_text("val-4");
        keep(&b, "overview");
        // Find the block holding the invoice by its height, from the search box.
        let q = b.find("#q");
        b.type_in(&q, &format!("{put_height}{ENTER}"));
        b.wait_text(&format!("Block {put_height}"));
        b.find("#commit");
        b.wait_text("Commit certificate");
        keep(&b, "block");
        // Its transaction, then the record it wrote.
        let tx = b.find("#txs a.tx-link");
        b.click(&tx);
        b.wait_text("What the ledger holds");
        b.wait_text("PutRecord");
        keep(&b, "transaction");
        let rec = b.find("a.record-link");
        b.click(&rec);
        b.wait_text("Record INV-1");
        // Who holds a key to which field, its checks and its access history.
        let checks = b.find("#checks");
        let text = b.element_text(&checks);
        assert!(
            text.contains("at-most") && text.contains("PO-1"),
            "the record's checks: {text}"
        );
        let fields = b.element_text(&b.find("#fields"));
        assert!(
            fields.contains("obs-1") && fields.contains("val-2"),
            "{fields}"
        );
        let access = b.element_text(&b.find("#access"));
        assert!(
            access.contains("grant") && access.contains("val-2"),
            "{access}"
        );
        keep(&b, "record");
        // The other pages.
        for (route, wait, name) in [
            ("#/blocks", "Blocks", "blocks"),
            ("#/records", "PO-1", "records"),
            ("#/schemas", "invoice", "schemas"),
            ("#/schema/invoice", "Encrypted for analytics", "schema"),
            ("#/members", "in good standing", "members"),
            ("#/validators", "Signed the last block", "validators"),
            ("#/governance", "Governors", "governance"),
            ("#/analytics", "Encrypted analytics", "analytics"),
            ("#/alerts", "audit wrap does not open", "alerts"),
            ("#/txs?kind=CrossCheck", "CrossCheck", "transactions"),
            ("#/endorsements", "alert.INV-1", "topics"),
            (
                "#/endorsements/alert.INV-1",
                "Endorsements of alert.INV-1",
                "endorsements",
            ),
            ("#/record/PO-1", "Record PO-1", "record-po"),
        ] {
            b.go(&format!("{url}/{route}"));
            b.wait_text(wait);
            keep(&b, name);
        }
        // The bank's own view, behind its gateway credential: its record decrypted.
        b.go(&format!("{url}/#/me"));
        let t = b.find("#token");
        b.type_in(&t, &format!("{bank_token_b}{ENTER}"));
        b.wait_text("signed in as client cli");
        let r = b.find("#private-record");
        b.type_in(&r, &format!("INV-1{ENTER}"));
        b.wait_text("as your organisation reads it");
        let fields = b.element_text(&b.find("#private-fields"));
        assert!(
            fields.contains(SECRETS[0]) && fields.contains(SECRETS[2]),
            "the owner reads its record: {fields}"
        );
        if let Some(dir) = &shots {
            std::fs::write(dir.join("private-record.png"), b.screenshot()).unwrap();
        }
        // The regulator's explorer: signed in with its credential, it reads the invoice
        // under the audit policy, and its audit log shows the read.
        b.go(&format!("{reg_url}/#/me"));
        let t = b.find("#token");
        b.type_in(&t, &format!("{reg_token}{ENTER}"));
        b.wait_text("signed in as client cli");
        b.go(&format!("{reg_url}/#/me/record/INV-1"));
        b.wait_text("yes (in your audit log)");
        b.go(&format!("{reg_url}/#/me"));
        let log = b.element_text(&b.find("#audit-log"));
        assert!(log.contains("INV-1") && log.contains("total"), "{log}");
        let filed = b.element_text(&b.find("#my-alerts"));
        assert!(filed.contains("audit wrap does not open"), "{filed}");
        if let Some(dir) = &shots {
            std::fs::write(dir.join("regulator.png"), b.screenshot()).unwrap();
        }
        seen
    })
    .await
    .unwrap();
    assert!(pages.len() >= 13);
    for (page, source) in &pages {
        for secret in SECRETS {
            assert!(
                !source.contains(secret),
                "{secret:?} shown on {page}:\n{source}"
            );
        }
    }
    // The block list (read without decoding transactions) agrees with the block itself.
    let list: serde_json::Value = serde_json::from_str(
        &get_ok(&format!("{base}/api/blocks?before={put_height}&limit=1")).await,
    )
    .unwrap();
    let full: serde_json::Value =
        serde_json::from_str(&get_ok(&format!("{base}/api/block/{put_height}")).await).unwrap();
    assert_eq!(list["blocks"][0], full["block"], "{list} vs {full}");
    assert!(full["block"]["txs"].as_u64().unwrap() >= 1);

    // The endorsement is listed under its topic, without a name.
    let topics: serde_json::Value =
        serde_json::from_str(&get_ok(&format!("{base}/api/endorsements")).await).unwrap();
    assert_eq!(topics["topics"][0]["topic"], "alert.INV-1", "{topics}");
    assert_eq!(topics["topics"][0]["endorsements"], 1, "{topics}");

    // Transactions by kind: the check, and only checks.
    let checks: serde_json::Value =
        serde_json::from_str(&get_ok(&format!("{base}/api/txs?kind=CrossCheck")).await).unwrap();
    let list = checks["txs"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{checks}");
    assert_eq!(list[0]["subject"]["record"], "INV-1");
    let puts: serde_json::Value =
        serde_json::from_str(&get_ok(&format!("{base}/api/txs?kind=PutRecord")).await).unwrap();
    assert_eq!(puts["txs"].as_array().unwrap().len(), 2, "{puts}");

    // Private views need a known credential; the public API needs none.
    for token in [None, Some("not-a-token")] {
        let (status, body) = http_get(&format!("{base}/api/private/record/INV-1"), token).await;
        assert!(status.contains("401"), "{status} {body}");
        assert!(!body.contains(SECRETS[0]), "{body}");
    }
    let (status, _) = http_get(&format!("{base}/api/private/whoami"), Some(&bank_token)).await;
    assert!(status.contains("200"), "{status}");

    // The JSON the pages are made of holds none either.
    for path in [
        "/api/record/INV-1",
        "/api/record/PO-1",
        &format!("/api/block/{put_height}"),
        &format!("/api/tx/{}", hex::encode(&put.tx_hash)),
    ] {
        let body = get_ok(&format!("{base}{path}")).await;
        for secret in SECRETS {
            assert!(!body.contains(secret), "{secret:?} in {path}: {body}");
        }
    }
}

/// A plain HTTP/1.1 GET that must answer 200; the body as text.
async fn get_ok(url: &str) -> String {
    let (status, body) = http_get(url, None).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{url}: {status}");
    body
}
