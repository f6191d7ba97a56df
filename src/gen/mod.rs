//! The deterministic synthetic VPC: benign traffic of ENIs in roles plus injected, labeled
//! attacks, written as AWS would deliver it (`flowvigil gen`).
//!
//! # What is simulated
//!
//! - ENIs in roles ([`Role`]): load balancer, web, app, db, bastion, NAT gateway, batch and
//!   Kubernetes node, each with its own ports, peers, volumes and rhythm (diurnal peak at 14:00
//!   UTC, weekends at 55 %, bastions in office hours, batch at night). ENIs beyond the first of
//!   each role may be created and retired during the run (cold start).
//! - Benign change: a deploy opens a new listening port; an app gains a new external API peer.
//! - Traffic between two ENIs appears at both (one record per direction per ENI); private ENIs
//!   reach the internet through the NAT gateway, which logs both legs (`pkt-srcaddr`/`pkt-dstaddr`
//!   give the true ends); batch jobs reach S3 through a gateway endpoint (`traffic-path` 2).
//! - Internet background scanning of every public ENI (REJECT), all the time: it is normal noise.
//! - NODATA rows for idle ENI-intervals, rare SKIPDATA rows, and delivery 1-10 minutes late into
//!   the 5-minute object of the delivery time: objects overlap in time and arrive out of order.
//! - Attacks ([`AttackKind`]) on the days after [`GenConfig::clean_days`]; each label row covers
//!   exactly the records that attack put at that ENI (labels are computed from the records).
//!
//! # Determinism
//!
//! One seed gives byte-identical files: the generator's own xoshiro256** ([`rng::Rng`]), ordered
//! containers only, gzip with a fixed header (mtime 0) and level, no clock.
//!
//! # Bounds
//!
//! Memory is the ENI inventory (`enis` ≤ [`MAX_ENIS`]) plus about 12 five-minute objects of text
//! held until no late record can still land in them; label spans are one entry per (attack, ENI).

pub mod attacks;
/// Calendar arithmetic, shared with the rest of the crate (kept here under its old path).
pub use crate::civil;
pub mod emit;
pub mod rng;
pub mod sim;
pub mod sink;
pub mod text;
pub mod vpc;

use std::collections::BTreeMap;
use std::fs;
use std::io::BufWriter;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use attacks::{Attack, AttackKind};
pub use vpc::{Role, SimEni};

use crate::flowlog::{Field, FlowRecord, Interner, DEFAULT_V2_FIELDS, V5_FIELDS};
use crate::labels::{write_labels, Label};

/// Most ENIs one run may simulate (address blocks and memory are sized for it).
pub const MAX_ENIS: usize = 5_000;
/// Longest run, days.
pub const MAX_DAYS: u32 = 400;

/// The record format written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GenFormat {
    /// AWS's default format (14 fields): no direction, flags or NAT packet addresses.
    V2,
    /// Version 5 (29 fields): adds `tcp-flags`, `pkt-srcaddr`/`pkt-dstaddr`, `flow-direction`,
    /// `traffic-path`, ids of VPC, subnet, instance, region and AZ.
    V5,
}

impl GenFormat {
    /// The header fields of this format.
    pub fn fields(self) -> &'static [Field] {
        match self {
            GenFormat::V2 => &DEFAULT_V2_FIELDS,
            GenFormat::V5 => &V5_FIELDS,
        }
    }
}

/// What to simulate. Every field is part of the manifest.
#[derive(Clone, Debug, Serialize)]
pub struct GenConfig {
    /// PRNG seed: the same seed and settings give byte-identical output.
    pub seed: u64,
    /// Number of ENIs (8 ..= [`MAX_ENIS`]); the first eight are one of each role.
    pub enis: usize,
    /// Days simulated (1 ..= [`MAX_DAYS`]).
    pub days: u32,
    /// Record format.
    pub format: GenFormat,
    /// Aggregation interval, 60 or 600 seconds (AWS's two choices).
    pub interval_secs: u32,
    /// Attack intensity: multiplies attack rates, volumes and counts (1 = default, 0 = no
    /// attack traffic, 0.1 = subtle, 10 = loud).
    pub attack_scale: f64,
    /// Start, Unix seconds, a multiple of `interval_secs` (default 2026-03-02T00:00Z, a Monday).
    pub start_unix: u64,
    /// The first `clean_days` days carry no attacks (clean history to train on); attacks happen
    /// on days `clean_days .. days`. Background scanning is everywhere.
    pub clean_days: u32,
    /// Attacks of each kind per attack day.
    pub attacks_per_type_per_day: u32,
    /// Multiplies benign flow rates (1 = about 8 records per ENI-minute at the daily peak).
    pub volume_scale: f64,
    /// `account-id`.
    pub account_id: u64,
    /// Region in the S3 keys and `region` field.
    pub region: String,
}

