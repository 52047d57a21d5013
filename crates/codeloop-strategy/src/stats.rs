//! Statistics for comparing strategies: bootstrap intervals over problems, and n@k where k is a
//! budget (programs, tokens or LLM calls) spent on a problem's pool of trajectories.
//!
//! # Bootstrap over problems
//!
//! A strategy's score on a benchmark is the mean of a per-problem figure (solved or not, an n@k).
//! [`bootstrap_mean`] is the percentile bootstrap over problems: each resample draws as many
//! problems as there are, with replacement, and averages their values; the interval is the 2.5th
//! and 97.5th percentiles of the resampled means (interpolated linearly between the sorted means,
//! at rank p × (resamples − 1)), and the reported mean is the plain mean of the input. With one
//! problem solved of 20 the interval is about 0-15%, not 5-5%: the problems are the noise.
//! [`paired_difference`] bootstraps mean(a) − mean(b) for two strategies on the same problems
//! (index i of both is problem i): indices are resampled jointly, which is bootstrapping the
//! per-problem differences, so what the problems share (their difficulty) cancels.
//!
//! # n@k under a budget
//!
//! Zheng et al.'s pass n@k (after `AlphaCode`): k programs are generated, n of them are submitted,
//! chosen by their public-test results, and the problem is solved when a submitted program is
//! correct on the hidden tests. A multi-turn trajectory that stops early (its program passed the
//! public tests) writes fewer programs than one that uses every turn, so a budget of k programs
//! buys more of the short ones; comparing strategies at equal k means comparing them at equal
//! budget, not at an equal number of trajectories. The budget can equally be counted in tokens or
//! calls. For a problem's pool of M trajectories, each a list of [`ProgramOutcome`]s in the order
//! they were written with non-negative costs, [`budget_n_at_k`] defines, for a budget B:
//!
//! 1. Buying: trajectories are drawn uniformly at random without replacement from the pool and
//!    taken whole while the total cost so far fits in B (cost ≤ B). The first trajectory that
//!    would cross B is cut after its last program whose cumulative cost still fits (if none fits it
//!    contributes nothing), and buying stops. When the whole pool costs less than B every
//!    trajectory is bought with budget left, and the figure is the pool's limit, not B's
//!    ([`BudgetNAtK::saturated`]).
//! 2. Answers: each bought trajectory's answer is the last program of its (possibly cut) prefix.
//! 3. Submission: answers that passed their public tests (or had none to run) first, in draw
//!    order, then the others in draw order; the first n are submitted, and the draw solves the
//!    problem when a submitted answer is correct.
//!
//! The figure is the chance of solving over draw orders: the mean over all M! orders, each once,
//! when M! is at most `draws` (exact); otherwise over `draws` orders drawn from the seed, with
//! Wilson's 95% interval as in [`n_at_k`](crate::n_at_k). Draw d's order depends on the seed and
//! d alone, so every budget of a [`curve`] sees the same orders.
//!
//! With one program of cost 1 per trajectory this is single-turn n@k with public filtering. When
//! every trajectory writes T programs of cost 1 and B = T × n, exactly n trajectories are bought
//! whole and all n answers submitted, so the paper's n@(T × n) is pass@n over trajectories,
//! 1 − C(M − c, n) / C(M, n) with c the trajectories whose last program is correct.
//!
//! The figure never falls as n grows. It never falls as B grows when only a trajectory's last
//! program can pass its public tests (the policy stops at the first public pass) and correct
//! programs pass them: more budget only adds answers after those already bought, or replaces a cut
//! trajectory's failing answer by a later one. Otherwise it can fall: a trajectory whose first
//! program is correct and last is not solves when cut after the first and fails when bought whole.

use serde::Serialize;

use crate::estimate::wilson;
use crate::select::draw;

