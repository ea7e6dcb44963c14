//! A regulator's sum query: the total of one committed amount over several records,
//! decrypted from the auditor handles with the regulator's audit secret (homomorphic
//! twisted ElGamal), without opening any single amount. Every record added goes to the
//! audit trail before the sum is returned.

use std::collections::{BTreeMap, BTreeSet};

use ledger_proofs::{Commitment, Handle};
use ledger_state::StateView;
use ledger_types::{FieldName, KeyKind, RecordId};

use crate::resources::{AuditEntry, AuditTrail, SealedSecrets, SecretKind};
use crate::{BuildError, Builder};

/// A record version named by a query (the latest when `version` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordAt {
    /// The record.
    pub record: RecordId,
    /// The version.
    pub version: Option<u32>,
}

/// A sum query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSumInput {
    /// The committed field to add up.
    pub field: FieldName,
    /// The record versions.
    pub records: Vec<RecordAt>,
    /// The sum is searched below `2^max_bits` (32 when `None`, at most 44).
    pub max_bits: Option<u32>,
}

/// The answer to a sum query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSum {
    /// The field added up.
    pub field: FieldName,
    /// The sum.
    pub sum: u64,
    /// The record versions added.
    pub records: Vec<(RecordId, u32)>,
}

/// One audit epoch's part of a sum: its commitments and handles, and the first record
/// version in it (named if its secret is missing).
type Epoch = (Vec<Commitment>, Vec<Handle>, (RecordId, u32));

