//! The consensus driver's uncommitted blocks: the block this validator proposed for each
//! (height, round), and the blocks it found valid, each kept with one synced write before
//! the consensus engine hears of it and deleted once its height is committed.
//!
//! Keys in [`CF_CONSENSUS`](crate::CF_CONSENSUS) sort by kind, then height, so that the
//! blocks above a height are one forward scan and the blocks at or below it are one range
//! deletion. Nothing here is needed to read the chain: losing these entries can only make a
//! restarted validator propose afresh or wait for value sync.

use std::path::Path;

use ledger_types::{Block, Hash};
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions};

use crate::{
    db_err, Store, StoreError, CANDIDATE_PREFIX, CF_CONSENSUS, PROPOSAL_PREFIX, RECEIPT_PREFIX,
};

fn proposal_key(height: u64, round: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(13);
    k.push(PROPOSAL_PREFIX);
    k.extend(height.to_be_bytes());
    k.extend(round.to_be_bytes());
    k
}

fn candidate_key(height: u64, hash: &Hash) -> Vec<u8> {
    let mut k = Vec::with_capacity(41);
    k.push(CANDIDATE_PREFIX);
    k.extend(height.to_be_bytes());
    k.extend(hash.0);
    k
}

fn receipt_key(height: u64, round: u32, hash: &Hash) -> Vec<u8> {
    let mut k = Vec::with_capacity(45);
    k.push(RECEIPT_PREFIX);
    k.extend(height.to_be_bytes());
    k.extend(round.to_be_bytes());
    k.extend(hash.0);
    k
}

/// When a proposed block first reached this validator at a round: the time its
/// timeliness was judged against ([`Store::save_proposal_receipt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalReceipt {
    /// The block's height.
    pub height: u64,
    /// The round it was proposed at.
    pub round: u32,
    /// The block.
    pub block: Hash,
    /// This validator's clock when it arrived (milliseconds since the Unix epoch).
    pub received_ms: u64,
}

/// A key and its value.
type Entry = (Box<[u8]>, Box<[u8]>);

/// A receipt from its key ([`receipt_key`]) and value.
fn decode_receipt(k: &[u8], v: &[u8]) -> Option<ProposalReceipt> {
    fn array<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
        b.get(at..at + N)?.try_into().ok()
    }
    (k.len() == 45).then_some(())?;
    Some(ProposalReceipt {
        height: u64::from_be_bytes(array(k, 1)?),
        round: u32::from_be_bytes(array(k, 9)?),
        block: Hash(array(k, 13)?),
        received_ms: u64::from_be_bytes(v.try_into().ok()?),
    })
}

/// The first key of kind `prefix` at `height`.
fn height_start(prefix: u8, height: u64) -> Vec<u8> {
    let mut k = vec![prefix];
    k.extend(height.to_be_bytes());
    k
}

/// The first key of kind `prefix` above `height` (the next kind's first key when no
/// height is above it).
fn above(prefix: u8, height: u64) -> Vec<u8> {
    match height.checked_add(1) {
        Some(next) => height_start(prefix, next),
        None => vec![prefix.wrapping_add(1)],
    }
}

fn synced() -> WriteOptions {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    wo
}

impl Store {
    fn decode_consensus_block(height: u64, bytes: &[u8]) -> Result<Block, StoreError> {
        Block::decode(bytes).map_err(|e| StoreError::Integrity {
            height,
            what: format!("a block kept for consensus does not decode: {e}"),
        })
    }

    /// Keeps the block this node proposed for (`height`, `round`), durably (a synced
    /// write) before the call returns.
    pub fn save_proposed_block(
        &self,
        height: u64,
        round: u32,
        block: &Block,
    ) -> Result<(), StoreError> {
        self.db
            .put_cf_opt(
                self.cf(CF_CONSENSUS)?,
                proposal_key(height, round),
                block.encode(),
                &synced(),
            )
            .map_err(db_err(format!(
                "keeping the block proposed at height {height} round {round}"
            )))
    }

    /// The block this node proposed for (`height`, `round`), if it kept one.
    pub fn proposed_block(&self, height: u64, round: u32) -> Result<Option<Block>, StoreError> {
        let Some(bytes) = self
            .db
            .get_cf(self.cf(CF_CONSENSUS)?, proposal_key(height, round))
            .map_err(db_err(format!(
                "reading the block proposed at height {height} round {round}"
            )))?
        else {
            return Ok(None);
        };
        Self::decode_consensus_block(height, &bytes).map(Some)
    }

