//! Model files: save/load round trip, every rejected-file error (truncated, corrupted, wrong
//! magic, version, schema, oversized), atomic writes, and the measured state size and load time.
//! A new check of the file format gets a test here; detector behaviour goes in `tests/detect.rs`.

use std::path::Path;
use std::time::Instant;

use flowvigil::detect::synth;
use flowvigil::detect::{train, EniState, TrainParams};
use flowvigil::model::{self, codec, Model, ModelError, HEADER_LEN, MAGIC};

fn small_model() -> Model {
    let set = synth::dataset(8, 120, 0, 0, 5);
    train(&set.train, &set.names, &TrainParams::default()).unwrap()
}

fn saved(dir: &Path) -> (Model, std::path::PathBuf, Vec<u8>) {
    let m = small_model();
    let path = dir.join("m.fvm");
    model::save(&m, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (m, path, bytes)
}

fn load_bytes(dir: &Path, bytes: &[u8]) -> ModelError {
    let p = dir.join("bad.fvm");
    std::fs::write(&p, bytes).unwrap();
    let err = model::load(&p).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bad.fvm"),
        "error does not name the file: {msg}"
    );
    err
}

#[test]
fn round_trip_is_equal_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let (m, path, bytes) = saved(dir.path());
    assert_eq!(model::load(&path).unwrap(), m);
    assert_eq!(&bytes[..8], &MAGIC);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "temp file left behind: {names:?}");
    // Overwriting an existing model is atomic too (rename over it).
    model::save(&m, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn truncated_files_are_refused_at_every_length() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, bytes) = saved(dir.path());
    for cut in [
        0,
        3,
        8,
        HEADER_LEN - 1,
        HEADER_LEN,
        HEADER_LEN + 1,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let err = load_bytes(dir.path(), &bytes[..cut]);
        assert!(
            matches!(err, ModelError::Truncated { .. }),
            "cut at {cut}: {err}"
        );
        assert!(
            err.to_string().contains("flowvigil train"),
            "no remedy: {err}"
        );
    }
}

#[test]
fn corrupted_body_fails_the_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, mut bytes) = saved(dir.path());
    let mid = HEADER_LEN + (bytes.len() - HEADER_LEN) / 2;
    bytes[mid] ^= 0x40;
    let err = load_bytes(dir.path(), &bytes);
    assert!(matches!(err, ModelError::Checksum { .. }), "{err}");
}

#[test]
fn wrong_magic_version_and_schema_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, bytes) = saved(dir.path());
    let mut b = bytes.clone();
    b[..8].copy_from_slice(b"PK\x03\x04zip!");
    assert!(matches!(
        load_bytes(dir.path(), &b),
        ModelError::BadMagic { .. }
    ));
    let mut b = bytes.clone();
    b[8..12].copy_from_slice(&99u32.to_le_bytes());
    let err = load_bytes(dir.path(), &b);
    assert!(
        matches!(
            err,
            ModelError::Version {
                found: 99,
                expected: model::FORMAT_VERSION,
                ..
            }
        ),
        "{err}"
    );
    let expected = format!("version {}", model::FORMAT_VERSION);
    assert!(err.to_string().contains("99") && err.to_string().contains(&expected));
    let mut b = bytes.clone();
    b[16] ^= 1;
    assert!(matches!(
        load_bytes(dir.path(), &b),
        ModelError::Schema { .. }
    ));
    let mut b = bytes.clone();
    b[12..16].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(
        load_bytes(dir.path(), &b),
        ModelError::Schema {
            found_version: 2,
            ..
        }
    ));
    let mut b = bytes;
    b.push(0);
    assert!(matches!(
        load_bytes(dir.path(), &b),
        ModelError::TooLarge { .. }
    ));
}

