//! Messages between codeloop and the trusted judge (`python/judge.py`).
//!
//! A request is one object with an `op` naming the operation (`JudgeRequest`); its reply is
//! `{"ok": <payload>}`, the payload typed per op below, or `{"error": <`[`JudgeError`]`>}` for a
//! request the judge refused or could not carry out (it keeps serving). The ops:
//!
//! | op | request fields | `ok` payload |
//! |---|---|---|
//! | `hello` | `protocol` | [`Hello`] (an `error` naming both versions on a mismatch) |
//! | `ping` | | `{}` |
//! | `doc_calls` | `prompt`, `entry_point` | [`DocCalls`] |
//! | `record` | [`RecordRequest`] | [`Recorded`] |
//! | `load` | `key`, `spec` (a suite's judge spec) | `{}` |
//! | `unload` | `key` | `{}` |
//! | `judge` | `key`, `values` (test index → wire values), `tests` (test index → `expected`, `args`) | [`Judgement`] (an `error` with `reload` when the suite is not loaded) |
//! | `inputs_to_wire` | `raw` (a JSON list of argument lists), `mbpp_task` | [`WireInputs`] |
//! | `mbpp_entry` | `code`, `test` | [`MbppEntry`] |
//! | `parse_tests` | `entry_point`, `source` (a model's text), `limit` | [`ParsedTests`] (an `error` for a `source` of more than 200,000 characters or an `entry_point` that is not a Python name) |

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A request to the judge.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum JudgeRequest<'a> {
    /// The first request: both sides must speak `protocol`.
    Hello { protocol: u32 },
    /// Whether the judge still answers.
    Ping,
    /// The calls to `entry_point` in the examples of `prompt`'s docstring.
    DocCalls {
        prompt: &'a str,
        entry_point: &'a str,
    },
    /// Records a test script's calls against the reference solution.
    Record(&'a RecordRequest<'a>),
    /// Prepares a suite for judging, under `key`.
    Load { key: &'a str, spec: &'a RawValue },
    /// Forgets a suite.
    Unload { key: &'a str },
    /// Judges returned values against a loaded suite.
    Judge {
        key: &'a str,
        values: ByTest<'a, Vec<&'a RawValue>>,
        tests: ByTest<'a, Expected<'a>>,
    },
    /// `EvalPlus` inputs to wire values.
    InputsToWire {
        raw: &'a str,
        mbpp_task: Option<u64>,
    },
    /// The function of an MBPP reference that its first test calls.
    MbppEntry { code: &'a str, test: &'a str },
    /// Value tests of `entry_point` from the asserts of a model's text `source` (parsed, never
    /// run): at most `limit` of them, 0 for all.
    ParseTests {
        entry_point: &'a str,
        source: &'a str,
        limit: u32,
    },
}

/// Per-test members of a `judge` request: a JSON object keyed by test index.
#[derive(Debug)]
pub(crate) struct ByTest<'a, T>(pub(crate) &'a [(usize, T)]);

impl<T: Serialize> Serialize for ByTest<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(ti, v)| (ti, v)))
    }
}

/// What a test of a `judge` request expects (the suite's spec holds no expected value).
#[derive(Debug, Serialize)]
pub(crate) struct Expected<'a> {
    /// The expected wire value.
    pub(crate) expected: &'a RawValue,
    /// The call's arguments, for the oracles that need them (tests not marked exact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) args: Option<&'a RawValue>,
}

/// A `record` request: run a trusted test script against the reference `program`, logging the
/// calls it makes to `entry_point`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "style", rename_all = "snake_case")]
pub enum RecordRequest<'a> {
    /// A `check(candidate)` script (`HumanEval`'s `test`).
    Check {
        /// The script.
        test: &'a str,
        /// The function the script's `candidate` is.
        entry_point: &'a str,
        /// The reference solution.
        program: &'a str,
    },
    /// Assert statements (MBPP's), each a test.
    Asserts {
        /// The statements.
        statements: &'a [String],
        /// Code run before them (imports, setup).
        prelude: &'a str,
        /// The function the statements call.
        entry_point: &'a str,
        /// The reference solution.
        program: &'a str,
    },
}

