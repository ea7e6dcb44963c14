//! Executing transactions and blocks against a state view.

use std::collections::{BTreeMap, BTreeSet};

use ledger_crypto::{verify_commit_signature, verify_tx_signature, LtHash16};
use ledger_types::block::GENESIS_PROPOSER;
use ledger_types::merkle::tx_root;
use ledger_types::record::SEALED_OVERHEAD;
use ledger_types::{
    AuditAlert, Block, BlockHeader, ChainId, Endorse, FieldName, GrantAccess, Hash, HashSuite,
    OrgId, Payload, PutRecord, RecordId, RegisterMember, RegisterSchema, RevokeAccess, Role,
    Transaction,
};
use ledger_types::{CrossCheck, Relation};

use crate::error::{BlockError, StateError, TxFailure, TxRejection};
use crate::model::{
    self, encode_member, encode_schema, encode_validators, AccessAction, AccessEvent, FiledAlert,
    RecordHead, RecordVersion,
};

type Writes = Vec<(Vec<u8>, Vec<u8>)>;
/// A payload's effect: the writes, or why it has none; outer errors are storage trouble.
type Outcome = Result<Result<Writes, TxFailure>, StateError>;
use crate::{keys, StateView};

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
    /// True if `tx`'s signature was verified under its signer's current key.
    fn is_verified(&self, tx: &Hash) -> bool;
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
}

struct Overlay<'v, V: StateView> {
    base: &'v V,
    diff: StateDiff,
}

impl<'v, V: StateView> Overlay<'v, V> {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StateError> {
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

struct Executor<'v, V: StateView, C: SignatureCache> {
    overlay: Overlay<'v, V>,
    chain_id: &'v ChainId,
    height: u64,
    cache: &'v C,
    outcomes: Vec<TxOutcome>,
}

impl<'v, V: StateView, C: SignatureCache> Executor<'v, V, C> {
    fn new(view: &'v V, chain_id: &'v ChainId, height: u64, cache: &'v C) -> Self {
        Self {
            overlay: Overlay {
                base: view,
                diff: StateDiff::default(),
            },
            chain_id,
            height,
            cache,
            outcomes: Vec::new(),
        }
    }

    /// Checks everything that decides whether `tx` may be in a block, then applies it.
    /// A rejection writes nothing.
    fn apply(&mut self, tx: &Transaction) -> Result<(), TxRejection> {
        let body = tx.body();
        if &body.chain_id != self.chain_id {
            return Err(TxRejection::WrongChain {
                expected: self.chain_id.to_string(),
                got: body.chain_id.to_string(),
            });
        }
        if let Payload::Endorse(e) = &body.payload {
            // Anonymous: no member, no nonce; the ring signature authenticates it.
            return self.endorse(tx, e);
        }
        if let Payload::RegisterMember(_) = body.payload {
            return Err(TxRejection::NotAllowed {
                kind: "RegisterMember",
                context: "after genesis (members are admitted in the genesis block for now)".into(),
            });
        }
        let signer = model::member(&self.overlay, &body.signer)?.ok_or_else(|| {
            TxRejection::UnknownSigner {
                signer: body.signer.clone(),
            }
        })?;
        let next = model::next_nonce(&self.overlay, &body.signer)?;
        check_nonce(&body.signer, body.nonce, next)?;
        if !self.cache.is_verified(&tx.hash()) {
            verify_tx_signature(tx, &signer.signing_key).map_err(|e| {
                TxRejection::BadSignature {
                    signer: body.signer.clone(),
                    reason: e.to_string(),
                }
            })?;
            verify_proofs(&self.overlay, self.chain_id, tx)?;
        }
        if let Payload::CrossCheck(c) = &body.payload {
            // Its proof is about stored commitments: checked against this state, always.
            self.verify_cross_check(c)?;
        }
        // Groth16 proofs are about stored document commitments too. Block validation
        // checks them on all cores first (`preverify`) and records which statement, with
        // which public inputs, verified; only those are skipped here.
        if let Some(st) = crate::circuits::statement(&self.overlay, self.chain_id, tx)? {
            if !self
                .cache
                .is_verified(&crate::circuits::statement_key(tx, &st))
            {
                crate::circuits::verify(&self.overlay, &st)?;
            }
        }
        let writes = match &body.payload {
            Payload::PutRecord(p) => self.put_record(&signer, tx.hash(), p)?,
            Payload::GrantAccess(g) => self.grant_access(&signer, tx.hash(), g)?,
            Payload::RevokeAccess(r) => self.revoke_access(&signer, tx.hash(), r)?,
            Payload::AuditAlert(a) => self.audit_alert(&signer, tx.hash(), a)?,
            Payload::CrossCheck(c) => self.cross_check(&signer, tx.hash(), c)?,
            Payload::FinanceRequest(f) => self.finance_request(&signer, tx.hash(), f)?,
            Payload::RegisterSchema(p) => self.register_schema(&signer, p)?,
            Payload::RegisterMember(_) => Err(TxFailure::MissingRole {
                signer: body.signer.clone(),
                role: "genesis",
                kind: "RegisterMember",
            }),
            #[allow(unreachable_patterns)]
            _ => Err(TxFailure::MissingRole {
                signer: body.signer.clone(),
                role: "unknown",
                kind: tx.kind().name(),
            }),
        };
        self.overlay
            .put(keys::nonce(&body.signer), (next + 1).to_be_bytes().to_vec())?;
        match writes {
            Ok(writes) => {
                for (k, v) in writes {
                    self.overlay.put(k, v)?;
                }
                self.outcomes.push(TxOutcome::Applied);
            }
            Err(f) => self.outcomes.push(TxOutcome::Failed(f)),
        }
        Ok(())
    }

