//! Reading import rows from CSV (with a header row) or JSON Lines.
//!
//! A row that cannot be read as a registration is returned as
//! [`InputItem::Invalid`] with its line number, so the run goes on. Only a
//! file that cannot be opened or read, a JSON array read as JSON Lines, or
//! a CSV header without the required columns or with two columns for one
//! field, is an error.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::cli::InputFormat;
use crate::exit::CliError;

/// The fields of one row, as text, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRow {
    pub user_id: String,
    pub token: String,
    pub platform: String,
    pub provider: Option<String>,
    pub device_id: Option<String>,
    /// The row as it is in the file, without its line ending: the JSON
    /// line, or the CSV record (which may span lines). The failures file
    /// keeps it, so a row that could not be read is not lost.
    pub original: Vec<u8>,
}

/// One row of the input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputItem {
    /// A row with every required field present; not validated yet.
    Row { line: u64, raw: RawRow },
    /// A row that cannot be read. `raw` contains the fields that could be
    /// read. `reason` is the whole message, such as `invalid row: is not a
    /// JSON object` or `invalid user_id: missing`.
    Invalid { line: u64, raw: RawRow, reason: String },
}

/// The names a token column or key may have. The server's request body
/// accepts `fcm_token` and `push_token`.
const TOKEN_NAMES: [&str; 3] = ["token", "fcm_token", "push_token"];

/// Each field and the names its column or key may have.
const FIELD_NAMES: [&[&str]; 5] = [&["user_id"], &TOKEN_NAMES, &["platform"], &["provider"], &["device_id"]];

/// Checks that the input file exists and can be read, so that a missing
/// file is reported as missing before its extension is looked at.
pub fn check_readable(path: &Path) -> Result<(), CliError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::input(format!("the input file {} was not found", path.display())))
        }
        Err(error) => return Err(CliError::input(format!("cannot read {}: {error}", path.display()))),
    };
    if file.metadata().is_ok_and(|metadata| metadata.is_dir()) {
        return Err(CliError::input(format!("{} is a directory; give the input file", path.display())));
    }
    Ok(())
}

/// Returns the format: `--format` when given, else the file's extension.
pub fn detect_format(path: &Path, flag: Option<InputFormat>) -> Result<InputFormat, CliError> {
    if let Some(format) = flag {
        return Ok(format);
    }
    let extension = path.extension().and_then(|ext| ext.to_str()).unwrap_or_default().to_ascii_lowercase();
    match extension.as_str() {
        "csv" => Ok(InputFormat::Csv),
        "jsonl" | "ndjson" | "json" => Ok(InputFormat::Jsonl),
        _ => Err(CliError::input(format!(
            "cannot tell the format of {} from its extension; give --format csv or --format jsonl",
            path.display()
        ))),
    }
}

/// Returns a reader of the file's rows, in file order.
pub fn open(
    path: &Path,
    format: InputFormat,
) -> Result<Box<dyn Iterator<Item = Result<InputItem, CliError>> + Send>, CliError> {
    let file = File::open(path)
        .map_err(|error| CliError::input(format!("cannot read {}: {error}", path.display())))?;
    match format {
        InputFormat::Csv => Ok(Box::new(CsvRows::new(file, path)?)),
        InputFormat::Jsonl => Ok(Box::new(JsonRows::new(file, path))),
    }
}

/// Counts the file's rows, valid or not, so progress can show a total.
pub fn count_rows(path: &Path, format: InputFormat) -> Result<u64, CliError> {
    let mut count = 0;
    for item in open(path, format)? {
        item?;
        count += 1;
    }
    Ok(count)
}

/// Column positions of a CSV header row.
#[derive(Debug, Clone, Copy)]
struct Columns {
    user_id: usize,
    token: usize,
    platform: usize,
    provider: Option<usize>,
    device_id: Option<usize>,
    count: usize,
}

/// CSV rows with the physical line each starts on.
///
/// The csv crate's own line numbers skip blank and comment lines and
/// miscount CRLF files, so this reader splits the file into records itself:
/// a record is one or more physical lines, extended while it contains an
/// odd number of `"` (a quoted field with a line break). Each record is then
/// parsed by the csv crate.
struct CsvRows {
    lines: PhysicalLines,
    parser: RecordParser,
    columns: Columns,
    path: String,
}