impl RecordRequest<'_> {
    /// The reference solution.
    #[must_use]
    pub fn program(&self) -> &str {
        match self {
            RecordRequest::Check { program, .. } | RecordRequest::Asserts { program, .. } => {
                program
            }
        }
    }

    /// The function the tests call.
    #[must_use]
    pub fn entry_point(&self) -> &str {
        match self {
            RecordRequest::Check { entry_point, .. }
            | RecordRequest::Asserts { entry_point, .. } => entry_point,
        }
    }
}

/// A judge reply: `{"ok": payload}` or `{"error": ...}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum JudgeReply<T> {
    /// The op's result.
    Ok(T),
    /// The op failed; the judge goes on serving.
    Error(JudgeError),
}

/// Why the judge refused or failed a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JudgeError {
    /// What failed, e.g. ``malformed request: op `record` needs field `program` (a string)``.
    pub message: String,
    /// The end of the judge's traceback, when its own code raised.
    #[serde(default)]
    pub trace: Option<String>,
    /// The suite of a `judge` request is not loaded: load it and ask again.
    #[serde(default)]
    pub reload: bool,
    /// On a `hello` with another version: the judge's own.
    #[serde(default)]
    pub protocol: Option<u32>,
}

/// The `ok` payload of a `hello`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    /// The version the judge speaks (equal to codeloop's).
    pub protocol: u32,
}

/// The `ok` payload of ops that return nothing (`ping`, `load`, `unload`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ack {}

/// The `ok` payload of `doc_calls`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocCalls {
    /// The calls found, each once, in order.
    pub calls: Vec<DocCall>,
}

/// One call found in a docstring.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocCall {
    /// The arguments as a wire list.
    pub args: Value,
    /// The call's source text, whitespace collapsed.
    pub src: String,
}

/// The `ok` payload of `record`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    /// Code run before the statements.
    pub prelude: String,
    /// Every statement of the script, assert messages dropped.
    pub statements: Vec<String>,
    /// The name the statements call the entry point by.
    pub bind: String,
    /// The statements that called the entry point.
    pub tests: Vec<RecordedTest>,
    /// Statements the reference failed.
    pub failures: Vec<RecordFailure>,
}

/// A statement that called the entry point while recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedTest {
    /// Its index among the statements.
    pub index: u64,
    /// Its source.
    pub src: String,
    /// The wire arguments of each call (empty when `inline`).
    pub calls: Vec<Value>,
    /// Some argument had no value encoding: the statement runs inline in the sandbox.
    pub inline: bool,
    /// Each call's arguments, shown.
    pub inputs: Vec<String>,
    /// Each call's returned value, shown.
    pub outputs: Vec<String>,
    /// Each call's CPU time in the reference, in ms.
    pub cpu_ms: Vec<f64>,
}

/// A statement the reference failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordFailure {
    /// Its index among the statements.
    pub index: u64,
    /// Its source.
    pub src: String,
    /// What it raised.
    pub error: String,
}

/// The `ok` payload of `judge`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Judgement {
    /// Per test index.
    pub results: BTreeMap<usize, Judged>,
}

/// The judge's verdict on one test's values.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Judged {
    /// Whether the values pass.
    pub pass: bool,
    /// The values shown, when they fail.
    #[serde(default)]
    pub got: Option<Vec<String>>,
    /// Why they fail, when the judge can say.
    #[serde(default)]
    pub detail: Option<String>,
    /// The judge could not judge them (a replay that left its recording): why.
    #[serde(default)]
    pub harness: Option<String>,
}

/// The `ok` payload of `inputs_to_wire`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireInputs {
    /// Each argument list as a wire list.
    pub inputs: Vec<Value>,
    /// Each argument list shown (`repr`s joined by commas).
    pub shown: Vec<String>,
}

