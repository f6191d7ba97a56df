//! The HTML report in a real browser: render a report from synthetic windows, open it in headless
//! Chromium, and check from the rendered DOM and a screenshot that its charts are drawn. A new
//! test of how the report renders in a browser goes here; metric tests go in `tests/eval.rs`.
//!
//! Without Chromium the test prints a notice and passes, unless `FLOWVIGIL_REQUIRE_BROWSER=1`
//! (as CI sets), then it fails. `CHROMIUM` overrides the browser path (default
//! `/usr/bin/chromium`, then `chromium` on `PATH`). The page and screenshot are kept under
//! `target/tmp/report_browser/` for a person to look at.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flowvigil::eval::{
    evaluate, mark_alerts, threshold_for_alert_rate, EvalInput, IsolationForestParams, ScoredWindow,
};
use flowvigil::labels::Label;
use flowvigil::report::{
    render_html, top_alert_rows, top_eni_timelines, DetectorReport, ReportData,
};

const WINDOW_SECS: u64 = 300;
const T0: u64 = 1_767_225_600; // 2026-01-01 00:00 UTC
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

/// A deterministic xorshift stream in [0, 1).
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// 12 ENIs over one day with 4 labeled attacks; flowvigil's scores rise inside attacks, and an
/// isolation forest scores simple 3-feature vectors of the same windows.
fn synthetic_report() -> ReportData {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let attacks = [
        (1, "port_scan", 2, 100, 112),
        (2, "ssh_brute_force", 5, 150, 190),
        (3, "exfiltration", 7, 220, 226),
        (4, "beaconing", 9, 30, 80),
    ];
    let labels: Vec<Label> = attacks
        .iter()
        .map(|&(id, kind, eni, from, to)| Label {
            attack_id: id,
            attack_type: kind.into(),
            eni: format!("eni-0{eni:02x}"),
            start: T0 + from * WINDOW_SECS + 40,
            end: T0 + to * WINDOW_SECS,
            attacker: None,
            victim: None,
        })
        .collect();
    let mut windows = Vec::new();
    let mut features = Vec::new();
    for eni in 0..12u64 {
        for i in 0..288u64 {
            let name = format!("eni-0{eni:02x}");
            let start = T0 + i * WINDOW_SECS;
            let attacked = labels
                .iter()
                .any(|l| l.eni == name && l.overlaps(start, WINDOW_SECS));
            let diurnal = (i as f64 / 288.0 * std::f64::consts::TAU).sin();
            // Attacks raise the score, not always above the noise: the metrics are not perfect.
            let bump = if attacked {
                0.1 + 0.45 * rng.unit()
            } else {
                0.0
            };
            let spike = if rng.unit() < 0.01 { 0.3 } else { 0.0 };
            let score = 0.15 + 0.08 * diurnal + 0.25 * rng.unit() + bump + spike;
            windows.push(ScoredWindow {
                eni: name,
                window_start: start,
                score,
                alert: false,
                findings: if attacked {
                    vec!["Recon/PortScan".into()]
                } else {
                    vec![]
                },
            });
            let noise = if attacked { 2.0 * rng.unit() } else { 0.0 };
            features.push([
                diurnal + rng.unit() + noise,
                rng.unit(),
                eni as f64 + rng.unit(),
            ]);
        }
    }
    let threshold = 0.55;
    mark_alerts(&mut windows, threshold);
    let eval = |ws: &[ScoredWindow], t: f64| {
        evaluate(&EvalInput {
            windows: ws,
            window_secs: WINDOW_SECS,
            labels: &labels,
            threshold: t,
        })
    };
    let flowvigil = eval(&windows, threshold);

    let forest = IsolationForestParams::new()
        .seed(7)
        .fit(&features)
        .expect("valid params and finite features");
    let mut reference = windows.clone();
    for (w, x) in reference.iter_mut().zip(&features) {
        w.score = forest.score(x);
    }
    let scores: Vec<f64> = reference.iter().map(|w| w.score).collect();
    let rate = flowvigil.alerts_per_1000.unwrap_or(1.0);
    let ref_threshold = threshold_for_alert_rate(&scores, rate).unwrap_or(1.0);
    mark_alerts(&mut reference, ref_threshold);

    let mut top_alerts = top_alert_rows(&windows, &labels, WINDOW_SECS, 8);
    for a in &mut top_alerts {
        a.explanation = format!(
            "dst_ports_out 412 vs 8 ± 3 (z=+135)\nreject_ratio_out 0.91 vs 0.02 <{}>",
            a.eni
        );
    }
    ReportData {
        title: "flowvigil evaluation: synthetic VPC (browser test)".into(),
        dataset: "12 ENIs, one day of 5-minute windows, 4 labeled attacks.".into(),
        facts: vec![("seed".into(), "0x5EED".into())],
        flowvigil,
        references: vec![DetectorReport {
            name: "isolation forest".into(),
            description: "100 trees of 256, same alert rate as flowvigil".into(),
            metrics: eval(&reference, ref_threshold),
        }],
        timelines: top_eni_timelines(&windows, &labels, WINDOW_SECS, 4),
        top_alerts,
    }
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let default = Path::new("/usr/bin/chromium");
    if default.exists() {
        return Some(default.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromium"))
            .find(|p| p.exists())
    })
}

