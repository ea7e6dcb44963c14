//! The PKCS#11 provider against a real SoftHSM2 token created by `hsm/softhsm-token.sh`.
//! Every test uses its own key labels.

mod common;

use ledger_crypto::verify_digest;
use ledger_hsm::{
    ConsensusStep, EquivocationGuard, HsmError, KeyProvider, Pkcs11Provider, ProviderSigner,
};
use ledger_types::Hash;
use std::path::PathBuf;

use common::*;

#[test]
fn provider_suite_signing_and_an_independent_client_lists_the_key() {
    let _serial = serial();
    common::suite::signing(provider(), "bank-a-signing");
    assert_eq!(
        provider()
            .signing_public_key("bank-a-signing")
            .unwrap()
            .scheme(),
        provider().signing_scheme()
    );
    let listing = pkcs11_tool(&["--list-objects"]);
    assert!(listing.contains("bank-a-signing"), "{listing}");
}

/// Error-level `log` records (cryptoki logs through `log`), kept for inspection.
struct ErrorLog(std::sync::Mutex<Vec<String>>);

impl log::Log for ErrorLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Error
    }
    fn log(&self, r: &log::Record<'_>) {
        if let (true, Ok(mut v)) = (self.enabled(r.metadata()), self.0.lock()) {
            v.push(format!("{}: {}", r.target(), r.args()));
        }
    }
    fn flush(&self) {}
}

