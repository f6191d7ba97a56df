//! Two-thread extraction as a pipeline: the calling thread reads and parses every record, as
//! one thread does, into a block shared by the shards, each shard listing its records' places
//! in it (see below); the shards' window stage runs on a helper thread, and on the reading
//! thread too whenever the helper falls behind. [`run_threads`] uses it for two threads over
//! v2 input ([`plan_threads`]).
//!
//! Why a second design beside [`run_parallel`]: there, every thread parses a share of the
//! input and a third thread cuts it into chunks of lines, which costs the cutting scan, an
//! id translation per parser and records routed between the parsers, ≈ 15 % more CPU than
//! one thread on the peer benchmark. With two cores that overhead is the whole gap to a 2×
//! speed-up. Here nothing is done twice: one reader (its own interner, so the reader's ids,
//! and the late-record side file works), one watermark, and the window stage of each record
//! once. What the pipeline cannot do is parse on more than one core, so on three or more
//! threads, or with a field order the general parser reads (about twice the parse time), the
//! reader would be the bottleneck; [`plan_threads`] keeps [`run_parallel`] there.
//!
//! **Balance without a static split.** Reading is about half of the work and the window stage
//! the other half, but the proportion depends on the data and on the sink (scoring is heavier
//! than writing a CSV). So the ENIs are spread over [`PIPELINE_SHARDS`] shards, more than
//! threads, and a shard is not tied to a thread: after each block of 16,384 records the
//! reader queues one batch per shard; the helper takes the shard with the oldest queued batch
//! and applies all its queued batches, in order; when more than two blocks' records are
//! queued, the reader does the same before it reads on (and when four are queued and every
//! shard with queued batches is held, it waits). A shard is applied by one thread at a
//! time and its batches in input order, so each shard's [`ShardDriver`] sees exactly the
//! records, watermarks and names of [`run_sharded`](super::run_sharded) with the same shard
//! count, hence the same windows (tested against it and against one thread).
//!
//! **A short first block.** The first block is a sixteenth of the others, so the helper has
//! work after ≈ 0.2 ms instead of ≈ 2-4 ms (a whole block read and parsed, its slots paged
//! in), of a ≈ 300 ms two-thread run on the peer benchmark.
//!
//! **The end on both threads.** When the input ends, what is queued is applied, then each
//! shard is ended (its open windows closed, its sink finished) by whichever thread takes it,
//! as batches are taken. Ending the shards one after the other on the reading thread left the
//! helper idle for the last ≈ 8 ms of the peer benchmark's ≈ 360 ms two-thread run (≈ 3 % of
//! the run's instructions, the last allowed lateness of every ENI).
//!
//! **Blocks, not per-shard copies.** The reader writes each record in place into a block of
//! 16,384 slots, in input order, as one thread does (a default-v2 line is parsed straight
//! into its slot, `LogReader::fast_into`, with no record built); a shard's batch is the list of its
//! records' places in the block (and their ENIs), and the shard reads them where they lie
//! (`ShardDriver::feed_shared`). The reader also tallies each shard's records per ENI as it
//! routes them (the ENI's shard and its count in the block share one table entry, so routing
//! and counting cost one load and one store) and hands each batch its ENIs in order of first
//! appearance with their counts: the shard groups its records straight from them instead of
//! reading its list once more to count it (on the 5 M-record benchmark that count was 71 M
//! instructions, ≈ 14 a record; with an 8 KiB memset a batch gone too, the two threads
//! execute ≈ 1.3 % more instructions than one instead of ≈ 3.9 %; a proptest checks the
//! reader's counts against counting the places and against `feed_block`). The block is
//! shared (`Arc`) and reused once every batch that points into it is applied. The first version wrote each record into its shard's own array;
//! in quiet interleaved runs both took the same time (0.40-0.42 s wall, 0.76-0.80 CPU s on the
//! peer benchmark), but per-shard arrays grow with the traffic's skew (one busy ENI fills one
//! shard's arrays to a whole block each, and recycled arrays keep that size), while shared
//! blocks hold exactly the records in flight, however they spread over the shards.
//!
//! Memory, whatever the input: the reader reads on only while fewer than four blocks' records
//! are queued, so fewer than five are queued; the helper holds at most what was queued when it
//! took a shard, and the reader fills one block or applies one shard at a time; shards are
//! taken oldest batch first, so a block waits on at most a few shards' queues. So about a
//! dozen blocks are alive at most, each 16,384 × 128 bytes ≈ 2.1 MB: ≈ 25 MB, plus 8 bytes a
//! record of places and ENIs and 8 bytes per ENI of a batch for its counts (measured peak
//! RSS of a two-thread run on the peer benchmark's file: 38 MB, against 71 MB with parallel
//! parsing). Each shard's driver keeps its own copy
//! of the ENI names (≈ 60 bytes a name) and a counting table of 4 bytes per ENI id: at the
//! reader's 1,048,576-ENI cap, ≈ 100 MB for eight shards.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::shard::{finish_stats, ShardEnd, BLOCK};
use super::Slot;
use super::{
    run_parallel, shard_of, RunError, ShardDriver, ShardedOutput, Watermark, WindowConfig,
    WindowSink, Windower,
};
use crate::features::ObsView;
use crate::flowlog::{
    EniId, FastLine, FastRun, FastSink, FlowRecord, FlowlogError, Interner, LogReader,
};