/// The `ok` payload of `parse_tests`: the value tests in the asserts of a model's text.
///
/// The judge parses the text with Python's parser and reads values with `ast.literal_eval`; nothing
/// of it is run. Markdown code fences are dropped; a text that does not parse whole is read
/// statement by statement (a statement may span lines), skipping lines that never parse. Asserts are
/// found anywhere, also in functions: in one of a single parameter (`def check(candidate):`), that
/// parameter calls the entry point too (and, in a text that does not parse whole, so does the
/// parameter of every such function). An assert is a test when it is, with `f` the entry point and
/// `args` and `c` literals:
///
/// | assert | `expected` | `atol` |
/// |---|---|---|
/// | `f(args) == c`, `c == f(args)` | `c` | |
/// | `f(args) is True` / `False` / `None` | that constant | |
/// | `f(args)` | `True` | |
/// | `not f(args)` | `False` | |
/// | `abs(f(args) - c) < t` (or `<=`, `c - f(args)`, `t > abs(...)`) | `c` (a finite number) | `t` |
/// | `math.isclose(f(args), c, rel_tol=r, abs_tol=a)` (or `isclose`, the two swapped) | `c` (a finite number) | `max(r * abs(c), a)`, `r` = 1e-9 and `a` = 0 by default |
///
/// An assert's message is ignored. Every other assert is in `rejected`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParsedTests {
    /// The tests, each once (same arguments, expected value and `atol`), in the order of the text,
    /// at most `limit` of them. Tests with the same arguments and different expected values are
    /// all kept.
    pub tests: Vec<ParsedTest>,
    /// The asserts that are not tests (also lines starting with `assert` that never parse), in
    /// order.
    pub rejected: Vec<RejectedTest>,
    /// Tests dropped as repeats of an earlier one.
    pub duplicates: u32,
    /// Distinct tests past `limit`, not returned.
    pub beyond_limit: u32,
}

/// A value test read from an assert: calling the entry point with `args` returns `expected`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParsedTest {
    /// The positional arguments as a wire list.
    pub args: Value,
    /// The expected value, wire-encoded.
    pub expected: Value,
    /// The absolute tolerance an approximate comparison allows (`abs(...) < t`, `math.isclose`);
    /// absent for an exact one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atol: Option<f64>,
    /// The assert on one line, its message dropped and the entry point called by its name
    /// (`ast.unparse`).
    pub src: String,
}

/// An assert of a model's text that is not a value test.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RejectedTest {
    /// The assert on one line, cut at 2,000 characters.
    pub src: String,
    /// Why, e.g. `keyword arguments are not supported`, `argument is not a literal`, `value has no
    /// wire encoding`, `does not parse`, `not a call of f compared with a constant`.
    pub reason: String,
}

