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
//! The parse writes each field into a [`V2Target`] as it parses: a [`FlowRecord`], or the
//! window stage's block slot (`crate::window::Slot`), which keeps only what windows use, so
//! the usual path builds no record and copies nothing (session 8:
//! 714 M to 682 M instructions on the one-thread peer benchmark with the loop changes around
//! it). A target may refuse a line (a slot takes no line without an interface or a start
//! time); the reader then parses the line again into a record, which, like every repeated
//! parse of a line, has no side effect the first parse did not have (see below). For the
//! window stage, `parse_v2_run` parses a run of up to `RUN` (128) lines into consecutive
//! slots in one call, with the same code for each line (session 10, with the sinks' loop
//! over the run: 623.9 M to 613.4 M instructions on the one-thread peer benchmark).
//!
//! Interning is the one side effect. The fast path interns the interface id only after the two
//! fields before it parsed, and with the same checks, so when it gives up after interning, the
//! general parser would have interned the same name at the same point.
//!
//! The line's bytes are one dependency chain (each field's place waits for the previous
//! field's length), so the code keeps that chain short where the data allows: the line's
//! head (`version` and `account-id`, cached: one two-word comparison with the last line's),
//! an AWS interface id (21 bytes) and ten-digit `start`/`end` times (both checked at once by
//! two SSE2 class compares over their 22 bytes) advance by known amounts once checked, a
//! buffered line's usual end (`ACCEPT OK` or `REJECT OK` and its newline) is two loads, the
//! usually short fields (version, protocol, packets) try one digit, then two, first (the
//! two-digit test is one subtraction, one addition and one mask test; session 9), `start`'s
//! and `end`'s last two digits are valued together by one multiplication and their first
//! eight together in one SSE2 register (`pmullw` and two `pmaddwd`, no branch; session 11:
//! −3.5 M instructions on the one-thread peer benchmark), and an IPv4 address is
//! classified from one 16-byte SSE2 load: its masks of non-digits and spaces give the
//! non-digits up to the first space, which for a dotted quad are one of 81 shapes (octets of
//! 1..=3 digits), found by a perfect hash in a 256-slot table that gives the dots' places
//! and the octets' shifts at once, so no octet waits for the previous one's length (the dots
//! are then checked from the low bytes of the words the octets are valued from; the shifts
//! are stored as powers of two and done by multiplication with the table entry as operand,
//! one instruction each instead of three for a shift by a loaded count: session 9, −14
//! instructions a line; the dot places are of a type whose range the compiler knows, so they
//! need no mask to keep the positions provably small: session 11). An AWS
//! interface id is looked up in the interner before any check of its bytes: the interner's
//! inline keys flag names with a byte that is not ASCII-graphic, so a hit is a known name
//! with no separator in it. Each field is stored into the record as soon as it parses, so no
//! value is held (or spilled) across the line, and a field's ending separator is compared in
//! memory at the new position.
//!
//! On a CPU with AVX-512 (F, BW, VBMI, VBMI2), checked once at run time, both entry points for
//! buffered lines first try the vectorised parse of [`avx512`], which finds every field's place
//! at once (`vpcompressb` of the positions of its spaces and dots) and values every integer and octet together;
//! it takes a subset of the lines this parse takes, with the same values and the same side
//! effects, and leaves every other line to this parse (session 11: the one-thread peer
//! benchmark 14 % faster, `flowvigil stats` 21 %). `FLOWVIGIL_NO_AVX512` in the environment
//! turns it off.
//!
//! Tried and measured slower (so not done): finding the line's first thirteen spaces up front
//! with SSE2 (eight 16-byte compares and `movemask`s), then parsing each field at its known
//! start so that no field waits for the previous one's end. Extracting the thirteen positions
//! from the 128-bit mask costs more than the per-field end searches it replaces (about 220
//! more instructions per line on the peer benchmark, 653 M to 763 M for `flowvigil stats` on
//! 500 k lines) and the overlap it allows did not pay it back: `stats` on 5 M lines took
//! about 14 % more user time. SSE2 alone has no byte shuffle (`pshufb` is SSSE3), so it cannot
//! value the digits either; the word-at-a-time code already classifies eight bytes per step.
//! (An IPv4 address is different: its four separators fall within 16 bytes, so one load and
//! two compares classify the whole field, and the table lookup replaces the extraction of
//! the positions; that took the parse from 622 to 564 instructions a line.)
//!
//! Also tried and measured slower (session 7, branch `parse8`): shortening the chain from
//! the other end. A buffered line's newline was found first, off the field chain (SSE2
//! compares of the 16-byte blocks at 72..200, or at 80..144), and from it `ACCEPT OK`/
//! `REJECT OK`, the two times (at fixed offsets, `ten_ten`) and `packets` and `bytes`
//! (their starts from a space mask of the 32 bytes before `start`, leading-zero counts);
//! the forward chain stopped after `protocol` and had to meet that exactly, else the
//! chain went on as here. Every output stayed the same, but the parse took 81 (72..200) or
//! 67 (80..144) more instructions a line on the peer benchmark (323 to 404 or 390 a line
//! of its own; the whole run 760 M to 812 M or 800 M) and the one-thread run's CPU time
//! rose with them, by 3-8 % (min of 7 interleaved rounds, four comparisons): the run is
//! bound by instruction throughput, not by this chain's latency, so the overlap bought
//! nothing. `tests/fast_route.rs` (line ends, odd separators and near misses against the
//! general parser) came from that work and stays.

use std::net::{IpAddr, Ipv4Addr};

use super::intern::Interner;
use super::parse::{addr, HIGHS, MAX_ENI_LEN, ONES};
use super::record::{Action, EniId, FlowRecord, LogStatus};

#[cfg(target_arch = "x86_64")]
mod avx512;

/// `10^n` for the second word of a 9..=15 digit integer.
const POW10: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// A word's low bytes, little-endian: what a load returns for a value followed by those bytes.
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

/// The fast path reads a line inside a window of this many bytes (plus 8 bytes of slack):
/// positions are taken modulo `WIN`, so every 8-byte load is in bounds with no check. Each
/// field's length is bounded (integers by 15 digits, tokens by [`MAX_TOKEN`]), which keeps
/// every position of a line the fast path accepts below 400: positions never wrap. Every
/// step of the position is bounded in a way the compiler sees too (the cached head's length
/// is masked to 5 bits for that, an IPv4 shape's length to 5, its dot places are a [`Small`],
/// the lengths the out-of-line fallbacks for interface ids and addresses return are capped at
/// `MAX_TOKEN + 1`), so it drops the modulo from the generated loads: each load's address is
/// the position plus a constant, one step shorter on the line's dependency chain
/// (`flowvigil stats` about 3 % faster, instruction count unchanged). Each bound must come
/// from a value the compiler cannot see through (a load, an out-of-line call's result):
/// a mask or minimum it can prove redundant is dropped, and the bound is then lost where
/// routes merge or not depending on how the crate is split into codegen units (session 13:
/// with one unit every load after the interface id was masked, +17 M instructions on the
/// one-thread benchmark; `stats` lost 8.5 M the same way with the release profile's four).
const WIN: usize = 512;

/// The window: a copy of a short line (zero-padded), or the reader's buffer when at least this
/// many bytes remain in it.
type Window = [u8; WIN + 8];

/// Longest line [`parse_v2`] takes; longer ones go to the general parser.
const MAX_LINE: usize = 400;

/// Longest interface id or non-IPv4 address token the fast path takes (IPv6 text is at most
/// 45 bytes); longer ones go to the general parser.
const MAX_TOKEN: usize = MAX_ENI_LEN;

/// Eight bytes of the window from `p` (modulo [`WIN`]), little-endian.
#[inline(always)]
fn ld(win: &Window, p: usize) -> u64 {
    let i = p & (WIN - 1);
    // In bounds (i + 8 <= WIN + 8) and exactly eight bytes: no check, no failure.
    <[u8; 8]>::try_from(&win[i..i + 8]).map_or(0, u64::from_le_bytes)
}

