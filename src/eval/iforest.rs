//! The reference detector: an isolation forest (Liu, Ting and Zhou, "Isolation Forest", ICDM
//! 2008), the standard unsupervised baseline flowvigil is compared against on the same windows.
//!
//! Shape as linfa: [`IsolationForestParams`] (builder) → [`check`](IsolationForestParams::check)
//! → [`IsolationForestValidParams`] → [`fit`](IsolationForestValidParams::fit) →
//! [`IsolationForest`] with [`score`](IsolationForest::score).
//!
//! Each tree is grown on a subsample of `sample_size` rows drawn without replacement, splitting
//! on a random non-constant feature at a uniform random value between the node's minimum and
//! maximum, up to depth ⌈log₂ sample_size⌉. A point's score is `2^(−E[h(x)] / c(ψ))` where
//! `h(x)` is its path length (plus `c(leaf size)` at a leaf that was not split further) and
//! `c(n) = 2H(n−1) − 2(n−1)/n` is the average path length of an unsuccessful binary-search-tree
//! search. Scores lie in (0, 1]; near 1 is anomalous, below 0.5 is ordinary.
//!
//! Deterministic: the same data, params and seed give the same forest on any machine (one
//! xoshiro256++ stream, no threads, no hashing).
//!
//! Memory: at most `n_trees × (2 × sample_size − 1)` nodes of 16 bytes, plus one `u32` index per
//! training row during `fit`; with the defaults (100 trees of 256) about 0.8 MB.

use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// At most this many trees (bounds memory; thousands already give a stable score).
pub const MAX_TREES: usize = 10_000;
/// At most this many rows per tree.
pub const MAX_SAMPLE_SIZE: usize = 1 << 16;

/// A rejected parameter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IsolationForestParamsError {
    /// `n_trees` is 0 or above [`MAX_TREES`].
    #[error("n_trees must be in 1..={MAX_TREES}, found {0}")]
    Trees(usize),
    /// `sample_size` is below 2 or above [`MAX_SAMPLE_SIZE`].
    #[error("sample_size must be in 2..={MAX_SAMPLE_SIZE}, found {0}")]
    SampleSize(usize),
}

/// Errors fitting an isolation forest.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum IsolationForestError {
    /// A parameter was rejected.
    #[error(transparent)]
    Params(#[from] IsolationForestParamsError),
    /// Fewer than 2 training rows (nothing can be isolated).
    #[error("isolation forest needs at least 2 training rows, found {0}")]
    TooFewRows(usize),
    /// A training value is NaN or infinite.
    #[error("training row {row}, feature {column}: expected a finite number, found {value}")]
    NonFinite {
        /// 0-based row index.
        row: usize,
        /// 0-based feature index.
        column: usize,
        /// The value.
        value: f64,
    },
    /// Zero features per row.
    #[error("isolation forest needs at least one feature")]
    NoFeatures,
}

/// Parameters of an isolation forest, unchecked. Defaults are the paper's: 100 trees of 256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsolationForestParams(IsolationForestValidParams);

/// Checked parameters, ready to [`fit`](Self::fit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsolationForestValidParams {
    n_trees: usize,
    sample_size: usize,
    seed: u64,
}

impl Default for IsolationForestParams {
    fn default() -> Self {
        Self::new()
    }
}

impl IsolationForestParams {
    /// The paper's defaults: 100 trees, subsamples of 256 rows, seed 0.
    pub fn new() -> Self {
        IsolationForestParams(IsolationForestValidParams {
            n_trees: 100,
            sample_size: 256,
            seed: 0,
        })
    }

    /// Number of trees.
    pub fn n_trees(mut self, n: usize) -> Self {
        self.0.n_trees = n;
        self
    }

    /// Rows per tree (ψ); fewer when the training set is smaller.
    pub fn sample_size(mut self, n: usize) -> Self {
        self.0.sample_size = n;
        self
    }

    /// Random seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }

    /// Checks the parameters.
    pub fn check(self) -> Result<IsolationForestValidParams, IsolationForestParamsError> {
        let p = self.0;
        if p.n_trees == 0 || p.n_trees > MAX_TREES {
            return Err(IsolationForestParamsError::Trees(p.n_trees));
        }
        if p.sample_size < 2 || p.sample_size > MAX_SAMPLE_SIZE {
            return Err(IsolationForestParamsError::SampleSize(p.sample_size));
        }
        Ok(p)
    }

