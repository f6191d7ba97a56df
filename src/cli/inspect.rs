//! `flowvigil inspect`: what a model file holds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use flowvigil::detect::{DETECTOR_NAMES, NUM_DETECTORS};
use flowvigil::features::{FEATURE_NAMES, LOG_SCALED};
use flowvigil::model::{self, Model};

/// Flags of `flowvigil inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file (`.fvm`).
    pub model: PathBuf,
    /// Typical features shown per peer group.
    #[arg(long, default_value_t = 6)]
    pub top_features: usize,
}

/// Runs `flowvigil inspect`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let m =
        model::load(&args.model).with_context(|| format!("inspecting {}", args.model.display()))?;
    print!("{}", render(&m, &args.model, args.top_features));
    Ok(ExitCode::SUCCESS)
}

fn raw(i: usize, x: f64) -> f64 {
    if LOG_SCALED.get(i).copied().unwrap_or(false) {
        x.exp_m1()
    } else {
        x
    }
}

/// The report, as text (kept separate from printing so it can be tested).
pub fn render(m: &Model, path: &std::path::Path, top: usize) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let meta = &m.meta;
    let p = &meta.params;
    let s = &m.scorer;
    let _ = writeln!(o, "model {}", path.display());
    let _ = writeln!(o, "  created by      {}", meta.created_by);
    let _ = writeln!(
        o,
        "  training span   {} .. {} (window starts, Unix s; {:.1} days)",
        meta.first_window,
        meta.last_window,
        meta.last_window.saturating_sub(meta.first_window) as f64 / 86_400.0
    );
    let _ = writeln!(
        o,
        "  windows         {} ({} with a High finding left out of calibration)",
        meta.windows, meta.calibration_excluded
    );
    let _ = writeln!(o, "  ENIs            {}", m.enis.len());
    let _ = writeln!(
        o,
        "  params          window {} s, half-life {} windows, prior {} windows, seed {}, protect {}{}",
        p.window_secs,
        p.half_life_windows,
        p.prior_windows,
        p.seed,
        p.protect,
        match (p.protect, p.protect_max_windows) {
            (false, _) => String::new(),
            (true, 0) => " (no limit)".to_string(),
            (true, n) => format!(" (at most {n} alerting windows in a row)"),
        }
    );
    let cal = &s.calibration;
    let _ = writeln!(
        o,
        "  threshold       anomaly_score > {:.6} (target {} alerts per 1,000 ENI-windows)",
        cal.threshold, cal.alerts_per_1000
    );
    let _ = writeln!(o, "detector quantiles (raw scores on training windows)");
    let _ = writeln!(
        o,
        "  {:<14} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "detector", "p50", "p90", "p99", "p99.9", "max"
    );
    for d in 0..NUM_DETECTORS {
        if let (Some(name), Some(q)) = (DETECTOR_NAMES.get(d), cal.detectors.get(d)) {
            let _ = writeln!(
                o,
                "  {:<14} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                name,
                q.quantile(0.5),
                q.quantile(0.9),
                q.quantile(0.99),
                q.quantile(0.999),
                q.quantile(1.0)
            );
        }
    }
    let _ = writeln!(o, "peer groups: {}", s.groups.len());
    for (g, grp) in s.groups.iter().enumerate() {
        let _ = writeln!(o, "  group {g}: {} ENIs, {} windows; most distinctive features (typical value: geometric mean for counts and volumes):", grp.enis, grp.windows);
        // The features that set the group apart most from the average ENI.
        let mut idx: Vec<usize> = (0..FEATURE_NAMES.len()).collect();
        idx.sort_by(|&a, &b| {
            let ca = grp.centroid.get(a).map_or(0.0, |c| c.abs());
            let cb = grp.centroid.get(b).map_or(0.0, |c| c.abs());
            cb.total_cmp(&ca).then(a.cmp(&b))
        });
        for &i in idx.iter().take(top) {
            let (Some(name), Some(mean), Some(c)) = (
                FEATURE_NAMES.get(i),
                grp.prior_mean.get(i),
                grp.centroid.get(i),
            ) else {
                continue;
            };
            let _ = writeln!(
                o,
                "    {name:<20} {:>14.2}  ({c:+.2} sd from all ENIs)",
                raw(i, *mean)
            );
        }
    }
    o
}
