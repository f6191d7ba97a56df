//! The DARPA 1998 edge stream as MIDAS ships it → flow records + labels.
//!
//! Input: `src,dst,MM/DD/YYYY-HH:MM,label` without a header, addresses zero-padded
//! (`172.016.112.020`), `label` `-` for benign rows or the DARPA attack name (kept as given:
//! `neptune`, `portsweep`, ...). A `.zip` is read as a stream from its first `.csv` entry; the
//! 249 MB CSV is never held in memory.
//!
//! Mapping:
//! - internal hosts (private ranges: 172.16.0.0/12 and 192.168.0.0/16 in DARPA) become
//!   pseudo-ENIs; an edge is logged at its source (egress) and its destination (ingress) when
//!   internal.
//! - Times are minute-resolution and taken as UTC; a record spans `[minute, minute + 60)`.
//! - Edges carry no ports, protocol, bytes or action. Placeholders: ports 0, protocol 0
//!   (meaning "unknown" here), action ACCEPT, and the rows of one minute with the same source,
//!   destination and label aggregate into one record, as AWS aggregates a flow over its
//!   interval: `packets` = number of rows, `bytes` = 60 × rows (a minimal TCP/IP packet).
//! - Rows with an invalid date (the stream has ten `07/32/1998`) or address are bad rows: reported
//!   with line and column, counted, skipped.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::{
    fill, write_outputs, BadRow, Cidr, ConvertError, ConvertSummary, DayFiles, Hosts, LabelMerger,
    MERGE_GAP_SECS,
};
use crate::flowlog::FlowRecord;
use crate::gen::civil::{days_from_civil, days_in_month};

/// Placeholder bytes per edge.
pub const BYTES_PER_EDGE: u64 = 60;
/// Most distinct (source, destination, label) keys held for one minute before an early flush.
const MAX_KEYS_PER_MINUTE: usize = 1 << 20;
const COLUMNS: [&str; 4] = ["src", "dst", "timestamp", "label"];

/// Parses a possibly zero-padded dotted quad (`172.016.112.020`).
pub fn parse_padded_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut o = [0u8; 4];
    let mut parts = s.split('.');
    for slot in &mut o {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse::<u16>().ok().and_then(|v| u8::try_from(v).ok())?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(o))
}

