//! The circuits: honest proofs verify, every public input is bound, false statements
//! have no proof, and the development keys match their pins.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use ark_ff::{One, Zero};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use ledger_circuits::*;

fn keys(id: CircuitId) -> &'static (ProvingKey, VerifyingKey) {
    static K: OnceLock<Vec<(ProvingKey, VerifyingKey)>> = OnceLock::new();
    let all = K.get_or_init(|| {
        CircuitId::ALL
            .iter()
            .map(|c| dev_keys(*c).expect("dev setup"))
            .collect()
    });
    &all[CircuitId::ALL.iter().position(|c| *c == id).unwrap()]
}

fn line(p: u64, q: u64) -> Line {
    Line {
        unit_price: p,
        quantity: q,
        total: p * q,
    }
}

fn order() -> Document {
    Document::new(
        DocumentKind::PurchaseOrder,
        "acme-exports",
        "globex-imports",
        "",
        "PO-7",
        "",
        parse_date("2026-11-02").unwrap(),
        vec![line(1_250, 40), line(99_00, 3), line(5, 1_000)],
        50_000 + 29_700 + 5_000,
    )
    .unwrap()
}

fn delivery() -> Document {
    // Two of the three ordered items arrive in full, the third partly.
    Document::new(
        DocumentKind::DeliveryNote,
        "acme-exports",
        "globex-imports",
        "swift-freight",
        "DN-7-1",
        "PO-7",
        parse_date("2026-11-15").unwrap(),
        vec![
            Line {
                unit_price: 0,
                quantity: 40,
                total: 0,
            },
            Line {
                unit_price: 0,
                quantity: 3,
                total: 0,
            },
            Line {
                unit_price: 0,
                quantity: 600,
                total: 0,
            },
        ],
        0,
    )
    .unwrap()
}

fn invoice() -> Document {
    let lines = vec![line(1_250, 40), line(99_00, 3), line(5, 600)];
    let total = lines.iter().map(|l| l.total).sum();
    Document::new(
        DocumentKind::Invoice,
        "acme-exports",
        "globex-imports",
        "",
        "INV-2026-001",
        "PO-7",
        parse_date("2026-11-20").unwrap(),
        lines,
        total,
    )
    .unwrap()
}

/// The owners of the invoice, order and delivery-note records: each written by the party
/// that should write it.
const OWNERS: [&str; 3] = ["acme-exports", "globex-imports", "swift-freight"];

fn bind(bank: &str) -> Fr {
    finance_binding(&FinanceTerms {
        chain_id: "test-chain",
        seller: "acme-exports",
        bank,
        invoice: ("INV-2026-001", 1),
        delivery: ("DN-7-1", 1),
    })
}

fn prove_inv(d: &Document) -> Result<(Vec<u8>, Vec<Fr>), CircuitError> {
    prove_invoice(&keys(CircuitId::Invoice).0, d, "acme-exports")
}

fn prove_linked(i: &Document, o: &Document, d: &Document) -> (Vec<u8>, Vec<Fr>) {
    prove_linked_invoice(&keys(CircuitId::InvoiceLinked).0, i, o, d, OWNERS).unwrap()
}

fn linked_ok(i: &Document, o: &Document, d: &Document, owners: [&str; 3]) -> bool {
    satisfied(LinkedInvoiceCircuit::new(i, o, d, owners))
}

fn satisfied<C: ConstraintSynthesizer<Fr>>(c: C) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    c.generate_constraints(cs.clone()).unwrap();
    cs.is_satisfied().unwrap()
}

