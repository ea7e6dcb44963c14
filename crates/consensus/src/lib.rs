//! The application side of Malachite BFT consensus for the ledger: the context (heights,
//! block ids as values, votes, validator sets), the codecs for network, WAL and sync, and
//! consensus signing with the organisation's key provider behind the equivocation guard.
//!
//! The driver must do no I/O of its own: it reaches the ledger ([`LedgerApp`]), the store of
//! its uncommitted blocks ([`ProposalStore`]) and the engine (its channels) only through
//! traits and channels, so it runs in tests without sockets, files or processes.

pub mod app;
pub mod codec;
pub mod context;
pub mod proposal_store;
pub mod signing;
pub mod wal;

pub use app::{timely, Driver, DriverConfig, Ended, LedgerApp};
pub use codec::LedgerCodec;
pub use context::{
    header_part_digest, proposer_of, Address, BlockId, ConsensusSignature, Height, LedgerContext,
    LedgerScheme, Proposal, ProposalPart, Validator, ValidatorSet, Vote,
};
pub use proposal_store::ProposalStore;
pub use signing::{ConsensusSigner, ConsensusVerifier};

/// The design note behind this crate, `docs/consensus.md`: what is proved or guaranteed, and
/// why it holds (read it with `cargo doc --document-private-items`).
#[doc = include_str!("../../../docs/consensus.md")]
mod notes {}
