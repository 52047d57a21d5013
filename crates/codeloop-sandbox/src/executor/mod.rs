//! The executor: a pool of slots, each a thread that owns one zygote (or starts fresh
//! interpreters) and one judge, pulling jobs from a shared bounded queue.
//!
//! - `job`: what the executor is asked to do ([`ExecutorConfig`], [`Job`], [`Isolation`]);
//! - `plan`: which isolation layers this machine gives, and why the others are missing;
//! - `hardening`: the per-run hardening the workers apply, and each slot's worker setup;
//! - `pool`: the [`Executor`] itself, starting the slots and queueing jobs;
//! - `slot`: one slot's lifecycle (its zygote and judge, a run from request to reply);
//! - `request`: a slot's worker requests; `suites`: stdio and program-test suites.

mod hardening;
mod job;
mod plan;
mod pool;
mod request;
mod slot;
mod suites;

pub use job::{ExecutorConfig, Isolation, Job};
pub use pool::Executor;
