//! Window + feature extraction throughput, without parsing: records built in memory (fixed
//! seed), pushed through a `Windower` with the watermark protocol one at a time (the streaming
//! path), and in blocks grouped by ENI through `ShardDriver::feed_block` (`*-blocks`, the batch
//! path), every window closed.
//!
//! A second group, `read+features`, writes the `wide` records as a default-v2 file and times the
//! whole batch path over it (read, parse, window, features) with one thread and with two
//! (`window::run_parallel`: every thread parses chunks and runs one shard), so the two-thread
//! speed-up is measured in one run.
//!
//! `cargo bench --bench features`. The end-to-end figure (parsing included, against DuckDB and
//! Polars) is the peer benchmark in `benches/peers/`.

use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flowvigil::features::{Observation, WindowFeatures};
use flowvigil::flowlog::{
    write_header, write_record, Action, FlowRecord, Interner, LogReader, LogStatus, ReadOptions,
    DEFAULT_V2_FIELDS,
};
use flowvigil::window::{run_parallel, ShardDriver, Slot, Watermark, WindowConfig, Windower};

const RECORDS: usize = 200_000;

/// xorshift64*: a fixed-seed generator, so every run measures the same records.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `RECORDS` records of `enis` ENIs spread over `hours`.
fn records(enis: u32, hours: u64) -> (Vec<FlowRecord>, Interner) {
    let mut names = Interner::new();
    for e in 0..enis {
        names.intern(format!("eni-{e:017x}").as_bytes());
    }
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let t0 = 1_735_689_600u64;
    let recs = (0..RECORDS)
        .map(|i| {
            let eni = rng.below(u64::from(enis)) as u32;
            let own = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (eni << 8) | 10));
            let peer = if rng.below(20) == 0 {
                IpAddr::V4(Ipv4Addr::from(0xc633_0000 | rng.below(65536) as u32))
            } else {
                IpAddr::V4(Ipv4Addr::from(
                    0x0a10_0000 | (eni << 6) | rng.below(40) as u32,
                ))
            };
            let egress = rng.below(10) < 7;
            let start = t0 + (i as u64) * hours * 3600 / RECORDS as u64 - rng.below(60);
            let packets = 1 + rng.below(200);
            FlowRecord {
                eni: Some(eni),
                srcaddr: Some(if egress { own } else { peer }),
                dstaddr: Some(if egress { peer } else { own }),
                srcport: Some(32768 + rng.below(28000) as u16),
                dstport: Some([443u16, 80, 53, 5432, 22][rng.below(5) as usize]),
                protocol: Some(6),
                packets: Some(packets),
                bytes: Some(packets * (40 + rng.below(1400))),
                start: Some(start),
                end: Some(start + 1 + rng.below(59)),
                action: Some(if rng.below(30) == 0 {
                    Action::Reject
                } else {
                    Action::Accept
                }),
                log_status: Some(LogStatus::Ok),
                ..FlowRecord::default()
            }
        })
        .collect();
    (recs, names)
}

fn run(recs: &[FlowRecord], names: &Interner, cfg: &WindowConfig) -> usize {
    let mut w = Windower::new(cfg.clone());
    let mut out = Vec::with_capacity(8192);
    let mut wm = Watermark::new(cfg.allowed_lateness_secs);
    let mut last = 0;
    let mut windows = 0;
    for r in recs {
        let now = wm.get();
        if now > last {
            w.close_until(now, names, &mut out);
            windows += out.len();
            out.clear();
            last = now;
        }
        w.push(r, now);
        wm.observe(r);
    }
    w.finish(names, &mut out);
    windows + out.len()
}

/// The batch path: blocks of records grouped by ENI ([`ShardDriver::feed_block`]), as
/// `features`, `train` and `backtest` run them.
fn run_blocks(recs: &[FlowRecord], names: &Interner, cfg: &WindowConfig) -> usize {
    let mut d = ShardDriver::new(cfg, Vec::<WindowFeatures>::new());
    let mut wm = Watermark::new(cfg.allowed_lateness_secs);
    let mut block = Vec::with_capacity(16_384);
    for r in recs {
        if let Ok(obs) = Observation::from_record(r) {
            block.push(Slot::new(&obs, wm.get()));
        }
        wm.observe(r);
        if block.len() == 16_384 {
            d.feed_block(&block, wm.get(), names);
            block.clear();
        }
    }
    d.feed_block(&block, wm.get(), names);
    d.finish_windows(names);
    d.sink().len()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("features");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.sample_size(10);
    // Dense: 50 ENIs over 2 h (≈ 170 records per window); sparse: 200 ENIs over 12 h (≈ 7);
    // wide: 500 ENIs over 1 h (≈ 33 records per window, ≈ 2,000 windows open at once, each
    // record in another ENI's window: memory-bound like the 500-ENI peer benchmark).
    for (name, enis, hours) in [("dense", 50, 2), ("sparse", 200, 12), ("wide", 500, 1)] {
        let (recs, names) = records(enis, hours);
        for evidence in [true, false] {
            let cfg = WindowConfig {
                evidence,
                ..WindowConfig::default()
            };
            let id = format!("{name}/evidence={evidence}");
            g.bench_function(id, |b| b.iter(|| run(&recs, &names, &cfg)));
            let id = format!("{name}-blocks/evidence={evidence}");
            g.bench_function(id, |b| b.iter(|| run_blocks(&recs, &names, &cfg)));
        }
    }
    g.finish();
}

/// The records as a default-v2 flow-log file with its header.
fn v2_file(recs: &[FlowRecord], names: &Interner, path: &std::path::Path) {
    let mut text = Vec::with_capacity(recs.len() * 120);
    write_header(&DEFAULT_V2_FIELDS, &mut text);
    for r in recs {
        let r = FlowRecord {
            version: Some(2),
            account_id: Some(123_456_789_012),
            ..r.clone()
        };
        write_record(&r, &DEFAULT_V2_FIELDS, names, &mut text);
    }
    if let Err(e) = std::fs::write(path, &text) {
        panic!("writing {}: {e}", path.display());
    }
}

/// `features` without the CSV: read, parse, window and extract over `path` on `threads`.
fn run_file(path: &std::path::Path, threads: usize) -> usize {
    let cfg = WindowConfig {
        evidence: false,
        ..WindowConfig::default()
    };
    let mut reader = match LogReader::open(&[path.to_path_buf()], ReadOptions::default()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    match run_parallel(&mut reader, &cfg, threads, |_| Vec::new(), &mut |_| {}) {
        Ok((outs, _)) => outs.iter().map(Vec::len).sum(),
        Err(e) => panic!("{e}"),
    }
}

fn bench_file(c: &mut Criterion) {
    let (recs, names) = records(500, 1);
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("temp dir: {e}"),
    };
    let path = dir.path().join("wide.log");
    v2_file(&recs, &names, &path);
    let mut g = c.benchmark_group("read+features");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.sample_size(10);
    for threads in [1, 2] {
        g.bench_function(format!("wide/threads={threads}"), |b| {
            b.iter(|| run_file(&path, threads))
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_file);
criterion_main!(benches);
