//! Tests of the converters (`flowvigil::convert`, `flowvigil convert`): Zeek conn.log and the
//! DARPA 1998 edge stream, on small hand-written inputs (each case says what it checks) and on
//! the shared real datasets, whose counts must match their NOTES.md (skipped with a notice when
//! `../shared/datasets` is absent). A new converter test goes here; the generator's go in
//! `tests/gen.rs`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use flowvigil::convert::{darpa, zeek, Cidr, ConvertSummary};
use flowvigil::flowlog::{Action, FlowDirection, FlowRecord, LogReader, NullSink, ReadOptions};
use flowvigil::labels::{read_labels, Label};

fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets"));
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "notice: {} is absent; skipping the real-dataset test",
            p.display()
        );
        None
    }
}

/// Every record under `out/logs` with its ENI name; asserts the reader finds zero bad lines.
fn read_logs(out: &Path) -> Vec<(String, FlowRecord)> {
    let mut r = LogReader::open(&[out.join("logs")], ReadOptions::default())
        .unwrap()
        .with_sink(Box::new(NullSink));
    let mut rec = FlowRecord::default();
    let mut v = Vec::new();
    while r.next_record(&mut rec).unwrap() {
        v.push((r.interner().name(rec.eni.unwrap()).to_string(), rec.clone()));
    }
    assert_eq!(r.summary().bad_lines, 0);
    v
}

fn labels(out: &Path) -> Vec<Label> {
    read_labels(std::fs::read(out.join("labels.csv")).unwrap().as_slice()).unwrap()
}

const H: &str = "eni-000000000c0a801c3"; // 192.168.1.195
const GW: &str = "eni-000000000c0a80101"; // 192.168.1.1

/// IoT-23 layout, including its three-space defect before `tunnel_parents`' neighbours.
const ZEEK: &str = "#separator \\x09
#set_separator\t,
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents   label   detailed-label
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]   string   string
1545403848.98\tC1\t192.168.1.195\t41040\t185.244.25.235\t80\ttcp\thttp\t1.47\t149\t128252\tSF\t-\t-\t0\tShADad\t94\t5525\t96\t139044\t-   Benign   -
1545403850.55\tC2\t192.168.1.195\t41042\t185.244.25.235\t6667\ttcp\t-\t3.14\t0\t0\tS0\t-\t-\t0\tS\t3\t180\t0\t0\t-   Malicious   C&C
1545403900.00\tC3\t192.168.1.195\t41044\t185.244.25.235\t6667\ttcp\t-\t0.5\t0\t0\tREJ\t-\t-\t0\tSr\t1\t60\t1\t40\t-   Malicious   C&C
1545404500.00\tC4\t192.168.1.195\t5353\t192.168.1.1\t53\tudp\tdns\t0.01\t40\t80\tSF\t-\t-\t0\tDd\t1\t68\t1\t108\t-   Benign   -
1545404600.00\tC5\t8.8.8.8\t1\t9.9.9.9\t2\tudp\t-\t-\t-\t-\tS0\t-\t-\t0\tD\t1\t60\t0\t0\t-   Benign   -
1545404700.00\tC6\t192.168.1.195\tnotaport\t1.2.3.4\t23\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t60\t0\t0\t-   Malicious   PartOfAHorizontalPortScan
1545404800.00\tC7\t192.168.1.195\t8\t1.2.3.4\t0\ticmp\t-\t-\t-\t-\tOTH\t-\t-\t0\t-\t1\t84\t0\t0\t-   Malicious   PartOfAHorizontalPortScan
";

