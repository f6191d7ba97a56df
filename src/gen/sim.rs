//! The simulation loop: for every aggregation interval, benign traffic per ENI role with its
//! rhythm, internet background scanning, active attacks, and NODATA/SKIPDATA rows.

use std::net::Ipv4Addr;

use super::attacks::Attack;
use super::civil::weekday;
use super::emit::{Conv, Emitter, End};
use super::rng::Rng;
use super::vpc::{public_addr, Role, Vpc};
use super::GenConfig;
use crate::flowlog::TcpFlags;

/// Probability that an ENI-interval loses records upstream and logs a SKIPDATA row.
const SKIPDATA_PROB: f64 = 2e-4;
/// Background scans per minute hitting each public ENI, day and night.
const SCANS_PER_MIN: f64 = 0.5;

/// The simulator's state while it runs.
pub struct Sim<'c> {
    pub(super) cfg: &'c GenConfig,
    pub(super) vpc: Vpc,
    pub(super) rng: Rng,
    pub(super) attacks: Vec<Attack>,
    /// ENIs alive in the current interval, by role (index = `Role as usize`).
    pub(super) alive: Vec<Vec<usize>>,
    activity: [f64; 8],
    /// Current interval start and width.
    pub(super) t: u64,
    pub(super) iv: u64,
}

impl<'c> Sim<'c> {
    /// A simulator for `cfg` over `vpc` with its attack schedule.
    pub fn new(cfg: &'c GenConfig, vpc: Vpc, attacks: Vec<Attack>) -> Self {
        Sim {
            cfg,
            vpc,
            rng: Rng::new(cfg.seed, 2),
            attacks,
            alive: vec![Vec::new(); Role::ALL.len()],
            activity: [0.0; 8],
            t: cfg.start_unix,
            iv: u64::from(cfg.interval_secs),
        }
    }

    /// The VPC being simulated.
    pub fn vpc(&self) -> &Vpc {
        &self.vpc
    }

    /// The attack schedule.
    pub fn attacks(&self) -> &[Attack] {
        &self.attacks
    }

    /// Runs every interval of the configured span through `em`.
    pub fn run(&mut self, em: &mut Emitter<'_, '_>) {
        let end = self.cfg.end_unix();
        let mut t = self.cfg.start_unix;
        while t < end {
            self.t = t;
            self.begin_interval(em);
            for i in 0..self.vpc.enis.len() {
                if self.vpc.enis.get(i).is_some_and(|e| e.alive(t)) {
                    self.benign(i, em);
                }
            }
            self.attacks_step(em);
            self.status_rows(em);
            t += self.iv;
        }
    }

    fn begin_interval(&mut self, em: &mut Emitter<'_, '_>) {
        let t = self.t;
        em.begin_interval(t);
        for v in &mut self.alive {
            v.clear();
        }
        for (i, e) in self.vpc.enis.iter().enumerate() {
            if e.alive(t) {
                if let Some(v) = self.alive.get_mut(e.role as usize) {
                    v.push(i);
                }
            }
        }
        for r in Role::ALL {
            if let Some(a) = self.activity.get_mut(r as usize) {
                *a = activity(r, t);
            }
        }
    }

    /// NODATA when an ENI logged nothing this interval (as AWS does), rare SKIPDATA otherwise.
    fn status_rows(&mut self, em: &mut Emitter<'_, '_>) {
        let (t, iv) = (self.t, self.iv);
        for i in 0..self.vpc.enis.len() {
            if !self.vpc.enis.get(i).is_some_and(|e| e.alive(t)) {
                continue;
            }
            if em.in_interval.get(i).copied() == Some(0) {
                em.status_row(i, t, t + iv, false);
            } else if self.rng.chance(SKIPDATA_PROB) {
                em.status_row(i, t, t + iv, true);
            }
        }
    }

    /// A random alive ENI of `role` other than `not`.
    pub(super) fn pick(&mut self, role: Role, not: usize) -> Option<usize> {
        let v = self.alive.get(role as usize)?;
        if v.is_empty() {
            return None;
        }
        let j = *v.get(self.rng.below(v.len() as u64) as usize)?;
        (j != not).then_some(j)
    }

    /// The number of flows this interval for a base rate per minute at full activity.
    fn count(&mut self, per_min: f64, role: Role, volume: f64) -> u64 {
        let act = self.activity.get(role as usize).copied().unwrap_or(1.0);
        // ±15 % interval-to-interval noise on top of the rhythm.
        let noise = 0.85 + 0.3 * self.rng.f64();
        let lambda = per_min * act * volume * self.cfg.volume_scale * noise * self.iv as f64 / 60.0;
        self.rng.poisson(lambda)
    }

