//! Zeek `conn.log` (TSV with a `#fields` header) → flow records + labels.
//!
//! Mapping, per connection row:
//! - one record per direction at each internal endpoint (private ranges, or `--local`):
//!   orig→resp with `orig_pkts`/`orig_ip_bytes`, and resp→orig with `resp_pkts`/`resp_ip_bytes`
//!   when the responder sent anything. IP-level bytes are used because AWS counts IP bytes;
//!   without `*_ip_bytes`, payload bytes + 40 per packet stand in.
//! - `REJECT` when `conn_state` is `REJ` (refused) or `S0` with no reply packets (an attempt
//!   nobody answered); `ACCEPT` otherwise. AWS would log an unanswered attempt as ACCEPT at the
//!   sender, but a REJECT keeps the signal that the scan and reject-ratio features look for.
//! - `start` = ⌊ts⌋, `end` = ⌊ts + duration⌋ (`-` duration = 0). A long connection stays one
//!   record: Zeek does not split it by aggregation interval.
//! - ICMP ports (Zeek's type/code) are written 0, as AWS does.
//! - Labels: rows whose `label` is not `Benign` (or `-`) are attacks; the type is the
//!   `detailed-label` (or the `label` when that is `-`), lower-cased snake_case:
//!   `DDoS` → `ddos`, `C&C` → `c_and_c`, `PartOfAHorizontalPortScan` →
//!   `part_of_a_horizontal_port_scan`, `C&C-HeartBeat` → `c_and_c_heart_beat`.
//!
//! IoT-23's defect (three spaces instead of a tab before the last fields, in `#fields` and in
//! rows) is handled by treating a run of three spaces as a separator too.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::Path;

use super::{
    fill, write_outputs, BadRow, Cidr, ConvertError, ConvertSummary, DayFiles, Hosts, LabelMerger,
    MERGE_GAP_SECS,
};
use crate::flowlog::FlowRecord;

/// Column positions of the fields the converter uses.
#[derive(Default)]
struct Cols {
    n: usize,
    names: Vec<String>,
    ts: usize,
    orig_h: usize,
    orig_p: usize,
    resp_h: usize,
    resp_p: usize,
    proto: usize,
    duration: Option<usize>,
    orig_bytes: Option<usize>,
    resp_bytes: Option<usize>,
    conn_state: Option<usize>,
    orig_pkts: Option<usize>,
    orig_ip_bytes: Option<usize>,
    resp_pkts: Option<usize>,
    resp_ip_bytes: Option<usize>,
    label: Option<usize>,
    detailed: Option<usize>,
}

/// Splits a Zeek line on tabs and on IoT-23's three-space separators.
fn split_fields<'a>(line: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    for part in line.split('\t') {
        out.extend(part.split("   "));
    }
}

impl Cols {
    fn from_header(names: &[&str]) -> Result<Cols, String> {
        let find = |n: &str| names.iter().position(|x| *x == n);
        let need = |n: &str| find(n).ok_or_else(|| format!("`#fields` lacks `{n}`"));
        Ok(Cols {
            n: names.len(),
            names: names.iter().map(|s| s.to_string()).collect(),
            ts: need("ts")?,
            orig_h: need("id.orig_h")?,
            orig_p: need("id.orig_p")?,
            resp_h: need("id.resp_h")?,
            resp_p: need("id.resp_p")?,
            proto: need("proto")?,
            duration: find("duration"),
            orig_bytes: find("orig_bytes"),
            resp_bytes: find("resp_bytes"),
            conn_state: find("conn_state"),
            orig_pkts: find("orig_pkts"),
            orig_ip_bytes: find("orig_ip_bytes"),
            resp_pkts: find("resp_pkts"),
            resp_ip_bytes: find("resp_ip_bytes"),
            label: find("label"),
            detailed: find("detailed-label"),
        })
    }
}

/// Lower-case snake_case of a Stratosphere label (see the module docs).
pub fn normalize_label(s: &str) -> String {
    let s = s.trim();
    if s.eq_ignore_ascii_case("ddos") {
        return "ddos".to_string();
    }
    let chars: Vec<char> = s.replace('&', "_and_").chars().collect();
    let mut out = String::with_capacity(chars.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = if i > 0 {
                chars.get(i - 1).copied()
            } else {
                None
            };
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        "unknown".to_string()
    } else {
        out
    }
}

