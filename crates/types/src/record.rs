//! Encrypted records and who may read them: the `PutRecord` payload and the parts every
//! record version is made of (sealed fields, key wraps, commitments, audit handles).
//!
//! A record version names its schema version, carries each field sealed under its own data
//! key (the ciphertext layout is `ledger_crypto::field`'s), and carries the data keys
//! wrapped with HPKE to each reader. The ledger sees only ciphertext, field names, lengths
//! and who holds a wrap; it checks structure here and, in the state machine, that the record
//! fits its schema and that every auditor the schema names holds a wrap of every field.

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::ids::{FieldName, OrgId, RecordId, SchemaId};

// The other payloads once lived here; their old paths keep working.
pub use crate::audit_alert::{AuditAlert, MAX_ALERT_REASON};
pub use crate::cross_check::{CrossCheck, Operand, Relation, MAX_CROSS_CHECK_OPERANDS};
pub use crate::finance::{FinanceRequest, RecordAt, MAX_FINANCE_PROOF};
pub use crate::grant::GrantAccess;
pub use crate::revoke::RevokeAccess;

/// Most fields a record version can carry.
pub const MAX_RECORD_FIELDS: usize = 256;
/// Most wraps one transaction can carry (fields × readers).
pub const MAX_WRAPS: usize = 4096;
/// Bytes of an HPKE `enc` for DHKEM(P-256) or DHKEM(SM2): an uncompressed SEC1 point.
pub const WRAP_ENC_LEN: usize = 65;
/// Bytes of a wrapped 256-bit data key on a default-suite chain: the key and the 16-byte
/// AES-GCM tag.
pub const WRAPPED_KEY_LEN: usize = 48;
/// Bytes of a wrapped 128-bit SM4 data key on an SM chain: the key and the 16-byte SM4-GCM
/// tag.
pub const WRAPPED_KEY_LEN_SM: usize = 32;

/// Bytes of a wrapped data key on this process's chain.
pub fn wrapped_key_len() -> usize {
    match crate::CryptoSuite::current() {
        crate::CryptoSuite::Sm => WRAPPED_KEY_LEN_SM,
        _ => WRAPPED_KEY_LEN,
    }
}
/// Bytes a sealed field adds to its plaintext: format byte, 12-byte nonce, 16-byte tag.
pub const SEALED_OVERHEAD: usize = 29;
/// Most bytes of a sealed field.
pub const MAX_SEALED_FIELD: usize = 1024 * 1024 + SEALED_OVERHEAD;

/// One sealed field of a record version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordField {
    /// The field name.
    pub name: FieldName,
    /// `format | nonce | AES-256-GCM ciphertext and tag` of the field's typed plaintext.
    pub sealed: Vec<u8>,
}

/// A field's data key wrapped to one reader with HPKE base mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyWrap {
    /// The field whose key this is.
    pub field: FieldName,
    /// The organisation that can unwrap it with its encryption key.
    pub reader: OrgId,
    /// The HPKE encapsulated key (65 bytes).
    pub enc: Vec<u8>,
    /// The wrapped data key (48 bytes; 32 on SM chains).
    pub wrapped: Vec<u8>,
}

impl KeyWrap {
    fn encode(&self, e: &mut Encoder) {
        self.field.encode(e);
        self.reader.encode(e);
        e.fixed(&self.enc);
        e.fixed(&self.wrapped);
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        Ok(KeyWrap {
            field: FieldName::decode(d)?,
            reader: OrgId::decode(d)?,
            enc: d.array::<WRAP_ENC_LEN>("wrap enc")?.to_vec(),
            wrapped: d.fixed(wrapped_key_len(), "wrapped key")?,
        })
    }
}

pub(crate) fn encode_wraps(e: &mut Encoder, wraps: &[KeyWrap]) {
    e.count(wraps.len());
    for w in wraps {
        w.encode(e);
    }
}

pub(crate) fn decode_wraps(d: &mut Decoder<'_>) -> Result<Vec<KeyWrap>, CodecError> {
    let n = d.count("key wraps", MAX_WRAPS, 8 + WRAP_ENC_LEN + wrapped_key_len())?;
    let mut wraps = Vec::with_capacity(n);
    for _ in 0..n {
        wraps.push(KeyWrap::decode(d)?);
    }
    Ok(wraps)
}

