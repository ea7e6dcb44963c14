//! Append-only per-record histories (access events, audit alerts, cross-checks), stored as
//! keyed entries: `{kind}-entry/{record}/{seq u64 big-endian}` holds one entry and
//! `{kind}-count/{record}` how many there are. Appending writes one entry and the count,
//! whatever the history's length, and a page of entries reads only its own keys.
//!
//! Chains written before this layout kept each history as one value (`{kind}/{record}`,
//! the whole list, rewritten on every change). Such a list is still read, as the oldest
//! entries, and never rewritten.

use ledger_types::codec::{Decoder, Encoder};
use ledger_types::{CodecError, RecordId};

use super::corrupt;
use crate::{StateError, StateView};

/// One kind of per-record history.
#[derive(Clone, Copy)]
pub(crate) struct History {
    /// `access`, `alerts` or `checks`.
    pub kind: &'static str,
}

/// The most entries one page returns.
pub const MAX_PAGE: usize = 1_000;

/// A page of a history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The entries, from the requested position.
    pub entries: Vec<T>,
    /// How many entries the history holds in all.
    pub total: u64,
}

impl History {
    fn legacy_key(self, record: &RecordId) -> Vec<u8> {
        [self.kind.as_bytes(), b"/", record.as_str().as_bytes()].concat()
    }

    fn count_key(self, record: &RecordId) -> Vec<u8> {
        [self.kind.as_bytes(), b"-count/", record.as_str().as_bytes()].concat()
    }

    fn entry_key(self, record: &RecordId, seq: u64) -> Vec<u8> {
        [
            self.kind.as_bytes(),
            b"-entry/",
            record.as_str().as_bytes(),
            b"/",
            &seq.to_be_bytes(),
        ]
        .concat()
    }

    /// Whether the record has a list an earlier layout kept.
    pub fn has_legacy(self, view: &impl StateView, record: &RecordId) -> Result<bool, StateError> {
        Ok(view.get(&self.legacy_key(record))?.is_some())
    }

    fn count(self, view: &impl StateView, record: &RecordId) -> Result<u64, StateError> {
        let key = self.count_key(record);
        match view.get(&key)? {
            None => Ok(0),
            Some(b) => {
                let arr: [u8; 8] = b.as_slice().try_into().map_err(|_| {
                    corrupt(
                        &key,
                        CodecError::NotCanonical {
                            what: "history count",
                            reason: format!("{} bytes, not 8", b.len()),
                        },
                    )
                })?;
                Ok(u64::from_be_bytes(arr))
            }
        }
    }

