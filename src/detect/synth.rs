//! A small deterministic generator of labeled [`WindowFeatures`] for tests, benches and docs:
//! ENIs in three roles (web, database, batch) with a diurnal rhythm and noise, and attack
//! windows of every finding type. It is not the synthetic VPC (`crate::gen` writes flow logs);
//! it works one level up, directly on windows, so detectors can be tested alone.

use std::net::{IpAddr, Ipv4Addr};

use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;

use crate::features::{
    Evidence, Feature, FeatureVector, PeerStat, PortStat, WindowFeatures, NUM_FEATURES,
};
use crate::flowlog::Interner;

/// Attack shapes the generator can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Outbound port scan.
    PortScan,
    /// Outbound sweep of port 445.
    HostSweep,
    /// Inbound SSH brute force.
    BruteForceSsh,
    /// Large upload to a new external peer.
    Exfiltration,
    /// Outbound packet flood.
    DoS,
    /// New internal peers on SSH.
    LateralMovement,
    /// Long-lived flows to a stratum port.
    CryptoMining,
    /// Megabytes to a never-used port.
    UnusualPort,
    /// Mail to many new external servers.
    SpamRelay,
}

impl Attack {
    /// Every attack shape.
    pub const ALL: [Attack; 9] = [
        Attack::PortScan,
        Attack::HostSweep,
        Attack::BruteForceSsh,
        Attack::Exfiltration,
        Attack::DoS,
        Attack::LateralMovement,
        Attack::CryptoMining,
        Attack::UnusualPort,
        Attack::SpamRelay,
    ];
}

/// A uniform draw in [0, 1).
fn unif(rng: &mut Xoshiro256Plus) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A labeled synthetic data set.
#[derive(Clone, Debug)]
pub struct SynthSet {
    /// ENI names (`eni-synth-0000`, ...).
    pub names: Interner,
    /// Normal training windows, in (window_start, eni name) order.
    pub train: Vec<WindowFeatures>,
    /// Test windows after the training span, in the same order, with a label (true = attack).
    pub test: Vec<(WindowFeatures, bool)>,
}

/// Builds a data set: `enis` ENIs, `train_windows` normal windows each, then `test_windows` per
/// ENI of which about one in `attack_every` is an attack (rotating through [`Attack::ALL`]).
pub fn dataset(
    enis: usize,
    train_windows: usize,
    test_windows: usize,
    attack_every: usize,
    seed: u64,
) -> SynthSet {
    let mut names = Interner::new();
    for i in 0..enis {
        names.intern(format!("eni-synth-{i:04}").as_bytes());
    }
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let start = 1_700_006_400u64; // a UTC midnight
    let mut train = Vec::with_capacity(enis * train_windows);
    let mut test = Vec::with_capacity(enis * test_windows);
    let mut k = 0usize;
    for t in 0..train_windows + test_windows {
        let ws = start + t as u64 * 300;
        for e in 0..enis {
            let w = normal_window(&mut rng, e as u32, ws);
            if t < train_windows {
                train.push(w);
            } else {
                k += 1;
                if attack_every > 0 && (k + e).is_multiple_of(attack_every) {
                    let a = Attack::ALL
                        .get((k / attack_every) % Attack::ALL.len())
                        .copied()
                        .unwrap_or(Attack::PortScan);
                    test.push((attack_window(&w, a), true));
                } else {
                    test.push((w, false));
                }
            }
        }
    }
    SynthSet { names, train, test }
}

/// One normal window of ENI `eni` (its role is `eni % 3`) starting at `window_start`.
pub fn normal_window(rng: &mut Xoshiro256Plus, eni: u32, window_start: u64) -> WindowFeatures {
    let role = eni % 3;
    let hour = ((window_start / 3600) % 24) as f64;
    let diurnal = 1.0 + 0.5 * ((hour - 8.0) / 24.0 * std::f64::consts::TAU).sin();
    let mut noise = |scale: f64| scale * diurnal * (0.75 + 0.5 * unif(rng));
    let (flows_in, flows_out, bpf_in, bpf_out, fan_in, fan_out, ports_out, ext) = match role {
        0 => (
            noise(400.0),
            noise(120.0),
            900.0,
            6_000.0,
            noise(150.0),
            noise(6.0),
            3.0,
            0.05,
        ),
        1 => (
            noise(150.0),
            noise(20.0),
            500.0,
            20_000.0,
            noise(4.0),
            noise(3.0),
            2.0,
            0.0,
        ),
        _ => (
            noise(10.0),
            noise(60.0),
            300.0,
            40_000.0,
            noise(2.0),
            noise(12.0),
            4.0,
            0.6,
        ),
    };
    let mut v: FeatureVector = [0.0; NUM_FEATURES];
    let mut set = |f: Feature, x: f64| v[f as usize] = x;
    let bytes_out = flows_out * bpf_out;
    let bytes_in = flows_in * bpf_in;
    set(Feature::FlowsIn, flows_in.round());
    set(Feature::FlowsOut, flows_out.round());
    set(Feature::BytesIn, bytes_in.round());
    set(Feature::BytesOut, bytes_out.round());
    set(Feature::PacketsIn, (bytes_in / 700.0).round());
    set(Feature::PacketsOut, (bytes_out / 900.0).round());
    set(
        Feature::ByteRatio,
        ((bytes_out + 1.0) / (bytes_in + 1.0)).ln(),
    );
    set(Feature::FanIn, fan_in.round());
    set(Feature::FanOut, fan_out.round());
    set(Feature::DstPortsOut, ports_out);
    set(Feature::LocalPortsIn, 2.0);
    set(Feature::RejectRatioIn, 0.01);
    set(Feature::ExternalBytesFrac, ext);
    set(Feature::SmallFlowFrac, 0.1);
    set(Feature::DstPortEntropy, ports_out.log2());
    set(Feature::TopPeerBytesOut, (bytes_out * 0.3).round());
    let addr = IpAddr::V4(Ipv4Addr::new(10, 0, (eni >> 8) as u8, eni as u8));
    let evidence = Evidence {
        ports: vec![PortStat {
            port: 443,
            protocol: 6,
            ingress: false,
            flows: flows_out as u32,
            peers: fan_out as u32,
            internal_peers: fan_out as u32,
            bytes: bytes_out as u64,
            packets: (bytes_out / 900.0) as u64,
            max_duration_secs: 20,
            ..PortStat::default()
        }],
        peers_out: vec![PeerStat {
            addr,
            port: 443,
            protocol: 6,
            flows: (flows_out * 0.3) as u32,
            bytes: (bytes_out * 0.3) as u64,
            packets: (bytes_out * 0.3 / 900.0) as u64,
            first_start: window_start,
            last_start: window_start + 240,
            new_peer: false,
            external: false,
        }],
    };
    WindowFeatures {
        eni,
        window_start,
        values: v,
        evidence,
    }
}

