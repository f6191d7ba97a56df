//! Alert output: JSON lines (flowvigil's own shape) or OCSF Detection Finding objects.
//!
//! Both forms are written from the same [`Verdict`] and carry the evidence a person needs: the
//! anomaly score and threshold, the typed findings with their ATT&CK technique, the top features
//! with observed value, expected value (the ENI's baseline) and deviation, and the peer group.

use std::io::Write;

use serde_json::{json, Value};

use crate::detect::{Finding, Verdict};

/// How alerts are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlertFormat {
    /// One flat JSON object per line (see [`Verdict`]'s fields), plus `window_end` and `summary`.
    #[default]
    Jsonl,
    /// One OCSF 1.3 Detection Finding (class_uid 2004) per line.
    Ocsf,
}

impl std::str::FromStr for AlertFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jsonl" => Ok(AlertFormat::Jsonl),
            "ocsf" => Ok(AlertFormat::Ocsf),
            other => Err(format!(
                "unknown alert format `{other}`: expected jsonl or ocsf"
            )),
        }
    }
}

/// One line of human-readable summary: findings first, then the top features.
pub fn summary_line(v: &Verdict) -> String {
    let mut parts: Vec<String> = v
        .findings
        .iter()
        .map(|f| format!("{}: {}", f.kind.name(), f.detail()))
        .collect();
    if v.explanation.len > 0 {
        parts.push(v.explanation.to_string());
    }
    if parts.is_empty() {
        parts.push("no single feature stands out".to_string());
    }
    parts.join("; ")
}

/// The JSON value of one alert in `format`.
pub fn alert_value(
    eni: &str,
    v: &Verdict,
    window_secs: u32,
    format: AlertFormat,
) -> Result<Value, serde_json::Error> {
    let window_end = v.window_start + u64::from(window_secs);
    match format {
        AlertFormat::Jsonl => {
            let mut value = serde_json::to_value(v.alert_line(eni))?;
            if let Value::Object(map) = &mut value {
                map.insert("window_end".into(), json!(window_end));
                map.insert("summary".into(), json!(summary_line(v)));
            }
            Ok(value)
        }
        AlertFormat::Ocsf => Ok(ocsf(eni, v, window_end)),
    }
}

/// Writes one alert as one line.
pub fn write_alert<W: Write>(
    out: &mut W,
    eni: &str,
    v: &Verdict,
    window_secs: u32,
    format: AlertFormat,
) -> std::io::Result<()> {
    let value = alert_value(eni, v, window_secs, format).map_err(std::io::Error::other)?;
    serde_json::to_writer(&mut *out, &value).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

/// OCSF severity_id from the strongest finding (or from the score when there is none):
/// 2 Low, 3 Medium, 4 High.
fn severity_id(v: &Verdict) -> u8 {
    let top = v
        .findings
        .iter()
        .map(|f| f.severity.value())
        .fold(0.0_f64, f64::max);
    if top >= 7.0 || v.anomaly_score >= 0.999 {
        4
    } else if top >= 4.0 || v.anomaly_score >= 0.99 {
        3
    } else {
        2
    }
}

fn tactic(technique: &str) -> (&'static str, &'static str) {
    match technique {
        "T1046" => ("TA0007", "Discovery"),
        "T1110" => ("TA0006", "Credential Access"),
        "T1048" => ("TA0010", "Exfiltration"),
        "T1571" | "T1071" => ("TA0011", "Command and Control"),
        "T1498" | "T1496" => ("TA0040", "Impact"),
        "T1021" => ("TA0008", "Lateral Movement"),
        _ => ("", ""),
    }
}

fn attack(f: &Finding) -> Value {
    let technique = f.kind.technique();
    let (tactic_uid, tactic_name) = tactic(technique);
    json!({
        "technique": { "uid": technique, "name": f.kind.name() },
        "tactic": { "uid": tactic_uid, "name": tactic_name },
    })
}

fn ocsf(eni: &str, v: &Verdict, window_end: u64) -> Value {
    let title = match v.findings.first() {
        Some(f) => format!("{} on {eni}", f.kind.name()),
        None => format!("Anomalous traffic on {eni}"),
    };
    let types: Vec<&str> = v.findings.iter().map(|f| f.kind.name()).collect();
    let features: Vec<Value> = v
        .explanation
        .items()
        .iter()
        .map(|c| {
            json!({
                "name": c.name(), "observed": c.observed, "expected": c.expected(),
                "spread": c.spread(), "z": c.z,
            })
        })
        .collect();
    json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "time": v.window_start * 1000,
        "severity_id": severity_id(v),
        "status_id": 1,
        "status": "New",
        "confidence_score": (v.anomaly_score * 100.0).round() as i64,
        "message": summary_line(v),
        "metadata": {
            "version": "1.3.0",
            "product": {
                "name": "flowvigil",
                "vendor_name": "flowvigil",
                "version": env!("CARGO_PKG_VERSION"),
            },
        },
        "finding_info": {
            "uid": format!("{eni}/{}", v.window_start),
            "title": title,
            "desc": summary_line(v),
            "types": types,
            "first_seen_time": v.window_start * 1000,
            "last_seen_time": window_end * 1000,
            "analytic": { "name": "flowvigil anomaly score", "type_id": 2, "type": "Behavioral" },
            "attacks": v.findings.iter().map(attack).collect::<Vec<_>>(),
        },
        "resources": [{ "uid": eni, "type": "AWS::EC2::NetworkInterface" }],
        "cloud": { "provider": "AWS" },
        "evidences": [{
            "data": {
                "anomaly_score": v.anomaly_score,
                "threshold": v.threshold,
                "peer_group": v.peer_group,
                "cold_start": v.cold_start,
                "features": features,
                "findings": v.findings.iter().map(|f| json!({
                    "type": f.kind.name(),
                    "technique": f.kind.technique(),
                    "detail": f.detail().to_string(),
                })).collect::<Vec<_>>(),
            },
        }],
    })
}
