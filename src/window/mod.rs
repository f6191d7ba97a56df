//! Per-ENI event-time tumbling windows closed by a watermark; late-record accounting; sharding.
//!
//! # Windows
//!
//! A record belongs to the window that holds its **`start`**: `window_start = start - start %
//! window_secs`. AWS aggregates a flow over an interval (60 s or 600 s) and reports it once, so a
//! long flow spans windows only through its own successive records; splitting one record's bytes
//! across windows would invent a rate the log never measured.
//!
//! # Watermark and lateness
//!
//! The [`Watermark`] is the highest `end` seen minus `allowed_lateness_secs` (event time only,
//! never the wall clock). A window `[s, s + w)` closes when the watermark reaches `s + w`. A
//! record is **late** when its window's end is at or below the watermark *before the record
//! itself is observed* (the caller passes that value to [`Windower::push`]); late records are
//! counted per ENI ([`Windower::late_counts`]) and returned as [`Push::Late`] so the caller can
//! write them to a side file. Because lateness depends only on the record and the global
//! watermark, every shard agrees with a sequential run.
//!
//! One record with a far-future `end` moves the watermark for everyone (and makes the rest late):
//! the reader's timestamp validation is the guard against that.
//!
//! # Driving protocol
//!
//! For each record, in input order: `wm = watermark.get()`; if `wm` grew, call
//! [`Windower::close_until`]`(wm)`; then [`Windower::push`]`(rec, wm)`; then
//! `watermark.observe(rec)`. At end of input, [`Windower::finish`]. [`run_sharded`] does exactly
//! this, per shard; following the same protocol is what makes a shard's per-ENI state evolve as
//! in a sequential run (history is updated when a window closes).
//!
//! # Memory
//!
//! Only open windows and per-ENI history are held: per ENI at most
//! `max_open_windows_per_eni` open windows (each bounded, see `crate::features::accum`) and one
//! [`EniHistory`] (≤ 33 KiB, see `crate::features::history`). The number of ENIs is bounded by
//! the reader's interner cap. Per-ENI state is found through a dense index by ENI id (4 bytes
//! per id below 2^20, the reader's default interner cap: ≤ 4 MiB; larger ids go to a map), and
//! each ENI's open windows are a short list of (start, boxed accumulator), so finding a record's
//! window touches two or three cache lines. Emptied accumulators are kept for reuse: at most
//! 1,024, each holding at most 32 KiB of tables (see `crate::features::accum`), so ≤ 32 MiB
//! in all, plus one closing scratch space of ≤ 12 KiB.
//!
//! # Direction
//!
//! `flow-direction` decides when present. Next, NAT gateway legs: when `pkt-srcaddr` differs from
//! `srcaddr`, `srcaddr` is the gateway's own (translated) address, so the record is egress; when
//! `pkt-dstaddr` differs from `dstaddr`, it is ingress. Otherwise the ENI's own address is learned from its
//! records ([`crate::features::history::AddrLearner`]: the address present in nearly every
//! record): the side whose address has the higher count is local. On a tie (an ENI's first
//! records all with one peer) a private address is taken as local against a public one; between
//! two private (or two public) addresses the record is deferred (at most
//! [`crate::features::accum::MAX_DEFERRED`] per window) and decided when its window closes, when
//! the learner has seen the ENI's other records; a tie that persists is taken as egress. Where this
//! fails: an ENI that talks to a single peer for a whole window before its address is learned
//! (taken as egress); ENIs with several addresses where one address
//! dominates (records on the others may be misdirected); records without both addresses and
//! without `flow-direction` (counted as [`Unplaceable::NoDirection`]).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::features::accum::{is_private, CloseScratch};
use crate::features::distinct::PreMixed;
use crate::features::{
    Dir, EniHistory, ObsView, Observation, Unplaceable, WindowAcc, WindowFeatures,
};
use crate::flowlog::{EniId, FlowRecord, Interner, LogStatus};

mod parallel;
mod pipeline;
pub use pipeline::{
    plan_threads, run_pipelined, run_pipelined_with, run_threads, Pipeline, ThreadPlan,
    PIPELINE_SHARDS,
};
mod shard;
mod slot;
pub use slot::Slot;

pub use parallel::{run_parallel, run_parallel_chunked, CHUNK_PER_SHARD, MAX_CHUNK};
pub use shard::{
    run_sharded, RecordSource, RunError, RunStats, ShardDriver, ShardedOutput, WindowSink,
};

/// Window settings (user-facing; unknown keys are rejected).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    /// Window width in seconds (default 300). Must be ≥ 1.
    pub window_secs: u32,
    /// How far behind the highest `end` seen a record may arrive and still count (default 900;
    /// flow-log delivery lags 5-10 minutes).
    pub allowed_lateness_secs: u32,
    /// Open windows per ENI at most (default 64); a record that would open one more is counted
    /// as [`Unplaceable::TooFarAhead`]. Bounds memory against far-future timestamps.
    pub max_open_windows_per_eni: u32,
    /// Build each window's [`crate::features::Evidence`] (default true: typed findings need
    /// it). `flowvigil features` turns it off since the CSV holds only the feature vector; the
    /// vector is the same either way.
    pub evidence: bool,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            window_secs: 300,
            allowed_lateness_secs: 900,
            max_open_windows_per_eni: 64,
            evidence: true,
        }
    }
}

/// Errors of the window stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A configuration value is out of range.
    #[error("window config: `{field}` {what}")]
    InvalidConfig {
        /// The field name.
        field: &'static str,
        /// What was expected.
        what: &'static str,
    },
}

impl WindowConfig {
    /// Checks the values; [`Windower::new`] otherwise clamps them (width ≥ 1, open ≥ 1).
    pub fn validate(&self) -> Result<(), WindowError> {
        if self.window_secs == 0 {
            return Err(WindowError::InvalidConfig {
                field: "window_secs",
                what: "must be at least 1",
            });
        }
        if self.max_open_windows_per_eni == 0 {
            return Err(WindowError::InvalidConfig {
                field: "max_open_windows_per_eni",
                what: "must be at least 1",
            });
        }
        Ok(())
    }

