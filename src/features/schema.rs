//! Feature schema v1: the names are the contract (DESIGN.md section 4).
//!
//! A [`FeatureVector`] holds raw values (counts, bytes, ratios) so that exports and explanations
//! speak in the units a person knows; models apply [`LOG_SCALED`] themselves.

/// Version of the feature schema; bump it when a name, meaning or order changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Number of features in schema v1.
pub const NUM_FEATURES: usize = 22;

/// The feature values of one ENI-window, indexed by [`Feature`].
pub type FeatureVector = [f64; NUM_FEATURES];

/// Every feature of schema v1, in column order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Feature {
    /// Records with egress direction.
    FlowsOut,
    /// Records with ingress direction.
    FlowsIn,
    /// Egress bytes.
    BytesOut,
    /// Ingress bytes.
    BytesIn,
    /// Egress packets.
    PacketsOut,
    /// Ingress packets.
    PacketsIn,
    /// ln((bytes_out + 1) / (bytes_in + 1)).
    ByteRatio,
    /// Distinct remote addresses contacted (egress).
    FanOut,
    /// Distinct remote addresses that contacted the ENI (ingress).
    FanIn,
    /// Distinct remote ports on egress.
    DstPortsOut,
    /// Distinct local ports receiving ingress.
    LocalPortsIn,
    /// Egress remote ports never seen before for this ENI.
    NewPortsOut,
    /// Ingress local ports never seen before for this ENI.
    NewPortsIn,
    /// Remote addresses never seen before for this ENI.
    NewPeers,
    /// REJECT share of ingress records.
    RejectRatioIn,
    /// REJECT share of egress records.
    RejectRatioOut,
    /// Share of egress bytes to addresses outside the private ranges.
    ExternalBytesFrac,
    /// Share of records with at most 2 packets.
    SmallFlowFrac,
    /// Shannon entropy (bits) of egress remote ports, weighted by records.
    DstPortEntropy,
    /// Largest egress bytes to one remote address.
    TopPeerBytesOut,
    /// Share of TCP records whose tcp-flags are SYN only (0 when the field is absent).
    SynOnlyFrac,
    /// SKIPDATA records (visibility loss).
    Skipdata,
}

/// Stable names of the features, in column order.
pub const FEATURE_NAMES: [&str; NUM_FEATURES] = [
    "flows_out",
    "flows_in",
    "bytes_out",
    "bytes_in",
    "packets_out",
    "packets_in",
    "byte_ratio",
    "fan_out",
    "fan_in",
    "dst_ports_out",
    "local_ports_in",
    "new_ports_out",
    "new_ports_in",
    "new_peers",
    "reject_ratio_in",
    "reject_ratio_out",
    "external_bytes_frac",
    "small_flow_frac",
    "dst_port_entropy",
    "top_peer_bytes_out",
    "syn_only_frac",
    "skipdata",
];

/// Whether a feature is a count or volume that models see as `ln(1 + x)`.
pub const LOG_SCALED: [bool; NUM_FEATURES] = [
    true, true, true, true, true, true, false, true, true, true, true, true, true, true, false,
    false, false, false, false, true, false, true,
];

/// FNV-1a hash of the schema version and names: a model trained on another schema is refused.
pub fn schema_hash() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(&SCHEMA_VERSION.to_le_bytes());
    for name in FEATURE_NAMES {
        eat(name.as_bytes());
        eat(b"\n");
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_match_the_enum() {
        let mut seen = std::collections::HashSet::new();
        for name in FEATURE_NAMES {
            assert!(seen.insert(name), "duplicate feature name {name}");
        }
        assert_eq!(FEATURE_NAMES[Feature::Skipdata as usize], "skipdata");
        assert_eq!(FEATURE_NAMES[Feature::FanOut as usize], "fan_out");
        assert_eq!(
            FEATURE_NAMES[Feature::TopPeerBytesOut as usize],
            "top_peer_bytes_out"
        );
    }

    #[test]
    fn schema_hash_depends_on_the_names() {
        assert_ne!(schema_hash(), 0);
        assert_eq!(schema_hash(), schema_hash());
    }
}
