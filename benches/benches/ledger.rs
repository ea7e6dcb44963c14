//! Hot paths of a single node, without the network:
//! - admission of one transaction (decode + strict Ed25519 verification),
//! - building a 1,000-transaction block (execution, state diff, LtHash16 update),
//! - committing that block to RocksDB with a synced write.
//!
//! Run: `cargo bench --bench ledger` (results in docs/benchmarks.md).

// A benchmark: a failed step must stop it where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ledger_crypto::{sign_commit, verify_tx_signature, LtHash16, Signer};
use ledger_state::testing::{payload_schema, sealed_put, TestOrg};
use ledger_state::{build_block, ProposeParams};
use ledger_store::Store;
use ledger_types::*;

struct Setup {
    bank: TestOrg,
    org: OrgId,
    chain: ChainId,
    /// Genesis, then block 1 registering schema `payload` (bank-a's nonce 1).
    blocks: Vec<(Block, ledger_state::Execution)>,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    template: PutRecord,
}

fn setup() -> Setup {
    let bank = TestOrg::new("bank-a");
    let chain = ChainId::new("bench").unwrap();
    let org = bank.id.clone();
    let reg = bank.registration(&chain, &[Role::Validator, Role::Member]);
    let (genesis, genesis_exec) =
        ledger_state::genesis::genesis_block(&chain, 1, vec![reg]).unwrap();
    let mut state = BTreeMap::new();
    for (k, ch) in genesis_exec.diff.iter() {
        state.insert(k.clone(), ch.new.clone().unwrap());
    }
    let schema = bank.sign(&chain, 1, Payload::RegisterSchema(payload_schema()));
    let params = ProposeParams {
        proposer: org.clone(),
        timestamp_ms: 2,
        max_txs: 10,
        max_bytes: 1 << 20,
    };
    let built = build_block(
        &state,
        &genesis_exec.accumulator,
        genesis.header(),
        &params,
        vec![schema],
        &(),
    )
    .unwrap();
    let sig = sign_commit(&bank.key, &built.header, 0, &org).unwrap();
    let b1 = Block::new(
        built.header,
        built.txs,
        Commit {
            round: 0,
            signatures: vec![CommitSignature {
                validator: org.clone(),
                signature: sig,
            }],
        },
    );
    for (k, ch) in built.execution.diff.iter() {
        state.insert(k.clone(), ch.new.clone().unwrap());
    }
    // One real sealing of a 256-byte field, wrapped to the owner; each benchmark record
    // reuses it under its own id. Validators cannot open ciphertext, so execution costs
    // the same as for records sealed one by one (which the gateway benchmark measures).
    let template = sealed_put(
        &chain,
        "bench-0",
        1,
        &payload_schema(),
        "payload",
        &[7; 256],
        &[&bank],
    );
    Setup {
        org,
        chain,
        blocks: vec![(genesis, genesis_exec), (b1, built.execution)],
        state,
        template,
        bank,
    }
}

impl Setup {
    fn puts(&self, first_nonce: u64, n: usize) -> Vec<Transaction> {
        (0..n as u64)
            .map(|i| {
                let nonce = first_nonce + i;
                let mut put = self.template.clone();
                put.record = RecordId::new(format!("bench-{nonce}")).unwrap();
                self.bank.sign(&self.chain, nonce, Payload::PutRecord(put))
            })
            .collect()
    }

    fn tip(&self) -> (&LtHash16, &BlockHeader) {
        let (b, ex) = &self.blocks[1];
        (&ex.accumulator, b.header())
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
    let tx = s.puts(2, 1).remove(0);
    let bytes = tx.bytes().to_vec();
    let key = s.bank.key.public_key();
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
    let state = s.state.clone();
    let (acc, tip) = s.tip();
    let txs = s.puts(2, 1000);
    let verified = |_: &Hash| true;
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("build_1000_put_records_preverified", |b| {
        b.iter_batched(
            || txs.clone(),
            |txs| build_block(&state, acc, tip, &s.params(), txs, &verified).unwrap(),
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
    for (b, ex) in &s.blocks {
        store.commit_block(b, ex).unwrap();
    }
    let mut next_nonce = 2u64;
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
                let sig = sign_commit(&s.bank.key, &built.header, 0, &s.org).unwrap();
                let block = Block::new(
                    built.header,
                    built.txs,
                    Commit {
                        round: 0,
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
