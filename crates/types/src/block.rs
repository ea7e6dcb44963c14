//! Blocks: a header that chains to its parent and commits to transactions and state, the
//! transactions, and the commit (the signatures that finalised the block).
//!
//! Header layout (canonical encoding):
//!
//! ```text
//! u16   format version (1)
//! str   chain id
//! u64   height
//! [32]  previous block hash (zero for the genesis block)
//! u64   proposer timestamp, milliseconds since the Unix epoch
//! str   proposer (organisation id; "genesis" for the genesis block)
//! u32   transaction count
//! [32]  transaction root (RFC 6962 Merkle root of the transaction hashes)
//! [32]  state root (state after applying this block)
//! ```
//!
//! The block hash is `H("cl/block/v1", header bytes)`. A block is stored and sent as
//! `bytes header | u32 count | bytes tx... | commit`, where the commit is a list of
//! `(validator, signature)` over `H("cl/commit/v1", block hash)`.

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::hash::{Hash, HashSuite};
use crate::ids::{ChainId, OrgId};
use crate::keys::Signature;
use crate::merkle::tx_root;
use crate::tx::{Transaction, TX_HARD_MAX_BYTES};

/// The block format version this code writes and reads.
pub const BLOCK_FORMAT_VERSION: u16 = 1;
/// The proposer named in the genesis block, which no member can take.
pub const GENESIS_PROPOSER: &str = "genesis";
/// Most transactions a block can hold, whatever a node's configured limit.
pub const BLOCK_HARD_MAX_TXS: usize = 1_000_000;
/// Most signatures a commit can hold.
pub const MAX_COMMIT_SIGNATURES: usize = 1024;

const BLOCK_HASH_DOMAIN: &str = "cl/block/v1";
const VOTE_DOMAIN: &str = "cl/vote/v1";

/// A block header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHeader {
    /// The chain.
    pub chain_id: ChainId,
    /// The height: 0 for genesis, parent + 1 after.
    pub height: u64,
    /// The parent's block hash.
    pub prev_hash: Hash,
    /// The proposer's clock when it built the block (never earlier than the parent's).
    pub timestamp_ms: u64,
    /// The validator that proposed the block.
    pub proposer: OrgId,
    /// How many transactions the block holds.
    pub tx_count: u32,
    /// Merkle root of the transaction hashes.
    pub tx_root: Hash,
    /// State root after applying the block.
    pub state_root: Hash,
}

impl BlockHeader {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::with_capacity(200);
        e.u16(BLOCK_FORMAT_VERSION);
        self.chain_id.encode(&mut e);
        e.u64(self.height)
            .fixed(&self.prev_hash.0)
            .u64(self.timestamp_ms);
        self.proposer.encode(&mut e);
        e.u32(self.tx_count)
            .fixed(&self.tx_root.0)
            .fixed(&self.state_root.0);
        e.finish()
    }

    /// Reads the canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut d = Decoder::new(bytes);
        let version = d.u16("block format version")?;
        if version != BLOCK_FORMAT_VERSION {
            return Err(CodecError::UnsupportedVersion {
                what: "block header",
                got: version,
                supported: BLOCK_FORMAT_VERSION,
            });
        }
        let h = BlockHeader {
            chain_id: ChainId::decode(&mut d)?,
            height: d.u64("height")?,
            prev_hash: Hash(d.array("previous block hash")?),
            timestamp_ms: d.u64("timestamp")?,
            proposer: OrgId::decode(&mut d)?,
            tx_count: d.u32("transaction count")?,
            tx_root: Hash(d.array("transaction root")?),
            state_root: Hash(d.array("state root")?),
        };
        d.finish("block header")?;
        Ok(h)
    }

    /// The block hash of this header.
    pub fn hash(&self) -> Hash {
        block_hash(&self.encode())
    }
}

fn block_hash(header_bytes: &[u8]) -> Hash {
    HashSuite::current().digest(BLOCK_HASH_DOMAIN, &[header_bytes])
}

/// The two kinds of consensus vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VoteKind {
    /// First-phase vote.
    Prevote,
    /// Second-phase vote; a quorum of precommits for a block commits it.
    Precommit,
}

impl VoteKind {
    /// The tag in signed bytes and encodings.
    pub fn tag(self) -> u8 {
        match self {
            VoteKind::Prevote => 1,
            VoteKind::Precommit => 2,
        }
    }
}

/// The digest a validator signs for a consensus vote: domain `cl/vote/v1`, then the chain,
/// the kind, the height, the round, the block hash voted for (absent: nil) and the voter.
/// Nothing else (no timestamp, no extension), so anyone can rebuild it from a commit.
pub fn vote_digest(
    chain_id: &ChainId,
    kind: VoteKind,
    height: u64,
    round: u32,
    value: Option<&Hash>,
    validator: &OrgId,
) -> Hash {
    let mut e = Encoder::with_capacity(128);
    chain_id.encode(&mut e);
    e.u8(kind.tag()).u64(height).u32(round);
    match value {
        None => {
            e.u8(0);
        }
        Some(h) => {
            e.u8(1).fixed(&h.0);
        }
    }
    validator.encode(&mut e);
    HashSuite::current().digest(VOTE_DOMAIN, &[&e.finish()])
}

