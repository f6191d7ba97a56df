//! The verdict of one scored ENI-window, and its one-line JSON alert form.

use serde::Serialize;

use super::calibrate::NUM_DETECTORS;
use super::explain::Explanation;
use super::findings::Finding;

/// Each detector's raw score for one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct DetectorScores {
    /// Mean |z| of the three most deviating features against the ENI's baseline.
    pub baseline: f64,
    /// Scaled RMS distance to the peer group's centroid.
    pub peer_distance: f64,
    /// Sum of the findings' severities.
    pub findings: f64,
}

impl DetectorScores {
    /// As an array in [`super::DETECTOR_NAMES`] order.
    pub fn as_array(&self) -> [f64; NUM_DETECTORS] {
        [self.baseline, self.peer_distance, self.findings]
    }
}

/// What the scorer says about one ENI-window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// Window start, Unix seconds.
    pub window_start: u64,
    /// Calibrated score in [0, 1]; higher is more anomalous.
    pub anomaly_score: f64,
    /// The model's alert threshold.
    pub threshold: f64,
    /// `anomaly_score > threshold`.
    pub alert: bool,
    /// Typed findings (at most [`super::findings::MAX_FINDINGS`]).
    pub findings: Vec<Finding>,
    /// The ENI's peer group.
    pub peer_group: u32,
    /// Top deviating features.
    pub explanation: Explanation,
    /// Raw detector scores.
    pub detectors: DetectorScores,
    /// Each detector's tail probability (training share at least as extreme).
    pub tail_probs: [f64; NUM_DETECTORS],
    /// The ENI's baseline had fewer windows than the prior strength (mostly judged by its peers).
    pub cold_start: bool,
    /// The window updated the ENI's baseline (false when protection skipped it).
    pub learned: bool,
}

/// A verdict with its ENI's name: serializes as one flat JSON object.
#[derive(Serialize)]
pub struct AlertLine<'a> {
    /// Interface id.
    pub eni: &'a str,
    /// The verdict's fields, flattened.
    #[serde(flatten)]
    pub verdict: &'a Verdict,
}

impl Verdict {
    /// Pairs the verdict with its ENI name for serialization.
    pub fn alert_line<'a>(&'a self, eni: &'a str) -> AlertLine<'a> {
        AlertLine { eni, verdict: self }
    }

    /// One JSON line (no trailing newline).
    pub fn to_json_line(&self, eni: &str) -> Result<String, serde_json::Error> {
        serde_json::to_string(&self.alert_line(eni))
    }
}
