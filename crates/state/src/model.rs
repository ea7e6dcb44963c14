//! Typed access to state values.

use ledger_types::codec::{Decoder, Encoder};
use ledger_types::{
    AuditAlert, CodecError, FieldName, Hash, KeyWrap, OrgId, RecordField, RecordId, RegisterMember,
    RegisterSchema, SchemaId,
};
use ledger_types::{AuditHandle, FieldCommitment};

use crate::{keys, StateError, StateView};

mod analytics;
mod endorsement;
mod governance;
mod history;
pub use analytics::{
    analytics_config, analytics_query, buyer_financing, buyer_financings, field_entries,
    field_entry, AnalyticsConfig, BuyerFinancing, FieldEntry, PublishedResult,
    Query as AnalyticsQuery,
};
pub(crate) use analytics::{append_buyer_financing, append_field_entry};
pub(crate) use endorsement::{add_to_ring, endorsement_writes, fix_ring, set_ring};
pub use endorsement::{
    endorsement_by_image, endorsement_count, endorsements, member_ring, ring_floor, Endorsement,
};
pub(crate) use governance::{append_key_change, encode_standing};
pub use governance::{
    governance_params, key_at, key_history, key_in, next_proposal_id, open_proposal, proposal,
    removal, standing, suspension, vote, KeyChange, Proposal, ProposalStatus, Standing,
};
use history::History;
pub use history::{Page, MAX_PAGE};

fn corrupt(key: &[u8], source: CodecError) -> StateError {
    StateError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    }
}

/// The member entry of `org`, if registered.
pub fn member(view: &impl StateView, org: &OrgId) -> Result<Option<RegisterMember>, StateError> {
    let key = keys::member(org);
    let Some(bytes) = view.get(&key)? else {
        return Ok(None);
    };
    let mut d = Decoder::new(&bytes);
    let m = RegisterMember::decode(&mut d).map_err(|e| corrupt(&key, e))?;
    d.finish("member entry").map_err(|e| corrupt(&key, e))?;
    Ok(Some(m))
}

pub(crate) fn encode_member(m: &RegisterMember) -> Vec<u8> {
    let mut e = Encoder::new();
    m.encode(&mut e);
    e.finish()
}

/// The next nonce `org` must use (0 if it never signed).
pub fn next_nonce(view: &impl StateView, org: &OrgId) -> Result<u64, StateError> {
    let key = keys::nonce(org);
    match view.get(&key)? {
        None => Ok(0),
        Some(b) => {
            let mut d = Decoder::new(&b);
            let n = d.u64("nonce").map_err(|e| corrupt(&key, e))?;
            d.finish("nonce").map_err(|e| corrupt(&key, e))?;
            Ok(n)
        }
    }
}

fn decode_validators(key: &[u8], b: &[u8]) -> Result<Vec<OrgId>, StateError> {
    let mut d = Decoder::new(b);
    let decode = |d: &mut Decoder<'_>| -> Result<Vec<OrgId>, CodecError> {
        let n = d.count("validators", 100_000, 5)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(OrgId::decode(d)?);
        }
        Ok(v)
    };
    let v = decode(&mut d).map_err(|e| corrupt(key, e))?;
    d.finish("validators").map_err(|e| corrupt(key, e))?;
    Ok(v)
}

/// The latest validator set, sorted: the genesis set, or the last one governance
/// scheduled (which may take effect a height or two from now; see [`validator_set_at`]).
pub fn validators(view: &impl StateView) -> Result<Vec<OrgId>, StateError> {
    let key = keys::validators();
    let Some(b) = view.get(&key)? else {
        return Ok(vec![]);
    };
    decode_validators(&key, &b)
}

