//! The software provider: the same suite as the PKCS#11 provider, plus what is particular
//! to keys in passphrase-sealed files.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use ledger_hsm::{HsmError, KdfCost, KeyProvider, SoftwareProvider};
use ledger_types::Hash;
use zeroize::Zeroizing;

/// Cheap KDF cost for tests (the default is 19 MiB, 2 passes).
const TEST_COST: KdfCost = KdfCost {
    m_cost: 1024,
    t_cost: 1,
    p_cost: 1,
};
const PASSPHRASE: &str = "correct horse battery staple";

fn open(dir: &std::path::Path, pass: &str) -> Arc<SoftwareProvider> {
    Arc::new(SoftwareProvider::open(dir, Zeroizing::new(pass.to_string()), TEST_COST).unwrap())
}

#[test]
fn provider_suite() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), PASSPHRASE);
    common::suite::signing(p.clone(), "bank-a-signing");
    common::suite::agreement(p.clone(), "bank-a-agreement");
    common::suite::sealing(p.clone(), "bank-a-seal");
    common::suite::listing(p, "listed");
}

#[test]
fn keys_persist_sealed_and_only_the_passphrase_opens_them() {
    let dir = tempfile::tempdir().unwrap();
    let public = open(dir.path(), PASSPHRASE)
        .generate_signing_key("node")
        .unwrap();
    let file = dir.path().join("node.signing.key");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let reopened = open(dir.path(), PASSPHRASE);
    assert_eq!(reopened.signing_public_key("node").unwrap(), public);
    let sig = reopened.sign("node", &Hash([1; 32])).unwrap();
    ledger_crypto::verify_digest(&public, &Hash([1; 32]), &sig).unwrap();

    let wrong = open(dir.path(), "wrong passphrase");
    assert!(matches!(
        wrong.sign("node", &Hash([1; 32])),
        Err(HsmError::WrongPassphrase { .. })
    ));

    // A key file renamed to another label does not open under that label.
    std::fs::copy(&file, dir.path().join("other.signing.key")).unwrap();
    assert!(matches!(
        open(dir.path(), PASSPHRASE).sign("other", &Hash([1; 32])),
        Err(HsmError::WrongPassphrase { .. })
    ));

    // A changed byte does not open either.
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    assert!(open(dir.path(), PASSPHRASE)
        .sign("node", &Hash([1; 32]))
        .is_err());
}

#[test]
fn debug_and_errors_hold_no_passphrase_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(dir.path(), PASSPHRASE);
    p.generate_signing_key("node").unwrap();
    let shown = format!("{p:?}");
    assert!(
        !shown.contains(PASSPHRASE) && !shown.contains("correct horse"),
        "{shown}"
    );
    let err = open(dir.path(), "nope")
        .sign("node", &Hash([0; 32]))
        .unwrap_err()
        .to_string();
    assert!(!err.contains("nope") && !err.contains(PASSPHRASE), "{err}");
    assert!(matches!(
        SoftwareProvider::open(dir.path(), Zeroizing::new(String::new()), TEST_COST),
        Err(HsmError::WrongPassphrase { .. })
    ));
}
