//! Parallel extraction: every worker thread both **parses** (chunks of the input) and **runs one
//! shard** (the windows of the ENIs [`shard_of`](super::shard_of) gives it), so `--threads N`
//! uses N cores for the whole pipeline instead of one reading thread feeding N shards.
//! [`super::run_threads`] uses it for three or more threads; two run
//! [`super::run_pipelined`], which costs less CPU where one reader can keep up.
//!
//! - The calling thread cuts the input into pieces ([`LogReader::next_piece`]: chunks of whole
//!   lines, about [`CHUNK_PER_SHARD`] bytes per shard each, at most [`MAX_CHUNK`]) and hands the
//!   chunks out.
//! - A worker parses a chunk with its own [`ChunkParser`], routes each record to the shard that
//!   owns its ENI (records carry the parser's ENI ids and the highest `end` seen *in the chunk*
//!   before them), counting each shard's records by ENI as it writes them (the grouping the
//!   shard needs), and sends the chunk's counts back to the calling thread.
//! - The calling thread merges pieces strictly in input order ([`LogReader::merge_piece`]):
//!   counts, bad-line reports, and the parsers' new ENI names, interned in the reader's
//!   interner, which gives the ids a sequential read gives. It sends each shard the new names
//!   and the translation of the parser's ids.
//! - Each shard takes chunks in input order and applies a chunk's records as one block grouped
//!   by ENI (`ShardDriver::feed_grouped`), translating each record's id and turning the
//!   chunk-local maximum into the global watermark (`max(highest end before the chunk, highest
//!   end before the record in the chunk) - lateness`, the value a sequential reader has at that
//!   record) as it applies it: no pass over the records just to rewrite them. Records of small
//!   chunks (fewer than 8,192 for the shard, e.g. one chunk per small `.gz` object) are
//!   translated and gathered into a block of at least 16,384 first
//!   ([`ShardDriver::feed_block`]): grouping by ENI needs runs of records per ENI.
//!
//! So each shard sees exactly the records, watermarks and ids of [`run_sharded`], and the output
//! is the same (tested against it). Not covered here: a late-record side file (late records are
//! written at read time, in input order, which needs the watermark while reading) — callers use
//! [`run_sharded`] for that — and more distinct ENIs than the reader's `max_enis`
//! ([`FlowlogError::TooManyEnis`]; one thread counts the excess lines as bad lines).
//!
//! Memory: the pieces between cutting and the last shard being done with them hold at most
//! `shards + 2` chunks' worth of text (one more chunk may start before the budget stops the
//! cutting; small files make small chunks, so up to 256 pieces) and their records (≈ 1.3× the
//! text: 148 bytes a record of ≈ 115 bytes of text, with its grouping entry): a chunk is
//! 2 MiB of text per shard, at most 8 MiB, so ≈ 9.5 MB per chunk's worth and ≈ 50 MB in all
//! for two shards, ≈ 19 MB per chunk's worth and ≈ 200 MB for eight.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use super::shard::{finish_stats, route_of, Grouping, ShardEnd, Xlate, BLOCK};
use super::Slot;
use super::{
    run_sharded, RecordSource, RunError, ShardDriver, ShardedOutput, WindowConfig, WindowSink,
    Windower,
};
use crate::features::ObsView;
use crate::flowlog::chunk::{ChunkOutcome, ChunkParser, PieceKind, RawChunk};
use crate::flowlog::{EniId, FastLine, FastSink, FlowRecord, FlowlogError, Interner, LogReader};

/// Bytes of input text per shard in one chunk: about 18,000 default-v2 records, so each shard
/// gets a block of its own for `ShardDriver::feed_grouped` (on the peer benchmark, two threads,
/// 2 MiB ran a little faster than 4 MiB, which pages more memory in; with 1 MiB blocks get
/// too small).
pub const CHUNK_PER_SHARD: usize = 2 << 20;

/// The most bytes of text in one chunk, whatever the shard count (memory, see the module docs).
pub const MAX_CHUNK: usize = 8 << 20;

/// The most pieces between cutting and the last shard being done with them.
const MAX_PIECES_IN_FLIGHT: usize = 256;

/// A record as a parser hands it to a shard: the observation (parser's ENI id) and the highest
/// `end` seen in its chunk before it (the shard turns both into the reader's values).
type Item = Slot;

