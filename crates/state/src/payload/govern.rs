//! `Govern`: consortium governance. A governor (weight above 0 in the parameters in force)
//! proposes an action with a deadline, its own yes vote cast with it; governors vote yes or
//! no, once each, until the deadline, which is checked on every vote; the proposer may
//! revoke its proposal while it is open. At most one proposal per action and subject is
//! open at a time. A proposal passes in the block whose vote brings the yes weight to the
//! quorum and approval shares; its action is carried out in that same block, by every
//! validator alike. It is rejected as soon as it can no longer pass.
//!
//! Actions: admit a member; suspend and reinstate it (a suspended member's transactions
//! are refused by every validator and its ring key leaves the member ring until it is
//! reinstated); remove it for good; set its roles (not the validator or member roles: the
//! validator set and the member ring change at a height, with their own actions); add and
//! remove validators (effective [`VALIDATOR_CHANGE_DELAY`] heights later); rotate a
//! member's key for it after a loss; replace the governance parameters.

use ledger_types::{Action, Govern, GovernanceParams, Hash, RegisterMember, Role};

use super::{Ctx, PayloadHandler, Writes};
use crate::error::{ExecError, TxFailure};
use crate::model::{self, Proposal, ProposalStatus};
use crate::{keys, StateView};

/// How many heights after the block that passes it a validator-set change takes effect
/// (CometBFT's H+2): the validators of the height in between already hold their
/// parameters, and the new set is known a full height before it signs.
pub const VALIDATOR_CHANGE_DELAY: u64 = 2;

fn bad(action: &Action, reason: impl Into<String>) -> ExecError {
    TxFailure::BadAction {
        action: action.name(),
        reason: reason.into(),
    }
    .into()
}

