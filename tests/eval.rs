//! Evaluation metrics (`flowvigil::eval`): window ground truth, ROC-AUC, average precision,
//! alert metrics, per-attack recall, detection delay, degenerate inputs, and the reference
//! isolation forest. A new test of `src/eval/` goes here; report rendering tests go in
//! `tests/report_browser.rs`.
//!
//! Hand cases state their arithmetic in comments; proptests check the metrics against their
//! textbook definitions computed the slow way.

use flowvigil::eval::{
    evaluate, mark_alerts, threshold_for_alert_rate, EvalInput, IsolationForestError,
    IsolationForestParams, IsolationForestParamsError, Metrics, ScoredWindow, MAX_CURVE_POINTS,
};
use flowvigil::labels::Label;
use proptest::prelude::*;

const W: u64 = 300;

fn win(eni: &str, start: u64, score: f64, alert: bool) -> ScoredWindow {
    ScoredWindow {
        eni: eni.into(),
        window_start: start,
        score,
        alert,
        findings: vec![],
    }
}

fn label(id: u32, kind: &str, eni: &str, start: u64, end: u64) -> Label {
    Label {
        attack_id: id,
        attack_type: kind.into(),
        eni: eni.into(),
        start,
        end,
        attacker: None,
        victim: None,
    }
}

fn eval(windows: &[ScoredWindow], labels: &[Label], threshold: f64) -> Metrics {
    evaluate(&EvalInput {
        windows,
        window_secs: W,
        labels,
        threshold,
    })
}

/// Scores and 0/1 truth as one ENI's consecutive windows, the truth given by one label each.
fn from_scores(scores: &[f64], truth: &[bool], threshold: f64) -> Metrics {
    let windows: Vec<ScoredWindow> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| win("eni-a", i as u64 * W, s, s >= threshold))
        .collect();
    let labels: Vec<Label> = truth
        .iter()
        .enumerate()
        .filter(|(_, t)| **t)
        .map(|(i, _)| label(i as u32, "x", "eni-a", i as u64 * W, i as u64 * W + 1))
        .collect();
    eval(&windows, &labels, threshold)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn scikit_learn_docstring_example() {
    // sklearn.metrics docs: y_true = [0, 0, 1, 1], y_scores = [0.1, 0.4, 0.35, 0.8]
    // average_precision_score → 0.8333…, roc_auc_score → 0.75.
    let m = from_scores(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true], 0.5);
    assert!(close(m.average_precision.unwrap(), 5.0 / 6.0));
    assert!(close(m.roc_auc.unwrap(), 0.75));
    assert_eq!(m.prevalence, Some(0.5));
}

