//! `flowvigil demo`.

use std::process::ExitCode;

/// Flags of `flowvigil demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inputs.
    pub inputs: Vec<String>,
}

/// Runs `flowvigil demo`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`flowvigil demo` is not built yet")
}
