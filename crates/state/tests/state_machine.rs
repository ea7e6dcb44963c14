//! The state machine, driven as the node and consensus drive it, on an in-memory state.

use std::collections::BTreeMap;

use ledger_crypto::{sign_commit, sign_tx, Ed25519SoftwareKey, LtHash16};
use ledger_state::{
    build_block, check_commit, execute_block, execute_genesis, genesis, precheck_tx,
    record_version, BlockError, BuiltBlock, Execution, ProposeParams, TxFailure, TxOutcome,
    TxRejection,
};
use ledger_types::merkle::tx_root;
use ledger_types::*;

struct Chain {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    acc: LtHash16,
    tip: BlockHeader,
    key: Ed25519SoftwareKey,
    chain: ChainId,
    org: OrgId,
}

fn register(key: &Ed25519SoftwareKey, chain: &ChainId, org: &str, roles: Vec<Role>) -> Transaction {
    genesis::registration(key, chain, &OrgId::new(org).unwrap(), &roles, vec![]).unwrap()
}

fn apply(state: &mut BTreeMap<Vec<u8>, Vec<u8>>, ex: &Execution) {
    for (k, c) in ex.diff.iter() {
        match &c.new {
            Some(v) => state.insert(k.clone(), v.clone()),
            None => state.remove(k),
        };
    }
}

impl Chain {
    fn new() -> Self {
        let key = Ed25519SoftwareKey::generate();
        let chain = ChainId::new("test").unwrap();
        let txs = vec![register(
            &key,
            &chain,
            "bank-a",
            vec![Role::Validator, Role::Member],
        )];
        let (block, ex) = genesis::genesis_block(&chain, 1, txs).unwrap();
        let mut state = BTreeMap::new();
        apply(&mut state, &ex);
        let tip = block.header().clone();
        Chain {
            state,
            acc: ex.accumulator,
            tip,
            key,
            chain,
            org: OrgId::new("bank-a").unwrap(),
        }
    }

    fn put(&self, nonce: u64, record: &str, version: u32) -> Transaction {
        sign_tx(
            &self.key,
            TxBody {
                chain_id: self.chain.clone(),
                signer: self.org.clone(),
                nonce,
                payload: Payload::PutRecord(PutRecord {
                    record: RecordId::new(record).unwrap(),
                    version,
                    fields: vec![RecordField {
                        name: FieldName::new("amount").unwrap(),
                        blob: vec![1, 2, 3],
                    }],
                }),
            },
        )
        .unwrap()
    }

    fn build(&self, txs: Vec<Transaction>) -> BuiltBlock {
        let params = ProposeParams {
            proposer: self.org.clone(),
            timestamp_ms: 10,
            max_txs: 100,
            max_bytes: 1 << 20,
        };
        build_block(&self.state, &self.acc, &self.tip, &params, txs, &()).unwrap()
    }

    fn seal(&self, built: BuiltBlock) -> Block {
        let hash = built.header.hash();
        let sig = sign_commit(&self.key, &hash).unwrap();
        Block::new(
            built.header,
            built.txs,
            Commit {
                signatures: vec![CommitSignature {
                    validator: self.org.clone(),
                    signature: sig,
                }],
            },
        )
    }

    fn commit(&mut self, block: &Block) -> Execution {
        let ex = execute_block(&self.state, &self.acc, &self.tip, block, &()).unwrap();
        check_commit(&self.state, block).unwrap();
        apply(&mut self.state, &ex);
        self.acc = ex.accumulator.clone();
        self.tip = block.header().clone();
        ex
    }
}

#[test]
fn built_block_validates_and_applies() {
    let mut c = Chain::new();
    let built = c.build(vec![c.put(1, "inv-1", 1), c.put(2, "inv-1", 2)]);
    assert!(built.dropped.is_empty());
    let block = c.seal(built);
    let ex = c.commit(&block);
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied, TxOutcome::Applied]);
    let v2 = record_version(&c.state, &RecordId::new("inv-1").unwrap(), 2)
        .unwrap()
        .unwrap();
    assert_eq!(v2.height, 1);
    assert_eq!(v2.owner, c.org);
}

#[test]
fn state_root_is_recomputable_from_state() {
    let mut c = Chain::new();
    let block = c.seal(c.build(vec![c.put(1, "a", 1), c.put(2, "b", 1)]));
    c.commit(&block);
    let mut fresh = LtHash16::new();
    for (k, v) in &c.state {
        fresh.insert(k, v);
    }
    assert_eq!(fresh.root(), c.tip.state_root);
}

