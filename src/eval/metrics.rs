//! [`Metrics`] and [`evaluate`]: everything the JSON output and the HTML report show.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::curve::{downsample, CurvePoint, Ranked, MAX_CURVE_POINTS};
use super::truth::GroundTruth;
use super::{budget_for, EvalInput};
use crate::labels::Label;

/// The fixed alert budget for [`Metrics::at_alert_budget`]: 1 alert per 1,000 windows.
pub const ALERT_BUDGET_PER_1000: f64 = 1.0;

/// Window and alert counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Scored windows.
    pub windows: u64,
    /// Windows overlapping at least one label of their ENI.
    pub positives: u64,
    /// Windows overlapping no label.
    pub negatives: u64,
    /// Windows with `alert` set.
    pub alerts: u64,
    /// Alerting positive windows.
    pub true_positives: u64,
    /// Alerting negative windows.
    pub false_positives: u64,
    /// Labels (rows of the labels file) given.
    pub labels: u64,
    /// Labels that overlap no scored window (their ENI or period was not scored).
    pub labels_without_windows: u64,
    /// Labels entirely outside the evaluated period (before the first window or after the last):
    /// left out of every metric, e.g. attacks in a training split.
    #[serde(default)]
    pub labels_outside_period: u64,
    /// Labels that began before the evaluated period: their attack's delay counts from the
    /// period's start (the first window), not from the label's start.
    #[serde(default)]
    pub labels_started_before: u64,
    /// Windows whose score was NaN (ranked below every number).
    pub nan_scores: u64,
    /// Windows whose `alert` disagrees with `score >= threshold`.
    pub threshold_mismatches: u64,
    /// Windows repeating an earlier window's (ENI, start).
    pub duplicate_windows: u64,
}

/// Recall of one attack type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackTypeRecall {
    /// The attack type, as in the labels file.
    pub attack_type: String,
    /// Windows overlapping a label of this type.
    pub windows: u64,
    /// Of those, windows that alerted.
    pub alerted_windows: u64,
    /// `alerted_windows / windows`; `None` when no window overlaps this type.
    pub recall: Option<f64>,
    /// Distinct attacks (`attack_id`) of this type.
    pub attacks: u64,
    /// Of those, attacks with at least one alerting window.
    pub attacks_detected: u64,
}

/// Detection delay of one attack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackDelay {
    /// The attack's id.
    pub attack_id: u32,
    /// Its type (of its first label row).
    pub attack_type: String,
    /// Earliest label start over its rows, Unix seconds, clipped to the evaluated period's
    /// start (see [`Counts::labels_started_before`]).
    pub start: u64,
    /// Start of the first alerting window within a label range of the attack's ENIs.
    pub first_alert_window: Option<u64>,
    /// End of that window minus the attack start, seconds: the earliest event time at which the
    /// alert can exist (the window must close), excluding watermark lateness.
    pub delay_secs: Option<u64>,
}

/// Detection delay over all attacks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DetectionDelay {
    /// Distinct attacks in the labels.
    pub attacks: u64,
    /// Attacks with an alerting window.
    pub detected: u64,
    /// Attacks never detected (including those with no scored window).
    pub never_detected: u64,
    /// Median delay of detected attacks, seconds (mean of the two middle ones for an even count).
    pub median_secs: Option<f64>,
    /// Largest delay of detected attacks, seconds.
    pub max_secs: Option<u64>,
    /// Per attack, by attack id.
    pub per_attack: Vec<AttackDelay>,
}

/// Precision and recall at one threshold chosen for an alert budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// The budget, alerts per 1,000 windows.
    pub budget_per_1000: f64,
    /// The lowest score threshold within the budget; `None` when no threshold fits (then no
    /// window alerts at this point).
    pub threshold: Option<f64>,
    /// Windows with `score >= threshold`.
    pub alerts: u64,
    /// Alerting positive windows.
    pub true_positives: u64,
    /// `true_positives / positives`.
    pub recall: f64,
    /// Expected recall when exactly the budget's alerts are raised and ties at the boundary
    /// are broken at random (calibrated scores often tie, e.g. at 1.0, and a threshold cannot
    /// split a tie; this says what the ranking is worth at the budget regardless).
    #[serde(default)]
    pub recall_random_ties: f64,
    /// The best recall any detector could reach at this budget: `min(1, budget / positives)`.
    #[serde(default)]
    pub max_recall: f64,
    /// `true_positives / alerts`; `None` without alerts.
    pub precision: Option<f64>,
}

