//! Streaming scoring with exact resume.
//!
//! The stream drives one [`ShardDriver`] (the same window → features → score code that every
//! backtest shard runs) over records as they arrive, and writes alerts as windows close.
//!
//! # Exactly-once output
//!
//! A [`Checkpoint`] holds the model's per-ENI states, the open windows and feature histories, the
//! watermark, the interner, the input position (last record consumed) and the **length of the
//! alert output** at that moment. Checkpoints are written atomically (temp file, fsync, rename)
//! every `checkpoint_every_windows` closed windows, on SIGTERM (after draining the record in
//! hand), and at the end. On resume the alert file is truncated back to the checkpointed length
//! and input is skipped up to the checkpointed position, so a run killed at any instant (even
//! `kill -9`) and resumed emits exactly the alerts of an uninterrupted run: none lost, none twice.
//! This guarantee needs `--out FILE`; alerts written to stdout after the last checkpoint cannot be
//! taken back, so a resumed stdout stream may repeat them (at-least-once).
//!
//! # Following a folder
//!
//! With `follow`, the folder is scanned (recursively, sorted by path) every `poll_interval_ms`;
//! each file not seen before is read whole, in name order, which for AWS's S3 naming
//! (`..._{YYYYMMDDTHHmmZ}_{hash}.log.gz`) is time order. Files must appear atomically (written
//! elsewhere, then renamed in), as `aws s3 sync` does. The set of files done is part of the
//! checkpoint. Time is event time: the wall clock only paces polling and never touches scores.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::detect::EniState;
use crate::features::Observation;
use crate::flowlog::{FlowRecord, InputPosition, Interner, LogReader, ReadOptions};
use crate::model::{self, Model};
use crate::window::{Push, ShardDriver, Watermark, Windower};

use super::alerts::{write_alert, AlertFormat};
use super::batch::{ScoredRow, ScoringSink};
use super::EngineError;

/// Checkpoint file layout version.
pub const CHECKPOINT_VERSION: u32 = 1;

/// How the stream runs.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Alert format.
    pub format: AlertFormat,
    /// Write alerts here (appending; truncated to the checkpoint on resume); `None` = stdout.
    pub out: Option<PathBuf>,
    /// Checkpoint file; `None` = no checkpoints.
    pub checkpoint: Option<PathBuf>,
    /// Checkpoint after this many closed windows (and on SIGTERM, and at the end).
    pub checkpoint_every_windows: u64,
    /// Follow this folder for new files instead of reading `inputs` once.
    pub follow: Option<PathBuf>,
    /// Folder polling period, milliseconds.
    pub poll_interval_ms: u64,
    /// With `follow`: stop (checkpointing, windows left open) after this many polls in a row
    /// found nothing new; `None` = run until SIGTERM.
    pub idle_polls_before_exit: Option<u64>,
    /// Write every scored window, not only alerts.
    pub all_windows: bool,
    /// How the flow logs are read.
    pub read: ReadOptions,
    /// Fault injection for crash tests: abort the process (no cleanup, as `kill -9`) after this
    /// many records in this process.
    pub abort_after_records: Option<u64>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            format: AlertFormat::Jsonl,
            out: None,
            checkpoint: None,
            checkpoint_every_windows: 1000,
            follow: None,
            poll_interval_ms: 1000,
            idle_polls_before_exit: None,
            all_windows: false,
            read: ReadOptions::default(),
            abort_after_records: None,
        }
    }
}

/// Everything needed to resume a stream exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// The ENI names, in interned-id order.
    pub names: Vec<String>,
    /// Open windows and feature histories.
    pub windower: Windower,
    /// The global watermark.
    pub watermark: Watermark,
    /// The last watermark the driver closed windows at.
    pub driver_watermark: u64,
    /// Per-ENI scoring states.
    pub states: BTreeMap<String, EniState>,
    /// Last record consumed in the current input (`None`: none yet).
    pub position: Option<InputPosition>,
    /// Files finished (follow mode), sorted.
    pub done_files: Vec<PathBuf>,
    /// Length of the alert output when the checkpoint was taken.
    pub out_bytes: u64,
    /// Counters.
    pub counters: StreamCounters,
    /// True when the input ended and every window was closed.
    pub finished: bool,
}

