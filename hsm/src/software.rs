//! The software key provider, for development without an HSM.
//!
//! Each key is a file `<label>.<purpose>.key` in the store folder, mode 0600:
//!
//! ```text
//! "cl-software-key/v1" | u8 purpose | u32 argon2 m_cost (KiB) | u32 t_cost | u32 p_cost
//! | [16] salt | [12] nonce | bytes ChaCha20-Poly1305(secret, aad = everything before + label)
//! ```
//!
//! On chains of the SM suite the signing and agreement keys are SM2 scalars, in files
//! `<label>.sm2-signing.key` and `<label>.sm2-agreement.key` (purposes 4 and 5, so a file of
//! one suite never opens as the other's). Sealing keys stay ChaCha20-Poly1305: they protect
//! this host's own files and nothing on the ledger depends on them.
//!
//! The file key is Argon2id(passphrase, salt); the label and header are bound as
//! associated data, so a file renamed to another label or purpose does not open. Secrets
//! live in zeroizing memory once unlocked and never appear in `Debug` output. Same
//! interface as the PKCS#11 provider, but the keys are only as safe as the passphrase and
//! the host: production uses an HSM.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use ed25519_dalek::Signer as _;
use ledger_crypto::Signer as _;
use ledger_types::codec::{Decoder, Encoder};
use ledger_types::{CryptoSuite, Hash, PublicKey, Signature, SignatureScheme};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::{HsmError, KeyInfo, KeyProvider, KeyPurpose};

const MAGIC: &str = "cl-software-key/v1";
const SEAL_FORMAT: u8 = 1;

/// Argon2id cost of the file key derivation.
#[derive(Debug, Clone, Copy)]
pub struct KdfCost {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfCost {
    /// OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT: KdfCost = KdfCost {
        m_cost: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };
}

fn purpose_tag(p: KeyPurpose, suite: CryptoSuite) -> (u8, &'static str) {
    match (p, suite) {
        (KeyPurpose::Signing, CryptoSuite::Sm) => (4, "sm2-signing"),
        (KeyPurpose::Agreement, CryptoSuite::Sm) => (5, "sm2-agreement"),
        (KeyPurpose::Signing, _) => (1, "signing"),
        (KeyPurpose::Agreement, _) => (2, "agreement"),
        (KeyPurpose::Sealing, _) => (3, "sealing"),
    }
}

/// An unlocked secret: Ed25519 seed, P-256 or SM2 scalar, or ChaCha20-Poly1305 key; 32
/// bytes.
struct Secret(Zeroizing<[u8; 32]>);

/// Keys in passphrase-sealed files.
pub struct SoftwareProvider {
    dir: PathBuf,
    passphrase: Zeroizing<String>,
    cost: KdfCost,
    suite: CryptoSuite,
    keys: Mutex<BTreeMap<(String, u8), Secret>>,
    /// Ed25519 signing keys expanded from their seeds (zeroized when dropped): expanding
    /// one derives its public key, a scalar multiplication that cost as much again as the
    /// signature when it was done at every signature.
    ed25519: Mutex<BTreeMap<String, Arc<ed25519_dalek::SigningKey>>>,
}

impl std::fmt::Debug for SoftwareProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareProvider")
            .field("dir", &self.dir)
            .field("suite", &self.suite.name())
            .finish_non_exhaustive()
    }
}

fn io_err(operation: &'static str, path: &Path, e: std::io::Error) -> HsmError {
    HsmError::Pkcs11 {
        operation,
        reason: format!("{}: {e}", path.display()),
    }
}

impl SoftwareProvider {
    /// Opens (or creates) the key store folder with its passphrase, for keys of this
    /// process's crypto suite ([`CryptoSuite::current`]).
    pub fn open(
        dir: &Path,
        passphrase: Zeroizing<String>,
        cost: KdfCost,
    ) -> Result<Self, HsmError> {
        Self::open_in(CryptoSuite::current(), dir, passphrase, cost)
    }

