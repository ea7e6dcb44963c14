//! Three banks and a regulator, each with its own node and its own SoftHSM token, on one
//! chain: bank-a validates, the others follow it. Field-level access is checked end to end
//! through each organisation's gateway: the owner reads all, a grantee only what it was
//! granted, a third party nothing (a clear not-authorised answer), the regulator what its
//! audit policy covers (and its node logs that); after a revocation the revoked bank cannot
//! read the new version; all of it holds after every node restarts. A record whose audit
//! wrap does not open is reported on chain by the regulator's node. Plaintext never
//! reaches any node's disk.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ledger_api::v1 as pb;
use ledger_crypto::field::FieldKey;
use ledger_crypto::record::{binding, seal_record, wrap_one, FieldToSeal, Reader};
use ledger_crypto::sign_tx;
use ledger_e2e::*;
use ledger_types::{
    FieldName, FieldType, OrgId, Payload, RecordField, RecordId, RegisterSchema, SchemaField,
    SchemaId, TxBody,
};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const MARKER: &str = "MARKER-7f3c9e-confidential-note";

/// A SoftHSM token in its own folder; returns the node environment that opens it.
fn token(dir: &Path, label: &str) -> Vec<(String, String)> {
    let out = Command::new(repo_path("hsm/softhsm-token.sh"))
        .arg(dir)
        .arg(label)
        .env("HSM_SO_PIN", "e2e-so-pin")
        .env("HSM_USER_PIN", TEST_PIN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    vec![
        (
            "SOFTHSM2_CONF".to_string(),
            dir.join("softhsm2.conf").display().to_string(),
        ),
        ("LEDGER_HSM_PIN".to_string(), TEST_PIN.to_string()),
    ]
}

fn hsm_node(tokens: &Path, org: &str, roles: &str, upstream: Option<&str>) -> TestNode {
    let dir = tokens.join(org);
    std::fs::create_dir_all(&dir).unwrap();
    let env = token(&dir, &format!("{org}-token"));
    let label = format!("{org}-token");
    let mut args = vec![
        "--roles",
        roles,
        "--key-backend",
        "pkcs11",
        "--pkcs11-module",
        MODULE,
        "--pkcs11-token",
        &label,
    ];
    if let Some(u) = upstream {
        args.extend(["--upstream", u]);
    }
    TestNode::init_with(org, &args, env)
}

async fn height(node: &TestNode) -> u64 {
    node.client()
        .await
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .height
}

async fn wait_height(nodes: &[&TestNode], h: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for n in nodes {
        while height(n).await < h {
            assert!(
                Instant::now() < deadline,
                "{} did not reach height {h}:\n{}",
                n.org,
                n.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn readable(r: &pb::ReadRecordResponse) -> Vec<String> {
    fields_of(r)
        .into_iter()
        .filter(|(_, v)| !v.starts_with('<'))
        .map(|(k, _)| k)
        .collect()
}

/// Every file under `dir`, recursively, must not contain `needle`.
fn assert_absent(dir: &Path, needle: &[u8]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            assert_absent(&p, needle);
        } else if let Ok(bytes) = std::fs::read(&p) {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "plaintext found in {}",
                p.display()
            );
        }
    }
}

fn invoice_schema() -> RegisterSchema {
    let f = |name: &str, ty, required| SchemaField {
        name: FieldName::new(name).unwrap(),
        ty,
        required,
        committed: false,
        fhe: false,
    };
    RegisterSchema {
        document: None,
        schema: SchemaId::new("invoice").unwrap(),
        version: 1,
        fields: vec![
            f("buyer", FieldType::Identifier, true),
            f(
                "currency",
                FieldType::Enumeration(vec!["EUR".into(), "USD".into()]),
                true,
            ),
            f("note", FieldType::Text, false),
            f("total", FieldType::Amount, true),
        ],
        auditors: vec![OrgId::new("reg-eu").unwrap()],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_access_across_three_banks_and_a_regulator_on_softhsm() {
    let tokens = tempfile::tempdir().unwrap();
    let mut a = hsm_node(tokens.path(), "bank-a", "validator,member", None);
    let up = a.url();
    let mut b = hsm_node(tokens.path(), "bank-b", "member", Some(&up));
    let mut c = hsm_node(tokens.path(), "bank-c", "member", Some(&up));
    let mut reg = hsm_node(tokens.path(), "reg-eu", "regulator", Some(&up));
    // bank-d keeps software keys so this test can forge its transactions; its node never
    // runs.
    let d = TestNode::init_with(
        "bank-d",
        &["--roles", "member"],
        vec![("LEDGER_KEY_PASSPHRASE".into(), TEST_PASSPHRASE.into())],
    );
    let net = tokens.path().join("genesis.json");
    let homes: Vec<&TestNode> = vec![&a, &b, &c, &reg, &d];
    let out = Command::new(bin("ledger-node"))
        .args(["genesis-merge", "--out"])
        .arg(&net)
        .args(homes.iter().map(|n| n.home.path()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for n in &homes {
        std::fs::copy(&net, n.home.path().join("genesis.json")).unwrap();
    }
    a.start(&[]).await;
    b.start(&[]).await;
    c.start(&[]).await;
    reg.start(&[]).await;

    let mut ga = a.gateway().await;
    let mut gb = b.gateway().await;
    let mut gc = c.gateway().await;
    let mut greg = reg.gateway().await;

    // bank-a registers the invoice schema (audited by reg-eu) and puts an invoice.
    let schema = invoice_schema();
    let mut gw_schema = ga.clone();
    let sreq = pb::GatewaySchemaRequest {
        document: String::new(),
        schema_id: "invoice".into(),
        version: None,
        fields: schema.fields.iter().map(pb::SchemaField::from).collect(),
        auditors: vec!["reg-eu".into()],
        no_wait: false,
    };
    gw_schema.register_schema(sreq).await.unwrap();
    let w = ga
        .put(
            "INV-1",
            "invoice",
            &[
                ("total", "120000"),
                ("currency", "EUR"),
                ("buyer", "GLOBEX"),
                ("note", MARKER),
            ],
            &[],
        )
        .await
        .unwrap();
    assert!(w.committed && w.version == 1);
    let w = ga
        .grant("INV-1", "bank-b", &["total", "currency"])
        .await
        .unwrap();
    wait_height(&[&b, &c, &reg], w.height).await;

    let check_v1 = |label: &'static str| {
        let (mut ga, mut gb, mut gc, mut greg) = (ga.clone(), gb.clone(), gc.clone(), greg.clone());
        async move {
            let ra = ga.read("INV-1", Some(1)).await.unwrap();
            assert_eq!(
                fields_of(&ra),
                [
                    ("buyer", "GLOBEX"),
                    ("currency", "EUR"),
                    ("note", MARKER),
                    ("total", "120000")
                ]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
                "{label}: the owner reads every field"
            );
            assert!(!ra.audit_read);
            let rb = gb.read("INV-1", Some(1)).await.unwrap();
            assert_eq!(readable(&rb), ["currency", "total"], "{label}: grantee");
            assert_eq!(fields_of(&rb)["total"], "120000");
            assert_eq!(fields_of(&rb)["buyer"], "<not authorised>");
            let rc = gc.read("INV-1", Some(1)).await.unwrap();
            assert!(
                readable(&rc).is_empty(),
                "{label}: third party reads nothing"
            );
            assert!(rc
                .fields
                .iter()
                .all(|f| f.access == pb::FieldAccess::NotAuthorised as i32
                    && f.error.contains("holds no key")));
            let rr = greg.read("INV-1", Some(1)).await.unwrap();
            assert_eq!(
                readable(&rr),
                ["buyer", "currency", "note", "total"],
                "{label}: the regulator's policy covers every field"
            );
            assert!(
                rr.audit_read,
                "{label}: the regulator's read is an audit read"
            );
        }
    };
    check_v1("before restart").await;

    // Revoke bank-b's access to the total: version 2 re-seals it under a new key.
    let w = ga.revoke("INV-1", "bank-b", &["total"]).await.unwrap();
    assert_eq!(w.version, 2);
    wait_height(&[&b, &c, &reg], w.height).await;
    let check_v2 = |label: &'static str| {
        let (mut ga, mut gb, mut greg) = (ga.clone(), gb.clone(), greg.clone());
        async move {
            let rb = gb.read("INV-1", None).await.unwrap();
            assert_eq!(rb.version, 2);
            assert_eq!(readable(&rb), ["currency"], "{label}: revoked from total");
            assert_eq!(fields_of(&rb)["total"], "<not authorised>");
            // What bank-b could read before, it still can: version 1 is unchanged.
            let old = gb.read("INV-1", Some(1)).await.unwrap();
            assert_eq!(fields_of(&old)["total"], "120000");
            let ra = ga.read("INV-1", None).await.unwrap();
            assert_eq!(fields_of(&ra)["total"], "120000");
            assert_eq!(fields_of(&ra)["note"], MARKER);
            let rr = greg.read("INV-1", None).await.unwrap();
            assert_eq!(
                readable(&rr).len(),
                4,
                "{label}: revocation spares the auditor"
            );
            let grants = ga.list_grants("INV-1").await.unwrap();
            let actions: Vec<(String, String)> = grants
                .events
                .iter()
                .map(|e| (e.action.clone(), e.org.clone()))
                .collect();
            assert_eq!(
                actions,
                [("grant", "bank-b"), ("revoke", "bank-b")]
                    .map(|(x, y)| (x.to_string(), y.to_string())),
                "{label}"
            );
            let total = grants.readers.iter().find(|r| r.field == "total").unwrap();
            assert_eq!(total.readers, ["bank-a", "reg-eu"]);
        }
    };
    check_v2("before restart").await;

    // Committed amounts: the regulator adds up loans of two banks from its audit handles
    // and decrypts only the sum; nobody else can ask.
    let loan = pb::GatewaySchemaRequest {
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
        auditors: vec!["reg-eu".into()],
        no_wait: false,
    };
    ga.register_schema(loan).await.unwrap();
    ga.put("LOAN-1", "loan", &[("amount", "250000")], &[])
        .await
        .unwrap();
    ga.put("LOAN-2", "loan", &[("amount", "1250")], &[])
        .await
        .unwrap();
    let w = gb
        .put("LOAN-3", "loan", &[("amount", "40000")], &[])
        .await
        .unwrap();
    wait_height(&[&reg], w.height).await;
    let s = greg
        .audit_sum("amount", &["LOAN-1", "LOAN-2", "LOAN-3"])
        .await
        .unwrap();
    assert_eq!(s.sum, 291_250);
    assert_eq!(s.records, ["LOAN-1@1", "LOAN-2@1", "LOAN-3@1"]);
    let e = ga.audit_sum("amount", &["LOAN-1"]).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    let e = greg.audit_sum("amount", &["INV-1"]).await.unwrap_err();
    assert!(e.message().contains("no committed field amount"), "{e:?}");
    // A sum over one record would be its amount: refused (read it under the policy).
    let e = greg.audit_sum("amount", &["LOAN-1"]).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("at least two record versions"),
        "{e:?}"
    );
    // bank-c, a third party, cannot read a loan amount.
    assert!(readable(&gc.read("LOAN-1", None).await.unwrap()).is_empty());

    // Only the owner grants; the regulator cannot be revoked; unknown credentials fail.
    let e = gb
        .grant("INV-1", "bank-c", &["currency"])
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    let e = ga.revoke("INV-1", "reg-eu", &["total"]).await.unwrap_err();
    assert!(e.message().contains("audit policy"), "{e:?}");
    let mut stranger = Gw::connect(&a.gateway_url(), "clgw-not-a-token").await;
    let e = stranger.read("INV-1", None).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);

    // bank-d (software keys) puts records whose audit wrap or ciphertext is bad: the
    // ledger cannot tell, the regulator's node can.
    let mut ca = a.client().await;
    let d_key = d.key();
    let d_enc = ca
        .get_member(pb::GetMemberRequest {
            org: "bank-d".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .encryption_key;
    let reg_enc = ca
        .get_member(pb::GetMemberRequest {
            org: "reg-eu".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .encryption_key;
    let chain = chain();
    let d_org = OrgId::new("bank-d").unwrap();
    let reg_org = OrgId::new("reg-eu").unwrap();
    let total = FieldName::new("total").unwrap();
    let amount = |v: &str| zeroize::Zeroizing::new(FieldType::Amount.encode_value(v).unwrap());
    let reader = |org: &OrgId, key: &[u8]| Reader {
        org: org.clone(),
        key: key.to_vec(),
    };
    let required = |fields: Vec<FieldToSeal>| {
        // buyer and currency are required: seal them properly.
        let mut all = fields;
        for (n, ty, v) in [
            ("buyer", FieldType::Identifier, "ACME"),
            (
                "currency",
                FieldType::Enumeration(vec!["EUR".into(), "USD".into()]),
                "USD",
            ),
        ] {
            all.push(FieldToSeal {
                name: FieldName::new(n).unwrap(),
                plaintext: zeroize::Zeroizing::new(ty.encode_value(v).unwrap()),
                readers: vec![reader(&d_org, &d_enc), reader(&reg_org, &reg_enc)],
            });
        }
        all
    };
    // D1: the audit wrap is addressed to reg-eu but made with bank-d's own key.
    let d1 = seal_record(
        &chain,
        &RecordId::new("INV-D1").unwrap(),
        1,
        &schema,
        &required(vec![FieldToSeal {
            name: total.clone(),
            plaintext: amount("5"),
            readers: vec![reader(&d_org, &d_enc), reader(&reg_org, &d_enc)],
        }]),
    )
    .unwrap();
    // D2: a proper wrap, but the sealed total was sealed for another record.
    let mut d2 = seal_record(
        &chain,
        &RecordId::new("INV-D2").unwrap(),
        1,
        &schema,
        &required(vec![]),
    )
    .unwrap();
    let key = FieldKey::generate();
    let here = binding(&chain, &d2.record, 1, &total, &schema);
    let elsewhere = binding(&chain, &RecordId::new("INV-1").unwrap(), 1, &total, &schema);
    d2.fields.push(RecordField {
        name: total.clone(),
        sealed: key.seal(&elsewhere, &amount("7")).unwrap(),
    });
    d2.fields.sort_by(|x, y| x.name.cmp(&y.name));
    for r in [reader(&d_org, &d_enc), reader(&reg_org, &reg_enc)] {
        d2.wraps.push(wrap_one(&key, &here, &r).unwrap());
    }
    ledger_crypto::record::sort_wraps(&mut d2.wraps);
    // D3: everything proper, then one ciphertext byte flipped.
    let mut d3 = seal_record(
        &chain,
        &RecordId::new("INV-D3").unwrap(),
        1,
        &schema,
        &required(vec![FieldToSeal {
            name: total.clone(),
            plaintext: amount("9"),
            readers: vec![reader(&d_org, &d_enc), reader(&reg_org, &reg_enc)],
        }]),
    )
    .unwrap();
    let t = d3.fields.iter_mut().find(|f| f.name == total).unwrap();
    let last = t.sealed.len() - 1;
    t.sealed[last] ^= 1;
    let mut last_height = 0;
    for (nonce, put) in [(1u64, d1), (2, d2), (3, d3)] {
        let tx = sign_tx(
            d_key.as_ref(),
            TxBody {
                chain_id: chain.clone(),
                signer: d_org.clone(),
                nonce,
                payload: Payload::PutRecord(put),
            },
        )
        .unwrap();
        let h = submit(&mut ca, &tx).await;
        let r = wait_committed(&mut ca, &h).await;
        assert_eq!(r.status, pb::TxStatus::Committed as i32, "{}", r.failure);
        last_height = r.height;
    }
    wait_height(&[&reg], last_height).await;
    for (record, why) in [
        ("INV-D1", "the key wrap addressed to reg-eu does not open"),
        ("INV-D2", "the sealed value does not open"),
        ("INV-D3", "the sealed value does not open"),
    ] {
        let r = greg.read(record, None).await.unwrap();
        let t = r.fields.iter().find(|f| f.name == "total").unwrap();
        assert_eq!(t.access, pb::FieldAccess::Unreadable as i32, "{record}");
        assert!(t.error.contains(why), "{record}: {}", t.error);
        assert!(
            t.value.is_empty(),
            "{record}: no plaintext for a field that does not open"
        );
        assert_eq!(
            fields_of(&r)["buyer"],
            "ACME",
            "{record}: other fields still open"
        );
    }
    // The regulator's node filed an AuditAlert for each, naming record and owner.
    let deadline = Instant::now() + Duration::from_secs(30);
    for record in ["INV-D1", "INV-D2", "INV-D3"] {
        loop {
            let r = ca
                .get_record(pb::GetRecordRequest {
                    record_id: record.into(),
                    version: None,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            if let Some(alert) = r.alerts.first() {
                assert_eq!(
                    (
                        alert.regulator.as_str(),
                        alert.owner.as_str(),
                        alert.field.as_str()
                    ),
                    ("reg-eu", "bank-d", "total"),
                    "{record}"
                );
                assert_eq!(r.alerts.len(), 1, "{record}: one alert per bad field");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no audit alert on {record}:\n{}",
                reg.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let r = ca
        .get_record(pb::GetRecordRequest {
            record_id: "INV-1".into(),
            version: None,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.alerts.is_empty(), "a sound record raises no alert");

    // Every node restarts; everything above still holds.
    for n in [&mut reg, &mut c, &mut b, &mut a] {
        assert!(n.stop().success(), "{}", n.log());
    }
    a.start(&[]).await;
    b.start(&[]).await;
    c.start(&[]).await;
    reg.start(&[]).await;
    ga = a.gateway().await;
    gb = b.gateway().await;
    gc = c.gateway().await;
    greg = reg.gateway().await;
    let tip = height(&a).await;
    wait_height(&[&b, &c, &reg], tip).await;
    check_v1_after(&ga, &gb, &gc, &greg).await;
    let mut gb2 = gb.clone();
    let rb = gb2.read("INV-1", None).await.unwrap();
    assert_eq!(readable(&rb), ["currency"], "after restart: still revoked");

    // The regulator's audit log holds its reads and verifies (the node must be stopped
    // first: SoftHSM does not share a token between two processes reliably).
    for n in [&mut reg, &mut c, &mut b, &mut a] {
        assert!(n.stop().success());
    }
    let out = Command::new(bin("ledger-node"))
        .args(["audit-log", "--home"])
        .arg(reg.home.path())
        .envs([
            (
                "SOFTHSM2_CONF",
                tokens
                    .path()
                    .join("reg-eu/softhsm2.conf")
                    .display()
                    .to_string(),
            ),
            ("LEDGER_HSM_PIN", TEST_PIN.to_string()),
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("intact"), "{text}");
    assert!(
        text.contains("reg-eu read INV-1 v1 field note (owner bank-a) via cli"),
        "{text}"
    );
    assert!(
        text.contains(
            "reg-eu read LOAN-3 v1 field amount (in a sum over 3 records) (owner bank-b) via cli"
        ),
        "{text}"
    );

    // The distinctive plaintext never reached any node's files.
    for n in [&a, &b, &c, &reg] {
        assert_absent(n.home.path(), MARKER.as_bytes());
    }
}

async fn check_v1_after(ga: &Gw, gb: &Gw, gc: &Gw, greg: &Gw) {
    let (mut ga, mut gb, mut gc, mut greg) = (ga.clone(), gb.clone(), gc.clone(), greg.clone());
    let ra = ga.read("INV-1", Some(1)).await.unwrap();
    assert_eq!(fields_of(&ra)["note"], MARKER, "after restart: owner");
    let rb = gb.read("INV-1", Some(1)).await.unwrap();
    assert_eq!(
        readable(&rb),
        ["currency", "total"],
        "after restart: grantee"
    );
    let rc = gc.read("INV-1", Some(1)).await.unwrap();
    assert!(readable(&rc).is_empty(), "after restart: third party");
    let rr = greg.read("INV-1", Some(1)).await.unwrap();
    assert_eq!(readable(&rr).len(), 4, "after restart: regulator");
}
