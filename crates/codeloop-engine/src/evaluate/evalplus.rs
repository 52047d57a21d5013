//! `EvalPlus`'s results file, `<samples>_eval_results.json` (see [`results_path`]), written with
//! `EvalPlus` 0.3.1's meaning field by field (its `evalplus/evaluate.py`), and what it prints.
//!
//! Format (`codeloop_format` 2), one JSON object as Python's `json.dump` writes it (separators
//! `", "` and `": "`, non-ASCII escaped, non-finite floats as bare `NaN`, `Infinity`, `-Infinity`):
//! - `date`: when the evaluation ran, `%Y-%m-%d %H:%M` in local time (`EvalPlus`'s
//!   `datetime.now()`);
//! - `hash`: the MD5 of the dataset file as read (`EvalPlus`'s `get_*_plus_hash` hashes the file its
//!   `*_OVERRIDE_PATH` names; without one it reads its decompressed cache, whose MD5 is not the
//!   `.jsonl.gz`'s: `fe585eb4...` for `HumanEval+` v0.1.10 against `924d06df...` for the `.gz`);
//! - `eval`: task id to the task's records in sample order (`EvalPlus` orders the tasks as its runs
//!   happen to finish; codeloop in order of first sample). Each record holds, in this order:
//!   - `task_id`, `solution` (the whole program: the prompt plus the completion, or the solution);
//!   - `base_status`, `plus_status`: `pass`, `fail` or `timeout` of the base inputs alone and of the
//!     plus inputs alone, each group run on its own as `EvalPlus` runs it (the plus inputs run
//!     whatever the base ones did; "base + extra" passes when both pass). For datasets without
//!     plus inputs the whole hidden suite is `base` and `plus_status` is `null` (`EvalPlus`'s
//!     `--base-only`). `fail`: the program did not load, or an input failed (a wrong value, an
//!     exception, an exit, its time or memory limit: `EvalPlus`'s per-input limit is wall-clock,
//!     `max(min_time_limit, 4 x reference)`; codeloop's CPU time, `max(1 s, 4 x reference)`);
//!     `timeout`: the group's run died as a whole (`EvalPlus`: no status came back from its process,
//!     e.g. past `min(60 s, sum of limits) + 1 s`; codeloop: the run was killed by a signal, its
//!     whole-run limit's or a crash's);
//!   - `base_fail_tests`, `plus_fail_tests`: the failing inputs as `EvalPlus` writes them, each an
//!     argument list of the dataset's own values (see [`evalplus_input`]; MBPP+ tasks 115, 124 and
//!     252 through `EvalPlus`'s `mbpp_serialize_inputs`). Only the first failing input of the
//!     group, where `EvalPlus` stops, unless every test ran (`--all-tests`, `EvalPlus`'s
//!     `--test-details`); none when it passed or the program did not load. For suites that are not
//!     value tests (`HumanEval`'s `check`, MBPP's asserts) an input is the test statement, as a
//!     string. On a `timeout`, `EvalPlus` names the last input that finished (which passed), or
//!     none; codeloop names the input that was running.
//!   - `codeloop` (codeloop's own, not `EvalPlus`'s): `verdict` (the first failing test's verdict
//!     name over the whole suite, `pass` when none) and `failed_tests`, every failing test codeloop
//!     ran (after a load failure, the first only), in order: `{group, index` (among the group's
//!     tests: the dataset's input index unless preparation dropped inputs, which it notes), `call`
//!     (as codeloop shows the test, e.g. `starts_one_ends(1)`), `verdict}`.
//! - `codeloop_format`: 2. Version 1 was named `eval_results.json`, dated in UTC with seconds,
//!   hashed the dataset with SHA-256, judged `plus_status` over base and plus inputs together, and
//!   listed the failing tests as codeloop's call strings.
//!
//! Known differences from `EvalPlus` 0.3.1, where it is wrong (the engine's `evalplus.rs` test lists
//! them with their evidence): every HumanEval/32 program fails under its `find_zero` oracle, which
//! never records a passing input; and its memory cap can fail a correct program whose expected
//! output is large, since the capped process holds `EvalPlus`'s own copy of that output.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::outcome::{GroupResult, SampleResult};
use crate::errors::EngineError;

