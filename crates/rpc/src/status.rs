//! The one place where the core's typed errors become gRPC statuses: codes clients can
//! act on, the message as the core wrote it, and a refused transaction's stable reason in
//! the `ledger-reject-reason` metadata.

use ledger_builder::{BuildError, ErrorKind};
use ledger_core::admission::AdmissionError;
use ledger_core::writer::WriteError;
use ledger_core::{RelayRefused, RemoteRefusal, SubmitError};
use ledger_mempool::Rejection;
use ledger_state::TxRejection;
use tonic::{Code, Status};

/// The gRPC status for a refused transaction, with the stable reason in metadata.
pub fn rejection_status(r: &Rejection) -> Status {
    let code = match r {
        Rejection::Malformed(_) | Rejection::TooLarge { .. } => Code::InvalidArgument,
        Rejection::Invalid(TxRejection::WrongChain { .. }) => Code::InvalidArgument,
        Rejection::Invalid(TxRejection::UnknownSigner { .. })
        | Rejection::Invalid(TxRejection::Suspended { .. })
        | Rejection::Invalid(TxRejection::Removed { .. }) => Code::PermissionDenied,
        Rejection::Invalid(TxRejection::BadSignature { .. })
        | Rejection::Invalid(TxRejection::BadEndorsement { .. }) => Code::Unauthenticated,
        Rejection::Invalid(TxRejection::NonceUsed { .. })
        | Rejection::Invalid(TxRejection::AlreadyEndorsed { .. })
        | Rejection::EndorsementPending { .. }
        | Rejection::Duplicate(_)
        | Rejection::AlreadyCommitted { .. } => Code::AlreadyExists,
        Rejection::Invalid(TxRejection::State(_)) | Rejection::Storage(_) => Code::Unavailable,
        Rejection::Full { .. } | Rejection::TooManyGapped { .. } => Code::ResourceExhausted,
        _ => Code::FailedPrecondition,
    };
    with_reason(Status::new(code, r.to_string()), Some(r.code()))
}

fn with_reason(mut status: Status, reason: Option<&str>) -> Status {
    if let Some(v) = reason.and_then(|r| r.parse().ok()) {
        status
            .metadata_mut()
            .insert(ledger_api::REJECT_REASON_KEY, v);
    }
    status
}

/// The refusal of the upstream node, passed on as it gave it.
pub fn remote_status(r: &RemoteRefusal) -> Status {
    with_reason(
        Status::new(Code::from_i32(r.code), r.message.clone()),
        r.reason.as_deref(),
    )
}

/// The gRPC status of a refusal from another node's API, read back into the core's terms.
pub fn remote_refusal(s: &Status) -> RemoteRefusal {
    RemoteRefusal {
        code: s.code() as i32,
        message: s.message().to_string(),
        reason: s
            .metadata()
            .get(ledger_api::REJECT_REASON_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// The gRPC status for a submission that was not taken.
pub fn submit_status(e: &SubmitError) -> Status {
    match e {
        SubmitError::Rejected(r) => rejection_status(r),
        SubmitError::Upstream(r) => remote_status(r),
        SubmitError::Busy(a) => admission_status(a),
        _ => Status::internal(e.to_string()),
    }
}

/// The gRPC status for work the admission gate did not run: RESOURCE_EXHAUSTED with the
/// reason `busy` (retry shortly), or INTERNAL.
pub fn admission_status(e: &AdmissionError) -> Status {
    match e {
        AdmissionError::Busy { .. } => {
            with_reason(Status::resource_exhausted(e.to_string()), Some("busy"))
        }
        _ => Status::internal(e.to_string()),
    }
}

/// The gRPC status for a relayed batch that was not taken.
pub fn relay_status(e: &RelayRefused) -> Status {
    match e {
        RelayRefused::NotAuthenticated(_) => Status::unauthenticated(e.to_string()),
        RelayRefused::Busy(a) => admission_status(a),
        _ => Status::internal(e.to_string()),
    }
}

/// The gRPC status for the organisation's own write that did not go through.
pub fn write_status(e: &WriteError) -> Status {
    match e {
        WriteError::Submit(s) => submit_status(s),
        WriteError::Storage { .. } | WriteError::Signing(_) | WriteError::ShuttingDown => {
            Status::unavailable(e.to_string())
        }
        WriteError::Failed { .. } => Status::failed_precondition(e.to_string()),
        WriteError::Timeout { .. } => Status::deadline_exceeded(e.to_string()),
        _ => Status::internal(e.to_string()),
    }
}

/// The gRPC status of a builder error: its kind gives the code, its text the message.
pub fn build_status(e: BuildError) -> Status {
    if let BuildError::Storage(source) = &e {
        tracing::error!(error = %source, "gateway request failed on the node side");
    }
    let message = e.to_string();
    match e.kind() {
        ErrorKind::InvalidInput => Status::invalid_argument(message),
        ErrorKind::PermissionDenied => Status::permission_denied(message),
        ErrorKind::NotFound => Status::not_found(message),
        ErrorKind::AlreadyExists => Status::already_exists(message),
        ErrorKind::FailedPrecondition => Status::failed_precondition(message),
        ErrorKind::OutOfRange => Status::out_of_range(message),
        ErrorKind::DataLoss => Status::data_loss(message),
        ErrorKind::Unavailable => Status::unavailable(message),
        ErrorKind::Internal => Status::internal(message),
    }
}

/// A failure on the node's side (storage, a damaged block): logged, and reported as
/// unavailable so that clients retry.
pub fn internal(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "request failed on the node side");
    Status::unavailable(format!("node storage error: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_refusal_round_trips_with_its_reason() {
        let r = RemoteRefusal {
            code: Code::AlreadyExists as i32,
            message: "nonce 3 of bank-a is used".into(),
            reason: Some("nonce_used".into()),
        };
        assert_eq!(remote_refusal(&remote_status(&r)), r);
    }

    #[test]
    fn a_write_that_failed_on_the_ledger_is_a_failed_precondition() {
        let e = WriteError::Failed {
            tx: ledger_types::Hash([1; 32]),
            height: 7,
            reason: "record r is owned by bank-b".into(),
        };
        let s = write_status(&e);
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(s.message().contains("committed at height 7 without effect"));
    }
}
