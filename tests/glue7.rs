//! The reader's batched fast route ([`LogReader::fast_records`]) against record-by-record
//! [`LogReader::next_record`]: the same records, positions, summary, reports and errors on
//! random mixes of v2 lines (OK, NODATA, SKIPDATA, CRLF, no ENI, no start, late), blank, bad,
//! header and custom-format lines, ENIs past the cap, with reads cut anywhere, batches
//! stopped anywhere and by errors; and the window stage fed by it (one thread, the
//! two-thread pipeline) against the same records from memory, late-record side file included.

mod common;

use flowvigil::features::WindowFeatures;
use flowvigil::flowlog::{FlowRecord, LogReader, MemorySink, ReadOptions};
use flowvigil::window::{run_pipelined_with, Pipeline, WindowConfig};
use proptest::prelude::*;

const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol \
                  packets bytes start end action log-status";

/// One line per kind (see the match); `t` moves time on, and some kinds go back in time
/// (late records).
fn text(kinds: &[u8]) -> String {
    let mut data = String::new();
    let mut custom = false;
    for (i, k) in kinds.iter().enumerate() {
        let t = 1_735_689_000 + 7 * i as u64;
        let eni = i % 11;
        match (k, custom) {
            (0..=2, false) => {
                let status = ["OK", "NODATA", "SKIPDATA"][usize::from(*k)];
                data.push_str(&format!(
                    "2 123456789012 eni-{eni:017x} 10.0.{}.1 10.1.2.3 443 {} 6 {} 900 {t} {} \
                     ACCEPT {status}",
                    i % 250,
                    1000 + i,
                    i % 9 + 1,
                    t + 3
                ));
            }
            (0..=2, true) => data.push_str(&format!("2 eni-c{} {t} {}", i % 3, t + 1)),
            (3, _) => {}
            (4, _) => data.push_str("2 123456789012 eni-a 1.2.3.4 nonsense"),
            (5, _) => {
                data.push_str(V2);
                custom = false;
            }
            (6, _) => {
                data.push_str("version interface-id start end");
                custom = true;
            }
            (7, false) => data.push_str(&format!(
                "2 1 eni-{eni:017x} 1.2.3.4 5.6.7.8 1 2 6 1 1 {t} {} - -\r",
                t + 60
            )),
            (7, true) => data.push_str("2 eni-x 5 6\r"),
            // Late: an hour back.
            (8, _) => data.push_str(&format!(
                "2 123456789012 eni-{eni:017x} 10.9.0.1 10.1.2.3 22 5000 6 1 60 {} {} REJECT OK",
                t - 3600,
                t - 3590
            )),
            // No ENI, no start: read, but no window takes them.
            (9, _) => data.push_str(&format!(
                "2 123456789012 - 10.0.0.1 10.1.2.3 443 1 6 1 60 {t} {t} ACCEPT OK"
            )),
            (10, _) => data.push_str(&format!(
                "2 123456789012 eni-{eni:017x} 10.0.0.1 10.1.2.3 443 1 6 1 60 - {t} ACCEPT OK"
            )),
            _ => data.push_str(&format!(
                "2 123456789012 eni-{eni:017x} - - - - - - - {t} {t} - NODATA"
            )),
        }
        data.push('\n');
    }
    data
}

/// What record-by-record reading gives: each record with the position and summary after it,
/// the final error (if any), the summary and the reports.
struct Plain {
    recs: Vec<(FlowRecord, u64, String)>,
    end: Option<String>,
    summary: String,
    messages: Vec<String>,
}

