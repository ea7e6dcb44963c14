//! The `Analytics` payload: questions about encrypted amounts, answered on ciphertexts under
//! the consortium's analytics key (tfhe), checked by re-execution.
//!
//! A member [`Analytics::Ask`]s about an organisation; the amounts are those committed when
//! the question commits: the financing requests for a buyer's orders, or the `fhe` amount
//! field of an owner's records (the latest version of each). A compute node
//! publishes the encrypted [`Analytics::Result`]; every validator re-runs the computation and
//! [`Analytics::Attest`]s the hash it got; when validators holding more than two thirds of the
//! voting power attest the published hash, the query is accepted and the analytics authority
//! decrypts the one boolean and files the [`Analytics::Answer`]. A validator that gets another
//! hash attests it: the mismatch is on the ledger.

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::hash::Hash;
use crate::ids::{FieldName, OrgId, SchemaId};

/// Most bytes of an encrypted amount with its proof of encryption.
pub const MAX_ENCRYPTED_AMOUNT: usize = 256 * 1024;
/// Most bytes of a query's encrypted result.
pub const MAX_QUERY_RESULT: usize = 256 * 1024;

/// A question about an organisation's encrypted amounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// Is the total financed for the subject (a buyer), across every bank, above `limit`?
    Exposure {
        /// In the amounts' minor units.
        limit: u64,
    },
    /// Does any one bank hold more than `share_percent` of the subject's (a buyer's)
    /// financing?
    Concentration {
        /// 1 to 99.
        share_percent: u8,
    },
    /// Is the total of amount field `field` over the latest versions of the subject's
    /// records of schema `schema` (a field flagged `fhe`) above `limit`?
    FieldTotal {
        /// The schema.
        schema: SchemaId,
        /// The `fhe` amount field.
        field: FieldName,
        /// In the field's minor units.
        limit: u64,
    },
}

impl std::fmt::Display for Question {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Question::Exposure { limit } => write!(f, "exposure above {limit}"),
            Question::Concentration { share_percent } => {
                write!(f, "one bank above {share_percent}% of the financing")
            }
            Question::FieldTotal {
                schema,
                field,
                limit,
            } => write!(f, "total {schema}.{field} above {limit}"),
        }
    }
}

impl Question {
    /// The name of the question's kind (`exposure`, `concentration`, `field-total`).
    pub fn kind(&self) -> &'static str {
        match self {
            Question::Exposure { .. } => "exposure",
            Question::Concentration { .. } => "concentration",
            Question::FieldTotal { .. } => "field-total",
        }
    }

    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        match self {
            Question::Exposure { limit } => {
                e.u8(1).u64(*limit);
            }
            Question::Concentration { share_percent } => {
                e.u8(2).u8(*share_percent);
            }
            Question::FieldTotal {
                schema,
                field,
                limit,
            } => {
                e.u8(3);
                schema.encode(e);
                field.encode(e);
                e.u64(*limit);
            }
        }
    }

    /// Reads and checks the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        Ok(match d.u8("question")? {
            1 => Question::Exposure {
                limit: d.u64("limit")?,
            },
            2 => {
                let share_percent = d.u8("share")?;
                if !(1..=99).contains(&share_percent) {
                    return Err(CodecError::NotCanonical {
                        what: "concentration question",
                        reason: format!("a share is 1 to 99 percent, not {share_percent}"),
                    });
                }
                Question::Concentration { share_percent }
            }
            3 => Question::FieldTotal {
                schema: SchemaId::decode(d)?,
                field: FieldName::decode(d)?,
                limit: d.u64("limit")?,
            },
            t => {
                return Err(CodecError::UnknownTag {
                    what: "question",
                    tag: t.into(),
                })
            }
        })
    }
}

