//! Sealing a record version, shared by puts and revocations: each field sealed under a
//! fresh key wrapped to its readers, committed amounts replaced by a fresh opening, and
//! their commitments, aggregated range proof and auditors' handles attached; `fhe` amounts
//! also encrypted under the chain's analytics key with a proof for this version and field.

use std::collections::BTreeMap;

use ledger_crypto::record::{seal_record, FieldToSeal, Reader};
use ledger_proofs::{AuditKey, Opening};
use ledger_state::rules;
use ledger_state::StateView;
use ledger_types::{
    AuditHandle, FheAmount, FieldCommitment, FieldName, OrgId, PutRecord, RecordId,
    RecordRangeProof, RegisterSchema,
};
use zeroize::Zeroizing;

use crate::{BuildError, Builder, ProvingKeys};

/// Readers looked up once per write: a field's readers are mostly the same organisations.
#[derive(Default)]
pub(crate) struct Readers(BTreeMap<OrgId, Reader>);

impl Readers {
    /// `org` as a reader, looked up in the member directory the first time.
    pub(crate) fn get<V: StateView>(
        &mut self,
        b: &Builder<'_, V>,
        org: &OrgId,
    ) -> Result<Reader, BuildError> {
        if let Some(r) = self.0.get(org) {
            return Ok(r.clone());
        }
        let r = b.reader(org)?;
        self.0.insert(org.clone(), r.clone());
        Ok(r)
    }
}

impl<V: StateView> Builder<'_, V> {
    /// Seals version `version` of `record` from `to_seal`: commits its amounts, seals and
    /// wraps each field, and attaches the commitments, range proof and audit handles.
    pub(crate) fn seal(
        &self,
        record: &RecordId,
        version: u32,
        schema: &RegisterSchema,
        mut to_seal: Vec<FieldToSeal>,
        keys: &dyn ProvingKeys,
    ) -> Result<PutRecord, BuildError> {
        let fhe = fhe_values(schema, &to_seal)?;
        let openings = commit_amounts(schema, &mut to_seal)?;
        let mut put = seal_record(self.chain, record, version, schema, &to_seal)
            .map_err(BuildError::Sealing)?;
        let auditors = self.audit_keys(schema)?;
        self.attach_commitments(&mut put, &openings, &auditors)?;
        self.attach_fhe(&mut put, &fhe, keys)?;
        Ok(put)
    }

    /// The chain's analytics public keys as this node loaded them, if the chain has
    /// analytics; an error if it has and the node did not load them.
    pub(crate) fn chain_analytics_keys(
        &self,
        keys: &dyn ProvingKeys,
    ) -> Result<Option<std::sync::Arc<ledger_fhe::PublicKeys>>, BuildError> {
        let Some(cfg) = ledger_state::analytics_config(self.view)? else {
            return Ok(None);
        };
        keys.analytics_keys()
            .filter(|k| k.id() == cfg.keys_id)
            .map(Some)
            .ok_or_else(|| {
                BuildError::Analytics(format!(
                    "this node has not loaded the chain's analytics keys {} (analytics-keys.bin beside genesis.json)",
                    hex::encode(cfg.keys_id)
                ))
            })
    }

    /// Encrypts each `fhe` amount under the chain's analytics key, proven for this version
    /// and field.
    fn attach_fhe(
        &self,
        put: &mut PutRecord,
        values: &[(FieldName, Zeroizing<u64>)],
        keys: &dyn ProvingKeys,
    ) -> Result<(), BuildError> {
        if values.is_empty() {
            return Ok(());
        }
        let analytics = self.chain_analytics_keys(keys)?.ok_or_else(|| {
            BuildError::Analytics(format!(
                "schema {} flags fields fhe, but this chain has no analytics key",
                put.schema
            ))
        })?;
        for (name, value) in values {
            let context = ledger_state::field_amount_context(self.chain, put, name);
            let amount =
                ledger_fhe::encrypt_amount(&analytics, **value, &context).map_err(|e| {
                    BuildError::BadValue {
                        field: name.clone(),
                        reason: e.to_string(),
                    }
                })?;
            put.fhe_amounts.push(FheAmount {
                field: name.clone(),
                amount: amount.as_bytes().to_vec(),
            });
        }
        put.fhe_amounts.sort_by(|a, b| a.field.cmp(&b.field));
        Ok(())
    }

    /// Adds the commitments of `openings`, their aggregated range proof and a handle per
    /// auditor (with its proof) to `put`.
    fn attach_commitments(
        &self,
        put: &mut PutRecord,
        openings: &[(FieldName, Opening)],
        auditors: &[(OrgId, AuditKey)],
    ) -> Result<(), BuildError> {
        if openings.is_empty() {
            return Ok(());
        }
        for (name, opening) in openings {
            let ctx = ledger_proofs::Context {
                chain_id: self.chain.to_string(),
                items: vec![(put.record.to_string(), put.version, name.to_string())],
            };
            for (auditor, key) in auditors {
                let (handle, proof) =
                    ledger_proofs::audit_handle(&ctx, opening, key).map_err(|e| {
                        BuildError::internal(format!("audit handle for {auditor}: {e}"))
                    })?;
                put.audit_handles.push(AuditHandle {
                    field: name.clone(),
                    auditor: auditor.clone(),
                    handle: handle.to_bytes(),
                    proof: proof.to_bytes(),
                });
            }
        }
        put.audit_handles
            .sort_by(|a, b| (&a.field, &a.auditor).cmp(&(&b.field, &b.auditor)));
        let ctx = ledger_proofs::Context {
            chain_id: self.chain.to_string(),
            items: openings
                .iter()
                .map(|(n, _)| (put.record.to_string(), put.version, n.to_string()))
                .collect(),
        };
        let os: Vec<Opening> = openings.iter().map(|(_, o)| o.clone()).collect();
        let data = ledger_proofs::prove_range(&ctx, &os).map_err(BuildError::RangeProof)?;
        put.commitments = openings
            .iter()
            .map(|(n, o)| FieldCommitment {
                field: n.clone(),
                commitment: o.commit().to_bytes(),
            })
            .collect();
        put.range_proof = Some(RecordRangeProof {
            padding: data.padding.iter().map(|c| c.to_bytes()).collect(),
            proof: data.proof,
        });
        Ok(())
    }
}

