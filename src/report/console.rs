//! The metrics as plain text for a terminal and as a Markdown table for a README: the same
//! numbers as the HTML page, detectors side by side.

use std::collections::BTreeSet;
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

fn attack_types(dets: &[Named]) -> BTreeSet<String> {
    dets.iter()
        .flat_map(|(_, m)| m.per_attack_type.iter().map(|a| a.attack_type.clone()))
        .collect()
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
    let types = attack_types(dets);
    if !types.is_empty() {
        out.push('\n');
        let mut head = vec!["recall per attack type".to_string()];
        head.extend(dets.iter().map(|(n, _)| n.to_string()));
        let rows: Vec<(String, Vec<String>)> = types
            .iter()
            .map(|t| (t.clone(), dets.iter().map(|(_, m)| type_recall(m, t)).collect()))
            .collect();
        text_table(&mut out, &head, &rows);
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
        "| data | detector | windows (attack) | avg precision | ROC-AUC | recall @ 1/1,000 | \
         precision / recall at threshold | alerts / 1,000 | recall per attack type |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let types = attack_types(dets);
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
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} ({}) | {} | {} | {} | {} / {} | {} | {} |",
            md(dataset),
            md(name),
            windows,
            positives,
            num3(m.average_precision),
            num3(m.roc_auc),
            budget_recall(m),
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
        assert!(head.contains("flowvigil") && head.contains("isolation forest"), "{t}");
        let auc = lines.iter().find(|l| l.contains("ROC-AUC")).unwrap();
        assert!(auc.contains("1.000") && auc.contains("0.000"), "{auc}");
        assert_eq!(width(auc), width(head), "{t}");
        let per_type = lines.iter().find(|l| l.contains("port|scan")).unwrap();
        assert!(per_type.contains("2/2 100.0%") && per_type.contains("0/2 0.0%"), "{t}");
    }

    #[test]
    fn the_markdown_table_has_one_row_per_detector_and_escapes_pipes() {
        let (good, bad) = (metrics(false), metrics(true));
        let t = markdown_table("syn|thetic", 10, 2, &[("flowvigil", &good), ("iforest", &bad)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        let cols = |l: &str| l.matches(" | ").count();
        assert_eq!(cols(lines[2]), cols(lines[0]), "{t}");
        assert!(lines[2].contains("syn\\|thetic") && lines[2].contains("port\\|scan 100.0%"));
        assert!(lines[3].contains("port\\|scan 0.0%"), "{t}");
    }
}