    /// A short flow's start and end inside the current interval.
    pub(super) fn when(&mut self) -> (u64, u64) {
        let start = self.t + self.rng.below(self.iv);
        let dur = self.rng.lognormal(2.0, 1.0) as u64;
        (
            start,
            (start + dur + 1).min(self.t + self.iv).max(start + 1),
        )
    }

    /// An ephemeral client port (Linux default range).
    pub(super) fn eph(&mut self) -> u16 {
        self.rng.range(32_768, 60_999) as u16
    }

    /// Fills sizes of a request/response TCP exchange with the given median payloads.
    pub(super) fn sizes(&mut self, c: &mut Conv, req: f64, resp: f64) {
        c.bytes_ab = 180 + self.rng.lognormal(req, 0.6) as u64;
        c.pkts_ab = 3 + c.bytes_ab / 1000;
        c.bytes_ba = 120 + self.rng.lognormal(resp, 0.8) as u64;
        c.pkts_ba = 2 + c.bytes_ba / 1400;
    }

    fn short(&mut self, a: End, b: End, dport: u16, req: f64, resp: f64) -> Conv {
        let sport = self.eph();
        let mut c = Conv::tcp(a, b, sport, dport);
        (c.start, c.end) = self.when();
        self.sizes(&mut c, req, resp);
        c
    }

    fn benign(&mut self, i: usize, em: &mut Emitter<'_, '_>) {
        let Some(e) = self.vpc.enis.get(i) else {
            return;
        };
        let (role, vol, t) = (e.role, e.volume, self.t);
        let new_port = e.new_port.filter(|&(_, at)| t >= at).map(|(p, _)| p);
        let new_peer = e.new_peer.filter(|&(_, at)| t >= at).map(|(p, _)| p);
        let me = End::Eni(i);
        match role {
            Role::LoadBalancer => {
                let n = self.count(5.0, role, vol);
                self.client_requests(em, i, n, (900.0, 12_000.0));
                let n = self.count(3.5, role, vol);
                self.calls(em, i, n, Role::Web, true, (900.0, 12_000.0));
            }
            Role::Web => {
                let n = self.count(2.5, role, vol);
                self.client_requests(em, i, n, (800.0, 15_000.0));
                let n = self.count(2.5, role, vol);
                self.calls(em, i, n, Role::App, true, (600.0, 4_000.0));
            }
            Role::App => {
                let n = self.count(2.5, role, vol);
                self.calls(em, i, n, Role::Db, false, (400.0, 3_000.0));
                for _ in 0..self.count(0.6, role, vol) {
                    let peer = match new_peer {
                        Some(p) if self.rng.chance(0.3) => p,
                        _ => self.pool(PoolKind::Api),
                    };
                    let conv = self.short(me, End::Ext(peer), 443, 1_200.0, 6_000.0);
                    em.conv(&conv);
                }
            }
            Role::Db => self.replication(i, em),
            Role::Bastion => {
                for _ in 0..self.count(0.3, role, vol) {
                    let admin = self.pool(PoolKind::Admin);
                    let mut c = self.short(End::Ext(admin), me, 22, 8_000.0, 40_000.0);
                    c.end = self.t + self.iv;
                    em.conv(&c);
                }
                for _ in 0..self.count(0.1, role, vol) {
                    let role = [Role::App, Role::Db, Role::K8sNode][self.rng.below(3) as usize];
                    if let Some(h) = self.pick(role, i) {
                        let conv = self.short(me, End::Eni(h), 22, 6_000.0, 30_000.0);
                        em.conv(&conv);
                    }
                }
            }
            Role::NatGateway => {}
            Role::Batch => {
                for _ in 0..self.count(3.0, role, vol) {
                    let s3 = self.pool(PoolKind::S3);
                    let mut c = self.short(me, End::Ext(s3), 443, 20_000_000.0, 4_000.0);
                    c.pkts_ab = 4 + c.bytes_ab / 1400;
                    c.pkts_ba = c.pkts_ab / 2;
                    c.bytes_ba = 52 * c.pkts_ba;
                    c.end = (c.start + 20).min(self.t + self.iv).max(c.start + 1);
                    c.s3 = true;
                    em.conv(&c);
                }
            }
            Role::K8sNode => {
                for _ in 0..self.count(3.0, role, vol) {
                    if let Some(k) = self.pick(Role::K8sNode, i) {
                        let (port, udp) = match self.rng.below(6) {
                            0 => (10_250, false),
                            1 => (53, true),
                            2 => (443, false),
                            3 => (9_100, false),
                            _ => (self.rng.range(30_000, 32_767) as u16, false),
                        };
                        let mut c = self.short(me, End::Eni(k), port, 700.0, 5_000.0);
                        if udp {
                            c.proto = 17;
                            c.pkts_ab = 1;
                            c.pkts_ba = 1;
                            c.bytes_ab = 74;
                            c.bytes_ba = 130;
                        }
                        em.conv(&c);
                    }
                }
                let n = self.count(0.8, role, vol);
                self.calls(em, i, n, Role::Db, false, (400.0, 3_000.0));
                for _ in 0..self.count(0.08, role, vol) {
                    let reg = self.pool(PoolKind::Registry);
                    let conv = self.short(me, End::Ext(reg), 443, 2_000.0, 30_000_000.0);
                    em.conv(&conv);
                }
            }
        }
        if let Some(port) = new_port {
            // After a deploy, the new listener gets traffic from the usual upstream role.
            let up = match role {
                Role::Web => Role::LoadBalancer,
                Role::App => Role::Web,
                _ => Role::K8sNode,
            };
            for _ in 0..self.count(0.6, role, vol) {
                if let Some(u) = self.pick(up, i) {
                    let conv = self.short(End::Eni(u), me, port, 500.0, 2_000.0);
                    em.conv(&conv);
                }
            }
        }
        if role.is_public() {
            self.background_scan(i, em);
        }
    }

