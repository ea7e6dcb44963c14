//! Fixtures for tests and benchmarks of the crates above this one (feature `testing`):
//! organisations with software keys, a one-field schema, and records sealed for real.

use ledger_crypto::record::{seal_record, FieldToSeal, Reader};
use ledger_crypto::{sign_tx, Ed25519SoftwareKey};
use ledger_types::{
    ChainId, FieldName, FieldType, OrgId, Payload, PutRecord, RecordId, RegisterSchema, Role,
    SchemaField, SchemaId, Transaction, TxBody,
};
use zeroize::Zeroizing;

/// An organisation whose signing and encryption keys are held in memory.
pub struct TestOrg {
    /// Its id.
    pub id: OrgId,
    /// Its signing key.
    pub key: Ed25519SoftwareKey,
    /// Its P-256 encryption secret key.
    pub enc_sk: Zeroizing<[u8; 32]>,
    /// Its P-256 encryption public key (uncompressed SEC1).
    pub enc_pk: Vec<u8>,
    /// Its ring secret (anonymous endorsements), registered if it is a member.
    pub ring: ledger_crypto::ring::RingSecret,
}

impl TestOrg {
    /// Fresh random keys for `id`.
    #[allow(clippy::expect_used)]
    pub fn new(id: &str) -> Self {
        let sk = p256::SecretKey::random(&mut rand::rngs::OsRng);
        TestOrg {
            id: OrgId::new(id).expect("a valid organisation id"),
            key: Ed25519SoftwareKey::generate(),
            enc_sk: Zeroizing::new(sk.to_bytes().into()),
            enc_pk: p256::EncodedPoint::from(sk.public_key())
                .as_bytes()
                .to_vec(),
            ring: ledger_crypto::ring::RingSecret::generate(),
        }
    }

    /// This organisation as a field reader.
    pub fn reader(&self) -> Reader {
        Reader {
            org: self.id.clone(),
            key: self.enc_pk.clone(),
        }
    }

    /// Its genesis registration with `roles`, its encryption key and, if a member, its
    /// ring key.
    #[allow(clippy::expect_used)]
    pub fn registration(&self, chain: &ChainId, roles: &[Role]) -> Transaction {
        let ring_key = if roles.contains(&Role::Member) {
            self.ring.public().to_vec()
        } else {
            vec![]
        };
        crate::genesis::registration_with_keys(
            &self.key,
            chain,
            &self.id,
            roles,
            self.enc_pk.clone(),
            vec![],
            ring_key,
        )
        .expect("software signing does not fail")
    }

    /// Signs `payload` with `nonce`.
    #[allow(clippy::expect_used)]
    pub fn sign(&self, chain: &ChainId, nonce: u64, payload: Payload) -> Transaction {
        sign_tx(
            &self.key,
            TxBody {
                chain_id: chain.clone(),
                signer: self.id.clone(),
                nonce,
                payload,
            },
        )
        .expect("software signing does not fail")
    }
}

/// Schema `payload` v1: one required `payload` field of bytes, no auditors.
#[allow(clippy::expect_used)]
pub fn payload_schema() -> RegisterSchema {
    RegisterSchema {
        document: None,
        schema: SchemaId::new("payload").expect("valid id"),
        version: 1,
        fields: vec![SchemaField {
            name: FieldName::new("payload").expect("valid name"),
            ty: FieldType::Bytes,
            required: true,
            committed: false,
            fhe: false,
        }],
        auditors: vec![],
    }
}

/// A record version of `schema` with one field `field` holding `plaintext`, sealed and
/// wrapped to `readers`.
#[allow(clippy::expect_used)]
pub fn sealed_put(
    chain: &ChainId,
    record: &str,
    version: u32,
    schema: &RegisterSchema,
    field: &str,
    plaintext: &[u8],
    readers: &[&TestOrg],
) -> PutRecord {
    seal_record(
        chain,
        &RecordId::new(record).expect("valid record id"),
        version,
        schema,
        &[FieldToSeal {
            name: FieldName::new(field).expect("valid field name"),
            plaintext: Zeroizing::new(plaintext.to_vec()),
            readers: readers.iter().map(|o| o.reader()).collect(),
        }],
    )
    .expect("sealing to valid keys does not fail")
}
