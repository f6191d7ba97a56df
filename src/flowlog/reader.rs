//! Inputs: plain files, gzip (multi-member), folder trees and stdin, read line by line into one
//! reused [`FlowRecord`].
//!
//! - **Files** named on the command line are always read. **Folders** are walked recursively in
//!   sorted (byte-wise by name, per folder) order, so an S3 sync tree
//!   `AWSLogs/{account}/vpcflowlogs/{region}/YYYY/MM/DD/` is read in time order; in folders only
//!   files ending in `.log`, `.log.gz`, `.gz` or `.txt` are read, hidden names (`.x`) are
//!   skipped, and symbolic links to folders are not followed (no cycles).
//! - **Gzip** is detected from the magic bytes (not the name), and read as multi-member
//!   (concatenated objects). By default it is decompressed on a background thread, so
//!   decompression and parsing overlap, and the next input is opened (its decoder started)
//!   while one is read; the records and their order are the same either way.
//! - **Apache Parquet** (detected from its magic bytes; feature `parquet`) and **CloudWatch
//!   Logs JSON** (the decompressed text opening `{"` or `[{`) are read as text lines by
//!   `super::parquet` and [`super::cloudwatch`], each on a background thread; a **CloudWatch
//!   Logs export** (the first line starting with a timestamp) has each line's timestamp
//!   removed.
//! - **stdin** is `-`.
//!
//! Each input starts with the default format (`--format`, else v2); a header line switches the
//! format for the lines after it. NODATA and SKIPDATA rows are returned as records, with
//! `log_status` set: windows count SKIPDATA per ENI as a data-quality signal.
//!
//! Default-v2 lines take a fast route: while the read buffer holds at least 520 more bytes, the
//! next line is parsed where it lies by the straight-line v2 parser, which also finds the line's
//! end, so there is no separate newline search and no copy. A line it does not take (any other
//! format, a header, a blank or malformed line, a line across the buffer's end) goes the general
//! way: split, trimmed, checked for headers, parsed. Counts, positions and errors are the same
//! either way. [`LogReader::fast_records`] runs the fast route in a loop, handing each record
//! to a closure and adding its counts to the summary once per batch (`stats`, and sources
//! that wrap the reader; `next_record` then takes the lines it declines).
//! [`LogReader::fast_into`] is the same loop with each line parsed straight into a
//! [`FastSink`]'s target, which the window stage's reading loops use to write default-v2 lines
//! into their block slots without a [`FlowRecord`]; a [`FastLine`] parses the line again into a
//! record when one is needed (a late record's side file), and a line the target refuses (no
//! interface or no start time) is parsed into a record and handed over as one. The window
//! stage's sinks take lines in runs ([`FastSink::RUNS`]): up to 128 lines are parsed into the
//! block's free slots by one call (`fast::parse_v2_run`), then handed over together
//! ([`FastSink::parsed_run`], a [`FastRun`]), so the run's state (position, next slot,
//! watermark, count) stays in registers instead of being spilled around a call per line.
//!
//! Malformed lines are reported to a [`BadLineSink`] (stderr by default) as
//! `path:LINE: field `dstport`: expected an integer 0..=65535, found "abc"`, at most
//! `max_reports_per_file` per file (the rest are only counted), counted in the [`ReadSummary`],
//! and skipped; with `strict`, the first one is returned as [`FlowlogError::BadLine`].
//!
//! Memory is bounded whatever the input: the line buffer by `max_line_bytes` plus two read
//! chunks, the interner by `max_enis` ids of at most [`MAX_ENI_LEN`](super::parse::MAX_ENI_LEN)
//! bytes, the summary by the number of inputs plus [`MAX_FORMATS_LISTED`](super::summary::MAX_FORMATS_LISTED) formats and
//! [`MAX_UNKNOWN_FIELDS`] names, and the gzip pipeline by 4 chunks of 256 KiB in flight per
//! decoder (two decoders at most: the file being read and the next one, opened ahead).

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};

use super::chunk::{ChunkOutcome, Piece, PieceKind, RawChunk};
use super::error::FlowlogError;
use super::fast::{self, V2Target};
use super::intern::Interner;
use super::parse::{
    is_header_line, parse_line, Expected, Format, FormatError, ParseError, Snippet,
};
use super::record::{EniId, FlowRecord, LogStatus};
use super::scan::{scan_lines, ScanStop};
use super::summary::{FileSummary, ReadSummary, MAX_UNKNOWN_FIELDS};

/// Size of one read (and one gzip pipeline chunk).
const CHUNK: usize = 256 * 1024;

/// Gzip chunks in flight between the decoder thread and the parser.
const PIPELINE_DEPTH: usize = 4;

/// How a [`LogReader`] reads.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Stop at the first malformed line with [`FlowlogError::BadLine`].
    pub strict: bool,
    /// The format of header-less input (`--format`); `None` means the default v2 order.
    pub format: Option<Format>,
    /// Most distinct interfaces interned (counting those of an interner given with
    /// [`LogReader::with_interner`]); a record of a new interface beyond it is a bad line.
    /// Default 1,048,576 (about 330 MiB of interner at most: the names plus ≈ 290 bytes each).
    pub max_enis: usize,
    /// Most bad lines reported per input; the rest are counted. Default 100.
    pub max_reports_per_file: usize,
    /// Longest line accepted, in bytes; a longer one is a bad line. Default 1 MiB.
    pub max_line_bytes: usize,
    /// Decompress gzip on a background thread (default true).
    pub background_gzip: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            strict: false,
            format: None,
            max_enis: 1 << 20,
            max_reports_per_file: 100,
            max_line_bytes: 1 << 20,
            background_gzip: true,
        }
    }
}

/// Where reports of bad lines and notices (unknown header fields) go.
pub trait BadLineSink: Send {
    /// A malformed line in `path`.
    fn bad_line(&mut self, path: &Path, error: &ParseError);
    /// Anything else worth telling the user, about line `line` of `path`.
    fn notice(&mut self, path: &Path, line: u64, message: &str);
}

/// Writes reports to stderr as `path:LINE: message` (the default sink).
#[derive(Clone, Copy, Debug, Default)]
pub struct StderrSink;

impl BadLineSink for StderrSink {
    fn bad_line(&mut self, path: &Path, error: &ParseError) {
        eprintln!("{}:{}: {error}", path.display(), error.line);
    }
    fn notice(&mut self, path: &Path, line: u64, message: &str) {
        eprintln!("{}:{line}: {message}", path.display());
    }
}

/// Discards reports (the counts stay in the summary).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSink;

impl BadLineSink for NullSink {
    fn bad_line(&mut self, _: &Path, _: &ParseError) {}
    fn notice(&mut self, _: &Path, _: u64, _: &str) {}
}

/// Keeps reports in memory, formatted as [`StderrSink`] writes them; clones share one list.
#[derive(Clone, Debug, Default)]
pub struct MemorySink(Arc<Mutex<Vec<String>>>);

impl MemorySink {
    /// A new, empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The reports so far.
    pub fn messages(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn push(&self, message: String) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }
}

impl BadLineSink for MemorySink {
    fn bad_line(&mut self, path: &Path, error: &ParseError) {
        self.push(format!("{}:{}: {error}", path.display(), error.line));
    }
    fn notice(&mut self, path: &Path, line: u64, message: &str) {
        self.push(format!("{}:{line}: {message}", path.display()));
    }
}

/// The place of a record in the inputs: enough to resume just after it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputPosition {
    /// Index of the input file in the expanded input list ([`LogReader::inputs`]).
    pub file_index: usize,
    /// Its path (checked on resume).
    pub path: PathBuf,
    /// 1-based line number of the record (0: before the first line).
    pub line: u64,
}

/// Reads flow log records from files, gzip files, folder trees and stdin.
pub struct LogReader {
    inputs: Vec<PathBuf>,
    opts: ReadOptions,
    initial_format: Format,
    interner: Interner,
    sink: Box<dyn BadLineSink>,
    summary: ReadSummary,
    next_input: usize,
    cur: Option<Current>,
    lines: Lines,
    last: InputPosition,
    /// A source given by [`LogReader::from_read`], read as input 0.
    given: Option<Box<dyn Read + Send>>,
    /// What the fast route remembers between lines (the last account id's bytes).
    fast_cache: fast::Cache,
    /// Bad lines reported so far, per file slot of the summary.
    reported: Vec<usize>,
    /// The next input, opened ahead (its gzip decoder already at work), with its index.
    ahead: Option<(usize, Opened)>,
    /// Parallel reading ([`LogReader::next_piece`], [`LogReader::merge_piece`]).
    pieces: PieceState,
}

/// The input being read.
struct Current {
    index: usize,
    src: Box<dyn Read + Send>,
    line_no: u64,
    format: Format,
    format_slot: Option<usize>,
    /// `format_slot` is set (formats are listed in the summary when first used).
    format_listed: bool,
    /// Under a Transit Gateway header: rows are skipped until the next header.
    unsupported: bool,
    file_slot: usize,
}

