//! What a backtest found, in a form for people (text) and machines (JSON).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::batch::ScoredRow;

/// Top ENIs listed in a summary.
pub const TOP_ENIS: usize = 10;

/// One ENI's alerts in a summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EniAlerts {
    /// Interface id.
    pub eni: String,
    /// Alerting windows.
    pub alerts: u64,
    /// Highest anomaly score.
    pub max_score: f64,
}

/// Counts of a backtest.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BacktestSummary {
    /// Windows scored.
    pub windows: u64,
    /// Distinct ENIs scored.
    pub enis: u64,
    /// Alerting windows.
    pub alerts: u64,
    /// Alerts per 1,000 windows.
    pub alerts_per_1000: f64,
    /// Alerting windows by finding type (a window with two findings counts in both; alerts
    /// with no typed finding count as `Anomaly/Unclassified`).
    pub alerts_by_finding: BTreeMap<String, u64>,
    /// ENIs with the most alerts (ties: higher score, then name).
    pub top_enis: Vec<EniAlerts>,
    /// First and last window start, Unix seconds.
    pub span: Option<(u64, u64)>,
}

impl BacktestSummary {
    /// Summarizes rows in (window start, ENI) order.
    pub fn from_rows(rows: &[ScoredRow]) -> Self {
        let mut s = BacktestSummary {
            windows: rows.len() as u64,
            ..Self::default()
        };
        let mut per_eni: BTreeMap<&str, EniAlerts> = BTreeMap::new();
        for r in rows {
            let e = per_eni.entry(&r.eni).or_insert_with(|| EniAlerts {
                eni: r.eni.clone(),
                alerts: 0,
                max_score: 0.0,
            });
            e.max_score = e.max_score.max(r.score);
            if !r.alert {
                continue;
            }
            e.alerts += 1;
            s.alerts += 1;
            let mut any = false;
            for k in r.finding_kinds() {
                any = true;
                *s.alerts_by_finding.entry(k.name().to_string()).or_default() += 1;
            }
            if !any {
                *s.alerts_by_finding
                    .entry("Anomaly/Unclassified".to_string())
                    .or_default() += 1;
            }
        }
        s.enis = per_eni.len() as u64;
        if s.windows > 0 {
            s.alerts_per_1000 = s.alerts as f64 * 1000.0 / s.windows as f64;
        }
        s.span = rows
            .first()
            .zip(rows.last())
            .map(|(a, b)| (a.window_start, b.window_start));
        let mut top: Vec<EniAlerts> = per_eni.into_values().filter(|e| e.alerts > 0).collect();
        top.sort_by(|a, b| {
            b.alerts
                .cmp(&a.alerts)
                .then(b.max_score.total_cmp(&a.max_score))
                .then_with(|| a.eni.cmp(&b.eni))
        });
        top.truncate(TOP_ENIS);
        s.top_enis = top;
        s
    }
}

impl fmt::Display for BacktestSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "windows scored: {} across {} ENIs; alerts: {} ({:.2} per 1,000 windows)",
            self.windows, self.enis, self.alerts, self.alerts_per_1000
        )?;
        if !self.alerts_by_finding.is_empty() {
            writeln!(f, "alerts by finding type:")?;
            for (k, n) in &self.alerts_by_finding {
                writeln!(f, "  {k:<28} {n}")?;
            }
        }
        if !self.top_enis.is_empty() {
            writeln!(f, "top ENIs:")?;
            for e in &self.top_enis {
                writeln!(
                    f,
                    "  {:<24} {:>5} alerts, max score {:.4}",
                    e.eni, e.alerts, e.max_score
                )?;
            }
        }
        Ok(())
    }
}
