//! Stdin/stdout (contest) problems in three layouts, normalized to one [`StdioRecord`]:
//!
//! - **APPS / TACO** (`apps`): `problem_id` (or `id`), `question`, `input_output` (a JSON *string*
//!   `{"inputs": [...], "outputs": [...], "fn_name"?}`), `solutions` (a JSON string of a list),
//!   `starter_code`, `difficulty`. Neither has a public/private split: **the first test is public**
//!   (as Zheng et al. do for TACO), every test is hidden. A `fn_name` marks a call-based problem.
//! - **`MapCoder`'s APPS subset** (`apps-subset`, `testdata/datasets/apps-subset` in this repository): `id`, `description`,
//!   `io_mode`, `starter_code`, `public_tests` = `[{input, output: [str]}]`. It holds the public
//!   sample tests only, so **hidden = public** for it (documented in the results as such).
//! - **`CodeContests`** (`code-contests`): `name`, `description`, `public_tests`, `private_tests`,
//!   `generated_tests` (each `{input: [...], output: [...]}`), `solutions` (`{language: [...],
//!   solution: [...]}`, language 3 is Python 3), `time_limit` (`{seconds, nanos}`). Public = its
//!   public tests; hidden = public + private + generated.
//!
//! Outputs given as a list of lines are joined with newlines.

use serde_json::{Map, Value};

use crate::errors::DataError;

/// A stdin/stdout problem.
#[derive(Debug, Clone, PartialEq)]
pub struct StdioRecord {
    /// The problem's id.
    pub task_id: String,
    /// The statement.
    pub statement: String,
    /// `(input, expected output)` pairs a strategy may see.
    pub public: Vec<(String, String)>,
    /// `(input, expected output)` pairs the evaluator runs.
    pub hidden: Vec<(String, String)>,
    /// Reference solutions in Python 3, if any.
    pub solutions: Vec<String>,
    /// The dataset's time limit per test, in milliseconds.
    pub time_limit_ms: Option<u64>,
    /// Difficulty label, if any.
    pub difficulty: Option<String>,
    /// A call-based problem (not stdin/stdout): kept so preparation can say it is skipped.
    pub call_based: bool,
    /// Whether the hidden tests are only the public ones (the dataset holds no others).
    pub hidden_is_public: bool,
}

struct Ctx<'a> {
    file: &'a str,
    line: usize,
}

