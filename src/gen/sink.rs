//! The S3 tree writer: records land in 5-minute gzip objects by their simulated delivery time,
//! as AWS delivers them (late and out of order), under AWS's key layout and file naming.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};

use super::civil::parts;
use super::rng::{splitmix64, Rng};
use super::GenError;
use crate::flowlog::{write_header, write_record, Field, FlowRecord, Interner};

/// Width of one delivered object, seconds.
pub const FILE_SECS: u64 = 300;
/// Delivery lag range after a record's `end`, seconds (AWS documents 5-10 minutes typical).
pub const LAG_SECS: (u64, u64) = (60, 600);
/// gzip level: 1, the fastest (compression is the largest cost of generation); the files are
/// still 4-6x smaller than the text.
pub const GZIP_LEVEL: u32 = 1;

/// The text of one 5-minute object (header first), kept until no later record can land in it.
#[derive(Default)]
struct Slot {
    buf: Vec<u8>,
}

/// Writes records into `AWSLogs/{account}/vpcflowlogs/{region}/YYYY/MM/DD/` objects.
///
/// Memory: only objects whose delivery window may still receive records are held, i.e. about
/// `LAG_SECS.1 / FILE_SECS + 2` objects' worth of text.
pub struct S3Writer {
    root: PathBuf,
    account: u64,
    region: String,
    flowlog_id: String,
    fields: Vec<Field>,
    slots: BTreeMap<u64, Slot>,
    rng: Rng,
    seed: u64,
    /// Size of the last object written: new objects reserve about that much up front, so the
    /// buffers do not grow by repeated copying.
    typical: usize,
    /// Objects written.
    pub files: u64,
    /// Compressed bytes written.
    pub bytes: u64,
}

impl S3Writer {
    /// A writer under `out_dir` for the given account, region and field list.
    pub fn new(out_dir: &Path, account: u64, region: &str, fields: &[Field], seed: u64) -> Self {
        let mut st = seed ^ 0xF10F_1065;
        S3Writer {
            root: out_dir
                .join("AWSLogs")
                .join(format!("{account:012}"))
                .join("vpcflowlogs")
                .join(region),
            account,
            region: region.to_string(),
            flowlog_id: format!("fl-0{:016x}", splitmix64(&mut st)),
            fields: fields.to_vec(),
            slots: BTreeMap::new(),
            rng: Rng::new(seed, 11),
            seed,
            typical: 1 << 16,
            files: 0,
            bytes: 0,
        }
    }

    /// Queues `rec` for delivery a random lag after its end.
    pub fn push(&mut self, rec: &FlowRecord, interner: &Interner) {
        let end = rec.end.or(rec.start).unwrap_or(0);
        let delivered = end + self.rng.range(LAG_SECS.0, LAG_SECS.1);
        let fields = &self.fields;
        let typical = self.typical + self.typical / 4;
        let slot = self
            .slots
            .entry(delivered - delivered % FILE_SECS)
            .or_insert_with(|| {
                let mut buf = Vec::with_capacity(typical);
                write_header(fields, &mut buf);
                Slot { buf }
            });
        write_record(rec, fields, interner, &mut slot.buf);
    }

    /// Writes every object that no record ending at or after `t` can still land in.
    pub fn flush_before(&mut self, t: u64) -> Result<(), GenError> {
        let limit = t + LAG_SECS.0;
        while let Some((&s, _)) = self.slots.first_key_value() {
            if s + FILE_SECS > limit {
                break;
            }
            if let Some((s, slot)) = self.slots.pop_first() {
                self.write_slot(s, slot)?;
            }
        }
        Ok(())
    }

    /// Writes every object still held.
    pub fn finish(&mut self) -> Result<(), GenError> {
        while let Some((s, slot)) = self.slots.pop_first() {
            self.write_slot(s, slot)?;
        }
        Ok(())
    }

    fn write_slot(&mut self, s: u64, slot: Slot) -> Result<(), GenError> {
        // Records land by delivery time: an object holds records of the last ten or so
        // intervals, and the next object holds records older than some in this one, which is
        // the disorder a reader of real S3 objects meets.
        let text = slot.buf;
        self.typical = text.len().clamp(1 << 12, 1 << 28);
        let (y, mo, d, h, mi) = parts(s);
        let dir = self
            .root
            .join(format!("{y:04}"))
            .join(format!("{mo:02}"))
            .join(format!("{d:02}"));
        fs::create_dir_all(&dir).map_err(|e| GenError::io(&dir, e))?;
        let mut st = self.seed ^ s;
        let name = format!(
            "{:012}_vpcflowlogs_{}_{}_{y:04}{mo:02}{d:02}T{h:02}{mi:02}Z_{:08x}.log.gz",
            self.account,
            self.region,
            self.flowlog_id,
            splitmix64(&mut st) as u32
        );
        let path = dir.join(name);
        let gz = gzip(&text).map_err(|e| GenError::io(&path, e))?;
        fs::write(&path, &gz).map_err(|e| GenError::io(&path, e))?;
        self.files += 1;
        self.bytes += gz.len() as u64;
        Ok(())
    }
}

/// Deterministic gzip: fixed header (mtime 0, no name) and fixed level.
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzBuilder::new().mtime(0).write(
        Vec::with_capacity(data.len() / 6),
        Compression::new(GZIP_LEVEL),
    );
    enc.write_all(data)?;
    enc.finish()
}
