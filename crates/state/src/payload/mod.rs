//! One handler per payload kind, in the style of penumbra's action handlers: each module
//! holds what its kind checks and what it writes, and the executor (`crate::exec`) runs
//! them in a fixed order for every transaction, whether admitted to the mempool, put in a
//! block by a proposer, or validated in someone else's block.
//!
//! For a signed transaction the executor checks the chain, the signer, the nonce, the
//! signature and the stateless proofs ([`verify_proofs`]), then the payload's stateful
//! checks ([`PayloadHandler::check_stateful`]; a failure refuses the transaction), then
//! executes it ([`PayloadHandler::execute`]; a failure leaves it in the block without
//! effect, its nonce consumed). Handlers read state through [`Ctx`] and return their
//! writes; they write nothing themselves. `Endorse` (anonymous, no nonce) and
//! `RegisterMember` (genesis only) have their own entry points in their modules.

pub(crate) mod analytics;
pub(crate) mod audit_alert;
pub(crate) mod cross_check;
pub(crate) mod endorse;
pub(crate) mod finance;
pub(crate) mod govern;
pub(crate) mod grant;
pub(crate) mod record;
pub(crate) mod register_member;
pub(crate) mod revoke;
pub(crate) mod rotate_key;
pub(crate) mod schema;

use ledger_types::{ChainId, Hash, OrgId, Payload, RegisterMember, Transaction};

use crate::error::{ExecError, TxFailure, TxRejection};
use crate::StateView;

/// The key-value pairs a payload writes, in the order it writes them.
pub(crate) type Writes = Vec<(Vec<u8>, Vec<u8>)>;

/// What a handler reads: state as of its transaction (the block's earlier transactions
/// applied), and where the transaction is executed.
pub(crate) struct Ctx<'a, V> {
    /// State before this transaction.
    pub(crate) view: &'a V,
    /// The chain.
    pub(crate) chain_id: &'a ChainId,
    /// The height of the block the transaction is in (or would be in).
    pub(crate) height: u64,
}

/// Which roles may send each signed payload kind (any one of them), with their names for
/// messages. Empty: every member of the directory (governance weights, record ownership
/// and the like decide). `Endorse` (the member ring) and `RegisterMember` (genesis or
/// admission) have their own paths. What a role may put is narrowed further where the
/// payload says more: a corporate puts purchase orders and invoices, a carrier delivery
/// notes ([`record::check_put`]).
pub fn roles_for(kind: ledger_types::TxKind) -> (&'static [ledger_types::Role], &'static str) {
    use ledger_types::{Role as R, TxKind as K};
    match kind {
        K::PutRecord | K::GrantAccess | K::RevokeAccess => (
            &[R::Member, R::Corporate, R::Carrier],
            "member, corporate or carrier",
        ),
        K::RegisterSchema => (&[R::Member, R::Operator], "member or operator"),
        K::AuditAlert => (&[R::Regulator], "regulator"),
        K::CrossCheck => (
            &[R::Member, R::Regulator, R::Corporate, R::Carrier],
            "member, regulator, corporate or carrier",
        ),
        K::FinanceRequest => (&[R::Member, R::Corporate], "member or corporate"),
        K::Analytics => (
            &[R::Member, R::Regulator, R::Validator],
            "member, regulator or validator",
        ),
        K::Govern | K::RotateKey | K::Endorse | K::RegisterMember => (&[], "any"),
        // A kind this version does not know: banks only, until its rule is written.
        _ => (&[R::Member], "member"),
    }
}

/// The checks and the effect of a signed payload.
pub(crate) trait PayloadHandler {
    /// Checks against state that decide whether the transaction may be in a block at all,
    /// run on every execution: a failure refuses it. Most kinds have none.
    fn check_stateful<V: StateView>(&self, _ctx: &Ctx<'_, V>) -> Result<(), TxRejection> {
        Ok(())
    }

    /// The payload's effect when `signer` signed it in transaction `tx_hash`: its writes,
    /// or why it has none.
    fn execute<V: StateView>(
        &self,
        ctx: &Ctx<'_, V>,
        signer: &RegisterMember,
        tx_hash: Hash,
    ) -> Result<Writes, ExecError>;
}

