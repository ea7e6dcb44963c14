//! Sealing whole record versions and reading their fields: the owner-side and reader-side
//! steps around [`crate::field`], shared by the node's gateway, the CLI tools and tests.

use ledger_types::record::KeyWrap;
use ledger_types::{ChainId, FieldName, OrgId, PutRecord, RecordField, RecordId, RegisterSchema};
use zeroize::Zeroizing;

use crate::field::{FieldBinding, FieldKey};
use crate::CryptoError;

/// A reader of a field: its organisation and its registered P-256 encryption key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// The organisation.
    pub org: OrgId,
    /// Its encryption public key (uncompressed SEC1 point).
    pub key: Vec<u8>,
}

/// One field to seal: its name, its typed plaintext, and who may read it.
pub struct FieldToSeal {
    /// The field name.
    pub name: FieldName,
    /// The typed plaintext (see `FieldType::encode_value`).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// Its readers (the owner and every auditor of the schema among them).
    pub readers: Vec<Reader>,
}

/// The binding of `field` in a record version.
pub fn binding(
    chain_id: &ChainId,
    record: &RecordId,
    version: u32,
    field: &FieldName,
    schema: &RegisterSchema,
) -> FieldBinding {
    FieldBinding {
        chain_id: chain_id.clone(),
        record: record.clone(),
        version,
        field: field.clone(),
        schema: schema.schema.clone(),
        schema_version: schema.version,
    }
}

/// Seals a record version: a fresh data key per field, the value sealed under it, the key
/// wrapped to each of the field's readers. The result is sorted as the ledger requires.
pub fn seal_record(
    chain_id: &ChainId,
    record: &RecordId,
    version: u32,
    schema: &RegisterSchema,
    fields: &[FieldToSeal],
) -> Result<PutRecord, CryptoError> {
    let mut sealed = Vec::with_capacity(fields.len());
    let mut wraps = Vec::new();
    for f in fields {
        let b = binding(chain_id, record, version, &f.name, schema);
        let key = FieldKey::generate();
        sealed.push(RecordField {
            name: f.name.clone(),
            sealed: key.seal(&b, &f.plaintext)?,
        });
        for r in &f.readers {
            wraps.push(wrap_one(&key, &b, r)?);
        }
    }
    sealed.sort_by(|a, b| a.name.cmp(&b.name));
    sort_wraps(&mut wraps);
    wraps.dedup_by(|a, b| a.field == b.field && a.reader == b.reader);
    Ok(PutRecord {
        record: record.clone(),
        version,
        schema: schema.schema.clone(),
        schema_version: schema.version,
        fields: sealed,
        wraps,
        commitments: vec![],
        range_proof: None,
        audit_handles: vec![],
        document_commitment: None,
        fhe_amounts: vec![],
    })
}

/// Wraps `key` (bound by `binding`) to one reader.
pub fn wrap_one(
    key: &FieldKey,
    binding: &FieldBinding,
    reader: &Reader,
) -> Result<KeyWrap, CryptoError> {
    let (enc, wrapped) = key.wrap(binding, &reader.org, &reader.key)?;
    Ok(KeyWrap {
        field: binding.field.clone(),
        reader: reader.org.clone(),
        enc,
        wrapped,
    })
}

/// Sorts wraps the way the ledger requires: by field, then reader.
pub fn sort_wraps(wraps: &mut [KeyWrap]) {
    wraps.sort_by(|a, b| (&a.field, &a.reader).cmp(&(&b.field, &b.reader)));
}

/// Unwraps a field's data key with the reader's Diffie-Hellman (`dh`, its HSM).
pub fn unwrap_key(
    binding: &FieldBinding,
    wrap: &KeyWrap,
    reader_key: &[u8],
    dh: impl FnOnce(&[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError>,
) -> Result<FieldKey, CryptoError> {
    FieldKey::unwrap(
        binding,
        &wrap.reader,
        reader_key,
        &wrap.enc,
        &wrap.wrapped,
        dh,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpke::software_dh;
    use ledger_types::{FieldType, SchemaField, SchemaId};

    fn keypair() -> ([u8; 32], Vec<u8>) {
        let sk = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pk = sk.public_key();
        let point = p256::EncodedPoint::from(pk);
        (sk.to_bytes().into(), point.as_bytes().to_vec())
    }

    #[test]
    fn sealed_records_open_for_readers_only() {
        let chain = ChainId::new("c").unwrap();
        let record = RecordId::new("inv-1").unwrap();
        let schema = RegisterSchema {
            document: None,
            schema: SchemaId::new("invoice").unwrap(),
            version: 1,
            fields: vec![SchemaField {
                name: FieldName::new("total").unwrap(),
                ty: FieldType::Amount,
                required: true,
                committed: false,
                fhe: false,
            }],
            auditors: vec![],
        };
        let (sk_a, pk_a) = keypair();
        let (sk_b, pk_b) = keypair();
        let owner = Reader {
            org: OrgId::new("bank-a").unwrap(),
            key: pk_a.clone(),
        };
        let total = FieldName::new("total").unwrap();
        let put = seal_record(
            &chain,
            &record,
            1,
            &schema,
            &[FieldToSeal {
                name: total.clone(),
                plaintext: Zeroizing::new(FieldType::Amount.encode_value("120000").unwrap()),
                readers: vec![owner.clone()],
            }],
        )
        .unwrap();
        put.check().unwrap();
        assert_eq!(put.wraps.len(), 1);
        let b = binding(&chain, &record, 1, &total, &schema);
        let key = unwrap_key(&b, &put.wraps[0], &pk_a, software_dh(&sk_a)).unwrap();
        let plain = key.open(&b, &put.fields[0].sealed).unwrap();
        assert_eq!(FieldType::Amount.decode_value(&plain).unwrap(), "120000");
        // Another organisation's key does not open the owner's wrap.
        let mut stolen = put.wraps[0].clone();
        stolen.reader = OrgId::new("bank-b").unwrap();
        assert!(unwrap_key(&b, &stolen, &pk_b, software_dh(&sk_b)).is_err());
        assert!(unwrap_key(&b, &put.wraps[0], &pk_a, software_dh(&sk_b)).is_err());
    }
}
