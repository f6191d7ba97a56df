//! `flowvigil features`: per-ENI window feature vectors as CSV (columns `eni,window_start,` then
//! every name of [`FEATURE_NAMES`], raw units), for notebooks and other detectors.
//!
//! Values are written as Rust's `{}` would write them (whole numbers below 9e15 as integers),
//! byte for byte, but without `core::fmt`: each row is assembled in a fixed scratch
//! ([`write_row`]) with fast forms for zero, whole numbers (SWAR digits) and ratios (zmij's
//! shortest digits, when no rounding tie is possible; the ratio columns' texts are kept in a
//! small [`FloatCache`], as their values repeat); anything else takes the plain path
//! ([`write_value_plain`], [`push_display_f64`]). Proptests check each form against the plain
//! path and the plain path against the standard library.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use super::writer::{Target, ThreadWriter};

use flowvigil::features::{FeatureVector, WindowFeatures, FEATURE_NAMES, NUM_FEATURES};
use flowvigil::flowlog::{
    write_header, write_record, Field, Interner, LogReader, ReadOptions, ALL_FIELDS, DIGIT_PAIRS,
};
use flowvigil::window::{
    plan_threads, run_parallel, run_pipelined, run_sharded, WindowConfig, WindowSink,
};

/// Flags of `flowvigil features`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Flow log files, `.gz` or `.parquet` files, folders (walked recursively), or `-` for stdin.
    #[arg(required = true, value_name = "LOGS")]
    pub inputs: Vec<PathBuf>,
    /// Output CSV file, `-` for stdout.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "-")]
    pub out: PathBuf,
    /// Threads: two over default-v2 input run as a pipeline (one thread reads, both window the
    /// ENIs' shards); otherwise each thread parses chunks of the input and windows one shard of
    /// the ENIs (with --late-out one thread reads and the others window). The output is the
    /// same for any value.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threads: usize,
    /// Window width in seconds.
    #[arg(long, value_name = "SECS", default_value_t = WindowConfig::default().window_secs)]
    pub window_secs: u32,
    /// How far (event time) behind the highest `end` seen a record may arrive and still count.
    #[arg(long, value_name = "SECS", default_value_t = WindowConfig::default().allowed_lateness_secs)]
    pub allowed_lateness_secs: u32,
    /// Write late records (their window had closed) to this file, as flow-log text with a header.
    #[arg(long, value_name = "FILE")]
    pub late_out: Option<PathBuf>,
    /// Field list of header-less input, e.g. "version account-id interface-id srcaddr ...".
    #[arg(long, value_name = "FIELDS")]
    pub format: Option<String>,
    /// Stop at the first malformed line (exit 1) instead of counting it (exit 2 at the end).
    #[arg(long)]
    pub strict: bool,
}

/// CSV rows of one shard, ordered by (window start, ENI name) within the shard. With one shard
/// the order is already global and rows go straight to the output; with several, each block's
/// rows go to the shared [`Merger`], which writes them in the one order as soon as every shard
/// is past their window start.
struct CsvRows {
    /// Each row's place in `text` (rows start where the previous ended).
    index: Vec<RowRef>,
    text: Vec<u8>,
    direct: Option<Box<dyn Write + Send>>,
    /// Several shards: the merger and this shard's number.
    shared: Option<(Arc<Mutex<Merger>>, usize)>,
    /// The window width, seconds.
    width: u64,
    error: Option<std::io::Error>,
    /// Scratch for one row's numbers, copied to `text` in one go.
    row: Box<[u8; ROW_SCRATCH]>,
    /// The ratio columns' recent texts.
    ratios: FloatCache,
}

impl CsvRows {
    fn new(direct: Option<Box<dyn Write + Send>>) -> Self {
        Self {
            index: Vec::new(),
            text: Vec::new(),
            direct,
            shared: None,
            width: 1,
            error: None,
            row: Box::new([0; ROW_SCRATCH]),
            ratios: FloatCache::new(),
        }
    }

    fn shard(merger: &Arc<Mutex<Merger>>, shard: usize, width: u64) -> Self {
        Self {
            shared: Some((Arc::clone(merger), shard)),
            width: width.max(1),
            ..Self::new(None)
        }
    }

    /// Hands the rows so far to the merger, whose next rows from this shard start at `floor`
    /// or later, and lets it write what is ready. The rows' buffers themselves go over (no
    /// copy); the shard goes on with a recycled pair.
    ///
    /// When another thread holds the merger, the rows wait for the shard's next hand-over
    /// (after its next block) instead of the thread: a thread holds the merger for
    /// microseconds, but a thread that sleeps on a lock on a virtual machine halts its
    /// virtual CPU, and the host may take milliseconds to run it again, or stop the holder's
    /// for tens of milliseconds (seen with `perf sched` on the peer benchmark's two-thread
    /// run: waits of 2-4 ms for a lock held under 2 µs, and of 25-80 ms about once every few
    /// runs). The last hand-over, and one with [`HAND_OVER_MAX`] bytes of rows waiting, take
    /// the lock whatever the wait.
    fn hand_over(&mut self, floor: u64) {
        let Some((merger, shard)) = &self.shared else {
            return;
        };
        let m = if floor == u64::MAX || self.text.len() >= HAND_OVER_MAX {
            merger.lock().ok()
        } else {
            match merger.try_lock() {
                Ok(m) => Some(m),
                Err(std::sync::TryLockError::Poisoned(_)) => None,
                Err(std::sync::TryLockError::WouldBlock) => return,
            }
        };
        let Some(mut m) = m else {
            self.error
                .get_or_insert_with(|| std::io::Error::other("a shard thread panicked"));
            return;
        };
        let m = &mut *m;
        let mut came = false;
        if let Some(p) = m.shards.get_mut(*shard) {
            if !self.index.is_empty() {
                came = !p.has_head();
                let fresh = m.spare.pop().unwrap_or_default();
                p.blocks.push_back(Block {
                    text: std::mem::replace(&mut self.text, fresh.text),
                    index: std::mem::replace(&mut self.index, fresh.index),
                    next: 0,
                });
            }
            p.floor = p.floor.max(floor);
        }
        if came {
            m.rebuild();
        }
        m.write_ready();
    }
}

/// Bytes of rows a shard keeps when the merger is busy before it waits for the merger (see
/// `CsvRows::hand_over`): about 5,000 rows, a few blocks of the peer benchmark's.
const HAND_OVER_MAX: usize = 1 << 20;

/// The output of a run on several shards: each shard's rows, in its order, until every shard
/// is past their window start; then they are written merged by (window start, ENI name), the
/// order of a one-shard run. Rows wait about the allowed lateness plus a window (not the whole
/// run), unless a shard gets no records for long.
///
/// Shards hand over whole blocks of rows (their buffers, swapped for recycled ones, so no row
/// is copied under the lock); the merger plays the shards' next rows in a loser tree (keys in
/// its nodes), so the choice of the next row costs log2(shards) integer comparisons (the
/// writing shard's way up; whole names only when 16-byte prefixes tie).
struct Merger {
    out: Box<dyn Write + Send>,
    shards: Vec<Pending>,
    /// A loser tree over the shards' next rows: the shards are its leaves (numbered from
    /// `tree.len()` on, not stored); each inner node (1 up) holds the shard, with its next
    /// row's key, that lost the game there (the winner went up).
    tree: Vec<Node>,
    /// The overall winner: the next row of all.
    top: Node,
    /// Emptied blocks, for the shards to fill again (at most two a shard).
    spare: Vec<Block>,
    error: Option<std::io::Error>,
}

