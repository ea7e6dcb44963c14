//! Putting a record version: plaintext values (and, for a document schema, the document)
//! checked against the schema, each field sealed under a fresh key wrapped to the owner,
//! the schema's auditors, the readers named and the previous version's readers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ledger_circuits::Document;
use ledger_crypto::record::{FieldToSeal, Reader};
use ledger_state::{rules, StateView, TxFailure};
use ledger_types::{FieldName, OrgId, PutRecord, RecordId, SchemaId, DOCUMENT_FIELD};
use zeroize::Zeroizing;

use crate::document::{document_field, DocumentInput};
use crate::seal::Readers;
use crate::{BuildError, Builder, OwnerOnly, ProvingKeys};

/// One field's value, written as text (amounts in minor units, dates `YYYY-MM-DD`, bytes
/// in hex). Its `Debug` output leaves the value out.
#[derive(Clone, PartialEq, Eq)]
pub struct FieldValue {
    /// The field.
    pub name: FieldName,
    /// Its value.
    pub value: String,
}

impl fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldValue")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A record version to put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutInput {
    /// The record.
    pub record: RecordId,
    /// The schema it follows: required for a new record; a new version keeps the
    /// record's schema when `None`.
    pub schema: Option<SchemaId>,
    /// The schema version (its latest when `None`).
    pub schema_version: Option<u32>,
    /// The values.
    pub fields: Vec<FieldValue>,
    /// Organisations that may read every field of this version, beside the owner, the
    /// schema's auditors and the previous version's readers.
    pub readers: Vec<OrgId>,
    /// The document, for a document schema.
    pub document: Option<DocumentInput>,
}