#[test]
fn development_keys_and_constraint_counts_match_their_pins() {
    // Read at run time: a target directory shared between checkouts may run a binary
    // built in another one.
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let pins_path = std::path::Path::new(&dir).join("keys/pins.txt");
    let update = std::env::var("LEDGER_UPDATE_PINS").is_ok_and(|v| v == "1");
    let mut lines = Vec::new();
    for id in CircuitId::ALL {
        let (_, vk) = keys(id);
        let n = constraint_count(id).unwrap();
        lines.push(format!(
            "{} constraints={} public_inputs={} fingerprint={}",
            id.name(),
            n,
            id.public_inputs(),
            vk.fingerprint()
        ));
        let vk_path = pins_path
            .parent()
            .unwrap()
            .join(format!("dev/{}.vk", id.name()));
        if update {
            std::fs::write(&vk_path, hex::encode(vk.to_bytes()) + "\n").unwrap();
        }
    }
    let text = lines.join("\n") + "\n";
    if update {
        std::fs::write(&pins_path, &text).unwrap();
    }
    let pinned = std::fs::read_to_string(&pins_path).unwrap_or_default();
    assert_eq!(
        pinned, text,
        "a circuit changed: its constraints or keys no longer match circuits/keys/pins.txt. \
         If the change is intended, run `LEDGER_UPDATE_PINS=1 cargo test --workspace --test circuits` \
         and commit the new pins and development verifying keys (and new genesis files)."
    );
    for id in CircuitId::ALL {
        assert_eq!(
            dev_verifying_key(id).unwrap().to_bytes(),
            keys(id).1.to_bytes(),
            "the committed development verifying key of {} is stale (rebuild after updating pins)",
            id.name()
        );
    }
}

#[test]
fn honest_invoice_proofs_verify() {
    let (pk, vk) = keys(CircuitId::Invoice);
    let inv = invoice();
    let (proof, public) = prove_inv(&inv).unwrap();
    assert_eq!(proof.len(), PROOF_LEN);
    assert_eq!(public, vec![inv.commit(), org_to_fr("acme-exports")]);
    vk.verify(&public, &proof).unwrap();
    // The committed development key verifies it too.
    dev_verifying_key(CircuitId::Invoice)
        .unwrap()
        .verify(&public, &proof)
        .unwrap();
    // One line, and the maximum.
    for n in [1usize, MAX_LINES] {
        let lines: Vec<Line> = (0..n).map(|i| line(10 + i as u64, 3)).collect();
        let total = lines.iter().map(|l| l.total).sum();
        let d = Document::new(
            DocumentKind::Invoice,
            "s",
            "b",
            "",
            "I",
            "",
            1,
            lines,
            total,
        )
        .unwrap();
        let (p, x) = prove_invoice(pk, &d, "s").unwrap();
        vk.verify(&x, &p).unwrap();
    }
}

#[test]
fn invoice_proof_fails_for_another_invoice_commitment() {
    let (_, vk) = keys(CircuitId::Invoice);
    let (proof, mut public) = prove_inv(&invoice()).unwrap();
    public[0] += Fr::one();
    assert!(matches!(
        vk.verify(&public, &proof),
        Err(CircuitError::Invalid { .. })
    ));
    // The same invoice committed with another blinding is another statement.
    assert!(vk
        .verify(&[invoice().commit(), org_to_fr("acme-exports")], &proof)
        .is_err());
}

#[test]
fn invoice_proof_fails_for_another_record_owner() {
    let (_, vk) = keys(CircuitId::Invoice);
    let (proof, mut public) = prove_inv(&invoice()).unwrap();
    public[1] = org_to_fr("bank-c");
    assert!(matches!(
        vk.verify(&public, &proof),
        Err(CircuitError::Invalid { .. })
    ));
}

#[test]
fn an_invoice_in_a_record_the_seller_does_not_own_has_no_proof() {
    // A third member copying the seller's invoice into its own record.
    let inv = invoice();
    assert!(!satisfied(InvoiceCircuit::new(&inv, "bank-c")));
    assert!(matches!(
        prove_invoice(&keys(CircuitId::Invoice).0, &inv, "globex-imports"),
        Err(CircuitError::Unsatisfied { .. })
    ));
}

