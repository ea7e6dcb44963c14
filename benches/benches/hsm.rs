//! Key-provider costs: signing and ECDH through SoftHSM (provider against raw cryptoki for
//! the same mechanism, same token, same run), an authorised single-field read whose key
//! agreement runs in SoftHSM, the software backend, and signatures per second through
//! SoftHSM with both cores.
//!
//! Run: `cargo bench --profile dev --bench hsm` (needs softhsm2; results in
//! docs/benchmarks.md).

// A benchmark: a failed step must stop it where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use ledger_crypto::record::{binding, seal_record, unwrap_key, FieldToSeal, Reader};
use ledger_crypto::CryptoError;
use ledger_hsm::{KdfCost, KeyProvider, Pkcs11Config, Pkcs11Provider, SoftwareProvider};
use ledger_types::{
    ChainId, FieldName, FieldType, Hash, OrgId, PutRecord, RecordId, RegisterSchema, SchemaField,
    SchemaId,
};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "bench-pin";

fn token() -> PathBuf {
    let dir = tempfile::tempdir().unwrap().keep();
    let out = Command::new(
        std::path::PathBuf::from(
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
        )
        .join("../hsm/softhsm-token.sh"),
    )
    .arg(&dir)
    .arg("bench-token")
    .env("HSM_SO_PIN", "bench-so-pin")
    .env("HSM_USER_PIN", PIN)
    .output()
    .expect("softhsm-token.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::env::set_var("SOFTHSM2_CONF", dir.join("softhsm2.conf"));
    dir
}

fn benches(c: &mut Criterion) {
    token();
    let provider = Arc::new(
        Pkcs11Provider::open(Pkcs11Config {
            module: MODULE.into(),
            token_label: "bench-token".into(),
            pin: AuthPin::from(PIN.to_string()),
            signing: ledger_hsm::SigningAlgorithm::Auto,
            suite: ledger_types::CryptoSuite::Default,
            sm2: None,
        })
        .unwrap(),
    );
    provider.generate_signing_key("bench-signing").unwrap();
    provider.generate_agreement_key("bench-agreement").unwrap();
    let peer = provider.generate_agreement_key("bench-peer").unwrap();
    let digest = Hash([7; 32]);

    // Raw cryptoki on the same token: one session, handles found once.
    let ctx = Pkcs11::new(MODULE).unwrap();
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim() == "bench-token")
        .unwrap();
    let session = ctx.open_rw_session(slot).unwrap();
    let _ = session.login(UserType::User, Some(&AuthPin::from(PIN.to_string())));
    let find = |label: &str, attr: Attribute| {
        session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
                attr,
            ])
            .unwrap()[0]
    };
    let sign_key = find("bench-signing", Attribute::Sign(true));
    let agree_key = find("bench-agreement", Attribute::Derive(true));
    let eddsa = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
    let derive_template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::ValueLen(32.into()),
    ];

    let mut g = c.benchmark_group("softhsm");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign_ed25519_raw_cryptoki", |b| {
        b.iter(|| session.sign(&eddsa, sign_key, &digest.0).unwrap())
    });
    g.bench_function("sign_ed25519_provider", |b| {
        b.iter(|| provider.sign("bench-signing", &digest).unwrap())
    });
    g.bench_function("ecdh_p256_raw_cryptoki", |b| {
        b.iter(|| {
            let params = Ecdh1DeriveParams::new(EcKdf::null(), &peer);
            let obj = session
                .derive_key(&Mechanism::Ecdh1Derive(params), agree_key, &derive_template)
                .unwrap();
            let v = session
                .get_attributes(obj, &[AttributeType::Value])
                .unwrap();
            session.destroy_object(obj).unwrap();
            v
        })
    });
    g.bench_function("ecdh_p256_provider", |b| {
        b.iter(|| provider.ecdh("bench-agreement", &peer).unwrap())
    });
    // An authorised single-field read: unwrap the field key (ECDH in the token, then the
    // HPKE key schedule and AEAD on the host), open the sealed value, decode it. Compare
    // with ecdh_p256_raw_cryptoki above, measured in the same run.
    let (schema, put) = field_record(&provider.agreement_public_key("bench-agreement").unwrap());
    let chain = ChainId::new("bench").unwrap();
    let field = &put.fields[0];
    let wrap = &put.wraps[0];
    let b = binding(&chain, &put.record, put.version, &field.name, &schema);
    let me = provider.agreement_public_key("bench-agreement").unwrap();
    g.bench_function("authorised_field_read", |bch| {
        bch.iter(|| {
            let dh = |enc: &[u8]| {
                provider
                    .ecdh("bench-agreement", enc)
                    .map_err(|e| CryptoError::KeyAgreementFailed {
                        reason: e.to_string(),
                    })
            };
            let key = unwrap_key(&b, wrap, &me, dh).unwrap();
            let plain = key.open(&b, &field.sealed).unwrap();
            FieldType::Amount.decode_value(&plain).unwrap()
        })
    });
    // Signatures per second with both cores: two threads, each with its own pooled session.
    g.bench_function("sign_ed25519_provider_2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for share in [iters / 2, iters - iters / 2] {
                    let p = provider.clone();
                    s.spawn(move || {
                        for _ in 0..share {
                            p.sign("bench-signing", &Hash([7; 32])).unwrap();
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    g.finish();

    let store = tempfile::tempdir().unwrap();
    let software = SoftwareProvider::open(
        store.path(),
        zeroize::Zeroizing::new("bench passphrase".to_string()),
        KdfCost::DEFAULT,
    )
    .unwrap();
    software.generate_signing_key("bench-signing").unwrap();
    software.generate_agreement_key("bench-agreement").unwrap();
    let mut g = c.benchmark_group("software_provider");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign_ed25519", |b| {
        b.iter(|| software.sign("bench-signing", &digest).unwrap())
    });
    g.bench_function("ecdh_p256", |b| {
        b.iter(|| software.ecdh("bench-agreement", &peer).unwrap())
    });
    g.finish();
}

/// A one-field record (an amount) sealed and wrapped to `reader_key`.
fn field_record(reader_key: &[u8]) -> (RegisterSchema, PutRecord) {
    let schema = RegisterSchema {
        document: None,
        schema: SchemaId::new("invoice").unwrap(),
        version: 1,
        fields: vec![SchemaField {
            name: FieldName::new("total").unwrap(),
            ty: FieldType::Amount,
            required: true,
            committed: false,
            fhe: false,
        }],
        auditors: vec![],
    };
    let put = seal_record(
        &ChainId::new("bench").unwrap(),
        &RecordId::new("INV-1").unwrap(),
        1,
        &schema,
        &[FieldToSeal {
            name: FieldName::new("total").unwrap(),
            plaintext: zeroize::Zeroizing::new(FieldType::Amount.encode_value("120000").unwrap()),
            readers: vec![Reader {
                org: OrgId::new("bench").unwrap(),
                key: reader_key.to_vec(),
            }],
        }],
    )
    .unwrap();
    (schema, put)
}

criterion_group! {
    name = hsm;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(hsm);
