//! Attack labels: the ground truth that `gen` and the converters write and `eval` reads.
//!
//! One CSV file, `labels.csv`, with a header line and these columns:
//!
//! | column | meaning |
//! |---|---|
//! | `attack_id` | a number, unique within the file; several rows may share it (one per ENI) |
//! | `attack_type` | e.g. `port_scan`, `ssh_brute_force`, `neptune`; free text without commas |
//! | `eni` | the interface id whose records carry the attack (a pseudo-ENI for converted data) |
//! | `start`, `end` | Unix seconds, inclusive start, exclusive end, of the attack traffic at that ENI |
//! | `attacker`, `victim` | IP addresses, or `-` when not applicable |
//!
//! A window of ENI `e` starting at `s` of width `w` is positive when some row for `e` has
//! `start < s + w` and `end > s`.

use std::io::{BufRead, Write};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The header line of a labels file.
pub const LABELS_HEADER: &str = "attack_id,attack_type,eni,start,end,attacker,victim";

/// One labeled attack interval at one ENI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Attack number.
    pub attack_id: u32,
    /// Attack type.
    pub attack_type: String,
    /// Interface id (not interned: labels outlive any one interner).
    pub eni: String,
    /// Start, Unix seconds (inclusive).
    pub start: u64,
    /// End, Unix seconds (exclusive).
    pub end: u64,
    /// Attacking address, if known.
    pub attacker: Option<IpAddr>,
    /// Victim address, if known.
    pub victim: Option<IpAddr>,
}

/// Errors reading a labels file.
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    /// The file could not be read.
    #[error("reading labels: {0}")]
    Io(#[from] std::io::Error),
    /// A row is malformed.
    #[error("labels line {line}: {what}")]
    Malformed {
        /// 1-based line number.
        line: u64,
        /// What was wrong.
        what: String,
    },
}

impl Label {
    /// True when the label overlaps `[start, start + width)`.
    pub fn overlaps(&self, start: u64, width: u64) -> bool {
        self.start < start.saturating_add(width) && self.end > start
    }
}

/// Writes labels with the header line.
pub fn write_labels<W: Write>(mut out: W, labels: &[Label]) -> std::io::Result<()> {
    writeln!(out, "{LABELS_HEADER}")?;
    for l in labels {
        let addr = |a: Option<IpAddr>| a.map_or_else(|| "-".to_string(), |a| a.to_string());
        writeln!(
            out,
            "{},{},{},{},{},{},{}",
            l.attack_id,
            l.attack_type,
            l.eni,
            l.start,
            l.end,
            addr(l.attacker),
            addr(l.victim)
        )?;
    }
    Ok(())
}

/// Reads a labels file written by [`write_labels`] (the header line is required).
pub fn read_labels<R: BufRead>(input: R) -> Result<Vec<Label>, LabelsError> {
    let mut labels = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        let n = i as u64 + 1;
        if n == 1 {
            if line.trim() != LABELS_HEADER {
                return Err(LabelsError::Malformed {
                    line: n,
                    what: format!("expected the header `{LABELS_HEADER}`"),
                });
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        labels.push(parse_row(&line).map_err(|what| LabelsError::Malformed { line: n, what })?);
    }
    Ok(labels)
}

fn parse_row(line: &str) -> Result<Label, String> {
    let cols: Vec<&str> = line.trim_end().split(',').collect();
    if cols.len() != 7 {
        return Err(format!("expected 7 columns, found {}", cols.len()));
    }
    let num = |i: usize, name: &str| -> Result<u64, String> {
        cols[i]
            .parse::<u64>()
            .map_err(|_| format!("column {name}: expected an integer, found `{}`", cols[i]))
    };
    let addr = |i: usize, name: &str| -> Result<Option<IpAddr>, String> {
        if cols[i] == "-" {
            return Ok(None);
        }
        cols[i].parse().map(Some).map_err(|_| {
            format!(
                "column {name}: expected an IP address or `-`, found `{}`",
                cols[i]
            )
        })
    };
    let start = num(3, "start")?;
    let end = num(4, "end")?;
    if end < start {
        return Err(format!("end {end} is before start {start}"));
    }
    Ok(Label {
        attack_id: u32::try_from(num(0, "attack_id")?)
            .map_err(|_| "attack_id too large".to_string())?,
        attack_type: cols[1].to_string(),
        eni: cols[2].to_string(),
        start,
        end,
        attacker: addr(5, "attacker")?,
        victim: addr(6, "victim")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let labels = vec![
            Label {
                attack_id: 1,
                attack_type: "port_scan".into(),
                eni: "eni-0a".into(),
                start: 100,
                end: 200,
                attacker: Some("198.51.100.7".parse().unwrap()),
                victim: None,
            },
            Label {
                attack_id: 2,
                attack_type: "exfiltration".into(),
                eni: "eni-0b".into(),
                start: 5,
                end: 5,
                attacker: None,
                victim: Some("2001:db8::1".parse().unwrap()),
            },
        ];
        let mut buf = Vec::new();
        write_labels(&mut buf, &labels).unwrap();
        assert_eq!(read_labels(&buf[..]).unwrap(), labels);
    }

    #[test]
    fn bad_rows_name_the_line_and_column() {
        let text = format!("{LABELS_HEADER}\n1,x,eni-1,10,zz,-,-\n");
        let err = read_labels(text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("end"), "{err}");
        assert!(read_labels("nope\n".as_bytes()).is_err());
    }

    #[test]
    fn overlap_is_half_open() {
        let l = Label {
            attack_id: 1,
            attack_type: "t".into(),
            eni: "e".into(),
            start: 300,
            end: 600,
            attacker: None,
            victim: None,
        };
        assert!(!l.overlaps(0, 300));
        assert!(l.overlaps(300, 300));
        assert!(!l.overlaps(600, 300));
    }
}
