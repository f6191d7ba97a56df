//! Features: a closed ENI-window becomes a [`FeatureVector`] plus [`Evidence`].
//!
//! - [`schema`]: the names (schema v1) and their order: the contract with models and exports.
//! - [`accum`]: the per-window accumulator (direction, endpoints, ports, bounds per window).
//! - [`peers`]: one window's remote addresses (and the order its history sees them in).
//! - [`ports`]: one window's port set and port rows in one table.
//! - [`history`]: the bounded per-ENI "seen before" state carried across windows and runs.
//! - [`distinct`]: exact-then-HyperLogLog distinct counting and the fixed hashes behind it.
//! - [`evidence`]: per-port and per-peer detail for typed findings.

pub mod accum;
pub mod distinct;
pub mod evidence;
pub mod history;
pub mod peers;
pub mod ports;
pub mod schema;

pub(crate) use accum::plain_obs_fields;
pub use accum::{Dir, ObsView, Observation, Unplaceable, WindowAcc};
pub use evidence::{Evidence, PeerStat, PortStat, MAX_PEER_STATS, MAX_PORT_STATS, WATCHED_PORTS};
pub use history::EniHistory;
pub use schema::{
    schema_hash, Feature, FeatureVector, FEATURE_NAMES, LOG_SCALED, NUM_FEATURES, SCHEMA_VERSION,
};

use serde::{Deserialize, Serialize};

use crate::flowlog::EniId;

/// One closed ENI-window: what the detectors score.
///
/// `eni` is an id from the run's interner: ids are per run (first-seen order), the interface
/// name is the stable key across runs and files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowFeatures {
    /// The interned ENI.
    pub eni: EniId,
    /// Window start, Unix seconds (a multiple of the window width).
    pub window_start: u64,
    /// Feature values, raw units, see [`FEATURE_NAMES`].
    pub values: FeatureVector,
    /// Per-port and per-peer detail for typed findings.
    pub evidence: Evidence,
}
