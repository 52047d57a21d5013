//! Execution traces: what a program's functions did during one call, step by step, with their
//! variables (the debugger's view LDB gives a model).
//!
//! A trace comes from a traced run ([`TraceSpec`]), which runs each call of a suite under a tracer
//! inside the sandbox. It is untrusted data: the tracer runs in the program's own process, which
//! can remove it, replace it, or run code of its own while its variables are written. It is feedback
//! for a model, never evidence of a verdict; verdicts come from untraced runs.
//!
//! # Format
//!
//! A [`Trace`] holds the steps kept of one call, in the order they ended, and how many there were.
//! A step is one basic block executed ([`TraceLevel::Block`]: blocks from the program's syntax
//! tree: a new block at the first statement of each body, at each compound statement's header,
//! after a compound statement and after a jump), one line ([`TraceLevel::Line`]) or one function
//! call ([`TraceLevel::Function`], ended at its return). A step records the lines it executed, the
//! variables of its frame when it ended (repr, cut at [`TraceSpec::chars`]; modules, classes and
//! functions left out), and, for the step that ends its function, the value returned or the
//! exception raised. A helper's steps come before the step of its caller that called it.
//!
//! Selective debugging (LDB's): a long trace keeps its first [`TraceSpec::first`] and last
//! [`TraceSpec::last`] steps. Steps are numbered from 1 over the whole trace, so a gap in
//! [`TraceStep::index`] is the cut, and [`Trace::total`] counts every step.

use serde::{Deserialize, Serialize};

/// How finely a traced run records a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceLevel {
    /// One step per basic block executed (LDB's default).
    #[default]
    Block,
    /// One step per line executed.
    Line,
    /// One step per function call, at its return.
    Function,
}

impl TraceLevel {
    /// Parses `block`, `line` or `function`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "block" => TraceLevel::Block,
            "line" => TraceLevel::Line,
            "function" => TraceLevel::Function,
            _ => return None,
        })
    }

    /// Its name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            TraceLevel::Block => "block",
            TraceLevel::Line => "line",
            TraceLevel::Function => "function",
        }
    }
}

/// What a traced run records (every field optional in a file: LDB's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceSpec {
    /// Steps are blocks, lines or function calls.
    pub level: TraceLevel,
    /// Steps kept from the start of a call.
    pub first: u32,
    /// Steps kept from the end of a call.
    pub last: u32,
    /// Longest repr of a value, in characters.
    pub chars: u32,
}

impl Default for TraceSpec {
    /// LDB's selective debugging: basic blocks, the first 5 and the last 5.
    fn default() -> Self {
        TraceSpec {
            level: TraceLevel::Block,
            first: 5,
            last: 5,
            chars: 100,
        }
    }
}

/// How a traced call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceEnd {
    /// The call returned a value.
    Returned,
    /// The call raised an exception.
    Raised,
    /// A time or memory limit stopped the call.
    Limit,
    /// The program removed or replaced the tracer: the trace is incomplete.
    Tampered,
    /// The run ended inside the call (a crash, an exit, the wall clock): the steps written before.
    Unfinished,
}

/// One step of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep {
    /// Its number in the whole trace, from 1.
    pub index: u64,
    /// The function it ran in (its qualified name).
    pub function: String,
    /// The basic block (numbered in source order over the program), at the block level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u32>,
    /// The lines it executed, in order, without repeats.
    pub lines: Vec<u32>,
    /// The frame's variables when it ended: name and repr.
    pub vars: Vec<(String, String)>,
    /// The repr of the value returned, when the step ends its function by returning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned: Option<String>,
    /// `Type: message` of the exception leaving the function, when the step ends it so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raised: Option<String>,
}

/// The trace of one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// The call traced (its index in the suite's calls).
    pub call: u32,
    /// The level it was recorded at.
    pub level: TraceLevel,
    /// The steps kept, in order.
    pub steps: Vec<TraceStep>,
    /// Steps in the whole trace (more than `steps.len()` when it was cut).
    pub total: u64,
    /// How the call ended.
    pub end: TraceEnd,
}

impl Trace {
    /// Whether steps were cut out of the middle.
    #[must_use]
    pub fn is_cut(&self) -> bool {
        self.total > self.steps.len() as u64
    }
}
