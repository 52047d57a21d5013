//! n@k at any (n, k) for runs whose trajectories submit their own answers (`single`,
//! `multi-turn`, `cot-retry`, grid cells), with k a **budget**: programs generated (the unit
//! `--budget-programs` counts), or prompt plus completion tokens, or LLM calls.
//!
//! **How the estimate is formed** (`codeloop_strategy::stats::budget_n_at_k`): per problem, the
//! budget buys the run's trajectories in a random order, whole while they fit, the one that would
//! cross it cut after its last program that fits; each bought trajectory's answer is its last
//! program; answers that passed the public tests are submitted first, n in all; the problem is
//! solved when a submitted answer passed the hidden tests. The figure is the mean over draw
//! orders: every order when there are at most [`DRAWS`] (M! for M trajectories), else [`DRAWS`]
//! drawn. So a trajectory that stops early costs what it wrote, and `single` with N samples and
//! `cot-retry` with N/3 trajectories of 3 turns stand at the same k. When every trajectory writes
//! T programs and k = T n, this is pass@n over trajectories (Zheng et al.'s n@(T n)).
//!
//! A program's cost in tokens or calls is what the calls of its turn cost (its reasoning exchange
//! included), read from the journal.
//!
//! **Saturation.** When a problem's whole pool costs at most k, every trajectory is bought and the
//! figure is the pool's, not k's; `saturated` counts those problems, and a row with any is only a
//! lower bound of what a bigger pool would give at k.
//!
//! **Intervals and failures.** The mean over problems gets a 95% interval by bootstrap over
//! problems. A problem of the run with no finished trajectory (an engine error, a run stopped
//! early) counts as unsolved, never dropped.

use std::collections::BTreeMap;

use codeloop_store::RunStore;
use codeloop_strategy::stats::{Interval, ProgramOutcome, bootstrap_mean, budget_n_at_k};
use serde::{Deserialize, Serialize};

use crate::errors::EngineError;
use crate::run::TrajectoryRecord;
use crate::run::ledger::for_each_answer;

/// Draw orders per problem and (n, k) at most.
pub const DRAWS: u64 = 2_000;

/// What a budget counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    /// Programs generated.
    #[default]
    Programs,
    /// Prompt plus completion tokens.
    Tokens,
    /// LLM calls.
    Calls,
}

impl Axis {
    /// The axis of a name (`programs`, `tokens`, `calls`).
    #[must_use]
    pub fn named(name: &str) -> Option<Axis> {
        match name {
            "programs" => Some(Axis::Programs),
            "tokens" => Some(Axis::Tokens),
            "calls" => Some(Axis::Calls),
            _ => None,
        }
    }

    /// Its name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Axis::Programs => "programs",
            Axis::Tokens => "tokens",
            Axis::Calls => "calls",
        }
    }
}

/// One program as the budget sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Written {
    public: Option<bool>,
    correct: bool,
    calls: u64,
    tokens: u64,
}

/// Every problem's trajectories, each its programs in order, with what they cost.
#[derive(Debug, Clone, Default)]
pub struct Pools {
    problems: BTreeMap<String, Vec<Vec<Written>>>,
    /// Structured answers its strategy could not read (planning and search methods).
    read_failures: u64,
}

impl Pools {
    /// The pools of the finished trajectories of `store`, with costs from its journal.
    pub fn of(store: &RunStore) -> Result<Pools, EngineError> {
        // (problem, trajectory, turn) -> (calls, tokens)
        let mut costs: BTreeMap<(String, u32, u32), (u64, u64)> = BTreeMap::new();
        for_each_answer(store, |problem, t, a| {
            let c = costs.entry((problem.to_owned(), t, a.turn)).or_default();
            c.0 += 1;
            c.1 += a.prompt_tokens + a.completion_tokens;
        })?;
        let mut pools = Pools::default();
        let mut unreadable = None;
        store.for_each_trajectory(|problem, t, data| {
            let record: TrajectoryRecord = match serde_json::from_str(data) {
                Ok(r) => r,
                Err(source) => {
                    unreadable.get_or_insert((problem.to_owned(), t, source));
                    return;
                }
            };
            pools.read_failures += record.read_failures.len() as u64;
            let mut programs: Vec<Written> = record
                .programs
                .iter()
                .map(|p| {
                    let (calls, tokens) = costs
                        .get(&(problem.to_owned(), t, p.turn))
                        .copied()
                        .unwrap_or_default();
                    Written {
                        public: p.public_passed,
                        correct: p.hidden_passed,
                        calls,
                        tokens,
                    }
                })
                .collect();
            // Calls after the last program (a method's critic, a budget-cut plan) belong to the
            // trajectory too: the last program carries them, so its whole cost is counted.
            if let (Some(last), Some(turn)) =
                (programs.last_mut(), record.programs.last().map(|p| p.turn))
            {
                for (_, (calls, tokens)) in costs
                    .range((problem.to_owned(), t, turn + 1)..=(problem.to_owned(), t, u32::MAX))
                {
                    last.calls += calls;
                    last.tokens += tokens;
                }
            }
            pools
                .problems
                .entry(problem.to_owned())
                .or_default()
                .push(programs);
        })?;
        if let Some((problem, trajectory, source)) = unreadable {
            return Err(EngineError::RecordUnreadable {
                path: store.path().to_path_buf(),
                problem,
                trajectory,
                source,
            });
        }
        Ok(pools)
    }

