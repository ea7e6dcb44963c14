//! Software secrets kept at rest sealed by the node's sealing key inside its key provider
//! (AES-256-GCM in the HSM), bound by associated data to what they are, the chain and the
//! organisation; unsealed only when used, wiped after.

use std::path::Path;

use ledger_hsm::KeyProvider;
use zeroize::Zeroizing;

use crate::error::NodeError;

/// The associated data binding a sealed secret: its kind, the chain and the organisation.
pub fn aad(kind: &str, chain_id: &str, org: &str) -> Vec<u8> {
    format!("{kind}\0{chain_id}\0{org}").into_bytes()
}

/// Seals `secret` to a new file (hex, mode 0600); refuses to overwrite one. `what` names
/// the secret in errors.
pub fn seal_new(
    path: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    aad: &[u8],
    secret: &[u8],
    what: &str,
) -> Result<(), NodeError> {
    if path.exists() {
        return Err(NodeError::Fatal(format!(
            "{} already exists; the {what} is generated once",
            path.display()
        )));
    }
    let sealed = provider
        .seal(sealing_label, secret, aad)
        .map_err(|e| NodeError::Fatal(format!("sealing the {what}: {e}")))?;
    crate::fsutil::write_file(path, hex::encode(sealed).as_bytes(), 0o600)
}

/// Unseals a file written by [`seal_new`]. Fails with a clear error if it is missing,
/// altered, or sealed by another key, chain or organisation.
pub fn unseal(
    path: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    aad: &[u8],
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, NodeError> {
    let text = std::fs::read_to_string(path).map_err(|e| NodeError::Io {
        what: format!("reading the sealed {what} {}", path.display()),
        reason: e.to_string(),
    })?;
    let sealed = hex::decode(text.trim()).map_err(|_| {
        NodeError::Fatal(format!(
            "{} is not hex: the file is damaged",
            path.display()
        ))
    })?;
    provider.unseal(sealing_label, &sealed, aad).map_err(|e| {
        NodeError::Fatal(format!(
            "unsealing the {what} {}: {e} (altered, or sealed by another key, chain or organisation)",
            path.display()
        ))
    })
}
