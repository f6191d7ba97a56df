//! The `flowvigil` command line: flag definitions and glue around the library.
//!
//! Exit codes: 0 success, 1 error, 2 finished but some input was bad (counted and reported).

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Anomaly detection for AWS VPC Flow Logs.
#[derive(Debug, Parser)]
#[command(name = "flowvigil", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Embedded default: generate a synthetic VPC, train, backtest, evaluate, report.
    Demo(cli::demo::Args),
    /// Generate a synthetic VPC's flow logs with labeled attacks.
    Gen(cli::gen::Args),
    /// Convert labeled flow data (Zeek conn.log, DARPA 1998 edges) to flow logs + labels.
    Convert(cli::convert::Args),
    /// Summarize flow logs: records, ENIs, span, formats, bad lines.
    Stats(cli::stats::Args),
    /// Export per-ENI window feature vectors as CSV.
    Features(cli::features::Args),
    /// Train a model on historical flow logs.
    Train(cli::train::Args),
    /// Print what a model file holds.
    Inspect(cli::inspect::Args),
    /// Replay history through a model; alerts as JSON lines.
    Backtest(cli::backtest::Args),
    /// Score a stream of flow logs (stdin, files, or a followed folder).
    Score(cli::score::Args),
    /// Evaluate detection against labels; metrics and an HTML report.
    Eval(cli::eval::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => cli::demo::run(a),
        Command::Gen(a) => cli::gen::run(a),
        Command::Convert(a) => cli::convert::run(a),
        Command::Stats(a) => cli::stats::run(a),
        Command::Features(a) => cli::features::run(a),
        Command::Train(a) => cli::train::run(a),
        Command::Inspect(a) => cli::inspect::run(a),
        Command::Backtest(a) => cli::backtest::run(a),
        Command::Score(a) => cli::score::run(a),
        Command::Eval(a) => cli::eval::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("flowvigil: error: {err:#}");
            ExitCode::from(1)
        }
    }
}
