//! Summary statistics of flow logs, behind `flowvigil stats`.
//!
//! [`StatsBuilder`] folds records one at a time; [`collect`] drives a [`LogReader`] through it.
//! Memory is bounded: per-ENI counts are one `u64` per interned ENI (the reader caps ENIs with
//! `max_enis`), protocols a fixed table, and accounts are tracked exactly up to
//! [`MAX_ACCOUNTS`], after which new accounts are only counted as `accounts_not_tracked`.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::flowlog::{
    Action, FlowDirection, FlowRecord, FlowlogError, Interner, LogReader, LogStatus, ReadSummary,
};

/// Distinct accounts tracked exactly.
pub const MAX_ACCOUNTS: usize = 10_000;

/// ENIs listed in [`FlowStats::top_enis`].
pub const TOP_ENIS: usize = 10;

/// What `flowvigil stats` reports; serialized as its `--json` output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowStats {
    /// Records read (NODATA and SKIPDATA rows included).
    pub records: u64,
    /// Records with `log-status` OK (or no `log-status` column).
    pub ok_records: u64,
    /// NODATA records.
    pub nodata: u64,
    /// SKIPDATA records.
    pub skipdata: u64,
    /// Distinct interfaces.
    pub enis: u64,
    /// Records without an interface id (`-`).
    pub records_without_eni: u64,
    /// Distinct account ids (tracked up to [`MAX_ACCOUNTS`]).
    pub accounts: u64,
    /// Records of accounts seen after [`MAX_ACCOUNTS`] distinct ones (not in `accounts`).
    pub accounts_not_tracked: u64,
    /// Records whose account is `-` or `unknown`.
    pub records_without_account: u64,
    /// Earliest `start`, Unix seconds.
    pub first_start: Option<u64>,
    /// Latest `end`, Unix seconds.
    pub last_end: Option<u64>,
    /// Sum of `packets`.
    pub packets: u64,
    /// Sum of `bytes`.
    pub bytes: u64,
    /// Records by action.
    pub actions: ActionCounts,
    /// Records by flow direction (v5 `flow-direction`).
    pub directions: DirectionCounts,
    /// Records by IANA protocol number, most frequent first.
    pub protocols: Vec<ProtocolCount>,
    /// The interfaces with the most records, most first (ties by name).
    pub top_enis: Vec<EniCount>,
    /// What the reader saw: lines, bad lines, headers, formats, files.
    pub read: ReadSummary,
}

/// Records by `action`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionCounts {
    /// `ACCEPT`
    pub accept: u64,
    /// `REJECT`
    pub reject: u64,
    /// `-` or no `action` column.
    pub absent: u64,
}

/// Records by `flow-direction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectionCounts {
    /// `ingress`
    pub ingress: u64,
    /// `egress`
    pub egress: u64,
    /// `-` or no `flow-direction` column.
    pub absent: u64,
}

/// Records of one protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolCount {
    /// IANA protocol number.
    pub protocol: u8,
    /// Its usual name (`TCP`, `UDP`, `ICMP`, ...), or the number.
    pub name: String,
    /// Records.
    pub records: u64,
}

/// Records of one interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EniCount {
    /// Interface id.
    pub eni: String,
    /// Records.
    pub records: u64,
}

/// Folds records into [`FlowStats`].
#[derive(Clone, Debug)]
pub struct StatsBuilder {
    stats: FlowStats,
    per_eni: Vec<u64>,
    protocols: [u64; 256],
    protocol_absent: u64,
    accounts: HashMap<u64, ()>,
}

impl Default for StatsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl StatsBuilder {
    /// Nothing counted yet.
    pub fn new() -> Self {
        StatsBuilder {
            stats: FlowStats::default(),
            per_eni: Vec::new(),
            protocols: [0; 256],
            protocol_absent: 0,
            accounts: HashMap::new(),
        }
    }