/// One chunk's records for one shard, counted by the parser's ENI ids as they were written
/// (the grouping [`ShardDriver::feed_grouped`] needs), recycled through a pool.
#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    group: Grouping,
}

enum ToWorker {
    /// A chunk to parse.
    Raw(u64, RawChunk),
    /// One chunk's records for this shard, from parser `parser`, with the chunk's highest `end`.
    Items {
        seq: u64,
        parser: usize,
        items: Batch,
        max_end: u64,
    },
    /// A piece was merged: the names it added to the reader's interner and, for a chunk, the
    /// reader's ids of its parser's new names.
    Merged {
        seq: u64,
        parser: Option<usize>,
        names: Arc<[String]>,
        ids: Arc<[EniId]>,
    },
    /// Every piece up to this sequence number was sent: finish after it.
    End(u64),
    /// Stop now (the run failed).
    Abort,
}

enum ToLead {
    /// A chunk was parsed.
    Parsed {
        seq: u64,
        parser: usize,
        chunk: RawChunk,
        outcome: ChunkOutcome,
    },
    /// A shard is done with every piece before `upto`.
    Processed { worker: usize, upto: u64 },
    /// A worker panicked (a bug): stop.
    Failed,
}

/// What a worker hands back: its sink's output, its shard's counters, the final highest `end`.
type WorkerEnd<O> = (O, ShardEnd, u64);

/// [`run_sharded`] with parsing spread over the shards' threads (see the module docs); the same
/// output. `on_progress(records)` is called as pieces are merged (with `shards < 2`, which is
/// [`run_sharded`] on the calling thread, every 65,536 records and at the end).
pub fn run_parallel<S: WindowSink>(
    reader: &mut LogReader,
    cfg: &WindowConfig,
    shards: usize,
    make_sink: impl Fn(usize) -> S,
    on_progress: &mut dyn FnMut(u64),
) -> Result<ShardedOutput<S::Output>, RunError<FlowlogError>> {
    run_parallel_chunked(reader, cfg, shards, CHUNK_PER_SHARD, make_sink, on_progress)
}

/// [`run_parallel`] with chunks of about `chunk_per_shard * shards` bytes (at least one line
/// each); the output does not depend on it (tests cut tiny chunks to cross many boundaries).
pub fn run_parallel_chunked<S: WindowSink>(
    reader: &mut LogReader,
    cfg: &WindowConfig,
    shards: usize,
    chunk_per_shard: usize,
    make_sink: impl Fn(usize) -> S,
    on_progress: &mut dyn FnMut(u64),
) -> Result<ShardedOutput<S::Output>, RunError<FlowlogError>> {
    if shards < 2 {
        let mut counting = Counting {
            reader,
            records: 0,
            on_progress,
        };
        return run_sharded(&mut counting, cfg, 1, make_sink, |_, _| Ok(()));
    }
    cfg.validate()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(shards)
        .thread_name(|i| format!("flowvigil-worker-{i}"))
        .build()
        .map_err(|e| RunError::Pool(e.to_string()))?;
    let base = reader.interner().clone();
    let max_enis = reader.options().max_enis;
    let pool_items: Mutex<Vec<Batch>> = Mutex::new(Vec::new());
    type Slot<O> = Mutex<Option<WorkerEnd<O>>>;
    let slots: Vec<Slot<S::Output>> = (0..shards).map(|_| Mutex::new(None)).collect();
    let caught = Mutex::new(None);
    let (lead_tx, lead_rx) = channel::<ToLead>();
    let mut txs = Vec::with_capacity(shards);
    let mut rxs = Vec::with_capacity(shards);
    for _ in 0..shards {
        let (tx, rx) = channel::<ToWorker>();
        txs.push(tx);
        rxs.push(rx);
    }
    let outcome = pool.in_place_scope(|scope| {
        for (w, (rx, slot)) in rxs.into_iter().zip(&slots).enumerate() {
            let worker = Worker {
                w,
                shards,
                peers: txs.clone(),
                lead: lead_tx.clone(),
                cfg: cfg.clone(),
                base: &base,
                max_enis,
                pool: &pool_items,
            };
            let sink = make_sink(w);
            let caught = &caught;
            let alarm = lead_tx.clone();
            scope.spawn(move |_| {
                // A panic is a bug, not bad input: keep it to re-raise once every thread is done.
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    worker.run(rx, sink)
                })) {
                    Ok(Some(done)) => {
                        if let Ok(mut s) = slot.lock() {
                            *s = Some(done);
                        }
                    }
                    Ok(None) => {}
                    Err(p) => {
                        if let Ok(mut c) = caught.lock() {
                            *c = Some(p);
                        }
                        // Wake the calling thread, which stops the other workers.
                        let _ = alarm.send(ToLead::Failed);
                    }
                }
            });
        }
        drop(lead_tx);
        let target = chunk_per_shard.saturating_mul(shards).clamp(1, MAX_CHUNK);
        let result = lead(reader, shards, target, &txs, &lead_rx, on_progress);
        let total = result.as_ref().ok().copied();
        for tx in &txs {
            // A worker that is gone has panicked: reported below.
            let _ = tx.send(total.map_or(ToWorker::Abort, ToWorker::End));
        }
        drop(txs);
        result
    });
    if let Some(p) = caught.into_inner().ok().flatten() {
        std::panic::resume_unwind(p);
    }
    outcome.map_err(|e| match e {
        LeadError::Read(e) => RunError::Read(e),
        LeadError::Gone => RunError::Pool("a worker thread stopped".into()),
    })?;
    let mut outs = Vec::with_capacity(shards);
    let mut ends = Vec::with_capacity(shards);
    let mut max_end = 0;
    for slot in slots {
        if let Some((out, end, m)) = slot.into_inner().ok().flatten() {
            outs.push(out);
            ends.push(end);
            max_end = m;
        }
    }
    if outs.len() != shards {
        // Never expected: a worker stopped without a panic (its channel closed).
        return Err(RunError::Pool("a worker thread stopped early".into()));
    }
    let wm = max_end.saturating_sub(u64::from(cfg.allowed_lateness_secs));
    Ok((outs, finish_stats(ends, reader.interner(), wm, shards)))
}

