//! `ledger-node-byzantine`: the node with a validator that misbehaves on request, for the
//! end-to-end tests that check honest validators refuse what it proposes. Never shipped:
//! the shipped `ledger-node` binary is built from `crates/node` alone and has none of this
//! code, whatever its environment says.
//!
//! `LEDGER_BYZANTINE=bad-signature` proposes blocks holding a transaction whose signature
//! does not verify; `LEDGER_BYZANTINE=bad-proof` blocks holding a record whose range proof
//! was made for another record. `LEDGER_BYZANTINE=lose-decided-block:<height>` is honest
//! but emulates a power loss at the worst moment: with the first decided block at or above
//! that height, it deletes the block it kept for the decision and dies before committing
//! it. `LEDGER_BYZANTINE=clock-ahead:<ms>` is honest but its clock is that far ahead, for
//! the blocks it builds and the proposals it checks. `LEDGER_BYZANTINE=equivocate` streams
//! two different valid blocks, both headers signed, for each height and round it proposes;
//! `LEDGER_BYZANTINE=withhold-parts` streams only the signed header part of its proposals.
//! `LEDGER_BYZANTINE=crash:<point>:<n>` is honest but dies (abort, as a power loss) the
//! `n`th time it reaches `point` of the consensus path's durable steps
//! (`proposal-saved`, `candidate-saved`, `before-commit`, `after-commit`, `after-prune`).
//! `LEDGER_BYZANTINE=hsm-logout:<ms>` is honest but, every `<ms>`, logs this process out
//! of every token of the PKCS#11 module `LEDGER_TEST_PKCS11_MODULE` (the login is shared by
//! all sessions of a process, so the node's sessions lose it, as when an HSM restarts):
//! the node must log in again and go on signing.
//! Any other value (or none) behaves honestly.

use std::sync::Arc;

use ledger_core::consensus::ConsensusHook;
use ledger_core::Ledger;
use ledger_state::{BuiltBlock, Execution};
use ledger_types::{Block, Commit};

/// The misbehaviour `LEDGER_BYZANTINE` asks for.
enum Byzantine {
    BadSignature,
    BadProof,
    LoseDecidedBlock(u64),
    ClockAhead(i64),
    Equivocate,
    WithholdParts,
    Crash {
        point: String,
        at: u64,
        passed: std::sync::atomic::AtomicU64,
    },
}

impl ConsensusHook for Byzantine {
    fn proposed(&self, ledger: &Ledger, built: BuiltBlock) -> (Block, Execution) {
        match self {
            Byzantine::BadSignature => byzantine_block(ledger, built),
            Byzantine::BadProof => byzantine_proof_block(ledger, built),
            Byzantine::LoseDecidedBlock(_)
            | Byzantine::ClockAhead(_)
            | Byzantine::Equivocate
            | Byzantine::WithholdParts
            | Byzantine::Crash { .. } => (
                Block::new(built.header, built.txs, Commit::default()),
                built.execution,
            ),
        }
    }

    fn crash_point(&self, reached: &'static str) {
        if let Byzantine::Crash { point, at, passed } = self {
            if point == reached
                && passed.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == *at
            {
                tracing::warn!(point = reached, "test hook: dying at a crash point");
                std::process::abort();
            }
        }
    }

    fn also_propose(&self, ledger: &Ledger, block: &Block) -> Option<Block> {
        if !matches!(self, Byzantine::Equivocate) {
            return None;
        }
        // The same mempool a millisecond later: a valid block with another hash.
        let built = ledger.build_next(block.header().timestamp_ms + 1).ok()?;
        let other = Block::new(built.header, built.txs, Commit::default());
        tracing::warn!(
            height = block.height(),
            first = %block.hash(),
            second = %other.hash(),
            "BYZANTINE TEST BUILD: equivocating, a second block for the same height and round"
        );
        Some(other)
    }

    fn parts_to_stream(&self, parts: usize) -> usize {
        if matches!(self, Byzantine::WithholdParts) {
            tracing::warn!("BYZANTINE TEST BUILD: withholding the proposal's parts");
            return 1;
        }
        parts
    }

