//! Parallel reading and extraction (`flowvigil::window::run_parallel`, `flowlog::chunk`) and the
//! two-thread pipeline (`run_pipelined`: one reader, shards applied by any thread) against the
//! one-thread reference (`run_sharded` over `LogReader::next_record`): the same windows,
//! counters, read summary, bad-line reports and interner, whatever the chunk size and thread
//! count, on input with everything a reader meets: header lines switching the format mid-file,
//! blank, malformed and over-long lines, NODATA/SKIPDATA, CRLF, a last line without its
//! newline, late and out-of-order records, several files, gzip.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use flowvigil::features::WindowFeatures;
use flowvigil::flowlog::{FlowlogError, LogReader, MemorySink, ReadOptions, ReadSummary};
use flowvigil::window::{
    run_parallel_chunked, run_pipelined_with, run_sharded, Pipeline, RunError, RunStats,
    WindowConfig, WindowSink,
};
use proptest::prelude::*;

mod common;

const T0: u64 = 1_700_000_000;

/// One line of a generated file.
#[derive(Clone, Debug)]
enum Line {
    /// A record: ENI index, start offset, duration, peer, port, bytes, reject, status.
    Rec {
        eni: u8,
        offset: u32,
        span: u16,
        peer: u8,
        port: u16,
        bytes: u32,
        reject: bool,
        status: u8,
    },
    Blank,
    Garbage(u8),
    /// A header: 0 = default v2 order, 1 = a custom order (v5 fields), 2 = Transit Gateway.
    Header(u8),
    TooLong,
}

fn line_strategy() -> impl Strategy<Value = Line> {
    prop_oneof![
        40 => (0u8..12, 0u32..7200, 0u16..120, 0u8..40, prop::sample::select(vec![22u16, 80, 443, 3389, 40000, 53]), 0u32..100_000, any::<bool>(), 0u8..20)
            .prop_map(|(eni, offset, span, peer, port, bytes, reject, status)| Line::Rec {
                eni, offset, span, peer, port, bytes, reject, status
            }),
        1 => Just(Line::Blank),
        2 => (0u8..4).prop_map(Line::Garbage),
        1 => (0u8..3).prop_map(Line::Header),
        1 => Just(Line::TooLong),
    ]
}

/// The fields of the custom header (1): reordered, with flow-direction.
const CUSTOM: &str = "interface-id version start end srcaddr dstaddr srcport dstport protocol packets bytes action log-status flow-direction";

/// Renders lines as flow-log text; `format` tracks the header in force.
fn render(lines: &[Line], crlf: bool, last_newline: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut format = 0u8;
    for (i, l) in lines.iter().enumerate() {
        match l {
            Line::Rec {
                eni,
                offset,
                span,
                peer,
                port,
                bytes,
                reject,
                status,
            } => {
                let name = format!("eni-{:017x}", u64::from(*eni) * 7919 + 11);
                let start = T0 + u64::from(*offset);
                let end = start + u64::from(*span);
                let src = format!("10.0.{eni}.10");
                let dst = format!("10.1.{peer}.{}", peer % 7 + 1);
                let action = if *reject { "REJECT" } else { "ACCEPT" };
                let row = match (status, format) {
                    (0, 0 | 2) => format!("2 123456789012 {name} - - - - - - - {start} {end} - NODATA"),
                    (1, 0 | 2) => format!("2 123456789012 {name} - - - - - - - {start} {end} - SKIPDATA"),
                    (_, 1) => format!("{name} 5 {start} {end} {src} {dst} 40000 {port} 6 3 {bytes} {action} OK egress"),
                    _ => format!("2 123456789012 {name} {src} {dst} 40000 {port} 6 3 {bytes} {start} {end} {action} OK"),
                };
                out.extend_from_slice(row.as_bytes());
            }
            Line::Blank => {}
            Line::Garbage(k) => out.extend_from_slice(match k {
                0 => b"2 123456789012 eni-0 10.0.0.1 not-an-address 1 2 6 1 1 1 1 ACCEPT OK".as_slice(),
                1 => b"garbage".as_slice(),
                2 => b"2 123456789012 eni-00000000000000001 10.0.0.1 10.0.0.2 99999 2 6 1 1 1 1 ACCEPT OK".as_slice(),
                _ => b"   \t".as_slice(),
            }),
            Line::Header(h) => {
                format = *h;
                out.extend_from_slice(match h {
                    0 => b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status".as_slice(),
                    1 => CUSTOM.as_bytes(),
                    _ => b"version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status".as_slice(),
                });
            }
            Line::TooLong => out.extend(std::iter::repeat_n(b'9', 300)),
        }
        let last = i + 1 == lines.len();
        if !last || last_newline {
            if crlf {
                out.push(b'\r');
            }
            out.push(b'\n');
        }
    }
    out
}