    /// Checks the parameters, then fits (linfa's `ParamGuard` convenience).
    pub fn fit<const N: usize>(
        self,
        data: &[[f64; N]],
    ) -> Result<IsolationForest<N>, IsolationForestError> {
        self.check()?.fit(data)
    }
}

impl IsolationForestValidParams {
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.n_trees
    }

    /// Rows per tree.
    pub fn sample_size(&self) -> usize {
        self.sample_size
    }

    /// Random seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Grows the forest on `data` (rows of `N` features, every value finite).
    pub fn fit<const N: usize>(
        &self,
        data: &[[f64; N]],
    ) -> Result<IsolationForest<N>, IsolationForestError> {
        if N == 0 {
            return Err(IsolationForestError::NoFeatures);
        }
        if data.len() < 2 {
            return Err(IsolationForestError::TooFewRows(data.len()));
        }
        for (row, x) in data.iter().enumerate() {
            if let Some((column, &value)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(IsolationForestError::NonFinite { row, column, value });
            }
        }
        let psi = self.sample_size.min(data.len());
        let max_depth = usize::BITS - (psi - 1).leading_zeros(); // ⌈log₂ ψ⌉
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let mut index: Vec<u32> = (0..data.len())
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        let mut trees = Vec::with_capacity(self.n_trees);
        for _ in 0..self.n_trees {
            // Partial Fisher–Yates: the first ψ entries become a uniform sample without
            // replacement; the rest of the permutation is reused by the next tree.
            for i in 0..psi {
                let j = i + below(&mut rng, index.len() - i);
                index.swap(i, j);
            }
            let mut sample: Vec<u32> = index.get(..psi).unwrap_or(&[]).to_vec();
            let mut tree = Vec::with_capacity(2 * psi);
            grow(data, &mut sample, 0, max_depth, &mut rng, &mut tree);
            trees.push(tree);
        }
        Ok(IsolationForest {
            trees,
            c_psi: average_path(psi as f64),
        })
    }
}

/// A node of a tree, stored flat in 16 bytes: children by index, a leaf marked by `feature`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Node {
    /// Split value; for a leaf, c(leaf size), precomputed so scoring needs no logarithm.
    value: f64,
    /// Split feature, or [`LEAF`].
    feature: u32,
    /// Split: index of the right child (the left child follows the node). Leaf: its size.
    right: u32,
}

/// `Node::feature` of a leaf.
const LEAF: u32 = u32::MAX;

impl Node {
    fn leaf(size: usize) -> Self {
        Node {
            value: average_path(size as f64),
            feature: LEAF,
            right: u32::try_from(size).unwrap_or(u32::MAX),
        }
    }
}

/// A fitted isolation forest over rows of `N` features.
#[derive(Clone, Debug, PartialEq)]
pub struct IsolationForest<const N: usize> {
    /// Each tree in pre-order: a split's left child follows it, its right child is at `right`.
    trees: Vec<Vec<Node>>,
    c_psi: f64,
}

impl<const N: usize> IsolationForest<N> {
    /// The anomaly score `2^(−E[h(x)] / c(ψ))` in (0, 1]: higher is more anomalous.
    ///
    /// `x` holds the `N` features in training order; an array `&[f64; N]` coerces to it. A NaN
    /// feature takes the right branch at every split on it (it compares as not below the split
    /// value), and so does a feature missing from a slice shorter than `N` (values beyond `N`
    /// are ignored): such a row is scored deterministically, never rejected.
    pub fn score(&self, x: &[f64]) -> f64 {
        let mean = self.trees.iter().map(|t| path_length(t, x)).sum::<f64>()
            / self.trees.len().max(1) as f64;
        (-mean / self.c_psi).exp2()
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }
}

