//! Typed findings (DESIGN.md section 5): rules over the feature vector, its deviation from the
//! ENI's baseline, and the window's [`Evidence`], each with a MITRE ATT&CK technique and a
//! severity on GuardDuty's scale (Low 2, Medium 5, High 8).
//!
//! Every rule is guarded twice: an absolute floor (a port scan needs at least
//! [`FindingRules::scan_min_ports`] ports) *and* a deviation from the ENI's own expected value
//! (`z ≥` [`FindingRules::min_z`]), so that a NAT gateway that always talks to many ports is not
//! a port scanner. The triggers are documented on the [`FindingRules`] fields.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::features::{Evidence, Feature, FeatureVector, NUM_FEATURES};

/// At most this many findings per window (the first ones found, in rule order).
pub const MAX_FINDINGS: usize = 8;

/// Remote-administration ports watched for lateral movement.
pub const ADMIN_PORTS: [u16; 7] = [22, 23, 445, 3389, 5900, 5985, 5986];

/// Brute-forced services tracked per ENI (see [`brute_slot`]): SSH, RDP, WinRM (5985 and 5986
/// share a slot), each in both directions.
pub const BRUTE_SLOTS: usize = 6;

/// The slot of [`BRUTE_SLOTS`] that counts flows on `port` in this direction, if it is watched:
/// ingress 22, 3389, 5985/6 are slots 0-2, egress ones 3-5.
pub fn brute_slot(port: u16, ingress: bool) -> Option<usize> {
    let base = match port {
        22 => 0,
        3389 => 1,
        5985 | 5986 => 2,
        _ => return None,
    };
    Some(if ingress { base } else { base + 3 })
}

/// Mail submission and relay ports watched for spam.
pub const MAIL_PORTS: [u16; 3] = [25, 465, 587];

/// Common stratum (mining pool) ports.
pub const MINING_PORTS: [u16; 6] = [3333, 4444, 5555, 7777, 9999, 14444];

/// What a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FindingKind {
    /// Many distinct ports probed, mostly rejected or ≤ 2-packet flows.
    PortScan,
    /// One port, many remote addresses, mostly failed.
    HostSweep,
    /// Many short flows to SSH (22).
    BruteForceSsh,
    /// Many short flows to RDP (3389).
    BruteForceRdp,
    /// Many short flows to WinRM (5985/5986).
    BruteForceWinRm,
    /// Egress bytes to one remote far above the ENI's baseline.
    Exfiltration,
    /// Traffic on a remote port never used before by this ENI.
    UnusualPort,
    /// Regular contact with one external (peer, port) across windows.
    Beaconing,
    /// Egress packet rate far above the baseline.
    DoS,
    /// New internal peers on remote-administration ports.
    LateralMovement,
    /// Long-lived flows to mining-pool ports.
    CryptoMining,
    /// Mail to many new remote servers (a spam bot).
    SpamRelay,
}

impl FindingKind {
    /// Every kind, in rule order.
    pub const ALL: [FindingKind; 12] = [
        FindingKind::PortScan,
        FindingKind::HostSweep,
        FindingKind::BruteForceSsh,
        FindingKind::BruteForceRdp,
        FindingKind::BruteForceWinRm,
        FindingKind::Exfiltration,
        FindingKind::UnusualPort,
        FindingKind::Beaconing,
        FindingKind::DoS,
        FindingKind::LateralMovement,
        FindingKind::CryptoMining,
        FindingKind::SpamRelay,
    ];

