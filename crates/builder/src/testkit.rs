//! Fixtures for the plans' unit tests: a chain in memory whose organisations keep their
//! agreement keys in a software key provider (no HSM), blocks built and applied by the
//! real executor, so every payload a test builds is also checked by the ledger's rules.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use ledger_circuits::{CircuitId, ProvingKey, VerifyingKey};
use ledger_crypto::ring::RingSecret;
use ledger_crypto::LtHash16;
use ledger_hsm::{KdfCost, KeyProvider, SoftwareProvider};
use ledger_proofs::AuditSecret;
use ledger_state::testing::TestOrg;
use ledger_state::{build_block, genesis, ProposeParams, TxOutcome};
use ledger_types::{
    BlockHeader, ChainId, FieldName, FieldType, OrgId, Payload, RecordId, RegisterSchema, Role,
    SchemaField, SchemaId,
};

use crate::resources::{AuditEntry, AuditTrail, ProvingKeys, SealedSecrets};
use crate::{AgreementKey, BuildError, Builder, FieldValue, PutInput};

pub(crate) type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// The organisations: bank-a (validator, member), bank-b and bank-c (members), reg-eu
/// (regulator with an audit key).
pub(crate) const ORGS: [&str; 4] = ["bank-a", "bank-b", "bank-c", "reg-eu"];

pub(crate) fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

pub(crate) fn name(n: &str) -> FieldName {
    FieldName::new(n).unwrap()
}

pub(crate) fn record(id: &str) -> RecordId {
    RecordId::new(id).unwrap()
}

/// Schema `po` v1 registered by bank-a: `total` (amount, required, committed) and `note`
/// (text), audited by reg-eu.
pub(crate) fn po_schema() -> RegisterSchema {
    RegisterSchema {
        document: None,
        schema: SchemaId::new("po").unwrap(),
        version: 1,
        fields: vec![
            SchemaField {
                name: name("note"),
                ty: FieldType::Text,
                required: false,
                committed: false,
                fhe: false,
            },
            SchemaField {
                name: name("total"),
                ty: FieldType::Amount,
                required: true,
                committed: true,
                fhe: false,
            },
        ],
        auditors: vec![org("reg-eu")],
    }
}

/// A put of `values` in `po` (the schema named only when `new`), readable by `readers` too.
pub(crate) fn po_put(id: &str, new: bool, values: &[(&str, &str)], readers: &[&str]) -> PutInput {
    PutInput {
        record: record(id),
        schema: new.then(|| SchemaId::new("po").unwrap()),
        schema_version: None,
        fields: values
            .iter()
            .map(|(n, v)| FieldValue {
                name: name(n),
                value: v.to_string(),
            })
            .collect(),
        readers: readers.iter().map(|r| org(r)).collect(),
        document: None,
    }
}

/// A chain in memory at its tip, with schema `po` registered.
pub(crate) struct Chain {
    pub(crate) state: State,
    acc: LtHash16,
    tip: BlockHeader,
    pub(crate) chain: ChainId,
    orgs: BTreeMap<&'static str, TestOrg>,
    nonces: BTreeMap<&'static str, u64>,
    pub(crate) provider: SoftwareProvider,
    agreement: BTreeMap<&'static str, Vec<u8>>,
    /// reg-eu's audit secret.
    pub(crate) audit: AuditSecret,
    _keys: tempfile::TempDir,
}

impl Chain {
    pub(crate) fn new() -> Self {
        let keys = tempfile::tempdir().unwrap();
        let cheap = KdfCost {
            m_cost: 8,
            t_cost: 1,
            p_cost: 1,
        };
        let provider =
            SoftwareProvider::open(keys.path(), zeroize::Zeroizing::new("test".into()), cheap)
                .unwrap();
        let chain = ChainId::new("test").unwrap();
        let audit = AuditSecret::generate();
        let mut orgs = BTreeMap::new();
        let mut agreement = BTreeMap::new();
        let mut registrations = Vec::new();
        for id in ORGS {
            let o = TestOrg::new(id);
            let public = provider.generate_agreement_key(id).unwrap();
            let roles = match id {
                "bank-a" => vec![Role::Validator, Role::Member],
                "reg-eu" => vec![Role::Regulator],
                _ => vec![Role::Member],
            };
            let audit_key = match id {
                "reg-eu" => audit.public().to_bytes().to_vec(),
                _ => vec![],
            };
            let ring_key = if roles.contains(&Role::Member) {
                o.ring.public().to_vec()
            } else {
                vec![]
            };
            registrations.push(
                genesis::registration_with_keys(
                    &o.key,
                    &chain,
                    &o.id,
                    &roles,
                    public.clone(),
                    audit_key,
                    ring_key,
                )
                .unwrap(),
            );
            agreement.insert(id, public);
            orgs.insert(id, o);
        }
        let (block, ex) = genesis::genesis_block(&chain, 1, registrations).unwrap();
        let mut c = Chain {
            state: State::new(),
            acc: ex.accumulator.clone(),
            tip: block.header().clone(),
            chain,
            orgs,
            nonces: BTreeMap::new(),
            provider,
            agreement,
            audit,
            _keys: keys,
        };
        c.apply(&ex);
        assert_eq!(
            c.commit("bank-a", Payload::RegisterSchema(po_schema())),
            TxOutcome::Applied
        );
        c
    }