#[test]
fn linked_invoice_proofs_verify() {
    let (_, vk) = keys(CircuitId::InvoiceLinked);
    let (i, o, d) = (invoice(), order(), delivery());
    let (proof, public) = prove_linked(&i, &o, &d);
    let mut expected = vec![i.commit(), o.commit(), d.commit()];
    expected.extend(OWNERS.map(org_to_fr));
    assert_eq!(public, expected);
    vk.verify(&public, &proof).unwrap();
}

fn linked_with_changed_input(k: usize) {
    let (_, vk) = keys(CircuitId::InvoiceLinked);
    let (proof, mut public) = prove_linked(&invoice(), &order(), &delivery());
    public[k] += Fr::one();
    assert!(matches!(
        vk.verify(&public, &proof),
        Err(CircuitError::Invalid { .. })
    ));
}

#[test]
fn linked_proof_fails_for_another_invoice_commitment() {
    linked_with_changed_input(0);
}

#[test]
fn linked_proof_fails_for_another_order_commitment() {
    linked_with_changed_input(1);
}

#[test]
fn linked_proof_fails_for_another_delivery_commitment() {
    linked_with_changed_input(2);
}

#[test]
fn linked_proof_fails_for_another_invoice_owner() {
    linked_with_changed_input(3);
}

#[test]
fn linked_proof_fails_for_another_order_owner() {
    linked_with_changed_input(4);
}

#[test]
fn linked_proof_fails_for_another_delivery_owner() {
    linked_with_changed_input(5);
}

#[test]
fn a_linked_check_needs_each_document_written_by_its_party() {
    let (i, o, d) = (invoice(), order(), delivery());
    assert!(linked_ok(&i, &o, &d, OWNERS));
    // The buyer may confirm the delivery itself.
    assert!(linked_ok(
        &i,
        &o,
        &d,
        ["acme-exports", "globex-imports", "globex-imports"]
    ));
    // An order written by the seller.
    assert!(!linked_ok(
        &i,
        &o,
        &d,
        ["acme-exports", "acme-exports", "swift-freight"]
    ));
    // A delivery note written by the seller, or by someone who is neither its carrier nor
    // the buyer.
    assert!(!linked_ok(
        &i,
        &o,
        &d,
        ["acme-exports", "globex-imports", "acme-exports"]
    ));
    assert!(!linked_ok(
        &i,
        &o,
        &d,
        ["acme-exports", "globex-imports", "other-freight"]
    ));
    // An invoice not written by its seller.
    assert!(!linked_ok(
        &i,
        &o,
        &d,
        ["globex-imports", "globex-imports", "swift-freight"]
    ));
    // A delivery note naming the seller as its own carrier, written by the seller: the
    // witness is forged (the document check refuses it), the circuit refuses it too.
    let mut w = LinkedInvoiceCircuit::new(
        &i,
        &o,
        &d,
        ["acme-exports", "globex-imports", "acme-exports"],
    );
    w.delivery.set_party(2, "acme-exports");
    assert!(!satisfied(w));
    let prover = prove_linked_invoice(
        &keys(CircuitId::InvoiceLinked).0,
        &i,
        &o,
        &d,
        ["acme-exports", "acme-exports", "swift-freight"],
    );
    assert!(matches!(prover, Err(CircuitError::Unsatisfied { .. })));
}

#[test]
fn finance_proofs_verify_and_the_nullifier_comes_from_the_delivered_goods() {
    let (pk, vk) = keys(CircuitId::Finance);
    let dn = delivery();
    let (proof, public) = prove_finance(pk, &dn, bind("bank-b")).unwrap();
    assert_eq!(
        public,
        vec![dn.commit(), dn.goods_nullifier(), bind("bank-b")]
    );
    vk.verify(&public, &proof).unwrap();
    // The same delivery note in a new version (same blinding, a corrected line): another
    // commitment, the same nullifier.
    let mut corrected = dn.clone();
    corrected.lines[2].quantity = 601;
    assert_ne!(corrected.commit(), dn.commit());
    let (_, public2) = prove_finance(pk, &corrected, bind("bank-c")).unwrap();
    assert_eq!(public2[1], public[1]);
    // Another delivery (another note, another blinding): another nullifier.
    assert_ne!(delivery().goods_nullifier(), dn.goods_nullifier());
    // Nothing but a delivery note is financed.
    assert!(prove_finance(pk, &invoice(), bind("bank-b")).is_err());
}

