//! Hashes: one 32-byte digest type and the hash suite that produces it.
//!
//! Every hash the ledger commits to goes through [`HashSuite`]: SHA-256 on chains of the
//! default crypto suite, SM3 (GM/T 0004-2012) on chains of the SM suite. The suite of a chain
//! is fixed in its genesis and selected once per process ([`CryptoSuite::select`]); a
//! process serves one chain.

use std::fmt;
use std::sync::OnceLock;

use sha2::Digest as _;

use crate::keys::SignatureScheme;

/// A 32-byte digest: transaction and block hashes, Merkle and state roots.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash (the previous-block hash of the genesis block).
    pub const ZERO: Hash = Hash([0u8; 32]);

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let v = hex::decode(s.trim()).ok()?;
        Self::from_slice(&v)
    }

    /// Takes exactly 32 bytes.
    pub fn from_slice(b: &[u8]) -> Option<Hash> {
        <[u8; 32]>::try_from(b).ok().map(Hash)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An incremental hash function with a 32-byte output.
pub trait Hasher {
    /// Absorbs bytes.
    fn update(&mut self, data: &[u8]);
    /// The digest of everything absorbed.
    fn finalize(self) -> Hash;
}

/// SHA-256 (FIPS 180-4).
#[derive(Default, Clone)]
pub struct Sha256Hasher(sha2::Sha256);

impl Hasher for Sha256Hasher {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn finalize(self) -> Hash {
        Hash(self.0.finalize().into())
    }
}

/// SM3 (GM/T 0004-2012, ISO/IEC 10118-3:2018).
#[derive(Default, Clone)]
pub struct Sm3Hasher(sm3::Sm3);

impl Hasher for Sm3Hasher {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn finalize(self) -> Hash {
        Hash(self.0.finalize().into())
    }
}

/// A hasher of either suite.
#[derive(Clone)]
pub enum SuiteHasher {
    /// SHA-256.
    Sha256(Sha256Hasher),
    /// SM3.
    Sm3(Sm3Hasher),
}

impl Hasher for SuiteHasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            SuiteHasher::Sha256(h) => h.update(data),
            SuiteHasher::Sm3(h) => h.update(data),
        }
    }
    fn finalize(self) -> Hash {
        match self {
            SuiteHasher::Sha256(h) => h.finalize(),
            SuiteHasher::Sm3(h) => h.finalize(),
        }
    }
}

/// The hash suites a chain can be created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashSuite {
    /// SHA-256 (FIPS 180-4): the default crypto suite.
    Sha256,
    /// SM3 (GM/T 0004-2012): the SM crypto suite.
    Sm3,
}

impl HashSuite {
    /// The hash suite of this process's chain ([`CryptoSuite::current`]).
    pub fn current() -> HashSuite {
        CryptoSuite::current().hash()
    }

    /// The name written in genesis files.
    pub fn name(self) -> &'static str {
        match self {
            HashSuite::Sha256 => "sha256",
            HashSuite::Sm3 => "sm3",
        }
    }

    /// Parses a genesis suite name.
    pub fn from_name(name: &str) -> Option<HashSuite> {
        match name {
            "sha256" => Some(HashSuite::Sha256),
            "sm3" => Some(HashSuite::Sm3),
            _ => None,
        }
    }

    /// A fresh hasher of this suite.
    pub fn hasher(self) -> SuiteHasher {
        match self {
            HashSuite::Sha256 => SuiteHasher::Sha256(Sha256Hasher::default()),
            HashSuite::Sm3 => SuiteHasher::Sm3(Sm3Hasher::default()),
        }
    }

    /// Hash of `domain` (length-prefixed, so domains cannot run into data) then `parts`.
    pub fn digest(self, domain: &str, parts: &[&[u8]]) -> Hash {
        let mut h = self.hasher();
        h.update(&(domain.len() as u32).to_be_bytes());
        h.update(domain.as_bytes());
        for p in parts {
            h.update(p);
        }
        h.finalize()
    }

    /// Plain hash of the concatenated parts, with no domain (for RFC 6962 Merkle trees,
    /// whose leaf and node prefixes are their own domain separation).
    pub fn digest_raw(self, parts: &[&[u8]]) -> Hash {
        let mut h = self.hasher();
        for p in parts {
            h.update(p);
        }
        h.finalize()
    }
}

/// The crypto suite of a chain: which hash, signature, field cipher and key wrapping every
/// node and client of that chain uses. Fixed in genesis; no transaction changes it.
///
/// Proof systems keep their own curves and transcripts whatever the suite (Bulletproofs
/// and sigma proofs on Ristretto, Groth16 on BN254, ring signatures on Ristretto): see
/// docs/crypto-suites.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CryptoSuite {
    /// SHA-256; Ed25519 or ECDSA P-256 signatures; AES-256-GCM field sealing; HPKE
    /// (DHKEM P-256, HKDF-SHA256, AES-256-GCM) key wrapping.
    Default,
    /// The Chinese commercial suite: SM3; SM2 signatures with the distinguishing identifier
    /// (ZA); SM4-GCM field sealing; HPKE-shaped key wrapping over SM2 key agreement,
    /// HKDF-SM3 and SM4-GCM.
    Sm,
}

/// The SM2 distinguishing identifier every SM2 signature of the ledger uses: the default of
/// GM/T 0009-2012 (and of OpenSSL, GmSSL and most HSMs), `1234567812345678`.
pub const SM2_DIST_ID: &str = "1234567812345678";

