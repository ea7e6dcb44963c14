//! The multi-party setup: four contributions in each phase verify, the keys they give
//! prove and verify, and a tampered contribution is found and named. Run on the financing
//! circuit (the smallest: a domain of 2^12), the same code as for every circuit.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ark_ff::One;
use ledger_circuits::ceremony::{
    domain_size, verify_circuit, verify_powers, CeremonyError, CircuitState, Powers,
};
use ledger_circuits::*;

const BANKS: [&str; 4] = ["bank-a", "bank-b", "bank-c", "bank-d"];

fn delivery() -> Document {
    Document::new(
        DocumentKind::DeliveryNote,
        "acme-exports",
        "globex-imports",
        "swift-freight",
        "DN-1",
        "PO-1",
        20_000,
        vec![Line {
            unit_price: 0,
            quantity: 3,
            total: 0,
        }],
        0,
    )
    .unwrap()
}

#[test]
fn four_contributions_give_keys_that_prove_and_a_tampered_one_is_named() {
    let id = CircuitId::Finance;
    let n = domain_size(id).unwrap();
    assert_eq!(n, 4096);
    let mut rng = rand::rngs::OsRng;

    // Phase 1: powers of tau, each bank in turn, each checking the one before.
    let mut powers = vec![Powers::initial(n)];
    let mut updates = Vec::new();
    for who in BANKS {
        let (next, update) = powers.last().unwrap().contribute(who, &mut rng);
        powers
            .last()
            .unwrap()
            .verify_update(&next, &update)
            .unwrap();
        assert_eq!(update.who, who);
        powers.push(next);
        updates.push(update);
    }
    // The states read back as written (a transcript on disk).
    let last = Powers::from_bytes(&powers[4].to_bytes()).unwrap();
    assert!(last == powers[4]);

    // A contribution replayed under another name, or against another state, fails.
    let mut renamed = updates[2].clone();
    renamed.who = "bank-z".into();
    let e = powers[2].verify_update(&powers[3], &renamed).unwrap_err();
    assert!(e.contains("proof of knowledge"), "{e}");
    assert!(powers[1].verify_update(&powers[3], &updates[2]).is_err());
    verify_powers(&powers, &updates).unwrap();
    // A state with one point changed (a tampered transcript) fails the check of the
    // contribution that produced it, which the transcript check names.
    let mut tampered = powers.clone();
    tampered[3] = swap_a_power(&powers[3], &powers[4]);
    let e = tampered[2]
        .verify_update(&tampered[3], &updates[2])
        .unwrap_err();
    assert!(e.contains("powers of tau"), "{e}");
    match verify_powers(&tampered, &updates) {
        Err(CeremonyError::BadContribution { index, who, .. }) => {
            assert_eq!((index, who.as_str()), (3, "bank-c"))
        }
        other => panic!("the tampered contribution was not named: {other:?}"),
    }

    // Phase 2: the circuit's keys from the final powers, then each bank's δ.
    let mut states = vec![powers[4].circuit_keys(id).unwrap()];
    let mut deltas = Vec::new();
    for who in BANKS {
        let (next, update) = states.last().unwrap().contribute(who, &mut rng);
        states
            .last()
            .unwrap()
            .verify_update(&next, &update)
            .unwrap();
        states.push(next);
        deltas.push(update);
    }
    let back = CircuitState::from_bytes(id, &states[4].to_bytes()).unwrap();
    assert_eq!(back.hash(), states[4].hash());
    verify_circuit(&powers[4], id, &states, &deltas).unwrap();
    // A phase-2 state whose last L point comes from another contribution: named.
    let (other, _) = states[2].contribute("bank-x", &mut rng);
    let mut bytes = states[3].to_bytes();
    let len = bytes.len();
    bytes[len - 64..].copy_from_slice(&other.to_bytes()[len - 64..]);
    let mut bad = states.clone();
    bad[3] = CircuitState::from_bytes(id, &bytes).unwrap();
    let e = bad[2].verify_update(&bad[3], &deltas[2]).unwrap_err();
    assert!(e.contains("L query"), "{e}");
    match verify_circuit(&powers[4], id, &bad, &deltas) {
        Err(CeremonyError::BadContribution { index, who, .. }) => {
            assert_eq!((index, who.as_str()), (3, "bank-c"))
        }
        other => panic!("the tampered contribution was not named: {other:?}"),
    }
    // Phase 2 must start from the final powers.
    assert!(verify_circuit(&powers[3], id, &states, &deltas).is_err());

    // The keys prove and verify; the development keys' proofs do not verify under them.
    let (pk, vk) = states[4].keys().unwrap();
    let binding = finance_binding(&FinanceTerms {
        chain_id: "ceremony-test",
        seller: "acme-exports",
        bank: "bank-b",
        invoice: ("INV-1", 1),
        delivery: ("DN-1", 1),
    });
    let dn = delivery();
    let (proof, public) = prove_finance(&pk, &dn, binding).unwrap();
    vk.verify(&public, &proof).unwrap();
    let mut wrong = public.clone();
    wrong[1] += Fr::one();
    assert!(vk.verify(&wrong, &proof).is_err());
    let (dev_pk, _) = dev_keys(id).unwrap();
    let (dev_proof, _) = prove_finance(&dev_pk, &dn, binding).unwrap();
    assert!(vk.verify(&public, &dev_proof).is_err());
    // Each contribution moved the keys.
    assert_ne!(states[3].keys().unwrap().1.fingerprint(), vk.fingerprint());
}

/// `p` with its G1 power 100 taken from `other`: a valid point, but no longer the power
/// its contribution proved.
fn swap_a_power(p: &Powers, other: &Powers) -> Powers {
    let mut a = p.to_bytes();
    let b = other.to_bytes();
    // Layout: a u64 length, then the G1 powers (64 bytes each, uncompressed).
    let start = 8 + 100 * 64;
    a[start..start + 64].copy_from_slice(&b[start..start + 64]);
    Powers::from_bytes(&a).unwrap()
}
