//! The state key layout. Identifiers never contain `/`, so `/` separates unambiguously.

use ledger_types::{FieldName, Hash, OrgId, RecordId, SchemaId, Topic};

/// `member/{org}` → the organisation's `RegisterMember` entry.
pub fn member(org: &OrgId) -> Vec<u8> {
    [b"member/".as_slice(), org.as_str().as_bytes()].concat()
}

/// `nonce/{org}` → the next nonce the organisation must use (u64 big-endian).
pub fn nonce(org: &OrgId) -> Vec<u8> {
    [b"nonce/".as_slice(), org.as_str().as_bytes()].concat()
}

/// `validators` → the sorted validator set.
pub fn validators() -> Vec<u8> {
    b"validators".to_vec()
}

/// `validators/changes` → the heights at which a scheduled validator set takes effect (u64
/// big-endian each, ascending).
pub fn validator_changes() -> Vec<u8> {
    b"validators/changes".to_vec()
}

/// `validators/at/{height u64 BE}` → the validator set from that height (0: the genesis
/// set, kept once the first change is scheduled).
pub fn validators_at(height: u64) -> Vec<u8> {
    [b"validators/at/".as_slice(), &height.to_be_bytes()].concat()
}

/// `validators/p2p/{org}` → the consensus address (a libp2p multiaddress) governance
/// approved for a validator's node.
pub fn validator_p2p(org: &OrgId) -> Vec<u8> {
    [b"validators/p2p/".as_slice(), org.as_str().as_bytes()].concat()
}

/// `validators/api/{org}` → the public API address governance approved for a validator's
/// node (followers and removed validators reach the validators there).
pub fn validator_api(org: &OrgId) -> Vec<u8> {
    [b"validators/api/".as_slice(), org.as_str().as_bytes()].concat()
}

/// `key-owner/{kind}/{key hex}` → the organisation that registered that key (`audit`,
/// `encryption`): no two members register the same one.
pub fn key_owner(kind: &str, key: &[u8]) -> Vec<u8> {
    let mut k = format!("key-owner/{kind}/").into_bytes();
    for b in key {
        k.extend(format!("{b:02x}").as_bytes());
    }
    k
}

/// `record/{id}` → the record head (owner, latest version).
pub fn record_head(id: &RecordId) -> Vec<u8> {
    [b"record/".as_slice(), id.as_str().as_bytes()].concat()
}

/// `record/{id}/{version u32 big-endian}` → one version of the record.
pub fn record_version(id: &RecordId, version: u32) -> Vec<u8> {
    [
        b"record/".as_slice(),
        id.as_str().as_bytes(),
        b"/",
        &version.to_be_bytes(),
    ]
    .concat()
}

/// `schema/{id}` → the schema head (registrar, latest version).
pub fn schema_head(id: &SchemaId) -> Vec<u8> {
    [b"schema/".as_slice(), id.as_str().as_bytes()].concat()
}

/// `schema/{id}/{version u32 big-endian}` → that version's `RegisterSchema`.
pub fn schema_version(id: &SchemaId, version: u32) -> Vec<u8> {
    [
        b"schema/".as_slice(),
        id.as_str().as_bytes(),
        b"/",
        &version.to_be_bytes(),
    ]
    .concat()
}

// A record's histories (access events, audit alerts, cross-checks) are append-only keyed
// entries, `{access|alerts|checks}-entry/{record}/{seq}` with a count at
// `{access|alerts|checks}-count/{record}`, plus `alert-filed/...` markers: see
// `model::history`. Chains written by earlier versions also hold the whole list at
// `{access|alerts|checks}/{record}`, read as the oldest entries and never rewritten.

/// `gov/params` → the governance parameters, once a proposal set them (before that the
/// validators govern with the defaults of `model::governance_params`).
pub fn gov_params() -> Vec<u8> {
    b"gov/params".to_vec()
}

/// `gov/next` → the next proposal number (u64 big-endian; 1 when absent).
pub fn gov_next() -> Vec<u8> {
    b"gov/next".to_vec()
}

/// `gov/proposal/{id u64 BE}` → a proposal and its tally.
pub fn gov_proposal(id: u64) -> Vec<u8> {
    [b"gov/proposal/".as_slice(), &id.to_be_bytes()].concat()
}

/// `gov/vote/{id u64 BE}/{org}` → a governor's vote (1 yes, 0 no).
pub fn gov_vote(id: u64, org: &OrgId) -> Vec<u8> {
    [
        b"gov/vote/".as_slice(),
        &id.to_be_bytes(),
        b"/",
        org.as_str().as_bytes(),
    ]
    .concat()
}

/// `gov/open/{action}/{subject}` → the open proposal on it (u64 big-endian; empty: none).
pub fn gov_open(subject: &str) -> Vec<u8> {
    [b"gov/open/".as_slice(), subject.as_bytes()].concat()
}

/// `suspended/{org}` → the member's standing: empty (good), the proposal and height that
/// suspended it (two u64 big-endian), or those that removed it followed by a 1 byte.
pub fn suspended(org: &OrgId) -> Vec<u8> {
    [b"suspended/".as_slice(), org.as_str().as_bytes()].concat()
}

