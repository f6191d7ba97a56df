//! `flowvigil gen`.

use std::process::ExitCode;

/// Flags of `flowvigil gen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inputs.
    pub inputs: Vec<String>,
}

/// Runs `flowvigil gen`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`flowvigil gen` is not built yet")
}
