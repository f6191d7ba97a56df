//! Sharded extraction: one reader thread routes records by ENI to shards, each running a
//! [`Windower`] and handing closed windows to its own [`WindowSink`].
//!
//! The reader thread computes the global watermark at read time and sends it along with each
//! record, so every shard sees the same watermark sequence as a sequential run and follows the
//! same driving protocol (see the module docs of [`crate::window`]): each ENI's state evolves
//! exactly as in one thread, hence the same windows. Records are routed by [`shard_of`] the ENI
//! *name*, so a shard owns the same ENIs whatever the interner's ids.
//!
//! Shards run as long-lived tasks on a rayon pool of exactly `shards` threads, entered with
//! `in_place_scope` so that the reading loop stays on the calling thread: a shard blocks on its
//! channel, and in a pool smaller than the shard count (or with the reader inside the pool) that
//! would deadlock. The result does not depend on the thread count.
//!
//! Batch commands use [`super::run_threads`] instead ([`super::run_pipelined`] on two threads,
//! [`super::run_parallel`] with parsing on the shards' threads on more; the same output);
//! [`run_sharded`] remains the one-thread path, the path of a late-record side
//! file, and the [`ShardDriver`] here is what every path, the stream included, drives. Its
//! one-thread loop has the reader's fast route parse default-v2 lines straight into its
//! block's slots where the source can do it ([`RecordSource::fast_into`]; a late line is
//! parsed again into a record for `on_late`), else takes records in batches
//! ([`RecordSource::fast_records`]: sources wrapping a reader), else one at a time.

use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::Slot;
use super::{
    shard_of, sort_closed, Push, Watermark, WindowConfig, WindowError, WindowStats, Windower,
};
use crate::features::{ObsView, Observation, WindowFeatures};
use crate::flowlog::{
    EniId, FastLine, FastRun, FastSink, FlowRecord, FlowlogError, Interner, LogReader,
};

/// Records a shard hands to [`ShardDriver::feed_block`] at a time: enough that each ENI of a
/// busy log has a run of records in a block (500 ENIs: ~30 each), small enough that the block
/// (≈ 140 bytes a record) stays near the core's L2 cache while it is grouped (16,384 measured
/// faster than 8,192 and 65,536 on the peer benchmark).
pub(super) const BLOCK: usize = 16_384;
/// How many records ahead [`ShardDriver::feed_block`] prefetches a record's peer and port slots
/// (4 and 16 measured no better).
const PREFETCH_AHEAD: usize = 8;
/// How many records ahead [`ShardDriver::feed_block`] prefetches a record itself (it must be
/// in cache when its slots are prefetched, `PREFETCH_AHEAD` records ahead; 24 measured 5 %
/// slower).
const RECORD_AHEAD: usize = 16;
/// Slots of `Grouping::order` past a block's records, each [`NO_RECORD`]: the window loop
/// reads the indexes of a record and of the two it prefetches as one fixed-size window of
/// `order` (one bounds check instead of three).
const ORDER_PAD: usize = RECORD_AHEAD;
/// The index in the padding of `Grouping::order`: no record (`items.get` finds none).
const NO_RECORD: u32 = u32::MAX;
/// Messages in flight per shard. Batches are `BLOCK * shards` records in all (so `BLOCK` per
/// shard on average); with the one pending and the one being processed, at most `DEPTH + 2`
/// batches per shard exist at once (emptied ones are recycled), each holding at most
/// `BLOCK * shards` records.
const DEPTH: usize = 2;

/// Where records come from: [`LogReader`], or anything that fills a reused record.
pub trait RecordSource {
    /// The source's error.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Fills `rec` with the next record; `Ok(false)` at end of input.
    fn next_record(&mut self, rec: &mut FlowRecord) -> Result<bool, Self::Error>;
    /// The interner that gave the records' ENI ids.
    fn interner(&self) -> &Interner;
    /// Reads records in a batch where the source can do it cheaper than one
    /// [`RecordSource::next_record`] at a time, handing each to `each` with the interner, until
    /// `each` returns `Ok(false)` (then it returns `Ok(true)`) or an error (returned). It may
    /// stop any time before (returning `Ok(false)`), and the caller then goes on with
    /// `next_record`: the records of both, in order, are the source's records. The default
    /// hands none; [`LogReader::fast_records`] is the reader's.
    fn fast_records<E>(
        &mut self,
        rec: &mut FlowRecord,
        each: impl FnMut(&FlowRecord, &Interner) -> Result<bool, E>,
    ) -> Result<bool, E> {
        let _ = (rec, each);
        Ok(false)
    }
    /// [`RecordSource::fast_records`] with each record parsed straight into the sink's
    /// targets (see [`LogReader::fast_into`]), under the same contract: it may stop any time
    /// (`Ok(false)`) and the caller goes on with `fast_records` and `next_record`. The
    /// default hands none.
    fn fast_into<K: FastSink>(&mut self, sink: &mut K) -> Result<bool, K::Error> {
        let _ = sink;
        Ok(false)
    }
    /// Whether the fast routes may take the coming records (a hint: reading loops go on with
    /// `next_record` alone while it is false; either answer is safe). The default: no.
    fn fast_possible(&self) -> bool {
        false
    }
}

