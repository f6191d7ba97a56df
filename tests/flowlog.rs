//! The flow log reader and `flowvigil stats`: AWS's documented records of every version (case
//! files in `tests/data/flowlog/`, sources in its README), headers and formats, bad lines and
//! their reports, gzip, folders, stdin, resume, bounds, and proptest round trips.
//!
//! A new reader or `stats` test goes here; tests over `../shared/datasets` go in
//! `tests/flowlog_real.rs`.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use flowvigil::flowlog::{
    parse_line, write_header, write_record, Action, Field, FlowDirection, FlowRecord, FlowlogError,
    Format, InputPosition, Interner, IpType, LogReader, LogStatus, MemorySink, NullSink,
    ReadOptions, ReadSummary, TcpFlags, TextField, ALL_FIELDS,
};
use proptest::prelude::*;

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/flowlog")
        .join(name)
}

/// Every record of `paths` (names resolved through the reader's interner), the summary and the
/// reports.
struct Read {
    records: Vec<FlowRecord>,
    enis: Vec<Option<String>>,
    summary: ReadSummary,
    reports: Vec<String>,
}

fn read_with(paths: &[PathBuf], opts: ReadOptions) -> Result<Read, FlowlogError> {
    let sink = MemorySink::new();
    let mut reader = LogReader::open(paths, opts)?.with_sink(Box::new(sink.clone()));
    let mut records = Vec::new();
    let mut rec = FlowRecord::default();
    while reader.next_record(&mut rec)? {
        records.push(rec.clone());
    }
    let enis = records
        .iter()
        .map(|r| r.eni.map(|id| reader.interner().name(id).to_string()))
        .collect();
    Ok(Read {
        records,
        enis,
        summary: reader.summary().clone(),
        reports: sink.messages(),
    })
}

fn read(name: &str) -> Read {
    read_with(&[case(name)], ReadOptions::default()).expect("case file reads")
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().expect("test address"))
}

/// `lines` is the sum of what the reader did with each line.
fn assert_lines_add_up(s: &ReadSummary) {
    assert_eq!(
        s.lines,
        s.records + s.bad_lines + s.blank_lines + s.headers + s.unsupported_rows,
        "{s:?}"
    );
}

#[test]
fn aws_v2_default_format_examples() {
    let r = read("aws_v2_examples.log");
    assert_eq!(r.records.len(), 7);
    assert!(r.reports.is_empty(), "{:?}", r.reports);
    let ssh = &r.records[0];
    assert_eq!(ssh.version, Some(2));
    assert_eq!(ssh.account_id, Some(123_456_789_010));
    assert_eq!(r.enis[0].as_deref(), Some("eni-1235b8ca123456789"));
    assert_eq!(ssh.srcaddr, ip("172.31.16.139"));
    assert_eq!(ssh.dstaddr, ip("172.31.16.21"));
    assert_eq!((ssh.srcport, ssh.dstport), (Some(20641), Some(22)));
    assert_eq!(ssh.protocol, Some(6));
    assert_eq!((ssh.packets, ssh.bytes), (Some(20), Some(4249)));
    assert_eq!(
        (ssh.start, ssh.end),
        (Some(1_418_530_010), Some(1_418_530_070))
    );
    assert_eq!(ssh.action, Some(Action::Accept));
    assert_eq!(ssh.log_status, Some(LogStatus::Ok));
    assert_eq!(r.records[1].action, Some(Action::Reject));
    assert_eq!(r.records[1].dstport, Some(3389));

    let nodata = &r.records[2];
    assert_eq!(nodata.log_status, Some(LogStatus::NoData));
    assert_eq!(
        (nodata.srcaddr, nodata.dstport, nodata.bytes),
        (None, None, None)
    );
    assert_eq!(nodata.action, None);
    assert_eq!(nodata.start, Some(1_431_280_876));
    assert!(!nodata.is_ok());
    assert_eq!(r.records[3].log_status, Some(LogStatus::SkipData));
    assert_eq!(r.enis[3].as_deref(), Some("eni-11111111aaaaaaaaa"));

    let ping = &r.records[4];
    assert_eq!(ping.protocol, Some(1));
    assert_eq!((ping.srcport, ping.dstport), (Some(0), Some(0)));
    assert_eq!(r.records[5].action, Some(Action::Reject));

    let v6 = &r.records[6];
    assert_eq!(v6.srcaddr, ip("2001:db8:1234:a100:8d6e:3477:df66:f105"));
    assert!(matches!(v6.dstaddr, Some(IpAddr::V6(_))));

    assert_eq!(r.summary.nodata, 1);
    assert_eq!(r.summary.skipdata, 1);
    assert_eq!(r.summary.headers, 0);
    assert_eq!(r.summary.formats.len(), 1);
    assert_eq!(r.summary.formats[0].kind, "v2");
    assert_eq!(r.summary.formats[0].records, 7);
    assert_lines_add_up(&r.summary);
}