/// Checks that wraps are sorted by (field, reader), unique, and well sized.
pub fn check_wraps(what: &'static str, wraps: &[KeyWrap]) -> Result<(), CodecError> {
    let bad = |reason: String| CodecError::NotCanonical { what, reason };
    if wraps.len() > MAX_WRAPS {
        return Err(bad(format!(
            "{} key wraps exceed the limit of {MAX_WRAPS}",
            wraps.len()
        )));
    }
    if let Some(w) = wraps
        .windows(2)
        .find(|w| (&w[0].field, &w[0].reader) >= (&w[1].field, &w[1].reader))
    {
        return Err(bad(format!(
            "key wraps must be sorted by field then reader and unique ({}→{} then {}→{})",
            w[0].field, w[0].reader, w[1].field, w[1].reader
        )));
    }
    let wrapped_len = wrapped_key_len();
    if let Some(w) = wraps
        .iter()
        .find(|w| w.enc.len() != WRAP_ENC_LEN || w.wrapped.len() != wrapped_len)
    {
        return Err(bad(format!(
            "the wrap of {} for {} is not {WRAP_ENC_LEN}+{wrapped_len} bytes (this chain's crypto suite is {})",
            w.field,
            w.reader,
            crate::CryptoSuite::current()
        )));
    }
    Ok(())
}

/// Bytes of a commitment (a compressed Ristretto point).
pub const COMMITMENT_LEN: usize = 32;
/// Most bytes of a record's range proof.
pub const MAX_RANGE_PROOF: usize = 4096;

/// A Pedersen commitment to a committed field's amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCommitment {
    /// The field.
    pub field: FieldName,
    /// The compressed Ristretto point.
    pub commitment: [u8; COMMITMENT_LEN],
}

/// The aggregated range proof of a record's commitments (padded to a power of two with
/// commitments to zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRangeProof {
    /// Padding commitments.
    pub padding: Vec<[u8; COMMITMENT_LEN]>,
    /// The Bulletproofs bytes.
    pub proof: Vec<u8>,
}

/// Bytes of an auditor handle's proof.
pub const AUDIT_PROOF_LEN: usize = 128;
/// Most auditor handles one record version carries.
pub const MAX_AUDIT_HANDLES: usize = 256;

/// A committed amount's decryption handle for one auditor (twisted ElGamal `D = r·P`
/// under the auditor's audit key `P`), with the proof that it shares the commitment's
/// blinding: with the commitment it forms an ElGamal ciphertext of the amount that only
/// the auditor can open, and that adds up across records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHandle {
    /// The committed field.
    pub field: FieldName,
    /// The auditor.
    pub auditor: OrgId,
    /// The handle (a compressed Ristretto point).
    pub handle: [u8; COMMITMENT_LEN],
    /// The proof.
    pub proof: [u8; AUDIT_PROOF_LEN],
}

impl AuditHandle {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        self.field.encode(e);
        self.auditor.encode(e);
        e.fixed(&self.handle).fixed(&self.proof);
    }

    /// Reads the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        Ok(AuditHandle {
            field: FieldName::decode(d)?,
            auditor: OrgId::decode(d)?,
            handle: d.array("audit handle")?,
            proof: d.array("audit handle proof")?,
        })
    }
}

