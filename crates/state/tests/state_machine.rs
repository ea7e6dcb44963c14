//! The state machine, driven as the node and consensus drive it, on an in-memory state.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use ledger_crypto::hpke::software_dh;
use ledger_crypto::record::{binding, seal_record, unwrap_key, FieldToSeal, Reader};
use ledger_crypto::{sign_commit, sign_tx, Ed25519SoftwareKey, LtHash16};
use ledger_state::{
    build_block, check_commit, execute_block, execute_genesis, genesis, governance_params,
    precheck_tx, proposal, record_version, suspension, BlockError, BuiltBlock, Execution,
    ProposalStatus, ProposeParams, TxFailure, TxOutcome, TxRejection,
};
use ledger_types::merkle::tx_root;
use ledger_types::*;
use zeroize::Zeroizing;

/// A test organisation: its signing key and its P-256 encryption key pair.
struct Org {
    id: OrgId,
    seed: [u8; 32],
    key: Ed25519SoftwareKey,
    enc_sk: [u8; 32],
    enc_pk: Vec<u8>,
    /// The audit secret (registered for regulators only).
    audit: ledger_proofs::AuditSecret,
    /// The ring secret (registered for members only).
    ring: ledger_crypto::ring::RingSecret,
}

impl Org {
    fn new(id: &str) -> Self {
        let sk = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let seed: [u8; 32] = rand::random();
        Org {
            id: OrgId::new(id).unwrap(),
            seed,
            key: Ed25519SoftwareKey::from_seed(&seed),
            enc_sk: sk.to_bytes().into(),
            enc_pk: p256::EncodedPoint::from(sk.public_key())
                .as_bytes()
                .to_vec(),
            audit: ledger_proofs::AuditSecret::generate(),
            ring: ledger_crypto::ring::RingSecret::generate(),
        }
    }

    fn reader(&self) -> Reader {
        Reader {
            org: self.id.clone(),
            key: self.enc_pk.clone(),
        }
    }
}

/// bank-a (validator, member: signs blocks and the `put` transactions), bank-b and bank-c
/// (members), reg-eu (regulator); bank-c registered schema `po` v1 in block 1: `total`
/// (amount, required) and `note` (text), audited by reg-eu.
struct Chain {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    acc: LtHash16,
    tip: BlockHeader,
    key: Ed25519SoftwareKey,
    chain: ChainId,
    org: OrgId,
    orgs: BTreeMap<&'static str, Org>,
    schema: RegisterSchema,
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

fn po_schema() -> RegisterSchema {
    RegisterSchema {
        document: None,
        schema: SchemaId::new("po").unwrap(),
        version: 1,
        fields: vec![
            SchemaField {
                name: FieldName::new("note").unwrap(),
                ty: FieldType::Text,
                required: false,
                committed: false,
                fhe: false,
            },
            SchemaField {
                name: FieldName::new("total").unwrap(),
                ty: FieldType::Amount,
                required: true,
                committed: false,
                fhe: false,
            },
        ],
        auditors: vec![OrgId::new("reg-eu").unwrap()],
    }
}

impl Chain {
    fn new() -> Self {
        Self::new_with_circuits(&[])
    }

    /// The chain with these circuit verifying keys fixed in genesis.
    fn new_with_circuits(circuits: &[(String, Vec<u8>)]) -> Self {
        let chain = ChainId::new("test").unwrap();
        let mut orgs = BTreeMap::new();
        for id in ["bank-a", "bank-b", "bank-c", "reg-eu"] {
            orgs.insert(id, Org::new(id));
        }
        let roles = |id: &str| match id {
            "bank-a" => vec![Role::Validator, Role::Member],
            "reg-eu" => vec![Role::Regulator],
            _ => vec![Role::Member],
        };
        let txs = orgs
            .values()
            .map(|o| {
                let audit_key = if o.id.as_str() == "reg-eu" {
                    o.audit.public().to_bytes().to_vec()
                } else {
                    vec![]
                };
                genesis::registration_with_keys(
                    &o.key,
                    &chain,
                    &o.id,
                    &roles(o.id.as_str()),
                    o.enc_pk.clone(),
                    audit_key.clone(),
                    if audit_key.is_empty() {
                        o.ring.public().to_vec()
                    } else {
                        vec![]
                    },
                )
                .unwrap()
            })
            .collect();
        let (block, ex) =
            genesis::genesis_block_with_circuits(&chain, 1, txs, circuits, false).unwrap();
        let mut state = BTreeMap::new();
        apply(&mut state, &ex);
        let tip = block.header().clone();
        let key = Ed25519SoftwareKey::from_seed(&orgs["bank-a"].seed);
        let mut c = Chain {
            state,
            acc: ex.accumulator,
            tip,
            key,
            chain: chain.clone(),
            org: OrgId::new("bank-a").unwrap(),
            orgs,
            schema: po_schema(),
        };
        let reg = c.sign("bank-c", 1, Payload::RegisterSchema(po_schema()));
        let block = c.seal(c.build(vec![reg]));
        let ex = c.commit(&block);
        assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
        c
    }

    fn sign(&self, org: &str, nonce: u64, payload: Payload) -> Transaction {
        let o = &self.orgs[org];
        sign_tx(
            &o.key,
            TxBody {
                chain_id: self.chain.clone(),
                signer: o.id.clone(),
                nonce,
                payload,
            },
        )
        .unwrap()
    }

    /// A record version sealed for real: each field readable by `readers`.
    fn sealed(
        &self,
        record: &str,
        version: u32,
        fields: &[(&str, &str)],
        readers: &[&str],
    ) -> PutRecord {
        let per_field: Vec<(&str, &str, &[&str])> =
            fields.iter().map(|(n, v)| (*n, *v, readers)).collect();
        self.sealed_for(record, version, &per_field)
    }

    /// A record version sealed for real, each field with its own readers.
    fn sealed_for(
        &self,
        record: &str,
        version: u32,
        fields: &[(&str, &str, &[&str])],
    ) -> PutRecord {
        let to_seal: Vec<FieldToSeal> = fields
            .iter()
            .map(|(name, value, readers)| {
                let name = FieldName::new(*name).unwrap();
                let ty = self
                    .schema
                    .fields
                    .iter()
                    .find(|f| f.name == name)
                    .map(|f| f.ty.clone())
                    .unwrap_or(FieldType::Text);
                FieldToSeal {
                    name,
                    plaintext: Zeroizing::new(ty.encode_value(value).unwrap()),
                    readers: readers.iter().map(|r| self.orgs[r].reader()).collect(),
                }
            })
            .collect();
        seal_record(
            &self.chain,
            &RecordId::new(record).unwrap(),
            version,
            &self.schema,
            &to_seal,
        )
        .unwrap()
    }

    /// bank-a puts `record` v`version` (total 100), readable by bank-a and reg-eu.
    fn put(&self, nonce: u64, record: &str, version: u32) -> Transaction {
        let p = self.sealed(record, version, &[("total", "100")], &["bank-a", "reg-eu"]);
        self.sign("bank-a", nonce, Payload::PutRecord(p))
    }

