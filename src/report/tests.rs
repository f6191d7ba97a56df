//! Unit tests of the report page: escaping, chart presence, degenerate data.

use super::*;
use crate::eval::{evaluate, EvalInput};

fn window(eni: &str, i: u64, score: f64, alert: bool) -> ScoredWindow {
    ScoredWindow {
        eni: eni.into(),
        window_start: 1_700_000_000 + i * 300,
        score,
        alert,
        findings: vec!["Recon/PortScan".into()],
    }
}

fn data(eni: &str, explanation: &str) -> ReportData {
    let windows: Vec<ScoredWindow> = (0..50)
        .map(|i| window(eni, i, (i % 7) as f64 / 10.0, i % 7 == 6))
        .collect();
    let labels = vec![Label {
        attack_id: 1,
        attack_type: "port<scan>".into(),
        eni: eni.into(),
        start: 1_700_000_000 + 6 * 300,
        end: 1_700_000_000 + 8 * 300,
        attacker: None,
        victim: None,
    }];
    let metrics = evaluate(&EvalInput {
        windows: &windows,
        window_secs: 300,
        labels: &labels,
        threshold: 0.6,
    });
    let mut top = top_alert_rows(&windows, &labels, 300, 5);
    for row in &mut top {
        row.explanation = explanation.into();
    }
    ReportData {
        title: "t".into(),
        dataset: "d".into(),
        facts: vec![],
        flowvigil: metrics.clone(),
        references: vec![DetectorReport {
            name: "isolation forest".into(),
            description: "100 trees".into(),
            metrics,
        }],
        timelines: top_eni_timelines(&windows, &labels, 300, 3),
        top_alerts: top,
    }
}

