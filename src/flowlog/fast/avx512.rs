//! The default-v2 line parse with AVX-512 (session 11): a line's whole structure from two
//! 64-byte loads, and every integer and IPv4 octet valued at once, with no field waiting for
//! the one before it.
//!
//! The scalar parse ([`super::parse`]) reads a line as one chain of 8-byte words, each field's
//! place waiting for the previous field's length, at ≈ 437 instructions a line on the peer
//! benchmark. With AVX-512 (F, BW, VBMI, VBMI2) the places are found first and all at once:
//!
//! 1. Two 64-byte loads; byte compares give 128-bit masks of the spaces, the dots and every
//!    byte up to 0x20. The line must end in `\n` within 128 bytes, with no byte up to 0x20
//!    before it but spaces. Spaces and dots together are the separators of 20 tokens (the
//!    version, the account, the interface id, four octets per address, the two ports, the
//!    protocol, packets, bytes, start, end, the action, the status): there must be exactly 19,
//!    and `pext` of the dot mask by the separator mask must put the dots exactly inside the
//!    two addresses.
//! 2. `vpcompressb` of the byte positions under the separator mask gives every token's end in
//!    one instruction per 64 bytes (the SSE2 version of this step, in session 3, extracted the
//!    thirteen field ends one by one and cost ≈ 220 more instructions a line than it saved);
//!    one byte permutation more gives every token's start (the previous end plus one). The
//!    ends and starts form one 64-byte table of positions.
//! 3. One `vpermb` per vector places each number's end and start in every byte of its lane:
//!    the seven integer fields right-aligned in 8-byte lanes (the digits before the last
//!    eight of `bytes`, `start` and `end` in a second lane each), the eight octets of the two
//!    addresses in 4-byte lanes. A `vpermi2b` over the line's 128 bytes then gathers each
//!    lane's digits, bytes before the number's start are zeroed, every other byte must be a
//!    digit, and `vpmaddubsw`, `vpmaddwd` and `vpmuludq` value all lanes together.
//! 4. Lengths (each token at least one byte; ports at most 5 digits, the protocol 3, packets
//!    8, bytes and the times 15; octets 1..=3) and values (ports at most 65,535, the protocol
//!    and the octets at most 255) are checked by vector compares.
//!
//! Only then, with no side effect before, the line's head (`version` and `account-id`, the
//! scalar parse's cached comparison), its interface id (the scalar parse's interning) and its
//! usual end (`ACCEPT OK` or `REJECT OK`) are read by the scalar code at the places found, and
//! the fields written into the target.
//!
//! The lines this parse takes are a subset of those the scalar parse takes, with the same
//! values: anything else (IPv6, `-` fields, NODATA and SKIPDATA lines, long numbers, a `\r`,
//! lines past 127 bytes, a refusing target) is declined, with no side effect but the ones the
//! scalar parse makes in the same order (the head cache, the interface id's interning), and
//! the scalar parse then decides the line, so the result is the same as without this module.
//! A property test checks this against the scalar parse on valid and corrupted lines.
//!
//! Used when the CPU has the features (checked at run time, once); `FLOWVIGIL_NO_AVX512` set
//! to anything in the environment turns it off (for comparisons). Its tests skip, with a
//! notice, on a CPU without them, unless `FLOWVIGIL_REQUIRE_AVX512` is set (`.ci/run` sets it
//! where `/proc/cpuinfo` lists `avx512_vbmi2`).

