//! The reader over real AWS-delivered flow logs in `../shared/datasets/aws-vpc-real` (counts
//! from its NOTES.md). Each test prints a notice and returns when that folder is absent.
//!
//! A new test over real flow log files goes here; tests over hand-written cases go in
//! `tests/flowlog.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use flowvigil::flowlog::{Action, FlowRecord, LogReader, LogStatus, MemorySink, ReadOptions};

mod common;

fn dataset(sub: &str) -> Option<PathBuf> {
    common::shared_dataset(&format!("aws-vpc-real/{sub}"))
}

fn read_all(
    dir: PathBuf,
) -> (
    Vec<FlowRecord>,
    Vec<String>,
    flowvigil::flowlog::ReadSummary,
) {
    let sink = MemorySink::new();
    let mut reader = LogReader::open(&[dir], ReadOptions::default())
        .expect("dataset opens")
        .with_sink(Box::new(sink.clone()));
    let mut rec = FlowRecord::default();
    let mut records = Vec::new();
    let mut enis = Vec::new();
    while reader.next_record(&mut rec).expect("dataset reads") {
        enis.push(
            rec.eni
                .map(|id| reader.interner().name(id).to_string())
                .unwrap_or_default(),
        );
        records.push(rec.clone());
    }
    assert!(sink.messages().is_empty(), "{:?}", sink.messages());
    (records, enis, reader.summary().clone())
}

/// ime-cloud-sec-analyst: two S3-delivered v2 objects with a header each; NOTES.md: 154
/// records (153 `REJECT OK`, 1 NODATA), 3 ENIs with 113/40/1 rows, protocols 6:138 17:11 1:4.
#[test]
fn s3_delivered_v2_objects_match_notes() {
    let Some(dir) = dataset("ime-cloud-sec-analyst") else {
        return;
    };
    let (records, enis, summary) = read_all(dir);
    assert_eq!(records.len(), 154);
    assert_eq!(summary.headers, 2);
    assert_eq!(
        summary.files.len(),
        2,
        "only the .log files, not the csv/md"
    );
    assert_eq!(summary.bad_lines, 0);
    assert_eq!(summary.nodata, 1);
    assert_eq!(summary.formats.len(), 1);
    assert_eq!(summary.formats[0].kind, "v2");
    let reject_ok = records
        .iter()
        .filter(|r| r.action == Some(Action::Reject) && r.log_status == Some(LogStatus::Ok))
        .count();
    assert_eq!(reject_ok, 153);
    let nodata: Vec<&FlowRecord> = records
        .iter()
        .filter(|r| r.log_status == Some(LogStatus::NoData))
        .collect();
    assert_eq!(nodata.len(), 1);
    assert_eq!(nodata[0].action, None);
    assert_eq!(nodata[0].srcaddr, None);

    let mut per_eni: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &enis {
        *per_eni.entry(e.as_str()).or_default() += 1;
    }
    let mut counts: Vec<usize> = per_eni.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(counts, [113, 40, 1]);

    let mut protos: BTreeMap<u8, usize> = BTreeMap::new();
    for r in records.iter().filter_map(|r| r.protocol) {
        *protos.entry(r).or_default() += 1;
    }
    assert_eq!(protos, BTreeMap::from([(1, 4), (6, 138), (17, 11)]));
    // ICMP records carry ports 0.
    assert!(records
        .iter()
        .filter(|r| r.protocol == Some(1))
        .all(|r| r.srcport == Some(0) && r.dstport == Some(0)));
    let dsts: BTreeSet<String> = records
        .iter()
        .filter_map(|r| r.dstaddr.map(|a| a.to_string()))
        .collect();
    assert_eq!(
        dsts,
        BTreeSet::from(["10.0.1.200".to_string(), "10.0.1.208".to_string()])
    );
    let first = records.iter().filter_map(|r| r.start).min();
    let last = records.iter().filter_map(|r| r.end).max();
    // 2025-06-26 18:22:38 .. 19:24:56 UTC.
    assert_eq!(first, Some(1_750_962_158));
    assert_eq!(last, Some(1_750_965_896));
}

/// grafana vpc-flow-logs-analyzer: v5 custom format with pkt-* fields from a NAT gateway ENI;
/// NOTES.md: 6 + 31 records, with NODATA and SKIPDATA rows and pkt-*-aws-service values.
#[test]
fn nat_gateway_v5_files_match_notes() {
    let Some(dir) = dataset("grafana_vpc_flow_logs_analyzer") else {
        return;
    };
    let (records, enis, summary) = read_all(dir);
    assert_eq!(summary.files.len(), 2);
    let mut per_file: Vec<u64> = summary.files.iter().map(|f| f.records).collect();
    per_file.sort_unstable();
    assert_eq!(per_file, [6, 31]);
    assert_eq!(records.len(), 37);
    assert_eq!(summary.headers, 2);
    assert_eq!(summary.bad_lines, 0);
    assert!(summary.nodata >= 1, "{summary:?}");
    assert!(summary.skipdata >= 1, "{summary:?}");
    assert_eq!(summary.formats.len(), 1);
    assert!(summary.formats[0]
        .fields
        .ends_with("pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service"));
    assert!(records
        .iter()
        .all(|r| r.account_id == Some(123_456_789_012)));
    let nat: std::net::IpAddr = "10.63.37.34".parse().unwrap();
    let ok: Vec<&FlowRecord> = records.iter().filter(|r| r.is_ok()).collect();
    assert!(ok
        .iter()
        .all(|r| r.srcaddr == Some(nat) || r.dstaddr == Some(nat)));
    // Through the NAT, the packet addresses differ from the interface's.
    assert!(ok
        .iter()
        .any(|r| r.pkt_srcaddr.is_some() && r.pkt_srcaddr != r.srcaddr));
    let services: BTreeSet<&str> = records
        .iter()
        .flat_map(|r| {
            [
                flowvigil::flowlog::TextField::PktSrcAwsService,
                flowvigil::flowlog::TextField::PktDstAwsService,
            ]
            .into_iter()
            .filter_map(|f| r.text.get(f))
        })
        .collect();
    assert!(!services.is_empty());
    assert!(
        services.iter().all(|s| ["EC2", "AMAZON", "S3"].contains(s)),
        "{services:?}"
    );
    let distinct: BTreeSet<&String> = enis.iter().collect();
    assert_eq!(distinct.len(), 1);
}
