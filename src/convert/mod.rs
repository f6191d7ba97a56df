//! Converters from real labeled flow data to flow records plus labels (`flowvigil convert`).
//!
//! - [`zeek`]: Zeek `conn.log` TSV, with the Stratosphere/IoT-23 `label` and `detailed-label`
//!   columns when present.
//! - [`darpa`]: the DARPA 1998 edge stream as MIDAS ships it (`src,dst,MM/DD/YYYY-HH:MM,label`).
//!
//! # Output layout (both converters)
//!
//! ```text
//! OUT/logs/YYYY-MM-DD.log.gz   one gzip file per UTC day, header line first
//! OUT/labels.csv               crate::labels format, one row per merged attack interval per ENI
//! OUT/manifest.json            ConvertSummary: rows, bad rows, records, hosts, labels per type
//! ```
//!
//! Records use a custom format: the 14 default (v2) fields plus `flow-direction`, so the
//! direction of every record is explicit. Every internal host becomes one pseudo-ENI named
//! `eni-` + the address in 17 hex digits (IPv4; IPv6 uses a 64-bit hash), and gets one record
//! per direction, as AWS logs an ENI. Traffic between two internal hosts appears at both.
//!
//! # Labels
//!
//! Per-row labels become per-ENI time ranges: labeled rows of the same attack type at the same
//! pseudo-ENI merge while the gap between them is at most [`MERGE_GAP_SECS`]. Each row gets its
//! own `attack_id`. `attacker`/`victim` are the row's source/destination when every merged row
//! agrees, `-` otherwise.
//!
//! # Bad input
//!
//! A malformed row is skipped, counted and reported with its line, column and what was
//! expected ([`BadRow`]); conversion goes on. Memory: the open label intervals (one per attack
//! type and ENI, closed once the stream passes them), one open gzip stream per day (at most
//! [`MAX_DAYS`]), and the pseudo-ENI table (at most [`MAX_HOSTS`]; rows past it are bad rows).

pub mod darpa;
pub mod zeek;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};
use serde::Serialize;

use crate::flowlog::{
    write_header, write_record, Action, EniId, Field, FlowDirection, FlowRecord, Interner,
    LogStatus, DEFAULT_V2_FIELDS,
};
use crate::gen::civil::parts;
use crate::labels::{write_labels, Label};

/// Labeled rows of one attack at one ENI closer than this (seconds) form one label interval.
pub const MERGE_GAP_SECS: u64 = 300;
/// Most pseudo-ENIs (internal hosts) one conversion creates.
pub const MAX_HOSTS: usize = 200_000;
/// Most distinct days one conversion writes.
pub const MAX_DAYS: usize = 1_000;
/// Bad rows kept in the summary (all are counted).
pub const MAX_REPORTED_BAD_ROWS: usize = 50;

/// The output fields: the default v2 fields plus `flow-direction`.
pub fn output_fields() -> Vec<Field> {
    let mut f = DEFAULT_V2_FIELDS.to_vec();
    f.push(Field::FlowDirection);
    f
}

/// Errors that stop a conversion (bad rows do not: they are counted in [`ConvertSummary`]).
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// Reading or writing a file failed.
    #[error("reading or writing {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The input is not in the expected format at all.
    #[error("{path}: {what}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was expected.
        what: String,
    },
    /// A setting is invalid (e.g. a `--local` CIDR).
    #[error("invalid setting: {0}")]
    Setting(String),
}

impl ConvertError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ConvertError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A skipped input row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadRow {
    /// 1-based line number in the input.
    pub line: u64,
    /// 1-based column (field) number.
    pub column: usize,
    /// Column name.
    pub field: String,
    /// What was expected and found.
    pub what: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {} ({}): {}",
            self.line, self.column, self.field, self.what
        )
    }
}

/// What a conversion read and wrote; written as `manifest.json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConvertSummary {
    /// `"zeek"` or `"darpa"`.
    pub converter: String,
    /// The input path.
    pub input: String,
    /// Data rows read (comments and headers excluded).
    pub rows: u64,
    /// Rows skipped as malformed.
    pub bad_rows: u64,
    /// The first [`MAX_REPORTED_BAD_ROWS`] bad rows.
    pub bad_row_examples: Vec<BadRow>,
    /// Rows between two external hosts: no ENI would log them.
    pub external_only_rows: u64,
    /// Input rows per label (`benign` for unlabeled or benign rows), before any merging.
    pub rows_per_label: BTreeMap<String, u64>,
    /// Flow records written.
    pub records: u64,
    /// Pseudo-ENIs (internal hosts).
    pub hosts: usize,
    /// Label rows written.
    pub label_rows: usize,
    /// Label rows per attack type.
    pub label_rows_per_type: BTreeMap<String, usize>,
    /// Day files written.
    pub files: usize,
    /// Earliest and latest record start, Unix seconds.
    pub span: Option<(u64, u64)>,
    /// The merge gap used for labels, seconds.
    pub merge_gap_secs: u64,
}