/// Creates a record (version 1) or a new version of one (previous version + 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecord {
    /// The record.
    pub record: RecordId,
    /// The version this transaction writes: 1 for a new record, else latest + 1.
    pub version: u32,
    /// The schema the record follows.
    pub schema: SchemaId,
    /// The schema version.
    pub schema_version: u32,
    /// The sealed fields, sorted by name, names unique, at least one.
    pub fields: Vec<RecordField>,
    /// The data keys wrapped to each reader, sorted by (field, reader); every field has at
    /// least one, and every wrap names a field of this version.
    pub wraps: Vec<KeyWrap>,
    /// Commitments of the committed amount fields, sorted by field.
    pub commitments: Vec<FieldCommitment>,
    /// The range proof of the commitments (present exactly when there are some).
    pub range_proof: Option<RecordRangeProof>,
    /// Auditor handles of the committed fields, sorted by (field, auditor).
    pub audit_handles: Vec<AuditHandle>,
    /// For records of a document schema: the Poseidon commitment to the document (a BN254
    /// scalar, 32 bytes little-endian), whose opening is sealed in the `document` field.
    pub document_commitment: Option<[u8; 32]>,
    /// The values of the schema's `fhe` amount fields this version carries, encrypted under
    /// the chain's analytics key with a proof of encryption, sorted by field (one for each
    /// carried `fhe` field, none for another; docs/fhe.md).
    pub fhe_amounts: Vec<FheAmount>,
}

/// One amount field's value encrypted for analytics (tfhe): `ledger_fhe::EncryptedAmount`
/// bytes, proven for this record version and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FheAmount {
    /// The field.
    pub field: FieldName,
    /// The proven compact ciphertext.
    pub amount: Vec<u8>,
}

