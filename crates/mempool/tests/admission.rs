//! Mempool admission, ordering and bounds against a real (in-memory) state.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use ledger_crypto::{sign_tx, Ed25519SoftwareKey};
use ledger_mempool::{Mempool, MempoolConfig, Rejection};
use ledger_state::testing::{payload_schema, sealed_put, TestOrg};
use ledger_state::{build_block, genesis, ProposeParams, TxOutcome, TxRejection};
use ledger_types::*;

struct Fixture {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    bank: TestOrg,
    registrar: TestOrg,
    org: OrgId,
    chain: ChainId,
}

/// bank-a (validator, member) and a registrar that registered schema `payload` in block 1.
fn fixture() -> Fixture {
    let bank = TestOrg::new("bank-a");
    let registrar = TestOrg::new("registrar");
    let chain = ChainId::new("mp").unwrap();
    let txs = vec![
        bank.registration(&chain, &[Role::Validator, Role::Member]),
        registrar.registration(&chain, &[Role::Member]),
    ];
    let (genesis, ex) = genesis::genesis_block(&chain, 1, txs).unwrap();
    let mut state = BTreeMap::new();
    for (k, c) in ex.diff.iter() {
        state.insert(k.clone(), c.new.clone().unwrap());
    }
    let schema = registrar.sign(&chain, 1, Payload::RegisterSchema(payload_schema()));
    let built = build_block(
        &state,
        &ex.accumulator,
        genesis.header(),
        &ProposeParams {
            proposer: bank.id.clone(),
            timestamp_ms: 2,
            max_txs: 10,
            max_bytes: 1 << 20,
        },
        vec![schema],
        &(),
    )
    .unwrap();
    assert_eq!(built.execution.outcomes, vec![TxOutcome::Applied]);
    for (k, c) in built.execution.diff.iter() {
        state.insert(k.clone(), c.new.clone().unwrap());
    }
    Fixture {
        state,
        org: bank.id.clone(),
        bank,
        registrar,
        chain,
    }
}

impl Fixture {
    /// A PutRecord whose one field seals `size` plaintext bytes.
    fn put(&self, nonce: u64, record: &str, version: u32, size: usize) -> Transaction {
        let p = sealed_put(
            &self.chain,
            record,
            version,
            &payload_schema(),
            "payload",
            &vec![1; size],
            &[&self.bank],
        );
        self.bank.sign(&self.chain, nonce, Payload::PutRecord(p))
    }

    /// The same as `put`, signed by the registrar.
    fn put_by_registrar(&self, nonce: u64, record: &str) -> Transaction {
        let p = sealed_put(
            &self.chain,
            record,
            1,
            &payload_schema(),
            "payload",
            &[1; 8],
            &[&self.registrar],
        );
        self.registrar
            .sign(&self.chain, nonce, Payload::PutRecord(p))
    }

    fn pool(&self, config: MempoolConfig) -> Mempool {
        Mempool::new(self.chain.clone(), config)
    }
}

fn nonces(txs: &[Transaction]) -> Vec<u64> {
    txs.iter().map(|t| t.body().nonce).collect()
}

#[test]
fn out_of_order_arrivals_are_proposed_in_nonce_order_and_gaps_wait() {
    let f = fixture();
    let pool = f.pool(MempoolConfig::default());
    for n in [3, 1, 2, 5] {
        pool.admit(
            f.put(n, &format!("r{n}"), 1, 8).bytes(),
            &f.state,
            1,
            never_committed,
        )
        .unwrap();
    }
    let c = pool.candidates(&f.state, 100, 1 << 20).unwrap();
    assert_eq!(nonces(&c), vec![1, 2, 3], "nonce 5 waits for 4");
    assert_eq!(pool.next_free_nonce(&f.org, 1), 4);
    let c = pool.candidates(&f.state, 2, 1 << 20).unwrap();
    assert_eq!(nonces(&c), vec![1, 2], "max_txs is respected");
}

#[test]
fn duplicates_and_taken_nonces_are_refused() {
    let f = fixture();
    let pool = f.pool(MempoolConfig::default());
    let tx = f.put(1, "a", 1, 8);
    pool.admit(tx.bytes(), &f.state, 1, never_committed)
        .unwrap();
    assert_eq!(
        pool.admit(tx.bytes(), &f.state, 1, never_committed),
        Err(Rejection::Duplicate(tx.hash()))
    );
    let other = f.put(1, "b", 1, 8);
    assert!(matches!(
        pool.admit(other.bytes(), &f.state, 1, never_committed),
        Err(Rejection::NoncePending { nonce: 1, pending, .. }) if pending == tx.hash()
    ));
}

