//! `user.worker` account names, under configurable rules ([`WorkerNameRules`]).
//!
//! Parsing, in order:
//! 1. ASCII whitespace around the whole name is trimmed (miner UIs add it); inside, it is refused.
//! 2. The name splits at the **first** separator (default: `.` only). The user is before it, the
//!    worker after it, and the worker may contain further separators (`alice.rig.1` → `alice`,
//!    `rig.1`). `_` is not a separator by default because user names and payout labels often
//!    contain it; add it to [`WorkerNameRules::separators`] to split on it too (it then can no
//!    longer appear in a user name).
//! 3. The user must be 1..=[`WorkerNameRules::user_bytes_max`] bytes of
//!    [`WorkerNameRules::user_chars`] (default `[A-Za-z0-9_-]`, at most 64 bytes). A Bitcoin address
//!    fits these defaults as it is (base58 and bech32 are alphanumeric; a P2TR address is 62
//!    characters), so solo-style "address as user" works without a special case.
//! 4. The worker must be 0..=[`WorkerNameRules::worker_bytes_max`] bytes of
//!    [`WorkerNameRules::worker_chars`] (default `[A-Za-z0-9_.-]`, at most 64 bytes). An empty worker
//!    (`alice` or `alice.`) becomes [`WorkerNameRules::default_worker`] (default [`DEFAULT_WORKER`],
//!    `"default"`), so every share has a worker to account to.
//!
//! Case is kept: base58 addresses are case-sensitive. Both parts are stored inline, at most
//! [`USER_BYTES_MAX`] and [`WORKER_BYTES_MAX`] bytes (the share ring's record sizes), so a
//! [`WorkerName`] never allocates.

use std::fmt;

use crate::ring;

/// Longest user name any rules allow, in bytes (the share ring record's field).
pub const USER_BYTES_MAX: usize = ring::USER_BYTES_MAX;
/// Longest worker name any rules allow, in bytes (the share ring record's field).
pub const WORKER_BYTES_MAX: usize = ring::WORKER_BYTES_MAX;
/// The worker name given to `user` and `user.` by default.
pub const DEFAULT_WORKER: &str = "default";

/// A set of ASCII bytes (a bit per byte value below 128).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CharSet(u128);

impl CharSet {
    /// No character.
    pub const EMPTY: CharSet = CharSet(0);
    /// `A-Z a-z 0-9`.
    pub const ALPHANUMERIC: CharSet = CharSet::EMPTY
        .with_range(b'0', b'9')
        .with_range(b'A', b'Z')
        .with_range(b'a', b'z');

    /// This set and every byte from `first` to `last` (ASCII only; others are ignored).
    pub const fn with_range(self, first: u8, last: u8) -> CharSet {
        let mut bits = self.0;
        let mut b = first;
        while b <= last && b < 128 {
            bits |= 1u128 << b;
            if b == u8::MAX {
                break;
            }
            b = b.wrapping_add(1);
        }
        CharSet(bits)
    }

    /// This set and each of `bytes` (ASCII only; others are ignored).
    pub const fn with_bytes(self, bytes: &[u8]) -> CharSet {
        let mut bits = self.0;
        let mut rest = bytes;
        while let [b, tail @ ..] = rest {
            if *b < 128 {
                bits |= 1u128 << *b;
            }
            rest = tail;
        }
        CharSet(bits)
    }

    /// A set from configuration text: each character is allowed; `a-z`-style ranges are
    /// expanded. Only printable ASCII is accepted (no space, no control).
    ///
    /// # Errors
    ///
    /// The first character that is not printable ASCII.
    pub fn from_spec(spec: &str) -> Result<CharSet, char> {
        let chars: Vec<char> = spec.chars().collect();
        if let Some(&bad) = chars.iter().find(|c| !c.is_ascii_graphic()) {
            return Err(bad);
        }
        let mut set = CharSet::EMPTY;
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            let (first, last) = match (chars.get(i.wrapping_add(1)), chars.get(i.wrapping_add(2))) {
                (Some('-'), Some(&end)) if end >= c => {
                    i = i.saturating_add(3);
                    (c, end)
                }
                _ => {
                    i = i.saturating_add(1);
                    (c, c)
                }
            };
            // Printable ASCII was checked above.
            set = set.with_range(first as u8, last as u8);
        }
        Ok(set)
    }

    /// Whether `b` is in the set.
    pub const fn contains(self, b: u8) -> bool {
        b < 128 && self.0 & (1u128 << b) != 0
    }

    /// This set without the bytes of `other`.
    pub const fn without(self, other: CharSet) -> CharSet {
        CharSet(self.0 & !other.0)
    }
}

