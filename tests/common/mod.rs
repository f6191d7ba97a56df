//! Helpers shared by integration tests (`mod common;` in each test file that uses them).

use std::convert::Infallible;
use std::io::{self, Read};

use flowvigil::features::{Observation, WindowFeatures};
use flowvigil::flowlog::{FlowRecord, Interner};
use flowvigil::window::{
    run_sharded, RecordSource, RunStats, ShardDriver, Slot, Watermark, WindowConfig,
};

/// Records from memory, as a reader would give them, with the interner that names their ENIs;
/// through the trait's default `fast_records` (no batches).
#[allow(dead_code)]
pub struct VecSource {
    pub recs: Vec<FlowRecord>,
    pub pos: usize,
    pub names: Interner,
}

impl RecordSource for VecSource {
    type Error = Infallible;
    fn next_record(&mut self, rec: &mut FlowRecord) -> Result<bool, Infallible> {
        match self.recs.get(self.pos) {
            Some(r) => {
                rec.clone_from(r);
                self.pos += 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    fn interner(&self) -> &Interner {
        &self.names
    }
}

/// A source handing out at most `steps[i]` bytes per read (cycling), so lines cross read
/// and buffer ends anywhere.
#[allow(dead_code)] // not every test file that shares this module reads through it
pub struct Choppy {
    pub data: Vec<u8>,
    pub pos: usize,
    pub steps: Vec<usize>,
    pub k: usize,
}

impl Read for Choppy {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let step = self
            .steps
            .get(self.k % self.steps.len().max(1))
            .copied()
            .unwrap_or(4096);
        self.k += 1;
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(out.len()).min(step.max(1));
        if let (Some(o), Some(r)) = (out.get_mut(..n), rest.get(..n)) {
            o.copy_from_slice(r);
        }
        self.pos += n;
        Ok(n)
    }
}

/// Late records as the side file gets them: the record and its ENI's name.
#[allow(dead_code)]
pub type Late = Vec<(FlowRecord, String)>;

/// A one-thread run's windows, counters and late records.
#[allow(dead_code)]
pub type Run = (Vec<Vec<WindowFeatures>>, RunStats, Late);

/// A late record and its ENI's name.
#[allow(dead_code)]
pub fn late_of(rec: &FlowRecord, names: &Interner) -> (FlowRecord, String) {
    let name = rec
        .eni
        .and_then(|e| names.names().get(e as usize).cloned())
        .unwrap_or_default();
    (rec.clone(), name)
}

/// `run_sharded` on one shard, collecting windows and late records.
#[allow(dead_code)]
pub fn one_thread<R: RecordSource>(src: &mut R, cfg: &WindowConfig) -> Run
where
    R::Error: std::fmt::Debug,
{
    let mut late = Vec::new();
    let (out, stats) = run_sharded(
        src,
        cfg,
        1,
        |_| Vec::<WindowFeatures>::new(),
        |rec, names| {
            late.push(late_of(rec, names));
            Ok(())
        },
    )
    .unwrap_or_else(|e| panic!("run: {e:?}"));
    (out, stats, late)
}

/// A driver whose sink collects the windows.
#[allow(dead_code)]
pub type Driver = ShardDriver<Vec<WindowFeatures>>;

/// The window stage fed `recs` two ways: one record at a time (`ShardDriver::feed`) and in
/// blocks grouped by ENI (`ShardDriver::feed_block`) cut after `cuts` records in turn (at
/// least one cut). Each observation carries the watermark at its read time, as a reader hands
/// it over; records that give no observation move the watermark only. Both drivers have seen
/// every record and the final watermark; their windows are not finished yet (so callers can
/// compare histories first).
#[allow(dead_code)]
pub fn one_and_grouped(
    recs: &[FlowRecord],
    cfg: &WindowConfig,
    cuts: &[usize],
    names: &Interner,
) -> (Driver, Driver) {
    let mut wm = Watermark::new(cfg.allowed_lateness_secs);
    let mut items = Vec::new();
    for f in recs {
        if let Ok(obs) = Observation::from_record(f) {
            items.push(Slot::new(&obs, wm.get()));
        }
        wm.observe(f);
    }
    let mut one = ShardDriver::new(cfg, Vec::<WindowFeatures>::new());
    for slot in &items {
        one.feed(&slot.observation(), slot.watermark(), names);
    }
    let mut grouped = ShardDriver::new(cfg, Vec::<WindowFeatures>::new());
    let (mut at, mut k) = (0, 0);
    while at < items.len() {
        let cut = cuts.get(k % cuts.len().max(1)).copied().unwrap_or(1).max(1);
        let end = (at + cut).min(items.len());
        let after = items.get(end).map_or(wm.get(), Slot::watermark);
        grouped.feed_block(&items[at..end], after, names);
        at = end;
        k += 1;
    }
    one.advance(wm.get(), names);
    (one, grouped)
}

/// A flow for [`flow_record`]: a TCP record of `eni` from `src` to `dst`.
#[allow(dead_code)]
pub struct Flow {
    pub eni: flowvigil::flowlog::EniId,
    pub src: std::net::IpAddr,
    pub dst: std::net::IpAddr,
    pub srcport: u16,
    pub dstport: u16,
    pub bytes: u64,
    pub start: u64,
    pub end: u64,
    pub reject: bool,
    /// `flow-direction`: `Some(true)` egress, `Some(false)` ingress, `None` absent.
    pub egress: Option<bool>,
    /// 0 SKIPDATA and 1 NODATA (both without addresses), 2 no addresses and no direction (a
    /// record that cannot be placed), 3 ICMP (no ports); anything else: an OK TCP record.
    pub status: u8,
}

/// The record a [`Flow`] describes (version 5, SYN flags, `bytes % 7` packets).
#[allow(dead_code)]
pub fn flow_record(r: &Flow) -> FlowRecord {
    use flowvigil::flowlog::{Action, FlowDirection, LogStatus, TcpFlags};
    let mut f = FlowRecord {
        version: Some(5),
        eni: Some(r.eni),
        srcaddr: Some(r.src),
        dstaddr: Some(r.dst),
        srcport: Some(r.srcport),
        dstport: Some(r.dstport),
        protocol: Some(6),
        packets: Some(r.bytes % 7),
        bytes: Some(r.bytes),
        start: Some(r.start),
        end: Some(r.end),
        action: Some(if r.reject {
            Action::Reject
        } else {
            Action::Accept
        }),
        log_status: Some(LogStatus::Ok),
        tcp_flags: Some(TcpFlags(2)),
        flow_direction: r.egress.map(|e| {
            if e {
                FlowDirection::Egress
            } else {
                FlowDirection::Ingress
            }
        }),
        ..FlowRecord::default()
    };
    match r.status {
        0 | 1 => {
            f.srcaddr = None;
            f.dstaddr = None;
            f.log_status = Some(if r.status == 0 {
                LogStatus::SkipData
            } else {
                LogStatus::NoData
            });
        }
        2 => {
            f.srcaddr = None;
            f.dstaddr = None;
            f.flow_direction = None;
        }
        3 => {
            f.protocol = Some(1);
            f.srcport = None;
            f.dstport = None;
        }
        _ => {}
    }
    f
}

/// An IPv4 address from its 32-bit value.
#[allow(dead_code)]
pub fn v4(a: u32) -> std::net::IpAddr {
    std::net::IpAddr::V4(std::net::Ipv4Addr::from(a))
}

/// An interner holding `n` AWS-shaped names, ids 0..n in order.
#[allow(dead_code)]
pub fn names(n: usize) -> Interner {
    let mut i = Interner::new();
    for k in 0..n {
        i.intern(format!("eni-{k:017x}").as_bytes());
    }
    i
}

/// The checks of a grouped-against-one-record-at-a-time test over ENIs `0..enis`: the same
/// histories, then, with every window finished, the same windows, counters, late counts and
/// histories.
#[allow(dead_code)]
pub fn assert_same_run(
    one: &mut Driver,
    grouped: &mut Driver,
    names: &Interner,
    enis: u32,
) -> Result<(), proptest::test_runner::TestCaseError> {
    use proptest::prop_assert_eq;
    for e in 0..enis {
        prop_assert_eq!(one.windower().history(e), grouped.windower().history(e));
    }
    one.finish_windows(names);
    grouped.finish_windows(names);
    prop_assert_eq!(one.sink(), grouped.sink());
    prop_assert_eq!(one.windower().stats(), grouped.windower().stats());
    prop_assert_eq!(
        one.windower().late_counts(),
        grouped.windower().late_counts()
    );
    for e in 0..enis {
        prop_assert_eq!(one.windower().history(e), grouped.windower().history(e));
    }
    Ok(())
}

/// A window configuration from its four settings.
#[allow(dead_code)]
pub fn config(window_secs: u32, lateness: u32, max_open: u32, evidence: bool) -> WindowConfig {
    WindowConfig {
        window_secs,
        allowed_lateness_secs: lateness,
        max_open_windows_per_eni: max_open,
        evidence,
    }
}

/// A reader of `data` named `t.log` that gets it in reads of `steps` bytes in turn (see
/// [`Choppy`]), reporting bad lines to `sink`.
#[allow(dead_code)]
pub fn reader(
    data: &str,
    steps: &[usize],
    opts: &flowvigil::flowlog::ReadOptions,
    sink: &flowvigil::flowlog::MemorySink,
) -> flowvigil::flowlog::LogReader {
    flowvigil::flowlog::LogReader::from_read(
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

/// Read options with `strict`, `max_enis` and `max_reports_per_file` set, the rest default.
#[allow(dead_code)]
pub fn read_opts(strict: bool, max_enis: usize, reports: usize) -> flowvigil::flowlog::ReadOptions {
    flowvigil::flowlog::ReadOptions {
        strict,
        max_enis,
        max_reports_per_file: reports,
        ..flowvigil::flowlog::ReadOptions::default()
    }
}

/// `../shared/datasets/NAME` beside the repository (the real public datasets), or `None` with a
/// printed notice when it is absent (a fresh clone has no `../shared`).
#[allow(dead_code)]
pub fn shared_dataset(name: &str) -> Option<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets"))
        .join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("notice: {} is absent, skipping", dir.display());
        None
    }
}

/// Everything a reader gives: its records (the ENI id replaced by its name), its bad-line
/// reports, its summary, and the error that stopped it (if one did).
#[allow(dead_code)] // not every test file that shares this module reads through it
pub struct ReadAll {
    pub records: Vec<(FlowRecord, Option<String>)>,
    pub reports: Vec<String>,
    pub summary: flowvigil::flowlog::ReadSummary,
    pub error: Option<String>,
}

impl ReadAll {
    /// The bad-line reports with `path` (the file they came from) written as `FILE`, to
    /// compare two files' reports.
    #[allow(dead_code)]
    pub fn reports_without(&self, path: &std::path::Path) -> Vec<String> {
        let p = path.display().to_string();
        self.reports
            .iter()
            .map(|m| m.replacen(&p, "FILE", 1))
            .collect()
    }
}

/// Reads `reader` to its end or its first error (see [`ReadAll`]).
#[allow(dead_code)]
pub fn read_all(reader: flowvigil::flowlog::LogReader) -> ReadAll {
    let sink = flowvigil::flowlog::MemorySink::new();
    let mut reader = reader.with_sink(Box::new(sink.clone()));
    let mut rec = FlowRecord::default();
    let mut records = Vec::new();
    let error = loop {
        match reader.next_record(&mut rec) {
            Ok(true) => {
                let name = rec.eni.map(|id| reader.interner().name(id).to_string());
                let mut r = rec.clone();
                r.eni = None;
                records.push((r, name));
            }
            Ok(false) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    ReadAll {
        records,
        reports: sink.messages(),
        summary: reader.summary().clone(),
        error,
    }
}

/// Every file under `dir`, recursively, sorted.
#[allow(dead_code)]
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
