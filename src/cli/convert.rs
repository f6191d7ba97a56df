//! `flowvigil convert`.

use std::process::ExitCode;

/// Flags of `flowvigil convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inputs.
    pub inputs: Vec<String>,
}

/// Runs `flowvigil convert`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`flowvigil convert` is not built yet")
}