/// Version of the results file's format (its codeloop additions and meaning).
pub const EVALPLUS_FORMAT: u32 = 2;

/// Where `EvalPlus` 0.3.1 writes its results for `samples`: `samples.replace(".jsonl",
/// "_eval_results.json")` (so `samples.jsonl` gives `samples_eval_results.json`), next to it or in
/// `out_dir`. `EvalPlus` requires the `.jsonl` ending (and replaces in the whole path, directory
/// names included); codeloop replaces in the file name, and appends `_eval_results.json` to a name
/// without `.jsonl`.
#[must_use]
pub fn results_path(samples: &Path, out_dir: Option<&Path>) -> PathBuf {
    let name = samples
        .file_name()
        .map_or_else(|| "samples.jsonl".into(), |n| n.to_string_lossy());
    let file = if name.ends_with(".jsonl") {
        name.replace(".jsonl", "_eval_results.json")
    } else {
        format!("{name}_eval_results.json")
    };
    let dir = out_dir.map_or_else(
        || samples.parent().map(Path::to_path_buf).unwrap_or_default(),
        Path::to_path_buf,
    );
    dir.join(file)
}

/// Writes the results file (format in the module docs). `date` as [`utc_date`] or the caller's local
/// time; `dataset_hash` as [`md5_hex`] of the dataset file.
pub fn write(
    path: &Path,
    date: &str,
    dataset_hash: &str,
    results: &[SampleResult],
) -> Result<(), EngineError> {
    let mut tasks: Vec<(&str, Vec<&SampleResult>)> = Vec::new();
    for r in results {
        match tasks.iter_mut().find(|(t, _)| *t == r.sample.task_id) {
            Some((_, rs)) => rs.push(r),
            None => tasks.push((&r.sample.task_id, vec![r])),
        }
    }
    let mut out = String::with_capacity(results.len() * 1024);
    head(&mut out, date, dataset_hash);
    for (ti, (task, records)) in tasks.iter().enumerate() {
        if ti > 0 {
            out.push_str(", ");
        }
        py_str(&mut out, task);
        out.push_str(": [");
        for (ri, r) in records.iter().enumerate() {
            if ri > 0 {
                out.push_str(", ");
            }
            record(&mut out, r);
        }
        out.push(']');
    }
    out.push_str(&tail());
    std::fs::write(path, out).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The file's text before its first task.
pub(super) fn head(out: &mut String, date: &str, dataset_hash: &str) {
    out.push_str("{\"date\": ");
    py_str(out, date);
    out.push_str(", \"hash\": ");
    py_str(out, dataset_hash);
    out.push_str(", \"eval\": {");
}

/// The file's text after its last task.
pub(super) fn tail() -> String {
    format!("}}, \"codeloop_format\": {EVALPLUS_FORMAT}}}")
}

/// One sample's record.
pub(super) fn record(out: &mut String, r: &SampleResult) {
    let group = |name: &str| r.groups.iter().find(|g| g.name == name);
    out.push_str("{\"task_id\": ");
    py_str(out, &r.sample.task_id);
    out.push_str(", \"solution\": ");
    py_str(out, &r.sample.program);
    for (key, g) in [
        ("base_status", group("base")),
        ("plus_status", group("plus")),
    ] {
        let _ = write!(out, ", \"{key}\": ");
        match g {
            Some(g) => py_str(out, g.status.as_str()),
            None => out.push_str("null"),
        }
    }
    for (key, g) in [
        ("base_fail_tests", group("base")),
        ("plus_fail_tests", group("plus")),
    ] {
        let _ = write!(out, ", \"{key}\": [");
        for (i, input) in g
            .map(GroupResult::evalplus_fail_tests)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(input);
        }
        out.push(']');
    }
    out.push_str(", \"codeloop\": {\"verdict\": ");
    py_str(out, r.report.verdict.name());
    out.push_str(", \"failed_tests\": [");
    let mut first = true;
    for g in &r.groups {
        for f in &g.failed {
            if !first {
                out.push_str(", ");
            }
            first = false;
            out.push_str("{\"group\": ");
            py_str(out, &g.name);
            let _ = write!(out, ", \"index\": {}, \"call\": ", f.index);
            py_str(out, &f.call);
            out.push_str(", \"verdict\": ");
            py_str(out, f.verdict);
            out.push('}');
        }
    }
    out.push_str("]}}");
}

