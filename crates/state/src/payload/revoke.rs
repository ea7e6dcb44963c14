//! `RevokeAccess`: a record's owner withdraws one organisation's access to some fields by
//! writing the next version, checked like any `PutRecord`, whose chosen fields are sealed
//! under new keys not wrapped to it. The owner and the schema's auditors cannot lose
//! access, the organisation must have read each field, and no other reader may be dropped.

use ledger_types::{Hash, RegisterMember, RevokeAccess};

use super::record::{check_fhe_amounts, check_put, fhe_writes, owned_latest, version_writes};
use super::{Ctx, PayloadHandler, Writes};
use crate::error::{ExecError, TxFailure, TxRejection};
use crate::model::{self, AccessAction, AccessEvent};
use crate::{rules, StateView};

impl PayloadHandler for RevokeAccess {
    fn check_stateful<V: StateView>(&self, ctx: &Ctx<'_, V>) -> Result<(), TxRejection> {
        check_fhe_amounts(ctx, &self.put)
    }

    fn execute<V: StateView>(
        &self,
        ctx: &Ctx<'_, V>,
        signer: &RegisterMember,
        tx_hash: Hash,
    ) -> Result<Writes, ExecError> {
        let record = &self.put.record;
        let previous = owned_latest(ctx, signer, record, self.put.version.saturating_sub(1))?;
        let expected = previous.version.saturating_add(1);
        if self.put.version != expected {
            return Err(TxFailure::RecordVersionConflict {
                record: record.clone(),
                expected,
                got: self.put.version,
            }
            .into());
        }
        // A reader the new version adds (a field it could not read in the previous one)
        // is logged as for a put, then the revocation.
        let (version, schema, events) = check_put(ctx, signer, tx_hash, &self.put)?;
        let mut events: Vec<AccessEvent> = events
            .into_iter()
            .filter_map(|mut e| {
                e.fields.retain(|f| !previous.can_read(f, &e.org));
                (!e.fields.is_empty()).then_some(e)
            })
            .collect();
        let cannot = |reason| {
            Err(TxFailure::CannotRevoke {
                record: record.clone(),
                org: self.from.clone(),
                reason,
            }
            .into())
        };
        if let Some(why) = rules::unrevocable(&signer.org, &schema, &self.from) {
            return cannot(why.reason());
        }
        for f in &self.fields {
            if !previous.can_read(f, &self.from) {
                return Err(TxFailure::NotAReader {
                    record: record.clone(),
                    field: f.clone(),
                    reader: self.from.clone(),
                }
                .into());
            }
        }
        for w in &previous.wraps {
            let revoked = w.reader == self.from && self.fields.contains(&w.field);
            if !revoked
                && version.field(&w.field).is_some()
                && !version.can_read(&w.field, &w.reader)
            {
                return Err(TxFailure::ReaderDropped {
                    record: record.clone(),
                    field: w.field.clone(),
                    reader: w.reader.clone(),
                }
                .into());
            }
        }
        events.push(AccessEvent {
            height: ctx.height,
            tx_hash,
            action: AccessAction::Revoke,
            by: signer.org.clone(),
            org: self.from.clone(),
            version: self.put.version,
            fields: self.fields.clone(),
        });
        let mut writes = version_writes(&version);
        writes.extend(fhe_writes(ctx, signer, tx_hash, &self.put)?);
        writes.extend(model::append_access(ctx.view, record, &events)?);
        Ok(writes)
    }
}