use std::arch::x86_64::{
    __m512i, _mm512_add_epi64, _mm512_add_epi8, _mm512_castsi512_si128, _mm512_castsi512_si256,
    _mm512_cmpeq_epi8_mask, _mm512_cmpge_epu8_mask, _mm512_cmpgt_epu32_mask,
    _mm512_cmpgt_epu64_mask, _mm512_cmple_epu8_mask, _mm512_cvtepi32_epi8,
    _mm512_extracti32x4_epi32, _mm512_inserti64x4, _mm512_loadu_si512, _mm512_madd_epi16,
    _mm512_maddubs_epi16, _mm512_mask_add_epi8, _mm512_mask_set1_epi8, _mm512_maskz_add_epi8,
    _mm512_maskz_compress_epi8, _mm512_maskz_mov_epi8, _mm512_maskz_permutexvar_epi8,
    _mm512_mul_epu32, _mm512_permutex2var_epi8, _mm512_permutexvar_epi8, _mm512_set1_epi16,
    _mm512_set1_epi32, _mm512_set1_epi64, _mm512_set1_epi8, _mm512_srli_epi64, _mm512_storeu_si512,
    _mm512_sub_epi8, _mm512_subs_epu8, _mm_cvtsi128_si64, _mm_extract_epi8, _pext_u64,
};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use super::{eni_field, head_fields, parse, run_lines, tail, Cache, V2Target, Window, RUN};
use crate::flowlog::intern::Interner;
use crate::flowlog::record::LogStatus;

/// Whether this CPU has what [`parse_v2_run`] needs and `FLOWVIGIL_NO_AVX512` is not set
/// (decided once per process).
pub(super) fn available() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("FLOWVIGIL_NO_AVX512").is_none()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vbmi")
            && std::arch::is_x86_feature_detected!("avx512vbmi2")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("popcnt")
    })
}

/// [`super::parse_v2_run`] with each line tried by [`line`] first, then (declined) by the
/// scalar parse, which then decides it exactly as without this module.
///
/// # Safety
/// The CPU must have the features [`available`] checks.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2,bmi1,bmi2,popcnt")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn parse_v2_run<T: V2Target>(
    buf: &[u8],
    start: usize,
    targets: &mut [T],
    ends: &mut [usize; RUN],
    by_status: &mut [u64; 4],
    interner: &mut Interner,
    max_enis: usize,
    cache: &mut Cache,
) -> usize {
    run_lines(buf, start, targets, ends, by_status, |win, target| {
        line::<true, T>(win, interner, max_enis, target, cache)
            .or_else(|| parse::<true, T>(win, 0, interner, max_enis, target, cache))
    })
}

/// [`super::parse_v2_buffered`] with the line tried by [`line`] first, then (declined) by the
/// scalar parse.
///
/// # Safety
/// The CPU must have the features [`available`] checks.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2,bmi1,bmi2,popcnt")]
pub(super) unsafe fn parse_v2_buffered<T: V2Target>(
    win: &Window,
    interner: &mut Interner,
    max_enis: usize,
    target: &mut T,
    cache: &mut Cache,
) -> Option<usize> {
    line::<false, T>(win, interner, max_enis, target, cache)
        .or_else(|| parse::<true, T>(win, 0, interner, max_enis, target, cache))
}

/// A 64-byte vector of constant bytes.
const fn bytes(b: [u8; 64]) -> __m512i {
    // SAFETY: 64 bytes to a 64-byte plain-data vector type.
    unsafe { std::mem::transmute::<[u8; 64], __m512i>(b) }
}

// The line as 20 tokens, each ended by a separator (a space, a dot or the newline): the
// version, the account, the interface id, the source address's four octets, the destination's
// four, the two ports, the protocol, packets, bytes, start, end, the action and the status.
// The table of positions (`pos` in `line`) holds each token's end (its separator's place) at
// entry `t` (entries 20..32 are 0) and its start (the previous separator's place plus one, 0
// for the first) at entry `START + t`.
const START: u8 = 32;
/// Tokens (and separators) in a usual line.
const TOKENS: u32 = 20;
/// Which of the 19 separators before the newline are dots (the others are spaces): the three
/// inside each address.
const DOTS: u64 = 0b111 << 3 | 0b111 << 7;
/// Tokens: the first source octet, the first destination octet, the source port and so on.
const SRC: u8 = 3;
const DST: u8 = 7;
const SPORT: u8 = 11;
const END_TIME: u8 = 17;
const ACTION: u8 = 18;

/// One number gathered into a lane: the table entries of its end and its start, and how many
/// places before its end the lane's first byte lies (its width, or its width plus 8 for the
/// digits before a number's last eight).
#[derive(Clone, Copy)]
struct Item {
    end: u8,
    start: u8,
    back: u8,
}

