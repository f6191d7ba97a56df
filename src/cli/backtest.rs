//! `flowvigil backtest`: replay history through a model; alerts as JSON lines, a summary.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use flowvigil::engine::{self, AlertFormat, BacktestOptions, BacktestSummary};
use flowvigil::flowlog::LogReader;
use flowvigil::report;

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
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `flowvigil backtest`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = flowvigil::model::load(&args.model)?;
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
    for row in &bt.rows {
        if let Some(v) = row.verdict.as_deref() {
            if row.alert || args.all_windows {
                engine::write_alert(&mut out, &row.eni, v, window_secs, args.format)?;
            }
        }
    }
    out.flush()?;
    let summary = BacktestSummary::from_rows(&bt.rows);
    let late: u64 = bt.run.late_by_eni.iter().map(|(_, n)| n).sum();
    if args.summary_json {
        eprintln!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprint!("{summary}");
        eprintln!("late records: {late}; threads: {threads}");
    }
    if let Some(path) = &args.report {
        let read = reader.summary();
        let facts = vec![
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