/// Shards of a [`run_pipelined`] run: enough that the helper and the reader can both find a
/// shard with queued batches (with two shards, the one the helper holds would leave the
/// reader only the other), few enough that each shard's part of a block still has runs of
/// records per ENI. 4, 8 and 16 measured alike on the peer benchmark (within this machine's
/// noise); eight lets the reader's help come in smaller steps than four.
pub const PIPELINE_SHARDS: usize = 8;

/// Records between two progress callbacks.
const PROGRESS_EVERY: u64 = 1 << 16;

/// How a run spreads over threads: the choice of [`plan_threads`], which fixes the shard count
/// before sinks and per-shard model state are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadPlan {
    /// Threads asked for (at least 1).
    pub threads: usize,
    /// Shards: sinks, per-shard model state and [`super::shard_of`] use this count.
    pub shards: usize,
    /// Run as [`run_pipelined`] (one reading thread) rather than with parsing on every thread.
    pub pipeline: bool,
}

/// The plan for `threads` threads over `reader`'s input:
/// - one thread: one shard, read and applied on the calling thread;
/// - two threads, when the first input is in the default v2 order
///   ([`LogReader::first_input_is_v2`]): [`run_pipelined`] with [`PIPELINE_SHARDS`] shards.
///   Reading v2 takes about half the work, so one reader keeps a second thread busy, and the
///   pipeline costs less CPU than parallel parsing;
/// - otherwise one shard per thread with parsing on every thread ([`run_parallel`]): a custom
///   field order takes the general parser, about twice the parse time, and one reader would
///   leave the second thread idle (measured: 1.17 s against 0.95 s on 5 M records).
pub fn plan_threads(reader: &LogReader, threads: usize) -> ThreadPlan {
    let threads = threads.max(1);
    let pipeline = threads == 2 && reader.first_input_is_v2();
    ThreadPlan {
        threads,
        shards: if pipeline { PIPELINE_SHARDS } else { threads },
        pipeline,
    }
}

/// The window stage over `reader` as `plan` says, with `plan.shards` shards (`make_sink(i)`
/// for each): one thread reads and runs the shard ([`run_sharded`](super::run_sharded)); a
/// pipeline plan runs [`run_pipelined`]; others run [`run_parallel`]. The output is the same
/// in every case. `on_progress(records)` is called every 65,536 records or so and at the end.
pub fn run_threads<S: WindowSink>(
    reader: &mut LogReader,
    cfg: &WindowConfig,
    plan: ThreadPlan,
    make_sink: impl Fn(usize) -> S,
    on_progress: &mut dyn FnMut(u64),
) -> Result<ShardedOutput<S::Output>, RunError<FlowlogError>> {
    if plan.pipeline {
        let helpers = plan.threads.saturating_sub(1);
        let no_late = |_: &FlowRecord, _: &Interner| Ok(());
        run_pipelined(
            reader,
            cfg,
            plan.shards,
            helpers,
            make_sink,
            on_progress,
            no_late,
        )
    } else {
        run_parallel(reader, cfg, plan.shards, make_sink, on_progress)
    }
}

/// A block of records as the reader wrote them, each with the global watermark at its read
/// time, shared by the block's batches (every shard reads its own records in place).
type Block = Arc<Vec<Slot>>;

/// One shard's records from one block of the reader.
#[derive(Default)]
struct Batch {
    /// The block's number (shards are applied oldest block first).
    seq: u64,
    /// ENI names the reader's interner gained since the previous block (shared by the
    /// block's batches), so each shard's copy gives the same ids.
    names: Option<Arc<[String]>>,
    /// The block (none when the shard has no records in it).
    block: Option<Block>,
    /// The shard's records, in input order: each one's place in the block and its ENI (the
    /// shard groups them by these instead of reading the records once more).
    places: Vec<(u32, EniId)>,
    /// The shard's ENIs in the block, in order of first appearance, each with its record
    /// count: the reader tallies them as it routes, so the shard need not count `places`.
    runs: Vec<(EniId, u32)>,
    /// The watermark after the block.
    wm_after: u64,
}

