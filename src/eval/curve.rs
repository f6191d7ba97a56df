//! Ranking metrics over scores and binary truth: ROC-AUC, average precision, ROC and PR curves,
//! and the operating point at an alert budget.
//!
//! Scores are sorted once, descending, and grouped into ties; every threshold is a distinct
//! score, as in scikit-learn. NaN scores rank below every number (they are mapped to −∞).

use serde::{Deserialize, Serialize};

/// Curves are downsampled to at most this many points for plotting; the metrics themselves use
/// every distinct threshold.
pub const MAX_CURVE_POINTS: usize = 200;

/// One point of a ROC curve (`x` = false-positive rate, `y` = true-positive rate) or of a PR
/// curve (`x` = recall, `y` = precision).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// False-positive rate (ROC) or recall (PR), in [0, 1].
    pub x: f64,
    /// True-positive rate (ROC) or precision (PR), in [0, 1].
    pub y: f64,
    /// The score threshold (`score >= threshold` alerts) giving this point; `None` for the
    /// curve's added start point, which no finite threshold gives.
    pub threshold: Option<f64>,
}

/// Scores with truth, sorted descending and grouped into ties.
#[derive(Clone, Debug, Default)]
pub struct Ranked {
    /// (score, positives, negatives) per distinct score, highest score first.
    groups: Vec<(f64, u64, u64)>,
    positives: u64,
    negatives: u64,
}

