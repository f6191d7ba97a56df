//! Flow logs published to CloudWatch Logs, as they reach files: the records are the `message`
//! strings of log events in JSON, read as text lines (one per event, in order), so that every
//! rule of the text reader holds for them.
//!
//! Three shapes are read, detected by the (decompressed) file's start, whitespace aside:
//! `{"` or `{}`, `[{` or `[]` ([`looks_like_json`]):
//! - **Subscription data**, as a CloudWatch Logs subscription filter delivers it through
//!   Kinesis Data Firehose to S3: JSON objects (usually gzip members, concatenated without a
//!   separator) of `{"messageType": "DATA_MESSAGE", "logGroup": ..., "logStream": ...,
//!   "logEvents": [{"id": ..., "timestamp": ..., "message": "2 123456789012 eni-... OK"}]}`.
//!   `CONTROL_MESSAGE` objects (the destination's health checks) are skipped.
//! - **The AWS CLI's output** of `aws logs filter-log-events` or `aws logs get-log-events`:
//!   `{"events": [{"logStreamName": ..., "timestamp": ..., "message": ...}], ...}`.
//! - A JSON **array of events** (`[{"message": ...}, ...]`), as `jq '.events'` leaves it.
//!
//! Only `message` is read; other fields are skipped. A message is one flow-log record in the
//! flow log's format: CloudWatch Logs carries no header line, so a custom format needs
//! `--format` (the default v2 needs nothing). Error reports count lines as events: line `N` of
//! such a file is its `N`-th event (of the events read, control messages excluded).
//!
//! **Exports** (`aws logs create-export-task` to S3, objects `.../000000.gz`) are text: each
//! line is the event's timestamp (ISO 8601, UTC) and its message, `2026-03-02T00:00:05.000Z 2
//! 123456789012 eni-... OK`. A file whose first line starts so is read with each line's
//! timestamp removed ([`ExportLines`]; a line without one is read as it is, and so reported if
//! it is no record); line numbers are unchanged.
//!
//! The JSON is parsed as a stream on a background thread, event by event, so memory does not
//! grow with the file: one event's message, one subscription object's messages (CloudWatch
//! Logs delivers at most about 1 MB per object; they are held until the object ends, to know
//! its `messageType`), and the channel's chunks. A JSON syntax error ends the file with an
//! error naming the place (line and column of the JSON), after the events before it.

use std::fmt;
use std::io::{self, Read};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Whether `text` (a file's first bytes) starts CloudWatch Logs JSON: after any whitespace,
/// an object opening on a key or closing (`{"`, `{}`) or an array opening on an object or
/// closing (`[{`, `[]`). Anything else, a lone `[` included, is text.
pub fn looks_like_json(text: &[u8]) -> bool {
    let mut tokens = text.iter().filter(|b| !b.is_ascii_whitespace());
    matches!(
        (tokens.next(), tokens.next()),
        (Some(b'{'), Some(b'"' | b'}')) | (Some(b'['), Some(b'{' | b']'))
    )
}

/// The length of an ISO 8601 UTC timestamp and the space after it at the start of `line`
/// (`2026-03-02T00:00:05.123Z `, the fraction optional), as CloudWatch Logs' exports put
/// before each message; `None` when the line does not start so.
pub fn export_prefix(line: &[u8]) -> Option<usize> {
    const SHAPE: &[u8; 19] = b"dddd-dd-ddTdd:dd:dd";
    let head = line.get(..SHAPE.len())?;
    let shaped = head.iter().zip(SHAPE).all(|(&b, &s)| {
        if s == b'd' {
            b.is_ascii_digit()
        } else {
            b == s
        }
    });
    if !shaped {
        return None;
    }
    let mut i = SHAPE.len();
    if line.get(i) == Some(&b'.') {
        i += 1;
        let digits = line
            .get(i..)?
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || digits > 9 {
            return None;
        }
        i += digits;
    }
    (line.get(i..i + 2) == Some(b"Z ")).then_some(i + 2)
}

/// An export's lines with their timestamps removed (see the module docs): one line out for
/// each line in, so line numbers hold.
pub struct ExportLines<R> {
    src: io::BufReader<R>,
    line: Vec<u8>,
    pos: usize,
}

impl<R: Read> ExportLines<R> {
    /// Reads `src`, an export's text.
    pub fn new(src: R) -> Self {
        ExportLines {
            src: io::BufReader::with_capacity(1 << 16, src),
            line: Vec::new(),
            pos: 0,
        }
    }
}

impl<R: Read> Read for ExportLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::BufRead;
        while self.pos >= self.line.len() {
            self.line.clear();
            if self.src.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(0);
            }
            self.pos = export_prefix(&self.line).unwrap_or(0);
        }
        let k = self.line.get(self.pos..).unwrap_or_default().read(buf)?;
        self.pos += k;
        Ok(k)
    }
}