/// Everything a run gives that must not depend on how it was read.
#[derive(Debug)]
struct Outcome {
    windows: Vec<(String, WindowFeatures)>,
    stats: RunStats,
    summary: ReadSummary,
    names: Vec<String>,
    reports: Vec<String>,
}

/// The first difference between two outcomes (`shards` aside, which is the thread count).
fn difference(one: &Outcome, many: &Outcome) -> Option<String> {
    if one.summary != many.summary {
        return Some(format!("summary: {:?} vs {:?}", one.summary, many.summary));
    }
    if one.reports != many.reports {
        return Some(format!("reports: {:?} vs {:?}", one.reports, many.reports));
    }
    if one.names != many.names {
        return Some(format!("names: {:?} vs {:?}", one.names, many.names));
    }
    let mut a = one.stats.clone();
    a.shards = many.stats.shards;
    if a != many.stats {
        return Some(format!("stats: {:?} vs {:?}", one.stats, many.stats));
    }
    if one.windows.len() != many.windows.len() {
        return Some(format!(
            "{} vs {} windows",
            one.windows.len(),
            many.windows.len()
        ));
    }
    one.windows
        .iter()
        .zip(&many.windows)
        .find(|(x, y)| x != y)
        .map(|(x, y)| format!("window {x:?} vs {y:?}"))
}

fn open(files: &[PathBuf], sink: &MemorySink) -> LogReader {
    let opts = ReadOptions {
        max_line_bytes: 200,
        max_reports_per_file: 3,
        ..ReadOptions::default()
    };
    LogReader::open(files, opts)
        .expect("open")
        .with_sink(Box::new(sink.clone()))
}

fn collect(
    reader: &LogReader,
    outs: Vec<Vec<WindowFeatures>>,
    stats: RunStats,
    sink: &MemorySink,
) -> Outcome {
    let names = reader.interner();
    let mut windows: Vec<(String, WindowFeatures)> = outs
        .into_iter()
        .flatten()
        .map(|w| (names.name(w.eni).to_string(), w))
        .collect();
    windows.sort_by(|a, b| (a.1.window_start, &a.0).cmp(&(b.1.window_start, &b.0)));
    Outcome {
        windows,
        stats,
        summary: reader.summary().clone(),
        names: names.names().to_vec(),
        reports: sink.messages(),
    }
}

fn sequential(files: &[PathBuf], cfg: &WindowConfig) -> Outcome {
    let sink = MemorySink::new();
    let mut reader = open(files, &sink);
    let (outs, stats) =
        run_sharded(&mut reader, cfg, 1, |_| Vec::new(), |_, _| Ok(())).expect("sequential");
    collect(&reader, outs, stats, &sink)
}

/// The late records a run hands to its side-file callback: ENI name and `start`, in order.
type Late = Vec<(String, Option<u64>)>;

