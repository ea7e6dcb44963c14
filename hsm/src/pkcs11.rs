//! The PKCS#11 key provider (cryptoki).
//!
//! Mechanisms used: `CKM_EC_EDWARDS_KEY_PAIR_GEN` + `CKM_EDDSA` (Ed25519) where the token
//! offers `CKM_EDDSA`, else `CKM_EC_KEY_PAIR_GEN` + `CKM_ECDSA` over a host-computed
//! SHA-256 (P-256); `CKM_ECDH1_DERIVE` with `CKD_NULL` for key agreement (the shared
//! secret is derived into a session-only generic secret, read, and destroyed; the KDF runs
//! on the host, as HPKE requires); `CKM_AES_KEY_GEN` + `CKM_AES_GCM` for sealing.
//!
//! On chains of the SM suite, SM2 has no standard PKCS#11 mechanism: vendors define their
//! own (`CKM_VENDOR_DEFINED + n`). The operator names them ([`Sm2Mechanisms`], by standard
//! name, number or `CKM_VENDOR_DEFINED+n`); keys are generated on the SM2 curve
//! (`CKA_EC_PARAMS` = OID 1.2.156.10197.1.301) and agreement uses `CKM_ECDH1_DERIVE` unless
//! configured otherwise. SoftHSM offers no SM2 signing mechanism (docs/hsm.md).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use ledger_types::{CryptoSuite, Hash, PublicKey, Signature, SignatureScheme};
use sha2::Digest as _;
use zeroize::{Zeroize, Zeroizing};

use crate::{HsmError, KeyInfo, KeyProvider, KeyPurpose};

/// DER of the Ed25519 curve OID 1.3.101.112.
const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// DER of the P-256 curve OID 1.2.840.10045.3.1.7.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER of the SM2 curve OID 1.2.156.10197.1.301.
const SM2_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];
const SEAL_FORMAT: u8 = 1;
const GCM_IV_LEN: usize = 12;

/// Where the token is and how to log in.
pub struct Pkcs11Config {
    /// The PKCS#11 module (for SoftHSM: `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token label.
    pub token_label: String,
    /// The user PIN (from an environment variable or a file; never an argument).
    pub pin: AuthPin,
    /// Which signature algorithm new signing keys use (default suite).
    pub signing: SigningAlgorithm,
    /// The chain's crypto suite: on `Sm`, keys are SM2 and [`Self::sm2`] must be set.
    pub suite: CryptoSuite,
    /// The token's SM2 mechanisms (SM suite only).
    pub sm2: Option<Sm2Mechanisms>,
}

/// A mechanism named in configuration: `NAME=VALUE` or `VALUE`, where `VALUE` is a standard
/// name we use (`CKM_EC_KEY_PAIR_GEN`, `CKM_ECDSA`, `CKM_ECDH1_DERIVE`), a number (decimal
/// or `0x` hex), or `CKM_VENDOR_DEFINED+n`. The name appears in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MechanismSpec {
    /// The name shown in messages.
    pub name: String,
    /// The `CK_MECHANISM_TYPE` value.
    pub value: u64,
}

