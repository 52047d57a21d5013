//! From raw dataset records to [`Problem`](codeloop_types::Problem)s with public and hidden test
//! suites.
//!
//! Test code in datasets is trusted, but expected values must never enter the sandbox, so suites are
//! built in two ways (see `codeloop-sandbox`'s `judge.py`):
//! - *value* tests (HumanEval+/MBPP+ inputs, docstring examples): the reference solution runs once on
//!   every input in the sandbox; what it returns becomes the expected value, and its CPU time scales the
//!   per-call limit (`EvalPlus`'s rule: `max(floor, 4 x reference)`);
//! - *replay* tests (`HumanEval`'s `check`, MBPP's asserts): the judge runs the test script once against
//!   the reference, recording the calls each statement makes; a candidate is then run on those calls and
//!   the judge replays each statement with the candidate's values.
//!
//! Stdin/stdout datasets need neither (outputs are compared as text), and compiled-language test
//! programs are split into judged values by [`crate::split`].
//!
//! Prepared datasets are cached as JSON under the cache dir, keyed by the dataset's hash, the format
//! version ([`PREPARED_VERSION`]), the interpreter version and the options.
//!
//! Layout: `dispatch` (the entry point [`prepare`]: the cache, then the suite kind), `dataset`
//! (options, the prepared dataset, notes), `cache` (the zstd JSON files), one module per suite kind
//! (`calls` for function calls, with `judge` for everything that asks the Python judge; `stdio`;
//! `programs` for program tests), and `suite` (what the kinds share: suite keys, reference limits).

mod cache;
mod calls;
mod dataset;
mod dispatch;
mod judge;
mod programs;
mod stdio;
mod suite;

pub(crate) use calls::inexact_wire;
pub use dataset::{NoteKind, PREPARED_VERSION, PrepNote, PrepareOptions, PreparedDataset};
pub use dispatch::prepare;
pub use stdio::stdio_suite;
pub(crate) use suite::suite_key;
