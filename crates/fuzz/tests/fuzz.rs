//! A short fuzz run in the default suite: every target over its committed corpus
//! (`fuzz/corpus/{target}`, seeds and past crashes) and its seeds, then 3,000 mutations
//! each from a fixed seed. No input may make a decoder panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| std::fs::read(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    out.extend(
        ledger_fuzz::seeds()
            .into_iter()
            .filter(|(t, _)| *t == target)
            .map(|(_, b)| b),
    );
    out
}

#[test]
fn no_decoder_panics_on_its_corpus_or_thousands_of_mutations() {
    for (i, target) in ledger_fuzz::TARGETS.iter().enumerate() {
        let inputs = corpus(target.0);
        assert!(!inputs.is_empty(), "target {} has no corpus", target.0);
        // A parsing encrypted amount costs a proof verification (about 0.1 s): fewer.
        let n = if target.0 == "encrypted-amount" {
            150
        } else {
            3_000
        };
        if let Err(c) = ledger_fuzz::run(*target, &inputs, n, 0x5eed + i as u64) {
            panic!(
                "{} panicked on {} ({}); add the input to fuzz/corpus/{} once fixed",
                c.target,
                hex::encode(&c.input),
                c.message,
                c.target
            );
        }
    }
}

#[test]
fn the_seeds_are_valid_inputs() {
    for (target, input) in ledger_fuzz::seeds() {
        match target {
            "transaction" => {
                ledger_types::Transaction::decode(&input).unwrap();
            }
            "block" => {
                ledger_types::Block::decode(&input).unwrap();
            }
            "document" => {
                ledger_circuits::Document::from_bytes(&input).unwrap();
            }
            "encrypted-amount" => {
                // The evaluator accepts the seed, so mutations start from bytes that reach
                // the proof; one flipped byte near the end is refused.
                assert!(ledger_fuzz::amount_accepted(&input));
                let mut bad = input.clone();
                let i = bad.len() - 100;
                bad[i] ^= 1;
                assert!(!ledger_fuzz::amount_accepted(&bad));
            }
            _ => {}
        }
    }
}

#[test]
fn the_runner_reports_a_panicking_input() {
    fn fragile(data: &[u8]) {
        assert!(data.first() != Some(&0xab), "0xab");
    }
    let c = ledger_fuzz::run(("fragile", fragile), &[vec![0xaa, 1, 2]], 100_000, 3).unwrap_err();
    assert_eq!(c.input.first(), Some(&0xab));
    assert_eq!(c.target, "fragile");
    // The same seed finds the same input.
    let again =
        ledger_fuzz::run(("fragile", fragile), &[vec![0xaa, 1, 2]], 100_000, 3).unwrap_err();
    assert_eq!(again.input, c.input);
}
