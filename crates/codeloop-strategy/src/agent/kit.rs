//! What every agent does: ask the model with a prompt of the `agent` family, extract and run a
//! program, read a structured answer (noting the fallback), and describe a failed run.

use std::sync::{Arc, Mutex};

use codeloop_types::{ExecReport, Interface, Message, Outcome, PublicProblem, Role, Verdict};

use super::bridge::{Io, Notes, Observed};
use crate::errors::StrategyError;
use crate::extract::{Extracted, extract};
use crate::feedback::{Granularity, render_feedback};
use crate::multiturn::{Action, Purpose, Segment, SegmentKind, TranscriptMessage, statement};
use crate::parse::Read;
use crate::prompts::{PromptLibrary, render};

/// Why an agent stopped early.
#[derive(Debug)]
pub(crate) enum Halt {
    /// The budget refused a call or a program: the agent's pick of what it has is submitted.
    Cut,
    /// A prompt is missing from the library (checked when the strategy resolves, so a bug).
    Error(StrategyError),
}

impl From<StrategyError> for Halt {
    fn from(e: StrategyError) -> Self {
        Halt::Error(e)
    }
}

/// One program an agent wrote, and how it did on the public tests.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    /// The turn (1-based count of programs) it belongs to.
    pub(crate) turn: u32,
    /// The model's whole answer.
    pub(crate) answer: String,
    /// The program.
    pub(crate) extracted: Extracted,
    /// Its public run (`None`: the problem has no public tests).
    pub(crate) report: Option<ExecReport>,
    /// The share of public tests passed (1 with no public tests: nothing contradicts it).
    pub(crate) score: f64,
}

impl Attempt {
    /// Whether every public test passed.
    pub(crate) fn passed(&self) -> bool {
        self.report
            .as_ref()
            .is_none_or(|r| r.outcome == Outcome::Passed)
    }

