//! Flow logs in Apache Parquet (AWS's `FileFormat=parquet`): the same records, reports and
//! windows as the same logs in text, whatever the column types, order, nulls, row groups and
//! codec; bad values reported by row; corrupt files an error, never a panic.
//!
//! The Parquet files are written here, from text, with the `parquet` crate's writer: AWS's
//! column names (`account_id`), nulls for `-`, integers as `INT32` or `INT64`, the rest as
//! strings. The text reader is the oracle.
#![cfg(feature = "parquet")]

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

mod common;

use flowvigil::flowlog::{FlowRecord, FlowlogError, LogReader, ReadOptions};
use parquet::basic::{Compression, GzipLevel};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use proptest::prelude::*;

/// Fields AWS's Parquet schema stores as integers (the others are strings).
const INTEGER_FIELDS: [&str; 10] = [
    "version",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "tcp-flags",
    "traffic-path",
];

/// How a test writes its Parquet file.
#[derive(Clone, Debug)]
struct Layout {
    /// Rows per row group.
    group_rows: usize,
    /// Integers as INT32 where they fit (else INT64).
    int32: bool,
    compression: Compression,
    /// Columns declared REQUIRED when they hold no null.
    required: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            group_rows: 1000,
            int32: false,
            compression: Compression::GZIP(GzipLevel::default()),
            required: false,
        }
    }
}

enum Col {
    Int {
        values: Vec<i64>,
        defs: Vec<i16>,
        int32: bool,
    },
    Str {
        values: Vec<ByteArray>,
        defs: Vec<i16>,
    },
}

/// Writes `text` (one header line, then lines of that format, each with every field) as a
/// Parquet file at `path`.
fn text_to_parquet(text: &str, path: &Path, layout: &Layout) {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(' ').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(' ').collect()).collect();
    for r in &rows {
        assert_eq!(r.len(), header.len(), "every line has every field: {r:?}");
    }
    let mut cols = Vec::new();
    let mut schema = String::from("message flow_log {\n");
    for (i, name) in header.iter().enumerate() {
        let vals: Vec<&str> = rows.iter().map(|r| r[i]).collect();
        let nulls = vals.contains(&"-");
        let rep = if layout.required && !nulls {
            "REQUIRED"
        } else {
            "OPTIONAL"
        };
        let col_name = name.replace('-', "_");
        let present: Vec<&str> = vals.iter().copied().filter(|v| *v != "-").collect();
        let defs: Vec<i16> = vals.iter().map(|v| i16::from(*v != "-")).collect();
        let ints: Option<Vec<i64>> = present.iter().map(|v| v.parse::<i64>().ok()).collect();
        match ints {
            Some(values) if INTEGER_FIELDS.contains(name) => {
                let int32 = layout.int32 && values.iter().all(|&v| i32::try_from(v).is_ok());
                let ty = if int32 { "INT32" } else { "INT64" };
                schema.push_str(&format!("  {rep} {ty} {col_name};\n"));
                cols.push(Col::Int {
                    values,
                    defs,
                    int32,
                });
            }
            _ => {
                schema.push_str(&format!("  {rep} BYTE_ARRAY {col_name} (UTF8);\n"));
                cols.push(Col::Str {
                    values: present.iter().map(|v| ByteArray::from(*v)).collect(),
                    defs,
                });
            }
        }
    }
    schema.push('}');
    write_columns(&schema, cols, rows.len(), path, layout);
}