/// A mean with a 95% percentile-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// The plain mean of the input (not the mean of the resampled means).
    pub mean: f64,
    /// The 2.5th percentile of the resampled means.
    pub lo: f64,
    /// The 97.5th percentile of the resampled means.
    pub hi: f64,
    /// Resamples drawn.
    pub resamples: u32,
}

/// The percentile bootstrap of the mean of `per_problem` over problems, from `resamples`
/// resamples drawn from `seed`. `None` when the input is empty or `resamples` is 0.
#[must_use]
pub fn bootstrap_mean(per_problem: &[f64], resamples: u32, seed: u64) -> Option<Interval> {
    let size = per_problem.len();
    if size == 0 || resamples == 0 {
        return None;
    }
    // A mean lies between the smallest and largest value; rounding may step outside, which
    // would keep the interval of equal values from collapsing onto them.
    let smallest = per_problem.iter().copied().fold(f64::INFINITY, f64::min);
    let largest = per_problem
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let mean = |sum: f64| {
        let raw = sum / size as f64;
        // (Only NaN values leave no range, and then the mean is NaN anyway.)
        if smallest <= largest {
            raw.clamp(smallest, largest)
        } else {
            raw
        }
    };
    let mut rng = Stream { seed, count: 0 };
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| mean((0..size).map(|_| per_problem[rng.below(size)]).sum()))
        .collect();
    means.sort_by(f64::total_cmp);
    Some(Interval {
        mean: mean(per_problem.iter().sum()),
        lo: percentile(&means, 0.025),
        hi: percentile(&means, 0.975),
        resamples,
    })
}

/// The paired bootstrap of mean(a) − mean(b), where `a[i]` and `b[i]` are two strategies'
/// figures on problem i: problems are resampled jointly. The mean is that of the differences.
/// `None` when the lengths differ, the input is empty or `resamples` is 0.
#[must_use]
pub fn paired_difference(a: &[f64], b: &[f64], resamples: u32, seed: u64) -> Option<Interval> {
    if a.len() != b.len() {
        return None;
    }
    let differences: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    bootstrap_mean(&differences, resamples, seed)
}

/// The value at fraction `p` of sorted `values`, interpolated linearly between neighbours.
fn percentile(values: &[f64], p: f64) -> f64 {
    let rank = p * (values.len() - 1) as f64;
    let below = rank.floor() as usize;
    let above = (below + 1).min(values.len() - 1);
    values[below] + (rank - below as f64) * (values[above] - values[below])
}

/// One program of a trajectory, as budgeted n@k sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgramOutcome {
    /// Whether it passed the public tests; `None` when there were none to run (it then counts as
    /// passing for the submission order).
    pub public_pass: Option<bool>,
    /// Whether it passed the hidden tests.
    pub correct: bool,
    /// What writing it cost on the budget's axis: 1.0 for programs, or the tokens or calls of the
    /// model calls that led to it. Non-negative.
    pub cost: f64,
}

/// n@k on one problem where k is a budget (see the [module](self) documentation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BudgetNAtK {
    /// The share of draw orders whose n submitted answers include a correct one.
    pub mean: f64,
    /// Draw orders counted.
    pub draws: u64,
    /// Whether every draw order was counted once (then the interval is the mean itself).
    pub exact: bool,
    /// Lower end of the 95% interval.
    pub lo: f64,
    /// Upper end of the 95% interval.
    pub hi: f64,
    /// Whether the whole pool costs less than the budget: every trajectory is bought with budget
    /// to spare, and the figure is the pool's limit (a larger pool might do better at this
    /// budget). At a budget equal to the pool's cost the figure is exact, not saturated.
    pub saturated: bool,
}