/// Where the parse writes the event messages as lines.
pub trait LineOut {
    /// Appends one line (`message` then a newline); `Err` when the reader is gone.
    fn line(&mut self, message: &[u8]) -> io::Result<()>;
}

/// Parses `src` (CloudWatch Logs JSON, see the module docs) to the end, writing each event's
/// message as a line to `out`.
pub fn convert(src: impl Read, out: &mut impl LineOut) -> io::Result<()> {
    let mut de = serde_json::Deserializer::from_reader(io::BufReader::with_capacity(1 << 16, src));
    // Top-level values follow one another (Firehose concatenates objects with no separator).
    while de.end().is_err() {
        Top { out: &mut *out }
            .deserialize(&mut de)
            .map_err(json_error)?;
    }
    Ok(())
}

fn json_error(e: serde_json::Error) -> io::Error {
    match e.io_error_kind() {
        Some(kind) => io::Error::new(kind, e.to_string()),
        None => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("CloudWatch Logs JSON: {e}"),
        ),
    }
}

/// A top-level value: an object (subscription data or the CLI's output) or an array of events.
struct Top<'a, O> {
    out: &'a mut O,
}

impl<'de, O: LineOut> DeserializeSeed<'de> for Top<'_, O> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, O: LineOut> Visitor<'de> for Top<'_, O> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CloudWatch Logs object (`logEvents` or `events`) or an array of events")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut control = false;
        // Subscription events, held until the object's end tells whether it is data.
        let mut held: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "messageType" => {
                    let t: Option<String> = map.next_value()?;
                    control = t.as_deref() == Some("CONTROL_MESSAGE");
                }
                "logEvents" => map.next_value_seed(Events {
                    sink: Sink::<O>::Hold(&mut held),
                })?,
                "events" => map.next_value_seed(Events {
                    sink: Sink::Out(&mut *self.out),
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !control {
            for m in &held {
                self.out.line(m.as_bytes()).map_err(de::Error::custom)?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Events {
            sink: Sink::Out(self.out),
        }
        .visit_seq(seq)
    }
}

/// Where an events array's messages go: out at once, or held (subscription objects).
enum Sink<'a, O> {
    Out(&'a mut O),
    Hold(&'a mut Vec<String>),
}

/// An array of events.
struct Events<'a, O> {
    sink: Sink<'a, O>,
}

impl<'de, O: LineOut> DeserializeSeed<'de> for Events<'_, O> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, O: LineOut> Visitor<'de> for Events<'_, O> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of log events")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(event) = seq.next_element::<Event>()? {
            let Some(message) = event.message else {
                continue;
            };
            match &mut self.sink {
                Sink::Out(out) => out.line(message.as_bytes()).map_err(de::Error::custom)?,
                Sink::Hold(held) => held.push(message),
            }
        }
        Ok(())
    }
}

/// One log event: its message (the other fields are skipped).
#[derive(serde::Deserialize)]
struct Event {
    #[serde(default)]
    message: Option<String>,
}

