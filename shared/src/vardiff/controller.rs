//! [`Vardiff`]: one session's difficulty, a plain state machine driven by events with the time
//! passed in.

use std::borrow::Borrow;
use std::time::{Duration, Instant};

use super::config::VardiffConfig;
use super::rounding::round_significant;

/// After this many target intervals without a share (at the current difficulty), the silence
/// itself bounds the estimate: a steady miner is that quiet with probability e^-10 ≈ 5·10^-5 per
/// gap, while a miner whose difficulty is far too high comes down every `retarget_every`.
const SILENCE_INTERVALS: f64 = 10.0;
/// Before any share, how many target intervals of silence lower the difficulty: a miner at the
/// right difficulty is that quiet with probability e^-5 ≈ 0.7%.
const FIRST_SILENCE_INTERVALS: f64 = 5.0;
/// How many standard deviations of the share count the work must be off by before it counts.
/// If the current difficulty were right, the span observed would hold about `span / target`
/// shares, give or take the square root of that (Poisson); a ratio within that noise says nothing.
/// So 30 s into a session (3 shares expected) only a ratio above 2.4 moves the difficulty up, and
/// with the window full (60 shares expected) the hysteresis decides.
const NOISE_SIGMAS: f64 = 2.5;
/// Shortest observation span the rate is computed over, so that two shares stamped with the same
/// instant give a large finite rate rather than a division by zero.
const SPAN_SECS_MIN: f64 = 0.001;

/// One session's difficulty.
///
/// The estimate is the miner's rate of work: the sum of the difficulties of its shares over the
/// time observed, with work older than about [`VardiffConfig::window`] fading out (it is rescaled
/// to the window at each evaluation). The wanted difficulty is that rate times
/// [`VardiffConfig::target_interval`]. Evaluations happen after
/// [`VardiffConfig::retarget_shares`] shares or [`VardiffConfig::retarget_every`], on a share or
/// on the timer. A change needs, all at once:
/// - evidence: the estimate must be off by more than the Poisson noise of the shares the span
///   would hold at the current difficulty (2.5 standard deviations), so a handful of lucky or
///   unlucky shares moves nothing;
/// - a ratio beyond [`VardiffConfig::hysteresis`] either way.
///
/// It then moves by at most [`VardiffConfig::step_max`] (give or take the rounding), is rounded
/// to [`VardiffConfig::significant_digits`] and clamped to the floor (the config's `min`, or the
/// miner's BIP310 minimum) and [`VardiffConfig::max`].
///
/// Silence is evidence too, so a difficulty too high for the miner comes down on the timer alone:
/// with no share yet, 5 target intervals of silence lower it (to at most one share per silence,
/// bounded by the step); after shares, 10 target intervals of silence bound the estimate the same
/// way, and the history is dropped when that changes the difficulty (the miner changed; old work
/// would pull it back up).
///
/// After a change the previous difficulty still counts for [`VardiffConfig::grace`]
/// ([`credit`](Self::credit)).
///
/// `C` is how the session holds its port's config: by value, or shared (`Rc<VardiffConfig>`,
/// `&VardiffConfig`) to keep the per-session state small (about 100 bytes besides `C`).
///
/// Time only moves forward here: an earlier `now` than a previous call counts as no time passed.
#[derive(Debug, Clone)]
pub struct Vardiff<C: Borrow<VardiffConfig> = VardiffConfig> {
    config: C,
    current: f64,
    /// The difficulty before the last change, accepted until `previous_valid_until`.
    previous: f64,
    previous_valid_until: Option<Instant>,
    /// The config's `min`, or the miner's BIP310 minimum-difficulty if higher.
    floor: f64,
    /// Set by a fixed difficulty (e.g. a `d=` password): no automatic change.
    fixed: bool,
    /// Sum of credited share difficulties over `observed_secs` (faded past the window).
    work: f64,
    observed_secs: f64,
    observed_until: Instant,
    shares_since_retarget: u32,
    last_retarget: Instant,
    /// The last share or the last change, whichever is later.
    quiet_since: Instant,
}

impl<C: Borrow<VardiffConfig>> Vardiff<C> {
    /// A new session at `config.initial`. Check `config` once with [`VardiffConfig::validate`]
    /// at start-up; an invalid one never panics here but gives unspecified difficulties.
    pub fn new(config: C, now: Instant) -> Self {
        let (initial, min) = {
            let c = config.borrow();
            (c.initial, c.min)
        };
        Vardiff {
            config,
            current: initial,
            previous: initial,
            previous_valid_until: None,
            floor: min,
            fixed: false,
            work: 0.0,
            observed_secs: 0.0,
            observed_until: now,
            shares_since_retarget: 0,
            last_retarget: now,
            quiet_since: now,
        }
    }