/// A row of a shard's text: its order key and where it ends.
#[derive(Clone, Copy, Debug)]
struct RowRef {
    /// The window start.
    ws: u64,
    /// The ENI name's first 16 bytes, big-endian, zero-padded: names with different prefixes
    /// order as their prefixes do (equal prefixes are decided by the whole names).
    prefix: u128,
    /// Where the name ends (it starts where the row does).
    name_end: usize,
    /// Where the row ends.
    end: usize,
}

impl RowRef {
    /// The row of window start `ws` and ENI `name` that ends at `end`, its name at `name_end`.
    fn new(ws: u64, name: &[u8], name_end: usize, end: usize) -> Self {
        let mut p = [0u8; 16];
        let n = name.len().min(16);
        if let (Some(d), Some(s)) = (p.get_mut(..n), name.get(..n)) {
            d.copy_from_slice(s);
        }
        Self {
            ws,
            prefix: u128::from_be_bytes(p),
            name_end,
            end,
        }
    }
}

/// A block of one shard's rows as handed over: rows from `next` on are not written yet.
#[derive(Default)]
struct Block {
    text: Vec<u8>,
    index: Vec<RowRef>,
    next: usize,
}

impl Block {
    /// Where row `k` starts.
    fn start(&self, k: usize) -> usize {
        match k.checked_sub(1) {
            Some(j) => self.index.get(j).map_or(0, |r| r.end),
            None => 0,
        }
    }

    /// Row `k`'s ENI name.
    fn name(&self, k: usize) -> &[u8] {
        let end = self.index.get(k).map_or(0, |r| r.name_end);
        self.text.get(self.start(k)..end).unwrap_or(b"")
    }
}

/// A node of the merger's winner tree: a shard and its next row's key (`u64::MAX` when it
/// has none).
#[derive(Clone, Copy)]
struct Node {
    ws: u64,
    prefix: u128,
    shard: usize,
}

impl Node {
    /// No row (and no shard).
    const NONE: Node = Node {
        ws: u64::MAX,
        prefix: u128::MAX,
        shard: usize::MAX,
    };
}

/// One shard's rows not yet written, oldest block first.
#[derive(Default)]
struct Pending {
    blocks: std::collections::VecDeque<Block>,
    /// Every row still to come from this shard has a window start at or after this.
    floor: u64,
}

impl Pending {
    /// The next row's key, `(u64::MAX, u128::MAX)` when there is none.
    fn head(&self) -> (u64, u128) {
        self.blocks
            .front()
            .and_then(|b| b.index.get(b.next))
            .map_or((u64::MAX, u128::MAX), |r| (r.ws, r.prefix))
    }

    /// Whether the shard has a row to write.
    fn has_head(&self) -> bool {
        self.blocks.front().is_some_and(|b| b.next < b.index.len())
    }

    /// The next row's name.
    fn head_name(&self) -> &[u8] {
        self.blocks.front().map_or(b"", |b| b.name(b.next))
    }
}

impl Merger {
    fn new(out: Box<dyn Write + Send>, shards: usize) -> Self {
        Self {
            out,
            shards: (0..shards).map(|_| Pending::default()).collect(),
            tree: vec![Node::NONE; shards.next_power_of_two()],
            top: Node::NONE,
            spare: Vec::new(),
            error: None,
        }
    }

    /// Shard `i`'s leaf: the shard with its next row's key (no row: last of all).
    fn leaf(&self, i: usize) -> Node {
        match self.shards.get(i) {
            Some(p) => {
                let (ws, prefix) = p.head();
                Node {
                    ws,
                    prefix,
                    shard: i,
                }
            }
            None => Node::NONE,
        }
    }

    /// Plays every game again (a shard's next row came earlier: it had none).
    fn rebuild(&mut self) {
        self.top = self.build(1);
    }

    /// Plays the games below `node`, keeping each loser there; returns the winner.
    fn build(&mut self, node: usize) -> Node {
        let size = self.tree.len();
        if node >= size {
            return self.leaf(node - size);
        }
        let l = self.build(2 * node);
        let r = self.build(2 * node + 1);
        let (w, lost) = if self.before(&r, &l) { (r, l) } else { (l, r) };
        if let Some(t) = self.tree.get_mut(node) {
            *t = lost;
        }
        w
    }

    /// Whether node `a` sorts before node `b`: by key, then (rare: equal 16-byte prefixes)
    /// by the shards' next names (names of different shards differ). No row sorts last.
    #[inline(always)]
    fn before(&self, a: &Node, b: &Node) -> bool {
        if a.ws != b.ws {
            return a.ws < b.ws;
        }
        if a.prefix != b.prefix {
            return a.prefix < b.prefix;
        }
        self.tie(a.shard, b.shard)
    }

    /// Equal keys: shard `a`'s next name sorts before shard `b`'s.
    #[inline(never)]
    fn tie(&self, a: usize, b: usize) -> bool {
        match (self.shards.get(a), self.shards.get(b)) {
            (Some(p), Some(q)) if p.has_head() && q.has_head() => p.head_name() < q.head_name(),
            _ => false,
        }
    }

    /// Shard `i`, the winner, has a later next row: it plays the losers on its way up.
    fn replay(&mut self, i: usize) {
        let mut cur = self.leaf(i);
        let mut node = (self.tree.len() + i) / 2;
        while node >= 1 {
            if let Some(t) = self.tree.get(node).copied() {
                if self.before(&t, &cur) {
                    if let Some(slot) = self.tree.get_mut(node) {
                        *slot = cur;
                    }
                    cur = t;
                }
            }
            node /= 2;
        }
        self.top = cur;
    }

    /// Writes, in order, every row whose window start is below every shard's floor (no shard
    /// can hand over an earlier row any more).
    fn write_ready(&mut self) {
        let bound = self
            .shards
            .iter()
            .map(|p| p.floor)
            .min()
            .unwrap_or(u64::MAX);
        loop {
            // The tree's winner is the smallest next row of all shards.
            if self.top.ws >= bound {
                break;
            }
            let i = self.top.shard;
            let Some(p) = self.shards.get_mut(i) else {
                break;
            };
            let Some(b) = p.blocks.front_mut() else {
                break;
            };
            if self.error.is_none() {
                let end = b.index.get(b.next).map_or(0, |r| r.end);
                let row = b.text.get(b.start(b.next)..end).unwrap_or(b"");
                if let Err(e) = self.out.write_all(row) {
                    self.error = Some(e);
                }
            }
            b.next += 1;
            if b.next >= b.index.len() {
                // The block is done: recycle it.
                if let Some(mut b) = p.blocks.pop_front() {
                    if self.spare.len() < 2 * self.shards.len() {
                        b.text.clear();
                        b.index.clear();
                        b.next = 0;
                        self.spare.push(b);
                    }
                }
            }
            self.replay(i);
        }
    }
}