    /// [`open`](Self::open) for keys of `suite`.
    pub fn open_in(
        suite: CryptoSuite,
        dir: &Path,
        passphrase: Zeroizing<String>,
        cost: KdfCost,
    ) -> Result<Self, HsmError> {
        if passphrase.is_empty() {
            return Err(HsmError::WrongPassphrase {
                store: dir.display().to_string(),
                reason: "the passphrase is empty".into(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| io_err("creating the key store", dir, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            passphrase,
            cost,
            suite,
            keys: Mutex::new(BTreeMap::new()),
            ed25519: Mutex::new(BTreeMap::new()),
        })
    }

    fn path(&self, label: &str, purpose: KeyPurpose) -> Result<PathBuf, HsmError> {
        if label.is_empty()
            || !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || label.starts_with('.')
        {
            return Err(HsmError::KeyNotFound {
                label: label.into(),
                purpose: self.tag(purpose).1,
                provider: self.describe(),
            });
        }
        Ok(self
            .dir
            .join(format!("{label}.{}.key", self.tag(purpose).1)))
    }

    fn file_key(&self, salt: &[u8], cost: KdfCost) -> Result<Zeroizing<[u8; 32]>, HsmError> {
        let params =
            argon2::Params::new(cost.m_cost, cost.t_cost, cost.p_cost, Some(32)).map_err(|e| {
                HsmError::Malformed {
                    what: if e == argon2::Error::MemoryTooLittle {
                        "KDF memory cost"
                    } else {
                        "KDF parameters"
                    },
                }
            })?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(self.passphrase.as_bytes(), salt, out.as_mut())
            .map_err(|_| HsmError::Malformed { what: "KDF input" })?;
        Ok(out)
    }

    fn tag(&self, purpose: KeyPurpose) -> (u8, &'static str) {
        purpose_tag(purpose, self.suite)
    }

    fn header(
        &self,
        purpose: KeyPurpose,
        cost: KdfCost,
        salt: &[u8; 16],
        nonce: &[u8; 12],
    ) -> Vec<u8> {
        let mut e = Encoder::new();
        e.str(MAGIC)
            .u8(self.tag(purpose).0)
            .u32(cost.m_cost)
            .u32(cost.t_cost)
            .u32(cost.p_cost)
            .fixed(salt)
            .fixed(nonce);
        e.finish()
    }

    fn create(&self, label: &str, purpose: KeyPurpose, secret: Secret) -> Result<(), HsmError> {
        let path = self.path(label, purpose)?;
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if path.exists() {
            return Err(HsmError::KeyExists {
                label: label.into(),
                purpose: self.tag(purpose).1,
                provider: self.describe(),
            });
        }
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let header = self.header(purpose, self.cost, &salt, &nonce);
        let key = self.file_key(&salt, self.cost)?;
        let aad = [header.as_slice(), label.as_bytes()].concat();
        let ct = ChaCha20Poly1305::new(key.as_ref().into())
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: secret.0.as_ref(),
                    aad: &aad,
                },
            )
            .map_err(|_| HsmError::Malformed { what: "sealed key" })?;
        let mut e = Encoder::new();
        e.fixed(&header).bytes(&ct);
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io_err("creating a key file", &tmp, e))?;
        f.write_all(&e.finish())
            .map_err(|e| io_err("writing a key file", &tmp, e))?;
        f.sync_all()
            .map_err(|e| io_err("syncing a key file", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_err("renaming a key file", &path, e))?;
        keys.insert((label.to_string(), self.tag(purpose).0), secret);
        tracing::info!(store = %self.dir.display(), label, purpose = self.tag(purpose).1, "generated a software key");
        Ok(())
    }

    /// Runs `f` with the unlocked secret of `label`, unlocking its file on first use.
    fn with_secret<T>(
        &self,
        label: &str,
        purpose: KeyPurpose,
        f: impl FnOnce(&[u8; 32]) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        let tag = self.tag(purpose).0;
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let secret = match keys.entry((label.to_string(), tag)) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(self.unlock(label, purpose)?),
        };
        f(&secret.0)
    }

