//! Small file helpers.

use std::io::Write;
use std::path::Path;

use crate::error::NodeError;

/// Writes a file atomically (temporary file, fsync, rename) with the given Unix mode.
pub fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), NodeError> {
    let io = |what: &str, e: std::io::Error| NodeError::Io {
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
    Ok(())
}
