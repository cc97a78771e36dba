//! Vardiff settings (one per port) and their checks.

use std::time::Duration;

/// Smallest difficulty floor allowed (a NerdMiner needs ~0.0001; below 1e-9 the
/// `mining.set_difficulty` decimal only gets longer).
pub const DIFFICULTY_FLOOR_MIN: f64 = 1e-9;
/// Largest difficulty ceiling allowed: 10^15, where f64 still holds every integer exactly.
pub const DIFFICULTY_CEILING_MAX: f64 = 1e15;

/// How a session's difficulty follows its miner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VardiffConfig {
    /// Wanted time between shares (10 s).
    pub target_interval: Duration,
    /// Re-evaluate at least this often, on a share or on the timer (30 s).
    pub retarget_every: Duration,
    /// Re-evaluate also after this many shares since the last evaluation, so a miner far too
    /// strong for its difficulty climbs in milliseconds, not seconds (30).
    pub retarget_shares: u32,
    /// How far back the hash-rate estimate looks: older work fades out (600 s, about 60 shares at
    /// the target interval). Longer is steadier, shorter follows a changing miner faster.
    pub window: Duration,
    /// Floor (0.0001 lets a NerdMiner or a Bitaxe in; a port for big ASICs sets more).
    pub min: f64,
    /// Ceiling.
    pub max: f64,
    /// Starting difficulty of a new session.
    pub initial: f64,
    /// Change only when the estimate differs from the current difficulty by more than this ratio,
    /// up or down (1.5), and by more than the noise of the share count (see
    /// [`Vardiff`](super::Vardiff)).
    pub hysteresis: f64,
    /// Largest change per evaluation, as a ratio up or down (4).
    pub step_max: f64,
    /// How long after a change shares still meet the previous difficulty (15 s): work the miner
    /// had queued, and shares in flight.
    pub grace: Duration,
    /// Significant decimal digits of a new difficulty, so `mining.set_difficulty` stays short (3).
    pub significant_digits: u32,
}

impl Default for VardiffConfig {
    fn default() -> Self {
        VardiffConfig {
            target_interval: Duration::from_secs(10),
            retarget_every: Duration::from_secs(30),
            retarget_shares: 30,
            window: Duration::from_secs(600),
            min: 0.0001,
            max: 1e12,
            initial: 1024.0,
            hysteresis: 1.5,
            step_max: 4.0,
            grace: Duration::from_secs(15),
            significant_digits: 3,
        }
    }
}

impl VardiffConfig {
    /// Checks every field and their consistency.
    ///
    /// # Errors
    ///
    /// The key at fault and what it should be, with the value found.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let positive = |key: &'static str, d: Duration| {
            if d.is_zero() {
                Err((key, "a duration above 0, got 0".to_owned()))
            } else {
                Ok(())
            }
        };
        positive("target_interval", self.target_interval)?;
        positive("retarget_every", self.retarget_every)?;
        if self.retarget_shares == 0 {
            return Err(("retarget_shares", "at least 1, got 0".to_owned()));
        }
        if self.window < self.retarget_every {
            return Err((
                "window",
                format!(
                    "at least retarget_every ({:?}), got {:?}",
                    self.retarget_every, self.window
                ),
            ));
        }
        let range = DIFFICULTY_FLOOR_MIN..=DIFFICULTY_CEILING_MAX;
        if !range.contains(&self.min) {
            return Err((
                "min",
                format!(
                    "a number from {DIFFICULTY_FLOOR_MIN} to {DIFFICULTY_CEILING_MAX}, got {}",
                    self.min
                ),
            ));
        }
        if !range.contains(&self.max) || self.max < self.min {
            return Err((
                "max",
                format!(
                    "a number from min ({}) to {DIFFICULTY_CEILING_MAX}, got {}",
                    self.min, self.max
                ),
            ));
        }
        if !(self.min..=self.max).contains(&self.initial) {
            return Err((
                "initial",
                format!(
                    "a number from min ({}) to max ({}), got {}",
                    self.min, self.max, self.initial
                ),
            ));
        }
        if !(self.hysteresis.is_finite() && self.hysteresis >= 1.0) {
            return Err((
                "hysteresis",
                format!("a ratio of at least 1, got {}", self.hysteresis),
            ));
        }
        if !(self.step_max.is_finite() && self.step_max > 1.0) {
            return Err((
                "step_max",
                format!("a ratio above 1, got {}", self.step_max),
            ));
        }
        if !(1..=15).contains(&self.significant_digits) {
            return Err((
                "significant_digits",
                format!("1 to 15, got {}", self.significant_digits),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid() {
        assert_eq!(VardiffConfig::default().validate(), Ok(()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let ok = VardiffConfig::default();
        let cases: Vec<(VardiffConfig, &str)> = vec![
            (
                VardiffConfig {
                    target_interval: Duration::ZERO,
                    ..ok
                },
                "target_interval",
            ),
            (
                VardiffConfig {
                    retarget_every: Duration::ZERO,
                    ..ok
                },
                "retarget_every",
            ),
            (
                VardiffConfig {
                    retarget_shares: 0,
                    ..ok
                },
                "retarget_shares",
            ),
            (
                VardiffConfig {
                    window: Duration::from_secs(10),
                    ..ok
                },
                "window",
            ),
            (VardiffConfig { min: 0.0, ..ok }, "min"),
            (
                VardiffConfig {
                    min: f64::NAN,
                    ..ok
                },
                "min",
            ),
            (VardiffConfig { max: 0.00001, ..ok }, "max"),
            (
                VardiffConfig {
                    max: f64::INFINITY,
                    ..ok
                },
                "max",
            ),
            (
                VardiffConfig {
                    initial: 1e13,
                    ..ok
                },
                "initial",
            ),
            (
                VardiffConfig {
                    hysteresis: 0.9,
                    ..ok
                },
                "hysteresis",
            ),
            (
                VardiffConfig {
                    step_max: 1.0,
                    ..ok
                },
                "step_max",
            ),
            (
                VardiffConfig {
                    significant_digits: 0,
                    ..ok
                },
                "significant_digits",
            ),
        ];
        for (config, key) in cases {
            let err = config.validate().expect_err(key);
            assert_eq!(err.0, key, "{err:?}");
            assert!(err.1.contains("got"), "{err:?}");
        }
    }
}
