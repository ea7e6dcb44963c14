//! RocksDB storage of the ledger: blocks, the transaction index, state, and metadata.
//!
//! Each block is committed with one atomic `WriteBatch` written with `sync`, holding the
//! block, its transaction index entries, its state changes and the new chain tip, so after
//! a crash (even `kill -9` or power loss) the store holds whole blocks or nothing of them.
//! [`Store::verify_integrity`] re-checks the hash chain and the state root at startup.
//!
//! It also keeps, for the consensus driver, the blocks this node proposed or found valid at
//! heights it has not committed yet (column family [`CF_CONSENSUS`]), each with its own
//! synced write, so that a restarted validator re-proposes the same block for a round and a
//! decision replayed from the consensus WAL finds its block.
//!
//! This crate decides nothing about validity: it stores what the state machine computed.

use std::path::Path;
use std::sync::RwLock;

use ledger_crypto::LtHash16;
use ledger_state::{check_commit, Execution, StateError, StateView, TxOutcome};
use ledger_types::codec::{Decoder, Encoder};
use ledger_types::{Block, BlockHeader, Hash};
use rocksdb::{ColumnFamilyDescriptor, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use thiserror::Error;

mod consensus_blocks;
pub use consensus_blocks::ProposalReceipt;

/// Column family of blocks: height (u64 big-endian) → canonical block bytes.
pub const CF_BLOCKS: &str = "blocks";
/// Column family of the transaction index: tx hash → location and outcome.
pub const CF_TXS: &str = "txs";
/// Column family of state: state key → value.
pub const CF_STATE: &str = "state";
/// Column family of metadata: chain tip, state accumulator, store format.
pub const CF_META: &str = "meta";
/// Column family of the consensus driver's uncommitted blocks: `b'p'`, height (u64
/// big-endian), round (u32 big-endian) → the block this node proposed for that round;
/// `b'c'`, height (u64 big-endian), block hash → a block this node found valid.
pub const CF_CONSENSUS: &str = "consensus";
/// Every column family of the store, in the order they are opened.
pub const COLUMN_FAMILIES: [&str; 5] = [CF_BLOCKS, CF_TXS, CF_STATE, CF_META, CF_CONSENSUS];

const META_TIP: &[u8] = b"tip";
const META_ACCUMULATOR: &[u8] = b"accumulator";
const META_FORMAT: &[u8] = b"format";
/// The format this node writes. Format 2 added [`CF_CONSENSUS`].
const STORE_FORMAT: u16 = 2;
/// The oldest format this node opens. A format 1 store lacks only [`CF_CONSENSUS`], which
/// RocksDB creates when the store is opened; its format is then recorded as 2 (a node of
/// the previous version could not open it anyway: RocksDB refuses to open a database
/// without naming all of its column families).
const OLDEST_OPENED_FORMAT: u16 = 1;

const PROPOSAL_PREFIX: u8 = b'p';
const CANDIDATE_PREFIX: u8 = b'c';
const RECEIPT_PREFIX: u8 = b'r';

/// Why a storage operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// RocksDB reported an error.
    #[error("database error while {context}: {message}")]
    Db {
        /// What the store was doing.
        context: String,
        /// RocksDB's message.
        message: String,
    },
    /// Stored data is not what this node wrote.
    #[error("stored data is damaged at height {height}: {what}. The data directory was altered or damaged; restore it from a backup or resynchronise the node")]
    Integrity {
        /// The first height found damaged.
        height: u64,
        /// What differs.
        what: String,
    },
    /// Metadata is damaged or missing.
    #[error("store metadata is damaged: {0}")]
    Corrupt(String),
    /// A block was offered out of order.
    #[error("block {got} cannot be committed: the next height is {expected}")]
    OutOfOrder {
        /// The next height.
        expected: u64,
        /// The height offered.
        got: u64,
    },
    /// The store was written by an incompatible version.
    #[error("store format {found} is not supported (this node writes format {supported})")]
    UnsupportedFormat {
        /// The format found.
        found: u16,
        /// The format this node writes.
        supported: u16,
    },
}

fn db_err(context: impl Into<String>) -> impl FnOnce(rocksdb::Error) -> StoreError {
    let context = context.into();
    move |e| StoreError::Db {
        context,
        message: e.into_string(),
    }
}

/// Where a committed transaction is, and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxLocation {
    /// The block height.
    pub height: u64,
    /// The position in the block.
    pub index: u32,
    /// `None` if applied, else why it had no effect.
    pub failure: Option<String>,
}

