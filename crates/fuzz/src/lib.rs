//! Fuzz targets for every decoder that reads bytes from outside the node (docs/fuzzing.md),
//! a mutation fuzzer that runs them on stable Rust, and the seeds of their corpora.
//!
//! A target takes arbitrary bytes and must never panic: it decodes them and, where the
//! format is canonical, checks that what decodes encodes back to the same bytes (so two
//! byte strings never name one value). The runner ([`run`]) mutates the corpus (bit
//! flips, random and boundary bytes, insertions, deletions, splices, length fields set to
//! extremes) with a seeded generator, so a run is reproducible from its seed; a panic is a
//! [`Crash`] carrying the input, which becomes a regression entry in the target's corpus.

// A target reports a broken invariant by panicking: that is what the fuzzer looks for.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use ledger_types::codec::Decoder;
use malachitebft_codec::Codec;
use prost::Message as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A target: a name and the function that takes the bytes.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by the name of its corpus folder (`fuzz/corpus/{name}`).
pub const TARGETS: &[Target] = &[
    ("transaction", transaction),
    ("block", block),
    ("consensus-message", consensus_message),
    ("document", document),
    ("proof", proof),
    ("fhe-envelope", fhe_envelope),
    ("encrypted-amount", encrypted_amount),
    ("gateway-message", gateway_message),
    ("audit-log-line", audit_log_line),
];

/// A transaction as a client or a peer sends it (`SubmitTx`, `RelayTxs`, blocks): the
/// envelope and every payload kind. Canonical: what decodes re-encodes to the same bytes;
/// a signature check over it does not panic.
pub fn transaction(data: &[u8]) {
    if let Ok(t) = ledger_types::Transaction::decode(data) {
        assert_eq!(
            t.bytes(),
            data,
            "a transaction decoded from bytes it does not encode to"
        );
        if let Ok(key) =
            ledger_types::PublicKey::new(ledger_types::SignatureScheme::Ed25519, vec![7; 32])
        {
            let _ = ledger_crypto::verify_tx_signature(&t, &key);
        }
        let _ = ledger_types::Transaction::hash_of_bytes(data);
    }
}

/// A block as sync and proposals carry it: full decode, the header-and-commit outline and
/// the headers-only summary agree, and a decoded block re-encodes to the same bytes.
pub fn block(data: &[u8]) {
    let full = ledger_types::Block::decode(data);
    let outline = ledger_types::Block::outline(data);
    let summary = ledger_types::Block::summarize(data);
    if let Ok(b) = full {
        assert_eq!(
            b.encode(),
            data,
            "a block decoded from bytes it does not encode to"
        );
        let o = outline.expect("a block that decodes has an outline");
        assert_eq!(o.header, *b.header());
        assert_eq!(o.commit, b.commit);
        assert_eq!(o.txs, b.txs.len());
        let s = summary.expect("a block that decodes has a summary");
        assert_eq!(s.hash, b.hash());
    }
}

/// Consensus messages from peers: votes, proposals, proposal parts and streams, liveness,
/// sync status, requests and responses.
pub fn consensus_message(data: &[u8]) {
    use ledger_consensus::{LedgerCodec, LedgerContext as Ctx, ProposalPart};
    use malachitebft_app_channel::app::types::streaming::StreamMessage;
    use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
    use malachitebft_app_channel::app::types::SignedConsensusMsg;
    let b = bytes::Bytes::copy_from_slice(data);
    let c = LedgerCodec;
    if let Ok(m) = Codec::<SignedConsensusMsg<Ctx>>::decode(&c, b.clone()) {
        let again = Codec::<SignedConsensusMsg<Ctx>>::encode(&c, &m).expect("re-encode");
        assert_eq!(again.as_ref(), data, "a consensus message is not canonical");
    }
    if let Ok(p) = Codec::<ProposalPart>::decode(&c, b.clone()) {
        let again = Codec::<ProposalPart>::encode(&c, &p).expect("re-encode");
        assert_eq!(again.as_ref(), data, "a proposal part is not canonical");
    }
    let _ = Codec::<StreamMessage<ProposalPart>>::decode(&c, b.clone());
    let _ = Codec::<Status<Ctx>>::decode(&c, b.clone());
    let _ = Codec::<Request<Ctx>>::decode(&c, b.clone());
    let _ = Codec::<Response<Ctx>>::decode(&c, b);
}

