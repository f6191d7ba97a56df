//! Text helpers for the report: HTML escaping and human-readable numbers, durations and dates.

use std::fmt::Write;

/// Escapes text for HTML element content and attribute values (also valid inside inline SVG).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab/newline are not valid in HTML text; show them.
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A metric in [0, 1] with 3 decimals, or an em dash when undefined.
pub fn num3(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.3}"),
        _ => "—".to_string(),
    }
}

/// A percentage with one decimal, or an em dash.
pub fn pct(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{:.1}%", x * 100.0),
        _ => "—".to_string(),
    }
}

/// A general number with up to `d` decimals, or an em dash.
pub fn num(v: Option<f64>, d: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.d$}"),
        _ => "—".to_string(),
    }
}

/// An integer with thin thousands separators (`12 345`).
pub fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

/// A duration in seconds as `45 s`, `5 min`, `1 h 20 min` or `2 d 3 h`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "—".to_string();
    }
    let s = secs.round() as u64;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", (s + 30) / 60),
        7200..=172_799 => {
            let m = (s + 30) / 60;
            if m.is_multiple_of(60) {
                format!("{} h", m / 60)
            } else {
                format!("{} h {} min", m / 60, m % 60)
            }
        }
        _ => {
            let h = (s + 1800) / 3600;
            format!("{} d {} h", h / 24, h % 24)
        }
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM` UTC.
pub fn datetime(t: u64) -> String {
    let (y, m, d, h, min) = crate::civil::parts(t);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}")
}

/// A Unix time as `MM-DD` (day) and `HH:MM` (time of day) UTC.
pub fn day_and_time(t: u64) -> (String, String) {
    let (_, m, d, h, min) = crate::civil::parts(t);
    (format!("{m:02}-{d:02}"), format!("{h:02}:{min:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        assert_eq!(esc("a\u{0}b"), "a\\u{0}b");
    }

    #[test]
    fn dates_and_durations() {
        assert_eq!(datetime(0), "1970-01-01 00:00");
        // 2024-02-29 12:34 UTC (a leap day).
        assert_eq!(datetime(1_709_210_040), "2024-02-29 12:34");
        assert_eq!(duration(45.0), "45 s");
        assert_eq!(duration(300.0), "5 min");
        assert_eq!(duration(4800.0), "80 min");
        assert_eq!(duration(7200.0), "2 h");
        assert_eq!(duration(9000.0), "2 h 30 min");
        assert_eq!(duration(3.0 * 86_400.0), "3 d 0 h");
        assert_eq!(int(1_234_567), "1\u{2009}234\u{2009}567");
        assert_eq!(int(999), "999");
    }
}
