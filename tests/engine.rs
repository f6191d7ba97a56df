//! Engine integration tests: batch backtest vs thread count, stream vs backtest, and exact
//! resume after crashes (`kill -9` and an in-process abort at chosen records).
//!
//! New tests about training, backtesting or streaming over generated data go here; parser,
//! window and detector tests have their own files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use flowvigil::detect::TrainParams;
use flowvigil::engine::{self, AlertFormat, BacktestOptions, StreamOptions};
use flowvigil::flowlog::{LogReader, ReadOptions};
use flowvigil::gen::{generate, GenConfig};
use flowvigil::model::{self, Model};
use flowvigil::window::WindowConfig;

/// A small synthetic VPC (one clean day, one attack day), a model trained on the clean day,
/// and the attack day's files, built once per test binary.
struct Fixture {
    _dir: tempfile::TempDir,
    model_path: PathBuf,
    model: Model,
    score_inputs: Vec<PathBuf>,
}

fn day_dirs(root: &Path) -> Vec<PathBuf> {
    // AWSLogs/{acct}/vpcflowlogs/{region}/YYYY/MM/DD
    let mut out = Vec::new();
    fn walk(p: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        let mut kids: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        kids.sort();
        for k in kids.into_iter().filter(|k| k.is_dir()) {
            if depth == 7 {
                out.push(k);
            } else {
                walk(&k, depth + 1, out);
            }
        }
    }
    walk(root, 1, &mut out);
    out
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = GenConfig {
            seed: 11,
            enis: 16,
            days: 2,
            clean_days: 1,
            ..GenConfig::default()
        };
        generate(&cfg, dir.path()).expect("generate");
        let days = day_dirs(dir.path());
        assert!(days.len() >= 2, "expected day folders, found {days:?}");
        let reader = LogReader::open(&days[..1], ReadOptions::default()).expect("open");
        let (model, _, _) = engine::train_from_logs(
            reader,
            &WindowConfig::default(),
            &TrainParams::default(),
            2,
            &mut |_| {},
        )
        .expect("train");
        let model_path = dir.path().join("m.fvm");
        model::save(&model, &model_path).expect("save");
        Fixture {
            score_inputs: days[1..].to_vec(),
            model_path,
            model,
            _dir: dir,
        }
    })
}

/// Alert lines of a backtest, as the CLI writes them.
fn backtest_lines(f: &Fixture, threads: usize) -> Vec<String> {
    let reader = LogReader::open(&f.score_inputs, ReadOptions::default()).expect("open");
    let opts = BacktestOptions {
        threads,
        ..BacktestOptions::default()
    };
    let (bt, _) = engine::backtest(reader, &f.model, &opts, &mut |_| {}).expect("backtest");
    let mut out = Vec::new();
    for row in bt.rows.iter().filter(|r| r.alert) {
        let v = row.verdict.as_deref().expect("alerts keep their verdict");
        let mut line = Vec::new();
        engine::write_alert(
            &mut line,
            &row.eni,
            v,
            f.model.windowing.window_secs,
            AlertFormat::Jsonl,
        )
        .expect("write");
        out.push(String::from_utf8(line).expect("utf8"));
    }
    out
}

#[test]
fn the_model_carries_windowing_and_histories() {
    let f = fixture();
    assert_eq!(f.model.windowing, WindowConfig::default());
    assert!(
        !f.model.histories.is_empty(),
        "training must carry feature histories"
    );
    let loaded = model::load(&f.model_path).expect("load");
    assert_eq!(loaded, f.model);
}

#[test]
fn backtest_alerts_do_not_depend_on_the_thread_count() {
    let f = fixture();
    let one = backtest_lines(f, 1);
    assert!(!one.is_empty(), "the attack day must raise alerts");
    for threads in [2, 3, 5] {
        assert_eq!(backtest_lines(f, threads), one, "threads = {threads}");
    }
}

