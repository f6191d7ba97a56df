//! What a reader saw: line, record and bad-line counts, per file and per format.

use serde::{Deserialize, Serialize};

use super::parse::Format;

/// Most distinct formats listed in a [`ReadSummary`]; more are only counted.
pub const MAX_FORMATS_LISTED: usize = 32;

/// Most distinct unknown field names listed (and reported) in a [`ReadSummary`].
pub const MAX_UNKNOWN_FIELDS: usize = 64;

/// Counts of everything a [`LogReader`](super::LogReader) read.
///
/// `lines = records + bad_lines + blank_lines + headers + unsupported_rows`, summed over the files
/// (lines skipped by `resume_at` are counted apart in `resume_skipped_lines`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadSummary {
    /// Lines read (every `\n`-terminated line, and a last unterminated one).
    pub lines: u64,
    /// Records returned, NODATA and SKIPDATA rows included.
    pub records: u64,
    /// Malformed lines: reported (up to a per-file limit), counted, skipped.
    pub bad_lines: u64,
    /// Empty or whitespace-only lines, skipped silently.
    pub blank_lines: u64,
    /// Header lines read as formats (a rejected Transit Gateway header is a bad line instead).
    pub headers: u64,
    /// Records with `log-status` NODATA.
    pub nodata: u64,
    /// Records with `log-status` SKIPDATA.
    pub skipdata: u64,
    /// Rows skipped because they follow an unsupported (Transit Gateway) header; the header
    /// itself counts as one bad line.
    pub unsupported_rows: u64,
    /// Bad lines counted but not reported (beyond the per-file report limit).
    pub unreported_bad_lines: u64,
    /// Lines skipped by `resume_at` (already processed before a checkpoint).
    pub resume_skipped_lines: u64,
    /// Per input file, in reading order.
    pub files: Vec<FileSummary>,
    /// Formats records were read with, first seen first (at most [`MAX_FORMATS_LISTED`]).
    pub formats: Vec<FormatSeen>,
    /// Records read with a format that was not listed because the list was full.
    pub formats_not_listed: u64,
    /// Unknown header field names, kept as opaque columns (at most [`MAX_UNKNOWN_FIELDS`]).
    pub unknown_fields: Vec<String>,
}

/// Counts for one input.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    /// The path as given or found (`-` for stdin).
    pub path: String,
    /// True when the input was gzip (detected from its magic bytes).
    pub gzip: bool,
    /// True when the input was Apache Parquet (detected from its magic bytes), read as text
    /// lines (see `flowlog::parquet`).
    #[serde(default)]
    pub parquet: bool,
    /// True when the input came from CloudWatch Logs: JSON (subscription data or the AWS
    /// CLI's output), read as its events' messages, or an export, read without its
    /// timestamps (see `flowlog::cloudwatch`).
    #[serde(default)]
    pub cloudwatch: bool,
    /// Lines read.
    pub lines: u64,
    /// Records returned.
    pub records: u64,
    /// Malformed lines.
    pub bad_lines: u64,
    /// Header lines.
    pub headers: u64,
}

/// One format records were read with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatSeen {
    /// The field list, as a header line.
    pub fields: String,
    /// `v2`, `v5` or `custom`, see [`Format::kind`].
    pub kind: String,
    /// Header lines that announced it (0 for the default or `--format` format).
    pub headers: u64,
    /// Records read with it.
    pub records: u64,
}

impl ReadSummary {
    /// The slot of `format` in [`ReadSummary::formats`], adding it when new and the list is not
    /// full.
    pub(crate) fn format_slot(&mut self, format: &Format) -> Option<usize> {
        let fields = format.header();
        if let Some(i) = self.formats.iter().position(|f| f.fields == fields) {
            return Some(i);
        }
        if self.formats.len() >= MAX_FORMATS_LISTED {
            return None;
        }
        self.formats.push(FormatSeen {
            fields,
            kind: format.kind().to_string(),
            headers: 0,
            records: 0,
        });
        Some(self.formats.len() - 1)
    }
}
