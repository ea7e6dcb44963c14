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

#[test]
fn sm_suite_keys_are_sm2_in_their_own_files() {
    use ledger_types::{CryptoSuite, SignatureScheme};
    let dir = tempfile::tempdir().unwrap();
    let open_sm = || {
        SoftwareProvider::open_in(
            CryptoSuite::Sm,
            dir.path(),
            Zeroizing::new(PASSPHRASE.to_string()),
            TEST_COST,
        )
        .unwrap()
    };
    let p = open_sm();
    let pk = p.generate_signing_key("bank-sm-signing").unwrap();
    assert_eq!(pk.scheme(), SignatureScheme::Sm2);
    let digest = Hash([4; 32]);
    let sig = p.sign("bank-sm-signing", &digest).unwrap();
    ledger_crypto::sm::sm2_verify(pk.bytes(), &digest.0, &sig.0).unwrap();
    let point = p.generate_agreement_key("bank-sm-agreement").unwrap();
    let (enc, ct) =
        ledger_crypto::hpke::seal_in(CryptoSuite::Sm, &point, b"i", b"a", b"key").unwrap();
    let opened =
        ledger_crypto::hpke::open_in(CryptoSuite::Sm, &enc, &point, b"i", b"a", &ct, |e| {
            p.ecdh("bank-sm-agreement", e).map_err(|e| {
                ledger_crypto::CryptoError::KeyAgreementFailed {
                    reason: e.to_string(),
                }
            })
        })
        .unwrap();
    assert_eq!(&*opened, b"key");
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "bank-sm-agreement.sm2-agreement.key",
            "bank-sm-signing.sm2-signing.key"
        ]
    );
    // After a restart the same keys come back; the default suite's provider does not see
    // them as its own, and an SM file renamed to the default suite's name does not open.
    let again = open_sm();
    assert_eq!(again.signing_public_key("bank-sm-signing").unwrap(), pk);
    let default = open(dir.path(), PASSPHRASE);
    assert!(matches!(
        default.signing_public_key("bank-sm-signing"),
        Err(HsmError::KeyNotFound { .. })
    ));
    std::fs::copy(
        dir.path().join("bank-sm-signing.sm2-signing.key"),
        dir.path().join("bank-sm-signing.signing.key"),
    )
    .unwrap();
    assert!(default.signing_public_key("bank-sm-signing").is_err());
    let listed = again.list_keys().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed
        .iter()
        .any(|k| k.public.as_deref() == Some(pk.to_text().as_str())));
}
