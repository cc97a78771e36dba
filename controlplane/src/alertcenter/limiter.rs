//! De-duplication and rate limiting of alerts. Pure logic: the clock is passed in.
//!
//! - De-duplication: the same host + process + message within `dedup_window` of its last push is
//!   not pushed again, only counted. When the window is over, the count goes out: appended to the
//!   next occurrence (`… (repeated N times)`), or, if the error keeps quiet, by [`Limiter::tick`]
//!   on its own line. An error that keeps repeating thus gives one line per window.
//! - Rate limit: a token bucket over everything pushed (`rate_per_minute`, bursts up to as many).
//!   Alerts over the limit are counted; once a token is back, [`Limiter::tick`] gives one summary
//!   line instead of them. A first occurrence refused by the limit is not remembered, so its next
//!   occurrence gets a new chance instead of being taken for a duplicate of nothing.
//!
//! Memory is bounded: at most [`TRACKED_MAX`] distinct alerts are remembered; beyond that, new
//! ones are pushed without de-duplication (the rate limit still holds).

use ironpool_shared::meta::Alert;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Distinct alerts remembered for de-duplication (at most 8 KiB each: 32 MiB at worst).
pub const TRACKED_MAX: usize = 4096;

/// The process name on the limiter's own summary lines.
pub const OWN_PROCESS: &str = "alertcenter";

#[derive(Debug, Clone)]
pub struct LimiterSettings {
    /// Zero: no de-duplication.
    pub dedup_window: Duration,
    /// At least 1.
    pub rate_per_minute: u32,
    /// This host's name, for the summary lines.
    pub own_host: String,
}

/// What to do with an offered alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Push this (the alert, with the repeat count of its previous window if any).
    Push(Alert),
    /// Seen within the window: counted, not pushed.
    Deduplicated,
    /// Over the rate: counted for the next summary, not pushed.
    RateLimited,
}

/// (host, process, message).
type SeenKey = (String, String, String);

#[derive(Debug)]
struct Seen {
    /// When the current window started (the last push of this alert).
    since: Instant,
    /// Occurrences within the window, not pushed.
    repeats: u64,
}