#[test]
fn opening_a_token_logs_no_error() {
    let _serial = serial();
    static LOG: ErrorLog = ErrorLog(std::sync::Mutex::new(Vec::new()));
    log::set_logger(&LOG).unwrap();
    log::set_max_level(log::LevelFilter::Error);
    // A fresh open: SoftHSM offers mechanisms cryptoki has no name for; asking about them
    // all used to log "Mechanism type N is not supported." at ERROR, dozens per start.
    let p = Pkcs11Provider::open(config("ledger-main", USER_PIN)).unwrap();
    p.generate_signing_key("quiet-signing").unwrap();
    let errors = LOG.0.lock().unwrap().clone();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn private_keys_are_sensitive_never_extractable_and_single_use() {
    let _serial = serial();
    use cryptoki::object::{Attribute, AttributeType, ObjectClass};
    let p = provider();
    p.generate_signing_key("attr-signing").unwrap();
    p.generate_agreement_key("attr-agreement").unwrap();
    p.generate_sealing_key("attr-seal").unwrap();
    let s = raw_session("ledger-main");
    for (label, class, sign, derive) in [
        ("attr-signing", ObjectClass::PRIVATE_KEY, true, false),
        ("attr-agreement", ObjectClass::PRIVATE_KEY, false, true),
        ("attr-seal", ObjectClass::SECRET_KEY, false, false),
    ] {
        let h = s
            .find_objects(&[
                Attribute::Class(class),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .unwrap()[0];
        let attrs = s
            .get_attributes(
                h,
                &[
                    AttributeType::Token,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Sign,
                    AttributeType::Derive,
                ],
            )
            .unwrap();
        for a in &attrs {
            match a {
                Attribute::Token(v)
                | Attribute::Sensitive(v)
                | Attribute::AlwaysSensitive(v)
                | Attribute::NeverExtractable(v) => {
                    assert!(*v, "{label}: {a:?}")
                }
                Attribute::Extractable(v) => assert!(!*v, "{label}: {a:?}"),
                Attribute::Sign(v) if class == ObjectClass::PRIVATE_KEY => {
                    assert_eq!(*v, sign, "{label}")
                }
                Attribute::Derive(v) if class == ObjectClass::PRIVATE_KEY => {
                    assert_eq!(*v, derive, "{label}")
                }
                _ => {}
            }
        }
        // The key value cannot be read out.
        let value = s.get_attributes(h, &[AttributeType::Value]);
        assert!(
            !matches!(&value, Ok(v) if v.iter().any(|a| matches!(a, Attribute::Value(_)))),
            "{label}: the key value was readable"
        );
        // Nor can the sensitive attribute be flipped off.
        assert!(
            s.update_attributes(h, &[Attribute::Sensitive(false)])
                .is_err(),
            "{label}"
        );
    }
    // OpenSC's pkcs11-tool lists them with the same protection.
    let listing = pkcs11_tool(&["--list-objects", "--type", "privkey"]);
    let block = listing
        .split("Private Key Object")
        .find(|b| b.contains("label:      attr-signing"))
        .unwrap();
    assert!(
        block.contains("never extractable") && block.contains("sensitive"),
        "{block}"
    );
}

#[test]
fn provider_suite_agreement_and_sealing() {
    let _serial = serial();
    common::suite::agreement(provider(), "suite-agreement");
    common::suite::sealing(provider(), "suite-seal");
    common::suite::listing(provider(), "listed");
}

#[test]
fn wrong_pin_missing_module_and_missing_token_are_clear_errors() {
    let _serial = serial();
    tokens();
    let err = Pkcs11Provider::open(config("ledger-pin", "not-the-pin")).unwrap_err();
    assert_eq!(
        err,
        HsmError::WrongPin {
            token: "ledger-pin".into()
        }
    );
    assert!(!err.to_string().contains("not-the-pin"));
    // One refusal, one attempt: the right PIN still works, so no lockout loop ran.
    Pkcs11Provider::open(config("ledger-pin", USER_PIN)).unwrap();

    let mut c = config("ledger-main", USER_PIN);
    c.module = PathBuf::from("/nonexistent/libpkcs11.so");
    let err = Pkcs11Provider::open(c).unwrap_err();
    assert!(
        matches!(&err, HsmError::ModuleLoad { module, .. } if module == "/nonexistent/libpkcs11.so"),
        "{err}"
    );

    let err = Pkcs11Provider::open(config("no-such-token", USER_PIN)).unwrap_err();
    match &err {
        HsmError::TokenNotFound {
            token, available, ..
        } => {
            assert_eq!(token, "no-such-token");
            assert!(available.contains("ledger-main"), "{err}");
        }
        other => panic!("expected TokenNotFound, got {other:?}"),
    }
}

#[test]
fn debug_output_holds_no_pin() {
    let _serial = serial();
    let c = config("ledger-other", USER_PIN);
    assert!(!format!("{c:?}").contains(USER_PIN));
    let p = Pkcs11Provider::open(c).unwrap();
    let shown = format!("{p:?}");
    assert!(!shown.contains(USER_PIN), "{shown}");
    assert!(shown.contains("ledger-other"));
}

#[test]
fn the_guard_refuses_a_conflicting_hsm_signature_after_a_restart() {
    let _serial = serial();
    let p = provider();
    let public = p.generate_signing_key("guarded-signing").unwrap();
    let signer = ProviderSigner::new(p.clone(), "guarded-signing").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard");
    let step = ConsensusStep {
        height: 10,
        round: 0,
        step: 2,
    };
    let sig = EquivocationGuard::open(&path)
        .unwrap()
        .sign(&signer, step, &Hash([1; 32]))
        .unwrap();
    verify_digest(&public, &Hash([1; 32]), &sig).unwrap();
    // "Restart": a new guard over the same file.
    let guard = EquivocationGuard::open(&path).unwrap();
    assert!(matches!(
        guard.sign(&signer, step, &Hash([2; 32])),
        Err(HsmError::Equivocation { .. })
    ));
    assert_eq!(guard.sign(&signer, step, &Hash([1; 32])).unwrap(), sig);
}

#[test]
fn ecdsa_p256_fallback_signs_low_s_signatures_that_verify() {
    let _serial = serial();
    let mut c = config("ledger-other", USER_PIN);
    c.signing = ledger_hsm::SigningAlgorithm::EcdsaP256;
    let p = std::sync::Arc::new(Pkcs11Provider::open(c).unwrap());
    assert_eq!(
        p.signing_scheme(),
        ledger_types::SignatureScheme::EcdsaP256Sha256
    );
    common::suite::signing(p.clone(), "ecdsa-signing");
    let public = p.signing_public_key("ecdsa-signing").unwrap();
    assert_eq!(public.bytes().len(), 65);
    // Many signatures: every one is low-s (the verifier refuses high s) and verifies.
    for i in 0..32u8 {
        let d = Hash([i; 32]);
        verify_digest(&public, &d, &p.sign("ecdsa-signing", &d).unwrap()).unwrap();
    }
}

#[test]
fn hpke_wrapped_field_key_opens_with_the_dh_inside_the_token() {
    let _serial = serial();
    let p = provider();
    let pk = p.generate_agreement_key("hpke-reader").unwrap();
    let (enc, ct) = ledger_crypto::hpke::seal(
        &pk,
        b"record inv-1 field total",
        b"aad",
        b"32-byte field data key ........",
    )
    .unwrap();
    let dh = |e: &[u8]| {
        p.ecdh("hpke-reader", e)
            .map_err(|e| ledger_crypto::CryptoError::KeyAgreementFailed {
                reason: e.to_string(),
            })
    };
    let key =
        ledger_crypto::hpke::open(&enc, &pk, b"record inv-1 field total", b"aad", &ct, dh).unwrap();
    assert_eq!(key.as_slice(), b"32-byte field data key ........");
    // Another reader's key in the same token cannot open it.
    let other = p.generate_agreement_key("hpke-other").unwrap();
    let dh_other = |e: &[u8]| {
        p.ecdh("hpke-other", e)
            .map_err(|e| ledger_crypto::CryptoError::KeyAgreementFailed {
                reason: e.to_string(),
            })
    };
    assert!(ledger_crypto::hpke::open(
        &enc,
        &other,
        b"record inv-1 field total",
        b"aad",
        &ct,
        dh_other
    )
    .is_err());
}
