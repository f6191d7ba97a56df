//! Window ground truth: which scored windows overlap which labels.
//!
//! A window of ENI `e` starting at `s` of width `w` is positive when some label of `e` has
//! `label.start < s + w` and `label.end > s` (half-open intervals, as
//! [`Label::overlaps`](crate::labels::Label::overlaps) defines, computed here without overflow).
//! A window may overlap several labels, of several attack types; it counts once for each.
//!
//! Cost: windows are indexed per ENI and sorted by start once, then each label finds its windows
//! by binary search, so the work is O(W log W + L log W + overlaps) and memory O(W + overlaps).

use std::collections::HashMap;

use crate::labels::Label;

use super::ScoredWindow;

/// The labels each window overlaps, and the windows each label overlaps.
#[derive(Clone, Debug, Default)]
pub struct GroundTruth {
    /// For each window (same order as the input), the indices of the labels it overlaps.
    pub labels_of_window: Vec<Vec<u32>>,
    /// For each label (same order as the input), the indices of the windows it overlaps,
    /// sorted by window start.
    pub windows_of_label: Vec<Vec<u32>>,
    /// Windows sharing an (ENI, start) with an earlier window: the engine should emit each
    /// ENI-window once, so a non-zero count is reported as a note.
    pub duplicate_windows: u64,
}

impl GroundTruth {
    /// Builds the overlaps between `windows` and `labels`.
    ///
    /// Windows beyond `u32::MAX` are not supported (indices are `u32` to halve memory); such an
    /// input is far beyond what one evaluation holds in memory anyway.
    pub fn build(windows: &[ScoredWindow], window_secs: u64, labels: &[Label]) -> Self {
        let mut by_eni: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, w) in windows.iter().enumerate() {
            by_eni.entry(w.eni.as_str()).or_default().push(idx(i));
        }
        let start_of = |i: &u32| windows.get(*i as usize).map_or(0, |w| w.window_start);
        let mut duplicate_windows = 0;
        for list in by_eni.values_mut() {
            // Stable sort: equal starts keep input order, so results do not depend on hashing.
            list.sort_by_key(start_of);
            duplicate_windows += list
                .windows(2)
                .filter(|p| start_of(&p[0]) == start_of(&p[1]))
                .count() as u64;
        }
        let mut labels_of_window = vec![Vec::new(); windows.len()];
        let mut windows_of_label = Vec::with_capacity(labels.len());
        for (li, label) in labels.iter().enumerate() {
            let mut hits = Vec::new();
            if let Some(list) = by_eni.get(label.eni.as_str()) {
                // Candidates start in [label.start - w, label.end); the exact test filters the edge.
                let lo_start = label.start.saturating_sub(window_secs);
                let lo = list.partition_point(|i| start_of(i) < lo_start);
                let hi = list.partition_point(|i| start_of(i) < label.end);
                for &wi in list.get(lo..hi).unwrap_or(&[]) {
                    if overlaps(label, start_of(&wi), window_secs) {
                        hits.push(wi);
                        if let Some(v) = labels_of_window.get_mut(wi as usize) {
                            v.push(idx(li));
                        }
                    }
                }
            }
            windows_of_label.push(hits);
        }
        GroundTruth {
            labels_of_window,
            windows_of_label,
            duplicate_windows,
        }
    }

    /// True when window `i` overlaps at least one label.
    pub fn is_positive(&self, i: usize) -> bool {
        self.labels_of_window.get(i).is_some_and(|l| !l.is_empty())
    }
}

/// [`Label::overlaps`] without overflow for window starts near `u64::MAX`.
pub fn overlaps(label: &Label, window_start: u64, window_secs: u64) -> bool {
    label.start < window_start.saturating_add(window_secs) && label.end > window_start
}

fn idx(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn label(eni: &str, start: u64, end: u64) -> Label {
        Label {
            attack_id: 1,
            attack_type: "t".into(),
            eni: eni.into(),
            start,
            end,
            attacker: None,
            victim: None,
        }
    }

    fn win(eni: &str, start: u64) -> ScoredWindow {
        ScoredWindow {
            eni: eni.into(),
            window_start: start,
            score: 0.0,
            alert: false,
            findings: vec![],
        }
    }

    #[test]
    fn windows_overlapping_a_label_of_their_eni_are_positive() {
        let ws = [win("a", 0), win("a", 300), win("a", 600), win("b", 300)];
        let gt = GroundTruth::build(&ws, 300, &[label("a", 350, 600)]);
        let pos: Vec<bool> = (0..ws.len()).map(|i| gt.is_positive(i)).collect();
        // [600, 900) starts exactly at the exclusive end; ENI b has no label.
        assert_eq!(pos, [false, true, false, false]);
        assert_eq!(gt.windows_of_label, vec![vec![1]]);
    }

    #[test]
    fn duplicates_are_counted() {
        let ws = [win("a", 0), win("a", 0), win("a", 300)];
        assert_eq!(GroundTruth::build(&ws, 300, &[]).duplicate_windows, 1);
    }

    #[test]
    fn no_overflow_near_the_top_of_time() {
        let ws = [win("a", u64::MAX - 10)];
        let gt = GroundTruth::build(&ws, 300, &[label("a", u64::MAX - 5, u64::MAX)]);
        assert!(gt.is_positive(0));
    }

    proptest! {
        #[test]
        fn agrees_with_label_overlaps(
            starts in proptest::collection::vec(0u64..5_000, 0..40),
            labels in proptest::collection::vec((0u64..5_000, 0u64..2_000, 0u8..2), 0..8),
            w in 1u64..700,
        ) {
            let ws: Vec<ScoredWindow> = starts.iter().map(|&s| win(if s % 2 == 0 { "a" } else { "b" }, s)).collect();
            let ls: Vec<Label> = labels
                .iter()
                .map(|&(s, len, e)| label(if e == 0 { "a" } else { "b" }, s, s + len))
                .collect();
            let gt = GroundTruth::build(&ws, w, &ls);
            for (i, wnd) in ws.iter().enumerate() {
                let expected: Vec<u32> = ls
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.eni == wnd.eni && l.overlaps(wnd.window_start, w))
                    .map(|(j, _)| j as u32)
                    .collect();
                prop_assert_eq!(&gt.labels_of_window[i], &expected);
            }
        }
    }
}