/// The `ok` payload of `mbpp_entry`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MbppEntry {
    /// The function's name.
    pub entry_point: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).unwrap()
    }

    fn json<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn every_request_has_its_op_and_fields() {
        assert_eq!(
            json(&JudgeRequest::Hello { protocol: 7 }),
            r#"{"op":"hello","protocol":7}"#
        );
        assert_eq!(json(&JudgeRequest::Ping), r#"{"op":"ping"}"#);
        assert_eq!(
            json(&JudgeRequest::DocCalls {
                prompt: "p",
                entry_point: "f"
            }),
            r#"{"op":"doc_calls","prompt":"p","entry_point":"f"}"#
        );
        let statements = vec!["assert f(1) == 2".to_owned()];
        let asserts = RecordRequest::Asserts {
            statements: &statements,
            prelude: "import math",
            entry_point: "f",
            program: "def f(x): return 2",
        };
        assert_eq!(
            json(&JudgeRequest::Record(&asserts)),
            r#"{"op":"record","style":"asserts","statements":["assert f(1) == 2"],"prelude":"import math","entry_point":"f","program":"def f(x): return 2"}"#
        );
        let check = RecordRequest::Check {
            test: "def check(c): pass",
            entry_point: "f",
            program: "",
        };
        assert_eq!(
            json(&JudgeRequest::Record(&check)),
            r#"{"op":"record","style":"check","test":"def check(c): pass","entry_point":"f","program":""}"#
        );
        assert_eq!((check.program(), check.entry_point()), ("", "f"));
        assert_eq!(
            json(&JudgeRequest::Load {
                key: "k",
                spec: raw(r#"{"atol":0}"#)
            }),
            r#"{"op":"load","key":"k","spec":{"atol":0}}"#
        );
        assert_eq!(
            json(&JudgeRequest::Unload { key: "k" }),
            r#"{"op":"unload","key":"k"}"#
        );
        let values = [(3, vec![raw("[1, 2]")])];
        let tests = [(
            3,
            Expected {
                expected: raw("{\"t\":[1]}"),
                args: Some(raw("[0]")),
            },
        )];
        assert_eq!(
            json(&JudgeRequest::Judge {
                key: "k",
                values: ByTest(&values),
                tests: ByTest(&tests),
            }),
            r#"{"op":"judge","key":"k","values":{"3":[[1, 2]]},"tests":{"3":{"expected":{"t":[1]},"args":[0]}}}"#
        );
        assert_eq!(
            json(&JudgeRequest::InputsToWire {
                raw: "[[1]]",
                mbpp_task: Some(2)
            }),
            r#"{"op":"inputs_to_wire","raw":"[[1]]","mbpp_task":2}"#
        );
        assert_eq!(
            json(&JudgeRequest::MbppEntry {
                code: "c",
                test: "t"
            }),
            r#"{"op":"mbpp_entry","code":"c","test":"t"}"#
        );
        assert_eq!(
            json(&JudgeRequest::ParseTests {
                entry_point: "f",
                source: "assert f(1) == 2",
                limit: 3
            }),
            r#"{"op":"parse_tests","entry_point":"f","source":"assert f(1) == 2","limit":3}"#
        );
    }

    fn round_trip<T: Serialize + serde::de::DeserializeOwned>(text: &str) {
        let JudgeReply::<T>::Ok(payload) = serde_json::from_str(text).unwrap() else {
            panic!("not ok: {text}");
        };
        let again = format!("{{\"ok\":{}}}", json(&payload));
        assert_eq!(
            serde_json::from_str::<Value>(&again).unwrap(),
            serde_json::from_str::<Value>(text).unwrap(),
            "{text}"
        );
    }

    #[test]
    fn every_reply_reads_and_writes_back_the_same() {
        round_trip::<Hello>(r#"{"ok":{"protocol":1}}"#);
        round_trip::<Ack>(r#"{"ok":{}}"#);
        round_trip::<DocCalls>(r#"{"ok":{"calls":[{"args":[1,{"t":[2]}],"src":"f(1, (2,))"}]}}"#);
        round_trip::<Recorded>(
            r#"{"ok":{"prelude":"","statements":["assert f(1)"],"bind":"candidate","tests":[{"index":0,"src":"assert f(1)","calls":[[1]],"inline":false,"inputs":["1"],"outputs":["True"],"cpu_ms":[0.5]}],"failures":[{"index":1,"src":"assert f(2)","error":"AssertionError: "}]}}"#,
        );
        round_trip::<Judgement>(
            r#"{"ok":{"results":{"0":{"pass":true,"got":null,"detail":null,"harness":null},"2":{"pass":false,"got":["3"],"detail":"x","harness":null}}}}"#,
        );
        round_trip::<WireInputs>(r#"{"ok":{"inputs":[[1,"a"]],"shown":["1, 'a'"]}}"#);
        round_trip::<MbppEntry>(r#"{"ok":{"entry_point":"f"}}"#);
        round_trip::<ParsedTests>(
            r#"{"ok":{"tests":[{"args":[[1,2]],"expected":{"t":[1]},"src":"assert f([1, 2]) == (1,)"},{"args":[0.5],"expected":1.0,"atol":1e-6,"src":"assert abs(f(0.5) - 1.0) < 1e-06"}],"rejected":[{"src":"assert f(x=1) == 2","reason":"keyword arguments are not supported"}],"duplicates":2,"beyond_limit":1}}"#,
        );
        let JudgeReply::<Ack>::Error(e) =
            serde_json::from_str(r#"{"error":{"message":"suite `k` not loaded","reload":true}}"#)
                .unwrap()
        else {
            panic!("an error")
        };
        assert!(e.reload);
        assert_eq!(e.message, "suite `k` not loaded");
    }
}
