//! The software signing key file: `ed25519:<64 hex digits of seed>`, mode 0600.
//!
//! This is the development key store of the foundation; the HSM key provider replaces it
//! for production. The file content is held in zeroizing memory and never logged.

use std::path::Path;

use ledger_crypto::Ed25519SoftwareKey;
use zeroize::Zeroizing;

use crate::error::NodeError;

/// Writes a new key file; refuses to overwrite one.
pub fn create(path: &Path, key: &Ed25519SoftwareKey) -> Result<(), NodeError> {
    if path.exists() {
        return Err(NodeError::Key {
            path: path.display().to_string(),
            reason: "a key file already exists; refusing to overwrite it".into(),
        });
    }
    crate::fsutil::write_file(path, key.to_key_file_text().as_bytes(), 0o600)
}

/// Reads a key file.
pub fn load(path: &Path) -> Result<Ed25519SoftwareKey, NodeError> {
    let err = |reason: String| NodeError::Key {
        path: path.display().to_string(),
        reason,
    };
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
    Ed25519SoftwareKey::from_key_file_text(&text).map_err(|e| err(e.to_string()))
}
