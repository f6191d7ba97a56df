//! The text writer: [`FlowRecord`]s back to AWS's space-separated flow log text.
//!
//! The generator and converters write their output with these functions, and the parser's round
//! trip tests rely on them, so the textual forms are exactly AWS's: `ACCEPT`/`REJECT`,
//! `OK`/`NODATA`/`SKIPDATA`, `ingress`/`egress`, `IPv4`/`IPv6`/`EFA`, decimal numbers, and `-` for
//! an absent value.
//!
//! Two choices keep a written line parseable and the round trip exact:
//! - `account-id` is written zero-padded to AWS's 12 digits (the record keeps it as a number, so
//!   `012345678901` would otherwise lose its leading zero). An absent account is written `-`,
//!   never `unknown` (the parser reads both as absent).
//! - A free-text value is written as is, except that an empty value is written `-` and ASCII
//!   space, tab, CR or LF inside a value becomes `_` (it would split the field or the line).

use std::io::Write as _;
use std::net::IpAddr;

use super::intern::Interner;
use super::record::{
    Action, Field, FlowDirection, FlowRecord, IpType, LogStatus, TextField, DEFAULT_V2_FIELDS,
};

/// Every field flowvigil knows with its header name, in AWS's documented order (v2 .. v8, then
/// `resource-id` and `encryption-status`).
pub const ALL_FIELDS: [(Field, &str); 42] = [
    (Field::Version, "version"),
    (Field::AccountId, "account-id"),
    (Field::InterfaceId, "interface-id"),
    (Field::SrcAddr, "srcaddr"),
    (Field::DstAddr, "dstaddr"),
    (Field::SrcPort, "srcport"),
    (Field::DstPort, "dstport"),
    (Field::Protocol, "protocol"),
    (Field::Packets, "packets"),
    (Field::Bytes, "bytes"),
    (Field::Start, "start"),
    (Field::End, "end"),
    (Field::Action, "action"),
    (Field::LogStatus, "log-status"),
    (Field::Text(TextField::VpcId), "vpc-id"),
    (Field::Text(TextField::SubnetId), "subnet-id"),
    (Field::Text(TextField::InstanceId), "instance-id"),
    (Field::TcpFlags, "tcp-flags"),
    (Field::Type, "type"),
    (Field::PktSrcAddr, "pkt-srcaddr"),
    (Field::PktDstAddr, "pkt-dstaddr"),
    (Field::Text(TextField::Region), "region"),
    (Field::Text(TextField::AzId), "az-id"),
    (Field::Text(TextField::SublocationType), "sublocation-type"),
    (Field::Text(TextField::SublocationId), "sublocation-id"),
    (
        Field::Text(TextField::PktSrcAwsService),
        "pkt-src-aws-service",
    ),
    (
        Field::Text(TextField::PktDstAwsService),
        "pkt-dst-aws-service",
    ),
    (Field::FlowDirection, "flow-direction"),
    (Field::TrafficPath, "traffic-path"),
    (Field::Text(TextField::EcsClusterArn), "ecs-cluster-arn"),
    (Field::Text(TextField::EcsClusterName), "ecs-cluster-name"),
    (
        Field::Text(TextField::EcsContainerInstanceArn),
        "ecs-container-instance-arn",
    ),
    (
        Field::Text(TextField::EcsContainerInstanceId),
        "ecs-container-instance-id",
    ),
    (Field::Text(TextField::EcsContainerId), "ecs-container-id"),
    (
        Field::Text(TextField::EcsSecondContainerId),
        "ecs-second-container-id",
    ),
    (Field::Text(TextField::EcsServiceName), "ecs-service-name"),
    (
        Field::Text(TextField::EcsTaskDefinitionArn),
        "ecs-task-definition-arn",
    ),
    (Field::Text(TextField::EcsTaskArn), "ecs-task-arn"),
    (Field::Text(TextField::EcsTaskId), "ecs-task-id"),
    (Field::Text(TextField::RejectReason), "reject-reason"),
    (Field::Text(TextField::ResourceId), "resource-id"),
    (Field::EncryptionStatus, "encryption-status"),
];