/// `EvalPlus`'s serialization of one input (a wire argument list, see the sandbox's `wire.py`) as
/// Python's `json.dumps` text: tuples and sets as lists, dicts as objects (keys as `json.dumps`
/// converts them), non-finite floats as bare tokens, numbers as the judge wrote them (Python's
/// `repr`); for MBPP+ (`mbpp_task`), `mbpp_serialize_inputs` first.
#[must_use]
pub fn evalplus_input(wire: &Value, mbpp_task: Option<u64>) -> String {
    let args: Vec<&Value> = match wire {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out = String::new();
    out.push('[');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match (mbpp_task, i) {
            // `[[list(item) for item in inp[0]]]`: sets (and `{}` for empty ones) as lists.
            (Some(115), 0) => {
                out.push('[');
                for (j, item) in wire_items(a).iter().enumerate() {
                    if j > 0 {
                        out.push_str(", ");
                    }
                    out.push('[');
                    let elems = match item.get("d").and_then(Value::as_array) {
                        Some(pairs) => pairs.iter().filter_map(|p| p.get(0)).collect(),
                        None => wire_items(item),
                    };
                    for (k, e) in elems.iter().enumerate() {
                        if k > 0 {
                            out.push_str(", ");
                        }
                        wire_to_py(&mut out, e);
                    }
                    out.push(']');
                }
                out.push(']');
            }
            // `(str(inp[0]), str(inp[1]))` and `[str(inp[0])]`.
            (Some(124), 0 | 1) | (Some(252), 0) => py_str(&mut out, &py_str_of(a)),
            _ => wire_to_py(&mut out, a),
        }
    }
    out.push(']');
    out
}

/// The elements of a wire list, tuple, set or frozenset.
fn wire_items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => ["t", "s", "fs"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_array))
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Python's `str()` of a wire value: what `EvalPlus` writes for MBPP+ floats and complex numbers.
fn py_str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) => {
            if let Some(f) = o.get("f").and_then(Value::as_str) {
                return f.to_owned();
            }
            if let Some([re, im]) = o.get("c").and_then(Value::as_array).map(Vec::as_slice) {
                let part = |x: &Value| x.as_f64().unwrap_or(f64::NAN);
                return py_complex_repr(part(re), part(im));
            }
            v.to_string()
        }
        other => other.to_string(),
    }
}

fn wire_to_py(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => py_str(out, s),
        Value::Array(items) => py_list(out, items.iter()),
        Value::Object(o) => {
            if let Some(items) = ["t", "s", "fs"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_array))
            {
                py_list(out, items.iter());
            } else if let Some(pairs) = o.get("d").and_then(Value::as_array) {
                out.push('{');
                for (i, pair) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    py_str(out, &json_key(pair.get(0).unwrap_or(&Value::Null)));
                    out.push_str(": ");
                    wire_to_py(out, pair.get(1).unwrap_or(&Value::Null));
                }
                out.push('}');
            } else if let Some(f) = o.get("f").and_then(Value::as_str) {
                out.push_str(match f {
                    "nan" => "NaN",
                    "inf" => "Infinity",
                    _ => "-Infinity",
                });
            } else if let Some(hex) = o.get("x").and_then(Value::as_str) {
                out.push_str(&hex_to_decimal(hex));
            } else if o.contains_key("c") {
                // `json.dump` cannot write complex numbers: only tasks whose inputs
                // `mbpp_serialize_inputs` turns into strings have them.
                py_str(out, &py_str_of(v));
            } else {
                // Bytes (`b`) and opaque values never occur in inputs `json.dump` can write.
                py_str(out, &v.to_string());
            }
        }
    }
}