impl CsvRows {
    fn new(file: File, path: &Path) -> Result<Self, CliError> {
        let path_text = path.display().to_string();
        let mut lines = PhysicalLines::new(file);
        let header = match lines.next_record() {
            Ok(Some((_, record))) => record,
            Ok(None) => {
                return Err(CliError::input(format!(
                    "{path_text} is empty; the first line must be the header row"
                )))
            }
            Err(error) => return Err(CliError::input(format!("cannot read {path_text}: {error}"))),
        };
        let mut parser = RecordParser::new();
        let headers = parser.parse(&header);
        let names: Vec<String> = headers
            .iter()
            .map(|name| {
                String::from_utf8_lossy(name).trim_start_matches('\u{feff}').trim().to_ascii_lowercase()
            })
            .collect();
        // Two columns for one field would leave it unclear which value to send.
        for field_names in FIELD_NAMES {
            let found: Vec<&str> =
                names.iter().map(String::as_str).filter(|name| field_names.contains(name)).collect();
            if found.len() > 1 {
                return Err(CliError::input(format!(
                    "the header row of {path_text} has more than one column for the same field: {}; keep only one of them",
                    found.join(", ")
                )));
            }
        }
        let find = |wanted: &[&str]| names.iter().position(|name| wanted.contains(&name.as_str()));
        let missing = |column: &str| {
            CliError::input(format!(
                "the header row of {path_text} has no {column} column; the columns are user_id, token (or fcm_token, push_token), platform, and optional provider and device_id"
            ))
        };
        let columns = Columns {
            user_id: find(&["user_id"]).ok_or_else(|| missing("user_id"))?,
            token: find(&TOKEN_NAMES).ok_or_else(|| missing("token"))?,
            platform: find(&["platform"]).ok_or_else(|| missing("platform"))?,
            provider: find(&["provider"]),
            device_id: find(&["device_id"]),
            count: names.len(),
        };
        Ok(Self { lines, parser, columns, path: path_text })
    }

    fn row(&self, line: u64, record: &csv::ByteRecord, original: Vec<u8>) -> InputItem {
        let mut raw = RawRow { original, ..RawRow::default() };
        let mut problems = Vec::new();
        // A field that is not UTF-8 is left empty instead of having bytes
        // replaced; the original record keeps its bytes.
        let mut field = |index: usize, name: &str| -> String {
            let bytes = record.get(index).unwrap_or_default();
            match std::str::from_utf8(bytes) {
                Ok(text) => text.to_owned(),
                Err(error) => {
                    problems.push(format!("{name} {}", describe_utf8_error(bytes, &error, "field")));
                    String::new()
                }
            }
        };
        raw.user_id = field(self.columns.user_id, "user_id");
        raw.token = field(self.columns.token, "token");
        raw.platform = field(self.columns.platform, "platform");
        raw.provider =
            self.columns.provider.map(|index| field(index, "provider")).filter(|text| !text.is_empty());
        raw.device_id =
            self.columns.device_id.map(|index| field(index, "device_id")).filter(|text| !text.is_empty());

        if record.len() != self.columns.count {
            let reason = format!(
                "has {} fields but the header row has {}; quote values that contain commas",
                record.len(),
                self.columns.count
            );
            return InputItem::Invalid { line, raw, reason: row_problem(&reason) };
        }
        if let Some(reason) = problems.into_iter().next() {
            return InputItem::Invalid { line, raw, reason: row_problem(&reason) };
        }
        InputItem::Row { line, raw }
    }
}

impl Iterator for CsvRows {
    type Item = Result<InputItem, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (line, record) = match self.lines.next_record() {
            Ok(Some(found)) => found,
            Ok(None) => return None,
            Err(error) => return Some(Err(CliError::input(format!("cannot read {}: {error}", self.path)))),
        };
        let parsed = self.parser.parse(&record);
        Some(Ok(self.row(line, &parsed, without_line_ending(record))))
    }
}

