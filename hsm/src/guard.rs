//! The equivocation guard for consensus signing.
//!
//! A validator must never sign two different messages for the same consensus step
//! (height, round, step), nor go back to an earlier step, not even across a crash and
//! restart. The guard keeps a high-water mark in a file: the last step signed, the digest
//! signed and the signature. It persists (write, fsync, rename, fsync the folder) *before*
//! a signature is returned, so a signature that left the process is always on disk.
//!
//! Asked again for the same step and the same digest (a retry after a lost session, a
//! restart mid-round), it returns the stored signature rather than signing again, so even
//! ECDSA's random nonces never yield two different signatures for one step.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ledger_crypto::Signer;
use ledger_types::codec::{Decoder, Encoder};
use ledger_types::{Hash, Signature};

use crate::HsmError;

const GUARD_FORMAT: u16 = 1;

/// A step of the consensus protocol; ordered by height, then round, then step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConsensusStep {
    /// The height.
    pub height: u64,
    /// The round.
    pub round: u32,
    /// The step within the round (proposal, prevote, precommit: increasing).
    pub step: u8,
}

impl fmt::Display for ConsensusStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "height {} round {} step {}",
            self.height, self.round, self.step
        )
    }
}

#[derive(Clone)]
struct Signed {
    step: ConsensusStep,
    digest: Hash,
    signature: Signature,
}

/// Signs consensus messages without ever equivocating, across restarts.
pub struct EquivocationGuard {
    path: PathBuf,
    last: Mutex<Option<Signed>>,
}

impl fmt::Debug for EquivocationGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("EquivocationGuard")
            .field("path", &self.path)
            .field("last_step", &last.as_ref().map(|s| s.step))
            .finish()
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> HsmError {
    HsmError::GuardStorage {
        path: path.display().to_string(),
        reason: format!("{what}: {e}"),
    }
}

impl EquivocationGuard {
    /// Opens the guard file (created on the first signature).
    pub fn open(path: &Path) -> Result<Self, HsmError> {
        let last = match std::fs::read(path) {
            Ok(bytes) => Some(Self::decode(&bytes).ok_or_else(|| HsmError::GuardStorage {
                path: path.display().to_string(),
                reason: "the file is damaged; refusing to sign consensus messages until an operator checks which step was last signed".into(),
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("reading", path, e)),
        };
        Ok(Self {
            path: path.to_path_buf(),
            last: Mutex::new(last),
        })
    }

    /// The last step signed, if any.
    pub fn last_step(&self) -> Option<ConsensusStep> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| s.step)
    }

    /// Signs `digest` for `step` with `signer`, unless that would equivocate.
    pub fn sign(
        &self,
        signer: &dyn Signer,
        step: ConsensusStep,
        digest: &Hash,
    ) -> Result<Signature, HsmError> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(prev) = last.as_ref() {
            if step < prev.step {
                return Err(HsmError::Equivocation {
                    requested: step.to_string(),
                    reason: format!(
                        "{} was already signed; consensus never goes back",
                        prev.step
                    ),
                });
            }
            if step == prev.step {
                if *digest == prev.digest {
                    return Ok(prev.signature.clone());
                }
                return Err(HsmError::Equivocation {
                    requested: step.to_string(),
                    reason: format!(
                        "a different message ({}) was already signed for this step",
                        prev.digest
                    ),
                });
            }
        }
        let signature = signer.sign_digest(digest).map_err(|e| HsmError::Pkcs11 {
            operation: "signing a consensus message",
            reason: e.to_string(),
        })?;
        let signed = Signed {
            step,
            digest: *digest,
            signature,
        };
        self.persist(&signed)?;
        let out = signed.signature.clone();
        *last = Some(signed);
        Ok(out)
    }

    fn encode(s: &Signed) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u16(GUARD_FORMAT)
            .u64(s.step.height)
            .u32(s.step.round)
            .u8(s.step.step)
            .fixed(&s.digest.0)
            .bytes(&s.signature.0);
        let body = e.finish();
        let check = ledger_types::HashSuite::current().digest("cl/guard/v1", &[&body]);
        [body, check.0.to_vec()].concat()
    }

    fn decode(bytes: &[u8]) -> Option<Signed> {
        let (body, check) = bytes.split_at(bytes.len().checked_sub(32)?);
        if ledger_types::HashSuite::current()
            .digest("cl/guard/v1", &[body])
            .0
            != check
        {
            return None;
        }
        let mut d = Decoder::new(body);
        if d.u16("guard format").ok()? != GUARD_FORMAT {
            return None;
        }
        let step = ConsensusStep {
            height: d.u64("height").ok()?,
            round: d.u32("round").ok()?,
            step: d.u8("step").ok()?,
        };
        let digest = Hash(d.array("digest").ok()?);
        let signature = Signature(d.bytes("signature", Signature::MAX_LEN).ok()?);
        d.finish("guard").ok()?;
        Some(Signed {
            step,
            digest,
            signature,
        })
    }

    fn persist(&self, s: &Signed) -> Result<(), HsmError> {
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
        f.write_all(&Self::encode(s))
            .map_err(|e| io("writing", &tmp, e))?;
        f.sync_all().map_err(|e| io("syncing", &tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io("renaming", &self.path, e))?;
        if let Some(dir) = self.path.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                d.sync_all()
                    .map_err(|e| io("syncing the folder of", &self.path, e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_crypto::Ed25519SoftwareKey;

    fn step(height: u64, round: u32, step: u8) -> ConsensusStep {
        ConsensusStep {
            height,
            round,
            step,
        }
    }

    #[test]
    fn never_two_signatures_for_one_step_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus-guard");
        let key = Ed25519SoftwareKey::generate();
        let g = EquivocationGuard::open(&path).unwrap();
        let s1 = g.sign(&key, step(5, 0, 1), &Hash([1; 32])).unwrap();
        // The same message again: the same signature, not a new one.
        assert_eq!(g.sign(&key, step(5, 0, 1), &Hash([1; 32])).unwrap(), s1);
        // A different message for the same step: refused.
        assert!(matches!(
            g.sign(&key, step(5, 0, 1), &Hash([2; 32])),
            Err(HsmError::Equivocation { .. })
        ));
        g.sign(&key, step(5, 0, 2), &Hash([3; 32])).unwrap();
        drop(g);

        let g = EquivocationGuard::open(&path).unwrap();
        assert_eq!(g.last_step(), Some(step(5, 0, 2)));
        assert!(matches!(
            g.sign(&key, step(5, 0, 2), &Hash([4; 32])),
            Err(HsmError::Equivocation { .. })
        ));
        assert!(matches!(
            g.sign(&key, step(5, 0, 1), &Hash([1; 32])),
            Err(HsmError::Equivocation { .. })
        ));
        assert!(matches!(
            g.sign(&key, step(4, 9, 2), &Hash([5; 32])),
            Err(HsmError::Equivocation { .. })
        ));
        g.sign(&key, step(5, 1, 0), &Hash([6; 32])).unwrap();
        g.sign(&key, step(6, 0, 0), &Hash([7; 32])).unwrap();

        // A damaged file stops consensus signing instead of forgetting the mark.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(
            EquivocationGuard::open(&path),
            Err(HsmError::GuardStorage { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
