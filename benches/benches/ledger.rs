//! Hot paths of a single node, without the network:
//! - admission of one transaction (decode + strict Ed25519 verification),
//! - building a 1,000-transaction block (execution, state diff, LtHash16 update),
//! - committing that block to RocksDB with a synced write.
//!
//! Run: `cargo bench --bench ledger` (results in docs/benchmarks.md).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ledger_crypto::{
    sign_commit, sign_tx, verify_tx_signature, Ed25519SoftwareKey, LtHash16, Signer,
};
use ledger_state::{build_block, ProposeParams};
use ledger_store::Store;
use ledger_types::*;

struct Setup {
    key: Ed25519SoftwareKey,
    org: OrgId,
    chain: ChainId,
    genesis: Block,
    genesis_exec: ledger_state::Execution,
}

fn setup() -> Setup {
    let key = Ed25519SoftwareKey::generate();
    let chain = ChainId::new("bench").unwrap();
    let org = OrgId::new("bank-a").unwrap();
    let reg = ledger_state::genesis::registration(
        &key,
        &chain,
        &org,
        &[Role::Validator, Role::Member],
        vec![],
    )
    .unwrap();
    let (genesis, genesis_exec) =
        ledger_state::genesis::genesis_block(&chain, 1, vec![reg]).unwrap();
    Setup {
        key,
        org,
        chain,
        genesis,
        genesis_exec,
    }
}

impl Setup {
    fn puts(&self, first_nonce: u64, n: usize) -> Vec<Transaction> {
        (0..n as u64)
            .map(|i| {
                let nonce = first_nonce + i;
                sign_tx(
                    &self.key,
                    TxBody {
                        chain_id: self.chain.clone(),
                        signer: self.org.clone(),
                        nonce,
                        payload: Payload::PutRecord(PutRecord {
                            record: RecordId::new(format!("bench-{nonce}")).unwrap(),
                            version: 1,
                            fields: vec![RecordField {
                                name: FieldName::new("payload").unwrap(),
                                blob: vec![7; 256],
                            }],
                        }),
                    },
                )
                .unwrap()
            })
            .collect()
    }

    fn params(&self) -> ProposeParams {
        ProposeParams {
            proposer: self.org.clone(),
            timestamp_ms: 2,
            max_txs: usize::MAX,
            max_bytes: usize::MAX,
        }
    }
}

fn admission(c: &mut Criterion) {
    let s = setup();
    let tx = s.puts(1, 1).remove(0);
    let bytes = tx.bytes().to_vec();
    let key = s.key.public_key();
    let mut g = c.benchmark_group("admission");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_and_verify_256B_put_record", |b| {
        b.iter(|| {
            let t = Transaction::decode(&bytes).unwrap();
            verify_tx_signature(&t, &key).unwrap();
        })
    });
    g.finish();
}

fn state(c: &mut Criterion) {
    let s = setup();
    let mut state = BTreeMap::new();
    for (k, ch) in s.genesis_exec.diff.iter() {
        state.insert(k.clone(), ch.new.clone().unwrap());
    }
    let txs = s.puts(1, 1000);
    let verified = |_: &Hash| true;
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("build_1000_put_records_preverified", |b| {
        b.iter_batched(
            || txs.clone(),
            |txs| {
                build_block(
                    &state,
                    &s.genesis_exec.accumulator,
                    s.genesis.header(),
                    &s.params(),
                    txs,
                    &verified,
                )
                .unwrap()
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
    let mut g = c.benchmark_group("lthash16");
    g.throughput(Throughput::Elements(1));
    let mut acc = LtHash16::new();
    let value = vec![1u8; 300];
    g.bench_function("insert_300B_entry", |b| {
        b.iter(|| acc.insert(b"record/bench-1/\0\0\0\x01", &value))
    });
    g.finish();
}

fn commit(c: &mut Criterion) {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.commit_block(&s.genesis, &s.genesis_exec).unwrap();
    let mut next_nonce = 1u64;
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1000));
    g.sample_size(20);
    g.bench_function("commit_1000_tx_block_synced", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let tip = store.tip().unwrap();
                let txs = s.puts(next_nonce, 1000);
                next_nonce += 1000;
                let built = build_block(
                    &store,
                    &tip.accumulator,
                    &tip.header,
                    &s.params(),
                    txs,
                    &|_: &Hash| true,
                )
                .unwrap();
                let sig = sign_commit(&s.key, &built.header.hash()).unwrap();
                let block = Block::new(
                    built.header,
                    built.txs,
                    Commit {
                        signatures: vec![CommitSignature {
                            validator: s.org.clone(),
                            signature: sig,
                        }],
                    },
                );
                let t = Instant::now();
                store.commit_block(&block, &built.execution).unwrap();
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, admission, state, commit);
criterion_main!(benches);