#[test]
fn aws_v3_tcp_flags_custom_order() {
    let r = read("aws_v3_tcp_flags.log");
    assert_eq!(r.records.len(), 4);
    let flags: Vec<u16> = r.records.iter().map(|x| x.tcp_flags.unwrap().0).collect();
    assert_eq!(flags, [2, 18, 2, 1]);
    assert!(r.records[0].tcp_flags.unwrap().is_syn_only());
    assert!(r.records[1]
        .tcp_flags
        .unwrap()
        .contains(TcpFlags::SYN | TcpFlags::ACK));
    assert!(r.records[3].tcp_flags.unwrap().contains(TcpFlags::FIN));
    let first = &r.records[0];
    // This format puts `bytes` before `packets`.
    assert_eq!((first.bytes, first.packets), (Some(568), Some(8)));
    assert_eq!(first.ip_type, Some(IpType::Ipv4));
    assert_eq!(first.pkt_srcaddr, ip("52.213.180.42"));
    assert_eq!(
        first.text.get(TextField::VpcId),
        Some("vpc-abcdefab012345678")
    );
    assert_eq!(
        first.text.get(TextField::InstanceId),
        Some("i-01234567890123456")
    );
    assert_eq!(first.account_id, Some(123_456_789_012));
    assert_eq!(r.summary.headers, 1);
    assert_eq!(r.summary.formats[0].kind, "custom");
    assert_eq!(r.summary.formats[0].headers, 1);
}

#[test]
fn aws_v3_nat_gateway_packet_addresses() {
    let r = read("aws_v3_nat_gateway.log");
    assert_eq!(r.records.len(), 6);
    for rec in &r.records[..4] {
        assert_eq!(
            rec.text.get(TextField::InstanceId),
            None,
            "NAT gateway: `-`"
        );
    }
    assert_eq!(
        r.records[4].text.get(TextField::InstanceId),
        Some("i-01234567890123456")
    );
    // The NAT's inside leg: srcaddr is the NAT, pkt-dstaddr the real destination.
    assert_eq!(r.records[1].srcaddr, ip("10.0.0.220"));
    assert_eq!(r.records[3].pkt_srcaddr, ip("203.0.113.5"));
    assert_eq!(r.records[3].srcaddr, ip("10.0.0.220"));
    assert_eq!(r.enis[4].as_deref(), Some("eni-1111aaaa2222bbbb3"));
    assert_eq!(r.records[0].version, None, "no version column");
}

#[test]
fn aws_v5_service_and_traffic_path() {
    let r = read("aws_v5_service_path.log");
    assert_eq!(r.records.len(), 3);
    let (a, b, c) = (&r.records[0], &r.records[1], &r.records[2]);
    assert_eq!(a.flow_direction, Some(FlowDirection::Ingress));
    assert_eq!(b.flow_direction, Some(FlowDirection::Egress));
    assert_eq!(a.traffic_path, None);
    assert_eq!(b.traffic_path, Some(8));
    assert_eq!(c.traffic_path, Some(1));
    assert_eq!(a.text.get(TextField::PktSrcAwsService), Some("S3"));
    assert_eq!(a.text.get(TextField::PktDstAwsService), None);
    assert_eq!(b.text.get(TextField::PktDstAwsService), Some("S3"));
    assert_eq!(c.text.get(TextField::PktDstAwsService), Some("AMAZON"));
    assert_eq!(a.text.get(TextField::Region), Some("ap-southeast-2"));
    assert_eq!(a.text.get(TextField::AzId), Some("apse2-az3"));
    assert_eq!(a.text.get(TextField::SublocationType), None);
    assert_eq!(
        c.text.get(TextField::SublocationType),
        Some("wavelength-zone")
    );
    assert_eq!(c.text.get(TextField::SublocationId), Some("wlz-1a2b3c4d"));
    // 19 = SYN | FIN | ACK over the interval.
    let f = a.tcp_flags.unwrap();
    assert!(f.contains(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::ACK));
    assert!(!f.is_syn_only());
    assert_eq!(a.version, Some(5));
}

#[test]
fn aws_v7_ecs_fields() {
    let r = read("aws_v7_ecs.log");
    assert_eq!(r.records.len(), 2);
    let t = &r.records[0].text;
    assert_eq!(
        t.get(TextField::EcsClusterArn),
        Some("arn:aws:ecs:us-east-1:123456789012:cluster/prod")
    );
    assert_eq!(t.get(TextField::EcsClusterName), Some("prod"));
    assert_eq!(
        t.get(TextField::EcsContainerInstanceId),
        Some("0a1b2c3d4e5f")
    );
    assert_eq!(t.get(TextField::EcsSecondContainerId), None);
    assert_eq!(t.get(TextField::EcsServiceName), Some("web"));
    assert_eq!(t.get(TextField::EcsTaskId), Some("5e6f7a8b9c0d"));
    assert_eq!(
        t.get(TextField::EcsTaskDefinitionArn),
        Some("arn:aws:ecs:us-east-1:123456789012:task-definition/web:7")
    );
    for f in [TextField::EcsClusterArn, TextField::EcsTaskId] {
        assert_eq!(r.records[1].text.get(f), None);
    }
}