impl WindowSink for CsvRows {
    type Output = CsvRows;
    fn accept(&mut self, w: WindowFeatures) {
        self.accept_named(w, &Interner::new());
    }
    fn accept_named(&mut self, w: WindowFeatures, names: &Interner) {
        let name = names.name(w.eni).as_bytes();
        let row_start = self.text.len();
        let n = write_row(
            name,
            w.window_start,
            &w.values,
            &mut self.row,
            &mut self.text,
            &mut self.ratios,
        );
        let row = self.row.get(..n).unwrap_or_default();
        if let Some(out) = &mut self.direct {
            if self.error.is_none() {
                // `text` holds only what did not fit the scratch: nearly always nothing.
                let mut res = if self.text.is_empty() {
                    Ok(())
                } else {
                    out.write_all(&self.text)
                };
                if res.is_ok() {
                    res = out.write_all(row);
                }
                if let Err(e) = res {
                    self.error = Some(e);
                }
            }
            self.text.clear();
        } else {
            self.text.extend_from_slice(row);
            let r = RowRef::new(
                w.window_start,
                name,
                row_start + name.len(),
                self.text.len(),
            );
            self.index.push(r);
        }
    }
    fn progress(&mut self, watermark: u64) {
        // Windows still to come end after the watermark: they start after `watermark - width`.
        if self.shared.is_some() {
            let floor = watermark
                .checked_sub(self.width)
                .map_or(0, |s| s.saturating_add(1));
            self.hand_over(floor);
        }
    }
    fn finish(mut self) -> Self {
        if let Some(out) = &mut self.direct {
            if let Err(e) = out.flush() {
                self.error.get_or_insert(e);
            }
        }
        self.hand_over(u64::MAX);
        self
    }
}