/// The byte of the window at `p` (modulo [`WIN`]).
#[inline(always)]
fn byte(win: &Window, p: usize) -> u8 {
    win[p & (WIN - 1)]
}

/// Where the fast route writes a default-v2 line's fields, as each parses: a [`FlowRecord`], or
/// another shape of record that keeps only what its user needs (the window stage writes
/// straight into its block's slots, see `crate::window`), so no record is built aside and
/// copied. The parse is the same code for every target, with the same checks in the same
/// order, so interning and the reader's head cache see the same calls whatever the target.
///
/// A target may refuse a value (`None` from [`V2Target::set_eni`] or [`V2Target::set_times`]:
/// a record it cannot hold, such as one without an interface or a start time); the parse then
/// declines the line as for a line out of shape, and the caller parses it into a
/// [`FlowRecord`] (the same checks again, so the same side effects: see
/// `LogReader::fast_into`).
///
/// A line's values come in field order, [`V2Target::set_head`] first and
/// [`V2Target::clear_rest`] last, each setter called once (a declined line may stop after
/// any of them); a target may rely on that order (the window slot clears its flags in
/// `set_head`).
pub trait V2Target {
    /// The target never refuses a value (the parse declines only lines out of shape).
    const TOTAL: bool;
    /// `version` and `account-id`.
    fn set_head(&mut self, version: Option<u8>, account: Option<u64>);
    /// `interface-id`; `None` refuses the line.
    fn set_eni(&mut self, eni: Option<EniId>) -> Option<()>;
    /// `srcaddr`.
    fn set_srcaddr(&mut self, v: Option<IpAddr>);
    /// `dstaddr`.
    fn set_dstaddr(&mut self, v: Option<IpAddr>);
    /// `srcport`.
    fn set_srcport(&mut self, v: Option<u16>);
    /// `dstport`.
    fn set_dstport(&mut self, v: Option<u16>);
    /// `protocol`.
    fn set_protocol(&mut self, v: Option<u8>);
    /// `packets`.
    fn set_packets(&mut self, v: Option<u64>);
    /// `bytes`.
    fn set_bytes(&mut self, v: Option<u64>);
    /// `start` and `end`; `None` refuses the line.
    fn set_times(&mut self, start: Option<u64>, end: Option<u64>) -> Option<()>;
    /// `action`.
    fn set_action(&mut self, v: Option<Action>);
    /// `log-status`.
    fn set_status(&mut self, v: Option<LogStatus>);
    /// Every field past the default v2 ones: absent.
    fn clear_rest(&mut self);
    /// The status as counted in the summary: 1 for NODATA, 2 for SKIPDATA, else 0 or 3.
    fn status_index(&self) -> usize;
}

impl V2Target for FlowRecord {
    const TOTAL: bool = true;
    #[inline(always)]
    fn set_head(&mut self, version: Option<u8>, account: Option<u64>) {
        self.version = version;
        self.account_id = account;
    }
    #[inline(always)]
    fn set_eni(&mut self, eni: Option<EniId>) -> Option<()> {
        self.eni = eni;
        Some(())
    }
    #[inline(always)]
    fn set_srcaddr(&mut self, v: Option<IpAddr>) {
        self.srcaddr = v;
    }
    #[inline(always)]
    fn set_dstaddr(&mut self, v: Option<IpAddr>) {
        self.dstaddr = v;
    }
    #[inline(always)]
    fn set_srcport(&mut self, v: Option<u16>) {
        self.srcport = v;
    }
    #[inline(always)]
    fn set_dstport(&mut self, v: Option<u16>) {
        self.dstport = v;
    }
    #[inline(always)]
    fn set_protocol(&mut self, v: Option<u8>) {
        self.protocol = v;
    }
    #[inline(always)]
    fn set_packets(&mut self, v: Option<u64>) {
        self.packets = v;
    }
    #[inline(always)]
    fn set_bytes(&mut self, v: Option<u64>) {
        self.bytes = v;
    }
    #[inline(always)]
    fn set_times(&mut self, start: Option<u64>, end: Option<u64>) -> Option<()> {
        self.start = start;
        self.end = end;
        Some(())
    }
    #[inline(always)]
    fn set_action(&mut self, v: Option<Action>) {
        self.action = v;
    }
    #[inline(always)]
    fn set_status(&mut self, v: Option<LogStatus>) {
        self.log_status = v;
    }
    #[inline(always)]
    fn clear_rest(&mut self) {
        // The exhaustive destructuring makes a new field a compile error here until it is
        // set by the parse or cleared.
        let FlowRecord {
            version: _,
            account_id: _,
            eni: _,
            srcaddr: _,
            dstaddr: _,
            srcport: _,
            dstport: _,
            protocol: _,
            packets: _,
            bytes: _,
            start: _,
            end: _,
            action: _,
            log_status: _,
            tcp_flags,
            ip_type,
            pkt_srcaddr,
            pkt_dstaddr,
            flow_direction,
            traffic_path,
            encryption_status,
            text,
        } = self;
        *tcp_flags = None;
        *ip_type = None;
        *pkt_srcaddr = None;
        *pkt_dstaddr = None;
        *flow_direction = None;
        *traffic_path = None;
        *encryption_status = None;
        text.clear();
    }
    #[inline(always)]
    fn status_index(&self) -> usize {
        match self.log_status {
            Some(LogStatus::Ok) => 0,
            Some(LogStatus::NoData) => 1,
            Some(LogStatus::SkipData) => 2,
            None => 3,
        }
    }
}

/// Parses a default-v2 line in its usual shape into `rec`; `false` (with `rec` in any state)
/// when the general parser must decide. See the module docs.
#[inline(never)]
pub(super) fn parse_v2(
    line: &[u8],
    interner: &mut Interner,
    max_enis: usize,
    rec: &mut FlowRecord,
) -> bool {
    let mut win = [0u8; WIN + 8];
    let Some(head) = win.get_mut(..line.len()).filter(|_| line.len() <= MAX_LINE) else {
        return false;
    };
    head.copy_from_slice(line);
    let mut cache = Cache::default();
    parse::<false, _>(&win, line.len(), interner, max_enis, rec, &mut cache).is_some()
}

/// [`parse_v2`] on the reader's buffer: the line is the start of `buf`, ended by `\n` (or
/// `\r\n`), so the line splitter's search for the end is saved and nothing is copied. Returns
/// the length of the line with its ending; `None` when the line is not in the usual shape,
/// fewer than `WIN + 8` bytes remain in `buf` (the reader then takes its general route), or
/// the target refuses a value (see [`V2Target`]). Written into `target`, whatever it is.
#[inline(never)]
pub(super) fn parse_v2_buffered<T: V2Target>(
    buf: &[u8],
    interner: &mut Interner,
    max_enis: usize,
    target: &mut T,
    cache: &mut Cache,
) -> Option<usize> {
    let win = buf.first_chunk::<{ WIN + 8 }>()?;
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        // SAFETY: the CPU has the features `avx512::parse_v2_buffered` is compiled for
        // (checked at run time, once).
        return unsafe { avx512::parse_v2_buffered(win, interner, max_enis, target, cache) };
    }
    parse::<true, T>(win, 0, interner, max_enis, target, cache)
}

/// The most lines one [`parse_v2_run`] call parses (the size of its caller's offset array).
pub(super) const RUN: usize = 128;

/// [`parse_v2_buffered`] over a run of lines: the lines from `buf[start..]` on are parsed
/// into `targets` in order, until the targets or `RUN` lines are used up or a line is
/// declined or refused (that line is left for the caller, its target in any state). The
/// offset in `buf` past line `i` goes into `ends[i]`, and each line is counted in
/// `by_status` (at its `status_index`). Returns how many lines were parsed. One call for a run of lines
/// keeps the run's state (position, next target) in registers and saves the per-line call,
/// prologue and argument set-up of `parse_v2_buffered`; the parse of each line is the same
/// code, with the same checks in the same order.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub(super) fn parse_v2_run<T: V2Target>(
    buf: &[u8],
    start: usize,
    targets: &mut [T],
    ends: &mut [usize; RUN],
    by_status: &mut [u64; 4],
    interner: &mut Interner,
    max_enis: usize,
    cache: &mut Cache,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        // SAFETY: the CPU has the features `avx512::parse_v2_run` is compiled for (checked
        // at run time, once).
        return unsafe {
            avx512::parse_v2_run(
                buf, start, targets, ends, by_status, interner, max_enis, cache,
            )
        };
    }
    run_lines(buf, start, targets, ends, by_status, |win, target| {
        parse::<true, T>(win, 0, interner, max_enis, target, cache)
    })
}

