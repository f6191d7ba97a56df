//! Training: `TrainParams → check() → ValidTrainParams → fit(windows, names) → Model`.
//!
//! Three passes over the windows (which must come in `(window_start, eni name)` order, or at
//! least in increasing `window_start` per ENI):
//! 1. the global scaler and each ENI's profile (mean model-space vector);
//! 2. peer groups: profiles standardized and clustered; each ENI joins its nearest centroid;
//!    each group's prior (mean/variance of its members' windows) and spread;
//! 3. replay: every window is scored against its ENI's state *before* learning it (as at scoring
//!    time, cold start included), and its raw detector scores are kept (a seeded reservoir of at
//!    most `max_calibration_samples`) for calibration. Training learns every window: there is no
//!    threshold yet to protect with.
//!
//! Calibration leaves out training windows with a High-severity finding (counted in
//! [`ModelMeta::calibration_excluded`]): they are presumed attacks, and a history that holds
//! attacks would otherwise set the threshold above them. The alert-rate target applies to the
//! rest. Training history should still be as clean as you can get it.

use std::collections::BTreeMap;

use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;
use serde::{Deserialize, Serialize};

use super::baseline::decay_for_half_life;
use super::calibrate::{Calibration, NUM_DETECTORS};
use super::findings::FindingRules;
use super::peers::{fit_groups, nearest, PeerGroup, Scaler, MIN_SPREAD};
use super::scorer::{model_space, EniState, Scorer, ScorerConfig};
use super::{DetectError, ParamsError};
use crate::features::{WindowFeatures, NUM_FEATURES};
use crate::flowlog::Interner;
use crate::model::{Model, ModelMeta};

/// Training parameters (what the user asked for). Validate with [`TrainParams::check`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    /// Half-life of the per-ENI baselines, in windows (default 288: one day of 5-minute windows).
    pub half_life_windows: f64,
    /// Fixed number of peer groups; `None` chooses k by silhouette.
    pub clusters: Option<usize>,
    /// Largest k tried by the silhouette criterion (default 8).
    pub max_clusters: usize,
    /// Target alerts per 1,000 ENI-windows on the training data (default 1).
    pub alerts_per_1000: f64,
    /// Seed of k-means and of the calibration reservoir.
    pub seed: u64,
    /// Do not learn from alerted windows when scoring (default true).
    pub protect: bool,
    /// Most alerting windows in a row an ENI's baseline is protected for (default 24: two
    /// hours of 5-minute windows); then its alerting windows are learned until one does not
    /// alert, except those with a typed finding of Medium severity or more (always
    /// protected). 0 = no limit (an ENI whose traffic changes for good then alerts for ever).
    pub protect_max_windows: u32,
    /// Window width of the windows given, seconds (default 300).
    pub window_secs: u32,
    /// Cold-start prior strength `n0` in windows (default 12): an ENI with `n` windows weighs its
    /// own baseline `n / (n + n0)`.
    pub prior_windows: f64,
    /// Days of history before hour-of-day seasonality applies (default 2).
    pub season_min_days: u32,
    /// Most training windows kept for calibration (default 1,000,000; a seeded reservoir).
    pub max_calibration_samples: usize,
    /// Finding thresholds.
    pub rules: FindingRules,
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            half_life_windows: 288.0,
            clusters: None,
            max_clusters: 8,
            alerts_per_1000: 1.0,
            seed: 42,
            protect: true,
            protect_max_windows: 24,
            window_secs: 300,
            prior_windows: 12.0,
            season_min_days: 2,
            max_calibration_samples: 1_000_000,
            rules: FindingRules::default(),
        }
    }
}

/// Parameters that passed [`TrainParams::check`].
#[derive(Clone, Debug, PartialEq)]
pub struct ValidTrainParams(TrainParams);

impl TrainParams {
    /// Validates every parameter.
    pub fn check(&self) -> Result<ValidTrainParams, ParamsError> {
        let p = self;
        if !(p.half_life_windows.is_finite() && p.half_life_windows > 0.0) {
            return Err(ParamsError::HalfLife(p.half_life_windows));
        }
        if p.clusters == Some(0) {
            return Err(ParamsError::Clusters);
        }
        if p.max_clusters == 0 {
            return Err(ParamsError::MaxClusters);
        }
        if !(p.alerts_per_1000 > 0.0 && p.alerts_per_1000 < 1000.0) {
            return Err(ParamsError::AlertRate(p.alerts_per_1000));
        }
        if p.window_secs == 0 {
            return Err(ParamsError::WindowSecs);
        }
        if !(p.prior_windows.is_finite() && p.prior_windows >= 0.0) {
            return Err(ParamsError::PriorWindows(p.prior_windows));
        }
        if p.max_calibration_samples == 0 {
            return Err(ParamsError::CalibrationSamples);
        }
        Ok(ValidTrainParams(p.clone()))
    }
}

