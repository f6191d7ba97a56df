//! `flowvigil backtest`.

use std::process::ExitCode;

/// Flags of `flowvigil backtest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inputs.
    pub inputs: Vec<String>,
}

/// Runs `flowvigil backtest`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`flowvigil backtest` is not built yet")
}
