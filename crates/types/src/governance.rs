//! The `Govern` payload: consortium governance by proposal and vote. A governor proposes
//! an action with a deadline height, governors vote yes or no, the proposer may revoke
//! its proposal while it is open; a proposal passes when the votes reach the thresholds
//! of [`GovernanceParams`], and its action is executed in the block that passes it.

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::ids::OrgId;
use crate::member::Role;

/// Most bytes of a registration carried by an admission.
pub const MAX_REGISTRATION_BYTES: usize = 4096;

/// Most bytes of a proof of possession of a key.
pub const MAX_PROOF_BYTES: usize = 128;

/// What an organisation hands the consortium to be admitted (`ledger-node join-request`):
/// its registration, signed by the signing key it registers (the proof that it holds
/// it), and proofs of possession of the ring and audit keys it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The canonical bytes of its self-signed `RegisterMember` transaction (nonce 0).
    pub registration: Vec<u8>,
    /// The proof of possession of its ring key (empty: none registered).
    pub ring_proof: Vec<u8>,
    /// The proof of possession of its audit key (empty: none registered).
    pub audit_proof: Vec<u8>,
}

impl JoinRequest {
    const MAGIC: &'static [u8] = b"cl/join-request/v1";

    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.bytes(Self::MAGIC)
            .bytes(&self.registration)
            .bytes(&self.ring_proof)
            .bytes(&self.audit_proof);
        e.finish()
    }

    /// Reads [`JoinRequest::encode`].
    pub fn decode(b: &[u8]) -> Result<Self, CodecError> {
        let mut d = Decoder::new(b);
        if d.bytes("join request label", 64)? != Self::MAGIC {
            return Err(CodecError::NotCanonical {
                what: "JoinRequest",
                reason: "not a join request (its label is missing)".into(),
            });
        }
        let r = JoinRequest {
            registration: d.bytes("registration", MAX_REGISTRATION_BYTES)?,
            ring_proof: d.bytes("ring key proof", MAX_PROOF_BYTES)?,
            audit_proof: d.bytes("audit key proof", MAX_PROOF_BYTES)?,
        };
        d.finish("JoinRequest")?;
        Ok(r)
    }
}

/// Most bytes of a validator's consensus address.
pub const MAX_P2P_ADDRESS_BYTES: usize = 256;

/// Why `addr` cannot be a validator's consensus address, if it cannot: a libp2p
/// multiaddress (`/ip4/10.0.0.5/tcp/26600/p2p/12D3Koo...`) that names the node's peer id,
/// so a connection to it authenticates that node.
pub fn check_p2p_address(addr: &str) -> Result<(), String> {
    if addr.is_empty() || addr.len() > MAX_P2P_ADDRESS_BYTES {
        return Err(format!(
            "a consensus address has 1 to {MAX_P2P_ADDRESS_BYTES} bytes"
        ));
    }
    if !addr.starts_with('/') || !addr.is_ascii() || addr.chars().any(|c| c.is_whitespace()) {
        return Err(format!(
            "{addr:?} is not a multiaddress (like /ip4/10.0.0.5/tcp/26600/p2p/<peer id>)"
        ));
    }
    let parts: Vec<&str> = addr.split('/').collect();
    match parts.iter().position(|p| *p == "p2p") {
        Some(i) if i + 2 == parts.len() && !parts[i + 1].is_empty() => Ok(()),
        _ => Err(format!(
            "{addr:?} does not end in /p2p/<peer id>: the address must name the node's peer id (`ledger-node peer-address`)"
        )),
    }
}

/// Why `url` cannot be a validator's public API address, if it cannot: `http://` or
/// `https://`, a host and a port, nothing else.
pub fn check_api_address(url: &str) -> Result<(), String> {
    if url.is_empty() || url.len() > MAX_P2P_ADDRESS_BYTES {
        return Err(format!(
            "an API address has 1 to {MAX_P2P_ADDRESS_BYTES} bytes"
        ));
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?} is not an API address (like http://10.0.0.5:7100)"))?;
    let ok = !rest.is_empty()
        && rest.is_ascii()
        && !rest.contains(['/', '?', '#', '@'])
        && !rest.chars().any(char::is_whitespace)
        && rest
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{url:?} is not an API address (like http://10.0.0.5:7100: a scheme, a host and a port)"
        ))
    }
}

/// Most governors.
pub const MAX_GOVERNORS: usize = 256;

