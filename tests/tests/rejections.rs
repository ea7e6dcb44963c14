//! Bad transactions are each refused with a distinct, readable reason; the node keeps
//! running and loses nothing.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger_api::v1 as pb;
use ledger_crypto::{sign_tx, Ed25519SoftwareKey};
use ledger_e2e::*;
use ledger_types::OrgId;
use tonic::Code;

fn reason(s: &tonic::Status) -> String {
    s.metadata()
        .get(ledger_api::REJECT_REASON_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn refused(
    c: &mut ledger_api::v1::ledger_client::LedgerClient<tonic::transport::Channel>,
    bytes: Vec<u8>,
) -> tonic::Status {
    c.submit_tx(pb::SubmitTxRequest { tx: bytes })
        .await
        .expect_err("the node must refuse this transaction")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_transaction_gets_its_own_reason_and_nothing_is_lost() {
    let mut node = TestNode::init("bank-a");
    node.start(&["--max-tx-bytes", "4096"]).await;
    let mut c = node.client().await;
    let w = Writer::setup(node.key(), &node.org, &mut c).await;

    let good = w.put(2, "inv-1", 1, b"1200");
    let h = submit(&mut c, &good).await;
    assert_eq!(
        wait_committed(&mut c, &h).await.status,
        pb::TxStatus::Committed as i32
    );

    let mut seen = Vec::new();
    let mut check = |what: &str, s: tonic::Status, code: Code, why: &str, text: &str| {
        assert_eq!(s.code(), code, "{what}: {s:?}");
        assert_eq!(reason(&s), why, "{what}: {s:?}");
        assert!(
            s.message().contains(text),
            "{what}: message {:?} lacks {text:?}",
            s.message()
        );
        seen.push(why.to_string());
    };

    // Malformed: random bytes, and a valid transaction with a trailing byte.
    let s = refused(&mut c, vec![0xde, 0xad, 0xbe, 0xef]).await;
    check(
        "garbage",
        s,
        Code::InvalidArgument,
        "malformed",
        "malformed transaction",
    );
    let mut trailing = w.put(3, "inv-2", 1, b"x").bytes().to_vec();
    trailing.push(0);
    let s = refused(&mut c, trailing).await;
    assert_eq!(reason(&s), "malformed");
    assert!(s.message().contains("trailing"), "{}", s.message());

    // Oversized.
    let big = w.put(3, "inv-2", 1, &vec![0u8; 8192]);
    let s = refused(&mut c, big.bytes().to_vec()).await;
    check(
        "oversized",
        s,
        Code::InvalidArgument,
        "too_large",
        "exceeds this node's limit of 4096 bytes",
    );

    // Wrongly signed: bank-a's transaction signed by another key.
    let other = Ed25519SoftwareKey::generate();
    let forged = sign_tx(&other, w.put(3, "inv-2", 1, b"x").body().clone()).unwrap();
    let s = refused(&mut c, forged.bytes().to_vec()).await;
    check(
        "wrong signature",
        s,
        Code::Unauthenticated,
        "bad_signature",
        "signature by bank-a does not verify",
    );

    // Replayed: the committed transaction again, and a new one reusing its nonce.
    let s = refused(&mut c, good.bytes().to_vec()).await;
    check(
        "exact replay",
        s,
        Code::AlreadyExists,
        "already_committed",
        "already committed at height",
    );
    let reuse = w.put(1, "inv-9", 1, b"y");
    let s = refused(&mut c, reuse.bytes().to_vec()).await;
    check(
        "nonce reuse",
        s,
        Code::AlreadyExists,
        "nonce_replayed",
        "nonce 1 of bank-a was already used",
    );

    // Unknown signer.
    let mut body = w.put(0, "inv-3", 1, b"z").body().clone();
    body.signer = OrgId::new("bank-unknown").unwrap();
    let stranger = sign_tx(&other, body).unwrap();
    let s = refused(&mut c, stranger.bytes().to_vec()).await;
    check(
        "unknown signer",
        s,
        Code::PermissionDenied,
        "unknown_signer",
        "unknown signer bank-unknown",
    );

    // A version that does not follow the record's latest.
    let conflict = w.put(3, "inv-1", 5, b"v5");
    let s = refused(&mut c, conflict.bytes().to_vec()).await;
    check(
        "version conflict",
        s,
        Code::FailedPrecondition,
        "would_fail",
        "version 5 given, the next version is 2",
    );

    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        seen.len(),
        "every refusal has its own reason: {seen:?}"
    );

    // The node is still up, nothing was lost, and the next valid transaction commits.
    let st = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        st.mempool_txs, 0,
        "no refused transaction entered the mempool"
    );
    let r = c
        .get_record(pb::GetRecordRequest {
            record_id: "inv-1".into(),
            version: None,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.fields[0].sealed.len(), 29 + 4);
    let next = w.put(3, "inv-2", 1, b"ok");
    let h = submit(&mut c, &next).await;
    assert_eq!(
        wait_committed(&mut c, &h).await.status,
        pb::TxStatus::Committed as i32
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_behind_a_nonce_gap_waits_without_spinning_blocks() {
    let mut node = TestNode::init("bank-a");
    node.start(&["--block-interval-ms", "0"]).await;
    let mut c = node.client().await;
    let w = Writer::setup(node.key(), &node.org, &mut c).await;
    let h1 = submit(&mut c, &w.put(2, "a", 1, b"1")).await;
    assert_eq!(wait_committed(&mut c, &h1).await.height, 2);

    // Nonce 5 arrives before 3 and 4: it is admitted and waits; no block is produced.
    let h4 = submit(&mut c, &w.put(5, "d", 1, b"4")).await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let st = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        st.height, 2,
        "no blocks while only a gapped transaction waits"
    );
    assert_eq!(st.mempool_txs, 1);
    let pending = c
        .get_tx(pb::GetTxRequest {
            tx_hash: h4.0.to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pending.status, pb::TxStatus::Pending as i32);

    // Filling the gap lets all three through, in nonce order.
    submit(&mut c, &w.put(3, "b", 1, b"2")).await;
    submit(&mut c, &w.put(4, "c", 1, b"3")).await;
    let r4 = wait_committed(&mut c, &h4).await;
    assert_eq!(r4.status, pb::TxStatus::Committed as i32);
    let st = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        st.height <= 5,
        "at most one block per submission, got height {}",
        st.height
    );
}

/// `SubmitTxs`: many transactions in one call, each admitted or refused on its own with
/// the code and reason `SubmitTx` would give it, in order; the admitted ones commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_submission_answers_each_transaction_as_a_single_one_would() {
    let mut node = TestNode::init("bank-a");
    node.start(&["--max-tx-bytes", "4096"]).await;
    let mut c = node.client().await;
    let w = Writer::setup(node.key(), &node.org, &mut c).await;
    let other = Ed25519SoftwareKey::generate();
    let good: Vec<_> = (2..6)
        .map(|n| w.put(n, &format!("inv-{n}"), 1, b"amount"))
        .collect();
    let forged = sign_tx(&other, w.put(6, "inv-x", 1, b"x").body().clone()).unwrap();
    let batch: Vec<Vec<u8>> = vec![
        good[0].bytes().to_vec(),
        vec![0xde, 0xad],
        good[1].bytes().to_vec(),
        forged.bytes().to_vec(),
        good[1].bytes().to_vec(), // the same one again, in the same call
        w.put(6, "inv-big", 1, &vec![0u8; 8192]).bytes().to_vec(),
        good[2].bytes().to_vec(),
        good[3].bytes().to_vec(),
    ];
    let outcomes = c
        .submit_txs(pb::SubmitTxsRequest { txs: batch.clone() })
        .await
        .expect("the batch is answered")
        .into_inner()
        .outcomes;
    assert_eq!(outcomes.len(), batch.len());
    let expect_ok = |i: usize, tx: &ledger_types::Transaction| {
        assert!(outcomes[i].code == 0, "{i}: {:?}", outcomes[i]);
        assert_eq!(outcomes[i].tx_hash, tx.hash().0.to_vec(), "{i}");
    };
    expect_ok(0, &good[0]);
    expect_ok(2, &good[1]);
    expect_ok(6, &good[2]);
    expect_ok(7, &good[3]);
    let refused = |i: usize, code: Code, reason: &str, text: &str| {
        let o = &outcomes[i];
        assert!(o.tx_hash.is_empty(), "{i}: {o:?}");
        assert_eq!(Code::from_i32(o.code), code, "{i}: {o:?}");
        assert_eq!(o.reason, reason, "{i}: {o:?}");
        assert!(o.message.contains(text), "{i}: {o:?}");
    };
    refused(
        1,
        Code::InvalidArgument,
        "malformed",
        "malformed transaction",
    );
    refused(
        3,
        Code::Unauthenticated,
        "bad_signature",
        "signature by bank-a does not verify",
    );
    refused(4, Code::AlreadyExists, "duplicate", "");
    refused(
        5,
        Code::InvalidArgument,
        "too_large",
        "exceeds this node's limit of 4096 bytes",
    );
    // Each single submission of a refused one gets the same answer.
    for i in [1usize, 3, 5] {
        let s = c
            .submit_tx(pb::SubmitTxRequest {
                tx: batch[i].clone(),
            })
            .await
            .expect_err("refused alone too");
        assert_eq!(s.code() as i32, outcomes[i].code, "{i}");
        assert_eq!(reason(&s), outcomes[i].reason, "{i}");
    }
    for tx in &good {
        let r = wait_committed(&mut c, &tx.hash()).await;
        assert_eq!(r.status, pb::TxStatus::Committed as i32, "{}", r.failure);
    }
    // Too many in one call: the call is refused whole, naming the limit.
    let s = c
        .submit_txs(pb::SubmitTxsRequest {
            txs: vec![vec![0u8]; 1025],
        })
        .await
        .expect_err("more than 1,024 refused");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().contains("at most 1024"), "{}", s.message());
}
