//! Closing's fast paths against the plain computations they replace: the one-walk peer scan
//! (and its draining form) against `PeerTable::iter` with the figures summed and the keys
//! sorted, and the port table's plain loops against its iterators.

use flowvigil::features::peers::{PeerScan, PeerTable, PeerVal, PEER_IN, PEER_OUT, PEER_PRIVATE};
use flowvigil::features::ports::WindowPorts;
use flowvigil::features::WATCHED_PORTS;
use proptest::prelude::*;

/// The plain computation: every peer by `iter`, counted, keys sorted.
fn plain(t: &PeerTable) -> (PeerScan, Vec<u64>) {
    let mut s = PeerScan::default();
    let mut keys = Vec::new();
    for (k, p) in t.iter() {
        s.out += usize::from(p.flags & PEER_OUT != 0);
        s.inbound += usize::from(p.flags & PEER_IN != 0);
        s.private += usize::from(p.flags & PEER_PRIVATE != 0);
        s.top_out_bytes = s.top_out_bytes.max(p.out_bytes);
        keys.push(k);
    }
    keys.sort_unstable();
    (s, keys)
}

/// A table holding `peers` (first occurrence of a key wins), after `before` were held and
/// cleared (a pooled table: larger than its peers need).
fn table(before: &[u64], peers: &[(u64, u64, u8)]) -> PeerTable {
    let mut t = PeerTable::default();
    for &k in before {
        if t.get(k).is_none() {
            t.insert_new(k, PeerVal::default());
        }
    }
    t.clear();
    for &(k, bytes, flags) in peers {
        if t.get(k).is_none() {
            t.insert_new(
                k,
                PeerVal {
                    out_bytes: bytes,
                    flags: flags & 7,
                },
            );
        }
    }
    t
}

/// Keys: any, or clustered in a narrow range (one home slot region, so that probing leaves
/// them far from sorted and the walk's sorting gives up and sorts), or 0.
fn key() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0u64..64).prop_map(|x| 0x8000_0000_0000_0000 + x),
        (0u64..64).prop_map(|x| u64::MAX - x),
        Just(0u64),
    ]
}

fn check(t: &PeerTable) -> Result<(), TestCaseError> {
    let (want, want_keys) = plain(t);
    // A used buffer, to check it is cleared first.
    let mut keys = vec![7u64; 5];
    prop_assert_eq!(t.scan_for_close(&mut keys), want);
    prop_assert_eq!(&keys, &want_keys);
    let mut drained = t.clone();
    let mut keys2 = Vec::new();
    prop_assert_eq!(drained.drain_for_close(&mut keys2), want);
    prop_assert_eq!(&keys2, &want_keys);
    // Drained is cleared: the same table as `clear` leaves (the allocation kept).
    let mut cleared = t.clone();
    cleared.clear();
    prop_assert_eq!(&drained, &cleared);
    prop_assert_eq!(drained.len(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn peer_scan_equals_plain(
        before in proptest::collection::vec(any::<u64>(), 0..300),
        peers in proptest::collection::vec((key(), any::<u64>(), any::<u8>()), 0..400),
    ) {
        check(&table(&before, &peers))?;
    }

    /// A table whose stored count is off (from a checkpoint): the walk still lists every key.
    #[test]
    fn peer_scan_with_wrong_count_equals_plain(
        peers in proptest::collection::vec((key(), any::<u64>(), any::<u8>()), 1..200),
        shrink in 0usize..200,
    ) {
        let t = table(&[], &peers);
        let mut v: serde_json::Value = serde_json::to_value(&t).unwrap();
        let n = v["len"].as_u64().unwrap();
        v["len"] = serde_json::json!(n.saturating_sub(shrink as u64));
        let loaded: PeerTable = serde_json::from_value(v).unwrap();
        let (want, want_keys) = plain(&loaded);
        let mut keys = Vec::new();
        prop_assert_eq!(loaded.scan_for_close(&mut keys), want);
        prop_assert_eq!(&keys, &want_keys);
        let mut drained = loaded.clone();
        let mut keys2 = Vec::new();
        prop_assert_eq!(drained.drain_for_close(&mut keys2), want);
        prop_assert_eq!(&keys2, &want_keys);
    }

    #[test]
    fn port_loops_equal_iterators(
        recs in proptest::collection::vec((0u16..1500, 0usize..2), 0..1500),
        wide in proptest::collection::vec((any::<u16>(), 0usize..2), 0..800),
        reuse in any::<bool>(),
    ) {
        let mut p = WindowPorts::default();
        if reuse {
            for &(port, d) in &wide {
                p.add(port, d);
            }
            p.clear();
        }
        for &(port, d) in recs.iter().chain(&wide) {
            let port = if port % 7 == 0 { WATCHED_PORTS[usize::from(port) % 16] } else { port };
            p.add(port, d);
        }
        let mut got = Vec::new();
        p.for_each_port(|q, d| got.push((q, d)));
        let want: Vec<(u16, usize)> = p.ports_both().collect();
        prop_assert_eq!(got, want);
        let mut rows = Vec::new();
        p.for_each_egress_row(|f| rows.push(f));
        let want_rows: Vec<u32> = p.row_refs().filter(|r| r.dir == 0).map(|r| r.flows).collect();
        prop_assert_eq!(rows, want_rows);
    }
}
