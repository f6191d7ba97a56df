//! Calibration: each detector's raw training scores become quantiles; a raw score becomes an
//! empirical tail probability `P(training score ≥ s)`; the detectors' tail probabilities combine
//! into one `anomaly_score = 1 − min(1, min_d p_d / w_d) · Π_d p_d^ε` (a weighted Bonferroni
//! bound over the detectors, weights `w_d` summing to 1: [`DETECTOR_WEIGHTS`], times a small
//! tie-break factor, `ε` = [`TIE_BREAK_POWER`]), so a window extreme for any one detector scores
//! high. The alert threshold is the training quantile of that combined score at
//! `1 − alerts_per_1000 / 1000`.
//!
//! The weights split the alert budget between detectors. Synthetic tuning data (`flowvigil gen`
//! seed 7, see `docs/readme/models.md`) showed the peer-group distance alone never caught an
//! attack but took a third of the budget with equal weights (ENIs that sit far from every
//! centroid are chronically "distant"), while typed findings carried nearly every true alert; so
//! findings get 0.6, the baseline 0.3 and the peer distance 0.1. A detector still alerts alone when it is
//! extreme enough; it just needs a tail probability `1/w_d` times smaller.

use serde::{Deserialize, Serialize};

/// Number of detectors combined: baseline deviation, peer-group distance, typed findings.
pub const NUM_DETECTORS: usize = 3;

/// Share of the alert budget of each detector (baseline, peer distance, findings): sums to 1.
pub const DETECTOR_WEIGHTS: [f64; NUM_DETECTORS] = [0.3, 0.1, 0.6];

/// Power of the tie-break factor `Π_d p_d^TIE_BREAK_POWER` that multiplies the weighted
/// Bonferroni bound: windows with the same findings (the same findings tail probability) are
/// then ranked by how unusual they are otherwise, instead of sharing one score.
pub const TIE_BREAK_POWER: f64 = 0.02;

/// Names of the detectors, in the order of their scores.
pub const DETECTOR_NAMES: [&str; NUM_DETECTORS] = ["baseline", "peer_distance", "findings"];

/// Probability levels at which quantiles are kept: coarse in the bulk, dense in the upper tail,
/// where thresholds live (48 levels).
pub fn quantile_levels() -> Vec<f64> {
    let mut l: Vec<f64> = (0..18).map(|i| f64::from(i) * 0.05).collect(); // 0 .. 0.85
    l.extend((0..10).map(|i| 0.9 + f64::from(i) * 0.01)); // 0.90 .. 0.99
    l.extend((1..10).map(|i| 0.99 + f64::from(i) * 0.001)); // 0.991 .. 0.999
    l.extend((1..10).map(|i| 0.999 + f64::from(i) * 0.0001)); // 0.9991 .. 0.9999
    l.push(0.99995);
    l.push(1.0);
    l
}

/// One detector's training distribution, summarized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TailQuantiles {
    /// Probability levels, increasing, from 0 to 1.
    pub levels: Vec<f64>,
    /// The training score at each level (non-decreasing).
    pub values: Vec<f64>,
    /// Smallest tail probability inside the training range: `1 / (samples + 1)`.
    pub floor: f64,
    /// Scale of the exponential tail beyond the largest training score.
    pub tail_scale: f64,
    /// Training samples summarized.
    pub samples: u64,
}

impl TailQuantiles {
    /// Summarizes `samples` (sorted in place; non-finite values are treated as 0). Beyond the
    /// training maximum the tail decays as `floor · exp(−(s − max) / scale)` with `scale` the
    /// spread of the top 1% of scores, at least `min_scale`.
    pub fn fit(samples: &mut [f64], min_scale: f64) -> Self {
        for s in samples.iter_mut() {
            if !s.is_finite() {
                *s = 0.0;
            }
        }
        samples.sort_by(f64::total_cmp);
        let levels = quantile_levels();
        let n = samples.len();
        let at = |q: f64| -> f64 {
            if n == 0 {
                return 0.0;
            }
            let pos = q * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            let (a, b) = (
                samples.get(lo).copied().unwrap_or(0.0),
                samples.get(hi).copied().unwrap_or(0.0),
            );
            a + (b - a) * (pos - lo as f64)
        };
        let values: Vec<f64> = levels.iter().map(|&q| at(q)).collect();
        let tail_scale = (at(1.0) - at(0.99)).max(min_scale).max(f64::MIN_POSITIVE);
        TailQuantiles {
            levels,
            values,
            floor: 1.0 / (n as f64 + 1.0),
            tail_scale,
            samples: n as u64,
        }
    }

    /// `P(training score ≥ s)`, interpolated between the kept quantiles and squeezed into
    /// `[floor, 1]` inside the training range, then decaying exponentially beyond its maximum:
    /// non-increasing and continuous in `s`, in `[0, 1]` (underflows to 0 far beyond).
    pub fn tail(&self, s: f64) -> f64 {
        let i = self.values.partition_point(|&v| v < s);
        if i == 0 {
            return 1.0;
        }
        let (Some(&v0), Some(&l0)) = (self.values.get(i - 1), self.levels.get(i - 1)) else {
            return 1.0;
        };
        match (self.values.get(i), self.levels.get(i)) {
            (Some(&v1), Some(&l1)) => {
                let t = if v1 > v0 { (s - v0) / (v1 - v0) } else { 1.0 };
                // Squeezed into [floor, 1] rather than clamped at the floor: clamping would tie
                // every score in the top 1/N, and the threshold lives there.
                self.floor + (1.0 - self.floor) * (1.0 - (l0 + (l1 - l0) * t))
            }
            _ => self.floor * (-(s - v0) / self.tail_scale).exp(),
        }
    }

