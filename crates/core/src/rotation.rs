//! Adopting rotated keys in a running node: once the member directory holds a key the
//! node staged (`ledger_home::rotation`), whether its own `RotateKey` or a governance vote
//! put it there, the node signs with the new signing key and opens wraps with the new
//! key-agreement key (keeping the former one for older wraps), without a restart.

use std::path::Path;
use std::sync::Arc;

use ledger_home::config::NodeConfig;
use ledger_home::rotation::{self, AgreementCell, AgreementKeys};
use ledger_hsm::KeyProvider;
use ledger_types::KeyKind;
use tokio::sync::watch;

use crate::ledger::Ledger;
use crate::NodeError;

/// Adopts the staged keys the member directory now holds, in `home` and in this running
/// node. Returns the kinds adopted.
pub fn adopt_staged(
    ledger: &Ledger,
    home: &Path,
    provider: &Arc<dyn KeyProvider>,
    agreement: &AgreementCell,
) -> Result<Vec<KeyKind>, NodeError> {
    // One adoption at a time (the watch and the gateway's own rotation may both try).
    static ADOPTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ADOPTING.lock().unwrap_or_else(|p| p.into_inner());
    let me = ledger_state::member(ledger.store.as_ref(), &ledger.org)?
        .ok_or_else(|| NodeError::Fatal(format!("{} is not a member of this chain", ledger.org)))?;
    let mut config = NodeConfig::load(home)?;
    let adopted = rotation::adopt(
        home,
        &mut config,
        provider.as_ref(),
        ledger.chain_id.as_str(),
        &me,
    )?;
    if adopted.contains(&KeyKind::Signing) {
        let signer = ledger_hsm::ProviderSigner::new(provider.clone(), &config.keys.signing_label)
            .map_err(|e| NodeError::Fatal(e.to_string()))?;
        ledger.replace_signer(Arc::new(signer));
    }
    if adopted.contains(&KeyKind::Encryption) {
        let keys = AgreementKeys::load(&config, provider.as_ref())?;
        *agreement.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
    }
    for k in &adopted {
        tracing::info!(
            kind = k.name(),
            "adopted the rotated key the ledger now holds"
        );
    }
    Ok(adopted)
}

/// Watches the organisation's key history as blocks commit and adopts staged keys as soon
/// as the ledger holds them (a rotation governance carried out while the node runs).
pub async fn watch(
    ledger: Arc<Ledger>,
    home: std::path::PathBuf,
    provider: Arc<dyn KeyProvider>,
    agreement: AgreementCell,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut heights = ledger.subscribe();
    let rotations = |l: &Ledger| {
        ledger_state::key_history(l.store.as_ref(), &l.org)
            .map(|h| h.len())
            .unwrap_or(0)
    };
    let mut seen = rotations(&ledger);
    loop {
        tokio::select! {
            changed = heights.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
        let now = rotations(&ledger);
        if now == seen {
            continue;
        }
        seen = now;
        let (l, h, p, a) = (
            ledger.clone(),
            home.clone(),
            provider.clone(),
            agreement.clone(),
        );
        match tokio::task::spawn_blocking(move || adopt_staged(&l, &h, &p, &a)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "adopting a rotated key failed; it is retried at the next start")
            }
            Err(e) => tracing::warn!(error = %e, "adopting a rotated key failed"),
        }
    }
}