    /// Opens field `field` of `record` v`version` as `org`, through its wrap.
    fn read(&self, org: &str, record: &str, version: u32, field: &str) -> Result<String, String> {
        let o = &self.orgs[org];
        let v = record_version(&self.state, &RecordId::new(record).unwrap(), version)
            .unwrap()
            .ok_or("no such version")?;
        let name = FieldName::new(field).unwrap();
        let wrap = v.wrap(&name, &o.id).ok_or("not authorised")?;
        let b = binding(&self.chain, &v.record, v.version, &name, &self.schema);
        let key =
            unwrap_key(&b, wrap, &o.enc_pk, software_dh(&o.enc_sk)).map_err(|e| e.to_string())?;
        let plain = key
            .open(&b, &v.field(&name).unwrap().sealed)
            .map_err(|e| e.to_string())?;
        let ty = self
            .schema
            .fields
            .iter()
            .find(|f| f.name == name)
            .unwrap()
            .ty
            .clone();
        ty.decode_value(&plain)
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
        let sig = sign_commit(&self.key, &built.header, 0, &self.org).unwrap();
        Block::new(
            built.header,
            built.txs,
            Commit {
                round: 0,
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
    assert_eq!(v2.height, 2);
    assert_eq!(v2.owner, c.org);
    assert_eq!(c.read("bank-a", "inv-1", 2, "total").unwrap(), "100");
    assert_eq!(c.read("reg-eu", "inv-1", 2, "total").unwrap(), "100");
    assert_eq!(
        c.read("bank-b", "inv-1", 2, "total").unwrap_err(),
        "not authorised"
    );
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
    h.tx_root = tx_root(HashSuite::current(), &[forged.hash()]);
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
    let header = built.header.clone();
    let other = Ed25519SoftwareKey::generate();
    let signed = |key: &Ed25519SoftwareKey, signed_round: u32, claimed_round: u32| {
        Block::new(
            header.clone(),
            vec![],
            Commit {
                round: claimed_round,
                signatures: vec![CommitSignature {
                    validator: c.org.clone(),
                    signature: sign_commit(key, &header, signed_round, &c.org).unwrap(),
                }],
            },
        )
    };
    check_commit(&c.state, &signed(&c.key, 3, 3)).unwrap();
    for (what, block) in [
        ("another key", signed(&other, 0, 0)),
        ("a precommit of another round", signed(&c.key, 2, 3)),
    ] {
        assert!(
            matches!(
                check_commit(&c.state, &block),
                Err(BlockError::BadCommit { .. })
            ),
            "{what} accepted"
        );
    }
    let block = signed(&other, 0, 0);
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

/// The chain and reg-eu's signing key.
fn chain_with_regulator() -> (Chain, Ed25519SoftwareKey) {
    let c = Chain::new();
    let reg_key = Ed25519SoftwareKey::from_seed(&c.orgs["reg-eu"].seed);
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
                document: None,
                schema: SchemaId::new("invoice").unwrap(),
                version,
                fields: vec![SchemaField {
                    name: FieldName::new("total").unwrap(),
                    ty: FieldType::Amount,
                    required: true,
                    committed: false,
                    fhe: false,
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

#[test]
fn fhe_fields_need_a_chain_with_analytics() {
    let (mut c, _) = chain_with_regulator();
    // A schema flagging an amount fhe fails on a chain without analytics keys.
    let Payload::RegisterSchema(mut s) = schema_tx(&c.key, &c, "bank-a", 1, 1, &[])
        .body()
        .payload
        .clone()
    else {
        unreachable!()
    };
    s.fields[0].fhe = true;
    let tx = c.sign("bank-a", 1, Payload::RegisterSchema(s));
    let block = c.seal(c.build(vec![tx]));
    let ex = c.commit(&block);
    match failure(&ex, 0) {
        TxFailure::AnalyticsRefused { reason } => {
            assert!(reason.contains("no analytics key"), "{reason}")
        }
        f => panic!("{f:?}"),
    }
    // A record carrying an encrypted value of a field its schema does not flag is refused
    // before it can be in a block.
    let block = c.seal(c.build(vec![schema_tx(&c.key, &c, "bank-a", 2, 1, &[])]));
    assert_eq!(c.commit(&block).outcomes[0], TxOutcome::Applied);
    let mut put = c.sealed("inv-1", 1, &[("total", "100")], &["bank-a"]);
    put.schema = SchemaId::new("invoice").unwrap();
    put.fhe_amounts.push(ledger_types::FheAmount {
        field: FieldName::new("total").unwrap(),
        amount: vec![1; 64],
    });
    let tx = c.sign("bank-a", 3, Payload::PutRecord(put));
    let e = precheck_tx(&c.state, &c.chain, 2, &tx, &()).unwrap_err();
    assert!(e.to_string().contains("does not flag it fhe"), "{e}");
}

fn failure(ex: &Execution, i: usize) -> TxFailure {
    match &ex.outcomes[i] {
        TxOutcome::Failed(f) => f.clone(),
        TxOutcome::Applied => panic!("transaction {i} applied; expected a failure"),
    }
}

#[test]
fn a_record_missing_its_audit_wrap_is_refused_by_the_state_machine() {
    let mut c = Chain::new();
    let no_audit = c.sealed("inv-1", 1, &[("total", "100")], &["bank-a"]);
    let tx = c.sign("bank-a", 1, Payload::PutRecord(no_audit));
    let expected = TxFailure::MissingAuditWrap {
        record: RecordId::new("inv-1").unwrap(),
        field: FieldName::new("total").unwrap(),
        auditor: OrgId::new("reg-eu").unwrap(),
    };
    // Admission (precheck) names it, and a block holding it records it as failed.
    assert_eq!(
        precheck_tx(&c.state, &c.chain, 2, &tx, &()).unwrap(),
        Some(expected.clone())
    );
    let block = c.seal(c.build(vec![tx]));
    let ex = c.commit(&block);
    assert_eq!(failure(&ex, 0), expected);
    assert!(
        ledger_state::record_head(&c.state, &RecordId::new("inv-1").unwrap())
            .unwrap()
            .is_none()
    );
}

#[test]
fn records_must_match_their_schema() {
    let mut c = Chain::new();
    let both = &["bank-a", "reg-eu"];
    let unknown_field = c.sealed("r1", 1, &[("color", "red"), ("total", "1")], both);
    let missing_required = c.sealed("r2", 1, &[("note", "hello")], both);
    // A text sealed where an amount (8 bytes) is declared.
    let mut wrong_size = c.sealed("r3", 1, &[("note", "123456789")], both);
    wrong_size.fields[0].name = FieldName::new("total").unwrap();
    for w in &mut wrong_size.wraps {
        w.field = FieldName::new("total").unwrap();
    }
    let mut no_schema = c.sealed("r4", 1, &[("total", "1")], both);
    no_schema.schema_version = 7;
    let no_owner = c.sealed("r5", 1, &[("total", "1")], &["reg-eu"]);
    let mut stranger = c.sealed("r6", 1, &[("total", "1")], both);
    stranger.wraps.push(KeyWrap {
        reader: OrgId::new("bank-z").unwrap(),
        ..stranger.wraps[0].clone()
    });
    let txs = [
        unknown_field,
        missing_required,
        wrong_size,
        no_schema,
        no_owner,
        stranger,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, p)| c.sign("bank-a", i as u64 + 1, Payload::PutRecord(p)))
    .collect();
    let block = c.seal(c.build(txs));
    let ex = c.commit(&block);
    let text: Vec<String> = (0..6).map(|i| failure(&ex, i).to_string()).collect();
    assert!(
        text[0].contains("field color is not declared"),
        "{}",
        text[0]
    );
    assert!(
        text[1].contains("required field total is missing"),
        "{}",
        text[1]
    );
    assert!(
        text[2].contains("seals 9 plaintext bytes; a amount value is 8 to 8"),
        "{}",
        text[2]
    );
    assert!(matches!(
        failure(&ex, 3),
        TxFailure::SchemaNotFound { version: 7, .. }
    ));
    assert!(matches!(
        failure(&ex, 4),
        TxFailure::MissingOwnerWrap { .. }
    ));
    assert!(
        matches!(failure(&ex, 5), TxFailure::UnknownReader { .. }),
        "{}",
        text[5]
    );
}

#[test]
fn grants_add_readers_and_are_recorded_in_the_history() {
    let mut c = Chain::new();
    let put = c.sealed(
        "inv-1",
        1,
        &[("note", "ship by May"), ("total", "120000")],
        &["bank-a", "reg-eu"],
    );
    let block = c.seal(c.build(vec![c.sign("bank-a", 1, Payload::PutRecord(put))]));
    c.commit(&block);
    assert_eq!(
        c.read("bank-b", "inv-1", 1, "total").unwrap_err(),
        "not authorised"
    );

    // bank-a rewraps the total's key (unwrapped with its own key) to bank-b.
    let v1 = record_version(&c.state, &RecordId::new("inv-1").unwrap(), 1)
        .unwrap()
        .unwrap();
    let total = FieldName::new("total").unwrap();
    let b = binding(&c.chain, &v1.record, 1, &total, &c.schema);
    let a = &c.orgs["bank-a"];
    let key = unwrap_key(
        &b,
        v1.wrap(&total, &a.id).unwrap(),
        &a.enc_pk,
        software_dh(&a.enc_sk),
    )
    .unwrap();
    let wrap = ledger_crypto::record::wrap_one(&key, &b, &c.orgs["bank-b"].reader()).unwrap();
    let grant = |nonce, version, signer: &str| {
        c.sign(
            signer,
            nonce,
            Payload::GrantAccess(GrantAccess {
                record: RecordId::new("inv-1").unwrap(),
                version,
                wraps: vec![wrap.clone()],
            }),
        )
    };
    let stale_grant = grant(5, 1, "bank-a");
    let block = c.seal(c.build(vec![
        grant(2, 1, "bank-a"),
        grant(3, 1, "bank-a"),
        grant(1, 1, "bank-b"),
    ]));
    let ex = c.commit(&block);
    assert_eq!(ex.outcomes[0], TxOutcome::Applied);
    assert!(matches!(failure(&ex, 1), TxFailure::AlreadyReader { .. }));
    assert!(matches!(failure(&ex, 2), TxFailure::NotRecordOwner { .. }));
    assert_eq!(c.read("bank-b", "inv-1", 1, "total").unwrap(), "120000");
    assert_eq!(
        c.read("bank-b", "inv-1", 1, "note").unwrap_err(),
        "not authorised"
    );
    let history = ledger_state::access_history(&c.state, &RecordId::new("inv-1").unwrap()).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].action, ledger_state::AccessAction::Grant);
    assert_eq!(history[0].org.as_str(), "bank-b");
    assert_eq!(history[0].fields, vec![total]);
    assert_eq!(history[0].height, c.tip.height);

    // Grants wrap the latest version only.
    let put2 = c.sealed("inv-1", 2, &[("total", "5")], &["bank-a", "reg-eu"]);
    let block = c.seal(c.build(vec![
        c.sign("bank-a", 4, Payload::PutRecord(put2)),
        stale_grant,
    ]));
    let ex = c.commit(&block);
    assert!(matches!(
        failure(&ex, 1),
        TxFailure::GrantNotCurrent { latest: 2, .. }
    ));
}

#[test]
fn revocation_rotates_keys_and_keeps_the_other_readers() {
    let mut c = Chain::new();
    let readers = &["bank-a", "bank-b", "bank-c", "reg-eu"];
    let put = c.sealed("inv-1", 1, &[("note", "n"), ("total", "7")], readers);
    let block = c.seal(c.build(vec![c.sign("bank-a", 1, Payload::PutRecord(put))]));
    assert_eq!(c.commit(&block).outcomes, vec![TxOutcome::Applied]);

    let with_b = &["bank-a", "bank-b", "bank-c", "reg-eu"][..];
    let without_b = &["bank-a", "bank-c", "reg-eu"][..];
    let revoke = |nonce, version, from: &str, note_readers: &[&str]| {
        let put = c.sealed_for(
            "inv-1",
            version,
            &[("note", "n", note_readers), ("total", "7", without_b)],
        );
        c.sign(
            "bank-a",
            nonce,
            Payload::RevokeAccess(RevokeAccess {
                from: OrgId::new(from).unwrap(),
                fields: vec![FieldName::new("total").unwrap()],
                put,
            }),
        )
    };
    let again = revoke(6, 3, "bank-b", with_b);
    let block = c.seal(c.build(vec![
        revoke(2, 2, "reg-eu", with_b),
        revoke(3, 2, "bank-a", with_b),
        revoke(4, 2, "bank-b", without_b),
        revoke(5, 2, "bank-b", with_b),
    ]));
    let ex = c.commit(&block);
    assert!(matches!(failure(&ex, 0), TxFailure::CannotRevoke { .. }));
    assert!(matches!(failure(&ex, 1), TxFailure::CannotRevoke { .. }));
    // Revoking only the total must not silently drop bank-b from the note.
    assert!(
        matches!(failure(&ex, 2), TxFailure::ReaderDropped { .. }),
        "{}",
        failure(&ex, 2)
    );
    assert_eq!(ex.outcomes[3], TxOutcome::Applied);
    assert_eq!(
        c.read("bank-b", "inv-1", 2, "total").unwrap_err(),
        "not authorised"
    );
    assert_eq!(c.read("bank-b", "inv-1", 2, "note").unwrap(), "n");
    assert_eq!(c.read("bank-c", "inv-1", 2, "total").unwrap(), "7");
    // What bank-b could read before stays readable: the ledger cannot unsay it.
    assert_eq!(c.read("bank-b", "inv-1", 1, "total").unwrap(), "7");
    let history = ledger_state::access_history(&c.state, &RecordId::new("inv-1").unwrap()).unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.action, last.org.as_str(), last.version),
        (ledger_state::AccessAction::Revoke, "bank-b", 2)
    );
    // Revoking again: bank-b no longer reads the total.
    let block = c.seal(c.build(vec![again]));
    let ex = c.commit(&block);
    assert!(matches!(failure(&ex, 0), TxFailure::NotAReader { .. }));
    // A revocation that also adds a reader (bank-b back to the total, bank-c out) logs
    // the addition in the access history, not only the revocation.
    let put = c.sealed_for(
        "inv-1",
        3,
        &[
            ("note", "n", with_b),
            ("total", "7", &["bank-a", "bank-b", "reg-eu"]),
        ],
    );
    let r = c.sign(
        "bank-a",
        7,
        Payload::RevokeAccess(RevokeAccess {
            from: OrgId::new("bank-c").unwrap(),
            fields: vec![FieldName::new("total").unwrap()],
            put,
        }),
    );
    let block = c.seal(c.build(vec![r]));
    assert_eq!(c.commit(&block).outcomes, vec![TxOutcome::Applied]);
    let history = ledger_state::access_history(&c.state, &RecordId::new("inv-1").unwrap()).unwrap();
    assert!(
        history
            .iter()
            .any(|e| e.action == ledger_state::AccessAction::Put
                && e.org.as_str() == "bank-b"
                && e.version == 3
                && e.fields.contains(&FieldName::new("total").unwrap())),
        "{history:?}"
    );
    assert_eq!(c.read("bank-b", "inv-1", 3, "total").unwrap(), "7");
}

#[test]
fn audit_alerts_are_filed_by_auditors_once() {
    let mut c = Chain::new();
    let block = c.seal(c.build(vec![c.put(1, "inv-1", 1)]));
    c.commit(&block);
    let alert = |org: &str, nonce| {
        c.sign(
            org,
            nonce,
            Payload::AuditAlert(AuditAlert {
                record: RecordId::new("inv-1").unwrap(),
                version: 1,
                field: FieldName::new("total").unwrap(),
                owner: OrgId::new("bank-a").unwrap(),
                reason: "the audit wrap does not open".into(),
            }),
        )
    };
    let block = c.seal(c.build(vec![
        alert("reg-eu", 1),
        alert("reg-eu", 2),
        alert("bank-b", 1),
    ]));
    let ex = c.commit(&block);
    assert_eq!(ex.outcomes[0], TxOutcome::Applied);
    assert!(matches!(failure(&ex, 1), TxFailure::DuplicateAlert { .. }));
    assert!(matches!(failure(&ex, 2), TxFailure::MissingRole { .. }));
    let alerts = ledger_state::audit_alerts(&c.state, &RecordId::new("inv-1").unwrap()).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].regulator.as_str(), "reg-eu");
}

/// Schema `loan` v1: `amount` (committed amount, required), registered by bank-c.
fn loan_schema() -> RegisterSchema {
    RegisterSchema {
        document: None,
        schema: SchemaId::new("loan").unwrap(),
        version: 1,
        fields: vec![SchemaField {
            name: FieldName::new("amount").unwrap(),
            ty: FieldType::Amount,
            required: true,
            committed: true,
            fhe: false,
        }],
        auditors: vec![],
    }
}

/// A loan record whose amount is committed, with its range proof.
fn committed_put(c: &Chain, record: &str, value: u64) -> PutRecord {
    committed_put_with(c, record, &ledger_proofs::Opening::new(value))
}

fn committed_put_with(c: &Chain, record: &str, opening: &ledger_proofs::Opening) -> PutRecord {
    let opening = opening.clone();
    let amount = FieldName::new("amount").unwrap();
    let mut put = seal_record(
        &c.chain,
        &RecordId::new(record).unwrap(),
        1,
        &loan_schema(),
        &[FieldToSeal {
            name: amount.clone(),
            plaintext: Zeroizing::new(opening.to_bytes().to_vec()),
            readers: vec![c.orgs["bank-a"].reader()],
        }],
    )
    .unwrap();
    let ctx = ledger_proofs::Context {
        chain_id: c.chain.to_string(),
        items: vec![(record.to_string(), 1, "amount".into())],
    };
    let proof = ledger_proofs::prove_range(&ctx, std::slice::from_ref(&opening)).unwrap();
    put.commitments = vec![FieldCommitment {
        field: amount,
        commitment: opening.commit().to_bytes(),
    }];
    put.range_proof = Some(RecordRangeProof {
        padding: proof.padding.iter().map(|p| p.to_bytes()).collect(),
        proof: proof.proof,
    });
    put
}

#[test]
fn committed_amounts_need_a_commitment_and_a_valid_range_proof() {
    let mut c = Chain::new();
    let block = c.seal(c.build(vec![c.sign(
        "bank-c",
        2,
        Payload::RegisterSchema(loan_schema()),
    )]));
    assert_eq!(c.commit(&block).outcomes, vec![TxOutcome::Applied]);

    let good = c.sign(
        "bank-a",
        1,
        Payload::PutRecord(committed_put(&c, "loan-1", 50_000)),
    );
    // The range proof of another record does not move to this one.
    let mut moved = committed_put(&c, "loan-2", 7);
    let other = committed_put(&c, "loan-3", 7);
    moved.range_proof = other.range_proof.clone();
    moved.commitments = other.commitments.clone();
    let moved = c.sign("bank-a", 1, Payload::PutRecord(moved));
    match precheck_tx(&c.state, &c.chain, 3, &moved, &()) {
        Err(TxRejection::InvalidProof {
            kind: "range",
            record,
            ..
        }) => {
            assert_eq!(record.as_str(), "loan-2")
        }
        other => panic!("a replayed range proof was not refused: {other:?}"),
    }
    // Tampered proof bytes are refused the same way.
    let mut tampered = committed_put(&c, "loan-4", 9);
    if let Some(p) = &mut tampered.range_proof {
        p.proof[100] ^= 1;
    }
    let tampered = c.sign("bank-a", 1, Payload::PutRecord(tampered));
    assert!(matches!(
        precheck_tx(&c.state, &c.chain, 3, &tampered, &()),
        Err(TxRejection::InvalidProof { .. })
    ));
    // A block holding the forged proof is invalid as a whole.
    let built = c.build(vec![]);
    let mut h = built.header.clone();
    h.tx_count = 1;
    h.tx_root = tx_root(HashSuite::current(), &[tampered.hash()]);
    let forged = Block::new(h, vec![tampered], Commit::default());
    assert!(matches!(
        execute_block(&c.state, &c.acc, &c.tip, &forged, &()),
        Err(BlockError::InvalidTx { .. })
    ));
    // Without its commitment, a committed field does not match the schema.
    let mut bare = committed_put(&c, "loan-5", 1);
    bare.commitments.clear();
    bare.range_proof = None;
    let bare = c.sign("bank-a", 2, Payload::PutRecord(bare));
    let block = c.seal(c.build(vec![good, bare]));
    let ex = c.commit(&block);
    assert_eq!(ex.outcomes[0], TxOutcome::Applied);
    assert!(
        failure(&ex, 1)
            .to_string()
            .contains("committed field amount carries no commitment"),
        "{}",
        failure(&ex, 1)
    );
    let v = record_version(&c.state, &RecordId::new("loan-1").unwrap(), 1)
        .unwrap()
        .unwrap();
    assert_eq!(v.commitments.len(), 1);
}

#[test]
fn cross_checks_prove_relations_between_committed_amounts() {
    use ledger_proofs::Opening;
    let mut c = Chain::new();
    let block = c.seal(c.build(vec![c.sign(
        "bank-c",
        2,
        Payload::RegisterSchema(loan_schema()),
    )]));
    c.commit(&block);
    let (o1, o2, o3) = (
        Opening::new(50_000),
        Opening::new(50_000),
        Opening::new(40_000),
    );
    let puts = vec![
        c.sign(
            "bank-a",
            1,
            Payload::PutRecord(committed_put_with(&c, "loan-1", &o1)),
        ),
        c.sign(
            "bank-a",
            2,
            Payload::PutRecord(committed_put_with(&c, "loan-2", &o2)),
        ),
        c.sign(
            "bank-a",
            3,
            Payload::PutRecord(committed_put_with(&c, "loan-3", &o3)),
        ),
    ];
    let block = c.seal(c.build(puts));
    assert!(c
        .commit(&block)
        .outcomes
        .iter()
        .all(|o| *o == TxOutcome::Applied));
    let op = |r: &str| Operand {
        record: RecordId::new(r).unwrap(),
        version: 1,
        field: FieldName::new("amount").unwrap(),
    };
    let ctx_by = |filer: &str, rs: &[&str]| {
        ledger_proofs::Context {
            chain_id: c.chain.to_string(),
            items: rs
                .iter()
                .map(|r| (r.to_string(), 1, "amount".into()))
                .collect(),
        }
        .filed_by(filer)
    };
    let ctx = |rs: &[&str]| ctx_by("bank-a", rs);
    let equal = CrossCheck {
        relation: Relation::Linear(vec![1, -1]),
        operands: vec![op("loan-1"), op("loan-2")],
        proof: ledger_proofs::prove_linear(
            &ctx(&["loan-1", "loan-2"]),
            &[1, -1],
            &[o1.clone(), o2.clone()],
        )
        .unwrap()
        .to_bytes()
        .to_vec(),
    };
    let at_most = CrossCheck {
        relation: Relation::AtMost,
        operands: vec![op("loan-3"), op("loan-1")],
        proof: ledger_proofs::prove_at_most(&ctx(&["loan-3", "loan-1"]), &o3, &o1)
            .unwrap()
            .proof,
    };
    // The equality proof presented for other records does not verify.
    let replayed = CrossCheck {
        operands: vec![op("loan-1"), op("loan-3")],
        ..equal.clone()
    };
    let r = c.sign("bank-a", 4, Payload::CrossCheck(replayed));
    assert!(matches!(
        precheck_tx(&c.state, &c.chain, 4, &r, &()),
        Err(TxRejection::InvalidProof {
            kind: "linear relation",
            ..
        })
    ));
    // A proof is bound to the organisation that files it: bank-a's proof, copied by
    // bank-b and filed under bank-b's name, is refused.
    let copied = c.sign("bank-b", 1, Payload::CrossCheck(equal.clone()));
    assert!(matches!(
        precheck_tx(&c.state, &c.chain, 4, &copied, &()),
        Err(TxRejection::InvalidProof {
            kind: "linear relation",
            ..
        })
    ));
    // A check over a field without a commitment is refused before any block, naming it.
    let uncommitted = CrossCheck {
        operands: vec![
            op("loan-1"),
            Operand {
                field: FieldName::new("borrower").unwrap(),
                ..op("loan-2")
            },
        ],
        ..equal.clone()
    };
    let r = c.sign("bank-a", 4, Payload::CrossCheck(uncommitted));
    match precheck_tx(&c.state, &c.chain, 4, &r, &()) {
        Err(TxRejection::InvalidProof {
            kind: "cross-check operand",
            reason,
            ..
        }) => assert!(
            reason.contains("no commitment for field borrower"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    // Someone who cannot read the fields cannot file a check about them, even with a
    // proof of its own.
    let own_proof = CrossCheck {
        proof: ledger_proofs::prove_linear(
            &ctx_by("bank-b", &["loan-1", "loan-2"]),
            &[1, -1],
            &[o1.clone(), o2.clone()],
        )
        .unwrap()
        .to_bytes()
        .to_vec(),
        ..equal.clone()
    };
    let outsider = c.sign("bank-b", 1, Payload::CrossCheck(own_proof));
    let block = c.seal(c.build(vec![
        c.sign("bank-a", 4, Payload::CrossCheck(equal)),
        c.sign("bank-a", 5, Payload::CrossCheck(at_most)),
        outsider,
    ]));
    let ex = c.commit(&block);
    assert_eq!(ex.outcomes[0], TxOutcome::Applied);
    assert_eq!(ex.outcomes[1], TxOutcome::Applied);
    assert!(matches!(failure(&ex, 2), TxFailure::NotAReader { .. }));
    let checks = ledger_state::cross_checks(&c.state, &RecordId::new("loan-1").unwrap()).unwrap();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[1].check.relation, Relation::AtMost);
}

/// Block validation (and admission) check cross-checks' proofs over stored commitments in
/// the same batch as the other proofs, and take as verified only those they could check:
/// a forged proof among valid ones is found, and a check whose record is stored earlier in
/// the same block is left to execution, which checks it against the state it has reached.
#[test]
fn block_validation_batches_cross_check_proofs_and_leaves_what_it_cannot_check_to_execution() {
    use ledger_proofs::Opening;
    let mut c = Chain::new();
    commit_txs(
        vec![c.sign("bank-c", 2, Payload::RegisterSchema(loan_schema()))],
        &mut c,
    );
    let (o1, o2, o3) = (
        Opening::new(50_000),
        Opening::new(50_000),
        Opening::new(50_000),
    );
    let ex = commit_txs(
        vec![
            c.sign(
                "bank-a",
                1,
                Payload::PutRecord(committed_put_with(&c, "loan-1", &o1)),
            ),
            c.sign(
                "bank-a",
                2,
                Payload::PutRecord(committed_put_with(&c, "loan-2", &o2)),
            ),
        ],
        &mut c,
    );
    assert!(ex.outcomes.iter().all(|o| *o == TxOutcome::Applied));
    let op = |r: &str| Operand {
        record: RecordId::new(r).unwrap(),
        version: 1,
        field: FieldName::new("amount").unwrap(),
    };
    let equal = |a: &str, b: &str, oa: &Opening, ob: &Opening, filer: &str| CrossCheck {
        relation: Relation::Linear(vec![1, -1]),
        operands: vec![op(a), op(b)],
        proof: ledger_proofs::prove_linear(
            &ledger_proofs::Context {
                chain_id: c.chain.to_string(),
                items: vec![
                    (a.into(), 1, "amount".into()),
                    (b.into(), 1, "amount".into()),
                ],
            }
            .filed_by(filer),
            &[1, -1],
            &[oa.clone(), ob.clone()],
        )
        .unwrap()
        .to_bytes()
        .to_vec(),
    };
    let valid = equal("loan-1", "loan-2", &o1, &o2, "bank-a");
    // Well formed, but proved for another filer: it does not verify for bank-a.
    let forged = equal("loan-1", "loan-2", &o1, &o2, "bank-b");
    let txs = [
        c.sign("bank-a", 3, Payload::CrossCheck(valid.clone())),
        c.sign("bank-a", 4, Payload::CrossCheck(valid.clone())),
        c.sign("bank-a", 5, Payload::CrossCheck(forged)),
        c.sign("bank-a", 6, Payload::CrossCheck(valid.clone())),
    ];
    let next = c.tip.height + 1;
    let refs: Vec<&Transaction> = txs.iter().collect();
    let pre = ledger_state::preverify_detailed(&c.state, &c.chain, next, &refs);
    for (i, t) in txs.iter().enumerate() {
        assert_eq!(pre.ok.contains(&t.hash()), i != 2, "check {i}");
    }
    // The forged one is not a known failure: execution checks it and names it.
    assert!(pre.failed.is_empty());
    let alone = c.sign("bank-a", 3, txs[2].body().payload.clone());
    let pre_alone = ledger_state::preverify_detailed(&c.state, &c.chain, next, &[&alone]);
    assert!(pre_alone.ok.is_empty() && pre_alone.failed.is_empty());
    let err = precheck_tx(&c.state, &c.chain, next, &alone, &pre_alone).unwrap_err();
    assert!(
        matches!(
            err,
            TxRejection::InvalidProof {
                kind: "linear relation",
                ..
            }
        ),
        "{err}"
    );
    let cache = |h: &Hash| pre.ok.contains(h);
    let forced = c.seal(forge(&c, txs[..3].to_vec()));
    let err = execute_block(&c.state, &c.acc, &c.tip, &forced, &cache).unwrap_err();
    assert!(err.to_string().contains("linear relation"), "{err}");
    // A record and a check over it in one block: before the block the operand is not
    // stored, so the check is not preverified; execution verifies it once the record is.
    let put3 = c.sign(
        "bank-a",
        3,
        Payload::PutRecord(committed_put_with(&c, "loan-3", &o3)),
    );
    let check3 = c.sign(
        "bank-a",
        4,
        Payload::CrossCheck(equal("loan-3", "loan-1", &o3, &o1, "bank-a")),
    );
    let forged3 = c.sign(
        "bank-a",
        4,
        Payload::CrossCheck(equal("loan-3", "loan-1", &o3, &o1, "bank-c")),
    );
    for check in [&forged3, &check3] {
        let pre = ledger_state::preverify(&c.state, &c.chain, next, &[&put3, check]);
        assert!(pre.contains(&put3.hash()) && !pre.contains(&check.hash()));
    }
    let pre = ledger_state::preverify(&c.state, &c.chain, next, &[&put3, &forged3]);
    let block = c.seal(forge(&c, vec![put3.clone(), forged3]));
    let err = execute_block(&c.state, &c.acc, &c.tip, &block, &|h: &Hash| {
        pre.contains(h)
    })
    .unwrap_err();
    assert!(err.to_string().contains("linear relation"), "{err}");
    let block = c.seal(c.build(vec![put3, check3]));
    let pre = ledger_state::preverify(
        &c.state,
        &c.chain,
        next,
        &block.txs.iter().collect::<Vec<_>>(),
    );
    let ex = execute_block(&c.state, &c.acc, &c.tip, &block, &|h: &Hash| {
        pre.contains(h)
    })
    .unwrap();
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied, TxOutcome::Applied]);
}

/// A loan record of schema `loan` v2 (audited by reg-eu): the amount committed, with its
/// range proof and reg-eu's handle made by `handle` (which may lie).
fn audited_put(
    c: &Chain,
    record: &str,
    opening: &ledger_proofs::Opening,
    handles: &[(&str, &ledger_proofs::Opening)],
) -> PutRecord {
    let mut schema = loan_schema();
    schema.version = 2;
    schema.auditors = vec![OrgId::new("reg-eu").unwrap()];
    let amount = FieldName::new("amount").unwrap();
    let mut put = seal_record(
        &c.chain,
        &RecordId::new(record).unwrap(),
        1,
        &schema,
        &[FieldToSeal {
            name: amount.clone(),
            plaintext: Zeroizing::new(opening.to_bytes().to_vec()),
            readers: vec![c.orgs["bank-a"].reader(), c.orgs["reg-eu"].reader()],
        }],
    )
    .unwrap();
    let ctx = ledger_proofs::Context {
        chain_id: c.chain.to_string(),
        items: vec![(record.to_string(), 1, "amount".into())],
    };
    let proof = ledger_proofs::prove_range(&ctx, std::slice::from_ref(opening)).unwrap();
    put.commitments = vec![FieldCommitment {
        field: amount.clone(),
        commitment: opening.commit().to_bytes(),
    }];
    put.range_proof = Some(RecordRangeProof {
        padding: proof.padding.iter().map(|p| p.to_bytes()).collect(),
        proof: proof.proof,
    });
    for (auditor, o) in handles {
        let key = c.orgs[auditor].audit.public();
        let (h, p) = ledger_proofs::audit_handle(&ctx, o, &key).unwrap();
        put.audit_handles.push(AuditHandle {
            field: amount.clone(),
            auditor: OrgId::new(*auditor).unwrap(),
            handle: h.to_bytes(),
            proof: p.to_bytes(),
        });
    }
    put
}

#[test]
fn auditors_get_a_proved_handle_per_committed_amount_and_decrypt_only_sums() {
    use ledger_proofs::Opening;
    let mut c = Chain::new();
    let mut v2 = loan_schema();
    v2.version = 2;
    v2.auditors = vec![OrgId::new("reg-eu").unwrap()];
    let block = c.seal(c.build(vec![
        c.sign("bank-c", 2, Payload::RegisterSchema(loan_schema())),
        c.sign("bank-c", 3, Payload::RegisterSchema(v2)),
    ]));
    assert_eq!(
        c.commit(&block).outcomes,
        vec![TxOutcome::Applied, TxOutcome::Applied]
    );
    let (o1, o2) = (Opening::new(70_000), Opening::new(5_500));
    // A handle made with another blinding (it would decrypt to another value) is refused
    // before it reaches a block, naming the proof and the record.
    let lie = c.sign(
        "bank-a",
        1,
        Payload::PutRecord(audited_put(
            &c,
            "loan-9",
            &o1,
            &[("reg-eu", &Opening::new(70_000))],
        )),
    );
    match precheck_tx(&c.state, &c.chain, 3, &lie, &()) {
        Err(TxRejection::InvalidProof {
            kind: "audit handle",
            record,
            ..
        }) => assert_eq!(record.as_str(), "loan-9"),
        other => panic!("a lying audit handle was not refused: {other:?}"),
    }
    // A handle for an organisation without an audit key is refused too.
    let stranger = c.sign(
        "bank-a",
        1,
        Payload::PutRecord(audited_put(
            &c,
            "loan-8",
            &o1,
            &[("bank-b", &o1), ("reg-eu", &o1)],
        )),
    );
    assert!(matches!(
        precheck_tx(&c.state, &c.chain, 3, &stranger, &()),
        Err(TxRejection::InvalidProof {
            kind: "audit handle",
            ..
        })
    ));
    // Honest puts apply; one without its handle fails naming the auditor.
    let good1 = c.sign(
        "bank-a",
        1,
        Payload::PutRecord(audited_put(&c, "loan-1", &o1, &[("reg-eu", &o1)])),
    );
    let good2 = c.sign(
        "bank-a",
        2,
        Payload::PutRecord(audited_put(&c, "loan-2", &o2, &[("reg-eu", &o2)])),
    );
    let bare = c.sign(
        "bank-a",
        3,
        Payload::PutRecord(audited_put(&c, "loan-3", &o2, &[])),
    );
    let block = c.seal(c.build(vec![good1, good2, bare]));
    let ex = c.commit(&block);
    assert_eq!(ex.outcomes[..2], [TxOutcome::Applied, TxOutcome::Applied]);
    assert_eq!(
        failure(&ex, 2),
        TxFailure::MissingAuditHandle {
            record: RecordId::new("loan-3").unwrap(),
            field: FieldName::new("amount").unwrap(),
            auditor: OrgId::new("reg-eu").unwrap(),
        }
    );
    // The regulator adds the stored ciphertexts and decrypts only the sum.
    let amount = FieldName::new("amount").unwrap();
    let reg = OrgId::new("reg-eu").unwrap();
    let (mut cs, mut hs) = (vec![], vec![]);
    for r in ["loan-1", "loan-2"] {
        let v = record_version(&c.state, &RecordId::new(r).unwrap(), 1)
            .unwrap()
            .unwrap();
        let h = v.audit_handle(&amount, &reg).unwrap();
        cs.push(
            ledger_proofs::Commitment::from_bytes(&v.commitment(&amount).unwrap().commitment)
                .unwrap(),
        );
        hs.push(ledger_proofs::Handle::from_bytes(&h.handle));
    }
    assert_eq!(
        c.orgs["reg-eu"].audit.decrypt_sum(&cs, &hs, 32).unwrap(),
        75_500
    );
    // Another organisation's secret finds nothing.
    assert!(c.orgs["bank-b"].audit.decrypt_sum(&cs, &hs, 24).is_err());
}

#[test]
fn only_regulators_register_an_audit_key_and_it_must_be_a_point() {
    let chain = ChainId::new("test").unwrap();
    let o = Org::new("bank-x");
    let key = o.audit.public().to_bytes().to_vec();
    for (roles, audit_key, why) in [
        (vec![Role::Member], key.clone(), "not a regulator"),
        (vec![Role::Regulator], vec![0u8; 32], "unusable audit key"),
    ] {
        let tx = genesis::registration_with_keys(
            &o.key,
            &chain,
            &o.id,
            &roles,
            o.enc_pk.clone(),
            audit_key,
            vec![],
        )
        .unwrap();
        let err = genesis::genesis_block(&chain, 1, vec![tx])
            .unwrap_err()
            .to_string();
        assert!(err.contains(why), "{err}");
    }
}

#[test]
fn ring_keys_must_be_points_and_each_members_own() {
    let chain = ChainId::new("test").unwrap();
    let (a, b) = (Org::new("bank-x"), Org::new("bank-y"));
    let ring = ledger_crypto::ring::RingSecret::generate()
        .public()
        .to_vec();
    let reg = |o: &Org, ring_key: Vec<u8>| {
        genesis::registration_with_keys(
            &o.key,
            &chain,
            &o.id,
            &[Role::Validator, Role::Member],
            o.enc_pk.clone(),
            vec![],
            ring_key,
        )
        .unwrap()
    };
    assert!(genesis::genesis_block(&chain, 1, vec![reg(&a, ring.clone())]).is_ok());
    let err = genesis::genesis_block(&chain, 1, vec![reg(&a, vec![0u8; 32])])
        .unwrap_err()
        .to_string();
    assert!(err.contains("unusable ring key"), "{err}");
    let err = genesis::genesis_block(&chain, 1, vec![reg(&a, ring.clone()), reg(&b, ring)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("ring key of another member"), "{err}");
    let regulator = genesis::registration_with_keys(
        &b.key,
        &chain,
        &b.id,
        &[Role::Validator, Role::Regulator],
        b.enc_pk.clone(),
        vec![],
        ledger_crypto::ring::RingSecret::generate()
            .public()
            .to_vec(),
    )
    .unwrap();
    let err = genesis::genesis_block(&chain, 1, vec![regulator])
        .unwrap_err()
        .to_string();
    assert!(err.contains("which is not a member"), "{err}");
}

impl Chain {
    /// The member ring fixed in genesis: members' ring keys in organisation-id order.
    fn ring(&self) -> Vec<[u8; 32]> {
        ledger_state::member_ring(&self.state, self.tip.height)
            .unwrap()
            .unwrap()
            .keys
    }

    /// `org` endorses `statement` on `topic`, anonymously, with the ring of `ring_height`.
    fn endorse(&self, org: &str, topic: &str, statement: u8, ring_height: u64) -> Transaction {
        self.endorse_with(&self.orgs[org].ring, topic, statement, ring_height)
    }

    /// The holder of `secret` endorses `statement` on `topic` with the ring of `ring_height`.
    fn endorse_with(
        &self,
        secret: &ledger_crypto::ring::RingSecret,
        topic: &str,
        statement: u8,
        ring_height: u64,
    ) -> Transaction {
        let ring = ledger_state::member_ring(&self.state, ring_height)
            .unwrap()
            .unwrap();
        ledger_state::sign_endorsement(
            &self.chain,
            &ring.keys,
            ring_height,
            &Topic::new(topic).unwrap(),
            [statement; 32],
            secret,
        )
        .unwrap()
    }
}

#[test]
fn the_member_ring_is_the_members_ring_keys_in_org_order() {
    let c = Chain::new();
    let expected: Vec<[u8; 32]> = ["bank-a", "bank-b", "bank-c"]
        .iter()
        .map(|o| c.orgs[o].ring.public())
        .collect();
    assert_eq!(c.ring(), expected, "the regulator is not in the ring");
    let ring = ledger_state::member_ring(&c.state, 0).unwrap().unwrap();
    assert_eq!((ring.since, ring.keys), (0, expected));
}

#[test]
fn one_endorsement_per_member_per_topic_without_naming_the_member() {
    let mut c = Chain::new();
    let topic = Topic::new("alert.INV-9").unwrap();
    let a1 = c.endorse("bank-a", "alert.INV-9", 1, 1);
    let b1 = c.endorse("bank-b", "alert.INV-9", 1, 1);
    let a_other = c.endorse("bank-a", "ballot.new-member", 2, 0);
    let built = c.build(vec![a1.clone(), b1.clone(), a_other.clone()]);
    assert!(built.dropped.is_empty(), "{:?}", built.dropped);
    let block = c.seal(built);
    let ex = c.commit(&block);
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied; 3]);
    // Two members on one topic: two endorsements, two key images, no member named.
    let (total, list) = ledger_state::endorsements(&c.state, &topic, 0, 10).unwrap();
    assert_eq!(total, 2);
    assert_eq!(list[0].tx_hash, a1.hash());
    assert_eq!(list[1].tx_hash, b1.hash());
    assert_ne!(list[0].key_image, list[1].key_image);
    assert_eq!(list[0].statement, [1; 32]);
    assert!(a1.body().signer.as_str() == ANONYMOUS_SIGNER && a1.signature().0.is_empty());
    // One member on two topics: both apply, with different key images.
    let other = Topic::new("ballot.new-member").unwrap();
    let (_, on_other) = ledger_state::endorsements(&c.state, &other, 0, 10).unwrap();
    assert_eq!(on_other.len(), 1);
    assert_ne!(on_other[0].key_image, list[0].key_image);
    assert_eq!(on_other[0].ring_height, 0);

