//! The consensus write-ahead log (Malachite's, which the engine writes before it acts on
//! a vote, a proposal or a timeout) cut at every byte of its last entry, as a power loss
//! tears a write, and with each byte of its last entry garbled: it opens with exactly the
//! entries written whole before, and takes new entries after them. The node-level test
//! (`tests/tests/crash_points.rs`) starts a validator on such a log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger_consensus::wal::check_wal;
use malachitebft_wal::Log;

fn entries(log: &mut Log) -> Vec<Vec<u8>> {
    log.iter().unwrap().map(|e| e.unwrap()).collect()
}

#[test]
fn a_wal_torn_at_any_byte_of_its_last_entry_keeps_the_entries_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    // Entries of the sizes the engine writes (a timeout, a vote, a proposal).
    let written: Vec<Vec<u8>> = [12usize, 140, 600]
        .iter()
        .enumerate()
        .map(|(i, n)| (0..*n).map(|b| (b * 7 + i) as u8).collect())
        .collect();
    {
        let mut log = Log::open(&path).unwrap();
        for e in &written {
            log.append(e).unwrap();
        }
        log.flush().unwrap();
    }
    let whole = std::fs::read(&path).unwrap();
    let last_len = 13 + written[2].len();
    let last_start = whole.len() - last_len;
    for cut in last_start..whole.len() {
        let torn = dir.path().join(format!("torn-{cut}"));
        std::fs::write(&torn, &whole[..cut]).unwrap();
        // The node's look before the engine opens it agrees: a torn tail is not damage.
        let height = u64::from_be_bytes(whole[4..12].try_into().unwrap());
        assert_eq!(check_wal(&whole[..cut], height), Ok(()), "cut at {cut}");
        let mut log = Log::open(&torn).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(log.len(), 2, "cut at {cut}");
        assert_eq!(entries(&mut log), written[..2], "cut at {cut}");
        // It goes on: a new entry lands after the whole ones.
        log.append(b"next").unwrap();
        log.flush().unwrap();
        drop(log);
        let mut log = Log::open(&torn).unwrap();
        let mut expect = written[..2].to_vec();
        expect.push(b"next".to_vec());
        assert_eq!(entries(&mut log), expect, "cut at {cut}");
    }
}

#[test]
fn a_garbled_last_entry_is_reported_not_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    {
        let mut log = Log::open(&path).unwrap();
        log.append(b"first entry").unwrap();
        log.append(b"second entry, the one a sector loss garbles")
            .unwrap();
        log.flush().unwrap();
    }
    let whole = std::fs::read(&path).unwrap();
    let data_start = whole.len() - b"second entry, the one a sector loss garbles".len();
    for at in data_start..whole.len() {
        let mut bad = whole.clone();
        bad[at] ^= 0x5a;
        let p = dir.path().join(format!("garbled-{at}"));
        std::fs::write(&p, &bad).unwrap();
        // The node refuses to start on it, naming the entry, at the WAL's height only.
        let height = u64::from_be_bytes(whole[4..12].try_into().unwrap());
        assert_eq!(check_wal(&bad, height).unwrap_err().entry, 1, "byte {at}");
        assert_eq!(check_wal(&bad, height + 1), Ok(()), "byte {at}");
        assert_eq!(check_wal(&whole, height), Ok(()));
        let mut log = Log::open(&p).unwrap();
        let read: Vec<std::io::Result<Vec<u8>>> = log.iter().unwrap().collect();
        // The first entry reads back; the garbled one fails its checksum rather than
        // being replayed as something the node never wrote.
        assert_eq!(read[0].as_ref().unwrap(), b"first entry");
        assert!(
            read.iter().skip(1).all(|e| e.is_err()) && read.len() == 2,
            "byte {at}: {:?}",
            read.iter().map(|e| e.is_ok()).collect::<Vec<_>>()
        );
    }
}
