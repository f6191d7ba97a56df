//! The simulated VPC: ENIs in roles with addresses, subnets, lifetimes and benign changes, and
//! the pools of internet addresses they talk to.

use std::net::Ipv4Addr;

use serde::Serialize;

use super::rng::{splitmix64, Rng};
use super::GenConfig;
use crate::flowlog::{EniId, Interner};

/// What an ENI does; decides its ports, peers, volumes and rhythm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Load balancer: inbound 443 from the internet, forwards to web ENIs on 443.
    LoadBalancer,
    /// Web server: inbound 443 from the internet and from load balancers; calls app ENIs on 8080.
    Web,
    /// Application server (private): calls databases and external APIs through the NAT gateway.
    App,
    /// Database (private): inbound 5432 or 3306 from app and k8s ENIs only; replication.
    Db,
    /// Bastion: inbound 22 from a few admin addresses in working hours; SSH to internal hosts.
    Bastion,
    /// NAT gateway: logs both legs of every private ENI's internet traffic.
    NatGateway,
    /// Batch worker (private): nightly bursts to object storage (S3 through a gateway endpoint).
    Batch,
    /// Kubernetes node (private): many internal peers (pods, kubelet, DNS), image pulls via NAT.
    K8sNode,
}

impl Role {
    /// Every role, in manifest order.
    pub const ALL: [Role; 8] = [
        Role::LoadBalancer,
        Role::Web,
        Role::App,
        Role::Db,
        Role::Bastion,
        Role::NatGateway,
        Role::Batch,
        Role::K8sNode,
    ];

    /// The role's stable snake_case name (manifest, docs).
    pub fn name(self) -> &'static str {
        match self {
            Role::LoadBalancer => "load_balancer",
            Role::Web => "web",
            Role::App => "app",
            Role::Db => "db",
            Role::Bastion => "bastion",
            Role::NatGateway => "nat_gateway",
            Role::Batch => "batch",
            Role::K8sNode => "k8s_node",
        }
    }

    /// True for roles in public subnets: reachable from the internet, hence scanned.
    pub fn is_public(self) -> bool {
        matches!(
            self,
            Role::LoadBalancer | Role::Web | Role::Bastion | Role::NatGateway
        )
    }

    /// The first third octet of the role's address block in 10.0.0.0/16; each block holds at
    /// least 8 x 250 hosts, more than [`super::MAX_ENIS`] gives any role.
    fn subnet_octet(self) -> u8 {
        match self {
            Role::LoadBalancer => 0,
            Role::NatGateway => 8,
            Role::Web => 16,
            Role::Bastion => 24,
            Role::App => 32,
            Role::Db => 64,
            Role::Batch => 80,
            Role::K8sNode => 96,
        }
    }
}

/// One simulated interface.
#[derive(Clone, Debug, Serialize)]
pub struct SimEni {
    /// Interface id as written (`eni-` + 17 hex digits).
    pub name: String,
    /// Interned id (the simulator's own [`Interner`]).
    #[serde(skip)]
    pub id: EniId,
    /// Role.
    pub role: Role,
    /// Primary private IPv4 address.
    pub addr: Ipv4Addr,
    /// Subnet id.
    pub subnet: String,
    /// Instance id; `None` for the NAT gateway and load balancers (requester-managed ENIs).
    pub instance: Option<String>,
    /// Availability zone id (`use1-az1` ..).
    pub az: String,
    /// Unix second the ENI appears (cold start when after the run's start).
    pub born: u64,
    /// Unix second the ENI is retired, if during the run.
    pub retired: Option<u64>,
    /// Per-ENI volume multiplier: ENIs of one role differ in load.
    pub volume: f64,
    /// Benign change: a deploy opens this listening port at this time.
    pub new_port: Option<(u16, u64)>,
    /// Benign change: the ENI starts calling this new external API host at this time.
    pub new_peer: Option<(Ipv4Addr, u64)>,
    /// Database port (5432 or 3306) for db ENIs, service port otherwise.
    pub service_port: u16,
}

