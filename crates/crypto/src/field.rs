//! Field encryption: each field version is sealed under its own data key, and the key is
//! wrapped to each reader with HPKE. On chains of the default suite the key is 256 bits and
//! the cipher AES-256-GCM; on SM chains the key is 128 bits and the cipher SM4-GCM (the
//! suite's only key size), wrapped over SM2 (see `hpke`).
//!
//! The associated data of both binds where the value belongs (chain, record, version, field,
//! schema and schema version), so a ciphertext or a wrapped key moved to another record,
//! field or version does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use ledger_types::codec::Encoder;
use ledger_types::{ChainId, CryptoSuite, FieldName, OrgId, RecordId, SchemaId};
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::sm::Sm4Gcm;
use crate::{hpke, CryptoError};

/// `format` byte of an AES-256-GCM sealed value (default suite).
const SEALED_AES256_GCM: u8 = 1;
/// `format` byte of an SM4-GCM sealed value (SM suite).
const SEALED_SM4_GCM: u8 = 2;
const NONCE_LEN: usize = 12;

/// Where a field value belongs; its canonical bytes are the associated data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldBinding {
    /// The chain.
    pub chain_id: ChainId,
    /// The record.
    pub record: RecordId,
    /// The record version.
    pub version: u32,
    /// The field.
    pub field: FieldName,
    /// The record's schema.
    pub schema: SchemaId,
    /// The schema version.
    pub schema_version: u32,
}

impl FieldBinding {
    /// The canonical bytes (domain `cl/field/v1`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.str("cl/field/v1");
        self.chain_id.encode(&mut e);
        self.record.encode(&mut e);
        e.u32(self.version);
        self.field.encode(&mut e);
        self.schema.encode(&mut e);
        e.u32(self.schema_version);
        e.finish()
    }
}

/// A field data key, one per field version, wiped on drop, never printed: 256 bits for
/// AES-256-GCM, 128 bits for SM4-GCM.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct FieldKey {
    bytes: Vec<u8>,
    #[zeroize(skip)]
    suite: CryptoSuite,
}

fn key_len(suite: CryptoSuite) -> usize {
    match suite {
        CryptoSuite::Sm => 16,
        _ => 32,
    }
}

fn format_of(suite: CryptoSuite) -> u8 {
    match suite {
        CryptoSuite::Sm => SEALED_SM4_GCM,
        _ => SEALED_AES256_GCM,
    }
}

impl FieldKey {
    /// A fresh key for this process's chain, from the operating system's generator.
    pub fn generate() -> Self {
        Self::generate_in(CryptoSuite::current())
    }

    /// A fresh key for a chain of `suite`.
    pub fn generate_in(suite: CryptoSuite) -> Self {
        let mut bytes = vec![0u8; key_len(suite)];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        FieldKey { bytes, suite }
    }

    /// The suite the key seals under.
    pub fn suite(&self) -> CryptoSuite {
        self.suite
    }

    /// Seals `plaintext` for `binding`: `format | nonce | ciphertext and tag`, the cipher
    /// AES-256-GCM (format 1) or SM4-GCM (format 2) by the key's suite.
    pub fn seal(&self, binding: &FieldBinding, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = binding.to_bytes();
        let payload = Payload {
            msg: plaintext,
            aad: &aad,
        };
        let failed = || CryptoError::OpenFailed {
            what: "field plaintext",
        };
        let ct = match self.suite {
            CryptoSuite::Sm => Sm4Gcm::new_from_slice(&self.bytes)
                .map_err(|_| failed())?
                .encrypt((&nonce).into(), payload)
                .map_err(|_| failed())?,
            _ => Aes256Gcm::new_from_slice(&self.bytes)
                .map_err(|_| failed())?
                .encrypt((&nonce).into(), payload)
                .map_err(|_| failed())?,
        };
        Ok([&[format_of(self.suite)][..], &nonce, &ct].concat())
    }

