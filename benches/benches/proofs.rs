//! Proofs about confidential amounts: prove and verify costs per proof kind, and the
//! throughput of verifying many single range proofs on all cores (the block-verification
//! ceiling the consensus work will be measured against).
//!
//! Run: `cargo bench --profile dev --bench proofs` (results in docs/benchmarks.md).

// A benchmark: a failed step must stop it where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ledger_proofs::{
    audit_handle, prove_at_most, prove_linear, prove_range, verify_at_most, verify_audit_handle,
    verify_linear, verify_range, AuditSecret, BatchVerifier, Commitment, Context, Opening,
};

fn ctx(n: usize) -> Context {
    Context {
        chain_id: "bench".into(),
        items: (0..n)
            .map(|i| ("inv-1".to_string(), 1, format!("field{i}")))
            .collect(),
    }
}

/// `iters` times: `items` split in one share per core, `work` on each share in its own
/// thread; the time taken.
fn on_all_cores<T: Sync>(items: &[T], iters: u64, work: impl Fn(&[T]) + Sync) -> Duration {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let start = Instant::now();
    for _ in 0..iters {
        std::thread::scope(|s| {
            for part in items.chunks(items.len().div_ceil(threads)) {
                let work = &work;
                s.spawn(move || work(part));
            }
        });
    }
    start.elapsed()
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("proofs");
    for n in [1usize, 8] {
        let openings: Vec<Opening> = (0..n).map(|i| Opening::new(1_000 + i as u64)).collect();
        let commitments: Vec<Commitment> = openings.iter().map(Opening::commit).collect();
        let cx = ctx(n);
        let proof = prove_range(&cx, &openings).unwrap();
        g.bench_function(format!("range_prove_{n}"), |b| {
            b.iter(|| prove_range(&cx, &openings).unwrap())
        });
        g.bench_function(format!("range_verify_{n}"), |b| {
            b.iter(|| verify_range(&cx, &commitments, &proof).unwrap())
        });
    }
    let (a, b2) = (Opening::new(990), Opening::new(990));
    let cx = ctx(2);
    let eq = prove_linear(&cx, &[1, -1], &[a.clone(), b2.clone()]).unwrap();
    let cs = [a.commit(), b2.commit()];
    g.bench_function("equality_prove", |b| {
        b.iter(|| prove_linear(&cx, &[1, -1], &[a.clone(), b2.clone()]).unwrap())
    });
    g.bench_function("equality_verify", |b| {
        b.iter(|| verify_linear(&cx, &[1, -1], &cs, &eq).unwrap())
    });
    let fin = Opening::new(800);
    let at_most = prove_at_most(&cx, &fin, &a).unwrap();
    g.bench_function("at_most_verify", |b| {
        b.iter(|| verify_at_most(&cx, &fin.commit(), &a.commit(), &at_most).unwrap())
    });
    let secret = AuditSecret::generate();
    let key = secret.public();
    let cx1 = ctx(1);
    let (h, hp) = audit_handle(&cx1, &a, &key).unwrap();
    g.bench_function("audit_handle_prove", |b| {
        b.iter(|| audit_handle(&cx1, &a, &key).unwrap())
    });
    g.bench_function("audit_handle_verify", |b| {
        b.iter(|| verify_audit_handle(&cx1, &a.commit(), &key, &h, &hp).unwrap())
    });
    // Verifying many single range proofs on all cores.
    let many: Vec<(Context, Commitment, ledger_proofs::RangeProofData)> = (0..64)
        .map(|i| {
            let cx = Context {
                chain_id: "bench".into(),
                items: vec![(format!("inv-{i}"), 1, "total".into())],
            };
            let o = Opening::new(i);
            let p = prove_range(&cx, std::slice::from_ref(&o)).unwrap();
            (cx, o.commit(), p)
        })
        .collect();
    g.throughput(Throughput::Elements(64));
    g.bench_function("range_verify_64_on_all_cores", |b| {
        b.iter_custom(|iters| {
            on_all_cores(&many, iters, |part| {
                for (cx, c, p) in part {
                    verify_range(cx, std::slice::from_ref(c), p).unwrap();
                }
            })
        })
    });
    g.bench_function("range_batch_verify_64_one_core", |b| {
        b.iter(|| {
            let mut batch = BatchVerifier::new();
            for (cx, c, p) in &many {
                batch.add_range(cx, std::slice::from_ref(c), p).unwrap();
            }
            batch.verify().unwrap()
        })
    });
    g.bench_function("range_batch_verify_64_on_all_cores", |b| {
        b.iter_custom(|iters| {
            on_all_cores(&many, iters, |part| {
                let mut batch = BatchVerifier::new();
                for (cx, c, p) in part {
                    batch.add_range(cx, std::slice::from_ref(c), p).unwrap();
                }
                batch.verify().unwrap()
            })
        })
    });
    let handles: Vec<_> = many
        .iter()
        .map(|(cx, _, _)| {
            let o = Opening::new(5);
            let (h, p) = audit_handle(cx, &o, &key).unwrap();
            (cx, o.commit(), h, p)
        })
        .collect();
    g.bench_function("audit_handle_batch_verify_64_one_core", |b| {
        b.iter(|| {
            let mut batch = BatchVerifier::new();
            for (cx, c, h, p) in &handles {
                batch.add_audit_handle(cx, c, &key, h, p).unwrap();
            }
            batch.verify().unwrap()
        })
    });
    g.finish();
}