/// The loop of [`parse_v2_run`] (here and in `avx512`) around `line`, which parses the line at
/// the start of a window into a target and gives its length with the ending (`None` stops the
/// run there).
#[inline(always)]
fn run_lines<T: V2Target>(
    buf: &[u8],
    mut start: usize,
    targets: &mut [T],
    ends: &mut [usize; RUN],
    by_status: &mut [u64; 4],
    mut line: impl FnMut(&Window, &mut T) -> Option<usize>,
) -> usize {
    let mut k = 0;
    for (target, end) in targets.iter_mut().zip(ends.iter_mut()) {
        let Some(win) = buf
            .get(start..)
            .and_then(|rest| rest.first_chunk::<{ WIN + 8 }>())
        else {
            break;
        };
        let Some(len) = line(win, target) else {
            break;
        };
        start += len;
        *end = start;
        if let Some(c) = by_status.get_mut(target.status_index()) {
            *c += 1;
        }
        k += 1;
    }
    k
}

/// The parser behind both entry points. With `BUFFERED`, the status field is followed by a
/// line ending and the length through it is returned; else the line is `win[..len]` and the
/// status ends it.
#[inline(always)]
fn parse<const BUFFERED: bool, T: V2Target>(
    win: &Window,
    len: usize,
    interner: &mut Interner,
    max_enis: usize,
    rec: &mut T,
    cache: &mut Cache,
) -> Option<usize> {
    const U8: u64 = u8::MAX as u64;
    const U16: u64 = u16::MAX as u64;
    // Each field is written as soon as it parses (`rec` may be left in any state when the
    // line falls back), so no value waits in a register or on the stack for the rest of the
    // line.
    let mut p = 0usize;
    head_fields(win, &mut p, cache, rec)?;
    rec.set_eni(eni_field(win, &mut p, interner, max_enis)?)?;
    addr_field(win, &mut p, |a| rec.set_srcaddr(a))?;
    addr_field(win, &mut p, |a| rec.set_dstaddr(a))?;
    rec.set_srcport(int_field::<false>(win, &mut p, U16)?.map(|x| x as u16));
    rec.set_dstport(int_field::<false>(win, &mut p, U16)?.map(|x| x as u16));
    rec.set_protocol(int_field::<true>(win, &mut p, U8)?.map(|x| x as u8));
    rec.set_packets(int_field::<true>(win, &mut p, u64::MAX)?);
    rec.set_bytes(int_field::<false>(win, &mut p, u64::MAX)?);
    if let Some((start, end)) = times(win, &mut p) {
        rec.set_times(Some(start), Some(end))?;
    } else {
        let mut first8 = (u64::MAX, 0);
        let start = time_field(win, &mut p, &mut first8)?;
        let end = time_field(win, &mut p, &mut first8)?;
        rec.set_times(start, end)?;
    }
    let (log_status, used) = match tail::<BUFFERED>(win, p) {
        Some((action, used)) => {
            rec.set_action(action);
            (Some(LogStatus::Ok), used)
        }
        None => {
            rec.set_action(action_field(win, &mut p)?);
            // At most 16 + 16 + 2 * 65 + 65 + 7 * 16 + 7 bytes so far (see `WIN`).
            debug_assert!(p < MAX_LINE);
            let (log_status, n) = status_field(win, p)?;
            let used = if BUFFERED {
                match byte(win, p + n) {
                    b'\n' => p + n + 1,
                    b'\r' if byte(win, p + n + 1) == b'\n' => p + n + 2,
                    _ => return None,
                }
            } else {
                if p + n != len {
                    return None;
                }
                len
            };
            (log_status, used)
        }
    };
    rec.set_status(log_status);
    rec.clear_rest();
    Some(used)
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

/// The digit run at `p` when it has 1..=15 digits: its value, its length and the byte after
/// it. `None` without a digit, or past 15 digits (the general parser's checked path decides
/// those).
#[inline(always)]
fn digits(win: &Window, p: usize) -> Option<(u64, usize, u8)> {
    let w = ld(win, p);
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
    let w2 = ld(win, p + 8);
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

/// An integer field (at most `max`) or `-`, followed by a space. `SHORT` for fields that are
/// usually short (the version, the protocol, packets), which first try one digit and a
/// space, then two digits and a space; the others (ports, byte counts, times) go straight to
/// the word-at-a-time path, which takes those too.
#[inline(always)]
fn int_field<const SHORT: bool>(win: &Window, p: &mut usize, max: u64) -> Option<Option<u64>> {
    let start = *p;
    // One digit and a space: no word arithmetic. `w - "0 "` over the low two bytes is below
    // 10 exactly when they are a digit and a space (any other second byte, or a borrow from a
    // first byte below '0', lands above).
    let w = ld(win, start);
    let d = (w as u16).wrapping_sub(u16::from_le_bytes(*b"0 "));
    if SHORT && d < 10 {
        *p = start + 2;
        return Some(Some(u64::from(d)));
    }
    if SHORT {
        // Two digits and a space: `w - "00 "` over the low three bytes has each digit's
        // value (at most 9) in bytes 0 and 1 and zero above exactly then (a byte below its
        // base borrows from the bytes above; adding 0x76 to a byte, or'ed with the byte
        // itself, sets its top bit when it is above 9, and its carries only come from a
        // byte that fails).
        let t = (w as u32 & 0x00ff_ffff).wrapping_sub(u32::from_le_bytes(*b"00 \0"));
        if (t.wrapping_add(0x7676) | t) & 0xffff_8080 == 0 && max >= 99 {
            *p = start + 3;
            return Some(Some(u64::from((t & 0xff) * 10 + (t >> 8))));
        }
    }
    match digits(win, start) {
        Some((x, n, _)) => {
            // The byte after the digits compared in memory: cheaper than shifting it out of
            // the word, and its address is the new position's.
            if x > max || byte(win, start + n) != b' ' {
                return None;
            }
            *p = start + n + 1;
            Some(Some(x))
        }
        None => {
            if ld(win, start) & 0xffff != DASH {
                return None;
            }
            *p = start + 2;
            Some(None)
        }
    }
}

/// `start` or `end`: Unix seconds, ten digits from 2001 to 2286, so first tried as exactly
/// ten digits and a space — the next field's place is then known without waiting for the
/// digits' classification, and the value takes one eight-digit conversion, not two — else
/// [`int_field`]. `first8` holds the last ten-digit field's first word and its value (the
/// end usually shares its first eight digits with the start): equal words have equal values,
/// so it changes speed only.
#[inline(always)]
fn time_field(win: &Window, p: &mut usize, first8: &mut (u64, u64)) -> Option<Option<u64>> {
    let start = *p;
    let (w0, w1) = (ld(win, start), ld(win, start + 8));
    let (t0, nd0) = classify(w0);
    let (t1, nd1) = classify(w1);
    // Bytes 8 and 9 digits, byte 10 a space.
    if nd0 | (nd1 & 0xffff) == 0 && (w1 >> 16) as u8 == b' ' {
        let hi = if w0 == first8.0 {
            first8.1
        } else {
            let hi = swar8(t0);
            *first8 = (w0, hi);
            hi
        };
        *p = start + 11;
        return Some(Some(hi * 100 + (t1 & 0xff) * 10 + ((t1 >> 8) & 0xff)));
    }
    int_field::<false>(win, p, u64::MAX)
}

/// `start` and `end` in their usual shape: ten digits and a space each (Unix seconds from
/// 2001 to 2286), both checked at once by [`ten_ten`], so the next field's place is known
/// without waiting for either; `end` reuses `start`'s conversion of its first eight digits
/// when they are the same bytes. `None` for any other shape ([`time_field`] then reads
/// them one by one).
#[inline(always)]
fn times(win: &Window, p: &mut usize) -> Option<(u64, u64)> {
    let q = *p;
    let w0 = ld(win, q);
    if !ten_ten([w0, ld(win, q + 8), ld(win, q + 6), ld(win, q + 14)]) {
        return None;
    }
    let (hi_s, hi_e) = eight_digits_x2(w0, ld(win, q + 11));
    // The last two digits of each, at 8 and 19, valued together: both pairs in one word
    // (bytes 0, 1 and 2, 3), one multiplication puts 10a + b in bytes 1 and 3.
    let pairs = (ld(win, q + 8) as u16 as u32 | (ld(win, q + 19) as u16 as u32) << 16)
        .wrapping_sub(0x3030_3030);
    let lo = pairs.wrapping_mul(10 << 8 | 1) >> 8;
    *p = q + 22;
    Some((
        hi_s * 100 + u64::from(lo & 0xff),
        hi_e * 100 + u64::from((lo >> 16) & 0xff),
    ))
}

/// The values of two words of eight ASCII digits each (the first digit lowest): [`swar8`] of
/// each less `'0'` per byte, both at once in one SSE2 register (session 11): the pairs by a
/// 16-bit multiplication and addition, the quads by `pmaddwd`, the octets by a pack and a
/// second `pmaddwd` (every intermediate is at most 99,999,999, so no lane overflows or
/// saturates). Fewer instructions than two [`swar8`] (whose 64-bit masks are `movabs`
/// constants), and no branch: `end`'s first eight digits used to be valued again only when
/// they differed from `start`'s, a branch taken on about 30 % of the benchmark's lines.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn eight_digits_x2(a: u64, b: u64) -> (u64, u64) {
    use std::arch::x86_64::{
        _mm_add_epi16, _mm_and_si128, _mm_cvtsi128_si32, _mm_madd_epi16, _mm_mullo_epi16,
        _mm_packs_epi32, _mm_set1_epi16, _mm_set1_epi32, _mm_set1_epi8, _mm_set_epi64x,
        _mm_shuffle_epi32, _mm_srli_epi16, _mm_sub_epi8,
    };
    // SAFETY: these intrinsics only compute on values (no memory access); they need SSE2,
    // which the `cfg` above requires to be enabled for the whole build.
    unsafe {
        let v = _mm_sub_epi8(
            _mm_set_epi64x(b as i64, a as i64),
            _mm_set1_epi8(b'0' as i8),
        );
        // 16-bit lanes: 10 * (the lower byte, the earlier digit) + the higher byte.
        let lo = _mm_and_si128(v, _mm_set1_epi16(0xff));
        let pairs = _mm_add_epi16(
            _mm_mullo_epi16(lo, _mm_set1_epi16(10)),
            _mm_srli_epi16(v, 8),
        );
        // 32-bit lanes: 100 * the earlier pair + the later one (at most 9,999).
        let quads = _mm_madd_epi16(pairs, _mm_set1_epi32(1 << 16 | 100));
        // Packed to 16 bits (no saturation below 32,768), then 10,000 * the earlier quad +
        // the later one: `a`'s value in lane 0, `b`'s in lane 1.
        let octets = _mm_madd_epi16(
            _mm_packs_epi32(quads, quads),
            _mm_set1_epi32(1 << 16 | 10_000),
        );
        let x = _mm_cvtsi128_si32(octets) as u32;
        let y = _mm_cvtsi128_si32(_mm_shuffle_epi32::<1>(octets)) as u32;
        (u64::from(x), u64::from(y))
    }
}

/// [`eight_digits_x2`] by [`swar8`]: the reference, and what other targets use.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn eight_digits_x2_words(a: u64, b: u64) -> (u64, u64) {
    (
        swar8(a.wrapping_sub(0x30 * ONES)),
        swar8(b.wrapping_sub(0x30 * ONES)),
    )
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn eight_digits_x2(a: u64, b: u64) -> (u64, u64) {
    eight_digits_x2_words(a, b)
}

/// Whether the 22 bytes from the words at 0 and 8 (`w[0]`, `w[1]`) and at 6 and 14
/// (`w[2]`, `w[3]`, loaded from the same bytes) are ten digits, a space, ten digits and a
/// space.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn ten_ten(w: [u64; 4]) -> bool {
    use std::arch::x86_64::{
        _mm_and_si128, _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_set_epi64x,
        _mm_setr_epi8, _mm_sub_epi8,
    };
    // SAFETY: these intrinsics only compute on values (no memory access); they need SSE2,
    // which the `cfg` above requires to be enabled for the whole build.
    unsafe {
        // Each byte less its class's base ('0', or ' ' where a space belongs) is at most the
        // class's top (9, or 0) exactly when the byte is of its class.
        let (d, s, n) = (b'0' as i8, b' ' as i8, 9i8);
        let a = _mm_set_epi64x(w[1] as i64, w[0] as i64);
        let b = _mm_set_epi64x(w[3] as i64, w[2] as i64);
        let da = _mm_sub_epi8(
            a,
            _mm_setr_epi8(d, d, d, d, d, d, d, d, d, d, s, d, d, d, d, d),
        );
        let db = _mm_sub_epi8(
            b,
            _mm_setr_epi8(d, d, d, d, s, d, d, d, d, d, d, d, d, d, d, s),
        );
        let ta = _mm_setr_epi8(n, n, n, n, n, n, n, n, n, n, 0, n, n, n, n, n);
        let tb = _mm_setr_epi8(n, n, n, n, 0, n, n, n, n, n, n, n, n, n, n, 0);
        let ok_a = _mm_cmpeq_epi8(_mm_min_epu8(da, ta), da);
        let ok_b = _mm_cmpeq_epi8(_mm_min_epu8(db, tb), db);
        _mm_movemask_epi8(_mm_and_si128(ok_a, ok_b)) == 0xffff
    }
}

