//! A ring file mapped into this process: the only place in `ring` that touches raw memory.
//!
//! Everything in the mapping is shared with other processes that may race us, crash half-way or be
//! buggy, so every access goes through an atomic (`AtomicU64`/`AtomicU32` at an aligned offset),
//! including the bulk payload copies (word by word with `Relaxed`). That keeps concurrent access
//! defined behaviour whatever the other side does; the callers validate every value they load.
//!
//! [`SharedMap`] is a read-only mapping: it can only load, so a job reader cannot corrupt the ring.
//! [`SharedMapMut`] adds stores and the role locks (Linux open-file-description locks on one byte
//! of the file, released by the kernel when the holder dies).
//!
//! Not guaranteed: if another process *truncates* the file while it is mapped, touching the lost
//! pages raises SIGBUS. The ring code never truncates a ring file; replacement goes through a new
//! file and `rename`.

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memmap2::{MmapOptions, MmapRaw};

use super::error::RingError;
use super::futex;

/// The largest ring file this crate maps: 1 GiB. A header that declares more is refused.
pub(crate) const MAP_BYTES_MAX: u64 = 1 << 30;

/// (device, inode) of a file: tells whether a path still names the file we mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    fn of(metadata: &std::fs::Metadata) -> Self {
        FileIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }

    /// The inode number (for tests and messages).
    pub(crate) fn inode(self) -> u64 {
        self.inode
    }
}

fn io_error<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> RingError + 'a {
    move |source| RingError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// A read-only view of a mapped ring file.
#[derive(Debug)]
pub(crate) struct SharedMap {
    raw: MmapRaw,
    /// Kept open: role locks belong to this open file description.
    file: File,
    path: PathBuf,
    identity: FileIdentity,
}

impl SharedMap {
    /// Maps an existing ring file read-only. The file must be at least `min_len` bytes.
    pub(crate) fn open_read_only(path: &Path, min_len: u64) -> Result<Self, RingError> {
        let file = File::open(path).map_err(io_error(path, "open for reading"))?;
        Self::map(file, path, min_len, false)
    }

