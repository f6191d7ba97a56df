//! Tests of the synthetic VPC (`flowvigil::gen`, `flowvigil gen`): determinism, labels that
//! cover their attack traffic, output that the reader parses with zero bad lines, the realism
//! properties the detectors rely on, and the committed sample in `datasets/samples/`.
//! A new test of the generator goes here; converters go in `tests/convert.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use flowvigil::flowlog::{
    Action, FlowDirection, FlowRecord, LogReader, LogStatus, NullSink, ReadOptions,
};
use flowvigil::gen::{generate, simulate, GenConfig, GenFormat, Role};
use flowvigil::labels::read_labels;
use proptest::prelude::*;

/// Small enough for debug test runs: 12 ENIs, one clean day then one attack day.
fn small(seed: u64, format: GenFormat) -> GenConfig {
    GenConfig {
        seed,
        enis: 12,
        days: 2,
        clean_days: 1,
        format,
        volume_scale: 0.3,
        ..GenConfig::default()
    }
}

/// The committed sample: the command that makes it is in datasets/README.md.
fn tiny_sample_config() -> GenConfig {
    GenConfig {
        seed: 7,
        enis: 8,
        days: 1,
        clean_days: 0,
        format: GenFormat::V2,
        volume_scale: 0.5,
        ..GenConfig::default()
    }
}

fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// Every record of the logs under `dir`, with its ENI name; asserts zero bad lines.
fn read_all(dir: &Path) -> Vec<(String, FlowRecord)> {
    let mut r = LogReader::open(&[dir.join("AWSLogs")], ReadOptions::default())
        .unwrap()
        .with_sink(Box::new(NullSink));
    let mut rec = FlowRecord::default();
    let mut out = Vec::new();
    while r.next_record(&mut rec).unwrap() {
        let name = r.interner().name(rec.eni.unwrap()).to_string();
        out.push((name, rec.clone()));
    }
    assert_eq!(r.summary().bad_lines, 0, "bad lines in generated output");
    out
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let cfg = small(11, GenFormat::V5);
    generate(&cfg, a.path()).unwrap();
    generate(&cfg, b.path()).unwrap();
    generate(&GenConfig { seed: 12, ..cfg }, c.path()).unwrap();
    let (fa, fb, fc) = (
        files_under(a.path()),
        files_under(b.path()),
        files_under(c.path()),
    );
    assert!(
        fa.len() > 100,
        "expected one object per 5 minutes, got {}",
        fa.len()
    );
    assert_eq!(fa, fb);
    assert_ne!(
        fa.get(Path::new("labels.csv")),
        fc.get(Path::new("labels.csv"))
    );
}

#[test]
fn output_parses_back_and_matches_the_manifest() {
    for format in [GenFormat::V2, GenFormat::V5] {
        let dir = tempfile::tempdir().unwrap();
        let s = generate(&small(3, format), dir.path()).unwrap();
        let recs = read_all(dir.path());
        assert_eq!(recs.len() as u64, s.records);
        let nodata = recs
            .iter()
            .filter(|(_, r)| r.log_status == Some(LogStatus::NoData))
            .count();
        assert_eq!(nodata as u64, s.nodata_rows);
        assert!(nodata > 0, "idle intervals must log NODATA");
        // Object names follow AWS's S3 layout and naming.
        let files = files_under(dir.path());
        let key = files
            .keys()
            .find(|p| p.extension().is_some_and(|e| e == "gz"))
            .unwrap();
        let k = key.to_string_lossy();
        assert!(
            k.starts_with("AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/03/0"),
            "{k}"
        );
        assert!(
            k.contains("_vpcflowlogs_us-east-1_fl-") && k.ends_with(".log.gz"),
            "{k}"
        );
        // The manifest and labels are readable.
        let labels = read_labels(
            std::fs::read(dir.path().join("labels.csv"))
                .unwrap()
                .as_slice(),
        )
        .unwrap();
        assert_eq!(labels.len(), s.label_rows);
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(m["records"].as_u64(), Some(s.records));
    }
}

