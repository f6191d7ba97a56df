//! Injected attacks: the schedule (which day, when, which ENI) and the traffic of each kind,
//! shaped so that the matching typed finding (DESIGN.md section 5) can see it.

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use super::emit::{Conv, Emitter, End};
use super::rng::Rng;
use super::sim::Sim;
use super::vpc::{public_addr, Role, Vpc};
use super::GenConfig;
use crate::flowlog::TcpFlags;

/// The kinds of injected attack; [`AttackKind::name`] is the `attack_type` in `labels.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackKind {
    /// Vertical port scan of a public ENI from one internet address (mostly REJECT, 1 packet).
    PortScan,
    /// A compromised ENI probes one port on many addresses of the VPC.
    HostSweep,
    /// Many short inbound SSH flows from one to three addresses; some end in a long session.
    SshBruteForce,
    /// The same on RDP (3389).
    RdpBruteForce,
    /// Hours of modest extra egress to a new external host.
    ExfiltrationSlow,
    /// Gigabytes to a new external host within minutes.
    ExfiltrationFast,
    /// Periodic small flows with jitter and stable sizes to one external peer and port.
    C2Beaconing,
    /// Long-lived flows to a mining pool port (3333, 4444, 14444, ...).
    CryptoMining,
    /// Packet flood from an ENI to one external target.
    DosOutbound,
    /// A compromised ENI reaches internal hosts it never talked to on 22/445/3389/5985.
    LateralMovement,
    /// Many outbound SMTP (25) flows to many mail servers.
    SpamRelay,
}

impl AttackKind {
    /// Every kind, in schedule order.
    pub const ALL: [AttackKind; 11] = [
        AttackKind::PortScan,
        AttackKind::HostSweep,
        AttackKind::SshBruteForce,
        AttackKind::RdpBruteForce,
        AttackKind::ExfiltrationSlow,
        AttackKind::ExfiltrationFast,
        AttackKind::C2Beaconing,
        AttackKind::CryptoMining,
        AttackKind::DosOutbound,
        AttackKind::LateralMovement,
        AttackKind::SpamRelay,
    ];

    /// The stable snake_case name used as `attack_type`.
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::PortScan => "port_scan",
            AttackKind::HostSweep => "host_sweep",
            AttackKind::SshBruteForce => "ssh_brute_force",
            AttackKind::RdpBruteForce => "rdp_brute_force",
            AttackKind::ExfiltrationSlow => "exfiltration_slow",
            AttackKind::ExfiltrationFast => "exfiltration_fast",
            AttackKind::C2Beaconing => "c2_beaconing",
            AttackKind::CryptoMining => "crypto_mining",
            AttackKind::DosOutbound => "dos_outbound",
            AttackKind::LateralMovement => "lateral_movement",
            AttackKind::SpamRelay => "spam_relay",
        }
    }

    /// Duration range in seconds.
    fn duration(self) -> (u64, u64) {
        match self {
            AttackKind::PortScan => (600, 1_200),
            AttackKind::HostSweep => (600, 1_800),
            AttackKind::SshBruteForce | AttackKind::RdpBruteForce => (1_200, 3_600),
            AttackKind::ExfiltrationSlow => (4 * 3600, 8 * 3600),
            AttackKind::ExfiltrationFast => (900, 1_800),
            AttackKind::C2Beaconing => (6 * 3600, 10 * 3600),
            AttackKind::CryptoMining => (4 * 3600, 10 * 3600),
            AttackKind::DosOutbound => (300, 900),
            AttackKind::LateralMovement => (1_800, 5_400),
            AttackKind::SpamRelay => (1_800, 5_400),
        }
    }

    /// Roles the attacked ENI is drawn from.
    fn roles(self) -> &'static [Role] {
        match self {
            AttackKind::PortScan => &[Role::Web, Role::LoadBalancer, Role::Bastion],
            AttackKind::SshBruteForce => &[Role::Bastion],
            AttackKind::RdpBruteForce => &[Role::Web],
            AttackKind::ExfiltrationSlow | AttackKind::ExfiltrationFast => {
                &[Role::Db, Role::App, Role::K8sNode]
            }
            AttackKind::HostSweep | AttackKind::LateralMovement => {
                &[Role::App, Role::K8sNode, Role::Web]
            }
            AttackKind::C2Beaconing
            | AttackKind::CryptoMining
            | AttackKind::DosOutbound
            | AttackKind::SpamRelay => &[Role::App, Role::K8sNode],
        }
    }
}

