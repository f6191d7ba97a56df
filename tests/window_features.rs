//! Integration tests of the window stage and the feature vector (`flowvigil::window`,
//! `flowvigil::features`): event-time windows, lateness, direction, every schema-v1 feature,
//! bounded history, sharded = sequential, and the `features` CSV on real AWS files.
//!
//! A new test about windows, watermarks, sharding or feature values goes here; tests of one
//! helper type (HyperLogLog, port history, ...) stay inline in its module.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use flowvigil::features::{
    EniHistory, Feature, Observation, WindowFeatures, FEATURE_NAMES, MAX_PEER_STATS,
    MAX_PORT_STATS, NUM_FEATURES, WATCHED_PORTS,
};
use flowvigil::flowlog::{Action, EniId, FlowDirection, FlowRecord, Interner, LogStatus, TcpFlags};
use flowvigil::window::{
    run_sharded, shard_of, Push, RunStats, ShardDriver, Slot, Watermark, WindowConfig, Windower,
};
use proptest::prelude::*;

use common::VecSource;

const T0: u64 = 1_700_000_100;

fn names(n: usize) -> Interner {
    let mut i = Interner::new();
    for k in 0..n {
        i.intern(
            format!(
                "eni-{:017x}",
                (k as u64).wrapping_mul(0x9e37_79b9) % 0xfff_ffff
            )
            .as_bytes(),
        );
    }
    i
}