impl Current {
    /// Counts an over-long line as the input's next line and makes it a piece.
    fn too_long(&mut self) -> PieceKind {
        self.line_no += 1;
        PieceKind::TooLong {
            file_slot: self.file_slot,
            input: self.index,
            line_no: self.line_no,
        }
    }
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("inputs", &self.inputs)
            .field("opts", &self.opts)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl LogReader {
    /// Prepares to read `inputs` in order: files, folders (walked now, recursively, sorted) and
    /// `-` for stdin. Fails when an input does not exist or a folder cannot be listed; files are
    /// opened one at a time as reading reaches them.
    pub fn open(inputs: &[PathBuf], opts: ReadOptions) -> Result<Self, FlowlogError> {
        let mut files = Vec::new();
        for input in inputs {
            expand(input, &mut files)?;
        }
        Ok(Self::with_inputs(files, None, opts))
    }

    /// Reads from any byte source (a socket, a buffer, a test's data) as one input named
    /// `name`; gzip is detected as for files.
    pub fn from_read(name: &str, src: Box<dyn Read + Send>, opts: ReadOptions) -> Self {
        Self::with_inputs(vec![PathBuf::from(name)], Some(src), opts)
    }

    /// The one constructor behind [`LogReader::open`] and [`LogReader::from_read`]: a reader
    /// before its first input, with `given` as the source of the first input when set.
    fn with_inputs(
        inputs: Vec<PathBuf>,
        given: Option<Box<dyn Read + Send>>,
        opts: ReadOptions,
    ) -> Self {
        let initial_format = opts.format.clone().unwrap_or_default();
        LogReader {
            inputs,
            opts,
            initial_format,
            interner: Interner::new(),
            sink: Box::new(StderrSink),
            summary: ReadSummary::default(),
            next_input: 0,
            cur: None,
            lines: Lines::new(),
            last: InputPosition::default(),
            given,
            fast_cache: fast::Cache::default(),
            reported: Vec::new(),
            ahead: None,
            pieces: PieceState::default(),
        }
    }

    /// Continues ENI ids from `interner` (a model's), so ids stay those the model knows.
    pub fn with_interner(mut self, mut interner: Interner) -> Self {
        interner.ensure_index();
        self.interner = interner;
        self
    }

    /// Sends reports to `sink` instead of stderr.
    pub fn with_sink(mut self, sink: Box<dyn BadLineSink>) -> Self {
        self.sink = sink;
        self
    }

    /// The input files, folders expanded, in reading order (`-` is stdin).
    pub fn inputs(&self) -> &[PathBuf] {
        &self.inputs
    }

    /// The interner holding every ENI read so far.
    pub fn interner(&self) -> &Interner {
        &self.interner
    }

    /// Gives the interner back (to store it in a model).
    pub fn into_interner(self) -> Interner {
        self.interner
    }

    /// Counts so far.
    pub fn summary(&self) -> &ReadSummary {
        &self.summary
    }

    /// The position of the last record returned (line 0 of input 0 before any).
    pub fn position(&self) -> InputPosition {
        self.last.clone()
    }

    /// Whether the first input will be read under the default v2 field order, the format the
    /// fast route of [`LogReader::next_record`] parses (so reading is cheap next to the window
    /// stage). Peeks at the first line of the first input, opened once more for that (nothing
    /// is consumed); standard input, a source given to [`LogReader::from_read`], and an input
    /// that cannot be read count by the format of header-less input (`--format`). Later inputs
    /// are not looked at. Callers use it to choose how to spread a run over threads; the
    /// records do not depend on it.
    pub fn first_input_is_v2(&self) -> bool {
        let by_option = self.initial_format.is_v2();
        if self.next_input > 0 || self.given.is_some() {
            return by_option;
        }
        let Some(path) = self.inputs.first() else {
            return by_option;
        };
        if path.as_path() == Path::new("-") {
            return by_option;
        }
        let Ok((mut src, _)) = open_input(path, false) else {
            return by_option;
        };
        // A header line is at most 256 columns of short names: 16 KiB holds it.
        let mut head = vec![0u8; 16 << 10];
        let mut n = 0;
        while n < head.len() {
            match src.read(head.get_mut(n..).unwrap_or_default()) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return by_option,
            }
            if head.get(..n).is_some_and(|h| h.contains(&b'\n')) {
                break;
            }
        }
        let head = head.get(..n).unwrap_or_default();
        let line = trim_cr(head.split(|&b| b == b'\n').next().unwrap_or_default());
        if maybe_header(line) && is_header_line(line) {
            return Format::parse_bytes(line).is_ok_and(|f| f.is_v2());
        }
        by_option
    }

    /// Reads the next record into `rec`. Returns `Ok(false)` at the end of all inputs.
    ///
    /// Malformed lines are reported, counted and skipped; with `strict` the first one is
    /// returned as [`FlowlogError::BadLine`]. I/O errors (including corrupt gzip) end the read.
    pub fn next_record(&mut self, rec: &mut FlowRecord) -> Result<bool, FlowlogError> {
        // The fast route: a default-v2 line in the usual shape, whole in the buffer, parsed
        // where it lies (its end is found by the parse, not by a separate search). Such a line
        // starts with a digit or `-`, so it is neither blank nor a header; anything else takes
        // the general route below, which gives the same records, counts and errors.
        if let Some(cur) = self.cur.as_mut() {
            if cur.format.is_v2() && !cur.unsupported && !self.lines.discarding {
                let lines = &mut self.lines;
                // (`start..end` is always in the buffer; `get` then branches once, where
                // `unwrap_or_default` cost a few conditional moves.)
                let Some(buf) = lines.buf.get(lines.start..lines.end) else {
                    return self.next_record_general(rec);
                };
                if let Some(len) = fast::parse_v2_buffered(
                    buf,
                    &mut self.interner,
                    self.opts.max_enis,
                    rec,
                    &mut self.fast_cache,
                ) {
                    lines.start += len;
                    lines.scanned = lines.start;
                    cur.line_no += 1;
                    let s = &mut self.summary;
                    s.lines += 1;
                    if !cur.format_listed
                        || self.last.file_index != cur.index
                        || self.last.path.as_os_str().is_empty()
                    {
                        if let Some(f) = s.files.get_mut(cur.file_slot) {
                            f.lines += 1;
                        }
                        self.on_record(rec);
                        return Ok(true);
                    }
                    // `on_record` for a listed format and a record of the same input as the
                    // last one, with the file's two counts taken together.
                    count_record(s, rec.log_status, cur.format_slot);
                    if let Some(f) = s.files.get_mut(cur.file_slot) {
                        f.lines += 1;
                        f.records += 1;
                    }
                    self.last.line = cur.line_no;
                    return Ok(true);
                }
            }
        }
        self.next_record_general(rec)
    }

    /// Reads records by the fast route of [`LogReader::next_record`] for as long as it takes
    /// the lines, handing each to `each` with the interner that names its ENI. Stops when
    /// `each` returns `Ok(false)` (after that record) or an error (returned, the record
    /// counted as read), or when the fast route declines a line (another format, a header, a
    /// blank, malformed or over-long line, the buffer's end, the input's end): the caller then
    /// calls [`LogReader::next_record`], which reads that line the general way. Returns `true`
    /// when `each` asked to stop, `false` when the fast route declined (at once whenever it
    /// does not apply, so a caller loses little by trying it first).
    ///
    /// The records, counts, line numbers, [`LogReader::position`] and the summary are those
    /// of as many [`LogReader::next_record`] calls: the per-record bookkeeping is kept in
    /// locals and added once per call, which saves most of `next_record`'s cost around the
    /// parse. It only starts once the input's format is listed and its first record has set
    /// the position (that first record takes `next_record`). It is [`LogReader::fast_into`]
    /// with the record as the target. Inlined, so that a caller's closure (and what it
    /// borrows) does not escape into an out-of-line call (`flowvigil stats`: −8 instructions a
    /// line).
    #[inline(always)]
    pub fn fast_records<E>(
        &mut self,
        rec: &mut FlowRecord,
        each: impl FnMut(&FlowRecord, &Interner) -> Result<bool, E>,
    ) -> Result<bool, E> {
        self.fast_into(&mut EachRecord { rec, each })
    }

    /// Whether the fast routes ([`Self::fast_into`], [`Self::fast_records`]) may take lines
    /// of the current input: it is default v2 in a listed format. A hint for reading loops,
    /// which then need not try them before every record of a custom-format input; either
    /// answer is safe (the fast routes decline what they cannot take).
    #[inline]
    pub fn fast_possible(&self) -> bool {
        self.cur
            .as_ref()
            .is_some_and(|cur| cur.format.is_v2() && !cur.unsupported && cur.format_listed)
    }