impl RecordSource for LogReader {
    type Error = FlowlogError;
    fn next_record(&mut self, rec: &mut FlowRecord) -> Result<bool, FlowlogError> {
        LogReader::next_record(self, rec)
    }
    fn interner(&self) -> &Interner {
        LogReader::interner(self)
    }
    fn fast_records<E>(
        &mut self,
        rec: &mut FlowRecord,
        each: impl FnMut(&FlowRecord, &Interner) -> Result<bool, E>,
    ) -> Result<bool, E> {
        LogReader::fast_records(self, rec, each)
    }
    #[inline(always)]
    fn fast_into<K: FastSink>(&mut self, sink: &mut K) -> Result<bool, K::Error> {
        LogReader::fast_into(self, sink)
    }
    fn fast_possible(&self) -> bool {
        LogReader::fast_possible(self)
    }
}

/// Receives one shard's closed windows, in (window start, ENI name) order within the shard.
/// The engine plugs its scorer in here; a scorer's per-ENI state lives in the sink of the shard
/// that owns the ENI.
pub trait WindowSink: Send {
    /// What the sink produces at the end.
    type Output: Send;
    /// One closed window.
    fn accept(&mut self, w: WindowFeatures);
    /// One closed window, with the interner that names its ENI (the shard's copy); what
    /// [`run_sharded`] calls. Override it when the sink needs names (the default drops them).
    fn accept_named(&mut self, w: WindowFeatures, names: &Interner) {
        let _ = names;
        self.accept(w);
    }
    /// End of input.
    fn finish(self) -> Self::Output;
    /// Every window whose end is at most `watermark` was handed over: windows still to come
    /// end after it (so start after `watermark - window width`). Called after each block of
    /// records; a sink merging several shards' output in order may write what every shard is
    /// past. The default does nothing.
    fn progress(&mut self, watermark: u64) {
        let _ = watermark;
    }
    /// Called once when the shard starts, before any record: a sink may preload the shard's
    /// windower (the engine sets the feature histories a model carries from training).
    fn init(&mut self, windower: &mut Windower) {
        let _ = windower;
    }
    /// End of input, with the shard's windower (for its per-ENI histories) and names; what
    /// [`run_sharded`] calls. The default is [`WindowSink::finish`].
    fn finish_with(self, windower: &Windower, names: &Interner) -> Self::Output
    where
        Self: Sized,
    {
        let _ = (windower, names);
        self.finish()
    }
}

/// A sink that keeps every window (tests, `flowvigil features`).
impl WindowSink for Vec<WindowFeatures> {
    type Output = Vec<WindowFeatures>;
    fn accept(&mut self, w: WindowFeatures) {
        self.push(w);
    }
    fn finish(self) -> Self::Output {
        self
    }
}

/// Counters of a run, summed over shards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    /// Window-stage counters.
    pub window: WindowStats,
    /// Late records per ENI name, sorted by name.
    pub late_by_eni: Vec<(String, u64)>,
    /// The final watermark.
    pub watermark: u64,
    /// Shards used.
    pub shards: usize,
    /// ENIs with state at the end.
    pub enis: u64,
    /// Heap bytes of all ENIs' history at the end ([`crate::features::EniHistory::heap_bytes`]).
    pub history_bytes: u64,
    /// The largest one ENI's history holds.
    pub history_bytes_max: u64,
}

/// What one shard hands back at the end, besides its sink's output.
pub(super) struct ShardEnd {
    pub(super) stats: WindowStats,
    late: Vec<(EniId, u64)>,
    enis: u64,
    history_bytes: u64,
    history_bytes_max: u64,
}

/// What [`run_sharded`] returns: each shard's sink output (index = shard) and the counters.
pub type ShardedOutput<O> = (Vec<O>, RunStats);