#[test]
fn zeek_rows_become_per_direction_records_and_merged_labels() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("conn.log");
    std::fs::write(&input, ZEEK).unwrap();
    let out = dir.path().join("out");
    let s: ConvertSummary = zeek::convert(&input, &out, &[]).unwrap();
    assert_eq!((s.rows, s.bad_rows, s.external_only_rows), (7, 1, 1));
    let bad = &s.bad_row_examples[0];
    assert_eq!(
        (bad.line, bad.column, bad.field.as_str()),
        (10, 4, "id.orig_p")
    );
    assert_eq!(s.hosts, 2);

    let recs = read_logs(&out);
    // C1: both directions at the host, IP-level bytes. C2: S0 without reply → REJECT, one
    // record. C3: REJ → REJECT, the RST reply logged too. C4: internal↔internal, 2 + 2. C7: ICMP.
    assert_eq!(recs.len(), 2 + 1 + 2 + 4 + 1);
    let c1: Vec<&FlowRecord> = recs
        .iter()
        .filter(|(_, r)| r.srcport == Some(41040) || r.dstport == Some(41040))
        .map(|(_, r)| r)
        .collect();
    assert_eq!(c1.len(), 2);
    assert_eq!(
        (c1[0].packets, c1[0].bytes, c1[0].flow_direction),
        (Some(94), Some(5525), Some(FlowDirection::Egress))
    );
    assert_eq!(
        (c1[1].packets, c1[1].bytes, c1[1].flow_direction),
        (Some(96), Some(139044), Some(FlowDirection::Ingress))
    );
    assert_eq!(
        (c1[0].start, c1[0].end),
        (Some(1545403848), Some(1545403850))
    );
    let c2 = recs.iter().find(|(_, r)| r.srcport == Some(41042)).unwrap();
    assert_eq!(c2.1.action, Some(Action::Reject));
    assert_eq!(
        recs.iter()
            .filter(|(_, r)| r.srcport == Some(41044) || r.dstport == Some(41044))
            .filter(|(_, r)| r.action == Some(Action::Reject))
            .count(),
        2
    );
    let at_gw = recs.iter().filter(|(n, _)| n == GW).count();
    assert_eq!(at_gw, 2);
    let icmp = recs.iter().find(|(_, r)| r.protocol == Some(1)).unwrap();
    assert_eq!((icmp.1.srcport, icmp.1.dstport), (Some(0), Some(0)));

    // Labels: the two C&C rows merge (50 s apart); the scan row with a bad port is skipped.
    let l = labels(&out);
    assert_eq!(l.len(), 2, "{l:?}");
    assert_eq!(
        (l[0].attack_type.as_str(), l[0].eni.as_str()),
        ("c_and_c", H)
    );
    assert_eq!((l[0].start, l[0].end), (1545403850, 1545403900 + 1));
    assert_eq!(l[0].victim, Some("185.244.25.235".parse().unwrap()));
    assert_eq!(l[1].attack_type, "part_of_a_horizontal_port_scan");
    assert_eq!(s.rows_per_label.get("c_and_c"), Some(&2));
    assert_eq!(s.rows_per_label.get("benign"), Some(&3));
}

#[test]
fn zeek_local_cidr_decides_what_is_internal() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("conn.log");
    std::fs::write(&input, ZEEK).unwrap();
    let out = dir.path().join("out");
    // Only 8.8.8.0/24 is "ours": the C5 row is now the only one logged (one record, no reply).
    let s = zeek::convert(&input, &out, &[Cidr::parse("8.8.8.0/24").unwrap()]).unwrap();
    assert_eq!(s.hosts, 1);
    assert_eq!(s.records, 1);
}

#[test]
fn zeek_without_fields_header_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.log");
    std::fs::write(&input, "1\t2\t3\n").unwrap();
    let err = zeek::convert(&input, &dir.path().join("o"), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("#fields"), "{err}");
}

/// Rows of one minute aggregate; labels merge across minutes within the gap and split beyond.
const DARPA: &str = "172.016.112.020,192.168.001.010,06/01/1998-07:55,-
172.016.112.020,192.168.001.010,06/01/1998-07:55,-
135.013.216.191,172.016.114.050,06/01/1998-08:00,neptune
135.013.216.191,172.016.114.050,06/01/1998-08:00,neptune
135.013.216.191,172.016.114.050,06/01/1998-08:00,neptune
135.013.216.191,172.016.114.050,06/01/1998-08:03,neptune
135.013.216.191,172.016.114.050,07/32/1998-08:04,neptune
135.013.216.191,172.016.114.050,06/01/1998-08:20,neptune
1.2.3.4,5.6.7.8,06/01/1998-08:21,-
172.016.112.020,192.168.1.10
";

