//! The per-window accumulator: records of one ENI-window go in, one [`WindowFeatures`] comes out.
//!
//! # Direction and endpoints
//!
//! The window code resolves each record's direction ([`Dir`]) before it gets here (see
//! `crate::window`). Then: on egress the local end is `srcaddr` and the remote end is
//! `pkt-dstaddr` when present, else `dstaddr`; on ingress the remote end is `pkt-srcaddr` when
//! present, else `srcaddr`. For a NAT gateway's interface the `pkt-*` fields name the true ends
//! of each leg (AWS logs both legs at the gateway's ENI).
//!
//! # Ports
//!
//! Port features (`dst_ports_out`, `local_ports_in`, `new_ports_*`, `dst_port_entropy`, port
//! evidence) use TCP, UDP and SCTP only (ICMP's ports are 0). AWS logs a connection's two
//! directions as two records, so a server's replies would otherwise show up as egress to
//! thousands of random client ports: a record from a port below 32,768 to a port at or above
//! 32,768 (service port → ephemeral port) counts as a *reply* and is left out of port features
//! (its volumes, peers and flags still count). Where it fails: services listening on high ports
//! answering clients with high ephemeral ports (both ≥ 32,768: counted as requests), and an
//! attacker who sends from a low source port to high local ports (counted as replies, so
//! unseen by `local_ports_in`).
//!
//! # Bounds (per open window)
//!
//! Peers are tracked exactly up to [`PEER_MAP_CAP`] addresses, in a [`PeerTable`] of 24-byte slots
//! at most three quarters full (≤ 2,048 slots, 48 KiB, plus 8 KiB of first-seen order); beyond,
//! distinct counts continue in HyperLogLog sketches (precision 12, 4 KiB each, ≈ 1.6 % error) and
//! such addresses no longer feed `top_peer_bytes_out` (then a lower bound). Ports: the exact port
//! set of both directions and the port rows (at most [`PORT_STATS_CAP`] (port, direction) rows plus
//! the watched ports) share one [`WindowPorts`] table (≤ 24 KiB, see `crate::features::ports`);
//! with evidence on, each row also keeps its detail (≤ 288 rows, a 32-key distinct counter each).
//! (peer, port) pairs: at most [`PAIR_CAP`], of which [`MAX_PEER_STATS`] reach the evidence (up to
//! [`EXTERNAL_PEER_RESERVE`] of them kept for external pairs). So one open window stays below about
//! 400 KiB however hostile its records (`hostile_input_stays_bounded` in `tests/window_features.rs`
//! measures one window of 60,000 records to random peers and ports and asserts < 600 KiB). Closing
//! uses scratch space the caller keeps across closes ([`CloseScratch`], 12 KiB at most; one per
//! `crate::window::Windower`), not counted by [`WindowAcc::approx_heap_bytes`].
//!
//! # Layout
//!
//! The stage is memory-bound: each record of a time-ordered input lands in another ENI's open
//! window (hundreds of ENIs, thousands of open windows), so what counts is cache lines touched
//! per record. The accumulator keeps its counters and the two tables' headers in its first
//! three lines; a record then touches one peer slot (egress bytes, direction and private flags
//! together, no address) and one port slot (set membership and row count together). Work only
//! the evidence needs (per-port detail, (peer, port) pairs) is skipped when evidence is off.
//! Those two slots are still a cache miss each when the record arrives, so the batch path
//! prefetches them a few records ahead ([`WindowAcc::prefetch`], called through
//! `Windower::prefetch` by `ShardDriver::feed_block`), and the tables and history sets a
//! closing window reads one ENI run ahead ([`WindowAcc::prefetch_for_close`]). Without
//! `flow-direction` the prefetch guesses the direction from the own-address learner's first
//! slot ([`WindowAcc::prefetch_as`]), so it fetches one remote's slots rather than both ends'.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::distinct::{addr_key, mix64, DistinctCounter, Hll, PreMixed};
use super::evidence::{
    Evidence, PeerStat, PortStat, MAX_PEER_STATS, MAX_PORT_STATS, WATCHED_PORTS,
};
use super::history::EniHistory;
use super::peers::{PeerScan, PeerTable, PeerVal, PEER_IN, PEER_OUT, PEER_PRIVATE};
use super::ports::{PortHit, WindowPorts};
use super::schema::{Feature, FeatureVector, NUM_FEATURES};
use super::WindowFeatures;
use crate::flowlog::{Action, EniId, FlowDirection, FlowRecord, LogStatus};

/// Distinct remote addresses tracked exactly per window.
pub const PEER_MAP_CAP: usize = 1024;
pub use super::ports::PORT_STATS_CAP;
/// Egress (peer, port) pairs tracked per window.
pub const PAIR_CAP: usize = 256;
/// Rows of [`Evidence::peers_out`] kept for external (public) pairs when a window has that many
/// of them: half of [`MAX_PEER_STATS`], so that busy internal peers cannot crowd them out.
pub const EXTERNAL_PEER_RESERVE: usize = MAX_PEER_STATS / 2;
/// Records with an undecided direction kept per window until it closes; more are decided at once.
pub const MAX_DEFERRED: usize = 16;
/// Lowest port counted as ephemeral by the reply heuristic.
pub const EPHEMERAL_MIN: u16 = 32_768;

/// The direction of a record relative to its ENI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dir {
    /// ENI → remote.
    Out,
    /// Remote → ENI.
    In,
}

impl Dir {
    fn idx(self) -> usize {
        match self {
            Dir::Out => 0,
            Dir::In => 1,
        }
    }
}

impl From<FlowDirection> for Dir {
    fn from(d: FlowDirection) -> Self {
        match d {
            FlowDirection::Egress => Dir::Out,
            FlowDirection::Ingress => Dir::In,
        }
    }
}

