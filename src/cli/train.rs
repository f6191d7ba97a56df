//! `flowvigil train`.

use std::process::ExitCode;

/// Flags of `flowvigil train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inputs.
    pub inputs: Vec<String>,
}

/// Runs `flowvigil train`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`flowvigil train` is not built yet")
}
