//! The dataset formats we read and their raw records.
//!
//! Records keep the test inputs of the `EvalPlus` formats as raw JSON text: their values are Python
//! values (big integers, tuples written as lists, `Infinity`) that only the Python side interprets.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use codeloop_types::Language;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::errors::DataError;

/// A dataset format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `OpenAI` `HumanEval`: `task_id, prompt, entry_point, canonical_solution, test`.
    HumanEval,
    /// `EvalPlus` HumanEval+: `HumanEval` plus `base_input, plus_input, atol`.
    HumanEvalPlus,
    /// Original MBPP JSON Lines: `task_id, text, code, test_setup_code, test_list, challenge_test_list`.
    Mbpp,
    /// Sanitized MBPP (a JSON array): `task_id, prompt, code, test_imports, test_list`.
    MbppSanitized,
    /// `EvalPlus` MBPP+: `task_id, prompt, entry_point, canonical_solution, base_input, plus_input, atol, assertion`.
    MbppPlus,
    /// APPS or TACO stdin/stdout records: `question, input_output, solutions` (see `stdio.rs`).
    Apps,
    /// `MapCoder`'s APPS subset: `description, io_mode, public_tests` (public tests only).
    AppsSubset,
    /// `CodeContests`: `description, public_tests, private_tests, generated_tests, solutions`.
    CodeContests,
    /// HumanEval-X (CodeGeeX): `task_id (CPP/0, ...), prompt, declaration, canonical_solution, test,
    /// example_test`.
    HumanEvalX,
    /// MultiPL-E: `name, language, prompt, entry_point, test, stop_tokens` (no reference solutions).
    MultiplE,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::HumanEval => "humaneval",
            Format::HumanEvalPlus => "humaneval+",
            Format::Mbpp => "mbpp",
            Format::MbppSanitized => "mbpp-sanitized",
            Format::MbppPlus => "mbpp+",
            Format::Apps => "apps",
            Format::AppsSubset => "apps-subset",
            Format::CodeContests => "code-contests",
            Format::HumanEvalX => "humaneval-x",
            Format::MultiplE => "multipl-e",
        })
    }
}

/// A `HumanEval` record.
#[derive(Debug, Clone, Deserialize)]
pub struct HumanEvalRecord {
    /// `HumanEval/0`.
    pub task_id: String,
    /// Signature and docstring.
    pub prompt: String,
    /// The function under test.
    pub entry_point: String,
    /// The reference body.
    pub canonical_solution: String,
    /// `def check(candidate): ...`.
    pub test: String,
}

/// A `HumanEval`+ record.
#[derive(Debug, Clone, Deserialize)]
pub struct HumanEvalPlusRecord {
    /// `HumanEval/0`.
    pub task_id: String,
    /// Signature and docstring.
    pub prompt: String,
    /// The function under test.
    pub entry_point: String,
    /// The reference body.
    pub canonical_solution: String,
    /// The original `HumanEval` check.
    #[serde(default)]
    pub test: String,
    /// Argument lists of the original inputs (raw JSON).
    pub base_input: Box<RawValue>,
    /// Argument lists of the added inputs (raw JSON).
    pub plus_input: Box<RawValue>,
    /// Float tolerance (0: exact, 1e-6 for float results).
    #[serde(default)]
    pub atol: f64,
}

/// An original MBPP record.
#[derive(Debug, Clone, Deserialize)]
pub struct MbppRecord {
    /// 1..974.
    pub task_id: u64,
    /// The task in prose.
    pub text: String,
    /// The reference solution.
    pub code: String,
    /// Code the tests need first.
    #[serde(default)]
    pub test_setup_code: String,
    /// Three assert statements.
    pub test_list: Vec<String>,
    /// Harder asserts, for 11 tasks.
    #[serde(default)]
    pub challenge_test_list: Vec<String>,
}

/// A sanitized MBPP record.
#[derive(Debug, Clone, Deserialize)]
pub struct MbppSanitizedRecord {
    /// Task number.
    pub task_id: u64,
    /// The task in prose.
    pub prompt: String,
    /// The reference solution.
    pub code: String,
    /// Imports the tests need.
    #[serde(default)]
    pub test_imports: Vec<String>,
    /// Assert statements.
    pub test_list: Vec<String>,
}