#[test]
fn every_attack_record_lies_inside_its_label_and_history_is_clean() {
    let cfg = small(5, GenFormat::V5);
    let mut tagged: Vec<(u32, u32, u64, u64)> = Vec::new();
    let mut sink = |r: &FlowRecord, a: Option<u32>| {
        if let Some(a) = a {
            tagged.push((a, r.eni.unwrap(), r.start.unwrap(), r.end.unwrap()));
        }
    };
    let sim = simulate(&cfg, &mut sink).unwrap();
    assert!(!tagged.is_empty());
    let by_key: HashMap<(u32, &str), (u64, u64)> = sim
        .labels
        .iter()
        .map(|l| ((l.attack_id, l.eni.as_str()), (l.start, l.end)))
        .collect();
    let clean_end = cfg.start_unix + 86_400 * u64::from(cfg.clean_days);
    for &(a, eni, s, e) in &tagged {
        let name = sim.interner.name(eni);
        let (ls, le) = by_key
            .get(&(a, name))
            .copied()
            .unwrap_or_else(|| panic!("attack {a} at {name} has no label"));
        assert!(
            ls <= s && s < le && e <= le,
            "record [{s},{e}) outside label [{ls},{le})"
        );
        assert!(s >= clean_end, "attack traffic in the clean history");
    }
    // Every label row is backed by records, and every kind of attack was injected.
    let keys: HashSet<(u32, &str)> = tagged
        .iter()
        .map(|&(a, e, _, _)| (a, sim.interner.name(e)))
        .collect();
    assert_eq!(keys.len(), sim.labels.len());
    let kinds: HashSet<&str> = sim.labels.iter().map(|l| l.attack_type.as_str()).collect();
    assert_eq!(kinds.len(), 11, "{kinds:?}");
}

#[test]
fn traffic_looks_like_a_vpc() {
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&small(9, GenFormat::V5), dir.path()).unwrap();
    let recs = read_all(dir.path());
    let role_of: HashMap<&str, Role> = s.enis.iter().map(|e| (e.name.as_str(), e.role)).collect();
    let addr_of: HashMap<IpAddr, &str> = s
        .enis
        .iter()
        .map(|e| (IpAddr::V4(e.addr), e.name.as_str()))
        .collect();

    // Internal traffic appears at both ENIs: each egress to another ENI has its ingress twin.
    let key = |r: &FlowRecord| (r.srcaddr, r.dstaddr, r.srcport, r.dstport, r.start);
    let ingress: HashSet<_> = recs
        .iter()
        .filter(|(_, r)| r.flow_direction == Some(FlowDirection::Ingress))
        .map(|(n, r)| (n.clone(), key(r)))
        .collect();
    let mut internal = 0;
    for (n, r) in &recs {
        if r.flow_direction != Some(FlowDirection::Egress) || r.pkt_dstaddr != r.dstaddr {
            continue;
        }
        if let Some(&peer) = r.dstaddr.and_then(|d| addr_of.get(&d)) {
            let nat = |x: &str| role_of.get(x) == Some(&Role::NatGateway);
            // NAT legs are checked below: their `pkt-*` ends are outside the VPC.
            if peer != n && !nat(peer) && !nat(n) {
                internal += 1;
                assert!(
                    ingress.contains(&(peer.to_string(), key(r))),
                    "no twin at {peer} for {r:?}"
                );
            }
        }
    }
    assert!(internal > 1000, "{internal}");

    // The NAT gateway logs both legs: pkt-* addresses differ from srcaddr/dstaddr.
    let nat_legs = recs
        .iter()
        .filter(|(n, r)| {
            role_of.get(n.as_str()) == Some(&Role::NatGateway) && r.pkt_dstaddr != r.dstaddr
        })
        .count();
    assert!(nat_legs > 100, "{nat_legs}");

    // Background scanning: REJECTed inbound at public ENIs, never at private ones.
    for (n, r) in &recs {
        if r.action == Some(Action::Reject) && r.flow_direction == Some(FlowDirection::Ingress) {
            let role = role_of.get(n.as_str()).unwrap();
            let attack = r.start.unwrap() >= s.config.start_unix + 86_400;
            assert!(
                role.is_public() || attack,
                "REJECT at private {role:?} outside attacks"
            );
        }
    }

    // Diurnal rhythm: web ingress at 13-15 h is well above 02-04 h on the clean day.
    let hour_count = |h0: u64, h1: u64| {
        recs.iter()
            .filter(|(n, r)| {
                let h = (r.start.unwrap_or(0) - s.config.start_unix) / 3600;
                role_of.get(n.as_str()) == Some(&Role::Web)
                    && (h0..h1).contains(&h)
                    && r.action == Some(Action::Accept)
            })
            .count()
    };
    assert!(
        hour_count(13, 15) > 3 * hour_count(2, 4),
        "{} vs {}",
        hour_count(13, 15),
        hour_count(2, 4)
    );
}

