//! The straight-line parser of the default v2 layout, the format of almost every flow log.
//!
//! [`parse_v2`] handles a v2 line in its usual shape — fourteen fields separated by single
//! spaces, no leading or trailing separator, no integer longer than 16 digits — field after
//! field, each at a known place in the code: no per-column dispatch, no error values built, and
//! integers and IPv4 addresses valued in the same word-at-a-time pass that finds their end.
//!
//! It never reports an error: whenever the line is not in that shape or any value would not
//! parse, it returns `false` and [`parse_line`](super::parse_line) runs the general per-column
//! parser, which gives the record or the exact error. On success the record is exactly the one
//! the general parser would give (a property test checks this on valid and corrupted lines), so
//! the fast path changes speed only.
//!
//! Interning is the one side effect. The fast path interns the interface id only after the two
//! fields before it parsed, and with the same checks, so when it gives up after interning, the
//! general parser would have interned the same name at the same point.

use std::net::{IpAddr, Ipv4Addr};

use super::intern::Interner;
use super::parse::{addr, load8, HIGHS, MAX_ENI_LEN, ONES};
use super::record::{Action, EniId, FlowRecord, LogStatus};

/// `10^n` for the second word of a 9..=15 digit integer.
const POW10: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// A word's low bytes, little-endian: what `load8` returns for a value followed by those bytes.
const fn word(bytes: &[u8]) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    while i < bytes.len() {
        w |= (bytes[i] as u64) << (8 * i);
        i += 1;
    }
    w
}

/// `-` and its separator.
const DASH: u64 = word(b"- ");
const ACCEPT: u64 = word(b"ACCEPT ");
const REJECT: u64 = word(b"REJECT ");
const UNKNOWN: u64 = word(b"unknown ");
const LOW7: u64 = 0x00ff_ffff_ffff_ffff;

/// Parses a default-v2 line in its usual shape into `rec`; `false` (with `rec` in any state)
/// when the general parser must decide. See the module docs.
#[inline(never)]
pub(super) fn parse_v2(
    line: &[u8],
    interner: &mut Interner,
    max_enis: usize,
    rec: &mut FlowRecord,
) -> bool {
    parse(line, interner, max_enis, rec).is_some()
}

#[inline(always)]
fn parse(
    line: &[u8],
    interner: &mut Interner,
    max_enis: usize,
    rec: &mut FlowRecord,
) -> Option<()> {
    const U8: u64 = u8::MAX as u64;
    const U16: u64 = u16::MAX as u64;
    let mut p = 0usize;
    let version = int_field(line, &mut p, U8)?;
    let account_id = account_field(line, &mut p)?;
    let eni = eni_field(line, &mut p, interner, max_enis)?;
    let srcaddr = addr_field(line, &mut p)?;
    let dstaddr = addr_field(line, &mut p)?;
    let srcport = int_field(line, &mut p, U16)?;
    let dstport = int_field(line, &mut p, U16)?;
    let protocol = int_field(line, &mut p, U8)?;
    let packets = int_field(line, &mut p, u64::MAX)?;
    let bytes = int_field(line, &mut p, u64::MAX)?;
    let start = int_field(line, &mut p, u64::MAX)?;
    let end = int_field(line, &mut p, u64::MAX)?;
    let action = action_field(line, &mut p)?;
    let log_status = status_field(line.get(p..)?)?;

    // Every field written once; the exhaustive destructuring makes a new field a compile error
    // here until it is set too.
    let FlowRecord {
        version: r_version,
        account_id: r_account_id,
        eni: r_eni,
        srcaddr: r_srcaddr,
        dstaddr: r_dstaddr,
        srcport: r_srcport,
        dstport: r_dstport,
        protocol: r_protocol,
        packets: r_packets,
        bytes: r_bytes,
        start: r_start,
        end: r_end,
        action: r_action,
        log_status: r_log_status,
        tcp_flags,
        ip_type,
        pkt_srcaddr,
        pkt_dstaddr,
        flow_direction,
        traffic_path,
        encryption_status,
        text,
    } = rec;
    *r_version = version.map(|x| x as u8);
    *r_account_id = account_id;
    *r_eni = eni;
    *r_srcaddr = srcaddr;
    *r_dstaddr = dstaddr;
    *r_srcport = srcport.map(|x| x as u16);
    *r_dstport = dstport.map(|x| x as u16);
    *r_protocol = protocol.map(|x| x as u8);
    *r_packets = packets;
    *r_bytes = bytes;
    *r_start = start;
    *r_end = end;
    *r_action = action;
    *r_log_status = log_status;
    *tcp_flags = None;
    *ip_type = None;
    *pkt_srcaddr = None;
    *pkt_dstaddr = None;
    *flow_direction = None;
    *traffic_path = None;
    *encryption_status = None;
    text.clear();
    Some(())
}