/// A trade document as a reader unseals it from a record's `document` field.
pub fn document(data: &[u8]) {
    if let Ok(d) = ledger_circuits::Document::from_bytes(data) {
        assert_eq!(
            d.to_bytes(),
            data,
            "a document decoded from bytes it does not encode to"
        );
        let _ = d.commitment_bytes();
    }
}

/// Proof bytes as transactions carry them: a range proof checked against a commitment,
/// audit-handle and possession proofs, ring signatures, a Groth16 proof against the
/// development verifying key.
pub fn proof(data: &[u8]) {
    let ctx = ledger_proofs::Context {
        chain_id: "fuzz".into(),
        items: vec![("r".into(), 1, "f".into())],
    };
    let c = ledger_proofs::Opening::new(7).commit();
    let _ = ledger_proofs::verify_range(
        &ctx,
        &[c],
        &ledger_proofs::RangeProofData {
            padding: vec![],
            proof: data.to_vec(),
        },
    );
    let _ = ledger_proofs::HandleProof::from_bytes(data);
    let _ = ledger_proofs::DlogProof::from_bytes(data);
    let _ = ledger_crypto::ring::RingSignature::from_bytes(data);
    let _ = ledger_crypto::ring::verify_possession(data, b"fuzz", data);
    if let Ok(vk) = ledger_circuits::dev_verifying_key(ledger_circuits::CircuitId::Invoice) {
        let _ = vk.verify(&[], data);
    }
}

/// The analytics key file and encrypted results as nodes read them (tfhe's size-limited
/// safe deserialisation behind our framing).
pub fn fhe_envelope(data: &[u8]) {
    if let Ok(k) = ledger_fhe::PublicKeys::from_bytes(data) {
        let _ = k.id();
    }
    let _ = ledger_fhe::QueryResult::from_bytes(data.to_vec()).hash();
}

/// The analytics keys and evaluator of a fixed secret (small profile), made once.
fn analytics() -> Option<&'static (ledger_fhe::PublicKeys, ledger_fhe::Evaluator)> {
    static A: std::sync::OnceLock<Option<(ledger_fhe::PublicKeys, ledger_fhe::Evaluator)>> =
        std::sync::OnceLock::new();
    A.get_or_init(|| {
        let secret = ledger_fhe::AnalyticsSecret::from_bytes(&[7; 32]).ok()?;
        let keys = ledger_fhe::PublicKeys::generate(&secret, ledger_fhe::Profile::Small).ok()?;
        let eval = ledger_fhe::Evaluator::new(&keys).ok()?;
        Some((keys, eval))
    })
    .as_ref()
}

/// The context the encrypted-amount seed is proven for.
pub const AMOUNT_CONTEXT: &[u8] = b"fuzz-context";

/// An encrypted amount with its proof of encryption, as financing requests and `fhe`
/// fields carry it: validators check it (size limits, conformance, type, proof) before
/// they vote. Expensive when the bytes parse (a proof verification): run fewer of them.
pub fn encrypted_amount(data: &[u8]) {
    let _ = amount_accepted(data);
}

/// Whether the fixed evaluator accepts `data` as an amount proven for [`AMOUNT_CONTEXT`].
pub fn amount_accepted(data: &[u8]) -> bool {
    analytics().is_some_and(|(_, e)| {
        e.check_amount(
            &ledger_fhe::EncryptedAmount::from_bytes(data.to_vec()),
            AMOUNT_CONTEXT,
        )
        .is_ok()
    })
}

