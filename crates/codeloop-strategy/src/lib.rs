//! Strategies of codeloop: policies that turn a problem's public view into model calls and program
//! runs, written as action/observation state machines so that a driver can run, budget, journal and
//! replay them.
//!
//! - [`PromptLibrary`]: templates as data (TOML embedded in the binary, overridable by a user file);
//! - [`extract`](mod@extract): the code-extraction rules;
//! - [`render_feedback`]: execution feedback at Zheng et al.'s granularities, and
//!   [`debugger`](mod@debugger): F4, a failing test's trace (LDB's view);
//! - [`StrategySpec`] and [`MultiTurn`]: turn schedules (single turn, fixed N turns with an
//!   (R, I, F) per turn, CoT-retry) and the policy that runs them;
//! - [`n_at_k`]: a selector's n@k on one problem, over sub-pools of k programs;
//! - [`select`](mod@select): selectors that rank a problem's pool of programs for submission
//!   (first public pass, public filter, `CodeT`, `AlphaCode` clustering, MBR-exec);
//! - [`stats`](mod@stats): bootstrap intervals over problems, paired differences between
//!   strategies, and n@k where k is a budget spent on a pool of trajectories.
//! - [`written`](mod@written): stdin/stdout tests a model wrote, read from its answer;
//! - [`presets`](mod@presets): papers' settings as data, each value with its source;
//! - [`pool`](mod@pool): problem-level strategies over a pool of trajectories
//!   ([`SelectorPolicy`]: sample, write tests, run the pool on them, rank);
//! - [`cluster`](mod@cluster): k-means++ over TF-IDF features of texts (`PairCoder`'s plans,
//!   without an embedding model);
//! - [`parse`](mod@parse): plans, scores, lists and verdicts read from a model's answer, with a
//!   recorded fallback when the model broke the format;
//! - [`search`](mod@search): trees and forests of programs and the policies over them (breadth
//!   first, depth first with `CodeTree`'s abort rule, UCT), for the tree-search methods;
//! - [`Policy`]: the seam between a strategy and the driver; [`agent`](mod@agent): the planning
//!   and search methods (`MapCoder`, `CODESIM`, `PairCoder`, `CodeTree`, Scattered Forest Search)
//!   as agents behind it.
//!
//! Dependencies: `toml` for the prompt and strategy files; `libm` (the Rust project's port of
//! musl's maths) for `lgamma`, which B4's Beta-Bernoulli likelihoods need and `std` does not offer
//! on stable. Nothing here does I/O beyond reading the prompt and strategy files.

pub mod agent;
pub mod cluster;
pub mod debugger;
mod errors;
pub mod estimate;
pub mod extract;
mod feedback;
mod multiturn;
pub mod parse;
mod policy;
pub mod pool;
pub mod presets;
mod prompts;
pub mod search;
pub mod select;
mod spec;
pub mod stats;
pub mod written;

pub use errors::StrategyError;
pub use estimate::{NAtK, n_at_k};
pub use extract::{ExtractRule, Extracted, extract};
pub use feedback::{Granularity, render_feedback};
pub use multiturn::{
    Action, MultiTurn, Observation, Purpose, Segment, SegmentKind, TranscriptMessage,
};
pub use parse::ReadFailure;
pub use policy::{Policy, policy};
pub use pool::{PoolAction, PoolObservation, PoolSpec, PoolSuite, SelectorPolicy};
pub use prompts::{DEFAULT_PROMPTS, PromptLibrary, render};
pub use select::{Pool, SELECTORS, Selector, rank};
pub use spec::{BUILTIN_STRATEGIES, StrategySpec, TrajectoryBudget, TurnSpec};
pub use stats::{
    BudgetNAtK, Interval, ProgramOutcome, bootstrap_mean, budget_n_at_k, curve, paired_difference,
};
