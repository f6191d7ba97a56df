//! Peer groups: ENI profiles (the mean model-space feature vector over training, standardized by
//! the global [`Scaler`]) clustered with linfa k-means.
//!
//! Choice of k (unless `--clusters K` fixes it): the k in `2..=min(max_clusters, n / 3)` with the
//! highest mean silhouette (computed on at most [`SILHOUETTE_SAMPLE`] profiles, taken by a fixed
//! stride); the `n / 3` cap keeps about three ENIs per group or more, since a group of one is no
//! peer group (silhouette alone favours many tiny clusters on few ENIs). k = 1 when there are
//! fewer than 6 profiles or the best silhouette is below [`MIN_SILHOUETTE`] (no real structure:
//! one group is the honest answer).
//!
//! A group gives (1) a prior for cold start: per-feature mean and variance of its members'
//! windows in model space, and (2) a distance score: a window's standardized vector minus the
//! centroid, each dimension divided by the group's spread, RMS over dimensions.

use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_clustering::KMeans;
use ndarray::Array2;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;
use serde::{Deserialize, Serialize};

use super::DetectError;
use crate::features::NUM_FEATURES;

/// Profiles used for the silhouette criterion (bounds its O(n²) cost).
pub const SILHOUETTE_SAMPLE: usize = 1000;

/// Below this best silhouette, one group.
pub const MIN_SILHOUETTE: f64 = 0.2;

/// Smallest per-dimension spread of a group, in standardized units (a group whose members never
/// vary on a feature would otherwise make any change infinitely far).
pub const MIN_SPREAD: f64 = 0.1;

/// Global standardization of model-space vectors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// Mean per feature over all training windows.
    pub mean: [f64; NUM_FEATURES],
    /// Standard deviation per feature (at least 1e-9).
    pub std: [f64; NUM_FEATURES],
}

impl Scaler {
    /// `(x − mean) / std` per feature.
    pub fn standardize(&self, x: &[f64; NUM_FEATURES]) -> [f64; NUM_FEATURES] {
        std::array::from_fn(|i| (x[i] - self.mean[i]) / self.std[i])
    }
}

/// One peer group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerGroup {
    /// Centroid of member profiles, standardized units.
    pub centroid: [f64; NUM_FEATURES],
    /// 1 / spread per dimension (spread = RMS distance of member windows to the centroid,
    /// standardized units, at least [`MIN_SPREAD`]).
    pub inv_spread: [f64; NUM_FEATURES],
    /// Mean of member windows per feature, model space (cold-start prior).
    pub prior_mean: [f64; NUM_FEATURES],
    /// Variance of member windows per feature, model space (cold-start prior).
    pub prior_var: [f64; NUM_FEATURES],
    /// Member ENIs at training.
    pub enis: u32,
    /// Member windows at training.
    pub windows: u64,
}

impl PeerGroup {
    /// RMS over dimensions of `(xs − centroid) / spread`, for a standardized vector `xs`.
    pub fn distance(&self, xs: &[f64; NUM_FEATURES]) -> f64 {
        let s: f64 = xs
            .iter()
            .zip(&self.centroid)
            .zip(&self.inv_spread)
            .map(|((x, c), k)| ((x - c) * k).powi(2))
            .sum();
        (s / NUM_FEATURES as f64).sqrt()
    }
}