    // The same member on the same topic again (another statement, another signature):
    // refused at admission and dropped by a proposer, naming the first endorsement.
    let again = c.endorse("bank-a", "alert.INV-9", 9, 2);
    assert_ne!(again.hash(), a1.hash());
    let err = precheck_tx(&c.state, &c.chain, c.tip.height + 1, &again, &()).unwrap_err();
    match &err {
        TxRejection::AlreadyEndorsed {
            earlier_tx,
            earlier_height,
            ..
        } => assert_eq!((*earlier_tx, *earlier_height), (a1.hash(), 2)),
        other => panic!("{other}"),
    }
    assert!(err
        .to_string()
        .contains("one endorsement per member per topic"));
    let built = c.build(vec![again.clone()]);
    assert_eq!(built.dropped.len(), 1);
    assert!(built.txs.is_empty());
    // A block that holds it anyway is invalid on every validator.
    let forced = c.seal(forge(&c, vec![again.clone()]));
    let err = execute_block(&c.state, &c.acc, &c.tip, &forced, &()).unwrap_err();
    assert!(err.to_string().contains("already endorsed"), "{err}");

    // Two endorsements by one member in one block: the second is dropped.
    let x1 = c.endorse("bank-c", "alert.INV-10", 1, 2);
    let x2 = c.endorse("bank-c", "alert.INV-10", 2, 2);
    let built = c.build(vec![x1.clone(), x2]);
    assert_eq!(built.txs, vec![x1]);
    assert_eq!(built.dropped.len(), 1);
}

