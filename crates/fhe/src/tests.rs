//! The small profile end to end: keys generated once per test binary, answers checked
//! against plaintext arithmetic, forged proofs, tampered results and refused decryptions.

use std::sync::OnceLock;

use tfhe::prelude::*;
use tfhe::zk::ZkComputeLoad;

use crate::*;

struct Fixture {
    secret: AnalyticsSecret,
    keys: PublicKeys,
    eval: Evaluator,
    authority: Authority,
}

/// One test at a time: each query already runs on the evaluator's threads, and the tests
/// share it; run together they would only contend for the cores.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static S: std::sync::Mutex<()> = std::sync::Mutex::new(());
    S.lock().unwrap_or_else(|p| p.into_inner())
}

/// The amount `value` encrypted once per test binary (the proofs cost about a second each):
/// queries over the same value reuse its ciphertext, as they would reuse a committed one.
fn amount(value: u64) -> EncryptedAmount {
    static CACHE: OnceLock<std::sync::Mutex<std::collections::HashMap<u64, EncryptedAmount>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(a) = cache.lock().unwrap().get(&value) {
        return a.clone();
    }
    let f = fixture();
    let a = encrypt_amount(&f.keys, value, &ctx("amounts", value as usize)).unwrap();
    f.eval
        .check_amount(&a, &ctx("amounts", value as usize))
        .unwrap();
    cache.lock().unwrap().insert(value, a.clone());
    a
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let secret = AnalyticsSecret::generate();
        let keys = PublicKeys::generate(&secret, Profile::Small).unwrap();
        let eval = Evaluator::new(&keys).unwrap();
        let authority = Authority::new(&secret);
        Fixture {
            secret,
            keys,
            eval,
            authority,
        }
    })
}

fn ctx(bank: &str, n: usize) -> Vec<u8> {
    format!("test-chain/{bank}/{n}").into_bytes()
}

/// Each bank's amounts, encrypted and checked as admission would.
fn encrypt_groups(groups: &[(&str, &[u64])]) -> Vec<Vec<EncryptedAmount>> {
    groups
        .iter()
        .map(|(_, amounts)| amounts.iter().map(|a| amount(*a)).collect())
        .collect()
}

/// Runs a query and has the authority decrypt it as an accepted result.
fn answer(q: Query, groups: &[Vec<EncryptedAmount>]) -> bool {
    let f = fixture();
    let mut steps = Vec::new();
    let r = f.eval.run(&q, groups, &mut |p| steps.push(p)).unwrap();
    assert_eq!(
        steps.len(),
        f.eval.steps(&q, groups),
        "the steps announced are the steps made"
    );
    assert_eq!(
        steps.last().map(|p| (p.done, p.total)),
        Some((steps.len(), steps.len()))
    );
    f.authority.decrypt_answer(&r.hash(), &r).unwrap()
}

#[test]
fn exposure_answers_match_plaintext_across_banks_and_buyers() {
    let _one = serial();
    // Two buyers financed by several banks; the first's total (380) exceeds the 8-bit
    // amount type. Each limit around the total: below, equal (the boundary), above.
    let buyer_a: [(&str, &[u64]); 3] =
        [("bank-1", &[120, 7]), ("bank-2", &[235]), ("bank-3", &[18])];
    let buyer_b: [(&str, &[u64]); 3] = [("bank-1", &[3]), ("bank-2", &[]), ("bank-3", &[40])];
    for (buyer, limits) in [
        (&buyer_a[..], &[379u64, 380, 381][..]),
        (&buyer_b[..], &[43, 42][..]),
    ] {
        let total: u64 = buyer.iter().flat_map(|(_, a)| a.iter()).sum();
        let groups = encrypt_groups(buyer);
        for &limit in limits {
            assert_eq!(
                answer(Query::Exposure { limit }, &groups),
                total > limit,
                "total {total}, limit {limit}"
            );
        }
    }
}

