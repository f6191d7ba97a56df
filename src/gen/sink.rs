//! The S3 tree writer: records land in 5-minute gzip objects by their simulated delivery time,
//! as AWS delivers them (late and out of order), under AWS's key layout and file naming.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, FlushCompress, GzBuilder, Status};

use super::civil::parts;
use super::rng::{splitmix64, Rng};
use super::text::LineWriter;
use super::GenError;
use crate::flowlog::{write_header, Field, FlowRecord, Interner};

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
    /// The reused compressor.
    gz: Gzipper,
    /// The fast line writer (byte-identical to `write_record`), rebuilt when the interner grows.
    text: LineWriter,
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
            gz: Gzipper::new(),
            text: LineWriter::new(fields, &Interner::new()),
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
        if self.text.names_len() != interner.len() {
            self.text = LineWriter::new(&self.fields, interner);
        }
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
        self.text.write(rec, interner, &mut slot.buf);
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
        let gz = self.gz.gzip(&text).map_err(|e| GenError::io(&path, e))?;
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

/// The 10-byte gzip header [`gzip`] writes: magic, deflate, no flags, mtime 0, `XFL` 4 (the
/// fastest level), OS 255 (unknown), as flate2's `GzBuilder` writes it.
const GZ_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];

/// The output buffer flate2's encoder compresses into (`zio::Writer`), bytes.
const ENCODER_BUF: usize = 32 * 1024;

/// Deterministic gzip, byte-identical to [`gzip`], with one compressor reused for every
/// object: a new compressor per object allocates and clears about 300 KB of tables (5% of a
/// v5 run's instructions), and `crc32fast` uses the CPU's carry-less multiply where flate2's
/// built-in CRC did not.
pub struct Gzipper {
    comp: Compress,
}

impl Default for Gzipper {
    fn default() -> Self {
        Self::new()
    }
}

impl Gzipper {
    /// A compressor at [`GZIP_LEVEL`].
    pub fn new() -> Self {
        Gzipper {
            comp: Compress::new(Compression::new(GZIP_LEVEL), false),
        }
    }

    /// `data` as one gzip member.
    pub fn gzip(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        self.comp.reset();
        let mut out = Vec::with_capacity(data.len() / 4 + 64);
        out.extend_from_slice(&GZ_HEADER);
        // The deflate stream depends on how much output room each call has, so this feeds the
        // compressor exactly as flate2's encoder does for one `write_all` and `finish`: all
        // input without flushing into a 32 KiB buffer emptied before every call, then `Finish`
        // calls until one makes no progress.
        let mut chunk: Vec<u8> = Vec::with_capacity(ENCODER_BUF);
        let mut done = 0usize;
        while done < data.len() {
            out.append(&mut chunk);
            let rest = data.get(done..).unwrap_or_default();
            let before = self.comp.total_in();
            self.comp
                .compress_vec(rest, &mut chunk, FlushCompress::None)
                .map_err(std::io::Error::other)?;
            let took = usize::try_from(self.comp.total_in() - before).unwrap_or(rest.len());
            if took == 0 && chunk.is_empty() {
                // No input taken and no output to make room for: flate2 fails here too.
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            done += took;
        }
        loop {
            out.append(&mut chunk);
            let before = self.comp.total_out();
            let status = self
                .comp
                .compress_vec(&[], &mut chunk, FlushCompress::Finish)
                .map_err(std::io::Error::other)?;
            if status == Status::StreamEnd || before == self.comp.total_out() {
                break;
            }
        }
        out.append(&mut chunk);
        let mut crc = crc32fast::Hasher::new();
        crc.update(data);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        // ISIZE: the input length modulo 2^32, as the format defines it.
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Text that compresses like flow logs (repetitive columns, varying numbers), `n` lines.
    fn log_text(n: usize, seed: u64) -> Vec<u8> {
        let mut rng = super::Rng::new(seed, 1);
        let mut out = Vec::new();
        for _ in 0..n {
            let line = format!(
                "2 123456789012 eni-0{:x} 10.0.{}.{} 52.{}.1.9 {} 443 6 {} {} 1772409600 1772409660 ACCEPT OK\n",
                rng.below(40),
                rng.below(4),
                rng.below(255),
                rng.below(255),
                rng.range(32_768, 60_999),
                rng.below(50),
                rng.below(100_000),
            );
            out.extend_from_slice(line.as_bytes());
        }
        out
    }

    /// The reused compressor gives exactly flate2's `GzBuilder` bytes, object after object
    /// (the reset leaves nothing behind), for empty, small and multi-megabyte inputs.
    #[test]
    fn reused_gzipper_matches_gzbuilder() {
        let mut g = Gzipper::new();
        for (n, seed) in [(0, 1), (1, 2), (3_000, 3), (40_000, 4), (10, 5)] {
            let data = log_text(n, seed);
            assert_eq!(g.gzip(&data).unwrap(), gzip(&data).unwrap(), "{n} lines");
        }
    }

    proptest! {
        #[test]
        fn gzipper_matches_gzbuilder_on_any_bytes(
            a in proptest::collection::vec(any::<u8>(), 0..70_000),
            b in proptest::collection::vec(0u8..4, 0..70_000),
        ) {
            let mut g = Gzipper::new();
            prop_assert_eq!(g.gzip(&a).unwrap(), gzip(&a).unwrap());
            prop_assert_eq!(g.gzip(&b).unwrap(), gzip(&b).unwrap());
        }
    }
}