#[test]
fn block_validation_checks_endorsements_as_one_batch_and_finds_a_forgery() {
    let c = Chain::new();
    let next = c.tip.height + 1;
    let mut txs: Vec<Transaction> = (0..12)
        .map(|i| {
            let org = ["bank-a", "bank-b", "bank-c"][i % 3];
            c.endorse(org, &format!("alert.n{i}"), i as u8, 1)
        })
        .collect();
    let refs: Vec<&Transaction> = txs.iter().collect();
    let ok = ledger_state::preverify(&c.state, &c.chain, next, &refs);
    assert_eq!(ok.len(), 12);
    // A response changed: the challenges still add up, only the equations catch it.
    let Payload::Endorse(mut e) = txs[5].body().payload.clone() else {
        unreachable!()
    };
    e.signature[32 + 96 + 31] ^= 0x01;
    txs[5] = Transaction::anonymous(c.chain.clone(), e);
    let refs: Vec<&Transaction> = txs.iter().collect();
    let ok = ledger_state::preverify(&c.state, &c.chain, next, &refs);
    assert_eq!(ok.len(), 11);
    assert!(!ok.contains(&txs[5].hash()));
    let err = precheck_tx(&c.state, &c.chain, next, &txs[5], &()).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
}

/// A block with `txs` whatever they are, its header computed as a proposer would.
fn forge(c: &Chain, txs: Vec<Transaction>) -> BuiltBlock {
    let hashes: Vec<Hash> = txs.iter().map(Transaction::hash).collect();
    let header = BlockHeader {
        chain_id: c.chain.clone(),
        height: c.tip.height + 1,
        prev_hash: c.tip.hash(),
        timestamp_ms: c.tip.timestamp_ms,
        proposer: c.org.clone(),
        tx_count: txs.len() as u32,
        tx_root: tx_root(HashSuite::current(), &hashes),
        state_root: c.tip.state_root,
    };
    BuiltBlock {
        header,
        txs,
        execution: c.build(vec![]).execution,
        dropped: vec![],
    }
}

#[test]
fn forged_or_misdirected_endorsements_are_refused_naming_why() {
    let c = Chain::new();
    let next = c.tip.height + 1;
    let refused = |tx: &Transaction| {
        precheck_tx(&c.state, &c.chain, next, tx, &())
            .unwrap_err()
            .to_string()
    };
    let honest = c.endorse("bank-b", "alert.INV-9", 1, 1);
    assert_eq!(
        precheck_tx(&c.state, &c.chain, next, &honest, &()),
        Ok(None)
    );
    let with = |f: &dyn Fn(&mut Endorse)| {
        let Payload::Endorse(mut e) = honest.body().payload.clone() else {
            unreachable!()
        };
        f(&mut e);
        Transaction::anonymous(c.chain.clone(), e)
    };
    // Another statement, topic or ring height under the same signature.
    for (what, tx) in [
        ("statement", with(&|e| e.statement[0] ^= 1)),
        (
            "topic",
            with(&|e| e.topic = Topic::new("alert.INV-10").unwrap()),
        ),
        ("ring height", with(&|e| e.ring_height = 0)),
        ("scalar", with(&|e| e.signature[32 + 96] ^= 1)),
        ("key image", with(&|e| e.signature[0] ^= 1)),
    ] {
        let err = refused(&tx);
        assert!(
            err.contains("does not verify") || err.contains("malformed"),
            "{what}: {err}"
        );
    }
    // A ring that is not yet committed, and a truncated signature.
    let future = with(&|e| e.ring_height = next);
    assert!(refused(&future).contains("only a committed ring signs"));
    let short = with(&|e| e.signature.truncate(32 + 128));
    assert!(
        refused(&short).contains("branches for a ring of 3"),
        "{}",
        refused(&short)
    );
    // The regulator holds no ring key; a key outside the ring cannot sign for it.
    let outsider = ledger_crypto::ring::RingSecret::generate();
    let mut ring = c.ring();
    ring[1] = outsider.public();
    let sig = ledger_crypto::ring::ring_sign(
        c.chain.as_str(),
        b"alert.INV-9",
        &Endorse::message_for(&[1; 32], 1),
        &ring,
        1,
        &outsider,
    )
    .unwrap()
    .to_bytes();
    let forged = with(&|e| e.signature = sig.clone());
    assert!(refused(&forged).contains("does not verify"));
    // On another chain.
    let mut other = c.endorse("bank-b", "alert.INV-9", 1, 1);
    if let Payload::Endorse(e) = other.body().payload.clone() {
        other = Transaction::anonymous(ChainId::new("other").unwrap(), e);
    }
    assert!(refused(&other).contains("chain"));
}

fn invoice_doc_schema() -> RegisterSchema {
    RegisterSchema {
        schema: SchemaId::new("inv").unwrap(),
        version: 1,
        fields: vec![SchemaField {
            name: FieldName::new(DOCUMENT_FIELD).unwrap(),
            ty: FieldType::Bytes,
            required: true,
            committed: false,
            fhe: false,
        }],
        auditors: vec![],
        document: Some(DocumentKind::Invoice),
    }
}

fn doc_schema(id: &str, kind: DocumentKind) -> RegisterSchema {
    let mut s = invoice_doc_schema();
    s.schema = SchemaId::new(id).unwrap();
    s.document = Some(kind);
    s
}

/// The trade of the financing tests: bank-a sells to bank-c, which orders (PO-1) and
/// confirms the delivery itself (DN-1); bank-a invoices (INV-1) and grants the invoice to
/// bank-b, the financing bank.
struct Trade {
    order: ledger_circuits::Document,
    note: ledger_circuits::Document,
    invoice: ledger_circuits::Document,
}

fn trade() -> Trade {
    use ledger_circuits::{Document, Line};
    let lines = vec![
        Line {
            unit_price: 10,
            quantity: 3,
            total: 30,
        },
        Line {
            unit_price: 7,
            quantity: 5,
            total: 35,
        },
    ];
    let delivered: Vec<Line> = lines
        .iter()
        .map(|l| Line {
            unit_price: 0,
            quantity: l.quantity,
            total: 0,
        })
        .collect();
    Trade {
        order: Document::new(
            DocumentKind::PurchaseOrder,
            "bank-a",
            "bank-c",
            "",
            "PO-1",
            "",
            20_000,
            lines.clone(),
            65,
        )
        .unwrap(),
        note: Document::new(
            DocumentKind::DeliveryNote,
            "bank-a",
            "bank-c",
            "",
            "DN-1",
            "PO-1",
            20_010,
            delivered,
            0,
        )
        .unwrap(),
        invoice: Document::new(
            DocumentKind::Invoice,
            "bank-a",
            "bank-c",
            "",
            "INV-2026-009",
            "PO-1",
            20_020,
            lines,
            65,
        )
        .unwrap(),
    }
}

fn document_operand(record: &str) -> Operand {
    Operand {
        record: RecordId::new(record).unwrap(),
        version: 1,
        field: FieldName::new(DOCUMENT_FIELD).unwrap(),
    }
}

fn at(record: &str, version: u32) -> RecordAt {
    RecordAt {
        record: RecordId::new(record).unwrap(),
        version,
    }
}