/// The writes that carry out `action`, passed by proposal `id` at `ctx.height`, or why it
/// cannot be carried out (checked when it is proposed and again when it passes).
fn carry_out<V: StateView>(
    ctx: &Ctx<'_, V>,
    params: &GovernanceParams,
    action: &Action,
    id: u64,
) -> Result<Writes, ExecError> {
    // A removed member is no subject of any action any more.
    let member = |org| -> Result<RegisterMember, ExecError> {
        let m = model::member(ctx.view, org)?
            .ok_or_else(|| bad(action, format!("{org} is not a member")))?;
        if let Some((p, h)) = model::removal(ctx.view, org)? {
            return Err(bad(
                action,
                format!("{org} was removed (proposal {p}, height {h})"),
            ));
        }
        Ok(m)
    };
    match action {
        Action::Suspend { org } => {
            let m = member(org)?;
            if model::suspension(ctx.view, org)?.is_some() {
                return Err(bad(action, format!("{org} is already suspended")));
            }
            // Governance must still be able to pass a proposal (to reinstate it) without
            // the suspended governors.
            let mut free = 0u64;
            for (g, w) in &params.governors {
                if g != org && model::suspension(ctx.view, g)?.is_none() {
                    free += u64::from(*w);
                }
            }
            if !params.passes(free, 0) {
                return Err(bad(
                    action,
                    "the governors left could not pass any proposal, not even a reinstatement",
                ));
            }
            let mut writes = vec![(
                keys::suspended(org),
                model::encode_standing(model::Standing::Suspended(id, ctx.height)),
            )];
            // Its ring key leaves the member ring: it endorses nothing while suspended.
            writes.extend(ring_without(ctx, &m)?);
            Ok(writes)
        }
        Action::Reinstate { org } => {
            let m = member(org)?;
            if model::suspension(ctx.view, org)?.is_none() {
                return Err(bad(action, format!("{org} is not suspended")));
            }
            let mut writes = vec![(
                keys::suspended(org),
                model::encode_standing(model::Standing::Good),
            )];
            if m.has_role(Role::Member) {
                if let Ok(k) = <[u8; 32]>::try_from(m.ring_key.as_slice()) {
                    let mut ring = current_ring(ctx)?;
                    if !ring.contains(&k) {
                        ring.push(k);
                        writes.extend(model::set_ring(ctx.view, ctx.height, &ring, false)?);
                    }
                }
            }
            Ok(writes)
        }
        Action::RemoveMember { org } => {
            let m = member(org)?;
            for h in ctx.height..=ctx.height + VALIDATOR_CHANGE_DELAY {
                if model::validator_set_at(ctx.view, h)?.contains(org) {
                    return Err(bad(
                        action,
                        format!("{org} is a validator at height {h}: remove it from the validator set first"),
                    ));
                }
            }
            if params.weight(org) > 0 {
                return Err(bad(
                    action,
                    format!("{org} is a governor: change the governance parameters first"),
                ));
            }
            let mut writes = vec![(
                keys::suspended(org),
                model::encode_standing(model::Standing::Removed(id, ctx.height)),
            )];
            writes.extend(ring_without(ctx, &m)?);
            Ok(writes)
        }
        Action::RotateKey { org, rotation } => {
            let m = model::member(ctx.view, org)?
                .ok_or_else(|| bad(action, format!("{org} is not a member")))?;
            if let Some((p, h)) = model::removal(ctx.view, org)? {
                return Err(bad(
                    action,
                    format!("{org} was removed (proposal {p}, height {h})"),
                ));
            }
            super::rotate_key::rotation_writes(ctx, &m, rotation).map_err(|e| match e {
                ExecError::Failed(f) => bad(action, f.to_string()),
                other => other,
            })
        }
        Action::SetRoles { org, roles } => {
            let mut m = member(org)?;
            for fixed in [Role::Validator, Role::Member] {
                if m.has_role(fixed) != roles.contains(&fixed) {
                    return Err(bad(
                        action,
                        format!(
                            "the {} role cannot be given or taken this way: the validator set and the member ring change at a height, with their own actions",
                            fixed.name()
                        ),
                    ));
                }
            }
            if roles.contains(&Role::Regulator) && m.audit_key.is_empty() {
                return Err(bad(
                    action,
                    format!("{org} has no audit key: a regulator needs one"),
                ));
            }
            m.roles = roles.clone();
            Ok(vec![(keys::member(org), model::encode_member(&m))])
        }
        Action::Admit {
            org,
            registration,
            ring_proof,
            audit_proof,
        } => {
            let tx = ledger_types::Transaction::decode(registration)
                .map_err(|e| bad(action, format!("the registration does not decode: {e}")))?;
            let ledger_types::Payload::RegisterMember(m) = &tx.body().payload else {
                return Err(bad(action, "the registration is not a RegisterMember"));
            };
            if &tx.body().chain_id != ctx.chain_id {
                return Err(bad(
                    action,
                    format!("the registration is for chain {}", tx.body().chain_id),
                ));
            }
            if &m.org != org {
                return Err(bad(action, format!("the registration is {}'s", m.org)));
            }
            if m.has_role(Role::Validator) {
                return Err(bad(
                    action,
                    "a member is admitted without the validator role; validators are added at a height, with their own action",
                ));
            }
            let ring = model::member_ring(ctx.view, ctx.height)?
                .map(|r| r.keys)
                .unwrap_or_default();
            // Its signature under the key it registers proves it holds that key; a proof of
            // knowledge, each of its ring and audit keys.
            super::register_member::check_genesis(ctx.view, &tx, m, &ring)
                .map_err(|r| bad(action, r.to_string()))?;
            super::register_member::check_possession(ctx.chain_id, m, ring_proof, audit_proof)
                .map_err(|r| bad(action, r))?;
            // No key registered before, by anyone (a removed member's included).
            let mut signing = ledger_types::codec::Encoder::new();
            m.signing_key.encode(&mut signing);
            let signing = signing.finish();
            for (kind, key) in [("signing", &signing), ("ring", &m.ring_key)] {
                if key.is_empty() {
                    continue;
                }
                if let Some(owner) = model::key_owner(ctx.view, kind, key)? {
                    return Err(bad(
                        action,
                        format!("its {kind} key was registered before (by {owner})"),
                    ));
                }
            }
            let mut writes = super::register_member::genesis_writes(m);
            for (kind, key) in [("signing", &signing), ("ring", &m.ring_key)] {
                if !key.is_empty() {
                    writes.push((keys::key_owner(kind, key), org.as_str().as_bytes().to_vec()));
                }
            }
            if m.has_role(Role::Member) {
                if let Ok(k) = <[u8; 32]>::try_from(m.ring_key.as_slice()) {
                    writes.extend(model::add_to_ring(ctx.view, ctx.height, k)?);
                }
            }
            Ok(writes)
        }
        Action::AddValidator { org, .. } | Action::RemoveValidator { org } => {
            let add = matches!(action, Action::AddValidator { .. });
            let mut writes = Vec::new();
            // The consensus address the validators connect to (kept after a removal, so
            // they stay connected until the change takes effect; replaced on re-adding).
            if let Action::AddValidator { p2p, api, .. } = action {
                let addr = p2p.as_deref().unwrap_or_default();
                if !addr.is_empty() {
                    ledger_types::governance::check_p2p_address(addr)
                        .map_err(|r| bad(action, r))?;
                }
                writes.push((keys::validator_p2p(org), addr.as_bytes().to_vec()));
                let api = api.as_deref().unwrap_or_default();
                if !api.is_empty() {
                    ledger_types::governance::check_api_address(api).map_err(|r| bad(action, r))?;
                }
                writes.push((keys::validator_api(org), api.as_bytes().to_vec()));
            }
            let mut m = member(org)?;
            let before = model::validators(ctx.view)?;
            let mut set = before.clone();
            if add {
                if set.contains(org) {
                    return Err(bad(action, format!("{org} is already a validator")));
                }
                if model::suspension(ctx.view, org)?.is_some() {
                    return Err(bad(action, format!("{org} is suspended")));
                }
                set.push(org.clone());
                set.sort();
                m.roles.push(Role::Validator);
                m.roles.sort();
                m.roles.dedup();
            } else {
                if !set.contains(org) {
                    return Err(bad(action, format!("{org} is not a validator")));
                }
                set.retain(|v| v != org);
                if set.is_empty() {
                    return Err(bad(action, "the last validator cannot be removed"));
                }
                m.roles.retain(|r| *r != Role::Validator);
                if m.roles.is_empty() {
                    m.roles.push(Role::Member);
                }
            }
            let effective = ctx.height + VALIDATOR_CHANGE_DELAY;
            let mut changes = model::validator_changes(ctx.view)?;
            if changes.is_empty() {
                // The genesis set, kept for the heights before the first change.
                writes.push((keys::validators_at(0), model::encode_validators(&before)));
            }
            if changes.last() != Some(&effective) {
                changes.push(effective);
            }
            let encoded = model::encode_validators(&set);
            writes.push((
                keys::validator_changes(),
                changes.iter().flat_map(|h| h.to_be_bytes()).collect(),
            ));
            writes.push((keys::validators_at(effective), encoded.clone()));
            writes.push((keys::validators(), encoded));
            writes.push((keys::member(org), model::encode_member(&m)));
            Ok(writes)
        }
        Action::SetGovernance(p) => {
            p.check().map_err(|r| bad(action, r))?;
            for (g, _) in &p.governors {
                member(g)?;
            }
            let mut e = ledger_types::codec::Encoder::new();
            p.encode(&mut e);
            Ok(vec![(keys::gov_params(), e.finish())])
        }
    }
}