    /// Counts one record.
    pub fn add(&mut self, rec: &FlowRecord) {
        let s = &mut self.stats;
        s.records += 1;
        match rec.log_status {
            Some(LogStatus::NoData) => s.nodata += 1,
            Some(LogStatus::SkipData) => s.skipdata += 1,
            Some(LogStatus::Ok) | None => s.ok_records += 1,
        }
        match rec.eni {
            Some(id) => {
                let i = id as usize;
                if i >= self.per_eni.len() {
                    self.per_eni.resize(i + 1, 0);
                }
                if let Some(c) = self.per_eni.get_mut(i) {
                    *c += 1;
                }
            }
            None => s.records_without_eni += 1,
        }
        match rec.account_id {
            Some(a) => {
                if !self.accounts.contains_key(&a) {
                    if self.accounts.len() < MAX_ACCOUNTS {
                        self.accounts.insert(a, ());
                    } else {
                        s.accounts_not_tracked += 1;
                    }
                }
            }
            None => s.records_without_account += 1,
        }
        if let Some(start) = rec.start {
            s.first_start = Some(s.first_start.map_or(start, |f| f.min(start)));
        }
        if let Some(end) = rec.end {
            s.last_end = Some(s.last_end.map_or(end, |l| l.max(end)));
        }
        s.packets = s.packets.saturating_add(rec.packets.unwrap_or(0));
        s.bytes = s.bytes.saturating_add(rec.bytes.unwrap_or(0));
        match rec.action {
            Some(Action::Accept) => s.actions.accept += 1,
            Some(Action::Reject) => s.actions.reject += 1,
            None => s.actions.absent += 1,
        }
        match rec.flow_direction {
            Some(FlowDirection::Ingress) => s.directions.ingress += 1,
            Some(FlowDirection::Egress) => s.directions.egress += 1,
            None => s.directions.absent += 1,
        }
        match rec.protocol {
            Some(p) => self.protocols[p as usize] += 1,
            None => self.protocol_absent += 1,
        }
    }

    /// The statistics, naming ENIs with `interner` and attaching the reader's `summary`.
    pub fn finish(self, interner: &Interner, summary: &ReadSummary) -> FlowStats {
        let mut s = self.stats;
        s.enis = self.per_eni.iter().filter(|&&c| c > 0).count() as u64;
        s.accounts = self.accounts.len() as u64;
        let mut protocols: Vec<ProtocolCount> = self
            .protocols
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(p, &records)| ProtocolCount {
                protocol: p as u8,
                name: protocol_name(p as u8),
                records,
            })
            .collect();
        protocols.sort_by(|a, b| b.records.cmp(&a.records).then(a.protocol.cmp(&b.protocol)));
        s.protocols = protocols;
        let mut enis: Vec<EniCount> = self
            .per_eni
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(id, &records)| EniCount {
                eni: interner.name(id as u32).to_string(),
                records,
            })
            .collect();
        enis.sort_by(|a, b| b.records.cmp(&a.records).then(a.eni.cmp(&b.eni)));
        enis.truncate(TOP_ENIS);
        s.top_enis = enis;
        s.read = summary.clone();
        s
    }
}

/// Reads every record of `reader` into [`FlowStats`].
///
/// Bad lines are reported and counted by the reader (in `read.bad_lines`); with `strict` the
/// first one is returned as the error.
pub fn collect(reader: &mut LogReader) -> Result<FlowStats, FlowlogError> {
    let mut builder = StatsBuilder::new();
    let mut rec = FlowRecord::default();
    loop {
        // Default-v2 lines in runs from the reader's fast route, each line it declines
        // through `next_record` (the same records and summary either way).
        reader.fast_records(&mut rec, |r, _| {
            builder.add(r);
            Ok::<_, FlowlogError>(true)
        })?;
        if !reader.next_record(&mut rec)? {
            break;
        }
        builder.add(&rec);
    }
    Ok(builder.finish(reader.interner(), reader.summary()))
}

/// The usual name of an IANA protocol number, else the number.
pub fn protocol_name(p: u8) -> String {
    match p {
        1 => "ICMP".into(),
        2 => "IGMP".into(),
        4 => "IPIP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        41 => "IPv6".into(),
        47 => "GRE".into(),
        50 => "ESP".into(),
        51 => "AH".into(),
        58 => "ICMPv6".into(),
        132 => "SCTP".into(),
        _ => p.to_string(),
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn format_utc(secs: u64) -> String {
    let (year, month, day, hour, minute) = crate::civil::parts(secs);
    format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{:02}Z",
        secs % 60
    )
}

/// A duration in seconds as `1d 2h 3m 4s` (zero parts left out).
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    shown.join(" ")
}