fn v4(a: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

/// The ENI's own address: 10.0.<eni>.10.
fn own(eni: EniId) -> IpAddr {
    v4(0x0a00_000a | (eni << 8))
}

#[derive(Clone, Debug)]
struct Spec {
    eni: EniId,
    offset: u64,
    span: u64,
    peer: u32,
    public: bool,
    egress: bool,
    srcport: u16,
    dstport: u16,
    proto: u8,
    packets: u64,
    bytes: u64,
    reject: bool,
    flags: u16,
    with_direction: bool,
    status: u8,
}

/// Builds a record. Peers are public (203.0.113.0/24-like space) whenever `flow-direction` is
/// absent, so that direction learning is exact (see `crate::window` docs on where it fails).
fn record(s: &Spec) -> FlowRecord {
    let peer = if s.public || !s.with_direction {
        v4(0xcb00_7100 + s.peer)
    } else {
        v4(0x0a01_0000 + s.peer)
    };
    let me = own(s.eni);
    let (src, dst) = if s.egress { (me, peer) } else { (peer, me) };
    let mut r = FlowRecord {
        version: Some(5),
        eni: Some(s.eni),
        srcaddr: Some(src),
        dstaddr: Some(dst),
        srcport: Some(s.srcport),
        dstport: Some(s.dstport),
        protocol: Some(s.proto),
        packets: Some(s.packets),
        bytes: Some(s.bytes),
        start: Some(T0 + s.offset),
        end: Some(T0 + s.offset + s.span),
        action: Some(if s.reject {
            Action::Reject
        } else {
            Action::Accept
        }),
        log_status: Some(LogStatus::Ok),
        tcp_flags: Some(TcpFlags(s.flags)),
        flow_direction: s.with_direction.then_some(if s.egress {
            FlowDirection::Egress
        } else {
            FlowDirection::Ingress
        }),
        ..FlowRecord::default()
    };
    match s.status {
        0 => {
            r.srcaddr = None;
            r.dstaddr = None;
            r.log_status = Some(LogStatus::SkipData);
        }
        1 => {
            r.srcaddr = None;
            r.dstaddr = None;
            r.log_status = Some(LogStatus::NoData);
        }
        _ => {}
    }
    r
}

fn spec_strategy(enis: u32, horizon: u64) -> impl Strategy<Value = Spec> {
    (
        (
            0..enis,
            0..horizon,
            0u64..60,
            0u32..40,
            any::<bool>(),
            any::<bool>(),
        ),
        (
            prop_oneof![
                Just(22u16),
                Just(443),
                Just(3389),
                1u16..2000,
                30000u16..65535
            ],
            prop_oneof![
                Just(22u16),
                Just(443),
                Just(53),
                1u16..2000,
                32768u16..65535
            ],
            prop_oneof![Just(6u8), Just(17), Just(1)],
        ),
        (
            1u64..50,
            40u64..100_000,
            any::<bool>(),
            prop_oneof![Just(2u16), Just(18), Just(27)],
        ),
        (any::<bool>(), 0u8..40),
    )
        .prop_map(
            |(
                (eni, offset, span, peer, public, egress),
                (sp, dp, proto),
                (pk, by, rej, fl),
                (wd, st),
            )| Spec {
                eni,
                offset,
                span,
                peer,
                public,
                egress,
                srcport: sp,
                dstport: dp,
                proto,
                packets: pk,
                bytes: by,
                reject: rej,
                flags: fl,
                with_direction: wd,
                status: st,
            },
        )
}

fn run(
    recs: Vec<FlowRecord>,
    enis: usize,
    cfg: &WindowConfig,
    shards: usize,
) -> (Vec<WindowFeatures>, RunStats, Vec<FlowRecord>) {
    let mut src = VecSource {
        recs,
        pos: 0,
        names: names(enis),
    };
    let mut late = Vec::new();
    let (outs, stats) = run_sharded(
        &mut src,
        cfg,
        shards,
        |_| Vec::new(),
        |r, _| {
            late.push(r.clone());
            Ok(())
        },
    )
    .unwrap();
    let nm = src.names.clone();
    let mut all: Vec<WindowFeatures> = outs.into_iter().flatten().collect();
    all.sort_by(|a, b| {
        a.window_start
            .cmp(&b.window_start)
            .then(nm.name(a.eni).cmp(nm.name(b.eni)))
    });
    (all, stats, late)
}

fn col(w: &WindowFeatures, f: Feature) -> f64 {
    w.values[f as usize]
}

/// Records delivered in order of `end + delay`, the way flow-log delivery reorders them.
fn deliver(mut recs: Vec<FlowRecord>, delays: &[u64]) -> Vec<FlowRecord> {
    let mut keyed: Vec<(u64, usize, FlowRecord)> = recs
        .drain(..)
        .enumerate()
        .map(|(i, r)| {
            (
                r.end.unwrap() + delays.get(i % delays.len().max(1)).copied().unwrap_or(0),
                i,
                r,
            )
        })
        .collect();
    keyed.sort_by_key(|(t, i, _)| (*t, *i));
    keyed.into_iter().map(|(_, _, r)| r).collect()
}

/// Identifies a record among the generated ones (start, srcaddr, bytes, ENI).
type LateKey = (Option<u64>, Option<IpAddr>, Option<u64>, Option<EniId>);

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Bytes, packets and flows summed over all windows equal the sums over the OK records that
    /// were not late; late ones are all reported.
    #[test]
    fn sums_are_preserved(specs in proptest::collection::vec(spec_strategy(5, 7200), 1..400),
                          delays in proptest::collection::vec(0u64..3000, 1..50)) {
        let recs = deliver(specs.iter().map(record).collect(), &delays);
        let cfg = WindowConfig::default();
        let (ws, stats, late) = run(recs.clone(), 5, &cfg, 1);
        let late_set: HashSet<LateKey> =
            late.iter().map(|r| (r.start, r.srcaddr, r.bytes, r.eni)).collect();
        prop_assert_eq!(late.len() as u64, stats.window.late);
        let (mut bytes, mut packets, mut flows, mut skip) = (0.0, 0.0, 0.0, 0.0);
        for w in &ws {
            bytes += col(w, Feature::BytesOut) + col(w, Feature::BytesIn);
            packets += col(w, Feature::PacketsOut) + col(w, Feature::PacketsIn);
            flows += col(w, Feature::FlowsOut) + col(w, Feature::FlowsIn);
            skip += col(w, Feature::Skipdata);
        }
        let ok: Vec<&FlowRecord> = recs.iter().filter(|r| r.log_status == Some(LogStatus::Ok)).collect();
        let not_late = |r: &&&FlowRecord| !late_set.contains(&(r.start, r.srcaddr, r.bytes, r.eni));
        let ok_kept: Vec<&&FlowRecord> = ok.iter().filter(not_late).collect();
        prop_assert_eq!(flows, ok_kept.len() as f64);
        prop_assert_eq!(bytes, ok_kept.iter().map(|r| r.bytes.unwrap()).sum::<u64>() as f64);
        prop_assert_eq!(packets, ok_kept.iter().map(|r| r.packets.unwrap()).sum::<u64>() as f64);
        let skips = recs.iter().filter(|r| r.log_status == Some(LogStatus::SkipData)).count() as u64;
        prop_assert_eq!(skip as u64 + late.iter().filter(|r| r.log_status == Some(LogStatus::SkipData)).count() as u64, skips);
        // Every record is accounted for exactly once.
        prop_assert_eq!(stats.window.records, recs.len() as u64);
        prop_assert_eq!(stats.window.accepted + stats.window.skipdata + stats.window.not_windowed(), stats.window.records);
        let per_eni: u64 = stats.late_by_eni.iter().map(|(_, n)| n).sum();
        prop_assert_eq!(per_eni, stats.window.late);
    }

    /// Reordering records within the allowed lateness gives the same windows, bit for bit.
    #[test]
    fn shuffle_within_lateness_gives_the_same_windows(
        specs in proptest::collection::vec(spec_strategy(4, 5400), 1..300),
        delays in proptest::collection::vec(0u64..780, 1..40),
    ) {
        let cfg = WindowConfig::default();
        let sorted = deliver(specs.iter().map(record).collect(), &[0]);
        // Delay ≤ lateness - longest span (900 - 60 - a margin): nothing can become late.
        let shuffled = deliver(specs.iter().map(record).collect(), &delays);
        let (a, sa, _) = run(sorted, 4, &cfg, 1);
        let (b, sb, _) = run(shuffled, 4, &cfg, 1);
        prop_assert_eq!(sa.window.late, 0);
        prop_assert_eq!(sb.window.late, 0);
        prop_assert_eq!(a, b);
    }

    /// Sharded extraction gives exactly the sequential windows and counters, late records
    /// included, for any shard count.
    #[test]
    fn sharded_equals_sequential(specs in proptest::collection::vec(spec_strategy(9, 7200), 1..400),
                                 delays in proptest::collection::vec(0u64..2500, 1..30),
                                 shards in 2usize..5) {
        let recs = deliver(specs.iter().map(record).collect(), &delays);
        let cfg = WindowConfig { window_secs: 120, allowed_lateness_secs: 600, ..WindowConfig::default() };
        let (a, sa, la) = run(recs.clone(), 9, &cfg, 1);
        let (b, sb, lb) = run(recs, 9, &cfg, shards);
        prop_assert_eq!(a, b);
        prop_assert_eq!(sa.window, sb.window);
        prop_assert_eq!(sa.late_by_eni, sb.late_by_eni);
        prop_assert_eq!(la, lb);
    }

    /// Blocks grouped by ENI (`ShardDriver::feed_block`, what batch runs use) give the same
    /// windows, in the same order, and the same counters as one record at a time
    /// (`ShardDriver::feed`, what the streaming engine uses), for any block boundaries, with
    /// late records, evidence on and off.
    #[test]
    fn grouped_blocks_equal_record_at_a_time(
        specs in proptest::collection::vec(spec_strategy(7, 7200), 1..400),
        delays in proptest::collection::vec(0u64..2500, 1..30),
        cuts in proptest::collection::vec(1usize..120, 1..8),
        evidence in any::<bool>(),
    ) {
        let recs = deliver(specs.iter().map(record).collect(), &delays);
        let cfg = WindowConfig { window_secs: 120, allowed_lateness_secs: 600, evidence, ..WindowConfig::default() };
        let nm = names(7);
        let mut wm = Watermark::new(cfg.allowed_lateness_secs);
        let mut items = Vec::new();
        for r in &recs {
            items.push(Slot::new(&Observation::from_record(r).unwrap(), wm.get()));
            wm.observe(r);
        }
        let mut one = ShardDriver::new(&cfg, Vec::<WindowFeatures>::new());
        for slot in &items {
            one.feed(&slot.observation(), slot.watermark(), &nm);
        }
        // Blocks end where a watermark was taken: after record k the watermark is the one
        // record k+1 was read under (or the final one).
        let mut grouped = ShardDriver::new(&cfg, Vec::<WindowFeatures>::new());
        let mut at = 0;
        let mut k = 0;
        while at < items.len() {
            let end = (at + cuts[k % cuts.len()]).min(items.len());
            let after = items.get(end).map_or(wm.get(), Slot::watermark);
            grouped.feed_block(&items[at..end], after, &nm);
            at = end;
            k += 1;
        }
        one.advance(wm.get(), &nm);
        one.finish_windows(&nm);
        grouped.finish_windows(&nm);
        prop_assert_eq!(one.sink(), grouped.sink());
        prop_assert_eq!(one.windower().stats(), grouped.windower().stats());
        prop_assert_eq!(one.windower().late_counts(), grouped.windower().late_counts());
    }

    /// new_ports_out/in never count a port twice for one ENI, and count every port once.
    #[test]
    fn new_ports_count_each_port_once(specs in proptest::collection::vec(spec_strategy(3, 20_000), 1..400)) {
        let recs = deliver(specs.iter().map(record).collect(), &[0]);
        let (ws, _, _) = run(recs.clone(), 3, &WindowConfig::default(), 1);
        let mut truth: BTreeMap<(EniId, bool), BTreeSet<u16>> = BTreeMap::new();
        for r in recs.iter().filter(|r| r.log_status == Some(LogStatus::Ok)) {
            let (sp, dp) = (r.srcport.unwrap(), r.dstport.unwrap());
            let reply = sp < 32768 && dp >= 32768;
            if matches!(r.protocol, Some(6 | 17)) && !reply {
                let egress = r.srcaddr == Some(own(r.eni.unwrap()));
                truth.entry((r.eni.unwrap(), egress)).or_default().insert(dp);
            }
        }
        let mut got: BTreeMap<(EniId, bool), f64> = BTreeMap::new();
        for w in &ws {
            *got.entry((w.eni, true)).or_default() += col(w, Feature::NewPortsOut);
            *got.entry((w.eni, false)).or_default() += col(w, Feature::NewPortsIn);
            prop_assert!(col(w, Feature::NewPortsOut) <= col(w, Feature::DstPortsOut));
            prop_assert!(col(w, Feature::NewPortsIn) <= col(w, Feature::LocalPortsIn));
        }
        for (k, n) in got {
            prop_assert_eq!(n as usize, truth.get(&k).map_or(0, BTreeSet::len), "eni/egress {:?}", k);
        }
    }

    /// Distinct counts (fan_out, fan_in, dst_ports_out, local_ports_in) are exact below the cap.
    #[test]
    fn distinct_counts_are_exact_below_the_cap(specs in proptest::collection::vec(spec_strategy(2, 900), 1..500)) {
        let recs = deliver(specs.iter().map(record).collect(), &[0]);
        let cfg = WindowConfig::default();
        let (ws, _, _) = run(recs.clone(), 2, &cfg, 1);
        type Key = (EniId, u64);
        let mut fan: BTreeMap<(Key, bool), BTreeSet<IpAddr>> = BTreeMap::new();
        let mut ports: BTreeMap<(Key, bool), BTreeSet<u16>> = BTreeMap::new();
        for r in recs.iter().filter(|r| r.log_status == Some(LogStatus::Ok)) {
            let eni = r.eni.unwrap();
            let key = (eni, r.start.unwrap() / 300 * 300);
            let egress = r.srcaddr == Some(own(eni));
            let remote = if egress { r.dstaddr } else { r.srcaddr }.unwrap();
            fan.entry((key, egress)).or_default().insert(remote);
            let (sp, dp) = (r.srcport.unwrap(), r.dstport.unwrap());
            if matches!(r.protocol, Some(6 | 17)) && !(sp < 32768 && dp >= 32768) {
                ports.entry((key, egress)).or_default().insert(dp);
            }
        }
        for w in &ws {
            let key = (w.eni, w.window_start);
            let n = |m: &BTreeMap<(Key, bool), BTreeSet<IpAddr>>, e| m.get(&(key, e)).map_or(0, BTreeSet::len) as f64;
            let p = |e| ports.get(&(key, e)).map_or(0, BTreeSet::len) as f64;
            prop_assert_eq!(col(w, Feature::FanOut), n(&fan, true));
            prop_assert_eq!(col(w, Feature::FanIn), n(&fan, false));
            prop_assert_eq!(col(w, Feature::DstPortsOut), p(true));
            prop_assert_eq!(col(w, Feature::LocalPortsIn), p(false));
            for v in w.values {
                prop_assert!(v.is_finite());
            }
            prop_assert!(w.evidence.ports.len() <= MAX_PORT_STATS.max(2 * WATCHED_PORTS.len()));
            prop_assert!(w.evidence.peers_out.len() <= MAX_PEER_STATS);
        }
    }
}

