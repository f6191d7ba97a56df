//! Property tests of the window stage's fast paths (session 8) against the plain ones:
//!
//! - the own-address learner's pair update (`AddrLearner::observe_pair`: slot 0 compared first,
//!   the one-off-peers decrement written directly) against two single updates, comparing the
//!   whole learner state (slots, counts, serialized form) after every pair;
//! - the grouped window loop (`ShardDriver::feed_block`: padded run order, the run's cached
//!   window and its end for the lateness test, the newest open window tried first) against one
//!   record at a time (`ShardDriver::feed`, which divides for every record and searches the
//!   open windows), with window starts that jump between windows inside a run, windows closing
//!   mid-block, late, no-data, skip-data, undirected and too-far-ahead records, and starts near
//!   2^32 and near 2^64 (where the window end saturates).

mod common;

use std::net::IpAddr;

use common::{names, v4};
use flowvigil::features::history::AddrLearner;
use flowvigil::flowlog::{EniId, FlowRecord};
use proptest::prelude::*;

/// Addresses for the learner: `0` is 0.0.0.0 (the value of an unused slot), `1` the "own"
/// address, the others remotes; a few IPv6 ones send the pair to the plain path.
fn addr(i: u32) -> IpAddr {
    match i {
        0 => v4(0),
        1..=9 => v4(0x0a00_0000 + i),
        _ => IpAddr::V6(std::net::Ipv6Addr::from(0xfd00_u128 << 112 | u128::from(i))),
    }
}

/// A learner from `(address, count)` slots, through its serialized form (as a model file
/// holds it: counts may be zero).
fn learner(slots: &[(u32, u64)]) -> AddrLearner {
    let mut seen: Vec<(IpAddr, u64)> = Vec::new();
    for &(a, c) in slots.iter().take(4) {
        if !seen.iter().any(|s| s.0 == addr(a)) {
            seen.push((addr(a), c));
        }
    }
    let json = serde_json::json!({ "slots": seen });
    serde_json::from_value(json).expect("valid learner slots")
}

fn state(l: &AddrLearner) -> (String, Option<u32>, Option<IpAddr>) {
    (
        serde_json::to_string(l).expect("serializes"),
        l.first_v4(),
        l.leader(),
    )
}

/// One end of most pairs is the own address (slot 0 once learned), on either side; the
/// other a remote from a small set, sometimes the own address itself or 0.0.0.0.
fn pair_strategy(v6: bool) -> impl Strategy<Value = (u32, u32)> {
    let remote = if v6 { 0u32..12 } else { 0u32..10 };
    (any::<u8>(), remote.clone(), remote).prop_map(|(k, a, b)| match k % 4 {
        0 => (1, a),
        1 => (a, 1),
        2 => (1, 1),
        _ => (a, b),
    })
}

/// `observe_pair` against `observe_ref` of both ends then `count_ref` of both, from the
/// learner `start`, over `stream`: the same counts and state after every pair.
fn pair_equals_two_updates(
    start: &[(u32, u64)],
    stream: &[(u32, u32)],
) -> Result<(), TestCaseError> {
    let mut fast = learner(start);
    let mut plain = fast.clone();
    for &(x, y) in stream {
        let (src, dst) = (addr(x), addr(y));
        let got = fast.observe_pair(&src, &dst);
        plain.observe_ref(&src);
        plain.observe_ref(&dst);
        prop_assert_eq!(got, (plain.count_ref(&src), plain.count_ref(&dst)));
        prop_assert_eq!(state(&fast), state(&plain));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `observe_pair` (slot-0 shortcut, direct one-off decrement) equals `observe_ref` of both
    /// ends then `count_ref` of both, with the same learner state after every pair.
    #[test]
    fn learner_pair_equals_two_single_updates(
        start in proptest::collection::vec((0u32..10, 0u64..4), 0..=4),
        stream in proptest::collection::vec(pair_strategy(false), 0..400),
    ) {
        pair_equals_two_updates(&start, &stream)?;
    }

    /// The same with IPv6 addresses mixed in (the plain path, and IPv4 pairs after IPv6 slots
    /// have left again).
    #[test]
    fn learner_pair_equals_two_single_updates_mixed(
        start in proptest::collection::vec((0u32..12, 0u64..4), 0..=4),
        stream in proptest::collection::vec(pair_strategy(true), 0..400),
    ) {
        pair_equals_two_updates(&start, &stream)?;
    }
}

#[derive(Clone, Debug)]
struct Rec {
    eni: EniId,
    /// Seconds after the base.
    offset: u64,
    span: u64,
    peer: u32,
    egress: bool,
    with_direction: bool,
    /// 0 skip data, 1 no data, 2 no addresses (undirected without `flow-direction`), else OK.
    status: u8,
    bytes: u64,
}

fn rec_strategy(enis: u32, horizon: u64) -> impl Strategy<Value = Rec> {
    (
        0..enis,
        0..horizon,
        0u64..40,
        0u32..30,
        any::<bool>(),
        any::<bool>(),
        0u8..24,
        any::<u64>(),
    )
        .prop_map(
            |(eni, offset, span, peer, egress, with_direction, status, bytes)| Rec {
                eni,
                offset,
                span,
                peer,
                egress,
                with_direction,
                status,
                bytes,
            },
        )
}

fn record(r: &Rec, base: u64) -> FlowRecord {
    let me = v4(0x0a00_000a | (r.eni << 8));
    let peer = v4(0xcb00_7100 + r.peer);
    let (src, dst) = if r.egress { (me, peer) } else { (peer, me) };
    let start = base.saturating_add(r.offset);
    common::flow_record(&common::Flow {
        eni: r.eni,
        src,
        dst,
        srcport: 40_000 + r.peer as u16,
        dstport: 443,
        bytes: r.bytes,
        start,
        end: start.saturating_add(r.span),
        reject: false,
        egress: r.with_direction.then_some(r.egress),
        // 3 would be ICMP there: keep this test's records TCP.
        status: if r.status == 3 { 4 } else { r.status },
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Blocks grouped by ENI (the run's cached window, its end as the lateness bound, the
    /// newest window first, the padded order) give exactly the windows, counters, late counts
    /// and histories of one record at a time, for any block boundaries.
    #[test]
    fn grouped_runs_equal_record_at_a_time(
        recs in proptest::collection::vec(rec_strategy(3, 240), 1..300),
        window_secs in prop_oneof![Just(1u32), Just(7), Just(30), Just(60)],
        lateness in prop_oneof![Just(0u32), Just(20), Just(90)],
        max_open in 1u32..4,
        base in prop_oneof![
            Just(1_700_000_100u64),
            Just(u64::from(u32::MAX) - 120),
            Just(u64::MAX - 150),
        ],
        cuts in proptest::collection::vec(1usize..90, 1..6),
        evidence in any::<bool>(),
    ) {
        let cfg = common::config(window_secs, lateness, max_open, evidence);
        let nm = names(3);
        let recs: Vec<FlowRecord> = recs.iter().map(|r| record(r, base)).collect();
        let (mut one, mut grouped) = common::one_and_grouped(&recs, &cfg, &cuts, &nm);
        common::assert_same_run(&mut one, &mut grouped, &nm, 3)?;
    }
}