impl FlowStats {
    /// The text report for people.
    pub fn to_text(&self) -> String {
        let r = &self.read;
        let mut out = String::new();
        let gz = r.files.iter().filter(|f| f.gzip).count();
        let pq = r.files.iter().filter(|f| f.parquet).count();
        let cw = r.files.iter().filter(|f| f.cloudwatch).count();
        let mut pq = if pq > 0 {
            format!(", {pq} Parquet")
        } else {
            String::new()
        };
        if cw > 0 {
            pq.push_str(&format!(", {cw} CloudWatch Logs"));
        }
        let _ = writeln!(
            out,
            "inputs      {} file(s) ({gz} gzip{pq}), {} lines, {} header line(s)",
            r.files.len(),
            r.lines,
            r.headers
        );
        let _ = writeln!(
            out,
            "records     {} (OK {}, NODATA {}, SKIPDATA {})",
            self.records, self.ok_records, self.nodata, self.skipdata
        );
        let _ = writeln!(out, "bad lines   {}", r.bad_lines);
        if r.unsupported_rows > 0 {
            let _ = writeln!(
                out,
                "skipped     {} row(s) under unsupported (Transit Gateway) headers",
                r.unsupported_rows
            );
        }
        let _ = writeln!(
            out,
            "ENIs        {}{}",
            self.enis,
            if self.records_without_eni > 0 {
                format!(" ({} records without one)", self.records_without_eni)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "accounts    {}{}{}",
            self.accounts,
            if self.accounts_not_tracked > 0 {
                format!(
                    " (+{} records beyond {MAX_ACCOUNTS} tracked)",
                    self.accounts_not_tracked
                )
            } else {
                String::new()
            },
            if self.records_without_account > 0 {
                format!(
                    " ({} records with `-`/`unknown`)",
                    self.records_without_account
                )
            } else {
                String::new()
            }
        );
        match (self.first_start, self.last_end) {
            (Some(a), Some(b)) => {
                let _ = writeln!(
                    out,
                    "time span   {} .. {} ({})",
                    format_utc(a),
                    format_utc(b),
                    format_duration(b.saturating_sub(a))
                );
            }
            _ => {
                let _ = writeln!(out, "time span   -");
            }
        }
        let _ = writeln!(
            out,
            "volume      {} packets, {} bytes",
            self.packets, self.bytes
        );
        let a = self.actions;
        let _ = writeln!(
            out,
            "actions     ACCEPT {}, REJECT {}, - {}",
            a.accept, a.reject, a.absent
        );
        let d = self.directions;
        if d.ingress + d.egress > 0 {
            let _ = writeln!(
                out,
                "directions  ingress {}, egress {}, - {}",
                d.ingress, d.egress, d.absent
            );
        }
        let protocols: Vec<String> = self
            .protocols
            .iter()
            .map(|p| format!("{} ({}) {}", p.name, p.protocol, p.records))
            .collect();
        let protocols = if protocols.is_empty() {
            "-".to_string()
        } else {
            protocols.join(", ")
        };
        let _ = writeln!(out, "protocols   {protocols}");
        for (i, f) in r.formats.iter().enumerate() {
            let _ = writeln!(
                out,
                "{} {} format, {} header(s), {} records: {}",
                if i == 0 { "formats    " } else { "           " },
                f.kind,
                f.headers,
                f.records,
                f.fields
            );
        }
        if !r.unknown_fields.is_empty() {
            let _ = writeln!(out, "unknown     {}", r.unknown_fields.join(", "));
        }
        for (i, e) in self.top_enis.iter().enumerate() {
            let _ = writeln!(
                out,
                "{} {} {}",
                if i == 0 { "top ENIs   " } else { "           " },
                e.eni,
                e.records
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_matches_known_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        // 2025-06-26 18:22:38 UTC, the first record of the real ime-cloud-sec-analyst files.
        assert_eq!(format_utc(1_750_962_158), "2025-06-26T18:22:38Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_duration(3738), "1h 2m 18s");
        assert_eq!(format_duration(0), "0s");
    }

    #[test]
    fn counts_by_status_action_protocol_and_eni() {
        let mut interner = Interner::new();
        let a = interner.intern(b"eni-a");
        let b = interner.intern(b"eni-b");
        let mut builder = StatsBuilder::new();
        let mut rec = FlowRecord {
            eni: Some(a),
            protocol: Some(6),
            action: Some(Action::Reject),
            start: Some(100),
            end: Some(160),
            account_id: Some(1),
            ..FlowRecord::default()
        };
        builder.add(&rec);
        builder.add(&rec);
        rec.eni = Some(b);
        rec.protocol = Some(17);
        rec.log_status = Some(LogStatus::SkipData);
        rec.start = Some(50);
        rec.account_id = None;
        builder.add(&rec);
        let s = builder.finish(&interner, &ReadSummary::default());
        assert_eq!(s.records, 3);
        assert_eq!(s.skipdata, 1);
        assert_eq!(s.ok_records, 2);
        assert_eq!(s.enis, 2);
        assert_eq!(s.accounts, 1);
        assert_eq!(s.records_without_account, 1);
        assert_eq!(s.first_start, Some(50));
        assert_eq!(s.last_end, Some(160));
        assert_eq!(s.actions.reject, 3);
        assert_eq!(s.protocols[0].protocol, 6);
        assert_eq!(s.protocols[0].records, 2);
        assert_eq!(s.top_enis[0].eni, "eni-a");
        assert_eq!(s.top_enis[1].records, 1);
        assert!(s.to_text().contains("TCP (6) 2, UDP (17) 1"));
    }
}
