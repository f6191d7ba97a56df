//! Flow logs published to CloudWatch Logs, as they reach files (subscription data through
//! Firehose, gzip members concatenated; the AWS CLI's `filter-log-events` output; a bare array
//! of events): the same records, reports and windows as the same lines in text. The text
//! reader is the oracle.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use flate2::write::GzEncoder;
use flowvigil::flowlog::{LogReader, ReadOptions};
use proptest::prelude::*;
use serde_json::json;

type Read = common::ReadAll;

fn read_source(reader: LogReader) -> Read {
    common::read_all(reader)
}

fn read(path: &Path) -> Read {
    read_source(LogReader::open(&[path.to_path_buf()], ReadOptions::default()).expect("open"))
}

/// Reading `json_path` gives what reading `text_path` gives (reports compared without paths).
fn assert_same(text_path: &Path, json_path: &Path) {
    let t = read(text_path);
    let j = read(json_path);
    assert_eq!(j.error, t.error);
    assert_eq!(j.records, t.records);
    assert_eq!(j.reports_without(json_path), t.reports_without(text_path));
    let (a, b) = (&j.summary, &t.summary);
    assert_eq!(
        (a.lines, a.records, a.bad_lines, a.nodata),
        (b.lines, b.records, b.bad_lines, b.nodata)
    );
    assert!(a.files.iter().all(|f| f.cloudwatch));
}

/// Subscription data as Firehose delivers it: a control message, then data objects of
/// `batch` events each, every object its own gzip member (or plain, concatenated).
fn firehose(lines: &[&str], batch: usize, gzip: bool) -> Vec<u8> {
    let mut objects = vec![json!({
        "messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
        "logStream": "", "subscriptionFilters": [],
        "logEvents": [{"id": "0", "timestamp": 0,
                       "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]
    })];
    for (k, chunk) in lines.chunks(batch.max(1)).enumerate() {
        let events: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| json!({"id": format!("{k}-{i}"), "timestamp": 1_700_000_000_000u64, "message": m}))
            .collect();
        objects.push(json!({
            "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "vpc-flow-logs",
            "logStream": "eni-1235b8ca123456789-all", "subscriptionFilters": ["to-firehose"],
            "logEvents": events
        }));
    }
    let mut out = Vec::new();
    for o in objects {
        let bytes = serde_json::to_vec(&o).expect("json");
        if gzip {
            let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&bytes).expect("gzip");
            out.extend(e.finish().expect("gzip"));
        } else {
            out.extend(bytes);
        }
    }
    out
}

/// A CloudWatch Logs export object: gzip text, each line the event's timestamp and message.
fn export(lines: &[&str]) -> Vec<u8> {
    let mut text = String::new();
    for (i, m) in lines.iter().enumerate() {
        text.push_str(&format!(
            "2026-03-02T00:{:02}:{:02}.{:03}Z {m}\n",
            i / 60 % 60,
            i % 60,
            i % 1000
        ));
    }
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).expect("gzip");
    e.finish().expect("gzip")
}

/// `aws logs filter-log-events` output.
fn cli_output(lines: &[&str]) -> Vec<u8> {
    let events: Vec<_> = lines
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"logStreamName": "eni-1235b8ca123456789-all", "timestamp": 1_700_000_000_000u64 + i as u64,
                             "message": m, "ingestionTime": 1_700_000_001_000u64, "eventId": i.to_string()}))
        .collect();
    serde_json::to_vec_pretty(&json!({
        "events": events,
        "searchedLogStreams": [{"logStreamName": "eni-1235b8ca123456789-all", "searchedCompletely": true}]
    }))
    .expect("json")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn sample_lines() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/flowlog/aws_v2_examples.log");
    std::fs::read_to_string(path)
        .expect("sample")
        .lines()
        .filter(|l| !l.starts_with("version"))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_shape_reads_as_its_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lines = sample_lines();
    // A malformed message: reported with its event's number as the line.
    lines.insert(
        2,
        "2 123456789010 eni-1235b8ca123456789 172.31.16.139 x 1 2 6 1 1 1 2 ACCEPT OK".into(),
    );
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let text = write(dir.path(), "t.log", (lines.join("\n") + "\n").as_bytes());
    for (name, bytes) in [
        ("firehose.gz", firehose(&refs, 3, true)),
        ("firehose-plain", firehose(&refs, 1, false)),
        ("cli.json", cli_output(&refs)),
        ("000000.gz", export(&refs)),
        (
            "array.json",
            serde_json::to_vec(
                &refs
                    .iter()
                    .map(|m| json!({"message": m}))
                    .collect::<Vec<_>>(),
            )
            .expect("json"),
        ),
    ] {
        let p = write(dir.path(), name, &bytes);
        assert_same(&text, &p);
        let got = read(&p);
        assert_eq!(got.summary.bad_lines, 1, "{name}");
        assert!(
            got.reports[0].contains(":3: field `dstaddr`"),
            "{name}: {:?}",
            got.reports
        );
        assert_eq!(got.records.len(), lines.len() - 1, "{name}");
        assert_eq!(got.summary.files[0].gzip, name.ends_with(".gz"));
    }
}