    fn apply(&mut self, ex: &ledger_state::Execution) {
        for (k, change) in ex.diff.iter() {
            match &change.new {
                Some(v) => self.state.insert(k.clone(), v.clone()),
                None => self.state.remove(k),
            };
        }
        self.acc = ex.accumulator.clone();
    }

    /// The builder acting for `id`.
    pub(crate) fn builder(&self, id: &'static str) -> Builder<'_, State> {
        let org = &self.orgs[id].id;
        Builder::new(
            &self.state,
            &self.chain,
            org,
            AgreementKey {
                provider: &self.provider,
                label: id,
                public: &self.agreement[id],
                former: &[],
            },
        )
    }

    /// `id` signs `payload` and the executor applies it in the next block.
    pub(crate) fn commit(&mut self, id: &'static str, payload: Payload) -> TxOutcome {
        let nonce = self.nonces.entry(id).or_insert(1);
        let tx = self.orgs[id].sign(&self.chain, *nonce, payload);
        *nonce += 1;
        self.commit_tx(tx)
    }

    /// The executor applies `tx` in the next block.
    pub(crate) fn commit_tx(&mut self, tx: ledger_types::Transaction) -> TxOutcome {
        let params = ProposeParams {
            proposer: org("bank-a"),
            timestamp_ms: self.tip.timestamp_ms + 1,
            max_txs: 10,
            max_bytes: 1 << 24,
        };
        let built = build_block(&self.state, &self.acc, &self.tip, &params, [tx], &()).unwrap();
        assert!(built.dropped.is_empty(), "{:?}", built.dropped);
        self.apply(&built.execution);
        self.tip = built.header;
        built.execution.outcomes[0].clone()
    }

    /// The last committed height.
    pub(crate) fn height(&self) -> u64 {
        self.tip.height
    }

    /// `id`'s ring secret.
    pub(crate) fn ring(&self, id: &str) -> RingSecret {
        RingSecret::from_bytes(&self.orgs[id].ring.to_bytes()).unwrap()
    }
}

/// Sealed secrets held in memory.
pub(crate) struct Secrets {
    pub(crate) audit: Option<AuditSecret>,
    pub(crate) ring: Option<RingSecret>,
}

impl SealedSecrets for Secrets {
    fn audit_secret(&self) -> Result<AuditSecret, BuildError> {
        let s = self.audit.as_ref().ok_or(BuildError::Unsealing {
            what: "audit key",
            reason: "none in this test".into(),
        })?;
        Ok(AuditSecret::from_bytes(&s.to_bytes()).unwrap())
    }

    fn ring_secret(&self) -> Result<RingSecret, BuildError> {
        let s = self.ring.as_ref().ok_or(BuildError::Unsealing {
            what: "ring key",
            reason: "none in this test".into(),
        })?;
        Ok(RingSecret::from_bytes(&s.to_bytes()).unwrap())
    }
}

/// An audit trail that keeps its entries.
#[derive(Default)]
pub(crate) struct Trail(pub(crate) RefCell<Vec<AuditEntry>>);

impl AuditTrail for Trail {
    fn record(&self, entries: &[AuditEntry]) -> Result<(), BuildError> {
        self.0.borrow_mut().extend_from_slice(entries);
        Ok(())
    }
}

/// No proving keys: the tests that reach a Groth16 proof are the end-to-end ones.
pub(crate) struct NoProvingKeys;

impl ProvingKeys for NoProvingKeys {
    fn proving_key(
        &self,
        circuit: CircuitId,
        _chain_key: &VerifyingKey,
    ) -> Result<Arc<ProvingKey>, BuildError> {
        Err(BuildError::ProvingKey {
            circuit: circuit.name(),
            reason: "no proving keys in unit tests".into(),
        })
    }
}
