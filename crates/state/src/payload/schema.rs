//! `RegisterSchema`: a member or operator registers a record schema, or the next version
//! of one it registered. Every auditor its audit policy names must be a registered
//! regulator.

use ledger_types::{Hash, RegisterMember, RegisterSchema, Role};

use super::{Ctx, PayloadHandler, Writes};
use crate::error::{ExecError, TxFailure};
use crate::model::{self, encode_schema, RecordHead};
use crate::{keys, StateView};

impl PayloadHandler for RegisterSchema {
    fn execute<V: StateView>(
        &self,
        ctx: &Ctx<'_, V>,
        signer: &RegisterMember,
        _tx_hash: Hash,
    ) -> Result<Writes, ExecError> {
        let expected = match model::schema_head(ctx.view, &self.schema)? {
            None => 1,
            Some(h) if h.owner != signer.org => {
                return Err(TxFailure::NotSchemaOwner {
                    schema: self.schema.clone(),
                    owner: h.owner,
                    signer: signer.org.clone(),
                }
                .into())
            }
            Some(h) => h.latest_version.saturating_add(1),
        };
        if self.version != expected {
            return Err(TxFailure::SchemaVersionConflict {
                schema: self.schema.clone(),
                expected,
                got: self.version,
            }
            .into());
        }
        for auditor in &self.auditors {
            let is_regulator =
                model::member(ctx.view, auditor)?.is_some_and(|m| m.has_role(Role::Regulator));
            if !is_regulator {
                return Err(TxFailure::AuditorNotRegulator {
                    schema: self.schema.clone(),
                    auditor: auditor.clone(),
                }
                .into());
            }
        }
        if let Some(f) = self.fields.iter().find(|f| f.fhe) {
            if model::analytics_config(ctx.view)?.is_none() {
                return Err(TxFailure::AnalyticsRefused {
                    reason: format!(
                        "schema {} flags field {} fhe, but this chain has no analytics key (its genesis names no analytics authority)",
                        self.schema, f.name
                    ),
                }
                .into());
            }
        }
        let head = RecordHead {
            owner: signer.org.clone(),
            latest_version: self.version,
        };
        Ok(vec![
            (keys::schema_head(&self.schema), head.encode()),
            (
                keys::schema_version(&self.schema, self.version),
                encode_schema(self),
            ),
        ])
    }
}
