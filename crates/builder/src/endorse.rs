//! Anonymous endorsements: a statement about a topic signed with the organisation's ring
//! key over the member ring in force, so the ledger learns that some member endorsed, once
//! per member, but not which. The ring secret is unsealed for this one signature.

use ledger_state::{member_ring, StateView};
use ledger_types::{Endorse, Payload, Topic, Transaction};

use crate::resources::{SealedSecrets, SecretKind};
use crate::{BuildError, Builder};

/// What is endorsed: a statement's text (the ledger holds its hash) or a statement hash
/// computed elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// The text.
    Text(String),
    /// Its 32-byte hash.
    Hash([u8; 32]),
}

impl Statement {
    /// The statement given as text or as a hash (a hash, when not empty, wins).
    pub fn from_parts(text: &str, hash: &[u8]) -> Result<Self, BuildError> {
        if hash.is_empty() {
            if text.is_empty() {
                return Err(BuildError::NoStatement);
            }
            return Ok(Statement::Text(text.to_string()));
        }
        hash.try_into()
            .map(Statement::Hash)
            .map_err(|_| BuildError::StatementHashLength { len: hash.len() })
    }

    /// The hash the ledger holds.
    pub fn hash(&self) -> [u8; 32] {
        match self {
            Statement::Text(t) => Endorse::statement_hash(t),
            Statement::Hash(h) => *h,
        }
    }
}

/// An endorsement to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndorseInput {
    /// The topic.
    pub topic: Topic,
    /// The statement.
    pub statement: Statement,
}

/// A signed anonymous endorsement, ready to submit through any node.
#[derive(Debug, Clone)]
pub struct SignedEndorsement {
    /// The transaction (signed by the ring, not by the organisation).
    pub tx: Transaction,
    /// The statement hash.
    pub statement_hash: [u8; 32],
    /// The key image: the same for every endorsement of the topic by this member.
    pub key_image: Option<[u8; 32]>,
    /// The height the ring was fixed at.
    pub ring_height: u64,
    /// How many members the ring holds.
    pub ring_size: u32,
}

impl<V: StateView> Builder<'_, V> {
    /// Signs an anonymous endorsement over the member ring in force at `height` (the last
    /// committed height), named by the height it was fixed at so that a node a block behind
    /// verifies it too. `secrets` unseals the ring secret for this signature only.
    pub fn endorse(
        &self,
        input: &EndorseInput,
        height: u64,
        secrets: &dyn SealedSecrets,
    ) -> Result<SignedEndorsement, BuildError> {
        let statement = input.statement.hash();
        let ring = member_ring(self.view, height)?.ok_or(BuildError::NoMemberRing)?;
        let ring_height = ring.since;
        let ring_size = u32::try_from(ring.keys.len()).unwrap_or(u32::MAX);
        self.check_registered(SecretKind::Ring)?;
        let secret = secrets.ring_secret()?;
        let tx = ledger_state::sign_endorsement(
            self.chain,
            &ring.keys,
            ring_height,
            &input.topic,
            statement,
            &secret,
        )
        .map_err(BuildError::Endorsement)?;
        drop(secret);
        let key_image = match &tx.body().payload {
            Payload::Endorse(e) => e.key_image(),
            _ => None,
        };
        Ok(SignedEndorsement {
            tx,
            statement_hash: statement,
            key_image,
            ring_height,
            ring_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{org, Chain, Secrets};
    use ledger_state::TxOutcome;

    #[test]
    fn a_member_endorses_anonymously_over_the_ring_in_force() {
        let mut c = Chain::new();
        let input = EndorseInput {
            topic: Topic::new("ballot-1").unwrap(),
            statement: Statement::from_parts("yes", &[]).unwrap(),
        };
        let secrets = Secrets {
            audit: None,
            ring: Some(c.ring("bank-b")),
        };
        let e = c
            .builder("bank-b")
            .endorse(&input, c.height(), &secrets)
            .unwrap();
        assert_eq!(e.ring_size, 3);
        assert_eq!(e.statement_hash, Endorse::statement_hash("yes"));
        assert!(e.key_image.is_some());
        assert_eq!(c.commit_tx(e.tx), TxOutcome::Applied);
    }

    #[test]
    fn a_regulator_holds_no_ring_key_and_a_statement_is_needed() {
        let c = Chain::new();
        let input = EndorseInput {
            topic: Topic::new("ballot-1").unwrap(),
            statement: Statement::Hash([7; 32]),
        };
        let none = Secrets {
            audit: None,
            ring: None,
        };
        let e = c
            .builder("reg-eu")
            .endorse(&input, c.height(), &none)
            .unwrap_err();
        assert_eq!(
            e,
            BuildError::NoSecretRegistered {
                org: org("reg-eu"),
                what: "ring key",
                role: "member",
            }
        );
        assert_eq!(Statement::from_parts("", &[]), Err(BuildError::NoStatement));
        assert_eq!(
            Statement::from_parts("ignored", &[1; 31]),
            Err(BuildError::StatementHashLength { len: 31 })
        );
        assert_eq!(
            Statement::from_parts("ignored", &[1; 32]),
            Ok(Statement::Hash([1; 32]))
        );
    }
}