/// One step of a query's life on the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Analytics {
    /// A member asks `question` about `buyer`'s financings (the query is named by this
    /// transaction's hash).
    Ask {
        /// Whom the question is about: for financing questions the buyer (the owner of the
        /// purchase orders of the financed invoices), for a field total the records' owner.
        subject: OrgId,
        /// The question.
        question: Question,
    },
    /// A compute node publishes the encrypted result of `query`.
    Result {
        /// The query (its `Ask` transaction's hash).
        query: Hash,
        /// The result: tfhe's serialisation of one encrypted boolean.
        result: Vec<u8>,
    },
    /// A validator's re-execution of `query` gave `result_hash`.
    Attest {
        /// The query.
        query: Hash,
        /// The hash of the result it computed.
        result_hash: Hash,
    },
    /// The analytics authority's decryption of an accepted query's result.
    Answer {
        /// The query.
        query: Hash,
        /// Yes or no.
        answer: bool,
    },
}

impl Analytics {
    /// The query this step is about (`None` for an `Ask`, which names a new one).
    pub fn query(&self) -> Option<&Hash> {
        match self {
            Analytics::Ask { .. } => None,
            Analytics::Result { query, .. }
            | Analytics::Attest { query, .. }
            | Analytics::Answer { query, .. } => Some(query),
        }
    }

    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        match self {
            Analytics::Ask { subject, question } => {
                e.u8(1);
                subject.encode(e);
                question.encode(e);
            }
            Analytics::Result { query, result } => {
                e.u8(2).fixed(query.as_bytes()).bytes(result);
            }
            Analytics::Attest { query, result_hash } => {
                e.u8(3)
                    .fixed(query.as_bytes())
                    .fixed(result_hash.as_bytes());
            }
            Analytics::Answer { query, answer } => {
                e.u8(4).fixed(query.as_bytes()).u8(u8::from(*answer));
            }
        }
    }

    /// Reads and checks the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        Ok(match d.u8("analytics step")? {
            1 => Analytics::Ask {
                subject: OrgId::decode(d)?,
                question: Question::decode(d)?,
            },
            2 => Analytics::Result {
                query: Hash(d.array("query")?),
                result: d.bytes("query result", MAX_QUERY_RESULT)?,
            },
            3 => Analytics::Attest {
                query: Hash(d.array("query")?),
                result_hash: Hash(d.array("result hash")?),
            },
            4 => Analytics::Answer {
                query: Hash(d.array("query")?),
                answer: match d.u8("answer")? {
                    0 => false,
                    1 => true,
                    t => {
                        return Err(CodecError::UnknownTag {
                            what: "answer",
                            tag: t.into(),
                        })
                    }
                },
            },
            t => {
                return Err(CodecError::UnknownTag {
                    what: "analytics step",
                    tag: t.into(),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(a: Analytics) {
        let mut e = Encoder::new();
        a.encode(&mut e);
        let b = e.finish();
        let mut d = Decoder::new(&b);
        assert_eq!(Analytics::decode(&mut d).unwrap(), a);
        d.finish("analytics").unwrap();
    }

    #[test]
    fn steps_round_trip_and_bad_shares_are_refused() {
        let buyer = OrgId::new("globex-imports").unwrap();
        round_trip(Analytics::Ask {
            subject: buyer.clone(),
            question: Question::Exposure { limit: u64::MAX },
        });
        round_trip(Analytics::Ask {
            subject: buyer.clone(),
            question: Question::Concentration { share_percent: 99 },
        });
        round_trip(Analytics::Ask {
            subject: buyer.clone(),
            question: Question::FieldTotal {
                schema: SchemaId::new("invoice").unwrap(),
                field: FieldName::new("total").unwrap(),
                limit: 7,
            },
        });
        round_trip(Analytics::Result {
            query: Hash([7; 32]),
            result: vec![1, 2, 3],
        });
        round_trip(Analytics::Attest {
            query: Hash([7; 32]),
            result_hash: Hash([9; 32]),
        });
        round_trip(Analytics::Answer {
            query: Hash([7; 32]),
            answer: true,
        });
        for bad in [0u8, 100, 255] {
            let mut e = Encoder::new();
            e.u8(1);
            buyer.encode(&mut e);
            e.u8(2).u8(bad);
            let b = e.finish();
            let err = Analytics::decode(&mut Decoder::new(&b)).unwrap_err();
            assert!(err.to_string().contains("1 to 99"), "{err}");
        }
        let mut e = Encoder::new();
        e.u8(4).fixed(&[0; 32]).u8(2);
        let b = e.finish();
        assert!(Analytics::decode(&mut Decoder::new(&b)).is_err());
    }
}
