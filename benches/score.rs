//! Scoring throughput: `Scorer::score_one` on synthetic windows, explanations included
//! (target: ≥ 1 M windows/s per core). Model and windows are built outside the timed closure.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flowvigil::detect::synth;
use flowvigil::detect::{train, TrainParams};

fn score(c: &mut Criterion) {
    let set = synth::dataset(64, 300, 50, 20, 42);
    let m = train(&set.train, &set.names, &TrainParams::default()).expect("train");
    let windows: Vec<_> = set.test.iter().map(|(w, _)| w.clone()).collect();
    let states: Vec<_> = windows
        .iter()
        .map(|w| {
            m.enis
                .get(set.names.name(w.eni))
                .cloned()
                .unwrap_or_else(|| m.scorer.new_eni_state(w))
        })
        .collect();
    let mut g = c.benchmark_group("score");
    g.throughput(Throughput::Elements(windows.len() as u64));
    g.bench_function("score_one_with_explanation", |b| {
        let mut states = states.clone();
        b.iter(|| {
            let mut alerts = 0usize;
            for (w, st) in windows.iter().zip(states.iter_mut()) {
                let v = m.scorer.score_one(st, black_box(w));
                alerts += usize::from(v.alert);
                black_box(&v.explanation);
            }
            alerts
        })
    });
    g.finish();
}

criterion_group!(benches, score);
criterion_main!(benches);