fn spec(eni: EniId, offset: u64) -> Spec {
    Spec {
        eni,
        offset,
        span: 30,
        peer: 1,
        public: true,
        egress: true,
        srcport: 40000,
        dstport: 443,
        proto: 6,
        packets: 10,
        bytes: 1000,
        reject: false,
        flags: 27,
        with_direction: true,
        status: 9,
    }
}

#[test]
fn a_record_for_a_closed_window_is_late_and_counted_per_eni() {
    let cfg = WindowConfig::default();
    let recs = vec![
        record(&spec(0, 0)),
        record(&spec(1, 2000)), // watermark → T0 + 2030 - 900 = T0 + 1130: closes [T0.., +300)
        record(&spec(0, 10)),   // late
        record(&spec(0, 1500)), // window [1500..) is open: accepted
    ];
    let (ws, stats, late) = run(recs, 2, &cfg, 1);
    assert_eq!(stats.window.late, 1);
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].start, Some(T0 + 10));
    assert_eq!(stats.late_by_eni.len(), 1);
    assert_eq!(stats.late_by_eni[0].1, 1);
    assert_eq!(ws.len(), 3);
    let first = ws
        .iter()
        .find(|w| w.window_start == (T0 / 300) * 300)
        .unwrap();
    assert_eq!(col(first, Feature::FlowsOut), 1.0);
}