    fn unlock(&self, label: &str, purpose: KeyPurpose) -> Result<Secret, HsmError> {
        let path = self.path(label, purpose)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(HsmError::KeyNotFound {
                    label: label.into(),
                    purpose: self.tag(purpose).1,
                    provider: self.describe(),
                })
            }
            Err(e) => return Err(io_err("reading a key file", &path, e)),
        };
        let damaged = || HsmError::Malformed {
            what: "software key file",
        };
        let mut d = Decoder::new(&bytes);
        if d.string("magic", 64).map_err(|_| damaged())? != MAGIC {
            return Err(damaged());
        }
        if d.u8("purpose").map_err(|_| damaged())? != self.tag(purpose).0 {
            return Err(damaged());
        }
        let cost = KdfCost {
            m_cost: d.u32("m_cost").map_err(|_| damaged())?,
            t_cost: d.u32("t_cost").map_err(|_| damaged())?,
            p_cost: d.u32("p_cost").map_err(|_| damaged())?,
        };
        let salt: [u8; 16] = d.array("salt").map_err(|_| damaged())?;
        let nonce: [u8; 12] = d.array("nonce").map_err(|_| damaged())?;
        let ct = d.bytes("sealed key", 128).map_err(|_| damaged())?;
        d.finish("key file").map_err(|_| damaged())?;
        let header = self.header(purpose, cost, &salt, &nonce);
        let key = self.file_key(&salt, cost)?;
        let aad = [header.as_slice(), label.as_bytes()].concat();
        let mut plain = ChaCha20Poly1305::new(key.as_ref().into())
            .decrypt((&nonce).into(), Payload { msg: &ct, aad: &aad })
            .map_err(|_| HsmError::WrongPassphrase {
                store: self.dir.display().to_string(),
                reason: format!("key file {} does not open: wrong passphrase, or the file was altered or renamed", path.display()),
            })?;
        let out: Result<[u8; 32], _> = plain.as_slice().try_into();
        plain.zeroize();
        Ok(Secret(Zeroizing::new(out.map_err(|_| damaged())?)))
    }

    /// The expanded Ed25519 key of `label`, from its seed on first use.
    fn ed25519_key(&self, label: &str) -> Result<Arc<ed25519_dalek::SigningKey>, HsmError> {
        let cached = self
            .ed25519
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(label)
            .cloned();
        if let Some(key) = cached {
            return Ok(key);
        }
        let key = Arc::new(self.with_secret(label, KeyPurpose::Signing, |seed| {
            Ok(ed25519_dalek::SigningKey::from_bytes(seed))
        })?);
        self.ed25519
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(label.to_string(), key.clone());
        Ok(key)
    }

    fn sm2_key(bytes: &[u8; 32]) -> Result<ledger_crypto::Sm2SoftwareKey, HsmError> {
        ledger_crypto::Sm2SoftwareKey::from_bytes(bytes)
            .map_err(|_| HsmError::Malformed { what: "SM2 secret" })
    }

    fn sm2_secret(bytes: &[u8; 32]) -> Result<sm2::SecretKey, HsmError> {
        sm2::SecretKey::from_slice(bytes).map_err(|_| HsmError::Malformed { what: "SM2 secret" })
    }

    fn p256_secret(bytes: &[u8; 32]) -> Result<p256::SecretKey, HsmError> {
        p256::SecretKey::from_slice(bytes).map_err(|_| HsmError::Malformed {
            what: "P-256 secret",
        })
    }
}

impl KeyProvider for SoftwareProvider {
    fn describe(&self) -> String {
        format!("software:{}", self.dir.display())
    }

    fn generate_signing_key(&self, label: &str) -> Result<PublicKey, HsmError> {
        let secret = match self.suite {
            CryptoSuite::Sm => ledger_crypto::Sm2SoftwareKey::generate().to_bytes(),
            _ => {
                let mut seed = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(seed.as_mut());
                seed
            }
        };
        self.create(label, KeyPurpose::Signing, Secret(secret))?;
        self.signing_public_key(label)
    }

    fn signing_public_key(&self, label: &str) -> Result<PublicKey, HsmError> {
        if self.suite == CryptoSuite::Sm {
            return self.with_secret(label, KeyPurpose::Signing, |b| {
                Ok(Self::sm2_key(b)?.public_key())
            });
        }
        let sk = self.ed25519_key(label)?;
        PublicKey::new(
            SignatureScheme::Ed25519,
            sk.verifying_key().to_bytes().to_vec(),
        )
        .map_err(|_| HsmError::Malformed { what: "public key" })
    }

    fn sign(&self, label: &str, digest: &Hash) -> Result<Signature, HsmError> {
        if self.suite == CryptoSuite::Sm {
            return self.with_secret(label, KeyPurpose::Signing, |b| {
                Ok(Self::sm2_key(b)?.sign_message(&digest.0))
            });
        }
        let sk = self.ed25519_key(label)?;
        Ok(Signature(sk.sign(&digest.0).to_bytes().to_vec()))
    }

