//! Hashes: one 32-byte digest type and the hash suite that produces it.
//!
//! Every hash the ledger computes goes through [`HashSuite`], so another suite (for example
//! SM3 for deployments that require it) is one more variant and one more [`Hasher`] impl.
//! The suite of a chain is fixed in its genesis.

use std::fmt;

use sha2::Digest as _;

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

/// The hash suites a chain can be created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashSuite {
    /// SHA-256 everywhere.
    Sha256,
}

impl HashSuite {
    /// The suite every chain of this version uses.
    pub const CURRENT: HashSuite = HashSuite::Sha256;

    /// The name written in genesis files.
    pub fn name(self) -> &'static str {
        match self {
            HashSuite::Sha256 => "sha256",
        }
    }

    /// Parses a genesis suite name.
    pub fn from_name(name: &str) -> Option<HashSuite> {
        match name {
            "sha256" => Some(HashSuite::Sha256),
            _ => None,
        }
    }

    /// A fresh hasher of this suite.
    pub fn hasher(self) -> Sha256Hasher {
        match self {
            HashSuite::Sha256 => Sha256Hasher::default(),
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
    fn hex_round_trip() {
        let h = HashSuite::Sha256.digest("x", &[]);
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex("00"), None);
    }
}