    /// The repeated-sampling baseline of the same run: each trajectory's first program as a
    /// one-program trajectory of its own (independent samples, when every trajectory's first
    /// turn asks the same).
    #[must_use]
    pub fn first_programs(&self) -> Pools {
        Pools {
            problems: self
                .problems
                .iter()
                .map(|(p, trajs)| {
                    let firsts = trajs
                        .iter()
                        .filter_map(|t| t.first().map(|w| vec![*w]))
                        .collect();
                    (p.clone(), firsts)
                })
                .collect(),
            read_failures: self.read_failures,
        }
    }

    /// Structured answers the run's strategy could not read and replaced by their defaults.
    #[must_use]
    pub fn read_failures(&self) -> u64 {
        self.read_failures
    }

    /// Problems with at least one finished trajectory.
    #[must_use]
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// Whether no problem has a finished trajectory.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Mean over problems of what a problem's whole pool cost on `axis`.
    #[must_use]
    pub fn mean_cost(&self, axis: Axis) -> f64 {
        if self.problems.is_empty() {
            return 0.0;
        }
        let total: f64 = self
            .problems
            .values()
            .flat_map(|t| t.iter().flatten())
            .map(|w| match axis {
                Axis::Programs => 1.0,
                Axis::Tokens => w.tokens as f64,
                Axis::Calls => w.calls as f64,
            })
            .sum();
        total / self.problems.len() as f64
    }

    /// The fewest programs any problem's pool holds.
    #[must_use]
    pub fn min_programs(&self) -> u64 {
        self.problems
            .values()
            .map(|t| t.iter().map(Vec::len).sum::<usize>() as u64)
            .min()
            .unwrap_or(0)
    }

    fn outcomes(trajectories: &[Vec<Written>], axis: Axis) -> Vec<Vec<ProgramOutcome>> {
        trajectories
            .iter()
            .map(|t| {
                t.iter()
                    .map(|w| ProgramOutcome {
                        public_pass: w.public,
                        correct: w.correct,
                        cost: match axis {
                            Axis::Programs => 1.0,
                            Axis::Tokens => w.tokens as f64,
                            Axis::Calls => w.calls as f64,
                        },
                    })
                    .collect()
            })
            .collect()
    }

    /// Per problem (in order, the run's `problems` all included, unfinished ones 0), pass n@k at
    /// budget `k` on `axis`, and how many problems were saturated.
    #[must_use]
    pub fn per_problem(
        &self,
        problems: &[String],
        n: u64,
        k: u64,
        axis: Axis,
        seed: u64,
    ) -> (Vec<f64>, u64) {
        let mut saturated = 0;
        let values = problems
            .iter()
            .map(|p| {
                let Some(trajectories) = self.problems.get(p) else {
                    return 0.0;
                };
                let pool = Self::outcomes(trajectories, axis);
                let seed = crate::stable_hash(seed, p.bytes());
                match budget_n_at_k(&pool, n as usize, k as f64, DRAWS, seed) {
                    Some(e) => {
                        saturated += u64::from(e.saturated);
                        e.mean
                    }
                    None => 0.0,
                }
            })
            .collect();
        (values, saturated)
    }
}

/// One budgeted n@k row.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetRow {
    /// Submissions.
    pub n: u64,
    /// The budget.
    pub k: u64,
    /// What the budget counts.
    pub axis: Axis,
    /// Mean over the run's problems, with its bootstrap interval over problems.
    pub value: Interval,
    /// Problems whose whole pool costs at most k (their figure is the pool's).
    pub saturated: u64,
}

