//! The read-only [`Scorer`] and the per-ENI mutable [`EniState`]: the online contract.
//!
//! `score_one` scores a window *before* learning it, then learns it unless it alerted and
//! protection is on (river's `AnomalyFilter`): repeating an attack does not teach the model that
//! it is normal. A window with a typed finding of Medium severity or more (a recognised attack
//! pattern) is always protected. An alert without one (an unexplained change) is protected for
//! at most `protect_max_windows` alerting windows in a row per ENI (default 24, two hours of
//! 5-minute windows; 0 = no limit): after that such windows are learned until one does not
//! alert, so a lasting benign change in an ENI's traffic becomes its new normal instead of
//! alerting for ever (the "lock-in" seen on DARPA 1998's router). The beacon tracker is
//! evidence, not a baseline: it is updated in any case.
//!
//! Expected value of feature `f` for an ENI with `n` learned windows (model space):
//! `μ = w·m_eni + (1 − w)·m_group (+ hour offset for volume features)` with `w = n / (n + n0)`;
//! variance `w·v_eni + (1 − w)·v_group + σ_min²`, where `σ_min = max(0.05·σ_global, 0.05)` keeps
//! a perfectly steady ENI from making every change infinite.
//!
//! State bound per ENI: [`EwStats`] (22 means and variances), [`Season`] (24 hours), a
//! [`BeaconTracker`] of at most 6 pairs, and counters: under 1 KiB serialized (measured in
//! `tests/model.rs`), whatever the input.

use serde::{Deserialize, Serialize};

use super::baseline::{activity, hour_of, EwStats, Season, SEASONAL_FEATURES};
use super::beacon::BeaconTracker;
use super::calibrate::{Calibration, NUM_DETECTORS};
use super::explain::{Contribution, Explanation};
use super::findings::{
    self, brute_slot, Finding, FindingRules, RuleContext, Severity, BRUTE_SLOTS,
};
use super::peers::{nearest, PeerGroup, Scaler};
use super::verdict::{DetectorScores, Verdict};
use crate::features::{Feature, WindowFeatures, LOG_SCALED, NUM_FEATURES};

/// Scoring configuration, fixed at training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScorerConfig {
    /// Half-life of the per-ENI baselines, in windows.
    pub half_life_windows: f64,
    /// Per-window decay derived from the half-life.
    pub decay: f64,
    /// Prior strength `n0` of cold-start shrinkage, in windows.
    pub prior_windows: f64,
    /// Do not learn from windows that alerted.
    pub protect: bool,
    /// Most alerting windows in a row protected per ENI when they have no typed finding of
    /// Medium severity or more (0 = no limit); see the module doc.
    pub protect_max_windows: u32,
    /// Window width, seconds (for rates).
    pub window_secs: u32,
    /// Seasonality applies once the ENI spans this many days and the hour has
    /// `season_min_count` windows.
    pub season_min_days: u32,
    /// Windows an hour needs before its offset is used.
    pub season_min_count: u8,
    /// Finding thresholds.
    pub rules: FindingRules,
}

/// The read-only part of a model: everything scoring needs besides the ENI's own state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scorer {
    /// Configuration.
    pub config: ScorerConfig,
    /// Global standardization.
    pub scaler: Scaler,
    /// Peer groups (at least one).
    pub groups: Vec<PeerGroup>,
    /// Detector quantiles and the threshold.
    pub calibration: Calibration,
    /// Smallest standard deviation per feature (model space).
    pub min_sigma: [f64; NUM_FEATURES],
}

/// Everything the scorer keeps about one ENI. `Send`, `Clone`, serializable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EniState {
    /// Online EW baseline.
    pub stats: EwStats,
    /// Hour-of-day profile.
    pub season: Season,
    /// Beaconing tracker.
    pub beacons: BeaconTracker,
    /// EW mean of flows per window on each brute-forced port and direction
    /// ([`findings::brute_slot`]), learned like the baseline (not from protected alerts).
    pub port_flows: [f32; BRUTE_SLOTS],
    /// Peer group.
    pub group: u32,
    /// First window seen, Unix seconds.
    pub first_window: u64,
    /// Last window scored, Unix seconds.
    pub last_window: u64,
    /// Windows scored.
    pub windows: u64,
    /// Windows that alerted.
    pub alerts: u64,
    /// Windows not learned because they alerted under protection.
    pub protected_skips: u64,
    /// Alerting windows in a row protected so far (reset by a window that does not alert);
    /// at `protect_max_windows` the ENI's alerting windows are learned.
    pub protected_run: u32,
}

