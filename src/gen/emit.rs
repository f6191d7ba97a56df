//! Turning a conversation into the flow records AWS would log for it: one record per direction
//! at each ENI that sees the traffic, both legs at the NAT gateway, S3 through a gateway endpoint.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use super::rng::Rng;
use super::vpc::{Role, SimEni, Vpc};
use crate::flowlog::{Action, FlowDirection, FlowRecord, IpType, LogStatus, TcpFlags, TextField};

/// One end of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// A simulated ENI (index into [`Vpc::enis`]).
    Eni(usize),
    /// An internet address.
    Ext(Ipv4Addr),
    /// An address inside the VPC with no interface behind it (host sweeps): only the sender logs.
    Void(Ipv4Addr),
}

/// A conversation `a` → `b` within one aggregation interval (a 5-tuple and its two directions).
#[derive(Clone, Copy, Debug)]
pub struct Conv {
    /// Initiator.
    pub a: End,
    /// Responder.
    pub b: End,
    /// IANA protocol number.
    pub proto: u8,
    /// Initiator port.
    pub sport: u16,
    /// Responder port.
    pub dport: u16,
    /// Packets a → b.
    pub pkts_ab: u64,
    /// Bytes a → b.
    pub bytes_ab: u64,
    /// Packets b → a (0: no reply, only the forward records are logged).
    pub pkts_ba: u64,
    /// Bytes b → a.
    pub bytes_ba: u64,
    /// First packet, Unix seconds.
    pub start: u64,
    /// Last packet, Unix seconds (> `start`).
    pub end: u64,
    /// The responder's security group rejects the traffic (no reply is logged).
    pub reject: bool,
    /// TCP flags a → b.
    pub flags_ab: u16,
    /// TCP flags b → a.
    pub flags_ba: u16,
    /// Internet traffic of a private ENI to S3 through a gateway endpoint (not via the NAT).
    pub s3: bool,
    /// The attack this traffic belongs to, if any.
    pub attack: Option<u32>,
}

impl Conv {
    /// A benign TCP conversation skeleton; callers fill sizes and times.
    pub fn tcp(a: End, b: End, sport: u16, dport: u16) -> Conv {
        Conv {
            a,
            b,
            proto: 6,
            sport,
            dport,
            pkts_ab: 0,
            bytes_ab: 0,
            pkts_ba: 0,
            bytes_ba: 0,
            start: 0,
            end: 0,
            reject: false,
            flags_ab: TcpFlags::SYN | TcpFlags::FIN,
            flags_ba: TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN,
            s3: false,
            attack: None,
        }
    }
}

/// One record's varying part.
struct Leg {
    eni: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    pkts: u64,
    bytes: u64,
    reject: bool,
    flags: u16,
    egress: bool,
    path: Option<u8>,
    pkt_src: Ipv4Addr,
    pkt_dst: Ipv4Addr,
    svc_src: bool,
    svc_dst: bool,
}

/// Where records go: the record and the attack it belongs to.
pub type RecordSink<'s> = dyn FnMut(&FlowRecord, Option<u32>) + 's;

/// Builds records from conversations and hands them to a sink; keeps the counts and attack spans
/// the manifest and labels are made of.
pub struct Emitter<'a, 's> {
    vpc: &'a Vpc,
    nats: Vec<usize>,
    alive_nats: Vec<usize>,
    v5: bool,
    account: u64,
    region: &'a str,
    rec: FlowRecord,
    rng: Rng,
    sink: &'a mut RecordSink<'s>,
    /// Records emitted per ENI in the current interval (for NODATA rows).
    pub in_interval: Vec<u32>,
    /// Records per ENI over the run.
    pub per_eni: Vec<u64>,
    /// (attack id, ENI index) → (first start, last end) of the attack's records there.
    pub spans: BTreeMap<(u32, usize), (u64, u64)>,
    /// Records written in all.
    pub records: u64,
    /// Records belonging to attacks.
    pub attack_records: u64,
    /// NODATA and SKIPDATA rows.
    pub status_rows: (u64, u64),
}

impl<'a, 's> Emitter<'a, 's> {
    /// An emitter for `vpc` writing version-5 records when `v5`, else version 2.
    pub fn new(
        vpc: &'a Vpc,
        v5: bool,
        account: u64,
        region: &'a str,
        seed: u64,
        sink: &'a mut RecordSink<'s>,
    ) -> Self {
        let n = vpc.enis.len();
        Emitter {
            vpc,
            nats: vpc.of_role(Role::NatGateway).collect(),
            alive_nats: Vec::new(),
            v5,
            account,
            region,
            rec: FlowRecord::default(),
            rng: Rng::new(seed, 7),
            sink,
            in_interval: vec![0; n],
            per_eni: vec![0; n],
            spans: BTreeMap::new(),
            records: 0,
            attack_records: 0,
            status_rows: (0, 0),
        }
    }

