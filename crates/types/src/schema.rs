//! Record schemas: a named, versioned list of typed fields and the audit policy naming the
//! regulators that must be able to read records of the schema.

use crate::codec::{Decoder, Encoder};
use crate::date::Date;
use crate::error::CodecError;
use crate::ids::{FieldName, OrgId, SchemaId};
use crate::record::MAX_RECORD_FIELDS;

/// Most fields a schema can declare (the same bound as a record's fields).
pub const MAX_SCHEMA_FIELDS: usize = MAX_RECORD_FIELDS;
/// Most values an enumeration can list.
pub const MAX_ENUM_VALUES: usize = 64;
/// Most auditors an audit policy can name.
pub const MAX_AUDITORS: usize = 16;

/// The type of a field's plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldType {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Bytes,
    /// An unsigned amount in minor units, below 2^64.
    Amount,
    /// A calendar date (`YYYY-MM-DD`).
    Date,
    /// One of the listed values (sorted, unique).
    Enumeration(Vec<String>),
    /// An identifier (letters, digits, `-`, `_`, `.`).
    Identifier,
}

impl FieldType {
    fn tag(&self) -> u8 {
        match self {
            FieldType::Text => 1,
            FieldType::Bytes => 2,
            FieldType::Amount => 3,
            FieldType::Date => 4,
            FieldType::Enumeration(_) => 5,
            FieldType::Identifier => 6,
        }
    }

    /// A readable name.
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Bytes => "bytes",
            FieldType::Amount => "amount",
            FieldType::Date => "date",
            FieldType::Enumeration(_) => "enumeration",
            FieldType::Identifier => "identifier",
        }
    }

    /// The type called `name` (one of [`FieldType::NAMES`]; `enum` is short for
    /// `enumeration`, whose `values` are sorted and deduplicated here). `None` for a name
    /// that is not a type.
    pub fn from_name(name: &str, values: &[String]) -> Option<Self> {
        Some(match name {
            "text" => FieldType::Text,
            "bytes" => FieldType::Bytes,
            "amount" => FieldType::Amount,
            "date" => FieldType::Date,
            "identifier" => FieldType::Identifier,
            "enum" | "enumeration" => {
                let mut v = values.to_vec();
                v.sort();
                v.dedup();
                FieldType::Enumeration(v)
            }
            _ => return None,
        })
    }

    /// The type names, for messages.
    pub const NAMES: &'static str = "text, bytes, amount, date, identifier, enumeration";
}

/// Most bytes of a text value.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Most bytes of a bytes value.
pub const MAX_BYTES_VALUE: usize = 1024 * 1024;
/// Most bytes of an identifier value.
pub const MAX_IDENTIFIER_BYTES: usize = 128;

/// Typed plaintext encoding of field values: what is sealed, so fixed-size types seal to a
/// fixed-size ciphertext that validators can check without reading it.
///
/// | type        | plaintext bytes                          | written as            |
/// |-------------|------------------------------------------|-----------------------|
/// | text        | UTF-8, at most 64 KiB                    | the text              |
/// | bytes       | raw, at most 1 MiB                       | hex                   |
/// | amount      | u64 big-endian (8)                       | decimal minor units   |
/// | date        | year u16 BE, month u8, day u8 (4)        | `YYYY-MM-DD`          |
/// | enumeration | index into the sorted values, u16 BE (2) | the value             |
/// | identifier  | ASCII letters, digits, `-_.`, 1 to 128   | the identifier        |
impl FieldType {
    /// The smallest and largest plaintext a value of this type encodes to.
    pub fn plaintext_len(&self) -> (usize, usize) {
        match self {
            FieldType::Text => (0, MAX_TEXT_BYTES),
            FieldType::Bytes => (0, MAX_BYTES_VALUE),
            FieldType::Amount => (8, 8),
            FieldType::Date => (4, 4),
            FieldType::Enumeration(_) => (2, 2),
            FieldType::Identifier => (1, MAX_IDENTIFIER_BYTES),
        }
    }