/// Errors of [`run_sharded`].
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: std::error::Error + 'static> {
    /// Reading the input failed.
    #[error("reading flow logs")]
    Read(#[source] E),
    /// The late-record callback failed (e.g. writing the side file).
    #[error("writing late records")]
    Late(#[source] std::io::Error),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] WindowError),
    /// The shard thread pool could not be started.
    #[error("starting the shard threads: {0}")]
    Pool(String),
}

/// One shard's driver: its [`Windower`], its sink, and the driving protocol of
/// [`crate::window`]. [`run_sharded`] runs one per shard; the streaming engine runs one alone,
/// which is what makes a stream and a backtest produce the same windows.
pub struct ShardDriver<S: WindowSink> {
    windower: Windower,
    sink: S,
    last_wm: u64,
    buf: Vec<WindowFeatures>,
    group: Grouping,
}

/// Scratch space of [`ShardDriver::feed_block`]: a counting sort of a block's records by ENI.
#[derive(Default)]
pub(super) struct Grouping {
    /// Per ENI id: records in the block, then the end of its run in `order` (zero between
    /// blocks).
    count: Vec<u32>,
    /// ENIs of the block, in order of first appearance.
    touched: Vec<EniId>,
    /// The block's ENI ids, in input order (so the second pass does not read the records).
    enis: Vec<EniId>,
    /// Indexes of the block's records, grouped by ENI, input order within each ENI (records
    /// are read in place, fetched a few records ahead), then [`ORDER_PAD`] slots of
    /// [`NO_RECORD`].
    order: Vec<u32>,
}

impl Grouping {
    /// Counts one record of `eni`, the block's next one.
    #[inline]
    pub(super) fn count(&mut self, eni: EniId) {
        self.enis.push(eni);
        self.tally(eni);
    }

    /// Adds one record of `eni` to its count (noting `eni` as touched on its first).
    #[inline(always)]
    fn tally(&mut self, eni: EniId) {
        let e = eni as usize;
        if self.count.len() <= e {
            self.count.resize(e + 1, 0);
        }
        if let Some(c) = self.count.get_mut(e) {
            if *c == 0 {
                self.touched.push(eni);
            }
            *c += 1;
        }
    }

    /// Turns each touched ENI's count into the start of its run in `order` plus `bias` (runs
    /// in order of first appearance).
    #[inline(always)]
    fn run_starts(&mut self, bias: u32) {
        let mut at = 0u32;
        for &e in &self.touched {
            if let Some(c) = self.count.get_mut(e as usize) {
                let n = *c;
                *c = at + bias;
                at += n;
            }
        }
    }

    /// Takes the counts of a block holding other shards' records too (see
    /// [`ShardDriver::feed_shared`]): `runs` lists the shard's ENIs in order of first
    /// appearance, each with its record count, as the reader tallied them while it routed the
    /// records; each count becomes the start of its ENI's run in `order`. False (nothing
    /// taken, the grouping left reset) when the counts do not add up to `records` or an ENI
    /// is listed twice (a bug: the caller counts afresh rather than misgroup).
    #[inline]
    pub(super) fn take_runs(&mut self, runs: &[(EniId, u32)], records: usize) -> bool {
        self.reset();
        let mut at = 0u32;
        for &(e, n) in runs {
            let i = e as usize;
            if self.count.len() <= i {
                self.count.resize(i + 1, 0);
            }
            // A zero count stays zero in `count`, so an ENI listed twice (or with no
            // records) is caught below rather than given two runs.
            let Some(c) = self.count.get_mut(i) else {
                continue;
            };
            if *c != 0 || n == 0 {
                self.reset();
                return false;
            }
            self.touched.push(e);
            at = at.saturating_add(n);
            // One past the start, so a taken ENI reads non-zero; `order_places` subtracts
            // the one back.
            *c = at - n + 1;
        }
        if at as usize != records {
            self.reset();
            return false;
        }
        true
    }

    /// Counts the records of a block holding other shards' records too, one at a time
    /// (the plain path [`Self::take_runs`] replaces; kept for the property test and as the
    /// fallback): `places` are the shard's records, as (place in the block, ENI), in input
    /// order. Leaves the counts as [`Self::take_runs`] does.
    pub(super) fn count_places(&mut self, places: &[(u32, EniId)]) {
        self.reset();
        for &(_, eni) in places {
            self.tally(eni);
        }
        self.run_starts(1);
    }

    /// Writes `order` from run starts left by [`Self::take_runs`] or [`Self::count_places`]
    /// (each one past its start): each record's place, grouped by ENI, then the padding; each
    /// count ends as the end of its run, as [`ShardDriver::apply_runs`] reads it.
    #[inline]
    fn order_places(&mut self, places: &[(u32, EniId)]) {
        for &e in &self.touched {
            if let Some(c) = self.count.get_mut(e as usize) {
                *c -= 1;
            }
        }
        let n = places.len();
        // Every slot below `n` is written (the runs tile `0..n`) and the padding after it
        // too, so the buffer is only grown, never zeroed (that was an 8 KiB memset a batch);
        // its last `ORDER_PAD` slots are always `NO_RECORD`, whatever lies between.
        if self.order.len() < n + ORDER_PAD {
            self.order.resize(n + ORDER_PAD, NO_RECORD);
        }
        if let Some(pad) = self.order.get_mut(n..n + ORDER_PAD) {
            pad.fill(NO_RECORD);
        }
        for &(i, e) in places {
            if let Some(c) = self.count.get_mut(e as usize) {
                if let Some(slot) = self.order.get_mut(*c as usize) {
                    *slot = i;
                }
                *c += 1;
            }
        }
    }

    /// Forgets the counts (all zero again).
    pub(super) fn reset(&mut self) {
        for &e in &self.touched {
            if let Some(c) = self.count.get_mut(e as usize) {
                *c = 0;
            }
        }
        self.touched.clear();
        self.enis.clear();
    }
}

/// How a block's records map to the reader's values (see [`ShardDriver::feed_grouped`]):
/// ENI ids through `ids` (a parallel parser's id → the reader's; empty: the same), and a
/// record's watermark as `max(base_end, value) - lateness` (a chunk's highest `end` before the
/// record → the global watermark; with zeros, the value itself).
#[derive(Clone, Copy, Debug)]
pub(super) struct Xlate<'a> {
    /// The reader's id of each parser id (empty: ids are the reader's already).
    pub ids: &'a [EniId],
    /// The highest `end` before the block.
    pub base_end: u64,
    /// The allowed lateness, seconds.
    pub lateness: u64,
}