#[test]
fn aws_v8_reject_reason_resource_and_encryption() {
    let r = read("aws_v8_reject_reason.log");
    assert_eq!(r.records.len(), 2);
    assert_eq!(r.records[0].text.get(TextField::RejectReason), Some("BPA"));
    assert_eq!(r.records[0].action, Some(Action::Reject));
    assert_eq!(r.records[0].encryption_status, None);
    assert_eq!(r.records[1].account_id, None, "`unknown` account");
    assert_eq!(r.records[1].encryption_status, Some(1));
    assert_eq!(
        r.records[1].text.get(TextField::ResourceId),
        Some("vpc-abcdefab012345678")
    );
    assert_eq!(r.records[1].version, Some(8));
}

#[test]
fn transit_gateway_logs_are_rejected_by_name_then_vpc_logs_resume() {
    let r = read("tgw_v6.log");
    assert_eq!(r.summary.bad_lines, 1, "the TGW header is one bad line");
    assert_eq!(r.summary.unsupported_rows, 2);
    assert_eq!(r.records.len(), 1, "the VPC header after it is read");
    assert_eq!(r.enis[0].as_deref(), Some("eni-1235b8ca123456789"));
    assert_eq!(r.reports.len(), 1);
    let msg = &r.reports[0];
    assert!(msg.contains("tgw_v6.log:1: "), "{msg}");
    assert!(
        msg.contains("Transit Gateway flow logs are not supported"),
        "{msg}"
    );
    assert!(msg.contains("\"resource-type\""), "{msg}");
    assert_lines_add_up(&r.summary);

    let strict = read_with(
        &[case("tgw_v6.log")],
        ReadOptions {
            strict: true,
            ..ReadOptions::default()
        },
    );
    let err = strict.err().expect("strict stops at the TGW header");
    assert!(err.to_string().contains("Transit Gateway"), "{err}");
}

#[test]
fn concatenated_objects_switch_format_and_report_unknown_fields_once() {
    let r = read("concatenated_headers.log");
    assert_eq!(r.records.len(), 3);
    assert_eq!(r.summary.headers, 2);
    assert_eq!(r.summary.blank_lines, 1);
    assert_eq!(r.summary.bad_lines, 0, "{:?}", r.reports);
    assert_eq!(r.summary.unknown_fields, ["future-field-x"]);
    assert_eq!(r.reports.len(), 1, "{:?}", r.reports);
    assert!(r.reports[0].contains(":4: unknown field `future-field-x`"));
    assert_eq!(r.records[0].account_id, Some(123_456_789_012));
    assert_eq!(r.records[1].version, Some(5));
    assert_eq!(r.records[1].account_id, None, "not in the second format");
    assert_eq!(r.records[1].action, Some(Action::Reject));
    assert_eq!(r.records[2].log_status, Some(LogStatus::NoData));
    assert_eq!(r.summary.formats.len(), 2);
    assert_eq!(r.summary.formats[1].records, 2);
    assert_lines_add_up(&r.summary);
}

#[test]
fn bad_lines_are_reported_with_field_and_expectation_then_skipped() {
    let r = read("bad_lines.log");
    let p = case("bad_lines.log").display().to_string();
    let expected = [
        format!("{p}:1: field `dstport`: expected an integer 0..=65535, found \"abc\""),
        format!("{p}:3: expected 14 fields, found 11"),
        format!("{p}:4: field `action`: expected `ACCEPT` or `REJECT`, found \"ALLOW\""),
        format!(
            "{p}:5: field `srcaddr`: expected an IPv4 or IPv6 address, found \"172.31.16.300\""
        ),
        format!("{p}:6: field `srcport`: expected an integer 0..=65535, found \"70000\""),
        format!(
            "{p}:7: field `account-id`: expected an account id (digits) or `unknown`, found \
             \"12345678901x\""
        ),
        format!("{p}:8: field `log-status`: expected `OK`, `NODATA` or `SKIPDATA`, found \"DONE\""),
        format!("{p}:9: expected 14 fields, found 15"),
    ];
    assert_eq!(r.reports, expected);
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.summary.bad_lines, 8);
    assert_eq!(r.summary.files[0].bad_lines, 8);
    assert_lines_add_up(&r.summary);

    let strict = read_with(
        &[case("bad_lines.log")],
        ReadOptions {
            strict: true,
            ..ReadOptions::default()
        },
    );
    match strict {
        Err(FlowlogError::BadLine { error, .. }) => {
            assert_eq!(error.line, 1);
            assert_eq!(error.field, Some(Field::DstPort));
        }
        other => panic!(
            "expected the first bad line, got {:?}",
            other.map(|r| r.records)
        ),
    }
}

