//! A look at the consensus write-ahead log before the engine opens it.
//!
//! Malachite replays the WAL of the height it starts at. A torn last entry (a write cut
//! by a crash) is cut off and the rest replayed; but a whole entry whose checksum does not
//! match (a sector that did not make it, or was damaged later) makes the engine stop for
//! good, because the entry may be a vote this validator signed and sent, and voting again
//! without it could contradict it. The node checks the file first so that it can refuse
//! to start with the reason and what the operator can do, instead of a stopped engine.

/// The file header: version (u32) and sequence, the height it was written at (u64).
const HEADER: usize = 12;
/// Each entry: a compression flag (u8), the data's length (u64) and CRC-32 (u32), all
/// big-endian, then the data.
const ENTRY_HEADER: usize = 13;

/// What is wrong with a WAL the engine would replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalDamage {
    /// The height the WAL was written at (the one this node starts).
    pub height: u64,
    /// The entry (from 0) that does not read back.
    pub entry: usize,
    /// Why.
    pub reason: String,
}

/// Checks a WAL file's bytes as the engine will read them when it starts `next_height`:
/// a WAL of another height is reset unread, and a partial last entry is cut off, so
/// neither is damage; a whole entry that does not read back is.
pub fn check_wal(bytes: &[u8], next_height: u64) -> Result<(), WalDamage> {
    if bytes.len() < HEADER {
        return Ok(());
    }
    let height = u64::from_be_bytes(bytes[4..12].try_into().unwrap_or_default());
    if height != next_height {
        return Ok(());
    }
    let mut at = HEADER;
    let mut entry = 0;
    while bytes.len() - at >= 9 {
        let len = u64::from_be_bytes(bytes[at + 1..at + 9].try_into().unwrap_or_default());
        let end = match usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(at + ENTRY_HEADER))
        {
            Some(end) if end <= bytes.len() => end,
            // A partial last entry: the engine cuts it off.
            _ => return Ok(()),
        };
        let damage = |reason: &str| WalDamage {
            height,
            entry,
            reason: reason.to_string(),
        };
        if bytes[at] != 0 {
            return Err(damage(
                "the entry is marked compressed, which this node does not write",
            ));
        }
        let crc = u32::from_be_bytes(bytes[at + 9..at + 13].try_into().unwrap_or_default());
        if crc32fast::hash(&bytes[at + ENTRY_HEADER..end]) != crc {
            return Err(damage("its checksum does not match its data"));
        }
        at = end;
        entry += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn wal(height: u64, entries: &[&[u8]]) -> Vec<u8> {
        let mut b = 1u32.to_be_bytes().to_vec();
        b.extend(height.to_be_bytes());
        for e in entries {
            b.push(0);
            b.extend((e.len() as u64).to_be_bytes());
            b.extend(crc32fast::hash(e).to_be_bytes());
            b.extend(*e);
        }
        b
    }

    #[test]
    fn a_whole_damaged_entry_of_the_next_height_is_named() {
        let good = wal(7, &[b"proposal", b"prevote"]);
        assert_eq!(check_wal(&good, 7), Ok(()));
        let mut bad = good.clone();
        let last = bad.len() - 2;
        bad[last] ^= 0xff;
        let d = check_wal(&bad, 7).unwrap_err();
        assert_eq!((d.height, d.entry), (7, 1));
        assert!(d.reason.contains("checksum"), "{}", d.reason);
        // The same file written at another height is reset by the engine, unread.
        assert_eq!(check_wal(&bad, 8), Ok(()));
        // A compressed flag is refused too (this build cannot read such an entry).
        let mut flagged = good.clone();
        flagged[HEADER] = 1;
        assert_eq!(check_wal(&flagged, 7).unwrap_err().entry, 0);
    }

    #[test]
    fn a_torn_tail_and_an_empty_file_are_not_damage() {
        let good = wal(7, &[b"proposal", b"prevote"]);
        for cut in HEADER..good.len() {
            assert_eq!(check_wal(&good[..cut], 7), Ok(()), "cut at {cut}");
        }
        assert_eq!(check_wal(&[], 7), Ok(()));
        assert_eq!(check_wal(&good[..5], 7), Ok(()));
    }
}
