//! `flowvigil score`.

use std::process::ExitCode;

/// Flags of `flowvigil score`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inputs.
    pub inputs: Vec<String>,
}

/// Runs `flowvigil score`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`flowvigil score` is not built yet")
}
