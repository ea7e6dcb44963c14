//! Bounded work for untrusted input: every transaction submitted or relayed to this node
//! is checked (signature, range proofs, Groth16, ring signatures) on blocking threads,
//! never on the async runtime that also runs consensus and serves the API, and at most
//! `workers` checks run at once (eight per core by default). Submissions beyond that wait,
//! at most `max_waiting` of them; past that the node answers "busy, retry" at once instead
//! of queueing without bound (back-pressure a client can act on).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

/// Why a check was not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdmissionError {
    /// Too many submissions are already waiting to be checked.
    #[error("this node is busy checking {waiting} other submissions (at most {max_waiting} wait; [api] max_waiting_admissions); retry shortly")]
    Busy {
        /// Submissions waiting.
        waiting: usize,
        /// The limit.
        max_waiting: usize,
    },
    /// The check panicked or was cancelled.
    #[error("checking the submission failed: {0}")]
    Failed(String),
}

/// The gate every untrusted submission passes.
pub struct Admission {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    workers: usize,
}

impl Admission {
    /// At most `workers` checks at once (0: eight per core), at most `max_waiting`
    /// waiting.
    ///
    /// A check also reads the store and takes the mempool's lock, and a blocking thread
    /// handed a check waits for the scheduler on a busy machine: with one worker per core
    /// the cores sat idle between checks (single-node load fell from 6,500 to 3,900 tx/s
    /// on two cores); eight per core keep them busy while still bounding the threads and
    /// the memory that checks in progress hold.
    pub fn new(workers: usize, max_waiting: usize) -> Self {
        let workers = match workers {
            0 => 8 * std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Self {
            permits: Arc::new(Semaphore::new(workers)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            workers,
        }
    }

    /// How many submissions may wait for a check.
    pub fn max_waiting(&self) -> usize {
        self.max_waiting
    }

    /// How many checks may run at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Runs the check `f` on a blocking thread once a worker is free, or refuses at once
    /// if too many wait already.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AdmissionError> {
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst);
        if waiting >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(AdmissionError::Busy {
                waiting,
                max_waiting: self.max_waiting,
            });
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let permit = permit.map_err(|e| AdmissionError::Failed(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _held = permit;
            f()
        })
        .await
        .map_err(|e| AdmissionError::Failed(e.to_string()))
    }
}

impl Default for Admission {
    fn default() -> Self {
        Self::new(0, 4096)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_workers_run_and_the_rest_wait_or_are_refused() {
        let gate = Arc::new(Admission::new(2, 3));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                gate.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(200));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Two run, three wait: a sixth is refused at once, naming the limit.
        let refused = gate.run(|| ()).await.unwrap_err();
        assert_eq!(
            refused,
            AdmissionError::Busy {
                waiting: 3,
                max_waiting: 3
            }
        );
        assert!(refused.to_string().contains("retry"));
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        // Once they are done, the gate takes work again.
        assert_eq!(gate.run(|| 7).await.unwrap(), 7);
    }
}
