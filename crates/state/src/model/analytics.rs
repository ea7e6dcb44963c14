//! Encrypted analytics in state: the chain's analytics configuration (fixed in genesis),
//! each buyer's financings with an encrypted amount (in commit order), each owner's record
//! versions carrying an encrypted (`fhe`) amount field (in commit order), and each query's
//! life: asked, results published, validators' attestations, accepted, answered.

use ledger_types::codec::{Decoder, Encoder};
use ledger_types::{CodecError, FieldName, Hash, OrgId, Question, RecordId, SchemaId};

use super::corrupt;
use crate::error::StateError;
use crate::{keys, StateView};

/// The chain's analytics: who decrypts answers, the integer profile and the public keys'
/// SHA-256 (the key file beside genesis must have it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsConfig {
    /// The analytics authority (a regulator).
    pub authority: OrgId,
    /// The profile name (`standard`, `small`).
    pub profile: String,
    /// `ledger_fhe::PublicKeys::id` of the key file.
    pub keys_id: [u8; 32],
}

impl AnalyticsConfig {
    /// The stored encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.authority.encode(&mut e);
        e.str(&self.profile).fixed(&self.keys_id);
        e.finish()
    }

    fn decode(b: &[u8]) -> Result<Self, CodecError> {
        let mut d = Decoder::new(b);
        let c = AnalyticsConfig {
            authority: OrgId::decode(&mut d)?,
            profile: d.string("profile", 32)?,
            keys_id: d.array("keys id")?,
        };
        d.finish("analytics config")?;
        Ok(c)
    }
}

/// The chain's analytics configuration, if genesis set one.
pub fn analytics_config(view: &impl StateView) -> Result<Option<AnalyticsConfig>, StateError> {
    let key = keys::analytics_config();
    match view.get(&key)? {
        None => Ok(None),
        Some(b) => AnalyticsConfig::decode(&b)
            .map(Some)
            .map_err(|e| corrupt(&key, e)),
    }
}

/// One financing of a buyer with an encrypted amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyerFinancing {
    /// The financing bank.
    pub bank: OrgId,
    /// The `FinanceRequest` transaction (it holds the encrypted amount).
    pub tx: Hash,
}

/// How many financings `buyer` has (the first `n` are a query's inputs).
pub fn buyer_financings(view: &impl StateView, buyer: &OrgId) -> Result<u64, StateError> {
    read_count(view, keys::analytics_buyer_count(buyer))
}

fn read_count(view: &impl StateView, key: Vec<u8>) -> Result<u64, StateError> {
    match view.get(&key)? {
        None => Ok(0),
        Some(b) => <[u8; 8]>::try_from(b.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| {
                corrupt(
                    &key,
                    CodecError::NotCanonical {
                        what: "financing count",
                        reason: "not 8 bytes".into(),
                    },
                )
            }),
    }
}

/// The buyer's financing number `i` (from 0).
pub fn buyer_financing(
    view: &impl StateView,
    buyer: &OrgId,
    i: u64,
) -> Result<Option<BuyerFinancing>, StateError> {
    let key = keys::analytics_buyer_at(buyer, i);
    let Some(b) = view.get(&key)? else {
        return Ok(None);
    };
    let mut d = Decoder::new(&b);
    let f = (|| {
        let f = BuyerFinancing {
            bank: OrgId::decode(&mut d)?,
            tx: Hash(d.array("financing tx")?),
        };
        d.finish("buyer financing")?;
        Ok::<_, CodecError>(f)
    })()
    .map_err(|e| corrupt(&key, e))?;
    Ok(Some(f))
}

/// The writes that append a financing to `buyer`'s list.
pub(crate) fn append_buyer_financing(
    view: &impl StateView,
    buyer: &OrgId,
    f: &BuyerFinancing,
) -> Result<crate::payload::Writes, StateError> {
    let n = buyer_financings(view, buyer)?;
    let mut e = Encoder::new();
    f.bank.encode(&mut e);
    e.fixed(f.tx.as_bytes());
    Ok(vec![
        (keys::analytics_buyer_at(buyer, n), e.finish()),
        (
            keys::analytics_buyer_count(buyer),
            (n + 1).to_be_bytes().to_vec(),
        ),
    ])
}

/// One record version that carried an encrypted (`fhe`) value of an amount field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldEntry {
    /// The record.
    pub record: RecordId,
    /// The version.
    pub version: u32,
    /// The transaction that wrote it (`PutRecord` or `RevokeAccess`; it holds the value).
    pub tx: Hash,
}

/// How many record versions of `owner` carried an encrypted value of `schema`'s `field`
/// (the first `n` are a field-total query's inputs; of each record the latest among them
/// counts).
pub fn field_entries(
    view: &impl StateView,
    owner: &OrgId,
    schema: &SchemaId,
    field: &FieldName,
) -> Result<u64, StateError> {
    read_count(view, keys::analytics_field_count(owner, schema, field))
}