/// The digest `validator` signs to commit the block `block_hash` at `height` in `round`:
/// its precommit for that block.
pub fn commit_digest(
    chain_id: &ChainId,
    height: u64,
    round: u32,
    block_hash: &Hash,
    validator: &OrgId,
) -> Hash {
    vote_digest(
        chain_id,
        VoteKind::Precommit,
        height,
        round,
        Some(block_hash),
        validator,
    )
}

/// One validator's signature in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSignature {
    /// The validator.
    pub validator: OrgId,
    /// Its precommit signature ([`commit_digest`]) for the block.
    pub signature: Signature,
}

/// The commit certificate that finalised a block (empty for genesis): precommits of more
/// than two thirds of the validators for the block, in the round that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Commit {
    /// The consensus round that decided the block.
    pub round: u32,
    /// Signatures, at most one per validator.
    pub signatures: Vec<CommitSignature>,
}

/// A block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    header: BlockHeader,
    hash: Hash,
    /// The transactions, in execution order.
    pub txs: Vec<Transaction>,
    /// The commit.
    pub commit: Commit,
}

impl Block {
    /// Puts a block together.
    pub fn new(header: BlockHeader, txs: Vec<Transaction>, commit: Commit) -> Self {
        let hash = header.hash();
        Block {
            header,
            hash,
            txs,
            commit,
        }
    }

    /// The header.
    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// The block hash (of the header bytes as received or built).
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The height.
    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// The Merkle root of this block's transactions, recomputed.
    pub fn computed_tx_root(&self) -> Hash {
        let hashes: Vec<Hash> = self.txs.iter().map(Transaction::hash).collect();
        tx_root(HashSuite::current(), &hashes)
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let header = self.header.encode();
        let size: usize = self.txs.iter().map(|t| t.len() + 4).sum::<usize>() + header.len() + 64;
        let mut e = Encoder::with_capacity(size);
        e.bytes(&header);
        e.count(self.txs.len());
        for tx in &self.txs {
            e.bytes(tx.bytes());
        }
        e.u32(self.commit.round);
        e.count(self.commit.signatures.len());
        for s in &self.commit.signatures {
            s.validator.encode(&mut e);
            e.bytes(&s.signature.0);
        }
        e.finish()
    }

    /// The header, block hash and transaction hashes of a block's canonical encoding,
    /// without decoding its transactions or commit (for headers-only streams).
    pub fn summarize(bytes: &[u8]) -> Result<BlockSummary, CodecError> {
        let mut d = Decoder::new(bytes);
        let (header, hash) = read_header(&mut d)?;
        let n = d.count("block transactions", BLOCK_HARD_MAX_TXS, 4)?;
        let mut tx_hashes = Vec::with_capacity(n);
        for _ in 0..n {
            tx_hashes.push(Transaction::hash_of_bytes(
                d.bytes_ref("transaction", TX_HARD_MAX_BYTES)?,
            ));
        }
        Ok(BlockSummary {
            header,
            hash,
            tx_hashes,
        })
    }

    /// Transaction `index` of a block's canonical encoding, skipping over the others
    /// without decoding them (a lookup by location costs one transaction, not the block);
    /// `None` if the block holds fewer.
    pub fn transaction_at(bytes: &[u8], index: usize) -> Result<Option<Transaction>, CodecError> {
        let mut d = Decoder::new(bytes);
        read_header(&mut d)?;
        let n = d.count("block transactions", BLOCK_HARD_MAX_TXS, 4)?;
        if index >= n {
            return Ok(None);
        }
        for _ in 0..index {
            d.bytes_ref("transaction", TX_HARD_MAX_BYTES)?;
        }
        Transaction::decode(d.bytes_ref("transaction", TX_HARD_MAX_BYTES)?).map(Some)
    }

    /// The header, hash, transaction count and bytes, and commit of a block's canonical
    /// encoding, skipping over its transactions without decoding or hashing them (for
    /// listings such as the explorer's).
    pub fn outline(bytes: &[u8]) -> Result<BlockOutline, CodecError> {
        let mut d = Decoder::new(bytes);
        let (header, hash) = read_header(&mut d)?;
        let txs = d.count("block transactions", BLOCK_HARD_MAX_TXS, 4)?;
        let mut tx_bytes = 0;
        for _ in 0..txs {
            tx_bytes += d.bytes_ref("transaction", TX_HARD_MAX_BYTES)?.len();
        }
        let commit = read_commit(&mut d)?;
        d.finish("block")?;
        Ok(BlockOutline {
            header,
            hash,
            txs,
            tx_bytes,
            commit,
        })
    }

    /// Reads the canonical encoding; the block hash is taken over the header bytes read.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut d = Decoder::new(bytes);
        let (header, hash) = read_header(&mut d)?;
        let n = d.count("block transactions", BLOCK_HARD_MAX_TXS, 4)?;
        let mut txs = Vec::with_capacity(n);
        for _ in 0..n {
            txs.push(Transaction::decode(
                d.bytes_ref("transaction", TX_HARD_MAX_BYTES)?,
            )?);
        }
        let commit = read_commit(&mut d)?;
        d.finish("block")?;
        Ok(Block {
            header,
            hash,
            txs,
            commit,
        })
    }
}

