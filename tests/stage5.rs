//! The window stage's session-5 fast paths against the plain ones: an observation written in
//! place (`Observation::fill_from`) against `Observation::from_record`, and the peer table's
//! one-probe insert (`get_mut_or_vacant` + `insert_vacant`) against `get_mut` + `insert_new`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use flowvigil::features::peers::{PeerTable, PeerVal};
use flowvigil::features::Observation;
use flowvigil::flowlog::{Action, FlowDirection, FlowRecord, LogStatus, TcpFlags};
use proptest::prelude::*;

fn addr() -> impl Strategy<Value = Option<IpAddr>> {
    prop_oneof![
        Just(None),
        any::<u32>().prop_map(|a| Some(IpAddr::V4(Ipv4Addr::from(a)))),
        any::<u128>().prop_map(|a| Some(IpAddr::V6(Ipv6Addr::from(a)))),
    ]
}

fn record() -> impl Strategy<Value = FlowRecord> {
    (
        (
            proptest::option::of(0u32..1000),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
            addr(),
            addr(),
            addr(),
            addr(),
        ),
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(prop_oneof![Just(Action::Accept), Just(Action::Reject)]),
            proptest::option::of(prop_oneof![
                Just(LogStatus::Ok),
                Just(LogStatus::NoData),
                Just(LogStatus::SkipData)
            ]),
            proptest::option::of(any::<u16>()),
            proptest::option::of(prop_oneof![
                Just(FlowDirection::Ingress),
                Just(FlowDirection::Egress)
            ]),
        ),
    )
        .prop_map(
            |(
                (eni, start, end, src, dst, psrc, pdst),
                (sp, dp, proto, pk, by, act, st, fl, dir),
            )| {
                FlowRecord {
                    eni,
                    start,
                    end,
                    srcaddr: src,
                    dstaddr: dst,
                    pkt_srcaddr: psrc,
                    pkt_dstaddr: pdst,
                    srcport: sp,
                    dstport: dp,
                    protocol: proto,
                    packets: pk,
                    bytes: by,
                    action: act,
                    log_status: st,
                    tcp_flags: fl.map(TcpFlags),
                    flow_direction: dir,
                    ..FlowRecord::default()
                }
            },
        )
}

proptest! {
    /// Filling a reused slot gives exactly `from_record`; a record that cannot become an
    /// observation leaves the slot as it was and reports the same reason.
    #[test]
    fn fill_from_is_from_record(recs in proptest::collection::vec(record(), 1..40)) {
        let mut slot = Observation::EMPTY;
        for r in &recs {
            let before = slot;
            match (Observation::from_record(r), slot.fill_from(r)) {
                (Ok(want), Ok(())) => prop_assert_eq!(slot, want),
                (Err(a), Err(b)) => {
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(slot, before);
                }
                (a, b) => prop_assert!(false, "from_record {:?}, fill_from {:?}", a, b),
            }
        }
    }

    /// The one-probe lookup-or-insert builds the same table as `get_mut` + `insert_new`
    /// (slot for slot: the serialized forms are equal), key 0 included.
    #[test]
    fn one_probe_insert_is_insert_new(
        keys in proptest::collection::vec(
            prop_oneof![Just(0u64), 1u64..64, any::<u64>()],
            0..1500,
        ),
    ) {
        let mut fast = PeerTable::default();
        let mut plain = PeerTable::default();
        for (n, &k) in keys.iter().enumerate() {
            let val = PeerVal { out_bytes: n as u64, flags: (n % 8) as u8 };
            match fast.get_mut_or_vacant(k) {
                Ok(v) => v.out_bytes += 1,
                Err(vacant) => fast.insert_vacant(vacant, k, val),
            }
            match plain.get_mut(k) {
                Some(v) => v.out_bytes += 1,
                None => plain.insert_new(k, val),
            }
            prop_assert_eq!(fast.len(), plain.len());
        }
        prop_assert_eq!(&fast, &plain);
        let a: Vec<(u64, PeerVal)> = fast.iter().map(|(k, v)| (k, *v)).collect();
        let b: Vec<(u64, PeerVal)> = plain.iter().map(|(k, v)| (k, *v)).collect();
        prop_assert_eq!(a, b);
    }
}