/// An MBPP+ record.
#[derive(Debug, Clone, Deserialize)]
pub struct MbppPlusRecord {
    /// `Mbpp/2`.
    pub task_id: String,
    /// Docstring with the task and one example assert.
    pub prompt: String,
    /// The function under test.
    pub entry_point: String,
    /// The reference solution (a whole program).
    pub canonical_solution: String,
    /// Argument lists of the original inputs (raw JSON).
    pub base_input: Box<RawValue>,
    /// Argument lists of the added inputs (raw JSON).
    pub plus_input: Box<RawValue>,
    /// Float tolerance.
    #[serde(default)]
    pub atol: f64,
    /// The original MBPP asserts as text.
    #[serde(default)]
    pub assertion: String,
}

/// A HumanEval-X record.
#[derive(Debug, Clone, Deserialize)]
pub struct HumanEvalXRecord {
    /// `CPP/0`, `Go/0`, `Java/0`, `JavaScript/0`, `Python/0`, `Rust/0`.
    pub task_id: String,
    /// The docstring and signature shown to a model.
    pub prompt: String,
    /// Includes and the signature, as evaluation puts them before a completion.
    pub declaration: String,
    /// The reference body.
    pub canonical_solution: String,
    /// The hidden test program.
    pub test: String,
    /// A test program over the prompt's examples.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub example_test: String,
    /// (Go) the solution's imports.
    #[serde(default, rename = "import")]
    pub imports: String,
    /// (Go) the test file's package clause and imports.
    #[serde(default)]
    pub test_setup: String,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

impl HumanEvalXRecord {
    /// The language prefix of the task id (`CPP`, `Go`, ...), as errors name it.
    #[must_use]
    pub fn language_prefix(&self) -> &str {
        self.task_id.split('/').next().unwrap_or("")
    }

    /// The language its task id names (`None`: one codeloop does not know).
    #[must_use]
    pub fn language(&self) -> Option<Language> {
        match self.language_prefix() {
            "CPP" => Some(Language::Cpp),
            "JavaScript" => Some(Language::JavaScript),
            "Java" => Some(Language::Java),
            "Rust" => Some(Language::Rust),
            "Go" => Some(Language::Go),
            "Python" => Some(Language::Python),
            _ => None,
        }
    }
}

/// A MultiPL-E record.
#[derive(Debug, Clone, Deserialize)]
pub struct MultiplERecord {
    /// `HumanEval_0_has_close_elements`, `mbpp_234_volume_cube`.
    pub name: String,
    /// `rs`, `cpp`, ...
    pub language: String,
    /// Doc comment and signature, ending inside the function.
    pub prompt: String,
    /// The function under test (absent from the Hugging Face layout; the prompt names it).
    #[serde(default)]
    pub entry_point: String,
    /// The test program (a `main` with asserts), put after prompt + completion (`tests` in the
    /// Hugging Face layout).
    #[serde(alias = "tests")]
    pub test: String,
}

/// One record of a dataset.
#[derive(Debug, Clone)]
pub enum RawTask {
    /// `HumanEval`.
    HumanEval(HumanEvalRecord),
    /// `HumanEval`+.
    HumanEvalPlus(HumanEvalPlusRecord),
    /// Original MBPP.
    Mbpp(MbppRecord),
    /// Sanitized MBPP.
    MbppSanitized(MbppSanitizedRecord),
    /// MBPP+.
    MbppPlus(MbppPlusRecord),
    /// A stdin/stdout problem (APPS, TACO, `CodeContests` layouts).
    Stdio(crate::stdio::StdioRecord),
    /// HumanEval-X.
    HumanEvalX(HumanEvalXRecord),
    /// MultiPL-E.
    MultiplE(MultiplERecord),
}

impl RawTask {
    /// The task id as datasets write it (`HumanEval/0`, `Mbpp/2`; original MBPP ids become `Mbpp/N`).
    #[must_use]
    pub fn task_id(&self) -> String {
        match self {
            RawTask::HumanEval(r) => r.task_id.clone(),
            RawTask::HumanEvalPlus(r) => r.task_id.clone(),
            RawTask::Mbpp(r) => crate::facts::mbpp_task_id(r.task_id),
            RawTask::MbppSanitized(r) => crate::facts::mbpp_task_id(r.task_id),
            RawTask::MbppPlus(r) => r.task_id.clone(),
            RawTask::Stdio(r) => r.task_id.clone(),
            RawTask::HumanEvalX(r) => r.task_id.clone(),
            RawTask::MultiplE(r) => r.name.clone(),
        }
    }