fn sequential_with_late(files: &[PathBuf], cfg: &WindowConfig) -> (Outcome, Late) {
    let sink = MemorySink::new();
    let mut reader = open(files, &sink);
    let mut late = Vec::new();
    let (outs, stats) = run_sharded(
        &mut reader,
        cfg,
        1,
        |_| Vec::new(),
        |rec, names| {
            late.push((
                rec.eni
                    .map(|e| names.name(e).to_string())
                    .unwrap_or_default(),
                rec.start,
            ));
            Ok(())
        },
    )
    .expect("sequential");
    (collect(&reader, outs, stats, &sink), late)
}

fn pipelined(files: &[PathBuf], cfg: &WindowConfig, spec: Pipeline) -> (Outcome, Late) {
    let sink = MemorySink::new();
    let mut reader = open(files, &sink);
    let mut last = 0;
    let mut late = Vec::new();
    let (outs, stats) = run_pipelined_with(
        &mut reader,
        cfg,
        spec,
        |_| Vec::new(),
        &mut |n| {
            assert!(n >= last, "progress goes forward");
            last = n;
        },
        |rec, names| {
            late.push((
                rec.eni
                    .map(|e| names.name(e).to_string())
                    .unwrap_or_default(),
                rec.start,
            ));
            Ok(())
        },
    )
    .expect("pipelined");
    assert_eq!(
        last,
        reader.summary().records,
        "the last progress is the total"
    );
    assert_eq!(outs.len(), spec.shards.max(1), "one output per shard");
    assert_eq!(stats.shards, spec.shards.max(1));
    (collect(&reader, outs, stats, &sink), late)
}

fn parallel(files: &[PathBuf], cfg: &WindowConfig, shards: usize, chunk: usize) -> Outcome {
    let sink = MemorySink::new();
    let mut reader = open(files, &sink);
    let mut last = 0;
    let (outs, stats) =
        run_parallel_chunked(&mut reader, cfg, shards, chunk, |_| Vec::new(), &mut |n| {
            assert!(n >= last, "progress goes forward");
            last = n;
        })
        .expect("parallel");
    assert_eq!(
        last,
        reader.summary().records,
        "the last progress is the total"
    );
    collect(&reader, outs, stats, &sink)
}

fn write_files(dir: &Path, texts: &[Vec<u8>], gzip_first: bool) -> Vec<PathBuf> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let path = dir.join(format!("part-{i}.log"));
            let mut f = std::fs::File::create(&path).expect("create");
            if i == 0 && gzip_first {
                let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
                gz.write_all(t).expect("write");
                gz.finish().expect("finish");
            } else {
                f.write_all(t).expect("write");
            }
            path
        })
        .collect()
}