/// Squared Euclidean distance.
pub fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Index of the centroid nearest to `x` (Euclidean; ties: the lowest index). 0 when empty.
pub fn nearest(centroids: &[[f64; NUM_FEATURES]], x: &[f64; NUM_FEATURES]) -> usize {
    let mut best = (0, f64::INFINITY);
    for (i, c) in centroids.iter().enumerate() {
        let d = sq_dist(c, x);
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// Fits k-means with `k` clusters; returns the centroids (sorted for a stable numbering: by the
/// first coordinate, then the next ones).
pub fn kmeans(
    profiles: &[[f64; NUM_FEATURES]],
    k: usize,
    seed: u64,
) -> Result<Vec<[f64; NUM_FEATURES]>, DetectError> {
    let n = profiles.len();
    if k == 0 || k > n {
        return Err(DetectError::Clustering(format!(
            "cannot make {k} groups from {n} ENI profiles"
        )));
    }
    if k == 1 {
        let mut c = [0.0; NUM_FEATURES];
        for p in profiles {
            for (ci, pi) in c.iter_mut().zip(p) {
                *ci += pi / n as f64;
            }
        }
        return Ok(vec![c]);
    }
    let flat: Vec<f64> = profiles.iter().flatten().copied().collect();
    let records = Array2::from_shape_vec((n, NUM_FEATURES), flat)
        .map_err(|e| DetectError::Clustering(e.to_string()))?;
    let model = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(seed))
        .n_runs(4)
        .max_n_iterations(200)
        .tolerance(1e-6)
        .fit(&DatasetBase::from(records))
        .map_err(|e| DetectError::Clustering(e.to_string()))?;
    let mut out: Vec<[f64; NUM_FEATURES]> = model
        .centroids()
        .rows()
        .into_iter()
        .map(|r| std::array::from_fn(|i| r.get(i).copied().unwrap_or(0.0)))
        .collect();
    out.sort_by(|a, b| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(out)
}

/// Mean silhouette of `points` labelled by their nearest centroid.
pub fn silhouette(points: &[[f64; NUM_FEATURES]], centroids: &[[f64; NUM_FEATURES]]) -> f64 {
    let k = centroids.len();
    if k < 2 || points.len() < 2 {
        return 0.0;
    }
    let labels: Vec<usize> = points.iter().map(|p| nearest(centroids, p)).collect();
    let mut total = 0.0;
    let mut sums = vec![0.0; k];
    let mut counts = vec![0usize; k];
    for (i, p) in points.iter().enumerate() {
        sums.iter_mut().for_each(|s| *s = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        for (j, q) in points.iter().enumerate() {
            if i != j {
                let l = labels.get(j).copied().unwrap_or(0);
                if let (Some(s), Some(c)) = (sums.get_mut(l), counts.get_mut(l)) {
                    *s += sq_dist(p, q).sqrt();
                    *c += 1;
                }
            }
        }
        let own = labels.get(i).copied().unwrap_or(0);
        let mean = |l: usize| match (sums.get(l), counts.get(l)) {
            (Some(&s), Some(&c)) if c > 0 => Some(s / c as f64),
            _ => None,
        };
        let Some(a) = mean(own) else { continue }; // singleton cluster: silhouette 0
        let b = (0..k)
            .filter(|&l| l != own)
            .filter_map(mean)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    total / points.len() as f64
}

/// Picks k and fits: `fixed` when given (capped at the number of profiles), else the silhouette
/// criterion over `2..=max_k`. Returns the centroids.
pub fn fit_groups(
    profiles: &[[f64; NUM_FEATURES]],
    fixed: Option<usize>,
    max_k: usize,
    seed: u64,
) -> Result<Vec<[f64; NUM_FEATURES]>, DetectError> {
    let n = profiles.len();
    if n == 0 {
        return Err(DetectError::Clustering("no ENI profiles to cluster".into()));
    }
    if let Some(k) = fixed {
        return kmeans(profiles, k.min(n), seed);
    }
    if n < 6 {
        return kmeans(profiles, 1, seed);
    }
    let stride = n.div_ceil(SILHOUETTE_SAMPLE).max(1);
    let sample: Vec<[f64; NUM_FEATURES]> = profiles.iter().step_by(stride).copied().collect();
    let mut best: Option<(f64, Vec<[f64; NUM_FEATURES]>)> = None;
    for k in 2..=max_k.min(n / 3) {
        let c = kmeans(profiles, k, seed)?;
        let s = silhouette(&sample, &c);
        if best.as_ref().is_none_or(|(bs, _)| s > *bs) {
            best = Some((s, c));
        }
    }
    match best {
        Some((s, c)) if s >= MIN_SILHOUETTE => Ok(c),
        _ => kmeans(profiles, 1, seed),
    }
}
