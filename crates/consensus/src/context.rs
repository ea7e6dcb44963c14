//! The ledger's types as Malachite sees them.
//!
//! - A height is a block height (genesis is 0; consensus starts at 1).
//! - A validator's address is its organisation id; its public key is its registered
//!   signing key (Ed25519 or ECDSA P-256, whichever its HSM holds).
//! - The value agreed on is a block hash ([`BlockId`]). The block itself travels as
//!   streamed proposal parts (header, transaction batches, end) and every validator
//!   re-executes it before voting for its hash.
//! - Votes are signed over [`ledger_types::block::vote_digest`], which depends on the
//!   chain, kind, height, round, block hash (or nil) and voter only: a commit certificate is
//!   a list of (validator, precommit signature) and becomes the block's `Commit`.

use std::fmt;

use ledger_types::block::VoteKind;
use ledger_types::{ChainId, Hash, OrgId, PublicKey, Signature};
use malachitebft_core_types::{
    Context, NilOrVal, Round, SignedExtension, SigningScheme, ValueId, VoteType,
};

/// A block height.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl malachitebft_core_types::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: its organisation id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub OrgId);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl malachitebft_core_types::Address for Address {}

/// The value consensus decides on: the hash of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId(pub Hash);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl malachitebft_core_types::Value for BlockId {
    type Id = BlockId;

    fn id(&self) -> BlockId {
        *self
    }
}

/// A signature as consensus carries it (ordered bytes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsensusSignature(pub Vec<u8>);

impl From<Signature> for ConsensusSignature {
    fn from(s: Signature) -> Self {
        ConsensusSignature(s.0)
    }
}

impl From<&ConsensusSignature> for Signature {
    fn from(s: &ConsensusSignature) -> Self {
        Signature(s.0.clone())
    }
}

/// The signing scheme: the ledger's own keys (Ed25519 or ECDSA P-256, scheme-tagged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerScheme;

/// Why a key or signature does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl SigningScheme for LedgerScheme {
    type DecodingError = DecodeError;
    type Signature = ConsensusSignature;
    type PublicKey = PublicKey;
    /// Private keys never reach the engine: they stay in the key provider (the HSM).
    type PrivateKey = ();

    fn decode_signature(bytes: &[u8]) -> Result<ConsensusSignature, DecodeError> {
        if bytes.len() > Signature::MAX_LEN {
            return Err(DecodeError(format!(
                "a signature is at most {} bytes",
                Signature::MAX_LEN
            )));
        }
        Ok(ConsensusSignature(bytes.to_vec()))
    }

    fn encode_signature(signature: &ConsensusSignature) -> Vec<u8> {
        signature.0.clone()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, DecodeError> {
        let text = std::str::from_utf8(bytes).map_err(|_| DecodeError("not UTF-8".into()))?;
        PublicKey::from_text(text).map_err(|e| DecodeError(e.to_string()))
    }

    fn encode_public_key(public_key: &PublicKey) -> Vec<u8> {
        public_key.to_text().into_bytes()
    }
}

/// A proposal: the proposer's claim that `value` is its block for (height, round).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The height.
    pub height: Height,
    /// The round.
    pub round: Round,
    /// The proposed block's hash.
    pub value: BlockId,
    /// The round of the polka this value was locked in, or nil.
    pub pol_round: Round,
    /// The proposer.
    pub proposer: Address,
}

impl malachitebft_core_types::Proposal<LedgerContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &BlockId {
        &self.value
    }
    fn take_value(self) -> BlockId {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &Address {
        &self.proposer
    }
}

/// A piece of a streamed block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalPart {
    /// First: where the block belongs and its header.
    Header {
        /// The height.
        height: Height,
        /// The round it is proposed in.
        round: u32,
        /// The round of the polka the value was locked in (nil for a fresh block).
        pol_round: Round,
        /// The proposer of that round.
        proposer: Address,
        /// The canonical header bytes (their hash is the value).
        header: Vec<u8>,
        /// The proposer's signature over [`header_part_digest`]: a validator executes a
        /// streamed block only if the round's proposer signed its header part.
        signature: Vec<u8>,
    },
    /// A batch of canonical transaction bytes, in block order.
    Txs(Vec<Vec<u8>>),
    /// Last: how many transactions the block holds.
    End {
        /// The transaction count.
        tx_count: u32,
    },
}