/// Records between two progress callbacks of a one-thread run.
const PROGRESS_EVERY: u64 = 1 << 16;

/// The one-thread run's source: the reader, counting records for the progress callback.
struct Counting<'a> {
    reader: &'a mut LogReader,
    records: u64,
    on_progress: &'a mut dyn FnMut(u64),
}

impl RecordSource for Counting<'_> {
    type Error = FlowlogError;
    fn next_record(&mut self, rec: &mut FlowRecord) -> Result<bool, FlowlogError> {
        let more = self.reader.next_record(rec)?;
        if more {
            self.records += 1;
            if self.records.is_multiple_of(PROGRESS_EVERY) {
                (self.on_progress)(self.records);
            }
        } else {
            (self.on_progress)(self.records);
        }
        Ok(more)
    }
    fn interner(&self) -> &Interner {
        self.reader.interner()
    }
    fn fast_records<E>(
        &mut self,
        rec: &mut FlowRecord,
        mut each: impl FnMut(&FlowRecord, &Interner) -> Result<bool, E>,
    ) -> Result<bool, E> {
        let (records, on_progress) = (&mut self.records, &mut self.on_progress);
        self.reader.fast_records(rec, |r, names| {
            *records += 1;
            if *records % PROGRESS_EVERY == 0 {
                on_progress(*records);
            }
            each(r, names)
        })
    }
    #[inline(always)]
    fn fast_into<K: FastSink>(&mut self, sink: &mut K) -> Result<bool, K::Error> {
        let mut counting = CountingSink {
            inner: sink,
            records: &mut self.records,
            on_progress: &mut *self.on_progress,
        };
        self.reader.fast_into(&mut counting)
    }
    fn fast_possible(&self) -> bool {
        self.reader.fast_possible()
    }
}

/// A [`FastSink`] that counts the records it passes on to `inner` (parsed or refused lines,
/// each a record [`Counting::next_record`] would have counted), for [`Counting::fast_into`].
struct CountingSink<'s, K> {
    inner: &'s mut K,
    records: &'s mut u64,
    on_progress: &'s mut dyn FnMut(u64),
}

impl<K> CountingSink<'_, K> {
    #[inline(always)]
    fn count(&mut self) {
        *self.records += 1;
        if (*self.records).is_multiple_of(PROGRESS_EVERY) {
            (self.on_progress)(*self.records);
        }
    }
}