/// Chromium, or `None` after a notice that the browser test of `what` is skipped; fails
/// instead when `FLOWVIGIL_REQUIRE_BROWSER=1`.
fn browser_or_skip(what: &str) -> Option<PathBuf> {
    let found = find_chromium();
    if found.is_none() {
        let required = std::env::var("FLOWVIGIL_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "FLOWVIGIL_REQUIRE_BROWSER=1 but chromium was not found (install Debian's `chromium`)"
        );
        eprintln!("notice: chromium not found; skipping the browser test of {what}");
    }
    found
}

/// Runs headless Chromium with `extra` flags on `page`; returns stdout. Fails on a non-zero exit
/// or after [`BROWSER_TIMEOUT`].
fn chromium(browser: &Path, page: &Path, extra: &[String]) -> String {
    let profile = tempfile::tempdir().expect("temp profile dir");
    let out_file = profile.path().join("stdout.txt");
    let err_file = profile.path().join("stderr.txt");
    let stdout = std::fs::File::create(&out_file).expect("stdout file");
    let stderr = std::fs::File::create(&err_file).expect("stderr file");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&err_file).unwrap_or_default();
            panic!("chromium did not finish within {BROWSER_TIMEOUT:?}\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&err_file).unwrap_or_default();
    assert!(status.success(), "chromium failed: {status}\n{log}");
    std::fs::read_to_string(&out_file).expect("read chromium output")
}

/// The serialized `<svg ...id="ID"...>...</svg>` element in a DOM dump.
fn svg_by_id<'a>(dom: &'a str, id: &str) -> &'a str {
    let attr = format!("id=\"{id}\"");
    let at = dom
        .find(&attr)
        .unwrap_or_else(|| panic!("no element with {attr} in the rendered DOM"));
    let open = dom[..at].rfind('<').expect("element start");
    assert!(
        dom[open..].starts_with("<svg"),
        "#{id} is not an <svg> element"
    );
    let close = dom[open..].find("</svg>").expect("closed svg") + open;
    &dom[open..close]
}

