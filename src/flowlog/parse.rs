//! The byte-level line parser and the [`Format`] (field order) it follows.
//!
//! A line is split on ASCII spaces and tabs (runs count as one separator, as AWS never writes an
//! empty field: an absent value is `-`), and each field is parsed straight into a caller-owned
//! [`FlowRecord`]: no `String` per field, no allocation once the record's text buffer has grown,
//! an IPv4 fast path, and the interface id interned to an [`EniId`](super::EniId).
//!
//! Two parsers give the same results. Default-v2 lines in their usual shape (single spaces, no
//! integer past 15 digits, ...) take a straight-line fast path (`flowlog/fast.rs`, about a third
//! of the general parser's instructions); every other line, and every line the fast path gives
//! up on, goes through the general per-column parser, the only one that builds errors. A
//! property test checks that both give the same records, errors and interned names on valid and
//! corrupted lines.
//!
//! Formats: the default v2 order ([`Format::v2`]), a header line (`version account-id ...`) that
//! switches the format for the lines after it, or a user-given field list ([`Format::parse`],
//! the `--format` flag). A name flowvigil does not know becomes an opaque column: its values are
//! skipped, and the reader reports the name once.
//!
//! Transit Gateway flow logs (`resource-type tgw-id tgw-attachment-id ...`) are rejected with
//! [`FormatError::TransitGateway`]: they describe transit gateway attachments, not network
//! interfaces, and flowvigil's whole model is per ENI. Their header names the format in the error.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::intern::Interner;
use super::record::{
    Action, Field, FlowDirection, FlowRecord, IpType, LogStatus, TcpFlags, DEFAULT_V2_FIELDS,
};
use super::write::{field_name, parse_field_name};

/// Most columns a format may have (AWS defines fewer than 50 fields); bounds hostile headers.
pub const MAX_COLUMNS: usize = 256;

/// Longest interface id accepted (AWS's are 21 bytes); bounds the interner's memory.
pub const MAX_ENI_LEN: usize = 64;

/// One column of a [`Format`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// A field flowvigil parses.
    Field(Field),
    /// A field flowvigil does not know: its values are skipped. The index points into
    /// [`Format::unknown_names`].
    Opaque(u16),
}

/// A field order: which field each space-separated column of a line holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Format {
    columns: Vec<Column>,
    unknown: Vec<String>,
    /// The columns are exactly the default v2 order: [`parse_line`] takes its unrolled path.
    is_v2: bool,
}

/// Why a header line or `--format` string was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// No field names at all.
    #[error("empty field list")]
    Empty,
    /// More than [`MAX_COLUMNS`] names.
    #[error("{0} fields, at most {MAX_COLUMNS} are supported")]
    TooManyColumns(usize),
    /// A Transit Gateway flow log header.
    #[error(
        "Transit Gateway flow logs (field `{0}`) are not supported: flowvigil reads VPC flow \
         logs of network interfaces (`interface-id`)"
    )]
    TransitGateway(String),
}

impl Format {
    /// The default (version 2) format of header-less flow logs.
    pub fn v2() -> Self {
        Self::from_fields(&DEFAULT_V2_FIELDS)
    }

    /// A format of known fields, in this order.
    pub fn from_fields(fields: &[Field]) -> Self {
        Self::new(
            fields.iter().map(|f| Column::Field(*f)).collect(),
            Vec::new(),
        )
    }

    /// Parses a field list: a header line or a `--format` value. Names are separated by spaces
    /// (or tabs); AWS's `${name}` spelling is accepted; unknown names become opaque columns.
    pub fn parse(spec: &str) -> Result<Self, FormatError> {
        Self::parse_bytes(spec.as_bytes())
    }

    /// [`Format::parse`] over raw bytes (a header line as read).
    pub fn parse_bytes(spec: &[u8]) -> Result<Self, FormatError> {
        let mut columns = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        for token in tokens(spec) {
            if columns.len() == MAX_COLUMNS {
                return Err(FormatError::TooManyColumns(tokens(spec).count()));
            }
            let name = String::from_utf8_lossy(strip_dollar(token));
            if is_transit_gateway_name(&name) {
                return Err(FormatError::TransitGateway(name.into_owned()));
            }
            match parse_field_name(&name) {
                Some(f) => columns.push(Column::Field(f)),
                None => {
                    // MAX_COLUMNS < u16::MAX, so the index fits.
                    columns.push(Column::Opaque(unknown.len() as u16));
                    unknown.push(name.into_owned());
                }
            }
        }
        if columns.is_empty() {
            return Err(FormatError::Empty);
        }
        Ok(Self::new(columns, unknown))
    }