/// [`ten_ten`] byte by byte: the reference, and what other targets use.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn ten_ten_bytes(w: [u64; 4]) -> bool {
    let mut bytes = [0u8; 22];
    for (at, k) in [(0, 0), (8, 1), (6, 2), (14, 3)] {
        for (i, b) in w[k].to_le_bytes().into_iter().enumerate() {
            if let Some(x) = bytes.get_mut(at + i) {
                *x = b;
            }
        }
    }
    bytes.iter().enumerate().all(|(i, &b)| {
        if i == 10 || i == 21 {
            b == b' '
        } else {
            b.is_ascii_digit()
        }
    })
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn ten_ten(w: [u64; 4]) -> bool {
    ten_ten_bytes(w)
}

/// What the fast path remembers between the lines of one reader: the last line's head (its
/// `version` and `account-id` fields with their spaces) when it takes 9..=16 bytes, as its
/// bytes (first word; mask and masked second word), its length and its two values. A flow
/// log's lines nearly always share their version and account, and equal bytes parse to equal
/// values (whether a head parses, and to what, depends on its bytes alone): the cache changes
/// speed only.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cache {
    head: (u64, u64, u64, usize, Option<u8>, Option<u64>),
}

impl Default for Cache {
    fn default() -> Self {
        // A mask of 0 with a masked word of 1 never matches.
        Cache {
            head: (0, 0, 1, 0, None, None),
        }
    }
}

