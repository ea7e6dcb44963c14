//! Groth16 statements in the ledger: which circuit a transaction's proof is for, its
//! public inputs (read from stored records), and the chain's verifying keys.
//!
//! The verifying keys are fixed in genesis (`circuit/{name}` in state, covered by the
//! genesis state root) and cached prepared, once per distinct key, for the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use ledger_circuits::{
    finance_binding, fr_from_bytes, org_to_fr, CircuitId, FinanceTerms, Fr, VerifyingKey,
};
use ledger_types::{
    ChainId, CodecError, DocumentKind, Hash, HashSuite, OrgId, Payload, RecordId, Relation,
    Transaction,
};

use crate::error::{StateError, TxRejection};
use crate::{keys, model, StateView};

/// What a transaction's Groth16 proof must prove.
pub(crate) struct Statement<'t> {
    pub circuit: CircuitId,
    pub inputs: Vec<Fr>,
    pub kind: &'static str,
    pub record: RecordId,
    pub proof: &'t [u8],
}

/// The verifying key of `id` registered at genesis, prepared (cached).
pub(crate) fn verifying_key<V: StateView>(
    view: &V,
    id: CircuitId,
) -> Result<Option<Arc<VerifyingKey>>, StateError> {
    static CACHE: OnceLock<Mutex<HashMap<Hash, Arc<VerifyingKey>>>> = OnceLock::new();
    let key = keys::circuit(id.name());
    let Some(bytes) = view.get(&key)? else {
        return Ok(None);
    };
    let h = HashSuite::current().digest("cl/circuit-vk-cache/v1", &[id.name().as_bytes(), &bytes]);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(k) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&h) {
        return Ok(Some(k.clone()));
    }
    let vk = VerifyingKey::from_bytes(id, &bytes).map_err(|e| StateError::Corrupt {
        key: String::from_utf8_lossy(&key).into_owned(),
        source: CodecError::NotCanonical {
            what: "circuit verifying key",
            reason: e.to_string(),
        },
    })?;
    let vk = Arc::new(vk);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(h, vk.clone());
    Ok(Some(vk))
}

/// The document commitment of a stored record version, with its schema's document kind
/// and the record's owner; `None` if the version, its schema or its commitment is missing
/// (execution names it).
pub(crate) fn document<V: StateView>(
    view: &V,
    record: &RecordId,
    version: u32,
) -> Result<Option<(DocumentKind, [u8; 32], OrgId)>, StateError> {
    match model::record_version(view, record, version)? {
        Some(v) => Ok(document_of(view, &v)?.map(|(k, c)| (k, c, v.owner))),
        None => Ok(None),
    }
}

/// [`document`] of a record version already read.
pub(crate) fn document_of<V: StateView>(
    view: &V,
    v: &model::RecordVersion,
) -> Result<Option<(DocumentKind, [u8; 32])>, StateError> {
    let Some(c) = v.document_commitment else {
        return Ok(None);
    };
    let Some(s) = model::schema_version(view, &v.schema, v.schema_version)? else {
        return Ok(None);
    };
    Ok(s.document.map(|k| (k, c)))
}

fn malformed(kind: &'static str, record: &RecordId, what: &str) -> TxRejection {
    TxRejection::InvalidProof {
        kind,
        record: record.clone(),
        reason: what.to_string(),
    }
}

