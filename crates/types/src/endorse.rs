//! The `Endorse` payload: an anonymous endorsement by one of the member banks, proved by a
//! linkable ring signature. It travels in the anonymous envelope (see [`crate::tx`]).

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::hash::HashSuite;
use crate::ids::Topic;

/// Most bytes of an endorsement's ring signature: 32 + 128 per member, 256 members.
pub const MAX_RING_SIGNATURE: usize = 32 + 128 * 256;

/// An anonymous endorsement: "one of the member banks endorses `statement` on `topic`",
/// proved by a linkable ring signature over the member ring as of `ring_height`. The
/// signature's key image is the same for every endorsement by one member on one topic, so
/// the ledger admits one per member per topic without learning which member it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endorse {
    /// What is endorsed (an alert, a ballot, a proposal).
    pub topic: Topic,
    /// The hash of the statement endorsed (for a ballot: of the choice).
    pub statement: [u8; 32],
    /// The height whose member ring signs: at most the last committed height.
    pub ring_height: u64,
    /// The ring signature (`ledger_crypto::ring`): key image, then one branch per member.
    pub signature: Vec<u8>,
}

impl Endorse {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        self.topic.encode(e);
        e.fixed(&self.statement);
        e.u64(self.ring_height);
        e.bytes(&self.signature);
    }

    /// Reads the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        Ok(Endorse {
            topic: Topic::decode(d)?,
            statement: d.array("statement hash")?,
            ring_height: d.u64("ring height")?,
            signature: d.bytes("ring signature", MAX_RING_SIGNATURE)?,
        })
    }

    /// The message the ring signs (the chain, the topic and the ring are bound by the
    /// signature's own transcript): the statement hash, then the ring height.
    pub fn message(&self) -> [u8; 40] {
        Self::message_for(&self.statement, self.ring_height)
    }

    /// [`Endorse::message`] before the signature exists.
    pub fn message_for(statement: &[u8; 32], ring_height: u64) -> [u8; 40] {
        let mut m = [0u8; 40];
        m[..32].copy_from_slice(statement);
        m[32..].copy_from_slice(&ring_height.to_be_bytes());
        m
    }

    /// The statement hash of a statement given as text (what `ledger endorse` signs).
    pub fn statement_hash(text: &str) -> [u8; 32] {
        HashSuite::current()
            .digest("cl/endorse-statement/v1", &[text.as_bytes()])
            .0
    }

    /// The key image (the first 32 bytes of the signature), if the signature has one.
    pub fn key_image(&self) -> Option<[u8; 32]> {
        self.signature.get(..32)?.try_into().ok()
    }
}
