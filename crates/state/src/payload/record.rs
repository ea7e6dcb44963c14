//! `PutRecord`: a member writes a new record, or the next version of one it owns. The
//! version must fit its schema (declared fields, plaintext sizes, required and committed
//! fields, document commitment), wrap every field to its owner and to every auditor the
//! schema names, and carry an audit handle per committed field for every auditor with an
//! audit key. Third-party readers are logged in the record's access history.
//!
//! The checks of a record version are shared with `RevokeAccess`, which writes one
//! ([`check_put`], [`version_writes`], [`owned_latest`]), and so are its stateless proofs
//! ([`add_proofs`]: the range proof over its commitments and the audit handles' proofs).

use std::collections::BTreeSet;

use ledger_types::record::SEALED_OVERHEAD;
use ledger_types::{
    ChainId, Hash, OrgId, PutRecord, RecordId, RegisterMember, RegisterSchema, Role,
};

use super::{Ctx, PayloadHandler, Writes};
use crate::error::{ExecError, TxFailure, TxRejection};
use crate::model::{self, AccessAction, AccessEvent, RecordHead, RecordVersion};
use crate::{keys, rules, StateView};

impl PayloadHandler for PutRecord {
    fn check_stateful<V: StateView>(&self, ctx: &Ctx<'_, V>) -> Result<(), TxRejection> {
        check_fhe_amounts(ctx, self)
    }

    fn execute<V: StateView>(
        &self,
        ctx: &Ctx<'_, V>,
        signer: &RegisterMember,
        tx_hash: Hash,
    ) -> Result<Writes, ExecError> {
        let expected = next_version(ctx, signer, &self.record)?;
        if self.version != expected {
            return Err(TxFailure::RecordVersionConflict {
                record: self.record.clone(),
                expected,
                got: self.version,
            }
            .into());
        }
        let (version, _schema, events) = check_put(ctx, signer, tx_hash, self)?;
        let mut writes = version_writes(&version);
        writes.extend(fhe_writes(ctx, signer, tx_hash, self)?);
        if !events.is_empty() {
            writes.extend(model::append_access(ctx.view, &self.record, &events)?);
        }
        Ok(writes)
    }
}

/// The encrypted (`fhe`) amounts of a record version: on a chain with analytics, one for
/// each `fhe` field the version carries and no other, each proven for this version and
/// field (a forged, replayed or missing one refuses the transaction); on a chain without,
/// none. (A version whose schema is unknown is refused when it executes.)
pub(super) fn check_fhe_amounts<V: StateView>(
    ctx: &Ctx<'_, V>,
    p: &PutRecord,
) -> Result<(), TxRejection> {
    let bad = |reason: String| TxRejection::InvalidProof {
        kind: "encrypted field",
        record: p.record.clone(),
        reason,
    };
    let Some(schema) = model::schema_version(ctx.view, &p.schema, p.schema_version)? else {
        return Ok(());
    };
    for a in &p.fhe_amounts {
        if !rules::declared(&schema, &a.field).is_some_and(|d| d.fhe) {
            return Err(bad(format!(
                "field {} carries an encrypted value but schema {} version {} does not flag it fhe",
                a.field, p.schema, p.schema_version
            )));
        }
    }
    for d in schema.fields.iter().filter(|d| d.fhe) {
        if p.field(&d.name).is_none() {
            continue;
        }
        let Some(a) = p.fhe_amounts.iter().find(|a| a.field == d.name) else {
            return Err(bad(format!(
                "field {} is flagged fhe: the version carries its value encrypted under the chain's analytics key",
                d.name
            )));
        };
        let Some(c) = model::analytics_config(ctx.view)? else {
            return Err(bad(
                "this chain has no analytics key: a record carries no encrypted value".into(),
            ));
        };
        crate::analytics::check_encrypted(
            &c.keys_id,
            &a.amount,
            &crate::analytics::field_amount_context(ctx.chain_id, p, &d.name),
        )
        .map_err(|e| bad(format!("field {}: {e}", d.name)))?;
    }
    Ok(())
}

/// The writes that list a record version's encrypted (`fhe`) amounts under its owner, for
/// field-total questions.
pub(super) fn fhe_writes<V: StateView>(
    ctx: &Ctx<'_, V>,
    signer: &RegisterMember,
    tx_hash: Hash,
    p: &PutRecord,
) -> Result<Writes, ExecError> {
    let mut writes = Writes::new();
    for a in &p.fhe_amounts {
        writes.extend(model::append_field_entry(
            ctx.view,
            &signer.org,
            &p.schema,
            &a.field,
            &model::FieldEntry {
                record: p.record.clone(),
                version: p.version,
                tx: tx_hash,
            },
        )?);
    }
    Ok(writes)
}

/// The next version of `record` for `signer`: 1 if new, latest + 1 if `signer` owns it.
pub(super) fn next_version<V: StateView>(
    ctx: &Ctx<'_, V>,
    signer: &RegisterMember,
    record: &RecordId,
) -> Result<u32, ExecError> {
    Ok(rules::next_record_version(ctx.view, record, &signer.org)??)
}