#[test]
fn finance_proof_fails_for_another_delivery_commitment() {
    let (pk, vk) = keys(CircuitId::Finance);
    let (proof, mut public) = prove_finance(pk, &delivery(), bind("bank-b")).unwrap();
    public[0] += Fr::one();
    assert!(vk.verify(&public, &proof).is_err());
}

#[test]
fn finance_proof_fails_for_another_nullifier() {
    let (pk, vk) = keys(CircuitId::Finance);
    let (proof, mut public) = prove_finance(pk, &delivery(), bind("bank-b")).unwrap();
    public[1] += Fr::one();
    assert!(vk.verify(&public, &proof).is_err());
}

#[test]
fn finance_proof_fails_for_another_request() {
    let (pk, vk) = keys(CircuitId::Finance);
    let (proof, mut public) = prove_finance(pk, &delivery(), bind("bank-b")).unwrap();
    public[2] = bind("bank-c");
    assert!(vk.verify(&public, &proof).is_err());
    // Each term of the request moves the binding.
    let base = FinanceTerms {
        chain_id: "test-chain",
        seller: "acme-exports",
        bank: "bank-b",
        invoice: ("INV-2026-001", 1),
        delivery: ("DN-7-1", 1),
    };
    let b = finance_binding(&base);
    for t in [
        FinanceTerms {
            chain_id: "other",
            ..base
        },
        FinanceTerms {
            seller: "globex-imports",
            ..base
        },
        FinanceTerms {
            invoice: ("INV-2026-001", 2),
            ..base
        },
        FinanceTerms {
            invoice: ("INV-2026-002", 1),
            ..base
        },
        FinanceTerms {
            delivery: ("DN-7-2", 1),
            ..base
        },
        FinanceTerms {
            delivery: ("DN-7-1", 2),
            ..base
        },
    ] {
        assert_ne!(finance_binding(&t), b, "{t:?}");
    }
}

#[test]
fn tampered_proofs_and_wrong_shapes_are_refused() {
    let (pk, vk) = keys(CircuitId::Invoice);
    let (proof, public) = prove_inv(&invoice()).unwrap();
    for i in [0usize, 40, 70, 100, 127] {
        let mut t = proof.clone();
        t[i] ^= 1;
        assert!(vk.verify(&public, &t).is_err(), "byte {i}");
    }
    assert!(vk.verify(&public, &proof[..64]).is_err());
    assert!(vk.verify(&[public[0]], &proof).is_err());
    // A proof of one circuit is not a proof of another.
    let (_, fvk) = keys(CircuitId::Finance);
    assert!(fvk
        .verify(&[public[0], Fr::zero(), Fr::zero()], &proof)
        .is_err());
    // A key of one circuit refuses to prove another.
    assert!(prove_finance(pk, &delivery(), bind("bank-b")).is_err());
}

#[test]
fn a_line_total_that_is_not_price_times_quantity_has_no_proof() {
    let mut inv = invoice();
    inv.lines[1].total += 1;
    inv.total += 1;
    assert!(!satisfied(InvoiceCircuit::new(&inv, "acme-exports")));
    assert!(matches!(
        prove_inv(&inv),
        Err(CircuitError::Unsatisfied { .. })
    ));
}

#[test]
fn a_total_that_is_not_the_sum_of_the_lines_has_no_proof() {
    let mut inv = invoice();
    inv.total -= 1;
    assert!(!satisfied(InvoiceCircuit::new(&inv, "acme-exports")));
    assert!(prove_inv(&inv).is_err());
}