    /// An anonymous endorsement: its ring signature verifies against the member ring of
    /// its ring height (unless verified already), and its key image has not endorsed the
    /// topic before. Either failure rejects it: with no nonce to consume, an endorsement
    /// without effect must not take block space.
    fn endorse(&mut self, tx: &Transaction, e: &Endorse) -> Result<(), TxRejection> {
        if !self.cache.is_verified(&tx.hash()) {
            verify_endorsement(&self.overlay, self.chain_id, self.height, e)?;
        }
        let image = e.key_image().ok_or_else(|| TxRejection::BadEndorsement {
            topic: e.topic.clone(),
            reason: "the signature has no key image".into(),
        })?;
        if let Some(earlier) = model::endorsement_by_image(&self.overlay, &e.topic, &image)? {
            return Err(TxRejection::AlreadyEndorsed {
                topic: e.topic.clone(),
                key_image: hex::encode(image),
                earlier_tx: earlier.tx_hash,
                earlier_height: earlier.height,
            });
        }
        let entry = model::Endorsement {
            index: model::endorsement_count(&self.overlay, &e.topic)?,
            height: self.height,
            tx_hash: tx.hash(),
            statement: e.statement,
            key_image: image,
            ring_height: e.ring_height,
        };
        for (k, v) in model::endorsement_writes(&e.topic, &entry) {
            self.overlay.put(k, v)?;
        }
        self.outcomes.push(TxOutcome::Applied);
        Ok(())
    }

    fn put_record(&self, signer: &RegisterMember, tx_hash: Hash, p: &PutRecord) -> Outcome {
        if !signer.has_role(Role::Member) {
            return Ok(Err(TxFailure::MissingRole {
                signer: signer.org.clone(),
                role: Role::Member.name(),
                kind: "PutRecord",
            }));
        }
        let expected = match self.next_version(signer, &p.record)? {
            Ok(v) => v,
            Err(f) => return Ok(Err(f)),
        };
        if p.version != expected {
            return Ok(Err(TxFailure::RecordVersionConflict {
                record: p.record.clone(),
                expected,
                got: p.version,
            }));
        }
        let (version, _schema, events) = match self.check_put(signer, tx_hash, p)? {
            Ok(x) => x,
            Err(f) => return Ok(Err(f)),
        };
        let mut writes = self.version_writes(&version);
        if !events.is_empty() {
            writes.push(model::append_access(&self.overlay, &p.record, events)?);
        }
        Ok(Ok(writes))
    }

    /// The next version of `record` for `signer`: 1 if new, latest + 1 if `signer` owns it.
    fn next_version(
        &self,
        signer: &RegisterMember,
        record: &RecordId,
    ) -> Result<Result<u32, TxFailure>, StateError> {
        Ok(match model::record_head(&self.overlay, record)? {
            None => Ok(1),
            Some(h) if h.owner != signer.org => Err(TxFailure::NotRecordOwner {
                record: record.clone(),
                owner: h.owner,
                signer: signer.org.clone(),
            }),
            Some(h) => Ok(h.latest_version.saturating_add(1)),
        })
    }

    fn version_writes(&self, v: &RecordVersion) -> Writes {
        let head = RecordHead {
            owner: v.owner.clone(),
            latest_version: v.version,
        };
        vec![
            (keys::record_head(&v.record), head.encode()),
            (keys::record_version(&v.record, v.version), v.encode()),
        ]
    }