#[test]
fn pipelined_versions_of_one_record_are_admitted() {
    let f = fixture();
    let pool = f.pool(MempoolConfig::default());
    pool.admit(f.put(1, "inv", 1, 8).bytes(), &f.state, 1, never_committed)
        .unwrap();
    pool.admit(f.put(2, "inv", 2, 8).bytes(), &f.state, 1, never_committed)
        .unwrap();
    // With nothing pending before it, a wrong version is refused up front.
    let f2 = fixture();
    let pool2 = f2.pool(MempoolConfig::default());
    assert!(matches!(
        pool2.admit(
            f2.put(1, "inv", 2, 8).bytes(),
            &f2.state,
            1,
            never_committed
        ),
        Err(Rejection::WouldFail(_))
    ));
}

#[test]
fn bounds_are_enforced() {
    let f = fixture();
    let pool = f.pool(MempoolConfig {
        max_txs: 2,
        max_bytes: 1 << 20,
        max_tx_bytes: 1024,
        max_nonce_gap: 10,
        ..MempoolConfig::default()
    });
    pool.admit(f.put(1, "a", 1, 8).bytes(), &f.state, 1, never_committed)
        .unwrap();
    pool.admit(f.put(2, "b", 1, 8).bytes(), &f.state, 1, never_committed)
        .unwrap();
    assert!(matches!(
        pool.admit(f.put(3, "c", 1, 8).bytes(), &f.state, 1, never_committed),
        Err(Rejection::Full { txs: 2, .. })
    ));
    assert!(matches!(
        pool.admit(f.put(3, "c", 1, 2000).bytes(), &f.state, 1, never_committed),
        Err(Rejection::TooLarge { max: 1024, .. })
    ));
    assert!(matches!(
        pool.admit(f.put(12, "c", 1, 8).bytes(), &f.state, 1, never_committed),
        Err(Rejection::NonceTooFarAhead {
            got: 12,
            next: 1,
            max_gap: 10,
            ..
        })
    ));
    let by_bytes = f.pool(MempoolConfig {
        // Each put carries ~260 bytes of envelope, sealing overhead and key wrap.
        max_txs: 100,
        max_bytes: 600,
        max_tx_bytes: 1024,
        max_nonce_gap: 10,
        ..MempoolConfig::default()
    });
    by_bytes
        .admit(f.put(1, "a", 1, 100).bytes(), &f.state, 1, never_committed)
        .unwrap();
    assert!(matches!(
        by_bytes.admit(f.put(2, "b", 1, 200).bytes(), &f.state, 1, never_committed),
        Err(Rejection::Full { .. })
    ));
}

#[test]
fn committed_and_stale_transactions_are_removed() {
    let mut f = fixture();
    let pool = f.pool(MempoolConfig::default());
    let t1 = f.put(1, "a", 1, 8);
    let t2 = f.put(2, "b", 1, 8);
    pool.admit(t1.bytes(), &f.state, 1, never_committed)
        .unwrap();
    pool.admit(t2.bytes(), &f.state, 1, never_committed)
        .unwrap();
    // Another node's block included both nonces (as a different t2); state now says next = 3.
    f.state.insert(
        ledger_state::keys::nonce(&f.org),
        3u64.to_be_bytes().to_vec(),
    );
    pool.remove_committed([&t1], [], &f.state).unwrap();
    assert!(pool.is_empty(), "t2's nonce is used: it is stale");
    assert_eq!(pool.bytes(), 0);
}