#[test]
fn attack_scale_turns_intensity_up_and_down() {
    let count = |scale: f64| {
        let cfg = GenConfig {
            attack_scale: scale,
            ..small(21, GenFormat::V2)
        };
        simulate(&cfg, &mut |_, _| {})
            .unwrap()
            .summary
            .attack_records
    };
    let (zero, low, mid, high) = (count(0.0), count(0.3), count(1.0), count(3.0));
    assert_eq!(zero, 0);
    assert!(low < mid && mid < high, "{low} {mid} {high}");
}

#[test]
fn bad_settings_are_rejected_with_the_field_named() {
    let base = GenConfig::default();
    let cases: Vec<(&str, GenConfig)> = vec![
        (
            "enis",
            GenConfig {
                enis: 7,
                ..base.clone()
            },
        ),
        (
            "enis",
            GenConfig {
                enis: 5_001,
                ..base.clone()
            },
        ),
        (
            "days",
            GenConfig {
                days: 0,
                ..base.clone()
            },
        ),
        (
            "interval_secs",
            GenConfig {
                interval_secs: 300,
                ..base.clone()
            },
        ),
        (
            "attack_scale",
            GenConfig {
                attack_scale: f64::NAN,
                ..base.clone()
            },
        ),
        (
            "attack_scale",
            GenConfig {
                attack_scale: -1.0,
                ..base.clone()
            },
        ),
        (
            "volume_scale",
            GenConfig {
                volume_scale: 0.0,
                ..base.clone()
            },
        ),
        (
            "start_unix",
            GenConfig {
                start_unix: 1_772_409_601,
                ..base.clone()
            },
        ),
        (
            "clean_days",
            GenConfig {
                clean_days: 4,
                ..base.clone()
            },
        ),
        (
            "region",
            GenConfig {
                region: "us east".into(),
                ..base.clone()
            },
        ),
        (
            "account_id",
            GenConfig {
                account_id: 1_000_000_000_000,
                ..base.clone()
            },
        ),
    ];
    for (field, cfg) in cases {
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
    assert!(base.validate().is_ok());
}

/// `datasets/samples/tiny-v2` must be exactly what its documented command produces.
#[test]
fn committed_sample_regenerates_identically() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/samples/tiny-v2");
    let dir = tempfile::tempdir().unwrap();
    generate(&tiny_sample_config(), dir.path()).unwrap();
    let (want, got) = (files_under(&committed), files_under(dir.path()));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    assert!(
        want == got,
        "datasets/samples/tiny-v2 differs from a fresh generation: regenerate it"
    );
    let total: usize = want.values().map(Vec::len).sum();
    assert!(total < 5_000_000, "sample is {total} bytes");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Whatever the settings, attack records sit inside their labels and no label is empty.
    #[test]
    fn labels_cover_attack_records(seed in any::<u64>(), enis in 8usize..14, ten in any::<bool>(), scale in 0.05f64..3.0) {
        let cfg = GenConfig {
            seed, enis, days: 1, clean_days: 0, attack_scale: scale, volume_scale: 0.1,
            interval_secs: if ten { 600 } else { 60 }, ..GenConfig::default()
        };
        let mut spans: HashMap<(u32, u32), (u64, u64)> = HashMap::new();
        let sim = simulate(&cfg, &mut |r, a| {
            if let Some(a) = a {
                let s = spans.entry((a, r.eni.unwrap())).or_insert((u64::MAX, 0));
                s.0 = s.0.min(r.start.unwrap());
                s.1 = s.1.max(r.end.unwrap());
            }
        }).unwrap();
        prop_assert_eq!(spans.len(), sim.labels.len());
        for l in &sim.labels {
            prop_assert!(l.start < l.end);
            let id = sim.interner.get(l.eni.as_bytes()).unwrap();
            let (s, e) = spans[&(l.attack_id, id)];
            prop_assert!(l.start <= s && e <= l.end);
        }
    }
}

