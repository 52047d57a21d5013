//! The matrix of `codeloop bench run --strategy codet`: per problem, N programs (the reference
//! solution and wrong mutants of it, in a fixed cycle) x M value tests (the problem's own inputs,
//! expected values from the reference), as the suite a pool strategy builds from model-written
//! tests ([`generated_suite`]). See [`build_all`].

use std::sync::Arc;

use codeloop_engine::run::generated::generated_suite;
use codeloop_sandbox::protocol::judge::ParsedTest;
use codeloop_sandbox::{Executor, Job};
use codeloop_types::{Call, Expect, Limits, Problem, Returned, TestSuite};
use serde_json::Value;

/// What a program of the matrix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The reference solution (with a comment naming the sample, so that texts differ).
    Reference,
    /// The reference's value, made wrong when the first argument is odd (an odd int, or a string
    /// or list of odd length): right on some tests, wrong on others.
    Partial,
    /// The reference's value, always made wrong where it can be (ints + 1, floats + 0.5, strings
    /// and lists one item short, booleans negated).
    OffByOne,
    /// The expected value of the matrix's first test, whatever the arguments.
    Constant,
    /// Raises on every call.
    Raises,
}

impl Kind {
    /// The name printed in the bench's summary.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Reference => "reference",
            Kind::Partial => "wrong on odd inputs",
            Kind::OffByOne => "off by one",
            Kind::Constant => "constant",
            Kind::Raises => "raises",
        }
    }
}

/// The cycle program `i` of a matrix takes its kind from (`i % 6`): a third of the programs are
/// right.
pub(crate) const KINDS: [Kind; 6] = [
    Kind::Reference,
    Kind::Partial,
    Kind::OffByOne,
    Kind::Reference,
    Kind::Constant,
    Kind::Raises,
];

/// One program of a matrix.
pub(crate) struct Program {
    pub(crate) kind: Kind,
    pub(crate) text: Arc<str>,
}

/// One problem's matrix.
pub(crate) struct Matrix {
    /// The problem's id.
    pub(crate) problem: String,
    pub(crate) entry_point: String,
    pub(crate) programs: Vec<Program>,
    /// The tests, in suite order.
    pub(crate) tests: Vec<ParsedTest>,
    /// All of them, as one suite (way (a)).
    pub(crate) suite: Arc<TestSuite>,
    /// Each of them as a suite of its own (way (b)).
    pub(crate) singles: Vec<Arc<TestSuite>>,
}

/// Why a problem has no matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// The dataset gives no reference solution.
    NoReference,
    /// Not a function-call problem.
    NotAFunction,
    /// Neither the hidden nor the public suite holds a test that is one call with arguments
    /// whose value the reference returns (with a value encoding).
    NoValueTests,
}

/// A test of a prepared suite that is one call with arguments: the raw material of a matrix.
struct Input {
    /// The call's index in its suite.
    call: usize,
    args: Value,
    /// The expected value, when the suite holds it (a value suite); otherwise the reference's
    /// value, filled in by a run of it.
    expected: Option<Value>,
    atol: Option<f64>,
    src: String,
}

/// The matrices of `problems`, N = `samples` programs x M = `tests` tests each, and the problems
/// skipped. A problem's tests are the one-call tests of its hidden suite (of its public suite when
/// the hidden one has none), cycled to M, each expecting the value the reference returns: the
/// suite's expected value for a value suite, else (replayed asserts, as `HumanEval`'s hidden tests
/// are prepared) the value an untimed run of the reference on that suite returned.
pub(crate) fn build_all(
    executor: &Executor,
    problems: &[Problem],
    limits: &Limits,
    samples: usize,
    tests: usize,
) -> (Vec<Matrix>, Vec<(String, Skip)>) {
    let mut skipped = Vec::new();
    let mut chosen = Vec::new();
    for problem in problems {
        let (Some(reference), Some(entry)) = (&problem.reference, problem.entry_point()) else {
            let why = if problem.reference.is_none() {
                Skip::NoReference
            } else {
                Skip::NotAFunction
            };
            skipped.push((problem.id().0.clone(), why));
            continue;
        };
        let suite = [&problem.hidden.0, &problem.public.public_tests]
            .into_iter()
            .find(|s| !inputs(s).is_empty());
        match suite {
            Some(suite) => chosen.push((problem, reference, entry, suite, inputs(suite))),
            None => skipped.push((problem.id().0.clone(), Skip::NoValueTests)),
        }
    }
    // The reference's values where the suite holds none: one run per such problem.
    let runs: Vec<usize> = (0..chosen.len())
        .filter(|&k| chosen[k].4.iter().any(|i| i.expected.is_none()))
        .collect();
    let mut returned: Vec<Vec<Option<Returned>>> = vec![Vec::new(); chosen.len()];
    let jobs = runs.iter().map(|&k| {
        let (_, reference, entry, suite, _) = &chosen[k];
        let mut job = Job::suite(
            reference.program.as_str().into(),
            entry,
            (*suite).clone(),
            limits.clone(),
        );
        job.collect_values = true;
        job
    });
    executor.run_all(jobs, |j, report| {
        returned[runs[j]] = report.returned.unwrap_or_default();
    });
    let mut matrices = Vec::new();
    for ((problem, reference, entry, _, inputs), values) in chosen.into_iter().zip(returned) {
        let pool: Vec<ParsedTest> = inputs
            .into_iter()
            .filter_map(|i| {
                let expected = match i.expected {
                    Some(v) => v,
                    None => serde_json::from_str(&values.get(i.call)?.as_ref()?.wire).ok()?,
                };
                // A value with no encoding (an opaque object) cannot be expected.
                (!opaque(&expected)).then(|| ParsedTest {
                    args: i.args,
                    src: format!("{}, expecting {expected}", i.src),
                    expected,
                    atol: i.atol,
                })
            })
            .collect();
        if pool.is_empty() {
            skipped.push((problem.id().0.clone(), Skip::NoValueTests));
            continue;
        }
        matrices.push(matrix(
            problem,
            &reference.program,
            entry,
            &pool,
            samples,
            tests,
        ));
    }
    (matrices, skipped)
}

