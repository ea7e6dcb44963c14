//! The deterministic state machine: validate and apply transactions and blocks.
//!
//! `apply` is a pure function of (state, block): it reads state through [`StateView`],
//! returns the changes as a [`StateDiff`] and the new state root, and writes nothing. Every
//! block driver uses it the same way: [`build_block`] when proposing, [`execute_block`]
//! when validating or replaying, and the store commits the result. Each payload kind's
//! checks and execution live in a module of their own (`payload/`). No clocks, no
//! randomness, no hash-map iteration order.

pub mod analytics;
mod block;
mod circuits;
mod error;
mod exec;
pub mod genesis;
pub mod keys;
mod model;
mod payload;
mod preverify;
pub mod rules;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{BlockError, FirstFinancing, StateError, TxFailure, TxRejection};

/// The verifying key of a circuit registered in this chain's genesis.
pub fn circuit_key(
    view: &impl StateView,
    id: ledger_circuits::CircuitId,
) -> Result<Option<std::sync::Arc<ledger_circuits::VerifyingKey>>, StateError> {
    circuits::verifying_key(&view, id)
}
pub use analytics::{amount_context, field_amount_context, install_analytics};
pub use block::{build_block, check_commit, execute_block, BuiltBlock, ProposeParams};
pub use exec::{precheck_tx, Change, Execution, SignatureCache, StateDiff, TxOutcome};
pub use genesis::{execute_genesis, execute_genesis_full, execute_genesis_with_circuits};
pub use model::{
    access_history, access_history_page, analytics_config, analytics_query, audit_alerts,
    audit_alerts_page, buyer_financing, buyer_financings, cross_checks, cross_checks_page,
    endorsement_by_image, endorsement_count, endorsements, field_entries, field_entry, financing,
    governance_params, key_at, key_history, key_in, member, member_ring, next_nonce,
    next_proposal_id, open_proposal, proposal, record_head, record_version, removal, ring_floor,
    schema_head, schema_version, standing, suspension, validator_api, validator_changes,
    validator_p2p, validator_set_at, validators, vote, AccessAction, AccessEvent, AnalyticsConfig,
    AnalyticsQuery, BuyerFinancing, Endorsement, FieldEntry, FiledAlert, FiledCheck, Financing,
    KeyChange, Page, Proposal, ProposalStatus, PublishedResult, RecordHead, RecordVersion,
    Standing, MAX_PAGE,
};
pub use payload::endorse::{sign_endorsement, verify_endorsement};
pub use payload::{roles_for, verify_proofs};
pub use preverify::{has_batched_proofs, preverify, preverify_detailed, Preverified};

/// Read access to committed state.
pub trait StateView {
    /// The value stored under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
}

impl<T: StateView + ?Sized> StateView for &T {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get(key)
    }
}

/// An in-memory state, for tests and tools.
impl StateView for std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(std::collections::BTreeMap::get(self, key).cloned())
    }
}