/// The fields of AWS's version 5 format in its documented order: the 14 default fields
/// ([`DEFAULT_V2_FIELDS`]), then v3 (`vpc-id` .. `pkt-dstaddr`), v4 (`region` ..
/// `sublocation-id`) and v5 (`pkt-src-aws-service` .. `traffic-path`).
pub const V5_FIELDS: [Field; 29] = concat_fields(&DEFAULT_V2_FIELDS, &V3_TO_V5_FIELDS);

/// The fields versions 3, 4 and 5 append to the default ones, in AWS's documented order.
const V3_TO_V5_FIELDS: [Field; 15] = [
    Field::Text(TextField::VpcId),
    Field::Text(TextField::SubnetId),
    Field::Text(TextField::InstanceId),
    Field::TcpFlags,
    Field::Type,
    Field::PktSrcAddr,
    Field::PktDstAddr,
    Field::Text(TextField::Region),
    Field::Text(TextField::AzId),
    Field::Text(TextField::SublocationType),
    Field::Text(TextField::SublocationId),
    Field::Text(TextField::PktSrcAwsService),
    Field::Text(TextField::PktDstAwsService),
    Field::FlowDirection,
    Field::TrafficPath,
];

/// `a` followed by `b` as one array, built at compile time so a format is spelled out once; a
/// wrong length `N` fails the build (the assertion runs during const evaluation).
const fn concat_fields<const N: usize>(a: &[Field], b: &[Field]) -> [Field; N] {
    assert!(a.len() + b.len() == N, "concat_fields: wrong output length");
    let mut out = [Field::Version; N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < b.len() {
        out[a.len() + j] = b[j];
        j += 1;
    }
    out
}

/// The header name of `f` (`interface-id`, `pkt-srcaddr`, ...).
pub fn field_name(f: Field) -> &'static str {
    // A linear scan over 42 entries: called per header, never per record.
    ALL_FIELDS
        .iter()
        .find(|(g, _)| *g == f)
        .map_or("?", |(_, name)| name)
}

/// The field a header name stands for; `None` for a name flowvigil does not know.
///
/// Names are matched exactly (AWS writes them in lower case). `${srcaddr}`-style names, as in a
/// flow log's format definition, are accepted too.
pub fn parse_field_name(name: &str) -> Option<Field> {
    let name = name
        .strip_prefix("${")
        .and_then(|n| n.strip_suffix('}'))
        .unwrap_or(name);
    ALL_FIELDS.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
}

/// Appends the header line for `fields`: their names separated by spaces, then `\n`.
pub fn write_header(fields: &[Field], out: &mut Vec<u8>) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(field_name(*f).as_bytes());
    }
    out.push(b'\n');
}

/// Appends one record as a line in the order of `fields`, then `\n`; absent values are `-`.
///
/// `interner` turns the record's ENI id back into its name (an id it never gave is written `?`).
pub fn write_record(rec: &FlowRecord, fields: &[Field], interner: &Interner, out: &mut Vec<u8>) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_field(rec, *f, interner, out);
    }
    out.push(b'\n');
}