    /// Checks a record version against its schema, its audit policy and the member
    /// directory; returns what to store and the access events of third-party readers.
    #[allow(clippy::type_complexity)]
    fn check_put(
        &self,
        signer: &RegisterMember,
        tx_hash: Hash,
        p: &PutRecord,
    ) -> Result<Result<(RecordVersion, RegisterSchema, Vec<AccessEvent>), TxFailure>, StateError>
    {
        let Some(schema) = model::schema_version(&self.overlay, &p.schema, p.schema_version)?
        else {
            return Ok(Err(TxFailure::SchemaNotFound {
                record: p.record.clone(),
                schema: p.schema.clone(),
                version: p.schema_version,
            }));
        };
        let mismatch = |reason: String| {
            Ok(Err(TxFailure::RecordDoesNotMatchSchema {
                record: p.record.clone(),
                schema: p.schema.clone(),
                version: p.schema_version,
                reason,
            }))
        };
        for f in &p.fields {
            let Some(decl) = crate::rules::declared(&schema, &f.name) else {
                return mismatch(format!("field {} is not declared", f.name));
            };
            let (min, max) = decl.plaintext_len();
            let len = f.sealed.len().saturating_sub(SEALED_OVERHEAD);
            if len < min || len > max {
                return mismatch(format!(
                    "field {} seals {len} plaintext bytes; a {} value is {min} to {max}",
                    f.name,
                    decl.ty.name()
                ));
            }
        }
        if let Some(missing) = schema
            .fields
            .iter()
            .find(|d| d.required && p.field(&d.name).is_none())
        {
            return mismatch(format!("required field {} is missing", missing.name));
        }
        if let Some(d) = schema
            .fields
            .iter()
            .find(|d| d.committed && p.field(&d.name).is_some() && p.commitment(&d.name).is_none())
        {
            return mismatch(format!("committed field {} carries no commitment", d.name));
        }
        if let Some(c) = p.commitments.iter().find(|c| {
            !schema
                .fields
                .iter()
                .any(|d| d.name == c.field && d.committed)
        }) {
            return mismatch(format!(
                "field {} carries a commitment but the schema does not commit it",
                c.field
            ));
        }
        let readers: BTreeSet<&OrgId> = p.wraps.iter().map(|w| &w.reader).collect();
        for reader in &readers {
            let ok = crate::rules::reader(&self.overlay, reader)?.is_ok();
            if !ok {
                return Ok(Err(TxFailure::UnknownReader {
                    record: p.record.clone(),
                    reader: (*reader).clone(),
                }));
            }
        }
        for f in &p.fields {
            if !p.readers(&f.name).any(|r| r == &signer.org) {
                return Ok(Err(TxFailure::MissingOwnerWrap {
                    record: p.record.clone(),
                    field: f.name.clone(),
                    owner: signer.org.clone(),
                }));
            }
            if let Some(auditor) = schema
                .auditors
                .iter()
                .find(|a| !p.readers(&f.name).any(|r| r == *a))
            {
                return Ok(Err(TxFailure::MissingAuditWrap {
                    record: p.record.clone(),
                    field: f.name.clone(),
                    auditor: auditor.clone(),
                }));
            }
        }
        match (schema.document, &p.document_commitment) {
            (Some(kind), None) => {
                return mismatch(format!(
                    "a {} record carries a document commitment",
                    kind.name()
                ))
            }
            (None, Some(_)) => {
                return mismatch(
                    "the record carries a document commitment but the schema is not a document"
                        .into(),
                )
            }
            (Some(_), Some(c)) => {
                if ledger_circuits::fr_from_bytes(c).is_err() {
                    return mismatch(
                        "the document commitment is not a BN254 scalar below the modulus".into(),
                    );
                }
            }
            (None, None) => {}
        }
        // Committed amounts carry one handle per auditor that holds an audit key, and no
        // other handle (their proofs were checked with the stateless proofs).
        let mut audit_keys = BTreeSet::new();
        for a in &schema.auditors {
            if model::member(&self.overlay, a)?.is_some_and(|m| !m.audit_key.is_empty()) {
                audit_keys.insert(a);
            }
        }
        for c in &p.commitments {
            if let Some(a) = audit_keys.iter().find(|a| {
                !p.audit_handles
                    .iter()
                    .any(|h| h.field == c.field && &h.auditor == **a)
            }) {
                return Ok(Err(TxFailure::MissingAuditHandle {
                    record: p.record.clone(),
                    field: c.field.clone(),
                    auditor: (*a).clone(),
                }));
            }
        }
        if let Some(h) = p
            .audit_handles
            .iter()
            .find(|h| !audit_keys.contains(&h.auditor))
        {
            return mismatch(format!(
                "field {} carries an audit handle for {}, which is not an auditor of the schema with an audit key",
                h.field, h.auditor
            ));
        }
        let events = readers
            .into_iter()
            .filter(|r| **r != signer.org && !schema.auditors.contains(r))
            .map(|r| AccessEvent {
                height: self.height,
                tx_hash,
                action: AccessAction::Put,
                by: signer.org.clone(),
                org: r.clone(),
                version: p.version,
                fields: p
                    .wraps
                    .iter()
                    .filter(|w| &w.reader == r)
                    .map(|w| w.field.clone())
                    .collect(),
            })
            .collect();
        let version = RecordVersion {
            record: p.record.clone(),
            version: p.version,
            owner: signer.org.clone(),
            schema: p.schema.clone(),
            schema_version: p.schema_version,
            tx_hash,
            height: self.height,
            fields: p.fields.clone(),
            wraps: p.wraps.clone(),
            commitments: p.commitments.clone(),
            audit_handles: p.audit_handles.clone(),
            document_commitment: p.document_commitment,
        };
        Ok(Ok((version, schema, events)))
    }

    /// The latest version of a record `signer` owns.
    fn owned_latest(
        &self,
        signer: &RegisterMember,
        record: &RecordId,
        version: u32,
    ) -> Result<Result<RecordVersion, TxFailure>, StateError> {
        let Some(head) = model::record_head(&self.overlay, record)? else {
            return Ok(Err(TxFailure::RecordVersionNotFound {
                record: record.clone(),
                version,
            }));
        };
        if head.owner != signer.org {
            return Ok(Err(TxFailure::NotRecordOwner {
                record: record.clone(),
                owner: head.owner,
                signer: signer.org.clone(),
            }));
        }
        match model::record_version(&self.overlay, record, head.latest_version)? {
            Some(v) => Ok(Ok(v)),
            None => Ok(Err(TxFailure::RecordVersionNotFound {
                record: record.clone(),
                version: head.latest_version,
            })),
        }
    }

    fn grant_access(&self, signer: &RegisterMember, tx_hash: Hash, g: &GrantAccess) -> Outcome {
        let mut current = match self.owned_latest(signer, &g.record, g.version)? {
            Ok(v) => v,
            Err(f) => return Ok(Err(f)),
        };
        if g.version != current.version {
            return Ok(Err(TxFailure::GrantNotCurrent {
                record: g.record.clone(),
                version: g.version,
                latest: current.version,
            }));
        }
        let mut by_reader: BTreeMap<&OrgId, Vec<FieldName>> = BTreeMap::new();
        for w in &g.wraps {
            if current.field(&w.field).is_none() {
                return Ok(Err(TxFailure::FieldNotInRecord {
                    record: g.record.clone(),
                    version: g.version,
                    field: w.field.clone(),
                }));
            }
            if current.can_read(&w.field, &w.reader) {
                return Ok(Err(TxFailure::AlreadyReader {
                    record: g.record.clone(),
                    field: w.field.clone(),
                    reader: w.reader.clone(),
                }));
            }
            by_reader
                .entry(&w.reader)
                .or_default()
                .push(w.field.clone());
        }
        for reader in by_reader.keys() {
            let ok = crate::rules::reader(&self.overlay, reader)?.is_ok();
            if !ok {
                return Ok(Err(TxFailure::UnknownReader {
                    record: g.record.clone(),
                    reader: (*reader).clone(),
                }));
            }
        }
        let events = by_reader
            .into_iter()
            .map(|(org, mut fields)| {
                fields.sort();
                AccessEvent {
                    height: self.height,
                    tx_hash,
                    action: AccessAction::Grant,
                    by: signer.org.clone(),
                    org: org.clone(),
                    version: g.version,
                    fields,
                }
            })
            .collect();
        current.wraps.extend(g.wraps.iter().cloned());
        current
            .wraps
            .sort_by(|a, b| (&a.field, &a.reader).cmp(&(&b.field, &b.reader)));
        Ok(Ok(vec![
            (
                keys::record_version(&current.record, current.version),
                current.encode(),
            ),
            model::append_access(&self.overlay, &g.record, events)?,
        ]))
    }