impl TxLocation {
    fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u64(self.height).u32(self.index);
        match &self.failure {
            None => {
                e.u8(0);
            }
            Some(f) => {
                e.u8(1).str(f);
            }
        }
        e.finish()
    }

    fn decode(b: &[u8]) -> Result<Self, ledger_types::CodecError> {
        let mut d = Decoder::new(b);
        let height = d.u64("height")?;
        let index = d.u32("index")?;
        let failure = match d.u8("outcome")? {
            0 => None,
            1 => Some(d.string("failure", 1 << 16)?),
            t => {
                return Err(ledger_types::CodecError::UnknownTag {
                    what: "outcome",
                    tag: t.into(),
                })
            }
        };
        d.finish("tx location")?;
        Ok(TxLocation {
            height,
            index,
            failure,
        })
    }
}

/// The latest committed block and state accumulator.
#[derive(Debug, Clone)]
pub struct Tip {
    /// The latest block's header.
    pub header: BlockHeader,
    /// Its hash.
    pub hash: Hash,
    /// The state accumulator after it.
    pub accumulator: LtHash16,
}

/// What a successful integrity check covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityReport {
    /// The latest height.
    pub height: u64,
    /// Transactions checked.
    pub transactions: u64,
    /// State entries hashed.
    pub state_entries: u64,
}

/// The ledger's RocksDB store.
pub struct Store {
    db: DB,
    tip: RwLock<Option<Tip>>,
    reads: RwLock<ReadCache>,
}

/// Committed state entries read recently (present or absent), so that the entries every
/// transaction reads again (its signer's member entry, the schema) come from memory, not
/// RocksDB. Each commit writes its diff through; `generation` counts commits, and a value
/// read from RocksDB is kept only if no commit happened since the read began, so a read
/// racing a commit never leaves the old value behind.
#[derive(Default)]
struct ReadCache {
    generation: u64,
    entries: std::collections::HashMap<Vec<u8>, Option<Vec<u8>>>,
}

/// At most this many entries are cached; past that the cache starts over.
const READ_CACHE_ENTRIES: usize = 65_536;

fn height_key(h: u64) -> [u8; 8] {
    h.to_be_bytes()
}

