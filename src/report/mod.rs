//! The evaluation report: one self-contained HTML page with inline CSS and inline SVG charts.
//!
//! The page needs no JavaScript and no network: it opens from a file, offline, in any browser,
//! and survives being mailed or attached to a ticket. [`render_html`] draws it from a
//! [`ReportData`]: headline numbers, a comparison against reference detectors, PR and ROC curves,
//! recall per attack type, score timelines of the top ENIs with labeled attacks shaded, the top
//! alerts with their explanations, and the notes the metrics raised.
//!
//! [`alerts`] draws the other page, `flowvigil backtest --report`: what a replay found, without
//! labels (alerts over time, by finding type and ENI, the top alerts explained).
//!
//! Every string that comes from input data (ENI names, attack types, findings, explanations,
//! titles) is escaped, so a hostile flow log cannot inject markup.
//!
//! Charts are `<svg class="chart ..." id="...">` elements: `pr-curve`, `roc-curve`,
//! `attack-recall`, and `timeline-0`, `timeline-1`, ... (see [`svg`]).
//!
//! Size: the page grows with the number of timelines, top alerts, attack types and detectors the
//! caller passes, not with the number of windows: curves hold at most
//! [`MAX_CURVE_POINTS`](crate::eval::MAX_CURVE_POINTS) points and timelines at most
//! [`svg::MAX_TIMELINE_POINTS`].

pub mod alerts;
pub mod console;
pub mod svg;
pub mod text;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use alerts::{render_alert_html, AlertReport};

use crate::eval::{Metrics, ScoredWindow};
use crate::labels::Label;

use svg::{w, BarGroup, Guide, Series, TimelinePlot};
use text::{datetime, duration, esc, int, num, num3, pct};

/// Series colors: flowvigil first, then each reference detector (cycled).
pub const COLORS: [&str; 6] = [
    "#2563eb", "#ea580c", "#7c3aed", "#059669", "#db2777", "#0891b2",
];

/// Everything the report shows. Serializable, so a run can store it and re-render later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    /// Page title, e.g. `flowvigil evaluation: synthetic VPC`.
    pub title: String,
    /// What was evaluated: dataset, period, model (one paragraph of plain text).
    pub dataset: String,
    /// Extra facts shown under the title as label/value pairs (records, ENIs, model, command).
    pub facts: Vec<(String, String)>,
    /// flowvigil's metrics.
    pub flowvigil: Metrics,
    /// Reference detectors evaluated on the same windows.
    pub references: Vec<DetectorReport>,
    /// Score timelines of the top ENIs, see [`top_eni_timelines`].
    pub timelines: Vec<Timeline>,
    /// The top alerts with explanations, see [`top_alert_rows`].
    pub top_alerts: Vec<AlertRow>,
}

/// A reference detector's metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectorReport {
    /// Short name for legends, e.g. `isolation forest`.
    pub name: String,
    /// One line: what it is and how it was configured and thresholded.
    pub description: String,
    /// Its metrics on the same windows.
    pub metrics: Metrics,
}

/// One ENI's score over time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The interface id.
    pub eni: String,
    /// Its windows, sorted by start.
    pub points: Vec<TimelinePoint>,
    /// Labeled attacks at this ENI within the plotted period.
    pub attacks: Vec<AttackSpan>,
}

/// One window on a [`Timeline`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Window start, Unix seconds.
    pub window_start: u64,
    /// Score.
    pub score: f64,
    /// Whether it alerted.
    pub alert: bool,
}

/// A labeled attack interval on a [`Timeline`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackSpan {
    /// Start, Unix seconds.
    pub start: u64,
    /// End (exclusive), Unix seconds.
    pub end: u64,
    /// Attack type.
    pub attack_type: String,
}

/// One row of the top-alerts table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    /// The interface id.
    pub eni: String,
    /// Window start, Unix seconds.
    pub window_start: u64,
    /// Score.
    pub score: f64,
    /// Finding kinds.
    pub findings: Vec<String>,
    /// The detector's explanation (top features, observed vs expected), given by the engine.
    pub explanation: String,
    /// The labeled attack type(s) this window overlaps, `None` when unlabeled (a false positive
    /// or an unknown event).
    pub attack: Option<String>,
}

