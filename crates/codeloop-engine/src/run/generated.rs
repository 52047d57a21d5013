//! The tests a model wrote for a pool stage, read and made into a suite of their own.
//!
//! - **Function problems**: the trusted judge reads the asserts on the entry point
//!   (`parse_tests`: Python's parser and `ast.literal_eval`, nothing run); each becomes a value
//!   test (per-test tolerances for `abs(...) < t` and `math.isclose`).
//! - **Stdin/stdout problems**: input and output blocks (`codeloop_strategy::written`); each
//!   becomes a stdio test compared as the problem's own public tests are (mode and checker). An
//!   input without an output is a test without an expectation: it never counts as passed or
//!   failed, it only shows a program's behaviour (`AlphaCode`'s clustering inputs).
//!
//! Tests are deduplicated across answers and cut at the strategy's `tests`; the suite's key is
//! `<problem>:generated:<hash>`, its `judge_spec` says `"trust": "model"`, and it never mixes
//! with the problem's public or hidden tests.

use std::collections::HashSet;

use codeloop_sandbox::PythonJudge;
use codeloop_sandbox::protocol::judge::ParsedTest;

use codeloop_strategy::written::{WrittenStdio, stdio_tests};
use codeloop_types::{
    Call, ExecReport, Expect, Interface, Limits, OutputCompare, Problem, TestCase, TestId,
    TestSuite, Verdict,
};

use super::context::{Shared, SharedJudge};
use crate::errors::EngineError;

/// CPU milliseconds each call of a model-written test may take (`CodeT` allows 0.1 s; this
/// machine class is slower, and a call over it is a time-limit verdict, not an error).
pub const GENERATED_CALL_CPU_MS: u32 = 250;

/// The tests a pool stage read from the model's answers.
#[derive(Debug, Default)]
pub(super) struct Generated {
    /// The suite (`None`: no test was kept).
    pub(super) suite: Option<TestSuite>,
    /// Each test as a person reads it.
    pub(super) shown: Vec<String>,
    /// Whether each test expects something (a stdio input alone does not).
    pub(super) expects: Vec<bool>,
    /// Statements or blocks that were not tests.
    pub(super) rejected: u64,
    /// Tests dropped as repeats.
    pub(super) duplicates: u64,
}

/// Reads the tests of `texts` (the model's answers) for `problem`: at most `keep` per answer,
/// `limit` in all (0: no limit).
pub(super) async fn read_tests(
    shared: &Shared<'_>,
    problem: &Problem,
    texts: Vec<String>,
    keep: u32,
    limit: u32,
) -> Result<Generated, EngineError> {
    let limit = if limit == 0 {
        usize::MAX
    } else {
        limit as usize
    };
    match &problem.public.interface {
        Interface::Function { entry_point } => {
            let judge = shared.judge.clone();
            let interpreter = shared.ctx.executor.interpreter().clone();
            let (id, entry) = (problem.id().0.clone(), entry_point.clone());
            let parsed = tokio::task::spawn_blocking(move || {
                parse_all(&judge, &interpreter, &id, &entry, &texts, keep)
            })
            .await
            .map_err(EngineError::RequestTask)??;
            let mut out = Generated {
                rejected: parsed.rejected,
                duplicates: parsed.duplicates,
                ..Generated::default()
            };
            let mut seen = HashSet::new();
            let mut kept = Vec::new();
            for test in parsed.tests {
                if !seen.insert((test.args.to_string(), test.expected.to_string())) {
                    out.duplicates += 1;
                } else if kept.len() < limit {
                    kept.push(test);
                }
            }
            out.shown = kept.iter().map(|t| t.src.clone()).collect();
            out.expects = vec![true; kept.len()];
            out.suite = (!kept.is_empty()).then(|| generated_suite(problem, &kept));
            Ok(out)
        }
        Interface::Stdio => {
            let mut out = Generated::default();
            let mut kept: Vec<WrittenStdio> = Vec::new();
            for text in &texts {
                let read = stdio_tests(text, keep);
                out.rejected += u64::from(read.rejected);
                out.duplicates += u64::from(read.duplicates);
                for test in read.tests {
                    if kept.contains(&test) {
                        out.duplicates += 1;
                    } else if kept.len() < limit {
                        kept.push(test);
                    }
                }
            }
            out.shown = kept
                .iter()
                .map(|t| match &t.output {
                    Some(o) => format!("input {:?} -> output {o:?}", t.input),
                    None => format!("input {:?}", t.input),
                })
                .collect();
            out.expects = kept.iter().map(|t| t.output.is_some()).collect();
            out.suite = (!kept.is_empty()).then(|| generated_stdio_suite(problem, &kept));
            Ok(out)
        }
    }
}