impl MechanismSpec {
    /// Parses a configured mechanism.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (name, value) = match text.split_once('=') {
            Some((n, v)) => (n.trim().to_string(), v.trim()),
            None => (text.to_string(), text),
        };
        let number = |t: &str| -> Result<u64, String> {
            let t = t.trim();
            let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => t.parse::<u64>(),
            };
            parsed.map_err(|_| format!("mechanism {text:?}: {t:?} is not a number"))
        };
        let value = match value {
            "CKM_EC_KEY_PAIR_GEN" => 0x1040,
            "CKM_ECDSA" => 0x1041,
            "CKM_ECDH1_DERIVE" => 0x1050,
            v => match v.strip_prefix("CKM_VENDOR_DEFINED") {
                Some(rest) => {
                    let rest = rest.trim();
                    let offset = match rest.strip_prefix('+') {
                        Some(n) => number(n)?,
                        None if rest.is_empty() => 0,
                        None => return Err(format!("mechanism {text:?}: expected CKM_VENDOR_DEFINED+n")),
                    };
                    cryptoki::mechanism::vendor_defined::CKM_VENDOR_DEFINED
                        .checked_add(offset)
                        .ok_or_else(|| format!("mechanism {text:?}: out of range"))?
                }
                None if v.starts_with("CKM_") => {
                    return Err(format!(
                        "mechanism {text:?}: unknown name; give its number (0x...) or CKM_VENDOR_DEFINED+n, optionally as NAME=NUMBER"
                    ))
                }
                None => number(v)?,
            },
        };
        Ok(Self { name, value })
    }

    fn mechanism_type(&self) -> Result<MechanismType, HsmError> {
        MechanismType::try_from(self.value)
            .or_else(|_| MechanismType::new_vendor_defined(self.value))
            .map_err(|_| HsmError::Malformed {
                what: "configured mechanism number",
            })
    }

    /// The mechanism without parameters (key generation, signing).
    fn plain(&self) -> Result<Mechanism<'static>, HsmError> {
        Ok(match self.value {
            0x1040 => Mechanism::EccKeyPairGen,
            0x1041 => Mechanism::Ecdsa,
            _ => Mechanism::VendorDefined(
                cryptoki::mechanism::vendor_defined::VendorDefinedMechanism::new::<()>(
                    self.mechanism_type()?,
                    None,
                ),
            ),
        })
    }

    fn describe(&self) -> String {
        if self.name.starts_with("0x") || self.name.parse::<u64>().is_ok() {
            format!("mechanism {:#x}", self.value)
        } else {
            format!("{} ({:#x})", self.name, self.value)
        }
    }
}

/// What the token's SM2 signing mechanism takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sm2SignInput {
    /// The message: the token computes `ZA` (with its default identifier, which must be
    /// `1234567812345678`) and `SM3(ZA || M)` itself.
    #[default]
    Message,
    /// The prehash `e = SM3(ZA || M)`, computed on the host from the public key.
    Prehash,
}

/// A token's SM2 mechanisms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sm2Mechanisms {
    /// Key-pair generation on the SM2 curve (default `CKM_EC_KEY_PAIR_GEN`).
    pub key_pair_gen: MechanismSpec,
    /// SM2 signing (vendor-defined; no default).
    pub sign: MechanismSpec,
    /// What [`Self::sign`] takes.
    pub sign_input: Sm2SignInput,
    /// Key agreement on the SM2 curve (default `CKM_ECDH1_DERIVE` with
    /// `CK_ECDH1_DERIVE_PARAMS`; a vendor mechanism gets the same parameters).
    pub derive: MechanismSpec,
}

/// The signature algorithm of signing keys the provider generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningAlgorithm {
    /// Ed25519 if the token offers `CKM_EDDSA`, else ECDSA P-256.
    #[default]
    Auto,
    /// Ed25519; the token must offer `CKM_EDDSA`.
    Ed25519,
    /// ECDSA P-256 over a host-computed SHA-256.
    EcdsaP256,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .finish_non_exhaustive()
    }
}

/// One initialised context per module for the whole process: a PKCS#11 module is
/// initialised once per process, and finalising it would cut every other user's sessions.
fn context(module: &Path) -> Result<Pkcs11, HsmError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let map = CONTEXTS.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = map.get(module) {
        return Ok(c.clone());
    }
    let load_err = |reason: String| HsmError::ModuleLoad {
        module: module.display().to_string(),
        reason,
    };
    if !module.exists() {
        return Err(load_err(
            "no such file (for SoftHSM install the softhsm2 package)".into(),
        ));
    }
    let ctx = Pkcs11::new(module).map_err(|e| load_err(e.to_string()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(load_err(e.to_string())),
    }
    map.insert(module.to_path_buf(), ctx.clone());
    Ok(ctx)
}

fn ck(operation: &'static str) -> impl Fn(CkError) -> HsmError {
    move |e| HsmError::Pkcs11 {
        operation,
        reason: e.to_string(),
    }
}