impl ConvertSummary {
    pub(crate) fn bad(&mut self, row: BadRow) {
        self.bad_rows += 1;
        if self.bad_row_examples.len() < MAX_REPORTED_BAD_ROWS {
            self.bad_row_examples.push(row);
        }
    }
}

/// An IP network in CIDR notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::/n`.
    pub fn parse(s: &str) -> Result<Cidr, ConvertError> {
        let bad = || ConvertError::Setting(format!("`{s}`: expected a CIDR like 10.0.0.0/8"));
        let (a, b) = s.split_once('/').ok_or_else(bad)?;
        let net: IpAddr = a.parse().map_err(|_| bad())?;
        let bits: u8 = b.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        if bits > max {
            return Err(bad());
        }
        Ok(Cidr { net, bits })
    }

    /// True when `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// RFC 1918 private IPv4 ranges and IPv6 unique-local addresses: the default "internal".
    pub fn private_ranges() -> Vec<Cidr> {
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
            .iter()
            .filter_map(|s| Cidr::parse(s).ok())
            .collect()
    }
}

/// The pseudo-ENI name of an internal host: `eni-` + the IPv4 address in 17 hex digits
/// (`192.168.1.195` → `eni-000000000c0a801c3`), or a 64-bit FNV-1a hash for IPv6.
pub fn pseudo_eni(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => format!("eni-{:017x}", u32::from(a)),
        IpAddr::V6(a) => {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in a.octets() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            format!("eni-6{h:016x}")
        }
    }
}

/// Internal hosts and their pseudo-ENIs.
pub(crate) struct Hosts {
    local: Vec<Cidr>,
    ids: HashMap<IpAddr, EniId>,
    pub(crate) interner: Interner,
}

impl Hosts {
    pub(crate) fn new(local: Vec<Cidr>) -> Self {
        Hosts {
            local,
            ids: HashMap::new(),
            interner: Interner::new(),
        }
    }

    pub(crate) fn is_internal(&self, ip: IpAddr) -> bool {
        self.local.iter().any(|c| c.contains(ip))
    }

    /// The pseudo-ENI of `ip` when internal; `Err(())` when the host table is full.
    pub(crate) fn eni(&mut self, ip: IpAddr) -> Result<Option<EniId>, ()> {
        if !self.is_internal(ip) {
            return Ok(None);
        }
        if let Some(&id) = self.ids.get(&ip) {
            return Ok(Some(id));
        }
        if self.ids.len() >= MAX_HOSTS {
            return Err(());
        }
        let id = self.interner.intern(pseudo_eni(ip).as_bytes());
        self.ids.insert(ip, id);
        Ok(Some(id))
    }
}

/// One gzip file per UTC day under `OUT/logs/`.
pub(crate) struct DayFiles {
    dir: PathBuf,
    fields: Vec<Field>,
    open: BTreeMap<u64, GzEncoder<BufWriter<fs::File>>>,
    line: Vec<u8>,
    pub(crate) records: u64,
    span: Option<(u64, u64)>,
}

impl DayFiles {
    pub(crate) fn new(out: &Path) -> Result<Self, ConvertError> {
        let dir = out.join("logs");
        fs::create_dir_all(&dir).map_err(|e| ConvertError::io(&dir, e))?;
        Ok(DayFiles {
            dir,
            fields: output_fields(),
            open: BTreeMap::new(),
            line: Vec::new(),
            records: 0,
            span: None,
        })
    }

    /// Appends `rec` to the file of the day of its start.
    pub(crate) fn write(
        &mut self,
        rec: &FlowRecord,
        interner: &Interner,
    ) -> Result<(), ConvertError> {
        let start = rec.start.unwrap_or(0);
        let day = start / 86_400;
        if !self.open.contains_key(&day) {
            if self.open.len() >= MAX_DAYS {
                return Err(ConvertError::Setting(format!(
                    "input spans more than {MAX_DAYS} days"
                )));
            }
            let (y, m, d, _, _) = parts(start);
            let path = self.dir.join(format!("{y:04}-{m:02}-{d:02}.log.gz"));
            let f = fs::File::create(&path).map_err(|e| ConvertError::io(&path, e))?;
            let mut enc = GzBuilder::new().mtime(0).write(
                BufWriter::new(f),
                Compression::new(crate::gen::sink::GZIP_LEVEL),
            );
            self.line.clear();
            write_header(&self.fields, &mut self.line);
            enc.write_all(&self.line)
                .map_err(|e| ConvertError::io(&path, e))?;
            self.open.insert(day, enc);
        }
        self.line.clear();
        write_record(rec, &self.fields, interner, &mut self.line);
        if let Some(enc) = self.open.get_mut(&day) {
            enc.write_all(&self.line)
                .map_err(|e| ConvertError::io(&self.dir, e))?;
        }
        self.records += 1;
        self.span = Some(
            self.span
                .map_or((start, start), |(a, b)| (a.min(start), b.max(start))),
        );
        Ok(())
    }

