//! The vectorised (AVX-512) parse of default-v2 lines against the scalar parse, end to end: the
//! `flowvigil` binary run with and without `FLOWVIGIL_NO_AVX512` gives byte-identical outputs
//! (`stats` text and JSON with its bad-line reports, `features` CSVs on one and two threads, the
//! late-record side file) over a generated file that mixes usual lines with every shape the
//! vectorised parse declines, over the shipped sample, and over the real AWS files in
//! `../shared/datasets/aws-vpc-real` (skipped with a notice when absent).
//!
//! On a CPU without AVX-512 VBMI2 both runs take the scalar parse: the tests then still pass,
//! with a notice (`src/flowlog/fast/avx512.rs`'s own tests fail instead when
//! `FLOWVIGIL_REQUIRE_AVX512` is set).

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    let on = std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vbmi")
        && std::arch::is_x86_feature_detected!("avx512vbmi2");
    #[cfg(not(target_arch = "x86_64"))]
    let on = false;
    if !on {
        println!("notice: no AVX-512 VBMI2 here: both runs take the scalar parse");
    }
    on
}

/// stdout, stderr and exit code of `flowvigil ARGS`, with the vectorised parse on or off.
fn run(args: &[&str], vector: bool) -> (Vec<u8>, Vec<u8>, Option<i32>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowvigil"));
    cmd.args(args);
    if vector {
        cmd.env_remove("FLOWVIGIL_NO_AVX512");
    } else {
        cmd.env("FLOWVIGIL_NO_AVX512", "1");
    }
    let out = cmd.output().expect("flowvigil runs");
    (out.stdout, out.stderr, out.status.code())
}

/// Runs `stats` (text and JSON) and `features` (one and two threads, with a late-record side
/// file) over `input` with the vectorised parse on and off, and asserts identical outputs.
/// Returns the records `stats --json` counted.
fn same_both_ways(input: &Path, dir: &Path) -> u64 {
    let input = input.to_str().expect("UTF-8 path");
    let mut records = 0;
    for json in [false, true] {
        let mut args = vec!["stats", input];
        if json {
            args.push("--json");
        }
        let on = run(&args, true);
        let off = run(&args, false);
        assert_eq!(on, off, "stats {args:?}");
        if json {
            let v: serde_json::Value = serde_json::from_slice(&on.0).expect("stats JSON");
            records = v["records"].as_u64().unwrap_or(0);
        }
    }
    for threads in ["1", "2"] {
        let mut outs = Vec::new();
        for vector in [true, false] {
            let tag = format!("{threads}-{vector}");
            let csv = dir.join(format!("f{tag}.csv"));
            let late = dir.join(format!("late{tag}.log"));
            let (_, err, code) = run(
                &[
                    "features",
                    input,
                    "--out",
                    csv.to_str().expect("UTF-8 path"),
                    "--threads",
                    threads,
                    "--allowed-lateness-secs",
                    "60",
                    "--late-out",
                    late.to_str().expect("UTF-8 path"),
                ],
                vector,
            );
            let read = |p: &Path| std::fs::read(p).unwrap_or_default();
            outs.push((err, code, read(&csv), read(&late)));
        }
        assert_eq!(outs[0], outs[1], "features --threads {threads}");
        assert!(!outs[0].2.is_empty(), "features wrote rows");
    }
    records
}

/// A v2 file (with a header) of `n` lines: mostly usual lines, and every kind of line the
/// vectorised parse declines or must not take, in a fixed pseudo-random mix.
fn mixed_v2(n: usize) -> String {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut text = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets \
         bytes start end action log-status\n",
    );
    for i in 0..n {
        let r = next();
        let eni = format!("eni-{:017x}", r % 40);
        let src = format!("10.{}.{}.{}", r >> 8 & 255, r >> 16 & 255, r >> 24 & 255);
        let dst = format!("172.16.{}.{}", r >> 32 & 255, r >> 40 & 255);
        let start = 1_700_000_000 + (i as u64) * 3 + (r >> 48 & 63);
        let end = start + (r >> 20 & 15);
        let action = if r & 1 == 0 { "ACCEPT" } else { "REJECT" };
        let usual = format!(
            "2 123456789012 {eni} {src} {dst} {} {} 6 {} {} {start} {end} {action} OK",
            r >> 4 & 0xffff,
            443,
            r >> 12 & 31,
            r >> 24 & 0xf_ffff,
        );
        let line = match next() % 40 {
            0 => format!("2 123456789012 {eni} - - - - - - - {start} {end} - NODATA"),
            1 => format!("2 123456789012 {eni} - - - - - - - {start} {end} - SKIPDATA"),
            2 => usual.replace(&src, "2001:db8::17"),
            3 => format!("{usual}\r"),
            4 => usual.replace(" 6 ", " 256 "),
            5 => usual.replace(&dst, "172.16.300.1"),
            6 => usual.replace(&dst, "172.16.0001.1"),
            7 => usual.replace(" 443 ", " 65536 "),
            8 => usual.replace(" 443 ", " 000443 "),
            9 => usual.replace(" OK", " OK extra"),
            10 => usual.replace(' ', "  "),
            11 => usual.replace(" 6 ", " x "),
            12 => usual.replace(&eni, &format!("eni-{}", "a".repeat(70))),
            13 => usual.replace(&format!(" {start} "), " 1234567890123456 "),
            14 => usual.replace(&format!(" {start} "), " 17000000 "),
            15 => usual.replace(" OK", " -"),
            16 => usual.replace(&src, "10.1.2"),
            17 => usual.replace(&src, "10.1.2.3.4"),
            18 => String::new(),
            19 => usual.replace("2 123456789012", "3 123456789012"),
            20 => usual.replace("123456789012", "unknown"),
            21 => usual.replace(action, "-"),
            22 => usual.replace(&format!(" {end} "), " - "),
            23 => usual.replace(&format!(" {start} "), &format!(" {} ", start - 4_000)),
            _ => usual,
        };
        text.push_str(&line);
        text.push('\n');
    }
    text
}

#[test]
fn a_mixed_file_reads_the_same_with_and_without_avx512() {
    has_avx512();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("mixed.log");
    std::fs::write(&path, mixed_v2(30_000)).expect("write");
    let records = same_both_ways(&path, dir.path());
    assert!(records > 20_000, "{records} records");
}

#[test]
fn the_shipped_sample_reads_the_same_with_and_without_avx512() {
    has_avx512();
    let dir = tempfile::tempdir().expect("temp dir");
    let sample = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/samples/tiny-v2"
    ));
    assert!(same_both_ways(&sample, dir.path()) > 0);
}

#[test]
fn real_aws_files_read_the_same_with_and_without_avx512() {
    let Some(real) = common::shared_dataset("aws-vpc-real") else {
        return;
    };
    has_avx512();
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(&real).expect("dataset folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            same_both_ways(&path, dir.path());
        }
    }
}
