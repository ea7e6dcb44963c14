//! Zero-knowledge checks and financing on the four-validator network, with the trade's
//! parties as members: two corporates (a seller and a buyer) on their own nodes, the four
//! validators as banks. The buyer writes the order and confirms the delivery; the seller
//! invoices, proves the invoice against both, and assigns the receivable: the same
//! delivered goods financed twice through two invoices that read differently and two
//! banks: the first request succeeds, the second is refused by consensus on every node,
//! naming the first; nobody but the seller can assign.

use ledger_api::v1 as pb;
use ledger_e2e::*;
use ledger_types::{FinanceRequest, OrgId, Payload, RecordAt, RecordId, TxBody};

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

const SELLER: &str = "obs-1";
const BUYER: &str = "obs-2";

fn doc(
    number: &str,
    reference: &str,
    date: &str,
    lines: Vec<pb::DocumentLine>,
) -> pb::DocumentInput {
    let total = lines.iter().map(|l| l.total).sum();
    pb::DocumentInput {
        seller: SELLER.into(),
        buyer: BUYER.into(),
        carrier: String::new(),
        number: number.into(),
        reference: reference.into(),
        issue_date: date.into(),
        lines,
        total,
    }
}

fn linked(invoice: &str) -> [(&str, &str); 3] {
    [
        (invoice, "document"),
        ("PO-7", "document"),
        ("DN-7-1", "document"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seller_assigns_delivered_goods_once_whatever_its_invoices_say() {
    let mut net = TestNet::with_observer_roles(4, 2, "corporate");
    net.start_all(BLOCK_TIME).await;
    let mut bank_a = net.validators[0].gateway().await;
    let mut bank_c = net.validators[2].gateway().await;
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

    // The buyer writes the order and confirms the delivery, for the seller to read.
    let ordered = vec![line(1_250, 40), line(9_900, 3), line(5, 1_000)];
    buyer
        .put_document_for(
            "PO-7",
            "po",
            doc("PO-7", "", "2026-11-02", ordered.clone()),
            &[SELLER],
        )
        .await
        .unwrap();
    let delivered = vec![line(0, 40), line(0, 3), line(0, 600)];
    let mut dn = doc("DN-7-1", "PO-7", "2026-11-15", delivered);
    dn.total = 0;
    let w = buyer
        .put_document_for("DN-7-1", "dn", dn, &[SELLER])
        .await
        .unwrap();
    wait_for_height(&[&net.observers[0]], w.height, 60).await;
    // The seller cannot write the buyer's order, nor name a party outside the directory.
    let e = seller
        .put_document("PO-8", "po", doc("PO-8", "", "2026-11-02", ordered))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(
        e.message().contains("written by its buyer (obs-2)"),
        "{e:?}"
    );
    let mut stranger = doc("INV-9", "PO-7", "2026-11-20", vec![line(1, 1)]);
    stranger.buyer = "globex-imports".into();
    let e = seller
        .put_document("INV-9", "invoice", stranger)
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("not an organisation of the member directory"),
        "{e:?}"
    );

    let billed = vec![line(1_250, 40), line(9_900, 3), line(5, 600)];
    seller
        .put_document(
            "INV-1",
            "invoice",
            doc("INV-2026-001", "PO-7", "2026-11-20", billed.clone()),
        )
        .await
        .unwrap();
    // The same goods billed again: another record, the number rewritten, another date.
    seller
        .put_document(
            "INV-1V",
            "invoice",
            doc("inv 2026/001", "PO-7", "2026-11-21", billed.clone()),
        )
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

    // The seller proves both invoices against the buyer's order and delivery note; every
    // validator verifies the Groth16 proofs against the stored commitments and owners.
    for invoice in ["INV-1", "INV-1V"] {
        let w = seller
            .cross_check("invoice-linked", &linked(invoice))
            .await
            .unwrap();
        assert!(w.committed);
    }
    let read = seller.read("INV-1", None).await.unwrap();
    let rendered = &fields_of(&read)["document"];
    assert!(rendered.contains("matches its commitment"), "{rendered}");
    // The overbilling invoice has arithmetic that adds up, but no proof against its order.
    seller
        .cross_check("invoice", &[("INV-2", "document")])
        .await
        .unwrap();
    let e = seller
        .cross_check("invoice-linked", &linked("INV-2"))
        .await
        .unwrap_err();
    assert!(e.message().contains("do not satisfy"), "{e:?}");

    // Each bank gets one of the two invoices; neither can tell they bill the same goods.
    seller.grant("INV-1", "val-2", &["document"]).await.unwrap();
    let w = seller
        .grant("INV-1V", "val-3", &["document"])
        .await
        .unwrap();
    wait_for_height(&[&net.validators[2]], w.height, 60).await;
    // A bank that reads the invoice cannot assign it: only its seller does.
    let e = bank_c
        .request_financing("INV-1V", "val-3", false)
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("assigns its receivable"), "{e:?}");
    // Nor to a bank that cannot read it.
    let e = seller
        .request_financing("INV-1", "val-4", false)
        .await
        .unwrap_err();
    assert!(e.message().contains("cannot be assigned"), "{e:?}");

    // The seller assigns both invoices while consensus is halted (two of four validators
    // stopped), so both requests pass admission and reach the same blocks: consensus
    // itself must refuse one.
    assert!(net.validators[2].stop().success());
    assert!(net.validators[3].stop().success());
    let b = seller
        .request_financing("INV-1", "val-2", true)
        .await
        .unwrap();
    let c = seller
        .request_financing("INV-1V", "val-3", true)
        .await
        .unwrap();
    net.validators[2].start(BLOCK_TIME).await;
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
        let first = ["INV-1 v1", "INV-1V v1"][w];
        assert!(
            r[l].failure.contains("already financed")
                && r[l].failure.contains(&hashes[w].to_hex())
                && r[l].failure.contains(first),
            "{}: {}",
            node.org,
            r[l].failure
        );
    }
    // Asked again after the fact, the refusal comes at admission, naming the financing.
    let (again, bank) = [("INV-1V", "val-3"), ("INV-1", "val-2")][winner.unwrap()];
    let e = seller
        .request_financing(again, bank, false)
        .await
        .unwrap_err();
    assert!(e.message().contains("already financed"), "{e:?}");

    // A forged proof (one flipped byte) is refused at admission by every validator,
    // naming the proof kind and the record.
    let corp = &net.observers[0];
    let mut c = net.validators[0].client().await;
    let nonce = c
        .get_member(pb::GetMemberRequest {
            org: corp.org.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .next_free_nonce;
    let at = |r: &str| RecordAt {
        record: RecordId::new(r).unwrap(),
        version: 1,
    };
    let forged = ledger_crypto::sign_tx(
        corp.key().as_ref(),
        TxBody {
            chain_id: chain(),
            signer: corp.org.clone(),
            nonce,
            payload: Payload::FinanceRequest(FinanceRequest {
                invoice: at("INV-2"),
                order: at("PO-7"),
                delivery: at("DN-7-1"),
                bank: OrgId::new("val-2").unwrap(),
                nullifier: [7; 32],
                proof: {
                    let mut p = vec![0u8; 128];
                    p[0] = 1;
                    p
                },
                amount: vec![],
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