    /// Finishes every file; returns (files, span).
    pub(crate) fn finish(self) -> Result<(usize, Option<(u64, u64)>), ConvertError> {
        let n = self.open.len();
        for (_, enc) in self.open {
            let mut w = enc.finish().map_err(|e| ConvertError::io(&self.dir, e))?;
            w.flush().map_err(|e| ConvertError::io(&self.dir, e))?;
        }
        Ok((n, self.span))
    }
}

/// Fills `rec` as one direction of a flow seen at `eni`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fill(
    rec: &mut FlowRecord,
    eni: EniId,
    (src, dst): (IpAddr, IpAddr),
    (sport, dport, proto): (u16, u16, u8),
    (packets, bytes): (u64, u64),
    (start, end): (u64, u64),
    reject: bool,
    egress: bool,
) {
    rec.clear();
    rec.version = Some(2);
    rec.eni = Some(eni);
    rec.srcaddr = Some(src);
    rec.dstaddr = Some(dst);
    rec.srcport = Some(sport);
    rec.dstport = Some(dport);
    rec.protocol = Some(proto);
    rec.packets = Some(packets);
    rec.bytes = Some(bytes);
    rec.start = Some(start);
    rec.end = Some(end.max(start));
    rec.action = Some(if reject {
        Action::Reject
    } else {
        Action::Accept
    });
    rec.log_status = Some(LogStatus::Ok);
    rec.flow_direction = Some(if egress {
        FlowDirection::Egress
    } else {
        FlowDirection::Ingress
    });
}

struct Open {
    start: u64,
    end: u64,
    attacker: Option<IpAddr>,
    victim: Option<IpAddr>,
}

/// Merges per-row labels into per-ENI intervals (see the module docs).
pub(crate) struct LabelMerger {
    gap: u64,
    open: HashMap<(String, EniId), Open>,
    done: Vec<(String, EniId, Open)>,
}

impl LabelMerger {
    pub(crate) fn new(gap: u64) -> Self {
        LabelMerger {
            gap,
            open: HashMap::new(),
            done: Vec::new(),
        }
    }

    /// Adds a labeled row of `attack` at `eni` over `[start, end)`.
    pub(crate) fn add(
        &mut self,
        attack: &str,
        eni: EniId,
        start: u64,
        end: u64,
        src: IpAddr,
        dst: IpAddr,
    ) {
        let end = end.max(start + 1);
        let key = (attack.to_string(), eni);
        if let Some(o) = self.open.get_mut(&key) {
            if start <= o.end + self.gap && end + self.gap >= o.start {
                o.start = o.start.min(start);
                o.end = o.end.max(end);
                if o.attacker != Some(src) {
                    o.attacker = None;
                }
                if o.victim != Some(dst) {
                    o.victim = None;
                }
                return;
            }
            if let Some(o) = self.open.remove(&key) {
                self.done.push((key.0.clone(), eni, o));
            }
        }
        self.open.insert(
            key,
            Open {
                start,
                end,
                attacker: Some(src),
                victim: Some(dst),
            },
        );
    }