#[test]
fn windows_close_on_the_watermark_in_start_then_name_order() {
    let cfg = WindowConfig::default();
    let names = names(3);
    let mut w = Windower::new(cfg.clone());
    let mut wm = Watermark::new(cfg.allowed_lateness_secs);
    let mut out = Vec::new();
    for (eni, off) in [(2, 0), (0, 5), (1, 100), (2, 400)] {
        let r = record(&spec(eni, off));
        w.close_until(wm.get(), &names, &mut out);
        assert_eq!(w.push(&r, wm.get()), Push::Accepted);
        wm.observe(&r);
    }
    assert!(out.is_empty(), "nothing closes before the watermark passes");
    assert_eq!(w.open_windows(), 4);
    w.close_until(T0 / 300 * 300 + 300, &names, &mut out);
    assert_eq!(out.len(), 3);
    let order: Vec<&str> = out.iter().map(|x| names.name(x.eni)).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    w.finish(&names, &mut out);
    assert_eq!(out.len(), 4);
    assert_eq!(w.open_windows(), 0);
}

#[test]
fn nodata_opens_no_window_and_skipdata_is_counted() {
    let cfg = WindowConfig::default();
    let mut s = spec(0, 0);
    s.status = 1;
    let nodata = record(&s);
    s.status = 0;
    let skip = record(&s);
    let (ws, stats, _) = run(vec![nodata, skip.clone(), skip], 1, &cfg, 1);
    assert_eq!(stats.window.nodata, 1);
    assert_eq!(ws.len(), 1);
    assert_eq!(col(&ws[0], Feature::Skipdata), 2.0);
    assert_eq!(
        col(&ws[0], Feature::FlowsOut) + col(&ws[0], Feature::FlowsIn),
        0.0
    );
}

#[test]
fn records_without_eni_or_start_are_counted_not_dropped() {
    let mut a = record(&spec(0, 0));
    a.eni = None;
    let mut b = record(&spec(0, 0));
    b.start = None;
    let (ws, stats, _) = run(vec![a, b], 1, &WindowConfig::default(), 2);
    assert!(ws.is_empty());
    assert_eq!(stats.window.no_eni, 1);
    assert_eq!(stats.window.no_start, 1);
    assert_eq!(stats.window.records, 2);
}