impl<K: FastSink> FastSink for CountingSink<'_, K> {
    type Target = K::Target;
    type Error = K::Error;
    #[inline(always)]
    fn target(&mut self) -> Option<&mut K::Target> {
        self.inner.target()
    }
    #[inline(always)]
    fn parsed(&mut self, line: FastLine<'_>) -> Result<bool, K::Error> {
        self.count();
        self.inner.parsed(line)
    }
    fn record(&mut self) -> &mut FlowRecord {
        self.inner.record()
    }
    fn refused(&mut self, names: &Interner) -> Result<bool, K::Error> {
        self.count();
        self.inner.refused(names)
    }
}

enum LeadError {
    Read(FlowlogError),
    Gone,
}

/// The calling thread: cuts pieces, hands chunks out, merges in order. Returns the number of
/// pieces.
fn lead(
    reader: &mut LogReader,
    shards: usize,
    target: usize,
    txs: &[Sender<ToWorker>],
    rx: &Receiver<ToLead>,
    on_progress: &mut dyn FnMut(u64),
) -> Result<u64, LeadError> {
    // Text between cutting and the last shard being done with it: `shards + 2` full chunks'
    // worth (small files make small chunks, and many of them may be in flight), in at most
    // `MAX_PIECES_IN_FLIGHT` pieces.
    let budget = (shards + 2).saturating_mul(target);
    let mut in_flight: VecDeque<(u64, usize)> = VecDeque::new();
    let mut in_flight_bytes = 0usize;
    let mut cut = 0u64;
    let mut eof = false;
    let mut processed = vec![0u64; shards];
    let mut ready: BTreeMap<u64, (PieceKind, ChunkOutcome, Option<usize>)> = BTreeMap::new();
    let mut next_merge = 0u64;
    let mut free: Vec<Vec<u8>> = Vec::new();
    let mut names_sent = reader.interner().len();
    let mut handed = 0usize;
    let mut waiting = vec![0usize; shards];
    loop {
        let done = processed.iter().copied().min().unwrap_or(0);
        while in_flight.front().is_some_and(|&(seq, _)| seq < done) {
            if let Some((_, bytes)) = in_flight.pop_front() {
                in_flight_bytes -= bytes;
            }
        }
        while !eof && in_flight_bytes < budget && in_flight.len() < MAX_PIECES_IN_FLIGHT {
            match reader
                .next_piece(target, free.pop().unwrap_or_default())
                .map_err(LeadError::Read)?
            {
                None => eof = true,
                Some(piece) => {
                    cut = piece.seq + 1;
                    let bytes = match &piece.kind {
                        PieceKind::Lines(chunk) => chunk.data.len(),
                        _ => 0,
                    };
                    in_flight.push_back((piece.seq, bytes));
                    in_flight_bytes += bytes;
                    match piece.kind {
                        PieceKind::Lines(chunk) => {
                            // To the worker with the fewest chunks waiting to be parsed (the
                            // one whose shard is lighter parses more), in turn on a tie.
                            let w = (0..shards)
                                .map(|i| (handed + i) % shards)
                                .min_by_key(|&i| waiting.get(i).copied().unwrap_or(0))
                                .unwrap_or(0);
                            handed += 1;
                            if let Some(n) = waiting.get_mut(w) {
                                *n += 1;
                            }
                            txs.get(w)
                                .ok_or(LeadError::Gone)?
                                .send(ToWorker::Raw(piece.seq, chunk))
                                .map_err(|_| LeadError::Gone)?;
                        }
                        other => {
                            ready.insert(piece.seq, (other, ChunkOutcome::default(), None));
                        }
                    }
                }
            }
        }
        while let Some((kind, outcome, parser)) = ready.remove(&next_merge) {
            let ids = reader
                .merge_piece(&kind, &outcome)
                .map_err(LeadError::Read)?;
            let all = reader.interner().names();
            let names: Arc<[String]> = all.get(names_sent..).unwrap_or_default().into();
            names_sent = all.len();
            let ids: Arc<[EniId]> = ids.into();
            for tx in txs {
                tx.send(ToWorker::Merged {
                    seq: next_merge,
                    parser,
                    names: names.clone(),
                    ids: ids.clone(),
                })
                .map_err(|_| LeadError::Gone)?;
            }
            if let PieceKind::Lines(chunk) = kind {
                free.push(chunk.data);
                on_progress(reader.summary().records);
            }
            next_merge += 1;
        }
        if eof && next_merge == cut {
            return Ok(cut);
        }
        match rx.recv() {
            Ok(ToLead::Parsed {
                seq,
                parser,
                chunk,
                outcome,
            }) => {
                if let Some(n) = waiting.get_mut(parser) {
                    *n = n.saturating_sub(1);
                }
                ready.insert(seq, (PieceKind::Lines(chunk), outcome, Some(parser)));
            }
            Ok(ToLead::Processed { worker, upto }) => {
                if let Some(p) = processed.get_mut(worker) {
                    *p = upto;
                }
            }
            Ok(ToLead::Failed) | Err(_) => return Err(LeadError::Gone),
        }
    }
}

