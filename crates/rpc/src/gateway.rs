//! The organisation-private gateway: plaintext in, sealed records out, and back.
//!
//! Every call must present a registered client's bearer token. Writes are sealed,
//! wrapped to their readers' registered encryption keys and proved by the plans of
//! `ledger_builder`, then signed with the organisation's key and submitted; reads unwrap
//! field keys through the key provider's ECDH (inside the HSM) and decrypt. Reads a
//! regulator makes under a schema's audit policy are appended to the node's audit log
//! before the plaintext is returned.
//!
//! This module is the transport only: each call authenticates the client, converts the
//! request ([`convert`]), runs its plan on a blocking thread, submits what it built through
//! the [`TxWriter`] and, unless told not to, waits for the block.

mod convert;
mod resources;
mod rotate;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ledger_api::v1 as pb;
use ledger_api::v1::gateway_server::Gateway as GatewayApi;
use ledger_builder::{AgreementKey, BuildError, Builder, WriteSubject};
use ledger_circuits::{CircuitId, ProvingKey};
use ledger_core::writer::TxWriter;
use ledger_core::Ledger;
use ledger_home::audit_log::AuditLog;
use ledger_home::gateway_auth::GatewayClients;
use ledger_hsm::KeyProvider;
use ledger_store::Store;
use ledger_types::{OrgId, Payload};
use tonic::{Request, Response, Status};

use crate::status::{build_status, submit_status, write_status};
use resources::ClientAudit;

/// The gateway service.
pub struct Gateway {
    ledger: Arc<Ledger>,
    provider: Arc<dyn KeyProvider>,
    /// The organisation's key-agreement keys (replaced in place by a rotation).
    agreement: ledger_home::rotation::AgreementCell,
    clients: GatewayClients,
    audit: Arc<Mutex<AuditLog>>,
    writer: Arc<TxWriter>,
    /// The node home and sealing-key label, to unseal the audit key (regulators) and the
    /// ring key (members).
    sealed: Option<(std::path::PathBuf, String)>,
    /// Where proving keys live (`<home>/circuits`), and those loaded.
    circuits_dir: Option<std::path::PathBuf>,
    provers: Mutex<BTreeMap<CircuitId, Arc<ProvingKey>>>,
    /// Audit sums being computed (each builds a table of up to 2^22 points).
    audit_sums: CallLimit,
}

/// At most a fixed number of calls of one kind at once; past it, calls are refused with a
/// clear status instead of queueing work and memory without bound.
pub struct CallLimit {
    permits: Arc<tokio::sync::Semaphore>,
    most: usize,
    what: &'static str,
    setting: &'static str,
}

impl CallLimit {
    /// At most `most` calls of `what` at once (`setting` names the configuration value).
    pub fn new(most: usize, what: &'static str, setting: &'static str) -> Self {
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(most)),
            most,
            what,
            setting,
        }
    }

    /// A permit for one call, held until it is dropped; refused when `most` are running.
    pub fn enter(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        self.permits.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "{} {} already running on this node, the most it computes at once ({}); retry when one ends",
                self.most, self.what, self.setting
            ))
        })
    }
}

impl Gateway {
    /// A gateway for the ledger's organisation.
    pub fn new(
        ledger: Arc<Ledger>,
        provider: Arc<dyn KeyProvider>,
        agreement: ledger_home::rotation::AgreementCell,
        clients: GatewayClients,
        audit: Arc<Mutex<AuditLog>>,
        writer: Arc<TxWriter>,
    ) -> Self {
        Self {
            ledger,
            provider,
            agreement,
            clients,
            audit,
            writer,
            sealed: None,
            circuits_dir: None,
            provers: Mutex::new(BTreeMap::new()),
            audit_sums: CallLimit::new(1, "audit sums are", "[gateway] max_concurrent_audit_sums"),
        }
    }

    /// Computes at most `most` audit sums at once.
    pub fn with_max_concurrent_audit_sums(mut self, most: usize) -> Self {
        self.audit_sums = CallLimit::new(
            most,
            "audit sums are",
            "[gateway] max_concurrent_audit_sums",
        );
        self
    }

    /// Lets the gateway unseal the secrets sealed in `home` with `sealing_label`: the
    /// regulator's audit key for sum queries, the member's ring key for endorsements.
    pub fn with_sealed_keys(mut self, home: std::path::PathBuf, sealing_label: String) -> Self {
        self.circuits_dir = Some(home.join("circuits"));
        self.sealed = Some((home, sealing_label));
        self
    }

