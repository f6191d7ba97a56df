//! `flowvigil demo` end to end, through the built binary: generate → train → backtest → evaluate
//! → report. Tests of the `demo` and `eval` commands' behaviour go here (the metrics themselves
//! are tested in `tests/eval.rs`, the page in `tests/report_browser.rs`).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// A small VPC (12 ENIs, one clean day, one attack day) keeps the debug-build run to seconds.
fn demo(out: &Path, threads: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowvigil"))
        .args([
            "demo",
            "--enis",
            "12",
            "--days",
            "2",
            "--seed",
            "7",
            "--threads",
            threads,
        ])
        .arg("--out")
        .arg(out)
        .output()
        .expect("running flowvigil demo")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn f(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("metrics.json has no number at {path}"))
}

#[test]
fn demo_writes_a_report_that_finds_the_attacks_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let first = demo(&out, "1");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    for stage in [
        "[1/4]",
        "[2/4]",
        "[3/4]",
        "[4/4]",
        "average precision",
        "top alerts",
    ] {
        assert!(stdout.contains(stage), "missing `{stage}` in:\n{stdout}");
    }
    for file in [
        "report.html",
        "metrics.json",
        "summary.md",
        "alerts.jsonl",
        "model.fvm",
    ] {
        assert!(out.join(file).is_file(), "{file} not written");
    }

    // The page holds every chart as real SVG with drawn series.
    let html = read(&out.join("report.html"));
    for id in ["pr-curve", "roc-curve", "attack-recall", "timeline-0"] {
        let at = html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no chart `{id}`"));
        let svg = &html[at..at + html[at..].find("</svg>").unwrap()];
        assert!(
            svg.contains("<path") || svg.contains("<polyline") || svg.contains("<rect"),
            "chart `{id}` draws nothing"
        );
    }
    assert!(
        !html.contains("<script"),
        "the report must need no JavaScript"
    );

    // What the system must achieve on its own synthetic attacks, not numbers copied from a run.
    let m: Value = serde_json::from_str(&read(&out.join("metrics.json"))).unwrap();
    let windows = f(&m, "/flowvigil/counts/windows");
    let positives = f(&m, "/flowvigil/counts/positives");
    assert!(windows > 1000.0 && positives > 0.0, "{windows} {positives}");
    let prevalence = positives / windows;
    let auc = f(&m, "/flowvigil/roc_auc");
    let ap = f(&m, "/flowvigil/average_precision");
    assert!(auc > 0.75, "ROC-AUC {auc}");
    assert!(ap > 3.0 * prevalence, "AP {ap} vs random {prevalence}");
    assert!(
        f(&m, "/flowvigil/precision") > 0.5,
        "most alerts must be attacks"
    );
    let detected = m["flowvigil"]["per_attack_type"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["recall"].as_f64().unwrap_or(0.0) >= 0.5)
        .count();
    assert!(detected >= 5, "{detected} attack types at recall ≥ 50%");
    assert!(f(&m, "/flowvigil/delay/detected") >= 5.0);

    // The reference ran on the same windows at no more than flowvigil's alert rate.
    let r = &m["references"][0]["metrics"];
    assert_eq!(f(r, "/counts/windows"), windows);
    assert_eq!(f(r, "/counts/positives"), positives);
    assert!(f(r, "/counts/alerts") <= f(&m, "/flowvigil/counts/alerts"));

    // alerts.jsonl holds exactly flowvigil's alerts, one JSON object each.
    let alerts = read(&out.join("alerts.jsonl"));
    let lines: Vec<Value> = alerts
        .lines()
        .map(|l| serde_json::from_str(l).expect("an alert line is JSON"))
        .collect();
    assert_eq!(lines.len() as f64, f(&m, "/flowvigil/counts/alerts"));
    assert!(lines
        .iter()
        .all(|a| a["eni"].is_string() && a["summary"].is_string()));

    let md = read(&out.join("summary.md"));
    assert_eq!(
        md.lines().count(),
        4,
        "header, rule, one row per detector:\n{md}"
    );

    // `eval` on the demo's model and attack-day folders is the same path: the same metrics.
    let json = dir.path().join("eval.json");
    let mut days: Vec<std::path::PathBuf> = walk_days(&out.join("data/AWSLogs"));
    days.sort();
    assert!(days.len() >= 2, "{days:?}");
    run_eval(&out, &json, |c| c.args(&days[1..]));
    let e: Value = serde_json::from_str(&read(&json)).unwrap();
    assert_eq!(e["flowvigil"], m["flowvigil"]);
    assert_eq!(e["references"][0]["metrics"], m["references"][0]["metrics"]);

    // An input without a single window still gives metrics (all undefined, with notes).
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, "").unwrap();
    run_eval(&out, &json, |c| {
        c.arg("--report")
            .arg(dir.path().join("empty.html"))
            .arg(&empty)
    });
    let e: Value = serde_json::from_str(&read(&json)).unwrap();
    assert_eq!(f(&e, "/flowvigil/counts/windows"), 0.0);
    assert!(e["flowvigil"]["roc_auc"].is_null());
    assert!(!e["flowvigil"]["notes"].as_array().unwrap().is_empty());
    assert!(read(&dir.path().join("empty.html")).contains("id=\"pr-curve\""));

    // Same seed, other thread count, same folder (the previous logs are replaced): same bytes.
    let metrics = read(&out.join("metrics.json"));
    let second = demo(&out, "2");
    assert!(second.status.success());
    assert_eq!(read(&out.join("metrics.json")), metrics);
    assert_eq!(read(&out.join("alerts.jsonl")), alerts);
}

/// The `YYYY/MM/DD` day folders under an `AWSLogs` tree (three levels below the region).
fn walk_days(root: &Path) -> Vec<std::path::PathBuf> {
    let mut level = vec![root.to_path_buf()];
    // AWSLogs/{account}/vpcflowlogs/{region}/YYYY/MM/DD: six levels of folders.
    for _ in 0..6 {
        level = level
            .iter()
            .flat_map(|d| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
            .filter(|p| p.is_dir())
            .collect();
    }
    level
}

#[test]
fn eval_names_the_file_it_cannot_open() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_flowvigil"))
        .args(["eval", "--model"])
        .arg(dir.path().join("m.fvm"))
        .arg("--labels")
        .arg(&missing)
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("m.fvm"),
        "the missing model is named first: {err}"
    );
}

#[test]
fn demo_rejects_a_run_without_history() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowvigil"))
        .args(["demo", "--days", "1", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--days must be at least 2"), "{err}");
    assert!(!dir.path().join("data").exists(), "nothing generated");
}

/// Runs `flowvigil eval` with the demo's model and labels in `out`, JSON metrics to `json`, and
/// the arguments `more` adds; asserts it succeeded.
fn run_eval(
    out: &std::path::Path,
    json: &std::path::Path,
    more: impl FnOnce(&mut Command) -> &mut Command,
) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowvigil"));
    cmd.arg("eval")
        .arg("--model")
        .arg(out.join("model.fvm"))
        .arg("--labels")
        .arg(out.join("data/labels.csv"))
        .arg("--json")
        .arg(json);
    let eval = more(&mut cmd).output().unwrap();
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
}