/// Everything [`evaluate`] measures. No field is NaN or infinite: an undefined metric is `None`,
/// with a line in `notes` saying why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The threshold given in [`EvalInput`].
    pub threshold: f64,
    /// Window width, seconds.
    pub window_secs: u64,
    /// Counts.
    pub counts: Counts,
    /// Area under the ROC curve, by the rank statistic (ties count half).
    pub roc_auc: Option<f64>,
    /// Average precision (scikit-learn's step-wise definition).
    pub average_precision: Option<f64>,
    /// Share of positives in the windows (the AP of a random detector).
    pub prevalence: Option<f64>,
    /// `true_positives / alerts`.
    pub precision: Option<f64>,
    /// `true_positives / positives`.
    pub recall: Option<f64>,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: Option<f64>,
    /// `alerts * 1000 / windows`.
    pub alerts_per_1000: Option<f64>,
    /// Recall at the score threshold giving at most [`ALERT_BUDGET_PER_1000`] alert per 1,000
    /// windows; `None` without positives.
    pub at_alert_budget: Option<OperatingPoint>,
    /// Recall per attack type, sorted by type.
    pub per_attack_type: Vec<AttackTypeRecall>,
    /// Detection delay per attack and summarized.
    pub delay: DetectionDelay,
    /// ROC curve for plotting (≤ [`MAX_CURVE_POINTS`] points).
    pub roc_curve: Vec<CurvePoint>,
    /// PR curve for plotting (≤ [`MAX_CURVE_POINTS`] points).
    pub pr_curve: Vec<CurvePoint>,
    /// Why a metric is missing, and anything in the input worth a second look.
    pub notes: Vec<String>,
}

/// Computes every metric for one detector's windows. Never panics; degenerate input (no
/// windows, no positives, no negatives, no alerts) gives `None` metrics and notes.
pub fn evaluate(input: &EvalInput) -> Metrics {
    let (labels, outside, before) = labels_in_period(input);
    let given = input.labels.len() as u64;
    let scoped = EvalInput {
        labels: &labels,
        ..*input
    };
    let input = &scoped;
    let windows = input.windows;
    let gt = GroundTruth::build(windows, input.window_secs, input.labels);
    let mut notes = Vec::new();
    let mut counts = count(input, &gt);
    counts.labels = given;
    counts.labels_outside_period = outside;
    counts.labels_started_before = before;
    let ranked = Ranked::new(
        windows
            .iter()
            .enumerate()
            .map(|(i, w)| (w.score, gt.is_positive(i)))
            .collect(),
    );
    let (precision, recall, f1) = alert_metrics(&counts);
    let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    let budget = budget_for(windows.len(), ALERT_BUDGET_PER_1000);
    if budget >= 1.0 && ranked.positives() > 0 && ranked.top_tie() as f64 > budget {
        // Saturated scores (many windows at the maximum) make the budget unreachable.
        notes.push(format!(
            "{} windows share the top score, more than the {} alerts that 1 per 1,000 \
             windows allows: no threshold fits that budget, so recall there is 0",
            ranked.top_tie(),
            budget.floor()
        ));
    }
    let metrics = Metrics {
        threshold: if input.threshold.is_finite() {
            input.threshold
        } else {
            notes.push(format!(
                "threshold {} is not finite; reported as 0",
                input.threshold
            ));
            0.0
        },
        window_secs: input.window_secs,
        roc_auc: ranked.roc_auc(),
        average_precision: ranked.average_precision(),
        prevalence: ratio(counts.positives, counts.windows),
        precision,
        recall,
        f1,
        alerts_per_1000: ratio(counts.alerts * 1000, counts.windows),
        at_alert_budget: at_budget(&ranked, counts.windows),
        per_attack_type: per_attack_type(input, &gt),
        delay: delay(input, &gt),
        roc_curve: downsample(&ranked.roc_points(), MAX_CURVE_POINTS),
        pr_curve: downsample(&ranked.pr_points(), MAX_CURVE_POINTS),
        counts,
        notes,
    };
    with_notes(metrics)
}

