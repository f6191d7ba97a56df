//! `flowvigil stats`.

use std::process::ExitCode;

/// Flags of `flowvigil stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inputs.
    pub inputs: Vec<String>,
}

/// Runs `flowvigil stats`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`flowvigil stats` is not built yet")
}
