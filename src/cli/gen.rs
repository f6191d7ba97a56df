//! `flowvigil gen`: the synthetic VPC (see `flowvigil::gen`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use flowvigil::gen::{generate, GenConfig, GenFormat};

/// Flags of `flowvigil gen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder: receives `AWSLogs/...`, `labels.csv` and `manifest.json`.
    #[arg(long)]
    pub out: PathBuf,
    /// PRNG seed; the same seed and flags give byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of ENIs (8..=5000).
    #[arg(long, default_value_t = 40)]
    pub enis: usize,
    /// Days to simulate.
    #[arg(long, default_value_t = 3)]
    pub days: u32,
    /// Days at the start without attacks (clean history); default: all but the last day.
    #[arg(long)]
    pub clean_days: Option<u32>,
    /// Record format: v2 (AWS default) or v5.
    #[arg(long, default_value = "v5", value_parser = ["v2", "v5"])]
    pub format: String,
    /// Aggregation interval: 60 or 600 seconds.
    #[arg(long, default_value_t = 60)]
    pub interval_secs: u32,
    /// Attack intensity (rates, volumes, counts): 0.1 subtle, 1 default, 10 loud.
    #[arg(long, default_value_t = 1.0)]
    pub attack_scale: f64,
    /// Attacks of each type per attack day.
    #[arg(long, default_value_t = 1)]
    pub attacks_per_day: u32,
    /// Benign volume multiplier.
    #[arg(long, default_value_t = 1.0)]
    pub volume_scale: f64,
    /// Start, Unix seconds (default 2026-03-02T00:00Z, a Monday).
    #[arg(long)]
    pub start_unix: Option<u64>,
}

/// Runs `flowvigil gen`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let base = GenConfig::default();
    let cfg = GenConfig {
        seed: args.seed,
        enis: args.enis,
        days: args.days,
        format: if args.format == "v2" {
            GenFormat::V2
        } else {
            GenFormat::V5
        },
        interval_secs: args.interval_secs,
        attack_scale: args.attack_scale,
        start_unix: args.start_unix.unwrap_or(base.start_unix),
        clean_days: args.clean_days.unwrap_or(args.days.saturating_sub(1)),
        attacks_per_type_per_day: args.attacks_per_day,
        volume_scale: args.volume_scale,
        ..base
    };
    // Wall-clock time only measures the command itself; nothing generated depends on it.
    let t0 = Instant::now();
    let s = generate(&cfg, &args.out)
        .with_context(|| format!("generating into {}", args.out.display()))?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "wrote {} records ({} attack, {} NODATA, {} SKIPDATA) in {} files ({:.1} MB gz), {} label rows, {} attacks",
        s.records,
        s.attack_records,
        s.nodata_rows,
        s.skipdata_rows,
        s.files,
        s.gz_bytes as f64 / 1e6,
        s.label_rows,
        s.attacks.len()
    );
    println!(
        "{} ENIs, {} days from {}, into {}",
        s.enis.len(),
        cfg.days,
        cfg.start_unix,
        args.out.display()
    );
    let rate = |secs: f64| s.records as f64 / secs.max(1e-9) / 1e6;
    match cpu_secs() {
        Some(cpu) => println!(
            "{secs:.2} s wall, {:.2} M records/s; {cpu:.2} s CPU, {:.2} M records/s per core",
            rate(secs),
            rate(cpu)
        ),
        None => println!("{secs:.2} s wall, {:.2} M records/s", rate(secs)),
    }
    Ok(ExitCode::SUCCESS)
}

/// User + system CPU seconds of this process from `/proc/self/stat` (Linux; `None` elsewhere).
/// On a shared machine the wall-clock rate mostly measures the neighbours and the disk; the CPU
/// rate is the generator's own single-core speed. Assumes the usual 100 clock ticks per second.
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the `(comm)` field, which may itself contain spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