#[test]
fn invalid_utf8_and_escapes_never_reach_the_terminal_raw() {
    let r = read("invalid_utf8.log");
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.summary.bad_lines, 2);
    assert!(
        r.reports[0].contains("field `interface-id`"),
        "{:?}",
        r.reports
    );
    assert!(r.reports[0].contains("\\xff\\xfe"), "{:?}", r.reports);
    assert!(r.reports[1].contains("\\x1b[31m"), "{:?}", r.reports);
    assert!(r.reports.iter().all(|m| !m.contains('\u{1b}')));
}

fn v2_lines(n: usize, eni_count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        writeln!(
            out,
            "2 123456789012 eni-{:017x} 10.0.{}.{} 10.1.0.1 {} 443 6 {} {} {} {} ACCEPT OK",
            i % eni_count,
            (i / 256) % 256,
            i % 256,
            1024 + i % 60000,
            1 + i % 9,
            40 * (1 + i % 9),
            1_700_000_000 + i,
            1_700_000_060 + i
        )
        .expect("write to Vec");
    }
    out
}

fn gzip_members(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(part).expect("gzip in memory");
        out.extend(enc.finish().expect("gzip in memory"));
    }
    out
}

#[test]
fn gzip_multi_member_reads_like_plain_text_with_or_without_thread() {
    let dir = tempfile::tempdir().expect("temp dir");
    let header = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol \
                   packets bytes start end action log-status\n";
    let body = v2_lines(3000, 7);
    // Two S3 objects, each with its header, as two gzip members; the name does not say gzip.
    let cut = body[..body.len() / 2]
        .iter()
        .rposition(|&b| b == b'\n')
        .expect("a line end")
        + 1;
    let first = [&header[..], &body[..cut]].concat();
    let second = [&header[..], &body[cut..]].concat();
    let gz = dir.path().join("object.bin");
    std::fs::write(&gz, gzip_members(&[&first, &second])).unwrap();
    let plain = dir.path().join("plain.log");
    std::fs::write(&plain, &body).unwrap();

    let want = read_with(&[plain], ReadOptions::default()).unwrap();
    for background in [true, false] {
        let opts = ReadOptions {
            background_gzip: background,
            ..ReadOptions::default()
        };
        let got = read_with(std::slice::from_ref(&gz), opts).unwrap();
        assert_eq!(got.records, want.records);
        assert_eq!(got.enis, want.enis);
        assert!(got.summary.files[0].gzip);
        assert_eq!(got.summary.bad_lines, 0, "{:?}", got.reports);
    }
    assert_eq!(want.records.len(), 3000);
}

#[test]
fn corrupt_gzip_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut gz = gzip_members(&[&v2_lines(2000, 3)]);
    let mid = gz.len() / 2;
    for b in &mut gz[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let path = dir.path().join("broken.log.gz");
    std::fs::write(&path, gz).unwrap();
    for background in [true, false] {
        let opts = ReadOptions {
            background_gzip: background,
            ..ReadOptions::default()
        };
        let err = read_with(std::slice::from_ref(&path), opts)
            .err()
            .expect("corrupt gzip fails");
        assert!(matches!(err, FlowlogError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("broken.log.gz"), "{err}");
    }
}

#[test]
fn folders_are_walked_recursively_in_sorted_order_skipping_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir
        .path()
        .join("AWSLogs/123456789012/vpcflowlogs/us-east-1/2025");
    let day = |m: &str, d: &str| base.join(m).join(d);
    for (m, d) in [("01", "02"), ("01", "10"), ("02", "01")] {
        std::fs::create_dir_all(day(m, d)).unwrap();
    }
    let files = [
        day("02", "01").join("c_vpcflowlogs_us-east-1_fl-1_20250201T0000Z_ab.log.gz"),
        day("01", "10").join("b_vpcflowlogs_us-east-1_fl-1_20250110T0000Z_ab.log"),
        day("01", "02").join("a2.log"),
        day("01", "02").join("a1.log"),
    ];
    for (i, f) in files.iter().enumerate() {
        let body = v2_lines(i + 1, 1);
        if f.extension().is_some_and(|e| e == "gz") {
            std::fs::write(f, gzip_members(&[&body])).unwrap();
        } else {
            std::fs::write(f, body).unwrap();
        }
    }
    std::fs::write(day("01", "02").join(".hidden.log"), "garbage").unwrap();
    std::fs::write(day("01", "02").join("labels.csv"), "garbage").unwrap();
    let reader = LogReader::open(&[dir.path().join("AWSLogs")], ReadOptions::default()).unwrap();
    let expected = [
        files[3].clone(),
        files[2].clone(),
        files[1].clone(),
        files[0].clone(),
    ];
    assert_eq!(reader.inputs(), expected);
    let r = read_with(&[dir.path().to_path_buf()], ReadOptions::default()).unwrap();
    assert_eq!(r.records.len(), 1 + 2 + 3 + 4);
    assert_eq!(r.summary.files.len(), 4);
    assert_eq!(r.summary.bad_lines, 0);
}

