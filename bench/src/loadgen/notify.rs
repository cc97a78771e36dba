//! A `mining.notify` as the load generator keeps it: the parsed job, and the line it came in.
//!
//! Every miner of a process usually receives the very same notify line, so the line of the last
//! one parsed is kept and compared first: a match costs a byte comparison instead of a JSON
//! parse, which keeps the load generator's own time out of the fan-out it measures.

use crate::sim_miner::protocol::{parse_line, FromPool};
use crate::sim_miner::work::NotifyJob;
use std::cell::RefCell;
use std::rc::Rc;

/// One parsed `mining.notify`.
#[derive(Debug)]
pub struct Notify {
    pub job: NotifyJob,
    pub line: Box<[u8]>,
}

impl Notify {
    /// Parses a line known to be a `mining.notify`.
    pub fn parse(line: &str) -> Result<Notify, String> {
        match parse_line(line) {
            Ok(FromPool::Notify(job)) => Ok(Notify {
                job,
                line: line.as_bytes().into(),
            }),
            Ok(other) => Err(format!("not a mining.notify: {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The last notify parsed by this process.
#[derive(Default)]
pub struct NotifyCache {
    last: RefCell<Option<Rc<Notify>>>,
}

impl NotifyCache {
    /// The notify of `line` when it is the same line as the last one parsed.
    pub fn get(&self, line: &[u8]) -> Option<Rc<Notify>> {
        self.last
            .borrow()
            .as_ref()
            .filter(|n| *n.line == *line)
            .cloned()
    }

    pub fn put(&self, notify: Rc<Notify>) {
        *self.last.borrow_mut() = Some(notify);
    }
}
