//! Problem-level strategies: a policy over one problem's *pool* of programs, where
//! [`MultiTurn`](crate::MultiTurn) is a policy over one trajectory.
//!
//! A pool policy is an action/observation state machine like `MultiTurn`, one level up. Its
//! actions:
//! - [`PoolAction::Sample`]: run `count` trajectories of the run's turn schedule (each a
//!   `MultiTurn`, with its own public runs); their answers are the pool's programs, in trajectory
//!   order;
//! - [`PoolAction::Generate`]: call the model for something other than a program, here tests
//!   ([`Purpose::Tests`]): `answers` calls on the same messages, each answer parsed by the driver
//!   (at most `keep` tests kept of each, `CodeT`'s limit), the union deduplicated and cut at the
//!   spec's `tests`;
//! - [`PoolAction::Execute`]: run every program of the pool on a suite, all of its tests in one
//!   sandbox run per program, recording which tests pass and the value each call returned;
//! - [`PoolAction::Submit`]: the pool's programs ranked for submission, best first;
//! - [`PoolAction::Stop`].
//!
//! The driver carries the actions out, charges the ledger and journals every observation, so a
//! pool stage replays exactly like a trajectory. [`SelectorPolicy`] is the pool strategy of
//! `AlphaCode`, `CodeT`, B4 and MBR-exec: sample, write tests when the selector needs them, run the
//! pool on them, rank.

use std::sync::Arc;

use codeloop_types::{Interface, Message, PublicProblem, Role};
use serde::{Deserialize, Serialize};

use crate::errors::StrategyError;
use crate::multiturn::{Purpose, statement};
use crate::prompts::{PromptLibrary, render};
use crate::select::{Pool, Selector, rank};

/// What a pool strategy is: a selector over `samples` programs, with `tests` model-written tests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// How the pool is ranked.
    pub selector: Selector,
    /// Programs per problem (N): trajectories of the turn schedule, one answer each.
    pub samples: u32,
    /// Model-written tests per problem (M), after deduplication (selectors that need them).
    pub tests: u32,
    /// Tests asked for (and kept) per answer; `CodeT` keeps the first 5 asserts of each.
    pub tests_per_answer: u32,
}

impl PoolSpec {
    /// A spec with `CodeT`'s 5 tests per answer.
    #[must_use]
    pub fn new(selector: Selector, samples: u32, tests: u32) -> Self {
        PoolSpec {
            selector,
            samples,
            tests,
            tests_per_answer: 5,
        }
    }

    /// Model calls the tests take: enough answers for `tests` at `tests_per_answer` each.
    #[must_use]
    pub fn test_answers(&self) -> u32 {
        if !self.selector.needs_tests() || self.tests == 0 {
            return 0;
        }
        self.tests.div_ceil(self.tests_per_answer.max(1))
    }
}

/// Which suite a [`PoolAction::Execute`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolSuite {
    /// The tests the model wrote (never mixed with the problem's own).
    Generated,
}

/// What a pool strategy asks the driver to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolAction {
    /// Run this many trajectories; their answers are the pool.
    Sample {
        /// Trajectories.
        count: u32,
    },
    /// Call the model `answers` times on `messages`.
    Generate {
        /// The conversation.
        messages: Vec<Message>,
        /// Calls (each with its own seed).
        answers: u32,
        /// Why.
        purpose: Purpose,
        /// Most items kept of each answer.
        keep: u32,
        /// Most items kept in all, after deduplication.
        limit: u32,
    },
    /// Run every program of the pool on a suite.
    Execute {
        /// Which.
        suite: PoolSuite,
    },
    /// Submit the pool's programs in this order, best first (indices into the pool).
    Submit {
        /// The ranking.
        ranking: Vec<usize>,
    },
    /// Nothing more to do.
    Stop,
}

/// What the driver hands back.
#[derive(Debug, Clone, Copy)]
pub enum PoolObservation<'a> {
    /// The problem's pool stage begins.
    Start,
    /// The trajectories ran: whether each answer passed the public tests (`true` when the
    /// problem has none to run).
    Sampled {
        /// One entry per program of the pool.
        public_pass: &'a [bool],
    },
    /// The model's tests were parsed into a suite of `count` tests.
    Tests {
        /// Tests kept.
        count: usize,
    },
    /// The pool ran on the suite: the evidence a selector may use.
    Executed(&'a Pool),
    /// The submission was recorded.
    Submitted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    NotStarted,
    AwaitSample,
    AwaitTests,
    AwaitExec,
    AwaitSubmit,
    Done,
}