/// Generated files (the first gzipped when asked) in a temporary folder, and the window
/// settings with `lateness`.
fn generated(
    files: &[Vec<Line>],
    crlf: bool,
    last_newline: bool,
    gzip_first: bool,
    lateness: u32,
) -> (tempfile::TempDir, Vec<PathBuf>, WindowConfig) {
    let dir = tempfile::tempdir().expect("temp dir");
    let texts: Vec<Vec<u8>> = files
        .iter()
        .map(|l| render(l, crlf, last_newline))
        .collect();
    let paths = write_files(dir.path(), &texts, gzip_first);
    let cfg = WindowConfig {
        allowed_lateness_secs: lateness,
        ..WindowConfig::default()
    };
    (dir, paths, cfg)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn parallel_equals_sequential(
        files in proptest::collection::vec(proptest::collection::vec(line_strategy(), 0..300), 1..4),
        crlf in any::<bool>(),
        last_newline in any::<bool>(),
        gzip_first in any::<bool>(),
        shards in 2usize..4,
        chunk in 1usize..3000,
        lateness in prop::sample::select(vec![0u32, 300, 900]),
    ) {
        let (_dir, paths, cfg) = generated(&files, crlf, last_newline, gzip_first, lateness);
        let one = sequential(&paths, &cfg);
        let many = parallel(&paths, &cfg, shards, chunk);
        let diff = difference(&one, &many);
        prop_assert!(diff.is_none(), "{}", diff.unwrap_or_default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The two-thread pipeline gives one thread's windows, counters, summary, reports, names
    /// and late records (in order), whatever the shard count, helper count and block size
    /// (tiny blocks: many blocks, the reader helping and waiting).
    #[test]
    fn pipelined_equals_sequential(
        files in proptest::collection::vec(proptest::collection::vec(line_strategy(), 0..300), 1..4),
        crlf in any::<bool>(),
        gzip_first in any::<bool>(),
        shards in 1usize..10,
        helpers in 1usize..3,
        block in 1usize..400,
        lateness in prop::sample::select(vec![0u32, 300, 900]),
    ) {
        let (_dir, paths, cfg) = generated(&files, crlf, true, gzip_first, lateness);
        let (one, late_one) = sequential_with_late(&paths, &cfg);
        let (many, late_many) = pipelined(&paths, &cfg, Pipeline { shards, helpers, block });
        let diff = difference(&one, &many);
        prop_assert!(diff.is_none(), "{}", diff.unwrap_or_default());
        prop_assert_eq!(late_one, late_many);
    }
}

/// The generator's edge cases are really exercised (a proptest that never meets a header or a
/// bad line would prove nothing about them).
#[test]
fn the_generated_input_has_headers_bad_lines_and_late_records() {
    let mut lines = Vec::new();
    for i in 0..400u32 {
        lines.push(Line::Rec {
            eni: (i % 5) as u8,
            offset: if i == 300 { 10 } else { i * 17 },
            span: 30,
            peer: (i % 13) as u8,
            port: 443,
            bytes: 1000 + i,
            reject: i % 9 == 0,
            status: (i % 20) as u8,
        });
        match i {
            50 => lines.push(Line::Header(1)),
            120 => lines.push(Line::Header(2)),
            150 => lines.push(Line::Header(0)),
            200 => lines.push(Line::Garbage(0)),
            210 => lines.push(Line::TooLong),
            220 => lines.push(Line::Blank),
            _ => {}
        }
    }
    let mut text = render(&lines, true, false);
    // And a line longer than a whole read (the reader drops it while reading on).
    let at = text.len() / 2;
    let at = at
        + text[at..]
            .iter()
            .position(|&b| b == b'\n')
            .expect("a newline")
        + 1;
    let huge: Vec<u8> = std::iter::repeat_n(b'7', 600_000).chain([b'\n']).collect();
    text.splice(at..at, huge);
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = write_files(dir.path(), &[text], true);
    let cfg = WindowConfig {
        allowed_lateness_secs: 300,
        ..WindowConfig::default()
    };
    let one = sequential(&paths, &cfg);
    assert_eq!(
        one.summary.headers, 2,
        "two VPC headers (the TGW one is a bad line)"
    );
    assert_eq!(
        one.summary.bad_lines, 4,
        "TGW header, garbage, over-long line, huge line"
    );
    let long = one
        .reports
        .iter()
        .filter(|r| r.contains("expected a line of at most 200 bytes"))
        .count();
    // Three reports per file; the fourth bad line is only counted.
    assert_eq!(long, 1, "{:?}", one.reports);
    assert_eq!(one.summary.unreported_bad_lines, 1);
    assert!(
        one.summary.unsupported_rows > 0,
        "rows under the TGW header"
    );
    assert!(one.summary.nodata > 0 && one.summary.skipdata > 0);
    assert!(
        one.stats.window.late > 0,
        "the record at offset 10 comes late"
    );
    assert!(!one.windows.is_empty());
    for chunk in [1, 64, 4096, 1 << 20] {
        for shards in [2, 3] {
            let many = parallel(&paths, &cfg, shards, chunk);
            if let Some(d) = difference(&one, &many) {
                panic!("chunk {chunk}, {shards} shards: {d}");
            }
        }
    }
    let (one, late_one) = sequential_with_late(&paths, &cfg);
    assert!(!late_one.is_empty());
    for block in [1, 7, 100, 16_384] {
        for shards in [1, 2, 8] {
            let spec = Pipeline {
                shards,
                helpers: 1,
                block,
            };
            let (many, late_many) = pipelined(&paths, &cfg, spec);
            if let Some(d) = difference(&one, &many) {
                panic!("pipeline {spec:?}: {d}");
            }
            assert_eq!(late_one, late_many, "pipeline {spec:?}");
        }
    }
}

/// `n` ordinary v2 records, one every 10 s, over `enis` interfaces in turn.
fn plain_records(n: u32, enis: u32) -> Vec<Line> {
    (0..n)
        .map(|i| Line::Rec {
            eni: (i % enis) as u8,
            offset: i * 10,
            span: 5,
            peer: 1,
            port: 22,
            bytes: 10,
            reject: false,
            status: 5,
        })
        .collect()
}

/// Chunks big enough that each shard applies a chunk's records as a block on its own, counted
/// by the parser under its own ENI ids (the path the other tests' small chunks never take):
/// 120,000 records over 40 ENIs in a scrambled order (so each parser numbers the ENIs unlike
/// the reader), out of order within the lateness, with a few bad lines: the same outcome as one
/// thread, for 2 and 3 shards.
#[test]
fn big_chunks_applied_under_the_parsers_ids_equal_one_thread() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u32
    };
    let mut lines: Vec<Line> = (0..120_000u32)
        .map(|i| {
            let r = next();
            Line::Rec {
                eni: (r % 40) as u8,
                // About one record a second, up to ten minutes early or late.
                offset: (i / 2 + 600).saturating_sub(r % 1200),
                span: (r % 60) as u16,
                peer: (r >> 8) as u8 % 40,
                port: [22u16, 80, 443, 3389, 40000, 53][(r >> 16) as usize % 6],
                bytes: r % 100_000,
                reject: r % 7 == 0,
                status: 5,
            }
        })
        .collect();
    for at in [7, 50_001, 99_999] {
        lines.insert(at, Line::Garbage(0));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = write_files(dir.path(), &[render(&lines, false, true)], false);
    let cfg = WindowConfig::default();
    let one = sequential(&paths, &cfg);
    assert!(one.windows.len() > 1000, "{} windows", one.windows.len());
    for shards in [2, 3] {
        // About 2.5 MB of text a chunk: more than 8,192 records for every shard.
        let many = parallel(&paths, &cfg, shards, (5 << 20) / 2 / shards);
        if let Some(d) = difference(&one, &many) {
            panic!("{shards} shards: {d}");
        }
    }
    // The pipeline as `--threads 2` runs it: eight shards, full blocks.
    let spec = Pipeline {
        shards: flowvigil::window::PIPELINE_SHARDS,
        helpers: 1,
        block: 16_384,
    };
    let (many, _) = pipelined(&paths, &cfg, spec);
    if let Some(d) = difference(&one, &many) {
        panic!("pipeline: {d}");
    }
}

/// Strict mode stops at the first bad line with the same error as one thread.
#[test]
fn strict_stops_at_the_first_bad_line() {
    let mut lines = plain_records(200, 3);
    lines.insert(150, Line::Garbage(1));
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = write_files(dir.path(), &[render(&lines, false, true)], false);
    let opts = ReadOptions {
        strict: true,
        ..ReadOptions::default()
    };
    let cfg = WindowConfig::default();
    let mut one = LogReader::open(&paths, opts.clone()).expect("open");
    let a =
        run_sharded(&mut one, &cfg, 1, |_| Vec::new(), |_, _| Ok(())).expect_err("strict fails");
    let mut many = LogReader::open(&paths, opts).expect("open");
    let b = run_parallel_chunked(&mut many, &cfg, 2, 100, |_| Vec::new(), &mut |_| {})
        .expect_err("strict fails");
    match (a, b) {
        (RunError::Read(x), RunError::Read(y)) => {
            assert_eq!(x.to_string(), y.to_string());
            assert!(x.to_string().contains(":151:"), "{x}");
        }
        other => panic!("unexpected errors {other:?}"),
    }
}

/// Strict mode through the pipeline: the same error as one thread.
#[test]
fn strict_stops_the_pipeline_at_the_first_bad_line() {
    let mut lines = plain_records(200, 3);
    lines.insert(150, Line::Garbage(1));
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = write_files(dir.path(), &[render(&lines, false, true)], false);
    let opts = ReadOptions {
        strict: true,
        ..ReadOptions::default()
    };
    let mut reader = LogReader::open(&paths, opts).expect("open");
    let spec = Pipeline {
        shards: 4,
        helpers: 1,
        block: 16,
    };
    let cfg = WindowConfig::default();
    match run_pipelined_with(
        &mut reader,
        &cfg,
        spec,
        |_| Vec::new(),
        &mut |_| {},
        |_, _| Ok(()),
    ) {
        Err(RunError::Read(e)) => assert!(e.to_string().contains(":151:"), "{e}"),
        other => panic!("expected the bad line's error, got {:?}", other.map(|_| ())),
    }
}

/// More ENIs than the reader's limit through the pipeline: one reader, so the excess lines
/// are bad lines exactly as with one thread (no error, unlike parallel parsing).
#[test]
fn too_many_enis_in_the_pipeline_are_bad_lines_as_in_one_thread() {
    let lines = plain_records(60, 12);
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = write_files(dir.path(), &[render(&lines, false, true)], false);
    let opts = ReadOptions {
        max_enis: 5,
        ..ReadOptions::default()
    };
    let cfg = WindowConfig::default();
    let run = |spec: Option<Pipeline>| {
        let sink = MemorySink::new();
        let mut reader = LogReader::open(&paths, opts.clone())
            .expect("open")
            .with_sink(Box::new(sink.clone()));
        let (outs, stats) = match spec {
            None => run_sharded(&mut reader, &cfg, 1, |_| Vec::new(), |_, _| Ok(())),
            Some(spec) => run_pipelined_with(
                &mut reader,
                &cfg,
                spec,
                |_| Vec::new(),
                &mut |_| {},
                |_, _| Ok(()),
            ),
        }
        .expect("runs on");
        collect(&reader, outs, stats, &sink)
    };
    let one = run(None);
    assert!(one.summary.bad_lines > 0);
    let many = run(Some(Pipeline {
        shards: 3,
        helpers: 1,
        block: 4,
    }));
    assert_eq!(difference(&one, &many), None);
}

/// A sink that panics on its `n`-th window (a bug in a sink must surface, not hang the run).
struct PanicAfter(usize);

impl WindowSink for PanicAfter {
    type Output = ();
    fn accept(&mut self, _: WindowFeatures) {
        self.0 = self.0.saturating_sub(1);
        assert!(self.0 > 0, "sink bug");
    }
    fn finish(self) {}
}

/// A pipelined run of `spec` over 3,000 records of 6 ENIs with sinks from `make`: the number
/// of shard outputs, or the message of the panic that ended the run.
fn pipelined_or_panic<S: WindowSink>(
    spec: Pipeline,
    make: impl Fn(usize) -> S,
) -> Result<usize, String> {
    let lines = plain_records(3000, 6);
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = write_files(dir.path(), &[render(&lines, false, true)], false);
    let cfg = WindowConfig::default();
    let mut reader = LogReader::open(&paths, ReadOptions::default()).expect("open");
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_pipelined_with(&mut reader, &cfg, spec, make, &mut |_| {}, |_, _| Ok(()))
            .map(|(outs, _)| outs.len())
    }));
    match run {
        Ok(r) => Ok(r.expect("runs on")),
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()),
    }
}