#[test]
fn darpa_edges_aggregate_per_minute_and_bad_dates_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("d.csv");
    std::fs::write(&input, DARPA).unwrap();
    let out = dir.path().join("out");
    let s = darpa::convert(&input, &out).unwrap();
    assert_eq!((s.rows, s.bad_rows, s.external_only_rows), (10, 2, 1));
    let b = &s.bad_row_examples;
    assert_eq!(
        (b[0].line, b[0].column, b[0].field.as_str()),
        (7, 3, "timestamp")
    );
    assert!(b[0].what.contains("07/32/1998"), "{}", b[0].what);
    assert_eq!((b[1].line, b[1].column), (10, 3));
    assert_eq!(s.rows_per_label.get("neptune"), Some(&5));
    assert_eq!(s.rows_per_label.get("benign"), Some(&3));

    let recs = read_logs(&out);
    // 07:55: one aggregated edge seen at both internal ends; 08:00 (x3), 08:03, 08:20 at the victim.
    assert_eq!(recs.len(), 2 + 3);
    let first = &recs[0].1;
    assert_eq!(
        (first.packets, first.bytes, first.protocol),
        (Some(2), Some(120), Some(0))
    );
    assert_eq!(first.srcaddr, Some("172.16.112.20".parse().unwrap()));
    assert_eq!(first.end.unwrap() - first.start.unwrap(), 60);
    let flood = recs.iter().find(|(_, r)| r.packets == Some(3)).unwrap();
    assert_eq!(flood.1.flow_direction, Some(FlowDirection::Ingress));

    let l = labels(&out);
    assert_eq!(l.len(), 2, "{l:?}");
    let t0 = 896_688_000; // 06/01/1998-08:00 UTC
    assert_eq!((l[0].start, l[0].end), (t0, t0 + 4 * 60));
    assert_eq!((l[1].start, l[1].end), (t0 + 20 * 60, t0 + 21 * 60));
    assert_eq!(l[0].attacker, Some("135.13.216.191".parse().unwrap()));
    assert_eq!(l[0].eni, "eni-000000000ac107232");
}

#[test]
fn darpa_reads_a_zip_as_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("d.zip");
    {
        let f = std::fs::File::create(&zip_path).unwrap();
        let mut z = zip::ZipWriter::new(f);
        z.start_file(
            "darpa_original.csv",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        z.write_all(DARPA.as_bytes()).unwrap();
        z.finish().unwrap();
    }
    let s = darpa::convert(&zip_path, &dir.path().join("out")).unwrap();
    assert_eq!((s.rows, s.bad_rows), (10, 2));
}

#[test]
fn iot23_counts_match_its_notes() {
    let Some(d) = shared() else { return };
    let out = tempfile::tempdir().unwrap();
    let s = zeek::convert(&d.join("iot23-34-1/conn.log.labeled"), out.path(), &[]).unwrap();
    assert_eq!((s.rows, s.bad_rows), (23_145, 0));
    let want: HashMap<&str, u64> = [
        ("ddos", 14_394),
        ("c_and_c", 6_706),
        ("benign", 1_923),
        ("part_of_a_horizontal_port_scan", 122),
    ]
    .into();
    for (k, v) in &want {
        assert_eq!(s.rows_per_label.get(*k), Some(v), "{k}");
    }
    assert_eq!(s.rows_per_label.len(), 4);
    let recs = read_logs(out.path());
    assert_eq!(recs.len() as u64, s.records);
    assert!(recs
        .iter()
        .all(|(n, _)| n == H || n.starts_with("eni-000000000c0a801")));
    let l = labels(out.path());
    assert!(l.iter().all(|x| x.eni == H && x.start < x.end));
    let types: std::collections::HashSet<&str> = l.iter().map(|x| x.attack_type.as_str()).collect();
    assert_eq!(types.len(), 3);
}

fn darpa_zip() -> Option<PathBuf> {
    shared().map(|d| d.join("darpa98/darpa_original.zip"))
}

/// A streamed prefix: fast enough for every test run.
#[test]
fn darpa_prefix_converts_and_parses() {
    let Some(zip) = darpa_zip() else { return };
    let out = tempfile::tempdir().unwrap();
    let s = darpa::convert_prefix(&zip, out.path(), 200_000).unwrap();
    assert_eq!((s.rows, s.bad_rows), (200_000, 0));
    assert_eq!(s.rows_per_label.values().sum::<u64>(), 200_000);
    let recs = read_logs(out.path());
    assert_eq!(recs.len() as u64, s.records);
    assert!(recs.iter().all(|(_, r)| r.packets.unwrap() >= 1));
}

