//! The window stage's block slot: one record's [`Observation`] with the watermark it was read
//! at, laid out so that a usual record uses one cache line.
//!
//! The blocks of the one-thread loop and of the two-thread pipeline hold 16,384 records each
//! (`BLOCK`). The reader writes them in input order; the window stage reads them out of it
//! (each ENI's records together) and, on two threads, mostly on the other core. Every line a
//! record spans is a miss there, and on two threads a transfer between the cores.
//! `(Observation, u64)`, the slot before this one, was 136 bytes: three lines a record. A
//! [`Slot`] is 128 bytes aligned to 64, and everything a record with IPv4 (or no) addresses
//! holds is in the first line:
//!
//! | bytes | fields |
//! |---|---|
//! | 0-39 | `start`, `end`, `packets`, `bytes`, the watermark (`u64` each) |
//! | 40-51 | `eni`, `srcaddr` and `dstaddr` when IPv4 (`u32` each) |
//! | 52-57 | `srcport`, `dstport`, `tcp-flags` (`u16` each, present when their flag is) |
//! | 58-61 | `protocol` (present when its flag is), `action`, `log-status`, `flow-direction` |
//! | 62-63 | flags: each address's kind (none, IPv4, IPv6), the presence of the four numbers |
//!
//! The second line holds the rest: an IPv6 `srcaddr` or `dstaddr` and `pkt-srcaddr` and
//! `pkt-dstaddr` (IPv4 or IPv6). A default-v2 record with IPv4 addresses never writes or
//! reads it. The window stage reads a slot in place, field by field ([`ObsView`]), instead
//! of rebuilding the observation (that cost ≈ 200 instructions a record: measured, and
//! dropped).
//!
//! Measured on the peer benchmark's 5 M records (16 interleaved rounds, alternating order):
//! two threads 0.424 → 0.360 s wall in the first quartile (0.352 → 0.316 s minimum); one
//! thread unchanged within noise (its misses were prefetched ahead); instructions +0.4 %;
//! in cachegrind's model (one thread, 500 k records, a 1 MiB last level) last-level misses
//! 3.68 → 2.26 M.
//!
//! A slot gives back exactly the observation it was made from (property-tested for every field
//! and every address kind, through [`Slot::new`] and through the fast parse's
//! [`V2Target`] writes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::features::{plain_obs_fields, Dir, ObsView, Observation, Unplaceable};
use crate::flowlog::{Action, EniId, FlowDirection, FlowRecord, LogStatus, V2Target};

// Address kinds, two bits per address in `flags` at these shifts.
const NONE: u16 = 0;
const V4: u16 = 1;
const V6: u16 = 2;
const KIND: u16 = 3;
const SRC: u16 = 0;
const DST: u16 = 2;
const PKT_SRC: u16 = 4;
const PKT_DST: u16 = 6;
// Where each address other than an IPv4 source or destination lives in `wide`.
const WIDE_SRC: usize = 0;
const WIDE_DST: usize = 1;
const WIDE_PKT_SRC: usize = 2;
const WIDE_PKT_DST: usize = 3;
// Presence bits of the optional numbers.
const HAS_SRCPORT: u16 = 1 << 8;
const HAS_DSTPORT: u16 = 1 << 9;
const HAS_PROTOCOL: u16 = 1 << 10;
const HAS_TCP_FLAGS: u16 = 1 << 11;

/// One record of a block: an [`Observation`] and the global watermark at its read time, in
/// 128 bytes of which a record with IPv4 addresses uses the first 64 (see the module docs).
/// Make one with [`Slot::new`]; read it in place through [`ObsView`], or whole with
/// [`Slot::observation`].
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    start: u64,
    end: u64,
    packets: u64,
    bytes: u64,
    /// The watermark at the record's read time (while the reader fills the slot, first the
    /// time the watermark takes from the record).
    at: u64,
    eni: EniId,
    src4: u32,
    dst4: u32,
    srcport: u16,
    dstport: u16,
    tcp_flags: u16,
    protocol: u8,
    action: Option<Action>,
    status: LogStatus,
    direction: Option<FlowDirection>,
    flags: u16,
    /// Addresses that are not an IPv4 source or destination (indexes `WIDE_*`); an IPv4 one
    /// in the first four bytes.
    wide: [[u8; 16]; 4],
}