fn write_field(rec: &FlowRecord, f: Field, interner: &Interner, out: &mut Vec<u8>) {
    match f {
        Field::Version => opt_u64(rec.version.map(u64::from), out),
        Field::AccountId => match rec.account_id {
            // Writing into a Vec cannot fail.
            Some(a) => {
                let _ = write!(out, "{a:012}");
            }
            None => out.push(b'-'),
        },
        Field::InterfaceId => match rec.eni {
            Some(id) => text(interner.name(id).as_bytes(), out),
            None => out.push(b'-'),
        },
        Field::SrcAddr => opt_ip(rec.srcaddr, out),
        Field::DstAddr => opt_ip(rec.dstaddr, out),
        Field::SrcPort => opt_u64(rec.srcport.map(u64::from), out),
        Field::DstPort => opt_u64(rec.dstport.map(u64::from), out),
        Field::Protocol => opt_u64(rec.protocol.map(u64::from), out),
        Field::Packets => opt_u64(rec.packets, out),
        Field::Bytes => opt_u64(rec.bytes, out),
        Field::Start => opt_u64(rec.start, out),
        Field::End => opt_u64(rec.end, out),
        Field::Action => out.extend_from_slice(match rec.action {
            Some(Action::Accept) => b"ACCEPT",
            Some(Action::Reject) => b"REJECT",
            None => b"-",
        }),
        Field::LogStatus => out.extend_from_slice(match rec.log_status {
            Some(LogStatus::Ok) => b"OK",
            Some(LogStatus::NoData) => b"NODATA",
            Some(LogStatus::SkipData) => b"SKIPDATA",
            None => b"-",
        }),
        Field::TcpFlags => opt_u64(rec.tcp_flags.map(|t| u64::from(t.0)), out),
        Field::Type => out.extend_from_slice(match rec.ip_type {
            Some(IpType::Ipv4) => b"IPv4",
            Some(IpType::Ipv6) => b"IPv6",
            Some(IpType::Efa) => b"EFA",
            None => b"-",
        }),
        Field::PktSrcAddr => opt_ip(rec.pkt_srcaddr, out),
        Field::PktDstAddr => opt_ip(rec.pkt_dstaddr, out),
        Field::FlowDirection => out.extend_from_slice(match rec.flow_direction {
            Some(FlowDirection::Ingress) => b"ingress",
            Some(FlowDirection::Egress) => b"egress",
            None => b"-",
        }),
        Field::TrafficPath => opt_u64(rec.traffic_path.map(u64::from), out),
        Field::EncryptionStatus => opt_u64(rec.encryption_status.map(u64::from), out),
        Field::Text(t) => match rec.text.get_bytes(t) {
            Some(v) => text(v, out),
            None => out.push(b'-'),
        },
    }
}

