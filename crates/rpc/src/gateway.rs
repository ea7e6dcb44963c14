//! The organisation-private gateway: plaintext in, sealed records out, and back.
//!
//! Every call must present a registered client's bearer token. Writes are sealed here,
//! wrapped to their readers' registered encryption keys, signed with the organisation's
//! key and submitted; reads unwrap field keys through the key provider's ECDH (inside the
//! HSM) and decrypt here. Reads a regulator makes under a schema's audit policy are
//! appended to the node's audit log before the plaintext is returned.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ledger_api::v1 as pb;
use ledger_api::v1::gateway_server::Gateway as GatewayApi;
use ledger_circuits::{CircuitId, Document, ProvingKey};
use ledger_crypto::record::{binding, seal_record, unwrap_key, wrap_one, FieldToSeal, Reader};
use ledger_crypto::CryptoError;
use ledger_home::audit_log::{AuditLog, AuditRead};
use ledger_home::gateway_auth::GatewayClients;
use ledger_home::sealed::SealedKey;
use ledger_hsm::KeyProvider;
use ledger_proofs::{AuditKey, Opening};
use ledger_state::{
    access_history, member, record_head, record_version, schema_head, schema_version, RecordVersion,
};
use ledger_types::Relation;
use ledger_types::{
    FieldCommitment, FieldName, FieldType, GrantAccess, OrgId, Payload, RecordId, RecordRangeProof,
    RegisterSchema, RevokeAccess, Role, SchemaField, SchemaId, DOCUMENT_FIELD,
};
use tonic::{Request, Response, Status};
use zeroize::Zeroizing;

use ledger_core::writer::TxWriter;
use ledger_core::Ledger;

use crate::service::access_event;
use crate::status::{submit_status, write_status};

/// The gateway service.
pub struct Gateway {
    ledger: Arc<Ledger>,
    provider: Arc<dyn KeyProvider>,
    agreement_label: String,
    my_key: Vec<u8>,
    clients: GatewayClients,
    audit: Arc<Mutex<AuditLog>>,
    writer: Arc<TxWriter>,
    /// The node home and sealing-key label, to unseal the audit key (regulators) and the
    /// ring key (members).
    sealed: Option<(std::path::PathBuf, String)>,
    /// Where proving keys live (`<home>/circuits`), and those loaded.
    circuits_dir: Option<std::path::PathBuf>,
    provers: Mutex<BTreeMap<CircuitId, Arc<ProvingKey>>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn invalid(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(e.to_string())
}

fn storage(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "gateway request failed on the node side");
    Status::unavailable(format!("node storage error: {e}"))
}

/// A field of a record as this organisation sees it.
struct Opened {
    name: FieldName,
    ty: String,
    outcome: Result<Zeroizing<String>, (pb::FieldAccess, String)>,
}

impl Gateway {
    /// A gateway for the ledger's organisation.
    pub fn new(
        ledger: Arc<Ledger>,
        provider: Arc<dyn KeyProvider>,
        agreement_label: String,
        my_key: Vec<u8>,
        clients: GatewayClients,
        audit: Arc<Mutex<AuditLog>>,
        writer: Arc<TxWriter>,
    ) -> Self {
        Self {
            ledger,
            provider,
            agreement_label,
            my_key,
            clients,
            audit,
            writer,
            sealed: None,
            circuits_dir: None,
            provers: Mutex::new(BTreeMap::new()),
        }
    }

    /// Lets the gateway unseal the secrets sealed in `home` with `sealing_label`: the
    /// regulator's audit key for sum queries, the member's ring key for endorsements.
    pub fn with_sealed_keys(mut self, home: std::path::PathBuf, sealing_label: String) -> Self {
        self.circuits_dir = Some(home.join("circuits"));
        self.sealed = Some((home, sealing_label));
        self
    }

    /// Where this organisation's sealed `K` is, once it is known to hold one: registered
    /// on the chain, and the gateway started with the node home.
    fn sealed_home<K: SealedKey>(&self) -> Result<&(std::path::PathBuf, String), Status> {
        let me = member(self.ledger.store.as_ref(), self.org())
            .map_err(storage)?
            .ok_or_else(|| Status::internal("this node's organisation is not a member"))?;
        if !me.has_role(K::ROLE) || K::registered(&me).is_empty() {
            return Err(Status::permission_denied(format!(
                "{} has no {} registered: only {}s hold one",
                self.org(),
                K::WHAT,
                K::ROLE.name()
            )));
        }
        self.sealed.as_ref().ok_or_else(|| {
            Status::failed_precondition(format!(
                "this gateway was started without access to the sealed {}",
                K::WHAT
            ))
        })
    }

    /// Unseals this organisation's `K` for one operation (wiped when dropped). Blocking.
    fn unseal<K: SealedKey>(&self) -> Result<K, Status> {
        let (home, label) = self.sealed_home::<K>()?;
        ledger_home::sealed::load::<K>(
            home,
            self.provider.as_ref(),
            label,
            self.ledger.chain_id.as_str(),
            self.org().as_str(),
        )
        .map_err(|e| Status::failed_precondition(e.to_string()))
    }

    /// Signs an anonymous endorsement with the organisation's ring key, unsealed for this
    /// signature only, over the member ring of the last committed height. Blocking.
    fn prepare_endorsement(
        &self,
        req: &pb::EndorseRequest,
    ) -> Result<(ledger_types::Transaction, pb::EndorseResponse), Status> {
        let topic = ledger_types::Topic::new(req.topic.clone()).map_err(invalid)?;
        let statement: [u8; 32] = if req.statement_hash.is_empty() {
            if req.statement.is_empty() {
                return Err(invalid("give a statement (text) or a statement hash"));
            }
            ledger_types::Endorse::statement_hash(&req.statement)
        } else {
            req.statement_hash.as_slice().try_into().map_err(|_| {
                invalid(format!(
                    "a statement hash is 32 bytes, got {}",
                    req.statement_hash.len()
                ))
            })?
        };
        let store = self.ledger.store.as_ref();
        // The ring in force now, named by the height it was fixed at: the same keys as at
        // this height, and a height every node has committed, wherever the bytes go.
        let ring = ledger_state::member_ring(store, self.ledger.height())
            .map_err(storage)?
            .ok_or_else(|| Status::failed_precondition("this chain has no member ring"))?;
        let ring_height = ring.since;
        let ring_size = ring.keys.len() as u32;
        let secret = self.unseal::<ledger_crypto::ring::RingSecret>()?;
        let tx = ledger_state::sign_endorsement(
            &self.ledger.chain_id,
            &ring.keys,
            ring_height,
            &topic,
            statement,
            &secret,
        )
        .map_err(|e| Status::failed_precondition(e.to_string()))?;
        drop(secret);
        let key_image = match &tx.body().payload {
            Payload::Endorse(e) => e.key_image().map(|k| k.to_vec()).unwrap_or_default(),
            _ => vec![],
        };
        let resp = pb::EndorseResponse {
            tx_hash: tx.hash().0.to_vec(),
            statement_hash: statement.to_vec(),
            key_image,
            ring_height,
            ring_size,
            height: 0,
            committed: false,
            tx: tx.bytes().to_vec(),
        };
        Ok((tx, resp))
    }