impl Slot {
    /// A slot of [`Observation::EMPTY`] at watermark 0.
    pub const EMPTY: Slot = Slot {
        start: 0,
        end: 0,
        packets: 0,
        bytes: 0,
        at: 0,
        eni: 0,
        src4: 0,
        dst4: 0,
        srcport: 0,
        dstport: 0,
        tcp_flags: 0,
        protocol: 0,
        action: None,
        status: LogStatus::Ok,
        direction: None,
        flags: 0,
        wide: [[0; 16]; 4],
    };

    /// `obs`, read when the global watermark was `watermark`.
    pub fn new(obs: &Observation, watermark: u64) -> Slot {
        let mut s = Slot::EMPTY;
        s.set_observation(obs);
        s.at = watermark;
        s
    }

    /// The observation the slot holds.
    pub fn observation(&self) -> Observation {
        self.to_observation()
    }

    /// The global watermark at the record's read time.
    #[inline(always)]
    pub fn watermark(&self) -> u64 {
        self.at
    }

    /// Sets the watermark, returning the value it replaces.
    #[inline(always)]
    pub(crate) fn replace_watermark(&mut self, at: u64) -> u64 {
        std::mem::replace(&mut self.at, at)
    }

    /// Sets the watermark.
    #[inline(always)]
    pub(crate) fn set_watermark(&mut self, at: u64) {
        self.at = at;
    }

    /// Sets the interface.
    #[inline(always)]
    pub(crate) fn set_interface(&mut self, eni: EniId) {
        self.eni = eni;
    }

    /// Holds `obs` (the watermark unchanged).
    pub fn set_observation(&mut self, obs: &Observation) {
        self.flags = 0;
        self.eni = obs.eni;
        self.start = obs.start;
        self.end = obs.end;
        self.packets = obs.packets;
        self.bytes = obs.bytes;
        self.put_src(obs.src);
        self.put_dst(obs.dst);
        self.put_wide(PKT_SRC, WIDE_PKT_SRC, obs.pkt_src);
        self.put_wide(PKT_DST, WIDE_PKT_DST, obs.pkt_dst);
        self.put_srcport(obs.srcport);
        self.put_dstport(obs.dstport);
        self.put_protocol(obs.protocol);
        self.put_tcp_flags(obs.tcp_flags);
        self.action = obs.action;
        self.status = obs.status;
        self.direction = obs.direction;
    }

    /// [`Observation::fill_from`] into the slot (the watermark unchanged): the fast parse's
    /// writes of the default-v2 fields (its [`V2Target`] setters), then the later versions'
    /// fields. On error the slot is left unchanged.
    pub fn fill_from(&mut self, rec: &FlowRecord) -> Result<(), Unplaceable> {
        let eni = rec.eni.ok_or(Unplaceable::NoEni)?;
        let start = rec.start.ok_or(Unplaceable::NoStart)?;
        let at = self.at;
        self.set_head(None, None);
        self.eni = eni;
        self.put_src(rec.srcaddr);
        self.put_dst(rec.dstaddr);
        self.put_srcport(rec.srcport);
        self.put_dstport(rec.dstport);
        self.put_protocol(rec.protocol);
        self.set_packets(rec.packets);
        self.set_bytes(rec.bytes);
        // `set_times` keeps the watermark's time in `at`: the slot's watermark stays.
        let _ = self.set_times(Some(start), rec.end);
        self.at = at;
        self.set_action(rec.action);
        self.set_status(rec.log_status);
        self.put_wide(PKT_SRC, WIDE_PKT_SRC, rec.pkt_srcaddr);
        self.put_wide(PKT_DST, WIDE_PKT_DST, rec.pkt_dstaddr);
        self.put_tcp_flags(rec.tcp_flags.map(|f| f.0));
        self.direction = rec.flow_direction;
        Ok(())
    }

    #[inline(always)]
    fn kind(&self, at: u16) -> u16 {
        (self.flags >> at) & KIND
    }