impl<V: StateView> Builder<'_, V> {
    /// Adds up a committed field over record versions whose schema this regulator audits.
    /// `secrets` unseals the audit secret for this sum only; `trail` records each version
    /// added before the sum is returned.
    pub fn audit_sum(
        &self,
        input: &AuditSumInput,
        secrets: &dyn SealedSecrets,
        trail: &dyn AuditTrail,
    ) -> Result<AuditSum, BuildError> {
        self.check_registered(SecretKind::Audit)?;
        let field = &input.field;
        if input.records.is_empty() {
            return Err(BuildError::NoRecords);
        }
        let max_bits = input.max_bits.unwrap_or(32);
        if !(1..=44).contains(&max_bits) {
            return Err(BuildError::MaxBits { max_bits });
        }
        let n = input.records.len();
        let me = self.me()?;
        let history: Vec<ledger_state::KeyChange> = ledger_state::key_history(self.view, self.org)?
            .into_iter()
            .filter(|c| c.kind == KeyKind::Audit)
            .collect();
        // Per audit epoch (its key): the commitments and handles to add up.
        let mut epochs: BTreeMap<Vec<u8>, Epoch> = BTreeMap::new();
        let mut used = Vec::with_capacity(n);
        let mut entries = Vec::with_capacity(n);
        let mut seen = BTreeSet::new();
        for r in &input.records {
            let id = &r.record;
            let (rv, schema) = self.at(id, r.version)?;
            if !seen.insert((id.clone(), rv.version)) {
                return Err(BuildError::NamedTwice {
                    record: id.clone(),
                    version: rv.version,
                });
            }
            if !schema.auditors.contains(self.org) {
                return Err(BuildError::NotAuditor {
                    org: self.org.clone(),
                    schema: schema.schema.clone(),
                    version: schema.version,
                    record: id.clone(),
                });
            }
            let c = rv
                .commitment(field)
                .ok_or_else(|| BuildError::NoCommittedField {
                    record: id.clone(),
                    version: rv.version,
                    field: field.clone(),
                })?;
            let h = rv
                .audit_handle(field, self.org)
                .ok_or_else(|| BuildError::NoAuditHandle {
                    record: id.clone(),
                    version: rv.version,
                    field: field.clone(),
                    org: self.org.clone(),
                })?;
            let commitment = Commitment::from_bytes(&c.commitment).map_err(|source| {
                BuildError::CorruptCommitment {
                    record: id.clone(),
                    source,
                }
            })?;
            let handle = Handle::from_bytes(&h.handle);
            // The audit key in force when the version was committed; in the block of a
            // rotation, the handle's proof tells whether it was made before it.
            let mut key = ledger_state::key_in(&history, KeyKind::Audit, &me.audit_key, rv.height);
            if let Some(change) = history.iter().find(|c| c.height == rv.height) {
                let ctx = ledger_proofs::Context {
                    chain_id: self.chain.to_string(),
                    items: vec![(id.to_string(), rv.version, field.to_string())],
                };
                let made_for = |k: &[u8]| {
                    let (Ok(k), Ok(p)) = (
                        ledger_proofs::AuditKey::from_bytes(k),
                        ledger_proofs::HandleProof::from_bytes(&h.proof),
                    ) else {
                        return false;
                    };
                    ledger_proofs::verify_audit_handle(&ctx, &commitment, &k, &handle, &p).is_ok()
                };
                if !made_for(&key) && made_for(&change.old) {
                    key.clone_from(&change.old);
                }
            }
            let e = epochs
                .entry(key)
                .or_insert_with(|| (Vec::new(), Vec::new(), (id.clone(), rv.version)));
            e.0.push(commitment);
            e.1.push(handle);
            used.push((id.clone(), rv.version));
            entries.push(AuditEntry {
                record: id.clone(),
                version: rv.version,
                owner: rv.owner.clone(),
                field: format!("{field} (in a sum over {n} records)"),
            });
        }
        // Checked after each record is (so a single wrong record is named as such): a sum
        // over one record version is that record's amount.
        if used.len() < 2 {
            return Err(BuildError::OneRecord);
        }
        let mut held = vec![secrets.audit_secret()?];
        if epochs.len() > 1 || !epochs.contains_key(&me.audit_key) {
            held.extend(secrets.former_audit_secrets()?);
        }
        let mut sum: u64 = 0;
        for (key, (commitments, handles, (record, version))) in &epochs {
            let secret = held
                .iter()
                .find(|s| s.public().to_bytes().as_slice() == key.as_slice())
                .ok_or_else(|| BuildError::NoAuditSecretForEpoch {
                    record: record.clone(),
                    version: *version,
                    key: hex::encode(key),
                })?;
            let part = secret
                .decrypt_sum(commitments, handles, max_bits)
                .map_err(|source| BuildError::SumTooLarge { max_bits, source })?;
            sum = sum
                .checked_add(part)
                .filter(|s| max_bits >= 64 || *s < (1u64 << max_bits))
                .ok_or(BuildError::SumTooLarge {
                    max_bits,
                    source: ledger_proofs::ProofError::Unprovable(format!(
                        "the parts of {} audit epochs add up past it",
                        epochs.len()
                    )),
                })?;
        }
        drop(held);
        // Logged before the sum leaves the builder.
        trail.record(&entries)?;
        Ok(AuditSum {
            field: field.clone(),
            sum,
            records: used,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{name, org, po_put, record, Chain, NoProvingKeys, Secrets, Trail};
    use ledger_proofs::AuditSecret;
    use ledger_state::TxOutcome;
    use ledger_types::Payload;

    fn at(id: &str) -> RecordAt {
        RecordAt {
            record: record(id),
            version: None,
        }
    }

    fn query(ids: &[&str]) -> AuditSumInput {
        AuditSumInput {
            field: name("total"),
            records: ids.iter().map(|id| at(id)).collect(),
            max_bits: None,
        }
    }

    #[test]
    fn a_regulator_adds_up_committed_amounts_and_the_trail_has_each_record() {
        let mut c = Chain::new();
        for (id, owner, total) in [("PO-1", "bank-a", "1200"), ("PO-2", "bank-b", "34")] {
            let put = c
                .builder(owner)
                .put(&po_put(id, true, &[("total", total)], &[]), &NoProvingKeys)
                .unwrap();
            assert_eq!(c.commit(owner, Payload::PutRecord(put)), TxOutcome::Applied);
        }
        let secrets = Secrets {
            audit: Some(AuditSecret::from_bytes(&c.audit.to_bytes()).unwrap()),
            ring: None,
        };
        let trail = Trail::default();
        let b = c.builder("reg-eu");
        let sum = b
            .audit_sum(&query(&["PO-1", "PO-2"]), &secrets, &trail)
            .unwrap();
        assert_eq!(sum.sum, 1234);
        assert_eq!(sum.records, [(record("PO-1"), 1), (record("PO-2"), 1)]);
        let logged: Vec<(String, String, String)> = trail
            .0
            .borrow()
            .iter()
            .map(|e| (e.record.to_string(), e.owner.to_string(), e.field.clone()))
            .collect();
        let field = "total (in a sum over 2 records)".to_string();
        assert_eq!(
            logged,
            [
                ("PO-1".into(), "bank-a".into(), field.clone()),
                ("PO-2".into(), "bank-b".into(), field)
            ]
        );

        assert_eq!(
            b.audit_sum(&query(&["PO-1", "PO-1"]), &secrets, &trail)
                .unwrap_err(),
            BuildError::NamedTwice {
                record: record("PO-1"),
                version: 1,
            }
        );
        let mut wide = query(&["PO-1"]);
        wide.max_bits = Some(45);
        assert_eq!(
            b.audit_sum(&wide, &secrets, &trail).unwrap_err(),
            BuildError::MaxBits { max_bits: 45 }
        );
        assert_eq!(
            b.audit_sum(&query(&[]), &secrets, &trail).unwrap_err(),
            BuildError::NoRecords
        );
    }

    #[test]
    fn only_a_regulator_with_an_audit_key_sums() {
        let c = Chain::new();
        let none = Secrets {
            audit: None,
            ring: None,
        };
        let e = c
            .builder("bank-a")
            .audit_sum(&query(&["PO-1"]), &none, &Trail::default())
            .unwrap_err();
        assert_eq!(
            e,
            BuildError::NoSecretRegistered {
                org: org("bank-a"),
                what: "audit key",
                role: "regulator",
            }
        );
        assert_eq!(
            e.to_string(),
            "bank-a has no audit key registered: only regulators hold one"
        );
    }
}
