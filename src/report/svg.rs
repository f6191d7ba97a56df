//! Inline SVG charts: a plotting frame with axes and ticks, curve charts (PR, ROC), a grouped bar
//! chart (recall per attack type) and a score timeline. Every chart is one `<svg class="chart">`
//! element with an `id`; every drawn series has a class (`series`, `threshold`, `attack-span`,
//! `bar`) so that tests and stylesheets can find it. All text passes through [`esc`].

use super::text::{day_and_time, esc, num};

/// Writes formatted text into a `String` (which cannot fail).
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = write!($out, $($arg)*);
    }};
}
pub(crate) use w;

/// A plotting area inside an SVG of `w × h` with margins, mapping data ranges to pixels.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// SVG width.
    pub w: f64,
    /// SVG height.
    pub h: f64,
    /// Left margin (y tick labels).
    pub l: f64,
    /// Right margin.
    pub r: f64,
    /// Top margin (legend).
    pub t: f64,
    /// Bottom margin (x tick labels and axis label).
    pub b: f64,
    /// Data x range.
    pub x: (f64, f64),
    /// Data y range.
    pub y: (f64, f64),
}

/// Where `v` lies in `range`, in 0..=1 (clamped; 0 for NaN). Computed on halves so that no
/// finite input overflows: a range from -1.5e308 to 1.5e308 is 3e308 wide, beyond `f64::MAX`.
fn fraction(v: f64, (lo, hi): (f64, f64)) -> f64 {
    let span = (hi * 0.5 - lo * 0.5).max(f64::MIN_POSITIVE);
    let f = ((v * 0.5 - lo * 0.5) / span).clamp(0.0, 1.0);
    if f.is_nan() {
        0.0
    } else {
        f
    }
}

impl Frame {
    /// Pixel x of data x (clamped into the plot).
    pub fn px(&self, x: f64) -> f64 {
        self.l + fraction(x, self.x) * (self.w - self.l - self.r)
    }

    /// Pixel y of data y (clamped into the plot).
    pub fn py(&self, y: f64) -> f64 {
        self.h - self.b - fraction(y, self.y) * (self.h - self.t - self.b)
    }

    fn bottom(&self) -> f64 {
        self.h - self.b
    }

    fn right(&self) -> f64 {
        self.w - self.r
    }

    /// Opens the `<svg>` element.
    pub fn open(&self, out: &mut String, id: &str, class: &str, label: &str) {
        w!(
            out,
            r#"<svg class="chart {class}" id="{id}" viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
            self.w,
            self.h,
            esc(label)
        );
        w!(
            out,
            r#"<rect class="plot-bg" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/>"#,
            self.l,
            self.t,
            self.w - self.l - self.r,
            self.h - self.t - self.b
        );
    }

    /// Draws the grid, the y axis with `y_ticks` and its label.
    pub fn y_axis(&self, out: &mut String, ticks: &[f64], decimals: usize, label: &str) {
        out.push_str(r#"<g class="axis y-axis">"#);
        for &t in ticks {
            let y = self.py(t);
            w!(
                out,
                r#"<line class="grid" x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                self.l,
                self.right(),
                self.l - 6.0,
                y + 4.0,
                num(Some(t), decimals)
            );
        }
        let cy = (self.t + self.bottom()) / 2.0;
        w!(
            out,
            r#"<text class="axis-label" transform="translate(14 {cy:.1}) rotate(-90)" text-anchor="middle">{}</text></g>"#,
            esc(label)
        );
    }

    /// Draws the x axis with labelled ticks and the axis label.
    pub fn x_axis(&self, out: &mut String, ticks: &[(f64, String)], label: &str) {
        let yb = self.bottom();
        w!(
            out,
            r#"<g class="axis x-axis"><line class="axis-line" x1="{:.1}" x2="{:.1}" y1="{yb:.1}" y2="{yb:.1}"/>"#,
            self.l,
            self.right()
        );
        for (t, text) in ticks {
            let x = self.px(*t);
            w!(
                out,
                r#"<line class="tick-mark" x1="{x:.1}" x2="{x:.1}" y1="{yb:.1}" y2="{:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                yb + 5.0,
                yb + 18.0,
                esc(text)
            );
        }
        if !label.is_empty() {
            w!(
                out,
                r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                (self.l + self.right()) / 2.0,
                self.h - 8.0,
                esc(label)
            );
        }
        out.push_str("</g>");
    }

    /// A centered message inside the plot, for an undefined chart.
    pub fn message(&self, out: &mut String, text: &str) {
        w!(
            out,
            r#"<text class="empty" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            (self.l + self.right()) / 2.0,
            (self.t + self.bottom()) / 2.0,
            esc(text)
        );
    }
}

/// Up to about `n` round tick values covering `[lo, hi]`.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || n == 0 {
        return vec![lo];
    }
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| (hi - lo) / s <= n as f64)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    (0..=n * 2 + 1)
        .map(|i| first + i as f64 * step)
        .take_while(|t| *t <= hi + step * 1e-9)
        .collect()
}

