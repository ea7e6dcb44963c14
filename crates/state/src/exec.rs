//! The executor: one [`Executor::apply`] decides whether a transaction may be in a
//! block and applies it, for mempool admission ([`precheck_tx`]), block building and block
//! validation (`crate::block`). It runs the envelope checks (chain, signer, nonce,
//! signature, proofs) itself and the payload's checks and effect through its handler
//! (`crate::payload`), and collects the changes as a [`StateDiff`] over the state it reads.

use std::collections::BTreeMap;

use ledger_crypto::{verify_tx_signature, LtHash16};
use ledger_types::{ChainId, Hash, OrgId, Payload, Transaction};

use crate::error::{ExecError, StateError, TxFailure, TxRejection};
use crate::payload::{self, endorse, register_member, Ctx, Writes};
use crate::{keys, model, StateView};

/// One key's change in a block: the value before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The value before the block (`None`: absent).
    pub old: Option<Vec<u8>>,
    /// The value after the block (`None`: deleted).
    pub new: Option<Vec<u8>>,
}

/// Everything a block changed, in key order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateDiff {
    changes: BTreeMap<Vec<u8>, Change>,
}

impl StateDiff {
    /// The changes, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Change)> {
        self.changes.iter()
    }

    /// Whether any key starting with `prefix` changed.
    pub fn changes_under(&self, prefix: &[u8]) -> bool {
        self.changes
            .range(prefix.to_vec()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(prefix))
    }

    /// How many keys changed.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The accumulator after these changes.
    pub fn apply_to(&self, acc: &LtHash16) -> LtHash16 {
        let mut out = acc.clone();
        for (k, c) in &self.changes {
            if let Some(old) = &c.old {
                out.remove(k, old);
            }
            if let Some(new) = &c.new {
                out.insert(k, new);
            }
        }
        out
    }
}

/// Tells which transactions already had their signature verified (at mempool admission),
/// so block execution does not verify them twice.
pub trait SignatureCache {
    /// True if `tx`'s signature was verified under its signer's current key, and every
    /// proof it carries with it: stateless ones, and a cross-check's proof over the stored
    /// commitments it names (which never change once stored). Groth16 statements are
    /// named by their own key ([`crate::circuits`]).
    fn is_verified(&self, tx: &Hash) -> bool;

    /// How `tx`'s signature or proofs failed when they were checked already (by
    /// [`crate::preverify_detailed`]), so that a refused transaction is not checked twice.
    fn known_failure(&self, _tx: &Hash) -> Option<TxRejection> {
        None
    }
}

/// No cache: every signature is verified.
impl SignatureCache for () {
    fn is_verified(&self, _tx: &Hash) -> bool {
        false
    }
}

impl<F: Fn(&Hash) -> bool> SignatureCache for F {
    fn is_verified(&self, tx: &Hash) -> bool {
        self(tx)
    }
}

/// What happened to an included transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxOutcome {
    /// Its effects were applied.
    Applied,
    /// It had no effect (its nonce is consumed).
    Failed(TxFailure),
}

/// The result of executing a block's transactions.
#[derive(Debug, Clone)]
pub struct Execution {
    /// The state changes.
    pub diff: StateDiff,
    /// One outcome per transaction, in block order.
    pub outcomes: Vec<TxOutcome>,
    /// The state accumulator after the block.
    pub accumulator: LtHash16,
}

impl Execution {
    /// The state root after the block.
    pub fn state_root(&self) -> Hash {
        self.accumulator.root()
    }

    /// Whether the block changed a member's key (any kind: signing, ring, audit,
    /// encryption), so that signatures and proofs checked before it may no longer hold.
    pub fn changes_keys(&self) -> bool {
        self.diff.changes_under(keys::KEY_HISTORY_PREFIX)
    }
}

/// State as of a point in a block: the committed state and the block's changes so far.
pub(crate) struct Overlay<'v, V: StateView> {
    base: &'v V,
    pub(crate) diff: StateDiff,
}

