//! Encrypted analytics in state: the chain's analytics configuration (fixed in genesis),
//! each buyer's financings with an encrypted amount (in commit order), and each query's
//! life: asked, results published, validators' attestations, accepted, answered.

use ledger_types::codec::{Decoder, Encoder};
use ledger_types::{CodecError, Hash, OrgId, Question};

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
    let key = keys::analytics_buyer_count(buyer);
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
    /// About whom.
    pub buyer: OrgId,
    /// What.
    pub question: Question,
    /// The height of the block that holds the question.
    pub height: u64,
    /// Its inputs: the buyer's first `inputs` financings.
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
        self.buyer.encode(&mut e);
        match self.question {
            Question::Exposure { limit } => {
                e.u8(1).u64(limit);
            }
            Question::Concentration { share_percent } => {
                e.u8(2).u8(share_percent);
            }
        }
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
        let buyer = OrgId::decode(&mut d)?;
        let question = match d.u8("question")? {
            1 => Question::Exposure {
                limit: d.u64("limit")?,
            },
            2 => Question::Concentration {
                share_percent: d.u8("share")?,
            },
            t => {
                return Err(CodecError::UnknownTag {
                    what: "question",
                    tag: t.into(),
                })
            }
        };
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
            buyer,
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
