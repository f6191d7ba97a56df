//! The cutting thread's line scan for parallel reading ([`LogReader::next_piece`]).
//!
//! Before a chunk of buffered text goes to a parser, the cutting thread walks its lines: it
//! counts them (line numbers), stops at the line that fills the chunk, at an over-long line, and
//! at a header line (which switches the format of the lines after it). That walk touches every
//! line of the input on one thread while the others parse, so it is on the critical path of
//! `--threads N`. [`scan_lines`] does it from a bit mask of the newlines of each 64 bytes (four
//! SSE2 compares; SSE2 is part of every x86_64 CPU), taking the lines' ends from the mask one
//! by one, instead of one `memchr` call per line (≈ 11 ns a line, mostly each call's start-up
//! and its final mispredicted branch). Elsewhere than x86_64 it is [`scan_lines_plain`], the
//! `memchr` walk; a property test checks that both give the same result on any text.
//!
//! [`LogReader::next_piece`]: super::reader::LogReader::next_piece

/// Where a scan of whole lines stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ScanStop {
    /// At the end of the region, or at the first line starting at or after `room`.
    Filled,
    /// At an over-long line: the position of its newline.
    TooLong(usize),
    /// At a header line: its start and the position of its newline.
    Header(usize, usize),
}

/// The result of [`scan_lines`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LineScan {
    /// The start of the first line not taken (every line before it is an ordinary line).
    pub at: usize,
    /// The ordinary lines taken (those before `at`).
    pub count: u64,
    /// Why the scan stopped.
    pub stop: ScanStop,
}

/// Walks the lines of `region` (text ending with a newline) from its start: takes lines while
/// the next one starts before `room` (always at least one), stopping at a line longer than
/// `max_line` bytes (without its newline) or at a line that does not start with a digit and for
/// which `is_header` (given the line without its newline) says yes.
pub(super) fn scan_lines(
    region: &[u8],
    room: usize,
    max_line: usize,
    is_header: impl FnMut(&[u8]) -> bool,
) -> LineScan {
    #[cfg(target_arch = "x86_64")]
    {
        scan_lines_masked(region, room, max_line, is_header)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        scan_lines_plain(region, room, max_line, is_header)
    }
}

/// [`scan_lines`] with one `memchr` call per line (the portable version, and the reference the
/// mask version is tested against).
#[cfg(any(test, not(target_arch = "x86_64")))]
pub(super) fn scan_lines_plain(
    region: &[u8],
    room: usize,
    max_line: usize,
    mut is_header: impl FnMut(&[u8]) -> bool,
) -> LineScan {
    let mut walk = Walk::default();
    for nl in memchr::memchr_iter(b'\n', region) {
        if let Some(end) = walk.take(region, nl, room, max_line, &mut is_header) {
            return end;
        }
    }
    walk.filled()
}

/// The decision for the line `region[at..nl]`: `None` to take it.
#[inline(always)]
fn line_stop(
    region: &[u8],
    at: usize,
    nl: usize,
    room: usize,
    max_line: usize,
    is_header: &mut impl FnMut(&[u8]) -> bool,
) -> Option<ScanStop> {
    if at >= room && at > 0 {
        return Some(ScanStop::Filled);
    }
    if nl - at > max_line {
        return Some(ScanStop::TooLong(nl));
    }
    // An empty line's first byte is its newline: not a digit, and no header either.
    if !region.get(at).is_some_and(u8::is_ascii_digit) {
        let line = region.get(at..nl).unwrap_or_default();
        if is_header(line) {
            return Some(ScanStop::Header(at, nl));
        }
    }
    None
}

/// The lines taken so far by a scan.
#[derive(Default)]
struct Walk {
    at: usize,
    count: u64,
}

impl Walk {
    /// Takes the line ending at the newline `nl`, or returns where and why the scan stops.
    #[inline(always)]
    fn take(
        &mut self,
        region: &[u8],
        nl: usize,
        room: usize,
        max_line: usize,
        is_header: &mut impl FnMut(&[u8]) -> bool,
    ) -> Option<LineScan> {
        if let Some(stop) = line_stop(region, self.at, nl, room, max_line, is_header) {
            return Some(LineScan {
                at: self.at,
                count: self.count,
                stop,
            });
        }
        self.count += 1;
        self.at = nl + 1;
        None
    }