/// Decimals needed to print ticks of this spacing exactly (at most 6).
pub fn tick_decimals(ticks: &[f64]) -> usize {
    let step = match ticks {
        [a, b, ..] => (b - a).abs(),
        _ => return 2,
    };
    (0..6)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(6)
}

/// Time ticks at a round interval, labelled `HH:MM`, with `MM-DD` when the day changes.
pub fn time_ticks(t0: u64, t1: u64, max: usize) -> Vec<(f64, String)> {
    const STEPS: [u64; 13] = [
        60, 300, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800, 2_592_000,
    ];
    let span = t1.saturating_sub(t0).max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= max as u64)
        .unwrap_or(span / max.max(1) as u64 + 1);
    let mut out = Vec::new();
    let mut t = t0.div_ceil(step).saturating_mul(step);
    let mut last_day = None;
    while t <= t1 && out.len() <= max + 1 {
        let (day, time) = day_and_time(t);
        let label = if step >= 86_400 || last_day.as_ref() != Some(&day) && last_day.is_some() {
            if step >= 86_400 {
                day.clone()
            } else {
                format!("{day} {time}")
            }
        } else {
            time
        };
        last_day = Some(day);
        out.push((t as f64, label));
        t = t.saturating_add(step);
    }
    out
}

/// One line of a curve chart.
#[derive(Clone, Debug)]
pub struct Series<'a> {
    /// Legend text.
    pub name: String,
    /// Stroke color.
    pub color: &'a str,
    /// Points in data units.
    pub points: Vec<(f64, f64)>,
    /// Draw as steps (PR: precision held left of each recall point) instead of straight lines.
    pub step: bool,
    /// The operating point at the detector's threshold, marked with a dot.
    pub marker: Option<(f64, f64)>,
}

/// A reference line on a curve chart.
#[derive(Clone, Copy, Debug)]
pub enum Guide {
    /// The diagonal y = x (a random ROC).
    Diagonal,
    /// A horizontal line (the prevalence: a random PR curve).
    Horizontal(f64),
}