    /// The source or destination address (IPv4 in `v4`, else in `wide[i]`).
    #[inline(always)]
    fn end_addr(&self, at: u16, v4: u32, i: usize) -> Option<IpAddr> {
        match self.kind(at) {
            NONE => None,
            V4 => Some(IpAddr::V4(Ipv4Addr::from(v4))),
            _ => self.wide.get(i).map(|w| IpAddr::V6(Ipv6Addr::from(*w))),
        }
    }

    /// A packet address (in `wide[i]`).
    #[inline(always)]
    fn wide_addr(&self, at: u16, i: usize) -> Option<IpAddr> {
        let w = self.wide.get(i)?;
        match self.kind(at) {
            NONE => None,
            V4 => Some(IpAddr::V4(Ipv4Addr::new(w[0], w[1], w[2], w[3]))),
            _ => Some(IpAddr::V6(Ipv6Addr::from(*w))),
        }
    }

    // The writers below add their flags to flags cleared first (by `set_observation` or by
    // `set_head`, the fast parse's first write of a line).

    #[inline(always)]
    fn put_src(&mut self, a: Option<IpAddr>) {
        match a {
            None => {}
            Some(IpAddr::V4(a)) => {
                self.src4 = u32::from(a);
                self.flags |= V4 << SRC;
            }
            Some(IpAddr::V6(a)) => self.put_v6(SRC, WIDE_SRC, a),
        }
    }

    #[inline(always)]
    fn put_dst(&mut self, a: Option<IpAddr>) {
        match a {
            None => {}
            Some(IpAddr::V4(a)) => {
                self.dst4 = u32::from(a);
                self.flags |= V4 << DST;
            }
            Some(IpAddr::V6(a)) => self.put_v6(DST, WIDE_DST, a),
        }
    }

    fn put_v6(&mut self, at: u16, i: usize, a: Ipv6Addr) {
        if let Some(w) = self.wide.get_mut(i) {
            *w = a.octets();
            self.flags |= V6 << at;
        }
    }

    fn put_wide(&mut self, at: u16, i: usize, a: Option<IpAddr>) {
        match a {
            None => {}
            Some(IpAddr::V4(a)) => {
                if let Some(w) = self.wide.get_mut(i) {
                    *w = [0; 16];
                    w[..4].copy_from_slice(&a.octets());
                    self.flags |= V4 << at;
                }
            }
            Some(IpAddr::V6(a)) => self.put_v6(at, i, a),
        }
    }

    #[inline(always)]
    fn put_srcport(&mut self, v: Option<u16>) {
        if let Some(v) = v {
            self.srcport = v;
            self.flags |= HAS_SRCPORT;
        }
    }

    #[inline(always)]
    fn put_dstport(&mut self, v: Option<u16>) {
        if let Some(v) = v {
            self.dstport = v;
            self.flags |= HAS_DSTPORT;
        }
    }

    fn put_tcp_flags(&mut self, v: Option<u16>) {
        if let Some(v) = v {
            self.tcp_flags = v;
            self.flags |= HAS_TCP_FLAGS;
        }
    }

    #[inline(always)]
    fn put_protocol(&mut self, v: Option<u8>) {
        if let Some(v) = v {
            self.protocol = v;
            self.flags |= HAS_PROTOCOL;
        }
    }
}

impl PartialEq for Slot {
    /// The same observation at the same watermark (bytes a field's flag leaves unused may
    /// differ).
    fn eq(&self, other: &Slot) -> bool {
        self.at == other.at && self.to_observation() == other.to_observation()
    }
}

