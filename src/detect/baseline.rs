//! Per-ENI online baselines: an exponentially weighted (EW) mean and variance per feature, and an
//! hour-of-day seasonal offset for the volume features.
//!
//! Values are in *model space*: features flagged in [`crate::features::LOG_SCALED`] are
//! `ln(1 + x)`, the rest raw. The EW statistics give a window `h` windows old the weight
//! `decay^h` with `decay = 0.5^(1 / half_life_windows)`, so a window one half-life old counts half.

use serde::{Deserialize, Serialize};

use crate::features::NUM_FEATURES;

/// Hours in a day: the seasonal profile has one slot per UTC hour.
pub const HOURS: usize = 24;

/// Features whose expected value follows the hour-of-day activity: flows, bytes and packets in
/// both directions (the first six columns of schema v1).
pub const SEASONAL_FEATURES: usize = 6;

/// Per-window decay factor for a half-life in windows.
pub fn decay_for_half_life(half_life_windows: f64) -> f64 {
    0.5f64.powf(1.0 / half_life_windows)
}

/// Exponentially weighted mean and variance of every feature.
///
/// `weight = Σ decay^age`, `mean = Σ decay^age · x / weight`,
/// `m2 = Σ decay^age · (x − mean)²`; the variance is `m2 / weight`. Updates use West's weighted
/// incremental form, exact up to rounding (tested against a batch oracle).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EwStats {
    /// Windows learned (saturating at `u32::MAX`).
    pub n: u32,
    /// Sum of the decayed weights.
    pub weight: f64,
    /// EW mean per feature.
    pub mean: [f64; NUM_FEATURES],
    /// Decayed sum of squared deviations per feature.
    pub m2: [f64; NUM_FEATURES],
}

impl EwStats {
    /// Learns one window: every older window's weight is multiplied by `decay`, the new one
    /// weighs 1.
    pub fn learn(&mut self, x: &[f64; NUM_FEATURES], decay: f64) {
        self.weight = self.weight * decay + 1.0;
        let inv = 1.0 / self.weight;
        for ((m, s), &v) in self.mean.iter_mut().zip(self.m2.iter_mut()).zip(x) {
            let d = v - *m;
            *m += d * inv;
            *s = *s * decay + d * (v - *m);
        }
        self.n = self.n.saturating_add(1);
    }

    /// The EW variance of feature `i` (0 before any window or for an index out of range).
    pub fn variance(&self, i: usize) -> f64 {
        match (self.m2.get(i), self.weight > 0.0) {
            (Some(&s), true) => (s / self.weight).max(0.0),
            _ => 0.0,
        }
    }

    /// The statistics of `self`'s stream followed by `later`'s stream: `self` is aged by the
    /// `later.n` windows that came after it, then the two are pooled. Equals learning the
    /// concatenated stream (up to rounding) while `later.n` has not saturated.
    pub fn merge(&self, later: &EwStats, decay: f64) -> EwStats {
        let age = decay.powf(f64::from(later.n));
        let wa = self.weight * age;
        let wb = later.weight;
        let weight = wa + wb;
        let mut out = EwStats {
            n: self.n.saturating_add(later.n),
            weight,
            ..EwStats::default()
        };
        if weight <= 0.0 {
            return out;
        }
        for i in 0..NUM_FEATURES {
            let (ma, mb) = (self.mean[i], later.mean[i]);
            let d = mb - ma;
            out.mean[i] = ma + d * wb / weight;
            out.m2[i] = self.m2[i] * age + later.m2[i] + d * d * wa * wb / weight;
        }
        out
    }
}

/// Hour-of-day seasonality: how much busier (in [`activity`]) each UTC hour is than the ENI's
/// overall EW mean. 24 `f32` offsets and 24 saturating counters: 120 bytes, whatever the input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Season {
    /// Offset per UTC hour, added to the expected value of the volume features.
    pub offset: [f32; HOURS],
    /// Windows learned per hour (saturating at 255).
    pub count: [u8; HOURS],
}

/// The UTC hour (0..24) of a Unix timestamp in seconds.
pub fn hour_of(unix_secs: u64) -> usize {
    ((unix_secs / 3600) % HOURS as u64) as usize
}

/// Each hour's offset is a running mean over its last ~50 windows (≈ 4 days of 5-minute windows):
/// long enough to average out noise, short enough to follow a changed schedule.
const SEASON_MEMORY: u8 = 50;

impl Season {
    /// Learns that at `hour` the activity was `deviation` above the ENI's overall mean.
    pub fn learn(&mut self, hour: usize, deviation: f64) {
        if let (Some(off), Some(c)) = (self.offset.get_mut(hour), self.count.get_mut(hour)) {
            *c = c.saturating_add(1);
            let rate = 1.0 / f32::from((*c).min(SEASON_MEMORY));
            *off += rate * (deviation as f32 - *off);
        }
    }

    /// The offset for `hour` once that hour has `min_count` windows, else 0.
    pub fn offset(&self, hour: usize, min_count: u8) -> f64 {
        match (self.offset.get(hour), self.count.get(hour)) {
            (Some(&o), Some(&c)) if c >= min_count => f64::from(o),
            _ => 0.0,
        }
    }
}

/// The activity level the seasonal profile follows: the mean of `ln(1 + flows_out)` and
/// `ln(1 + flows_in)`, read straight from a model-space vector (no `exp` on the hot path).
pub fn activity(x: &[f64; NUM_FEATURES]) -> f64 {
    (x[0] + x[1]) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_life_halves_the_weight() {
        let d = decay_for_half_life(10.0);
        assert!((d.powi(10) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn constant_stream_has_zero_variance() {
        let mut s = EwStats::default();
        let x = [3.0; NUM_FEATURES];
        for _ in 0..50 {
            s.learn(&x, 0.9);
        }
        assert!((s.mean[4] - 3.0).abs() < 1e-12);
        assert!(s.variance(4) < 1e-12);
        assert_eq!(s.variance(NUM_FEATURES), 0.0);
    }

    #[test]
    fn season_needs_min_count() {
        let mut s = Season::default();
        s.learn(5, 2.0);
        assert_eq!(s.offset(5, 2), 0.0);
        s.learn(5, 2.0);
        assert!((s.offset(5, 2) - 2.0).abs() < 1e-6);
        s.learn(99, 1.0); // out of range: ignored, no panic
    }
}
