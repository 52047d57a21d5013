//! Function-call suites (`HumanEval`, `HumanEval+`, MBPP and its flavours, HumanEval-X Python):
//! every record is drafted through the judge (see [`super::judge`]), the reference solutions run
//! once on every value plan's inputs, all through the pool at once, and each plan becomes a suite.

use std::collections::HashMap;
use std::sync::Arc;

use codeloop_data::Dataset;
use codeloop_sandbox::{Executor, Job, PythonJudge};
use codeloop_types::{
    Call, ExecReport, Expect, HiddenTests, Problem, ProblemId, TestCase, TestId, TestSuite,
};
use serde_json::{Value, json};

use super::dataset::{NoteKind, PrepNote, PrepareOptions, PreparedDataset};
use super::judge::{Draft, Plan, draft};
use super::suite::{reference_limits, suite_key};
use crate::errors::EngineError;

/// Prepares a dataset of function-call records.
pub(super) fn prepare_calls(
    dataset: &Dataset,
    executor: &Executor,
    options: &PrepareOptions,
    mut progress: impl FnMut(&str),
) -> Result<PreparedDataset, EngineError> {
    let mut judge = PythonJudge::start(executor.interpreter())?;
    let mut notes = Vec::new();
    let mut drafts = Vec::with_capacity(dataset.tasks.len());
    for (i, task) in dataset.tasks.iter().enumerate() {
        if i % 20 == 0 {
            progress(&format!("recording tests {}/{}", i, dataset.tasks.len()));
        }
        drafts.push(draft(task, dataset.format, &mut judge, &mut notes)?);
    }
    let mut ref_reports = reference_reports(&drafts, executor, &mut progress);
    let mut problems = Vec::with_capacity(drafts.len());
    for (di, d) in drafts.into_iter().enumerate() {
        let id = d.public.id.clone();
        let public = build_suite(
            &id,
            "public",
            d.public_plan,
            ref_reports.remove(&(di, 0)),
            options,
            &mut notes,
        )?;
        let hidden = build_suite(
            &id,
            "hidden",
            d.hidden_plan,
            ref_reports.remove(&(di, 1)),
            options,
            &mut notes,
        )?;
        if public.is_empty() {
            notes.push(PrepNote::new(
                &id,
                NoteKind::NoPublicTest,
                "no public test (the prompt's examples hold no call to the entry point)",
            ));
        }
        if hidden.is_empty() {
            notes.push(PrepNote::new(&id, NoteKind::NoHiddenTest, "no hidden test"));
        }
        let mut public_problem = d.public;
        public_problem.public_tests = Arc::new(public);
        problems.push(Problem {
            public: public_problem,
            hidden: HiddenTests(Arc::new(hidden)),
            reference: Some(d.reference),
        });
    }
    Ok(PreparedDataset::new(dataset, problems, notes))
}

