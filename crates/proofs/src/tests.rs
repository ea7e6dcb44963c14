use super::*;
use proptest::prelude::*;

fn ctx(items: &[(&str, u32, &str)]) -> Context {
    Context {
        chain_id: "test-chain".into(),
        items: items
            .iter()
            .map(|(r, v, f)| (r.to_string(), *v, f.to_string()))
            .collect(),
    }
}

#[test]
fn openings_round_trip_and_check_their_commitment() {
    let o = Opening::new(120_000);
    let c = o.commit();
    let back = Opening::from_bytes(&o.to_bytes()).unwrap();
    assert!(back.opens(&c));
    let wrong_value = Opening {
        value: 120_001,
        blinding: o.blinding,
    };
    assert!(!wrong_value.opens(&c));
    let wrong_blinding = Opening::new(120_000);
    assert!(!wrong_blinding.opens(&c));
    assert_eq!(Commitment::from_bytes(&c.to_bytes()).unwrap(), c);
    assert!(matches!(
        Commitment::from_bytes(&[0u8; 32]),
        Err(ProofError::Identity { .. })
    ));
    assert!(Commitment::from_bytes(&[0xff; 32]).is_err());
    assert_eq!(format!("{o:?}"), "Opening { .. }");
}

#[test]
fn aggregated_range_proofs_verify_and_bind_their_context() {
    let c1 = ctx(&[
        ("inv-1", 1, "total"),
        ("inv-1", 1, "tax"),
        ("inv-1", 1, "fee"),
    ]);
    let openings = [Opening::new(5), Opening::new(u64::MAX), Opening::new(0)];
    let commitments: Vec<Commitment> = openings.iter().map(Opening::commit).collect();
    let proof = prove_range(&c1, &openings).unwrap();
    assert_eq!(proof.padding.len(), 1, "3 values pad to 4");
    verify_range(&c1, &commitments, &proof).unwrap();
    // Replay against another record, version or field.
    for other in [
        ctx(&[
            ("inv-2", 1, "total"),
            ("inv-1", 1, "tax"),
            ("inv-1", 1, "fee"),
        ]),
        ctx(&[
            ("inv-1", 2, "total"),
            ("inv-1", 1, "tax"),
            ("inv-1", 1, "fee"),
        ]),
        ctx(&[
            ("inv-1", 1, "net"),
            ("inv-1", 1, "tax"),
            ("inv-1", 1, "fee"),
        ]),
    ] {
        assert_eq!(
            verify_range(&other, &commitments, &proof),
            Err(ProofError::Invalid { kind: "range" })
        );
    }
    // Another commitment, tampered bytes, a dropped padding.
    let mut swapped = commitments.clone();
    swapped[0] = Opening::new(5).commit();
    assert!(verify_range(&c1, &swapped, &proof).is_err());
    let mut tampered = proof.clone();
    tampered.proof[40] ^= 1;
    assert!(verify_range(&c1, &commitments, &tampered).is_err());
    let mut short = proof.clone();
    short.padding.clear();
    assert!(matches!(
        verify_range(&c1, &commitments, &short),
        Err(ProofError::Malformed { .. })
    ));
}

#[test]
fn a_negative_value_cannot_be_range_proved() {
    // A "negative" amount is a value near the group order: commit to ℓ - 1 by hand.
    let c = ctx(&[("inv-1", 1, "total")]);
    let blinding = Scalar::random(&mut OsRng);
    let minus_one = Commitment((-Scalar::ONE * pc().B + blinding * pc().B_blinding).compress());
    // The prover cannot even express it; a proof for another value does not transfer.
    let proof = prove_range(&c, &[Opening { value: 1, blinding }]).unwrap();
    assert!(verify_range(&c, &[minus_one], &proof).is_err());
}