    /// The config.
    pub fn config(&self) -> &VardiffConfig {
        self.config.borrow()
    }

    /// The difficulty the miner was last told.
    pub fn current(&self) -> f64 {
        self.current
    }

    /// The difficulty before the last change, while its grace lasts.
    pub fn previous_in_grace(&self, now: Instant) -> Option<f64> {
        match self.previous_valid_until {
            Some(until) if now < until => Some(self.previous),
            _ => None,
        }
    }

    /// The lowest difficulty a share may meet at `now`: the current one, or the previous one if
    /// lower and still in its grace.
    pub fn effective_minimum(&self, now: Instant) -> f64 {
        self.previous_in_grace(now)
            .map_or(self.current, |previous| previous.min(self.current))
    }

    /// The difficulty to credit for a share that achieved `achieved`: the current difficulty if
    /// met, else the previous one if met and in grace; `None` is a low-difficulty share. The
    /// comparison is exact: compute `achieved` the same way for every share (or compare targets
    /// and use [`current`](Self::current) / [`previous_in_grace`](Self::previous_in_grace)).
    pub fn credit(&self, achieved: f64, now: Instant) -> Option<f64> {
        if achieved >= self.current {
            return Some(self.current);
        }
        self.previous_in_grace(now)
            .filter(|&previous| achieved >= previous)
    }

    /// Whether a share that achieved `achieved` is accepted at `now`.
    pub fn accepts(&self, achieved: f64, now: Instant) -> bool {
        self.credit(achieved, now).is_some()
    }

