//! Features: a closed ENI-window becomes a [`FeatureVector`] plus [`Evidence`].

pub mod evidence;
pub mod schema;

pub use evidence::{Evidence, PeerStat, PortStat, MAX_PEER_STATS, MAX_PORT_STATS, WATCHED_PORTS};
pub use schema::{
    schema_hash, Feature, FeatureVector, FEATURE_NAMES, LOG_SCALED, NUM_FEATURES, SCHEMA_VERSION,
};

use serde::{Deserialize, Serialize};

use crate::flowlog::EniId;

/// One closed ENI-window: what the detectors score.
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