/// A lane no number uses: its end is entry 31 (0), so no byte is at or past its start.
const NONE: Item = Item {
    end: 31,
    start: START + SRC,
    back: 0,
};

/// Token `t` in a lane that reaches `back` places before its end.
const fn token(t: u8, back: u8) -> Item {
    Item {
        end: t,
        start: START + t,
        back,
    }
}

/// The integer lanes, 8 bytes each: `srcport`, `dstport`, `protocol`, `packets`, `bytes`
/// (its last eight digits, then the ones before), `start` (the same).
const INTS: [Item; 8] = [
    token(SPORT, 8),
    token(SPORT + 1, 8),
    token(SPORT + 2, 8),
    token(SPORT + 3, 8),
    token(SPORT + 4, 8),
    token(SPORT + 4, 16),
    token(SPORT + 5, 8),
    token(SPORT + 5, 16),
];

/// The octet lanes, 4 bytes each (the eight octets, source first), then `end` in two 8-byte
/// lanes (its last eight digits, then the ones before) and two unused 8-byte lanes.
const OCTETS: [Item; 8] = [
    token(SRC, 4),
    token(SRC + 1, 4),
    token(SRC + 2, 4),
    token(SRC + 3, 4),
    token(DST, 4),
    token(DST + 1, 4),
    token(DST + 2, 4),
    token(DST + 3, 4),
];
const END_LANES: [Item; 4] = [token(END_TIME, 8), token(END_TIME, 16), NONE, NONE];

/// The three constant vectors of a gather: lanes of `width` bytes for the items of `a`, then
/// of `width_b` bytes for those of `b`, 64 bytes in all. For each byte: its number's end entry,
/// its start entry, and how far before the end it lies (`back` less its place in the lane).
const fn gather(a: &[Item], width: usize, b: &[Item], width_b: usize) -> [__m512i; 3] {
    assert!(
        a.len() * width + b.len() * width_b == 64,
        "the lanes must fill the vector"
    );
    let (mut e, mut s, mut back) = ([0u8; 64], [0u8; 64], [0u8; 64]);
    let mut j = 0;
    while j < 64 {
        let (item, k) = if j < a.len() * width {
            (a[j / width], j % width)
        } else {
            let i = j - a.len() * width;
            (b[i / width_b], i % width_b)
        };
        e[j] = item.end;
        s[j] = item.start;
        back[j] = item.back.saturating_sub(k as u8);
        j += 1;
    }
    [bytes(e), bytes(s), bytes(back)]
}

const INT_GATHER: [__m512i; 3] = gather(&INTS, 8, &[], 0);
const OCT_GATHER: [__m512i; 3] = gather(&OCTETS, 4, &END_LANES, 8);

/// The lengths checked, one per token (end less start): the token's length less its minimum
/// must be at most its range. Every token takes at least one byte; the numbers at most what
/// their lanes hold (and what the scalar parse takes: 15 digits), an octet at most 3.
const LENGTHS: [__m512i; 4] = {
    let (mut e, mut s, mut min, mut range) = ([31u8; 64], [START; 64], [0u8; 64], [255u8; 64]);
    let max = [
        255, 255, 255, 3, 3, 3, 3, 3, 3, 3, 3, 5, 5, 3, 8, 15, 15, 15, 255, 255,
    ];
    let mut t = 0;
    while t < TOKENS as usize {
        e[t] = t as u8;
        s[t] = START + t as u8;
        min[t] = 1;
        range[t] = max[t] - 1;
        t += 1;
    }
    [bytes(e), bytes(s), bytes(min), bytes(range)]
};
/// The entries of [`LENGTHS`] in use.
const LENGTHS_USED: u64 = (1 << TOKENS) - 1;

/// 0, 1, ..., 63.
const IOTA: __m512i = {
    let mut b = [0u8; 64];
    let mut j = 0;
    while j < 64 {
        b[j] = j as u8;
        j += 1;
    }
    bytes(b)
};

/// For the starts: entry `i` takes entry `i - 1` (entry 0 is zeroed).
const PREVIOUS: __m512i = {
    let mut b = [0u8; 64];
    let mut j = 1;
    while j < 64 {
        b[j] = j as u8 - 1;
        j += 1;
    }
    bytes(b)
};

