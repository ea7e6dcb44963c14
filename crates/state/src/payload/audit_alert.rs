//! `AuditAlert`: a regulator named by a record's schema reports that its audit wrap of a
//! field does not open. It must name a stored version, one of its fields and its owner,
//! and a regulator files one alert per version and field.

use ledger_types::{AuditAlert, Hash, RegisterMember};

use super::{Ctx, PayloadHandler, Writes};
use crate::error::{ExecError, TxFailure};
use crate::model::{self, FiledAlert};
use crate::StateView;

impl PayloadHandler for AuditAlert {
    fn execute<V: StateView>(
        &self,
        ctx: &Ctx<'_, V>,
        signer: &RegisterMember,
        tx_hash: Hash,
    ) -> Result<Writes, ExecError> {
        let Some(version) = model::record_version(ctx.view, &self.record, self.version)? else {
            return Err(TxFailure::RecordVersionNotFound {
                record: self.record.clone(),
                version: self.version,
            }
            .into());
        };
        let auditor = model::schema_version(ctx.view, &version.schema, version.schema_version)?
            .is_some_and(|s| s.auditors.contains(&signer.org));
        if !auditor {
            return Err(TxFailure::NotAnAuditor {
                record: self.record.clone(),
                signer: signer.org.clone(),
            }
            .into());
        }
        if version.field(&self.field).is_none() {
            return Err(TxFailure::FieldNotInRecord {
                record: self.record.clone(),
                version: self.version,
                field: self.field.clone(),
            }
            .into());
        }
        if self.owner != version.owner {
            return Err(TxFailure::AlertOwnerMismatch {
                record: self.record.clone(),
                owner: version.owner,
                named: self.owner.clone(),
            }
            .into());
        }
        if model::alert_filed(
            ctx.view,
            &self.record,
            &signer.org,
            &self.field,
            self.version,
        )? {
            return Err(TxFailure::DuplicateAlert {
                record: self.record.clone(),
                version: self.version,
                field: self.field.clone(),
                signer: signer.org.clone(),
            }
            .into());
        }
        Ok(model::append_alert(
            ctx.view,
            &FiledAlert {
                height: ctx.height,
                tx_hash,
                regulator: signer.org.clone(),
                alert: self.clone(),
            },
        )?)
    }
}
