//! Sealing a record version, shared by puts and revocations: each field sealed under a
//! fresh key wrapped to its readers, committed amounts replaced by a fresh opening, and
//! their commitments, aggregated range proof and auditors' handles attached.

use std::collections::BTreeMap;

use ledger_crypto::record::{seal_record, FieldToSeal, Reader};
use ledger_proofs::{AuditKey, Opening};
use ledger_state::rules;
use ledger_state::StateView;
use ledger_types::{
    AuditHandle, FieldCommitment, FieldName, OrgId, PutRecord, RecordId, RecordRangeProof,
    RegisterSchema,
};
use zeroize::Zeroizing;

use crate::{BuildError, Builder};

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
    ) -> Result<PutRecord, BuildError> {
        let openings = commit_amounts(schema, &mut to_seal)?;
        let mut put = seal_record(self.chain, record, version, schema, &to_seal)
            .map_err(BuildError::Sealing)?;
        let auditors = self.audit_keys(schema)?;
        self.attach_commitments(&mut put, &openings, &auditors)?;
        Ok(put)
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
