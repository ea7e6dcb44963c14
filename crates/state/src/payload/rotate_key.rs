//! `RotateKey`: a member replaces one of its keys, signing the rotation with its current
//! signing key; after a loss (or for a suspended member) governance does it with
//! `Action::RotateKey`. Both carry the same [`RotateKey`] and are checked here alike.
//!
//! - **Signing**: from the rotating block on, the member's transactions verify under the
//!   new key only; one signed with the old key is refused. A validator (now or in the two
//!   heights scheduled) rotates its signing key out of the validator set: its consensus
//!   signatures are checked against the key of each height.
//! - **Encryption**: new field keys are wrapped to the new key from then on; wraps made
//!   to the old key stay as they were, readable by the holder of the old key (history).
//! - **Audit** (regulators): a new audit epoch. Amounts committed from the rotating block
//!   on carry handles for the new key (a record built against the old key is refused); the
//!   regulator reads each amount with the key of its epoch ([`crate::model::key_at`]).
//! - **Ring** (members): the member ring is fixed anew from the rotating block, the old
//!   key replaced by the new one, and the ring floor raised: endorsements must name a ring
//!   from then on, so the old ring key signs nothing more.
//!
//! Every rotation is recorded in the member's key history; a key once registered, by
//! anyone, is never registered again.

use ledger_types::codec::Decoder;
use ledger_types::{Hash, KeyKind, OrgId, PublicKey, RegisterMember, Role, RotateKey};

use super::{Ctx, PayloadHandler, Writes};
use crate::error::{ExecError, TxFailure};
use crate::model::{self, KeyChange};
use crate::{keys, StateView};

/// The writes that give `m` the key of `r` at `ctx.height`; a rotation that cannot be
/// carried out fails naming why ([`TxFailure::BadRotation`]).
pub(crate) fn rotation_writes<V: StateView>(
    ctx: &Ctx<'_, V>,
    m: &RegisterMember,
    r: &RotateKey,
) -> Result<Writes, ExecError> {
    use ledger_crypto::possession::context;
    let org = &m.org;
    let kind = r.kind;
    let fail = |reason: String| failure(org, kind, reason);
    let cx = context(ctx.chain_id.as_str(), org.as_str(), kind.name());
    let mut m2 = m.clone();
    let old = match kind {
        KeyKind::Signing => {
            let mut d = Decoder::new(&r.key);
            let key = PublicKey::decode(&mut d)
                .and_then(|k| d.finish("signing key").map(|()| k))
                .map_err(|e| fail(format!("the new key does not decode: {e}")))?;
            for h in ctx.height..=ctx.height + super::govern::VALIDATOR_CHANGE_DELAY {
                if model::validator_set_at(ctx.view, h)?.contains(org) {
                    return Err(fail(format!(
                        "{org} is a validator at height {h}: its consensus signatures are checked against its signing key, so a validator's key is rotated out of the validator set (remove it, rotate, add it again)"
                    )));
                }
            }
            ledger_crypto::possession::verify_signing(&key, &cx, &r.proof)
                .map_err(|e| fail(e.to_string()))?;
            let mut e = ledger_types::codec::Encoder::new();
            m.signing_key.encode(&mut e);
            m2.signing_key = key;
            e.finish()
        }
        KeyKind::Encryption => {
            if !r.proof.is_empty() {
                return Err(fail(
                    "an encryption key (an HSM-held key-agreement key, which signs nothing) takes no proof".into(),
                ));
            }
            ledger_crypto::hpke::check_public_key(&r.key).map_err(|e| fail(e.to_string()))?;
            std::mem::replace(&mut m2.encryption_key, r.key.clone())
        }
        KeyKind::Audit => {
            if !m.has_role(Role::Regulator) {
                return Err(fail(format!(
                    "{org} is not a regulator: it has no audit key"
                )));
            }
            ledger_proofs::AuditKey::verify_possession(&r.key, &cx, &r.proof)
                .map_err(|e| fail(e.to_string()))?;
            std::mem::replace(&mut m2.audit_key, r.key.clone())
        }
        KeyKind::Ring => {
            if !m.has_role(Role::Member) {
                return Err(fail(format!("{org} is not a member: it has no ring key")));
            }
            ledger_crypto::ring::verify_possession(&r.key, &cx, &r.proof)
                .map_err(|e| fail(e.to_string()))?;
            std::mem::replace(&mut m2.ring_key, r.key.clone())
        }
    };
    if old == r.key {
        return Err(fail("the new key is the current one".into()));
    }
    if let Some(owner) = model::key_owner(ctx.view, kind.name(), &r.key)? {
        return Err(fail(format!(
            "that key was registered before (by {owner}); a key is never registered twice"
        )));
    }
    let mut writes: Writes = Vec::new();
    if kind == KeyKind::Ring {
        let new: [u8; 32] = r
            .key
            .as_slice()
            .try_into()
            .map_err(|_| fail("a ring key is 32 bytes".into()))?;
        let ring = model::member_ring(ctx.view, ctx.height)?
            .map(|r| r.keys)
            .unwrap_or_default();
        if ring.contains(&new) {
            return Err(fail("that key is in the member ring already".into()));
        }
        // A suspended member's key is out of the ring: its new key joins on reinstatement.
        if ring.iter().any(|k| k.as_slice() == old) {
            let ring: Vec<[u8; 32]> = ring
                .into_iter()
                .map(|k| if k.as_slice() == old { new } else { k })
                .collect();
            writes.extend(model::set_ring(ctx.view, ctx.height, &ring, true)?);
        }
    }
    // The old key keeps an owner entry too: no key is registered again, by anyone.
    for k in [&old, &r.key] {
        writes.push((
            keys::key_owner(kind.name(), k),
            org.as_str().as_bytes().to_vec(),
        ));
    }
    writes.push(model::append_key_change(
        ctx.view,
        org,
        &KeyChange {
            height: ctx.height,
            kind,
            old,
            new: r.key.clone(),
        },
    )?);
    writes.push((keys::member(org), model::encode_member(&m2)));
    Ok(writes)
}

/// The failure of a rotation of `org`'s `kind` key.
pub(crate) fn failure(org: &OrgId, kind: KeyKind, reason: String) -> ExecError {
    TxFailure::BadRotation {
        org: org.clone(),
        kind: kind.name(),
        reason,
    }
    .into()
}

impl PayloadHandler for RotateKey {
    fn execute<V: StateView>(
        &self,
        ctx: &Ctx<'_, V>,
        signer: &RegisterMember,
        _tx_hash: Hash,
    ) -> Result<Writes, ExecError> {
        rotation_writes(ctx, signer, self)
    }
}