impl fmt::Debug for CharSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CharSet({self})")
    }
}

/// Lists the set as ranges, e.g. `-0-9A-Z_a-z`.
impl fmt::Display for CharSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut b: u8 = 0;
        while b < 128 {
            if !self.contains(b) {
                b = b.wrapping_add(1);
                continue;
            }
            let first = b;
            while b < 127 && self.contains(b.wrapping_add(1)) {
                b = b.wrapping_add(1);
            }
            let shown = |x: u8| -> char {
                if x.is_ascii_graphic() {
                    char::from(x)
                } else {
                    '?'
                }
            };
            if b > first.wrapping_add(1) {
                write!(f, "{}-{}", shown(first), shown(b))?;
            } else if b > first {
                write!(f, "{}{}", shown(first), shown(b))?;
            } else {
                write!(f, "{}", shown(first))?;
            }
            b = b.wrapping_add(1);
        }
        Ok(())
    }
}

/// How account names are checked (per port, from configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerNameRules {
    /// Bytes allowed in the user part.
    pub user_chars: CharSet,
    /// Bytes allowed in the worker part.
    pub worker_chars: CharSet,
    /// Bytes where the name splits (at the first one found).
    pub separators: CharSet,
    /// Longest user part, 1..=[`USER_BYTES_MAX`].
    pub user_bytes_max: usize,
    /// Longest worker part, 0..=[`WORKER_BYTES_MAX`].
    pub worker_bytes_max: usize,
    /// Worker name for an empty worker part; must itself pass the worker rules.
    pub default_worker: String,
}

impl Default for WorkerNameRules {
    fn default() -> Self {
        WorkerNameRules {
            user_chars: CharSet::ALPHANUMERIC.with_bytes(b"_-"),
            worker_chars: CharSet::ALPHANUMERIC.with_bytes(b"_.-"),
            separators: CharSet::EMPTY.with_bytes(b"."),
            user_bytes_max: USER_BYTES_MAX,
            worker_bytes_max: WORKER_BYTES_MAX,
            default_worker: DEFAULT_WORKER.to_owned(),
        }
    }
}

impl WorkerNameRules {
    /// Checks the rules themselves.
    ///
    /// # Errors
    ///
    /// The configuration key at fault and what it should be.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=USER_BYTES_MAX).contains(&self.user_bytes_max) {
            return Err((
                "user_bytes_max",
                format!("1 to {USER_BYTES_MAX}, got {}", self.user_bytes_max),
            ));
        }
        if self.worker_bytes_max > WORKER_BYTES_MAX {
            return Err((
                "worker_bytes_max",
                format!("0 to {WORKER_BYTES_MAX}, got {}", self.worker_bytes_max),
            ));
        }
        if self.separators == CharSet::EMPTY {
            return Err(("separators", "at least one character".to_owned()));
        }
        if self.user_chars.without(self.separators) == CharSet::EMPTY {
            return Err((
                "user_chars",
                "at least one character that is not a separator".to_owned(),
            ));
        }
        if self.default_worker.is_empty()
            || self.default_worker.len() > self.worker_bytes_max
            || !self
                .default_worker
                .bytes()
                .all(|b| self.worker_chars.contains(b))
        {
            return Err((
                "default_worker",
                format!(
                    "1 to {} bytes of [{}], got {:?}",
                    self.worker_bytes_max, self.worker_chars, self.default_worker
                ),
            ));
        }
        Ok(())
    }
}

/// Why an account name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerNameError {
    /// Nothing before the separator (or nothing at all).
    #[error("user name is empty")]
    EmptyUser,
    /// The user part is too long.
    #[error("user name is {len} bytes, the limit is {max}")]
    UserTooLong { len: usize, max: usize },
    /// The worker part is too long.
    #[error("worker name is {len} bytes, the limit is {max}")]
    WorkerTooLong { len: usize, max: usize },
    /// A character outside the user charset.
    #[error("user name has {found:?} at byte {offset}; allowed: [{allowed}]")]
    UserChar {
        offset: usize,
        found: char,
        allowed: CharSet,
    },
    /// A character outside the worker charset.
    #[error("worker name has {found:?} at byte {offset}; allowed: [{allowed}]")]
    WorkerChar {
        offset: usize,
        found: char,
        allowed: CharSet,
    },
}