/// A chart of curves in the unit square (PR or ROC), with axes, ticks, legend and guide.
pub fn curve_chart(
    out: &mut String,
    id: &str,
    axis: (&str, &str),
    series: &[Series],
    guide: Option<Guide>,
    empty: &str,
) {
    let f = Frame {
        w: 560.0,
        h: 440.0,
        l: 58.0,
        r: 18.0,
        t: 16.0 + 20.0 * series.len() as f64,
        b: 48.0,
        x: (0.0, 1.0),
        y: (0.0, 1.0),
    };
    f.open(
        out,
        id,
        "curve-chart",
        &format!("{} against {}", axis.1, axis.0),
    );
    let ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
    f.y_axis(out, &ticks, 1, axis.1);
    let xt: Vec<(f64, String)> = ticks.iter().map(|t| (*t, format!("{t:.1}"))).collect();
    f.x_axis(out, &xt, axis.0);
    match guide {
        Some(Guide::Diagonal) => w!(
            out,
            r#"<line class="guide" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"><title>random ranking</title></line>"#,
            f.px(0.0),
            f.py(0.0),
            f.px(1.0),
            f.py(1.0)
        ),
        Some(Guide::Horizontal(y)) if y.is_finite() => w!(
            out,
            r#"<line class="guide" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"><title>random ranking (prevalence {})</title></line>"#,
            f.px(0.0),
            f.py(y),
            f.px(1.0),
            f.py(y),
            num(Some(y), 4)
        ),
        _ => {}
    }
    let drawn = series.iter().filter(|s| !s.points.is_empty()).count();
    if drawn == 0 {
        f.message(out, empty);
    }
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        let mut d = String::new();
        let mut prev: Option<(f64, f64)> = None;
        for &(x, y) in &s.points {
            match prev {
                None => w!(d, "M{:.1},{:.1}", f.px(x), f.py(y)),
                Some((px, _)) if s.step => {
                    w!(
                        d,
                        " L{:.1},{:.1} L{:.1},{:.1}",
                        f.px(px),
                        f.py(y),
                        f.px(x),
                        f.py(y)
                    )
                }
                Some(_) => w!(d, " L{:.1},{:.1}", f.px(x), f.py(y)),
            }
            prev = Some((x, y));
        }
        w!(
            out,
            r#"<path class="series" d="{d}" stroke="{}"><title>{}</title></path>"#,
            s.color,
            esc(&s.name)
        );
        if let Some((x, y)) = s.marker {
            w!(
                out,
                r#"<circle class="operating-point" cx="{:.1}" cy="{:.1}" r="5" fill="{}"><title>{} at its threshold</title></circle>"#,
                f.px(x),
                f.py(y),
                s.color,
                esc(&s.name)
            );
        }
    }
    legend(out, &f, series);
    out.push_str("</svg>");
}

fn legend(out: &mut String, f: &Frame, series: &[Series]) {
    out.push_str(r#"<g class="legend">"#);
    for (i, s) in series.iter().enumerate() {
        let y = 14.0 + 20.0 * i as f64;
        w!(
            out,
            r#"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            f.l,
            f.l + 22.0,
            s.color,
            f.l + 28.0,
            y + 4.0,
            esc(&s.name)
        );
    }
    out.push_str("</g>");
}

/// One group of bars: a category (attack type) and one value per detector.
#[derive(Clone, Debug)]
pub struct BarGroup {
    /// Category label.
    pub label: String,
    /// Second line under the label (counts).
    pub detail: String,
    /// One value in [0, 1] per detector, `None` when undefined.
    pub values: Vec<Option<f64>>,
}

/// Horizontal grouped bars in [0, 1], one color per detector.
pub fn bar_chart(out: &mut String, id: &str, groups: &[BarGroup], names: &[(&str, &str)]) {
    let bar_h = 13.0;
    let group_h = (bar_h + 3.0) * names.len().max(1) as f64 + 18.0;
    let f = Frame {
        w: 1100.0,
        h: 40.0 + 20.0 * names.len() as f64 + group_h * groups.len().max(1) as f64 + 44.0,
        l: 250.0,
        r: 60.0,
        t: 22.0 + 20.0 * names.len() as f64,
        b: 44.0,
        x: (0.0, 1.0),
        y: (0.0, 1.0),
    };
    f.open(out, id, "bar-chart", "recall per attack type");
    let xt: Vec<(f64, String)> = [0.0, 0.25, 0.5, 0.75, 1.0]
        .iter()
        .map(|t| (*t, format!("{:.0}%", t * 100.0)))
        .collect();
    for (t, _) in &xt {
        let x = f.px(*t);
        w!(
            out,
            r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}"/>"#,
            f.t,
            f.bottom()
        );
    }
    f.x_axis(
        out,
        &xt,
        "recall: share of the attack type's windows that alerted",
    );
    if groups.is_empty() {
        f.message(out, "no labeled attacks");
    }
    for (gi, g) in groups.iter().enumerate() {
        let y0 = f.t + 8.0 + group_h * gi as f64;
        w!(
            out,
            r#"<text class="bar-label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><text class="bar-detail" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            f.l - 10.0,
            y0 + 12.0,
            esc(&g.label),
            f.l - 10.0,
            y0 + 27.0,
            esc(&g.detail)
        );
        for (i, ((name, color), v)) in names.iter().zip(&g.values).enumerate() {
            let y = y0 + (bar_h + 3.0) * i as f64;
            let width = f.px(v.unwrap_or(0.0)) - f.l;
            w!(
                out,
                r#"<rect class="bar" x="{:.1}" y="{y:.1}" width="{:.1}" height="{bar_h}" fill="{color}"><title>{}: {}</title></rect><text class="bar-value" x="{:.1}" y="{:.1}">{}</text>"#,
                f.l,
                width.max(1.0),
                esc(name),
                esc(&super::text::pct(*v)),
                f.l + width.max(1.0) + 5.0,
                y + bar_h - 2.0,
                esc(&super::text::pct(*v))
            );
        }
    }
    let series: Vec<Series> = names
        .iter()
        .map(|(n, c)| Series {
            name: (*n).to_string(),
            color: c,
            points: vec![],
            step: false,
            marker: None,
        })
        .collect();
    legend(out, &f, &series);
    out.push_str("</svg>");
}