/// The labels that overlap the evaluated period `[first window start, last window end)`, with
/// starts clipped to it (an attack that began before the period, e.g. in the training split,
/// is timed from the period's start), plus how many labels lay outside it and how many were
/// clipped. Without windows there is no period: every label is kept as is.
fn labels_in_period(input: &EvalInput) -> (Vec<Label>, u64, u64) {
    let starts = input.windows.iter().map(|w| w.window_start);
    let (Some(t0), Some(last)) = (starts.clone().min(), starts.max()) else {
        return (input.labels.to_vec(), 0, 0);
    };
    // At least one second wide, so that window_secs = 0 keeps what could still overlap.
    let t1 = last.saturating_add(input.window_secs.max(1));
    let (mut kept, mut outside, mut before) = (Vec::with_capacity(input.labels.len()), 0, 0);
    for l in input.labels {
        if l.start >= t1 || l.end <= t0 {
            outside += 1;
            continue;
        }
        let mut l = l.clone();
        if l.start < t0 {
            l.start = t0;
            before += 1;
        }
        kept.push(l);
    }
    (kept, outside, before)
}

fn count(input: &EvalInput, gt: &GroundTruth) -> Counts {
    let mut c = Counts {
        windows: input.windows.len() as u64,
        labels: input.labels.len() as u64,
        duplicate_windows: gt.duplicate_windows,
        labels_without_windows: gt.windows_of_label.iter().filter(|w| w.is_empty()).count() as u64,
        ..Counts::default()
    };
    for (i, w) in input.windows.iter().enumerate() {
        let pos = gt.is_positive(i);
        c.positives += u64::from(pos);
        c.alerts += u64::from(w.alert);
        c.true_positives += u64::from(w.alert && pos);
        c.false_positives += u64::from(w.alert && !pos);
        c.nan_scores += u64::from(w.score.is_nan());
        c.threshold_mismatches += u64::from(w.alert != (w.score >= input.threshold));
    }
    c.negatives = c.windows - c.positives;
    c
}

fn alert_metrics(c: &Counts) -> (Option<f64>, Option<f64>, Option<f64>) {
    let precision = (c.alerts > 0).then(|| c.true_positives as f64 / c.alerts as f64);
    let recall = (c.positives > 0).then(|| c.true_positives as f64 / c.positives as f64);
    let f1 = match (precision, recall) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        // Without alerts but with positives, nothing was found: F1 is 0, not undefined.
        (None, Some(_)) => Some(0.0),
        _ => None,
    };
    (precision, recall, f1)
}

fn at_budget(ranked: &Ranked, windows: u64) -> Option<OperatingPoint> {
    if ranked.positives() == 0 {
        return None;
    }
    let budget = budget_for(windows as usize, ALERT_BUDGET_PER_1000);
    let (threshold, true_positives, alerts) = ranked.at_budget(budget);
    Some(OperatingPoint {
        budget_per_1000: ALERT_BUDGET_PER_1000,
        threshold,
        alerts,
        true_positives,
        recall: true_positives as f64 / ranked.positives() as f64,
        recall_random_ties: ranked.expected_tp_at_budget(budget) / ranked.positives() as f64,
        max_recall: (budget / ranked.positives() as f64).min(1.0),
        precision: (alerts > 0).then(|| true_positives as f64 / alerts as f64),
    })
}

fn per_attack_type(input: &EvalInput, gt: &GroundTruth) -> Vec<AttackTypeRecall> {
    // type -> (windows, alerted windows, attack id -> detected)
    type Acc = (u64, u64, BTreeMap<u32, bool>);
    let mut by_type: BTreeMap<&str, Acc> = BTreeMap::new();
    for label in input.labels {
        by_type
            .entry(label.attack_type.as_str())
            .or_default()
            .2
            .entry(label.attack_id)
            .or_insert(false);
    }
    for (i, w) in input.windows.iter().enumerate() {
        let Some(label_ids) = gt.labels_of_window.get(i) else {
            continue;
        };
        // A window overlapping two labels of one type counts once for that type.
        let mut types: Vec<&str> = label_ids
            .iter()
            .filter_map(|&l| input.labels.get(l as usize))
            .map(|l| l.attack_type.as_str())
            .collect();
        types.sort_unstable();
        types.dedup();
        for t in types {
            let acc = by_type.entry(t).or_default();
            acc.0 += 1;
            acc.1 += u64::from(w.alert);
        }
        if w.alert {
            for l in label_ids
                .iter()
                .filter_map(|&l| input.labels.get(l as usize))
            {
                by_type
                    .entry(l.attack_type.as_str())
                    .or_default()
                    .2
                    .insert(l.attack_id, true);
            }
        }
    }
    by_type
        .into_iter()
        .map(|(t, (windows, alerted, attacks))| AttackTypeRecall {
            attack_type: t.to_string(),
            windows,
            alerted_windows: alerted,
            recall: (windows > 0).then(|| alerted as f64 / windows as f64),
            attacks: attacks.len() as u64,
            attacks_detected: attacks.values().filter(|d| **d).count() as u64,
        })
        .collect()
}

