//! The `flowvigil` command line: flag definitions and glue around the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("flowvigil: command line under construction");
    ExitCode::from(1)
}