/// A shard: its driver and its copy of the names; once ended, its sink's output and counts
/// instead of the driver.
struct ShardCell<S: WindowSink> {
    driver: Option<ShardDriver<S>>,
    names: Interner,
    ended: Option<(S::Output, ShardEnd)>,
}

impl<S: WindowSink> ShardCell<S> {
    /// Applies one batch (then empties it for reuse, and lets its block go).
    fn apply(&mut self, b: &mut Batch) {
        if let Some(names) = b.names.take() {
            for n in names.iter() {
                self.names.intern(n.as_bytes());
            }
        }
        let items = b.block.as_deref().map_or(&[][..], Vec::as_slice);
        if let Some(driver) = &mut self.driver {
            driver.feed_shared(items, &b.places, &b.runs, b.wm_after, &self.names);
        }
        b.places.clear();
        b.runs.clear();
        b.block = None;
    }

    /// Ends the shard (closes its open windows, finishes its sink), once.
    fn end(&mut self) {
        if let Some(driver) = self.driver.take() {
            self.ended = Some(driver.end(&self.names));
        }
    }
}

/// What the threads share, under one lock.
#[derive(Default)]
struct State {
    /// Per shard: batches waiting, in input order, and whether a thread is applying it.
    queues: Vec<(VecDeque<Batch>, bool)>,
    /// Records waiting in the queues.
    queued: usize,
    /// Emptied batches, for reuse.
    free: Vec<Batch>,
    /// No more batches will come (the input ended, or the run failed).
    done: bool,
    /// The input ended without error: once nothing is queued, the threads end the shards.
    ending: bool,
    /// Per shard: taken for its end (by whichever thread got it first).
    ended: Vec<bool>,
    /// A thread panicked: stop.
    failed: bool,
}

impl State {
    /// The shard with the oldest queued batch that no thread holds: marks it held and takes
    /// its batches.
    fn take(&mut self) -> Option<(usize, VecDeque<Batch>)> {
        let (s, _) = self
            .queues
            .iter()
            .enumerate()
            .filter(|(_, (q, busy))| !busy && !q.is_empty())
            .min_by_key(|(_, (q, _))| q.front().map_or(u64::MAX, |b| b.seq))?;
        let (q, busy) = self.queues.get_mut(s)?;
        *busy = true;
        let taken = std::mem::take(q);
        self.queued -= taken.iter().map(|b| b.places.len()).sum::<usize>();
        Some((s, taken))
    }

    /// A shard to end, once the input ended and every batch is applied: one no thread holds
    /// and none took for its end yet; marks it held and taken.
    fn take_end(&mut self) -> Option<usize> {
        if !self.ending || self.queued > 0 {
            return None;
        }
        let s = self
            .queues
            .iter()
            .zip(&self.ended)
            .position(|((_, busy), ended)| !busy && !ended)?;
        if let (Some((_, busy)), Some(ended)) = (self.queues.get_mut(s), self.ended.get_mut(s)) {
            *busy = true;
            *ended = true;
        }
        Some(s)
    }

    /// Every shard is taken for its end (some may still be ending).
    fn none_to_end(&self) -> bool {
        self.ended.iter().all(|e| *e)
    }

    /// Every shard is ended (none taken for its end is still held).
    fn all_ended(&self) -> bool {
        self.none_to_end() && self.queues.iter().all(|(_, busy)| !busy)
    }
}

struct Shared<S: WindowSink> {
    state: Mutex<State>,
    /// Signalled when batches are queued, a shard is released, or the run ends.
    changed: Condvar,
    slots: Vec<Mutex<ShardCell<S>>>,
}