/// Writes a free-text value so that it stays one field (see the module docs): `-` when empty,
/// and space, tab, CR and LF replaced by `_`. The generator's fast writer (`gen::text`) calls
/// this too, so both writers escape alike.
pub(crate) fn text(v: &[u8], out: &mut Vec<u8>) {
    if v.is_empty() {
        out.push(b'-');
        return;
    }
    // A fold without early exit: the compiler turns it into a vectorised scan, and the usual
    // value (nothing to escape) is then copied whole.
    let dirty = v
        .iter()
        .fold(false, |d, &b| d | matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    if dirty {
        out.extend(v.iter().map(|&b| match b {
            b' ' | b'\t' | b'\r' | b'\n' => b'_',
            _ => b,
        }));
    } else {
        out.extend_from_slice(v);
    }
}

fn opt_u64(v: Option<u64>, out: &mut Vec<u8>) {
    match v {
        Some(v) => push_u64(v, out),
        None => out.push(b'-'),
    }
}

/// The two ASCII digits of each number 0-99 (`"00"`, `"01"`, ... `"99"`), for writing numbers
/// two digits per division.
pub const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Decimal digits without going through `fmt` (the generator writes millions of lines), two
/// per division.
pub(crate) fn push_u64(mut v: u64, out: &mut Vec<u8>) {
    if v < 10 {
        out.push(b'0' + v as u8);
        return;
    }
    // u64::MAX has 20 digits; every index below stays inside `buf` and `DIGIT_PAIRS` by
    // construction (i only decreases while digits remain, d < 200), never from input.
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i] = DIGIT_PAIRS[d];
        buf[i + 1] = DIGIT_PAIRS[d + 1];
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        buf[i] = DIGIT_PAIRS[d];
        buf[i + 1] = DIGIT_PAIRS[d + 1];
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

fn opt_ip(v: Option<IpAddr>, out: &mut Vec<u8>) {
    match v {
        Some(IpAddr::V4(a)) => {
            for (i, o) in a.octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_u64(u64::from(*o), out);
            }
        }
        // IPv6 is rare in flow logs; std's formatting gives the canonical compressed form.
        Some(IpAddr::V6(a)) => {
            let _ = write!(out, "{a}");
        }
        None => out.push(b'-'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlog::record::{TcpFlags, DEFAULT_V2_FIELDS};

    #[test]
    fn v5_fields_follow_the_documented_order() {
        // ALL_FIELDS lists AWS's order independently; v5 is its first 29 entries, and starts
        // with the default format.
        let documented: Vec<Field> = ALL_FIELDS.iter().take(29).map(|(f, _)| *f).collect();
        assert_eq!(V5_FIELDS.as_slice(), documented.as_slice());
        assert_eq!(V5_FIELDS[..14], DEFAULT_V2_FIELDS);
        assert_eq!(V5_FIELDS.last(), Some(&Field::TrafficPath));
    }

    #[test]
    fn text_escapes_only_separators() {
        let mut out = Vec::new();
        text(b"", &mut out);
        out.push(b'|');
        text(b"plain-value", &mut out);
        out.push(b'|');
        text(b"a b\tc\rd\ne", &mut out);
        assert_eq!(out, b"-|plain-value|a_b_c_d_e".to_vec());
    }

    #[test]
    fn every_field_has_one_distinct_name() {
        for (i, (f, name)) in ALL_FIELDS.iter().enumerate() {
            assert_eq!(parse_field_name(name), Some(*f));
            assert_eq!(field_name(*f), *name);
            for (g, other) in &ALL_FIELDS[i + 1..] {
                assert_ne!(f, g);
                assert_ne!(name, other);
            }
        }
        assert_eq!(parse_field_name("${tcp-flags}"), Some(Field::TcpFlags));
        assert_eq!(parse_field_name("tgw-id"), None);
    }

    #[test]
    fn writes_aws_textual_forms() {
        let mut interner = Interner::new();
        let mut rec = FlowRecord {
            version: Some(2),
            account_id: Some(12_345_678_901),
            eni: Some(interner.intern(b"eni-1235b8ca123456789")),
            srcaddr: Some("172.31.16.139".parse().unwrap()),
            dstaddr: Some("172.31.16.21".parse().unwrap()),
            srcport: Some(20641),
            dstport: Some(22),
            protocol: Some(6),
            packets: Some(20),
            bytes: Some(4249),
            start: Some(1418530010),
            end: Some(1418530070),
            action: Some(Action::Accept),
            log_status: Some(LogStatus::Ok),
            ..FlowRecord::default()
        };
        let mut out = Vec::new();
        write_header(&DEFAULT_V2_FIELDS, &mut out);
        write_record(&rec, &DEFAULT_V2_FIELDS, &interner, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets \
             bytes start end action log-status\n\
             2 012345678901 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 \
             1418530010 1418530070 ACCEPT OK\n"
        );

        rec.clear();
        rec.log_status = Some(LogStatus::SkipData);
        rec.flow_direction = Some(FlowDirection::Ingress);
        rec.ip_type = Some(IpType::Ipv6);
        rec.tcp_flags = Some(TcpFlags(18));
        rec.text.set(TextField::VpcId, b"vpc a");
        rec.text.set(TextField::SubnetId, b"");
        let fields = [
            Field::AccountId,
            Field::LogStatus,
            Field::FlowDirection,
            Field::Type,
            Field::TcpFlags,
            Field::Text(TextField::VpcId),
            Field::Text(TextField::SubnetId),
            Field::Text(TextField::InstanceId),
        ];
        let mut out = Vec::new();
        write_record(&rec, &fields, &interner, &mut out);
        assert_eq!(out, b"- SKIPDATA ingress IPv6 18 vpc_a - -\n");
    }
}