    fn new(columns: Vec<Column>, unknown: Vec<String>) -> Self {
        let is_v2 = columns.len() == DEFAULT_V2_FIELDS.len()
            && columns
                .iter()
                .zip(DEFAULT_V2_FIELDS.iter())
                .all(|(c, f)| *c == Column::Field(*f));
        Format {
            columns,
            unknown,
            is_v2,
        }
    }

    /// True when the columns are exactly the default v2 order (the fast path's format).
    pub(super) fn is_v2(&self) -> bool {
        self.is_v2
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Names of the opaque (unknown) columns, in order of appearance.
    pub fn unknown_names(&self) -> &[String] {
        &self.unknown
    }

    /// The known fields, in column order (opaque columns left out).
    pub fn fields(&self) -> Vec<Field> {
        self.columns
            .iter()
            .filter_map(|c| match c {
                Column::Field(f) => Some(*f),
                Column::Opaque(_) => None,
            })
            .collect()
    }

    /// True when the format has a column for `f`.
    pub fn has(&self, f: Field) -> bool {
        self.columns.contains(&Column::Field(f))
    }

    /// The format as a header line (without `\n`), opaque columns under their own names.
    pub fn header(&self) -> String {
        let names: Vec<&str> = self
            .columns
            .iter()
            .map(|c| match c {
                Column::Field(f) => field_name(*f),
                Column::Opaque(i) => self.unknown.get(*i as usize).map_or("?", String::as_str),
            })
            .collect();
        names.join(" ")
    }

    /// A short name: `v2` for the default format, `v5` for [`super::V5_FIELDS`], else `custom`.
    pub fn kind(&self) -> &'static str {
        if self.unknown.is_empty() {
            if self.fields() == DEFAULT_V2_FIELDS {
                return "v2";
            }
            if self.fields() == super::write::V5_FIELDS {
                return "v5";
            }
        }
        "custom"
    }
}

impl Default for Format {
    fn default() -> Self {
        Self::v2()
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header())
    }
}

fn strip_dollar(token: &[u8]) -> &[u8] {
    token
        .strip_prefix(b"${")
        .and_then(|t| t.strip_suffix(b"}"))
        .unwrap_or(token)
}

/// Field names that only Transit Gateway flow logs use.
pub(crate) fn is_transit_gateway_name(name: &str) -> bool {
    name == "resource-type" || name.starts_with("tgw-") || name.starts_with("packets-lost-")
}

/// True when `line` is a header line: its first token is a field name (VPC or Transit Gateway),
/// and every token looks like a name (lower-case letters, digits and `-`, optionally `${...}`).
///
/// Data values never pass: a data line's first token would have to be a field name itself.
pub fn is_header_line(line: &[u8]) -> bool {
    let mut it = tokens(line);
    let Some(first) = it.next() else {
        return false;
    };
    let first = strip_dollar(first);
    let Ok(first_str) = std::str::from_utf8(first) else {
        return false;
    };
    if parse_field_name(first_str).is_none() && !is_transit_gateway_name(first_str) {
        return false;
    }
    tokens(line).all(|t| {
        let t = strip_dollar(t);
        t.first().is_some_and(u8::is_ascii_lowercase)
            && t.iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

#[inline]
fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The space/tab separated tokens of a line.
pub fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| is_sep(b)).filter(|t| !t.is_empty())
}

/// What a field should have held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// The line has the wrong number of fields.
    FieldCount {
        /// Fields in the format.
        expected: u16,
        /// Fields on the line (counting stops just past `expected`).
        found: u16,
    },
    /// An unsigned integer in a range.
    Integer {
        /// Largest accepted value.
        max: u64,
    },
    /// A 12-digit account id, `unknown` or `-`.
    AccountId,
    /// An IPv4 or IPv6 address.
    Address,
    /// `ACCEPT` or `REJECT`.
    Action,
    /// `OK`, `NODATA` or `SKIPDATA`.
    LogStatus,
    /// `ingress` or `egress`.
    FlowDirection,
    /// `IPv4`, `IPv6` or `EFA`.
    IpType,
    /// An interface id: printable ASCII, at most [`MAX_ENI_LEN`] bytes.
    InterfaceId,
    /// A new interface id arrived when the interner already held this many.
    EniLimit {
        /// The limit (`max_enis`).
        max: u32,
    },
    /// A line no longer than this many bytes.
    LineLength {
        /// The limit.
        max: u32,
    },
    /// A VPC flow log header, not a Transit Gateway one (found: the Transit Gateway field).
    VpcHeader,
    /// A header of at most [`MAX_COLUMNS`] fields.
    HeaderColumns,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::FieldCount { expected, found } => {
                write!(f, "expected {expected} fields, found {found}")
            }
            Expected::Integer { max } => write!(f, "expected an integer 0..={max}"),
            Expected::AccountId => f.write_str("expected an account id (digits) or `unknown`"),
            Expected::Address => f.write_str("expected an IPv4 or IPv6 address"),
            Expected::Action => f.write_str("expected `ACCEPT` or `REJECT`"),
            Expected::LogStatus => f.write_str("expected `OK`, `NODATA` or `SKIPDATA`"),
            Expected::FlowDirection => f.write_str("expected `ingress` or `egress`"),
            Expected::IpType => f.write_str("expected `IPv4`, `IPv6` or `EFA`"),
            Expected::InterfaceId => write!(
                f,
                "expected an interface id (printable ASCII, at most {MAX_ENI_LEN} bytes)"
            ),
            Expected::EniLimit { max } => write!(
                f,
                "expected a known interface: the limit of {max} distinct interfaces is reached \
                 (raise it with --max-enis)"
            ),
            Expected::LineLength { max } => write!(f, "expected a line of at most {max} bytes"),
            Expected::VpcHeader => f.write_str(
                "expected a VPC flow log header: Transit Gateway flow logs are not supported \
                 (flowvigil reads per-interface VPC flow logs); rows up to the next header are \
                 skipped",
            ),
            Expected::HeaderColumns => {
                write!(f, "expected a header of at most {MAX_COLUMNS} fields")
            }
        }
    }
}