/// Errors after which a fresh session, a new login and fresh object handles are worth one
/// retry: the session or login was lost, or a cached handle went stale with it.
fn session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::UserNotLoggedIn
                | RvError::ObjectHandleInvalid
                | RvError::KeyHandleInvalid,
            _
        )
    )
}

/// Keys in a PKCS#11 token.
pub struct Pkcs11Provider {
    ctx: Pkcs11,
    slot: Slot,
    token: String,
    pin: AuthPin,
    scheme: SignatureScheme,
    sm2: Option<Sm2Mechanisms>,
    sessions: Mutex<Vec<Session>>,
    /// Object handles by (label, purpose), and signing public keys by label: looked up
    /// once, so a signature is one PKCS#11 call. Cleared when a session is lost.
    handles: Mutex<HashMap<(String, u8), ObjectHandle>>,
    publics: Mutex<HashMap<String, PublicKey>>,
    /// Key generation is rare and serialised: SoftHSM 2.6 has been seen failing with
    /// `CKR_GENERAL_ERROR` when two threads create token objects at once, and the
    /// exists-then-generate check must not race.
    generation: Mutex<()>,
}

impl std::fmt::Debug for Pkcs11Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Provider")
            .field("token", &self.token)
            .field("signing_scheme", &self.scheme.name())
            .field("sm2", &self.sm2)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Provider {
    /// Loads the module, finds the token by label, logs in once (a refused PIN is not
    /// retried), and picks the signing scheme the token offers.
    pub fn open(config: Pkcs11Config) -> Result<Self, HsmError> {
        let ctx = context(&config.module)?;
        let slots = ctx.get_slots_with_token().map_err(ck("listing slots"))?;
        let mut available = Vec::new();
        let mut found = None;
        for slot in slots {
            let info = ctx.get_token_info(slot).map_err(ck("reading token info"))?;
            let label = info.label().trim().to_string();
            if label == config.token_label {
                found = Some(slot);
                break;
            }
            available.push(label);
        }
        let slot = found.ok_or_else(|| HsmError::TokenNotFound {
            token: config.token_label.clone(),
            module: config.module.display().to_string(),
            available: if available.is_empty() {
                "none".into()
            } else {
                available.join(", ")
            },
        })?;
        // Each mechanism we use is asked about by type: listing them all would make
        // cryptoki log an ERROR line for every vendor mechanism it has no name for (dozens
        // on SoftHSM), at every start.
        let has = |m: MechanismType| -> Result<bool, HsmError> {
            match ctx.get_mechanism_info(slot, m) {
                Ok(_) => Ok(true),
                Err(cryptoki::error::Error::Pkcs11(
                    cryptoki::error::RvError::MechanismInvalid,
                    _,
                )) => Ok(false),
                Err(e) => Err(ck("querying a mechanism")(e)),
            }
        };
        let eddsa = has(MechanismType::EDDSA)? && has(MechanismType::ECC_EDWARDS_KEY_PAIR_GEN)?;
        let sm2 = if config.suite == CryptoSuite::Sm {
            let m = config
                .sm2
                .clone()
                .ok_or_else(|| HsmError::SmNotConfigured {
                    token: config.token_label.clone(),
                })?;
            for (spec, purpose) in [
                (&m.key_pair_gen, "generating SM2 key pairs"),
                (&m.sign, "SM2 signatures"),
                (&m.derive, "SM2 key agreement (unwrapping field keys)"),
            ] {
                if !has(spec.mechanism_type()?)? {
                    return Err(HsmError::VendorMechanismMissing {
                        token: config.token_label.clone(),
                        mechanism: spec.describe(),
                        purpose,
                    });
                }
            }
            Some(m)
        } else {
            None
        };
        let scheme = match config.signing {
            _ if sm2.is_some() => SignatureScheme::Sm2,
            SigningAlgorithm::Auto if eddsa => SignatureScheme::Ed25519,
            SigningAlgorithm::Ed25519 if eddsa => SignatureScheme::Ed25519,
            SigningAlgorithm::Ed25519 => {
                return Err(HsmError::MechanismMissing {
                    token: config.token_label.clone(),
                    mechanism: "CKM_EDDSA",
                    purpose: "Ed25519 signing keys (choose ecdsa-p256 or auto)",
                })
            }
            SigningAlgorithm::Auto | SigningAlgorithm::EcdsaP256 => {
                SignatureScheme::EcdsaP256Sha256
            }
        };
        let ecdh_needed = sm2.as_ref().is_none_or(|m| m.derive.value == 0x1050);
        if scheme == SignatureScheme::EcdsaP256Sha256 && !has(MechanismType::ECDSA)? {
            return Err(HsmError::MechanismMissing {
                token: config.token_label.clone(),
                mechanism: "CKM_ECDSA",
                purpose: "ECDSA P-256 signing keys",
            });
        }
        for (m, what, purpose) in [
            (
                MechanismType::ECDH1_DERIVE,
                "CKM_ECDH1_DERIVE",
                "unwrapping field keys",
            ),
            (MechanismType::AES_GCM, "CKM_AES_GCM", "sealing secrets"),
        ] {
            if m == MechanismType::ECDH1_DERIVE && !ecdh_needed {
                continue;
            }
            if !has(m)? {
                return Err(HsmError::MechanismMissing {
                    token: config.token_label.clone(),
                    mechanism: what,
                    purpose,
                });
            }
        }
        let provider = Pkcs11Provider {
            ctx,
            slot,
            token: config.token_label,
            pin: config.pin,
            scheme,
            sm2,
            sessions: Mutex::new(Vec::new()),
            handles: Mutex::new(HashMap::new()),
            publics: Mutex::new(HashMap::new()),
            generation: Mutex::new(()),
        };
        let session = provider.new_session()?;
        provider.release(session);
        tracing::info!(token = %provider.token, signing = provider.scheme.name(), "PKCS#11 token opened");
        Ok(provider)
    }

    /// The signature scheme of signing keys this token generates.
    pub fn signing_scheme(&self) -> SignatureScheme {
        self.scheme
    }

    fn new_session(&self) -> Result<Session, HsmError> {
        let session = self
            .ctx
            .open_rw_session(self.slot)
            .map_err(ck("opening a session"))?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(HsmError::WrongPin {
                token: self.token.clone(),
            }),
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(HsmError::PinLocked {
                token: self.token.clone(),
            }),
            Err(e) => Err(ck("logging in")(e)),
        }
    }

    fn release(&self, session: Session) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(session);
    }

    /// Runs `op` on a pooled session. If the session was lost underneath us (closed,
    /// invalid, logged out, device removed), opens a new one, logs in again, and retries
    /// once.
    fn with_session<T>(
        &self,
        operation: &'static str,
        op: impl Fn(&Session) -> Result<T, CkError>,
        map: impl Fn(CkError) -> HsmError,
    ) -> Result<T, HsmError> {
        let pooled = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let metrics = ledger_metrics::metrics();
        let started = std::time::Instant::now();
        let session = match pooled {
            Some(s) => s,
            None => self
                .new_session()
                .inspect_err(|_| metrics.hsm_operation(operation, started, false))?,
        };
        let out = self.run_on(session, &op, &map);
        metrics.hsm_operation(operation, started, out.is_ok());
        out
    }

    /// [`Self::with_session`] on `session`, recovering a lost session once.
    fn run_on<T>(
        &self,
        session: Session,
        op: &impl Fn(&Session) -> Result<T, CkError>,
        map: &impl Fn(CkError) -> HsmError,
    ) -> Result<T, HsmError> {
        match op(&session) {
            Ok(v) => {
                self.release(session);
                Ok(v)
            }
            Err(e) if session_lost(&e) => {
                tracing::warn!(token = %self.token, error = %e, "PKCS#11 session lost; reopening and retrying once");
                ledger_metrics::metrics().hsm_session_recoveries.inc();
                drop(session);
                self.sessions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                self.handles
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                let session = self.new_session()?;
                let out = op(&session).map_err(map);
                self.release(session);
                out
            }
            Err(e) => {
                self.release(session);
                Err(map(e))
            }
        }
    }

    fn find(
        &self,
        session: &Session,
        label: &str,
        class: ObjectClass,
        purpose_attr: Attribute,
    ) -> Result<Option<ObjectHandle>, CkError> {
        let found = session
            .find_objects(&[
                Attribute::Class(class),
                Attribute::Label(label.as_bytes().to_vec()),
                purpose_attr,
            ])?
            .into_iter()
            .next();
        // Private objects are invisible, not refused, once the login is gone (a logout or
        // a token reset underneath us): report that as the session error it is.
        if found.is_none() && class != ObjectClass::PUBLIC_KEY {
            let state = session.get_session_info()?.session_state();
            if !matches!(state, SessionState::RoUser | SessionState::RwUser) {
                return Err(CkError::Pkcs11(
                    RvError::UserNotLoggedIn,
                    Function::FindObjects,
                ));
            }
        }
        Ok(found)
    }

    /// The private or secret key `label` for `purpose` (1 signing, 2 agreement, 3 sealing),
    /// from the cache or found on `session`.
    fn cached_key(
        &self,
        session: &Session,
        label: &str,
        purpose: u8,
    ) -> Result<Option<ObjectHandle>, CkError> {
        let k = (label.to_string(), purpose);
        if let Some(h) = self
            .handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&k)
        {
            return Ok(Some(*h));
        }
        let (class, attr) = match purpose {
            1 => (ObjectClass::PRIVATE_KEY, Attribute::Sign(true)),
            2 => (ObjectClass::PRIVATE_KEY, Attribute::Derive(true)),
            _ => (ObjectClass::SECRET_KEY, Attribute::KeyType(KeyType::AES)),
        };
        let found = self.find(session, label, class, attr)?;
        if let Some(h) = found {
            self.handles
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(k, h);
        }
        Ok(found)
    }

    /// Runs `op` with the key `label` for `purpose` on a pooled session.
    fn with_key<T>(
        &self,
        operation: &'static str,
        label: &str,
        purpose: u8,
        op: impl Fn(&Session, ObjectHandle) -> Result<T, CkError>,
        map: impl Fn(CkError) -> HsmError,
    ) -> Result<T, HsmError> {
        let out = self.with_session(
            operation,
            |s| match self.cached_key(s, label, purpose)? {
                Some(h) => op(s, h).map(Some),
                None => Ok(None),
            },
            map,
        )?;
        out.ok_or_else(|| HsmError::KeyNotFound {
            label: label.into(),
            purpose: match purpose {
                1 => "signing",
                2 => "agreement",
                _ => "sealing",
            },
            provider: format!("pkcs11:{}", self.token),
        })
    }

    fn key(
        &self,
        label: &str,
        purpose: &'static str,
        class: ObjectClass,
        attr: Attribute,
    ) -> Result<ObjectHandle, HsmError> {
        self.with_session(
            "finding a key",
            |s| self.find(s, label, class, attr.clone()),
            ck("finding a key"),
        )?
        .ok_or_else(|| HsmError::KeyNotFound {
            label: label.into(),
            purpose,
            provider: self.describe(),
        })
    }

    fn ec_point(
        &self,
        label: &str,
        purpose: &'static str,
        attr: Attribute,
    ) -> Result<Vec<u8>, HsmError> {
        let handle = self.key(label, purpose, ObjectClass::PUBLIC_KEY, attr)?;
        let attrs = self.with_session(
            "reading a public key",
            |s| s.get_attributes(handle, &[AttributeType::EcPoint]),
            ck("reading a public key"),
        )?;
        for a in attrs {
            if let Attribute::EcPoint(p) = a {
                return Ok(strip_octet_string(p));
            }
        }
        Err(HsmError::Malformed { what: "EC point" })
    }

    fn generate_pair(
        &self,
        label: &str,
        purpose: &'static str,
        mechanism: Mechanism<'static>,
        params: &[u8],
        sign: bool,
    ) -> Result<(), HsmError> {
        let (pub_attr, priv_attr) = if sign {
            (Attribute::Verify(true), Attribute::Sign(true))
        } else {
            (Attribute::Verify(false), Attribute::Derive(true))
        };
        let _serial = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        let exists = self.with_session(
            "finding a key",
            |s| self.find(s, label, ObjectClass::PRIVATE_KEY, priv_attr.clone()),
            ck("finding a key"),
        )?;
        if exists.is_some() {
            return Err(HsmError::KeyExists {
                label: label.into(),
                purpose,
                provider: self.describe(),
            });
        }
        let public = vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::EcParams(params.to_vec()),
            pub_attr,
        ];
        let private = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Label(label.as_bytes().to_vec()),
            // One use per key: a signing key does not derive, an agreement key does not
            // sign, neither decrypts nor unwraps.
            Attribute::Sign(sign),
            Attribute::Derive(!sign),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
        ];
        self.with_session(
            "generating a key pair",
            |s| s.generate_key_pair(&mechanism, &public, &private),
            ck("generating a key pair"),
        )?;
        tracing::info!(token = %self.token, label, purpose, "generated a key pair in the token");
        Ok(())
    }
}