/// The organisation that registered `key` as its `kind` key (`audit`, `encryption`), if
/// one did.
pub fn key_owner(
    view: &impl StateView,
    kind: &str,
    key: &[u8],
) -> Result<Option<String>, StateError> {
    Ok(view
        .get(&keys::key_owner(kind, key))?
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// The public API address governance approved for `org`'s node, if any (validators of the
/// genesis block are wired by their configuration instead).
pub fn validator_api(view: &impl StateView, org: &OrgId) -> Result<Option<String>, StateError> {
    string_at(view, &keys::validator_api(org), "API address")
}

/// The consensus address governance approved for `org`'s node, if any (validators of the
/// genesis block are wired by their configuration instead).
pub fn validator_p2p(view: &impl StateView, org: &OrgId) -> Result<Option<String>, StateError> {
    string_at(view, &keys::validator_p2p(org), "consensus address")
}

fn string_at(
    view: &impl StateView,
    key: &[u8],
    what: &'static str,
) -> Result<Option<String>, StateError> {
    let key = key.to_vec();
    match view.get(&key)? {
        None => Ok(None),
        Some(b) if b.is_empty() => Ok(None),
        Some(b) => String::from_utf8(b).map(Some).map_err(|e| {
            corrupt(
                &key,
                CodecError::NotCanonical {
                    what,
                    reason: e.to_string(),
                },
            )
        }),
    }
}

/// The heights at which a validator set scheduled by governance took or takes effect,
/// ascending.
pub fn validator_changes(view: &impl StateView) -> Result<Vec<u64>, StateError> {
    let key = keys::validator_changes();
    let b = view.get(&key)?.unwrap_or_default();
    if b.len() % 8 != 0 {
        return Err(corrupt(
            &key,
            CodecError::NotCanonical {
                what: "validator changes",
                reason: format!("{} bytes is not a list of heights", b.len()),
            },
        ));
    }
    Ok(b.chunks(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

/// The validator set that signs the block at `height`: the last set scheduled to take
/// effect at or before it, or the genesis set. Every past height's set stays in state, so
/// old commit certificates are checked against the set of their own height.
pub fn validator_set_at(view: &impl StateView, height: u64) -> Result<Vec<OrgId>, StateError> {
    let changes = validator_changes(view)?;
    match changes.iter().rev().find(|h| **h <= height) {
        Some(h) => {
            let key = keys::validators_at(*h);
            let b = view.get(&key)?.ok_or_else(|| {
                corrupt(
                    &key,
                    CodecError::NotCanonical {
                        what: "validator set",
                        reason: "a scheduled change has no set".into(),
                    },
                )
            })?;
            decode_validators(&key, &b)
        }
        None => {
            // Before the first change: the genesis set, which `validators` holds until a
            // change is scheduled, and `validators/at/0` after.
            if changes.is_empty() {
                validators(view)
            } else {
                let key = keys::validators_at(0);
                match view.get(&key)? {
                    Some(b) => decode_validators(&key, &b),
                    None => validators(view),
                }
            }
        }
    }
}

pub(crate) fn encode_validators(v: &[OrgId]) -> Vec<u8> {
    let mut e = Encoder::new();
    e.count(v.len());
    for o in v {
        o.encode(&mut e);
    }
    e.finish()
}

/// A record's owner and latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHead {
    /// The organisation that created the record.
    pub owner: OrgId,
    /// The latest version.
    pub latest_version: u32,
}

impl RecordHead {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.owner.encode(&mut e);
        e.u32(self.latest_version);
        e.finish()
    }
}

/// The head of `record`, if it exists.
pub fn record_head(
    view: &impl StateView,
    record: &RecordId,
) -> Result<Option<RecordHead>, StateError> {
    let key = keys::record_head(record);
    let Some(b) = view.get(&key)? else {
        return Ok(None);
    };
    let mut d = Decoder::new(&b);
    let head = (|| -> Result<RecordHead, CodecError> {
        let h = RecordHead {
            owner: OrgId::decode(&mut d)?,
            latest_version: d.u32("latest version")?,
        };
        Ok(h)
    })()
    .map_err(|e| corrupt(&key, e))?;
    d.finish("record head").map_err(|e| corrupt(&key, e))?;
    Ok(Some(head))
}

/// One committed version of a record: its sealed fields and every wrap of their keys
/// (those written with the version and those added by grants since).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordVersion {
    /// The record.
    pub record: RecordId,
    /// The version.
    pub version: u32,
    /// The owner who wrote it.
    pub owner: OrgId,
    /// The schema it follows.
    pub schema: SchemaId,
    /// The schema version.
    pub schema_version: u32,
    /// The transaction that wrote it.
    pub tx_hash: Hash,
    /// The height of the block that holds that transaction.
    pub height: u64,
    /// The sealed fields, sorted by name.
    pub fields: Vec<RecordField>,
    /// The key wraps, sorted by (field, reader).
    pub wraps: Vec<KeyWrap>,
    /// The commitments of committed amount fields, sorted by field.
    pub commitments: Vec<FieldCommitment>,
    /// The auditors' handles of the committed fields, sorted by (field, auditor).
    pub audit_handles: Vec<AuditHandle>,
    /// The document commitment, for records of a document schema.
    pub document_commitment: Option<[u8; 32]>,
}

impl RecordVersion {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.record.encode(&mut e);
        e.u32(self.version);
        self.owner.encode(&mut e);
        self.schema.encode(&mut e);
        e.u32(self.schema_version);
        e.fixed(&self.tx_hash.0);
        e.u64(self.height);
        e.count(self.fields.len());
        for f in &self.fields {
            f.name.encode(&mut e);
            e.bytes(&f.sealed);
        }
        e.count(self.wraps.len());
        for w in &self.wraps {
            w.field.encode(&mut e);
            w.reader.encode(&mut e);
            e.fixed(&w.enc);
            e.fixed(&w.wrapped);
        }
        e.count(self.commitments.len());
        for c in &self.commitments {
            c.field.encode(&mut e);
            e.fixed(&c.commitment);
        }
        e.count(self.audit_handles.len());
        for h in &self.audit_handles {
            h.encode(&mut e);
        }
        e.opt_fixed(self.document_commitment.as_ref().map(|c| c.as_slice()));
        e.finish()
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        use ledger_types::record::{wrapped_key_len, MAX_SEALED_FIELD, WRAP_ENC_LEN};
        let record = RecordId::decode(d)?;
        let version = d.u32("version")?;
        let owner = OrgId::decode(d)?;
        let schema = SchemaId::decode(d)?;
        let schema_version = d.u32("schema version")?;
        let tx_hash = Hash(d.array("tx hash")?);
        let height = d.u64("height")?;
        let n = d.count("fields", ledger_types::tx::MAX_RECORD_FIELDS, 9)?;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            fields.push(RecordField {
                name: FieldName::decode(d)?,
                sealed: d.bytes("sealed field", MAX_SEALED_FIELD)?,
            });
        }
        let n = d.count("wraps", usize::MAX, 8 + WRAP_ENC_LEN + wrapped_key_len())?;
        let mut wraps = Vec::with_capacity(n);
        for _ in 0..n {
            wraps.push(KeyWrap {
                field: FieldName::decode(d)?,
                reader: OrgId::decode(d)?,
                enc: d.array::<WRAP_ENC_LEN>("wrap enc")?.to_vec(),
                wrapped: d.fixed(wrapped_key_len(), "wrapped key")?,
            });
        }
        let n = d.count("commitments", ledger_types::tx::MAX_RECORD_FIELDS, 36)?;
        let mut commitments = Vec::with_capacity(n);
        for _ in 0..n {
            commitments.push(FieldCommitment {
                field: FieldName::decode(d)?,
                commitment: d.array("commitment")?,
            });
        }
        let n = d.count("audit handles", usize::MAX, 8 + 32 + 128)?;
        let mut audit_handles = Vec::with_capacity(n);
        for _ in 0..n {
            audit_handles.push(AuditHandle::decode(d)?);
        }
        let document_commitment = d.opt_array("document commitment")?;
        Ok(RecordVersion {
            record,
            version,
            owner,
            schema,
            schema_version,
            tx_hash,
            height,
            fields,
            wraps,
            commitments,
            audit_handles,
            document_commitment,
        })
    }

    /// The handle of field `name` for `auditor`, if any.
    pub fn audit_handle(&self, name: &FieldName, auditor: &OrgId) -> Option<&AuditHandle> {
        self.audit_handles
            .iter()
            .find(|h| &h.field == name && &h.auditor == auditor)
    }

    /// The sealed field `name`, if carried.
    pub fn field(&self, name: &FieldName) -> Option<&RecordField> {
        self.fields
            .binary_search_by(|f| f.name.cmp(name))
            .ok()
            .map(|i| &self.fields[i])
    }

    /// The wrap of field `name` for `reader`, if any.
    pub fn wrap(&self, name: &FieldName, reader: &OrgId) -> Option<&KeyWrap> {
        self.wraps
            .binary_search_by(|w| (&w.field, &w.reader).cmp(&(name, reader)))
            .ok()
            .map(|i| &self.wraps[i])
    }

    /// The commitment of field `name`, if committed.
    pub fn commitment(&self, name: &FieldName) -> Option<&FieldCommitment> {
        self.commitments.iter().find(|c| &c.field == name)
    }

    /// True if `reader` holds a wrap of field `name`.
    pub fn can_read(&self, name: &FieldName, reader: &OrgId) -> bool {
        self.wrap(name, reader).is_some()
    }
}

