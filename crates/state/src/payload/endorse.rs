//! `Endorse`: an anonymous endorsement of a statement on a topic by one of the member
//! banks. It has no signer and no nonce: its linkable ring signature, over the member ring
//! of a committed height, authenticates it, and its key image admits one endorsement per
//! member per topic. With no nonce to consume, an endorsement without effect must not take
//! block space, so every check here refuses rather than fails.
//!
//! Also where endorsements are signed ([`sign_endorsement`]) and verified, alone
//! ([`verify_endorsement`]) or added to a batch (`add_endorsement`, for `preverify`).

use ledger_types::{ChainId, Endorse, Hash, Transaction};

use super::{Ctx, Writes};
use crate::error::TxRejection;
use crate::{model, StateView};

/// Checks an endorsement against state: its ring signature verifies against the member
/// ring of its ring height (unless `verified` already), and its key image has not endorsed
/// the topic before. Returns the key image.
pub(crate) fn check<V: StateView>(
    ctx: &Ctx<'_, V>,
    e: &Endorse,
    verified: bool,
) -> Result<[u8; 32], TxRejection> {
    // A ring from before the last change that took a key out (a member removed or
    // suspended, a ring key rotated) still holds that key: refused, whoever signed.
    let floor = model::ring_floor(ctx.view)?;
    if e.ring_height < floor {
        return Err(TxRejection::BadEndorsement {
            topic: e.topic.clone(),
            reason: format!(
                "ring height {} is from before the member ring changed at height {floor} (a key left it); sign with the ring of height {floor} or later",
                e.ring_height
            ),
        });
    }
    if !verified {
        verify_endorsement(ctx.view, ctx.chain_id, ctx.height, e)?;
    }
    let image = e.key_image().ok_or_else(|| TxRejection::BadEndorsement {
        topic: e.topic.clone(),
        reason: "the signature has no key image".into(),
    })?;
    if let Some(earlier) = model::endorsement_by_image(ctx.view, &e.topic, &image)? {
        return Err(TxRejection::AlreadyEndorsed {
            topic: e.topic.clone(),
            key_image: hex::encode(image),
            earlier_tx: earlier.tx_hash,
            earlier_height: earlier.height,
        });
    }
    Ok(image)
}

/// What a checked endorsement with key `image`, in transaction `tx_hash`, writes: the
/// topic's next entry.
pub(crate) fn execute<V: StateView>(
    ctx: &Ctx<'_, V>,
    tx_hash: Hash,
    e: &Endorse,
    image: [u8; 32],
) -> Result<Writes, TxRejection> {
    let entry = model::Endorsement {
        index: model::endorsement_count(ctx.view, &e.topic)?,
        height: ctx.height,
        tx_hash,
        statement: e.statement,
        key_image: image,
        ring_height: e.ring_height,
    };
    Ok(model::endorsement_writes(&e.topic, &entry))
}

/// Verifies an endorsement's ring signature against the member ring in force at its ring
/// height, for a block at `height` (the ring height must be below it: a committed ring).
pub fn verify_endorsement<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    height: u64,
    e: &Endorse,
) -> Result<(), TxRejection> {
    let mut batch = ledger_crypto::ring::RingBatch::new();
    let members = add_endorsement(view, chain_id, height, e, &mut batch)?;
    batch.verify().map_err(|err| {
        bad_endorsement(
            e,
            format!(
                "the ring signature does not verify against the {members}-member ring of height {}: {}",
                e.ring_height,
                ring_reason(err)
            ),
        )
    })
}

/// What was wrong with a ring signature, without the error's own prefix.
fn ring_reason(err: ledger_crypto::CryptoError) -> String {
    match err {
        ledger_crypto::CryptoError::InvalidRingSignature { reason } => reason,
        other => other.to_string(),
    }
}

fn bad_endorsement(e: &Endorse, reason: String) -> TxRejection {
    TxRejection::BadEndorsement {
        topic: e.topic.clone(),
        reason,
    }
}

/// Adds an endorsement's ring signature to `batch`, against the member ring of its ring
/// height (returns the ring's size); refuses at once what cannot verify whatever the rest
/// of the batch.
pub(crate) fn add_endorsement<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    height: u64,
    e: &Endorse,
    batch: &mut ledger_crypto::ring::RingBatch,
) -> Result<usize, TxRejection> {
    let bad = |reason: String| bad_endorsement(e, reason);
    if e.ring_height >= height {
        return Err(bad(format!(
            "ring height {} is not below the block height {height}: only a committed ring signs",
            e.ring_height
        )));
    }
    let ring = model::member_ring(view, e.ring_height)?
        .map(|r| r.keys)
        .ok_or_else(|| bad(format!("no member ring at height {}", e.ring_height)))?;
    let sig = ledger_crypto::ring::RingSignature::from_bytes(&e.signature)
        .map_err(|err| bad(format!("malformed ring signature: {}", ring_reason(err))))?;
    batch
        .add(
            chain_id.as_str(),
            e.topic.as_str().as_bytes(),
            &e.message(),
            &ring,
            &sig,
        )
        .map_err(|err| {
            bad(format!(
                "the ring signature does not verify against the {}-member ring of height {}: {}",
                ring.len(),
                e.ring_height,
                ring_reason(err)
            ))
        })?;
    Ok(ring.len())
}

/// Signs an anonymous endorsement of `statement` on `topic` with `secret`, for `ring`, the
/// member ring in force at `ring_height` (which must hold the secret's public key).
pub fn sign_endorsement(
    chain_id: &ChainId,
    ring: &[[u8; 32]],
    ring_height: u64,
    topic: &ledger_types::Topic,
    statement: [u8; 32],
    secret: &ledger_crypto::ring::RingSecret,
) -> Result<Transaction, TxRejection> {
    let bad = |reason: String| TxRejection::BadEndorsement {
        topic: topic.clone(),
        reason,
    };
    let index = ring
        .iter()
        .position(|k| *k == secret.public())
        .ok_or_else(|| {
            bad(format!(
                "this ring key is not in the {}-member ring of height {ring_height}",
                ring.len()
            ))
        })?;
    let signature = ledger_crypto::ring::ring_sign(
        chain_id.as_str(),
        topic.as_str().as_bytes(),
        &Endorse::message_for(&statement, ring_height),
        ring,
        index,
        secret,
    )
    .map_err(|e| bad(e.to_string()))?
    .to_bytes();
    Ok(Transaction::anonymous(
        chain_id.clone(),
        Endorse {
            topic: topic.clone(),
            statement,
            ring_height,
            signature,
        },
    ))
}
