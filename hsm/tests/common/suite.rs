//! The provider test suite: every backend must pass it unchanged.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger_crypto::{verify_digest, Signer};
use ledger_hsm::{HsmError, KeyProvider, KeyPurpose, ProviderSigner};
use ledger_types::Hash;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use std::sync::Arc;

/// Signing: generate, export, sign, verify; a second key under one label is refused; an
/// unknown label is named.
pub fn signing(p: Arc<dyn KeyProvider>, label: &str) {
    let public = p.generate_signing_key(label).unwrap();
    assert_eq!(p.signing_public_key(label).unwrap(), public);
    let signer = ProviderSigner::new(p.clone(), label).unwrap();
    let digest = Hash([42; 32]);
    let sig = signer.sign_digest(&digest).unwrap();
    verify_digest(&public, &digest, &sig).unwrap();
    assert!(verify_digest(&public, &Hash([43; 32]), &sig).is_err());
    assert!(matches!(
        p.generate_signing_key(label),
        Err(HsmError::KeyExists { .. })
    ));
    match p.sign("no-such-key", &digest) {
        Err(HsmError::KeyNotFound { label, .. }) => assert_eq!(label, "no-such-key"),
        other => panic!("expected KeyNotFound, got {other:?}"),
    }
}

/// Key agreement: the provider's ECDH equals an independent software computation; a point
/// off the curve is refused.
pub fn agreement(p: Arc<dyn KeyProvider>, label: &str) {
    let point = p.generate_agreement_key(label).unwrap();
    assert_eq!(point.len(), 65);
    assert_eq!(p.agreement_public_key(label).unwrap(), point);
    let eph = p256::ecdh::EphemeralSecret::random(&mut rand::rngs::OsRng);
    let eph_point = eph.public_key().to_encoded_point(false);
    let expected = eph.diffie_hellman(&p256::PublicKey::from_sec1_bytes(&point).unwrap());
    let got = p.ecdh(label, eph_point.as_bytes()).unwrap();
    assert_eq!(got.as_slice(), expected.raw_secret_bytes().as_slice());
    let mut bad = eph_point.as_bytes().to_vec();
    bad[40] ^= 1;
    assert!(p.ecdh(label, &bad).is_err());
}

/// Sealing: round trip; a changed byte, another context or another key does not open;
/// sealing twice differs; the key is listed.
pub fn sealing(p: Arc<dyn KeyProvider>, label: &str) {
    p.generate_sealing_key(label).unwrap();
    let sealed = p.seal(label, b"ring secret", b"ctx-1").unwrap();
    assert_eq!(
        p.unseal(label, &sealed, b"ctx-1").unwrap().as_slice(),
        b"ring secret"
    );
    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(
        p.unseal(label, &tampered, b"ctx-1"),
        Err(HsmError::UnsealFailed { .. })
    ));
    assert!(matches!(
        p.unseal(label, &sealed, b"ctx-2"),
        Err(HsmError::UnsealFailed { .. })
    ));
    let other = format!("{label}-other");
    p.generate_sealing_key(&other).unwrap();
    assert!(matches!(
        p.unseal(&other, &sealed, b"ctx-1"),
        Err(HsmError::UnsealFailed { .. })
    ));
    assert_ne!(
        p.seal(label, b"x", b"").unwrap(),
        p.seal(label, b"x", b"").unwrap()
    );
    let keys = p.list_keys().unwrap();
    assert!(
        keys.iter()
            .any(|k| k.label == label && k.purpose == KeyPurpose::Sealing),
        "{keys:?}"
    );
}

/// Listing: one entry per key, with its purpose and (for key pairs) its public key.
pub fn listing(p: Arc<dyn KeyProvider>, prefix: &str) {
    let signing = format!("{prefix}-signing");
    let agreement = format!("{prefix}-agreement");
    let seal = format!("{prefix}-seal");
    let pk = p.generate_signing_key(&signing).unwrap();
    p.generate_agreement_key(&agreement).unwrap();
    p.generate_sealing_key(&seal).unwrap();
    let keys: Vec<_> = p
        .list_keys()
        .unwrap()
        .into_iter()
        .filter(|k| k.label.starts_with(prefix))
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let by = |l: &str| keys.iter().find(|k| k.label == l).unwrap();
    assert_eq!(by(&signing).purpose, KeyPurpose::Signing);
    assert_eq!(by(&signing).public.as_deref(), Some(pk.to_text().as_str()));
    assert_eq!(by(&agreement).purpose, KeyPurpose::Agreement);
    assert_eq!(by(&agreement).public.as_ref().map(String::len), Some(130));
    assert_eq!(by(&seal).purpose, KeyPurpose::Sealing);
}
