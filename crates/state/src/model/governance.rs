//! Governance state: the parameters, the proposals with their tallies, the votes, the
//! open proposal per action and subject, and the suspended members.

use ledger_types::codec::{Decoder, Encoder};
use ledger_types::{Action, CodecError, GovernanceParams, KeyKind, OrgId};

use super::corrupt;
use crate::{keys, StateError, StateView};

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalStatus {
    /// Votes may still be cast (until its deadline).
    Open,
    /// It passed; its action was carried out in the block that passed it.
    Passed,
    /// Enough governors voted no that it can no longer pass.
    Rejected,
    /// Its proposer withdrew it.
    Revoked,
}

impl ProposalStatus {
    fn tag(self) -> u8 {
        match self {
            ProposalStatus::Open => 1,
            ProposalStatus::Passed => 2,
            ProposalStatus::Rejected => 3,
            ProposalStatus::Revoked => 4,
        }
    }

    fn from_tag(t: u8) -> Result<Self, CodecError> {
        Ok(match t {
            1 => ProposalStatus::Open,
            2 => ProposalStatus::Passed,
            3 => ProposalStatus::Rejected,
            4 => ProposalStatus::Revoked,
            t => {
                return Err(CodecError::UnknownTag {
                    what: "proposal status",
                    tag: t.into(),
                })
            }
        })
    }
}

/// A proposal and its tally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Its number (from 1).
    pub id: u64,
    /// The governor that made it.
    pub proposer: OrgId,
    /// The transaction that made it.
    pub tx_hash: ledger_types::Hash,
    /// What passing it does.
    pub action: Action,
    /// The last height at which it may pass.
    pub deadline: u64,
    /// The height it was made at.
    pub opened: u64,
    /// The weight that voted yes.
    pub yes: u64,
    /// The weight that voted no.
    pub no: u64,
    /// Where it stands (an open proposal past its deadline has expired: see
    /// [`Proposal::status_at`]).
    pub status: ProposalStatus,
    /// The height it passed, was rejected or revoked at (0 while open).
    pub closed: u64,
}

impl Proposal {
    /// Its status as of `height`: an open proposal past its deadline has expired.
    pub fn status_at(&self, height: u64) -> &'static str {
        match self.status {
            ProposalStatus::Open if height > self.deadline => "expired",
            ProposalStatus::Open => "open",
            ProposalStatus::Passed => "passed",
            ProposalStatus::Rejected => "rejected",
            ProposalStatus::Revoked => "revoked",
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u64(self.id);
        self.proposer.encode(&mut e);
        e.fixed(&self.tx_hash.0);
        self.action.encode(&mut e);
        e.u64(self.deadline)
            .u64(self.opened)
            .u64(self.yes)
            .u64(self.no)
            .u8(self.status.tag())
            .u64(self.closed);
        e.finish()
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        Ok(Proposal {
            id: d.u64("proposal id")?,
            proposer: OrgId::decode(d)?,
            tx_hash: ledger_types::Hash(d.array("proposal tx")?),
            action: Action::decode(d)?,
            deadline: d.u64("deadline")?,
            opened: d.u64("opened")?,
            yes: d.u64("yes weight")?,
            no: d.u64("no weight")?,
            status: ProposalStatus::from_tag(d.u8("status")?)?,
            closed: d.u64("closed")?,
        })
    }
}

/// The longest a proposal may stay open under the default parameters, in blocks.
pub const DEFAULT_MAX_OPEN_BLOCKS: u64 = 100_000;
/// The default quorum and approval: two thirds.
pub const DEFAULT_THRESHOLD_PCT: u8 = 67;

/// The governance parameters in force: those a proposal set, or until then the
/// validators, weight 1 each, two thirds of the weight voting yes to pass.
pub fn governance_params(view: &impl StateView) -> Result<GovernanceParams, StateError> {
    let key = keys::gov_params();
    if let Some(b) = view.get(&key)? {
        let mut d = Decoder::new(&b);
        let p = GovernanceParams::decode(&mut d).map_err(|e| corrupt(&key, e))?;
        d.finish("governance parameters")
            .map_err(|e| corrupt(&key, e))?;
        return Ok(p);
    }
    let mut governors: Vec<(OrgId, u32)> = super::validators(view)?
        .into_iter()
        .map(|o| (o, 1))
        .collect();
    governors.sort();
    Ok(GovernanceParams {
        governors,
        quorum_pct: DEFAULT_THRESHOLD_PCT,
        approval_pct: DEFAULT_THRESHOLD_PCT,
        max_open_blocks: DEFAULT_MAX_OPEN_BLOCKS,
    })
}

fn u64_at(view: &impl StateView, key: &[u8]) -> Result<Option<u64>, StateError> {
    match view.get(key)? {
        None => Ok(None),
        Some(b) if b.is_empty() => Ok(None),
        Some(b) => {
            let arr: [u8; 8] = b.as_slice().try_into().map_err(|_| {
                corrupt(
                    key,
                    CodecError::NotCanonical {
                        what: "u64",
                        reason: format!("{} bytes", b.len()),
                    },
                )
            })?;
            Ok(Some(u64::from_be_bytes(arr)))
        }
    }
}

/// The number the next proposal gets.
pub fn next_proposal_id(view: &impl StateView) -> Result<u64, StateError> {
    Ok(u64_at(view, &keys::gov_next())?.unwrap_or(1))
}

