//! Training and batch backtests: the window → features → score path over shards on a rayon
//! pool (see [`crate::window::run_sharded`]), identical for any thread count.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::detect::{self, EniState, FindingKind, Scorer, TrainParams, Verdict};
use crate::features::{EniHistory, FeatureVector, WindowFeatures};
use crate::flowlog::{EniId, Interner, LogReader};
use crate::model::Model;
use crate::window::{
    plan_threads, run_threads, shard_of, RunStats, WindowConfig, WindowSink, Windower,
};

use super::EngineError;

/// One scored ENI-window as a backtest keeps it: compact for every window, the full verdict
/// only for alerts (so a long backtest's memory is ~40 bytes per window plus its alerts).
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredRow {
    /// Interface id.
    pub eni: String,
    /// Window start, Unix seconds.
    pub window_start: u64,
    /// Calibrated anomaly score in [0, 1].
    pub score: f64,
    /// Whether it alerted.
    pub alert: bool,
    /// Findings raised, as a bit set over [`FindingKind::ALL`] (index = bit).
    pub findings: u16,
    /// The full verdict, kept for alerts (and for every window with `keep_all`).
    pub verdict: Option<Box<Verdict>>,
    /// The window's raw feature values, kept with `keep_features` (evaluation compares other
    /// detectors on exactly these vectors).
    pub features: Option<Box<FeatureVector>>,
}

impl ScoredRow {
    /// The kinds in [`ScoredRow::findings`].
    pub fn finding_kinds(&self) -> impl Iterator<Item = FindingKind> + '_ {
        FindingKind::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.findings & (1 << i) != 0)
            .map(|(_, k)| k)
    }
}

/// The bit set of a verdict's finding kinds.
pub fn finding_mask(v: &Verdict) -> u16 {
    v.findings.iter().fold(0u16, |m, f| {
        let bit = FindingKind::ALL
            .iter()
            .position(|k| *k == f.kind)
            .unwrap_or(15);
        m | (1 << bit)
    })
}

/// The per-ENI scoring state of one shard: the sink that [`run_threads`] feeds. The streaming
/// engine drives the very same sink, which is what makes stream and backtest agree.
pub struct ScoringSink<'m> {
    scorer: &'m Scorer,
    states: BTreeMap<String, EniState>,
    preload: Vec<(EniId, EniHistory)>,
    keep_all: bool,
    keep_features: bool,
    rows: Vec<ScoredRow>,
}

impl<'m> ScoringSink<'m> {
    /// A sink scoring with `scorer`, starting from `states` (this shard's ENIs) and preloading
    /// `preload` feature histories into the shard's windower.
    pub fn new(
        scorer: &'m Scorer,
        states: BTreeMap<String, EniState>,
        preload: Vec<(EniId, EniHistory)>,
        keep_all: bool,
    ) -> Self {
        Self {
            scorer,
            states,
            preload,
            keep_all,
            keep_features: false,
            rows: Vec::new(),
        }
    }

    /// Also keep every window's feature vector in its row.
    pub fn keep_features(mut self, yes: bool) -> Self {
        self.keep_features = yes;
        self
    }

    /// Scores one closed window of ENI `name` (score before learn; see [`Scorer::score_one`]).
    pub fn score(&mut self, w: &WindowFeatures, name: &str) -> &ScoredRow {
        let state = match self.states.get_mut(name) {
            Some(s) => s,
            None => self
                .states
                .entry(name.to_string())
                .or_insert_with(|| self.scorer.new_eni_state(w)),
        };
        let verdict = self.scorer.score_one(state, w);
        let keep = verdict.alert || self.keep_all;
        self.rows.push(ScoredRow {
            eni: name.to_string(),
            window_start: w.window_start,
            score: verdict.anomaly_score,
            alert: verdict.alert,
            findings: finding_mask(&verdict),
            verdict: keep.then(|| Box::new(verdict)),
            features: self.keep_features.then(|| Box::new(w.values)),
        });
        let last = self.rows.len() - 1;
        &self.rows[last]
    }