    fn clock_skew_ms(&self) -> i64 {
        match self {
            Byzantine::ClockAhead(ms) => *ms,
            _ => 0,
        }
    }

    fn committing(&self, ledger: &Ledger, block: &Block) {
        if let Byzantine::LoseDecidedBlock(at) = self {
            if block.height() >= *at {
                // The engine's WAL holds the decision; the block kept for it goes.
                if let Err(e) = ledger.store.prune_consensus_blocks(block.height()) {
                    eprintln!("test hook: deleting the kept block failed: {e}");
                }
                tracing::warn!(
                    height = block.height(),
                    "test hook: losing the decided block and dying before the commit"
                );
                std::process::abort();
            }
        }
    }
}

/// Logs the process out of every token of `module` every `every`, forever (a thread).
fn hsm_logout(module: String, every: std::time::Duration) {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    std::thread::spawn(move || {
        let ctx = match Pkcs11::new(&module) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("test hook: loading {module}: {e}");
                return;
            }
        };
        // The node initialised the module already; this handle shares it (and is never
        // finalised, which would close the node's sessions for good).
        let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
        loop {
            std::thread::sleep(every);
            for slot in ctx.get_slots_with_token().unwrap_or_default() {
                if let Ok(session) = ctx.open_ro_session(slot) {
                    if session.logout().is_ok() {
                        tracing::warn!("test hook: logged this process out of the HSM");
                    }
                }
            }
        }
    });
}

fn main() {
    let mode = std::env::var("LEDGER_BYZANTINE").unwrap_or_default();
    if let Some(ms) = mode
        .strip_prefix("hsm-logout:")
        .and_then(|v| v.parse::<u64>().ok())
    {
        let module = std::env::var("LEDGER_TEST_PKCS11_MODULE")
            .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into());
        hsm_logout(module, std::time::Duration::from_millis(ms));
    }
    let consensus: Option<Arc<dyn ConsensusHook>> = match mode.as_str() {
        "bad-signature" => Some(Arc::new(Byzantine::BadSignature)),
        "bad-proof" => Some(Arc::new(Byzantine::BadProof)),
        "equivocate" => Some(Arc::new(Byzantine::Equivocate)),
        "withhold-parts" => Some(Arc::new(Byzantine::WithholdParts)),
        m if m.starts_with("crash:") => {
            let mut parts = m.splitn(3, ':').skip(1);
            match (
                parts.next(),
                parts.next().and_then(|n| n.parse::<u64>().ok()),
            ) {
                (Some(point), Some(at)) => Some(Arc::new(Byzantine::Crash {
                    point: point.to_string(),
                    at,
                    passed: 0.into(),
                }) as Arc<dyn ConsensusHook>),
                _ => {
                    eprintln!("LEDGER_BYZANTINE={m}: expected crash:<point>:<n>");
                    std::process::exit(2);
                }
            }
        }
        m => {
            let arg = |prefix: &str| m.strip_prefix(prefix).and_then(|v| v.parse::<i64>().ok());
            if let Some(h) = arg("lose-decided-block:") {
                Some(Arc::new(Byzantine::LoseDecidedBlock(h as u64)) as Arc<dyn ConsensusHook>)
            } else {
                arg("clock-ahead:")
                    .map(|ms| Arc::new(Byzantine::ClockAhead(ms)) as Arc<dyn ConsensusHook>)
            }
        }
    };
    ledger_node::main_with(ledger_node::Hooks { consensus });
}

