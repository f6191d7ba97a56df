//! Evaluation throughput (windows/s): `evaluate` over scored windows with labels, and the
//! reference isolation forest's fit (training rows/s) and scoring (windows/s) on 22 features.
//!
//! Run: `cargo bench --bench eval` (data is generated with a fixed seed outside the timings).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use flowvigil::eval::{evaluate, EvalInput, IsolationForestParams, ScoredWindow};
use flowvigil::features::{FeatureVector, NUM_FEATURES};
use flowvigil::labels::Label;

const WINDOWS: usize = 200_000;
const ENIS: u64 = 700;
const WINDOW_SECS: u64 = 300;

fn unit(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// 700 ENIs × ~286 windows; 1,000 labeled attacks of 30 minutes on random ENIs.
fn data(seed: u64) -> (Vec<ScoredWindow>, Vec<Label>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let windows = (0..WINDOWS)
        .map(|i| {
            let eni = i as u64 % ENIS;
            ScoredWindow {
                eni: format!("eni-{eni:017x}"),
                window_start: 1_700_000_100 + (i as u64 / ENIS) * WINDOW_SECS,
                score: unit(&mut rng),
                alert: rng.next_u64() % 500 == 0,
                findings: vec![],
            }
        })
        .collect();
    let span = (WINDOWS as u64 / ENIS) * WINDOW_SECS;
    let labels = (0..1000)
        .map(|i| {
            let start = 1_700_000_100 + rng.next_u64() % span;
            Label {
                attack_id: i,
                attack_type: format!("type{}", i % 9),
                eni: format!("eni-{:017x}", rng.next_u64() % ENIS),
                start,
                end: start + 1800,
                attacker: None,
                victim: None,
            }
        })
        .collect();
    (windows, labels)
}

fn features(n: usize, seed: u64) -> Vec<FeatureVector> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut v = [0.0; NUM_FEATURES];
            for x in &mut v {
                *x = unit(&mut rng) * 10.0;
            }
            v
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (windows, labels) = data(1);
    let mut g = c.benchmark_group("eval");
    g.sample_size(10);
    g.throughput(Throughput::Elements(WINDOWS as u64));
    g.bench_function("evaluate_200k_windows_1k_labels", |b| {
        b.iter(|| {
            black_box(evaluate(&EvalInput {
                windows: &windows,
                window_secs: WINDOW_SECS,
                labels: &labels,
                threshold: 0.99,
            }))
        })
    });

    let train = features(50_000, 2);
    g.throughput(Throughput::Elements(train.len() as u64));
    g.bench_function("iforest_fit_100x256_on_50k_rows", |b| {
        b.iter(|| black_box(IsolationForestParams::new().seed(3).fit(&train)))
    });
    let forest = IsolationForestParams::new()
        .seed(3)
        .fit(&train)
        .expect("fit");
    let probe = features(WINDOWS, 4);
    g.throughput(Throughput::Elements(probe.len() as u64));
    g.bench_function("iforest_score_200k_windows", |b| {
        b.iter(|| black_box(probe.iter().map(|x| forest.score(x)).sum::<f64>()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
