//! # flowvigil
//!
//! Anomaly detection for AWS VPC Flow Logs. Records flow forward through one path, shared by
//! training, batch backtests and live streams:
//!
//! ```text
//! flowlog → window → features → detect → engine → (alerts, eval, report)
//! ```
//!
//! # Layout
//!
//! - [`flowlog`]: the flow record, every AWS format (v2..v8, custom, headers), the byte-level
//!   parser (with a straight-line fast path for default v2 lines that falls back to the general
//!   one, and on CPUs with AVX-512 VBMI2 a vectorised parse of the usual v2 line in front of it,
//!   chosen at run time), inputs (files, gzip, Parquet with the default `parquet` feature,
//!   CloudWatch Logs JSON, folder trees, stdin), the text writer, malformed-line reports,
//!   and pieces of input for parallel parsing (`flowlog::chunk`), merged back in input order.
//! - [`stats`]: the summary behind `flowvigil stats`.
//! - [`civil`]: UTC calendar arithmetic on Unix seconds (dates for file names, reports, stats).
//! - [`window`]: per-ENI event-time tumbling windows closed by a watermark; late-record accounting;
//!   sharding by ENI; batch runs apply each block's records grouped by ENI (same result as one
//!   at a time, far fewer cache misses), read in place from 128-byte slots (`window::Slot`, a
//!   usual record in one cache line); `window::run_threads` picks the threaded run:
//!   `window::run_pipelined` on two threads (one reader, shards applied by whichever thread is
//!   free), `window::run_parallel` on more (parsing on every shard's thread); both give the
//!   one-thread result.
//! - [`features`]: schema v1 ([`features::FEATURE_NAMES`]), the per-window accumulator (compact
//!   peer and port tables), per-ENI bounded history (ports and peers seen before), distinct
//!   counting, and the evidence typed findings need.
//! - [`detect`]: online per-ENI baselines, peer groups (linfa k-means), typed findings with ATT&CK
//!   ids, calibration into one `anomaly_score`, explanations.
//! - [`model`]: the trained model and its file format; bincode lives only in `model::codec`.
//! - [`engine`]: batch backtest (rayon shards) and streaming scoring with checkpoints.
//! - [`labels`]: the labels file format shared by the generator, converters and evaluation.
//! - [`gen`]: the deterministic synthetic VPC with injected, labeled attacks.
//! - [`convert`]: Zeek conn.log (IoT-23) and DARPA 1998 edge stream → flow records + labels.
//! - [`eval`]: window ground truth, ROC/PR, per-attack recall, detection delay, a reference
//!   isolation forest.
//! - [`report`]: the offline HTML pages with inline SVG charts: the evaluation report, and the
//!   backtest's alert report ([`report::alerts`]).
//! - [`error`]: the crate's error type gathering each module's.
//! - `mem` (internal): the huge-page hint for parallel reading's big buffers.
//!
//! The command line (`src/main.rs`, `src/cli/`) is glue: it parses flags, calls the library, and
//! maps errors to exit codes (0 success, 1 error, 2 finished with bad input).

#![warn(missing_docs)]

pub mod civil;
pub mod convert;
pub mod detect;
pub mod engine;
pub mod error;
pub mod eval;
pub mod features;
pub mod flowlog;
pub mod gen;
pub mod labels;
mod mem;
pub mod model;
pub mod report;
pub mod stats;
pub mod window;

pub use error::{Error, Result};
