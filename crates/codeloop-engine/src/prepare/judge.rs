//! Everything that talks to the Python judge while preparing function-call suites: the records of
//! each function-call format turned into [`Draft`]s, whose [`Plan`]s come from the judge's replies
//! (docstring example calls, `EvalPlus` inputs in wire form, recorded test scripts).

use std::sync::Arc;

use codeloop_data::{Format, RawTask, special_oracle};
use codeloop_sandbox::protocol::judge::RecordRequest;
use codeloop_sandbox::{PythonJudge, SandboxError};
use codeloop_types::{Interface, Language, ProblemId, PublicProblem, Reference, TestSuite};
use serde_json::Value;

use super::dataset::{NoteKind, PrepNote};
use super::programs::entry_of;
use crate::errors::EngineError;

/// How a suite is to be built.
pub(super) enum Plan {
    /// Value tests over inputs; expected values come from running the reference.
    Values {
        inputs: Vec<Value>,
        shown: Vec<String>,
        atol: f64,
        special: Option<&'static str>,
        group_sizes: Vec<(&'static str, usize)>,
    },
    /// A recorded test script.
    Replay(Value),
}

/// A function-call problem before its suites are built: what a plan per suite needs.
pub(super) struct Draft {
    pub(super) public: PublicProblem,
    pub(super) reference: Reference,
    pub(super) entry_point: String,
    pub(super) public_plan: Plan,
    pub(super) hidden_plan: Plan,
}

/// A judge reply for problem `id`: a request the judge refused fails the problem with its message.
fn ask<T>(id: &str, reply: Result<T, SandboxError>) -> Result<T, EngineError> {
    reply.map_err(|e| match e {
        SandboxError::Judge { message, .. } => EngineError::Prepare {
            problem: id.to_owned(),
            message,
        },
        e => e.into(),
    })
}

fn doc_plan(
    judge: &mut PythonJudge,
    id: &str,
    prompt: &str,
    entry: &str,
    atol: f64,
) -> Result<Plan, EngineError> {
    let calls = ask(id, judge.doc_calls(prompt, entry))?.calls;
    let n = calls.len();
    Ok(Plan::Values {
        shown: calls.iter().map(|c| c.src.clone()).collect(),
        inputs: calls.into_iter().map(|c| c.args).collect(),
        atol,
        special: None,
        group_sizes: vec![("examples", n)],
    })
}

fn inputs_plan(
    judge: &mut PythonJudge,
    id: &str,
    entry: &str,
    groups: &[(&'static str, &str)],
    atol: f64,
) -> Result<Plan, EngineError> {
    // MBPP+ stores tuples as lists; the judge rebuilds the argument types per task number.
    let mbpp_task: Option<u64> = codeloop_data::mbpp_task_number(id);
    let mut inputs = Vec::new();
    let mut shown = Vec::new();
    let mut group_sizes = Vec::new();
    for (name, raw) in groups {
        let reply = ask(id, judge.inputs_to_wire(raw, mbpp_task))?;
        group_sizes.push((*name, reply.inputs.len()));
        inputs.extend(reply.inputs);
        shown.extend(reply.shown.iter().map(|s| format!("{entry}({s})")));
    }
    Ok(Plan::Values {
        inputs,
        shown,
        atol,
        special: special_oracle(id, entry),
        group_sizes,
    })
}

fn record_plan(
    judge: &mut PythonJudge,
    id: &str,
    request: &RecordRequest<'_>,
    notes: &mut Vec<PrepNote>,
) -> Result<Plan, EngineError> {
    let recorded = ask(id, judge.record(request))?;
    for failure in &recorded.failures {
        notes.push(PrepNote {
            problem: ProblemId(id.to_owned()),
            kind: NoteKind::ReferenceFails,
            message: format!(
                "the reference fails test statement {}: {}",
                failure.index, failure.error
            ),
        });
    }
    let mut reply = serde_json::to_value(recorded).map_err(|e| EngineError::Prepare {
        problem: id.to_owned(),
        message: format!("unwritable recording: {e}"),
    })?;
    reply["program"] = request.program().into();
    reply["entry_point"] = request.entry_point().into();
    Ok(Plan::Replay(reply))
}

/// MBPP asserts as statements; other lines of the text (imports) go to the prelude.
fn split_asserts(lines: &[String]) -> (String, Vec<String>) {
    let mut prelude = String::new();
    let mut stmts = Vec::new();
    for line in lines.iter().flat_map(|l| l.lines()) {
        if line.trim_start().starts_with("assert") {
            stmts.push(line.trim().to_owned());
        } else if !line.trim().is_empty() {
            prelude.push_str(line);
            prelude.push('\n');
        }
    }
    (prelude, stmts)
}

pub(super) fn draft(
    task: &RawTask,
    format: Format,
    judge: &mut PythonJudge,
    notes: &mut Vec<PrepNote>,
) -> Result<Draft, EngineError> {
    let id = task.task_id();
    let dataset = format.to_string();
    let public_problem = |prompt: String, entry: &str, prefix: String| PublicProblem {
        id: ProblemId(id.clone()),
        dataset: dataset.clone(),
        prompt,
        language: Language::Python,
        interface: Interface::Function {
            entry_point: entry.to_owned(),
        },
        public_tests: Arc::new(TestSuite::empty("")),
        completion_prefix: prefix,
    };
    match task {
        // HumanEval-X Python is HumanEval with the call of `check` written into the test: the
        // judge makes that call itself.
        RawTask::HumanEvalX(r) if r.language() == Some(Language::Python) => {
            let entry =
                entry_of(Language::Python, &r.declaration).ok_or_else(|| EngineError::Prepare {
                    problem: id.clone(),
                    message: "field `declaration` holds no function signature".to_owned(),
                })?;
            let test: Vec<&str> = r
                .test
                .lines()
                .filter(|l| !l.trim_start().starts_with("check("))
                .collect();
            let converted = codeloop_data::RawTask::HumanEval(codeloop_data::HumanEvalRecord {
                task_id: r.task_id.clone(),
                prompt: r.prompt.clone(),
                entry_point: entry,
                canonical_solution: r.canonical_solution.clone(),
                test: test.join("\n"),
            });
            draft(&converted, Format::HumanEval, judge, notes)
        }
        RawTask::Stdio(_) | RawTask::HumanEvalX(_) | RawTask::MultiplE(_) => {
            Err(EngineError::Prepare {
                problem: id,
                message: "a record of another layout in a function-call dataset".to_owned(),
            })
        }
        RawTask::HumanEval(r) => {
            let program = format!("{}{}", r.prompt, r.canonical_solution);
            Ok(Draft {
                public: public_problem(r.prompt.clone(), &r.entry_point, r.prompt.clone()),
                public_plan: doc_plan(judge, &id, &r.prompt, &r.entry_point, 0.0)?,
                hidden_plan: record_plan(
                    judge,
                    &id,
                    &RecordRequest::Check {
                        test: &r.test,
                        entry_point: &r.entry_point,
                        program: &program,
                    },
                    notes,
                )?,
                reference: Reference { program },
                entry_point: r.entry_point.clone(),
            })
        }
        RawTask::HumanEvalPlus(r) => {
            let program = format!("{}{}", r.prompt, r.canonical_solution);
            Ok(Draft {
                public: public_problem(r.prompt.clone(), &r.entry_point, r.prompt.clone()),
                public_plan: doc_plan(judge, &id, &r.prompt, &r.entry_point, r.atol)?,
                hidden_plan: inputs_plan(
                    judge,
                    &id,
                    &r.entry_point,
                    &[("base", r.base_input.get()), ("plus", r.plus_input.get())],
                    r.atol,
                )?,
                reference: Reference { program },
                entry_point: r.entry_point.clone(),
            })
        }
        RawTask::Mbpp(r) => {
            let first = r.test_list.first().cloned().unwrap_or_default();
            let entry = mbpp_entry(judge, &id, &r.code, &first)?;
            let prompt = format!("{}\nYour code should pass this test:\n{first}\n", r.text);
            let all: Vec<String> = r
                .test_list
                .iter()
                .chain(&r.challenge_test_list)
                .cloned()
                .collect();
            mbpp_draft(
                judge,
                &id,
                public_problem(prompt, &entry, String::new()),
                &r.code,
                &entry,
                &r.test_setup_code,
                &r.test_list[..1.min(r.test_list.len())],
                &all,
                notes,
            )
        }
        RawTask::MbppSanitized(r) => {
            let first = r.test_list.first().cloned().unwrap_or_default();
            let entry = mbpp_entry(judge, &id, &r.code, &first)?;
            let prompt = format!("{}\nYour code should pass this test:\n{first}\n", r.prompt);
            let setup = r.test_imports.join("\n");
            mbpp_draft(
                judge,
                &id,
                public_problem(prompt, &entry, String::new()),
                &r.code,
                &entry,
                &setup,
                &r.test_list[..1.min(r.test_list.len())],
                &r.test_list,
                notes,
            )
        }
        RawTask::MbppPlus(r) => {
            let (prelude, stmts) = split_asserts(std::slice::from_ref(&r.assertion));
            // Some MBPP+ assertions use `math.isclose` without importing math (task 120).
            let prelude = format!("import math\n{prelude}");
            let public_plan = record_plan(
                judge,
                &id,
                &RecordRequest::Asserts {
                    statements: &stmts[..1.min(stmts.len())],
                    prelude: &prelude,
                    entry_point: &r.entry_point,
                    program: &r.canonical_solution,
                },
                notes,
            )?;
            Ok(Draft {
                public: public_problem(r.prompt.clone(), &r.entry_point, String::new()),
                public_plan,
                hidden_plan: inputs_plan(
                    judge,
                    &id,
                    &r.entry_point,
                    &[("base", r.base_input.get()), ("plus", r.plus_input.get())],
                    r.atol,
                )?,
                reference: Reference {
                    program: r.canonical_solution.clone(),
                },
                entry_point: r.entry_point.clone(),
            })
        }
    }
}

fn mbpp_entry(
    judge: &mut PythonJudge,
    id: &str,
    code: &str,
    first_test: &str,
) -> Result<String, EngineError> {
    ask(id, judge.mbpp_entry(code, first_test))
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site per MBPP flavour; a struct would only rename them"
)]
fn mbpp_draft(
    judge: &mut PythonJudge,
    id: &str,
    public: PublicProblem,
    code: &str,
    entry: &str,
    setup: &str,
    public_tests: &[String],
    hidden_tests: &[String],
    notes: &mut Vec<PrepNote>,
) -> Result<Draft, EngineError> {
    let (p_prelude, p_stmts) = split_asserts(public_tests);
    let (h_prelude, h_stmts) = split_asserts(hidden_tests);
    let mut record = |prelude: String, statements: &[String]| {
        let prelude = format!("{setup}\n{prelude}");
        let request = RecordRequest::Asserts {
            statements,
            prelude: &prelude,
            entry_point: entry,
            program: code,
        };
        record_plan(judge, id, &request, notes)
    };
    Ok(Draft {
        public,
        public_plan: record(p_prelude, &p_stmts)?,
        hidden_plan: record(h_prelude, &h_stmts)?,
        reference: Reference {
            program: code.to_owned(),
        },
        entry_point: entry.to_owned(),
    })
}
