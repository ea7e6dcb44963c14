//! Executing transactions against a state view: the executor, the payload handlers and
//! endorsements. Blocks are built and checked in `crate::block`, genesis in
//! `crate::genesis`.

use std::collections::{BTreeMap, BTreeSet};

use ledger_crypto::{verify_tx_signature, LtHash16};
use ledger_types::record::SEALED_OVERHEAD;
use ledger_types::{
    AuditAlert, ChainId, Endorse, FieldName, GrantAccess, Hash, OrgId, Payload, PutRecord,
    RecordId, RegisterMember, RegisterSchema, RevokeAccess, Role, Transaction,
};
use ledger_types::{CrossCheck, Relation};

use crate::error::{ExecError, StateError, TxFailure, TxRejection};
use crate::model::{
    self, encode_schema, AccessAction, AccessEvent, FiledAlert, RecordHead, RecordVersion,
};

type Writes = Vec<(Vec<u8>, Vec<u8>)>;
/// A payload's effect: the writes, or why it has none (or cannot be in a block).
type Outcome = Result<Writes, ExecError>;
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

/// Applies transactions one after another on an overlay of the state before the block.
pub(crate) struct Executor<'v, V: StateView, C: SignatureCache> {
    overlay: Overlay<'v, V>,
    chain_id: &'v ChainId,
    height: u64,
    cache: &'v C,
    outcomes: Vec<TxOutcome>,
}

impl<'v, V: StateView, C: SignatureCache> Executor<'v, V, C> {
    /// An executor for the block at `height` on `view`.
    pub(crate) fn new(view: &'v V, chain_id: &'v ChainId, height: u64, cache: &'v C) -> Self {
        Self {
            overlay: Overlay::new(view),
            chain_id,
            height,
            cache,
            outcomes: Vec::new(),
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
            Payload::PutRecord(p) => self.put_record(&signer, tx.hash(), p),
            Payload::GrantAccess(g) => self.grant_access(&signer, tx.hash(), g),
            Payload::RevokeAccess(r) => self.revoke_access(&signer, tx.hash(), r),
            Payload::AuditAlert(a) => self.audit_alert(&signer, tx.hash(), a),
            Payload::CrossCheck(c) => self.cross_check(&signer, tx.hash(), c),
            Payload::FinanceRequest(f) => self.finance_request(&signer, tx.hash(), f),
            Payload::RegisterSchema(p) => self.register_schema(&signer, p),
            Payload::RegisterMember(_) => Err(TxFailure::MissingRole {
                signer: body.signer.clone(),
                role: "genesis",
                kind: "RegisterMember",
            }
            .into()),
            #[allow(unreachable_patterns)]
            _ => Err(TxFailure::MissingRole {
                signer: body.signer.clone(),
                role: "unknown",
                kind: tx.kind().name(),
            }
            .into()),
        };
        let outcome = match writes {
            Ok(writes) => Ok(writes),
            Err(ExecError::Failed(f)) => Err(f),
            Err(ExecError::Rejected(r)) => return Err(r),
            Err(ExecError::State(e)) => return Err(e.into()),
        };
        self.overlay
            .put(keys::nonce(&body.signer), (next + 1).to_be_bytes().to_vec())?;
        match outcome {
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
            return Err(TxFailure::MissingRole {
                signer: signer.org.clone(),
                role: Role::Member.name(),
                kind: "PutRecord",
            }
            .into());
        }
        let expected = self.next_version(signer, &p.record)?;
        if p.version != expected {
            return Err(TxFailure::RecordVersionConflict {
                record: p.record.clone(),
                expected,
                got: p.version,
            }
            .into());
        }
        let (version, _schema, events) = self.check_put(signer, tx_hash, p)?;
        let mut writes = self.version_writes(&version);
        if !events.is_empty() {
            writes.push(model::append_access(&self.overlay, &p.record, events)?);
        }
        Ok(writes)
    }

