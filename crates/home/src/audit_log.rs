//! The regulator node's audit log: one line per field read under an audit policy.
//!
//! Tamper-evident twice over: each entry carries the hash of the previous one (a hash
//! chain from a fixed all-zero start), and each entry's hash is sealed by the node's
//! sealing key inside its key provider (the HSM). Editing, removing or reordering lines
//! breaks the chain; rewriting the whole chain needs the HSM to reseal it. Truncating the
//! tail is the one edit a chain cannot show by itself; the node logs the entry count at
//! every start so that a shrinking log is visible in its own logs.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger_hsm::KeyProvider;
use ledger_types::codec::Encoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::HomeError;

const DOMAIN: &str = "cl/audit-log/v1";

/// What was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRead {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The reading organisation (the regulator).
    pub org: String,
    /// The gateway client that asked.
    pub client: String,
    /// The record.
    pub record: String,
    /// The version.
    pub version: u32,
    /// The record's owner.
    pub owner: String,
    /// The field.
    pub field: String,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// Position, from 1.
    pub seq: u64,
    /// The read.
    #[serde(flatten)]
    pub read: AuditRead,
    /// Hash of the previous entry (zeros for the first), hex.
    pub prev: String,
    /// This entry's hash, hex.
    pub hash: String,
    /// The hash sealed by the node's sealing key, hex.
    pub seal: String,
}

fn entry_hash(seq: u64, read: &AuditRead, prev: &[u8; 32]) -> [u8; 32] {
    let mut e = Encoder::new();
    e.str(DOMAIN)
        .u64(seq)
        .u64(read.time_ms)
        .str(&read.org)
        .str(&read.client)
        .str(&read.record)
        .u32(read.version)
        .str(&read.owner)
        .str(&read.field)
        .fixed(prev);
    Sha256::digest(e.finish()).into()
}

/// The open log.
pub struct AuditLog {
    path: PathBuf,
    file: File,
    seq: u64,
    last: [u8; 32],
    provider: Arc<dyn KeyProvider>,
    seal_label: String,
    torn: Option<TornTail>,
}

/// A last entry cut short by a crash while it was written (its reader never got the
/// plaintext: an append returns only once it is synced), set aside when the log opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// How many bytes followed the last complete entry.
    pub bytes: usize,
    /// Where they were moved, for inspection.
    pub set_aside: PathBuf,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The complete, intact entries.
    pub entries: u64,
    /// The last entry's hash (zeros for an empty log).
    pub last: [u8; 32],
    /// The bytes after the last complete entry (a write cut short), 0 when none.
    pub torn_bytes: usize,
    /// The length of the log up to and including its last complete entry.
    pub intact_len: u64,
}

impl AuditLog {
    /// Every complete entry of the log, after checking them all ([`verify`]): for the
    /// regulator's own view of it.
    pub fn entries(&self) -> Result<(Vec<AuditEntry>, Verified), HomeError> {
        let v = verify(&self.path, self.provider.as_ref(), &self.seal_label)?;
        let data = std::fs::read(&self.path).map_err(|e| HomeError::Io {
            what: format!("reading the audit log {}", self.path.display()),
            reason: e.to_string(),
        })?;
        let text = String::from_utf8_lossy(&data[..v.intact_len as usize]).into_owned();
        let entries = text
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .map_err(|e| HomeError::AuditLog(format!("reading an audit entry: {e}")))
            })
            .collect::<Result<Vec<AuditEntry>, _>>()?;
        Ok((entries, v))
    }

    /// Opens (or creates) the log, verifying every entry already in it.
    pub fn open(
        path: &Path,
        provider: Arc<dyn KeyProvider>,
        seal_label: &str,
    ) -> Result<Self, HomeError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| HomeError::Io {
                what: format!("creating {}", dir.display()),
                reason: e.to_string(),
            })?;
        }
        let (seq, last, torn) = if path.exists() {
            let v = verify(path, provider.as_ref(), seal_label)?;
            let torn = (v.torn_bytes > 0)
                .then(|| set_aside_torn_tail(path, v.intact_len, v.torn_bytes))
                .transpose()?;
            (v.entries, v.last, torn)
        } else {
            (0, [0u8; 32], None)
        };
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| HomeError::Io {
                    what: format!("opening the audit log {}", path.display()),
                    reason: e.to_string(),
                })?
        };
        Ok(Self {
            path: path.to_path_buf(),
            file,
            seq,
            last,
            provider,
            seal_label: seal_label.to_string(),
            torn,
        })
    }

    /// The torn last entry that opening set aside, if the log ended in one.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    /// Entries so far.
    pub fn len(&self) -> u64 {
        self.seq
    }

    /// True when the log is empty.
    pub fn is_empty(&self) -> bool {
        self.seq == 0
    }

    /// Appends reads and syncs them to disk before returning.
    pub fn append(&mut self, reads: &[AuditRead]) -> Result<(), HomeError> {
        let mut text = String::new();
        let (mut seq, mut last) = (self.seq, self.last);
        for read in reads {
            seq += 1;
            let hash = entry_hash(seq, read, &last);
            let seal = self
                .provider
                .seal(&self.seal_label, &hash, DOMAIN.as_bytes())
                .map_err(|e| HomeError::AuditLog(format!("sealing an audit log entry: {e}")))?;
            let entry = AuditEntry {
                seq,
                read: read.clone(),
                prev: hex::encode(last),
                hash: hex::encode(hash),
                seal: hex::encode(seal),
            };
            let line = serde_json::to_string(&entry)
                .map_err(|e| HomeError::AuditLog(format!("encoding an audit entry: {e}")))?;
            text.push_str(&line);
            text.push('\n');
            last = hash;
        }
        let io = |e: std::io::Error| HomeError::Io {
            what: format!("writing the audit log {}", self.path.display()),
            reason: e.to_string(),
        };
        self.file.write_all(text.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.seq = seq;
        self.last = last;
        ledger_metrics::metrics()
            .audit_reads
            .inc_by(reads.len() as u64);
        Ok(())
    }
}

