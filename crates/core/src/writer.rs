//! Transactions the node itself signs (gateway writes, audit alerts): nonce allocation,
//! signing with the organisation's key, submission, and waiting for the block.

use std::sync::Arc;
use std::time::Duration;

use ledger_state::next_nonce;
use ledger_types::{Hash, Payload, Transaction, TxBody};

use crate::ledger::{Ledger, SubmitError};

/// Why the organisation's own transaction was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The node's store could not be read.
    #[error("reading the {what}: {reason}")]
    Storage {
        /// What was being read.
        what: &'static str,
        /// The store's error.
        reason: String,
    },
    /// The key provider could not sign.
    #[error("signing with the organisation key: {0}")]
    Signing(String),
    /// The transaction was refused (by this node's mempool or the upstream node).
    #[error(transparent)]
    Submit(#[from] SubmitError),
    /// It was committed, without effect; the ledger's reason.
    #[error("transaction {tx} was committed at height {height} without effect: {reason}")]
    Failed {
        /// The transaction.
        tx: Hash,
        /// The block that holds it.
        height: u64,
        /// Why it had no effect.
        reason: String,
    },
    /// It was not committed in time (it may still be).
    #[error("transaction {tx} was not committed within {secs} s; it may still be")]
    Timeout {
        /// The transaction.
        tx: Hash,
        /// How long the writer waited.
        secs: u64,
    },
    /// The node is stopping.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// A blocking task failed.
    #[error("{0}")]
    Internal(String),
}

/// How long a writer waits for its transaction to be committed.
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Signs and submits the organisation's own transactions, one nonce after another.
pub struct TxWriter {
    ledger: Arc<Ledger>,
    /// One write at a time, so that two never take the same nonce.
    turn: tokio::sync::Mutex<()>,
}

impl TxWriter {
    /// A writer for the ledger's organisation.
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Self {
            ledger,
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Signs `payload` with the next free nonce and submits it (to this node's mempool, or
    /// to the upstream node when following one). The nonce is read from the mempool that
    /// takes the submission, never from a count kept here: a transaction that was dropped
    /// before it committed frees its nonce for this write.
    pub async fn submit(&self, payload: Payload) -> Result<Transaction, WriteError> {
        let _turn = self.turn.lock().await;
        let org = self.ledger.org.clone();
        let committed =
            next_nonce(self.ledger.store.as_ref(), &org).map_err(|e| WriteError::Storage {
                what: "nonce",
                reason: e.to_string(),
            })?;
        let nonce = self
            .ledger
            .next_free_nonce(&org, committed)
            .await
            .map_err(|r| WriteError::Submit(SubmitError::Upstream(r)))?;
        let body = TxBody {
            chain_id: self.ledger.chain_id.clone(),
            signer: org,
            nonce,
            payload,
        };
        let signer = self.ledger.signer();
        let tx = tokio::task::spawn_blocking(move || ledger_crypto::sign_tx(signer.as_ref(), body))
            .await
            .map_err(|e| WriteError::Internal(e.to_string()))?
            .map_err(|e| WriteError::Signing(e.to_string()))?;
        self.ledger.submit_tx(tx.bytes().to_vec()).await?;
        Ok(tx)
    }

    /// Waits until `hash` is in a committed block and returns its height; a transaction
    /// included without effect is an error carrying the ledger's reason.
    pub async fn wait_committed(&self, hash: &Hash) -> Result<u64, WriteError> {
        let deadline = tokio::time::Instant::now() + COMMIT_TIMEOUT;
        let mut heights = self.ledger.subscribe();
        loop {
            let loc = self
                .ledger
                .store
                .tx_location(hash)
                .map_err(|e| WriteError::Storage {
                    what: "store",
                    reason: e.to_string(),
                })?;
            if let Some(loc) = loc {
                return match loc.failure {
                    None => Ok(loc.height),
                    Some(f) => Err(WriteError::Failed {
                        tx: *hash,
                        height: loc.height,
                        reason: f,
                    }),
                };
            }
            match tokio::time::timeout_at(deadline, heights.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(WriteError::ShuttingDown),
                Err(_) => {
                    return Err(WriteError::Timeout {
                        tx: *hash,
                        secs: COMMIT_TIMEOUT.as_secs(),
                    })
                }
            }
        }
    }
}