    fn generate_agreement_key(&self, label: &str) -> Result<Vec<u8>, HsmError> {
        let bytes: Zeroizing<[u8; 32]> = match self.suite {
            CryptoSuite::Sm => Zeroizing::new(
                sm2::SecretKey::random(&mut rand::rngs::OsRng)
                    .to_bytes()
                    .into(),
            ),
            _ => Zeroizing::new(
                p256::SecretKey::random(&mut rand::rngs::OsRng)
                    .to_bytes()
                    .into(),
            ),
        };
        self.create(label, KeyPurpose::Agreement, Secret(bytes))?;
        self.agreement_public_key(label)
    }

    fn agreement_public_key(&self, label: &str) -> Result<Vec<u8>, HsmError> {
        if self.suite == CryptoSuite::Sm {
            return self.with_secret(label, KeyPurpose::Agreement, |b| {
                use sm2::elliptic_curve::sec1::ToEncodedPoint as _;
                Ok(Self::sm2_secret(b)?
                    .public_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec())
            });
        }
        self.with_secret(label, KeyPurpose::Agreement, |b| {
            Ok(Self::p256_secret(b)?
                .public_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec())
        })
    }

    fn ecdh(&self, label: &str, peer_point: &[u8]) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        if self.suite == CryptoSuite::Sm {
            return self.with_secret(label, KeyPurpose::Agreement, |b| {
                ledger_crypto::hpke::sm2_software_dh(b)(peer_point).map_err(|e| HsmError::Pkcs11 {
                    operation: "deriving a shared secret",
                    reason: e.to_string(),
                })
            });
        }
        let peer = p256::PublicKey::from_sec1_bytes(peer_point).map_err(|_| HsmError::Pkcs11 {
            operation: "deriving a shared secret",
            reason: "the peer point is not on P-256".into(),
        })?;
        self.with_secret(label, KeyPurpose::Agreement, |b| {
            let sk = Self::p256_secret(b)?;
            let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), peer.as_affine());
            Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
        })
    }

    fn generate_sealing_key(&self, label: &str) -> Result<(), HsmError> {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        self.create(label, KeyPurpose::Sealing, Secret(key))
    }

    fn seal(&self, label: &str, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, HsmError> {
        self.with_secret(label, KeyPurpose::Sealing, |k| {
            let mut nonce = [0u8; 12];
            rand::rngs::OsRng.fill_bytes(&mut nonce);
            let ct = ChaCha20Poly1305::new(k.into())
                .encrypt(
                    (&nonce).into(),
                    Payload {
                        msg: plaintext,
                        aad,
                    },
                )
                .map_err(|_| HsmError::Malformed {
                    what: "sealed data",
                })?;
            Ok([&[SEAL_FORMAT][..], &nonce, &ct].concat())
        })
    }

    fn unseal(
        &self,
        label: &str,
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let fail = || HsmError::UnsealFailed {
            label: label.into(),
        };
        if sealed.len() < 1 + 12 + 16 || sealed[0] != SEAL_FORMAT {
            return Err(fail());
        }
        let (nonce, ct) = sealed[1..].split_at(12);
        self.with_secret(label, KeyPurpose::Sealing, |k| {
            ChaCha20Poly1305::new(k.into())
                .decrypt(nonce.into(), Payload { msg: ct, aad })
                .map(Zeroizing::new)
                .map_err(|_| fail())
        })
    }

    fn list_keys(&self) -> Result<Vec<KeyInfo>, HsmError> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| io_err("listing the key store", &self.dir, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".key") else {
                continue;
            };
            let Some((label, purpose)) = stem.rsplit_once('.') else {
                continue;
            };
            let info = match purpose {
                "signing" | "sm2-signing" if purpose == self.tag(KeyPurpose::Signing).1 => {
                    KeyInfo {
                        label: label.into(),
                        purpose: KeyPurpose::Signing,
                        public: Some(self.signing_public_key(label)?.to_text()),
                    }
                }
                "agreement" | "sm2-agreement" if purpose == self.tag(KeyPurpose::Agreement).1 => {
                    KeyInfo {
                        label: label.into(),
                        purpose: KeyPurpose::Agreement,
                        public: Some(
                            self.agreement_public_key(label)?
                                .iter()
                                .map(|b| format!("{b:02x}"))
                                .collect(),
                        ),
                    }
                }
                "sealing" => KeyInfo {
                    label: label.into(),
                    purpose: KeyPurpose::Sealing,
                    public: None,
                },
                _ => continue,
            };
            out.push(info);
        }
        out.sort_by(|a, b| a.label.cmp(&b.label));
        Ok(out)
    }
}