/// A [`LineOut`] into a byte buffer (tests, and the background thread's chunks).
impl LineOut for Vec<u8> {
    fn line(&mut self, message: &[u8]) -> io::Result<()> {
        self.extend_from_slice(message);
        self.push(b'\n');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(json: &str) -> io::Result<String> {
        let mut out = Vec::new();
        convert(json.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn subscription_objects_concatenated_control_messages_skipped() {
        let json = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"1","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"vpc-flow","logStream":"eni-1-all","subscriptionFilters":["f"],"logEvents":[{"id":"2","timestamp":2,"message":"2 1 eni-1 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK"},{"id":"3","timestamp":3,"message":"2 1 eni-1 - - - - - - - 1 2 - NODATA"}]}
        {"logEvents":[{"message":"third"}],"messageType":"DATA_MESSAGE"}"#;
        assert_eq!(
            lines(json).expect("valid"),
            "2 1 eni-1 1.2.3.4 5.6.7.8 1 2 6 1 1 1 2 ACCEPT OK\n\
             2 1 eni-1 - - - - - - - 1 2 - NODATA\nthird\n"
        );
    }

    #[test]
    fn cli_output_and_bare_arrays() {
        let json = r#"{
  "events": [
    {"logStreamName": "eni-1-all", "timestamp": 1, "message": "a b", "ingestionTime": 2, "eventId": "x"},
    {"timestamp": 3, "ingestionTime": 4},
    {"message": "c \"quoted\" é"}
  ],
  "searchedLogStreams": [{"logStreamName": "eni-1-all", "searchedCompletely": true}],
  "nextToken": "t"
}
[{"message": "d"}]"#;
        assert_eq!(
            lines(json).expect("valid"),
            "a b\nc \"quoted\" é\nd\n",
            "events without a message are skipped"
        );
    }

    #[test]
    fn json_is_told_from_text_by_its_first_two_tokens() {
        for (text, json) in [
            (&b"{\"messageType\""[..], true),
            (b"\n  {\n    \"events\": []", true),
            (b"{}", true),
            (b"[{\"message\": \"x\"}]", true),
            (b" [ ] ", true),
            (b"[", false),
            (b"{", false),
            (b"[1, 2]", false),
            (b"{x", false),
            (b"2 123456789012 eni-a", false),
            (b"", false),
        ] {
            assert_eq!(
                looks_like_json(text),
                json,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn export_timestamps_are_removed_line_by_line() {
        for (line, want) in [
            (&b"2026-03-02T00:00:05.000Z 2 1 eni-a"[..], Some(25)),
            (b"2026-03-02T00:00:05Z x", Some(21)),
            (b"2026-03-02T00:00:05.123456789Z x", Some(31)),
            (b"2026-03-02T00:00:05.Z x", None),
            (b"2026-03-02 00:00:05Z x", None),
            (b"2026-03-02T00:00:05.000+01:00 x", None),
            (b"2 123456789012 eni-a", None),
            (b"2026-03-02T00:00:05.000Z", None),
        ] {
            assert_eq!(
                export_prefix(line),
                want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        let text = "2026-03-02T00:00:05.000Z 2 1 eni-a\nno stamp here\n\n2026-03-02T00:00:06Z last";
        let mut out = String::new();
        ExportLines::new(text.as_bytes())
            .read_to_string(&mut out)
            .expect("read");
        assert_eq!(out, "2 1 eni-a\nno stamp here\n\nlast");
    }

    #[test]
    fn broken_json_is_an_error_after_the_events_before_it() {
        let mut out = Vec::new();
        let e = convert(
            r#"{"events":[{"message":"one"},{"message":"two"}]}{"events":[{"mess"#.as_bytes(),
            &mut out,
        )
        .expect_err("truncated");
        assert_eq!(out, b"one\ntwo\n");
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = lines(r#"{"events": 5}"#).expect_err("not an array");
        assert!(e.to_string().contains("CloudWatch Logs JSON"), "{e}");
        assert!(lines("").expect("empty").is_empty());
        assert!(lines(" \n ").expect("blank").is_empty());
    }
}