/// One scheduled attack.
#[derive(Clone, Debug, Serialize)]
pub struct Attack {
    /// Attack number (`attack_id` in labels), from 1.
    pub id: u32,
    /// Kind.
    pub kind: AttackKind,
    /// Scheduled start and end, Unix seconds.
    pub start: u64,
    /// Scheduled end.
    pub end: u64,
    /// The attacked (or compromised) ENI.
    #[serde(skip)]
    pub eni: usize,
    /// Attacking address for the labels.
    pub attacker: Option<IpAddr>,
    /// Victim address for the labels.
    pub victim: Option<IpAddr>,
    /// External addresses the attack uses (attackers, drop host, pool, mail servers...).
    #[serde(skip)]
    peers: Vec<Ipv4Addr>,
    /// Internal targets (sweep addresses, lateral-movement victims) with their ports.
    #[serde(skip)]
    targets: Vec<(Ipv4Addr, u16)>,
    #[serde(skip)]
    port: u16,
    /// Next beacon time (C2).
    #[serde(skip)]
    next: f64,
    #[serde(skip)]
    success: bool,
}

/// Draws the attack schedule: `attacks_per_type_per_day` of every kind on every day after the
/// first `clean_days`, each on an ENI of a fitting role alive over the whole attack.
pub fn schedule(cfg: &GenConfig, vpc: &Vpc) -> Vec<Attack> {
    let mut rng = Rng::new(cfg.seed, 3);
    let mut out = Vec::new();
    let mut used = vec![0u32; vpc.enis.len()];
    for day in cfg.clean_days..cfg.days {
        let day_start = cfg.start_unix + u64::from(day) * 86_400;
        for _ in 0..cfg.attacks_per_type_per_day {
            for kind in AttackKind::ALL {
                let (lo, hi) = kind.duration();
                let dur = rng.range(lo, hi);
                let start = day_start + rng.below(86_400 - dur);
                let end = start + dur;
                // The least attacked fitting ENI, so attacks spread over the fleet.
                let cands: Vec<usize> = (0..vpc.enis.len())
                    .filter(|&i| {
                        vpc.enis.get(i).is_some_and(|e| {
                            kind.roles().contains(&e.role) && e.alive_over(start, end)
                        })
                    })
                    .collect();
                let Some(&eni) = cands
                    .iter()
                    .min_by_key(|&&i| (used.get(i).copied().unwrap_or(0), rng.next_u64() as u32))
                else {
                    continue;
                };
                if let Some(u) = used.get_mut(eni) {
                    *u += 1;
                }
                let id = out.len() as u32 + 1;
                out.push(make(
                    kind,
                    id,
                    start,
                    end,
                    eni,
                    vpc,
                    cfg.attack_scale,
                    &mut rng,
                ));
            }
        }
    }
    out
}