#[test]
fn a_value_of_2_pow_64_or_more_has_no_proof() {
    // A dishonest prover working on field elements: price 2^64, quantity 1, line total
    // 2^64, total 2^64 satisfies the arithmetic in the field; the range checks do not.
    let inv = Document::new(
        DocumentKind::Invoice,
        "s",
        "b",
        "",
        "I",
        "",
        1,
        vec![line(0, 1)],
        0,
    )
    .unwrap();
    let mut c = InvoiceCircuit::new(&inv, "s");
    let big = Fr::from(u64::MAX) + Fr::one();
    c.invoice.set_line_value(0, 0, big);
    c.invoice.set_line_value(0, 2, big);
    c.invoice.set_total(big);
    assert!(!satisfied(c));
    // A value that wraps around the field (a "negative" quantity) fails the same way.
    let mut c = InvoiceCircuit::new(&inv, "s");
    c.invoice.set_line_value(0, 1, -Fr::one());
    c.invoice.set_line_value(0, 2, Fr::zero());
    assert!(!satisfied(c));
}

#[test]
fn an_invoice_that_does_not_follow_its_order_and_delivery_has_no_proof() {
    let (i, o, d) = (invoice(), order(), delivery());
    assert!(linked_ok(&i, &o, &d, OWNERS));
    // Billing the ordered quantity instead of the delivered one.
    let mut over = i.clone();
    over.lines[2] = line(5, 1_000);
    over.total = over.lines.iter().map(|l| l.total).sum();
    assert!(
        satisfied(InvoiceCircuit::new(&over, "acme-exports")),
        "arithmetic alone holds"
    );
    assert!(!linked_ok(&over, &o, &d, OWNERS));
    // Another unit price than ordered.
    let mut pricier = i.clone();
    pricier.lines[0] = line(1_300, 40);
    pricier.total = pricier.lines.iter().map(|l| l.total).sum();
    assert!(!linked_ok(&pricier, &o, &d, OWNERS));
    // Another order's delivery note, or another buyer.
    let mut stray = d.clone();
    stray.reference = "PO-8".into();
    assert!(!linked_ok(&i, &o, &stray, OWNERS));
    let mut buyer = i.clone();
    buyer.buyer = "initech".into();
    buyer.seller = "acme-exports".into();
    assert!(!linked_ok(&buyer, &o, &d, OWNERS));
    // Documents in the wrong roles.
    let cs = ConstraintSystem::<Fr>::new_ref();
    assert!(LinkedInvoiceCircuit::new(&o, &i, &d, OWNERS)
        .generate_constraints(cs)
        .is_err());
}