#[test]
fn equality_and_sum_relations() {
    let c = ctx(&[("po-7", 1, "total"), ("inv-7", 3, "total")]);
    let (a, b) = (Opening::new(990), Opening::new(990));
    let p = prove_linear(&c, &[1, -1], &[a.clone(), b.clone()]).unwrap();
    let cs = [a.commit(), b.commit()];
    verify_linear(&c, &[1, -1], &cs, &p).unwrap();
    assert!(DlogProof::from_bytes(&p.to_bytes()).unwrap() == p);
    // Different values cannot be proved equal; a proof does not move to other records.
    assert!(prove_linear(&c, &[1, -1], &[a.clone(), Opening::new(991)]).is_err());
    let elsewhere = ctx(&[("po-7", 1, "total"), ("inv-8", 3, "total")]);
    assert!(verify_linear(&elsewhere, &[1, -1], &cs, &p).is_err());
    let other = [a.commit(), Opening::new(991).commit()];
    assert!(verify_linear(&c, &[1, -1], &other, &p).is_err());
    // total = sum of three lines
    let lines = [Opening::new(100), Opening::new(250), Opening::new(640)];
    let total = Opening::new(990);
    let mut all = vec![total.clone()];
    all.extend(lines.iter().cloned());
    let ctx4 = ctx(&[
        ("inv-7", 3, "total"),
        ("inv-7", 3, "line1"),
        ("inv-7", 3, "line2"),
        ("inv-7", 3, "line3"),
    ]);
    let coeffs = [1, -1, -1, -1];
    let proof = prove_linear(&ctx4, &coeffs, &all).unwrap();
    let commitments: Vec<Commitment> = all.iter().map(Opening::commit).collect();
    verify_linear(&ctx4, &coeffs, &commitments, &proof).unwrap();
    let mut bytes = proof.to_bytes();
    bytes[5] ^= 1;
    if let Ok(bad) = DlogProof::from_bytes(&bytes) {
        assert!(verify_linear(&ctx4, &coeffs, &commitments, &bad).is_err());
    }
}

#[test]
fn at_most_holds_only_when_it_is_true() {
    let c = ctx(&[("fin-1", 1, "amount"), ("inv-7", 3, "total")]);
    let (financed, invoice) = (Opening::new(800), Opening::new(990));
    let p = prove_at_most(&c, &financed, &invoice).unwrap();
    verify_at_most(&c, &financed.commit(), &invoice.commit(), &p).unwrap();
    assert!(prove_at_most(&c, &invoice, &financed).is_err());
    // Swapping the commitments does not verify.
    assert!(verify_at_most(&c, &invoice.commit(), &financed.commit(), &p).is_err());
}

#[test]
fn auditor_handles_prove_their_value_and_sum_homomorphically() {
    let secret = AuditSecret::generate();
    let key = secret.public();
    let values = [1_000u64, 2_500, 40];
    let mut cs = Vec::new();
    let mut hs = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let c = ctx(&[(&format!("inv-{i}"), 1, "total")]);
        let o = Opening::new(*v);
        let (h, proof) = audit_handle(&c, &o, &key).unwrap();
        verify_audit_handle(&c, &o.commit(), &key, &h, &proof).unwrap();
        assert_eq!(HandleProof::from_bytes(&proof.to_bytes()).unwrap(), proof);
        // Another record's context, another commitment, another key: refused.
        let other = ctx(&[("inv-x", 1, "total")]);
        assert!(verify_audit_handle(&other, &o.commit(), &key, &h, &proof).is_err());
        assert!(verify_audit_handle(&c, &Opening::new(*v).commit(), &key, &h, &proof).is_err());
        let stranger = AuditSecret::generate().public();
        assert!(verify_audit_handle(&c, &o.commit(), &stranger, &h, &proof).is_err());
        cs.push(o.commit());
        hs.push(h);
    }
    assert_eq!(secret.decrypt_sum(&cs, &hs, 32).unwrap(), 3_540);
    // A stranger's secret does not decrypt the sum.
    assert!(AuditSecret::generate().decrypt_sum(&cs, &hs, 20).is_err());
    let back = AuditSecret::from_bytes(&secret.to_bytes()).unwrap();
    assert_eq!(back.public(), key);
    // A handle made with another blinding (a lie about the value) does not verify.
    let c = ctx(&[("inv-9", 1, "total")]);
    let o = Opening::new(7);
    let (_, proof) = audit_handle(&c, &o, &key).unwrap();
    let (lie, _) = audit_handle(&c, &Opening::new(7), &key).unwrap();
    assert!(verify_audit_handle(&c, &o.commit(), &key, &lie, &proof).is_err());
    // The identity as a key is refused.
    let identity = AuditKey(RistrettoPoint::identity().compress());
    assert!(matches!(
        audit_handle(&c, &o, &identity),
        Err(ProofError::Identity { .. })
    ));
}