/// Trains a model: `params.check()?.fit(windows, names)`.
pub fn train(
    windows: &[WindowFeatures],
    names: &Interner,
    params: &TrainParams,
) -> Result<Model, DetectError> {
    params.check()?.fit(windows, names)
}

/// Per-ENI accumulators of pass 1.
struct EniAcc {
    sum: [f64; NUM_FEATURES],
    windows: u64,
    last: u64,
}

/// Welford accumulators per feature.
#[derive(Clone)]
struct Moments {
    n: u64,
    mean: [f64; NUM_FEATURES],
    m2: [f64; NUM_FEATURES],
}

impl Moments {
    fn new() -> Self {
        Moments {
            n: 0,
            mean: [0.0; NUM_FEATURES],
            m2: [0.0; NUM_FEATURES],
        }
    }
    fn push(&mut self, x: &[f64; NUM_FEATURES]) {
        self.n += 1;
        let inv = 1.0 / self.n as f64;
        for ((m, s), &v) in self.mean.iter_mut().zip(self.m2.iter_mut()).zip(x) {
            let d = v - *m;
            *m += d * inv;
            *s += d * (v - *m);
        }
    }
    fn var(&self, i: usize) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.m2.get(i).map_or(0.0, |m| (m / self.n as f64).max(0.0))
        }
    }
}

impl ValidTrainParams {
    /// The validated parameters.
    pub fn params(&self) -> &TrainParams {
        &self.0
    }

