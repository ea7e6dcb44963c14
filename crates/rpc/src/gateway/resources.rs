//! What the gateway gives the builder's plans from the node: the organisation's sealed
//! secrets (unsealed from the node home by its key provider), the Groth16 proving keys
//! (`<home>/circuits`, loaded once), and the audit log that records a regulator's reads
//! with the calling client's name. All blocking: plans run on blocking threads.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ledger_builder::{AuditEntry, AuditTrail, BuildError, ProvingKeys, SealedSecrets};
use ledger_circuits::{CircuitId, ProvingKey, VerifyingKey};
use ledger_crypto::ring::RingSecret;
use ledger_home::audit_log::AuditRead;
use ledger_home::sealed::SealedKey;
use ledger_proofs::AuditSecret;

use super::Gateway;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Gateway {
    /// Unseals this organisation's `K` for one operation (wiped when dropped).
    fn unseal<K: SealedKey>(&self) -> Result<K, BuildError> {
        let (home, label) = self.sealed.as_ref().ok_or_else(|| BuildError::Unsealing {
            what: K::WHAT,
            reason: format!(
                "this gateway was started without access to the sealed {}",
                K::WHAT
            ),
        })?;
        ledger_home::sealed::load::<K>(
            home,
            self.provider.as_ref(),
            label,
            self.ledger.chain_id.as_str(),
            self.ledger.org.as_str(),
        )
        .map_err(|e| BuildError::Unsealing {
            what: K::WHAT,
            reason: e.to_string(),
        })
    }
}

impl SealedSecrets for Gateway {
    fn audit_secret(&self) -> Result<AuditSecret, BuildError> {
        self.unseal::<AuditSecret>()
    }

    fn ring_secret(&self) -> Result<RingSecret, BuildError> {
        self.unseal::<RingSecret>()
    }

    fn former_audit_secrets(&self) -> Result<Vec<AuditSecret>, BuildError> {
        let Some((home, label)) = self.sealed.as_ref() else {
            return Ok(Vec::new());
        };
        ledger_home::sealed::load_former::<AuditSecret>(
            home,
            self.provider.as_ref(),
            label,
            self.ledger.chain_id.as_str(),
            self.ledger.org.as_str(),
        )
        .map_err(|e| BuildError::Unsealing {
            what: "former audit keys",
            reason: e.to_string(),
        })
    }
}

impl ProvingKeys for Gateway {
    fn analytics_keys(&self) -> Option<Arc<ledger_fhe::PublicKeys>> {
        self.ledger.analytics.clone()
    }

    /// Loaded from `<home>/circuits/<name>.pk`, or, on a chain using the development keys,
    /// generated from the public development seed and saved there on first use.
    fn proving_key(
        &self,
        id: CircuitId,
        chain_vk: &VerifyingKey,
    ) -> Result<Arc<ProvingKey>, BuildError> {
        if let Some(pk) = self
            .provers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return Ok(pk.clone());
        }
        let setup = |reason: String| BuildError::ProvingKey {
            circuit: id.name(),
            reason,
        };
        let internal = |e: &dyn std::fmt::Display| BuildError::internal(e.to_string());
        let dir = self
            .circuits_dir
            .clone()
            .ok_or_else(|| setup("this gateway has no circuits folder".into()))?;
        let path = dir.join(format!("{}.pk", id.name()));
        let pk = match std::fs::read(&path) {
            Ok(bytes) => ProvingKey::from_bytes_trusted(id, &bytes)
                .map_err(|e| setup(format!("{}: {e}", path.display())))?,
            Err(_) => {
                let dev = ledger_circuits::dev_verifying_key(id).map_err(|e| internal(&e))?;
                if dev.to_bytes() != chain_vk.to_bytes() {
                    return Err(setup(format!(
                        "no proving key for circuit {} in {}: install the one from this chain's setup ceremony (verifying key {})",
                        id.name(),
                        path.display(),
                        chain_vk.fingerprint()
                    )));
                }
                tracing::warn!(circuit = id.name(), "generating the development proving key (public seed: for tests and demos only)");
                let (pk, _) = ledger_circuits::dev_keys(id).map_err(|e| internal(&e))?;
                let bytes = pk.to_bytes().map_err(|e| internal(&e))?;
                std::fs::create_dir_all(&dir).map_err(|e| internal(&e))?;
                ledger_home::fsutil::write_file(&path, &bytes, 0o644).map_err(|e| internal(&e))?;
                pk
            }
        };
        let vk = pk.verifying_key().map_err(|e| internal(&e))?;
        if vk.to_bytes() != chain_vk.to_bytes() {
            return Err(setup(format!(
                "the proving key in {} does not match this chain's verifying key for circuit {} ({})",
                path.display(),
                id.name(),
                chain_vk.fingerprint()
            )));
        }
        let pk = Arc::new(pk);
        self.provers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, pk.clone());
        Ok(pk)
    }
}

/// The node's audit log, for one client's request.
pub(super) struct ClientAudit<'a> {
    pub(super) gateway: &'a Gateway,
    pub(super) client: &'a str,
}

impl AuditTrail for ClientAudit<'_> {
    fn record(&self, entries: &[AuditEntry]) -> Result<(), BuildError> {
        let org = self.gateway.ledger.org.to_string();
        let reads: Vec<AuditRead> = entries
            .iter()
            .map(|e| AuditRead {
                time_ms: now_ms(),
                org: org.clone(),
                client: self.client.to_string(),
                record: e.record.to_string(),
                version: e.version,
                owner: e.owner.to_string(),
                field: e.field.clone(),
            })
            .collect();
        self.gateway
            .audit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&reads)
            .map_err(|e| BuildError::AuditLog(e.to_string()))
    }
}