    /// The finding type as alerts name it, GuardDuty-style.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::PortScan => "Recon/PortScan",
            FindingKind::HostSweep => "Recon/HostSweep",
            FindingKind::BruteForceSsh => "BruteForce/SSH",
            FindingKind::BruteForceRdp => "BruteForce/RDP",
            FindingKind::BruteForceWinRm => "BruteForce/WinRM",
            FindingKind::Exfiltration => "Exfiltration/UnusualVolume",
            FindingKind::UnusualPort => "Behavior/UnusualPort",
            FindingKind::Beaconing => "C2/Beaconing",
            FindingKind::DoS => "Impact/DoS",
            FindingKind::LateralMovement => "LateralMovement/AdminPort",
            FindingKind::CryptoMining => "CryptoMining/PoolPort",
            FindingKind::SpamRelay => "Impact/SpamRelay",
        }
    }

    /// The MITRE ATT&CK technique id.
    pub fn technique(self) -> &'static str {
        match self {
            FindingKind::PortScan | FindingKind::HostSweep => "T1046",
            FindingKind::BruteForceSsh
            | FindingKind::BruteForceRdp
            | FindingKind::BruteForceWinRm => "T1110",
            FindingKind::Exfiltration => "T1048",
            FindingKind::UnusualPort => "T1571",
            FindingKind::Beaconing => "T1071",
            FindingKind::DoS => "T1498",
            FindingKind::LateralMovement => "T1021",
            // Resource Hijacking covers both: compute (mining) and bandwidth / mail (spam).
            FindingKind::CryptoMining | FindingKind::SpamRelay => "T1496",
        }
    }
}

/// Severity on GuardDuty's scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    /// 2: suspicious, often benign.
    Low,
    /// 5: investigate.
    Medium,
    /// 8: likely compromise or active attack.
    High,
}

impl Severity {
    /// The numeric severity (2, 5, 8); the findings detector's raw score is their sum.
    pub fn value(self) -> f64 {
        match self {
            Severity::Low => 2.0,
            Severity::Medium => 5.0,
            Severity::High => 8.0,
        }
    }
}

/// One typed finding. Plain data (no `String`): [`Finding::detail`] formats it when printed.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// What was found.
    pub kind: FindingKind,
    /// How bad.
    pub severity: Severity,
    /// True when the traffic comes into the ENI (the ENI is the target).
    pub ingress: bool,
    /// The port concerned (0 when the finding spans ports).
    pub port: u16,
    /// The count the rule fired on: ports, peers, flows, packets/s or windows (see the detail).
    pub count: u64,
    /// Bytes concerned (0 when not relevant).
    pub bytes: u64,
    /// The remote address concerned, when one stands out.
    pub peer: Option<IpAddr>,
    /// The deviation or regularity score the rule used.
    pub score: f64,
}

impl Finding {
    /// A one-line human description, formatted lazily.
    pub fn detail(&self) -> FindingDetail<'_> {
        FindingDetail(self)
    }
}

/// Display adapter for [`Finding::detail`].
pub struct FindingDetail<'a>(&'a Finding);

impl fmt::Display for FindingDetail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        let dir = if x.ingress { "inbound" } else { "outbound" };
        match x.kind {
            FindingKind::PortScan => {
                write!(
                    f,
                    "{} distinct ports probed {dir}, mostly failed (z={:+.1})",
                    x.count, x.score
                )
            }
            FindingKind::HostSweep => write!(
                f,
                "{} remote hosts swept on port {}, mostly failed (z={:+.1})",
                x.count, x.port, x.score
            ),
            FindingKind::BruteForceSsh
            | FindingKind::BruteForceRdp
            | FindingKind::BruteForceWinRm => {
                write!(
                    f,
                    "{} {dir} flows on port {} from few peers (z={:+.1})",
                    x.count, x.port, x.score
                )
            }
            FindingKind::Exfiltration => {
                write!(f, "{} bytes out to ", x.bytes)?;
                write_peer(f, x.peer, x.port)?;
                write!(f, " (z={:+.1})", x.score)
            }
            FindingKind::UnusualPort => write!(
                f,
                "{} flows, {} bytes to never-used remote port {}",
                x.count, x.bytes, x.port
            ),
            FindingKind::Beaconing => {
                write!(f, "regular contact with ")?;
                write_peer(f, x.peer, x.port)?;
                write!(f, " over {} windows (regularity {:.2})", x.count, x.score)
            }
            FindingKind::DoS if x.ingress => {
                write!(
                    f,
                    "inbound flood: {} packets/s or flows per window in, far above baseline (z={:+.1})",
                    x.count, x.score
                )
            }
            FindingKind::DoS => {
                write!(
                    f,
                    "{} packets/s out, far above baseline (z={:+.1})",
                    x.count, x.score
                )
            }
            FindingKind::LateralMovement if x.ingress => {
                write!(
                    f,
                    "admin port {} reached for the first time, from a new internal peer",
                    x.port
                )
            }
            FindingKind::LateralMovement => {
                write!(
                    f,
                    "{} new internal peers on admin ports (top: {})",
                    x.count, x.port
                )
            }
            FindingKind::SpamRelay => write!(
                f,
                "mail (port {}) to {} remote servers, mostly new (z={:+.1})",
                x.port, x.count, x.score
            ),
            FindingKind::CryptoMining => write!(
                f,
                "long-lived flows ({} s) to mining-pool port {}, {} bytes",
                x.count, x.port, x.bytes
            ),
        }
    }
}

