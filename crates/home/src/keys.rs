//! The node's key provider, built from `[keys]`: software key files or a PKCS#11 token.
//!
//! Secrets (the store passphrase, the token PIN) come from an environment variable or a
//! file named in the configuration, never from a command-line argument, and are kept in
//! zeroizing memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger_hsm::{
    KdfCost, KeyProvider, Pkcs11Config, Pkcs11Provider, ProviderSigner, SigningAlgorithm,
    SoftwareProvider,
};
use zeroize::Zeroizing;

use crate::config::{KeyBackend, KeysConfig, NodeConfig, SigningAlgorithmName};
use crate::error::HomeError;

fn read_secret(
    what: &str,
    env: Option<&str>,
    file: Option<&Path>,
    home: &Path,
) -> Result<Zeroizing<String>, HomeError> {
    if let Some(f) = file {
        let path = NodeConfig::resolve(home, f);
        let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| HomeError::Io {
            what: format!("reading the {what} from {}", path.display()),
            reason: e.to_string(),
        })?);
        let line = Zeroizing::new(text.lines().next().unwrap_or("").to_string());
        if line.is_empty() {
            return Err(HomeError::Keys(format!(
                "{} holds no {what}",
                path.display()
            )));
        }
        return Ok(line);
    }
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Zeroizing::new(v)),
            _ => Err(HomeError::Keys(format!(
                "the {what} is read from the environment variable {var}, which is not set; set it, or name a file in config.toml"
            ))),
        };
    }
    Err(HomeError::Keys(format!(
        "config.toml names no source for the {what}: set an environment variable or a file"
    )))
}

fn hsm(e: ledger_hsm::HsmError) -> HomeError {
    HomeError::Keys(e.to_string())
}

/// Opens the configured key provider.
///
/// Fixes this process's crypto suite to the one the keys are made for (`[keys]
/// crypto_suite`), so every hash and signature that follows is of that suite, and a genesis
/// of the other suite is refused when it is read.
pub fn open_provider(home: &Path, keys: &KeysConfig) -> Result<Arc<dyn KeyProvider>, HomeError> {
    let suite = keys.crypto_suite.suite();
    suite
        .select(&format!(
            "[keys] crypto_suite in {}",
            home.join("config.toml").display()
        ))
        .map_err(|e| HomeError::Keys(e.to_string()))?;
    match keys.backend {
        KeyBackend::Software => {
            let s = &keys.software;
            let pass = read_secret(
                "key store passphrase",
                s.passphrase_env.as_deref(),
                s.passphrase_file.as_deref(),
                home,
            )?;
            let dir: PathBuf = NodeConfig::resolve(home, &s.dir);
            Ok(Arc::new(
                SoftwareProvider::open_in(suite, &dir, pass, KdfCost::DEFAULT).map_err(hsm)?,
            ))
        }
        KeyBackend::Pkcs11 => {
            let p = keys.pkcs11.as_ref().ok_or_else(|| {
                HomeError::Keys("[keys] backend is pkcs11 but [keys.pkcs11] is missing".into())
            })?;
            let pin = read_secret(
                "HSM user PIN",
                p.pin_env.as_deref(),
                p.pin_file.as_deref(),
                home,
            )?;
            let config = Pkcs11Config {
                module: p.module.clone(),
                token_label: p.token.clone(),
                pin: cryptoki::types::AuthPin::from(pin.as_str().to_string()),
                signing: match p.signing_algorithm {
                    SigningAlgorithmName::Auto => SigningAlgorithm::Auto,
                    SigningAlgorithmName::Ed25519 => SigningAlgorithm::Ed25519,
                    SigningAlgorithmName::EcdsaP256 => SigningAlgorithm::EcdsaP256,
                },
                suite,
                sm2: p.sm2.as_ref().map(sm2_mechanisms).transpose()?,
            };
            Ok(Arc::new(Pkcs11Provider::open(config).map_err(hsm)?))
        }
    }
}

fn sm2_mechanisms(c: &crate::config::Pkcs11Sm2) -> Result<ledger_hsm::Sm2Mechanisms, HomeError> {
    let spec = |field: &str, text: &str| {
        ledger_hsm::MechanismSpec::parse(text)
            .map_err(|e| HomeError::Keys(format!("[keys.pkcs11.sm2] {field}: {e}")))
    };
    Ok(ledger_hsm::Sm2Mechanisms {
        sign: spec("sign", &c.sign)?,
        key_pair_gen: spec("key_pair_gen", &c.key_pair_gen)?,
        derive: spec("derive", &c.derive)?,
        sign_input: match c.sign_input.as_str() {
            "message" => ledger_hsm::Sm2SignInput::Message,
            "prehash" => ledger_hsm::Sm2SignInput::Prehash,
            other => {
                return Err(HomeError::Keys(format!(
                    "[keys.pkcs11.sm2] sign_input: {other:?} is neither \"message\" nor \"prehash\""
                )))
            }
        },
    })
}

/// The node's signer: the configured provider's signing key.
pub fn signer(home: &Path, keys: &KeysConfig) -> Result<Arc<ProviderSigner>, HomeError> {
    let provider = open_provider(home, keys)?;
    Ok(Arc::new(
        ProviderSigner::new(provider, &keys.signing_label).map_err(hsm)?,
    ))
}
