//! Registering a schema version: its fields (sorted, enumerations normalised), its
//! auditors, and for a document schema the required `document` field, at the schema's
//! next version unless one is named.

use ledger_state::{schema_head, StateView};
use ledger_types::{
    DocumentKind, FieldName, FieldType, OrgId, RegisterSchema, SchemaField, SchemaId,
    DOCUMENT_FIELD,
};

use crate::{BuildError, Builder};

/// One field of a schema to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaFieldInput {
    /// Its name.
    pub name: FieldName,
    /// Its type (an enumeration's values in any order, repeats allowed).
    pub ty: FieldType,
    /// Whether every record must carry it.
    pub required: bool,
    /// Whether it is a committed amount.
    pub committed: bool,
    /// Whether it is an amount also encrypted for analytics (tfhe).
    pub fhe: bool,
}

/// A schema version to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaInput {
    /// The schema.
    pub schema: SchemaId,
    /// The version (the next one when `None`).
    pub version: Option<u32>,
    /// The fields, in any order.
    pub fields: Vec<SchemaFieldInput>,
    /// Regulators that must be able to read every record of this version.
    pub auditors: Vec<OrgId>,
    /// The document kind, for a document schema.
    pub document: Option<DocumentKind>,
}

impl SchemaFieldInput {
    /// The type named `ty` of field `field` (`text`, `bytes`, `amount`, `date`,
    /// `identifier`, or `enum`/`enumeration` of `values`).
    pub fn parse_type(field: &str, ty: &str, values: &[String]) -> Result<FieldType, BuildError> {
        FieldType::from_name(ty, values).ok_or_else(|| BuildError::UnknownFieldType {
            field: field.to_string(),
            ty: ty.to_string(),
        })
    }
}

impl<V: StateView> Builder<'_, V> {
    /// The schema version to register, checked as the ledger checks it.
    pub fn register_schema(&self, input: &SchemaInput) -> Result<RegisterSchema, BuildError> {
        let next = schema_head(self.view, &input.schema)?
            .map(|h| h.latest_version.saturating_add(1))
            .unwrap_or(1);
        let mut fields: Vec<SchemaField> = input
            .fields
            .iter()
            .map(|f| SchemaField {
                name: f.name.clone(),
                ty: match &f.ty {
                    FieldType::Enumeration(values) => {
                        let mut v = values.clone();
                        v.sort();
                        v.dedup();
                        FieldType::Enumeration(v)
                    }
                    ty => ty.clone(),
                },
                required: f.required,
                committed: f.committed,
                fhe: f.fhe,
            })
            .collect();
        fields.sort_by(|a, b| a.name.cmp(&b.name));
        let mut auditors = input.auditors.clone();
        auditors.sort();
        auditors.dedup();
        if input.document.is_some() && !fields.iter().any(|f| f.name.as_str() == DOCUMENT_FIELD) {
            fields.push(SchemaField {
                name: FieldName::new(DOCUMENT_FIELD)?,
                ty: FieldType::Bytes,
                required: true,
                committed: false,
                fhe: false,
            });
            fields.sort_by(|a, b| a.name.cmp(&b.name));
        }
        let s = RegisterSchema {
            document: input.document,
            schema: input.schema.clone(),
            version: input.version.unwrap_or(next),
            fields,
            auditors,
        };
        s.check()?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{name, org, Chain};
    use ledger_state::TxOutcome;
    use ledger_types::Payload;

    fn field(n: &str, ty: FieldType) -> SchemaFieldInput {
        SchemaFieldInput {
            name: name(n),
            ty,
            required: false,
            committed: false,
            fhe: false,
        }
    }

    #[test]
    fn the_next_version_is_registered_sorted_and_normalised() {
        let mut c = Chain::new();
        let input = SchemaInput {
            schema: SchemaId::new("po").unwrap(),
            version: None,
            fields: vec![
                field("total", FieldType::Amount),
                field(
                    "currency",
                    FieldType::Enumeration(vec!["USD".into(), "EUR".into(), "USD".into()]),
                ),
            ],
            auditors: vec![org("reg-eu"), org("reg-eu")],
            document: None,
        };
        let s = c.builder("bank-a").register_schema(&input).unwrap();
        assert_eq!(s.version, 2);
        assert_eq!(s.fields[0].name, name("currency"));
        assert_eq!(
            s.fields[0].ty,
            FieldType::Enumeration(vec!["EUR".into(), "USD".into()])
        );
        assert_eq!(s.auditors, [org("reg-eu")]);
        assert_eq!(
            c.commit("bank-a", Payload::RegisterSchema(s)),
            TxOutcome::Applied
        );
    }

    #[test]
    fn a_document_schema_gets_its_document_field() {
        let c = Chain::new();
        let input = SchemaInput {
            schema: SchemaId::new("invoice").unwrap(),
            version: None,
            fields: vec![],
            auditors: vec![],
            document: Some(DocumentKind::Invoice),
        };
        let s = c.builder("bank-a").register_schema(&input).unwrap();
        assert_eq!(s.version, 1);
        assert_eq!(s.fields.len(), 1);
        assert_eq!(s.fields[0].name.as_str(), DOCUMENT_FIELD);
        assert!(s.fields[0].required);
    }

    #[test]
    fn field_types_are_named() {
        assert_eq!(
            SchemaFieldInput::parse_type("total", "amount", &[]),
            Ok(FieldType::Amount)
        );
        let e = SchemaFieldInput::parse_type("total", "money", &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field total: unknown type \"money\" (text, bytes, amount, date, identifier, enumeration)"
        );
    }
}