    /// Takes the rows scored so far (the stream emits them as windows close).
    pub fn take_rows(&mut self) -> Vec<ScoredRow> {
        std::mem::take(&mut self.rows)
    }

    /// The per-ENI states.
    pub fn states(&self) -> &BTreeMap<String, EniState> {
        &self.states
    }

    /// Replaces the per-ENI states (resume from a checkpoint).
    pub fn set_states(&mut self, states: BTreeMap<String, EniState>) {
        self.states = states;
    }
}

/// What a shard's scoring sink returns.
pub struct ShardScores {
    /// Rows in (window start, ENI name) order within the shard.
    pub rows: Vec<ScoredRow>,
    /// The shard's per-ENI states after the run.
    pub states: BTreeMap<String, EniState>,
    /// The shard's per-ENI feature histories after the run, by name.
    pub histories: Vec<(String, EniHistory)>,
}

impl WindowSink for ScoringSink<'_> {
    type Output = ShardScores;

    fn accept(&mut self, w: WindowFeatures) {
        // Only reached without names (never, through run_sharded): score under the id.
        let name = format!("#{}", w.eni);
        self.score(&w, &name);
    }

    fn accept_named(&mut self, w: WindowFeatures, names: &Interner) {
        let name = names.name(w.eni).to_string();
        self.score(&w, &name);
    }

    fn init(&mut self, windower: &mut Windower) {
        for (eni, h) in self.preload.drain(..) {
            windower.set_history(eni, h);
        }
    }

    fn finish(self) -> ShardScores {
        ShardScores {
            rows: self.rows,
            states: self.states,
            histories: Vec::new(),
        }
    }

    fn finish_with(self, windower: &Windower, names: &Interner) -> ShardScores {
        ShardScores {
            rows: self.rows,
            states: self.states,
            histories: named_histories(windower, names),
        }
    }
}

/// The shard's per-ENI feature histories, keyed by name (the stable key across runs).
fn named_histories(windower: &Windower, names: &Interner) -> Vec<(String, EniHistory)> {
    windower
        .histories()
        .into_iter()
        .map(|(id, h)| (names.name(id).to_string(), h.clone()))
        .collect()
}

/// A sink that keeps every window and hands back the histories (training).
struct CollectSink {
    windows: Vec<WindowFeatures>,
}

/// What a training shard returns.
struct Collected {
    windows: Vec<WindowFeatures>,
    histories: Vec<(String, EniHistory)>,
}

impl WindowSink for CollectSink {
    type Output = Collected;
    fn accept(&mut self, w: WindowFeatures) {
        self.windows.push(w);
    }
    fn finish(self) -> Collected {
        Collected {
            windows: self.windows,
            histories: Vec::new(),
        }
    }
    fn finish_with(self, windower: &Windower, names: &Interner) -> Collected {
        Collected {
            windows: self.windows,
            histories: named_histories(windower, names),
        }
    }
}

/// Interns the model's ENIs into `interner` (so ids are stable across train → score) and
/// splits their feature histories by shard.
fn preload_histories(
    model: &Model,
    interner: &mut Interner,
    shards: usize,
) -> Vec<Vec<(EniId, EniHistory)>> {
    let mut per_shard: Vec<Vec<(EniId, EniHistory)>> = vec![Vec::new(); shards];
    for (name, h) in &model.histories {
        let id = interner.intern(name.as_bytes());
        if let Some(v) = per_shard.get_mut(shard_of(name, shards)) {
            v.push((id, h.clone()));
        }
    }
    per_shard
}

/// Splits the model's per-ENI states by shard.
fn split_states(model: &Model, shards: usize) -> Vec<BTreeMap<String, EniState>> {
    let mut per_shard = vec![BTreeMap::new(); shards];
    for (name, s) in &model.enis {
        if let Some(m) = per_shard.get_mut(shard_of(name, shards)) {
            m.insert(name.clone(), s.clone());
        }
    }
    per_shard
}