impl PutRecord {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        self.record.encode(e);
        e.u32(self.version);
        self.schema.encode(e);
        e.u32(self.schema_version);
        e.count(self.fields.len());
        for f in &self.fields {
            f.name.encode(e);
            e.bytes(&f.sealed);
        }
        encode_wraps(e, &self.wraps);
        e.count(self.commitments.len());
        for c in &self.commitments {
            c.field.encode(e);
            e.fixed(&c.commitment);
        }
        match &self.range_proof {
            None => {
                e.u8(0);
            }
            Some(p) => {
                e.u8(1).count(p.padding.len());
                for c in &p.padding {
                    e.fixed(c);
                }
                e.bytes(&p.proof);
            }
        }
        e.count(self.audit_handles.len());
        for h in &self.audit_handles {
            h.encode(e);
        }
        e.opt_fixed(self.document_commitment.as_ref().map(|c| c.as_slice()));
        e.count(self.fhe_amounts.len());
        for a in &self.fhe_amounts {
            a.field.encode(e);
            e.bytes(&a.amount);
        }
    }

    /// Reads and checks the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let record = RecordId::decode(d)?;
        let version = d.u32("record version")?;
        let schema = SchemaId::decode(d)?;
        let schema_version = d.u32("schema version")?;
        let n = d.count("record fields", MAX_RECORD_FIELDS, 8)?;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            let name = FieldName::decode(d)?;
            let sealed = d.bytes("sealed field", MAX_SEALED_FIELD)?;
            fields.push(RecordField { name, sealed });
        }
        let wraps = decode_wraps(d)?;
        let n = d.count("commitments", MAX_RECORD_FIELDS, 4 + COMMITMENT_LEN)?;
        let mut commitments = Vec::with_capacity(n);
        for _ in 0..n {
            commitments.push(FieldCommitment {
                field: FieldName::decode(d)?,
                commitment: d.array("commitment")?,
            });
        }
        let range_proof = match d.u8("range proof flag")? {
            0 => None,
            1 => {
                let m = d.count("range proof padding", 16, COMMITMENT_LEN)?;
                let mut padding = Vec::with_capacity(m);
                for _ in 0..m {
                    padding.push(d.array("padding commitment")?);
                }
                Some(RecordRangeProof {
                    padding,
                    proof: d.bytes("range proof", MAX_RANGE_PROOF)?,
                })
            }
            t => {
                return Err(CodecError::UnknownTag {
                    what: "range proof flag",
                    tag: t.into(),
                })
            }
        };
        let n = d.count(
            "audit handles",
            MAX_AUDIT_HANDLES,
            8 + COMMITMENT_LEN + AUDIT_PROOF_LEN,
        )?;
        let mut audit_handles = Vec::with_capacity(n);
        for _ in 0..n {
            audit_handles.push(AuditHandle::decode(d)?);
        }
        let document_commitment = d.opt_array("document commitment")?;
        let n = d.count("fhe amounts", MAX_RECORD_FIELDS, 8)?;
        let mut fhe_amounts = Vec::with_capacity(n);
        for _ in 0..n {
            fhe_amounts.push(FheAmount {
                field: FieldName::decode(d)?,
                amount: d.bytes("fhe amount", crate::analytics::MAX_ENCRYPTED_AMOUNT)?,
            });
        }
        let p = PutRecord {
            record,
            version,
            schema,
            schema_version,
            fields,
            wraps,
            commitments,
            range_proof,
            audit_handles,
            document_commitment,
            fhe_amounts,
        };
        p.check()?;
        Ok(p)
    }

    /// Checks the rules a decoder enforces.
    pub fn check(&self) -> Result<(), CodecError> {
        let bad = |reason: String| CodecError::NotCanonical {
            what: "PutRecord",
            reason,
        };
        if self.version == 0 || self.schema_version == 0 {
            return Err(bad("record and schema versions start at 1".into()));
        }
        if self.fields.is_empty() || self.fields.len() > MAX_RECORD_FIELDS {
            return Err(bad(format!(
                "a record carries 1 to {MAX_RECORD_FIELDS} fields, got {}",
                self.fields.len()
            )));
        }
        if let Some(w) = self.fields.windows(2).find(|w| w[0].name >= w[1].name) {
            return Err(bad(format!(
                "fields must be sorted by name and unique (\"{}\" then \"{}\")",
                w[0].name, w[1].name
            )));
        }
        if let Some(f) = self
            .fields
            .iter()
            .find(|f| f.sealed.len() < SEALED_OVERHEAD || f.sealed.len() > MAX_SEALED_FIELD)
        {
            return Err(bad(format!(
                "field {} is {} sealed bytes, outside {SEALED_OVERHEAD}..={MAX_SEALED_FIELD}",
                f.name,
                f.sealed.len()
            )));
        }
        check_wraps("PutRecord", &self.wraps)?;
        if let Some(w) = self.wraps.iter().find(|w| self.field(&w.field).is_none()) {
            return Err(bad(format!(
                "a key wrap names field {}, which the record does not carry",
                w.field
            )));
        }
        if let Some(f) = self
            .fields
            .iter()
            .find(|f| !self.wraps.iter().any(|w| w.field == f.name))
        {
            return Err(bad(format!(
                "field {} has no key wrap: nobody could read it",
                f.name
            )));
        }
        if let Some(w) = self
            .commitments
            .windows(2)
            .find(|w| w[0].field >= w[1].field)
        {
            return Err(bad(format!(
                "commitments must be sorted by field and unique ({} then {})",
                w[0].field, w[1].field
            )));
        }
        if let Some(c) = self
            .commitments
            .iter()
            .find(|c| self.field(&c.field).is_none())
        {
            return Err(bad(format!(
                "a commitment names field {}, which the record does not carry",
                c.field
            )));
        }
        if self.commitments.is_empty() != self.range_proof.is_none() {
            return Err(bad(
                "a range proof comes with the commitments, and only with them".into(),
            ));
        }
        if let Some(w) = self
            .audit_handles
            .windows(2)
            .find(|w| (&w[0].field, &w[0].auditor) >= (&w[1].field, &w[1].auditor))
        {
            return Err(bad(format!(
                "audit handles must be sorted by (field, auditor) and unique ({}/{} then {}/{})",
                w[0].field, w[0].auditor, w[1].field, w[1].auditor
            )));
        }
        if let Some(w) = self
            .fhe_amounts
            .windows(2)
            .find(|w| w[0].field >= w[1].field)
        {
            return Err(bad(format!(
                "fhe amounts must be sorted by field and unique ({} then {})",
                w[0].field, w[1].field
            )));
        }
        if let Some(a) = self
            .fhe_amounts
            .iter()
            .find(|a| self.field(&a.field).is_none())
        {
            return Err(bad(format!(
                "an fhe amount names field {}, which the record does not carry",
                a.field
            )));
        }
        if let Some(h) = self
            .audit_handles
            .iter()
            .find(|h| self.commitment(&h.field).is_none())
        {
            return Err(bad(format!(
                "an audit handle names field {}, which carries no commitment",
                h.field
            )));
        }
        Ok(())
    }

    /// The commitment of field `name`, if committed.
    pub fn commitment(&self, name: &FieldName) -> Option<&FieldCommitment> {
        self.commitments.iter().find(|c| &c.field == name)
    }

    /// The sealed field `name`, if carried.
    pub fn field(&self, name: &FieldName) -> Option<&RecordField> {
        self.fields
            .binary_search_by(|f| f.name.cmp(name))
            .ok()
            .map(|i| &self.fields[i])
    }

    /// The readers of field `name` in this version.
    pub fn readers<'a>(&'a self, name: &'a FieldName) -> impl Iterator<Item = &'a OrgId> + 'a {
        self.wraps
            .iter()
            .filter(move |w| &w.field == name)
            .map(|w| &w.reader)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn wrap(field: &str, reader: &str) -> KeyWrap {
        KeyWrap {
            field: FieldName::new(field).unwrap(),
            reader: OrgId::new(reader).unwrap(),
            enc: vec![4; WRAP_ENC_LEN],
            wrapped: vec![5; WRAPPED_KEY_LEN],
        }
    }

    pub(crate) fn put() -> PutRecord {
        PutRecord {
            record: RecordId::new("inv-1").unwrap(),
            version: 1,
            schema: SchemaId::new("invoice").unwrap(),
            schema_version: 1,
            fields: vec![
                RecordField {
                    name: FieldName::new("currency").unwrap(),
                    sealed: vec![1; 31],
                },
                RecordField {
                    name: FieldName::new("total").unwrap(),
                    sealed: vec![2; 37],
                },
            ],
            wraps: vec![
                wrap("currency", "bank-a"),
                wrap("currency", "regulator"),
                wrap("total", "bank-a"),
            ],
            commitments: vec![],
            range_proof: None,
            audit_handles: vec![],
            document_commitment: None,
            fhe_amounts: vec![],
        }
    }

    fn bytes(p: &PutRecord) -> Vec<u8> {
        let mut e = Encoder::new();
        p.encode(&mut e);
        e.finish()
    }

    #[test]
    fn put_record_round_trips() {
        let mut with_fhe = put();
        with_fhe.fhe_amounts.push(FheAmount {
            field: FieldName::new("total").unwrap(),
            amount: vec![7; 100],
        });
        for p in [put(), with_fhe] {
            let b = bytes(&p);
            let mut d = Decoder::new(&b);
            assert_eq!(PutRecord::decode(&mut d).unwrap(), p);
            d.finish("put").unwrap();
        }
        let p = put();
        assert_eq!(
            p.readers(&FieldName::new("currency").unwrap())
                .map(|o| o.as_str())
                .collect::<Vec<_>>(),
            ["bank-a", "regulator"]
        );
    }

    #[test]
    fn malformed_records_are_refused_with_the_rule() {
        let mut unsorted_wraps = put();
        unsorted_wraps.wraps.swap(0, 1);
        let mut stray_wrap = put();
        stray_wrap.wraps.push(wrap("zzz", "bank-a"));
        let mut unread = put();
        unread.wraps.retain(|w| w.field.as_str() != "total");
        let mut short = put();
        short.fields[0].sealed = vec![0; 10];
        let mut v0 = put();
        v0.schema_version = 0;
        let fhe = |f: &str| FheAmount {
            field: FieldName::new(f).unwrap(),
            amount: vec![7; 10],
        };
        let mut stray_fhe = put();
        stray_fhe.fhe_amounts.push(fhe("zzz"));
        let mut twice_fhe = put();
        twice_fhe.fhe_amounts = vec![fhe("total"), fhe("total")];
        for (what, p, needle) in [
            ("stray fhe amount", stray_fhe, "does not carry"),
            ("fhe amount twice", twice_fhe, "sorted by field and unique"),
            ("unsorted wraps", unsorted_wraps, "sorted"),
            ("stray wrap", stray_wrap, "does not carry"),
            ("unread field", unread, "no key wrap"),
            ("short sealed", short, "sealed bytes"),
            ("schema v0", v0, "start at 1"),
        ] {
            let err = PutRecord::decode(&mut Decoder::new(&bytes(&p))).unwrap_err();
            assert!(err.to_string().contains(needle), "{what}: {err}");
        }
    }
}
