//! Proofs about confidential amounts: prove and verify costs per proof kind, and the
//! throughput of verifying many single range proofs on all cores (the block-verification
//! ceiling the consensus work will be measured against).
//!
//! Run: `cargo bench --profile dev --bench proofs` (results in docs/benchmarks.md).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ledger_proofs::{
    audit_handle, prove_at_most, prove_linear, prove_range, verify_at_most, verify_audit_handle,
    verify_linear, verify_range, AuditSecret, Commitment, Context, Opening,
};

fn ctx(n: usize) -> Context {
    Context {
        chain_id: "bench".into(),
        items: (0..n)
            .map(|i| ("inv-1".to_string(), 1, format!("field{i}")))
            .collect(),
    }
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
            let threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            let start = Instant::now();
            for _ in 0..iters {
                std::thread::scope(|s| {
                    for part in many.chunks(many.len().div_ceil(threads)) {
                        s.spawn(move || {
                            for (cx, c, p) in part {
                                verify_range(cx, std::slice::from_ref(c), p).unwrap();
                            }
                        });
                    }
                });
            }
            start.elapsed()
        })
    });
    g.finish();
}

criterion_group! {
    name = proofs;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = benches
}
criterion_main!(proofs);
