//! The metrics as plain text for a terminal and as a Markdown table for a README: the same
//! numbers as the HTML page, detectors side by side.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::eval::Metrics;

use super::text::{duration, num, num3, pct};

/// One detector's name and metrics.
pub type Named<'a> = (&'a str, &'a Metrics);

/// "12/40 (30.0%)" for an attack type's alerted windows, or "—" when absent.
fn type_recall(m: &Metrics, attack_type: &str) -> String {
    m.per_attack_type
        .iter()
        .find(|a| a.attack_type == attack_type)
        .map_or_else(
            || "—".to_string(),
            |a| format!("{}/{} {}", a.alerted_windows, a.windows, pct(a.recall)),
        )
}

/// Attack types printed in the terminal table (real data sets have dozens; the rest are
/// summed in one line and listed in the JSON).
pub const MAX_TYPES_PRINTED: usize = 20;
/// Attack types in the Markdown table's per-type column.
pub const MAX_TYPES_MARKDOWN: usize = 8;

/// The attack types with the most windows (ties by name), at most `max`, then the number of
/// types left out and their windows.
fn attack_types(dets: &[Named], max: usize) -> (Vec<String>, usize, u64) {
    let mut windows: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, m) in dets {
        for a in &m.per_attack_type {
            let w = windows.entry(a.attack_type.as_str()).or_insert(0);
            *w = (*w).max(a.windows);
        }
    }
    let mut types: Vec<(&str, u64)> = windows.into_iter().collect();
    types.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let rest = types.iter().skip(max);
    let (left, left_windows) = (rest.clone().count(), rest.map(|t| t.1).sum());
    let mut kept: Vec<String> = types.iter().take(max).map(|t| t.0.to_string()).collect();
    kept.sort();
    (kept, left, left_windows)
}

fn budget_recall(m: &Metrics) -> String {
    pct(m.at_alert_budget.as_ref().map(|b| b.recall))
}

/// The headline rows: (metric, value per detector).
fn headline_rows(dets: &[Named]) -> Vec<(String, Vec<String>)> {
    let row = |name: &str, f: &dyn Fn(&Metrics) -> String| {
        (name.to_string(), dets.iter().map(|(_, m)| f(m)).collect())
    };
    vec![
        row("average precision", &|m| num3(m.average_precision)),
        row("ROC-AUC", &|m| num3(m.roc_auc)),
        row("recall at 1 alert / 1,000 windows", &budget_recall),
        row("  same, ties broken at random", &|m| {
            pct(m.at_alert_budget.as_ref().map(|b| b.recall_random_ties))
        }),
        row("  best possible at that budget", &|m| {
            pct(m.at_alert_budget.as_ref().map(|b| b.max_recall))
        }),
        row("precision at the threshold", &|m| pct(m.precision)),
        row("recall at the threshold", &|m| pct(m.recall)),
        row("F1 at the threshold", &|m| num3(m.f1)),
        row("alerts per 1,000 windows", &|m| num(m.alerts_per_1000, 2)),
        row("alerts (true / all)", &|m| {
            format!("{} / {}", m.counts.true_positives, m.counts.alerts)
        }),
        row("attacks detected", &|m| {
            format!("{} / {}", m.delay.detected, m.delay.attacks)
        }),
        row("detection delay median / max", &|m| {
            format!(
                "{} / {}",
                m.delay.median_secs.map_or_else(|| "—".into(), duration),
                m.delay
                    .max_secs
                    .map_or_else(|| "—".into(), |s| duration(s as f64))
            )
        }),
    ]
}

/// Display width in characters (the table holds `—` and thin spaces, one column each).
fn width(s: &str) -> usize {
    s.chars().count()
}

fn pad(out: &mut String, s: &str, w: usize, right: bool) {
    let fill = " ".repeat(w.saturating_sub(width(s)));
    if right {
        let _ = write!(out, "{fill}{s}");
    } else {
        let _ = write!(out, "{s}{fill}");
    }
}

fn text_table(out: &mut String, head: &[String], rows: &[(String, Vec<String>)]) {
    let mut widths: Vec<usize> = head.iter().map(|h| width(h)).collect();
    for (name, vals) in rows {
        if let Some(w) = widths.first_mut() {
            *w = (*w).max(width(name));
        }
        for (i, v) in vals.iter().enumerate() {
            if let Some(w) = widths.get_mut(i + 1) {
                *w = (*w).max(width(v));
            }
        }
    }
    for (i, h) in head.iter().enumerate() {
        out.push_str(if i == 0 { "  " } else { "   " });
        pad(out, h, widths.get(i).copied().unwrap_or(0), i > 0);
    }
    out.push('\n');
    for (name, vals) in rows {
        out.push_str("  ");
        pad(out, name, widths.first().copied().unwrap_or(0), false);
        for (i, v) in vals.iter().enumerate() {
            out.push_str("   ");
            pad(out, v, widths.get(i + 1).copied().unwrap_or(0), true);
        }
        out.push('\n');
    }
}

/// The metrics of every detector side by side, for a terminal: the headline numbers, then recall
/// per attack type (alerted windows / windows of that type), then the notes.
pub fn metrics_table(dets: &[Named]) -> String {
    let mut out = String::new();
    let mut head = vec!["metric".to_string()];
    head.extend(dets.iter().map(|(n, _)| n.to_string()));
    text_table(&mut out, &head, &headline_rows(dets));
    let (types, left, left_windows) = attack_types(dets, MAX_TYPES_PRINTED);
    if !types.is_empty() {
        out.push('\n');
        let mut head = vec!["recall per attack type".to_string()];
        head.extend(dets.iter().map(|(n, _)| n.to_string()));
        let rows: Vec<(String, Vec<String>)> = types
            .iter()
            .map(|t| {
                (
                    t.clone(),
                    dets.iter().map(|(_, m)| type_recall(m, t)).collect(),
                )
            })
            .collect();
        text_table(&mut out, &head, &rows);
        if left > 0 {
            let _ = writeln!(
                out,
                "  ... and {left} more attack types with {left_windows} windows (see the JSON or the report)"
            );
        }
    }
    for (name, m) in dets {
        for n in &m.notes {
            let _ = writeln!(out, "  note ({name}): {n}");
        }
    }
    out
}

