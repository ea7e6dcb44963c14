//! SM2 signatures against an independent implementation: OpenSSL 3's `pkeyutl` verifies
//! ours and we verify its, both with the default distinguishing identifier
//! `1234567812345678` (GM/T 0009-2012; shared/test-vectors/sm-suite.json says to check SM2
//! this way rather than against a fixed vector, since signatures are randomised).
//!
//! The README's test command installs `openssl`; a missing binary fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use ledger_crypto::sm::{sm2_verify, Sm2SoftwareKey};
use ledger_crypto::Signer;
use ledger_types::{Hash, SM2_DIST_ID};

/// SubjectPublicKeyInfo header for an uncompressed SM2 point: id-ecPublicKey with the
/// curve sm2 (1.2.156.10197.1.301), then a 66-byte BIT STRING.
const SPKI_PREFIX: &str = "3059301306072a8648ce3d020106082a811ccf5501822d034200";

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs (the README's test command installs it)")
}

fn der_int(bytes: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    if v.first().is_some_and(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    [vec![2, v.len() as u8], v].concat()
}

/// `r || s` as a DER `SEQUENCE { INTEGER r, INTEGER s }`.
fn to_der(sig: &[u8]) -> Vec<u8> {
    let body = [der_int(&sig[..32]), der_int(&sig[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

/// A DER `SEQUENCE { INTEGER r, INTEGER s }` as `r || s`.
fn from_der(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30, "DER sequence");
    let mut out = Vec::new();
    let mut i = 2;
    for _ in 0..2 {
        assert_eq!(der[i], 2, "DER integer");
        let len = der[i + 1] as usize;
        let int = &der[i + 2..i + 2 + len];
        let int: Vec<u8> = int.iter().copied().skip_while(|b| *b == 0).collect();
        assert!(int.len() <= 32);
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend(int);
        i += 2 + len;
    }
    out
}

#[test]
fn openssl_verifies_our_sm2_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let key = Sm2SoftwareKey::generate();
    let digest = Hash([0x5a; 32]);
    let sig = key.sign_digest(&digest).unwrap();
    let spki = [hex::decode(SPKI_PREFIX).unwrap(), key.public_point()].concat();
    std::fs::write(dir.path().join("pub.der"), spki).unwrap();
    std::fs::write(dir.path().join("msg"), digest.0).unwrap();
    std::fs::write(dir.path().join("other"), [0x5b; 32]).unwrap();
    std::fs::write(dir.path().join("sig"), to_der(&sig.0)).unwrap();
    let verify = |msg: &str, distid: &str| {
        openssl(
            dir.path(),
            &[
                "pkeyutl",
                "-verify",
                "-pubin",
                "-keyform",
                "DER",
                "-inkey",
                "pub.der",
                "-rawin",
                "-digest",
                "sm3",
                "-in",
                msg,
                "-sigfile",
                "sig",
                "-pkeyopt",
                &format!("distid:{distid}"),
            ],
        )
    };
    let ok = verify("msg", SM2_DIST_ID);
    assert!(
        ok.status.success(),
        "OpenSSL refused our signature: {}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("Signature Verified Successfully"));
    // Another message, or another distinguishing identifier (so another ZA), is refused.
    assert!(!verify("other", SM2_DIST_ID).status.success());
    assert!(!verify("msg", "1234567812345679").status.success());
}

#[test]
fn we_verify_openssl_sm2_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let gen = openssl(
        dir.path(),
        &["genpkey", "-algorithm", "SM2", "-out", "key.pem"],
    );
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let export = openssl(
        dir.path(),
        &[
            "pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
        ],
    );
    assert!(export.status.success());
    let spki = std::fs::read(dir.path().join("pub.der")).unwrap();
    assert_eq!(hex::encode(&spki[..26]), SPKI_PREFIX);
    let point = &spki[26..];
    let digest = [0xa7u8; 32];
    std::fs::write(dir.path().join("msg"), digest).unwrap();
    // OpenSSL signs `msg` with `key.pem` under the distinguishing identifier `distid`.
    let sign = |distid: &str| {
        let out = openssl(
            dir.path(),
            &[
                "pkeyutl",
                "-sign",
                "-inkey",
                "key.pem",
                "-rawin",
                "-digest",
                "sm3",
                "-in",
                "msg",
                "-out",
                "sig",
                "-pkeyopt",
                &format!("distid:{distid}"),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        from_der(&std::fs::read(dir.path().join("sig")).unwrap())
    };
    for round in 0..3 {
        let sig = sign(SM2_DIST_ID);
        sm2_verify(point, &digest, &sig)
            .unwrap_or_else(|e| panic!("round {round}: we refused OpenSSL's signature: {e}"));
        assert!(sm2_verify(point, &[0xa8; 32], &sig).is_err());
    }
    // Signed under another identifier, the signature does not verify under the default one.
    assert!(sm2_verify(point, &digest, &sign("alice@example")).is_err());
}