/// `CKA_EC_POINT` is a DER OCTET STRING around the point; some tokens return it bare.
fn strip_octet_string(p: Vec<u8>) -> Vec<u8> {
    if p.len() >= 2 && p[0] == 0x04 && usize::from(p[1]) == p.len() - 2 && p[1] < 0x80 {
        return p[2..].to_vec();
    }
    p
}

impl KeyProvider for Pkcs11Provider {
    fn describe(&self) -> String {
        format!("pkcs11:{}", self.token)
    }

    fn generate_signing_key(&self, label: &str) -> Result<PublicKey, HsmError> {
        if let Some(m) = &self.sm2 {
            self.generate_pair(label, "signing", m.key_pair_gen.plain()?, SM2_PARAMS, true)?;
            return self.signing_public_key(label);
        }
        match self.scheme {
            SignatureScheme::Ed25519 => self.generate_pair(
                label,
                "signing",
                Mechanism::EccEdwardsKeyPairGen,
                ED25519_PARAMS,
                true,
            )?,
            _ => self.generate_pair(
                label,
                "signing",
                Mechanism::EccKeyPairGen,
                P256_PARAMS,
                true,
            )?,
        }
        self.signing_public_key(label)
    }

    fn signing_public_key(&self, label: &str) -> Result<PublicKey, HsmError> {
        if let Some(pk) = self
            .publics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(label)
        {
            return Ok(pk.clone());
        }
        let point = self.ec_point(label, "signing", Attribute::Verify(true))?;
        let scheme = match point.len() {
            32 => SignatureScheme::Ed25519,
            65 if self.sm2.is_some() => SignatureScheme::Sm2,
            65 => SignatureScheme::EcdsaP256Sha256,
            _ => {
                return Err(HsmError::Malformed {
                    what: "signing public key",
                })
            }
        };
        let pk = PublicKey::new(scheme, point).map_err(|_| HsmError::Malformed {
            what: "signing public key",
        })?;
        self.publics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(label.to_string(), pk.clone());
        Ok(pk)
    }