#[test]
fn direction_is_learned_without_flow_direction() {
    // A server (10.0.0.10) receiving from many private clients, no flow-direction field.
    let mut recs = Vec::new();
    for i in 0..40u32 {
        let client = v4(0x0a05_0000 + i);
        let mut r = FlowRecord {
            eni: Some(0),
            srcaddr: Some(client),
            dstaddr: Some(own(0)),
            srcport: Some(50000),
            dstport: Some(5432),
            protocol: Some(6),
            packets: Some(5),
            bytes: Some(500),
            start: Some(T0 + u64::from(i)),
            end: Some(T0 + u64::from(i) + 5),
            action: Some(Action::Accept),
            log_status: Some(LogStatus::Ok),
            ..FlowRecord::default()
        };
        recs.push(r.clone());
        // The reply.
        std::mem::swap(&mut r.srcaddr, &mut r.dstaddr);
        std::mem::swap(&mut r.srcport, &mut r.dstport);
        r.bytes = Some(9000);
        recs.push(r);
    }
    let (ws, _, _) = run(recs, 1, &WindowConfig::default(), 1);
    assert_eq!(ws.len(), 1);
    let w = &ws[0];
    // The first record ties (both private, one peer so far): it is deferred to the window's
    // close, when the server's address is known, so every record is directed right.
    assert_eq!(col(w, Feature::FlowsIn), 40.0);
    assert_eq!(col(w, Feature::FlowsOut), 40.0);
    assert_eq!(col(w, Feature::FanIn), 40.0);
    assert_eq!(
        col(w, Feature::LocalPortsIn),
        1.0,
        "only 5432; replies go to ephemeral ports"
    );
    assert_eq!(
        col(w, Feature::DstPortsOut),
        0.0,
        "replies (5432 → 50000) are not egress ports"
    );
    assert_eq!(w.evidence.ports.iter().filter(|p| p.ingress).count(), 1);
}

#[test]
fn a_tie_that_persists_for_the_whole_window_is_taken_as_egress() {
    // Two private addresses talking only to each other: nothing tells which is the ENI's.
    let a = v4(0x0a00_0001);
    let b = v4(0x0a00_0002);
    let mut recs = Vec::new();
    for i in 0..4u64 {
        let (s, d) = if i % 2 == 0 { (a, b) } else { (b, a) };
        recs.push(FlowRecord {
            eni: Some(0),
            srcaddr: Some(s),
            dstaddr: Some(d),
            protocol: Some(6),
            srcport: Some(40000),
            dstport: Some(443),
            packets: Some(3),
            bytes: Some(100),
            start: Some(T0 + i),
            end: Some(T0 + i + 1),
            log_status: Some(LogStatus::Ok),
            ..FlowRecord::default()
        });
    }
    let (ws, stats, _) = run(recs, 1, &WindowConfig::default(), 1);
    assert_eq!(stats.window.accepted, 4);
    assert_eq!(col(&ws[0], Feature::FlowsOut), 4.0);
}

#[test]
fn nat_gateway_legs_are_directed_by_packet_addresses() {
    let nat = v4(0x0a3f_2522);
    let inst = v4(0x0a03_0b39);
    let google = v4(0x8efa_b95b);
    let mk = |src, dst, psrc, pdst, sp, dp, t| FlowRecord {
        eni: Some(0),
        srcaddr: Some(src),
        dstaddr: Some(dst),
        pkt_srcaddr: Some(psrc),
        pkt_dstaddr: Some(pdst),
        srcport: Some(sp),
        dstport: Some(dp),
        protocol: Some(6),
        packets: Some(10),
        bytes: Some(1000),
        start: Some(T0 + t),
        end: Some(T0 + t + 30),
        action: Some(Action::Accept),
        log_status: Some(LogStatus::Ok),
        ..FlowRecord::default()
    };
    let recs = vec![
        mk(nat, inst, google, inst, 443, 44160, 0), // return leg, NAT → instance
        mk(inst, nat, inst, google, 44160, 443, 1), // in-leg, instance → NAT (→ Google)
        mk(nat, inst, google, inst, 443, 44160, 2),
    ];
    let (ws, _, _) = run(recs, 1, &WindowConfig::default(), 1);
    assert_eq!(col(&ws[0], Feature::FlowsOut), 2.0);
    assert_eq!(col(&ws[0], Feature::FlowsIn), 1.0);
    assert_eq!(col(&ws[0], Feature::LocalPortsIn), 1.0);
}

#[test]
fn features_match_hand_computed_values() {
    let mut recs = Vec::new();
    // Egress: 3 flows to 203.0.113.1:443 (9000 bytes), 1 to 10.1.0.2:22 (1000 bytes, rejected,
    // 1 packet, SYN only); ingress: 2 flows from 203.0.113.1 to local port 22.
    let mut s = spec(0, 0);
    s.bytes = 3000;
    for t in 0..3 {
        s.offset = t;
        recs.push(record(&s));
    }
    let mut s2 = spec(0, 5);
    s2.public = false;
    s2.peer = 2;
    s2.dstport = 22;
    s2.reject = true;
    s2.packets = 1;
    s2.flags = 2;
    recs.push(record(&s2));
    let mut s3 = spec(0, 6);
    s3.egress = false;
    s3.dstport = 22;
    s3.bytes = 500;
    recs.push(record(&s3.clone()));
    s3.offset = 7;
    recs.push(record(&s3));
    let (ws, _, _) = run(recs, 1, &WindowConfig::default(), 1);
    assert_eq!(ws.len(), 1);
    let w = &ws[0];
    let v = |f| col(w, f);
    assert_eq!(v(Feature::FlowsOut), 4.0);
    assert_eq!(v(Feature::FlowsIn), 2.0);
    assert_eq!(v(Feature::BytesOut), 10_000.0);
    assert_eq!(v(Feature::BytesIn), 1000.0);
    assert!((v(Feature::ByteRatio) - (10_001f64 / 1001.0).ln()).abs() < 1e-12);
    assert_eq!(v(Feature::FanOut), 2.0);
    assert_eq!(v(Feature::FanIn), 1.0);
    assert_eq!(v(Feature::DstPortsOut), 2.0);
    assert_eq!(v(Feature::LocalPortsIn), 1.0);
    assert_eq!(v(Feature::NewPortsOut), 2.0);
    assert_eq!(v(Feature::NewPortsIn), 1.0);
    assert_eq!(v(Feature::NewPeers), 2.0);
    assert_eq!(v(Feature::RejectRatioOut), 0.25);
    assert_eq!(v(Feature::RejectRatioIn), 0.0);
    assert_eq!(v(Feature::ExternalBytesFrac), 0.9);
    assert!((v(Feature::SmallFlowFrac) - 1.0 / 6.0).abs() < 1e-12);
    let p = [0.75f64, 0.25];
    let h: f64 = p.iter().map(|x| -x * x.log2()).sum();
    assert!((v(Feature::DstPortEntropy) - h).abs() < 1e-12);
    assert_eq!(v(Feature::TopPeerBytesOut), 9000.0);
    assert!((v(Feature::SynOnlyFrac) - 1.0 / 6.0).abs() < 1e-12);
    assert_eq!(v(Feature::Skipdata), 0.0);
    // Evidence: port 22 is watched and appears in both directions; the top pair is 443.
    assert!(w
        .evidence
        .ports
        .iter()
        .any(|p| p.port == 22 && p.ingress && p.flows == 2));
    let out22 = w
        .evidence
        .ports
        .iter()
        .find(|p| p.port == 22 && !p.ingress)
        .unwrap();
    assert_eq!(
        (out22.rejected, out22.small_flows, out22.internal_peers),
        (1, 1, 1)
    );
    assert_eq!(w.evidence.peers_out[0].port, 443);
    assert_eq!(w.evidence.peers_out[0].bytes, 9000);
    assert!(w.evidence.peers_out[0].new_peer && w.evidence.peers_out[0].external);
}