#[test]
fn input_text_is_escaped_everywhere() {
    let html = render_html(&data(
        "eni-<script>alert(1)</script>",
        "fan_out 412 vs 8 <b>&",
    ));
    assert!(!html.contains("<script"), "raw script tag in the page");
    assert!(html.contains("eni-&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("fan_out 412 vs 8 &lt;b&gt;&amp;"));
    assert!(html.contains("port&lt;scan&gt;"));
    assert!(!html.contains("port<scan>"));
}

#[test]
fn every_chart_is_an_svg_with_drawn_series() {
    let html = render_html(&data("eni-0a", "x"));
    for id in ["pr-curve", "roc-curve", "attack-recall", "timeline-0"] {
        let at = html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id} missing"));
        let svg = &html[at..at + html[at..].find("</svg>").unwrap()];
        let drawn = svg.matches("class=\"series\"").count() + svg.matches("class=\"bar\"").count();
        assert!(drawn >= 1, "{id} draws nothing");
    }
    // Both detectors on the curve charts.
    let at = html.find("id=\"pr-curve\"").unwrap();
    let pr = &html[at..at + html[at..].find("</svg>").unwrap()];
    assert_eq!(pr.matches("<path class=\"series\"").count(), 2);
    assert!(html.contains("class=\"attack-span\""));
    // The attack table: one row, detected by both (same metrics) within its first window.
    let at = html.find("id=\"attacks\"").expect("attacks table");
    let table = &html[at..at + html[at..].find("</table>").unwrap()];
    assert_eq!(table.matches("class=\"hit\"").count(), 2);
    assert!(html.contains("class=\"threshold\""));
}

#[test]
fn empty_metrics_render_placeholders_not_nan() {
    let m = evaluate(&EvalInput {
        windows: &[],
        window_secs: 300,
        labels: &[],
        threshold: 0.5,
    });
    let html = render_html(&ReportData {
        title: "empty".into(),
        dataset: String::new(),
        facts: vec![("k".into(), "v".into())],
        flowvigil: m,
        references: vec![],
        timelines: vec![Timeline {
            eni: "e".into(),
            points: vec![],
            attacks: vec![],
        }],
        top_alerts: vec![],
    });
    assert!(
        !html.contains("NaN") && !html.contains("inf"),
        "non-finite number printed"
    );
    assert!(html.contains("id=\"pr-curve\"") && html.contains("undefined: no attack windows"));
    assert!(html.contains("No alerts."));
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn the_page_references_nothing_outside_itself() {
    let html = render_html(&data("eni-0a", "x"));
    assert!(!html.contains("https://") && !html.contains(" src=") && !html.contains(" href="));
    let http: Vec<&str> = html.matches("http://").collect();
    // Only the SVG namespace URI, which browsers never fetch.
    assert_eq!(
        html.matches("http://www.w3.org/2000/svg").count(),
        http.len(),
        "unexpected URL in the page"
    );
    assert!(!html.contains("<script") && !html.contains("@import") && !html.contains("url("));
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(render_html(&data("a", "b")), render_html(&data("a", "b")));
}

#[test]
fn timelines_pick_the_highest_peaks_and_clip_labels() {
    let mut ws = vec![window("low", 0, 0.1, false), window("high", 0, 0.9, true)];
    ws.push(window("mid", 1, 0.5, false));
    let labels = vec![Label {
        attack_id: 1,
        attack_type: "x".into(),
        eni: "high".into(),
        start: 0,
        end: u64::MAX,
        attacker: None,
        victim: None,
    }];
    let t = top_eni_timelines(&ws, &labels, 300, 2);
    assert_eq!(
        t.iter().map(|t| t.eni.as_str()).collect::<Vec<_>>(),
        ["high", "mid"]
    );
    assert_eq!(t[0].attacks[0].start, 1_700_000_000);
    assert_eq!(t[0].attacks[0].end, 1_700_000_300);
    let rows = top_alert_rows(&ws, &labels, 300, 10);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attack.as_deref(), Some("x"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
    #[test]
    fn any_input_renders_and_stays_escaped(
        enis in proptest::collection::vec("[a-z<>&\"' ]{0,12}", 1..4),
        scores in proptest::collection::vec(proptest::prelude::any::<f64>(), 1..60),
        kind in "[a-z<>&\"']{0,10}",
        threshold in proptest::prelude::any::<f64>(),
    ) {
        // Every input string is fenced by « », so the page can be searched for what came
        // from input.
        let fence = |s: &str| format!("«{s}»");
        let windows: Vec<ScoredWindow> = scores
            .iter()
            .enumerate()
            .map(|(i, &s)| ScoredWindow {
                eni: fence(&enis[i % enis.len()]),
                window_start: (i as u64 / 2) * 300,
                score: s,
                alert: i % 3 == 0,
                findings: vec![fence(&kind)],
            })
            .collect();
        let labels = vec![Label {
            attack_id: 1,
            attack_type: fence(&kind),
            eni: fence(&enis[0]),
            start: 0,
            end: 900,
            attacker: None,
            victim: None,
        }];
        let m = evaluate(&EvalInput { windows: &windows, window_secs: 300, labels: &labels, threshold });
        let mut top = top_alert_rows(&windows, &labels, 300, 10);
        for r in &mut top {
            r.explanation = fence(&kind);
        }
        let html = render_html(&ReportData {
            title: fence(&kind),
            dataset: fence(&kind),
            facts: vec![(fence(&kind), fence(&kind))],
            flowvigil: m,
            references: vec![],
            timelines: top_eni_timelines(&windows, &labels, 300, 3),
            top_alerts: top,
        });
        let mut fenced = 0;
        for part in html.split('«').skip(1) {
            let inside = part.split('»').next().unwrap_or("");
            fenced += 1;
            proptest::prop_assert!(
                !inside.contains(['<', '>', '"', '\'']),
                "unescaped input {:?}", inside
            );
        }
        proptest::prop_assert!(fenced >= 6, "input text missing from the page");
        proptest::prop_assert!(!html.contains("NaN"));
    }
}

#[test]
fn timelines_break_peak_ties_by_alert_count() {
    // Both peak at 1.0; "b" alerted twice, "a" once: "b" comes first despite its name.
    let ws = vec![
        window("a", 0, 1.0, true),
        window("b", 0, 1.0, true),
        window("b", 1, 1.0, true),
        window("c", 0, 0.2, false),
    ];
    let t = top_eni_timelines(&ws, &[], 300, 2);
    assert_eq!(
        t.iter().map(|t| t.eni.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
}

#[test]
fn the_recall_chart_keeps_the_largest_attack_types_and_counts_the_rest() {
    let mut d = data("eni-a", "x");
    let template = d.flowvigil.per_attack_type[0].clone();
    let n = MAX_CHART_TYPES as u64 + 6;
    d.flowvigil.per_attack_type = (0..n)
        .map(|i| crate::eval::AttackTypeRecall {
            attack_type: format!("type{i:03}"),
            windows: 10 + i,
            ..template.clone()
        })
        .collect();
    let html = render_html(&d);
    let chart = &html[html.find("id=\"attack-recall\"").unwrap()..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    // The reference still lists `port<scan>` (windows 2): the 24 largest are type006..type029.
    assert_eq!(
        chart.matches("class=\"bar-label\"").count(),
        MAX_CHART_TYPES
    );
    assert!(chart.contains("type006") && !chart.contains("type005"));
    // Left out: type000..type005 (10+..+15 = 75 windows) and port<scan> (2 windows).
    assert!(
        html.contains("7 smaller types (77 windows in all)"),
        "note missing"
    );
}

#[test]
fn close_attack_bands_keep_every_band_but_do_not_print_names_over_each_other() {
    let mut d = data("eni-a", "x");
    let t0 = 1_700_000_000;
    let span = |s: u64, kind: &str| AttackSpan {
        start: t0 + s,
        end: t0 + s + 300,
        attack_type: kind.into(),
    };
    // Two bands 5 minutes apart on a 50-window (~4 h) axis: a few pixels, far less than a name.
    d.timelines[0].attacks = vec![span(600, "first_long_name"), span(900, "second_long_name")];
    let html = render_html(&d);
    let chart = &html[html.find("id=\"timeline-0\"").unwrap()..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    assert_eq!(chart.matches("class=\"attack-span\"").count(), 2);
    assert_eq!(chart.matches("class=\"span-label\"").count(), 1);
    assert!(chart.contains(">first_long_name</text>"));
    assert!(
        chart.contains("<title>second_long_name</title>"),
        "kept as a tooltip"
    );
}

#[test]
/// Scores at the ends of the f64 range (a span wider than `f64::MAX`) draw no NaN.
fn extreme_scores_draw_no_nan() {
    let windows: Vec<ScoredWindow> = [1.5e308f64, -1.5e308, 0.3, 1.7e308]
        .iter()
        .enumerate()
        .map(|(i, &s)| ScoredWindow {
            eni: "a".into(),
            window_start: (i as u64 / 2) * 300,
            score: s,
            alert: i % 3 == 0,
            findings: vec!["k".into()],
        })
        .collect();
    let labels = vec![Label {
        attack_id: 1,
        attack_type: "k".into(),
        eni: "a".into(),
        start: 0,
        end: 900,
        attacker: None,
        victim: None,
    }];
    for threshold in [0.5, -1.6e308, 1.6e308] {
        let m = evaluate(&EvalInput {
            windows: &windows,
            window_secs: 300,
            labels: &labels,
            threshold,
        });
        let top = top_alert_rows(&windows, &labels, 300, 10);
        let html = render_html(&ReportData {
            title: "t".into(),
            dataset: "d".into(),
            facts: vec![],
            flowvigil: m,
            references: vec![],
            timelines: top_eni_timelines(&windows, &labels, 300, 3),
            top_alerts: top,
        });
        assert!(!html.contains("NaN"), "threshold {threshold}");
    }
}