/// The slot read in place: only the first line, unless an address kind says otherwise.
impl ObsView for Slot {
    plain_obs_fields!();
    #[inline(always)]
    fn protocol(&self) -> Option<u8> {
        (self.flags & HAS_PROTOCOL != 0).then_some(self.protocol)
    }
    #[inline(always)]
    fn tcp_flags(&self) -> Option<u16> {
        (self.flags & HAS_TCP_FLAGS != 0).then_some(self.tcp_flags)
    }
    #[inline(always)]
    fn srcport(&self) -> Option<u16> {
        (self.flags & HAS_SRCPORT != 0).then_some(self.srcport)
    }
    #[inline(always)]
    fn dstport(&self) -> Option<u16> {
        (self.flags & HAS_DSTPORT != 0).then_some(self.dstport)
    }
    #[inline(always)]
    fn direction(&self) -> Option<FlowDirection> {
        self.direction
    }
    #[inline(always)]
    fn src(&self) -> Option<IpAddr> {
        self.end_addr(SRC, self.src4, WIDE_SRC)
    }
    #[inline(always)]
    fn dst(&self) -> Option<IpAddr> {
        self.end_addr(DST, self.dst4, WIDE_DST)
    }
    #[inline(always)]
    fn pkt_src(&self) -> Option<IpAddr> {
        self.wide_addr(PKT_SRC, WIDE_PKT_SRC)
    }
    #[inline(always)]
    fn pkt_dst(&self) -> Option<IpAddr> {
        self.wide_addr(PKT_DST, WIDE_PKT_DST)
    }
    #[inline(always)]
    fn plain_v4_pair(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        // One test of the four kinds.
        const MASK: u16 = KIND << SRC | KIND << DST | KIND << PKT_SRC | KIND << PKT_DST;
        const PLAIN: u16 = V4 << SRC | V4 << DST;
        (self.flags & MASK == PLAIN && self.direction.is_none())
            .then(|| (Ipv4Addr::from(self.src4), Ipv4Addr::from(self.dst4)))
    }
    #[inline(always)]
    fn src_v4(&self) -> Option<u32> {
        (self.kind(SRC) == V4).then_some(self.src4)
    }
    #[inline(always)]
    fn dst_v4(&self) -> Option<u32> {
        (self.kind(DST) == V4).then_some(self.dst4)
    }
    #[inline(always)]
    fn remote(&self, dir: Dir) -> Option<IpAddr> {
        // Packet addresses are rare: one test of both kinds first.
        if self.flags & (KIND << PKT_SRC | KIND << PKT_DST) == 0 {
            return match dir {
                Dir::Out => self.dst(),
                Dir::In => self.src(),
            };
        }
        match dir {
            Dir::Out => self.pkt_dst().or_else(|| self.dst()),
            Dir::In => self.pkt_src().or_else(|| self.src()),
        }
    }
}

