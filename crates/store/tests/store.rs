//! The store commits whole blocks, keeps them across reopen, and refuses out-of-order ones.

use ledger_crypto::sign_commit;
use ledger_state::testing::{payload_schema, sealed_put, TestOrg};
use ledger_state::{build_block, record_version, ProposeParams};
use ledger_store::{Store, StoreError};
use ledger_types::*;

#[test]
fn commit_reopen_verify_and_refuse_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let bank = TestOrg::new("bank-a");
    let key = &bank.key;
    let chain = ChainId::new("st").unwrap();
    let org = bank.id.clone();
    let reg = bank.registration(&chain, &[Role::Validator, Role::Member]);
    let (genesis, ex) = ledger_state::genesis::genesis_block(&chain, 1, vec![reg]).unwrap();
    let schema = bank.sign(&chain, 1, Payload::RegisterSchema(payload_schema()));
    let put = bank.sign(
        &chain,
        2,
        Payload::PutRecord(sealed_put(
            &chain,
            "inv",
            1,
            &payload_schema(),
            "payload",
            b"10",
            &[&bank],
        )),
    );
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.height(), None);
        store.commit_block(&genesis, &ex).unwrap();
        let tip = store.tip().unwrap();
        let params = ProposeParams {
            proposer: org.clone(),
            timestamp_ms: 2,
            max_txs: 10,
            max_bytes: 1 << 20,
        };
        let built = build_block(
            &store,
            &tip.accumulator,
            &tip.header,
            &params,
            vec![schema, put.clone()],
            &(),
        )
        .unwrap();
        let sig = sign_commit(key, &built.header, 0, &org).unwrap();
        let block = Block::new(
            built.header,
            built.txs,
            Commit {
                round: 0,
                signatures: vec![CommitSignature {
                    validator: org.clone(),
                    signature: sig,
                }],
            },
        );
        assert_eq!(
            store.commit_block(&genesis, &ex),
            Err(StoreError::OutOfOrder {
                expected: 1,
                got: 0
            })
        );
        // Read as absent before the block (the store keeps what it read), present after:
        // the commit writes its diff through to the reads it keeps.
        let inv = RecordId::new("inv").unwrap();
        assert!(record_version(&store, &inv, 1).unwrap().is_none());
        store.commit_block(&block, &built.execution).unwrap();
        assert!(record_version(&store, &inv, 1).unwrap().is_some());
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.height(), Some(1));
    let report = store.verify_integrity().unwrap();
    assert_eq!((report.height, report.transactions), (1, 3));
    let loc = store.tx_location(&put.hash()).unwrap().unwrap();
    assert_eq!((loc.height, loc.index, loc.failure), (1, 1, None));
    let v = record_version(&store, &RecordId::new("inv").unwrap(), 1)
        .unwrap()
        .unwrap();
    assert_eq!(v.fields[0].sealed.len(), 29 + 2);
    assert_eq!(v.wraps[0].reader, org);
    assert_eq!(store.block(1).unwrap().unwrap().txs[1], put);
}

#[test]
fn state_scans_list_a_prefix_in_key_order_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainId::new("scan").unwrap();
    let orgs: Vec<TestOrg> = ["bank-c", "bank-a", "reg-1", "bank-b"]
        .into_iter()
        .map(TestOrg::new)
        .collect();
    let regs = orgs
        .iter()
        .map(|o| o.registration(&chain, &[Role::Validator, Role::Member]))
        .collect();
    let (genesis, ex) = ledger_state::genesis::genesis_block(&chain, 1, regs).unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.commit_block(&genesis, &ex).unwrap();
    let names = |entries: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<String> {
        entries
            .into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect()
    };
    let all = names(store.state_scan(b"member/", None, 100).unwrap());
    assert_eq!(
        all,
        [
            "member/bank-a",
            "member/bank-b",
            "member/bank-c",
            "member/reg-1"
        ]
    );
    let first = names(store.state_scan(b"member/", None, 2).unwrap());
    assert_eq!(first, ["member/bank-a", "member/bank-b"]);
    let next = names(
        store
            .state_scan(b"member/", Some(first[1].as_bytes()), 2)
            .unwrap(),
    );
    assert_eq!(next, ["member/bank-c", "member/reg-1"]);
    assert!(store
        .state_scan(b"member/", Some(b"member/reg-1"), 2)
        .unwrap()
        .is_empty());
    assert!(store.state_scan(b"nothing/", None, 10).unwrap().is_empty());
}