/// n@k on one problem whose pool holds the trajectories `pool` (each its programs in the order
/// written), when `budget` buys trajectories and `n` answers are submitted; over every draw order
/// when there are at most `draws` of them, otherwise over `draws` orders drawn from `seed`.
/// `None` when `n` or `draws` is 0, the pool is empty, or `budget` is not positive.
#[must_use]
pub fn budget_n_at_k(
    pool: &[Vec<ProgramOutcome>],
    n: usize,
    budget: f64,
    draws: u64,
    seed: u64,
) -> Option<BudgetNAtK> {
    let size = pool.len();
    if n == 0 || size == 0 || draws == 0 || budget.is_nan() || budget <= 0.0 {
        return None;
    }
    let saturated = pool.iter().flatten().map(|p| p.cost).sum::<f64>() < budget;
    let exact = (1..=size as u64)
        .try_fold(1u64, u64::checked_mul)
        .is_some_and(|orders| orders <= draws);
    let (mut hits, mut total) = (0u64, 0u64);
    if exact {
        let mut order: Vec<usize> = (0..size).collect();
        loop {
            hits += u64::from(solves(pool, n, budget, order.iter().copied()));
            total += 1;
            if !next_permutation(&mut order) {
                break;
            }
        }
    } else {
        for d in 0..draws {
            // A lazy Fisher-Yates shuffle: the order is drawn only as far as buying goes.
            let mut rng = Stream {
                seed: draw(seed, d),
                count: 0,
            };
            let mut order: Vec<usize> = (0..size).collect();
            let shuffled = (0..size).map(|i| {
                order.swap(i, i + rng.below(size - i));
                order[i]
            });
            hits += u64::from(solves(pool, n, budget, shuffled));
            total += 1;
        }
    }
    let mean = hits as f64 / total as f64;
    let (lo, hi) = if exact {
        (mean, mean)
    } else {
        wilson(hits as f64, total)
    };
    Some(BudgetNAtK {
        mean,
        draws: total,
        exact,
        lo,
        hi,
        saturated,
    })
}

/// [`budget_n_at_k`] at each of `budgets`, with the same seed (so the same draw orders), for a
/// curve of n@k against the budget.
#[must_use]
pub fn curve(
    pool: &[Vec<ProgramOutcome>],
    n: usize,
    budgets: &[f64],
    draws: u64,
    seed: u64,
) -> Vec<(f64, Option<BudgetNAtK>)> {
    budgets
        .iter()
        .map(|&budget| (budget, budget_n_at_k(pool, n, budget, draws, seed)))
        .collect()
}

/// Whether buying in draw order `order` under `budget` and submitting `n` answers solves.
fn solves(
    pool: &[Vec<ProgramOutcome>],
    n: usize,
    budget: f64,
    order: impl Iterator<Item = usize>,
) -> bool {
    let mut spent = 0.0;
    let mut answers: Vec<ProgramOutcome> = Vec::new();
    for trajectory in order {
        let mut answer = None;
        let mut cut = false;
        for program in &pool[trajectory] {
            if spent + program.cost > budget {
                cut = true;
                break;
            }
            spent += program.cost;
            answer = Some(*program);
        }
        answers.extend(answer);
        if cut {
            break;
        }
    }
    let passing = |p: &&ProgramOutcome| p.public_pass != Some(false);
    answers
        .iter()
        .filter(passing)
        .chain(answers.iter().filter(|p| !passing(p)))
        .take(n)
        .any(|p| p.correct)
}

/// The next permutation of `order` in lexicographic order; false after the last.
fn next_permutation(order: &mut [usize]) -> bool {
    let Some(i) = (1..order.len()).rev().find(|&i| order[i - 1] < order[i]) else {
        return false;
    };
    let j = (i..order.len())
        .rev()
        .find(|&j| order[j] > order[i - 1])
        .unwrap_or(i);
    order.swap(i - 1, j);
    order[i..].reverse();
    true
}

/// Draws from a seed, one after another (a counter through [`select`](crate::select)'s mixer).
struct Stream {
    seed: u64,
    count: u64,
}

impl Stream {
    /// A draw in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: usize) -> usize {
        self.count += 1;
        (draw(self.seed, self.count) % bound as u64) as usize
    }
}

#[cfg(test)]
mod tests;