/// The largest value of each integer lane: the ports 65,535, the protocol 255.
const INT_MAX: __m512i = {
    let max: [u64; 8] = [
        65_535,
        65_535,
        255,
        u64::MAX,
        u64::MAX,
        u64::MAX,
        u64::MAX,
        u64::MAX,
    ];
    // SAFETY: 64 bytes to a 64-byte plain-data vector type.
    unsafe { std::mem::transmute::<[u64; 8], __m512i>(max) }
};

/// The positions of the set bits of `m0` (bytes 0..64; `k0` of them) then of `m1` (bytes
/// 64..128), in order, from byte 0 of the result; zero past them.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2,popcnt")]
#[inline]
fn positions(m0: u64, m1: u64, k0: u32) -> __m512i {
    let lo = _mm512_maskz_compress_epi8(m0, IOTA);
    let hi = _mm512_maskz_compress_epi8(m1, _mm512_add_epi8(IOTA, _mm512_set1_epi8(64)));
    // Byte i takes `lo[i]` below `lo`'s count k, else `hi[i - k]` (index 64 + i - k).
    let k = k0 as i8;
    let upper = _mm512_cmpge_epu8_mask(IOTA, _mm512_set1_epi8(k));
    let idx = _mm512_mask_add_epi8(IOTA, upper, IOTA, _mm512_set1_epi8(64 - k));
    _mm512_permutex2var_epi8(lo, idx, hi)
}

/// Gathers the digits of the numbers `g` describes from the line's bytes (`v0`, `v1`) by the
/// table of positions `pos`: each lane's bytes as digit values, zero before the number's
/// start. `None` when a byte of a number is not a digit.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
#[inline]
fn digits(v0: __m512i, v1: __m512i, pos: __m512i, g: &[__m512i; 3]) -> Option<__m512i> {
    let [e, s, b] = *g;
    // The place of each byte: its number's end less `back` (saturating: a place before the
    // line's start is 0, which is before every number's start).
    let at = _mm512_subs_epu8(_mm512_permutexvar_epi8(e, pos), b);
    let inside = _mm512_cmpge_epu8_mask(at, _mm512_permutexvar_epi8(s, pos));
    let d = _mm512_sub_epi8(
        _mm512_permutex2var_epi8(v0, at, v1),
        _mm512_set1_epi8(b'0' as i8),
    );
    let digit = _mm512_cmple_epu8_mask(d, _mm512_set1_epi8(9));
    if inside & !digit != 0 {
        return None;
    }
    Some(_mm512_maskz_mov_epi8(inside, d))
}

/// Each 4-byte lane's four digit values (the first the most significant) as one number.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn quads(d: __m512i) -> __m512i {
    let pairs = _mm512_maddubs_epi16(d, _mm512_set1_epi16(0x010a));
    _mm512_madd_epi16(pairs, _mm512_set1_epi32(0x0001_0064))
}

/// Each 8-byte lane's two quads (from [`quads`], the first the most significant) as one number.
#[target_feature(enable = "avx512f")]
#[inline]
fn octs(q: __m512i) -> __m512i {
    _mm512_add_epi64(
        _mm512_mul_epu32(q, _mm512_set1_epi64(10_000)),
        _mm512_srli_epi64::<32>(q),
    )
}