/// Runs `flowvigil features`: exit 0, or 2 when bad lines were counted; errors exit 1.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = WindowConfig {
        window_secs: args.window_secs,
        allowed_lateness_secs: args.allowed_lateness_secs,
        // The CSV holds the feature vector only; evidence would be computed and thrown away.
        evidence: false,
        ..WindowConfig::default()
    };
    cfg.validate().context("--window-secs")?;
    let opts = super::common::read_options(
        args.strict,
        args.format.as_deref(),
        ReadOptions::default().max_enis,
        "--format",
    )?;
    let mut reader = LogReader::open(&args.inputs, opts)?;
    let threads = args.threads.max(1);
    let to_stdout = args.out.as_os_str() == "-";
    let creating = || format!("creating {}", args.out.display());
    let mut out: Box<dyn Write + Send> = if threads == 1 {
        if to_stdout {
            Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout()))
        } else {
            Box::new(BufWriter::with_capacity(
                1 << 16,
                File::create(&args.out).with_context(creating)?,
            ))
        }
    } else {
        // Several threads: the rows are written by a thread of their own (see
        // `super::writer`); a file is opened here, so that an error comes at once, and
        // truncated there.
        let target = if to_stdout {
            Target::Plain(Box::new(std::io::stdout()))
        } else {
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                // Truncated on the output thread (`Target::Truncate`).
                .truncate(false)
                .open(&args.out)
                .with_context(creating)?;
            Target::Truncate(f)
        };
        Box::new(ThreadWriter::spawn(target).context("starting the output thread")?)
    };
    let mut header = b"eni,window_start".to_vec();
    for n in FEATURE_NAMES {
        header.push(b',');
        header.extend_from_slice(n.as_bytes());
    }
    header.push(b'\n');
    out.write_all(&header)?;

    let late_fields: Vec<Field> = ALL_FIELDS.iter().map(|(f, _)| *f).collect();
    let mut late_out = match &args.late_out {
        Some(p) => {
            let f = File::create(p).with_context(|| format!("creating {}", p.display()))?;
            let mut w = BufWriter::new(f);
            let mut h = Vec::new();
            write_header(&late_fields, &mut h);
            w.write_all(&h)?;
            Some(w)
        }
        None => None,
    };
    let mut line = Vec::new();
    let on_late = |rec: &flowvigil::flowlog::FlowRecord, names: &Interner| -> std::io::Result<()> {
        if let Some(w) = &mut late_out {
            line.clear();
            write_record(rec, &late_fields, names, &mut line);
            w.write_all(&line)?;
        }
        Ok(())
    };

    let stats = if threads == 1 {
        let mut direct = Some(out);
        let make = |_| CsvRows::new(direct.take());
        let make = std::sync::Mutex::new(make);
        let (outs, stats) = run_sharded(
            &mut reader,
            &cfg,
            1,
            |i| match make.lock() {
                Ok(mut f) => f(i),
                Err(_) => CsvRows::new(None),
            },
            on_late,
        )?;
        check_errors(&outs)?;
        stats
    } else {
        // Rows are written as the shards go, merged into the one-thread order.
        let plan = plan_threads(&reader, threads);
        let shards = plan.shards;
        let merger = Arc::new(Mutex::new(Merger::new(out, shards)));
        let width = u64::from(cfg.window_secs);
        let make = |i| CsvRows::shard(&merger, i, width);
        // Two threads over v2: one reads, the shards' window stage runs on both (the
        // late-record side file is written by the reading thread). Otherwise parsing runs on
        // the shards' threads too, unless late records go to a side file (written at read
        // time, in input order: the reading thread must see the watermark).
        let (outs, stats) = if plan.pipeline {
            run_pipelined(&mut reader, &cfg, shards, 1, make, &mut |_| {}, on_late)?
        } else if args.late_out.is_none() {
            run_parallel(&mut reader, &cfg, shards, make, &mut |_| {})?
        } else {
            run_sharded(&mut reader, &cfg, shards, make, on_late)?
        };
        check_errors(&outs)?;
        drop(outs);
        let mut m = Arc::try_unwrap(merger)
            .map_err(|_| anyhow::anyhow!("writing features: a shard still holds the output"))?
            .into_inner()
            .map_err(|_| anyhow::anyhow!("writing features: a shard thread panicked"))?;
        // Every shard finished (floor at the end): all rows are out.
        m.write_ready();
        if let Some(e) = m.error.take() {
            anyhow::bail!("writing features: {e}");
        }
        m.out.flush().context("writing features")?;
        stats
    };
    if let Some(w) = &mut late_out {
        w.flush()?;
    }

    let read = reader.summary();
    let ws = &stats.window;
    eprintln!(
        "flowvigil features: {} records, {} windows, {} late, {} NODATA, {} SKIPDATA, {} unplaceable, {} bad lines",
        read.records,
        ws.windows,
        ws.late,
        ws.nodata,
        ws.skipdata,
        ws.no_eni + ws.no_start + ws.no_direction + ws.too_far_ahead,
        read.bad_lines
    );
    if stats.enis > 0 {
        eprintln!(
            "flowvigil features: per-ENI history: {} ENIs, {} bytes in all, {} per ENI on average, {} at most",
            stats.enis,
            stats.history_bytes,
            stats.history_bytes / stats.enis,
            stats.history_bytes_max
        );
    }
    if !stats.late_by_eni.is_empty() {
        let mut top = stats.late_by_eni.clone();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let shown: Vec<String> = top
            .iter()
            .take(10)
            .map(|(e, n)| format!("{e}={n}"))
            .collect();
        eprintln!(
            "flowvigil features: late records by ENI (top {} of {}): {}",
            shown.len(),
            top.len(),
            shown.join(" ")
        );
    }
    if read.bad_lines > 0 {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// Bytes of the row scratch: an ENI name of up to [`NAME_IN_SCRATCH`] bytes, the window
/// start and the values in their fast forms take at most that + 21 + [`NUM_FEATURES`] · 24
/// bytes; each value needs a free [`VALUE_SLOT`] before it.
const ROW_SCRATCH: usize = 1024;

/// Longest ENI name put in the row scratch (longer ones go to `text` first).
const NAME_IN_SCRATCH: usize = 256;

/// Room a value in a fast form may take (`,` and at most 23 bytes, rounded up).
const VALUE_SLOT: usize = 32;

// A row in the fast forms never has to flush the scratch half way.
const _: () = assert!(NAME_IN_SCRATCH + 21 + NUM_FEATURES * 24 + VALUE_SLOT <= ROW_SCRATCH);

/// Writes a row, `name,window_start`, `,value` for each value and `\n`, in the bytes of
/// [`write_value`]: its start appended to `text`, the rest (usually all of it) in
/// `row[..n]`, returning `n`. The numbers go into `row` (fixed size, reused across rows) and
/// the caller copies them once, so each value costs a few stores rather than a `Vec` push per
/// byte; a value without a fast form flushes `row` to `text` and is appended the plain way.
fn write_row(
    name: &[u8],
    window_start: u64,
    values: &FeatureVector,
    row: &mut [u8; ROW_SCRATCH],
    text: &mut Vec<u8>,
    cache: &mut FloatCache,
) -> usize {
    let mut at = 0;
    match row.get_mut(..name.len()) {
        Some(d) if name.len() <= NAME_IN_SCRATCH => {
            d.copy_from_slice(name);
            at = name.len();
        }
        _ => text.extend_from_slice(name),
    }
    match slot(row, at) {
        Some(slot) if window_start < 10u64.pow(16) => {
            slot[0] = b',';
            at += push_digits(window_start, slot, 1);
        }
        _ => {
            text.extend_from_slice(row.get(..at).unwrap_or_default());
            at = 0;
            text.push(b',');
            text.extend_from_slice(itoa::Buffer::new().format(window_start).as_bytes());
        }
    }
    for (j, &v) in values.iter().enumerate() {
        if at > ROW_SCRATCH - VALUE_SLOT {
            // Never in practice (see the assertion above); it also lets the compiler drop the
            // bounds check below.
            text.extend_from_slice(row.get(..at).unwrap_or_default());
            at = 0;
        }
        if let Some(n) = slot(row, at).and_then(|slot| fast_value_with(v, slot, Some((cache, j)))) {
            at += n;
        } else {
            text.extend_from_slice(row.get(..at).unwrap_or_default());
            at = 0;
            write_value_plain(v, text);
        }
    }
    match row.get_mut(at) {
        Some(b) => {
            *b = b'\n';
            at + 1
        }
        None => {
            text.extend_from_slice(row.get(..at).unwrap_or_default());
            text.push(b'\n');
            0
        }
    }
}

/// The [`VALUE_SLOT`] bytes of `row` at `at`, if there is room.
#[inline(always)]
fn slot(row: &mut [u8; ROW_SCRATCH], at: usize) -> Option<&mut [u8; VALUE_SLOT]> {
    row.get_mut(at..at.checked_add(VALUE_SLOT)?)?
        .try_into()
        .ok()
}

/// Writes `,` and a value as Rust's `{}` would (shortest round-trip form), with a fast path
/// for whole numbers, which most features are (float formatting was a tenth of the run time).
/// Whole numbers below 9e15 print as integers (so `-0.0` prints `0`, as it always has here).
/// (The rows use [`write_row`], which writes the same bytes.)
#[cfg(test)]
fn write_value(v: f64, out: &mut Vec<u8>) {
    let mut slot = [0u8; VALUE_SLOT];
    match fast_value(v, &mut slot) {
        Some(n) => out.extend_from_slice(slot.get(..n).unwrap_or_default()),
        None => write_value_plain(v, out),
    }
}

/// [`write_value`] without the fast forms of [`fast_value`].
fn write_value_plain(v: f64, out: &mut Vec<u8>) {
    out.push(b',');
    // `v as i64` is exact below 9e15 (and `fract() == 0.0` costs a libm call here).
    let i = v as i64;
    if v.abs() < 9.0e15 && i as f64 == v {
        out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    } else {
        push_display_f64(v, out);
    }
}

/// Writes `,` and `v` into `slot` in the bytes of [`write_value_plain`] and returns how many,
/// for the two common kinds of value; `None` (slot contents unspecified) for the rest:
/// - whole numbers below 2^52 (counts, byte sums): the integer's digits ([`push_digits`]);
/// - `1e-4 ≤ |v| < 9e15` with at least 23 binary fraction bits (ratios, logarithms):
///   zmij's text as is. In that range zmij writes plain decimals (it switches to exponents
///   outside 1e-5..1e16), and a tie between two shortest candidates ([`push_shortest`]) needs
///   exactly one fraction digit fewer than `v` has fraction bits, while zmij's text here is at
///   most 23 bytes (checked), so at most 21 fraction digits: no tie is possible.
#[cfg(test)]
fn fast_value(v: f64, slot: &mut [u8; VALUE_SLOT]) -> Option<usize> {
    fast_value_with(v, slot, None)
}

/// [`fast_value`] for column `j` of a row, the ratio texts taken from and kept in `cache`
/// when it is given and `j` is one of its columns.
#[inline(always)]
fn fast_value_with(
    v: f64,
    slot: &mut [u8; VALUE_SLOT],
    cache: Option<(&mut FloatCache, usize)>,
) -> Option<usize> {
    slot[0] = b',';
    if v.to_bits() << 1 == 0 {
        // ±0, two values in five: `0`.
        slot[1] = b'0';
        return Some(2);
    }
    let a = v.abs();
    if a < TWO_52 {
        // Below 2^52, `a + 2^52` rounds `a` to an integer, held in the low mantissa bits: `a`
        // is whole when the sum minus 2^52 (exact) gives `a` back. Cheaper than `v as i64`,
        // which saturates.
        let t = a + TWO_52;
        if t - TWO_52 == a {
            let u = t.to_bits() & ((1 << 52) - 1);
            // The sign, kept when negative (zero, whose sign is dropped, is done above).
            slot[1] = b'-';
            let at = 1 + usize::from(v < 0.0);
            if u < 10 {
                // Counts are mostly single digits.
                if let Some(d) = slot.get_mut(at) {
                    *d = b'0' + u as u8;
                }
                return Some(at + 1);
            }
            if u < 100 {
                if let (Some(d), Some(pair)) = (
                    slot.get_mut(at..at + 2),
                    DIGIT_PAIRS.get(2 * u as usize..2 * u as usize + 2),
                ) {
                    d.copy_from_slice(pair);
                }
                return Some(at + 2);
            }
            if u < 10_000 {
                // Three or four digits: the last two steps of `digits8` on one 32-bit lane.
                let hi = (u * 10_486) >> 20;
                let x = hi | ((u - hi * 100) << 16);
                let hi = ((x * 103) >> 10) & 0x000f_000f;
                let x = (hi | ((x - hi * 10) << 8)) + 0x3030_3030;
                let short = usize::from(u < 1000);
                if let Some(d) = slot.get_mut(at..at + 4) {
                    d.copy_from_slice(&((x >> (8 * short)) as u32).to_le_bytes());
                }
                return Some(at + 4 - short);
            }
            return Some(push_digits(u, slot, at));
        }
    }
    // False for NaN.
    if !(1e-4..9.0e15).contains(&a) {
        return None;
    }
    // Fraction bits (`a` is normal here, `a = (2^52 + frac) · 2^(biased - 1075)`):
    // 1075 - biased - trailing_zeros(2^52 + frac) ≥ 23.
    let bits = a.to_bits();
    if u64::from((bits | 1 << 52).trailing_zeros()) + (bits >> 52) > 1052 {
        return None;
    }
    if let Some((cache, j)) = cache {
        if cache.columns.get(j) == Some(&true) {
            return cache.shortest(v, slot);
        }
    }
    shortest_in_slot(v, slot)
}

/// zmij's text of `v` after the `,` in `slot` (see [`fast_value`] for when it is the CSV's).
#[inline(always)]
fn shortest_in_slot(v: f64, slot: &mut [u8; VALUE_SLOT]) -> Option<usize> {
    let mut buf = zmij::Buffer::new();
    let s = buf.format_finite(v).as_bytes();
    copy_short(s, slot)
}

/// Columns whose values are ratios of two counts (`rejected / flows`, `small / flows`, ...):
/// few distinct values, each seen again and again (on the 500 k benchmark file about 900
/// distinct values in 14,000, where the other float columns hardly repeat).
const RATIO_COLUMNS: [&str; 4] = [
    "reject_ratio_in",
    "reject_ratio_out",
    "small_flow_frac",
    "syn_only_frac",
];

/// Entries of [`FloatCache`]: 2^10 (32 KiB, of which a row reads at most four entries).
const FLOAT_CACHE_ENTRIES: usize = 1 << FLOAT_CACHE_BITS;

/// The bits of a [`FloatCache`] index.
const FLOAT_CACHE_BITS: u32 = 10;

/// The last texts written for the [`RATIO_COLUMNS`], direct-mapped by the value's bits, so a
/// ratio seen before skips zmij's shortest-digit search (≈ 170 instructions). Fixed size; an
/// entry holds a value's bits and the slot bytes [`shortest_in_slot`] wrote for it, so a hit
/// writes the same bytes as a miss. Bits 0 (the initial, empty entries) never reach it: zero
/// is a fast form of its own.
struct FloatCache {
    /// Which columns of the feature vector use the cache.
    columns: [bool; NUM_FEATURES],
    entries: Box<[FloatEntry]>,
}

/// One [`FloatCache`] entry (32 bytes): a value's bits, and the 23 bytes after the `,` of
/// its slot followed by the slot's length (at most 24: [`copy_short`]).
#[derive(Clone, Copy)]
struct FloatEntry {
    bits: u64,
    text: [u8; 24],
}

impl FloatCache {
    fn new() -> Self {
        let mut columns = [false; NUM_FEATURES];
        for (c, name) in columns.iter_mut().zip(FEATURE_NAMES) {
            *c = RATIO_COLUMNS.contains(&name);
        }
        Self::with_columns(columns)
    }

    fn with_columns(columns: [bool; NUM_FEATURES]) -> Self {
        let empty = FloatEntry {
            bits: 0,
            text: [0; 24],
        };
        Self {
            columns,
            entries: vec![empty; FLOAT_CACHE_ENTRIES].into_boxed_slice(),
        }
    }

    /// [`shortest_in_slot`] through the cache.
    #[inline(always)]
    fn shortest(&mut self, v: f64, slot: &mut [u8; VALUE_SLOT]) -> Option<usize> {
        let bits = v.to_bits();
        let i = (bits.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - FLOAT_CACHE_BITS)) as usize;
        let Some(e) = self.entries.get_mut(i) else {
            return shortest_in_slot(v, slot);
        };
        if e.bits == bits {
            // The byte after the text (the length) lands past the slot's end: unspecified.
            if let Some(d) = slot.get_mut(1..25) {
                d.copy_from_slice(&e.text);
            }
            return Some(usize::from(e.text[23]));
        }
        let n = shortest_in_slot(v, slot)?;
        if let Some(t) = slot.get(1..24) {
            e.text[..23].copy_from_slice(t);
            e.text[23] = n as u8;
            e.bits = bits;
        }
        Some(n)
    }
}

