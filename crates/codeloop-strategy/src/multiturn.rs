//! The multi-turn policy (Zheng et al.): statement (+ reasoning exchange) -> code -> public tests ->
//! feedback -> code ..., as an action/observation state machine. It never calls a model or runs a
//! program itself; a driver carries out its [`Action`]s and hands back [`Observation`]s.
//!
//! The conversation is one growing message list; every request is a strict prefix extension of the
//! previous one, so servers with prefix caching reuse the earlier turns.

use std::sync::Arc;

use codeloop_types::{ExecReport, Interface, Language, Message, Outcome, PublicProblem, Role};
use serde::{Deserialize, Serialize};

use crate::debugger::{TracedTest, pick_failing_test, render_trace_feedback};
use crate::errors::StrategyError;
use crate::extract::{Extracted, extract};
use crate::feedback::{Granularity, render_feedback};
use crate::prompts::{PromptLibrary, render};
use crate::spec::StrategySpec;

/// Why a model is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A reasoning answer in words (no program expected).
    Reason,
    /// A program.
    Code,
    /// Tests of the problem written by the model (pool strategies).
    Tests,
}

/// What the strategy asks the driver to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Call the model on this conversation.
    Llm {
        /// The whole conversation so far.
        messages: Vec<Message>,
        /// Why.
        purpose: Purpose,
        /// The turn (1-based).
        turn: u32,
    },
    /// Run this program on the public tests.
    Exec {
        /// The program and how it was extracted.
        extracted: Extracted,
        /// The turn that produced it.
        turn: u32,
    },
    /// Run this program on the public tests again with the calls of public test `test` traced
    /// (F4 feedback): as the spec's `trace` says.
    Trace {
        /// The program, as run by the last `Exec`.
        extracted: Extracted,
        /// The turn that produced it.
        turn: u32,
        /// The failing public test to trace (its index in the public suite).
        test: u32,
    },
    /// Submit the program of `turn` as this trajectory's answer.
    Submit {
        /// The turn whose program is submitted.
        turn: u32,
        /// That program.
        program: Extracted,
    },
    /// Nothing more to do.
    Stop,
}

/// What the driver hands back.
#[derive(Debug, Clone, Copy)]
pub enum Observation<'a> {
    /// The trajectory begins.
    Start,
    /// The model's answer to the last `Llm` action.
    Llm(&'a str),
    /// The public-test report of the last `Exec` action.
    Exec(&'a ExecReport),
    /// The report of the last `Trace` action's run, with its traces.
    Trace(&'a ExecReport),
    /// The submission was recorded.
    Submitted,
    /// The budget refused the last `Llm` or `Exec` action: submit what there is, or stop.
    Refused,
}

/// What a part of a user message is, so exports can strip prompt families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// The system message.
    System,
    /// The problem statement.
    Task,
    /// A reasoning prompt (R1..R8).
    Reasoning,
    /// An instruction prompt (I1..I6).
    Instruction,
    /// A retry prompt of a schedule.
    Retry,
    /// Execution feedback.
    Feedback,
    /// Reflections on earlier attempts carried into a new one (Reflexion).
    Memory,
    /// The plain request for code.
    CodeRequest,
    /// The model's answer.
    Answer,
}

/// A part of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// What it is.
    pub kind: SegmentKind,
    /// Its text.
    pub text: String,
}

/// One message with its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptMessage {
    /// Who says it.
    pub role: Role,
    /// The turn it belongs to.
    pub turn: u32,
    /// For answers: why the model was called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    /// Its parts, joined by blank lines.
    pub segments: Vec<Segment>,
    /// An answer set aside and asked again (`no_repeat`: it repeated a program already tried):
    /// kept in the record, never sent again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub discarded: bool,
}