/// Entry number `i` (from 0) of [`field_entries`].
pub fn field_entry(
    view: &impl StateView,
    owner: &OrgId,
    schema: &SchemaId,
    field: &FieldName,
    i: u64,
) -> Result<Option<FieldEntry>, StateError> {
    let key = keys::analytics_field_at(owner, schema, field, i);
    let Some(b) = view.get(&key)? else {
        return Ok(None);
    };
    let mut d = Decoder::new(&b);
    let f = (|| {
        let f = FieldEntry {
            record: RecordId::decode(&mut d)?,
            version: d.u32("record version")?,
            tx: Hash(d.array("record tx")?),
        };
        d.finish("field entry")?;
        Ok::<_, CodecError>(f)
    })()
    .map_err(|e| corrupt(&key, e))?;
    Ok(Some(f))
}

/// The writes that append `entry` to the list of `owner`'s `schema`.`field` values.
pub(crate) fn append_field_entry(
    view: &impl StateView,
    owner: &OrgId,
    schema: &SchemaId,
    field: &FieldName,
    entry: &FieldEntry,
) -> Result<crate::payload::Writes, StateError> {
    let n = field_entries(view, owner, schema, field)?;
    let mut e = Encoder::new();
    entry.record.encode(&mut e);
    e.u32(entry.version).fixed(entry.tx.as_bytes());
    Ok(vec![
        (
            keys::analytics_field_at(owner, schema, field, n),
            e.finish(),
        ),
        (
            keys::analytics_field_count(owner, schema, field),
            (n + 1).to_be_bytes().to_vec(),
        ),
    ])
}

/// A published result of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedResult {
    /// The result's hash (`ledger_fhe::QueryResult::hash`).
    pub hash: Hash,
    /// Who published it.
    pub by: OrgId,
    /// The `Analytics::Result` transaction holding the bytes.
    pub tx: Hash,
}

/// A query and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Who asked.
    pub asker: OrgId,
    /// About whom: the buyer, or for a field total the records' owner.
    pub subject: OrgId,
    /// What.
    pub question: Question,
    /// The height of the block that holds the question.
    pub height: u64,
    /// Its inputs: the buyer's first `inputs` financings, or for a field total the first
    /// `inputs` entries of the owner's field list ([`field_entry`]).
    pub inputs: u64,
    /// Results published, in order.
    pub results: Vec<PublishedResult>,
    /// Validators' re-executions: who got which hash, in order.
    pub attestations: Vec<(OrgId, Hash)>,
    /// The result hash a quorum of validators attested and someone published.
    pub accepted: Option<Hash>,
    /// The authority's answer.
    pub answer: Option<bool>,
}

impl Query {
    /// Attestations whose hash is not the accepted (or, before acceptance, any published)
    /// result's: disagreements to look at.
    pub fn mismatches(&self) -> Vec<&(OrgId, Hash)> {
        self.attestations
            .iter()
            .filter(|(_, h)| match &self.accepted {
                Some(a) => h != a,
                None => !self.results.iter().any(|r| &r.hash == h),
            })
            .collect()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.asker.encode(&mut e);
        self.subject.encode(&mut e);
        self.question.encode(&mut e);
        e.u64(self.height).u64(self.inputs);
        e.count(self.results.len());
        for r in &self.results {
            e.fixed(r.hash.as_bytes());
            r.by.encode(&mut e);
            e.fixed(r.tx.as_bytes());
        }
        e.count(self.attestations.len());
        for (v, h) in &self.attestations {
            v.encode(&mut e);
            e.fixed(h.as_bytes());
        }
        e.opt_fixed(self.accepted.as_ref().map(|h| h.as_bytes().as_slice()));
        e.u8(match self.answer {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        });
        e.finish()
    }

    fn decode(b: &[u8]) -> Result<Self, CodecError> {
        let mut d = Decoder::new(b);
        let asker = OrgId::decode(&mut d)?;
        let subject = OrgId::decode(&mut d)?;
        let question = Question::decode(&mut d)?;
        let height = d.u64("height")?;
        let inputs = d.u64("inputs")?;
        let n = d.count("results", 1 << 16, 64)?;
        let mut results = Vec::with_capacity(n);
        for _ in 0..n {
            results.push(PublishedResult {
                hash: Hash(d.array("result hash")?),
                by: OrgId::decode(&mut d)?,
                tx: Hash(d.array("result tx")?),
            });
        }
        let n = d.count("attestations", 1 << 16, 33)?;
        let mut attestations = Vec::with_capacity(n);
        for _ in 0..n {
            attestations.push((OrgId::decode(&mut d)?, Hash(d.array("attested hash")?)));
        }
        let accepted = d.opt_array::<32>("accepted")?.map(Hash);
        let answer = match d.u8("answer")? {
            0 => None,
            1 => Some(false),
            2 => Some(true),
            t => {
                return Err(CodecError::UnknownTag {
                    what: "answer",
                    tag: t.into(),
                })
            }
        };
        d.finish("query")?;
        Ok(Query {
            asker,
            subject,
            question,
            height,
            inputs,
            results,
            attestations,
            accepted,
            answer,
        })
    }
}

/// The query asked in transaction `id`, if any.
pub fn analytics_query(view: &impl StateView, id: &Hash) -> Result<Option<Query>, StateError> {
    let key = keys::analytics_query(id);
    match view.get(&key)? {
        None => Ok(None),
        Some(b) => Query::decode(&b).map(Some).map_err(|e| corrupt(&key, e)),
    }
}