impl Ranked {
    /// Sorts and groups `(score, is_positive)` pairs.
    pub fn new(mut pairs: Vec<(f64, bool)>) -> Self {
        for p in &mut pairs {
            if p.0.is_nan() {
                p.0 = f64::NEG_INFINITY;
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut ranked = Ranked::default();
        for (score, pos) in pairs {
            let (p, n) = (u64::from(pos), u64::from(!pos));
            ranked.positives += p;
            ranked.negatives += n;
            match ranked.groups.last_mut() {
                // total_cmp puts -0.0 apart from 0.0; == treats them as one tie, as a threshold does.
                Some(g) if g.0 == score => {
                    g.1 += p;
                    g.2 += n;
                }
                _ => ranked.groups.push((score, p, n)),
            }
        }
        ranked
    }

    /// Items sharing the highest score.
    pub fn top_tie(&self) -> u64 {
        self.groups.first().map_or(0, |g| g.1 + g.2)
    }

    /// Positive items.
    pub fn positives(&self) -> u64 {
        self.positives
    }

    /// Negative items.
    pub fn negatives(&self) -> u64 {
        self.negatives
    }

    /// ROC-AUC: the probability that a random positive outscores a random negative, ties
    /// counting one half (the Mann–Whitney U statistic over P·N). `None` without positives or
    /// without negatives.
    pub fn roc_auc(&self) -> Option<f64> {
        if self.positives == 0 || self.negatives == 0 {
            return None;
        }
        // Twice the U statistic, in integers: exact for any realistic count.
        let mut tp_above: u128 = 0;
        let mut u2: u128 = 0;
        for &(_, p, n) in &self.groups {
            u2 += u128::from(n) * (2 * tp_above + u128::from(p));
            tp_above += u128::from(p);
        }
        let pn = u128::from(self.positives) * u128::from(self.negatives);
        Some(u2 as f64 / (2 * pn) as f64)
    }

    /// Average precision as scikit-learn's `average_precision_score`:
    /// Σₙ (Rₙ − Rₙ₋₁) · Pₙ over distinct thresholds, without interpolation. `None` without
    /// positives.
    pub fn average_precision(&self) -> Option<f64> {
        if self.positives == 0 {
            return None;
        }
        let (mut tp, mut fp, mut ap) = (0u64, 0u64, 0.0);
        for &(_, p, n) in &self.groups {
            tp += p;
            fp += n;
            if p > 0 {
                ap += (p as f64 / self.positives as f64) * (tp as f64 / (tp + fp) as f64);
            }
        }
        Some(ap.clamp(0.0, 1.0))
    }

    /// The full ROC curve: (0, 0) then one point per distinct threshold, ending at (1, 1).
    /// Empty without positives or without negatives.
    pub fn roc_points(&self) -> Vec<CurvePoint> {
        if self.positives == 0 || self.negatives == 0 {
            return Vec::new();
        }
        self.sweep((0.0, 0.0), |tp, fp| {
            (
                fp as f64 / self.negatives as f64,
                tp as f64 / self.positives as f64,
            )
        })
    }

    /// One point per distinct threshold, highest first, after `start`: `point(tp, fp)` gives
    /// (x, y) from the cumulative true and false positives at that threshold.
    fn sweep(&self, start: (f64, f64), point: impl Fn(u64, u64) -> (f64, f64)) -> Vec<CurvePoint> {
        let mut pts = Vec::with_capacity(self.groups.len() + 1);
        pts.push(CurvePoint {
            x: start.0,
            y: start.1,
            threshold: None,
        });
        let (mut tp, mut fp) = (0u64, 0u64);
        for &(score, p, n) in &self.groups {
            tp += p;
            fp += n;
            let (x, y) = point(tp, fp);
            pts.push(CurvePoint {
                x,
                y,
                threshold: finite(score),
            });
        }
        pts
    }

    /// The full PR curve: (recall 0, precision 1) then one point per distinct threshold, highest
    /// threshold first. Drawn as steps (precision Pₙ held over (Rₙ₋₁, Rₙ]) its area is the
    /// average precision. Empty without positives.
    pub fn pr_points(&self) -> Vec<CurvePoint> {
        if self.positives == 0 {
            return Vec::new();
        }
        self.sweep((0.0, 1.0), |tp, fp| {
            (
                tp as f64 / self.positives as f64,
                tp as f64 / (tp + fp) as f64,
            )
        })
    }

    /// The lowest threshold with at most `budget` items at or above it, and the true positives
    /// and alerts there: `(threshold, true_positives, alerts)`. The threshold is `None` when even
    /// the top score is held by more than `budget` items (then no item alerts).
    pub fn at_budget(&self, budget: f64) -> (Option<f64>, u64, u64) {
        let (mut tp, mut alerts, mut threshold) = (0u64, 0u64, None);
        for &(score, p, n) in &self.groups {
            // −∞ (NaN inputs) is not a threshold a person can set: stop above it.
            if (alerts + p + n) as f64 > budget || !score.is_finite() {
                break;
            }
            tp += p;
            alerts += p + n;
            threshold = Some(score);
        }
        (threshold, tp, alerts)
    }

    /// Expected true positives among the top `budget` items when ties are broken uniformly at
    /// random: whole score groups while they fit, then the straddling group's share
    /// `p × (budget left) / (group size)`. Items scored −∞ (NaN inputs) never count.
    pub fn expected_tp_at_budget(&self, budget: f64) -> f64 {
        let (mut tp, mut left) = (0.0, budget.max(0.0));
        for &(score, p, n) in &self.groups {
            let size = (p + n) as f64;
            if !score.is_finite() || left <= 0.0 || size == 0.0 {
                break;
            }
            let take = size.min(left);
            tp += p as f64 * take / size;
            left -= take;
        }
        tp
    }
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Downsamples a curve to at most `max` points (at least 2), keeping the first and last and
/// spacing the others evenly along the curve's length (L1), so that corners survive.
pub fn downsample(points: &[CurvePoint], max: usize) -> Vec<CurvePoint> {
    let max = max.max(2);
    if points.len() <= max {
        return points.to_vec();
    }
    let dist = |a: &CurvePoint, b: &CurvePoint| (a.x - b.x).abs() + (a.y - b.y).abs();
    let length: f64 = points.windows(2).map(|p| dist(&p[0], &p[1])).sum();
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    let mut out = vec![*first];
    if length > 0.0 {
        // Each kept interior point is at least `step` (L1) past the previous kept one, and the
        // straight distance never exceeds the path length, so at most max - 2 interior points.
        let step = length / (max - 2) as f64;
        let mut prev = *first;
        for p in points.iter().take(points.len() - 1).skip(1) {
            if dist(&prev, p) >= step && out.len() < max - 1 {
                out.push(*p);
                prev = *p;
            }
        }
    }
    out.push(*last);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_auc_and_ap() {
        // Scores 0.9+, 0.8-, 0.7+, 0.6-: pairs (p>n): (0.9,0.8) (0.9,0.6) (0.7,0.6) = 3 of 4.
        let r = Ranked::new(vec![(0.9, true), (0.8, false), (0.7, true), (0.6, false)]);
        assert_eq!(r.roc_auc(), Some(0.75));
        // AP = 0.5 * 1/1 + 0.5 * 2/3.
        let ap = r.average_precision().unwrap();
        assert!((ap - (0.5 + 1.0 / 3.0)).abs() < 1e-12, "{ap}");
    }

    #[test]
    fn ties_count_half() {
        let r = Ranked::new(vec![(1.0, true), (1.0, false)]);
        assert_eq!(r.roc_auc(), Some(0.5));
        // One threshold: recall 1 at precision 1/2.
        assert_eq!(r.average_precision(), Some(0.5));
    }

    #[test]
    fn budget_stops_before_a_tie_that_does_not_fit() {
        let r = Ranked::new(vec![(3.0, true), (2.0, false), (2.0, true), (1.0, true)]);
        assert_eq!(r.at_budget(2.0), (Some(3.0), 1, 1));
        assert_eq!(r.at_budget(3.0), (Some(2.0), 2, 3));
        assert_eq!(r.at_budget(0.5), (None, 0, 0));
    }

    #[test]
    fn downsample_keeps_ends_and_bound() {
        let pts: Vec<CurvePoint> = (0..=10_000)
            .map(|i| CurvePoint {
                x: i as f64 / 10_000.0,
                y: (i as f64 / 10_000.0).sqrt(),
                threshold: None,
            })
            .collect();
        let d = downsample(&pts, 200);
        assert!(d.len() <= 200 && d.len() > 100, "{}", d.len());
        assert_eq!(d.first(), pts.first());
        assert_eq!(d.last(), pts.last());
    }
}