/// Parses `MM/DD/YYYY-HH:MM` into Unix seconds (UTC), checking the calendar.
pub fn parse_timestamp(s: &str) -> Result<u64, String> {
    let err = || format!("expected MM/DD/YYYY-HH:MM, found `{s}`");
    let b = s.as_bytes();
    if b.len() != 16
        || b.get(2) != Some(&b'/')
        || b.get(5) != Some(&b'/')
        || b.get(10) != Some(&b'-')
        || b.get(13) != Some(&b':')
    {
        return Err(err());
    }
    let num = |a: usize, z: usize| -> Result<u32, String> {
        let t = s.get(a..z).ok_or_else(err)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        t.parse().map_err(|_| err())
    };
    let (mo, d, y, h, mi) = (
        num(0, 2)?,
        num(3, 5)?,
        num(6, 10)?,
        num(11, 13)?,
        num(14, 16)?,
    );
    if !(1..=12).contains(&mo) {
        return Err(format!("month {mo} out of range in `{s}`"));
    }
    let dim = days_in_month(i64::from(y), mo);
    if d < 1 || d > dim {
        return Err(format!(
            "day {d} out of range (month {mo} has {dim}) in `{s}`"
        ));
    }
    if h > 23 || mi > 59 || y < 1970 {
        return Err(err());
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Ok(days as u64 * 86_400 + u64::from(h) * 3600 + u64::from(mi) * 60)
}

/// Converts the DARPA CSV or zip at `input` into `out` (see [`super`] for the layout).
pub fn convert(input: &Path, out: &Path) -> Result<ConvertSummary, ConvertError> {
    convert_prefix(input, out, u64::MAX)
}

/// [`convert`] on the first `max_rows` data rows only (tests on a streamed prefix).
pub fn convert_prefix(
    input: &Path,
    out: &Path,
    max_rows: u64,
) -> Result<ConvertSummary, ConvertError> {
    let mut f = File::open(input).map_err(|e| ConvertError::io(input, e))?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(|e| ConvertError::io(input, e))?;
    drop(f);
    let f = File::open(input).map_err(|e| ConvertError::io(input, e))?;
    if n == 4 && magic == *b"PK\x03\x04" {
        let mut zip = zip::ZipArchive::new(f).map_err(|e| ConvertError::Format {
            path: input.to_path_buf(),
            what: format!("reading the zip: {e}"),
        })?;
        let idx = (0..zip.len())
            .find(|&i| zip.name_for_index(i).is_some_and(|n| n.ends_with(".csv")))
            .unwrap_or(0);
        let entry = zip.by_index(idx).map_err(|e| ConvertError::Format {
            path: input.to_path_buf(),
            what: format!("opening the zip entry: {e}"),
        })?;
        convert_reader(
            BufReader::with_capacity(1 << 20, entry),
            input,
            out,
            max_rows,
        )
    } else {
        convert_reader(BufReader::with_capacity(1 << 20, f), input, out, max_rows)
    }
}

/// [`convert`] over any reader (`name` is used in messages).
pub fn convert_reader<R: Read>(
    mut input: BufReader<R>,
    name: &Path,
    out: &Path,
    max_rows: u64,
) -> Result<ConvertSummary, ConvertError> {
    let mut st = State {
        hosts: Hosts::new(Cidr::private_ranges()),
        files: DayFiles::new(out)?,
        merger: LabelMerger::new(MERGE_GAP_SECS),
        labels: Vec::new(),
        label_ids: HashMap::new(),
        minute: None,
        keys: HashMap::new(),
        rec: FlowRecord::default(),
    };
    let mut summary = ConvertSummary {
        converter: "darpa".into(),
        input: name.display().to_string(),
        ..ConvertSummary::default()
    };
    let mut line = Vec::with_capacity(128);
    let mut n = 0u64;
    let mut rows_per_label: Vec<u64> = Vec::new();
    while summary.rows < max_rows {
        line.clear();
        let got = input
            .read_until(b'\n', &mut line)
            .map_err(|e| ConvertError::io(name, e))?;
        if got == 0 {
            break;
        }
        n += 1;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            continue;
        }
        summary.rows += 1;
        match parse_row(text, n) {
            Ok((src, dst, minute, label)) => {
                let li = st.label_index(label);
                if let Some(c) = rows_per_label.get_mut(li) {
                    *c += 1;
                } else {
                    rows_per_label.resize(li + 1, 0);
                    if let Some(c) = rows_per_label.get_mut(li) {
                        *c = 1;
                    }
                }
                if st.minute != Some(minute) || st.keys.len() >= MAX_KEYS_PER_MINUTE {
                    st.flush(&mut summary)?;
                    st.minute = Some(minute);
                    st.merger.sweep(minute.saturating_sub(3600));
                }
                *st.keys.entry((src, dst, li)).or_insert(0) += 1;
            }
            Err(bad) => summary.bad(bad),
        }
    }
    st.flush(&mut summary)?;
    for (li, c) in rows_per_label.iter().enumerate() {
        if let Some(l) = st.labels.get(li) {
            let key = if l == "-" {
                "benign".to_string()
            } else {
                l.clone()
            };
            *summary.rows_per_label.entry(key).or_insert(0) += c;
        }
    }
    let labels = st.merger.finish(&st.hosts.interner);
    let records = st.files.records;
    let hosts = st.hosts.interner.len();
    let f = st.files.finish()?;
    write_outputs(out, summary, &labels, f, records, hosts)
}

fn parse_row(text: &str, line: u64) -> Result<(Ipv4Addr, Ipv4Addr, u64, &str), BadRow> {
    let bad = |col: usize, what: String| BadRow {
        line,
        column: col + 1,
        field: COLUMNS.get(col).copied().unwrap_or("(row)").to_string(),
        what,
    };
    let mut it = text.split(',');
    let (Some(s), Some(d), Some(t), Some(l), None) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        let n = text.split(',').count();
        return Err(BadRow {
            line,
            column: n.min(4) + 1,
            field: "(row)".into(),
            what: format!("expected 4 comma-separated columns, found {n}"),
        });
    };
    let src = parse_padded_ipv4(s)
        .ok_or_else(|| bad(0, format!("expected an IPv4 address, found `{s}`")))?;
    let dst = parse_padded_ipv4(d)
        .ok_or_else(|| bad(1, format!("expected an IPv4 address, found `{d}`")))?;
    let minute = parse_timestamp(t).map_err(|w| bad(2, w))?;
    let l = l.trim();
    if l.is_empty() || l.bytes().any(|b| b.is_ascii_whitespace() || b == b'"') {
        return Err(bad(
            3,
            format!("expected `-` or an attack name, found `{l}`"),
        ));
    }
    Ok((src, dst, minute, l))
}