    /// [`LogReader::fast_records`] with each line parsed straight into the sink's next
    /// target ([`FastSink::target`]; the window stage's block slots), so no record is built
    /// and copied. After each line, [`FastSink::parsed`] gets a [`FastLine`] that re-parses the
    /// line into a [`FlowRecord`] on demand (a late record's side file). A line the target
    /// refuses (see [`V2Target`]: one without an interface or a start time, for a window
    /// slot) is parsed into [`FastSink::record`] and handed to [`FastSink::refused`]; a line
    /// the fast route declines ends the call, as in `fast_records`. Stops with `Ok(true)`
    /// when the sink has no target or asks to stop. Records, counts, interning, positions and
    /// the summary are those of `fast_records` (and of as many `next_record` calls): each
    /// parse of a line makes the same checks in the same order whatever the target, so
    /// parsing a line again (a refused or late one) interns nothing new and the head cache
    /// changes speed only.
    #[inline(always)]
    pub fn fast_into<K: FastSink>(&mut self, sink: &mut K) -> Result<bool, K::Error> {
        let Some(cur) = self.cur.as_mut() else {
            return Ok(false);
        };
        if !cur.format.is_v2()
            || cur.unsupported
            || self.lines.discarding
            || !cur.format_listed
            || self.last.file_index != cur.index
            || self.last.path.as_os_str().is_empty()
        {
            return Ok(false);
        }
        let max_enis = self.opts.max_enis;
        let buf = self.lines.buf.get(..self.lines.end).unwrap_or_default();
        let mut start = self.lines.start;
        let mut n = 0u64;
        // Records by status, indexed by `V2Target::status_index` (one add; a `match` with two
        // counters compiled to a jump table).
        let mut by_status = [0u64; 4];
        // Where each line of a run ends (`FastSink::RUNS`).
        let mut ends = [0usize; fast::RUN];
        let outcome = loop {
            if K::RUNS {
                // A run of lines parsed into the sink's next slots in one call, then handed
                // over one by one, in order.
                let targets = sink.targets();
                let m = targets.len().min(fast::RUN);
                let Some(targets) = targets.get_mut(..m).filter(|t| !t.is_empty()) else {
                    break Ok(true);
                };
                let k = fast::parse_v2_run(
                    buf,
                    start,
                    targets,
                    &mut ends,
                    &mut by_status,
                    &mut self.interner,
                    max_enis,
                    &mut self.fast_cache,
                );
                let ends = ends.get(..k).unwrap_or_default();
                let run = FastRun {
                    buf,
                    start,
                    ends,
                    interner: &mut self.interner,
                    cache: &mut self.fast_cache,
                    max_enis,
                };
                if let Some(&end) = ends.last() {
                    start = end;
                    n += k as u64;
                    if let Err(e) = sink.parsed_run(run) {
                        break Err(e);
                    }
                }
                if k == m {
                    continue;
                }
                // The line at `start` was declined or refused by its slot: below.
            }
            let Some(rest) = buf.get(start..) else {
                break Ok(false);
            };
            if !K::RUNS {
                let Some(target) = sink.target() else {
                    break Ok(true);
                };
                if let Some(len) = fast::parse_v2_buffered(
                    rest,
                    &mut self.interner,
                    max_enis,
                    target,
                    &mut self.fast_cache,
                ) {
                    if let Some(c) = by_status.get_mut(target.status_index()) {
                        *c += 1;
                    }
                    let at = start;
                    start += len;
                    n += 1;
                    let line = FastLine {
                        buf,
                        at,
                        interner: &mut self.interner,
                        cache: &mut self.fast_cache,
                        max_enis,
                    };
                    match sink.parsed(line) {
                        Ok(true) => continue,
                        Ok(false) => break Ok(true),
                        Err(e) => break Err(e),
                    }
                }
            }
            if K::Target::TOTAL {
                break Ok(false);
            }
            // Refused by the target, or out of shape: as a record (out of line, rare).
            let rec = sink.record();
            let Some(len) = fast::parse_v2_buffered(
                rest,
                &mut self.interner,
                max_enis,
                rec,
                &mut self.fast_cache,
            ) else {
                break Ok(false);
            };
            start += len;
            n += 1;
            if let Some(c) = by_status.get_mut(rec.status_index()) {
                *c += 1;
            }
            match sink.refused(&self.interner) {
                Ok(true) => continue,
                Ok(false) => break Ok(true),
                Err(e) => break Err(e),
            }
        };
        if n > 0 {
            // What `next_record` counts per record, for `n` of them.
            self.lines.start = start;
            self.lines.scanned = start;
            cur.line_no += n;
            let s = &mut self.summary;
            s.lines += n;
            count_records(s, n, by_status[1], by_status[2], cur.format_slot);
            if let Some(f) = s.files.get_mut(cur.file_slot) {
                f.lines += n;
                f.records += n;
            }
            self.last.line = cur.line_no;
        }
        outcome
    }

    /// [`LogReader::next_record`] past its fast route (kept apart so that the fast route does
    /// not pay this part's register saves): splits the next line, then skips, accounts or
    /// parses it.
    #[inline(never)]
    fn next_record_general(&mut self, rec: &mut FlowRecord) -> Result<bool, FlowlogError> {
        loop {
            if self.cur.is_none() && !self.open_next()? {
                return Ok(false);
            }
            let Some(cur) = self.cur.as_mut() else {
                return Ok(false);
            };
            let outcome = match self.lines.next(cur.src.as_mut(), self.opts.max_line_bytes) {
                Ok(o) => o,
                Err(e) => return Err(self.io_error(e)),
            };
            let (a, b) = match outcome {
                LineOutcome::Eof => {
                    self.cur = None;
                    continue;
                }
                LineOutcome::TooLong => {
                    cur.line_no += 1;
                    let max = self.opts.max_line_bytes.min(u32::MAX as usize) as u32;
                    self.count_line();
                    self.bad(Expected::LineLength { max }, Snippet::EMPTY)?;
                    continue;
                }
                LineOutcome::Line(a, b) => (a, b),
            };
            cur.line_no += 1;
            let line_no = cur.line_no;
            let line = trim_cr(&self.lines.buf[a..b]);
            self.summary.lines += 1;
            if let Some(f) = self.summary.files.get_mut(cur.file_slot) {
                f.lines += 1;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                self.summary.blank_lines += 1;
                continue;
            }
            if maybe_header(line) && is_header_line(line) {
                let line = line.to_vec();
                self.on_header(&line, line_no)?;
                continue;
            }
            if cur.unsupported {
                self.summary.unsupported_rows += 1;
                continue;
            }
            let parsed = parse_line(
                line,
                line_no,
                &cur.format,
                &mut self.interner,
                self.opts.max_enis,
                rec,
            );
            match parsed {
                Ok(()) => {
                    self.on_record(rec);
                    return Ok(true);
                }
                Err(e) => self.bad_parsed(e)?,
            }
        }
    }

    /// Skips to just after `pos` (a checkpoint's [`LogReader::position`]): the inputs before
    /// its file are not read, and its file is read up to its line, following header lines but
    /// returning no records. Fails when the inputs no longer match.
    ///
    /// A default `InputPosition` (a reader that returned nothing yet) is a no-op.
    ///
    /// For stdin (`-`) this skips `pos.line` lines of the new stream, which is right when the
    /// stream is replayed from its beginning.
    pub fn resume_at(&mut self, pos: &InputPosition) -> Result<(), FlowlogError> {
        let resume_err = |reason| FlowlogError::Resume {
            path: pos.path.clone(),
            line: pos.line,
            reason,
        };
        if *pos == InputPosition::default() {
            // The position of a reader that returned nothing yet: start from the beginning.
            return Ok(());
        }
        match self.inputs.get(pos.file_index) {
            Some(p) if *p == pos.path => {}
            _ => return Err(resume_err("the inputs are not those of the checkpoint")),
        }
        self.cur = None;
        self.lines = Lines::new();
        self.next_input = pos.file_index;
        if !self.open_next()? {
            return Err(resume_err("the input cannot be opened"));
        }
        loop {
            let Some(cur) = self.cur.as_mut() else {
                return Err(resume_err("the input ended before the checkpoint's line"));
            };
            if cur.line_no >= pos.line {
                break;
            }
            let outcome = match self.lines.next(cur.src.as_mut(), self.opts.max_line_bytes) {
                Ok(o) => o,
                Err(e) => return Err(self.io_error(e)),
            };
            cur.line_no += 1;
            self.summary.resume_skipped_lines += 1;
            match outcome {
                LineOutcome::Eof => {
                    return Err(resume_err("the input ended before the checkpoint's line"))
                }
                LineOutcome::TooLong => {}
                LineOutcome::Line(a, b) => {
                    let line = trim_cr(&self.lines.buf[a..b]);
                    if maybe_header(line) && is_header_line(line) {
                        // Only the format matters here; the header was counted before.
                        match Format::parse_bytes(line) {
                            Ok(f) => {
                                cur.format_slot = self.summary.format_slot(&f);
                                cur.format_listed = true;
                                cur.format = f;
                                cur.unsupported = false;
                            }
                            Err(_) => cur.unsupported = true,
                        }
                    }
                }
            }
        }
        self.last = pos.clone();
        Ok(())
    }

    fn on_record(&mut self, rec: &FlowRecord) {
        let Some(cur) = self.cur.as_mut() else {
            return;
        };
        if let Some(f) = self.summary.files.get_mut(cur.file_slot) {
            f.records += 1;
        }
        if !cur.format_listed {
            // Listed on first use, so a default format that no record used is not shown.
            cur.format_slot = self.summary.format_slot(&cur.format);
            cur.format_listed = true;
        }
        count_record(&mut self.summary, rec.log_status, cur.format_slot);
        if self.last.file_index != cur.index || self.last.path.as_os_str().is_empty() {
            // Compared by index: a path comparison per record costs more than the parse.
            self.last.file_index = cur.index;
            self.last.path = self.inputs.get(cur.index).cloned().unwrap_or_default();
        }
        self.last.line = cur.line_no;
    }

    fn on_header(&mut self, line: &[u8], line_no: u64) -> Result<(), FlowlogError> {
        let Some((file_slot, index)) = self.cur.as_ref().map(|c| (c.file_slot, c.index)) else {
            return Ok(());
        };
        let accounted = self.account_header(file_slot, index, line_no, line);
        let Some(cur) = self.cur.as_mut() else {
            return accounted.map(|_| ());
        };
        match accounted? {
            Some((format, slot)) => {
                cur.unsupported = false;
                cur.format_slot = slot;
                cur.format_listed = true;
                cur.format = format;
            }
            None => cur.unsupported = true,
        }
        Ok(())
    }