    fn sign(&self, label: &str, digest: &Hash) -> Result<Signature, HsmError> {
        let public = self.signing_public_key(label)?;
        if let (SignatureScheme::Sm2, Some(m)) = (public.scheme(), &self.sm2) {
            let input = match m.sign_input {
                Sm2SignInput::Message => digest.0.to_vec(),
                Sm2SignInput::Prehash => ledger_crypto::sm::sm2_prehash(public.bytes(), &digest.0)
                    .map_err(|e| HsmError::Pkcs11 {
                        operation: "signing",
                        reason: e.to_string(),
                    })?
                    .to_vec(),
            };
            let mech = m.sign.plain()?;
            let raw = self.with_key(
                "signing",
                label,
                1,
                |s, k| s.sign(&mech, k, &input),
                ck("signing"),
            )?;
            let sig = ledger_crypto::sm::sm2_signature_from_token(&raw).map_err(|_| {
                HsmError::Malformed {
                    what: "SM2 signature from the token",
                }
            })?;
            // A token computing ZA with another identifier would sign something no node
            // verifies: check before the signature leaves.
            ledger_crypto::sm::sm2_verify(public.bytes(), &digest.0, &sig).map_err(|_| {
                HsmError::Pkcs11 {
                    operation: "signing",
                    reason: format!(
                        "the token's SM2 signature does not verify with ZA over {:?}: check sign_input and the token's distinguishing identifier",
                        ledger_types::SM2_DIST_ID
                    ),
                }
            })?;
            return Ok(Signature(sig));
        }
        match public.scheme() {
            SignatureScheme::Ed25519 => {
                let mech = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
                let sig = self.with_key(
                    "signing",
                    label,
                    1,
                    |s, k| s.sign(&mech, k, &digest.0),
                    ck("signing"),
                )?;
                Ok(Signature(sig))
            }
            _ => {
                // SoftHSM refuses CKM_ECDSA_SHA256: hash on the host, sign the hash.
                let prehash = sha2::Sha256::digest(digest.0);
                let raw = self.with_key(
                    "signing",
                    label,
                    1,
                    |s, k| s.sign(&Mechanism::Ecdsa, k, &prehash),
                    ck("signing"),
                )?;
                let sig =
                    p256::ecdsa::Signature::from_slice(&raw).map_err(|_| HsmError::Malformed {
                        what: "ECDSA signature",
                    })?;
                let sig = sig.normalize_s().unwrap_or(sig);
                Ok(Signature(sig.to_bytes().to_vec()))
            }
        }
    }