impl Default for GenConfig {
    /// 40 ENIs, 3 days at 60 s, version 5, two clean days then one attack day: the demo's data,
    /// about a million records, generated in a few seconds in release.
    fn default() -> Self {
        GenConfig {
            seed: 42,
            enis: 40,
            days: 3,
            format: GenFormat::V5,
            interval_secs: 60,
            attack_scale: 1.0,
            start_unix: 1_772_409_600,
            clean_days: 2,
            attacks_per_type_per_day: 1,
            volume_scale: 1.0,
            account_id: 123_456_789_012,
            region: "us-east-1".to_string(),
        }
    }
}

impl GenConfig {
    /// End of the simulated span, Unix seconds (exclusive).
    pub fn end_unix(&self) -> u64 {
        self.start_unix + u64::from(self.days) * 86_400
    }

    /// Checks every setting; the error names the field and what is allowed.
    pub fn validate(&self) -> Result<(), GenError> {
        let bad = |field, what: String| Err(GenError::Config { field, what });
        if !(8..=MAX_ENIS).contains(&self.enis) {
            return bad(
                "enis",
                format!("expected 8 ..= {MAX_ENIS}, found {}", self.enis),
            );
        }
        if !(1..=MAX_DAYS).contains(&self.days) {
            return bad(
                "days",
                format!("expected 1 ..= {MAX_DAYS}, found {}", self.days),
            );
        }
        if self.interval_secs != 60 && self.interval_secs != 600 {
            return bad(
                "interval_secs",
                format!("expected 60 or 600, found {}", self.interval_secs),
            );
        }
        if !(self.attack_scale.is_finite() && (0.0..=100.0).contains(&self.attack_scale)) {
            return bad(
                "attack_scale",
                format!("expected 0 ..= 100, found {}", self.attack_scale),
            );
        }
        if !(self.volume_scale.is_finite() && self.volume_scale > 0.0 && self.volume_scale <= 100.0)
        {
            return bad(
                "volume_scale",
                format!("expected > 0 and ≤ 100, found {}", self.volume_scale),
            );
        }
        if !self
            .start_unix
            .is_multiple_of(u64::from(self.interval_secs))
            || self.start_unix > 4_000_000_000
        {
            return bad(
                "start_unix",
                format!(
                    "expected a multiple of interval_secs before 2096, found {}",
                    self.start_unix
                ),
            );
        }
        if self.clean_days > self.days {
            return bad(
                "clean_days",
                format!("expected ≤ days ({}), found {}", self.days, self.clean_days),
            );
        }
        if self.attacks_per_type_per_day > 20 {
            return bad(
                "attacks_per_type_per_day",
                format!("expected ≤ 20, found {}", self.attacks_per_type_per_day),
            );
        }
        if self.account_id > 999_999_999_999 {
            return bad("account_id", "expected at most 12 digits".to_string());
        }
        if self.region.is_empty()
            || !self
                .region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad(
                "region",
                format!("expected letters, digits and `-`, found `{}`", self.region),
            );
        }
        Ok(())
    }
}

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// A setting is out of range.
    #[error("invalid generator setting `{field}`: {what}")]
    Config {
        /// The [`GenConfig`] field.
        field: &'static str,
        /// What was expected and found.
        what: String,
    },
    /// Writing output failed.
    #[error("writing {path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl GenError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        GenError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What a run produced; written as `manifest.json`.
#[derive(Clone, Debug, Serialize)]
pub struct GenSummary {
    /// `"flowvigil gen"` and the crate version.
    pub generator: String,
    /// The settings.
    pub config: GenConfig,
    /// End of the span, Unix seconds.
    pub end_unix: u64,
    /// Records written (all statuses).
    pub records: u64,
    /// Records that belong to attacks.
    pub attack_records: u64,
    /// NODATA rows.
    pub nodata_rows: u64,
    /// SKIPDATA rows.
    pub skipdata_rows: u64,
    /// `.log.gz` objects written (0 for [`simulate`]).
    pub files: u64,
    /// Compressed bytes written.
    pub gz_bytes: u64,
    /// Label rows (one per attack per ENI).
    pub label_rows: usize,
    /// ENIs per role.
    pub enis_per_role: BTreeMap<String, usize>,
    /// Records per role.
    pub records_per_role: BTreeMap<String, u64>,
    /// Attacks per type.
    pub attacks_per_type: BTreeMap<String, u32>,
    /// The attack schedule.
    pub attacks: Vec<Attack>,
    /// The ENI inventory (roles are ground truth for peer groups).
    pub enis: Vec<SimEni>,
}

/// The result of [`simulate`]: the summary, the labels, and the interner the records' ENI ids
/// refer to.
#[derive(Debug)]
pub struct Simulated {
    /// Counts and inventory.
    pub summary: GenSummary,
    /// One row per attack per ENI, sorted by attack id then ENI.
    pub labels: Vec<Label>,
    /// ENI names behind the records' ids.
    pub interner: Interner,
}

