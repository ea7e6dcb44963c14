//! The analytics authority's secret (docs/fhe.md): 32 bytes from which its tfhe client key
//! is derived, kept in the node home sealed by the node's sealing key inside its key
//! provider (AES-256-GCM in the HSM), bound by associated data to what it is, the chain and
//! the organisation. Unsealed only to decrypt an accepted query's answer, wiped after.
//! The public key file the secret's keys are published in sits beside genesis.json.

use std::path::{Path, PathBuf};

use ledger_fhe::AnalyticsSecret;
use ledger_hsm::KeyProvider;

use crate::error::HomeError;
use crate::sealed::{read_sealed, write_sealed};

const WHAT: &str = "analytics key";

/// The sealed secret's file in the node home.
pub const SECRET_FILE: &str = "analytics.sealed";
/// The public analytics keys' file in the node home (beside genesis.json).
pub const KEYS_FILE: &str = "analytics-keys.bin";

fn aad(chain_id: &str, org: &str) -> Vec<u8> {
    format!("cl/fhe-analytics/v1\0{chain_id}\0{org}").into_bytes()
}

/// Where the sealed secret lives.
pub fn secret_path(home: &Path) -> PathBuf {
    home.join(SECRET_FILE)
}

/// Generates the authority's secret, seals it and writes it (hex, mode 0600); refuses to
/// overwrite one.
pub fn create(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<AnalyticsSecret, HomeError> {
    let p = secret_path(home);
    if p.exists() {
        return Err(HomeError::Sealed(format!(
            "{} already exists; the analytics key is generated once",
            p.display()
        )));
    }
    let secret = AnalyticsSecret::generate();
    write_sealed(
        &p,
        provider,
        sealing_label,
        secret.to_bytes().as_slice(),
        &aad(chain_id, org),
        WHAT,
    )?;
    Ok(secret)
}

/// Unseals the authority's secret (wiped when dropped). Fails with a clear error if the
/// file is missing, altered, or sealed by another key, chain or organisation.
pub fn load(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<AnalyticsSecret, HomeError> {
    let plain = read_sealed(
        &secret_path(home),
        provider,
        sealing_label,
        &aad(chain_id, org),
        WHAT,
    )?;
    AnalyticsSecret::from_bytes(&plain)
        .map_err(|e| HomeError::Sealed(format!("the unsealed analytics key is unusable: {e}")))
}