impl Ctx<'_> {
    fn err(&self, message: String) -> DataError {
        DataError::Record {
            file: self.file.to_owned(),
            line: self.line,
            message,
        }
    }

    fn str_field<'v>(&self, r: &'v Map<String, Value>, field: &str) -> Result<&'v str, DataError> {
        match r.get(field) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(self.err(format!("field `{field}` is not a string"))),
            None => Err(self.err(format!("missing field `{field}`"))),
        }
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(lines) => Some(
            lines
                .iter()
                .map(|l| match l {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn pairs(
    ctx: &Ctx<'_>,
    v: Option<&Value>,
    field: &str,
) -> Result<Vec<(String, String)>, DataError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let inputs = v
        .get("input")
        .or_else(|| v.get("inputs"))
        .and_then(Value::as_array)
        .ok_or_else(|| ctx.err(format!("field `{field}.input` is not a list")))?;
    let outputs = v
        .get("output")
        .or_else(|| v.get("outputs"))
        .and_then(Value::as_array)
        .ok_or_else(|| ctx.err(format!("field `{field}.output` is not a list")))?;
    if inputs.len() != outputs.len() {
        return Err(ctx.err(format!(
            "field `{field}` has {} inputs but {} outputs",
            inputs.len(),
            outputs.len()
        )));
    }
    Ok(inputs
        .iter()
        .zip(outputs)
        .map(|(i, o)| {
            (
                text_of(i).unwrap_or_default(),
                text_of(o).unwrap_or_default(),
            )
        })
        .collect())
}

fn id_of(r: &Map<String, Value>, keys: &[&str], line: usize) -> String {
    keys.iter()
        .find_map(|k| match r.get(*k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| format!("problem-{line}"))
}

/// An APPS or TACO record.
pub(crate) fn apps(record: &str, file: &str, line: usize) -> Result<StdioRecord, DataError> {
    let ctx = Ctx { file, line };
    let r: Map<String, Value> =
        serde_json::from_str(record).map_err(|e| ctx.err(format!("not a JSON object: {e}")))?;
    let statement = ctx.str_field(&r, "question")?.to_owned();
    let io_text = ctx.str_field(&r, "input_output")?;
    let io: Value = if io_text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(io_text)
            .map_err(|e| ctx.err(format!("field `input_output` is not JSON: {e}")))?
    };
    let call_based = io.get("fn_name").is_some_and(|v| !v.is_null());
    let tests = if io.get("inputs").is_some() {
        pairs(&ctx, Some(&io), "input_output")?
    } else {
        Vec::new()
    };
    let solutions: Vec<String> = match r.get("solutions") {
        Some(Value::String(s)) if !s.trim().is_empty() => serde_json::from_str(s).map_err(|e| {
            ctx.err(format!(
                "field `solutions` is not a JSON list of strings: {e}"
            ))
        })?,
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    Ok(StdioRecord {
        task_id: format!("apps/{}", id_of(&r, &["problem_id", "id"], line)),
        statement,
        public: tests.first().cloned().into_iter().collect(),
        hidden: tests,
        solutions,
        time_limit_ms: None,
        difficulty: r
            .get("difficulty")
            .and_then(Value::as_str)
            .map(str::to_owned),
        call_based,
        hidden_is_public: false,
    })
}

/// A record of `MapCoder`'s APPS subset.
pub(crate) fn apps_subset(record: &str, file: &str, line: usize) -> Result<StdioRecord, DataError> {
    let ctx = Ctx { file, line };
    let r: Map<String, Value> =
        serde_json::from_str(record).map_err(|e| ctx.err(format!("not a JSON object: {e}")))?;
    let statement = ctx.str_field(&r, "description")?.to_owned();
    let call_based = r.get("io_mode").and_then(Value::as_str) != Some("stdin");
    let tests = r
        .get("public_tests")
        .and_then(Value::as_array)
        .ok_or_else(|| ctx.err("field `public_tests` is not a list".to_owned()))?;
    let mut public = Vec::with_capacity(tests.len());
    for (i, t) in tests.iter().enumerate() {
        let input = t
            .get("input")
            .and_then(text_of)
            .ok_or_else(|| ctx.err(format!("field `public_tests[{i}].input` is missing")))?;
        let output = match t.get("output") {
            Some(Value::Array(a)) => a.first().and_then(text_of).unwrap_or_default(),
            Some(v) => text_of(v).unwrap_or_default(),
            None => return Err(ctx.err(format!("field `public_tests[{i}].output` is missing"))),
        };
        public.push((input, output));
    }
    Ok(StdioRecord {
        task_id: id_of(&r, &["id"], line),
        statement,
        hidden: public.clone(),
        public,
        solutions: Vec::new(),
        time_limit_ms: None,
        difficulty: r
            .get("difficulty")
            .and_then(Value::as_str)
            .map(str::to_owned),
        call_based,
        hidden_is_public: true,
    })
}

/// A `CodeContests` record.
pub(crate) fn code_contests(
    record: &str,
    file: &str,
    line: usize,
) -> Result<StdioRecord, DataError> {
    let ctx = Ctx { file, line };
    let r: Map<String, Value> =
        serde_json::from_str(record).map_err(|e| ctx.err(format!("not a JSON object: {e}")))?;
    let statement = ctx.str_field(&r, "description")?.to_owned();
    let public = pairs(&ctx, r.get("public_tests"), "public_tests")?;
    let mut hidden = public.clone();
    hidden.extend(pairs(&ctx, r.get("private_tests"), "private_tests")?);
    hidden.extend(pairs(&ctx, r.get("generated_tests"), "generated_tests")?);
    let mut solutions = Vec::new();
    if let Some(s) = r.get("solutions").filter(|v| !v.is_null()) {
        let langs = s
            .get("language")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let sols = s
            .get("solution")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (l, code) in langs.iter().zip(&sols) {
            if (l.as_u64() == Some(3) || l.as_str() == Some("PYTHON3"))
                && let Some(code) = code.as_str()
            {
                solutions.push(code.to_owned());
            }
        }
    }
    let time_limit_ms = r.get("time_limit").and_then(|t| {
        let secs = t.get("seconds").and_then(Value::as_u64).unwrap_or(0);
        let nanos = t.get("nanos").and_then(Value::as_u64).unwrap_or(0);
        let ms = secs * 1000 + nanos / 1_000_000;
        (ms > 0).then_some(ms)
    });
    Ok(StdioRecord {
        task_id: format!("code_contests/{}", id_of(&r, &["name"], line)),
        statement,
        public,
        hidden,
        solutions,
        time_limit_ms,
        difficulty: r.get("difficulty").map(std::string::ToString::to_string),
        call_based: false,
        hidden_is_public: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_first_test_is_public_and_errors_name_fields() {
        let rec = r#"{"problem_id": 7, "question": "Add.", "input_output": "{\"inputs\": [\"1 2\\n\", \"3 4\\n\"], \"outputs\": [\"3\\n\", [\"7\"]]}", "solutions": "[\"print(sum(map(int, input().split())))\"]", "difficulty": "interview"}"#;
        let r = apps(rec, "a.jsonl", 1).unwrap();
        assert_eq!(r.task_id, "apps/7");
        assert_eq!(r.public, vec![("1 2\n".to_owned(), "3\n".to_owned())]);
        assert_eq!(r.hidden.len(), 2);
        assert_eq!(r.hidden[1].1, "7");
        assert_eq!(r.solutions.len(), 1);
        let bad = r#"{"problem_id": 7, "question": "Add.", "input_output": "{nope"}"#;
        let e = apps(bad, "a.jsonl", 3).unwrap_err().to_string();
        assert!(
            e.contains("a.jsonl") && e.contains("line 3") && e.contains("input_output"),
            "{e}"
        );
    }

    #[test]
    fn code_contests_hidden_includes_private_and_generated() {
        let rec = r#"{"name": "1A", "description": "d", "public_tests": {"input": ["1\n"], "output": ["1\n"]}, "private_tests": {"input": ["2\n"], "output": ["2\n"]}, "generated_tests": {"input": ["3\n"], "output": ["3\n"]}, "solutions": {"language": [2, 3], "solution": ["cpp", "print(input())"]}, "time_limit": {"seconds": 2, "nanos": 500000000}}"#;
        let r = code_contests(rec, "c.jsonl", 1).unwrap();
        assert_eq!(r.public.len(), 1);
        assert_eq!(r.hidden.len(), 3);
        assert_eq!(r.solutions, vec!["print(input())".to_owned()]);
        assert_eq!(r.time_limit_ms, Some(2500));
    }
}
