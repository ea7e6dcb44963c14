//! The rules of a write that both sides check: the executor when it applies a transaction,
//! and the gateway's builder (`ledger-builder`) before it seals and signs one.
//!
//! Each rule is a pure function of a [`StateView`] or of stored values, defined once here so
//! that what a gateway prepares and what the chain accepts cannot drift apart. A rule that
//! the executor reports as a failed transaction fails with the executor's own
//! [`TxFailure`]; a rule whose outcome callers tell apart returns a small enum. Rules read
//! state and never write it.

use ledger_crypto::record::Reader;
use ledger_types::{FieldName, OrgId, RecordId, RegisterSchema, SchemaField};

use crate::model::{self, RecordVersion};
use crate::{StateError, StateView, TxFailure};

/// Only a record's owner writes new versions of it and grants or revokes access to it:
/// [`TxFailure::NotRecordOwner`] when `writer` is not `owner`.
pub fn check_owner(record: &RecordId, owner: &OrgId, writer: &OrgId) -> Result<(), TxFailure> {
    if owner != writer {
        return Err(TxFailure::NotRecordOwner {
            record: record.clone(),
            owner: owner.clone(),
            signer: writer.clone(),
        });
    }
    Ok(())
}

/// The version a write of `record` by `writer` takes: 1 for a new record, the latest
/// version + 1 for its owner, [`TxFailure::NotRecordOwner`] for anyone else.
pub fn next_record_version(
    view: &impl StateView,
    record: &RecordId,
    writer: &OrgId,
) -> Result<Result<u32, TxFailure>, StateError> {
    Ok(match model::record_head(view, record)? {
        None => Ok(1),
        Some(h) => {
            check_owner(record, &h.owner, writer).map(|()| h.latest_version.saturating_add(1))
        }
    })
}

/// The latest version of a record `writer` owns, for a write that names `version` of it
/// (a grant or a revocation): [`TxFailure::RecordVersionNotFound`] if the record or its
/// latest version is not stored, [`TxFailure::NotRecordOwner`] if another owns it.
pub fn owned_latest(
    view: &impl StateView,
    record: &RecordId,
    writer: &OrgId,
    version: u32,
) -> Result<Result<RecordVersion, TxFailure>, StateError> {
    let Some(head) = model::record_head(view, record)? else {
        return Ok(Err(TxFailure::RecordVersionNotFound {
            record: record.clone(),
            version,
        }));
    };
    if let Err(f) = check_owner(record, &head.owner, writer) {
        return Ok(Err(f));
    }
    Ok(
        model::record_version(view, record, head.latest_version)?.ok_or_else(|| {
            TxFailure::RecordVersionNotFound {
                record: record.clone(),
                version: head.latest_version,
            }
        }),
    )
}

/// The declaration of `field` in `schema`; a record carries only declared fields.
pub fn declared<'s>(schema: &'s RegisterSchema, field: &FieldName) -> Option<&'s SchemaField> {
    schema.fields.iter().find(|d| &d.name == field)
}

/// Whether `schema` commits `field`: its value is an amount carried with a Pedersen
/// commitment, covered by the record's range proof and by one audit handle per auditor
/// holding an audit key.
pub fn committed(schema: &RegisterSchema, field: &FieldName) -> bool {
    declared(schema, field).is_some_and(|d| d.committed)
}

/// The first required field of `schema` (in schema order) that `present` says a record
/// version lacks.
pub fn missing_required(
    schema: &RegisterSchema,
    present: impl Fn(&FieldName) -> bool,
) -> Option<&SchemaField> {
    schema
        .fields
        .iter()
        .find(|d| d.required && !present(&d.name))
}

/// Who must read every field of a record version: its owner, then each auditor the
/// schema's audit policy names.
pub fn required_readers<'a>(
    owner: &'a OrgId,
    schema: &'a RegisterSchema,
) -> impl Iterator<Item = &'a OrgId> + 'a {
    std::iter::once(owner).chain(schema.auditors.iter())
}

/// Why an organisation cannot be sent a field key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReaderKey {
    /// It is not in the member directory.
    NotAMember,
    /// It is a member without a registered encryption key.
    NoEncryptionKey,
}

/// `org` as a field reader: a member with a registered encryption key, which field keys
/// are wrapped to.
pub fn reader(
    view: &impl StateView,
    org: &OrgId,
) -> Result<Result<Reader, NoReaderKey>, StateError> {
    Ok(match model::member(view, org)? {
        None => Err(NoReaderKey::NotAMember),
        Some(m) if m.encryption_key.is_empty() => Err(NoReaderKey::NoEncryptionKey),
        Some(m) => Ok(Reader {
            org: org.clone(),
            key: m.encryption_key,
        }),
    })
}

/// The auditors of `schema` that registered an audit key, with that key, in the
/// schema's order: a committed amount carries one audit handle for each, and no other.
pub fn audit_keys(
    view: &impl StateView,
    schema: &RegisterSchema,
) -> Result<Vec<(OrgId, Vec<u8>)>, StateError> {
    let mut out = Vec::new();
    for a in &schema.auditors {
        if let Some(m) = model::member(view, a)? {
            if !m.audit_key.is_empty() {
                out.push((a.clone(), m.audit_key));
            }
        }
    }
    Ok(out)
}