/// What an access event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessAction {
    /// A version was written readable by `org` (besides the owner and auditors).
    Put,
    /// The owner granted `org` the fields' current keys.
    Grant,
    /// The owner revoked `org`'s access to the fields from this version on.
    Revoke,
}

impl AccessAction {
    fn tag(self) -> u8 {
        match self {
            AccessAction::Put => 1,
            AccessAction::Grant => 2,
            AccessAction::Revoke => 3,
        }
    }

    /// A readable name.
    pub fn name(self) -> &'static str {
        match self {
            AccessAction::Put => "put",
            AccessAction::Grant => "grant",
            AccessAction::Revoke => "revoke",
        }
    }
}

/// One entry of a record's access history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEvent {
    /// The height of the block.
    pub height: u64,
    /// The transaction.
    pub tx_hash: Hash,
    /// What happened.
    pub action: AccessAction,
    /// Who did it (the owner).
    pub by: OrgId,
    /// The organisation whose access changed.
    pub org: OrgId,
    /// The record version concerned (for a revocation: the first version it cannot read).
    pub version: u32,
    /// The fields, sorted.
    pub fields: Vec<FieldName>,
}

const ACCESS: History = History { kind: "access" };
const ALERTS: History = History { kind: "alerts" };
const CHECKS: History = History { kind: "checks" };