#[test]
fn the_stream_emits_exactly_the_backtest_alerts() {
    let f = fixture();
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().join("alerts.jsonl");
    let opts = StreamOptions {
        out: Some(out.clone()),
        checkpoint: Some(dir.path().join("cp")),
        checkpoint_every_windows: 50,
        ..StreamOptions::default()
    };
    let outcome = engine::run_stream(
        &f.model,
        &f.score_inputs,
        &opts,
        Arc::new(AtomicBool::new(false)),
    )
    .expect("stream");
    assert!(!outcome.stopped);
    let text = std::fs::read_to_string(&out).expect("read");
    let lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
    assert_eq!(lines, backtest_lines(f, 2));
    assert_eq!(outcome.counters.alerts as usize, lines.len());
    // A second run on the finished checkpoint does nothing and keeps the output.
    let again = engine::run_stream(
        &f.model,
        &f.score_inputs,
        &opts,
        Arc::new(AtomicBool::new(false)),
    )
    .expect("stream again");
    assert!(again.already_finished);
    assert_eq!(std::fs::read_to_string(&out).expect("read"), text);
}

fn score_cmd(f: &Fixture, dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowvigil"));
    cmd.arg("score")
        .arg("--model")
        .arg(&f.model_path)
        .arg("--out")
        .arg(dir.join("alerts.jsonl"))
        .arg("--checkpoint")
        .arg(dir.join("cp"))
        .args(["--checkpoint-every", "20"])
        .args(extra)
        .args(&f.score_inputs);
    cmd
}

fn uninterrupted(f: &Fixture) -> String {
    let dir = tempfile::tempdir().expect("temp");
    let st = score_cmd(f, dir.path(), &[]).status().expect("run");
    assert!(st.success(), "score failed: {st}");
    std::fs::read_to_string(dir.path().join("alerts.jsonl")).expect("read")
}

#[test]
fn aborted_and_resumed_runs_emit_exactly_the_uninterrupted_alerts() {
    let f = fixture();
    let want = uninterrupted(f);
    assert!(!want.is_empty());
    // Abort (as kill -9 would: no flush, no cleanup) at several records, resuming each time
    // from the checkpoint, until a run completes.
    let dir = tempfile::tempdir().expect("temp");
    let mut crashes = 0;
    for at in [3_000u64, 15_000, 20_000, 30_000] {
        let st = score_cmd(f, dir.path(), &["--abort-after-records", &at.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run");
        if !st.success() {
            crashes += 1;
        }
    }
    let st = score_cmd(f, dir.path(), &[]).status().expect("final run");
    assert!(st.success());
    assert_eq!(crashes, 4, "every fault injection must have struck");
    let got = std::fs::read_to_string(dir.path().join("alerts.jsonl")).expect("read");
    assert_eq!(
        got, want,
        "resumed output differs from the uninterrupted one"
    );
}

#[test]
fn a_sigkilled_run_resumes_exactly() {
    let f = fixture();
    let want = uninterrupted(f);
    let dir = tempfile::tempdir().expect("temp");
    let mut killed = 0;
    for delay_ms in [15u64, 40, 80, 120] {
        let mut child = score_cmd(f, dir.path(), &[])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        if child.wait().is_ok_and(|st| !st.success()) {
            killed += 1;
        }
    }
    // Timing decides where each kill lands (that is the point); at least one must land.
    assert!(killed >= 1, "no run was killed before it finished");
    let st = score_cmd(f, dir.path(), &[]).status().expect("final run");
    assert!(st.success());
    let got = std::fs::read_to_string(dir.path().join("alerts.jsonl")).expect("read");
    assert_eq!(
        got, want,
        "resumed output differs from the uninterrupted one"
    );
}

#[test]
fn a_corrupt_checkpoint_is_refused_with_advice() {
    let f = fixture();
    let dir = tempfile::tempdir().expect("temp");
    std::fs::write(dir.path().join("cp"), b"FVIGCKPT\x01\x00\x00\x00garbage").expect("write");
    let out = score_cmd(f, dir.path(), &[]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("checkpoint") && err.contains("delete it"),
        "{err}"
    );
}

#[test]
fn sigterm_drains_checkpoints_and_resumes_exactly() {
    let f = fixture();
    let want = uninterrupted(f);
    let dir = tempfile::tempdir().expect("temp");
    let child = score_cmd(f, dir.path(), &[])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(60));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "SIGTERM must end the run cleanly");
    let st = score_cmd(f, dir.path(), &[]).status().expect("resume");
    assert!(st.success());
    let got = std::fs::read_to_string(dir.path().join("alerts.jsonl")).expect("read");
    assert_eq!(got, want);
}