    /// The next version of `record` for `signer`: 1 if new, latest + 1 if `signer` owns it.
    fn next_version(&self, signer: &RegisterMember, record: &RecordId) -> Result<u32, ExecError> {
        match model::record_head(&self.overlay, record)? {
            None => Ok(1),
            Some(h) if h.owner != signer.org => Err(TxFailure::NotRecordOwner {
                record: record.clone(),
                owner: h.owner,
                signer: signer.org.clone(),
            }
            .into()),
            Some(h) => Ok(h.latest_version.saturating_add(1)),
        }
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
    fn check_put(
        &self,
        signer: &RegisterMember,
        tx_hash: Hash,
        p: &PutRecord,
    ) -> Result<(RecordVersion, RegisterSchema, Vec<AccessEvent>), ExecError> {
        let Some(schema) = model::schema_version(&self.overlay, &p.schema, p.schema_version)?
        else {
            return Err(TxFailure::SchemaNotFound {
                record: p.record.clone(),
                schema: p.schema.clone(),
                version: p.schema_version,
            }
            .into());
        };
        let mismatch = |reason: String| {
            Err(TxFailure::RecordDoesNotMatchSchema {
                record: p.record.clone(),
                schema: p.schema.clone(),
                version: p.schema_version,
                reason,
            }
            .into())
        };
        for f in &p.fields {
            let Some(decl) = schema.fields.iter().find(|d| d.name == f.name) else {
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
            let ok =
                model::member(&self.overlay, reader)?.is_some_and(|m| !m.encryption_key.is_empty());
            if !ok {
                return Err(TxFailure::UnknownReader {
                    record: p.record.clone(),
                    reader: (*reader).clone(),
                }
                .into());
            }
        }
        for f in &p.fields {
            if !p.readers(&f.name).any(|r| r == &signer.org) {
                return Err(TxFailure::MissingOwnerWrap {
                    record: p.record.clone(),
                    field: f.name.clone(),
                    owner: signer.org.clone(),
                }
                .into());
            }
            if let Some(auditor) = schema
                .auditors
                .iter()
                .find(|a| !p.readers(&f.name).any(|r| r == *a))
            {
                return Err(TxFailure::MissingAuditWrap {
                    record: p.record.clone(),
                    field: f.name.clone(),
                    auditor: auditor.clone(),
                }
                .into());
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
                return Err(TxFailure::MissingAuditHandle {
                    record: p.record.clone(),
                    field: c.field.clone(),
                    auditor: (*a).clone(),
                }
                .into());
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
        Ok((version, schema, events))
    }

    /// The latest version of a record `signer` owns.
    fn owned_latest(
        &self,
        signer: &RegisterMember,
        record: &RecordId,
        version: u32,
    ) -> Result<RecordVersion, ExecError> {
        let Some(head) = model::record_head(&self.overlay, record)? else {
            return Err(TxFailure::RecordVersionNotFound {
                record: record.clone(),
                version,
            }
            .into());
        };
        if head.owner != signer.org {
            return Err(TxFailure::NotRecordOwner {
                record: record.clone(),
                owner: head.owner,
                signer: signer.org.clone(),
            }
            .into());
        }
        match model::record_version(&self.overlay, record, head.latest_version)? {
            Some(v) => Ok(v),
            None => Err(TxFailure::RecordVersionNotFound {
                record: record.clone(),
                version: head.latest_version,
            }
            .into()),
        }
    }

    fn grant_access(&self, signer: &RegisterMember, tx_hash: Hash, g: &GrantAccess) -> Outcome {
        let mut current = self.owned_latest(signer, &g.record, g.version)?;
        if g.version != current.version {
            return Err(TxFailure::GrantNotCurrent {
                record: g.record.clone(),
                version: g.version,
                latest: current.version,
            }
            .into());
        }
        let mut by_reader: BTreeMap<&OrgId, Vec<FieldName>> = BTreeMap::new();
        for w in &g.wraps {
            if current.field(&w.field).is_none() {
                return Err(TxFailure::FieldNotInRecord {
                    record: g.record.clone(),
                    version: g.version,
                    field: w.field.clone(),
                }
                .into());
            }
            if current.can_read(&w.field, &w.reader) {
                return Err(TxFailure::AlreadyReader {
                    record: g.record.clone(),
                    field: w.field.clone(),
                    reader: w.reader.clone(),
                }
                .into());
            }
            by_reader
                .entry(&w.reader)
                .or_default()
                .push(w.field.clone());
        }
        for reader in by_reader.keys() {
            let ok =
                model::member(&self.overlay, reader)?.is_some_and(|m| !m.encryption_key.is_empty());
            if !ok {
                return Err(TxFailure::UnknownReader {
                    record: g.record.clone(),
                    reader: (*reader).clone(),
                }
                .into());
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
        Ok(vec![
            (
                keys::record_version(&current.record, current.version),
                current.encode(),
            ),
            model::append_access(&self.overlay, &g.record, events)?,
        ])
    }

    fn revoke_access(&self, signer: &RegisterMember, tx_hash: Hash, r: &RevokeAccess) -> Outcome {
        let record = &r.put.record;
        let previous = self.owned_latest(signer, record, r.put.version.saturating_sub(1))?;
        let expected = previous.version.saturating_add(1);
        if r.put.version != expected {
            return Err(TxFailure::RecordVersionConflict {
                record: record.clone(),
                expected,
                got: r.put.version,
            }
            .into());
        }
        let (version, schema, _) = self.check_put(signer, tx_hash, &r.put)?;
        let cannot = |reason| {
            Err(TxFailure::CannotRevoke {
                record: record.clone(),
                org: r.from.clone(),
                reason,
            }
            .into())
        };
        if r.from == signer.org {
            return cannot("the owner always reads its own records");
        }
        if schema.auditors.contains(&r.from) {
            return cannot("the schema's audit policy names it");
        }
        for f in &r.fields {
            if !previous.can_read(f, &r.from) {
                return Err(TxFailure::NotAReader {
                    record: record.clone(),
                    field: f.clone(),
                    reader: r.from.clone(),
                }
                .into());
            }
        }
        for w in &previous.wraps {
            let revoked = w.reader == r.from && r.fields.contains(&w.field);
            if !revoked
                && version.field(&w.field).is_some()
                && !version.can_read(&w.field, &w.reader)
            {
                return Err(TxFailure::ReaderDropped {
                    record: record.clone(),
                    field: w.field.clone(),
                    reader: w.reader.clone(),
                }
                .into());
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
        Ok(writes)
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
            return Err(TxFailure::RecordVersionNotFound {
                record: f.invoice.clone(),
                version: f.version,
            }
            .into());
        };
        let doc = crate::circuits::document_of(&self.overlay, &v)?;
        if doc.map(|(k, _)| k) != Some(ledger_types::DocumentKind::Invoice) {
            return Err(TxFailure::NotADocument {
                record: f.invoice.clone(),
                version: f.version,
                expected: "invoice",
            }
            .into());
        }
        let field = FieldName::new(ledger_types::DOCUMENT_FIELD)
            .map_err(|e| StateError::Storage(e.to_string()))?;
        if v.owner != signer.org && !v.can_read(&field, &signer.org) {
            return Err(TxFailure::NotAReader {
                record: f.invoice.clone(),
                field,
                reader: signer.org.clone(),
            }
            .into());
        }
        if let Some(earlier) = model::financing(&self.overlay, &f.nullifier)? {
            return Err(TxFailure::AlreadyFinanced {
                record: f.invoice.clone(),
                version: f.version,
                earlier_tx: earlier.tx_hash,
                earlier_height: earlier.height,
                by: earlier.by,
            }
            .into());
        }
        let entry = model::Financing {
            height: self.height,
            tx_hash,
            by: signer.org.clone(),
            invoice: f.invoice.clone(),
            version: f.version,
        };
        Ok(vec![(keys::nullifier(&f.nullifier), entry.encode())])
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
                return Err(TxFailure::RecordVersionNotFound {
                    record: o.record.clone(),
                    version: o.version,
                }
                .into());
            };
            if let Some(kinds) = documents {
                let got = crate::circuits::document_of(&self.overlay, &v)?;
                if got.map(|(k, _)| k) != Some(kinds[i]) {
                    return Err(TxFailure::NotADocument {
                        record: o.record.clone(),
                        version: o.version,
                        expected: kinds[i].name(),
                    }
                    .into());
                }
            } else if v.commitment(&o.field).is_none() {
                return Err(TxFailure::FieldNotInRecord {
                    record: o.record.clone(),
                    version: o.version,
                    field: o.field.clone(),
                }
                .into());
            }
            if v.owner != signer.org && !v.can_read(&o.field, &signer.org) {
                return Err(TxFailure::NotAReader {
                    record: o.record.clone(),
                    field: o.field.clone(),
                    reader: signer.org.clone(),
                }
                .into());
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
        Ok(writes)
    }

    fn audit_alert(&self, signer: &RegisterMember, tx_hash: Hash, a: &AuditAlert) -> Outcome {
        if !signer.has_role(Role::Regulator) {
            return Err(TxFailure::MissingRole {
                signer: signer.org.clone(),
                role: Role::Regulator.name(),
                kind: "AuditAlert",
            }
            .into());
        }
        let Some(version) = model::record_version(&self.overlay, &a.record, a.version)? else {
            return Err(TxFailure::RecordVersionNotFound {
                record: a.record.clone(),
                version: a.version,
            }
            .into());
        };
        let auditor =
            model::schema_version(&self.overlay, &version.schema, version.schema_version)?
                .is_some_and(|s| s.auditors.contains(&signer.org));
        if !auditor {
            return Err(TxFailure::NotAnAuditor {
                record: a.record.clone(),
                signer: signer.org.clone(),
            }
            .into());
        }
        if version.field(&a.field).is_none() {
            return Err(TxFailure::FieldNotInRecord {
                record: a.record.clone(),
                version: a.version,
                field: a.field.clone(),
            }
            .into());
        }
        if a.owner != version.owner {
            return Err(TxFailure::AlertOwnerMismatch {
                record: a.record.clone(),
                owner: version.owner,
                named: a.owner.clone(),
            }
            .into());
        }
        let mut alerts = model::audit_alerts(&self.overlay, &a.record)?;
        if alerts.iter().any(|f| {
            f.regulator == signer.org && f.alert.version == a.version && f.alert.field == a.field
        }) {
            return Err(TxFailure::DuplicateAlert {
                record: a.record.clone(),
                version: a.version,
                field: a.field.clone(),
                signer: signer.org.clone(),
            }
            .into());
        }
        alerts.push(FiledAlert {
            height: self.height,
            tx_hash,
            regulator: signer.org.clone(),
            alert: a.clone(),
        });
        Ok(vec![(
            keys::alerts(&a.record),
            model::encode_alerts(&alerts),
        )])
    }

    fn register_schema(&self, signer: &RegisterMember, p: &RegisterSchema) -> Outcome {
        if !signer.has_role(Role::Member) && !signer.has_role(Role::Operator) {
            return Err(TxFailure::MissingRole {
                signer: signer.org.clone(),
                role: "member or operator",
                kind: "RegisterSchema",
            }
            .into());
        }
        let expected = match model::schema_head(&self.overlay, &p.schema)? {
            None => 1,
            Some(h) if h.owner != signer.org => {
                return Err(TxFailure::NotSchemaOwner {
                    schema: p.schema.clone(),
                    owner: h.owner,
                    signer: signer.org.clone(),
                }
                .into())
            }
            Some(h) => h.latest_version.saturating_add(1),
        };
        if p.version != expected {
            return Err(TxFailure::SchemaVersionConflict {
                schema: p.schema.clone(),
                expected,
                got: p.version,
            }
            .into());
        }
        for auditor in &p.auditors {
            let is_regulator =
                model::member(&self.overlay, auditor)?.is_some_and(|m| m.has_role(Role::Regulator));
            if !is_regulator {
                return Err(TxFailure::AuditorNotRegulator {
                    schema: p.schema.clone(),
                    auditor: auditor.clone(),
                }
                .into());
            }
        }
        let head = RecordHead {
            owner: signer.org.clone(),
            latest_version: p.version,
        };
        Ok(vec![
            (keys::schema_head(&p.schema), head.encode()),
            (keys::schema_version(&p.schema, p.version), encode_schema(p)),
        ])
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
pub(crate) fn add_endorsement<V: StateView>(
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
pub(crate) fn add_proofs<V: StateView>(
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
