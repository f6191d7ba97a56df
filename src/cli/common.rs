//! Flags shared by every command that reads flow logs or writes alerts.

use std::process::ExitCode;

use anyhow::Context as _;

use flowvigil::flowlog::{Format, ReadOptions, ReadSummary};
use flowvigil::window::WindowConfig;

/// How flow logs are read (flattened into each command's flags).
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// Stop at the first malformed line (exit 1) instead of counting it (exit 2 at the end).
    #[arg(long)]
    pub strict: bool,
    /// Field list of header-less input, e.g. "version account-id interface-id srcaddr ...".
    #[arg(long = "log-format", value_name = "FIELDS")]
    pub format: Option<String>,
    /// Most distinct network interfaces to track (bounds memory on hostile input).
    #[arg(long, value_name = "N", default_value_t = ReadOptions::default().max_enis)]
    pub max_enis: usize,
}

impl ReadArgs {
    /// The reader options these flags describe.
    pub fn options(&self) -> anyhow::Result<ReadOptions> {
        read_options(
            self.strict,
            self.format.as_deref(),
            self.max_enis,
            "--log-format",
        )
    }
}

/// Reader options from the usual flags; `flag` names the field-list flag in errors.
pub fn read_options(
    strict: bool,
    format: Option<&str>,
    max_enis: usize,
    flag: &str,
) -> anyhow::Result<ReadOptions> {
    let format = format
        .map(Format::parse)
        .transpose()
        .with_context(|| flag.to_string())?;
    Ok(ReadOptions {
        strict,
        format,
        max_enis,
        ..ReadOptions::default()
    })
}

/// Window flags (flattened into `train` and `features`).
#[derive(Debug, Clone, clap::Args)]
pub struct WindowArgs {
    /// Window width, seconds.
    #[arg(long, value_name = "SECS", default_value_t = WindowConfig::default().window_secs)]
    pub window_secs: u32,
    /// How late (behind the highest `end` seen) a record may arrive and still count, seconds.
    #[arg(long, value_name = "SECS", default_value_t = WindowConfig::default().allowed_lateness_secs)]
    pub allowed_lateness_secs: u32,
}

impl WindowArgs {
    /// The window configuration these flags describe.
    pub fn config(&self) -> WindowConfig {
        WindowConfig {
            window_secs: self.window_secs,
            allowed_lateness_secs: self.allowed_lateness_secs,
            ..WindowConfig::default()
        }
    }
}

/// Worker threads: the flag's value, or the machine's cores.
pub fn threads(flag: Option<usize>) -> usize {
    flag.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// Exit code after a run that finished: 2 when bad lines were counted (reported above), else 0.
pub fn finished(read: &ReadSummary) -> ExitCode {
    if read.bad_lines > 0 {
        eprintln!(
            "flowvigil: {} bad line(s) counted and skipped (see above)",
            read.bad_lines
        );
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