static SELECTED: OnceLock<CryptoSuite> = OnceLock::new();

/// Two suites in one process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this process already uses the {active} crypto suite and cannot switch to {wanted}: a \
     process serves one chain, and a chain's suite is fixed in its genesis ({hint})"
)]
pub struct SuiteConflict {
    /// The suite in use.
    pub active: &'static str,
    /// The suite asked for.
    pub wanted: &'static str,
    /// Where the caller found the wanted suite.
    pub hint: String,
}

impl CryptoSuite {
    /// Every suite.
    pub const ALL: [CryptoSuite; 2] = [CryptoSuite::Default, CryptoSuite::Sm];

    /// The name in genesis and configuration files, status and the explorer.
    pub fn name(self) -> &'static str {
        match self {
            CryptoSuite::Default => "default",
            CryptoSuite::Sm => "sm",
        }
    }

    /// Parses a suite name.
    pub fn from_name(name: &str) -> Option<CryptoSuite> {
        CryptoSuite::ALL.into_iter().find(|s| s.name() == name)
    }

    /// A one-line description of the algorithms.
    pub fn describe(self) -> &'static str {
        match self {
            CryptoSuite::Default => {
                "SHA-256; Ed25519 or ECDSA P-256; AES-256-GCM; HPKE P-256/HKDF-SHA256/AES-256-GCM"
            }
            CryptoSuite::Sm => {
                "SM3; SM2 signatures (ZA, ID 1234567812345678); SM4-GCM; SM2/HKDF-SM3/SM4-GCM wrapping"
            }
        }
    }

    /// The hash of the suite.
    pub fn hash(self) -> HashSuite {
        match self {
            CryptoSuite::Default => HashSuite::Sha256,
            CryptoSuite::Sm => HashSuite::Sm3,
        }
    }

    /// Whether keys of `scheme` may sign on a chain of this suite.
    pub fn allows(self, scheme: SignatureScheme) -> bool {
        match self {
            CryptoSuite::Default => matches!(
                scheme,
                SignatureScheme::Ed25519 | SignatureScheme::EcdsaP256Sha256
            ),
            CryptoSuite::Sm => scheme == SignatureScheme::Sm2,
        }
    }

    /// The signature schemes of the suite, by name, for messages.
    pub fn scheme_names(self) -> &'static str {
        match self {
            CryptoSuite::Default => "ed25519 or ecdsa-p256",
            CryptoSuite::Sm => "sm2",
        }
    }

    /// Fixes this process's suite. Idempotent for the same suite; refused if the process
    /// already uses the other one (including the default, fixed by the first hash computed
    /// before any selection). `hint` says where the suite came from, for the error.
    pub fn select(self, hint: &str) -> Result<(), SuiteConflict> {
        let active = *SELECTED.get_or_init(|| self);
        if active == self {
            Ok(())
        } else {
            Err(SuiteConflict {
                active: active.name(),
                wanted: self.name(),
                hint: hint.to_string(),
            })
        }
    }

    /// The suite of this process's chain: the one [`select`](Self::select)ed, else the
    /// default (and from then on the default, so a later selection of another suite fails
    /// instead of mixing hashes).
    pub fn current() -> CryptoSuite {
        *SELECTED.get_or_init(|| CryptoSuite::Default)
    }
}

impl fmt::Display for CryptoSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answer() {
        // FIPS 180-2 appendix B.1: SHA-256("abc").
        assert_eq!(
            HashSuite::Sha256.digest_raw(&[b"abc"]).to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn domains_separate() {
        let s = HashSuite::Sha256;
        assert_ne!(s.digest("a", &[b"bc"]), s.digest("ab", &[b"c"]));
    }

    #[test]
    fn sm3_known_answers() {
        // GM/T 0004-2012 appendix A.1: SM3("abc").
        assert_eq!(
            HashSuite::Sm3.digest_raw(&[b"abc"]).to_hex(),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
        // Appendix A.2: SM3 of "abcd" repeated 16 times (512 bits), absorbed in pieces.
        let abcd = b"abcd".repeat(16);
        assert_eq!(
            HashSuite::Sm3
                .digest_raw(&[&abcd[..7], &abcd[7..]])
                .to_hex(),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
        );
        // The two suites never agree.
        assert_ne!(
            HashSuite::Sm3.digest("d", &[b"x"]),
            HashSuite::Sha256.digest("d", &[b"x"])
        );
    }

    #[test]
    fn suites_by_name_and_schemes() {
        for s in CryptoSuite::ALL {
            assert_eq!(CryptoSuite::from_name(s.name()), Some(s));
        }
        assert_eq!(CryptoSuite::from_name("gm"), None);
        assert!(CryptoSuite::Sm.allows(SignatureScheme::Sm2));
        assert!(!CryptoSuite::Sm.allows(SignatureScheme::Ed25519));
        assert!(!CryptoSuite::Default.allows(SignatureScheme::Sm2));
        assert!(CryptoSuite::Default.allows(SignatureScheme::EcdsaP256Sha256));
        assert_eq!(CryptoSuite::Sm.hash(), HashSuite::Sm3);
    }

    #[test]
    fn hex_round_trip() {
        let h = HashSuite::Sha256.digest("x", &[]);
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex("00"), None);
    }
}