    /// Encodes a value written as text into its typed plaintext, or says why it does not fit.
    pub fn encode_value(&self, text: &str) -> Result<Vec<u8>, String> {
        let out = match self {
            FieldType::Text => text.as_bytes().to_vec(),
            FieldType::Bytes => {
                hex::decode(text).map_err(|e| format!("a bytes value is written in hex: {e}"))?
            }
            FieldType::Amount => {
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "an amount is a whole number of minor units, not {text:?}"
                    ));
                }
                text.parse::<u64>()
                    .map_err(|_| format!("amount {text} does not fit in 64 bits"))?
                    .to_be_bytes()
                    .to_vec()
            }
            FieldType::Date => {
                let date = Date::parse(text)?;
                let mut v = date.year().to_be_bytes().to_vec();
                v.extend([date.month(), date.day()]);
                v
            }
            FieldType::Enumeration(values) => {
                let i = values
                    .iter()
                    .position(|v| v == text)
                    .ok_or_else(|| format!("{text:?} is not one of {}", values.join(", ")))?;
                (i as u16).to_be_bytes().to_vec()
            }
            FieldType::Identifier => {
                check_identifier(text.as_bytes())?;
                text.as_bytes().to_vec()
            }
        };
        let (min, max) = self.plaintext_len();
        if out.len() < min || out.len() > max {
            return Err(format!(
                "a {} value is {min} to {max} bytes, this one is {}",
                self.name(),
                out.len()
            ));
        }
        Ok(out)
    }

    /// Decodes a typed plaintext back to its text form, or says why it is not one.
    pub fn decode_value(&self, bytes: &[u8]) -> Result<String, String> {
        let (min, max) = self.plaintext_len();
        if bytes.len() < min || bytes.len() > max {
            return Err(format!(
                "a {} value is {min} to {max} bytes, this one is {}",
                self.name(),
                bytes.len()
            ));
        }
        match self {
            FieldType::Text => String::from_utf8(bytes.to_vec())
                .map_err(|_| "a text value is not UTF-8".to_string()),
            FieldType::Bytes => Ok(hex::encode(bytes)),
            FieldType::Amount => {
                let mut a = [0u8; 8];
                a.copy_from_slice(bytes);
                Ok(u64::from_be_bytes(a).to_string())
            }
            FieldType::Date => {
                let text = format!(
                    "{:04}-{:02}-{:02}",
                    u16::from_be_bytes([bytes[0], bytes[1]]),
                    bytes[2],
                    bytes[3]
                );
                Date::parse(&text)?;
                Ok(text)
            }
            FieldType::Enumeration(values) => {
                let i = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
                values
                    .get(i)
                    .cloned()
                    .ok_or_else(|| format!("enumeration index {i} is out of range"))
            }
            FieldType::Identifier => {
                check_identifier(bytes)?;
                Ok(String::from_utf8_lossy(bytes).into_owned())
            }
        }
    }
}

fn check_identifier(b: &[u8]) -> Result<(), String> {
    if b.is_empty()
        || b.len() > MAX_IDENTIFIER_BYTES
        || !b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "an identifier is 1 to {MAX_IDENTIFIER_BYTES} letters, digits, '-', '_' or '.'"
        ));
    }
    Ok(())
}

/// One declared field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaField {
    /// The field name.
    pub name: FieldName,
    /// Its type.
    pub ty: FieldType,
    /// Whether every record must carry it.
    pub required: bool,
    /// For amounts: whether records carry a Pedersen commitment to the value (the
    /// opening sealed in the field, a range proof for the record), so others can check
    /// relations between amounts they cannot read.
    pub committed: bool,
    /// For amounts: whether records also carry the value encrypted under the chain's
    /// analytics key (tfhe) with a proof of encryption, so that encrypted-analytics questions
    /// can add it up (`Question::FieldTotal`; docs/fhe.md). Only on a chain with analytics.
    pub fhe: bool,
}

