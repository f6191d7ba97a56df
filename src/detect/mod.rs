//! Detection: per-ENI online baselines, peer groups, typed findings, calibration, explanations.
//!
//! # Layout
//!
//! - [`baseline`]: EW mean/variance per feature (half-life in windows, mergeable) and hour-of-day
//!   seasonality.
//! - [`peers`]: the global scaler, k-means peer groups (linfa), k by silhouette, distance score.
//! - [`findings`]: the typed findings of DESIGN.md section 5 with ATT&CK ids and severities.
//! - [`beacon`]: the bounded per-ENI (peer, port) tracker behind C2/Beaconing.
//! - [`calibrate`]: quantiles → tail probabilities → one `anomaly_score`; the threshold.
//! - [`explain`]: fixed-size top-k explanations.
//! - [`verdict`]: what scoring returns, and its JSON alert line.
//! - [`scorer`]: [`Scorer`] (read-only, shared) and [`EniState`] (per ENI, mutable).
//! - [`train()`]: `TrainParams → check() → ValidTrainParams → fit()`, linfa's shape.
//! - [`synth`]: a small deterministic generator of normal and attack-like windows for tests and
//!   benches.
//!
//! Detectors combined into the score: `baseline` (mean |z| of the top 3 features against the
//! ENI's own expected values), `peer_distance` (scaled distance to the peer group's centroid) and
//! `findings` (sum of the typed findings' severities).

pub mod baseline;
pub mod beacon;
pub mod calibrate;
pub mod explain;
pub mod findings;
pub mod peers;
pub mod scorer;
pub mod synth;
mod train;
pub mod verdict;

pub use calibrate::{Calibration, TailQuantiles, DETECTOR_NAMES, NUM_DETECTORS};
pub use explain::{Contribution, Explanation, TOP_K};
pub use findings::{Finding, FindingKind, FindingRules, Severity};
pub use peers::{PeerGroup, Scaler};
pub use scorer::{model_space, EniState, Scorer, ScorerConfig};
pub use train::{train, TrainParams, ValidTrainParams};
pub use verdict::{AlertLine, DetectorScores, Verdict};

use crate::flowlog::EniId;

/// A rejected training parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamsError {
    /// `half_life_windows` must be finite and > 0.
    #[error("half_life_windows must be a finite number > 0, got {0}")]
    HalfLife(f64),
    /// `clusters` must be ≥ 1.
    #[error("clusters must be at least 1 (or left out to choose k by silhouette)")]
    Clusters,
    /// `max_clusters` must be ≥ 1.
    #[error("max_clusters must be at least 1")]
    MaxClusters,
    /// `alerts_per_1000` must be in (0, 1000).
    #[error("alerts_per_1000 must be > 0 and < 1000, got {0}")]
    AlertRate(f64),
    /// `window_secs` must be ≥ 1.
    #[error("window_secs must be at least 1")]
    WindowSecs,
    /// `prior_windows` must be finite and ≥ 0.
    #[error("prior_windows must be a finite number ≥ 0, got {0}")]
    PriorWindows(f64),
    /// `max_calibration_samples` must be ≥ 1.
    #[error("max_calibration_samples must be at least 1")]
    CalibrationSamples,
}

/// Errors of training and detection.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A parameter was rejected.
    #[error("invalid training parameter: {0}")]
    Params(#[from] ParamsError),
    /// Nothing to train on.
    #[error(
        "no windows to train on: the inputs held no ENI-window (check the log paths and format)"
    )]
    NoWindows,
    /// A window names an ENI id the interner never gave.
    #[error("window for ENI id {0} which the interner does not know (windows and interner must come from the same run)")]
    UnknownEni(EniId),
    /// Windows of one ENI must come in increasing `window_start`.
    #[error("windows of {eni} out of order: {window_start} after {previous} (training wants (window_start, eni) order)")]
    OutOfOrder {
        /// ENI name.
        eni: String,
        /// The offending window.
        window_start: u64,
        /// The window before it.
        previous: u64,
    },
    /// Clustering failed.
    #[error("peer-group clustering failed: {0}")]
    Clustering(String),
}