/// What a stream has done.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCounters {
    /// Records consumed.
    pub records: u64,
    /// Windows scored.
    pub windows: u64,
    /// Alerts written.
    pub alerts: u64,
    /// Late records (counted per ENI in the windower as well).
    pub late: u64,
    /// Checkpoints written (this process only).
    pub checkpoints: u64,
}

/// The stream's output sink: a file whose length is checkpointed, or stdout.
enum Out {
    File(BufWriter<File>, u64),
    Stdout(std::io::Stdout),
}

impl Out {
    fn open(path: Option<&Path>, truncate_to: u64) -> Result<Out, EngineError> {
        let Some(path) = path else {
            return Ok(Out::Stdout(std::io::stdout()));
        };
        let io = |e| EngineError::Output(path.to_path_buf(), e);
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io)?;
        f.set_len(truncate_to).map_err(io)?;
        f.seek(SeekFrom::Start(truncate_to)).map_err(io)?;
        Ok(Out::File(BufWriter::new(f), truncate_to))
    }

    fn write_row(
        &mut self,
        row: &ScoredRow,
        window_secs: u32,
        format: AlertFormat,
    ) -> std::io::Result<()> {
        let Some(v) = row.verdict.as_deref() else {
            return Ok(());
        };
        match self {
            Out::File(w, len) => {
                let mut line = Vec::with_capacity(512);
                write_alert(&mut line, &row.eni, v, window_secs, format)?;
                w.write_all(&line)?;
                *len += line.len() as u64;
                Ok(())
            }
            Out::Stdout(s) => write_alert(&mut s.lock(), &row.eni, v, window_secs, format),
        }
    }

    /// Flushes and syncs; returns the durable length.
    fn sync(&mut self) -> std::io::Result<u64> {
        match self {
            Out::File(w, len) => {
                w.flush()?;
                w.get_ref().sync_data()?;
                Ok(*len)
            }
            Out::Stdout(s) => {
                s.flush()?;
                Ok(0)
            }
        }
    }
}

/// The running stream: one driver, its model, its output, its counters.
struct Stream<'m> {
    opts: &'m StreamOptions,
    model: &'m Model,
    driver: ShardDriver<ScoringSink<'m>>,
    watermark: Watermark,
    names: Interner,
    out: Out,
    counters: StreamCounters,
    done_files: BTreeSet<PathBuf>,
    position: Option<InputPosition>,
    since_checkpoint: u64,
    stop: Arc<AtomicBool>,
    consumed: u64,
    bad_lines: u64,
}

impl<'m> Stream<'m> {
    /// Feeds one record (the driving protocol of [`crate::window`]), then emits what closed.
    fn feed(&mut self, rec: &FlowRecord) -> Result<(), EngineError> {
        let now = self.watermark.get();
        self.counters.records += 1;
        if let Ok(obs) = Observation::from_record(rec) {
            if self.driver.feed(&obs, now, &self.names) == Push::Late {
                self.counters.late += 1;
            }
        } else {
            self.driver.windower_mut().push(rec, now);
        }
        self.watermark.observe(rec);
        self.emit()
    }

    fn emit(&mut self) -> Result<(), EngineError> {
        let rows = self.driver.sink_mut().take_rows();
        let window_secs = self.model.windowing.window_secs;
        for row in &rows {
            self.counters.windows += 1;
            self.since_checkpoint += 1;
            if row.alert || self.opts.all_windows {
                self.out
                    .write_row(row, window_secs, self.opts.format)
                    .map_err(EngineError::Write)?;
                if row.alert {
                    self.counters.alerts += 1;
                }
            }
        }
        Ok(())
    }