fn encode_event(ev: &AccessEvent, e: &mut Encoder) {
    e.u64(ev.height);
    e.fixed(&ev.tx_hash.0);
    e.u8(ev.action.tag());
    ev.by.encode(e);
    ev.org.encode(e);
    e.u32(ev.version);
    e.count(ev.fields.len());
    for f in &ev.fields {
        f.encode(e);
    }
}

fn decode_event(d: &mut Decoder<'_>) -> Result<AccessEvent, CodecError> {
    let height = d.u64("height")?;
    let tx_hash = Hash(d.array("tx hash")?);
    let action = match d.u8("access action")? {
        1 => AccessAction::Put,
        2 => AccessAction::Grant,
        3 => AccessAction::Revoke,
        t => {
            return Err(CodecError::UnknownTag {
                what: "access action",
                tag: t.into(),
            })
        }
    };
    let by = OrgId::decode(d)?;
    let org = OrgId::decode(d)?;
    let version = d.u32("version")?;
    let m = d.count("fields", ledger_types::tx::MAX_RECORD_FIELDS, 4)?;
    let mut fields = Vec::with_capacity(m);
    for _ in 0..m {
        fields.push(FieldName::decode(d)?);
    }
    Ok(AccessEvent {
        height,
        tx_hash,
        action,
        by,
        org,
        version,
        fields,
    })
}

/// A list as the earlier single-value layout kept it: a count, then the entries.
fn decode_list<T>(
    d: &mut Decoder<'_>,
    what: &'static str,
    one: fn(&mut Decoder<'_>) -> Result<T, CodecError>,
) -> Result<Vec<T>, CodecError> {
    let n = d.count(what, usize::MAX, 50)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(one(d)?);
    }
    Ok(out)
}

fn decode_events(d: &mut Decoder<'_>) -> Result<Vec<AccessEvent>, CodecError> {
    decode_list(d, "access events", decode_event)
}

/// The access history of `record`, oldest first.
pub fn access_history(
    view: &impl StateView,
    record: &RecordId,
) -> Result<Vec<AccessEvent>, StateError> {
    ACCESS.all(view, record, decode_event, decode_events)
}

/// Up to `limit` events (at most [`MAX_PAGE`]) of `record`'s access history from position
/// `from`, oldest first, with the history's length.
pub fn access_history_page(
    view: &impl StateView,
    record: &RecordId,
    from: u64,
    limit: usize,
) -> Result<Page<AccessEvent>, StateError> {
    ACCESS.page(view, record, from, limit, decode_event, decode_events)
}

/// The writes that append `new` to `record`'s access history.
pub(crate) fn append_access(
    view: &impl StateView,
    record: &RecordId,
    new: &[AccessEvent],
) -> Result<crate::payload::Writes, StateError> {
    ACCESS.append(view, record, new, encode_event)
}

/// An audit alert as filed on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiledAlert {
    /// The height of the block.
    pub height: u64,
    /// The transaction.
    pub tx_hash: Hash,
    /// The regulator that filed it.
    pub regulator: OrgId,
    /// What it says.
    pub alert: AuditAlert,
}

