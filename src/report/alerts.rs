//! The backtest report (`flowvigil backtest --report`): one self-contained HTML page of what a
//! replay found, for a person deciding what to look at first. No labels are needed (that is
//! `flowvigil eval`'s report).
//!
//! The page shows, from [`AlertReport`]: headline cards (alerts, their rate, the ENIs that
//! alerted, the commonest finding), alerts over time (`<svg id="alerts-over-time">`, one column
//! per bucket of whole hours, at most [`MAX_BUCKETS`]), alerts by finding type
//! (`<table id="by-finding">`), the ENIs with the most alerts (`<table id="top-enis">`), score
//! timelines of the top ENIs (`timeline-0`, ...), the top alerts with their explanations
//! (`<table id="top-alerts">`, at most [`ALERTS_PER_ENI`] per ENI), and how to read it. Like the
//! evaluation report it needs no script and no network, and escapes every string that comes
//! from input data. Its size grows with the numbers of buckets, timelines and listed alerts,
//! which are bounded, not with the number of windows.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::svg::{self, time_ticks, Frame};
use super::text::{datetime, duration, esc, int, num, num3, pct};
use super::{
    alert_rows, card, page_close, page_header, page_open, timeline_charts, timelines_of,
    top_alert_rows, top_eni_timelines, w, AlertRow, Timeline,
};
use crate::engine::{summary_line, BacktestSummary, ScoredRow};
use crate::eval::{scored_windows, ScoredWindow};

/// Most columns of the alerts-over-time chart: longer periods use buckets of several hours.
pub const MAX_BUCKETS: usize = 240;
/// ENIs whose score timeline the page plots.
pub const TIMELINES: usize = 6;
/// Alerts listed with their explanations.
pub const TOP_ALERTS: usize = 25;
/// At most this many listed alerts come from one ENI (a long episode would fill the list).
pub const ALERTS_PER_ENI: usize = 3;

/// Everything the backtest report shows. Serializable, so a run can keep it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertReport {
    /// Page title.
    pub title: String,
    /// What was replayed (inputs, model), one paragraph of plain text.
    pub dataset: String,
    /// Extra label/value facts under the title (model, records, late records, bad lines).
    pub facts: Vec<(String, String)>,
    /// Window width, seconds.
    pub window_secs: u64,
    /// The model's alert threshold on the anomaly score.
    pub threshold: f64,
    /// The counts the console summary prints.
    pub summary: BacktestSummary,
    /// ENIs with at least one alert.
    pub alerting_enis: u64,
    /// The finding kinds of each top ENI's alerts ([`BacktestSummary::top_enis`]), sorted.
    pub eni_findings: BTreeMap<String, Vec<String>>,
    /// Width of one bucket of [`AlertReport::buckets`], seconds (whole hours).
    pub bucket_secs: u64,
    /// (bucket start, alerting windows, windows) over the whole period, empty buckets included.
    pub buckets: Vec<(u64, u64, u64)>,
    /// Score timelines of the top ENIs (no labeled spans).
    pub timelines: Vec<Timeline>,
    /// The top alerts, with explanations; `attack` is always `None` (no labels).
    pub top_alerts: Vec<AlertRow>,
}