/// Up to [`Snippet::CAP`] bytes of the offending value, kept inline so that errors stay `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Snippet {
    bytes: [u8; Snippet::CAP],
    len: u8,
    truncated: bool,
}

impl Snippet {
    /// Bytes kept.
    pub const CAP: usize = 32;

    /// Nothing.
    pub const EMPTY: Snippet = Snippet {
        bytes: [0; Snippet::CAP],
        len: 0,
        truncated: false,
    };

    /// The first [`Snippet::CAP`] bytes of `value`.
    pub fn new(value: &[u8]) -> Self {
        let mut s = Snippet::EMPTY;
        let n = value.len().min(Self::CAP);
        s.bytes[..n].copy_from_slice(&value[..n]);
        s.len = n as u8;
        s.truncated = value.len() > Self::CAP;
        s
    }

    /// The kept bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// True when the value was longer than what is kept.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Debug for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Snippet {
    /// Quoted, with control and non-ASCII bytes escaped (hostile input must not drive the
    /// terminal), and `...` when truncated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &b in self.as_bytes() {
            write!(f, "{}", std::ascii::escape_default(b))?;
        }
        if self.truncated {
            f.write_str("...")?;
        }
        f.write_str("\"")
    }
}

/// A malformed line: where, which field, what was expected and what was found.
///
/// Small and `Copy`: making one allocates nothing. Its `Display` omits the line number and
/// file, which the reader prefixes (`path:LINE: field ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number within its input.
    pub line: u64,
    /// 0-based column, when one field is at fault.
    pub column: Option<u16>,
    /// The field of that column, when known.
    pub field: Option<Field>,
    /// What was expected.
    pub expected: Expected,
    /// What was found (the field's value; empty for counts).
    pub found: Snippet,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(field) = self.field {
            write!(f, "field `{}`: ", field_name(field))?;
        }
        write!(f, "{}", self.expected)?;
        if !matches!(self.expected, Expected::FieldCount { .. }) && self.found.len > 0 {
            write!(f, ", found {}", self.found)?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// Parses one data line (without its `\n`) into `rec`, following `format`.
///
/// `rec` is cleared first; on error it holds a partial record and must not be used. A new
/// interface id is interned unless `interner` already holds `max_enis` names, which is an error
/// ([`Expected::EniLimit`]): memory stays bounded whatever the input.
pub fn parse_line(
    line: &[u8],
    line_no: u64,
    format: &Format,
    interner: &mut Interner,
    max_enis: usize,
    rec: &mut FlowRecord,
) -> Result<(), ParseError> {
    if format.is_v2 && super::fast::parse_v2(line, interner, max_enis, rec) {
        return Ok(());
    }
    parse_line_general(line, line_no, format, interner, max_enis, rec)
}

/// The general per-column parser behind [`parse_line`]: every format, every error.
pub(super) fn parse_line_general(
    line: &[u8],
    line_no: u64,
    format: &Format,
    interner: &mut Interner,
    max_enis: usize,
    rec: &mut FlowRecord,
) -> Result<(), ParseError> {
    rec.clear();
    let mut pos = 0usize;
    if format.is_v2 {
        // The same loop over a constant array: the compiler unrolls it and drops the per-column
        // dispatch, which matters for the most common format.
        for (col, field) in DEFAULT_V2_FIELDS.iter().enumerate() {
            let column = Column::Field(*field);
            parse_column(
                line, line_no, format, col, column, &mut pos, interner, max_enis, rec,
            )?;
        }
    } else {
        for (col, column) in format.columns.iter().enumerate() {
            parse_column(
                line, line_no, format, col, *column, &mut pos, interner, max_enis, rec,
            )?;
        }
    }
    if line
        .get(pos..)
        .unwrap_or_default()
        .iter()
        .any(|&b| !is_sep(b))
    {
        return Err(count_error(line, line_no, format));
    }
    Ok(())
}

/// Parses column `col` at `line[*pos..]`, moving `pos` past it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn parse_column(
    line: &[u8],
    line_no: u64,
    format: &Format,
    col: usize,
    column: Column,
    pos: &mut usize,
    interner: &mut Interner,
    max_enis: usize,
    rec: &mut FlowRecord,
) -> Result<(), ParseError> {
    while line.get(*pos).is_some_and(|&b| is_sep(b)) {
        *pos += 1;
    }
    if *pos >= line.len() {
        return Err(count_error(line, line_no, format));
    }
    let start = *pos;
    let result = match column {
        Column::Field(field) => parse_field_at(field, line, pos, interner, max_enis, rec),
        Column::Opaque(_) => {
            *pos = token_end(line, start);
            Ok(())
        }
    };
    result.map_err(|expected| {
        let end = token_end(line, start);
        ParseError {
            line: line_no,
            column: Some(col as u16),
            field: match column {
                Column::Field(f) => Some(f),
                Column::Opaque(_) => None,
            },
            expected,
            found: Snippet::new(line.get(start..end).unwrap_or_default()),
        }
    })
}

