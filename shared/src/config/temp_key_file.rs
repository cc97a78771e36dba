//! Test support for the roles' config tests: a pre-shared key file of its own per call in the
//! temporary directory, removed when dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A temporary key file; `.0` is its path.
pub struct TempKeyFile(pub PathBuf);

impl TempKeyFile {
    /// Writes `content` to a new file.
    ///
    /// # Panics
    ///
    /// When the temporary directory cannot be written (tests only).
    pub fn new(content: &[u8]) -> TempKeyFile {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "ironpool-key-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, content).expect("write key file");
        TempKeyFile(path)
    }
}

impl Drop for TempKeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