/// A panic in a shard's sink, on the helper or on the reading thread, ends the run with that
/// panic instead of a deadlock, whichever thread meets it.
#[test]
fn a_panicking_sink_surfaces_instead_of_hanging_the_pipeline() {
    for shards in [1, 2, 6] {
        for block in [1, 50, 5000] {
            let spec = Pipeline {
                shards,
                helpers: 1,
                block,
            };
            match pipelined_or_panic(spec, |_| PanicAfter(3)) {
                Err(msg) => assert!(msg.contains("sink bug"), "{spec:?}: {msg}"),
                Ok(_) => panic!("{spec:?}: the sink's panic was lost"),
            }
        }
    }
}

/// A sink that panics when its shard is ended (`finish`), if `bad`.
struct PanicAtFinish(bool);

impl WindowSink for PanicAtFinish {
    type Output = ();
    fn accept(&mut self, _: WindowFeatures) {}
    fn finish(self) {
        assert!(!self.0, "sink bug at the end");
    }
}

/// Shards are ended by whichever thread takes them first: a panic while ending one, on the
/// helper or on the reading thread, ends the run with that panic, never a deadlock; without
/// it, every shard's output comes back.
#[test]
fn a_panic_while_ending_a_shard_surfaces_on_either_thread() {
    for shards in [2, 6] {
        for bad in 0..=shards {
            let spec = Pipeline {
                shards,
                helpers: 1,
                block: 100,
            };
            match pipelined_or_panic(spec, |i| PanicAtFinish(i == bad)) {
                // `bad == shards`: no shard panics.
                Ok(n) => assert!(bad == shards && n == shards, "{spec:?}, bad {bad}: {n}"),
                Err(msg) => {
                    assert!(bad < shards, "{spec:?}: a panic without a bad shard: {msg}");
                    assert!(msg.contains("sink bug at the end"), "{spec:?}: {msg}");
                }
            }
        }
    }
}