impl<S: WindowSink> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking thread never leaves the state half-updated (it panics while applying,
        // outside this lock), so a poisoned lock's state is still sound.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the batches `taken` of shard `s`, then releases the shard (with `guard` held
    /// again) and recycles the batches.
    fn apply<'a>(
        &'a self,
        guard: MutexGuard<'a, State>,
        s: usize,
        mut taken: VecDeque<Batch>,
    ) -> MutexGuard<'a, State> {
        drop(guard);
        if let Some(slot) = self.slots.get(s) {
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            for b in taken.iter_mut() {
                slot.apply(b);
            }
        }
        let mut st = self.lock();
        if let Some((_, busy)) = st.queues.get_mut(s) {
            *busy = false;
        }
        st.free.extend(taken);
        self.changed.notify_all();
        st
    }

    /// Ends shard `s` (taken by [`State::take_end`]), then releases it (with `guard` held
    /// again).
    fn end<'a>(&'a self, guard: MutexGuard<'a, State>, s: usize) -> MutexGuard<'a, State> {
        drop(guard);
        if let Some(slot) = self.slots.get(s) {
            slot.lock().unwrap_or_else(|e| e.into_inner()).end();
        }
        let mut st = self.lock();
        if let Some((_, busy)) = st.queues.get_mut(s) {
            *busy = false;
        }
        self.changed.notify_all();
        st
    }

    /// The helper thread: applies shards until the input is done and nothing is queued,
    /// then ends shards alongside the reading thread ([`Self::end_all`]) until none is left.
    fn help(&self) {
        self.work(self.lock(), |st| {
            st.done && st.queued == 0 && (!st.ending || st.none_to_end())
        });
    }

    /// The reading thread once the input ended without error: applies what is queued and
    /// ends shards, as the helpers do, and returns when every shard is ended. Ending a shard
    /// closes its open windows (the last allowed lateness of the input, for every ENI) and
    /// finishes its sink; on one thread after the others, that was ≈ 8 ms of the peer
    /// benchmark's ≈ 360 ms two-thread run with the helper idle.
    fn end_all(&self) {
        let mut st = self.lock();
        st.done = true;
        st.ending = true;
        self.changed.notify_all();
        self.work(st, State::all_ended);
    }

    /// Applies queued shards, then ends shards once that may start, until `stop` (or the run
    /// failed); waits when there is nothing to take.
    fn work<'a>(&'a self, mut st: MutexGuard<'a, State>, stop: impl Fn(&State) -> bool) {
        loop {
            if st.failed {
                return;
            }
            if let Some((s, taken)) = st.take() {
                st = self.apply(st, s, taken);
                continue;
            }
            if let Some(s) = st.take_end() {
                st = self.end(st, s);
                continue;
            }
            if stop(&st) {
                return;
            }
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Ends the run for the helpers when the reading side returns, by error or panic too (they
/// would wait forever otherwise).
struct EndGuard<'a, S: WindowSink>(&'a Shared<S>);

impl<S: WindowSink> Drop for EndGuard<'_, S> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        if std::thread::panicking() {
            st.failed = true;
        }
        st.done = true;
        self.0.changed.notify_all();
    }
}

/// The window stage over `reader` with `shards` shards: this thread reads, `helpers` more
/// threads (at least one) apply shards, and this thread applies shards too when they fall
/// behind (see the module docs). `make_sink(i)` makes shard `i`'s sink; the shards are
/// [`super::shard_of`]`(name, shards)`, as everywhere. `on_late` is called for each late
/// record, on this thread, in input order (for a side file); `on_progress(records)` every
/// 65,536 records or so and at the end. The output is that of
/// [`run_sharded`](super::run_sharded) with `shards`
/// shards, hence of one thread.
pub fn run_pipelined<S: WindowSink>(
    reader: &mut LogReader,
    cfg: &WindowConfig,
    shards: usize,
    helpers: usize,
    make_sink: impl Fn(usize) -> S,
    on_progress: &mut dyn FnMut(u64),
    on_late: impl FnMut(&FlowRecord, &Interner) -> std::io::Result<()>,
) -> Result<ShardedOutput<S::Output>, RunError<FlowlogError>> {
    let spec = Pipeline {
        shards,
        helpers,
        block: BLOCK,
    };
    run_pipelined_with(reader, cfg, spec, make_sink, on_progress, on_late)
}

/// The shape of a [`run_pipelined_with`] run.
#[derive(Clone, Copy, Debug)]
pub struct Pipeline {
    /// Shards (sinks); at least 1.
    pub shards: usize,
    /// Helper threads besides the reading one; at least 1.
    pub helpers: usize,
    /// Records per block (16,384 in [`run_pipelined`]; the reader helps above two blocks
    /// queued and waits at four). The output does not depend on it: tests cut tiny blocks.
    pub block: usize,
}

