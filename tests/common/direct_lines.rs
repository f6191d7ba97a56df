//! The default-v2 lines of the direct-route tests (`tests/direct8.rs`, `tests/run10.rs`):
//! a chopped reader over them, a strategy of mixed lines, their text, and what each record
//! should give the window stage.

use flowvigil::features::Observation;
use flowvigil::flowlog::{FlowDirection, FlowRecord, LogStatus, MemorySink, ReadOptions};
use proptest::prelude::*;

use crate::common::reader;

pub const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol \
                  packets bytes start end action log-status";

/// One line: a kind and a few random choices.
#[derive(Clone, Debug)]
pub struct Line {
    pub kind: u8,
    pub pick: [u8; 8],
}

pub fn line() -> impl Strategy<Value = Line> {
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
pub fn text(lines: &[Line]) -> String {
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
            if k.is_multiple_of(13) {
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
pub enum Event {
    Slot(Observation, u64, Option<FlowRecord>),
    Refused(FlowRecord),
}

pub fn event(rec: &FlowRecord, want_record: bool) -> Event {
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
pub fn asked(mask: u64, i: usize) -> bool {
    mask >> (i % 64) & 1 == 1
}

/// An observation with every field set, so that a field the direct route forgets shows.
pub fn junk() -> Observation {
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

/// Record-by-record reading: events, the position and summary after each, the final error,
/// the summary, the interner's names and the reports.
pub struct Plain {
    pub events: Vec<Event>,
    pub after: Vec<(u64, String)>,
    pub end: Option<String>,
    pub summary: String,
    pub names: Vec<String>,
    pub messages: Vec<String>,
}

pub fn plain(data: &str, steps: &[usize], opts: &ReadOptions, mask: u64) -> Plain {
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