/// More ENIs than the reader's limit: one thread counts the excess lines as bad lines; in
/// parallel the run stops with an error that says what to do (never silently different).
#[test]
fn too_many_enis_in_parallel_is_an_error_that_says_what_to_do() {
    let lines = plain_records(60, 12);
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = write_files(dir.path(), &[render(&lines, false, true)], false);
    let opts = ReadOptions {
        max_enis: 5,
        ..ReadOptions::default()
    };
    let cfg = WindowConfig::default();
    let mut one = LogReader::open(&paths, opts.clone())
        .expect("open")
        .with_sink(Box::new(MemorySink::new()));
    run_sharded(&mut one, &cfg, 1, |_| Vec::new(), |_, _| Ok(())).expect("one thread runs on");
    assert!(one.summary().bad_lines > 0);
    let mut many = LogReader::open(&paths, opts)
        .expect("open")
        .with_sink(Box::new(MemorySink::new()));
    match run_parallel_chunked(&mut many, &cfg, 2, 100, |_| Vec::new(), &mut |_| {}) {
        Err(RunError::Read(e @ FlowlogError::TooManyEnis { max: 5 })) => {
            assert!(e.to_string().contains("--threads 1"), "{e}");
        }
        other => panic!("expected TooManyEnis, got {:?}", other.map(|_| ())),
    }
}

