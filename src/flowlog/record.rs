//! The typed flow record and the names of every AWS VPC Flow Logs field.
//!
//! One [`FlowRecord`] is reused for every line a reader parses: numeric and address fields are
//! plain values, the free-text fields (`vpc-id`, the ECS ARNs, ...) live in one reused byte buffer
//! ([`TextFields`]), and the interface id is interned to an [`EniId`]. Parsing a line therefore
//! allocates nothing once the buffers have grown.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// An interned network interface id (`eni-...`), see [`crate::flowlog::Interner`].
pub type EniId = u32;

/// `action`: whether the security group / NACL accepted the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// `ACCEPT`
    Accept,
    /// `REJECT`
    Reject,
}

/// `log-status`: whether the record carries data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogStatus {
    /// `OK`: data is logged normally.
    Ok,
    /// `NODATA`: no traffic to or from the interface during the aggregation interval.
    NoData,
    /// `SKIPDATA`: some records were skipped upstream (capacity or internal error).
    SkipData,
}

/// `flow-direction` (v5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlowDirection {
    /// `ingress`: traffic into the interface.
    Ingress,
    /// `egress`: traffic out of the interface.
    Egress,
}

/// `type` (v3): the type of traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IpType {
    /// `IPv4`
    Ipv4,
    /// `IPv6`
    Ipv6,
    /// `EFA` (Elastic Fabric Adapter)
    Efa,
}

/// `tcp-flags` (v3): the bitwise OR of the TCP flags seen during the aggregation interval.
///
/// AWS documents FIN 1, SYN 2, RST 4, SYN-ACK 18; ACK alone is reported as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// FIN
    pub const FIN: u16 = 1;
    /// SYN
    pub const SYN: u16 = 2;
    /// RST
    pub const RST: u16 = 4;
    /// PSH
    pub const PSH: u16 = 8;
    /// ACK
    pub const ACK: u16 = 16;
    /// URG
    pub const URG: u16 = 32;

    /// True when every bit of `mask` is set.
    pub fn contains(self, mask: u16) -> bool {
        self.0 & mask == mask
    }

    /// True when the flags are exactly SYN: a connection attempt that never completed.
    pub fn is_syn_only(self) -> bool {
        self.0 == Self::SYN
    }
}

/// One flow log record, reused across lines by the reader.
///
/// `None` means the field was `-` in the input or was not part of the format.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowRecord {
    /// `version`
    pub version: Option<u8>,
    /// `account-id`; `None` for `-` and for AWS's `unknown`.
    pub account_id: Option<u64>,
    /// `interface-id`, interned.
    pub eni: Option<EniId>,
    /// `srcaddr`
    pub srcaddr: Option<IpAddr>,
    /// `dstaddr`
    pub dstaddr: Option<IpAddr>,
    /// `srcport`
    pub srcport: Option<u16>,
    /// `dstport`
    pub dstport: Option<u16>,
    /// `protocol` (IANA number: 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub protocol: Option<u8>,
    /// `packets`
    pub packets: Option<u64>,
    /// `bytes`
    pub bytes: Option<u64>,
    /// `start`, Unix seconds.
    pub start: Option<u64>,
    /// `end`, Unix seconds.
    pub end: Option<u64>,
    /// `action`
    pub action: Option<Action>,
    /// `log-status`
    pub log_status: Option<LogStatus>,
    /// `tcp-flags` (v3)
    pub tcp_flags: Option<TcpFlags>,
    /// `type` (v3)
    pub ip_type: Option<IpType>,
    /// `pkt-srcaddr` (v3): the packet-level source, differs from `srcaddr` through NAT gateways.
    pub pkt_srcaddr: Option<IpAddr>,
    /// `pkt-dstaddr` (v3)
    pub pkt_dstaddr: Option<IpAddr>,
    /// `flow-direction` (v5)
    pub flow_direction: Option<FlowDirection>,
    /// `traffic-path` (v5), 1..=8.
    pub traffic_path: Option<u8>,
    /// `encryption-status` (0..=3).
    pub encryption_status: Option<u8>,
    /// Every free-text field, see [`TextField`].
    pub text: TextFields,
}

impl FlowRecord {
    /// Resets every field to absent, keeping the text buffer's capacity.
    pub fn clear(&mut self) {
        // Field by field: rebuilding the struct from `default()` compiles to a memcpy of the
        // whole record, which showed in the reader's profile. The exhaustive destructuring makes
        // a newly added field a compile error here until it is cleared too.
        let FlowRecord {
            version,
            account_id,
            eni,
            srcaddr,
            dstaddr,
            srcport,
            dstport,
            protocol,
            packets,
            bytes,
            start,
            end,
            action,
            log_status,
            tcp_flags,
            ip_type,
            pkt_srcaddr,
            pkt_dstaddr,
            flow_direction,
            traffic_path,
            encryption_status,
            text,
        } = self;
        *version = None;
        *account_id = None;
        *eni = None;
        *srcaddr = None;
        *dstaddr = None;
        *srcport = None;
        *dstport = None;
        *protocol = None;
        *packets = None;
        *bytes = None;
        *start = None;
        *end = None;
        *action = None;
        *log_status = None;
        *tcp_flags = None;
        *ip_type = None;
        *pkt_srcaddr = None;
        *pkt_dstaddr = None;
        *flow_direction = None;
        *traffic_path = None;
        *encryption_status = None;
        text.clear();
    }