/// [`run_pipelined`] with the shard count, helper count and block size of `spec`.
pub fn run_pipelined_with<S: WindowSink>(
    reader: &mut LogReader,
    cfg: &WindowConfig,
    spec: Pipeline,
    make_sink: impl Fn(usize) -> S,
    on_progress: &mut dyn FnMut(u64),
    mut on_late: impl FnMut(&FlowRecord, &Interner) -> std::io::Result<()>,
) -> Result<ShardedOutput<S::Output>, RunError<FlowlogError>> {
    cfg.validate()?;
    let Pipeline {
        shards,
        helpers,
        block,
    } = spec;
    let block = block.max(1);
    let shards = shards.max(1);
    let helpers = helpers.max(1);
    let shared = Shared {
        state: Mutex::new(State {
            queues: (0..shards).map(|_| (VecDeque::new(), false)).collect(),
            ended: vec![false; shards],
            ..State::default()
        }),
        changed: Condvar::new(),
        slots: (0..shards)
            .map(|i| {
                Mutex::new(ShardCell {
                    driver: Some(ShardDriver::new(cfg, make_sink(i))),
                    names: Interner::new(),
                    ended: None,
                })
            })
            .collect(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(helpers)
        .thread_name(|i| format!("flowvigil-shard-{i}"))
        .build()
        .map_err(|e| RunError::Pool(e.to_string()))?;
    let caught = Mutex::new(None);
    let mut wm = Watermark::new(cfg.allowed_lateness_secs);
    let mut local = Windower::new(cfg.clone());
    let outcome: Result<(), RunError<FlowlogError>> = pool.in_place_scope(|scope| {
        for _ in 0..helpers {
            let (shared, caught) = (&shared, &caught);
            scope.spawn(move |_| {
                // A panic is a bug, not bad input: keep it to re-raise once every thread is
                // done, and stop the reader.
                if let Err(p) =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.help()))
                {
                    if let Ok(mut c) = caught.lock() {
                        *c = Some(p);
                    }
                    let mut st = shared.lock();
                    st.failed = true;
                    shared.changed.notify_all();
                }
            });
        }
        let _end = EndGuard(&shared);
        read_loop(
            reader,
            cfg,
            block,
            &shared,
            &mut wm,
            &mut local,
            on_progress,
            &mut on_late,
        )?;
        shared.end_all();
        Ok(())
    });
    if let Some(p) = caught.into_inner().ok().flatten() {
        std::panic::resume_unwind(p);
    }
    outcome?;
    let names = reader.interner();
    let mut outs = Vec::with_capacity(shards);
    let mut ends: Vec<ShardEnd> = Vec::with_capacity(shards);
    for (i, slot) in shared.slots.into_iter().enumerate() {
        let mut slot = slot.into_inner().unwrap_or_else(|e| e.into_inner());
        // Every shard was ended by a thread; this ends any that was not (none, unless a
        // thread stopped without a panic).
        slot.end();
        let Some((out, end)) = slot.ended else {
            return Err(RunError::Pool(format!(
                "shard {i} was lost: its thread stopped while ending it"
            )));
        };
        outs.push(out);
        ends.push(end);
    }
    if let Some(first) = ends.first_mut() {
        first.stats.add(local.stats());
    }
    Ok((outs, finish_stats(ends, names, wm.get(), shards)))
}

/// A block to fill: one of `len` slots no batch holds any more, or a new one.
fn take_block(blocks: &mut Vec<Block>, len: usize) -> Block {
    match blocks
        .iter_mut()
        .position(|b| b.len() == len && Arc::get_mut(b).is_some())
    {
        Some(i) => blocks.swap_remove(i),
        None => Arc::new(vec![Slot::EMPTY; len]),
    }
}

/// Per ENI id of the reader: its shard, and its records in the block filling. Routing a
/// record and tallying it touch the same entry (one load, one store), so the shards get their
/// counts with the batch instead of re-reading each batch's ENIs to count them.
#[derive(Default)]
struct Router {
    /// Per ENI id: (shard, records in the block so far); extended to every name of the
    /// reader's interner as new ids appear (ids are dense).
    of: Vec<(u32, u32)>,
}

impl Router {
    /// Lists record `n` of the block, of `eni`, in its shard's batch (and its ENI in the
    /// batch's runs on its first record of the block).
    #[inline(always)]
    fn place(&mut self, batches: &mut [Batch], names: &Interner, n: usize, eni: EniId) {
        if self.of.len() <= eni as usize {
            self.grow(names, batches.len());
        }
        if let Some((s, c)) = self.of.get_mut(eni as usize) {
            if let Some(b) = batches.get_mut(*s as usize) {
                if *c == 0 {
                    b.runs.push((eni, 0));
                }
                b.places.push((n as u32, eni));
            }
            *c += 1;
        } else if let Some(b) = batches.first_mut() {
            // An id the interner never gave (a bug): shard 0, as before, uncounted (the
            // shard counts its batch itself when the runs do not add up).
            b.places.push((n as u32, eni));
        }
    }

    /// Extends the table to every name of `names` (each new id's shard computed once).
    #[inline(never)]
    fn grow(&mut self, names: &Interner, shards: usize) {
        let all = names.names();
        while self.of.len() < all.len() {
            let name = all.get(self.of.len()).map_or("?", String::as_str);
            self.of.push((shard_of(name, shards) as u32, 0));
        }
    }