    fn map(file: File, path: &Path, min_len: u64, writable: bool) -> Result<Self, RingError> {
        let metadata = file.metadata().map_err(io_error(path, "fstat"))?;
        let len = metadata.len();
        if len < min_len {
            return Err(RingError::TooSmall {
                path: path.to_path_buf(),
                expected: min_len,
                found: len,
            });
        }
        if len > MAP_BYTES_MAX {
            return Err(RingError::TooLarge {
                path: path.to_path_buf(),
                what: "file",
                limit: MAP_BYTES_MAX,
                found: len,
            });
        }
        let map_len = usize::try_from(len).map_err(|_| RingError::TooLarge {
            path: path.to_path_buf(),
            what: "file",
            limit: MAP_BYTES_MAX,
            found: len,
        })?;
        let mut options = MmapOptions::new();
        options.len(map_len);
        let raw = if writable {
            options.map_raw(&file)
        } else {
            options.map_raw_read_only(&file)
        }
        .map_err(io_error(path, "mmap"))?;
        Ok(SharedMap {
            raw,
            file,
            path: path.to_path_buf(),
            identity: FileIdentity::of(&metadata),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }

    pub(crate) fn identity(&self) -> FileIdentity {
        self.identity
    }

    /// Whether the path still names the file this mapping holds (same device and inode).
    pub(crate) fn path_names_this_file(&self) -> Result<bool, RingError> {
        match std::fs::metadata(&self.path) {
            Ok(metadata) => Ok(FileIdentity::of(&metadata) == self.identity),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(RingError::Io {
                path: self.path.clone(),
                op: "stat",
                source,
            }),
        }
    }

    pub(crate) fn load_u64(&self, offset: usize, order: Ordering) -> u64 {
        self.atomic_u64(offset).load(order)
    }

    pub(crate) fn load_u32(&self, offset: usize, order: Ordering) -> u32 {
        self.atomic_u32(offset).load(order)
    }

    /// Copies `dst.len()` bytes starting at `offset` (8-aligned) out of the mapping, one `Relaxed`
    /// 64-bit load per word. The caller orders the copy with fences (seqlock) or with an acquire
    /// load of an index (SPSC ring).
    pub(crate) fn load_words(&self, offset: usize, dst: &mut [u8]) {
        let mut word_offset = offset;
        for chunk in dst.chunks_mut(8) {
            let word = self
                .atomic_u64(word_offset)
                .load(Ordering::Relaxed)
                .to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
            word_offset += 8;
        }
    }

    /// Sleeps while the u32 at `offset` equals `expected`, at most `timeout` (see [`futex::wait`]).
    pub(crate) fn futex_wait(
        &self,
        offset: usize,
        expected: u32,
        timeout: Duration,
    ) -> Result<(), RingError> {
        futex::wait(self.atomic_u32(offset), expected, timeout)
            .map_err(io_error(&self.path, "futex wait"))
    }

    /// Wakes every waiter on the u32 at `offset`, in any process.
    pub(crate) fn futex_wake_all(&self, offset: usize) {
        // FUTEX_WAKE on a mapped, aligned word has no failure mode left (EFAULT and EINVAL need a
        // bad pointer or op); a failure could only delay readers until their wait timeout.
        let woken = futex::wake_all(self.atomic_u32(offset));
        debug_assert!(woken.is_ok(), "futex wake failed: {woken:?}");
    }

    /// The atomic at `offset`. Offsets come from a layout validated against the mapping length at
    /// attach, so an out-of-range offset is a bug in this crate, not bad data: it panics.
    fn atomic_u64(&self, offset: usize) -> &AtomicU64 {
        assert!(
            offset.is_multiple_of(8)
                && offset
                    .checked_add(8)
                    .is_some_and(|end| end <= self.raw.len()),
            "u64 offset {offset} outside the mapping"
        );
        // SAFETY: the range [offset, offset + 8) is inside the live mapping (checked above) and
        // 8-aligned (the mapping starts on a page boundary and offset.is_multiple_of(8)). AtomicU64 has the
        // size and alignment of u64 and is an UnsafeCell, so sharing it with other threads and
        // processes that also access it atomically is sound. The reference cannot outlive the
        // mapping: it borrows `self`, which owns the MmapRaw.
        unsafe { &*self.raw.as_ptr().add(offset).cast::<AtomicU64>() }
    }

    fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset.is_multiple_of(4)
                && offset
                    .checked_add(4)
                    .is_some_and(|end| end <= self.raw.len()),
            "u32 offset {offset} outside the mapping"
        );
        // SAFETY: as in `atomic_u64`: in bounds, 4-aligned, atomic access only, borrow of `self`.
        unsafe { &*self.raw.as_ptr().add(offset).cast::<AtomicU32>() }
    }
}

/// A writable view of a mapped ring file.
#[derive(Debug)]
pub(crate) struct SharedMapMut {
    map: SharedMap,
}

impl Deref for SharedMapMut {
    type Target = SharedMap;

    fn deref(&self) -> &SharedMap {
        &self.map
    }
}

