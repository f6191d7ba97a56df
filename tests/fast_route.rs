//! The reader's fast route for default-v2 lines (`flowlog::fast`) against the general
//! per-column parser, through the public API: a file of random and edge-case lines read by a
//! `LogReader` gives the records, in order, and the bad-line count that `parse_line` gives line
//! by line under a format that is not the default v2 one (the v2 columns and one opaque column
//! more, so every line takes the general parser). Two line generators:
//!
//! - `shapes`: fields of every shape the fast route classifies (the IPv4 shape table, the
//!   cached line head, the interner): integers of 1..=20 digits, leading zeros, values at and
//!   past `u64::MAX`, dotted quads with octets past 255 and near misses, tabs, CR.
//! - `ends`: lines aimed at the fields after `protocol`: `packets` and `bytes` of every length
//!   and `-`, doubled spaces, tabs and carriage returns around the last six fields, times of
//!   other lengths, `NODATA`/`SKIPDATA`, short and long lines, and inputs that end right after
//!   the generated lines, with or without a final newline (the last lines near the buffer's
//!   end). Written for a newline-first variant of the parse (session 6, measured slower and
//!   dropped); it guards the same route.

use std::io::Cursor;

use flowvigil::flowlog::{parse_line, FlowRecord, Format, Interner, LogReader, ReadOptions};
use proptest::prelude::*;

/// Generators of the `shapes` test.
mod shapes {
    use proptest::prelude::*;

    /// Integers of 1..=20 digits, with leading zeros, at and past `u64::MAX`, and `-`.
    fn int() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (1usize..=20, any::<u64>()).prop_map(|(n, x)| {
                let s = x.to_string();
                s[s.len().saturating_sub(n)..].to_string()
            }),
            4 => (0u64..100_000).prop_map(|x| x.to_string()),
            2 => (1usize..=20, 0u64..1000).prop_map(|(n, x)| format!("{x:0n$}")),
            1 => proptest::sample::select(&[
                "-", "18446744073709551615", "18446744073709551616", "99999999999999999999",
                "65535", "65536", "255", "256", "0", "00",
            ][..]).prop_map(str::to_string),
        ]
    }

    /// Dotted quads (octets of 1..=4 digits, some past 255), other addresses and near misses.
    fn addr() -> impl Strategy<Value = String> {
        let octet = prop_oneof![
            6 => (0u32..256).prop_map(|o| o.to_string()),
            2 => (0u32..256).prop_map(|o| format!("{o:03}")),
            1 => proptest::sample::select(&["256", "999", "0000", "", "1a", "-1"][..])
                .prop_map(str::to_string),
        ];
        prop_oneof![
            10 => proptest::collection::vec(octet, 4).prop_map(|o| o.join(".")),
            1 => proptest::collection::vec((0u32..256).prop_map(|o| o.to_string()), 3..=5)
                .prop_map(|o| o.join(".")),
            1 => proptest::sample::select(&[
                "-", "2001:db8::1", "::ffff:10.0.0.1", "1.2.3.4.", ".1.2.3", "1..2.3",
                "255.255.255.255", "0.0.0.0",
            ][..]).prop_map(str::to_string),
        ]
    }

    fn eni() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(&[
                "eni-0123456789abcdef0", "eni-1235b8ca123456789", "eni-a", "-",
            ][..]).prop_map(str::to_string),
            2 => "eni-[0-9a-f]{17}",
            1 => "[!-~]{1,30}",
        ]
    }

    prop_compose! {
        pub fn line()(
            version in prop_oneof![
                8 => Just("2".to_string()), 1 => Just("3".to_string()), 1 => int()
            ],
            account in prop_oneof![
                6 => Just("123456789012".to_string()),
                1 => Just("unknown".to_string()),
                2 => int(),
            ],
            eni in eni(),
            src in addr(),
            dst in addr(),
            ints in proptest::collection::vec(int(), 5),
            times in prop_oneof![
                2 => (1_000_000_000u64..10_000_000_000, 0u64..400)
                    .prop_map(|(s, d)| vec![s.to_string(), (s + d).to_string()]),
                1 => proptest::collection::vec(int(), 2),
            ],
            action in proptest::sample::select(&["ACCEPT", "REJECT", "-", "ACCEPTED"][..]),
            status in proptest::sample::select(&["OK", "NODATA", "SKIPDATA", "-", "OKAY"][..]),
            drop in proptest::option::weighted(0.05, 0usize..14),
            tab in proptest::option::weighted(0.05, 0usize..13),
            cr in proptest::bool::weighted(0.1),
        ) -> String {
            let mut f = vec![version, account, eni, src, dst];
            f.extend(ints);
            f.extend(times);
            f.push(action.to_string());
            f.push(status.to_string());
            if let Some(i) = drop {
                f.remove(i);
            }
            let mut line = String::new();
            for (i, x) in f.iter().enumerate() {
                if i > 0 {
                    line.push(if tab == Some(i) { '\t' } else { ' ' });
                }
                line.push_str(x);
            }
            if cr {
                line.push('\r');
            }
            line
        }
    }
}