impl<'v, V: StateView> Overlay<'v, V> {
    /// No changes yet on `base`.
    pub(crate) fn new(base: &'v V) -> Self {
        Self {
            base,
            diff: StateDiff::default(),
        }
    }

    /// Records `key`'s new value (keeping its value in `base` as the old one).
    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StateError> {
        if let Some(c) = self.diff.changes.get_mut(&key) {
            c.new = Some(value);
            return Ok(());
        }
        let old = self.base.get(&key)?;
        self.diff.changes.insert(
            key,
            Change {
                old,
                new: Some(value),
            },
        );
        Ok(())
    }
}

impl<V: StateView> StateView for Overlay<'_, V> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.diff.changes.get(key) {
            Some(c) => Ok(c.new.clone()),
            None => self.base.get(key),
        }
    }
}

/// Applies transactions one after another on an [`Overlay`] of the state before the block.
pub(crate) struct Executor<'v, V: StateView, C: SignatureCache + ?Sized> {
    overlay: Overlay<'v, V>,
    chain_id: &'v ChainId,
    height: u64,
    cache: &'v C,
    outcomes: Vec<TxOutcome>,
    /// Whether a key rotation applied earlier in this block: the cache's verdicts were
    /// reached against the keys before the block, so from then on they are not used.
    keys_changed: bool,
}

impl<'v, V: StateView, C: SignatureCache + ?Sized> Executor<'v, V, C> {
    /// An executor for the block at `height` on `view`.
    pub(crate) fn new(view: &'v V, chain_id: &'v ChainId, height: u64, cache: &'v C) -> Self {
        Self {
            overlay: Overlay::new(view),
            chain_id,
            height,
            cache,
            outcomes: Vec::new(),
            keys_changed: false,
        }
    }

    /// Whether the signature cache verified `h` against keys still in force.
    fn cached_ok(&self, h: &Hash) -> bool {
        !self.keys_changed && self.cache.is_verified(h)
    }

    /// The cache's known failure of `h`, while the keys it was reached with are in force.
    fn cached_failure(&self, h: &Hash) -> Option<TxRejection> {
        if self.keys_changed {
            return None;
        }
        self.cache.known_failure(h)
    }

    /// What the payload handlers see: state as of the next transaction.
    fn ctx(&self) -> Ctx<'_, Overlay<'v, V>> {
        Ctx {
            view: &self.overlay,
            chain_id: self.chain_id,
            height: self.height,
        }
    }

