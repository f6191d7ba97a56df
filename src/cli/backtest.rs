//! `flowvigil backtest`: replay history through a model; alerts as JSON lines, a summary.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use flowvigil::engine::{self, AlertFormat, BacktestOptions, BacktestSummary};
use flowvigil::eval::truth::GroundTruth;
use flowvigil::eval::{self, EvalInput, Metrics};
use flowvigil::flowlog::LogReader;
use flowvigil::labels::Label;
use flowvigil::report;
use serde_json::{json, Value};

use super::common::{self, ReadArgs};
use super::progress::Progress;

/// Flags of `flowvigil backtest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file (`flowvigil train`).
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// Flow log files, `.gz` or `.parquet` files, folders (walked recursively), or `-` for stdin.
    #[arg(required = true, value_name = "LOGS")]
    pub inputs: Vec<PathBuf>,
    /// Threads: two over default-v2 input run as a pipeline (one thread reads, both score the
    /// ENIs' shards); otherwise each thread parses chunks of the input and scores one shard of
    /// the ENIs. The alerts are identical for any value. Default: the machine's cores.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Write alerts here (`-` = stdout, the default).
    #[arg(long, value_name = "FILE", default_value = "-")]
    pub out: PathBuf,
    /// Alert format: `jsonl` (flowvigil's own) or `ocsf` (OCSF Detection Finding, class 2004).
    #[arg(long, value_name = "FORMAT", default_value = "jsonl")]
    pub format: AlertFormat,
    /// Write every scored window, not only alerts.
    #[arg(long)]
    pub all_windows: bool,
    /// Print the summary as JSON (on stderr, after the alerts).
    #[arg(long)]
    pub summary_json: bool,
    /// Save the model after the run (its baselines learned online) to this file.
    #[arg(long, value_name = "FILE")]
    pub save_model: Option<PathBuf>,
    /// Write an HTML report of the alerts here (one self-contained page: alerts over time, by
    /// finding type and ENI, score timelines, the top alerts explained). No labels needed;
    /// with labels, `flowvigil eval --report` adds precision and recall.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Attack labels (a `labels.csv` as `gen` and `convert` write): each alert gains the labeled
    /// attacks its window overlaps (`labels`; in OCSF, `unmapped.labels`; `[]` for none), and
    /// the summary gains precision, recall, per-attack recall and detection delay, as `flowvigil
    /// eval` measures them (which also runs a reference detector and writes the labeled report).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `flowvigil backtest`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = flowvigil::model::load(&args.model)?;
    let labels = match &args.labels {
        Some(path) => Some(super::eval::load_labels(path)?),
        None => None,
    };
    let reader = LogReader::open(&args.inputs, args.read.options()?)?;
    let threads = common::threads(args.threads);
    let mut progress = Progress::new("backtest");
    let opts = BacktestOptions {
        threads,
        keep_all: args.all_windows,
        keep_features: false,
    };
    let started = std::time::Instant::now();
    let (bt, reader) = engine::backtest(reader, &model, &opts, &mut |n| progress.update(n))?;
    progress.done();
    let out: Box<dyn Write> = if args.out.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?,
        )
    };
    let mut out = BufWriter::new(out);
    let window_secs = model.windowing.window_secs;
    // The scored windows (one per row, in order) and which labels each overlaps.
    let labeled = labels.as_deref().map(|labels| {
        let windows = eval::scored_windows(&bt.rows);
        let truth = GroundTruth::build(&windows, u64::from(window_secs), labels);
        (labels, windows, truth)
    });
    for (i, row) in bt.rows.iter().enumerate() {
        if let Some(v) = row.verdict.as_deref() {
            if row.alert || args.all_windows {
                match &labeled {
                    None => engine::write_alert(&mut out, &row.eni, v, window_secs, args.format)?,
                    Some((labels, _, truth)) => {
                        let mut value = engine::alert_value(&row.eni, v, window_secs, args.format)?;
                        let hits = truth
                            .labels_of_window
                            .get(i)
                            .into_iter()
                            .flatten()
                            .filter_map(|&l| labels.get(l as usize));
                        add_labels(&mut value, hits, args.format);
                        serde_json::to_writer(&mut out, &value)?;
                        out.write_all(b"\n")?;
                    }
                }
            }
        }
    }
    out.flush()?;
    let summary = BacktestSummary::from_rows(&bt.rows);
    let late: u64 = bt.run.late_by_eni.iter().map(|(_, n)| n).sum();
    let metrics = labeled.as_ref().map(|(labels, windows, _)| {
        eval::evaluate(&EvalInput {
            windows,
            window_secs: u64::from(window_secs),
            labels,
            threshold: eval::strict_threshold(model.scorer.calibration.threshold),
        })
    });
    if args.summary_json {
        let mut value = serde_json::to_value(&summary)?;
        if let (Value::Object(map), Some(m)) = (&mut value, &metrics) {
            map.insert("labeled".into(), serde_json::to_value(m)?);
        }
        eprintln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        eprint!("{summary}");
        eprintln!("late records: {late}; threads: {threads}");
        if let Some(m) = &metrics {
            eprintln!(
                "\nagainst the labels ({} attack windows, {} labeled attacks):",
                m.counts.positives, m.delay.attacks
            );
            eprint!("{}", report::console::metrics_table(&[("flowvigil", m)]));
        }
    }
    if let Some(path) = &args.report {
        let read = reader.summary();
        let mut facts = vec![
            ("model".to_string(), args.model.display().to_string()),
            ("records".to_string(), report::text::int(read.records)),
            ("late records".to_string(), report::text::int(late)),
            ("bad lines".to_string(), report::text::int(read.bad_lines)),
            (
                "run".to_string(),
                format!(
                    "{:.1} s on {threads} thread{}",
                    started.elapsed().as_secs_f64(),
                    if threads == 1 { "" } else { "s" }
                ),
            ),
        ];
        if let Some(m) = &metrics {
            facts.extend(label_facts(m));
        }
        let inputs = super::eval::describe_inputs(&args.inputs);
        let data = report::AlertReport::from_rows(
            &bt.rows,
            u64::from(window_secs),
            model.scorer.calibration.threshold,
            format!("flowvigil backtest: {inputs}"),
            format!(
                "The flow logs {inputs}, replayed through the model {} (trained on {} windows \
                 of {} ENIs).",
                args.model.display(),
                report::text::int(model.meta.windows),
                report::text::int(model.meta.enis)
            ),
            facts,
        );
        super::eval::write_file(path, report::render_alert_html(&data).as_bytes())?;
    }
    if let Some(path) = &args.save_model {
        flowvigil::model::save(&bt.model, path)?;
    }
    Ok(common::finished(reader.summary()))
}

/// Adds the attacks `hits` to an alert: `labels` (JSON lines) or `unmapped.labels` (OCSF).
fn add_labels<'a>(value: &mut Value, hits: impl Iterator<Item = &'a Label>, format: AlertFormat) {
    let list: Vec<Value> = hits
        .map(|l| json!({ "attack_id": l.attack_id, "attack_type": l.attack_type }))
        .collect();
    let Value::Object(map) = value else {
        return;
    };
    match format {
        AlertFormat::Jsonl => {
            map.insert("labels".into(), Value::Array(list));
        }
        AlertFormat::Ocsf => {
            let unmapped = map
                .entry("unmapped")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Value::Object(u) = unmapped {
                u.insert("labels".into(), Value::Array(list));
            }
        }
    }
}

/// The report's header lines for a labeled backtest.
fn label_facts(m: &Metrics) -> Vec<(String, String)> {
    vec![
        (
            "precision (labels)".to_string(),
            report::text::pct(m.precision),
        ),
        ("recall (labels)".to_string(), report::text::pct(m.recall)),
        (
            "attacks detected".to_string(),
            format!(
                "{} of {}",
                report::text::int(m.delay.detected),
                report::text::int(m.delay.attacks)
            ),
        ),
    ]
}