    /// Keeps a block this node found valid, durably (a synced write) before the call
    /// returns. Keeping the same block again rewrites the same entry.
    pub fn save_candidate_block(&self, block: &Block) -> Result<(), StoreError> {
        let height = block.height();
        self.db
            .put_cf_opt(
                self.cf(CF_CONSENSUS)?,
                candidate_key(height, &block.hash()),
                block.encode(),
                &synced(),
            )
            .map_err(db_err(format!(
                "keeping a candidate block at height {height}"
            )))
    }

    /// Keeps when a proposed block first arrived at a round, and with it, when given, the
    /// block as a candidate ([`Store::save_candidate_block`]): one write, synced when it
    /// holds a candidate. A receipt alone is not synced: losing it in a crash of the
    /// machine only makes the restarted validator judge the block's timeliness again
    /// against its clock, as before receipts were kept.
    pub fn save_proposal_receipt(
        &self,
        receipt: &ProposalReceipt,
        candidate: Option<&Block>,
    ) -> Result<(), StoreError> {
        let cf = self.cf(CF_CONSENSUS)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            cf,
            receipt_key(receipt.height, receipt.round, &receipt.block),
            receipt.received_ms.to_be_bytes(),
        );
        let mut wo = WriteOptions::default();
        if let Some(block) = candidate {
            batch.put_cf(
                cf,
                candidate_key(block.height(), &block.hash()),
                block.encode(),
            );
            wo.set_sync(true);
        }
        self.db.write_opt(batch, &wo).map_err(db_err(format!(
            "keeping the arrival of a block proposed at height {} round {}",
            receipt.height, receipt.round
        )))
    }

    /// The receipts kept for heights above `height`.
    pub fn proposal_receipts_above(&self, height: u64) -> Result<Vec<ProposalReceipt>, StoreError> {
        self.entries_above(RECEIPT_PREFIX, height, "the proposal receipts")?
            .into_iter()
            .map(|(k, v)| {
                decode_receipt(&k, &v).ok_or_else(|| StoreError::Integrity {
                    height,
                    what: "a proposal receipt kept for consensus does not decode".into(),
                })
            })
            .collect()
    }

    /// The entries of kind `prefix` for heights above `height`, in key order (`what` names
    /// them in an error).
    fn entries_above(&self, prefix: u8, height: u64, what: &str) -> Result<Vec<Entry>, StoreError> {
        if height == u64::MAX {
            return Ok(Vec::new());
        }
        let start = above(prefix, height);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(
            self.cf(CF_CONSENSUS)?,
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (k, v) = item.map_err(db_err(format!("scanning {what}")))?;
            if k.first() != Some(&prefix) {
                break;
            }
            out.push((k, v));
        }
        Ok(out)
    }

    /// The candidate blocks kept for heights above `height`, by height then block hash.
    pub fn candidate_blocks_above(&self, height: u64) -> Result<Vec<Block>, StoreError> {
        self.entries_above(CANDIDATE_PREFIX, height, "the candidate blocks")?
            .into_iter()
            .map(|(k, v)| {
                let at = k
                    .get(1..9)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(0, u64::from_be_bytes);
                Self::decode_consensus_block(at, &v)
            })
            .collect()
    }

    /// Deletes the proposed and candidate blocks (and proposal receipts) kept for heights at
    /// or below `height`, in one write that is not synced.
    ///
    /// The consensus driver calls this after committing `height`, as a write of its own
    /// rather than inside the block's batch: [`Store::commit_block`] stays the one write of
    /// the ledger, shared with nodes that run no consensus. A crash between the two, or
    /// the loss of this unsynced write, leaves entries at or below the tip, which no read
    /// returns (the driver asks only for heights above the tip) and which the next call
    /// deletes, since it deletes from height 0. So it needs no fsync of its own, and the
    /// driver's answer to a decision does not wait for one.
    pub fn prune_consensus_blocks(&self, height: u64) -> Result<(), StoreError> {
        let cf = self.cf(CF_CONSENSUS)?;
        let mut batch = WriteBatch::default();
        for prefix in [PROPOSAL_PREFIX, CANDIDATE_PREFIX, RECEIPT_PREFIX] {
            batch.delete_range_cf(cf, height_start(prefix, 0), above(prefix, height));
        }
        self.db.write(batch).map_err(db_err(format!(
            "deleting the consensus blocks at or below height {height}"
        )))
    }

    /// Moves the blocks that the consensus driver of earlier versions kept as loose files
    /// under `dir` (`proposals/<height>-<round>.block`, `candidates/<height>-<hash>.block`)
    /// into the store, then deletes the files; returns how many blocks it moved.
    ///
    /// Only blocks above the tip are moved; files at or below it are obsolete and deleted,
    /// and so are `.tmp` files (writes interrupted before the driver answered the engine).
    /// A file that cannot be read or does not decode is left in place with a warning. A
    /// second call finds nothing, so the move happens once; if the deletions were lost in a
    /// crash, moving the same blocks again rewrites the same entries.
    pub fn import_loose_consensus_blocks(&self, dir: &Path) -> Result<usize, StoreError> {
        let tip = self.height().unwrap_or(0);
        let mut imported = 0;
        for kind in [LooseKind::Proposals, LooseKind::Candidates] {
            let sub = dir.join(kind.dir_name());
            let entries = match std::fs::read_dir(&sub) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::warn!(dir = %sub.display(), error = %e, "cannot list the consensus blocks an earlier version kept; they are not imported");
                    continue;
                }
            };
            for entry in entries.flatten() {
                let path = entry.path();
                match self.import_loose_file(kind, &path, tip)? {
                    LooseFile::Imported => {
                        imported += 1;
                        remove_loose(&path);
                    }
                    LooseFile::Obsolete => remove_loose(&path),
                    LooseFile::Unusable(why) => {
                        tracing::warn!(file = %path.display(), reason = %why, "left a consensus block file of an earlier version in place");
                    }
                }
            }
            // Only succeeds once the directory is empty.
            let _ = std::fs::remove_dir(&sub);
        }
        if imported > 0 {
            tracing::info!(
                blocks = imported,
                dir = %dir.display(),
                "moved the consensus blocks an earlier version kept as files into the store"
            );
        }
        Ok(imported)
    }

    fn import_loose_file(
        &self,
        kind: LooseKind,
        path: &Path,
        tip: u64,
    ) -> Result<LooseFile, StoreError> {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Ok(LooseFile::Unusable("the file name is not UTF-8".into()));
        };
        let Some((stem, extension)) = name.rsplit_once('.') else {
            return Ok(LooseFile::Unusable("the file name has no extension".into()));
        };
        let Some((height, rest)) = stem
            .split_once('-')
            .and_then(|(h, rest)| Some((h.parse::<u64>().ok()?, rest)))
        else {
            return Ok(LooseFile::Unusable(
                "the file name does not start with a height".into(),
            ));
        };
        if height <= tip || extension == "tmp" {
            return Ok(LooseFile::Obsolete);
        }
        if extension != "block" {
            return Ok(LooseFile::Unusable("not a .block file".into()));
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return Ok(LooseFile::Unusable(format!("reading it: {e}"))),
        };
        let block = match Block::decode(&bytes) {
            Ok(b) => b,
            Err(e) => return Ok(LooseFile::Unusable(format!("it does not decode: {e}"))),
        };
        if block.height() != height {
            return Ok(LooseFile::Unusable(format!(
                "it holds a block of height {}",
                block.height()
            )));
        }
        match kind {
            LooseKind::Proposals => {
                let Ok(round) = rest.parse::<u32>() else {
                    return Ok(LooseFile::Unusable(
                        "the file name does not end with a round".into(),
                    ));
                };
                self.save_proposed_block(height, round, &block)?;
            }
            LooseKind::Candidates => self.save_candidate_block(&block)?,
        }
        Ok(LooseFile::Imported)
    }
}

/// The two directories of loose block files.
#[derive(Clone, Copy)]
enum LooseKind {
    Proposals,
    Candidates,
}

impl LooseKind {
    fn dir_name(self) -> &'static str {
        match self {
            LooseKind::Proposals => "proposals",
            LooseKind::Candidates => "candidates",
        }
    }
}

/// What became of one loose block file.
enum LooseFile {
    Imported,
    Obsolete,
    Unusable(String),
}

fn remove_loose(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(file = %path.display(), error = %e, "cannot delete a consensus block file of an earlier version");
    }
}
