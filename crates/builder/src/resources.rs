//! What a plan needs beyond committed state and the key provider, provided by its caller:
//! the organisation's sealed software secrets, the Groth16 proving keys, and the audit log
//! a regulator's reads go to. The node implements these over its home folder; tests
//! implement them in memory. The builder itself opens no file.

use std::sync::Arc;

use ledger_circuits::{CircuitId, ProvingKey, VerifyingKey};
use ledger_crypto::ring::RingSecret;
use ledger_proofs::AuditSecret;
use ledger_types::{OrgId, RecordId};

use crate::BuildError;

/// The software secrets an organisation keeps sealed by its key provider, unsealed for one
/// operation and wiped when dropped. A plan asks for one only after checking that the
/// organisation registered its public key on the chain.
pub trait SealedSecrets {
    /// The regulator's twisted-ElGamal audit secret (sums of committed amounts).
    fn audit_secret(&self) -> Result<AuditSecret, BuildError>;
    /// The member's ring secret (anonymous endorsements).
    fn ring_secret(&self) -> Result<RingSecret, BuildError>;
    /// The regulator's former audit secrets, replaced by rotations: amounts committed in
    /// an earlier audit epoch are read with the secret of that epoch.
    fn former_audit_secrets(&self) -> Result<Vec<AuditSecret>, BuildError> {
        Ok(Vec::new())
    }
}

/// Groth16 proving keys.
pub trait ProvingKeys {
    /// The proving key of `circuit` that matches `chain_key`, the verifying key this chain
    /// fixed for it in genesis; an error says what to install where.
    fn proving_key(
        &self,
        circuit: CircuitId,
        chain_key: &VerifyingKey,
    ) -> Result<Arc<ProvingKey>, BuildError>;

    /// The chain's public analytics keys, if this node loaded them (every node of a chain
    /// with analytics does; docs/fhe.md).
    fn analytics_keys(&self) -> Option<Arc<ledger_fhe::PublicKeys>> {
        None
    }
}

/// One field of one record version a regulator read under a schema's audit policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The record.
    pub record: RecordId,
    /// The version.
    pub version: u32,
    /// The record's owner.
    pub owner: OrgId,
    /// What was read, as the log shows it (a field name, or a field in a sum).
    pub field: String,
}

/// The organisation's audit log. A plan that reveals plaintext to a regulator under an
/// audit policy records the reads here first, and returns nothing if that fails.
pub trait AuditTrail {
    /// Appends `entries` durably.
    fn record(&self, entries: &[AuditEntry]) -> Result<(), BuildError>;
}

/// A sealed secret, as [`SealedSecrets`] provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretKind {
    /// The regulator's audit secret.
    Audit,
    /// The member's ring secret.
    Ring,
}

impl<V: crate::StateView> crate::Builder<'_, V> {
    /// Only an organisation with the secret's role that registered its public key on the
    /// chain holds one.
    pub(crate) fn check_registered(&self, kind: SecretKind) -> Result<(), BuildError> {
        let me = self.me()?;
        let (role, registered, what) = match kind {
            SecretKind::Audit => (ledger_types::Role::Regulator, &me.audit_key, "audit key"),
            SecretKind::Ring => (ledger_types::Role::Member, &me.ring_key, "ring key"),
        };
        if !me.has_role(role) || registered.is_empty() {
            return Err(BuildError::NoSecretRegistered {
                org: self.org.clone(),
                what,
                role: role.name(),
            });
        }
        Ok(())
    }
}