/// One ENI's score over time for [`timeline_chart`].
#[derive(Clone, Debug)]
pub struct TimelinePlot<'a> {
    /// Chart id.
    pub id: String,
    /// Heading inside the chart.
    pub title: String,
    /// (window start, score, alert), sorted by time.
    pub points: &'a [(u64, f64, bool)],
    /// Labeled attack intervals: (start, end, attack type).
    pub spans: &'a [(u64, u64, String)],
    /// Detector threshold.
    pub threshold: f64,
    /// Window width, seconds: a point covers [start, start + window).
    pub window_secs: u64,
}

/// Most points a timeline draws; longer series keep each bucket's highest score so spikes stay.
pub const MAX_TIMELINE_POINTS: usize = 600;

/// At most this many alert dots per timeline.
const MAX_ALERT_DOTS: usize = 300;

/// A score timeline: score line, dashed threshold, shaded labeled attacks, alert dots.
pub fn timeline_chart(out: &mut String, p: &TimelinePlot) {
    let pts = downsample_max(p.points, MAX_TIMELINE_POINTS);
    // The period is the windows' (labels were clipped to it); spans only when there is no window.
    let t0 = pts
        .iter()
        .map(|q| q.0)
        .min()
        .or_else(|| p.spans.iter().map(|s| s.0).min())
        .unwrap_or(0);
    let t1 = pts
        .iter()
        .map(|q| q.0.saturating_add(p.window_secs))
        .max()
        .or_else(|| p.spans.iter().map(|s| s.1).max())
        .unwrap_or(1)
        .max(t0 + 1);
    let finite = pts.iter().map(|q| q.1).filter(|s| s.is_finite());
    let lo = finite
        .clone()
        .fold(0.0f64, f64::min)
        .min(p.threshold.min(0.0));
    let hi = finite.fold(f64::NEG_INFINITY, f64::max).max(p.threshold);
    let hi = if hi.is_finite() && hi > lo {
        (hi + (hi * 0.5 - lo * 0.5) * 0.16).min(f64::MAX)
    } else {
        lo + 1.0
    };
    let f = Frame {
        w: 1100.0,
        h: 214.0,
        l: 58.0,
        r: 44.0,
        t: 44.0,
        b: 36.0,
        x: (t0 as f64, t1 as f64),
        y: (lo, hi),
    };
    f.open(out, &p.id, "timeline", &p.title);
    w!(
        out,
        r#"<text class="chart-title" x="{:.1}" y="18">{}</text>"#,
        f.l,
        esc(&p.title)
    );
    let mut spans: Vec<&(u64, u64, String)> = p.spans.iter().collect();
    spans.sort_by_key(|s| (s.0, s.1));
    // Names of close attacks would print over each other: a name is written only where the
    // previous one ended (every band keeps its name as a tooltip).
    let mut label_free_from = f64::NEG_INFINITY;
    for (s, e, kind) in spans {
        let (x0, x1) = (f.px(*s as f64), f.px(*e as f64));
        w!(
            out,
            r#"<rect class="attack-span" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
            f.t,
            (x1 - x0).max(2.0),
            f.bottom() - f.t,
            esc(kind)
        );
        if x0 >= label_free_from {
            w!(
                out,
                r#"<text class="span-label" x="{:.1}" y="{:.1}">{}</text>"#,
                x0,
                f.t - 5.0,
                esc(kind)
            );
            label_free_from = x0 + 6.0 * kind.chars().count() as f64 + 8.0;
        }
    }
    let yt = nice_ticks(lo, hi, 4);
    f.y_axis(out, &yt, tick_decimals(&yt), "score");
    f.x_axis(out, &time_ticks(t0, t1, 10), "");
    let thr_y = f.py(p.threshold);
    w!(
        out,
        r#"<line class="threshold" x1="{:.1}" x2="{:.1}" y1="{thr_y:.1}" y2="{thr_y:.1}"><title>threshold {}</title></line>"#,
        f.l,
        f.w - f.r,
        num(Some(p.threshold), 4)
    );
    // Each window's score is drawn at the middle of its window.
    let half = p.window_secs as f64 / 2.0;
    let mut line = String::new();
    for q in pts.iter().filter(|q| q.1.is_finite()) {
        w!(line, "{:.1},{:.1} ", f.px(q.0 as f64 + half), f.py(q.1));
    }
    w!(
        out,
        r#"<polyline class="series" points="{}"/>"#,
        line.trim_end()
    );
    for q in pts
        .iter()
        .filter(|q| q.2 && q.1.is_finite())
        .take(MAX_ALERT_DOTS)
    {
        w!(
            out,
            r#"<circle class="alert-dot" cx="{:.1}" cy="{:.1}" r="3"/>"#,
            f.px(q.0 as f64 + half),
            f.py(q.1)
        );
    }
    out.push_str("</svg>");
}

