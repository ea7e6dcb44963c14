//! The SM suite on a PKCS#11 token. PKCS#11 has no standard SM2 mechanism; vendors define
//! their own and the operator names them in `[keys.pkcs11.sm2]`. SoftHSM has no SM2 signing
//! mechanism at all, so these tests check what can be checked on it honestly: the
//! configuration is required and its mechanisms are named when missing; key pairs on the
//! SM2 curve live in the token and their key agreement unwraps SM-suite field keys; and a
//! token whose "SM2" mechanism signs something else (here ECDSA on the SM2 curve) is caught
//! before its signature leaves the provider.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{config, USER_PIN};
use ledger_hsm::{
    HsmError, KeyProvider, MechanismSpec, Pkcs11Provider, Sm2Mechanisms, Sm2SignInput,
};
use ledger_types::{CryptoSuite, Hash, SignatureScheme};

fn sm_config(token: &str, sm2: Option<Sm2Mechanisms>) -> ledger_hsm::Pkcs11Config {
    let mut c = config(token, USER_PIN);
    c.suite = CryptoSuite::Sm;
    c.sm2 = sm2;
    c
}

fn mechanisms(sign: &str) -> Sm2Mechanisms {
    Sm2Mechanisms {
        key_pair_gen: MechanismSpec::parse("CKM_EC_KEY_PAIR_GEN").unwrap(),
        sign: MechanismSpec::parse(sign).unwrap(),
        sign_input: Sm2SignInput::Prehash,
        derive: MechanismSpec::parse("CKM_ECDH1_DERIVE").unwrap(),
    }
}

#[test]
fn mechanisms_parse_by_name_and_number() {
    let m = MechanismSpec::parse("CKM_SM2_SIGN=CKM_VENDOR_DEFINED+0x8001").unwrap();
    assert_eq!((m.name.as_str(), m.value), ("CKM_SM2_SIGN", 0x8000_8001));
    assert_eq!(
        MechanismSpec::parse("0x80000501").unwrap().value,
        0x8000_0501
    );
    assert_eq!(
        MechanismSpec::parse("2147484929").unwrap().value,
        0x8000_0501
    );
    assert_eq!(
        MechanismSpec::parse("CKM_ECDH1_DERIVE").unwrap().value,
        0x1050
    );
    assert_eq!(
        MechanismSpec::parse("sm2=CKM_VENDOR_DEFINED")
            .unwrap()
            .value,
        0x8000_0000
    );
    for bad in ["CKM_SM2_SIGN", "0xzz", "CKM_VENDOR_DEFINED-1", "x=CKM_NOPE"] {
        let e = MechanismSpec::parse(bad).unwrap_err();
        assert!(e.contains(bad.split('=').next().unwrap()), "{bad}: {e}");
    }
}

#[test]
fn the_sm_suite_needs_its_mechanisms_named() {
    let e = Pkcs11Provider::open(sm_config("ledger-main", None)).unwrap_err();
    assert!(matches!(e, HsmError::SmNotConfigured { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("[keys.pkcs11.sm2]"), "{text}");
    assert!(text.contains("SoftHSM has none"), "{text}");

    // A vendor mechanism this token does not offer is named with its number and purpose.
    let e = Pkcs11Provider::open(sm_config(
        "ledger-main",
        Some(mechanisms("CKM_SM2_SIGN=CKM_VENDOR_DEFINED+0x8001")),
    ))
    .unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, HsmError::VendorMechanismMissing { .. }),
        "{text}"
    );
    assert!(text.contains("CKM_SM2_SIGN (0x80008001)"), "{text}");
    assert!(text.contains("SM2 signatures"), "{text}");
}

#[test]
fn sm2_curve_keys_in_the_token_unwrap_and_a_wrong_signature_mechanism_is_caught() {
    // CKM_ECDSA stands in for a vendor's SM2 mechanism: SoftHSM offers it, and it signs on
    // the SM2 curve, but ECDSA is not SM2, so the provider must refuse what it returns.
    let p = Pkcs11Provider::open(sm_config("ledger-other", Some(mechanisms("CKM_ECDSA")))).unwrap();
    assert_eq!(p.signing_scheme(), SignatureScheme::Sm2);

    // An agreement key on the SM2 curve, generated inside the token (never extractable);
    // an SM-suite key wrap to it opens with the Diffie-Hellman done by the token.
    let point = p.generate_agreement_key("sm-agreement").unwrap();
    ledger_crypto::hpke::check_public_key_in(CryptoSuite::Sm, &point).unwrap();
    let (enc, ct) =
        ledger_crypto::hpke::seal_in(CryptoSuite::Sm, &point, b"info", b"aad", b"field key")
            .unwrap();
    let opened = ledger_crypto::hpke::open_in(
        CryptoSuite::Sm,
        &enc,
        &point,
        b"info",
        b"aad",
        &ct,
        |peer| {
            p.ecdh("sm-agreement", peer).map_err(|e| {
                ledger_crypto::CryptoError::KeyAgreementFailed {
                    reason: e.to_string(),
                }
            })
        },
    )
    .unwrap();
    assert_eq!(&*opened, b"field key");

    // A signing key on the SM2 curve; its "SM2" signature (really ECDSA) is refused.
    let pk = p.generate_signing_key("sm-signing").unwrap();
    assert_eq!(pk.scheme(), SignatureScheme::Sm2);
    let e = p.sign("sm-signing", &Hash([1; 32])).unwrap_err();
    assert!(
        e.to_string()
            .contains("does not verify with ZA over \"1234567812345678\""),
        "{e}"
    );
}