#[test]
fn alert_metrics_on_a_hand_case() {
    // ENI a: windows 0..5 (starts 0, 300, ..., 1200); a port scan covers [250, 700) → windows
    // 0, 1, 2 are positive ([0,300) overlaps at 250..300). ENI b: 2 windows, an exfiltration
    // on [300, 600) → b's window 1 positive. Alerts: a1, a2, a4, b0.
    let windows = vec![
        win("eni-a", 0, 0.2, false),
        win("eni-a", 300, 0.9, true),
        win("eni-a", 600, 0.8, true),
        win("eni-a", 900, 0.1, false),
        win("eni-a", 1200, 0.7, true),
        win("eni-b", 0, 0.75, true),
        win("eni-b", 300, 0.3, false),
    ];
    let labels = vec![
        label(1, "port_scan", "eni-a", 250, 700),
        label(2, "exfiltration", "eni-b", 300, 600),
    ];
    let m = eval(&windows, &labels, 0.5);
    let c = &m.counts;
    assert_eq!((c.windows, c.positives, c.negatives), (7, 4, 3));
    assert_eq!((c.alerts, c.true_positives, c.false_positives), (4, 2, 2));
    assert_eq!(c.threshold_mismatches, 0);
    assert_eq!(m.precision, Some(0.5)); // 2 of 4 alerts
    assert_eq!(m.recall, Some(0.5)); // 2 of 4 positives
    assert_eq!(m.f1, Some(0.5));
    assert!(close(m.alerts_per_1000.unwrap(), 4000.0 / 7.0));

    let types: Vec<(&str, u64, u64, Option<f64>, u64)> = m
        .per_attack_type
        .iter()
        .map(|t| {
            (
                t.attack_type.as_str(),
                t.windows,
                t.alerted_windows,
                t.recall,
                t.attacks_detected,
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("exfiltration", 1, 0, Some(0.0), 0),
            ("port_scan", 3, 2, Some(2.0 / 3.0), 1)
        ]
    );

    // Port scan starts at 250; first alerting window in range starts at 300 and ends at 600.
    let d = &m.delay;
    assert_eq!((d.attacks, d.detected, d.never_detected), (2, 1, 1));
    assert_eq!(d.max_secs, Some(350));
    assert_eq!(d.median_secs, Some(350.0));
    assert_eq!(d.per_attack[0].first_alert_window, Some(300));
    assert_eq!(d.per_attack[1].delay_secs, None);

    // Ranking: positives 0.2, 0.9, 0.8, 0.3; negatives 0.1, 0.7, 0.75.
    // Pairs positive > negative: 0.2>0.1; 0.9 > all 3; 0.8 > all 3; 0.3>0.1 → 1+3+3+1 = 8 of 12.
    assert!(close(m.roc_auc.unwrap(), 8.0 / 12.0));
    // Ranked: .9+ .8+ .75- .7- .3+ .2+ .1-: AP = ¼(1/1 + 2/2 + 3/5 + 4/6).
    assert!(close(
        m.average_precision.unwrap(),
        0.25 * (1.0 + 1.0 + 0.6 + 4.0 / 6.0)
    ));
    // 7 windows allow no alert at 1 per 1,000.
    let op = m.at_alert_budget.as_ref().unwrap();
    assert_eq!((op.threshold, op.alerts, op.recall), (None, 0, 0.0));
    assert!(m.notes.iter().any(|n| n.contains("allows no alert")));
}

#[test]
fn attack_over_two_enis_takes_its_earliest_start_and_first_alert() {
    let windows = vec![
        win("a", 0, 0.1, false),
        win("a", 300, 0.1, false),
        win("b", 600, 0.9, true),
    ];
    let labels = vec![
        label(7, "lateral", "a", 100, 900),
        label(7, "lateral", "b", 650, 900),
    ];
    let m = eval(&windows, &labels, 0.5);
    let a = &m.delay.per_attack;
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].start, a[0].first_alert_window, a[0].delay_secs),
        (100, Some(600), Some(800))
    );
    assert_eq!(m.per_attack_type[0].attacks, 1);
}

#[test]
fn alerts_outside_the_label_range_do_not_count_as_detection() {
    let windows = vec![win("a", 0, 0.9, true), win("a", 900, 0.1, false)];
    let m = eval(&windows, &[label(1, "scan", "a", 900, 1000)], 0.5);
    assert_eq!(m.delay.never_detected, 1);
    assert_eq!(m.recall, Some(0.0));
    assert_eq!(m.precision, Some(0.0));
    assert_eq!(m.f1, Some(0.0));
}

#[test]
fn recall_at_the_alert_budget() {
    // 3,000 windows allow 3 alerts at 1 per 1,000. The four top scores: 100+, 99-, 98+, 97+:
    // the threshold is 98 (3 alerts), catching 2 of the 3 positives.
    let mut scores: Vec<f64> = (0..2996).map(|i| f64::from(i % 50)).collect();
    let mut truth = vec![false; 2996];
    scores.extend([100.0, 99.0, 98.0, 97.0]);
    truth.extend([true, false, true, true]);
    let m = from_scores(&scores, &truth, 1000.0);
    let op = m.at_alert_budget.unwrap();
    assert_eq!(
        (op.threshold, op.alerts, op.true_positives),
        (Some(98.0), 3, 2)
    );
    assert!(close(op.recall, 2.0 / 3.0));
    assert!(close(op.precision.unwrap(), 2.0 / 3.0));
}