/// Who governs and what it takes to pass a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GovernanceParams {
    /// The governors and their voting weights (sorted by organisation, weights above 0).
    pub governors: Vec<(OrgId, u32)>,
    /// The share of the total weight that must vote yes, in percent (1 to 100).
    pub quorum_pct: u8,
    /// The share of the weight that voted that must have voted yes, in percent (51 to 100).
    pub approval_pct: u8,
    /// The longest a proposal may stay open, in blocks.
    pub max_open_blocks: u64,
}

impl GovernanceParams {
    /// The total weight of the governors.
    pub fn total_weight(&self) -> u64 {
        self.governors.iter().map(|(_, w)| u64::from(*w)).sum()
    }

    /// The weight of `org` (0: not a governor).
    pub fn weight(&self, org: &OrgId) -> u32 {
        self.governors
            .iter()
            .find(|(o, _)| o == org)
            .map_or(0, |(_, w)| *w)
    }

    /// Whether `yes` and `no` weights pass a proposal: the yes weight reaches the quorum
    /// share of the total weight and the approval share of the weight that voted.
    pub fn passes(&self, yes: u64, no: u64) -> bool {
        let total = self.total_weight();
        yes * 100 >= u64::from(self.quorum_pct) * total
            && yes * 100 >= u64::from(self.approval_pct) * (yes + no)
            && yes > 0
    }

    /// Whether a proposal with these votes can no longer pass, whatever the governors who
    /// have not voted do.
    pub fn cannot_pass(&self, yes: u64, no: u64) -> bool {
        let rest = self.total_weight().saturating_sub(yes + no);
        !self.passes(yes + rest, no)
    }

    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        e.count(self.governors.len());
        for (o, w) in &self.governors {
            o.encode(e);
            e.u32(*w);
        }
        e.u8(self.quorum_pct)
            .u8(self.approval_pct)
            .u64(self.max_open_blocks);
    }

    /// Reads the canonical encoding (governors sorted and distinct, weights above 0,
    /// thresholds in range).
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let n = d.count("governors", MAX_GOVERNORS, 5)?;
        let mut governors = Vec::with_capacity(n);
        for _ in 0..n {
            governors.push((OrgId::decode(d)?, d.u32("governor weight")?));
        }
        let p = GovernanceParams {
            governors,
            quorum_pct: d.u8("quorum percent")?,
            approval_pct: d.u8("approval percent")?,
            max_open_blocks: d.u64("longest open time")?,
        };
        p.check().map_err(|reason| CodecError::NotCanonical {
            what: "GovernanceParams",
            reason,
        })?;
        Ok(p)
    }

    /// Why these parameters cannot govern, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.governors.is_empty() {
            return Err("there must be at least one governor".into());
        }
        if !self.governors.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err("governors must be sorted and distinct".into());
        }
        if self.governors.iter().any(|(_, w)| *w == 0) {
            return Err("every governor's weight must be above 0".into());
        }
        if !(1..=100).contains(&self.quorum_pct) {
            return Err(format!("quorum {}% is not in 1..=100", self.quorum_pct));
        }
        if !(51..=100).contains(&self.approval_pct) {
            return Err(format!(
                "approval {}% is not in 51..=100",
                self.approval_pct
            ));
        }
        if self.max_open_blocks == 0 {
            return Err("a proposal must be able to stay open at least one block".into());
        }
        Ok(())
    }
}

/// Which of a member's keys a rotation replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyKind {
    /// Its transaction (and, for a validator, consensus) signing key.
    Signing,
    /// Its encryption (P-256 key-agreement) key: field keys are wrapped to it.
    Encryption,
    /// A regulator's audit key: committed amounts carry handles for it.
    Audit,
    /// Its ring key: anonymous endorsements.
    Ring,
}

impl KeyKind {
    /// Every kind, in tag order.
    pub const ALL: [KeyKind; 4] = [
        KeyKind::Signing,
        KeyKind::Encryption,
        KeyKind::Audit,
        KeyKind::Ring,
    ];

    /// The tag in the canonical encoding.
    pub fn tag(self) -> u8 {
        match self {
            KeyKind::Signing => 1,
            KeyKind::Encryption => 2,
            KeyKind::Audit => 3,
            KeyKind::Ring => 4,
        }
    }