#[test]
fn each_refusal_has_its_own_code() {
    let f = fixture();
    let pool = f.pool(MempoolConfig::default());
    let malformed = pool
        .admit(&[1, 2, 3], &f.state, 1, never_committed)
        .unwrap_err();
    assert_eq!(malformed.code(), "malformed");
    let other = Ed25519SoftwareKey::generate();
    let forged = sign_tx(&other, f.put(1, "a", 1, 8).body().clone()).unwrap();
    let bad_sig = pool
        .admit(forged.bytes(), &f.state, 1, never_committed)
        .unwrap_err();
    assert_eq!(bad_sig.code(), "bad_signature");
    let mut body = f.put(1, "a", 1, 8).body().clone();
    body.chain_id = ChainId::new("elsewhere").unwrap();
    let wrong_chain = pool
        .admit(
            sign_tx(&f.bank.key, body).unwrap().bytes(),
            &f.state,
            1,
            never_committed,
        )
        .unwrap_err();
    assert_eq!(wrong_chain.code(), "wrong_chain");
    assert!(matches!(
        wrong_chain,
        Rejection::Invalid(TxRejection::WrongChain { .. })
    ));
    let replay = pool
        .admit(f.put(0, "a", 1, 8).bytes(), &f.state, 1, never_committed)
        .unwrap_err();
    assert_eq!(replay.code(), "nonce_replayed");
    assert!(pool.is_empty());
}

#[test]
fn one_endorsement_per_member_and_topic_waits_and_is_purged_once_spent() {
    let mut f = fixture();
    let pool = f.pool(MempoolConfig::default());
    let topic = Topic::new("alert.INV-9").unwrap();
    let sign = |f: &Fixture, statement: u8, topic: &Topic| {
        let ring = ledger_state::member_ring(&f.state, 1).unwrap().unwrap();
        ledger_state::sign_endorsement(
            &f.chain,
            &ring.keys,
            1,
            topic,
            [statement; 32],
            &f.bank.ring,
        )
        .unwrap()
    };
    let first = sign(&f, 1, &topic);
    pool.admit(first.bytes(), &f.state, 2, never_committed)
        .unwrap();
    // The same member again on the same topic: refused while the first waits, naming it.
    let again = sign(&f, 2, &topic);
    let err = pool
        .admit(again.bytes(), &f.state, 2, never_committed)
        .unwrap_err();
    assert_eq!(err.code(), "endorsement_pending");
    assert!(err.to_string().contains(&first.hash().to_string()), "{err}");
    // Another topic is another slot; anonymous entries are proposed like any other.
    let other = sign(&f, 1, &Topic::new("ballot.q4").unwrap());
    pool.admit(other.bytes(), &f.state, 2, never_committed)
        .unwrap();
    let mut proposed = pool.candidates(&f.state, 10, 1 << 20).unwrap();
    proposed.sort_by_key(|t| t.hash());
    let mut expected = vec![first.clone(), other.clone()];
    expected.sort_by_key(|t| t.hash());
    assert_eq!(proposed, expected);
    // A forged one is refused as such.
    let Payload::Endorse(mut e) = again.body().payload.clone() else {
        unreachable!()
    };
    e.statement = [9; 32];
    let forged = Transaction::anonymous(f.chain.clone(), e);
    let err = pool
        .admit(forged.bytes(), &f.state, 2, never_committed)
        .unwrap_err();
    assert_eq!(err.code(), "bad_endorsement");
    // Another node's block carried `again`: `first` can never apply and is purged.
    let built = build_block(
        &f.state,
        &ledger_crypto::LtHash16::new(),
        &genesis_like(&f),
        &ProposeParams {
            proposer: f.org.clone(),
            timestamp_ms: 3,
            max_txs: 10,
            max_bytes: 1 << 20,
        },
        vec![again.clone()],
        &(),
    )
    .unwrap();
    assert_eq!(built.txs, vec![again.clone()]);
    for (k, c) in built.execution.diff.iter() {
        f.state.insert(k.clone(), c.new.clone().unwrap());
    }
    pool.remove_committed([&again], [], &f.state).unwrap();
    assert!(!pool.contains(&first.hash()), "its key image is spent");
    assert!(pool.contains(&other.hash()));
    let err = pool
        .admit(first.bytes(), &f.state, 3, never_committed)
        .unwrap_err();
    assert_eq!(err.code(), "already_endorsed");
}

/// A parent header at height 1 on the fixture's chain (block building only reads its
/// chain id, height, hash and timestamp).
fn genesis_like(f: &Fixture) -> BlockHeader {
    BlockHeader {
        chain_id: f.chain.clone(),
        height: 1,
        prev_hash: Hash([0; 32]),
        timestamp_ms: 2,
        proposer: f.org.clone(),
        tx_count: 0,
        tx_root: Hash([0; 32]),
        state_root: Hash([0; 32]),
    }
}

