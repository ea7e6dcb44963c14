//! Encrypted analytics (issue 18): tfhe's FheUint64 addition, comparison and summation on
//! this machine, then what the ledger does with them: proving and verifying an encrypted
//! amount, and exposure and concentration queries over N amounts, with key and ciphertext
//! sizes and key generation time printed first.
//!
//! Run: `cargo bench --profile dev --bench fhe` (results in docs/benchmarks.md).

// A benchmark: a failed step must stop it where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ledger_fhe::{
    encrypt_amount, AnalyticsSecret, Evaluator, Profile, PublicKeys, Query, FHE_THREADS,
};
use tfhe::prelude::*;
use tfhe::{ClientKey, FheUint64, ServerKey};

fn raw_ops(c: &mut Criterion) {
    let mut g = c.benchmark_group("tfhe");
    g.sample_size(10).warm_up_time(Duration::from_millis(500));
    let ck = ClientKey::generate(ledger_fhe::tfhe_config());
    let sk = ServerKey::new(&ck);
    tfhe::set_server_key(sk);
    let xs: Vec<FheUint64> = (0..64u64)
        .map(|i| FheUint64::encrypt(1_000_000 + i, &ck))
        .collect();
    g.bench_function("uint64_add", |b| b.iter(|| &xs[0] + &xs[1]));
    g.bench_function("uint64_overflowing_add", |b| {
        b.iter(|| (&xs[0]).overflowing_add(&xs[1]))
    });
    g.bench_function("uint64_gt_scalar", |b| b.iter(|| xs[0].gt(5_000_000u64)));
    for n in [16usize, 64] {
        g.bench_function(format!("uint64_sum_{n}"), |b| {
            b.iter(|| xs[..n].iter().sum::<FheUint64>())
        });
    }
    tfhe::unset_server_key();
    g.finish();
}

fn ledger(c: &mut Criterion) {
    let start = Instant::now();
    let secret = AnalyticsSecret::generate();
    let keys = PublicKeys::generate(&secret, Profile::Standard).unwrap();
    let keygen = start.elapsed();
    let [cpk, sks, crs] = keys.sizes().unwrap();
    let start = Instant::now();
    let eval = Evaluator::new(&keys).unwrap();
    let decompress = start.elapsed();
    let amount = encrypt_amount(&keys, 125_000_000, b"bench/ctx").unwrap();
    eprintln!(
        "analytics keys (standard profile): generated in {:.1} s; compact public key {} B, compressed server key {} B, CRS {} B; server key decompressed in {:.1} s; encrypted amount with proof {} B; queries run on {FHE_THREADS} threads",
        keygen.as_secs_f64(),
        cpk,
        sks,
        crs,
        decompress.as_secs_f64(),
        amount.as_bytes().len()
    );
    let mut g = c.benchmark_group("analytics");
    g.sample_size(10).warm_up_time(Duration::from_millis(500));
    g.bench_function("amount_encrypt_and_prove", |b| {
        b.iter(|| encrypt_amount(&keys, 125_000_000, b"bench/ctx").unwrap())
    });
    g.bench_function("amount_verify", |b| {
        b.iter(|| eval.check_amount(&amount, b"bench/ctx").unwrap())
    });
    g.finish();
    // Queries take seconds to a minute each: three runs, the median (criterion's ten
    // samples would take most of an hour for N = 64 on two cores).
    let amounts: Vec<_> = (0..64u64)
        .map(|i| encrypt_amount(&keys, 1_000_000 + i, format!("bench/{i}").as_bytes()).unwrap())
        .collect();
    let median = |q: Query, n: usize| {
        // Four banks, the amounts shared among them.
        let groups: Vec<Vec<_>> = (0..4)
            .map(|b| amounts[..n].iter().skip(b).step_by(4).cloned().collect())
            .collect();
        let mut t: Vec<f64> = (0..3)
            .map(|_| {
                let start = Instant::now();
                eval.run(&q, &groups, &mut |_| {}).unwrap();
                start.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        eprintln!(
            "analytics/{q:?} over {n} amounts in 4 banks: median {:.2} s (runs {:.2} {:.2} {:.2})",
            t[1], t[0], t[1], t[2]
        );
    };
    for n in [1usize, 16, 64] {
        median(Query::Exposure { limit: 10_000_000 }, n);
    }
    median(Query::Concentration { share_percent: 40 }, 16);
}

criterion_group!(benches, raw_ops, ledger);
criterion_main!(benches);
