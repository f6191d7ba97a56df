//! `flowvigil features`.

use std::process::ExitCode;

/// Flags of `flowvigil features`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inputs.
    pub inputs: Vec<String>,
}

/// Runs `flowvigil features`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`flowvigil features` is not built yet")
}