/// A block slot as the reader's fast route writes it (`LogReader::fast_into`): the
/// observation exactly as [`Observation::fill_from`] would fill it from the line's record,
/// and as its watermark the time the watermark takes from the record (`end`, else `start`),
/// which the sink then replaces by the watermark the record was read at. A line without an
/// interface or a start time is refused (no observation; `fill_from` would refuse its
/// record too).
impl V2Target for Slot {
    const TOTAL: bool = false;
    #[inline(always)]
    fn set_head(&mut self, _: Option<u8>, _: Option<u64>) {
        // The line's first write: the flags start empty, and each field adds its own (the
        // packet addresses and TCP flags, absent in v2, never do).
        self.flags = 0;
    }
    #[inline(always)]
    fn set_eni(&mut self, eni: Option<EniId>) -> Option<()> {
        self.eni = eni?;
        Some(())
    }
    #[inline(always)]
    fn set_srcaddr(&mut self, v: Option<IpAddr>) {
        self.put_src(v);
    }
    #[inline(always)]
    fn set_dstaddr(&mut self, v: Option<IpAddr>) {
        self.put_dst(v);
    }
    #[inline(always)]
    fn set_srcport(&mut self, v: Option<u16>) {
        self.put_srcport(v);
    }
    #[inline(always)]
    fn set_dstport(&mut self, v: Option<u16>) {
        self.put_dstport(v);
    }
    #[inline(always)]
    fn set_protocol(&mut self, v: Option<u8>) {
        self.put_protocol(v);
    }
    #[inline(always)]
    fn set_packets(&mut self, v: Option<u64>) {
        self.packets = v.unwrap_or(0);
    }
    #[inline(always)]
    fn set_bytes(&mut self, v: Option<u64>) {
        self.bytes = v.unwrap_or(0);
    }
    #[inline(always)]
    fn set_times(&mut self, start: Option<u64>, end: Option<u64>) -> Option<()> {
        let start = start?;
        let end = end.unwrap_or(start);
        self.start = start;
        self.end = end.max(start);
        // What `Watermark::observe` takes from the record: `end.or(start)`.
        self.at = end;
        Some(())
    }
    #[inline(always)]
    fn set_action(&mut self, v: Option<Action>) {
        self.action = v;
    }
    #[inline(always)]
    fn set_status(&mut self, v: Option<LogStatus>) {
        self.status = v.unwrap_or(LogStatus::Ok);
    }
    #[inline(always)]
    fn clear_rest(&mut self) {
        // The packet addresses and TCP flags are absent already: their flags were never set.
        self.direction = None;
    }
    #[inline(always)]
    fn status_index(&self) -> usize {
        match self.status {
            LogStatus::Ok => 0,
            LogStatus::NoData => 1,
            LogStatus::SkipData => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr() -> impl Strategy<Value = Option<IpAddr>> {
        prop_oneof![
            Just(None),
            any::<[u8; 4]>().prop_map(|a| Some(IpAddr::from(a))),
            any::<[u8; 16]>().prop_map(|a| Some(IpAddr::from(a))),
        ]
    }

    fn action() -> impl Strategy<Value = Option<Action>> {
        prop_oneof![
            Just(None),
            Just(Some(Action::Accept)),
            Just(Some(Action::Reject))
        ]
    }

    fn status() -> impl Strategy<Value = LogStatus> {
        prop_oneof![
            Just(LogStatus::Ok),
            Just(LogStatus::NoData),
            Just(LogStatus::SkipData)
        ]
    }

    fn direction() -> impl Strategy<Value = Option<FlowDirection>> {
        prop_oneof![
            Just(None),
            Just(Some(FlowDirection::Ingress)),
            Just(Some(FlowDirection::Egress))
        ]
    }

    prop_compose! {
        fn observation()(
            (eni, start, end, packets, bytes) in (any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
            (src, dst, pkt_src, pkt_dst) in (addr(), addr(), addr(), addr()),
            (srcport, dstport, protocol, tcp_flags) in (any::<Option<u16>>(), any::<Option<u16>>(), any::<Option<u8>>(), any::<Option<u16>>()),
            (action, status, direction) in (action(), status(), direction()),
        ) -> Observation {
            Observation {
                eni, start, end, src, dst, pkt_src, pkt_dst, srcport, dstport, protocol,
                packets, bytes, action, status, tcp_flags, direction,
            }
        }
    }

    /// Every accessor against the observation's field.
    fn same_view(s: &Slot, o: &Observation) {
        assert_eq!(s.to_observation(), *o);
        assert_eq!(ObsView::eni(s), o.eni);
        assert_eq!(ObsView::start(s), o.start);
        assert_eq!(ObsView::src(s), o.src);
        assert_eq!(ObsView::dst(s), o.dst);
        assert_eq!(ObsView::pkt_src(s), o.pkt_src);
        assert_eq!(ObsView::pkt_dst(s), o.pkt_dst);
        assert_eq!(ObsView::dstport(s), o.dstport);
        assert_eq!(ObsView::protocol(s), o.protocol);
        assert_eq!(s.plain_v4_pair(), o.plain_v4_pair());
        assert_eq!(s.src_v4(), o.src_v4());
        assert_eq!(s.dst_v4(), o.dst_v4());
        for d in [Dir::Out, Dir::In] {
            assert_eq!(ObsView::remote(s, d), o.remote(d));
        }
    }

    proptest! {
        /// A slot gives back the observation and watermark it was made from, and reads each
        /// field as the observation does; refilling a used slot leaves nothing of the old one.
        #[test]
        fn a_slot_holds_its_observation(a in observation(), b in observation(), wm: u64) {
            let mut s = Slot::new(&a, wm);
            prop_assert_eq!(s.watermark(), wm);
            same_view(&s, &a);
            s.set_observation(&b);
            prop_assert_eq!(s.watermark(), wm);
            same_view(&s, &b);
            prop_assert_eq!(s, Slot::new(&b, wm));
        }

        /// `Slot::fill_from` of any record (every field of every version, absent or not)
        /// into a used slot gives `Observation::from_record`'s observation and keeps the
        /// slot's watermark; a record without an interface or a start leaves the slot as it
        /// was.
        #[test]
        fn a_slot_fills_from_a_record_as_an_observation_does(
            old in observation(),
            v in observation(),
            has_eni: bool,
            has_start: bool,
            has_end: bool,
        ) {
            let rec = FlowRecord {
                eni: has_eni.then_some(v.eni),
                srcaddr: v.src,
                dstaddr: v.dst,
                pkt_srcaddr: v.pkt_src,
                pkt_dstaddr: v.pkt_dst,
                srcport: v.srcport,
                dstport: v.dstport,
                protocol: v.protocol,
                packets: Some(v.packets),
                bytes: Some(v.bytes),
                start: has_start.then_some(v.start),
                end: has_end.then_some(v.end),
                action: v.action,
                log_status: Some(v.status),
                tcp_flags: v.tcp_flags.map(crate::flowlog::TcpFlags),
                flow_direction: v.direction,
                ..FlowRecord::default()
            };
            let mut s = Slot::new(&old, 7);
            let before = s;
            match (Observation::from_record(&rec), s.fill_from(&rec)) {
                (Ok(want), Ok(())) => {
                    same_view(&s, &want);
                    prop_assert_eq!(s.watermark(), 7);
                }
                (Err(a), Err(b)) => {
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(s, before);
                }
                (a, b) => prop_assert!(false, "{:?} against {:?}", a, b),
            }
        }

        /// The fast parse's writes (a line's fields in order, from `set_head` to
        /// `clear_rest`) into a used slot give the observation `fill_from` gives.
        #[test]
        fn v2_writes_give_what_fill_from_gives(old in observation(), v in observation()) {
            let mut s = Slot::new(&old, 7);
            s.set_head(Some(2), None);
            prop_assert!(s.set_eni(Some(v.eni)).is_some());
            s.set_srcaddr(v.src);
            s.set_dstaddr(v.dst);
            s.set_srcport(v.srcport);
            s.set_dstport(v.dstport);
            s.set_protocol(v.protocol);
            s.set_packets(Some(v.packets));
            s.set_bytes(Some(v.bytes));
            prop_assert!(s.set_times(Some(v.start), Some(v.end)).is_some());
            s.set_action(v.action);
            s.set_status(Some(v.status));
            s.clear_rest();
            let rec = FlowRecord {
                eni: Some(v.eni),
                srcaddr: v.src,
                dstaddr: v.dst,
                srcport: v.srcport,
                dstport: v.dstport,
                protocol: v.protocol,
                packets: Some(v.packets),
                bytes: Some(v.bytes),
                start: Some(v.start),
                end: Some(v.end),
                action: v.action,
                log_status: Some(v.status),
                ..FlowRecord::default()
            };
            let want = Observation::from_record(&rec).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            same_view(&s, &want);
            // The watermark's time from the record: its `end`.
            prop_assert_eq!(s.watermark(), v.end);
            let status = [LogStatus::Ok, LogStatus::NoData, LogStatus::SkipData];
            prop_assert_eq!(status.get(s.status_index()), Some(&v.status));
        }
    }

    #[test]
    fn a_slot_is_two_lines_and_the_usual_fields_are_in_the_first() {
        assert_eq!(std::mem::size_of::<Slot>(), 128);
        assert_eq!(std::mem::align_of::<Slot>(), 64);
        assert_eq!(std::mem::offset_of!(Slot, wide), 64);
        assert!(std::mem::offset_of!(Slot, flags) < 64);
    }

    #[test]
    fn refused_lines_leave_no_observation() {
        let mut s = Slot::EMPTY;
        assert_eq!(s.set_eni(None), None);
        assert_eq!(s.set_times(None, Some(5)), None);
        let rec = FlowRecord::default();
        assert!(s.fill_from(&rec).is_err());
        assert_eq!(s, Slot::EMPTY);
    }
}