impl Xlate<'_> {
    /// Records that carry the reader's ids and watermarks already.
    pub const IDENTITY: Xlate<'static> = Xlate {
        ids: &[],
        base_end: 0,
        lateness: 0,
    };

    /// The reader's id of `eni`.
    #[inline]
    pub fn eni(&self, eni: EniId) -> EniId {
        if self.ids.is_empty() {
            eni
        } else {
            self.ids.get(eni as usize).copied().unwrap_or(eni)
        }
    }

    /// The global watermark of a record that carries `value`.
    #[inline]
    pub fn watermark(&self, value: u64) -> u64 {
        self.base_end.max(value).saturating_sub(self.lateness)
    }
}

impl<S: WindowSink> ShardDriver<S> {
    /// A driver with a fresh windower (the sink's [`WindowSink::init`] runs on it).
    pub fn new(cfg: &WindowConfig, sink: S) -> Self {
        Self::with_windower(Windower::new(cfg.clone()), sink, 0)
    }

    /// A driver resuming `windower` (e.g. from a checkpoint) whose windows were last closed at
    /// watermark `last_watermark`.
    pub fn with_windower(mut windower: Windower, mut sink: S, last_watermark: u64) -> Self {
        sink.init(&mut windower);
        Self {
            windower,
            sink,
            last_wm: last_watermark,
            buf: Vec::new(),
            group: Grouping::default(),
        }
    }

    /// Closes the windows the watermark `wm` passed (if it grew) and hands them to the sink.
    pub fn advance(&mut self, wm: u64, names: &Interner) {
        if wm > self.last_wm {
            self.last_wm = wm;
            self.windower.close_until(wm, names, &mut self.buf);
            for w in self.buf.drain(..) {
                self.sink.accept_named(w, names);
            }
            self.sink.progress(wm);
        }
    }

    /// One record (as an observation) read when the global watermark was `wm`.
    pub fn feed(&mut self, obs: &Observation, wm: u64, names: &Interner) -> Push {
        self.advance(wm, names);
        self.windower.push_obs(obs, wm)
    }

    /// A block of records in input order, each with the global watermark at its read time,
    /// then the watermark after the block (at least the last record's). The same windows reach
    /// the sink, in the same order, as from [`Self::feed`] on each record and then
    /// [`Self::advance`]`(wm_after)` (property-tested), only faster: each ENI's records of the
    /// block are applied together, so its open windows stay in cache instead of being evicted
    /// by the hundreds of other ENIs' windows between two of its records in a time-ordered
    /// log.
    ///
    /// Why the result is the same: a window reads and writes only its own ENI's state, so an
    /// ENI's state depends only on the order of its own records and of its own windows'
    /// closes. Before each record of an ENI, its windows that the record's watermark passed are
    /// closed ([`Windower::close_eni_until`]), exactly those a sequential run would have closed
    /// by then; at the end every window `wm_after` passed is closed, and the block's closed
    /// windows are sorted into the one output order (window start, ENI name), which is the
    /// order a sequential run emits them in. Late records (see [`WindowConfig::is_late`]) are
    /// counted here as in [`Self::feed`]; the caller decides their side file at read time.
    ///
    /// Per ENI run the state is found once (`Windower::begin_run`), and the run keeps a lower
    /// bound of the end of the ENI's oldest open window: the closing step is skipped while a
    /// record's watermark is below it, exactly when it would close nothing (so no close call
    /// per record; the bound drops to a record's window end when that record may open one).
    pub fn feed_block(&mut self, items: &[Slot], wm_after: u64, names: &Interner) {
        self.group.reset();
        for it in items {
            self.group.count(it.eni());
        }
        self.feed_counted(items, wm_after, names);
    }

    /// [`Self::feed_block`] for a block whose ENIs were counted already, in order, with
    /// [`Grouping::count`] (the one-thread reading loop counts each record as it reads it, so
    /// the block is not read once more just for its ENIs).
    pub(super) fn feed_counted(&mut self, items: &[Slot], wm_after: u64, names: &Interner) {
        let mut g = std::mem::take(&mut self.group);
        self.feed_grouped(items, &mut g, Xlate::IDENTITY, wm_after, names);
        self.group = g;
    }

    /// [`Self::feed_counted`] for records whose ENI ids and watermarks are another numbering's
    /// (a parallel parser's ids and its chunk's highest `end`), counted by those ids in `g`
    /// (by the parser, while it wrote the records): `x` turns them into the reader's values as
    /// each record is applied, so nobody reads and rewrites the block once more just for that.
    /// `g` is left reset (every count zero).
    pub(super) fn feed_grouped(
        &mut self,
        items: &[Slot],
        g: &mut Grouping,
        x: Xlate<'_>,
        wm_after: u64,
        names: &Interner,
    ) {
        if g.enis.len() != items.len() {
            // Not counted as promised (a bug): count afresh rather than misgroup.
            g.reset();
            for it in items {
                g.count(it.eni());
            }
        }
        g.run_starts(0);
        // Every slot of `order` is written below (the counts' runs tile `0..items.len()`), so
        // a buffer of the right length is reused as it is: zeroing it was a 64 KiB memset a
        // block.
        if g.order.len() != items.len() + ORDER_PAD {
            g.order.clear();
            g.order.resize(items.len(), 0);
            g.order.resize(items.len() + ORDER_PAD, NO_RECORD);
        }
        for (i, &e) in g.enis.iter().enumerate() {
            if let Some(c) = g.count.get_mut(e as usize) {
                if let Some(slot) = g.order.get_mut(*c as usize) {
                    *slot = i as u32;
                }
                *c += 1;
            }
        }
        self.apply_runs(items, g, x, wm_after, names);
    }

