//! A regulator's audit key: the twisted-ElGamal secret with which it decrypts sums of
//! committed amounts.
//!
//! The secret is a software scalar (no PKCS#11 mechanism does Ristretto arithmetic), so it
//! is kept the way every software secret of the node is: sealed at rest by the node's
//! sealing key inside its key provider (AES-256-GCM in the HSM), bound to the chain and
//! the organisation, unsealed only for one query and wiped when the query ends.

use std::path::{Path, PathBuf};

use ledger_hsm::KeyProvider;
use ledger_proofs::{AuditKey, AuditSecret};

use crate::error::NodeError;

/// The sealed secret's file in the node home.
pub const AUDIT_SECRET_FILE: &str = "audit-elgamal.sealed";

fn aad(chain_id: &str, org: &str) -> Vec<u8> {
    crate::sealed::aad("cl/audit-elgamal/v1", chain_id, org)
}

/// Where the sealed secret lives.
pub fn path(home: &Path) -> PathBuf {
    home.join(AUDIT_SECRET_FILE)
}

/// Generates a secret, seals it with `sealing_label` and writes it to the home; returns
/// the public audit key to register. Refuses to overwrite an existing one.
pub fn create(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<AuditKey, NodeError> {
    let secret = AuditSecret::generate();
    let bytes = zeroize::Zeroizing::new(secret.to_bytes());
    crate::sealed::seal_new(
        &path(home),
        provider,
        sealing_label,
        &aad(chain_id, org),
        bytes.as_slice(),
        "audit key",
    )?;
    Ok(secret.public())
}

/// Unseals the secret (wiped when dropped). Fails with a clear error if the file is
/// missing, altered, or sealed by another key, chain or organisation.
pub fn load(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<AuditSecret, NodeError> {
    let plain = crate::sealed::unseal(
        &path(home),
        provider,
        sealing_label,
        &aad(chain_id, org),
        "audit key",
    )?;
    AuditSecret::from_bytes(&plain)
        .map_err(|e| NodeError::Fatal(format!("the unsealed audit key is unusable: {e}")))
}

/// Checks that the sealed secret matches the audit key registered on the chain.
pub fn check(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
    registered: &[u8],
) -> Result<(), NodeError> {
    let secret = load(home, provider, sealing_label, chain_id, org)?;
    if secret.public().to_bytes().as_slice() != registered {
        return Err(NodeError::Fatal(format!(
            "the audit key sealed in {} is not the audit key registered for {org}",
            path(home).display()
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use ledger_hsm::{KdfCost, SoftwareProvider};

    #[test]
    fn the_audit_key_is_sealed_bound_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = SoftwareProvider::open(
            &dir.path().join("keys"),
            zeroize::Zeroizing::new("test passphrase".to_string()),
            KdfCost::DEFAULT,
        )
        .unwrap();
        p.generate_sealing_key("reg-seal").unwrap();
        let key = create(dir.path(), &p, "reg-seal", "chain", "reg-eu").unwrap();
        // Never in clear on disk.
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        let secret = load(dir.path(), &p, "reg-seal", "chain", "reg-eu").unwrap();
        assert_eq!(secret.public(), key);
        assert!(!text.contains(&hex::encode(secret.to_bytes())));
        check(
            dir.path(),
            &p,
            "reg-seal",
            "chain",
            "reg-eu",
            &key.to_bytes(),
        )
        .unwrap();
        // Another chain or organisation, a wrong registration, an altered file: refused.
        assert!(load(dir.path(), &p, "reg-seal", "other-chain", "reg-eu").is_err());
        assert!(load(dir.path(), &p, "reg-seal", "chain", "reg-us").is_err());
        assert!(check(dir.path(), &p, "reg-seal", "chain", "reg-eu", &[1; 32]).is_err());
        let mut bytes = hex::decode(text.trim()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(path(dir.path()), hex::encode(bytes)).unwrap();
        assert!(load(dir.path(), &p, "reg-seal", "chain", "reg-eu").is_err());
        // Created once.
        assert!(create(dir.path(), &p, "reg-seal", "chain", "reg-eu").is_err());
    }
}
