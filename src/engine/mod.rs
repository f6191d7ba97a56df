//! The engine: one window → features → score path for training, batch backtests and streams.
//!
//! - [`batch`]: training from logs, and backtests over shards on a rayon pool (by ENI name),
//!   identical for any thread count.
//! - [`stream`]: streaming scoring (files, stdin, a followed folder) with atomic checkpoints and
//!   exact resume.
//! - [`alerts`]: alert lines, flowvigil's JSON or OCSF Detection Finding.
//! - [`summary`]: what a backtest found, for people.

pub mod alerts;
pub mod batch;
pub mod stream;
pub mod summary;

pub use alerts::{alert_value, summary_line, write_alert, AlertFormat};
pub use batch::{
    backtest, finding_mask, train_from_logs, Backtest, BacktestOptions, ScoredRow, ScoringSink,
};
pub use stream::{run_stream, Checkpoint, StreamCounters, StreamOptions, StreamOutcome};
pub use summary::BacktestSummary;

use std::path::PathBuf;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Reading flow logs failed (or a strict run met a bad line).
    #[error(transparent)]
    Read(#[from] crate::flowlog::FlowlogError),
    /// The window stage failed.
    #[error(transparent)]
    Run(#[from] crate::window::RunError<crate::flowlog::FlowlogError>),
    /// Training failed.
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    /// A model or checkpoint file could not be read or written.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// The input held no complete window to train on.
    #[error("the training input produced no windows: give flow logs with OK records (see `flowvigil stats`)")]
    NoWindows,
    /// Opening or preparing an output failed.
    #[error("{}", .0.display())]
    Output(PathBuf, #[source] std::io::Error),
    /// Writing alerts failed.
    #[error("writing alerts")]
    Write(#[source] std::io::Error),
}