/// A record as the window stage reads it: an [`Observation`], or a block slot that holds one
/// (read in place, field by field, rather than rebuilt). Every method gives the
/// [`Observation`] field of the same name.
pub trait ObsView {
    /// `eni`.
    fn eni(&self) -> EniId;
    /// `start`.
    fn start(&self) -> u64;
    /// `end`.
    fn end(&self) -> u64;
    /// `packets`.
    fn packets(&self) -> u64;
    /// `bytes`.
    fn bytes(&self) -> u64;
    /// `action`.
    fn action(&self) -> Option<Action>;
    /// `status`.
    fn status(&self) -> LogStatus;
    /// `protocol`.
    fn protocol(&self) -> Option<u8>;
    /// `tcp_flags`.
    fn tcp_flags(&self) -> Option<u16>;
    /// `srcport`.
    fn srcport(&self) -> Option<u16>;
    /// `dstport`.
    fn dstport(&self) -> Option<u16>;
    /// `direction`.
    fn direction(&self) -> Option<FlowDirection>;
    /// `src`.
    fn src(&self) -> Option<IpAddr>;
    /// `dst`.
    fn dst(&self) -> Option<IpAddr>;
    /// `pkt_src`.
    fn pkt_src(&self) -> Option<IpAddr>;
    /// `pkt_dst`.
    fn pkt_dst(&self) -> Option<IpAddr>;
    /// The usual record's addresses: both IPv4, no packet addresses and no `flow-direction`.
    fn plain_v4_pair(&self) -> Option<(Ipv4Addr, Ipv4Addr)>;
    /// `src` when IPv4.
    #[inline(always)]
    fn src_v4(&self) -> Option<u32> {
        match self.src() {
            Some(IpAddr::V4(a)) => Some(u32::from(a)),
            _ => None,
        }
    }
    /// `dst` when IPv4.
    #[inline(always)]
    fn dst_v4(&self) -> Option<u32> {
        match self.dst() {
            Some(IpAddr::V4(a)) => Some(u32::from(a)),
            _ => None,
        }
    }
    /// [`Observation::remote`].
    #[inline(always)]
    fn remote(&self, dir: Dir) -> Option<IpAddr> {
        match dir {
            Dir::Out => self.pkt_dst().or_else(|| self.dst()),
            Dir::In => self.pkt_src().or_else(|| self.src()),
        }
    }
    /// The observation itself.
    #[inline]
    fn to_observation(&self) -> Observation {
        Observation {
            eni: self.eni(),
            start: self.start(),
            end: self.end(),
            src: self.src(),
            dst: self.dst(),
            pkt_src: self.pkt_src(),
            pkt_dst: self.pkt_dst(),
            srcport: self.srcport(),
            dstport: self.dstport(),
            protocol: self.protocol(),
            packets: self.packets(),
            bytes: self.bytes(),
            action: self.action(),
            status: self.status(),
            tcp_flags: self.tcp_flags(),
            direction: self.direction(),
        }
    }
}

/// The [`ObsView`] methods of the fields an implementor keeps as plain fields of the same name
/// and type as [`Observation`]'s (`eni`, `start`, `end`, `packets`, `bytes`, `action`,
/// `status`).
macro_rules! plain_obs_fields {
    () => {
        #[inline(always)]
        fn eni(&self) -> $crate::flowlog::EniId {
            self.eni
        }
        #[inline(always)]
        fn start(&self) -> u64 {
            self.start
        }
        #[inline(always)]
        fn end(&self) -> u64 {
            self.end
        }
        #[inline(always)]
        fn packets(&self) -> u64 {
            self.packets
        }
        #[inline(always)]
        fn bytes(&self) -> u64 {
            self.bytes
        }
        #[inline(always)]
        fn action(&self) -> Option<$crate::flowlog::Action> {
            self.action
        }
        #[inline(always)]
        fn status(&self) -> $crate::flowlog::LogStatus {
            self.status
        }
    };
}
pub(crate) use plain_obs_fields;

impl ObsView for Observation {
    plain_obs_fields!();
    #[inline(always)]
    fn protocol(&self) -> Option<u8> {
        self.protocol
    }
    #[inline(always)]
    fn tcp_flags(&self) -> Option<u16> {
        self.tcp_flags
    }
    #[inline(always)]
    fn srcport(&self) -> Option<u16> {
        self.srcport
    }
    #[inline(always)]
    fn dstport(&self) -> Option<u16> {
        self.dstport
    }
    #[inline(always)]
    fn direction(&self) -> Option<FlowDirection> {
        self.direction
    }
    #[inline(always)]
    fn src(&self) -> Option<IpAddr> {
        self.src
    }
    #[inline(always)]
    fn dst(&self) -> Option<IpAddr> {
        self.dst
    }
    #[inline(always)]
    fn pkt_src(&self) -> Option<IpAddr> {
        self.pkt_src
    }
    #[inline(always)]
    fn pkt_dst(&self) -> Option<IpAddr> {
        self.pkt_dst
    }
    #[inline(always)]
    fn plain_v4_pair(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        if self.direction.is_none() && self.pkt_src.is_none() && self.pkt_dst.is_none() {
            // Both variants matched at once (one test of each address's tag).
            if let (Some(IpAddr::V4(s)), Some(IpAddr::V4(d))) = (&self.src, &self.dst) {
                return Some((*s, *d));
            }
        }
        None
    }
    #[inline(always)]
    fn remote(&self, dir: Dir) -> Option<IpAddr> {
        self.remote_ref(dir).copied()
    }
    #[inline(always)]
    fn to_observation(&self) -> Observation {
        *self
    }
}