/// Generators of the `ends` test.
mod ends {
    use proptest::prelude::*;

    /// Integers of 1..=20 digits (leading zeros included) and `-`.
    fn int() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => (1usize..=20, any::<u64>()).prop_map(|(n, x)| {
                let s = format!("{x:020}");
                s[20 - n..].to_string()
            }),
            3 => (0u64..100).prop_map(|x| x.to_string()),
            1 => Just("-".to_string()),
        ]
    }

    fn addr() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
                .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
            1 => proptest::sample::select(&[
                "-", "2001:db8:85a3:8d3:1319:8a2e:370:7348", "::1", "1.2.3", "1.2.3.4.5",
            ][..]).prop_map(str::to_string),
        ]
    }

    fn eni() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "eni-[0-9a-f]{17}",
            2 => proptest::sample::select(&["eni-a", "-", "e"][..]).prop_map(str::to_string),
            1 => "[!-~]{1,40}",
        ]
    }

    prop_compose! {
        pub fn line()(
            version in prop_oneof![9 => Just("2".to_string()), 1 => int()],
            account in prop_oneof![
                6 => Just("123456789012".to_string()),
                1 => Just("unknown".to_string()),
                1 => int(),
            ],
            eni in eni(),
            src in addr(),
            dst in addr(),
            ports in proptest::collection::vec(prop_oneof![
                6 => (0u32..65_536).prop_map(|x| x.to_string()),
                1 => int(),
            ], 2),
            protocol in prop_oneof![6 => (0u32..256).prop_map(|x| x.to_string()), 1 => int()],
            counts in proptest::collection::vec(int(), 2),
            times in prop_oneof![
                6 => (1_000_000_000u64..10_000_000_000, 0u64..400)
                    .prop_map(|(s, d)| vec![s.to_string(), (s + d).to_string()]),
                1 => proptest::collection::vec(int(), 2),
            ],
            action in proptest::sample::select(
                &["ACCEPT", "REJECT", "ACCEPT", "REJECT", "-", "ACCEPTED", "accept"][..]
            ),
            status in proptest::sample::select(
                &["OK", "OK", "OK", "OK", "NODATA", "SKIPDATA", "-", "OKAY", "O"][..]
            ),
            // At most one odd separator (two spaces, a tab, a space and a `\r`), and at most one
            // field dropped or doubled: near misses of the usual shape.
            odd_sep in proptest::option::weighted(
                0.2,
                (0usize..13, proptest::sample::select(&["  ", "\t", " \r", "\r"][..])),
            ),
            edit in proptest::option::weighted(0.2, (0usize..14, any::<bool>())),
            cr in proptest::sample::select(&["", "", "", "", "\r", "\r\r"][..]),
        ) -> String {
            let mut f = vec![version, account, eni, src, dst];
            f.extend(ports);
            f.push(protocol);
            f.extend(counts);
            f.extend(times);
            f.push(action.to_string());
            f.push(status.to_string());
            match edit {
                Some((i, true)) => {
                    f.remove(i);
                }
                Some((i, false)) => {
                    let x = f[i].clone();
                    f.insert(i, x);
                }
                None => {}
            }
            let mut line = String::new();
            for (i, x) in f.iter().enumerate() {
                if i > 0 {
                    line.push_str(match odd_sep {
                        Some((at, s)) if at + 1 == i => s,
                        _ => " ",
                    });
                }
                line.push_str(x);
            }
            line.push_str(cr);
            line
        }
    }
}