/// Merges shard outputs into (window start, ENI name) order.
fn merge_rows(mut shards: Vec<Vec<ScoredRow>>) -> Vec<ScoredRow> {
    let mut rows: Vec<ScoredRow> = shards.iter_mut().flat_map(std::mem::take).collect();
    rows.sort_by(|a, b| {
        a.window_start
            .cmp(&b.window_start)
            .then_with(|| a.eni.cmp(&b.eni))
    });
    rows
}

/// The result of a backtest.
pub struct Backtest {
    /// Every scored window, in (window start, ENI name) order.
    pub rows: Vec<ScoredRow>,
    /// Window-stage counters (late records, unplaceable records...).
    pub run: RunStats,
    /// The model after the run (states and histories learned online).
    pub model: Model,
}

/// How a backtest runs.
#[derive(Clone, Debug, Default)]
pub struct BacktestOptions {
    /// Shards (threads); the result does not depend on it. 0 counts as 1.
    pub threads: usize,
    /// Keep the full verdict of every window, not only of alerts.
    pub keep_all: bool,
    /// Keep every window's feature vector (for evaluation against other detectors).
    pub keep_features: bool,
}

/// Replays `reader` through `model`. The reader's interner is replaced by one that starts with
/// the model's ENIs (ids stay stable from training to scoring). Returns the reader too, for its
/// summary (bad lines).
pub fn backtest(
    reader: LogReader,
    model: &Model,
    opts: &BacktestOptions,
    on_progress: &mut dyn FnMut(u64),
) -> Result<(Backtest, LogReader), EngineError> {
    let plan = plan_threads(&reader, opts.threads);
    let shards = plan.shards;
    let keep_all = opts.keep_all;
    let mut interner = Interner::new();
    let preload = preload_histories(model, &mut interner, shards);
    let mut reader = reader.with_interner(interner);
    let states = split_states(model, shards);
    let preload = Mutex::new(preload);
    let states = Mutex::new(states);
    let take = |i: usize| {
        let p = preload
            .lock()
            .map(|mut v| std::mem::take(&mut v[i]))
            .unwrap_or_default();
        let s = states
            .lock()
            .map(|mut v| std::mem::take(&mut v[i]))
            .unwrap_or_default();
        ScoringSink::new(&model.scorer, s, p, keep_all).keep_features(opts.keep_features)
    };
    let (outs, run) = run_threads(&mut reader, &model.windowing, plan, take, on_progress)?;
    let mut next = model.clone();
    let mut rows = Vec::with_capacity(outs.len());
    for out in outs {
        rows.push(out.rows);
        next.enis.extend(out.states);
        next.histories.extend(out.histories);
    }
    Ok((
        Backtest {
            rows: merge_rows(rows),
            run,
            model: next,
        },
        reader,
    ))
}

/// Reads history, windows it, and trains a model carrying the windowing configuration and the
/// per-ENI feature histories forward (so that scoring does not see every port as new).
pub fn train_from_logs(
    reader: LogReader,
    windowing: &WindowConfig,
    params: &TrainParams,
    threads: usize,
    on_progress: &mut dyn FnMut(u64),
) -> Result<(Model, RunStats, LogReader), EngineError> {
    let mut reader = reader;
    let make = |_| CollectSink {
        windows: Vec::new(),
    };
    let plan = plan_threads(&reader, threads);
    let (outs, run) = run_threads(&mut reader, windowing, plan, make, on_progress)?;
    let mut windows = Vec::new();
    let mut histories = BTreeMap::new();
    for out in outs {
        windows.extend(out.windows);
        histories.extend(out.histories);
    }
    let names = reader.interner();
    windows.sort_by(|a, b| {
        a.window_start
            .cmp(&b.window_start)
            .then_with(|| names.name(a.eni).cmp(names.name(b.eni)))
    });
    if windows.is_empty() {
        return Err(EngineError::NoWindows);
    }
    // The detectors' rates use the window width: it must be the one the windows were cut with.
    let params = TrainParams {
        window_secs: windowing.window_secs,
        ..params.clone()
    };
    let mut model = detect::train(&windows, names, &params)?;
    model.windowing = windowing.clone();
    model.histories = histories;
    Ok((model, run, reader))
}