/// The part of a [`FlowRecord`] the window stage needs: small and `Copy`, so shards can be fed
/// through channels without the record's text buffer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The interned ENI.
    pub eni: EniId,
    /// `start`, Unix seconds.
    pub start: u64,
    /// `end`, Unix seconds (`start` when absent).
    pub end: u64,
    /// `srcaddr`
    pub src: Option<IpAddr>,
    /// `dstaddr`
    pub dst: Option<IpAddr>,
    /// `pkt-srcaddr`
    pub pkt_src: Option<IpAddr>,
    /// `pkt-dstaddr`
    pub pkt_dst: Option<IpAddr>,
    /// `srcport`
    pub srcport: Option<u16>,
    /// `dstport`
    pub dstport: Option<u16>,
    /// `protocol`
    pub protocol: Option<u8>,
    /// `packets` (0 when absent)
    pub packets: u64,
    /// `bytes` (0 when absent)
    pub bytes: u64,
    /// `action`
    pub action: Option<Action>,
    /// `log-status` (`OK` when absent)
    pub status: LogStatus,
    /// `tcp-flags`
    pub tcp_flags: Option<u16>,
    /// `flow-direction`
    pub direction: Option<FlowDirection>,
}

/// Why a record could not be placed in a window (counted, see `crate::window::WindowStats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unplaceable {
    /// No `interface-id`.
    NoEni,
    /// No `start` time.
    NoStart,
    /// Traffic record without `flow-direction` and without both addresses.
    NoDirection,
    /// Its window lies too far beyond the ENI's other open windows
    /// (`max_open_windows_per_eni` reached).
    TooFarAhead,
}

impl Observation {
    /// An observation of nothing (ENI 0, time 0, no fields): a placeholder to fill with
    /// [`Self::fill_from`].
    pub const EMPTY: Observation = Observation {
        eni: 0,
        start: 0,
        end: 0,
        src: None,
        dst: None,
        pkt_src: None,
        pkt_dst: None,
        srcport: None,
        dstport: None,
        protocol: None,
        packets: 0,
        bytes: 0,
        action: None,
        status: LogStatus::Ok,
        tcp_flags: None,
        direction: None,
    };

    /// [`Self::from_record`] written where the observation is kept (e.g. a block's slot),
    /// without building it aside and copying it there. On error `self` is left unchanged.
    #[inline]
    pub fn fill_from(&mut self, rec: &FlowRecord) -> Result<(), Unplaceable> {
        let eni = rec.eni.ok_or(Unplaceable::NoEni)?;
        let start = rec.start.ok_or(Unplaceable::NoStart)?;
        self.eni = eni;
        self.start = start;
        self.end = rec.end.unwrap_or(start).max(start);
        self.src = rec.srcaddr;
        self.dst = rec.dstaddr;
        self.pkt_src = rec.pkt_srcaddr;
        self.pkt_dst = rec.pkt_dstaddr;
        self.srcport = rec.srcport;
        self.dstport = rec.dstport;
        self.protocol = rec.protocol;
        self.packets = rec.packets.unwrap_or(0);
        self.bytes = rec.bytes.unwrap_or(0);
        self.action = rec.action;
        self.status = rec.log_status.unwrap_or(LogStatus::Ok);
        self.tcp_flags = rec.tcp_flags.map(|f| f.0);
        self.direction = rec.flow_direction;
        Ok(())
    }

    /// Extracts the fields windows need.
    pub fn from_record(rec: &FlowRecord) -> Result<Self, Unplaceable> {
        let mut obs = Self::EMPTY;
        obs.fill_from(rec)?;
        Ok(obs)
    }

    /// The remote address for a direction (see the module docs).
    #[inline]
    pub fn remote(&self, dir: Dir) -> Option<IpAddr> {
        self.remote_ref(dir).copied()
    }

    /// [`Self::remote`] by reference (where the observation holds it).
    #[inline]
    pub fn remote_ref(&self, dir: Dir) -> Option<&IpAddr> {
        match dir {
            Dir::Out => self.pkt_dst.as_ref().or(self.dst.as_ref()),
            Dir::In => self.pkt_src.as_ref().or(self.src.as_ref()),
        }
    }
}

/// True for RFC 1918, carrier-grade NAT (100.64/10, used inside VPCs), loopback and link-local
/// IPv4, and IPv6 unique-local, link-local and loopback: addresses that are not "the Internet".
pub fn is_private(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            let s = a.segments()[0];
            a.is_loopback() || (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PeerOverflow {
    fan: [Hll; 2],
    new: Hll,
}

/// What a port row keeps for the evidence besides its record count (which the port table keeps).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PortDetailAgg {
    small: u32,
    rejected: u32,
    bytes: u64,
    packets: u64,
    max_dur: u32,
    /// Records by protocol: TCP, UDP, other (`other_proto` names the highest other one).
    proto: [u32; 3],
    other_proto: u8,
    /// Distinct remote addresses; which of them are internal is looked up in the window's peer
    /// map at close, so no second counter is kept.
    peers: DistinctCounter,
}

impl PortDetailAgg {
    fn new() -> Self {
        Self {
            small: 0,
            rejected: 0,
            bytes: 0,
            packets: 0,
            max_dur: 0,
            proto: [0; 3],
            other_proto: 0,
            peers: DistinctCounter::new(32, 8),
        }
    }
}

/// A port row at close: the table's part and the evidence's part.
#[derive(Clone, Copy, Debug)]
struct PortAgg<'a> {
    port: u16,
    ingress: bool,
    flows: u32,
    detail: Option<&'a PortDetailAgg>,
}

/// What a port row keeps beyond its record count when evidence is built.
#[derive(Clone, Copy, Debug)]
struct PortDetail {
    small: bool,
    rejected: bool,
    /// The remote address's key.
    peer: Option<u64>,
}