/// Replaces the typed plaintext of committed amounts by a fresh opening (value and
/// blinding) and returns the openings, sorted by field.
/// The values of the `fhe` amount fields among `to_seal` (before commitment turns them into
/// openings).
fn fhe_values(
    schema: &RegisterSchema,
    to_seal: &[FieldToSeal],
) -> Result<Vec<(FieldName, Zeroizing<u64>)>, BuildError> {
    let mut out = Vec::new();
    for f in to_seal {
        if !rules::declared(schema, &f.name).is_some_and(|d| d.fhe) {
            continue;
        }
        let bytes: [u8; 8] = f
            .plaintext
            .as_slice()
            .try_into()
            .map_err(|_| BuildError::internal("an amount is not 8 bytes"))?;
        out.push((f.name.clone(), Zeroizing::new(u64::from_be_bytes(bytes))));
    }
    Ok(out)
}

fn commit_amounts(
    schema: &RegisterSchema,
    to_seal: &mut [FieldToSeal],
) -> Result<Vec<(FieldName, Opening)>, BuildError> {
    let mut out = Vec::new();
    for f in to_seal.iter_mut() {
        if !rules::committed(schema, &f.name) {
            continue;
        }
        let bytes: [u8; 8] = f
            .plaintext
            .as_slice()
            .try_into()
            .map_err(|_| BuildError::internal("an amount is not 8 bytes"))?;
        let opening = Opening::new(u64::from_be_bytes(bytes));
        f.plaintext = Zeroizing::new(opening.to_bytes().to_vec());
        out.push((f.name.clone(), opening));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
