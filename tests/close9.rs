//! Session 9's closing paths against plain computations: the peer table at its higher load
//! (grown past three quarters full) against a map, its draining walk by occupancy masks (tables
//! of several 64-slot groups, the key 0, clustered keys) against `iter`, and the port table's
//! masked walk (ports and egress rows in one pass) against its iterators.

use std::collections::BTreeMap;

use flowvigil::features::peers::{PeerScan, PeerTable, PeerVal, PEER_IN, PEER_OUT, PEER_PRIVATE};
use flowvigil::features::ports::WindowPorts;
use proptest::prelude::*;

/// Keys: any, clustered in one home region (long probe runs, keys far from sorted in the
/// walk), near the top (probes wrap around the table's end), or 0.
fn key() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0u64..96).prop_map(|x| 0x4000_0000_0000_0000 + x),
        (0u64..96).prop_map(|x| u64::MAX - x),
        Just(0u64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Records applied the way `WindowAcc::add` does (one probe for lookup and insert) give the
    /// same peers as a map, and draining gives the map's figures and sorted keys, then an
    /// empty table that works again.
    #[test]
    fn table_at_three_quarters_equals_map(
        rounds in proptest::collection::vec(
            proptest::collection::vec((key(), 0u64..1_000, 0u8..8), 0..300), 1..4),
    ) {
        let mut t = PeerTable::default();
        let mut keys = Vec::new();
        for recs in &rounds {
            let mut want: BTreeMap<u64, PeerVal> = BTreeMap::new();
            for &(k, bytes, flags) in recs {
                match t.get_mut_or_vacant(k) {
                    Ok(v) => {
                        v.out_bytes = v.out_bytes.saturating_add(bytes);
                        v.flags |= flags;
                    }
                    Err(vacant) => t.insert_vacant(
                        vacant,
                        k,
                        PeerVal {
                            out_bytes: bytes,
                            flags,
                        },
                    ),
                }
                let e = want.entry(k).or_default();
                e.out_bytes = e.out_bytes.saturating_add(bytes);
                e.flags |= flags;
            }
            prop_assert_eq!(t.len(), want.len());
            for (k, v) in &want {
                prop_assert_eq!(t.get(*k), Some(v));
            }
            let mut s = PeerScan::default();
            for v in want.values() {
                s.out += usize::from(v.flags & PEER_OUT != 0);
                s.inbound += usize::from(v.flags & PEER_IN != 0);
                s.private += usize::from(v.flags & PEER_PRIVATE != 0);
                s.top_out_bytes = s.top_out_bytes.max(v.out_bytes);
            }
            prop_assert_eq!(t.drain_for_close(&mut keys), s);
            let want_keys: Vec<u64> = want.keys().copied().collect();
            prop_assert_eq!(&keys, &want_keys);
            prop_assert_eq!(t.len(), 0);
            prop_assert_eq!(t.iter().count(), 0);
        }
    }

    /// One masked walk over the port table lists the same ports (in order) as `ports_both`
    /// and the same egress rows (in order) as `row_refs`, on tables of one or many 64-slot
    /// groups, fresh or reused.
    #[test]
    fn port_walk_equals_iterators(
        recs in proptest::collection::vec((0u16..3000, 0usize..2), 0..2000),
        reuse in proptest::collection::vec((any::<u16>(), 0usize..2), 0..600),
    ) {
        let mut p = WindowPorts::default();
        for &(port, d) in &reuse {
            p.add(port, d);
        }
        p.clear();
        for &(port, d) in &recs {
            p.add(port, d);
        }
        let mut ports = Vec::new();
        let mut rows = Vec::new();
        p.for_each_port_and_egress_row(|q, d| ports.push((q, d)), |f| rows.push(f));
        let want: Vec<(u16, usize)> = p.ports_both().collect();
        prop_assert_eq!(ports, want);
        let want_rows: Vec<u32> = p.row_refs().filter(|r| r.dir == 0).map(|r| r.flows).collect();
        prop_assert_eq!(rows, want_rows);
    }
}