/// Shares of a window's peers, applied to a port whose own peer count is only estimated.
#[derive(Clone, Copy, Debug)]
struct PeerShares {
    new: f64,
    internal: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PairAgg {
    addr: IpAddr,
    port: u16,
    protocol: u8,
    flows: u32,
    bytes: u64,
    packets: u64,
    first_start: u64,
    last_start: u64,
}

/// The per-record counters, together (112 bytes).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[repr(C)]
struct Counters {
    flows: [u64; 2],
    bytes: [u64; 2],
    packets: [u64; 2],
    rejects: [u64; 2],
    small: u64,
    tcp_flagged: u64,
    syn_only: u64,
    skipdata: u64,
    ext_bytes_out: u64,
    untracked_port_flows: [u64; 2],
}

/// Open-window state of one ENI-window (serializable: it goes into checkpoints).
///
/// Laid out in declaration order, cache-line aligned: the counters, the overflow pointer, and the
/// peer and port tables' headers (their first fields) come first, so that a record touches the
/// accumulator's first three lines plus one peer slot and one port slot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[repr(C, align(64))]
pub struct WindowAcc {
    c: Counters,
    peer_overflow: Option<Box<PeerOverflow>>,
    /// The window's remote addresses by key.
    peers: PeerTable,
    /// Port set and row counts, both directions.
    ports: WindowPorts,
    /// Evidence detail per port row (by row index); empty without evidence.
    port_detail: Vec<PortDetailAgg>,
    pairs: HashMap<u64, PairAgg, PreMixed>,
    /// Records whose direction waits for the window's close (see `crate::window`).
    deferred: Vec<Observation>,
}

/// Scratch space for closing windows, not state: kept by the caller from close to close
/// ([`WindowAcc::finish_with`]), so that its buffers are allocated a few times per run rather
/// than per accumulator (each pooled accumulator grew its own: ≈ 8,000 reallocations on
/// 8,000 windows). At most 12 KiB: the window's peer keys (≤ [`PEER_MAP_CAP`] + 1, the table's
/// count bounded by its slots, 8 bytes each) and, per new peer key, its place in the history's
/// exact set (4 bytes each), also used for the egress rows' counts (≤ `PORT_STATS_CAP` plus the
/// watched ports); both reserved exactly, so they never hold more.
#[derive(Clone, Debug, Default)]
pub struct CloseScratch {
    keys: Vec<u64>,
    at: Vec<u32>,
}

impl CloseScratch {
    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8 + self.at.capacity() * 4
    }
}

fn pair_key(addr: u64, port: u16, protocol: u8) -> u64 {
    mix64(addr ^ (u64::from(port) | u64::from(protocol) << 16).wrapping_mul(0x9e37_79b9))
}

fn has_ports(protocol: Option<u8>) -> bool {
    matches!(protocol, Some(6 | 17 | 132))
}

impl WindowAcc {
    /// Keeps a record whose direction is decided at close; false when [`MAX_DEFERRED`] are held.
    pub fn defer(&mut self, obs: &impl ObsView) -> bool {
        if self.deferred.len() >= MAX_DEFERRED {
            return false;
        }
        self.deferred.push(obs.to_observation());
        true
    }

    /// The deferred records, leaving none.
    pub fn take_deferred(&mut self) -> Vec<Observation> {
        std::mem::take(&mut self.deferred)
    }

    /// Prefetches the peer-table and port-table slots a later [`Self::add`] of `obs` will touch
    /// (those of both directions when the direction is not known yet: the local end's peer slot
    /// is hot anyway). A hint: it changes no state.
    #[inline]
    pub fn prefetch(&self, obs: &Observation) {
        self.prefetch_as(obs, obs.direction.map(Dir::from));
    }

    /// [`Self::prefetch`] with the direction `dir` taken as given when known (from the record,
    /// or guessed: see `AddrLearner::first_v4`); both directions' slots when `None`. A hint:
    /// it changes no state, so a wrong guess costs at most a wasted fetch.
    #[inline]
    pub fn prefetch_as(&self, obs: &impl ObsView, dir: Option<Dir>) {
        let port = obs.dstport().filter(|_| has_ports(obs.protocol()));
        match dir {
            Some(d) => {
                if let Some(a) = obs.remote(d) {
                    self.peers.prefetch(addr_key(a));
                }
                if let Some(p) = port {
                    self.ports.prefetch(p, d.idx());
                }
            }
            None => {
                for d in [Dir::Out, Dir::In] {
                    if let Some(a) = obs.remote(d) {
                        self.peers.prefetch(addr_key(a));
                    }
                    if let Some(p) = port {
                        self.ports.prefetch(p, d.idx());
                    }
                }
            }
        }
    }

    /// Prefetches the accumulator's first lines (counters and table headers, see the module
    /// docs' layout note). A hint: it changes no state.
    #[inline]
    pub fn prefetch_header(&self) {
        let p: *const Self = self;
        let p = p.cast::<u8>();
        for line in 0..3 {
            super::peers::prefetch_ptr(p.wrapping_add(64 * line));
        }
    }

    /// Prefetches what closing the window reads (the peer and port tables), up to `max_lines`
    /// cache lines each. A hint: it changes no state.
    #[inline]
    pub fn prefetch_for_close(&self, max_lines: usize) {
        self.peers.prefetch_all(max_lines);
        self.ports.prefetch_all(max_lines);
    }

    /// Counts one SKIPDATA record.
    pub fn add_skipdata(&mut self) {
        self.c.skipdata += 1;
    }