    /// The list an earlier layout kept (empty if none).
    fn legacy<T>(
        self,
        view: &impl StateView,
        record: &RecordId,
        decode_list: fn(&mut Decoder<'_>) -> Result<Vec<T>, CodecError>,
    ) -> Result<Vec<T>, StateError> {
        let key = self.legacy_key(record);
        let Some(b) = view.get(&key)? else {
            return Ok(vec![]);
        };
        let mut d = Decoder::new(&b);
        let v = decode_list(&mut d).map_err(|e| corrupt(&key, e))?;
        d.finish(self.kind).map_err(|e| corrupt(&key, e))?;
        Ok(v)
    }

    /// The writes that append `items` after the entries already there.
    pub fn append<T>(
        self,
        view: &impl StateView,
        record: &RecordId,
        items: &[T],
        encode: fn(&T, &mut Encoder),
    ) -> Result<crate::payload::Writes, StateError> {
        let mut n = self.count(view, record)?;
        let mut writes = Vec::with_capacity(items.len() + 1);
        for item in items {
            let mut e = Encoder::new();
            encode(item, &mut e);
            writes.push((self.entry_key(record, n), e.finish()));
            n += 1;
        }
        writes.push((self.count_key(record), n.to_be_bytes().to_vec()));
        Ok(writes)
    }

    /// Up to `limit` entries (at most [`MAX_PAGE`]) from position `from`, oldest first.
    pub fn page<T>(
        self,
        view: &impl StateView,
        record: &RecordId,
        from: u64,
        limit: usize,
        decode: fn(&mut Decoder<'_>) -> Result<T, CodecError>,
        decode_list: fn(&mut Decoder<'_>) -> Result<Vec<T>, CodecError>,
    ) -> Result<Page<T>, StateError> {
        let limit = limit.min(MAX_PAGE);
        let legacy = self.legacy(view, record, decode_list)?;
        let old = legacy.len() as u64;
        let total = old + self.count(view, record)?;
        let mut entries: Vec<T> = legacy
            .into_iter()
            .skip(from.min(old) as usize)
            .take(limit)
            .collect();
        let mut seq = from.max(old) - old;
        while entries.len() < limit && old + seq < total {
            let key = self.entry_key(record, seq);
            let b = view.get(&key)?.ok_or_else(|| {
                corrupt(
                    &key,
                    CodecError::NotCanonical {
                        what: "history entry",
                        reason: "missing below the history's count".into(),
                    },
                )
            })?;
            let mut d = Decoder::new(&b);
            let item = decode(&mut d).map_err(|e| corrupt(&key, e))?;
            d.finish(self.kind).map_err(|e| corrupt(&key, e))?;
            entries.push(item);
            seq += 1;
        }
        Ok(Page { entries, total })
    }

    /// Every entry, oldest first (for histories known to be short, and tests).
    pub fn all<T>(
        self,
        view: &impl StateView,
        record: &RecordId,
        decode: fn(&mut Decoder<'_>) -> Result<T, CodecError>,
        decode_list: fn(&mut Decoder<'_>) -> Result<Vec<T>, CodecError>,
    ) -> Result<Vec<T>, StateError> {
        let mut out = Vec::new();
        loop {
            let page = self.page(
                view,
                record,
                out.len() as u64,
                MAX_PAGE,
                decode,
                decode_list,
            )?;
            let done = page.entries.is_empty()
                || out.len() as u64 + page.entries.len() as u64 >= page.total;
            out.extend(page.entries);
            if done {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use super::*;

    const H: History = History { kind: "test" };

    fn enc(v: &u64, e: &mut Encoder) {
        e.u64(*v);
    }
    fn dec(d: &mut Decoder<'_>) -> Result<u64, CodecError> {
        d.u64("n")
    }
    fn dec_list(d: &mut Decoder<'_>) -> Result<Vec<u64>, CodecError> {
        let n = d.count("list", usize::MAX, 8)?;
        (0..n).map(|_| d.u64("n")).collect()
    }

    fn apply(state: &mut BTreeMap<Vec<u8>, Vec<u8>>, writes: Vec<(Vec<u8>, Vec<u8>)>) {
        state.extend(writes);
    }

    #[test]
    fn a_list_of_the_earlier_layout_reads_first_and_is_never_rewritten() {
        let record = RecordId::new("r-1").unwrap();
        let mut state = BTreeMap::new();
        let mut e = Encoder::new();
        e.count(3);
        for v in [10u64, 11, 12] {
            e.u64(v);
        }
        let legacy = e.finish();
        state.insert(b"test/r-1".to_vec(), legacy.clone());
        for v in 13..20u64 {
            let writes = H.append(&state, &record, &[v], enc).unwrap();
            assert_eq!(writes.len(), 2, "one entry and the count");
            assert!(writes.iter().all(|(k, _)| k.as_slice() != b"test/r-1"));
            apply(&mut state, writes);
        }
        assert_eq!(state[b"test/r-1".as_slice()], legacy);
        let all = H.all(&state, &record, dec, dec_list).unwrap();
        assert_eq!(all, (10..20).collect::<Vec<_>>());
        let p = H.page(&state, &record, 2, 3, dec, dec_list).unwrap();
        assert_eq!((p.entries, p.total), (vec![12, 13, 14], 10));
        let p = H.page(&state, &record, 9, 5, dec, dec_list).unwrap();
        assert_eq!(p.entries, vec![19]);
        let p = H.page(&state, &record, 10, 5, dec, dec_list).unwrap();
        assert!(p.entries.is_empty());
        // Another record's history is apart, and an empty one reads empty.
        let other = RecordId::new("r-10").unwrap();
        assert!(H.all(&state, &other, dec, dec_list).unwrap().is_empty());
    }

    #[test]
    fn a_missing_entry_below_the_count_is_reported_as_damage() {
        let record = RecordId::new("r").unwrap();
        let mut state = BTreeMap::new();
        let writes = H.append(&state, &record, &[1, 2], enc).unwrap();
        apply(&mut state, writes);
        state.remove(&H.entry_key(&record, 0));
        let e = H.page(&state, &record, 0, 10, dec, dec_list).unwrap_err();
        assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
    }
}