fn encode_alert(a: &FiledAlert, e: &mut Encoder) {
    e.u64(a.height);
    e.fixed(&a.tx_hash.0);
    a.regulator.encode(e);
    a.alert.encode(e);
}

fn decode_alert(d: &mut Decoder<'_>) -> Result<FiledAlert, CodecError> {
    Ok(FiledAlert {
        height: d.u64("height")?,
        tx_hash: Hash(d.array("tx hash")?),
        regulator: OrgId::decode(d)?,
        alert: AuditAlert::decode(d)?,
    })
}

fn decode_alerts(d: &mut Decoder<'_>) -> Result<Vec<FiledAlert>, CodecError> {
    decode_list(d, "alerts", decode_alert)
}

/// The audit alerts filed on `record`, oldest first.
pub fn audit_alerts(
    view: &impl StateView,
    record: &RecordId,
) -> Result<Vec<FiledAlert>, StateError> {
    ALERTS.all(view, record, decode_alert, decode_alerts)
}

/// A page of the audit alerts filed on `record` (see [`access_history_page`]).
pub fn audit_alerts_page(
    view: &impl StateView,
    record: &RecordId,
    from: u64,
    limit: usize,
) -> Result<Page<FiledAlert>, StateError> {
    ALERTS.page(view, record, from, limit, decode_alert, decode_alerts)
}

/// `alert-filed/{record}/{regulator}/{field}/{version u32 big-endian}`: set once the
/// regulator filed an alert on that field of that version (identifiers hold no `/`, and
/// the version's four bytes end the key).
fn alert_filed_key(
    record: &RecordId,
    regulator: &OrgId,
    field: &FieldName,
    version: u32,
) -> Vec<u8> {
    [
        b"alert-filed/".as_slice(),
        record.as_str().as_bytes(),
        b"/",
        regulator.as_str().as_bytes(),
        b"/",
        field.as_str().as_bytes(),
        b"/",
        &version.to_be_bytes(),
    ]
    .concat()
}

/// Whether `regulator` already filed an alert on `field` of `version` of `record`: one key
/// read (plus the list an earlier layout kept, if the record has one).
pub(crate) fn alert_filed(
    view: &impl StateView,
    record: &RecordId,
    regulator: &OrgId,
    field: &FieldName,
    version: u32,
) -> Result<bool, StateError> {
    if view
        .get(&alert_filed_key(record, regulator, field, version))?
        .is_some()
    {
        return Ok(true);
    }
    if !ALERTS.has_legacy(view, record)? {
        return Ok(false);
    }
    Ok(audit_alerts(view, record)?.iter().any(|f| {
        f.regulator == *regulator && f.alert.version == version && f.alert.field == *field
    }))
}

/// The writes that file `alert` on its record.
pub(crate) fn append_alert(
    view: &impl StateView,
    alert: &FiledAlert,
) -> Result<crate::payload::Writes, StateError> {
    let a = &alert.alert;
    let mut writes = ALERTS.append(view, &a.record, std::slice::from_ref(alert), encode_alert)?;
    writes.push((
        alert_filed_key(&a.record, &alert.regulator, &a.field, a.version),
        vec![1],
    ));
    Ok(writes)
}

/// Version `version` of `record`, if it exists.
pub fn record_version(
    view: &impl StateView,
    record: &RecordId,
    version: u32,
) -> Result<Option<RecordVersion>, StateError> {
    let key = keys::record_version(record, version);
    let Some(b) = view.get(&key)? else {
        return Ok(None);
    };
    let mut d = Decoder::new(&b);
    let v = RecordVersion::decode(&mut d).map_err(|e| corrupt(&key, e))?;
    d.finish("record version").map_err(|e| corrupt(&key, e))?;
    Ok(Some(v))
}

/// The registrar and latest version of `schema`, if registered (same layout as a record
/// head).
pub fn schema_head(
    view: &impl StateView,
    schema: &SchemaId,
) -> Result<Option<RecordHead>, StateError> {
    let key = keys::schema_head(schema);
    let Some(b) = view.get(&key)? else {
        return Ok(None);
    };
    let mut d = Decoder::new(&b);
    let head = (|| -> Result<RecordHead, CodecError> {
        Ok(RecordHead {
            owner: OrgId::decode(&mut d)?,
            latest_version: d.u32("latest version")?,
        })
    })()
    .map_err(|e| corrupt(&key, e))?;
    d.finish("schema head").map_err(|e| corrupt(&key, e))?;
    Ok(Some(head))
}