fn write_peer(f: &mut fmt::Formatter<'_>, peer: Option<IpAddr>, port: u16) -> fmt::Result {
    match peer {
        Some(IpAddr::V6(a)) => write!(f, "[{a}]:{port}"),
        Some(IpAddr::V4(a)) => write!(f, "{a}:{port}"),
        None => write!(f, "port {port}"),
    }
}

impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Finding", 6)?;
        st.serialize_field("kind", self.kind.name())?;
        st.serialize_field("technique", self.kind.technique())?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("port", &self.port)?;
        st.serialize_field("peer", &self.peer)?;
        st.serialize_field("detail", &self.detail().to_string())?;
        st.end()
    }
}

/// Thresholds of the typed findings. Each field documents the trigger it belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingRules {
    /// Every rule also needs its driving feature at least this many standard deviations above the
    /// ENI's expected value (after cold-start shrinkage and seasonality).
    pub min_z: f64,
    /// PortScan: `dst_ports_out` (outbound) or `local_ports_in` (inbound) at least this, with
    /// `reject_ratio` or `small_flow_frac` of that direction ≥ `scan_min_fail_frac`.
    pub scan_min_ports: f64,
    /// PortScan / HostSweep: share of failed (REJECT or ≤ 2-packet) flows.
    pub scan_min_fail_frac: f64,
    /// HostSweep: one egress port reaching at least this many remote addresses, mostly failed,
    /// with `fan_out` above baseline.
    pub sweep_min_peers: u32,
    /// BruteForce: at least this many flows on 22 / 3389 / 5985-6 in one direction, at least
    /// `brute_min_flows_per_peer` per remote, and above the ENI's usual traffic: either that
    /// direction's `flows` is `min_z` above baseline, or the port's own flows are at least
    /// `brute_min_ratio` × (1 + the ENI's EW mean of flows on that port and direction). The
    /// second guard catches a busy web server hammered on a port it never serves (its total
    /// inbound flows hide the attack), while a bastion's usual SSH load keeps a high port mean.
    pub brute_min_flows: u32,
    /// BruteForce: flows per remote address (few peers hammering, not a fleet).
    pub brute_min_flows_per_peer: f64,
    /// BruteForce: the port's flows over (1 + its per-ENI EW mean), see `brute_min_flows`.
    pub brute_min_ratio: f64,
    /// Exfiltration: `top_peer_bytes_out` above baseline and the top egress (peer, port) row
    /// carrying at least this many bytes to an external address (High if the peer is new).
    pub exfil_min_bytes: u64,
    /// UnusualPort: an egress port never used before by an ENI with at least
    /// `unusual_min_history` windows, carrying ≥ this many bytes, outside a port scan.
    pub unusual_min_bytes: u64,
    /// UnusualPort: history (windows) an ENI needs before "never used" means something.
    pub unusual_min_history: u32,
    /// Beaconing: (peer, port) seen in at least this many windows.
    pub beacon_min_windows: u32,
    /// Beaconing: RITA-style regularity (mean of gap, count and size subscores in [0, 1]).
    pub beacon_min_score: f64,
    /// DoS: egress packets per second at least this, with `packets_out` above baseline.
    pub dos_min_pps: f64,
    /// DoS, victim side (inbound flood, e.g. a SYN flood): ingress records at least this many
    /// per window, or ingress packets per second at least [`FindingRules::dos_min_pps_in`], with
    /// `packets_in` or `flows_in` at least `min_z` above the ENI's own baseline.
    pub dos_min_flows_in: f64,
    /// DoS, victim side: ingress packets per second that count as a flood (lower than the egress
    /// floor: a victim's baseline guards it, and a SYN flood is many small packets).
    pub dos_min_pps_in: f64,
    /// DoS, victim side: the deviation `packets_in` or `flows_in` needs (stricter than `min_z`:
    /// inbound load is the one thing a service does not choose, so busy hours reach z ≈ 3).
    pub dos_min_z_in: f64,
    /// LateralMovement (source side): at least this many new internal peers summed over the egress
    /// admin ports ([`ADMIN_PORTS`]), or a single one on an admin port that is itself new for the
    /// ENI (an attacker moves one host at a time, often slower than one per window), fewer than
    /// `sweep_min_peers` peers in all (more is a sweep); High when one of those ports is new for
    /// the ENI, else Medium. Target side: an
    /// ingress admin port never served before, reached from a new internal peer (Medium).
    pub lateral_min_new_peers: u32,
    /// LateralMovement: windows of history an ENI needs (before that, every peer is new).
    pub lateral_min_history: u32,
    /// SpamRelay: one egress mail port ([`MAIL_PORTS`]) reaching at least this many remote
    /// addresses, at least half of them new, with `fan_out` or `new_peers` above baseline (High).
    /// `new_peers` counts too because a NAT gateway's usual fan-out is large enough to hide a
    /// spam run, while its new-peer count stays low.
    pub spam_min_peers: u32,
    /// CryptoMining: egress to a mining port ([`MINING_PORTS`]) with a record lasting at least
    /// this many seconds (long-lived pool connection) and an external peer.
    pub mining_min_duration_secs: u32,
}