    /// Closes intervals that ended more than the gap before `now` (bounds the open map for
    /// time-ordered input).
    pub(crate) fn sweep(&mut self, now: u64) {
        let gap = self.gap;
        let closed: Vec<(String, EniId)> = self
            .open
            .iter()
            .filter(|(_, o)| o.end + gap < now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in closed {
            if let Some(o) = self.open.remove(&k) {
                self.done.push((k.0, k.1, o));
            }
        }
    }

    /// All label rows, sorted by start, ENI name and type; ids from 1 in that order.
    ///
    /// Intervals closed early (a long connection logged late, out-of-order input) are joined
    /// here again when within the gap, so the result does not depend on input order.
    pub(crate) fn finish(mut self, interner: &Interner) -> Vec<Label> {
        self.sweep(u64::MAX);
        let gap = self.gap;
        let mut done = self.done;
        done.sort_by(|a, b| (&a.0, a.1, a.2.start).cmp(&(&b.0, b.1, b.2.start)));
        let mut merged: Vec<(String, EniId, Open)> = Vec::with_capacity(done.len());
        for (t, eni, o) in done {
            if let Some((pt, pe, p)) = merged.last_mut() {
                if *pt == t && *pe == eni && o.start <= p.end + gap {
                    p.end = p.end.max(o.end);
                    if p.attacker != o.attacker {
                        p.attacker = None;
                    }
                    if p.victim != o.victim {
                        p.victim = None;
                    }
                    continue;
                }
            }
            merged.push((t, eni, o));
        }
        let mut labels: Vec<Label> = merged
            .into_iter()
            .map(|(t, eni, o)| Label {
                attack_id: 0,
                attack_type: t,
                eni: interner.name(eni).to_string(),
                start: o.start,
                end: o.end,
                attacker: o.attacker,
                victim: o.victim,
            })
            .collect();
        labels.sort_by(|a, b| {
            (a.start, &a.eni, &a.attack_type, a.end).cmp(&(b.start, &b.eni, &b.attack_type, b.end))
        });
        for (i, l) in labels.iter_mut().enumerate() {
            l.attack_id = i as u32 + 1;
        }
        labels
    }
}

/// Writes `labels.csv` and `manifest.json` and completes the summary.
pub(crate) fn write_outputs(
    out: &Path,
    mut summary: ConvertSummary,
    labels: &[Label],
    files: (usize, Option<(u64, u64)>),
    records: u64,
    hosts: usize,
) -> Result<ConvertSummary, ConvertError> {
    summary.records = records;
    summary.hosts = hosts;
    summary.files = files.0;
    summary.span = files.1;
    summary.label_rows = labels.len();
    summary.merge_gap_secs = MERGE_GAP_SECS;
    for l in labels {
        *summary
            .label_rows_per_type
            .entry(l.attack_type.clone())
            .or_insert(0) += 1;
    }
    let path = out.join("labels.csv");
    let f = fs::File::create(&path).map_err(|e| ConvertError::io(&path, e))?;
    let mut w = BufWriter::new(f);
    write_labels(&mut w, labels).map_err(|e| ConvertError::io(&path, e))?;
    w.flush().map_err(|e| ConvertError::io(&path, e))?;
    let path = out.join("manifest.json");
    let mut json =
        serde_json::to_vec_pretty(&summary).map_err(|e| ConvertError::io(&path, e.into()))?;
    json.push(b'\n');
    fs::write(&path, json).map_err(|e| ConvertError::io(&path, e))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains_and_rejects() {
        let c = Cidr::parse("172.16.0.0/12").unwrap();
        assert!(c.contains("172.31.255.1".parse().unwrap()));
        assert!(!c.contains("172.32.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0.0").is_err());
        assert!(Cidr::parse("fc00::/7")
            .unwrap()
            .contains("fd12::1".parse().unwrap()));
    }

    #[test]
    fn pseudo_eni_names() {
        assert_eq!(
            pseudo_eni("192.168.1.195".parse().unwrap()),
            "eni-000000000c0a801c3"
        );
        let v6 = pseudo_eni("fd00::1".parse().unwrap());
        assert!(v6.starts_with("eni-6") && v6.len() == 21, "{v6}");
    }

    #[test]
    fn merger_joins_within_gap_and_splits_beyond() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "8.8.8.8".parse().unwrap();
        let c: IpAddr = "9.9.9.9".parse().unwrap();
        let mut i = Interner::new();
        let e = i.intern(b"eni-x");
        let mut m = LabelMerger::new(300);
        m.add("ddos", e, 1000, 1010, a, b);
        m.add("ddos", e, 1300, 1310, a, c); // gap 290: merged, victims differ
        m.add("ddos", e, 1700, 1701, a, b); // gap 390: new interval
        m.add("scan", e, 1005, 1006, a, b); // other type: its own row
        m.sweep(5000); // closes everything: a late row must still merge at the end
        m.add("ddos", e, 1305, 1320, a, c);
        let l = m.finish(&i);
        assert_eq!(l.len(), 3);
        assert_eq!((l[0].start, l[0].end, l[0].victim), (1000, 1320, None));
        assert_eq!(l[0].attacker, Some(a));
        assert_eq!(l[1].attack_type, "scan");
        assert_eq!((l[2].start, l[2].end, l[2].victim), (1700, 1701, Some(b)));
        assert_eq!(
            l.iter().map(|x| x.attack_id).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }
}
