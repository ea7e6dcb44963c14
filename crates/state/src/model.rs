//! Typed access to state values.

use ledger_types::codec::{Decoder, Encoder};
use ledger_types::{
    CodecError, FieldName, Hash, OrgId, RecordField, RecordId, RegisterMember, RegisterSchema,
    SchemaId,
};

use crate::{keys, StateError, StateView};

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

/// The validator set, sorted.
pub fn validators(view: &impl StateView) -> Result<Vec<OrgId>, StateError> {
    let key = keys::validators();
    let Some(b) = view.get(&key)? else {
        return Ok(vec![]);
    };
    let mut d = Decoder::new(&b);
    let decode = |d: &mut Decoder<'_>| -> Result<Vec<OrgId>, CodecError> {
        let n = d.count("validators", 100_000, 5)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(OrgId::decode(d)?);
        }
        Ok(v)
    };
    let v = decode(&mut d).map_err(|e| corrupt(&key, e))?;
    d.finish("validators").map_err(|e| corrupt(&key, e))?;
    Ok(v)
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

/// One committed version of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordVersion {
    /// The record.
    pub record: RecordId,
    /// The version.
    pub version: u32,
    /// The owner who wrote it.
    pub owner: OrgId,
    /// The transaction that wrote it.
    pub tx_hash: Hash,
    /// The height of the block that holds that transaction.
    pub height: u64,
    /// The fields, sorted by name.
    pub fields: Vec<RecordField>,
}

impl RecordVersion {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.record.encode(&mut e);
        e.u32(self.version);
        self.owner.encode(&mut e);
        e.fixed(&self.tx_hash.0);
        e.u64(self.height);
        e.count(self.fields.len());
        for f in &self.fields {
            f.name.encode(&mut e);
            e.bytes(&f.blob);
        }
        e.finish()
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let record = RecordId::decode(d)?;
        let version = d.u32("version")?;
        let owner = OrgId::decode(d)?;
        let tx_hash = Hash(d.array("tx hash")?);
        let height = d.u64("height")?;
        let n = d.count("fields", ledger_types::tx::MAX_RECORD_FIELDS, 9)?;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            fields.push(RecordField {
                name: FieldName::decode(d)?,
                blob: d.bytes("field blob", ledger_types::tx::TX_HARD_MAX_BYTES)?,
            });
        }
        Ok(RecordVersion {
            record,
            version,
            owner,
            tx_hash,
            height,
            fields,
        })
    }
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