    /// The language of the task's programs (`None`: one codeloop does not know; preparing the
    /// task says so).
    #[must_use]
    pub fn language(&self) -> Option<Language> {
        match self {
            RawTask::HumanEvalX(r) => r.language(),
            RawTask::MultiplE(r) => match r.language.as_str() {
                "rs" | "rust" => Some(Language::Rust),
                "cpp" => Some(Language::Cpp),
                "js" => Some(Language::JavaScript),
                _ => None,
            },
            _ => Some(Language::Python),
        }
    }
}

/// A loaded dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The format, e.g. `humaneval+`.
    pub format: Format,
    /// Where it came from (path or URL).
    pub origin: String,
    /// SHA-256 of the bytes loaded (before decompression), hex.
    pub sha256: String,
    /// The records, in file order.
    pub tasks: Vec<RawTask>,
}

/// Parses dataset bytes (`.jsonl`, `.jsonl.gz`, `.json`; detected by content). `origin` names the file
/// in errors; `format` forces a format instead of detecting it from the first record's fields.
pub fn parse_dataset(
    bytes: &[u8],
    origin: &str,
    format: Option<Format>,
) -> Result<Dataset, DataError> {
    let sha256 = hex(&Sha256::digest(bytes));
    let records = if bytes.starts_with(b"PAR1") {
        parquet_records(bytes, origin)?
    } else {
        let text = decompress(bytes, origin)?;
        split_records(&text, origin)?
    };
    let Some((_, first)) = records.first() else {
        return Err(DataError::UnknownFormat {
            file: origin.to_owned(),
            message: "it holds no record".to_owned(),
        });
    };
    let format = match format {
        Some(f) => f,
        None => detect(first).ok_or_else(|| DataError::UnknownFormat {
            file: origin.to_owned(),
            message: "the first record's fields match no known format".to_owned(),
        })?,
    };
    let mut tasks = Vec::with_capacity(records.len());
    for (line, record) in &records {
        let task = match format {
            Format::HumanEval => RawTask::HumanEval(record_of(record, origin, *line)?),
            Format::HumanEvalPlus => RawTask::HumanEvalPlus(record_of(record, origin, *line)?),
            Format::Mbpp => RawTask::Mbpp(record_of(record, origin, *line)?),
            Format::MbppSanitized => RawTask::MbppSanitized(record_of(record, origin, *line)?),
            Format::MbppPlus => RawTask::MbppPlus(record_of(record, origin, *line)?),
            Format::Apps => RawTask::Stdio(crate::stdio::apps(record, origin, *line)?),
            Format::AppsSubset => RawTask::Stdio(crate::stdio::apps_subset(record, origin, *line)?),
            Format::CodeContests => {
                RawTask::Stdio(crate::stdio::code_contests(record, origin, *line)?)
            }
            Format::HumanEvalX => RawTask::HumanEvalX(record_of(record, origin, *line)?),
            Format::MultiplE => RawTask::MultiplE(record_of(record, origin, *line)?),
        };
        tasks.push(task);
    }
    Ok(Dataset {
        format,
        origin: origin.to_owned(),
        sha256,
        tasks,
    })
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[expect(
    clippy::naive_bytecount,
    reason = "only on the error path, once; not worth the bytecount crate"
)]
fn decompress(bytes: &[u8], origin: &str) -> Result<String, DataError> {
    let raw: Cow<'_, [u8]> = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| {
                let lines = out.iter().filter(|&&b| b == b'\n').count();
                DataError::Record {
                    file: origin.to_owned(),
                    // The line the stream broke in.
                    line: lines + 1,
                    message: format!(
                        "the gzip stream is truncated or corrupt after {lines} complete lines ({} bytes of text): {e}",
                        out.len()
                    ),
                }
            })?;
        Cow::Owned(out)
    } else {
        Cow::Borrowed(bytes)
    };
    String::from_utf8(raw.into_owned()).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..at];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        DataError::Record {
            file: origin.to_owned(),
            line: before.iter().filter(|&&b| b == b'\n').count() + 1,
            message: format!("not UTF-8 text (byte {} of the line)", at - line_start + 1),
        }
    })
}