    #[inline]
    fn width(&self) -> u64 {
        u64::from(self.window_secs.max(1))
    }

    /// The start of the window holding `t`.
    #[inline]
    pub fn window_start(&self, t: u64) -> u64 {
        // A 32-bit division is several times cheaper than a 64-bit one, and Unix seconds fit
        // in 32 bits until 2106; same result either way.
        match u32::try_from(t) {
            Ok(t32) => u64::from(t32 - t32 % self.window_secs.max(1)),
            Err(_) => t - t % self.width(),
        }
    }

    /// True when a record starting at `start` is late under watermark `wm`.
    #[inline]
    pub fn is_late(&self, start: u64, wm: u64) -> bool {
        // A window ends after every start it holds, so a record starting at or after the
        // watermark is never late: that test skips the division for nearly every record.
        start < wm && self.window_start(start).saturating_add(self.width()) <= wm
    }
}

/// The global event-time watermark: highest `end` seen minus the allowed lateness.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    max_end: u64,
    lateness: u64,
}

impl Watermark {
    /// A watermark that has seen nothing (value 0).
    pub fn new(allowed_lateness_secs: u32) -> Self {
        Self {
            max_end: 0,
            lateness: u64::from(allowed_lateness_secs),
        }
    }

    /// Takes a record's `end` (or `start` when `end` is absent) into account.
    #[inline]
    pub fn observe(&mut self, rec: &FlowRecord) {
        if let Some(t) = rec.end.or(rec.start) {
            self.observe_time(t);
        }
    }

    /// Takes an event time into account.
    #[inline]
    pub fn observe_time(&mut self, end: u64) {
        self.max_end = self.max_end.max(end);
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> u64 {
        self.max_end.saturating_sub(self.lateness)
    }

    /// The highest `end` seen.
    pub fn max_end(&self) -> u64 {
        self.max_end
    }
}

/// The shard (0..shards) that owns an ENI: FNV-1a of its name, so it is stable across runs,
/// processes and machines (never `RandomState`). `shards == 0` is treated as 1.
pub fn shard_of(eni_name: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in eni_name.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % shards.max(1) as u64) as usize
}

/// What [`Windower::push`] did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// Added to an open window.
    Accepted,
    /// Its window had closed; counted for its ENI.
    Late,
    /// A NODATA record: counted, carries no traffic, opens no window.
    NoData,
    /// Could not be placed; counted by reason.
    Unplaceable(Unplaceable),
}

/// Counters of one [`Windower`] (or, summed, of a run).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowStats {
    /// Records pushed.
    pub records: u64,
    /// Traffic records added to windows.
    pub accepted: u64,
    /// SKIPDATA records added to windows.
    pub skipdata: u64,
    /// Late records.
    pub late: u64,
    /// NODATA records.
    pub nodata: u64,
    /// Records without an interface id.
    pub no_eni: u64,
    /// Records without `start`.
    pub no_start: u64,
    /// Traffic records whose direction could not be resolved.
    pub no_direction: u64,
    /// Records refused because their ENI had too many open windows.
    pub too_far_ahead: u64,
    /// Windows closed.
    pub windows: u64,
    /// Bytes of accepted traffic records.
    pub bytes: u64,
    /// Packets of accepted traffic records.
    pub packets: u64,
}

impl WindowStats {
    /// Adds another shard's counters.
    pub fn add(&mut self, o: &WindowStats) {
        self.records += o.records;
        self.accepted += o.accepted;
        self.skipdata += o.skipdata;
        self.late += o.late;
        self.nodata += o.nodata;
        self.no_eni += o.no_eni;
        self.no_start += o.no_start;
        self.no_direction += o.no_direction;
        self.too_far_ahead += o.too_far_ahead;
        self.windows += o.windows;
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.packets = self.packets.saturating_add(o.packets);
    }

    /// Records that were counted but are in no window (late, NODATA, unplaceable).
    pub fn not_windowed(&self) -> u64 {
        self.late
            + self.nodata
            + self.no_eni
            + self.no_start
            + self.no_direction
            + self.too_far_ahead
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[repr(C)]
struct EniState {
    /// Open windows, ascending by start (a handful: lateness / width + 1 in steady state).
    /// Boxed: the list stays small (one cache line for four windows) and reuse moves pointers.
    open: Vec<(u64, Box<WindowAcc>)>,
    late: u64,
    history: EniHistory,
}

/// Where [`Windower::push_run`] finds a run's ENI state, and when its oldest window is due.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EniRun {
    /// The state's position in [`EniTable::states`].
    pos: usize,
    /// At most the end of the ENI's oldest open window (`u64::MAX` when none): no window of
    /// the ENI closes before the watermark reaches it.
    next_close: u64,
    /// The window `[cached_start, cached_end)` of the run's last record whose start needed
    /// the division (empty when none): a record starting inside it is in that window, and
    /// `next_close` is at most its end already (cleared whenever `next_close` is recomputed).
    cached_start: u64,
    cached_end: u64,
}

/// Ids at or above this go to the fallback map rather than the dense index (the reader's
/// interner gives dense ids below its `max_enis`, 2^20 by default).
const DENSE_IDS: usize = 1 << 20;
/// [`EniTable::index`] entry of an id without state.
const NO_STATE: u32 = u32::MAX;

/// Per-ENI state, dense: `index[id]` is the state's position (ids come from the run's interner,
/// so they are small and dense); ids beyond [`DENSE_IDS`] use a map. Serialized as a map from id
/// to state (the shape of the `HashMap` it replaced).
#[derive(Clone, Debug, Default)]
struct EniTable {
    index: Vec<u32>,
    far: HashMap<EniId, u32, PreMixed>,
    ids: Vec<EniId>,
    states: Vec<EniState>,
}

impl EniTable {
    #[inline]
    fn position(&self, eni: EniId) -> Option<usize> {
        let p = match self.index.get(eni as usize) {
            Some(&p) => p,
            None => *self.far.get(&eni)?,
        };
        (p != NO_STATE).then_some(p as usize)
    }