/// One default-v2 line at the start of `win` (see the module docs): its length with the
/// newline, the fields written into `rec`; `None` when the scalar parse must decide (with no
/// side effect the scalar parse would not make in the same order). `RUN` tells the two
/// callers' copies apart, so that each is the only caller of its copy and inlines it (with
/// two callers the compiler kept one out-of-line copy: a call, and the constant vectors
/// loaded again, for every line).
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2,bmi1,bmi2,popcnt")]
#[inline]
fn line<const RUN: bool, T: V2Target>(
    win: &Window,
    interner: &mut Interner,
    max_enis: usize,
    rec: &mut T,
    cache: &mut Cache,
) -> Option<usize> {
    // SAFETY: `win` holds WIN + 8 = 520 bytes; the loads read the first 128 (unaligned loads).
    let (v0, v1) = unsafe {
        (
            _mm512_loadu_si512(win.as_ptr().cast()),
            _mm512_loadu_si512(win.as_ptr().add(64).cast()),
        )
    };
    let space = _mm512_set1_epi8(b' ' as i8);
    let dot = _mm512_set1_epi8(b'.' as i8);
    let (sp0, sp1) = (
        _mm512_cmpeq_epi8_mask(v0, space),
        _mm512_cmpeq_epi8_mask(v1, space),
    );
    // The line ends at the first byte up to 0x20 that is not a space: it must be `\n`.
    let stop0 = _mm512_cmple_epu8_mask(v0, space) & !sp0;
    let stop1 = _mm512_cmple_epu8_mask(v1, space) & !sp1;
    let len = if stop0 != 0 {
        stop0.trailing_zeros() as usize
    } else if stop1 != 0 {
        64 + stop1.trailing_zeros() as usize
    } else {
        return None;
    };
    if win.get(len) != Some(&b'\n') {
        return None;
    }
    // The separators below the newline: 19 of them, the dots exactly those of `DOTS`.
    let (dt0, dt1) = (
        _mm512_cmpeq_epi8_mask(v0, dot),
        _mm512_cmpeq_epi8_mask(v1, dot),
    );
    let (s0, s1) = if len < 64 {
        ((sp0 | dt0) & ((1u64 << len) - 1), 0)
    } else {
        (sp0 | dt0, (sp1 | dt1) & ((1u64 << (len - 64)) - 1))
    };
    let k0 = s0.count_ones();
    if k0 + s1.count_ones() != TOKENS - 1 || _pext_u64(dt0, s0) | _pext_u64(dt1, s1) << k0 != DOTS {
        return None;
    }
    // The table of positions (see `START`): the ends, with the newline's as the last.
    let ends = _mm512_mask_set1_epi8(positions(s0, s1, k0), 1 << (TOKENS - 1), len as i8);
    let used = (1 << TOKENS) - 2;
    let starts = _mm512_maskz_add_epi8(
        used,
        _mm512_maskz_permutexvar_epi8(used, PREVIOUS, ends),
        _mm512_set1_epi8(1),
    );
    let pos = _mm512_inserti64x4::<1>(ends, _mm512_castsi512_si256(starts));
    // Every token at least one byte, the numbers within their lanes, octets of 1..=3 digits.
    let [le, ls, lmin, lrange] = LENGTHS;
    let lens = _mm512_sub_epi8(
        _mm512_permutexvar_epi8(le, pos),
        _mm512_permutexvar_epi8(ls, pos),
    );
    if !_mm512_cmple_epu8_mask(_mm512_sub_epi8(lens, lmin), lrange) & LENGTHS_USED != 0 {
        return None;
    }
    let ints = octs(quads(digits(v0, v1, pos, &INT_GATHER)?));
    let oq = quads(digits(v0, v1, pos, &OCT_GATHER)?);
    if _mm512_cmpgt_epu64_mask(ints, INT_MAX) != 0
        || _mm512_cmpgt_epu32_mask(oq, _mm512_set1_epi32(255)) & 0xff != 0
    {
        return None;
    }
    let mut v = [0u64; 8];
    let mut e = [0u64; 8];
    // SAFETY: two 64-byte stores into 64-byte arrays (unaligned stores).
    unsafe {
        _mm512_storeu_si512(v.as_mut_ptr().cast(), ints);
        _mm512_storeu_si512(e.as_mut_ptr().cast(), octs(oq));
    }
    // The eight octets' low bytes, in order: the source address's four, then the destination's.
    let octets = _mm_cvtsi128_si64(_mm512_cvtepi32_epi8(oq)) as u64;

    // The scalar parts, at the places found: the head, the interface id, the end. Their
    // starts: one past the ends of tokens 1, 2 and 17.
    let first = _mm_cvtsi128_si64(_mm512_castsi512_si128(ends)) as u64;
    let after = |t: u8| (first >> (8 * t)) as u8 as usize + 1;
    // The end of the token before the action, byte 17 of `ends` (byte 1 of its second lane).
    let before_action =
        _mm_extract_epi8::<{ ACTION as i32 - 1 - 16 }>(_mm512_extracti32x4_epi32::<1>(ends)) as u8;
    let mut p = 0;
    head_fields(win, &mut p, cache, rec)?;
    if p != after(1) {
        return None;
    }
    rec.set_eni(eni_field(win, &mut p, interner, max_enis)?)?;
    if p != after(2) {
        return None;
    }
    let (action, used) = tail::<true>(win, usize::from(before_action) + 1)?;
    if used != len + 1 {
        return None;
    }
    rec.set_srcaddr(Some(IpAddr::V4(Ipv4Addr::from(
        (octets as u32).to_le_bytes(),
    ))));
    rec.set_dstaddr(Some(IpAddr::V4(Ipv4Addr::from(
        ((octets >> 32) as u32).to_le_bytes(),
    ))));
    let [sport, dport, proto, packets, bytes_lo, bytes_hi, start_lo, start_hi] = v;
    rec.set_srcport(Some(sport as u16));
    rec.set_dstport(Some(dport as u16));
    rec.set_protocol(Some(proto as u8));
    rec.set_packets(Some(packets));
    rec.set_bytes(Some(bytes_hi * 100_000_000 + bytes_lo));
    // `end` in the octet vector's 8-byte lanes 4 and 5.
    let end = e[5] * 100_000_000 + e[4];
    rec.set_times(Some(start_hi * 100_000_000 + start_lo), Some(end))?;
    rec.set_action(action);
    rec.set_status(Some(LogStatus::Ok));
    rec.clear_rest();
    Some(used)
}