impl malachitebft_core_types::ProposalPart<LedgerContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Header { .. })
    }
    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::End { .. })
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug)]
pub struct Vote {
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// The height.
    pub height: Height,
    /// The round.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<BlockId>,
    /// The voter.
    pub validator: Address,
    /// Vote extensions are not used (the policy is disabled); kept for the trait.
    pub extension: Option<SignedExtension<LedgerContext>>,
}

/// Equality leaves the extension out, as the engine requires.
impl PartialEq for Vote {
    fn eq(&self, o: &Self) -> bool {
        self.vote_type == o.vote_type
            && self.height == o.height
            && self.round == o.round
            && self.value == o.value
            && self.validator == o.validator
    }
}
impl Eq for Vote {}

impl Vote {
    /// The ledger's vote kind.
    pub fn kind(&self) -> VoteKind {
        match self.vote_type {
            VoteType::Prevote => VoteKind::Prevote,
            VoteType::Precommit => VoteKind::Precommit,
        }
    }

    /// The digest the voter signs.
    pub fn digest(&self, chain: &ChainId) -> Hash {
        let value = match &self.value {
            NilOrVal::Nil => None,
            NilOrVal::Val(id) => Some(&id.0),
        };
        ledger_types::block::vote_digest(
            chain,
            self.kind(),
            self.height.0,
            self.round.as_u32().unwrap_or(u32::MAX),
            value,
            &self.validator.0,
        )
    }
}

impl malachitebft_core_types::Vote<LedgerContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.vote_type
    }
    fn validator_address(&self) -> &Address {
        &self.validator
    }
    fn extension(&self) -> Option<&SignedExtension<LedgerContext>> {
        self.extension.as_ref()
    }
    fn take_extension(&mut self) -> Option<SignedExtension<LedgerContext>> {
        self.extension.take()
    }
    fn extend(self, extension: SignedExtension<LedgerContext>) -> Self {
        Vote {
            extension: Some(extension),
            ..self
        }
    }
}

/// A validator: one vote each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Its address.
    pub address: Address,
    /// Its registered signing key.
    pub public_key: PublicKey,
    /// It was not in the set of the height before: governance just added it. It does not
    /// propose in round 0 of this height (see [`proposer_of`]).
    pub newcomer: bool,
}

impl malachitebft_core_types::Validator<LedgerContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }
    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
    fn voting_power(&self) -> u64 {
        1
    }
}

/// The validator set, sorted by address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
}

/// The proposer of (`height`, `round`): the validators in address order, in turn. `set`
/// must not be empty.
///
/// In round 0, a validator governance added at this very height (a newcomer) is passed
/// over when the set has others: its engine has just met its peers, and the previous
/// decision may reach it late, so its proposal would cost the height hundreds of
/// milliseconds (measured in `docs/benchmarks.md`). From round 1 every validator takes
/// its turn, so a height whose seasoned proposers are down still decides.
pub fn proposer_of(set: &ValidatorSet, height: Height, round: Round) -> &Validator {
    let r = round.as_u32().unwrap_or(0) as u64;
    let seasoned = set.validators.iter().filter(|v| !v.newcomer).count();
    if r == 0 && seasoned > 0 && seasoned < set.validators.len() {
        let i = (height.0 % seasoned as u64) as usize;
        if let Some(v) = set.validators.iter().filter(|v| !v.newcomer).nth(i) {
            return v;
        }
    }
    let n = set.validators.len().max(1) as u64;
    let i = (height.0.wrapping_add(r)) % n;
    &set.validators[i as usize]
}