/// `version` and `account-id` with their spaces: one comparison with the cached head (see
/// [`Cache`]), else parsed field by field (and cached when 9..=16 bytes).
#[inline(always)]
fn head_fields<T: V2Target>(
    win: &Window,
    p: &mut usize,
    cache: &mut Cache,
    rec: &mut T,
) -> Option<()> {
    let (w0, w1) = (ld(win, 0), ld(win, 8));
    let head = &cache.head;
    if w0 == head.0 && w1 & head.1 == head.2 {
        // At most 16: the mask keeps that known to the compiler, so the position stays
        // provably small and later loads need no wrap-around mask.
        *p = head.3 & 31;
        rec.set_head(head.4, head.5);
        return Some(());
    }
    let v = int_field::<true>(win, p, u8::MAX.into())?.map(|x| x as u8);
    let a = account_field(win, p)?;
    rec.set_head(v, a);
    if (9..=16).contains(p) {
        // The head's bytes in the second word, under the mask.
        let mask = u64::MAX >> (8 * (16 - *p));
        cache.head = (w0, mask, w1 & mask, *p, v, a);
    }
    Some(())
}

/// `account-id`: digits, `unknown` or `-`, followed by a space.
#[inline(always)]
fn account_field(win: &Window, p: &mut usize) -> Option<Option<u64>> {
    let start = *p;
    if let Some((x, n, _)) = digits(win, start) {
        if byte(win, start + n) != b' ' {
            return None;
        }
        *p = start + n + 1;
        return Some(Some(x));
    }
    let w = ld(win, start);
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

/// A token of 1..=[`MAX_TOKEN`] bytes at `p`, followed by a space (not by a tab, a control
/// byte or the end of the line). The token is a slice of the window.
#[inline(always)]
fn token<'a>(win: &'a Window, p: &mut usize) -> Option<&'a [u8]> {
    let start = *p;
    let mut q = start;
    // Nine words cover MAX_TOKEN + 1 bytes.
    for _ in 0..(MAX_TOKEN / 8 + 1) {
        let m = low_bytes(ld(win, q));
        if m != 0 {
            let end = q + (m.trailing_zeros() / 8) as usize;
            if end == start || end - start > MAX_TOKEN || byte(win, end) != b' ' {
                return None;
            }
            *p = end + 1;
            return win.get(start..end);
        }
        q += 8;
    }
    None
}

/// `interface-id`, interned exactly as the general parser would.
///
/// AWS's interface ids are 21 bytes (`eni-` and 17 hex digits): when the byte after 21 is a
/// space, the 21 bytes are looked up first by their [`Key`](super::intern::Key), made from three overlapping words,
/// with no check of the bytes: a hit is a known name of ASCII-graphic bytes only (see
/// [`Interner::get_inline`]), so the 21 bytes hold no separator and are the token the general
/// parser would cut. Only a miss checks them (a new name), or finds the token's end by
/// [`token`].
#[inline(always)]
fn eni_field(
    win: &Window,
    p: &mut usize,
    interner: &mut Interner,
    max_enis: usize,
) -> Option<Option<EniId>> {
    const AWS: usize = 21;
    let start = *p;
    if byte(win, start + AWS) == b' ' {
        let (w0, w1, w2) = (ld(win, start), ld(win, start + 8), ld(win, start + AWS - 8));
        let name = win.get(start..start + AWS)?;
        // Bytes 16..21 are the top five of the last word.
        if let Some(id) = interner.get_inline(name, &[AWS as u64, w0, w1, w2 >> 24]) {
            *p = start + AWS + 1;
            return Some(Some(id));
        }
        // A new name (out of line, so its constants do not take registers here).
        if no_low_bytes([w0, w1, w2]) {
            *p = start + AWS + 1;
            return new_eni(name, interner, max_enis);
        }
    }
    let (id, len) = eni_token(win, start, interner, max_enis)?;
    // At most MAX_TOKEN + 1: the minimum shows the compiler, so later positions stay
    // provably small (see `WIN`). Out of line, the length is opaque here, so the minimum
    // stays; when the token was cut inline, its end's bound came from a comparison the
    // compiler dropped a mask for and then lost at the merge with the usual route (every
    // later load masked again, +17 M instructions on the one-thread benchmark) or not,
    // depending on how the crate was split into codegen units (session 13).
    *p = start + len.min(MAX_TOKEN + 1);
    Some(id)
}

/// [`eni_field`] past the 21-byte route: the token at `p`, `-` or an interface id (looked up,
/// else interned by [`new_eni`]), and its length with the space (out of line, see
/// [`eni_field`]).
#[inline(never)]
fn eni_token(
    win: &Window,
    p: usize,
    interner: &mut Interner,
    max_enis: usize,
) -> Option<(Option<EniId>, usize)> {
    let mut q = p;
    let name = token(win, &mut q)?;
    let id = if name == b"-" {
        None
    } else if let Some(id) = interner.get(name) {
        Some(id)
    } else {
        new_eni(name, interner, max_enis)?
    };
    Some((id, q - p))
}

/// No byte of the three words is at most 0x20 (see [`low_bytes`]).
#[inline(never)]
fn no_low_bytes(w: [u64; 3]) -> bool {
    low_bytes(w[0]) | low_bytes(w[1]) | low_bytes(w[2]) == 0
}

/// [`eni_field`] for a name not interned yet: checked as the general parser checks it, then
/// interned (out of line: once per interface).
#[inline(never)]
fn new_eni(name: &[u8], interner: &mut Interner, max_enis: usize) -> Option<Option<EniId>> {
    if name.len() > MAX_ENI_LEN
        || !name.iter().all(u8::is_ascii_graphic)
        || interner.len() >= max_enis
    {
        return None;
    }
    Some(Some(interner.intern(name)))
}

/// The high bit of each byte of `w` that is not an ASCII digit, exact for every byte (no
/// carry crosses a byte: the low seven bits plus at most 0x50 stay below 0x100).
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn nondigits(w: u64) -> u64 {
    let x = w & (0x7f * ONES);
    let at_least_0 = x.wrapping_add((0x80 - 0x30) * ONES);
    let above_9 = x.wrapping_add((0x80 - 0x3a) * ONES);
    !(at_least_0 & !above_9 & !w) & HIGHS
}

/// The high bit of each byte of `w` that is a space, exact for every byte.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn spaces(w: u64) -> u64 {
    let z = w ^ (u64::from(b' ') * ONES);
    !(((z & (0x7f * ONES)).wrapping_add(0x7f * ONES)) | z) & HIGHS
}

/// The high bit of each byte of `nd` (bits 8i + 7, nothing else set) gathered into bit i: one
/// multiplication moves each to bit 56 + i without carries (all partial products are
/// distinct bits).
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn movemask(nd: u64) -> u32 {
    (nd.wrapping_mul(0x0002_0408_1020_4081) >> 56) as u32
}

/// Of the 16 bytes `w0` then `w1`: bit i set when byte i is not an ASCII digit, and bit i
/// set when it is a space; bit 16 set in both (the end of the 16 bytes stops any search).
/// Word arithmetic: the reference for [`masks16`], and what other targets use.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline(always)]
fn masks16_words(w0: u64, w1: u64) -> (u32, u32) {
    let nd = movemask(nondigits(w0)) | movemask(nondigits(w1)) << 8;
    let sp = movemask(spaces(w0)) | movemask(spaces(w1)) << 8;
    (nd | 1 << 16, sp | 1 << 16)
}

/// [`masks16_words`] with SSE2 (every x86_64 CPU has it, and rustc's x86_64 targets enable
/// it): one compare for the spaces, a subtraction, a minimum and a compare for the digits.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn masks16(w0: u64, w1: u64) -> (u32, u32) {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_set1_epi8, _mm_set_epi64x,
        _mm_sub_epi8,
    };
    // SAFETY: these intrinsics only compute on values (no memory access); they need SSE2,
    // which the `cfg` above requires to be enabled for the whole build.
    let (digits, sp) = unsafe {
        let v = _mm_set_epi64x(w1 as i64, w0 as i64);
        let sp = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8)));
        // A byte less '0' is at most 9 (unsigned) exactly when it is a digit.
        let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
        let digits = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
        (digits as u32, sp as u32)
    };
    (digits ^ 0x1_ffff, sp | 1 << 16)
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn masks16(w0: u64, w1: u64) -> (u32, u32) {
    masks16_words(w0, w1)
}