    fn checkpoint(&mut self, finished: bool) -> Result<(), EngineError> {
        let out_bytes = self.out.sync().map_err(EngineError::Write)?;
        let Some(path) = self.opts.checkpoint.as_deref() else {
            return Ok(());
        };
        self.counters.checkpoints += 1;
        let cp = Checkpoint {
            version: CHECKPOINT_VERSION,
            names: self.names.names().to_vec(),
            windower: self.driver.windower().clone(),
            watermark: self.watermark.clone(),
            driver_watermark: self.driver.last_watermark(),
            states: self.driver.sink().states().clone(),
            position: self.position.clone(),
            done_files: self.done_files.iter().cloned().collect(),
            out_bytes,
            counters: self.counters.clone(),
            finished,
        };
        model::save_checkpoint(&cp, path)?;
        self.since_checkpoint = 0;
        Ok(())
    }

    /// Reads `reader` to its end (or until SIGTERM), checkpointing as configured. Returns false
    /// when stopped by a signal.
    fn run_reader(&mut self, reader: &mut LogReader) -> Result<bool, EngineError> {
        let mut rec = FlowRecord::default();
        let mut n = 0u64;
        while reader.next_record(&mut rec)? {
            // The reader interns into its own interner; mirror new names (ids are equal).
            let rn = reader.interner().names();
            while self.names.len() < rn.len() {
                if let Some(name) = rn.get(self.names.len()) {
                    self.names.intern(name.as_bytes());
                }
            }
            self.feed(&rec)?;
            self.position = Some(reader.position());
            n += 1;
            self.consumed += 1;
            if self.opts.abort_after_records == Some(self.consumed) {
                std::process::abort();
            }
            if self.since_checkpoint >= self.opts.checkpoint_every_windows.max(1) {
                self.checkpoint(false)?;
            }
            if n.is_multiple_of(1024) && self.stop.load(Ordering::Relaxed) {
                self.bad_lines += reader.summary().bad_lines;
                return Ok(false);
            }
        }
        self.bad_lines += reader.summary().bad_lines;
        Ok(!self.stop.load(Ordering::Relaxed))
    }

    fn finish(&mut self) -> Result<(), EngineError> {
        self.driver.finish_windows(&self.names);
        self.emit()?;
        self.checkpoint(true)
    }
}

/// The outcome of [`run_stream`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOutcome {
    /// Counters, including those before a resume.
    pub counters: StreamCounters,
    /// True when stopped by SIGTERM (windows left open in the checkpoint).
    pub stopped: bool,
    /// True when resumed from a checkpoint that had already finished (nothing was done).
    pub already_finished: bool,
    /// Malformed input lines counted (this process).
    pub bad_lines: u64,
}

/// Streams `inputs` (or the followed folder) through `model`, writing alerts. `stop` is raised
/// by the caller's SIGTERM handler (or a test).
pub fn run_stream(
    model: &Model,
    inputs: &[PathBuf],
    opts: &StreamOptions,
    stop: Arc<AtomicBool>,
) -> Result<StreamOutcome, EngineError> {
    let resumed = match opts.checkpoint.as_deref() {
        Some(p) if p.exists() => Some(model::load_checkpoint::<Checkpoint>(p)?),
        _ => None,
    };
    if resumed.as_ref().is_some_and(|c| c.finished) {
        return Ok(StreamOutcome {
            counters: resumed.map(|c| c.counters).unwrap_or_default(),
            stopped: false,
            already_finished: true,
            bad_lines: 0,
        });
    }
    let mut stream = match resumed {
        Some(cp) => resume(model, opts, cp, stop)?,
        None => fresh(model, opts, stop)?,
    };
    let stopped = match opts.follow.as_deref() {
        Some(dir) => follow(&mut stream, dir)?,
        None => {
            let mut reader =
                LogReader::open(inputs, opts.read.clone())?.with_interner(stream.names.clone());
            if let Some(pos) = stream.position.clone() {
                reader.resume_at(&pos)?;
            }
            !stream.run_reader(&mut reader)?
        }
    };
    if stopped || opts.follow.is_some() {
        stream.checkpoint(false)?;
    } else {
        stream.finish()?;
    }
    Ok(StreamOutcome {
        counters: stream.counters.clone(),
        stopped,
        already_finished: false,
        bad_lines: stream.bad_lines,
    })
}

