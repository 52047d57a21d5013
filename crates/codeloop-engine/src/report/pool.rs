//! Results of a pool strategy (`--strategy codet|b4|alphacode|mbr-exec|...`), from the store's
//! pool records alone.
//!
//! - **n@k** of the run's selector, for each (n, k) the pool allows (k at most the pool's size
//!   N): per problem, the mean over sub-pools of k programs (of the N) of the chance that the first n ranked
//!   programs include a correct one (`codeloop_strategy::n_at_k`: every sub-pool when there are at
//!   most 200 (`DRAWS`) of them, else 200 drawn), averaged over problems. k counts programs
//!   generated: one per trajectory for the `single` schedule. Each sub-pool's figure is exact
//!   over the selector's tie-breaks at every n (`codeloop_strategy::estimate::submission_chance`);
//!   so 1@N is the expected pass@1 of the selector on the run's pool, where
//!   `solved` counts what the run's own (seeded) first submission did.
//! - Every figure comes with a 95% interval by bootstrap over problems
//!   (`codeloop_strategy::stats::bootstrap_mean`).
//! - **Problems without a finished pool stage** (engine errors, or a run stopped early) count as
//!   unsolved, never dropped; `unfinished` says how many.

use codeloop_store::RunStore;
use codeloop_strategy::stats::{Interval, bootstrap_mean};
use codeloop_strategy::{PoolSpec, n_at_k};
use serde::Serialize;

use crate::errors::EngineError;
use crate::run::pool::{POOL_STAGE, PoolRecord, pool_seed};

/// Sub-pools ranked per problem and (n, k) at most.
pub const DRAWS: u64 = 200;

/// One n@k row of a pool strategy.
#[derive(Debug, Clone, Serialize)]
pub struct PoolNkRow {
    /// Submissions.
    pub n: u64,
    /// Programs generated.
    pub k: u64,
    /// Mean over problems, with its bootstrap interval over problems.
    pub value: Interval,
    /// Problems whose figure ranked every sub-pool (the rest drew `DRAWS` (200)).
    pub exact_problems: u64,
}

/// A pool strategy's results.
#[derive(Debug, Clone, Serialize)]
pub struct PoolResults {
    /// The selector's name.
    pub selector: String,
    /// Programs per problem (N).
    pub samples: u32,
    /// Model-written tests asked for per problem (M).
    pub tests: u32,
    /// Problems with a finished pool stage.
    pub finished: u64,
    /// Problems of the run without one (counted as unsolved).
    pub unfinished: u64,
    /// Problems whose first submission passed the hidden tests.
    pub solved: u64,
    /// pass@1 of the selector's first submission over the whole pool (N programs), with its
    /// bootstrap interval over problems.
    pub pass_at_1: Interval,
    /// n@k rows.
    pub n_at_k: Vec<PoolNkRow>,
    /// Mean model-written tests kept per finished problem.
    pub tests_kept: f64,
    /// Statements of the model's answers that were not usable tests, in all.
    pub tests_rejected: u64,
    /// Duplicate tests dropped, in all.
    pub tests_duplicates: u64,
}

/// The (n, k) pairs reported by default for a pool of `samples`: 1@k for k = 1, 2, 5, 10, ...
/// up to N, and 10@N where N > 10.
#[must_use]
pub fn default_pairs(samples: u32) -> Vec<(u64, u64)> {
    let n = u64::from(samples);
    let mut pairs: Vec<(u64, u64)> = [1u64, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        .into_iter()
        .filter(|&k| k < n)
        .map(|k| (1, k))
        .collect();
    pairs.push((1, n));
    if n > 10 {
        pairs.push((10, n));
    }
    pairs
}

/// The pool records of `store`, one per problem that finished its pool stage.
pub fn pool_records(store: &RunStore) -> Result<Vec<PoolRecord>, EngineError> {
    store
        .pools()?
        .into_iter()
        .map(|(problem, data)| {
            serde_json::from_str(&data).map_err(|source| EngineError::RecordUnreadable {
                path: store.path().to_path_buf(),
                problem,
                trajectory: POOL_STAGE,
                source,
            })
        })
        .collect()
}

/// A pool strategy's results over the run's `problems` (every problem of the run, finished or
/// not), for the (n, k) `pairs` (those with k above the pool's size are left out). Each problem's
/// sub-pools are ranked with its pool stage's seed (from `run_seed`), so 1@N is the run's own
/// first submission; `seed` drives the bootstrap.
#[must_use]
pub fn pool_results(
    spec: &PoolSpec,
    run_seed: u64,
    problems: usize,
    records: &[PoolRecord],
    pairs: &[(u64, u64)],
    resamples: u32,
    seed: u64,
) -> PoolResults {
    let unfinished = problems.saturating_sub(records.len());
    // Problems without a record count as 0 (unsolved) in every figure.
    let padded = |mut values: Vec<f64>| {
        values.resize(values.len() + unfinished, 0.0);
        values
    };
    let top: Vec<f64> = records
        .iter()
        .map(|r| f64::from(u8::from(r.solved)))
        .collect();
    let interval = |values: Vec<f64>| {
        bootstrap_mean(&padded(values), resamples, seed).unwrap_or(Interval {
            mean: 0.0,
            lo: 0.0,
            hi: 0.0,
            resamples: 0,
        })
    };
    let mut rows = Vec::new();
    for &(n, k) in pairs {
        if k > u64::from(spec.samples) || n == 0 || n > k {
            continue;
        }
        let mut exact_problems = 0;
        let values: Vec<f64> = records
            .iter()
            .map(|r| {
                let pool = r.pool();
                let estimate = n_at_k(
                    r.selector,
                    &pool,
                    &r.correct(),
                    n as usize,
                    k as usize,
                    DRAWS,
                    pool_seed(run_seed, &r.problem),
                );
                exact_problems += u64::from(estimate.is_some_and(|e| e.exact));
                estimate.map_or(0.0, |e| e.mean)
            })
            .collect();
        rows.push(PoolNkRow {
            n,
            k,
            value: interval(values),
            exact_problems,
        });
    }
    let finished = records.len() as u64;
    PoolResults {
        selector: spec.selector.name().to_owned(),
        samples: spec.samples,
        tests: spec.tests,
        finished,
        unfinished: unfinished as u64,
        solved: records.iter().filter(|r| r.solved).count() as u64,
        pass_at_1: interval(top),
        n_at_k: rows,
        tests_kept: if finished == 0 {
            0.0
        } else {
            records.iter().map(|r| r.tests.len()).sum::<usize>() as f64 / finished as f64
        },
        tests_rejected: records.iter().map(|r| r.tests_rejected).sum(),
        tests_duplicates: records.iter().map(|r| r.tests_duplicates).sum(),
    }
}