#[test]
fn missing_input_is_an_error_naming_it() {
    let Err(err) = LogReader::open(
        &[PathBuf::from("/nonexistent/flows.log")],
        ReadOptions::default(),
    ) else {
        panic!("a missing input must fail");
    };
    assert!(err.to_string().contains("/nonexistent/flows.log"), "{err}");
}

#[test]
fn eni_limit_bounds_memory_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.log");
    std::fs::write(&path, v2_lines(50, 5)).unwrap();
    let opts = ReadOptions {
        max_enis: 2,
        ..ReadOptions::default()
    };
    let sink = MemorySink::new();
    let mut reader = LogReader::open(&[path], opts)
        .unwrap()
        .with_sink(Box::new(sink.clone()));
    let mut rec = FlowRecord::default();
    let mut n = 0;
    while reader.next_record(&mut rec).unwrap() {
        n += 1;
    }
    assert_eq!(reader.interner().len(), 2);
    assert_eq!(n, 20, "the first two ENIs' records");
    assert_eq!(reader.summary().bad_lines, 30);
    assert!(sink.messages()[0].contains("limit of 2 distinct interfaces"));
}

#[test]
fn reports_are_bounded_per_file_but_every_bad_line_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.log");
    let mut body = Vec::new();
    for i in 0..150 {
        writeln!(body, "junk line {i}").unwrap();
    }
    body.extend(v2_lines(3, 1));
    std::fs::write(&path, body).unwrap();
    let r = read_with(&[path], ReadOptions::default()).unwrap();
    assert_eq!(r.summary.bad_lines, 150);
    assert_eq!(r.summary.unreported_bad_lines, 50);
    assert_eq!(r.reports.len(), 101, "100 reports and one notice");
    assert!(r.reports[100].contains("counted, not reported"));
    assert_eq!(r.records.len(), 3);
}

#[test]
fn over_long_lines_are_bad_lines_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.log");
    let mut body = v2_lines(1, 1);
    body.extend(vec![b'7'; 3 << 20]);
    body.push(b'\n');
    body.extend(v2_lines(2, 1));
    std::fs::write(&path, body).unwrap();
    let opts = ReadOptions {
        max_line_bytes: 4096,
        ..ReadOptions::default()
    };
    let r = read_with(&[path], opts).unwrap();
    assert_eq!(r.records.len(), 3);
    assert_eq!(r.summary.bad_lines, 1);
    assert!(r.reports[0].contains(":2: expected a line of at most 4096 bytes"));
    assert_lines_add_up(&r.summary);
}

#[test]
fn format_flag_reads_header_less_custom_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custom.log");
    std::fs::write(
        &path,
        "eni-a 10.0.0.1 443 ingress\neni-b 10.0.0.2 22 egress\n",
    )
    .unwrap();
    let format = Format::parse("interface-id srcaddr dstport flow-direction").unwrap();
    let opts = ReadOptions {
        format: Some(format),
        ..ReadOptions::default()
    };
    let r = read_with(std::slice::from_ref(&path), opts).unwrap();
    assert_eq!(r.records.len(), 2);
    assert_eq!(r.enis[1].as_deref(), Some("eni-b"));
    assert_eq!(r.records[1].flow_direction, Some(FlowDirection::Egress));
    // Without the flag, the default v2 order rejects both lines.
    let r = read_with(&[path], ReadOptions::default()).unwrap();
    assert_eq!(r.summary.bad_lines, 2);
}

#[test]
fn resume_continues_exactly_after_the_checkpointed_record() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol \
                  packets bytes start end action log-status\n";
    let mut body_a = header.as_bytes().to_vec();
    body_a.extend(v2_lines(40, 3));
    std::fs::write(&a, body_a).unwrap();
    let mut body_b = v2_lines(30, 4);
    body_b.extend(b"bad line\n");
    body_b.extend(v2_lines(5, 2));
    std::fs::write(&b, body_b).unwrap();
    let inputs = [a, b];
    let all = read_with(&inputs, ReadOptions::default()).unwrap();
    assert_eq!(all.records.len(), 75);
    for cut in [0usize, 1, 39, 40, 41, 70, 74, 75] {
        let mut first = LogReader::open(&inputs, ReadOptions::default())
            .unwrap()
            .with_sink(Box::new(NullSink));
        let mut rec = FlowRecord::default();
        for _ in 0..cut {
            assert!(first.next_record(&mut rec).unwrap());
        }
        let pos: InputPosition = first.position();
        let interner = first.into_interner();
        let mut second = LogReader::open(&inputs, ReadOptions::default())
            .unwrap()
            .with_interner(interner)
            .with_sink(Box::new(NullSink));
        // At cut 0 this is the position of a reader that returned nothing: a no-op.
        second.resume_at(&pos).unwrap();
        let mut rest = Vec::new();
        while second.next_record(&mut rec).unwrap() {
            rest.push(rec.clone());
        }
        assert_eq!(rest, all.records[cut..], "cut at {cut} ({pos:?})");
    }
    let mut reader = LogReader::open(&inputs, ReadOptions::default()).unwrap();
    let wrong = InputPosition {
        file_index: 1,
        path: PathBuf::from("elsewhere.log"),
        line: 3,
    };
    assert!(matches!(
        reader.resume_at(&wrong),
        Err(FlowlogError::Resume { .. })
    ));
}