/// The matrix of `samples` programs x `tests` tests cycled from `pool`.
fn matrix(
    problem: &Problem,
    reference: &str,
    entry_point: &str,
    pool: &[ParsedTest],
    samples: usize,
    tests: usize,
) -> Matrix {
    let tests: Vec<ParsedTest> = (0..tests).map(|j| pool[j % pool.len()].clone()).collect();
    let constant = tests.first().map_or(Value::Null, |t| t.expected.clone());
    let programs = (0..samples)
        .map(|i| {
            let kind = KINDS[i % KINDS.len()];
            let text = program(kind, i, reference, entry_point, &constant);
            Program {
                kind,
                text: text.into(),
            }
        })
        .collect();
    let suite = Arc::new(generated_suite(problem, &tests));
    let singles = tests
        .iter()
        .map(|t| Arc::new(generated_suite(problem, std::slice::from_ref(t))))
        .collect();
    Matrix {
        problem: problem.id().0.clone(),
        entry_point: entry_point.to_owned(),
        programs,
        tests,
        suite,
        singles,
    }
}

/// The tests of a prepared `suite` that are one call with arguments, with the suite's expected
/// value and float tolerance where it is a value suite.
fn inputs(suite: &TestSuite) -> Vec<Input> {
    let spec: Value = serde_json::from_str(&suite.judge_spec).unwrap_or_default();
    let atol = spec["atol"].as_f64().filter(|a| *a > 0.0);
    suite
        .tests
        .iter()
        .filter_map(|t| {
            if t.calls.1 != t.calls.0 + 1 {
                return None;
            }
            let call = t.calls.0 as usize;
            let Some(Call::Args(args)) = suite.calls.get(call) else {
                return None;
            };
            let expected = match &t.expect {
                Expect::Value { wire, .. } => Some(serde_json::from_str(wire).ok()?),
                Expect::Replay => None,
                _ => return None,
            };
            Some(Input {
                call,
                args: serde_json::from_str(args).ok()?,
                atol: atol.filter(|_| expected.is_some()),
                expected,
                src: t.input.clone(),
            })
        })
        .collect()
}

/// Helpers of the mutants that wrap the reference: it runs in a namespace of its own, so that
/// its recursive calls reach itself, not the wrapper.
const WRAPPER: &str = r"

def _wrong(v):
    t = type(v)
    if t is bool:
        return not v
    if t is int:
        return v + 1
    if t is float:
        return v + 0.5
    if (t is str or t is list or t is tuple) and v:
        return v[:-1]
    return v


def _odd(args):
    a = args[0] if args else 0
    if type(a) is int:
        return a % 2 == 1
    if type(a) is str or type(a) is list or type(a) is tuple:
        return len(a) % 2 == 1
    return False
";

/// The text of program `i` of kind `kind`.
fn program(kind: Kind, i: usize, reference: &str, entry: &str, constant: &Value) -> String {
    // A JSON string literal is a Python string literal too.
    let quoted = |s: &str| Value::from(s).to_string();
    let wrapped = |body: &str| {
        format!(
            "# sample {i}: the reference solution, {}\n_reference = {{\"__name__\": \"reference\"}}\nexec({}, _reference){WRAPPER}\n\ndef {entry}(*args, **kwargs):\n{body}\n",
            kind.name(),
            quoted(reference),
        )
    };
    match kind {
        Kind::Reference => format!("{reference}\n\n# sample {i}: the reference solution\n"),
        Kind::Partial => wrapped(&format!(
            "    odd = _odd(args)\n    v = _reference[{}](*args, **kwargs)\n    return _wrong(v) if odd else v",
            quoted(entry)
        )),
        Kind::OffByOne => wrapped(&format!(
            "    return _wrong(_reference[{}](*args, **kwargs))",
            quoted(entry)
        )),
        Kind::Constant => {
            // Plain JSON decodes to the value itself; a tagged wire (tuples, dicts, ...) would
            // not, and the constant is then `None`.
            let value = if plain(constant) {
                format!("_json.loads({})", quoted(&constant.to_string()))
            } else {
                "None".to_owned()
            };
            format!(
                "# sample {i}: a constant\nimport json as _json\n\n_CONSTANT = {value}\n\n\ndef {entry}(*args, **kwargs):\n    return _CONSTANT\n"
            )
        }
        Kind::Raises => format!(
            "# sample {i}: raises\ndef {entry}(*args, **kwargs):\n    raise NotImplementedError(\"sample {i}\")\n"
        ),
    }
}

/// Whether a wire value holds an object with no value encoding (`{"o": type, "r": repr}`).
fn opaque(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.contains_key("o") || o.values().any(opaque),
        Value::Array(items) => items.iter().any(opaque),
        _ => false,
    }
}

/// Whether a wire value is plain JSON (no tagged object anywhere).
fn plain(v: &Value) -> bool {
    match v {
        Value::Object(_) => false,
        Value::Array(items) => items.iter().all(plain),
        _ => true,
    }
}
