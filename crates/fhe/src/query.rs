//! Amounts encrypted with proofs, and queries computed over them, deterministically.

use tfhe::integer::ciphertext::IntegerProvenCompactCiphertextListConformanceParams;
use tfhe::prelude::*;
use tfhe::safe_serialization::{safe_deserialize_conformant, safe_serialize};
use tfhe::zk::{CompactPkeCrs, ZkComputeLoad};
use tfhe::{
    CompactPublicKey, FheBool, FheUint128, FheUint16, FheUint32, FheUint48, FheUint64, FheUint8,
    ProvenCompactCiphertextList,
};

use crate::keys::RESULT_LIMIT;
use crate::{hash, FheError, Profile, PublicKeys};

/// Threads of the pool every query runs in, on every node whatever its cores: tfhe chooses
/// some algorithms (carry propagation) by the number of threads, and the result bytes must not
/// depend on the machine.
pub const FHE_THREADS: usize = 4;

const AMOUNT_LIMIT: u64 = 16 << 20;

/// An amount encrypted under the analytics key with a proof of encryption: tfhe's safe
/// serialisation of a proven compact list of one `FheUint` of the profile's amount bits.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedAmount(Vec<u8>);

impl std::fmt::Debug for EncryptedAmount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptedAmount({} bytes)", self.0.len())
    }
}

impl EncryptedAmount {
    /// Wraps bytes from outside (checked by [`Evaluator::check_amount`]).
    pub fn from_bytes(b: Vec<u8>) -> Self {
        EncryptedAmount(b)
    }
    /// The serialised list and proof.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Encrypts `amount` under the chain's analytics key with a proof of encryption bound to
/// `context` (chain, record, bank: whatever names the place the amount is put), so that the
/// proof does not verify anywhere else.
pub fn encrypt_amount(
    keys: &PublicKeys,
    amount: u64,
    context: &[u8],
) -> Result<EncryptedAmount, FheError> {
    let p = keys.profile;
    if amount > p.max_amount() {
        return Err(FheError::Invalid(format!(
            "amount {amount} does not fit the {} analytics profile ({} bits, at most {})",
            p.name(),
            p.amount_bits(),
            p.max_amount()
        )));
    }
    let list = ProvenCompactCiphertextList::builder(&keys.cpk)
        .push_with_num_bits(amount, p.amount_bits() as usize)
        .map_err(|e| FheError::Tfhe(e.to_string()))?
        .build_with_proof_packed(&keys.crs, context, ZkComputeLoad::Proof)
        .map_err(|e| FheError::Tfhe(format!("proving the encryption: {e}")))?;
    let mut out = Vec::new();
    safe_serialize(&list, &mut out, AMOUNT_LIMIT)
        .map_err(|e| FheError::Tfhe(format!("serialising the amount: {e}")))?;
    Ok(EncryptedAmount(out))
}

/// A question asked of encrypted amounts; the answer is one encrypted boolean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    /// Is the total of the amounts above `limit`?
    Exposure {
        /// The limit, in the amounts' minor units.
        limit: u64,
    },
    /// Does any one group (a bank's financings) hold more than `share_percent` of the total?
    Concentration {
        /// The share, 1 to 99.
        share_percent: u8,
    },
}

/// A step of a running query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Steps done.
    pub done: usize,
    /// Steps in all.
    pub total: usize,
    /// What the step was.
    pub what: String,
}

/// A query's encrypted answer: tfhe's safe serialisation of one `FheBool`.
#[derive(Clone, PartialEq, Eq)]
pub struct QueryResult(Vec<u8>);

impl std::fmt::Debug for QueryResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QueryResult({})", hex::encode(self.hash()))
    }
}

impl QueryResult {
    /// Wraps bytes from the ledger.
    pub fn from_bytes(b: Vec<u8>) -> Self {
        QueryResult(b)
    }
    /// The serialised ciphertext.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
    /// What goes on the ledger and what re-execution must reproduce.
    pub fn hash(&self) -> [u8; 32] {
        hash("cl/fhe-result/v1", &[&self.0])
    }
}

