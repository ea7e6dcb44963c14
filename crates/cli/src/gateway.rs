//! Commands that go through the organisation's own node gateway: put a record from
//! plaintext, read it, grant, revoke, list grants. The gateway address and the client
//! credential come from the node home (`[gateway] listen`, `gateway-cli.token`) unless
//! given explicitly.

use ledger_home::out;
use std::path::PathBuf;

use clap::Args;
use ledger_api::v1 as pb;
use ledger_api::v1::gateway_client::GatewayClient;
use ledger_home::config::{NodeConfig, CLI_TOKEN_FILE};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use zeroize::Zeroizing;

use crate::client::CliError;

/// How to reach the gateway.
#[derive(Args, Clone)]
pub struct GatewayArgs {
    /// The node home: its config gives the gateway address and its gateway-cli.token the
    /// credential.
    #[arg(long, env = "LEDGER_HOME")]
    pub home: Option<PathBuf>,
    /// The gateway address (default: [gateway] listen of --home).
    #[arg(long, env = "LEDGER_GATEWAY")]
    pub gateway: Option<String>,
    /// File holding the client token (default: gateway-cli.token in --home).
    #[arg(long, env = "LEDGER_GATEWAY_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

/// A connected, authenticated gateway client.
pub struct Gateway {
    inner: GatewayClient<Channel>,
    bearer: MetadataValue<tonic::metadata::Ascii>,
}

impl GatewayArgs {
    /// Connects with the credential.
    pub async fn connect(&self) -> Result<Gateway, CliError> {
        let config = match &self.home {
            Some(h) => Some(NodeConfig::load(h).map_err(|e| CliError::Invalid(e.to_string()))?),
            None => None,
        };
        let url = match (&self.gateway, &config) {
            (Some(u), _) => u.clone(),
            (None, Some(c)) => match c.gateway.listen {
                Some(a) => format!("http://{a}"),
                None => {
                    return Err(CliError::Invalid(
                        "the node home configures no gateway ([gateway] listen)".into(),
                    ))
                }
            },
            (None, None) => {
                return Err(CliError::Invalid(
                    "give --home NODE_HOME (or --gateway URL and --token-file FILE)".into(),
                ))
            }
        };
        let token_path = match (&self.token_file, &self.home) {
            (Some(f), _) => f.clone(),
            (None, Some(h)) => h.join(CLI_TOKEN_FILE),
            (None, None) => {
                return Err(CliError::Invalid(
                    "give --token-file FILE with the gateway client token".into(),
                ))
            }
        };
        let token = Zeroizing::new(std::fs::read_to_string(&token_path).map_err(|e| {
            CliError::Invalid(format!(
                "reading the gateway token {}: {e}",
                token_path.display()
            ))
        })?);
        let bearer = format!("Bearer {}", token.trim())
            .parse()
            .map_err(|_| CliError::Invalid("the gateway token is not printable text".into()))?;
        let inner = GatewayClient::connect(url.clone())
            .await
            .map_err(|e| CliError::Connect {
                url,
                reason: e.to_string(),
            })?;
        Ok(Gateway { inner, bearer })
    }
}

impl Gateway {
    fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut()
            .insert(ledger_api::AUTHORIZATION_KEY, self.bearer.clone());
        r
    }

    /// Registers a schema.
    pub async fn register_schema(
        &mut self,
        msg: pb::GatewaySchemaRequest,
    ) -> Result<pb::WriteResponse, CliError> {
        let r = self.req(msg);
        Ok(self.inner.register_schema(r).await?.into_inner())
    }

    /// Files a cross-check.
    pub async fn cross_check(
        &mut self,
        msg: pb::CrossCheckRequest,
    ) -> Result<pb::WriteResponse, CliError> {
        let r = self.req(msg);
        Ok(self.inner.cross_check(r).await?.into_inner())
    }