/// One worker: a parser and a shard.
struct Worker<'a> {
    w: usize,
    shards: usize,
    peers: Vec<Sender<ToWorker>>,
    lead: Sender<ToLead>,
    cfg: WindowConfig,
    base: &'a Interner,
    max_enis: usize,
    pool: &'a Mutex<Vec<Batch>>,
}

/// What a worker has received and not yet used.
#[derive(Default)]
struct Queues {
    /// Chunks to parse, in input order.
    raws: VecDeque<(u64, RawChunk)>,
    /// Records for this shard by piece: parser, records, the chunk's highest `end`.
    items: HashMap<u64, (usize, Batch, u64)>,
    /// Merged pieces waiting for their turn.
    merged: HashMap<u64, Merged>,
    /// The number of pieces, once known.
    total: Option<u64>,
}

impl Queues {
    /// Files a message; false for [`ToWorker::Abort`].
    fn take(&mut self, m: ToWorker) -> bool {
        match m {
            ToWorker::Raw(seq, chunk) => self.raws.push_back((seq, chunk)),
            ToWorker::Items {
                seq,
                parser,
                items,
                max_end,
            } => {
                self.items.insert(seq, (parser, items, max_end));
            }
            ToWorker::Merged {
                seq,
                parser,
                names,
                ids,
            } => {
                self.merged.insert(seq, Merged { parser, names, ids });
            }
            ToWorker::End(t) => self.total = Some(t),
            ToWorker::Abort => return false,
        }
        true
    }
}

/// A merged piece as a shard keeps it until its turn.
struct Merged {
    parser: Option<usize>,
    names: Arc<[String]>,
    ids: Arc<[EniId]>,
}