impl TranscriptMessage {
    /// The message as sent.
    #[must_use]
    pub fn message(&self) -> Message {
        Message::new(
            self.role,
            self.segments
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join("\n\n"),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    NotStarted,
    AwaitReason,
    AwaitCode,
    AwaitExec,
    AwaitTrace,
    AwaitReflection,
    AwaitSubmit,
    Done,
}

/// The multi-turn policy over one problem.
pub struct MultiTurn {
    problem: Arc<PublicProblem>,
    spec: Arc<StrategySpec>,
    library: Arc<PromptLibrary>,
    transcript: Vec<TranscriptMessage>,
    turn: u32,
    phase: Phase,
    last: Option<Extracted>,
    /// Draws the failing test F4 traces.
    seed: u64,
    /// The failed public run awaiting its trace, and the test traced.
    failed: Option<(ExecReport, u32)>,
    /// Reflexion: the model's reflections on its failed attempts, oldest first.
    reflections: Vec<String>,
    /// Where the current attempt's conversation starts in the transcript (Reflexion begins each
    /// attempt afresh; otherwise 0, one growing conversation).
    trial_start: usize,
    /// The programs tried so far (`no_repeat`).
    tried: Vec<String>,
    /// Answers set aside this turn for repeating a tried program.
    resampled: u32,
}

impl MultiTurn {
    /// A fresh trajectory.
    #[must_use]
    pub fn new(
        problem: Arc<PublicProblem>,
        spec: Arc<StrategySpec>,
        library: Arc<PromptLibrary>,
    ) -> Self {
        MultiTurn {
            problem,
            spec,
            library,
            transcript: Vec::new(),
            turn: 0,
            phase: Phase::NotStarted,
            last: None,
            seed: 0,
            failed: None,
            reflections: Vec::new(),
            trial_start: 0,
            tried: Vec::new(),
            resampled: 0,
        }
    }

    /// The same policy drawing its random choices (F4's failing test) from `seed`.
    #[must_use]
    pub fn seeded(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The conversation so far, with its parts.
    #[must_use]
    pub fn transcript(&self) -> &[TranscriptMessage] {
        &self.transcript
    }

    fn entry_point(&self) -> &str {
        match &self.problem.interface {
            Interface::Function { entry_point } => entry_point,
            Interface::Stdio => "",
        }
    }

    fn language(&self) -> String {
        self.problem.language.to_string()
    }

    fn text(
        &self,
        family: &str,
        key: &str,
        extra: &[(&str, &str)],
    ) -> Result<String, StrategyError> {
        let language = self.language();
        let mut vars = vec![
            ("language", language.as_str()),
            ("entry_point", self.entry_point()),
        ];
        vars.extend_from_slice(extra);
        Ok(render(self.library.get(family, key)?, &vars))
    }

    /// The current attempt's conversation: the system message and what follows `trial_start`.
    fn messages(&self) -> Vec<Message> {
        let system = self
            .transcript
            .iter()
            .take_while(|m| m.role == Role::System)
            .count();
        let start = self.trial_start.max(system);
        self.transcript[..system]
            .iter()
            .chain(&self.transcript[start..])
            .filter(|m| !m.discarded)
            .map(TranscriptMessage::message)
            .collect()
    }

    fn push(&mut self, role: Role, purpose: Option<Purpose>, segments: Vec<Segment>) {
        self.transcript.push(TranscriptMessage {
            role,
            turn: self.turn,
            purpose,
            segments,
            discarded: false,
        });
    }

    fn code_request_segments(&self) -> Result<Vec<Segment>, StrategyError> {
        let mut out = Vec::new();
        let instruction = &self.spec.turn(self.turn).instruction;
        let text = self.text("instruction", instruction, &[])?;
        if !text.trim().is_empty() {
            out.push(Segment {
                kind: SegmentKind::Instruction,
                text,
            });
        }
        let key = if self.turn == 1 { "default" } else { "fix" };
        out.push(Segment {
            kind: SegmentKind::CodeRequest,
            text: self.text("code_request", key, &[])?,
        });
        Ok(out)
    }

    fn llm(&self, purpose: Purpose) -> Action {
        Action::Llm {
            messages: self.messages(),
            purpose,
            turn: self.turn,
        }
    }

    /// Opens turn `self.turn` with its user message; `lead` is the statement or the feedback (and
    /// a new Reflexion attempt's reflections).
    fn open_turn(&mut self, lead: Vec<Segment>) -> Result<Action, StrategyError> {
        let turn = self.spec.turn(self.turn).clone();
        let mut segments = lead;
        if let Some(r) = &turn.retry {
            segments.push(Segment {
                kind: SegmentKind::Retry,
                text: self.text("retry", r, &[])?,
            });
        }
        if let Some(r) = &turn.reasoning {
            segments.push(Segment {
                kind: SegmentKind::Reasoning,
                text: self.text("reasoning", r, &[])?,
            });
            self.push(Role::User, None, segments);
            self.phase = Phase::AwaitReason;
            return Ok(self.llm(Purpose::Reason));
        }
        segments.extend(self.code_request_segments()?);
        self.push(Role::User, None, segments);
        self.phase = Phase::AwaitCode;
        Ok(self.llm(Purpose::Code))
    }

    fn submit(&mut self) -> Action {
        self.phase = Phase::AwaitSubmit;
        Action::Submit {
            turn: self.turn,
            program: self
                .last
                .clone()
                .expect("a program exists before a submission"),
        }
    }

    /// After the feedback on a failed attempt: the next turn in the same conversation or, with
    /// Reflexion (`reflections` > 0), a request for a reflection on this attempt first.
    fn after_feedback(&mut self, lead: String) -> Result<Action, StrategyError> {
        let lead = Segment {
            kind: SegmentKind::Feedback,
            text: lead,
        };
        if self.spec.reflections > 0 {
            let request = Segment {
                kind: SegmentKind::Reasoning,
                text: self.text("reasoning", "reflect", &[])?,
            };
            self.push(Role::User, None, vec![lead, request]);
            self.phase = Phase::AwaitReflection;
            return Ok(self.llm(Purpose::Reason));
        }
        self.turn += 1;
        self.open_turn(vec![lead])
    }

    /// A new Reflexion attempt: a fresh conversation with the statement and the last
    /// `reflections` reflections.
    fn open_trial(&mut self) -> Result<Action, StrategyError> {
        self.trial_start = self.transcript.len();
        let keep = self.spec.reflections as usize;
        let recent = &self.reflections[self.reflections.len().saturating_sub(keep)..];
        let listed = recent
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{}. {r}", i + 1))
            .collect::<Vec<_>>()
            .join("\n\n");
        let memory = render(
            self.library.get("feedback", "memory")?,
            &[("reflections", listed.as_str())],
        );
        let task = statement(&self.library, &self.problem)?;
        self.open_turn(vec![
            Segment {
                kind: SegmentKind::Task,
                text: task,
            },
            Segment {
                kind: SegmentKind::Memory,
                text: memory,
            },
        ])
    }

    /// The next action, given what the last one observed.
    pub fn next(&mut self, observation: Observation<'_>) -> Result<Action, StrategyError> {
        let protocol = |phase: Phase| {
            StrategyError::Protocol(format!("unexpected observation in phase {phase:?}"))
        };
        match (self.phase, observation) {
            (Phase::NotStarted, Observation::Start) => {
                self.turn = 1;
                let system = self.text("system", "default", &[])?;
                if !system.trim().is_empty() {
                    self.push(
                        Role::System,
                        None,
                        vec![Segment {
                            kind: SegmentKind::System,
                            text: system,
                        }],
                    );
                }
                let task = statement(&self.library, &self.problem)?;
                self.open_turn(vec![Segment {
                    kind: SegmentKind::Task,
                    text: task,
                }])
            }
            (Phase::AwaitReason, Observation::Llm(text)) => {
                self.push(Role::Assistant, Some(Purpose::Reason), answer(text));
                let segments = self.code_request_segments()?;
                self.push(Role::User, None, segments);
                self.phase = Phase::AwaitCode;
                Ok(self.llm(Purpose::Code))
            }
            (Phase::AwaitCode, Observation::Llm(text)) => {
                self.push(Role::Assistant, Some(Purpose::Code), answer(text));
                let entry = match &self.problem.interface {
                    Interface::Function { entry_point } => Some(entry_point.as_str()),
                    Interface::Stdio => None,
                };
                let extracted = extract(
                    text,
                    &self.language(),
                    entry,
                    &self.problem.completion_prefix,
                );
                if self.tried.contains(&extracted.program) && self.resampled < self.spec.no_repeat {
                    // A program already tried: set the answer aside and ask again.
                    self.resampled += 1;
                    if let Some(last) = self.transcript.last_mut() {
                        last.discarded = true;
                    }
                    return Ok(self.llm(Purpose::Code));
                }
                self.resampled = 0;
                self.tried.push(extracted.program.clone());
                self.last = Some(extracted.clone());
                if self.problem.public_tests.is_empty() {
                    // Nothing to learn from: the first program is the answer.
                    return Ok(self.submit());
                }
                self.phase = Phase::AwaitExec;
                Ok(Action::Exec {
                    extracted,
                    turn: self.turn,
                })
            }
            (Phase::AwaitExec, Observation::Exec(report)) => {
                let passed = report.outcome == Outcome::Passed;
                if (passed && self.spec.stop_on_public_pass) || self.turn >= self.spec.max_turns {
                    return Ok(self.submit());
                }
                // Only Python programs can be traced; other languages get F4 as F2.
                if !passed
                    && self.spec.feedback == Granularity::Trace
                    && self.problem.language == Language::Python
                {
                    let seed = self.seed ^ u64::from(self.turn);
                    if let Some(test) = pick_failing_test(&self.problem.public_tests, report, seed)
                    {
                        self.failed = Some((report.clone(), test));
                        self.phase = Phase::AwaitTrace;
                        return Ok(Action::Trace {
                            extracted: self.last.clone().expect("a program was run"),
                            turn: self.turn,
                            test,
                        });
                    }
                }
                let lead = if passed {
                    "Your code passed the public tests. Improve it if you can.".to_owned()
                } else {
                    let language = self.language();
                    render_feedback(
                        &self.library,
                        self.spec.feedback,
                        &self.problem.public_tests,
                        report,
                        self.entry_point(),
                        &language,
                    )
                };
                self.after_feedback(lead)
            }
            (Phase::AwaitTrace, Observation::Trace(traced)) => {
                let (report, test) = self.failed.take().expect("a failed run awaits its trace");
                let language = self.language();
                let program = self.last.as_ref().map_or("", |e| e.program.as_str());
                let lead = render_trace_feedback(
                    &self.library,
                    &self.problem.public_tests,
                    &report,
                    TracedTest {
                        test,
                        traced,
                        program,
                    },
                    self.entry_point(),
                    &language,
                );
                self.after_feedback(lead)
            }
            (Phase::AwaitReflection, Observation::Llm(text)) => {
                self.push(Role::Assistant, Some(Purpose::Reason), answer(text));
                self.reflections.push(text.trim().to_owned());
                self.turn += 1;
                self.open_trial()
            }
            // Cut short by the budget, the driver keeps the last program as the answer.
            (Phase::AwaitSubmit, Observation::Submitted) | (_, Observation::Refused) => {
                self.phase = Phase::Done;
                Ok(Action::Stop)
            }
            (Phase::Done, _) => Ok(Action::Stop),
            (phase, _) => Err(protocol(phase)),
        }
    }
}

/// The problem statement as the `task` family renders it for `problem`.
pub(crate) fn statement(
    library: &PromptLibrary,
    problem: &PublicProblem,
) -> Result<String, StrategyError> {
    let key = match (&problem.interface, problem.completion_prefix.is_empty()) {
        (Interface::Stdio, _) => "stdio",
        (Interface::Function { .. }, true) => "description",
        (Interface::Function { .. }, false) => "code_stub",
    };
    let language = problem.language.to_string();
    let entry_point = match &problem.interface {
        Interface::Function { entry_point } => entry_point.as_str(),
        Interface::Stdio => "",
    };
    let prompt = problem.prompt.trim_end();
    Ok(render(
        library.get("task", key)?,
        &[
            ("language", language.as_str()),
            ("entry_point", entry_point),
            ("prompt", prompt),
        ],
    ))
}

fn answer(text: &str) -> Vec<Segment> {
    vec![Segment {
        kind: SegmentKind::Answer,
        text: text.to_owned(),
    }]
}

#[cfg(test)]
mod tests {
    use codeloop_types::{Expect, Language, TestCase, TestId, TestSuite};

    use super::*;

    fn problem() -> Arc<PublicProblem> {
        Arc::new(PublicProblem {
            id: codeloop_types::ProblemId("T/0".into()),
            dataset: "t".into(),
            prompt: "def inc(x):\n    \"\"\"Add one.\"\"\"\n".into(),
            language: Language::Python,
            interface: Interface::Function {
                entry_point: "inc".into(),
            },
            public_tests: Arc::new(TestSuite {
                tests: vec![TestCase {
                    id: TestId(0),
                    calls: (0, 1),
                    input: "inc(1)".into(),
                    expected: Some("2".into()),
                    expect: Expect::Replay,
                }],
                ..TestSuite::empty("k")
            }),
            completion_prefix: "def inc(x):\n    \"\"\"Add one.\"\"\"\n".into(),
        })
    }

    fn failed() -> ExecReport {
        let mut r: ExecReport =
            serde_json::from_str(include_str!("../tests/failed_report.json")).unwrap();
        r.outcome = Outcome::Failed;
        r
    }

    #[test]
    fn cot_retry_runs_three_turns_as_prefix_extensions() {
        let lib = Arc::new(PromptLibrary::builtin());
        let spec = Arc::new(StrategySpec::resolve("cot-retry", &lib).unwrap());
        let mut s = MultiTurn::new(problem(), spec, lib);
        let mut previous: Vec<Message> = Vec::new();
        let mut action = s.next(Observation::Start).unwrap();
        let report = failed();
        let mut turns = 0;
        loop {
            action = match action {
                Action::Llm {
                    messages,
                    purpose,
                    turn,
                } => {
                    assert_eq!(purpose, Purpose::Code);
                    assert!(messages.starts_with(&previous), "strict prefix extension");
                    previous = messages;
                    previous.push(Message::new(
                        Role::Assistant,
                        "```python\ndef inc(x):\n    return x\n```",
                    ));
                    assert_eq!(turn, turns + 1);
                    s.next(Observation::Llm(
                        "```python\ndef inc(x):\n    return x\n```",
                    ))
                    .unwrap()
                }
                Action::Exec { extracted, turn } => {
                    turns = turn;
                    assert!(extracted.program.contains("return x"));
                    s.next(Observation::Exec(&report)).unwrap()
                }
                Action::Submit { turn, .. } => {
                    assert_eq!(turn, 3);
                    s.next(Observation::Submitted).unwrap()
                }
                Action::Trace { .. } => panic!("cot-retry's F2 traces nothing"),
                Action::Stop => break,
            };
        }
        let t = s.transcript();
        let user2 = t.iter().filter(|m| m.role == Role::User).nth(1).unwrap();
        assert_eq!(user2.segments[0].kind, SegmentKind::Feedback);
        assert!(user2.segments[1].text.contains("guidelines"));
        let user3 = t.iter().filter(|m| m.role == Role::User).nth(2).unwrap();
        assert!(user3.segments[1].text.contains("naive"));
    }

    #[test]
    fn reasoning_turn_comes_before_code_and_a_pass_stops_early() {
        let lib = Arc::new(PromptLibrary::builtin());
        let spec = Arc::new(StrategySpec::resolve("R1-I3-F1", &lib).unwrap());
        let mut s = MultiTurn::new(problem(), spec, lib);
        let a = s.next(Observation::Start).unwrap();
        assert!(matches!(
            a,
            Action::Llm {
                purpose: Purpose::Reason,
                ..
            }
        ));
        let a = s.next(Observation::Llm("It adds one.")).unwrap();
        let Action::Llm {
            messages,
            purpose: Purpose::Code,
            ..
        } = a
        else {
            panic!("{a:?}")
        };
        assert!(
            messages
                .last()
                .unwrap()
                .content
                .contains("comment before every line")
        );
        let Action::Exec { .. } = s
            .next(Observation::Llm("def inc(x): return x + 1"))
            .unwrap()
        else {
            panic!()
        };
        let mut ok = failed();
        ok.outcome = Outcome::Passed;
        let Action::Submit { turn: 1, program } = s.next(Observation::Exec(&ok)).unwrap() else {
            panic!()
        };
        assert!(program.program.contains("return x + 1"));
        assert_eq!(s.next(Observation::Submitted).unwrap(), Action::Stop);
        assert!(s.next(Observation::Start).unwrap() == Action::Stop);
    }

    /// A public run whose one test failed with a wrong answer.
    fn wrong_answer() -> ExecReport {
        let mut r = failed();
        r.tests = vec![codeloop_types::TestResult {
            id: TestId(0),
            verdict: codeloop_types::Verdict::WrongAnswer {
                input: "inc(1)".into(),
                expected: Some("2".into()),
                got: Some("1".into()),
                detail: None,
            },
            cpu_ms: 0.0,
        }];
        r
    }

    /// The kind of the last segment of the last user message of an `Llm` action, and the action.
    fn last_ask(a: &Action) -> (Purpose, String) {
        let Action::Llm {
            messages, purpose, ..
        } = a
        else {
            panic!("{a:?}")
        };
        (*purpose, messages.last().unwrap().content.clone())
    }

    #[test]
    fn ldb_traces_a_failing_test_then_asks_for_verdicts_then_for_a_fix() {
        let lib = Arc::new(PromptLibrary::builtin());
        let spec = Arc::new(StrategySpec::resolve("ldb", &lib).unwrap());
        assert_eq!((spec.max_turns, spec.feedback), (11, Granularity::Trace));
        let mut s = MultiTurn::new(problem(), spec, lib).seeded(7);
        let a = s.next(Observation::Start).unwrap();
        assert_eq!(last_ask(&a).0, Purpose::Code);
        let wrong = "```python\ndef inc(x):\n    return x\n```";
        let Action::Exec { .. } = s.next(Observation::Llm(wrong)).unwrap() else {
            panic!()
        };
        let a = s.next(Observation::Exec(&wrong_answer())).unwrap();
        let Action::Trace {
            extracted,
            turn: 1,
            test: 0,
        } = a
        else {
            panic!("{a:?}")
        };
        let line = 1 + extracted
            .program
            .lines()
            .position(|l| l.contains("return x"))
            .unwrap() as u32;
        let mut traced = wrong_answer();
        traced.traces = vec![codeloop_types::Trace {
            call: 0,
            level: codeloop_types::TraceLevel::Block,
            steps: vec![codeloop_types::TraceStep {
                index: 1,
                function: "inc".into(),
                block: Some(2),
                lines: vec![line],
                vars: vec![("x".into(), "1".into())],
                returned: Some("1".into()),
                raised: None,
            }],
            total: 1,
            end: codeloop_types::TraceEnd::Returned,
        }];
        let a = s.next(Observation::Trace(&traced)).unwrap();
        let (purpose, ask) = last_ask(&a);
        assert_eq!(purpose, Purpose::Reason);
        assert!(
            ask.contains("[block 1] in inc\n    return x\n  variables: x = 1\n  returned: 1"),
            "{ask}"
        );
        assert!(
            ask.contains("correct or wrong") && ask.contains("Do not write code yet"),
            "{ask}"
        );
        let a = s
            .next(Observation::Llm("[block 1] wrong: it forgets to add one"))
            .unwrap();
        let (purpose, ask) = last_ask(&a);
        assert_eq!(purpose, Purpose::Code);
        assert!(ask.starts_with("Fix the code."), "{ask}");
        let t = s.transcript();
        let feedback = t.iter().filter(|m| m.role == Role::User).nth(1).unwrap();
        assert_eq!(
            feedback.segments.iter().map(|g| g.kind).collect::<Vec<_>>(),
            [SegmentKind::Feedback, SegmentKind::Reasoning]
        );
    }

    /// `strategy` after its first attempt (the program `return x`) failed its public test: the
    /// policy and the action it takes next.
    fn after_a_failed_first_attempt(strategy: &str) -> (MultiTurn, Action) {
        let lib = Arc::new(PromptLibrary::builtin());
        let spec = Arc::new(StrategySpec::resolve(strategy, &lib).unwrap());
        let mut s = MultiTurn::new(problem(), spec, lib);
        s.next(Observation::Start).unwrap();
        s.next(Observation::Llm(
            "```python\ndef inc(x):\n    return x\n```",
        ))
        .unwrap();
        let a = s.next(Observation::Exec(&wrong_answer())).unwrap();
        (s, a)
    }

    #[test]
    fn self_debugging_explains_the_code_before_the_fix() {
        let (mut s, a) = after_a_failed_first_attempt("self-debug");
        let (purpose, ask) = last_ask(&a);
        assert_eq!(purpose, Purpose::Reason);
        assert!(ask.contains("Input: inc(1)\nExpected: 2\nGot: 1"), "{ask}");
        assert!(ask.contains("Explain your code line by line"), "{ask}");
        let a = s
            .next(Observation::Llm("Line 2 returns x unchanged."))
            .unwrap();
        let (purpose, ask) = last_ask(&a);
        assert_eq!(purpose, Purpose::Code);
        assert!(ask.starts_with("Fix the code."), "{ask}");
        // The simple mode says only that the code failed, and asks for the fix at once.
        let (_, a) = after_a_failed_first_attempt("self-debug-simple");
        let (purpose, ask) = last_ask(&a);
        assert_eq!(purpose, Purpose::Code);
        assert!(
            ask.starts_with("Your code failed the public tests.") && !ask.contains("inc(1)"),
            "{ask}"
        );
    }

    #[test]
    fn reflexion_starts_each_attempt_afresh_with_the_last_reflections() {
        let lib = Arc::new(PromptLibrary::builtin());
        let spec = Arc::new(StrategySpec::resolve("reflexion", &lib).unwrap());
        assert_eq!((spec.max_turns, spec.reflections), (6, 3));
        let mut s = MultiTurn::new(problem(), spec, lib);
        let mut a = s.next(Observation::Start).unwrap();
        let wrong = "```python\ndef inc(x):\n    return x\n```";
        for attempt in 1..=6u32 {
            let Action::Llm {
                messages, purpose, ..
            } = &a
            else {
                panic!("{a:?}")
            };
            assert_eq!(*purpose, Purpose::Code);
            // A fresh conversation: the system message and one user message.
            let roles: Vec<Role> = messages.iter().map(|m| m.role).collect();
            assert_eq!(roles, [Role::System, Role::User], "attempt {attempt}");
            let ask = &messages[1].content;
            assert!(ask.contains("Add one."), "{ask}");
            // The last 3 reflections, numbered, oldest first.
            for r in 1..attempt {
                let shown = format!("reflection {r}: off by one");
                assert_eq!(
                    ask.contains(&shown),
                    r + 3 >= attempt,
                    "attempt {attempt}: {ask}"
                );
            }
            let Action::Exec { .. } = s.next(Observation::Llm(wrong)).unwrap() else {
                panic!()
            };
            a = s.next(Observation::Exec(&wrong_answer())).unwrap();
            if attempt == 6 {
                assert!(matches!(a, Action::Submit { turn: 6, .. }), "{a:?}");
                break;
            }
            // The reflection is asked for in the failed attempt's own conversation.
            let (purpose, ask) = last_ask(&a);
            assert_eq!(purpose, Purpose::Reason);
            assert!(
                ask.contains("Got: 1") && ask.contains("Reflect on your attempt"),
                "{ask}"
            );
            let Action::Llm { messages, .. } = &a else {
                panic!()
            };
            assert_eq!(messages.len(), 4);
            a = s
                .next(Observation::Llm(&format!(
                    "reflection {attempt}: off by one"
                )))
                .unwrap();
        }
        // The transcript keeps every attempt.
        let kinds: Vec<SegmentKind> = s
            .transcript()
            .iter()
            .flat_map(|m| m.segments.iter().map(|g| g.kind))
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == SegmentKind::Memory).count(),
            5
        );
    }

    #[test]
    fn no_repeat_asks_again_when_a_program_repeats_at_most_n_times_a_turn() {
        let lib = Arc::new(PromptLibrary::builtin());
        let mut spec = StrategySpec::resolve("multi-turn", &lib).unwrap();
        spec.no_repeat = 2;
        let mut s = MultiTurn::new(problem(), Arc::new(spec), lib);
        let same = "```python\ndef inc(x):\n    return x\n```";
        s.next(Observation::Start).unwrap();
        let Action::Exec { .. } = s.next(Observation::Llm(same)).unwrap() else {
            panic!()
        };
        let asked = s.next(Observation::Exec(&wrong_answer())).unwrap();
        // Turn 2 repeats turn 1's program: asked again with the same conversation, twice.
        let again = s.next(Observation::Llm(same)).unwrap();
        assert_eq!(again, asked);
        let again = s.next(Observation::Llm(same)).unwrap();
        assert_eq!(again, asked);
        // The third repeat is kept: the budget of 2 is spent.
        let Action::Exec { turn: 2, .. } = s.next(Observation::Llm(same)).unwrap() else {
            panic!()
        };
        let discarded = s.transcript().iter().filter(|m| m.discarded).count();
        assert_eq!(discarded, 2);
        // A new program at turn 3 goes through at once.
        s.next(Observation::Exec(&wrong_answer())).unwrap();
        let other = "```python\ndef inc(x):\n    return x + 1\n```";
        let Action::Exec { turn: 3, .. } = s.next(Observation::Llm(other)).unwrap() else {
            panic!()
        };
    }
}
