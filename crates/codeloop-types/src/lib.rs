//! Shared types of codeloop: problems and their test suites, verdicts and execution reports.
//!
//! This crate sits at the bottom of the workspace and depends on `serde` only, so every other crate can
//! speak these types. Values of the program's language travel as *wire* JSON text (see
//! `codeloop-sandbox`'s Python worker for the encoding); this crate never interprets them.

mod chat;
mod problem;
mod trace;
mod verdict;

pub use chat::{Message, Role};
pub use problem::{
    Call, Expect, HiddenTests, Interface, Language, OutputCompare, Problem, ProblemId, ProgramTest,
    PublicProblem, Reference, TestCase, TestId, TestSuite, ValueCompare,
};
pub use trace::{Trace, TraceEnd, TraceLevel, TraceSpec, TraceStep};
pub use verdict::{
    CompileReport, ExecReport, Limits, Outcome, ProgramStatus, Returned, TestResult, Verdict,
};
