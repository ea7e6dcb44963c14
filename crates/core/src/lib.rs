//! The ledger core of a node: what it does with blocks and transactions, without any
//! transport.
//!
//! [`Ledger`] holds the store, the mempool and the organisation's signer, and offers the
//! calls every block driver makes: admit a transaction, build the next block, validate a
//! received one, commit. Three drivers use them: the single-validator [`producer`], the
//! Malachite [`consensus`] application, and the follower ([`follow`]) of a node that is not
//! a validator. [`writer::TxWriter`] signs and submits the organisation's own transactions
//! (the gateway's writes, the regulator's alerts) and waits for their blocks. The gRPC
//! layer lives in `ledger-rpc`: it reaches this crate through typed results, and this crate
//! reaches other nodes only through the traits of [`transport`]. No tonic types here.

pub mod admission;
pub mod analytics;
pub mod auditor;
pub mod consensus;
pub mod error;
pub mod follow;
pub mod genesis;
pub mod ledger;
pub mod producer;
pub mod relay;
pub mod rotation;
pub mod transport;
pub mod writer;

pub use error::NodeError;
pub use ledger::{Ledger, Proposal, RelayRefused, SubmitError};
pub use transport::{BlockSource, Relay, RemoteRefusal, Upstream};