    /// The summary side of a header line of input `index` (file slot `file_slot`): counts,
    /// the formats list, notices of unknown fields. Returns the format and its slot in the
    /// summary's list, or `None` for a rejected header (Transit Gateway, too many columns),
    /// which counts as a bad line instead, so each line counts once.
    fn account_header(
        &mut self,
        file_slot: usize,
        index: usize,
        line_no: u64,
        line: &[u8],
    ) -> Result<Option<(Format, Option<usize>)>, FlowlogError> {
        match Format::parse_bytes(line) {
            Ok(format) => {
                self.summary.headers += 1;
                if let Some(f) = self.summary.files.get_mut(file_slot) {
                    f.headers += 1;
                }
                let slot = self.summary.format_slot(&format);
                if let Some(f) = slot.and_then(|i| self.summary.formats.get_mut(i)) {
                    f.headers += 1;
                }
                let path = self.inputs.get(index).cloned().unwrap_or_default();
                for name in format.unknown_names() {
                    if self.summary.unknown_fields.len() < MAX_UNKNOWN_FIELDS
                        && !self.summary.unknown_fields.contains(name)
                    {
                        self.summary.unknown_fields.push(name.clone());
                        self.sink.notice(
                            &shown(&path),
                            line_no,
                            &format!(
                                "unknown field `{}` in header: kept as an opaque column",
                                Snippet::new(name.as_bytes()).to_string().trim_matches('"')
                            ),
                        );
                    }
                }
                Ok(Some((format, slot)))
            }
            Err(e) => {
                let (expected, found) = match &e {
                    FormatError::TransitGateway(name) => {
                        (Expected::VpcHeader, Snippet::new(name.as_bytes()))
                    }
                    FormatError::TooManyColumns(_) => (Expected::HeaderColumns, Snippet::EMPTY),
                    FormatError::Empty => (Expected::VpcHeader, Snippet::EMPTY),
                };
                let error = ParseError {
                    line: line_no,
                    column: None,
                    field: None,
                    expected,
                    found,
                };
                self.bad_at(file_slot, index, error).map(|()| None)
            }
        }
    }

    /// Counts a line outside the normal path (an over-long one).
    fn count_line(&mut self) {
        self.summary.lines += 1;
        if let Some(f) = self
            .cur
            .as_ref()
            .and_then(|c| self.summary.files.get_mut(c.file_slot))
        {
            f.lines += 1;
        }
    }

    fn bad(&mut self, expected: Expected, found: Snippet) -> Result<(), FlowlogError> {
        let line = self.cur.as_ref().map_or(0, |c| c.line_no);
        self.bad_parsed(ParseError {
            line,
            column: None,
            field: None,
            expected,
            found,
        })
    }

    fn bad_parsed(&mut self, error: ParseError) -> Result<(), FlowlogError> {
        match self.cur.as_ref() {
            Some(cur) => self.bad_at(cur.file_slot, cur.index, error),
            None => {
                self.summary.bad_lines += 1;
                Ok(())
            }
        }
    }

    /// Counts and reports a bad line of the input `index` (summary file slot `file_slot`);
    /// with `strict`, returns it as the error.
    fn bad_at(
        &mut self,
        file_slot: usize,
        index: usize,
        error: ParseError,
    ) -> Result<(), FlowlogError> {
        self.summary.bad_lines += 1;
        if let Some(f) = self.summary.files.get_mut(file_slot) {
            f.bad_lines += 1;
        }
        let path = shown(self.inputs.get(index).map_or(Path::new("-"), |p| p));
        if self.opts.strict {
            return Err(FlowlogError::BadLine { path, error });
        }
        if self.reported.len() <= file_slot {
            self.reported.resize(file_slot + 1, 0);
        }
        let Some(reported) = self.reported.get_mut(file_slot) else {
            return Ok(());
        };
        if *reported < self.opts.max_reports_per_file {
            *reported += 1;
            let last = *reported == self.opts.max_reports_per_file;
            self.sink.bad_line(&path, &error);
            if last {
                self.sink.notice(
                    &path,
                    error.line,
                    "further bad lines in this input are counted, not reported",
                );
            }
        } else {
            self.summary.unreported_bad_lines += 1;
        }
        Ok(())
    }

    fn io_error(&mut self, source: io::Error) -> FlowlogError {
        let path = self
            .cur
            .take()
            .and_then(|c| self.inputs.get(c.index))
            .map_or_else(|| PathBuf::from("-"), |p| shown(p));
        FlowlogError::Io {
            path,
            error: source,
        }
    }

    /// Opens the next input (and the one after it, ahead); `Ok(false)` when there is none.
    fn open_next(&mut self) -> Result<bool, FlowlogError> {
        let index = self.next_input;
        let Some(path) = self.inputs.get(index) else {
            return Ok(false);
        };
        self.next_input += 1;
        let ahead = self.ahead.take();
        let opened = match (self.given.take(), ahead) {
            (Some(src), _) if index == 0 => sniff(src, self.opts.background_gzip),
            (_, Some((i, opened))) if i == index => opened,
            _ => open_input(path, self.opts.background_gzip),
        };
        // Open the next file now, so that its gzip decoder is at work while this one is read
        // (a folder of small objects would otherwise wait for each decoder's start). At most
        // one input ahead; an error opening it is reported when reading reaches it.
        if self.opts.background_gzip && self.given.is_none() {
            if let Some(next) = self.inputs.get(index + 1) {
                if next.as_path() != Path::new("-") {
                    self.ahead = Some((index + 1, open_input(next, true)));
                }
            }
        }
        let (src, encoding) = opened.map_err(|error| FlowlogError::Io {
            path: shown(path),
            error,
        })?;
        self.summary.files.push(FileSummary {
            path: path.display().to_string(),
            gzip: encoding.gzip,
            parquet: encoding.parquet,
            cloudwatch: encoding.cloudwatch,
            ..FileSummary::default()
        });
        self.lines = Lines::new();
        let format = self.initial_format.clone();
        self.cur = Some(Current {
            index,
            src,
            line_no: 0,
            format_slot: None,
            format_listed: false,
            format,
            unsupported: false,
            file_slot: self.summary.files.len() - 1,
        });
        Ok(true)
    }
}

/// What [`LogReader::next_piece`] and [`LogReader::merge_piece`] keep between calls.
#[derive(Debug, Default)]
struct PieceState {
    /// Pieces cut so far (the next piece's sequence number).
    seq: u64,
    /// Format segments started so far (a new input or a header starts one).
    segment: u64,
    /// The current segment's format, shared by its chunks.
    format: Option<Arc<Format>>,
    /// A piece found while a chunk was being filled, handed out by the next call.
    pending: Option<PieceKind>,
    /// The segment of the last merged piece, and its format's slot in the summary list once a
    /// record (or its header) listed it.
    merge_segment: u64,
    merge_slot: Option<usize>,
    merge_listed: bool,
}

