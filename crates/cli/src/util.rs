//! Reading the command line's values and printing what the node answers.

use ledger_api::v1 as pb;
use ledger_home::out;
use ledger_types::{FieldName, FieldType, Hash, SchemaField, SchemaId};

use crate::args::{SchemaArgs, SchemaFile};
use crate::client::CliError;

pub(crate) fn parse_hash(s: &str) -> Result<Hash, CliError> {
    Hash::from_hex(s).ok_or_else(|| CliError::Invalid(format!("{s:?} is not a 64-digit hex hash")))
}

pub(crate) fn print_block(b: &pb::BlockMessage) {
    if let Some(h) = &b.header {
        out!(
            "block {:>8}  {}  txs {:>6}  proposer {}  time {}  state {}",
            h.height,
            hex::encode(&h.hash),
            h.tx_count,
            h.proposer,
            h.timestamp_ms,
            hex::encode(&h.state_root)
        );
    }
}

pub(crate) fn print_tx(h: &Hash, t: &pb::GetTxResponse) {
    let status = match pb::TxStatus::try_from(t.status) {
        Ok(pb::TxStatus::Pending) => "pending".to_string(),
        Ok(pb::TxStatus::Committed) => {
            format!("committed at height {} index {}", t.height, t.index)
        }
        Ok(pb::TxStatus::Failed) => format!(
            "committed without effect at height {} index {}: {}",
            t.height, t.index, t.failure
        ),
        _ => "unknown".to_string(),
    };
    out!("tx      {h}");
    out!("kind    {} by {} nonce {}", t.kind, t.signer, t.nonce);
    out!("status  {status}");
}

/// Parses `NAME:TYPE[:required][:committed][:fhe]`, TYPE one of text, bytes, amount, date,
/// identifier, enum=A|B|C.
pub(crate) fn parse_schema_field(spec: &str) -> Result<SchemaField, CliError> {
    let bad = |why: &str| {
        CliError::Invalid(format!(
            "field {spec:?}: {why}; expected NAME:TYPE[:required][:committed][:fhe] with TYPE text, bytes, amount, date, identifier or enum=A|B|C"
        ))
    };
    let mut parts = spec.split(':');
    let name = FieldName::new(parts.next().unwrap_or_default()).map_err(|e| bad(&e.to_string()))?;
    let t = parts.next().ok_or_else(|| bad("no type"))?;
    let ty = match t.strip_prefix("enum=") {
        Some(values) => FieldType::from_name(
            "enum",
            &values.split('|').map(str::to_string).collect::<Vec<_>>(),
        ),
        None => FieldType::from_name(t, &[]).filter(|t| !matches!(t, FieldType::Enumeration(_))),
    }
    .ok_or_else(|| bad(&format!("unknown type {t:?}")))?;
    let (mut required, mut committed, mut fhe) = (false, false, false);
    for flag in parts {
        match flag {
            "required" if !required => required = true,
            "committed" if !committed => committed = true,
            "fhe" if !fhe => fhe = true,
            other => return Err(bad(&format!("unknown or repeated flag {other:?}"))),
        }
    }
    Ok(SchemaField {
        name,
        ty,
        required,
        committed,
        fhe,
    })
}

/// Reads a schema file into (id, field specs, auditors).
pub(crate) fn schema_from_file(
    path: &std::path::Path,
) -> Result<(String, Vec<String>, Vec<String>), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Invalid(format!("reading {}: {e}", path.display())))?;
    let f: SchemaFile =
        toml::from_str(&text).map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))?;
    let specs = f
        .fields
        .iter()
        .map(|x| {
            let ty = if x.ty == "enum" || x.ty == "enumeration" {
                format!("enum={}", x.values.join("|"))
            } else {
                x.ty.clone()
            };
            let mut spec = format!("{}:{ty}", x.name);
            for (on, flag) in [
                (x.required, "required"),
                (x.committed, "committed"),
                (x.fhe, "fhe"),
            ] {
                if on {
                    spec.push(':');
                    spec.push_str(flag);
                }
            }
            spec
        })
        .collect();
    Ok((f.schema, specs, f.auditors))
}

