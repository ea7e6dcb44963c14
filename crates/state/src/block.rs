//! Blocks: building one as a proposer ([`build_block`]), validating and executing one as
//! a validator or on replay ([`execute_block`]), and checking its commit certificate
//! ([`check_commit`]). Transactions go through the same [`Executor`] in each case, so a
//! block a proposer builds is one every validator accepts.

use std::collections::BTreeSet;

use ledger_crypto::{verify_commit_signature, LtHash16};
use ledger_types::merkle::tx_root;
use ledger_types::{Block, BlockHeader, Hash, HashSuite, OrgId, Transaction};

use crate::error::{BlockError, StateError, TxRejection};
use crate::exec::{Execution, Executor, SignatureCache};
use crate::{model, StateView};

/// How a proposer builds a block.
#[derive(Debug, Clone)]
pub struct ProposeParams {
    /// The proposing validator.
    pub proposer: OrgId,
    /// The proposer's clock (raised to the parent's timestamp if behind).
    pub timestamp_ms: u64,
    /// Most transactions in the block.
    pub max_txs: usize,
    /// Most transaction bytes in the block.
    pub max_bytes: usize,
}

/// A block built by a proposer, before its commit is signed.
#[derive(Debug)]
pub struct BuiltBlock {
    /// The header.
    pub header: BlockHeader,
    /// The included transactions.
    pub txs: Vec<Transaction>,
    /// Their execution.
    pub execution: Execution,
    /// Candidates left out because they cannot be in any block now, with the reason.
    pub dropped: Vec<(Hash, TxRejection)>,
}

/// Builds the next block from candidate transactions, in the order given, leaving out the
/// ones that cannot be included.
pub fn build_block<V: StateView, C: SignatureCache + ?Sized>(
    view: &V,
    acc: &LtHash16,
    parent: &BlockHeader,
    params: &ProposeParams,
    candidates: impl IntoIterator<Item = Transaction>,
    cache: &C,
) -> Result<BuiltBlock, StateError> {
    let height = parent.height + 1;
    let mut ex = Executor::new(view, &parent.chain_id, height, cache);
    let mut txs = Vec::new();
    let mut bytes = 0usize;
    let mut dropped = Vec::new();
    for tx in candidates {
        if txs.len() >= params.max_txs || bytes + tx.len() > params.max_bytes {
            break;
        }
        match ex.apply(&tx) {
            Ok(()) => {
                bytes += tx.len();
                txs.push(tx);
            }
            Err(TxRejection::State(e)) => return Err(e),
            Err(reason) => dropped.push((tx.hash(), reason)),
        }
    }
    let execution = ex.finish(acc);
    let hashes: Vec<Hash> = txs.iter().map(Transaction::hash).collect();
    let header = BlockHeader {
        chain_id: parent.chain_id.clone(),
        height,
        prev_hash: parent.hash(),
        timestamp_ms: params.timestamp_ms.max(parent.timestamp_ms),
        proposer: params.proposer.clone(),
        tx_count: txs.len() as u32,
        tx_root: tx_root(HashSuite::current(), &hashes),
        state_root: execution.state_root(),
    };
    Ok(BuiltBlock {
        header,
        txs,
        execution,
        dropped,
    })
}

fn header_mismatch(height: u64, field: &'static str, got: String, expected: String) -> BlockError {
    BlockError::HeaderMismatch {
        height,
        field,
        got,
        expected,
    }
}

/// Validates a block against its parent and executes it: every header field, every
/// transaction (signature, nonce, permissions) and the resulting state root.
pub fn execute_block<V: StateView, C: SignatureCache + ?Sized>(
    view: &V,
    acc: &LtHash16,
    parent: &BlockHeader,
    block: &Block,
    cache: &C,
) -> Result<Execution, BlockError> {
    let h = block.header();
    let height = parent.height + 1;
    if h.height != height {
        return Err(header_mismatch(
            h.height,
            "height",
            h.height.to_string(),
            height.to_string(),
        ));
    }
    if h.chain_id != parent.chain_id {
        return Err(header_mismatch(
            height,
            "chain id",
            h.chain_id.to_string(),
            parent.chain_id.to_string(),
        ));
    }
    let parent_hash = parent.hash();
    if h.prev_hash != parent_hash {
        return Err(header_mismatch(
            height,
            "previous block hash",
            h.prev_hash.to_hex(),
            parent_hash.to_hex(),
        ));
    }
    if h.timestamp_ms < parent.timestamp_ms {
        return Err(header_mismatch(
            height,
            "timestamp",
            h.timestamp_ms.to_string(),
            format!("at least the parent's {}", parent.timestamp_ms),
        ));
    }
    if h.tx_count as usize != block.txs.len() {
        return Err(header_mismatch(
            height,
            "transaction count",
            h.tx_count.to_string(),
            block.txs.len().to_string(),
        ));
    }
    let root = block.computed_tx_root();
    if h.tx_root != root {
        return Err(header_mismatch(
            height,
            "transaction root",
            h.tx_root.to_hex(),
            root.to_hex(),
        ));
    }
    // The validators of this height, not the member's role: governance changes the role
    // when a change passes, the set two heights later, and a validator proposes until then.
    if !model::validator_set_at(view, height)?.contains(&h.proposer) {
        return Err(BlockError::ProposerNotValidator {
            height,
            proposer: h.proposer.to_string(),
        });
    }
    let mut ex = Executor::new(view, &parent.chain_id, height, cache);
    for (index, tx) in block.txs.iter().enumerate() {
        ex.apply(tx).map_err(|reason| match reason {
            TxRejection::State(e) => BlockError::State(e),
            reason => BlockError::InvalidTx {
                height,
                index,
                tx: tx.hash(),
                reason: Box::new(reason),
            },
        })?;
    }
    let execution = ex.finish(acc);
    if execution.state_root() != h.state_root {
        return Err(header_mismatch(
            height,
            "state root",
            h.state_root.to_hex(),
            execution.state_root().to_hex(),
        ));
    }
    Ok(execution)
}

/// Checks that a block's commit certificate holds valid precommit signatures (for this block,
/// in the commit's round) of more than two thirds of the validator set, at most one per
/// validator: the same rule Malachite's certificates follow, checkable by any node.
pub fn check_commit<V: StateView>(view: &V, block: &Block) -> Result<(), BlockError> {
    let height = block.height();
    let bad = |reason: String| BlockError::BadCommit { height, reason };
    let set = model::validator_set_at(view, height)?;
    let mut signed = BTreeSet::new();
    for s in &block.commit.signatures {
        if !set.contains(&s.validator) {
            return Err(bad(format!("{} is not a validator", s.validator)));
        }
        if !signed.insert(s.validator.clone()) {
            return Err(bad(format!("{} signed twice", s.validator)));
        }
        let m = model::member(view, &s.validator)?
            .ok_or_else(|| bad(format!("validator {} has no member entry", s.validator)))?;
        verify_commit_signature(
            &m.signing_key,
            block.header(),
            &block.hash(),
            block.commit.round,
            &s.validator,
            &s.signature,
        )
        .map_err(|e| bad(format!("signature of {}: {e}", s.validator)))?;
    }
    if signed.len() * 3 <= set.len() * 2 {
        return Err(bad(format!(
            "{} of {} validators signed; more than two thirds are needed",
            signed.len(),
            set.len()
        )));
    }
    Ok(())
}