    /// Adds one traffic (`OK`) record whose direction is resolved. `hist` is the ENI's history:
    /// read for "seen before", and written only for peers beyond [`PEER_MAP_CAP`] (which cannot
    /// be enumerated at close). Without `evidence`, the detail only [`Evidence`] needs (per-port
    /// peer counts, (peer, port) pairs) is skipped; the feature vector is the same.
    #[inline]
    pub fn add(&mut self, obs: &impl ObsView, dir: Dir, hist: &mut EniHistory, evidence: bool) {
        let d = dir.idx();
        let c = &mut self.c;
        if let (Some(f), Some(b), Some(p)) =
            (c.flows.get_mut(d), c.bytes.get_mut(d), c.packets.get_mut(d))
        {
            *f += 1;
            *b = b.saturating_add(obs.bytes());
            *p = p.saturating_add(obs.packets());
        }
        let rejected = obs.action() == Some(Action::Reject);
        if rejected {
            if let Some(r) = c.rejects.get_mut(d) {
                *r += 1;
            }
        }
        let small = obs.packets() <= 2;
        c.small += u64::from(small);
        if obs.protocol() == Some(6) {
            if let Some(f) = obs.tcp_flags() {
                c.tcp_flagged += 1;
                c.syn_only += u64::from(f == crate::flowlog::TcpFlags::SYN);
            }
        }
        let remote = obs.remote(dir);
        let rkey = remote.map(addr_key);
        if let (Some(addr), Some(key)) = (remote.as_ref(), rkey) {
            let private = self.add_peer(addr, key, dir, obs.bytes(), hist);
            if dir == Dir::Out {
                if !private {
                    self.c.ext_bytes_out = self.c.ext_bytes_out.saturating_add(obs.bytes());
                }
                if evidence {
                    self.add_pair(*addr, key, obs);
                }
            }
        }
        if has_ports(obs.protocol()) {
            if let (Some(sp), Some(dp)) = (obs.srcport(), obs.dstport()) {
                let reply = sp < EPHEMERAL_MIN && dp >= EPHEMERAL_MIN;
                if !reply {
                    // Egress: the remote port; ingress: the local port. Both are `dstport`.
                    let detail = evidence.then_some(PortDetail {
                        small,
                        rejected,
                        peer: rkey,
                    });
                    self.add_port(dp, dir, obs, detail);
                }
            }
        }
    }

    /// Counts the remote `addr` (key `key`) in the peer table; returns whether it is private
    /// (for a peer in the table, from its flags: no second test of the address).
    #[inline]
    fn add_peer(
        &mut self,
        addr: &IpAddr,
        key: u64,
        dir: Dir,
        bytes: u64,
        hist: &mut EniHistory,
    ) -> bool {
        let bit = if dir == Dir::Out { PEER_OUT } else { PEER_IN };
        let out_bytes = if dir == Dir::Out { bytes } else { 0 };
        if let Some(ov) = &mut self.peer_overflow {
            if let Some(fan) = ov.fan.get_mut(dir.idx()) {
                fan.insert(key);
            }
        }
        let vacant = match self.peers.get_mut_or_vacant(key) {
            Ok(p) => {
                p.out_bytes = p.out_bytes.saturating_add(out_bytes);
                p.flags |= bit;
                return p.flags & PEER_PRIVATE != 0;
            }
            Err(v) => v,
        };
        self.add_new_peer(addr, key, dir, out_bytes, hist, vacant)
    }

    fn add_new_peer(
        &mut self,
        addr: &IpAddr,
        key: u64,
        dir: Dir,
        out_bytes: u64,
        hist: &mut EniHistory,
        vacant: Option<usize>,
    ) -> bool {
        let bit = if dir == Dir::Out { PEER_OUT } else { PEER_IN };
        let private = is_private(*addr);
        if self.peers.len() < PEER_MAP_CAP {
            let flag = if private { PEER_PRIVATE } else { 0 };
            self.peers.insert_vacant(
                vacant,
                key,
                PeerVal {
                    out_bytes,
                    flags: bit | flag,
                },
            );
            return private;
        }
        self.add_overflow_peer(key, dir, hist);
        private
    }

    /// [`Self::add_new_peer`] once the window holds [`PEER_MAP_CAP`] peers (the sketches).
    /// Not inlined: its frame would cost every new peer.
    #[inline(never)]
    fn add_overflow_peer(&mut self, key: u64, dir: Dir, hist: &mut EniHistory) {
        if self.peer_overflow.is_none() {
            let mut ov = PeerOverflow {
                fan: [Hll::new(12), Hll::new(12)],
                new: Hll::new(12),
            };
            for (k, p) in self.peers.iter() {
                for (i, fan) in ov.fan.iter_mut().enumerate() {
                    if p.flags & (1 << i) != 0 {
                        fan.insert(k);
                    }
                }
            }
            if let Some(fan) = ov.fan.get_mut(dir.idx()) {
                fan.insert(key);
            }
            self.peer_overflow = Some(Box::new(ov));
        }
        if let Some(ov) = &mut self.peer_overflow {
            if !hist.peers.contains(key) {
                ov.new.insert(key);
                hist.peers.insert(key);
            }
        }
    }

    fn add_pair(&mut self, addr: IpAddr, key: u64, obs: &impl ObsView) {
        let port = obs.dstport().unwrap_or(0);
        let protocol = obs.protocol().unwrap_or(0);
        let pk = pair_key(key, port, protocol);
        // One lookup per record: `entry` while there is room, `get_mut` once full.
        let p = if self.pairs.len() >= PAIR_CAP {
            match self.pairs.get_mut(&pk) {
                Some(p) => p,
                None => return,
            }
        } else {
            self.pairs.entry(pk).or_insert_with(|| PairAgg {
                addr,
                port,
                protocol,
                flows: 0,
                bytes: 0,
                packets: 0,
                first_start: obs.start(),
                last_start: obs.start(),
            })
        };
        p.flows = p.flows.saturating_add(1);
        p.bytes = p.bytes.saturating_add(obs.bytes());
        p.packets = p.packets.saturating_add(obs.packets());
        p.first_start = p.first_start.min(obs.start());
        p.last_start = p.last_start.max(obs.start());
    }