#[test]
fn version_conflict_is_included_as_failed_and_consumes_the_nonce() {
    let mut c = Chain::new();
    let block = c.seal(c.build(vec![c.put(1, "inv-1", 2)]));
    let ex = c.commit(&block);
    assert_eq!(
        ex.outcomes,
        vec![TxOutcome::Failed(TxFailure::RecordVersionConflict {
            record: RecordId::new("inv-1").unwrap(),
            expected: 1,
            got: 2
        })]
    );
    assert_eq!(ledger_state::next_nonce(&c.state, &c.org).unwrap(), 2);
}

#[test]
fn proposer_drops_replays_and_gaps() {
    let c = Chain::new();
    let built = c.build(vec![c.put(1, "a", 1), c.put(1, "b", 1), c.put(5, "c", 1)]);
    assert_eq!(built.txs.len(), 1);
    assert!(matches!(
        built.dropped[0].1,
        TxRejection::NonceUsed {
            got: 1,
            next: 2,
            ..
        }
    ));
    assert!(matches!(
        built.dropped[1].1,
        TxRejection::NonceAhead {
            got: 5,
            next: 2,
            ..
        }
    ));
}

#[test]
fn tampered_blocks_are_refused() {
    let c = Chain::new();
    let good = c.seal(c.build(vec![c.put(1, "a", 1)]));

    // A state root that does not follow from the transactions.
    let mut h = good.header().clone();
    h.state_root = Hash([9; 32]);
    let b = Block::new(h, good.txs.clone(), Commit::default());
    assert!(matches!(
        execute_block(&c.state, &c.acc, &c.tip, &b, &()),
        Err(BlockError::HeaderMismatch {
            field: "state root",
            ..
        })
    ));

    // A transaction signed by another key.
    let other = Ed25519SoftwareKey::generate();
    let forged = sign_tx(&other, c.put(1, "a", 1).body().clone()).unwrap();
    let built = build_block(
        &c.state,
        &c.acc,
        &c.tip,
        &ProposeParams {
            proposer: c.org.clone(),
            timestamp_ms: 5,
            max_txs: 10,
            max_bytes: 1 << 20,
        },
        vec![],
        &(),
    )
    .unwrap();
    let mut h = built.header;
    h.tx_count = 1;
    h.tx_root = tx_root(HashSuite::CURRENT, &[forged.hash()]);
    let b = Block::new(h, vec![forged], Commit::default());
    match execute_block(&c.state, &c.acc, &c.tip, &b, &()) {
        Err(BlockError::InvalidTx { reason, .. }) => {
            assert!(
                matches!(*reason, TxRejection::BadSignature { .. }),
                "{reason}"
            )
        }
        other => panic!("expected a bad signature, got {other:?}"),
    }

    // A wrong parent.
    let mut h = good.header().clone();
    h.prev_hash = Hash([1; 32]);
    let b = Block::new(h, good.txs.clone(), Commit::default());
    assert!(matches!(
        execute_block(&c.state, &c.acc, &c.tip, &b, &()),
        Err(BlockError::HeaderMismatch {
            field: "previous block hash",
            ..
        })
    ));
}

#[test]
fn commit_needs_a_valid_validator_signature() {
    let c = Chain::new();
    let built = c.build(vec![]);
    let hash = built.header.hash();
    let other = Ed25519SoftwareKey::generate();
    let block = Block::new(
        built.header,
        vec![],
        Commit {
            signatures: vec![CommitSignature {
                validator: c.org.clone(),
                signature: sign_commit(&other, &hash).unwrap(),
            }],
        },
    );
    assert!(matches!(
        check_commit(&c.state, &block),
        Err(BlockError::BadCommit { .. })
    ));
    let unsigned = Block::new(block.header().clone(), vec![], Commit::default());
    assert!(matches!(
        check_commit(&c.state, &unsigned),
        Err(BlockError::BadCommit { .. })
    ));
}

#[test]
fn register_member_after_genesis_and_unknown_signer_are_rejected() {
    let c = Chain::new();
    let stranger = Ed25519SoftwareKey::generate();
    let reg = register(&stranger, &c.chain, "bank-x", vec![Role::Member]);
    assert!(matches!(
        precheck_tx(&c.state, &c.chain, 1, &reg, &()),
        Err(TxRejection::NotAllowed {
            kind: "RegisterMember",
            ..
        })
    ));
    let mut body = c.put(1, "a", 1).body().clone();
    body.signer = OrgId::new("bank-x").unwrap();
    let tx = sign_tx(&stranger, body).unwrap();
    assert!(matches!(
        precheck_tx(&c.state, &c.chain, 1, &tx, &()),
        Err(TxRejection::UnknownSigner { .. })
    ));
}

