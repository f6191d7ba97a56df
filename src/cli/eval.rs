//! `flowvigil eval`.

use std::process::ExitCode;

/// Flags of `flowvigil eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inputs.
    pub inputs: Vec<String>,
}

/// Runs `flowvigil eval`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`flowvigil eval` is not built yet")
}
