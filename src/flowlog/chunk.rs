//! Parallel reading: [`LogReader::next_piece`](super::LogReader::next_piece) cuts the input into
//! pieces (chunks of whole lines under one format, or one header or over-long line), worker
//! threads parse chunks with their own [`ChunkParser`], and
//! [`LogReader::merge_piece`](super::LogReader::merge_piece) accounts for each piece in sequence
//! order. The records, counts, bad-line reports and interned names are those of reading record
//! by record (property-tested in `tests/parallel.rs`); only who parses which line changes.
//!
//! A parser interns names in its own [`Interner`] (ids local to the parser) and reports the
//! names each chunk added; the merge interns them in the reader's interner in input order, which
//! gives the reader's ids, the ids a sequential read would have given.

use std::sync::Arc;

use super::fast;
use super::intern::Interner;
use super::parse::{parse_line, Format, ParseError};
use super::record::{FlowRecord, LogStatus};

/// One piece of input, numbered in input order.
#[derive(Debug)]
pub struct Piece {
    /// Position in the input order (0, 1, 2, ...).
    pub seq: u64,
    /// What it holds.
    pub kind: PieceKind,
}

/// What a [`Piece`] holds.
#[derive(Debug)]
pub enum PieceKind {
    /// Lines to parse.
    Lines(RawChunk),
    /// A header line (already applied to the format of later chunks; accounted at merge).
    Header {
        /// The input's slot in the summary's file list.
        file_slot: usize,
        /// The input's index.
        input: usize,
        /// Its line number.
        line_no: u64,
        /// The format segment it starts.
        segment: u64,
        /// The line, without its ending.
        line: Vec<u8>,
    },
    /// A line longer than the reader's limit (a bad line).
    TooLong {
        /// The input's slot in the summary's file list.
        file_slot: usize,
        /// The input's index.
        input: usize,
        /// Its line number.
        line_no: u64,
    },
}

/// Whole lines of one input under one format; every line ends with `\n`.
#[derive(Debug)]
pub struct RawChunk {
    /// The input's slot in the summary's file list.
    pub file_slot: usize,
    /// The input's index.
    pub input: usize,
    /// The line number before the chunk's first line.
    pub first_line: u64,
    /// The format of its lines.
    pub format: Arc<Format>,
    /// Under a rejected (Transit Gateway) header: rows are counted, not parsed.
    pub unsupported: bool,
    /// The format segment (input or header) it belongs to.
    pub segment: u64,
    /// The lines: `data[offset..]` (the buffer may be the reader's, handed over whole).
    pub data: Vec<u8>,
    /// Where the lines start in `data`.
    pub offset: usize,
}

/// What parsing one chunk gave, besides its records.
#[derive(Debug, Default)]
pub struct ChunkOutcome {
    /// Lines.
    pub lines: u64,
    /// Blank lines.
    pub blank_lines: u64,
    /// Rows under a rejected header.
    pub unsupported_rows: u64,
    /// Records.
    pub records: u64,
    /// NODATA records.
    pub nodata: u64,
    /// SKIPDATA records.
    pub skipdata: u64,
    /// The line of the last record.
    pub last_record_line: u64,
    /// Malformed lines, in order.
    pub errors: Vec<ParseError>,
    /// Names the parser's interner added in this chunk, in id order.
    pub new_names: Vec<String>,
}

/// Parses chunks on a worker thread, with its own interner (see the module docs).
#[derive(Debug)]
pub struct ChunkParser {
    interner: Interner,
    names_reported: usize,
    max_enis: usize,
    cache: fast::Cache,
    rec: FlowRecord,
}

impl ChunkParser {
    /// A parser whose interner starts as `base` (the reader's, before reading: e.g. a model's
    /// ENIs), so that ids below `base.len()` are the reader's ids.
    pub fn new(base: &Interner, max_enis: usize) -> Self {
        let mut interner = base.clone();
        interner.ensure_index();
        Self {
            names_reported: interner.len(),
            interner,
            max_enis,
            cache: fast::Cache::default(),
            rec: FlowRecord::default(),
        }
    }

    /// Parses `chunk`, calling `on_record` for each record in order (with the parser's
    /// interner), and returns the counts, errors and new names for
    /// [`LogReader::merge_piece`](super::LogReader::merge_piece).
    pub fn parse(
        &mut self,
        chunk: &RawChunk,
        mut on_record: impl FnMut(&FlowRecord, &Interner),
    ) -> ChunkOutcome {
        let mut out = ChunkOutcome::default();
        let data = chunk.data.get(chunk.offset..).unwrap_or_default();
        let v2 = chunk.format.is_v2() && !chunk.unsupported;
        let mut pos = 0usize;
        let mut line_no = chunk.first_line;
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or_default();
            if v2 {
                if let Some(len) = fast::parse_v2_buffered(
                    rest,
                    &mut self.interner,
                    self.max_enis,
                    &mut self.rec,
                    &mut self.cache,
                ) {
                    pos += len;
                    line_no += 1;
                    out.lines += 1;
                    Self::count(&mut out, &self.rec, line_no);
                    on_record(&self.rec, &self.interner);
                    continue;
                }
            }
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            pos += end + 1;
            line_no += 1;
            out.lines += 1;
            let line = rest.get(..end).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                out.blank_lines += 1;
                continue;
            }
            if chunk.unsupported {
                out.unsupported_rows += 1;
                continue;
            }
            match parse_line(
                line,
                line_no,
                &chunk.format,
                &mut self.interner,
                self.max_enis,
                &mut self.rec,
            ) {
                Ok(()) => {
                    Self::count(&mut out, &self.rec, line_no);
                    on_record(&self.rec, &self.interner);
                }
                Err(e) => out.errors.push(e),
            }
        }
        out.new_names = self
            .interner
            .names()
            .get(self.names_reported..)
            .unwrap_or_default()
            .to_vec();
        self.names_reported = self.interner.len();
        out
    }

    fn count(out: &mut ChunkOutcome, rec: &FlowRecord, line_no: u64) {
        out.records += 1;
        out.last_record_line = line_no;
        match rec.log_status {
            Some(LogStatus::NoData) => out.nodata += 1,
            Some(LogStatus::SkipData) => out.skipdata += 1,
            _ => {}
        }
    }
}