    /// The position of `eni`'s state, made on first use.
    #[inline]
    fn position_or_insert(&mut self, eni: EniId) -> usize {
        if let Some(&p) = self.index.get(eni as usize) {
            if p != NO_STATE {
                return p as usize;
            }
        }
        self.insert_slow(eni)
    }

    #[cold]
    fn insert_slow(&mut self, eni: EniId) -> usize {
        if let Some(p) = self.position(eni) {
            return p;
        }
        let p = self.states.len();
        let e = eni as usize;
        if e < DENSE_IDS {
            if self.index.len() <= e {
                self.index.resize(e + 1, NO_STATE);
            }
            if let Some(slot) = self.index.get_mut(e) {
                *slot = p as u32;
            }
        } else {
            self.far.insert(eni, p as u32);
        }
        self.ids.push(eni);
        self.states.push(EniState::default());
        p
    }

    #[inline]
    fn get(&self, eni: EniId) -> Option<&EniState> {
        self.states.get(self.position(eni)?)
    }

    fn get_mut(&mut self, eni: EniId) -> Option<&mut EniState> {
        let p = self.position(eni)?;
        self.states.get_mut(p)
    }

    #[inline]
    fn entry(&mut self, eni: EniId) -> &mut EniState {
        let p = self.position_or_insert(eni);
        // Positions always index `states` (both grow together in `insert_slow`).
        &mut self.states[p]
    }

    fn iter(&self) -> impl Iterator<Item = (EniId, &EniState)> {
        self.ids.iter().copied().zip(&self.states)
    }
}

impl Serialize for EniTable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for EniTable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<EniId, EniState>::deserialize(d)?;
        let mut t = EniTable::default();
        for (eni, state) in map {
            *t.entry(eni) = state;
        }
        Ok(t)
    }
}

/// One shard's state: open windows + per-ENI history. `Serialize`/`Deserialize` (checkpoints)
/// and `Send`.
///
/// ENI ids come from the run's interner and are per run; the interface name is the stable key
/// (an engine that carries history across runs maps it by name, see [`Windower::history`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Windower {
    cfg: WindowConfig,
    enis: EniTable,
    /// (window start, ENI) of every open window: closing pops from the front.
    open_index: BTreeSet<(u64, EniId)>,
    stats: WindowStats,
    /// Emptied accumulators kept for reuse (at most [`SPARE_POOL`], each holding at most
    /// [`SPARE_BYTES`]); not part of the state. Boxed: they move into and out of the ENIs' open
    /// lists as pointers.
    #[serde(skip)]
    #[allow(clippy::vec_box)]
    spare: Vec<Box<WindowAcc>>,
    /// Closing's scratch space, shared by every close (≤ 12 KiB); not part of the state.
    #[serde(skip)]
    scratch: CloseScratch,
}

/// Cache lines [`Windower::prefetch_eni`] fetches at most per table before a window closes.
const CLOSE_PREFETCH_LINES: usize = 128;
/// Emptied accumulators kept for reuse: enough for every window of 1,024 ENIs closing at once.
const SPARE_POOL: usize = 1024;
/// Heap bytes of tables an accumulator may hold to be kept for reuse (so the pool holds ≤ 32 MiB
/// of tables).
const SPARE_BYTES: usize = 32 * 1024;

impl Windower {
    /// A windower with no state. Invalid values are clamped (see [`WindowConfig::validate`]).
    pub fn new(mut cfg: WindowConfig) -> Self {
        cfg.window_secs = cfg.window_secs.max(1);
        cfg.max_open_windows_per_eni = cfg.max_open_windows_per_eni.max(1);
        Self {
            cfg,
            ..Self::default()
        }
    }

    /// The configuration.
    pub fn config(&self) -> &WindowConfig {
        &self.cfg
    }

    /// Adds a record given the global watermark at the time it was read (see the module docs).
    pub fn push(&mut self, rec: &FlowRecord, watermark: u64) -> Push {
        match Observation::from_record(rec) {
            Ok(obs) => self.push_obs(&obs, watermark),
            Err(why) => {
                self.stats.records += 1;
                self.count_unplaceable(why);
                Push::Unplaceable(why)
            }
        }
    }

    fn count_unplaceable(&mut self, why: Unplaceable) {
        match why {
            Unplaceable::NoEni => self.stats.no_eni += 1,
            Unplaceable::NoStart => self.stats.no_start += 1,
            Unplaceable::NoDirection => self.stats.no_direction += 1,
            Unplaceable::TooFarAhead => self.stats.too_far_ahead += 1,
        }
    }

    /// [`Self::push`] for an already extracted [`Observation`].
    #[inline]
    pub fn push_obs(&mut self, obs: &Observation, watermark: u64) -> Push {
        self.push_obs_as(obs, obs.eni, watermark)
    }

    /// [`Self::push_obs`] of `obs` as a record of `eni`, whatever `obs.eni` says (a parallel
    /// parser's records carry its own ids until they are applied).
    pub fn push_obs_as(&mut self, obs: &Observation, eni: EniId, watermark: u64) -> Push {
        self.stats.records += 1;
        let pos = self.enis.position_or_insert(eni);
        // One division per record: the window start serves the lateness test and the lookup.
        let ws = self.cfg.window_start(obs.start);
        let end = ws.saturating_add(self.cfg.width());
        self.push_at(pos, obs, eni, watermark, (ws, end))
    }