    /// `detail` is given only when evidence is kept: without it only the row's record count
    /// (which `dst_port_entropy` needs) is kept, and the other columns stay zero.
    #[inline]
    fn add_port(&mut self, port: u16, dir: Dir, obs: &impl ObsView, detail: Option<PortDetail>) {
        let d = dir.idx();
        let row = match self.ports.add(port, d) {
            PortHit::Row(r) => r,
            PortHit::Untracked => {
                if let Some(u) = self.c.untracked_port_flows.get_mut(d) {
                    *u += 1;
                }
                return;
            }
        };
        let Some(PortDetail {
            small,
            rejected,
            peer,
        }) = detail
        else {
            return;
        };
        while self.port_detail.len() <= row {
            self.port_detail.push(PortDetailAgg::new());
        }
        let Some(s) = self.port_detail.get_mut(row) else {
            return;
        };
        // u32 counters saturate: a window cannot overflow them into a panic (debug builds).
        s.small = s.small.saturating_add(u32::from(small));
        s.rejected = s.rejected.saturating_add(u32::from(rejected));
        s.bytes = s.bytes.saturating_add(obs.bytes());
        s.packets = s.packets.saturating_add(obs.packets());
        let dur = u32::try_from(obs.end().saturating_sub(obs.start())).unwrap_or(u32::MAX);
        s.max_dur = s.max_dur.max(dur);
        match obs.protocol() {
            Some(6) => s.proto[0] = s.proto[0].saturating_add(1),
            Some(17) => s.proto[1] = s.proto[1].saturating_add(1),
            other => {
                s.proto[2] = s.proto[2].saturating_add(1);
                // The highest, not the last: the result must not depend on record order.
                s.other_proto = s.other_proto.max(other.unwrap_or(0));
            }
        }
        if let Some(k) = peer {
            s.peers.insert(k);
        }
    }

    /// Heap bytes held, approximately (for the memory figures in the docs).
    pub fn approx_heap_bytes(&self) -> usize {
        self.peers.heap_bytes()
            + self.port_detail.capacity() * std::mem::size_of::<PortDetailAgg>()
            + self
                .port_detail
                .iter()
                .map(|p| (p.peers.count() as usize).min(32) * 16)
                .sum::<usize>()
            + self.pairs.capacity() * (8 + std::mem::size_of::<PairAgg>() + 1)
            + self.ports.heap_bytes()
            + self.peer_overflow.as_ref().map_or(0, |_| 3 * 4096)
    }

    /// Closes the window: computes the features and evidence against `hist` as it was before
    /// this window, then records this window's ports and peers into `hist`.
    ///
    /// The accumulator is left empty but keeps its allocations, so the window stage can reuse
    /// it for another window (allocation was a fifth of the run time before).
    /// Without `evidence` the returned [`Evidence`] is empty. [`Self::finish_with`] with fresh
    /// scratch space: a caller closing many windows keeps one [`CloseScratch`] instead.
    pub fn finish(
        &mut self,
        eni: EniId,
        window_start: u64,
        hist: &mut EniHistory,
        evidence: bool,
    ) -> WindowFeatures {
        self.finish_with(
            eni,
            window_start,
            hist,
            evidence,
            &mut CloseScratch::default(),
        )
    }

    /// [`Self::finish`] with `scratch` as its scratch space (left empty, its allocations kept).
    pub fn finish_with(
        &mut self,
        eni: EniId,
        window_start: u64,
        hist: &mut EniHistory,
        evidence: bool,
        scratch: &mut CloseScratch,
    ) -> WindowFeatures {
        // The peers' figures and sorted keys in one walk; without evidence nothing reads the
        // peer table after it, so the walk also empties it (the clear below then need not).
        let scan = if evidence {
            self.peers.scan_for_close(&mut scratch.keys)
        } else {
            self.peers.drain_for_close(&mut scratch.keys)
        };
        let w = self.compute(eni, window_start, hist, evidence, scan, scratch);
        scratch.keys.clear();
        scratch.at.clear();
        self.clear();
        w
    }

    /// Empties the accumulator, keeping its allocations.
    pub fn clear(&mut self) {
        self.c = Counters::default();
        self.peers.clear();
        self.peer_overflow = None;
        self.ports.clear();
        self.port_detail.clear();
        self.pairs.clear();
        self.deferred.clear();
    }

    /// Adds the window's ports to the ENI's port history, in one walk over the port table for
    /// both directions (each history sees its ports in the order of a walk per direction),
    /// handing `row` each egress row's flows on the way; returns how many ports were new
    /// (out, in).
    #[inline]
    fn ports_into_history(&self, hist: &mut EniHistory, row: impl FnMut(u32)) -> (usize, usize) {
        let (mut new_out, mut new_in) = (0usize, 0usize);
        self.ports.for_each_port_and_egress_row(
            |p, d| {
                if d == 0 {
                    new_out += usize::from(hist.ports_out.insert(p));
                } else {
                    new_in += usize::from(hist.ports_in.insert(p));
                }
            },
            row,
        );
        (new_out, new_in)
    }

