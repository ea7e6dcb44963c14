//! Cross-checks: a relation between records proved without revealing them. Between
//! committed amounts this organisation can read (`equal`, `sum`, `at-most`) the proof is a
//! sigma or range proof over the stored commitments; between documents (`invoice`,
//! `invoice-linked`) it is a Groth16 proof over the document commitments (see
//! [`crate::document`]).

use ledger_proofs::Opening;
use ledger_state::StateView;
use ledger_types::{CrossCheck, FieldName, Operand, RecordId, Relation};

use crate::resources::ProvingKeys;
use crate::{BuildError, Builder};

/// A relation a cross-check proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckRelation {
    /// Two committed amounts are equal.
    Equal,
    /// The first committed amount is the sum of the others (three operands or more).
    Sum,
    /// The first committed amount is at most the second.
    AtMost,
    /// An invoice's line totals and total add up (one document).
    Invoice,
    /// An invoice agrees with its purchase order (prices) and delivery note (quantities).
    InvoiceLinked,
}

impl CheckRelation {
    /// The relation named `name` over `operands` operands, if it takes that many.
    pub fn parse(name: &str, operands: usize) -> Result<Self, BuildError> {
        let relation = match name {
            "equal" => CheckRelation::Equal,
            "sum" => CheckRelation::Sum,
            "at-most" => CheckRelation::AtMost,
            "invoice" => CheckRelation::Invoice,
            "invoice-linked" => CheckRelation::InvoiceLinked,
            _ => return Err(unknown(name, operands)),
        };
        if !relation.takes(operands) {
            return Err(unknown(name, operands));
        }
        Ok(relation)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            CheckRelation::Equal => "equal",
            CheckRelation::Sum => "sum",
            CheckRelation::AtMost => "at-most",
            CheckRelation::Invoice => "invoice",
            CheckRelation::InvoiceLinked => "invoice-linked",
        }
    }

    /// Whether it relates `n` operands.
    pub fn takes(self, n: usize) -> bool {
        match self {
            CheckRelation::Equal | CheckRelation::AtMost => n == 2,
            CheckRelation::Sum => n >= 3,
            CheckRelation::Invoice => n == 1,
            CheckRelation::InvoiceLinked => n == 3,
        }
    }
}

fn unknown(name: &str, operands: usize) -> BuildError {
    BuildError::UnknownRelation {
        relation: name.to_string(),
        operands,
    }
}

/// One operand of a cross-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperandInput {
    /// The record.
    pub record: RecordId,
    /// The version (the latest when `None`).
    pub version: Option<u32>,
    /// The committed field (`None` for a document check, which uses the document).
    pub field: Option<FieldName>,
}

/// A cross-check to prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossCheckInput {
    /// The relation.
    pub relation: CheckRelation,
    /// Its operands, in the relation's order (for a sum: the total first).
    pub operands: Vec<OperandInput>,
}

