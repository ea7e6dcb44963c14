//! Key rotation in the node home, in two steps so that nothing is lost whichever fails:
//!
//! 1. [`stage`] generates the new key (in the key provider for signing and key-agreement
//!    keys, under a new label; sealed next to the current one for audit and ring keys)
//!    and the proof that this organisation holds it. Staging again proposes the same key,
//!    so a rotation whose transaction was lost is simply retried.
//! 2. [`adopt`] makes the staged key the one the node uses once the member directory
//!    holds it, whether the organisation's own `RotateKey` or a governance vote put it
//!    there: the signing label changes, the former key-agreement label is kept (field keys
//!    wrapped to it stay readable), the former audit and ring secrets move to
//!    `former-keys/` (a regulator reads its former audit epochs with them). The node
//!    adopts at start and right after its own rotation commits.
//!
//! Until the ledger holds the new key, the current one stays in use: a rotation that never
//! commits leaves the node as it was.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use ledger_crypto::possession::{context, signing_statement};
use ledger_crypto::ring::RingSecret;
use ledger_hsm::KeyProvider;
use ledger_proofs::AuditSecret;
use ledger_types::{KeyKind, RegisterMember, RotateKey};

use crate::config::NodeConfig;
use crate::error::HomeError;
use crate::sealed::{self, SealedKey};

fn hsm(e: ledger_hsm::HsmError) -> HomeError {
    HomeError::Sealed(e.to_string())
}

fn fresh_label(org: &str, what: &str) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{org}-{what}-{secs}")
}

/// The new key of `kind` for the organisation of `config` on `chain_id`, with its proof
/// of possession: the one staged before if any, else a new one (recorded in `config`,
/// saved to `home`). The ledger checks whether the organisation may hold such a key.
pub fn stage(
    home: &Path,
    config: &mut NodeConfig,
    provider: &dyn KeyProvider,
    chain_id: &str,
    kind: KeyKind,
) -> Result<RotateKey, HomeError> {
    let org = config.org.clone();
    let cx = context(chain_id, &org, kind.name());
    let label = &config.keys.sealing_label.clone();
    let (key, proof) = match kind {
        KeyKind::Signing => {
            let (staged, public) = match config.keys.staged_signing_label.clone() {
                Some(l) => {
                    let public = provider.signing_public_key(&l).map_err(hsm)?;
                    (l, public)
                }
                None => {
                    let l = fresh_label(&org, "signing");
                    let public = provider.generate_signing_key(&l).map_err(hsm)?;
                    config.keys.staged_signing_label = Some(l.clone());
                    config.save(home)?;
                    (l, public)
                }
            };
            let proof = provider
                .sign(&staged, &signing_statement(&cx, &public))
                .map_err(hsm)?;
            let mut e = ledger_types::codec::Encoder::new();
            public.encode(&mut e);
            (e.finish(), proof.0)
        }
        KeyKind::Encryption => {
            let public = match config.keys.staged_agreement_label.clone() {
                Some(l) => provider.agreement_public_key(&l).map_err(hsm)?,
                None => {
                    let l = fresh_label(&org, "agreement");
                    let public = provider.generate_agreement_key(&l).map_err(hsm)?;
                    config.keys.staged_agreement_label = Some(l);
                    config.save(home)?;
                    public
                }
            };
            (public, Vec::new())
        }
        KeyKind::Audit => {
            let s = sealed::stage::<AuditSecret>(home, provider, label, chain_id, &org)?;
            (s.public_bytes().to_vec(), s.prove_possession(&cx).to_vec())
        }
        KeyKind::Ring => {
            let s = sealed::stage::<RingSecret>(home, provider, label, chain_id, &org)?;
            (
                s.public_bytes().to_vec(),
                SealedKey::prove_possession(&s, &cx).to_vec(),
            )
        }
    };
    Ok(RotateKey { kind, key, proof })
}

/// Whether a `kind` key is staged in `home` (generated for a rotation the node has not
/// adopted).
pub fn is_staged(home: &Path, config: &NodeConfig, kind: KeyKind) -> bool {
    match kind {
        KeyKind::Signing => config.keys.staged_signing_label.is_some(),
        KeyKind::Encryption => config.keys.staged_agreement_label.is_some(),
        KeyKind::Audit => sealed::staged_path::<AuditSecret>(home).exists(),
        KeyKind::Ring => sealed::staged_path::<RingSecret>(home).exists(),
    }
}

/// Adopts each staged key that `member` (the organisation's entry in the member directory)
/// now holds; saves `config` if a label changed. Returns the kinds adopted.
pub fn adopt(
    home: &Path,
    config: &mut NodeConfig,
    provider: &dyn KeyProvider,
    chain_id: &str,
    member: &RegisterMember,
) -> Result<Vec<KeyKind>, HomeError> {
    let mut adopted = Vec::new();
    if let Some(l) = config.keys.staged_signing_label.clone() {
        if provider.signing_public_key(&l).map_err(hsm)? == member.signing_key {
            config.keys.signing_label = l;
            config.keys.staged_signing_label = None;
            adopted.push(KeyKind::Signing);
        }
    }
    if let Some(l) = config.keys.staged_agreement_label.clone() {
        if provider.agreement_public_key(&l).map_err(hsm)? == member.encryption_key {
            let old = std::mem::replace(&mut config.keys.agreement_label, l);
            config.keys.former_agreement_labels.push(old);
            config.keys.staged_agreement_label = None;
            adopted.push(KeyKind::Encryption);
        }
    }
    if !adopted.is_empty() {
        config.save(home)?;
    }
    let (label, org) = (config.keys.sealing_label.as_str(), config.org.as_str());
    if !member.audit_key.is_empty()
        && sealed::promote::<AuditSecret>(home, provider, label, chain_id, org, &member.audit_key)?
    {
        adopted.push(KeyKind::Audit);
    }
    if !member.ring_key.is_empty()
        && sealed::promote::<RingSecret>(home, provider, label, chain_id, org, &member.ring_key)?
    {
        adopted.push(KeyKind::Ring);
    }
    Ok(adopted)
}

/// The organisation's key-agreement keys as the node uses them: the current one (new
/// field keys are wrapped to it) and the former ones (older wraps are opened with them),
/// each a label in the key provider and its public point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementKeys {
    /// The current key: label and uncompressed SEC1 point.
    pub current: (String, Vec<u8>),
    /// The keys rotations replaced, newest last.
    pub former: Vec<(String, Vec<u8>)>,
}

impl AgreementKeys {
    /// The keys of `config`, their public points read from `provider`.
    pub fn load(config: &NodeConfig, provider: &dyn KeyProvider) -> Result<Self, HomeError> {
        let point = |l: &str| {
            provider.agreement_public_key(l).map_err(|e| {
                HomeError::Sealed(format!("the key-agreement key {l:?} is not usable: {e}"))
            })
        };
        Ok(Self {
            current: (
                config.keys.agreement_label.clone(),
                point(&config.keys.agreement_label)?,
            ),
            former: config
                .keys
                .former_agreement_labels
                .iter()
                .map(|l| Ok((l.clone(), point(l)?)))
                .collect::<Result<_, HomeError>>()?,
        })
    }

    /// Every key, the current one first, then the former ones newest first.
    pub fn all(&self) -> impl Iterator<Item = &(String, Vec<u8>)> {
        std::iter::once(&self.current).chain(self.former.iter().rev())
    }
}

/// The agreement keys shared by the tasks that open wraps, replaced in place on rotation.
pub type AgreementCell = std::sync::Arc<std::sync::RwLock<std::sync::Arc<AgreementKeys>>>;
