//! The read path: a record version's fields as this organisation sees them (each opened
//! with its own key wrap, or reported as not readable and why), and who can read what.
//! A regulator's read under a schema's audit policy goes to the audit trail before any
//! plaintext is returned.

use std::collections::BTreeSet;
use std::fmt;

use ledger_proofs::Opening;
use ledger_state::{access_history, record_head, AccessEvent, RecordVersion, StateView};
use ledger_types::{FieldName, OrgId, RecordId, RegisterSchema, Role, SchemaId, DOCUMENT_FIELD};
use zeroize::Zeroizing;

use crate::document::render_document;
use crate::resources::{AuditEntry, AuditTrail};
use crate::{BuildError, Builder};

/// A field as this organisation sees it.
#[derive(Clone, PartialEq, Eq)]
pub enum FieldAccess {
    /// Decrypted: the value as text.
    Readable(Zeroizing<String>),
    /// This organisation holds no key wrap of the field: why.
    NotAuthorised(String),
    /// A wrap exists but does not open, or the sealed value does not open: why.
    Unreadable(String),
}

impl fmt::Debug for FieldAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldAccess::Readable(_) => f.write_str("Readable(..)"),
            FieldAccess::NotAuthorised(why) => f.debug_tuple("NotAuthorised").field(why).finish(),
            FieldAccess::Unreadable(why) => f.debug_tuple("Unreadable").field(why).finish(),
        }
    }
}

/// One field of a record version, opened if this organisation can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedField {
    /// The field.
    pub name: FieldName,
    /// Its declared type (`unknown` if the schema does not declare it).
    pub ty: &'static str,
    /// Its value, or why not.
    pub access: FieldAccess,
}

/// A read of a record version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadInput {
    /// The record.
    pub record: RecordId,
    /// The version (the latest when `None`).
    pub version: Option<u32>,
    /// The fields (every field when empty).
    pub fields: BTreeSet<FieldName>,
}

/// A record version as this organisation reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRead {
    /// The record.
    pub record: RecordId,
    /// The version read.
    pub version: u32,
    /// The record's latest version.
    pub latest_version: u32,
    /// Its owner.
    pub owner: OrgId,
    /// The schema it follows.
    pub schema: SchemaId,
    /// The schema version.
    pub schema_version: u32,
    /// The fields read.
    pub fields: Vec<OpenedField>,
    /// Whether this read used the organisation's audit access (a regulator reading under
    /// the schema's audit policy); such reads are in the audit trail.
    pub audit_read: bool,
}

/// Who holds a key wrap of one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldReaders {
    /// The field.
    pub field: FieldName,
    /// Its readers.
    pub readers: Vec<OrgId>,
}

/// Who can read a record's latest version, and its access history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    /// The record.
    pub record: RecordId,
    /// Its owner.
    pub owner: OrgId,
    /// Its latest version.
    pub latest_version: u32,
    /// The readers of each field of the latest version.
    pub readers: Vec<FieldReaders>,
    /// Every grant, revocation and third-party put, oldest first.
    pub events: Vec<AccessEvent>,
}

