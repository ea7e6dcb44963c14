//! The SoftHSM fixture shared by the test binaries: one token directory per process
//! (SoftHSM reads its configuration once per process), made by `hsm/softhsm-token.sh`.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

pub mod suite;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use cryptoki::types::AuthPin;
use ledger_hsm::{Pkcs11Config, Pkcs11Provider};

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const USER_PIN: &str = "4711-test-pin";
pub const SO_PIN: &str = "so-pin-0815";

pub fn tokens() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        for label in ["ledger-main", "ledger-pin", "ledger-other"] {
            let out = Command::new(
                std::path::PathBuf::from(
                    std::env::var("CARGO_MANIFEST_DIR")
                        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
                )
                .join("softhsm-token.sh"),
            )
            .arg(&dir)
            .arg(label)
            .env("HSM_SO_PIN", SO_PIN)
            .env("HSM_USER_PIN", USER_PIN)
            .output()
            .expect("run softhsm-token.sh (is softhsm2 installed?)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::env::set_var("SOFTHSM2_CONF", dir.join("softhsm2.conf"));
        dir
    })
}

pub fn config(token: &str, pin: &str) -> Pkcs11Config {
    tokens();
    Pkcs11Config {
        module: PathBuf::from(MODULE),
        token_label: token.into(),
        pin: AuthPin::from(pin.to_string()),
        signing: ledger_hsm::SigningAlgorithm::Auto,
        suite: ledger_types::CryptoSuite::Default,
        sm2: None,
    }
}

pub fn provider() -> Arc<Pkcs11Provider> {
    static P: OnceLock<Arc<Pkcs11Provider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(Pkcs11Provider::open(config("ledger-main", USER_PIN)).unwrap()))
        .clone()
}

pub fn pkcs11_tool(args: &[&str]) -> String {
    let out = Command::new("pkcs11-tool")
        .args([
            "--module",
            MODULE,
            "--token-label",
            "ledger-main",
            "--login",
        ])
        .args(args)
        .env("SOFTHSM2_CONF", tokens().join("softhsm2.conf"))
        .env("PKCS11_PIN", USER_PIN)
        .arg("--pin")
        .arg("env:PKCS11_PIN")
        .output()
        .expect("run pkcs11-tool (is opensc installed?)");
    assert!(
        out.status.success(),
        "pkcs11-tool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A session of the test's own on `token`, logged in (cryptoki directly, not our provider).
pub fn raw_session(token: &str) -> cryptoki::session::Session {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    tokens();
    let ctx = Pkcs11::new(MODULE).unwrap();
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim() == token)
        .unwrap();
    let session = ctx.open_rw_session(slot).unwrap();
    let _ = session.login(
        cryptoki::session::UserType::User,
        Some(&AuthPin::from(USER_PIN.to_string())),
    );
    session
}

/// Token tests run one at a time: SoftHSM 2.6 has been seen answering `CKR_GENERAL_ERROR`
/// to a key generation while `pkcs11-tool` (another process) used the same token files.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
