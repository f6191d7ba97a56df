//! Evaluation: window ground truth from labels, ranking and alert metrics, detection delay, and a
//! reference isolation forest to compare against on the same windows.
//!
//! # How a run is judged
//!
//! The engine scores every closed ENI-window and says whether it alerted ([`ScoredWindow`]). A
//! window is *positive* when it overlaps a [`Label`](crate::labels::Label) of its ENI (half-open
//! intervals, see [`truth`]). [`evaluate`] then computes, from the same windows:
//!
//! - ranking metrics over `score` (threshold-free): ROC-AUC by the rank statistic (ties count
//!   half) and average precision as scikit-learn's `average_precision_score` (step-wise, no
//!   interpolation), plus ROC and PR curve points for plotting;
//! - alert metrics over `alert` (the engine's verdict at its threshold): precision, recall, F1,
//!   alerts per 1,000 windows, recall per attack type, detection delay per attack;
//! - recall at a fixed alert budget of 1 alert per 1,000 windows, from `score` alone, so that two
//!   detectors with different thresholds are compared at the same workload.
//!
//! Every metric that is undefined for the input (no positives, no negatives, no alerts, no
//! windows) is `None` with a line in [`Metrics::notes`]; no metric is ever NaN or infinite.
//!
//! # Memory
//!
//! [`evaluate`] holds O(windows + labels + label-window overlaps) in memory; it never allocates
//! per distinct score beyond one sorted copy of the scores. The curves it returns have at most
//! [`MAX_CURVE_POINTS`] points each whatever the input size.
//!
//! # Layout
//!
//! - [`truth`]: labels → positive windows, per attack.
//! - [`curve`]: ROC-AUC, average precision, curves, operating point at an alert budget.
//! - [`metrics`]: [`Metrics`] and [`evaluate`].
//! - [`iforest`]: the reference isolation forest (Liu, Ting and Zhou, 2008).
//! - [`reference`](mod@reference): that forest on flowvigil's feature vectors (same windows, same features).
//! - [`rows`]: the engine's backtest rows → [`ScoredWindow`]s, and the reference on those rows at
//!   flowvigil's alert rate.

pub mod curve;
pub mod iforest;
pub mod metrics;
pub mod reference;
pub mod rows;
pub mod truth;

use serde::{Deserialize, Serialize};

pub use curve::{CurvePoint, MAX_CURVE_POINTS};
pub use iforest::{
    IsolationForest, IsolationForestError, IsolationForestParams, IsolationForestParamsError,
    IsolationForestValidParams,
};
pub use metrics::{
    evaluate, AttackDelay, AttackTypeRecall, Counts, DetectionDelay, Metrics, OperatingPoint,
    ALERT_BUDGET_PER_1000,
};
pub use reference::{isolation_forest_scores, log_scale};
pub use rows::{isolation_forest_on_rows, scored_windows, strict_threshold, ReferenceRun};

/// One scored ENI-window, as the engine emits it (the lead fills it from the detector's verdict).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredWindow {
    /// Interface id, as written in the flow logs and the labels file.
    pub eni: String,
    /// Window start, Unix seconds.
    pub window_start: u64,
    /// Anomaly score: higher is more anomalous. NaN is ranked below every number and noted.
    pub score: f64,
    /// Whether the detector alerted on this window (its verdict at its threshold).
    pub alert: bool,
    /// Kinds of the typed findings on this window (e.g. `Recon/PortScan`), possibly empty.
    pub findings: Vec<String>,
}

/// What [`evaluate`] needs: the scored windows, their width, the labels and the threshold.
#[derive(Clone, Copy, Debug)]
pub struct EvalInput<'a> {
    /// Every scored window of the evaluation period, in any order.
    pub windows: &'a [ScoredWindow],
    /// Window width, seconds (the engine's `window_secs`).
    pub window_secs: u64,
    /// Ground truth, see [`crate::labels`].
    pub labels: &'a [crate::labels::Label],
    /// The score threshold the detector alerts at; reported, and checked against `alert`.
    pub threshold: f64,
}

/// Errors of the evaluation module.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Fitting or configuring the reference isolation forest.
    #[error(transparent)]
    IsolationForest(#[from] IsolationForestError),
    /// A backtest row lacks its feature vector (run the backtest with `keep_features`).
    #[error("row {row} ({eni} at {window_start}) has no feature vector: run the backtest with keep_features")]
    MissingFeatures {
        /// Index of the row.
        row: usize,
        /// Its ENI.
        eni: String,
        /// Its window start, Unix seconds.
        window_start: u64,
    },
}

/// The lowest threshold `t` such that at most `alerts_per_1000` windows per 1,000 have
/// `score >= t`; `None` when no threshold admits any alert at that rate (fewer windows than the
/// rate allows one alert for, or the top score is tied by too many windows) or `scores` is empty.
/// Only finite scores can be thresholds; NaN ranks lowest.
///
/// Use it to give a reference detector the same alert budget as flowvigil; then
/// [`mark_alerts`] sets the verdicts. NaN scores never alert.
pub fn threshold_for_alert_rate(scores: &[f64], alerts_per_1000: f64) -> Option<f64> {
    // The same rule as `Metrics::at_alert_budget`, so both agree on every input.
    let ranked = curve::Ranked::new(scores.iter().map(|&s| (s, false)).collect());
    ranked
        .at_budget(budget_for(scores.len(), alerts_per_1000))
        .0
}

/// Sets `alert = score >= threshold` on every window (NaN scores never alert).
pub fn mark_alerts(windows: &mut [ScoredWindow], threshold: f64) {
    for w in windows {
        w.alert = w.score >= threshold;
    }
}

/// Alerts allowed for `n` windows at `per_1000` alerts per 1,000 windows (fractional).
pub(crate) fn budget_for(n: usize, per_1000: f64) -> f64 {
    if per_1000.is_finite() && per_1000 > 0.0 {
        n as f64 * per_1000 / 1000.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_for_rate_respects_the_budget_and_ties() {
        // 2,000 windows at 1 per 1,000: at most 2 alerts.
        let mut scores = vec![0.0; 1997];
        scores.extend([0.9, 0.8, 0.7]);
        assert_eq!(threshold_for_alert_rate(&scores, 1.0), Some(0.8));
        // A tie at the top that exceeds the budget admits no threshold.
        let mut tied = vec![0.0; 1997];
        tied.extend([0.9, 0.9, 0.9]);
        assert_eq!(threshold_for_alert_rate(&tied, 1.0), None);
        assert_eq!(threshold_for_alert_rate(&[], 1.0), None);
        assert_eq!(threshold_for_alert_rate(&[1.0, 2.0], 1000.0), Some(1.0));
        assert_eq!(
            threshold_for_alert_rate(&[1.0, f64::NAN], 1000.0),
            Some(1.0)
        );
    }

    #[test]
    fn mark_alerts_uses_greater_or_equal() {
        let w = |score| ScoredWindow {
            eni: "e".into(),
            window_start: 0,
            score,
            alert: false,
            findings: vec![],
        };
        let mut ws = vec![w(0.5), w(0.4), w(f64::NAN)];
        mark_alerts(&mut ws, 0.5);
        assert_eq!(
            ws.iter().map(|w| w.alert).collect::<Vec<_>>(),
            [true, false, false]
        );
    }
}