/// The reports of the reference solutions' runs on every value plan's inputs, by (draft, suite:
/// 0 public, 1 hidden).
fn reference_reports(
    drafts: &[Draft],
    executor: &Executor,
    progress: &mut impl FnMut(&str),
) -> HashMap<(usize, usize), ExecReport> {
    // Reference runs for every value plan, all through the pool at once.
    // (which draft and suite, its calls, the first call this round runs)
    let mut runs: Vec<((usize, usize), Vec<Call>, usize)> = Vec::new();
    for (di, d) in drafts.iter().enumerate() {
        for (which, plan) in [(0usize, &d.public_plan), (1, &d.hidden_plan)] {
            if let Plan::Values { inputs, .. } = plan {
                if inputs.is_empty() {
                    continue;
                }
                let calls: Vec<Call> = inputs.iter().map(|w| Call::Args(w.to_string())).collect();
                runs.push(((di, which), calls, 0));
            }
        }
    }
    let reference_job = |di: usize, calls: &[Call], key: &str| {
        let d = &drafts[di];
        let suite = TestSuite {
            calls: calls.to_vec(),
            call_cpu_ms: vec![60_000; calls.len()],
            ..TestSuite::empty(key)
        };
        let mut job = Job::suite(
            d.reference.program.as_str().into(),
            &d.entry_point,
            Arc::new(suite),
            reference_limits(),
        );
        job.collect_values = true;
        job
    };
    let total = runs.len();
    let mut ref_reports: HashMap<(usize, usize), ExecReport> = HashMap::with_capacity(total);
    let mut round = 0;
    // A reference that dies on one input (a memory or time limit, a crash) takes the calls after
    // it down too: they run again from the input after the one it died on, round by round, so
    // that only the inputs it fails on are dropped.
    while !runs.is_empty() {
        let jobs: Vec<Job> = runs
            .iter()
            .map(|((di, which), calls, offset)| {
                let key = format!("reference:{}:{which}:{offset}", drafts[*di].public.id);
                reference_job(*di, &calls[*offset..], &key)
            })
            .collect();
        let n = jobs.len();
        let mut outputs: Vec<Option<ExecReport>> = vec![None; n];
        let mut done = 0;
        executor.run_all(jobs, |i, report| {
            done += 1;
            if round == 0 && (done % 20 == 0 || done == total) {
                progress(&format!("running reference solutions {done}/{total}"));
            }
            outputs[i] = Some(report);
        });
        let mut again = Vec::new();
        for ((key, calls, offset), report) in runs.into_iter().zip(outputs) {
            let report = report.expect("every job reports");
            let returned = report.returned.clone().unwrap_or_default();
            // Where the run stopped: the first call with no value after the last with one, when
            // the run ended badly (a run that ended well raised on its unanswered calls).
            let died_at = (!report.verdict.is_pass() && !returned.is_empty())
                .then(|| {
                    returned
                        .iter()
                        .rposition(Option::is_some)
                        .map_or(0, |l| l + 1)
                })
                .filter(|&d| d + 1 < returned.len());
            match ref_reports.get_mut(&key) {
                Some(merged) => {
                    let values = merged.returned.get_or_insert_with(Vec::new);
                    for (j, r) in returned.into_iter().enumerate() {
                        if let Some(slot) = values.get_mut(offset + j) {
                            *slot = r;
                        }
                    }
                    merged.verdict = report.verdict.clone();
                }
                None => {
                    ref_reports.insert(key, report);
                }
            }
            // At most 20 deaths per reference: one that dies on every input is not worth more.
            if let Some(d) = died_at
                && round < 20
            {
                again.push((key, calls, offset + d + 1));
            }
        }
        runs = again;
        round += 1;
    }
    ref_reports
}

/// Whether a wire value can differ from itself in the judge's comparison: a NaN (unequal to
/// itself) or an opaque object (equal to nothing).
pub(crate) fn inexact_wire(wire: &str) -> bool {
    wire.contains("{\"f\":\"nan\"}") || wire.contains("{\"o\":")
}