#[test]
fn history_carries_over_between_windows_and_runs() {
    let cfg = WindowConfig::default();
    let first = [record(&spec(0, 0))];
    let later = [record(&spec(0, 4000))];
    let names = names(1);
    let mut w = Windower::new(cfg.clone());
    let mut out = Vec::new();
    w.push(&first[0], 0);
    w.finish(&names, &mut out);
    assert_eq!(col(&out[0], Feature::NewPortsOut), 1.0);
    let hist: EniHistory = w.history(0).unwrap().clone();
    // A fresh windower (a later run) given the carried history: nothing is new.
    let mut w2 = Windower::new(cfg);
    w2.set_history(0, hist);
    out.clear();
    w2.push(&later[0], 0);
    w2.finish(&names, &mut out);
    assert_eq!(col(&out[0], Feature::NewPortsOut), 0.0);
    assert_eq!(col(&out[0], Feature::NewPeers), 0.0);
}

#[test]
fn state_survives_a_checkpoint_round_trip() {
    let cfg = WindowConfig::default();
    let names = names(2);
    let recs: Vec<FlowRecord> = (0..50u64)
        .map(|i| record(&spec((i % 2) as u32, i * 20)))
        .collect();
    let mut a = Windower::new(cfg.clone());
    let mut wm = Watermark::new(cfg.allowed_lateness_secs);
    let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
    for r in &recs[..25] {
        a.close_until(wm.get(), &names, &mut out_a);
        a.push(r, wm.get());
        wm.observe(r);
    }
    let json = serde_json::to_string(&a).unwrap();
    let mut b: Windower = serde_json::from_str(&json).unwrap();
    out_b.extend(out_a.iter().cloned());
    let mut wm_b = wm.clone();
    for r in &recs[25..] {
        a.close_until(wm.get(), &names, &mut out_a);
        a.push(r, wm.get());
        wm.observe(r);
        b.close_until(wm_b.get(), &names, &mut out_b);
        b.push(r, wm_b.get());
        wm_b.observe(r);
    }
    a.finish(&names, &mut out_a);
    b.finish(&names, &mut out_b);
    assert_eq!(out_a, out_b);
}

#[test]
fn hostile_input_stays_bounded() {
    // One ENI, one window: 60,000 records to random ports and random peers.
    let cfg = WindowConfig::default();
    let names = names(1);
    let mut w = Windower::new(cfg);
    let mut x: u64 = 0x1234_5678;
    for i in 0..60_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut s = spec(0, i % 290);
        s.peer = (x >> 8) as u32 & 0x00ff_ffff;
        s.dstport = (x >> 40) as u16;
        s.srcport = 40000;
        let mut r = record(&s);
        r.dstaddr = Some(v4((x >> 16) as u32));
        w.push(&r, 0);
    }
    let open = w.approx_heap_bytes();
    assert!(open < 600 * 1024, "open-window state {open} bytes");
    let mut out = Vec::new();
    w.finish(&names, &mut out);
    let f = &out[0];
    let fan = col(f, Feature::FanOut);
    assert!(
        (fan - 60_000.0).abs() / 60_000.0 < 0.05,
        "fan_out estimate {fan}"
    );
    assert!(col(f, Feature::DstPortsOut) > 35_000.0);
    assert!(col(f, Feature::NewPeers) > 50_000.0);
    let hist = w.history(0).unwrap();
    let bytes = hist.heap_bytes();
    assert!(bytes <= 34 * 1024, "history {bytes} bytes");
    println!("hostile ENI: open window ≈ {open} B, history {bytes} B");
}