#[test]
fn financing_is_the_sellers_assignment_of_delivered_goods_spent_once_however_the_invoice_reads() {
    use ledger_circuits::{
        dev_keys, finance_binding, fr_to_bytes, prove_finance, prove_linked_invoice, CircuitError,
        CircuitId, FinanceTerms,
    };
    let (lpk, lvk) = dev_keys(CircuitId::InvoiceLinked).unwrap();
    let (fpk, fvk) = dev_keys(CircuitId::Finance).unwrap();
    let mut c = Chain::new_with_circuits(&[
        ("invoice-linked".into(), lvk.to_bytes().to_vec()),
        ("finance".into(), fvk.to_bytes().to_vec()),
    ]);
    let t = trade();
    // Variants of the seller's free text: the number's case and spacing, another date,
    // another number altogether; each in its own record, granted to another bank.
    let variant = |number: &str, date: u32| {
        let mut v = t.invoice.clone();
        v.number = number.into();
        v.issue_date = date;
        v.blinding = trade().invoice.blinding;
        v
    };
    let variants = [
        ("INV-1V", variant("inv 2026 009 ", 20_020)),
        ("INV-1D", variant("INV-2026-009", 20_021)),
        ("INV-1N", variant("INV-2026-777", 20_030)),
    ];
    let (po_s, dn_s, inv_s) = (
        doc_schema("po-doc", DocumentKind::PurchaseOrder),
        doc_schema("dn-doc", DocumentKind::DeliveryNote),
        invoice_doc_schema(),
    );
    let mut txs = vec![
        c.sign("bank-b", 1, Payload::RegisterSchema(po_s.clone())),
        c.sign("bank-b", 2, Payload::RegisterSchema(dn_s.clone())),
        c.sign("bank-b", 3, Payload::RegisterSchema(inv_s.clone())),
        c.sign(
            "bank-c",
            2,
            Payload::PutRecord(doc_put(&c, "PO-1", &po_s, &t.order, &["bank-c", "bank-a"])),
        ),
        c.sign(
            "bank-c",
            3,
            Payload::PutRecord(doc_put(&c, "DN-1", &dn_s, &t.note, &["bank-c", "bank-a"])),
        ),
        c.sign(
            "bank-a",
            1,
            Payload::PutRecord(doc_put(
                &c,
                "INV-1",
                &inv_s,
                &t.invoice,
                &["bank-a", "bank-b"],
            )),
        ),
        // The buyer copies the invoice's fields into a record of its own.
        c.sign(
            "bank-c",
            4,
            Payload::PutRecord(doc_put(
                &c,
                "INV-C",
                &inv_s,
                &t.invoice,
                &["bank-c", "bank-b"],
            )),
        ),
        // The seller writes a purchase order itself.
        c.sign(
            "bank-a",
            2,
            Payload::PutRecord(doc_put(&c, "PO-S", &po_s, &t.order, &["bank-a"])),
        ),
    ];
    for (i, (record, doc)) in variants.iter().enumerate() {
        txs.push(c.sign(
            "bank-a",
            3 + i as u64,
            Payload::PutRecord(doc_put(&c, record, &inv_s, doc, &["bank-a", "bank-b"])),
        ));
    }
    // A document record must carry its commitment.
    let mut bare = doc_put(&c, "INV-BARE", &inv_s, &t.invoice, &["bank-a"]);
    bare.document_commitment = None;
    txs.push(c.sign("bank-a", 6, Payload::PutRecord(bare)));
    let n = txs.len();
    let ex = commit_txs(txs, &mut c);
    assert_eq!(ex.outcomes[..n - 1], vec![TxOutcome::Applied; n - 1]);
    assert!(
        failure(&ex, n - 1)
            .to_string()
            .contains("carries a document commitment"),
        "{}",
        failure(&ex, n - 1)
    );

    // The seller proves each invoice against the buyer's order and the delivery note.
    let owners = ["bank-a", "bank-c", "bank-c"];
    let linked = |invoice: &str, doc: &ledger_circuits::Document| CrossCheck {
        relation: Relation::InvoiceLinked,
        operands: vec![
            document_operand(invoice),
            document_operand("PO-1"),
            document_operand("DN-1"),
        ],
        proof: prove_linked_invoice(&lpk, doc, &t.order, &t.note, owners)
            .unwrap()
            .0,
    };
    let mut checks = vec![c.sign(
        "bank-a",
        7,
        Payload::CrossCheck(linked("INV-1", &t.invoice)),
    )];
    for (i, (record, doc)) in variants.iter().enumerate() {
        checks.push(c.sign(
            "bank-a",
            8 + i as u64,
            Payload::CrossCheck(linked(record, doc)),
        ));
    }
    assert_eq!(
        commit_txs(checks, &mut c).outcomes,
        vec![TxOutcome::Applied; 4]
    );
    // No proof exists for the buyer's copy (its record is not the seller's) nor for an
    // order the seller wrote; a valid proof moved onto them is refused by the ledger.
    for (what, owners) in [
        ("copy", ["bank-c", "bank-c", "bank-c"]),
        ("seller's order", ["bank-a", "bank-a", "bank-c"]),
    ] {
        assert!(
            matches!(
                prove_linked_invoice(&lpk, &t.invoice, &t.order, &t.note, owners),
                Err(CircuitError::Unsatisfied { .. })
            ),
            "{what}"
        );
    }
    let next = c.tip.height + 1;
    for (signer, nonce, operands) in [
        ("bank-c", 5, ["INV-C", "PO-1", "DN-1"]),
        ("bank-a", 11, ["INV-1", "PO-S", "DN-1"]),
    ] {
        let mut moved = linked("INV-1", &t.invoice);
        moved.operands = operands.iter().map(|r| document_operand(r)).collect();
        let tx = c.sign(signer, nonce, Payload::CrossCheck(moved));
        match precheck_tx(&c.state, &c.chain, next, &tx, &()) {
            Err(TxRejection::InvalidProof {
                kind: "invoice-linked",
                record,
                ..
            }) => assert_eq!(record.as_str(), operands[0]),
            other => panic!("{operands:?}: {other:?}"),
        }
    }

    let request = |seller: &str, bank: &str, invoice: &str| {
        let binding = finance_binding(&FinanceTerms {
            chain_id: "test",
            seller,
            bank,
            invoice: (invoice, 1),
            delivery: ("DN-1", 1),
        });
        let (proof, public) = prove_finance(&fpk, &t.note, binding).unwrap();
        Payload::FinanceRequest(FinanceRequest {
            invoice: at(invoice, 1),
            order: at("PO-1", 1),
            delivery: at("DN-1", 1),
            bank: OrgId::new(bank).unwrap(),
            nullifier: fr_to_bytes(&public[1]),
            proof,
            amount: vec![],
        })
    };
    // Only the seller assigns: not the financing bank that reads the invoice, not the
    // buyer through its copy (no linked check can exist for it: it is not the seller's
    // record), not a regulator.
    let by_reader = c.sign("bank-b", 4, request("bank-b", "bank-b", "INV-1"));
    let by_buyer = c.sign("bank-c", 5, request("bank-c", "bank-b", "INV-C"));
    let ex = commit_txs(vec![by_reader, by_buyer], &mut c);
    assert!(
        matches!(failure(&ex, 0), TxFailure::NotTheSeller { .. }),
        "{}",
        failure(&ex, 0)
    );
    assert!(
        matches!(failure(&ex, 1), TxFailure::NoLinkedCheck { .. }),
        "{}",
        failure(&ex, 1)
    );
    let next = c.tip.height + 1;
    let refused_at = |tx: &Transaction| precheck_tx(&c.state, &c.chain, next, tx, &());
    let by_regulator = c.sign("reg-eu", 1, request("reg-eu", "bank-b", "INV-1"));
    assert!(
        matches!(
            refused_at(&by_regulator),
            Ok(Some(TxFailure::MissingRole { .. }))
        ),
        "{:?}",
        refused_at(&by_regulator)
    );
    // The seller's proof, filed by someone else, or for another bank: the binding differs.
    let mut stolen = request("bank-a", "bank-b", "INV-1");
    if let Payload::FinanceRequest(f) = &mut stolen {
        f.bank = OrgId::new("bank-c").unwrap();
    }
    let stolen = c.sign("bank-a", 11, stolen);
    assert!(
        matches!(
            refused_at(&stolen),
            Err(TxRejection::InvalidProof {
                kind: "finance",
                ..
            })
        ),
        "{:?}",
        refused_at(&stolen)
    );
    // A bank that cannot read the invoice, or a member that is not a bank, is not assigned.
    for bank in ["bank-c", "reg-eu"] {
        let tx = c.sign("bank-a", 11, request("bank-a", bank, "INV-1"));
        match refused_at(&tx) {
            Ok(Some(f)) => assert!(f.to_string().contains("cannot be assigned"), "{bank}: {f}"),
            other => panic!("{bank} was assigned a receivable it cannot take: {other:?}"),
        }
    }
    // An invoice without a linked check is not financed.
    let mut unchecked = request("bank-a", "bank-b", "INV-1");
    if let Payload::FinanceRequest(f) = &mut unchecked {
        f.order = at("PO-S", 1);
    }
    let unchecked = c.sign("bank-a", 11, unchecked);
    let e = refused_at(&unchecked).unwrap().unwrap().to_string();
    assert!(e.contains("no committed invoice-linked check"), "{e}");

    // The seller assigns the same goods twice in one block through two invoices, and
    // again later through the others: the first applies, every other fails naming it.
    let first = c.sign("bank-a", 11, request("bank-a", "bank-b", "INV-1"));
    let first_hash = first.hash();
    let second = c.sign("bank-a", 12, request("bank-a", "bank-b", "INV-1V"));
    let ex = commit_txs(vec![first, second], &mut c);
    assert_eq!(ex.outcomes[0], TxOutcome::Applied);
    let named_first = |f: TxFailure| match f {
        TxFailure::AlreadyFinanced { first, .. } => {
            assert_eq!(first.tx, first_hash);
            assert_eq!(
                (first.by.as_str(), first.bank.as_str()),
                ("bank-a", "bank-b")
            );
            assert_eq!(first.invoice, at("INV-1", 1));
        }
        other => panic!("not refused as already financed: {other}"),
    };
    named_first(failure(&ex, 1));
    for (i, (record, _)) in variants.iter().enumerate().skip(1) {
        let tx = c.sign("bank-a", 12 + i as u64, request("bank-a", "bank-b", record));
        let ex = commit_txs(vec![tx], &mut c);
        named_first(failure(&ex, 0));
    }
}

#[test]
fn financing_proofs_made_with_ceremony_keys_pinned_in_genesis_verify_and_development_ones_do_not() {
    use ledger_circuits::ceremony::{domain_size, Powers};
    use ledger_circuits::{
        dev_keys, finance_binding, fr_to_bytes, prove_finance, CircuitId, FinanceTerms,
    };
    // A ceremony for the financing circuit: two banks in each phase.
    let id = CircuitId::Finance;
    let mut rng = rand::rngs::OsRng;
    let mut powers = Powers::initial(domain_size(id).unwrap());
    for who in ["bank-a", "bank-b"] {
        powers = powers.contribute(who, &mut rng).0;
    }
    let mut keys = powers.circuit_keys(id).unwrap();
    for who in ["bank-a", "bank-b"] {
        keys = keys.contribute(who, &mut rng).0;
    }
    let (pk, vk) = keys.keys().unwrap();
    let mut c = Chain::new_with_circuits(&[("finance".into(), vk.to_bytes().to_vec())]);
    let t = trade();
    let (dn_s, inv_s) = (
        doc_schema("dn-doc", DocumentKind::DeliveryNote),
        invoice_doc_schema(),
    );
    let txs = vec![
        c.sign("bank-b", 1, Payload::RegisterSchema(dn_s.clone())),
        c.sign("bank-b", 2, Payload::RegisterSchema(inv_s.clone())),
        c.sign(
            "bank-c",
            2,
            Payload::PutRecord(doc_put(&c, "DN-1", &dn_s, &t.note, &["bank-c", "bank-a"])),
        ),
        c.sign(
            "bank-a",
            1,
            Payload::PutRecord(doc_put(
                &c,
                "INV-1",
                &inv_s,
                &t.invoice,
                &["bank-a", "bank-b"],
            )),
        ),
    ];
    assert_eq!(
        commit_txs(txs, &mut c).outcomes,
        vec![TxOutcome::Applied; 4]
    );
    let binding = finance_binding(&FinanceTerms {
        chain_id: "test",
        seller: "bank-a",
        bank: "bank-b",
        invoice: ("INV-1", 1),
        delivery: ("DN-1", 1),
    });
    let request = |pk: &ledger_circuits::ProvingKey| {
        let (proof, public) = prove_finance(pk, &t.note, binding).unwrap();
        c.sign(
            "bank-a",
            2,
            Payload::FinanceRequest(FinanceRequest {
                invoice: at("INV-1", 1),
                order: at("PO-1", 1),
                delivery: at("DN-1", 1),
                bank: OrgId::new("bank-b").unwrap(),
                nullifier: fr_to_bytes(&public[1]),
                proof,
                amount: vec![],
            }),
        )
    };
    let next = c.tip.height + 1;
    // The ceremony's proof verifies (execution then names what else is missing: here the
    // order and the linked check); the development key's proof of the same statement does
    // not.
    match precheck_tx(&c.state, &c.chain, next, &request(&pk), &()) {
        Ok(Some(f)) => assert!(f.to_string().contains("PO-1"), "{f}"),
        other => panic!("the ceremony's proof was not verified: {other:?}"),
    }
    let (dev_pk, _) = dev_keys(id).unwrap();
    assert!(matches!(
        precheck_tx(&c.state, &c.chain, next, &request(&dev_pk), &()),
        Err(TxRejection::InvalidProof {
            kind: "finance",
            ..
        })
    ));
}

#[test]
fn ten_thousand_cross_checks_on_one_record_cost_the_same_bytes_each_and_page() {
    // Histories are keyed entries: what a check writes does not grow with the checks
    // before it, and the record and its history still read.
    use ledger_proofs::Opening;
    let mut c = Chain::new();
    let block = c.seal(c.build(vec![c.sign(
        "bank-c",
        2,
        Payload::RegisterSchema(loan_schema()),
    )]));
    c.commit(&block);
    let (o1, o2) = (Opening::new(70_000), Opening::new(70_000));
    let puts = vec![
        c.sign(
            "bank-a",
            1,
            Payload::PutRecord(committed_put_with(&c, "loan-1", &o1)),
        ),
        c.sign(
            "bank-a",
            2,
            Payload::PutRecord(committed_put_with(&c, "loan-2", &o2)),
        ),
    ];
    let block = c.seal(c.build(puts));
    c.commit(&block);
    let op = |r: &str| Operand {
        record: RecordId::new(r).unwrap(),
        version: 1,
        field: FieldName::new("amount").unwrap(),
    };
    let ctx = ledger_proofs::Context {
        chain_id: c.chain.to_string(),
        items: ["loan-1", "loan-2"]
            .iter()
            .map(|r| (r.to_string(), 1, "amount".into()))
            .collect(),
    }
    .filed_by("bank-a");
    let check = CrossCheck {
        relation: Relation::Linear(vec![1, -1]),
        operands: vec![op("loan-1"), op("loan-2")],
        proof: ledger_proofs::prove_linear(&ctx, &[1, -1], &[o1, o2])
            .unwrap()
            .to_bytes()
            .to_vec(),
    };
    let mut nonce = 3;
    let mut bytes_per_block = Vec::new();
    for _ in 0..100 {
        let txs = (0..100)
            .map(|_| {
                nonce += 1;
                c.sign("bank-a", nonce - 1, Payload::CrossCheck(check.clone()))
            })
            .collect();
        let block = c.seal(c.build(txs));
        let ex = c.commit(&block);
        assert!(ex.outcomes.iter().all(|o| *o == TxOutcome::Applied));
        let written: usize = ex
            .diff
            .iter()
            .map(|(k, ch)| k.len() + ch.new.as_ref().map_or(0, Vec::len))
            .sum();
        bytes_per_block.push(written);
    }
    assert_eq!(
        bytes_per_block.first(),
        bytes_per_block.last(),
        "the 100th block of checks writes what the first did: {bytes_per_block:?}"
    );
    let loan = RecordId::new("loan-1").unwrap();
    assert!(record_version(&c.state, &loan, 1).unwrap().is_some());
    let page = ledger_state::cross_checks_page(&c.state, &loan, 9_990, 100).unwrap();
    assert_eq!(page.total, 10_000);
    assert_eq!(page.entries.len(), 10);
    assert_eq!(page.entries[9].check, check);
    let first = ledger_state::cross_checks_page(&c.state, &loan, 0, 5_000).unwrap();
    assert_eq!(
        first.entries.len(),
        ledger_state::MAX_PAGE,
        "pages are bounded"
    );
    assert!(first.entries.iter().all(|f| f.by.as_str() == "bank-a"));
}