/// Version `version` of `schema`, if registered.
pub fn schema_version(
    view: &impl StateView,
    schema: &SchemaId,
    version: u32,
) -> Result<Option<RegisterSchema>, StateError> {
    let key = keys::schema_version(schema, version);
    let Some(b) = view.get(&key)? else {
        return Ok(None);
    };
    let mut d = Decoder::new(&b);
    let s = RegisterSchema::decode(&mut d).map_err(|e| corrupt(&key, e))?;
    d.finish("schema version").map_err(|e| corrupt(&key, e))?;
    Ok(Some(s))
}

pub(crate) fn encode_schema(s: &RegisterSchema) -> Vec<u8> {
    let mut e = Encoder::new();
    s.encode(&mut e);
    e.finish()
}

/// A cross-check as recorded for each record it involves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiledCheck {
    /// The height of the block.
    pub height: u64,
    /// The transaction.
    pub tx_hash: Hash,
    /// Who proved it.
    pub by: OrgId,
    /// The relation, operands and proof.
    pub check: ledger_types::CrossCheck,
}

fn encode_check(c: &FiledCheck, e: &mut Encoder) {
    e.u64(c.height);
    e.fixed(&c.tx_hash.0);
    c.by.encode(e);
    c.check.encode(e);
}

fn decode_check(d: &mut Decoder<'_>) -> Result<FiledCheck, CodecError> {
    Ok(FiledCheck {
        height: d.u64("height")?,
        tx_hash: Hash(d.array("tx hash")?),
        by: OrgId::decode(d)?,
        check: ledger_types::CrossCheck::decode(d)?,
    })
}

fn decode_checks(d: &mut Decoder<'_>) -> Result<Vec<FiledCheck>, CodecError> {
    decode_list(d, "cross-checks", decode_check)
}

/// The cross-checks involving `record`, oldest first.
pub fn cross_checks(
    view: &impl StateView,
    record: &RecordId,
) -> Result<Vec<FiledCheck>, StateError> {
    CHECKS.all(view, record, decode_check, decode_checks)
}

/// A page of the cross-checks involving `record` (see [`access_history_page`]).
pub fn cross_checks_page(
    view: &impl StateView,
    record: &RecordId,
    from: u64,
    limit: usize,
) -> Result<Page<FiledCheck>, StateError> {
    CHECKS.page(view, record, from, limit, decode_check, decode_checks)
}

/// The writes that add `check` to `record`'s cross-checks.
pub(crate) fn append_check(
    view: &impl StateView,
    record: &RecordId,
    check: &FiledCheck,
) -> Result<crate::payload::Writes, StateError> {
    CHECKS.append(view, record, std::slice::from_ref(check), encode_check)
}

/// The financing request that used a receivable nullifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Financing {
    /// The height of its block.
    pub height: u64,
    /// The transaction.
    pub tx_hash: Hash,
    /// The seller that assigned the receivable.
    pub by: OrgId,
    /// The bank it was assigned to.
    pub bank: OrgId,
    /// The invoice record it named.
    pub invoice: RecordId,
    /// Its version.
    pub version: u32,
    /// The delivery note whose goods it financed.
    pub delivery: RecordId,
    /// Its version.
    pub delivery_version: u32,
}

impl Financing {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u64(self.height).fixed(&self.tx_hash.0);
        self.by.encode(&mut e);
        self.bank.encode(&mut e);
        self.invoice.encode(&mut e);
        e.u32(self.version);
        self.delivery.encode(&mut e);
        e.u32(self.delivery_version);
        e.finish()
    }
}

/// The financing that used `nullifier`, if any.
pub fn financing(
    view: &impl StateView,
    nullifier: &[u8; 32],
) -> Result<Option<Financing>, StateError> {
    let key = keys::nullifier(nullifier);
    let Some(b) = view.get(&key)? else {
        return Ok(None);
    };
    let mut d = Decoder::new(&b);
    let f = (|| {
        let f = Financing {
            height: d.u64("height")?,
            tx_hash: Hash(d.array("tx hash")?),
            by: OrgId::decode(&mut d)?,
            bank: OrgId::decode(&mut d)?,
            invoice: RecordId::decode(&mut d)?,
            version: d.u32("version")?,
            delivery: RecordId::decode(&mut d)?,
            delivery_version: d.u32("version")?,
        };
        d.finish("financing")?;
        Ok::<_, CodecError>(f)
    })()
    .map_err(|e| corrupt(&key, e))?;
    Ok(Some(f))
}