    /// Fits a model on `windows` (see the module docs for the passes).
    pub fn fit(&self, windows: &[WindowFeatures], names: &Interner) -> Result<Model, DetectError> {
        let p = &self.0;
        if windows.is_empty() {
            return Err(DetectError::NoWindows);
        }
        // Pass 1: scaler and profiles.
        let mut global = Moments::new();
        let mut accs: Vec<Option<EniAcc>> = Vec::new();
        accs.resize_with(names.len(), || None);
        for w in windows {
            let slot = accs
                .get_mut(w.eni as usize)
                .ok_or(DetectError::UnknownEni(w.eni))?;
            let x = model_space(&w.values);
            global.push(&x);
            let acc = slot.get_or_insert_with(|| EniAcc {
                sum: [0.0; NUM_FEATURES],
                windows: 0,
                last: 0,
            });
            if acc.windows > 0 && w.window_start <= acc.last {
                return Err(DetectError::OutOfOrder {
                    eni: names.name(w.eni).to_string(),
                    window_start: w.window_start,
                    previous: acc.last,
                });
            }
            acc.last = w.window_start;
            acc.windows += 1;
            for (s, v) in acc.sum.iter_mut().zip(&x) {
                *s += v;
            }
        }
        let scaler = Scaler {
            mean: global.mean,
            std: std::array::from_fn(|i| global.var(i).sqrt().max(1e-9)),
        };
        let min_sigma: [f64; NUM_FEATURES] =
            std::array::from_fn(|i| (0.05 * global.var(i).sqrt()).max(0.05));
        let mut profile_of: Vec<Option<usize>> = vec![None; accs.len()];
        let mut profiles = Vec::new();
        for (id, acc) in accs.iter().enumerate() {
            if let (Some(a), Some(slot)) = (acc, profile_of.get_mut(id)) {
                let mean: [f64; NUM_FEATURES] =
                    std::array::from_fn(|i| a.sum[i] / a.windows as f64);
                *slot = Some(profiles.len());
                profiles.push(scaler.standardize(&mean));
            }
        }
        // Pass 2: groups.
        let centroids = fit_groups(&profiles, p.clusters, p.max_clusters, p.seed)?;
        let group_of: Vec<Option<u32>> = profile_of
            .iter()
            .map(|o| {
                o.and_then(|i| profiles.get(i))
                    .map(|pr| nearest(&centroids, pr) as u32)
            })
            .collect();
        let mut moments = vec![Moments::new(); centroids.len()];
        let mut members = vec![0u32; centroids.len()];
        for g in group_of.iter().flatten() {
            if let Some(m) = members.get_mut(*g as usize) {
                *m += 1;
            }
        }
        for w in windows {
            let g = group_of.get(w.eni as usize).copied().flatten().unwrap_or(0);
            if let Some(m) = moments.get_mut(g as usize) {
                m.push(&model_space(&w.values));
            }
        }
        let groups: Vec<PeerGroup> = centroids
            .iter()
            .zip(&moments)
            .zip(&members)
            .map(|((c, m), &enis)| group_from(c, m, enis, &scaler))
            .collect();
        let decay = decay_for_half_life(p.half_life_windows);
        let config = ScorerConfig {
            half_life_windows: p.half_life_windows,
            decay,
            prior_windows: p.prior_windows,
            protect: p.protect,
            protect_max_windows: p.protect_max_windows,
            window_secs: p.window_secs,
            season_min_days: p.season_min_days,
            season_min_count: 3,
            rules: p.rules.clone(),
        };
        let mut scorer = Scorer {
            config,
            scaler,
            groups,
            calibration: Calibration::fit(&[], p.alerts_per_1000),
            min_sigma,
        };
        // Pass 3: replay.
        let mut states: Vec<Option<EniState>> = Vec::new();
        states.resize_with(names.len(), || None);
        let mut reservoir: Vec<[f64; NUM_DETECTORS]> =
            Vec::with_capacity(p.max_calibration_samples.min(windows.len()));
        let mut rng = Xoshiro256Plus::seed_from_u64(p.seed ^ 0x5eed_ca11_b2a7_e000);
        let (mut kept, mut excluded) = (0u64, 0u64);
        for w in windows {
            let g = group_of.get(w.eni as usize).copied().flatten().unwrap_or(0);
            let Some(slot) = states.get_mut(w.eni as usize) else {
                return Err(DetectError::UnknownEni(w.eni));
            };
            let st = slot.get_or_insert_with(|| scorer.new_eni_state_in_group(g, w.window_start));
            let (raw, high) = scorer.score_and_learn_uncalibrated(st, w);
            if high {
                excluded += 1;
                continue;
            }
            kept += 1;
            if reservoir.len() < p.max_calibration_samples {
                reservoir.push(raw);
            } else {
                let j = (rng.next_u64() % kept) as usize;
                if let Some(r) = reservoir.get_mut(j) {
                    *r = raw;
                }
            }
        }
        scorer.calibration = Calibration::fit(&reservoir, p.alerts_per_1000);
        let enis: BTreeMap<String, EniState> = states
            .into_iter()
            .enumerate()
            .filter_map(|(id, s)| s.map(|s| (names.name(id as u32).to_string(), s)))
            .collect();
        let meta = ModelMeta {
            created_by: concat!("flowvigil ", env!("CARGO_PKG_VERSION")).to_string(),
            first_window: windows.iter().map(|w| w.window_start).min().unwrap_or(0),
            last_window: windows.iter().map(|w| w.window_start).max().unwrap_or(0),
            windows: windows.len() as u64,
            calibration_excluded: excluded,
            enis: enis.len() as u64,
            params: p.clone(),
        };
        Ok(Model {
            meta,
            scorer,
            enis,
            windowing: crate::window::WindowConfig {
                window_secs: p.window_secs,
                ..crate::window::WindowConfig::default()
            },
            histories: BTreeMap::new(),
        })
    }
}

fn group_from(c: &[f64; NUM_FEATURES], m: &Moments, enis: u32, scaler: &Scaler) -> PeerGroup {
    let inv_spread = std::array::from_fn(|i| {
        // E[(xs − c)²] over member windows = var_s + (mean_s − c)², standardized units.
        let mean_s = (m.mean[i] - scaler.mean[i]) / scaler.std[i];
        let var_s = m.var(i) / (scaler.std[i] * scaler.std[i]);
        let spread = (var_s + (mean_s - c[i]).powi(2)).sqrt().max(MIN_SPREAD);
        1.0 / spread
    });
    PeerGroup {
        centroid: *c,
        inv_spread,
        prior_mean: m.mean,
        prior_var: std::array::from_fn(|i| m.var(i)),
        enis,
        windows: m.n,
    }
}