fn write_columns(schema: &str, cols: Vec<Col>, n: usize, path: &Path, layout: &Layout) {
    let schema = Arc::new(parse_message_type(schema).expect("schema"));
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(layout.compression)
            .set_max_row_group_row_count(Some(layout.group_rows.max(1)))
            .build(),
    );
    let file = File::create(path).expect("create");
    let mut writer = SerializedFileWriter::new(file, schema, props).expect("writer");
    // Row groups of `group_rows` rows: each column's slice of values and levels.
    let mut starts = vec![0usize; cols.len()];
    let mut row = 0;
    while row < n || (n == 0 && row == 0) {
        let end = (row + layout.group_rows.max(1)).min(n);
        let mut group = writer.next_row_group().expect("row group");
        for (c, start) in cols.iter().zip(starts.iter_mut()) {
            let mut col = group.next_column().expect("column").expect("a column");
            match c {
                Col::Int {
                    values,
                    defs,
                    int32,
                } => {
                    let d = &defs[row..end];
                    let k = d.iter().filter(|&&x| x == 1).count();
                    let v = &values[*start..*start + k];
                    if *int32 {
                        let v32: Vec<i32> = v.iter().map(|&x| x as i32).collect();
                        col.typed::<Int32Type>()
                            .write_batch(&v32, Some(d), None)
                            .expect("write");
                    } else {
                        col.typed::<Int64Type>()
                            .write_batch(v, Some(d), None)
                            .expect("write");
                    }
                    *start += k;
                }
                Col::Str { values, defs } => {
                    let d = &defs[row..end];
                    let k = d.iter().filter(|&&x| x == 1).count();
                    col.typed::<ByteArrayType>()
                        .write_batch(&values[*start..*start + k], Some(d), None)
                        .expect("write");
                    *start += k;
                }
            }
            col.close().expect("close column");
        }
        group.close().expect("close row group");
        row = end;
        if n == 0 {
            break;
        }
    }
    writer.close().expect("close file");
}

type Read = common::ReadAll;

fn read(path: &Path, strict: bool) -> Read {
    let opts = ReadOptions {
        strict,
        ..ReadOptions::default()
    };
    common::read_all(LogReader::open(&[path.to_path_buf()], opts).expect("open"))
}

/// The text's reading and the Parquet file's agree: records, reports (the path aside) and
/// counts.
fn assert_same(text_path: &Path, pq_path: &Path, strict: bool) {
    let t = read(text_path, strict);
    let p = read(pq_path, strict);
    assert_eq!(
        p.error.is_some(),
        t.error.is_some(),
        "{:?} {:?}",
        p.error,
        t.error
    );
    assert_eq!(p.records.len(), t.records.len());
    for (i, (a, b)) in p.records.iter().zip(&t.records).enumerate() {
        assert_eq!(a, b, "record {i}");
    }
    assert_eq!(p.reports_without(pq_path), t.reports_without(text_path));
    let (ps, ts) = (&p.summary, &t.summary);
    assert_eq!(
        (ps.lines, ps.records, ps.bad_lines, ps.headers),
        (ts.lines, ts.records, ts.bad_lines, ts.headers)
    );
    assert!(ps.files.iter().all(|f| f.parquet && !f.gzip));
}