    /// The builder of this organisation's writes and reads, over the committed state.
    fn builder<'a>(&'a self, keys: &'a ledger_home::rotation::AgreementKeys) -> Builder<'a, Store> {
        Builder::new(
            self.ledger.store.as_ref(),
            &self.ledger.chain_id,
            &self.ledger.org,
            AgreementKey {
                provider: self.provider.as_ref(),
                label: &keys.current.0,
                public: &keys.current.1,
                former: &keys.former,
            },
        )
    }

    /// The organisation's key-agreement keys as of now.
    fn agreement(&self) -> Arc<ledger_home::rotation::AgreementKeys> {
        self.agreement
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The organisation's audit log (every entry, checked), for a client of this gateway.
    pub fn audit_entries<T>(
        &self,
        request: &Request<T>,
    ) -> Result<
        (
            Vec<ledger_home::audit_log::AuditEntry>,
            ledger_home::audit_log::Verified,
        ),
        Status,
    > {
        self.client(request)?;
        self.audit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries()
            .map_err(|e| Status::internal(e.to_string()))
    }

    /// The organisation this gateway writes for and the name of the calling client.
    pub fn whoami<T>(&self, request: &Request<T>) -> Result<(OrgId, String), Status> {
        Ok((self.ledger.org.clone(), self.client(request)?))
    }

    /// The calling client's name, from its bearer token.
    fn client<T>(&self, request: &Request<T>) -> Result<String, Status> {
        let header = request
            .metadata()
            .get(ledger_api::AUTHORIZATION_KEY)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Status::unauthenticated(
                    "the gateway needs a client credential: authorization: Bearer <token>",
                )
            })?;
        let token = header.strip_prefix("Bearer ").unwrap_or(header).trim();
        match self.clients.authenticate(token) {
            Some(c) => Ok(c.name.clone()),
            None => {
                tracing::warn!("gateway call with an unknown credential refused");
                Err(Status::unauthenticated("unknown gateway credential"))
            }
        }
    }
}

/// Runs a plan (HSM calls, proofs) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BuildError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(build_status)
}

/// The shared gateway, cloneable into blocking tasks.
#[derive(Clone)]
pub struct GatewayService(pub Arc<Gateway>);

impl GatewayService {
    /// One write: authenticate, build the payload with `plan` on a blocking thread, sign
    /// and submit it, and wait for its block unless `no_wait` says not to.
    async fn write<T: Send + 'static>(
        &self,
        request: Request<T>,
        what: &'static str,
        no_wait: fn(&T) -> bool,
        plan: impl FnOnce(&Gateway, &T) -> Result<Payload, BuildError> + Send + 'static,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let client = self.0.client(&request)?;
        let req = request.into_inner();
        let no_wait = no_wait(&req);
        let g = self.0.clone();
        let payload = blocking(move || plan(&g, &req)).await?;
        let subject = WriteSubject::of(&payload)
            .ok_or_else(|| Status::internal("a gateway plan built a payload it cannot write"))?;
        let tx = self
            .0
            .writer
            .submit(payload)
            .await
            .map_err(|e| write_status(&e))?;
        tracing::info!(
            %client,
            record = subject.record.as_ref().map(|r| r.as_str()).unwrap_or(""),
            version = subject.version,
            tx = %tx.hash(),
            "{what}"
        );
        let mut resp = convert::write_response(&tx, &subject);
        if !no_wait {
            resp.height = self
                .0
                .writer
                .wait_committed(&tx.hash())
                .await
                .map_err(|e| write_status(&e))?;
            resp.committed = true;
        }
        Ok(Response::new(resp))
    }
}

#[tonic::async_trait]
impl GatewayApi for GatewayService {
    async fn rotate_key(
        &self,
        request: Request<pb::RotateKeyRequest>,
    ) -> Result<Response<pb::RotateKeyResponse>, Status> {
        self.rotate(request).await
    }