    fn compute(
        &self,
        eni: EniId,
        window_start: u64,
        hist: &mut EniHistory,
        evidence: bool,
        scan: PeerScan,
        scratch: &mut CloseScratch,
    ) -> WindowFeatures {
        let CloseScratch { keys: new_keys, at } = scratch;
        // The window's ports go into the history now unless the evidence still needs the
        // history as it was (`insert` is true exactly for a port `contains` would not find:
        // the window's ports are distinct per direction). Without evidence, one walk over the
        // port table does that and lists the egress rows for the entropy; `at` is free until
        // the peer check below and holds them.
        let ports_later = evidence;
        at.clear();
        // At most `PORT_STATS_CAP` plus the watched ports: one allocation at most.
        at.reserve_exact(self.ports.rows());
        let news = if ports_later {
            self.ports.for_each_egress_row(|c| at.push(c));
            (0, 0)
        } else {
            self.ports_into_history(hist, |c| at.push(c))
        };
        let entropy = self.egress_port_entropy(at);
        let mut v: FeatureVector = [0.0; NUM_FEATURES];
        let set = |v: &mut FeatureVector, f: Feature, x: f64| {
            if let Some(slot) = v.get_mut(f as usize) {
                *slot = x;
            }
        };
        let [fo, fi] = self.c.flows;
        let [bo, bi] = self.c.bytes;
        let ratio = |num: u64, den: u64| {
            if den == 0 {
                0.0
            } else {
                num as f64 / den as f64
            }
        };
        set(&mut v, Feature::FlowsOut, fo as f64);
        set(&mut v, Feature::FlowsIn, fi as f64);
        set(&mut v, Feature::BytesOut, bo as f64);
        set(&mut v, Feature::BytesIn, bi as f64);
        set(&mut v, Feature::PacketsOut, self.c.packets[0] as f64);
        set(&mut v, Feature::PacketsIn, self.c.packets[1] as f64);
        set(
            &mut v,
            Feature::ByteRatio,
            ((bo as f64 + 1.0) / (bi as f64 + 1.0)).ln(),
        );
        // `scan` has the peers' figures, `new_keys` their keys, sorted: the peers the history
        // has not seen come from one pass over the history's exact set.
        let (n_out, n_in, top, internal) =
            (scan.out, scan.inbound, scan.top_out_bytes, scan.private);
        hist.peers.retain_unseen_sorted_at(new_keys, at);
        let (fan_out, fan_in) = match &self.peer_overflow {
            Some(ov) => (ov.fan[0].estimate().round(), ov.fan[1].estimate().round()),
            None => (n_out as f64, n_in as f64),
        };
        set(&mut v, Feature::FanOut, fan_out);
        set(&mut v, Feature::FanIn, fan_in);
        set(&mut v, Feature::DstPortsOut, self.ports.len(0) as f64);
        set(&mut v, Feature::LocalPortsIn, self.ports.len(1) as f64);
        let (new_out, new_in) = if ports_later {
            (
                self.ports
                    .ports(0)
                    .filter(|&p| !hist.ports_out.contains(p))
                    .count(),
                self.ports
                    .ports(1)
                    .filter(|&p| !hist.ports_in.contains(p))
                    .count(),
            )
        } else {
            news
        };
        set(&mut v, Feature::NewPortsOut, new_out as f64);
        set(&mut v, Feature::NewPortsIn, new_in as f64);
        let new_in_map = new_keys.len();
        let new_over = self
            .peer_overflow
            .as_ref()
            .map_or(0.0, |ov| ov.new.estimate().round());
        let new_peers = new_in_map as f64 + new_over;
        set(&mut v, Feature::NewPeers, new_peers);
        set(&mut v, Feature::RejectRatioIn, ratio(self.c.rejects[1], fi));
        set(
            &mut v,
            Feature::RejectRatioOut,
            ratio(self.c.rejects[0], fo),
        );
        set(
            &mut v,
            Feature::ExternalBytesFrac,
            ratio(self.c.ext_bytes_out, bo),
        );
        set(&mut v, Feature::SmallFlowFrac, ratio(self.c.small, fo + fi));
        set(&mut v, Feature::DstPortEntropy, entropy);
        set(&mut v, Feature::TopPeerBytesOut, top as f64);
        set(
            &mut v,
            Feature::SynOnlyFrac,
            ratio(self.c.syn_only, self.c.tcp_flagged),
        );
        set(&mut v, Feature::Skipdata, self.c.skipdata as f64);

        let evidence = if evidence {
            let total_peers = (self.peers.len() as f64).max(fan_out.max(fan_in));
            let tracked = self.peers.len().max(1) as f64;
            let frac = PeerShares {
                new: if total_peers > 0.0 {
                    new_peers / total_peers
                } else {
                    0.0
                },
                internal: internal as f64 / tracked,
            };
            Evidence {
                ports: self.port_rows(hist, frac),
                peers_out: self.pair_rows(hist),
            }
        } else {
            Evidence::default()
        };

        if ports_later {
            self.ports_into_history(hist, |_| {});
        }
        // `at` still holds the places: nothing above changed the peer set.
        if !hist.peers.insert_new_at(new_keys, at) {
            // The exact set would switch to the filter: insert the new peers one by one, in key
            // order (sorted above; the switch point decides the filter's insert count, so the
            // order must not depend on the table's slots or on which emptied table was reused).
            for &k in new_keys.iter() {
                hist.peers.insert(k);
            }
        }
        hist.windows += 1;
        WindowFeatures {
            eni,
            window_start,
            values: v,
            evidence,
        }
    }

    /// Shannon entropy (bits) of egress ports weighted by records. Records on ports without a
    /// row (beyond [`PORT_STATS_CAP`]) are taken as spread evenly over the remaining distinct
    /// ports, which the exact port set knows. `buf` holds the egress rows' record counts, in
    /// any order (it is sorted here).
    fn egress_port_entropy(&self, buf: &mut [u32]) -> f64 {
        let rest = self.c.untracked_port_flows[0];
        if buf.len() <= 1 && rest == 0 {
            // No records, or one port with them all: the sum below is ±0, made +0.
            return 0.0;
        }
        // Sum in a fixed order: hash-map order depends on insertion history, and float sums on
        // order, and equal records must give bit-identical features.
        buf.sort_unstable();
        let rows: &[u32] = buf;
        let total = rows.iter().map(|&c| u64::from(c)).sum::<u64>() + rest;
        if total == 0 {
            return 0.0;
        }
        let t = total as f64;
        let term = |c: f64| {
            if c > 0.0 {
                -(c / t) * (c / t).log2()
            } else {
                0.0
            }
        };
        // Sorted, equal counts are neighbours: a count's term is computed once (the same
        // value: `term` is a function of the count alone) and the sum runs as before.
        let mut prev: Option<(u32, f64)> = None;
        let mut h: f64 = rows
            .iter()
            .map(|&c| match prev {
                Some((pc, x)) if pc == c => x,
                _ => {
                    let x = term(f64::from(c));
                    prev = Some((c, x));
                    x
                }
            })
            .sum();
        let untracked_ports = self.ports.len(0).saturating_sub(rows.len());
        if rest > 0 && untracked_ports > 0 {
            let each = rest as f64 / untracked_ports as f64;
            h += untracked_ports as f64 * term(each);
        }
        // `+ 0.0` turns the -0.0 of a single port into 0.
        h.max(0.0) + 0.0
    }