    /// The scan's result when it ran to the end of the region.
    fn filled(self) -> LineScan {
        LineScan {
            at: self.at,
            count: self.count,
            stop: ScanStop::Filled,
        }
    }
}

/// [`scan_lines`] from newline masks of 64 bytes at a time.
#[cfg(target_arch = "x86_64")]
fn scan_lines_masked(
    region: &[u8],
    room: usize,
    max_line: usize,
    mut is_header: impl FnMut(&[u8]) -> bool,
) -> LineScan {
    let mut walk = Walk::default();
    let mut base = 0usize;
    let mut blocks = region.chunks_exact(64);
    for block in blocks.by_ref() {
        let mut mask = newline_mask(block);
        while mask != 0 {
            let nl = base + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if let Some(end) = walk.take(region, nl, room, max_line, &mut is_header) {
                return end;
            }
        }
        base += 64;
    }
    for (i, &b) in blocks.remainder().iter().enumerate() {
        if b == b'\n' {
            let nl = base + i;
            if let Some(end) = walk.take(region, nl, room, max_line, &mut is_header) {
                return end;
            }
        }
    }
    walk.filled()
}

/// Bit `i` set when `block[i]` is a newline.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn newline_mask(block: &[u8]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let mut mask = 0u64;
    for (k, part) in block.chunks_exact(16).take(4).enumerate() {
        // SAFETY: `part` is exactly 16 bytes (`chunks_exact(16)`), so the unaligned 16-byte
        // load reads only inside it; the other intrinsics only compute on registers. They need
        // SSE2, which every x86_64 CPU has and rustc's x86_64 targets always enable.
        let bits = unsafe {
            let v = _mm_loadu_si128(part.as_ptr().cast::<__m128i>());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8)))
        };
        mask |= u64::from(bits as u16) << (16 * k);
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A header test like the reader's: a line starting with a lowercase letter.
    fn letters(line: &[u8]) -> bool {
        line.first().is_some_and(u8::is_ascii_lowercase)
    }

    fn text() -> impl Strategy<Value = Vec<u8>> {
        // Lines of digits, letters, spaces and CRs, empty lines included, some long.
        let byte = prop_oneof![
            8 => b'0'..=b'9',
            2 => b'a'..=b'z',
            2 => Just(b' '),
            1 => Just(b'\r'),
            1 => Just(b'-'),
        ];
        let line = prop::collection::vec(byte, 0..150);
        prop::collection::vec(line, 1..40).prop_map(|lines| {
            let mut out = Vec::new();
            for l in lines {
                out.extend_from_slice(&l);
                out.push(b'\n');
            }
            out
        })
    }

    proptest! {
        #[test]
        fn masked_scan_equals_memchr_scan(
            region in text(),
            room in 0usize..3000,
            max_line in prop_oneof![Just(usize::MAX), 0usize..160],
        ) {
            let a = scan_lines(&region, room, max_line, letters);
            let b = scan_lines_plain(&region, room, max_line, letters);
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn stops_where_the_reader_needs() {
        let text = b"2 a\n2 b\nversion x\n2 c\n";
        let s = scan_lines(text, usize::MAX, 100, letters);
        assert_eq!(
            s,
            LineScan {
                at: 8,
                count: 2,
                stop: ScanStop::Header(8, 17)
            }
        );
        let s = scan_lines(text, 5, 100, letters);
        assert_eq!((s.at, s.count, s.stop), (8, 2, ScanStop::Filled));
        let s = scan_lines(b"12\n123456\n1\n", usize::MAX, 5, letters);
        assert_eq!((s.at, s.count, s.stop), (3, 1, ScanStop::TooLong(9)));
        // A region longer than one mask block, all ordinary lines.
        let long: Vec<u8> = b"2 x y z 1 2 3\n".repeat(20);
        let s = scan_lines(&long, usize::MAX, 100, letters);
        assert_eq!((s.at, s.count, s.stop), (long.len(), 20, ScanStop::Filled));
    }
}