/// The stateful checks of a signed payload (see [`PayloadHandler::check_stateful`]).
///
/// `verified`: the transaction's signature and proofs were verified already (see
/// [`crate::SignatureCache`]), including a cross-check's proof over stored commitments.
pub(crate) fn check_stateful<V: StateView>(
    ctx: &Ctx<'_, V>,
    signer: &OrgId,
    payload: &Payload,
    verified: bool,
) -> Result<(), TxRejection> {
    match payload {
        Payload::PutRecord(p) => p.check_stateful(ctx),
        Payload::GrantAccess(g) => g.check_stateful(ctx),
        Payload::RevokeAccess(r) => r.check_stateful(ctx),
        Payload::AuditAlert(a) => a.check_stateful(ctx),
        Payload::CrossCheck(c) => cross_check::check_proof(c, ctx, signer, verified),
        Payload::FinanceRequest(f) => f.check_stateful(ctx),
        Payload::RegisterSchema(s) => s.check_stateful(ctx),
        _ => Ok(()),
    }
}

/// The effect of a signed payload (see [`PayloadHandler::execute`]).
pub(crate) fn execute<V: StateView>(
    ctx: &Ctx<'_, V>,
    signer: &RegisterMember,
    tx_hash: Hash,
    payload: &Payload,
) -> Result<Writes, ExecError> {
    let (roles, names) = roles_for(payload.kind());
    if !roles.is_empty() && !roles.iter().any(|r| signer.has_role(*r)) {
        return Err(TxFailure::MissingRole {
            signer: signer.org.clone(),
            role: names,
            kind: payload.kind().name(),
        }
        .into());
    }
    match payload {
        Payload::PutRecord(p) => p.execute(ctx, signer, tx_hash),
        Payload::GrantAccess(g) => g.execute(ctx, signer, tx_hash),
        Payload::RevokeAccess(r) => r.execute(ctx, signer, tx_hash),
        Payload::AuditAlert(a) => a.execute(ctx, signer, tx_hash),
        Payload::CrossCheck(c) => c.execute(ctx, signer, tx_hash),
        Payload::FinanceRequest(f) => f.execute(ctx, signer, tx_hash),
        Payload::RegisterSchema(s) => s.execute(ctx, signer, tx_hash),
        Payload::Govern(g) => g.execute(ctx, signer, tx_hash),
        Payload::RotateKey(r) => r.execute(ctx, signer, tx_hash),
        Payload::Analytics(a) => a.execute(ctx, signer, tx_hash),
        // Refused before execution (`register_member::after_genesis`); kept so that a
        // registration could never apply here.
        Payload::RegisterMember(_) => Err(TxFailure::MissingRole {
            signer: signer.org.clone(),
            role: "genesis",
            kind: "RegisterMember",
        }
        .into()),
        #[allow(unreachable_patterns)]
        _ => Err(TxFailure::MissingRole {
            signer: signer.org.clone(),
            role: "unknown",
            kind: payload.kind().name(),
        }
        .into()),
    }
}

/// Verifies the proofs a transaction carries, which depend on nothing but the transaction,
/// the chain and the members' registered keys: a record's range proof over its
/// commitments, bound to the chain and to each commitment's record, version and field.
/// (Which fields must be committed is a matter of the schema, checked at execution.)
pub fn verify_proofs<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    tx: &Transaction,
) -> Result<(), TxRejection> {
    let started = std::time::Instant::now();
    let r = add_proofs(
        view,
        chain_id,
        tx,
        &mut ledger_proofs::BatchVerifier::new(),
        true,
    );
    if carries_proofs(tx) {
        ledger_metrics::metrics().proofs_verified(RANGE_AND_SIGMA, 1, started.elapsed());
    }
    r
}

/// The metrics label of range proofs and sigma proofs (audit handles) verified together.
pub(crate) const RANGE_AND_SIGMA: &str = "range_and_sigma";

/// Whether a transaction carries stateless proofs ([`add_proofs`]).
pub(crate) fn carries_proofs(tx: &Transaction) -> bool {
    let put = match &tx.body().payload {
        Payload::PutRecord(p) => p,
        Payload::RevokeAccess(r) => &r.put,
        _ => return false,
    };
    put.range_proof.is_some() || !put.audit_handles.is_empty()
}

/// Adds a transaction's stateless proofs to `batch`; refuses malformed ones at once.
/// With `each`, every proof is checked as soon as it is added (so that a failure names
/// its proof).
pub(crate) fn add_proofs<V: StateView>(
    view: &V,
    chain_id: &ChainId,
    tx: &Transaction,
    batch: &mut ledger_proofs::BatchVerifier,
    each: bool,
) -> Result<(), TxRejection> {
    match &tx.body().payload {
        Payload::PutRecord(p) => record::add_proofs(view, chain_id, p, batch, each),
        Payload::RevokeAccess(r) => record::add_proofs(view, chain_id, &r.put, batch, each),
        _ => Ok(()),
    }
}
