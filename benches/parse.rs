//! Reader throughput (records/s): plain v2, gzip v2, and a v5 custom format, next to two
//! peers that bound what is possible: splitting lines into fields without parsing them, and
//! flate2 decompression alone.
//!
//! Run: `cargo bench --bench parse` (data is generated with a fixed seed outside the timings).

use std::hint::black_box;
use std::io::{Read, Write};
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::write::GzEncoder;
use flate2::Compression;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use flowvigil::flowlog::{
    parse_line, write_header, write_record, Action, Field, FlowDirection, FlowRecord, Format,
    Interner, IpType, LogReader, LogStatus, NullSink, ReadOptions, TcpFlags, TextField,
    DEFAULT_V2_FIELDS, V5_FIELDS,
};

const RECORDS: usize = 200_000;
const ENIS: u64 = 2_000;

/// Realistic records: a pool of ENIs, private and public addresses, mostly TCP, some NODATA.
fn records(seed: u64) -> (Vec<FlowRecord>, Interner) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut interner = Interner::new();
    let enis: Vec<u32> = (0..ENIS)
        .map(|i| interner.intern(format!("eni-{:017x}", 0x0abc_0000_0000u64 + i * 7919).as_bytes()))
        .collect();
    let mut out = Vec::with_capacity(RECORDS);
    let mut t = 1_700_000_000u64;
    for _ in 0..RECORDS {
        let r = rng.next_u64();
        t += r % 3;
        let mut rec = FlowRecord {
            version: Some(5),
            account_id: Some(123_456_789_012),
            eni: Some(enis[(r >> 8) as usize % enis.len()]),
            srcaddr: Some(std::net::Ipv4Addr::from(0x0a00_0000 | (r >> 20) as u32 & 0xffff).into()),
            dstaddr: Some(std::net::Ipv4Addr::from((r >> 32) as u32).into()),
            srcport: Some((r >> 16) as u16),
            dstport: Some([443, 80, 22, 53, 8080][(r >> 40) as usize % 5]),
            protocol: Some([6, 6, 6, 17, 1][(r >> 44) as usize % 5]),
            packets: Some(1 + (r >> 48) % 500),
            bytes: Some(40 + (r >> 24) % 1_000_000),
            start: Some(t),
            end: Some(t + 60),
            action: Some(if r % 7 == 0 {
                Action::Reject
            } else {
                Action::Accept
            }),
            log_status: Some(LogStatus::Ok),
            tcp_flags: Some(TcpFlags((r >> 50) as u16 & 0x1f)),
            ip_type: Some(IpType::Ipv4),
            flow_direction: Some(if r & 1 == 0 {
                FlowDirection::Ingress
            } else {
                FlowDirection::Egress
            }),
            traffic_path: Some(1 + (r >> 56) as u8 % 8),
            ..FlowRecord::default()
        };
        rec.pkt_srcaddr = rec.srcaddr;
        rec.pkt_dstaddr = rec.dstaddr;
        rec.text.set(TextField::VpcId, b"vpc-0a1b2c3d4e5f60718");
        rec.text
            .set(TextField::SubnetId, b"subnet-0a1b2c3d4e5f60718");
        rec.text.set(TextField::InstanceId, b"i-0a1b2c3d4e5f60718");
        rec.text.set(TextField::Region, b"us-east-1");
        rec.text.set(TextField::AzId, b"use1-az1");
        if r % 97 == 0 {
            rec.clear();
            rec.version = Some(5);
            rec.eni = Some(enis[0]);
            rec.start = Some(t);
            rec.end = Some(t + 60);
            rec.log_status = Some(LogStatus::NoData);
        }
        out.push(rec);
    }
    (out, interner)
}

fn text(recs: &[FlowRecord], interner: &Interner, fields: &[Field], header: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(recs.len() * 200);
    if header {
        write_header(fields, &mut out);
    }
    for r in recs {
        write_record(r, fields, interner, &mut out);
    }
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    // Two members, like concatenated S3 objects.
    let (a, b) = data.split_at(data.len() / 2);
    let mut out = Vec::new();
    for part in [a, b] {
        let mut enc = GzEncoder::new(Vec::new(), Compression::new(6));
        enc.write_all(part).expect("gzip in memory");
        out.extend(enc.finish().expect("gzip in memory"));
    }
    out
}

fn temp_file(dir: &tempfile::TempDir, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, data).expect("bench temp file");
    path
}

fn read_all(path: &PathBuf, opts: ReadOptions) -> u64 {
    let mut reader = LogReader::open(std::slice::from_ref(path), opts)
        .expect("open")
        .with_sink(Box::new(NullSink));
    let mut rec = FlowRecord::default();
    let mut n = 0u64;
    while reader.next_record(&mut rec).expect("read") {
        n += rec.bytes.unwrap_or(0) & 1;
    }
    assert_eq!(reader.summary().bad_lines, 0);
    n
}

fn bench(c: &mut Criterion) {
    let (recs, interner) = records(42);
    let v2 = text(&recs, &interner, &DEFAULT_V2_FIELDS, false);
    let v2_gz = gzip(&v2);
    let v5 = text(&recs, &interner, &V5_FIELDS, true);
    let dir = tempfile::tempdir().expect("temp dir");
    let v2_path = temp_file(&dir, "v2.log", &v2);
    let v2_gz_path = temp_file(&dir, "v2.log.gz", &v2_gz);
    let v5_path = temp_file(&dir, "v5.log", &v5);

    let mut g = c.benchmark_group("reader");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.sample_size(20);

    g.bench_function("split_fields_only_v2", |b| {
        b.iter(|| {
            let mut fields = 0usize;
            for line in v2.split(|&c| c == b'\n') {
                fields += line.split(|&c| c == b' ').filter(|t| !t.is_empty()).count();
            }
            black_box(fields)
        })
    });
    g.bench_function("parse_line_v2_in_memory", |b| {
        let format = Format::v2();
        b.iter(|| {
            let mut interner = Interner::new();
            let mut rec = FlowRecord::default();
            let mut ok = 0usize;
            for (i, line) in v2.split(|&c| c == b'\n').enumerate() {
                ok += parse_line(line, i as u64, &format, &mut interner, 1 << 20, &mut rec).is_ok()
                    as usize;
            }
            black_box(ok)
        })
    });
    g.bench_function("reader_plain_v2_file", |b| {
        b.iter(|| black_box(read_all(&v2_path, ReadOptions::default())))
    });
    g.bench_function("reader_v5_custom_header_file", |b| {
        b.iter(|| black_box(read_all(&v5_path, ReadOptions::default())))
    });
    g.bench_function("gunzip_only", |b| {
        b.iter(|| {
            let mut dec = flate2::read::MultiGzDecoder::new(&v2_gz[..]);
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0usize;
            loop {
                match dec.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
            assert_eq!(total, v2.len());
            black_box(total)
        })
    });
    g.bench_function("reader_gzip_v2_file", |b| {
        b.iter(|| black_box(read_all(&v2_gz_path, ReadOptions::default())))
    });
    g.bench_function("reader_gzip_v2_file_one_thread", |b| {
        let opts = ReadOptions {
            background_gzip: false,
            ..ReadOptions::default()
        };
        b.iter(|| black_box(read_all(&v2_gz_path, opts.clone())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