/// The end of the token starting at `pos`, eight bytes at a time.
#[inline]
fn token_end(line: &[u8], mut pos: usize) -> usize {
    while pos + 8 <= line.len() {
        let w = load8(line, pos);
        // A zero byte in `w ^ sep` marks a separator (the classic has-zero-byte test; its
        // false positives only occur above a true zero, so the lowest flag is exact).
        let sp = w ^ (b' ' as u64 * ONES);
        let tab = w ^ (b'\t' as u64 * ONES);
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        let found = zero(sp) | zero(tab);
        if found != 0 {
            return pos + (found.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while line.get(pos).is_some_and(|&b| !is_sep(b)) {
        pos += 1;
    }
    pos
}

/// True when `pos` ends a token (a separator or the end of the line).
#[inline]
fn ends_token(line: &[u8], pos: usize) -> bool {
    line.get(pos).is_none_or(|&b| is_sep(b))
}

/// Parses the field at `line[*pos..]` and moves `pos` to the end of its token. Integers and
/// IPv4 addresses are parsed in the same pass that finds the token's end (most of a v2 line);
/// the rest go through [`parse_field`] on the token.
#[inline(always)]
fn parse_field_at(
    field: Field,
    line: &[u8],
    pos: &mut usize,
    interner: &mut Interner,
    max_enis: usize,
    rec: &mut FlowRecord,
) -> Result<(), Expected> {
    const U8: u64 = u8::MAX as u64;
    const U16: u64 = u16::MAX as u64;
    match field {
        Field::Version => rec.version = int_at(line, pos, U8)?.map(|x| x as u8),
        Field::SrcPort => rec.srcport = int_at(line, pos, U16)?.map(|x| x as u16),
        Field::DstPort => rec.dstport = int_at(line, pos, U16)?.map(|x| x as u16),
        Field::Protocol => rec.protocol = int_at(line, pos, U8)?.map(|x| x as u8),
        Field::Packets => rec.packets = int_at(line, pos, u64::MAX)?,
        Field::Bytes => rec.bytes = int_at(line, pos, u64::MAX)?,
        Field::Start => rec.start = int_at(line, pos, u64::MAX)?,
        Field::End => rec.end = int_at(line, pos, u64::MAX)?,
        Field::AccountId => {
            rec.account_id = match int_at(line, pos, u64::MAX) {
                Ok(v) => v,
                Err(_) => {
                    let start = *pos;
                    *pos = token_end(line, start);
                    if line.get(start..*pos) != Some(b"unknown") {
                        return Err(Expected::AccountId);
                    }
                    None
                }
            }
        }
        Field::SrcAddr => rec.srcaddr = addr_at(line, pos)?,
        Field::DstAddr => rec.dstaddr = addr_at(line, pos)?,
        _ => {
            let start = *pos;
            *pos = token_end(line, start);
            let v = line.get(start..*pos).unwrap_or_default();
            if v != b"-" {
                parse_field(field, v, interner, max_enis, rec)?;
            }
        }
    }
    Ok(())
}

/// An unsigned integer at `line[*pos..]` (`None` for `-`), at most `max`.
#[inline(always)]
fn int_at(line: &[u8], pos: &mut usize, max: u64) -> Result<Option<u64>, Expected> {
    let start = *pos;
    let (x, digits) = digits_at(line, start);
    let i = start + digits;
    if digits == 0 && line.get(i) == Some(&b'-') && ends_token(line, i + 1) {
        *pos = i + 1;
        return Ok(None);
    }
    if digits == 0 || !ends_token(line, i) {
        return Err(Expected::Integer { max });
    }
    let x = match x {
        Some(x) => x,
        None => line
            .get(start..i)
            .and_then(parse_u64)
            .ok_or(Expected::Integer { max })?,
    };
    if x > max {
        return Err(Expected::Integer { max });
    }
    *pos = i;
    Ok(Some(x))
}

/// Eight bytes of `line` from `pos`, little-endian, zero-padded past the end.
#[inline(always)]
pub(super) fn load8(line: &[u8], pos: usize) -> u64 {
    match line.get(pos..).and_then(<[u8]>::first_chunk::<8>) {
        Some(b) => u64::from_le_bytes(*b),
        None => load8_padded(line, pos),
    }
}

/// [`load8`] near the end of the line (kept out of line: most loads are whole words).
#[cold]
#[inline(never)]
fn load8_padded(line: &[u8], pos: usize) -> u64 {
    let mut w = [0u8; 8];
    let rest = line.get(pos..).unwrap_or_default();
    let n = rest.len().min(8);
    w[..n].copy_from_slice(&rest[..n]);
    u64::from_le_bytes(w)
}

pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
pub(super) const HIGHS: u64 = 0x8080_8080_8080_8080;

/// How many of the (up to 8) bytes of `w`, from the lowest, are ASCII digits before the first
/// non-digit. A byte `c` is flagged when `c - 0x30` or `c + 0x46` sets its high bit; borrows
/// and carries only travel to later bytes, so the first flag is exact.
#[inline(always)]
pub(super) fn digit_run(w: u64) -> usize {
    let non_digit = (w.wrapping_sub(0x30 * ONES) | w.wrapping_add(0x46 * ONES)) & HIGHS;
    (non_digit.trailing_zeros() / 8) as usize
}

/// The value of `n` (1..=8) ASCII digits in the low bytes of `w` (first digit lowest).
#[inline(always)]
pub(super) fn swar_value(w: u64, n: usize) -> u64 {
    // Move the digits to the top so that the bytes below act as leading zeros, then combine
    // pairs, quads and octets with three multiplications.
    let v = ((w & (0x0f * ONES)) << (8 * (8 - n))) & (0x0f * ONES);
    let v = (v.wrapping_mul(10 * 256 + 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    let v = (v.wrapping_mul(100 * 65_536 + 1) >> 16) & 0x0000_ffff_0000_ffff;
    v.wrapping_mul(10_000 * (1 << 32) + 1) >> 32
}

/// The digit run at `line[pos..]`: its value (`None` past 16 digits, for the caller's checked
/// path) and its length. Branches depend on the length in 8-digit steps only, not per digit:
/// a per-digit loop mispredicts its exit on every field.
#[inline(always)]
fn digits_at(line: &[u8], pos: usize) -> (Option<u64>, usize) {
    let w = load8(line, pos);
    let n = digit_run(w).min(line.len().saturating_sub(pos));
    if n == 0 {
        return (Some(0), 0);
    }
    let hi = swar_value(w, n);
    if n < 8 {
        return (Some(hi), n);
    }
    let w2 = load8(line, pos + 8);
    let n2 = digit_run(w2).min(line.len().saturating_sub(pos + 8));
    if n2 == 0 {
        return (Some(hi), 8);
    }
    if n2 < 8 {
        return (Some(hi * 10u64.pow(n2 as u32) + swar_value(w2, n2)), 8 + n2);
    }
    // 16 digits or more: count the rest and let the checked parser decide.
    let mut end = pos + 16;
    while line.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    if end == pos + 16 {
        return (Some(hi * 100_000_000 + swar_value(w2, 8)), 16);
    }
    (None, end - pos)
}

/// An address at `line[*pos..]` (`None` for `-`): IPv4 in one pass, else the token through std.
#[inline(always)]
fn addr_at(line: &[u8], pos: &mut usize) -> Result<Option<IpAddr>, Expected> {
    let rest = line.get(*pos..).unwrap_or_default();
    if let Some((a, len)) = ipv4_prefix(rest) {
        if ends_token(rest, len) {
            *pos += len;
            return Ok(Some(IpAddr::V4(a)));
        }
    }
    let end = token_end(line, *pos);
    let v = line.get(*pos..end).unwrap_or_default();
    *pos = end;
    if v == b"-" {
        return Ok(None);
    }
    addr(v).map(Some)
}

fn count_error(line: &[u8], line_no: u64, format: &Format) -> ParseError {
    let expected = format.columns.len();
    let found = tokens(line).take(expected + 1).count();
    ParseError {
        line: line_no,
        column: None,
        field: None,
        expected: Expected::FieldCount {
            expected: expected as u16,
            found: found as u16,
        },
        found: Snippet::EMPTY,
    }
}

#[inline]
fn parse_field(
    field: Field,
    v: &[u8],
    interner: &mut Interner,
    max_enis: usize,
    rec: &mut FlowRecord,
) -> Result<(), Expected> {
    if v == b"-" {
        // Absent; `rec` was cleared.
        return Ok(());
    }
    match field {
        Field::Version => rec.version = Some(int(v, u8::MAX as u64)? as u8),
        Field::AccountId => {
            if v != b"unknown" {
                rec.account_id = Some(parse_u64(v).ok_or(Expected::AccountId)?);
            }
        }
        Field::InterfaceId => rec.eni = Some(intern(v, interner, max_enis)?),
        Field::SrcAddr => rec.srcaddr = Some(addr(v)?),
        Field::DstAddr => rec.dstaddr = Some(addr(v)?),
        Field::SrcPort => rec.srcport = Some(int(v, u16::MAX as u64)? as u16),
        Field::DstPort => rec.dstport = Some(int(v, u16::MAX as u64)? as u16),
        Field::Protocol => rec.protocol = Some(int(v, u8::MAX as u64)? as u8),
        Field::Packets => rec.packets = Some(int(v, u64::MAX)?),
        Field::Bytes => rec.bytes = Some(int(v, u64::MAX)?),
        Field::Start => rec.start = Some(int(v, u64::MAX)?),
        Field::End => rec.end = Some(int(v, u64::MAX)?),
        Field::Action => {
            rec.action = Some(match v {
                b"ACCEPT" => Action::Accept,
                b"REJECT" => Action::Reject,
                _ => return Err(Expected::Action),
            })
        }
        Field::LogStatus => {
            rec.log_status = Some(match v {
                b"OK" => LogStatus::Ok,
                b"NODATA" => LogStatus::NoData,
                b"SKIPDATA" => LogStatus::SkipData,
                _ => return Err(Expected::LogStatus),
            })
        }
        Field::TcpFlags => rec.tcp_flags = Some(TcpFlags(int(v, u16::MAX as u64)? as u16)),
        Field::Type => {
            rec.ip_type = Some(match v {
                b"IPv4" => IpType::Ipv4,
                b"IPv6" => IpType::Ipv6,
                b"EFA" => IpType::Efa,
                _ => return Err(Expected::IpType),
            })
        }
        Field::PktSrcAddr => rec.pkt_srcaddr = Some(addr(v)?),
        Field::PktDstAddr => rec.pkt_dstaddr = Some(addr(v)?),
        Field::FlowDirection => {
            rec.flow_direction = Some(match v {
                b"ingress" => FlowDirection::Ingress,
                b"egress" => FlowDirection::Egress,
                _ => return Err(Expected::FlowDirection),
            })
        }
        Field::TrafficPath => rec.traffic_path = Some(int(v, u8::MAX as u64)? as u8),
        Field::EncryptionStatus => rec.encryption_status = Some(int(v, u8::MAX as u64)? as u8),
        Field::Text(t) => rec.text.set(t, v),
    }
    Ok(())
}

#[inline]
fn intern(v: &[u8], interner: &mut Interner, max_enis: usize) -> Result<u32, Expected> {
    if let Some(id) = interner.get(v) {
        // Known names were checked when they were interned.
        return Ok(id);
    }
    if v.len() > MAX_ENI_LEN || !v.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(Expected::InterfaceId);
    }
    if interner.len() >= max_enis {
        return Err(Expected::EniLimit {
            max: max_enis.min(u32::MAX as usize) as u32,
        });
    }
    Ok(interner.intern(v))
}

#[inline]
fn int(v: &[u8], max: u64) -> Result<u64, Expected> {
    match parse_u64(v) {
        Some(x) if x <= max => Ok(x),
        _ => Err(Expected::Integer { max }),
    }
}

/// Decimal digits to `u64`; `None` on anything else, on overflow, and on an empty value.
#[inline]
pub fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    if v.len() <= 19 {
        // 19 digits cannot overflow a u64: no checked arithmetic on the hot path.
        let mut x = 0u64;
        for &b in v {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            x = x * 10 + u64::from(d);
        }
        return Some(x);
    }
    let mut x = 0u64;
    for &b in v {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        x = x.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(x)
}

#[inline]
pub(super) fn addr(v: &[u8]) -> Result<IpAddr, Expected> {
    if let Some(a) = parse_ipv4(v) {
        return Ok(IpAddr::V4(a));
    }
    // IPv6 (and anything odd) through std's parser; it rejects invalid UTF-8 safely.
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse::<IpAddr>().ok())
        .ok_or(Expected::Address)
}

/// Dotted-quad IPv4 without going through `str`: 1-3 digits per octet, each at most 255.
/// Leading zeros are accepted (`010` is 10), unlike std's parser, as some exporters pad.
#[inline]
pub fn parse_ipv4(v: &[u8]) -> Option<Ipv4Addr> {
    ipv4_prefix(v).and_then(|(a, len)| (len == v.len()).then_some(a))
}

/// A dotted-quad IPv4 at the start of `v`, and its length. Each octet's digits are found and
/// valued with the same word-at-a-time code as integers: octet lengths vary from 1 to 3 at
/// random, and a per-digit loop mispredicts on each of them.
#[inline(always)]
pub(super) fn ipv4_prefix(v: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    let mut i = 0usize;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if v.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let w = load8(v, i);
        // Past the end, `load8` pads with zero bytes, which are not digits.
        let n = digit_run(w).min(3);
        if n == 0 {
            return None;
        }
        // Right-align the (at most 3) digits so that missing ones read as leading zeros; three
        // independent small products instead of the 8-digit multiply chain.
        let d = ((w & 0x000f_0f0f) << (8 * (3 - n))) & 0x000f_0f0f;
        let x = (d & 0xff) * 100 + ((d >> 8) & 0xff) * 10 + (d >> 16);
        if x > 255 {
            return None;
        }
        *octet = x as u8;
        i += n;
    }
    Some((Ipv4Addr::from(octets), i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlog::record::TextField;

    fn parse(format: &Format, line: &str) -> (Result<(), ParseError>, FlowRecord, Interner) {
        let mut rec = FlowRecord::default();
        let mut interner = Interner::new();
        let r = parse_line(line.as_bytes(), 1, format, &mut interner, 10, &mut rec);
        (r, rec, interner)
    }

    #[test]
    fn parses_default_v2_line() {
        let (r, rec, interner) = parse(
            &Format::v2(),
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 \
             4249 1418530010 1418530070 ACCEPT OK",
        );
        r.unwrap();
        assert_eq!(rec.version, Some(2));
        assert_eq!(rec.account_id, Some(123456789010));
        assert_eq!(interner.name(rec.eni.unwrap()), "eni-1235b8ca123456789");
        assert_eq!(rec.srcaddr, Some("172.31.16.139".parse().unwrap()));
        assert_eq!(rec.dstport, Some(22));
        assert_eq!(rec.bytes, Some(4249));
        assert_eq!(rec.action, Some(Action::Accept));
        assert_eq!(rec.log_status, Some(LogStatus::Ok));
    }

    #[test]
    fn reports_field_and_expectation() {
        let (r, _, _) = parse(
            &Format::v2(),
            "2 123456789010 eni-1 1.2.3.4 5.6.7.8 1 abc 6 1 1 1 2 ACCEPT OK",
        );
        let e = r.unwrap_err();
        assert_eq!(e.field, Some(Field::DstPort));
        assert_eq!(e.column, Some(6));
        assert_eq!(
            e.to_string(),
            "field `dstport`: expected an integer 0..=65535, found \"abc\""
        );
        let (r, _, _) = parse(&Format::v2(), "2 123456789010 eni-1 1.2.3.4");
        assert_eq!(r.unwrap_err().to_string(), "expected 14 fields, found 4");
        let (r, _, _) = parse(
            &Format::v2(),
            "2 123456789010 eni-1 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK extra",
        );
        assert_eq!(r.unwrap_err().to_string(), "expected 14 fields, found 15");
    }

    #[test]
    fn rejects_out_of_range_and_odd_values() {
        let f = Format::from_fields(&[Field::SrcAddr]);
        for bad in [
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.4x",
            "::g",
        ] {
            assert!(parse(&f, bad).0.is_err(), "{bad}");
        }
        assert_eq!(parse_ipv4(b"010.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        let f = Format::from_fields(&[Field::DstPort]);
        assert!(parse(&f, "65536").0.is_err());
        assert!(parse(&f, "65535").0.is_ok());
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"+1"), None);
    }

    #[test]
    fn eni_limit_bounds_the_interner() {
        let f = Format::from_fields(&[Field::InterfaceId]);
        let mut interner = Interner::new();
        let mut rec = FlowRecord::default();
        parse_line(b"eni-a", 1, &f, &mut interner, 1, &mut rec).unwrap();
        parse_line(b"eni-a", 2, &f, &mut interner, 1, &mut rec).unwrap();
        let e = parse_line(b"eni-b", 3, &f, &mut interner, 1, &mut rec).unwrap_err();
        assert_eq!(e.expected, Expected::EniLimit { max: 1 });
        assert_eq!(interner.len(), 1);
    }

    #[test]
    fn header_detection_and_opaque_columns() {
        assert!(is_header_line(b"version account-id interface-id"));
        assert!(is_header_line(b"${version} ${vpc-id}"));
        assert!(is_header_line(b"srcaddr some-new-field"));
        assert!(!is_header_line(b"2 123 eni-1"));
        assert!(!is_header_line(b"version 2"));
        assert!(!is_header_line(b""));
        let f = Format::parse("srcaddr new-field dstaddr").unwrap();
        assert_eq!(f.unknown_names(), ["new-field"]);
        assert_eq!(f.fields(), vec![Field::SrcAddr, Field::DstAddr]);
        assert_eq!(f.header(), "srcaddr new-field dstaddr");
        let (r, rec, _) = parse(&f, "1.1.1.1 whatever 2.2.2.2");
        r.unwrap();
        assert_eq!(rec.dstaddr, Some("2.2.2.2".parse().unwrap()));
        assert!(matches!(
            Format::parse("version resource-type tgw-id"),
            Err(FormatError::TransitGateway(name)) if name == "resource-type"
        ));
        assert_eq!(Format::parse("  "), Err(FormatError::Empty));
        assert_eq!(Format::v2().kind(), "v2");
    }

    #[test]
    fn format_kinds_and_header_round_trip() {
        let v5 = Format::from_fields(&crate::flowlog::V5_FIELDS);
        assert_eq!(v5.kind(), "v5");
        assert_eq!(Format::parse(&v5.header()).unwrap(), v5);
        let dollar = Format::parse("${version} ${srcaddr}").unwrap();
        assert_eq!(dollar.fields(), [Field::Version, Field::SrcAddr]);
        assert_eq!(dollar.kind(), "custom");
        assert!(dollar.has(Field::SrcAddr) && !dollar.has(Field::DstAddr));
        let many = vec!["srcaddr"; MAX_COLUMNS + 1].join(" ");
        assert_eq!(
            Format::parse(&many),
            Err(FormatError::TooManyColumns(MAX_COLUMNS + 1))
        );
    }

    #[test]
    fn dash_unknown_and_text() {
        let f = Format::parse("account-id vpc-id srcaddr tcp-flags").unwrap();
        let (r, rec, _) = parse(&f, "unknown vpc-abc - 18");
        r.unwrap();
        assert_eq!(rec.account_id, None);
        assert_eq!(rec.srcaddr, None);
        assert_eq!(rec.text.get(TextField::VpcId), Some("vpc-abc"));
        assert_eq!(rec.tcp_flags, Some(TcpFlags(18)));
    }

    #[test]
    fn swar_digits_match_a_scalar_parse() {
        for text in [
            "0",
            "7",
            "12",
            "65535",
            "1234567",
            "12345678",
            "123456789",
            "1418530010",
            "123456789010",
            "1234567890123456",
            "12345678901234567",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "00000000000000000001",
        ] {
            for suffix in ["", " x", "\tx", "a", "-"] {
                let line = format!("{text}{suffix}");
                let (v, n) = digits_at(line.as_bytes(), 0);
                assert_eq!(n, text.len(), "{line:?}");
                if let Some(v) = v {
                    assert_eq!(Some(v), parse_u64(text.as_bytes()), "{line:?}");
                }
            }
        }
        assert_eq!(digits_at(b"x1", 0), (Some(0), 0));
        assert_eq!(digits_at(b"", 0), (Some(0), 0));
        assert_eq!(digits_at(b"9:", 0), (Some(9), 1));
        assert_eq!(digits_at(b"/9", 0), (Some(0), 0));
        assert_eq!(token_end(b"eni-1235b8ca123456789 x", 0), 21);
        assert_eq!(token_end(b"eni-1235b8ca123456789\tx", 0), 21);
        assert_eq!(token_end(b"abcdefghijklmnop", 3), 16);
    }

    proptest::proptest! {
        #[test]
        fn swar_int_parse_agrees_with_scalar(line in proptest::collection::vec(
            proptest::prop_oneof![0x30u8..0x3a, proptest::prelude::any::<u8>()], 0..30)) {
            let scalar_n = line.iter().take_while(|b| b.is_ascii_digit()).count();
            let (v, n) = digits_at(&line, 0);
            proptest::prop_assert_eq!(n, scalar_n);
            if let Some(v) = v {
                proptest::prop_assert_eq!(Some(v), parse_u64(&line[..n]).or(Some(0)));
            }
            let scalar_end = line.iter().position(|&b| is_sep(b)).unwrap_or(line.len());
            proptest::prop_assert_eq!(token_end(&line, 0), scalar_end);
        }
    }

    #[test]
    fn snippet_escapes_and_truncates() {
        let s = Snippet::new(b"\x1b[31m\xff");
        assert_eq!(s.to_string(), "\"\\x1b[31m\\xff\"");
        let long = [b'a'; 40];
        let s = Snippet::new(&long);
        assert!(s.is_truncated());
        assert_eq!(s.as_bytes().len(), Snippet::CAP);
    }
}
