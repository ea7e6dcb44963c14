//! The genesis block: founding members' self-signed registrations, applied to the empty
//! state. Used by the node (from `genesis.json`) and by tests and benches.

use std::collections::BTreeMap;

use ledger_crypto::{sign_tx, CryptoError, Signer};
use ledger_types::block::GENESIS_PROPOSER;
use ledger_types::merkle::tx_root;
use ledger_types::{
    Block, BlockHeader, ChainId, Commit, Hash, HashSuite, OrgId, Payload, RegisterMember, Role,
    Transaction, TxBody,
};

use crate::{execute_genesis_with_circuits, BlockError, Execution};

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
    genesis_block_with_circuits(chain_id, timestamp_ms, registrations, &[])
}

/// [`genesis_block`] fixing the chain's circuit verifying keys (name, compressed key).
pub fn genesis_block_with_circuits(
    chain_id: &ChainId,
    timestamp_ms: u64,
    registrations: Vec<Transaction>,
    circuits: &[(String, Vec<u8>)],
) -> Result<(Block, Execution), BlockError> {
    let execution = execute_genesis_with_circuits(
        &BTreeMap::<Vec<u8>, Vec<u8>>::new(),
        chain_id,
        &registrations,
        circuits,
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
        tx_root: tx_root(HashSuite::CURRENT, &hashes),
        state_root: execution.state_root(),
    };
    Ok((
        Block::new(header, registrations, Commit::default()),
        execution,
    ))
}