/// An external address guaranteed to be outside every benign pool: attacker infrastructure is new.
fn fresh(vpc: &Vpc, rng: &mut Rng) -> Ipv4Addr {
    loop {
        let a = public_addr(rng);
        let known = [
            &vpc.clients,
            &vpc.api_peers,
            &vpc.admins,
            &vpc.s3,
            &vpc.registries,
            &vpc.scanners,
        ]
        .iter()
        .any(|p| p.contains(&a));
        if !known {
            return a;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn make(
    kind: AttackKind,
    id: u32,
    start: u64,
    end: u64,
    eni: usize,
    vpc: &Vpc,
    scale: f64,
    rng: &mut Rng,
) -> Attack {
    let me = vpc.enis.get(eni).map_or(Ipv4Addr::UNSPECIFIED, |e| e.addr);
    let mut a = Attack {
        id,
        kind,
        start,
        end,
        eni,
        attacker: None,
        victim: Some(IpAddr::V4(me)),
        peers: Vec::new(),
        targets: Vec::new(),
        port: 0,
        next: start as f64,
        success: rng.chance(0.5),
    };
    let scaled = |base: f64| (base * scale).round().max(1.0) as usize;
    match kind {
        AttackKind::PortScan => {
            a.peers.push(fresh(vpc, rng));
            let n = scaled(400.0).min(60_000);
            let mut ports: Vec<u16> = Vec::with_capacity(n);
            let mut seen = std::collections::HashSet::new();
            while ports.len() < n {
                let p = if ports.len() < 1000 {
                    rng.range(1, 1024)
                } else {
                    rng.range(1, 65_535)
                } as u16;
                if seen.insert(p) {
                    ports.push(p);
                }
                if seen.len() >= 65_535 {
                    break;
                }
            }
            a.targets = ports.into_iter().map(|p| (me, p)).collect();
        }
        AttackKind::HostSweep => {
            a.port = [445u16, 22, 3389][rng.below(3) as usize];
            let n = scaled(250.0).min(20_000);
            a.targets = (0..n)
                .map(|_| {
                    let o = [16u8, 32, 64, 80, 96][rng.below(5) as usize] + rng.below(4) as u8;
                    (Ipv4Addr::new(10, 0, o, rng.range(5, 254) as u8), a.port)
                })
                .collect();
            a.victim = None;
        }
        AttackKind::SshBruteForce | AttackKind::RdpBruteForce => {
            let k = rng.range(1, 3);
            a.peers = (0..k).map(|_| fresh(vpc, rng)).collect();
            a.port = if kind == AttackKind::SshBruteForce {
                22
            } else {
                3389
            };
        }
        AttackKind::LateralMovement => {
            let n = scaled(5.0).min(64);
            let mut cands: Vec<usize> = (0..vpc.enis.len())
                .filter(|&j| {
                    j != eni
                        && vpc.enis.get(j).is_some_and(|e| {
                            matches!(
                                e.role,
                                Role::Db | Role::Batch | Role::App | Role::K8sNode | Role::Bastion
                            ) && e.alive_over(start, end)
                        })
                })
                .collect();
            for _ in 0..n.min(cands.len()) {
                let k = rng.below(cands.len() as u64) as usize;
                let j = cands.swap_remove(k);
                let port = [22u16, 445, 3389, 5985][rng.below(4) as usize];
                if let Some(e) = vpc.enis.get(j) {
                    a.targets.push((e.addr, port));
                }
            }
            a.victim = None;
        }
        AttackKind::SpamRelay => {
            a.peers = (0..scaled(300.0).min(5_000))
                .map(|_| fresh(vpc, rng))
                .collect();
            a.port = 25;
            a.victim = None;
        }
        AttackKind::C2Beaconing => {
            a.peers.push(fresh(vpc, rng));
            a.port = [443u16, 8443, 8080, 4443][rng.below(4) as usize];
        }
        AttackKind::CryptoMining => {
            a.peers.push(fresh(vpc, rng));
            a.port = [3333u16, 4444, 14_444, 5555, 7777, 45_700][rng.below(6) as usize];
        }
        AttackKind::ExfiltrationSlow | AttackKind::ExfiltrationFast => {
            a.peers.push(fresh(vpc, rng));
            a.port = [443u16, 22, 8443][rng.below(3) as usize];
        }
        AttackKind::DosOutbound => {
            a.peers.push(fresh(vpc, rng));
            a.port = [53u16, 123, 80][rng.below(3) as usize];
        }
    }
    // Who the labels name: outside-in attacks name the outsider, inside-out ones the ENI.
    match kind {
        AttackKind::HostSweep
        | AttackKind::LateralMovement
        | AttackKind::SpamRelay
        | AttackKind::DosOutbound => {
            a.attacker = Some(IpAddr::V4(me));
            if kind == AttackKind::DosOutbound {
                a.victim = a.peers.first().map(|&p| IpAddr::V4(p));
            }
        }
        _ => a.attacker = a.peers.first().map(|&p| IpAddr::V4(p)),
    }
    a
}

impl Sim<'_> {
    /// Emits every active attack's traffic for the current interval.
    pub(super) fn attacks_step(&mut self, em: &mut Emitter<'_, '_>) {
        let mut attacks = std::mem::take(&mut self.attacks);
        for a in &mut attacks {
            let lo = a.start.max(self.t);
            let hi = a.end.min(self.t + self.iv);
            if lo < hi {
                self.attack_interval(a, lo, hi, em);
            }
        }
        self.attacks = attacks;
    }

    /// A start time in `[lo, hi)` and an end a few seconds later, inside the interval.
    fn at(&mut self, lo: u64, hi: u64, dur: u64) -> (u64, u64) {
        let s = lo + self.rng.below(hi - lo);
        (s, (s + dur).min(self.t + self.iv).max(s + 1))
    }

    fn attack_interval(&mut self, a: &mut Attack, lo: u64, hi: u64, em: &mut Emitter<'_, '_>) {
        let scale = self.cfg.attack_scale;
        if scale <= 0.0 {
            return;
        }
        let me = End::Eni(a.eni);
        let frac = (hi - lo) as f64 / 60.0;
        let dur_total = (a.end - a.start).max(1) as f64;
        let tag = Some(a.id);
        match a.kind {
            AttackKind::PortScan | AttackKind::HostSweep => {
                // Targets are spread evenly over the attack; this interval takes its share.
                let n = a.targets.len() as f64;
                let k0 = (((lo - a.start) as f64 / dur_total) * n) as usize;
                let k1 = (((hi - a.start) as f64 / dur_total) * n).ceil() as usize;
                for k in k0..k1.min(a.targets.len()) {
                    let Some(&(addr, port)) = a.targets.get(k) else {
                        continue;
                    };
                    let (s, e) = self.at(lo, hi, 1);
                    let mut c = if a.kind == AttackKind::PortScan {
                        let src = a.peers.first().copied().unwrap_or(Ipv4Addr::BROADCAST);
                        let mut c = Conv::tcp(
                            End::Ext(src),
                            me,
                            self.rng.range(40_000, 65_000) as u16,
                            port,
                        );
                        let open = self
                            .vpc
                            .enis
                            .get(a.eni)
                            .is_some_and(|x| x.service_port == port);
                        c.reject = !open;
                        if open {
                            c.pkts_ba = 1;
                            c.bytes_ba = 44;
                            c.flags_ba = TcpFlags::SYN | TcpFlags::ACK;
                        }
                        c
                    } else {
                        let dst = match self.vpc.by_addr(addr, lo) {
                            Some(j) if j != a.eni => End::Eni(j),
                            Some(_) => continue,
                            None => End::Void(addr),
                        };
                        let mut c = Conv::tcp(me, dst, self.eph(), port);
                        c.reject = matches!(dst, End::Eni(_));
                        c
                    };
                    c.pkts_ab = 1 + u64::from(self.rng.chance(0.2));
                    c.bytes_ab = 44 * c.pkts_ab;
                    c.flags_ab = TcpFlags::SYN;
                    (c.start, c.end, c.attack) = (s, e, tag);
                    em.conv(&c);
                }
            }
            AttackKind::SshBruteForce | AttackKind::RdpBruteForce => {
                let n = self.rng.poisson(15.0 * scale * frac);
                for _ in 0..n {
                    let src = a
                        .peers
                        .get(self.rng.below(a.peers.len() as u64) as usize)
                        .copied()
                        .unwrap_or(Ipv4Addr::BROADCAST);
                    let sport = self.eph();
                    let mut c = Conv::tcp(End::Ext(src), me, sport, a.port);
                    let d = self.rng.range(2, 6);
                    (c.start, c.end) = self.at(lo, hi, d);
                    c.pkts_ab = self.rng.range(10, 22);
                    c.bytes_ab = 1_800 + self.rng.below(1_500);
                    c.pkts_ba = c.pkts_ab - self.rng.below(3);
                    c.bytes_ba = 2_600 + self.rng.below(1_500);
                    c.attack = tag;
                    em.conv(&c);
                }
                if a.success && hi == a.end {
                    // The guess that worked: one interactive session at the end.
                    let src = a.peers.first().copied().unwrap_or(Ipv4Addr::BROADCAST);
                    let mut c = Conv::tcp(End::Ext(src), me, self.eph(), a.port);
                    (c.start, c.end) = (lo, hi);
                    c.pkts_ab = 300;
                    c.bytes_ab = 40_000;
                    c.pkts_ba = 400;
                    c.bytes_ba = 250_000;
                    c.attack = tag;
                    em.conv(&c);
                }
            }
            AttackKind::ExfiltrationSlow | AttackKind::ExfiltrationFast => {
                let total = if a.kind == AttackKind::ExfiltrationSlow {
                    600e6
                } else {
                    4e9
                } * scale;
                let bytes = total * (hi - lo) as f64 / dur_total * (0.8 + 0.4 * self.rng.f64());
                let flows = self.rng.range(1, 3);
                let dst = a.peers.first().copied().unwrap_or(Ipv4Addr::BROADCAST);
                for _ in 0..flows {
                    let mut c = Conv::tcp(me, End::Ext(dst), self.eph(), a.port);
                    (c.start, c.end) = self.at(lo, hi, hi - lo);
                    c.bytes_ab = (bytes / flows as f64) as u64 + 200;
                    c.pkts_ab = 3 + c.bytes_ab / 1400;
                    c.pkts_ba = 2 + c.pkts_ab / 2;
                    c.bytes_ba = 52 * c.pkts_ba;
                    c.attack = tag;
                    em.conv(&c);
                }
            }
            AttackKind::C2Beaconing => {
                // Higher scale beacons more often; sizes stay stable, the period jitters ±10 %.
                let period = (120.0 / scale).max(5.0);
                let dst = a.peers.first().copied().unwrap_or(Ipv4Addr::BROADCAST);
                while a.next < hi as f64 {
                    let s = a.next as u64;
                    a.next += period * (0.9 + 0.2 * self.rng.f64());
                    if s < lo {
                        continue;
                    }
                    let mut c = Conv::tcp(me, End::Ext(dst), self.eph(), a.port);
                    (c.start, c.end) = (s, (s + 1).min(self.t + self.iv).max(s + 1));
                    c.pkts_ab = 6;
                    c.bytes_ab = 410 + self.rng.below(30);
                    c.pkts_ba = 5;
                    c.bytes_ba = 1_180 + self.rng.below(60);
                    c.attack = tag;
                    em.conv(&c);
                }
            }
            AttackKind::CryptoMining => {
                let conns = (2.0 * scale).ceil().clamp(1.0, 8.0) as u64;
                let dst = a.peers.first().copied().unwrap_or(Ipv4Addr::BROADCAST);
                for k in 0..conns {
                    // Long-lived: the same source port every interval.
                    let sport = 41_000 + (a.id as u64 * 8 + k) as u16 % 20_000;
                    let mut c = Conv::tcp(me, End::Ext(dst), sport, a.port);
                    (c.start, c.end) = (lo, hi);
                    c.flags_ab = if lo == a.start { TcpFlags::SYN } else { 0 };
                    c.flags_ba = if lo == a.start {
                        TcpFlags::SYN | TcpFlags::ACK
                    } else {
                        0
                    };
                    c.pkts_ab = (40.0 * scale * frac).ceil() as u64 + 1;
                    c.bytes_ab = c.pkts_ab * (110 + self.rng.below(30));
                    c.pkts_ba = c.pkts_ab;
                    c.bytes_ba = c.pkts_ba * (160 + self.rng.below(40));
                    c.attack = tag;
                    em.conv(&c);
                }
            }
            AttackKind::DosOutbound => {
                let n = self.rng.poisson(20.0 * scale * frac);
                let dst = a.peers.first().copied().unwrap_or(Ipv4Addr::BROADCAST);
                for _ in 0..n {
                    let mut c = Conv::tcp(me, End::Ext(dst), self.eph(), a.port);
                    c.proto = 17;
                    (c.start, c.end) = self.at(lo, hi, 30);
                    c.pkts_ab = self.rng.range(3_000, 6_000);
                    c.bytes_ab = c.pkts_ab * self.rng.range(64, 512);
                    c.attack = tag;
                    em.conv(&c);
                }
            }
            AttackKind::LateralMovement => {
                // Each new peer is tried about eight times over the attack.
                let p = frac * 4.0 / (dur_total / 60.0);
                for k in 0..a.targets.len() {
                    let Some(&(addr, port)) = a.targets.get(k) else {
                        continue;
                    };
                    let n = self.rng.poisson(p * 2.0);
                    let Some(j) = self.vpc.by_addr(addr, lo) else {
                        continue;
                    };
                    for _ in 0..n {
                        let mut c = Conv::tcp(me, End::Eni(j), self.eph(), port);
                        let d = self.rng.range(1, 20);
                        (c.start, c.end) = self.at(lo, hi, d);
                        self.sizes(&mut c, 3_000.0, 5_000.0);
                        c.attack = tag;
                        em.conv(&c);
                    }
                }
            }
            AttackKind::SpamRelay => {
                let n = self.rng.poisson(12.0 * scale * frac);
                for _ in 0..n {
                    let k = self.rng.below(a.peers.len() as u64) as usize;
                    let Some(&dst) = a.peers.get(k) else { continue };
                    let mut c = Conv::tcp(me, End::Ext(dst), self.eph(), 25);
                    let d = self.rng.range(1, 8);
                    (c.start, c.end) = self.at(lo, hi, d);
                    self.sizes(&mut c, 12_000.0, 600.0);
                    c.attack = tag;
                    em.conv(&c);
                }
            }
        }
    }
}