impl<V: StateView> Builder<'_, V> {
    /// Reads a record version's fields with this organisation's keys. A regulator's read
    /// under the schema's audit policy is recorded in `trail` first.
    pub fn read(
        &self,
        input: &ReadInput,
        trail: &dyn AuditTrail,
    ) -> Result<RecordRead, BuildError> {
        let id = &input.record;
        let head = record_head(self.view, id)?
            .ok_or_else(|| BuildError::NoRecord { record: id.clone() })?;
        let (rv, schema) = self.version(id, input.version.unwrap_or(head.latest_version))?;
        if let Some(f) = input.fields.iter().find(|f| rv.field(f).is_none()) {
            return Err(BuildError::FieldNotInVersion {
                record: id.clone(),
                version: rv.version,
                field: f.clone(),
            });
        }
        let fields = self.open_fields(&rv, &schema, &input.fields);
        let me = self.me()?;
        let audit_read = &rv.owner != self.org
            && me.has_role(Role::Regulator)
            && schema.auditors.contains(self.org);
        if audit_read {
            let entries: Vec<AuditEntry> = fields
                .iter()
                .filter(|o| matches!(o.access, FieldAccess::Readable(_)))
                .map(|o| AuditEntry {
                    record: id.clone(),
                    version: rv.version,
                    owner: rv.owner.clone(),
                    field: o.name.to_string(),
                })
                .collect();
            if !entries.is_empty() {
                // The read is logged before any plaintext leaves the builder.
                trail.record(&entries)?;
            }
        }
        Ok(RecordRead {
            record: id.clone(),
            version: rv.version,
            latest_version: head.latest_version,
            owner: rv.owner,
            schema: rv.schema,
            schema_version: rv.schema_version,
            fields,
            audit_read,
        })
    }

    /// Who holds a key of each field of the record's latest version, and its access
    /// history.
    pub fn grants(&self, record: &RecordId) -> Result<Grants, BuildError> {
        let (rv, _) = self.latest(record)?;
        let events = access_history(self.view, record)?;
        let readers = rv
            .fields
            .iter()
            .map(|f| FieldReaders {
                field: f.name.clone(),
                readers: rv
                    .wraps
                    .iter()
                    .filter(|w| w.field == f.name)
                    .map(|w| w.reader.clone())
                    .collect(),
            })
            .collect();
        Ok(Grants {
            record: record.clone(),
            owner: rv.owner,
            latest_version: rv.version,
            readers,
            events,
        })
    }

    /// Opens the named fields of a version (all when `only` is empty) with this
    /// organisation's wraps.
    pub(crate) fn open_fields(
        &self,
        rv: &RecordVersion,
        schema: &RegisterSchema,
        only: &BTreeSet<FieldName>,
    ) -> Vec<OpenedField> {
        rv.fields
            .iter()
            .filter(|f| only.is_empty() || only.contains(&f.name))
            .map(|f| {
                let decl = ledger_state::rules::declared(schema, &f.name);
                let ty = decl.map(|d| d.ty.name()).unwrap_or("unknown");
                let access = match rv.wrap(&f.name, self.org) {
                    None => FieldAccess::NotAuthorised(format!(
                        "{} holds no key for this field",
                        self.org
                    )),
                    Some(w) => {
                        let b = self.binding(rv, &f.name, schema);
                        match self.unwrap(&b, w) {
                            Err(e) => FieldAccess::Unreadable(format!(
                                "the key wrap addressed to {} does not open: {e}",
                                self.org
                            )),
                            Ok(key) => match key.open(&b, &f.sealed) {
                                Err(e) => FieldAccess::Unreadable(format!(
                                    "the sealed value does not open: {e}"
                                )),
                                Ok(plain) if decl.is_some_and(|d| d.committed) => {
                                    readable(check_opening(rv, &f.name, &plain))
                                }
                                Ok(plain)
                                    if schema.document.is_some()
                                        && f.name.as_str() == DOCUMENT_FIELD =>
                                {
                                    readable(render_document(rv, &plain))
                                }
                                Ok(plain) => match decl.map(|d| d.ty.decode_value(&plain)) {
                                    Some(Ok(v)) => FieldAccess::Readable(Zeroizing::new(v)),
                                    Some(Err(e)) => FieldAccess::Unreadable(format!(
                                        "the plaintext is not a valid {ty}: {e}"
                                    )),
                                    None => FieldAccess::Unreadable(
                                        "the field is not declared by its schema".into(),
                                    ),
                                },
                            },
                        }
                    }
                };
                OpenedField {
                    name: f.name.clone(),
                    ty,
                    access,
                }
            })
            .collect()
    }
}

fn readable(r: Result<Zeroizing<String>, String>) -> FieldAccess {
    match r {
        Ok(v) => FieldAccess::Readable(v),
        Err(why) => FieldAccess::Unreadable(why),
    }
}