/// The ENIs with the highest peak score, at most `max_enis`, each with all its windows and the
/// labels of that ENI clipped to the windows' period. Ties (calibrated scores often saturate at
/// 1) go to the ENI with more alerting windows, then by name.
pub fn top_eni_timelines(
    windows: &[ScoredWindow],
    labels: &[Label],
    window_secs: u64,
    max_enis: usize,
) -> Vec<Timeline> {
    let key = |s: f64| if s.is_nan() { f64::NEG_INFINITY } else { s };
    let mut peak: HashMap<&str, (f64, u64)> = HashMap::new();
    for w in windows {
        let p = peak.entry(w.eni.as_str()).or_insert((f64::NEG_INFINITY, 0));
        p.0 = p.0.max(key(w.score));
        p.1 += u64::from(w.alert);
    }
    let mut enis: Vec<(&str, (f64, u64))> = peak.into_iter().collect();
    enis.sort_by(|a, b| {
        b.1 .0
            .total_cmp(&a.1 .0)
            .then(b.1 .1.cmp(&a.1 .1))
            .then(a.0.cmp(b.0))
    });
    enis.truncate(max_enis);
    let names: Vec<&str> = enis.into_iter().map(|(eni, _)| eni).collect();
    timelines_of(windows, labels, window_secs, &names)
}

/// The timelines of the ENIs `enis`, in that order: each with all its windows and its labels
/// clipped to the windows' period.
pub fn timelines_of(
    windows: &[ScoredWindow],
    labels: &[Label],
    window_secs: u64,
    enis: &[&str],
) -> Vec<Timeline> {
    enis.iter()
        .map(|&eni| {
            let mut points: Vec<TimelinePoint> = windows
                .iter()
                .filter(|w| w.eni == eni)
                .map(|w| TimelinePoint {
                    window_start: w.window_start,
                    score: w.score,
                    alert: w.alert,
                })
                .collect();
            points.sort_by_key(|p| p.window_start);
            let t0 = points.first().map_or(0, |p| p.window_start);
            let t1 = points
                .last()
                .map_or(0, |p| p.window_start.saturating_add(window_secs));
            let attacks = labels
                .iter()
                .filter(|l| l.eni == eni && l.start < t1 && l.end > t0)
                .map(|l| AttackSpan {
                    start: l.start.max(t0),
                    end: l.end.min(t1),
                    attack_type: l.attack_type.clone(),
                })
                .collect();
            Timeline {
                eni: eni.to_string(),
                points,
                attacks,
            }
        })
        .collect()
}

/// The `max` highest-scoring alerting windows (ties by time, then ENI) as table rows, with the
/// attack types they overlap. `explanation` is left empty for the caller to fill from the
/// detector's verdict.
pub fn top_alert_rows(
    windows: &[ScoredWindow],
    labels: &[Label],
    window_secs: u64,
    max: usize,
) -> Vec<AlertRow> {
    let key = |s: f64| if s.is_nan() { f64::NEG_INFINITY } else { s };
    let mut alerts: Vec<&ScoredWindow> = windows.iter().filter(|w| w.alert).collect();
    alerts.sort_by(|a, b| {
        key(b.score)
            .total_cmp(&key(a.score))
            .then(a.window_start.cmp(&b.window_start))
            .then(a.eni.cmp(&b.eni))
    });
    alerts.truncate(max);
    alerts
        .into_iter()
        .map(|w| {
            let mut kinds: Vec<&str> = labels
                .iter()
                .filter(|l| {
                    l.eni == w.eni && crate::eval::truth::overlaps(l, w.window_start, window_secs)
                })
                .map(|l| l.attack_type.as_str())
                .collect();
            kinds.sort_unstable();
            kinds.dedup();
            AlertRow {
                eni: w.eni.clone(),
                window_start: w.window_start,
                score: w.score,
                findings: w.findings.clone(),
                explanation: String::new(),
                attack: (!kinds.is_empty()).then(|| kinds.join(", ")),
            }
        })
        .collect()
}