impl AlertReport {
    /// Builds the report from a backtest's rows (every scored window, in any order; alerts
    /// with their verdicts, for the explanations).
    pub fn from_rows(
        rows: &[ScoredRow],
        window_secs: u64,
        threshold: f64,
        title: String,
        dataset: String,
        facts: Vec<(String, String)>,
    ) -> Self {
        let mut sorted: Vec<&ScoredRow> = rows.iter().collect();
        sorted.sort_by(|a, b| {
            a.window_start
                .cmp(&b.window_start)
                .then_with(|| a.eni.cmp(&b.eni))
        });
        let ordered: Vec<ScoredRow> = sorted.iter().map(|r| summary_row(r)).collect();
        let summary = BacktestSummary::from_rows(&ordered);
        let windows = scored_windows(&ordered);
        let mut alerting: Vec<&str> = rows
            .iter()
            .filter(|r| r.alert)
            .map(|r| r.eni.as_str())
            .collect();
        alerting.sort_unstable();
        alerting.dedup();
        let (bucket_secs, buckets) = buckets(rows);
        let mut eni_findings: BTreeMap<String, Vec<String>> = summary
            .top_enis
            .iter()
            .map(|e| (e.eni.clone(), Vec::new()))
            .collect();
        for w in windows.iter().filter(|w| w.alert) {
            if let Some(kinds) = eni_findings.get_mut(&w.eni) {
                kinds.extend(w.findings.iter().cloned());
            }
        }
        for kinds in eni_findings.values_mut() {
            kinds.sort_unstable();
            kinds.dedup();
        }
        let verdicts: HashMap<(&str, u64), String> = rows
            .iter()
            .filter(|r| r.alert)
            .filter_map(|r| {
                let v = r.verdict.as_deref()?;
                Some(((r.eni.as_str(), r.window_start), summary_line(v)))
            })
            .collect();
        let mut per_eni: HashMap<String, usize> = HashMap::new();
        let mut top_alerts = Vec::new();
        for mut row in top_alert_rows(&windows, &[], window_secs, usize::MAX) {
            let n = per_eni.entry(row.eni.clone()).or_insert(0);
            if *n >= ALERTS_PER_ENI {
                continue;
            }
            *n += 1;
            if let Some(e) = verdicts.get(&(row.eni.as_str(), row.window_start)) {
                row.explanation = e.clone();
            }
            top_alerts.push(row);
            if top_alerts.len() >= TOP_ALERTS {
                break;
            }
        }
        let timelines = top_timelines(&windows, &summary, window_secs);
        AlertReport {
            title,
            dataset,
            facts,
            window_secs,
            threshold,
            summary,
            alerting_enis: alerting.len() as u64,
            eni_findings,
            bucket_secs,
            buckets,
            timelines,
            top_alerts,
        }
    }
}

/// Score timelines of the ENIs with the most alerts (the top-ENI table's first
/// [`TIMELINES`]); with no alert, of the ENIs with the highest scores.
fn top_timelines(
    windows: &[ScoredWindow],
    summary: &BacktestSummary,
    window_secs: u64,
) -> Vec<Timeline> {
    if summary.top_enis.is_empty() {
        return top_eni_timelines(windows, &[], window_secs, TIMELINES);
    }
    let names: Vec<&str> = summary
        .top_enis
        .iter()
        .take(TIMELINES)
        .map(|e| e.eni.as_str())
        .collect();
    timelines_of(windows, &[], window_secs, &names)
}

/// A copy of a row without its verdict and features (the summary needs neither).
fn summary_row(r: &ScoredRow) -> ScoredRow {
    ScoredRow {
        eni: r.eni.clone(),
        window_start: r.window_start,
        score: r.score,
        alert: r.alert,
        findings: r.findings,
        verdict: None,
        features: None,
    }
}

/// Buckets of whole hours covering every row's window start: (bucket width, buckets).
fn buckets(rows: &[ScoredRow]) -> (u64, Vec<(u64, u64, u64)>) {
    const HOUR: u64 = 3600;
    let (Some(lo), Some(hi)) = (
        rows.iter().map(|r| r.window_start).min(),
        rows.iter().map(|r| r.window_start).max(),
    ) else {
        return (HOUR, Vec::new());
    };
    let first = lo - lo % HOUR;
    let hours = (hi - first) / HOUR + 1;
    let per = hours.div_ceil(MAX_BUCKETS as u64).max(1);
    let width = per * HOUR;
    let n = (hi - first) / width + 1;
    let mut out: Vec<(u64, u64, u64)> = (0..n).map(|i| (first + i * width, 0, 0)).collect();
    for r in rows {
        let i = ((r.window_start - first) / width) as usize;
        if let Some(b) = out.get_mut(i) {
            b.2 += 1;
            b.1 += u64::from(r.alert);
        }
    }
    (width, out)
}

/// Renders the report as one self-contained HTML page.
pub fn render_alert_html(r: &AlertReport) -> String {
    let mut out = String::with_capacity(64 * 1024);
    page_open(&mut out, &r.title, EXTRA_CSS);
    header(&mut out, r);
    cards(&mut out, r);
    over_time(&mut out, r);
    by_finding(&mut out, r);
    top_enis(&mut out, r);
    timelines(&mut out, r);
    top_alerts(&mut out, r);
    how_to_read(&mut out, r);
    out.push_str("</main>");
    page_close(&mut out);
    out
}

/// Bars of the finding table (the evaluation report's CSS has no such class).
const EXTRA_CSS: &str =
    ".bar-cell{width:45%}.hbar{height:12px;border-radius:2px;background:#2563eb;min-width:1px}";