/// The value of eight digit values (0..=9), one per byte of `v`, the first digit lowest; zero
/// bytes below the digits act as leading zeros. Three multiplications combine pairs, quads
/// and octets.
#[inline(always)]
fn swar8(v: u64) -> u64 {
    let v = (v.wrapping_mul(10 * 256 + 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    let v = (v.wrapping_mul(100 * 65_536 + 1) >> 16) & 0x0000_ffff_0000_ffff;
    v.wrapping_mul(10_000 * (1 << 32) + 1) >> 32
}

/// `w - '0'` per byte, and the high bit of each byte of `w` that is not an ASCII digit. The
/// digit bytes below the first non-digit are exact in both (borrows and carries only travel
/// upwards, from a non-digit).
#[inline(always)]
fn classify(w: u64) -> (u64, u64) {
    let t = w.wrapping_sub(0x30 * ONES);
    (t, (t | w.wrapping_add(0x46 * ONES)) & HIGHS)
}

/// The digit run at `line[start..]` when it has 1..=15 digits: its value, its length and the
/// byte after it (0 past the end of the line). `None` without a digit, or past 15 digits (the
/// general parser's checked path decides those).
#[inline(always)]
fn digits(line: &[u8], start: usize) -> Option<(u64, usize, u8)> {
    let w = load8(line, start);
    let (t, nd) = classify(w);
    if nd & 0x80 != 0 {
        return None;
    }
    if nd != 0 {
        // `tz` is 8n + 7 for n = 1..=7 digits: shift them to the top, the rest out.
        let tz = nd.trailing_zeros();
        return Some((
            swar8(t << (71 - tz)),
            (tz / 8) as usize,
            (w >> (tz - 7)) as u8,
        ));
    }
    let hi = swar8(t);
    let w2 = load8(line, start + 8);
    let (t2, nd2) = classify(w2);
    if nd2 & 0x80 != 0 {
        return Some((hi, 8, w2 as u8));
    }
    if nd2 == 0 {
        return None;
    }
    let tz = nd2.trailing_zeros();
    let n2 = (tz / 8) as usize;
    Some((
        hi * POW10[n2 & 7] + swar8(t2 << (71 - tz)),
        8 + n2,
        (w2 >> (tz - 7)) as u8,
    ))
}

/// An integer field (at most `max`) or `-`, followed by a space.
#[inline(always)]
fn int_field(line: &[u8], p: &mut usize, max: u64) -> Option<Option<u64>> {
    let start = *p;
    match digits(line, start) {
        Some((x, n, next)) => {
            if x > max || next != b' ' {
                return None;
            }
            *p = start + n + 1;
            Some(Some(x))
        }
        None => {
            if load8(line, start) & 0xffff != DASH {
                return None;
            }
            *p = start + 2;
            Some(None)
        }
    }
}

/// A dotted-quad IPv4 address followed by a space at `line[start..]`: the address and the
/// length including the space. The same values as `parse::ipv4_prefix` (1..=3 digits per octet,
/// leading zeros allowed, each at most 255), with one branch for the whole address.
#[inline(always)]
fn ipv4(line: &[u8], start: usize) -> Option<(u32, usize)> {
    let mut i = start;
    let mut a = 0u32;
    let mut bad = false;
    for k in 0..4 {
        let w = load8(line, i);
        let (t, nd) = classify(w);
        // 8n + 7 for n digits (64 when all eight are digits).
        let tz = nd.trailing_zeros();
        let n = tz / 8;
        bad |= n.wrapping_sub(1) > 2;
        let sep = (w >> (tz.wrapping_sub(7) & 63)) as u8;
        bad |= sep != if k == 3 { b' ' } else { b'.' };
        // The (at most three) digits at the top of the word, then in the three low bytes
        // with missing leading digits as zeros; meaningless when `bad`.
        let x = (t << (71u32.wrapping_sub(tz) & 63)) >> 40;
        let v = (x & 0xff) * 100 + ((x >> 8) & 0xff) * 10 + (x >> 16);
        bad |= v > 255;
        a = (a << 8) | (v as u32 & 0xff);
        i += n as usize + 1;
    }
    if bad {
        return None;
    }
    Some((a, i - start))
}

/// `account-id`: digits, `unknown` or `-`, followed by a space.
#[inline(always)]
fn account_field(line: &[u8], p: &mut usize) -> Option<Option<u64>> {
    let start = *p;
    if let Some((x, n, next)) = digits(line, start) {
        if next != b' ' {
            return None;
        }
        *p = start + n + 1;
        return Some(Some(x));
    }
    let w = load8(line, start);
    if w == UNKNOWN {
        *p = start + 8;
        return Some(None);
    }
    if w & 0xffff == DASH {
        *p = start + 2;
        return Some(None);
    }
    None
}

/// Flags (high bit of each byte) the bytes of `w` that are at most 0x20: space, tab, controls.
#[inline(always)]
fn low_bytes(w: u64) -> u64 {
    !(((w & (0x7f * ONES)) + (0x5f * ONES)) | w) & HIGHS
}

/// The first byte at or after `q` that is at most 0x20, or the end of the line.
#[inline(always)]
fn token_end(line: &[u8], mut q: usize) -> usize {
    loop {
        // Past the end `load8` pads with zeros, which are flagged: the loop stops at the end.
        let m = low_bytes(load8(line, q));
        if m != 0 {
            return (q + (m.trailing_zeros() / 8) as usize).min(line.len());
        }
        q += 8;
    }
}

/// A token followed by a space (not by a tab, a control byte or the end of the line).
#[inline(always)]
fn token<'a>(line: &'a [u8], p: &mut usize) -> Option<&'a [u8]> {
    let start = *p;
    let end = token_end(line, start);
    if line.get(end) != Some(&b' ') {
        return None;
    }
    *p = end + 1;
    line.get(start..end)
}