#[test]
fn genesis_refuses_a_registration_signed_by_another_key() {
    let chain = ChainId::new("test").unwrap();
    let a = Ed25519SoftwareKey::generate();
    let b = Ed25519SoftwareKey::generate();
    let tx = register(&a, &chain, "bank-a", vec![Role::Validator]);
    let forged = sign_tx(&b, tx.body().clone()).unwrap();
    match execute_genesis(&BTreeMap::new(), &chain, &[forged]) {
        Err(BlockError::InvalidTx { reason, .. }) => {
            assert!(
                matches!(*reason, TxRejection::BadSignature { .. }),
                "{reason}"
            )
        }
        other => panic!("expected a bad signature, got {other:?}"),
    }
    let no_validator = register(&a, &chain, "bank-a", vec![Role::Member]);
    assert!(execute_genesis(&BTreeMap::new(), &chain, &[no_validator]).is_err());
}

/// bank-a (validator, member) and reg-eu (regulator) in genesis.
fn chain_with_regulator() -> (Chain, Ed25519SoftwareKey) {
    let mut c = Chain::new();
    let reg_key = Ed25519SoftwareKey::generate();
    let txs = vec![
        register(
            &c.key,
            &c.chain,
            "bank-a",
            vec![Role::Validator, Role::Member],
        ),
        register(&reg_key, &c.chain, "reg-eu", vec![Role::Regulator]),
    ];
    let (block, ex) = genesis::genesis_block(&c.chain, 1, txs).unwrap();
    c.state = BTreeMap::new();
    apply(&mut c.state, &ex);
    c.acc = ex.accumulator;
    c.tip = block.header().clone();
    (c, reg_key)
}

fn schema_tx(
    key: &Ed25519SoftwareKey,
    c: &Chain,
    signer: &str,
    nonce: u64,
    version: u32,
    auditors: &[&str],
) -> Transaction {
    sign_tx(
        key,
        TxBody {
            chain_id: c.chain.clone(),
            signer: OrgId::new(signer).unwrap(),
            nonce,
            payload: Payload::RegisterSchema(RegisterSchema {
                schema: SchemaId::new("invoice").unwrap(),
                version,
                fields: vec![SchemaField {
                    name: FieldName::new("total").unwrap(),
                    ty: FieldType::Amount,
                    required: true,
                }],
                auditors: auditors.iter().map(|a| OrgId::new(*a).unwrap()).collect(),
            }),
        },
    )
    .unwrap()
}

#[test]
fn schemas_register_in_versions_with_an_audit_policy_of_regulators() {
    let (mut c, reg_key) = chain_with_regulator();
    let block = c.seal(c.build(vec![
        schema_tx(&c.key, &c, "bank-a", 1, 1, &["reg-eu"]),
        schema_tx(&c.key, &c, "bank-a", 2, 3, &["reg-eu"]),
        schema_tx(&c.key, &c, "bank-a", 3, 2, &["bank-a"]),
        schema_tx(&c.key, &c, "bank-a", 4, 2, &[]),
    ]));
    let ex = c.commit(&block);
    let id = SchemaId::new("invoice").unwrap();
    assert_eq!(ex.outcomes[0], TxOutcome::Applied);
    assert_eq!(
        ex.outcomes[1],
        TxOutcome::Failed(TxFailure::SchemaVersionConflict {
            schema: id.clone(),
            expected: 2,
            got: 3
        })
    );
    assert_eq!(
        ex.outcomes[2],
        TxOutcome::Failed(TxFailure::AuditorNotRegulator {
            schema: id.clone(),
            auditor: OrgId::new("bank-a").unwrap()
        })
    );
    assert_eq!(ex.outcomes[3], TxOutcome::Applied);
    let v1 = ledger_state::schema_version(&c.state, &id, 1)
        .unwrap()
        .unwrap();
    assert_eq!(v1.auditors, vec![OrgId::new("reg-eu").unwrap()]);
    assert_eq!(
        ledger_state::schema_head(&c.state, &id)
            .unwrap()
            .unwrap()
            .latest_version,
        2
    );

    // A regulator may not register schemas; nobody but the registrar adds versions.
    let by_regulator = schema_tx(&reg_key, &c, "reg-eu", 1, 3, &[]);
    let block = c.seal(c.build(vec![by_regulator]));
    let ex = c.commit(&block);
    assert!(
        matches!(
            &ex.outcomes[0],
            TxOutcome::Failed(TxFailure::MissingRole { .. })
        ),
        "{:?}",
        ex.outcomes
    );
}