#[test]
fn recall_at_the_budget_with_random_ties_and_its_ceiling() {
    // 3,000 windows allow 3 alerts. Top score 100 held by 1 positive; then 4 windows tie at 99
    // (2 positives, 2 negatives); 6 positives in all. A threshold cannot split the tie (strict
    // recall 1/6), random tie-breaking fills the 2 remaining alerts from the tie: expected
    // true positives 1 + 2 × 2/4 = 2, recall 2/6. The best possible: 3 alerts / 6 positives.
    let mut scores = vec![0.0; 2995];
    let mut truth = vec![false; 2995];
    truth[..3].fill(true);
    scores.extend([100.0, 99.0, 99.0, 99.0, 99.0]);
    truth.extend([true, true, true, false, false]);
    let m = from_scores(&scores, &truth, 1000.0);
    let op = m.at_alert_budget.unwrap();
    assert_eq!((op.threshold, op.true_positives), (Some(100.0), 1));
    assert!(close(op.recall, 1.0 / 6.0));
    assert!(
        close(op.recall_random_ties, 2.0 / 6.0),
        "{}",
        op.recall_random_ties
    );
    assert!(close(op.max_recall, 0.5));
}

#[test]
fn labels_outside_the_evaluated_period_are_left_out_and_early_ones_timed_from_its_start() {
    // Ten windows cover [3000, 6000). Label 1 lies before it (a training split's attack),
    // label 3 after it; label 2 began at 2000, before the period, and the window at 3000
    // alerts: its delay is 3000 + 300 − 3000 = 300 s (not 1,300 s from the label's start).
    let windows: Vec<ScoredWindow> = (0..10)
        .map(|i| win("a", 3000 + i * W, if i == 0 { 0.9 } else { 0.1 }, i == 0))
        .collect();
    let labels = [
        label(1, "early", "a", 0, 1000),
        label(2, "spanning", "a", 2000, 3400),
        label(3, "late", "a", 6000, 7000),
    ];
    let m = eval(&windows, &labels, 0.5);
    assert_eq!(m.counts.labels, 3);
    assert_eq!(m.counts.labels_outside_period, 2);
    assert_eq!(m.counts.labels_started_before, 1);
    assert_eq!(m.counts.labels_without_windows, 0);
    assert_eq!((m.delay.attacks, m.delay.detected), (1, 1));
    assert_eq!(m.delay.per_attack[0].start, 3000);
    assert_eq!(m.delay.max_secs, Some(300));
    assert_eq!(m.per_attack_type.len(), 1, "{:?}", m.per_attack_type);
    assert_eq!(
        m.counts.positives, 2,
        "windows 3000 and 3300 overlap [2000, 3400)"
    );
    assert!(m
        .notes
        .iter()
        .any(|n| n.contains("2 of 3 labels lie entirely outside")));
}

#[test]
fn saturated_top_scores_are_explained() {
    // 2,000 windows allow 2 alerts; 5 windows share the top score 1.0.
    let mut scores = vec![0.1; 1995];
    scores.extend([1.0; 5]);
    let mut truth = vec![false; 1995];
    truth.extend([true; 5]);
    let m = from_scores(&scores, &truth, 1.0);
    let op = m.at_alert_budget.as_ref().unwrap();
    assert_eq!((op.threshold, op.alerts, op.recall), (None, 0, 0.0));
    assert!(
        m.notes
            .iter()
            .any(|n| n.contains("5 windows share the top score")),
        "{:?}",
        m.notes
    );
}