#[test]
fn following_a_folder_scores_files_as_they_land() {
    let f = fixture();
    let want = uninterrupted(f);
    let dir = tempfile::tempdir().expect("temp");
    let watched = dir.path().join("incoming");
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&watched).expect("mkdir");
    std::fs::create_dir_all(&staging).expect("mkdir");
    let mut files = Vec::new();
    for d in &f.score_inputs {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .expect("read dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        files.extend(v);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowvigil"))
        .arg("score")
        .arg("--model")
        .arg(&f.model_path)
        .arg("--follow")
        .arg(&watched)
        .arg("--out")
        .arg(dir.path().join("alerts.jsonl"))
        .arg("--checkpoint")
        .arg(dir.path().join("cp"))
        .args(["--poll-ms", "20", "--idle-polls", "25"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Files land in batches, atomically (staged, then renamed in), as an S3 sync drops them.
    for (i, chunk) in files.chunks(files.len().div_ceil(4)).enumerate() {
        let sub = watched.join(format!("batch{i}"));
        std::fs::create_dir_all(&sub).expect("mkdir");
        for src in chunk {
            let name = src.file_name().expect("name");
            let tmp = staging.join(name);
            std::fs::copy(src, &tmp).expect("copy");
            std::fs::rename(&tmp, sub.join(name)).expect("rename");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let st = child.wait().expect("wait");
    assert!(st.success());
    let got = std::fs::read_to_string(dir.path().join("alerts.jsonl")).expect("read");
    // A followed folder never ends, so the last windows stay open (in the checkpoint): what was
    // emitted is exactly the beginning of the uninterrupted run's alerts.
    assert!(!got.is_empty(), "no alert was emitted while following");
    assert!(
        want.starts_with(&got),
        "followed output is not a prefix of the full run"
    );
}

#[test]
fn ocsf_alerts_are_detection_findings_with_evidence() {
    let f = fixture();
    let dir = tempfile::tempdir().expect("temp");
    let st = score_cmd(f, dir.path(), &["--format", "ocsf"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run");
    assert!(st.success());
    let text = std::fs::read_to_string(dir.path().join("alerts.jsonl")).expect("read");
    let mut n = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["type_uid"], 200401);
        assert!(v["finding_info"]["title"]
            .as_str()
            .is_some_and(|t| t.contains("eni-")));
        assert!(v["resources"][0]["uid"]
            .as_str()
            .is_some_and(|u| u.starts_with("eni-")));
        let data = &v["evidences"][0]["data"];
        assert!(data["anomaly_score"]
            .as_f64()
            .is_some_and(|s| (0.0..=1.0).contains(&s)));
        for a in v["finding_info"]["attacks"].as_array().expect("attacks") {
            assert!(a["technique"]["uid"]
                .as_str()
                .is_some_and(|t| t.starts_with('T')));
        }
        n += 1;
    }
    assert_eq!(n, uninterrupted(f).lines().count());
}

#[test]
fn the_shipped_default_model_loads_and_flags_the_sample_attacks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let m = model::load(&root.join("models/default.fvm"))
        .expect("models/default.fvm must load: rebuild it as models/README.md says");
    assert!(
        !m.histories.is_empty(),
        "the default model must carry feature histories"
    );
    let reader = LogReader::open(
        &[root.join("datasets/samples/tiny-v2")],
        ReadOptions::default(),
    )
    .expect("open sample");
    let (bt, _) =
        engine::backtest(reader, &m, &BacktestOptions::default(), &mut |_| {}).expect("backtest");
    let labels = flowvigil::labels::read_labels(std::io::BufReader::new(
        std::fs::File::open(root.join("datasets/samples/tiny-v2/labels.csv")).expect("labels"),
    ))
    .expect("parse labels");
    let w = u64::from(m.windowing.window_secs);
    let alerts: Vec<_> = bt.rows.iter().filter(|r| r.alert).collect();
    assert!(!alerts.is_empty());
    let inside = alerts
        .iter()
        .filter(|r| {
            labels
                .iter()
                .any(|l| l.eni == r.eni && l.overlaps(r.window_start, w))
        })
        .count();
    // In-sample (the model was trained on this very day), most alerts must be attack windows.
    assert!(
        inside * 10 >= alerts.len() * 9,
        "{inside} of {} alerts are inside labeled attacks",
        alerts.len()
    );
}

/// A trained model is the same bytes for any thread count, also when an ENI's peer history
/// switches from its exact set to the Bloom filter (the switch point decides the filter's insert
/// count, which once depended on the order other ENIs' windows closed in, hence on the shards).
#[test]
fn model_bytes_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = GenConfig {
        seed: 7,
        enis: 60,
        days: 2,
        ..GenConfig::default()
    };
    generate(&cfg, dir.path()).expect("generate");
    let train = |threads: usize| {
        let reader =
            LogReader::open(&[dir.path().to_path_buf()], ReadOptions::default()).expect("open");
        let (m, _, _) = engine::train_from_logs(
            reader,
            &WindowConfig::default(),
            &TrainParams::default(),
            threads,
            &mut |_| {},
        )
        .expect("train");
        m
    };
    let one = train(1);
    assert!(
        one.histories.values().any(|h| h.peers.is_filtered()),
        "the data set must drive a peer history past its exact set"
    );
    let bytes = |m: &Model| model::to_bytes(m, Path::new("m.fvm")).expect("encode");
    let want = bytes(&one);
    for threads in [2, 3] {
        assert!(
            bytes(&train(threads)) == want,
            "{threads} threads gave another model"
        );
    }
}

/// `backtest --report`: the page's counts are the backtest's, its top alerts carry their own
/// verdicts' explanations, and the binary writes it next to the alerts it prints.
#[test]
fn backtest_report_shows_the_runs_alerts_explained() {
    let f = fixture();
    let reader = LogReader::open(&f.score_inputs, ReadOptions::default()).expect("open");
    let (bt, _) = engine::backtest(reader, &f.model, &BacktestOptions::default(), &mut |_| {})
        .expect("backtest");
    let ws = u64::from(f.model.windowing.window_secs);
    let r = flowvigil::report::AlertReport::from_rows(
        &bt.rows,
        ws,
        f.model.scorer.calibration.threshold,
        "t".into(),
        "d".into(),
        Vec::new(),
    );
    assert_eq!(r.summary, engine::BacktestSummary::from_rows(&bt.rows));
    assert!(r.summary.alerts > 0, "the attack day alerts");
    assert!(!r.top_alerts.is_empty());
    for a in &r.top_alerts {
        let row = bt
            .rows
            .iter()
            .find(|x| x.eni == a.eni && x.window_start == a.window_start)
            .expect("a listed alert is a scored window");
        assert!(row.alert);
        let v = row.verdict.as_deref().expect("alerts keep their verdict");
        assert_eq!(a.explanation, engine::summary_line(v));
        assert!(!a.explanation.is_empty());
    }
    let html = flowvigil::report::render_alert_html(&r);
    for e in &r.summary.top_enis {
        assert!(html.contains(&e.eni), "top ENI {} not on the page", e.eni);
    }

    // The binary: same alert count on the page as in its summary.
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("sub/report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_flowvigil"))
        .args(["backtest", "--threads", "2", "--out"])
        .arg(dir.path().join("alerts.jsonl"))
        .arg("--report")
        .arg(&page)
        .arg("--model")
        .arg(&f.model_path)
        .args(&f.score_inputs)
        .output()
        .expect("run flowvigil");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).expect("the report was written");
    let alerts = std::fs::read_to_string(dir.path().join("alerts.jsonl")).expect("alerts");
    let n = alerts.lines().count() as u64;
    assert_eq!(n, r.summary.alerts);
    let card = format!(
        "<div class=\"card-label\">Alerts</div><div class=\"card-value\">{}</div>",
        flowvigil::report::text::int(n)
    );
    assert!(html.contains(&card), "alert card shows {n}");
}