#[test]
fn report_renders_its_charts_in_headless_chromium() {
    let Some(browser) = browser_or_skip("the HTML report") else {
        return;
    };
    let report = synthetic_report();
    assert!(report.flowvigil.counts.positives > 0 && report.timelines.len() == 4);
    let html = render_html(&report);

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_browser");
    std::fs::create_dir_all(&dir).expect("output dir");
    let page = dir.join("report.html");
    std::fs::write(&page, &html).expect("write report");
    let page = page.canonicalize().expect("absolute page path");

    let dom = chromium(&browser, &page, &["--dump-dom".to_string()]);
    assert!(dom.contains("</html>"), "no DOM dumped:\n{dom:.500}");
    for id in ["pr-curve", "roc-curve"] {
        let svg = svg_by_id(&dom, id);
        // One path per detector, with real drawing commands.
        let paths: Vec<&str> = svg.split("<path").skip(1).collect();
        let series = paths.iter().filter(|p| p.contains("series")).count();
        assert_eq!(series, 2, "#{id}: expected a curve for each of 2 detectors");
        assert!(
            paths.iter().all(|p| p.contains(" d=\"M")),
            "#{id}: empty path"
        );
        assert!(
            svg.contains("class=\"legend\"") && svg.contains("class=\"tick\""),
            "#{id}"
        );
    }
    let bars = svg_by_id(&dom, "attack-recall");
    assert!(
        bars.matches("<rect class=\"bar\"").count() >= 8,
        "4 types × 2 detectors"
    );
    for i in 0..4 {
        let t = svg_by_id(&dom, &format!("timeline-{i}"));
        let line = t.split("<polyline").nth(1).expect("score polyline");
        let points = line.split("points=\"").nth(1).expect("points attribute");
        let n = points
            .split('"')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .count();
        assert!(n >= 200, "timeline-{i} draws {n} points");
        assert!(t.contains("class=\"threshold\""));
    }
    assert!(
        dom.contains("class=\"attack-span\""),
        "labeled attacks shaded"
    );
    assert!(dom.contains("id=\"attacks\""), "the attacks table");
    // The hostile-looking explanation text stayed text.
    assert!(dom.contains("&lt;eni-0"), "explanations escaped");
    assert!(!dom.contains("<script"), "the page needs no script");

    let shot = dir.join("report.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &browser,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400".to_string(),
            "--hide-scrollbars".to_string(),
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let dim = |at: usize| {
        u32::from_be_bytes(
            png.get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .expect("IHDR"),
        )
    };
    assert_eq!((dim(16), dim(20)), (1280, 2400), "screenshot size");
    // A blank 1280×2400 page compresses to a few KB; charts and text need far more.
    assert!(
        png.len() > 60_000,
        "screenshot is suspiciously small: {} bytes",
        png.len()
    );
    eprintln!(
        "report: {} ; screenshot: {}",
        page.display(),
        shot.display()
    );
}

/// The backtest report (`flowvigil backtest --report`) in the browser: its alert columns,
/// finding bars and score timelines are drawn, from rows of a synthetic replay.
#[test]
fn backtest_report_renders_in_headless_chromium() {
    let Some(browser) = browser_or_skip("the backtest report") else {
        return;
    };
    let mut rng = Rng(0x5EED_1234_ABCD_0002);
    let mut rows = Vec::new();
    for eni in 0..10u64 {
        for i in 0..288u64 {
            let noisy = eni < 3 && (100..130).contains(&i);
            let score = if noisy { 0.999 } else { rng.unit() * 0.9 };
            rows.push(flowvigil::engine::ScoredRow {
                eni: format!("eni-0{eni:02x}"),
                window_start: T0 + i * WINDOW_SECS,
                score,
                alert: noisy,
                findings: u16::from(noisy && eni == 0),
                verdict: None,
                features: None,
            });
        }
    }
    let report = flowvigil::report::AlertReport::from_rows(
        &rows,
        WINDOW_SECS,
        0.99,
        "flowvigil backtest: browser test <rows>".into(),
        "10 ENIs, one day.".into(),
        Vec::new(),
    );
    assert_eq!(report.summary.alerts, 90);
    let html = flowvigil::report::render_alert_html(&report);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_browser");
    std::fs::create_dir_all(&dir).expect("output dir");
    let page = dir.join("backtest.html");
    std::fs::write(&page, &html).expect("write report");
    let page = page.canonicalize().expect("absolute page path");
    let dom = chromium(&browser, &page, &["--dump-dom".to_string()]);
    assert!(dom.contains("</html>"), "no DOM dumped:\n{dom:.500}");
    // Alerts fall in windows 100..130 (08:20-10:50): three hourly columns.
    let cols = svg_by_id(&dom, "alerts-over-time");
    assert_eq!(cols.matches("<rect class=\"column\"").count(), 3);
    assert!(cols.contains("class=\"tick\""));
    for i in 0..3 {
        let t = svg_by_id(&dom, &format!("timeline-{i}"));
        assert!(t.contains("<polyline") && t.contains("class=\"threshold\""));
    }
    assert!(dom.contains("id=\"by-finding\"") && dom.contains("class=\"hbar\""));
    assert!(dom.contains("browser test &lt;rows&gt;"), "title escaped");
    assert!(!dom.contains("<script"), "the page needs no script");
    eprintln!("backtest report: {}", page.display());
}