/// A JSON syntax error ends the file with an error that says where, after the records before it.
#[test]
fn broken_json_is_an_error_after_the_records_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = sample_lines();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut bytes = firehose(&refs, 2, false);
    bytes.truncate(bytes.len() - 10);
    let p = write(dir.path(), "cut.json", &bytes);
    let got = read(&p);
    let e = got.error.expect("an error");
    assert!(e.contains("cut.json") && e.contains("line 1 column"), "{e}");
    // Every whole object before the cut was read (the last one is not: it is cut).
    assert_eq!(got.records.len(), (lines.len() - 1) / 2 * 2);
}

/// From standard input (`zcat objects | flowvigil score -`) as from a file.
#[test]
fn json_on_a_stream_reads_as_a_file() {
    let lines = sample_lines();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let bytes = firehose(&refs, 4, true);
    let from_stream = read_source(LogReader::from_read(
        "-",
        Box::new(std::io::Cursor::new(bytes.clone())),
        ReadOptions::default(),
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let from_file = read(&write(dir.path(), "x.gz", &bytes));
    assert_eq!(from_stream.records, from_file.records);
    assert_eq!(from_stream.records.len(), lines.len());
}

/// The binary over a folder of Firehose objects (`*.gz`) and a CLI output file named on the
/// command line (folders are walked for `*.log`, `*.gz`, `*.txt`, `*.parquet` only, so a
/// `manifest.json` beside the logs is not read) writes the same feature vectors as over the
/// same records in text, and `stats` names the inputs.
#[test]
fn features_from_cloudwatch_objects_equal_the_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gen = dir.path().join("gen");
    let st = Command::new(env!("CARGO_BIN_EXE_flowvigil"))
        .args([
            "gen", "--seed", "5", "--enis", "8", "--days", "1", "--format", "v2", "--out",
        ])
        .arg(&gen)
        .status()
        .expect("gen");
    assert!(st.success());
    let mut all = String::new();
    for f in common::files_under(&gen) {
        if f.extension().is_some_and(|e| e == "gz") {
            let mut s = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(&f).expect("open")),
                &mut s,
            )
            .expect("gunzip");
            all.push_str(&s);
        }
    }
    let lines: Vec<&str> = all.lines().filter(|l| !l.starts_with("version")).collect();
    assert!(lines.len() > 1000);
    let cw = dir.path().join("cw");
    std::fs::create_dir_all(cw.join("2026/03/02")).expect("mkdir");
    let half = lines.len() / 2;
    write(
        &cw.join("2026/03/02"),
        "part-1.gz",
        &firehose(&lines[..half], 250, true),
    );
    let events = write(dir.path(), "events.json", &cli_output(&lines[half..]));
    write(
        &cw.join("2026/03/02"),
        "manifest.json",
        b"{\"not\": \"read\"}",
    );
    let text = write(dir.path(), "all.log", (lines.join("\n") + "\n").as_bytes());
    let features = |inputs: &[&Path], out: &str| {
        let out = dir.path().join(out);
        let st = Command::new(env!("CARGO_BIN_EXE_flowvigil"))
            .arg("features")
            .args(inputs)
            .arg("--out")
            .arg(&out)
            .status()
            .expect("features");
        assert!(st.success());
        std::fs::read_to_string(out).expect("csv")
    };
    let a = features(&[&text], "a.csv");
    assert!(a.lines().count() > 50);
    let b = features(&[&cw, &events], "b.csv");
    assert!(a == b, "the feature vectors differ");
    let out = Command::new(env!("CARGO_BIN_EXE_flowvigil"))
        .arg("stats")
        .arg(&cw)
        .arg(&events)
        .output()
        .expect("stats");
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("2 file(s) (1 gzip, 2 CloudWatch Logs)"), "{s}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any batching into objects, gzip or not, any shape (an export too): the records of the
/// text, in order.
    #[test]
    fn any_batching_reads_as_the_text(
        batch in 1usize..9,
        gzip in any::<bool>(),
        shape in 0u8..4,
        keep in proptest::collection::vec(any::<bool>(), 7),
    ) {
        let lines = sample_lines();
        let picked: Vec<&str> = lines.iter().zip(keep.iter().cycle()).filter(|(_, k)| **k).map(|(l, _)| l.as_str()).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let text = write(dir.path(), "t.log", (picked.join("\n") + if picked.is_empty() { "" } else { "\n" }).as_bytes());
        let bytes = match shape {
            0 => firehose(&picked, batch, gzip),
            1 => cli_output(&picked),
            2 => export(&picked),
            _ => serde_json::to_vec(&picked.iter().map(|m| json!({"message": m})).collect::<Vec<_>>()).expect("json"),
        };
        let p = write(dir.path(), "x.json", &bytes);
        let t = read(&text);
        let j = read(&p);
        prop_assert_eq!(j.error, None);
        prop_assert_eq!(&j.records, &t.records);
        prop_assert_eq!(j.records.len(), picked.len());
    }
}
