//! The reader's direct route in runs ([`FastSink::RUNS`]: a run of default-v2 lines parsed
//! into a block's free slots in one call, then handed to [`FastSink::parsed_run`]) against
//! the plain route (`next_record` and `Observation::from_record`), on the inputs of
//! `tests/direct8.rs`: the same observations and watermark times, the same records for lines
//! asked for again (late ones), the same refused records, positions, summary, interner,
//! reports and errors, with blocks of any size (slots left with junk from earlier lines,
//! refused ones and custom-format records), runs ended by a full block and by errors, with
//! the sinks' own `parsed_run` and with the default one (each line through `parsed`).

#[allow(dead_code)] // `VecSource` is for the other tests.
mod common;

use flowvigil::features::Observation;
use flowvigil::flowlog::{
    FastLine, FastRun, FastSink, FlowDirection, FlowRecord, Interner, LogReader, LogStatus,
    MemorySink, ReadOptions,
};
use proptest::prelude::*;

use common::Choppy;

const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol \
                  packets bytes start end action log-status";

fn reader(data: &str, steps: &[usize], opts: &ReadOptions, sink: &MemorySink) -> LogReader {
    LogReader::from_read(
        "t.log",
        Box::new(Choppy {
            data: data.as_bytes().to_vec(),
            pos: 0,
            steps: steps.to_vec(),
            k: 0,
        }),
        opts.clone(),
    )
    .with_sink(Box::new(sink.clone()))
}

/// One line: a kind and a few random choices.
#[derive(Clone, Debug)]
struct Line {
    kind: u8,
    pick: [u8; 8],
}

fn line() -> impl Strategy<Value = Line> {
    (
        prop_oneof![
            30 => Just(0u8),
            2 => Just(1u8),
            2 => Just(2u8),
            1 => Just(3u8),
            1 => Just(4u8),
            1 => Just(5u8),
            1 => Just(6u8),
        ],
        proptest::array::uniform8(any::<u8>()),
    )
        .prop_map(|(kind, pick)| Line { kind, pick })
}

/// The input text: kind 0 a v2 line of random fields (in the custom format, a custom line),
/// 1 blank, 2 malformed, 3 a v2 header, 4 a custom header, 5 a late v2 line, 6 a line with
/// `-` for the ENI or the start.
fn text(lines: &[Line]) -> String {
    let mut data = String::new();
    let mut custom = false;
    for (i, l) in lines.iter().enumerate() {
        let p = l.pick;
        let t = 1_735_689_000 + 7 * i as u64;
        let eni = match p[0] % 16 {
            0 => "eni-a".to_string(),
            1 => format!("eni-extra{}", p[1] % 5),
            _ => format!("eni-{:017x}", p[1] % 13),
        };
        let addr = |k: u8| match k % 12 {
            0 => "-".to_string(),
            1 => "2001:db8::1".to_string(),
            2 => "010.001.2.3".to_string(),
            _ => format!("10.{}.{}.{}", k % 3, k, 255 - k),
        };
        let num = |k: u8, v: u64| {
            if k % 13 == 0 {
                "-".to_string()
            } else {
                v.to_string()
            }
        };
        let (start, end) = match p[6] % 10 {
            0 => (t.to_string(), "-".to_string()),
            // Start after end, far ahead: the watermark must take the end.
            1 => ((t + 4000).to_string(), (t - 30).to_string()),
            2 => ("5".to_string(), "99".to_string()),
            3 => (t.to_string(), (t + 7200).to_string()),
            _ => (t.to_string(), (t + u64::from(p[6] % 60)).to_string()),
        };
        match (l.kind, custom) {
            (0 | 5 | 6, true) => data.push_str(&format!("2 {eni} {start} {end}")),
            (0 | 5 | 6, false) => {
                let account = ["123456789012", "unknown", "-", "42"][usize::from(p[2] % 4)];
                let status = ["OK", "OK", "OK", "NODATA", "SKIPDATA", "-"][usize::from(p[3] % 6)];
                let action = ["ACCEPT", "REJECT", "ACCEPT", "-"][usize::from(p[4] % 4)];
                let (eni, start, end) = match l.kind {
                    5 => (eni, (t - 3600).to_string(), (t - 3590).to_string()),
                    6 if p[7] % 2 == 0 => ("-".to_string(), start, end),
                    6 => (eni, "-".to_string(), end),
                    _ => (eni, start, end),
                };
                data.push_str(&format!(
                    "2 {account} {eni} {} {} {} {} {} {} {} {start} {end} {action} {status}",
                    addr(p[4]),
                    addr(p[5]),
                    num(p[5], 443),
                    num(p[7], u64::from(p[7]) * 250),
                    num(p[2], [6, 17, 1][usize::from(p[2] % 3)]),
                    num(p[3], u64::from(p[3]) + 1),
                    num(p[4], u64::from(p[4]) * 1000),
                ));
            }
            (1, _) => {}
            (2, _) => data.push_str("2 123456789012 eni-a 1.2.3.4 nonsense"),
            (3, _) => {
                data.push_str(V2);
                custom = false;
            }
            _ => {
                data.push_str("version interface-id start end");
                custom = true;
            }
        }
        if p[7] % 9 == 0 {
            data.push('\r');
        }
        data.push('\n');
    }
    data
}