impl LogReader {
    /// Cuts the next piece of input for parallel parsing: whole lines of one input under one
    /// format (a [`RawChunk`] of about `target` bytes, filled into `buf`), or one line the
    /// reader handles itself (a header, an over-long line). Returns `Ok(None)` at the end of
    /// all inputs.
    ///
    /// Lines are split exactly as [`LogReader::next_record`] splits them, and a header line
    /// switches the format of the chunks after it, so parsing the chunks with
    /// [`ChunkParser`](super::chunk::ChunkParser) and handing every piece, in sequence order, to
    /// [`LogReader::merge_piece`] gives the same records, counts, reports and interner as
    /// reading record by record. Do not mix the two ways of reading on one reader.
    pub fn next_piece(
        &mut self,
        target: usize,
        mut spare: Vec<u8>,
    ) -> Result<Option<Piece>, FlowlogError> {
        if let Some(kind) = self.pieces.pending.take() {
            return Ok(Some(self.piece(kind)));
        }
        // The chunk's lines when they are copied; `spare` (a used chunk's buffer, length
        // kept, so it needs no zeroing) becomes this buffer or the next read buffer.
        let mut buf: Vec<u8> = Vec::new();
        let mut first_line = 0;
        loop {
            if self.cur.is_none() {
                if !self.open_next()? {
                    return Ok(None);
                }
                self.pieces.segment += 1;
                self.pieces.format = None;
                self.lines.read_size = target.max(64);
            }
            let Some(cur) = self.cur.as_mut() else {
                return Ok(None);
            };
            if buf.is_empty() {
                first_line = cur.line_no;
            }
            // Every whole line already in the read buffer at once, up to a header line.
            let lines = &mut self.lines;
            if !lines.discarding {
                let avail = lines.buf.get(lines.start..lines.end).unwrap_or_default();
                if let Some(last) = memchr::memrchr(b'\n', avail) {
                    let region = avail.get(..=last).unwrap_or_default();
                    // Stop at the line that fills the chunk.
                    let room = target.saturating_sub(buf.len());
                    let scan = scan_lines(region, room, self.opts.max_line_bytes, |line| {
                        let line = trim_cr(line);
                        maybe_header(line) && is_header_line(line)
                    });
                    let at = scan.at;
                    let (header, long) = match scan.stop {
                        ScanStop::Filled => (None, None),
                        ScanStop::TooLong(nl) => (None, Some(nl)),
                        ScanStop::Header(a, b) => (Some((a, b)), None),
                    };
                    cur.line_no += scan.count;
                    if buf.is_empty() && at == region.len() && at >= target / 4 {
                        // The whole buffer's lines make the chunk: hand the buffer over instead
                        // of copying it; the read buffer goes on with the partial last line.
                        let from = lines.start;
                        let tail = lines.buf.get(from + at..lines.end).unwrap_or_default();
                        if spare.len() < tail.len() {
                            spare.resize(tail.len(), 0);
                        }
                        if let Some(head) = spare.get_mut(..tail.len()) {
                            head.copy_from_slice(tail);
                        }
                        let mut data = std::mem::replace(&mut lines.buf, spare);
                        data.truncate(from + at);
                        lines.end -= from + at;
                        lines.start = 0;
                        lines.scanned = lines.end;
                        return Ok(Some(self.lines_piece(data, from, first_line)));
                    }
                    if buf.capacity() == 0 {
                        buf = std::mem::take(&mut spare);
                        buf.clear();
                    }
                    buf.extend_from_slice(region.get(..at).unwrap_or_default());
                    lines.start += at;
                    lines.scanned = lines.start;
                    if let Some(nl) = long {
                        lines.start += nl - at + 1;
                        lines.scanned = lines.start;
                        let kind = cur.too_long();
                        return Ok(Some(self.emit(buf, first_line, |_| kind)));
                    }
                    if let Some((a, b)) = header {
                        let line = trim_cr(region.get(a..b).unwrap_or_default()).to_vec();
                        lines.start += b - a + 1;
                        lines.scanned = lines.start;
                        cur.line_no += 1;
                        return Ok(Some(self.emit(buf, first_line, |r| r.cut_header(line))));
                    }
                    if buf.len() >= target {
                        return Ok(Some(self.lines_piece(buf, 0, first_line)));
                    }
                    continue;
                }
            }
            // No whole line buffered: read on, then take the lines at once as above (the
            // read buffer can then be handed over whole). The splitter itself handles the end
            // of the input and over-long lines, one line at a time.
            let lines = &mut self.lines;
            if !lines.discarding
                && !lines.eof
                && lines.end - lines.start <= self.opts.max_line_bytes
            {
                if let Err(e) = lines.refill(cur.src.as_mut()) {
                    return Err(self.io_error(e));
                }
                continue;
            }
            let outcome = match self.lines.next(cur.src.as_mut(), self.opts.max_line_bytes) {
                Ok(o) => o,
                Err(e) => return Err(self.io_error(e)),
            };
            match outcome {
                LineOutcome::Eof => {
                    let piece = (!buf.is_empty()).then(|| self.lines_piece(buf, 0, first_line));
                    self.cur = None;
                    match piece {
                        Some(p) => return Ok(Some(p)),
                        None => {
                            buf = Vec::new();
                            continue;
                        }
                    }
                }
                LineOutcome::TooLong => {
                    let kind = cur.too_long();
                    return Ok(Some(self.emit(buf, first_line, |_| kind)));
                }
                LineOutcome::Line(a, b) => {
                    let line = self.lines.buf.get(a..b).unwrap_or_default();
                    let trimmed = trim_cr(line);
                    if maybe_header(trimmed) && is_header_line(trimmed) {
                        let line = trimmed.to_vec();
                        cur.line_no += 1;
                        return Ok(Some(self.emit(buf, first_line, |r| r.cut_header(line))));
                    }
                    if buf.capacity() == 0 {
                        buf = std::mem::take(&mut spare);
                        buf.clear();
                    }
                    let line = self.lines.buf.get(a..b).unwrap_or_default();
                    buf.extend_from_slice(line);
                    buf.push(b'\n');
                    cur.line_no += 1;
                    if buf.len() >= target {
                        return Ok(Some(self.lines_piece(buf, 0, first_line)));
                    }
                }
            }
        }
    }

    /// The format switch of a header line at cutting time (its accounting waits for
    /// [`LogReader::merge_piece`]).
    fn cut_header(&mut self, line: Vec<u8>) -> PieceKind {
        let Some(cur) = self.cur.as_mut() else {
            return PieceKind::TooLong {
                file_slot: 0,
                input: 0,
                line_no: 0,
            };
        };
        match Format::parse_bytes(&line) {
            Ok(f) => {
                cur.format = f;
                cur.unsupported = false;
            }
            Err(_) => cur.unsupported = true,
        }
        self.pieces.segment += 1;
        self.pieces.format = None;
        PieceKind::Header {
            file_slot: cur.file_slot,
            input: cur.index,
            line_no: cur.line_no,
            segment: self.pieces.segment,
            line,
        }
    }

    /// The piece `kind` makes (called after the lines in `buf`, when there are any, are cut
    /// under the state before it: a header switches the format), handed out after them.
    fn emit(
        &mut self,
        buf: Vec<u8>,
        first_line: u64,
        kind: impl FnOnce(&mut Self) -> PieceKind,
    ) -> Piece {
        let before = (!buf.is_empty()).then(|| self.lines_piece(buf, 0, first_line));
        let kind = kind(self);
        match before {
            Some(p) => {
                self.pieces.pending = Some(kind);
                p
            }
            None => self.piece(kind),
        }
    }

    fn lines_piece(&mut self, data: Vec<u8>, offset: usize, first_line: u64) -> Piece {
        let (file_slot, input, unsupported, format) = match self.cur.as_ref() {
            Some(cur) => {
                let format = self
                    .pieces
                    .format
                    .get_or_insert_with(|| Arc::new(cur.format.clone()))
                    .clone();
                (cur.file_slot, cur.index, cur.unsupported, format)
            }
            None => (0, 0, true, Arc::new(Format::default())),
        };
        self.piece(PieceKind::Lines(RawChunk {
            file_slot,
            input,
            first_line,
            format,
            unsupported,
            segment: self.pieces.segment,
            data,
            offset,
        }))
    }

    fn piece(&mut self, kind: PieceKind) -> Piece {
        let seq = self.pieces.seq;
        self.pieces.seq += 1;
        Piece { seq, kind }
    }

    /// Accounts for one piece of [`LogReader::next_piece`], in sequence order: counts, the
    /// formats list, bad-line reports (the first error, with `strict`), the read position,
    /// and the ENI names first seen in it, interned in order. `parsed` is what
    /// [`ChunkParser::parse`](super::chunk::ChunkParser::parse) gave for a chunk (ignored for other pieces). Returns the ids of
    /// `parsed.new_names` in the reader's interner.
    ///
    /// Fails with [`FlowlogError::TooManyEnis`] when the names would pass `max_enis`: record
    /// by record, those lines would be bad lines, which pieces parsed ahead cannot undo.
    pub fn merge_piece(
        &mut self,
        piece: &PieceKind,
        parsed: &ChunkOutcome,
    ) -> Result<Vec<EniId>, FlowlogError> {
        match piece {
            PieceKind::Header {
                file_slot,
                input,
                line_no,
                segment,
                line,
            } => {
                self.add_lines(*file_slot, 1);
                if let Some((_, slot)) = self.account_header(*file_slot, *input, *line_no, line)? {
                    self.pieces.merge_segment = *segment;
                    self.pieces.merge_slot = slot;
                    self.pieces.merge_listed = true;
                }
                Ok(Vec::new())
            }
            PieceKind::TooLong {
                file_slot,
                input,
                line_no,
            } => {
                self.add_lines(*file_slot, 1);
                let max = self.opts.max_line_bytes.min(u32::MAX as usize) as u32;
                let error = ParseError {
                    line: *line_no,
                    column: None,
                    field: None,
                    expected: Expected::LineLength { max },
                    found: Snippet::EMPTY,
                };
                self.bad_at(*file_slot, *input, error)?;
                Ok(Vec::new())
            }
            PieceKind::Lines(chunk) => {
                let mut ids = Vec::with_capacity(parsed.new_names.len());
                for name in &parsed.new_names {
                    let id = match self.interner.get(name.as_bytes()) {
                        Some(id) => id,
                        None if self.interner.len() >= self.opts.max_enis => {
                            return Err(FlowlogError::TooManyEnis {
                                max: self.opts.max_enis,
                            })
                        }
                        None => self.interner.intern(name.as_bytes()),
                    };
                    ids.push(id);
                }
                let slot = chunk.file_slot;
                self.add_lines(slot, parsed.lines);
                self.summary.blank_lines += parsed.blank_lines;
                self.summary.unsupported_rows += parsed.unsupported_rows;
                if parsed.records > 0 {
                    let ps = &mut self.pieces;
                    if ps.merge_segment != chunk.segment {
                        ps.merge_segment = chunk.segment;
                        ps.merge_slot = None;
                        ps.merge_listed = false;
                    }
                    if !ps.merge_listed {
                        ps.merge_slot = self.summary.format_slot(&chunk.format);
                        ps.merge_listed = true;
                    }
                    match ps.merge_slot.and_then(|i| self.summary.formats.get_mut(i)) {
                        Some(f) => f.records += parsed.records,
                        None => self.summary.formats_not_listed += parsed.records,
                    }
                    self.summary.records += parsed.records;
                    self.summary.nodata += parsed.nodata;
                    self.summary.skipdata += parsed.skipdata;
                    if let Some(f) = self.summary.files.get_mut(slot) {
                        f.records += parsed.records;
                    }
                    if self.last.file_index != chunk.input || self.last.path.as_os_str().is_empty()
                    {
                        self.last.file_index = chunk.input;
                        self.last.path = self.inputs.get(chunk.input).cloned().unwrap_or_default();
                    }
                    self.last.line = parsed.last_record_line;
                }
                for e in &parsed.errors {
                    self.bad_at(slot, chunk.input, *e)?;
                }
                Ok(ids)
            }
        }
    }

