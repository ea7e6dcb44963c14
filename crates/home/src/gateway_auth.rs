//! Gateway client credentials: each client of the organisation-private gateway has a name
//! and a random 256-bit bearer token. The node keeps only the tokens' SHA-256 hashes (in
//! `gateway-clients.toml`), so the file reveals no credential; a token is shown once, when
//! it is issued.

use std::path::Path;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::HomeError;

/// Prefix of every gateway token, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "clgw-";

/// One registered client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GatewayClient {
    /// The client's name, shown in logs and in the audit log.
    pub name: String,
    /// SHA-256 of its token, hex.
    pub token_sha256: String,
}

/// The clients file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayClients {
    /// The clients.
    #[serde(default, rename = "client")]
    pub clients: Vec<GatewayClient>,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl GatewayClients {
    /// Reads the clients file (absent: no clients).
    pub fn load(path: &Path) -> Result<Self, HomeError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| HomeError::Config {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(HomeError::Io {
                what: format!("reading {}", path.display()),
                reason: e.to_string(),
            }),
        }
    }

    /// Writes the clients file (owner read/write only).
    pub fn save(&self, path: &Path) -> Result<(), HomeError> {
        let text = toml::to_string_pretty(self).map_err(|e| HomeError::Config {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let text = format!(
            "# Gateway clients: names and SHA-256 hashes of their bearer tokens.\n# Add one with `ledger-node gateway-client add`; remove one by deleting its entry.\n\n{text}"
        );
        crate::fsutil::write_file(path, text.as_bytes(), 0o600)
    }

    /// Issues a token for a new client `name` and returns it (shown once, never stored).
    pub fn add(&mut self, name: &str) -> Result<Zeroizing<String>, HomeError> {
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(HomeError::Credentials(format!(
                "gateway client name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
            )));
        }
        if self.clients.iter().any(|c| c.name == name) {
            return Err(HomeError::Credentials(format!(
                "a gateway client named {name} exists already; remove its entry first to reissue"
            )));
        }
        let mut raw = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(raw.as_mut());
        let token = Zeroizing::new(format!("{TOKEN_PREFIX}{}", hex::encode(raw.as_ref())));
        self.clients.push(GatewayClient {
            name: name.to_string(),
            token_sha256: hash(&token),
        });
        Ok(token)
    }

    /// The client a presented token belongs to.
    ///
    /// Compares SHA-256 hashes, so timing reveals nothing useful about stored hashes.
    pub fn authenticate(&self, token: &str) -> Option<&GatewayClient> {
        let h = hash(token);
        self.clients.iter().find(|c| c.token_sha256 == h)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_authenticate_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.toml");
        let mut c = GatewayClients::default();
        let erp = c.add("erp").unwrap();
        let cli = c.add("cli").unwrap();
        assert!(c.add("erp").is_err(), "duplicate name");
        assert!(c.add("bad name").is_err());
        c.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(erp.as_str()), "the file holds hashes only");
        let c = GatewayClients::load(&path).unwrap();
        assert_eq!(c.authenticate(&erp).unwrap().name, "erp");
        assert_eq!(c.authenticate(&cli).unwrap().name, "cli");
        assert!(c.authenticate("clgw-00").is_none());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
