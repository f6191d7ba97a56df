//! Errors of the flow log reader.

use std::path::PathBuf;

use super::parse::{FormatError, ParseError};

/// An error reading flow logs.
///
/// A malformed line is not an error by default (it is reported, counted and skipped); it becomes
/// [`FlowlogError::BadLine`] only with `strict`.
#[derive(Debug, thiserror::Error)]
pub enum FlowlogError {
    /// An input could not be opened, listed or read (including corrupt gzip data).
    // The cause is in the message and deliberately not a `#[source]`: error chains printed
    // with `{:#}` (anyhow in the binary) would otherwise repeat it.
    #[error("{}: {error}", path.display())]
    Io {
        /// The input (`<stdin>` for standard input).
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// A malformed line, in strict mode.
    #[error("{}:{}: {error}", path.display(), error.line)]
    BadLine {
        /// The input.
        path: PathBuf,
        /// What was wrong, where.
        error: ParseError,
    },
    /// The `--format` field list is unusable.
    #[error("--format: {0}")]
    Format(#[from] FormatError),
    /// A checkpointed input position does not match the inputs.
    #[error("cannot resume at {}:{line}: {reason}", path.display())]
    Resume {
        /// The checkpointed input.
        path: PathBuf,
        /// The checkpointed line.
        line: u64,
        /// Why it does not match.
        reason: &'static str,
    },
    /// More distinct interface ids than `max_enis`, found while reading in parallel (where the
    /// excess lines cannot be turned into bad lines after the fact, as one thread does).
    #[error(
        "more than {max} distinct interface ids: rerun with --threads 1 to count the lines of \
         the excess interfaces as bad lines, or raise the limit (--max-enis where offered)"
    )]
    TooManyEnis {
        /// The limit.
        max: usize,
    },
}