/// A grant of `field` of `version` to `reader`: the field is in the version
/// ([`TxFailure::FieldNotInRecord`]) and `reader` cannot read it yet
/// ([`TxFailure::AlreadyReader`]).
pub fn check_grant(
    version: &RecordVersion,
    field: &FieldName,
    reader: &OrgId,
) -> Result<(), TxFailure> {
    if version.field(field).is_none() {
        return Err(TxFailure::FieldNotInRecord {
            record: version.record.clone(),
            version: version.version,
            field: field.clone(),
        });
    }
    if version.can_read(field, reader) {
        return Err(TxFailure::AlreadyReader {
            record: version.record.clone(),
            field: field.clone(),
            reader: reader.clone(),
        });
    }
    Ok(())
}

/// Why an organisation's access to a record cannot be revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrevocable {
    /// It owns the record.
    Owner,
    /// The schema's audit policy names it.
    Auditor,
}

impl Unrevocable {
    /// The reason, as [`TxFailure::CannotRevoke`] gives it.
    pub fn reason(self) -> &'static str {
        match self {
            Unrevocable::Owner => "the owner always reads its own records",
            Unrevocable::Auditor => "the schema's audit policy names it",
        }
    }
}

/// Whether `org`'s access to a record of `owner` following `schema` can never be revoked:
/// the owner and the schema's auditors always read.
pub fn unrevocable(owner: &OrgId, schema: &RegisterSchema, org: &OrgId) -> Option<Unrevocable> {
    if org == owner {
        Some(Unrevocable::Owner)
    } else if schema.auditors.contains(org) {
        Some(Unrevocable::Auditor)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_types::{FieldType, SchemaId};

    fn name(s: &str) -> FieldName {
        FieldName::new(s).unwrap()
    }

    fn org(s: &str) -> OrgId {
        OrgId::new(s).unwrap()
    }

    fn schema() -> RegisterSchema {
        RegisterSchema {
            document: None,
            schema: SchemaId::new("po").unwrap(),
            version: 1,
            fields: vec![
                SchemaField {
                    name: name("note"),
                    ty: FieldType::Text,
                    required: false,
                    committed: false,
                    fhe: false,
                },
                SchemaField {
                    name: name("total"),
                    ty: FieldType::Amount,
                    required: true,
                    committed: true,
                    fhe: false,
                },
            ],
            auditors: vec![org("reg-eu")],
        }
    }

    #[test]
    fn schema_rules() {
        let s = schema();
        assert!(declared(&s, &name("note")).is_some());
        assert!(declared(&s, &name("other")).is_none());
        assert!(committed(&s, &name("total")));
        assert!(!committed(&s, &name("note")));
        assert!(!committed(&s, &name("other")));
        let missing = missing_required(&s, |n| n.as_str() == "note").map(|d| d.name.clone());
        assert_eq!(missing, Some(name("total")));
        assert!(missing_required(&s, |n| n.as_str() == "total").is_none());
        let owner = org("bank-a");
        let readers: Vec<&OrgId> = required_readers(&owner, &s).collect();
        assert_eq!(readers, [&org("bank-a"), &org("reg-eu")]);
    }

    #[test]
    fn ownership_and_revocation() {
        let record = RecordId::new("INV-1").unwrap();
        assert!(check_owner(&record, &org("bank-a"), &org("bank-a")).is_ok());
        assert_eq!(
            check_owner(&record, &org("bank-a"), &org("bank-b")),
            Err(TxFailure::NotRecordOwner {
                record,
                owner: org("bank-a"),
                signer: org("bank-b"),
            })
        );
        let s = schema();
        let owner = org("bank-a");
        assert_eq!(unrevocable(&owner, &s, &owner), Some(Unrevocable::Owner));
        assert_eq!(
            unrevocable(&owner, &s, &org("reg-eu")),
            Some(Unrevocable::Auditor)
        );
        assert_eq!(unrevocable(&owner, &s, &org("bank-b")), None);
    }

    #[test]
    fn an_empty_state_has_no_readers_and_new_records_start_at_one() {
        let view = std::collections::BTreeMap::<Vec<u8>, Vec<u8>>::new();
        assert_eq!(
            reader(&view, &org("bank-a")).unwrap(),
            Err(NoReaderKey::NotAMember)
        );
        let record = RecordId::new("INV-1").unwrap();
        assert_eq!(
            next_record_version(&view, &record, &org("bank-a")).unwrap(),
            Ok(1)
        );
        assert_eq!(
            owned_latest(&view, &record, &org("bank-a"), 3)
                .unwrap()
                .map(|v| v.version),
            Err(TxFailure::RecordVersionNotFound { record, version: 3 })
        );
        assert!(audit_keys(&view, &schema()).unwrap().is_empty());
    }
}