/// The writes that store record version `v` as its record's latest.
pub(super) fn version_writes(v: &RecordVersion) -> Writes {
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
pub(super) fn check_put<V: StateView>(
    ctx: &Ctx<'_, V>,
    signer: &RegisterMember,
    tx_hash: Hash,
    p: &PutRecord,
) -> Result<(RecordVersion, RegisterSchema, Vec<AccessEvent>), ExecError> {
    let Some(schema) = model::schema_version(ctx.view, &p.schema, p.schema_version)? else {
        return Err(TxFailure::SchemaNotFound {
            record: p.record.clone(),
            schema: p.schema.clone(),
            version: p.schema_version,
        }
        .into());
    };
    // A bank puts any record; a corporate its purchase orders, its invoices and the
    // delivery notes by which, as a buyer, it confirms a delivery; a carrier its delivery
    // notes. (Which party wrote a document is proved where it matters: the invoice
    // circuits take each record's owner as a public input and refuse a document whose
    // party is not its owner.)
    if !signer.has_role(Role::Member) {
        use ledger_types::DocumentKind as D;
        let allowed = match schema.document {
            Some(D::PurchaseOrder | D::Invoice) => signer.has_role(Role::Corporate),
            Some(D::DeliveryNote) => {
                signer.has_role(Role::Carrier) || signer.has_role(Role::Corporate)
            }
            None => false,
        };
        if !allowed {
            return Err(TxFailure::MissingRole {
                signer: signer.org.clone(),
                role: match schema.document {
                    Some(D::PurchaseOrder | D::Invoice) => "member or corporate",
                    Some(D::DeliveryNote) => "member, carrier or corporate",
                    None => "member (only banks put records that are not trade documents)",
                },
                kind: "PutRecord",
            }
            .into());
        }
    }
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
        let Some(decl) = rules::declared(&schema, &f.name) else {
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
    if let Some(missing) = rules::missing_required(&schema, |n| p.field(n).is_some()) {
        return mismatch(format!("required field {} is missing", missing.name));
    }
    if let Some(d) = schema
        .fields
        .iter()
        .find(|d| d.committed && p.field(&d.name).is_some() && p.commitment(&d.name).is_none())
    {
        return mismatch(format!("committed field {} carries no commitment", d.name));
    }
    if let Some(c) = p
        .commitments
        .iter()
        .find(|c| !rules::committed(&schema, &c.field))
    {
        return mismatch(format!(
            "field {} carries a commitment but the schema does not commit it",
            c.field
        ));
    }
    let readers: BTreeSet<&OrgId> = p.wraps.iter().map(|w| &w.reader).collect();
    for reader in &readers {
        if rules::reader(ctx.view, reader)?.is_err() {
            return Err(TxFailure::UnknownReader {
                record: p.record.clone(),
                reader: (*reader).clone(),
            }
            .into());
        }
    }
    for f in &p.fields {
        // The owner first, then the schema's auditors.
        let missing = rules::required_readers(&signer.org, &schema)
            .enumerate()
            .find(|(_, a)| !p.readers(&f.name).any(|r| r == *a));
        match missing {
            None => {}
            Some((0, owner)) => {
                return Err(TxFailure::MissingOwnerWrap {
                    record: p.record.clone(),
                    field: f.name.clone(),
                    owner: owner.clone(),
                }
                .into())
            }
            Some((_, auditor)) => {
                return Err(TxFailure::MissingAuditWrap {
                    record: p.record.clone(),
                    field: f.name.clone(),
                    auditor: auditor.clone(),
                }
                .into())
            }
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
                "the record carries a document commitment but the schema is not a document".into(),
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
    let audit_keys: BTreeSet<OrgId> = rules::audit_keys(ctx.view, &schema)?
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    for c in &p.commitments {
        if let Some(a) = audit_keys.iter().find(|a| {
            !p.audit_handles
                .iter()
                .any(|h| h.field == c.field && &h.auditor == *a)
        }) {
            return Err(TxFailure::MissingAuditHandle {
                record: p.record.clone(),
                field: c.field.clone(),
                auditor: a.clone(),
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
            height: ctx.height,
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
        height: ctx.height,
        fields: p.fields.clone(),
        wraps: p.wraps.clone(),
        commitments: p.commitments.clone(),
        audit_handles: p.audit_handles.clone(),
        document_commitment: p.document_commitment,
    };
    Ok((version, schema, events))
}

/// The latest version of a record `signer` owns.
pub(super) fn owned_latest<V: StateView>(
    ctx: &Ctx<'_, V>,
    signer: &RegisterMember,
    record: &RecordId,
    version: u32,
) -> Result<RecordVersion, ExecError> {
    Ok(rules::owned_latest(
        ctx.view,
        record,
        &signer.org,
        version,
    )??)
}

/// Adds a record version's stateless proofs to `batch` (its range proof over its
/// commitments and its audit handles' proofs); refuses malformed ones at once. With
/// `each`, every proof is checked as soon as it is added (so that a failure names its
/// proof).
pub(super) fn add_proofs<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    put: &PutRecord,
    batch: &mut ledger_proofs::BatchVerifier,
    each: bool,
) -> Result<(), TxRejection> {
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
