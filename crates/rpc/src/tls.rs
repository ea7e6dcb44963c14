//! The ledger as the directory of mutual TLS: which organisations may connect, and with
//! which signing key, read from committed state at each handshake and request.

use std::sync::Arc;

use ledger_state::{member, standing, Standing};
use ledger_store::Store;
use ledger_tls::Directory;
use ledger_types::{OrgId, PublicKey};

/// Members in good standing, with the signing key the ledger holds for them now. A node
/// also admits its own organisation whatever its standing (its operators still read
/// their own node while the consortium suspends them), with its current key only.
pub struct StoreDirectory {
    /// The node's committed state.
    pub store: Arc<Store>,
    /// The node's own organisation.
    pub own: OrgId,
}

impl Directory for StoreDirectory {
    fn admit(&self, org: &OrgId) -> Result<PublicKey, String> {
        let store = self.store.as_ref();
        let m = member(store, org)
            .map_err(|e| format!("reading the member directory: {e}"))?
            .ok_or_else(|| {
                let height = store.height().unwrap_or(0);
                format!("{org} is not a member of this chain (as of height {height})")
            })?;
        if org == &self.own {
            return Ok(m.signing_key);
        }
        match standing(store, org).map_err(|e| format!("reading {org}'s standing: {e}"))? {
            Standing::Good => Ok(m.signing_key),
            Standing::Suspended(p, h) => {
                Err(format!("{org} is suspended (proposal {p}, height {h})"))
            }
            Standing::Removed(p, h) => Err(format!(
                "{org} was removed from the consortium (proposal {p}, height {h})"
            )),
        }
    }
}
