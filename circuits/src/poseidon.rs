//! The Poseidon parameters every commitment and nullifier uses, fixed once and for all.
//!
//! Width 3 (rate 2, capacity 1), S-box x^5, 8 full rounds and 57 partial rounds over the
//! BN254 scalar field: the instance the Poseidon paper (Grassi et al., USENIX Security
//! 2021, table 2) gives for 128-bit security at t = 3 on a 254-bit prime. Round constants
//! and the MDS matrix come from the paper's Grain LFSR (arkworks'
//! `find_poseidon_ark_and_mds`, no skipped matrices). Changing any of this changes every
//! commitment, every nullifier and every circuit; the pinned verifying-key fingerprints
//! catch it.

use std::sync::OnceLock;

use ark_crypto_primitives::sponge::poseidon::{
    find_poseidon_ark_and_mds, PoseidonConfig, PoseidonSponge,
};
use ark_crypto_primitives::sponge::CryptographicSponge;

use crate::Fr;

/// Full rounds.
pub const FULL_ROUNDS: usize = 8;
/// Partial rounds.
pub const PARTIAL_ROUNDS: usize = 57;
/// The S-box exponent.
pub const ALPHA: u64 = 5;
/// Rate (field elements absorbed per permutation).
pub const RATE: usize = 2;

/// Domain tag of document commitments.
pub const COMMITMENT_TAG: u64 = 0x636c_646f_6301; // "cldoc" 1
/// Domain tag of receivable nullifiers (version 2: derived from a delivery note).
pub const NULLIFIER_TAG: u64 = 0x636c_6e75_6c02; // "clnul" 2

/// The fixed Poseidon configuration.
pub fn poseidon_config() -> &'static PoseidonConfig<Fr> {
    static C: OnceLock<PoseidonConfig<Fr>> = OnceLock::new();
    C.get_or_init(|| {
        let (ark, mds) = find_poseidon_ark_and_mds::<Fr>(
            254,
            RATE,
            FULL_ROUNDS as u64,
            PARTIAL_ROUNDS as u64,
            0,
        );
        PoseidonConfig::new(FULL_ROUNDS, PARTIAL_ROUNDS, ALPHA, mds, ark, RATE, 1)
    })
}

/// Poseidon of `inputs` (absorbed in order, one element squeezed).
pub fn hash(inputs: &[Fr]) -> Fr {
    let mut sponge = PoseidonSponge::new(poseidon_config());
    sponge.absorb(&inputs.to_vec());
    sponge.squeeze_field_elements::<Fr>(1)[0]
}