/// The whole 4.5 M-row stream: about 3 s in release, where it always runs; ignored in debug
/// builds (over 30 s), run it there with `cargo test --test convert -- --ignored`.
#[test]
#[cfg_attr(debug_assertions, ignore)]
fn darpa_full_counts_match_its_notes() {
    let Some(zip) = darpa_zip() else { return };
    let out = tempfile::tempdir().unwrap();
    let s = darpa::convert(&zip, out.path()).unwrap();
    assert_eq!((s.rows, s.bad_rows), (4_554_344, 10));
    assert!(s
        .bad_row_examples
        .iter()
        .all(|b| b.column == 3 && b.what.contains("07/32/1998")));
    let r = &s.rows_per_label;
    assert_eq!(r.get("benign"), Some(&1_817_135));
    // NOTES counts 2,737,209 attack rows; the ten bad-date rows are `httptunnel-e` attacks.
    let attacks: u64 = r
        .iter()
        .filter(|(k, _)| *k != "benign")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(attacks + s.bad_rows, 2_737_209);
    for (k, v) in [
        ("neptune", 2_142_533),
        ("smurf", 260_298),
        ("snmpgetattack", 152_681),
        ("satan", 51_062),
        ("portsweep", 14_195),
        ("ipsweep", 19_437),
        ("land", 44),
    ] {
        assert_eq!(r.get(k), Some(&v), "{k}");
    }
}

mod darpa_invariants {
    use super::*;
    use proptest::prelude::*;

    /// A random edge: internal (172.16.x.x) or external ends, a minute in a 3-day span, a label
    /// from a small set, and now and then an impossible date.
    fn edge() -> impl Strategy<Value = (bool, u8, bool, u8, u32, u8, bool)> {
        (
            any::<bool>(),
            0u8..6,
            any::<bool>(),
            0u8..6,
            0u32..3 * 1440,
            0u8..4,
            prop::bool::weighted(0.05),
        )
    }

    fn line(e: &(bool, u8, bool, u8, u32, u8, bool)) -> String {
        let host = |internal: bool, h: u8| {
            if internal {
                format!("172.016.000.{h:03}")
            } else {
                format!("200.000.000.{h:03}")
            }
        };
        let (d, m) = (1 + e.4 / 1440, e.4 % 1440);
        let date = if e.6 {
            "07/32/1998-00:00".to_string()
        } else {
            format!("06/{d:02}/1998-{:02}:{:02}", m / 60, m % 60)
        };
        let label = ["-", "-", "neptune", "portsweep"][usize::from(e.5)];
        format!("{},{},{date},{label}\n", host(e.0, e.1), host(e.2, e.3))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Packets add up to the rows, bad dates are counted, every labeled edge is inside a
        /// label of its type at each internal end, and labels do not depend on row order.
        #[test]
        fn counts_and_labels_hold(edges in prop::collection::vec(edge(), 1..120), seed in any::<u64>()) {
            let dir = tempfile::tempdir().unwrap();
            let text: String = edges.iter().map(line).collect();
            std::fs::write(dir.path().join("a.csv"), &text).unwrap();
            let s = darpa::convert(&dir.path().join("a.csv"), &dir.path().join("a")).unwrap();
            let bad = edges.iter().filter(|e| e.6).count() as u64;
            prop_assert_eq!((s.rows, s.bad_rows), (edges.len() as u64, bad));
            let recs = read_logs(&dir.path().join("a"));
            let egress: u64 = recs.iter().filter(|(_, r)| r.flow_direction == Some(FlowDirection::Egress)).map(|(_, r)| r.packets.unwrap()).sum();
            let want = edges.iter().filter(|e| !e.6 && e.0).count() as u64;
            prop_assert_eq!(egress, want);
            let l = labels(&dir.path().join("a"));
            let t0 = 896_659_200u64; // 06/01/1998 00:00 UTC
            for e in edges.iter().filter(|e| !e.6 && e.5 >= 2) {
                let t = t0 + u64::from(e.4) * 60;
                let ty = ["-", "-", "neptune", "portsweep"][usize::from(e.5)];
                for (internal, h) in [(e.0, e.1), (e.2, e.3)] {
                    if !internal { continue; }
                    let eni = format!("eni-{:017x}", u32::from(std::net::Ipv4Addr::new(172, 16, 0, h)));
                    prop_assert!(l.iter().any(|x| x.eni == eni && x.attack_type == ty && x.start <= t && t < x.end), "{} at {} not labeled", ty, eni);
                }
            }
            // Shuffle the rows: the labels file is the same.
            let mut lines: Vec<&str> = text.lines().collect();
            let mut st = seed;
            for i in (1..lines.len()).rev() {
                st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                lines.swap(i, (st >> 33) as usize % (i + 1));
            }
            std::fs::write(dir.path().join("b.csv"), lines.join("\n") + "\n").unwrap();
            darpa::convert(&dir.path().join("b.csv"), &dir.path().join("b")).unwrap();
            prop_assert_eq!(l, labels(&dir.path().join("b")));
        }
    }
}