fn sample(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/flowlog")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Keeps the header line and the lines with every field (the Parquet file has a value or a
/// null in every column of every row).
fn whole_lines(text: &str) -> String {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().expect("header");
    let n = header.split(' ').count();
    let mut out = format!("{header}\n");
    for l in lines {
        if l.split(' ').count() == n && !l.split(' ').any(str::is_empty) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// `n` lines of every v5 field, varied: IPv4 and IPv6, `-` in optional fields, NODATA rows,
/// both directions, AWS-service names.
fn v5_text(n: usize) -> String {
    let mut out = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes \
         start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr \
         pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service \
         pkt-dst-aws-service flow-direction traffic-path\n",
    );
    for i in 0..n {
        let eni = format!("eni-{:017x}", i % 7);
        if i % 11 == 5 {
            out.push_str(&format!(
                "5 123456789012 {eni} - - - - - - - {} {} - NODATA - - - - - - - - - - - - - - -\n",
                1_700_000_000 + i,
                1_700_000_060 + i
            ));
            continue;
        }
        let (src, dst, ty) = if i % 5 == 0 {
            (
                format!("2001:db8::{:x}", i),
                "2001:db8::1".to_string(),
                "IPv6",
            )
        } else {
            (
                format!("10.0.{}.{}", i / 250 % 250, i % 250),
                "52.95.110.1".to_string(),
                "IPv4",
            )
        };
        let svc = ["-", "S3", "AMAZON", "EC2"][i % 4];
        let dir = if i % 3 == 0 { "ingress" } else { "egress" };
        let path = if i % 4 == 0 {
            "-".to_string()
        } else {
            (i % 8 + 1).to_string()
        };
        out.push_str(&format!(
            "5 123456789012 {eni} {src} {dst} {} {} {} {} {} {} {} {} OK vpc-0a1b2c3d subnet-{:x} \
             i-0123{:04x} {} {ty} {src} {dst} us-east-1 use1-az{} - - {svc} - {dir} {path}\n",
            40_000 + i % 20_000,
            [443, 22, 53, 3389][i % 4],
            [6, 17, 1][i % 3],
            i % 90 + 1,
            (i * 137) % 1_000_000,
            1_700_000_000 + i,
            1_700_000_060 + i,
            ["ACCEPT", "REJECT"][i % 2],
            i % 3,
            i % 9,
            [2, 18, 19, 1][i % 4],
            i % 6 + 1,
        ));
    }
    out
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn aws_samples_read_the_same_from_parquet() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in [
        "aws_v3_nat_gateway.log",
        "aws_v3_tcp_flags.log",
        "aws_v5_service_path.log",
        "aws_v7_ecs.log",
        "aws_v8_reject_reason.log",
        "tgw_v6.log",
    ] {
        let text = whole_lines(&sample(name));
        assert!(text.lines().count() > 2, "{name}: too few whole lines");
        let t = write(dir.path(), name, &text);
        for (k, layout) in [
            Layout::default(),
            Layout {
                group_rows: 1,
                int32: true,
                compression: Compression::SNAPPY,
                required: true,
            },
            Layout {
                group_rows: 3,
                compression: Compression::UNCOMPRESSED,
                ..Layout::default()
            },
        ]
        .iter()
        .enumerate()
        {
            let p = dir.path().join(format!("{name}.{k}.parquet"));
            text_to_parquet(&text, &p, layout);
            assert_same(&t, &p, false);
            // Transit Gateway logs are counted and skipped by the text reader too.
            let got = read(&p, false);
            assert_eq!(got.records.is_empty(), name.starts_with("tgw"), "{name}");
        }
    }
}

/// More rows than a batch, over row groups that do not divide it: nothing lost, nothing
/// doubled, in order.
#[test]
fn rows_across_batches_and_row_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    let n = 10_000;
    for i in 0..n {
        let (action, status) = if i % 97 == 0 {
            ("-", "NODATA")
        } else {
            ("ACCEPT", "OK")
        };
        let port = if i % 13 == 0 {
            "-".to_string()
        } else {
            (i % 65_536).to_string()
        };
        text.push_str(&format!(
            "2 123456789012 eni-{:017x} 10.0.{}.{} 192.168.1.{} {port} 443 6 {} {} {} {} {action} {status}\n",
            i % 37,
            i / 256 % 256,
            i % 256,
            i % 200,
            i % 50 + 1,
            i * 7,
            1_700_000_000 + i,
            1_700_000_060 + i
        ));
    }
    let t = write(dir.path(), "big.log", &text);
    let p = dir.path().join("big.log.parquet");
    text_to_parquet(
        &text,
        &p,
        &Layout {
            group_rows: 3_001,
            ..Layout::default()
        },
    );
    assert_same(&t, &p, true);
    assert_eq!(read(&p, true).records.len(), n);
}

/// Values a text field cannot hold (negative numbers, spaces, empty strings, control bytes)
/// come out as malformed lines, reported with the file, the row's line (row + 1) and the
/// field; the other rows are read; with `strict`, the first stops the run.
#[test]
fn bad_values_are_reported_by_row_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bad.parquet");
    let schema = "message m {
        REQUIRED BYTE_ARRAY interface_id (UTF8);
        OPTIONAL INT32 srcport;
        OPTIONAL BYTE_ARRAY action (UTF8);
        REQUIRED INT64 start;
    }";
    let enis = ["eni-a", "eni b", "eni-c", "", "eni-\u{1}", "eni-f"];
    let ports: [Option<i64>; 6] = [Some(80), Some(81), Some(-5), Some(82), Some(83), None];
    let actions = ["ACCEPT", "ACCEPT", "REJECT", "ACCEPT", "ACCEPT", "ACCEPT"];
    let cols = vec![
        Col::Str {
            values: enis.iter().map(|s| ByteArray::from(*s)).collect(),
            defs: vec![1; 6],
        },
        Col::Int {
            values: ports.iter().flatten().copied().collect(),
            defs: ports.iter().map(|p| i16::from(p.is_some())).collect(),
            int32: true,
        },
        Col::Str {
            values: actions.iter().map(|s| ByteArray::from(*s)).collect(),
            defs: vec![1; 6],
        },
        Col::Int {
            values: (0..6).map(|i| 1_700_000_000 + i).collect(),
            defs: vec![1; 6],
            int32: false,
        },
    ];
    write_columns(schema, cols, 6, &p, &Layout::default());
    let got = read(&p, false);
    let names: Vec<Option<String>> = got.records.iter().map(|(_, n)| n.clone()).collect();
    assert_eq!(
        names,
        [Some("eni-a".to_string()), Some("eni-f".to_string())],
        "rows 1 and 6 are whole"
    );
    assert_eq!(got.records[1].0.srcport, None, "a null is `-`: absent");
    assert_eq!(got.summary.bad_lines, 4);
    let shown = p.display().to_string();
    let expect = [
        (3, "interface-id"),
        (4, "srcport"),
        (5, "interface-id"),
        (6, "interface-id"),
    ];
    assert_eq!(got.reports.len(), 4, "{:?}", got.reports);
    for (report, (line, field)) in got.reports.iter().zip(expect) {
        assert!(
            report.starts_with(&format!("{shown}:{line}:")) && report.contains(field),
            "{report}"
        );
    }
    let strict = read(&p, true);
    let err = strict.error.expect("strict stops");
    assert!(err.contains(":3:") && err.contains("interface-id"), "{err}");
    assert_eq!(strict.records.len(), 1);
}

