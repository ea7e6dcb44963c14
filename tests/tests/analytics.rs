//! Encrypted analytics on the four-validator network (docs/fhe.md): a seller finances two
//! deliveries of the same buyer at two banks, each request carrying its amount encrypted
//! under the analytics key of reg-1 (the authority, small profile); banks ask whether the
//! buyer's exposure is above a limit and whether one bank holds too large a share. Every
//! validator re-runs each query and attests the same hash, reg-1 decrypts only the
//! accepted boolean and logs it; the answers match plaintext arithmetic, including the
//! boundary. A financing whose encrypted amount does not verify is refused by every
//! validator; an answer from anyone but the authority, or before acceptance, is refused.
//! Then a schema's amount field flagged `fhe`: records carry it encrypted, proven for their
//! version; a field total over an owner's records counts each record's latest version; an
//! altered or replayed encrypted value is refused by every validator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger_api::v1 as pb;
use ledger_e2e::*;
use ledger_types::{Analytics, Hash, Payload, TxBody};

const BLOCK_TIME: &[&str] = &["--block-time-ms", "30"];
const SELLER: &str = "obs-1";
const BUYER: &str = "obs-2";

fn schema(id: &str, kind: &str) -> pb::GatewaySchemaRequest {
    pb::GatewaySchemaRequest {
        schema_id: id.into(),
        version: None,
        fields: vec![],
        auditors: vec![],
        no_wait: false,
        document: kind.into(),
    }
}

fn line(p: u64, q: u64) -> pb::DocumentLine {
    pb::DocumentLine {
        unit_price: p,
        quantity: q,
        total: p * q,
    }
}

fn doc(number: &str, reference: &str, lines: Vec<pb::DocumentLine>) -> pb::DocumentInput {
    let total = lines.iter().map(|l| l.total).sum();
    pb::DocumentInput {
        seller: SELLER.into(),
        buyer: BUYER.into(),
        carrier: String::new(),
        number: number.into(),
        reference: reference.into(),
        issue_date: "2026-11-20".into(),
        lines,
        total,
    }
}

