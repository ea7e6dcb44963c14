//! Encrypted analytics with TFHE: amounts encrypted under the consortium's analytics key,
//! questions about them answered on ciphertexts, answers checked by re-execution.
//!
//! - The **analytics authority** (a regulator named in genesis) holds the client key. It is
//!   derived from a 32-byte [`AnalyticsSecret`] that its node keeps sealed by its HSM, like the
//!   audit key; the secret never leaves the node and the client key exists only while the
//!   authority decrypts an answer.
//! - [`PublicKeys`]: the compact public key (clients encrypt amounts), the compressed server
//!   key (anyone computes) and the CRS of the proofs of encryption, serialised with tfhe's
//!   size-limited safe serialisation and named by their SHA-256 ([`PublicKeys::id`]).
//! - [`encrypt_amount`]: an amount as a proven compact ciphertext list of one `FheUint` of
//!   [`Profile::amount_bits`], its proof bound to a context (chain, record, bank) so it cannot
//!   be replayed elsewhere. [`Evaluator::check_amount`] is what validators run before they vote.
//! - [`Evaluator::run`]: a [`Query`] over committed amounts, computed in a fixed-size thread
//!   pool with one FFT algorithm, so that every node gets the same result bytes; the result's
//!   hash ([`QueryResult::hash`]) goes on the ledger and any validator re-runs the query and
//!   compares.
//! - [`Authority::decrypt_answer`]: the authority decrypts a result only when its bytes hash to
//!   the hash the ledger accepted, and only as a boolean.

mod error;
mod keys;
mod query;
#[cfg(test)]
mod tests;

pub use error::FheError;
pub use keys::{AnalyticsSecret, Authority, PublicKeys};
pub use query::{
    encrypt_amount, EncryptedAmount, Evaluator, Progress, Query, QueryResult, FHE_THREADS,
};

/// The integer sizes of a chain's analytics, fixed in genesis.
///
/// Amounts are encrypted with [`Profile::amount_bits`] and summed in
/// [`Profile::total_bits`], so that a sum of up to [`Profile::max_amounts`] amounts cannot
/// wrap around; shares are compared in [`Profile::wide_bits`], where `100 x total` cannot
/// either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Amounts below 2^48 (2.8 x 10^14 minor units), totals in 64 bits, shares in 128: the
    /// production profile.
    Standard,
    /// Amounts below 2^8, totals in 16 bits, shares in 32: the same parameters and code on
    /// fewer blocks, for tests and demos that must run in seconds on two cores.
    Small,
}

impl Profile {
    /// Bits of an encrypted amount.
    pub fn amount_bits(self) -> u32 {
        match self {
            Profile::Standard => 48,
            Profile::Small => 8,
        }
    }
    /// Bits of a total.
    pub fn total_bits(self) -> u32 {
        match self {
            Profile::Standard => 64,
            Profile::Small => 16,
        }
    }
    /// Bits in which shares are compared (`100 x` a total).
    pub fn wide_bits(self) -> u32 {
        2 * self.total_bits()
    }
    /// The largest amount that can be encrypted.
    pub fn max_amount(self) -> u64 {
        (1u64 << self.amount_bits()) - 1
    }
    /// The most amounts one query may sum: their total cannot wrap around.
    pub fn max_amounts(self) -> usize {
        1usize << (self.total_bits() - self.amount_bits())
    }
    /// The name in genesis and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Standard => "standard",
            Profile::Small => "small",
        }
    }
    /// Reads [`Profile::name`].
    pub fn parse(s: &str) -> Result<Self, FheError> {
        match s {
            "standard" => Ok(Profile::Standard),
            "small" => Ok(Profile::Small),
            other => Err(FheError::Invalid(format!(
                "unknown analytics profile {other:?}: expected \"standard\" (48-bit amounts) or \"small\" (8-bit amounts, tests)"
            ))),
        }
    }
    fn tag(self) -> u8 {
        match self {
            Profile::Standard => 1,
            Profile::Small => 2,
        }
    }
    fn from_tag(t: u8) -> Result<Self, FheError> {
        match t {
            1 => Ok(Profile::Standard),
            2 => Ok(Profile::Small),
            other => Err(FheError::Invalid(format!(
                "unknown analytics profile tag {other}"
            ))),
        }
    }
}

/// The tfhe parameters of every profile: 2-bit message and 2-bit carry blocks, keyswitch then
/// bootstrap, TUniform noise, failure probability 2^-128, 128-bit security (tfhe 1.8's
/// defaults); amounts are encrypted under the dedicated compact public-key parameters and
/// key-switched to the computation parameters when expanded.
pub fn tfhe_config() -> tfhe::Config {
    use tfhe::shortint::parameters::{
        PARAM_KEYSWITCH_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
        PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
        PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    };
    tfhe::ConfigBuilder::with_custom_parameters(PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128)
        .use_dedicated_compact_public_key_parameters((
            PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
            PARAM_KEYSWITCH_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
        ))
        .build()
}

pub(crate) use tfhe_config as config;

/// SHA-256 over a domain tag and parts, each length-prefixed.
pub(crate) fn hash(domain: &str, parts: &[&[u8]]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update((domain.len() as u64).to_le_bytes());
    h.update(domain.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// The design note behind this crate, `docs/fhe.md`: what is encrypted under which key, who
/// learns what, what is proven and what is trusted (read it with `cargo doc
/// --document-private-items`).
#[doc = include_str!("../../../docs/fhe.md")]
mod notes {}
