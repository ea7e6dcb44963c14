//! A member's ring key: the secret with which it endorses anonymously (linkable ring
//! signatures, `ledger_crypto::ring`). A software scalar, so kept sealed by the node's
//! sealing key in its key provider, bound to the chain and the organisation, unsealed only
//! to sign and wiped after.

use std::path::{Path, PathBuf};

use ledger_crypto::ring::RingSecret;
use ledger_hsm::KeyProvider;

use crate::error::NodeError;

/// The sealed secret's file in the node home.
pub const RING_SECRET_FILE: &str = "ring-key.sealed";

fn aad(chain_id: &str, org: &str) -> Vec<u8> {
    crate::sealed::aad("cl/ring-key/v1", chain_id, org)
}

/// Where the sealed secret lives.
pub fn path(home: &Path) -> PathBuf {
    home.join(RING_SECRET_FILE)
}

/// Generates a ring secret, seals it and writes it to the home; returns the public ring
/// key to register. Refuses to overwrite an existing one.
pub fn create(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<[u8; 32], NodeError> {
    let secret = RingSecret::generate();
    let bytes = zeroize::Zeroizing::new(secret.to_bytes());
    crate::sealed::seal_new(
        &path(home),
        provider,
        sealing_label,
        &aad(chain_id, org),
        bytes.as_slice(),
        "ring key",
    )?;
    Ok(secret.public())
}

/// Unseals the ring secret (wiped when dropped).
pub fn load(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<RingSecret, NodeError> {
    let plain = crate::sealed::unseal(
        &path(home),
        provider,
        sealing_label,
        &aad(chain_id, org),
        "ring key",
    )?;
    RingSecret::from_bytes(&plain)
        .map_err(|e| NodeError::Fatal(format!("the unsealed ring key is unusable: {e}")))
}

/// Checks that the sealed secret matches the ring key registered on the chain.
pub fn check(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
    registered: &[u8],
) -> Result<(), NodeError> {
    let secret = load(home, provider, sealing_label, chain_id, org)?;
    if secret.public().as_slice() != registered {
        return Err(NodeError::Fatal(format!(
            "the ring key sealed in {} is not the ring key registered for {org}",
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
    fn the_ring_key_is_sealed_bound_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = SoftwareProvider::open(
            &dir.path().join("keys"),
            zeroize::Zeroizing::new("test passphrase".to_string()),
            KdfCost::DEFAULT,
        )
        .unwrap();
        p.generate_sealing_key("bank-seal").unwrap();
        let public = create(dir.path(), &p, "bank-seal", "chain", "bank-a").unwrap();
        let secret = load(dir.path(), &p, "bank-seal", "chain", "bank-a").unwrap();
        assert_eq!(secret.public(), public);
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(!text.contains(&hex::encode(secret.to_bytes())));
        check(dir.path(), &p, "bank-seal", "chain", "bank-a", &public).unwrap();
        assert!(check(dir.path(), &p, "bank-seal", "chain", "bank-a", &[1; 32]).is_err());
        assert!(load(dir.path(), &p, "bank-seal", "chain", "bank-b").is_err());
        assert!(create(dir.path(), &p, "bank-seal", "chain", "bank-a").is_err());
    }
}