    fn revoke_access(&self, signer: &RegisterMember, tx_hash: Hash, r: &RevokeAccess) -> Outcome {
        let record = &r.put.record;
        let previous = match self.owned_latest(signer, record, r.put.version.saturating_sub(1))? {
            Ok(v) => v,
            Err(f) => return Ok(Err(f)),
        };
        let expected = previous.version.saturating_add(1);
        if r.put.version != expected {
            return Ok(Err(TxFailure::RecordVersionConflict {
                record: record.clone(),
                expected,
                got: r.put.version,
            }));
        }
        let (version, schema, _) = match self.check_put(signer, tx_hash, &r.put)? {
            Ok(x) => x,
            Err(f) => return Ok(Err(f)),
        };
        let cannot = |reason| {
            Ok(Err(TxFailure::CannotRevoke {
                record: record.clone(),
                org: r.from.clone(),
                reason,
            }))
        };
        if r.from == signer.org {
            return cannot("the owner always reads its own records");
        }
        if schema.auditors.contains(&r.from) {
            return cannot("the schema's audit policy names it");
        }
        for f in &r.fields {
            if !previous.can_read(f, &r.from) {
                return Ok(Err(TxFailure::NotAReader {
                    record: record.clone(),
                    field: f.clone(),
                    reader: r.from.clone(),
                }));
            }
        }
        for w in &previous.wraps {
            let revoked = w.reader == r.from && r.fields.contains(&w.field);
            if !revoked
                && version.field(&w.field).is_some()
                && !version.can_read(&w.field, &w.reader)
            {
                return Ok(Err(TxFailure::ReaderDropped {
                    record: record.clone(),
                    field: w.field.clone(),
                    reader: w.reader.clone(),
                }));
            }
        }
        let event = AccessEvent {
            height: self.height,
            tx_hash,
            action: AccessAction::Revoke,
            by: signer.org.clone(),
            org: r.from.clone(),
            version: r.put.version,
            fields: r.fields.clone(),
        };
        let mut writes = self.version_writes(&version);
        writes.push(model::append_access(&self.overlay, record, vec![event])?);
        Ok(Ok(writes))
    }

