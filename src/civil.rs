//! Calendar arithmetic on Unix seconds (UTC, proleptic Gregorian), without a date crate. The one
//! place dates are computed: the generator's S3 key prefixes and file names, the DARPA
//! converter's `MM/DD/YYYY-HH:MM` timestamps, `flowvigil stats` times and the report's dates.
//! Pure integer arithmetic on event time; no clock is read.

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day number since 1970-01-01 (`civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Number of days in `month` of `year` (0 for a month outside 1..=12).
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// The UTC calendar parts of `unix` seconds: `(year, month, day, hour, minute)`.
pub fn parts(unix: u64) -> (i64, u32, u32, u32, u32) {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    (y, m, d, (secs / 3600) as u32, (secs % 3600 / 60) as u32)
}

/// Day of the week of `unix` seconds, 0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(unix: u64) -> u32 {
    ((unix / 86_400 + 3) % 7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        // 2026-03-02T00:00Z, the generator's default start, is a Monday.
        let d = days_from_civil(2026, 3, 2);
        assert_eq!(d * 86_400, 1_772_409_600);
        assert_eq!(weekday(1_772_409_600), 0);
        assert_eq!(parts(1_545_403_816), (2018, 12, 21, 14, 50));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(1998, 7), 31);
        assert_eq!(days_in_month(1998, 13), 0);
    }

    proptest::proptest! {
        /// `parts` inverts `days_from_civil` for any time up to year ~36,800, the range
        /// `flowvigil stats` and the report format.
        #[test]
        fn parts_round_trip(unix in 0u64..(1 << 40)) {
            let (y, m, d, h, min) = parts(unix);
            proptest::prop_assert!(h < 24 && min < 60);
            let back = days_from_civil(y, m, d) * 86_400 + i64::from(h * 3600 + min * 60);
            proptest::prop_assert_eq!(back, (unix - unix % 60) as i64);
        }
    }

    #[test]
    fn round_trip_over_centuries() {
        for z in (-800_000i64..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(z);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
