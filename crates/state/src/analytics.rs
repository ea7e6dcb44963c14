//! The chain's analytics keys in the state machine: the evaluator every node builds from the
//! key file beside genesis (`ledger_fhe::PublicKeys`), found by the keys' id that genesis
//! fixed in state (`analytics/config`). A node installs it before it executes anything
//! ([`install_analytics`]); a node without it refuses financing requests with amounts,
//! naming the missing key file, rather than guess.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use ledger_fhe::{EncryptedAmount, Evaluator, FheError, PublicKeys};
use ledger_types::{ChainId, FieldName, FinanceRequest, HashSuite, PutRecord};

fn registry() -> &'static Mutex<HashMap<[u8; 32], Arc<Evaluator>>> {
    static R: OnceLock<Mutex<HashMap<[u8; 32], Arc<Evaluator>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Builds the evaluator of `keys` (decompresses the server key: seconds) and makes it the
/// one the state machine uses for a chain whose genesis names `keys.id()`. Installing the
/// same keys again returns the evaluator already built.
pub fn install_analytics(keys: &PublicKeys) -> Result<Arc<Evaluator>, FheError> {
    let id = keys.id();
    if let Some(e) = registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
    {
        return Ok(e.clone());
    }
    let e = Arc::new(Evaluator::new(keys)?);
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, e.clone());
    Ok(e)
}

/// The evaluator installed for keys `id`, if any.
pub fn evaluator(id: &[u8; 32]) -> Option<Arc<Evaluator>> {
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(id)
        .cloned()
}

/// The context a financing request's encrypted amount is proven for: the chain, the
/// invoice version, the bank and the receivable nullifier (unique per goods), so that the
/// ciphertext and its proof verify in this request only.
pub fn amount_context(chain_id: &ChainId, f: &FinanceRequest) -> Vec<u8> {
    HashSuite::current()
        .digest(
            "cl/fhe-amount-context/v1",
            &[
                chain_id.as_str().as_bytes(),
                f.invoice.record.as_str().as_bytes(),
                &f.invoice.version.to_be_bytes(),
                f.bank.as_str().as_bytes(),
                &f.nullifier,
            ],
        )
        .as_bytes()
        .to_vec()
}

/// The context an `fhe` amount field's encrypted value is proven for: the chain, the record
/// version (with its schema version) and the field, so that it verifies in this version's
/// field only.
pub fn field_amount_context(chain_id: &ChainId, p: &PutRecord, field: &FieldName) -> Vec<u8> {
    HashSuite::current()
        .digest(
            "cl/fhe-field-context/v1",
            &[
                chain_id.as_str().as_bytes(),
                p.schema.as_str().as_bytes(),
                &p.schema_version.to_be_bytes(),
                p.record.as_str().as_bytes(),
                &p.version.to_be_bytes(),
                field.as_str().as_bytes(),
            ],
        )
        .as_bytes()
        .to_vec()
}

/// Checks a financing request's encrypted amount with the evaluator of keys `id`.
pub(crate) fn check_amount(
    id: &[u8; 32],
    chain_id: &ChainId,
    f: &FinanceRequest,
) -> Result<(), String> {
    check_encrypted(id, &f.amount, &amount_context(chain_id, f))
}

/// How many verified (keys, context, ciphertext) triples a node remembers.
const VERIFIED_CAPACITY: usize = 4096;

/// Encrypted amounts that verified, by the digest of keys, context and bytes, oldest first:
/// a transaction's amount is checked at admission, when a block holding it is validated
/// and when it executes; a proof of encryption takes about 0.1 s to verify, its digest
/// about 50 us. Only successes are remembered (verification is a pure function of the
/// three), so a failure is always checked again and named.
#[derive(Default)]
struct Verified {
    set: std::collections::HashSet<[u8; 32]>,
    order: std::collections::VecDeque<[u8; 32]>,
}

fn verified() -> &'static Mutex<Verified> {
    static V: OnceLock<Mutex<Verified>> = OnceLock::new();
    V.get_or_init(Default::default)
}

/// Checks encrypted amount `bytes`, proven for `context`, with the evaluator of keys `id`.
pub(crate) fn check_encrypted(id: &[u8; 32], bytes: &[u8], context: &[u8]) -> Result<(), String> {
    let Some(e) = evaluator(id) else {
        return Err(format!(
            "this node has not loaded the chain's analytics keys ({}): put analytics-keys.bin beside genesis.json",
            hex::encode(id)
        ));
    };
    let digest = *HashSuite::current()
        .digest("cl/fhe-verified/v1", &[id, context, bytes])
        .as_bytes();
    if verified()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .set
        .contains(&digest)
    {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let checked = e.check_amount(&EncryptedAmount::from_bytes(bytes.to_vec()), context);
    ledger_metrics::metrics().proofs_verified("fhe_amount", 1, started.elapsed());
    checked.map_err(|e| e.to_string())?;
    let mut v = verified().lock().unwrap_or_else(|p| p.into_inner());
    if v.set.insert(digest) {
        v.order.push_back(digest);
        if v.order.len() > VERIFIED_CAPACITY {
            if let Some(old) = v.order.pop_front() {
                v.set.remove(&old);
            }
        }
    }
    Ok(())
}