impl Worker<'_> {
    fn run<S: WindowSink>(
        self,
        inbox: Receiver<ToWorker>,
        sink: S,
    ) -> Option<WorkerEnd<S::Output>> {
        let mut parser = ChunkParser::new(self.base, self.max_enis);
        // Records that cannot become observations are only counted.
        let mut unplaced = Windower::new(self.cfg.clone());
        let mut route: Vec<usize> = Vec::new();
        let mut driver = ShardDriver::new(&self.cfg, sink);
        let mut names = self.base.clone();
        names.ensure_index();
        let identity: Vec<EniId> = (0..self.base.len() as u64).map(|i| i as EniId).collect();
        let mut maps: Vec<Vec<EniId>> = vec![identity; self.shards];
        let mut q = Queues::default();
        let mut next = 0u64;
        let mut max_end = 0u64;
        let lateness = u64::from(self.cfg.allowed_lateness_secs);
        // Records of small chunks waiting to make a block.
        let mut pending: Vec<Item> = Vec::new();
        loop {
            while let Ok(m) = inbox.try_recv() {
                if !q.take(m) {
                    return None;
                }
            }
            // The shard: pieces in input order, as far as they are parsed and merged.
            let before = next;
            while let Some(m) = q.merged.get(&next) {
                if m.parser.is_some() && !q.items.contains_key(&next) {
                    break;
                }
                let Some(m) = q.merged.remove(&next) else {
                    break;
                };
                for n in m.names.iter() {
                    names.intern(n.as_bytes());
                }
                if let Some(p) = m.parser {
                    if let Some(map) = maps.get_mut(p) {
                        map.extend_from_slice(&m.ids);
                    }
                    if let Some((from, mut batch, chunk_max)) = q.items.remove(&next) {
                        let x = Xlate {
                            ids: maps.get(from).map_or(&[][..], Vec::as_slice),
                            base_end: max_end,
                            lateness,
                        };
                        max_end = max_end.max(chunk_max);
                        let wm_after = max_end.saturating_sub(lateness);
                        // A chunk of at least half a `BLOCK` of records is a block on its own,
                        // applied as the parser wrote and counted it; records of small chunks
                        // (small files end a chunk) are gathered into one first, since
                        // grouping by ENI needs runs of records per ENI.
                        if pending.is_empty() && batch.items.len() >= BLOCK / 2 {
                            driver.feed_grouped(
                                &batch.items,
                                &mut batch.group,
                                x,
                                wm_after,
                                &names,
                            );
                        } else {
                            batch.group.reset();
                            pending.extend(batch.items.iter().map(|&(mut it)| {
                                it.set_interface(x.eni(it.eni()));
                                it.set_watermark(x.watermark(it.watermark()));
                                it
                            }));
                            if pending.len() >= BLOCK {
                                driver.feed_block(&pending, wm_after, &names);
                                pending.clear();
                            }
                        }
                        batch.items.clear();
                        if let Ok(mut pool) = self.pool.lock() {
                            pool.push(batch);
                        }
                    }
                }
                next += 1;
            }
            if next != before
                && self
                    .lead
                    .send(ToLead::Processed {
                        worker: self.w,
                        upto: next,
                    })
                    .is_err()
            {
                return None;
            }
            if q.total == Some(next) {
                break;
            }
            // The parser: one chunk, its records routed to the shards.
            if let Some((seq, chunk)) = q.raws.pop_front() {
                let mut out: Vec<Batch> = (0..self.shards)
                    .map(|_| {
                        self.pool
                            .lock()
                            .ok()
                            .and_then(|mut p| p.pop())
                            .unwrap_or_default()
                    })
                    .collect();
                // Room for the shard's share of the chunk's records (≈ 115 bytes of text a
                // record), asked for at once and backed by huge pages before the first write:
                // batches are recycled, so this happens while the pool fills.
                let want = chunk.data.len() / 96 / self.shards + 1024;
                for b in &mut out {
                    if b.items.capacity() < want {
                        b.items.reserve_exact(want - b.items.len());
                        crate::mem::advise_huge(&mut b.items);
                    }
                }
                let mut chunk_max = 0u64;
                let shards = self.shards;
                let outcome = parser.parse(&chunk, |rec, local| {
                    let before = chunk_max;
                    if let Some(t) = rec.end.or(rec.start) {
                        chunk_max = chunk_max.max(t);
                    }
                    // Records without ENI or `start` are only counted (what
                    // `Slot::fill_from` would refuse); the others are written in place in
                    // their shard's batch.
                    let (Some(eni), Some(_)) = (rec.eni, rec.start) else {
                        unplaced.push(rec, 0);
                        return;
                    };
                    let s = route_of(&mut route, local, eni, shards);
                    if let Some(b) = out.get_mut(s) {
                        b.items.push(Slot::EMPTY);
                        let filled = b.items.last_mut().map(|it| {
                            it.set_watermark(before);
                            it.fill_from(rec)
                        });
                        if let Some(Ok(())) = filled {
                            b.group.count(eni);
                        } else {
                            b.items.pop();
                            unplaced.push(rec, 0);
                        }
                    }
                });
                for (s, v) in out.into_iter().enumerate() {
                    let msg = ToWorker::Items {
                        seq,
                        parser: self.w,
                        items: v,
                        max_end: chunk_max,
                    };
                    if s == self.w {
                        q.take(msg);
                    } else if self.peers.get(s).is_none_or(|tx| tx.send(msg).is_err()) {
                        return None;
                    }
                }
                let parsed = ToLead::Parsed {
                    seq,
                    parser: self.w,
                    chunk,
                    outcome,
                };
                if self.lead.send(parsed).is_err() {
                    return None;
                }
                continue;
            }
            match inbox.recv() {
                Ok(m) => {
                    if !q.take(m) {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
        if !pending.is_empty() {
            driver.feed_block(&pending, max_end.saturating_sub(lateness), &names);
        }
        let (output, mut end) = driver.end(&names);
        end.stats.add(unplaced.stats());
        Some((output, end, max_end))
    }
}
