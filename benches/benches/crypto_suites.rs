//! The two crypto suites side by side (docs/crypto-suites.md): signatures (sign a 32-byte
//! digest, verify it), hashing throughput (SHA-256, SM3), field sealing throughput
//! (AES-256-GCM, SM4-GCM, through `FieldKey::seal`) and one key wrap to a reader (HPKE over P-256, and its SM2
//! counterpart). Everything in software, on one core.
//!
//! Run: `cargo bench --profile dev --bench crypto_suites` (results in docs/benchmarks.md).

// A benchmark: a failed step must stop it where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ledger_crypto::field::{FieldBinding, FieldKey};
use ledger_crypto::sm::Sm2SoftwareKey;
use ledger_crypto::{verify_digest_any_suite, Ed25519SoftwareKey, Signer};
use ledger_types::{ChainId, CryptoSuite, FieldName, Hash, HashSuite, RecordId, SchemaId};
use p256::elliptic_curve::sec1::ToEncodedPoint;

fn signatures(c: &mut Criterion) {
    let digest = Hash([7; 32]);
    let ed = Ed25519SoftwareKey::generate();
    let sm = Sm2SoftwareKey::generate();
    let mut g = c.benchmark_group("signature");
    for (name, key) in [("ed25519", &ed as &dyn Signer), ("sm2", &sm as &dyn Signer)] {
        let pk = key.public_key();
        let sig = key.sign_digest(&digest).unwrap();
        g.bench_function(BenchmarkId::new("sign", name), |b| {
            b.iter(|| key.sign_digest(&digest).unwrap())
        });
        g.bench_function(BenchmarkId::new("verify", name), |b| {
            b.iter(|| verify_digest_any_suite(&pk, &digest, &sig).unwrap())
        });
    }
    g.finish();
}

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash");
    for size in [64usize, 1024, 65536] {
        let data = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        for suite in [HashSuite::Sha256, HashSuite::Sm3] {
            g.bench_with_input(BenchmarkId::new(suite.name(), size), &data, |b, d| {
                b.iter(|| suite.digest_raw(&[d]))
            });
        }
    }
    g.finish();
}

fn sealing(c: &mut Criterion) {
    // Through `FieldKey::seal`, as the gateway seals a field (AES-256-GCM or SM4-GCM by the
    // key's suite, a fresh nonce, the binding as associated data).
    let binding = FieldBinding {
        chain_id: ChainId::new("bench").unwrap(),
        record: RecordId::new("INV-1").unwrap(),
        version: 1,
        field: FieldName::new("total").unwrap(),
        schema: SchemaId::new("invoice").unwrap(),
        schema_version: 1,
    };
    let mut g = c.benchmark_group("field_seal");
    for size in [32usize, 1024, 65536] {
        let data = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        for (name, suite) in [
            ("aes-256-gcm", CryptoSuite::Default),
            ("sm4-gcm", CryptoSuite::Sm),
        ] {
            let key = FieldKey::generate_in(suite);
            g.bench_with_input(BenchmarkId::new(name, size), &data, |b, d| {
                b.iter(|| key.seal(&binding, d).unwrap())
            });
        }
    }
    g.finish();
}

fn wrapping(c: &mut Criterion) {
    let p256_pk = p256::SecretKey::random(&mut rand::rngs::OsRng)
        .public_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    let sm2_pk = sm2::SecretKey::random(&mut rand::rngs::OsRng)
        .public_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    let mut g = c.benchmark_group("key_wrap");
    for (suite, pk) in [(CryptoSuite::Default, &p256_pk), (CryptoSuite::Sm, &sm2_pk)] {
        g.bench_function(BenchmarkId::new("seal", suite.name()), |b| {
            b.iter(|| {
                ledger_crypto::hpke::seal_in(suite, pk, b"binding", b"reader", &[3; 32]).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = suites;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = signatures, hashing, sealing, wrapping
}
criterion_main!(suites);
