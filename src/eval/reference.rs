//! Running the reference isolation forest on flowvigil's own feature vectors, so the comparison
//! is on the same windows and the same features.

use crate::features::{FeatureVector, LOG_SCALED};

use super::{EvalError, IsolationForestParams};

/// The feature vector as flowvigil's models see it: counts and volumes ([`LOG_SCALED`]) become
/// `ln(1 + max(x, 0))` (NaN stays NaN), the rest is unchanged. Without it, byte counts spanning nine orders of
/// magnitude would put almost every random split of the isolation forest in the top decade.
pub fn log_scale(v: &FeatureVector) -> FeatureVector {
    let mut out = *v;
    for (x, &log) in out.iter_mut().zip(LOG_SCALED.iter()) {
        // NaN stays NaN (f64::max would hide it as 0) so that `fit` can reject it.
        if log && !x.is_nan() {
            *x = x.max(0.0).ln_1p();
        }
    }
    out
}

/// Fits an isolation forest on the training period's feature vectors and scores the evaluation
/// windows' vectors, both through [`log_scale`]. Scores are in (0, 1], higher is more
/// anomalous, in the order of `eval`.
///
/// Training rows with a non-finite value are an error naming the row (the feature code should
/// never produce one); an evaluation row with NaN is still scored (see
/// [`IsolationForest::score`](super::IsolationForest::score)).
pub fn isolation_forest_scores(
    train: &[FeatureVector],
    eval: &[FeatureVector],
    params: IsolationForestParams,
) -> Result<Vec<f64>, EvalError> {
    let train: Vec<FeatureVector> = train.iter().map(log_scale).collect();
    let forest = params.fit(&train)?;
    // Scoring is independent per window: rayon spreads it over the cores, and `collect` keeps
    // the input order, so the result does not depend on the thread count.
    use rayon::prelude::*;
    Ok(eval
        .par_iter()
        .map(|x| forest.score(&log_scale(x)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{Feature, NUM_FEATURES};

    #[test]
    fn log_scale_touches_only_counts_and_volumes() {
        let mut v = [3.0; NUM_FEATURES];
        v[Feature::BytesOut as usize] = -5.0;
        let s = log_scale(&v);
        assert_eq!(s[Feature::FlowsOut as usize], 4.0f64.ln());
        assert_eq!(s[Feature::BytesOut as usize], 0.0);
        assert_eq!(s[Feature::ByteRatio as usize], 3.0);
        assert_eq!(s[Feature::SmallFlowFrac as usize], 3.0);
    }

    #[test]
    fn a_burst_window_outscores_ordinary_ones() {
        let ordinary = |i: usize| {
            let mut v = [0.0; NUM_FEATURES];
            v[Feature::FlowsOut as usize] = 20.0 + (i % 7) as f64;
            v[Feature::BytesOut as usize] = 40_000.0 + (i % 13) as f64 * 1000.0;
            v[Feature::FanOut as usize] = 3.0 + (i % 3) as f64;
            v[Feature::DstPortsOut as usize] = 2.0 + (i % 2) as f64;
            v
        };
        let train: Vec<FeatureVector> = (0..500).map(ordinary).collect();
        let mut scan = ordinary(1);
        scan[Feature::DstPortsOut as usize] = 900.0;
        scan[Feature::FanOut as usize] = 1.0;
        let params_again = || IsolationForestParams::new().seed(1);
        let s = isolation_forest_scores(&train, &[ordinary(3), scan], params_again()).unwrap();
        // Off the training range in two features (splits only fall inside it, so the margin
        // is modest: a known property of isolation forests).
        assert!(s[1] > s[0], "{s:?}");
        let swapped =
            isolation_forest_scores(&train, &[scan, ordinary(3)], params_again()).unwrap();
        assert_eq!(swapped, [s[1], s[0]], "scores follow the order of `eval`");
        let mut bad = train.clone();
        bad[4][0] = f64::NAN;
        let err = isolation_forest_scores(&bad, &[], IsolationForestParams::new()).unwrap_err();
        assert!(err.to_string().contains("row 4"), "{err}");
    }
}