/// Markdown-safe cell text (a `|` would end the cell).
fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A Markdown table for a README: one row per detector with AP, ROC-AUC, recall at 1 alert per
/// 1,000 windows, precision/recall at the threshold, and a column of recall per attack type
/// (`type recall`, comma separated). `dataset` fills the first column.
pub fn markdown_table(dataset: &str, windows: u64, positives: u64, dets: &[Named]) -> String {
    let mut out = String::from(
        "| data | detector | windows (attack) | avg precision | ROC-AUC | recall @ 1/1,000 \
         (random ties; best possible) | precision / recall at threshold | alerts / 1,000 | \
         recall per attack type |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let (types, left, _) = attack_types(dets, MAX_TYPES_MARKDOWN);
    for (name, m) in dets {
        let per_type: Vec<String> = types
            .iter()
            .map(|t| {
                let r = m
                    .per_attack_type
                    .iter()
                    .find(|a| &a.attack_type == t)
                    .and_then(|a| a.recall);
                format!("{} {}", md(t), pct(r))
            })
            .chain((left > 0).then(|| format!("(+{left} smaller types)")))
            .collect();
        let budget = m.at_alert_budget.as_ref().map_or_else(
            || "—".to_string(),
            |b| {
                format!(
                    "{} ({}; {})",
                    pct(Some(b.recall)),
                    pct(Some(b.recall_random_ties)),
                    pct(Some(b.max_recall))
                )
            },
        );
        let _ = writeln!(
            out,
            "| {} | {} | {} ({}) | {} | {} | {} | {} / {} | {} | {} |",
            md(dataset),
            md(name),
            windows,
            positives,
            num3(m.average_precision),
            num3(m.roc_auc),
            budget,
            pct(m.precision),
            pct(m.recall),
            num(m.alerts_per_1000, 2),
            per_type.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{evaluate, EvalInput, ScoredWindow};
    use crate::labels::Label;

    fn metrics(flip: bool) -> Metrics {
        let windows: Vec<ScoredWindow> = (0..10)
            .map(|i| ScoredWindow {
                eni: "eni-a|b".into(),
                window_start: i * 300,
                score: if flip { 10.0 - i as f64 } else { i as f64 },
                alert: if flip { i < 2 } else { i >= 8 },
                findings: vec![],
            })
            .collect();
        let labels = [Label {
            attack_id: 1,
            attack_type: "port|scan".into(),
            eni: "eni-a|b".into(),
            start: 2400,
            end: 3000,
            attacker: None,
            victim: None,
        }];
        evaluate(&EvalInput {
            windows: &windows,
            window_secs: 300,
            labels: &labels,
            threshold: if flip { 9.0 } else { 8.0 },
        })
    }

    #[test]
    fn the_text_table_aligns_every_detector_and_attack_type() {
        let (good, bad) = (metrics(false), metrics(true));
        let t = metrics_table(&[("flowvigil", &good), ("isolation forest", &bad)]);
        let lines: Vec<&str> = t.lines().collect();
        // Every headline row has both detectors' values, right-aligned to the same width.
        let head = lines[0];
        assert!(
            head.contains("flowvigil") && head.contains("isolation forest"),
            "{t}"
        );
        let auc = lines.iter().find(|l| l.contains("ROC-AUC")).unwrap();
        assert!(auc.contains("1.000") && auc.contains("0.000"), "{auc}");
        assert_eq!(width(auc), width(head), "{t}");
        let per_type = lines.iter().find(|l| l.contains("port|scan")).unwrap();
        assert!(
            per_type.contains("2/2 100.0%") && per_type.contains("0/2 0.0%"),
            "{t}"
        );
    }

    #[test]
    fn the_markdown_table_has_one_row_per_detector_and_escapes_pipes() {
        let (good, bad) = (metrics(false), metrics(true));
        let t = markdown_table(
            "syn|thetic",
            10,
            2,
            &[("flowvigil", &good), ("iforest", &bad)],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        let cols = |l: &str| l.matches(" | ").count();
        assert_eq!(cols(lines[2]), cols(lines[0]), "{t}");
        assert!(lines[2].contains("syn\\|thetic") && lines[2].contains("port\\|scan 100.0%"));
        assert!(lines[3].contains("port\\|scan 0.0%"), "{t}");
    }

    #[test]
    fn many_attack_types_keep_the_largest_and_count_the_rest() {
        let mut m = metrics(false);
        let template = m.per_attack_type[0].clone();
        m.per_attack_type = (0..25u64)
            .map(|i| crate::eval::AttackTypeRecall {
                attack_type: format!("type{i:02}"),
                windows: 100 + i,
                ..template.clone()
            })
            .collect();
        let t = metrics_table(&[("flowvigil", &m)]);
        // The 20 largest are type05..type24; the 5 left out hold 100+101+102+103+104 windows.
        assert!(
            t.contains("type05") && t.contains("type24") && !t.contains("type04"),
            "{t}"
        );
        assert!(t.contains("5 more attack types with 510 windows"), "{t}");
        let md = markdown_table("d", 1, 1, &[("flowvigil", &m)]);
        assert!(
            md.contains("type17") && !md.contains("type16") && md.contains("(+17 smaller types)"),
            "{md}"
        );
    }
}
