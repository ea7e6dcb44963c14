//! Field encryption on the writer's side: sealing a 10-field record and wrapping each
//! field key to 3 readers (30 HPKE seals, 10 AES-256-GCM seals), as the gateway does for
//! every put.
//!
//! Run: `cargo bench --profile dev --bench encryption` (results in docs/benchmarks.md).

// A benchmark: a failed step must stop it where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ledger_crypto::record::{seal_record, FieldToSeal, Reader};
use ledger_types::{
    ChainId, FieldName, FieldType, OrgId, RecordId, RegisterSchema, SchemaField, SchemaId,
};

fn benches(c: &mut Criterion) {
    let names: Vec<String> = (0..10).map(|i| format!("field{i:02}")).collect();
    let schema = RegisterSchema {
        document: None,
        schema: SchemaId::new("invoice").unwrap(),
        version: 1,
        fields: names
            .iter()
            .map(|n| SchemaField {
                name: FieldName::new(n.clone()).unwrap(),
                ty: FieldType::Text,
                required: false,
                committed: false,
                fhe: false,
            })
            .collect(),
        auditors: vec![],
    };
    let readers: Vec<Reader> = ["bank-a", "bank-b", "reg-eu"]
        .iter()
        .map(|o| {
            let sk = p256::SecretKey::random(&mut rand::rngs::OsRng);
            Reader {
                org: OrgId::new(*o).unwrap(),
                key: p256::EncodedPoint::from(sk.public_key())
                    .as_bytes()
                    .to_vec(),
            }
        })
        .collect();
    let chain = ChainId::new("bench").unwrap();
    let record = RecordId::new("INV-1").unwrap();
    let mut g = c.benchmark_group("encryption");
    g.throughput(Throughput::Elements(10));
    g.bench_function("seal_and_wrap_10_fields_3_readers", |b| {
        b.iter(|| {
            let fields: Vec<FieldToSeal> = names
                .iter()
                .map(|n| FieldToSeal {
                    name: FieldName::new(n.clone()).unwrap(),
                    plaintext: zeroize::Zeroizing::new(vec![b'x'; 32]),
                    readers: readers.clone(),
                })
                .collect();
            seal_record(&chain, &record, 1, &schema, &fields).unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = encryption;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(encryption);
