//! Reading AWS VPC Flow Logs: formats, parsing, inputs (files, gzip, folders, stdin).

pub mod intern;
pub mod record;

pub use intern::Interner;
pub use record::{
    Action, EniId, Field, FlowDirection, FlowRecord, IpType, LogStatus, TcpFlags, TextField,
    TextFields, DEFAULT_V2_FIELDS,
};