/// Converts the Zeek conn.log at `input` into `out` (see [`super`] for the layout). `local`
/// lists the internal networks; empty means the private ranges.
pub fn convert(input: &Path, out: &Path, local: &[Cidr]) -> Result<ConvertSummary, ConvertError> {
    let f = File::open(input).map_err(|e| ConvertError::io(input, e))?;
    convert_reader(BufReader::new(f), input, out, local)
}

/// [`convert`] over any reader (`name` is used in messages).
pub fn convert_reader<R: Read>(
    input: BufReader<R>,
    name: &Path,
    out: &Path,
    local: &[Cidr],
) -> Result<ConvertSummary, ConvertError> {
    let local = if local.is_empty() {
        Cidr::private_ranges()
    } else {
        local.to_vec()
    };
    let mut hosts = Hosts::new(local);
    let mut files = DayFiles::new(out)?;
    let mut merger = LabelMerger::new(MERGE_GAP_SECS);
    let mut summary = ConvertSummary {
        converter: "zeek".into(),
        input: name.display().to_string(),
        ..ConvertSummary::default()
    };
    let mut cols: Option<Cols> = None;
    let mut rec = FlowRecord::default();
    let mut max_ts = 0u64;
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| ConvertError::io(name, e))?;
        let n = i as u64 + 1;
        let mut fields: Vec<&str> = Vec::with_capacity(32);
        if let Some(h) = line.strip_prefix("#fields") {
            split_fields(h.trim_start_matches(['\t', ' ']), &mut fields);
            fields.retain(|f| !f.is_empty());
            cols = Some(
                Cols::from_header(&fields).map_err(|what| ConvertError::Format {
                    path: name.to_path_buf(),
                    what: format!("line {n}: {what}"),
                })?,
            );
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some(c) = cols.as_ref() else {
            return Err(ConvertError::Format {
                path: name.to_path_buf(),
                what: format!("line {n}: a data row before any `#fields` header"),
            });
        };
        summary.rows += 1;
        split_fields(&line, &mut fields);
        match row(
            c,
            &fields,
            n,
            &mut hosts,
            &mut rec,
            &mut files,
            &mut merger,
            &mut summary,
        )? {
            Ok(ts) => {
                max_ts = max_ts.max(ts);
                if summary.rows.is_multiple_of(4096) {
                    // Zeek logs are nearly time-ordered; an hour of slack covers its reordering.
                    merger.sweep(max_ts.saturating_sub(3600));
                }
            }
            Err(bad) => summary.bad(bad),
        }
    }
    if cols.is_none() {
        return Err(ConvertError::Format {
            path: name.to_path_buf(),
            what: "no `#fields` header: not a Zeek conn.log".into(),
        });
    }
    let labels = merger.finish(&hosts.interner);
    let records = files.records;
    let f = files.finish()?;
    write_outputs(out, summary, &labels, f, records, hosts.interner.len())
}

