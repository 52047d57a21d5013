//! Runs side by side at equal budgets (`codeloop compare`, `codeloop sweep`): pass n@k for each
//! run at the same k, k a budget of programs, tokens or LLM calls, with 95% intervals by
//! bootstrap over problems and the paired-bootstrap interval of each run's difference from the
//! first.
//!
//! - A run whose trajectories submit their own answers (`single`, `cot-retry`, ...) is read as a
//!   pool of trajectories bought until k is spent ([`budget`](super::budget)). So `single` with
//!   N samples and `cot-retry` with N/3 trajectories stand at the same k, from the same or from
//!   separate runs.
//! - A pool strategy (`codet`, `b4`, `alphacode`, ...) stands at k programs as its selector would
//!   submit from sub-pools of k of its N programs (`codeloop_strategy::n_at_k`), on the programs
//!   axis only: its tests cost tokens no program carries, so a token or call budget has no
//!   sub-pool to match; those cells are empty. Above N its cell is its figure at N, marked
//!   saturated.
//! - Runs must be over the same problems (the same dataset and problem list), so that the
//!   differences are paired.

use codeloop_store::RunStore;
use codeloop_strategy::n_at_k;
use codeloop_strategy::stats::{Interval, paired_difference};
use serde::Serialize;

use super::budget::{Axis, Pools, interval};
use super::pool::{DRAWS, pool_records};
use crate::errors::EngineError;
use crate::run::pool::{PoolRecord, pool_seed};
use crate::run::{RunConfig, stored_config};

/// One run of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct ComparedRun {
    /// Its directory, as given.
    pub dir: String,
    /// Its strategy's name.
    pub strategy: String,
    /// Its model.
    pub model: String,
    /// Mean over problems of what the run spent per problem on the axis (pool strategies: their
    /// programs, plus their tests' calls and tokens).
    pub spent_per_problem: f64,
    /// Structured answers (plans, scores, verdicts) its strategy could not read and replaced by
    /// their defaults.
    pub read_failures: u64,
}

/// One run's figure at one budget.
#[derive(Debug, Clone, Serialize)]
pub struct ComparedCell {
    /// pass n@k over the problems, with its interval.
    pub value: Interval,
    /// Problems whose whole pool cost at most the budget (their figure is the pool's).
    pub saturated: u64,
    /// This run minus the first, paired over problems (`None` for the first run).
    pub difference: Option<Interval>,
}

/// All runs at one budget.
#[derive(Debug, Clone, Serialize)]
pub struct ComparedRow {
    /// The budget.
    pub budget: u64,
    /// One cell per run, in order (`None`: the run has no figure on this axis).
    pub cells: Vec<Option<ComparedCell>>,
}

/// A comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    /// What a budget counts.
    pub axis: Axis,
    /// Submissions.
    pub n: u64,
    /// Problems (every run's).
    pub problems: usize,
    /// The runs, in order.
    pub runs: Vec<ComparedRun>,
    /// One row per budget, ascending.
    pub rows: Vec<ComparedRow>,
}

/// What a run contributes.
enum Source {
    Trajectories(Pools),
    Pool {
        records: Vec<PoolRecord>,
        run_seed: u64,
        samples: u32,
    },
}

impl Source {
    /// Per problem of `problems`, n@k at `budget`, and the problems saturated (`None`: no figure
    /// on this axis).
    fn per_problem(
        &self,
        problems: &[String],
        n: u64,
        budget: u64,
        axis: Axis,
        seed: u64,
    ) -> Option<(Vec<f64>, u64)> {
        match self {
            Source::Trajectories(pools) => Some(pools.per_problem(problems, n, budget, axis, seed)),
            Source::Pool {
                records,
                run_seed,
                samples,
            } => {
                if axis != Axis::Programs {
                    return None;
                }
                let k = budget.min(u64::from(*samples)) as usize;
                let saturated = if budget > u64::from(*samples) {
                    records.len() as u64
                } else {
                    0
                };
                let values = problems
                    .iter()
                    .map(|p| {
                        records.iter().find(|r| &r.problem == p).map_or(0.0, |r| {
                            n_at_k(
                                r.selector,
                                &r.pool(),
                                &r.correct(),
                                n as usize,
                                k,
                                DRAWS,
                                pool_seed(*run_seed, p),
                            )
                            .map_or(0.0, |e| e.mean)
                        })
                    })
                    .collect();
                Some((values, saturated))
            }
        }
    }

    /// Mean per problem spent on `axis`.
    fn spent(&self, axis: Axis, problems: usize) -> f64 {
        match self {
            Source::Trajectories(pools) => pools.mean_cost(axis),
            Source::Pool {
                records, samples, ..
            } => {
                let stage = |r: &PoolRecord| match axis {
                    Axis::Programs => 0.0,
                    Axis::Tokens => r.spent.tokens() as f64,
                    Axis::Calls => r.spent.llm_calls as f64,
                };
                let tests: f64 = records.iter().map(stage).sum::<f64>() / problems.max(1) as f64;
                match axis {
                    Axis::Programs => f64::from(*samples),
                    _ => tests,
                }
            }
        }
    }
}