/// `start` and `end` stored as timestamps (as a converter may write them, here in
/// milliseconds and microseconds) are read in seconds.
#[test]
fn timestamps_are_read_in_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("ts.parquet");
    let schema = "message m {
        REQUIRED BYTE_ARRAY interface_id (UTF8);
        REQUIRED INT64 start (TIMESTAMP(MILLIS,true));
        REQUIRED INT64 end (TIMESTAMP(MICROS,true));
    }";
    let starts = [1_700_000_000_999i64, 1_700_000_060_000];
    let ends = [1_700_000_059_999_999i64, 1_700_000_120_000_001];
    let cols = vec![
        Col::Str {
            values: vec![ByteArray::from("eni-a"), ByteArray::from("eni-b")],
            defs: vec![1; 2],
        },
        Col::Int {
            values: starts.to_vec(),
            defs: vec![1; 2],
            int32: false,
        },
        Col::Int {
            values: ends.to_vec(),
            defs: vec![1; 2],
            int32: false,
        },
    ];
    write_columns(schema, cols, 2, &p, &Layout::default());
    let got = read(&p, true);
    let times: Vec<(Option<u64>, Option<u64>)> =
        got.records.iter().map(|(r, _)| (r.start, r.end)).collect();
    assert_eq!(
        times,
        [
            (Some(1_700_000_000), Some(1_700_000_059)),
            (Some(1_700_000_060), Some(1_700_000_120))
        ]
    );
}