    /// [`Self::feed_counted`] for a block that holds other shards' records too (the two-thread
    /// pipeline's): the shard's records are `places`, as (place in `items`, ENI), in input
    /// order, and are read where they lie; `runs` are their ENIs in order of first appearance,
    /// each with its record count (the reader tallies them as it routes each record, so this
    /// thread does not read the list once more to count it; counted afresh if they do not
    /// add up). The same windows as [`Self::feed_block`] over those records (property-tested).
    pub(super) fn feed_shared(
        &mut self,
        items: &[Slot],
        places: &[(u32, EniId)],
        runs: &[(EniId, u32)],
        wm_after: u64,
        names: &Interner,
    ) {
        let mut g = std::mem::take(&mut self.group);
        if !g.take_runs(runs, places.len()) {
            debug_assert!(false, "the reader's counts add up to its places");
            g.count_places(places);
        }
        g.order_places(places);
        self.apply_runs(items, &mut g, Xlate::IDENTITY, wm_after, names);
        self.group = g;
    }

    /// [`Self::feed_shared`] counting `places` itself (the plain path, for the property test
    /// of the reader's counts).
    #[cfg(test)]
    pub(super) fn feed_shared_counting(
        &mut self,
        items: &[Slot],
        places: &[(u32, EniId)],
        wm_after: u64,
        names: &Interner,
    ) {
        let mut g = std::mem::take(&mut self.group);
        g.count_places(places);
        g.order_places(places);
        self.apply_runs(items, &mut g, Xlate::IDENTITY, wm_after, names);
        self.group = g;
    }

    /// Applies each ENI's run of records as `g.order` lists them (see [`Self::feed_grouped`]),
    /// then closes what `wm_after` passed and hands the closed windows to the sink. Out of
    /// line: measured, it keeps the one-thread loop's code nearly as it was (inlined into both
    /// callers, or generic over the id translation, the loop took 1.5-2 % more instructions).
    #[inline(never)]
    fn apply_runs(
        &mut self,
        items: &[Slot],
        g: &mut Grouping,
        x: Xlate<'_>,
        wm_after: u64,
        names: &Interner,
    ) {
        let mut start = 0usize;
        for (k, &e) in g.touched.iter().enumerate() {
            // The next ENIs' state, open list and accumulators: a chain of dependent misses,
            // fetched one link per run so that each link's address is in cache when needed.
            // Step 3 prefetches what closing a window reads, for windows the block's last
            // watermark passes (nearly all of them close during their ENI's run).
            for step in 0..4u8 {
                if let Some(&next) = g.touched.get(k + 4 - usize::from(step)) {
                    self.windower.prefetch_eni(x.eni(next), step, wm_after);
                }
            }
            let Some(c) = g.count.get_mut(e as usize) else {
                continue;
            };
            let end = *c as usize;
            *c = 0;
            let eni = x.eni(e);
            let mut run = self.windower.begin_run(eni);
            for j in start..end {
                // Records are read in place, out of input order: fetch the one
                // `RECORD_AHEAD` on, then the peer and port slots of the one
                // `PREFETCH_AHEAD` on (a cache miss per record otherwise), perhaps another
                // ENI's, while applying this one.
                // This record's index and the two prefetched ones' (`order` is padded).
                let Some(w) = g
                    .order
                    .get(j..j + RECORD_AHEAD + 1)
                    .and_then(|w| <&[u32; RECORD_AHEAD + 1]>::try_from(w).ok())
                else {
                    break;
                };
                // A hint: the padding's index prefetches a wild address, which is harmless.
                let p = items
                    .as_ptr()
                    .wrapping_add(w[RECORD_AHEAD] as usize)
                    .cast::<u8>();
                crate::features::peers::prefetch_ptr(p);
                if let Some(ahead) = items.get(w[PREFETCH_AHEAD] as usize) {
                    // Within this run: the run's ENI, whose state is known.
                    let in_run = j + PREFETCH_AHEAD < end;
                    self.windower
                        .prefetch_run(&run, in_run, ahead, || x.eni(ahead.eni()));
                }
                let Some(slot) = items.get(w[0] as usize) else {
                    break;
                };
                let wm = x.watermark(slot.watermark());
                if wm > self.last_wm {
                    self.windower
                        .close_run_until(&mut run, eni, wm, &mut self.buf);
                }
                self.windower.push_run(&mut run, slot, eni, wm);
            }
            start = end;
        }
        g.touched.clear();
        g.enis.clear();
        if wm_after > self.last_wm {
            self.last_wm = wm_after;
            self.windower.close_until(wm_after, names, &mut self.buf);
        }
        sort_closed(&mut self.buf, names);
        for w in self.buf.drain(..) {
            self.sink.accept_named(w, names);
        }
        self.sink.progress(self.last_wm);
    }

    /// End of input: closes every open window and hands it to the sink.
    pub fn finish_windows(&mut self, names: &Interner) {
        self.windower.finish(names, &mut self.buf);
        for w in self.buf.drain(..) {
            self.sink.accept_named(w, names);
        }
    }

