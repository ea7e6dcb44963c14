//! Altered stored data is found at startup: the node refuses to start and names the height.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger_api::v1 as pb;
use ledger_e2e::*;
use ledger_store::{CF_BLOCKS, CF_STATE, COLUMN_FAMILIES};
use rocksdb::{Options, DB};

async fn node_with_blocks() -> TestNode {
    // No empty blocks, so each height holds exactly one of our transactions.
    let mut node = TestNode::init("bank-a");
    node.start(&["--block-interval-ms", "0"]).await;
    let mut c = node.client().await;
    // Height 1 registers the schema; heights 2..=4 hold one record each.
    let writer = Writer::setup(node.key(), &node.org, &mut c).await;
    for n in 2..=4u64 {
        let tx = writer.put(n, &format!("inv-{n}"), 1, &[n as u8; 64]);
        let h = submit(&mut c, &tx).await;
        let r = wait_committed(&mut c, &h).await;
        assert_eq!(r.height, n);
    }
    assert!(node.stop().success());
    node
}

fn open_raw(node: &TestNode) -> DB {
    let opts = Options::default();
    DB::open_cf(&opts, node.data_dir(), COLUMN_FAMILIES).expect("open store")
}

fn flip_block_byte(node: &TestNode, height: u64, pos: impl Fn(usize) -> usize) {
    let db = open_raw(node);
    let cf = db.cf_handle(CF_BLOCKS).unwrap();
    let mut v = db
        .get_cf(cf, height.to_be_bytes())
        .unwrap()
        .expect("block stored");
    let p = pos(v.len());
    v[p] ^= 0x01;
    db.put_cf(cf, height.to_be_bytes(), v).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_a_stored_block_stops_startup_naming_the_height() {
    let mut node = node_with_blocks().await;
    // A byte in the header, in the transaction, and in the commit signature.
    type Position = fn(usize) -> usize;
    let positions: [(&str, Position); 3] = [
        ("header", |_| 20),
        ("transaction", |len| len / 2),
        ("commit signature", |len| len - 2),
    ];
    for (what, pos) in positions {
        flip_block_byte(&node, 2, pos);
        let (status, log) = node.start_expecting_failure();
        assert!(!status.success(), "{what}: node started on altered data");
        assert!(
            log.contains("height 2"),
            "{what}: the error names the height:\n{log}"
        );
        // Undo the flip: the same data starts again, so the check is not spurious.
        flip_block_byte(&node, 2, pos);
        node.start(&["--block-interval-ms", "0"]).await;
        assert!(node.stop().success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_state_stops_startup_naming_the_state_root() {
    let mut node = node_with_blocks().await;
    {
        let db = open_raw(&node);
        let cf = db.cf_handle(CF_STATE).unwrap();
        let key = b"record/inv-2/\x00\x00\x00\x01";
        let mut v = db.get_cf(cf, key).unwrap().expect("record stored");
        let last = v.len() - 1;
        v[last] ^= 0xff;
        db.put_cf(cf, key, v).unwrap();
    }
    let (status, log) = node.start_expecting_failure();
    assert!(!status.success());
    assert!(
        log.contains("height 4") && log.contains("state root"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_of_another_chain_is_refused() {
    let mut a = node_with_blocks().await;
    let b = TestNode::init("bank-b");
    std::fs::copy(
        b.home.path().join("genesis.json"),
        a.home.path().join("genesis.json"),
    )
    .unwrap();
    let (status, log) = a.start_expecting_failure();
    assert!(!status.success());
    assert!(
        log.contains("belongs to a chain whose genesis block is"),
        "{log}"
    );
    drop(b);
    let _ = pb::TxStatus::Committed;
}