/// Splits into `(line or record number, record JSON text)`: JSON Lines, or one JSON array.
/// The rows of a Parquet file (the Hugging Face hub's format) as JSON records, numbered from 1:
/// structs become objects and lists arrays, as the hub's JSON exports of the same data have them.
fn parquet_records(bytes: &[u8], origin: &str) -> Result<Vec<(usize, String)>, DataError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let bad = |line: usize, e: parquet::errors::ParquetError| DataError::Record {
        file: origin.to_owned(),
        line,
        message: format!("Parquet: {e}"),
    };
    let unreadable = |e: parquet::errors::ParquetError| DataError::UnknownFormat {
        file: origin.to_owned(),
        message: format!("it is an unreadable Parquet file: {e}"),
    };
    let reader =
        SerializedFileReader::new(bytes::Bytes::copy_from_slice(bytes)).map_err(unreadable)?;
    let rows = reader.get_row_iter(None).map_err(unreadable)?;
    let mut records = Vec::with_capacity(
        usize::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0),
    );
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| bad(i + 1, e))?;
        records.push((i + 1, row.to_json_value().to_string()));
    }
    Ok(records)
}

fn split_records(text: &str, origin: &str) -> Result<Vec<(usize, String)>, DataError> {
    if text.trim_start().starts_with('[') {
        let items: Vec<Box<RawValue>> =
            serde_json::from_str(text).map_err(|e| DataError::Record {
                file: origin.to_owned(),
                line: e.line(),
                message: e.to_string(),
            })?;
        return Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i + 1, r.get().to_owned()))
            .collect());
    }
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, standardize_numbers(l).into_owned()))
        .collect())
}