    /// The operands' commitments, if every operand names a committed field of a stored
    /// record version (otherwise execution reports which one does not).
    fn operand_commitments(
        &self,
        c: &CrossCheck,
    ) -> Result<Option<Vec<ledger_proofs::Commitment>>, StateError> {
        let mut out = Vec::with_capacity(c.operands.len());
        for o in &c.operands {
            let Some(v) = model::record_version(&self.overlay, &o.record, o.version)? else {
                return Ok(None);
            };
            let Some(fc) = v.commitment(&o.field) else {
                return Ok(None);
            };
            match ledger_proofs::Commitment::from_bytes(&fc.commitment) {
                Ok(cm) => out.push(cm),
                Err(_) => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    fn verify_cross_check(&self, c: &CrossCheck) -> Result<(), TxRejection> {
        if matches!(c.relation, Relation::Invoice | Relation::InvoiceLinked) {
            // A Groth16 statement: see `circuits::statement`.
            return Ok(());
        }
        let Some(commitments) = self.operand_commitments(c)? else {
            return Ok(());
        };
        let ctx = ledger_proofs::Context {
            chain_id: self.chain_id.to_string(),
            items: c
                .operands
                .iter()
                .map(|o| (o.record.to_string(), o.version, o.field.to_string()))
                .collect(),
        };
        let (kind, result) = match &c.relation {
            Relation::Linear(coeffs) => (
                "linear relation",
                ledger_proofs::DlogProof::from_bytes(&c.proof)
                    .and_then(|p| ledger_proofs::verify_linear(&ctx, coeffs, &commitments, &p)),
            ),
            Relation::AtMost => (
                "at-most",
                ledger_proofs::verify_at_most(
                    &ctx,
                    &commitments[0],
                    &commitments[1],
                    &ledger_proofs::RangeProofData {
                        padding: vec![],
                        proof: c.proof.clone(),
                    },
                ),
            ),
            Relation::Invoice | Relation::InvoiceLinked => return Ok(()),
        };
        result.map_err(|e| TxRejection::InvalidProof {
            kind,
            record: c.operands[0].record.clone(),
            reason: e.to_string(),
        })
    }

    fn finance_request(
        &self,
        signer: &RegisterMember,
        tx_hash: Hash,
        f: &ledger_types::FinanceRequest,
    ) -> Outcome {
        let Some(v) = model::record_version(&self.overlay, &f.invoice, f.version)? else {
            return Ok(Err(TxFailure::RecordVersionNotFound {
                record: f.invoice.clone(),
                version: f.version,
            }));
        };
        let doc = crate::circuits::document_of(&self.overlay, &v)?;
        if doc.map(|(k, _)| k) != Some(ledger_types::DocumentKind::Invoice) {
            return Ok(Err(TxFailure::NotADocument {
                record: f.invoice.clone(),
                version: f.version,
                expected: "invoice",
            }));
        }
        let field = FieldName::new(ledger_types::DOCUMENT_FIELD)
            .map_err(|e| StateError::Storage(e.to_string()))?;
        if v.owner != signer.org && !v.can_read(&field, &signer.org) {
            return Ok(Err(TxFailure::NotAReader {
                record: f.invoice.clone(),
                field,
                reader: signer.org.clone(),
            }));
        }
        if let Some(earlier) = model::financing(&self.overlay, &f.nullifier)? {
            return Ok(Err(TxFailure::AlreadyFinanced {
                record: f.invoice.clone(),
                version: f.version,
                earlier_tx: earlier.tx_hash,
                earlier_height: earlier.height,
                by: earlier.by,
            }));
        }
        let entry = model::Financing {
            height: self.height,
            tx_hash,
            by: signer.org.clone(),
            invoice: f.invoice.clone(),
            version: f.version,
        };
        Ok(Ok(vec![(keys::nullifier(&f.nullifier), entry.encode())]))
    }

    fn cross_check(&self, signer: &RegisterMember, tx_hash: Hash, c: &CrossCheck) -> Outcome {
        use ledger_types::DocumentKind as K;
        let documents: Option<&[K]> = match c.relation {
            Relation::Invoice => Some(&[K::Invoice]),
            Relation::InvoiceLinked => Some(&[K::Invoice, K::PurchaseOrder, K::DeliveryNote]),
            _ => None,
        };
        for (i, o) in c.operands.iter().enumerate() {
            let Some(v) = model::record_version(&self.overlay, &o.record, o.version)? else {
                return Ok(Err(TxFailure::RecordVersionNotFound {
                    record: o.record.clone(),
                    version: o.version,
                }));
            };
            if let Some(kinds) = documents {
                let got = crate::circuits::document_of(&self.overlay, &v)?;
                if got.map(|(k, _)| k) != Some(kinds[i]) {
                    return Ok(Err(TxFailure::NotADocument {
                        record: o.record.clone(),
                        version: o.version,
                        expected: kinds[i].name(),
                    }));
                }
            } else if v.commitment(&o.field).is_none() {
                return Ok(Err(TxFailure::FieldNotInRecord {
                    record: o.record.clone(),
                    version: o.version,
                    field: o.field.clone(),
                }));
            }
            if v.owner != signer.org && !v.can_read(&o.field, &signer.org) {
                return Ok(Err(TxFailure::NotAReader {
                    record: o.record.clone(),
                    field: o.field.clone(),
                    reader: signer.org.clone(),
                }));
            }
        }
        let mut writes = Vec::new();
        let mut seen = BTreeSet::new();
        for o in &c.operands {
            if !seen.insert(o.record.clone()) {
                continue;
            }
            let mut checks = model::cross_checks(&self.overlay, &o.record)?;
            checks.push(model::FiledCheck {
                height: self.height,
                tx_hash,
                by: signer.org.clone(),
                check: c.clone(),
            });
            writes.push((keys::checks(&o.record), model::encode_checks(&checks)));
        }
        Ok(Ok(writes))
    }

    fn audit_alert(&self, signer: &RegisterMember, tx_hash: Hash, a: &AuditAlert) -> Outcome {
        if !signer.has_role(Role::Regulator) {
            return Ok(Err(TxFailure::MissingRole {
                signer: signer.org.clone(),
                role: Role::Regulator.name(),
                kind: "AuditAlert",
            }));
        }
        let Some(version) = model::record_version(&self.overlay, &a.record, a.version)? else {
            return Ok(Err(TxFailure::RecordVersionNotFound {
                record: a.record.clone(),
                version: a.version,
            }));
        };
        let auditor =
            model::schema_version(&self.overlay, &version.schema, version.schema_version)?
                .is_some_and(|s| s.auditors.contains(&signer.org));
        if !auditor {
            return Ok(Err(TxFailure::NotAnAuditor {
                record: a.record.clone(),
                signer: signer.org.clone(),
            }));
        }
        if version.field(&a.field).is_none() {
            return Ok(Err(TxFailure::FieldNotInRecord {
                record: a.record.clone(),
                version: a.version,
                field: a.field.clone(),
            }));
        }
        if a.owner != version.owner {
            return Ok(Err(TxFailure::AlertOwnerMismatch {
                record: a.record.clone(),
                owner: version.owner,
                named: a.owner.clone(),
            }));
        }
        let mut alerts = model::audit_alerts(&self.overlay, &a.record)?;
        if alerts.iter().any(|f| {
            f.regulator == signer.org && f.alert.version == a.version && f.alert.field == a.field
        }) {
            return Ok(Err(TxFailure::DuplicateAlert {
                record: a.record.clone(),
                version: a.version,
                field: a.field.clone(),
                signer: signer.org.clone(),
            }));
        }
        alerts.push(FiledAlert {
            height: self.height,
            tx_hash,
            regulator: signer.org.clone(),
            alert: a.clone(),
        });
        Ok(Ok(vec![(
            keys::alerts(&a.record),
            model::encode_alerts(&alerts),
        )]))
    }

    #[allow(clippy::type_complexity)]
    fn register_schema(
        &self,
        signer: &RegisterMember,
        p: &RegisterSchema,
    ) -> Result<Result<Vec<(Vec<u8>, Vec<u8>)>, TxFailure>, StateError> {
        if !signer.has_role(Role::Member) && !signer.has_role(Role::Operator) {
            return Ok(Err(TxFailure::MissingRole {
                signer: signer.org.clone(),
                role: "member or operator",
                kind: "RegisterSchema",
            }));
        }
        let expected = match model::schema_head(&self.overlay, &p.schema)? {
            None => 1,
            Some(h) if h.owner != signer.org => {
                return Ok(Err(TxFailure::NotSchemaOwner {
                    schema: p.schema.clone(),
                    owner: h.owner,
                    signer: signer.org.clone(),
                }))
            }
            Some(h) => h.latest_version.saturating_add(1),
        };
        if p.version != expected {
            return Ok(Err(TxFailure::SchemaVersionConflict {
                schema: p.schema.clone(),
                expected,
                got: p.version,
            }));
        }
        for auditor in &p.auditors {
            let is_regulator =
                model::member(&self.overlay, auditor)?.is_some_and(|m| m.has_role(Role::Regulator));
            if !is_regulator {
                return Ok(Err(TxFailure::AuditorNotRegulator {
                    schema: p.schema.clone(),
                    auditor: auditor.clone(),
                }));
            }
        }
        let head = RecordHead {
            owner: signer.org.clone(),
            latest_version: p.version,
        };
        Ok(Ok(vec![
            (keys::schema_head(&p.schema), head.encode()),
            (keys::schema_version(&p.schema, p.version), encode_schema(p)),
        ]))
    }

    fn finish(self, acc: &LtHash16) -> Execution {
        let accumulator = self.overlay.diff.apply_to(acc);
        Execution {
            diff: self.overlay.diff,
            outcomes: self.outcomes,
            accumulator,
        }
    }
}

fn check_nonce(signer: &OrgId, got: u64, next: u64) -> Result<(), TxRejection> {
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

/// Verifies an endorsement's ring signature against the member ring in force at its ring
/// height, for a block at `height` (the ring height must be below it: a committed ring).
pub fn verify_endorsement<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    height: u64,
    e: &Endorse,
) -> Result<(), TxRejection> {
    let mut batch = ledger_crypto::ring::RingBatch::new();
    let members = add_endorsement(view, chain_id, height, e, &mut batch)?;
    batch.verify().map_err(|err| {
        bad_endorsement(
            e,
            format!(
                "the ring signature does not verify against the {members}-member ring of height {}: {}",
                e.ring_height,
                ring_reason(err)
            ),
        )
    })
}

/// What was wrong with a ring signature, without the error's own prefix.
fn ring_reason(err: ledger_crypto::CryptoError) -> String {
    match err {
        ledger_crypto::CryptoError::InvalidRingSignature { reason } => reason,
        other => other.to_string(),
    }
}

fn bad_endorsement(e: &Endorse, reason: String) -> TxRejection {
    TxRejection::BadEndorsement {
        topic: e.topic.clone(),
        reason,
    }
}

/// Adds an endorsement's ring signature to `batch`, against the member ring of its ring
/// height (returns the ring's size); refuses at once what cannot verify whatever the rest
/// of the batch.
fn add_endorsement<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    height: u64,
    e: &Endorse,
    batch: &mut ledger_crypto::ring::RingBatch,
) -> Result<usize, TxRejection> {
    let bad = |reason: String| bad_endorsement(e, reason);
    if e.ring_height >= height {
        return Err(bad(format!(
            "ring height {} is not below the block height {height}: only a committed ring signs",
            e.ring_height
        )));
    }
    let ring = model::member_ring(view, e.ring_height)?
        .map(|r| r.keys)
        .ok_or_else(|| bad(format!("no member ring at height {}", e.ring_height)))?;
    let sig = ledger_crypto::ring::RingSignature::from_bytes(&e.signature)
        .map_err(|err| bad(format!("malformed ring signature: {}", ring_reason(err))))?;
    batch
        .add(
            chain_id.as_str(),
            e.topic.as_str().as_bytes(),
            &e.message(),
            &ring,
            &sig,
        )
        .map_err(|err| {
            bad(format!(
                "the ring signature does not verify against the {}-member ring of height {}: {}",
                ring.len(),
                e.ring_height,
                ring_reason(err)
            ))
        })?;
    Ok(ring.len())
}

/// Signs an anonymous endorsement of `statement` on `topic` with `secret`, for `ring`, the
/// member ring in force at `ring_height` (which must hold the secret's public key).
pub fn sign_endorsement(
    chain_id: &ChainId,
    ring: &[[u8; 32]],
    ring_height: u64,
    topic: &ledger_types::Topic,
    statement: [u8; 32],
    secret: &ledger_crypto::ring::RingSecret,
) -> Result<Transaction, TxRejection> {
    let bad = |reason: String| TxRejection::BadEndorsement {
        topic: topic.clone(),
        reason,
    };
    let index = ring
        .iter()
        .position(|k| *k == secret.public())
        .ok_or_else(|| {
            bad(format!(
                "this ring key is not in the {}-member ring of height {ring_height}",
                ring.len()
            ))
        })?;
    let signature = ledger_crypto::ring::ring_sign(
        chain_id.as_str(),
        topic.as_str().as_bytes(),
        &Endorse::message_for(&statement, ring_height),
        ring,
        index,
        secret,
    )
    .map_err(|e| bad(e.to_string()))?
    .to_bytes();
    Ok(Transaction::anonymous(
        chain_id.clone(),
        Endorse {
            topic: topic.clone(),
            statement,
            ring_height,
            signature,
        },
    ))
}

/// Checks the signatures and stateless proofs of `txs` on all cores and returns the hashes
/// of those that verify under their signer's registered key (keys cannot change after
/// genesis, so the state before the block decides). Execution then skips them and checks
/// the others again, in order, naming the failure.
///
/// Each core checks its share of the proofs as one batch (one multiscalar multiplication,
/// see `ledger_proofs::BatchVerifier`); only if a batch fails are its proofs checked one
/// by one, to find which transactions carry the bad ones.
pub fn preverify<V: StateView + Sync>(
    view: &V,
    chain_id: &ChainId,
    height: u64,
    txs: &[&Transaction],
) -> std::collections::HashSet<Hash> {
    if txs.is_empty() {
        return Default::default();
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(txs.len());
    let chunk = txs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = txs
            .chunks(chunk)
            .map(|part| s.spawn(move || preverify_part(view, chain_id, height, part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn preverify_part<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    height: u64,
    part: &[&Transaction],
) -> Vec<Hash> {
    // Anonymous endorsements: their ring signature is their signature. One batch (one
    // multiscalar multiplication) for this core's share; one by one if it fails.
    let mut rings = ledger_crypto::ring::RingBatch::new();
    let endorsements: Vec<(Hash, &Endorse)> = part
        .iter()
        .filter_map(|t| match &t.body().payload {
            Payload::Endorse(e) => add_endorsement(view, chain_id, height, e, &mut rings)
                .ok()
                .map(|_| (t.hash(), e)),
            _ => None,
        })
        .collect();
    let endorsed: Vec<Hash> = if rings.verify().is_ok() {
        endorsements.into_iter().map(|(h, _)| h).collect()
    } else {
        endorsements
            .into_iter()
            .filter(|(_, e)| verify_endorsement(view, chain_id, height, e).is_ok())
            .map(|(h, _)| h)
            .collect()
    };
    let signed: Vec<&Transaction> = part
        .iter()
        .copied()
        .filter(|t| {
            model::member(view, &t.body().signer)
                .ok()
                .flatten()
                .is_some_and(|m| verify_tx_signature(t, &m.signing_key).is_ok())
        })
        .collect();
    let mut batch = ledger_proofs::BatchVerifier::new();
    let mut batched = Vec::with_capacity(signed.len());
    for t in &signed {
        if add_proofs(view, chain_id, t, &mut batch, false).is_ok() {
            batched.push(t.hash());
        }
    }
    let mut out = if batch.verify().is_ok() {
        batched
    } else {
        signed
            .iter()
            .filter(|t| verify_proofs(view, chain_id, t).is_ok())
            .map(|t| t.hash())
            .collect()
    };
    // Groth16 proofs whose records are already stored: verified here, on this core, as one
    // batch (one final exponentiation), and named by their statement key so that
    // execution can skip exactly those. A failing batch is checked one by one.
    let mut statements = Vec::new();
    for t in &signed {
        if let Ok(Some(st)) = crate::circuits::statement(view, chain_id, t) {
            if let Ok(Some(vk)) = crate::circuits::verifying_key(view, st.circuit) {
                statements.push((*t, st, vk));
            }
        }
    }
    let items: Vec<(
        &ledger_circuits::VerifyingKey,
        &[ledger_circuits::Fr],
        &[u8],
    )> = statements
        .iter()
        .map(|(_, st, vk)| (vk.as_ref(), st.inputs.as_slice(), st.proof))
        .collect();
    if ledger_circuits::verify_batch(&items).is_ok() {
        out.extend(
            statements
                .iter()
                .map(|(t, st, _)| crate::circuits::statement_key(t, st)),
        );
    } else {
        for (t, st, _) in &statements {
            if crate::circuits::verify(view, st).is_ok() {
                out.push(crate::circuits::statement_key(t, st));
            }
        }
    }
    out.extend(endorsed);
    out
}

/// Verifies the proofs a transaction carries, which depend on nothing but the transaction,
/// the chain and the members' registered keys: a record's range proof over its
/// commitments, bound to the chain and to each commitment's record, version and field.
/// (Which fields must be committed is a matter of the schema, checked at execution.)
pub fn verify_proofs<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    tx: &Transaction,
) -> Result<(), TxRejection> {
    add_proofs(
        view,
        chain_id,
        tx,
        &mut ledger_proofs::BatchVerifier::new(),
        true,
    )
}

/// Adds a transaction's stateless proofs to `batch`; refuses malformed ones at once.
/// With `each`, every proof is checked as soon as it is added (so that a failure names
/// its proof).
fn add_proofs<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    tx: &Transaction,
    batch: &mut ledger_proofs::BatchVerifier,
    each: bool,
) -> Result<(), TxRejection> {
    let put = match &tx.body().payload {
        Payload::PutRecord(p) => p,
        Payload::RevokeAccess(r) => &r.put,
        _ => return Ok(()),
    };
    let Some(range) = &put.range_proof else {
        return Ok(());
    };
    let bad = |reason: String| TxRejection::InvalidProof {
        kind: "range",
        record: put.record.clone(),
        reason,
    };
    let ctx = ledger_proofs::Context {
        chain_id: chain_id.to_string(),
        items: put
            .commitments
            .iter()
            .map(|c| (put.record.to_string(), put.version, c.field.to_string()))
            .collect(),
    };
    let parse =
        |b: &[u8; 32]| ledger_proofs::Commitment::from_bytes(b).map_err(|e| bad(e.to_string()));
    let commitments = put
        .commitments
        .iter()
        .map(|c| parse(&c.commitment))
        .collect::<Result<Vec<_>, _>>()?;
    let data = ledger_proofs::RangeProofData {
        padding: range
            .padding
            .iter()
            .map(parse)
            .collect::<Result<Vec<_>, _>>()?,
        proof: range.proof.clone(),
    };
    batch
        .add_range(&ctx, &commitments, &data)
        .map_err(|e| bad(e.to_string()))?;
    if each {
        std::mem::take(batch)
            .verify()
            .map_err(|_| bad("range proof does not verify".into()))?;
    }
    for h in &put.audit_handles {
        let bad = |reason: String| TxRejection::InvalidProof {
            kind: "audit handle",
            record: put.record.clone(),
            reason: format!("field {} for auditor {}: {reason}", h.field, h.auditor),
        };
        let Some(i) = put.commitments.iter().position(|c| c.field == h.field) else {
            return Err(bad("the field carries no commitment".into()));
        };
        let key = model::member(view, &h.auditor)?
            .filter(|m| !m.audit_key.is_empty())
            .ok_or_else(|| bad("the auditor has no registered audit key".into()))?;
        let key =
            ledger_proofs::AuditKey::from_bytes(&key.audit_key).map_err(|e| bad(e.to_string()))?;
        let ctx = ledger_proofs::Context {
            chain_id: chain_id.to_string(),
            items: vec![(put.record.to_string(), put.version, h.field.to_string())],
        };
        let proof =
            ledger_proofs::HandleProof::from_bytes(&h.proof).map_err(|e| bad(e.to_string()))?;
        batch
            .add_audit_handle(
                &ctx,
                &commitments[i],
                &key,
                &ledger_proofs::Handle::from_bytes(&h.handle),
                &proof,
            )
            .map_err(|e| bad(e.to_string()))?;
        if each {
            std::mem::take(batch)
                .verify()
                .map_err(|_| bad("the handle proof does not verify".into()))?;
        }
    }
    Ok(())
}

/// Checks a transaction against committed state without applying it: what the mempool asks
/// before admitting. `Ok(Some(failure))` means it would be included but have no effect.
pub fn precheck_tx<V: StateView, C: SignatureCache>(
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

/// Why `m` may not register `key` (its `name`), if it may not: only holders of `role`
/// register one, and it must pass `usable`. An empty key is no key.
fn role_key_problem(
    m: &RegisterMember,
    key: &[u8],
    role: Role,
    name: &str,
    usable: impl Fn(&[u8]) -> Result<(), String>,
) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    if !m.has_role(role) {
        return Some(format!(
            "with the {name} of {}, which is not a {}",
            m.org,
            role.name()
        ));
    }
    usable(key)
        .err()
        .map(|e| format!("with an unusable {name} for {}: {e}", m.org))
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
    execute_genesis_with_circuits(view, chain_id, txs, &[])
}

/// [`execute_genesis`] that also fixes the chain's circuit verifying keys (name,
/// compressed key): they are written to `circuit/{name}`, so the genesis state root, and
/// with it the genesis block hash, commits to them.
pub fn execute_genesis_with_circuits<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    txs: &[Transaction],
    circuits: &[(String, Vec<u8>)],
) -> Result<Execution, BlockError> {
    let bad = |index: usize, tx: &Transaction, reason: TxRejection| BlockError::InvalidTx {
        height: 0,
        index,
        tx: tx.hash(),
        reason: Box::new(reason),
    };
    let mut overlay = Overlay {
        base: view,
        diff: StateDiff::default(),
    };
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
        let not_allowed = |context: String| TxRejection::NotAllowed {
            kind: "RegisterMember",
            context,
        };
        if m.org != body.signer {
            return Err(bad(
                i,
                tx,
                not_allowed(format!(
                    "signed by {} for {}: each member signs its own registration",
                    body.signer, m.org
                )),
            ));
        }
        if m.org.as_str() == GENESIS_PROPOSER {
            return Err(bad(
                i,
                tx,
                not_allowed("for the reserved name \"genesis\"".into()),
            ));
        }
        if model::member(&overlay, &m.org)?.is_some() {
            return Err(bad(i, tx, not_allowed(format!("twice for {}", m.org))));
        }
        let audit = role_key_problem(m, &m.audit_key, Role::Regulator, "audit key", |k| {
            ledger_proofs::AuditKey::from_bytes(k)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        let ring_key = role_key_problem(m, &m.ring_key, Role::Member, "ring key", |k| {
            ledger_crypto::ring::check_ring_key(k).map_err(|e| e.to_string())
        });
        if let Some(why) = audit.or(ring_key) {
            return Err(bad(i, tx, not_allowed(why)));
        }
        if !m.ring_key.is_empty() && ring.values().any(|k| k.as_slice() == m.ring_key) {
            return Err(bad(
                i,
                tx,
                not_allowed(format!("with the ring key of another member for {}", m.org)),
            ));
        }
        check_nonce(&body.signer, body.nonce, 0).map_err(|r| bad(i, tx, r))?;
        verify_tx_signature(tx, &m.signing_key).map_err(|e| {
            bad(
                i,
                tx,
                TxRejection::BadSignature {
                    signer: body.signer.clone(),
                    reason: e.to_string(),
                },
            )
        })?;
        if m.has_role(Role::Validator) {
            validators.insert(m.org.clone());
        }
        if let Ok(k) = <[u8; 32]>::try_from(m.ring_key.as_slice()) {
            ring.insert(m.org.clone(), k);
        }
        overlay.put(keys::member(&m.org), encode_member(m))?;
        overlay.put(keys::nonce(&m.org), 1u64.to_be_bytes().to_vec())?;
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
    let accumulator = overlay.diff.apply_to(&LtHash16::new());
    Ok(Execution {
        diff: overlay.diff,
        outcomes,
        accumulator,
    })
}

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
pub fn build_block<V: StateView, C: SignatureCache>(
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
        tx_root: tx_root(HashSuite::CURRENT, &hashes),
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
pub fn execute_block<V: StateView, C: SignatureCache>(
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
    let proposer = model::member(view, &h.proposer)?;
    if !proposer.is_some_and(|m| m.has_role(Role::Validator)) {
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
    let set = model::validators(view)?;
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