/// Commits a block of `txs` and returns its execution.
fn commit_txs(txs: Vec<Transaction>, c: &mut Chain) -> Execution {
    let block = c.seal(c.build(txs));
    c.commit(&block)
}

fn govern(c: &Chain, org: &str, nonce: u64, g: Govern) -> Transaction {
    c.sign(org, nonce, Payload::Govern(g))
}

fn three_governors() -> GovernanceParams {
    GovernanceParams {
        governors: ["bank-a", "bank-b", "bank-c"]
            .iter()
            .map(|o| (OrgId::new(*o).unwrap(), 1))
            .collect(),
        quorum_pct: 60,
        approval_pct: 60,
        max_open_blocks: 10,
    }
}

#[test]
fn governance_proposals_pass_by_weight_before_their_deadline_and_suspend_members() {
    let mut c = Chain::new();
    let bank_b = OrgId::new("bank-b").unwrap();
    // The validators govern by default: bank-a alone, so its proposal passes at once.
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-a",
            1,
            Govern::Propose {
                action: Action::SetGovernance(three_governors()),
                deadline: next + 5,
            },
        )],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    assert_eq!(governance_params(&c.state).unwrap(), three_governors());
    assert_eq!(
        proposal(&c.state, 1).unwrap().unwrap().status,
        ProposalStatus::Passed
    );

    // bank-c proposes to suspend bank-b: 1 of 3 is not enough; a second proposal on the
    // same subject, a repeated vote and a vote by a non-governor count for nothing.
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![
            govern(
                &c,
                "bank-c",
                2,
                Govern::Propose {
                    action: Action::Suspend {
                        org: bank_b.clone(),
                    },
                    deadline: next + 3,
                },
            ),
            govern(
                &c,
                "bank-a",
                2,
                Govern::Propose {
                    action: Action::Suspend {
                        org: bank_b.clone(),
                    },
                    deadline: next + 3,
                },
            ),
            govern(
                &c,
                "bank-c",
                3,
                Govern::Vote {
                    proposal: 2,
                    yes: true,
                },
            ),
            govern(
                &c,
                "reg-eu",
                1,
                Govern::Vote {
                    proposal: 2,
                    yes: true,
                },
            ),
        ],
        &mut c,
    );
    assert_eq!(ex.outcomes[0], TxOutcome::Applied);
    assert!(matches!(
        failure(&ex, 1),
        TxFailure::ProposalAlreadyOpen { open: 2, .. }
    ));
    assert!(matches!(
        failure(&ex, 2),
        TxFailure::AlreadyVoted { proposal: 2, .. }
    ));
    assert!(matches!(failure(&ex, 3), TxFailure::NotAGovernor { .. }));
    let p = proposal(&c.state, 2).unwrap().unwrap();
    assert_eq!((p.yes, p.no, p.status), (1, 0, ProposalStatus::Open));
    // bank-a's yes passes it; bank-b is suspended in that block, and every validator
    // refuses its transactions from then on.
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-a",
            3,
            Govern::Vote {
                proposal: 2,
                yes: true,
            },
        )],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    assert_eq!(
        proposal(&c.state, 2).unwrap().unwrap().status,
        ProposalStatus::Passed
    );
    assert_eq!(
        suspension(&c.state, &bank_b).unwrap(),
        Some((2, c.tip.height))
    );
    let put = c.sign(
        "bank-b",
        1,
        Payload::PutRecord(committed_put(&c, "loan-b", 5)),
    );
    let refused = precheck_tx(&c.state, &c.chain, c.tip.height + 1, &put, &()).unwrap_err();
    assert!(
        matches!(refused, TxRejection::Suspended { proposal: 2, .. }),
        "{refused}"
    );
    // A suspended governor's vote is refused too; suspending bank-c as well would leave
    // bank-a alone, below the quorum: refused, governance must stay able to reinstate.
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-a",
            4,
            Govern::Propose {
                action: Action::Suspend {
                    org: OrgId::new("bank-c").unwrap(),
                },
                deadline: next + 3,
            },
        )],
        &mut c,
    );
    assert!(matches!(
        failure(&ex, 0),
        TxFailure::BadAction {
            action: "suspend",
            ..
        }
    ));
}

#[test]
fn an_expired_or_revoked_proposal_cannot_pass_and_reinstatement_lifts_a_suspension() {
    let mut c = Chain::new();
    let bank_b = OrgId::new("bank-b").unwrap();
    let next = c.tip.height + 1;
    commit_txs(
        vec![govern(
            &c,
            "bank-a",
            1,
            Govern::Propose {
                action: Action::SetGovernance(three_governors()),
                deadline: next + 5,
            },
        )],
        &mut c,
    );
    let next = c.tip.height + 1;
    commit_txs(
        vec![
            govern(
                &c,
                "bank-a",
                2,
                Govern::Propose {
                    action: Action::Suspend {
                        org: bank_b.clone(),
                    },
                    deadline: next + 3,
                },
            ),
            govern(
                &c,
                "bank-c",
                2,
                Govern::Vote {
                    proposal: 2,
                    yes: true,
                },
            ),
        ],
        &mut c,
    );
    assert!(suspension(&c.state, &bank_b).unwrap().is_some());
    // A deadline outside the window is refused.
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-a",
            3,
            Govern::Propose {
                action: Action::Reinstate {
                    org: bank_b.clone(),
                },
                deadline: next + 11,
            },
        )],
        &mut c,
    );
    assert!(matches!(failure(&ex, 0), TxFailure::BadDeadline { .. }));
    // Proposed with a deadline two blocks on; voted after it: too late.
    let next = c.tip.height + 1;
    commit_txs(
        vec![govern(
            &c,
            "bank-a",
            4,
            Govern::Propose {
                action: Action::Reinstate {
                    org: bank_b.clone(),
                },
                deadline: next + 1,
            },
        )],
        &mut c,
    );
    commit_txs(vec![], &mut c);
    commit_txs(vec![], &mut c);
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-c",
            3,
            Govern::Vote {
                proposal: 3,
                yes: true,
            },
        )],
        &mut c,
    );
    assert!(matches!(
        failure(&ex, 0),
        TxFailure::ProposalExpired { proposal: 3, .. }
    ));
    let p = proposal(&c.state, 3).unwrap().unwrap();
    assert_eq!(p.status_at(c.tip.height), "expired");
    assert!(suspension(&c.state, &bank_b).unwrap().is_some());
    // The expired one no longer holds the subject: a new proposal may be made. Only its
    // proposer revokes it, and a revoked proposal takes no more votes.
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![
            govern(
                &c,
                "bank-a",
                5,
                Govern::Propose {
                    action: Action::Reinstate {
                        org: bank_b.clone(),
                    },
                    deadline: next + 3,
                },
            ),
            govern(&c, "bank-c", 4, Govern::Revoke { proposal: 4 }),
            govern(&c, "bank-a", 6, Govern::Revoke { proposal: 4 }),
            govern(
                &c,
                "bank-c",
                5,
                Govern::Vote {
                    proposal: 4,
                    yes: true,
                },
            ),
        ],
        &mut c,
    );
    assert_eq!(ex.outcomes[0], TxOutcome::Applied);
    assert!(matches!(failure(&ex, 1), TxFailure::NotTheProposer { .. }));
    assert_eq!(ex.outcomes[2], TxOutcome::Applied);
    assert!(matches!(
        failure(&ex, 3),
        TxFailure::ProposalNotOpen {
            status: "revoked",
            ..
        }
    ));
    assert!(suspension(&c.state, &bank_b).unwrap().is_some());
    // Proposed and voted in time: bank-b is reinstated and writes again.
    let next = c.tip.height + 1;
    commit_txs(
        vec![
            govern(
                &c,
                "bank-c",
                6,
                Govern::Propose {
                    action: Action::Reinstate {
                        org: bank_b.clone(),
                    },
                    deadline: next + 3,
                },
            ),
            govern(
                &c,
                "bank-a",
                7,
                Govern::Vote {
                    proposal: 5,
                    yes: true,
                },
            ),
        ],
        &mut c,
    );
    assert_eq!(suspension(&c.state, &bank_b).unwrap(), None);
    let put = c.sign(
        "bank-b",
        1,
        Payload::PutRecord(committed_put(&c, "loan-b", 5)),
    );
    assert!(precheck_tx(&c.state, &c.chain, c.tip.height + 1, &put, &()).is_ok());
    // Roles: the validator role does not change this way.
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-a",
            8,
            Govern::Propose {
                action: Action::SetRoles {
                    org: bank_b.clone(),
                    roles: vec![Role::Validator, Role::Member],
                },
                deadline: next + 3,
            },
        )],
        &mut c,
    );
    assert!(matches!(
        failure(&ex, 0),
        TxFailure::BadAction {
            action: "set-roles",
            ..
        }
    ));
}

#[test]
fn a_member_is_admitted_by_vote_with_proof_of_its_signing_key_and_joins_the_ring() {
    use ledger_crypto::Signer as _;
    let mut c = Chain::new();
    let new = Org::new("bank-e");
    let chain = c.chain.clone();
    let registration = |o: &Org, signer: &Ed25519SoftwareKey, roles: &[Role], ring: Vec<u8>| {
        genesis::registration_with_keys(
            signer,
            &chain,
            &o.id,
            roles,
            o.enc_pk.clone(),
            vec![],
            ring,
        )
        .unwrap()
    };
    let ring_proof = new
        .ring
        .prove_possession(&ledger_crypto::possession::context(
            chain.as_str(),
            new.id.as_str(),
            "ring",
        ));
    let admit = |tx: &Transaction| Action::Admit {
        org: new.id.clone(),
        registration: tx.bytes().to_vec(),
        ring_proof: ring_proof.to_vec(),
        audit_proof: vec![],
    };
    let ring_before = ledger_state::member_ring(&c.state, c.tip.height + 1)
        .unwrap()
        .unwrap()
        .keys;
    // Signed by another key: no proof it holds the key it registers. A validator role:
    // validators change at a height, not this way. Another member's ring key: refused.
    // bank-e's keys, signed by another key.
    let other = Ed25519SoftwareKey::from_seed(&c.orgs["bank-b"].seed);
    let forged = sign_tx(
        &other,
        genesis::registration_body(
            &chain,
            RegisterMember {
                org: new.id.clone(),
                signing_key: new.key.public_key(),
                encryption_key: new.enc_pk.clone(),
                roles: vec![Role::Member],
                audit_key: vec![],
                ring_key: new.ring.public().to_vec(),
            },
        ),
    )
    .unwrap();
    let validator = registration(
        &new,
        &new.key,
        &[Role::Validator, Role::Member],
        new.ring.public().to_vec(),
    );
    let stolen_ring = registration(&new, &new.key, &[Role::Member], ring_before[0].to_vec());
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![
            govern(
                &c,
                "bank-a",
                1,
                Govern::Propose {
                    action: admit(&forged),
                    deadline: next + 3,
                },
            ),
            govern(
                &c,
                "bank-a",
                2,
                Govern::Propose {
                    action: admit(&validator),
                    deadline: next + 3,
                },
            ),
            govern(
                &c,
                "bank-a",
                3,
                Govern::Propose {
                    action: admit(&stolen_ring),
                    deadline: next + 3,
                },
            ),
            // No proof of possession of its ring key; a proof made for another
            // organisation (bank-b's context) with the same secret.
            govern(
                &c,
                "bank-a",
                4,
                Govern::Propose {
                    action: Action::Admit {
                        org: new.id.clone(),
                        registration: registration(
                            &new,
                            &new.key,
                            &[Role::Member],
                            new.ring.public().to_vec(),
                        )
                        .bytes()
                        .to_vec(),
                        ring_proof: vec![],
                        audit_proof: vec![],
                    },
                    deadline: next + 3,
                },
            ),
            govern(
                &c,
                "bank-a",
                5,
                Govern::Propose {
                    action: Action::Admit {
                        org: new.id.clone(),
                        registration: registration(
                            &new,
                            &new.key,
                            &[Role::Member],
                            new.ring.public().to_vec(),
                        )
                        .bytes()
                        .to_vec(),
                        ring_proof: new
                            .ring
                            .prove_possession(&ledger_crypto::possession::context(
                                chain.as_str(),
                                "bank-b",
                                "ring",
                            ))
                            .to_vec(),
                        audit_proof: vec![],
                    },
                    deadline: next + 3,
                },
            ),
        ],
        &mut c,
    );
    for i in 0..5 {
        assert!(
            matches!(
                failure(&ex, i),
                TxFailure::BadAction {
                    action: "admit",
                    ..
                }
            ),
            "{i}: {:?}",
            ex.outcomes[i]
        );
    }
    assert!(ledger_state::member(&c.state, &new.id).unwrap().is_none());
    // Its own signature over its registration: admitted (bank-a governs alone), its
    // nonce starts at 1, and its ring key joins the member ring from that height.
    let good = registration(&new, &new.key, &[Role::Member], new.ring.public().to_vec());
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-a",
            6,
            Govern::Propose {
                action: admit(&good),
                deadline: next + 3,
            },
        )],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    let m = ledger_state::member(&c.state, &new.id).unwrap().unwrap();
    assert_eq!(m.signing_key, new.key.public_key());
    assert_eq!(ledger_state::next_nonce(&c.state, &new.id).unwrap(), 1);
    let ring_after = ledger_state::member_ring(&c.state, c.tip.height)
        .unwrap()
        .unwrap();
    assert_eq!(ring_after.since, c.tip.height);
    assert_eq!(ring_after.keys.len(), ring_before.len() + 1);
    assert!(ring_after.keys.contains(&new.ring.public()));
    // The ring of earlier heights is unchanged (endorsements name the ring they used).
    assert_eq!(
        ledger_state::member_ring(&c.state, c.tip.height - 1)
            .unwrap()
            .unwrap()
            .keys,
        ring_before
    );
    // Admitted twice: refused.
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-a",
            7,
            Govern::Propose {
                action: admit(&good),
                deadline: next + 3,
            },
        )],
        &mut c,
    );
    assert!(matches!(
        failure(&ex, 0),
        TxFailure::BadAction {
            action: "admit",
            ..
        }
    ));
    // The new member writes.
    let put = c.sign(
        "bank-b",
        1,
        Payload::PutRecord(committed_put(&c, "loan-x", 5)),
    );
    assert!(precheck_tx(&c.state, &c.chain, c.tip.height + 1, &put, &()).is_ok());
}