/// Windows before a new peer counts as "fresh" for beaconing (the first hour's peers are just
/// the ENI's normal contacts becoming known).
const BEACON_WARMUP_WINDOWS: u32 = 12;

/// Whether `findings` hold a typed finding of Medium severity or more: a recognised attack
/// pattern (always protected from learning; left out of calibration in training).
fn recognised(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity >= Severity::Medium)
}

/// Maps raw values to model space: `ln(1 + x)` for log-scaled features; non-finite values become
/// 0 and log-scaled ones are clamped at 0, so bad input cannot produce NaN scores.
pub fn model_space(raw: &[f64; NUM_FEATURES]) -> [f64; NUM_FEATURES] {
    std::array::from_fn(|i| {
        let v = if raw[i].is_finite() { raw[i] } else { 0.0 };
        if LOG_SCALED[i] {
            v.max(0.0).ln_1p()
        } else {
            v
        }
    })
}

impl Scorer {
    /// A fresh state for an ENI first seen with window `w`: it joins the peer group nearest to
    /// that window (cold start).
    pub fn new_eni_state(&self, w: &WindowFeatures) -> EniState {
        let xs = self.scaler.standardize(&model_space(&w.values));
        let cents: Vec<[f64; NUM_FEATURES]> = self.groups.iter().map(|g| g.centroid).collect();
        self.new_eni_state_in_group(nearest(&cents, &xs) as u32, w.window_start)
    }

    /// A fresh state in a known group.
    pub fn new_eni_state_in_group(&self, group: u32, window_start: u64) -> EniState {
        EniState {
            stats: EwStats::default(),
            season: Season::default(),
            beacons: BeaconTracker::default(),
            port_flows: [0.0; BRUTE_SLOTS],
            group,
            first_window: window_start,
            last_window: window_start,
            windows: 0,
            alerts: 0,
            protected_skips: 0,
            protected_run: 0,
        }
    }

    /// Score before learn; learns unless the window alerted and protection is on (default):
    /// always for a typed finding of Medium severity or more, otherwise for at most
    /// `protect_max_windows` alerting windows in a row.
    pub fn score_one(&self, state: &mut EniState, w: &WindowFeatures) -> Verdict {
        let x = model_space(&w.values);
        let mut v = self.score_raw(state, w, &x);
        let (score, p) = self.calibration.combine(&v.detectors.as_array());
        v.anomaly_score = score;
        v.tail_probs = p;
        v.alert = score > v.threshold;
        if v.alert {
            state.alerts += 1;
        }
        let cap = self.config.protect_max_windows;
        if !v.alert {
            state.protected_run = 0;
        }
        if v.alert
            && self.config.protect
            && (cap == 0 || state.protected_run < cap || recognised(&v.findings))
        {
            state.protected_skips += 1;
            state.protected_run = state.protected_run.saturating_add(1);
        } else {
            self.learn(state, w, &x);
            v.learned = true;
        }
        v
    }

    /// Scores and always learns, leaving calibration to the caller (training). Returns the raw
    /// detector scores and whether a High-severity finding fired.
    pub(crate) fn score_and_learn_uncalibrated(
        &self,
        state: &mut EniState,
        w: &WindowFeatures,
    ) -> ([f64; NUM_DETECTORS], bool) {
        let x = model_space(&w.values);
        let v = self.score_raw(state, w, &x);
        self.learn(state, w, &x);
        let high = recognised(&v.findings);
        (v.detectors.as_array(), high)
    }

    fn learn(&self, state: &mut EniState, w: &WindowFeatures, x: &[f64; NUM_FEATURES]) {
        // The deviation is taken against the mean before this window, like the score.
        if state.stats.n > 0 {
            let deviation = activity(x) - activity(&state.stats.mean);
            state.season.learn(hour_of(w.window_start), deviation);
        }
        // Per-port flows: the same weights as the baseline's EW mean (so a young ENI's mean is
        // not biased toward 0); a port absent this window counts 0.
        let mut flows = [0.0f64; BRUTE_SLOTS];
        for p in &w.evidence.ports {
            if let Some(f) = brute_slot(p.port, p.ingress).and_then(|i| flows.get_mut(i)) {
                *f += f64::from(p.flows);
            }
        }
        let inv = 1.0 / (state.stats.weight * self.config.decay + 1.0);
        for (m, f) in state.port_flows.iter_mut().zip(flows) {
            let old = f64::from(*m);
            *m = (old + (f - old) * inv) as f32;
        }
        state.stats.learn(x, self.config.decay);
    }

