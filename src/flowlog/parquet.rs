//! Flow logs delivered as Apache Parquet (AWS's `FileFormat=parquet`, files named
//! `*.log.parquet`), read as the text lines of a custom format, so that every rule of the text
//! reader holds for them: the same fields and values, `-` for an absent value, malformed
//! values reported with file, line and field, and the same windows downstream.
//!
//! [`ParquetLines`] is a [`Read`] of a Parquet file's rows as text: first a header line of its
//! columns (each name lower-cased, `_` and any other separator as `-`, so AWS's
//! `interface_id` is the text format's `interface-id`), then one line per row, values
//! separated by spaces. A null is `-`. Line `N` of the text is row `N - 1` of the file (the
//! header is line 1), counting rows from 1 across its row groups, which is what error
//! messages show.
//!
//! Columns:
//! - integers (`INT32`, `INT64`; unsigned when the column's logical type says so) are written
//!   in decimal; a negative value is then reported by the field's parser like any other bad
//!   number (`expected an integer 0..=65535, found "-1"`); a 64-bit timestamp (milli-, micro-
//!   or nanoseconds, as a converter may store `start` and `end`) is written in whole seconds,
//!   the unit of the flow-log fields;
//! - strings (`BYTE_ARRAY`) are written as they are when every byte is a printable ASCII
//!   character; a byte that cannot appear in a space-separated field (a space, a control byte,
//!   non-ASCII) is written as DEL (`0x7f`), and an empty string as one DEL, which no checked
//!   field (interface id, address, action, status, type, direction, number) accepts: the row
//!   is reported as a malformed line rather than read with a changed value. Fields kept as
//!   opaque text (`vpc-id`, unknown columns) carry the DEL;
//! - columns whose names are not flow-log fields (VPC or Transit Gateway) are kept as opaque
//!   columns, as an unknown name in a text header is, after the known ones (a header must
//!   start with a field name); a file with no flow-log field at all is an error listing its
//!   columns;
//! - a column of any other type (boolean, floating point, `INT96`, fixed-length bytes) or a
//!   repeated (list) column is an error when the file is opened, naming the column: no flow-log
//!   field has one, and guessing its text would change values silently.
//!
//! Gzip (AWS's codec), Snappy and uncompressed pages are read; a file with another codec (zstd,
//! LZ4, Brotli) is an error naming it, at its first page.
//!
//! Memory: rows are decoded [`BATCH`] at a time, column by column, so a file costs one page
//! per column (as the writer sized them: AWS writes pages of about 1 MiB or less), the batch's
//! values and its text (about 4,096 lines), whatever its row groups' sizes.
//!
//! A file the decoder cannot read is an I/O error naming the file, which stops the run as a
//! corrupt gzip file does (a panic inside the decoder, on a corrupt file it does not check, is
//! caught and reported the same way).
//!
//! Parquet keeps its index at the end of the file, so it is read from a path, not from a
//! stream: Parquet on standard input or a pipe is an error that says so.

use std::fs::File;
use std::io::{self, Read};

use parquet::basic::{ConvertedType, LogicalType, TimeUnit, Type as PhysicalType};
use parquet::column::reader::{get_typed_column_reader, ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::parse::is_transit_gateway_name;
use super::write::parse_field_name;

/// Rows decoded and written as text at a time.
pub const BATCH: usize = 4096;

/// The byte a value that cannot be written as a field becomes (see the module docs).
const DEL: u8 = 0x7f;

/// A Parquet file's rows as text lines (see the module docs).
pub struct ParquetLines {
    file: SerializedFileReader<File>,
    columns: Vec<Column>,
    /// The next row group to open.
    next_group: usize,
    /// Rows left in the open row group.
    left: usize,
    /// Rows written so far (for error messages).
    rows: u64,
    /// Text not yet read, from `pos`.
    out: Vec<u8>,
    pos: usize,
}

/// One column: where it is, how it is read, and the current batch.
struct Column {
    /// The leaf column's index in the file's schema.
    leaf: usize,
    name: String,
    /// Whether a value can be null (its definition levels are read).
    nullable: bool,
    max_def: i16,
    /// The column's reader in the open row group.
    reader: Option<Typed>,
    defs: Vec<i16>,
    values: Values,
}

enum Typed {
    I32(ColumnReaderImpl<Int32Type>),
    I64(ColumnReaderImpl<Int64Type>),
    Bytes(ColumnReaderImpl<ByteArrayType>),
}

/// A batch's non-null values, and whether integers are unsigned; for 64-bit timestamps, their
/// units per second (1 for plain integers).
enum Values {
    I32(Vec<i32>, bool),
    I64(Vec<i64>, bool, i64),
    Bytes(Vec<ByteArray>),
}

/// Runs `f`, a call into the Parquet decoder, turning a panic in it (a corrupt file it does not
/// check) into an error: the run reports the file instead of stopping the process.
fn guard<T>(f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(invalid(
            "Parquet: the decoder failed on this file (corrupt?)".to_string(),
        ))
    })
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn parquet_error(e: parquet::errors::ParquetError) -> io::Error {
    let msg = e.to_string();
    if let Some(codec) = msg.split("Disabled feature at compile time: ").nth(1) {
        return invalid(format!(
            "Parquet pages compressed with {codec}, a codec flowvigil does not read (it reads \
             Gzip, which AWS writes, Snappy and uncompressed pages): rewrite the file with one \
             of those"
        ));
    }
    if msg.starts_with("Parquet") {
        invalid(msg)
    } else {
        invalid(format!("Parquet: {msg}"))
    }
}

