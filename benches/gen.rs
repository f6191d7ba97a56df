//! Generator throughput (records/s): the simulation alone (records handed to a counting sink),
//! and the whole `generate` with text formatting, gzip and files, for v2 and v5.
//!
//! Run: `cargo bench --bench gen` (fixed seeds; one day of 20 ENIs, about 150,000 records).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flowvigil::gen::{generate, simulate, GenConfig, GenFormat};

fn config(format: GenFormat) -> GenConfig {
    GenConfig {
        seed: 7,
        enis: 20,
        days: 1,
        clean_days: 0,
        format,
        ..GenConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("gen");
    g.sample_size(10);
    for format in [GenFormat::V2, GenFormat::V5] {
        let cfg = config(format);
        // Counted once outside the timings, so the throughput is in records.
        let n = simulate(&cfg, &mut |_, _| {}).map_or(0, |s| s.summary.records);
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("simulate_{format:?}"), |b| {
            b.iter(|| {
                let mut count = 0u64;
                let _ = simulate(&cfg, &mut |r, _| count += r.packets.unwrap_or(0) & 1);
                black_box(count)
            })
        });
        let dir = tempfile::tempdir().ok();
        if let Some(dir) = dir {
            g.bench_function(format!("generate_{format:?}"), |b| {
                b.iter(|| black_box(generate(&cfg, dir.path()).map(|s| s.records)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
