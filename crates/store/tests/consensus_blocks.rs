//! The consensus driver's uncommitted blocks: kept across reopen, found by height, pruned at
//! or below a height; older stores without their column family open; loose files of an
//! earlier version are moved in once, and a file cut short at any byte is never imported.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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

fn proposal_file(dir: &Path, height: u64, round: u32) -> std::path::PathBuf {
    dir.join("proposals")
        .join(format!("{height:020}-{round:010}.block"))
}

fn candidate_file(dir: &Path, b: &Block) -> std::path::PathBuf {
    dir.join("candidates")
        .join(format!("{:020}-{}.block", b.height(), b.hash()))
}

#[test]
fn loose_files_of_an_earlier_version_are_moved_into_the_store_once() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    std::fs::create_dir_all(dir.join("proposals")).unwrap();
    std::fs::create_dir_all(dir.join("candidates")).unwrap();
    let (proposed, candidate) = (block(1, 10), block(2, 20));
    std::fs::write(proposal_file(dir, 1, 3), proposed.encode()).unwrap();
    std::fs::write(candidate_file(dir, &proposed), proposed.encode()).unwrap();
    std::fs::write(candidate_file(dir, &candidate), candidate.encode()).unwrap();
    // At the tip (0, nothing committed): obsolete, deleted unread.
    let obsolete = candidate_file(dir, &block(0, 1));
    std::fs::write(&obsolete, b"not even a block").unwrap();
    // An interrupted write: the engine never heard of it.
    let tmp = candidate_file(dir, &block(2, 30)).with_extension("tmp");
    std::fs::write(&tmp, block(2, 30).encode()).unwrap();
    // Damaged: left for the operator.
    let damaged = candidate_file(dir, &block(3, 1));
    std::fs::write(&damaged, b"damaged").unwrap();

    let store = Store::open(data.path()).unwrap();
    assert_eq!(store.import_loose_consensus_blocks(dir).unwrap(), 3);
    assert_eq!(store.proposed_block(1, 3).unwrap(), Some(proposed.clone()));
    let mut expected = vec![proposed.clone(), candidate.clone()];
    expected.sort_by_key(|b| (b.height(), b.hash()));
    assert_eq!(
        hashes(&store.candidate_blocks_above(0).unwrap()),
        hashes(&expected)
    );
    assert!(!dir.join("proposals").exists());
    let left: Vec<_> = std::fs::read_dir(dir.join("candidates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left, vec![damaged]);
    assert!(!obsolete.exists() && !tmp.exists());

    assert_eq!(store.import_loose_consensus_blocks(dir).unwrap(), 0);
    assert_eq!(store.candidate_blocks_above(0).unwrap().len(), 2);
    // A home that never had loose files.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        store.import_loose_consensus_blocks(empty.path()).unwrap(),
        0
    );
}

#[test]
fn a_loose_block_file_cut_at_any_byte_is_never_imported() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    std::fs::create_dir_all(dir.join("candidates")).unwrap();
    let store = Store::open(data.path()).unwrap();
    let b = block(1, 1);
    let bytes = b.encode();
    let path = candidate_file(dir, &b);
    for cut in 0..bytes.len() {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        assert_eq!(
            store.import_loose_consensus_blocks(dir).unwrap(),
            0,
            "cut at {cut}"
        );
        assert!(
            path.exists(),
            "cut at {cut}: a damaged file is left in place"
        );
        assert!(store.candidate_blocks_above(0).unwrap().is_empty());
    }
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(store.import_loose_consensus_blocks(dir).unwrap(), 1);
    assert_eq!(store.candidate_blocks_above(0).unwrap(), vec![b]);
    assert!(!path.exists());
}

/// When proposed blocks first arrived survives a reopen (with the candidate written in the
/// same write), is found by height and is pruned with the blocks.
#[test]
fn proposal_receipts_survive_reopen_and_are_pruned_with_the_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (b1, b2) = (block(1, 1), block(2, 1));
    let receipt = |b: &Block, round, received_ms| ledger_store::ProposalReceipt {
        height: b.height(),
        round,
        block: b.hash(),
        received_ms,
    };
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .save_proposal_receipt(&receipt(&b1, 0, 1_000), Some(&b1))
            .unwrap();
        store
            .save_proposal_receipt(&receipt(&b1, 3, 9_000), None)
            .unwrap();
        store
            .save_proposal_receipt(&receipt(&b2, 0, 2_000), Some(&b2))
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.proposal_receipts_above(0).unwrap(),
        vec![
            receipt(&b1, 0, 1_000),
            receipt(&b1, 3, 9_000),
            receipt(&b2, 0, 2_000)
        ]
    );
    assert_eq!(
        hashes(&store.candidate_blocks_above(0).unwrap()),
        hashes(&[b1.clone(), b2.clone()])
    );
    assert_eq!(
        store.proposal_receipts_above(1).unwrap(),
        vec![receipt(&b2, 0, 2_000)]
    );
    assert!(store.proposal_receipts_above(u64::MAX).unwrap().is_empty());
    store.prune_consensus_blocks(1).unwrap();
    assert_eq!(
        store.proposal_receipts_above(0).unwrap(),
        vec![receipt(&b2, 0, 2_000)]
    );
    assert_eq!(
        hashes(&store.candidate_blocks_above(0).unwrap()),
        hashes(&[b2])
    );
}