impl SimEni {
    /// True when the ENI exists at `t`.
    pub fn alive(&self, t: u64) -> bool {
        t >= self.born && self.retired.is_none_or(|r| t < r)
    }

    /// True when the ENI exists over all of `[a, b)`.
    pub fn alive_over(&self, a: u64, b: u64) -> bool {
        a >= self.born && self.retired.is_none_or(|r| b <= r)
    }
}

/// The VPC: ENIs and the external address pools.
#[derive(Clone, Debug)]
pub struct Vpc {
    /// Every ENI ever alive in the run; index = position.
    pub enis: Vec<SimEni>,
    /// The interner whose ids the ENIs carry.
    pub interner: Interner,
    /// `vpc-id`.
    pub vpc_id: String,
    /// Internet clients of web and load balancer ENIs (skewed: a few heavy clients).
    pub clients: Vec<Ipv4Addr>,
    /// External APIs the app ENIs call.
    pub api_peers: Vec<Ipv4Addr>,
    /// Admin addresses allowed to SSH into bastions.
    pub admins: Vec<Ipv4Addr>,
    /// Object storage (S3) addresses.
    pub s3: Vec<Ipv4Addr>,
    /// Container registries k8s nodes pull from.
    pub registries: Vec<Ipv4Addr>,
    /// Known internet scanners (background noise), plus fresh ones drawn at run time.
    pub scanners: Vec<Ipv4Addr>,
}

/// A random routable IPv4 address outside private, shared, loopback, link-local and multicast
/// space, so that "external" really is external for every feature.
pub fn public_addr(rng: &mut Rng) -> Ipv4Addr {
    loop {
        let x = rng.next_u64() as u32;
        let a = Ipv4Addr::from(x);
        let [o1, o2, _, _] = a.octets();
        let bad = o1 == 0
            || o1 == 10
            || o1 == 127
            || o1 >= 224
            || (o1 == 100 && (64..128).contains(&o2))
            || (o1 == 169 && o2 == 254)
            || (o1 == 172 && (16..32).contains(&o2))
            || (o1 == 192 && o2 == 168);
        if !bad {
            return a;
        }
    }
}

fn hex_id(prefix: &str, state: &mut u64) -> String {
    // 17 hex digits starting with 0, as AWS's current resource ids.
    format!("{prefix}0{:016x}", splitmix64(state))
}