    /// Starts a run of `eni`'s records (see `ShardDriver::feed_block`): finds its state once
    /// (made now if new, as the run's first push would) and the end of its oldest open window.
    #[inline]
    pub(crate) fn begin_run(&mut self, eni: EniId) -> EniRun {
        let pos = self.enis.position_or_insert(eni);
        EniRun {
            pos,
            next_close: self.first_close(pos),
            cached_start: 1,
            cached_end: 0,
        }
    }

    /// The end of the oldest open window of the state at `pos` (`u64::MAX` when none).
    #[inline]
    fn first_close(&self, pos: usize) -> u64 {
        self.enis
            .states
            .get(pos)
            .and_then(|s| s.open.first())
            .map_or(u64::MAX, |(ws, _)| ws.saturating_add(self.cfg.width()))
    }

    /// [`Self::close_eni_until`] for the ENI of `run`, when the run says a window is due
    /// (`watermark` reached the end of its oldest open window); nothing otherwise, which is
    /// exactly what the plain call would have done.
    #[inline]
    pub(crate) fn close_run_until(
        &mut self,
        run: &mut EniRun,
        eni: EniId,
        watermark: u64,
        out: &mut Vec<WindowFeatures>,
    ) {
        if watermark >= run.next_close {
            self.close_eni_until(eni, watermark, out);
            run.next_close = self.first_close(run.pos);
            // The cached window may not be open (its record late or unplaceable): its end
            // is no longer known to bound `next_close`.
            run.cached_start = 1;
            run.cached_end = 0;
        }
    }

    /// [`Self::push_obs_as`] of a record of the ENI of `run` (begun with [`Self::begin_run`]):
    /// the same, without looking the ENI's state up again.
    #[inline]
    pub(crate) fn push_run(
        &mut self,
        run: &mut EniRun,
        obs: &impl ObsView,
        eni: EniId,
        watermark: u64,
    ) -> Push {
        self.stats.records += 1;
        // Records of a run mostly fall in one window: no division for those.
        let ws = if run.cached_start <= obs.start() && obs.start() < run.cached_end {
            run.cached_start
        } else {
            let ws = self.cfg.window_start(obs.start());
            let end = ws.saturating_add(self.cfg.width());
            // The record opens at most the window `ws`: the oldest open window ends no later.
            run.next_close = run.next_close.min(end);
            run.cached_start = ws;
            run.cached_end = end;
            ws
        };
        self.push_at(run.pos, obs, eni, watermark, (ws, run.cached_end))
    }

    /// The body of [`Self::push_obs_as`], given the ENI's state position and the record's
    /// window's start and end (`records` counted already).
    #[inline]
    fn push_at(
        &mut self,
        pos: usize,
        obs: &impl ObsView,
        eni: EniId,
        watermark: u64,
        (ws, end): (u64, u64),
    ) -> Push {
        let cfg = &self.cfg;
        let spare = &mut self.spare;
        let Some(state) = self.enis.states.get_mut(pos) else {
            // Positions always index `states` (see `EniTable::insert_slow`).
            return Push::Unplaceable(Unplaceable::NoEni);
        };
        if end <= watermark {
            state.late += 1;
            self.stats.late += 1;
            return Push::Late;
        }
        if obs.status() == LogStatus::NoData {
            self.stats.nodata += 1;
            return Push::NoData;
        }
        let dir = if obs.status() == LogStatus::SkipData {
            None
        } else {
            match resolve_direction(obs, &mut state.history) {
                Some(d) => Some(d),
                None => {
                    self.count_unplaceable(Unplaceable::NoDirection);
                    return Push::Unplaceable(Unplaceable::NoDirection);
                }
            }
        };
        // The record's window is nearly always the newest: that one first, then a search
        // from the back.
        let slot = if state.open.last().is_some_and(|(s, _)| *s == ws) {
            state.open.last_mut()
        } else {
            let found = match state.open.iter().rposition(|(s, _)| *s <= ws) {
                Some(i) if state.open.get(i).is_some_and(|(s, _)| *s == ws) => Ok(i),
                Some(i) => Err(i + 1),
                None => Err(0),
            };
            let pos = match found {
                Ok(i) => i,
                Err(i) => {
                    if state.open.len() >= cfg.max_open_windows_per_eni as usize {
                        self.count_unplaceable(Unplaceable::TooFarAhead);
                        return Push::Unplaceable(Unplaceable::TooFarAhead);
                    }
                    let acc = spare.pop().unwrap_or_default();
                    state.open.insert(i, (ws, acc));
                    self.open_index.insert((ws, eni));
                    i
                }
            };
            state.open.get_mut(pos)
        };
        let Some((_, acc)) = slot else {
            return Push::Unplaceable(Unplaceable::TooFarAhead);
        };
        match dir {
            None => {
                acc.add_skipdata();
                self.stats.skipdata += 1;
            }
            Some(r) => {
                match r {
                    Resolved::Known(d) => acc.add(obs, d, &mut state.history, cfg.evidence),
                    Resolved::Tie => {
                        if !acc.defer(obs) {
                            let d = decide_deferred(obs, &state.history);
                            acc.add(obs, d, &mut state.history, cfg.evidence);
                        }
                    }
                }
                self.stats.accepted += 1;
                self.stats.bytes = self.stats.bytes.saturating_add(obs.bytes());
                self.stats.packets = self.stats.packets.saturating_add(obs.packets());
            }
        }
        Push::Accepted
    }

    /// Prefetches what a later [`Self::push_obs_as`] of `obs` as a record of `eni` will touch
    /// in its open window (see [`WindowAcc::prefetch`]); nothing when the window is not open
    /// yet. A hint: it changes no state, so a record applied out of turn costs at most a wasted
    /// fetch.
    #[inline]
    pub fn prefetch(&self, obs: &Observation, eni: EniId) {
        if let Some(state) = self.enis.get(eni) {
            self.prefetch_in(state, obs);
        }
    }

