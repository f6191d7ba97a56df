//! `flowvigil demo`: the embedded default. Generates a synthetic VPC (clean history days, then
//! attack days), trains on the clean days' S3 folders, then backtests and evaluates the rest
//! against the labels next to a reference isolation forest, and writes the report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;

use flowvigil::detect::TrainParams;
use flowvigil::engine::train_from_logs;
use flowvigil::flowlog::{LogReader, ReadOptions};
use flowvigil::gen::{civil, generate, GenConfig};
use flowvigil::report::text::num3;
use flowvigil::window::WindowConfig;

use super::common;
use super::eval::{evaluate_logs, load_labels, Outputs, Plan};
use super::progress::Progress;

/// Flags of `flowvigil demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder: receives `data/` (the generated logs and labels), `model.fvm`,
    /// `alerts.jsonl`, `metrics.json`, `summary.md` and `report.html`.
    #[arg(long, value_name = "DIR", default_value = "out/demo")]
    pub out: PathBuf,
    /// Seed of the synthetic VPC (the same seed gives the same data, model and results).
    #[arg(long, value_name = "N", default_value_t = GenConfig::default().seed)]
    pub seed: u64,
    /// Number of ENIs (8..=5000).
    #[arg(long, value_name = "N", default_value_t = GenConfig::default().enis)]
    pub enis: usize,
    /// Days simulated: all but the last are clean history to train on (at least 2).
    #[arg(long, value_name = "N", default_value_t = GenConfig::default().days)]
    pub days: u32,
    /// Attack intensity: 1 default, 0.3 subtle, 10 loud.
    #[arg(long, value_name = "X", default_value_t = GenConfig::default().attack_scale)]
    pub attack_scale: f64,
    /// Worker threads (shards); results do not depend on it. Default: the machine's cores.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Runs `flowvigil demo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.days >= 2,
        "--days must be at least 2 (clean history to train on, then a day with attacks)"
    );
    let cfg = GenConfig {
        seed: args.seed,
        enis: args.enis,
        days: args.days,
        clean_days: args.days - 1,
        attack_scale: args.attack_scale,
        ..GenConfig::default()
    };
    cfg.validate().context("checking demo flags")?;
    let threads = common::threads(args.threads);
    let data = args.out.join("data");
    // Wall-clock time only times the stages for the person watching; no result depends on it.
    let started = Instant::now();

    let t = Instant::now();
    clear_previous(&data)?;
    let gen =
        generate(&cfg, &data).with_context(|| format!("generating into {}", data.display()))?;
    println!(
        "[1/4] generated {} ENIs × {} days: {} records ({} of them attack traffic), {} attacks \
         → {} ({:.1} s)",
        gen.enis.len(),
        cfg.days,
        gen.records,
        gen.attack_records,
        gen.attacks.len(),
        data.display(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let (history, attack_days) = split_days(&data, &cfg)?;
    let reader = LogReader::open(&history, ReadOptions::default())?;
    let params = TrainParams::default();
    let mut progress = Progress::new("train");
    let (model, run, _reader) = train_from_logs(
        reader,
        &WindowConfig::default(),
        &params,
        threads,
        &mut |n| progress.update(n),
    )
    .context("training")?;
    progress.done();
    let model_path = args.out.join("model.fvm");
    flowvigil::model::save(&model, &model_path)?;
    let late: u64 = run.late_by_eni.iter().map(|(_, n)| n).sum();
    println!(
        "[2/4] trained on the {} clean day(s) ({} windows of {} ENIs, {} late records, {} peer \
         groups) → {} ({:.1} s)",
        cfg.clean_days,
        model.meta.windows,
        model.enis.len(),
        late,
        model.scorer.groups.len(),
        model_path.display(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    println!(
        "[3/4] backtesting and evaluating {} ...\n",
        attack_days
            .iter()
            .map(|p| p.strip_prefix(&data).unwrap_or(p).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let labels = load_labels(&data.join("labels.csv"))?;
    let reader = LogReader::open(&attack_days, ReadOptions::default())?;
    let outputs = Outputs {
        report: Some(args.out.join("report.html")),
        json: Some(args.out.join("metrics.json")),
        markdown: Some(args.out.join("summary.md")),
        alerts: Some(args.out.join("alerts.jsonl")),
    };
    let name = format!(
        "synthetic VPC (seed {}, {} ENIs, attack scale {})",
        cfg.seed, cfg.enis, cfg.attack_scale
    );
    let plan = Plan {
        model: &model,
        labels,
        threads,
        reference_seed: 42,
        title: format!("flowvigil demo: {name}"),
        name,
        dataset: format!(
            "A simulated VPC of {} ENIs in eight roles (flowvigil gen --seed {} --enis {} --days \
             {} --attack-scale {}): trained on {} clean day(s), evaluated on the last day, which \
             holds {} injected attacks of {} kinds; window ground truth from labels.csv.",
            cfg.enis,
            cfg.seed,
            cfg.enis,
            cfg.days,
            cfg.attack_scale,
            cfg.clean_days,
            gen.attacks.len(),
            gen.attacks_per_type.len()
        ),
        facts: vec![
            ("seed".into(), cfg.seed.to_string()),
            ("attack scale".into(), cfg.attack_scale.to_string()),
        ],
        outputs,
        top: 10,
    };
    let outcome = evaluate_logs(reader, plan)?;
    println!(
        "\n[3/4] backtest and evaluation: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    println!(
        "[4/4] wrote {}/{{report.html, metrics.json, summary.md, alerts.jsonl, model.fvm}}; \
         open the report in a browser (it works offline)",
        args.out.display()
    );
    let (f, r) = (&outcome.flowvigil, &outcome.reference);
    println!(
        "total {:.1} s. flowvigil: average precision {}, ROC-AUC {}, {} of {} attacks detected \
         (isolation forest on the same windows: {}, {}, {} of {})",
        started.elapsed().as_secs_f64(),
        num3(f.average_precision),
        num3(f.roc_auc),
        f.delay.detected,
        f.delay.attacks,
        num3(r.average_precision),
        num3(r.roc_auc),
        r.delay.detected,
        r.delay.attacks
    );
    Ok(common::finished(&outcome.read))
}

/// Removes the logs of an earlier demo run in `data` (the generator overwrites same-named files
/// but would leave other days' objects behind, which this run would then read). Only a folder
/// that holds the generator's `manifest.json` is touched.
fn clear_previous(data: &Path) -> anyhow::Result<()> {
    let logs = data.join("AWSLogs");
    if data.join("manifest.json").is_file() && logs.is_dir() {
        std::fs::remove_dir_all(&logs)
            .with_context(|| format!("removing the previous demo's {}", logs.display()))?;
    }
    Ok(())
}

/// The day folders (`AWSLogs/{acct}/vpcflowlogs/{region}/YYYY/MM/DD`) of the clean history and
/// those of the rest (attack days, and the day after the last one, where late records land).
fn split_days(data: &Path, cfg: &GenConfig) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let base = data
        .join("AWSLogs")
        .join(cfg.account_id.to_string())
        .join("vpcflowlogs")
        .join(&cfg.region);
    let folder = |day: u32| {
        let (y, m, d, _, _) = civil::parts(cfg.start_unix + u64::from(day) * 86_400);
        base.join(format!("{y:04}"))
            .join(format!("{m:02}"))
            .join(format!("{d:02}"))
    };
    let history: Vec<PathBuf> = (0..cfg.clean_days).map(folder).collect();
    // One day more than simulated: objects of the last minutes are delivered after midnight.
    let rest: Vec<PathBuf> = (cfg.clean_days..=cfg.days)
        .map(folder)
        .filter(|p| p.is_dir())
        .collect();
    for p in &history {
        anyhow::ensure!(p.is_dir(), "the generator wrote no folder {}", p.display());
    }
    anyhow::ensure!(!rest.is_empty(), "the generator wrote no attack day");
    Ok((history, rest))
}
