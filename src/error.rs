//! The crate-wide error: one variant per module's own error type.
//!
//! Policy: library code returns typed errors and never panics on input data; the binary turns them
//! into messages and exit codes with `anyhow`.

/// Any error flowvigil's library can return.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// I/O outside a more specific context.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Reading a labels file.
    #[error(transparent)]
    Labels(#[from] crate::labels::LabelsError),
    /// Training or detection.
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    /// Reading or writing a model file.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// Reading flow logs.
    #[error(transparent)]
    Flowlog(#[from] crate::flowlog::FlowlogError),
    /// Evaluation (the reference isolation forest).
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    /// The window stage (configuration).
    #[error(transparent)]
    Window(#[from] crate::window::WindowError),
    /// The synthetic VPC generator.
    #[error(transparent)]
    Gen(#[from] crate::gen::GenError),
    /// The Zeek and DARPA converters.
    #[error(transparent)]
    Convert(#[from] crate::convert::ConvertError),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
