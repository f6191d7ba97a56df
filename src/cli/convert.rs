//! `flowvigil convert zeek|darpa`: real labeled data → flow logs + labels (see
//! `flowvigil::convert`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use flowvigil::convert::{darpa, zeek, Cidr, ConvertSummary};

/// Flags of `flowvigil convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The input kind.
    #[command(subcommand)]
    pub kind: Kind,
}

/// What to convert.
#[derive(Debug, clap::Subcommand)]
pub enum Kind {
    /// Zeek conn.log (TSV with `#fields`; IoT-23 `label`/`detailed-label` columns understood).
    Zeek {
        /// The conn.log file.
        conn_log: PathBuf,
        /// Output folder: `logs/YYYY-MM-DD.log.gz`, `labels.csv`, `manifest.json`.
        #[arg(long)]
        out: PathBuf,
        /// Internal network (repeatable); default: 10/8, 172.16/12, 192.168/16, fc00::/7.
        #[arg(long = "local", value_name = "CIDR")]
        local: Vec<String>,
    },
    /// DARPA 1998 edges as MIDAS ships them (`src,dst,MM/DD/YYYY-HH:MM,label`), CSV or zip.
    Darpa {
        /// The CSV, or the zip holding it (read as a stream).
        input: PathBuf,
        /// Output folder: `logs/YYYY-MM-DD.log.gz`, `labels.csv`, `manifest.json`.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs `flowvigil convert`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let summary = match args.kind {
        Kind::Zeek {
            conn_log,
            out,
            local,
        } => {
            let local = local
                .iter()
                .map(|c| Cidr::parse(c))
                .collect::<Result<Vec<_>, _>>()?;
            zeek::convert(&conn_log, &out, &local)
                .with_context(|| format!("converting {}", conn_log.display()))?
        }
        Kind::Darpa { input, out } => darpa::convert(&input, &out)
            .with_context(|| format!("converting {}", input.display()))?,
    };
    report(&summary);
    Ok(if summary.bad_rows > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn report(s: &ConvertSummary) {
    for b in &s.bad_row_examples {
        eprintln!("flowvigil: {}: bad row: {b}", s.input);
    }
    if s.bad_rows > s.bad_row_examples.len() as u64 {
        eprintln!(
            "flowvigil: ... {} more bad rows",
            s.bad_rows - s.bad_row_examples.len() as u64
        );
    }
    println!(
        "{}: {} rows ({} bad, {} between external hosts) -> {} records at {} hosts in {} day files, {} label rows",
        s.input, s.rows, s.bad_rows, s.external_only_rows, s.records, s.hosts, s.files, s.label_rows
    );
    for (label, n) in &s.rows_per_label {
        println!("  rows {label}: {n}");
    }
}
