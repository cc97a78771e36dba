//! Repeated failures logged once in a while: a node stuck on an error would otherwise fill the
//! log at the polling rate (ten lines a second).

use std::time::{Duration, Instant};

/// How often a failure that keeps repeating is logged again.
pub const REPEAT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Remembers the last failure message and when it was logged.
#[derive(Debug, Default)]
pub struct LogThrottle {
    last: Option<(String, Instant)>,
}

impl LogThrottle {
    /// Whether `message` should be logged now: a new message always, the same one again only
    /// after [`REPEAT_LOG_INTERVAL`].
    pub fn should_log(&mut self, message: &str) -> bool {
        let now = Instant::now();
        match &self.last {
            Some((last, at))
                if last == message && now.duration_since(*at) < REPEAT_LOG_INTERVAL =>
            {
                false
            }
            _ => {
                self.last = Some((message.to_owned(), now));
                true
            }
        }
    }

    /// Forgets the failure; returns whether there was one (to log the recovery).
    pub fn clear(&mut self) -> bool {
        self.last.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_held_back_and_new_messages_pass() {
        let mut t = LogThrottle::default();
        assert!(t.should_log("a"));
        assert!(!t.should_log("a"));
        assert!(t.should_log("b"));
        assert!(t.should_log("a"));
        assert!(t.clear());
        assert!(!t.clear());
        assert!(t.should_log("a"));
    }
}