    fn addr(&self, e: End) -> Ipv4Addr {
        match e {
            End::Eni(i) => self
                .vpc
                .enis
                .get(i)
                .map_or(Ipv4Addr::UNSPECIFIED, |e| e.addr),
            End::Ext(a) | End::Void(a) => a,
        }
    }

    /// Starts the interval at `t`: clears the per-interval counts and notes the NAT gateways
    /// alive then.
    pub fn begin_interval(&mut self, t: u64) {
        self.in_interval.iter_mut().for_each(|n| *n = 0);
        let vpc = self.vpc;
        self.alive_nats.clear();
        self.alive_nats.extend(
            self.nats
                .iter()
                .copied()
                .filter(|&n| vpc.enis.get(n).is_some_and(|e| e.alive(t))),
        );
    }

    /// The NAT gateway serving ENI `i`: ENIs are spread over the NAT gateways alive now.
    fn nat_for(&self, i: usize) -> Option<usize> {
        if self.alive_nats.is_empty() {
            return None;
        }
        self.alive_nats.get(i % self.alive_nats.len()).copied()
    }

    /// Logs `c` at every ENI that sees it.
    pub fn conv(&mut self, c: &Conv) {
        let (aa, ba) = (self.addr(c.a), self.addr(c.b));
        let reply = !c.reject && c.pkts_ba > 0;
        let fwd = |eni, egress, reject, path| Leg {
            eni,
            src: aa,
            dst: ba,
            sport: c.sport,
            dport: c.dport,
            pkts: c.pkts_ab,
            bytes: c.bytes_ab,
            reject,
            flags: if c.reject { TcpFlags::SYN } else { c.flags_ab },
            egress,
            path,
            pkt_src: aa,
            pkt_dst: ba,
            svc_src: false,
            svc_dst: false,
        };
        let rev = |eni, egress, path| Leg {
            eni,
            src: ba,
            dst: aa,
            sport: c.dport,
            dport: c.sport,
            pkts: c.pkts_ba,
            bytes: c.bytes_ba,
            reject: false,
            flags: c.flags_ba,
            egress,
            path,
            pkt_src: ba,
            pkt_dst: aa,
            svc_src: false,
            svc_dst: false,
        };
        match (c.a, c.b) {
            (End::Eni(i), End::Eni(j)) => {
                self.leg(c, fwd(i, true, false, Some(1)));
                self.leg(c, fwd(j, false, c.reject, None));
                if reply {
                    self.leg(c, rev(j, true, Some(1)));
                    self.leg(c, rev(i, false, None));
                }
            }
            (End::Ext(_), End::Eni(j)) => {
                self.leg(c, fwd(j, false, c.reject, None));
                if reply {
                    self.leg(c, rev(j, true, Some(8)));
                }
            }
            (End::Eni(i), End::Void(_)) => self.leg(c, fwd(i, true, false, Some(1))),
            (End::Eni(i), End::Ext(x)) => {
                let public = self.vpc.enis.get(i).is_some_and(|e| e.role.is_public());
                if c.s3 {
                    self.leg(
                        c,
                        Leg {
                            svc_dst: true,
                            ..fwd(i, true, false, Some(2))
                        },
                    );
                    if reply {
                        self.leg(
                            c,
                            Leg {
                                svc_src: true,
                                ..rev(i, false, None)
                            },
                        );
                    }
                } else if public {
                    self.leg(c, fwd(i, true, false, Some(8)));
                    if reply {
                        self.leg(c, rev(i, false, None));
                    }
                } else {
                    self.via_nat(c, i, x, aa, reply);
                }
            }
            _ => {}
        }
    }