    /// True when `log-status` is `OK` or absent (custom formats may omit it).
    pub fn is_ok(&self) -> bool {
        matches!(self.log_status, None | Some(LogStatus::Ok))
    }
}

/// The free-text fields of a record, stored as spans of one reused buffer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextFields {
    buf: Vec<u8>,
    spans: [Option<(u32, u32)>; TextField::COUNT],
    /// Some span is set. Clearing the 250-byte span table for every record showed in the v2
    /// reader's profile, where no text field is ever set; `dirty` is a function of `spans`, so
    /// the derived equality is unchanged.
    dirty: bool,
}

impl TextFields {
    /// Forgets every value, keeping capacity.
    #[inline]
    pub fn clear(&mut self) {
        if self.dirty {
            self.buf.clear();
            self.spans = [None; TextField::COUNT];
            self.dirty = false;
        }
    }

    /// Sets `field` to `value` (a later set of the same field wins).
    pub fn set(&mut self, field: TextField, value: &[u8]) {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(value);
        self.spans[field as usize] = Some((start, self.buf.len() as u32));
        self.dirty = true;
    }

    /// The raw bytes of `field`, if present.
    pub fn get_bytes(&self, field: TextField) -> Option<&[u8]> {
        self.spans[field as usize].map(|(a, b)| &self.buf[a as usize..b as usize])
    }

    /// The value of `field` as text, if present and valid UTF-8.
    pub fn get(&self, field: TextField) -> Option<&str> {
        self.get_bytes(field)
            .and_then(|b| std::str::from_utf8(b).ok())
    }
}

/// Flow log fields kept as text (identifiers, names, ARNs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum TextField {
    /// `vpc-id`
    VpcId,
    /// `subnet-id`
    SubnetId,
    /// `instance-id`
    InstanceId,
    /// `region`
    Region,
    /// `az-id`
    AzId,
    /// `sublocation-type`
    SublocationType,
    /// `sublocation-id`
    SublocationId,
    /// `pkt-src-aws-service`
    PktSrcAwsService,
    /// `pkt-dst-aws-service`
    PktDstAwsService,
    /// `ecs-cluster-arn`
    EcsClusterArn,
    /// `ecs-cluster-name`
    EcsClusterName,
    /// `ecs-container-instance-arn`
    EcsContainerInstanceArn,
    /// `ecs-container-instance-id`
    EcsContainerInstanceId,
    /// `ecs-container-id`
    EcsContainerId,
    /// `ecs-second-container-id`
    EcsSecondContainerId,
    /// `ecs-service-name`
    EcsServiceName,
    /// `ecs-task-definition-arn`
    EcsTaskDefinitionArn,
    /// `ecs-task-arn`
    EcsTaskArn,
    /// `ecs-task-id`
    EcsTaskId,
    /// `reject-reason` (v8)
    RejectReason,
    /// `resource-id`
    ResourceId,
}

impl TextField {
    /// Number of text fields.
    pub const COUNT: usize = 21;
}

/// Every field a flow log format can name, in AWS's documented order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Field {
    /// `version`
    Version,
    /// `account-id`
    AccountId,
    /// `interface-id`
    InterfaceId,
    /// `srcaddr`
    SrcAddr,
    /// `dstaddr`
    DstAddr,
    /// `srcport`
    SrcPort,
    /// `dstport`
    DstPort,
    /// `protocol`
    Protocol,
    /// `packets`
    Packets,
    /// `bytes`
    Bytes,
    /// `start`
    Start,
    /// `end`
    End,
    /// `action`
    Action,
    /// `log-status`
    LogStatus,
    /// `tcp-flags`
    TcpFlags,
    /// `type`
    Type,
    /// `pkt-srcaddr`
    PktSrcAddr,
    /// `pkt-dstaddr`
    PktDstAddr,
    /// `flow-direction`
    FlowDirection,
    /// `traffic-path`
    TrafficPath,
    /// `encryption-status`
    EncryptionStatus,
    /// A free-text field.
    Text(TextField),
}

/// The default (version 2) format: the field order of a header-less flow log.
pub const DEFAULT_V2_FIELDS: [Field; 14] = [
    Field::Version,
    Field::AccountId,
    Field::InterfaceId,
    Field::SrcAddr,
    Field::DstAddr,
    Field::SrcPort,
    Field::DstPort,
    Field::Protocol,
    Field::Packets,
    Field::Bytes,
    Field::Start,
    Field::End,
    Field::Action,
    Field::LogStatus,
];
