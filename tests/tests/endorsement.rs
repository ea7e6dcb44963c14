//! Anonymous endorsements on the four-validator network: two banks endorse a fraud alert,
//! neither is named; a bank cannot endorse the same topic twice, neither through its
//! gateway nor by racing two signatures to two validators while consensus is halted; a
//! bank endorses two topics with unlinkable key images; a bank signs without submitting
//! and another bank's node submits for it; a forged ring signature is refused by every
//! validator; a regulator, outside the member ring, cannot endorse.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger_api::v1 as pb;
use ledger_e2e::*;
use ledger_types::{Endorse, Hash, Topic, Transaction, ANONYMOUS_SIGNER};

const BLOCK_TIME: &[&str] = &["--block-time-ms", "30"];

async fn endorsements(node: &TestNode, topic: &str) -> pb::GetEndorsementsResponse {
    node.client()
        .await
        .get_endorsements(pb::GetEndorsementsRequest {
            topic: topic.into(),
            offset: 0,
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner()
}

/// `node`'s endorsement of `statement` on `topic`, signed here with its unsealed ring key
/// for the genesis ring (the validators' ring keys in organisation order).
fn endorsement(net: &TestNet, node: usize, topic: &str, statement: &str) -> Transaction {
    let ring: Vec<[u8; 32]> = net
        .validators
        .iter()
        .map(|v| v.ring_secret().public())
        .collect();
    let statement = Endorse::statement_hash(statement);
    let signature = ledger_crypto::ring::ring_sign(
        chain().as_str(),
        topic.as_bytes(),
        &Endorse::message_for(&statement, 0),
        &ring,
        node,
        &net.validators[node].ring_secret(),
    )
    .unwrap()
    .to_bytes();
    Transaction::anonymous(
        chain(),
        Endorse {
            topic: Topic::new(topic).unwrap(),
            statement,
            ring_height: 0,
            signature,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_endorse_anonymously_once_per_topic() {
    let mut net = TestNet::new(4, 1);
    net.start_all(BLOCK_TIME).await;
    let mut bank_a = net.validators[0].gateway().await;
    let mut bank_b = net.validators[1].gateway().await;
    let topic = "alert.INV-2026-001";

    // Two members endorse the same alert: both apply, with different key images.
    let a = bank_a
        .endorse(topic, "INV-2026-001 was financed elsewhere", false)
        .await
        .unwrap();
    let b = bank_b
        .endorse(topic, "INV-2026-001 was financed elsewhere", false)
        .await
        .unwrap();
    assert!(a.committed && b.committed);
    assert_ne!(a.key_image, b.key_image);
    assert_eq!(a.ring_size, 4, "the ring is the four member banks");
    assert_eq!(
        a.ring_height, 0,
        "named by the height it was fixed at: genesis"
    );
    assert_eq!(a.statement_hash, b.statement_hash);

    // The same member on the same topic again: refused, naming its first endorsement.
    let e = bank_a
        .endorse(topic, "a second opinion", false)
        .await
        .unwrap_err();
    assert!(
        e.message().contains("already endorsed")
            && e.message()
                .contains(&Hash::from_slice(&a.tx_hash).unwrap().to_hex()),
        "{e:?}"
    );
    assert_eq!(e.code(), tonic::Code::AlreadyExists, "{e:?}");

    // The same member on another topic: applies, and its key image there is unrelated.
    let ballot = bank_a
        .endorse("ballot.admit-acme-bank", "yes", false)
        .await
        .unwrap();
    assert!(ballot.committed);
    assert_ne!(ballot.key_image, a.key_image);

    // The directory shows each member's ring key, and none for the regulator.
    let member = |org: &str| {
        let org = org.to_string();
        async {
            net.validators[0]
                .client()
                .await
                .get_member(pb::GetMemberRequest { org })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let m = member("val-2").await;
    assert_eq!(
        m.ring_key,
        net.validators[1].ring_secret().public().to_vec()
    );
    let r = member("obs-1").await;
    assert!(r.ring_key.is_empty() && r.audit_key.len() == 32);

    // A regulator holds no ring key: it is not one of the member banks.
    let mut regulator = net.observers[0].gateway().await;
    let e = regulator.endorse(topic, "seen", false).await.unwrap_err();
    assert!(e.message().contains("no ring key"), "{e:?}");
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");

    // Every node counts two endorsements of the alert; the transactions name no member.
    // (Each node is first waited for: it may be a block behind the gateways' nodes.)
    for node in net.nodes() {
        let mut client = node.client().await;
        wait_committed(&mut client, &Hash::from_slice(&b.tx_hash).unwrap()).await;
        let tx = wait_committed(&mut client, &Hash::from_slice(&a.tx_hash).unwrap()).await;
        let list = endorsements(node, topic).await;
        assert_eq!(list.total, 2, "{}", node.org);
        let images: Vec<&Vec<u8>> = list.endorsements.iter().map(|e| &e.key_image).collect();
        assert!(images.contains(&&a.key_image) && images.contains(&&b.key_image));
        assert_eq!(tx.signer, ANONYMOUS_SIGNER, "{}", node.org);
        let decoded = Transaction::decode(&tx.tx).unwrap();
        assert!(decoded.signature().0.is_empty());
    }

    // Bank D signs through its gateway without submitting, and has bank A's node submit
    // the bytes: bank D's node never carries its endorsement first.
    let mut bank_d = net.validators[3].gateway().await;
    let signed = bank_d
        .sign_endorsement(topic, "INV-2026-001 was financed elsewhere")
        .await
        .unwrap();
    assert!(!signed.committed);
    let hash = Hash::from_slice(&signed.tx_hash).unwrap();
    let e = net.validators[3]
        .client()
        .await
        .get_tx(pb::GetTxRequest {
            tx_hash: hash.0.to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "not submitted: {e:?}");
    submit(
        &mut net.validators[0].client().await,
        &Transaction::decode(&signed.tx).unwrap(),
    )
    .await;
    let r = wait_committed(&mut net.validators[3].client().await, &hash).await;
    assert_eq!(r.status, pb::TxStatus::Committed as i32);
    assert_eq!(endorsements(&net.validators[3], topic).await.total, 3);

    // A forged ring signature (one flipped byte) is refused by every validator.
    let honest = endorsement(&net, 3, "alert.INV-2026-002", "forged");
    let ledger_types::Payload::Endorse(mut forged) = honest.body().payload.clone() else {
        unreachable!()
    };
    forged.signature[32 + 128 + 100] ^= 1;
    let forged = Transaction::anonymous(chain(), forged);
    for node in &net.validators {
        let e = node
            .client()
            .await
            .submit_tx(pb::SubmitTxRequest {
                tx: forged.bytes().to_vec(),
            })
            .await
            .unwrap_err();
        assert!(
            e.message().contains("does not verify")
                && e.metadata().get("ledger-reject-reason").unwrap() == "bad_endorsement",
            "{}: {e:?}",
            node.org
        );
    }

    // Consensus halted (two of four validators stopped), bank C's two endorsements of one
    // topic reach two validators at once. When consensus resumes, exactly one applies on
    // every node and the other is gone from every mempool.
    let race = "alert.INV-2026-003";
    let first = endorsement(&net, 2, race, "financed twice");
    let second = endorsement(&net, 2, race, "financed three times");
    assert!(net.validators[0].stop().success());
    assert!(net.validators[3].stop().success());
    let (mut c2, mut c3) = (
        net.validators[1].client().await,
        net.validators[2].client().await,
    );
    let (r1, r2) = tokio::join!(
        c3.submit_tx(pb::SubmitTxRequest {
            tx: first.bytes().to_vec()
        }),
        c2.submit_tx(pb::SubmitTxRequest {
            tx: second.bytes().to_vec()
        }),
    );
    // Usually both are admitted; if a relay overtook one, that node refused it already.
    for r in [&r1, &r2] {
        if let Err(e) = r {
            assert_eq!(
                e.metadata().get("ledger-reject-reason").unwrap(),
                "endorsement_pending",
                "{e:?}"
            );
        }
    }
    assert!(r1.is_ok() || r2.is_ok());
    net.validators[0].start(BLOCK_TIME).await;
    net.validators[3].start(BLOCK_TIME).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let winner = loop {
        let list = endorsements(&net.validators[1], race).await;
        if let Some(e) = list.endorsements.first() {
            break Hash::from_slice(&e.tx_hash).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no endorsement applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let loser = if winner == first.hash() {
        second.hash()
    } else {
        first.hash()
    };
    assert!(winner == first.hash() || winner == second.hash());
    let nodes: Vec<&TestNode> = net.nodes().collect();
    let h = height_of(nodes[1]).await;
    wait_for_height(&nodes, h + 2, 60).await;
    for node in net.nodes() {
        let list = endorsements(node, race).await;
        assert_eq!(list.total, 1, "{}: one endorsement per member", node.org);
        assert_eq!(list.endorsements[0].tx_hash, winner.0.to_vec());
        let e = node
            .client()
            .await
            .get_tx(pb::GetTxRequest {
                tx_hash: loser.0.to_vec(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound, "{}: {e:?}", node.org);
    }
}
