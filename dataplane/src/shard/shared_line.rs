//! A line serialized once and written to many sessions without copying: `mining.notify` is built
//! once per job per shard and the same bytes go to every session (DESIGN.md).

use monoio::buf::IoBuf;
use std::rc::Rc;

/// Shared, immutable bytes that io_uring can write from.
#[derive(Debug, Clone)]
pub struct SharedLine(pub Rc<[u8]>);

impl SharedLine {
    pub fn new(bytes: Vec<u8>) -> Self {
        SharedLine(Rc::from(bytes))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// SAFETY: the pointer and length describe the `Rc<[u8]>` allocation, which never moves or changes
// while any clone is alive, and the write op owns a clone until the kernel is done with it.
unsafe impl IoBuf for SharedLine {
    fn read_ptr(&self) -> *const u8 {
        self.0.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.0.len()
    }
}