/// The pool policy of the selectors: sample N programs, write M tests when the selector needs
/// them, run the pool on them, submit the selector's ranking (ties broken by `seed`).
pub struct SelectorPolicy {
    problem: Arc<PublicProblem>,
    library: Arc<PromptLibrary>,
    spec: PoolSpec,
    seed: u64,
    phase: Phase,
    public_pass: Vec<bool>,
}

impl SelectorPolicy {
    /// A fresh pool stage for `problem`.
    #[must_use]
    pub fn new(
        problem: Arc<PublicProblem>,
        library: Arc<PromptLibrary>,
        spec: PoolSpec,
        seed: u64,
    ) -> Self {
        SelectorPolicy {
            problem,
            library,
            spec,
            seed,
            phase: Phase::NotStarted,
            public_pass: Vec::new(),
        }
    }

    /// The messages that ask for tests.
    fn tests_request(&self) -> Result<Vec<Message>, StrategyError> {
        let language = self.problem.language.to_string();
        let (key, entry_point) = match &self.problem.interface {
            Interface::Function { entry_point } => ("asserts", entry_point.as_str()),
            Interface::Stdio => ("stdio", ""),
        };
        let count = self.spec.tests_per_answer.max(1).to_string();
        let example = self.example(entry_point);
        let vars = [
            ("language", language.as_str()),
            ("entry_point", entry_point),
            ("count", count.as_str()),
            ("example", example.as_str()),
        ];
        let system = render(self.library.get("system", "default")?, &vars);
        let task = statement(&self.library, &self.problem)?;
        let ask = render(self.library.get("tests", key)?, &vars);
        let mut messages = Vec::with_capacity(2);
        if !system.trim().is_empty() {
            messages.push(Message::new(Role::System, system));
        }
        messages.push(Message::new(Role::User, format!("{task}\n\n{ask}")));
        Ok(messages)
    }

    /// An example test for the prompt: the first public test as an assert, else a pattern.
    fn example(&self, entry_point: &str) -> String {
        let first = self.problem.public_tests.tests.first();
        match (&self.problem.interface, first) {
            (Interface::Function { .. }, Some(t)) => match &t.expected {
                Some(expected) if t.input.starts_with(entry_point) => {
                    format!("assert {} == {expected}", t.input)
                }
                _ => format!("assert {entry_point}(...) == ..."),
            },
            (Interface::Function { .. }, None) => format!("assert {entry_point}(...) == ..."),
            (Interface::Stdio, Some(t)) => format!(
                "```input\n{}\n```\n```output\n{}\n```",
                t.input.trim_end(),
                t.expected.as_deref().unwrap_or_default().trim_end()
            ),
            (Interface::Stdio, None) => String::new(),
        }
    }

    fn submit(&mut self, pool: &Pool) -> PoolAction {
        self.phase = Phase::AwaitSubmit;
        PoolAction::Submit {
            ranking: rank(self.spec.selector, pool, self.seed),
        }
    }