/// `base` with an attack of shape `a` added.
pub fn attack_window(base: &WindowFeatures, a: Attack) -> WindowFeatures {
    let mut w = base.clone();
    let v = &mut w.values;
    let ext = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    let port = |port: u16, ingress: bool, flows: u32, peers: u32| PortStat {
        port,
        protocol: 6,
        ingress,
        flows,
        small_flows: flows * 9 / 10,
        rejected: flows * 8 / 10,
        peers,
        bytes: u64::from(flows) * 120,
        packets: u64::from(flows) * 2,
        ..PortStat::default()
    };
    let add = |v: &mut FeatureVector, f: Feature, x: f64| v[f as usize] += x;
    let put = |v: &mut FeatureVector, f: Feature, x: f64| v[f as usize] = x;
    match a {
        Attack::PortScan => {
            add(v, Feature::FlowsOut, 600.0);
            put(v, Feature::DstPortsOut, 500.0);
            put(v, Feature::NewPortsOut, 480.0);
            put(v, Feature::RejectRatioOut, 0.9);
            put(v, Feature::SmallFlowFrac, 0.8);
            put(v, Feature::DstPortEntropy, 8.9);
        }
        Attack::HostSweep => {
            add(v, Feature::FlowsOut, 400.0);
            put(v, Feature::FanOut, 250.0);
            put(v, Feature::NewPeers, 240.0);
            put(v, Feature::SmallFlowFrac, 0.7);
            w.evidence.ports.push(port(445, false, 400, 250));
        }
        Attack::BruteForceSsh => {
            add(v, Feature::FlowsIn, 1500.0);
            w.evidence.ports.push(PortStat {
                small_flows: 0,
                rejected: 0,
                bytes: 1_500 * 4_000,
                ..port(22, true, 1500, 2)
            });
        }
        Attack::Exfiltration => {
            add(v, Feature::BytesOut, 3e9);
            add(v, Feature::PacketsOut, 3e9 / 1400.0);
            put(v, Feature::TopPeerBytesOut, 3e9);
            put(v, Feature::ExternalBytesFrac, 0.99);
            add(v, Feature::NewPeers, 1.0);
            w.evidence.peers_out.push(PeerStat {
                addr: ext,
                port: 443,
                protocol: 6,
                flows: 40,
                bytes: 3_000_000_000,
                packets: 2_100_000,
                first_start: w.window_start,
                last_start: w.window_start + 200,
                new_peer: true,
                external: true,
            });
        }
        Attack::DoS => {
            add(v, Feature::PacketsOut, 6e6);
            add(v, Feature::BytesOut, 6e6 * 60.0);
            add(v, Feature::FlowsOut, 2000.0);
        }
        Attack::LateralMovement => {
            add(v, Feature::FlowsOut, 30.0);
            add(v, Feature::NewPeers, 6.0);
            add(v, Feature::FanOut, 6.0);
            add(v, Feature::NewPortsOut, 1.0);
            w.evidence.ports.push(PortStat {
                new_peers: 6,
                internal_peers: 6,
                new_port: true,
                small_flows: 0,
                rejected: 0,
                ..port(22, false, 30, 6)
            });
        }
        Attack::CryptoMining => {
            add(v, Feature::FlowsOut, 5.0);
            add(v, Feature::NewPortsOut, 1.0);
            w.evidence.ports.push(PortStat {
                max_duration_secs: 60,
                internal_peers: 0,
                new_port: true,
                small_flows: 0,
                rejected: 0,
                ..port(3333, false, 5, 1)
            });
        }
        Attack::SpamRelay => {
            add(v, Feature::FlowsOut, 60.0);
            put(v, Feature::FanOut, 50.0);
            add(v, Feature::NewPeers, 45.0);
            w.evidence.ports.push(PortStat {
                new_peers: 45,
                internal_peers: 0,
                small_flows: 0,
                rejected: 0,
                bytes: 60 * 25_000,
                ..port(25, false, 60, 50)
            });
        }
        Attack::UnusualPort => {
            add(v, Feature::FlowsOut, 50.0);
            add(v, Feature::BytesOut, 5e7);
            add(v, Feature::NewPortsOut, 1.0);
            add(v, Feature::DstPortsOut, 1.0);
            w.evidence.ports.push(PortStat {
                new_port: true,
                small_flows: 0,
                rejected: 0,
                bytes: 50_000_000,
                ..port(8081, false, 50, 1)
            });
        }
    }
    w
}