/// Files the reader cannot read as flow logs: an error naming the problem, never a panic.
#[test]
fn unreadable_parquet_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open_err = |p: &Path| -> String {
        let r = read(p, false);
        assert!(r.records.is_empty());
        r.error.expect("an error")
    };
    // A floating-point column.
    let p = dir.path().join("float.parquet");
    let schema = Arc::new(
        parse_message_type("message m { REQUIRED INT64 start; REQUIRED DOUBLE bytes; }")
            .expect("schema"),
    );
    let w = SerializedFileWriter::new(
        File::create(&p).expect("create"),
        schema,
        Arc::new(WriterProperties::builder().build()),
    )
    .expect("writer");
    w.close().expect("close");
    let e = open_err(&p);
    assert!(e.contains("`bytes`") && e.contains("DOUBLE"), "{e}");
    // No flow-log column.
    let p = dir.path().join("other.parquet");
    write_columns(
        "message m { REQUIRED INT64 temperature; }",
        vec![Col::Int {
            values: vec![20],
            defs: vec![1],
            int32: false,
        }],
        1,
        &p,
        &Layout::default(),
    );
    let e = open_err(&p);
    assert!(e.contains("no column") && e.contains("temperature"), "{e}");
    // Truncated: the footer is gone.
    let text = whole_lines(&sample("aws_v5_service_path.log"));
    let good = dir.path().join("good.parquet");
    text_to_parquet(&text, &good, &Layout::default());
    let bytes = std::fs::read(&good).expect("read");
    let p = write_bytes(dir.path(), "cut.parquet", &bytes[..bytes.len() / 2]);
    let e = open_err(&p);
    assert!(e.contains("Parquet"), "{e}");
}

fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    File::create(&p)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write");
    p
}

/// A file from another writer (DuckDB, Snappy pages, dictionary-encoded strings) reads as its
/// text; one with zstd pages is an error that names the codec and what to do.
#[test]
fn files_from_another_writer() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/parquet");
    assert_same(
        &data.join("duckdb-snappy.log"),
        &data.join("duckdb-snappy.log.parquet"),
        true,
    );
    let got = read(&data.join("duckdb-snappy.log.parquet"), true);
    assert_eq!(got.records.len(), 20);
    let e = read(&data.join("zstd.log.parquet"), false)
        .error
        .expect("zstd is an error");
    assert!(
        e.contains("compressed with zstd") && e.contains("rewrite"),
        "{e}"
    );
}

/// A stream's checkpoint in a Parquet file (`score --follow`) resumes where it stopped: the
/// text of a file is the same at every read, so its line position holds.
#[test]
fn resume_in_a_parquet_file_continues_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = v5_text(40);
    let p = dir.path().join("r.log.parquet");
    text_to_parquet(
        &text,
        &p,
        &Layout {
            group_rows: 2,
            ..Layout::default()
        },
    );
    let all = read(&p, true).records;
    assert_eq!(
        all.len(),
        40,
        "every generated line is a record (strict read)"
    );
    for k in [0, 1, 3, all.len() - 1] {
        let mut first =
            LogReader::open(std::slice::from_ref(&p), ReadOptions::default()).expect("open");
        let mut rec = FlowRecord::default();
        for _ in 0..k {
            assert!(first.next_record(&mut rec).expect("read"));
        }
        let pos = first.position();
        let mut second =
            LogReader::open(std::slice::from_ref(&p), ReadOptions::default()).expect("open");
        second.resume_at(&pos).expect("resume");
        let mut rest = Vec::new();
        while second.next_record(&mut rec).expect("read") {
            let mut r = rec.clone();
            let name = r.eni.map(|id| second.interner().name(id).to_string());
            r.eni = None;
            rest.push((r, name));
        }
        assert_eq!(rest.as_slice(), &all[k..], "resumed after {k}");
    }
}