fn fresh<'m>(
    model: &'m Model,
    opts: &'m StreamOptions,
    stop: Arc<AtomicBool>,
) -> Result<Stream<'m>, EngineError> {
    let mut names = Interner::new();
    let mut windower = Windower::new(model.windowing.clone());
    for (name, h) in &model.histories {
        let id = names.intern(name.as_bytes());
        windower.set_history(id, h.clone());
    }
    let sink = ScoringSink::new(
        &model.scorer,
        model.enis.clone(),
        Vec::new(),
        opts.all_windows,
    );
    let out = Out::open(opts.out.as_deref(), 0)?;
    Ok(Stream {
        opts,
        model,
        driver: ShardDriver::with_windower(windower, sink, 0),
        watermark: Watermark::new(model.windowing.allowed_lateness_secs),
        names,
        out,
        counters: StreamCounters::default(),
        done_files: BTreeSet::new(),
        position: None,
        since_checkpoint: 0,
        stop,
        consumed: 0,
        bad_lines: 0,
    })
}

fn resume<'m>(
    model: &'m Model,
    opts: &'m StreamOptions,
    cp: Checkpoint,
    stop: Arc<AtomicBool>,
) -> Result<Stream<'m>, EngineError> {
    let mut names = Interner::new();
    for n in &cp.names {
        names.intern(n.as_bytes());
    }
    let sink = ScoringSink::new(&model.scorer, cp.states, Vec::new(), opts.all_windows);
    let out = Out::open(opts.out.as_deref(), cp.out_bytes)?;
    Ok(Stream {
        opts,
        model,
        driver: ShardDriver::with_windower(cp.windower, sink, cp.driver_watermark),
        watermark: cp.watermark,
        names,
        out,
        counters: cp.counters,
        done_files: cp.done_files.into_iter().collect(),
        position: cp.position,
        since_checkpoint: 0,
        stop,
        consumed: 0,
        bad_lines: 0,
    })
}

/// Lists the files below `dir`, recursively, sorted.
fn list_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            list_files(&p, out)?;
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.'))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Follows `dir`; returns true when stopped by a signal.
fn follow(stream: &mut Stream<'_>, dir: &Path) -> Result<bool, EngineError> {
    let mut idle = 0u64;
    loop {
        let mut files = Vec::new();
        list_files(dir, &mut files).map_err(|e| EngineError::Output(dir.to_path_buf(), e))?;
        let mut progressed = false;
        for f in files {
            if stream.done_files.contains(&f) {
                continue;
            }
            progressed = true;
            let mut reader = LogReader::open(std::slice::from_ref(&f), stream.opts.read.clone())?
                .with_interner(stream.names.clone());
            if let Some(pos) = stream.position.clone() {
                if pos.path == f {
                    reader.resume_at(&pos)?;
                }
            }
            if !stream.run_reader(&mut reader)? {
                return Ok(true);
            }
            stream.done_files.insert(f);
            stream.position = None;
        }
        if stream.stop.load(Ordering::Relaxed) {
            return Ok(true);
        }
        if progressed {
            idle = 0;
            stream.checkpoint(false)?;
        } else {
            idle += 1;
            if stream
                .opts
                .idle_polls_before_exit
                .is_some_and(|n| idle >= n)
            {
                return Ok(false);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(
            stream.opts.poll_interval_ms,
        ));
    }
}
