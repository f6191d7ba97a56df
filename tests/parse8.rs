//! The fast route's reading of a line from its newline backwards (`flowlog::fast`, the
//! fields after `protocol` located from the line's end, met by the forward chain at
//! `packets`) against the general per-column parser, through the public API. The lines
//! here aim at the meeting: `packets` and `bytes` of every length from 1 to 20 digits and
//! `-`, doubled spaces, tabs and carriage returns around the last six fields, times of
//! other lengths, `NODATA`/`SKIPDATA`, lines shorter and longer than the newline search's
//! span (so the first newline found may belong to a later line), and inputs that end
//! right after the generated lines, with or without a final newline (so the last lines lie
//! near the buffer's end).

use std::io::Cursor;

use flowvigil::flowlog::{parse_line, FlowRecord, Format, Interner, LogReader, ReadOptions};
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
    fn line()(
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn line_ends_read_backwards_equal_general_parser(
        lines in proptest::collection::vec(line(), 1..24),
        pad in any::<bool>(),
        final_newline in any::<bool>(),
    ) {
        let mut text = String::new();
        for l in &lines {
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

        let mut reader = LogReader::from_read(
            "parse8",
            Box::new(Cursor::new(text.clone().into_bytes())),
            ReadOptions::default(),
        );
        let mut got = Vec::new();
        let mut rec = FlowRecord::default();
        while reader.next_record(&mut rec).unwrap() {
            got.push(named(&rec, reader.interner()));
        }

        // Every line under a format that is not the default v2 one (one opaque column more),
        // so each takes the general parser.
        let spec = "version account-id interface-id srcaddr dstaddr srcport dstport protocol \
                    packets bytes start end action log-status parse8-extra";
        let general = Format::parse(spec).unwrap();
        let mut interner = Interner::new();
        let mut want = Vec::new();
        let mut bad = 0u64;
        // The reader's lines: cut at each `\n` (the last one may lack it), one `\r` trimmed.
        let body = text.strip_suffix('\n').unwrap_or(&text);
        for (i, l) in body.split('\n').enumerate() {
            let l = l.strip_suffix('\r').unwrap_or(l);
            let extended = format!("{l} x");
            let mut r = FlowRecord::default();
            match parse_line(extended.as_bytes(), i as u64 + 1, &general, &mut interner,
                             1 << 20, &mut r) {
                Ok(()) => want.push(named(&r, &interner)),
                Err(_) => bad += 1,
            }
        }
        prop_assert_eq!(reader.summary().bad_lines, bad, "{:?}", lines);
        prop_assert_eq!(got, want, "{:?}", lines);
    }
}
