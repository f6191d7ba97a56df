//! `flowvigil eval`: backtest a model over labeled logs, judge it against the labels next to a
//! reference isolation forest on the same windows, print the metrics, and write JSON, a
//! Markdown table and the HTML report. [`evaluate_logs`] is the one path `demo` shares.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use flowvigil::detect::Verdict;
use flowvigil::engine::{self, AlertFormat, BacktestOptions, ScoredRow};
use flowvigil::eval::{self, evaluate, EvalInput, IsolationForestParams, Metrics, ScoredWindow};
use flowvigil::flowlog::{LogReader, ReadSummary};
use flowvigil::labels::{read_labels, Label};
use flowvigil::model::Model;
use flowvigil::report::{
    self, console, render_html, top_alert_rows, top_eni_timelines, AlertRow, DetectorReport,
    ReportData,
};

use super::common::{self, ReadArgs};
use super::progress::Progress;

/// ENIs whose score timeline the report plots.
const TIMELINES: usize = 6;
/// Alerts listed in the report.
const REPORT_ALERTS: usize = 25;
/// At most this many of the listed alerts come from one ENI (a long attack would fill the list).
const ALERTS_PER_ENI: usize = 3;

/// Flags of `flowvigil eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file (`flowvigil train`), trained on history before these logs.
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// The labels file (`labels.csv`, as `flowvigil gen` and `flowvigil convert` write it).
    #[arg(long, value_name = "FILE")]
    pub labels: PathBuf,
    /// Flow log files, `.gz` files or folders (walked recursively) to evaluate on.
    #[arg(required = true, value_name = "LOGS")]
    pub inputs: Vec<PathBuf>,
    /// Write the HTML report here.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write every metric (both detectors, curves included) as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the README table (Markdown, one row per detector) here.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write flowvigil's alerts (JSON lines) here.
    #[arg(long, value_name = "FILE")]
    pub alerts: Option<PathBuf>,
    /// Name of the data in the report and the Markdown table.
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// Threads: two over default-v2 input run as a pipeline (one thread reads, both score the
    /// ENIs' shards); otherwise each thread parses chunks of the input and scores one shard of
    /// the ENIs. The results are identical for any value. Default: the machine's cores.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Seed of the reference isolation forest.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub reference_seed: u64,
    /// Top alerts printed with their explanations.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `flowvigil eval`: exit 0, or 2 when bad lines were counted.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = flowvigil::model::load(&args.model)?;
    let labels = load_labels(&args.labels)?;
    let reader = LogReader::open(&args.inputs, args.read.options()?)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| describe_inputs(&args.inputs));
    let plan = Plan {
        model: &model,
        labels,
        threads: common::threads(args.threads),
        reference_seed: args.reference_seed,
        title: format!("flowvigil evaluation: {name}"),
        name,
        dataset: format!(
            "Model {} (trained on {} windows of {} ENIs, {} to {} UTC) replayed over {}, \
             judged against {}.",
            args.model.display(),
            model.meta.windows,
            model.meta.enis,
            report::text::datetime(model.meta.first_window),
            report::text::datetime(model.meta.last_window),
            describe_inputs(&args.inputs),
            args.labels.display()
        ),
        facts: vec![("model".into(), args.model.display().to_string())],
        outputs: Outputs {
            report: args.report,
            json: args.json,
            markdown: args.markdown,
            alerts: args.alerts,
        },
        top: args.top,
    };
    let out = evaluate_logs(reader, plan)?;
    Ok(common::finished(&out.read))
}

/// The inputs for a title: all of them when few, else the count, the first and the last.
pub(crate) fn describe_inputs(inputs: &[PathBuf]) -> String {
    let shown = |p: &PathBuf| p.display().to_string();
    match inputs {
        [first, .., last] if inputs.len() > 3 => format!(
            "{} inputs ({} … {})",
            inputs.len(),
            shown(first),
            shown(last)
        ),
        _ => inputs.iter().map(shown).collect::<Vec<_>>().join(", "),
    }
}

