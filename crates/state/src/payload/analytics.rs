//! `Analytics`: questions about encrypted amounts and their answers (see
//! `ledger_types::analytics` and docs/fhe.md).
//!
//! - `Ask`: by a bank (member) or a regulator, on a chain with analytics; the subject is a
//!   member; the inputs (at most the profile's limit) are, for financing questions, the
//!   subject's financings at this point, for a field total the subject's record versions
//!   so far that carried the field (which must be an `fhe` amount field of the schema's
//!   latest version).
//! - `Result`: by a member, validator or regulator, for an unanswered query, a result not
//!   already published.
//! - `Attest`: by a validator of the current set, once per query.
//! - `Answer`: by the analytics authority, once, for an accepted query.
//!
//! A query is accepted when validators holding more than two thirds of the validator set
//! attested the hash of a published result.

use ledger_types::{Analytics, Hash, Question, RegisterMember, Role};

use super::{Ctx, PayloadHandler, Writes};
use crate::error::{ExecError, TxFailure};
use crate::model::{self, AnalyticsConfig, AnalyticsQuery as Query, PublishedResult};
use crate::{keys, StateView};

fn refused(reason: impl Into<String>) -> ExecError {
    TxFailure::AnalyticsRefused {
        reason: reason.into(),
    }
    .into()
}

fn config<V: StateView>(view: &V) -> Result<AnalyticsConfig, ExecError> {
    model::analytics_config(view)?.ok_or_else(|| {
        refused("this chain has no analytics key: its genesis names no analytics authority")
    })
}

fn query<V: StateView>(view: &V, id: &Hash) -> Result<Query, ExecError> {
    model::analytics_query(view, id)?.ok_or_else(|| TxFailure::QueryNotFound { query: *id }.into())
}

/// Marks the query accepted if a published result has a quorum of attestations.
fn settle<V: StateView>(view: &V, q: &mut Query) -> Result<(), ExecError> {
    if q.accepted.is_some() {
        return Ok(());
    }
    let validators = model::validators(view)?;
    let quorum = validators.len() * 2 / 3 + 1;
    for r in &q.results {
        let n = q
            .attestations
            .iter()
            .filter(|(v, h)| h == &r.hash && validators.contains(v))
            .count();
        if n >= quorum {
            q.accepted = Some(r.hash);
            return Ok(());
        }
    }
    Ok(())
}

impl PayloadHandler for Analytics {
    fn execute<V: StateView>(
        &self,
        ctx: &Ctx<'_, V>,
        signer: &RegisterMember,
        tx_hash: Hash,
    ) -> Result<Writes, ExecError> {
        let cfg = config(ctx.view)?;
        match self {
            Analytics::Ask { subject, question } => {
                if !(signer.has_role(Role::Member) || signer.has_role(Role::Regulator)) {
                    return Err(TxFailure::MissingRole {
                        signer: signer.org.clone(),
                        role: "member or regulator",
                        kind: "Analytics question",
                    }
                    .into());
                }
                if model::member(ctx.view, subject)?.is_none() {
                    return Err(refused(format!(
                        "{subject} is not a member of the directory"
                    )));
                }
                let (inputs, what) = match question {
                    Question::Exposure { .. } | Question::Concentration { .. } => {
                        (model::buyer_financings(ctx.view, subject)?, "financings")
                    }
                    Question::FieldTotal { schema, field, .. } => {
                        let latest = model::schema_head(ctx.view, schema)?
                            .map(|h| h.latest_version)
                            .map(|v| model::schema_version(ctx.view, schema, v))
                            .transpose()?
                            .flatten()
                            .ok_or_else(|| refused(format!("schema {schema} is not registered")))?;
                        if !latest.fields.iter().any(|f| &f.name == field && f.fhe) {
                            return Err(refused(format!(
                                "field {field} of schema {schema} is not an fhe amount field: its values are not encrypted for analytics"
                            )));
                        }
                        (
                            model::field_entries(ctx.view, subject, schema, field)?,
                            "record versions with the field",
                        )
                    }
                };
                let max = ledger_fhe::Profile::parse(&cfg.profile)
                    .map_err(|e| refused(e.to_string()))?
                    .max_amounts() as u64;
                if inputs > max {
                    return Err(refused(format!(
                        "{subject} has {inputs} {what}; a query sums at most {max} in the {} profile",
                        cfg.profile
                    )));
                }
                let q = Query {
                    asker: signer.org.clone(),
                    subject: subject.clone(),
                    question: question.clone(),
                    height: ctx.height,
                    inputs,
                    results: vec![],
                    attestations: vec![],
                    accepted: None,
                    answer: None,
                };
                Ok(vec![(keys::analytics_query(&tx_hash), q.encode())])
            }
            Analytics::Result { query: id, result } => {
                let mut q = query(ctx.view, id)?;
                if q.answer.is_some() {
                    return Err(refused(format!("query {id} is already answered")));
                }
                let hash = Hash(ledger_fhe::QueryResult::from_bytes(result.clone()).hash());
                if q.results.iter().any(|r| r.hash == hash) {
                    return Err(refused(format!(
                        "query {id}: result {hash} is already published"
                    )));
                }
                q.results.push(PublishedResult {
                    hash,
                    by: signer.org.clone(),
                    tx: tx_hash,
                });
                settle(ctx.view, &mut q)?;
                Ok(vec![(keys::analytics_query(id), q.encode())])
            }
            Analytics::Attest {
                query: id,
                result_hash,
            } => {
                if !model::validators(ctx.view)?.contains(&signer.org) {
                    return Err(refused(format!(
                        "{} is not a validator: only validators attest re-executions",
                        signer.org
                    )));
                }
                let mut q = query(ctx.view, id)?;
                if q.attestations.iter().any(|(v, _)| v == &signer.org) {
                    return Err(refused(format!(
                        "{} already attested query {id}",
                        signer.org
                    )));
                }
                q.attestations.push((signer.org.clone(), *result_hash));
                settle(ctx.view, &mut q)?;
                Ok(vec![(keys::analytics_query(id), q.encode())])
            }
            Analytics::Answer { query: id, answer } => {
                if signer.org != cfg.authority {
                    return Err(refused(format!(
                        "{} is not the analytics authority ({}): only it answers",
                        signer.org, cfg.authority
                    )));
                }
                let mut q = query(ctx.view, id)?;
                if q.accepted.is_none() {
                    return Err(refused(format!(
                        "query {id} is not accepted: no published result has a quorum of validators' attestations"
                    )));
                }
                if q.answer.is_some() {
                    return Err(refused(format!("query {id} is already answered")));
                }
                q.answer = Some(*answer);
                Ok(vec![(keys::analytics_query(id), q.encode())])
            }
        }
    }
}