    /// The proving key of `id` that matches this chain's verifying key: loaded from
    /// `<home>/circuits/<name>.pk`, or, on a chain using the development keys, generated
    /// from the public development seed and saved there on first use. Blocking.
    fn proving_key(&self, id: CircuitId) -> Result<Arc<ProvingKey>, Status> {
        if let Some(pk) = self
            .provers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return Ok(pk.clone());
        }
        let chain_vk = ledger_state::circuit_key(self.ledger.store.as_ref(), id)
            .map_err(storage)?
            .ok_or_else(|| {
                Status::failed_precondition(format!(
                    "this chain registered no verifying key for circuit {} in genesis",
                    id.name()
                ))
            })?;
        let dir = self
            .circuits_dir
            .clone()
            .ok_or_else(|| Status::failed_precondition("this gateway has no circuits folder"))?;
        let path = dir.join(format!("{}.pk", id.name()));
        let pk = match std::fs::read(&path) {
            Ok(bytes) => ProvingKey::from_bytes_trusted(id, &bytes)
                .map_err(|e| Status::failed_precondition(format!("{}: {e}", path.display())))?,
            Err(_) => {
                let dev = ledger_circuits::dev_verifying_key(id)
                    .map_err(|e| Status::internal(e.to_string()))?;
                if dev.to_bytes() != chain_vk.to_bytes() {
                    return Err(Status::failed_precondition(format!(
                        "no proving key for circuit {} in {}: install the one from this chain's setup ceremony (verifying key {})",
                        id.name(),
                        path.display(),
                        chain_vk.fingerprint()
                    )));
                }
                tracing::warn!(circuit = id.name(), "generating the development proving key (public seed: for tests and demos only)");
                let (pk, _) =
                    ledger_circuits::dev_keys(id).map_err(|e| Status::internal(e.to_string()))?;
                let bytes = pk.to_bytes().map_err(|e| Status::internal(e.to_string()))?;
                std::fs::create_dir_all(&dir).map_err(|e| Status::internal(e.to_string()))?;
                ledger_home::fsutil::write_file(&path, &bytes, 0o644)
                    .map_err(|e| Status::internal(e.to_string()))?;
                pk
            }
        };
        let vk = pk
            .verifying_key()
            .map_err(|e| Status::internal(e.to_string()))?;
        if vk.to_bytes() != chain_vk.to_bytes() {
            return Err(Status::failed_precondition(format!(
                "the proving key in {} does not match this chain's verifying key for circuit {} ({})",
                path.display(),
                id.name(),
                chain_vk.fingerprint()
            )));
        }
        let pk = Arc::new(pk);
        self.provers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, pk.clone());
        Ok(pk)
    }

    /// Decrypts a document record's `document` field and checks it against the record's
    /// document commitment. Blocking.
    fn open_document(
        &self,
        rv: &RecordVersion,
        schema: &RegisterSchema,
    ) -> Result<Document, Status> {
        let id = &rv.record;
        let field = FieldName::new(DOCUMENT_FIELD).map_err(invalid)?;
        if schema.document.is_none() {
            return Err(Status::failed_precondition(format!(
                "record {id} follows schema {}, which is not a document schema",
                schema.schema
            )));
        }
        let wrap = rv.wrap(&field, self.org()).ok_or_else(|| {
            Status::permission_denied(format!(
                "{} holds no key for the document of record {id}",
                self.org()
            ))
        })?;
        let b = binding(&self.ledger.chain_id, id, rv.version, &field, schema);
        let key = unwrap_key(&b, wrap, &self.my_key, self.dh())
            .map_err(|e| Status::failed_precondition(format!("record {id}: {e}")))?;
        let sealed = rv
            .field(&field)
            .ok_or_else(|| Status::not_found(format!("record {id} has no document")))?;
        let plain = key
            .open(&b, &sealed.sealed)
            .map_err(|e| Status::failed_precondition(format!("record {id}: {e}")))?;
        let doc = Document::from_bytes(&plain)
            .map_err(|e| Status::failed_precondition(format!("record {id}: {e}")))?;
        if Some(doc.commitment_bytes()) != rv.document_commitment {
            return Err(Status::failed_precondition(format!(
                "record {id} v{}: the sealed document does not match its commitment",
                rv.version
            )));
        }
        Ok(doc)
    }

    /// An invoice check (`invoice` or `invoice-linked`): opens the documents, proves.
    fn prepare_invoice_check(
        &self,
        relation: Relation,
        req: &pb::CrossCheckRequest,
    ) -> Result<ledger_types::CrossCheck, Status> {
        let mut docs = Vec::new();
        let mut operands = Vec::new();
        for o in &req.operands {
            let id = RecordId::new(o.record_id.clone()).map_err(invalid)?;
            let (rv, schema) = if o.version == 0 {
                self.latest(&id)?
            } else {
                self.version(&id, o.version)?
            };
            docs.push(self.open_document(&rv, &schema)?);
            operands.push(ledger_types::Operand {
                record: id,
                version: rv.version,
                field: FieldName::new(DOCUMENT_FIELD).map_err(invalid)?,
            });
        }
        let unsatisfied = |e: ledger_circuits::CircuitError| {
            Status::failed_precondition(format!("the documents do not satisfy the check: {e}"))
        };
        let proof = match relation {
            Relation::Invoice => {
                let pk = self.proving_key(CircuitId::Invoice)?;
                ledger_circuits::prove_invoice(&pk, &docs[0])
                    .map_err(unsatisfied)?
                    .0
            }
            _ => {
                let pk = self.proving_key(CircuitId::InvoiceLinked)?;
                ledger_circuits::prove_linked_invoice(&pk, &docs[0], &docs[1], &docs[2])
                    .map_err(unsatisfied)?
                    .0
            }
        };
        Ok(ledger_types::CrossCheck {
            relation,
            operands,
            proof,
        })
    }

    /// A financing request for an invoice this organisation can read. Blocking.
    fn prepare_financing(
        &self,
        req: &pb::FinancingRequest,
    ) -> Result<ledger_types::FinanceRequest, Status> {
        let id = RecordId::new(req.invoice_id.clone()).map_err(invalid)?;
        let (rv, schema) = if req.version == 0 {
            self.latest(&id)?
        } else {
            self.version(&id, req.version)?
        };
        if schema.document != Some(ledger_types::DocumentKind::Invoice) {
            return Err(Status::failed_precondition(format!(
                "record {id} is not an invoice (schema {})",
                schema.schema
            )));
        }
        let doc = self.open_document(&rv, &schema)?;
        let binding = ledger_circuits::finance_binding(
            self.ledger.chain_id.as_str(),
            self.org().as_str(),
            id.as_str(),
            rv.version,
        );
        let pk = self.proving_key(CircuitId::Finance)?;
        let (proof, public) = ledger_circuits::prove_finance(&pk, &doc, binding)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(ledger_types::FinanceRequest {
            invoice: id,
            version: rv.version,
            nullifier: ledger_circuits::fr_to_bytes(&public[1]),
            proof,
        })
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

    fn org(&self) -> &OrgId {
        &self.ledger.org
    }

    fn schema(&self, id: &SchemaId, version: Option<u32>) -> Result<RegisterSchema, Status> {
        let store = self.ledger.store.as_ref();
        let head = schema_head(store, id)
            .map_err(storage)?
            .ok_or_else(|| Status::not_found(format!("no schema {id}")))?;
        let v = version.unwrap_or(head.latest_version);
        schema_version(store, id, v)
            .map_err(storage)?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "schema {id} has no version {v}; the latest is {}",
                    head.latest_version
                ))
            })
    }

    fn reader(&self, org: &OrgId) -> Result<Reader, Status> {
        let m = member(self.ledger.store.as_ref(), org)
            .map_err(storage)?
            .ok_or_else(|| Status::not_found(format!("{org} is not a member of this chain")))?;
        if m.encryption_key.is_empty() {
            return Err(Status::failed_precondition(format!(
                "{org} has no encryption key in the member directory"
            )));
        }
        Ok(Reader {
            org: org.clone(),
            key: m.encryption_key,
        })
    }

    /// The schema's auditors that hold an audit key, with their keys.
    fn audit_keys(&self, schema: &RegisterSchema) -> Result<Vec<(OrgId, AuditKey)>, Status> {
        let mut out = Vec::new();
        for a in &schema.auditors {
            let Some(m) = member(self.ledger.store.as_ref(), a).map_err(storage)? else {
                continue;
            };
            if m.audit_key.is_empty() {
                continue;
            }
            let key = AuditKey::from_bytes(&m.audit_key).map_err(|e| {
                Status::failed_precondition(format!("the audit key of {a} is unusable: {e}"))
            })?;
            out.push((a.clone(), key));
        }
        Ok(out)
    }

    /// The regulator's sum query (see the AuditSum RPC). Blocking.
    fn audit_sum(
        &self,
        client: &str,
        req: &pb::AuditSumRequest,
    ) -> Result<pb::AuditSumResponse, Status> {
        self.sealed_home::<ledger_proofs::AuditSecret>()?;
        let field = FieldName::new(req.field.clone()).map_err(invalid)?;
        if req.records.is_empty() {
            return Err(Status::invalid_argument("name at least one record"));
        }
        let max_bits = req.max_bits.unwrap_or(32);
        if !(1..=44).contains(&max_bits) {
            return Err(Status::invalid_argument(format!(
                "max_bits is 1 to 44, got {max_bits}"
            )));
        }
        let mut commitments = Vec::with_capacity(req.records.len());
        let mut handles = Vec::with_capacity(req.records.len());
        let mut used = Vec::with_capacity(req.records.len());
        let mut reads = Vec::with_capacity(req.records.len());
        let mut seen = BTreeSet::new();
        for r in &req.records {
            let id = RecordId::new(r.record_id.clone()).map_err(invalid)?;
            let (rv, schema) = if r.version == 0 {
                self.latest(&id)?
            } else {
                self.version(&id, r.version)?
            };
            if !seen.insert((id.clone(), rv.version)) {
                return Err(Status::invalid_argument(format!(
                    "record {id} v{} is named twice",
                    rv.version
                )));
            }
            if !schema.auditors.contains(self.org()) {
                return Err(Status::permission_denied(format!(
                    "{} is not an auditor of schema {} v{}, which record {id} follows",
                    self.org(),
                    schema.schema,
                    schema.version
                )));
            }
            let c = rv.commitment(&field).ok_or_else(|| {
                Status::failed_precondition(format!(
                    "record {id} v{} has no committed field {field}",
                    rv.version
                ))
            })?;
            let h = rv.audit_handle(&field, self.org()).ok_or_else(|| {
                Status::failed_precondition(format!(
                    "record {id} v{} carries no audit handle of {field} for {}",
                    rv.version,
                    self.org()
                ))
            })?;
            commitments.push(
                ledger_proofs::Commitment::from_bytes(&c.commitment)
                    .map_err(|e| Status::data_loss(format!("record {id}: {e}")))?,
            );
            handles.push(ledger_proofs::Handle::from_bytes(&h.handle));
            used.push(format!("{id}@{}", rv.version));
            reads.push(AuditRead {
                time_ms: now_ms(),
                org: self.org().to_string(),
                client: client.to_string(),
                record: id.to_string(),
                version: rv.version,
                owner: rv.owner.to_string(),
                field: format!("{field} (in a sum over {} records)", req.records.len()),
            });
        }
        let secret = self.unseal::<ledger_proofs::AuditSecret>()?;
        let sum = secret
            .decrypt_sum(&commitments, &handles, max_bits)
            .map_err(|e| {
                Status::out_of_range(format!(
                    "the sum is not below 2^{max_bits} (ask again with a larger max_bits): {e}"
                ))
            })?;
        drop(secret);
        // Logged before the sum leaves the node.
        self.audit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&reads)
            .map_err(|e| Status::unavailable(format!("audit log: {e}")))?;
        tracing::info!(%client, %field, records = used.len(), "audit sum");
        Ok(pb::AuditSumResponse {
            field: field.to_string(),
            sum,
            records: used,
        })
    }

    fn latest(&self, id: &RecordId) -> Result<(RecordVersion, RegisterSchema), Status> {
        let store = self.ledger.store.as_ref();
        let head = record_head(store, id)
            .map_err(storage)?
            .ok_or_else(|| Status::not_found(format!("no record {id}")))?;
        self.version(id, head.latest_version)
    }

    fn version(&self, id: &RecordId, v: u32) -> Result<(RecordVersion, RegisterSchema), Status> {
        let store = self.ledger.store.as_ref();
        let rv = record_version(store, id, v)
            .map_err(storage)?
            .ok_or_else(|| Status::not_found(format!("record {id} has no version {v}")))?;
        let schema = self.schema(&rv.schema, Some(rv.schema_version))?;
        Ok((rv, schema))
    }

    fn dh(&self) -> impl Fn(&[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> + '_ {
        move |enc| {
            self.provider.ecdh(&self.agreement_label, enc).map_err(|e| {
                CryptoError::KeyAgreementFailed {
                    reason: e.to_string(),
                }
            })
        }
    }

    /// Opens the named fields of a version (all when `only` is empty) with this
    /// organisation's wraps. Blocking: each unwrap is an ECDH in the key provider.
    fn open_fields(
        &self,
        rv: &RecordVersion,
        schema: &RegisterSchema,
        only: &BTreeSet<FieldName>,
    ) -> Vec<Opened> {
        let chain = &self.ledger.chain_id;
        let mut out = Vec::new();
        for f in &rv.fields {
            if !only.is_empty() && !only.contains(&f.name) {
                continue;
            }
            let decl = schema.fields.iter().find(|d| d.name == f.name);
            let ty = decl.map(|d| d.ty.name()).unwrap_or("unknown").to_string();
            let outcome = match rv.wrap(&f.name, self.org()) {
                None => Err((
                    pb::FieldAccess::NotAuthorised,
                    format!("{} holds no key for this field", self.org()),
                )),
                Some(w) => {
                    let b = binding(chain, &rv.record, rv.version, &f.name, schema);
                    match unwrap_key(&b, w, &self.my_key, self.dh()) {
                        Err(e) => Err((
                            pb::FieldAccess::Unreadable,
                            format!(
                                "the key wrap addressed to {} does not open: {e}",
                                self.org()
                            ),
                        )),
                        Ok(key) => match key.open(&b, &f.sealed) {
                            Err(e) => Err((
                                pb::FieldAccess::Unreadable,
                                format!("the sealed value does not open: {e}"),
                            )),
                            Ok(plain) if decl.is_some_and(|d| d.committed) => {
                                check_opening(rv, &f.name, &plain)
                            }
                            Ok(plain)
                                if schema.document.is_some()
                                    && f.name.as_str() == DOCUMENT_FIELD =>
                            {
                                render_document(rv, &plain)
                            }
                            Ok(plain) => match decl.map(|d| d.ty.decode_value(&plain)) {
                                Some(Ok(v)) => Ok(Zeroizing::new(v)),
                                Some(Err(e)) => Err((
                                    pb::FieldAccess::Unreadable,
                                    format!("the plaintext is not a valid {ty}: {e}"),
                                )),
                                None => Err((
                                    pb::FieldAccess::Unreadable,
                                    "the field is not declared by its schema".into(),
                                )),
                            },
                        },
                    }
                }
            };
            out.push(Opened {
                name: f.name.clone(),
                ty,
                outcome,
            });
        }
        out
    }

    async fn finish_write(
        &self,
        tx: ledger_types::Transaction,
        record: &RecordId,
        version: u32,
        no_wait: bool,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let mut resp = pb::WriteResponse {
            tx_hash: tx.hash().0.to_vec(),
            record_id: record.to_string(),
            version,
            height: 0,
            committed: false,
        };
        if !no_wait {
            resp.height = self
                .writer
                .wait_committed(&tx.hash())
                .await
                .map_err(|e| write_status(&e))?;
            resp.committed = true;
        }
        Ok(Response::new(resp))
    }

    fn parse_fields(names: &[String]) -> Result<BTreeSet<FieldName>, Status> {
        names
            .iter()
            .map(|n| FieldName::new(n.clone()).map_err(invalid))
            .collect()
    }

    /// Blocking work of a put: readers, sealing. Returns the PutRecord and its version.
    fn prepare_put(&self, req: &pb::GatewayPutRequest) -> Result<ledger_types::PutRecord, Status> {
        let store = self.ledger.store.as_ref();
        let id = RecordId::new(req.record_id.clone()).map_err(invalid)?;
        let previous = match record_head(store, &id).map_err(storage)? {
            None => None,
            Some(h) if &h.owner != self.org() => {
                return Err(Status::permission_denied(format!(
                    "record {id} is owned by {}; only its owner writes new versions",
                    h.owner
                )))
            }
            Some(h) => Some(self.version(&id, h.latest_version)?.0),
        };
        let schema_id = match (req.schema_id.is_empty(), &previous) {
            (false, _) => SchemaId::new(req.schema_id.clone()).map_err(invalid)?,
            (true, Some(p)) => p.schema.clone(),
            (true, None) => {
                return Err(Status::invalid_argument(
                    "a new record needs schema_id (the schema it follows)",
                ))
            }
        };
        let schema = self.schema(&schema_id, req.schema_version)?;
        let mut extra = BTreeSet::new();
        for r in &req.readers {
            extra.insert(OrgId::new(r.clone()).map_err(invalid)?);
        }
        let mut keys: BTreeMap<OrgId, Reader> = BTreeMap::new();
        let mut values: BTreeMap<FieldName, String> = BTreeMap::new();
        for f in &req.fields {
            let name = FieldName::new(f.name.clone()).map_err(invalid)?;
            if values.insert(name.clone(), f.value.clone()).is_some() {
                return Err(Status::invalid_argument(format!(
                    "field {name} is given twice"
                )));
            }
        }
        let document = match (&req.document, schema.document) {
            (Some(d), Some(kind)) => Some(build_document(kind, d)?),
            (Some(_), None) => {
                return Err(Status::invalid_argument(format!(
                    "schema {} v{} is not a document schema; a document cannot be put in it",
                    schema.schema, schema.version
                )))
            }
            (None, Some(kind)) => {
                return Err(Status::invalid_argument(format!(
                    "schema {} is a {} schema: give the document",
                    schema.schema,
                    kind.name()
                )))
            }
            (None, None) => None,
        };
        if document.is_some() && values.keys().any(|k| k.as_str() == DOCUMENT_FIELD) {
            return Err(Status::invalid_argument(
                "the document field is written from the document, not as a value",
            ));
        }
        let mut readers_of = |name: &FieldName| -> Result<Vec<Reader>, Status> {
            let mut readers: BTreeSet<OrgId> = BTreeSet::new();
            readers.insert(self.org().clone());
            readers.extend(schema.auditors.iter().cloned());
            readers.extend(extra.iter().cloned());
            if let Some(p) = &previous {
                readers.extend(
                    p.wraps
                        .iter()
                        .filter(|w| &w.field == name)
                        .map(|w| w.reader.clone()),
                );
            }
            let mut rs = Vec::new();
            for r in readers {
                if !keys.contains_key(&r) {
                    keys.insert(r.clone(), self.reader(&r)?);
                }
                rs.push(keys[&r].clone());
            }
            Ok(rs)
        };
        let mut to_seal = Vec::new();
        if let Some(doc) = &document {
            let name = FieldName::new(DOCUMENT_FIELD).map_err(invalid)?;
            to_seal.push(FieldToSeal {
                readers: readers_of(&name)?,
                name: name.clone(),
                plaintext: Zeroizing::new(doc.to_bytes()),
            });
            values.insert(name, String::new());
        }
        for (name, value) in &values {
            if document.is_some() && name.as_str() == DOCUMENT_FIELD {
                continue;
            }
            let decl = schema
                .fields
                .iter()
                .find(|d| &d.name == name)
                .ok_or_else(|| {
                    Status::invalid_argument(format!(
                        "field {name} is not declared by schema {} v{}",
                        schema.schema, schema.version
                    ))
                })?;
            let plaintext = decl
                .ty
                .encode_value(value)
                .map_err(|e| Status::invalid_argument(format!("field {name}: {e}")))?;
            to_seal.push(FieldToSeal {
                name: name.clone(),
                plaintext: Zeroizing::new(plaintext),
                readers: readers_of(name)?,
            });
        }
        if let Some(missing) = schema
            .fields
            .iter()
            .find(|d| d.required && !values.contains_key(&d.name))
        {
            return Err(Status::invalid_argument(format!(
                "required field {} of schema {} is missing",
                missing.name, schema.schema
            )));
        }
        if to_seal.is_empty() {
            return Err(Status::invalid_argument("give at least one field"));
        }
        let version = previous.map(|p| p.version + 1).unwrap_or(1);
        let openings = commit_amounts(&schema, &mut to_seal)?;
        let mut put = seal_record(&self.ledger.chain_id, &id, version, &schema, &to_seal)
            .map_err(|e| Status::invalid_argument(format!("sealing: {e}")))?;
        let auditors = self.audit_keys(&schema)?;
        attach_commitments(&self.ledger.chain_id, &mut put, &openings, &auditors)?;
        put.document_commitment = document.as_ref().map(Document::commitment_bytes);
        Ok(put)
    }

    /// Opens the operands this organisation can read and proves the relation.
    fn prepare_cross_check(
        &self,
        req: &pb::CrossCheckRequest,
    ) -> Result<ledger_types::CrossCheck, Status> {
        let n = req.operands.len();
        let relation = match req.relation.as_str() {
            "equal" if n == 2 => Relation::Linear(vec![1, -1]),
            "sum" if n >= 3 => {
                let mut c = vec![1];
                c.extend(std::iter::repeat_n(-1, n - 1));
                Relation::Linear(c)
            }
            "at-most" if n == 2 => Relation::AtMost,
            "invoice" if n == 1 => return self.prepare_invoice_check(Relation::Invoice, req),
            "invoice-linked" if n == 3 => {
                return self.prepare_invoice_check(Relation::InvoiceLinked, req)
            }
            other => {
                return Err(Status::invalid_argument(format!(
                    "relation {other:?} with {n} operands: use equal (2), sum (3 or more: total first), at-most (2), invoice (1) or invoice-linked (3: invoice, order, delivery note)"
                )))
            }
        };
        let mut operands = Vec::with_capacity(n);
        let mut openings = Vec::with_capacity(n);
        for o in &req.operands {
            let id = RecordId::new(o.record_id.clone()).map_err(invalid)?;
            let field = FieldName::new(o.field.clone()).map_err(invalid)?;
            let (rv, schema) = if o.version == 0 {
                self.latest(&id)?
            } else {
                self.version(&id, o.version)?
            };
            if rv.commitment(&field).is_none() {
                return Err(Status::failed_precondition(format!(
                    "field {field} of record {id} v{} is not a committed amount",
                    rv.version
                )));
            }
            let wrap = rv.wrap(&field, self.org()).ok_or_else(|| {
                Status::permission_denied(format!(
                    "{} holds no key for field {field} of record {id}",
                    self.org()
                ))
            })?;
            let b = binding(&self.ledger.chain_id, &id, rv.version, &field, &schema);
            let key = unwrap_key(&b, wrap, &self.my_key, self.dh()).map_err(|e| {
                Status::failed_precondition(format!("field {field} of record {id}: {e}"))
            })?;
            let sealed = rv
                .field(&field)
                .ok_or_else(|| Status::not_found(format!("record {id} has no field {field}")))?;
            let plain = key.open(&b, &sealed.sealed).map_err(|e| {
                Status::failed_precondition(format!("field {field} of record {id}: {e}"))
            })?;
            let opening = Opening::from_bytes(&plain)
                .map_err(|e| Status::failed_precondition(e.to_string()))?;
            let opens = rv
                .commitment(&field)
                .and_then(|c| ledger_proofs::Commitment::from_bytes(&c.commitment).ok())
                .is_some_and(|c| opening.opens(&c));
            if !opens {
                return Err(Status::failed_precondition(format!(
                    "field {field} of record {id}: the sealed value does not match its commitment"
                )));
            }
            operands.push(ledger_types::Operand {
                record: id,
                version: rv.version,
                field,
            });
            openings.push(opening);
        }
        let ctx = ledger_proofs::Context {
            chain_id: self.ledger.chain_id.to_string(),
            items: operands
                .iter()
                .map(|o| (o.record.to_string(), o.version, o.field.to_string()))
                .collect(),
        };
        let proof = match &relation {
            Relation::Linear(c) => {
                ledger_proofs::prove_linear(&ctx, c, &openings).map(|p| p.to_bytes().to_vec())
            }
            Relation::AtMost => {
                ledger_proofs::prove_at_most(&ctx, &openings[0], &openings[1]).map(|p| p.proof)
            }
            Relation::Invoice | Relation::InvoiceLinked => {
                return Err(Status::internal("invoice checks are proved with circuits"))
            }
        }
        .map_err(|e| Status::failed_precondition(format!("the relation does not hold: {e}")))?;
        Ok(ledger_types::CrossCheck {
            relation,
            operands,
            proof,
        })
    }

    fn check_owner(&self, rv: &RecordVersion) -> Result<(), Status> {
        if &rv.owner != self.org() {
            return Err(Status::permission_denied(format!(
                "record {} is owned by {}; only its owner grants or revokes access",
                rv.record, rv.owner
            )));
        }
        Ok(())
    }

    fn prepare_grant(&self, req: &pb::AccessRequest) -> Result<GrantAccess, Status> {
        let id = RecordId::new(req.record_id.clone()).map_err(invalid)?;
        let to = OrgId::new(req.org.clone()).map_err(invalid)?;
        let fields = Self::parse_fields(&req.fields)?;
        if fields.is_empty() {
            return Err(Status::invalid_argument("name the fields to grant"));
        }
        let (rv, schema) = self.latest(&id)?;
        self.check_owner(&rv)?;
        let grantee = self.reader(&to)?;
        let mut wraps = Vec::new();
        for name in &fields {
            if rv.field(name).is_none() {
                return Err(Status::invalid_argument(format!(
                    "record {id} v{} has no field {name}",
                    rv.version
                )));
            }
            if rv.can_read(name, &to) {
                return Err(Status::already_exists(format!(
                    "{to} can already read field {name} of record {id}"
                )));
            }
            let mine = rv.wrap(name, self.org()).ok_or_else(|| {
                Status::failed_precondition(format!("{} holds no key for field {name}", self.org()))
            })?;
            let b = binding(&self.ledger.chain_id, &id, rv.version, name, &schema);
            let key = unwrap_key(&b, mine, &self.my_key, self.dh()).map_err(|e| {
                Status::failed_precondition(format!("unwrapping the key of field {name}: {e}"))
            })?;
            wraps.push(
                wrap_one(&key, &b, &grantee)
                    .map_err(|e| Status::invalid_argument(format!("wrapping to {to}: {e}")))?,
            );
        }
        Ok(GrantAccess {
            record: id,
            version: rv.version,
            wraps,
        })
    }

    fn prepare_revoke(&self, req: &pb::AccessRequest) -> Result<RevokeAccess, Status> {
        let id = RecordId::new(req.record_id.clone()).map_err(invalid)?;
        let from = OrgId::new(req.org.clone()).map_err(invalid)?;
        let fields = Self::parse_fields(&req.fields)?;
        if fields.is_empty() {
            return Err(Status::invalid_argument("name the fields to revoke"));
        }
        let (rv, schema) = self.latest(&id)?;
        self.check_owner(&rv)?;
        if from == rv.owner {
            return Err(Status::invalid_argument(
                "the owner always reads its own records",
            ));
        }
        if schema.auditors.contains(&from) {
            return Err(Status::failed_precondition(format!(
                "{from} audits schema {} v{}: its access follows the audit policy and cannot be revoked",
                schema.schema, schema.version
            )));
        }
        for f in &fields {
            if !rv.can_read(f, &from) {
                return Err(Status::failed_precondition(format!(
                    "{from} cannot read field {f} of record {id} v{}; nothing to revoke",
                    rv.version
                )));
            }
        }
        // Re-seal every field of the new version under fresh keys; the revoked fields go
        // to their current readers except `from`, the others to all their current readers.
        let opened = self.open_fields(&rv, &schema, &BTreeSet::new());
        let mut keys: BTreeMap<OrgId, Reader> = BTreeMap::new();
        let mut to_seal = Vec::new();
        for o in opened {
            let value = o.outcome.map_err(|(_, why)| {
                Status::failed_precondition(format!(
                    "reading field {} to re-seal it: {why}",
                    o.name
                ))
            })?;
            let decl = schema
                .fields
                .iter()
                .find(|d| d.name == o.name)
                .ok_or_else(|| Status::internal("a stored field is not in its schema"))?;
            let plaintext = decl
                .ty
                .encode_value(&value)
                .map_err(|e| Status::internal(format!("re-encoding field {}: {e}", o.name)))?;
            let mut readers = Vec::new();
            for w in rv.wraps.iter().filter(|w| w.field == o.name) {
                if w.reader == from && fields.contains(&o.name) {
                    continue;
                }
                if !keys.contains_key(&w.reader) {
                    keys.insert(w.reader.clone(), self.reader(&w.reader)?);
                }
                readers.push(keys[&w.reader].clone());
            }
            to_seal.push(FieldToSeal {
                name: o.name,
                plaintext: Zeroizing::new(plaintext),
                readers,
            });
        }
        let openings = commit_amounts(&schema, &mut to_seal)?;
        let mut put = seal_record(
            &self.ledger.chain_id,
            &id,
            rv.version + 1,
            &schema,
            &to_seal,
        )
        .map_err(|e| Status::invalid_argument(format!("sealing: {e}")))?;
        let auditors = self.audit_keys(&schema)?;
        attach_commitments(&self.ledger.chain_id, &mut put, &openings, &auditors)?;
        // The document is re-sealed as it was (same blinding): its commitment carries over.
        put.document_commitment = rv.document_commitment;
        Ok(RevokeAccess {
            from,
            fields: fields.into_iter().collect(),
            put,
        })
    }
}