#[test]
fn degenerate_inputs_give_none_and_notes() {
    let empty = eval(&[], &[], 0.5);
    assert_eq!(empty.counts.windows, 0);
    assert!(empty.roc_auc.is_none() && empty.average_precision.is_none());
    assert!(empty.precision.is_none() && empty.recall.is_none() && empty.f1.is_none());
    assert!(empty.alerts_per_1000.is_none() && empty.at_alert_budget.is_none());
    assert!(empty.roc_curve.is_empty() && empty.pr_curve.is_empty());
    assert!(empty.notes.iter().any(|n| n.contains("no windows")));

    let no_pos = from_scores(&[0.1, 0.9], &[false, false], 0.5);
    assert!(no_pos.roc_auc.is_none() && no_pos.average_precision.is_none());
    assert!(no_pos.recall.is_none());
    assert_eq!(no_pos.precision, Some(0.0));
    assert!(no_pos
        .notes
        .iter()
        .any(|n| n.contains("no window overlaps")));

    let no_neg = from_scores(&[0.1, 0.9], &[true, true], 0.5);
    assert!(no_neg.roc_auc.is_none());
    assert_eq!(no_neg.average_precision, Some(1.0));
    assert!(no_neg.notes.iter().any(|n| n.contains("no negatives")));

    let nan = from_scores(&[f64::NAN, f64::NAN, 1.0], &[true, false, false], 0.5);
    assert_eq!(nan.counts.nan_scores, 2);
    assert!(nan.roc_auc.unwrap() < 0.5);
    assert!(nan.notes.iter().any(|n| n.contains("NaN")));

    let orphan = eval(
        &[win("a", 0, 0.0, false)],
        &[label(1, "x", "zz", 0, 10)],
        f64::NAN,
    );
    assert_eq!(orphan.counts.labels_without_windows, 1);
    assert_eq!(orphan.delay.never_detected, 1);
    assert_eq!(orphan.threshold, 0.0);
    assert!(serde_json::to_string(&orphan)
        .unwrap()
        .contains("\"threshold\":0.0"));
}

#[test]
fn mismatched_alerts_are_noted() {
    let ws = vec![win("a", 0, 0.9, false), win("a", 300, 0.1, true)];
    let m = eval(&ws, &[], 0.5);
    assert_eq!(m.counts.threshold_mismatches, 2);
    assert!(m
        .notes
        .iter()
        .any(|n| n.contains("alert metrics follow `alert`")));
}

#[test]
fn reference_detector_budget_helpers() {
    let mut ws: Vec<ScoredWindow> = (0..2000)
        .map(|i| win("a", i * W, i as f64, false))
        .collect();
    let scores: Vec<f64> = ws.iter().map(|w| w.score).collect();
    let t = threshold_for_alert_rate(&scores, 1.0).unwrap();
    mark_alerts(&mut ws, t);
    let m = eval(&ws, &[], t);
    assert_eq!(m.counts.alerts, 2);
    assert_eq!(m.alerts_per_1000, Some(1.0));
}

// ---- proptests: definitions computed the slow way ----