    /// [`Self::prefetch`] of a record by the window loop during `run`: when `in_run` (the
    /// record belongs to the run's ENI) the run's known state is used, else the state of the
    /// ENI `eni` gives. A hint like [`Self::prefetch`]: a wrong `in_run` costs at most a
    /// wasted fetch.
    #[inline]
    pub(crate) fn prefetch_run(
        &self,
        run: &EniRun,
        in_run: bool,
        obs: &impl ObsView,
        eni: impl FnOnce() -> EniId,
    ) {
        let state = if in_run {
            self.enis.states.get(run.pos)
        } else {
            self.enis.get(eni())
        };
        if let Some(state) = state {
            self.prefetch_in(state, obs);
        }
    }

    /// The body of [`Self::prefetch`], given the ENI's state.
    #[inline]
    fn prefetch_in(&self, state: &EniState, obs: &impl ObsView) {
        let w = self.cfg.width();
        // No division: the window holding `start` is the open one less than a width before it.
        if let Some((_, acc)) = state
            .open
            .iter()
            .rev()
            .find(|(s, _)| obs.start().wrapping_sub(*s) < w)
        {
            // Without `flow-direction`, guess it from the learner's first slot (nearly always
            // the own address): one remote's slots to fetch instead of both ends'.
            let dir = obs
                .direction()
                .map(Dir::from)
                .or_else(|| guess_direction(obs, state.history.own_addr.first_v4()?));
            acc.prefetch_as(obs, dir);
        }
    }

    /// Prefetches one step of the chain that leads to `eni`'s open windows, each step needing
    /// the previous one in cache to find its addresses without a miss: step 0 the ENI's state,
    /// step 1 its list of open windows, step 2 the accumulators' first lines, step 3 (only when
    /// its oldest window closes by `closing_wm`) what closing it reads: its tables and the
    /// ENI's history sets. The window stage calls step 0 for the ENI four runs ahead, 1 for
    /// three ahead, and so on (see `ShardDriver::feed_block`). A hint: it changes no state.
    #[inline]
    pub fn prefetch_eni(&self, eni: EniId, step: u8, closing_wm: u64) {
        use crate::features::peers::{prefetch_ptr, prefetch_slice};
        let Some(p) = self.enis.position(eni) else {
            return;
        };
        if step == 0 {
            prefetch_slice(self.enis.states.get(p..=p).unwrap_or_default(), 8);
            return;
        }
        let Some(s) = self.enis.states.get(p) else {
            return;
        };
        match step {
            1 => prefetch_ptr(s.open.as_ptr()),
            2 => {
                for (_, acc) in &s.open {
                    acc.prefetch_header();
                }
            }
            _ => {
                if let Some((ws, acc)) = s.open.first() {
                    if ws.saturating_add(self.cfg.width()) <= closing_wm {
                        acc.prefetch_for_close(CLOSE_PREFETCH_LINES);
                        s.history.prefetch_for_close(CLOSE_PREFETCH_LINES);
                    }
                }
            }
        }
    }

    /// Closes every window whose end ≤ `watermark`; appends them in (window start, ENI name)
    /// order.
    pub fn close_until(&mut self, watermark: u64, names: &Interner, out: &mut Vec<WindowFeatures>) {
        let w = self.cfg.width();
        let first = out.len();
        while let Some(&(ws, eni)) = self.open_index.first() {
            if ws.saturating_add(w) > watermark {
                break;
            }
            self.open_index.pop_first();
            self.close_one(ws, eni, out);
        }
        sort_closed(&mut out[first..], names);
    }

    /// Closes the open windows of `eni` whose end ≤ `watermark`, appending them in start
    /// order (not sorted with other ENIs' windows: see [`sort_closed`]). Closing one ENI's
    /// windows early changes nothing for the others: windows only read and write their own
    /// ENI's state.
    pub fn close_eni_until(&mut self, eni: EniId, watermark: u64, out: &mut Vec<WindowFeatures>) {
        let w = self.cfg.width();
        while let Some(&(ws, _)) = self.enis.get(eni).and_then(|s| s.open.first()) {
            if ws.saturating_add(w) > watermark {
                return;
            }
            self.open_index.remove(&(ws, eni));
            self.close_one(ws, eni, out);
        }
    }

    /// End of input: closes every open window, in (window start, ENI name) order.
    pub fn finish(&mut self, names: &Interner, out: &mut Vec<WindowFeatures>) {
        self.close_until(u64::MAX, names, out);
    }

    fn close_one(&mut self, ws: u64, eni: EniId, out: &mut Vec<WindowFeatures>) {
        let Some(state) = self.enis.get_mut(eni) else {
            return;
        };
        // Windows of one ENI close in start order, so the one to close is the first.
        let Ok(i) = state.open.binary_search_by_key(&ws, |(s, _)| *s) else {
            return;
        };
        let (_, mut acc) = state.open.remove(i);
        for obs in acc.take_deferred() {
            let d = decide_deferred(&obs, &state.history);
            acc.add(&obs, d, &mut state.history, self.cfg.evidence);
        }
        out.push(acc.finish_with(
            eni,
            ws,
            &mut state.history,
            self.cfg.evidence,
            &mut self.scratch,
        ));
        if self.spare.len() < SPARE_POOL && acc.approx_heap_bytes() <= SPARE_BYTES {
            self.spare.push(acc);
        }
        self.stats.windows += 1;
    }

    /// Late records per ENI id, ascending by id (ENIs without late records are left out).
    pub fn late_counts(&self) -> Vec<(EniId, u64)> {
        let mut v: Vec<(EniId, u64)> = self
            .enis
            .iter()
            .filter(|(_, s)| s.late > 0)
            .map(|(e, s)| (e, s.late))
            .collect();
        v.sort_unstable();
        v
    }

