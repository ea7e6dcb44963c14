//! The regulator node's audit watch: as blocks arrive, every new record version whose
//! schema names this organisation as an auditor has its audit wraps opened (the key
//! agreement runs in the key provider) and its sealed values checked. A wrap or value that
//! does not open is reported on chain with an `AuditAlert` naming the record, the version,
//! the field and the owner. The last checked height is kept in the node home, so a restart
//! resumes where it stopped.

use std::path::PathBuf;
use std::sync::Arc;

use ledger_crypto::record::{binding, unwrap_key};
use ledger_crypto::CryptoError;
use ledger_hsm::KeyProvider;
use ledger_state::{record_version, schema_version};
use ledger_types::{AuditAlert, OrgId, Payload, PutRecord};
use tokio::sync::watch;

use crate::ledger::Ledger;
use crate::writer::TxWriter;

/// What the watch needs.
pub struct Auditor {
    /// The ledger.
    pub ledger: Arc<Ledger>,
    /// The key provider holding the agreement keys.
    pub provider: Arc<dyn KeyProvider>,
    /// The agreement keys: the current one and those rotations replaced (a wrap made
    /// before a rotation opens with the key of its time).
    pub agreement: ledger_home::rotation::AgreementCell,
    /// Files alerts.
    pub writer: Arc<TxWriter>,
    /// Where the last checked height is kept.
    pub state_file: PathBuf,
}

impl Auditor {
    fn me(&self) -> &OrgId {
        &self.ledger.org
    }

    /// Checks one block's record versions; returns the alerts to file.
    fn check_block(&self, height: u64) -> Result<Vec<AuditAlert>, String> {
        let store = self.ledger.store.as_ref();
        let Some(block) = store.block(height).map_err(|e| e.to_string())? else {
            return Ok(vec![]);
        };
        let mut alerts = Vec::new();
        for tx in &block.txs {
            let put: &PutRecord = match &tx.body().payload {
                Payload::PutRecord(p) => p,
                Payload::RevokeAccess(r) => &r.put,
                _ => continue,
            };
            let applied = store
                .tx_location(&tx.hash())
                .map_err(|e| e.to_string())?
                .is_some_and(|l| l.failure.is_none());
            if !applied {
                continue;
            }
            let Some(schema) = schema_version(store, &put.schema, put.schema_version)
                .map_err(|e| e.to_string())?
            else {
                continue;
            };
            if !schema.auditors.contains(self.me()) {
                continue;
            }
            let Some(rv) =
                record_version(store, &put.record, put.version).map_err(|e| e.to_string())?
            else {
                continue;
            };
            for f in &rv.fields {
                let b = binding(
                    &self.ledger.chain_id,
                    &rv.record,
                    rv.version,
                    &f.name,
                    &schema,
                );
                let reason = match rv.wrap(&f.name, self.me()) {
                    None => Some("no audit wrap for this regulator".to_string()),
                    Some(w) => {
                        let keys = self
                            .agreement
                            .read()
                            .unwrap_or_else(|p| p.into_inner())
                            .clone();
                        let mut opened = None;
                        let mut first_error = None;
                        for (label, public) in keys.all() {
                            let dh = |enc: &[u8]| {
                                self.provider.ecdh(label, enc).map_err(|e| {
                                    CryptoError::KeyAgreementFailed {
                                        reason: e.to_string(),
                                    }
                                })
                            };
                            match unwrap_key(&b, w, public, dh) {
                                Err(CryptoError::KeyAgreementFailed { reason }) => {
                                    // The HSM itself failed: not the owner's fault; retry
                                    // later.
                                    return Err(format!("key agreement failed: {reason}"));
                                }
                                Err(e) => {
                                    first_error.get_or_insert(e);
                                }
                                Ok(key) => {
                                    opened = Some(key);
                                    break;
                                }
                            }
                        }
                        match (opened, first_error) {
                            (Some(key), _) => match key.open(&b, &f.sealed) {
                                Err(e) => Some(format!("the sealed value does not open: {e}")),
                                Ok(_) => None,
                            },
                            (None, Some(e)) => Some(format!("the audit wrap does not open: {e}")),
                            (None, None) => Some("no key-agreement key to open it".to_string()),
                        }
                    }
                };
                if let Some(reason) = reason {
                    tracing::warn!(record = %rv.record, version = rv.version, field = %f.name, owner = %rv.owner, %reason, "audit check failed");
                    alerts.push(AuditAlert {
                        record: rv.record.clone(),
                        version: rv.version,
                        field: f.name.clone(),
                        owner: rv.owner.clone(),
                        reason,
                    });
                }
            }
        }
        Ok(alerts)
    }

    fn load_checked(&self) -> u64 {
        ledger_home::fsutil::read_height(&self.state_file)
    }

    fn save_checked(&self, h: u64) {
        if let Err(e) = ledger_home::fsutil::write_height(&self.state_file, h) {
            tracing::warn!(error = %e, "saving the audit watch position");
        }
    }
}

/// Runs the watch until `shutdown` turns true.
pub async fn run(a: Arc<Auditor>, mut shutdown: watch::Receiver<bool>) {
    let mut heights = a.ledger.subscribe();
    let mut checked = a.load_checked();
    tracing::info!(from = checked + 1, "audit watch started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        while checked < a.ledger.height() {
            let h = checked + 1;
            let aa = a.clone();
            let result = tokio::task::spawn_blocking(move || aa.check_block(h)).await;
            let alerts = match result {
                Ok(Ok(alerts)) => alerts,
                Ok(Err(e)) => {
                    tracing::warn!(height = h, error = %e, "audit check deferred");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit check task failed");
                    break;
                }
            };
            for alert in alerts {
                let (record, field) = (alert.record.clone(), alert.field.clone());
                match a.writer.submit(Payload::AuditAlert(alert)).await {
                    Ok(tx) => {
                        tracing::warn!(%record, %field, tx = %tx.hash(), "filed an audit alert")
                    }
                    Err(e) => {
                        tracing::warn!(%record, %field, error = %e, "filing an audit alert")
                    }
                }
            }
            checked = h;
            a.save_checked(h);
        }
        tokio::select! {
            r = heights.changed() => if r.is_err() { break },
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
        }
    }
}