/// Follows query `id` on `node` until answered and attested by all four validators (the
/// answer may come as soon as three of them agree); returns that view.
async fn answered(node: &TestNode, id: &Hash) -> pb::GetAnalyticsQueryResponse {
    let mut c = node.client().await;
    for _ in 0..600 {
        if let Ok(r) = c
            .get_analytics_query(pb::GetAnalyticsQueryRequest {
                query: id.0.to_vec(),
            })
            .await
        {
            let q = r.into_inner();
            if q.answered && q.attestations.len() == 4 {
                return q;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("query {id} not answered on {} within 120 s", node.org);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposure_and_concentration_are_answered_on_ciphertexts_and_checked_by_every_validator() {
    let mut net = TestNet::with_analytics(4, 2, "corporate");
    net.start_all(BLOCK_TIME).await;
    let mut bank_a = net.validators[0].gateway().await;
    let mut seller = net.observers[0].gateway().await;
    let mut buyer = net.observers[1].gateway().await;
    for (id, kind) in [
        ("po", "purchase-order"),
        ("dn", "delivery-note"),
        ("invoice", "invoice"),
    ] {
        bank_a.register_schema(schema(id, kind)).await.unwrap();
    }
    let h = height_of(&net.validators[0]).await;
    let all: Vec<&TestNode> = net.nodes().collect();
    wait_for_height(&all, h, 60).await;

    // Two deliveries to the buyer, invoiced 50 and 200 (the small profile's amounts are
    // below 256; their total is not), financed at val-2 and val-3.
    let mut financed = Vec::new();
    for (n, lines, bank) in [
        ("1", vec![line(5, 10)], "val-2"),
        ("2", vec![line(20, 10)], "val-3"),
    ] {
        let (po, dn, inv) = (format!("PO-{n}"), format!("DN-{n}"), format!("INV-{n}"));
        buyer
            .put_document_for(&po, "po", doc(&po, "", lines.clone()), &[SELLER])
            .await
            .unwrap();
        let delivered: Vec<_> = lines.iter().map(|l| line(0, l.quantity)).collect();
        let mut note = doc(&dn, &po, delivered);
        note.total = 0;
        let w = buyer
            .put_document_for(&dn, "dn", note, &[SELLER])
            .await
            .unwrap();
        wait_for_height(&[&net.observers[0]], w.height, 60).await;
        seller
            .put_document(&inv, "invoice", doc(&inv, &po, lines))
            .await
            .unwrap();
        seller
            .cross_check(
                "invoice-linked",
                &[
                    (inv.as_str(), "document"),
                    (po.as_str(), "document"),
                    (dn.as_str(), "document"),
                ],
            )
            .await
            .unwrap();
        seller.grant(&inv, bank, &["document"]).await.unwrap();
        let w = seller.request_financing(&inv, bank, false).await.unwrap();
        assert!(w.committed, "financing {inv}");
        financed.push(w);
    }

    // A financing whose encrypted amount is altered (one bit of its proof of encryption)
    // is refused at admission by every validator, naming the amount.
    let tx_hash = Hash::from_slice(&financed[1].tx_hash).unwrap();
    let mut c = net.validators[0].client().await;
    let stored = c
        .get_tx(pb::GetTxRequest {
            tx_hash: tx_hash.0.to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    let original = ledger_types::Transaction::decode(&stored.tx).unwrap();
    let Payload::FinanceRequest(mut f) = original.body().payload.clone() else {
        panic!("not a financing request")
    };
    let i = f.amount.len() - 100;
    f.amount[i] ^= 1;
    f.nullifier[0] ^= 1; // not the nullifier already used
    let corp = &net.observers[0];
    let nonce = c
        .get_member(pb::GetMemberRequest {
            org: corp.org.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .next_free_nonce;
    let forged = ledger_crypto::sign_tx(
        corp.key().as_ref(),
        TxBody {
            chain_id: original.body().chain_id.clone(),
            signer: corp.org.clone(),
            nonce,
            payload: Payload::FinanceRequest(f),
        },
    )
    .unwrap();
    for node in net.validators.iter() {
        let e = node
            .client()
            .await
            .submit_tx(pb::SubmitTxRequest {
                tx: forged.bytes().to_vec(),
            })
            .await
            .unwrap_err();
        assert!(
            e.message().contains("encrypted amount") && e.message().contains("INV-2"),
            "{}: {e:?}",
            node.org
        );
    }

    // Exposure: 250 in all. Above 249: yes; above 250 (the boundary): no.
    // Concentration: val-3 holds 200 of 250 = 80%. Above 79%: yes; above 80%: no.
    let mut ids = Vec::new();
    for (question, limit, share, expected) in [
        ("exposure", 249, 0, true),
        ("exposure", 250, 0, false),
        ("concentration", 0, 79, true),
        ("concentration", 0, 80, false),
    ] {
        let w = bank_a
            .ask_analytics(BUYER, question, limit, share)
            .await
            .unwrap();
        ids.push((Hash::from_slice(&w.tx_hash).unwrap(), expected, question));
    }
    for (id, expected, question) in &ids {
        let q = answered(&net.validators[1], id).await;
        assert_eq!(q.answer, *expected, "{question}: {q:?}");
        assert_eq!(q.inputs, 2);
        assert_eq!(q.subject, BUYER);
        assert!(!q.accepted.is_empty());
        assert!(q.mismatches.is_empty(), "{q:?}");
        assert_eq!(q.results.len(), 1, "the asker's node publishes one result");
        // Every validator re-executed it and got the published result's hash.
        assert_eq!(q.attestations.len(), 4, "{q:?}");
        for a in &q.attestations {
            assert_eq!(a.result_hash, q.results[0].result_hash, "{}", a.validator);
        }
    }

    // Only the authority answers, and only an accepted query: a bank's answer is refused.
    let (id, _, _) = ids[0];
    let bank = &net.validators[0];
    let nonce = c
        .get_member(pb::GetMemberRequest {
            org: bank.org.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .next_free_nonce;
    let fake = ledger_crypto::sign_tx(
        bank.key().as_ref(),
        TxBody {
            chain_id: original.body().chain_id.clone(),
            signer: bank.org.clone(),
            nonce,
            payload: Payload::Analytics(Analytics::Answer {
                query: id,
                answer: false,
            }),
        },
    )
    .unwrap();
    let e = c
        .submit_tx(pb::SubmitTxRequest {
            tx: fake.bytes().to_vec(),
        })
        .await
        .unwrap_err();
    assert!(
        e.message().contains("not the analytics authority (reg-1)"),
        "{e:?}"
    );

    // Field totals: a schema's amount field flagged fhe. val-1 writes loans of 100 and 120,
    // corrects the first to 30 and revokes val-2's access to the second (a new version, its
    // value encrypted again): of each loan the latest version counts, 30 + 120 = 150.
    bank_a
        .register_schema(pb::GatewaySchemaRequest {
            schema_id: "loan".into(),
            fields: vec![
                pb::SchemaField {
                    name: "amount".into(),
                    r#type: "amount".into(),
                    required: true,
                    fhe: true,
                    ..Default::default()
                },
                pb::SchemaField {
                    name: "note".into(),
                    r#type: "text".into(),
                    ..Default::default()
                },
            ],
            ..schema("loan", "")
        })
        .await
        .unwrap();
    let lender = net.validators[0].org.to_string();
    bank_a
        .put("L-1", "loan", &[("amount", "100"), ("note", "first")], &[])
        .await
        .unwrap();
    bank_a
        .put("L-2", "loan", &[("amount", "120")], &["val-2"])
        .await
        .unwrap();
    let corrected = bank_a
        .put(
            "L-1",
            "loan",
            &[("amount", "30"), ("note", "corrected")],
            &[],
        )
        .await
        .unwrap();
    bank_a.revoke("L-2", "val-2", &["amount"]).await.unwrap();
    // A value beyond the profile's amounts (8 bits in the small profile) is refused by the
    // gateway before anything is signed.
    let e = bank_a
        .put("L-3", "loan", &[("amount", "256")], &[])
        .await
        .unwrap_err();
    assert!(e.message().contains("does not fit"), "{e:?}");
    // Only an fhe field can be asked about.
    let e = bank_a
        .ask_field_total(&lender, "loan", "note", 1)
        .await
        .unwrap_err();
    assert!(e.message().contains("not an fhe amount field"), "{e:?}");

    // A version whose encrypted value is altered, or replayed from the previous version
    // (its proof names version 2, not 3), is refused by every validator.
    let corrected_tx = Hash::from_slice(&corrected.tx_hash).unwrap();
    let stored = c
        .get_tx(pb::GetTxRequest {
            tx_hash: corrected_tx.0.to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    let Payload::PutRecord(v2) = ledger_types::Transaction::decode(&stored.tx)
        .unwrap()
        .body()
        .payload
        .clone()
    else {
        panic!("not a record")
    };
    let mut altered = v2.clone();
    altered.version = 3;
    let i = altered.fhe_amounts[0].amount.len() - 100;
    altered.fhe_amounts[0].amount[i] ^= 1;
    let mut replayed = v2.clone();
    replayed.version = 3;
    for (what, put) in [("altered", altered), ("replayed", replayed)] {
        let nonce = c
            .get_member(pb::GetMemberRequest {
                org: lender.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .next_free_nonce;
        let tx = ledger_crypto::sign_tx(
            net.validators[0].key().as_ref(),
            TxBody {
                chain_id: original.body().chain_id.clone(),
                signer: net.validators[0].org.clone(),
                nonce,
                payload: Payload::PutRecord(put),
            },
        )
        .unwrap();
        for node in net.validators.iter() {
            let e = node
                .client()
                .await
                .submit_tx(pb::SubmitTxRequest {
                    tx: tx.bytes().to_vec(),
                })
                .await
                .unwrap_err();
            assert!(
                e.message().contains("encrypted field") && e.message().contains("L-1"),
                "{what} on {}: {e:?}",
                node.org
            );
        }
    }

    let mut field_ids = Vec::new();
    for (limit, expected) in [(149, true), (150, false)] {
        let w = bank_a
            .ask_field_total(&lender, "loan", "amount", limit)
            .await
            .unwrap();
        field_ids.push((Hash::from_slice(&w.tx_hash).unwrap(), expected, limit));
    }
    for (id, expected, limit) in &field_ids {
        let q = answered(&net.validators[2], id).await;
        assert_eq!(q.answer, *expected, "field total above {limit}: {q:?}");
        assert_eq!(q.inputs, 4, "four versions carried the field");
        assert_eq!(q.subject, lender);
        assert!(q.mismatches.is_empty(), "{q:?}");
        for a in &q.attestations {
            assert_eq!(a.result_hash, q.results[0].result_hash, "{}", a.validator);
        }
    }

    // The authority's audit log holds one line per answer it decrypted.
    let reg = net.observers.last().unwrap();
    let log = std::fs::read_to_string(reg.home.path().join("audit/audit.log")).unwrap();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("analytics-query/"))
            .count(),
        6,
        "{log}"
    );
}