/// Bytes of a committed amount's sealed plaintext: the opening (value u64 big-endian,
/// blinding scalar).
pub const OPENING_BYTES: usize = 40;

impl SchemaField {
    /// The smallest and largest plaintext this field seals.
    pub fn plaintext_len(&self) -> (usize, usize) {
        if self.committed {
            (OPENING_BYTES, OPENING_BYTES)
        } else {
            self.ty.plaintext_len()
        }
    }
}

/// The kind of trade document a schema's records are. A document schema's records carry a
/// Poseidon commitment to the document (see `ledger-circuits`), whose opening is sealed in
/// the record's `document` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocumentKind {
    /// A purchase order.
    PurchaseOrder,
    /// A delivery note.
    DeliveryNote,
    /// An invoice.
    Invoice,
}

/// The field that holds a document schema's sealed document.
pub const DOCUMENT_FIELD: &str = "document";

impl DocumentKind {
    /// All kinds.
    pub const ALL: [DocumentKind; 3] = [
        DocumentKind::PurchaseOrder,
        DocumentKind::DeliveryNote,
        DocumentKind::Invoice,
    ];

    /// The tag in the canonical encoding (the same as in document commitments).
    pub fn tag(self) -> u8 {
        match self {
            DocumentKind::PurchaseOrder => 1,
            DocumentKind::DeliveryNote => 2,
            DocumentKind::Invoice => 3,
        }
    }

    /// The name (`purchase-order`, `delivery-note`, `invoice`).
    pub fn name(self) -> &'static str {
        match self {
            DocumentKind::PurchaseOrder => "purchase-order",
            DocumentKind::DeliveryNote => "delivery-note",
            DocumentKind::Invoice => "invoice",
        }
    }

    /// From [`DocumentKind::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// From [`DocumentKind::tag`].
    pub fn from_tag(t: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.tag() == t)
    }
}

/// Registers a schema (version 1) or its next version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterSchema {
    /// The schema.
    pub schema: SchemaId,
    /// The version this transaction writes: 1, else latest + 1.
    pub version: u32,
    /// The fields, sorted by name, unique, at least one.
    pub fields: Vec<SchemaField>,
    /// Regulators every record of this version must be readable by (sorted, unique).
    pub auditors: Vec<OrgId>,
    /// The kind of trade document its records are, if any: they then carry a document
    /// commitment and a required bytes field `document`.
    pub document: Option<DocumentKind>,
}

impl RegisterSchema {
    /// Writes the canonical encoding.
    pub fn encode(&self, e: &mut Encoder) {
        self.schema.encode(e);
        e.u32(self.version);
        e.count(self.fields.len());
        for f in &self.fields {
            f.name.encode(e);
            e.u8(f.ty.tag());
            if let FieldType::Enumeration(values) = &f.ty {
                e.count(values.len());
                for v in values {
                    e.str(v);
                }
            }
            e.u8(u8::from(f.required) | (u8::from(f.committed) << 1) | (u8::from(f.fhe) << 2));
        }
        e.count(self.auditors.len());
        for a in &self.auditors {
            a.encode(e);
        }
        e.u8(self.document.map_or(0, DocumentKind::tag));
    }