/// Parquet on standard input cannot be read (its index is at the end): an error saying so.
#[test]
fn parquet_from_a_stream_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = whole_lines(&sample("aws_v3_tcp_flags.log"));
    let p = dir.path().join("x.parquet");
    text_to_parquet(&text, &p, &Layout::default());
    let bytes = std::fs::read(&p).expect("read");
    let mut reader = LogReader::from_read(
        "-",
        Box::new(std::io::Cursor::new(bytes)),
        ReadOptions::default(),
    );
    let mut rec = FlowRecord::default();
    match reader.next_record(&mut rec) {
        Err(FlowlogError::Io { error, .. }) => {
            assert!(
                error.to_string().contains("give the file's path"),
                "{error}"
            )
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any subset of a sample's columns, in any order, with any row-group size, integer width
    /// and codec, reads from Parquet exactly as from text.
    #[test]
    fn any_columns_order_and_layout_read_as_text(
        pick in proptest::sample::subsequence((0..29usize).collect::<Vec<_>>(), 1..=29).prop_shuffle(),
        rows in 0usize..60,
        group_rows in 1usize..40,
        int32 in any::<bool>(),
        required in any::<bool>(),
        codec in 0u8..3,
    ) {
        let text = v5_text(rows);
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
        let pick: Vec<usize> = pick.into_iter().filter(|&i| i < header.len()).collect();
        prop_assume!(!pick.is_empty());
        let project = |l: &str| -> String {
            let f: Vec<&str> = l.split(' ').collect();
            pick.iter().map(|&i| f[i]).collect::<Vec<_>>().join(" ")
        };
        let mut sub = project(&header.join(" "));
        sub.push('\n');
        for l in lines {
            sub.push_str(&project(l));
            sub.push('\n');
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let t = write(dir.path(), "sub.log", &sub);
        let p = dir.path().join("sub.parquet");
        let compression = [Compression::GZIP(GzipLevel::default()), Compression::SNAPPY, Compression::UNCOMPRESSED][codec as usize];
        text_to_parquet(&sub, &p, &Layout { group_rows, int32, compression, required });
        assert_same(&t, &p, false);
    }

    /// Corrupted bytes anywhere in a Parquet file: an error or bad lines, never a panic, and
    /// every record read is counted.
    #[test]
    fn corrupt_parquet_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        codec in 0u8..3,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = v5_text(30);
        let p = dir.path().join("x.parquet");
        let compression = [Compression::GZIP(GzipLevel::default()), Compression::SNAPPY, Compression::UNCOMPRESSED][codec as usize];
        text_to_parquet(&text, &p, &Layout { group_rows: 2, compression, ..Layout::default() });
        let mut bytes = std::fs::read(&p).expect("read");
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let q = write_bytes(dir.path(), "y.parquet", &bytes);
        let got = read(&q, false);
        prop_assert_eq!(got.summary.records, got.records.len() as u64);
    }
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowvigil"))
}

/// The binary on a folder tree of Parquet files (AWS's `*.log.parquet` names) writes the same
/// feature vectors as on the same logs in gzip text, and `stats` counts the Parquet inputs.
#[test]
fn features_from_a_parquet_tree_equal_the_text_trees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gen = dir.path().join("gen");
    let st = bin()
        .args(["gen", "--seed", "3", "--enis", "12", "--days", "1", "--out"])
        .arg(&gen)
        .status()
        .expect("gen");
    assert!(st.success());
    let pq_root = dir.path().join("pq");
    let mut n = 0;
    for f in common::files_under(&gen) {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let Some(stem) = name.strip_suffix(".log.gz") else {
            continue;
        };
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::MultiGzDecoder::new(File::open(&f).expect("open")),
            &mut text,
        )
        .expect("gunzip");
        let rel = f
            .parent()
            .and_then(|p| p.strip_prefix(&gen).ok())
            .expect("rel");
        let out_dir = pq_root.join(rel);
        std::fs::create_dir_all(&out_dir).expect("mkdir");
        text_to_parquet(
            &text,
            &out_dir.join(format!("{stem}.log.parquet")),
            &Layout::default(),
        );
        n += 1;
    }
    assert!(n > 10, "{n} files");
    let features = |input: &Path, out: &Path| {
        let st = bin()
            .arg("features")
            .arg(input)
            .arg("--out")
            .arg(out)
            .status()
            .expect("features");
        assert!(st.success());
        std::fs::read_to_string(out).expect("read")
    };
    let a = features(&gen, &dir.path().join("a.csv"));
    let b = features(&pq_root, &dir.path().join("b.csv"));
    assert!(a.lines().count() > 100);
    assert_eq!(a, b);
    let out = bin().arg("stats").arg(&pq_root).output().expect("stats");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{n} file(s) (0 gzip, {n} Parquet)")),
        "{text}"
    );
}