impl SharedMapMut {
    /// Maps an existing ring file read-write. The file must be at least `min_len` bytes.
    pub(crate) fn open(path: &Path, min_len: u64) -> Result<Self, RingError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_error(path, "open for writing"))?;
        Ok(SharedMapMut {
            map: SharedMap::map(file, path, min_len, true)?,
        })
    }

    /// Creates a zero-filled file of `len` bytes next to `final_path` under a unique temporary
    /// name and maps it. Fill the header, then [`rename_to`](Self::rename_to) `final_path`, so no
    /// process ever maps a half-initialised ring.
    pub(crate) fn create_temp(final_path: &Path, len: u64) -> Result<Self, RingError> {
        let dir = final_path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io_error(dir, "create directory"))?;
        let name = final_path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let temp_path = dir.join(format!(".{name}.tmp.{}.{nanos}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&temp_path)
            .map_err(io_error(&temp_path, "create"))?;
        if let Err(source) = file.set_len(len) {
            // Best effort: a leftover temporary file is harmless but untidy.
            let _ = std::fs::remove_file(&temp_path);
            return Err(RingError::Io {
                path: temp_path,
                op: "set length",
                source,
            });
        }
        match SharedMap::map(file, &temp_path, len, true) {
            Ok(map) => Ok(SharedMapMut { map }),
            Err(error) => {
                let _ = std::fs::remove_file(&temp_path);
                Err(error)
            }
        }
    }

    /// Atomically renames the mapped (temporary) file to `final_path`, replacing whatever was
    /// there. On failure the temporary file is removed.
    pub(crate) fn rename_to(&mut self, final_path: &Path) -> Result<(), RingError> {
        if let Err(source) = std::fs::rename(&self.map.path, final_path) {
            let _ = std::fs::remove_file(&self.map.path);
            return Err(RingError::Io {
                path: final_path.to_path_buf(),
                op: "rename into place",
                source,
            });
        }
        self.map.path = final_path.to_path_buf();
        Ok(())
    }

    /// Gives the mapped (temporary) file the name `final_path` only if nothing has that name yet,
    /// then drops the temporary name. Returns `false`, and removes the temporary file, when
    /// `final_path` already exists (another process created it first).
    pub(crate) fn link_to(&mut self, final_path: &Path) -> Result<bool, RingError> {
        let temp_path = self.map.path.clone();
        match std::fs::hard_link(&temp_path, final_path) {
            Ok(()) => {
                let _ = std::fs::remove_file(&temp_path);
                self.map.path = final_path.to_path_buf();
                Ok(true)
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&temp_path);
                Ok(false)
            }
            Err(source) => {
                let _ = std::fs::remove_file(&temp_path);
                Err(RingError::Io {
                    path: final_path.to_path_buf(),
                    op: "link into place",
                    source,
                })
            }
        }
    }

    /// Removes the file (used when initialisation of a temporary file failed).
    pub(crate) fn remove(self) {
        let _ = std::fs::remove_file(&self.map.path);
    }

    /// Takes the exclusive lock on byte `byte` of the file for `role` (an open-file-description
    /// lock: it is released when this mapping is dropped or the process dies, even by SIGKILL).
    pub(crate) fn lock_role(&self, byte: u8, role: &'static str) -> Result<(), RingError> {
        // `flock` has padding fields on some targets; start from all zeroes.
        // SAFETY: `libc::flock` is a plain C struct of integers, for which all-zero is valid.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        // Casts: F_WRLCK and SEEK_SET are small constants that fit the `short` fields.
        lock.l_type = libc::F_WRLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        lock.l_start = libc::off_t::from(byte);
        lock.l_len = 1;
        // SAFETY: the fd is open for reading and writing for the duration of the call (owned by
        // `self.map.file`), and `lock` is a valid, initialised flock that outlives the call.
        let result =
            unsafe { libc::fcntl(self.map.file.as_raw_fd(), libc::F_OFD_SETLK, &raw mut lock) };
        if result == 0 {
            return Ok(());
        }
        let source = io::Error::last_os_error();
        match source.raw_os_error() {
            Some(libc::EAGAIN | libc::EACCES) => Err(RingError::Busy {
                path: self.map.path.clone(),
                role,
                byte,
            }),
            _ => Err(RingError::Io {
                path: self.map.path.clone(),
                op: "lock role byte",
                source,
            }),
        }
    }

    pub(crate) fn store_u64(&self, offset: usize, value: u64, order: Ordering) {
        self.map.atomic_u64(offset).store(value, order);
    }

    pub(crate) fn store_u32(&self, offset: usize, value: u32, order: Ordering) {
        self.map.atomic_u32(offset).store(value, order);
    }

    pub(crate) fn fetch_add_u64(&self, offset: usize, value: u64, order: Ordering) -> u64 {
        self.map.atomic_u64(offset).fetch_add(value, order)
    }

    pub(crate) fn swap_u32(&self, offset: usize, value: u32, order: Ordering) -> u32 {
        self.map.atomic_u32(offset).swap(value, order)
    }

    pub(crate) fn fetch_add_u32(&self, offset: usize, value: u32, order: Ordering) -> u32 {
        self.map.atomic_u32(offset).fetch_add(value, order)
    }

    /// Copies `src` into the mapping at `offset` (8-aligned), one `Relaxed` 64-bit store per word;
    /// the last word is zero-padded.
    pub(crate) fn store_words(&self, offset: usize, src: &[u8]) {
        let mut word_offset = offset;
        for chunk in src.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.map
                .atomic_u64(word_offset)
                .store(u64::from_le_bytes(word), Ordering::Relaxed);
            word_offset += 8;
        }
    }
}