impl Default for FindingRules {
    fn default() -> Self {
        Self {
            min_z: 3.0,
            scan_min_ports: 20.0,
            scan_min_fail_frac: 0.5,
            sweep_min_peers: 20,
            brute_min_flows: 20,
            brute_min_flows_per_peer: 5.0,
            brute_min_ratio: 5.0,
            exfil_min_bytes: 5_000_000,
            unusual_min_bytes: 1_000_000,
            unusual_min_history: 48,
            beacon_min_windows: 6,
            beacon_min_score: 0.8,
            dos_min_pps: 2_000.0,
            dos_min_flows_in: 300.0,
            dos_min_pps_in: 20.0,
            dos_min_z_in: 5.0,
            lateral_min_new_peers: 2,
            lateral_min_history: 12,
            spam_min_peers: 10,
            mining_min_duration_secs: 45,
        }
    }
}

/// What the rules need to know about the ENI besides the window.
pub struct RuleContext<'a> {
    /// Deviation of every feature from the ENI's expected value, in standard deviations.
    pub z: &'a [f64; NUM_FEATURES],
    /// Windows the ENI's baseline has learned.
    pub history: u32,
    /// Window width, seconds.
    pub window_secs: u32,
    /// The ENI's EW mean of flows per window on each brute-forced port (see [`brute_slot`]).
    pub port_flows: &'a [f32; BRUTE_SLOTS],
}

fn push(out: &mut Vec<Finding>, f: Finding) {
    if out.len() < MAX_FINDINGS {
        out.push(f);
    }
}

fn ratio(num: u32, den: u32) -> f64 {
    if den == 0 {
        0.0
    } else {
        f64::from(num) / f64::from(den)
    }
}