    /// Windows currently open.
    pub fn open_windows(&self) -> usize {
        self.open_index.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> &WindowStats {
        &self.stats
    }

    /// The history of an ENI (ports and peers seen before, learned own address).
    pub fn history(&self, eni: EniId) -> Option<&EniHistory> {
        self.enis.get(eni).map(|s| &s.history)
    }

    /// Replaces an ENI's history, e.g. with one a trained model carried forward (looked up by
    /// ENI name, re-keyed to this run's id). Call before the ENI's first record.
    pub fn set_history(&mut self, eni: EniId, history: EniHistory) {
        self.enis.entry(eni).history = history;
    }

    /// Every ENI's history, ascending by id.
    pub fn histories(&self) -> Vec<(EniId, &EniHistory)> {
        let mut v: Vec<(EniId, &EniHistory)> =
            self.enis.iter().map(|(e, s)| (e, &s.history)).collect();
        v.sort_unstable_by_key(|(e, _)| *e);
        v
    }

    /// Approximate heap bytes of all state (history + open windows), for the docs' figures.
    pub fn approx_heap_bytes(&self) -> usize {
        self.enis
            .iter()
            .map(|(_, s)| {
                std::mem::size_of::<EniState>()
                    + s.history.heap_bytes()
                    + s.open
                        .iter()
                        .map(|(_, a)| a.approx_heap_bytes())
                        .sum::<usize>()
            })
            .sum()
    }
}

/// A record's direction, or a tie the learner cannot break yet.
#[derive(Debug, PartialEq)]
enum Resolved {
    Known(Dir),
    Tie,
}

/// The record's direction (see [`resolve_inner`]). The usual record without `flow-direction`
/// (IPv4 addresses, no packet addresses, an all-IPv4 learner) is resolved inline, the others
/// by the plain path; the same result and learner state either way.
#[inline(always)]
fn resolve_direction(obs: &impl ObsView, hist: &mut EniHistory) -> Option<Resolved> {
    if let Some((s, d)) = obs.plain_v4_pair() {
        if let Some((cs, cd)) = hist.own_addr.try_observe_pair_ipv4(s, d) {
            // `resolve_inner`'s decision without its packet-address checks (both absent).
            return Some(
                match decide_by_counts(cs, cd, &IpAddr::V4(s), &IpAddr::V4(d)) {
                    Some(d) => Resolved::Known(d),
                    None => Resolved::Tie,
                },
            );
        }
    }
    resolve_direction_plain(obs, hist)
}

/// [`resolve_direction`] by the plain path. Not inlined: it is the rare path.
#[inline(never)]
fn resolve_direction_plain(obs: &impl ObsView, hist: &mut EniHistory) -> Option<Resolved> {
    resolve_inner(obs, hist).map(|d| match d {
        Some(d) => Resolved::Known(d),
        None => Resolved::Tie,
    })
}

fn resolve_inner(obs: &impl ObsView, hist: &mut EniHistory) -> Option<Option<Dir>> {
    if let Some(d) = obs.direction() {
        return Some(Some(d.into()));
    }
    let (Some(src), Some(dst)) = (obs.src(), obs.dst()) else {
        return None;
    };
    let (src, dst) = (&src, &dst);
    let learner = &mut hist.own_addr;
    let (cs, cd) = learner.observe_pair(src, dst);
    // A NAT gateway rewrites its own side: where a packet address differs from the interface
    // address, that interface address is the gateway's own. Decisive, and it teaches the learner.
    if obs.pkt_src().as_ref().is_some_and(|p| p != src) {
        learner.observe_ref(src);
        return Some(Some(Dir::Out));
    }
    if obs.pkt_dst().as_ref().is_some_and(|p| p != dst) {
        learner.observe_ref(dst);
        return Some(Some(Dir::In));
    }
    Some(decide_by_counts(cs, cd, src, dst))
}

/// The direction the learner's counts of a record's `src` and `dst` give (after counting
/// them): the end with the higher count is local; on a tie, the private end; else a tie.
#[inline(always)]
fn decide_by_counts(cs: u64, cd: u64, src: &IpAddr, dst: &IpAddr) -> Option<Dir> {
    if cs > cd {
        Some(Dir::Out)
    } else if cd > cs {
        Some(Dir::In)
    } else {
        match (is_private(*src), is_private(*dst)) {
            (true, false) => Some(Dir::Out),
            (false, true) => Some(Dir::In),
            _ => None,
        }
    }
}

/// The direction a record most likely has when `own` is the ENI's own IPv4 address: egress
/// when it is `srcaddr`, ingress when it is `dstaddr`; `None` when neither (a prefetch hint).
#[inline]
fn guess_direction(obs: &impl ObsView, own: u32) -> Option<Dir> {
    if obs.src_v4() == Some(own) {
        Some(Dir::Out)
    } else if obs.dst_v4() == Some(own) {
        Some(Dir::In)
    } else {
        None
    }
}

/// The direction of a deferred tie, decided when its window closes (the learner has seen more
/// records by then); a tie that persists is taken as egress (`srcaddr` local).
fn decide_deferred(obs: &impl ObsView, hist: &EniHistory) -> Dir {
    let (Some(src), Some(dst)) = (obs.src(), obs.dst()) else {
        return Dir::Out;
    };
    let learner = &hist.own_addr;
    if learner.count(dst) > learner.count(src) {
        Dir::In
    } else {
        Dir::Out
    }
}

/// Sorts closed windows into the one output order: window start, then ENI name.
///
/// A window is a few hundred bytes, so the order is found on small keys ([`closed_order`])
/// and then every window moves at most once, following the permutation's cycles with swaps
/// (sorting the windows themselves moved each one about log n times).
pub fn sort_closed(ws: &mut [WindowFeatures], names: &Interner) {
    if ws.len() < 2 {
        return;
    }
    let mut from = Vec::new();
    closed_order(ws, names, &mut from);
    apply_permutation(ws, &mut from);
}

/// Sets `order` to the indices of `ws` in the output order of [`sort_closed`]: window start,
/// then ENI name (then id, which never decides among one run's closed windows).
///
/// The windows of one block start within a few widths of each other, so one `u64` key per
/// window usually holds the start's offset from the block's first start, the names' bits
/// after the prefix every name in the block shares, and the index: sorting those plain
/// integers replaced a comparator on 32-byte keys. The key is monotone (a window before
/// another never gets the larger key), so only windows whose keys tie but for the index
/// (names equal in the kept bits) are then put in order by the names themselves. When the
/// starts spread too far for a useful name part, the 32-byte keys are sorted as before.
pub fn closed_order(ws: &[WindowFeatures], names: &Interner, order: &mut Vec<usize>) {
    order.clear();
    let n = ws.len();
    if n < 2 {
        order.extend(0..n);
        return;
    }
    let prefixes: Vec<u128> = ws.iter().map(|w| name_prefix(names.name(w.eni))).collect();
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    let first = prefixes.first().copied().unwrap_or(0);
    let mut diff = 0u128;
    for (w, &p) in ws.iter().zip(&prefixes) {
        lo = lo.min(w.window_start);
        hi = hi.max(w.window_start);
        diff |= p ^ first;
    }
    let start_bits = 64 - (hi - lo).leading_zeros();
    let index_bits = 64 - ((n - 1) as u64).leading_zeros();
    let Some(name_bits) = 64u32
        .checked_sub(start_bits + index_bits)
        .filter(|&b| b >= MIN_NAME_BITS)
    else {
        sorted_by_wide_keys(ws, &prefixes, names, order);
        return;
    };
    // The bits every name shares are dropped; the next `name_bits` are kept.
    let common = diff.leading_zeros();
    let mut keys: Vec<u64> = ws
        .iter()
        .zip(&prefixes)
        .enumerate()
        .map(|(i, (w, &p))| {
            let start = (w.window_start - lo)
                .checked_shl(64 - start_bits)
                .unwrap_or(0);
            let name = (p.checked_shl(common).unwrap_or(0) >> (128 - name_bits)) as u64;
            start | name << index_bits | i as u64
        })
        .collect();
    keys.sort_unstable();
    // Runs of keys equal but for the index: same start, names equal in the kept bits.
    let mut i = 0;
    while let Some(&k) = keys.get(i) {
        let mut j = i + 1;
        while keys.get(j).is_some_and(|&x| (x ^ k) >> index_bits == 0) {
            j += 1;
        }
        if j - i > 1 {
            if let Some(run) = keys.get_mut(i..j) {
                let mask = (1u64 << index_bits) - 1;
                let eni_of = |k: u64| ws.get((k & mask) as usize).map(|w| w.eni);
                let name = |e: Option<EniId>| e.map_or("", |e| names.name(e));
                run.sort_unstable_by(|&a, &b| {
                    let (ea, eb) = (eni_of(a), eni_of(b));
                    name(ea).cmp(name(eb)).then(ea.cmp(&eb))
                });
            }
        }
        i = j;
    }
    let mask = (1u64 << index_bits) - 1;
    order.extend(keys.iter().map(|&k| (k & mask) as usize));
}

/// The fewest name bits [`closed_order`]'s one-word key must keep to be used.
const MIN_NAME_BITS: u32 = 16;

/// [`closed_order`] on 32-byte keys: (start, the name's first 16 bytes as two words, index),
/// equal prefixes deciding by the names themselves (then the ids).
fn sorted_by_wide_keys(
    ws: &[WindowFeatures],
    prefixes: &[u128],
    names: &Interner,
    order: &mut Vec<usize>,
) {
    let mut keys: Vec<(u64, u64, u64, usize)> = ws
        .iter()
        .zip(prefixes)
        .enumerate()
        .map(|(i, (w, &p))| (w.window_start, (p >> 64) as u64, p as u64, i))
        .collect();
    // (window start, ENI id) is unique, so an unstable sort gives the one order. The names'
    // first 16 bytes, as one integer, decide nearly every tie on the start without a string
    // comparison; only equal prefixes compare the names themselves (then the ids).
    let eni_of = |k: &(u64, u64, u64, usize)| ws.get(k.3).map(|w| w.eni);
    keys.sort_unstable_by(|a, b| {
        (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)).then_with(|| {
            let (ea, eb) = (eni_of(a), eni_of(b));
            let name = |e: Option<EniId>| e.map_or("", |e| names.name(e));
            name(ea).cmp(name(eb)).then(ea.cmp(&eb))
        })
    });
    order.extend(keys.iter().map(|k| k.3));
}