fn delay(input: &EvalInput, gt: &GroundTruth) -> DetectionDelay {
    // attack id -> (type, start, first alerting window start)
    let mut attacks: BTreeMap<u32, (&str, u64, Option<u64>)> = BTreeMap::new();
    for (li, label) in input.labels.iter().enumerate() {
        let first_alert = gt
            .windows_of_label
            .get(li)
            .into_iter()
            .flatten()
            .filter_map(|&wi| input.windows.get(wi as usize))
            .filter(|w| w.alert)
            .map(|w| w.window_start)
            .min();
        let entry = attacks.entry(label.attack_id).or_insert((
            label.attack_type.as_str(),
            label.start,
            None,
        ));
        entry.1 = entry.1.min(label.start);
        entry.2 = match (entry.2, first_alert) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let per_attack: Vec<AttackDelay> = attacks
        .into_iter()
        .map(|(attack_id, (t, start, first))| AttackDelay {
            attack_id,
            attack_type: t.to_string(),
            start,
            first_alert_window: first,
            delay_secs: first.map(|f| f.saturating_add(input.window_secs).saturating_sub(start)),
        })
        .collect();
    let mut delays: Vec<u64> = per_attack.iter().filter_map(|a| a.delay_secs).collect();
    delays.sort_unstable();
    let median_secs = match delays.len() {
        0 => None,
        n if n % 2 == 1 => delays.get(n / 2).map(|&d| d as f64),
        n => match (delays.get(n / 2 - 1), delays.get(n / 2)) {
            (Some(&a), Some(&b)) => Some((a as f64 + b as f64) / 2.0),
            _ => None,
        },
    };
    DetectionDelay {
        attacks: per_attack.len() as u64,
        detected: delays.len() as u64,
        never_detected: (per_attack.len() - delays.len()) as u64,
        median_secs,
        max_secs: delays.last().copied(),
        per_attack,
    }
}

fn with_notes(mut m: Metrics) -> Metrics {
    let c = &m.counts;
    let mut notes = std::mem::take(&mut m.notes);
    if c.windows == 0 {
        notes.push("no windows were scored: every metric is undefined".into());
    } else {
        if c.positives == 0 {
            notes.push(
                "no window overlaps a label: ROC-AUC, average precision and recall are undefined"
                    .into(),
            );
        }
        if c.negatives == 0 {
            notes.push("every window overlaps a label: ROC-AUC is undefined (no negatives)".into());
        }
        if c.alerts == 0 {
            notes.push("no window alerted: precision is undefined".into());
        }
        if (c.windows as f64) < 1000.0 / ALERT_BUDGET_PER_1000 && c.positives > 0 {
            notes.push(format!(
                "only {} windows: a budget of {ALERT_BUDGET_PER_1000} alert per 1,000 windows \
                 allows no alert, so recall at that budget is 0",
                c.windows
            ));
        }
    }
    if c.labels_without_windows > 0 {
        notes.push(format!(
            "{} of {} labels overlap no scored window (ENI or period not scored); \
             their attacks count as never detected",
            c.labels_without_windows, c.labels
        ));
    }
    if c.labels_outside_period > 0 {
        notes.push(format!(
            "{} of {} labels lie entirely outside the evaluated period and were left out",
            c.labels_outside_period, c.labels
        ));
    }
    if c.labels_started_before > 0 {
        notes.push(format!(
            "{} labels began before the evaluated period; their detection delay counts from \
             its start",
            c.labels_started_before
        ));
    }
    if c.nan_scores > 0 {
        notes.push(format!(
            "{} windows had a NaN score; ranked lowest",
            c.nan_scores
        ));
    }
    if c.threshold_mismatches > 0 {
        notes.push(format!(
            "{} windows have `alert` different from `score >= threshold` ({}); alert metrics \
             follow `alert`",
            c.threshold_mismatches, m.threshold
        ));
    }
    if c.duplicate_windows > 0 {
        notes.push(format!(
            "{} windows repeat an earlier (ENI, start); each was counted",
            c.duplicate_windows
        ));
    }
    if m.window_secs == 0 {
        notes.push("window_secs is 0: windows overlap labels only strictly inside them".into());
    }
    m.notes = notes;
    m
}
