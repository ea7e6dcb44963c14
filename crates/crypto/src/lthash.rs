//! `LtHash16`: a homomorphic multiset hash for the state root.
//!
//! The state root must be (a) the same on every node for the same state, whatever order
//! writes happened in, (b) cheap to update per block, in proportion to what the block
//! changed, not to the size of the state, and (c) recomputable from the stored state at
//! startup, so tampering with stored state is detected.
//!
//! `LtHash16` (Bellare and Micciancio's lattice-based construction, in the parameters of
//! Lewi, Kim, Maykov and Weis, "Securing Update Propagation with Homomorphic Hashing",
//! 2019) maps each element to 1024 16-bit lanes with an extendable-output function and adds
//! element vectors lane-wise modulo 2^16. Adding an element and removing it are vector
//! addition and subtraction, so the accumulator of a set is independent of insertion order
//! and an update costs one XOF call per changed entry. Finding two different multisets with
//! the same accumulator reduces to a short-vector problem in a lattice of dimension 1024.
//!
//! The XOF is BLAKE3 in key-derivation mode with the context string
//! `"confidential-ledger 2026 state-lthash16 v1"`. The 32-byte state root is the
//! SHA-256 of the 2048-byte accumulator under the domain `cl/state-root/v1`.
//!
//! On chains of the SM suite every hash is SM3: the element's seed is the SM3 of the domain
//! `cl/state-lthash16-sm3/v1` and the entry, and its 2048 bytes are SM3 in counter mode,
//! `SM3(seed || i)` for `i` in 0..64 (a fixed-length expansion of a 256-bit seed, as GM/T
//! 0003's own KDF is); the root is the SM3 of the accumulator.

use ledger_types::{CryptoSuite, Hash, HashSuite};

const LANES: usize = 1024;
/// Size of the serialised accumulator in bytes.
pub const LTHASH_BYTES: usize = LANES * 2;
const XOF_CONTEXT: &str = "confidential-ledger 2026 state-lthash16 v1";

/// A homomorphic multiset hash of key-value entries.
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash16 {
    lanes: Box<[u16; LANES]>,
}

impl Default for LtHash16 {
    fn default() -> Self {
        Self {
            lanes: Box::new([0u16; LANES]),
        }
    }
}

impl std::fmt::Debug for LtHash16 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash16(root {})", self.root())
    }
}

fn element_lanes(key: &[u8], value: &[u8]) -> [u16; LANES] {
    let mut bytes = [0u8; LTHASH_BYTES];
    match CryptoSuite::current() {
        CryptoSuite::Sm => {
            let len = (key.len() as u64).to_be_bytes();
            let seed = HashSuite::Sm3.digest("cl/state-lthash16-sm3/v1", &[&len, key, value]);
            for (i, chunk) in bytes.chunks_exact_mut(32).enumerate() {
                let block = HashSuite::Sm3.digest_raw(&[&seed.0, &(i as u32).to_be_bytes()]);
                chunk.copy_from_slice(&block.0);
            }
        }
        _ => {
            let mut h = blake3::Hasher::new_derive_key(XOF_CONTEXT);
            h.update(&(key.len() as u64).to_be_bytes());
            h.update(key);
            h.update(value);
            h.finalize_xof().fill(&mut bytes);
        }
    }
    let mut out = [0u16; LANES];
    for (lane, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *lane = u16::from_le_bytes([pair[0], pair[1]]);
    }
    out
}

impl LtHash16 {
    /// The accumulator of the empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the entry `(key, value)`.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) {
        let e = element_lanes(key, value);
        for (a, b) in self.lanes.iter_mut().zip(e.iter()) {
            *a = a.wrapping_add(*b);
        }
    }

    /// Removes the entry `(key, value)` (which must have been added).
    pub fn remove(&mut self, key: &[u8], value: &[u8]) {
        let e = element_lanes(key, value);
        for (a, b) in self.lanes.iter_mut().zip(e.iter()) {
            *a = a.wrapping_sub(*b);
        }
    }

    /// The 32-byte state root.
    pub fn root(&self) -> Hash {
        HashSuite::current().digest("cl/state-root/v1", &[&self.to_bytes()])
    }

    /// The 2048-byte serialisation (lanes little-endian).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LTHASH_BYTES);
        for lane in self.lanes.iter() {
            out.extend_from_slice(&lane.to_le_bytes());
        }
        out
    }

    /// Reads the serialisation; `None` if it is not 2048 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != LTHASH_BYTES {
            return None;
        }
        let mut lanes = Box::new([0u16; LANES]);
        for (lane, pair) in lanes.iter_mut().zip(bytes.chunks_exact(2)) {
            *lane = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Some(Self { lanes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_root_is_fixed() {
        assert_eq!(LtHash16::new().root(), LtHash16::default().root());
        assert_eq!(LtHash16::new().to_bytes(), vec![0u8; LTHASH_BYTES]);
    }

    #[test]
    fn key_and_value_are_bound_separately() {
        let mut a = LtHash16::new();
        a.insert(b"ab", b"c");
        let mut b = LtHash16::new();
        b.insert(b"a", b"bc");
        assert_ne!(a, b);
    }

    #[test]
    fn serialisation_round_trips() {
        let mut a = LtHash16::new();
        a.insert(b"k", b"v");
        assert_eq!(LtHash16::from_bytes(&a.to_bytes()), Some(a));
        assert_eq!(LtHash16::from_bytes(&[0; 10]), None);
    }

    proptest! {
        #[test]
        fn order_does_not_matter_and_remove_undoes_insert(
            entries in proptest::collection::btree_map(proptest::collection::vec(any::<u8>(), 0..16), proptest::collection::vec(any::<u8>(), 0..16), 0..20),
            extra_key in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let mut forward = LtHash16::new();
            for (k, v) in &entries { forward.insert(k, v); }
            let mut backward = LtHash16::new();
            for (k, v) in entries.iter().rev() { backward.insert(k, v); }
            prop_assert_eq!(&forward, &backward);

            let before = forward.clone();
            forward.insert(&extra_key, b"x");
            prop_assert_ne!(&forward, &before);
            forward.remove(&extra_key, b"x");
            prop_assert_eq!(&forward, &before);
        }
    }
}