#[cfg(test)]
mod tests {
    use super::super::WIN;
    use super::*;
    use crate::flowlog::record::FlowRecord;
    use proptest::prelude::*;

    /// Whether the tests can run `line` here; prints why not when they cannot, and fails when
    /// `FLOWVIGIL_REQUIRE_AVX512` is set (`.ci/run` sets it on CPUs that have the features, so
    /// that these tests cannot pass by skipping there).
    fn on() -> bool {
        let on = available();
        if !on {
            assert!(
                std::env::var_os("FLOWVIGIL_REQUIRE_AVX512").is_none(),
                "FLOWVIGIL_REQUIRE_AVX512 is set but the AVX-512 parse is not available"
            );
            eprintln!("skipped: this CPU has no AVX-512 VBMI2 (or FLOWVIGIL_NO_AVX512 is set)");
        }
        on
    }

    const KNOWN: [&str; 3] = ["eni-0123456789abcdef0", "eni-1235b8ca123456789", "eni-a"];

    fn interner() -> Interner {
        let mut i = Interner::new();
        for n in KNOWN {
            i.intern(n.as_bytes());
        }
        i
    }

    /// What one line gives: the length used, the record, the interner's names and the cache.
    type Outcome = (Option<usize>, FlowRecord, Vec<String>, String);

    /// `text` (a line and what follows it) parsed as `parse_v2_run` parses it here (with
    /// `vector`: `line`, then, declined, the scalar parse on the same state) or by the scalar
    /// parse alone; and whether `line` took it. With `warm`, the cache first holds the head
    /// of `text` (as a previous line's would).
    fn outcome(text: &[u8], max_enis: usize, warm: bool, vector: bool) -> (Outcome, bool) {
        let mut buf = text.to_vec();
        buf.resize(text.len() + WIN + 8, b'7');
        let Some(win) = buf.first_chunk::<{ WIN + 8 }>() else {
            unreachable!("the buffer holds WIN + 8 bytes at least");
        };
        let (mut i, mut c, mut r) = (interner(), Cache::default(), FlowRecord::default());
        if warm {
            let (mut i2, mut r2) = (interner(), FlowRecord::default());
            let _ = parse::<true, FlowRecord>(win, 0, &mut i2, max_enis, &mut r2, &mut c);
        }
        // SAFETY: only with `vector`, which the callers pass when `available()`.
        if vector {
            if let Some(n) = unsafe { line::<false, _>(win, &mut i, max_enis, &mut r, &mut c) } {
                return ((Some(n), r, i.names().to_vec(), format!("{c:?}")), true);
            }
        }
        let used = parse::<true, FlowRecord>(win, 0, &mut i, max_enis, &mut r, &mut c);
        ((used, r, i.names().to_vec(), format!("{c:?}")), false)
    }

