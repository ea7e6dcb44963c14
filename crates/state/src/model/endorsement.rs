//! Anonymous endorsements in state: the member rings that sign them (`ring/changes`
//! lists the heights a ring was fixed at, `ring/{height}` holds it) and each topic's
//! endorsements, indexed by position and by key image.

use ledger_types::codec::{Decoder, Encoder};
use ledger_types::{CodecError, Hash, Topic};

use super::corrupt;
use crate::{keys, StateError, StateView};

/// A member ring: the ring public keys of anonymous endorsements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRing {
    /// The height it was fixed at (it is in force from there to the next one).
    pub since: u64,
    /// The members' ring public keys, in organisation-id order.
    pub keys: Vec<[u8; 32]>,
}

type Writes = Vec<(Vec<u8>, Vec<u8>)>;

/// The member ring in force at `height`. `None` if no ring was ever fixed (a chain from
/// before ring keys).
pub fn member_ring(view: &impl StateView, height: u64) -> Result<Option<MemberRing>, StateError> {
    let key = keys::ring_changes();
    let Some(b) = view.get(&key)? else {
        return Ok(None);
    };
    if b.len() % 8 != 0 {
        return Err(corrupt(
            &key,
            CodecError::NotCanonical {
                what: "ring changes",
                reason: format!("{} bytes is not a list of heights", b.len()),
            },
        ));
    }
    let since = b
        .chunks(8)
        .filter_map(|c| <[u8; 8]>::try_from(c).ok().map(u64::from_be_bytes))
        .take_while(|h| *h <= height)
        .last();
    let Some(since) = since else {
        return Ok(None);
    };
    let key = keys::ring_at(since);
    let Some(b) = view.get(&key)? else {
        return Err(corrupt(
            &key,
            CodecError::NotCanonical {
                what: "member ring",
                reason: "listed in ring/changes but absent".into(),
            },
        ));
    };
    let mut d = Decoder::new(&b);
    let ring = (|| {
        let n = d.count("ring members", ledger_crypto::ring::MAX_RING, 0)?;
        let ring = (0..n)
            .map(|_| d.array("ring key"))
            .collect::<Result<Vec<[u8; 32]>, _>>()?;
        d.finish("member ring")?;
        Ok::<_, CodecError>(ring)
    })()
    .map_err(|e| corrupt(&key, e))?;
    Ok(Some(MemberRing { since, keys: ring }))
}

/// The writes that fix `ring` as the member ring from `height` on, after the rings already
/// fixed.
pub(crate) fn fix_ring(
    view: &impl StateView,
    height: u64,
    ring: &[[u8; 32]],
) -> Result<Writes, StateError> {
    let mut changes = view.get(&keys::ring_changes())?.unwrap_or_default();
    changes.extend_from_slice(&height.to_be_bytes());
    let mut e = Encoder::new();
    e.count(ring.len());
    for k in ring {
        e.fixed(k);
    }
    Ok(vec![
        (keys::ring_changes(), changes),
        (keys::ring_at(height), e.finish()),
    ])
}

/// The writes that add `key` to the member ring from `height` on (a ring fixed earlier at
/// that same height is extended rather than fixed twice).
pub(crate) fn add_to_ring(
    view: &impl StateView,
    height: u64,
    key: [u8; 32],
) -> Result<Writes, StateError> {
    let mut ring = member_ring(view, height)?
        .map(|r| r.keys)
        .unwrap_or_default();
    ring.push(key);
    set_ring(view, height, &ring, false)
}

/// The writes that make `ring` the member ring from `height` on (the ring fixed earlier at
/// that same height, if any, replaced), and, when `shrinks` (a key left the ring), raise
/// the ring floor to `height`: endorsements must then use a ring fixed from there on, so a
/// removed, suspended or rotated-away ring key signs nothing more.
pub(crate) fn set_ring(
    view: &impl StateView,
    height: u64,
    ring: &[[u8; 32]],
    shrinks: bool,
) -> Result<Writes, StateError> {
    let current = member_ring(view, height)?;
    let mut writes = if current.is_some_and(|r| r.since == height) {
        let mut e = Encoder::new();
        e.count(ring.len());
        for k in ring {
            e.fixed(k);
        }
        vec![(keys::ring_at(height), e.finish())]
    } else {
        fix_ring(view, height, ring)?
    };
    if shrinks {
        writes.push((keys::ring_floor(), height.to_be_bytes().to_vec()));
    }
    Ok(writes)
}