fn grow<const N: usize>(
    data: &[[f64; N]],
    rows: &mut [u32],
    depth: u32,
    max_depth: u32,
    rng: &mut Xoshiro256PlusPlus,
    tree: &mut Vec<Node>,
) {
    let leaf = Node::leaf(rows.len());
    if depth >= max_depth || rows.len() <= 1 {
        tree.push(leaf);
        return;
    }
    let value_of = |r: &u32, f: usize| data.get(*r as usize).and_then(|x| x.get(f)).copied();
    // Ranges per feature; only non-constant features can split (as scikit-learn's trees).
    let mut ranges = [(f64::INFINITY, f64::NEG_INFINITY); N];
    for r in rows.iter() {
        for (f, range) in ranges.iter_mut().enumerate() {
            if let Some(v) = value_of(r, f) {
                range.0 = range.0.min(v);
                range.1 = range.1.max(v);
            }
        }
    }
    let splittable: Vec<usize> = (0..N)
        .filter(|&f| ranges.get(f).is_some_and(|r| r.1 > r.0))
        .collect();
    if splittable.is_empty() {
        tree.push(leaf);
        return;
    }
    let feature = splittable
        .get(below(rng, splittable.len()))
        .copied()
        .unwrap_or(0);
    let (min, max) = ranges.get(feature).copied().unwrap_or((0.0, 0.0));
    let mut value = min + unit(rng) * (max - min);
    if value >= max {
        // Rounding can land on max; min still splits (x <= min left, max right).
        value = min;
    }
    // Partition in place: rows with x <= value first.
    let mut mid = 0;
    for i in 0..rows.len() {
        if value_of(&rows[i], feature).is_some_and(|v| v <= value) {
            rows.swap(i, mid);
            mid += 1;
        }
    }
    let at = tree.len();
    tree.push(Node {
        value,
        feature: u32::try_from(feature).unwrap_or(LEAF),
        right: 0,
    });
    let (left, right) = rows.split_at_mut(mid);
    grow(data, left, depth + 1, max_depth, rng, tree);
    let right_at = u32::try_from(tree.len()).unwrap_or(u32::MAX);
    if let Some(node) = tree.get_mut(at) {
        node.right = right_at;
    }
    grow(data, right, depth + 1, max_depth, rng, tree);
}

fn path_length(tree: &[Node], x: &[f64]) -> f64 {
    let mut at = 0usize;
    let mut depth = 0.0;
    // A tree has at most 2ψ − 1 nodes and every step moves forward, so this terminates.
    while let Some(node) = tree.get(at) {
        if node.feature == LEAF {
            return depth + node.value;
        }
        let goes_left = x
            .get(node.feature as usize)
            .is_some_and(|v| *v <= node.value);
        at = if goes_left {
            at + 1
        } else {
            node.right as usize
        };
        depth += 1.0;
    }
    depth
}

/// c(n): average path length of an unsuccessful search in a binary search tree of n nodes.
fn average_path(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else if n == 2.0 {
        1.0
    } else {
        const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
        2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
    }
}

/// Uniform integer in 0..n (n > 0), by Lemire's multiply-shift (bias below 2⁻³², irrelevant here).
fn below(rng: &mut Xoshiro256PlusPlus, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// Uniform float in [0, 1) with 53 random bits.
fn unit(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_take_16_bytes() {
        // The memory bound in the module docs counts on it.
        assert_eq!(std::mem::size_of::<Node>(), 16);
    }

    #[test]
    fn average_path_matches_the_paper() {
        assert_eq!(average_path(1.0), 0.0);
        assert_eq!(average_path(2.0), 1.0);
        // c(256) ≈ 10.24 (2·(ln 255 + γ) − 2·255/256).
        assert!((average_path(256.0) - 10.2448).abs() < 1e-3);
    }

    #[test]
    fn trees_respect_the_depth_limit_and_size() {
        let data: Vec<[f64; 2]> = (0..1000).map(|i| [i as f64, (i * 7 % 13) as f64]).collect();
        let f = IsolationForestParams::new()
            .n_trees(5)
            .sample_size(64)
            .fit(&data)
            .unwrap();
        for t in &f.trees {
            assert!(t.len() < 2 * 64);
            let leaves: u32 = t
                .iter()
                .map(|n| if n.feature == LEAF { n.right } else { 0 })
                .sum();
            assert_eq!(leaves, 64, "every sampled row ends in one leaf");
        }
    }
}