    /// `line` then the scalar parse gives exactly what the scalar parse alone gives; returns
    /// whether `line` took the line.
    fn agrees(text: &[u8], max_enis: usize) -> bool {
        let mut taken = false;
        for warm in [false, true] {
            let (vector, t) = outcome(text, max_enis, warm, available());
            let (scalar, _) = outcome(text, max_enis, warm, false);
            assert_eq!(
                vector,
                scalar,
                "{:?} warm {warm}",
                String::from_utf8_lossy(text)
            );
            taken |= t;
        }
        taken
    }

    #[test]
    fn usual_lines_are_taken_with_the_scalar_values() {
        if !on() {
            return;
        }
        for line in [
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 \
             4249 1418530010 1418530070 ACCEPT OK\n",
            "2 123456789010 eni-new 10.0.0.1 255.255.255.255 0 65535 255 18446744 \
             123456789012345 1 2 REJECT OK\n",
            "255 000000000001 eni-a 010.001.0.00 1.2.3.4 00080 1 0 0 0 0 0 ACCEPT OK\n",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1700000000 1700000060 ACCEPT OK\n2 1",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 999999999999999 1 ACCEPT OK\n",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 12345678 100000000 0000000000 9999999999 ACCEPT OK\n",
            "2 123456789012 eni-3aff8754d1238d630 10.1.211.71 10.140.7.56 53404 8080 6 9 3042 \
             1735689548 1735689550 ACCEPT OK\n",
        ] {
            assert!(agrees(line.as_bytes(), 10), "{line:?} not taken");
        }
    }

    #[test]
    fn unusual_lines_are_declined_or_agree() {
        if !on() {
            return;
        }
        for line in [
            "2 1 eni-a - - - - - - - 1418530010 1418530070 - NODATA\n",
            "2 1 eni-a 2001:db8::1 ::ffff:1.2.3.4 1 2 17 1 1 3 4 ACCEPT OK\n",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1700000000 1700000060 ACCEPT OK\r\n",
            "2 1 eni-a 1.2.3.4 5.6.7.8 65536 2 6 1 1 1 2 ACCEPT OK\n",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 256 1 1 1 2 ACCEPT OK\n",
            "2 1 eni-a 1.2.3.256 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK\n",
            "2 1 eni-a 1.2.3.0001 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK\n",
            "2 1 eni-a 1.2.3 5.6.7.8.9 1 2 6 1 1 1 2 ACCEPT OK\n",
            "2 1 eni-a 1..2.3 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK\n",
            "2 1 eni.a 1.2.3.4 5.6.7 1 2 6 1 1 1 2 ACCEPT OK\n",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1234567890123456 2 ACCEPT OK\n",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 123456789 1 1 2 ACCEPT OK\n",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT NODATA\n",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK \n",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT  OK\n",
            " 2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK\n",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK",
            "2 1 eni-a 1.2.3.4 5.6.7.8 1 2 +6 1 1 1 2 ACCEPT OK\n",
            "2 1 eni-é 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK\n",
            "2 1 eni-b 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK\n",
            "x 1 eni-b 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK\n",
        ] {
            agrees(line.as_bytes(), 3);
            agrees(line.as_bytes(), 10);
        }
        let long = format!(
            "2 1 eni-{} 1.2.3.4 5.6.7.8 1 2 6 1 1 1700000000 1700000060 ACCEPT OK\n",
            "a".repeat(70)
        );
        assert!(!agrees(long.as_bytes(), 10), "past 127 bytes: declined");
    }

