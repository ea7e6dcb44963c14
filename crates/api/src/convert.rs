//! Conversions between the API's protobuf messages and the ledger's domain types, in one
//! place for the node, the CLI and the tests (penumbra's `DomainType` habit): a message
//! built from a domain value never loses a field, and a message read into a domain value
//! is checked as the domain type's constructor checks it.

use ledger_types::{Block, FieldName, FieldType, KeyWrap, OrgId, RecordField, SchemaField};

use crate::v1 as pb;

/// A message that does not describe a valid domain value; the text says which part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConvertError(pub String);

impl From<&SchemaField> for pb::SchemaField {
    fn from(f: &SchemaField) -> Self {
        pb::SchemaField {
            name: f.name.to_string(),
            r#type: f.ty.name().to_string(),
            values: match &f.ty {
                FieldType::Enumeration(v) => v.clone(),
                _ => vec![],
            },
            required: f.required,
            committed: f.committed,
            fhe: f.fhe,
        }
    }
}

impl TryFrom<&pb::SchemaField> for SchemaField {
    type Error = ConvertError;

    fn try_from(f: &pb::SchemaField) -> Result<Self, ConvertError> {
        let ty = FieldType::from_name(&f.r#type, &f.values).ok_or_else(|| {
            ConvertError(format!(
                "field {}: unknown type {:?} ({})",
                f.name,
                f.r#type,
                FieldType::NAMES
            ))
        })?;
        Ok(SchemaField {
            name: FieldName::new(f.name.clone()).map_err(|e| ConvertError(e.to_string()))?,
            ty,
            required: f.required,
            committed: f.committed,
            fhe: f.fhe,
        })
    }
}

impl From<&RecordField> for pb::RecordField {
    fn from(f: &RecordField) -> Self {
        pb::RecordField {
            name: f.name.to_string(),
            sealed: f.sealed.clone(),
        }
    }
}

impl From<&KeyWrap> for pb::KeyWrap {
    fn from(w: &KeyWrap) -> Self {
        pb::KeyWrap {
            field: w.field.to_string(),
            reader: w.reader.to_string(),
            enc: w.enc.clone(),
            wrapped: w.wrapped.clone(),
        }
    }
}

/// The API view of a block read without decoding its transactions (headers-only streams):
/// its header and its transactions' hashes.
pub fn summary_message(s: &ledger_types::BlockSummary) -> pb::BlockMessage {
    let h = &s.header;
    pb::BlockMessage {
        header: Some(pb::BlockHeader {
            chain_id: h.chain_id.to_string(),
            height: h.height,
            hash: s.hash.0.to_vec(),
            prev_hash: h.prev_hash.0.to_vec(),
            timestamp_ms: h.timestamp_ms,
            proposer: h.proposer.to_string(),
            tx_count: h.tx_count,
            tx_root: h.tx_root.0.to_vec(),
            state_root: h.state_root.0.to_vec(),
        }),
        tx_hashes: s.tx_hashes.iter().map(|t| t.0.to_vec()).collect(),
        block: Vec::new(),
    }
}

/// The API view of a block: its header, its transactions' hashes, and its canonical bytes
/// when `bytes` is given.
pub fn block_message(block: &Block, bytes: Option<Vec<u8>>) -> pb::BlockMessage {
    let h = block.header();
    pb::BlockMessage {
        header: Some(pb::BlockHeader {
            chain_id: h.chain_id.to_string(),
            height: h.height,
            hash: block.hash().0.to_vec(),
            prev_hash: h.prev_hash.0.to_vec(),
            timestamp_ms: h.timestamp_ms,
            proposer: h.proposer.to_string(),
            tx_count: h.tx_count,
            tx_root: h.tx_root.0.to_vec(),
            state_root: h.state_root.0.to_vec(),
        }),
        tx_hashes: block.txs.iter().map(|t| t.hash().0.to_vec()).collect(),
        block: bytes.unwrap_or_default(),
    }
}

/// Organisation ids from their names, sorted and without repeats (a schema's auditors, a
/// put's extra readers).
pub fn org_set(names: &[String]) -> Result<Vec<OrgId>, ConvertError> {
    let mut orgs = names
        .iter()
        .map(|o| OrgId::new(o.clone()).map_err(|e| ConvertError(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    orgs.sort();
    orgs.dedup();
    Ok(orgs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_fields_round_trip() {
        for ty in [
            FieldType::Text,
            FieldType::Bytes,
            FieldType::Amount,
            FieldType::Date,
            FieldType::Identifier,
            FieldType::Enumeration(vec!["a".into(), "b".into()]),
        ] {
            let amount = ty == FieldType::Amount;
            let f = SchemaField {
                name: FieldName::new("total").unwrap(),
                ty,
                required: true,
                committed: amount,
                fhe: amount,
            };
            let back = SchemaField::try_from(&pb::SchemaField::from(&f)).unwrap();
            assert_eq!(back, f);
        }
    }

    #[test]
    fn an_unknown_type_is_named() {
        let m = pb::SchemaField {
            name: "total".into(),
            r#type: "money".into(),
            ..Default::default()
        };
        let e = SchemaField::try_from(&m).unwrap_err();
        assert_eq!(
            e.0,
            "field total: unknown type \"money\" (text, bytes, amount, date, identifier, enumeration)"
        );
    }

    #[test]
    fn enumeration_values_are_sorted_and_unique() {
        let m = pb::SchemaField {
            name: "state".into(),
            r#type: "enum".into(),
            values: vec!["b".into(), "a".into(), "b".into()],
            ..Default::default()
        };
        let f = SchemaField::try_from(&m).unwrap();
        assert_eq!(f.ty, FieldType::Enumeration(vec!["a".into(), "b".into()]));
    }
}