/// The real AWS files of `../shared` (several formats, headers, gzip), read whole: parallel
/// equals one thread for every chunk size tried. Skipped with a notice without `../shared`.
#[test]
fn real_aws_files_read_in_parallel_equal_one_thread() {
    let Some(root) = common::shared_dataset("aws-vpc-real") else {
        return;
    };
    let cfg = WindowConfig::default();
    let paths = vec![root];
    let one = sequential(&paths, &cfg);
    assert!(one.summary.records > 100, "{:?}", one.summary);
    assert_eq!(one.summary.bad_lines, 0, "{:?}", one.reports);
    assert!(one.summary.headers > 1, "files with their own headers");
    assert!(one.summary.files.len() > 2, "{:?}", one.summary.files);
    assert!(!one.windows.is_empty());
    for chunk in [1, 300, 1 << 20] {
        for shards in [2, 3] {
            let many = parallel(&paths, &cfg, shards, chunk);
            if let Some(d) = difference(&one, &many) {
                panic!("chunk {chunk}, {shards} shards: {d}");
            }
        }
    }
    for block in [3, 16_384] {
        let spec = Pipeline {
            shards: 8,
            helpers: 1,
            block,
        };
        let (many, _) = pipelined(&paths, &cfg, spec);
        if let Some(d) = difference(&one, &many) {
            panic!("pipeline {spec:?}: {d}");
        }
    }
}