    fn add_lines(&mut self, file_slot: usize, n: u64) {
        self.summary.lines += n;
        if let Some(f) = self.summary.files.get_mut(file_slot) {
            f.lines += n;
        }
    }

    /// The options this reader was opened with.
    pub fn options(&self) -> &ReadOptions {
        &self.opts
    }
}

/// Header lines start with a lower-case letter or `$`; data lines of the usual formats start
/// with a digit (`version`), so most lines skip the full header check.
#[inline]
fn maybe_header(line: &[u8]) -> bool {
    let first = line
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied()
        .unwrap_or(b'0');
    first.is_ascii_lowercase() || first == b'$'
}

#[inline]
fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// How stdin appears in reports.
fn shown(path: &Path) -> PathBuf {
    if path == Path::new("-") {
        PathBuf::from("<stdin>")
    } else {
        path.to_path_buf()
    }
}

/// Appends the files of `input` (itself, or a folder's log files, walked recursively).
fn expand(input: &Path, out: &mut Vec<PathBuf>) -> Result<(), FlowlogError> {
    if input == Path::new("-") {
        out.push(input.to_path_buf());
        return Ok(());
    }
    let io = |error| FlowlogError::Io {
        path: input.to_path_buf(),
        error,
    };
    let meta = std::fs::metadata(input).map_err(io)?;
    if !meta.is_dir() {
        out.push(input.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<(std::ffi::OsString, PathBuf, std::fs::FileType)> = Vec::new();
    for entry in std::fs::read_dir(input).map_err(io)? {
        let entry = entry.map_err(io)?;
        let kind = entry.file_type().map_err(io)?;
        entries.push((entry.file_name(), entry.path(), kind));
    }
    // Sorting by name per folder gives the S3 tree's YYYY/MM/DD time order, and a stable order
    // across machines.
    entries.sort_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));
    for (name, path, kind) in entries {
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if kind.is_dir() {
            expand(&path, out)?;
        } else if is_log_name(&name) && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

/// Names read inside folders.
fn is_log_name(name: &str) -> bool {
    [".log", ".log.gz", ".gz", ".txt", ".parquet"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// How an input's bytes are stored (all false: plain text).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Encoding {
    gzip: bool,
    /// Apache Parquet, read as text lines (`super::parquet`).
    parquet: bool,
    /// From CloudWatch Logs: JSON read as its events' messages, or an export read without its
    /// timestamps ([`super::cloudwatch`]).
    cloudwatch: bool,
}

/// An opened input: its bytes (as text lines) and how they were stored.
type Opened = io::Result<(Box<dyn Read + Send>, Encoding)>;

/// The first bytes of a Parquet file.
const PARQUET_MAGIC: [u8; 4] = *b"PAR1";

/// Opens an input: Parquet from its first four bytes (a file, which Parquet needs: its index
/// is at the end), else as [`sniff`] finds it.
fn open_input(path: &Path, background: bool) -> Opened {
    if path == Path::new("-") {
        return sniff(Box::new(io::stdin()), background);
    }
    let mut file = File::open(path)?;
    let mut magic = [0u8; 4];
    let n = read_prefix(&mut file, &mut magic)?;
    if n == 4 && magic == PARQUET_MAGIC {
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(0)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("a Parquet file must be seekable (not a pipe): {e}"),
            )
        })?;
        return open_parquet(file, background);
    }
    let prefix = magic.get(..n).unwrap_or_default().to_vec();
    sniff(Box::new(Cursor::new(prefix).chain(file)), background)
}

/// Reads up to `buf.len()` bytes (fewer only at the end), retrying interrupted reads.
fn read_prefix(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(feature = "parquet")]
fn open_parquet(file: File, background: bool) -> Opened {
    let lines = super::parquet::ParquetLines::open(file)?;
    let parquet = Encoding {
        parquet: true,
        ..Encoding::default()
    };
    if background {
        return Ok((Box::new(ChannelReader::spawn(lines)), parquet));
    }
    Ok((Box::new(lines), parquet))
}

#[cfg(not(feature = "parquet"))]
fn open_parquet(_file: File, _background: bool) -> Opened {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this is an Apache Parquet file, and this build of flowvigil reads none: build it with \
         the `parquet` feature (on by default; `cargo build --release --features parquet`)",
    ))
}

/// Opens a stream (stdin, or a file's bytes after [`open_input`]'s look at them), sniffing
/// gzip from its first two bytes, then CloudWatch Logs JSON from the start of the text;
/// Parquet in a stream is an error that says why.
fn sniff(mut raw: Box<dyn Read + Send>, background: bool) -> Opened {
    let mut magic = [0u8; 4];
    let n = read_prefix(&mut raw, &mut magic)?;
    if n == 4 && magic == PARQUET_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "Apache Parquet cannot be read from standard input or a pipe (its index is at the \
             file's end): give the file's path",
        ));
    }
    let prefix = magic.get(..n).unwrap_or_default().to_vec();
    let stream = Cursor::new(prefix).chain(raw);
    if n >= 2 && magic.get(..2) == Some(&[0x1f, 0x8b]) {
        let decoder = MultiGzDecoder::new(io::BufReader::with_capacity(CHUNK, stream));
        let gzip = Encoding {
            gzip: true,
            ..Encoding::default()
        };
        if background {
            return json_or_text(Box::new(ChannelReader::spawn(decoder)), gzip);
        }
        return json_or_text(Box::new(decoder), gzip);
    }
    json_or_text(Box::new(stream), Encoding::default())
}

/// Text as it is; CloudWatch Logs JSON (see [`super::cloudwatch::looks_like_json`]) as the
/// text lines of its events' messages, parsed on a background thread; or a CloudWatch Logs
/// export (its first line starting with a timestamp) with each line's timestamp removed.
fn json_or_text(mut text: Box<dyn Read + Send>, mut enc: Encoding) -> Opened {
    // Only as far as needed to tell: the first two bytes other than whitespace when the first
    // opens JSON, else the first line's first 32 bytes. A live stream (`score -`) is not kept
    // waiting for more.
    let mut head = Vec::new();
    let mut buf = [0u8; 64];
    let told = |head: &[u8]| {
        let mut rest = head.iter().skip_while(|b| b.is_ascii_whitespace());
        match rest.next() {
            None => false,
            Some(b'{' | b'[') => rest.any(|b| !b.is_ascii_whitespace()),
            Some(_) => {
                let line = head.iter().skip_while(|b| b.is_ascii_whitespace());
                line.clone().count() >= 32 || line.clone().any(|&b| b == b'\n')
            }
        }
    };
    while !told(&head) {
        let k = match text.read(&mut buf) {
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if k == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..k).unwrap_or_default());
    }
    let json = super::cloudwatch::looks_like_json(&head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    let export = start
        .and_then(|i| head.get(i..))
        .is_some_and(|line| super::cloudwatch::export_prefix(line).is_some());
    let stream: Box<dyn Read + Send> = Box::new(Cursor::new(head).chain(text));
    if json {
        enc.cloudwatch = true;
        let lines = ChannelReader::produce(move |out| super::cloudwatch::convert(stream, out));
        return Ok((Box::new(lines), enc));
    }
    if export {
        enc.cloudwatch = true;
        return Ok((Box::new(super::cloudwatch::ExportLines::new(stream)), enc));
    }
    Ok((stream, enc))
}

/// Reads from a background thread that fills chunks from `R` (the gzip decoder), so that
/// decompression and parsing run on two cores. Chunks are recycled through a return channel.
struct ChannelReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    recycle: Sender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    /// The end marker (an empty chunk) was received.
    done: bool,
}