/// Protobuf messages the gateway and the public API accept, and their conversion to the
/// ledger's types.
pub fn gateway_message(data: &[u8]) {
    use ledger_api::v1 as pb;
    let _ = pb::GatewayPutRequest::decode(data);
    let _ = pb::CrossCheckRequest::decode(data);
    let _ = pb::FinancingRequest::decode(data);
    let _ = pb::AnalyticsAskRequest::decode(data);
    if let Ok(s) = pb::GatewaySchemaRequest::decode(data) {
        for f in &s.fields {
            let _ = ledger_types::SchemaField::try_from(f);
        }
    }
    if let Ok(r) = pb::SubmitTxRequest::decode(data) {
        transaction(&r.tx);
    }
    if let Ok(r) = pb::RelayTxsRequest::decode(data) {
        for t in &r.txs {
            transaction(t);
        }
    }
    if let Ok(r) = pb::SubmitTxsRequest::decode(data) {
        for t in &r.txs {
            transaction(t);
        }
    }
}

/// A line of a regulator's audit log, as the node reads it back at start.
pub fn audit_log_line(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = serde_json::from_str::<ledger_home::audit_log::AuditEntry>(text);
    }
    // State entries are read back with the same decoder types.
    let mut d = Decoder::new(data);
    let _ = ledger_types::RegisterSchema::decode(&mut d);
}

/// What a run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Inputs tried.
    pub runs: u64,
}

/// An input that made a target panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash {
    /// The target.
    pub target: &'static str,
    /// The input.
    pub input: Vec<u8>,
    /// The panic's message.
    pub message: String,
}

/// Runs `target` over `corpus`, then over `iterations` mutations of it made from `seed`.
pub fn run(
    target: Target,
    corpus: &[Vec<u8>],
    iterations: u64,
    seed: u64,
) -> Result<Stats, Box<Crash>> {
    let (name, f) = target;
    let mut rng = StdRng::seed_from_u64(seed);
    let empty = [Vec::new()];
    let pool: &[Vec<u8>] = if corpus.is_empty() { &empty } else { corpus };
    let mut runs = 0u64;
    let mut try_one = |input: &[u8]| -> Result<(), Box<Crash>> {
        runs += 1;
        catch_unwind(AssertUnwindSafe(|| f(input))).map_err(|p| {
            let message = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Box::new(Crash {
                target: name,
                input: input.to_vec(),
                message,
            })
        })
    };
    for input in pool {
        try_one(input)?;
    }
    for _ in 0..iterations {
        let base = &pool[rng.gen_range(0..pool.len())];
        let other = &pool[rng.gen_range(0..pool.len())];
        let input = mutate(&mut rng, base, other);
        try_one(&input)?;
    }
    Ok(Stats { runs })
}

/// One mutation of `input` (sometimes stacked), spliced with `other` at times.
pub fn mutate(rng: &mut StdRng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    let rounds = 1 + rng.gen_range(0..4);
    for _ in 0..rounds {
        let len = v.len();
        match rng.gen_range(0..9) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] = rng.gen();
            }
            2 => {
                let i = rng.gen_range(0..=len);
                let n = rng.gen_range(1..16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                v.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(32));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                v.truncate(rng.gen_range(0..len));
            }
            5 if len >= 4 => {
                // A length or count field set to an extreme.
                let i = rng.gen_range(0..=len - 4);
                let x: u32 = match rng.gen_range(0..4) {
                    0 => 0,
                    1 => u32::MAX,
                    2 => 0x8000_0000,
                    _ => rng.gen_range(0..300),
                };
                v[i..i + 4].copy_from_slice(&x.to_be_bytes());
            }
            6 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] = [0u8, 1, 0x7f, 0x80, 0xff][rng.gen_range(0..5)];
            }
            7 if !other.is_empty() => {
                let at = rng.gen_range(0..=len);
                let from = rng.gen_range(0..other.len());
                let n = rng.gen_range(1..=(other.len() - from).min(64));
                v.splice(at..at, other[from..from + n].iter().copied());
            }
            _ if len > 1 => {
                // Duplicate a range.
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(32));
                let dup = v[i..i + n].to_vec();
                v.splice(i..i, dup);
            }
            _ => v.push(rng.gen()),
        }
    }
    v
}

