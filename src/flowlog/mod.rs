//! Reading AWS VPC Flow Logs: formats, parsing, inputs (files, gzip, folders, stdin).
//!
//! - [`record`]: the typed [`FlowRecord`] and the [`Field`] names.
//! - [`parse`]: [`Format`] (field order from a header, `--format` or the v2 default) and the
//!   byte-level line parser with its small, `Copy` [`ParseError`].
//! - [`reader`]: [`LogReader`] over files, gzip, Parquet, CloudWatch Logs JSON, folder trees
//!   and stdin, with bad-line reports.
//! - [`cloudwatch`]: CloudWatch Logs JSON (subscription data, the AWS CLI's output) read as
//!   the text lines of its events' messages.
//! - `parquet` (feature `parquet`, on by default): AWS's Parquet delivery, read as the text
//!   lines of a custom format (`parquet::ParquetLines`).
//! - [`summary`]: [`ReadSummary`], the counts a reader keeps.
//! - [`write`](mod@write): the text writer (generator, converters, round-trip tests).
//! - [`intern`]: ENI names to dense ids.
//! - [`chunk`]: parallel reading: pieces of input, parsed on worker threads and merged in
//!   order (used by `window::run_parallel`).
//! - `scan` (private): the cutting thread's line scan for parallel reading (newline masks).
//! - `fast` (private): the straight-line parser of default-v2 lines behind [`parse_line`] and the
//!   reader's fast route; it falls back to the general parser for anything unusual. It writes
//!   into a [`V2Target`]: a record, or the window stage's block slot (`LogReader::fast_into`).

pub mod chunk;
pub mod cloudwatch;
pub mod error;
mod fast;
pub use fast::V2Target;
pub mod intern;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod parse;
pub mod reader;
pub mod record;
mod scan;
pub mod summary;
pub mod write;

pub use error::FlowlogError;
pub use intern::Interner;
pub use parse::{
    is_header_line, parse_line, Column, Expected, Format, FormatError, ParseError, Snippet,
};
pub use reader::{
    BadLineSink, FastLine, FastRun, FastSink, InputPosition, LogReader, MemorySink, NullSink,
    ReadOptions, StderrSink,
};
pub use record::{
    Action, EniId, Field, FlowDirection, FlowRecord, IpType, LogStatus, TcpFlags, TextField,
    TextFields, DEFAULT_V2_FIELDS,
};
pub use summary::{FileSummary, FormatSeen, ReadSummary};
pub use write::{
    field_name, parse_field_name, write_header, write_record, ALL_FIELDS, DIGIT_PAIRS, V5_FIELDS,
};