/// `key-history/{org}` → the member's key rotations, oldest first: for each, the height,
/// the kind, the old key and the new key.
pub fn key_history(org: &OrgId) -> Vec<u8> {
    [KEY_HISTORY_PREFIX, org.as_str().as_bytes()].concat()
}

/// The prefix of every [`key_history`] key.
pub const KEY_HISTORY_PREFIX: &[u8] = b"key-history/";

/// `ring/floor` → the height of the last ring change that took a key out of the ring
/// (u64 big-endian): endorsements must use a ring fixed at or after it.
pub fn ring_floor() -> Vec<u8> {
    b"ring/floor".to_vec()
}

/// `chain/development` → `[1]` on a development chain (fixed in genesis): its circuit
/// keys may be the public development keys, whose trapdoor anyone can recompute.
pub fn development() -> Vec<u8> {
    b"chain/development".to_vec()
}

/// `circuit/{name}` → the circuit's Groth16 verifying key (compressed), fixed in genesis.
pub fn circuit(name: &str) -> Vec<u8> {
    [b"circuit/".as_slice(), name.as_bytes()].concat()
}

/// `nullifier/{32 bytes}` → the financing request that used the receivable nullifier.
pub fn nullifier(n: &[u8; 32]) -> Vec<u8> {
    [b"nullifier/".as_slice(), n.as_slice()].concat()
}

/// `ring/changes` → the heights at which the member ring changed (u64 big-endian each,
/// ascending; genesis is the first).
pub fn ring_changes() -> Vec<u8> {
    b"ring/changes".to_vec()
}

/// `ring/at/{height u64 big-endian}` → the member ring from that height on: the ring
/// public keys of the members, in organisation-id order.
pub fn ring_at(height: u64) -> Vec<u8> {
    [b"ring/at/".as_slice(), &height.to_be_bytes()].concat()
}

/// `endorse/{topic}` → how many endorsements the topic has (u64 big-endian).
pub fn endorsement_count(topic: &Topic) -> Vec<u8> {
    [b"endorse/".as_slice(), topic.as_str().as_bytes()].concat()
}

/// `endorse/{topic}/n/{index u64 big-endian}` → the topic's endorsement number `index`.
pub fn endorsement_at(topic: &Topic, index: u64) -> Vec<u8> {
    [
        b"endorse/".as_slice(),
        topic.as_str().as_bytes(),
        b"/n/",
        &index.to_be_bytes(),
    ]
    .concat()
}

/// `endorse/{topic}/i/{key image}` → the index of the endorsement with that key image
/// (u64 big-endian): one per member per topic.
pub fn endorsement_image(topic: &Topic, image: &[u8; 32]) -> Vec<u8> {
    [
        b"endorse/".as_slice(),
        topic.as_str().as_bytes(),
        b"/i/",
        image.as_slice(),
    ]
    .concat()
}

/// `analytics/config` → the chain's analytics configuration (fixed in genesis).
pub fn analytics_config() -> Vec<u8> {
    b"analytics/config".to_vec()
}

/// `analytics/buyer/{buyer}` → how many financings with an encrypted amount the buyer has
/// (u64 big-endian).
pub fn analytics_buyer_count(buyer: &OrgId) -> Vec<u8> {
    [b"analytics/buyer/".as_slice(), buyer.as_str().as_bytes()].concat()
}

/// `analytics/buyer/{buyer}/n/{index u64 big-endian}` → the buyer's financing number
/// `index` (bank, transaction).
pub fn analytics_buyer_at(buyer: &OrgId, index: u64) -> Vec<u8> {
    [
        b"analytics/buyer/".as_slice(),
        buyer.as_str().as_bytes(),
        b"/n/",
        &index.to_be_bytes(),
    ]
    .concat()
}

/// `analytics/field/{owner}/{schema}/{field}` → how many record versions of `owner` carried
/// an encrypted (`fhe`) value of the field (u64 big-endian).
pub fn analytics_field_count(owner: &OrgId, schema: &SchemaId, field: &FieldName) -> Vec<u8> {
    [
        b"analytics/field/".as_slice(),
        owner.as_str().as_bytes(),
        b"/",
        schema.as_str().as_bytes(),
        b"/",
        field.as_str().as_bytes(),
    ]
    .concat()
}

/// `analytics/field/{owner}/{schema}/{field}/n/{index u64 big-endian}` → the record version
/// number `index` (record, version, transaction) that carried one.
pub fn analytics_field_at(
    owner: &OrgId,
    schema: &SchemaId,
    field: &FieldName,
    index: u64,
) -> Vec<u8> {
    [
        analytics_field_count(owner, schema, field).as_slice(),
        b"/n/",
        &index.to_be_bytes(),
    ]
    .concat()
}

/// `analytics/query/{ask tx hash}` → the query and what happened to it.
pub fn analytics_query(id: &Hash) -> Vec<u8> {
    [b"analytics/query/".as_slice(), id.as_bytes()].concat()
}