/// Valid inputs of each target, made with software keys: the corpora start from these
/// (`ledger-fuzz seed` writes them; the tests use them too).
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    use ledger_state::testing::{payload_schema, sealed_put, TestOrg};
    use ledger_types::{ChainId, Payload, Role};
    let chain = ChainId::new("fuzz-chain").expect("a chain id");
    let bank = TestOrg::new("bank-a");
    let reg = bank.registration(&chain, &[Role::Validator, Role::Member]);
    let schema = bank.sign(&chain, 1, Payload::RegisterSchema(payload_schema()));
    let put = bank.sign(
        &chain,
        2,
        Payload::PutRecord(sealed_put(
            &chain,
            "inv-1",
            1,
            &payload_schema(),
            "payload",
            b"10",
            &[&bank],
        )),
    );
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![
        ("transaction", reg.bytes().to_vec()),
        ("transaction", schema.bytes().to_vec()),
        ("transaction", put.bytes().to_vec()),
    ];
    if let Ok((genesis, _)) = ledger_state::genesis::genesis_block(&chain, 1, vec![reg.clone()]) {
        out.push(("block", genesis.encode()));
    }
    let block = ledger_types::Block::new(
        ledger_types::BlockHeader {
            chain_id: chain.clone(),
            height: 2,
            timestamp_ms: 2,
            prev_hash: ledger_types::Hash([1; 32]),
            tx_root: ledger_types::Hash([2; 32]),
            state_root: ledger_types::Hash([3; 32]),
            proposer: bank.id.clone(),
            tx_count: 2,
        },
        vec![schema.clone(), put.clone()],
        ledger_types::Commit {
            round: 0,
            signatures: vec![ledger_types::CommitSignature {
                validator: bank.id.clone(),
                signature: ledger_types::Signature(vec![9; 64]),
            }],
        },
    );
    out.push(("block", block.encode()));
    let doc = ledger_circuits::Document {
        kind: ledger_types::DocumentKind::Invoice,
        seller: "acme".into(),
        buyer: "globex".into(),
        carrier: String::new(),
        number: "INV-1".into(),
        reference: "PO-1".into(),
        issue_date: 20_000,
        lines: vec![ledger_circuits::Line {
            unit_price: 1250,
            quantity: 40,
            total: 50_000,
        }],
        total: 50_000,
        blinding: ledger_circuits::Fr::from(7u64),
    };
    out.push(("document", doc.to_bytes()));
    let ctx = ledger_proofs::Context {
        chain_id: "fuzz".into(),
        items: vec![("r".into(), 1, "f".into())],
    };
    if let Ok(p) = ledger_proofs::prove_range(&ctx, &[ledger_proofs::Opening::new(7)]) {
        out.push(("proof", p.proof));
    }
    let gw = ledger_api::v1::SubmitTxRequest {
        tx: put.bytes().to_vec(),
    };
    out.push(("gateway-message", gw.encode_to_vec()));
    let schema_req = ledger_api::v1::GatewaySchemaRequest {
        schema_id: "invoice".into(),
        fields: vec![ledger_api::v1::SchemaField {
            name: "total".into(),
            r#type: "amount".into(),
            required: true,
            committed: true,
            fhe: true,
            ..Default::default()
        }],
        ..Default::default()
    };
    out.push(("gateway-message", schema_req.encode_to_vec()));
    out.push((
        "audit-log-line",
        br#"{"seq":1,"time_ms":1,"org":"reg-1","client":"cli","record":"INV-1","version":1,"owner":"bank-a","field":"total","prev":"00","hash":"11","seal":"22"}"#.to_vec(),
    ));
    out.push(("fhe-envelope", b"CLFHEK1\x01".to_vec()));
    if let Some((keys, _)) = analytics() {
        if let Ok(a) = ledger_fhe::encrypt_amount(keys, 5, AMOUNT_CONTEXT) {
            out.push(("encrypted-amount", a.as_bytes().to_vec()));
        }
    }
    out.push(("consensus-message", vec![1, 0, 0, 0, 1]));
    out
}