/// The member ring in force at this height.
fn current_ring<V: StateView>(ctx: &Ctx<'_, V>) -> Result<Vec<[u8; 32]>, ExecError> {
    Ok(model::member_ring(ctx.view, ctx.height)?
        .map(|r| r.keys)
        .unwrap_or_default())
}

/// The writes that take `m`'s ring key out of the member ring from this height on (none
/// if it is not in it), raising the ring floor so no earlier ring signs either.
fn ring_without<V: StateView>(ctx: &Ctx<'_, V>, m: &RegisterMember) -> Result<Writes, ExecError> {
    let ring = current_ring(ctx)?;
    if !ring.iter().any(|k| k.as_slice() == m.ring_key) {
        return Ok(Vec::new());
    }
    let ring: Vec<[u8; 32]> = ring
        .into_iter()
        .filter(|k| k.as_slice() != m.ring_key)
        .collect();
    Ok(model::set_ring(ctx.view, ctx.height, &ring, true)?)
}

/// Closes `p` if its tally decides it: passed (its action's writes added) or rejected.
fn settle<V: StateView>(
    ctx: &Ctx<'_, V>,
    params: &GovernanceParams,
    p: &mut Proposal,
    writes: &mut Writes,
) -> Result<(), ExecError> {
    if params.passes(p.yes, p.no) {
        writes.extend(carry_out(ctx, params, &p.action, p.id)?);
        p.status = ProposalStatus::Passed;
    } else if params.cannot_pass(p.yes, p.no) {
        p.status = ProposalStatus::Rejected;
    } else {
        return Ok(());
    }
    p.closed = ctx.height;
    writes.push((keys::gov_open(&p.action.subject()), Vec::new()));
    Ok(())
}