/// A column's name as a text-header name: lower case, `_` (and anything but a letter, digit
/// or `-`) as `-`, starting with a letter (`x-` is put before one that does not).
fn header_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, "x-");
    }
    out
}

impl ParquetLines {
    /// Opens `file` (a Parquet file, read from its footer) and checks its columns.
    pub fn open(file: File) -> io::Result<Self> {
        let file = guard(|| SerializedFileReader::new(file).map_err(parquet_error))?;
        let schema = file.metadata().file_metadata().schema_descr_ptr();
        let mut known = Vec::new();
        let mut opaque = Vec::new();
        for leaf in 0..schema.num_columns() {
            let c = schema.column(leaf);
            let path = c.path().string();
            if c.max_rep_level() > 0 {
                return Err(invalid(format!(
                    "Parquet column `{path}` is repeated (a list); flow-log columns are single values"
                )));
            }
            let unsigned = matches!(
                c.logical_type_ref(),
                Some(LogicalType::Integer(int)) if !int.is_signed
            ) || matches!(
                c.converted_type(),
                ConvertedType::UINT_8
                    | ConvertedType::UINT_16
                    | ConvertedType::UINT_32
                    | ConvertedType::UINT_64
            );
            // Timestamps (a writer's `start` and `end` may be one) become Unix seconds.
            let per_second = match c.logical_type_ref() {
                Some(LogicalType::Timestamp(t)) => match t.unit {
                    TimeUnit::MILLIS => 1_000,
                    TimeUnit::MICROS => 1_000_000,
                    TimeUnit::NANOS => 1_000_000_000,
                },
                _ => match c.converted_type() {
                    ConvertedType::TIMESTAMP_MILLIS => 1_000,
                    ConvertedType::TIMESTAMP_MICROS => 1_000_000,
                    _ => 1,
                },
            };
            let values = match c.physical_type() {
                PhysicalType::INT32 => Values::I32(Vec::new(), unsigned),
                PhysicalType::INT64 => Values::I64(Vec::new(), unsigned, per_second),
                PhysicalType::BYTE_ARRAY => Values::Bytes(Vec::new()),
                other => {
                    return Err(invalid(format!(
                        "Parquet column `{path}` has type {other}, which no flow-log field has \
                         (integers and strings only)"
                    )))
                }
            };
            let name = header_name(c.name());
            let column = Column {
                leaf,
                nullable: c.max_def_level() > 0,
                max_def: c.max_def_level(),
                reader: None,
                defs: Vec::new(),
                values,
                name,
            };
            if parse_field_name(&column.name).is_some() || is_transit_gateway_name(&column.name) {
                known.push(column);
            } else {
                opaque.push(column);
            }
        }
        if known.is_empty() {
            let names: Vec<String> = (0..schema.num_columns())
                .map(|i| schema.column(i).path().string())
                .collect();
            return Err(invalid(format!(
                "no column of this Parquet file is a flow-log field (columns: {})",
                names.join(", ")
            )));
        }
        known.extend(opaque);
        let mut out = Vec::new();
        for (i, c) in known.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(c.name.as_bytes());
        }
        out.push(b'\n');
        Ok(Self {
            file,
            columns: known,
            next_group: 0,
            left: 0,
            rows: 0,
            out,
            pos: 0,
        })
    }

    /// The header line's names, in order (the file's flow-log columns, then the others).
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Opens the next non-empty row group; false when there is none.
    fn open_group(&mut self) -> io::Result<bool> {
        while self.left == 0 {
            if self.next_group >= self.file.num_row_groups() {
                return Ok(false);
            }
            let group = self
                .file
                .get_row_group(self.next_group)
                .map_err(parquet_error)?;
            self.next_group += 1;
            self.left = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
            for c in &mut self.columns {
                let reader = group.get_column_reader(c.leaf).map_err(parquet_error)?;
                c.reader = Some(match reader {
                    ColumnReader::Int32ColumnReader(_) => {
                        Typed::I32(get_typed_column_reader::<Int32Type>(reader))
                    }
                    ColumnReader::Int64ColumnReader(_) => {
                        Typed::I64(get_typed_column_reader::<Int64Type>(reader))
                    }
                    ColumnReader::ByteArrayColumnReader(_) => {
                        Typed::Bytes(get_typed_column_reader::<ByteArrayType>(reader))
                    }
                    _ => {
                        return Err(invalid(format!(
                            "Parquet column `{}` changed type in row group {}",
                            c.name, self.next_group
                        )))
                    }
                });
            }
        }
        Ok(true)
    }

    /// Decodes the next batch of rows into `out` as text; false at the end of the file.
    fn fill(&mut self) -> io::Result<bool> {
        if !self.open_group()? {
            return Ok(false);
        }
        let n = self.left.min(BATCH);
        for c in &mut self.columns {
            c.read(n, self.rows)?;
        }
        self.left -= n;
        let mut at = vec![0usize; self.columns.len()];
        for r in 0..n {
            for (i, (c, next)) in self.columns.iter().zip(at.iter_mut()).enumerate() {
                if i > 0 {
                    self.out.push(b' ');
                }
                let present = !c.nullable || c.defs.get(r).is_some_and(|&d| d == c.max_def);
                if !present {
                    self.out.push(b'-');
                    continue;
                }
                let v = *next;
                *next += 1;
                let mut digits = itoa::Buffer::new();
                match &c.values {
                    Values::I32(v32, unsigned) => {
                        let x = v32.get(v).copied().unwrap_or_default();
                        let s = if *unsigned {
                            digits.format(x as u32)
                        } else {
                            digits.format(x)
                        };
                        self.out.extend_from_slice(s.as_bytes());
                    }
                    Values::I64(v64, unsigned, per_second) => {
                        let x = v64.get(v).copied().unwrap_or_default();
                        let s = if *unsigned {
                            digits.format(x as u64)
                        } else {
                            digits.format(x.div_euclid(*per_second))
                        };
                        self.out.extend_from_slice(s.as_bytes());
                    }
                    Values::Bytes(b) => {
                        let s = b.get(v).map(ByteArray::data).unwrap_or_default();
                        if s.is_empty() {
                            self.out.push(DEL);
                        }
                        self.out.extend(
                            s.iter()
                                .map(|&b| if b.is_ascii_graphic() { b } else { DEL }),
                        );
                    }
                }
            }
            self.out.push(b'\n');
        }
        self.rows += n as u64;
        Ok(true)
    }
}