/// Downsamples a time series to at most `max` points by keeping, in each run of consecutive
/// points, the one with the highest score (an alert wins a tie), so spikes survive.
fn downsample_max(points: &[(u64, f64, bool)], max: usize) -> Vec<(u64, f64, bool)> {
    if points.len() <= max || max == 0 {
        return points.to_vec();
    }
    let per = points.len().div_ceil(max);
    points
        .chunks(per)
        .filter_map(|c| {
            c.iter().copied().max_by(|a, b| {
                let key = |p: &(u64, f64, bool)| if p.1.is_nan() { f64::NEG_INFINITY } else { p.1 };
                key(a).total_cmp(&key(b)).then(a.2.cmp(&b.2))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_are_round_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let t = nice_ticks(-3.0, 47.0, 4);
        assert!(t.first().unwrap() >= &-3.0 && t.last().unwrap() <= &47.0);
        assert!(t.len() >= 3 && t.len() <= 6, "{t:?}");
        assert_eq!(nice_ticks(1.0, 1.0, 4), vec![1.0]);
    }

    #[test]
    fn time_ticks_mark_day_changes() {
        // 2024-01-01 22:00 to 2024-01-02 02:00 UTC, hourly.
        let t0 = 1_704_146_400;
        let ticks = time_ticks(t0, t0 + 4 * 3600, 6);
        let labels: Vec<&str> = ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["22:00", "23:00", "01-02 00:00", "01:00", "02:00"]);
    }

    #[test]
    fn downsampling_keeps_spikes() {
        let mut pts: Vec<(u64, f64, bool)> = (0..10_000).map(|i| (i, 0.1, false)).collect();
        pts[4321] = (4321, 9.0, true);
        let d = downsample_max(&pts, 600);
        assert!(d.len() <= 600);
        assert!(d.contains(&(4321, 9.0, true)));
    }
}