/// Checks amounts and computes queries with the chain's public analytics keys.
pub struct Evaluator {
    profile: Profile,
    cpk: CompactPublicKey,
    crs: CompactPkeCrs,
    list_params: IntegerProvenCompactCiphertextListConformanceParams,
    pool: rayon::ThreadPool,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// The computation of a query over the expanded amounts of each group, for one profile's
/// types: `$a` amounts, `$t` totals (clear `$tc`), `$w` wide totals (clear `$wc`).
macro_rules! compute {
    ($self:ident, $query:ident, $groups:ident, $progress:ident, $a:ty, $t:ty, $tc:ty, $w:ty, $wc:ty) => {
        (|| {
            let n: usize = $groups.iter().map(|g| g.len()).sum();
            let total_steps = $self.steps($query, $groups);
            let mut done = 0usize;
            let mut step = |what: String, progress: &mut (dyn FnMut(Progress) + Send)| {
                done += 1;
                progress(Progress {
                    done,
                    total: total_steps,
                    what,
                });
            };
            let zero = || <$t>::encrypt_trivial(0 as $tc);
            if let Query::Exposure { limit } = *$query {
                if limit >= <$tc>::MAX as u64 {
                    // A total of at most max_amounts amounts fits the total type: it cannot
                    // exceed this limit, whatever the amounts.
                    step("the limit is beyond any total: no".to_string(), $progress);
                    return Ok(FheBool::encrypt_trivial(false));
                }
            }
            // Each amount expanded (key switch to the computation key) and cast to the total
            // type (zero blocks appended), grouped as given.
            let mut expanded: Vec<Vec<$t>> = Vec::with_capacity($groups.len());
            for (gi, g) in $groups.iter().enumerate() {
                let mut amounts: Vec<$t> = Vec::with_capacity(g.len());
                for (ai, a) in g.iter().enumerate() {
                    let list = $self.decode(a)?;
                    let ex = list
                        .expand_without_verification()
                        .map_err(|e| FheError::malformed("encrypted amount", e))?;
                    let v: $a = ex
                        .get(0)
                        .map_err(|e| FheError::malformed("encrypted amount", e))?
                        .ok_or_else(|| FheError::malformed("encrypted amount", "empty list"))?;
                    amounts.push(v.cast_into());
                    step(
                        format!("expanded amount {} of group {}", ai + 1, gi + 1),
                        $progress,
                    );
                }
                expanded.push(amounts);
            }
            let answer = match *$query {
                Query::Exposure { limit } => {
                    // One multi-operand sum of every amount: cheaper than adding in turn.
                    let all: Vec<&$t> = expanded.iter().flatten().collect();
                    let total: $t = if all.is_empty() {
                        zero()
                    } else {
                        all.into_iter().sum()
                    };
                    step(format!("summed {n} amounts"), $progress);
                    total.gt(limit as $tc)
                }
                Query::Concentration { share_percent } => {
                    let mut sums: Vec<$t> = Vec::with_capacity(expanded.len());
                    for (gi, g) in expanded.iter().enumerate() {
                        sums.push(if g.is_empty() { zero() } else { g.iter().sum() });
                        step(
                            format!("summed group {} ({} amounts)", gi + 1, g.len()),
                            $progress,
                        );
                    }
                    let total: $t = if sums.is_empty() {
                        zero()
                    } else {
                        sums.iter().sum()
                    };
                    let wide_total: $w = total.cast_into();
                    let rhs: $w = wide_total * (share_percent as $wc);
                    let mut any = FheBool::encrypt_trivial(false);
                    for s in &sums {
                        let wide: $w = s.clone().cast_into();
                        let lhs: $w = wide * (100 as $wc);
                        let over = lhs.gt(&rhs);
                        any = &any | &over;
                    }
                    any
                }
            };
            step("compared".to_string(), $progress);
            Ok::<FheBool, FheError>(answer)
        })()
    };
}

impl Evaluator {
    /// Decompresses the server key (seconds) and prepares the checks.
    pub fn new(keys: &PublicKeys) -> Result<Self, FheError> {
        let server = keys.server.decompress();
        let params = keys.cpk.parameters();
        let list_params =
            IntegerProvenCompactCiphertextListConformanceParams::from_crs_and_parameters(
                params, &keys.crs,
            );
        // Every thread of the pool holds this evaluator's server key for its whole life
        // (tfhe keeps it per thread): queries running at once share the pool, and one
        // rayon job may run inside another's wait, so no query ever unsets it.
        let key = server.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(FHE_THREADS)
            .thread_name(|i| format!("fhe-{i}"))
            .start_handler(move |_| tfhe::set_server_key(key.clone()))
            .build()
            .map_err(|e| FheError::Tfhe(format!("thread pool: {e}")))?;
        Ok(Evaluator {
            profile: keys.profile,
            cpk: keys.cpk.clone(),
            crs: keys.crs.clone(),
            list_params,
            pool,
        })
    }