/// `interface-id`, interned exactly as the general parser would.
#[inline(always)]
fn eni_field(
    line: &[u8],
    p: &mut usize,
    interner: &mut Interner,
    max_enis: usize,
) -> Option<Option<EniId>> {
    let name = token(line, p)?;
    if name.is_empty() {
        return None;
    }
    if name == b"-" {
        return Some(None);
    }
    if let Some(id) = interner.get(name) {
        return Some(Some(id));
    }
    if name.len() > MAX_ENI_LEN
        || !name.iter().all(u8::is_ascii_graphic)
        || interner.len() >= max_enis
    {
        return None;
    }
    Some(Some(interner.intern(name)))
}

/// An address (IPv4 in one pass, else through the general parser's `addr`) or `-`.
#[inline(always)]
fn addr_field(line: &[u8], p: &mut usize) -> Option<Option<IpAddr>> {
    if let Some((a, len)) = ipv4(line, *p) {
        *p += len;
        return Some(Some(IpAddr::V4(Ipv4Addr::from(a))));
    }
    let v = token(line, p)?;
    if v == b"-" {
        return Some(None);
    }
    addr(v).ok().map(Some)
}

/// `action` or `-`, followed by a space.
#[inline(always)]
fn action_field(line: &[u8], p: &mut usize) -> Option<Option<Action>> {
    let w = load8(line, *p);
    let (action, len) = match w & LOW7 {
        ACCEPT => (Some(Action::Accept), 7),
        REJECT => (Some(Action::Reject), 7),
        _ if w & 0xffff == DASH => (None, 2),
        _ => return None,
    };
    *p += len;
    Some(action)
}