    /// Checks everything that decides whether `tx` may be in a block, then applies it.
    /// A rejection writes nothing.
    pub(crate) fn apply(&mut self, tx: &Transaction) -> Result<(), TxRejection> {
        let body = tx.body();
        if &body.chain_id != self.chain_id {
            return Err(TxRejection::WrongChain {
                expected: self.chain_id.to_string(),
                got: body.chain_id.to_string(),
            });
        }
        if let Payload::Endorse(e) = &body.payload {
            // Anonymous: no member, no nonce; the ring signature authenticates it.
            if let Some(r) = self.cached_failure(&tx.hash()) {
                return Err(r);
            }
            let verified = self.cached_ok(&tx.hash());
            let ctx = self.ctx();
            let image = endorse::check(&ctx, e, verified)?;
            let writes = endorse::execute(&ctx, tx.hash(), e, image)?;
            self.write(writes)?;
            self.outcomes.push(TxOutcome::Applied);
            return Ok(());
        }
        if let Payload::RegisterMember(_) = body.payload {
            return Err(register_member::after_genesis());
        }
        let signer = model::member(&self.overlay, &body.signer)?.ok_or_else(|| {
            TxRejection::UnknownSigner {
                signer: body.signer.clone(),
            }
        })?;
        let next = model::next_nonce(&self.overlay, &body.signer)?;
        check_nonce(&body.signer, body.nonce, next)?;
        if !self.cached_ok(&tx.hash()) {
            if let Some(r) = self.cached_failure(&tx.hash()) {
                return Err(r);
            }
            verify_tx_signature(tx, &signer.signing_key).map_err(|e| {
                TxRejection::BadSignature {
                    signer: body.signer.clone(),
                    reason: e.to_string(),
                }
            })?;
            payload::verify_proofs(&self.overlay, self.chain_id, tx)?;
        }
        match model::standing(&self.overlay, &body.signer)? {
            model::Standing::Good => {}
            model::Standing::Suspended(proposal, height) => {
                return Err(TxRejection::Suspended {
                    signer: body.signer.clone(),
                    proposal,
                    height,
                })
            }
            model::Standing::Removed(proposal, height) => {
                return Err(TxRejection::Removed {
                    signer: body.signer.clone(),
                    proposal,
                    height,
                })
            }
        }
        let ctx = self.ctx();
        payload::check_stateful(
            &ctx,
            &body.signer,
            &body.payload,
            self.cached_ok(&tx.hash()),
        )?;
        // Groth16 proofs are about stored document commitments too. Block validation
        // checks them on all cores first (`preverify`) and records which statement, with
        // which public inputs, verified; only those are skipped here.
        if let Some(st) = crate::circuits::statement(ctx.view, self.chain_id, tx)? {
            if !self.cached_ok(&crate::circuits::statement_key(tx, &st)) {
                crate::circuits::verify(ctx.view, &st)?;
            }
        }
        let outcome = match payload::execute(&ctx, &signer, tx.hash(), &body.payload) {
            Ok(writes) => Ok(writes),
            Err(ExecError::Failed(f)) => Err(f),
            Err(ExecError::Rejected(r)) => return Err(r),
            Err(ExecError::State(e)) => return Err(e.into()),
        };
        self.overlay
            .put(keys::nonce(&body.signer), (next + 1).to_be_bytes().to_vec())?;
        match outcome {
            Ok(writes) => {
                self.write(writes)?;
                self.outcomes.push(TxOutcome::Applied);
            }
            Err(f) => self.outcomes.push(TxOutcome::Failed(f)),
        }
        Ok(())
    }

    fn write(&mut self, writes: Writes) -> Result<(), StateError> {
        for (k, v) in writes {
            if k.starts_with(keys::KEY_HISTORY_PREFIX) {
                self.keys_changed = true;
            }
            self.overlay.put(k, v)?;
        }
        Ok(())
    }

    /// The block's execution, its accumulator advanced from `acc`.
    pub(crate) fn finish(self, acc: &LtHash16) -> Execution {
        let accumulator = self.overlay.diff.apply_to(acc);
        Execution {
            diff: self.overlay.diff,
            outcomes: self.outcomes,
            accumulator,
        }
    }
}

/// Refuses a nonce other than `next`, naming whether it was used or is ahead.
pub(crate) fn check_nonce(signer: &OrgId, got: u64, next: u64) -> Result<(), TxRejection> {
    if got < next {
        return Err(TxRejection::NonceUsed {
            signer: signer.clone(),
            got,
            next,
        });
    }
    if got > next {
        return Err(TxRejection::NonceAhead {
            signer: signer.clone(),
            got,
            next,
        });
    }
    Ok(())
}

/// Checks a transaction against committed state without applying it: what the mempool asks
/// before admitting. `Ok(Some(failure))` means it would be included but have no effect.
pub fn precheck_tx<V: StateView, C: SignatureCache + ?Sized>(
    view: &V,
    chain_id: &ChainId,
    next_height: u64,
    tx: &Transaction,
    cache: &C,
) -> Result<Option<TxFailure>, TxRejection> {
    let mut ex = Executor::new(view, chain_id, next_height, cache);
    ex.apply(tx)?;
    Ok(match ex.outcomes.pop() {
        Some(TxOutcome::Failed(f)) => Some(f),
        _ => None,
    })
}