    /// At the end of a block: each batch's runs get their counts, and the counts are zero
    /// again for the next block (work per ENI of the block, not per record).
    fn end_block(&mut self, batches: &mut [Batch]) {
        for b in batches.iter_mut() {
            for (e, n) in b.runs.iter_mut() {
                if let Some((_, c)) = self.of.get_mut(*e as usize) {
                    *n = std::mem::take(c);
                }
            }
        }
    }
}

/// The reading loop's state while a block fills (see [`read_loop`]).
struct Filling<'a, L> {
    /// The block's slots.
    slots: &'a mut [Slot],
    batches: &'a mut [Batch],
    route: &'a mut Router,
    n: &'a mut usize,
    wm: &'a mut Watermark,
    cfg: &'a WindowConfig,
    local: &'a mut Windower,
    on_late: &'a mut L,
    /// The record of a line parsed into a slot, when needed (late, or refused by the slot).
    spare: &'a mut FlowRecord,
}

impl<L: FnMut(&FlowRecord, &Interner) -> std::io::Result<()>> Filling<'_, L> {
    /// Takes one record: one that makes an observation is written in the block's next slot
    /// and listed in the batch of its ENI's shard (handed to `on_late` when late); the others
    /// go to the local windower, which counts them. `Ok(true)` while the block has room.
    #[inline(always)]
    fn take(&mut self, rec: &FlowRecord, names: &Interner) -> Result<bool, RunError<FlowlogError>> {
        let now = self.wm.get();
        let n = *self.n;
        let placed = match rec.eni {
            Some(eni) if rec.start.is_some() => {
                // Written in place in the block, as one thread does: no observation built
                // aside and copied.
                let ok = self.slots.get_mut(n).is_some_and(|slot| {
                    slot.set_watermark(now);
                    slot.fill_from(rec).is_ok()
                });
                if ok {
                    self.route.place(self.batches, names, n, eni);
                }
                ok
            }
            _ => false,
        };
        if placed {
            *self.n += 1;
            if let Some(start) = rec.start {
                if self.cfg.is_late(start, now) {
                    (self.on_late)(rec, names).map_err(RunError::Late)?;
                }
            }
        } else {
            self.local.push(rec, now);
        }
        self.wm.observe(rec);
        Ok(*self.n < self.slots.len())
    }
}