/// What a proposer signs in a proposal stream's header part: the chain, where the block
/// is proposed, the proof-of-lock round, the proposer, and the header bytes (which commit
/// to every transaction through the transaction root).
pub fn header_part_digest(
    chain: &ledger_types::ChainId,
    height: Height,
    round: u32,
    pol_round: Round,
    proposer: &Address,
    header: &[u8],
) -> ledger_types::Hash {
    let mut e = ledger_types::codec::Encoder::new();
    chain.encode(&mut e);
    e.u64(height.0).u32(round).u64(pol_round.as_i64() as u64);
    proposer.0.encode(&mut e);
    e.bytes(header);
    ledger_types::HashSuite::current().digest("cl/proposal-part/v1", &[&e.finish()])
}

impl ValidatorSet {
    /// Whether `address` is in the set.
    pub fn contains(&self, address: &Address) -> bool {
        self.validators.iter().any(|v| &v.address == address)
    }

    /// True when the set has no validator.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// A set from validators in any order (sorted and deduplicated here).
    pub fn new(mut validators: Vec<Validator>) -> Self {
        validators.sort_by(|a, b| a.address.cmp(&b.address));
        validators.dedup_by(|a, b| a.address == b.address);
        ValidatorSet { validators }
    }

    /// The validators, sorted.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }
}

impl malachitebft_core_types::ValidatorSet<LedgerContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }
    fn total_voting_power(&self) -> u64 {
        self.validators.len() as u64
    }
    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators
            .binary_search_by(|v| v.address.cmp(address))
            .ok()
            .map(|i| &self.validators[i])
    }
    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// The ledger's consensus context.
#[derive(Clone, Debug)]
pub struct LedgerContext {
    /// The chain (bound into every vote).
    pub chain_id: ChainId,
}

impl LedgerContext {
    /// A context for `chain_id`.
    pub fn new(chain_id: ChainId) -> Self {
        Self { chain_id }
    }
}

impl Context for LedgerContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = malachitebft_core_types::LinearTimeouts;
    type Value = BlockId;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = LedgerScheme;

    /// Round-robin over the sorted set, shifted by the height, so each validator proposes
    /// in turn and a faulty proposer costs one round.
    fn select_proposer<'a>(
        &self,
        set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        proposer_of(set, height, round)
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockId,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<ValueId<Self>>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Prevote,
            height,
            round,
            value: value_id,
            validator: address,
            extension: None,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<ValueId<Self>>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Precommit,
            height,
            round,
            value: value_id,
            validator: address,
            extension: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn set(names: &[(&str, bool)]) -> ValidatorSet {
        ValidatorSet::new(
            names
                .iter()
                .enumerate()
                .map(|(i, (n, newcomer))| Validator {
                    address: Address(OrgId::new(*n).unwrap()),
                    public_key: PublicKey::new(
                        ledger_types::SignatureScheme::Ed25519,
                        vec![i as u8; 32],
                    )
                    .unwrap(),
                    newcomer: *newcomer,
                })
                .collect(),
        )
    }

    fn at(s: &ValidatorSet, h: u64, r: u32) -> String {
        proposer_of(s, Height(h), Round::new(r))
            .address
            .0
            .to_string()
    }

    #[test]
    fn validators_propose_in_turn_and_a_newcomer_waits_for_round_one() {
        let old = set(&[("a", false), ("b", false), ("c", false), ("d", false)]);
        let turns: Vec<String> = (0..4).map(|h| at(&old, h, 0)).collect();
        assert_eq!(turns, ["a", "b", "c", "d"]);
        assert_eq!(at(&old, 0, 1), "b");
        // "e" joined at this height: never the round-0 proposer, whatever the height.
        let new = set(&[
            ("a", false),
            ("b", false),
            ("c", false),
            ("d", false),
            ("e", true),
        ]);
        for h in 0..20 {
            assert_ne!(at(&new, h, 0), "e", "height {h}");
        }
        // From round 1 it takes its turn (a height whose seasoned proposers are down still
        // decides).
        assert!((0..5).any(|h| at(&new, h, 1) == "e"));
        // A set of newcomers only (every validator replaced at once) still has proposers.
        let fresh = set(&[("x", true), ("y", true)]);
        assert_eq!(at(&fresh, 0, 0), "x");
        assert_eq!(at(&fresh, 1, 0), "y");
    }
}