    /// Reads and checks the canonical encoding.
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CodecError> {
        let schema = SchemaId::decode(d)?;
        let version = d.u32("schema version")?;
        let n = d.count("schema fields", MAX_SCHEMA_FIELDS, 7)?;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            let name = FieldName::decode(d)?;
            let ty = match d.u8("field type")? {
                1 => FieldType::Text,
                2 => FieldType::Bytes,
                3 => FieldType::Amount,
                4 => FieldType::Date,
                5 => {
                    let m = d.count("enumeration values", MAX_ENUM_VALUES, 5)?;
                    let mut values = Vec::with_capacity(m);
                    for _ in 0..m {
                        values.push(d.string("enumeration value", 64)?);
                    }
                    FieldType::Enumeration(values)
                }
                6 => FieldType::Identifier,
                t => {
                    return Err(CodecError::UnknownTag {
                        what: "field type",
                        tag: t.into(),
                    })
                }
            };
            let flags = d.u8("field flags")?;
            if flags > 7 {
                return Err(CodecError::UnknownTag {
                    what: "field flags",
                    tag: flags.into(),
                });
            }
            fields.push(SchemaField {
                name,
                ty,
                required: flags & 1 == 1,
                committed: flags & 2 == 2,
                fhe: flags & 4 == 4,
            });
        }
        let m = d.count("auditors", MAX_AUDITORS, 5)?;
        let mut auditors = Vec::with_capacity(m);
        for _ in 0..m {
            auditors.push(OrgId::decode(d)?);
        }
        let document = match d.u8("document kind")? {
            0 => None,
            t => Some(DocumentKind::from_tag(t).ok_or(CodecError::UnknownTag {
                what: "document kind",
                tag: t.into(),
            })?),
        };
        let s = RegisterSchema {
            schema,
            version,
            fields,
            auditors,
            document,
        };
        s.check()?;
        Ok(s)
    }

    /// Checks the rules a decoder enforces.
    pub fn check(&self) -> Result<(), CodecError> {
        let bad = |reason: String| CodecError::NotCanonical {
            what: "RegisterSchema",
            reason,
        };
        if self.version == 0 {
            return Err(bad("schema versions start at 1".into()));
        }
        if self.fields.is_empty() || self.fields.len() > MAX_SCHEMA_FIELDS {
            return Err(bad(format!(
                "a schema declares 1 to {MAX_SCHEMA_FIELDS} fields, got {}",
                self.fields.len()
            )));
        }
        if let Some(w) = self.fields.windows(2).find(|w| w[0].name >= w[1].name) {
            return Err(bad(format!(
                "fields must be sorted by name and unique (\"{}\" then \"{}\")",
                w[0].name, w[1].name
            )));
        }
        if let Some(kind) = self.document {
            let ok = self.fields.iter().any(|f| {
                f.name.as_str() == DOCUMENT_FIELD
                    && f.ty == FieldType::Bytes
                    && f.required
                    && !f.committed
                    && !f.fhe
            });
            if !ok {
                return Err(bad(format!(
                    "a {} schema declares a required bytes field \"{DOCUMENT_FIELD}\"",
                    kind.name()
                )));
            }
        }
        for f in &self.fields {
            if f.committed && f.ty != FieldType::Amount {
                return Err(bad(format!(
                    "field {}: only amounts can be committed",
                    f.name
                )));
            }
            if f.fhe && f.ty != FieldType::Amount {
                return Err(bad(format!(
                    "field {}: only amounts can be encrypted for analytics (fhe)",
                    f.name
                )));
            }
            if let FieldType::Enumeration(values) = &f.ty {
                if values.is_empty() || values.len() > MAX_ENUM_VALUES {
                    return Err(bad(format!(
                        "field {}: an enumeration lists 1 to {MAX_ENUM_VALUES} values",
                        f.name
                    )));
                }
                if !values.windows(2).all(|w| w[0] < w[1]) || values.iter().any(String::is_empty) {
                    return Err(bad(format!(
                        "field {}: enumeration values must be non-empty, sorted and unique",
                        f.name
                    )));
                }
            }
        }
        if self.auditors.len() > MAX_AUDITORS || !self.auditors.windows(2).all(|w| w[0] < w[1]) {
            return Err(bad(format!(
                "auditors must be sorted, unique and at most {MAX_AUDITORS}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> RegisterSchema {
        RegisterSchema {
            document: None,
            schema: SchemaId::new("invoice").unwrap(),
            version: 1,
            fields: vec![
                SchemaField {
                    name: FieldName::new("currency").unwrap(),
                    ty: FieldType::Enumeration(vec!["EUR".into(), "USD".into()]),
                    required: true,
                    committed: false,
                    fhe: false,
                },
                SchemaField {
                    name: FieldName::new("issued").unwrap(),
                    ty: FieldType::Date,
                    required: false,
                    committed: false,
                    fhe: false,
                },
                SchemaField {
                    name: FieldName::new("total").unwrap(),
                    ty: FieldType::Amount,
                    required: true,
                    committed: false,
                    fhe: false,
                },
            ],
            auditors: vec![OrgId::new("regulator-eu").unwrap()],
        }
    }

    fn encode(s: &RegisterSchema) -> Vec<u8> {
        let mut e = Encoder::new();
        s.encode(&mut e);
        e.finish()
    }

    #[test]
    fn values_encode_to_fixed_sizes_and_back() {
        let cases = [
            (FieldType::Amount, "120000", 8),
            (FieldType::Date, "2024-02-29", 4),
            (
                FieldType::Enumeration(vec!["EUR".into(), "USD".into()]),
                "USD",
                2,
            ),
            (FieldType::Identifier, "PO-77.a", 7),
            (FieldType::Text, "Ünïcode", 9),
            (FieldType::Bytes, "00ff", 2),
        ];
        for (ty, text, len) in cases {
            let v = ty.encode_value(text).unwrap();
            assert_eq!(v.len(), len, "{text}");
            assert_eq!(ty.decode_value(&v).unwrap(), text);
        }
        for (ty, text) in [
            (FieldType::Amount, "-1"),
            (FieldType::Amount, "18446744073709551616"),
            (FieldType::Amount, "1.5"),
            (FieldType::Date, "2023-02-29"),
            (FieldType::Date, "2023-13-01"),
            (FieldType::Date, "23-1-1"),
            (FieldType::Enumeration(vec!["EUR".into()]), "GBP"),
            (FieldType::Identifier, "a b"),
            (FieldType::Bytes, "zz"),
        ] {
            assert!(ty.encode_value(text).is_err(), "{text} accepted");
        }
        assert!(FieldType::Enumeration(vec!["EUR".into()])
            .decode_value(&[0, 1])
            .is_err());
    }

    #[test]
    fn round_trip() {
        let mut fhe = schema();
        fhe.fields[2].fhe = true;
        fhe.fields[2].committed = true;
        for s in [schema(), fhe] {
            let bytes = encode(&s);
            let mut d = Decoder::new(&bytes);
            assert_eq!(RegisterSchema::decode(&mut d).unwrap(), s);
            d.finish("schema").unwrap();
        }
    }

    #[test]
    fn non_canonical_schemas_are_refused() {
        let mut unsorted = schema();
        unsorted.fields.swap(0, 2);
        let mut dup_enum = schema();
        dup_enum.fields[0].ty = FieldType::Enumeration(vec!["EUR".into(), "EUR".into()]);
        let mut empty_enum = schema();
        empty_enum.fields[0].ty = FieldType::Enumeration(vec![]);
        let mut v0 = schema();
        v0.version = 0;
        let mut auditors = schema();
        auditors.auditors = vec![OrgId::new("b").unwrap(), OrgId::new("a").unwrap()];
        let mut fhe_date = schema();
        fhe_date.fields[1].fhe = true;
        for (what, s) in [
            ("fhe date", fhe_date),
            ("unsorted", unsorted),
            ("dup enum", dup_enum),
            ("empty enum", empty_enum),
            ("version 0", v0),
            ("auditors", auditors),
        ] {
            let bytes = encode(&s);
            assert!(
                matches!(
                    RegisterSchema::decode(&mut Decoder::new(&bytes)),
                    Err(CodecError::NotCanonical { .. })
                ),
                "{what} accepted"
            );
        }
        let mut bytes = encode(&schema());
        // The first field's type tag sits after the id, version, count and first name.
        let at = 4 + "invoice".len() + 4 + 4 + 4 + "currency".len();
        bytes[at] = 99;
        assert_eq!(
            RegisterSchema::decode(&mut Decoder::new(&bytes)).unwrap_err(),
            CodecError::UnknownTag {
                what: "field type",
                tag: 99
            }
        );
    }
}