impl<V: StateView> Builder<'_, V> {
    /// Opens the operands this organisation can read and proves the relation between them.
    /// `keys` gives the proving keys of the document checks.
    pub fn cross_check(
        &self,
        input: &CrossCheckInput,
        keys: &dyn ProvingKeys,
    ) -> Result<CrossCheck, BuildError> {
        let n = input.operands.len();
        if !input.relation.takes(n) {
            return Err(unknown(input.relation.name(), n));
        }
        let relation = match input.relation {
            CheckRelation::Equal => Relation::Linear(vec![1, -1]),
            CheckRelation::Sum => {
                let mut c = vec![1];
                c.extend(std::iter::repeat_n(-1, n - 1));
                Relation::Linear(c)
            }
            CheckRelation::AtMost => Relation::AtMost,
            CheckRelation::Invoice => {
                return self.prove_invoice_check(Relation::Invoice, &input.operands, keys)
            }
            CheckRelation::InvoiceLinked => {
                return self.prove_invoice_check(Relation::InvoiceLinked, &input.operands, keys)
            }
        };
        let mut operands = Vec::with_capacity(n);
        let mut openings = Vec::with_capacity(n);
        for o in &input.operands {
            let (operand, opening) = self.open_amount(o)?;
            operands.push(operand);
            openings.push(opening);
        }
        let ctx = ledger_proofs::Context {
            chain_id: self.chain.to_string(),
            items: operands
                .iter()
                .map(|o| (o.record.to_string(), o.version, o.field.to_string()))
                .collect(),
        }
        .filed_by(self.org.as_str());
        let proof = match (&relation, openings.as_slice()) {
            (Relation::Linear(c), _) => {
                ledger_proofs::prove_linear(&ctx, c, &openings).map(|p| p.to_bytes().to_vec())
            }
            (Relation::AtMost, [first, second]) => {
                ledger_proofs::prove_at_most(&ctx, first, second).map(|p| p.proof)
            }
            _ => {
                return Err(BuildError::internal(
                    "invoice checks are proved with circuits",
                ))
            }
        }
        .map_err(BuildError::RelationFails)?;
        Ok(CrossCheck {
            relation,
            operands,
            proof,
        })
    }

    /// The opening of a committed amount this organisation can read, checked against the
    /// stored commitment.
    fn open_amount(&self, o: &OperandInput) -> Result<(Operand, Opening), BuildError> {
        let id = &o.record;
        let field = o
            .field
            .clone()
            .ok_or_else(|| BuildError::OperandField { record: id.clone() })?;
        let (rv, schema) = self.at(id, o.version)?;
        if rv.commitment(&field).is_none() {
            return Err(BuildError::NotCommitted {
                record: id.clone(),
                version: rv.version,
                field,
            });
        }
        let wrap = rv
            .wrap(&field, self.org)
            .ok_or_else(|| BuildError::NoFieldKey {
                org: self.org.clone(),
                record: id.clone(),
                field: field.clone(),
            })?;
        let unreadable = |reason: String| BuildError::FieldUnreadable {
            record: id.clone(),
            field: field.clone(),
            reason,
        };
        let b = self.binding(&rv, &field, &schema);
        let key = self
            .unwrap(&b, wrap)
            .map_err(|e| unreadable(e.to_string()))?;
        let sealed = rv.field(&field).ok_or_else(|| BuildError::NoSealedField {
            record: id.clone(),
            field: field.clone(),
        })?;
        let plain = key
            .open(&b, &sealed.sealed)
            .map_err(|e| unreadable(e.to_string()))?;
        let opening = Opening::from_bytes(&plain).map_err(BuildError::BadOpening)?;
        let opens = rv
            .commitment(&field)
            .and_then(|c| ledger_proofs::Commitment::from_bytes(&c.commitment).ok())
            .is_some_and(|c| opening.opens(&c));
        if !opens {
            return Err(BuildError::OpeningMismatch {
                record: id.clone(),
                field,
            });
        }
        Ok((
            Operand {
                record: id.clone(),
                version: rv.version,
                field,
            },
            opening,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{name, org, po_put, record, Chain, NoProvingKeys};
    use ledger_state::TxOutcome;
    use ledger_types::{Payload, SchemaId};

    fn operand(id: &str, field: &str) -> OperandInput {
        OperandInput {
            record: record(id),
            version: None,
            field: Some(name(field)),
        }
    }

    /// bank-a's PO-1, PO-2 and PO-3 with totals 500, 500 and 700.
    fn chain_with_pos() -> Chain {
        let mut c = Chain::new();
        for (id, total) in [("PO-1", "500"), ("PO-2", "500"), ("PO-3", "700")] {
            let put = c
                .builder("bank-a")
                .put(
                    &po_put(id, true, &[("total", total), ("note", "n")], &[]),
                    &NoProvingKeys,
                )
                .unwrap();
            assert_eq!(
                c.commit("bank-a", Payload::PutRecord(put)),
                TxOutcome::Applied
            );
        }
        c
    }

    #[test]
    fn relations_take_their_number_of_operands() {
        assert_eq!(CheckRelation::parse("equal", 2), Ok(CheckRelation::Equal));
        assert_eq!(CheckRelation::parse("sum", 4), Ok(CheckRelation::Sum));
        let e = CheckRelation::parse("equal", 3).unwrap_err();
        assert_eq!(
            e,
            BuildError::UnknownRelation {
                relation: "equal".into(),
                operands: 3,
            }
        );
        assert!(e
            .to_string()
            .starts_with("relation \"equal\" with 3 operands: use equal (2)"));
        assert!(CheckRelation::parse("greater", 2).is_err());
    }

    #[test]
    fn equal_and_at_most_are_proved_and_accepted_by_the_ledger() {
        let mut c = chain_with_pos();
        let equal = CrossCheckInput {
            relation: CheckRelation::Equal,
            operands: vec![operand("PO-1", "total"), operand("PO-2", "total")],
        };
        let check = c
            .builder("bank-a")
            .cross_check(&equal, &NoProvingKeys)
            .unwrap();
        assert_eq!(check.relation, Relation::Linear(vec![1, -1]));
        assert_eq!(check.operands[1].version, 1);
        assert_eq!(
            c.commit("bank-a", Payload::CrossCheck(check)),
            TxOutcome::Applied
        );

        let at_most = CrossCheckInput {
            relation: CheckRelation::AtMost,
            operands: vec![operand("PO-1", "total"), operand("PO-3", "total")],
        };
        let check = c
            .builder("bank-a")
            .cross_check(&at_most, &NoProvingKeys)
            .unwrap();
        assert_eq!(
            c.commit("bank-a", Payload::CrossCheck(check)),
            TxOutcome::Applied
        );
    }

    #[test]
    fn a_relation_that_does_not_hold_or_cannot_be_opened_is_refused() {
        let c = chain_with_pos();
        let b = c.builder("bank-a");
        let unequal = CrossCheckInput {
            relation: CheckRelation::Equal,
            operands: vec![operand("PO-1", "total"), operand("PO-3", "total")],
        };
        let e = b.cross_check(&unequal, &NoProvingKeys).unwrap_err();
        assert!(matches!(e, BuildError::RelationFails(_)), "{e:?}");
        assert!(e.to_string().starts_with("the relation does not hold"));

        let note = CrossCheckInput {
            relation: CheckRelation::Equal,
            operands: vec![operand("PO-1", "note"), operand("PO-2", "note")],
        };
        assert_eq!(
            b.cross_check(&note, &NoProvingKeys).unwrap_err(),
            BuildError::NotCommitted {
                record: record("PO-1"),
                version: 1,
                field: name("note"),
            }
        );
        let e = c
            .builder("bank-c")
            .cross_check(&unequal, &NoProvingKeys)
            .unwrap_err();
        assert_eq!(
            e,
            BuildError::NoFieldKey {
                org: org("bank-c"),
                record: record("PO-1"),
                field: name("total"),
            }
        );

        let invoice = CrossCheckInput {
            relation: CheckRelation::Invoice,
            operands: vec![operand("PO-1", "total")],
        };
        assert_eq!(
            b.cross_check(&invoice, &NoProvingKeys).unwrap_err(),
            BuildError::NotADocumentRecord {
                record: record("PO-1"),
                schema: SchemaId::new("po").unwrap(),
            }
        );
    }
}
