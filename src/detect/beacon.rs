//! Beaconing: a bounded per-ENI tracker of egress (peer, port) arrivals across windows, scored
//! RITA-style.
//!
//! Each tracked pair keeps running mean/variance of three things: the gap (in windows) between
//! the windows it appears in, the flows per window, and the bytes per flow. A C2 implant calling
//! home every N seconds gives constant gaps, counts and sizes: each subscore is
//! `1 − min(1, coefficient of variation)` and the regularity is their mean.
//!
//! Pairs with protocol 0 are skipped: that is how converted data without ports, protocols or
//! sizes (DARPA 1998 edges) marks them, and their constant placeholder sizes would look regular.
//!
//! Bound: at most [`MAX_BEACON_SLOTS`] pairs per ENI (about 60 bytes each serialized). Only
//! external peers are tracked. When full, a new pair takes the slot of a pair not seen in this
//! window: a non-fresh pair first (one the ENI already knew, which can never fire), then the one
//! with the fewest windows (ties: the stalest): random one-off peers churn among themselves while
//! a pair that keeps coming back keeps its slot. Fresh pairs go last because an evicted pair
//! comes back as known, no longer fresh: a beacon slower than the window (absent from every
//! other window) used to lose its slot to the ENI's usual contacts and was never reported. Limits: a beacon's very first
//! window can be evicted by a flood of new peers; a pair outside the window's evidence rows (only
//! the top egress rows are kept) is not seen.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::findings::{Finding, FindingKind, FindingRules, Severity};
use crate::features::Evidence;

/// Pairs tracked per ENI.
pub const MAX_BEACON_SLOTS: usize = 6;

/// Running mean and variance (Welford), `f32` to keep the state small.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Running {
    /// Mean.
    pub mean: f32,
    /// Sum of squared deviations.
    pub m2: f32,
}

impl Running {
    fn push(&mut self, n: u32, x: f64) {
        // `n` counts this value too.
        let x = x as f32;
        let d = x - self.mean;
        self.mean += d / n as f32;
        self.m2 += d * (x - self.mean);
    }

    /// `1 − min(1, cv)`: 1 for a constant series.
    fn regularity(&self, n: u32) -> f64 {
        if n < 2 || self.mean <= 0.0 {
            return 0.0;
        }
        let sd = (self.m2.max(0.0) / (n - 1) as f32).sqrt();
        1.0 - f64::from((sd / self.mean).min(1.0))
    }
}

/// One tracked (peer, port).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BeaconSlot {
    /// The remote address.
    pub addr: IpAddr,
    /// The remote port.
    pub port: u16,
    /// Start of the first window it was seen in.
    pub first_window: u64,
    /// Start of the last window it was seen in.
    pub last_window: u64,
    /// Windows it was seen in.
    pub windows: u32,
    /// Gap between its windows, in windows.
    pub gap: Running,
    /// Flows per window.
    pub flows: Running,
    /// Bytes per flow.
    pub size: Running,
    /// The peer was new when tracking started, on an ENI past its warm-up (a fresh contact).
    pub fresh: bool,
}

impl BeaconSlot {
    /// RITA-style regularity in [0, 1].
    pub fn regularity(&self) -> f64 {
        let gaps = self.windows.saturating_sub(1);
        (self.gap.regularity(gaps)
            + self.flows.regularity(self.windows)
            + self.size.regularity(self.windows))
            / 3.0
    }
}

/// The bounded tracker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BeaconTracker {
    /// Tracked pairs (at most [`MAX_BEACON_SLOTS`]).
    pub slots: Vec<BeaconSlot>,
}

impl BeaconTracker {
    /// Feeds one window's egress evidence; returns the most regular fresh beacon that fires.
    /// `warmed_up` says whether the ENI is past its warm-up (only then is a new peer "fresh").
    pub fn observe(
        &mut self,
        ev: &Evidence,
        window_start: u64,
        window_secs: u32,
        warmed_up: bool,
        rules: &FindingRules,
    ) -> Option<Finding> {
        let width = u64::from(window_secs.max(1));
        let mut best: Option<Finding> = None;
        // Two passes: pairs already tracked first, then new ones. A new pair may only evict a
        // slot not seen in this window; updating the tracked pairs first makes sure that a pair
        // present in this window is never evicted because its row came after a newcomer's.
        // Protocol 0 marks converted data without ports, protocols or sizes (the DARPA 1998
        // edges): their placeholder sizes are constant by construction and would look regular.
        let rows = || {
            ev.peers_out
                .iter()
                .filter(|p| p.external && p.flows > 0 && p.protocol != 0)
        };
        for (pass, p) in rows().map(|p| (0, p)).chain(rows().map(|p| (1, p))) {
            let size = p.bytes as f64 / f64::from(p.flows);
            let idx = self
                .slots
                .iter()
                .position(|s| s.addr == p.addr && s.port == p.port);
            let idx = match (idx, pass) {
                (Some(i), 0) => i,
                // Tracked pairs were done in pass 0; new pairs wait for pass 1.
                (Some(_), _) | (None, 0) => continue,
                (None, _) => match self.free_slot(window_start) {
                    Some(i) => {
                        let slot = BeaconSlot {
                            addr: p.addr,
                            port: p.port,
                            first_window: window_start,
                            last_window: window_start,
                            windows: 0,
                            gap: Running::default(),
                            flows: Running::default(),
                            size: Running::default(),
                            fresh: p.new_peer && warmed_up,
                        };
                        if i == self.slots.len() {
                            self.slots.push(slot);
                        } else if let Some(s) = self.slots.get_mut(i) {
                            *s = slot;
                        }
                        i
                    }
                    None => continue,
                },
            };
            let Some(s) = self.slots.get_mut(idx) else {
                continue;
            };
            if s.windows > 0 && window_start <= s.last_window {
                continue; // same window twice (a second row for the pair): counted once
            }
            if s.windows > 0 {
                let gap = (window_start - s.last_window) / width;
                s.gap.push(s.windows, gap as f64);
            }
            s.windows = s.windows.saturating_add(1);
            s.last_window = window_start;
            s.flows.push(s.windows, f64::from(p.flows));
            s.size.push(s.windows, size);
            let r = s.regularity();
            if s.fresh && s.windows >= rules.beacon_min_windows && r >= rules.beacon_min_score {
                let better = best.as_ref().is_none_or(|b| r > b.score);
                if better {
                    let severity = if r >= 0.95 {
                        Severity::High
                    } else {
                        Severity::Medium
                    };
                    best = Some(Finding {
                        kind: FindingKind::Beaconing,
                        severity,
                        ingress: false,
                        port: s.port,
                        count: u64::from(s.windows),
                        bytes: p.bytes,
                        peer: Some(s.addr),
                        score: r,
                    });
                }
            }
        }
        best
    }

    fn free_slot(&self, window_start: u64) -> Option<usize> {
        if self.slots.len() < MAX_BEACON_SLOTS {
            return Some(self.slots.len());
        }
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.last_window < window_start)
            .min_by_key(|(_, s)| (s.fresh, s.windows, s.last_window))
            .map(|(i, _)| i)
    }
}