/// Runs every window-level rule (all but beaconing, which needs the cross-window tracker) and
/// appends what fires to `out`.
pub fn evaluate(
    rules: &FindingRules,
    ctx: &RuleContext<'_>,
    v: &FeatureVector,
    ev: &Evidence,
    out: &mut Vec<Finding>,
) {
    let z = |f: Feature| ctx.z[f as usize];
    let val = |f: Feature| v[f as usize];
    let mut scanning = false;
    // PortScan, both directions.
    for (ingress, ports, rej, zf) in [
        (
            false,
            Feature::DstPortsOut,
            Feature::RejectRatioOut,
            Feature::DstPortsOut,
        ),
        (
            true,
            Feature::LocalPortsIn,
            Feature::RejectRatioIn,
            Feature::LocalPortsIn,
        ),
    ] {
        let fail = val(rej).max(val(Feature::SmallFlowFrac));
        if val(ports) >= rules.scan_min_ports
            && fail >= rules.scan_min_fail_frac
            && z(zf) >= rules.min_z
        {
            scanning = true;
            // Inbound: someone maps this ENI (Medium); outbound: this ENI is the scanner (High).
            let sev = if ingress {
                Severity::Medium
            } else {
                Severity::High
            };
            push(
                out,
                finding(
                    FindingKind::PortScan,
                    sev,
                    ingress,
                    0,
                    val(ports) as u64,
                    z(zf),
                ),
            );
        }
    }
    for p in &ev.ports {
        let failed = ratio(p.rejected.max(p.small_flows), p.flows);
        // HostSweep: one egress port, many hosts.
        if !p.ingress
            && p.peers >= rules.sweep_min_peers
            && failed >= rules.scan_min_fail_frac
            && z(Feature::FanOut) >= rules.min_z
        {
            scanning = true;
            let f = finding(
                FindingKind::HostSweep,
                Severity::High,
                false,
                p.port,
                p.peers.into(),
                z(Feature::FanOut),
            );
            push(out, f);
        }
        // BruteForce on SSH / RDP / WinRM.
        let kind = match p.port {
            22 => Some(FindingKind::BruteForceSsh),
            3389 => Some(FindingKind::BruteForceRdp),
            5985 | 5986 => Some(FindingKind::BruteForceWinRm),
            _ => None,
        };
        let flows_z = if p.ingress {
            z(Feature::FlowsIn)
        } else {
            z(Feature::FlowsOut)
        };
        // The port's own usual load (0 for a port the ENI never served).
        let port_mean = brute_slot(p.port, p.ingress)
            .and_then(|i| ctx.port_flows.get(i))
            .map_or(0.0, |&m| f64::from(m).max(0.0));
        if let Some(kind) = kind {
            if p.flows >= rules.brute_min_flows
                && f64::from(p.flows) >= rules.brute_min_flows_per_peer * f64::from(p.peers.max(1))
                && (flows_z >= rules.min_z
                    || f64::from(p.flows) >= rules.brute_min_ratio * (1.0 + port_mean))
            {
                let sev = if p.ingress {
                    Severity::Medium
                } else {
                    Severity::High
                };
                push(
                    out,
                    finding(kind, sev, p.ingress, p.port, p.flows.into(), flows_z),
                );
            }
        }
        // LateralMovement, target side: an admin port this ENI never served, reached from a new
        // internal peer.
        if p.ingress
            && ADMIN_PORTS.contains(&p.port)
            && p.new_port
            && p.new_peers.min(p.internal_peers) >= 1
            && ctx.history >= rules.lateral_min_history
        {
            let f = finding(
                FindingKind::LateralMovement,
                Severity::Medium,
                true,
                p.port,
                1,
                z(Feature::NewPortsIn),
            );
            push(out, f);
        }
        // SpamRelay: mail to many new servers.
        if !p.ingress
            && MAIL_PORTS.contains(&p.port)
            && p.peers >= rules.spam_min_peers
            && p.new_peers.saturating_mul(2) >= p.peers
            && z(Feature::FanOut).max(z(Feature::NewPeers)) >= rules.min_z
        {
            let mut f = finding(
                FindingKind::SpamRelay,
                Severity::High,
                false,
                p.port,
                p.peers.into(),
                z(Feature::FanOut).max(z(Feature::NewPeers)),
            );
            f.bytes = p.bytes;
            push(out, f);
        }
        // CryptoMining: long-lived pool connections.
        if !p.ingress
            && MINING_PORTS.contains(&p.port)
            && p.max_duration_secs >= rules.mining_min_duration_secs
            && p.internal_peers < p.peers
        {
            let mut f = finding(
                FindingKind::CryptoMining,
                Severity::High,
                false,
                p.port,
                p.max_duration_secs.into(),
                0.0,
            );
            f.bytes = p.bytes;
            push(out, f);
        }
    }
    // LateralMovement, source side: new internal peers on egress admin ports, summed over them.
    if ctx.history >= rules.lateral_min_history {
        let admin = || {
            ev.ports
                .iter()
                .filter(|p| !p.ingress && ADMIN_PORTS.contains(&p.port))
        };
        let new_internal: u32 = admin().map(|p| p.new_peers.min(p.internal_peers)).sum();
        let peers: u32 = admin().map(|p| p.peers).sum();
        // One new internal peer on a never-used admin port is enough.
        let new_on_new_port = admin().any(|p| p.new_port && p.new_peers.min(p.internal_peers) >= 1);
        if (new_internal >= rules.lateral_min_new_peers || new_on_new_port)
            && peers < rules.sweep_min_peers
        {
            let top = admin().max_by_key(|p| (p.new_peers.min(p.internal_peers), p.port));
            let port = top.map_or(0, |p| p.port);
            let sev = if admin().any(|p| p.new_port) {
                Severity::High
            } else {
                Severity::Medium
            };
            let f = finding(
                FindingKind::LateralMovement,
                sev,
                false,
                port,
                new_internal.into(),
                z(Feature::NewPeers),
            );
            push(out, f);
        }
    }
    // UnusualPort: after the scan rules, because a scan touches many new ports by design.
    if !scanning && ctx.history >= rules.unusual_min_history {
        for p in ev
            .ports
            .iter()
            .filter(|p| !p.ingress && p.new_port && p.bytes >= rules.unusual_min_bytes)
        {
            let mut f = finding(
                FindingKind::UnusualPort,
                Severity::Medium,
                false,
                p.port,
                p.flows.into(),
                0.0,
            );
            f.bytes = p.bytes;
            push(out, f);
        }
    }
    // Exfiltration: the top egress row, external, far above the baseline.
    let top = ev
        .peers_out
        .iter()
        .filter(|p| p.external)
        .max_by_key(|p| p.bytes);
    if let Some(p) = top {
        let zt = z(Feature::TopPeerBytesOut);
        if p.bytes >= rules.exfil_min_bytes && zt >= rules.min_z {
            let sev = if p.new_peer {
                Severity::High
            } else {
                Severity::Medium
            };
            let mut f = finding(
                FindingKind::Exfiltration,
                sev,
                false,
                p.port,
                p.flows.into(),
                zt,
            );
            f.bytes = p.bytes;
            f.peer = Some(p.addr);
            push(out, f);
        }
    }
    // DoS: egress packet rate.
    let pps = val(Feature::PacketsOut) / f64::from(ctx.window_secs.max(1));
    if pps >= rules.dos_min_pps && z(Feature::PacketsOut) >= rules.min_z {
        let f = finding(
            FindingKind::DoS,
            Severity::High,
            false,
            0,
            pps as u64,
            z(Feature::PacketsOut),
        );
        push(out, f);
    }
    // DoS, victim side: an inbound flood (packets or records far above the ENI's baseline).
    let pps_in = val(Feature::PacketsIn) / f64::from(ctx.window_secs.max(1));
    let flows_in = val(Feature::FlowsIn);
    let z_in = z(Feature::PacketsIn).max(z(Feature::FlowsIn));
    if (pps_in >= rules.dos_min_pps_in || flows_in >= rules.dos_min_flows_in)
        && z_in >= rules.dos_min_z_in
    {
        let count = if pps_in >= rules.dos_min_pps_in {
            pps_in
        } else {
            flows_in
        };
        push(
            out,
            finding(
                FindingKind::DoS,
                Severity::High,
                true,
                0,
                count as u64,
                z_in,
            ),
        );
    }
}

fn finding(
    kind: FindingKind,
    severity: Severity,
    ingress: bool,
    port: u16,
    count: u64,
    score: f64,
) -> Finding {
    Finding {
        kind,
        severity,
        ingress,
        port,
        count,
        bytes: 0,
        peer: None,
        score,
    }
}

/// The findings detector's raw score: the sum of the severities.
pub fn raw_score(findings: &[Finding]) -> f64 {
    findings.iter().map(|f| f.severity.value()).sum()
}