/// The first 16 bytes of `name` as a big-endian integer, zero-padded: names whose prefixes
/// differ compare as their prefixes do (a name that ends inside the 16 bytes pads with zeros,
/// below any byte the longer name has there, or equal to a zero byte: then the prefixes tie
/// and the names decide).
#[inline]
fn name_prefix(name: &str) -> u128 {
    let b = name.as_bytes();
    if let Some(head) = b.first_chunk::<16>() {
        return u128::from_be_bytes(*head);
    }
    let mut buf = [0u8; 16];
    let n = b.len().min(16);
    if let (Some(dst), Some(src)) = (buf.get_mut(..n), b.get(..n)) {
        dst.copy_from_slice(src);
    }
    u128::from_be_bytes(buf)
}

/// Reorders `ws` so that position `i` holds the element that was at `from[i]` (`from` is a
/// permutation of `0..ws.len()`; it is left as the identity). Each cycle of the permutation
/// costs one swap per element but one.
fn apply_permutation<T>(ws: &mut [T], from: &mut [usize]) {
    for i in 0..from.len() {
        let mut cur = i;
        while let Some(slot) = from.get_mut(cur) {
            let next = std::mem::replace(slot, cur);
            if next == i || next >= ws.len() {
                break;
            }
            ws.swap(cur, next);
            cur = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlog::FlowDirection;
    use proptest::prelude::*;

    /// An address from a small pool: none, IPv4 (private and public) or IPv6.
    fn addr(i: u8) -> Option<IpAddr> {
        match i % 8 {
            0 => None,
            1..=4 => Some(IpAddr::from(std::net::Ipv4Addr::from(
                [0x0a00_0000u32, 0x0808_0800][usize::from(i % 2)] + u32::from(i / 8),
            ))),
            5 | 6 => Some(IpAddr::from(std::net::Ipv4Addr::from(
                0x0a00_0000 + u32::from(i / 8),
            ))),
            _ => Some(IpAddr::from(std::net::Ipv6Addr::from(
                u128::from(i / 8) + 1,
            ))),
        }
    }

    /// `ws` in the one output order (window start, ENI name, id) by a plain sort: the reference
    /// for [`sort_closed`].
    fn plain_sorted(ws: &[WindowFeatures], names: &Interner) -> Vec<WindowFeatures> {
        let mut want = ws.to_vec();
        want.sort_by(|a, b| {
            a.window_start
                .cmp(&b.window_start)
                .then_with(|| names.name(a.eni).cmp(names.name(b.eni)))
                .then(a.eni.cmp(&b.eni))
        });
        want
    }

    proptest! {
        /// The inline fast path of `resolve_direction` against the plain path: the same
        /// result and the same history after every record, whatever the record (with or
        /// without flow-direction, packet addresses, IPv6) and the learner state.
        #[test]
        fn resolve_direction_equals_plain(
            stream in proptest::collection::vec(
                (0u8..3, 0u8..40, 0u8..40, 0u8..48, 0u8..48),
                0..300,
            ),
        ) {
            let mut fast = EniHistory::default();
            let mut plain = EniHistory::default();
            for (dir, s, d, ps, pd) in stream {
                let mut obs = Observation::EMPTY;
                obs.direction = match dir {
                    0 => None,
                    1 => Some(FlowDirection::Egress),
                    _ => Some(FlowDirection::Ingress),
                };
                obs.src = addr(s);
                obs.dst = addr(d);
                // Packet addresses mostly absent (the fast path's case).
                obs.pkt_src = if ps < 40 { None } else { addr(ps) };
                obs.pkt_dst = if pd < 40 { None } else { addr(pd) };
                let got = resolve_direction(&obs, &mut fast);
                let want = resolve_direction_plain(&obs, &mut plain);
                prop_assert_eq!(got, want);
                prop_assert_eq!(&fast, &plain);
            }
        }

        /// `sort_closed` (key sort, then the permutation applied by cycles) against sorting
        /// the windows themselves by the same order. Names are interned out of order and
        /// window starts repeat, so both the name and the start decide.
        #[test]
        fn sort_closed_equals_plain_sort(
            names_in in proptest::collection::vec(0u8..20, 1..20),
            picks in proptest::collection::vec((0usize..20, 0u64..6, 0u8..255), 0..120),
        ) {
            let mut names = Interner::new();
            let ids: Vec<EniId> = names_in
                .iter()
                .map(|n| names.intern(format!("eni-{:02}", 19 - n).as_bytes()))
                .collect();
            let mut seen = std::collections::HashSet::new();
            let mut ws: Vec<WindowFeatures> = Vec::new();
            for (e, start, tag) in picks {
                let eni = ids[e % ids.len()];
                // (start, ENI) is unique among closed windows.
                if !seen.insert((start, eni)) {
                    continue;
                }
                let mut values = [0.0; crate::features::NUM_FEATURES];
                values[0] = f64::from(tag);
                ws.push(WindowFeatures {
                    eni,
                    window_start: start * 300,
                    values,
                    evidence: Default::default(),
                });
            }
            let want = plain_sorted(&ws, &names);
            sort_closed(&mut ws, &names);
            prop_assert_eq!(ws, want);
        }

        /// `sort_closed` against the plain sort when names share long prefixes, end inside
        /// the 16-byte prefix, are prefixes of one another or hold zero bytes (the prefix key
        /// ties or differs; the order must be the names' either way).
        #[test]
        fn sort_closed_prefix_key_equals_plain_sort(
            names_in in proptest::collection::vec(
                (0usize..3, proptest::collection::vec(0u8..3, 0..6)),
                1..12,
            ),
            picks in proptest::collection::vec((0usize..12, 0u64..3), 0..80),
        ) {
            let mut names = Interner::new();
            let mut ids: Vec<EniId> = Vec::new();
            for (pre, tail) in &names_in {
                let head = ["", "eni-0123456789a", "eni-0123456789abcdef"][*pre];
                let tail: String = tail.iter().map(|&c| ['\0', 'a', 'b'][usize::from(c)]).collect();
                ids.push(names.intern(format!("{head}{tail}").as_bytes()));
            }
            let mut seen = std::collections::HashSet::new();
            let mut ws: Vec<WindowFeatures> = Vec::new();
            for (e, start) in picks {
                let eni = ids[e % ids.len()];
                if !seen.insert((start, eni)) {
                    continue;
                }
                ws.push(WindowFeatures {
                    eni,
                    window_start: start * 300,
                    values: [0.0; crate::features::NUM_FEATURES],
                    evidence: Default::default(),
                });
            }
            let want = plain_sorted(&ws, &names);
            sort_closed(&mut ws, &names);
            prop_assert_eq!(ws, want);
        }

        /// `apply_permutation` puts `from[i]`'s element at `i` for any permutation.
        #[test]
        fn apply_permutation_any(perm in Just((0usize..64).collect::<Vec<_>>()).prop_shuffle(), n in 0usize..64) {
            let from: Vec<usize> = perm.into_iter().filter(|&i| i < n).collect();
            let orig: Vec<usize> = (0..n).map(|i| i * 7 + 1).collect();
            let mut got = orig.clone();
            let mut f = from.clone();
            apply_permutation(&mut got, &mut f);
            let want: Vec<usize> = from.iter().map(|&i| orig[i]).collect();
            prop_assert_eq!(got, want);
            prop_assert!(f.iter().enumerate().all(|(i, &x)| i == x));
        }
    }
}