/// `plan_threads` takes the pipeline for two threads over the default v2 order only (the
/// first input's header, or `--format` for header-less input), parallel parsing otherwise;
/// peeking does not consume the input.
#[test]
fn plan_threads_takes_the_pipeline_for_v2_input_only() {
    use flowvigil::flowlog::Format;
    use flowvigil::window::{plan_threads, PIPELINE_SHARDS};
    let dir = tempfile::tempdir().expect("temp dir");
    let records = render(&plain_records(20, 2), false, true);
    let mut custom = Vec::new();
    custom.extend_from_slice(CUSTOM.as_bytes());
    custom.extend_from_slice(b"\r\n");
    let mut v2 = Vec::new();
    v2.extend_from_slice(b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n");
    v2.extend_from_slice(&records);
    let cases: Vec<(&str, Vec<u8>, bool, Option<&str>)> = vec![
        ("v2 header", v2, false, None),
        ("no header", records.clone(), false, None),
        ("custom header", custom.clone(), false, None),
        ("custom header, gzip", custom, true, None),
        ("no header, --format custom", records.clone(), false, Some(CUSTOM)),
        ("no header, --format v2", records, false, Some("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status")),
    ];
    for (i, (what, text, gz, format)) in cases.into_iter().enumerate() {
        let sub = dir.path().join(i.to_string());
        std::fs::create_dir(&sub).expect("dir");
        let paths = write_files(&sub, &[text], gz);
        let opts = ReadOptions {
            format: format.map(|f| Format::parse(f).expect("format")),
            ..ReadOptions::default()
        };
        let reader = LogReader::open(&paths, opts).expect("open");
        let v2_expected = what.contains("v2") || what == "no header";
        assert_eq!(reader.first_input_is_v2(), v2_expected, "{what}");
        let two = plan_threads(&reader, 2);
        assert_eq!(two.pipeline, v2_expected, "{what}");
        assert_eq!(
            two.shards,
            if v2_expected { PIPELINE_SHARDS } else { 2 },
            "{what}"
        );
        let one = plan_threads(&reader, 1);
        assert!(!one.pipeline && one.shards == 1, "{what}");
        let three = plan_threads(&reader, 3);
        assert!(!three.pipeline && three.shards == 3, "{what}");
        assert_eq!(reader.summary().lines, 0, "{what}: peeking read nothing");
    }
}

/// One shard through `run_parallel` (the one-thread path of `run_threads`, with its progress
/// counting around the reader's batched fast route): one thread's outcome, and progress that
/// goes forward every 65,536 records and ends at the total.
#[test]
fn one_shard_run_parallel_counts_progress_over_the_batched_route() {
    let lines = plain_records(150_000, 7);
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = write_files(dir.path(), &[render(&lines, false, true)], false);
    let cfg = WindowConfig::default();
    let one = sequential(&paths, &cfg);
    let sink = MemorySink::new();
    let mut reader = open(&paths, &sink);
    let mut seen = Vec::new();
    let (outs, stats) =
        run_parallel_chunked(&mut reader, &cfg, 1, 1 << 20, |_| Vec::new(), &mut |n| {
            seen.push(n)
        })
        .expect("one shard");
    let many = collect(&reader, outs, stats, &sink);
    assert_eq!(difference(&one, &many), None);
    assert_eq!(one.summary.records, 150_000);
    assert_eq!(
        seen,
        vec![65_536, 131_072, 150_000],
        "progress every 65,536 records, then the total"
    );
}
