//! The genesis block: founding members' self-signed registrations, applied to the empty
//! state, with the validator set, the first member ring and the circuit verifying keys
//! they fix. [`execute_genesis`] applies them (each registration is checked by the
//! `RegisterMember` handler); [`genesis_block`] and the `registration` helpers build the
//! block for the node (from `genesis.json`), tests and benches.

use std::collections::{BTreeMap, BTreeSet};

use ledger_crypto::{sign_tx, CryptoError, LtHash16, Signer};
use ledger_types::block::GENESIS_PROPOSER;
use ledger_types::merkle::tx_root;
use ledger_types::{
    Block, BlockHeader, ChainId, Commit, Hash, HashSuite, OrgId, Payload, RegisterMember, Role,
    Transaction, TxBody,
};

use crate::error::{BlockError, TxRejection};
use crate::exec::{Execution, Overlay, TxOutcome};
use crate::model::{self, encode_validators, AnalyticsConfig};
use crate::payload::register_member;
use crate::{keys, StateView};

/// The body of `member`'s registration (nonce 0, signed by the member itself).
pub fn registration_body(chain_id: &ChainId, member: RegisterMember) -> TxBody {
    TxBody {
        chain_id: chain_id.clone(),
        signer: member.org.clone(),
        nonce: 0,
        payload: Payload::RegisterMember(member),
    }
}

/// `org`'s registration with `roles`, signed by `signer` (the key it registers).
pub fn registration(
    signer: &dyn Signer,
    chain_id: &ChainId,
    org: &OrgId,
    roles: &[Role],
    encryption_key: Vec<u8>,
) -> Result<Transaction, CryptoError> {
    registration_with_keys(signer, chain_id, org, roles, encryption_key, vec![], vec![])
}

/// [`registration`] with an audit key (regulators that audit committed amounts; else
/// empty) and a ring key (members that endorse anonymously; else empty).
pub fn registration_with_keys(
    signer: &dyn Signer,
    chain_id: &ChainId,
    org: &OrgId,
    roles: &[Role],
    encryption_key: Vec<u8>,
    audit_key: Vec<u8>,
    ring_key: Vec<u8>,
) -> Result<Transaction, CryptoError> {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    let member = RegisterMember {
        org: org.clone(),
        signing_key: signer.public_key(),
        encryption_key,
        roles,
        audit_key,
        ring_key,
    };
    sign_tx(signer, registration_body(chain_id, member))
}

/// The genesis block holding `registrations`, and its execution on the empty state.
pub fn genesis_block(
    chain_id: &ChainId,
    timestamp_ms: u64,
    registrations: Vec<Transaction>,
) -> Result<(Block, Execution), BlockError> {
    genesis_block_with_circuits(chain_id, timestamp_ms, registrations, &[], false)
}

/// [`genesis_block`] fixing the chain's circuit verifying keys (name, compressed key).
pub fn genesis_block_with_circuits(
    chain_id: &ChainId,
    timestamp_ms: u64,
    registrations: Vec<Transaction>,
    circuits: &[(String, Vec<u8>)],
    development: bool,
) -> Result<(Block, Execution), BlockError> {
    genesis_block_full(
        chain_id,
        timestamp_ms,
        registrations,
        circuits,
        development,
        None,
    )
}

/// [`genesis_block_with_circuits`] that also fixes the chain's analytics (authority,
/// profile, public keys' id; docs/fhe.md).
pub fn genesis_block_full(
    chain_id: &ChainId,
    timestamp_ms: u64,
    registrations: Vec<Transaction>,
    circuits: &[(String, Vec<u8>)],
    development: bool,
    analytics: Option<&AnalyticsConfig>,
) -> Result<(Block, Execution), BlockError> {
    let execution = execute_genesis_full(
        &BTreeMap::<Vec<u8>, Vec<u8>>::new(),
        chain_id,
        &registrations,
        circuits,
        development,
        analytics,
    )?;
    let hashes: Vec<Hash> = registrations.iter().map(Transaction::hash).collect();
    let proposer = OrgId::new(GENESIS_PROPOSER).map_err(|e| BlockError::HeaderMismatch {
        height: 0,
        field: "proposer",
        got: e.to_string(),
        expected: GENESIS_PROPOSER.into(),
    })?;
    let header = BlockHeader {
        chain_id: chain_id.clone(),
        height: 0,
        prev_hash: Hash::ZERO,
        timestamp_ms,
        proposer,
        tx_count: registrations.len() as u32,
        tx_root: tx_root(HashSuite::current(), &hashes),
        state_root: execution.state_root(),
    };
    Ok((
        Block::new(header, registrations, Commit::default()),
        execution,
    ))
}

/// Applies the genesis transactions to an empty state.
///
/// Genesis holds only `RegisterMember` transactions, each with nonce 0, signed by the key
/// it registers (proof of possession), one per organisation, with at least one validator.
pub fn execute_genesis<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    txs: &[Transaction],
) -> Result<Execution, BlockError> {
    execute_genesis_with_circuits(view, chain_id, txs, &[], false)
}

