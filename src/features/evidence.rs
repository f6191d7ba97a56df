//! Evidence: the compact per-window detail that typed findings need beyond the feature vector.
//!
//! The feature vector says *that* an ENI-window is unusual; the evidence says *where*: which ports,
//! which peers. It is bounded (at most [`MAX_PORT_STATS`] ports and [`MAX_PEER_STATS`] peers per
//! window) so that a flood of random ports or peers cannot grow it.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// At most this many [`PortStat`] rows per window (busiest first, watched ports always kept).
pub const MAX_PORT_STATS: usize = 24;

/// At most this many [`PeerStat`] rows per window.
pub const MAX_PEER_STATS: usize = 16;

/// Ports that always get a [`PortStat`] row when they carry traffic, because a finding watches
/// them: remote administration (SSH, Telnet, SMB, RDP, WinRM, VNC), mail relay, and common
/// mining-pool (stratum) ports.
pub const WATCHED_PORTS: [u16; 16] = [
    22, 23, 25, 445, 3389, 5900, 5985, 5986, 465, 587, 3333, 4444, 5555, 7777, 9999, 14444,
];

/// Traffic of one ENI-window on one port in one direction.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PortStat {
    /// The remote port for egress, the local port for ingress.
    pub port: u16,
    /// IANA protocol number (the most frequent one on this port).
    pub protocol: u8,
    /// True for ingress (remote → ENI), false for egress.
    pub ingress: bool,
    /// Records.
    pub flows: u32,
    /// Records with at most 2 packets.
    pub small_flows: u32,
    /// Records with action REJECT.
    pub rejected: u32,
    /// Distinct remote addresses (exact up to the distinct-count cap, then estimated).
    pub peers: u32,
    /// Distinct remote addresses never seen before for this ENI.
    pub new_peers: u32,
    /// Distinct remote addresses inside the private ranges.
    pub internal_peers: u32,
    /// Bytes.
    pub bytes: u64,
    /// Packets.
    pub packets: u64,
    /// Longest record duration (`end - start`), seconds.
    pub max_duration_secs: u32,
    /// True when this port was never seen before for this ENI in this direction.
    pub new_port: bool,
}

/// Egress traffic of one ENI-window to one remote address and port.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerStat {
    /// The remote address.
    pub addr: IpAddr,
    /// The remote port.
    pub port: u16,
    /// IANA protocol number.
    pub protocol: u8,
    /// Records.
    pub flows: u32,
    /// Egress bytes.
    pub bytes: u64,
    /// Egress packets.
    pub packets: u64,
    /// Earliest record start, Unix seconds.
    pub first_start: u64,
    /// Latest record start, Unix seconds.
    pub last_start: u64,
    /// True when the address was never seen before for this ENI.
    pub new_peer: bool,
    /// True when the address is outside the private ranges.
    pub external: bool,
}

/// Everything a finding may look at besides the feature vector.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Busiest ports by records (both directions), plus every watched port with traffic.
    pub ports: Vec<PortStat>,
    /// Egress (peer, port) pairs, for exfiltration and beaconing: at most [`MAX_PEER_STATS`]
    /// rows, the top half by bytes then the top ones by records (ties broken by address, port,
    /// protocol). Up to half of the rows are kept for external pairs (`external`): internal
    /// pairs take at most `MAX_PEER_STATS - min(MAX_PEER_STATS / 2, external pairs)` rows, so
    /// busy internal peers (a NAT gateway) cannot hide a quiet external beacon. Chosen among the
    /// first `PAIR_CAP` (256) pairs of the window.
    pub peers_out: Vec<PeerStat>,
}