/// `backtest --labels`: every alert carries exactly the labeled attacks its window overlaps
/// (checked against the labels file parsed here, by its documented rule), in JSON lines and
/// OCSF alike, and the summary's labeled counts are those of the alerts written.
#[test]
fn backtest_with_labels_marks_each_alert_and_measures_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = root.join("datasets/samples/tiny-v2");
    let labels_path = sample.join("labels.csv");
    // attack_id,attack_type,eni,start,end,attacker,victim
    let text = std::fs::read_to_string(&labels_path).expect("labels");
    let rows: Vec<(u64, String, String, u64, u64)> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (
                c[0].parse().expect("id"),
                c[1].to_string(),
                c[2].to_string(),
                c[3].parse().expect("start"),
                c[4].parse().expect("end"),
            )
        })
        .collect();
    assert!(!rows.is_empty());
    let window = 300u64;
    let dir = tempfile::tempdir().expect("temp dir");
    for format in ["jsonl", "ocsf"] {
        let alerts_path = dir.path().join(format!("alerts.{format}"));
        let out = Command::new(env!("CARGO_BIN_EXE_flowvigil"))
            .args([
                "backtest",
                "--threads",
                "1",
                "--summary-json",
                "--format",
                format,
            ])
            .arg("--model")
            .arg(root.join("models/default.fvm"))
            .arg("--labels")
            .arg(&labels_path)
            .arg("--out")
            .arg(&alerts_path)
            .arg("--report")
            .arg(dir.path().join(format!("report.{format}.html")))
            .arg(&sample)
            .output()
            .expect("run backtest");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let alerts: Vec<serde_json::Value> = std::fs::read_to_string(&alerts_path)
            .expect("alerts")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert!(alerts.len() > 10, "{} alerts", alerts.len());
        let mut hit = 0;
        for a in &alerts {
            let (eni, start, labels) = if format == "jsonl" {
                (
                    a["eni"].as_str().expect("eni").to_string(),
                    a["window_start"].as_u64().expect("start"),
                    &a["labels"],
                )
            } else {
                (
                    a["resources"][0]["uid"].as_str().expect("eni").to_string(),
                    a["time"].as_u64().expect("time") / 1000,
                    &a["unmapped"]["labels"],
                )
            };
            let want: Vec<u64> = rows
                .iter()
                .filter(|r| r.2 == eni && r.3 < start + window && r.4 > start)
                .map(|r| r.0)
                .collect();
            let got: Vec<u64> = labels
                .as_array()
                .expect("labels is an array")
                .iter()
                .map(|l| l["attack_id"].as_u64().expect("id"))
                .collect();
            assert_eq!(got, want, "{eni} at {start}");
            for l in labels.as_array().into_iter().flatten() {
                let id = l["attack_id"].as_u64();
                let ty = rows.iter().find(|r| Some(r.0) == id).map(|r| r.1.as_str());
                assert_eq!(l["attack_type"].as_str(), ty);
            }
            hit += usize::from(!want.is_empty());
        }
        assert!(hit > 0 && hit < alerts.len() + 1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let json_start = stderr.find("{\n").expect("summary JSON on stderr");
        let summary: serde_json::Value =
            serde_json::from_str(&stderr[json_start..]).expect("summary JSON");
        let counts = &summary["labeled"]["counts"];
        assert_eq!(counts["alerts"].as_u64(), Some(alerts.len() as u64));
        assert_eq!(counts["true_positives"].as_u64(), Some(hit as u64));
        assert_eq!(summary["alerts"].as_u64(), Some(alerts.len() as u64));
        let delay = &summary["labeled"]["delay"];
        let page = std::fs::read_to_string(dir.path().join(format!("report.{format}.html")))
            .expect("report");
        let detected = format!(
            "{} of {}",
            delay["detected"].as_u64().expect("detected"),
            delay["attacks"].as_u64().expect("attacks")
        );
        assert!(
            page.contains("attacks detected") && page.contains(&detected),
            "the report's header names {detected} attacks detected"
        );
    }
}