/// The shape of a dotted quad followed by a space: its non-digit bits up to the space (see
/// [`ipv4`]), the four left shifts that bring each octet's digits to the top of 32 bits (as
/// powers of two: each is below 32, so a multiplication shifts exactly), the places of its
/// three dots, and its length with the space.
#[derive(Clone, Copy)]
struct Shape {
    key: u32,
    shifts: [u32; 4],
    dots: [Small; 3],
    len: u8,
}

/// A number of 0..=16 as a byte the compiler knows the range of (a load of an enum carries
/// its valid values), so a position plus one needs no mask to stay provably small (see
/// [`WIN`]): an IPv4 shape's dot places are used as loaded, where each took a `& 15` before
/// (session 11: six instructions a line, 605.9 M to 602.6 M on the one-thread peer
/// benchmark). The shape's length keeps its mask: as a [`Small`], the compiler lost the
/// bound of the positions after it and masked every later load (+17 M).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[rustfmt::skip]
enum Small {
    N0 = 0, N1, N2, N3, N4, N5, N6, N7, N8, N9, N10, N11, N12, N13, N14, N15, N16,
}

impl Small {
    /// `n` as a [`Small`]; `n` must be at most 16 (const evaluation fails otherwise).
    const fn of(n: usize) -> Small {
        const ALL: [Small; 17] = {
            use Small::*;
            [
                N0, N1, N2, N3, N4, N5, N6, N7, N8, N9, N10, N11, N12, N13, N14, N15, N16,
            ]
        };
        ALL[n]
    }

    /// The number.
    #[inline(always)]
    const fn get(self) -> usize {
        self as usize
    }
}

/// The multiplier of [`SHAPES`]' perfect hash: the 81 shapes' keys (octets of 1..=3 digits)
/// land in distinct slots of 256 (found by a search; the table's construction fails to
/// compile if that ever stops being true).
const SHAPE_MUL: u32 = 0x3460_defd;

/// The slot of a shape key in [`SHAPES`].
#[inline(always)]
const fn shape_slot(key: u32) -> usize {
    (key.wrapping_mul(SHAPE_MUL) >> 24) as usize
}

/// The 81 dotted-quad shapes by [`shape_slot`]; the other slots have key 0, which no
/// classified address has (its key has at least the bit of its space, or bit 16).
const SHAPES: [Shape; 256] = {
    let mut t = [Shape {
        key: 0,
        shifts: [0; 4],
        dots: [Small::N0; 3],
        len: 0,
    }; 256];
    let mut i = 0;
    while i < 81 {
        // Digits of each octet, 1..=3.
        let n = [1 + i % 3, 1 + i / 3 % 3, 1 + i / 9 % 3, 1 + i / 27];
        let e1 = n[0];
        let e2 = e1 + 1 + n[1];
        let e3 = e2 + 1 + n[2];
        let e4 = e3 + 1 + n[3];
        let key = (1u32 << e1) | (1 << e2) | (1 << e3) | (1 << e4);
        // The first octet from the address's start (32 - 8n), the others from their dot
        // (24 - 8n: the dot is the word's low byte).
        // Each shift as its power of two, so that [`ipv4`] shifts by one multiplication with
        // the table entry as its operand (a shift by a loaded count takes three instructions).
        let shifts = [
            1 << (32 - 8 * n[0]),
            1 << (24 - 8 * n[1]),
            1 << (24 - 8 * n[2]),
            1 << (24 - 8 * n[3]),
        ];
        let slot = shape_slot(key);
        assert!(t[slot].key == 0, "SHAPE_MUL must place the 81 shapes apart");
        t[slot] = Shape {
            key,
            shifts,
            dots: [Small::of(e1), Small::of(e2), Small::of(e3)],
            len: e4 as u8 + 1,
        };
        i += 1;
    }
    t
};

/// A dotted-quad IPv4 address followed by a space at `p`: its octets and the length
/// including the space. The same values as `parse::ipv4_prefix` (1..=3 digits per octet,
/// leading zeros allowed, each at most 255).
///
/// The address and its space fit in 16 bytes, so two loads classify them all
/// ([`masks16`]): the non-digits up to the first space (the key) are exactly the dots and
/// the space of one of 81 shapes, which a perfect hash finds in [`SHAPES`] (a key that is no
/// shape's finds a slot whose key differs). No octet waits for the previous one's length:
/// each octet's digits are loaded again at their start and shifted to the top of 32 bits,
/// and two multiplications value two octets each.
#[inline(always)]
fn ipv4(win: &Window, p: usize) -> Option<([u8; 4], usize)> {
    let (w0, w1) = (ld(win, p), ld(win, p + 8));
    let (nd, sp) = masks16(w0, w1);
    // The non-digits up to and including the first space (or bit 16).
    let key = nd & (sp ^ sp.wrapping_sub(1));
    // By reference: the loads of the dots then carry `Small`'s range (a copy of the entry
    // lost it under some codegen-unit splits, which masked the three loads below).
    let shape = &SHAPES[shape_slot(key)];
    if shape.key != key {
        return None;
    }
    // At most 11 and 16: their type shows the compiler (positions stay provably small).
    let dot = |k: usize| shape.dots[k].get();
    let len = usize::from(shape.len & 31);
    // Shifts by multiplication (every shift is below 32, so the same bits).
    let shift = |k: usize| shape.shifts[k];
    // Each octet's digit values at the top of 32 bits (`[0, h, t, o]` from the low byte, a
    // missing leading digit as 0). The first: the address's first word less '0' per byte,
    // shifted left (the bytes past the digits leave; borrows only travel upwards, from
    // them). The others: the word at the dot before them, less '.' in its first byte (0
    // then, no borrow) and '0' in the others, shifted left.
    let t1 = (w0 as u32).wrapping_sub(0x3030_3030).wrapping_mul(shift(0));
    let at = |e: usize| (ld(win, p + e) as u32).wrapping_sub(0x3030_302e);
    let (a2, a3, a4) = (at(dot(0)), at(dot(1)), at(dot(2)));
    // The separators are dots exactly when the low bytes are 0 (no borrow reaches them).
    if (a2 | a3 | a4) & 0xff != 0 {
        return None;
    }
    let after = |a: u32, k: usize| a.wrapping_mul(shift(k));
    let x12 = u64::from(t1) | u64::from(after(a2, 1)) << 32;
    let x34 = u64::from(after(a3, 2)) | u64::from(after(a4, 3)) << 32;
    // Byte-swapped, each 32-bit half reads `h t o` as a base-256 number that compares like
    // the octet (below 2^24): at most 2,5,5, else the added constant reaches the half's top.
    const OVER: u64 = (0x8000_0000 - 0x02_05_05 - 1) * 0x1_0000_0001;
    if ((x12.swap_bytes().wrapping_add(OVER)) | (x34.swap_bytes().wrapping_add(OVER)))
        & 0x8000_0000_8000_0000
        != 0
    {
        return None;
    }
    // Hundreds, tens and ones in bytes 0..=2 of each half: one multiplication gathers
    // 100h + 10t + o in byte 2 of each half (at most 255; the low half's carries reach byte
    // 5 at most, below the high half's result).
    const MUL: u64 = 1 + (10 << 8) + (100 << 16);
    let v12 = (x12 >> 8).wrapping_mul(MUL);
    let v34 = (x34 >> 8).wrapping_mul(MUL);
    // Octets 1, 3, 2, 4 in bytes 0, 2, 4, 6, then 2 and 4 folded into bytes 1 and 3.
    let z = (v12 >> 16) & 0x0000_00ff_0000_00ff | v34 & 0x00ff_0000_00ff_0000;
    Some((((z | z >> 24) as u32).to_le_bytes(), len))
}

/// An address (IPv4 in one pass, else through the general parser's `addr`) or `-`.
#[inline(always)]
fn addr_field(win: &Window, p: &mut usize, out: impl FnOnce(Option<IpAddr>)) -> Option<()> {
    // Handed to the target at once: a returned `Option<IpAddr>` went through the stack.
    if let Some((a, len)) = ipv4(win, *p) {
        *p += len;
        out(Some(IpAddr::V4(Ipv4Addr::from(a))));
        return Some(());
    }
    let (v, len) = addr_token(win, *p)?;
    // At most MAX_TOKEN + 1: the minimum shows the compiler, so later positions stay
    // provably small (see `WIN`; a mask of 127 left too little room by the line's end).
    *p += len.min(MAX_TOKEN + 1);
    out(v);
    Some(())
}

