//! The `CrossCheck` payload: a proof, made by a party that can read every operand, that
//! committed values in (possibly different owners') records satisfy a relation: a linear
//! equation or an at-most (Bulletproofs over Pedersen commitments), or an invoice's
//! arithmetic, alone or across its order and delivery note (Groth16 over the records'
//! document commitments).

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::ids::{FieldName, RecordId};
use crate::record::MAX_RANGE_PROOF;

/// Most operands of a cross-check.
pub const MAX_CROSS_CHECK_OPERANDS: usize = 32;

/// One committed field of one record version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operand {
    /// The record.
    pub record: RecordId,
    /// The version.
    pub version: u32,
    /// The committed field.
    pub field: FieldName,
}

/// What a cross-check proves about its operands' committed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    /// `Σ coefficientᵢ · valueᵢ = 0` (equality: `[1, -1]`; total = sum of lines:
    /// `[1, -1, ..., -1]`); the proof is 64 bytes.
    Linear(Vec<i64>),
    /// The first value is at most the second; the proof is a range proof.
    AtMost,
    /// One operand, an invoice's `document`: its line totals are price x quantity and its
    /// total their sum (Groth16 proof of the `invoice` circuit).
    Invoice,
    /// Three operands, the `document`s of an invoice, its purchase order and its delivery
    /// note: the invoice bills the ordered prices and the delivered quantities (Groth16
    /// proof of the `invoice-linked` circuit).
    InvoiceLinked,
}

/// A proof, made by a party that can read every operand, that committed values in
/// (possibly different owners') records satisfy a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossCheck {
    /// The relation.
    pub relation: Relation,
    /// The operands, in the relation's order.
    pub operands: Vec<Operand>,
    /// The proof bytes.
    pub proof: Vec<u8>,
}

impl CrossCheck {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        match &self.relation {
            Relation::Linear(c) => {
                e.u8(1).count(c.len());
                for a in c {
                    e.u64(*a as u64);
                }
            }
            Relation::AtMost => {
                e.u8(2);
            }
            Relation::Invoice => {
                e.u8(3);
            }
            Relation::InvoiceLinked => {
                e.u8(4);
            }
        }
        e.count(self.operands.len());
        for o in &self.operands {
            o.record.encode(e);
            e.u32(o.version);
            o.field.encode(e);
        }
        e.bytes(&self.proof);
    }

    /// Reads and checks the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let relation = match d.u8("relation")? {
            1 => {
                let n = d.count("coefficients", MAX_CROSS_CHECK_OPERANDS, 8)?;
                let mut c = Vec::with_capacity(n);
                for _ in 0..n {
                    c.push(d.u64("coefficient")? as i64);
                }
                Relation::Linear(c)
            }
            2 => Relation::AtMost,
            3 => Relation::Invoice,
            4 => Relation::InvoiceLinked,
            t => {
                return Err(CodecError::UnknownTag {
                    what: "relation",
                    tag: t.into(),
                })
            }
        };
        let n = d.count("operands", MAX_CROSS_CHECK_OPERANDS, 12)?;
        let mut operands = Vec::with_capacity(n);
        for _ in 0..n {
            operands.push(Operand {
                record: RecordId::decode(d)?,
                version: d.u32("version")?,
                field: FieldName::decode(d)?,
            });
        }
        let c = CrossCheck {
            relation,
            operands,
            proof: d.bytes("cross-check proof", MAX_RANGE_PROOF)?,
        };
        c.check()?;
        Ok(c)
    }

    /// Checks the rules a decoder enforces.
    pub fn check(&self) -> Result<(), CodecError> {
        let bad = |reason: &str| CodecError::NotCanonical {
            what: "CrossCheck",
            reason: reason.into(),
        };
        match &self.relation {
            Relation::Linear(c) => {
                if c.len() != self.operands.len() || c.len() < 2 {
                    return Err(bad(
                        "a linear relation has one coefficient per operand, at least two",
                    ));
                }
                if c.iter().any(|a| *a == 0 || a.unsigned_abs() > 1 << 20) {
                    return Err(bad("coefficients are nonzero and at most 2^20 in size"));
                }
            }
            Relation::AtMost => {
                if self.operands.len() != 2 {
                    return Err(bad("at-most relates exactly two operands"));
                }
            }
            Relation::Invoice | Relation::InvoiceLinked => {
                let n = if self.relation == Relation::Invoice {
                    1
                } else {
                    3
                };
                if self.operands.len() != n {
                    return Err(bad(
                        "an invoice check names the invoice (and, linked, its order and delivery note)",
                    ));
                }
                if self.operands.iter().any(|o| o.field.as_str() != "document") {
                    return Err(bad(
                        "an invoice check is about the records' document fields",
                    ));
                }
            }
        }
        if self.operands.iter().any(|o| o.version == 0) {
            return Err(bad("record versions start at 1"));
        }
        Ok(())
    }
}