/// The reader's fast route writes straight into the block's next slot (see [`Slot`]'s
/// `V2Target`); what `take` does with a record follows (the same steps, the
/// same values).
impl<L: FnMut(&FlowRecord, &Interner) -> std::io::Result<()>> FastSink for Filling<'_, L> {
    type Target = Slot;
    type Error = RunError<FlowlogError>;
    #[inline(always)]
    fn target(&mut self) -> Option<&mut Slot> {
        self.slots.get_mut(*self.n)
    }
    // Lines come in runs parsed into the free slots at once (`fast_into`).
    const RUNS: bool = true;
    #[inline(always)]
    fn targets(&mut self) -> &mut [Slot] {
        self.slots.get_mut(*self.n..).unwrap_or_default()
    }
    #[inline(always)]
    fn parsed(&mut self, mut line: FastLine<'_>) -> Result<bool, RunError<FlowlogError>> {
        let now = self.wm.get();
        let n = *self.n;
        let Some(slot) = self.slots.get_mut(n) else {
            return Ok(false);
        };
        let end = slot.replace_watermark(now);
        let eni = slot.eni();
        self.route.place(self.batches, line.names(), n, eni);
        if self.cfg.is_late(slot.start(), now) {
            let names = line.record(self.spare);
            (self.on_late)(self.spare, names).map_err(RunError::Late)?;
        }
        *self.n = n + 1;
        self.wm.observe_time(end);
        // A full block stops the run at the next `target`.
        Ok(true)
    }
    /// [`Self::parsed`] for each line of the run, over the run's slots in one loop with the
    /// watermark and the count kept in locals (written back once).
    #[inline(always)]
    fn parsed_run(&mut self, mut run: FastRun<'_>) -> Result<(), RunError<FlowlogError>> {
        let n = *self.n;
        let k = run.len();
        let mut wm = self.wm.clone();
        let slots = self.slots.get_mut(n..).unwrap_or_default();
        let mut done = 0;
        let mut failed = None;
        for slot in slots.iter_mut().take(k) {
            let now = wm.get();
            let end = slot.replace_watermark(now);
            self.route
                .place(self.batches, run.names(), n + done, slot.eni());
            if self.cfg.is_late(slot.start(), now) {
                let mut line = run.line(done);
                let names = line.record(self.spare);
                if let Err(e) = (self.on_late)(self.spare, names) {
                    failed = Some(e);
                    break;
                }
            }
            wm.observe_time(end);
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
    // Out of line here (unlike `OneThread`'s): runs keep this loop's state in registers
    // already, and inlining it measured +0.6 M instructions on two threads.
    #[inline(never)]
    fn refused(&mut self, _: &Interner) -> Result<bool, RunError<FlowlogError>> {
        // No interface or no start time: no observation (`take` would find the same).
        debug_assert!(self.spare.eni.is_none() || self.spare.start.is_none());
        let now = self.wm.get();
        self.local.push(self.spare, now);
        self.wm.observe(self.spare);
        Ok(*self.n < self.slots.len())
    }
}

/// The reading thread: fills one batch per shard from a block of records, queues them, and
/// applies shards itself when the helpers fall behind; at the end, applies what is left.
#[allow(clippy::too_many_arguments)]
fn read_loop<S: WindowSink>(
    reader: &mut LogReader,
    cfg: &WindowConfig,
    block: usize,
    shared: &Shared<S>,
    wm: &mut Watermark,
    local: &mut Windower,
    on_progress: &mut dyn FnMut(u64),
    on_late: &mut impl FnMut(&FlowRecord, &Interner) -> std::io::Result<()>,
) -> Result<(), RunError<FlowlogError>> {
    let shards = shared.slots.len();
    let mut rec = FlowRecord::default();
    let mut spare = FlowRecord::default();
    let mut route = Router::default();
    // Names the shards' copies have (names interned before the first record, e.g. a model's
    // ENIs, go with the first block like any other).
    let mut names_sent = 0usize;
    let mut filling: Vec<Batch> = (0..shards).map(|_| Batch::default()).collect();
    // Blocks, reused once no batch holds them any more (at most the blocks in flight).
    let mut blocks: Vec<Block> = Vec::new();
    let mut seq = 0u64;
    let mut records = 0u64;
    let mut next_progress = PROGRESS_EVERY;
    let mut ended = false;
    while !ended {
        // The first block is a sixteenth of the others (1,024 records), so that the helper
        // starts within a fraction of a millisecond: after a whole block it had waited 2-4 ms
        // of a ≈ 300 ms run. (Block sizes do not change the output.)
        let len = if seq == 0 { (block / 16).max(1) } else { block };
        let mut current = take_block(&mut blocks, len);
        // Held here alone (`take_block` checked), so this never copies.
        let slots = Arc::make_mut(&mut current);
        let mut n = 0usize;
        // Default-v2 lines are parsed straight into the block's slots (`fast_into`); the
        // lines it declines come one at a time (`next_record`), each through `take`.
        while n < len {
            let mut st = Filling {
                slots: &mut slots[..],
                batches: &mut filling,
                route: &mut route,
                n: &mut n,
                wm: &mut *wm,
                cfg,
                local: &mut *local,
                on_late: &mut *on_late,
                spare: &mut spare,
            };
            if reader.fast_into(&mut st)? {
                break;
            }
            if !reader.next_record(&mut rec).map_err(RunError::Read)? {
                ended = true;
                break;
            }
            if !st.take(&rec, reader.interner())? {
                break;
            }
        }
        records += n as u64;
        route.end_block(&mut filling);
        // The block's batches: one per shard, even empty, so every shard's windows close as
        // the watermark moves.
        let all = reader.interner().names();
        let names: Option<Arc<[String]>> =
            (all.len() > names_sent).then(|| all.get(names_sent..).unwrap_or(&[]).into());
        names_sent = all.len();
        let mut st = shared.lock();
        if st.failed {
            return Ok(());
        }
        let wm_after = wm.get();
        for (s, b) in filling.iter_mut().enumerate() {
            let fresh = st.free.pop().unwrap_or_default();
            let mut batch = std::mem::replace(b, fresh);
            batch.seq = seq;
            batch.names = names.clone();
            batch.wm_after = wm_after;
            if !batch.places.is_empty() {
                batch.block = Some(Arc::clone(&current));
            }
            st.queued += batch.places.len();
            if let Some((q, _)) = st.queues.get_mut(s) {
                q.push_back(batch);
            }
        }
        seq += 1;
        blocks.push(current);
        shared.changed.notify_all();
        // Help while the helpers are behind; wait when memory is at its bound and every
        // queued shard is held.
        while st.queued > 2 * block || (ended && st.queued > 0) {
            if st.failed {
                return Ok(());
            }
            if let Some((s, taken)) = st.take() {
                st = shared.apply(st, s, taken);
            } else if st.queued >= 4 * block || ended {
                st = shared.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            } else {
                break;
            }
        }
        drop(st);
        if records >= next_progress || ended {
            next_progress = records + PROGRESS_EVERY;
            on_progress(reader.summary().records);
        }
    }
    // What is still queued or held is applied and ended by `Shared::end_all`.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{Observation, WindowFeatures};
    use proptest::prelude::*;

    /// The windows each of `shards` shards gives for `records` ((ENI index, start, duration,
    /// port)) cut into blocks of `block`: routed and tallied by the reader's [`Router`] and
    /// grouped from its counts (`feed_shared`), grouped by counting the places
    /// (`feed_shared_counting`, the plain path), and fed as each shard's own block
    /// (`feed_block`).
    fn three_ways(
        records: &[(u8, u16, u16, u16)],
        enis: u8,
        shards: usize,
        block: usize,
    ) -> [Vec<Vec<WindowFeatures>>; 3] {
        let cfg = WindowConfig {
            window_secs: 60,
            allowed_lateness_secs: 30,
            ..WindowConfig::default()
        };
        let mut names = Interner::new();
        let ids: Vec<EniId> = (0..enis.max(1))
            .map(|i| names.intern(format!("eni-{i:04}").as_bytes()))
            .collect();
        let mk = || -> Vec<ShardDriver<Vec<WindowFeatures>>> {
            (0..shards)
                .map(|_| ShardDriver::new(&cfg, Vec::new()))
                .collect()
        };
        let (mut tallied, mut counted, mut plain) = (mk(), mk(), mk());
        let mut route = Router::default();
        let mut batches: Vec<Batch> = (0..shards).map(|_| Batch::default()).collect();
        let mut wm = Watermark::new(cfg.allowed_lateness_secs);
        for chunk in records.chunks(block.max(1)) {
            let mut items = Vec::new();
            for (n, &(e, t, d, port)) in chunk.iter().enumerate() {
                let eni = ids.get(usize::from(e) % ids.len()).copied().unwrap_or(0);
                let start = 1_000 + u64::from(t);
                let end = start + u64::from(d % 120);
                let obs = Observation {
                    eni,
                    start,
                    end,
                    src: Some(std::net::IpAddr::from([10, 0, 0, e])),
                    dst: Some(std::net::IpAddr::from([
                        10,
                        1,
                        (port >> 8) as u8,
                        port as u8,
                    ])),
                    dstport: Some(port % 7),
                    packets: 1,
                    bytes: u64::from(d),
                    ..Observation::EMPTY
                };
                items.push(Slot::new(&obs, wm.get()));
                route.place(&mut batches, &names, n, eni);
                wm.observe_time(end);
            }
            route.end_block(&mut batches);
            let wm_after = wm.get();
            for (s, b) in batches.iter_mut().enumerate() {
                let own: Vec<Slot> = b
                    .places
                    .iter()
                    .filter_map(|&(i, _)| items.get(i as usize).copied())
                    .collect();
                // The counts are taken, not refused (`feed_shared` would count afresh).
                let mut g = super::super::shard::Grouping::default();
                assert!(
                    g.take_runs(&b.runs, b.places.len()),
                    "the reader's counts add up"
                );
                tallied[s].feed_shared(&items, &b.places, &b.runs, wm_after, &names);
                counted[s].feed_shared_counting(&items, &b.places, wm_after, &names);
                plain[s].feed_block(&own, wm_after, &names);
                b.places.clear();
                b.runs.clear();
            }
        }
        let out = |ds: Vec<ShardDriver<Vec<WindowFeatures>>>| -> Vec<Vec<WindowFeatures>> {
            ds.into_iter().map(|d| d.end(&names).0).collect()
        };
        [out(tallied), out(counted), out(plain)]
    }

    proptest! {
        /// The reader's per-shard counts group each shard's records exactly as counting its
        /// places does, and both give the windows of the shard's records fed as a block.
        #[test]
        fn reader_counts_group_as_counting(
            records in proptest::collection::vec(
                (any::<u8>(), 0u16..2_000, any::<u16>(), any::<u16>()), 0..600),
            enis in 1u8..40,
            shards in 1usize..5,
            block in 1usize..200,
        ) {
            let mut sorted = records.clone();
            // Mostly in time order, as logs are, with some late records left as they come.
            sorted.sort_by_key(|r| r.1 / 64);
            let [tallied, counted, plain] = three_ways(&sorted, enis, shards, block);
            prop_assert_eq!(&tallied, &counted);
            prop_assert_eq!(&tallied, &plain);
            let [tallied, _, plain] = three_ways(&records, enis, shards, block);
            prop_assert_eq!(&tallied, &plain);
        }
    }
}