    fn generate_agreement_key(&self, label: &str) -> Result<Vec<u8>, HsmError> {
        if let Some(m) = &self.sm2 {
            self.generate_pair(
                label,
                "agreement",
                m.key_pair_gen.plain()?,
                SM2_PARAMS,
                false,
            )?;
            return self.agreement_public_key(label);
        }
        self.generate_pair(
            label,
            "agreement",
            Mechanism::EccKeyPairGen,
            P256_PARAMS,
            false,
        )?;
        self.agreement_public_key(label)
    }

    fn agreement_public_key(&self, label: &str) -> Result<Vec<u8>, HsmError> {
        self.ec_point(label, "agreement", Attribute::Verify(false))
    }

    /// The ECDH shared secret with `peer_point`. HPKE's key schedule (HKDF) runs in
    /// software, so the derived value has to be read: it is derived into a session
    /// object (never on the token), readable only for that, and destroyed before this
    /// returns; the agreement private key itself never leaves the token. An HSM with
    /// PKCS#11 3.0's `CKM_HKDF_DERIVE` could keep the whole schedule inside (SoftHSM 2.6
    /// has none).
    fn ecdh(&self, label: &str, peer_point: &[u8]) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(false),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::ValueLen(32.into()),
        ];
        // A vendor's SM2 agreement mechanism, given the standard parameters.
        let derive = match &self.sm2 {
            Some(m) if m.derive.value != 0x1050 => Some(m.derive.mechanism_type()?),
            _ => None,
        };
        let secret = self.with_key(
            "deriving a shared secret",
            label,
            2,
            |s, key| {
                let params = Ecdh1DeriveParams::new(EcKdf::null(), peer_point);
                let mechanism = match &derive {
                    Some(ty) => Mechanism::VendorDefined(
                        cryptoki::mechanism::vendor_defined::VendorDefinedMechanism::new(
                            *ty,
                            Some(&params),
                        ),
                    ),
                    None => Mechanism::Ecdh1Derive(params),
                };
                let obj = s.derive_key(&mechanism, key, &template)?;
                let mut attrs = s.get_attributes(obj, &[AttributeType::Value]);
                // The derived object must not outlive this call: a failed destroy is an
                // error (the value read is wiped first), never ignored.
                if let Err(e) = s.destroy_object(obj) {
                    if let Ok(list) = attrs.as_mut() {
                        for a in list.iter_mut() {
                            if let Attribute::Value(v) = a {
                                v.zeroize();
                            }
                        }
                    }
                    return Err(e);
                }
                attrs
            },
            ck("deriving a shared secret"),
        )?;
        for a in secret {
            if let Attribute::Value(v) = a {
                return Ok(Zeroizing::new(v));
            }
        }
        Err(HsmError::Malformed {
            what: "shared secret",
        })
    }

    fn generate_sealing_key(&self, label: &str) -> Result<(), HsmError> {
        let _serial = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        let exists = self.with_session(
            "finding a key",
            |s| {
                self.find(
                    s,
                    label,
                    ObjectClass::SECRET_KEY,
                    Attribute::KeyType(KeyType::AES),
                )
            },
            ck("finding a key"),
        )?;
        if exists.is_some() {
            return Err(HsmError::KeyExists {
                label: label.into(),
                purpose: "sealing",
                provider: self.describe(),
            });
        }
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        self.with_session(
            "generating a sealing key",
            |s| s.generate_key(&Mechanism::AesKeyGen, &template),
            ck("generating a sealing key"),
        )?;
        tracing::info!(token = %self.token, label, "generated an AES-256 sealing key in the token");
        Ok(())
    }

    fn seal(&self, label: &str, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, HsmError> {
        let (iv, ct) = self.with_key(
            "sealing",
            label,
            3,
            |s, key| {
                let mut iv = s.generate_random_vec(GCM_IV_LEN as u32)?;
                let params = GcmParams::new(&mut iv, aad, 128.into())?;
                let ct = s.encrypt(&Mechanism::AesGcm(params), key, plaintext)?;
                Ok((iv, ct))
            },
            ck("sealing"),
        )?;
        let mut out = Vec::with_capacity(1 + iv.len() + ct.len());
        out.push(SEAL_FORMAT);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&ct);
        Ok(out)
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
        if sealed.len() < 1 + GCM_IV_LEN + 16 || sealed[0] != SEAL_FORMAT {
            return Err(fail());
        }
        let (iv, ct) = sealed[1..].split_at(GCM_IV_LEN);
        let out = self.with_key(
            "unsealing",
            label,
            3,
            |s, key| {
                let mut iv = iv.to_vec();
                let params = GcmParams::new(&mut iv, aad, 128.into())?;
                s.decrypt(&Mechanism::AesGcm(params), key, ct)
            },
            |_| fail(),
        )?;
        Ok(Zeroizing::new(out))
    }

    fn list_keys(&self) -> Result<Vec<KeyInfo>, HsmError> {
        let mut out = Vec::new();
        let handles = self.with_session(
            "listing objects",
            |s| s.find_objects(&[Attribute::Token(true)]),
            ck("listing objects"),
        )?;
        for h in handles {
            let attrs = self.with_session(
                "reading object attributes",
                |s| {
                    s.get_attributes(
                        h,
                        &[
                            AttributeType::Class,
                            AttributeType::Label,
                            AttributeType::Sign,
                            AttributeType::Derive,
                            AttributeType::KeyType,
                        ],
                    )
                },
                ck("reading object attributes"),
            )?;
            let (mut class, mut label, mut sign, mut derive, mut key_type) =
                (None, String::new(), false, false, None);
            for a in attrs {
                match a {
                    Attribute::Class(c) => class = Some(c),
                    Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
                    Attribute::Sign(v) => sign = v,
                    Attribute::Derive(v) => derive = v,
                    Attribute::KeyType(k) => key_type = Some(k),
                    _ => {}
                }
            }
            // One entry per key, from its private (or secret) object.
            let info = match (class, key_type) {
                (Some(ObjectClass::PRIVATE_KEY), _) if sign => Some((
                    KeyPurpose::Signing,
                    self.signing_public_key(&label).ok().map(|p| p.to_text()),
                )),
                (Some(ObjectClass::PRIVATE_KEY), _) if derive => Some((
                    KeyPurpose::Agreement,
                    self.agreement_public_key(&label)
                        .ok()
                        .map(|p| p.iter().map(|b| format!("{b:02x}")).collect::<String>()),
                )),
                (Some(ObjectClass::SECRET_KEY), Some(KeyType::AES)) => {
                    Some((KeyPurpose::Sealing, None))
                }
                _ => None,
            };
            if let Some((purpose, public)) = info {
                out.push(KeyInfo {
                    label,
                    purpose,
                    public,
                });
            }
        }
        out.sort_by(|a, b| a.label.cmp(&b.label));
        Ok(out)
    }
}