impl Column {
    /// Reads the next `n` rows of this column (`row` rows were read before them).
    fn read(&mut self, n: usize, row: u64) -> io::Result<()> {
        self.defs.clear();
        let defs = self.nullable.then_some(&mut self.defs);
        let got = match (&mut self.reader, &mut self.values) {
            (Some(Typed::I32(r)), Values::I32(v, _)) => {
                v.clear();
                read_all(r, n, defs, v)
            }
            (Some(Typed::I64(r)), Values::I64(v, _, _)) => {
                v.clear();
                read_all(r, n, defs, v)
            }
            (Some(Typed::Bytes(r)), Values::Bytes(v)) => {
                v.clear();
                read_all(r, n, defs, v)
            }
            _ => {
                return Err(invalid(format!(
                    "Parquet column `{}` changed type in the file",
                    self.name
                )))
            }
        }
        .map_err(parquet_error)?;
        if got != n {
            return Err(invalid(format!(
                "Parquet column `{}` ends at row {}, before its row group does ({} rows)",
                self.name,
                row + got as u64 + 1,
                row + n as u64
            )));
        }
        Ok(())
    }
}

/// Reads `n` records of a flat column (fewer only at the column chunk's end): definition
/// levels into `defs` when given, the non-null values into `values`.
fn read_all<T: parquet::data_type::DataType>(
    reader: &mut ColumnReaderImpl<T>,
    n: usize,
    mut defs: Option<&mut Vec<i16>>,
    values: &mut Vec<T::T>,
) -> parquet::errors::Result<usize> {
    let mut got = 0;
    while got < n {
        let (records, _, _) = reader.read_records(n - got, defs.as_deref_mut(), None, values)?;
        if records == 0 {
            break;
        }
        got += records;
    }
    Ok(got)
}

impl Read for ParquetLines {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.out.len() {
            self.out.clear();
            self.pos = 0;
            if !guard(|| self.fill())? {
                return Ok(0);
            }
        }
        let k = self.out.get(self.pos..).unwrap_or_default().read(buf)?;
        self.pos += k;
        Ok(k)
    }
}
