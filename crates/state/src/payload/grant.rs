//! `GrantAccess`: a record's owner wraps the current data keys of some fields to more
//! readers. The grant must name the latest version, each field must be in it and not
//! already readable by that reader, and every new reader must be a member with an
//! encryption key. Each new reader is logged in the record's access history.

use std::collections::BTreeMap;

use ledger_types::{FieldName, GrantAccess, Hash, OrgId, RegisterMember};

use super::record::owned_latest;
use super::{Ctx, PayloadHandler, Writes};
use crate::error::{ExecError, TxFailure};
use crate::model::{self, AccessAction, AccessEvent};
use crate::{keys, rules, StateView};

impl PayloadHandler for GrantAccess {
    fn execute<V: StateView>(
        &self,
        ctx: &Ctx<'_, V>,
        signer: &RegisterMember,
        tx_hash: Hash,
    ) -> Result<Writes, ExecError> {
        let mut current = owned_latest(ctx, signer, &self.record, self.version)?;
        if self.version != current.version {
            return Err(TxFailure::GrantNotCurrent {
                record: self.record.clone(),
                version: self.version,
                latest: current.version,
            }
            .into());
        }
        let mut by_reader: BTreeMap<&OrgId, Vec<FieldName>> = BTreeMap::new();
        for w in &self.wraps {
            rules::check_grant(&current, &w.field, &w.reader)?;
            by_reader
                .entry(&w.reader)
                .or_default()
                .push(w.field.clone());
        }
        for reader in by_reader.keys() {
            if rules::reader(ctx.view, reader)?.is_err() {
                return Err(TxFailure::UnknownReader {
                    record: self.record.clone(),
                    reader: (*reader).clone(),
                }
                .into());
            }
        }
        let events: Vec<AccessEvent> = by_reader
            .into_iter()
            .map(|(org, mut fields)| {
                fields.sort();
                AccessEvent {
                    height: ctx.height,
                    tx_hash,
                    action: AccessAction::Grant,
                    by: signer.org.clone(),
                    org: org.clone(),
                    version: self.version,
                    fields,
                }
            })
            .collect();
        current.wraps.extend(self.wraps.iter().cloned());
        current
            .wraps
            .sort_by(|a, b| (&a.field, &a.reader).cmp(&(&b.field, &b.reader)));
        let mut writes = vec![(
            keys::record_version(&current.record, current.version),
            current.encode(),
        )];
        writes.extend(model::append_access(ctx.view, &self.record, &events)?);
        Ok(writes)
    }
}