/// [`execute_genesis`] that also fixes the chain's circuit verifying keys (name,
/// compressed key): they are written to `circuit/{name}`, so the genesis state root, and
/// with it the genesis block hash, commits to them. A development chain is marked
/// (`chain/development`), so whether a chain is one is part of its genesis hash too.
pub fn execute_genesis_with_circuits<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    txs: &[Transaction],
    circuits: &[(String, Vec<u8>)],
    development: bool,
) -> Result<Execution, BlockError> {
    execute_genesis_full(view, chain_id, txs, circuits, development, None)
}

/// [`execute_genesis_with_circuits`] that also fixes the chain's analytics
/// (`analytics/config`): the authority must be a founding regulator and the profile known.
pub fn execute_genesis_full<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    txs: &[Transaction],
    circuits: &[(String, Vec<u8>)],
    development: bool,
    analytics: Option<&AnalyticsConfig>,
) -> Result<Execution, BlockError> {
    let bad = |index: usize, tx: &Transaction, reason: TxRejection| BlockError::InvalidTx {
        height: 0,
        index,
        tx: tx.hash(),
        reason: Box::new(reason),
    };
    let mut overlay = Overlay::new(view);
    if development {
        overlay.put(keys::development(), vec![1])?;
    }
    let mut validators = BTreeSet::new();
    let mut ring: BTreeMap<OrgId, [u8; 32]> = BTreeMap::new();
    let mut outcomes = Vec::with_capacity(txs.len());
    for (i, tx) in txs.iter().enumerate() {
        let body = tx.body();
        if &body.chain_id != chain_id {
            return Err(bad(
                i,
                tx,
                TxRejection::WrongChain {
                    expected: chain_id.to_string(),
                    got: body.chain_id.to_string(),
                },
            ));
        }
        let Payload::RegisterMember(m) = &body.payload else {
            return Err(bad(
                i,
                tx,
                TxRejection::NotAllowed {
                    kind: tx.kind().name(),
                    context: "in the genesis block (only RegisterMember is)".into(),
                },
            ));
        };
        let taken: Vec<[u8; 32]> = ring.values().copied().collect();
        register_member::check_genesis(&overlay, tx, m, &taken).map_err(|r| match r {
            TxRejection::State(e) => BlockError::State(e),
            r => bad(i, tx, r),
        })?;
        if m.has_role(Role::Validator) {
            validators.insert(m.org.clone());
        }
        if let Ok(k) = <[u8; 32]>::try_from(m.ring_key.as_slice()) {
            ring.insert(m.org.clone(), k);
        }
        for (k, v) in register_member::genesis_writes(m) {
            overlay.put(k, v)?;
        }
        outcomes.push(TxOutcome::Applied);
    }
    if validators.is_empty() {
        return Err(BlockError::HeaderMismatch {
            height: 0,
            field: "validator set",
            got: "no member with the validator role".into(),
            expected: "at least one validator".into(),
        });
    }
    let validators: Vec<OrgId> = validators.into_iter().collect();
    overlay.put(keys::validators(), encode_validators(&validators))?;
    // The member ring of anonymous endorsements, in organisation-id order, fixed from
    // height 0 (membership changes only here for now; a later change appends a ring).
    if ring.len() > ledger_crypto::ring::MAX_RING {
        return Err(BlockError::HeaderMismatch {
            height: 0,
            field: "member ring",
            got: format!("{} members with ring keys", ring.len()),
            expected: format!("at most {}", ledger_crypto::ring::MAX_RING),
        });
    }
    let ring: Vec<[u8; 32]> = ring.into_values().collect();
    for (k, v) in model::fix_ring(&overlay, 0, &ring)? {
        overlay.put(k, v)?;
    }
    let mut seen = BTreeSet::new();
    for (name, vk) in circuits {
        let bad = |got: String| BlockError::HeaderMismatch {
            height: 0,
            field: "circuit verifying key",
            got,
            expected: "a verifying key of a known circuit, once each".into(),
        };
        let id = ledger_circuits::CircuitId::from_name(name)
            .ok_or_else(|| bad(format!("unknown circuit {name:?}")))?;
        if !seen.insert(id) {
            return Err(bad(format!("circuit {name} twice")));
        }
        ledger_circuits::VerifyingKey::from_bytes(id, vk)
            .map_err(|e| bad(format!("circuit {name}: {e}")))?;
        overlay.put(keys::circuit(name), vk.clone())?;
    }
    if let Some(a) = analytics {
        let bad = |got: String| BlockError::HeaderMismatch {
            height: 0,
            field: "analytics",
            got,
            expected: "a founding regulator as the analytics authority and a known profile".into(),
        };
        let regulator = txs.iter().any(|t| {
            matches!(&t.body().payload, Payload::RegisterMember(m) if m.org == a.authority && m.has_role(Role::Regulator))
        });
        if !regulator {
            return Err(bad(format!(
                "analytics authority {} is not a founding member with the regulator role",
                a.authority
            )));
        }
        ledger_fhe::Profile::parse(&a.profile).map_err(|e| bad(e.to_string()))?;
        overlay.put(keys::analytics_config(), a.encode())?;
    }
    let accumulator = overlay.diff.apply_to(&LtHash16::new());
    Ok(Execution {
        diff: overlay.diff,
        outcomes,
        accumulator,
    })
}