    fn port_rows(&self, hist: &EniHistory, frac: PeerShares) -> Vec<PortStat> {
        let mut rows: Vec<PortAgg<'_>> = self
            .ports
            .row_refs()
            .map(|r| PortAgg {
                port: r.port,
                ingress: r.dir == 1,
                flows: r.flows,
                detail: self.port_detail.get(r.row),
            })
            .collect();
        // Busiest first; ties by port then direction, so the order never depends on hashing.
        // Unstable sorts: the keys are a total order ((port, direction) is unique), and the
        // stable sort's scratch allocation was measurable per window.
        rows.sort_unstable_by(|a, b| {
            b.flows
                .cmp(&a.flows)
                .then(a.port.cmp(&b.port))
                .then(a.ingress.cmp(&b.ingress))
        });
        // Every watched row, then the busiest others up to the cap (watched rows count in it).
        let watched_n = rows
            .iter()
            .filter(|p| WATCHED_PORTS.contains(&p.port))
            .count();
        let room = MAX_PORT_STATS.saturating_sub(watched_n);
        let mut others = 0usize;
        rows.into_iter()
            .filter(|p| {
                if WATCHED_PORTS.contains(&p.port) {
                    return true;
                }
                others += 1;
                others <= room
            })
            .map(|p| self.port_row(&p, hist, frac))
            .collect()
    }

    fn port_row(&self, p: &PortAgg, hist: &EniHistory, frac: PeerShares) -> PortStat {
        let new_port = if p.ingress {
            !hist.ports_in.contains(p.port)
        } else {
            !hist.ports_out.contains(p.port)
        };
        let empty = PortDetailAgg::new();
        let d = p.detail.unwrap_or(&empty);
        let (new_peers, internal_peers) = match d.peers.keys() {
            Some(keys) => (
                keys.iter().filter(|&&k| !hist.peers.contains(k)).count() as u32,
                keys.iter()
                    .filter(|k| {
                        self.peers
                            .get(**k)
                            .is_some_and(|p| p.flags & PEER_PRIVATE != 0)
                    })
                    .count() as u32,
            ),
            // Sketched (more than 32 peers on this port): the window's shares, applied.
            None => (
                (d.peers.count() * frac.new).round() as u32,
                (d.peers.count() * frac.internal).round() as u32,
            ),
        };
        let protocol = if d.proto[0] >= d.proto[1] && d.proto[0] >= d.proto[2] {
            6
        } else if d.proto[1] >= d.proto[2] {
            17
        } else {
            d.other_proto
        };
        PortStat {
            port: p.port,
            protocol,
            ingress: p.ingress,
            flows: p.flows,
            small_flows: d.small,
            rejected: d.rejected,
            peers: d.peers.count() as u32,
            new_peers,
            internal_peers,
            bytes: d.bytes,
            packets: d.packets,
            max_duration_secs: d.max_dur,
            new_port,
        }
    }

    fn pair_rows(&self, hist: &EniHistory) -> Vec<PeerStat> {
        let mut by_bytes: Vec<&PairAgg> = self.pairs.values().collect();
        let tie = |a: &PairAgg, b: &PairAgg| {
            a.addr
                .cmp(&b.addr)
                .then(a.port.cmp(&b.port))
                .then(a.protocol.cmp(&b.protocol))
        };
        // (addr, port, protocol) is unique per pair, so unstable sorts give one order.
        by_bytes.sort_unstable_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| tie(a, b)));
        let mut by_flows = by_bytes.clone();
        by_flows.sort_unstable_by(|a, b| b.flows.cmp(&a.flows).then_with(|| tie(a, b)));
        // Room kept for external pairs: on a NAT gateway or a busy internal service, internal
        // peers would otherwise take every row and hide a low-volume external beacon. Internal
        // rows stop at `MAX_PEER_STATS - reserve`, so when internal pairs did not crowd the
        // externals out the list is exactly the unreserved one.
        let externals = by_bytes.iter().filter(|p| !is_private(p.addr)).count();
        let reserve = externals.min(EXTERNAL_PEER_RESERVE);
        let internal_cap = MAX_PEER_STATS - reserve;
        let mut internals = 0usize;
        let mut chosen: Vec<&PairAgg> = Vec::with_capacity(MAX_PEER_STATS);
        let half = MAX_PEER_STATS / 2;
        // The first half by bytes, then by records. `by_flows` holds every pair, so after it the
        // list is full or holds every pair (a tail by bytes would add nothing).
        for p in by_bytes.iter().take(half).copied().chain(by_flows) {
            if chosen.len() >= MAX_PEER_STATS {
                break;
            }
            if chosen.iter().any(|c| std::ptr::eq(*c, p)) {
                continue;
            }
            if is_private(p.addr) {
                if internals >= internal_cap {
                    continue;
                }
                internals += 1;
            }
            chosen.push(p);
        }
        chosen
            .into_iter()
            .map(|p| PeerStat {
                addr: p.addr,
                port: p.port,
                protocol: p.protocol,
                flows: p.flows,
                bytes: p.bytes,
                packets: p.packets,
                first_start: p.first_start,
                last_start: p.last_start,
                new_peer: !hist.peers.contains(addr_key(p.addr)),
                external: !is_private(p.addr),
            })
            .collect()
    }
}
