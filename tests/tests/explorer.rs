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
    let h = height_of(node).await;
    let all: Vec<&TestNode> = net.nodes().collect();
    wait_for_height(&all, h + 1, 30).await;

    let shots = std::env::var_os("LEDGER_SCREENSHOTS").map(std::path::PathBuf::from);
    let base = node.explorer_url();
    let url = base.clone();
    let put_height = put.height;
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
            ("#/record/PO-1", "Record PO-1", "record-po"),
        ] {
            b.go(&format!("{url}/{route}"));
            b.wait_text(wait);
            keep(&b, name);
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
        &http_get(&format!("{base}/api/blocks?before={put_height}&limit=1")).await,
    )
    .unwrap();
    let full: serde_json::Value =
        serde_json::from_str(&http_get(&format!("{base}/api/block/{put_height}")).await).unwrap();
    assert_eq!(list["blocks"][0], full["block"], "{list} vs {full}");
    assert!(full["block"]["txs"].as_u64().unwrap() >= 1);

    // The JSON the pages are made of holds none either.
    for path in [
        "/api/record/INV-1",
        "/api/record/PO-1",
        &format!("/api/block/{put_height}"),
        &format!("/api/tx/{}", hex::encode(&put.tx_hash)),
    ] {
        let body = http_get(&format!("{base}{path}")).await;
        for secret in SECRETS {
            assert!(!body.contains(secret), "{secret:?} in {path}: {body}");
        }
    }
}

/// A plain HTTP/1.1 GET, the body as text.
async fn http_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{url}: {head}");
    body.to_string()
}
