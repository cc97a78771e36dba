//! The harness's table: each figure as the median of the runs, with min and max.

use super::{RunFigures, SharePhase};

/// Median, min and max of `values` (empty: zeros).
pub fn median_min_max(values: &mut [f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

/// The markdown table of `runs`.
pub fn table(runs: &[RunFigures]) -> String {
    type Row = (&'static str, &'static str, fn(&RunFigures) -> f64, f64);
    let rows: [Row; 12] = [
        ("miners held", "", |r| r.miners_held as f64, 1.0),
        ("failed connects", "", |r| r.connect_failures as f64, 1.0),
        (
            "connects per second (first connect → last authorized)",
            "/s",
            |r| r.connects_per_s,
            1.0,
        ),
        (
            "connect → authorized p99",
            "ms",
            |r| r.connect_p99_us as f64,
            1e3,
        ),
        (
            "gateway user space per miner (RSS delta / miners)",
            "B",
            |r| r.gateway_bytes_per_miner,
            1.0,
        ),
        (
            "kernel slab per socket (2 sockets per miner)",
            "B",
            |r| r.kernel_slab_per_socket,
            1.0,
        ),
        (
            "kernel TCP buffers per socket",
            "B",
            |r| r.kernel_tcp_buffers_per_socket,
            1.0,
        ),
        (
            "block at node → clean notify p50",
            "ms",
            |r| r.fanout_p50_us as f64,
            1e3,
        ),
        (
            "block at node → clean notify p99",
            "ms",
            |r| r.fanout_p99_us as f64,
            1e3,
        ),
        (
            "block at node → last miner's notify",
            "ms",
            |r| r.fanout_max_us as f64,
            1e3,
        ),
        (
            "miners that missed a notify",
            "",
            |r| r.fanout_missing as f64,
            1.0,
        ),
        (
            "job ring → last miner's notify (no node)",
            "ms",
            |r| r.ring_fanout_max_us as f64,
            1e3,
        ),
    ];
    let mut out = format!(
        "| figure ({} runs) | median | min | max |\n|---|---|---|---|\n",
        runs.len()
    );
    for (name, unit, get, scale) in rows {
        let mut values: Vec<f64> = runs.iter().map(|r| get(r) / scale).collect();
        push_row(&mut out, name, unit, scale, &mut values);
    }
    let mut lost: Vec<f64> = runs.iter().map(|r| r.accepted_not_drained as f64).collect();
    push_row(
        &mut out,
        "accepted shares missing from the share rings (all share phases)",
        "",
        1.0,
        &mut lost,
    );
    let phases = runs.first().map_or(0, |r| r.shares.len());
    for i in 0..phases {
        let rate = runs[0].shares[i].rate;
        type PhaseRow = (&'static str, &'static str, fn(&SharePhase) -> f64, f64);
        let rows: [PhaseRow; 7] = [
            (
                "accepted shares per second",
                "/s",
                |p| p.accepted_per_s,
                1.0,
            ),
            ("rejected shares", "", |p| p.rejected as f64, 1.0),
            ("unanswered shares", "", |p| p.unanswered as f64, 1.0),
            ("submit → reply p50", "ms", |p| p.submit_p50_us as f64, 1e3),
            ("submit → reply p99", "ms", |p| p.submit_p99_us as f64, 1e3),
            (
                "gateway CPU seconds per million shares",
                "s",
                |p| p.gateway_cpu_s_per_m_shares,
                1.0,
            ),
            (
                "load generator CPU seconds per million shares",
                "s",
                |p| p.loadgen_cpu_s_per_m_shares,
                1.0,
            ),
        ];
        for (name, unit, get, scale) in rows {
            let mut values: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.shares.get(i))
                .map(|p| get(p) / scale)
                .collect();
            push_row(
                &mut out,
                &format!("{name} (offered {rate} per miner per s)"),
                unit,
                scale,
                &mut values,
            );
        }
    }
    out
}

fn push_row(out: &mut String, name: &str, unit: &str, scale: f64, values: &mut [f64]) {
    let (median, min, max) = median_min_max(values);
    let show = |v: f64| {
        if scale > 1.0 {
            format!("{v:.1} {unit}")
        } else {
            format!("{v:.0} {unit}")
        }
    };
    out.push_str(&format!(
        "| {name} | **{}** | {} | {} |\n",
        show(median).trim(),
        show(min).trim(),
        show(max).trim()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median_min_max(&mut [3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(median_min_max(&mut [4.0, 1.0, 3.0, 2.0]), (2.5, 1.0, 4.0));
        assert_eq!(median_min_max(&mut []), (0.0, 0.0, 0.0));
    }
}