/// Test-only: the block just built plus a transaction signed by a key that is not the
/// signer's, with the header's count and root recomputed so that only the signature is
/// wrong.
fn byzantine_block(ledger: &Ledger, built: ledger_state::BuiltBlock) -> (Block, Execution) {
    use ledger_types::{Payload, TxBody};
    // The next nonce, so that only the signature is wrong.
    let nonce = ledger_state::next_nonce(ledger.store.as_ref(), &ledger.org).unwrap_or(0);
    let forged_key = ledger_crypto::Ed25519SoftwareKey::generate();
    let body = TxBody {
        chain_id: ledger.chain_id.clone(),
        signer: ledger.org.clone(),
        nonce,
        payload: Payload::AuditAlert(ledger_types::AuditAlert {
            record: ledger_types::RecordId::new("forged").unwrap_or_else(|_| unreachable!()),
            version: 1,
            field: ledger_types::FieldName::new("forged").unwrap_or_else(|_| unreachable!()),
            owner: ledger.org.clone(),
            reason: "byzantine test".into(),
        }),
    };
    let mut txs = built.txs;
    if let Ok(forged) = ledger_crypto::sign_tx(&forged_key, body) {
        txs.push(forged);
    }
    forged_block(built.header, built.execution, txs, "a forged signature")
}

/// Test-only: the block just built plus a record signed by this validator with its next
/// nonce (so only the proof is wrong) whose range proof was made for another record.
fn byzantine_proof_block(ledger: &Ledger, built: ledger_state::BuiltBlock) -> (Block, Execution) {
    use ledger_types::{
        FieldCommitment, FieldName, KeyWrap, Payload, PutRecord, RecordField, RecordId,
        RecordRangeProof, SchemaId, TxBody,
    };
    let nonce = ledger_state::next_nonce(ledger.store.as_ref(), &ledger.org).unwrap_or(0);
    let field = FieldName::new("amount").unwrap_or_else(|_| unreachable!());
    let opening = ledger_proofs::Opening::new(1_000);
    let elsewhere = ledger_proofs::Context {
        chain_id: ledger.chain_id.to_string(),
        items: vec![("another-record".into(), 1, "amount".into())],
    };
    let mut txs = built.txs;
    if let Ok(proof) = ledger_proofs::prove_range(&elsewhere, std::slice::from_ref(&opening)) {
        let put = PutRecord {
            record: RecordId::new("forged-proof").unwrap_or_else(|_| unreachable!()),
            version: 1,
            schema: SchemaId::new("loan").unwrap_or_else(|_| unreachable!()),
            schema_version: 1,
            fields: vec![RecordField {
                name: field.clone(),
                sealed: vec![1; 69],
            }],
            wraps: vec![KeyWrap {
                field: field.clone(),
                reader: ledger.org.clone(),
                enc: vec![4; 65],
                wrapped: vec![5; 48],
            }],
            commitments: vec![FieldCommitment {
                field,
                commitment: opening.commit().to_bytes(),
            }],
            range_proof: Some(RecordRangeProof {
                padding: proof.padding.iter().map(|p| p.to_bytes()).collect(),
                proof: proof.proof,
            }),
            audit_handles: vec![],
            document_commitment: None,
            fhe_amounts: vec![],
        };
        let body = TxBody {
            chain_id: ledger.chain_id.clone(),
            signer: ledger.org.clone(),
            nonce,
            payload: Payload::PutRecord(put),
        };
        if let Ok(tx) = ledger_crypto::sign_tx(ledger.signer().as_ref(), body) {
            txs.push(tx);
        }
    }
    forged_block(built.header, built.execution, txs, "a forged range proof")
}

/// The header and execution of the block built, holding `txs` instead, with the header's
/// count and root recomputed so that only the forged transaction is wrong.
fn forged_block(
    mut header: ledger_types::BlockHeader,
    execution: Execution,
    txs: Vec<ledger_types::Transaction>,
    what: &str,
) -> (Block, Execution) {
    header.tx_count = txs.len() as u32;
    header.tx_root = ledger_types::merkle::tx_root(
        ledger_types::HashSuite::current(),
        &txs.iter().map(|t| t.hash()).collect::<Vec<_>>(),
    );
    tracing::warn!(
        height = header.height,
        "BYZANTINE TEST BUILD: proposing a block with {what}"
    );
    (Block::new(header, txs, Commit::default()), execution)
}
