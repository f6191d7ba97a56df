//! `flowvigil inspect`.

use std::process::ExitCode;

/// Flags of `flowvigil inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inputs.
    pub inputs: Vec<String>,
}

/// Runs `flowvigil inspect`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`flowvigil inspect` is not built yet")
}