impl ChannelReader {
    /// Reads `inner` (a decoder) on a background thread.
    fn spawn<R: Read + Send + 'static>(mut inner: R) -> Self {
        Self::start("flowvigil-gunzip", move |tx, returned| {
            decode_loop(&mut inner, &tx, &returned)
        })
    }

    /// The bytes `produce` writes on a background thread, in chunks of [`CHUNK`] (a parse
    /// that pushes its output, such as [`super::cloudwatch::convert`]). Its error, or a panic
    /// in it, reaches the reader after the bytes written before it.
    fn produce<F>(produce: F) -> Self
    where
        F: FnOnce(&mut ChunkOut) -> io::Result<()> + Send + 'static,
    {
        Self::start("flowvigil-json", move |tx, returned| {
            let mut out = ChunkOut {
                tx,
                returned,
                buf: Vec::new(),
            };
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| produce(&mut out)))
                    .unwrap_or_else(|_| Err(io::Error::other("the input's parser failed")));
            let sent = out.flush();
            let last = match result {
                Ok(()) => Ok(Vec::new()),
                Err(e) => Err(e),
            };
            if sent.is_ok() {
                let _ = out.tx.send(last);
            }
        })
    }

    /// Runs `body` on a named thread with the channel's ends; a thread that cannot start
    /// hands its error to the reader rather than panicking.
    fn start<F>(name: &str, body: F) -> Self
    where
        F: FnOnce(SyncSender<io::Result<Vec<u8>>>, Receiver<Vec<u8>>) + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(PIPELINE_DEPTH);
        let (recycle, returned) = mpsc::channel::<Vec<u8>>();
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(tx, returned));
        let rx = match spawned {
            Ok(_) => rx,
            Err(e) => {
                let (tx, rx) = mpsc::sync_channel(1);
                let _ = tx.send(Err(e));
                rx
            }
        };
        ChannelReader {
            rx,
            recycle,
            chunk: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

/// The producing side of [`ChannelReader::produce`]: lines gathered into chunks.
struct ChunkOut {
    tx: SyncSender<io::Result<Vec<u8>>>,
    returned: Receiver<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkOut {
    /// Sends what is gathered (nothing when empty); `Err` when the reader is gone.
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut next = self.returned.try_recv().unwrap_or_default();
        next.clear();
        let full = std::mem::replace(&mut self.buf, next);
        self.tx
            .send(Ok(full))
            .map_err(|_| io::Error::other("the reader stopped"))
    }
}

impl super::cloudwatch::LineOut for ChunkOut {
    fn line(&mut self, message: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(message);
        self.buf.push(b'\n');
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }
}

/// The decoder thread: fill a chunk, send it, until the end, an error, or the reader is gone.
fn decode_loop<R: Read>(
    inner: &mut R,
    tx: &SyncSender<io::Result<Vec<u8>>>,
    returned: &Receiver<Vec<u8>>,
) {
    loop {
        let mut buf = returned.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let mut filled = 0;
        let result = loop {
            if filled == buf.len() {
                break Ok(filled);
            }
            match inner.read(&mut buf[filled..]) {
                Ok(0) => break Ok(filled),
                Ok(k) => filled += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(0) => {
                // The end marker: without it the reader takes the channel's end for an error.
                let _ = tx.send(Ok(Vec::new()));
                return;
            }
            Ok(k) => {
                buf.truncate(k);
                if tx.send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(next)) if next.is_empty() => self.done = true,
                Ok(Ok(next)) => {
                    let used = std::mem::replace(&mut self.chunk, next);
                    // The thread may be gone; then the chunk is simply dropped.
                    let _ = self.recycle.send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The sender is gone without the end marker: the thread died (a panic in a
                // decoder). Not the end of the input: an error, so nothing is lost silently.
                Err(_) => {
                    return Err(io::Error::other(
                        "the decoding thread stopped before the end of the input",
                    ))
                }
            }
        }
        let avail = &self.chunk[self.pos..];
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// A record's counts in the run's summary: records, NODATA / SKIPDATA, and its format's (the
/// file's are counted by the caller, with its line when it can).
#[inline(always)]
fn count_record(s: &mut ReadSummary, status: Option<LogStatus>, format_slot: Option<usize>) {
    let nodata = u64::from(status == Some(LogStatus::NoData));
    let skipdata = u64::from(status == Some(LogStatus::SkipData));
    count_records(s, 1, nodata, skipdata, format_slot);
}

/// Counts `n` records, `nodata` and `skipdata` of them with those statuses, of the format in
/// the summary's slot `format_slot`.
#[inline]
fn count_records(
    s: &mut ReadSummary,
    n: u64,
    nodata: u64,
    skipdata: u64,
    format_slot: Option<usize>,
) {
    s.records += n;
    s.nodata += nodata;
    s.skipdata += skipdata;
    match format_slot.and_then(|i| s.formats.get_mut(i)) {
        Some(f) => f.records += n,
        None => s.formats_not_listed += n,
    }
}

/// What [`LogReader::fast_into`] parses the lines into and hands them to.
pub trait FastSink {
    /// What a line is parsed into.
    type Target: V2Target;
    /// The sink's error.
    type Error;
    /// Where the next line goes; `None` stops the run (`fast_into` returns `Ok(true)`). The
    /// target may be left in any state by a line the fast route declines or the target
    /// refuses.
    fn target(&mut self) -> Option<&mut Self::Target>;
    /// The sink takes lines in runs: [`LogReader::fast_into`] parses up to a few dozen lines
    /// at once into the first of [`FastSink::targets`] (one call for the run, so its state
    /// stays in registers), then hands them all to [`FastSink::parsed_run`]; `target` and
    /// `parsed` are not used.
    const RUNS: bool = false;
    /// With [`FastSink::RUNS`]: the targets the next lines go to, in order (empty stops the
    /// run, as `target`'s `None`).
    fn targets(&mut self) -> &mut [Self::Target] {
        &mut []
    }
    /// With [`FastSink::RUNS`]: the run's lines were parsed into the first `run.len()`
    /// targets. The sink takes them all (it cannot stop inside a run; an error ends the
    /// reader's run, whose lines all count as read). By default, each line goes to
    /// [`FastSink::parsed`] in turn.
    fn parsed_run(&mut self, mut run: FastRun<'_>) -> Result<(), Self::Error> {
        for i in 0..run.len() {
            self.parsed(run.line(i))?;
        }
        Ok(())
    }
    /// A line was parsed into the target; `line` can parse it again into a [`FlowRecord`].
    /// `Ok(false)` stops the run after it.
    fn parsed(&mut self, line: FastLine<'_>) -> Result<bool, Self::Error>;
    /// The record a line the target refused is parsed into (then [`FastSink::refused`]).
    fn record(&mut self) -> &mut FlowRecord;
    /// A line the target refused, parsed into [`FastSink::record`]. `Ok(false)` stops the run
    /// after it.
    fn refused(&mut self, names: &Interner) -> Result<bool, Self::Error>;
}

/// The line [`FastSink::parsed`] was given, still in the reader's buffer.
pub struct FastLine<'a> {
    /// The reader's buffer; the line starts at `at`.
    buf: &'a [u8],
    at: usize,
    interner: &'a mut Interner,
    cache: &'a mut fast::Cache,
    max_enis: usize,
}

impl FastLine<'_> {
    /// The interner that names the line's ENI.
    #[inline(always)]
    pub fn names(&self) -> &Interner {
        self.interner
    }

    /// Parses the line again into `rec` (the record `next_record` would give; the parse
    /// interns nothing new: the line's ENI, if new, was interned by the first parse) and
    /// returns the interner. (Inlined, so the line's parts stay apart in registers: the
    /// parse it calls is out of line.)
    #[inline(always)]
    pub fn record(&mut self, rec: &mut FlowRecord) -> &Interner {
        let line = self.buf.get(self.at..).unwrap_or_default();
        let again = fast::parse_v2_buffered(line, self.interner, self.max_enis, rec, self.cache);
        // The same bytes, checks and choices as the first parse (a known ENI now, and a
        // cached head, both giving the same values), so it succeeds again.
        debug_assert!(again.is_some());
        self.interner
    }
}

/// The lines of a run ([`FastSink::parsed_run`]), still in the reader's buffer.
pub struct FastRun<'a> {
    buf: &'a [u8],
    /// Where the first line starts.
    start: usize,
    /// Where each line ends (the next one starts).
    ends: &'a [usize],
    interner: &'a mut Interner,
    cache: &'a mut fast::Cache,
    max_enis: usize,
}

impl FastRun<'_> {
    /// How many lines the run has.
    #[inline(always)]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The interner that names the run's ENIs.
    #[inline(always)]
    pub fn names(&self) -> &Interner {
        self.interner
    }

    /// Line `i` of the run (any `i`: past the run, an empty line that parses into nothing).
    #[inline(always)]
    pub fn line(&mut self, i: usize) -> FastLine<'_> {
        let at = match i.checked_sub(1) {
            None => self.start,
            Some(j) => self.ends.get(j).copied().unwrap_or(usize::MAX),
        };
        FastLine {
            buf: self.buf,
            at,
            interner: self.interner,
            cache: self.cache,
            max_enis: self.max_enis,
        }
    }
}

/// [`LogReader::fast_records`] as a [`FastSink`]: the record is the target.
struct EachRecord<'r, F> {
    rec: &'r mut FlowRecord,
    each: F,
}

impl<E, F: FnMut(&FlowRecord, &Interner) -> Result<bool, E>> FastSink for EachRecord<'_, F> {
    type Target = FlowRecord;
    type Error = E;
    #[inline(always)]
    fn target(&mut self) -> Option<&mut FlowRecord> {
        Some(self.rec)
    }
    #[inline(always)]
    fn parsed(&mut self, line: FastLine<'_>) -> Result<bool, E> {
        (self.each)(self.rec, line.names())
    }
    #[inline(always)]
    fn record(&mut self) -> &mut FlowRecord {
        self.rec
    }
    #[inline(always)]
    fn refused(&mut self, names: &Interner) -> Result<bool, E> {
        // Never called: a record refuses nothing.
        (self.each)(self.rec, names)
    }
}

enum LineOutcome {
    /// A line: `buf[a..b]`, without its `\n`.
    Line(usize, usize),
    /// A line longer than the limit was skipped.
    TooLong,
    /// The input is finished.
    Eof,
}

/// A line splitter over one growable buffer, reused for every input.
struct Lines {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// `buf[start..scanned]` holds no `\n` (saves rescanning after a refill).
    scanned: usize,
    eof: bool,
    /// Dropping the rest of an over-long line.
    discarding: bool,
    /// Bytes asked for per refill ([`CHUNK`]; parallel cutting asks for a chunk's worth and
    /// keeps reading until it has half of it, see [`LogReader::next_piece`]).
    read_size: usize,
}