    /// The last watermark windows were closed at.
    pub fn last_watermark(&self) -> u64 {
        self.last_wm
    }

    /// The windower.
    pub fn windower(&self) -> &Windower {
        &self.windower
    }

    /// The windower, mutably (records that cannot become observations are counted there).
    pub fn windower_mut(&mut self) -> &mut Windower {
        &mut self.windower
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink, mutably.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    pub(super) fn end(mut self, names: &Interner) -> (S::Output, ShardEnd) {
        self.finish_windows(names);
        let hist = self.windower.histories();
        let sizes = hist.iter().map(|(_, h)| h.heap_bytes() as u64);
        let end = ShardEnd {
            enis: hist.len() as u64,
            history_bytes: sizes.clone().sum(),
            history_bytes_max: sizes.max().unwrap_or(0),
            late: self.windower.late_counts(),
            stats: self.windower.stats().clone(),
        };
        (self.sink.finish_with(&self.windower, names), end)
    }
}

/// A message to a shard: interner names added since its last message, records with the watermark
/// at their read time, and the watermark after the last of them.
struct Msg {
    new_names: Vec<String>,
    items: Vec<Slot>,
    wm_after: u64,
}

/// The one-thread loop's state while a block fills (see [`run_sharded`]).
struct OneThread<'a, L, E> {
    block: &'a mut [Slot],
    n: &'a mut usize,
    wm: &'a mut Watermark,
    cfg: &'a WindowConfig,
    local: &'a mut Windower,
    group: &'a mut Grouping,
    on_late: &'a mut L,
    /// The record of a line parsed into a slot, when needed (late, or refused by the slot).
    spare: &'a mut FlowRecord,
    error: std::marker::PhantomData<fn() -> E>,
}

impl<L, E> OneThread<'_, L, E>
where
    L: FnMut(&FlowRecord, &Interner) -> std::io::Result<()>,
    E: std::error::Error + 'static,
{
    /// Takes one record: the next one that makes an observation goes into the block's next
    /// slot (counted for grouping, and handed to `on_late` when late); the others go to the
    /// local windower, which counts them. `Ok(true)` while the block has room.
    #[inline(always)]
    fn take(&mut self, rec: &FlowRecord, names: &Interner) -> Result<bool, RunError<E>> {
        let now = self.wm.get();
        if let Some(slot) = self.block.get_mut(*self.n) {
            if slot.fill_from(rec).is_ok() {
                slot.set_watermark(now);
                if self.cfg.is_late(slot.start(), now) {
                    (self.on_late)(rec, names).map_err(RunError::Late)?;
                }
                self.group.count(slot.eni());
                *self.n += 1;
            } else {
                self.local.push(rec, now);
            }
        }
        self.wm.observe(rec);
        Ok(*self.n < self.block.len())
    }
}

/// The reader's fast route writes straight into the block's next slot; what `take` does with
/// a record follows (the same steps, the same values).
impl<L, E> FastSink for OneThread<'_, L, E>
where
    L: FnMut(&FlowRecord, &Interner) -> std::io::Result<()>,
    E: std::error::Error + 'static,
{
    type Target = Slot;
    type Error = RunError<E>;
    #[inline(always)]
    fn target(&mut self) -> Option<&mut Slot> {
        self.block.get_mut(*self.n)
    }
    // Lines come in runs parsed into the free slots at once (`fast_into`).
    const RUNS: bool = true;
    #[inline(always)]
    fn targets(&mut self) -> &mut [Slot] {
        self.block.get_mut(*self.n..).unwrap_or_default()
    }
    #[inline(always)]
    fn parsed(&mut self, mut line: FastLine<'_>) -> Result<bool, RunError<E>> {
        let now = self.wm.get();
        let n = *self.n;
        let Some(slot) = self.block.get_mut(n) else {
            return Ok(false);
        };
        // The watermark takes the record's time at once (nothing below reads it, and an
        // error ends the run), so that time is not kept across the rest.
        self.wm.observe_time(slot.replace_watermark(now));
        if self.cfg.is_late(slot.start(), now) {
            let names = line.record(self.spare);
            (self.on_late)(self.spare, names).map_err(RunError::Late)?;
        }
        self.group.count(slot.eni());
        *self.n = n + 1;
        // A full block stops the run at the next `target`.
        Ok(true)
    }
    /// [`Self::parsed`] for each line of the run, over the run's slots in one loop with the
    /// watermark and the count kept in locals (written back once).
    #[inline(always)]
    fn parsed_run(&mut self, mut run: FastRun<'_>) -> Result<(), RunError<E>> {
        let n = *self.n;
        let k = run.len();
        let mut wm = self.wm.clone();
        let slots = self.block.get_mut(n..).unwrap_or_default();
        let mut done = 0;
        let mut failed = None;
        for slot in slots.iter_mut().take(k) {
            let now = wm.get();
            wm.observe_time(slot.replace_watermark(now));
            if self.cfg.is_late(slot.start(), now) {
                let mut line = run.line(done);
                let names = line.record(self.spare);
                if let Err(e) = (self.on_late)(self.spare, names) {
                    failed = Some(e);
                    break;
                }
            }
            self.group.count(slot.eni());
            done += 1;
        }
        *self.n = n + done;
        *self.wm = wm;
        match failed {
            Some(e) => Err(RunError::Late(e)),
            None => {
                // The run was parsed into these slots, so they were all there.
                debug_assert_eq!(done, k);
                Ok(())
            }
        }
    }
    #[inline(always)]
    fn record(&mut self) -> &mut FlowRecord {
        self.spare
    }
    // Inlined (the rare work is `Windower::push`'s): an out-of-line `refused` took
    // `&mut self`, so this struct's address escaped and the block count and the watermark
    // it points to were reloaded from the stack after every parse call (−15 instructions a
    // line on the one-thread peer benchmark).
    #[inline(always)]
    fn refused(&mut self, _: &Interner) -> Result<bool, RunError<E>> {
        // No interface or no start time: no observation (`take` would find the same).
        debug_assert!(Observation::from_record(self.spare).is_err());
        let now = self.wm.get();
        self.local.push(self.spare, now);
        self.wm.observe(self.spare);
        Ok(*self.n < self.block.len())
    }
}

