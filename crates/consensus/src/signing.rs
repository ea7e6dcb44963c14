//! Consensus signing with the organisation's key provider, behind the equivocation guard.
//!
//! Every message is signed as a domain-separated digest (the key provider and HSMs sign
//! 32-byte digests): votes over `cl/vote/v1` (see `ledger_types::block::vote_digest`),
//! proposals over `cl/proposal/v1`, the proof binding the network identity to the
//! consensus key over `cl/validator-proof/v1`. Votes and proposals go through the
//! persisted `EquivocationGuard`: the key never signs two different messages for one
//! (height, round, step), even across a crash and a WAL that was lost.

use std::sync::Arc;

use async_trait::async_trait;
use ledger_crypto::{verify_digest, Signer as KeySigner};
use ledger_hsm::{ConsensusStep, EquivocationGuard};
use ledger_types::codec::Encoder;
use ledger_types::{ChainId, Hash, HashSuite, PublicKey, Signature};
use malachitebft_core_types::{
    SignedMessage, SigningScheme, ValidatorProof, VoteExtensionScope, VoteType,
};
use malachitebft_signing::{Error, Signer, VerificationResult, Verifier};

use crate::context::{ConsensusSignature, LedgerContext, LedgerScheme, Proposal, Vote};

/// The digest a proposer signs for a proposal.
pub fn proposal_digest(chain: &ChainId, p: &Proposal) -> Hash {
    let mut e = Encoder::new();
    chain.encode(&mut e);
    e.u64(p.height.0)
        .u32(p.round.as_u32().unwrap_or(u32::MAX))
        .fixed(&p.value.0 .0)
        .u64(p.pol_round.as_i64() as u64);
    p.proposer.0.encode(&mut e);
    HashSuite::current().digest("cl/proposal/v1", &[&e.finish()])
}

fn proof_digest(chain: &ChainId, public_key: &[u8], peer_id: &[u8]) -> Hash {
    let preimage = ValidatorProof::<LedgerContext>::signing_bytes(public_key, peer_id);
    let mut e = Encoder::new();
    chain.encode(&mut e);
    e.bytes(&preimage);
    HashSuite::current().digest("cl/validator-proof/v1", &[&e.finish()])
}

fn error(e: impl std::fmt::Display) -> Error {
    Error::from_source(e.to_string())
}

/// Signs consensus messages with the organisation's signing key.
pub struct ConsensusSigner {
    chain: ChainId,
    key: Arc<dyn KeySigner>,
    guard: Arc<EquivocationGuard>,
}

impl ConsensusSigner {
    /// A signer for `chain` with `key`, guarded by `guard`.
    pub fn new(chain: ChainId, key: Arc<dyn KeySigner>, guard: Arc<EquivocationGuard>) -> Self {
        Self { chain, key, guard }
    }

    async fn guarded(&self, step: ConsensusStep, digest: Hash) -> Result<Signature, Error> {
        let (key, guard) = (self.key.clone(), self.guard.clone());
        tokio::task::spawn_blocking(move || guard.sign(key.as_ref(), step, &digest))
            .await
            .map_err(error)?
            .map_err(|e| {
                tracing::error!(error = %e, "consensus signing refused");
                error(e)
            })
    }
}

#[async_trait]
impl Signer<LedgerContext> for ConsensusSigner {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<LedgerContext, Vote>, Error> {
        let step = ConsensusStep {
            height: vote.height.0,
            round: vote.round.as_u32().unwrap_or(0),
            step: match vote.vote_type {
                VoteType::Prevote => 1,
                VoteType::Precommit => 2,
            },
        };
        let sig = self.guarded(step, vote.digest(&self.chain)).await?;
        Ok(SignedMessage::new(vote, sig.into()))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<LedgerContext, Proposal>, Error> {
        let step = ConsensusStep {
            height: proposal.height.0,
            round: proposal.round.as_u32().unwrap_or(0),
            step: 0,
        };
        let sig = self
            .guarded(step, proposal_digest(&self.chain, &proposal))
            .await?;
        Ok(SignedMessage::new(proposal, sig.into()))
    }

    async fn sign_vote_extension(
        &self,
        _scope: VoteExtensionScope<LedgerContext>,
        _extension: (),
    ) -> Result<SignedMessage<LedgerContext, ()>, Error> {
        Err(error(
            "vote extensions are disabled on this ledger; nothing should ask to sign one",
        ))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<LedgerContext>, Error> {
        let digest = proof_digest(&self.chain, &public_key, &peer_id);
        let key = self.key.clone();
        let sig = tokio::task::spawn_blocking(move || key.sign_digest(&digest))
            .await
            .map_err(error)?
            .map_err(error)?;
        Ok(ValidatorProof::new(public_key, peer_id, sig.into()))
    }
}

/// Verifies consensus signatures under registered keys.
#[derive(Clone)]
pub struct ConsensusVerifier {
    chain: ChainId,
}

impl ConsensusVerifier {
    /// A verifier for `chain`.
    pub fn new(chain: ChainId) -> Self {
        Self { chain }
    }

    fn check(key: &PublicKey, digest: &Hash, sig: &ConsensusSignature) -> VerificationResult {
        VerificationResult::from_bool(verify_digest(key, digest, &Signature::from(sig)).is_ok())
    }
}

#[async_trait]
impl Verifier<LedgerContext> for ConsensusVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &ConsensusSignature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(Self::check(
            public_key,
            &vote.digest(&self.chain),
            signature,
        ))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &ConsensusSignature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(Self::check(
            public_key,
            &proposal_digest(&self.chain, proposal),
            signature,
        ))
    }

    async fn verify_signed_vote_extension(
        &self,
        _scope: &VoteExtensionScope<LedgerContext>,
        _extension: &(),
        _signature: &ConsensusSignature,
        _public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(VerificationResult::Invalid)
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<LedgerContext>,
    ) -> Result<VerificationResult, Error> {
        let Ok(key) = <LedgerScheme as SigningScheme>::decode_public_key(&proof.public_key) else {
            return Ok(VerificationResult::Invalid);
        };
        let digest = proof_digest(&self.chain, &proof.public_key, &proof.peer_id);
        Ok(Self::check(&key, &digest, &proof.signature))
    }
}
