//! `flowvigil features`: per-ENI window feature vectors as CSV (columns `eni,window_start,` then
//! every name of [`FEATURE_NAMES`], raw units), for notebooks and other detectors.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use flowvigil::features::{WindowFeatures, FEATURE_NAMES};
use flowvigil::flowlog::{
    write_header, write_record, Field, Interner, LogReader, ReadOptions, ALL_FIELDS,
};
use flowvigil::window::{run_parallel, run_sharded, WindowConfig, WindowSink};

/// Flags of `flowvigil features`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Flow log files, `.gz` files, folders (walked recursively), or `-` for stdin.
    #[arg(required = true, value_name = "LOGS")]
    pub inputs: Vec<PathBuf>,
    /// Output CSV file, `-` for stdout.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "-")]
    pub out: PathBuf,
    /// Threads, each parsing chunks of the input and windowing one shard of the ENIs (with
    /// --late-out one thread reads and the others window); the output is the same for any value.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threads: usize,
    /// Window width in seconds.
    #[arg(long, value_name = "SECS", default_value_t = WindowConfig::default().window_secs)]
    pub window_secs: u32,
    /// How far (event time) behind the highest `end` seen a record may arrive and still count.
    #[arg(long, value_name = "SECS", default_value_t = WindowConfig::default().allowed_lateness_secs)]
    pub allowed_lateness_secs: u32,
    /// Write late records (their window had closed) to this file, as flow-log text with a header.
    #[arg(long, value_name = "FILE")]
    pub late_out: Option<PathBuf>,
    /// Field list of header-less input, e.g. "version account-id interface-id srcaddr ...".
    #[arg(long, value_name = "FIELDS")]
    pub format: Option<String>,
    /// Stop at the first malformed line (exit 1) instead of counting it (exit 2 at the end).
    #[arg(long)]
    pub strict: bool,
}

/// CSV rows of one shard, ordered by (window start, ENI name) within the shard. With one shard
/// the order is already global and rows go straight to the output; with several, rows are kept
/// (about 200 bytes per window) and merged at the end.
struct CsvRows {
    /// Each row's window start, name end and row end in `text` (rows start where the previous
    /// ended).
    index: Vec<(u64, usize, usize)>,
    text: Vec<u8>,
    direct: Option<Box<dyn Write + Send>>,
    error: Option<std::io::Error>,
}

impl CsvRows {
    fn new(direct: Option<Box<dyn Write + Send>>) -> Self {
        Self {
            index: Vec::new(),
            text: Vec::new(),
            direct,
            error: None,
        }
    }
}

/// One CSV row of a shard: window start, ENI name, the row's text.
type Row<'a> = (u64, &'a [u8], &'a [u8]);

impl CsvRows {
    /// The rows kept, in their order.
    fn rows(&self) -> Vec<Row<'_>> {
        let mut start = 0;
        let mut v = Vec::with_capacity(self.index.len());
        for &(ws, name_end, end) in &self.index {
            let name = self.text.get(start..name_end).unwrap_or(b"");
            let row = self.text.get(start..end).unwrap_or(b"");
            v.push((ws, name, row));
            start = end;
        }
        v
    }
}

impl WindowSink for CsvRows {
    type Output = CsvRows;
    fn accept(&mut self, w: WindowFeatures) {
        self.accept_named(w, &Interner::new());
    }
    fn accept_named(&mut self, w: WindowFeatures, names: &Interner) {
        self.text.extend_from_slice(names.name(w.eni).as_bytes());
        let name_end = self.text.len();
        // Writing into a Vec cannot fail.
        let _ = write!(self.text, ",{}", w.window_start);
        for v in w.values {
            write_value(v, &mut self.text);
        }
        self.text.push(b'\n');
        if let Some(out) = &mut self.direct {
            if self.error.is_none() {
                if let Err(e) = out.write_all(&self.text) {
                    self.error = Some(e);
                }
            }
            self.text.clear();
        } else {
            self.index.push((w.window_start, name_end, self.text.len()));
        }
    }
    fn finish(mut self) -> Self {
        if let Some(out) = &mut self.direct {
            if let Err(e) = out.flush() {
                self.error.get_or_insert(e);
            }
        }
        self
    }
}