/// The class key of test `j`'s outcome in `report`: what the program returned or printed
/// (printed text with its whitespace normalised), or the verdict's name.
pub(super) fn outcome_key(suite: &TestSuite, report: &ExecReport, j: usize) -> String {
    let test = report.tests.get(j);
    if suite.stdio.is_some() {
        let tokens = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        return match test.map(|t| &t.verdict) {
            Some(Verdict::Pass) => tokens(suite.tests[j].expected.as_deref().unwrap_or_default()),
            Some(Verdict::WrongAnswer { got: Some(got), .. }) => tokens(got),
            Some(v) => format!("!{}", v.name()),
            None => "!not_run".to_owned(),
        };
    }
    match (report.returned.as_ref().and_then(|r| r.get(j)), test) {
        (Some(Some(r)), _) => r.wire.clone(),
        (_, Some(t)) => format!("!{}", t.verdict.name()),
        _ => "!not_run".to_owned(),
    }
}

/// The stdio suite of the model's tests, compared as the problem's public tests are.
fn generated_stdio_suite(problem: &Problem, tests: &[WrittenStdio]) -> TestSuite {
    let public = &problem.public.public_tests;
    let pairs: Vec<(String, String)> = tests
        .iter()
        .map(|t| (t.input.clone(), t.output.clone().unwrap_or_default()))
        .collect();
    let cpu = public.call_cpu_ms.first().copied().unwrap_or(2_000);
    let compare = public.stdio.unwrap_or(OutputCompare::Tokens);
    crate::prepare::stdio_suite(
        problem.id(),
        "generated",
        &pairs,
        cpu,
        compare,
        public.checker.as_ref(),
    )
}

/// The tests of every answer, parsed by the judge (started on first use).
struct Parsed {
    tests: Vec<ParsedTest>,
    rejected: u64,
    duplicates: u64,
}

fn parse_all(
    judge: &SharedJudge,
    interpreter: &codeloop_sandbox::Interpreter,
    id: &str,
    entry_point: &str,
    texts: &[String],
    keep: u32,
) -> Result<Parsed, EngineError> {
    let mut guard = judge.lock().expect("judge lock");
    if guard.is_none() {
        *guard = Some(PythonJudge::start(interpreter)?);
    }
    let judge = guard.as_mut().expect("started above");
    let mut out = Parsed {
        tests: Vec::new(),
        rejected: 0,
        duplicates: 0,
    };
    for text in texts {
        let reply = judge
            .parse_tests(entry_point, text, keep)
            .map_err(|e| match e {
                codeloop_sandbox::SandboxError::Judge { message, .. } => EngineError::Prepare {
                    problem: id.to_owned(),
                    message: format!("the model's tests: {message}"),
                },
                e => e.into(),
            })?;
        out.rejected += reply.rejected.len() as u64;
        out.duplicates += u64::from(reply.duplicates);
        // `keep` per answer, as `CodeT` keeps the first 5 asserts of each.
        out.tests.extend(reply.tests);
    }
    Ok(out)
}

/// The suite of the model's asserts: one value test per assert (what a pool stage runs its
/// programs on).
#[must_use]
pub fn generated_suite(problem: &Problem, tests: &[ParsedTest]) -> TestSuite {
    let mut calls = Vec::with_capacity(tests.len());
    let mut cases = Vec::with_capacity(tests.len());
    for (i, t) in tests.iter().enumerate() {
        let i = i as u32;
        calls.push(Call::Args(t.args.to_string()));
        let wire = t.expected.to_string();
        cases.push(TestCase {
            id: TestId(i),
            calls: (i, i + 1),
            input: t.src.clone(),
            expected: None,
            expect: Expect::Value {
                exact: t.atol.is_none() && !crate::prepare::inexact_wire(&wire),
                digest: (wire.len() > codeloop_sandbox::DIGEST_OVER)
                    .then(|| codeloop_sandbox::wire_digest(&wire)),
                wire,
            },
        });
    }
    // `trust` marks the suite as the model's; `atols` holds the approximate tests' tolerances.
    let atols: serde_json::Map<String, serde_json::Value> = tests
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.atol.map(|a| (i.to_string(), a.into())))
        .collect();
    let spec = serde_json::json!({"atol": 0.0, "special": null, "trust": "model", "atols": atols})
        .to_string();
    let expected = cases.iter().filter_map(|t| match &t.expect {
        Expect::Value { wire, .. } => Some(wire.as_str()),
        _ => None,
    });
    TestSuite {
        key: crate::prepare::suite_key(problem.id(), "generated", &calls, &spec, expected),
        call_cpu_ms: vec![GENERATED_CALL_CPU_MS; calls.len()],
        calls,
        tests: cases,
        judge_spec: spec,
        ..TestSuite::empty("")
    }
}

/// The run's limits, with room for every call of `suite` at its own limit.
#[must_use]
pub fn generated_limits(run: &Limits, suite: &TestSuite) -> Limits {
    let calls: u64 = suite.call_cpu_ms.iter().map(|&c| u64::from(c)).sum();
    let cpu_ms = run.cpu_ms.max(calls + 1_000);
    Limits {
        cpu_ms,
        wall_ms: run.wall_ms.max(2 * cpu_ms + 1_000),
        ..run.clone()
    }
}