/// Builds the VPC for `cfg` (roles, addresses, lifetimes, changes); deterministic by seed.
pub fn build(cfg: &GenConfig) -> Vpc {
    let mut rng = Rng::new(cfg.seed, 1);
    let mut ids = cfg.seed ^ 0x05EE_D1D5;
    let start = cfg.start_unix;
    let end = cfg.end_unix();
    let span = end - start;

    // One of each role first (the core, alive all run long), then the rest by weight.
    let mut roles: Vec<Role> = Role::ALL.to_vec();
    let weights = [
        (Role::Web, 15),
        (Role::App, 30),
        (Role::Db, 10),
        (Role::K8sNode, 35),
        (Role::LoadBalancer, 3),
        (Role::Batch, 3),
        (Role::NatGateway, 2),
        (Role::Bastion, 2),
    ];
    let total: u64 = weights.iter().map(|w| w.1).sum();
    while roles.len() < cfg.enis {
        let mut x = rng.below(total);
        for (r, w) in weights {
            if x < w {
                roles.push(r);
                break;
            }
            x -= w;
        }
    }

    let mut interner = Interner::new();
    let mut host_in_role = [0u32; Role::ALL.len()];
    let mut enis = Vec::with_capacity(roles.len());
    let azs = ["use1-az1", "use1-az2", "use1-az4"];
    for (i, role) in roles.into_iter().enumerate() {
        let core = i < Role::ALL.len();
        let name = hex_id("eni-", &mut ids);
        let id = interner.intern(name.as_bytes());
        // Hosts of a role fill its block 250 to a third octet, from .5 up; AZs alternate.
        let k = host_in_role[role as usize];
        host_in_role[role as usize] += 1;
        let az_i = (k % azs.len() as u32) as u8;
        let octet = role.subnet_octet().wrapping_add((k / 250) as u8);
        let addr = Ipv4Addr::new(10, 0, octet, (k % 250) as u8 + 5);
        let churn = match role {
            Role::K8sNode => 0.30,
            Role::App | Role::Web => 0.15,
            Role::Batch | Role::Db => 0.05,
            _ => 0.0,
        };
        let (mut born, mut retired) = (start, None);
        if !core && span > 12 * 3600 && rng.chance(churn) {
            born = start + rng.range(3600, span - 6 * 3600);
        }
        if !core && span > 12 * 3600 && rng.chance(churn * 0.6) {
            let from = born + 6 * 3600;
            if from + 3600 < end {
                retired = Some(rng.range(from, end - 3600));
            }
        }
        let service_port = match role {
            Role::Db => {
                if rng.chance(0.6) {
                    5432
                } else {
                    3306
                }
            }
            Role::LoadBalancer | Role::Web => 443,
            Role::Bastion => 22,
            _ => 8080,
        };
        let mut new_port = None;
        let mut new_peer = None;
        if matches!(role, Role::App | Role::Web | Role::K8sNode) && rng.chance(0.2) {
            let ports = [9090u16, 8443, 9443, 3000, 8081];
            let p = ports[rng.below(ports.len() as u64) as usize];
            new_port = Some((p, born + rng.range(3600, (end - born).max(7200) - 3600)));
        }
        if role == Role::App && rng.chance(0.25) {
            new_peer = Some((
                public_addr(&mut rng),
                born + rng.range(3600, (end - born).max(7200) - 3600),
            ));
        }
        enis.push(SimEni {
            name,
            id,
            role,
            addr,
            subnet: format!(
                "subnet-0{:016x}",
                splitmix64(&mut (cfg.seed ^ (role as u64) << 8 ^ u64::from(az_i)))
            ),
            instance: if matches!(role, Role::NatGateway | Role::LoadBalancer) {
                None
            } else {
                Some(hex_id("i-", &mut ids))
            },
            az: azs[usize::from(az_i)].to_string(),
            born,
            retired,
            volume: rng.lognormal(1.0, 0.35).clamp(0.3, 3.0),
            new_port,
            new_peer,
            service_port,
        });
    }
    let pool = |n: usize, rng: &mut Rng| (0..n).map(|_| public_addr(rng)).collect::<Vec<_>>();
    let clients = pool(3000, &mut rng);
    let api_peers = pool(8, &mut rng);
    let admins = pool(3, &mut rng);
    let registries = pool(4, &mut rng);
    let scanners = pool(400, &mut rng);
    // S3 us-east-1 lives in 52.216.0.0/15 and friends; a few fixed-looking addresses.
    let s3 = (0..6)
        .map(|_| {
            Ipv4Addr::new(
                52,
                216 + rng.below(2) as u8,
                rng.below(256) as u8,
                rng.range(1, 254) as u8,
            )
        })
        .collect();
    Vpc {
        enis,
        interner,
        vpc_id: hex_id("vpc-", &mut ids),
        clients,
        api_peers,
        admins,
        s3,
        registries,
        scanners,
    }
}

impl Vpc {
    /// Indices of ENIs of `role`.
    pub fn of_role(&self, role: Role) -> impl Iterator<Item = usize> + '_ {
        self.enis
            .iter()
            .enumerate()
            .filter(move |(_, e)| e.role == role)
            .map(|(i, _)| i)
    }

    /// The ENI holding `addr`, if any (linear: used only by attacks, a few times per run).
    pub fn by_addr(&self, addr: Ipv4Addr, t: u64) -> Option<usize> {
        self.enis.iter().position(|e| e.addr == addr && e.alive(t))
    }
}