    /// The kind of a tag.
    pub fn from_tag(tag: u8) -> Result<Self, CodecError> {
        KeyKind::ALL
            .into_iter()
            .find(|k| k.tag() == tag)
            .ok_or(CodecError::UnknownTag {
                what: "key kind",
                tag: tag.into(),
            })
    }

    /// The name used on the command line, in errors and in proofs' contexts.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Signing => "signing",
            KeyKind::Encryption => "encryption",
            KeyKind::Audit => "audit",
            KeyKind::Ring => "ring",
        }
    }

    /// Parses a kind's name.
    pub fn from_name(s: &str) -> Option<KeyKind> {
        KeyKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Most bytes of a rotated key.
pub const MAX_ROTATED_KEY_BYTES: usize = 256;

/// A member's new key of one kind, with the proof that the member holds it: for a signing
/// key, a signature by the new key over its possession statement
/// (`ledger_crypto::possession::signing_statement`); for ring and audit keys, a Schnorr
/// proof of knowledge bound to the chain, the organisation and the kind. An encryption key
/// lives in the HSM as a derive-only key, which can sign nothing: the rotation's own
/// signature (the member's signing key, or the consortium's vote) vouches for it, and a
/// key another member registered is refused. Sent by the member itself (the `RotateKey`
/// payload, signed with its current signing key) or, after a loss, by governance
/// ([`Action::RotateKey`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateKey {
    /// Which key.
    pub kind: KeyKind,
    /// The new key: for a signing key, its canonical encoding (scheme and bytes); for the
    /// others, the key's bytes.
    pub key: Vec<u8>,
    /// The proof of possession (empty for an encryption key).
    pub proof: Vec<u8>,
}

impl RotateKey {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        e.u8(self.kind.tag()).bytes(&self.key).bytes(&self.proof);
    }

    /// Reads the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        Ok(RotateKey {
            kind: KeyKind::from_tag(d.u8("key kind")?)?,
            key: d.bytes("new key", MAX_ROTATED_KEY_BYTES)?,
            proof: d.bytes("proof of possession", MAX_PROOF_BYTES)?,
        })
    }
}

/// What a member hands the consortium when governance must rotate its key (it lost the key
/// it would sign its own rotation with): its organisation and the new key with its proof
/// of possession, as `ledger-node rotate-key --request-only` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRequest {
    /// The member.
    pub org: OrgId,
    /// The new key and its proof.
    pub rotation: RotateKey,
}

impl RotationRequest {
    const MAGIC: &'static [u8] = b"cl/rotation-request/v1";

    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.bytes(Self::MAGIC);
        self.org.encode(&mut e);
        self.rotation.encode(&mut e);
        e.finish()
    }

    /// Reads [`RotationRequest::encode`].
    pub fn decode(b: &[u8]) -> Result<Self, CodecError> {
        let mut d = Decoder::new(b);
        if d.bytes("rotation request label", 64)? != Self::MAGIC {
            return Err(CodecError::NotCanonical {
                what: "RotationRequest",
                reason: "not a rotation request (its label is missing)".into(),
            });
        }
        let r = RotationRequest {
            org: OrgId::decode(&mut d)?,
            rotation: RotateKey::decode(&mut d)?,
        };
        d.finish("RotationRequest")?;
        Ok(r)
    }
}

/// What a proposal does if it passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Suspends a member: every validator refuses its transactions until it is
    /// reinstated. What others hold of its records stays readable to them.
    Suspend {
        /// The member.
        org: OrgId,
    },
    /// Lifts a member's suspension.
    Reinstate {
        /// The member.
        org: OrgId,
    },
    /// Gives a member exactly these roles.
    SetRoles {
        /// The member.
        org: OrgId,
        /// Its roles from then on (sorted, distinct, at least one).
        roles: Vec<Role>,
    },
    /// Replaces the governance parameters.
    SetGovernance(GovernanceParams),
    /// Adds a member to the validator set, from two heights after the block that passes it.
    AddValidator {
        /// The member.
        org: OrgId,
        /// Its node's consensus address (a libp2p multiaddress ending in `/p2p/<peer id>`):
        /// the other validators connect to it, and accept its connections, from the block
        /// that passes the proposal on.
        p2p: Option<String>,
        /// Its node's public API (`http://host:port`): followers and removed validators
        /// find the validators there, so the whole founding set can be replaced.
        api: Option<String>,
    },
    /// Removes a validator from the validator set, from two heights after the block that
    /// passes it.
    RemoveValidator {
        /// The validator.
        org: OrgId,
    },
    /// Admits a new member: its registration, signed by the signing key it registers (the
    /// proof that it holds that key), as `ledger-node join-request` writes it.
    Admit {
        /// The organisation joining.
        org: OrgId,
        /// The canonical bytes of its self-signed `RegisterMember` transaction (nonce 0).
        registration: Vec<u8>,
        /// The proof of possession of its ring key (empty when it registers none).
        ring_proof: Vec<u8>,
        /// The proof of possession of its audit key (empty when it registers none).
        audit_proof: Vec<u8>,
    },
    /// Removes a member for good: its transactions are refused by every validator, its
    /// ring key leaves the member ring, its keys and organisation id are never registered
    /// again. What others hold of its records stays readable to them. A validator or a
    /// governor is first removed from those places by their own actions.
    RemoveMember {
        /// The member.
        org: OrgId,
    },
    /// Replaces a member's key for it, after it lost the key it would sign its own
    /// rotation with (or for a suspended member).
    RotateKey {
        /// The member.
        org: OrgId,
        /// The new key and its proof of possession.
        rotation: RotateKey,
    },
}

