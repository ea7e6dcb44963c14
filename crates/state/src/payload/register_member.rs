//! `RegisterMember`: an organisation joins the member directory. For now only in the
//! genesis block, where each founding member signs its own registration with nonce 0 (proof
//! of possession of the key it registers), once, under a name other than the reserved
//! `genesis`. A regulator may register an audit key and a member a ring key; each must be
//! usable, and no two members share a ring key. After genesis the kind is refused.

use ledger_crypto::verify_tx_signature;
use ledger_types::block::GENESIS_PROPOSER;
use ledger_types::{RegisterMember, Role, Transaction};

use super::Writes;
use crate::error::TxRejection;
use crate::exec::check_nonce;
use crate::model::{self, encode_member};
use crate::{keys, StateView};

/// Why a registration after genesis is refused.
pub(crate) fn after_genesis() -> TxRejection {
    TxRejection::NotAllowed {
        kind: "RegisterMember",
        context: "after genesis (members are admitted in the genesis block for now)".into(),
    }
}

/// Checks `tx`, the genesis registration of `m`, against the members registered before it
/// in the block (`view`) and the ring keys they registered (`ring`).
pub(crate) fn check_genesis<V: StateView>(
    view: &V,
    tx: &Transaction,
    m: &RegisterMember,
    ring: &[[u8; 32]],
) -> Result<(), TxRejection> {
    let body = tx.body();
    let not_allowed = |context: String| TxRejection::NotAllowed {
        kind: "RegisterMember",
        context,
    };
    if m.org != body.signer {
        return Err(not_allowed(format!(
            "signed by {} for {}: each member signs its own registration",
            body.signer, m.org
        )));
    }
    if m.org.as_str() == GENESIS_PROPOSER {
        return Err(not_allowed("for the reserved name \"genesis\"".into()));
    }
    if model::member(view, &m.org)?.is_some() {
        return Err(not_allowed(format!("twice for {}", m.org)));
    }
    let audit = role_key_problem(m, &m.audit_key, Role::Regulator, "audit key", |k| {
        ledger_proofs::AuditKey::from_bytes(k)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let ring_key = role_key_problem(m, &m.ring_key, Role::Member, "ring key", |k| {
        ledger_crypto::ring::check_ring_key(k).map_err(|e| e.to_string())
    });
    if let Some(why) = audit.or(ring_key) {
        return Err(not_allowed(why));
    }
    if !m.ring_key.is_empty() && ring.iter().any(|k| k.as_slice() == m.ring_key) {
        return Err(not_allowed(format!(
            "with the ring key of another member for {}",
            m.org
        )));
    }
    for (kind, key) in [("audit", &m.audit_key), ("encryption", &m.encryption_key)] {
        if key.is_empty() {
            continue;
        }
        if let Some(owner) = model::key_owner(view, kind, key)? {
            return Err(not_allowed(format!(
                "with the {kind} key of {owner} for {}",
                m.org
            )));
        }
    }
    check_nonce(&body.signer, body.nonce, 0)?;
    verify_tx_signature(tx, &m.signing_key).map_err(|e| TxRejection::BadSignature {
        signer: body.signer.clone(),
        reason: e.to_string(),
    })
}

/// What a registration writes: the member entry, its next nonce (1), and the owner of
/// its audit and encryption keys (no two members register the same one).
pub(crate) fn genesis_writes(m: &RegisterMember) -> Writes {
    let mut w = vec![
        (keys::member(&m.org), encode_member(m)),
        (keys::nonce(&m.org), 1u64.to_be_bytes().to_vec()),
    ];
    for (kind, key) in [("audit", &m.audit_key), ("encryption", &m.encryption_key)] {
        if !key.is_empty() {
            w.push((
                keys::key_owner(kind, key),
                m.org.as_str().as_bytes().to_vec(),
            ));
        }
    }
    w
}

/// Checks the proofs of possession of the ring and audit keys `m` registers (each bound
/// to the chain, the organisation and the key's kind); the error says which failed.
pub(crate) fn check_possession(
    chain_id: &ledger_types::ChainId,
    m: &RegisterMember,
    ring_proof: &[u8],
    audit_proof: &[u8],
) -> Result<(), String> {
    use ledger_crypto::possession::context;
    for (key, proof, kind) in [
        (&m.ring_key, ring_proof, "ring"),
        (&m.audit_key, audit_proof, "audit"),
    ] {
        let ctx = context(chain_id.as_str(), m.org.as_str(), kind);
        match (key.is_empty(), proof.is_empty()) {
            (true, true) => {}
            (true, false) => return Err(format!("a proof for a {kind} key {} does not register", m.org)),
            (false, true) => {
                return Err(format!(
                    "no proof of possession of {}'s {kind} key (make the join request again with this version of `ledger-node join-request`)",
                    m.org
                ))
            }
            (false, false) => {
                let checked = if kind == "ring" {
                    ledger_crypto::ring::verify_possession(key, &ctx, proof)
                } else {
                    ledger_proofs::AuditKey::verify_possession(key, &ctx, proof)
                };
                checked.map_err(|e| format!("{}'s {kind} key: {e}", m.org))?;
            }
        }
    }
    Ok(())
}

/// Why `m` may not register `key` (its `name`), if it may not: only holders of `role`
/// register one, and it must pass `usable`. An empty key is no key.
fn role_key_problem(
    m: &RegisterMember,
    key: &[u8],
    role: Role,
    name: &str,
    usable: impl Fn(&[u8]) -> Result<(), String>,
) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    if !m.has_role(role) {
        return Some(format!(
            "with the {name} of {}, which is not a {}",
            m.org,
            role.name()
        ));
    }
    usable(key)
        .err()
        .map(|e| format!("with an unusable {name} for {}: {e}", m.org))
}