    /// Opens a sealed field value; fails if it was altered, belongs elsewhere, or was
    /// sealed under the other suite's cipher.
    pub fn open(
        &self,
        binding: &FieldBinding,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let fail = CryptoError::OpenFailed {
            what: "sealed field",
        };
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != format_of(self.suite) {
            return Err(fail);
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        let aad = binding.to_bytes();
        let payload = Payload { msg: ct, aad: &aad };
        match self.suite {
            CryptoSuite::Sm => Sm4Gcm::new_from_slice(&self.bytes)
                .map_err(|_| fail.clone())?
                .decrypt(nonce.into(), payload),
            _ => Aes256Gcm::new_from_slice(&self.bytes)
                .map_err(|_| fail.clone())?
                .decrypt(nonce.into(), payload),
        }
        .map(Zeroizing::new)
        .map_err(|_| fail)
    }

    /// Wraps this key to `reader` (its P-256 encryption key `reader_key`) for `binding`.
    /// Returns `(enc, ciphertext)`.
    pub fn wrap(
        &self,
        binding: &FieldBinding,
        reader: &OrgId,
        reader_key: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        hpke::seal_in(
            self.suite,
            reader_key,
            &binding.to_bytes(),
            reader.as_str().as_bytes(),
            &self.bytes,
        )
    }

    /// Unwraps a key wrapped to `reader`; `dh` is the reader's Diffie-Hellman (its HSM).
    pub fn unwrap(
        binding: &FieldBinding,
        reader: &OrgId,
        reader_key: &[u8],
        enc: &[u8],
        wrapped: &[u8],
        dh: impl FnOnce(&[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError>,
    ) -> Result<FieldKey, CryptoError> {
        Self::unwrap_in(
            CryptoSuite::current(),
            binding,
            reader,
            reader_key,
            enc,
            wrapped,
            dh,
        )
    }

    /// [`unwrap`](Self::unwrap) on a chain of `suite`.
    pub fn unwrap_in(
        suite: CryptoSuite,
        binding: &FieldBinding,
        reader: &OrgId,
        reader_key: &[u8],
        enc: &[u8],
        wrapped: &[u8],
        dh: impl FnOnce(&[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError>,
    ) -> Result<FieldKey, CryptoError> {
        let bytes = hpke::open_in(
            suite,
            enc,
            reader_key,
            &binding.to_bytes(),
            reader.as_str().as_bytes(),
            wrapped,
            dh,
        )?;
        if bytes.len() != key_len(suite) {
            return Err(CryptoError::OpenFailed {
                what: "wrapped field key",
            });
        }
        Ok(FieldKey {
            bytes: bytes.to_vec(),
            suite,
        })
    }
}

impl std::fmt::Debug for FieldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldKey").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    fn binding() -> FieldBinding {
        FieldBinding {
            chain_id: ChainId::new("c").unwrap(),
            record: RecordId::new("inv-1").unwrap(),
            version: 1,
            field: FieldName::new("total").unwrap(),
            schema: SchemaId::new("invoice").unwrap(),
            schema_version: 1,
        }
    }

    #[test]
    fn a_sealed_field_opens_only_where_it_belongs() {
        let key = FieldKey::generate();
        let b = binding();
        let sealed = key.seal(&b, b"125000.00").unwrap();
        assert_eq!(&*key.open(&b, &sealed).unwrap(), b"125000.00");
        let moved: [FieldBinding; 5] = [
            FieldBinding {
                record: RecordId::new("inv-2").unwrap(),
                ..b.clone()
            },
            FieldBinding {
                version: 2,
                ..b.clone()
            },
            FieldBinding {
                field: FieldName::new("buyer").unwrap(),
                ..b.clone()
            },
            FieldBinding {
                schema_version: 2,
                ..b.clone()
            },
            FieldBinding {
                chain_id: ChainId::new("other").unwrap(),
                ..b.clone()
            },
        ];
        for m in &moved {
            assert!(
                matches!(key.open(m, &sealed), Err(CryptoError::OpenFailed { .. })),
                "{m:?}"
            );
        }
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(key.open(&b, &tampered).is_err());
        assert!(FieldKey::generate().open(&b, &sealed).is_err());
    }

    /// A reader's key pair on the suite's curve: the uncompressed point and the scalar.
    fn reader_keys(suite: CryptoSuite) -> (Vec<u8>, [u8; 32]) {
        match suite {
            CryptoSuite::Sm => {
                let sk = sm2::SecretKey::random(&mut rand::rngs::OsRng);
                let pk = sk.public_key().to_encoded_point(false).as_bytes().to_vec();
                (pk, sk.to_bytes().into())
            }
            _ => {
                let sk = p256::SecretKey::random(&mut rand::rngs::OsRng);
                let pk = sk.public_key().to_encoded_point(false).as_bytes().to_vec();
                (pk, sk.to_bytes().into())
            }
        }
    }

    fn unwrap_as(
        suite: CryptoSuite,
        binding: &FieldBinding,
        reader: &OrgId,
        (pk, sk): &(Vec<u8>, [u8; 32]),
        (enc, wrapped): &(Vec<u8>, Vec<u8>),
    ) -> Result<FieldKey, CryptoError> {
        match suite {
            CryptoSuite::Sm => FieldKey::unwrap_in(
                suite,
                binding,
                reader,
                pk,
                enc,
                wrapped,
                hpke::sm2_software_dh(sk),
            ),
            _ => FieldKey::unwrap_in(
                suite,
                binding,
                reader,
                pk,
                enc,
                wrapped,
                hpke::software_dh(sk),
            ),
        }
    }

    #[test]
    fn a_wrapped_key_unwraps_for_its_reader_and_binding_only() {
        for suite in CryptoSuite::ALL {
            let keys = reader_keys(suite);
            let reader = OrgId::new("bank-b").unwrap();
            let key = FieldKey::generate_in(suite);
            let b = binding();
            let sealed = key.seal(&b, b"secret amount").unwrap();
            let wrap = key.wrap(&b, &reader, &keys.0).unwrap();
            let back = unwrap_as(suite, &b, &reader, &keys, &wrap).unwrap();
            assert_eq!(&*back.open(&b, &sealed).unwrap(), b"secret amount");
            let v2 = FieldBinding {
                version: 2,
                ..b.clone()
            };
            assert!(unwrap_as(suite, &v2, &reader, &keys, &wrap).is_err());
            let other = OrgId::new("bank-c").unwrap();
            assert!(unwrap_as(suite, &b, &other, &keys, &wrap).is_err());
            assert!(unwrap_as(suite, &b, &reader, &reader_keys(suite), &wrap).is_err());
        }
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let key = FieldKey::generate();
        let shown = format!("{key:?}");
        assert_eq!(shown, "FieldKey { .. }");
        assert!(!shown.contains(&hex::encode(&key.bytes)));
    }

    #[test]
    fn sm_suite_seals_with_sm4_gcm_under_128_bit_keys() {
        let key = FieldKey::generate_in(CryptoSuite::Sm);
        assert_eq!(key.bytes.len(), 16);
        let b = binding();
        let sealed = key.seal(&b, b"125000.00").unwrap();
        assert_eq!(sealed[0], SEALED_SM4_GCM);
        assert_eq!(&*key.open(&b, &sealed).unwrap(), b"125000.00");
        let v2 = FieldBinding {
            version: 2,
            ..b.clone()
        };
        assert!(key.open(&v2, &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(key.open(&b, &tampered).is_err());
        // A value sealed under AES-256-GCM does not open as SM4-GCM, nor the other way.
        let aes = FieldKey::generate_in(CryptoSuite::Default);
        let aes_sealed = aes.seal(&b, b"x").unwrap();
        assert!(key.open(&b, &aes_sealed).is_err());
        assert!(aes.open(&b, &sealed).is_err());
        // An SM wrap does not unwrap as a default one (its schedule and width differ).
        let keys = reader_keys(CryptoSuite::Sm);
        let reader = OrgId::new("bank-b").unwrap();
        let wrap = key.wrap(&b, &reader, &keys.0).unwrap();
        assert_eq!(wrap.1.len(), 32);
        assert!(FieldKey::unwrap_in(
            CryptoSuite::Default,
            &b,
            &reader,
            &keys.0,
            &wrap.0,
            &wrap.1,
            hpke::sm2_software_dh(&keys.1)
        )
        .is_err());
    }
}