/// Reads a labels file, naming it in errors.
pub fn load_labels(path: &Path) -> anyhow::Result<Vec<Label>> {
    let f = File::open(path).with_context(|| format!("opening labels {}", path.display()))?;
    read_labels(BufReader::new(f)).with_context(|| format!("reading labels {}", path.display()))
}

/// Where [`evaluate_logs`] writes (each optional).
#[derive(Debug, Default)]
pub struct Outputs {
    /// The HTML report.
    pub report: Option<PathBuf>,
    /// Metrics JSON.
    pub json: Option<PathBuf>,
    /// The Markdown table.
    pub markdown: Option<PathBuf>,
    /// flowvigil's alerts, JSON lines.
    pub alerts: Option<PathBuf>,
}

/// What one evaluation runs on and writes.
pub struct Plan<'a> {
    /// The trained model.
    pub model: &'a Model,
    /// Ground truth.
    pub labels: Vec<Label>,
    /// Backtest shards.
    pub threads: usize,
    /// Seed of the reference forest.
    pub reference_seed: u64,
    /// Report title.
    pub title: String,
    /// Short name of the data (Markdown table).
    pub name: String,
    /// One paragraph on what was evaluated.
    pub dataset: String,
    /// Extra facts for the report header.
    pub facts: Vec<(String, String)>,
    /// Files to write.
    pub outputs: Outputs,
    /// Top alerts printed.
    pub top: usize,
}

/// What an evaluation found.
pub struct Outcome {
    /// flowvigil's metrics.
    pub flowvigil: Metrics,
    /// The reference's metrics.
    pub reference: Metrics,
    /// What the reader saw (bad lines decide the exit code).
    pub read: ReadSummary,
}

/// The JSON file: both detectors' metrics and what was evaluated.
#[derive(Serialize)]
struct MetricsFile<'a> {
    title: &'a str,
    dataset: &'a str,
    records: u64,
    flowvigil: &'a Metrics,
    references: &'a [DetectorReport],
}

/// Backtest → flowvigil's metrics → the reference on the same windows at the same alert rate →
/// printed table, top alerts, and the files in `plan.outputs`.
pub fn evaluate_logs(reader: LogReader, plan: Plan) -> anyhow::Result<Outcome> {
    let model = plan.model;
    let mut progress = Progress::new("eval");
    let opts = BacktestOptions {
        threads: plan.threads,
        keep_all: false,
        keep_features: true,
    };
    let (bt, reader) =
        engine::backtest(reader, model, &opts, &mut |n| progress.update(n)).context("backtest")?;
    progress.done();
    let read = reader.summary().clone();
    let window_secs = u64::from(model.windowing.window_secs);
    let windows = eval::scored_windows(&bt.rows);
    let flowvigil = evaluate(&EvalInput {
        windows: &windows,
        window_secs,
        labels: &plan.labels,
        threshold: eval::strict_threshold(model.scorer.calibration.threshold),
    });
    let rate = flowvigil.alerts_per_1000.unwrap_or(0.0);
    let params = IsolationForestParams::new().seed(plan.reference_seed);
    let valid = params
        .clone()
        .check()
        .context("reference isolation forest")?;
    let (n_trees, psi) = (valid.n_trees(), valid.sample_size());
    let reference_run = eval::isolation_forest_on_rows(&bt.rows, rate, params)
        .context("reference isolation forest")?;
    let reference = evaluate(&EvalInput {
        windows: &reference_run.windows,
        window_secs,
        labels: &plan.labels,
        threshold: reference_run.threshold,
    });
    let references = vec![DetectorReport {
        name: "isolation forest".into(),
        description: format!(
            "Liu et al. 2008, {n_trees} trees × {psi} rows, seed {}; fit unsupervised on these same \
             windows' log-scaled feature vectors; alerts at flowvigil's rate ({rate:.2} per 1,000)",
            plan.reference_seed
        ),
        metrics: reference.clone(),
    }];

    let top_rows = top_alerts(&windows, &bt.rows, &plan.labels, window_secs, REPORT_ALERTS);
    println!(
        "evaluated {} windows of {} ENIs ({} records read; {} attack windows, {} labeled attacks)\n",
        flowvigil.counts.windows,
        distinct_enis(&windows),
        read.records,
        flowvigil.counts.positives,
        flowvigil.delay.attacks
    );
    print!(
        "{}",
        console::metrics_table(&[("flowvigil", &flowvigil), ("isolation forest", &reference)])
    );
    print_top_alerts(&top_rows, plan.top);

    let o = &plan.outputs;
    if let Some(path) = &o.alerts {
        write_alerts(path, &bt.rows, model.windowing.window_secs)?;
    }
    if let Some(path) = &o.json {
        let file = MetricsFile {
            title: &plan.title,
            dataset: &plan.dataset,
            records: read.records,
            flowvigil: &flowvigil,
            references: &references,
        };
        let mut json = serde_json::to_vec_pretty(&file)?;
        json.push(b'\n');
        write_file(path, &json)?;
    }
    if let Some(path) = &o.markdown {
        let md = console::markdown_table(
            &plan.name,
            flowvigil.counts.windows,
            flowvigil.counts.positives,
            &[("flowvigil", &flowvigil), ("isolation forest", &reference)],
        );
        write_file(path, md.as_bytes())?;
    }
    if let Some(path) = &o.report {
        let mut facts = vec![
            ("records".to_string(), report::text::int(read.records)),
            (
                "ENIs".to_string(),
                report::text::int(distinct_enis(&windows)),
            ),
        ];
        facts.extend(plan.facts.iter().cloned());
        let data = ReportData {
            title: plan.title.clone(),
            dataset: plan.dataset.clone(),
            facts,
            flowvigil: flowvigil.clone(),
            references,
            timelines: top_eni_timelines(&windows, &plan.labels, window_secs, TIMELINES),
            top_alerts: top_rows,
        };
        write_file(path, render_html(&data).as_bytes())?;
    }
    Ok(Outcome {
        flowvigil,
        reference,
        read,
    })
}

