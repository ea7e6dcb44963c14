//! The analytics key: a 32-byte secret the authority keeps sealed, the tfhe client key derived
//! from it, and the public material every node and client uses.

use tfhe::prelude::FheDecrypt;
use tfhe::safe_serialization::{safe_deserialize, safe_serialize};
use tfhe::zk::CompactPkeCrs;
use tfhe::{ClientKey, CompactPublicKey, CompressedServerKey, FheBool, Seed};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{config, hash, FheError, Profile, QueryResult};

const MAGIC: &[u8; 10] = b"CLFHEKEYS1";
const CPK_LIMIT: u64 = 64 << 20;
const SERVER_LIMIT: u64 = 1 << 30;
const CRS_LIMIT: u64 = 256 << 20;
pub(crate) const RESULT_LIMIT: u64 = 1 << 20;

/// The authority's analytics secret: 32 random bytes from which the tfhe client key is
/// derived. Sealed by the authority node's HSM at rest; wiped when dropped; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AnalyticsSecret([u8; 32]);

impl std::fmt::Debug for AnalyticsSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnalyticsSecret(..)")
    }
}

impl AnalyticsSecret {
    /// A fresh secret from the operating system's generator.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        AnalyticsSecret(b)
    }
    /// The secret's bytes (to seal them).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0)
    }
    /// Reads [`AnalyticsSecret::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Self, FheError> {
        let a: [u8; 32] = b
            .try_into()
            .map_err(|_| FheError::malformed("analytics secret", "not 32 bytes"))?;
        Ok(AnalyticsSecret(a))
    }
    /// The tfhe client key: tfhe's seeded key generation from 128 bits derived from the
    /// secret, so the secret is all that needs to be kept.
    ///
    /// tfhe does not wipe its keys when they are dropped: the key lives only while it is
    /// used, inside the authority's process.
    fn client_key(&self) -> ClientKey {
        let d = Zeroizing::new(hash("cl/fhe-client-key/v1", &[&self.0]));
        let mut seed = [0u8; 16];
        seed.copy_from_slice(&d[..16]);
        let k = ClientKey::generate_with_seed(config(), Seed(u128::from_le_bytes(seed)));
        seed.zeroize();
        k
    }
}

/// The public analytics material of a chain: what clients encrypt under, what anyone
/// computes with, and the CRS of the proofs of encryption.
#[derive(Clone)]
pub struct PublicKeys {
    pub(crate) profile: Profile,
    pub(crate) cpk: CompactPublicKey,
    pub(crate) server: CompressedServerKey,
    pub(crate) crs: CompactPkeCrs,
    /// The material's name ([`PublicKeys::id`]).
    id: [u8; 32],
    /// The serialised material, kept only when generated here (to be written out): a node
    /// that reads the file keeps the parsed keys, not another 60 MB of their bytes.
    bytes: Option<Vec<u8>>,
}

impl std::fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKeys")
            .field("profile", &self.profile)
            .field("id", &hex::encode(self.id()))
            .finish()
    }
}

/// The key file: magic, profile, then each part with its length.
fn encode(
    profile: Profile,
    cpk: &CompactPublicKey,
    server: &CompressedServerKey,
    crs: &CompactPkeCrs,
) -> Result<Vec<u8>, FheError> {
    let mut bytes = MAGIC.to_vec();
    bytes.push(profile.tag());
    for part in [
        ser("compact public key", cpk, CPK_LIMIT)?,
        ser("server key", server, SERVER_LIMIT)?,
        ser("CRS", crs, CRS_LIMIT)?,
    ] {
        bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&part);
    }
    Ok(bytes)
}

fn ser<T: serde::Serialize + tfhe::Versionize + tfhe::named::Named>(
    what: &'static str,
    v: &T,
    limit: u64,
) -> Result<Vec<u8>, FheError> {
    let mut out = Vec::new();
    safe_serialize(v, &mut out, limit)
        .map_err(|e| FheError::Tfhe(format!("serialising the {what}: {e}")))?;
    Ok(out)
}

fn take<'a>(b: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], FheError> {
    if b.len() < n {
        return Err(FheError::malformed(what, "truncated"));
    }
    let (h, t) = b.split_at(n);
    *b = t;
    Ok(h)
}

fn take_part<'a>(b: &mut &'a [u8], what: &'static str) -> Result<&'a [u8], FheError> {
    let len = take(b, 8, what)?;
    let len = u64::from_le_bytes(
        len.try_into()
            .map_err(|_| FheError::malformed(what, "length"))?,
    );
    let len = usize::try_from(len).map_err(|_| FheError::malformed(what, "length too large"))?;
    take(b, len, what)
}

