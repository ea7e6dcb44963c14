//! The consensus driver's uncommitted blocks: kept across reopen, found by height, pruned at
//! or below a height; older stores without their column family open, newer ones are refused.

use std::path::Path;

use ledger_store::{Store, StoreError, CF_META, COLUMN_FAMILIES};
use ledger_types::*;
use rocksdb::{Options, DB};

fn block(height: u64, timestamp_ms: u64) -> Block {
    Block::new(
        BlockHeader {
            chain_id: ChainId::new("st").unwrap(),
            height,
            prev_hash: Hash::ZERO,
            timestamp_ms,
            proposer: OrgId::new("bank-a").unwrap(),
            tx_count: 0,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
        },
        vec![],
        Commit::default(),
    )
}

fn hashes(blocks: &[Block]) -> Vec<Hash> {
    blocks.iter().map(Block::hash).collect()
}

#[test]
fn kept_blocks_survive_reopen_and_are_pruned_at_or_below_a_height() {
    let dir = tempfile::tempdir().unwrap();
    let (p10, p11, p20) = (block(1, 10), block(1, 11), block(2, 20));
    let (c1a, c1b, c2, c3) = (block(1, 1), block(1, 2), block(2, 1), block(3, 1));
    {
        let store = Store::open(dir.path()).unwrap();
        store.save_proposed_block(1, 0, &p10).unwrap();
        store.save_proposed_block(1, 1, &p11).unwrap();
        store.save_proposed_block(2, 0, &p20).unwrap();
        for c in [&c3, &c1a, &c2, &c1b, &c2] {
            store.save_candidate_block(c).unwrap();
        }
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.proposed_block(1, 1).unwrap(), Some(p11.clone()));
    assert_eq!(store.proposed_block(1, 2).unwrap(), None);
    assert_eq!(store.proposed_block(2, 0).unwrap(), Some(p20.clone()));

    // By height, then block hash; the same block saved twice is one entry.
    let mut at_1 = vec![c1a.clone(), c1b.clone()];
    at_1.sort_by_key(Block::hash);
    let all = store.candidate_blocks_above(0).unwrap();
    assert_eq!(hashes(&all[..2]), hashes(&at_1));
    assert_eq!(hashes(&all[2..]), hashes(&[c2.clone(), c3.clone()]));
    assert_eq!(
        hashes(&store.candidate_blocks_above(1).unwrap()),
        hashes(&[c2.clone(), c3.clone()])
    );

    store.prune_consensus_blocks(2).unwrap();
    assert_eq!(store.proposed_block(1, 1).unwrap(), None);
    assert_eq!(store.proposed_block(2, 0).unwrap(), None);
    assert_eq!(
        hashes(&store.candidate_blocks_above(0).unwrap()),
        vec![c3.hash()]
    );

    store.save_proposed_block(u64::MAX, u32::MAX, &p10).unwrap();
    store.prune_consensus_blocks(u64::MAX).unwrap();
    assert_eq!(store.proposed_block(u64::MAX, u32::MAX).unwrap(), None);
    assert!(store.candidate_blocks_above(0).unwrap().is_empty());
    assert!(store.candidate_blocks_above(u64::MAX).unwrap().is_empty());
}

/// A store as the previous version left it: four column families, format 1.
fn format_1_store(path: &Path) {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    let db = DB::open_cf(&opts, path, ["blocks", "txs", "state", "meta"]).unwrap();
    db.put_cf(
        db.cf_handle(CF_META).unwrap(),
        b"format",
        1u16.to_be_bytes(),
    )
    .unwrap();
}

fn stored_format(path: &Path) -> Vec<u8> {
    let db = DB::open_cf(&Options::default(), path, COLUMN_FAMILIES).unwrap();
    db.get_cf(db.cf_handle(CF_META).unwrap(), b"format")
        .unwrap()
        .unwrap()
}

#[test]
fn a_format_1_store_opens_gets_the_consensus_family_and_is_recorded_as_format_2() {
    let dir = tempfile::tempdir().unwrap();
    format_1_store(dir.path());
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.height(), None);
        store.save_candidate_block(&block(1, 1)).unwrap();
    }
    assert_eq!(stored_format(dir.path()), 2u16.to_be_bytes());
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        hashes(&store.candidate_blocks_above(0).unwrap()),
        hashes(&[block(1, 1)])
    );
}

#[test]
fn a_store_of_a_newer_or_unknown_format_is_refused() {
    for (bytes, found) in [(3u16.to_be_bytes().to_vec(), 3), (vec![0u8], 0)] {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        {
            let db = DB::open_cf(&Options::default(), dir.path(), COLUMN_FAMILIES).unwrap();
            db.put_cf(db.cf_handle(CF_META).unwrap(), b"format", bytes)
                .unwrap();
        }
        assert_eq!(
            Store::open(dir.path()).err(),
            Some(StoreError::UnsupportedFormat {
                found,
                supported: 2
            })
        );
    }
}
