//! Small file helpers.

use std::io::Write;
use std::path::Path;

use crate::error::HomeError;

/// Writes a file atomically (temporary file, fsync, rename, fsync of the folder) with the
/// given Unix mode: after a power loss the path holds the old content or the new, whole.
pub fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), HomeError> {
    let io = |what: &str, e: std::io::Error| HomeError::Io {
        what: format!("{what} {}", path.display()),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io("creating the folder of", e))?;
    }
    let tmp = path.with_extension("tmp");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| io("creating", e))?;
        f.write_all(data).map_err(|e| io("writing", e))?;
        f.sync_all().map_err(|e| io("syncing", e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io("renaming into place", e))?;
    sync_dir(path)
}

/// Syncs the folder holding `path`, so that a rename or a new file in it is durable.
pub fn sync_dir(path: &Path) -> Result<(), HomeError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| HomeError::Io {
            what: format!("syncing the folder {}", dir.display()),
            reason: e.to_string(),
        })
}

/// The block height a watch kept in `path` (0 when there is none yet or it is unreadable:
/// the watch then starts again from the beginning, which only repeats idempotent checks).
pub fn read_height(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Keeps a watch's last processed height `h` in `path` (mode 0600).
pub fn write_height(path: &Path, h: u64) -> Result<(), HomeError> {
    write_file(path, format!("{h}\n").as_bytes(), 0o600)
}