impl Action {
    /// A readable name of the action's kind.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Suspend { .. } => "suspend",
            Action::Reinstate { .. } => "reinstate",
            Action::SetRoles { .. } => "set-roles",
            Action::SetGovernance(_) => "set-governance",
            Action::Admit { .. } => "admit",
            Action::AddValidator { .. } => "add-validator",
            Action::RemoveValidator { .. } => "remove-validator",
            Action::RemoveMember { .. } => "remove-member",
            Action::RotateKey { .. } => "rotate-key",
        }
    }

    /// What the action is about: at most one proposal per action kind and subject is open.
    pub fn subject(&self) -> String {
        match self {
            Action::Suspend { org }
            | Action::Reinstate { org }
            | Action::SetRoles { org, .. }
            | Action::Admit { org, .. }
            | Action::RemoveMember { org } => format!("{}/{org}", self.name()),
            Action::RotateKey { org, rotation } => {
                format!("{}/{org}/{}", self.name(), rotation.kind.name())
            }
            // One open change of a validator's membership at a time.
            Action::AddValidator { org, .. } | Action::RemoveValidator { org } => {
                format!("validator/{org}")
            }
            Action::SetGovernance(_) => self.name().to_string(),
        }
    }

    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        match self {
            Action::Suspend { org } => {
                e.u8(1);
                org.encode(e);
            }
            Action::Reinstate { org } => {
                e.u8(2);
                org.encode(e);
            }
            Action::SetRoles { org, roles } => {
                e.u8(3);
                org.encode(e);
                e.count(roles.len());
                for r in roles {
                    e.u8(r.tag());
                }
            }
            Action::SetGovernance(p) => {
                e.u8(4);
                p.encode(e);
            }
            Action::Admit {
                org,
                registration,
                ring_proof,
                audit_proof,
            } => {
                let proofs = !ring_proof.is_empty() || !audit_proof.is_empty();
                e.u8(if proofs { 9 } else { 5 });
                org.encode(e);
                e.bytes(registration);
                if proofs {
                    e.bytes(ring_proof).bytes(audit_proof);
                }
            }
            Action::AddValidator {
                org,
                p2p: None,
                api: None,
            } => {
                e.u8(6);
                org.encode(e);
            }
            Action::AddValidator {
                org,
                p2p: Some(addr),
                api: None,
            } => {
                e.u8(8);
                org.encode(e);
                e.str(addr);
            }
            Action::AddValidator {
                org,
                p2p,
                api: Some(api),
            } => {
                e.u8(12);
                org.encode(e);
                e.str(p2p.as_deref().unwrap_or_default());
                e.str(api);
            }
            Action::RemoveValidator { org } => {
                e.u8(7);
                org.encode(e);
            }
            Action::RemoveMember { org } => {
                e.u8(10);
                org.encode(e);
            }
            Action::RotateKey { org, rotation } => {
                e.u8(11);
                org.encode(e);
                rotation.encode(e);
            }
        }
    }

    /// Reads the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        Ok(match d.u8("governance action")? {
            1 => Action::Suspend {
                org: OrgId::decode(d)?,
            },
            2 => Action::Reinstate {
                org: OrgId::decode(d)?,
            },
            3 => {
                let org = OrgId::decode(d)?;
                let n = d.count("roles", Role::ALL.len(), 1)?;
                let mut roles = Vec::with_capacity(n);
                for _ in 0..n {
                    roles.push(Role::from_tag(d.u8("role")?)?);
                }
                if roles.is_empty() || !roles.windows(2).all(|w| w[0].tag() < w[1].tag()) {
                    return Err(CodecError::NotCanonical {
                        what: "SetRoles",
                        reason: "roles must be at least one, sorted and distinct".into(),
                    });
                }
                Action::SetRoles { org, roles }
            }
            4 => Action::SetGovernance(GovernanceParams::decode(d)?),
            5 => Action::Admit {
                org: OrgId::decode(d)?,
                registration: d.bytes("registration", MAX_REGISTRATION_BYTES)?,
                ring_proof: Vec::new(),
                audit_proof: Vec::new(),
            },
            9 => {
                let a = Action::Admit {
                    org: OrgId::decode(d)?,
                    registration: d.bytes("registration", MAX_REGISTRATION_BYTES)?,
                    ring_proof: d.bytes("ring key proof", MAX_PROOF_BYTES)?,
                    audit_proof: d.bytes("audit key proof", MAX_PROOF_BYTES)?,
                };
                if let Action::Admit {
                    ring_proof,
                    audit_proof,
                    ..
                } = &a
                {
                    if ring_proof.is_empty() && audit_proof.is_empty() {
                        return Err(CodecError::NotCanonical {
                            what: "Admit",
                            reason: "an admission without proofs has its own tag".into(),
                        });
                    }
                }
                a
            }
            6 => Action::AddValidator {
                org: OrgId::decode(d)?,
                p2p: None,
                api: None,
            },
            8 => Action::AddValidator {
                org: OrgId::decode(d)?,
                p2p: Some(d.string("consensus address", MAX_P2P_ADDRESS_BYTES)?),
                api: None,
            },
            12 => {
                let org = OrgId::decode(d)?;
                let p2p = d.string("consensus address", MAX_P2P_ADDRESS_BYTES)?;
                Action::AddValidator {
                    org,
                    p2p: (!p2p.is_empty()).then_some(p2p),
                    api: Some(d.string("API address", MAX_P2P_ADDRESS_BYTES)?),
                }
            }
            7 => Action::RemoveValidator {
                org: OrgId::decode(d)?,
            },
            10 => Action::RemoveMember {
                org: OrgId::decode(d)?,
            },
            11 => Action::RotateKey {
                org: OrgId::decode(d)?,
                rotation: RotateKey::decode(d)?,
            },
            t => {
                return Err(CodecError::UnknownTag {
                    what: "governance action",
                    tag: t.into(),
                })
            }
        })
    }
}

