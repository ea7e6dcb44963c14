//! Zero-knowledge checks on the four-validator network: documents committed with
//! Poseidon, an invoice proved consistent with its order and delivery note, and the same
//! receivable financed twice through two records and two banks: the first request
//! succeeds, the second is refused by consensus on every node, naming the first.

use ledger_api::v1 as pb;
use ledger_e2e::*;
use ledger_types::{FinanceRequest, Payload, RecordId, TxBody};

const BLOCK_TIME: &[&str] = &["--block-time-ms", "30"];

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

fn doc(
    number: &str,
    reference: &str,
    date: &str,
    lines: Vec<pb::DocumentLine>,
) -> pb::DocumentInput {
    let total = lines.iter().map(|l| l.total).sum();
    pb::DocumentInput {
        seller: "val-1".into(),
        buyer: "globex-imports".into(),
        number: number.into(),
        reference: reference.into(),
        issue_date: date.into(),
        lines,
        total,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_is_proved_against_its_order_and_financed_only_once() {
    let mut net = TestNet::new(4, 0);
    net.start_all(BLOCK_TIME).await;
    let mut seller = net.validators[0].gateway().await;
    let mut bank_b = net.validators[1].gateway().await;
    let mut bank_c = net.validators[2].gateway().await;
    for (id, kind) in [
        ("po", "purchase-order"),
        ("dn", "delivery-note"),
        ("invoice", "invoice"),
    ] {
        seller.register_schema(schema(id, kind)).await.unwrap();
    }
    let ordered = vec![line(1_250, 40), line(9_900, 3), line(5, 1_000)];
    seller
        .put_document("PO-7", "po", doc("PO-7", "", "2026-11-02", ordered))
        .await
        .unwrap();
    let delivered = vec![line(0, 40), line(0, 3), line(0, 600)];
    let mut dn = doc("DN-7-1", "PO-7", "2026-11-15", delivered);
    dn.total = 0;
    seller.put_document("DN-7-1", "dn", dn).await.unwrap();
    let billed = vec![line(1_250, 40), line(9_900, 3), line(5, 600)];
    let invoice = doc("INV-2026-001", "PO-7", "2026-11-20", billed.clone());
    seller
        .put_document("INV-1", "invoice", invoice.clone())
        .await
        .unwrap();
    // The same receivable again, in another record (another blinding, another commitment).
    seller
        .put_document("INV-1-COPY", "invoice", invoice.clone())
        .await
        .unwrap();
    // An invoice that bills the ordered quantity of line 3 instead of the delivered one.
    let mut over = billed.clone();
    over[2] = line(5, 1_000);
    seller
        .put_document(
            "INV-2",
            "invoice",
            doc("INV-2026-002", "PO-7", "2026-11-20", over),
        )
        .await
        .unwrap();

    // The seller proves the invoice consistent with its order and delivery note; every
    // validator verifies the Groth16 proof against the three stored commitments.
    let w = seller
        .cross_check(
            "invoice-linked",
            &[
                ("INV-1", "document"),
                ("PO-7", "document"),
                ("DN-7-1", "document"),
            ],
        )
        .await
        .unwrap();
    assert!(w.committed);
    let read = seller.read("INV-1", None).await.unwrap();
    let rendered = &fields_of(&read)["document"];
    assert!(rendered.contains("matches its commitment"), "{rendered}");
    // The overbilling invoice has arithmetic that adds up, but no proof against its order.
    seller
        .cross_check("invoice", &[("INV-2", "document")])
        .await
        .unwrap();
    let e = seller
        .cross_check(
            "invoice-linked",
            &[
                ("INV-2", "document"),
                ("PO-7", "document"),
                ("DN-7-1", "document"),
            ],
        )
        .await
        .unwrap_err();
    assert!(e.message().contains("do not satisfy"), "{e:?}");

    // Each bank gets one of the two records; neither can tell they are the same invoice.
    seller.grant("INV-1", "val-2", &["document"]).await.unwrap();
    seller
        .grant("INV-1-COPY", "val-3", &["document"])
        .await
        .unwrap();
    // A bank that cannot read the invoice cannot ask.
    let e = bank_c.request_financing("INV-1", false).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    // Both banks ask while consensus is halted (two of four validators stopped), so both
    // requests pass admission and reach the same blocks: consensus itself must refuse one.
    assert!(net.validators[0].stop().success());
    assert!(net.validators[3].stop().success());
    let b = bank_b.request_financing("INV-1", true).await.unwrap();
    let c = bank_c.request_financing("INV-1-COPY", true).await.unwrap();
    net.validators[0].start(BLOCK_TIME).await;
    net.validators[3].start(BLOCK_TIME).await;
    let hashes = [
        ledger_types::Hash::from_slice(&b.tx_hash).unwrap(),
        ledger_types::Hash::from_slice(&c.tx_hash).unwrap(),
    ];
    let mut winner = None;
    for node in net.nodes() {
        let mut client = node.client().await;
        let r = [
            wait_committed(&mut client, &hashes[0]).await,
            wait_committed(&mut client, &hashes[1]).await,
        ];
        let committed: Vec<usize> = (0..2)
            .filter(|i| r[*i].status == pb::TxStatus::Committed as i32)
            .collect();
        assert_eq!(
            committed.len(),
            1,
            "{}: exactly one financing applies",
            node.org
        );
        let (w, l) = (committed[0], 1 - committed[0]);
        assert_eq!(*winner.get_or_insert(w), w, "{}: another winner", node.org);
        assert_eq!(r[l].status, pb::TxStatus::Failed as i32, "{}", node.org);
        assert!(
            r[l].failure.contains("already financed") && r[l].failure.contains(&hashes[w].to_hex()),
            "{}: {}",
            node.org,
            r[l].failure
        );
    }
    // Asked again after the fact, the refusal comes at admission, naming the financing.
    let e = bank_c
        .request_financing("INV-1-COPY", false)
        .await
        .unwrap_err();
    assert!(e.message().contains("already financed"), "{e:?}");

    // A forged proof (one flipped byte) is refused at admission by every validator,
    // naming the proof kind and the record.
    let val4 = &net.validators[3];
    let mut c = val4.client().await;
    let nonce = c
        .get_member(pb::GetMemberRequest {
            org: val4.org.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .next_free_nonce;
    let forged = ledger_crypto::sign_tx(
        val4.key().as_ref(),
        TxBody {
            chain_id: chain(),
            signer: val4.org.clone(),
            nonce,
            payload: Payload::FinanceRequest(FinanceRequest {
                invoice: RecordId::new("INV-2").unwrap(),
                version: 1,
                nullifier: [7; 32],
                proof: {
                    let mut p = vec![0u8; 128];
                    p[0] = 1;
                    p
                },
            }),
        },
    )
    .unwrap();
    for node in net.validators.iter() {
        let mut c = node.client().await;
        let e = c
            .submit_tx(pb::SubmitTxRequest {
                tx: forged.bytes().to_vec(),
            })
            .await
            .unwrap_err();
        assert!(
            e.message().contains("finance") && e.message().contains("INV-2"),
            "{}: {e:?}",
            node.org
        );
    }
}
