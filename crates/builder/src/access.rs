//! Granting and revoking access to a record's fields. A grant wraps the owner's field keys
//! of the latest version to one more reader. A revocation cannot take back a key already
//! read, so it re-seals every field of a new version under fresh keys and leaves the
//! revoked organisation out of the named fields' readers.

use std::collections::BTreeSet;

use ledger_crypto::record::{wrap_one, FieldToSeal};
use ledger_state::rules::{self, Unrevocable};
use ledger_state::{RecordVersion, StateView, TxFailure};
use ledger_types::{FieldName, GrantAccess, OrgId, RecordId, RevokeAccess};
use zeroize::Zeroizing;

use crate::read::FieldAccess;
use crate::seal::Readers;
use crate::{BuildError, Builder, OwnerOnly, ProvingKeys};

/// A grant or revocation: which fields of which record, to or from whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessInput {
    /// The record (its latest version).
    pub record: RecordId,
    /// The organisation granted or revoked.
    pub org: OrgId,
    /// The fields.
    pub fields: BTreeSet<FieldName>,
}

impl<V: StateView> Builder<'_, V> {
    /// Wraps the keys of the named fields of the latest version, which this organisation
    /// owns, to `input.org`.
    pub fn grant(&self, input: &AccessInput) -> Result<GrantAccess, BuildError> {
        let (id, to) = (&input.record, &input.org);
        if input.fields.is_empty() {
            return Err(BuildError::NoFieldsNamed { action: "grant" });
        }
        let (rv, schema) = self.latest(id)?;
        self.check_owner(&rv)?;
        let grantee = self.reader(to)?;
        let mut wraps = Vec::new();
        for name in &input.fields {
            match rules::check_grant(&rv, name, to) {
                Ok(()) => {}
                Err(TxFailure::FieldNotInRecord { .. }) => {
                    return Err(BuildError::NoFieldToGrant {
                        record: id.clone(),
                        version: rv.version,
                        field: name.clone(),
                    })
                }
                Err(TxFailure::AlreadyReader { .. }) => {
                    return Err(BuildError::AlreadyReader {
                        org: to.clone(),
                        field: name.clone(),
                        record: id.clone(),
                    })
                }
                Err(f) => return Err(BuildError::Rejected(f)),
            }
            let mine = rv
                .wrap(name, self.org)
                .ok_or_else(|| BuildError::NoOwnKey {
                    org: self.org.clone(),
                    field: name.clone(),
                })?;
            let b = self.binding(&rv, name, &schema);
            let key = self
                .unwrap(&b, mine)
                .map_err(|source| BuildError::Unwrapping {
                    field: name.clone(),
                    source,
                })?;
            wraps.push(
                wrap_one(&key, &b, &grantee).map_err(|source| BuildError::Wrapping {
                    to: to.clone(),
                    source,
                })?,
            );
        }
        Ok(GrantAccess {
            record: id.clone(),
            version: rv.version,
            wraps,
        })
    }

    /// Writes the next version of a record this organisation owns with every field
    /// re-sealed under fresh keys: the named fields to their current readers except
    /// `input.org`, the others to all their current readers.
    /// `keys` gives the chain's analytics keys when the schema has `fhe` fields (they are
    /// encrypted again for the new version).
    pub fn revoke(
        &self,
        input: &AccessInput,
        keys: &dyn ProvingKeys,
    ) -> Result<RevokeAccess, BuildError> {
        let (id, from) = (&input.record, &input.org);
        if input.fields.is_empty() {
            return Err(BuildError::NoFieldsNamed { action: "revoke" });
        }
        let (rv, schema) = self.latest(id)?;
        self.check_owner(&rv)?;
        match rules::unrevocable(&rv.owner, &schema, from) {
            Some(Unrevocable::Owner) => {
                return Err(BuildError::OwnerAlwaysReads { record: id.clone() })
            }
            Some(Unrevocable::Auditor) => {
                return Err(BuildError::AuditorCannotBeRevoked {
                    org: from.clone(),
                    schema: schema.schema.clone(),
                    version: schema.version,
                })
            }
            None => {}
        }
        for f in &input.fields {
            if !rv.can_read(f, from) {
                return Err(BuildError::NothingToRevoke {
                    org: from.clone(),
                    field: f.clone(),
                    record: id.clone(),
                    version: rv.version,
                });
            }
        }
        let mut readers = Readers::default();
        let mut to_seal = Vec::new();
        for o in self.open_fields(&rv, &schema, &BTreeSet::new()) {
            let value = match o.access {
                FieldAccess::Readable(v) => v,
                FieldAccess::NotAuthorised(why) | FieldAccess::Unreadable(why) => {
                    return Err(BuildError::Reseal {
                        field: o.name,
                        reason: why,
                    })
                }
            };
            let decl = rules::declared(&schema, &o.name)
                .ok_or_else(|| BuildError::internal("a stored field is not in its schema"))?;
            let plaintext = decl
                .ty
                .encode_value(&value)
                .map_err(|e| BuildError::internal(format!("re-encoding field {}: {e}", o.name)))?;
            let mut field_readers = Vec::new();
            for w in rv.wraps.iter().filter(|w| w.field == o.name) {
                if &w.reader == from && input.fields.contains(&o.name) {
                    continue;
                }
                field_readers.push(readers.get(self, &w.reader)?);
            }
            to_seal.push(FieldToSeal {
                name: o.name,
                plaintext: Zeroizing::new(plaintext),
                readers: field_readers,
            });
        }
        let mut put = self.seal(id, rv.version.saturating_add(1), &schema, to_seal, keys)?;
        // The document is re-sealed as it was (same blinding): its commitment carries over.
        put.document_commitment = rv.document_commitment;
        Ok(RevokeAccess {
            from: from.clone(),
            fields: input.fields.iter().cloned().collect(),
            put,
        })
    }

    /// Only the owner grants or revokes access (see [`rules::check_owner`]).
    fn check_owner(&self, rv: &RecordVersion) -> Result<(), BuildError> {
        rules::check_owner(&rv.record, &rv.owner, self.org).map_err(|_| BuildError::NotOwner {
            record: rv.record.clone(),
            owner: rv.owner.clone(),
            only: OwnerOnly::Access,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{name, org, po_put, record, Chain, NoProvingKeys, Trail};
    use crate::{FieldAccess, ReadInput};
    use ledger_state::TxOutcome;
    use ledger_types::{Payload, SchemaId};

    fn access(id: &str, to: &str, fields: &[&str]) -> AccessInput {
        AccessInput {
            record: record(id),
            org: org(to),
            fields: fields.iter().map(|f| name(f)).collect(),
        }
    }

    /// bank-a's PO-1 v1 (total 1200, note "rush"), readable by `readers` too.
    fn chain_with_po(readers: &[&str]) -> Chain {
        let mut c = Chain::new();
        let input = po_put(
            "PO-1",
            true,
            &[("total", "1200"), ("note", "rush")],
            readers,
        );
        let put = c.builder("bank-a").put(&input, &NoProvingKeys).unwrap();
        assert_eq!(
            c.commit("bank-a", Payload::PutRecord(put)),
            TxOutcome::Applied
        );
        c
    }

    #[test]
    fn only_the_owner_grants() {
        let mut c = chain_with_po(&[]);
        let e = c
            .builder("bank-b")
            .grant(&access("PO-1", "bank-c", &["note"]))
            .unwrap_err();
        assert_eq!(
            e,
            BuildError::NotOwner {
                record: record("PO-1"),
                owner: org("bank-a"),
                only: OwnerOnly::Access,
            }
        );
        assert_eq!(e.kind(), crate::ErrorKind::PermissionDenied);

        let g = c
            .builder("bank-a")
            .grant(&access("PO-1", "bank-c", &["note"]))
            .unwrap();
        assert_eq!(g.version, 1);
        assert_eq!(g.wraps.len(), 1);
        assert_eq!(g.wraps[0].reader, org("bank-c"));
        assert_eq!(
            c.commit("bank-a", Payload::GrantAccess(g)),
            TxOutcome::Applied
        );

        let b = c.builder("bank-a");
        assert_eq!(
            b.grant(&access("PO-1", "bank-c", &["note"])).unwrap_err(),
            BuildError::AlreadyReader {
                org: org("bank-c"),
                field: name("note"),
                record: record("PO-1"),
            }
        );
        assert_eq!(
            b.grant(&access("PO-1", "bank-c", &["nope"])).unwrap_err(),
            BuildError::NoFieldToGrant {
                record: record("PO-1"),
                version: 1,
                field: name("nope"),
            }
        );
        assert_eq!(
            b.grant(&access("PO-1", "bank-c", &[])).unwrap_err(),
            BuildError::NoFieldsNamed { action: "grant" }
        );
    }

    #[test]
    fn a_revocation_reseals_every_field_and_leaves_the_revoked_reader_out() {
        let mut c = chain_with_po(&["bank-c"]);
        let v1 = ledger_state::record_version(&c.state, &record("PO-1"), 1)
            .unwrap()
            .unwrap();
        let r = c
            .builder("bank-a")
            .revoke(&access("PO-1", "bank-c", &["note"]), &NoProvingKeys)
            .unwrap();
        assert_eq!(r.put.version, 2);
        assert_eq!(r.fields, [name("note")]);
        let readers = |field: &str| -> Vec<String> {
            r.put
                .wraps
                .iter()
                .filter(|w| w.field.as_str() == field)
                .map(|w| w.reader.to_string())
                .collect()
        };
        assert_eq!(readers("note"), ["bank-a", "reg-eu"]);
        assert_eq!(readers("total"), ["bank-a", "bank-c", "reg-eu"]);
        // Fresh keys: no sealed value or commitment is carried over.
        for (old, new) in v1.fields.iter().zip(&r.put.fields) {
            assert_eq!(old.name, new.name);
            assert_ne!(old.sealed, new.sealed);
        }
        assert_ne!(v1.commitments, r.put.commitments);
        assert_eq!(
            c.commit("bank-a", Payload::RevokeAccess(r)),
            TxOutcome::Applied
        );

        let read = c
            .builder("bank-c")
            .read(
                &ReadInput {
                    record: record("PO-1"),
                    version: None,
                    fields: Default::default(),
                },
                &Trail::default(),
            )
            .unwrap();
        assert_eq!(read.version, 2);
        let access: Vec<_> = read
            .fields
            .iter()
            .map(|f| (f.name.as_str(), &f.access))
            .collect();
        assert!(matches!(access[0], ("note", FieldAccess::NotAuthorised(_))));
        assert!(matches!(access[1], ("total", FieldAccess::Readable(v)) if v.as_str() == "1200"));
    }

    #[test]
    fn the_owner_and_auditors_cannot_be_revoked_nor_a_non_reader() {
        let c = chain_with_po(&[]);
        let b = c.builder("bank-a");
        assert_eq!(
            b.revoke(&access("PO-1", "bank-a", &["note"]), &NoProvingKeys)
                .unwrap_err(),
            BuildError::OwnerAlwaysReads {
                record: record("PO-1")
            }
        );
        let e = b
            .revoke(&access("PO-1", "reg-eu", &["total"]), &NoProvingKeys)
            .unwrap_err();
        assert_eq!(
            e,
            BuildError::AuditorCannotBeRevoked {
                org: org("reg-eu"),
                schema: SchemaId::new("po").unwrap(),
                version: 1,
            }
        );
        assert!(e.to_string().contains("audit policy"), "{e}");
        assert_eq!(
            b.revoke(&access("PO-1", "bank-c", &["note"]), &NoProvingKeys)
                .unwrap_err(),
            BuildError::NothingToRevoke {
                org: org("bank-c"),
                field: name("note"),
                record: record("PO-1"),
                version: 1,
            }
        );
        assert_eq!(
            c.builder("bank-b")
                .revoke(&access("PO-1", "bank-c", &["note"]), &NoProvingKeys)
                .unwrap_err(),
            BuildError::NotOwner {
                record: record("PO-1"),
                owner: org("bank-a"),
                only: OwnerOnly::Access,
            }
        );
    }
}