/// The document of a put request, with a fresh blinding.
fn build_document(
    kind: ledger_types::DocumentKind,
    d: &pb::DocumentInput,
) -> Result<Document, Status> {
    let date = ledger_circuits::parse_date(&d.issue_date).map_err(invalid)?;
    let lines = d
        .lines
        .iter()
        .map(|l| ledger_circuits::Line {
            unit_price: l.unit_price,
            quantity: l.quantity,
            total: l.total,
        })
        .collect();
    Document::new(
        kind,
        &d.seller,
        &d.buyer,
        &d.number,
        &d.reference,
        date,
        lines,
        d.total,
    )
    .map_err(invalid)
}

/// A sealed document as text, if it opens its record's commitment.
fn render_document(
    rv: &RecordVersion,
    plain: &[u8],
) -> Result<Zeroizing<String>, (pb::FieldAccess, String)> {
    let unreadable = |why: String| (pb::FieldAccess::Unreadable, why);
    let doc = Document::from_bytes(plain)
        .map_err(|e| unreadable(format!("the sealed document is malformed: {e}")))?;
    if Some(doc.commitment_bytes()) != rv.document_commitment {
        return Err(unreadable(
            "the sealed document does not match the record's document commitment".into(),
        ));
    }
    let lines: Vec<String> = doc
        .lines
        .iter()
        .map(|l| format!("{} x {} = {}", l.unit_price, l.quantity, l.total))
        .collect();
    Ok(Zeroizing::new(format!(
        "{} {} seller={} buyer={}{} date={} lines=[{}] total={} (matches its commitment)",
        doc.kind.name(),
        doc.number,
        doc.seller,
        doc.buyer,
        if doc.reference.is_empty() {
            String::new()
        } else {
            format!(" ref={}", doc.reference)
        },
        ledger_circuits::format_date(doc.issue_date),
        lines.join("; "),
        doc.total
    )))
}