/// Runs the window stage over `reader` with `shards` shards (1 = on this thread), calling
/// `on_late` (on the reading thread, in input order) for each late record so the caller can
/// write a side file. Returns each shard's sink output (index = shard) and the run's counters.
///
/// Records without an ENI or without `start` are counted (never dropped silently) but cannot be
/// routed by name; they are counted on the reading thread.
pub fn run_sharded<R, S>(
    reader: &mut R,
    cfg: &WindowConfig,
    shards: usize,
    make_sink: impl Fn(usize) -> S,
    mut on_late: impl FnMut(&FlowRecord, &Interner) -> std::io::Result<()>,
) -> Result<ShardedOutput<S::Output>, RunError<R::Error>>
where
    R: RecordSource,
    S: WindowSink,
{
    cfg.validate()?;
    let shards = shards.max(1);
    let mut wm = Watermark::new(cfg.allowed_lateness_secs);
    let mut rec = FlowRecord::default();
    let mut local = Windower::new(cfg.clone());
    if shards == 1 {
        let mut worker = ShardDriver::new(cfg, make_sink(0));
        // A block of `BLOCK` slots, each observation written in place, filled in order and
        // applied when full or at the end of the input. Default-v2 lines are parsed straight
        // into the slots where the source can do it (`fast_into`), else records come in
        // batches from its fast route (`fast_records`), else one at a time (`next_record`,
        // which takes the lines both decline); each record goes through `take`.
        let mut block: Vec<Slot> = vec![Slot::EMPTY; BLOCK];
        let mut spare = FlowRecord::default();
        loop {
            let mut n = 0usize;
            let mut ended = false;
            loop {
                let mut st = OneThread {
                    block: &mut block,
                    n: &mut n,
                    wm: &mut wm,
                    cfg,
                    local: &mut local,
                    group: &mut worker.group,
                    on_late: &mut on_late,
                    spare: &mut spare,
                    error: std::marker::PhantomData,
                };
                if reader.fast_into(&mut st)? {
                    break;
                }
                if reader.fast_records(&mut rec, |rec, names| st.take(rec, names))? {
                    break;
                }
                // One record the fast routes declined, then more while they cannot take any
                // (a custom-format input: no attempt before each record).
                let mut full = false;
                loop {
                    if !reader.next_record(&mut rec).map_err(RunError::Read)? {
                        ended = true;
                        break;
                    }
                    if !st.take(&rec, reader.interner())? {
                        full = true;
                        break;
                    }
                    if reader.fast_possible() {
                        break;
                    }
                }
                if ended || full {
                    break;
                }
            }
            worker.feed_counted(block.get(..n).unwrap_or(&[]), wm.get(), reader.interner());
            if ended {
                break;
            }
        }
        let (output, mut end) = worker.end(reader.interner());
        end.stats.add(local.stats());
        let stats = finish_stats(vec![end], reader.interner(), wm.get(), 1);
        return Ok((vec![output], stats));
    }

    // A pool of exactly `shards` threads, one long-lived task each; the reading loop runs on
    // the calling thread (`in_place_scope`), outside the pool, so a shard blocking on its channel
    // can never starve the reader.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(shards)
        .thread_name(|i| format!("flowvigil-shard-{i}"))
        .build()
        .map_err(|e| RunError::Pool(e.to_string()))?;
    type Out<O> = Mutex<Option<(O, ShardEnd)>>;
    let slots: Vec<Out<S::Output>> = (0..shards).map(|_| Mutex::new(None)).collect();
    let caught = Mutex::new(None);
    let outcome = pool.in_place_scope(|scope| {
        let mut txs: Vec<SyncSender<Msg>> = Vec::with_capacity(shards);
        // Shards hand their emptied batches back, so batches are reused instead of allocated
        // (and page-faulted in) afresh: at most `shards * (DEPTH + 2)` are ever in circulation.
        let (recycle_tx, recycle_rx) = channel::<Vec<Slot>>();
        for (i, slot) in slots.iter().enumerate() {
            let recycle = recycle_tx.clone();
            let (tx, rx) = sync_channel::<Msg>(DEPTH);
            txs.push(tx);
            let sink = make_sink(i);
            let cfg = cfg.clone();
            let caught = &caught;
            scope.spawn(move |_| {
                // A panic is a bug, not bad input: keep it to re-raise once every shard is done.
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    shard_loop(rx, &cfg, sink, &recycle)
                })) {
                    Ok(done) => {
                        if let Ok(mut s) = slot.lock() {
                            *s = Some(done);
                        }
                    }
                    Err(p) => {
                        if let Ok(mut c) = caught.lock() {
                            *c = Some(p);
                        }
                    }
                }
            });
        }
        let mut pending: Vec<Vec<Slot>> = (0..shards).map(|_| Vec::new()).collect();
        let mut names_sent = 0usize;
        // The shard of each ENI id, computed once per ENI (ids are dense).
        let mut route: Vec<usize> = Vec::new();
        let mut in_batch = 0usize;
        let result = (|| -> Result<(), RunError<R::Error>> {
            while reader.next_record(&mut rec).map_err(RunError::Read)? {
                let now = wm.get();
                match Observation::from_record(&rec) {
                    Ok(obs) => {
                        if cfg.is_late(obs.start, now) {
                            on_late(&rec, reader.interner()).map_err(RunError::Late)?;
                        }
                        let s = route_of(&mut route, reader.interner(), obs.eni, shards);
                        if let Some(p) = pending.get_mut(s) {
                            p.push(Slot::new(&obs, now));
                        }
                        in_batch += 1;
                    }
                    Err(_) => {
                        local.push(&rec, now);
                    }
                }
                wm.observe(&rec);
                if in_batch >= BLOCK * shards {
                    in_batch = 0;
                    if !flush(
                        &txs,
                        &mut pending,
                        &recycle_rx,
                        reader.interner(),
                        &mut names_sent,
                        wm.get(),
                    ) {
                        break;
                    }
                }
            }
            flush(
                &txs,
                &mut pending,
                &recycle_rx,
                reader.interner(),
                &mut names_sent,
                wm.get(),
            );
            Ok(())
        })();
        drop(txs);
        result
    });
    if let Some(p) = caught.into_inner().ok().flatten() {
        // A shard panicked (a bug, not bad input): surface it rather than return partial output.
        std::panic::resume_unwind(p);
    }
    outcome?;
    let mut outs = Vec::with_capacity(shards);
    let mut ends = Vec::with_capacity(shards);
    for slot in slots {
        if let Some((out, end)) = slot.into_inner().ok().flatten() {
            outs.push(out);
            ends.push(end);
        }
    }
    if let Some(first) = ends.first_mut() {
        first.stats.add(local.stats());
    }
    Ok((
        outs,
        finish_stats(ends, reader.interner(), wm.get(), shards),
    ))
}