/// [`addr_field`] past an IPv4 address: `-` or any other address, through the general
/// parser's `addr` (kept out of line), and the length with the space.
#[inline(never)]
fn addr_token(win: &Window, p: usize) -> Option<(Option<IpAddr>, usize)> {
    let mut q = p;
    let v = token(win, &mut q)?;
    debug_assert!(q - p <= MAX_TOKEN + 1);
    if v == b"-" {
        return Some((None, q - p));
    }
    addr(v).ok().map(|a| (Some(a), q - p))
}

/// The usual end of a buffered line, `ACCEPT OK` or `REJECT OK` and `\n`, from two loads:
/// the action and the length through the newline. `None` for any other end (and always
/// without `BUFFERED`), which [`action_field`] and [`status_field`] then read.
#[inline(always)]
fn tail<const BUFFERED: bool>(win: &Window, p: usize) -> Option<(Option<Action>, usize)> {
    const ACCEPT_O: u64 = word(b"ACCEPT O");
    const REJECT_O: u64 = word(b"REJECT O");
    const K_NL: u16 = u16::from_le_bytes(*b"K\n");
    if !BUFFERED || ld(win, p + 8) as u16 != K_NL {
        return None;
    }
    match ld(win, p) {
        ACCEPT_O => Some((Some(Action::Accept), p + 10)),
        REJECT_O => Some((Some(Action::Reject), p + 10)),
        _ => None,
    }
}

/// `action` or `-`, followed by a space.
#[inline(always)]
fn action_field(win: &Window, p: &mut usize) -> Option<Option<Action>> {
    let w = ld(win, *p);
    let (action, len) = match w & LOW7 {
        ACCEPT => (Some(Action::Accept), 7),
        REJECT => (Some(Action::Reject), 7),
        _ if w & 0xffff == DASH => (None, 2),
        _ => return None,
    };
    *p += len;
    Some(action)
}