/// Copies `s` (at most 23 bytes, else `None`) to `slot[1..]` and returns `s.len() + 1`; two
/// overlapping fixed-size copies instead of a `memcpy` call.
#[inline(always)]
fn copy_short(s: &[u8], slot: &mut [u8; VALUE_SLOT]) -> Option<usize> {
    let n = s.len();
    if n > 23 {
        return None;
    }
    if n >= 16 {
        let (head, tail) = (s.get(..16)?, s.get(n - 16..)?);
        slot.get_mut(1..17)?.copy_from_slice(head);
        slot.get_mut(n - 15..n + 1)?.copy_from_slice(tail);
    } else if n >= 8 {
        let (head, tail) = (s.get(..8)?, s.get(n - 8..)?);
        slot.get_mut(1..9)?.copy_from_slice(head);
        slot.get_mut(n - 7..n + 1)?.copy_from_slice(tail);
    } else {
        slot.get_mut(1..n + 1)?.copy_from_slice(s);
    }
    Some(n + 1)
}

/// 2^52: from there on every `f64` is whole.
const TWO_52: f64 = 4_503_599_627_370_496.0;

/// The eight decimal digits of `u < 10^8`, most significant first, one a byte (values 0-9,
/// little-endian: the first digit in the lowest byte), by splitting in halves with
/// multiplications, all lanes at once (4+4 digits, then 2+2, then 1+1).
#[inline(always)]
fn digits8(u: u64) -> u64 {
    // Lanes of 32 bits: the high four digits in the low lane.
    let x = (u / 10_000) | ((u % 10_000) << 32);
    // Each lane < 10^4: `· 10486 >> 20` is `/ 100` there, and the products stay in the lane.
    let hi = ((x * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let x = hi | ((x - hi * 100) << 16);
    // Lanes of 16 bits, each < 100: `· 103 >> 10` is `/ 10` there.
    let hi = ((x * 103) >> 10) & 0x000f_000f_000f_000f;
    hi | ((x - hi * 10) << 8)
}

/// Writes the decimal digits of `u < 10^16` at `slot[at..]` (`at ≤ 8`) and returns where
/// they end; the bytes of `itoa`.
#[inline(always)]
fn push_digits(u: u64, slot: &mut [u8; VALUE_SLOT], at: usize) -> usize {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    let (hi, lo) = (u / 100_000_000, u % 100_000_000);
    // The leading part: `hi`'s digits when there are any, else `lo`'s; leading zero digits
    // are zero bytes at the low end (the top byte is kept, so 0 prints "0").
    let lead = digits8(if hi > 0 { hi } else { lo });
    let zeros = ((lead | 1 << 56).trailing_zeros() / 8) as usize;
    let mut end = at + 8 - zeros;
    if let Some(d) = slot.get_mut(at..at + 8) {
        d.copy_from_slice(&((lead + ZEROS) >> (8 * zeros)).to_le_bytes());
    }
    if hi > 0 {
        if let Some(d) = slot.get_mut(end..end + 8) {
            d.copy_from_slice(&(digits8(lo) + ZEROS).to_le_bytes());
        }
        end += 8;
    }
    end
}

/// Appends exactly the bytes of `format!("{v}")`: the shortest digits that round-trip (from
/// `zmij`, a Schubfach formatter, several times cheaper than `core::fmt`'s Grisu), laid out as
/// `Display` does (plain decimal, never an exponent; `-0`, `NaN`, `inf`, `-inf`).
///
/// The two differ in one rule: when `v` lies exactly halfway between the two nearest shortest
/// candidates, zmij takes the even one and `core::fmt` the one of larger magnitude (e.g.
/// 1351332354.36328125: `...6328125` → zmij `.3632812`, std `.3632813`). Such ties are detected
/// exactly (integer arithmetic in `u128`) and moved up; where that arithmetic cannot decide
/// (magnitudes beyond about 2^74 or below about 10^-20) the value goes through `core::fmt`.
/// `display_f64_is_std_display` in the tests checks it against the standard library.
fn push_display_f64(v: f64, out: &mut Vec<u8>) {
    if !v.is_finite() || !push_shortest(v, out) {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{v}");
    }
}

/// [`push_display_f64`] through zmij; false, writing nothing, when a tie cannot be ruled out.
fn push_shortest(v: f64, out: &mut Vec<u8>) -> bool {
    let mut buf = zmij::Buffer::new();
    let s = buf.format_finite(v).as_bytes();
    // The common case: "[-]d+.d+" with a fraction that is not ".0" is already Display's text,
    // unless a tie was broken the other way; most values rule that out in a few operations.
    if let Some(dot) = s.iter().position(|&b| b == b'.') {
        let frac = s.get(dot + 1..).unwrap_or_default();
        if frac != b"0" && frac.iter().all(u8::is_ascii_digit) {
            let k = -(frac.len() as i64);
            if !tie_possible(v.abs(), k) {
                out.extend_from_slice(s);
                return true;
            }
        }
    }
    // zmij prints `[-]digits[.digits][e[+-]exp]`: gather the significant digits and where the
    // decimal point falls among them.
    let s = s.strip_prefix(b"-").unwrap_or(s);
    let (mant, exp) = match s.iter().position(|&b| b == b'e') {
        Some(i) => {
            let (m, e) = s.split_at(i);
            let e = e.get(1..).unwrap_or_default();
            let (eneg, e) = match e.split_first() {
                Some((b'-', rest)) => (true, rest),
                Some((b'+', rest)) => (false, rest),
                _ => (false, e),
            };
            let mag = e
                .iter()
                .fold(0i64, |a, &d| a * 10 + i64::from(d.wrapping_sub(b'0')));
            (m, if eneg { -mag } else { mag })
        }
        None => (s, 0),
    };
    // The significant digits as an integer `c` (at most 18 digits with the zeros zmij puts
    // before its ".0"), and `v = ±c · 10^k`.
    let mut c = 0u64;
    let mut n = 0i64;
    let mut int_len = None;
    for &b in mant {
        if b == b'.' {
            int_len = Some(n);
        } else {
            // Leading zeros ("0.000123") are place holders: they leave `c` at 0.
            let Some(x) = c
                .checked_mul(10)
                .and_then(|x| x.checked_add(u64::from(b.wrapping_sub(b'0'))))
            else {
                return false;
            };
            c = x;
            n += 1;
        }
    }
    let frac_len = n - int_len.unwrap_or(n);
    let mut k = exp - frac_len;
    let at = out.len();
    if v.is_sign_negative() {
        out.push(b'-');
    }
    if c == 0 {
        out.push(b'0');
        return true;
    }
    match is_upper_tie(v.abs(), c, k) {
        Some(true) => c += 1,
        Some(false) => {}
        None => {
            out.truncate(at);
            return false;
        }
    }
    while c.is_multiple_of(10) {
        c /= 10;
        k += 1;
    }
    let mut ibuf = itoa::Buffer::new();
    let sig = ibuf.format(c).as_bytes();
    let len = sig.len() as i64;
    // Digits before the decimal point (≤ 0: "0." and zeros come first).
    let point = len + k;
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + (-point) as usize, b'0');
        out.extend_from_slice(sig);
    } else if point < len {
        let (int, frac) = sig.split_at(point as usize);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    } else {
        out.extend_from_slice(sig);
        out.resize(out.len() + (point - len) as usize, b'0');
    }
    true
}