/// Moves the `bytes` after the first `intact_len` bytes of the log to a file beside it
/// (synced), then cuts the log back to its last complete entry (synced).
fn set_aside_torn_tail(path: &Path, intact_len: u64, bytes: usize) -> Result<TornTail, HomeError> {
    let io = |what: String| {
        move |e: std::io::Error| HomeError::Io {
            what,
            reason: e.to_string(),
        }
    };
    let data = std::fs::read(path).map_err(io(format!("reading {}", path.display())))?;
    let tail = data.get(intact_len as usize..).unwrap_or_default();
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".torn-{ms}"));
    let set_aside = PathBuf::from(name);
    crate::fsutil::write_file(&set_aside, tail, 0o600)?;
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io(format!("opening {}", path.display())))?;
    file.set_len(intact_len)
        .and_then(|()| file.sync_all())
        .map_err(io(format!("cutting the torn tail of {}", path.display())))?;
    Ok(TornTail { bytes, set_aside })
}

/// Checks every complete entry of the log at `path`: sequence, chain, hash and seal.
/// Returns what it found, or an error naming the first bad line. Bytes after the last
/// newline are a write cut short by a crash (a torn tail), reported, not refused; any
/// damage to a complete entry is refused.
pub fn verify(
    path: &Path,
    provider: &dyn KeyProvider,
    seal_label: &str,
) -> Result<Verified, HomeError> {
    let data = std::fs::read(path).map_err(|e| HomeError::Io {
        what: format!("opening the audit log {}", path.display()),
        reason: e.to_string(),
    })?;
    let bad = |line: usize, why: String| {
        HomeError::AuditLog(format!(
            "audit log {} is not intact at line {line}: {why}",
            path.display()
        ))
    };
    let intact_len = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let text =
        std::str::from_utf8(&data[..intact_len]).map_err(|e| bad(0, format!("not UTF-8: {e}")))?;
    let mut last = [0u8; 32];
    let mut seq = 0u64;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let entry: AuditEntry =
            serde_json::from_str(line).map_err(|e| bad(n, format!("not an entry: {e}")))?;
        if entry.seq != seq + 1 {
            return Err(bad(n, format!("sequence {} follows {seq}", entry.seq)));
        }
        if entry.prev != hex::encode(last) {
            return Err(bad(n, "the previous-hash link is broken".into()));
        }
        let hash = entry_hash(entry.seq, &entry.read, &last);
        if entry.hash != hex::encode(hash) {
            return Err(bad(n, "the entry does not match its hash".into()));
        }
        let sealed = hex::decode(&entry.seal).map_err(|_| bad(n, "the seal is not hex".into()))?;
        let opened = provider
            .unseal(seal_label, &sealed, DOMAIN.as_bytes())
            .map_err(|e| {
                bad(
                    n,
                    format!("the seal does not open with this node's key: {e}"),
                )
            })?;
        if opened.as_slice() != hash.as_slice() {
            return Err(bad(n, "the seal covers another hash".into()));
        }
        seq = entry.seq;
        last = hash;
    }
    Ok(Verified {
        entries: seq,
        last,
        torn_bytes: data.len() - intact_len,
        intact_len: intact_len as u64,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use ledger_hsm::{KdfCost, SoftwareProvider};

    fn provider(dir: &Path) -> Arc<dyn KeyProvider> {
        let p = SoftwareProvider::open(
            &dir.join("keys"),
            zeroize::Zeroizing::new("test passphrase".to_string()),
            KdfCost::DEFAULT,
        )
        .unwrap();
        p.generate_sealing_key("reg-seal").unwrap();
        Arc::new(p)
    }

    fn read(field: &str) -> AuditRead {
        AuditRead {
            time_ms: 1,
            org: "reg-eu".into(),
            client: "cli".into(),
            record: "inv-1".into(),
            version: 1,
            owner: "bank-a".into(),
            field: field.into(),
        }
    }

    #[test]
    fn the_log_survives_reopening_and_any_edit_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = provider(dir.path());
        let path = dir.path().join("audit/audit.log");
        let mut log = AuditLog::open(&path, p.clone(), "reg-seal").unwrap();
        log.append(&[read("total"), read("currency")]).unwrap();
        drop(log);
        let mut log = AuditLog::open(&path, p.clone(), "reg-seal").unwrap();
        assert_eq!(log.len(), 2);
        log.append(&[read("due")]).unwrap();
        assert_eq!(verify(&path, p.as_ref(), "reg-seal").unwrap().entries, 3);

        let text = std::fs::read_to_string(&path).unwrap();
        let edited = text.replacen("\"field\":\"currency\"", "\"field\":\"buyer\"", 1);
        std::fs::write(&path, &edited).unwrap();
        let err = verify(&path, p.as_ref(), "reg-seal")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("does not match its hash"),
            "{err}"
        );

        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        let err = verify(&path, p.as_ref(), "reg-seal")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("sequence 3 follows 1"),
            "{err}"
        );
        assert!(
            AuditLog::open(&path, p, "reg-seal").is_err(),
            "a damaged log stops the node"
        );
    }

    #[test]
    fn a_torn_last_entry_is_set_aside_and_the_log_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let p = provider(dir.path());
        let path = dir.path().join("audit/audit.log");
        let mut log = AuditLog::open(&path, p.clone(), "reg-seal").unwrap();
        log.append(&[read("total"), read("currency")]).unwrap();
        assert!(log.torn_tail().is_none());
        drop(log);
        let whole = std::fs::read(&path).unwrap();
        // A crash in the middle of the next append, at every byte of its entry.
        let mut next = AuditLog::open(&path, p.clone(), "reg-seal").unwrap();
        next.append(&[read("due")]).unwrap();
        drop(next);
        let with_third = std::fs::read(&path).unwrap();
        for cut in whole.len() + 1..with_third.len() {
            std::fs::write(&path, &with_third[..cut]).unwrap();
            let v = verify(&path, p.as_ref(), "reg-seal").unwrap();
            assert_eq!((v.entries, v.torn_bytes), (2, cut - whole.len()));
            let mut log = AuditLog::open(&path, p.clone(), "reg-seal").unwrap();
            let torn = log.torn_tail().unwrap().clone();
            assert_eq!(torn.bytes, cut - whole.len());
            assert_eq!(
                std::fs::read(&torn.set_aside).unwrap(),
                &with_third[whole.len()..cut]
            );
            assert_eq!(std::fs::read(&path).unwrap(), whole, "cut back at {cut}");
            assert_eq!(log.len(), 2);
            log.append(&[read("due")]).unwrap();
            drop(log);
            assert_eq!(verify(&path, p.as_ref(), "reg-seal").unwrap().entries, 3);
            std::fs::remove_file(&torn.set_aside).unwrap();
        }
        // Damage to a complete entry is still refused.
        let text = String::from_utf8(with_third).unwrap();
        std::fs::write(&path, text.replacen("\"due\"", "\"buyer\"", 1)).unwrap();
        assert!(AuditLog::open(&path, p, "reg-seal").is_err());
    }
}
