//! Record schemas: a named, versioned list of typed fields and the audit policy naming the
//! regulators that must be able to read records of the schema.

use crate::codec::{Decoder, Encoder};
use crate::error::CodecError;
use crate::ids::{FieldName, OrgId, SchemaId};

/// Most fields a schema can declare (the same bound as a record's fields).
pub const MAX_SCHEMA_FIELDS: usize = crate::tx::MAX_RECORD_FIELDS;
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
            e.u8(u8::from(f.required));
        }
        e.count(self.auditors.len());
        for a in &self.auditors {
            a.encode(e);
        }
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
            let required = match d.u8("required flag")? {
                0 => false,
                1 => true,
                t => {
                    return Err(CodecError::UnknownTag {
                        what: "required flag",
                        tag: t.into(),
                    })
                }
            };
            fields.push(SchemaField { name, ty, required });
        }
        let m = d.count("auditors", MAX_AUDITORS, 5)?;
        let mut auditors = Vec::with_capacity(m);
        for _ in 0..m {
            auditors.push(OrgId::decode(d)?);
        }
        let s = RegisterSchema {
            schema,
            version,
            fields,
            auditors,
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
        for f in &self.fields {
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
            schema: SchemaId::new("invoice").unwrap(),
            version: 1,
            fields: vec![
                SchemaField {
                    name: FieldName::new("currency").unwrap(),
                    ty: FieldType::Enumeration(vec!["EUR".into(), "USD".into()]),
                    required: true,
                },
                SchemaField {
                    name: FieldName::new("issued").unwrap(),
                    ty: FieldType::Date,
                    required: false,
                },
                SchemaField {
                    name: FieldName::new("total").unwrap(),
                    ty: FieldType::Amount,
                    required: true,
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
    fn round_trip() {
        let s = schema();
        let bytes = encode(&s);
        let mut d = Decoder::new(&bytes);
        assert_eq!(RegisterSchema::decode(&mut d).unwrap(), s);
        d.finish("schema").unwrap();
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
        for (what, s) in [
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