/// Proposal `id`, if made.
pub fn proposal(view: &impl StateView, id: u64) -> Result<Option<Proposal>, StateError> {
    let key = keys::gov_proposal(id);
    let Some(b) = view.get(&key)? else {
        return Ok(None);
    };
    let mut d = Decoder::new(&b);
    let p = Proposal::decode(&mut d).map_err(|e| corrupt(&key, e))?;
    d.finish("proposal").map_err(|e| corrupt(&key, e))?;
    Ok(Some(p))
}

/// `org`'s vote on proposal `id`, if it voted.
pub fn vote(view: &impl StateView, id: u64, org: &OrgId) -> Result<Option<bool>, StateError> {
    Ok(view
        .get(&keys::gov_vote(id, org))?
        .map(|b| b.first() == Some(&1)))
}

/// The open proposal on an action's subject, if any (it may have expired).
pub fn open_proposal(view: &impl StateView, subject: &str) -> Result<Option<u64>, StateError> {
    u64_at(view, &keys::gov_open(subject))
}

/// A member's standing: in good standing, suspended or removed, each with the proposal
/// and height that decided it. One state entry (`suspended/{org}`) holds it, so the check
/// every signed transaction goes through is one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Neither suspended nor removed.
    Good,
    /// Suspended by this proposal at this height.
    Suspended(u64, u64),
    /// Removed for good by this proposal at this height.
    Removed(u64, u64),
}

/// The value of `suspended/{org}` for `standing`.
pub(crate) fn encode_standing(standing: Standing) -> Vec<u8> {
    let pair = |p: u64, h: u64| [p.to_be_bytes(), h.to_be_bytes()].concat();
    match standing {
        Standing::Good => Vec::new(),
        Standing::Suspended(p, h) => pair(p, h),
        Standing::Removed(p, h) => [pair(p, h), vec![1]].concat(),
    }
}

/// `org`'s standing.
pub fn standing(view: &impl StateView, org: &OrgId) -> Result<Standing, StateError> {
    let key = keys::suspended(org);
    let Some(b) = view.get(&key)? else {
        return Ok(Standing::Good);
    };
    let n = |s: &[u8]| u64::from_be_bytes(s.try_into().unwrap_or([0; 8]));
    match b.len() {
        0 => Ok(Standing::Good),
        16 => Ok(Standing::Suspended(n(&b[..8]), n(&b[8..16]))),
        17 if b[16] == 1 => Ok(Standing::Removed(n(&b[..8]), n(&b[8..16]))),
        len => Err(corrupt(
            &key,
            CodecError::NotCanonical {
                what: "standing",
                reason: format!("{len} bytes"),
            },
        )),
    }
}

/// The proposal and height that suspended `org`, if it is suspended (and not removed).
pub fn suspension(view: &impl StateView, org: &OrgId) -> Result<Option<(u64, u64)>, StateError> {
    Ok(match standing(view, org)? {
        Standing::Suspended(p, h) => Some((p, h)),
        _ => None,
    })
}

/// The proposal and height that removed `org`, if it was removed.
pub fn removal(view: &impl StateView, org: &OrgId) -> Result<Option<(u64, u64)>, StateError> {
    Ok(match standing(view, org)? {
        Standing::Removed(p, h) => Some((p, h)),
        _ => None,
    })
}

/// One rotation of a member's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    /// The height of the block that rotated it (the new key is in force from there).
    pub height: u64,
    /// Which key.
    pub kind: KeyKind,
    /// The key it replaced.
    pub old: Vec<u8>,
    /// The new key.
    pub new: Vec<u8>,
}

/// `org`'s key rotations, oldest first.
pub fn key_history(view: &impl StateView, org: &OrgId) -> Result<Vec<KeyChange>, StateError> {
    let key = keys::key_history(org);
    let Some(b) = view.get(&key)? else {
        return Ok(Vec::new());
    };
    let mut d = Decoder::new(&b);
    (|| {
        let mut out = Vec::new();
        while d.remaining() > 0 {
            out.push(KeyChange {
                height: d.u64("height")?,
                kind: KeyKind::from_tag(d.u8("key kind")?)?,
                old: d.bytes("old key", ledger_types::governance::MAX_ROTATED_KEY_BYTES)?,
                new: d.bytes("new key", ledger_types::governance::MAX_ROTATED_KEY_BYTES)?,
            });
        }
        Ok::<_, CodecError>(out)
    })()
    .map_err(|e| corrupt(&key, e))
}

/// The writes that add `change` to `org`'s key history.
pub(crate) fn append_key_change(
    view: &impl StateView,
    org: &OrgId,
    change: &KeyChange,
) -> Result<(Vec<u8>, Vec<u8>), StateError> {
    let key = keys::key_history(org);
    let mut b = view.get(&key)?.unwrap_or_default();
    let mut e = Encoder::new();
    e.u64(change.height)
        .u8(change.kind.tag())
        .bytes(&change.old)
        .bytes(&change.new);
    b.extend(e.finish());
    Ok((key, b))
}

/// The key of `kind` that `org` had at `height`: its current key `current` unless a later
/// rotation replaced it (then the key that rotation replaced). A regulator reads an amount
/// committed at `height` with the audit key in force then.
pub fn key_at(
    view: &impl StateView,
    org: &OrgId,
    kind: KeyKind,
    current: &[u8],
    height: u64,
) -> Result<Vec<u8>, StateError> {
    Ok(key_in(&key_history(view, org)?, kind, current, height))
}

/// [`key_at`] over a key history already read (`history`, oldest first).
pub fn key_in(history: &[KeyChange], kind: KeyKind, current: &[u8], height: u64) -> Vec<u8> {
    history
        .iter()
        .find(|c| c.kind == kind && c.height > height)
        .map_or_else(|| current.to_vec(), |c| c.old.clone())
}