/// The lowest ring height an endorsement may name: the height of the last ring change
/// that took a key out (0: none did).
pub fn ring_floor(view: &impl StateView) -> Result<u64, StateError> {
    Ok(read_u64(view, &keys::ring_floor())?.unwrap_or(0))
}

/// One anonymous endorsement of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endorsement {
    /// Its position among the topic's endorsements (0 first).
    pub index: u64,
    /// The height of its block.
    pub height: u64,
    /// The transaction.
    pub tx_hash: Hash,
    /// The statement hash endorsed.
    pub statement: [u8; 32],
    /// The key image: the same for every endorsement of this topic by one member.
    pub key_image: [u8; 32],
    /// The height whose member ring signed.
    pub ring_height: u64,
}

impl Endorsement {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u64(self.index)
            .u64(self.height)
            .fixed(&self.tx_hash.0)
            .fixed(&self.statement)
            .fixed(&self.key_image)
            .u64(self.ring_height);
        e.finish()
    }

    fn decode(key: &[u8], b: &[u8]) -> Result<Self, StateError> {
        let mut d = Decoder::new(b);
        (|| {
            let x = Endorsement {
                index: d.u64("index")?,
                height: d.u64("height")?,
                tx_hash: Hash(d.array("tx hash")?),
                statement: d.array("statement")?,
                key_image: d.array("key image")?,
                ring_height: d.u64("ring height")?,
            };
            d.finish("endorsement")?;
            Ok::<_, CodecError>(x)
        })()
        .map_err(|e| corrupt(key, e))
    }
}

fn read_u64(view: &impl StateView, key: &[u8]) -> Result<Option<u64>, StateError> {
    let Some(b) = view.get(key)? else {
        return Ok(None);
    };
    let arr: [u8; 8] = b.as_slice().try_into().map_err(|_| {
        corrupt(
            key,
            CodecError::NotCanonical {
                what: "counter",
                reason: format!("{} bytes, not 8", b.len()),
            },
        )
    })?;
    Ok(Some(u64::from_be_bytes(arr)))
}

/// How many endorsements `topic` has.
pub fn endorsement_count(view: &impl StateView, topic: &Topic) -> Result<u64, StateError> {
    Ok(read_u64(view, &keys::endorsement_count(topic))?.unwrap_or(0))
}

/// The endorsement of `topic` with key image `image`, if any.
pub fn endorsement_by_image(
    view: &impl StateView,
    topic: &Topic,
    image: &[u8; 32],
) -> Result<Option<Endorsement>, StateError> {
    let Some(index) = read_u64(view, &keys::endorsement_image(topic, image))? else {
        return Ok(None);
    };
    let key = keys::endorsement_at(topic, index);
    match view.get(&key)? {
        Some(b) => Endorsement::decode(&key, &b).map(Some),
        None => Err(corrupt(
            &key,
            CodecError::NotCanonical {
                what: "endorsement",
                reason: "its key image is indexed but the entry is absent".into(),
            },
        )),
    }
}

/// Up to `limit` endorsements of `topic` from position `from` on, and the total.
pub fn endorsements(
    view: &impl StateView,
    topic: &Topic,
    from: u64,
    limit: u64,
) -> Result<(u64, Vec<Endorsement>), StateError> {
    let total = endorsement_count(view, topic)?;
    let mut out = Vec::new();
    for index in from..total.min(from.saturating_add(limit)) {
        let key = keys::endorsement_at(topic, index);
        if let Some(b) = view.get(&key)? {
            out.push(Endorsement::decode(&key, &b)?);
        }
    }
    Ok((total, out))
}

/// The writes that record `e` as `topic`'s next endorsement.
pub(crate) fn endorsement_writes(topic: &Topic, e: &Endorsement) -> Writes {
    vec![
        (keys::endorsement_at(topic, e.index), e.encode()),
        (
            keys::endorsement_image(topic, &e.key_image),
            e.index.to_be_bytes().to_vec(),
        ),
        (
            keys::endorsement_count(topic),
            (e.index + 1).to_be_bytes().to_vec(),
        ),
    ]
}