fn py_list<'a>(out: &mut String, items: impl Iterator<Item = &'a Value>) {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        wire_to_py(out, item);
    }
    out.push(']');
}

/// A dict key as `json.dumps` writes it: strings as they are, numbers as their text, `true`,
/// `false`, `null`, non-finite floats as `NaN`/`Infinity`/`-Infinity`.
fn json_key(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.contains_key("f") || o.contains_key("x") => {
            let mut s = String::new();
            wire_to_py(&mut s, k);
            s
        }
        other => other.to_string(),
    }
}

/// A string as Python's `json.dumps` writes it (`ensure_ascii`): `\"`, `\\`, `\n`, `\r`, `\t`,
/// `\b`, `\f`, and `\uXXXX` (lowercase; surrogate pairs beyond the BMP) for everything outside
/// printable ASCII.
pub(crate) fn py_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr` of a float (`add_dot_0`: `1.0`, as `float.__repr__`; without: `1`, as inside a
/// complex number's repr): the shortest digits that round-trip, in exponent form when the decimal
/// exponent is below -4 or at least 16.
fn py_float_repr(x: f64, add_dot_0: bool) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    // Rust's `{:e}` prints the same shortest round-trip digits, as `d.ddde<exp>`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let decpt = exp + 1;
    let body = if !(-4 < decpt && decpt <= 16) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!(
            "{first}{dot}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    } else if decpt <= 0 {
        format!("0.{}{digits}", "0".repeat(decpt.unsigned_abs() as usize))
    } else if decpt as usize >= digits.len() {
        let zeros = "0".repeat(decpt as usize - digits.len());
        format!("{digits}{zeros}{}", if add_dot_0 { ".0" } else { "" })
    } else {
        let (int, frac) = digits.split_at(decpt as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// Python's `repr`/`str` of `complex(re, im)`: `1j`, `(1+2j)`, `(-0-1j)`.
fn py_complex_repr(re: f64, im: f64) -> String {
    if re == 0.0 && re.is_sign_positive() {
        return format!("{}j", py_float_repr(im, false));
    }
    let im_text = py_float_repr(im, false);
    let signed = if im_text.starts_with('-') {
        im_text
    } else {
        format!("+{im_text}")
    };
    format!("({}{signed}j)", py_float_repr(re, false))
}

/// Decimal digits of a wire big integer (`0x...` or `-0x...`, as Python's `hex`).
fn hex_to_decimal(hex: &str) -> String {
    let (negative, digits) = match hex.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, hex),
    };
    let digits = digits.trim_start_matches("0x");
    // Little-endian base-2^32 limbs, divided by 10^9 repeatedly.
    let mut limbs: Vec<u32> = Vec::new();
    let bytes = digits.as_bytes();
    let mut end = bytes.len();
    while end > 0 {
        let start = end.saturating_sub(8);
        let chunk = std::str::from_utf8(&bytes[start..end]).unwrap_or("0");
        limbs.push(u32::from_str_radix(chunk, 16).unwrap_or(0));
        end = start;
    }
    let mut parts = Vec::new();
    while limbs.iter().any(|&l| l != 0) {
        let mut rem = 0u64;
        for limb in limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        parts.push(rem);
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    let mut out = String::from(if negative { "-" } else { "" });
    match parts.split_last() {
        None => out.push('0'),
        Some((top, rest)) => {
            let _ = write!(out, "{top}");
            for p in rest.iter().rev() {
                let _ = write!(out, "{p:09}");
            }
        }
    }
    out
}

/// `EvalPlus`'s pass@k report for a dataset with plus inputs, as it prints it: `{dataset} (base
/// tests)`, then `{dataset}+ (base + extra tests)`, each followed by `pass@k:\t{score:.3}` for each
/// k that every task has enough samples for. `dataset` is `humaneval` or `mbpp`.
#[must_use]
pub fn summary(dataset: &str, base: &[(u64, f64)], plus: &[(u64, f64)]) -> String {
    let mut out = format!("{dataset} (base tests)\n");
    for (k, s) in base {
        let _ = writeln!(out, "pass@{k}:\t{s:.3}");
    }
    let _ = writeln!(out, "{dataset}+ (base + extra tests)");
    for (k, s) in plus {
        let _ = writeln!(out, "pass@{k}:\t{s:.3}");
    }
    out
}

/// The current time as `EvalPlus`'s `date` field (`%Y-%m-%d %H:%M`), in UTC; callers that can read
/// the local time zone pass that instead, as `EvalPlus` does.
#[must_use]
pub fn utc_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Civil date from days since the epoch (Howard Hinnant's algorithm), to avoid a date dependency.
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem / 60 % 60
    )
}