/// The batch verifier accepts and refuses exactly what the one-by-one verifiers do.
#[test]
fn batches_agree_with_single_verification() {
    let mut batch = BatchVerifier::new();
    let mut cases = Vec::new();
    for m in [1usize, 2, 3, 4, 16] {
        let items: Vec<(String, u32, String)> = (0..m)
            .map(|i| (format!("rec-{m}"), 1, format!("f{i}")))
            .collect();
        let c = Context {
            chain_id: "test-chain".into(),
            items,
        };
        let openings: Vec<Opening> = (0..m).map(|i| Opening::new(i as u64 * 1_000 + 7)).collect();
        let commitments: Vec<Commitment> = openings.iter().map(Opening::commit).collect();
        let proof = prove_range(&c, &openings).unwrap();
        verify_range(&c, &commitments, &proof).unwrap();
        batch.add_range(&c, &commitments, &proof).unwrap();
        cases.push((c, commitments, proof));
    }
    let c2 = ctx(&[("po-7", 1, "total"), ("inv-7", 3, "total")]);
    let (a, b) = (Opening::new(990), Opening::new(1_990));
    let eq = prove_linear(
        &c2,
        &[1, -1],
        &[
            a.clone(),
            Opening {
                value: 990,
                blinding: a.blinding + Scalar::ONE,
            },
        ],
    )
    .unwrap();
    let eq_cs = [
        a.commit(),
        Opening {
            value: 990,
            blinding: a.blinding + Scalar::ONE,
        }
        .commit(),
    ];
    batch.add_linear(&c2, &[1, -1], &eq_cs, &eq).unwrap();
    let am = prove_at_most(&c2, &a, &b).unwrap();
    batch
        .add_at_most(&c2, &a.commit(), &b.commit(), &am)
        .unwrap();
    let secret = AuditSecret::generate();
    let key = secret.public();
    let (h, hp) = audit_handle(&c2, &a, &key).unwrap();
    batch
        .add_audit_handle(&c2, &a.commit(), &key, &h, &hp)
        .unwrap();
    assert_eq!(batch.len(), 8);
    batch.verify().unwrap();
    assert!(
        BatchVerifier::new().verify().is_ok(),
        "an empty batch holds nothing false"
    );

    // One bad proof among good ones fails the whole batch, whatever is wrong with it.
    let with_bad = |bad: &dyn Fn(&mut BatchVerifier) -> Result<(), ProofError>| {
        let mut batch = BatchVerifier::new();
        for (c, cs, p) in &cases {
            batch.add_range(c, cs, p).unwrap();
        }
        match bad(&mut batch) {
            Err(e) => Err(e),
            Ok(()) => batch.verify(),
        }
    };
    let (c, cs, p) = &cases[2]; // three values, padded to four
                                // Every byte position class of the proof: points, scalars, the inner-product part.
    for pos in [
        0usize,
        40,
        100,
        130,
        4 * 32 + 3,
        5 * 32 + 3,
        6 * 32 + 3,
        8 * 32,
        p.proof.len() - 40,
        p.proof.len() - 1,
    ] {
        let mut t = p.clone();
        t.proof[pos] ^= 1;
        let single = verify_range(c, cs, &t);
        assert!(single.is_err(), "byte {pos}");
        assert!(
            with_bad(&|bv| bv.add_range(c, cs, &t)).is_err(),
            "byte {pos}"
        );
    }
    // Replay against another record; another commitment; a wrong value.
    let mut other = c.clone();
    other.items[0].0 = "rec-x".into();
    assert!(with_bad(&|bv| bv.add_range(&other, cs, p)).is_err());
    let mut swapped = cs.clone();
    swapped[1] = Opening::new(1_007).commit();
    assert!(with_bad(&|bv| bv.add_range(c, &swapped, p)).is_err());
    // A value out of range: a commitment to -1 under a proof for 1.
    let blinding = Scalar::random(&mut OsRng);
    let minus_one = Commitment((-Scalar::ONE * pc().B + blinding * pc().B_blinding).compress());
    let c1 = ctx(&[("inv-1", 1, "total")]);
    let p1 = prove_range(&c1, &[Opening { value: 1, blinding }]).unwrap();
    assert!(with_bad(&|bv| bv.add_range(&c1, &[minus_one], &p1)).is_err());
    // Truncated and identity-point proofs are refused when added.
    let mut short = p.clone();
    short.proof.truncate(short.proof.len() - 32);
    assert!(matches!(
        with_bad(&|bv| bv.add_range(c, cs, &short)),
        Err(ProofError::Malformed { .. })
    ));
    let mut zero_a = p.clone();
    zero_a.proof[..32].fill(0);
    assert!(matches!(
        with_bad(&|bv| bv.add_range(c, cs, &zero_a)),
        Err(ProofError::Identity { .. })
    ));
    // Sigma proofs: wrong records, wrong commitments, lying handles.
    let elsewhere = ctx(&[("po-7", 1, "total"), ("inv-8", 3, "total")]);
    assert!(with_bad(&|bv| bv.add_linear(&elsewhere, &[1, -1], &eq_cs, &eq)).is_err());
    assert!(with_bad(&|bv| bv.add_linear(&c2, &[1, -1], &[a.commit(), b.commit()], &eq)).is_err());
    assert!(with_bad(&|bv| bv.add_at_most(&c2, &b.commit(), &a.commit(), &am)).is_err());
    let (lie, _) = audit_handle(&c2, &Opening::new(990), &key).unwrap();
    assert!(with_bad(&|bv| bv.add_audit_handle(&c2, &a.commit(), &key, &lie, &hp)).is_err());
    let stranger = AuditSecret::generate().public();
    assert!(with_bad(&|bv| bv.add_audit_handle(&c2, &a.commit(), &stranger, &h, &hp)).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn commitments_open_only_to_their_opening(v in any::<u64>(), w in any::<u64>()) {
        let o = Opening::new(v);
        let c = o.commit();
        prop_assert!(Opening::from_bytes(&o.to_bytes()).unwrap().opens(&c));
        if v != w {
            let other = Opening { value: w, blinding: o.blinding };
            prop_assert!(!other.opens(&c));
        }
    }

    #[test]
    fn commitments_add_like_their_values(a in 0u64..1 << 40, b in 0u64..1 << 40) {
        let (oa, ob) = (Opening::new(a), Opening::new(b));
        let sum = Opening { value: a + b, blinding: oa.blinding + ob.blinding };
        let added = oa.commit().0.decompress().unwrap() + ob.commit().0.decompress().unwrap();
        prop_assert_eq!(added.compress(), sum.commit().0);
    }

    #[test]
    fn auditors_decrypt_the_sum_of_any_amounts(values in proptest::collection::vec(0u64..1 << 16, 1..5)) {
        let secret = AuditSecret::generate();
        let key = secret.public();
        let (mut cs, mut hs) = (vec![], vec![]);
        for (i, v) in values.iter().enumerate() {
            let c = ctx(&[(&format!("rec-{i}"), 1, "amount")]);
            let o = Opening::new(*v);
            let (h, p) = audit_handle(&c, &o, &key).unwrap();
            prop_assert!(verify_audit_handle(&c, &o.commit(), &key, &h, &p).is_ok());
            cs.push(o.commit());
            hs.push(h);
        }
        prop_assert_eq!(secret.decrypt_sum(&cs, &hs, 20).unwrap(), values.iter().sum::<u64>());
    }
}