/// Returns the reason for a row that cannot be read as a whole, as opposed
/// to one field that breaks an input rule (`invalid user_id: ...`).
fn row_problem(problem: &str) -> String {
    format!("invalid row: {problem}")
}

/// Returns `bytes` without a final `\n` or `\r\n`.
fn without_line_ending(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    bytes
}

/// Describes invalid UTF-8 by its first invalid byte and that byte's
/// position in `bytes`, counting from 1, followed by the fix. `within`
/// names what `bytes` is ("field" or "line"), because positions in a CSV
/// field and in a JSON line count from different starts.
fn describe_utf8_error(bytes: &[u8], error: &std::str::Utf8Error, within: &str) -> String {
    let position = error.valid_up_to();
    format!(
        "is not valid UTF-8 (byte 0x{:02X} at byte {} of the {within}); save the file as UTF-8 and import it again",
        bytes[position],
        position + 1
    )
}

/// Describes a JSON syntax error in one JSON Lines line. serde_json ends
/// its message with "at line 1 column N", and its line 1 is not the file's
/// line, so the position is given as the column of the line instead.
fn describe_json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&position) {
        Some(message) => format!("is not valid JSON: {message} at column {} of the line", error.column()),
        None => format!("is not valid JSON: {message}"),
    }
}

/// Parses one record at a time with one reused csv-core reader, because
/// building a reader is far slower than parsing a short record.
struct RecordParser {
    reader: csv_core::Reader,
    output: Vec<u8>,
    ends: Vec<usize>,
}

impl RecordParser {
    fn new() -> Self {
        Self { reader: csv_core::Reader::new(), output: Vec::new(), ends: Vec::new() }
    }

    /// Parses `bytes` as one CSV record and trims whitespace around its fields.
    fn parse(&mut self, bytes: &[u8]) -> csv::ByteRecord {
        self.reader.reset();
        // Unquoting never makes the output longer than the input, and a
        // record has at most one field more than it has bytes.
        self.output.resize(bytes.len() + 1, 0);
        self.ends.resize(bytes.len() + 2, 0);
        let (result, _, mut written, mut fields) =
            self.reader.read_record(bytes, &mut self.output, &mut self.ends);
        if result == csv_core::ReadRecordResult::InputEmpty {
            // The record has no final newline: empty input ends it.
            let (_, _, more_written, more_fields) =
                self.reader.read_record(&[], &mut self.output[written..], &mut self.ends[fields..]);
            written += more_written;
            fields += more_fields;
        }

        let mut record = csv::ByteRecord::new();
        let mut start = 0;
        for &end in &self.ends[..fields] {
            record.push_field(&self.output[start..end.min(written)]);
            start = end;
        }
        record.trim();
        record
    }
}

/// Splits a file into CSV records made of whole physical lines, skipping
/// blank lines and lines that start with `#` between records.
struct PhysicalLines {
    reader: BufReader<File>,
    /// The number of the last line read, counting from 1.
    line: u64,
}

impl PhysicalLines {
    fn new(file: File) -> Self {
        Self { reader: BufReader::new(file), line: 0 }
    }

    /// Returns the next record and the line it starts on.
    fn next_record(&mut self) -> std::io::Result<Option<(u64, Vec<u8>)>> {
        let mut record = Vec::new();
        let mut first_line = 0;
        let mut open_quote = false;
        loop {
            let mut buffer = Vec::new();
            if self.reader.read_until(b'\n', &mut buffer)? == 0 {
                // An unclosed quote at the end of the file: the parser reports what it can.
                return Ok((!record.is_empty()).then_some((first_line, record)));
            }
            self.line += 1;
            if self.line == 1 && buffer.starts_with(b"\xef\xbb\xbf") {
                buffer.drain(..3);
            }
            if record.is_empty() {
                let blank = buffer.iter().all(u8::is_ascii_whitespace);
                if blank || buffer.first() == Some(&b'#') {
                    continue;
                }
                first_line = self.line;
            }
            // Each `"` opens or closes a quoted field; `""` inside one changes nothing.
            open_quote ^= buffer.iter().fold(false, |odd, &byte| odd ^ (byte == b'"'));
            record.extend_from_slice(&buffer);
            if !open_quote {
                return Ok(Some((first_line, record)));
            }
        }
    }
}