impl PublicKeys {
    /// Generates the public material of `secret` (the authority runs this once, at genesis;
    /// seconds to a minute on two cores).
    pub fn generate(secret: &AnalyticsSecret, profile: Profile) -> Result<Self, FheError> {
        let ck = secret.client_key();
        let cpk = CompactPublicKey::try_new(&ck)
            .map_err(|e| FheError::Tfhe(format!("compact public key: {e}")))?;
        let server = CompressedServerKey::new(&ck);
        drop(ck);
        // Sized for one amount: the proving cost grows with the messages a CRS covers.
        let crs = CompactPkeCrs::from_config(config(), profile.amount_bits() as usize)
            .map_err(|e| FheError::Tfhe(format!("CRS: {e}")))?;
        let bytes = encode(profile, &cpk, &server, &crs)?;
        Ok(PublicKeys {
            profile,
            cpk,
            server,
            crs,
            id: hash("cl/fhe-keys/v1", &[&bytes]),
            bytes: Some(bytes),
        })
    }

    /// The serialised material (what is published beside genesis): the bytes made when
    /// generated, else serialised again (tfhe's safe serialisation is deterministic, so
    /// they are the bytes read; a test checks it).
    pub fn to_bytes(&self) -> Result<std::borrow::Cow<'_, [u8]>, FheError> {
        match &self.bytes {
            Some(b) => Ok(std::borrow::Cow::Borrowed(b)),
            None => encode(self.profile, &self.cpk, &self.server, &self.crs)
                .map(std::borrow::Cow::Owned),
        }
    }

    /// Reads [`PublicKeys::to_bytes`] with tfhe's size-limited deserialisation and checks the
    /// encryption parameters are the chain's.
    pub fn from_bytes(b: &[u8]) -> Result<Self, FheError> {
        const W: &str = "analytics public keys";
        let mut r = b;
        if take(&mut r, MAGIC.len(), W)? != MAGIC {
            return Err(FheError::malformed(W, "not an analytics key file"));
        }
        let profile = Profile::from_tag(take(&mut r, 1, W)?[0])?;
        let cpk: CompactPublicKey = safe_deserialize(take_part(&mut r, W)?, CPK_LIMIT)
            .map_err(|e| FheError::malformed(W, e))?;
        let server: CompressedServerKey = safe_deserialize(take_part(&mut r, W)?, SERVER_LIMIT)
            .map_err(|e| FheError::malformed(W, e))?;
        let crs: CompactPkeCrs = safe_deserialize(take_part(&mut r, W)?, CRS_LIMIT)
            .map_err(|e| FheError::malformed(W, e))?;
        if !r.is_empty() {
            return Err(FheError::malformed(W, "trailing bytes"));
        }
        let expected = config()
            .public_key_encryption_parameters()
            .map_err(|e| FheError::Tfhe(e.to_string()))?;
        if cpk.parameters() != expected {
            return Err(FheError::malformed(
                W,
                "the compact public key was made for other parameters",
            ));
        }
        Ok(PublicKeys {
            profile,
            cpk,
            server,
            crs,
            id: hash("cl/fhe-keys/v1", &[b]),
            bytes: None,
        })
    }

    /// The material's name: SHA-256 of its bytes, what genesis pins.
    pub fn id(&self) -> [u8; 32] {
        self.id
    }

    /// The chain's profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Sizes in bytes of the serialised compact public key, compressed server key and CRS.
    pub fn sizes(&self) -> Result<[usize; 3], FheError> {
        Ok([
            ser("compact public key", &self.cpk, CPK_LIMIT)?.len(),
            ser("server key", &self.server, SERVER_LIMIT)?.len(),
            ser("CRS", &self.crs, CRS_LIMIT)?.len(),
        ])
    }
}

/// The analytics authority's decryption: of accepted query results only, as a boolean.
pub struct Authority {
    ck: ClientKey,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authority(..)")
    }
}

impl Authority {
    /// The authority's client key, derived from its (unsealed) secret.
    pub fn new(secret: &AnalyticsSecret) -> Self {
        Authority {
            ck: secret.client_key(),
        }
    }

    /// Decrypts `result` if and only if it hashes to `accepted`, the result hash of a query
    /// the ledger accepted (computed, re-executed by the validators, committed). It decodes
    /// only a boolean, so nothing but a yes or no comes out.
    pub fn decrypt_answer(
        &self,
        accepted: &[u8; 32],
        result: &QueryResult,
    ) -> Result<bool, FheError> {
        let found = result.hash();
        if &found != accepted {
            return Err(FheError::NotAnAcceptedResult {
                found: hex::encode(found),
                accepted: hex::encode(accepted),
            });
        }
        let b: FheBool = safe_deserialize(result.bytes(), RESULT_LIMIT)
            .map_err(|e| FheError::malformed("query result", e))?;
        Ok(b.decrypt(&self.ck))
    }

    /// Decrypts a plain amount ciphertext: for tests of the encryption only, never reachable
    /// from the node.
    #[cfg(test)]
    pub(crate) fn client_key(&self) -> &ClientKey {
        &self.ck
    }
}