/// A valid line, put after the generated ones (when asked) so that they lie at least the
/// fast route's window before the end of the input.
const PAD: &str = "2 123456789012 eni-0123456789abcdef0 10.0.0.1 10.0.0.2 443 50000 6 10 \
                   8000 1700000000 1700000060 ACCEPT OK";

/// The record with its interface named (ids depend on interning order only).
fn named(rec: &FlowRecord, interner: &Interner) -> (FlowRecord, Option<String>) {
    let mut r = rec.clone();
    r.text.clear();
    let name = r.eni.take().map(|id| interner.name(id).to_string());
    (r, name)
}

/// `lines`, each with its newline, then (with `pad`) eight valid lines, without the very last
/// newline unless `final_newline`.
fn input(lines: &[String], pad: bool, final_newline: bool) -> String {
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    if pad {
        for _ in 0..8 {
            text.push_str(PAD);
            text.push('\n');
        }
    }
    if !final_newline {
        text.pop();
    }
    text
}

/// The records (interface named) and bad-line count of `text` read by a `LogReader` (the
/// fast route for the lines it takes).
fn read(text: &str) -> (Vec<(FlowRecord, Option<String>)>, u64) {
    let mut reader = LogReader::from_read(
        "fast-route",
        Box::new(Cursor::new(text.as_bytes().to_vec())),
        ReadOptions::default(),
    );
    let mut got = Vec::new();
    let mut rec = FlowRecord::default();
    while reader.next_record(&mut rec).unwrap() {
        got.push(named(&rec, reader.interner()));
    }
    (got, reader.summary().bad_lines)
}

/// The same from the general parser, line by line: the reader's lines (cut at each `\n`, the
/// last one may lack it, one `\r` trimmed), each under the v2 columns plus an opaque one.
fn general(text: &str) -> (Vec<(FlowRecord, Option<String>)>, u64) {
    let spec = "version account-id interface-id srcaddr dstaddr srcport dstport protocol \
                packets bytes start end action log-status fast-route-extra";
    let format = Format::parse(spec).unwrap();
    let mut interner = Interner::new();
    let mut want = Vec::new();
    let mut bad = 0u64;
    let body = text.strip_suffix('\n').unwrap_or(text);
    for (i, l) in body.split('\n').enumerate() {
        let l = l.strip_suffix('\r').unwrap_or(l);
        let extended = format!("{l} x");
        let mut r = FlowRecord::default();
        match parse_line(
            extended.as_bytes(),
            i as u64 + 1,
            &format,
            &mut interner,
            1 << 20,
            &mut r,
        ) {
            Ok(()) => want.push(named(&r, &interner)),
            Err(_) => bad += 1,
        }
    }
    (want, bad)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]
    #[test]
    fn shapes_equal_general_parser(lines in proptest::collection::vec(shapes::line(), 1..30)) {
        let text = input(&lines, true, true);
        let (got, got_bad) = read(&text);
        let (want, want_bad) = general(&text);
        prop_assert_eq!(got_bad, want_bad, "{:?}", lines);
        prop_assert_eq!(got, want, "{:?}", lines);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn line_ends_equal_general_parser(
        lines in proptest::collection::vec(ends::line(), 1..24),
        pad in any::<bool>(),
        final_newline in any::<bool>(),
    ) {
        let text = input(&lines, pad, final_newline);
        let (got, got_bad) = read(&text);
        let (want, want_bad) = general(&text);
        prop_assert_eq!(got_bad, want_bad, "{:?}", lines);
        prop_assert_eq!(got, want, "{:?}", lines);
    }
}