fn build_suite(
    id: &ProblemId,
    which: &str,
    plan: Plan,
    reference: Option<ExecReport>,
    options: &PrepareOptions,
    notes: &mut Vec<PrepNote>,
) -> Result<TestSuite, EngineError> {
    let floor = options.call_cpu_floor_ms;
    match plan {
        Plan::Values {
            inputs,
            shown,
            atol,
            special,
            group_sizes,
        } => {
            if inputs.is_empty() {
                return Ok(TestSuite::empty(&format!("{id}:{which}:empty")));
            }
            let report = reference.ok_or_else(|| EngineError::Prepare {
                problem: id.0.clone(),
                message: "the reference solution did not run".to_owned(),
            })?;
            let verdict = report.verdict.name();
            let returned = report.returned.unwrap_or_default();
            if returned.iter().all(Option::is_none) {
                return Err(EngineError::Prepare {
                    problem: id.0.clone(),
                    message: format!("the reference solution returned nothing: {verdict}"),
                });
            }
            // The reference's run sent each value's repr with it (cut at 2,000 characters).
            let reprs: Vec<Option<String>> = returned
                .iter()
                .map(|r| r.as_ref().and_then(|r| r.repr.clone()))
                .collect();
            // Oracles that decide from more than the expected value: a byte-identical value can
            // still fail them (`find_zero` checks the root itself).
            let exact = matches!(special, None | Some("any" | "not_none" | "zero_ok"));
            let mut calls = Vec::new();
            let mut cpu = Vec::new();
            let mut tests = Vec::new();
            let mut groups = Vec::new();
            let mut index = 0usize;
            let mut dropped = 0usize;
            for (name, size) in group_sizes {
                let start = tests.len() as u32;
                for _ in 0..size {
                    let i = index;
                    index += 1;
                    let Some(Some(ret)) = returned.get(i) else {
                        dropped += 1;
                        continue;
                    };
                    let t = tests.len() as u32;
                    calls.push(Call::Args(inputs[i].to_string()));
                    let limit = (ret.cpu_ms * options.reference_factor).ceil() as u32;
                    cpu.push(limit.max(floor));
                    tests.push(TestCase {
                        id: TestId(t),
                        calls: (t, t + 1),
                        input: shown[i].clone(),
                        expected: reprs.get(i).cloned().flatten(),
                        expect: Expect::Value {
                            exact: exact && !inexact_wire(&ret.wire),
                            digest: (ret.wire.len() > codeloop_sandbox::DIGEST_OVER)
                                .then(|| codeloop_sandbox::wire_digest(&ret.wire)),
                            wire: ret.wire.clone(),
                        },
                    });
                }
                groups.push((name.to_owned(), start, tests.len() as u32));
            }
            if dropped > 0 {
                notes.push(PrepNote::new(
                    id,
                    NoteKind::InputsDropped,
                    format!(
                        "{dropped} {which} input(s) dropped: the reference solution fails on them"
                    ),
                ));
            }
            // The expected values live in the tests alone: the judge gets them with each request.
            let spec = json!({"atol": atol, "special": special}).to_string();
            let expected = tests.iter().filter_map(|t| match &t.expect {
                Expect::Value { wire, .. } => Some(wire.as_str()),
                _ => None,
            });
            Ok(TestSuite {
                key: suite_key(id, which, &calls, &spec, expected),
                calls,
                call_cpu_ms: cpu,
                tests,
                judge_spec: spec,
                groups,
                ..TestSuite::empty("")
            })
        }
        Plan::Replay(recorded) => {
            let mut calls = Vec::new();
            let mut cpu = Vec::new();
            let mut tests = Vec::new();
            let mut spec_tests = Vec::new();
            let prelude = recorded["prelude"].as_str().unwrap_or_default();
            let bind = recorded["bind"].as_str().unwrap_or_default();
            let entry = recorded["entry_point"].as_str().unwrap_or_default();
            for t in recorded["tests"].as_array().into_iter().flatten() {
                let tid = tests.len() as u32;
                let start = calls.len() as u32;
                let src = t["src"].as_str().unwrap_or_default();
                let inline = t["inline"].as_bool().unwrap_or(false);
                let ref_cpu: Vec<f64> = t["cpu_ms"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_f64)
                    .collect();
                let limit = |ms: f64| ((ms * options.reference_factor).ceil() as u32).max(floor);
                if inline {
                    calls.push(Call::Inline(format!("{prelude}\n{bind} = {entry}\n{src}")));
                    cpu.push(limit(ref_cpu.iter().sum()));
                } else {
                    for (j, c) in t["calls"].as_array().into_iter().flatten().enumerate() {
                        calls.push(Call::Args(c.to_string()));
                        cpu.push(limit(ref_cpu.get(j).copied().unwrap_or(0.0)));
                    }
                }
                let outputs: Vec<&str> = t["outputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                tests.push(TestCase {
                    id: TestId(tid),
                    calls: (start, calls.len() as u32),
                    input: src.to_owned(),
                    expected: (!outputs.is_empty() && !inline).then(|| outputs.join(", ")),
                    expect: if inline {
                        Expect::Inline
                    } else {
                        Expect::Replay
                    },
                });
                spec_tests.push(json!({"stmt": t["index"], "calls": if inline { json!([]) } else { t["calls"].clone() }}));
            }
            let spec = json!({
                "replay": {
                    "program": recorded["program"],
                    "prelude": prelude,
                    "statements": recorded["statements"],
                    "bind": bind,
                },
                "tests": spec_tests,
            })
            .to_string();
            Ok(TestSuite {
                key: suite_key(id, which, &calls, &spec, std::iter::empty()),
                calls,
                call_cpu_ms: cpu,
                tests,
                judge_spec: spec,
                ..TestSuite::empty("")
            })
        }
    }
}
