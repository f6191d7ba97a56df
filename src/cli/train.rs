//! `flowvigil train`: logs → windows → features → a trained model file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use flowvigil::detect::{FindingRules, TrainParams};
use flowvigil::features::WindowFeatures;
use flowvigil::flowlog::{Format, Interner, LogReader, ReadOptions};
use flowvigil::model;
use flowvigil::window::{run_sharded, WindowConfig, WindowSink};

/// Flags of `flowvigil train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Historical flow logs: files, `.gz` files, folders (walked recursively), or `-` for stdin.
    #[arg(required = true, value_name = "LOGS")]
    pub inputs: Vec<PathBuf>,
    /// Where to write the model (`.fvm`), atomically.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Window width, seconds.
    #[arg(long, default_value_t = 300)]
    pub window_secs: u32,
    /// How late (seconds behind the highest `end` seen) a record may arrive and still count.
    #[arg(long, default_value_t = 900)]
    pub allowed_lateness_secs: u32,
    /// Half-life of the per-ENI baselines, in windows (288 = one day of 5-minute windows).
    #[arg(long, default_value_t = 288.0)]
    pub half_life_windows: f64,
    /// Number of peer groups; by default k is chosen by silhouette over 2..=8.
    #[arg(long, value_name = "K")]
    pub clusters: Option<usize>,
    /// Target alerts per 1,000 ENI-windows (sets the threshold on the training data).
    #[arg(long, default_value_t = 1.0)]
    pub alerts_per_1000: f64,
    /// Seed of k-means and of the calibration sample.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Let alerted windows update their ENI's baseline when scoring (off by default).
    #[arg(long)]
    pub no_protect: bool,
    /// Threads (window shards); default: all cores.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Stop at the first malformed line (exit 1) instead of counting it (exit 2 at the end).
    #[arg(long)]
    pub strict: bool,
    /// Field list of header-less input, e.g. "version account-id interface-id srcaddr ...".
    #[arg(long, value_name = "FIELDS")]
    pub format: Option<String>,
}

/// Keeps each window with its ENI's name, so the windows of every shard can be renamed into one
/// interner whatever ids the shards used.
#[derive(Default)]
struct NamedWindows(Vec<(String, WindowFeatures)>);

impl WindowSink for NamedWindows {
    type Output = Vec<(String, WindowFeatures)>;
    fn accept(&mut self, w: WindowFeatures) {
        self.0.push((String::new(), w));
    }
    fn accept_named(&mut self, w: WindowFeatures, names: &Interner) {
        self.0.push((names.name(w.eni).to_string(), w));
    }
    fn finish(self) -> Self::Output {
        self.0
    }
}

/// Runs `flowvigil train`: exit 0, or 2 when bad lines or late records were counted.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let params = TrainParams {
        half_life_windows: args.half_life_windows,
        clusters: args.clusters,
        alerts_per_1000: args.alerts_per_1000,
        seed: args.seed,
        protect: !args.no_protect,
        window_secs: args.window_secs,
        rules: FindingRules::default(),
        ..TrainParams::default()
    };
    let valid = params.check().context("checking training parameters")?;
    let format = args
        .format
        .as_deref()
        .map(Format::parse)
        .transpose()
        .context("--format")?;
    let opts = ReadOptions {
        strict: args.strict,
        format,
        ..ReadOptions::default()
    };
    let cfg = WindowConfig {
        window_secs: args.window_secs,
        allowed_lateness_secs: args.allowed_lateness_secs,
        ..WindowConfig::default()
    };
    let threads = args
        .threads
        .unwrap_or_else(rayon::current_num_threads)
        .max(1);
    let mut reader = LogReader::open(&args.inputs, opts)?;
    let (shards, stats) = run_sharded(
        &mut reader,
        &cfg,
        threads,
        |_| NamedWindows::default(),
        |_, _| Ok(()),
    )
    .context("windowing the training logs")?;
    // One interner in name order and windows in (window_start, name) order: the same model
    // whatever the thread count or input order.
    let mut named: Vec<(String, WindowFeatures)> = shards.into_iter().flatten().collect();
    named.sort_by(|a, b| (a.1.window_start, &a.0).cmp(&(b.1.window_start, &b.0)));
    let mut sorted_names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
    sorted_names.sort_unstable();
    sorted_names.dedup();
    let mut names = Interner::new();
    for n in &sorted_names {
        names.intern(n.as_bytes());
    }
    let windows: Vec<WindowFeatures> = named
        .into_iter()
        .map(|(n, mut w)| {
            w.eni = names.get(n.as_bytes()).unwrap_or(w.eni);
            w
        })
        .collect();
    let m = valid.fit(&windows, &names).context("training")?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    model::save(&m, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
    let late: u64 = stats.late_by_eni.iter().map(|(_, n)| n).sum();
    let read = reader.summary();
    eprintln!(
        "flowvigil: trained on {} records → {} windows of {} ENIs; {} peer groups; threshold {:.6}; wrote {}",
        read.records,
        m.meta.windows,
        m.enis.len(),
        m.scorer.groups.len(),
        m.scorer.calibration.threshold,
        args.out.display()
    );
    if read.bad_lines > 0 || late > 0 {
        eprintln!(
            "flowvigil: {} bad line(s) and {late} late record(s) counted and skipped",
            read.bad_lines
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
