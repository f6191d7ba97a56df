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

use flowvigil::flowlog::{FastLine, FastRun, FastSink, FlowRecord, Interner, MemorySink};
use flowvigil::window::Slot;
use proptest::prelude::*;

#[path = "common/direct_lines.rs"]
mod direct_lines;

use common::reader;
use direct_lines::{asked, event, junk, line, plain, text, Event, Line};

/// A block sink taking lines in runs: `slots` filled in order from `n`; a full block ends
/// the reader's run. With `own`, its `parsed_run` goes over the run itself; else the default
/// hands each line to `parsed`.
struct RunSink<'a> {
    slots: Vec<Slot>,
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
        let slot = self.slots[self.n];
        self.events
            .push(Event::Slot(slot.observation(), slot.watermark(), rec));
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
    type Target = Slot;
    type Error = ();
    const RUNS: bool = true;
    fn target(&mut self) -> Option<&mut Slot> {
        panic!("target is not used with runs");
    }
    fn targets(&mut self) -> &mut [Slot] {
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
        let opts = common::read_opts(strict, max_enis, reports);
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
        let mut slots = vec![Slot::new(&junk(), 12345); block];
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
                        slot.fill_from(&rec).map_err(|_| TestCaseError::fail("fill"))?;
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