struct JsonRows {
    reader: BufReader<File>,
    line: u64,
    path: PathBuf,
    /// Whether a non-blank line was read.
    started: bool,
}

impl JsonRows {
    fn new(file: File, path: &Path) -> Self {
        Self { reader: BufReader::new(file), line: 0, path: path.to_owned(), started: false }
    }

    /// Returns the error for a file that is one JSON array, which would
    /// otherwise be read line by line as half valid, half invalid rows.
    fn array_error(&self) -> CliError {
        let mut converted = self.path.with_extension("jsonl");
        if converted == self.path {
            converted = self.path.with_extension("lines.jsonl");
        }
        CliError::input(format!(
            "{} starts with [, so it looks like a JSON array; import reads JSON Lines, one JSON object per line. Convert it with: jq -c '.[]' {} > {}",
            self.path.display(),
            self.path.display(),
            converted.display()
        ))
    }
}

impl Iterator for JsonRows {
    type Item = Result<InputItem, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match self.reader.read_until(b'\n', &mut buffer) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) => {
                    return Some(Err(CliError::input(format!(
                        "cannot read {}: {error}",
                        self.path.display()
                    ))))
                }
            }
            self.line += 1;
            let mut bytes = buffer.as_slice();
            if self.line == 1 {
                bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
            }
            let Some(first) = bytes.iter().find(|byte| !byte.is_ascii_whitespace()) else {
                continue;
            };
            if !self.started {
                self.started = true;
                if *first == b'[' {
                    return Some(Err(self.array_error()));
                }
            }
            return Some(Ok(parse_json_row(self.line, bytes.to_vec())));
        }
    }
}

/// The members of a JSON object in file order, repeated keys included.
/// `serde_json::Map` keeps only the last value of a repeated key.
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

impl Members {
    /// Returns the field's string value from its first non-null key among
    /// `names`. A null value counts as absent, as in the server's request
    /// body, so {"token": null, "push_token": "t"} takes its token from
    /// push_token. Pushes a problem for a value that is not a string, and
    /// for two keys (or one repeated key) with different values.
    ///
    /// Two different values return `None`, so the failures file leaves the
    /// field empty: writing either value there would make an unedited
    /// failures file register a value this import rejected.
    fn field(&self, names: &[&str], problems: &mut Vec<String>) -> Option<String> {
        let mut found: Option<(&str, String)> = None;
        let mut conflict = false;
        for (name, value) in &self.0 {
            if !names.contains(&name.as_str()) || value.is_null() {
                continue;
            }
            // A value that is not a string is kept as JSON text for the failures file.
            let text = if let Value::String(text) = value {
                text.clone()
            } else {
                problems.push(format!("{name} must be a string"));
                value.to_string()
            };
            match &found {
                None => found = Some((name, text)),
                // The server accepts fcm_token and push_token with the same value.
                Some((_, first_text)) if *first_text == text => {}
                Some((first_name, _)) if first_name == name => {
                    conflict = true;
                    problems.push(format!("{name} is given twice with different values; keep one of them"));
                }
                Some((first_name, _)) => {
                    conflict = true;
                    problems.push(format!("{first_name} and {name} have different values; keep one of them"));
                }
            }
        }
        if conflict {
            return None;
        }
        found.map(|(_, text)| text)
    }
}

