//! Generator throughput (records/s): the simulation alone (records handed to a counting sink),
//! the text formatting alone (the generator's `LineWriter` against the shared `write_record`,
//! on the same records), and the whole `generate` with formatting, gzip and files, for v2 and
//! v5.
//!
//! Run: `cargo bench --bench gen` (fixed seeds; one day of 20 ENIs, about 150,000 records).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flowvigil::flowlog::write_record;
use flowvigil::gen::text::LineWriter;
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
        // The records, collected once; formatting them is what is timed.
        let mut recs = Vec::new();
        if let Ok(sim) = simulate(&cfg, &mut |r, _| recs.push(r.clone())) {
            let fields = format.fields();
            let interner = sim.interner;
            let mut buf = Vec::with_capacity(256 * recs.len());
            g.bench_function(format!("text_line_writer_{format:?}"), |b| {
                let mut w = LineWriter::new(fields, &interner);
                b.iter(|| {
                    buf.clear();
                    recs.iter().for_each(|r| w.write(r, &interner, &mut buf));
                    black_box(buf.len())
                })
            });
            g.bench_function(format!("text_write_record_{format:?}"), |b| {
                b.iter(|| {
                    buf.clear();
                    recs.iter()
                        .for_each(|r| write_record(r, fields, &interner, &mut buf));
                    black_box(buf.len())
                })
            });
        }
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