    async fn govern(
        &self,
        request: Request<pb::GovernRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let named = match &request.get_ref().request {
            Some(pb::govern_request::Request::Vote(v)) => v.proposal,
            Some(pb::govern_request::Request::Revoke(id)) => *id,
            _ => 0,
        };
        let mut resp = self
            .write(
                request,
                "gateway governance",
                |r| r.no_wait,
                |g, req| Ok(Payload::Govern(convert::govern(req, g.ledger.height())?)),
            )
            .await?;
        let r = resp.get_mut();
        r.proposal = named;
        if named == 0 && r.committed {
            // A new proposal: find its number by its transaction.
            let store = self.0.ledger.store.clone();
            let hash =
                ledger_types::Hash::from_slice(&r.tx_hash).unwrap_or(ledger_types::Hash([0; 32]));
            r.proposal = blocking(move || -> Result<u64, BuildError> {
                let next = ledger_state::next_proposal_id(store.as_ref())?;
                for id in (1..next).rev().take(1024) {
                    if let Some(p) = ledger_state::proposal(store.as_ref(), id)? {
                        if p.tx_hash == hash {
                            return Ok(id);
                        }
                    }
                }
                Ok(0)
            })
            .await?;
        }
        Ok(resp)
    }

    async fn register_schema(
        &self,
        request: Request<pb::GatewaySchemaRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        self.write(
            request,
            "gateway schema registration",
            |r| r.no_wait,
            |g, req| {
                let input = convert::schema_input(req)?;
                Ok(Payload::RegisterSchema(
                    g.builder(&g.agreement()).register_schema(&input)?,
                ))
            },
        )
        .await
    }

    async fn put_record(
        &self,
        request: Request<pb::GatewayPutRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        self.write(
            request,
            "gateway put",
            |r| r.no_wait,
            |g, req| {
                let input = convert::put_input(req)?;
                Ok(Payload::PutRecord(
                    g.builder(&g.agreement()).put(&input, g)?,
                ))
            },
        )
        .await
    }

    async fn ask_analytics(
        &self,
        request: Request<pb::AnalyticsAskRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        self.write(
            request,
            "gateway analytics question",
            |r| r.no_wait,
            |_g, req| {
                let subject = OrgId::new(req.subject.clone())
                    .map_err(|e| BuildError::BadQuestion(format!("subject: {e}")))?;
                let question = match req.question.as_str() {
                    "exposure" => ledger_types::Question::Exposure { limit: req.limit },
                    "field-total" => ledger_types::Question::FieldTotal {
                        schema: ledger_types::SchemaId::new(req.schema.clone())
                            .map_err(|e| BuildError::BadQuestion(format!("schema: {e}")))?,
                        field: ledger_types::FieldName::new(req.field.clone())
                            .map_err(|e| BuildError::BadQuestion(format!("field: {e}")))?,
                        limit: req.limit,
                    },
                    "concentration" => {
                        let share_percent = u8::try_from(req.share_percent)
                            .ok()
                            .filter(|s| (1..=99).contains(s))
                            .ok_or_else(|| {
                                BuildError::BadQuestion(format!(
                                    "a concentration share is 1 to 99 percent, not {}",
                                    req.share_percent
                                ))
                            })?;
                        ledger_types::Question::Concentration { share_percent }
                    }
                    other => {
                        return Err(BuildError::BadQuestion(format!(
                            "unknown question {other:?}: \"exposure\" (with a limit), \"concentration\" (with a share) or \"field-total\" (with a schema, a field and a limit)"
                        )))
                    }
                };
                Ok(Payload::Analytics(ledger_types::Analytics::Ask {
                    subject,
                    question,
                }))
            },
        )
        .await
    }

    async fn request_financing(
        &self,
        request: Request<pb::FinancingRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        self.write(
            request,
            "gateway financing request",
            |r| r.no_wait,
            |g, req| {
                let input = convert::financing_input(req)?;
                Ok(Payload::FinanceRequest(
                    g.builder(&g.agreement()).request_financing(&input, g)?,
                ))
            },
        )
        .await
    }

    async fn grant(
        &self,
        request: Request<pb::AccessRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        self.write(
            request,
            "gateway grant",
            |r| r.no_wait,
            |g, req| {
                let input = convert::access_input(req)?;
                Ok(Payload::GrantAccess(
                    g.builder(&g.agreement()).grant(&input)?,
                ))
            },
        )
        .await
    }

    async fn revoke(
        &self,
        request: Request<pb::AccessRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        self.write(
            request,
            "gateway revoke",
            |r| r.no_wait,
            |g, req| {
                let input = convert::access_input(req)?;
                Ok(Payload::RevokeAccess(
                    g.builder(&g.agreement()).revoke(&input, g)?,
                ))
            },
        )
        .await
    }