#[test]
fn documents_round_trip_and_refuse_bad_encodings() {
    let d = invoice();
    let back = Document::from_bytes(&d.to_bytes()).unwrap();
    assert_eq!(back, d);
    assert_eq!(back.commit(), d.commit());
    let bytes = d.to_bytes();
    assert!(Document::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(Document::from_bytes(&extra).is_err());
    assert!(Document::from_bytes(&[9]).is_err());
    assert!(!format!("{d:?}").contains("blinding"));
    assert_eq!(
        format_date(parse_date("2026-02-28").unwrap() + 1),
        "2026-03-01"
    );
    assert!(parse_date("2026-02-30").is_err());
    assert!(Document::new(
        DocumentKind::Invoice,
        "s",
        "b",
        "",
        "I",
        "",
        1,
        vec![Line::default(); MAX_LINES + 1],
        0
    )
    .is_err());
}

#[test]
fn batches_of_proofs_verify_together_and_fail_with_one_bad_proof() {
    let (ipk, ivk) = keys(CircuitId::Invoice);
    let (fpk, fvk) = keys(CircuitId::Finance);
    let (lpk, lvk) = keys(CircuitId::InvoiceLinked);
    let mut items: Vec<(&VerifyingKey, Vec<Fr>, Vec<u8>)> = Vec::new();
    for _ in 0..3 {
        let (p, x) = prove_invoice(ipk, &invoice(), "acme-exports").unwrap();
        items.push((ivk, x, p));
    }
    let (p, x) = prove_finance(fpk, &delivery(), bind("bank-b")).unwrap();
    items.push((fvk, x, p));
    let (p, x) = prove_linked_invoice(lpk, &invoice(), &order(), &delivery(), OWNERS).unwrap();
    items.push((lvk, x, p));
    let all = items.clone();
    let refs: Vec<(&VerifyingKey, &[Fr], &[u8])> = all
        .iter()
        .map(|(k, x, p)| (*k, x.as_slice(), p.as_slice()))
        .collect();
    verify_batch(&refs).unwrap();
    verify_batch(&refs[..1]).unwrap();
    assert!(verify_batch(&[]).is_ok());
    // One changed public input anywhere fails the batch.
    for i in 0..refs.len() {
        let mut bad = all.clone();
        bad[i].1[0] += Fr::one();
        let r: Vec<(&VerifyingKey, &[Fr], &[u8])> = bad
            .iter()
            .map(|(k, x, p)| (*k, x.as_slice(), p.as_slice()))
            .collect();
        assert!(verify_batch(&r).is_err(), "item {i}");
    }
    // Two proofs swapped between statements fail too.
    let mut swapped = all.clone();
    let p0 = swapped[0].2.clone();
    swapped[0].2 = swapped[1].2.clone();
    swapped[1].2 = p0;
    // (each invoice() has a fresh blinding, so items 0 and 1 are different statements)
    let r: Vec<(&VerifyingKey, &[Fr], &[u8])> = swapped
        .iter()
        .map(|(k, x, p)| (*k, x.as_slice(), p.as_slice()))
        .collect();
    assert!(verify_batch(&r).is_err());
}

#[test]
fn a_documents_debug_output_shows_no_party_number_date_or_amount() {
    let text = format!("{:?}", invoice());
    for secret in ["acme", "globex", "INV-2026-001", "PO-7", "1250", "2026"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("Invoice") && text.contains("lines"), "{text}");
}

#[test]
fn identifiers_are_canonical_and_parties_are_organisation_ids() {
    // Document numbers and references as a seller might rewrite them: one identifier each.
    for (a, b) in [
        ("INV-2026-009", "INV-2026-009 "),
        ("INV-2026-009", "inv-2026-009"),
        ("INV-2026-009", "INV 2026/009"),
    ] {
        assert_eq!(canonical_id(a), canonical_id(b), "{a:?} / {b:?}");
        assert_eq!(id_to_fr(a), id_to_fr(b), "{a:?} / {b:?}");
    }
    assert_ne!(id_to_fr("INV-2026-009"), id_to_fr("INV-2026-010"));
    // Parties are organisation ids of the directory, not free text.
    let i = invoice();
    let with = |seller: &str, buyer: &str, carrier: &str, kind| {
        Document::new(
            kind,
            seller,
            buyer,
            carrier,
            &i.number,
            &i.reference,
            i.issue_date,
            i.lines.clone(),
            i.total,
        )
    };
    assert!(with("ACME Exports", "globex-imports", "", DocumentKind::Invoice).is_err());
    assert!(with("acme-exports", "", "", DocumentKind::Invoice).is_err());
    assert!(with("acme-exports", "acme-exports", "", DocumentKind::Invoice).is_err());
    assert!(with(
        "acme-exports",
        "globex-imports",
        "swift-freight",
        DocumentKind::Invoice
    )
    .is_err());
    assert!(with(
        "acme-exports",
        "globex-imports",
        "acme-exports",
        DocumentKind::DeliveryNote
    )
    .is_err());
    assert!(with(
        "acme-exports",
        "globex-imports",
        "",
        DocumentKind::DeliveryNote
    )
    .is_ok());
    assert_ne!(org_to_fr("acme-exports"), org_to_fr("ACME-exports"));
    assert_eq!(org_to_fr(""), Fr::zero());
    // An identifier without a letter or a digit is refused.
    assert!(Document::new(
        DocumentKind::Invoice,
        "acme",
        "globex",
        "",
        " - / ",
        "",
        i.issue_date,
        i.lines.clone(),
        i.total
    )
    .is_err());
}