#[test]
fn a_regulator_is_admitted_only_with_its_own_audit_key_and_proof_of_possession() {
    let mut c = Chain::new();
    let chain = c.chain.clone();
    let new = Org::new("reg-asia");
    let ctx = ledger_crypto::possession::context(chain.as_str(), "reg-asia", "audit");
    let admit = |audit_key: Vec<u8>, audit_proof: Vec<u8>| {
        let tx = genesis::registration_with_keys(
            &new.key,
            &chain,
            &new.id,
            &[Role::Regulator],
            new.enc_pk.clone(),
            audit_key,
            vec![],
        )
        .unwrap();
        Action::Admit {
            org: new.id.clone(),
            registration: tx.bytes().to_vec(),
            ring_proof: vec![],
            audit_proof,
        }
    };
    let own = new.audit.public().to_bytes().to_vec();
    let theirs = c.orgs["reg-eu"].audit.public().to_bytes().to_vec();
    let next = c.tip.height + 1;
    let cases = [
        // reg-eu's audit key (it cannot prove it, and it is taken).
        admit(theirs, new.audit.prove_possession(&ctx).to_vec()),
        // Its own key without a proof; with a proof for its ring-key context.
        admit(own.clone(), vec![]),
        admit(
            own.clone(),
            new.audit
                .prove_possession(&ledger_crypto::possession::context(
                    chain.as_str(),
                    "reg-asia",
                    "ring",
                ))
                .to_vec(),
        ),
    ];
    let txs = cases
        .iter()
        .enumerate()
        .map(|(i, a)| {
            govern(
                &c,
                "bank-a",
                i as u64 + 1,
                Govern::Propose {
                    action: a.clone(),
                    deadline: next + 3,
                },
            )
        })
        .collect();
    let ex = commit_txs(txs, &mut c);
    let reasons: Vec<String> = (0..cases.len())
        .map(|i| match failure(&ex, i) {
            TxFailure::BadAction { reason, .. } => reason.to_string(),
            other => panic!("{i}: {other:?}"),
        })
        .collect();
    assert!(reasons[0].contains("audit key of reg-eu"), "{}", reasons[0]);
    assert!(
        reasons[1].contains("no proof of possession"),
        "{}",
        reasons[1]
    );
    assert!(
        reasons[2].contains("proof of possession refused"),
        "{}",
        reasons[2]
    );
    assert!(ledger_state::member(&c.state, &new.id).unwrap().is_none());
    // Its own key with its proof: admitted; the same key again for another: refused.
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-a",
            4,
            Govern::Propose {
                action: admit(own.clone(), new.audit.prove_possession(&ctx).to_vec()),
                deadline: next + 3,
            },
        )],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    let m = ledger_state::member(&c.state, &new.id).unwrap().unwrap();
    assert_eq!(m.audit_key, own);
}

#[test]
fn a_validator_set_change_takes_effect_two_heights_after_it_passes_and_history_is_kept() {
    let mut c = Chain::new();
    let (a, b) = (OrgId::new("bank-a").unwrap(), OrgId::new("bank-b").unwrap());
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-a",
            1,
            Govern::Propose {
                action: Action::AddValidator {
                    org: b.clone(),
                    p2p: None,
                    api: Some("http://10.0.0.2:7100".into()),
                },
                deadline: next + 3,
            },
        )],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    let passed = c.tip.height;
    assert_eq!(
        ledger_state::validator_api(&c.state, &b)
            .unwrap()
            .as_deref(),
        Some("http://10.0.0.2:7100"),
        "followers find the new validator there"
    );
    let at = |c: &Chain, h| ledger_state::validator_set_at(&c.state, h).unwrap();
    assert_eq!(at(&c, passed), vec![a.clone()]);
    assert_eq!(
        at(&c, passed + 1),
        vec![a.clone()],
        "not yet at the next height"
    );
    assert_eq!(at(&c, passed + 2), vec![a.clone(), b.clone()]);
    assert_eq!(at(&c, 1), vec![a.clone()], "earlier heights keep their set");
    assert!(ledger_state::member(&c.state, &b)
        .unwrap()
        .unwrap()
        .has_role(Role::Validator));
    // Adding it twice, or removing the last validator, is refused.
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-a",
            2,
            Govern::Propose {
                action: Action::AddValidator {
                    org: b.clone(),
                    p2p: None,
                    api: None,
                },
                deadline: next + 3,
            },
        )],
        &mut c,
    );
    assert!(matches!(
        failure(&ex, 0),
        TxFailure::BadAction {
            action: "add-validator",
            ..
        }
    ));
}

/// `org`'s rotation of its `kind` key to `key`, with `proof`, signed with its current key.
fn rotation(kind: KeyKind, key: Vec<u8>, proof: Vec<u8>) -> Payload {
    Payload::RotateKey(RotateKey { kind, key, proof })
}

fn context(c: &Chain, org: &str, kind: &str) -> Vec<u8> {
    ledger_crypto::possession::context(c.chain.as_str(), org, kind)
}

/// A new signing key for `org` and its proof of possession.
fn new_signing_key(c: &Chain, org: &str) -> (Ed25519SoftwareKey, [u8; 32], Vec<u8>, Vec<u8>) {
    use ledger_crypto::Signer as _;
    let seed: [u8; 32] = rand::random();
    let key = Ed25519SoftwareKey::from_seed(&seed);
    let statement = ledger_crypto::possession::signing_statement(
        &context(c, org, "signing"),
        &key.public_key(),
    );
    let proof = key.sign_digest(&statement).unwrap().0;
    let mut e = codec::Encoder::new();
    key.public_key().encode(&mut e);
    (key, seed, e.finish(), proof)
}

#[test]
fn a_rotated_signing_key_signs_from_its_block_on_and_the_old_one_is_refused() {
    use ledger_crypto::Signer as _;
    let mut c = Chain::new();
    let (key, seed, encoded, proof) = new_signing_key(&c, "bank-b");
    // A proof made by another key, or for another organisation, does not count.
    let (_, _, _, other_proof) = new_signing_key(&c, "bank-b");
    let proof_for_c = key
        .sign_digest(&ledger_crypto::possession::signing_statement(
            &context(&c, "bank-c", "signing"),
            &key.public_key(),
        ))
        .unwrap()
        .0;
    let ex = commit_txs(
        vec![
            c.sign(
                "bank-b",
                1,
                rotation(KeyKind::Signing, encoded.clone(), other_proof),
            ),
            c.sign(
                "bank-b",
                2,
                rotation(KeyKind::Signing, encoded.clone(), proof_for_c),
            ),
            // A validator's key is rotated out of the validator set.
            c.sign("bank-a", 1, {
                let (_, _, k, p) = new_signing_key(&c, "bank-a");
                rotation(KeyKind::Signing, k, p)
            }),
        ],
        &mut c,
    );
    for i in 0..2 {
        assert!(
            matches!(
                failure(&ex, i),
                TxFailure::BadRotation {
                    kind: "signing",
                    ..
                }
            ),
            "{:?}",
            ex.outcomes[i]
        );
    }
    assert!(failure(&ex, 2).to_string().contains("is a validator"));
    // The real rotation, and in the same block a transaction signed with the old key after
    // it: the proposer drops it, and a block that holds it anyway is invalid even though
    // its signature was checked (against the keys before the block) on all cores first.
    let rotate = c.sign(
        "bank-b",
        3,
        rotation(KeyKind::Signing, encoded.clone(), proof),
    );
    let old_signed = c.sign("bank-b", 4, Payload::RegisterSchema(loan_schema()));
    let built = c.build(vec![rotate.clone(), old_signed.clone()]);
    assert_eq!(built.txs, vec![rotate.clone()]);
    assert_eq!(built.dropped.len(), 1);
    let forced = c.seal(forge(&c, vec![rotate.clone(), old_signed.clone()]));
    let pre = ledger_state::preverify(
        &c.state,
        &c.chain,
        c.tip.height + 1,
        &[&rotate, &old_signed],
    );
    assert!(
        pre.contains(&old_signed.hash()),
        "the old key verified before the block"
    );
    let cache = |h: &Hash| pre.contains(h);
    let err = execute_block(&c.state, &c.acc, &c.tip, &forced, &cache).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    let ex = c.commit(&c.seal(built));
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    let bank_b = OrgId::new("bank-b").unwrap();
    assert_eq!(
        ledger_state::member(&c.state, &bank_b)
            .unwrap()
            .unwrap()
            .signing_key,
        key.public_key()
    );
    let history = ledger_state::key_history(&c.state, &bank_b).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].kind, history[0].height),
        (KeyKind::Signing, c.tip.height)
    );
    // From then on the old key is refused and the new one signs.
    let err = precheck_tx(&c.state, &c.chain, c.tip.height + 1, &old_signed, &()).unwrap_err();
    assert!(matches!(err, TxRejection::BadSignature { .. }), "{err}");
    let old = std::mem::replace(&mut c.orgs.get_mut("bank-b").unwrap().key, key);
    c.orgs.get_mut("bank-b").unwrap().seed = seed;
    let ex = commit_txs(
        vec![c.sign("bank-b", 4, Payload::RegisterSchema(loan_schema()))],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    // Rotating back to the old key: a key is never registered twice.
    let mut e = codec::Encoder::new();
    old.public_key().encode(&mut e);
    let statement = ledger_crypto::possession::signing_statement(
        &context(&c, "bank-b", "signing"),
        &old.public_key(),
    );
    let back = old.sign_digest(&statement).unwrap().0;
    let ex = commit_txs(
        vec![c.sign("bank-b", 5, rotation(KeyKind::Signing, e.finish(), back))],
        &mut c,
    );
    assert!(failure(&ex, 0)
        .to_string()
        .contains("never registered twice"));
}