/// `log-status` or `-`: the rest of the line.
#[inline(always)]
fn status_field(rest: &[u8]) -> Option<Option<LogStatus>> {
    match rest {
        b"OK" => Some(Some(LogStatus::Ok)),
        b"NODATA" => Some(Some(LogStatus::NoData)),
        b"SKIPDATA" => Some(Some(LogStatus::SkipData)),
        b"-" => Some(None),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlog::parse::{parse_line, parse_line_general, Format, ParseError};
    use crate::flowlog::record::{FlowDirection, TcpFlags, TextField};
    use proptest::prelude::*;

    /// A record holding values in every field, so that a parse that forgets one shows.
    fn dirty_record() -> FlowRecord {
        let mut r = FlowRecord {
            version: Some(9),
            account_id: Some(1),
            eni: Some(77),
            srcaddr: Some("::1".parse().unwrap()),
            dstaddr: Some("::2".parse().unwrap()),
            srcport: Some(1),
            dstport: Some(2),
            protocol: Some(3),
            packets: Some(4),
            bytes: Some(5),
            start: Some(6),
            end: Some(7),
            action: Some(Action::Reject),
            log_status: Some(LogStatus::SkipData),
            tcp_flags: Some(TcpFlags(2)),
            ip_type: Some(crate::flowlog::IpType::Efa),
            pkt_srcaddr: Some("1.1.1.1".parse().unwrap()),
            pkt_dstaddr: Some("2.2.2.2".parse().unwrap()),
            flow_direction: Some(FlowDirection::Egress),
            traffic_path: Some(8),
            encryption_status: Some(1),
            ..FlowRecord::default()
        };
        r.text.set(TextField::VpcId, b"vpc-1");
        r
    }

    const KNOWN: [&str; 3] = ["eni-0123456789abcdef0", "eni-1235b8ca123456789", "eni-a"];

    /// The fast path (through `parse_line`) and the general parser alone, from the same state.
    fn both(line: &[u8], max_enis: usize) -> (Result<(), ParseError>, FlowRecord, Interner) {
        let mut i_fast = Interner::new();
        let mut i_gen = Interner::new();
        for n in KNOWN {
            i_fast.intern(n.as_bytes());
            i_gen.intern(n.as_bytes());
        }
        let mut r_fast = dirty_record();
        let mut r_gen = dirty_record();
        let v2 = Format::v2();
        let a = parse_line(line, 7, &v2, &mut i_fast, max_enis, &mut r_fast);
        let b = parse_line_general(line, 7, &v2, &mut i_gen, max_enis, &mut r_gen);
        assert_eq!(a, b, "{:?}", String::from_utf8_lossy(line));
        if a.is_ok() {
            assert_eq!(r_fast, r_gen, "{:?}", String::from_utf8_lossy(line));
        }
        assert_eq!(
            i_fast.names(),
            i_gen.names(),
            "{:?}",
            String::from_utf8_lossy(line)
        );
        (a, r_fast, i_fast)
    }

    #[test]
    fn usual_lines_take_the_fast_path() {
        for line in [
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 \
             4249 1418530010 1418530070 ACCEPT OK",
            "2 123456789010 eni-new 10.0.0.1 255.255.255.255 0 65535 255 18446744 \
             123456789012345 1 2 REJECT OK",
            "2 unknown eni-a - - - - - - - 1418530010 1418530070 - NODATA",
            "2 - - 2001:db8::1 ::ffff:1.2.3.4 1 2 17 1 1 3 4 ACCEPT SKIPDATA",
            "255 000000000001 eni-a 010.001.0.00 1.2.3.4 00080 1 0 0 0 0 0 - -",
        ] {
            let mut interner = Interner::new();
            let mut rec = dirty_record();
            assert!(
                parse_v2(line.as_bytes(), &mut interner, 10, &mut rec),
                "{line}"
            );
            both(line.as_bytes(), 10).0.unwrap();
        }
    }

    #[test]
    fn unusual_lines_fall_back_with_the_same_outcome() {
        for line in [
            "2\t123456789010 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK",
            "  2 123456789010 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK  ",
            "2 123456789010 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK extra",
            "2 123456789010 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT",
            "2 123456789010 eni-a 1.2.3.4 5.6.7.8 1 abc 6 1 1 1 2 ACCEPT OK",
            "2 123456789010 eni-b 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK",
            "2 123456789010 eni-b 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT XX",
            "2 1234567890123456789 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 18446744073709551615 1 2 \
             ACCEPT OK",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 18446744073709551616 1 2 ACCEPT OK",
            "2 1 eni-\u{1} 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK",
            "2 1 eni-a 1.2.3.4\t5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK",
            "2 1 eni-a 256.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK",
            "2 1 eni-a 1.2.3.4.5 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK\r",
            "",
            "2",
        ] {
            // max_enis 3: `eni-b` is over the limit (three names are known).
            let _ = both(line.as_bytes(), 3);
        }
    }

    fn octet() -> impl Strategy<Value = String> {
        prop_oneof![
            30 => (0u32..256).prop_map(|o| o.to_string()),
            8 => (0u32..256).prop_map(|o| format!("{o:03}")),
            1 => word_of(&["256", "999", "0000", "", "1a"]),
        ]
    }

    fn address() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (octet(), octet(), octet(), octet())
                .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
            1 => Just("-".to_string()),
            1 => word_of(&["2001:db8::1", "::ffff:10.0.0.1", "::"]),
        ]
    }

    fn int_below(max: u64) -> impl Strategy<Value = String> {
        prop_oneof![
            20 => (0u32..20, any::<u64>())
                .prop_map(move |(k, x)| (x % 10u64.pow(k).min(max).max(1)).to_string()),
            4 => (0..=max.min(999)).prop_map(|x| format!("{x:05}")),
            4 => Just("-".to_string()),
            2 => Just(max.to_string()),
            1 => Just((u128::from(max) + 1).to_string()),
        ]
    }

    fn eni() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(KNOWN.to_vec()).prop_map(str::to_string),
            2 => "eni-[0-9a-f]{17}",
            1 => "[!-~]{1,70}",
            1 => Just("-".to_string()),
        ]
    }

    fn word_of(choices: &'static [&'static str]) -> impl Strategy<Value = String> {
        proptest::sample::select(choices).prop_map(str::to_string)
    }

    /// Values at and past the edges of what each field accepts.
    const TRICKY: &[&str] = &[
        "256",
        "65536",
        "65535",
        "255",
        "999",
        "1.2.3.256",
        "256.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "0000.1.1.1",
        "1..2.3",
        "1.2.3.4x",
        "18446744073709551615",
        "18446744073709551616",
        "1000000000000000",
        "999999999999999",
        "99999999999999999999",
        "00000000000000001",
        "eni-\u{1}",
        "unknown",
        "unknow",
        "ACCEPTED",
        "ACCEPT",
        "REJECT",
        "OK",
        "NODATA",
        "SKIPDATA",
        "OKAY",
        "-",
        "--",
        "",
        "1x",
        "x",
        "2001:db8::1",
        "::",
        "12345678",
        "123456789",
    ];

    prop_compose! {
        fn v2_line()(
            version in int_below(255),
            account in prop_oneof![
                Just("123456789012".to_string()),
                Just("unknown".to_string()),
                int_below(u64::MAX)
            ],
            eni in eni(),
            src in address(),
            dst in address(),
            ports in proptest::collection::vec(int_below(65535), 2),
            protocol in int_below(255),
            counts in proptest::collection::vec(int_below(u64::MAX), 4),
            action in word_of(&["ACCEPT", "REJECT", "-"]),
            status in word_of(&["OK", "NODATA", "SKIPDATA", "-"]),
        ) -> Vec<String> {
            let mut f = vec![version, account, eni, src, dst];
            f.extend(ports);
            f.push(protocol);
            f.extend(counts);
            f.push(action);
            f.push(status);
            f
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn fast_path_equals_general_parser(
            fields in v2_line(),
            tricky in proptest::option::weighted(
                0.3, (0usize..14, proptest::sample::select(TRICKY))),
            seps in proptest::option::weighted(0.1, proptest::collection::vec(
                prop_oneof![10 => Just(" "), 1 => Just("  "), 1 => Just("\t")], 15)),
            drop in proptest::option::weighted(0.03, 0usize..14),
            edits in proptest::option::weighted(0.1, proptest::collection::vec(
                (any::<proptest::sample::Index>(),
                 proptest::sample::select(&b" \t-.09aA\x00\xff\r"[..])),
                1..3)),
            max_enis in prop_oneof![Just(3usize), Just(1000)],
        ) {
            let mut fields = fields;
            if let Some((i, t)) = tricky {
                fields[i] = t.to_string();
            }
            if let Some(i) = drop {
                fields.remove(i);
            }
            let seps = seps.unwrap_or_else(|| vec![" "; 15]);
            let mut line = Vec::new();
            if seps[14] != " " {
                line.extend_from_slice(seps[14].as_bytes());
            }
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    line.extend_from_slice(seps[i].as_bytes());
                }
                line.extend_from_slice(f.as_bytes());
            }
            for (at, b) in edits.iter().flatten() {
                if !line.is_empty() {
                    let i = at.index(line.len());
                    line[i] = *b;
                }
            }
            let _ = both(&line, max_enis);
        }
    }
}
