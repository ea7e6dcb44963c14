//! Where the driver keeps the blocks it must not lose before they are committed: the block
//! it proposed for each (height, round), so a restart never proposes two different blocks
//! for one round, and the blocks it found valid, so a decision replayed from the engine's
//! WAL after a crash finds its block.
//!
//! The driver does no I/O of its own: it calls a [`ProposalStore`], implemented by the
//! node's RocksDB [`Store`] (one synced write per call) and by an in-memory map in tests.

use ledger_store::{ProposalReceipt, Store};
use ledger_types::Block;

/// Durable storage of the driver's uncommitted blocks. Blocking calls: the driver runs them
/// on blocking threads. Every write is durable when it returns.
pub trait ProposalStore: Send + Sync + 'static {
    /// Keeps the block this node proposes for (`height`, `round`).
    fn save_proposal(&self, height: u64, round: u32, block: &Block) -> Result<(), String>;
    /// The block this node proposed for (`height`, `round`), if it kept one.
    fn proposal(&self, height: u64, round: u32) -> Result<Option<Block>, String>;
    /// Keeps a block this node found valid.
    fn save_candidate(&self, block: &Block) -> Result<(), String>;
    /// The valid blocks kept for heights above `height`.
    fn candidates_above(&self, height: u64) -> Result<Vec<Block>, String>;
    /// Keeps when a proposed block first arrived at a round (its timeliness was judged
    /// against that time), and with it the block as a candidate when given (one write).
    fn save_receipt(
        &self,
        receipt: &ProposalReceipt,
        candidate: Option<&Block>,
    ) -> Result<(), String>;
    /// The receipts kept for heights above `height`.
    fn receipts_above(&self, height: u64) -> Result<Vec<ProposalReceipt>, String>;
    /// Forgets the proposed and valid blocks (and receipts) kept for heights at or below
    /// `height`.
    fn prune_at_or_below(&self, height: u64) -> Result<(), String>;
}

/// The node's store keeps them in its `consensus` column family, each write synced.
impl ProposalStore for Store {
    fn save_proposal(&self, height: u64, round: u32, block: &Block) -> Result<(), String> {
        self.save_proposed_block(height, round, block)
            .map_err(|e| e.to_string())
    }

    fn proposal(&self, height: u64, round: u32) -> Result<Option<Block>, String> {
        self.proposed_block(height, round)
            .map_err(|e| e.to_string())
    }

    fn save_candidate(&self, block: &Block) -> Result<(), String> {
        self.save_candidate_block(block).map_err(|e| e.to_string())
    }

    fn candidates_above(&self, height: u64) -> Result<Vec<Block>, String> {
        self.candidate_blocks_above(height)
            .map_err(|e| e.to_string())
    }

    fn save_receipt(
        &self,
        receipt: &ProposalReceipt,
        candidate: Option<&Block>,
    ) -> Result<(), String> {
        self.save_proposal_receipt(receipt, candidate)
            .map_err(|e| e.to_string())
    }

    fn receipts_above(&self, height: u64) -> Result<Vec<ProposalReceipt>, String> {
        self.proposal_receipts_above(height)
            .map_err(|e| e.to_string())
    }

    fn prune_at_or_below(&self, height: u64) -> Result<(), String> {
        self.prune_consensus_blocks(height)
            .map_err(|e| e.to_string())
    }
}