/// Replaces the typed plaintext of committed amounts by a fresh opening (value and
/// blinding) and returns the openings, sorted by field.
fn commit_amounts(
    schema: &RegisterSchema,
    to_seal: &mut [FieldToSeal],
) -> Result<Vec<(FieldName, Opening)>, Status> {
    let mut out = Vec::new();
    for f in to_seal.iter_mut() {
        if !schema
            .fields
            .iter()
            .any(|d| d.name == f.name && d.committed)
        {
            continue;
        }
        let bytes: [u8; 8] = f
            .plaintext
            .as_slice()
            .try_into()
            .map_err(|_| Status::internal("an amount is not 8 bytes"))?;
        let opening = Opening::new(u64::from_be_bytes(bytes));
        f.plaintext = Zeroizing::new(opening.to_bytes().to_vec());
        out.push((f.name.clone(), opening));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Adds the commitments of `openings`, their aggregated range proof and a handle per
/// auditor (with its proof) to `put`.
fn attach_commitments(
    chain: &ledger_types::ChainId,
    put: &mut ledger_types::PutRecord,
    openings: &[(FieldName, Opening)],
    auditors: &[(OrgId, AuditKey)],
) -> Result<(), Status> {
    if openings.is_empty() {
        return Ok(());
    }
    for (name, opening) in openings {
        let ctx = ledger_proofs::Context {
            chain_id: chain.to_string(),
            items: vec![(put.record.to_string(), put.version, name.to_string())],
        };
        for (auditor, key) in auditors {
            let (handle, proof) = ledger_proofs::audit_handle(&ctx, opening, key)
                .map_err(|e| Status::internal(format!("audit handle for {auditor}: {e}")))?;
            put.audit_handles.push(ledger_types::AuditHandle {
                field: name.clone(),
                auditor: auditor.clone(),
                handle: handle.to_bytes(),
                proof: proof.to_bytes(),
            });
        }
    }
    put.audit_handles
        .sort_by(|a, b| (&a.field, &a.auditor).cmp(&(&b.field, &b.auditor)));
    let ctx = ledger_proofs::Context {
        chain_id: chain.to_string(),
        items: openings
            .iter()
            .map(|(n, _)| (put.record.to_string(), put.version, n.to_string()))
            .collect(),
    };
    let os: Vec<Opening> = openings.iter().map(|(_, o)| o.clone()).collect();
    let data = ledger_proofs::prove_range(&ctx, &os)
        .map_err(|e| Status::invalid_argument(format!("range proof: {e}")))?;
    put.commitments = openings
        .iter()
        .map(|(n, o)| FieldCommitment {
            field: n.clone(),
            commitment: o.commit().to_bytes(),
        })
        .collect();
    put.range_proof = Some(RecordRangeProof {
        padding: data.padding.iter().map(|c| c.to_bytes()).collect(),
        proof: data.proof,
    });
    Ok(())
}

/// The value of a committed amount, if its sealed opening opens the stored commitment.
fn check_opening(
    rv: &RecordVersion,
    field: &FieldName,
    plain: &[u8],
) -> Result<Zeroizing<String>, (pb::FieldAccess, String)> {
    let unreadable = |why: String| (pb::FieldAccess::Unreadable, why);
    let opening = Opening::from_bytes(plain)
        .map_err(|e| unreadable(format!("the sealed opening is malformed: {e}")))?;
    let commitment = rv
        .commitment(field)
        .ok_or_else(|| unreadable("the committed field has no commitment".into()))?;
    let c = ledger_proofs::Commitment::from_bytes(&commitment.commitment)
        .map_err(|e| unreadable(format!("the commitment is malformed: {e}")))?;
    if !opening.opens(&c) {
        return Err(unreadable(
            "the sealed value does not match the field's public commitment".into(),
        ));
    }
    Ok(Zeroizing::new(opening.value.to_string()))
}

/// Runs blocking gateway work (HSM calls) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(e.to_string()))?
}

/// The shared gateway, cloneable into blocking tasks.
#[derive(Clone)]
pub struct GatewayService(pub Arc<Gateway>);

/// A schema request as the ledger's `RegisterSchema`.
fn schema_payload(req: &pb::GatewaySchemaRequest, next: u32) -> Result<RegisterSchema, Status> {
    let mut fields = Vec::with_capacity(req.fields.len());
    for f in &req.fields {
        let ty = match f.r#type.as_str() {
            "text" => FieldType::Text,
            "bytes" => FieldType::Bytes,
            "amount" => FieldType::Amount,
            "date" => FieldType::Date,
            "identifier" => FieldType::Identifier,
            "enum" | "enumeration" => {
                let mut v = f.values.clone();
                v.sort();
                v.dedup();
                FieldType::Enumeration(v)
            }
            other => {
                return Err(Status::invalid_argument(format!(
                    "field {}: unknown type {other:?} (text, bytes, amount, date, identifier, enumeration)",
                    f.name
                )))
            }
        };
        fields.push(SchemaField {
            name: FieldName::new(f.name.clone()).map_err(invalid)?,
            ty,
            required: f.required,
            committed: f.committed,
        });
    }
    fields.sort_by(|a, b| a.name.cmp(&b.name));
    let mut auditors = req
        .auditors
        .iter()
        .map(|a| OrgId::new(a.clone()).map_err(invalid))
        .collect::<Result<Vec<_>, _>>()?;
    auditors.sort();
    auditors.dedup();
    let document = match req.document.as_str() {
        "" => None,
        k => Some(ledger_types::DocumentKind::from_name(k).ok_or_else(|| {
            Status::invalid_argument(format!(
                "document kind {k:?}: purchase-order, delivery-note or invoice"
            ))
        })?),
    };
    if document.is_some() && !fields.iter().any(|f| f.name.as_str() == DOCUMENT_FIELD) {
        fields.push(SchemaField {
            name: FieldName::new(DOCUMENT_FIELD).map_err(invalid)?,
            ty: FieldType::Bytes,
            required: true,
            committed: false,
        });
        fields.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let s = RegisterSchema {
        document,
        schema: SchemaId::new(req.schema_id.clone()).map_err(invalid)?,
        version: req.version.unwrap_or(next),
        fields,
        auditors,
    };
    s.check().map_err(invalid)?;
    Ok(s)
}

#[tonic::async_trait]
impl GatewayApi for GatewayService {
    async fn register_schema(
        &self,
        request: Request<pb::GatewaySchemaRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let client = self.0.client(&request)?;
        let req = request.into_inner();
        let id = SchemaId::new(req.schema_id.clone()).map_err(invalid)?;
        let next = schema_head(self.0.ledger.store.as_ref(), &id)
            .map_err(storage)?
            .map(|h| h.latest_version + 1)
            .unwrap_or(1);
        let schema = schema_payload(&req, next)?;
        let version = schema.version;
        let tx = self
            .0
            .writer
            .submit(Payload::RegisterSchema(schema))
            .await
            .map_err(|e| write_status(&e))?;
        tracing::info!(%client, schema = %id, version, tx = %tx.hash(), "gateway schema registration");
        let mut resp = pb::WriteResponse {
            tx_hash: tx.hash().0.to_vec(),
            record_id: String::new(),
            version,
            height: 0,
            committed: false,
        };
        if !req.no_wait {
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

    async fn put_record(
        &self,
        request: Request<pb::GatewayPutRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let client = self.0.client(&request)?;
        let req = request.into_inner();
        let g = self.0.clone();
        let no_wait = req.no_wait;
        let put = blocking(move || g.prepare_put(&req)).await?;
        let (record, version, fields) = (put.record.clone(), put.version, put.fields.len());
        let tx = self
            .0
            .writer
            .submit(Payload::PutRecord(put))
            .await
            .map_err(|e| write_status(&e))?;
        tracing::info!(%client, %record, version, fields, tx = %tx.hash(), "gateway put");
        self.0.finish_write(tx, &record, version, no_wait).await
    }

    async fn request_financing(
        &self,
        request: Request<pb::FinancingRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let client = self.0.client(&request)?;
        let req = request.into_inner();
        let g = self.0.clone();
        let no_wait = req.no_wait;
        let f = blocking(move || g.prepare_financing(&req)).await?;
        let (record, version) = (f.invoice.clone(), f.version);
        let tx = self
            .0
            .writer
            .submit(Payload::FinanceRequest(f))
            .await
            .map_err(|e| write_status(&e))?;
        tracing::info!(%client, %record, version, tx = %tx.hash(), "gateway financing request");
        self.0.finish_write(tx, &record, version, no_wait).await
    }

    async fn endorse(
        &self,
        request: Request<pb::EndorseRequest>,
    ) -> Result<Response<pb::EndorseResponse>, Status> {
        let client = self.0.client(&request)?;
        let req = request.into_inner();
        let g = self.0.clone();
        let (no_wait, sign_only) = (req.no_wait, req.sign_only);
        let (tx, mut resp) = blocking(move || g.prepare_endorsement(&req)).await?;
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
        let req = request.into_inner();
        let g = self.0.clone();
        blocking(move || g.audit_sum(&client, &req).map(Response::new)).await
    }

    async fn read_record(
        &self,
        request: Request<pb::ReadRecordRequest>,
    ) -> Result<Response<pb::ReadRecordResponse>, Status> {
        let client = self.0.client(&request)?;
        let req = request.into_inner();
        let g = self.0.clone();
        blocking(move || {
            let id = RecordId::new(req.record_id.clone()).map_err(invalid)?;
            let head = record_head(g.ledger.store.as_ref(), &id)
                .map_err(storage)?
                .ok_or_else(|| Status::not_found(format!("no record {id}")))?;
            let (rv, schema) = g.version(&id, req.version.unwrap_or(head.latest_version))?;
            let only = Gateway::parse_fields(&req.fields)?;
            if let Some(f) = only.iter().find(|f| rv.field(f).is_none()) {
                return Err(Status::not_found(format!(
                    "record {id} v{} has no field {f}",
                    rv.version
                )));
            }
            let opened = g.open_fields(&rv, &schema, &only);
            let me = member(g.ledger.store.as_ref(), g.org())
                .map_err(storage)?
                .ok_or_else(|| Status::internal("this node's organisation is not a member"))?;
            let audit_read = rv.owner != *g.org()
                && me.has_role(Role::Regulator)
                && schema.auditors.contains(g.org());
            if audit_read {
                let reads: Vec<AuditRead> = opened
                    .iter()
                    .filter(|o| o.outcome.is_ok())
                    .map(|o| AuditRead {
                        time_ms: now_ms(),
                        org: g.org().to_string(),
                        client: client.clone(),
                        record: id.to_string(),
                        version: rv.version,
                        owner: rv.owner.to_string(),
                        field: o.name.to_string(),
                    })
                    .collect();
                if !reads.is_empty() {
                    // The read is logged before any plaintext leaves the node.
                    g.audit
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .append(&reads)
                        .map_err(|e| Status::unavailable(format!("audit log: {e}")))?;
                }
            }
            tracing::info!(%client, record = %id, version = rv.version, audit_read, "gateway read");
            Ok(Response::new(pb::ReadRecordResponse {
                record_id: id.to_string(),
                version: rv.version,
                latest_version: head.latest_version,
                owner: rv.owner.to_string(),
                schema_id: rv.schema.to_string(),
                schema_version: rv.schema_version,
                fields: opened
                    .into_iter()
                    .map(|o| match o.outcome {
                        Ok(v) => pb::FieldResult {
                            name: o.name.to_string(),
                            access: pb::FieldAccess::Readable as i32,
                            value: v.to_string(),
                            r#type: o.ty,
                            error: String::new(),
                        },
                        Err((access, why)) => pb::FieldResult {
                            name: o.name.to_string(),
                            access: access as i32,
                            value: String::new(),
                            r#type: o.ty,
                            error: why,
                        },
                    })
                    .collect(),
                audit_read,
            }))
        })
        .await
    }

    async fn grant(
        &self,
        request: Request<pb::AccessRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let client = self.0.client(&request)?;
        let req = request.into_inner();
        let no_wait = req.no_wait;
        let g = self.0.clone();
        let grant = blocking(move || g.prepare_grant(&req)).await?;
        let (record, version) = (grant.record.clone(), grant.version);
        let tx = self
            .0
            .writer
            .submit(Payload::GrantAccess(grant))
            .await
            .map_err(|e| write_status(&e))?;
        tracing::info!(%client, %record, version, tx = %tx.hash(), "gateway grant");
        self.0.finish_write(tx, &record, version, no_wait).await
    }

    async fn revoke(
        &self,
        request: Request<pb::AccessRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let client = self.0.client(&request)?;
        let req = request.into_inner();
        let no_wait = req.no_wait;
        let g = self.0.clone();
        let revoke = blocking(move || g.prepare_revoke(&req)).await?;
        let (record, version) = (revoke.put.record.clone(), revoke.put.version);
        let tx = self
            .0
            .writer
            .submit(Payload::RevokeAccess(revoke))
            .await
            .map_err(|e| write_status(&e))?;
        tracing::info!(%client, %record, version, tx = %tx.hash(), "gateway revoke");
        self.0.finish_write(tx, &record, version, no_wait).await
    }

    async fn cross_check(
        &self,
        request: Request<pb::CrossCheckRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let client = self.0.client(&request)?;
        let req = request.into_inner();
        let no_wait = req.no_wait;
        let g = self.0.clone();
        let check = blocking(move || g.prepare_cross_check(&req)).await?;
        let record = check.operands[0].record.clone();
        let version = check.operands[0].version;
        let tx = self
            .0
            .writer
            .submit(Payload::CrossCheck(check))
            .await
            .map_err(|e| write_status(&e))?;
        tracing::info!(%client, %record, tx = %tx.hash(), "gateway cross-check");
        self.0.finish_write(tx, &record, version, no_wait).await
    }

    async fn list_grants(
        &self,
        request: Request<pb::ListGrantsRequest>,
    ) -> Result<Response<pb::ListGrantsResponse>, Status> {
        self.0.client(&request)?;
        let req = request.into_inner();
        let id = RecordId::new(req.record_id).map_err(invalid)?;
        let (rv, _) = self.0.latest(&id)?;
        let events = access_history(self.0.ledger.store.as_ref(), &id).map_err(storage)?;
        let readers = rv
            .fields
            .iter()
            .map(|f| pb::FieldReaders {
                field: f.name.to_string(),
                readers: rv
                    .wraps
                    .iter()
                    .filter(|w| w.field == f.name)
                    .map(|w| w.reader.to_string())
                    .collect(),
            })
            .collect();
        Ok(Response::new(pb::ListGrantsResponse {
            record_id: id.to_string(),
            owner: rv.owner.to_string(),
            latest_version: rv.version,
            readers,
            events: events.into_iter().map(access_event).collect(),
        }))
    }
}