    /// A private ENI's internet traffic: its own two records and the NAT gateway's four, laid
    /// out as in AWS's NAT gateway example (`srcaddr`/`dstaddr` show the hop, `pkt-*` the ends).
    fn via_nat(&mut self, c: &Conv, i: usize, x: Ipv4Addr, inst: Ipv4Addr, reply: bool) {
        let base = Leg {
            eni: i,
            src: inst,
            dst: x,
            sport: c.sport,
            dport: c.dport,
            pkts: c.pkts_ab,
            bytes: c.bytes_ab,
            reject: false,
            flags: c.flags_ab,
            egress: true,
            path: Some(1),
            pkt_src: inst,
            pkt_dst: x,
            svc_src: false,
            svc_dst: false,
        };
        let back = Leg {
            src: x,
            dst: inst,
            sport: c.dport,
            dport: c.sport,
            pkts: c.pkts_ba,
            bytes: c.bytes_ba,
            flags: c.flags_ba,
            egress: false,
            path: None,
            pkt_src: x,
            pkt_dst: inst,
            ..base
        };
        self.leg(c, Leg { ..base });
        if reply {
            self.leg(c, Leg { ..back });
        }
        let Some(n) = self.nat_for(i) else {
            return;
        };
        let nat = self.addr(End::Eni(n));
        // The NAT gateway translates the source port.
        let nport = self.rng.range(1024, 65_535) as u16;
        self.leg(
            c,
            Leg {
                eni: n,
                dst: nat,
                egress: false,
                path: None,
                ..base
            },
        );
        self.leg(
            c,
            Leg {
                eni: n,
                src: nat,
                sport: nport,
                pkt_src: nat,
                path: Some(8),
                ..base
            },
        );
        if reply {
            self.leg(
                c,
                Leg {
                    eni: n,
                    dst: nat,
                    dport: nport,
                    pkt_dst: nat,
                    ..back
                },
            );
            self.leg(
                c,
                Leg {
                    eni: n,
                    src: nat,
                    egress: true,
                    path: Some(1),
                    ..back
                },
            );
        }
    }

