//! `flowvigil stats`: summarize flow logs (records, ENIs, span, formats, bad lines).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use flowvigil::flowlog::{LogReader, ReadOptions};

/// Flags of `flowvigil stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Flow log files, `.gz` or `.parquet` files, folders (walked recursively), or `-` for stdin.
    #[arg(required = true, value_name = "LOGS")]
    pub inputs: Vec<PathBuf>,
    /// Print JSON for machines instead of text.
    #[arg(long)]
    pub json: bool,
    /// Stop at the first malformed line (exit 1) instead of counting it (exit 2 at the end).
    #[arg(long)]
    pub strict: bool,
    /// Field list of header-less input, e.g. "version account-id interface-id srcaddr ...".
    #[arg(long, value_name = "FIELDS")]
    pub format: Option<String>,
    /// Most distinct network interfaces to track (bounds memory on hostile input).
    #[arg(long, value_name = "N", default_value_t = ReadOptions::default().max_enis)]
    pub max_enis: usize,
}

/// Runs `flowvigil stats`: exit 0, or 2 when bad lines were counted; errors exit 1.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = super::common::read_options(
        args.strict,
        args.format.as_deref(),
        args.max_enis,
        "--format",
    )?;
    let mut reader = LogReader::open(&args.inputs, opts)?;
    if reader.inputs().is_empty() {
        anyhow::bail!(
            "no flow log files (*.log, *.log.gz, *.gz, *.txt) under {}",
            args.inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let stats = flowvigil::stats::collect(&mut reader)?;
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&stats)?;
        s.push('\n');
        s
    } else {
        stats.to_text()
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => {}
        // A closed pipe (`flowvigil stats ... | head`) means the reader has what it wanted:
        // not an error to report, as for other Unix filters.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e).context("writing to stdout"),
    }
    if stats.read.bad_lines > 0 {
        eprintln!(
            "flowvigil: {} bad line(s) counted and skipped (see above)",
            stats.read.bad_lines
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