    /// `n` requests from internet clients to ENI `i` on 443, with median request and response
    /// payloads `size`.
    fn client_requests(&mut self, em: &mut Emitter<'_, '_>, i: usize, n: u64, size: (f64, f64)) {
        for _ in 0..n {
            let c = self.client();
            let conv = self.short(End::Ext(c), End::Eni(i), 443, size.0, size.1);
            em.conv(&conv);
        }
    }

    /// `n` requests from ENI `i` to random alive ENIs of role `to` on their service port; with
    /// `deployed`, sometimes on the port a deploy opened there instead (see [`Sim::port_of`]).
    fn calls(
        &mut self,
        em: &mut Emitter<'_, '_>,
        i: usize,
        n: u64,
        to: Role,
        deployed: bool,
        size: (f64, f64),
    ) {
        for _ in 0..n {
            let Some(j) = self.pick(to, i) else {
                continue;
            };
            let port = if deployed {
                self.port_of(j)
            } else {
                self.vpc.enis.get(j).map_or(5432, |e| e.service_port)
            };
            let conv = self.short(End::Eni(i), End::Eni(j), port, size.0, size.1);
            em.conv(&conv);
        }
    }

    /// The port ENI `j` serves on right now (its deploy may have added one).
    fn port_of(&mut self, j: usize) -> u16 {
        let Some(e) = self.vpc.enis.get(j) else {
            return 8080;
        };
        match e.new_port {
            Some((p, at)) if self.t >= at && self.rng.chance(0.2) => p,
            _ => e.service_port,
        }
    }

    /// A long-lived replication stream from the first alive database to each other one.
    fn replication(&mut self, i: usize, em: &mut Emitter<'_, '_>) {
        let Some(&primary) = self.alive.get(Role::Db as usize).and_then(|v| v.first()) else {
            return;
        };
        if primary == i {
            return;
        }
        let port = self.vpc.enis.get(i).map_or(5432, |e| e.service_port);
        let mut c = Conv::tcp(
            End::Eni(primary),
            End::Eni(i),
            40_000 + (i % 20_000) as u16,
            port,
        );
        c.flags_ab = 0;
        c.flags_ba = 0;
        (c.start, c.end) = (self.t, self.t + self.iv);
        let act = self
            .activity
            .get(Role::App as usize)
            .copied()
            .unwrap_or(1.0);
        c.bytes_ab = (self.rng.lognormal(2_000.0, 0.3) * act * self.iv as f64) as u64 + 200;
        c.pkts_ab = 2 + c.bytes_ab / 1400;
        c.pkts_ba = 1 + c.pkts_ab / 2;
        c.bytes_ba = 52 * c.pkts_ba;
        em.conv(&c);
    }