    /// The raw detector scores, findings and explanation (no calibration, no learning except the
    /// beacon tracker).
    fn score_raw(
        &self,
        state: &mut EniState,
        w: &WindowFeatures,
        x: &[f64; NUM_FEATURES],
    ) -> Verdict {
        let cfg = &self.config;
        let group = self
            .groups
            .get(state.group as usize)
            .or(self.groups.first());
        let n = f64::from(state.stats.n);
        let wt = n / (n + cfg.prior_windows.max(1e-9));
        let season_on = w.window_start.saturating_sub(state.first_window)
            >= u64::from(cfg.season_min_days) * 86_400;
        let hour = hour_of(w.window_start);
        let fallback;
        let g = match group {
            Some(g) => g,
            None => {
                fallback = PeerGroup {
                    centroid: [0.0; NUM_FEATURES],
                    inv_spread: [1.0; NUM_FEATURES],
                    prior_mean: self.scaler.mean,
                    prior_var: [0.0; NUM_FEATURES],
                    enis: 0,
                    windows: 0,
                };
                &fallback
            }
        };
        // Pure arithmetic first (no branches, so the compiler can overlap the divisions and
        // square roots), then the top-k selection.
        let st = &state.stats;
        let inv_weight = if st.weight > 0.0 {
            1.0 / st.weight
        } else {
            0.0
        };
        let mut mu = [0.0; NUM_FEATURES];
        let mut sd = [0.0; NUM_FEATURES];
        let mut z = [0.0; NUM_FEATURES];
        let mut dist = 0.0;
        for i in 0..NUM_FEATURES {
            mu[i] = wt * st.mean[i] + (1.0 - wt) * g.prior_mean[i];
            let own_var = (st.m2[i] * inv_weight).max(0.0);
            let var =
                wt * own_var + (1.0 - wt) * g.prior_var[i] + self.min_sigma[i] * self.min_sigma[i];
            sd[i] = var.sqrt();
            let xs = (x[i] - self.scaler.mean[i]) / self.scaler.std[i];
            let d = (xs - g.centroid[i]) * g.inv_spread[i];
            dist += d * d;
        }
        if season_on {
            let off = state.season.offset(hour, cfg.season_min_count);
            for m in mu.iter_mut().take(SEASONAL_FEATURES) {
                *m += off;
            }
        }
        for i in 0..NUM_FEATURES {
            z[i] = (x[i] - mu[i]) / sd[i];
        }
        let mut expl = Explanation::default();
        for i in 0..NUM_FEATURES {
            // SKIPDATA is lost visibility, not behaviour: it stays in the vector (and in `z`) but
            // does not drive the baseline score, or every upstream hiccup would alert.
            if i == Feature::Skipdata as usize {
                continue;
            }
            let zi = z[i];
            // Cheap pre-check: only a candidate for the top-k builds a contribution.
            if usize::from(expl.len) < expl.top.len()
                || expl.top.last().is_some_and(|c| zi.abs() > c.z.abs())
            {
                expl.offer(Contribution {
                    feature: i as u8,
                    observed: w.values[i],
                    mean: mu[i],
                    sd: sd[i],
                    z: zi,
                });
            }
        }
        let baseline =
            expl.items().iter().map(|c| c.z.abs()).sum::<f64>() / expl.items().len().max(1) as f64;
        let mut found = Vec::new();
        let ctx = RuleContext {
            z: &z,
            history: state.stats.n,
            window_secs: cfg.window_secs,
            port_flows: &state.port_flows,
        };
        findings::evaluate(&cfg.rules, &ctx, &w.values, &w.evidence, &mut found);
        let warm = state.stats.n >= BEACON_WARMUP_WINDOWS;
        if let Some(b) = state.beacons.observe(
            &w.evidence,
            w.window_start,
            cfg.window_secs,
            warm,
            &cfg.rules,
        ) {
            if found.len() < findings::MAX_FINDINGS {
                found.push(b);
            }
        }
        state.windows += 1;
        state.last_window = state.last_window.max(w.window_start);
        let detectors = DetectorScores {
            baseline,
            peer_distance: (dist / NUM_FEATURES as f64).sqrt(),
            findings: findings::raw_score(&found),
        };
        Verdict {
            window_start: w.window_start,
            anomaly_score: 0.0,
            threshold: self.calibration.threshold,
            alert: false,
            findings: found,
            peer_group: state.group,
            explanation: expl,
            detectors,
            tail_probs: [1.0; NUM_DETECTORS],
            cold_start: n < cfg.prior_windows,
            learned: false,
        }
    }
}