    /// Whether the difficulty is fixed ([`set_fixed`](Self::set_fixed)).
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }

    /// The miner's estimated hash rate, in hashes per second (difficulty 1 = 2^32 hashes).
    pub fn hashes_per_second(&self, now: Instant) -> f64 {
        let observed = self.observed_secs + self.unobserved_secs(now);
        if observed <= 0.0 {
            return 0.0;
        }
        self.work / observed * 4_294_967_296.0
    }

    /// An accepted share, credited at `credited` (what [`credit`](Self::credit) returned).
    /// Returns the new difficulty when it changes: send `mining.set_difficulty` before the next
    /// `mining.notify`.
    pub fn on_share(&mut self, now: Instant, credited: f64) -> Option<f64> {
        if credited.is_finite() && credited > 0.0 {
            self.work += credited;
        }
        self.quiet_since = self.quiet_since.max(now);
        self.shares_since_retarget = self.shares_since_retarget.saturating_add(1);
        let config = self.config.borrow();
        if self.shares_since_retarget >= config.retarget_shares
            || now.saturating_duration_since(self.last_retarget) >= config.retarget_every
        {
            return self.retarget(now);
        }
        None
    }

    /// A timer tick (any period up to `retarget_every`; the gateway can sweep its sessions).
    /// Re-evaluates when `retarget_every` has passed without one, shares or not. Returns the new
    /// difficulty when it changes.
    pub fn on_timer(&mut self, now: Instant) -> Option<f64> {
        if now.saturating_duration_since(self.last_retarget) >= self.config.borrow().retarget_every
        {
            return self.retarget(now);
        }
        None
    }

    /// A `mining.suggest_difficulty`: the suggestion, rounded and clamped to the floor and max,
    /// becomes the difficulty (vardiff keeps adjusting from there). Returns it when it changes;
    /// `None` for a suggestion that is not finite and positive or equals the current difficulty.
    pub fn suggest(&mut self, now: Instant, difficulty: f64) -> Option<f64> {
        let wanted = self.bounded(difficulty)?;
        self.change(now, wanted)
    }

    /// A BIP310 `minimum-difficulty`: the session's floor becomes `value` clamped to the config's
    /// range (0 restores the config's `min`), and the difficulty rises to it if below. Returns the
    /// new difficulty when it changes.
    pub fn set_minimum(&mut self, now: Instant, value: f64) -> Option<f64> {
        if !(value.is_finite() && value >= 0.0) {
            return None;
        }
        let (min, max) = {
            let c = self.config.borrow();
            (c.min, c.max)
        };
        self.floor = value.max(min).min(max);
        if self.current < self.floor {
            return self.change(now, self.floor);
        }
        None
    }

    /// Fixes the difficulty at `Some(difficulty)` (rounded and clamped; no automatic change
    /// after), or returns to automatic with `None`. Returns the new difficulty when it changes.
    pub fn set_fixed(&mut self, now: Instant, difficulty: Option<f64>) -> Option<f64> {
        match difficulty {
            Some(d) => {
                let wanted = self.bounded(d)?;
                self.fixed = true;
                self.change(now, wanted)
            }
            None => {
                self.fixed = false;
                None
            }
        }
    }

    /// `difficulty` rounded and clamped to [floor, max]; `None` if not finite and positive.
    fn bounded(&self, difficulty: f64) -> Option<f64> {
        if !(difficulty.is_finite() && difficulty > 0.0) {
            return None;
        }
        let c = self.config.borrow();
        Some(
            round_significant(difficulty, c.significant_digits)
                .max(self.floor)
                .min(c.max),
        )
    }

    fn unobserved_secs(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.observed_until)
            .as_secs_f64()
    }

    fn retarget(&mut self, now: Instant) -> Option<f64> {
        self.observed_secs += self.unobserved_secs(now);
        self.observed_until = self.observed_until.max(now);
        self.shares_since_retarget = 0;
        self.last_retarget = self.last_retarget.max(now);
        let c = *self.config.borrow();
        let estimate = self.estimate(now, &c);
        // Fade work older than the window, keeping the rate.
        let window = c.window.as_secs_f64();
        if self.observed_secs > window {
            self.work *= window / self.observed_secs;
            self.observed_secs = window;
        }
        if self.fixed {
            return None;
        }
        let (wanted, silenced) = match estimate {
            Estimate::Rate(wanted) => (wanted, false),
            Estimate::Silence(wanted) => (wanted, true),
            Estimate::Unknown => return None,
        };
        let ratio = wanted / self.current;
        if ratio.is_nan() || (ratio <= c.hysteresis && ratio * c.hysteresis >= 1.0) {
            return None;
        }
        let ratio = ratio.max(1.0 / c.step_max).min(c.step_max);
        let next = round_significant(self.current * ratio, c.significant_digits)
            .max(self.floor)
            .min(c.max);
        let changed = self.change(now, next);
        if changed.is_some() && silenced {
            // The silence contradicted the history: the miner changed (fewer hash boards, or it
            // stopped). Forget the past, or the next evaluation would climb back on old work.
            self.work = 0.0;
            self.observed_secs = 0.0;
        }
        changed
    }

    /// What the evidence says the difficulty should be.
    fn estimate(&self, now: Instant, c: &VardiffConfig) -> Estimate {
        let target = c.target_interval.as_secs_f64();
        let quiet = now
            .saturating_duration_since(self.quiet_since)
            .as_secs_f64();
        if self.work > 0.0 {
            let span = self.observed_secs.max(SPAN_SECS_MIN);
            let wanted = self.work / span * target;
            if quiet >= SILENCE_INTERVALS * target {
                // About one share in `quiet` at most: the rate is lower than the history says.
                let bound = self.current * target / quiet;
                if bound < wanted {
                    return Estimate::Silence(bound);
                }
            }
            // Within the Poisson noise of the shares expected at the current difficulty, the
            // estimate says nothing.
            let expected_shares = span / target;
            if (wanted / self.current - 1.0).abs() * expected_shares.sqrt() < NOISE_SIGMAS {
                return Estimate::Unknown;
            }
            return Estimate::Rate(wanted);
        }
        // No share since the start (or since the history was dropped): the miner does less than
        // one share of the current difficulty per `quiet`; never a reason to go up.
        if quiet < FIRST_SILENCE_INTERVALS * target {
            return Estimate::Unknown;
        }
        Estimate::Silence((self.current * target / quiet).min(self.current))
    }

    fn change(&mut self, now: Instant, next: f64) -> Option<f64> {
        if next == self.current {
            return None;
        }
        let grace = self.config.borrow().grace;
        self.previous = self.current;
        self.previous_valid_until = Some(now.checked_add(grace).unwrap_or(now));
        self.current = next;
        self.quiet_since = self.quiet_since.max(now);
        Some(next)
    }
}

impl<C: Borrow<VardiffConfig>> Vardiff<C> {
    /// Time since the last share or change (for the gateway's idle checks and tests).
    pub fn quiet_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.quiet_since)
    }
}

/// What an evaluation concludes.
enum Estimate {
    /// The rate of work asks for this difficulty.
    Rate(f64),
    /// The silence since the last share (or the start) asks for at most this difficulty.
    Silence(f64),
    /// Not enough evidence to move.
    Unknown,
}