/// Renders the report as one self-contained HTML page.
pub fn render_html(report: &ReportData) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let detectors = detectors(report);
    page_open(&mut out, &report.title, "");
    header(&mut out, report);
    headline(&mut out, report, &detectors);
    comparison(&mut out, &detectors);
    curves(&mut out, &detectors);
    attack_recall(&mut out, &detectors);
    timelines(&mut out, report);
    attacks(&mut out, &detectors);
    top_alerts(&mut out, report);
    notes(&mut out, &detectors);
    definitions(&mut out);
    page_close(&mut out);
    out
}

/// Opens a page: the document head with `title`, the CSS and `extra_css`, then the body.
fn page_open(out: &mut String, title: &str, extra_css: &str) {
    w!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}{extra_css}</style></head><body>",
        esc(title)
    );
}

/// The page's header: "flowvigil · `kind`", the title, the dataset paragraph and the facts;
/// then opens `<main>`.
fn page_header(
    out: &mut String,
    kind: &str,
    title: &str,
    dataset: &str,
    facts: &[(String, String)],
) {
    w!(
        out,
        "<header><div class=\"brand\">flowvigil · {}</div><h1>{}</h1><p class=\"dataset\">{}</p>",
        esc(kind),
        esc(title),
        esc(dataset)
    );
    out.push_str("<dl class=\"facts\">");
    for (k, v) in facts {
        w!(out, "<div><dt>{}</dt><dd>{}</dd></div>", esc(k), esc(v));
    }
    out.push_str("</dl></header><main>");
}

/// The footer, closing the page (after `</main>`).
fn page_close(out: &mut String) {
    w!(
        out,
        "<footer>Generated by flowvigil {}. This page is self-contained: no scripts, no \
         network requests. Times are UTC.</footer></body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
}

/// (name, description, color, metrics) of every detector, flowvigil first.
type Det<'a> = (&'a str, &'a str, &'static str, &'a Metrics);

fn detectors(report: &ReportData) -> Vec<Det<'_>> {
    let mut d: Vec<Det> = vec![(
        "flowvigil",
        "per-ENI baselines, peer groups and typed findings, calibrated into one score",
        COLORS[0],
        &report.flowvigil,
    )];
    for (i, r) in report.references.iter().enumerate() {
        let color = COLORS
            .get(1 + i % (COLORS.len() - 1))
            .copied()
            .unwrap_or(COLORS[1]);
        d.push((r.name.as_str(), r.description.as_str(), color, &r.metrics));
    }
    d
}

fn header(out: &mut String, r: &ReportData) {
    let m = &r.flowvigil;
    let mut facts: Vec<(String, String)> = vec![
        ("windows".into(), int(m.counts.windows)),
        (
            "attack windows".into(),
            format!("{} ({})", int(m.counts.positives), pct(m.prevalence)),
        ),
        ("attacks".into(), int(m.delay.attacks)),
        ("window".into(), duration(m.window_secs as f64)),
    ];
    facts.extend(r.facts.iter().cloned());
    page_header(out, "evaluation report", &r.title, &r.dataset, &facts);
}

fn card(out: &mut String, id: &str, label: &str, value: &str, sub: &str) {
    w!(
        out,
        "<div class=\"card\" id=\"{id}\"><div class=\"card-label\">{}</div><div class=\"card-value\">{}</div><div class=\"card-sub\">{}</div></div>",
        esc(label),
        esc(value),
        sub
    );
}