    /// Internet background noise at public ENIs: SYNs (and a few UDP/ICMP probes) from known and
    /// fresh scanners to common ports, rejected by the security group.
    fn background_scan(&mut self, i: usize, em: &mut Emitter<'_, '_>) {
        let n = self.rng.poisson(SCANS_PER_MIN * self.iv as f64 / 60.0);
        for _ in 0..n {
            let src = if self.rng.chance(0.7) {
                self.pool(PoolKind::Scanner)
            } else {
                public_addr(&mut self.rng)
            };
            const PORTS: [u16; 12] = [
                22, 23, 80, 443, 445, 3389, 8080, 5900, 6379, 1433, 2323, 8443,
            ];
            let mut c = Conv::tcp(End::Ext(src), End::Eni(i), self.eph(), 0);
            c.dport = if self.rng.chance(0.25) {
                self.rng.range(1, 65_535) as u16
            } else {
                PORTS[self.rng.below(PORTS.len() as u64) as usize]
            };
            match self.rng.below(10) {
                0 => {
                    c.proto = 17;
                    c.dport = [53u16, 123, 161, 1900][self.rng.below(4) as usize];
                }
                1 => c.proto = 1,
                _ => {}
            }
            let open = self
                .vpc
                .enis
                .get(i)
                .is_some_and(|e| e.service_port == c.dport && e.role != Role::Bastion);
            c.reject = !open;
            c.pkts_ab = 1;
            c.bytes_ab = 40 + self.rng.below(24);
            c.flags_ab = TcpFlags::SYN;
            if open {
                c.pkts_ba = 1;
                c.bytes_ba = 44;
                c.flags_ba = TcpFlags::SYN | TcpFlags::ACK;
            }
            (c.start, c.end) = self.when();
            em.conv(&c);
        }
    }

    fn client(&mut self) -> Ipv4Addr {
        // Mostly returning clients (skewed), some first-time visitors.
        if self.rng.chance(0.1) {
            public_addr(&mut self.rng)
        } else {
            self.pool(PoolKind::Client)
        }
    }

    fn pool(&mut self, k: PoolKind) -> Ipv4Addr {
        let v = match k {
            PoolKind::Client => &self.vpc.clients,
            PoolKind::Api => &self.vpc.api_peers,
            PoolKind::Admin => &self.vpc.admins,
            PoolKind::S3 => &self.vpc.s3,
            PoolKind::Registry => &self.vpc.registries,
            PoolKind::Scanner => &self.vpc.scanners,
        };
        let j = self.rng.skewed(v.len());
        v.get(j).copied().unwrap_or(Ipv4Addr::new(198, 51, 100, 1))
    }
}

#[derive(Clone, Copy)]
enum PoolKind {
    Client,
    Api,
    Admin,
    S3,
    Registry,
    Scanner,
}

/// Relative activity of `role` at `t` (1 = weekday afternoon peak): a diurnal curve peaking at
/// 14:00 UTC, weekends at 55 %, bastions in office hours, batch jobs 01:00-03:00.
pub fn activity(role: Role, t: u64) -> f64 {
    let h = (t % 86_400) as f64 / 3600.0;
    let weekend = weekday(t) >= 5;
    match role {
        Role::Batch => {
            if (1.0..3.0).contains(&h) {
                1.0
            } else {
                0.01
            }
        }
        Role::Bastion => {
            if !weekend && (8.0..18.0).contains(&h) {
                1.0
            } else {
                0.02
            }
        }
        _ => {
            let diurnal = 0.15 + 0.85 * (-((h - 14.0) / 4.5).powi(2)).exp();
            diurnal * if weekend { 0.55 } else { 1.0 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rhythm_peaks_in_the_afternoon_and_dips_at_weekends() {
        let monday = 1_772_409_600; // 2026-03-02T00:00Z
        let at = |day: u64, h: u64| monday + day * 86_400 + h * 3600;
        assert!(activity(Role::Web, at(0, 14)) > 3.0 * activity(Role::Web, at(0, 3)));
        assert!(activity(Role::Web, at(5, 14)) < 0.6 * activity(Role::Web, at(0, 14)));
        assert_eq!(activity(Role::Bastion, at(0, 10)), 1.0);
        assert!(activity(Role::Bastion, at(6, 10)) < 0.1);
        assert!(activity(Role::Batch, at(0, 2)) > 50.0 * activity(Role::Batch, at(0, 12)));
    }
}
