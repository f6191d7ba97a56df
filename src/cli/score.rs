//! `flowvigil score`: stream flow logs through a model; alerts as windows close.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use flowvigil::engine::{self, AlertFormat, StreamOptions};

use super::common::ReadArgs;

/// Flags of `flowvigil score`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file (`flowvigil train`).
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// Flow log files, `.gz` or `.parquet` files, folders, or `-` for stdin (the default without --follow).
    #[arg(value_name = "LOGS")]
    pub inputs: Vec<PathBuf>,
    /// Follow this folder: read each new file as it lands (as an S3 sync drops them).
    #[arg(long, value_name = "DIR", conflicts_with = "inputs")]
    pub follow: Option<PathBuf>,
    /// Checkpoint file: resume from it when it exists; written atomically every
    /// --checkpoint-every windows, on SIGTERM/SIGINT, and at the end.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Closed windows between two checkpoints.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub checkpoint_every: u64,
    /// Alert format: `jsonl` (flowvigil's own) or `ocsf` (OCSF Detection Finding, class 2004).
    #[arg(long, value_name = "FORMAT", default_value = "jsonl")]
    pub format: AlertFormat,
    /// Write alerts to this file (appended; with --checkpoint, exactly once across crashes).
    /// Default: stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write every scored window, not only alerts.
    #[arg(long)]
    pub all_windows: bool,
    /// With --follow: polling period, milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub poll_ms: u64,
    /// With --follow: exit (after a checkpoint) when this many polls in a row found no new file.
    #[arg(long, value_name = "N")]
    pub idle_polls: Option<u64>,
    /// Fault injection for crash tests: abort the process (as `kill -9` would) after this many
    /// records.
    #[arg(long, value_name = "N", hide = true)]
    pub abort_after_records: Option<u64>,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// Runs `flowvigil score`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = flowvigil::model::load(&args.model)?;
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    let inputs = if args.inputs.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.inputs.clone()
    };
    let opts = StreamOptions {
        format: args.format,
        out: args.out.clone(),
        checkpoint: args.checkpoint.clone(),
        checkpoint_every_windows: args.checkpoint_every,
        follow: args.follow.clone(),
        poll_interval_ms: args.poll_ms,
        idle_polls_before_exit: args.idle_polls,
        all_windows: args.all_windows,
        read: args.read.options()?,
        abort_after_records: args.abort_after_records,
    };
    let outcome = engine::run_stream(&model, &inputs, &opts, stop)?;
    let c = &outcome.counters;
    if outcome.already_finished {
        eprintln!("flowvigil: the checkpoint says this stream already finished; nothing to do (delete it to start over)");
    } else {
        eprintln!(
            "flowvigil: {} records, {} windows scored, {} alerts, {} late records, {} checkpoints{}",
            c.records,
            c.windows,
            c.alerts,
            c.late,
            c.checkpoints,
            if outcome.stopped { " (stopped by signal; resume with the same --checkpoint)" } else { "" }
        );
    }
    if outcome.bad_lines > 0 {
        eprintln!(
            "flowvigil: {} bad line(s) counted and skipped (see above)",
            outcome.bad_lines
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
