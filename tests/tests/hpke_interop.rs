//! HPKE interop with pyhpke, an independent RFC 9180 implementation (Python), for the
//! ledger's suite (base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM):
//! - a field key wrapped by the node's code opens in pyhpke, with the binding as `info`
//!   and the reader id as `aad`;
//! - a field key sealed by pyhpke to the software backend's agreement key unwraps with the
//!   node's code, the Diffie-Hellman done by the key provider;
//! - and pyhpke refuses a wrap whose binding was changed, like the node does.
//!
//! pyhpke comes from PyPI: the test uses `LEDGER_INTEROP_PYTHON` if set, else creates a
//! virtual environment next to the target directory and installs pyhpke 0.6.5 into it.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use ledger_crypto::field::{FieldBinding, FieldKey};
use ledger_crypto::CryptoError;
use ledger_hsm::{KdfCost, KeyProvider, SoftwareProvider};
use ledger_types::{ChainId, FieldName, OrgId, RecordId, SchemaId};

const PYHPKE: &str = "pyhpke==0.6.5";

fn script() -> PathBuf {
    ledger_e2e::repo_path("tests/interop/pyhpke_interop.py")
}

/// A Python interpreter that can import pyhpke.
fn python() -> PathBuf {
    let has_pyhpke = |py: &PathBuf| {
        Command::new(py)
            .args(["-c", "import pyhpke"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if let Ok(p) = std::env::var("LEDGER_INTEROP_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            has_pyhpke(&p),
            "LEDGER_INTEROP_PYTHON={} cannot import pyhpke",
            p.display()
        );
        return p;
    }
    // <target>/debug/deps/<this test> -> <target>/interop-venv
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().unwrap().parent().unwrap().parent().unwrap();
    let venv = target.join("interop-venv");
    let py = venv.join("bin/python");
    if has_pyhpke(&py) {
        return py;
    }
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("python3 is needed for the HPKE interop test");
    assert!(
        out.status.success(),
        "creating a Python venv (install python3-venv): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&py)
        .args(["-m", "pip", "install", "--quiet", PYHPKE])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "installing {PYHPKE} from PyPI: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(has_pyhpke(&py));
    py
}

fn run(py: &PathBuf, args: &[&str]) -> Result<Vec<String>, String> {
    let out = Command::new(py).arg(script()).args(args).output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn binding(record: &str) -> FieldBinding {
    FieldBinding {
        chain_id: ChainId::new("interop-chain").unwrap(),
        record: RecordId::new(record).unwrap(),
        version: 3,
        field: FieldName::new("total").unwrap(),
        schema: SchemaId::new("invoice").unwrap(),
        schema_version: 2,
    }
}

#[test]
fn field_key_wraps_interoperate_with_pyhpke() {
    let py = python();
    let reader = OrgId::new("bank-b").unwrap();
    let b = binding("INV-7");
    let info = hex::encode(b.to_bytes());
    let aad = hex::encode(reader.as_str());

    // 1. The node's wrap, opened by pyhpke with the reader's private key.
    let sk = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let pk = p256::EncodedPoint::from(sk.public_key())
        .as_bytes()
        .to_vec();
    let key = FieldKey::generate();
    let sealed = key.seal(&b, b"120000").unwrap();
    let (enc, ct) = key.wrap(&b, &reader, &pk).unwrap();
    let sk_hex = hex::encode(sk.to_bytes());
    let opened = run(
        &py,
        &[
            "open",
            "--sk",
            &sk_hex,
            "--enc",
            &hex::encode(&enc),
            "--ct",
            &hex::encode(&ct),
            "--info",
            &info,
            "--aad",
            &aad,
        ],
    )
    .expect("pyhpke opens the node's wrap");
    // The key pyhpke recovered opens the field the node sealed: it is the same key.
    let recovered = hex::decode(&opened[0]).unwrap();
    assert_eq!(recovered.len(), 32);
    let plain = {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let (nonce, ct) = sealed[1..].split_at(12);
        aes_gcm::Aes256Gcm::new_from_slice(&recovered)
            .unwrap()
            .decrypt(
                nonce.into(),
                Payload {
                    msg: ct,
                    aad: &b.to_bytes(),
                },
            )
            .expect("the recovered key opens the sealed field")
    };
    assert_eq!(plain, b"120000");
    let other = binding("INV-8");
    let err = run(
        &py,
        &[
            "open",
            "--sk",
            &sk_hex,
            "--enc",
            &hex::encode(&enc),
            "--ct",
            &hex::encode(&ct),
            "--info",
            &hex::encode(other.to_bytes()),
            "--aad",
            &aad,
        ],
    );
    assert!(err.is_err(), "pyhpke opened a wrap under another binding");

    // 2. pyhpke's seal to the software backend's agreement key, unwrapped by the node's
    //    code with the provider doing the Diffie-Hellman.
    let dir = tempfile::tempdir().unwrap();
    let provider: Arc<dyn KeyProvider> = Arc::new(
        SoftwareProvider::open(
            dir.path(),
            zeroize::Zeroizing::new("interop passphrase".to_string()),
            KdfCost::DEFAULT,
        )
        .unwrap(),
    );
    let agreement = provider.generate_agreement_key("bank-b-agreement").unwrap();
    let data_key = [0x5au8; 32];
    let out = run(
        &py,
        &[
            "seal",
            "--pk",
            &hex::encode(&agreement),
            "--pt",
            &hex::encode(data_key),
            "--info",
            &info,
            "--aad",
            &aad,
        ],
    )
    .expect("pyhpke seals");
    let (enc, ct) = (hex::decode(&out[0]).unwrap(), hex::decode(&out[1]).unwrap());
    let dh = |e: &[u8]| {
        provider
            .ecdh("bank-b-agreement", e)
            .map_err(|e| CryptoError::KeyAgreementFailed {
                reason: e.to_string(),
            })
    };
    let unwrapped = FieldKey::unwrap(&b, &reader, &agreement, &enc, &ct, dh).unwrap();
    // The unwrapped key is pyhpke's plaintext: a value sealed under it by hand opens.
    let reference = {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let nonce = [7u8; 12];
        let ct = aes_gcm::Aes256Gcm::new((&data_key).into())
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: b"42",
                    aad: &b.to_bytes(),
                },
            )
            .unwrap();
        [&[1u8][..], &nonce, &ct].concat()
    };
    assert_eq!(unwrapped.open(&b, &reference).unwrap().as_slice(), b"42");
    // And under another binding the node refuses pyhpke's wrap.
    let dh = |e: &[u8]| {
        provider
            .ecdh("bank-b-agreement", e)
            .map_err(|e| CryptoError::KeyAgreementFailed {
                reason: e.to_string(),
            })
    };
    assert!(matches!(
        FieldKey::unwrap(&other, &reader, &agreement, &enc, &ct, dh),
        Err(CryptoError::OpenFailed { .. })
    ));
}