/// The budgets compared when none are given: on the programs axis a ladder up to the largest
/// pool; on tokens or calls, eight steps from one program's cost to the largest pool's.
fn default_budgets(axis: Axis, largest: f64, smallest: f64) -> Vec<u64> {
    if axis == Axis::Programs {
        return [1u64, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000]
            .into_iter()
            .filter(|&k| (k as f64) <= largest.max(1.0))
            .collect();
    }
    let (lo, hi) = (smallest.max(1.0), largest.max(1.0));
    let mut out: Vec<u64> = (0..8)
        .map(|i| {
            let v = lo * (hi / lo).powf(f64::from(i) / 7.0);
            // Two significant digits.
            let scale = 10f64.powi(v.log10().floor() as i32 - 1).max(1.0);
            ((v / scale).round() * scale) as u64
        })
        .collect();
    out.dedup();
    out
}

/// Compares `runs` (directory as given, and its store) at `budgets` (`None`: see
/// `default_budgets`) for `n` submissions on `axis`.
pub fn compare(
    runs: &[(String, &RunStore)],
    n: u64,
    budgets: Option<&[u64]>,
    axis: Axis,
    resamples: u32,
    seed: u64,
) -> Result<Compared, EngineError> {
    let mut configs: Vec<RunConfig> = Vec::with_capacity(runs.len());
    for (dir, store) in runs {
        let config = stored_config(store)?;
        if let Some(first) = configs.first()
            && (first.dataset_sha256 != config.dataset_sha256 || first.problems != config.problems)
        {
            return Err(EngineError::Metric(format!(
                "`{dir}` is over other problems than `{}` (a comparison pairs runs problem by problem)",
                runs[0].0
            )));
        }
        configs.push(config);
    }
    let Some(first) = configs.first() else {
        return Err(EngineError::Metric("no run to compare".to_owned()));
    };
    let problems = first.problems.clone();
    let mut sources = Vec::with_capacity(runs.len());
    for ((_, store), config) in runs.iter().zip(&configs) {
        sources.push(match config.pool {
            Some(spec) => Source::Pool {
                records: pool_records(store)?,
                run_seed: config.sampling.seed,
                samples: spec.samples,
            },
            None => Source::Trajectories(Pools::of(store)?),
        });
    }
    let spent: Vec<f64> = sources
        .iter()
        .map(|s| s.spent(axis, problems.len()))
        .collect();
    let budgets = if let Some(b) = budgets {
        b.to_vec()
    } else {
        let largest = spent.iter().copied().fold(0.0, f64::max);
        let per_program = sources
            .iter()
            .zip(&spent)
            .filter_map(|(s, total)| match s {
                Source::Trajectories(pools) => {
                    Some(total / (pools.mean_cost(Axis::Programs)).max(1.0))
                }
                Source::Pool { .. } => None,
            })
            .fold(f64::INFINITY, f64::min);
        default_budgets(axis, largest, per_program)
    };
    let mut rows = Vec::with_capacity(budgets.len());
    for &budget in &budgets {
        let values: Vec<Option<(Vec<f64>, u64)>> = sources
            .iter()
            .map(|s| s.per_problem(&problems, n, budget, axis, seed))
            .collect();
        let base = values.first().and_then(Option::as_ref).map(|(v, _)| v);
        let cells = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_ref().map(|(v, saturated)| ComparedCell {
                    value: interval(v, resamples, seed),
                    saturated: *saturated,
                    difference: (i > 0)
                        .then(|| base.and_then(|b| paired_difference(v, b, resamples, seed)))
                        .flatten(),
                })
            })
            .collect();
        rows.push(ComparedRow { budget, cells });
    }
    Ok(Compared {
        axis,
        n,
        problems: problems.len(),
        runs: runs
            .iter()
            .zip(&configs)
            .zip(spent)
            .zip(&sources)
            .map(|((((dir, _), config), spent), source)| ComparedRun {
                dir: dir.clone(),
                strategy: config.strategy.name.clone(),
                model: config.model.clone(),
                spent_per_problem: spent,
                read_failures: match source {
                    Source::Trajectories(pools) => pools.read_failures(),
                    Source::Pool { .. } => 0,
                },
            })
            .collect(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_budgets_climb_to_the_largest_pool() {
        assert_eq!(
            default_budgets(Axis::Programs, 30.0, 1.0),
            vec![1, 2, 3, 5, 10, 20, 30]
        );
        let tokens = default_budgets(Axis::Tokens, 100_000.0, 1_000.0);
        assert_eq!(tokens.first(), Some(&1_000));
        assert_eq!(tokens.last(), Some(&100_000));
        assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");
    }
}
