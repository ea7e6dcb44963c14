//! How the core reaches other nodes, as traits the RPC layer implements: forwarding a
//! submitted transaction to the node this one follows, relaying admitted transactions to
//! the other validators, and streaming committed blocks from an upstream node.

use async_trait::async_trait;
use ledger_types::{Hash, OrgId};

/// A refusal from another node, as it gave it: the status code of its API, its message,
/// and the stable rejection reason when it named one. Passed back to clients unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRefusal {
    /// The remote API's status code (gRPC numbering).
    pub code: i32,
    /// Its message.
    pub message: String,
    /// The stable reason (`nonce_used`, `bad_signature`, ...) if it gave one.
    pub reason: Option<String>,
}

impl std::fmt::Display for RemoteRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The node a follower forwards its clients' transactions to.
#[async_trait]
pub trait Upstream: Send + Sync {
    /// Submits canonical transaction bytes; the upstream's refusal comes back as it gave it.
    async fn submit(&self, tx: Vec<u8>) -> Result<Hash, RemoteRefusal>;
    /// The next nonce `org` can use there: past its committed and pending transactions.
    async fn next_free_nonce(&self, org: &OrgId) -> Result<u64, RemoteRefusal>;
}

/// Another validator that should hold the transactions this one admits.
#[async_trait]
pub trait Relay: Send + Sync {
    /// Where the relay goes, for logs.
    fn name(&self) -> &str;
    /// Sends a signed batch of canonical transaction bytes; the error says why it failed.
    async fn relay(&self, batch: crate::relay::RelayBatch) -> Result<(), String>;
}

/// What a follower learns of its upstream node when it connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamStatus {
    /// Its genesis block hash (bytes as it sent them).
    pub genesis_hash: Vec<u8>,
    /// Its latest height.
    pub height: u64,
}

/// A stream of committed blocks' canonical bytes, in height order.
#[async_trait]
pub trait BlockStream: Send {
    /// The next block's bytes; `Ok(None)` when the upstream closed the stream.
    async fn next_block(&mut self) -> Result<Option<Vec<u8>>, String>;
}

/// A node whose committed blocks a follower verifies and stores.
#[async_trait]
pub trait BlockSource: Send + Sync {
    /// Connects and reads the upstream's chain and height.
    async fn status(&self) -> Result<UpstreamStatus, String>;
    /// Streams blocks from `from_height` on, then each new one as it is committed.
    async fn blocks(&self, from_height: u64) -> Result<Box<dyn BlockStream>, String>;
    /// The committed block at `height`, if the node has it.
    async fn block(&self, height: u64) -> Result<Option<Vec<u8>>, String>;
    /// Where the source is, for logs.
    fn name(&self) -> &str;
}