// ---- the command line ----

fn flowvigil(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowvigil"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run flowvigil");
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn stats_command_text_json_exit_codes_and_stdin() {
    let v2 = case("aws_v2_examples.log");
    let v2 = v2.to_str().unwrap();
    let (code, out, _) = flowvigil(&["stats", v2], None);
    assert_eq!(code, 0);
    assert!(
        out.contains("records     7 (OK 5, NODATA 1, SKIPDATA 1)"),
        "{out}"
    );
    assert!(out.contains("ENIs        2"), "{out}");

    let (code, out, _) = flowvigil(&["stats", "--json", v2], None);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    assert_eq!(json["records"], 7);
    assert_eq!(json["actions"]["reject"], 2);
    assert_eq!(json["read"]["bad_lines"], 0);
    assert_eq!(json["first_start"], 1_418_530_010u64);

    let bad = case("bad_lines.log");
    let bad = bad.to_str().unwrap();
    let (code, _, err) = flowvigil(&["stats", bad], None);
    assert_eq!(code, 2, "finished with bad lines");
    assert!(err.contains("bad_lines.log:1: field `dstport`"), "{err}");
    let (code, _, err) = flowvigil(&["stats", "--strict", bad], None);
    assert_eq!(code, 1, "strict stops");
    assert!(err.contains("bad_lines.log:1:"), "{err}");

    let data = std::fs::read(case("aws_v3_nat_gateway.log")).unwrap();
    let (code, out, _) = flowvigil(&["stats", "--json", "-"], Some(&data));
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["records"], 6);
    assert_eq!(json["read"]["files"][0]["path"], "-");

    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = flowvigil(&["stats", empty.path().to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(err.contains("no flow log files"), "{err}");
    let (code, _, err) = flowvigil(&["stats", "--format", "srcaddr tgw-id", "-"], Some(b""));
    assert_eq!(code, 1);
    assert!(err.contains("Transit Gateway"), "{err}");

    let (code, out, _) = flowvigil(
        &["stats", "--format", "interface-id srcaddr dstport", "-"],
        Some(b"eni-a 10.0.0.1 443\n"),
    );
    assert_eq!(code, 0);
    assert!(out.contains("records     1"), "{out}");
}

// ---- properties ----

fn text_value() -> impl Strategy<Value = String> {
    // Never `-` (absent) and never starting like a header (a lower-case field name).
    "[A-Z0-9][a-zA-Z0-9:/._-]{0,24}"
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u16; 8]>().prop_map(IpAddr::from),
    ]
}

/// A record with every field, and the ENI's name.
fn arb_full_record() -> impl Strategy<Value = (FlowRecord, String, Vec<(TextField, String)>)> {
    let nums = (
        any::<Option<u8>>(),
        any::<Option<u64>>(),
        any::<Option<u16>>(),
        any::<Option<u16>>(),
        any::<Option<u8>>(),
        any::<Option<u64>>(),
        any::<Option<u64>>(),
        any::<Option<u64>>(),
        any::<Option<u64>>(),
        any::<Option<u16>>(),
        any::<Option<u8>>(),
        any::<Option<u8>>(),
    );
    let addrs = proptest::collection::vec(proptest::option::of(arb_ip()), 4);
    let enums = (0u8..3, 0u8..4, 0u8..4, 0u8..3);
    let texts = proptest::collection::vec(proptest::option::of(text_value()), 21);
    (nums, addrs, enums, texts, 0u32..6).prop_map(|(n, a, e, t, eni)| {
        let rec = FlowRecord {
            version: n.0,
            account_id: n.1,
            srcport: n.2,
            dstport: n.3,
            protocol: n.4,
            packets: n.5,
            bytes: n.6,
            start: n.7,
            end: n.8,
            tcp_flags: n.9.map(TcpFlags),
            traffic_path: n.10,
            encryption_status: n.11,
            srcaddr: a[0],
            dstaddr: a[1],
            pkt_srcaddr: a[2],
            pkt_dstaddr: a[3],
            action: [None, Some(Action::Accept), Some(Action::Reject)][e.0 as usize],
            log_status: [
                None,
                Some(LogStatus::Ok),
                Some(LogStatus::NoData),
                Some(LogStatus::SkipData),
            ][e.1 as usize],
            ip_type: [
                None,
                Some(IpType::Ipv4),
                Some(IpType::Ipv6),
                Some(IpType::Efa),
            ][e.2 as usize],
            flow_direction: [
                None,
                Some(FlowDirection::Ingress),
                Some(FlowDirection::Egress),
            ][e.3 as usize],
            ..FlowRecord::default()
        };
        let text_fields: Vec<(TextField, String)> = ALL_FIELDS
            .iter()
            .filter_map(|(f, _)| match f {
                Field::Text(t) => Some(*t),
                _ => None,
            })
            .zip(t)
            .filter_map(|(f, v)| v.map(|v| (f, v)))
            .collect();
        (rec, format!("eni-{eni:017x}"), text_fields)
    })
}

