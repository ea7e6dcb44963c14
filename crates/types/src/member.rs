//! The `RegisterMember` payload and the roles it grants: an organisation joins the member
//! directory with its signing key, its encryption key and, depending on its roles, an
//! audit key (regulators) and a ring key (members that endorse anonymously).

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::ids::OrgId;
use crate::keys::PublicKey;

/// Most bytes of an encryption-key placeholder.
pub const MAX_ENCRYPTION_KEY_BYTES: usize = 1024;

/// What an organisation may do on the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Proposes and votes on blocks.
    Validator,
    /// A bank: puts and reads records, grants access, requests financing, endorses
    /// anonymously in the member ring.
    Member,
    /// A supervisor with an audit key.
    Regulator,
    /// A consortium operator (governance).
    Operator,
    /// A buyer or seller: writes its own trade documents (purchase orders, invoices) with
    /// its own signing key, through its bank's node.
    Corporate,
    /// A carrier or logistics firm: writes delivery notes.
    Carrier,
}

impl Role {
    /// Every role, in tag order.
    pub const ALL: [Role; 6] = [
        Role::Validator,
        Role::Member,
        Role::Regulator,
        Role::Operator,
        Role::Corporate,
        Role::Carrier,
    ];

    /// The tag in the canonical encoding.
    pub fn tag(self) -> u8 {
        match self {
            Role::Validator => 1,
            Role::Member => 2,
            Role::Regulator => 3,
            Role::Operator => 4,
            Role::Corporate => 5,
            Role::Carrier => 6,
        }
    }

    /// The role of a tag.
    pub fn from_tag(tag: u8) -> Result<Self, CodecError> {
        Role::ALL
            .into_iter()
            .find(|r| r.tag() == tag)
            .ok_or(CodecError::UnknownTag {
                what: "role",
                tag: tag.into(),
            })
    }

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::Validator => "validator",
            Role::Member => "member",
            Role::Regulator => "regulator",
            Role::Operator => "operator",
            Role::Corporate => "corporate",
            Role::Carrier => "carrier",
        }
    }

    /// Parses a role name.
    pub fn from_name(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// Adds an organisation to the member directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterMember {
    /// The organisation.
    pub org: OrgId,
    /// Its transaction and consensus signing key.
    pub signing_key: PublicKey,
    /// Its encryption public key (opaque until field encryption defines it; may be empty).
    pub encryption_key: Vec<u8>,
    /// Its roles: sorted, no duplicates, at least one.
    pub roles: Vec<Role>,
    /// Its audit key (twisted ElGamal, a compressed Ristretto point), for regulators that
    /// audit committed amounts; empty otherwise.
    pub audit_key: Vec<u8>,
    /// Its ring public key (a compressed Ristretto point) for anonymous endorsements
    /// (linkable ring signatures); empty if it takes no part in them.
    pub ring_key: Vec<u8>,
}

impl RegisterMember {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        self.org.encode(e);
        self.signing_key.encode(e);
        e.bytes(&self.encryption_key);
        e.count(self.roles.len());
        for r in &self.roles {
            e.u8(r.tag());
        }
        e.bytes(&self.audit_key);
        e.bytes(&self.ring_key);
    }

    /// Reads and checks the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let org = OrgId::decode(d)?;
        let signing_key = PublicKey::decode(d)?;
        let encryption_key = d.bytes("encryption key", MAX_ENCRYPTION_KEY_BYTES)?;
        let n = d.count("roles", Role::ALL.len(), 1)?;
        let mut roles = Vec::with_capacity(n);
        for _ in 0..n {
            roles.push(Role::from_tag(d.u8("role")?)?);
        }
        let audit_key = d.bytes("audit key", 32)?;
        let ring_key = d.bytes("ring key", 32)?;
        let m = RegisterMember {
            org,
            signing_key,
            encryption_key,
            roles,
            audit_key,
            ring_key,
        };
        m.check()?;
        Ok(m)
    }

    /// Checks the rules a decoder enforces: roles sorted, unique, not empty.
    pub fn check(&self) -> Result<(), CodecError> {
        if self.roles.is_empty() {
            return Err(CodecError::NotCanonical {
                what: "RegisterMember",
                reason: "a member needs at least one role".into(),
            });
        }
        if !self.roles.windows(2).all(|w| w[0] < w[1]) {
            return Err(CodecError::NotCanonical {
                what: "RegisterMember",
                reason: "roles must be sorted and unique".into(),
            });
        }
        if !(self.ring_key.is_empty() || self.ring_key.len() == 32) {
            return Err(CodecError::NotCanonical {
                what: "RegisterMember",
                reason: format!(
                    "a ring key is 32 bytes (or absent), got {}",
                    self.ring_key.len()
                ),
            });
        }
        if !(self.audit_key.is_empty() || self.audit_key.len() == 32) {
            return Err(CodecError::NotCanonical {
                what: "RegisterMember",
                reason: format!(
                    "an audit key is 32 bytes (or absent), got {}",
                    self.audit_key.len()
                ),
            });
        }
        Ok(())
    }

    /// True if the member has `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}