#[test]
fn totals_do_not_wrap_around_the_amount_type() {
    let _one = serial();
    // 3 x 255 = 765: above every 8-bit value; a sum wrapping at 8 bits would give 253.
    let groups = encrypt_groups(&[("bank-1", &[255, 255]), ("bank-2", &[255])]);
    assert!(answer(Query::Exposure { limit: 253 }, &groups));
    assert!(!answer(Query::Exposure { limit: 765 }, &groups));
    // A limit beyond the total type: the answer is no without computing a comparison.
    assert!(!answer(Query::Exposure { limit: u64::MAX }, &groups));
    // More amounts than a total can hold without wrapping are refused before any work.
    let one = encrypt_amount(&fixture().keys, 1, b"x").unwrap();
    let too_many = vec![vec![one; Profile::Small.max_amounts() + 1]];
    let err = fixture()
        .eval
        .run(&Query::Exposure { limit: 1 }, &too_many, &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("at most 256 amounts"), "{err}");
    // An amount beyond the profile is refused by the encryptor.
    let err = encrypt_amount(&fixture().keys, 256, b"x").unwrap_err();
    assert!(err.to_string().contains("at most 255"), "{err}");
}

#[test]
fn concentration_answers_match_plaintext_with_its_boundary() {
    let _one = serial();
    // 50 / 30 / 20: the first bank holds exactly half.
    let groups = encrypt_groups(&[("bank-1", &[25, 25]), ("bank-2", &[30]), ("bank-3", &[20])]);
    assert!(answer(Query::Concentration { share_percent: 49 }, &groups));
    assert!(!answer(Query::Concentration { share_percent: 50 }, &groups));
    assert!(!answer(Query::Concentration { share_percent: 75 }, &groups));
    // 100 x 510 overflows 16 bits: shares are compared in 32 (510 of 765 is 66.7%).
    let big = encrypt_groups(&[("bank-1", &[255, 255]), ("bank-2", &[255])]);
    assert!(answer(Query::Concentration { share_percent: 66 }, &big));
    assert!(!answer(Query::Concentration { share_percent: 67 }, &big));
    let err = fixture()
        .eval
        .run(
            &Query::Concentration { share_percent: 100 },
            &big,
            &mut |_| {},
        )
        .unwrap_err();
    assert!(err.to_string().contains("1 to 99"), "{err}");
}

#[test]
fn proofs_of_encryption_bind_key_context_and_bytes() {
    let _one = serial();
    let f = fixture();
    let c = encrypt_amount(&f.keys, 42, b"chain/record/7").unwrap();
    f.eval.check_amount(&c, b"chain/record/7").unwrap();
    // Replayed in another context.
    assert!(matches!(
        f.eval.check_amount(&c, b"chain/record/8"),
        Err(FheError::ProofInvalid)
    ));
    // Altered bytes: each must be refused, whether by decoding, conformance or the proof.
    let bytes = c.as_bytes();
    for i in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 40] {
        let mut b = bytes.to_vec();
        b[i] ^= 0x01;
        assert!(
            f.eval
                .check_amount(&EncryptedAmount::from_bytes(b), b"chain/record/7")
                .is_err(),
            "a flipped bit at {i} was accepted"
        );
    }
    assert!(f
        .eval
        .check_amount(
            &EncryptedAmount::from_bytes(bytes[..bytes.len() - 1].to_vec()),
            b"chain/record/7"
        )
        .is_err());
    // Encrypted under another chain's key (with this chain's CRS): the proof is about
    // another key.
    let other_ck = tfhe::ClientKey::generate(crate::tfhe_config());
    let other_pk = tfhe::CompactPublicKey::new(&other_ck);
    let foreign = tfhe::ProvenCompactCiphertextList::builder(&other_pk)
        .push_with_num_bits(42u64, 8)
        .unwrap()
        .build_with_proof_packed(&f.keys.crs, b"chain/record/7", ZkComputeLoad::Proof)
        .unwrap();
    let mut fb = Vec::new();
    tfhe::safe_serialization::safe_serialize(&foreign, &mut fb, 1 << 24).unwrap();
    assert!(matches!(
        f.eval
            .check_amount(&EncryptedAmount::from_bytes(fb), b"chain/record/7"),
        Err(FheError::ProofInvalid)
    ));
    // A proven list of the wrong size (16 bits where the profile says 8) is refused.
    let wrong = tfhe::ProvenCompactCiphertextList::builder(&f.keys.cpk)
        .push(42u16)
        .build_with_proof_packed(&f.keys.crs, b"chain/record/7", ZkComputeLoad::Proof)
        .unwrap();
    let mut wb = Vec::new();
    tfhe::safe_serialization::safe_serialize(&wrong, &mut wb, 1 << 24).unwrap();
    let err = f
        .eval
        .check_amount(&EncryptedAmount::from_bytes(wb), b"chain/record/7")
        .unwrap_err();
    assert!(err.to_string().contains("8-bit"), "{err}");
    // And the encryption is what it says.
    let list: tfhe::ProvenCompactCiphertextList =
        tfhe::safe_serialization::safe_deserialize(c.as_bytes(), 1 << 24).unwrap();
    tfhe::set_server_key(f.keys.server.decompress());
    let v: tfhe::FheUint8 = list
        .verify_and_expand(&f.keys.crs, &f.keys.cpk, b"chain/record/7")
        .unwrap()
        .get(0)
        .unwrap()
        .unwrap();
    let clear: u8 = v.decrypt(f.authority.client_key());
    assert_eq!(clear, 42);
}