/// The open proposal `id`, or why it cannot be voted on or revoked now.
fn open<V: StateView>(ctx: &Ctx<'_, V>, id: u64) -> Result<Proposal, ExecError> {
    let p = model::proposal(ctx.view, id)?.ok_or(TxFailure::ProposalNotFound { proposal: id })?;
    if p.status != ProposalStatus::Open {
        return Err(TxFailure::ProposalNotOpen {
            proposal: id,
            status: p.status_at(ctx.height),
        }
        .into());
    }
    if ctx.height > p.deadline {
        return Err(TxFailure::ProposalExpired {
            proposal: id,
            deadline: p.deadline,
            height: ctx.height,
        }
        .into());
    }
    Ok(p)
}

impl PayloadHandler for Govern {
    fn execute<V: StateView>(
        &self,
        ctx: &Ctx<'_, V>,
        signer: &RegisterMember,
        tx_hash: Hash,
    ) -> Result<Writes, ExecError> {
        let params = model::governance_params(ctx.view)?;
        let weight = u64::from(params.weight(&signer.org));
        let governor = || -> Result<(), ExecError> {
            if weight == 0 {
                return Err(TxFailure::NotAGovernor {
                    signer: signer.org.clone(),
                }
                .into());
            }
            Ok(())
        };
        let mut writes = Writes::new();
        let mut p = match self {
            Govern::Propose { action, deadline } => {
                governor()?;
                if *deadline <= ctx.height
                    || *deadline > ctx.height.saturating_add(params.max_open_blocks)
                {
                    return Err(TxFailure::BadDeadline {
                        deadline: *deadline,
                        height: ctx.height,
                        max_open: params.max_open_blocks,
                    }
                    .into());
                }
                let subject = action.subject();
                if let Some(open) = model::open_proposal(ctx.view, &subject)? {
                    if let Some(o) = model::proposal(ctx.view, open)? {
                        if o.status == ProposalStatus::Open && ctx.height <= o.deadline {
                            return Err(TxFailure::ProposalAlreadyOpen { subject, open }.into());
                        }
                    }
                }
                let id = model::next_proposal_id(ctx.view)?;
                // What it would do must be possible now (and is checked again if it passes).
                carry_out(ctx, &params, action, id)?;
                writes.push((keys::gov_next(), (id + 1).to_be_bytes().to_vec()));
                writes.push((keys::gov_open(&subject), id.to_be_bytes().to_vec()));
                writes.push((keys::gov_vote(id, &signer.org), vec![1]));
                Proposal {
                    id,
                    proposer: signer.org.clone(),
                    tx_hash,
                    action: action.clone(),
                    deadline: *deadline,
                    opened: ctx.height,
                    yes: weight,
                    no: 0,
                    status: ProposalStatus::Open,
                    closed: 0,
                }
            }
            Govern::Vote { proposal, yes } => {
                governor()?;
                let mut p = open(ctx, *proposal)?;
                if model::vote(ctx.view, *proposal, &signer.org)?.is_some() {
                    return Err(TxFailure::AlreadyVoted {
                        proposal: *proposal,
                        signer: signer.org.clone(),
                    }
                    .into());
                }
                if *yes {
                    p.yes += weight;
                } else {
                    p.no += weight;
                }
                writes.push((keys::gov_vote(*proposal, &signer.org), vec![u8::from(*yes)]));
                p
            }
            Govern::Revoke { proposal } => {
                let mut p = open(ctx, *proposal)?;
                if p.proposer != signer.org {
                    return Err(TxFailure::NotTheProposer {
                        proposal: *proposal,
                        proposer: p.proposer,
                    }
                    .into());
                }
                p.status = ProposalStatus::Revoked;
                p.closed = ctx.height;
                writes.push((keys::gov_open(&p.action.subject()), Vec::new()));
                writes.push((keys::gov_proposal(p.id), p.encode()));
                return Ok(writes);
            }
        };
        settle(ctx, &params, &mut p, &mut writes)?;
        writes.push((keys::gov_proposal(p.id), p.encode()));
        Ok(writes)
    }
}