/// Keeps only the fields of `fields` (the rest are absent, as after parsing that format).
fn restrict(
    rec: &FlowRecord,
    texts: &[(TextField, String)],
    eni: Option<u32>,
    fields: &[Field],
) -> FlowRecord {
    let has = |f: Field| fields.contains(&f);
    let keep = |f: Field, v| if has(f) { v } else { None };
    let mut out = FlowRecord {
        version: keep(Field::Version, rec.version),
        account_id: if has(Field::AccountId) {
            rec.account_id
        } else {
            None
        },
        eni: if has(Field::InterfaceId) { eni } else { None },
        srcaddr: if has(Field::SrcAddr) {
            rec.srcaddr
        } else {
            None
        },
        dstaddr: if has(Field::DstAddr) {
            rec.dstaddr
        } else {
            None
        },
        srcport: if has(Field::SrcPort) {
            rec.srcport
        } else {
            None
        },
        dstport: if has(Field::DstPort) {
            rec.dstport
        } else {
            None
        },
        protocol: keep(Field::Protocol, rec.protocol),
        packets: if has(Field::Packets) {
            rec.packets
        } else {
            None
        },
        bytes: if has(Field::Bytes) { rec.bytes } else { None },
        start: if has(Field::Start) { rec.start } else { None },
        end: if has(Field::End) { rec.end } else { None },
        action: if has(Field::Action) { rec.action } else { None },
        log_status: if has(Field::LogStatus) {
            rec.log_status
        } else {
            None
        },
        tcp_flags: if has(Field::TcpFlags) {
            rec.tcp_flags
        } else {
            None
        },
        ip_type: if has(Field::Type) { rec.ip_type } else { None },
        pkt_srcaddr: if has(Field::PktSrcAddr) {
            rec.pkt_srcaddr
        } else {
            None
        },
        pkt_dstaddr: if has(Field::PktDstAddr) {
            rec.pkt_dstaddr
        } else {
            None
        },
        flow_direction: if has(Field::FlowDirection) {
            rec.flow_direction
        } else {
            None
        },
        traffic_path: keep(Field::TrafficPath, rec.traffic_path),
        encryption_status: keep(Field::EncryptionStatus, rec.encryption_status),
        ..FlowRecord::default()
    };
    // Text values in column order, as the parser stores them.
    for f in fields {
        if let Field::Text(t) = f {
            if let Some((_, v)) = texts.iter().find(|(tf, _)| tf == t) {
                out.text.set(*t, v.as_bytes());
            }
        }
    }
    out
}