/// The statement of `tx`'s Groth16 proof, if it carries one and every record it names is
/// stored with a document of the right kind (otherwise `None`: execution reports what is
/// missing, and nothing is proved about records that do not exist).
pub(crate) fn statement<'t, V: StateView>(
    view: &V,
    chain_id: &ChainId,
    tx: &'t Transaction,
) -> Result<Option<Statement<'t>>, TxRejection> {
    match &tx.body().payload {
        Payload::CrossCheck(c)
            if matches!(c.relation, Relation::Invoice | Relation::InvoiceLinked) =>
        {
            let (circuit, kinds): (CircuitId, &[DocumentKind]) = match c.relation {
                Relation::Invoice => (CircuitId::Invoice, &[DocumentKind::Invoice]),
                _ => (
                    CircuitId::InvoiceLinked,
                    &[
                        DocumentKind::Invoice,
                        DocumentKind::PurchaseOrder,
                        DocumentKind::DeliveryNote,
                    ],
                ),
            };
            let kind = circuit.name();
            // The documents' commitments, then their records' owners: the circuits bind
            // each document's party to the organisation that wrote its record.
            let mut inputs = Vec::with_capacity(2 * kinds.len());
            let mut owners = Vec::with_capacity(kinds.len());
            if c.operands.len() != kinds.len() {
                return Ok(None);
            }
            for (o, want) in c.operands.iter().zip(kinds) {
                let Some((got, commitment, owner)) = document(view, &o.record, o.version)? else {
                    return Ok(None);
                };
                if got != *want {
                    return Ok(None);
                }
                inputs.push(
                    fr_from_bytes(&commitment).map_err(|e| {
                        malformed(kind, &o.record, &format!("stored commitment: {e}"))
                    })?,
                );
                owners.push(org_to_fr(owner.as_str()));
            }
            inputs.extend(owners);
            Ok(Some(Statement {
                circuit,
                inputs,
                kind,
                record: c.operands[0].record.clone(),
                proof: &c.proof,
            }))
        }
        Payload::FinanceRequest(f) => {
            let kind = CircuitId::Finance.name();
            let nullifier = fr_from_bytes(&f.nullifier)
                .map_err(|e| malformed(kind, &f.invoice.record, &format!("nullifier: {e}")))?;
            let Some((DocumentKind::DeliveryNote, commitment, _)) =
                document(view, &f.delivery.record, f.delivery.version)?
            else {
                return Ok(None);
            };
            let commitment = fr_from_bytes(&commitment).map_err(|e| {
                malformed(kind, &f.delivery.record, &format!("stored commitment: {e}"))
            })?;
            let binding = finance_binding(&FinanceTerms {
                chain_id: chain_id.as_str(),
                seller: tx.body().signer.as_str(),
                bank: f.bank.as_str(),
                invoice: (f.invoice.record.as_str(), f.invoice.version),
                delivery: (f.delivery.record.as_str(), f.delivery.version),
            });
            Ok(Some(Statement {
                circuit: CircuitId::Finance,
                inputs: vec![commitment, nullifier, binding],
                kind,
                record: f.invoice.record.clone(),
                proof: &f.proof,
            }))
        }
        _ => Ok(None),
    }
}

/// A key naming a verified statement: the transaction and the exact public inputs its
/// proof was checked against (block validation checks proofs on all cores first and
/// skips, in execution, those whose statement key it verified).
pub(crate) fn statement_key(tx: &Transaction, st: &Statement<'_>) -> Hash {
    let inputs: Vec<[u8; 32]> = st.inputs.iter().map(ledger_circuits::fr_to_bytes).collect();
    let h = tx.hash();
    let mut parts: Vec<&[u8]> = vec![h.as_bytes(), st.circuit.name().as_bytes()];
    parts.extend(inputs.iter().map(|i| i.as_slice()));
    HashSuite::current().digest("cl/statement/v1", &parts)
}

/// Verifies the statement's proof with the chain's verifying key.
pub(crate) fn verify<V: StateView>(view: &V, st: &Statement<'_>) -> Result<(), TxRejection> {
    let vk = verifying_key(view, st.circuit)?.ok_or_else(|| {
        malformed(
            st.kind,
            &st.record,
            &format!(
                "this chain registered no verifying key for circuit {} in genesis",
                st.circuit.name()
            ),
        )
    })?;
    let started = std::time::Instant::now();
    let r = vk.verify(&st.inputs, st.proof);
    ledger_metrics::metrics().proofs_verified("groth16", 1, started.elapsed());
    r.map_err(|e| malformed(st.kind, &st.record, &e.to_string()))
}
