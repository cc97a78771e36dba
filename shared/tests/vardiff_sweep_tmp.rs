//! Vardiff against simulated miners: shares arrive as a Poisson process whose rate is the miner's
//! hash rate over the session's difficulty (a share at difficulty D takes D·2^32 hashes on
//! average), with a timer tick every second as the gateway's sweep would give. Time is simulated
//! (`Instant`s built from a fixed start), so hours run in milliseconds, and every random draw comes
//! from a seeded generator, so every run sees the same shares.

use std::time::{Duration, Instant};

use ironpool_shared::vardiff::{round_significant, Vardiff, VardiffConfig};

const TWO_32: f64 = 4_294_967_296.0;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    /// Exponential with the given rate (events per second).
    fn exp(&mut self, rate: f64) -> f64 {
        if rate <= 0.0 {
            return f64::INFINITY;
        }
        -self.unit().ln() / rate
    }
}

/// What happened in a simulation.
struct Trace {
    /// (seconds, new difficulty) for each change.
    changes: Vec<(f64, f64)>,
    /// (seconds, difficulty) for each share.
    shares: Vec<(f64, f64)>,
    difficulty_at_end: f64,
}

impl Trace {
    fn shares_between(&self, from: f64, to: f64) -> usize {
        self.shares
            .iter()
            .filter(|(t, _)| (from..to).contains(t))
            .count()
    }
    fn changes_between(&self, from: f64, to: f64) -> usize {
        self.changes
            .iter()
            .filter(|(t, _)| (from..to).contains(t))
            .count()
    }
}

/// Runs `vardiff` for `seconds` against a miner doing `hashes_per_second(t)`.
fn simulate(
    vardiff: &mut Vardiff,
    start: Instant,
    from: f64,
    seconds: f64,
    hashes_per_second: impl Fn(f64) -> f64,
    rng: &mut Rng,
) -> Trace {
    let at = |t: f64| start + Duration::from_secs_f64(t);
    let mut trace = Trace {
        changes: vec![],
        shares: vec![],
        difficulty_at_end: 0.0,
    };
    let share_rate = |t: f64, d: f64| hashes_per_second(t) / TWO_32 / d;
    let mut t = from;
    let mut next_tick = from + 1.0;
    let mut next_share = t + rng.exp(share_rate(t, vardiff.current()));
    let end = from + seconds;
    while t < end {
        let changed = if next_share < next_tick {
            t = next_share;
            let d = vardiff.current();
            trace.shares.push((t, d));
            vardiff.on_share(at(t), d)
        } else {
            t = next_tick;
            next_tick += 1.0;
            vardiff.on_timer(at(t))
        };
        if let Some(new) = changed {
            trace.changes.push((t, new));
        }
        if changed.is_some() || next_share <= t || t == next_tick - 1.0 {
            // Memoryless: redraw from now whenever the difficulty or the rate may have changed.
            next_share = t + rng.exp(share_rate(t, vardiff.current()));
        }
    }
    trace.difficulty_at_end = vardiff.current();
    trace
}

/// The difficulty that gives one share per 10 s.
fn ideal(hashes_per_second: f64) -> f64 {
    hashes_per_second * 10.0 / TWO_32
}

fn within(value: f64, target: f64, factor: f64) -> bool {
    value >= target / factor && value <= target * factor
}


#[test]
fn sweep() {
    let start = Instant::now();
    let mut fails = std::collections::BTreeMap::<&str, u32>::new();
    let mut steady_changes = 0;
    for seed in 100..160 {
        let mut rng = Rng(seed);
        // fast
        let hashes = 100e12;
        let mut v = Vardiff::new(VardiffConfig::default(), start);
        let t = simulate(&mut v, start, 0.0, 3600.0, |_| hashes, &mut rng);
        if !within(t.difficulty_at_end, ideal(hashes), 1.5) || t.changes_between(600.0, 3600.0) > 4 { *fails.entry("fast").or_default() += 1; }
        // slow
        for (h, lim) in [(60e3, 900.0), (500e9, 300.0)] {
            let mut v = Vardiff::new(VardiffConfig::default(), start);
            let t = simulate(&mut v, start, 0.0, 7200.0, |_| h, &mut rng);
            let first = if within(1024.0, ideal(h), 2.0) { 0.0 } else { t.changes.iter().find(|(_, d)| within(*d, ideal(h), 2.0)).map_or(f64::MAX, |x| x.0) };
            if first >= lim || !within(t.difficulty_at_end, ideal(h), 1.6) { *fails.entry(if h < 1e6 {"nerd"} else {"bitaxe"}).or_default() += 1; }
        }
        // stops
        let h = 500e9;
        let mut v = Vardiff::new(VardiffConfig::default(), start);
        simulate(&mut v, start, 0.0, 3600.0, |_| h, &mut rng);
        if !within(v.current(), ideal(h), 1.6) { *fails.entry("stop-before").or_default() += 1; }
        let t = simulate(&mut v, start, 3600.0, 1800.0, |_| h / 100.0, &mut rng);
        let low = t.changes.iter().find(|(_, d)| within(*d, ideal(h / 100.0), 2.0)).map(|(x, _)| x - 3600.0);
        if !low.is_some_and(|l| l < 600.0) { *fails.entry("stop-drop").or_default() += 1; }
        // steady
        let cfg = VardiffConfig { initial: 500.0, ..VardiffConfig::default() };
        let hs = 500.0 * TWO_32 / 10.0;
        let mut v = Vardiff::new(cfg, start);
        let t = simulate(&mut v, start, 0.0, 4.0 * 3600.0, |_| hs, &mut rng);
        steady_changes += t.changes.len();
        if !t.changes.iter().all(|(_, d)| within(*d, 500.0, 2.5)) { *fails.entry("steady-range").or_default() += 1; }
        // estimate
        let mut v = Vardiff::new(VardiffConfig::default(), start);
        simulate(&mut v, start, 0.0, 3600.0, |_| 14e12, &mut rng);
        if !within(v.hashes_per_second(start + Duration::from_secs(3600)), 14e12, 1.3) { *fails.entry("estimate").or_default() += 1; }
    }
    println!("fails {fails:?}; steady changes {steady_changes} in 240 miner-hours");
}