fn never_committed(_: &Hash) -> Result<Option<u64>, ledger_state::StateError> {
    Ok(None)
}

#[test]
fn one_signers_gapped_nonces_do_not_keep_another_signer_out() {
    let f = fixture();
    let pool = f.pool(MempoolConfig {
        max_gapped_per_signer: 3,
        ..MempoolConfig::default()
    });
    let admit = |tx: &Transaction| pool.admit(tx.bytes(), &f.state, 1, never_committed);
    // bank-a's next nonce is 1: nonces 5.. wait behind a gap, three at most.
    for n in 5..8 {
        admit(&f.put(n, &format!("g{n}"), 1, 8)).unwrap();
    }
    assert_eq!(pool.gapped(&f.org), 3);
    let refused = admit(&f.put(9, "g9", 1, 8)).unwrap_err();
    assert!(
        matches!(
            refused,
            Rejection::TooManyGapped {
                gapped: 3,
                max: 3,
                next_missing: 1,
                ..
            }
        ),
        "{refused}"
    );
    assert_eq!(refused.code(), "too_many_gapped");
    // Another signer is not kept out (its next nonce is 2: it registered the schema).
    admit(&f.put_by_registrar(2, "reg")).unwrap();
    // bank-a's own includable nonces are never refused for its gaps; filling the gap
    // turns the waiting ones into a run, and the quota frees up.
    for n in 1..5 {
        admit(&f.put(n, &format!("r{n}"), 1, 8)).unwrap();
    }
    assert_eq!(pool.gapped(&f.org), 0);
    assert_eq!(pool.next_free_nonce(&f.org, 1), 8);
    admit(&f.put(9, "g9", 1, 8)).unwrap();
    assert_eq!(pool.gapped(&f.org), 1);
    let c = pool.candidates(&f.state, 100, 1 << 20).unwrap();
    assert_eq!(c.len(), 8, "bank-a 1..=7 and the registrar's 2");
}

#[test]
fn transactions_waiting_behind_a_gap_expire() {
    let f = fixture();
    let pool = f.pool(MempoolConfig {
        gapped_ttl: std::time::Duration::from_secs(60),
        ..MempoolConfig::default()
    });
    let gapped = f.put(3, "late", 1, 8);
    let ready = f.put(1, "now", 1, 8);
    for tx in [&gapped, &ready] {
        pool.admit(tx.bytes(), &f.state, 1, never_committed)
            .unwrap();
    }
    let now = std::time::Instant::now();
    assert_eq!(pool.expire_gapped(now), 0, "not yet");
    assert_eq!(
        pool.expire_gapped(now + std::time::Duration::from_secs(61)),
        1
    );
    assert!(!pool.contains(&gapped.hash()));
    assert!(pool.contains(&ready.hash()), "includable ones never expire");
    assert_eq!(pool.gapped(&f.org), 0);
}

#[test]
fn the_gap_count_matches_a_recount_whatever_arrives_or_commits() {
    // The count of waiting-behind-a-gap transactions is kept incrementally: check it
    // against a recount from scratch over a long pseudo-random run of admissions,
    // removals and commits.
    let mut f = fixture();
    let pool = f.pool(MempoolConfig {
        max_gapped_per_signer: 1_000,
        ..MempoolConfig::default()
    });
    let mut txs: BTreeMap<u64, Transaction> = BTreeMap::new();
    let mut next = 1u64;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut most_gapped = 0;
    for step in 0..600 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let nonce = next + rng % 12;
        match rng % 10 {
            0 => {
                // A commit of the run's first transactions (as another node's block).
                let run = pool.candidates(&f.state, 3, 1 << 20).unwrap();
                if let Some(last) = run.last() {
                    next = last.body().nonce + 1;
                    f.state.insert(
                        ledger_state::keys::nonce(&f.org),
                        next.to_be_bytes().to_vec(),
                    );
                    pool.remove_committed(&run, [], &f.state).unwrap();
                    txs.retain(|n, _| *n >= next);
                }
            }
            1 => {
                // A transaction dropped (as a proposer drops one that no longer applies).
                if let Some((&n, tx)) = txs.iter().nth((rng % 7) as usize) {
                    let h = tx.hash();
                    pool.remove_committed([], [&h], &f.state).unwrap();
                    txs.remove(&n);
                }
            }
            _ => {
                let tx = f.put(nonce, &format!("s{step}"), 1, 8);
                if pool.admit(tx.bytes(), &f.state, 1, never_committed).is_ok() {
                    txs.insert(nonce, tx);
                }
            }
        }
        let mut run_end = next;
        while txs.contains_key(&run_end) {
            run_end += 1;
        }
        let expected = txs.range(run_end..).count();
        most_gapped = most_gapped.max(expected);
        assert_eq!(pool.gapped(&f.org), expected, "step {step}");
        assert_eq!(pool.next_free_nonce(&f.org, next), run_end, "step {step}");
        assert_eq!(pool.len(), txs.len(), "step {step}");
    }
    assert!(most_gapped >= 4, "the run made gaps ({most_gapped})");
}