/// `a = m · 2^e` (finite, ≥ 0).
fn decompose(a: f64) -> (u64, i64) {
    let bits = a.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    }
}

/// False when `a` (finite, > 0) cannot be `(c + 1/2) · 10^k` for any integer `c`: then
/// `2a / 10^k = m · 2^(e+1-k) · 5^-k` would be the odd integer `2c + 1`, so its power of two
/// must be exactly 0. Almost every value fails this, with no further arithmetic.
fn tie_possible(a: f64, k: i64) -> bool {
    let (m, e) = decompose(a);
    i64::from(m.trailing_zeros()) + e + 1 - k == 0
}

/// Whether `a` (finite, > 0) equals `(c + 1/2) · 10^k` exactly; `None` when `u128` arithmetic
/// cannot tell.
fn is_upper_tie(a: f64, c: u64, k: i64) -> Option<bool> {
    if !tie_possible(a, k) {
        return Some(false);
    }
    let (m, e) = decompose(a);
    // 2·m·2^e = (2c+1)·10^k; move negative powers to the other side: lhs = rhs, in integers
    // (`None`: at least 2^128).
    let mut lhs = Some(u128::from(m) << 1);
    let mut rhs = Some(u128::from(c) * 2 + 1);
    let shl = |x: Option<u128>, s: i64| {
        x.and_then(|x| {
            u32::try_from(s)
                .ok()
                .filter(|&s| s < x.leading_zeros())
                .map(|s| x << s)
        })
    };
    let mul_pow10 = |x: Option<u128>, p: i64| (0..p).try_fold(x?, |acc, _| acc.checked_mul(10));
    if e >= 0 {
        lhs = shl(lhs, e);
    } else {
        rhs = shl(rhs, -e);
    }
    if k >= 0 {
        rhs = mul_pow10(rhs, k);
    } else {
        lhs = mul_pow10(lhs, -k);
    }
    match (lhs, rhs) {
        (Some(l), Some(r)) => Some(l == r),
        (None, None) => None,
        // One side fits, the other does not: they differ.
        _ => Some(false),
    }
}