/// Runs `flowvigil features`: exit 0, or 2 when bad lines were counted; errors exit 1.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = WindowConfig {
        window_secs: args.window_secs,
        allowed_lateness_secs: args.allowed_lateness_secs,
        // The CSV holds the feature vector only; evidence would be computed and thrown away.
        evidence: false,
        ..WindowConfig::default()
    };
    cfg.validate().context("--window-secs")?;
    let opts = super::common::read_options(
        args.strict,
        args.format.as_deref(),
        ReadOptions::default().max_enis,
        "--format",
    )?;
    let mut reader = LogReader::open(&args.inputs, opts)?;
    let mut out: Box<dyn Write + Send> = if args.out.as_os_str() == "-" {
        Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout()))
    } else {
        let f =
            File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
        Box::new(BufWriter::with_capacity(1 << 16, f))
    };
    let mut header = b"eni,window_start".to_vec();
    for n in FEATURE_NAMES {
        header.push(b',');
        header.extend_from_slice(n.as_bytes());
    }
    header.push(b'\n');
    out.write_all(&header)?;

    let late_fields: Vec<Field> = ALL_FIELDS.iter().map(|(f, _)| *f).collect();
    let mut late_out = match &args.late_out {
        Some(p) => {
            let f = File::create(p).with_context(|| format!("creating {}", p.display()))?;
            let mut w = BufWriter::new(f);
            let mut h = Vec::new();
            write_header(&late_fields, &mut h);
            w.write_all(&h)?;
            Some(w)
        }
        None => None,
    };
    let mut line = Vec::new();
    let on_late = |rec: &flowvigil::flowlog::FlowRecord, names: &Interner| -> std::io::Result<()> {
        if let Some(w) = &mut late_out {
            line.clear();
            write_record(rec, &late_fields, names, &mut line);
            w.write_all(&line)?;
        }
        Ok(())
    };

    let threads = args.threads.max(1);
    let stats = if threads == 1 {
        let mut direct = Some(out);
        let make = |_| CsvRows::new(direct.take());
        let make = std::sync::Mutex::new(make);
        let (outs, stats) = run_sharded(
            &mut reader,
            &cfg,
            1,
            |i| match make.lock() {
                Ok(mut f) => f(i),
                Err(_) => CsvRows::new(None),
            },
            on_late,
        )?;
        check_errors(&outs)?;
        stats
    } else {
        // Parsing runs on the shards' threads too, unless late records go to a side file
        // (written at read time, in input order: the reading thread must see the watermark).
        let (outs, stats) = if args.late_out.is_none() {
            run_parallel(
                &mut reader,
                &cfg,
                threads,
                |_| CsvRows::new(None),
                &mut |_| {},
            )?
        } else {
            run_sharded(&mut reader, &cfg, threads, |_| CsvRows::new(None), on_late)?
        };
        check_errors(&outs)?;
        merge_rows(&outs, &mut out)?;
        out.flush()?;
        stats
    };
    if let Some(w) = &mut late_out {
        w.flush()?;
    }

    let read = reader.summary();
    let ws = &stats.window;
    eprintln!(
        "flowvigil features: {} records, {} windows, {} late, {} NODATA, {} SKIPDATA, {} unplaceable, {} bad lines",
        read.records,
        ws.windows,
        ws.late,
        ws.nodata,
        ws.skipdata,
        ws.no_eni + ws.no_start + ws.no_direction + ws.too_far_ahead,
        read.bad_lines
    );
    if stats.enis > 0 {
        eprintln!(
            "flowvigil features: per-ENI history: {} ENIs, {} bytes in all, {} per ENI on average, {} at most",
            stats.enis,
            stats.history_bytes,
            stats.history_bytes / stats.enis,
            stats.history_bytes_max
        );
    }
    if !stats.late_by_eni.is_empty() {
        let mut top = stats.late_by_eni.clone();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let shown: Vec<String> = top
            .iter()
            .take(10)
            .map(|(e, n)| format!("{e}={n}"))
            .collect();
        eprintln!(
            "flowvigil features: late records by ENI (top {} of {}): {}",
            shown.len(),
            top.len(),
            shown.join(" ")
        );
    }
    if read.bad_lines > 0 {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a value as Rust's `{}` would (shortest round-trip form), with a fast path for whole
/// numbers, which most features are (float formatting was a tenth of the run time).
fn write_value(v: f64, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        let _ = write!(out, ",{}", v as i64);
    } else {
        let _ = write!(out, ",{v}");
    }
}

fn check_errors(outs: &[CsvRows]) -> anyhow::Result<()> {
    for o in outs {
        if let Some(e) = &o.error {
            anyhow::bail!("writing features: {e}");
        }
    }
    Ok(())
}

/// Merges the shards' rows by (window start, ENI name): the order of a one-shard run.
fn merge_rows(outs: &[CsvRows], out: &mut dyn Write) -> anyhow::Result<()> {
    // Each shard's rows are in that order already: merge them (one comparison per row and
    // shard instead of a sort), on the calling thread after the run.
    let lists: Vec<Vec<Row<'_>>> = outs.iter().map(CsvRows::rows).collect();
    let mut at = vec![0usize; lists.len()];
    loop {
        let mut best: Option<(usize, (u64, &[u8]))> = None;
        for (i, l) in lists.iter().enumerate() {
            if let Some(&(ws, name, _)) = at.get(i).and_then(|&k| l.get(k)) {
                if best.is_none_or(|(_, b)| (ws, name) < b) {
                    best = Some((i, (ws, name)));
                }
            }
        }
        let Some((i, _)) = best else {
            return Ok(());
        };
        if let (Some(k), Some(l)) = (at.get_mut(i), lists.get(i)) {
            if let Some(&(_, _, row)) = l.get(*k) {
                out.write_all(row)?;
            }
            *k += 1;
        }
    }
}