#[test]
fn governance_rotates_a_lost_key_and_audit_and_encryption_keys_rotate_by_epoch() {
    use ledger_proofs::Opening;
    let mut c = Chain::new();
    let reg = OrgId::new("reg-eu").unwrap();
    let bank_b = OrgId::new("bank-b").unwrap();
    // bank-b lost its signing key: governance (bank-a alone governs this chain) rotates it.
    let (key, seed, encoded, proof) = new_signing_key(&c, "bank-b");
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-a",
            1,
            Govern::Propose {
                action: Action::RotateKey {
                    org: bank_b.clone(),
                    rotation: RotateKey {
                        kind: KeyKind::Signing,
                        key: encoded,
                        proof,
                    },
                },
                deadline: next + 5,
            },
        )],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    c.orgs.get_mut("bank-b").unwrap().key = key;
    c.orgs.get_mut("bank-b").unwrap().seed = seed;
    // bank-b's encryption key rotates; a bad point is refused.
    let sk = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let enc_pk = p256::EncodedPoint::from(sk.public_key())
        .as_bytes()
        .to_vec();
    let ex = commit_txs(
        vec![
            c.sign(
                "bank-b",
                1,
                rotation(KeyKind::Encryption, vec![4; 65], vec![]),
            ),
            c.sign(
                "bank-b",
                2,
                rotation(KeyKind::Encryption, enc_pk.clone(), vec![]),
            ),
        ],
        &mut c,
    );
    assert!(matches!(
        failure(&ex, 0),
        TxFailure::BadRotation {
            kind: "encryption",
            ..
        }
    ));
    assert_eq!(ex.outcomes[1], TxOutcome::Applied);
    assert_eq!(
        ledger_state::member(&c.state, &bank_b)
            .unwrap()
            .unwrap()
            .encryption_key,
        enc_pk
    );

    // The regulator's audit key: epoch 1 before the rotation, epoch 2 after.
    let mut v2 = loan_schema();
    v2.version = 2;
    v2.auditors = vec![reg.clone()];
    let ex = commit_txs(
        vec![
            c.sign("bank-c", 2, Payload::RegisterSchema(loan_schema())),
            c.sign("bank-c", 3, Payload::RegisterSchema(v2)),
        ],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied; 2]);
    let o1 = Opening::new(70_000);
    let ex = commit_txs(
        vec![c.sign(
            "bank-a",
            2,
            Payload::PutRecord(audited_put(&c, "loan-1", &o1, &[("reg-eu", &o1)])),
        )],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    let epoch1 = c.tip.height;
    let old_secret = std::mem::replace(
        &mut c.orgs.get_mut("reg-eu").unwrap().audit,
        ledger_proofs::AuditSecret::generate(),
    );
    let new_public = c.orgs["reg-eu"].audit.public().to_bytes().to_vec();
    // A proof by the old secret for the new key, or none, is refused; bank-b has no audit
    // key to rotate.
    let wrong = old_secret.prove_possession(&context(&c, "reg-eu", "audit"));
    let right = c.orgs["reg-eu"]
        .audit
        .prove_possession(&context(&c, "reg-eu", "audit"));
    let stale_put = c.sign(
        "bank-a",
        3,
        // Built against the old key: handles for the old epoch.
        Payload::PutRecord(audited_put_with_key(
            &c,
            "loan-2",
            &o1,
            &old_secret.public(),
        )),
    );
    let ex = commit_txs(
        vec![
            c.sign(
                "reg-eu",
                1,
                rotation(KeyKind::Audit, new_public.clone(), wrong.to_vec()),
            ),
            c.sign(
                "reg-eu",
                2,
                rotation(KeyKind::Audit, new_public.clone(), vec![]),
            ),
            c.sign(
                "bank-b",
                3,
                rotation(KeyKind::Audit, new_public.clone(), right.to_vec()),
            ),
            c.sign(
                "reg-eu",
                3,
                rotation(KeyKind::Audit, new_public.clone(), right.to_vec()),
            ),
        ],
        &mut c,
    );
    for i in 0..3 {
        assert!(
            matches!(failure(&ex, i), TxFailure::BadRotation { .. }),
            "{i}"
        );
    }
    assert_eq!(ex.outcomes[3], TxOutcome::Applied);
    let epoch2 = c.tip.height;
    // A record built against the old audit key is refused from the new epoch on.
    assert!(matches!(
        precheck_tx(&c.state, &c.chain, c.tip.height + 1, &stale_put, &()),
        Err(TxRejection::InvalidProof {
            kind: "audit handle",
            ..
        })
    ));
    let o2 = Opening::new(5_500);
    let ex = commit_txs(
        vec![c.sign(
            "bank-a",
            3,
            Payload::PutRecord(audited_put(&c, "loan-3", &o2, &[("reg-eu", &o2)])),
        )],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    // The key of each epoch, from state; the regulator reads each amount with its epoch's
    // secret, and neither secret reads the other epoch.
    let current = ledger_state::member(&c.state, &reg)
        .unwrap()
        .unwrap()
        .audit_key;
    assert_eq!(current, new_public);
    assert_eq!(
        ledger_state::key_at(&c.state, &reg, KeyKind::Audit, &current, epoch1).unwrap(),
        old_secret.public().to_bytes().to_vec()
    );
    assert_eq!(
        ledger_state::key_at(&c.state, &reg, KeyKind::Audit, &current, epoch2).unwrap(),
        new_public
    );
    let amount = FieldName::new("amount").unwrap();
    let read = |record: &str| {
        let v = record_version(&c.state, &RecordId::new(record).unwrap(), 1)
            .unwrap()
            .unwrap();
        let h = v.audit_handle(&amount, &reg).unwrap();
        (
            ledger_proofs::Commitment::from_bytes(&v.commitment(&amount).unwrap().commitment)
                .unwrap(),
            ledger_proofs::Handle::from_bytes(&h.handle),
        )
    };
    let (c1, h1) = read("loan-1");
    let (c3, h3) = read("loan-3");
    assert_eq!(old_secret.decrypt_sum(&[c1], &[h1], 24).unwrap(), 70_000);
    assert_eq!(
        c.orgs["reg-eu"]
            .audit
            .decrypt_sum(&[c3], &[h3], 24)
            .unwrap(),
        5_500
    );
    assert!(old_secret.decrypt_sum(&[c3], &[h3], 24).is_err());
}

/// A put of `loan_schema` v2 audited by reg-eu under `key` (whatever key state holds).
fn audited_put_with_key(
    c: &Chain,
    record: &str,
    opening: &ledger_proofs::Opening,
    key: &ledger_proofs::AuditKey,
) -> PutRecord {
    let mut put = audited_put(c, record, opening, &[]);
    let ctx = ledger_proofs::Context {
        chain_id: c.chain.to_string(),
        items: vec![(record.to_string(), 1, "amount".into())],
    };
    let (h, p) = ledger_proofs::audit_handle(&ctx, opening, key).unwrap();
    put.audit_handles.push(AuditHandle {
        field: FieldName::new("amount").unwrap(),
        auditor: OrgId::new("reg-eu").unwrap(),
        handle: h.to_bytes(),
        proof: p.to_bytes(),
    });
    put
}

#[test]
fn the_member_ring_drops_suspended_removed_and_rotated_keys_and_old_rings_stop_signing() {
    let mut c = Chain::new();
    let bank_b = OrgId::new("bank-b").unwrap();
    let bank_c = OrgId::new("bank-c").unwrap();
    let key_of = |c: &Chain, o: &str| c.orgs[o].ring.public();
    let propose = |c: &Chain, nonce: u64, action: Action| {
        govern(
            c,
            "bank-a",
            nonce,
            Govern::Propose {
                action,
                deadline: c.tip.height + 5,
            },
        )
    };
    // An endorsement signed with the genesis ring before anything changes.
    let early = c.endorse("bank-b", "alert.INV-1", 1, 0);
    // bank-b is suspended: its ring key leaves the ring from that block.
    let ex = commit_txs(
        vec![propose(
            &c,
            1,
            Action::Suspend {
                org: bank_b.clone(),
            },
        )],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    let suspended_at = c.tip.height;
    assert_eq!(c.ring(), vec![key_of(&c, "bank-a"), key_of(&c, "bank-c")]);
    assert_eq!(ledger_state::ring_floor(&c.state).unwrap(), suspended_at);
    // The earlier ring still holds its key: an endorsement naming it is refused, whoever
    // signed it; one naming the current ring from another member applies.
    let err = precheck_tx(&c.state, &c.chain, c.tip.height + 1, &early, &()).unwrap_err();
    assert!(
        err.to_string()
            .contains("from before the member ring changed"),
        "{err}"
    );
    let by_c = c.endorse("bank-c", "alert.INV-1", 1, suspended_at);
    assert_eq!(
        commit_txs(vec![by_c], &mut c).outcomes,
        vec![TxOutcome::Applied]
    );
    // Reinstated, it is back in the ring (and can endorse with it).
    let ex = commit_txs(
        vec![propose(
            &c,
            2,
            Action::Reinstate {
                org: bank_b.clone(),
            },
        )],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    assert!(c.ring().contains(&key_of(&c, "bank-b")));
    let back = c.endorse("bank-b", "alert.INV-1", 1, c.tip.height);
    assert_eq!(
        commit_txs(vec![back], &mut c).outcomes,
        vec![TxOutcome::Applied]
    );

    // bank-c rotates its ring key: the ring holds the new key from that block, the old key
    // signs nothing more, and a ring key once used is never registered again.
    let old_ring = std::mem::replace(
        &mut c.orgs.get_mut("bank-c").unwrap().ring,
        ledger_crypto::ring::RingSecret::generate(),
    );
    let new_key = key_of(&c, "bank-c");
    let proof = c.orgs["bank-c"]
        .ring
        .prove_possession(&context(&c, "bank-c", "ring"));
    let stale = c.endorse_with(&old_ring, "alert.INV-2", 1, c.tip.height);
    let ex = commit_txs(
        vec![
            c.sign(
                "bank-c",
                2,
                rotation(KeyKind::Ring, new_key.to_vec(), proof.to_vec()),
            ),
            c.sign(
                "bank-b",
                1,
                rotation(KeyKind::Ring, new_key.to_vec(), proof.to_vec()),
            ),
        ],
        &mut c,
    );
    assert_eq!(ex.outcomes[0], TxOutcome::Applied);
    assert!(matches!(
        failure(&ex, 1),
        TxFailure::BadRotation { kind: "ring", .. }
    ));
    let rotated_at = c.tip.height;
    assert!(c.ring().contains(&new_key));
    assert!(!c.ring().contains(&old_ring.public()));
    assert!(precheck_tx(&c.state, &c.chain, c.tip.height + 1, &stale, &()).is_err());
    let fresh = c.endorse("bank-c", "alert.INV-2", 1, rotated_at);
    assert_eq!(
        commit_txs(vec![fresh], &mut c).outcomes,
        vec![TxOutcome::Applied]
    );

    // bank-c is removed for good: out of the ring, its transactions refused with a reason,
    // no longer the subject of any proposal. The validator bank-a cannot be removed.
    let ex = commit_txs(
        vec![
            propose(
                &c,
                3,
                Action::RemoveMember {
                    org: bank_c.clone(),
                },
            ),
            propose(
                &c,
                4,
                Action::RemoveMember {
                    org: OrgId::new("bank-a").unwrap(),
                },
            ),
        ],
        &mut c,
    );
    assert_eq!(ex.outcomes[0], TxOutcome::Applied);
    assert!(
        failure(&ex, 1).to_string().contains("validator"),
        "{:?}",
        ex.outcomes[1]
    );
    assert!(!c.ring().contains(&new_key));
    assert!(ledger_state::removal(&c.state, &bank_c).unwrap().is_some());
    let put = c.sign("bank-c", 3, Payload::RegisterSchema(loan_schema()));
    let err = precheck_tx(&c.state, &c.chain, c.tip.height + 1, &put, &()).unwrap_err();
    assert!(matches!(err, TxRejection::Removed { .. }), "{err}");
    let ex = commit_txs(
        vec![propose(
            &c,
            5,
            Action::Suspend {
                org: bank_c.clone(),
            },
        )],
        &mut c,
    );
    assert!(failure(&ex, 0).to_string().contains("was removed"));
}

/// A document record of `schema` (v1) holding `doc`, readable by `readers`.
fn doc_put(
    c: &Chain,
    record: &str,
    schema: &RegisterSchema,
    doc: &ledger_circuits::Document,
    readers: &[&str],
) -> PutRecord {
    let mut put = seal_record(
        &c.chain,
        &RecordId::new(record).unwrap(),
        1,
        schema,
        &[FieldToSeal {
            name: FieldName::new(DOCUMENT_FIELD).unwrap(),
            plaintext: Zeroizing::new(doc.to_bytes()),
            readers: readers.iter().map(|r| c.orgs[r].reader()).collect(),
        }],
    )
    .unwrap();
    put.document_commitment = Some(doc.commitment_bytes());
    put
}

#[test]
fn each_payload_names_the_roles_that_may_send_it_and_corporates_and_carriers_put_their_documents() {
    use ledger_circuits::{Document, Line};
    let mut c = Chain::new();
    // A corporate and a carrier join by vote (bank-a governs this chain alone).
    let mut admissions = Vec::new();
    for (name, role) in [("acme", Role::Corporate), ("trucks", Role::Carrier)] {
        let o = Org::new(name);
        let reg = genesis::registration_with_keys(
            &o.key,
            &c.chain,
            &o.id,
            &[role],
            o.enc_pk.clone(),
            vec![],
            vec![],
        )
        .unwrap();
        admissions.push(Action::Admit {
            org: o.id.clone(),
            registration: reg.bytes().to_vec(),
            ring_proof: vec![],
            audit_proof: vec![],
        });
        c.orgs.insert(name, o);
    }
    let next = c.tip.height + 1;
    let txs = admissions
        .into_iter()
        .enumerate()
        .map(|(i, action)| {
            govern(
                &c,
                "bank-a",
                1 + i as u64,
                Govern::Propose {
                    action,
                    deadline: next + 5,
                },
            )
        })
        .collect();
    assert_eq!(
        commit_txs(txs, &mut c).outcomes,
        vec![TxOutcome::Applied; 2]
    );
    let ring = c.ring();
    assert_eq!(
        ring.len(),
        3,
        "corporates and carriers are not in the member ring"
    );

    let mut note_schema = invoice_doc_schema();
    note_schema.schema = SchemaId::new("dn").unwrap();
    note_schema.document = Some(DocumentKind::DeliveryNote);
    let ex = commit_txs(
        vec![
            c.sign("bank-c", 2, Payload::RegisterSchema(invoice_doc_schema())),
            c.sign("bank-c", 3, Payload::RegisterSchema(note_schema.clone())),
            c.sign("bank-c", 4, Payload::RegisterSchema(loan_schema())),
            // Only banks and operators register schemas.
            c.sign("acme", 1, Payload::RegisterSchema(po_schema())),
        ],
        &mut c,
    );
    assert_eq!(ex.outcomes[..3], vec![TxOutcome::Applied; 3]);
    assert_eq!(
        failure(&ex, 3),
        TxFailure::MissingRole {
            signer: OrgId::new("acme").unwrap(),
            role: "member or operator",
            kind: "RegisterSchema",
        }
    );
    let line = || {
        vec![Line {
            unit_price: 10,
            quantity: 3,
            total: 30,
        }]
    };
    let invoice = Document::new(
        DocumentKind::Invoice,
        "acme",
        "globex",
        "",
        "INV-1",
        "",
        20_000,
        line(),
        30,
    )
    .unwrap();
    let note = Document::new(
        DocumentKind::DeliveryNote,
        "acme",
        "globex",
        "trucks",
        "DN-1",
        "",
        20_000,
        line(),
        30,
    )
    .unwrap();
    let ex = commit_txs(
        vec![
            // The corporate puts its invoice; the carrier its delivery note.
            c.sign(
                "acme",
                2,
                Payload::PutRecord(doc_put(
                    &c,
                    "INV-1",
                    &invoice_doc_schema(),
                    &invoice,
                    &["acme"],
                )),
            ),
            c.sign(
                "trucks",
                1,
                Payload::PutRecord(doc_put(&c, "DN-1", &note_schema, &note, &["trucks"])),
            ),
            // A corporate (as a buyer confirming a delivery) puts a delivery note too; a
            // carrier puts no invoice, and neither a record that is no trade document.
            c.sign(
                "acme",
                3,
                Payload::PutRecord(doc_put(&c, "DN-2", &note_schema, &note, &["acme"])),
            ),
            c.sign(
                "trucks",
                2,
                Payload::PutRecord(doc_put(
                    &c,
                    "INV-2",
                    &invoice_doc_schema(),
                    &invoice,
                    &["trucks"],
                )),
            ),
            c.sign(
                "acme",
                4,
                Payload::PutRecord(committed_put(&c, "loan-a", 5)),
            ),
            // An audit alert is a regulator's.
            c.sign(
                "bank-b",
                1,
                Payload::AuditAlert(AuditAlert {
                    record: RecordId::new("INV-1").unwrap(),
                    version: 1,
                    field: FieldName::new(DOCUMENT_FIELD).unwrap(),
                    owner: OrgId::new("acme").unwrap(),
                    reason: "x".into(),
                }),
            ),
        ],
        &mut c,
    );
    assert_eq!(
        ex.outcomes[..3],
        vec![TxOutcome::Applied; 3],
        "{:?}",
        ex.outcomes
    );
    let role_of = |i: usize| match failure(&ex, i) {
        TxFailure::MissingRole { role, .. } => role,
        other => panic!("{i}: {other}"),
    };
    assert_eq!(role_of(3), "member or corporate");
    assert!(role_of(4).starts_with("member (only banks"));
    assert_eq!(role_of(5), "regulator");

    // The table covers every kind a client can send.
    for kind in [
        TxKind::PutRecord,
        TxKind::GrantAccess,
        TxKind::RevokeAccess,
        TxKind::RegisterSchema,
        TxKind::AuditAlert,
        TxKind::CrossCheck,
        TxKind::FinanceRequest,
    ] {
        let (roles, names) = ledger_state::roles_for(kind);
        assert!(!roles.is_empty() && names != "any", "{kind:?}");
    }
    assert_eq!(
        ledger_state::roles_for(TxKind::FinanceRequest).1,
        "member or corporate"
    );
}

#[test]
fn a_block_proposer_must_be_a_validator_of_that_height_not_merely_hold_the_role() {
    let mut c = Chain::new();
    let b = OrgId::new("bank-b").unwrap();
    let next = c.tip.height + 1;
    let ex = commit_txs(
        vec![govern(
            &c,
            "bank-a",
            1,
            Govern::Propose {
                action: Action::AddValidator {
                    org: b.clone(),
                    p2p: None,
                    api: None,
                },
                deadline: next + 3,
            },
        )],
        &mut c,
    );
    assert_eq!(ex.outcomes, vec![TxOutcome::Applied]);
    let passed = c.tip.height;
    // bank-b holds the validator role from the passing block, but the set of the next
    // height is still bank-a alone: a block it proposes there is invalid.
    let proposed_by = |c: &Chain, who: &OrgId| {
        let params = ProposeParams {
            proposer: who.clone(),
            timestamp_ms: 10,
            max_txs: 100,
            max_bytes: 1 << 20,
        };
        let built = build_block(&c.state, &c.acc, &c.tip, &params, vec![], &()).unwrap();
        let block = Block::new(built.header, built.txs, Commit::default());
        execute_block(&c.state, &c.acc, &c.tip, &block, &()).map(|_| ())
    };
    assert!(matches!(
        proposed_by(&c, &b),
        Err(BlockError::ProposerNotValidator { .. })
    ));
    let a = OrgId::new("bank-a").unwrap();
    proposed_by(&c, &a).unwrap();
    // From two heights after the vote it is in the set and proposes.
    let block = c.seal(c.build(vec![]));
    c.commit(&block);
    assert_eq!(c.tip.height, passed + 1);
    proposed_by(&c, &b).unwrap();
}