impl Lines {
    fn new() -> Self {
        Lines {
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanned: 0,
            eof: false,
            discarding: false,
            read_size: CHUNK,
        }
    }

    fn next(&mut self, src: &mut dyn Read, max_line: usize) -> io::Result<LineOutcome> {
        loop {
            let from = self.scanned.max(self.start);
            if let Some(i) = memchr::memchr(b'\n', &self.buf[from..self.end]) {
                let (a, b) = (self.start, from + i);
                self.start = b + 1;
                self.scanned = self.start;
                // Over the limit whether or not the whole line happened to fit in the buffer,
                // so the outcome never depends on how reads were cut.
                if self.discarding || b - a > max_line {
                    self.discarding = false;
                    return Ok(LineOutcome::TooLong);
                }
                return Ok(LineOutcome::Line(a, b));
            }
            self.scanned = self.end;
            if self.eof {
                if self.discarding {
                    self.discarding = false;
                    self.start = self.end;
                    return Ok(LineOutcome::TooLong);
                }
                if self.start < self.end {
                    let a = self.start;
                    self.start = self.end;
                    if self.end - a > max_line {
                        return Ok(LineOutcome::TooLong);
                    }
                    return Ok(LineOutcome::Line(a, self.end));
                }
                return Ok(LineOutcome::Eof);
            }
            if self.discarding || self.end - self.start > max_line {
                // Keep memory bounded: forget what we have of this line.
                self.discarding = true;
                self.start = self.end;
            }
            self.refill(src)?;
        }
    }

    fn refill(&mut self, src: &mut dyn Read) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned = self.scanned.saturating_sub(self.start);
            self.start = 0;
        }
        let size = self.read_size.max(1);
        if self.buf.len() - self.end < size / 2 {
            if size > CHUNK && self.buf.capacity() < self.end + size {
                // A chunk buffer for parallel cutting (MiBs, recycled): huge pages before the
                // first touch.
                self.buf.reserve_exact(self.end + size - self.buf.len());
                crate::mem::advise_huge(&mut self.buf);
            }
            self.buf.resize(self.end + size, 0);
        }
        // One read, as a stream wants; for big reads (parallel cutting) until half the room is
        // filled, since a pipe or the gzip thread hands out less at a time.
        let want = if size > CHUNK { size / 2 } else { 1 };
        let begin = self.end;
        loop {
            match src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    if self.end - begin >= want || self.end == self.buf.len() {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that gives `n` bytes, then panics (a decoder failing mid-stream).
    struct PanicsAfter(usize);

    impl Read for PanicsAfter {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                panic!("decoder bug (expected by the test)");
            }
            let k = self.0.min(out.len());
            out[..k].fill(b'x');
            self.0 -= k;
            Ok(k)
        }
    }

    /// The background reader ends only at its source's end: a thread that dies on the way is
    /// an error, not a short input.
    #[test]
    fn a_dead_decoding_thread_is_an_error_not_the_end() {
        let mut r = ChannelReader::spawn(PanicsAfter(CHUNK + 10));
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).expect_err("the thread died");
        assert!(err.to_string().contains("stopped before the end"), "{err}");
        assert_eq!(got.len(), CHUNK, "the chunk sent before the panic is read");
        let mut ok = ChannelReader::spawn(io::Cursor::new(vec![b'y'; CHUNK * 2 + 3]));
        let mut all = Vec::new();
        ok.read_to_end(&mut all).expect("a whole input");
        assert_eq!(all.len(), CHUNK * 2 + 3);
        assert_eq!(ok.read(&mut [0u8; 8]).expect("after the end"), 0);
    }

    fn split_all(data: &[u8], max_line: usize) -> Vec<Option<Vec<u8>>> {
        let mut lines = Lines::new();
        let mut src: &[u8] = data;
        let mut out = Vec::new();
        loop {
            match lines.next(&mut src, max_line).unwrap() {
                LineOutcome::Line(a, b) => out.push(Some(lines.buf[a..b].to_vec())),
                LineOutcome::TooLong => out.push(None),
                LineOutcome::Eof => return out,
            }
        }
    }

    #[test]
    fn splits_lines_and_skips_overlong_ones() {
        assert_eq!(
            split_all(b"a\nbb\n\nc", 100),
            vec![
                Some(b"a".to_vec()),
                Some(b"bb".to_vec()),
                Some(Vec::new()),
                Some(b"c".to_vec())
            ]
        );
        let mut data = vec![b'x'; 3 * CHUNK];
        data.extend_from_slice(b"\nok\n");
        data.extend(vec![b'y'; 2 * CHUNK]);
        assert_eq!(
            split_all(&data, CHUNK),
            vec![None, Some(b"ok".to_vec()), None]
        );
        // A line just under the limit spanning refills is kept whole.
        let mut data = vec![b'z'; CHUNK + 10];
        data.push(b'\n');
        assert_eq!(
            split_all(&data, 2 * CHUNK),
            vec![Some(vec![b'z'; CHUNK + 10])]
        );
        // Over the limit even when the whole line sits in one read (in the middle or last).
        assert_eq!(
            split_all(b"ok\n123456\n12345\n1234567", 5),
            vec![Some(b"ok".to_vec()), None, Some(b"12345".to_vec()), None]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The fast route's bookkeeping (counted in `next_record` itself when the format is
        /// listed and the record is of the last input, else through `on_record`) gives the
        /// counts and positions that the line kinds call for, whatever mix of v2 lines (OK,
        /// NODATA, SKIPDATA), blank, bad, header and custom-format lines surrounds it.
        #[test]
        fn fast_route_counts_every_line_and_record(
            kinds in proptest::collection::vec(0u8..8, 1..400),
        ) {
            const V2: &str = "version account-id interface-id srcaddr dstaddr srcport \
                              dstport protocol packets bytes start end action log-status";
            let mut data = String::new();
            let (mut records, mut nodata, mut skipdata, mut blank, mut bad, mut headers) =
                (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
            let mut record_lines = Vec::new();
            let mut custom = false;
            for (i, k) in kinds.iter().enumerate() {
                let line_no = i as u64 + 1;
                let mut record = |data: &mut String, line: String| {
                    data.push_str(&line);
                    records += 1;
                    record_lines.push(line_no);
                };
                match (k, custom) {
                    (0..=2, false) => {
                        let status = ["OK", "NODATA", "SKIPDATA"][usize::from(*k)];
                        nodata += u64::from(*k == 1);
                        skipdata += u64::from(*k == 2);
                        record(&mut data, format!(
                            "2 123456789012 eni-{:017x} 10.0.{}.1 10.1.2.3 443 {} 6 {} 900 \
                             1735689548 1735689550 ACCEPT {status}", i % 7, i % 250,
                            1000 + i, i % 9 + 1));
                    }
                    (0..=2, true) => {
                        record(&mut data, format!("2 eni-c{} 1735689548 1735689549", i % 3));
                    }
                    (3, _) => blank += 1,
                    (4, _) => {
                        data.push_str("2 123456789012 eni-a 1.2.3.4 nonsense");
                        bad += 1;
                    }
                    (5, _) => {
                        data.push_str(V2);
                        headers += 1;
                        custom = false;
                    }
                    (6, _) => {
                        data.push_str("version interface-id start end");
                        headers += 1;
                        custom = true;
                    }
                    _ => {
                        // Lines ended by `\r\n`.
                        if custom {
                            record(&mut data, "2 eni-x 5 6\r".to_string());
                        } else {
                            record(&mut data, "2 1 eni-y 1.2.3.4 5.6.7.8 1 2 6 1 1 5 6 - -\r"
                                .to_string());
                        }
                    }
                }
                data.push('\n');
            }
            let mut reader = LogReader::from_read(
                "t.log",
                Box::new(std::io::Cursor::new(data.into_bytes())),
                ReadOptions::default(),
            )
            .with_sink(Box::new(NullSink));
            let mut rec = FlowRecord::default();
            let mut seen = Vec::new();
            while reader.next_record(&mut rec).unwrap() {
                seen.push(reader.position().line);
                proptest::prop_assert_eq!(reader.position().file_index, 0);
                proptest::prop_assert_eq!(reader.position().path, PathBuf::from("t.log"));
            }
            proptest::prop_assert_eq!(&seen, &record_lines);
            let s = reader.summary();
            proptest::prop_assert_eq!(s.lines, kinds.len() as u64);
            proptest::prop_assert_eq!(s.records, records);
            proptest::prop_assert_eq!(s.nodata, nodata);
            proptest::prop_assert_eq!(s.skipdata, skipdata);
            proptest::prop_assert_eq!(s.blank_lines, blank);
            proptest::prop_assert_eq!(s.bad_lines, bad);
            proptest::prop_assert_eq!(s.headers, headers);
            proptest::prop_assert_eq!(s.files.len(), 1);
            proptest::prop_assert_eq!(s.files[0].lines, kinds.len() as u64);
            proptest::prop_assert_eq!(s.files[0].records, records);
            let by_format: u64 = s.formats.iter().map(|f| f.records).sum();
            proptest::prop_assert_eq!(by_format + s.formats_not_listed, records);
        }
    }

    #[test]
    fn reader_can_move_to_a_worker_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<LogReader>();
    }

    #[test]
    fn log_names_in_folders() {
        assert!(is_log_name(
            "123_vpcflowlogs_us-east-1_fl-1_20250101T0000Z_ab.log.gz"
        ));
        assert!(is_log_name("x.log"));
        assert!(!is_log_name("labels.csv"));
    }
}
