//! The store commits whole blocks, keeps them across reopen, and refuses out-of-order ones.

use ledger_crypto::{sign_commit, sign_tx, Ed25519SoftwareKey};
use ledger_state::{build_block, record_version, ProposeParams};
use ledger_store::{Store, StoreError};
use ledger_types::*;

#[test]
fn commit_reopen_verify_and_refuse_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let key = Ed25519SoftwareKey::generate();
    let chain = ChainId::new("st").unwrap();
    let org = OrgId::new("bank-a").unwrap();
    let reg = ledger_state::genesis::registration(
        &key,
        &chain,
        &org,
        &[Role::Validator, Role::Member],
        vec![],
    )
    .unwrap();
    let (genesis, ex) = ledger_state::genesis::genesis_block(&chain, 1, vec![reg]).unwrap();
    let put = sign_tx(
        &key,
        TxBody {
            chain_id: chain.clone(),
            signer: org.clone(),
            nonce: 1,
            payload: Payload::PutRecord(PutRecord {
                record: RecordId::new("inv").unwrap(),
                version: 1,
                fields: vec![RecordField {
                    name: FieldName::new("total").unwrap(),
                    blob: b"10".to_vec(),
                }],
            }),
        },
    )
    .unwrap();
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
            vec![put.clone()],
            &(),
        )
        .unwrap();
        let sig = sign_commit(&key, &built.header.hash()).unwrap();
        let block = Block::new(
            built.header,
            built.txs,
            Commit {
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
        store.commit_block(&block, &built.execution).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.height(), Some(1));
    let report = store.verify_integrity().unwrap();
    assert_eq!((report.height, report.transactions), (1, 2));
    let loc = store.tx_location(&put.hash()).unwrap().unwrap();
    assert_eq!((loc.height, loc.index, loc.failure), (1, 0, None));
    let v = record_version(&store, &RecordId::new("inv").unwrap(), 1)
        .unwrap()
        .unwrap();
    assert_eq!(v.fields[0].blob, b"10");
    assert_eq!(store.block(1).unwrap().unwrap().txs[0], put);
}
