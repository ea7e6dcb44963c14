//! The gateway's protobuf messages to and from the builder's domain types (the status of
//! a [`BuildError`] is in `crate::status`). Nothing here reads state or keys: a request is
//! parsed into a builder input, a plan's result is written into a response.

use std::collections::BTreeSet;

use ledger_api::v1 as pb;
use ledger_builder::{
    AccessInput, AuditSum, AuditSumInput, BuildError, CheckRelation, CrossCheckInput,
    DocumentInput, EndorseInput, FieldAccess, FieldValue, FinancingInput, Grants, OperandInput,
    PutInput, ReadInput, RecordAt, RecordRead, SchemaFieldInput, SchemaInput, SignedEndorsement,
    Statement, WriteSubject,
};
use ledger_types::{DocumentKind, FieldName, OrgId, RecordId, SchemaId, Topic, Transaction};

use crate::service::access_event;

/// A 0 version in a request means the latest.
fn latest_if_zero(version: u32) -> Option<u32> {
    (version != 0).then_some(version)
}

fn field_names(names: &[String]) -> Result<BTreeSet<FieldName>, BuildError> {
    Ok(names
        .iter()
        .map(|n| FieldName::new(n.clone()))
        .collect::<Result<_, _>>()?)
}

/// A schema registration.
pub(super) fn schema_input(req: &pb::GatewaySchemaRequest) -> Result<SchemaInput, BuildError> {
    let schema = SchemaId::new(req.schema_id.clone())?;
    let mut fields = Vec::with_capacity(req.fields.len());
    for f in &req.fields {
        let ty = SchemaFieldInput::parse_type(&f.name, &f.r#type, &f.values)?;
        fields.push(SchemaFieldInput {
            name: FieldName::new(f.name.clone())?,
            ty,
            required: f.required,
            committed: f.committed,
            fhe: f.fhe,
        });
    }
    let auditors = req
        .auditors
        .iter()
        .map(|a| OrgId::new(a.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let document = match req.document.as_str() {
        "" => None,
        k => Some(
            DocumentKind::from_name(k).ok_or_else(|| BuildError::UnknownDocumentKind {
                kind: k.to_string(),
            })?,
        ),
    };
    Ok(SchemaInput {
        schema,
        version: req.version,
        fields,
        auditors,
        document,
    })
}

/// A put.
pub(super) fn put_input(req: &pb::GatewayPutRequest) -> Result<PutInput, BuildError> {
    let record = RecordId::new(req.record_id.clone())?;
    let schema = match req.schema_id.as_str() {
        "" => None,
        s => Some(SchemaId::new(s)?),
    };
    let readers = req
        .readers
        .iter()
        .map(|r| OrgId::new(r.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let fields = req
        .fields
        .iter()
        .map(|f| {
            Ok(FieldValue {
                name: FieldName::new(f.name.clone())?,
                value: f.value.clone(),
            })
        })
        .collect::<Result<Vec<_>, BuildError>>()?;
    let document = req.document.as_ref().map(|d| DocumentInput {
        seller: d.seller.clone(),
        buyer: d.buyer.clone(),
        carrier: d.carrier.clone(),
        number: d.number.clone(),
        reference: d.reference.clone(),
        issue_date: d.issue_date.clone(),
        lines: d
            .lines
            .iter()
            .map(|l| ledger_circuits::Line {
                unit_price: l.unit_price,
                quantity: l.quantity,
                total: l.total,
            })
            .collect(),
        total: d.total,
    });
    Ok(PutInput {
        record,
        schema,
        schema_version: req.schema_version,
        fields,
        readers,
        document,
    })
}

/// A grant or revocation.
pub(super) fn access_input(req: &pb::AccessRequest) -> Result<AccessInput, BuildError> {
    Ok(AccessInput {
        record: RecordId::new(req.record_id.clone())?,
        org: OrgId::new(req.org.clone())?,
        fields: field_names(&req.fields)?,
    })
}

/// A cross-check; document checks ignore the operands' field.
pub(super) fn cross_check_input(
    req: &pb::CrossCheckRequest,
) -> Result<CrossCheckInput, BuildError> {
    let relation = CheckRelation::parse(&req.relation, req.operands.len())?;
    let documents = matches!(
        relation,
        CheckRelation::Invoice | CheckRelation::InvoiceLinked
    );
    let operands = req
        .operands
        .iter()
        .map(|o| {
            let record = RecordId::new(o.record_id.clone())?;
            let field = if documents {
                None
            } else {
                Some(FieldName::new(o.field.clone())?)
            };
            Ok(OperandInput {
                record,
                version: latest_if_zero(o.version),
                field,
            })
        })
        .collect::<Result<Vec<_>, BuildError>>()?;
    Ok(CrossCheckInput { relation, operands })
}

/// A financing request.
pub(super) fn financing_input(req: &pb::FinancingRequest) -> Result<FinancingInput, BuildError> {
    Ok(FinancingInput {
        invoice: RecordId::new(req.invoice_id.clone())?,
        version: latest_if_zero(req.version),
        bank: OrgId::new(req.bank.clone())?,
    })
}

/// An endorsement.
pub(super) fn endorse_input(req: &pb::EndorseRequest) -> Result<EndorseInput, BuildError> {
    Ok(EndorseInput {
        topic: Topic::new(req.topic.clone())?,
        statement: Statement::from_parts(&req.statement, &req.statement_hash)?,
    })
}

/// A sum query; the operands' field is the query's.
pub(super) fn audit_sum_input(req: &pb::AuditSumRequest) -> Result<AuditSumInput, BuildError> {
    Ok(AuditSumInput {
        field: FieldName::new(req.field.clone())?,
        records: req
            .records
            .iter()
            .map(|r| {
                Ok(RecordAt {
                    record: RecordId::new(r.record_id.clone())?,
                    version: latest_if_zero(r.version),
                })
            })
            .collect::<Result<_, BuildError>>()?,
        max_bits: req.max_bits,
    })
}

/// A read.
pub(super) fn read_input(req: &pb::ReadRecordRequest) -> Result<ReadInput, BuildError> {
    Ok(ReadInput {
        record: RecordId::new(req.record_id.clone())?,
        version: req.version,
        fields: field_names(&req.fields)?,
    })
}

/// The governance parameters of a request.
pub(super) fn governance_params(
    g: &pb::GovernanceChange,
) -> Result<ledger_types::GovernanceParams, BuildError> {
    let mut governors = g
        .governors
        .iter()
        .map(|x| Ok((OrgId::new(x.org.clone())?, x.weight)))
        .collect::<Result<Vec<_>, BuildError>>()?;
    governors.sort();
    let p = ledger_types::GovernanceParams {
        governors,
        quorum_pct: u8::try_from(g.quorum_pct)
            .map_err(|_| BuildError::BadGovernance("quorum_pct is a percentage".into()))?,
        approval_pct: u8::try_from(g.approval_pct)
            .map_err(|_| BuildError::BadGovernance("approval_pct is a percentage".into()))?,
        max_open_blocks: g.max_open_blocks,
    };
    p.check().map_err(BuildError::BadGovernance)?;
    Ok(p)
}

/// The governance transaction a request asks for, with a proposal's deadline counted
/// from `height` (the chain's latest).
pub(super) fn govern(
    req: &pb::GovernRequest,
    height: u64,
) -> Result<ledger_types::Govern, BuildError> {
    use ledger_types::{Action, Govern, Role};
    use pb::govern_request::Request as R;
    let bad = |m: &str| BuildError::BadGovernance(m.to_string());
    Ok(match &req.request {
        None => return Err(bad("give a proposal, a vote or a proposal to revoke")),
        Some(R::Vote(v)) => Govern::Vote {
            proposal: v.proposal,
            yes: v.yes,
        },
        Some(R::Revoke(id)) => Govern::Revoke { proposal: *id },
        Some(R::Propose(p)) => {
            let org = || OrgId::new(p.org.clone()).map_err(BuildError::from);
            let action = match p.action.as_str() {
                "suspend" => Action::Suspend { org: org()? },
                "reinstate" => Action::Reinstate { org: org()? },
                "add-validator" => Action::AddValidator {
                    org: org()?,
                    p2p: if p.p2p.is_empty() {
                        None
                    } else {
                        ledger_types::governance::check_p2p_address(&p.p2p)
                            .map_err(|r| bad(&r))?;
                        Some(p.p2p.clone())
                    },
                    api: if p.api.is_empty() {
                        None
                    } else {
                        ledger_types::governance::check_api_address(&p.api)
                            .map_err(|r| bad(&r))?;
                        Some(p.api.clone())
                    },
                },
                "remove-validator" => Action::RemoveValidator { org: org()? },
                "remove-member" => Action::RemoveMember { org: org()? },
                "rotate-key" => {
                    if p.rotation.is_empty() {
                        return Err(bad(
                            "rotate-key needs the member's rotation request (`ledger-node rotate-key --request-only`)",
                        ));
                    }
                    let r = ledger_types::RotationRequest::decode(&p.rotation).map_err(|e| {
                        bad(&format!("the rotation is not a rotation request: {e}"))
                    })?;
                    if !p.org.is_empty() && p.org != r.org.as_str() {
                        return Err(bad(&format!(
                            "the rotation request is {}'s, not {}'s",
                            r.org, p.org
                        )));
                    }
                    Action::RotateKey {
                        org: r.org,
                        rotation: r.rotation,
                    }
                }
                "admit" => {
                    if p.registration.is_empty() {
                        return Err(bad("admit needs the joining organisation's join request"));
                    }
                    let r = ledger_types::governance::JoinRequest::decode(&p.registration)
                        .map_err(|e| {
                            bad(&format!(
                                "the registration is not a join request (`ledger-node join-request`): {e}"
                            ))
                        })?;
                    Action::Admit {
                        org: org()?,
                        registration: r.registration,
                        ring_proof: r.ring_proof,
                        audit_proof: r.audit_proof,
                    }
                }
                "set-roles" => {
                    let mut roles = p
                        .roles
                        .iter()
                        .map(|r| {
                            Role::from_name(r).ok_or_else(|| {
                                BuildError::BadGovernance(format!(
                                    "{r:?} is not a role (validator, member, regulator, operator, corporate, carrier)"
                                ))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    roles.sort_by_key(|r| r.tag());
                    roles.dedup();
                    if roles.is_empty() {
                        return Err(bad("set-roles needs at least one role"));
                    }
                    Action::SetRoles { org: org()?, roles }
                }
                "set-governance" => Action::SetGovernance(governance_params(
                    p.governance
                        .as_ref()
                        .ok_or_else(|| bad("set-governance needs the new parameters"))?,
                )?),
                other => {
                    return Err(BuildError::BadGovernance(format!(
                        "{other:?} is not an action (suspend, reinstate, remove-member, set-roles, admit, add-validator, remove-validator, rotate-key, set-governance)"
                    )))
                }
            };
            let open = if p.open_blocks == 0 {
                100
            } else {
                p.open_blocks
            };
            Govern::Propose {
                action,
                // The next block is the first that can include it.
                deadline: height + 1 + open,
            }
        }
    })
}

/// The answer to a write, before its commit.
pub(super) fn write_response(tx: &Transaction, subject: &WriteSubject) -> pb::WriteResponse {
    pb::WriteResponse {
        tx_hash: tx.hash().0.to_vec(),
        record_id: subject
            .record
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        version: subject.version,
        height: 0,
        committed: false,
        proposal: 0,
    }
}

/// The answer to an endorsement, before its commit.
pub(super) fn endorse_response(e: &SignedEndorsement) -> pb::EndorseResponse {
    pb::EndorseResponse {
        tx_hash: e.tx.hash().0.to_vec(),
        statement_hash: e.statement_hash.to_vec(),
        key_image: e.key_image.map(|k| k.to_vec()).unwrap_or_default(),
        ring_height: e.ring_height,
        ring_size: e.ring_size,
        height: 0,
        committed: false,
        tx: e.tx.bytes().to_vec(),
    }
}

/// The answer to a sum query.
pub(super) fn audit_sum_response(s: AuditSum) -> pb::AuditSumResponse {
    pb::AuditSumResponse {
        field: s.field.to_string(),
        sum: s.sum,
        records: s
            .records
            .iter()
            .map(|(id, version)| format!("{id}@{version}"))
            .collect(),
    }
}

/// The answer to a read.
pub(super) fn read_response(r: RecordRead) -> pb::ReadRecordResponse {
    pb::ReadRecordResponse {
        record_id: r.record.to_string(),
        version: r.version,
        latest_version: r.latest_version,
        owner: r.owner.to_string(),
        schema_id: r.schema.to_string(),
        schema_version: r.schema_version,
        fields: r
            .fields
            .into_iter()
            .map(|o| {
                let (access, value, error) = match o.access {
                    FieldAccess::Readable(v) => {
                        (pb::FieldAccess::Readable, v.to_string(), String::new())
                    }
                    FieldAccess::NotAuthorised(why) => {
                        (pb::FieldAccess::NotAuthorised, String::new(), why)
                    }
                    FieldAccess::Unreadable(why) => {
                        (pb::FieldAccess::Unreadable, String::new(), why)
                    }
                };
                pb::FieldResult {
                    name: o.name.to_string(),
                    access: access as i32,
                    value,
                    r#type: o.ty.to_string(),
                    error,
                }
            })
            .collect(),
        audit_read: r.audit_read,
    }
}

/// The answer to a grants listing.
pub(super) fn grants_response(g: Grants) -> pb::ListGrantsResponse {
    pb::ListGrantsResponse {
        record_id: g.record.to_string(),
        owner: g.owner.to_string(),
        latest_version: g.latest_version,
        readers: g
            .readers
            .into_iter()
            .map(|f| pb::FieldReaders {
                field: f.field.to_string(),
                readers: f.readers.iter().map(ToString::to_string).collect(),
            })
            .collect(),
        events: g.events.into_iter().map(access_event).collect(),
    }
}