fn plain(data: &str, steps: &[usize], opts: &ReadOptions) -> Plain {
    let sink = MemorySink::new();
    let mut r = reader(data, steps, opts, &sink);
    let mut rec = FlowRecord::default();
    let mut recs = Vec::new();
    let end = loop {
        match r.next_record(&mut rec) {
            Ok(true) => recs.push((rec.clone(), r.position().line, format!("{:?}", r.summary()))),
            Ok(false) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    Plain {
        recs,
        end,
        summary: format!("{:?}", r.summary()),
        messages: sink.messages(),
    }
}

/// Checks the reader after `n` records against record-by-record reading.
fn at(p: &Plain, r: &LogReader, n: usize) -> Result<(), TestCaseError> {
    if let Some((_, line, summary)) = n.checked_sub(1).and_then(|i| p.recs.get(i)) {
        prop_assert_eq!(r.position().line, *line, "position after {} records", n);
        prop_assert_eq!(
            &format!("{:?}", r.summary()),
            summary,
            "summary after {} records",
            n
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Batches (stopped every `stop` records, and once by an error at record `fail`) and the
    /// general route in between give what `next_record` alone gives.
    #[test]
    fn batches_equal_next_record(
        kinds in proptest::collection::vec(0u8..12, 1..300),
        steps in proptest::collection::vec(1usize..3000, 1..6),
        stop in 1usize..40,
        fail in 0usize..300,
        strict in any::<bool>(),
        max_enis in 4usize..16,
        reports in 1usize..4,
    ) {
        let opts = common::read_opts(strict, max_enis, reports);
        let data = text(&kinds);
        let p = plain(&data, &steps, &opts);
        let sink = MemorySink::new();
        let mut r = reader(&data, &steps, &opts, &sink);
        let mut rec = FlowRecord::default();
        let mut got: Vec<FlowRecord> = Vec::new();
        let mut failed = false;
        let end = loop {
            let mut in_batch = 0usize;
            let batch = r.fast_records(&mut rec, |rec, _| {
                got.push(rec.clone());
                in_batch += 1;
                if !failed && got.len() == fail {
                    failed = true;
                    return Err(());
                }
                Ok(in_batch < stop)
            });
            // The error and a full batch both end the batch after the record, counted.
            let _ = batch;
            at(&p, &r, got.len())?;
            match r.next_record(&mut rec) {
                Ok(true) => {
                    got.push(rec.clone());
                    at(&p, &r, got.len())?;
                }
                Ok(false) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        let want: Vec<FlowRecord> = p.recs.iter().map(|(rec, _, _)| rec.clone()).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(end, p.end);
        prop_assert_eq!(format!("{:?}", r.summary()), p.summary);
        prop_assert_eq!(sink.messages(), p.messages);
    }
}

use common::{late_of, one_thread, reader, VecSource};

/// A long mixed input (more than one block of the one-thread loop), with late records.
fn long_text(n: usize) -> String {
    let kinds: Vec<u8> = (0..n)
        .map(|i| match i % 97 {
            3 => 3,
            5 => 4,
            7 | 40 | 41 | 60 => 8,
            11 => 9,
            13 => 10,
            17 => 1,
            19 => 7,
            23 => 11,
            _ => 0,
        })
        .collect();
    text(&kinds)
}

fn from_memory(data: &str) -> VecSource {
    let sink = MemorySink::new();
    let mut r = reader(data, &[1 << 18], &ReadOptions::default(), &sink);
    let mut rec = FlowRecord::default();
    let mut recs = Vec::new();
    while r.next_record(&mut rec).unwrap_or(false) {
        recs.push(rec.clone());
    }
    VecSource {
        recs,
        pos: 0,
        names: r.into_interner(),
    }
}

/// One thread reading in batches = one thread fed record by record, across block ends, with
/// late records written aside and records no window takes.
#[test]
fn one_thread_batches_equal_records_from_memory() {
    let data = long_text(40_000);
    let cfg = WindowConfig::default();
    let sink = MemorySink::new();
    let mut r = reader(&data, &[1 << 18, 777, 5000], &ReadOptions::default(), &sink);
    let batched = one_thread(&mut r, &cfg);
    let mut mem = from_memory(&data);
    let want = one_thread(&mut mem, &cfg);
    assert!(want.2.len() > 1000, "late records: {}", want.2.len());
    assert!(want.1.window.records > 30_000);
    assert_eq!(batched.1, want.1);
    assert_eq!(batched.2, want.2);
    assert_eq!(batched.0, want.0);
}

/// The two-thread pipeline's reader (batches) = one thread fed record by record: the same
/// windows, counters and late records, with blocks cut small and at their usual size.
#[test]
fn pipeline_batches_equal_records_from_memory() {
    let data = long_text(40_000);
    let cfg = WindowConfig::default();
    let mut mem = from_memory(&data);
    let want = one_thread(&mut mem, &cfg);
    for block in [1, 7, 1000, 16_384] {
        let sink = MemorySink::new();
        let mut r = reader(&data, &[1 << 18, 333], &ReadOptions::default(), &sink);
        let mut late = Vec::new();
        let (outs, stats) = run_pipelined_with(
            &mut r,
            &cfg,
            Pipeline {
                shards: 8,
                helpers: 1,
                block,
            },
            |_| Vec::<WindowFeatures>::new(),
            &mut |_| {},
            |rec, names| {
                late.push(late_of(rec, names));
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("pipeline: {e:?}"));
        assert_eq!(late, want.2, "block {block}");
        assert_eq!(stats.window, want.1.window, "block {block}");
        assert_eq!(stats.late_by_eni, want.1.late_by_eni, "block {block}");
        assert_eq!(stats.watermark, want.1.watermark, "block {block}");
        let key = |w: &WindowFeatures| (w.window_start, w.eni);
        let mut got: Vec<WindowFeatures> = outs.into_iter().flatten().collect();
        got.sort_by_key(key);
        let mut all: Vec<WindowFeatures> = want.0.iter().flatten().cloned().collect();
        all.sort_by_key(key);
        assert_eq!(got, all, "block {block}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `stats::collect` (records in batches from the fast route, the rest one at a time) gives
    /// the statistics of a builder fed by `next_record` alone, reads cut anywhere, a small ENI
    /// cap included.
    #[test]
    fn stats_in_batches_equal_stats_record_by_record(
        kinds in proptest::collection::vec(0u8..12, 1..300),
        steps in proptest::collection::vec(1usize..3000, 1..6),
        max_enis in 4usize..16,
    ) {
        let data = text(&kinds);
        let opts = ReadOptions { max_enis, ..ReadOptions::default() };
        let mut batched = reader(&data, &steps, &opts, &MemorySink::new());
        let got = flowvigil::stats::collect(&mut batched).expect("not strict");
        let mut plain = reader(&data, &steps, &opts, &MemorySink::new());
        let mut builder = flowvigil::stats::StatsBuilder::new();
        let mut rec = FlowRecord::default();
        while plain.next_record(&mut rec).expect("not strict") {
            builder.add(&rec);
        }
        let want = builder.finish(plain.interner(), plain.summary());
        prop_assert_eq!(got, want);
    }
}
