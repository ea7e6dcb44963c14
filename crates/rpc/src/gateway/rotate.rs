//! `RotateKey`: the organisation replaces one of its keys through its own node. The new
//! key is staged in the node home (`ledger_home::rotation`), the rotation is signed with
//! the current signing key and committed, and the node adopts the key the ledger now
//! holds: from then on it signs with the new signing key, wraps to and opens with the new
//! encryption key (older wraps still open with the former one), and reads audit sums of
//! each epoch with that epoch's secret.

use ledger_api::v1 as pb;
use ledger_home::config::NodeConfig;
use ledger_home::rotation;
use ledger_types::{KeyKind, Payload, RotationRequest};
use tonic::{Request, Response, Status};

use super::{Gateway, GatewayService};
use crate::status::write_status;

fn home_status(e: ledger_home::HomeError) -> Status {
    Status::failed_precondition(e.to_string())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(e.to_string()))?
}

impl Gateway {
    fn home(&self) -> Result<std::path::PathBuf, Status> {
        self.sealed.as_ref().map(|(h, _)| h.clone()).ok_or_else(|| {
            Status::failed_precondition(
                "this gateway was started without its node home; keys cannot rotate here",
            )
        })
    }

    /// Adopts the staged keys the member directory now holds, in the home and in this
    /// running node. Returns the kinds adopted.
    fn adopt_staged(&self) -> Result<Vec<KeyKind>, Status> {
        let home = self.home()?;
        ledger_core::rotation::adopt_staged(&self.ledger, &home, &self.provider, &self.agreement)
            .map_err(|e| Status::failed_precondition(e.to_string()))
    }
}

impl GatewayService {
    pub(super) async fn rotate(
        &self,
        request: Request<pb::RotateKeyRequest>,
    ) -> Result<Response<pb::RotateKeyResponse>, Status> {
        let client = self.0.client(&request)?;
        let req = request.into_inner();
        let kind = KeyKind::from_name(&req.kind).ok_or_else(|| {
            Status::invalid_argument(format!(
                "{:?} is not a key kind (signing, encryption, audit, ring)",
                req.kind
            ))
        })?;
        let mut resp = pb::RotateKeyResponse {
            kind: kind.name().to_string(),
            ..Default::default()
        };
        if !req.adopt {
            let g = self.0.clone();
            let staged = blocking(move || {
                let home = g.home()?;
                let mut config = NodeConfig::load(&home).map_err(home_status)?;
                rotation::stage(
                    &home,
                    &mut config,
                    g.provider.as_ref(),
                    g.ledger.chain_id.as_str(),
                    kind,
                )
                .map_err(home_status)
            })
            .await?;
            resp.new_key = staged.key.clone();
            if req.request_only {
                resp.request = RotationRequest {
                    org: self.0.ledger.org.clone(),
                    rotation: staged,
                }
                .encode();
                tracing::info!(%client, kind = kind.name(), "rotation request written for governance");
                return Ok(Response::new(resp));
            }
            let tx = self
                .0
                .writer
                .submit(Payload::RotateKey(staged))
                .await
                .map_err(|e| write_status(&e))?;
            tracing::info!(%client, kind = kind.name(), tx = %tx.hash(), "key rotation submitted");
            let height = self
                .0
                .writer
                .wait_committed(&tx.hash())
                .await
                .map_err(|e| write_status(&e))?;
            resp.write = Some(pb::WriteResponse {
                tx_hash: tx.hash().0.to_vec(),
                height,
                committed: true,
                ..Default::default()
            });
        }
        let g = self.0.clone();
        // Adopted here, or already by the node's watch of its key history: either way
        // nothing of this kind is staged any more.
        let only_adopt = req.adopt;
        let adopted = blocking(move || {
            let adopted = g.adopt_staged()?;
            if adopted.contains(&kind) || only_adopt {
                return Ok(adopted.contains(&kind));
            }
            let home = g.home()?;
            let config = NodeConfig::load(&home).map_err(home_status)?;
            Ok(!rotation::is_staged(&home, &config, kind))
        })
        .await?;
        resp.adopted = adopted;
        if req.adopt && !resp.adopted {
            return Err(Status::failed_precondition(format!(
                "no staged {} key that the ledger holds: stage one (`ledger rotate-key --kind {} --request-only`) and have governance carry it out first",
                kind.name(),
                kind.name()
            )));
        }
        if resp.new_key.is_empty() {
            let me = ledger_state::member(self.0.ledger.store.as_ref(), &self.0.ledger.org)
                .map_err(|e| Status::unavailable(e.to_string()))?
                .ok_or_else(|| Status::failed_precondition("this organisation is not a member"))?;
            resp.new_key = match kind {
                KeyKind::Signing => {
                    let mut e = ledger_types::codec::Encoder::new();
                    me.signing_key.encode(&mut e);
                    e.finish()
                }
                KeyKind::Encryption => me.encryption_key,
                KeyKind::Audit => me.audit_key,
                KeyKind::Ring => me.ring_key,
            };
        }
        Ok(Response::new(resp))
    }
}