/// The header (and the block hash over its bytes) a block's encoding starts with.
fn read_header(d: &mut Decoder<'_>) -> Result<(BlockHeader, Hash), CodecError> {
    let header_bytes = d.bytes_ref("block header", 4096)?;
    Ok((BlockHeader::decode(header_bytes)?, block_hash(header_bytes)))
}

/// The commit certificate a block's encoding ends with.
fn read_commit(d: &mut Decoder<'_>) -> Result<Commit, CodecError> {
    let round = d.u32("commit round")?;
    let m = d.count("commit signatures", MAX_COMMIT_SIGNATURES, 8)?;
    let mut signatures = Vec::with_capacity(m);
    for _ in 0..m {
        signatures.push(CommitSignature {
            validator: OrgId::decode(d)?,
            signature: Signature(d.bytes("commit signature", Signature::MAX_LEN)?),
        });
    }
    Ok(Commit { round, signatures })
}

/// A block's header, hash, transaction count and size, and commit certificate, read
/// without decoding its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutline {
    /// The header.
    pub header: BlockHeader,
    /// The block hash.
    pub hash: Hash,
    /// How many transactions it holds.
    pub txs: usize,
    /// Their encoded bytes.
    pub tx_bytes: usize,
    /// The commit certificate.
    pub commit: Commit,
}

/// A block's header, hash and transaction hashes, read without decoding the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSummary {
    /// The header.
    pub header: BlockHeader,
    /// The block hash.
    pub hash: Hash,
    /// The transactions' hashes, in order.
    pub tx_hashes: Vec<Hash>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outline_agrees_with_the_decoded_block() {
        let b = Block::new(
            header(),
            vec![],
            Commit {
                round: 2,
                signatures: vec![CommitSignature {
                    validator: OrgId::new("v1").unwrap(),
                    signature: Signature(vec![7; 64]),
                }],
            },
        );
        let bytes = b.encode();
        let o = Block::outline(&bytes).unwrap();
        let d = Block::decode(&bytes).unwrap();
        assert_eq!(
            (o.header, o.hash, o.txs, o.tx_bytes, o.commit),
            (d.header().clone(), d.hash(), 0, 0, d.commit.clone())
        );
        assert!(Block::outline(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn a_transaction_is_read_by_position_without_decoding_the_block() {
        let txs: Vec<Transaction> = (0..5u8)
            .map(|i| {
                let body = crate::TxBody {
                    chain_id: ChainId::new("c").unwrap(),
                    signer: OrgId::new("bank-a").unwrap(),
                    nonce: u64::from(i),
                    payload: crate::Payload::CrossCheck(crate::CrossCheck {
                        relation: crate::Relation::Linear(vec![1, -1]),
                        operands: ["r1", "r2"]
                            .map(|r| crate::Operand {
                                record: crate::RecordId::new(r).unwrap(),
                                version: 1,
                                field: crate::FieldName::new("amount").unwrap(),
                            })
                            .to_vec(),
                        proof: vec![i; 1 + usize::from(i) * 40],
                    }),
                };
                let (unsigned, _) = body.signing_bytes();
                Transaction::assemble(body, unsigned, Signature(vec![i; 64]))
            })
            .collect();
        let mut h = header();
        h.tx_count = 5;
        let b = Block::new(h, txs.clone(), Commit::default());
        let bytes = b.encode();
        for (i, t) in txs.iter().enumerate() {
            let got = Block::transaction_at(&bytes, i).unwrap().unwrap();
            assert_eq!((got.hash(), got.bytes()), (t.hash(), t.bytes()));
        }
        assert!(Block::transaction_at(&bytes, 5).unwrap().is_none());
        // A cut encoding is an error, not a wrong transaction.
        assert!(Block::transaction_at(&bytes[..bytes.len() / 2], 4).is_err());
    }

    fn header() -> BlockHeader {
        BlockHeader {
            chain_id: ChainId::new("c").unwrap(),
            height: 3,
            prev_hash: Hash([1; 32]),
            timestamp_ms: 1_700_000_000_000,
            proposer: OrgId::new("bank-a").unwrap(),
            tx_count: 0,
            tx_root: tx_root(HashSuite::current(), &[]),
            state_root: Hash([2; 32]),
        }
    }

    #[test]
    fn block_round_trip() {
        let b = Block::new(
            header(),
            vec![],
            Commit {
                round: 2,
                signatures: vec![CommitSignature {
                    validator: OrgId::new("bank-a").unwrap(),
                    signature: Signature(vec![5; 64]),
                }],
            },
        );
        let back = Block::decode(&b.encode()).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.hash(), b.header().hash());
    }

    #[test]
    fn header_change_changes_hash() {
        let a = header();
        let mut b = header();
        b.state_root = Hash([3; 32]);
        assert_ne!(a.hash(), b.hash());
    }
}