impl<V: StateView> Builder<'_, V> {
    /// Seals the next version of a record this organisation owns (or its first).
    /// `keys` gives the chain's analytics keys when the schema has `fhe` fields.
    pub fn put(&self, input: &PutInput, keys: &dyn ProvingKeys) -> Result<PutRecord, BuildError> {
        let id = &input.record;
        let version = match rules::next_record_version(self.view, id, self.org)? {
            Ok(v) => v,
            Err(TxFailure::NotRecordOwner { owner, .. }) => {
                return Err(BuildError::NotOwner {
                    record: id.clone(),
                    owner,
                    only: OwnerOnly::Write,
                })
            }
            Err(f) => return Err(BuildError::Rejected(f)),
        };
        let previous = match version {
            0 | 1 => None,
            v => Some(self.version(id, v - 1)?.0),
        };
        let schema_id = match (&input.schema, &previous) {
            (Some(s), _) => s.clone(),
            (None, Some(p)) => p.schema.clone(),
            (None, None) => return Err(BuildError::SchemaNeeded { record: id.clone() }),
        };
        let schema = self.schema(&schema_id, input.schema_version)?;
        let extra: BTreeSet<&OrgId> = input.readers.iter().collect();
        let mut values: BTreeMap<FieldName, &str> = BTreeMap::new();
        for f in &input.fields {
            if values.insert(f.name.clone(), &f.value).is_some() {
                return Err(BuildError::FieldTwice {
                    field: f.name.clone(),
                });
            }
        }
        let document = match (&input.document, schema.document) {
            (Some(d), Some(kind)) => {
                // A new version keeps the document's blinding (and so a delivery note its
                // goods nullifier): the same document, corrected, is not new goods.
                let blinding = match &previous {
                    Some(p) if p.document_commitment.is_some() => {
                        let (p, pschema) = self.at(id, Some(p.version))?;
                        Some(self.open_document(&p, &pschema)?.blinding)
                    }
                    _ => None,
                };
                Some(self.build_document(kind, d, blinding)?)
            }
            (Some(_), None) => {
                return Err(BuildError::NotADocumentSchema {
                    schema: schema.schema.clone(),
                    version: schema.version,
                })
            }
            (None, Some(kind)) => {
                return Err(BuildError::DocumentNeeded {
                    schema: schema.schema.clone(),
                    kind: kind.name(),
                })
            }
            (None, None) => None,
        };
        if document.is_some() && values.keys().any(|k| k.as_str() == DOCUMENT_FIELD) {
            return Err(BuildError::DocumentAsValue);
        }
        let mut readers = Readers::default();
        let mut readers_of = |name: &FieldName| -> Result<Vec<Reader>, BuildError> {
            let mut orgs: BTreeSet<&OrgId> = rules::required_readers(self.org, &schema).collect();
            orgs.extend(extra.iter().copied());
            if let Some(p) = &previous {
                orgs.extend(
                    p.wraps
                        .iter()
                        .filter(|w| &w.field == name)
                        .map(|w| &w.reader),
                );
            }
            orgs.into_iter().map(|r| readers.get(self, r)).collect()
        };
        let mut to_seal = Vec::new();
        if let Some(doc) = &document {
            let name = document_field()?;
            to_seal.push(FieldToSeal {
                readers: readers_of(&name)?,
                name: name.clone(),
                plaintext: Zeroizing::new(doc.to_bytes()),
            });
            values.insert(name, "");
        }
        for (name, value) in &values {
            if document.is_some() && name.as_str() == DOCUMENT_FIELD {
                continue;
            }
            let decl = rules::declared(&schema, name).ok_or_else(|| BuildError::UnknownField {
                field: name.clone(),
                schema: schema.schema.clone(),
                version: schema.version,
            })?;
            let plaintext = decl
                .ty
                .encode_value(value)
                .map_err(|reason| BuildError::BadValue {
                    field: name.clone(),
                    reason,
                })?;
            to_seal.push(FieldToSeal {
                name: name.clone(),
                plaintext: Zeroizing::new(plaintext),
                readers: readers_of(name)?,
            });
        }
        if let Some(missing) = rules::missing_required(&schema, |n| values.contains_key(n)) {
            return Err(BuildError::MissingField {
                field: missing.name.clone(),
                schema: schema.schema.clone(),
            });
        }
        if to_seal.is_empty() {
            return Err(BuildError::NoFields);
        }
        let mut put = self.seal(id, version, &schema, to_seal, keys)?;
        put.document_commitment = document.as_ref().map(Document::commitment_bytes);
        Ok(put)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{name, org, po_put, record, Chain, NoProvingKeys};
    use ledger_state::TxOutcome;
    use ledger_types::Payload;

    fn readers_of(put: &PutRecord, field: &str) -> Vec<String> {
        put.wraps
            .iter()
            .filter(|w| w.field.as_str() == field)
            .map(|w| w.reader.to_string())
            .collect()
    }

    #[test]
    fn a_new_record_is_wrapped_to_its_owner_auditors_and_readers() {
        let mut c = Chain::new();
        let input = po_put(
            "PO-1",
            true,
            &[("total", "1200"), ("note", "rush")],
            &["bank-c"],
        );
        let put = c.builder("bank-a").put(&input, &NoProvingKeys).unwrap();
        assert_eq!(put.version, 1);
        for f in ["note", "total"] {
            assert_eq!(readers_of(&put, f), ["bank-a", "bank-c", "reg-eu"], "{f}");
        }
        // The committed amount carries its commitment, range proof and the auditor's handle.
        assert_eq!(put.commitments.len(), 1);
        assert_eq!(put.commitments[0].field, name("total"));
        assert!(put.range_proof.is_some());
        let handles: Vec<_> = put
            .audit_handles
            .iter()
            .map(|h| (&h.field, &h.auditor))
            .collect();
        assert_eq!(handles, [(&name("total"), &org("reg-eu"))]);
        assert_eq!(
            c.commit("bank-a", Payload::PutRecord(put)),
            TxOutcome::Applied
        );

        // The next version keeps the schema and the previous version's readers.
        let put = c
            .builder("bank-a")
            .put(
                &po_put("PO-1", false, &[("total", "1300")], &[]),
                &NoProvingKeys,
            )
            .unwrap();
        assert_eq!(put.version, 2);
        assert_eq!(readers_of(&put, "total"), ["bank-a", "bank-c", "reg-eu"]);
        assert_eq!(
            c.commit("bank-a", Payload::PutRecord(put)),
            TxOutcome::Applied
        );
    }

    #[test]
    fn a_new_version_by_another_organisation_is_refused() {
        let mut c = Chain::new();
        let put = c
            .builder("bank-a")
            .put(
                &po_put("PO-1", true, &[("total", "1")], &[]),
                &NoProvingKeys,
            )
            .unwrap();
        assert_eq!(
            c.commit("bank-a", Payload::PutRecord(put)),
            TxOutcome::Applied
        );
        let e = c
            .builder("bank-b")
            .put(
                &po_put("PO-1", false, &[("total", "2")], &[]),
                &NoProvingKeys,
            )
            .unwrap_err();
        assert_eq!(
            e,
            BuildError::NotOwner {
                record: record("PO-1"),
                owner: org("bank-a"),
                only: OwnerOnly::Write,
            }
        );
        assert_eq!(
            e.to_string(),
            "record PO-1 is owned by bank-a; only its owner writes new versions"
        );
    }

    #[test]
    fn fields_are_declared_given_once_and_required_ones_present() {
        let c = Chain::new();
        let b = c.builder("bank-a");
        let po = SchemaId::new("po").unwrap();
        let e = b
            .put(
                &po_put("PO-1", true, &[("total", "1"), ("colour", "red")], &[]),
                &NoProvingKeys,
            )
            .unwrap_err();
        assert_eq!(
            e,
            BuildError::UnknownField {
                field: name("colour"),
                schema: po.clone(),
                version: 1,
            }
        );
        assert_eq!(
            e.to_string(),
            "field colour is not declared by schema po v1"
        );

        let e = b
            .put(
                &po_put("PO-1", true, &[("note", "no total")], &[]),
                &NoProvingKeys,
            )
            .unwrap_err();
        assert_eq!(
            e,
            BuildError::MissingField {
                field: name("total"),
                schema: po,
            }
        );
        assert_eq!(
            e.to_string(),
            "required field total of schema po is missing"
        );

        let e = b
            .put(
                &po_put("PO-1", true, &[("total", "1"), ("total", "2")], &[]),
                &NoProvingKeys,
            )
            .unwrap_err();
        assert_eq!(
            e,
            BuildError::FieldTwice {
                field: name("total")
            }
        );

        let e = b
            .put(
                &po_put("PO-1", true, &[("total", "12.50")], &[]),
                &NoProvingKeys,
            )
            .unwrap_err();
        assert!(matches!(&e, BuildError::BadValue { field, .. } if field == &name("total")));
        assert!(e.to_string().starts_with("field total: "), "{e}");

        let e = b
            .put(
                &po_put("PO-1", false, &[("total", "1")], &[]),
                &NoProvingKeys,
            )
            .unwrap_err();
        assert_eq!(
            e,
            BuildError::SchemaNeeded {
                record: record("PO-1")
            }
        );

        let e = b
            .put(
                &po_put("PO-1", true, &[("total", "1")], &["bank-z"]),
                &NoProvingKeys,
            )
            .unwrap_err();
        assert_eq!(e, BuildError::NotAMember { org: org("bank-z") });
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
    }

    #[test]
    fn a_document_schema_needs_its_document_and_others_refuse_one() {
        let c = Chain::new();
        let mut input = po_put("PO-1", true, &[("total", "1")], &[]);
        input.document = Some(DocumentInput::default());
        let e = c.builder("bank-a").put(&input, &NoProvingKeys).unwrap_err();
        assert_eq!(
            e,
            BuildError::NotADocumentSchema {
                schema: SchemaId::new("po").unwrap(),
                version: 1,
            }
        );
    }

    #[test]
    fn debug_output_leaves_values_out() {
        let input = po_put("PO-1", true, &[("note", "secret terms")], &[]);
        assert!(!format!("{input:?}").contains("secret terms"));
    }
}