    /// The training score at probability level `q` (nearest kept level at or above `q`).
    pub fn quantile(&self, q: f64) -> f64 {
        let i = self.levels.partition_point(|&l| l < q);
        self.values
            .get(i)
            .or(self.values.last())
            .copied()
            .unwrap_or(0.0)
    }
}

/// Every detector's quantiles, the combined score's, and the threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// One per detector, in [`DETECTOR_NAMES`] order.
    pub detectors: [TailQuantiles; NUM_DETECTORS],
    /// The combined training scores, for `inspect`.
    pub combined: TailQuantiles,
    /// Alert when `anomaly_score > threshold`.
    pub threshold: f64,
    /// The target rate the threshold was set for.
    pub alerts_per_1000: f64,
    /// Share of the alert budget of each detector ([`DETECTOR_WEIGHTS`] at training).
    pub weights: [f64; NUM_DETECTORS],
}

/// Smallest tail scale per detector, in raw units: 1 z for the baseline, 0.5 for the peer
/// distance, 2 severity points for findings. Keeps the tail meaningful when training saw no
/// spread (e.g. no finding ever fired).
pub const MIN_TAIL_SCALE: [f64; NUM_DETECTORS] = [1.0, 0.5, 2.0];

impl Calibration {
    /// Calibrates from training raw scores (one row per training window, any order).
    pub fn fit(raw: &[[f64; NUM_DETECTORS]], alerts_per_1000: f64) -> Self {
        let detectors: [TailQuantiles; NUM_DETECTORS] = std::array::from_fn(|d| {
            let mut col: Vec<f64> = raw.iter().map(|r| r[d]).collect();
            TailQuantiles::fit(&mut col, MIN_TAIL_SCALE[d])
        });
        let mut cal = Calibration {
            combined: TailQuantiles::fit(&mut [], 1e-6),
            detectors,
            threshold: 1.0,
            alerts_per_1000,
            weights: DETECTOR_WEIGHTS,
        };
        let mut combined: Vec<f64> = raw.iter().map(|r| cal.combine(r).0).collect();
        combined.sort_by(f64::total_cmp);
        let keep = 1.0 - alerts_per_1000 / 1000.0;
        cal.threshold = if combined.is_empty() {
            1.0 - 1e-9
        } else {
            let idx = ((combined.len() as f64 * keep).ceil() as usize).saturating_sub(1);
            combined.get(idx).copied().unwrap_or(0.0)
        };
        cal.combined = TailQuantiles::fit(&mut combined, 1e-6);
        cal
    }

    /// The combined `anomaly_score` in [0, 1] and each detector's tail probability.
    pub fn combine(&self, raw: &[f64; NUM_DETECTORS]) -> (f64, [f64; NUM_DETECTORS]) {
        let mut p = [1.0; NUM_DETECTORS];
        let mut pmin = 1.0f64;
        for (((pd, q), &r), &w) in p
            .iter_mut()
            .zip(&self.detectors)
            .zip(raw)
            .zip(&self.weights)
        {
            *pd = q.tail(r);
            // A zero or broken weight mutes that detector rather than dividing by zero.
            let scaled = if w > 0.0 { *pd / w } else { 1.0 };
            pmin = pmin.min(scaled);
        }
        // Tie-break: windows with the same findings share one tail probability; the other
        // detectors' evidence ranks them, through a small power so that it never outweighs the
        // strongest detector (a factor of at most ~2 at p = 1e-15).
        let tie: f64 = p
            .iter()
            .map(|&pd| pd.max(f64::MIN_POSITIVE).powf(TIE_BREAK_POWER))
            .product();
        let score = 1.0 - pmin.min(1.0) * tie;
        (score.clamp(0.0, 1.0), p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_is_monotone_and_bounded() {
        let mut xs: Vec<f64> = (0..1000).map(f64::from).collect();
        let q = TailQuantiles::fit(&mut xs, 1.0);
        let mut prev = 1.0;
        for i in -10..1100 {
            let t = q.tail(f64::from(i));
            assert!(t <= prev + 1e-15, "not monotone at {i}");
            assert!((0.0..=1.0).contains(&t));
            prev = t;
        }
        assert!((q.tail(500.0) - 0.5).abs() < 0.01);
        assert_eq!(q.tail(-1.0), 1.0);
        assert!(q.tail(2000.0) < q.floor);
    }

    #[test]
    fn all_zero_training_scores_leave_zero_unremarkable() {
        let mut xs = vec![0.0; 500];
        let q = TailQuantiles::fit(&mut xs, 2.0);
        assert_eq!(q.tail(0.0), 1.0);
        assert!(q.tail(5.0) < 0.01);
    }

    #[test]
    fn threshold_meets_the_target_rate() {
        let raw: Vec<[f64; 3]> = (0..10_000)
            .map(|i| [f64::from(i % 997), 0.0, 0.0])
            .collect();
        let cal = Calibration::fit(&raw, 10.0);
        let alerts = raw
            .iter()
            .filter(|r| cal.combine(r).0 > cal.threshold)
            .count();
        assert!(alerts <= 100, "{alerts} alerts for a target of 100");
    }
}
