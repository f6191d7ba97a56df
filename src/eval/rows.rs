//! From the engine's backtest rows to evaluation windows, and the reference detector on the very
//! same rows (same windows, same feature vectors), thresholded to the same alert rate.
//!
//! The reference isolation forest is fit on the evaluated windows themselves, unsupervised (it
//! never sees a label): the standard way isolation forests are benchmarked (ODDS, ADBench), and
//! the only choice that needs nothing but the logs being evaluated. It gives the forest an edge
//! flowvigil does not have (it sees the attack period's distribution, including the attacks,
//! before scoring it), so the comparison is, if anything, generous to the reference.

use crate::engine::ScoredRow;
use crate::features::FeatureVector;

use super::{
    isolation_forest_scores, mark_alerts, threshold_for_alert_rate, EvalError,
    IsolationForestParams, ScoredWindow,
};

/// The engine's rows as [`ScoredWindow`]s (same order, finding kinds by name).
pub fn scored_windows(rows: &[ScoredRow]) -> Vec<ScoredWindow> {
    rows.iter()
        .map(|r| ScoredWindow {
            eni: r.eni.clone(),
            window_start: r.window_start,
            score: r.score,
            alert: r.alert,
            findings: r.finding_kinds().map(|k| k.name().to_string()).collect(),
        })
        .collect()
}

/// The threshold to give [`EvalInput`](super::EvalInput) for a detector that alerts when
/// `score > threshold` (flowvigil's rule): the smallest number above it, so that evaluation's
/// `score >= t` holds exactly for the alerting windows. Non-finite thresholds are returned as is.
pub fn strict_threshold(threshold: f64) -> f64 {
    if !threshold.is_finite() {
        return threshold;
    }
    if threshold == 0.0 {
        return f64::from_bits(1);
    }
    let bits = threshold.to_bits();
    // For positive numbers the next representable value has the next bit pattern; for negative
    // ones it has the previous one.
    f64::from_bits(if threshold > 0.0 { bits + 1 } else { bits - 1 })
}

/// A reference detector's verdicts on the evaluated windows.
#[derive(Clone, Debug, PartialEq)]
pub struct ReferenceRun {
    /// The same windows as the rows, with the reference's score and alert (findings empty).
    pub windows: Vec<ScoredWindow>,
    /// Its alert threshold (`score >= threshold`); `f64::MAX` when the alert budget admits no
    /// alert (too few windows, or the top score tied by too many).
    pub threshold: f64,
    /// The alert rate it was held to, per 1,000 windows.
    pub alerts_per_1000: f64,
}