fn header(out: &mut String, r: &AlertReport) {
    let s = &r.summary;
    let period = match s.span {
        Some((a, b)) => format!(
            "{} – {}",
            datetime(a),
            datetime(b.saturating_add(r.window_secs))
        ),
        None => "no windows".to_string(),
    };
    let mut facts: Vec<(String, String)> = vec![
        ("windows scored".into(), int(s.windows)),
        ("ENIs".into(), int(s.enis)),
        ("period".into(), period),
        ("window".into(), duration(r.window_secs as f64)),
        (
            "threshold".into(),
            format!("score > {}", num(Some(r.threshold), 4)),
        ),
    ];
    facts.extend(r.facts.iter().cloned());
    page_header(out, "backtest report", &r.title, &r.dataset, &facts);
}

fn cards(out: &mut String, r: &AlertReport) {
    let s = &r.summary;
    out.push_str("<section class=\"cards\" id=\"headline\">");
    card(
        out,
        "card-alerts",
        "Alerts",
        &int(s.alerts),
        &format!("of {} windows scored", esc(&int(s.windows))),
    );
    card(
        out,
        "card-rate",
        "Alerts per 1,000 windows",
        &num(Some(s.alerts_per_1000), 2),
        "the model was calibrated for its training rate (usually 1)",
    );
    card(
        out,
        "card-enis",
        "ENIs that alerted",
        &int(r.alerting_enis),
        &format!("of {} ENIs", esc(&int(s.enis))),
    );
    let top = s
        .alerts_by_finding
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)));
    match top {
        Some((k, n)) => card(
            out,
            "card-finding",
            "Commonest finding",
            k,
            &format!("{} alerting windows", esc(&int(*n))),
        ),
        None => card(
            out,
            "card-finding",
            "Commonest finding",
            "none",
            "no alerts",
        ),
    }
    out.push_str("</section>");
}

fn over_time(out: &mut String, r: &AlertReport) {
    w!(
        out,
        "<section><h2>Alerts over time</h2><p class=\"lede\">Alerting windows per {} \
         (all ENIs); hover a column for its counts.</p>",
        match r.bucket_secs / 3600 {
            1 => "hour".to_string(),
            h => format!("{h} hours"),
        }
    );
    let max = r.buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let (t0, t1) = match (r.buckets.first(), r.buckets.last()) {
        (Some(a), Some(b)) => (a.0, b.0 + r.bucket_secs),
        _ => (0, 1),
    };
    let f = Frame {
        w: 1100.0,
        h: 260.0,
        l: 60.0,
        r: 20.0,
        t: 16.0,
        b: 44.0,
        x: (t0 as f64, t1 as f64),
        y: (0.0, max as f64),
    };
    f.open(out, "alerts-over-time", "columns", "alerts over time");
    let ticks = svg::nice_ticks(0.0, max as f64, 5);
    f.y_axis(out, &ticks, 0, "alerts");
    let xt = time_ticks(t0, t1, 8);
    f.x_axis(out, &xt, "time (UTC)");
    if r.buckets.is_empty() {
        f.message(out, "no windows");
    }
    for &(start, alerts, windows) in &r.buckets {
        if alerts == 0 {
            continue;
        }
        let x0 = f.px(start as f64);
        let x1 = f.px((start + r.bucket_secs) as f64);
        let y = f.py(alerts as f64);
        let base = f.py(0.0);
        w!(
            out,
            r##"<rect class="column" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="#2563eb"><title>{}: {} alerts in {} windows</title></rect>"##,
            (x1 - x0 - 1.0).max(1.0),
            (base - y).max(0.5),
            esc(&datetime(start)),
            alerts,
            windows
        );
    }
    out.push_str("</svg></section>");
}

fn by_finding(out: &mut String, r: &AlertReport) {
    out.push_str(
        "<section><h2>Alerts by finding type</h2><p class=\"lede\">A window with two findings \
         counts under both; an alert with no typed finding is <i>Anomaly/Unclassified</i> (its \
         score alone passed the threshold: read its explanation).</p>\
         <table id=\"by-finding\" class=\"data\"><thead><tr><th>finding</th>\
         <th>alerting windows</th><th class=\"bar-cell\"></th></tr></thead><tbody>",
    );
    let mut rows: Vec<(&String, &u64)> = r.summary.alerts_by_finding.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let max = rows.first().map_or(1, |r| *r.1).max(1);
    if rows.is_empty() {
        out.push_str("<tr><td colspan=\"3\" class=\"empty\">No alerts.</td></tr>");
    }
    for (k, n) in rows {
        w!(
            out,
            "<tr><td><span class=\"tag\">{}</span></td><td class=\"n\">{}</td><td class=\"bar-cell\"><div class=\"hbar\" style=\"width:{:.1}%\"></div></td></tr>",
            esc(k),
            int(*n),
            *n as f64 * 100.0 / max as f64
        );
    }
    out.push_str("</tbody></table></section>");
}