struct State {
    hosts: Hosts,
    files: DayFiles,
    merger: LabelMerger,
    labels: Vec<String>,
    label_ids: HashMap<String, usize>,
    minute: Option<u64>,
    keys: HashMap<(Ipv4Addr, Ipv4Addr, usize), u64>,
    rec: FlowRecord,
}

impl State {
    fn label_index(&mut self, l: &str) -> usize {
        if let Some(&i) = self.label_ids.get(l) {
            return i;
        }
        let i = self.labels.len();
        self.labels.push(l.to_string());
        self.label_ids.insert(l.to_string(), i);
        i
    }

    /// Writes the aggregated records of the current minute, in sorted order for determinism.
    fn flush(&mut self, summary: &mut ConvertSummary) -> Result<(), ConvertError> {
        let Some(minute) = self.minute else {
            return Ok(());
        };
        let mut keys: Vec<((Ipv4Addr, Ipv4Addr, usize), u64)> = self.keys.drain().collect();
        keys.sort_unstable();
        for ((src, dst, li), count) in keys {
            let (s, d) = (IpAddr::V4(src), IpAddr::V4(dst));
            let full = |ip| BadRow {
                line: 0,
                column: 1,
                field: "src/dst".into(),
                what: format!("{ip}: more than {} internal hosts", super::MAX_HOSTS),
            };
            let se = match self.hosts.eni(s) {
                Ok(e) => e,
                Err(()) => {
                    summary.bad(full(s));
                    continue;
                }
            };
            let de = match self.hosts.eni(d) {
                Ok(e) => e,
                Err(()) => {
                    summary.bad(full(d));
                    continue;
                }
            };
            if se.is_none() && de.is_none() {
                summary.external_only_rows += count;
                continue;
            }
            let label = self.labels.get(li).map_or("-", String::as_str);
            for (eni, egress) in [(se, true), (de, false)] {
                let Some(eni) = eni else { continue };
                fill(
                    &mut self.rec,
                    eni,
                    (s, d),
                    (0, 0, 0),
                    (count, count * BYTES_PER_EDGE),
                    (minute, minute + 60),
                    false,
                    egress,
                );
                self.files.write(&self.rec, &self.hosts.interner)?;
                if label != "-" {
                    self.merger.add(label, eni, minute, minute + 60, s, d);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_addresses() {
        assert_eq!(
            parse_padded_ipv4("172.016.112.020"),
            Some(Ipv4Addr::new(172, 16, 112, 20))
        );
        assert_eq!(
            parse_padded_ipv4("000.000.000.000"),
            Some(Ipv4Addr::UNSPECIFIED)
        );
        for bad in [
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "a.b.c.d",
            "0001.2.3.4",
            "",
        ] {
            assert_eq!(parse_padded_ipv4(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_are_checked() {
        assert_eq!(parse_timestamp("06/01/1998-07:55"), Ok(896_687_700));
        let e = parse_timestamp("07/32/1998-08:00").unwrap_err();
        assert!(e.contains("day 32"), "{e}");
        assert!(parse_timestamp("13/01/1998-00:00").is_err());
        assert!(parse_timestamp("02/29/1998-00:00").is_err());
        assert!(parse_timestamp("06/01/1998-24:00").is_err());
        assert!(parse_timestamp("6/1/1998-7:55").is_err());
    }

    #[test]
    fn bad_row_names_line_and_column() {
        let e = parse_row("1.2.3.4,5.6.7.8,07/32/1998-08:00,-", 9).unwrap_err();
        assert_eq!((e.line, e.column, e.field.as_str()), (9, 3, "timestamp"));
        let e = parse_row("1.2.3.4,5.6.7.8", 2).unwrap_err();
        assert_eq!(e.column, 3);
        let e = parse_row("1.2.3.4,x,06/01/1998-07:55,-", 3).unwrap_err();
        assert_eq!(e.column, 2);
    }
}