/// The reference isolation forest on the rows' feature vectors (kept with
/// [`BacktestOptions::keep_features`](crate::engine::BacktestOptions::keep_features)): fit on
/// these same windows (unsupervised, see the module docs), scored on them, and thresholded so
/// that it raises at most `alerts_per_1000` alerts per 1,000 windows (pass flowvigil's own rate
/// to compare both at the same workload).
///
/// No rows give no windows. Errors: a row without its feature vector
/// ([`EvalError::MissingFeatures`]), or a forest that cannot be fit (non-finite features).
pub fn isolation_forest_on_rows(
    rows: &[ScoredRow],
    alerts_per_1000: f64,
    params: IsolationForestParams,
) -> Result<ReferenceRun, EvalError> {
    if rows.is_empty() {
        // Nothing to fit on and nothing to score: the metrics of no windows (all `None`, with
        // notes) follow, rather than an error that would hide flowvigil's own metrics.
        return Ok(ReferenceRun {
            windows: Vec::new(),
            threshold: f64::MAX,
            alerts_per_1000,
        });
    }
    let mut features: Vec<FeatureVector> = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        match r.features.as_deref() {
            Some(f) => features.push(*f),
            None => {
                return Err(EvalError::MissingFeatures {
                    row: i,
                    eni: r.eni.clone(),
                    window_start: r.window_start,
                })
            }
        }
    }
    let scores = isolation_forest_scores(&features, &features, params)?;
    let threshold = threshold_for_alert_rate(&scores, alerts_per_1000).unwrap_or(f64::MAX);
    let mut windows: Vec<ScoredWindow> = rows
        .iter()
        .zip(scores)
        .map(|(r, score)| ScoredWindow {
            eni: r.eni.clone(),
            window_start: r.window_start,
            score,
            alert: false,
            findings: Vec::new(),
        })
        .collect();
    mark_alerts(&mut windows, threshold);
    Ok(ReferenceRun {
        windows,
        threshold,
        alerts_per_1000,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{Feature, NUM_FEATURES};

    fn row(i: usize, features: Option<FeatureVector>) -> ScoredRow {
        ScoredRow {
            eni: format!("eni-{}", i % 5),
            window_start: 300 * (i / 5) as u64,
            score: 0.1,
            alert: false,
            findings: 0b101,
            verdict: None,
            features: features.map(Box::new),
        }
    }

    #[test]
    fn strict_threshold_is_the_next_number_up() {
        for t in [0.5, 0.998_526, 1.0, 1e-300, -0.25, 0.0] {
            let s = strict_threshold(t);
            assert!(s > t, "{t} -> {s}");
            // Nothing lies strictly between t and s: the midpoint rounds to one of them.
            let mid = t + (s - t) / 2.0;
            assert!(mid == t || mid == s, "{t} {s}");
        }
        assert!(strict_threshold(f64::INFINITY).is_infinite());
        assert!(strict_threshold(f64::NAN).is_nan());
    }

    #[test]
    fn scored_windows_keep_order_and_name_the_findings() {
        let rows: Vec<ScoredRow> = (0..7).map(|i| row(i, None)).collect();
        let w = scored_windows(&rows);
        assert_eq!(w.len(), 7);
        for (a, b) in w.iter().zip(&rows) {
            assert_eq!(
                (a.eni.as_str(), a.window_start),
                (b.eni.as_str(), b.window_start)
            );
            assert_eq!(a.findings.len(), 2, "two bits set, two kinds");
        }
    }

    #[test]
    fn the_forest_flags_the_outlier_within_the_budget() {
        let ordinary = |i: usize| {
            let mut v = [0.0; NUM_FEATURES];
            v[Feature::FlowsOut as usize] = 20.0 + (i % 7) as f64;
            v[Feature::BytesOut as usize] = 40_000.0 + (i % 13) as f64 * 1000.0;
            v[Feature::FanOut as usize] = 3.0 + (i % 3) as f64;
            v
        };
        let mut rows: Vec<ScoredRow> = (0..2000).map(|i| row(i, Some(ordinary(i)))).collect();
        let mut odd = ordinary(0);
        odd[Feature::DstPortsOut as usize] = 5000.0;
        odd[Feature::FanOut as usize] = 900.0;
        odd[Feature::FlowsOut as usize] = 9000.0;
        rows[1234].features = Some(Box::new(odd));
        let run =
            isolation_forest_on_rows(&rows, 1.0, IsolationForestParams::new().seed(3)).unwrap();
        let alerts: Vec<usize> = (0..rows.len()).filter(|&i| run.windows[i].alert).collect();
        assert!(
            alerts.len() <= 2,
            "budget of 2 alerts in 2,000 windows: {alerts:?}"
        );
        assert!(alerts.contains(&1234), "{alerts:?}");
        let top = run
            .windows
            .iter()
            .map(|w| w.score)
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(run.windows[1234].score, top);
    }

    #[test]
    fn no_rows_give_no_windows_not_an_error() {
        let run = isolation_forest_on_rows(&[], 1.0, IsolationForestParams::new()).unwrap();
        assert!(run.windows.is_empty());
        assert_eq!(run.threshold, f64::MAX);
    }

    #[test]
    fn a_row_without_features_is_an_error_naming_it() {
        let mut rows: Vec<ScoredRow> = (0..10).map(|i| row(i, Some([1.0; NUM_FEATURES]))).collect();
        rows[6].features = None;
        let err = isolation_forest_on_rows(&rows, 1.0, IsolationForestParams::new()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("row 6") && msg.contains("eni-1"), "{msg}");
    }
}