    async fn cross_check(
        &self,
        request: Request<pb::CrossCheckRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        self.write(
            request,
            "gateway cross-check",
            |r| r.no_wait,
            |g, req| {
                let input = convert::cross_check_input(req)?;
                Ok(Payload::CrossCheck(
                    g.builder(&g.agreement()).cross_check(&input, g)?,
                ))
            },
        )
        .await
    }

    async fn endorse(
        &self,
        request: Request<pb::EndorseRequest>,
    ) -> Result<Response<pb::EndorseResponse>, Status> {
        let client = self.0.client(&request)?;
        let req = request.into_inner();
        let g = self.0.clone();
        let (no_wait, sign_only) = (req.no_wait, req.sign_only);
        let signed = blocking(move || {
            let input = convert::endorse_input(&req)?;
            g.builder(&g.agreement())
                .endorse(&input, g.ledger.height(), &*g)
        })
        .await?;
        let tx = &signed.tx;
        let mut resp = convert::endorse_response(&signed);
        if sign_only {
            tracing::info!(%client, tx = %tx.hash(), "gateway endorsement signed, not submitted");
            return Ok(Response::new(resp));
        }
        self.0
            .ledger
            .submit_tx(tx.bytes().to_vec())
            .await
            .map_err(|e| submit_status(&e))?;
        // The organisation's own log may say who endorsed; the ledger never learns it.
        tracing::info!(%client, tx = %tx.hash(), "gateway endorsement");
        if !no_wait {
            resp.height = self
                .0
                .writer
                .wait_committed(&tx.hash())
                .await
                .map_err(|e| write_status(&e))?;
            resp.committed = true;
        }
        Ok(Response::new(resp))
    }

    async fn audit_sum(
        &self,
        request: Request<pb::AuditSumRequest>,
    ) -> Result<Response<pb::AuditSumResponse>, Status> {
        let client = self.0.client(&request)?;
        let permit = self.0.audit_sums.enter()?;
        let req = request.into_inner();
        let g = self.0.clone();
        blocking(move || {
            let _permit = permit;
            let input = convert::audit_sum_input(&req)?;
            let trail = ClientAudit {
                gateway: &g,
                client: &client,
            };
            let sum = g.builder(&g.agreement()).audit_sum(&input, &*g, &trail)?;
            tracing::info!(%client, field = %sum.field, records = sum.records.len(), "audit sum");
            Ok(Response::new(convert::audit_sum_response(sum)))
        })
        .await
    }

    async fn read_record(
        &self,
        request: Request<pb::ReadRecordRequest>,
    ) -> Result<Response<pb::ReadRecordResponse>, Status> {
        let client = self.0.client(&request)?;
        let req = request.into_inner();
        let g = self.0.clone();
        blocking(move || {
            let input = convert::read_input(&req)?;
            let trail = ClientAudit {
                gateway: &g,
                client: &client,
            };
            let read = g.builder(&g.agreement()).read(&input, &trail)?;
            tracing::info!(
                %client,
                record = %read.record,
                version = read.version,
                audit_read = read.audit_read,
                "gateway read"
            );
            Ok(Response::new(convert::read_response(read)))
        })
        .await
    }

    async fn list_grants(
        &self,
        request: Request<pb::ListGrantsRequest>,
    ) -> Result<Response<pb::ListGrantsResponse>, Status> {
        self.0.client(&request)?;
        let req = request.into_inner();
        let g = self.0.clone();
        blocking(move || {
            let record = ledger_types::RecordId::new(req.record_id)?;
            let grants = g.builder(&g.agreement()).grants(&record)?;
            Ok(Response::new(convert::grants_response(grants)))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::CallLimit;

    #[test]
    fn calls_past_the_limit_are_refused_until_one_ends() {
        let limit = CallLimit::new(2, "audit sums are", "[gateway] max_concurrent_audit_sums");
        let a = limit.enter().unwrap();
        let _b = limit.enter().unwrap();
        let refused = limit.enter().unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused
                .message()
                .contains("2 audit sums are already running on this node"),
            "{}",
            refused.message()
        );
        assert!(refused
            .message()
            .contains("[gateway] max_concurrent_audit_sums"));
        drop(a);
        let _c = limit.enter().unwrap();
    }
}