/// The rows of `pairs` on `axis` over the run's `problems`.
#[must_use]
pub fn budget_rows(
    pools: &Pools,
    problems: &[String],
    pairs: &[(u64, u64)],
    axis: Axis,
    resamples: u32,
    seed: u64,
) -> Vec<BudgetRow> {
    pairs
        .iter()
        .filter(|(n, k)| *n > 0 && *k > 0)
        .map(|&(n, k)| {
            let (values, saturated) = pools.per_problem(problems, n, k, axis, seed);
            BudgetRow {
                n,
                k,
                axis,
                value: interval(&values, resamples, seed),
                saturated,
            }
        })
        .collect()
}

/// The bootstrap interval over problems of `values` (all zero for none).
#[must_use]
pub fn interval(values: &[f64], resamples: u32, seed: u64) -> Interval {
    bootstrap_mean(values, resamples, seed).unwrap_or(Interval {
        mean: 0.0,
        lo: 0.0,
        hi: 0.0,
        resamples: 0,
    })
}

/// Zheng et al.'s pairs for `turns` turns per trajectory: (1, T), (10, 10T), (33, 100T/3 rounded
/// up) and (100, 100T): at T = 3, 1@3, 10@30, 33@100 and 100@300.
#[must_use]
pub fn zheng_pairs(turns: u32) -> Vec<(u64, u64)> {
    let t = u64::from(turns.max(1));
    vec![
        (1, t),
        (10, 10 * t),
        (33, (100 * t).div_ceil(3)),
        (100, 100 * t),
    ]
}

/// Parses `1@10,10@30`: (n, k) pairs, n at most k.
pub fn parse_pairs(text: &str) -> Result<Vec<(u64, u64)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (n, k) = pair
                .split_once('@')
                .ok_or_else(|| format!("`{pair}` is not n@k (e.g. 1@10)"))?;
            let number = |s: &str, what: &str| {
                s.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|&v| v > 0)
                    .ok_or_else(|| format!("`{pair}`: {what} `{s}` is not a positive integer"))
            };
            let (n, k) = (number(n, "n")?, number(k, "k")?);
            if n > k {
                return Err(format!("`{pair}`: n ({n}) cannot exceed k ({k})"));
            }
            Ok((n, k))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_and_bad_ones_are_named() {
        assert_eq!(
            parse_pairs("1@10, 10@30,33@100").unwrap(),
            vec![(1, 10), (10, 30), (33, 100)]
        );
        assert_eq!(
            parse_pairs("1@10,x").unwrap_err(),
            "`x` is not n@k (e.g. 1@10)"
        );
        assert_eq!(
            parse_pairs("10@3").unwrap_err(),
            "`10@3`: n (10) cannot exceed k (3)"
        );
        assert_eq!(
            parse_pairs("0@3").unwrap_err(),
            "`0@3`: n `0` is not a positive integer"
        );
    }

    #[test]
    fn zheng_pairs_at_three_turns_are_the_papers() {
        assert_eq!(
            zheng_pairs(3),
            vec![(1, 3), (10, 30), (33, 100), (100, 300)]
        );
        assert_eq!(zheng_pairs(1), vec![(1, 1), (10, 10), (33, 34), (100, 100)]);
    }

    fn written(correct: bool) -> Written {
        Written {
            public: Some(correct),
            correct,
            calls: 1,
            tokens: 100,
        }
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "the figures are exact: 0, 0.5 and 1")]
    fn unfinished_problems_count_as_unsolved_and_costs_follow_the_axis() {
        let mut pools = Pools::default();
        // Problem a: two one-program trajectories, one correct.
        pools
            .problems
            .insert("a".into(), vec![vec![written(true)], vec![written(false)]]);
        let problems = vec!["a".to_owned(), "b".to_owned()];
        let (values, saturated) = pools.per_problem(&problems, 1, 1, Axis::Programs, 0);
        assert_eq!(
            values,
            vec![0.5, 0.0],
            "b has no trajectory: 0, not dropped"
        );
        assert_eq!(saturated, 0);
        // 100 tokens buy one program, 99 none, 200 both (the pool, exactly), 250 both with
        // budget to spare (saturated).
        let (values, _) = pools.per_problem(&problems, 1, 99, Axis::Tokens, 0);
        assert_eq!(values[0], 0.0);
        let (values, saturated) = pools.per_problem(&problems, 1, 200, Axis::Tokens, 0);
        assert_eq!((values[0], saturated), (1.0, 0));
        let (values, saturated) = pools.per_problem(&problems, 1, 250, Axis::Tokens, 0);
        assert_eq!((values[0], saturated), (1.0, 1));
        let rows = budget_rows(&pools, &problems, &[(1, 1)], Axis::Programs, 1_000, 0);
        assert!((rows[0].value.mean - 0.25).abs() < 1e-12);
        assert!(rows[0].value.lo < rows[0].value.hi);
    }
}
