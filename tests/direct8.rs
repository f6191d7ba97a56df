//! The reader's direct route ([`LogReader::fast_into`]: default-v2 lines parsed straight into
//! a window block's slot, `Slot`) against the plain route (`next_record` and
//! `Observation::from_record`): the same observations and watermark times, the same records
//! for late lines (parsed again on demand) and for lines no slot takes (no ENI, no start),
//! the same positions, summary, interner, reports and errors, on random mixes of v2 lines
//! (OK, NODATA, SKIPDATA, `-` fields, IPv6, late and odd times, CRLF), blank, bad, header and
//! custom-format lines, ENIs past the cap, with reads cut anywhere and runs stopped anywhere
//! and by errors; and the window stage fed by it (one thread, the two-thread pipeline)
//! against the same records from memory.

mod common;

use flowvigil::features::WindowFeatures;
use flowvigil::flowlog::{FastLine, FastSink, FlowRecord, Interner, MemorySink, ReadOptions};
use flowvigil::window::{run_pipelined_with, Pipeline, Slot, WindowConfig};
use proptest::prelude::*;

use common::{late_of, one_thread, VecSource};

#[path = "common/direct_lines.rs"]
mod direct_lines;

use common::reader;
use direct_lines::{asked, event, junk, line, plain, text, Event};

/// A sink for the direct route: one slot, made junk before each line.
struct Sink<'a> {
    slot: Slot,
    spare: FlowRecord,
    events: &'a mut Vec<Event>,
    mask: u64,
    stop: usize,
    in_run: usize,
    fail: usize,
    failed: &'a mut bool,
}

impl Sink<'_> {
    fn after(&mut self) -> Result<bool, ()> {
        self.in_run += 1;
        if !*self.failed && self.events.len() == self.fail {
            *self.failed = true;
            return Err(());
        }
        Ok(self.in_run < self.stop)
    }
}

impl FastSink for Sink<'_> {
    type Target = Slot;
    type Error = ();
    fn target(&mut self) -> Option<&mut Slot> {
        self.slot = Slot::new(&junk(), 12345);
        Some(&mut self.slot)
    }
    fn parsed(&mut self, mut line: FastLine<'_>) -> Result<bool, ()> {
        let i = self.events.len();
        let rec = asked(self.mask, i).then(|| {
            self.spare = FlowRecord::default();
            line.record(&mut self.spare);
            self.spare.clone()
        });
        self.events.push(Event::Slot(
            self.slot.observation(),
            self.slot.watermark(),
            rec,
        ));
        self.after()
    }
    fn record(&mut self) -> &mut FlowRecord {
        &mut self.spare
    }
    fn refused(&mut self, _: &Interner) -> Result<bool, ()> {
        self.events.push(Event::Refused(self.spare.clone()));
        self.after()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Runs of the direct route (stopped every `stop` records, and once by an error at
    /// record `fail`), with `next_record` for the lines it declines, give what `next_record`
    /// alone gives.
    #[test]
    fn direct_route_equals_next_record(
        lines in proptest::collection::vec(line(), 1..300),
        steps in proptest::collection::vec(1usize..3000, 1..6),
        stop in 1usize..60,
        fail in 0usize..300,
        mask in any::<u64>(),
        strict in any::<bool>(),
        max_enis in 4usize..20,
        reports in 1usize..4,
    ) {
        let opts = common::read_opts(strict, max_enis, reports);
        let data = text(&lines);
        let p = plain(&data, &steps, &opts, mask);
        let sink = MemorySink::new();
        let mut r = reader(&data, &steps, &opts, &sink);
        let mut rec = FlowRecord::default();
        let mut events = Vec::new();
        let mut failed = false;
        let end = loop {
            let mut s = Sink {
                slot: Slot::new(&junk(), 0),
                spare: FlowRecord::default(),
                events: &mut events,
                mask,
                stop,
                in_run: 0,
                fail,
                failed: &mut failed,
            };
            let _ = r.fast_into(&mut s);
            // A stop, an error and a decline all leave the reader after the last record.
            if let Some((line, summary)) = events.len().checked_sub(1).and_then(|i| p.after.get(i)) {
                prop_assert_eq!(r.position().line, *line, "position after {}", events.len());
                prop_assert_eq!(&format!("{:?}", r.summary()), summary);
            }
            match r.next_record(&mut rec) {
                Ok(true) => events.push(event(&rec, asked(mask, events.len()))),
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

fn from_memory(data: &str, opts: &ReadOptions) -> VecSource {
    let mut r = reader(data, &[1 << 18], opts, &MemorySink::new());
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The one-thread loop and the pipeline's reader (direct route) give the windows,
    /// counters and late records of one thread fed the same records from memory.
    #[test]
    fn window_stage_equals_records_from_memory(
        lines in proptest::collection::vec(line(), 1..600),
        steps in proptest::collection::vec(1usize..3000, 1..6),
        block in 1usize..64,
        max_enis in 4usize..20,
    ) {
        let opts = ReadOptions { max_enis, ..ReadOptions::default() };
        let data = text(&lines);
        let cfg = WindowConfig::default();
        let want = one_thread(&mut from_memory(&data, &opts), &cfg);
        let mut r = reader(&data, &steps, &opts, &MemorySink::new());
        let got = one_thread(&mut r, &cfg);
        prop_assert_eq!(&got.1, &want.1);
        prop_assert_eq!(&got.2, &want.2);
        prop_assert_eq!(&got.0, &want.0);

        let mut r = reader(&data, &steps, &opts, &MemorySink::new());
        let mut late = Vec::new();
        let (outs, stats) = run_pipelined_with(
            &mut r,
            &cfg,
            Pipeline { shards: 3, helpers: 1, block },
            |_| Vec::<WindowFeatures>::new(),
            &mut |_| {},
            |rec, names| {
                late.push(late_of(rec, names));
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("pipeline: {e:?}"));
        prop_assert_eq!(&late, &want.2);
        prop_assert_eq!(&stats.window, &want.1.window);
        prop_assert_eq!(&stats.late_by_eni, &want.1.late_by_eni);
        prop_assert_eq!(stats.watermark, want.1.watermark);
        let key = |w: &WindowFeatures| (w.window_start, w.eni);
        let mut got: Vec<WindowFeatures> = outs.into_iter().flatten().collect();
        got.sort_by_key(key);
        let mut all: Vec<WindowFeatures> = want.0.iter().flatten().cloned().collect();
        all.sort_by_key(key);
        prop_assert_eq!(got, all);
    }
}
