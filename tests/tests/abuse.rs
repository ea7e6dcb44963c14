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

/// The resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_block_stream_readers_are_bounded_and_dropped_with_a_status() {
    let mut node = TestNode::init("bank-a");
    node.set_config("block", "max_bytes", "2097152");
    node.set_config("grpc", "max_block_streams", "16");
    node.set_config("grpc", "slow_reader_secs", "3");
    // Blocks every 500 ms, so the records fill blocks of up to 2 MiB.
    node.start(&["--block-interval-ms", "500"]).await;
    let mut c = node.client().await;
    let w = Writer::setup(node.key(), &node.org, &mut c).await;
    // A chain of large blocks: 400 records of 60 KB (24 MB).
    // Submitted from eight connections at once, so blocks fill up.
    let value = vec![7u8; 60_000];
    let txs: Vec<Transaction> = (0..400u64)
        .map(|n| w.put(2 + n, &format!("doc-{n}"), 1, &value))
        .collect();
    let mut tasks = Vec::new();
    for k in 0..8 {
        let mine: Vec<Transaction> = txs.iter().skip(k).step_by(8).cloned().collect();
        let url = node.url();
        tasks.push(tokio::spawn(async move {
            let mut c = ledger_api::v1::ledger_client::LedgerClient::connect(url)
                .await
                .unwrap();
            for tx in mine {
                submit(&mut c, &tx).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let r = wait_committed(&mut c, &txs[399].hash()).await;
    assert_eq!(r.status, pb::TxStatus::Committed as i32);
    let tip = height_of(&node).await;
    let mut biggest = 0;
    for h in 1..=tip {
        let b = c
            .get_block(pb::GetBlockRequest { height: Some(h) })
            .await
            .unwrap()
            .into_inner();
        biggest = biggest.max(b.block.len());
    }
    assert!(
        biggest > 512 << 10,
        "blocks of over 512 KiB: the largest is {biggest}"
    );
    // Headers-only: header and transaction hashes, no bytes, the same hashes as the block.
    let mut headers = c
        .stream_blocks(pb::StreamBlocksRequest {
            from_height: 1,
            headers_only: true,
        })
        .await
        .unwrap()
        .into_inner();
    for h in 1..=tip {
        let m = headers.message().await.unwrap().unwrap();
        assert!(m.block.is_empty());
        let full = c
            .get_block(pb::GetBlockRequest { height: Some(h) })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(m.header, full.header, "height {h}");
        assert_eq!(m.tx_hashes, full.tx_hashes, "height {h}");
    }
    drop(headers);
    let before = rss(node.pid());
    // 200 readers, each on its own connection, ask for the whole chain and read nothing.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..200 {
        let mut r = node.client().await;
        match r
            .stream_blocks(pb::StreamBlocksRequest {
                from_height: 1,
                headers_only: false,
            })
            .await
        {
            Ok(s) => held.push((r, s.into_inner())),
            Err(s) => {
                assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{s:?}");
                assert!(s.message().contains("max_block_streams"), "{}", s.message());
                refused += 1;
            }
        }
    }
    assert_eq!(held.len(), 16, "refused {refused}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let during = rss(node.pid());
    // Each stream holds at most two blocks (2 MiB each) and what the server buffers for
    // the connection: far below 200 readers x 24 MB.
    let grown = during.saturating_sub(before);
    eprintln!("slow readers: rss {before} -> {during} (+{grown})");
    assert!(grown < 200 << 20, "node memory grew by {grown} bytes");
    // Each reader then gets what was sent before it stalled, and a status saying why it
    // was dropped.
    for (_, mut s) in held {
        let mut got = 0;
        let status = loop {
            match s.message().await {
                Ok(Some(_)) => got += 1,
                Ok(None) => panic!("the stream ended without saying why after {got} blocks"),
                Err(status) => break status,
            }
        };
        assert!(
            got < tip as usize,
            "a stalled reader got {got} of {tip} blocks"
        );
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        assert!(
            status.message().contains("reconnect from"),
            "{}",
            status.message()
        );
    }
    // The node still serves.
    assert!(height_of(&node).await >= tip);
}