/// A chain with bank-a (validator, member) and schema `loan` (one committed amount), and
/// a block of `n` loan records each carrying a range proof.
/// A state, and a block on it, as a validator receives them.
type BlockOnState = (
    std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
    ledger_crypto::LtHash16,
    ledger_types::BlockHeader,
    ledger_types::Block,
);

/// A block of `n` confidential `PutRecord`s (each one committed amount with its range
/// proof) on the state before it; then, on the state after it, a block of `n` equality
/// cross-checks, check `i` proving record `i`'s amount equal to record `i - 1`'s (record
/// 0's to record `n - 1`'s): the two kinds of transaction `ledger load --confidential`
/// sends, in the blocks they commit in.
fn confidential_blocks(n: usize) -> (BlockOnState, BlockOnState) {
    use ledger_state::testing::TestOrg;
    use ledger_types::*;
    let bank = TestOrg::new("bank-a");
    let chain = ChainId::new("bench").unwrap();
    let (genesis, ex) = ledger_state::genesis::genesis_block(
        &chain,
        1,
        vec![bank.registration(&chain, &[Role::Validator, Role::Member])],
    )
    .unwrap();
    let mut state = std::collections::BTreeMap::new();
    for (k, c) in ex.diff.iter() {
        state.insert(k.clone(), c.new.clone().unwrap());
    }
    let schema = RegisterSchema {
        document: None,
        schema: SchemaId::new("loan").unwrap(),
        version: 1,
        fields: vec![SchemaField {
            name: FieldName::new("amount").unwrap(),
            ty: FieldType::Amount,
            required: true,
            committed: true,
            fhe: false,
        }],
        auditors: vec![],
    };
    let params = |max| ledger_state::ProposeParams {
        proposer: bank.id.clone(),
        timestamp_ms: 2,
        max_txs: max,
        max_bytes: usize::MAX,
    };
    let b1 = ledger_state::build_block(
        &state,
        &ex.accumulator,
        genesis.header(),
        &params(10),
        vec![bank.sign(&chain, 1, Payload::RegisterSchema(schema.clone()))],
        &(),
    )
    .unwrap();
    for (k, c) in b1.execution.diff.iter() {
        state.insert(k.clone(), c.new.clone().unwrap());
    }
    // One amount for all (different blindings), so that any two can be proved equal.
    let openings: Vec<Opening> = (0..n).map(|_| Opening::new(1_000)).collect();
    let txs: Vec<Transaction> = (0..n)
        .map(|i| {
            let record = format!("loan-{i}");
            let opening = openings[i].clone();
            let mut put = ledger_state::testing::sealed_put(
                &chain,
                &record,
                1,
                &schema,
                "amount",
                &opening.to_bytes(),
                &[&bank],
            );
            let cx = Context {
                chain_id: chain.to_string(),
                items: vec![(record, 1, "amount".into())],
            };
            let proof = prove_range(&cx, std::slice::from_ref(&opening)).unwrap();
            put.commitments = vec![FieldCommitment {
                field: FieldName::new("amount").unwrap(),
                commitment: opening.commit().to_bytes(),
            }];
            put.range_proof = Some(RecordRangeProof {
                padding: proof.padding.iter().map(|p| p.to_bytes()).collect(),
                proof: proof.proof,
            });
            bank.sign(&chain, 2 + i as u64, Payload::PutRecord(put))
        })
        .collect();
    let built = ledger_state::build_block(
        &state,
        &b1.execution.accumulator,
        &b1.header,
        &params(n),
        txs.clone(),
        &|_: &Hash| true,
    )
    .unwrap();
    let puts = Block::new(built.header.clone(), built.txs, Commit::default());
    let mut after = state.clone();
    for (k, c) in built.execution.diff.iter() {
        match &c.new {
            Some(v) => after.insert(k.clone(), v.clone()),
            None => after.remove(k),
        };
    }
    let amount = FieldName::new("amount").unwrap();
    let checks: Vec<Transaction> = (0..n)
        .map(|i| {
            let j = (i + n - 1) % n;
            let (a, b) = (format!("loan-{i}"), format!("loan-{j}"));
            let cx = Context {
                chain_id: chain.to_string(),
                items: vec![
                    (a.clone(), 1, "amount".into()),
                    (b.clone(), 1, "amount".into()),
                ],
            }
            .filed_by("bank-a");
            let proof =
                prove_linear(&cx, &[1, -1], &[openings[i].clone(), openings[j].clone()]).unwrap();
            let operand = |r: String| Operand {
                record: RecordId::new(r).unwrap(),
                version: 1,
                field: amount.clone(),
            };
            bank.sign(
                &chain,
                2 + (n + i) as u64,
                Payload::CrossCheck(CrossCheck {
                    relation: Relation::Linear(vec![1, -1]),
                    operands: vec![operand(a), operand(b)],
                    proof: proof.to_bytes().to_vec(),
                }),
            )
        })
        .collect();
    let built_checks = ledger_state::build_block(
        &after,
        &built.execution.accumulator,
        puts.header(),
        &params(n),
        checks,
        &|_: &Hash| true,
    )
    .unwrap();
    assert_eq!(built_checks.txs.len(), n, "{:?}", built_checks.dropped);
    let check_block = Block::new(built_checks.header, built_checks.txs, Commit::default());
    (
        (state, b1.execution.accumulator, b1.header, puts),
        (
            after,
            built.execution.accumulator,
            built.header,
            check_block,
        ),
    )
}