fn top_enis(out: &mut String, r: &AlertReport) {
    out.push_str(
        "<section><h2>ENIs with the most alerts</h2><table id=\"top-enis\" class=\"data\">\
         <thead><tr><th>ENI</th><th>alerts</th><th>highest score</th><th>findings</th></tr>\
         </thead><tbody>",
    );
    if r.summary.top_enis.is_empty() {
        out.push_str("<tr><td colspan=\"4\" class=\"empty\">No alerts.</td></tr>");
    }
    for e in &r.summary.top_enis {
        let tags: String = r
            .eni_findings
            .get(&e.eni)
            .map(|v| {
                v.iter()
                    .map(|f| format!("<span class=\"tag\">{}</span>", esc(f)))
                    .collect()
            })
            .unwrap_or_default();
        w!(
            out,
            "<tr><td class=\"mono\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&e.eni),
            int(e.alerts),
            num3(Some(e.max_score)),
            tags
        );
    }
    out.push_str("</tbody></table></section>");
}

fn timelines(out: &mut String, r: &AlertReport) {
    out.push_str(
        "<section><h2>Score timelines of the top ENIs</h2><p class=\"lede\">The anomaly score \
         per window of the ENIs with the most alerts; the dashed line is the threshold, dots \
         are alerts.</p><div class=\"timelines\">",
    );
    if r.timelines.is_empty() {
        out.push_str("<p class=\"empty\">No windows.</p>");
    }
    timeline_charts(out, &r.timelines, r.threshold, r.window_secs, false);
    out.push_str("</div></section>");
}

fn top_alerts(out: &mut String, r: &AlertReport) {
    w!(
        out,
        "<section><h2>Top alerts</h2><p class=\"lede\">The highest scores, at most {ALERTS_PER_ENI} \
         per ENI, each with what its detectors saw (observed vs expected, z-scores).</p>\
         <table id=\"top-alerts\" class=\"data\"><thead><tr><th>window (UTC)</th><th>ENI</th>\
         <th>score</th><th>findings</th><th>explanation</th></tr></thead><tbody>"
    );
    alert_rows(out, &r.top_alerts, false);
    out.push_str("</tbody></table></section>");
}