/// The value of a committed amount, if its sealed opening opens the stored commitment.
fn check_opening(
    rv: &RecordVersion,
    field: &FieldName,
    plain: &[u8],
) -> Result<Zeroizing<String>, String> {
    let opening =
        Opening::from_bytes(plain).map_err(|e| format!("the sealed opening is malformed: {e}"))?;
    let commitment = rv
        .commitment(field)
        .ok_or_else(|| "the committed field has no commitment".to_string())?;
    let c = ledger_proofs::Commitment::from_bytes(&commitment.commitment)
        .map_err(|e| format!("the commitment is malformed: {e}"))?;
    if !opening.opens(&c) {
        return Err("the sealed value does not match the field's public commitment".into());
    }
    Ok(Zeroizing::new(opening.value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{name, org, po_put, record, Chain, NoProvingKeys, Trail};
    use ledger_state::{AccessAction, TxOutcome};
    use ledger_types::Payload;

    fn read_all(id: &str) -> ReadInput {
        ReadInput {
            record: record(id),
            version: None,
            fields: BTreeSet::new(),
        }
    }

    /// bank-a's PO-1 v1 (total 1200, note "rush"), readable by bank-b too.
    fn chain_with_po() -> Chain {
        let mut c = Chain::new();
        let input = po_put(
            "PO-1",
            true,
            &[("total", "1200"), ("note", "rush")],
            &["bank-b"],
        );
        let put = c.builder("bank-a").put(&input, &NoProvingKeys).unwrap();
        assert_eq!(
            c.commit("bank-a", Payload::PutRecord(put)),
            TxOutcome::Applied
        );
        c
    }

    fn values(r: &RecordRead) -> Vec<(&str, Option<&str>)> {
        r.fields
            .iter()
            .map(|f| match &f.access {
                FieldAccess::Readable(v) => (f.name.as_str(), Some(v.as_str())),
                _ => (f.name.as_str(), None),
            })
            .collect()
    }

    #[test]
    fn readers_open_their_fields_and_others_are_told_they_hold_no_key() {
        let c = chain_with_po();
        let trail = Trail::default();
        for reader in ["bank-a", "bank-b"] {
            let r = c.builder(reader).read(&read_all("PO-1"), &trail).unwrap();
            assert_eq!(
                values(&r),
                [("note", Some("rush")), ("total", Some("1200"))]
            );
            assert!(!r.audit_read);
        }
        let r = c.builder("bank-c").read(&read_all("PO-1"), &trail).unwrap();
        assert_eq!(r.owner, org("bank-a"));
        assert_eq!((r.version, r.latest_version), (1, 1));
        for f in &r.fields {
            assert_eq!(
                f.access,
                FieldAccess::NotAuthorised("bank-c holds no key for this field".into())
            );
        }
        assert_eq!(r.fields[1].ty, "amount");
        assert!(
            trail.0.borrow().is_empty(),
            "members' reads are not audit reads"
        );
        // Debug output never shows a value.
        let shown = format!("{:?}", c.builder("bank-a").read(&read_all("PO-1"), &trail));
        assert!(
            !shown.contains("rush") && !shown.contains("1200"),
            "{shown}"
        );
    }

    #[test]
    fn a_regulators_read_goes_to_the_audit_trail_first() {
        let c = chain_with_po();
        let trail = Trail::default();
        let mut input = read_all("PO-1");
        input.fields.insert(name("total"));
        let r = c.builder("reg-eu").read(&input, &trail).unwrap();
        assert!(r.audit_read);
        assert_eq!(values(&r), [("total", Some("1200"))]);
        assert_eq!(
            *trail.0.borrow(),
            [AuditEntry {
                record: record("PO-1"),
                version: 1,
                owner: org("bank-a"),
                field: "total".into(),
            }]
        );
    }

    #[test]
    fn reads_of_what_does_not_exist_fail() {
        let c = chain_with_po();
        let b = c.builder("bank-a");
        let trail = Trail::default();
        let mut input = read_all("PO-1");
        input.fields.insert(name("colour"));
        assert_eq!(
            b.read(&input, &trail).unwrap_err(),
            BuildError::FieldNotInVersion {
                record: record("PO-1"),
                version: 1,
                field: name("colour"),
            }
        );
        assert_eq!(
            b.read(&read_all("PO-2"), &trail).unwrap_err(),
            BuildError::NoRecord {
                record: record("PO-2")
            }
        );
        let mut input = read_all("PO-1");
        input.version = Some(2);
        let e = b.read(&input, &trail).unwrap_err();
        assert_eq!(e.to_string(), "record PO-1 has no version 2");
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
    }

    #[test]
    fn grants_list_each_fields_readers_and_the_history() {
        let c = chain_with_po();
        let g = c.builder("bank-c").grants(&record("PO-1")).unwrap();
        assert_eq!((g.owner.as_str(), g.latest_version), ("bank-a", 1));
        let readers: Vec<(&str, Vec<&str>)> = g
            .readers
            .iter()
            .map(|f| {
                (
                    f.field.as_str(),
                    f.readers.iter().map(|r| r.as_str()).collect(),
                )
            })
            .collect();
        let all = vec!["bank-a", "bank-b", "reg-eu"];
        assert_eq!(readers, [("note", all.clone()), ("total", all)]);
        assert_eq!(g.events.len(), 1);
        assert_eq!(g.events[0].action, AccessAction::Put);
        assert_eq!(g.events[0].org, org("bank-b"));
    }
}