/// MD5 of `bytes` in hex, as `EvalPlus` hashes its dataset file.
#[must_use]
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(bytes)
        .iter()
        .fold(String::with_capacity(32), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_rfc_1321() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            md5_hex(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            ),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn floats_print_as_python_repr() {
        for (x, dot, py) in [
            (1.0, true, "1.0"),
            (1.0, false, "1"),
            (0.0001, true, "0.0001"),
            (0.00001, true, "1e-05"),
            (1e16, true, "1e+16"),
            (1e15, true, "1000000000000000.0"),
            (1.5e300, true, "1.5e+300"),
            (-0.0, true, "-0.0"),
            (0.1 + 0.2, true, "0.30000000000000004"),
            (123.456, true, "123.456"),
            (1e-100, false, "1e-100"),
        ] {
            assert_eq!(py_float_repr(x, dot), py, "{x}");
        }
        assert_eq!(py_complex_repr(0.0, 1.0), "1j");
        assert_eq!(py_complex_repr(1.0, 2.0), "(1+2j)");
        assert_eq!(py_complex_repr(-3.0, -4.5), "(-3-4.5j)");
        assert_eq!(py_complex_repr(1.0, 0.0), "(1+0j)");
        assert_eq!(py_complex_repr(0.0, 0.0), "0j");
        assert_eq!(py_complex_repr(1e-100, 1e-100), "(1e-100+1e-100j)");
    }

    #[test]
    fn inputs_serialize_as_evalplus_writes_them() {
        let wire = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert_eq!(
            evalplus_input(&wire(r#"[[1, 2.5], {"t": ["a", true, null]}]"#), None),
            r#"[[1, 2.5], ["a", true, null]]"#
        );
        assert_eq!(
            evalplus_input(
                &wire(r#"[{"d": [["k", {"f": "-inf"}], [1, {"f": "nan"}]]}]"#),
                None
            ),
            r#"[{"k": -Infinity, "1": NaN}]"#
        );
        assert_eq!(
            evalplus_input(
                &wire(r#"[{"x": "0x1000000000000000000000000"}, "\u00e9\n"]"#),
                None
            ),
            "[79228162514264337593543950336, \"\\u00e9\\n\"]"
        );
        assert_eq!(
            evalplus_input(&wire(r#"[0.0, {"c": [0.0, 1.0]}]"#), Some(124)),
            r#"["0.0", "1j"]"#
        );
        assert_eq!(
            evalplus_input(&wire(r#"[{"c": [1.0, 0.0]}]"#), Some(252)),
            r#"["(1+0j)"]"#
        );
        assert_eq!(
            evalplus_input(&wire(r#"[[{"s": [1, 2]}, {"d": []}]]"#), Some(115)),
            "[[[1, 2], []]]"
        );
        assert_eq!(hex_to_decimal("-0x0"), "-0");
        assert_eq!(hex_to_decimal("0xffffffffffffffff"), "18446744073709551615");
    }

    #[test]
    fn results_file_is_named_as_evalplus_names_it() {
        assert_eq!(
            results_path(Path::new("/a/samples.jsonl"), None),
            Path::new("/a/samples_eval_results.json")
        );
        assert_eq!(
            results_path(Path::new("x/s.txt"), Some(Path::new("/o"))),
            Path::new("/o/s.txt_eval_results.json")
        );
    }
}