/// What a record gives the window stage: an observation (with the time the watermark takes
/// from it, and the record when asked for), or the record itself when no slot takes it.
#[derive(Clone, Debug, PartialEq)]
enum Event {
    Slot(Observation, u64, Option<FlowRecord>),
    Refused(FlowRecord),
}

fn event(rec: &FlowRecord, want_record: bool) -> Event {
    match Observation::from_record(rec) {
        Ok(obs) => Event::Slot(
            obs,
            rec.end.or(rec.start).unwrap_or(0),
            want_record.then(|| rec.clone()),
        ),
        Err(_) => Event::Refused(rec.clone()),
    }
}

/// Whether the record at `i` is asked for again (as a late one would be).
fn asked(mask: u64, i: usize) -> bool {
    mask >> (i % 64) & 1 == 1
}

/// An observation with every field set, so that a field the direct route forgets shows.
fn junk() -> Observation {
    Observation {
        eni: 999,
        start: 1,
        end: 2,
        src: Some("::9".parse().unwrap()),
        dst: Some("::8".parse().unwrap()),
        pkt_src: Some("9.9.9.9".parse().unwrap()),
        pkt_dst: Some("8.8.8.8".parse().unwrap()),
        srcport: Some(9),
        dstport: Some(8),
        protocol: Some(7),
        packets: 6,
        bytes: 5,
        action: None,
        status: LogStatus::SkipData,
        tcp_flags: Some(4),
        direction: Some(FlowDirection::Egress),
    }
}

/// A block sink taking lines in runs: `slots` filled in order from `n`; a full block ends
/// the reader's run. With `own`, its `parsed_run` goes over the run itself; else the default
/// hands each line to `parsed`.
struct RunSink<'a> {
    slots: Vec<(Observation, u64)>,
    n: usize,
    own: bool,
    spare: FlowRecord,
    events: &'a mut Vec<Event>,
    mask: u64,
    fail: usize,
    failed: &'a mut bool,
    runs: &'a mut usize,
}

impl RunSink<'_> {
    fn take(&mut self, line: &mut FastLine<'_>) {
        let i = self.events.len();
        let rec = asked(self.mask, i).then(|| {
            self.spare = FlowRecord::default();
            line.record(&mut self.spare);
            self.spare.clone()
        });
        let (obs, t) = self.slots[self.n];
        self.events.push(Event::Slot(obs, t, rec));
        self.n += 1;
    }

    /// An error once, when the events reach `fail` (after the run's lines are taken).
    fn check(&mut self) -> Result<(), ()> {
        if !*self.failed && self.events.len() >= self.fail {
            *self.failed = true;
            return Err(());
        }
        Ok(())
    }
}

impl FastSink for RunSink<'_> {
    type Target = (Observation, u64);
    type Error = ();
    const RUNS: bool = true;
    fn target(&mut self) -> Option<&mut (Observation, u64)> {
        panic!("target is not used with runs");
    }
    fn targets(&mut self) -> &mut [(Observation, u64)] {
        &mut self.slots[self.n..]
    }
    fn parsed(&mut self, mut line: FastLine<'_>) -> Result<bool, ()> {
        assert!(!self.own, "parsed is not used with an own parsed_run");
        self.take(&mut line);
        Ok(true)
    }
    fn parsed_run(&mut self, mut run: FastRun<'_>) -> Result<(), ()> {
        *self.runs += 1;
        if self.own {
            for i in 0..run.len() {
                self.take(&mut run.line(i));
            }
        } else {
            for i in 0..run.len() {
                self.parsed(run.line(i))?;
            }
        }
        self.check()
    }
    fn record(&mut self) -> &mut FlowRecord {
        &mut self.spare
    }
    fn refused(&mut self, _: &Interner) -> Result<bool, ()> {
        self.events.push(Event::Refused(self.spare.clone()));
        self.check()?;
        Ok(self.n < self.slots.len())
    }
}