#[test]
fn the_transaction_index_is_read_only_when_the_nonce_says_the_transaction_can_be_committed() {
    use std::cell::Cell;
    let mut f = fixture();
    let t1 = f.put(1, "a", 1, 8);
    let calls = Cell::new(0u32);
    let index = |h: &Hash| {
        calls.set(calls.get() + 1);
        Ok((*h == t1.hash()).then_some(7))
    };
    // A new transaction (its nonce not reached by the chain) cannot be committed: the
    // index, which misses for every new transaction, is not read.
    let pool = f.pool(MempoolConfig::default());
    pool.admit(t1.bytes(), &f.state, 1, index).unwrap();
    assert_eq!(calls.get(), 0);

    // Once the chain used nonce 1, t1 resent is named as committed (where), and another
    // transaction with that nonce as a replay: each answer needs the index, read once.
    f.state.insert(
        ledger_state::keys::nonce(&f.org),
        2u64.to_be_bytes().to_vec(),
    );
    let pool = f.pool(MempoolConfig::default());
    let again = pool.admit(t1.bytes(), &f.state, 2, index).unwrap_err();
    assert!(
        matches!(again, Rejection::AlreadyCommitted { hash, height: 7 } if hash == t1.hash()),
        "{again}"
    );
    assert_eq!(again.code(), "already_committed");
    assert_eq!(calls.get(), 1);
    let other = pool
        .admit(f.put(1, "b", 1, 8).bytes(), &f.state, 2, index)
        .unwrap_err();
    assert_eq!(other.code(), "nonce_replayed");
    assert_eq!(calls.get(), 2);
    let next = pool.admit(f.put(2, "b", 1, 8).bytes(), &f.state, 2, index);
    assert!(next.is_ok(), "{next:?}");
    assert_eq!(calls.get(), 2);
    assert_eq!(
        ledger_mempool::committed_height(&t1, &f.state, index).unwrap(),
        Some(7)
    );
}

/// A transaction counts as verified only under the keys its checks ran with: one admitted
/// before a block changed a key, or whose batch was checked before it (`checked_at` older
/// than the generation), waits but is checked again by the block that includes it.
#[test]
fn a_key_change_leaves_what_was_checked_before_it_unverified() {
    let f = fixture();
    let pool = f.pool(MempoolConfig::default());
    let before = f.put(1, "a", 1, 8);
    pool.admit(before.bytes(), &f.state, 1, never_committed)
        .unwrap();
    assert!(pool.verified(&before.hash()));
    let checked_at = pool.keys_generation();
    pool.keys_changed();
    assert!(pool.contains(&before.hash()));
    assert!(!pool.verified(&before.hash()), "checked under the old keys");
    // A batch checked before the change, admitted after it.
    let raced = f.put(2, "b", 1, 8);
    pool.admit_with(raced.bytes(), &f.state, 1, never_committed, &(), checked_at)
        .unwrap();
    assert!(pool.contains(&raced.hash()) && !pool.verified(&raced.hash()));
    // Checked after it.
    let after = f.put(3, "c", 1, 8);
    pool.admit(after.bytes(), &f.state, 1, never_committed)
        .unwrap();
    assert!(pool.verified(&after.hash()));
    assert_eq!(
        nonces(&pool.candidates(&f.state, 10, 1 << 20).unwrap()),
        vec![1, 2, 3],
        "they all wait to be proposed"
    );
}
