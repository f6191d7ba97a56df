//! Property tests of the window loop's prefetch shortcuts (session 11, "ahead11"):
//!
//! - the record prefetched `PREFETCH_AHEAD` places on uses the run's known ENI state when it
//!   belongs to the same run (no id lookup), and the peer-table prefetch no longer tests for
//!   the key 0 or an empty table. Both are hints: the grouped window loop
//!   (`ShardDriver::feed_block`) must give exactly what one record at a time gives
//!   (`ShardDriver::feed`, which prefetches nothing), with long runs of one ENI (so that the
//!   prefetched record is in the run and, at the run's end, in the next one), records whose
//!   direction guess (the learner's first slot) is wrong, windows that close inside a run,
//!   no-data and skip-data records, and fresh windows with empty tables;
//! - `Windower::prefetch` changes no state, whatever the record and the windower hold.

mod common;

use common::{names, v4};
use flowvigil::features::Observation;
use flowvigil::flowlog::{EniId, FlowRecord};
use flowvigil::window::{WindowConfig, Windower};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Rec {
    eni: EniId,
    /// Seconds after the base.
    offset: u64,
    peer: u32,
    egress: bool,
    with_direction: bool,
    /// 0 the ENI's usual address, 1 a second local address (the learner's guess misses),
    /// 2 neither end local (remote to remote), 3 the peer 0.0.0.0.
    ends: u8,
    /// 0 skip data, 1 no data, 2 no addresses, 3 no ports (ICMP), else OK.
    status: u8,
    dstport: u16,
    bytes: u64,
}

/// Records in runs: `runs` of (ENI, length) expand to that many records of the ENI in a row
/// (the grouping keeps each block's records of one ENI together anyway; long runs make the
/// prefetched record fall inside the run).
fn recs_strategy(enis: u32, horizon: u64) -> impl Strategy<Value = Vec<Rec>> {
    let one = (
        0..horizon,
        0u32..40,
        any::<bool>(),
        prop_oneof![4 => Just(false), 1 => Just(true)],
        prop_oneof![6 => Just(0u8), 1 => Just(1), 1 => Just(2), 1 => Just(3)],
        0u8..20,
        prop_oneof![Just(443u16), Just(53), Just(40_001), 1u16..2000],
        any::<u64>(),
    );
    proptest::collection::vec((0..enis, proptest::collection::vec(one, 1..40)), 1..12).prop_map(
        |runs| {
            let mut out = Vec::new();
            for (eni, rs) in runs {
                for (offset, peer, egress, with_direction, ends, status, dstport, bytes) in rs {
                    out.push(Rec {
                        eni,
                        offset,
                        peer,
                        egress,
                        with_direction,
                        ends,
                        status,
                        dstport,
                        bytes,
                    });
                }
            }
            out
        },
    )
}

fn record(r: &Rec, base: u64) -> FlowRecord {
    let me = v4(0x0a00_000a | (r.eni << 8));
    let peer = v4(0xcb00_7100 + r.peer);
    let (local, remote) = match r.ends {
        0 => (me, peer),
        1 => (v4(0x0a00_00fa | (r.eni << 8)), peer),
        2 => (v4(0xcb00_7200 + r.peer), peer),
        _ => (me, v4(0)),
    };
    let (src, dst) = if r.egress {
        (local, remote)
    } else {
        (remote, local)
    };
    let start = base.saturating_add(r.offset);
    common::flow_record(&common::Flow {
        eni: r.eni,
        src,
        dst,
        srcport: 40_000 + r.peer as u16,
        dstport: r.dstport,
        bytes: r.bytes,
        start,
        end: start.saturating_add(r.bytes % 50),
        reject: r.bytes.is_multiple_of(5),
        egress: r.with_direction.then_some(r.egress),
        status: r.status,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The grouped window loop with its prefetch shortcuts equals one record at a time: the
    /// same windows, counters, late counts and histories, for any block boundaries.
    #[test]
    fn prefetching_loop_equals_record_at_a_time(
        recs in recs_strategy(4, 200),
        window_secs in prop_oneof![Just(7u32), Just(30), Just(60)],
        lateness in prop_oneof![Just(0u32), Just(20), Just(90)],
        max_open in 1u32..4,
        cuts in proptest::collection::vec(1usize..120, 1..6),
        evidence in any::<bool>(),
    ) {
        let base = 1_700_000_100u64;
        let cfg = common::config(window_secs, lateness, max_open, evidence);
        let nm = names(4);
        let recs: Vec<FlowRecord> = recs.iter().map(|r| record(r, base)).collect();
        let (mut one, mut grouped) = common::one_and_grouped(&recs, &cfg, &cuts, &nm);
        common::assert_same_run(&mut one, &mut grouped, &nm, 4)?;
    }

    /// `Windower::prefetch` is a hint: the windower's serialized state is the same after it,
    /// for records of known and unknown ENIs, in open windows or not (fresh windows with
    /// empty tables included).
    #[test]
    fn prefetch_changes_no_state(
        recs in recs_strategy(3, 120),
        probes in recs_strategy(5, 240),
    ) {
        let base = 1_700_000_100u64;
        let cfg = WindowConfig {
            window_secs: 30,
            allowed_lateness_secs: 60,
            max_open_windows_per_eni: 3,
            evidence: true,
        };
        let mut w = Windower::new(cfg);
        for r in &recs {
            if let Ok(obs) = Observation::from_record(&record(r, base)) {
                w.push_obs(&obs, 0);
            }
        }
        let before = serde_json::to_string(&w).expect("serializes");
        for r in &probes {
            if let Ok(obs) = Observation::from_record(&record(r, base)) {
                w.prefetch(&obs, obs.eni);
            }
        }
        prop_assert_eq!(before, serde_json::to_string(&w).expect("serializes"));
    }
}
