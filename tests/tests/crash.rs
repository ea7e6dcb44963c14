//! `kill -9` while a client streams transactions: everything the client saw committed is
//! there after restart, heights are contiguous, and no block is half-written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ledger_api::v1 as pb;
use ledger_e2e::*;
use ledger_types::Hash;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_streaming_loses_nothing_committed() {
    let mut node = TestNode::init("bank-a");
    node.start(&[]).await;
    let writer = Arc::new(Writer::setup(node.key(), &node.org, &mut node.client().await).await);

    // Follow commits exactly as a client would see them.
    let seen: Arc<Mutex<HashMap<Hash, u64>>> = Arc::default();
    let mut follower = node.client().await;
    let mut stream = follower
        .stream_blocks(pb::StreamBlocksRequest {
            from_height: 1,
            headers_only: true,
        })
        .await
        .unwrap()
        .into_inner();
    let seen_w = seen.clone();
    let follow = tokio::spawn(async move {
        while let Ok(Some(b)) = stream.message().await {
            let height = b.header.as_ref().map(|h| h.height).unwrap_or_default();
            let mut s = seen_w.lock().unwrap();
            for h in &b.tx_hashes {
                s.insert(Hash::from_slice(h).unwrap(), height);
            }
        }
    });

    // Stream transactions from several concurrent submitters until the kill.
    let next = Arc::new(std::sync::atomic::AtomicU64::new(2));
    let mut submitters = Vec::new();
    for _ in 0..8 {
        let mut c = node.client().await;
        let (writer, next) = (writer.clone(), next.clone());
        submitters.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let tx = writer.put(n, &format!("rec-{n}"), 1, &[7u8; 256]);
                if c.submit_tx(pb::SubmitTxRequest {
                    tx: tx.bytes().to_vec(),
                })
                .await
                .is_err()
                {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    node.kill9();
    for s in submitters {
        let _ = s.await;
    }
    let _ = follow.await;
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.len() > 100,
        "the client saw only {} commits before the kill",
        seen.len()
    );

    node.start(&[]).await;
    assert!(
        node.log().contains("stored chain verified"),
        "{}",
        node.log()
    );
    let mut c = node.client().await;
    let chain = walk_chain(&mut c).await;
    let mut in_chain = HashMap::new();
    for (height, txs) in chain.iter().enumerate() {
        for h in txs {
            in_chain.insert(*h, height as u64);
        }
    }
    for (h, height) in &seen {
        assert_eq!(
            in_chain.get(h),
            Some(height),
            "committed tx {h} is at its height after the crash"
        );
        let r = c
            .get_tx(pb::GetTxRequest {
                tx_hash: h.0.to_vec(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, pb::TxStatus::Committed as i32);
        assert_eq!(r.height, *height);
    }
    // Every committed record is readable, and the signer continues from the next nonce.
    let m = c
        .get_member(pb::GetMemberRequest {
            org: "bank-a".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let committed_txs: usize = chain[1..].iter().map(Vec::len).sum();
    assert_eq!(m.next_nonce, 1 + committed_txs as u64);
    let tx = writer.put(m.next_nonce, "after-crash", 1, b"ok");
    let h = submit(&mut c, &tx).await;
    assert_eq!(
        wait_committed(&mut c, &h).await.status,
        pb::TxStatus::Committed as i32
    );
}
