//! Rounding a difficulty to a few significant digits, so that the f64 is the one nearest to a
//! short decimal and `mining.set_difficulty` prints that decimal (e.g. `0.000123`, `41000`).

/// `value` rounded to `digits` significant decimal digits (1..=15). Non-finite or non-positive
/// values come back unchanged.
///
/// The result is `m / 10^k` or `m * 10^k` with an integer `m` of at most `digits` digits and
/// `10^k` exact (k ≤ 22): IEEE division and multiplication round correctly, so the result is the
/// double nearest to the decimal, which Rust's shortest-round-trip `Display` prints as written.
pub fn round_significant(value: f64, digits: u32) -> f64 {
    if !(value.is_finite() && value > 0.0) {
        return value;
    }
    let digits = i32::try_from(digits.clamp(1, 15)).unwrap_or(3);
    // floor(log10) of a finite positive double is within ±330: the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    let magnitude = value.log10().floor() as i32;
    let decimals = digits - 1 - magnitude;
    if !(-22..=22).contains(&decimals) {
        // Beyond exact powers of ten; no difficulty lives there (see DIFFICULTY_FLOOR_MIN).
        return value;
    }
    let scale = 10f64.powi(decimals.abs());
    if decimals >= 0 {
        (value * scale).round() / scale
    } else {
        (value / scale).round() * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_short_decimals_that_print_as_written() {
        for (value, digits, printed) in [
            (0.000_123_456, 3, "0.000123"),
            (123_456.0, 3, "123000"),
            (1.0, 3, "1"),
            (0.1 + 0.2, 3, "0.3"),
            (65_536.0, 3, "65500"),
            (65_536.0, 5, "65536"),
            (0.000_099_99, 3, "0.0001"),
            (999.6, 3, "1000"),
            (2.0 / 3.0, 3, "0.667"),
            (1e-9, 3, "0.000000001"),
            (123_456_789_012_345.0, 3, "123000000000000"),
        ] {
            let rounded = round_significant(value, digits);
            assert_eq!(rounded.to_string(), printed, "{value} to {digits} digits");
        }
        assert!(round_significant(f64::NAN, 3).is_nan());
        assert_eq!(round_significant(-1.0, 3), -1.0);
        assert_eq!(round_significant(0.0, 3), 0.0);
    }

    #[test]
    fn every_three_digit_mantissa_at_every_scale_prints_short() {
        for exponent in -9..=12 {
            for m in 100..1000 {
                let value = f64::from(m) * 10f64.powi(exponent) * 1.000_000_1;
                let printed = round_significant(value, 3).to_string();
                let digits = printed.trim_start_matches(['0', '.']).replace('.', "");
                let significant = digits.trim_end_matches('0');
                assert!(
                    significant.len() <= 3 && !printed.contains('e'),
                    "{value} printed {printed}"
                );
            }
        }
    }
}