/// Python's `json` writes bare `Infinity`/`-Infinity` (MBPP+ task 404); standard JSON has no such
/// token. Outside strings, rewrite them as `1e999`/`-1e999`, which Python reads back as infinities.
fn standardize_numbers(line: &str) -> Cow<'_, str> {
    if !line.contains("Infinity") {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if rest.starts_with("Infinity") {
            out.push_str("1e999");
            rest = &rest["Infinity".len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

fn detect(record: &str) -> Option<Format> {
    let value: serde_json::Map<String, serde_json::Value> = serde_json::from_str(record).ok()?;
    let has = |k: &str| value.contains_key(k);
    let id_is_mbpp = value
        .get("task_id")
        .and_then(|v| v.as_str())
        .is_some_and(crate::facts::is_mbpp_task);
    if has("base_input") && has("plus_input") {
        return Some(if id_is_mbpp {
            Format::MbppPlus
        } else {
            Format::HumanEvalPlus
        });
    }
    if has("test_list") && has("text") {
        return Some(Format::Mbpp);
    }
    if has("test_list") && has("prompt") && has("code") {
        return Some(Format::MbppSanitized);
    }
    if has("stop_tokens") && has("name") && (has("test") || has("tests")) {
        return Some(Format::MultiplE);
    }
    if has("declaration") && has("example_test") && has("canonical_solution") {
        return Some(Format::HumanEvalX);
    }
    if has("entry_point") && has("test") && has("canonical_solution") {
        return Some(Format::HumanEval);
    }
    if has("question") && has("input_output") {
        return Some(Format::Apps);
    }
    if has("description") && has("io_mode") && has("public_tests") {
        return Some(Format::AppsSubset);
    }
    if has("description") && has("public_tests") && (has("private_tests") || has("generated_tests"))
    {
        return Some(Format::CodeContests);
    }
    None
}

fn record_of<T: DeserializeOwned>(record: &str, origin: &str, line: usize) -> Result<T, DataError> {
    serde_json::from_str(record).map_err(|e| DataError::Record {
        file: origin.to_owned(),
        line,
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Parquet test row: task id, text, and a list of strings.
    type ParquetRow<'a> = (&'a str, &'a str, &'a [&'a str]);

    /// A Parquet file in the Hugging Face MultiPL-E layout (no `entry_point`, `tests`, a list
    /// column), written with the parquet crate's own writer, snappy-compressed as the hub's are.
    fn multipl_e_parquet(rows: &[ParquetRow]) -> Vec<u8> {
        use parquet::basic::Compression;
        use parquet::data_type::{ByteArray, ByteArrayType};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::parser::parse_message_type;
        let schema = parse_message_type(
            "message schema {
                required binary name (UTF8);
                required binary language (UTF8);
                required binary prompt (UTF8);
                required binary tests (UTF8);
                optional group stop_tokens (LIST) {
                    repeated group list { optional binary element (UTF8); }
                }
            }",
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let mut out = Vec::new();
        let mut writer =
            SerializedFileWriter::new(&mut out, std::sync::Arc::new(schema), props.into()).unwrap();
        let mut group = writer.next_row_group().unwrap();
        let strings = |f: &dyn Fn(&ParquetRow) -> String| -> Vec<ByteArray> {
            rows.iter()
                .map(|r| ByteArray::from(f(r).as_str()))
                .collect()
        };
        let columns: [Vec<ByteArray>; 4] = [
            strings(&|r| r.0.to_owned()),
            strings(&|_| "rs".to_owned()),
            strings(&|r| r.1.to_owned()),
            strings(&|r| format!("\nfn main() {{ assert_eq!({}(1), 2); }}\n", r.0)),
        ];
        for values in &columns {
            let mut col = group.next_column().unwrap().unwrap();
            col.typed::<ByteArrayType>()
                .write_batch(values, None, None)
                .unwrap();
            col.close().unwrap();
        }
        // The list: one value per token; repetition 0 starts a row, definition 3 is a present element.
        let (mut values, mut def, mut rep) = (Vec::new(), Vec::new(), Vec::new());
        for r in rows {
            for (i, t) in r.2.iter().enumerate() {
                values.push(ByteArray::from(*t));
                def.push(3);
                rep.push(i16::from(i > 0));
            }
        }
        let mut col = group.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>()
            .write_batch(&values, Some(&def), Some(&rep))
            .unwrap();
        col.close().unwrap();
        group.close().unwrap();
        writer.close().unwrap();
        out
    }

    #[test]
    fn parquet_rows_become_records_with_lists_as_arrays() {
        let bytes = multipl_e_parquet(&[
            (
                "HumanEval_0_f",
                "/// doc\nfn f(x: i64) -> i64 {\n",
                &["\n}", "\nfn"],
            ),
            ("HumanEval_1_g", "fn g(x: i64) -> i64 {\n", &["\n}"]),
        ]);
        let records = parquet_records(&bytes, "t.parquet").unwrap();
        assert_eq!(records.len(), 2);
        let first: serde_json::Value = serde_json::from_str(&records[0].1).unwrap();
        assert_eq!(first["stop_tokens"], serde_json::json!(["\n}", "\nfn"]));
        assert_eq!(first["name"], "HumanEval_0_f");
        // The format is detected from the Hugging Face layout, `tests` read as the test program.
        let dataset = parse_dataset(&bytes, "t.parquet", None).unwrap();
        assert_eq!(dataset.format, Format::MultiplE);
        let RawTask::MultiplE(r) = &dataset.tasks[1] else {
            panic!("{:?}", dataset.tasks[1]);
        };
        assert_eq!(r.name, "HumanEval_1_g");
        assert!(
            r.test.contains("assert_eq!(HumanEval_1_g(1), 2)"),
            "{}",
            r.test
        );
        // A damaged file is an error naming it.
        let err = parse_dataset(&bytes[..bytes.len() / 2], "t.parquet", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.parquet") && err.contains("Parquet"),
            "{err}"
        );
    }

    #[test]
    fn infinity_outside_strings_becomes_a_big_exponent() {
        let line = r#"{"a": [Infinity, -Infinity], "b": "Infinity \" Infinity"}"#;
        assert_eq!(
            standardize_numbers(line),
            r#"{"a": [1e999, -1e999], "b": "Infinity \" Infinity"}"#
        );
    }

    #[test]
    fn malformed_record_names_line_and_field() {
        let text = "{\"task_id\":\"HumanEval/0\",\"prompt\":\"p\",\"entry_point\":\"f\",\"canonical_solution\":\"c\",\"test\":\"t\"}\n{\"task_id\":\"HumanEval/1\",\"prompt\":\"p\",\"entry_point\":\"f\",\"test\":\"t\"}\n";
        let err = parse_dataset(text.as_bytes(), "he.jsonl", None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "failed to read dataset `he.jsonl` at line 2: missing field `canonical_solution`"
        );
    }

    #[test]
    fn unknown_format_is_an_error() {
        let err = parse_dataset(b"{\"x\": 1}\n", "x.jsonl", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot tell the format of dataset `x.jsonl`"),
            "{err}"
        );
    }
}
