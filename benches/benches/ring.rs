//! Linkable ring signatures: sign and verify at ring sizes 4, 16 and 64, beside the cost
//! of the scheme's scalar multiplications done as one multiscalar multiplication (the
//! reference the target is stated against), measured in the same run; and 16
//! signatures verified as one batch, as block validation does.
//!
//! Run: `cargo bench --profile dev --bench ring` (results in docs/benchmarks.md).

// A benchmark: a failed step must stop it where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use ledger_crypto::ring::{ring_sign, ring_verify, RingBatch, RingSecret};

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring");
    g.sample_size(20);
    for n in [4usize, 16, 64] {
        let secrets: Vec<RingSecret> = (0..n).map(|_| RingSecret::generate()).collect();
        let keys: Vec<[u8; 32]> = secrets.iter().map(RingSecret::public).collect();
        let j = n / 2;
        g.bench_function(format!("sign_{n}"), |b| {
            b.iter(|| ring_sign("bench", b"topic", b"statement", &keys, j, &secrets[j]).unwrap())
        });
        let sig = ring_sign("bench", b"topic", b"statement", &keys, j, &secrets[j]).unwrap();
        g.bench_function(format!("verify_{n}"), |b| {
            b.iter(|| ring_verify("bench", b"topic", b"statement", &keys, &sig).unwrap())
        });
        // A block's endorsements: 16 signatures over one ring on 16 topics, checked as one
        // batch (as block validation does on each core).
        let sigs: Vec<_> = (0..16)
            .map(|i| {
                let topic = format!("topic-{i}").into_bytes();
                let sig = ring_sign("bench", &topic, b"statement", &keys, i % n, &secrets[i % n])
                    .unwrap();
                (topic, sig)
            })
            .collect();
        g.bench_function(format!("verify_batch_16x{n}"), |b| {
            b.iter(|| {
                let mut batch = RingBatch::new();
                for (topic, sig) in &sigs {
                    batch.add("bench", topic, b"statement", &keys, sig).unwrap();
                }
                batch.verify().unwrap()
            })
        });
        // The scheme's scalar multiplications: s_i·G, c_i·P_i, s_i·T, c_i·I per member,
        // 4n of them, as one multiscalar multiplication over 4n points.
        let points: Vec<RistrettoPoint> = (0..4 * n)
            .map(|_| RistrettoPoint::random(&mut rand::rngs::OsRng))
            .collect();
        let scalars: Vec<Scalar> = (0..4 * n)
            .map(|_| Scalar::random(&mut rand::rngs::OsRng))
            .collect();
        g.bench_function(format!("msm_4n_{n}"), |b| {
            b.iter(|| RistrettoPoint::vartime_multiscalar_mul(&scalars, &points))
        });
    }
    g.finish();
}

criterion_group! {
    name = ring;
    config = Criterion::default().measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(ring);