    /// Clears the reused record and fills what every row of ENI `eni` carries (version,
    /// account, interface); `None` for an index outside the inventory.
    fn start_row(&mut self, eni: usize) -> Option<&'a SimEni> {
        let vpc: &'a Vpc = self.vpc;
        let e = vpc.enis.get(eni)?;
        let r = &mut self.rec;
        r.clear();
        r.version = Some(if self.v5 { 5 } else { 2 });
        r.account_id = Some(self.account);
        r.eni = Some(e.id);
        Some(e)
    }

    fn leg(&mut self, c: &Conv, l: Leg) {
        let Some(e) = self.start_row(l.eni) else {
            return;
        };
        let r = &mut self.rec;
        r.srcaddr = Some(IpAddr::V4(l.src));
        r.dstaddr = Some(IpAddr::V4(l.dst));
        let ports = c.proto != 1;
        r.srcport = Some(if ports { l.sport } else { 0 });
        r.dstport = Some(if ports { l.dport } else { 0 });
        r.protocol = Some(c.proto);
        r.packets = Some(l.pkts.max(1));
        r.bytes = Some(l.bytes.max(40 * l.pkts.max(1)));
        r.start = Some(c.start);
        r.end = Some(c.end.max(c.start + 1));
        r.action = Some(if l.reject {
            Action::Reject
        } else {
            Action::Accept
        });
        r.log_status = Some(LogStatus::Ok);
        if self.v5 {
            r.tcp_flags = (c.proto == 6).then_some(TcpFlags(l.flags));
            r.ip_type = Some(IpType::Ipv4);
            r.pkt_srcaddr = Some(IpAddr::V4(l.pkt_src));
            r.pkt_dstaddr = Some(IpAddr::V4(l.pkt_dst));
            r.flow_direction = Some(if l.egress {
                FlowDirection::Egress
            } else {
                FlowDirection::Ingress
            });
            r.traffic_path = if l.egress { l.path } else { None };
            r.text.set(TextField::VpcId, self.vpc.vpc_id.as_bytes());
            r.text.set(TextField::SubnetId, e.subnet.as_bytes());
            if let Some(inst) = &e.instance {
                r.text.set(TextField::InstanceId, inst.as_bytes());
            }
            r.text.set(TextField::Region, self.region.as_bytes());
            r.text.set(TextField::AzId, e.az.as_bytes());
            if l.svc_src {
                r.text.set(TextField::PktSrcAwsService, b"S3");
            }
            if l.svc_dst {
                r.text.set(TextField::PktDstAwsService, b"S3");
            }
        }
        self.push(l.eni, c.attack, c.start, c.end.max(c.start + 1));
    }

    fn push(&mut self, eni: usize, attack: Option<u32>, start: u64, end: u64) {
        (self.sink)(&self.rec, attack);
        self.records += 1;
        if let Some(n) = self.in_interval.get_mut(eni) {
            *n += 1;
        }
        if let Some(n) = self.per_eni.get_mut(eni) {
            *n += 1;
        }
        if let Some(a) = attack {
            self.attack_records += 1;
            let span = self.spans.entry((a, eni)).or_insert((start, end));
            span.0 = span.0.min(start);
            span.1 = span.1.max(end);
        }
    }

    /// A NODATA (`skip` false) or SKIPDATA row for ENI `eni` over `[start, end)`.
    pub fn status_row(&mut self, eni: usize, start: u64, end: u64, skip: bool) {
        if self.start_row(eni).is_none() {
            return;
        }
        let r = &mut self.rec;
        r.start = Some(start);
        r.end = Some(end);
        r.log_status = Some(if skip {
            LogStatus::SkipData
        } else {
            LogStatus::NoData
        });
        if skip {
            self.status_rows.1 += 1;
        } else {
            self.status_rows.0 += 1;
        }
        (self.sink)(&self.rec, None);
        self.records += 1;
        if let Some(n) = self.per_eni.get_mut(eni) {
            *n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{vpc, GenConfig};

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    /// A private ENI's internet flow gives its own two records and the NAT gateway's four, laid
    /// out as AWS's NAT gateway example shows them.
    /// A small v5 VPC (8 ENIs) and its settings.
    fn small_vpc() -> (GenConfig, Vpc) {
        let cfg = GenConfig {
            enis: 8,
            days: 1,
            ..GenConfig::default()
        };
        let v = vpc::build(&cfg);
        (cfg, v)
    }

    /// The records (with their ENI ids) one conversation gives, in emission order.
    fn emit_one(v: &Vpc, t0: u64, c: &Conv) -> Vec<(u32, FlowRecord)> {
        let mut got: Vec<(u32, FlowRecord)> = Vec::new();
        let mut sink = |r: &FlowRecord, _: Option<u32>| got.push((r.eni.unwrap(), r.clone()));
        let mut em = Emitter::new(v, true, 1, "us-east-1", 1, &mut sink);
        em.begin_interval(t0);
        em.conv(c);
        drop(em);
        got
    }

    #[test]
    fn nat_gateway_logs_both_legs() {
        let (cfg, v) = small_vpc();
        let app = v.of_role(Role::App).next().unwrap();
        let nat = v.of_role(Role::NatGateway).next().unwrap();
        let (a, n) = (v.enis[app].addr, v.enis[nat].addr);
        let x: Ipv4Addr = "203.0.113.5".parse().unwrap();
        let mut c = Conv::tcp(End::Eni(app), End::Ext(x), 40_000, 443);
        (c.pkts_ab, c.bytes_ab, c.pkts_ba, c.bytes_ba) = (5, 500, 4, 4000);
        (c.start, c.end) = (cfg.start_unix, cfg.start_unix + 2);
        let got = emit_one(&v, cfg.start_unix, &c);
        let (ai, ni) = (v.enis[app].id, v.enis[nat].id);
        let s = |r: &FlowRecord| {
            (
                r.srcaddr,
                r.dstaddr,
                r.pkt_srcaddr,
                r.pkt_dstaddr,
                r.flow_direction,
            )
        };
        let at = |id| {
            got.iter()
                .filter(|(e, _)| *e == id)
                .map(|(_, r)| s(r))
                .collect::<Vec<_>>()
        };
        let (a, n, x) = (ip(&a.to_string()), ip(&n.to_string()), ip(&x.to_string()));
        use FlowDirection::{Egress as E, Ingress as I};
        assert_eq!(at(ai), vec![(a, x, a, x, Some(E)), (x, a, x, a, Some(I))]);
        assert_eq!(
            at(ni),
            vec![
                (a, n, a, x, Some(I)),
                (n, x, n, x, Some(E)),
                (x, n, x, n, Some(I)),
                (n, a, x, a, Some(E)),
            ]
        );
        // The NAT's internet legs use its translated port, and no NAT record has an instance id.
        let legs: Vec<&FlowRecord> = got
            .iter()
            .filter(|(e, _)| *e == ni)
            .map(|(_, r)| r)
            .collect();
        assert_eq!(legs[1].srcport, legs[2].dstport);
        assert!(legs
            .iter()
            .all(|r| r.text.get(TextField::InstanceId).is_none()));
    }

    /// A rejected internal attempt is logged at both ENIs (ACCEPT out, REJECT in), no reply.
    #[test]
    fn rejected_internal_flow_has_no_reply() {
        let (cfg, v) = small_vpc();
        let app = v.of_role(Role::App).next().unwrap();
        let db = v.of_role(Role::Db).next().unwrap();
        let mut c = Conv::tcp(End::Eni(app), End::Eni(db), 40_000, 22);
        (c.pkts_ab, c.bytes_ab, c.pkts_ba, c.bytes_ba, c.reject) = (1, 44, 1, 44, true);
        (c.start, c.end) = (cfg.start_unix, cfg.start_unix + 1);
        let got = emit_one(&v, cfg.start_unix, &c);
        let acts: Vec<(u32, Option<Action>, Option<TcpFlags>)> = got
            .iter()
            .map(|(e, r)| (*e, r.action, r.tcp_flags))
            .collect();
        let syn = Some(TcpFlags(TcpFlags::SYN));
        assert_eq!(
            acts,
            vec![
                (v.enis[app].id, Some(Action::Accept), syn),
                (v.enis[db].id, Some(Action::Reject), syn)
            ]
        );
    }
}