/// Converts one data row; the inner `Err` is a bad row (skipped), the outer one stops the run.
#[allow(clippy::too_many_arguments)]
fn row(
    c: &Cols,
    f: &[&str],
    line: u64,
    hosts: &mut Hosts,
    rec: &mut FlowRecord,
    files: &mut DayFiles,
    merger: &mut LabelMerger,
    summary: &mut ConvertSummary,
) -> Result<Result<u64, BadRow>, ConvertError> {
    let bad = |col: usize, what: String| BadRow {
        line,
        column: col + 1,
        field: c.names.get(col).cloned().unwrap_or_default(),
        what,
    };
    if f.len() != c.n {
        return Ok(Err(BadRow {
            line,
            column: f.len().min(c.n) + 1,
            field: "(row)".into(),
            what: format!("expected {} fields, found {}", c.n, f.len()),
        }));
    }
    let get = |col: usize| f.get(col).copied().unwrap_or("-");
    let num = |col: Option<usize>| -> Result<u64, BadRow> {
        match col.map(get) {
            None | Some("-") | Some("(empty)") => Ok(0),
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| bad(col.unwrap_or(0), format!("expected a count, found `{v}`"))),
        }
    };
    let secs = |col: usize| -> Result<f64, BadRow> {
        match get(col) {
            "-" => Ok(0.0),
            v => v
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0 && *x < 1e10)
                .ok_or_else(|| bad(col, format!("expected seconds, found `{v}`"))),
        }
    };
    let addr = |col: usize| -> Result<IpAddr, BadRow> {
        let v = get(col);
        v.parse()
            .map_err(|_| bad(col, format!("expected an IP address, found `{v}`")))
    };
    let port = |col: usize| -> Result<u16, BadRow> {
        let v = get(col);
        v.parse()
            .map_err(|_| bad(col, format!("expected a port, found `{v}`")))
    };
    macro_rules! tri {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(b) => return Ok(Err(b)),
            }
        };
    }
    let ts = tri!(secs(c.ts));
    if get(c.ts) == "-" {
        return Ok(Err(bad(c.ts, "expected a timestamp, found `-`".into())));
    }
    let dur = match c.duration {
        Some(d) => tri!(secs(d)),
        None => 0.0,
    };
    let (oh, rh) = (tri!(addr(c.orig_h)), tri!(addr(c.resp_h)));
    let (mut op, mut rp) = (tri!(port(c.orig_p)), tri!(port(c.resp_p)));
    let proto = match get(c.proto) {
        "tcp" => 6,
        "udp" => 17,
        "icmp" if oh.is_ipv6() => 58,
        "icmp" => 1,
        v => {
            return Ok(Err(bad(
                c.proto,
                format!("expected tcp, udp or icmp, found `{v}`"),
            )))
        }
    };
    if proto == 1 || proto == 58 {
        (op, rp) = (0, 0);
    }
    let opk = tri!(num(c.orig_pkts));
    let rpk = tri!(num(c.resp_pkts));
    let ob = match c.orig_ip_bytes {
        Some(_) => tri!(num(c.orig_ip_bytes)),
        None => tri!(num(c.orig_bytes)) + 40 * opk,
    };
    let rb = match c.resp_ip_bytes {
        Some(_) => tri!(num(c.resp_ip_bytes)),
        None => tri!(num(c.resp_bytes)) + 40 * rpk,
    };
    let state = c.conn_state.map(get).unwrap_or("-");
    let reject = state == "REJ" || (state == "S0" && rpk == 0);
    let start = ts.floor() as u64;
    let end = (ts + dur).floor() as u64;

    let label = c.label.map(get).unwrap_or("-");
    let detailed = c.detailed.map(get).unwrap_or("-");
    let attack = if label == "-" || label.eq_ignore_ascii_case("benign") {
        None
    } else if detailed != "-" {
        Some(normalize_label(detailed))
    } else {
        Some(normalize_label(label))
    };
    *summary
        .rows_per_label
        .entry(attack.clone().unwrap_or_else(|| "benign".into()))
        .or_insert(0) += 1;

    let full = |col| {
        bad(
            col,
            format!("more than {} internal hosts", super::MAX_HOSTS),
        )
    };
    let oe = tri!(hosts.eni(oh).map_err(|()| full(c.orig_h)));
    let re = tri!(hosts.eni(rh).map_err(|()| full(c.resp_h)));
    if oe.is_none() && re.is_none() {
        summary.external_only_rows += 1;
        return Ok(Ok(start));
    }
    let fwd = ((oh, rh), (op, rp, proto), (opk, ob), (start, end));
    let back = ((rh, oh), (rp, op, proto), (rpk, rb), (start, end));
    for (eni, outward) in [(oe, true), (re, false)] {
        let Some(eni) = eni else { continue };
        fill(rec, eni, fwd.0, fwd.1, fwd.2, fwd.3, reject, outward);
        files.write(rec, &hosts.interner)?;
        if rpk > 0 || rb > 0 {
            fill(rec, eni, back.0, back.1, back.2, back.3, reject, !outward);
            files.write(rec, &hosts.interner)?;
        }
        if let Some(a) = &attack {
            merger.add(a, eni, start, end, oh, rh);
        }
    }
    Ok(Ok(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_snake_case() {
        assert_eq!(normalize_label("DDoS"), "ddos");
        assert_eq!(normalize_label("C&C"), "c_and_c");
        assert_eq!(
            normalize_label("PartOfAHorizontalPortScan"),
            "part_of_a_horizontal_port_scan"
        );
        assert_eq!(normalize_label("C&C-HeartBeat"), "c_and_c_heart_beat");
        assert_eq!(normalize_label("C&C-FileDownload"), "c_and_c_file_download");
        assert_eq!(normalize_label("Okiru"), "okiru");
        assert_eq!(normalize_label("  "), "unknown");
    }

    #[test]
    fn split_handles_three_spaces() {
        let mut v = Vec::new();
        split_fields("a\tb\t-   Malicious   DDoS", &mut v);
        assert_eq!(v, vec!["a", "b", "-", "Malicious", "DDoS"]);
    }
}