fn check_errors(outs: &[CsvRows]) -> anyhow::Result<()> {
    for o in outs {
        if let Some(e) = &o.error {
            anyhow::bail!("writing features: {e}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(v: f64) -> String {
        let mut out = Vec::new();
        push_display_f64(v, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    fn csv_value(v: f64) -> String {
        let mut out = Vec::new();
        write_value(v, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// The old `write_value`, through `core::fmt`.
    fn csv_value_std(v: f64) -> String {
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            format!(",{}", v as i64)
        } else {
            format!(",{v}")
        }
    }

    #[test]
    fn display_f64_edge_cases() {
        let mut cases = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.3333333333333333,
            1e-7,
            -1e-7,
            1.5e-5,
            1e-5,
            1e-4,
            123456.789,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            f64::from_bits(1),
            f64::from_bits(0x000f_ffff_ffff_ffff),
            5.444310685350916e14,
            // Exact ties between two shortest candidates (std takes the larger magnitude).
            1_351_332_354.0 + 93.0 / 256.0,
            1e15 + 0.25,
            -(1_243_645_718_361_242.0 + 0.25),
            9.0e15,
            -9.0e15,
            9007199254740993.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for e in -30..=30 {
            let p = 10f64.powi(e);
            cases.extend([p, p.next_up(), p.next_down(), -p, 1.5 * p, p / 3.0]);
        }
        for x in [1e15, 1e16, 1e17] {
            let mut v = x;
            for _ in 0..50 {
                cases.push(v);
                cases.push(v + 0.5);
                v = v.next_up();
            }
        }
        for exp in 0..=0x7ffu64 {
            for m in [0u64, 1, 0x8_0000_0000_0000, 0xf_ffff_ffff_ffff] {
                cases.push(f64::from_bits(exp << 52 | m));
            }
        }
        for v in cases {
            assert_eq!(ours(v), format!("{v}"), "bits {:#x}", v.to_bits());
            assert_eq!(csv_value(v), csv_value_std(v), "bits {:#x}", v.to_bits());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200_000))]
        #[test]
        fn display_f64_is_std_display(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assert_eq!(ours(v), format!("{v}"));
            prop_assert_eq!(csv_value(v), csv_value_std(v));
        }

        #[test]
        fn display_f64_ties_round_as_std(int in 0u64..(1 << 60), num in 0u64..4096, shift in 1u32..13, e in -40i32..40) {
            // Values with few fraction bits: where the two nearest shortest candidates can be
            // exactly as close (the rule zmij and core::fmt differ in).
            let v = int as f64 + num as f64 / f64::from(1u32 << shift);
            for v in [v, -v, v * 10f64.powi(e), v / 1024.0, v * 1024.0] {
                prop_assert_eq!(ours(v), format!("{v}"));
                prop_assert_eq!(csv_value(v), csv_value_std(v));
            }
        }

        #[test]
        fn display_f64_is_std_display_for_ratios(num in 0u64..1_000_000, den in 1u64..1_000_000) {
            // What the features hold: ratios, logarithms, entropies of counts.
            let r = num as f64 / den as f64;
            for v in [r, (r + 1.0).ln(), r.log2(), -r, r * 1e9] {
                prop_assert_eq!(ours(v), format!("{v}"));
                prop_assert_eq!(csv_value(v), csv_value_std(v));
            }
        }

        #[test]
        fn fast_value_is_the_plain_path(
            bits in any::<u64>(),
            int in any::<i64>(),
            small in -1000i64..1000,
            num in 0u64..1_000_000,
            den in 1u64..1_000_000,
            shift in 0u32..64,
        ) {
            // The fast forms (zero, whole numbers, ratios) against the plain path, for the
            // kinds of values the features hold and around each form's limits.
            let r = num as f64 / den as f64;
            let whole = (int >> shift) as f64;
            let cases = [
                f64::from_bits(bits),
                whole,
                whole + 0.5,
                small as f64,
                small as f64 * 10.0,
                small as f64 / 8.0,
                r,
                r * 1e-4,
                r * 1e-5,
                r * 1e15,
                -r,
                (r + 1.0).ln(),
                (1u64 << shift) as f64,
                TWO_52 - small.unsigned_abs() as f64,
                TWO_52 + small.unsigned_abs() as f64,
            ];
            for v in cases {
                let mut fast = Vec::new();
                let mut slot = [0u8; VALUE_SLOT];
                if let Some(n) = fast_value(v, &mut slot) {
                    fast.extend_from_slice(&slot[..n]);
                    prop_assert!(n <= 24);
                } else {
                    write_value_plain(v, &mut fast);
                }
                let mut plain = Vec::new();
                write_value_plain(v, &mut plain);
                prop_assert_eq!(&fast, &plain, "bits {:#x}", v.to_bits());
                prop_assert_eq!(String::from_utf8(fast).unwrap_or_default(), csv_value_std(v));
            }
        }

        #[test]
        fn float_cache_is_the_uncached_path(
            values in proptest::collection::vec((0u64..60, 1u64..60, 0usize..NUM_FEATURES, any::<u64>(), 0u8..4), 1..3000),
        ) {
            // Ratio-like values that repeat (hits), many distinct ones (entries replaced), other
            // kinds and columns with and without the cache, against `fast_value`.
            let mut columns = [false; NUM_FEATURES];
            for (j, c) in columns.iter_mut().enumerate() {
                *c = j % 3 != 0;
            }
            let mut cache = FloatCache::with_columns(columns);
            for (num, den, j, bits, kind) in values {
                let v = match kind {
                    0 | 1 => num as f64 / den as f64,
                    2 => -(num as f64) / den as f64 * 1e-3,
                    _ => f64::from_bits(bits),
                };
                let mut want = [0u8; VALUE_SLOT];
                let mut got = [0u8; VALUE_SLOT];
                let w = fast_value(v, &mut want);
                let g = fast_value_with(v, &mut got, Some((&mut cache, j)));
                prop_assert_eq!(w, g, "bits {:#x}", v.to_bits());
                if let Some(n) = w {
                    prop_assert_eq!(&want[..n], &got[..n], "bits {:#x}", v.to_bits());
                }
            }
        }

        #[test]
        fn push_digits_is_itoa(u in 0u64..10u64.pow(16), at in 1usize..3, small in 0u64..100_000) {
            for u in [u, small, u % 100_000_000, u / 100_000_000 * 100_000_000] {
                let mut slot = [b'x'; VALUE_SLOT];
                let end = push_digits(u, &mut slot, at);
                let mut want = itoa::Buffer::new();
                prop_assert_eq!(&slot[at..end], want.format(u).as_bytes());
            }
        }

        #[test]
        fn write_row_is_the_plain_row(
            name_len in 0usize..300,
            window_start in prop_oneof![any::<u64>(), 0u64..2_000_000_000],
            bits in proptest::collection::vec(any::<u64>(), NUM_FEATURES),
            kinds in proptest::collection::vec(0u8..4, NUM_FEATURES),
        ) {
            // Rows of mixed values (zeros, counts, ratios, any bits) through the scratch,
            // against name, window start and the plain values appended one by one.
            let name: Vec<u8> = (0..name_len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut values: FeatureVector = [0.0; NUM_FEATURES];
            for ((v, &b), &k) in values.iter_mut().zip(&bits).zip(&kinds) {
                *v = match k {
                    0 => 0.0,
                    1 => (b % 100_000_000) as f64,
                    2 => (b % 1000) as f64 / ((b >> 32) % 1000 + 1) as f64,
                    _ => f64::from_bits(b),
                };
            }
            let mut want = name.clone();
            want.push(b',');
            want.extend_from_slice(itoa::Buffer::new().format(window_start).as_bytes());
            for &v in &values {
                write_value_plain(v, &mut want);
            }
            want.push(b'\n');
            let mut row = Box::new([0u8; ROW_SCRATCH]);
            for prefix in [&b""[..], b"earlier rows\n"] {
                let mut text = prefix.to_vec();
                let n = write_row(&name, window_start, &values, &mut row, &mut text, &mut FloatCache::new());
                text.extend_from_slice(&row[..n]);
                prop_assert_eq!(text.get(prefix.len()..), Some(&want[..]));
            }
        }
    }

    #[test]
    fn ratio_columns_are_features() {
        for name in RATIO_COLUMNS {
            assert!(FEATURE_NAMES.contains(&name), "{name}");
        }
        assert_eq!(
            FloatCache::new().columns.iter().filter(|&&c| c).count(),
            RATIO_COLUMNS.len()
        );
    }

    #[test]
    fn fast_value_edge_cases() {
        let mut cases = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1e-7,
            1e-5,
            1e-4,
            1e-4f64.next_down(),
            1e-4f64.next_up(),
            1e21,
            -1e21,
            9.0e15,
            9.0e15f64.next_down(),
            TWO_52,
            TWO_52.next_down(),
            TWO_52 - 0.5,
            -(TWO_52 - 1.0),
            9_999_999.0,
            10_000_000.0,
            99_999_999.0,
            100_000_000.0,
            1e15 + 0.25,
            0.1 + 0.2,
            1.0 / 3.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
        ];
        for e in 0..16 {
            let p = 10f64.powi(e);
            cases.extend([p, p - 1.0, p + 1.0, -p]);
        }
        for v in cases {
            let mut slot = [0u8; VALUE_SLOT];
            let mut plain = Vec::new();
            write_value_plain(v, &mut plain);
            if let Some(n) = fast_value(v, &mut slot) {
                assert_eq!(&slot[..n], &plain[..], "bits {:#x}", v.to_bits());
            }
            assert_eq!(csv_value(v), csv_value_std(v), "bits {:#x}", v.to_bits());
        }
    }

    /// A writer whose bytes the test can read while the merger holds it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Appends a row (`name,ws`) to a shard's rows, as `accept_named` would.
    fn push_row(sink: &mut CsvRows, ws: u64, name: &str) {
        sink.text.extend_from_slice(name.as_bytes());
        let name_end = sink.text.len();
        sink.text.extend_from_slice(format!(",{ws}\n").as_bytes());
        let r = RowRef::new(ws, name.as_bytes(), name_end, sink.text.len());
        sink.index.push(r);
    }

    /// A hand-over while another thread holds the merger does not wait: the rows stay with
    /// the shard and go with its next hand-over, so nothing is lost or reordered; once
    /// `HAND_OVER_MAX` bytes wait, the shard waits for the merger instead.
    #[test]
    fn a_busy_merger_defers_the_hand_over_and_loses_nothing() {
        let width = 300u64;
        let buf = Shared::default();
        let merger = Arc::new(Mutex::new(Merger::new(Box::new(buf.clone()), 2)));
        let mut a = CsvRows::shard(&merger, 0, width);
        let mut b = CsvRows::shard(&merger, 1, width);
        let lines = |buf: &Shared| buf.0.lock().map(|v| v.clone()).unwrap_or_default();
        push_row(&mut a, 0, "eni-a");
        push_row(&mut b, 0, "eni-b");
        {
            // Held here: shard a's hand-over must return at once (the same thread waiting
            // would never return), keeping its row.
            let _held = merger.lock().unwrap();
            a.progress(2 * width);
            assert_eq!(a.index.len(), 1, "the row stays with the shard");
        }
        b.progress(2 * width);
        assert!(
            lines(&buf).is_empty(),
            "shard a's floor never reached the merger"
        );
        push_row(&mut a, width, "eni-a");
        a.progress(3 * width);
        assert_eq!(a.index.len(), 0, "handed over once the merger was free");
        // Every shard is past 300 now (b's floor is 301).
        assert_eq!(lines(&buf), b"eni-a,0\neni-b,0\neni-a,300\n");
        // Past `HAND_OVER_MAX` waiting bytes, the shard waits for the merger (held here by
        // another thread for a while) rather than keep more.
        let mut ws = 2 * width;
        while a.text.len() < HAND_OVER_MAX {
            push_row(&mut a, ws, "eni-a");
            ws += width;
        }
        let rows = a.index.len();
        let (tx, rx) = std::sync::mpsc::channel();
        let holder = {
            let merger = Arc::clone(&merger);
            std::thread::spawn(move || {
                let _held = merger.lock().unwrap();
                tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(50));
            })
        };
        rx.recv().unwrap();
        a.progress(ws + width);
        assert_eq!(a.index.len(), 0, "waited for the merger and handed over");
        holder.join().unwrap();
        let a = a.finish();
        let b = b.finish();
        assert!(a.error.is_none() && b.error.is_none());
        let text = String::from_utf8(lines(&buf)).unwrap();
        let mut want = String::from("eni-a,0\neni-b,0\neni-a,300\n");
        for k in 0..rows {
            want.push_str(&format!("eni-a,{}\n", (2 + k as u64) * width));
        }
        assert_eq!(text, want);
    }

    proptest! {
        /// Shards hand over their ordered rows in blocks, each with the floor the window
        /// stage guarantees (no later row of the shard starts before it); the merger writes
        /// exactly the one-thread order, and writes a row as soon as every shard's floor is
        /// past its window start (rows do not wait for the end of the run). Two to nine shards:
        /// the merger's winner tree with full and partly empty levels; blocks go over whole
        /// and come back recycled.
        #[test]
        fn merger_writes_the_one_order_as_soon_as_every_shard_is_past(
            shards in proptest::collection::vec(
                proptest::collection::vec((0u64..20, 0u8..30, any::<bool>()), 0..40),
                2..10,
            ),
        ) {
            let width = 300u64;
            let buf = Shared::default();
            let merger = Arc::new(Mutex::new(Merger::new(Box::new(buf.clone()), shards.len())));
            // Each shard's rows: sorted (window start, name), names unique to the shard;
            // `cut` ends a block after the row.
            let mut rows: Vec<Vec<(u64, String, bool)>> = Vec::new();
            for (i, r) in shards.iter().enumerate() {
                let mut v: Vec<(u64, String, bool)> = r
                    .iter()
                    .map(|&(k, n, cut)| {
                        // Odd names share their first 16 bytes: the merger's prefix keys tie
                        // and the whole names decide.
                        let name = if n % 2 == 0 {
                            format!("eni-{n:02}-{i}")
                        } else {
                            format!("eni-0123456789ab{n:02}-{i}")
                        };
                        (k * width, name, cut)
                    })
                    .collect();
                v.sort();
                v.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
                rows.push(v);
            }
            let mut sinks: Vec<CsvRows> =
                (0..rows.len()).map(|i| CsvRows::shard(&merger, i, width)).collect();
            let mut expect: Vec<(u64, String)> =
                rows.iter().flatten().map(|(w, n, _)| (*w, n.clone())).collect();
            expect.sort();
            // Round robin over the shards, one block each.
            let mut at = vec![0usize; rows.len()];
            loop {
                let mut moved = false;
                for (i, sink) in sinks.iter_mut().enumerate() {
                    let v = &rows[i];
                    while let Some((ws, name, cut)) = v.get(at[i]) {
                        sink.text.extend_from_slice(name.as_bytes());
                        let name_end = sink.text.len();
                        sink.text.extend_from_slice(format!(",{ws}\n").as_bytes());
                        let r = RowRef::new(*ws, name.as_bytes(), name_end, sink.text.len());
                        sink.index.push(r);
                        at[i] += 1;
                        moved = true;
                        if *cut {
                            break;
                        }
                    }
                    // The watermark the window stage could report: the next row's window
                    // is still open (it ends after the watermark).
                    let wm = v.get(at[i]).map_or(u64::MAX - width, |r| r.0 + width - 1);
                    sink.progress(wm);
                }
                // Everything below every shard's floor is out already.
                let floor = (0..rows.len())
                    .map(|i| rows[i].get(at[i]).map_or(u64::MAX, |r| r.0))
                    .min()
                    .unwrap_or(u64::MAX);
                let written = buf.0.lock().map(|b| b.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0);
                let due = expect.iter().filter(|r| r.0 < floor).count();
                prop_assert!(written >= due, "{written} rows written, {due} due");
                if !moved {
                    break;
                }
            }
            for sink in sinks {
                let done = sink.finish();
                prop_assert!(done.error.is_none());
            }
            let want: String = expect.iter().map(|(w, n)| format!("{n},{w}\n")).collect();
            let got = String::from_utf8(buf.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
            prop_assert_eq!(got, want);
        }
    }
}