    /// One field of a line: usual values, edge values and junk.
    fn field(i: usize) -> BoxedStrategy<String> {
        let digits = |lo: usize, hi: usize| {
            proptest::string::string_regex(&format!("[0-9]{{{lo},{hi}}}")).unwrap()
        };
        let octet = || {
            prop_oneof![
                digits(1, 3),
                digits(1, 4),
                Just("255".to_string()),
                Just("256".to_string())
            ]
        };
        let ipv4 = (octet(), octet(), octet(), octet())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}"));
        match i {
            0 => prop_oneof![Just("2".to_string()), digits(1, 4), Just("-".to_string())].boxed(),
            1 => prop_oneof![digits(12, 12), digits(1, 14), Just("unknown".to_string())].boxed(),
            2 => prop_oneof![
                Just(KNOWN[0].to_string()),
                Just(KNOWN[1].to_string()),
                "eni-[0-9a-f]{17}",
                "[a-z.-]{1,30}",
                Just("-".to_string()),
            ]
            .boxed(),
            3 | 4 => prop_oneof![
                4 => ipv4,
                1 => Just("2001:db8::1".to_string()),
                1 => Just("-".to_string()),
                1 => "[0-9.]{1,17}",
            ]
            .boxed(),
            5 | 6 => prop_oneof![
                digits(1, 5),
                digits(1, 7),
                Just("65536".to_string()),
                Just("-".to_string())
            ]
            .boxed(),
            7 => prop_oneof![digits(1, 3), digits(1, 5), Just("-".to_string())].boxed(),
            8..=11 => prop_oneof![digits(10, 10), digits(1, 17), Just("-".to_string())].boxed(),
            12 => prop_oneof![
                Just("ACCEPT".to_string()),
                Just("REJECT".to_string()),
                Just("-".to_string()),
                Just("ACCEPTED".to_string()),
            ]
            .boxed(),
            _ => prop_oneof![
                Just("OK".to_string()),
                Just("NODATA".to_string()),
                Just("SKIPDATA".to_string()),
                Just("-".to_string()),
                Just("OK ".to_string()),
            ]
            .boxed(),
        }
    }

    fn fields() -> impl Strategy<Value = Vec<String>> {
        (0..14).map(field).collect::<Vec<_>>()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Lines of random fields, then perhaps one byte changed, inserted or removed (a
        /// separator, a digit, a dot, a control or a non-ASCII byte anywhere), with any line
        /// end and what follows: `line` then the scalar parse gives what the scalar parse
        /// alone gives.
        #[test]
        fn the_vector_parse_agrees_with_the_scalar_one(
            fields in fields(),
            edit in proptest::option::of((any::<prop::sample::Index>(), 0..3u8, prop::sample::select(vec![b' ', b'\t', b'.', b'0', b'9', b'-', b'\r', b'\n', 0u8, 0x80, b'a']))),
            end in prop::sample::select(vec!["\n", "\r\n", "", " \n"]),
            after in "[0-9 .\n]{0,8}",
            max_enis in 3usize..6,
        ) {
            let mut text = fields.join(" ").into_bytes();
            if let Some((at, kind, b)) = edit {
                let i = at.index(text.len() + 1);
                match kind {
                    0 if i < text.len() => text[i] = b,
                    1 => text.insert(i, b),
                    _ if i < text.len() => { text.remove(i); }
                    _ => {}
                }
            }
            text.extend_from_slice(end.as_bytes());
            text.extend_from_slice(after.as_bytes());
            agrees(&text, max_enis);
        }

        /// Usual lines (IPv4, numbers within the lanes) are all taken.
        #[test]
        fn usual_random_lines_are_taken(
            version in any::<u8>(),
            account in "[0-9]{1,12}",
            eni in prop::sample::select(KNOWN.to_vec()),
            a in prop::array::uniform8(0u8..=255),
            ports in (any::<u16>(), any::<u16>(), any::<u8>()),
            counts in (0u64..100_000_000, 0u64..1_000_000_000_000_000),
            times in (0u64..1_000_000_000_000_000, 0u64..1_000_000_000_000_000),
            reject in any::<bool>(),
        ) {
            if !on() {
                return Ok(());
            }
            let line = format!(
                "{version} {account} {eni} {}.{}.{}.{} {}.{}.{}.{} {} {} {} {} {} {} {} {} OK\n",
                a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                ports.0, ports.1, ports.2, counts.0, counts.1, times.0, times.1,
                if reject { "REJECT" } else { "ACCEPT" },
            );
            prop_assert!(line.len() > 127 || agrees(line.as_bytes(), 10), "{line:?} not taken");
        }
    }
}