impl Store {
    /// Opens (or creates) the store in `path` and loads the chain tip.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_keep_log_file_num(5);
        // A store written before a column family existed gets it here (empty).
        let cfs = COLUMN_FAMILIES
            .into_iter()
            .map(|n| ColumnFamilyDescriptor::new(n, Options::default()));
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(db_err(format!(
            "opening the database in {}",
            path.display()
        )))?;
        let store = Store {
            db,
            tip: RwLock::new(None),
            reads: RwLock::new(ReadCache::default()),
        };
        store.check_format()?;
        let tip = store.load_tip()?;
        *store.tip_lock_mut() = tip;
        Ok(store)
    }

    fn cf(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StoreError::Corrupt(format!("column family {name} is missing")))
    }

    fn tip_lock_mut(&self) -> std::sync::RwLockWriteGuard<'_, Option<Tip>> {
        self.tip.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepts this node's format and older ones it can upgrade (by then the missing column
    /// families exist: `open` created them), recording this node's format; refuses others.
    fn check_format(&self) -> Result<(), StoreError> {
        let meta = self.cf(CF_META)?;
        let found = match self
            .db
            .get_cf(meta, META_FORMAT)
            .map_err(db_err("reading the store format"))?
        {
            None => None,
            Some(v) => Some(match <[u8; 2]>::try_from(v.as_slice()) {
                Ok(b) => u16::from_be_bytes(b),
                Err(_) => {
                    return Err(StoreError::UnsupportedFormat {
                        found: 0,
                        supported: STORE_FORMAT,
                    })
                }
            }),
        };
        match found {
            Some(STORE_FORMAT) => Ok(()),
            Some(f) if !(OLDEST_OPENED_FORMAT..STORE_FORMAT).contains(&f) => {
                Err(StoreError::UnsupportedFormat {
                    found: f,
                    supported: STORE_FORMAT,
                })
            }
            _ => {
                if let Some(f) = found {
                    tracing::info!(from = f, to = STORE_FORMAT, "upgrading the store format");
                }
                self.db
                    .put_cf(meta, META_FORMAT, STORE_FORMAT.to_be_bytes())
                    .map_err(db_err("writing the store format"))
            }
        }
    }

    fn load_tip(&self) -> Result<Option<Tip>, StoreError> {
        let meta = self.cf(CF_META)?;
        let Some(h) = self
            .db
            .get_cf(meta, META_TIP)
            .map_err(db_err("reading the chain tip"))?
        else {
            return Ok(None);
        };
        let height = u64::from_be_bytes(
            h.as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt("the chain tip is not 8 bytes".into()))?,
        );
        let block = self.block(height)?.ok_or(StoreError::Integrity {
            height,
            what: "the chain tip names this height but no block is stored there".into(),
        })?;
        let acc_bytes = self
            .db
            .get_cf(meta, META_ACCUMULATOR)
            .map_err(db_err("reading the state accumulator"))?
            .ok_or_else(|| StoreError::Corrupt("the state accumulator is missing".into()))?;
        let accumulator = LtHash16::from_bytes(&acc_bytes).ok_or_else(|| {
            StoreError::Corrupt("the state accumulator has the wrong size".into())
        })?;
        Ok(Some(Tip {
            hash: block.hash(),
            header: block.header().clone(),
            accumulator,
        }))
    }

    /// The chain tip, if any block was committed.
    pub fn tip(&self) -> Option<Tip> {
        self.tip.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The latest height, if any block was committed.
    pub fn height(&self) -> Option<u64> {
        self.tip
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|t| t.header.height)
    }

    /// Commits a block and its execution in one synced atomic write.
    pub fn commit_block(&self, block: &Block, execution: &Execution) -> Result<(), StoreError> {
        let mut tip = self.tip_lock_mut();
        let expected = tip.as_ref().map_or(0, |t| t.header.height + 1);
        if block.height() != expected {
            return Err(StoreError::OutOfOrder {
                expected,
                got: block.height(),
            });
        }
        let (blocks, txs, state, meta) = (
            self.cf(CF_BLOCKS)?,
            self.cf(CF_TXS)?,
            self.cf(CF_STATE)?,
            self.cf(CF_META)?,
        );
        let mut batch = WriteBatch::default();
        batch.put_cf(blocks, height_key(block.height()), block.encode());
        for (i, (tx, outcome)) in block.txs.iter().zip(&execution.outcomes).enumerate() {
            let loc = TxLocation {
                height: block.height(),
                index: i as u32,
                failure: match outcome {
                    TxOutcome::Applied => None,
                    TxOutcome::Failed(f) => Some(f.to_string()),
                },
            };
            batch.put_cf(txs, tx.hash().0, loc.encode());
        }
        for (k, c) in execution.diff.iter() {
            match &c.new {
                Some(v) => batch.put_cf(state, k, v),
                None => batch.delete_cf(state, k),
            }
        }
        batch.put_cf(meta, META_TIP, height_key(block.height()));
        batch.put_cf(meta, META_ACCUMULATOR, execution.accumulator.to_bytes());
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .write_opt(batch, &wo)
            .map_err(db_err(format!("committing block {}", block.height())))?;
        {
            let mut reads = self.reads.write().unwrap_or_else(|p| p.into_inner());
            reads.generation += 1;
            if reads.entries.len() + execution.diff.len() > READ_CACHE_ENTRIES {
                reads.entries.clear();
            }
            for (k, c) in execution.diff.iter() {
                reads.entries.insert(k.clone(), c.new.clone());
            }
        }
        *tip = Some(Tip {
            header: block.header().clone(),
            hash: block.hash(),
            accumulator: execution.accumulator.clone(),
        });
        Ok(())
    }

    /// The stored bytes of the block at `height`.
    pub fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.db
            .get_cf(self.cf(CF_BLOCKS)?, height_key(height))
            .map_err(db_err(format!("reading block {height}")))
    }

    /// The block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        let Some(b) = self.block_bytes(height)? else {
            return Ok(None);
        };
        Block::decode(&b)
            .map(Some)
            .map_err(|e| StoreError::Integrity {
                height,
                what: format!("the stored block does not decode: {e}"),
            })
    }

    /// Where the transaction `hash` was committed, if it was.
    pub fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        let Some(b) = self
            .db
            .get_cf(self.cf(CF_TXS)?, hash.0)
            .map_err(db_err("reading the transaction index"))?
        else {
            return Ok(None);
        };
        TxLocation::decode(&b).map(Some).map_err(|e| {
            StoreError::Corrupt(format!("transaction index entry of {hash} is damaged: {e}"))
        })
    }

    /// Re-checks everything stored against the hash chain: every block decodes, sits at its
    /// height, links to its parent, has the transaction root and commit it claims, every
    /// transaction is indexed where it is; and the stored state hashes to the state root of
    /// the latest block. Names the first height where anything differs.
    pub fn verify_integrity(&self) -> Result<IntegrityReport, StoreError> {
        let Some(tip) = self.tip() else {
            return Ok(IntegrityReport {
                height: 0,
                transactions: 0,
                state_entries: 0,
            });
        };
        let mut transactions = 0u64;
        let mut parent: Option<(Hash, u64)> = None;
        for height in 0..=tip.header.height {
            let block = self.block(height)?.ok_or(StoreError::Integrity {
                height,
                what: "the block is missing".into(),
            })?;
            let h = block.header();
            let fail = |what: String| StoreError::Integrity { height, what };
            if h.height != height {
                return Err(fail(format!("the stored block says height {}", h.height)));
            }
            let expected_prev = parent.map_or(Hash::ZERO, |p| p.0);
            if h.prev_hash != expected_prev {
                return Err(fail(format!(
                    "previous block hash is {}, the block below hashes to {}",
                    h.prev_hash, expected_prev
                )));
            }
            if let Some((_, ts)) = parent {
                if h.timestamp_ms < ts {
                    return Err(fail("the timestamp is earlier than the parent's".into()));
                }
            }
            if h.tx_count as usize != block.txs.len() || block.computed_tx_root() != h.tx_root {
                return Err(fail(
                    "the transactions do not match the transaction root in the header".into(),
                ));
            }
            if height > 0 {
                check_commit(self, &block).map_err(|e| fail(e.to_string()))?;
            }
            for (i, tx) in block.txs.iter().enumerate() {
                match self.tx_location(&tx.hash())? {
                    Some(loc) if loc.height == height && loc.index == i as u32 => {}
                    _ => {
                        return Err(fail(format!(
                            "transaction {} ({}) is not indexed at this height",
                            i,
                            tx.hash()
                        )))
                    }
                }
            }
            transactions += block.txs.len() as u64;
            parent = Some((block.hash(), h.timestamp_ms));
        }
        if parent.map(|p| p.0) != Some(tip.hash) {
            return Err(StoreError::Integrity {
                height: tip.header.height,
                what: "the chain tip does not match the latest block".into(),
            });
        }
        let mut acc = LtHash16::new();
        let mut state_entries = 0u64;
        for item in self.db.iterator_cf(self.cf(CF_STATE)?, IteratorMode::Start) {
            let (k, v) = item.map_err(db_err("scanning state"))?;
            acc.insert(&k, &v);
            state_entries += 1;
        }
        if acc.root() != tip.header.state_root || acc != tip.accumulator {
            return Err(StoreError::Integrity {
                height: tip.header.height,
                what: format!(
                    "the stored state hashes to {}, the block's state root is {}",
                    acc.root(),
                    tip.header.state_root
                ),
            });
        }
        Ok(IntegrityReport {
            height: tip.header.height,
            transactions,
            state_entries,
        })
    }
}