fn parse_json_row(line: u64, bytes: Vec<u8>) -> InputItem {
    let original = without_line_ending(bytes);
    let invalid =
        |raw: RawRow, problem: String| InputItem::Invalid { line, raw, reason: row_problem(&problem) };
    if let Err(error) = std::str::from_utf8(&original) {
        let reason = describe_utf8_error(&original, &error, "line");
        return invalid(RawRow { original, ..RawRow::default() }, reason);
    }
    let members = match serde_json::from_slice::<Members>(&original) {
        Ok(members) => members,
        Err(error) if error.classify() == serde_json::error::Category::Data => {
            return invalid(RawRow { original, ..RawRow::default() }, "is not a JSON object".into())
        }
        Err(error) => return invalid(RawRow { original, ..RawRow::default() }, describe_json_error(&error)),
    };

    let mut problems = Vec::new();
    let mut field = |names: &[&str]| members.field(names, &mut problems);
    let user_id = field(&["user_id"]);
    let token = field(&TOKEN_NAMES);
    let platform = field(&["platform"]);
    let raw = RawRow {
        user_id: user_id.clone().unwrap_or_default(),
        token: token.clone().unwrap_or_default(),
        platform: platform.clone().unwrap_or_default(),
        provider: field(&["provider"]),
        device_id: field(&["device_id"]),
        original,
    };

    if let Some(reason) = problems.into_iter().next() {
        return invalid(raw, reason);
    }
    // Named as the input rules name an empty CSV field: `invalid user_id: ...`.
    let missing = if user_id.is_none() {
        Some("invalid user_id: missing")
    } else if token.is_none() {
        Some("invalid token: missing; give token, fcm_token or push_token")
    } else if platform.is_none() {
        Some("invalid platform: missing")
    } else {
        None
    };
    match missing {
        Some(reason) => InputItem::Invalid { line, raw, reason: reason.to_owned() },
        None => InputItem::Row { line, raw },
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::exit::ExitCode;

    fn read_all(contents: &str, format: InputFormat) -> Vec<InputItem> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(contents.as_bytes()).unwrap();
        open(file.path(), format).unwrap().map(Result::unwrap).collect()
    }

    fn reason(item: &InputItem) -> &str {
        match item {
            InputItem::Invalid { reason, .. } => reason,
            InputItem::Row { .. } => panic!("expected an invalid row, got {item:?}"),
        }
    }

    #[test]
    fn csv_rows_carry_line_numbers() {
        let items = read_all(
            "user_id,fcm_token,platform,provider\nu1,t1,android,\n\n# a comment\nu2,t2,ios,fcm\n",
            InputFormat::Csv,
        );
        assert_eq!(items.len(), 2);
        let InputItem::Row { line, raw } = &items[1] else { panic!("{items:?}") };
        assert_eq!(*line, 5);
        assert_eq!(raw.token, "t2");
        assert_eq!(raw.provider.as_deref(), Some("fcm"));
        let InputItem::Row { raw, .. } = &items[0] else { panic!("{items:?}") };
        assert_eq!(raw.provider, None);
    }

    #[test]
    fn csv_line_numbers_survive_crlf_and_quoted_newlines() {
        let items = read_all(
            "user_id,token,platform\r\n\"u\r\n1\",t1,android\r\n\r\nu2,\"t\"\"2\",ios\r\n",
            InputFormat::Csv,
        );
        let lines: Vec<u64> = items
            .iter()
            .map(|item| match item {
                InputItem::Row { line, .. } | InputItem::Invalid { line, .. } => *line,
            })
            .collect();
        assert_eq!(lines, [2, 5]);
        let InputItem::Row { raw, .. } = &items[1] else { panic!("{items:?}") };
        assert_eq!(raw.token, "t\"2");
    }

    #[test]
    fn csv_row_with_extra_field_is_invalid() {
        let items = read_all("user_id,token,platform\nu1,t1,android,extra\n", InputFormat::Csv);
        assert!(reason(&items[0]).contains("has 4 fields"), "{items:?}");
    }

    #[test]
    fn csv_header_needs_user_id() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"user,token,platform\n").unwrap();
        let error = open(file.path(), InputFormat::Csv).err().unwrap();
        assert_eq!(error.code, ExitCode::Input);
        assert!(error.to_string().contains("no user_id column"), "{error}");
    }

    #[test]
    fn jsonl_reports_bad_lines() {
        let items = read_all(
            "{\"user_id\":\"u1\",\"token\":\"t\",\"platform\":\"android\"}\n\nnot json\n{\"user_id\":5,\"token\":\"t\",\"platform\":\"ios\"}\n{\"token\":\"t\",\"platform\":\"ios\"}\n",
            InputFormat::Jsonl,
        );
        assert_eq!(items.len(), 4);
        assert!(matches!(items[0], InputItem::Row { line: 1, .. }));
        assert_eq!(
            reason(&items[1]),
            "invalid row: is not valid JSON: expected ident at column 2 of the line"
        );
        assert!(matches!(items[1], InputItem::Invalid { line: 3, .. }));
        assert!(reason(&items[2]).contains("user_id must be a string"));
        assert_eq!(reason(&items[3]), "invalid user_id: missing");

        // The column counts bytes: é is two bytes in UTF-8.
        let items = read_all("{\"user_id\":\"é\" x}\n", InputFormat::Jsonl);
        assert_eq!(
            reason(&items[0]),
            "invalid row: is not valid JSON: expected `,` or `}` at column 17 of the line"
        );
    }

    #[test]
    fn jsonl_null_token_counts_as_absent() {
        let items = read_all(
            "{\"user_id\":\"u1\",\"token\":null,\"push_token\":\"t1\",\"platform\":\"ios\",\"provider\":null}\n",
            InputFormat::Jsonl,
        );
        let InputItem::Row { raw, .. } = &items[0] else { panic!("{items:?}") };
        assert_eq!(raw.token, "t1");
        assert_eq!(raw.provider, None);
    }

    #[test]
    fn jsonl_conflicting_fields_are_invalid() {
        let items = read_all(
            concat!(
                "{\"user_id\":\"u1\",\"token\":\"a\",\"fcm_token\":\"b\",\"platform\":\"ios\"}\n",
                "{\"user_id\":\"u1\",\"user_id\":\"u2\",\"token\":\"a\",\"platform\":\"ios\"}\n",
                "{\"user_id\":\"u1\",\"fcm_token\":\"a\",\"push_token\":\"a\",\"platform\":\"ios\"}\n",
                "[1]\n",
                "{\"user_id\":\"u1\",\"token\":\"a\",\"fcm_token\":5,\"platform\":\"ios\"}\n",
            ),
            InputFormat::Jsonl,
        );

        assert_eq!(
            reason(&items[0]),
            "invalid row: token and fcm_token have different values; keep one of them"
        );
        assert_eq!(
            reason(&items[1]),
            "invalid row: user_id is given twice with different values; keep one of them"
        );

        let InputItem::Invalid { raw, .. } = &items[0] else { panic!("{items:?}") };
        assert_eq!(raw.token, "", "neither of two different tokens is kept");
        assert_eq!(raw.user_id, "u1", "the other fields are kept");
        let InputItem::Invalid { raw, .. } = &items[1] else { panic!("{items:?}") };
        assert_eq!(raw.user_id, "", "neither of two different user ids is kept");
        assert_eq!(raw.token, "a", "the other fields are kept");

        let InputItem::Row { raw, .. } = &items[2] else {
            panic!("the same value twice is accepted: {items:?}")
        };
        assert_eq!(raw.token, "a");

        assert_eq!(reason(&items[3]), "invalid row: is not a JSON object");
        assert_eq!(reason(&items[4]), "invalid row: fcm_token must be a string");
        let InputItem::Invalid { raw, .. } = &items[4] else { panic!("{items:?}") };
        assert_eq!(raw.token, "", "a string and a number are two different values");
    }

    #[test]
    fn csv_header_with_two_token_columns_is_rejected() {
        for header in ["user_id,token,fcm_token,platform", "user_id,token,platform,User_ID"] {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            writeln!(file, "{header}\nu1,t1,t2,android").unwrap();
            let error = open(file.path(), InputFormat::Csv).err().expect(header);
            assert_eq!(error.code, ExitCode::Input);
            assert!(error.to_string().contains("more than one column for the same field"), "{error}");
        }
    }

    fn original(item: &InputItem) -> &[u8] {
        match item {
            InputItem::Row { raw, .. } | InputItem::Invalid { raw, .. } => &raw.original,
        }
    }

    #[test]
    fn rows_keep_original_text() {
        let items =
            read_all("user_id,token,platform\r\n\"u\r\n1\",t1,android\r\nu2,t2,web", InputFormat::Csv);
        assert_eq!(original(&items[0]), b"\"u\r\n1\",t1,android");
        assert_eq!(original(&items[1]), b"u2,t2,web");

        let items = read_all(
            "{\"user_id\": 5, \"token\":\"t\",\"platform\":\"ios\"}\r\n{\"user_id\":\nnot json\n",
            InputFormat::Jsonl,
        );
        assert_eq!(original(&items[0]), b"{\"user_id\": 5, \"token\":\"t\",\"platform\":\"ios\"}");
        let InputItem::Invalid { raw, .. } = &items[0] else { panic!("{items:?}") };
        assert_eq!(raw.user_id, "5", "a user_id that is not a string is kept as JSON text");
        assert_eq!(original(&items[1]), b"{\"user_id\":");
        assert_eq!(original(&items[2]), b"not json");
    }

    #[test]
    fn non_utf8_rows_are_invalid() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"user_id,token,platform\nren\xe9,t1,android\n").unwrap();
        let items: Vec<InputItem> =
            open(file.path(), InputFormat::Csv).unwrap().map(Result::unwrap).collect();
        assert_eq!(
            reason(&items[0]),
            "invalid row: user_id is not valid UTF-8 (byte 0xE9 at byte 4 of the field); save the file as UTF-8 and import it again"
        );
        let InputItem::Invalid { raw, .. } = &items[0] else { panic!("{items:?}") };
        assert_eq!(raw.user_id, "", "no byte is replaced");
        assert_eq!(raw.original, b"ren\xe9,t1,android");

        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"{\"user_id\":\"ren\xe9\",\"token\":\"t\",\"platform\":\"ios\"}\n").unwrap();
        let items: Vec<InputItem> =
            open(file.path(), InputFormat::Jsonl).unwrap().map(Result::unwrap).collect();
        assert!(
            reason(&items[0])
                .starts_with("invalid row: is not valid UTF-8 (byte 0xE9 at byte 16 of the line)"),
            "{items:?}"
        );
        assert_eq!(original(&items[0]), b"{\"user_id\":\"ren\xe9\",\"token\":\"t\",\"platform\":\"ios\"}");
    }

    #[test]
    fn jsonl_rejects_json_array() {
        let mut file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
        file.write_all(b"\xef\xbb\xbf\n  [\n{\"user_id\":\"u1\",\"token\":\"t\",\"platform\":\"ios\"}\n]\n")
            .unwrap();
        let error = count_rows(file.path(), InputFormat::Jsonl).unwrap_err();
        assert_eq!(error.code, ExitCode::Input);
        let message = error.to_string();
        assert!(message.contains("looks like a JSON array"), "{message}");
        assert!(message.contains("jq -c '.[]'"), "{message}");
        let converted = file.path().with_extension("jsonl");
        assert!(message.ends_with(&format!("> {}", converted.display())), "{message}");

        // A later line that is an array is one invalid row.
        let items =
            read_all("{\"user_id\":\"u1\",\"token\":\"t\",\"platform\":\"ios\"}\n[1]\n", InputFormat::Jsonl);
        assert_eq!(reason(&items[1]), "invalid row: is not a JSON object");
    }

    #[test]
    fn missing_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let error = check_readable(&dir.path().join("tokens.txt")).unwrap_err();
        assert_eq!(error.code, ExitCode::Input);
        assert!(error.to_string().ends_with("tokens.txt was not found"), "{error}");
        let error = check_readable(dir.path()).unwrap_err();
        assert!(error.to_string().contains("is a directory"), "{error}");
    }

    #[test]
    fn format_follows_extension() {
        assert_eq!(detect_format(Path::new("a.CSV"), None).unwrap(), InputFormat::Csv);
        assert_eq!(detect_format(Path::new("a.ndjson"), None).unwrap(), InputFormat::Jsonl);
        assert_eq!(detect_format(Path::new("a.txt"), Some(InputFormat::Csv)).unwrap(), InputFormat::Csv);
        assert!(detect_format(Path::new("a.txt"), None).is_err());
    }
}