/// Each attack is shaped so that its finding type can see it (DESIGN.md section 5), and
/// `attack_scale` makes it quieter: measured on the attack's records at its own ENI.
#[test]
fn attacks_have_the_shape_their_findings_look_for() {
    use flowvigil::gen::AttackKind as K;
    let shape = |scale: f64| {
        let cfg = GenConfig {
            seed: 8,
            enis: 16,
            days: 1,
            clean_days: 0,
            attack_scale: scale,
            volume_scale: 0.2,
            ..GenConfig::default()
        };
        let mut recs: Vec<(u32, FlowRecord)> = Vec::new();
        let sim = simulate(&cfg, &mut |r, a| {
            if let Some(a) = a {
                recs.push((a, r.clone()));
            }
        })
        .unwrap();
        let mut out: HashMap<K, f64> = HashMap::new();
        for a in &sim.summary.attacks {
            // Interner ids are ENI indices: the inventory is interned in order.
            let own: Vec<&FlowRecord> = recs
                .iter()
                .filter(|(id, r)| *id == a.id && r.eni == Some(a.eni as u32))
                .map(|(_, r)| r)
                .collect();
            let egress: Vec<&FlowRecord> = own
                .iter()
                .copied()
                .filter(|r| r.flow_direction == Some(FlowDirection::Egress))
                .collect();
            let ingress: Vec<&FlowRecord> = own
                .iter()
                .copied()
                .filter(|r| r.flow_direction == Some(FlowDirection::Ingress))
                .collect();
            let distinct = |v: Vec<String>| v.into_iter().collect::<HashSet<_>>().len() as f64;
            let m = match a.kind {
                K::PortScan => {
                    distinct(ingress.iter().map(|r| format!("{:?}", r.dstport)).collect())
                }
                K::HostSweep => {
                    let ports =
                        distinct(egress.iter().map(|r| format!("{:?}", r.dstport)).collect());
                    assert_eq!(ports, 1.0, "a sweep probes one port");
                    distinct(egress.iter().map(|r| format!("{:?}", r.dstaddr)).collect())
                }
                K::SshBruteForce | K::RdpBruteForce => {
                    let port = if a.kind == K::SshBruteForce { 22 } else { 3389 };
                    assert!(ingress.iter().all(|r| r.dstport == Some(port)));
                    assert!(
                        distinct(ingress.iter().map(|r| format!("{:?}", r.srcaddr)).collect())
                            <= 3.0
                    );
                    ingress.len() as f64
                }
                K::ExfiltrationSlow | K::ExfiltrationFast | K::DosOutbound => {
                    assert_eq!(
                        distinct(egress.iter().map(|r| format!("{:?}", r.dstaddr)).collect()),
                        1.0
                    );
                    let f = |r: &&FlowRecord| {
                        if a.kind == K::DosOutbound {
                            r.packets.unwrap()
                        } else {
                            r.bytes.unwrap()
                        }
                    };
                    egress.iter().map(f).sum::<u64>() as f64
                }
                K::C2Beaconing => {
                    let mut t: Vec<u64> = egress.iter().map(|r| r.start.unwrap()).collect();
                    t.sort_unstable();
                    let gaps: Vec<f64> = t.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
                    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
                    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>()
                        / gaps.len() as f64)
                        .sqrt();
                    assert!(sd / mean < 0.2, "beacon jitter {sd}/{mean}");
                    let sizes: Vec<u64> = egress.iter().map(|r| r.bytes.unwrap()).collect();
                    assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() < 40);
                    t.len() as f64
                }
                K::CryptoMining => {
                    assert!(egress
                        .iter()
                        .all(|r| [3333, 4444, 14_444, 5555, 7777, 45_700]
                            .contains(&r.dstport.unwrap())));
                    egress.iter().map(|r| r.packets.unwrap()).sum::<u64>() as f64
                }
                K::LateralMovement => {
                    assert!(egress
                        .iter()
                        .all(|r| [22, 445, 3389, 5985].contains(&r.dstport.unwrap())));
                    distinct(egress.iter().map(|r| format!("{:?}", r.dstaddr)).collect())
                }
                K::SpamRelay => {
                    assert!(egress.iter().all(|r| r.dstport == Some(25)));
                    distinct(egress.iter().map(|r| format!("{:?}", r.dstaddr)).collect())
                }
            };
            out.insert(a.kind, m);
        }
        out
    };
    let (loud, quiet) = (shape(1.0), shape(0.2));
    assert_eq!(loud.len(), 11);
    let floor = [
        (K::PortScan, 300.0),
        (K::HostSweep, 100.0),
        (K::SshBruteForce, 200.0),
        (K::RdpBruteForce, 200.0),
        (K::ExfiltrationSlow, 3e8),
        (K::ExfiltrationFast, 2e9),
        (K::C2Beaconing, 100.0),
        (K::CryptoMining, 10_000.0),
        (K::DosOutbound, 100_000.0),
        (K::LateralMovement, 4.0),
        (K::SpamRelay, 100.0),
    ];
    for (k, min) in floor {
        assert!(loud[&k] >= min, "{k:?}: {} < {min}", loud[&k]);
        assert!(
            quiet[&k] < loud[&k],
            "{k:?}: scale 0.2 gives {} vs {}",
            quiet[&k],
            loud[&k]
        );
    }
}