#[test]
fn re_execution_reproduces_the_result_and_detects_a_tampered_one() {
    let _one = serial();
    let f = fixture();
    let groups = encrypt_groups(&[("bank-1", &[10]), ("bank-2", &[30])]);
    let q = Query::Exposure { limit: 35 };
    let first = f.eval.run(&q, &groups, &mut |_| {}).unwrap();
    // Another node: its own evaluator from the published bytes.
    let keys = PublicKeys::from_bytes(&f.keys.to_bytes().unwrap()).unwrap();
    assert_eq!(keys.id(), f.keys.id());
    let other = Evaluator::new(&keys).unwrap();
    let again = other.run(&q, &groups, &mut |_| {}).unwrap();
    assert_eq!(
        first.hash(),
        again.hash(),
        "re-execution must give the same bytes"
    );
    // A compute node that publishes another result (here: the answer to another limit) is
    // caught, because re-execution gives a different hash.
    let forged = f
        .eval
        .run(&Query::Exposure { limit: 45 }, &groups, &mut |_| {})
        .unwrap();
    assert_ne!(forged.hash(), first.hash());
    let mut flipped = first.bytes().to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_ne!(QueryResult::from_bytes(flipped).hash(), first.hash());
}

#[test]
fn the_authority_decrypts_only_accepted_results_and_only_booleans() {
    let _one = serial();
    let f = fixture();
    let groups = encrypt_groups(&[("bank-1", &[10])]);
    let accepted = f
        .eval
        .run(&Query::Exposure { limit: 5 }, &groups, &mut |_| {})
        .unwrap();
    assert!(f
        .authority
        .decrypt_answer(&accepted.hash(), &accepted)
        .unwrap());
    // Another ciphertext offered under the accepted hash.
    let other = f
        .eval
        .run(&Query::Exposure { limit: 50 }, &groups, &mut |_| {})
        .unwrap();
    let err = f
        .authority
        .decrypt_answer(&accepted.hash(), &other)
        .unwrap_err();
    assert!(matches!(err, FheError::NotAnAcceptedResult { .. }), "{err}");
    // An amount offered as a result, even with its own hash as "accepted": not a boolean.
    let amount = QueryResult::from_bytes(groups[0][0].as_bytes().to_vec());
    assert!(f.authority.decrypt_answer(&amount.hash(), &amount).is_err());
}

#[test]
fn public_keys_round_trip_and_refuse_damage() {
    let _one = serial();
    let f = fixture();
    let b = f.keys.to_bytes().unwrap();
    let b: &[u8] = &b;
    let k = PublicKeys::from_bytes(b).unwrap();
    // Read keys keep no copy of the file: serialised again, they are the same bytes.
    assert_eq!(k.to_bytes().unwrap().as_ref(), b);
    assert_eq!(k.id(), f.keys.id());
    assert_eq!(k.profile(), Profile::Small);
    assert!(PublicKeys::from_bytes(&b[..b.len() - 1]).is_err());
    assert!(PublicKeys::from_bytes(&b[1..]).is_err());
    let mut extra = b.to_vec();
    extra.push(0);
    assert!(PublicKeys::from_bytes(&extra).is_err());
    // The secret alone determines the client key: the authority can be restarted.
    let again =
        Authority::new(&AnalyticsSecret::from_bytes(f.secret.to_bytes().as_slice()).unwrap());
    let groups = encrypt_groups(&[("bank-1", &[9])]);
    let r = f
        .eval
        .run(&Query::Exposure { limit: 8 }, &groups, &mut |_| {})
        .unwrap();
    assert!(again.decrypt_answer(&r.hash(), &r).unwrap());
    assert_eq!(format!("{:?}", f.secret), "AnalyticsSecret(..)");
}