    /// The chain's profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// How many progress steps [`Evaluator::run`] reports for `query` over `groups`.
    pub fn steps(&self, query: &Query, groups: &[Vec<EncryptedAmount>]) -> usize {
        let n: usize = groups.iter().map(|g| g.len()).sum();
        let max_total = match self.profile {
            Profile::Small => u16::MAX as u64,
            Profile::Standard => u64::MAX,
        };
        match query {
            Query::Exposure { limit } if *limit >= max_total => 1,
            Query::Exposure { .. } => n + 2,
            Query::Concentration { .. } => n + groups.len() + 1,
        }
    }

    fn decode(&self, a: &EncryptedAmount) -> Result<ProvenCompactCiphertextList, FheError> {
        let list: ProvenCompactCiphertextList =
            safe_deserialize_conformant(a.as_bytes(), AMOUNT_LIMIT, &self.list_params)
                .map_err(|e| FheError::malformed("encrypted amount", e))?;
        let want = match self.profile {
            Profile::Small => tfhe::FheTypes::Uint8,
            Profile::Standard => tfhe::FheTypes::Uint48,
        };
        if list.len() != 1 || list.get_kind_of(0) != Some(want) {
            return Err(FheError::malformed(
                "encrypted amount",
                format!(
                    "expected one {}-bit unsigned integer, found {} values (first {:?})",
                    self.profile.amount_bits(),
                    list.len(),
                    list.get_kind_of(0)
                ),
            ));
        }
        Ok(list)
    }

    /// What a validator checks before it votes for a block holding `amount`: it decodes
    /// within the size limit, conforms to the chain's parameters, holds one amount of the
    /// profile's size, and its proof of encryption verifies for `context`.
    pub fn check_amount(&self, amount: &EncryptedAmount, context: &[u8]) -> Result<(), FheError> {
        let list = self.decode(amount)?;
        if list.verify(&self.crs, &self.cpk, context).is_valid() {
            Ok(())
        } else {
            Err(FheError::ProofInvalid)
        }
    }

    /// Computes `query` over committed amounts, one group per bank, in the fixed pool, and
    /// reports each step. The amounts' proofs are not checked again: they were checked when
    /// the amounts were committed.
    pub fn run(
        &self,
        query: &Query,
        groups: &[Vec<EncryptedAmount>],
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<QueryResult, FheError> {
        let n: usize = groups.iter().map(|g| g.len()).sum();
        if n > self.profile.max_amounts() {
            return Err(FheError::Invalid(format!(
                "a query sums at most {} amounts in the {} profile; {n} given",
                self.profile.max_amounts(),
                self.profile.name()
            )));
        }
        if let Query::Concentration { share_percent } = query {
            if !(1..=99).contains(share_percent) {
                return Err(FheError::Invalid(format!(
                    "a concentration share is 1 to 99 percent, not {share_percent}"
                )));
            }
        }
        let answer = self.pool.install(|| match self.profile {
            Profile::Small => {
                compute!(self, query, groups, progress, FheUint8, FheUint16, u16, FheUint32, u32)
            }
            Profile::Standard => {
                compute!(self, query, groups, progress, FheUint48, FheUint64, u64, FheUint128, u128)
            }
        })?;
        let mut out = Vec::new();
        safe_serialize(&answer, &mut out, RESULT_LIMIT)
            .map_err(|e| FheError::Tfhe(format!("serialising the result: {e}")))?;
        Ok(QueryResult(out))
    }
}