fn pairwise_auc(scores: &[f64], truth: &[bool]) -> Option<f64> {
    let (mut sum, mut pairs) = (0.0, 0u64);
    for (i, &si) in scores.iter().enumerate() {
        for (j, &sj) in scores.iter().enumerate() {
            if truth[i] && !truth[j] {
                pairs += 1;
                sum += if si > sj {
                    1.0
                } else if si == sj {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    (pairs > 0).then(|| sum / pairs as f64)
}

/// scikit-learn's AP: for each distinct threshold t (descending), (R(t) − R(prev)) · P(t).
fn brute_ap(scores: &[f64], truth: &[bool]) -> Option<f64> {
    let pos = truth.iter().filter(|t| **t).count();
    if pos == 0 {
        return None;
    }
    let mut thresholds: Vec<f64> = scores.to_vec();
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    let (mut ap, mut prev_recall) = (0.0, 0.0);
    for t in thresholds {
        let tp = (0..scores.len())
            .filter(|&i| scores[i] >= t && truth[i])
            .count();
        let alerts = scores.iter().filter(|s| **s >= t).count();
        let recall = tp as f64 / pos as f64;
        ap += (recall - prev_recall) * tp as f64 / alerts as f64;
        prev_recall = recall;
    }
    Some(ap)
}

fn scores_and_truth() -> impl Strategy<Value = (Vec<f64>, Vec<bool>)> {
    // Few distinct values so that ties are common.
    proptest::collection::vec((0u8..12, any::<bool>()), 0..60).prop_map(|v| {
        (
            v.iter().map(|(s, _)| f64::from(*s) / 4.0).collect(),
            v.iter().map(|(_, t)| *t).collect(),
        )
    })
}

fn all_finite(m: &Metrics) -> bool {
    let opts = [
        m.roc_auc,
        m.average_precision,
        m.prevalence,
        m.precision,
        m.recall,
        m.f1,
        m.alerts_per_1000,
        m.delay.median_secs,
    ];
    opts.iter().flatten().all(|x| x.is_finite())
        && m.roc_curve
            .iter()
            .chain(&m.pr_curve)
            .all(|p| p.x.is_finite() && p.y.is_finite())
        && m.per_attack_type
            .iter()
            .filter_map(|t| t.recall)
            .all(f64::is_finite)
}

proptest! {
    #[test]
    fn auc_equals_the_pairwise_definition((scores, truth) in scores_and_truth()) {
        let m = from_scores(&scores, &truth, 1.0);
        match (m.roc_auc, pairwise_auc(&scores, &truth)) {
            (Some(a), Some(b)) => prop_assert!((a - b).abs() < 1e-12, "{} vs {}", a, b),
            (a, b) => prop_assert_eq!(a, b),
        }
    }

    #[test]
    fn ap_equals_the_sklearn_definition((scores, truth) in scores_and_truth()) {
        let m = from_scores(&scores, &truth, 1.0);
        match (m.average_precision, brute_ap(&scores, &truth)) {
            (Some(a), Some(b)) => {
                prop_assert!((a - b).abs() < 1e-12, "{} vs {}", a, b);
                prop_assert!((0.0..=1.0).contains(&a));
            }
            (a, b) => prop_assert_eq!(a, b),
        }
    }

    #[test]
    fn ranking_metrics_ignore_monotone_transforms((scores, truth) in scores_and_truth()) {
        let a = from_scores(&scores, &truth, 1.0);
        let t: Vec<f64> = scores.iter().map(|s| (3.0 * s).exp() - 7.0).collect();
        let b = from_scores(&t, &truth, (3.0f64).exp() - 7.0);
        prop_assert_eq!(a.roc_auc, b.roc_auc);
        prop_assert_eq!(a.average_precision, b.average_precision);
        prop_assert_eq!(a.counts, b.counts);
        // A decreasing transform mirrors the AUC.
        let neg: Vec<f64> = scores.iter().map(|s| -s).collect();
        let c = from_scores(&neg, &truth, -1.0);
        if let (Some(x), Some(y)) = (a.roc_auc, c.roc_auc) {
            prop_assert!((x + y - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn metrics_are_finite_bounded_and_curves_monotone(
        (scores, truth) in scores_and_truth(),
        thr in 0.0f64..3.0,
    ) {
        let m = from_scores(&scores, &truth, thr);
        prop_assert!(all_finite(&m));
        for v in [m.roc_auc, m.average_precision, m.precision, m.recall, m.f1].iter().flatten() {
            prop_assert!((0.0..=1.0).contains(v));
        }
        prop_assert!(m.roc_curve.len() <= MAX_CURVE_POINTS && m.pr_curve.len() <= MAX_CURVE_POINTS);
        for p in m.roc_curve.windows(2) {
            prop_assert!(p[1].x >= p[0].x && p[1].y >= p[0].y);
        }
        if let Some(last) = m.roc_curve.last() {
            prop_assert_eq!((last.x, last.y), (1.0, 1.0));
        }
        prop_assert_eq!(m.counts.positives + m.counts.negatives, m.counts.windows);
        prop_assert_eq!(m.counts.true_positives + m.counts.false_positives, m.counts.alerts);
    }

    #[test]
    fn curves_stay_bounded_for_many_distinct_scores(seed in any::<u64>()) {
        // 5,000 distinct scores: curves are downsampled, their ends kept.
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
        let scores: Vec<f64> = (0..5000).map(|i| f64::from(i) + (next() % 1000) as f64 * 1e-4).collect();
        let truth: Vec<bool> = (0..5000).map(|_| next() % 5 == 0).collect();
        let m = from_scores(&scores, &truth, 1e9);
        prop_assert!(m.roc_curve.len() <= MAX_CURVE_POINTS && m.roc_curve.len() > 50);
        prop_assert!(m.pr_curve.len() <= MAX_CURVE_POINTS);
        prop_assert_eq!(m.pr_curve.first().map(|p| (p.x, p.y)), Some((0.0, 1.0)));
    }
}

// ---- the reference isolation forest ----

/// Points around (1, 10.5, 0.25), denser at the centre (sums of uniforms), deterministic.
fn cluster(n: usize, seed: u64) -> Vec<[f64; 3]> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut unit = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut bell = move || (unit() + unit() + unit() + unit()) / 4.0 - 0.5;
    (0..n)
        .map(|_| [1.0 + 2.0 * bell(), 10.5 + bell(), 0.25 + 0.5 * bell()])
        .collect()
}

#[test]
fn isolation_forest_ranks_obvious_outliers_above_inliers() {
    let train = cluster(2000, 1);
    let forest = IsolationForestParams::new().seed(42).fit(&train).unwrap();
    let mut inliers: Vec<f64> = cluster(200, 2).iter().map(|x| forest.score(x)).collect();
    inliers.sort_by(f64::total_cmp);
    let (median, worst) = (inliers[100], inliers[199]);
    // Off the cluster in every feature: above every inlier.
    for o in [[50.0, -40.0, 30.0], [-9.0, 25.0, -3.0], [4.0, 13.0, 1.5]] {
        let s = forest.score(&o);
        assert!(
            s > worst,
            "outlier {o:?} scored {s} <= worst inlier {worst}"
        );
        assert!(s > 0.6 && s <= 1.0, "{s}");
    }
    // Off in one feature only: trees split within the training range, so such a point looks
    // like the cluster's edge (a known limit of axis-parallel isolation), still above the median.
    for o in [[50.0, 10.5, 0.25], [1.0, -40.0, 0.25]] {
        let s = forest.score(&o);
        assert!(
            s > median,
            "outlier {o:?} scored {s} <= median inlier {median}"
        );
    }
    let centre = forest.score(&[1.0, 10.5, 0.25]);
    assert!(
        centre < 0.5 && centre < median,
        "the centre scores {centre}"
    );
}

#[test]
fn isolation_forest_is_deterministic_for_a_seed() {
    let train = cluster(500, 3);
    let probe = cluster(50, 4);
    let fit = |seed| {
        IsolationForestParams::new()
            .n_trees(30)
            .seed(seed)
            .fit(&train)
            .unwrap()
    };
    let (a, b, c) = (fit(7), fit(7), fit(8));
    let sa: Vec<f64> = probe.iter().map(|x| a.score(x)).collect();
    let sb: Vec<f64> = probe.iter().map(|x| b.score(x)).collect();
    let sc: Vec<f64> = probe.iter().map(|x| c.score(x)).collect();
    assert_eq!(sa, sb);
    assert_ne!(sa, sc, "another seed grows other trees");
}

#[test]
fn isolation_forest_rejects_bad_params_and_data() {
    let p = IsolationForestParams::new;
    assert_eq!(
        p().n_trees(0).check(),
        Err(IsolationForestParamsError::Trees(0))
    );
    assert_eq!(
        p().n_trees(10_001).check(),
        Err(IsolationForestParamsError::Trees(10_001))
    );
    assert_eq!(
        p().sample_size(1).check(),
        Err(IsolationForestParamsError::SampleSize(1))
    );
    assert_eq!(
        p().sample_size(1 << 20).check(),
        Err(IsolationForestParamsError::SampleSize(1 << 20))
    );
    let valid = p().n_trees(3).sample_size(2).seed(9).check().unwrap();
    assert_eq!(
        (valid.n_trees(), valid.sample_size(), valid.seed()),
        (3, 2, 9)
    );

    assert_eq!(
        p().fit(&[[1.0, 2.0]]).unwrap_err(),
        IsolationForestError::TooFewRows(1)
    );
    let err = p().fit(&[[1.0, 2.0], [f64::NAN, 0.0]]).unwrap_err();
    assert!(matches!(
        err,
        IsolationForestError::NonFinite {
            row: 1,
            column: 0,
            ..
        }
    ));
    assert!(err.to_string().contains("row 1"));
    assert_eq!(
        p().fit::<0>(&[[], []]).unwrap_err(),
        IsolationForestError::NoFeatures
    );
    assert!(matches!(
        p().n_trees(0).fit(&[[1.0], [2.0]]),
        Err(IsolationForestError::Params(
            IsolationForestParamsError::Trees(0)
        ))
    ));
}

#[test]
fn isolation_forest_handles_constant_data_and_nan_probes() {
    // Nothing can split constant data: every point has the same, finite score.
    let forest = IsolationForestParams::new()
        .fit(&[[5.0, 5.0]; 300])
        .unwrap();
    let s = forest.score(&[5.0, 5.0]);
    assert!(s.is_finite() && s > 0.0 && s <= 1.0);
    assert_eq!(s, forest.score(&[1e9, -1e9]));
    assert!(forest.score(&[f64::NAN, 0.0]).is_finite());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn isolation_forest_scores_lie_in_the_unit_interval(
        rows in proptest::collection::vec(proptest::array::uniform2(-1e6f64..1e6), 2..80),
        probe in proptest::array::uniform2(-1e7f64..1e7),
        seed in any::<u64>(),
    ) {
        let forest = IsolationForestParams::new().n_trees(10).seed(seed).fit(&rows).unwrap();
        let s = forest.score(&probe);
        prop_assert!(s > 0.0 && s <= 1.0, "{}", s);
    }
}

// ---- invariance to input order, and multi-attack summaries ----

fn labeled_windows() -> impl Strategy<Value = (Vec<ScoredWindow>, Vec<Label>)> {
    let windows = proptest::collection::vec((0u8..3, 0u64..40, 0u8..8, any::<bool>()), 0..80)
        .prop_map(|v| {
            v.into_iter()
                .map(|(e, i, s, a)| win(&format!("eni-{e}"), i * W, f64::from(s), a))
                .collect::<Vec<_>>()
        });
    let labels = proptest::collection::vec((0u32..5, 0u8..3, 0u64..12_000, 1u64..3_000), 0..6)
        .prop_map(|v| {
            v.into_iter()
                .map(|(id, e, s, len)| {
                    let kind = ["scan", "exfil", "brute"][(id % 3) as usize];
                    label(id, kind, &format!("eni-{e}"), s, s + len)
                })
                .collect::<Vec<_>>()
        });
    (windows, labels)
}

proptest! {
    #[test]
    fn metrics_do_not_depend_on_window_order(
        (windows, labels) in labeled_windows(),
        seed in any::<u64>(),
    ) {
        let a = eval(&windows, &labels, 4.0);
        // A deterministic shuffle.
        let mut shuffled = windows.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let b = eval(&shuffled, &labels, 4.0);
        prop_assert_eq!(&a.counts, &b.counts);
        prop_assert_eq!(a.roc_auc, b.roc_auc);
        prop_assert_eq!(a.average_precision, b.average_precision);
        prop_assert_eq!(&a.per_attack_type, &b.per_attack_type);
        prop_assert_eq!(&a.delay, &b.delay);
        prop_assert_eq!(&a.roc_curve, &b.roc_curve);
    }

    #[test]
    fn per_type_and_delay_summaries_are_consistent((windows, labels) in labeled_windows()) {
        let m = eval(&windows, &labels, 4.0);
        let d = &m.delay;
        prop_assert_eq!(d.detected + d.never_detected, d.attacks);
        prop_assert_eq!(d.per_attack.len() as u64, d.attacks);
        let detected_by_type: u64 = m.per_attack_type.iter().map(|t| t.attacks_detected).sum();
        prop_assert!(detected_by_type >= d.detected);
        for t in &m.per_attack_type {
            prop_assert!(t.alerted_windows <= t.windows && t.windows <= m.counts.positives);
            prop_assert!(t.attacks_detected <= t.attacks);
        }
        // Every type's windows together cover every positive window.
        let by_type: u64 = m.per_attack_type.iter().map(|t| t.windows).sum();
        prop_assert!(by_type >= m.counts.positives);
        if let (Some(med), Some(max)) = (d.median_secs, d.max_secs) {
            prop_assert!(med <= max as f64);
        }
        // A detected attack's delay is at least 1 window minus the part before the label.
        for a in &d.per_attack {
            if let (Some(first), Some(delay)) = (a.first_alert_window, a.delay_secs) {
                prop_assert_eq!(delay, (first + W).saturating_sub(a.start));
            }
        }
    }
}

#[test]
fn median_delay_of_an_even_count_is_the_mean_of_the_middle_two() {
    // Attack 1 detected in its first window (delay 300), attack 2 in its second (delay 600).
    let windows = vec![
        win("a", 0, 0.9, true),
        win("b", 0, 0.1, false),
        win("b", 300, 0.9, true),
    ];
    let labels = vec![label(1, "x", "a", 0, 600), label(2, "x", "b", 0, 600)];
    let d = eval(&windows, &labels, 0.5).delay;
    assert_eq!(d.median_secs, Some(450.0));
    assert_eq!(d.max_secs, Some(600));
}

#[test]
fn isolation_forest_scores_slices_and_treats_missing_features_as_nan() {
    let train = cluster(300, 5);
    let forest = IsolationForestParams::new()
        .n_trees(20)
        .fit(&train)
        .unwrap();
    let row = [1.0, 10.5, 0.25];
    assert_eq!(forest.score(&row), forest.score(&row[..]));
    assert_eq!(forest.score(&[1.0, 10.5, 0.25, 99.0]), forest.score(&row));
    assert_eq!(
        forest.score(&[1.0]),
        forest.score(&[1.0, f64::NAN, f64::NAN])
    );
}

proptest! {
    #[test]
    fn rate_threshold_stays_within_budget_and_matches_the_metric(
        (scores, truth) in scores_and_truth(),
        rate in prop_oneof![Just(1.0), 1.0f64..400.0],
    ) {
        let mut ws: Vec<ScoredWindow> =
            scores.iter().enumerate().map(|(i, &s)| win("a", i as u64 * W, s, false)).collect();
        let t = threshold_for_alert_rate(&scores, rate);
        if let Some(t) = t {
            mark_alerts(&mut ws, t);
            let alerts = ws.iter().filter(|w| w.alert).count() as f64;
            prop_assert!(alerts >= 1.0 && alerts <= scores.len() as f64 * rate / 1000.0);
            // The next lower score would exceed the budget (or there is none).
            let lower = scores.iter().copied().filter(|s| *s < t).fold(f64::NEG_INFINITY, f64::max);
            if lower.is_finite() {
                let more = scores.iter().filter(|s| **s >= lower).count() as f64;
                prop_assert!(more > scores.len() as f64 * rate / 1000.0);
            }
        }
        if rate == 1.0 {
            let m = from_scores(&scores, &truth, 99.0);
            if let Some(op) = m.at_alert_budget {
                prop_assert_eq!(op.threshold, t);
                // Random tie-breaking can only use more of the budget than a threshold can, and
                // no ranking beats the ceiling.
                prop_assert!(op.recall <= op.recall_random_ties + 1e-12);
                prop_assert!(op.recall_random_ties <= op.max_recall + 1e-12);
                prop_assert!(op.max_recall <= 1.0);
            }
        }
    }
}

proptest! {
    /// Labels entirely before or after the scored windows change no metric: they are counted
    /// and noted, nothing else.
    #[test]
    fn labels_outside_the_period_change_no_metric((scores, truth) in scores_and_truth()) {
        prop_assume!(!scores.is_empty());
        let base = from_scores(&scores, &truth, 1.0);
        let windows: Vec<ScoredWindow> = scores
            .iter()
            .enumerate()
            .map(|(i, &s)| win("eni-a", 10_000 + i as u64 * W, s, s >= 1.0))
            .collect();
        let mut labels: Vec<Label> = truth
            .iter()
            .enumerate()
            .filter(|(_, t)| **t)
            .map(|(i, _)| label(i as u32, "x", "eni-a", 10_000 + i as u64 * W, 10_001 + i as u64 * W))
            .collect();
        let same = eval(&windows, &labels, 1.0);
        labels.push(label(900, "x", "eni-a", 0, 10_000));
        labels.push(label(901, "y", "eni-a", 10_000 + scores.len() as u64 * W, u64::MAX));
        let more = eval(&windows, &labels, 1.0);
        prop_assert_eq!(more.counts.labels_outside_period, 2);
        prop_assert_eq!(more.roc_auc, same.roc_auc);
        prop_assert_eq!(more.average_precision, same.average_precision);
        prop_assert_eq!(&more.per_attack_type, &same.per_attack_type);
        prop_assert_eq!(&more.delay, &same.delay);
        prop_assert_eq!(more.counts.positives, base.counts.positives);
    }
}