/// "isolation forest 0.412 · ..." for a card's subtitle (already escaped).
fn versus(dets: &[Det], f: impl Fn(&Metrics) -> String) -> String {
    dets.iter()
        .skip(1)
        .map(|d| format!("{} {}", esc(d.0), esc(&f(d.3))))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn headline(out: &mut String, r: &ReportData, dets: &[Det]) {
    let m = &r.flowvigil;
    out.push_str("<section class=\"cards\" id=\"headline\">");
    let vs = |f: &dyn Fn(&Metrics) -> String| {
        let v = versus(dets, f);
        if v.is_empty() {
            v
        } else {
            format!("vs {v}")
        }
    };
    card(
        out,
        "card-ap",
        "Average precision",
        &num3(m.average_precision),
        &format!(
            "random: {}<br>{}",
            num3(m.prevalence),
            vs(&|x| num3(x.average_precision))
        ),
    );
    card(
        out,
        "card-auc",
        "ROC-AUC",
        &num3(m.roc_auc),
        &format!("random: 0.500<br>{}", vs(&|x| num3(x.roc_auc))),
    );
    let budget = m.at_alert_budget.as_ref();
    card(
        out,
        "card-budget",
        "Recall at 1 alert / 1,000 windows",
        &pct(budget.map(|b| b.recall)),
        &format!(
            "ties broken at random {} · best possible {}<br>{}",
            pct(budget.map(|b| b.recall_random_ties)),
            pct(budget.map(|b| b.max_recall)),
            vs(&|x| pct(x.at_alert_budget.as_ref().map(|b| b.recall)))
        ),
    );
    card(
        out,
        "card-threshold",
        &format!("At the threshold ({})", num(Some(m.threshold), 4)),
        &format!("F1 {}", num3(m.f1)),
        &format!(
            "precision {} · recall {}<br>{} of {} alerts true",
            pct(m.precision),
            pct(m.recall),
            int(m.counts.true_positives),
            int(m.counts.alerts)
        ),
    );
    card(
        out,
        "card-rate",
        "Alerts per 1,000 windows",
        &num(m.alerts_per_1000, 2),
        &format!(
            "{} alerts in {} windows<br>{} false",
            int(m.counts.alerts),
            int(m.counts.windows),
            int(m.counts.false_positives)
        ),
    );
    let d = &m.delay;
    card(
        out,
        "card-delay",
        "Detection delay (median)",
        &d.median_secs.map_or_else(|| "—".into(), duration),
        &format!(
            "max {} · {} of {} attacks detected<br>{} never detected",
            d.max_secs
                .map_or_else(|| "—".into(), |s| duration(s as f64)),
            int(d.detected),
            int(d.attacks),
            int(d.never_detected)
        ),
    );
    out.push_str("</section>");
}

fn comparison(out: &mut String, dets: &[Det]) {
    out.push_str(
        "<section><h2>Detectors on the same windows</h2><table id=\"comparison\" class=\"data\"><thead><tr>\
         <th>detector</th><th>avg precision</th><th>ROC-AUC</th><th>recall @ 1/1,000<div class=\"desc\">random ties</div></th>\
         <th>precision</th><th>recall</th><th>F1</th><th>alerts / 1,000</th>\
         <th>attacks detected</th><th>median delay</th></tr></thead><tbody>",
    );
    for (name, desc, color, m) in dets {
        w!(
            out,
            "<tr><td><span class=\"swatch\" style=\"background:{color}\"></span><b>{}</b><div class=\"desc\">{}</div></td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} / {}</td><td class=\"n\">{}</td></tr>",
            esc(name),
            esc(desc),
            num3(m.average_precision),
            num3(m.roc_auc),
            budget_cell(m),
            pct(m.precision),
            pct(m.recall),
            num3(m.f1),
            num(m.alerts_per_1000, 2),
            int(m.delay.detected),
            int(m.delay.attacks),
            m.delay.median_secs.map_or_else(|| "—".into(), duration)
        );
    }
    out.push_str("</tbody></table></section>");
}

/// "0.4%" over "random ties 2.1%" for the comparison table (escaped: numbers only).
fn budget_cell(m: &Metrics) -> String {
    match m.at_alert_budget.as_ref() {
        Some(b) => format!(
            "{}<div class=\"desc\">{}</div>",
            pct(Some(b.recall)),
            pct(Some(b.recall_random_ties))
        ),
        None => "—".to_string(),
    }
}

fn curves(out: &mut String, dets: &[Det]) {
    let pr: Vec<Series> = dets
        .iter()
        .map(|(name, _, color, m)| Series {
            name: format!("{name} (AP {})", num3(m.average_precision)),
            color,
            points: m.pr_curve.iter().map(|p| (p.x, p.y)).collect(),
            step: true,
            marker: m.recall.zip(m.precision),
        })
        .collect();
    let roc: Vec<Series> = dets
        .iter()
        .map(|(name, _, color, m)| {
            let fpr = (m.counts.negatives > 0)
                .then(|| m.counts.false_positives as f64 / m.counts.negatives as f64);
            Series {
                name: format!("{name} (AUC {})", num3(m.roc_auc)),
                color,
                points: m.roc_curve.iter().map(|p| (p.x, p.y)).collect(),
                step: false,
                marker: fpr.zip(m.recall),
            }
        })
        .collect();
    out.push_str(
        "<section><h2>Ranking quality</h2><p class=\"lede\">Every window ranked by score. \
         Dots mark each detector at its alert threshold; dashed lines are a random ranking.</p>\
         <div class=\"grid2\"><figure><figcaption>Precision–recall</figcaption>",
    );
    let prevalence = dets.first().and_then(|d| d.3.prevalence);
    svg::curve_chart(
        out,
        "pr-curve",
        ("recall", "precision"),
        &pr,
        prevalence.map(Guide::Horizontal),
        "undefined: no attack windows",
    );
    out.push_str("</figure><figure><figcaption>ROC</figcaption>");
    svg::curve_chart(
        out,
        "roc-curve",
        ("false-positive rate", "true-positive rate"),
        &roc,
        Some(Guide::Diagonal),
        "undefined: needs attack and normal windows",
    );
    out.push_str("</figure></div></section>");
}

/// Attack types drawn in the recall chart: real data sets have dozens (DARPA 1998: ~90); the
/// chart keeps those with the most windows and says how many it left out.
pub const MAX_CHART_TYPES: usize = 24;

fn attack_recall(out: &mut String, dets: &[Det]) {
    let mut windows: HashMap<&str, u64> = HashMap::new();
    for d in dets {
        for t in &d.3.per_attack_type {
            let w = windows.entry(t.attack_type.as_str()).or_insert(0);
            *w = (*w).max(t.windows);
        }
    }
    let mut types: Vec<(&str, u64)> = windows.into_iter().collect();
    types.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let left_out: Vec<(&str, u64)> = types.split_off(types.len().min(MAX_CHART_TYPES));
    let mut types: Vec<&str> = types.into_iter().map(|t| t.0).collect();
    types.sort_unstable();
    let flowvigil = dets.first().map(|d| d.3);
    let groups: Vec<BarGroup> = types
        .iter()
        .map(|t| {
            let find = |m: &Metrics| {
                m.per_attack_type
                    .iter()
                    .find(|x| x.attack_type == *t)
                    .cloned()
            };
            let fv = flowvigil.and_then(find);
            BarGroup {
                label: (*t).to_string(),
                detail: fv.as_ref().map_or_else(String::new, |x| {
                    format!(
                        "{} windows · {}/{} attacks",
                        x.windows, x.attacks_detected, x.attacks
                    )
                }),
                values: dets
                    .iter()
                    .map(|d| find(d.3).and_then(|x| x.recall))
                    .collect(),
            }
        })
        .collect();
    let names: Vec<(&str, &str)> = dets.iter().map(|d| (d.0, d.2)).collect();
    out.push_str(
        "<section><h2>Recall per attack type</h2><p class=\"lede\">Share of each attack \
         type's windows that alerted, at each detector's threshold.</p><figure class=\"wide\">",
    );
    svg::bar_chart(out, "attack-recall", &groups, &names);
    out.push_str("</figure>");
    if !left_out.is_empty() {
        w!(
            out,
            "<p class=\"lede\">The {} attack types with the most windows are drawn; {} smaller \
             types ({} windows in all) are listed in the JSON metrics (`per_attack_type`).</p>",
            types.len(),
            left_out.len(),
            int(left_out.iter().map(|t| t.1).sum())
        );
    }
    out.push_str("</section>");
}

fn timelines(out: &mut String, r: &ReportData) {
    out.push_str(
        "<section><h2>Score timelines of the top ENIs</h2><p class=\"lede\">flowvigil's score \
         per window; the dashed line is the threshold, shaded bands are labeled attacks, dots are \
         alerts.</p><div class=\"timelines\">",
    );
    if r.timelines.is_empty() {
        out.push_str("<p class=\"empty\">No timelines were given.</p>");
    }
    timeline_charts(
        out,
        &r.timelines,
        r.flowvigil.threshold,
        r.flowvigil.window_secs,
        true,
    );
    out.push_str("</div></section>");
}

/// The charts `timeline-0`, `timeline-1`, ... of `timelines`, labeled attacks shaded; their
/// titles count the labeled attacks when `labeled`.
fn timeline_charts(
    out: &mut String,
    timelines: &[Timeline],
    threshold: f64,
    window_secs: u64,
    labeled: bool,
) {
    for (i, t) in timelines.iter().enumerate() {
        let points: Vec<(u64, f64, bool)> = t
            .points
            .iter()
            .map(|p| (p.window_start, p.score, p.alert))
            .collect();
        let spans: Vec<(u64, u64, String)> = t
            .attacks
            .iter()
            .map(|a| (a.start, a.end, a.attack_type.clone()))
            .collect();
        let alerts = t.points.iter().filter(|p| p.alert).count();
        let mut title = format!("{} · {} windows · {} alerts", t.eni, t.points.len(), alerts);
        if labeled {
            w!(title, " · {} labeled attacks", t.attacks.len());
        }
        svg::timeline_chart(
            out,
            &TimelinePlot {
                id: format!("timeline-{i}"),
                title,
                points: &points,
                spans: &spans,
                threshold,
                window_secs,
            },
        );
    }
}

/// At most this many rows in the attacks table; the JSON holds them all.
pub const MAX_ATTACK_ROWS: usize = 60;

fn attacks(out: &mut String, dets: &[Det]) {
    let Some(first) = dets.first() else { return };
    let all = &first.3.delay.per_attack;
    if all.is_empty() {
        return;
    }
    out.push_str(
        "<section><h2>Attacks</h2><p class=\"lede\">Each labeled attack and how long each \
         detector took to alert on it (to the end of its first alerting window).</p>\
         <table id=\"attacks\" class=\"data\"><thead><tr><th>attack</th><th>type</th>\
         <th>start (UTC)</th>",
    );
    for d in dets {
        w!(out, "<th>{}</th>", esc(d.0));
    }
    out.push_str("</tr></thead><tbody>");
    for a in all.iter().take(MAX_ATTACK_ROWS) {
        w!(
            out,
            "<tr><td class=\"mono\">#{}</td><td>{}</td><td class=\"nowrap\">{}</td>",
            a.attack_id,
            esc(&a.attack_type),
            datetime(a.start)
        );
        for d in dets {
            let delay =
                d.3.delay
                    .per_attack
                    .iter()
                    .find(|x| x.attack_id == a.attack_id)
                    .and_then(|x| x.delay_secs);
            match delay {
                Some(s) => w!(out, "<td class=\"hit\">{}</td>", duration(s as f64)),
                None => out.push_str("<td class=\"miss\">missed</td>"),
            }
        }
        out.push_str("</tr>");
    }
    if all.len() > MAX_ATTACK_ROWS {
        w!(
            out,
            "<tr><td colspan=\"{}\" class=\"empty\">… and {} more attacks (all are in the \
             metrics JSON).</td></tr>",
            3 + dets.len(),
            all.len() - MAX_ATTACK_ROWS
        );
    }
    out.push_str("</tbody></table></section>");
}

fn top_alerts(out: &mut String, r: &ReportData) {
    out.push_str(
        "<section><h2>Top alerts</h2><table id=\"top-alerts\" class=\"data\"><thead><tr>\
         <th>window (UTC)</th><th>ENI</th><th>score</th><th>findings</th><th>explanation</th>\
         <th>ground truth</th></tr></thead><tbody>",
    );
    alert_rows(out, &r.top_alerts, true);
    out.push_str("</tbody></table></section>");
}

/// The rows of a top-alerts table: window, ENI, score, findings, explanation, and the ground
/// truth when `truth` (else the table has 5 columns).
fn alert_rows(out: &mut String, rows: &[AlertRow], truth: bool) {
    if rows.is_empty() {
        let cols = if truth { 6 } else { 5 };
        w!(
            out,
            "<tr><td colspan=\"{cols}\" class=\"empty\">No alerts.</td></tr>"
        );
    }
    for a in rows {
        let findings: String = a
            .findings
            .iter()
            .map(|f| format!("<span class=\"tag\">{}</span>", esc(f)))
            .collect();
        w!(
            out,
            "<tr><td class=\"nowrap\">{}</td><td class=\"mono\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"explain\">{}</td>",
            datetime(a.window_start),
            esc(&a.eni),
            num(Some(a.score), 3),
            findings,
            esc(&a.explanation)
        );
        if truth {
            match &a.attack {
                Some(t) => w!(out, "<td><span class=\"hit\">{}</span></td>", esc(t)),
                None => out.push_str("<td><span class=\"miss\">unlabeled</span></td>"),
            }
        }
        out.push_str("</tr>");
    }
}

fn notes(out: &mut String, dets: &[Det]) {
    if dets.iter().all(|d| d.3.notes.is_empty()) {
        return;
    }
    out.push_str("<section id=\"notes\"><h2>Notes</h2><ul>");
    for (name, _, _, m) in dets {
        for n in &m.notes {
            w!(out, "<li><b>{}</b>: {}</li>", esc(name), esc(n));
        }
    }
    out.push_str("</ul></section>");
}

fn definitions(out: &mut String) {
    out.push_str(
        "<section><details><summary>How these numbers are computed</summary><dl class=\"defs\">\
         <dt>Ground truth</dt><dd>A window of an ENI is an attack window when it overlaps a \
         labeled attack interval of that ENI (half-open intervals).</dd>\
         <dt>Average precision</dt><dd>Σ (Rₙ − Rₙ₋₁)·Pₙ over every distinct score threshold, \
         as scikit-learn's <code>average_precision_score</code>; a random ranking scores the \
         prevalence.</dd>\
         <dt>ROC-AUC</dt><dd>The probability that a random attack window outscores a random \
         normal window, ties counting one half.</dd>\
         <dt>Recall at 1 alert / 1,000 windows</dt><dd>Recall at the lowest score threshold \
         that raises at most one alert per 1,000 windows: the detectors compared at the same \
         analyst workload. A threshold cannot split tied scores, so the page also gives the \
         expected recall with exactly that many alerts and ties broken at random, and the best \
         any detector could reach (alerts allowed / attack windows).</dd>\
         <dt>Precision, recall, F1</dt><dd>From each detector's alerts at its own threshold.</dd>\
         <dt>Recall per attack type</dt><dd>Alerting windows of the type over its windows.</dd>\
         <dt>Detection delay</dt><dd>From an attack's first labeled second to the end of its \
         first alerting window (when that window can close), excluding delivery lag.</dd>\
         </dl></details></section></main>",
    );
}

/// The page's stylesheet: system fonts, cards, tables, chart styling.
const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2937;background:#f3f5f8}
header{background:#0f172a;color:#e2e8f0;padding:28px 40px 22px}
.brand{font-size:12px;letter-spacing:.12em;text-transform:uppercase;color:#93c5fd}
h1{margin:4px 0 6px;font-size:26px;color:#fff;font-weight:650}
.dataset{margin:0 0 14px;color:#cbd5e1;max-width:900px}
.facts{display:flex;flex-wrap:wrap;gap:10px 28px;margin:0}
.facts div{display:flex;flex-direction:column}
.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:#94a3b8}
.facts dd{margin:0;font-weight:600;color:#f8fafc;font-variant-numeric:tabular-nums}
main{max-width:1180px;margin:0 auto;padding:22px 30px 10px}
section{margin:0 0 26px}
h2{font-size:17px;margin:0 0 8px;color:#0f172a}
.lede{margin:-4px 0 10px;color:#64748b}
.cards{display:grid;grid-template-columns:repeat(6,1fr);gap:12px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:12px 14px;box-shadow:0 1px 2px rgba(15,23,42,.05)}
.card-label{font-size:12px;color:#64748b;font-weight:600}
.card-value{font-size:28px;font-weight:700;color:#1d4ed8;margin:2px 0;font-variant-numeric:tabular-nums}
.card-sub{font-size:12px;color:#64748b}
table.data{width:100%;border-collapse:collapse;background:#fff;border:1px solid #e2e8f0;border-radius:10px;overflow:hidden}
table.data th{background:#f8fafc;text-align:left;font-size:12px;color:#475569;padding:8px 10px;border-bottom:1px solid #e2e8f0}
table.data td{padding:8px 10px;border-bottom:1px solid #f1f5f9;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.mono,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
td.nowrap{white-space:nowrap}
td.explain{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;color:#334155;white-space:pre-wrap}
.desc{font-size:12px;color:#64748b}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.tag{display:inline-block;background:#eef2ff;color:#3730a3;border-radius:4px;padding:1px 6px;margin:1px 3px 1px 0;font-size:12px;white-space:nowrap}
.hit{color:#047857;font-weight:600}
.miss{color:#b45309}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}
figure{margin:0;background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:10px 12px}
figcaption{font-weight:600;color:#334155;margin-bottom:4px}
.timelines{display:flex;flex-direction:column;gap:10px}
.timelines svg{background:#fff;border:1px solid #e2e8f0;border-radius:10px}
svg.chart{width:100%;height:auto;display:block;font-size:12px}
svg .plot-bg{fill:#fbfcfe}
svg .grid{stroke:#e5e7eb;stroke-width:1}
svg .axis-line,svg .tick-mark{stroke:#94a3b8}
svg .tick{fill:#64748b;font-size:11px}
svg .axis-label{fill:#334155;font-size:12px}
svg .chart-title{fill:#0f172a;font-weight:600;font-size:13px}
svg .series{fill:none;stroke-width:2.2;stroke-linejoin:round}
svg polyline.series{stroke:#2563eb;stroke-width:1.6}
svg .guide{stroke:#94a3b8;stroke-dasharray:5 4}
svg .threshold{stroke:#dc2626;stroke-dasharray:6 4;stroke-width:1.3}
svg .attack-span{fill:#fecaca;fill-opacity:.55}
svg .span-label{fill:#991b1b;font-size:11px}
svg .alert-dot{fill:#dc2626}
svg .operating-point{stroke:#fff;stroke-width:1.5}
svg .legend text{fill:#1f2937;font-size:12px}
svg .bar-label{fill:#0f172a;font-weight:600;font-size:12.5px}
svg .bar-detail{fill:#64748b;font-size:11px}
svg .bar-value{fill:#334155;font-size:11px}
svg .empty{fill:#94a3b8;font-size:14px}
p.empty,td.empty{color:#94a3b8}
#notes ul{margin:0;padding-left:20px;color:#475569}
details{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:10px 14px}
summary{cursor:pointer;font-weight:600;color:#334155}
.defs dt{font-weight:600;margin-top:8px}
.defs dd{margin:2px 0 0 0;color:#475569}
footer{max-width:1180px;margin:0 auto;padding:6px 30px 30px;color:#94a3b8;font-size:12px}
@media (max-width:900px){.cards{grid-template-columns:repeat(2,1fr)}.grid2{grid-template-columns:1fr}}
"#;

#[cfg(test)]
mod tests;