/// A state key and its value.
pub type StateEntry = (Vec<u8>, Vec<u8>);

impl Store {
    /// Up to `limit` state entries whose key starts with `prefix`, from the first key
    /// after `after` (or the first), in key order: for listings (the explorer's members,
    /// schemas, records). A consistent view of one committed height only if no block
    /// commits meanwhile; readers needing that use a snapshot height of their own.
    pub fn state_scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<StateEntry>, StoreError> {
        let start: Vec<u8> = match after {
            Some(a) => {
                let mut k = a.to_vec();
                k.push(0);
                k
            }
            None => prefix.to_vec(),
        };
        let mut out = Vec::new();
        for item in self.db.iterator_cf(
            self.cf(CF_STATE)?,
            IteratorMode::From(&start, rocksdb::Direction::Forward),
        ) {
            let (k, v) = item.map_err(db_err("scanning state"))?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }
}

impl StateView for Store {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let generation = {
            let reads = self.reads.read().unwrap_or_else(|p| p.into_inner());
            if let Some(v) = reads.entries.get(key) {
                return Ok(v.clone());
            }
            reads.generation
        };
        let cf = self
            .cf(CF_STATE)
            .map_err(|e| StateError::Storage(e.to_string()))?;
        let value = self
            .db
            .get_cf(cf, key)
            .map_err(|e| StateError::Storage(e.into_string()))?;
        let mut reads = self.reads.write().unwrap_or_else(|p| p.into_inner());
        if reads.generation == generation && reads.entries.len() < READ_CACHE_ENTRIES {
            reads.entries.insert(key.to_vec(), value.clone());
        }
        Ok(value)
    }
}

/// The design note behind this crate, `docs/storage.md`: what is proved or guaranteed, and
/// why it holds (read it with `cargo doc --document-private-items`).
#[doc = include_str!("../../../docs/storage.md")]
mod notes {}
