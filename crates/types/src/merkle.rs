//! The transaction Merkle root of a block: the Merkle Tree Hash of RFC 6962 section 2.1.
//!
//! `MTH({}) = H("")`, `MTH({d}) = H(0x00 || d)`, and for n > 1, with k the largest power of
//! two below n, `MTH(D[n]) = H(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`. The 0x00/0x01 prefixes
//! keep leaves and inner nodes apart. Leaves are transaction hashes.

use crate::hash::{Hash, HashSuite};

/// The RFC 6962 Merkle Tree Hash of `leaves`.
pub fn merkle_root(suite: HashSuite, leaves: &[&[u8]]) -> Hash {
    if leaves.is_empty() {
        return suite.digest_raw(&[]);
    }
    let mut level: Vec<Hash> = leaves
        .iter()
        .map(|l| suite.digest_raw(&[&[0u8], l]))
        .collect();
    // Pairing left to right and promoting an odd last node unchanged gives exactly the
    // RFC 6962 split (largest power of two on the left) at every level.
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            match pair {
                [l, r] => next.push(suite.digest_raw(&[&[1u8], &l.0, &r.0])),
                [single] => next.push(*single),
                _ => unreachable!("chunks(2) yields one or two items"),
            }
        }
        level = next;
    }
    level[0]
}

/// The Merkle root of a list of transaction hashes.
pub fn tx_root(suite: HashSuite, tx_hashes: &[Hash]) -> Hash {
    let leaves: Vec<&[u8]> = tx_hashes.iter().map(|h| &h.0[..]).collect();
    merkle_root(suite, &leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference inputs and roots of the Certificate Transparency reference
    /// implementation's Merkle tree tests (RFC 6962 trees over these 8 leaves, roots of the
    /// first n leaves for n = 0..8), recomputed independently with Python's hashlib.
    const LEAVES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn rfc6962_reference_roots() {
        for n in 0..=8 {
            assert_eq!(
                merkle_root(HashSuite::Sha256, &LEAVES[..n]).to_hex(),
                ROOTS[n],
                "root of the first {n} leaves"
            );
        }
    }

    #[test]
    fn order_matters() {
        let a = HashSuite::Sha256.digest("t", &[b"a"]);
        let b = HashSuite::Sha256.digest("t", &[b"b"]);
        assert_ne!(
            tx_root(HashSuite::Sha256, &[a, b]),
            tx_root(HashSuite::Sha256, &[b, a])
        );
    }
}