#[test]
fn a_crafted_body_cannot_allocate_past_the_limit() {
    // A valid header and checksum around a body whose first length prefix claims ~2^60 bytes.
    let mut body = vec![0xFFu8];
    body.extend_from_slice(&(1u64 << 60).to_le_bytes());
    let mut file = Vec::new();
    file.extend_from_slice(&MAGIC);
    file.extend_from_slice(&model::FORMAT_VERSION.to_le_bytes());
    file.extend_from_slice(&flowvigil::features::SCHEMA_VERSION.to_le_bytes());
    file.extend_from_slice(&flowvigil::features::schema_hash().to_le_bytes());
    file.extend_from_slice(&(body.len() as u64).to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    file.extend_from_slice(&[0; 4]);
    file.extend_from_slice(&body);
    let err = model::from_bytes(&file, Path::new("crafted.fvm")).unwrap_err();
    assert!(matches!(err, ModelError::Decode { .. }), "{err}");
    assert!(codec::decode(&body).is_err());
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = model::load(Path::new("/nonexistent/flowvigil/x.fvm")).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/flowvigil/x.fvm"));
}

/// A state as large as it gets: every beacon slot filled, seasonality learned.
fn full_state(m: &Model) -> EniState {
    use flowvigil::features::PeerStat;
    let set = synth::dataset(1, 400, 0, 0, 9);
    let mut st = m.scorer.new_eni_state(&set.train[0]);
    for (i, w) in set.train.iter().enumerate() {
        let mut w = w.clone();
        for k in 0..16u8 {
            w.evidence.peers_out.push(PeerStat {
                addr: std::net::IpAddr::V6(std::net::Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    i as u16,
                    u16::from(k),
                )),
                port: 40_000 + u16::from(k),
                protocol: 6,
                flows: 3,
                bytes: 999,
                packets: 9,
                first_start: w.window_start,
                last_start: w.window_start,
                new_peer: true,
                external: true,
            });
        }
        m.scorer.score_one(&mut st, &w);
    }
    st
}

#[test]
fn state_per_eni_is_at_most_1_kib() {
    let m = small_model();
    let st = full_state(&m);
    assert_eq!(
        st.beacons.slots.len(),
        flowvigil::detect::beacon::MAX_BEACON_SLOTS
    );
    let size = bincode_size(&st);
    println!("serialized EniState, worst case (6 IPv6 beacon slots): {size} bytes");
    assert!(size <= 1024, "state is {size} bytes");
}

fn bincode_size(st: &EniState) -> usize {
    // Measured through the model codec: a model with one ENI minus a model with none.
    let mut m = small_model();
    m.enis.clear();
    let empty = codec::encode(&m).unwrap().len();
    m.enis.insert("eni-0123456789abcdef0".into(), st.clone());
    codec::encode(&m).unwrap().len() - empty
}

#[test]
fn load_time_of_a_100k_eni_model_is_reported() {
    // Timing is reported, never asserted (see docs/readme/models.md for release figures).
    let mut m = small_model();
    let st = full_state(&m);
    m.enis = (0..100_000)
        .map(|i| (format!("eni-{i:017x}"), st.clone()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.fvm");
    model::save(&m, &path).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    let t = Instant::now();
    let back = model::load(&path).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(back.enis.len(), 100_000);
    println!("100k-ENI model: {size} bytes, loaded in {secs:.3} s (this profile)");
}

/// The in-tree synthetic sample (not `../shared`): `flowvigil train` then `flowvigil inspect`.
#[test]
fn cli_train_then_inspect_the_sample() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/samples/tiny-v2");
    if !Path::new(sample).exists() {
        println!("skipping: {sample} is absent");
        return;
    }
    let exe = env!("CARGO_BIN_EXE_flowvigil");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sub/tiny.fvm");
    let run = std::process::Command::new(exe)
        .args(["train", sample, "--out"])
        .arg(&out)
        .args(["--threads", "2", "--seed", "3"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let m = model::load(&out).unwrap();
    assert_eq!(m.enis.len(), 8, "the sample has 8 ENIs");
    assert!(m.enis.keys().all(|k| k.starts_with("eni-")));
    let inspect = std::process::Command::new(exe)
        .arg("inspect")
        .arg(&out)
        .output()
        .unwrap();
    assert!(inspect.status.success());
    let text = String::from_utf8_lossy(&inspect.stdout);
    for want in [
        "training span",
        "ENIs            8",
        "threshold",
        "peer groups",
        "baseline",
        "findings",
    ] {
        assert!(
            text.contains(want),
            "inspect output lacks {want:?}:\n{text}"
        );
    }
    // A damaged copy: exit 1 and a message saying what to do.
    let bytes = std::fs::read(&out).unwrap();
    let bad = dir.path().join("bad.fvm");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let inspect = std::process::Command::new(exe)
        .arg("inspect")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(inspect.status.code(), Some(1));
    let err = String::from_utf8_lossy(&inspect.stderr);
    assert!(
        err.contains("truncated") && err.contains("flowvigil train"),
        "{err}"
    );
}
