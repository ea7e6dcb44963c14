//! The node under abuse from its public API: a flood of forged signatures and forged ring
//! signatures while honest load runs does not stop consensus or slow the status call, and
//! relayed batches are taken only from the chain's validators.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ledger_api::v1 as pb;
use ledger_crypto::{sign_tx, Ed25519SoftwareKey};
use ledger_e2e::*;
use ledger_types::{Endorse, Topic, Transaction, TxBody};

const BLOCK_TIME: &[&str] = &["--block-time-ms", "30"];

/// A put claiming to be `org`'s, signed by a key that is not its.
fn forged_signature(w: &Writer, nonce: u64) -> Transaction {
    let honest = w.put(nonce, &format!("forged-{nonce}"), 1, b"forged");
    sign_tx(
        &Ed25519SoftwareKey::generate(),
        TxBody {
            chain_id: chain(),
            signer: w.org.clone(),
            nonce,
            payload: honest.body().payload.clone(),
        },
    )
    .unwrap()
}

/// An endorsement whose ring signature has one byte flipped.
fn forged_endorsement(net: &TestNet, n: u64) -> Transaction {
    let ring: Vec<[u8; 32]> = net
        .validators
        .iter()
        .map(|v| v.ring_secret().public())
        .collect();
    let topic = format!("flood-{n}");
    let statement = Endorse::statement_hash("forged");
    let mut signature = ledger_crypto::ring::ring_sign(
        chain().as_str(),
        topic.as_bytes(),
        &Endorse::message_for(&statement, 0),
        &ring,
        1,
        &net.validators[1].ring_secret(),
    )
    .unwrap()
    .to_bytes();
    signature[32 + 128 + 100] ^= 1;
    Transaction::anonymous(
        chain(),
        Endorse {
            topic: Topic::new(&topic).unwrap(),
            statement,
            ring_height: 0,
            signature,
        },
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forged_signatures_does_not_stop_consensus_or_slow_status() {
    let mut net = TestNet::new(4, 0);
    net.start_all(BLOCK_TIME).await;
    let target = &net.validators[0];
    let mut c = target.client().await;
    let honest = Writer::setup(target.key(), &target.org, &mut c).await;
    let victim = Writer::join(net.validators[1].key(), &net.validators[1].org, &mut c).await;
    // Forged transactions made before the flood starts, so the flood is as fast as the
    // client can send.
    let forged: Vec<Transaction> = (0..400)
        .map(|i| {
            if i % 4 == 0 {
                forged_endorsement(&net, i)
            } else {
                forged_signature(&victim, 1 + i)
            }
        })
        .collect();
    let forged = Arc::new(forged);
    let stop = Arc::new(AtomicBool::new(false));
    let reasons: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let mut flood = Vec::new();
    for k in 0..8 {
        let (url, forged, stop, reasons) =
            (target.url(), forged.clone(), stop.clone(), reasons.clone());
        flood.push(tokio::spawn(async move {
            // Each flooder on its own connection.
            let mut c = ledger_api::v1::ledger_client::LedgerClient::connect(url)
                .await
                .unwrap();
            let mut i = k;
            while !stop.load(Ordering::Relaxed) {
                let tx = &forged[i % forged.len()];
                i += 8;
                let r = c
                    .submit_tx(pb::SubmitTxRequest {
                        tx: tx.bytes().to_vec(),
                    })
                    .await;
                let reason = match r {
                    Ok(_) => "ADMITTED".to_string(),
                    Err(s) => s
                        .metadata()
                        .get(ledger_api::REJECT_REASON_KEY)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("none")
                        .to_string(),
                };
                *reasons.lock().unwrap().entry(reason).or_default() += 1;
            }
        }));
    }
    // Honest load and status calls meanwhile.
    let start_height = height_of(target).await;
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut hashes = Vec::new();
    let mut nonce = 2;
    while started.elapsed() < Duration::from_secs(10) {
        let t = Instant::now();
        c.get_status(pb::GetStatusRequest {}).await.unwrap();
        latencies.push(t.elapsed());
        if latencies.len() % 4 == 0 {
            let tx = honest.put(nonce, &format!("honest-{nonce}"), 1, b"honest load");
            nonce += 1;
            hashes.push(submit(&mut c, &tx).await);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        f.await.unwrap();
    }
    let reasons = reasons.lock().unwrap().clone();
    assert!(!reasons.contains_key("ADMITTED"), "{reasons:?}");
    let refused: u64 = reasons.values().sum();
    assert!(refused > 200, "the flood was sent: {reasons:?}");
    assert!(reasons.contains_key("bad_signature"), "{reasons:?}");
    assert!(reasons.contains_key("bad_endorsement"), "{reasons:?}");
    for h in &hashes {
        let r = wait_committed(&mut c, h).await;
        assert_eq!(r.status, pb::TxStatus::Committed as i32, "{}", r.failure);
    }
    let advanced = height_of(target).await - start_height;
    assert!(
        advanced >= 20,
        "consensus kept committing: {advanced} heights"
    );
    latencies.sort();
    let p99 = percentile(&latencies, 0.99);
    eprintln!(
        "flood: {reasons:?}; {} status calls, p50 {:?}, p99 {p99:?}; {advanced} heights",
        latencies.len(),
        percentile(&latencies, 0.5)
    );
    assert!(p99 < Duration::from_millis(200), "GetStatus p99 {p99:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_batches_are_taken_only_from_the_chains_validators() {
    let mut net = TestNet::new(4, 1);
    net.start_all(BLOCK_TIME).await;
    let mut c = net.validators[0].client().await;
    let writer = Writer::setup(net.validators[0].key(), &net.validators[0].org, &mut c).await;
    let txs = |n: u64| {
        vec![writer
            .put(n, &format!("relayed-{n}"), 1, b"r")
            .bytes()
            .to_vec()]
    };
    let relay = |from: &str, sent_ms: u64, txs: Vec<Vec<u8>>, key: &dyn ledger_crypto::Signer| {
        let from_id = ledger_types::OrgId::new(from).unwrap();
        let digest = ledger_core::relay::relay_digest(&chain(), &from_id, sent_ms, &txs);
        pb::RelayTxsRequest {
            txs,
            from: from.into(),
            sent_ms,
            signature: key.sign_digest(&digest).unwrap().0,
        }
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let val2 = net.validators[1].key();
    let observer = net.observers[0].key();
    // Anyone who is not a validator, however well it signs, is refused.
    let r = c
        .relay_txs(relay("obs-1", now(), txs(2), observer.as_ref()))
        .await
        .unwrap_err();
    assert_eq!(r.code(), tonic::Code::Unauthenticated);
    assert!(r.message().contains("not a validator"), "{}", r.message());
    // A validator's name with another key's signature is refused.
    let r = c
        .relay_txs(relay("val-2", now(), txs(2), observer.as_ref()))
        .await
        .unwrap_err();
    assert_eq!(r.code(), tonic::Code::Unauthenticated);
    assert!(r.message().contains("does not verify"), "{}", r.message());
    // A signature over other transactions does not cover these.
    let mut swapped = relay("val-2", now(), txs(2), val2.as_ref());
    swapped.txs = txs(3);
    let r = c.relay_txs(swapped).await.unwrap_err();
    assert_eq!(r.code(), tonic::Code::Unauthenticated);
    // A batch signed long ago is refused.
    let r = c
        .relay_txs(relay("val-2", now() - 600_000, txs(2), val2.as_ref()))
        .await
        .unwrap_err();
    assert!(r.message().contains("clock"), "{}", r.message());
    // A validator's signed batch is taken.
    let ok = c
        .relay_txs(relay("val-2", now(), txs(2), val2.as_ref()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ok.admitted, ok.refused), (1, 0));
    // And the validators' own relays work: a record submitted to val-4 alone is committed
    // whoever proposes.
    let mut c4 = net.validators[3].client().await;
    let w4 = Writer::join(net.validators[3].key(), &net.validators[3].org, &mut c4).await;
    for n in 1..=20 {
        let h = submit(&mut c4, &w4.put(n, &format!("v4-{n}"), 1, b"x")).await;
        if n == 20 {
            let r = wait_committed(&mut c4, &h).await;
            assert_eq!(r.status, pb::TxStatus::Committed as i32);
        }
    }
    let log = net.validators[3].log();
    assert!(!log.contains("not relaying a batch"), "{log}");
    for v in &net.validators[..3] {
        assert!(!v.log().contains("relayed batch refused"), "{}", v.log());
    }
}