/// Record-by-record reading: events, the position and summary after each, the final error,
/// the summary, the interner's names and the reports.
struct Plain {
    events: Vec<Event>,
    after: Vec<(u64, String)>,
    end: Option<String>,
    summary: String,
    names: Vec<String>,
    messages: Vec<String>,
}

fn plain(data: &str, steps: &[usize], opts: &ReadOptions, mask: u64) -> Plain {
    let sink = MemorySink::new();
    let mut r = reader(data, steps, opts, &sink);
    let mut rec = FlowRecord::default();
    let (mut events, mut after) = (Vec::new(), Vec::new());
    let end = loop {
        match r.next_record(&mut rec) {
            Ok(true) => {
                events.push(event(&rec, asked(mask, events.len())));
                after.push((r.position().line, format!("{:?}", r.summary())));
            }
            Ok(false) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    Plain {
        events,
        after,
        end,
        summary: format!("{:?}", r.summary()),
        names: r.interner().names().to_vec(),
        messages: sink.messages(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    /// Runs of the direct route into blocks of `block` slots (junk, then whatever earlier
    /// lines and records left there), with `next_record` for the lines it declines, give what
    /// `next_record` alone gives.
    #[test]
    fn runs_equal_next_record(
        lines in proptest::collection::vec(line(), 1..300),
        steps in proptest::collection::vec(1usize..3000, 1..6),
        block in prop_oneof![1usize..80, 120usize..400],
        fail in 0usize..400,
        mask in any::<u64>(),
        own in any::<bool>(),
        clean in any::<bool>(),
        strict in any::<bool>(),
        max_enis in 4usize..20,
        reports in 1usize..4,
    ) {
        let opts = ReadOptions {
            strict,
            max_enis,
            max_reports_per_file: reports,
            ..ReadOptions::default()
        };
        // Clean: only default-v2 lines the slots take, so runs reach their full length.
        // (Reads are then whole, so that the buffer holds full runs.)
        let (lines, steps): (Vec<Line>, Vec<usize>) = if clean {
            (lines.into_iter().map(|l| Line { kind: 0, ..l }).collect(), vec![1 << 20])
        } else {
            (lines, steps)
        };
        let data = text(&lines);
        let p = plain(&data, &steps, &opts, mask);
        let sink = MemorySink::new();
        let mut r = reader(&data, &steps, &opts, &sink);
        let mut rec = FlowRecord::default();
        let mut events = Vec::new();
        let mut failed = false;
        let mut runs = 0usize;
        let mut slots = vec![(junk(), 12345); block];
        let mut n = 0usize;
        let end = loop {
            let mut s = RunSink {
                slots: std::mem::take(&mut slots),
                n,
                own,
                spare: FlowRecord::default(),
                events: &mut events,
                mask,
                fail,
                failed: &mut failed,
                runs: &mut runs,
            };
            let _ = r.fast_into(&mut s);
            slots = s.slots;
            n = s.n;
            if n == block {
                // A new block in the same slots, as the window stage reuses them.
                n = 0;
            }
            // A full block, an error and a decline all leave the reader after the last record.
            if let Some((line, summary)) = events.len().checked_sub(1).and_then(|i| p.after.get(i)) {
                prop_assert_eq!(r.position().line, *line, "position after {}", events.len());
                prop_assert_eq!(&format!("{:?}", r.summary()), summary);
            }
            match r.next_record(&mut rec) {
                Ok(true) => {
                    // A record of any format written into the next slot, as `take` does.
                    let e = event(&rec, asked(mask, events.len()));
                    if let (Event::Slot(..), Some(slot)) = (&e, slots.get_mut(n)) {
                        slot.0.fill_from(&rec).map_err(|_| TestCaseError::fail("fill"))?;
                        n += 1;
                        if n == block {
                            n = 0;
                        }
                    }
                    events.push(e);
                }
                Ok(false) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        prop_assert_eq!(events, p.events);
        prop_assert_eq!(end, p.end);
        prop_assert_eq!(format!("{:?}", r.summary()), p.summary);
        prop_assert_eq!(r.interner().names().to_vec(), p.names);
        prop_assert_eq!(sink.messages(), p.messages);
    }
}