    /// The next action, given what the last one observed.
    pub fn next(&mut self, observation: PoolObservation<'_>) -> Result<PoolAction, StrategyError> {
        match (self.phase, observation) {
            (Phase::NotStarted, PoolObservation::Start) => {
                self.phase = Phase::AwaitSample;
                Ok(PoolAction::Sample {
                    count: self.spec.samples,
                })
            }
            (Phase::AwaitSample, PoolObservation::Sampled { public_pass }) => {
                self.public_pass = public_pass.to_vec();
                let answers = self.spec.test_answers();
                if answers == 0 || public_pass.is_empty() {
                    let pool = Pool {
                        public_pass: self.public_pass.clone(),
                        ..Pool::default()
                    };
                    return Ok(self.submit(&pool));
                }
                self.phase = Phase::AwaitTests;
                Ok(PoolAction::Generate {
                    messages: self.tests_request()?,
                    answers,
                    purpose: Purpose::Tests,
                    keep: self.spec.tests_per_answer,
                    limit: self.spec.tests,
                })
            }
            (Phase::AwaitTests, PoolObservation::Tests { count }) => {
                if count == 0 {
                    let pool = Pool {
                        public_pass: self.public_pass.clone(),
                        ..Pool::default()
                    };
                    return Ok(self.submit(&pool));
                }
                self.phase = Phase::AwaitExec;
                Ok(PoolAction::Execute {
                    suite: PoolSuite::Generated,
                })
            }
            (Phase::AwaitExec, PoolObservation::Executed(pool)) => Ok(self.submit(pool)),
            (Phase::AwaitSubmit, PoolObservation::Submitted) => {
                self.phase = Phase::Done;
                Ok(PoolAction::Stop)
            }
            (Phase::Done, _) => Ok(PoolAction::Stop),
            (phase, _) => Err(StrategyError::Protocol(format!(
                "unexpected pool observation in phase {phase:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use codeloop_types::{Language, ProblemId, TestSuite};

    use super::*;

    fn problem() -> Arc<PublicProblem> {
        Arc::new(PublicProblem {
            id: ProblemId("T/0".into()),
            dataset: "t".into(),
            prompt: "def inc(x):\n    \"\"\"Add one.\"\"\"\n".into(),
            language: Language::Python,
            interface: Interface::Function {
                entry_point: "inc".into(),
            },
            public_tests: Arc::new(TestSuite::empty("k")),
            completion_prefix: "def inc(x):\n    \"\"\"Add one.\"\"\"\n".into(),
        })
    }

    fn policy(selector: Selector) -> SelectorPolicy {
        SelectorPolicy::new(
            problem(),
            Arc::new(PromptLibrary::builtin()),
            PoolSpec::new(selector, 4, 10),
            7,
        )
    }

    #[test]
    fn codet_samples_writes_tests_runs_them_and_submits_the_agreeing_set() {
        let mut p = policy(Selector::CodeT { sqrt: false });
        assert_eq!(
            p.next(PoolObservation::Start).unwrap(),
            PoolAction::Sample { count: 4 }
        );
        let action = p
            .next(PoolObservation::Sampled {
                public_pass: &[true, true, true, false],
            })
            .unwrap();
        let PoolAction::Generate {
            messages,
            answers,
            purpose,
            keep,
            limit,
        } = action
        else {
            panic!("expected a request for tests, got {action:?}");
        };
        assert_eq!((answers, purpose, keep, limit), (2, Purpose::Tests, 5, 10));
        let ask = &messages.last().unwrap().content;
        assert!(ask.contains("def inc(x)"), "{ask}");
        assert!(ask.contains("assert inc(...) == ..."), "{ask}");
        assert_eq!(
            p.next(PoolObservation::Tests { count: 3 }).unwrap(),
            PoolAction::Execute {
                suite: PoolSuite::Generated
            }
        );
        // Programs 1 and 2 agree on the two tests they pass; 0 passes one test alone.
        let pool = Pool {
            public_pass: vec![true, true, true, false],
            passes: vec![
                vec![true, false, false],
                vec![true, true, false],
                vec![true, true, false],
                vec![false, false, false],
            ],
            outputs: Vec::new(),
        };
        let PoolAction::Submit { ranking } = p.next(PoolObservation::Executed(&pool)).unwrap()
        else {
            panic!("expected a submission");
        };
        assert!(ranking[0] == 1 || ranking[0] == 2, "{ranking:?}");
        assert_eq!(
            p.next(PoolObservation::Submitted).unwrap(),
            PoolAction::Stop
        );
    }

    #[test]
    fn a_selector_without_tests_never_asks_for_them() {
        let mut p = policy(Selector::FirstPublicPass);
        p.next(PoolObservation::Start).unwrap();
        let action = p
            .next(PoolObservation::Sampled {
                public_pass: &[false, true, true],
            })
            .unwrap();
        assert_eq!(
            action,
            PoolAction::Submit {
                ranking: vec![1, 2, 0]
            }
        );
    }

    #[test]
    fn no_usable_test_falls_back_to_the_public_results() {
        let mut p = policy(Selector::AlphaCode);
        p.next(PoolObservation::Start).unwrap();
        p.next(PoolObservation::Sampled {
            public_pass: &[false, true],
        })
        .unwrap();
        let action = p.next(PoolObservation::Tests { count: 0 }).unwrap();
        let PoolAction::Submit { ranking } = action else {
            panic!("expected a submission, got {action:?}");
        };
        assert_eq!(ranking[0], 1);
    }

    #[test]
    fn an_observation_out_of_order_is_an_error() {
        let mut p = policy(Selector::MbrExec);
        assert!(p.next(PoolObservation::Submitted).is_err());
    }

    #[test]
    fn the_spec_round_trips_through_json() {
        let spec = PoolSpec::new(Selector::B4_DEFAULT, 10, 10);
        let text = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<PoolSpec>(&text).unwrap(), spec);
        assert!(text.contains(r#""b4":{"beta_0""#), "{text}");
    }
}