/// The generator's fast line writer (`gen::text::LineWriter`) writes every simulated record,
/// v2 and v5 (NODATA/SKIPDATA rows, NAT legs, S3 rows included), byte for byte as the shared
/// `flowlog::write_record` does.
#[test]
fn fast_line_writer_matches_write_record_on_simulated_runs() {
    use flowvigil::flowlog::write_record;
    use flowvigil::gen::text::LineWriter;
    for format in [GenFormat::V2, GenFormat::V5] {
        let cfg = small(11, format);
        let mut recs = Vec::new();
        let sim = simulate(&cfg, &mut |r, _| recs.push(r.clone())).unwrap();
        assert!(
            recs.len() > 10_000,
            "{format:?}: only {} records",
            recs.len()
        );
        let fields = format.fields();
        let mut w = LineWriter::new(fields, &sim.interner);
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        for r in &recs {
            w.write(r, &sim.interner, &mut fast);
            write_record(r, fields, &sim.interner, &mut slow);
        }
        assert!(fast == slow, "{format:?}: fast writer output differs");
    }
}

/// Every object `generate` writes (v5, one compressor reused for all of them) is exactly what
/// flate2's `GzBuilder` (`gen::sink::gzip`) makes of its text, and the same concatenated text in
/// one multi-megabyte piece compresses identically too.
#[test]
fn reused_gzipper_matches_gzbuilder_on_generated_objects() {
    use flowvigil::gen::sink::{gzip, Gzipper};
    use std::io::Read;
    let cfg = small(5, GenFormat::V5);
    let dir = tempfile::tempdir().unwrap();
    generate(&cfg, dir.path()).unwrap();
    let mut all = Vec::new();
    let mut objects = 0;
    for (path, gz) in files_under(dir.path()) {
        if !path.to_string_lossy().ends_with(".log.gz") {
            continue;
        }
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut text)
            .unwrap();
        assert!(gzip(&text).unwrap() == gz, "{}", path.display());
        all.extend_from_slice(&text);
        objects += 1;
    }
    assert!(
        objects > 500 && all.len() > 4_000_000,
        "{objects} objects, {} bytes",
        all.len()
    );
    let mut g = Gzipper::new();
    assert!(g.gzip(&all).unwrap() == gzip(&all).unwrap());
    assert!(g.gzip(&[]).unwrap() == gzip(&[]).unwrap());
}
