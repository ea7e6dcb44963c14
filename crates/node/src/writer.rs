//! Transactions the node itself signs (gateway writes, audit alerts): nonce allocation,
//! signing with the organisation's key, submission, and waiting for the block.

use std::sync::Arc;
use std::time::Duration;

use ledger_state::next_nonce;
use ledger_types::{Hash, Payload, Transaction, TxBody};
use tonic::Status;

use crate::ledger::Ledger;

/// How long a writer waits for its transaction to be committed.
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Signs and submits the organisation's own transactions, one nonce after another.
pub struct TxWriter {
    ledger: Arc<Ledger>,
    next: tokio::sync::Mutex<u64>,
}

impl TxWriter {
    /// A writer for the ledger's organisation.
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Self {
            ledger,
            next: tokio::sync::Mutex::new(0),
        }
    }

    /// Signs `payload` with the next free nonce and submits it (to this node's mempool, or
    /// to the upstream node when following one).
    pub async fn submit(&self, payload: Payload) -> Result<Transaction, Status> {
        let mut next = self.next.lock().await;
        let org = self.ledger.org.clone();
        let committed = next_nonce(self.ledger.store.as_ref(), &org)
            .map_err(|e| Status::unavailable(format!("reading the nonce: {e}")))?;
        let pending = self.ledger.mempool.next_free_nonce(&org, committed);
        let nonce = (*next).max(pending);
        let body = TxBody {
            chain_id: self.ledger.chain_id.clone(),
            signer: org,
            nonce,
            payload,
        };
        let signer = self.ledger.signer.clone();
        let tx = tokio::task::spawn_blocking(move || ledger_crypto::sign_tx(signer.as_ref(), body))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::unavailable(format!("signing with the organisation key: {e}")))?;
        self.ledger.submit_tx(tx.bytes().to_vec()).await?;
        *next = nonce + 1;
        Ok(tx)
    }

    /// Waits until `hash` is in a committed block and returns its height; a transaction
    /// included without effect is an error carrying the ledger's reason.
    pub async fn wait_committed(&self, hash: &Hash) -> Result<u64, Status> {
        let deadline = tokio::time::Instant::now() + COMMIT_TIMEOUT;
        let mut heights = self.ledger.subscribe();
        loop {
            let loc = self
                .ledger
                .store
                .tx_location(hash)
                .map_err(|e| Status::unavailable(format!("reading the store: {e}")))?;
            if let Some(loc) = loc {
                return match loc.failure {
                    None => Ok(loc.height),
                    Some(f) => Err(Status::failed_precondition(format!(
                        "transaction {hash} was committed at height {} without effect: {f}",
                        loc.height
                    ))),
                };
            }
            match tokio::time::timeout_at(deadline, heights.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Status::unavailable("the node is shutting down")),
                Err(_) => {
                    return Err(Status::deadline_exceeded(format!(
                        "transaction {hash} was not committed within {} s; it may still be",
                        COMMIT_TIMEOUT.as_secs()
                    )))
                }
            }
        }
    }
}