/// A token bucket refilled continuously.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.at = self.at.max(now);
    }

    fn take(&mut self) -> bool {
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
pub struct Limiter {
    window: Duration,
    rate_per_minute: u32,
    own_host: String,
    bucket: Bucket,
    /// Alerts refused by the rate since the last summary.
    suppressed: u64,
    seen: HashMap<SeenKey, Seen>,
}

impl Limiter {
    /// A limiter with a full bucket at `now`.
    pub fn new(settings: LimiterSettings, now: Instant) -> Limiter {
        let capacity = f64::from(settings.rate_per_minute.max(1));
        Limiter {
            window: settings.dedup_window,
            rate_per_minute: settings.rate_per_minute.max(1),
            own_host: settings.own_host,
            bucket: Bucket {
                capacity,
                per_second: capacity / 60.0,
                tokens: capacity,
                at: now,
            },
            suppressed: 0,
            seen: HashMap::new(),
        }
    }

    /// Decides about one received alert.
    pub fn offer(&mut self, alert: Alert, now: Instant) -> Verdict {
        self.bucket.refill(now);
        let key: SeenKey = (alert.host, alert.process, alert.message);
        let repeats = match self.seen.get_mut(&key) {
            Some(seen) if now.saturating_duration_since(seen.since) < self.window => {
                seen.repeats += 1;
                return Verdict::Deduplicated;
            }
            Some(seen) => seen.repeats,
            None => 0,
        };
        if !self.bucket.take() {
            self.suppressed += 1;
            return Verdict::RateLimited;
        }
        let message = if repeats > 0 {
            with_repeats(&key.2, repeats)
        } else {
            key.2.clone()
        };
        let pushed = Alert {
            host: key.0.clone(),
            process: key.1.clone(),
            message,
        };
        let tracked = self.seen.contains_key(&key);
        if !self.window.is_zero() && (tracked || self.seen.len() < TRACKED_MAX) {
            self.seen.insert(
                key,
                Seen {
                    since: now,
                    repeats: 0,
                },
            );
        }
        Verdict::Push(pushed)
    }

    /// Call about once a second: the rate-limit summary once a token is back, the repeat counts
    /// of windows that are over; forgets alerts whose window is over without repeats.
    pub fn tick(&mut self, now: Instant) -> Vec<Alert> {
        self.bucket.refill(now);
        let mut out = Vec::new();
        if self.suppressed > 0 && self.bucket.take() {
            out.push(Alert {
                host: self.own_host.clone(),
                process: OWN_PROCESS.to_owned(),
                message: format!(
                    "{} alerts suppressed by the rate limit ({} per minute)",
                    self.suppressed, self.rate_per_minute
                ),
            });
            self.suppressed = 0;
        }
        let window = self.window;
        let bucket = &mut self.bucket;
        self.seen.retain(|(host, process, message), seen| {
            if now.saturating_duration_since(seen.since) < window {
                return true;
            }
            if seen.repeats == 0 {
                return false;
            }
            if !bucket.take() {
                // No token now: kept, the count goes out on a later tick.
                return true;
            }
            out.push(Alert {
                host: host.clone(),
                process: process.clone(),
                message: with_repeats(message, seen.repeats),
            });
            // A new window: further repeats are folded into its count.
            seen.since = now;
            seen.repeats = 0;
            true
        });
        out
    }

    /// Distinct alerts remembered now.
    pub fn tracked(&self) -> usize {
        self.seen.len()
    }

    /// Alerts refused by the rate that no summary has reported yet.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

fn with_repeats(message: &str, repeats: u64) -> String {
    format!("{message} (repeated {repeats} times)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(window_secs: u64, rate: u32, now: Instant) -> Limiter {
        Limiter::new(
            LimiterSettings {
                dedup_window: Duration::from_secs(window_secs),
                rate_per_minute: rate,
                own_host: "ac1".to_owned(),
            },
            now,
        )
    }

    fn alert(host: &str, message: &str) -> Alert {
        Alert {
            host: host.to_owned(),
            process: "gateway".to_owned(),
            message: message.to_owned(),
        }
    }

    fn pushed(verdict: Verdict) -> String {
        match verdict {
            Verdict::Push(a) => a.message,
            other => panic!("expected a push, got {other:?}"),
        }
    }

    #[test]
    fn repeats_within_the_window_are_counted_and_reported_when_it_ends() {
        let t0 = Instant::now();
        let mut l = limiter(300, 1000, t0);
        assert_eq!(pushed(l.offer(alert("h", "disk full"), t0)), "disk full");
        for i in 1..50 {
            let at = t0 + Duration::from_secs(i);
            assert_eq!(l.offer(alert("h", "disk full"), at), Verdict::Deduplicated);
        }
        // Another host is another alert.
        assert_eq!(pushed(l.offer(alert("h2", "disk full"), t0)), "disk full");
        assert!(l.tick(t0 + Duration::from_secs(299)).is_empty());
        let out = l.tick(t0 + Duration::from_secs(300));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0], alert("h", "disk full (repeated 49 times)"));
        // h2 had no repeats: forgotten. h keeps a new window, with no repeats in it.
        assert_eq!(l.tracked(), 1);
        assert!(l.tick(t0 + Duration::from_secs(600)).is_empty());
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn the_next_occurrence_after_the_window_carries_the_count() {
        let t0 = Instant::now();
        let mut l = limiter(10, 1000, t0);
        pushed(l.offer(alert("h", "e"), t0));
        assert_eq!(l.offer(alert("h", "e"), t0), Verdict::Deduplicated);
        assert_eq!(l.offer(alert("h", "e"), t0), Verdict::Deduplicated);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            pushed(l.offer(alert("h", "e"), later)),
            "e (repeated 2 times)"
        );
        // A new window started with that push.
        assert_eq!(l.offer(alert("h", "e"), later), Verdict::Deduplicated);
        assert!(l.tick(later + Duration::from_secs(9)).is_empty());
    }

    #[test]
    fn the_rate_limit_counts_and_sends_one_summary_when_tokens_return() {
        let t0 = Instant::now();
        let mut l = limiter(300, 60, t0);
        let mut pushes = 0;
        let mut limited = 0;
        for i in 0..200 {
            match l.offer(alert("h", &format!("distinct {i}")), t0) {
                Verdict::Push(_) => pushes += 1,
                Verdict::RateLimited => limited += 1,
                Verdict::Deduplicated => panic!("all distinct"),
            }
        }
        assert_eq!((pushes, limited), (60, 140));
        assert!(l.tick(t0 + Duration::from_millis(500)).is_empty());
        let out = l.tick(t0 + Duration::from_secs(1));
        assert_eq!(
            out,
            vec![Alert {
                host: "ac1".to_owned(),
                process: OWN_PROCESS.to_owned(),
                message: "140 alerts suppressed by the rate limit (60 per minute)".to_owned(),
            }]
        );
        assert_eq!(l.suppressed(), 0);
        assert!(l.tick(t0 + Duration::from_secs(3)).is_empty());
    }

    #[test]
    fn an_alert_refused_by_the_rate_is_not_taken_for_a_duplicate_later() {
        let t0 = Instant::now();
        let mut l = limiter(300, 1, t0);
        pushed(l.offer(alert("h", "a"), t0));
        assert_eq!(l.offer(alert("h", "b"), t0), Verdict::RateLimited);
        // 61 s, not 60: a whole token back whatever the float rounding of 60 × 1/60.
        let later = t0 + Duration::from_secs(61);
        // The summary took the one token back; the next minute lets "b" through as new.
        assert_eq!(l.tick(later).len(), 1);
        let much_later = later + Duration::from_secs(61);
        assert_eq!(pushed(l.offer(alert("h", "b"), much_later)), "b");
    }

    #[test]
    fn repeat_counts_wait_for_a_token() {
        let t0 = Instant::now();
        let mut l = limiter(1, 1, t0);
        pushed(l.offer(alert("h", "a"), t0));
        assert_eq!(l.offer(alert("h", "a"), t0), Verdict::Deduplicated);
        // Window over after 1 s, but the bucket (1 per minute) is empty for about a minute.
        assert!(l.tick(t0 + Duration::from_secs(2)).is_empty());
        assert_eq!(l.tracked(), 1);
        let out = l.tick(t0 + Duration::from_secs(61));
        assert_eq!(out, vec![alert("h", "a (repeated 1 times)")]);
    }

    #[test]
    fn a_zero_window_pushes_everything_and_remembers_nothing() {
        let t0 = Instant::now();
        let mut l = limiter(0, 1000, t0);
        for _ in 0..3 {
            assert_eq!(pushed(l.offer(alert("h", "a"), t0)), "a");
        }
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn memory_is_bounded_and_untracked_alerts_still_pass() {
        let t0 = Instant::now();
        let mut l = limiter(300, 100_000, t0);
        for i in 0..TRACKED_MAX + 10 {
            pushed(l.offer(alert("h", &format!("m{i}")), t0));
        }
        assert_eq!(l.tracked(), TRACKED_MAX);
        let untracked = format!("m{}", TRACKED_MAX + 5);
        assert_eq!(pushed(l.offer(alert("h", &untracked), t0)), untracked);
        assert_eq!(l.offer(alert("h", "m0"), t0), Verdict::Deduplicated);
    }

    #[test]
    fn a_clock_that_steps_back_does_not_panic() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut l = limiter(5, 60, t0);
        pushed(l.offer(alert("h", "a"), t0));
        let earlier = t0 - Duration::from_secs(5);
        assert_eq!(l.offer(alert("h", "a"), earlier), Verdict::Deduplicated);
        assert!(l.tick(earlier).is_empty());
    }
}