/// A governance transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Govern {
    /// Opens a proposal; the proposer's yes vote is cast with it.
    Propose {
        /// What passing it does.
        action: Action,
        /// The last height at which it may pass.
        deadline: u64,
    },
    /// A governor's vote on an open proposal.
    Vote {
        /// The proposal.
        proposal: u64,
        /// Yes or no.
        yes: bool,
    },
    /// The proposer withdraws its open proposal.
    Revoke {
        /// The proposal.
        proposal: u64,
    },
}

impl Govern {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        match self {
            Govern::Propose { action, deadline } => {
                e.u8(1);
                action.encode(e);
                e.u64(*deadline);
            }
            Govern::Vote { proposal, yes } => {
                e.u8(2).u64(*proposal).u8(u8::from(*yes));
            }
            Govern::Revoke { proposal } => {
                e.u8(3).u64(*proposal);
            }
        }
    }

    /// Reads the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        Ok(match d.u8("governance transaction")? {
            1 => Govern::Propose {
                action: Action::decode(d)?,
                deadline: d.u64("deadline")?,
            },
            2 => Govern::Vote {
                proposal: d.u64("proposal")?,
                yes: match d.u8("vote")? {
                    0 => false,
                    1 => true,
                    t => {
                        return Err(CodecError::UnknownTag {
                            what: "vote",
                            tag: t.into(),
                        })
                    }
                },
            },
            3 => Govern::Revoke {
                proposal: d.u64("proposal")?,
            },
            t => {
                return Err(CodecError::UnknownTag {
                    what: "governance transaction",
                    tag: t.into(),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn params(weights: &[(&str, u32)], quorum: u8, approval: u8) -> GovernanceParams {
        GovernanceParams {
            governors: weights
                .iter()
                .map(|(o, w)| (OrgId::new(*o).unwrap(), *w))
                .collect(),
            quorum_pct: quorum,
            approval_pct: approval,
            max_open_blocks: 100,
        }
    }

    #[test]
    fn rotation_requests_round_trip_and_unknown_key_kinds_are_refused() {
        let r = RotationRequest {
            org: OrgId::new("bank-b").unwrap(),
            rotation: RotateKey {
                kind: KeyKind::Signing,
                key: vec![1, 2, 3],
                proof: vec![4; 64],
            },
        };
        assert_eq!(RotationRequest::decode(&r.encode()).unwrap(), r);
        assert!(RotationRequest::decode(b"junk").is_err());
        for k in KeyKind::ALL {
            assert_eq!(KeyKind::from_tag(k.tag()).unwrap(), k);
            assert_eq!(KeyKind::from_name(k.name()), Some(k));
        }
        assert!(KeyKind::from_tag(9).is_err());
    }

    #[test]
    fn api_addresses_name_a_scheme_a_host_and_a_port() {
        for ok in ["http://127.0.0.1:7100", "https://val-1.trade-net:443"] {
            check_api_address(ok).unwrap();
        }
        for bad in [
            "",
            "127.0.0.1:7100",
            "http://",
            "http://host",
            "http://host:port",
            "http://host:7100/path",
            "http://user@host:7100",
            "ftp://host:21",
        ] {
            assert!(check_api_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn thresholds_count_weights() {
        // Four governors of weight 1, two thirds needed.
        let p = params(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)], 67, 67);
        assert!(!p.passes(2, 0), "2 of 4 is below the quorum");
        assert!(p.passes(3, 0));
        assert!(p.passes(3, 1), "3 yes of 4 votes is 75%");
        assert!(!p.cannot_pass(2, 1), "the last one could still pass it");
        assert!(p.cannot_pass(2, 2));
        // A heavy governor.
        let p = params(&[("a", 3), ("b", 1), ("c", 1)], 51, 51);
        assert!(p.passes(3, 0));
        assert!(!p.passes(2, 0));
    }

    #[test]
    fn encodings_round_trip_and_bad_params_are_refused() {
        let p = params(&[("a", 1), ("b", 2)], 50, 67);
        for g in [
            Govern::Propose {
                action: Action::SetGovernance(p.clone()),
                deadline: 9,
            },
            Govern::Propose {
                action: Action::SetRoles {
                    org: OrgId::new("x").unwrap(),
                    roles: vec![Role::Validator, Role::Member],
                },
                deadline: 9,
            },
            Govern::Vote {
                proposal: 3,
                yes: false,
            },
            Govern::Revoke { proposal: 3 },
            Govern::Propose {
                action: Action::AddValidator {
                    org: OrgId::new("x").unwrap(),
                    p2p: Some("/ip4/1.2.3.4/tcp/5/p2p/abc".into()),
                    api: Some("http://1.2.3.4:7100".into()),
                },
                deadline: 4,
            },
            Govern::Propose {
                action: Action::AddValidator {
                    org: OrgId::new("x").unwrap(),
                    p2p: None,
                    api: Some("http://1.2.3.4:7100".into()),
                },
                deadline: 4,
            },
            Govern::Propose {
                action: Action::RemoveMember {
                    org: OrgId::new("x").unwrap(),
                },
                deadline: 4,
            },
            Govern::Propose {
                action: Action::RotateKey {
                    org: OrgId::new("x").unwrap(),
                    rotation: RotateKey {
                        kind: KeyKind::Ring,
                        key: vec![7; 32],
                        proof: vec![8; 64],
                    },
                },
                deadline: 4,
            },
        ] {
            let mut e = Encoder::new();
            g.encode(&mut e);
            let bytes = e.finish();
            let mut d = Decoder::new(&bytes);
            assert_eq!(Govern::decode(&mut d).unwrap(), g);
            d.finish("govern").unwrap();
        }
        for bad in [
            params(&[("b", 1), ("a", 1)], 50, 67),
            params(&[("a", 0)], 50, 67),
            params(&[("a", 1)], 0, 67),
            params(&[("a", 1)], 50, 50),
            params(&[], 50, 67),
        ] {
            let mut e = Encoder::new();
            bad.encode(&mut e);
            let bytes = e.finish();
            assert!(GovernanceParams::decode(&mut Decoder::new(&bytes)).is_err());
        }
    }
}