/// The shard of the ENI `eni` of `names`, through `route`, the shard of each id so far
/// (extended to every name of `names`: computed once per ENI, ids are dense).
#[inline]
pub(super) fn route_of(
    route: &mut Vec<usize>,
    names: &Interner,
    eni: EniId,
    shards: usize,
) -> usize {
    let all = names.names();
    while route.len() < all.len() {
        let name = all.get(route.len()).map_or("?", String::as_str);
        route.push(shard_of(name, shards));
    }
    route.get(eni as usize).copied().unwrap_or(0)
}

/// Sends every shard its pending records and the names it has not seen; false when a shard is
/// gone (it panicked; `join` reports it).
fn flush(
    txs: &[SyncSender<Msg>],
    pending: &mut [Vec<Slot>],
    recycled: &Receiver<Vec<Slot>>,
    names: &Interner,
    names_sent: &mut usize,
    wm_after: u64,
) -> bool {
    let new_names: Vec<String> = names.names().get(*names_sent..).unwrap_or(&[]).to_vec();
    *names_sent = names.len();
    let mut ok = true;
    for (tx, items) in txs.iter().zip(pending.iter_mut()) {
        let fresh = recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BLOCK));
        let msg = Msg {
            new_names: new_names.clone(),
            items: std::mem::replace(items, fresh),
            wm_after,
        };
        ok &= tx.send(msg).is_ok();
    }
    ok
}

fn shard_loop<S: WindowSink>(
    rx: Receiver<Msg>,
    cfg: &WindowConfig,
    sink: S,
    recycle: &Sender<Vec<Slot>>,
) -> (S::Output, ShardEnd) {
    let mut names = Interner::new();
    let mut worker = ShardDriver::new(cfg, sink);
    for msg in rx {
        for n in &msg.new_names {
            names.intern(n.as_bytes());
        }
        worker.feed_block(&msg.items, msg.wm_after, &names);
        let mut items = msg.items;
        items.clear();
        // The reader may be done already; then the batch is simply dropped.
        let _ = recycle.send(items);
    }
    worker.end(&names)
}

pub(super) fn finish_stats(
    ends: Vec<ShardEnd>,
    names: &Interner,
    watermark: u64,
    shards: usize,
) -> RunStats {
    let mut run = RunStats {
        watermark,
        shards,
        ..RunStats::default()
    };
    for e in ends {
        run.window.add(&e.stats);
        run.late_by_eni.extend(
            e.late
                .iter()
                .map(|&(id, n)| (names.name(id).to_string(), n)),
        );
        run.enis += e.enis;
        run.history_bytes += e.history_bytes;
        run.history_bytes_max = run.history_bytes_max.max(e.history_bytes_max);
    }
    run.late_by_eni.sort();
    run
}
