//! `flowvigil train`: logs → windows → features → a trained model file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use flowvigil::detect::TrainParams;
use flowvigil::engine::train_from_logs;
use flowvigil::flowlog::LogReader;
use flowvigil::model;

use super::common::{self, ReadArgs, WindowArgs};

/// Flags of `flowvigil train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Historical flow logs: files, `.gz` files, folders (walked recursively), or `-` for stdin.
    /// Train on history you believe clean: training traffic defines normal.
    #[arg(required = true, value_name = "LOGS")]
    pub inputs: Vec<PathBuf>,
    /// Where to write the model (`.fvm`), atomically; missing folders are created.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Window flags.
    #[command(flatten)]
    pub window: WindowArgs,
    /// Reader flags.
    #[command(flatten)]
    pub read: ReadArgs,
    /// Half-life of the per-ENI baselines, in windows (288 = one day of 5-minute windows).
    #[arg(long, value_name = "N", default_value_t = TrainParams::default().half_life_windows)]
    pub half_life_windows: f64,
    /// Number of peer groups; by default k is chosen by silhouette over 2..=min(8, ENIs/3).
    #[arg(long, value_name = "K")]
    pub clusters: Option<usize>,
    /// Target alerts per 1,000 ENI-windows (sets the threshold on the training data).
    #[arg(long, value_name = "X", default_value_t = TrainParams::default().alerts_per_1000)]
    pub alerts_per_1000: f64,
    /// Seed of k-means and of the calibration sample.
    #[arg(long, value_name = "N", default_value_t = TrainParams::default().seed)]
    pub seed: u64,
    /// Let alerted windows update their ENI's baseline when scoring (off by default: an
    /// attacker repeating an attack must not teach the model that it is normal).
    #[arg(long)]
    pub no_protect: bool,
    /// Most alerting windows in a row an ENI's baseline stays protected (24 = two hours of
    /// 5-minute windows); then its alerting windows are learned until one does not alert
    /// (except those with a typed finding of Medium severity or more, always protected), so a
    /// lasting change without a recognised attack pattern stops alerting. 0 = no limit.
    #[arg(long, value_name = "N", default_value_t = TrainParams::default().protect_max_windows)]
    pub protect_max_windows: u32,
    /// Threads: two over default-v2 input run as a pipeline (one thread reads, both window the
    /// ENIs' shards); otherwise each thread parses chunks of the input and windows one shard of
    /// the ENIs. Default: all cores. The model does not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Runs `flowvigil train`: exit 0, or 2 when bad lines were counted.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let params = TrainParams {
        half_life_windows: args.half_life_windows,
        clusters: args.clusters,
        alerts_per_1000: args.alerts_per_1000,
        seed: args.seed,
        protect: !args.no_protect,
        protect_max_windows: args.protect_max_windows,
        window_secs: args.window.window_secs,
        ..TrainParams::default()
    };
    // Reject bad flags before reading any input.
    params.check().context("checking training parameters")?;
    let windowing = args.window.config();
    windowing.validate().context("checking window flags")?;
    let reader = LogReader::open(&args.inputs, args.read.options()?)?;
    let threads = common::threads(args.threads);
    let mut progress = super::progress::Progress::new("train");
    let (m, run, reader) = train_from_logs(reader, &windowing, &params, threads, &mut |n| {
        progress.update(n)
    })
    .context("training")?;
    progress.done();
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    model::save(&m, &args.out)?;
    let read = reader.summary();
    let late: u64 = run.late_by_eni.iter().map(|(_, n)| n).sum();
    eprintln!(
        "flowvigil: trained on {} records → {} windows of {} ENIs ({} late records counted); \
         {} peer groups; threshold {:.6}; wrote {}",
        read.records,
        m.meta.windows,
        m.enis.len(),
        late,
        m.scorer.groups.len(),
        m.scorer.calibration.threshold,
        args.out.display()
    );
    Ok(common::finished(read))
}