    /// What went wrong, as one string (`PairCoder` compares them): every failing test's verdict.
    pub(crate) fn errors(&self) -> String {
        let Some(report) = &self.report else {
            return String::new();
        };
        report
            .tests
            .iter()
            .filter(|t| t.verdict != Verdict::Pass)
            .map(|t| format!("{:?}", t.verdict))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// An agent's tools and what it has done so far.
pub(crate) struct Kit {
    io: Io,
    problem: Arc<PublicProblem>,
    library: Arc<PromptLibrary>,
    notes: Arc<Mutex<Notes>>,
    /// Every program so far, in order.
    pub(crate) attempts: Vec<Attempt>,
    /// Draws the agent's random choices.
    pub(crate) seed: u64,
    system: String,
    statement: String,
}

impl Kit {
    pub(crate) fn new(
        io: Io,
        problem: Arc<PublicProblem>,
        library: Arc<PromptLibrary>,
        notes: Arc<Mutex<Notes>>,
        seed: u64,
    ) -> Result<Self, StrategyError> {
        let language = problem.language.to_string();
        let system = render(
            library.get("system", "default")?,
            &[("language", &language)],
        );
        let statement = statement(&library, &problem)?;
        if !system.trim().is_empty() {
            notes
                .lock()
                .expect("notes lock")
                .transcript
                .push(TranscriptMessage {
                    role: Role::System,
                    turn: 1,
                    purpose: None,
                    segments: vec![Segment {
                        kind: SegmentKind::System,
                        text: system.clone(),
                    }],
                    discarded: false,
                });
        }
        Ok(Kit {
            io,
            problem,
            library,
            notes,
            attempts: Vec::new(),
            seed,
            system,
            statement,
        })
    }

    /// The turn of the next program.
    pub(crate) fn turn(&self) -> u32 {
        self.attempts.len() as u32 + 1
    }

    /// Programs written so far.
    pub(crate) fn programs(&self) -> usize {
        self.attempts.len()
    }

    fn entry_point(&self) -> &str {
        match &self.problem.interface {
            Interface::Function { entry_point } => entry_point,
            Interface::Stdio => "",
        }
    }

    /// From attempt `at`, up to `rounds` fixes with prompt `agent.<key>` (the plan, the code and
    /// its failures), stopping at a pass; returns the last attempt (`MapCoder`'s and `CODESIM`'s
    /// debugging agents). `revise` may read a new plan from each fix's answer.
    pub(crate) async fn debug(
        &mut self,
        key: &str,
        mut at: usize,
        plan: &mut String,
        rounds: u32,
        revise: fn(&str) -> Option<String>,
    ) -> Result<usize, Halt> {
        for _ in 0..rounds {
            if self.attempts[at].passed() {
                break;
            }
            let (code, feedback) = (self.code_of(at).to_owned(), self.feedback(at));
            at = self
                .code(
                    key,
                    &[
                        ("plan", plan.as_str()),
                        ("code", &code),
                        ("feedback", &feedback),
                    ],
                )
                .await?;
            if let Some(revised) = revise(&self.attempts[at].answer) {
                *plan = revised;
            }
        }
        Ok(at)
    }

    /// Prompt `agent.<key>` as written (a list the agent reads, not a request).
    pub(crate) fn prompt(&self, key: &str) -> Result<String, Halt> {
        Ok(self.library.get("agent", key)?.to_owned())
    }

    /// Asks the model prompt `agent.<key>` (after the statement), filled with `vars`.
    pub(crate) async fn ask(
        &mut self,
        purpose: Purpose,
        key: &str,
        vars: &[(&str, &str)],
    ) -> Result<String, Halt> {
        let language = self.problem.language.to_string();
        let mut all = vec![
            ("language", language.as_str()),
            ("entry_point", self.entry_point()),
        ];
        all.extend_from_slice(vars);
        let request = render(self.library.get("agent", key)?, &all);
        let segments = vec![
            Segment {
                kind: SegmentKind::Task,
                text: self.statement.clone(),
            },
            Segment {
                kind: SegmentKind::Instruction,
                text: request,
            },
        ];
        let user = TranscriptMessage {
            role: Role::User,
            turn: self.turn(),
            purpose: None,
            segments,
            discarded: false,
        };
        let mut messages = Vec::with_capacity(2);
        if !self.system.trim().is_empty() {
            messages.push(Message::new(Role::System, self.system.clone()));
        }
        messages.push(user.message());
        self.notes.lock().expect("notes lock").transcript.push(user);
        let action = Action::Llm {
            messages,
            purpose,
            turn: self.turn(),
        };
        let Observed::Llm(text) = self.io.act(action).await else {
            return Err(Halt::Cut);
        };
        self.notes
            .lock()
            .expect("notes lock")
            .transcript
            .push(TranscriptMessage {
                role: Role::Assistant,
                turn: self.turn(),
                purpose: Some(purpose),
                segments: vec![Segment {
                    kind: SegmentKind::Answer,
                    text: text.clone(),
                }],
                discarded: false,
            });
        Ok(text)
    }

    /// Asks for a program with prompt `agent.<key>`, extracts it and runs it on the public tests;
    /// returns its index in [`Kit::attempts`].
    pub(crate) async fn code(&mut self, key: &str, vars: &[(&str, &str)]) -> Result<usize, Halt> {
        let answer = self.ask(Purpose::Code, key, vars).await?;
        let entry = match &self.problem.interface {
            Interface::Function { entry_point } => Some(entry_point.as_str()),
            Interface::Stdio => None,
        };
        let language = self.problem.language.to_string();
        let extracted = extract(&answer, &language, entry, &self.problem.completion_prefix);
        let turn = self.turn();
        let report = if self.problem.public_tests.is_empty() {
            None
        } else {
            let action = Action::Exec {
                extracted: extracted.clone(),
                turn,
            };
            match self.io.act(action).await {
                Observed::Exec(report) => Some(*report),
                Observed::Refused | Observed::Llm(_) => return Err(Halt::Cut),
            }
        };
        let score = report.as_ref().map_or(1.0, |r| {
            let passed = r
                .tests
                .iter()
                .filter(|t| t.verdict == Verdict::Pass)
                .count();
            passed as f64 / r.tests.len().max(1) as f64
        });
        self.attempts.push(Attempt {
            turn,
            answer,
            extracted,
            report,
            score,
        });
        Ok(self.attempts.len() - 1)
    }

    /// The value read, noting the failure when it is the fallback.
    pub(crate) fn read<T>(&mut self, read: Read<T>) -> T {
        if let Some(failure) = read.failure {
            self.notes
                .lock()
                .expect("notes lock")
                .failures
                .push(failure);
        }
        read.value
    }

    /// Attempt `i`'s program (as written, without the problem's prefix).
    pub(crate) fn code_of(&self, i: usize) -> &str {
        &self.attempts[i].extracted.code
    }

    /// Every failing public test of attempt `i`, as F2-all renders them.
    pub(crate) fn feedback(&self, i: usize) -> String {
        let Some(report) = &self.attempts[i].report else {
            return String::new();
        };
        let language = self.problem.language.to_string();
        render_feedback(
            &self.library,
            Granularity::AllFailures,
            &self.problem.public_tests,
            report,
            self.entry_point(),
            &language,
        )
    }

    /// The first attempt that passed, if any.
    pub(crate) fn first_pass(&self) -> Option<usize> {
        self.attempts.iter().position(Attempt::passed)
    }

    /// The last attempt, if any.
    pub(crate) fn last(&self) -> Option<usize> {
        self.attempts.len().checked_sub(1)
    }

    /// How far attempt `i`'s outputs are from the expected ones, summed over the public tests
    /// (`PairCoder`'s `d_tot`, `src/gen/driver/test_code_on_cases.py` l.113-135 of
    /// `nju-websoft/PairCoder` @ ac7ce88): 0 for a passing test; for a wrong value, the absolute
    /// difference when both are numbers, else the count of lines that differ; infinite for a test
    /// that gave no value (an error, a timeout).
    pub(crate) fn distance(&self, i: usize) -> f64 {
        let Some(report) = &self.attempts[i].report else {
            return 0.0;
        };
        report
            .tests
            .iter()
            .map(|t| match &t.verdict {
                Verdict::Pass => 0.0,
                Verdict::WrongAnswer {
                    expected: Some(expected),
                    got: Some(got),
                    ..
                } => output_distance(expected, got),
                _ => f64::INFINITY,
            })
            .sum()
    }
}

/// Absolute difference of two numbers, else the count of lines that differ.
fn output_distance(expected: &str, got: &str) -> f64 {
    if let (Ok(want), Ok(have)) = (expected.trim().parse::<f64>(), got.trim().parse::<f64>()) {
        return (want - have).abs();
    }
    let (want, have): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), got.lines().collect());
    let differ = want
        .iter()
        .zip(&have)
        .filter(|(w, h)| w.trim() != h.trim())
        .count();
    (differ + want.len().abs_diff(have.len())) as f64
}