fn distinct_enis(windows: &[ScoredWindow]) -> u64 {
    let mut names: Vec<&str> = windows.iter().map(|w| w.eni.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.len() as u64
}

/// The highest-scoring alerts, at most [`ALERTS_PER_ENI`] per ENI, with explanations.
fn top_alerts(
    windows: &[ScoredWindow],
    rows: &[ScoredRow],
    labels: &[Label],
    window_secs: u64,
    max: usize,
) -> Vec<AlertRow> {
    let verdicts: HashMap<(&str, u64), &Verdict> = rows
        .iter()
        .filter_map(|r| Some(((r.eni.as_str(), r.window_start), r.verdict.as_deref()?)))
        .collect();
    let mut per_eni: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for mut row in top_alert_rows(windows, labels, window_secs, usize::MAX) {
        let n = per_eni.entry(row.eni.clone()).or_insert(0);
        if *n >= ALERTS_PER_ENI {
            continue;
        }
        *n += 1;
        if let Some(v) = verdicts.get(&(row.eni.as_str(), row.window_start)) {
            row.explanation = engine::summary_line(v);
        }
        out.push(row);
        if out.len() >= max {
            break;
        }
    }
    out
}

fn print_top_alerts(rows: &[AlertRow], n: usize) {
    if n == 0 || rows.is_empty() {
        return;
    }
    println!("\ntop alerts (at most {ALERTS_PER_ENI} per ENI):");
    for r in rows.iter().take(n) {
        println!(
            "  {} {} score {:.4} [{}] {}\n      {}",
            report::text::datetime(r.window_start),
            r.eni,
            r.score,
            if r.findings.is_empty() {
                "no typed finding".to_string()
            } else {
                r.findings.join(", ")
            },
            r.attack
                .as_deref()
                .map_or_else(|| "(no label)".to_string(), |a| format!("(labeled {a})")),
            r.explanation
        );
    }
}

fn write_alerts(path: &Path, rows: &[ScoredRow], window_secs: u32) -> anyhow::Result<()> {
    let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(f);
    for r in rows {
        if let (true, Some(v)) = (r.alert, r.verdict.as_deref()) {
            engine::write_alert(&mut out, &r.eni, v, window_secs, AlertFormat::Jsonl)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes `bytes` to `path`, creating its folder.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