fn arb_format() -> impl Strategy<Value = Vec<Field>> {
    let all: Vec<Field> = ALL_FIELDS.iter().map(|(f, _)| *f).collect();
    proptest::sample::subsequence(all, 1..=ALL_FIELDS.len()).prop_shuffle()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random records in a random custom field order → text (header + lines) → reader → the
    /// same records (restricted to the format's fields) and the same ENI names.
    #[test]
    fn write_then_read_round_trips(
        fields in arb_format(),
        recs in proptest::collection::vec(arb_full_record(), 1..20),
    ) {
        let mut interner = Interner::new();
        let mut text = Vec::new();
        write_header(&fields, &mut text);
        let mut expected = Vec::new();
        let mut expected_enis = Vec::new();
        for (rec, eni_name, texts) in &recs {
            let full = restrict(rec, texts, None, &ALL_FIELDS.map(|(f, _)| f));
            let mut with_eni = full.clone();
            with_eni.eni = Some(interner.intern(eni_name.as_bytes()));
            write_record(&with_eni, &fields, &interner, &mut text);
            expected.push(restrict(rec, texts, None, &fields));
            expected_enis.push(fields.contains(&Field::InterfaceId).then(|| eni_name.clone()));
        }
        let mut reader = LogReader::from_read("mem", Box::new(std::io::Cursor::new(text.clone())),
            ReadOptions { strict: true, ..ReadOptions::default() });
        let mut rec = FlowRecord::default();
        let mut got = Vec::new();
        let mut got_enis = Vec::new();
        while reader.next_record(&mut rec).map_err(|e| TestCaseError::fail(format!(
            "{e}\n{}", String::from_utf8_lossy(&text))))? {
            got_enis.push(rec.eni.map(|id| reader.interner().name(id).to_string()));
            let mut r = rec.clone();
            r.eni = None;
            got.push(r);
        }
        prop_assert_eq!(got, expected);
        prop_assert_eq!(got_enis, expected_enis);
    }

    /// Arbitrary bytes (biased towards flow-log-like text) never panic, and every line is
    /// accounted for.
    #[test]
    fn arbitrary_bytes_never_panic_and_lines_add_up(
        chunks in proptest::collection::vec(prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            Just(b"2 123456789012 eni-abc 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK\n".to_vec()),
            Just(b"version interface-id srcaddr weird-field\n".to_vec()),
            Just(b"version resource-type tgw-id\n".to_vec()),
            Just(b" - \t-\r\n".to_vec()),
            Just(vec![0x1f, 0x8b, 0x08]),
        ], 0..30),
        strict in any::<bool>(),
    ) {
        let data: Vec<u8> = chunks.concat();
        let mut reader = LogReader::from_read("fuzz", Box::new(std::io::Cursor::new(data.clone())),
            ReadOptions { strict, max_line_bytes: 64, ..ReadOptions::default() })
            .with_sink(Box::new(NullSink));
        let mut rec = FlowRecord::default();
        let mut n = 0u64;
        loop {
            match reader.next_record(&mut rec) {
                Ok(true) => n += 1,
                Ok(false) => break,
                Err(_) => break,
            }
        }
        let s = reader.summary();
        prop_assert_eq!(s.records, n);
        // Text only: gzip and CloudWatch Logs JSON (read as their contents) are detected by
        // their start.
        if !strict
            && !data.starts_with(&[0x1f, 0x8b])
            && !flowvigil::flowlog::cloudwatch::looks_like_json(&data)
        {
            let newlines = data.iter().filter(|&&b| b == b'\n').count() as u64;
            let last = u64::from(!data.is_empty() && !data.ends_with(b"\n"));
            prop_assert_eq!(s.lines, newlines + last);
            assert_lines_add_up(s);
        }
    }

    /// Whatever `parse_line` accepts, it writes back to text that parses to the same record.
    #[test]
    fn accepted_lines_are_stable_under_write_and_reparse(
        fields in arb_format(),
        line in proptest::collection::vec(prop_oneof![
            Just(b' '), Just(b'-'), Just(b'.'), Just(b':'), 0x30u8..0x3a, 0x41u8..0x5b,
            0x61u8..0x7b, any::<u8>()], 0..120),
    ) {
        // The reader hands the parser lines without CR/LF; the writer maps them to `_`.
        let line: Vec<u8> = line.into_iter().map(|b| if b == b'\n' || b == b'\r' { b'x' } else { b }).collect();
        let format = Format::from_fields(&fields);
        let mut interner = Interner::new();
        let mut rec = FlowRecord::default();
        if parse_line(&line, 1, &format, &mut interner, 100, &mut rec).is_ok() {
            let mut text = Vec::new();
            write_record(&rec, &fields, &interner, &mut text);
            let mut again = FlowRecord::default();
            let written = text.strip_suffix(b"\n").unwrap_or(&text);
            prop_assert!(parse_line(written, 1, &format, &mut interner, 100, &mut again).is_ok());
            prop_assert_eq!(again, rec);
        }
    }
}

/// The reader opens the next input ahead (its gzip decoder at work early); an input that
/// vanished in the meantime is still reported only when reading reaches it, after every record
/// of the inputs before it, and as the missing file's error.
#[test]
fn an_input_opened_ahead_reports_its_error_in_turn() {
    let dir = tempfile::tempdir().expect("temp dir");
    let line = "2 123456789012 eni-0a1b2c3d4e5f60718 10.0.0.1 10.0.0.2 40000 443 6 3 300 1700000000 1700000060 ACCEPT OK\n";
    let first = dir.path().join("a.log");
    let second = dir.path().join("b.log");
    std::fs::write(&first, line.repeat(3)).expect("write");
    std::fs::write(&second, line).expect("write");
    let mut reader =
        LogReader::open(&[first, second.clone()], ReadOptions::default()).expect("open");
    std::fs::remove_file(&second).expect("remove");
    let mut rec = FlowRecord::default();
    let mut records = 0;
    let err = loop {
        match reader.next_record(&mut rec) {
            Ok(true) => records += 1,
            Ok(false) => panic!("the vanished input was not reported"),
            Err(e) => break e,
        }
    };
    assert_eq!(records, 3, "every record of the first input comes first");
    match err {
        FlowlogError::Io { path, .. } => assert!(path.ends_with("b.log"), "{}", path.display()),
        other => panic!("expected an I/O error, got {other}"),
    }
}