/// Runs the simulation, handing every record (in generation order, before delivery delays) and
/// the id of the attack it belongs to to `sink`. [`generate`] is this plus the S3 writer.
pub fn simulate(
    cfg: &GenConfig,
    sink: &mut dyn FnMut(&FlowRecord, Option<u32>),
) -> Result<Simulated, GenError> {
    cfg.validate()?;
    let vpc = vpc::build(cfg);
    let schedule = attacks::schedule(cfg, &vpc);
    let mut sim = sim::Sim::new(cfg, vpc, schedule);
    // The emitter borrows the VPC while the simulator mutates its own RNG and schedule, so it
    // gets its own copy of the (small) inventory.
    let vpc_copy = sim.vpc().clone();
    let mut em = emit::Emitter::new(
        &vpc_copy,
        cfg.format == GenFormat::V5,
        cfg.account_id,
        &cfg.region,
        cfg.seed,
        sink,
    );
    sim.run(&mut em);

    let vpc = &vpc_copy;
    let attacks = sim.attacks();
    let by_id: BTreeMap<u32, &Attack> = attacks.iter().map(|a| (a.id, a)).collect();
    let mut labels = Vec::with_capacity(em.spans.len());
    for (&(id, eni), &(start, end)) in &em.spans {
        let (Some(a), Some(e)) = (by_id.get(&id), vpc.enis.get(eni)) else {
            continue;
        };
        labels.push(Label {
            attack_id: id,
            attack_type: a.kind.name().to_string(),
            eni: e.name.clone(),
            start,
            end,
            attacker: a.attacker,
            victim: a.victim,
        });
    }
    let mut enis_per_role = BTreeMap::new();
    let mut records_per_role = BTreeMap::new();
    for (i, e) in vpc.enis.iter().enumerate() {
        *enis_per_role.entry(e.role.name().to_string()).or_insert(0) += 1;
        *records_per_role
            .entry(e.role.name().to_string())
            .or_insert(0) += em.per_eni.get(i).copied().unwrap_or(0);
    }
    let mut attacks_per_type = BTreeMap::new();
    for a in attacks {
        *attacks_per_type
            .entry(a.kind.name().to_string())
            .or_insert(0) += 1;
    }
    let summary = GenSummary {
        generator: format!("flowvigil gen {}", env!("CARGO_PKG_VERSION")),
        config: cfg.clone(),
        end_unix: cfg.end_unix(),
        records: em.records,
        attack_records: em.attack_records,
        nodata_rows: em.status_rows.0,
        skipdata_rows: em.status_rows.1,
        files: 0,
        gz_bytes: 0,
        label_rows: labels.len(),
        enis_per_role,
        records_per_role,
        attacks_per_type,
        attacks: attacks.to_vec(),
        enis: vpc.enis.clone(),
    };
    Ok(Simulated {
        summary,
        labels,
        interner: vpc.interner.clone(),
    })
}

/// Generates the synthetic VPC into `out_dir`: the S3 tree (`AWSLogs/...`), `labels.csv` and
/// `manifest.json`. Files of the same names are overwritten, others are left alone: use an
/// empty folder, or objects of an earlier run with other settings will be read with these.
pub fn generate(cfg: &GenConfig, out_dir: &Path) -> Result<GenSummary, GenError> {
    cfg.validate()?;
    fs::create_dir_all(out_dir).map_err(|e| GenError::io(out_dir, e))?;
    // The interner is rebuilt identically by `simulate` (same seed); the writer needs names
    // while records stream, so build the inventory once up front.
    let interner = vpc::build(cfg).interner;
    let mut writer = sink::S3Writer::new(
        out_dir,
        cfg.account_id,
        &cfg.region,
        cfg.format.fields(),
        cfg.seed,
    );
    let iv = u64::from(cfg.interval_secs);
    let mut current = 0u64;
    let mut failed: Option<GenError> = None;
    let mut on_record = |rec: &FlowRecord, _attack: Option<u32>| {
        if failed.is_some() {
            return;
        }
        // Records arrive interval by interval; every later record ends after this interval
        // starts, so objects before it can be written now.
        let t = rec.start.map_or(current, |s| s - s % iv);
        if t > current {
            current = t;
            if let Err(e) = writer.flush_before(t) {
                failed = Some(e);
                return;
            }
        }
        writer.push(rec, &interner);
    };
    let sim = simulate(cfg, &mut on_record)?;
    if let Some(e) = failed {
        return Err(e);
    }
    writer.finish()?;
    let mut summary = sim.summary;
    summary.files = writer.files;
    summary.gz_bytes = writer.bytes;

    let path = out_dir.join("labels.csv");
    let f = fs::File::create(&path).map_err(|e| GenError::io(&path, e))?;
    write_labels(BufWriter::new(f), &sim.labels).map_err(|e| GenError::io(&path, e))?;
    let path = out_dir.join("manifest.json");
    let mut json =
        serde_json::to_vec_pretty(&summary).map_err(|e| GenError::io(&path, e.into()))?;
    json.push(b'\n');
    fs::write(&path, json).map_err(|e| GenError::io(&path, e))?;
    Ok(summary)
}

/// The address of ENI `name` in a summary's inventory (tests and evaluation use it).
pub fn eni_addr(summary: &GenSummary, name: &str) -> Option<IpAddr> {
    summary
        .enis
        .iter()
        .find(|e| e.name == name)
        .map(|e| IpAddr::V4(e.addr))
}