/// `log-status` or `-` at `p`, and its length (what follows is the caller's to check).
#[inline(always)]
fn status_field(win: &Window, p: usize) -> Option<(Option<LogStatus>, usize)> {
    const OK: u64 = word(b"OK");
    const NODATA: u64 = word(b"NODATA");
    const SKIPDATA: u64 = word(b"SKIPDATA");
    let w = ld(win, p);
    if w & 0xffff == OK {
        Some((Some(LogStatus::Ok), 2))
    } else if w & 0xff == u64::from(b'-') {
        Some((None, 1))
    } else if w & 0xffff_ffff_ffff == NODATA {
        Some((Some(LogStatus::NoData), 6))
    } else if w == SKIPDATA {
        Some((Some(LogStatus::SkipData), 8))
    } else {
        None
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

    /// The short-field paths of `int_field` (one digit, two digits and a space) against its
    /// word-at-a-time path alone, for every first two bytes and a set of third and fourth
    /// bytes: the same value and position, or both decline.
    #[test]
    fn short_int_field_equals_word_path() {
        let thirds = [
            b' ', b'0', b'9', b'\t', 0, 0x1f, 0x21, 0x7f, 0x80, 0xff, b'/', b':',
        ];
        let mut win = [0u8; WIN + 8];
        for b0 in 0..=255u8 {
            for b1 in 0..=255u8 {
                for &b2 in &thirds {
                    for &b3 in b" 5" {
                        win[..4].copy_from_slice(&[b0, b1, b2, b3]);
                        for max in [u8::MAX.into(), u64::MAX] {
                            let (mut p, mut q) = (0, 0);
                            let short = int_field::<true>(&win, &mut p, max);
                            let plain = int_field::<false>(&win, &mut q, max);
                            assert_eq!(short, plain, "{:?} max {max}", [b0, b1, b2, b3]);
                            if short.is_some() {
                                assert_eq!(p, q, "{:?}", [b0, b1, b2, b3]);
                            }
                        }
                    }
                }
            }
        }
    }

    /// `times` against `time_field` twice (which values each field on its own), over every
    /// pair of last two digits and a few first eight.
    #[test]
    fn times_equal_time_fields() {
        let mut win = [0u8; WIN + 8];
        for (s8, e8) in [
            ("17000000", "17000000"),
            ("17000000", "17000001"),
            ("99999999", "10000000"),
        ] {
            for a in 0..100 {
                for b in (0..100).step_by(7) {
                    let line = format!("{s8}{a:02} {e8}{b:02} ACCEPT OK");
                    win[..line.len()].copy_from_slice(line.as_bytes());
                    let (mut p, mut q) = (0, 0);
                    let both = times(&win, &mut p);
                    let mut first8 = (u64::MAX, 0);
                    let s = time_field(&win, &mut q, &mut first8);
                    let e = time_field(&win, &mut q, &mut first8);
                    assert_eq!(both, s.flatten().zip(e.flatten()), "{line}");
                    assert_eq!(p, q, "{line}");
                }
            }
        }
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

        // The buffered entry point: the same line ended by `\n` or `\r\n` in a larger buffer
        // takes the fast path exactly when the line the reader would cut (one `\r` trimmed)
        // does, with the same record and interner.
        let fresh = || {
            let mut i = Interner::new();
            for n in KNOWN {
                i.intern(n.as_bytes());
            }
            i
        };
        for ending in [&b"\n"[..], b"\r\n"] {
            let cut = if ending == b"\n" {
                line.strip_suffix(b"\r").unwrap_or(line)
            } else {
                line
            };
            let (mut i_line, mut r_line) = (fresh(), dirty_record());
            let fast = parse_v2(cut, &mut i_line, max_enis, &mut r_line);
            let (mut i_cut, mut r_cut) = (fresh(), dirty_record());
            let general = parse_line_general(cut, 7, &v2, &mut i_cut, max_enis, &mut r_cut);
            if fast {
                assert!(general.is_ok());
                assert_eq!(r_line, r_cut);
                assert_eq!(i_line.names(), i_cut.names());
            }
            let mut buf = line.to_vec();
            buf.extend_from_slice(ending);
            buf.extend_from_slice(&[b'7'; WIN + 8]);
            let (mut i_buf, mut r_buf) = (fresh(), dirty_record());
            let used = parse_v2_buffered(
                &buf,
                &mut i_buf,
                max_enis,
                &mut r_buf,
                &mut Cache::default(),
            );
            assert_eq!(
                used,
                fast.then_some(line.len() + ending.len()),
                "{:?}",
                String::from_utf8_lossy(line)
            );
            if fast {
                assert_eq!(r_buf, r_cut);
                assert_eq!(i_buf.names(), i_cut.names());
            }
        }
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
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1700000000 1700000060 ACCEPT OK",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1799999999 1800000000 ACCEPT OK",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 0000000000 9999999999 ACCEPT OK",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 17000000001 170000000 ACCEPT OK",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1700000000 - ACCEPT OK",
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
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1700000000x 2 ACCEPT OK",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1700000000 1700000000\tACCEPT OK",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 17000000:0 1 ACCEPT OK",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1700000000 170000000/ ACCEPT OK",
            "",
            "2",
        ] {
            // max_enis 3: `eni-b` is over the limit (three names are known).
            let _ = both(line.as_bytes(), 3);
        }
    }

    /// What [`masks16`] must give for `bytes`, byte by byte.
    fn masks_of(bytes: &[u8; 16]) -> (u32, u32) {
        let bits = |f: &dyn Fn(u8) -> bool| {
            (0..16)
                .filter(|&i| f(bytes[i]))
                .fold(1 << 16, |m, i| m | 1 << i)
        };
        (bits(&|c| !c.is_ascii_digit()), bits(&|c| c == b' '))
    }

    fn words(bytes: &[u8; 16]) -> (u64, u64) {
        let (a, b) = bytes.split_at(8);
        let w = |h: &[u8]| u64::from_le_bytes(h.try_into().unwrap());
        (w(a), w(b))
    }

    #[test]
    fn masks_are_exact() {
        for b in 0..=255u8 {
            for at in 0..16 {
                for base in [
                    *b"0a9/:.x 1.2.3.4 ",
                    *b" 99\xff\xb0\x00 ;:/09 . \x80",
                    [b'9'; 16],
                ] {
                    let mut bytes = base;
                    bytes[at] = b;
                    let (w0, w1) = words(&bytes);
                    assert_eq!(masks16_words(w0, w1), masks_of(&bytes), "{bytes:?}");
                    assert_eq!(masks16(w0, w1), masks_of(&bytes), "{bytes:?}");
                }
            }
        }
        for m in 0..=255u32 {
            let nd = (0..8)
                .filter(|i| m >> i & 1 == 1)
                .map(|i| 0x80u64 << (8 * i))
                .sum();
            assert_eq!(movemask(nd), m);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]
        /// The SSE2 check of two ten-digit times equals the byte-by-byte one, on bytes that
        /// are mostly in shape.
        #[test]
        fn ten_ten_equals_bytewise(
            mut bytes in proptest::array::uniform24(proptest::sample::select(&b"0123456789"[..])),
            edits in proptest::collection::vec((0usize..24, proptest::sample::select(
                &b" 09/:\x00\x10\x20\x2f\x3a\x80\xb0\xb9\xba\xf0\xff"[..])), 0..4),
            spaces in proptest::bool::weighted(0.8),
        ) {
            if spaces {
                bytes[10] = b' ';
                bytes[21] = b' ';
            }
            for (at, b) in edits {
                bytes[at] = b;
            }
            let w = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
            let words = [w(0), w(8), w(6), w(14)];
            prop_assert_eq!(ten_ten(words), ten_ten_bytes(words));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]
        /// Two words of eight digits valued at once, against [`swar8`] of each.
        #[test]
        fn eight_digits_x2_equals_swar8(
            a in proptest::array::uniform8(b'0'..=b'9'),
            b in proptest::array::uniform8(b'0'..=b'9'),
        ) {
            let (a, b) = (u64::from_le_bytes(a), u64::from_le_bytes(b));
            prop_assert_eq!(eight_digits_x2(a, b), eight_digits_x2_words(a, b));
        }
    }

    #[test]
    fn eight_digits_x2_extremes() {
        let nines = u64::from_le_bytes(*b"99999999");
        let zeros = u64::from_le_bytes(*b"00000000");
        let mixed = u64::from_le_bytes(*b"17356895");
        assert_eq!(eight_digits_x2(nines, zeros), (99_999_999, 0));
        assert_eq!(eight_digits_x2(zeros, nines), (0, 99_999_999));
        assert_eq!(eight_digits_x2(mixed, nines), (17_356_895, 99_999_999));
        assert_eq!(
            eight_digits_x2(mixed, mixed),
            eight_digits_x2_words(mixed, mixed)
        );
    }

    #[test]
    fn shapes_are_the_81_dotted_quads() {
        let mut n = 0;
        for (slot, s) in SHAPES.iter().enumerate() {
            if s.key == 0 {
                continue;
            }
            n += 1;
            assert_eq!(shape_slot(s.key), slot);
            let e4 = usize::from(s.len) - 1;
            let bits = [s.dots[0].get(), s.dots[1].get(), s.dots[2].get(), e4];
            assert_eq!(s.key, bits.iter().fold(0, |k, &e| k | 1 << e));
            assert!((1..=3).contains(&s.dots[0].get()));
        }
        assert_eq!(n, 81);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]
        #[test]
        fn masks_equal_bytewise(bytes in proptest::array::uniform16(
            proptest::sample::select(&b" .09/:\x00\x20\x2f\x3a\x80\xb0\xb9\xba\xff"[..]))) {
            let (w0, w1) = words(&bytes);
            prop_assert_eq!(masks16_words(w0, w1), masks_of(&bytes));
            prop_assert_eq!(masks16(w0, w1), masks_of(&bytes));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]
        /// The two-word IPv4 parse gives what the general parser's `ipv4_prefix` gives on any
        /// address followed by a space, and never accepts what it would not.
        #[test]
        fn ipv4_equals_the_general_parser(
            a in address(),
            tail in proptest::collection::vec(any::<u8>(), 0..20),
            edit in proptest::option::weighted(0.2, (any::<proptest::sample::Index>(),
                proptest::sample::select(&b" .09/:\x00\xb0\xba\xff"[..]))),
        ) {
            let mut line = b"2 1 eni-a ".to_vec();
            line.extend_from_slice(a.as_bytes());
            line.push(b' ');
            line.extend_from_slice(&tail);
            if let Some((at, b)) = edit {
                let i = 10 + at.index(line.len() - 10);
                line[i] = b;
            }
            let mut win = [0u8; WIN + 8];
            win[..line.len()].copy_from_slice(&line);
            let want = crate::flowlog::parse::ipv4_prefix(&line[10..])
                .filter(|&(_, len)| line.get(10 + len) == Some(&b' '))
                .map(|(a, len)| (a.octets(), len + 1));
            prop_assert_eq!(ipv4(&win, 10), want);
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
            counts in proptest::collection::vec(int_below(u64::MAX), 2),
            times in prop_oneof![
                2 => proptest::collection::vec(int_below(u64::MAX), 2),
                // Ten-digit times, the end often sharing the start's first eight digits.
                3 => (1_000_000_000u64..10_000_000_000, 0u64..400)
                    .prop_map(|(s, d)| vec![s.to_string(), (s + d).to_string()]),
            ],
            action in word_of(&["ACCEPT", "REJECT", "-"]),
            status in word_of(&["OK", "NODATA", "SKIPDATA", "-"]),
        ) -> Vec<String> {
            let mut f = vec![version, account, eni, src, dst];
            f.extend(ports);
            f.push(protocol);
            f.extend(counts);
            f.extend(times);
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        /// Lines read one after another through one cache (as the reader does) give what the
        /// general parser gives for each, whatever versions and accounts come before.
        #[test]
        fn cached_heads_change_nothing(
            lines in proptest::collection::vec(
                (v2_line(), proptest::sample::select(&[
                    "123456789012", "123456789013", "12345678901", "1234567890123", "123456789",
                    "12345678901234", "123456789012345", "123456789012x", "1234567890 12",
                    "unknown", "-", "1", "1234567", "12345678", "0012345678901",
                ][..]), proptest::sample::select(&[
                    "2", "3", "22", "255", "256", "002", "-", "x", "",
                ][..])),
                1..6),
        ) {
            let v2 = Format::v2();
            let mut cache = Cache::default();
            let (mut i_buf, mut i_gen) = (Interner::new(), Interner::new());
            for (mut fields, account, version) in lines {
                fields[1] = account.to_string();
                fields[0] = version.to_string();
                let line = fields.join(" ");
                let mut r_gen = dirty_record();
                let general =
                    parse_line_general(line.as_bytes(), 7, &v2, &mut i_gen, 1000, &mut r_gen);
                let mut buf = line.clone().into_bytes();
                buf.push(b'\n');
                buf.extend_from_slice(&[b' '; WIN + 8]);
                let mut r_buf = dirty_record();
                let used = parse_v2_buffered(&buf, &mut i_buf, 1000, &mut r_buf, &mut cache);
                if used.is_some() {
                    prop_assert_eq!(used, Some(line.len() + 1));
                    prop_assert!(general.is_ok());
                    prop_assert_eq!(&r_buf, &r_gen);
                } else {
                    // Keep the interners in step, as the reader's general route would.
                    let mut r = dirty_record();
                    let _ = parse_line(line.as_bytes(), 7, &v2, &mut i_buf, 1000, &mut r);
                }
                prop_assert_eq!(i_buf.names(), i_gen.names());
            }
        }
    }
}
