//! Field encryption: each field version is sealed under its own 256-bit data key, and the
//! key is wrapped to each reader with HPKE.
//!
//! The associated data of both binds where the value belongs (chain, record, version, field,
//! schema and schema version), so a ciphertext or a wrapped key moved to another record,
//! field or version does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use ledger_types::codec::Encoder;
use ledger_types::{ChainId, FieldName, OrgId, RecordId, SchemaId};
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{hpke, CryptoError};

const SEALED_FORMAT: u8 = 1;
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

/// A field data key: 256 bits, one per field version, wiped on drop, never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct FieldKey([u8; 32]);

impl FieldKey {
    /// A fresh key from the operating system's generator.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        FieldKey(k)
    }

    /// Seals `plaintext` for `binding`: `format | nonce | AES-256-GCM ciphertext and tag`.
    pub fn seal(&self, binding: &FieldBinding, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = binding.to_bytes();
        let ct = Aes256Gcm::new((&self.0).into())
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::OpenFailed {
                what: "field plaintext",
            })?;
        Ok([&[SEALED_FORMAT][..], &nonce, &ct].concat())
    }

    /// Opens a sealed field value; fails if it was altered or belongs elsewhere.
    pub fn open(
        &self,
        binding: &FieldBinding,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let fail = CryptoError::OpenFailed {
            what: "sealed field",
        };
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != SEALED_FORMAT {
            return Err(fail);
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        let aad = binding.to_bytes();
        Aes256Gcm::new((&self.0).into())
            .decrypt(nonce.into(), Payload { msg: ct, aad: &aad })
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
        hpke::seal(
            reader_key,
            &binding.to_bytes(),
            reader.as_str().as_bytes(),
            &self.0,
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
        let bytes = hpke::open(
            enc,
            reader_key,
            &binding.to_bytes(),
            reader.as_str().as_bytes(),
            wrapped,
            dh,
        )?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::OpenFailed {
                what: "wrapped field key",
            })?;
        Ok(FieldKey(key))
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

    #[test]
    fn a_wrapped_key_unwraps_for_its_reader_and_binding_only() {
        let reader_sk = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let reader_pk = reader_sk
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let sk: [u8; 32] = reader_sk.to_bytes().into();
        let reader = OrgId::new("bank-b").unwrap();
        let key = FieldKey::generate();
        let b = binding();
        let sealed = key.seal(&b, b"secret amount").unwrap();
        let (enc, wrapped) = key.wrap(&b, &reader, &reader_pk).unwrap();
        let back = FieldKey::unwrap(
            &b,
            &reader,
            &reader_pk,
            &enc,
            &wrapped,
            hpke::software_dh(&sk),
        )
        .unwrap();
        assert_eq!(&*back.open(&b, &sealed).unwrap(), b"secret amount");
        let v2 = FieldBinding {
            version: 2,
            ..b.clone()
        };
        assert!(FieldKey::unwrap(
            &v2,
            &reader,
            &reader_pk,
            &enc,
            &wrapped,
            hpke::software_dh(&sk)
        )
        .is_err());
        let other = OrgId::new("bank-c").unwrap();
        assert!(FieldKey::unwrap(
            &b,
            &other,
            &reader_pk,
            &enc,
            &wrapped,
            hpke::software_dh(&sk)
        )
        .is_err());
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let key = FieldKey::generate();
        let shown = format!("{key:?}");
        assert_eq!(shown, "FieldKey { .. }");
        assert!(!shown.contains(&hex::encode(key.0)));
    }
}