fn block_verification(c: &mut Criterion) {
    let (puts, checks) = confidential_blocks(64);
    let mut g = c.benchmark_group("block");
    g.sample_size(10);
    g.throughput(Throughput::Elements(64));
    // As a validator verifies a block none of whose transactions it admitted: signatures
    // and every core's share of the proofs as one batch (`preverify`), then execution.
    let verify = |(state, acc, parent, block): &BlockOnState| {
        let txs: Vec<&ledger_types::Transaction> = block.txs.iter().collect();
        let ok = ledger_state::preverify(
            &state,
            &block.header().chain_id,
            block.header().height,
            &txs,
        );
        assert_eq!(ok.len(), 64);
        let ex =
            ledger_state::execute_block(state, acc, parent, block, &|h: &ledger_types::Hash| {
                ok.contains(h)
            })
            .unwrap();
        assert!(ex
            .outcomes
            .iter()
            .all(|o| *o == ledger_state::TxOutcome::Applied));
        ex
    };
    g.bench_function("verify_64_confidential_puts_all_cores", |b| {
        b.iter(|| verify(&puts))
    });
    g.bench_function("verify_64_equality_checks_all_cores", |b| {
        b.iter(|| verify(&checks))
    });
    g.finish();
}

criterion_group! {
    name = proofs;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = benches, block_verification
}
criterion_main!(proofs);