fn how_to_read(out: &mut String, r: &AlertReport) {
    w!(
        out,
        "<section><details><summary>How to read this page</summary><dl class=\"defs\">\
         <dt>Score</dt><dd>Each ENI-window's anomaly score in [0, 1], from its ENI's own \
         baseline, its peer group and typed findings, calibrated on the model's training \
         windows. A window alerts when its score passes the threshold ({}); share of \
         alerting windows here: {}.</dd>\
         <dt>Findings</dt><dd>Typed threat patterns (port scan, brute force, exfiltration, \
         beaconing, ...) with their MITRE ATT&amp;CK technique in the JSON alerts \
         (<code>flowvigil backtest --out alerts.jsonl</code>).</dd>\
         <dt>Learning</dt><dd>The replay learns as it goes: a window is learned after it is \
         scored, unless it alerted (alerts without a typed finding are learned after 24 in a \
         row by default), so the baselines follow the ENIs.</dd>\
         <dt>Ground truth</dt><dd>None here: with labels, <code>flowvigil eval</code> gives \
         precision, recall and detection delay.</dd></dl></details></section>",
        esc(&num(Some(r.threshold), 4)),
        esc(&pct(if r.summary.windows > 0 {
            Some(r.summary.alerts as f64 / r.summary.windows as f64)
        } else {
            None
        }))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::FindingKind;
    use proptest::prelude::*;

    fn row(eni: &str, t: u64, score: f64, alert: bool, findings: u16) -> ScoredRow {
        ScoredRow {
            eni: eni.into(),
            window_start: t,
            score,
            alert,
            findings,
            verdict: None,
            features: None,
        }
    }

    fn report(rows: &[ScoredRow]) -> AlertReport {
        AlertReport::from_rows(
            rows,
            300,
            0.99,
            "t<i>tle".into(),
            "replayed".into(),
            vec![("model".into(), "m&m.fvm".into())],
        )
    }

    proptest! {
        /// Buckets are whole hours, at most MAX_BUCKETS, in order and contiguous, and hold every
        /// window and every alert exactly once, whatever the order and span of the rows.
        #[test]
        fn buckets_hold_every_window_once(
            starts in prop::collection::vec((0u64..(400 * 24 * 12), any::<bool>()), 1..300),
        ) {
            let rows: Vec<ScoredRow> = starts
                .iter()
                .enumerate()
                .map(|(i, &(k, a))| row(&format!("eni-{}", i % 7), 1_700_000_000 + k * 300, 0.5, a, 0))
                .collect();
            let r = report(&rows);
            prop_assert!(r.buckets.len() <= MAX_BUCKETS);
            prop_assert_eq!(r.bucket_secs % 3600, 0);
            prop_assert_eq!(r.buckets.iter().map(|b| b.2).sum::<u64>(), rows.len() as u64);
            let alerts = rows.iter().filter(|r| r.alert).count() as u64;
            prop_assert_eq!(r.buckets.iter().map(|b| b.1).sum::<u64>(), alerts);
            prop_assert_eq!(r.summary.alerts, alerts);
            for pair in r.buckets.windows(2) {
                prop_assert_eq!(pair[1].0, pair[0].0 + r.bucket_secs);
            }
            for w in &rows {
                let b = r.buckets.iter().find(|b| b.0 <= w.window_start && w.window_start < b.0 + r.bucket_secs);
                prop_assert!(b.is_some(), "window {} outside every bucket", w.window_start);
            }
        }
    }

    #[test]
    fn page_counts_and_limits() {
        let scan = 1u16
            << FindingKind::ALL
                .iter()
                .position(|k| *k == FindingKind::PortScan)
                .unwrap_or(0);
        let mut rows = Vec::new();
        for i in 0..40u64 {
            // One noisy ENI (10 alerts), three quieter ones, and ENIs that never alert.
            rows.push(row(
                "eni-noisy",
                1_700_000_000 + i * 300,
                0.999,
                i % 4 == 0,
                scan,
            ));
            rows.push(row("eni-quiet", 1_700_000_000 + i * 300, 0.2, i == 7, 0));
            rows.push(row("eni-calm", 1_700_000_000 + i * 300, 0.1, false, 0));
        }
        // Out of order: the report sorts.
        rows.reverse();
        let r = report(&rows);
        assert_eq!(r.summary.windows, 120);
        assert_eq!(r.summary.enis, 3);
        assert_eq!(r.summary.alerts, 11);
        assert_eq!(r.alerting_enis, 2);
        assert_eq!(r.summary.alerts_by_finding.get("Recon/PortScan"), Some(&10));
        assert_eq!(
            r.summary.alerts_by_finding.get("Anomaly/Unclassified"),
            Some(&1)
        );
        assert_eq!(
            r.eni_findings.get("eni-noisy"),
            Some(&vec!["Recon/PortScan".to_string()])
        );
        // At most ALERTS_PER_ENI listed per ENI, the highest scores first.
        let noisy = r.top_alerts.iter().filter(|a| a.eni == "eni-noisy").count();
        assert_eq!(noisy, ALERTS_PER_ENI);
        assert_eq!(r.top_alerts.len(), ALERTS_PER_ENI + 1);
        assert!(r.top_alerts.windows(2).all(|p| p[0].score >= p[1].score));
        let html = render_alert_html(&r);
        for id in [
            "id=\"headline\"",
            "id=\"alerts-over-time\"",
            "id=\"by-finding\"",
            "id=\"top-enis\"",
            "id=\"timeline-0\"",
            "id=\"top-alerts\"",
        ] {
            assert!(html.contains(id), "missing {id}");
        }
        // One column per bucket with alerts (40 windows of 5 minutes: 4 hourly buckets).
        assert_eq!(r.buckets.len(), 4);
        let with_alerts = r.buckets.iter().filter(|b| b.1 > 0).count();
        assert_eq!(html.matches("class=\"column\"").count(), with_alerts);
        assert!(html.contains("t&lt;i&gt;tle") && !html.contains("t<i>tle"));
        assert!(html.contains("m&amp;m.fvm"));
    }

    #[test]
    fn hostile_names_are_escaped_and_empty_input_renders() {
        let rows = vec![
            row("<script>alert(1)</script>", 1_700_000_000, 1.0, true, 0),
            row("eni-\"q\"", 1_700_000_300, 0.1, false, 0),
        ];
        let html = render_alert_html(&report(&rows));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        let empty = render_alert_html(&report(&[]));
        assert!(empty.contains("No alerts."));
        assert!(empty.contains("no windows"));
        assert!(empty.ends_with("</html>\n"));
    }
}