pub(crate) async fn register_schema(a: SchemaArgs) -> Result<(), CliError> {
    let (schema_name, field_specs, auditor_names) = match &a.file {
        Some(path) => schema_from_file(path)?,
        None => (
            a.schema.clone().ok_or_else(|| {
                CliError::Invalid("give --schema ID with --field specs, or --file".into())
            })?,
            a.fields.clone(),
            a.auditors.clone(),
        ),
    };
    if field_specs.is_empty() && a.document.is_none() {
        return Err(CliError::Invalid(
            "a schema needs at least one field".into(),
        ));
    }
    let schema = SchemaId::new(schema_name).map_err(|e| CliError::Invalid(e.to_string()))?;
    let mut fields = field_specs
        .iter()
        .map(|f| parse_schema_field(f))
        .collect::<Result<Vec<_>, _>>()?;
    fields.sort_by(|x, y| x.name.cmp(&y.name));
    let auditors =
        ledger_api::convert::org_set(&auditor_names).map_err(|e| CliError::Invalid(e.0))?;
    let mut gw = a.gw.connect().await?;
    let w = gw
        .register_schema(pb::GatewaySchemaRequest {
            document: a.document.clone().unwrap_or_default(),
            schema_id: schema.to_string(),
            version: a.version,
            fields: fields.iter().map(pb::SchemaField::from).collect(),
            auditors: auditors.iter().map(ToString::to_string).collect(),
            no_wait: false,
        })
        .await?;
    out!(
        "schema {schema} version {} committed at height {} (tx {})",
        w.version,
        w.height,
        hex::encode(&w.tx_hash)
    );
    Ok(())
}

/// `NAME=VALUE` arguments as gateway field values.
pub(crate) fn field_values(args: &[String]) -> Result<Vec<pb::FieldValue>, CliError> {
    args.iter()
        .map(|f| {
            let (n, v) = f
                .split_once('=')
                .ok_or_else(|| CliError::Invalid(format!("field {f:?} must be NAME=VALUE")))?;
            Ok(pb::FieldValue {
                name: n.to_string(),
                value: v.to_string(),
            })
        })
        .collect()
}

/// `RECORD[@VERSION]` (version 0: the latest).
pub(crate) fn record_at_version(s: &str) -> Result<(String, u32), CliError> {
    match s.split_once('@') {
        Some((r, v)) => Ok((
            r.to_string(),
            v.parse::<u32>().ok().filter(|v| *v > 0).ok_or_else(|| {
                CliError::Invalid(format!("{s:?}: the version is a number from 1"))
            })?,
        )),
        None => Ok((s.to_string(), 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_fields_take_every_flag_once() {
        let f = parse_schema_field("total:amount:required:committed:fhe").unwrap();
        assert_eq!(f.name.as_str(), "total");
        assert_eq!(f.ty, FieldType::Amount);
        assert!(f.required && f.committed && f.fhe);
        let f = parse_schema_field("note:text").unwrap();
        assert!(!f.required && !f.committed && !f.fhe);
        for bad in ["total:amount:fhe:fhe", "total:amount:secret", "total"] {
            assert!(parse_schema_field(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_schema_file_carries_its_flags() {
        let path = std::env::temp_dir().join(format!("schema-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "schema = \"invoice\"\nauditors = [\"reg-1\"]\n\n[[field]]\nname = \"total\"\ntype = \"amount\"\nrequired = true\ncommitted = true\nfhe = true\n\n[[field]]\nname = \"currency\"\ntype = \"enum\"\nvalues = [\"EUR\", \"USD\"]\n",
        )
        .unwrap();
        let (schema, specs, auditors) = schema_from_file(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(schema, "invoice");
        assert_eq!(auditors, ["reg-1"]);
        assert_eq!(
            specs,
            [
                "total:amount:required:committed:fhe",
                "currency:enum=EUR|USD"
            ]
        );
        let f = parse_schema_field(&specs[0]).unwrap();
        assert!(f.required && f.committed && f.fhe);
    }
}