    /// Asks an encrypted-analytics question.
    pub async fn ask_analytics(
        &mut self,
        msg: pb::AnalyticsAskRequest,
    ) -> Result<pb::WriteResponse, CliError> {
        let r = self.req(msg);
        Ok(self.inner.ask_analytics(r).await?.into_inner())
    }

    /// Requests financing of an invoice.
    pub async fn request_financing(
        &mut self,
        msg: pb::FinancingRequest,
    ) -> Result<pb::WriteResponse, CliError> {
        let r = self.req(msg);
        Ok(self.inner.request_financing(r).await?.into_inner())
    }

    /// Endorses a statement anonymously.
    pub async fn endorse(
        &mut self,
        msg: pb::EndorseRequest,
    ) -> Result<pb::EndorseResponse, CliError> {
        let r = self.req(msg);
        Ok(self.inner.endorse(r).await?.into_inner())
    }

    /// A regulator's sum of a committed field over records.
    pub async fn audit_sum(
        &mut self,
        msg: pb::AuditSumRequest,
    ) -> Result<pb::AuditSumResponse, CliError> {
        let r = self.req(msg);
        Ok(self.inner.audit_sum(r).await?.into_inner())
    }

    /// Puts a record from plaintext.
    pub async fn put(&mut self, msg: pb::GatewayPutRequest) -> Result<pb::WriteResponse, CliError> {
        let r = self.req(msg);
        Ok(self.inner.put_record(r).await?.into_inner())
    }

    /// Reads a record.
    pub async fn read(
        &mut self,
        msg: pb::ReadRecordRequest,
    ) -> Result<pb::ReadRecordResponse, CliError> {
        let r = self.req(msg);
        Ok(self.inner.read_record(r).await?.into_inner())
    }

    /// Grants access.
    pub async fn grant(&mut self, msg: pb::AccessRequest) -> Result<pb::WriteResponse, CliError> {
        let r = self.req(msg);
        Ok(self.inner.grant(r).await?.into_inner())
    }

    /// Revokes access.
    pub async fn revoke(&mut self, msg: pb::AccessRequest) -> Result<pb::WriteResponse, CliError> {
        let r = self.req(msg);
        Ok(self.inner.revoke(r).await?.into_inner())
    }

    /// A governance transaction.
    pub async fn govern(&mut self, msg: pb::GovernRequest) -> Result<pb::WriteResponse, CliError> {
        let r = self.req(msg);
        Ok(self.inner.govern(r).await?.into_inner())
    }

    /// Replaces one of the organisation's keys.
    pub async fn rotate_key(
        &mut self,
        msg: pb::RotateKeyRequest,
    ) -> Result<pb::RotateKeyResponse, CliError> {
        let r = self.req(msg);
        Ok(self.inner.rotate_key(r).await?.into_inner())
    }
}

/// Prints a write's outcome.
pub fn print_write(what: &str, w: &pb::WriteResponse) {
    let hash = hex::encode(&w.tx_hash);
    if w.committed {
        out!(
            "{what}: record {} version {} committed at height {} (tx {hash})",
            w.record_id,
            w.version,
            w.height
        );
    } else {
        out!(
            "{what}: record {} version {} submitted (tx {hash})",
            w.record_id,
            w.version
        );
    }
}

/// Prints a read.
pub fn print_read(r: &pb::ReadRecordResponse) {
    out!("record     {}", r.record_id);
    out!("version    {} (latest {})", r.version, r.latest_version);
    out!("owner      {}", r.owner);
    out!("schema     {} v{}", r.schema_id, r.schema_version);
    if r.audit_read {
        out!("audit      this read is recorded in the node's audit log");
    }
    for f in &r.fields {
        match pb::FieldAccess::try_from(f.access) {
            Ok(pb::FieldAccess::Readable) => out!("field      {} = {}", f.name, f.value),
            Ok(pb::FieldAccess::NotAuthorised) => {
                out!("field      {} : not authorised", f.name)
            }
            _ => out!("field      {} : UNREADABLE: {}", f.name, f.error),
        }
    }
}
