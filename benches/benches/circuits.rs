//! Groth16 circuits over BN254: prove and verify each circuit with 1, 8 and the maximum
//! number of lines, and the constraint counts (printed before the benches run).
//!
//! Run: `cargo bench --profile dev --bench circuits` (results in docs/benchmarks.md).

// A benchmark: a failed step must stop it where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ledger_circuits::*;

fn invoice(n: usize) -> Document {
    let lines: Vec<Line> = (0..n)
        .map(|i| Line {
            unit_price: 1_000 + i as u64,
            quantity: 3 + i as u64,
            total: (1_000 + i as u64) * (3 + i as u64),
        })
        .collect();
    let total = lines.iter().map(|l| l.total).sum();
    Document::new(
        DocumentKind::Invoice,
        "acme",
        "globex",
        "",
        "INV-1",
        "PO-1",
        20_000,
        lines,
        total,
    )
    .expect("invoice")
}

fn order_and_delivery(inv: &Document) -> (Document, Document) {
    let po = Document::new(
        DocumentKind::PurchaseOrder,
        "acme",
        "globex",
        "",
        "PO-1",
        "",
        19_990,
        inv.lines.clone(),
        inv.total,
    )
    .expect("order");
    let delivered = inv
        .lines
        .iter()
        .map(|l| Line {
            unit_price: 0,
            quantity: l.quantity,
            total: 0,
        })
        .collect();
    let dn = Document::new(
        DocumentKind::DeliveryNote,
        "acme",
        "globex",
        "swift",
        "DN-1",
        "PO-1",
        19_995,
        delivered,
        0,
    )
    .expect("delivery");
    (po, dn)
}

fn benches(c: &mut Criterion) {
    for id in CircuitId::ALL {
        println!(
            "circuit {:<15} {:>6} constraints, {} public inputs",
            id.name(),
            constraint_count(id).expect("count"),
            id.public_inputs()
        );
    }
    let keys: Vec<(ProvingKey, VerifyingKey)> = CircuitId::ALL
        .iter()
        .map(|id| dev_keys(*id).expect("setup"))
        .collect();
    let (inv_pk, inv_vk) = &keys[0];
    let (link_pk, link_vk) = &keys[1];
    let (fin_pk, fin_vk) = &keys[2];
    let binding = finance_binding(&FinanceTerms {
        chain_id: "bench",
        seller: "acme",
        bank: "bank-b",
        invoice: ("INV-1", 1),
        delivery: ("DN-1", 1),
    });
    const OWNERS: [&str; 3] = ["acme", "globex", "swift"];
    let mut g = c.benchmark_group("circuits");
    g.sample_size(10);
    for n in [1usize, 8, MAX_LINES] {
        let inv = invoice(n);
        let (po, dn) = order_and_delivery(&inv);
        g.bench_function(format!("invoice_prove_{n}_lines"), |b| {
            b.iter(|| prove_invoice(inv_pk, &inv, "acme").expect("prove"))
        });
        let (p, x) = prove_invoice(inv_pk, &inv, "acme").expect("prove");
        g.bench_function(format!("invoice_verify_{n}_lines"), |b| {
            b.iter(|| inv_vk.verify(&x, &p).expect("verify"))
        });
        if n == 1 {
            g.bench_function("proof_parse_only", |b| {
                b.iter(|| check_proof_encoding(&p).expect("parse"))
            });
        }
        g.bench_function(format!("invoice_linked_prove_{n}_lines"), |b| {
            b.iter(|| prove_linked_invoice(link_pk, &inv, &po, &dn, OWNERS).expect("prove"))
        });
        let (p, x) = prove_linked_invoice(link_pk, &inv, &po, &dn, OWNERS).expect("prove");
        g.bench_function(format!("invoice_linked_verify_{n}_lines"), |b| {
            b.iter(|| link_vk.verify(&x, &p).expect("verify"))
        });
        g.bench_function(format!("finance_prove_{n}_lines"), |b| {
            b.iter(|| prove_finance(fin_pk, &dn, binding).expect("prove"))
        });
        let (p, x) = prove_finance(fin_pk, &dn, binding).expect("prove");
        g.bench_function(format!("finance_verify_{n}_lines"), |b| {
            b.iter(|| fin_vk.verify(&x, &p).expect("verify"))
        });
    }
    // A block's worth of proofs verified as one batch (per proof: divide by 16).
    let batch: Vec<(Vec<Fr>, Vec<u8>)> = (0..16)
        .map(|_| {
            let (p, x) = prove_invoice(inv_pk, &invoice(8), "acme").expect("prove");
            (x, p)
        })
        .collect();
    g.bench_function("invoice_batch_verify_16_proofs", |b| {
        b.iter(|| {
            let items: Vec<(&VerifyingKey, &[Fr], &[u8])> = batch
                .iter()
                .map(|(x, p)| (inv_vk, x.as_slice(), p.as_slice()))
                .collect();
            verify_batch(&items).expect("batch")
        })
    });
    // Financing proofs as a block verifies them: one batch of 16.
    let finance_batch: Vec<(Vec<Fr>, Vec<u8>)> = (0..16)
        .map(|_| {
            let (_, dn) = order_and_delivery(&invoice(8));
            let (p, x) = prove_finance(fin_pk, &dn, binding).expect("prove");
            (x, p)
        })
        .collect();
    g.bench_function("finance_batch_verify_16_proofs", |b| {
        b.iter(|| {
            let items: Vec<(&VerifyingKey, &[Fr], &[u8])> = finance_batch
                .iter()
                .map(|(x, p)| (fin_vk, x.as_slice(), p.as_slice()))
                .collect();
            verify_batch(&items).expect("batch")
        })
    });
    g.finish();
}

criterion_group! {
    name = circuits;
    config = Criterion::default().measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(circuits);