/// A checked `user.worker`, held inline (no heap).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkerName {
    user: [u8; USER_BYTES_MAX],
    user_len: u8,
    worker: [u8; WORKER_BYTES_MAX],
    worker_len: u8,
}

impl WorkerName {
    /// Parses `account` under `rules` (see the module documentation for the steps).
    ///
    /// # Errors
    ///
    /// The first rule broken, with the offending byte offset and character.
    pub fn parse(account: &str, rules: &WorkerNameRules) -> Result<WorkerName, WorkerNameError> {
        let account = account.trim_matches(|c: char| c.is_ascii_whitespace());
        let split = account.bytes().position(|b| rules.separators.contains(b));
        let (user, worker) = match split {
            Some(at) => (
                account.get(..at).unwrap_or(""),
                account.get(at.saturating_add(1)..).unwrap_or(""),
            ),
            None => (account, ""),
        };
        if user.is_empty() {
            return Err(WorkerNameError::EmptyUser);
        }
        let user_max = rules.user_bytes_max.min(USER_BYTES_MAX);
        if user.len() > user_max {
            return Err(WorkerNameError::UserTooLong {
                len: user.len(),
                max: user_max,
            });
        }
        if let Some((offset, found)) = first_outside(user, rules.user_chars) {
            return Err(WorkerNameError::UserChar {
                offset,
                found,
                allowed: rules.user_chars,
            });
        }
        let worker_max = rules.worker_bytes_max.min(WORKER_BYTES_MAX);
        if worker.len() > worker_max {
            return Err(WorkerNameError::WorkerTooLong {
                len: worker.len(),
                max: worker_max,
            });
        }
        if let Some((offset, found)) = first_outside(worker, rules.worker_chars) {
            return Err(WorkerNameError::WorkerChar {
                // Offsets are reported within the whole (trimmed) name.
                offset: offset.saturating_add(user.len()).saturating_add(1),
                found,
                allowed: rules.worker_chars,
            });
        }
        let worker = if worker.is_empty() {
            // Checked by `validate`; cut to the bound in case the rules were not validated.
            let d = rules.default_worker.as_str();
            d.get(..d.len().min(worker_max)).unwrap_or(DEFAULT_WORKER)
        } else {
            worker
        };
        let mut name = WorkerName {
            user: [0; USER_BYTES_MAX],
            user_len: 0,
            worker: [0; WORKER_BYTES_MAX],
            worker_len: 0,
        };
        name.user_len = copy_into(&mut name.user, user);
        name.worker_len = copy_into(&mut name.worker, worker);
        Ok(name)
    }

    /// The user part.
    pub fn user(&self) -> &str {
        as_str(&self.user, self.user_len)
    }

    /// The worker part (never empty: the default worker stands in).
    pub fn worker(&self) -> &str {
        as_str(&self.worker, self.worker_len)
    }
}

impl fmt::Debug for WorkerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WorkerName({:?}.{:?})", self.user(), self.worker())
    }
}

impl fmt::Display for WorkerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.user(), self.worker())
    }
}

/// The first byte of `text` outside `allowed`, as (offset, character).
fn first_outside(text: &str, allowed: CharSet) -> Option<(usize, char)> {
    let offset = text.bytes().position(|b| !allowed.contains(b))?;
    let found = text
        .get(offset..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER);
    Some((offset, found))
}

/// Copies `text` (already bounded) into `slot`; returns its length.
fn copy_into<const N: usize>(slot: &mut [u8; N], text: &str) -> u8 {
    let len = text.len().min(N).min(usize::from(u8::MAX));
    if let (Some(dst), Some(src)) = (slot.get_mut(..len), text.as_bytes().get(..len)) {
        dst.copy_from_slice(src);
    }
    u8::try_from(len).unwrap_or(0)
}

/// The first `len` bytes of `bytes`, which are ASCII by construction.
fn as_str(bytes: &[u8], len: u8) -> &str {
    let text = bytes.get(..usize::from(len)).unwrap_or(&[]);
    std::str::from_utf8(text).unwrap_or_default()
}