#[test]
fn shard_of_is_stable_and_in_range() {
    assert_eq!(shard_of("eni-0abc", 1), 0);
    assert_eq!(shard_of("eni-0abc", 0), 0);
    let s = shard_of("eni-0123456789abcdef0", 8);
    assert!(s < 8);
    // FNV-1a is fixed: the same name always lands on the same shard.
    assert_eq!(s, shard_of("eni-0123456789abcdef0", 8));
    let spread: BTreeSet<usize> = (0..64)
        .map(|i| shard_of(&format!("eni-{i:017x}"), 4))
        .collect();
    assert_eq!(spread.len(), 4);
}

#[test]
fn invalid_config_is_rejected() {
    let bad = WindowConfig {
        window_secs: 0,
        ..WindowConfig::default()
    };
    assert!(bad.validate().is_err());
    let bad = WindowConfig {
        max_open_windows_per_eni: 0,
        ..WindowConfig::default()
    };
    assert!(bad.validate().is_err());
    assert!(serde_json::from_str::<WindowConfig>(r#"{"window_secs": 60, "bogus": 1}"#).is_err());
    let ok: WindowConfig = serde_json::from_str(r#"{"window_secs": 60}"#).unwrap();
    assert_eq!(ok.allowed_lateness_secs, 900);
}

#[test]
fn far_future_windows_are_refused_beyond_the_open_limit() {
    let cfg = WindowConfig {
        max_open_windows_per_eni: 3,
        ..WindowConfig::default()
    };
    let recs: Vec<FlowRecord> = (0..5u64).map(|i| record(&spec(0, i * 300))).collect();
    let mut w = Windower::new(cfg);
    let pushes: Vec<Push> = recs.iter().map(|r| w.push(r, 0)).collect();
    assert_eq!(pushes.iter().filter(|p| **p == Push::Accepted).count(), 3);
    assert_eq!(w.stats().too_far_ahead, 2);
}

#[test]
fn feature_names_cover_the_vector() {
    assert_eq!(FEATURE_NAMES.len(), NUM_FEATURES);
}

fn datasets() -> Option<std::path::PathBuf> {
    let p = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets"));
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("notice: {} absent, skipping", p.display());
        None
    }
}

#[test]
fn real_aws_files_sum_up_and_shard_identically() {
    let Some(root) = datasets() else { return };
    let dir = root.join("aws-vpc-real/ime-cloud-sec-analyst");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    let cfg = WindowConfig::default();
    let mut results = Vec::new();
    for shards in [1, 3] {
        let mut reader = flowvigil::flowlog::LogReader::open(&files, Default::default()).unwrap();
        let (outs, stats) =
            run_sharded(&mut reader, &cfg, shards, |_| Vec::new(), |_, _| Ok(())).unwrap();
        let mut all: Vec<WindowFeatures> = outs.into_iter().flatten().collect();
        let nm = reader.interner().clone();
        all.sort_by(|a, b| {
            a.window_start
                .cmp(&b.window_start)
                .then(nm.name(a.eni).cmp(nm.name(b.eni)))
        });
        let flows: f64 = all
            .iter()
            .map(|w| col(w, Feature::FlowsIn) + col(w, Feature::FlowsOut))
            .sum();
        // NOTES.md: 154 records, 153 REJECT OK + 1 NODATA; all inbound scans.
        assert_eq!(stats.window.records, 154);
        assert_eq!(stats.window.nodata, 1);
        assert_eq!(flows + stats.window.late as f64, 153.0);
        assert!(all
            .iter()
            .all(|w| col(w, Feature::RejectRatioIn) == 1.0 || col(w, Feature::FlowsIn) == 0.0));
        results.push(all);
    }
    assert_eq!(results[0], results[1]);
}

/// A v2 flow-log text with `n` records over 7 ENIs, then two records far behind the watermark.
fn v2_text(n: u64) -> String {
    let mut s = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    for i in 0..n {
        let eni = (i * 7919) % 7;
        let start = T0 + i * 3;
        s.push_str(&format!(
            "2 123456789012 eni-{eni:017x} 10.0.{eni}.10 198.51.100.{} {} {} 6 {} {} {start} {} {} OK\n",
            i % 50,
            40000 + i % 1000,
            [443, 22, 5432, 80][(i % 4) as usize],
            1 + i % 9,
            100 + i * 13 % 5000,
            start + 20,
            if i % 11 == 0 { "REJECT" } else { "ACCEPT" },
        ));
    }
    s.push_str(&format!(
        "2 123456789012 eni-{:017x} 10.0.0.10 198.51.100.1 40000 443 6 1 60 {T0} {} ACCEPT OK\n",
        0,
        T0 + 5
    ));
    s.push_str(&format!(
        "2 123456789012 eni-{:017x} 10.0.1.10 198.51.100.2 40000 443 6 1 60 {T0} {} ACCEPT OK\n",
        1,
        T0 + 5
    ));
    s
}

#[test]
fn the_features_command_writes_csv_late_records_and_the_same_rows_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("flows.log");
    std::fs::write(&input, v2_text(3000)).unwrap();
    let exe = env!("CARGO_BIN_EXE_flowvigil");
    let mut outputs = Vec::new();
    // 1: one thread; 2: the pipeline (its reading thread writes the side file); 3: parallel
    // parsing with one reading thread feeding the shards (the side file needs it).
    for threads in ["1", "2", "3"] {
        let out = dir.path().join(format!("features-{threads}.csv"));
        let late = dir.path().join(format!("late-{threads}.log"));
        let status = std::process::Command::new(exe)
            .args([
                "features",
                input.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .args(["--threads", threads, "--late-out", late.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let stderr = String::from_utf8_lossy(&status.stderr);
        assert!(stderr.contains("2 late"), "{stderr}");
        let csv = std::fs::read_to_string(&out).unwrap();
        let mut lines = csv.lines();
        let header = lines.next().unwrap();
        assert_eq!(
            header,
            format!("eni,window_start,{}", FEATURE_NAMES.join(","))
        );
        let rows: Vec<&str> = lines.collect();
        assert!(rows
            .iter()
            .all(|r| r.split(',').count() == 2 + NUM_FEATURES));
        // Rows are in (window start, ENI name) order.
        let keys: Vec<(u64, &str)> = rows
            .iter()
            .map(|r| {
                let mut f = r.split(',');
                let eni = f.next().unwrap();
                (f.next().unwrap().parse().unwrap(), eni)
            })
            .collect();
        assert!(keys.windows(2).all(|k| k[0] < k[1]));
        // Flows in the CSV + late records = every record of the input.
        let flows: f64 = rows
            .iter()
            .map(|r| {
                let f: Vec<f64> = r.split(',').skip(2).map(|x| x.parse().unwrap()).collect();
                f[Feature::FlowsOut as usize] + f[Feature::FlowsIn as usize]
            })
            .sum();
        assert_eq!(flows, 3000.0);
        // The side file is flow-log text that flowvigil reads back: the two late records.
        let mut reader =
            flowvigil::flowlog::LogReader::open(std::slice::from_ref(&late), Default::default())
                .unwrap();
        let mut rec = FlowRecord::default();
        let mut n = 0;
        while reader.next_record(&mut rec).unwrap() {
            assert_eq!(rec.start, Some(T0));
            n += 1;
        }
        assert_eq!(n, 2);
        outputs.push(csv);
    }
    assert_eq!(
        outputs[0], outputs[1],
        "--threads 2 must give the rows of --threads 1"
    );
    assert_eq!(
        outputs[0], outputs[2],
        "--threads 3 must give the rows of --threads 1"
    );
    let late = |t: &str| std::fs::read(dir.path().join(format!("late-{t}.log"))).unwrap();
    assert_eq!(
        late("1"),
        late("2"),
        "the same late side file on two threads"
    );
}

/// One ENI-window of egress pairs: `(internal, dstport, flows, bytes per flow)`.
fn pair_window(pairs: &[(bool, u16, u64, u64)]) -> WindowFeatures {
    let mut recs = Vec::new();
    for (i, &(internal, port, flows, bytes)) in pairs.iter().enumerate() {
        let mut s = spec(0, 0);
        s.peer = i as u32 + 1;
        s.public = !internal;
        s.dstport = port;
        s.bytes = bytes;
        for f in 0..flows {
            s.offset = f;
            recs.push(record(&s));
        }
    }
    let (ws, _, _) = run(recs, 1, &WindowConfig::default(), 1);
    assert_eq!(ws.len(), 1);
    ws.into_iter().next().unwrap()
}

#[test]
fn busy_internal_peers_leave_room_for_an_external_pair() {
    // A NAT-gateway-like window: 40 busy internal pairs and one quiet external beacon (one
    // small record). Before the external reserve, the 16 rows all went to internal pairs.
    let mut pairs: Vec<(bool, u16, u64, u64)> =
        (0..40).map(|i| (true, 443, 5, 50_000 + i)).collect();
    pairs.push((false, 8443, 1, 120));
    let w = pair_window(&pairs);
    let rows = &w.evidence.peers_out;
    assert_eq!(rows.len(), MAX_PEER_STATS);
    let ext: Vec<_> = rows.iter().filter(|p| p.external).collect();
    assert_eq!(ext.len(), 1, "{rows:?}");
    assert_eq!((ext[0].port, ext[0].flows, ext[0].bytes), (8443, 1, 120));
    // The other 15 rows follow the usual rule: the 8 busiest by bytes (i = 32..40), then by
    // records (all tie at 5, so by address: i = 0..7).
    let mut internal: Vec<u64> = rows
        .iter()
        .filter(|p| !p.external)
        .map(|p| p.bytes)
        .collect();
    internal.sort_unstable();
    let expect: Vec<u64> = (0..7).chain(32..40).map(|i| 5 * (50_000 + i)).collect();
    assert_eq!(internal, expect);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever the mix, the egress rows stay bounded, hold the busiest pair by bytes and by
    /// records, and keep up to half of the rows for external pairs when there are that many.
    #[test]
    fn peer_rows_reserve_room_for_external_pairs(
        pairs in prop::collection::vec((any::<bool>(), 1u16..4, 1u64..6, 40u64..5_000), 1..60)
    ) {
        let w = pair_window(&pairs);
        let rows = &w.evidence.peers_out;
        // Pairs are distinct: each gets its own peer address.
        prop_assert_eq!(rows.len(), pairs.len().min(MAX_PEER_STATS));
        let n_ext = pairs.iter().filter(|p| !p.0).count();
        let ext = rows.iter().filter(|p| p.external).count();
        prop_assert!(ext >= n_ext.min(MAX_PEER_STATS / 2), "{} external of {}", ext, n_ext);
        let max_bytes = pairs.iter().map(|p| p.2 * p.3).max().unwrap_or(0);
        let max_flows = pairs.iter().map(|p| p.2).max().unwrap_or(0) as u32;
        prop_assert!(rows.iter().any(|p| p.bytes == max_bytes));
        prop_assert!(rows.iter().any(|p| p.flows == max_flows));
    }
}
