//! Results of a run, computed from its store alone (`codeloop report RUN` recomputes them without
//! calling the model or running a program).
//!
//! - **per turn** `t`: how many trajectories reached it, the public and hidden pass rates of its
//!   programs, and pass@1 *after* `t` turns (a trajectory's answer after `t` turns is its last
//!   program up to turn `t`), plus pass@k after `t` turns for the k the pool allows;
//! - **pass n@k, n trajectories** (Zheng et al.'s protocol): n trajectories submit their final
//!   programs, which costs up to k = T n programs: pass@n over trajectories, exact per problem;
//! - **pass n@k at a budget of k programs** (`budget`, see [`budget`](mod@budget)): any (n, k), for
//!   any run, trajectories bought until k programs are spent; `--n-at-k` picks the pairs
//!   (default: Zheng et al.'s 1@T, 10@10T, 33@100T/3, 100@100T where no pool is too small) and
//!   `--budget tokens|calls` the unit;
//! - **single-turn baseline** at the same pairs (`baseline`): the turn-1 programs as independent
//!   samples, k drawn and up to n public-passing ones submitted (exact closed form), where the pool
//!   holds k samples per problem;
//! - every n@k is a mean over **all** the run's problems (a problem with no finished trajectory
//!   counts as unsolved) with a 95% interval by bootstrap over problems (`resamples`, seeded);
//! - **repair rate**: of trajectories whose first program failed the hidden tests, the share whose
//!   answer passed;
//! - **spending**: work spending (what the journal's finished trajectories hold: LLM calls, tokens,
//!   programs, executions), the same for a run killed and resumed as for one left alone, so
//!   comparisons and identity checks use it; extraction rules used;
//! - **`session_spending`** (since version 2): what the invocations that worked on the run sent to
//!   the model, from the store's `sessions` table, including requests lost to kills (money a paid
//!   API charged). It differs between a run killed and resumed and one left alone, and nothing
//!   compares it.
//! - **turn analyses** (`turn_analyses`, since version 4): how turns change code: similarity of
//!   consecutive programs and exact repeats, non-code share of answers, verdict transitions,
//!   tokens per turn, trajectories repeating a program (see [`turn_analyses`]).

use std::collections::BTreeMap;

use codeloop_store::RunStore;
use serde::Serialize;

pub mod budget;
pub mod compare;
#[cfg(test)]
mod compare_tests;
mod pool;
mod turns;
#[cfg(test)]
mod turns_tests;

pub use budget::{Axis, BudgetRow, Pools, parse_pairs, zheng_pairs};
pub use compare::{Compared, ComparedCell, ComparedRow, ComparedRun, compare};
pub use pool::{PoolNkRow, PoolResults, default_pairs, pool_records, pool_results};
pub use turns::{
    SimilarityRow, Transition, TurnAnalyses, TurnTextRow, non_code_share, similarity, tokens,
    turn_analyses,
};

use crate::errors::EngineError;
use codeloop_strategy::stats::Interval;

use crate::metrics::{mean_pass_at_k, pass_n_at_k};
use crate::run::{Spending, TrajectoryRecord, stored_config};

/// Version of the results layout.
pub const RESULTS_VERSION: u32 = 5;

/// One turn's row.
#[derive(Debug, Clone, Serialize)]
pub struct TurnRow {
    /// The turn (1-based).
    pub turn: u32,
    /// Programs written at this turn.
    pub programs: u64,
    /// Share of them passing the public tests.
    pub public_pass: f64,
    /// Share of them passing the hidden tests.
    pub hidden_pass: f64,
    /// pass@1 of the answers after this many turns (mean over problems).
    pub pass_at_1_after: f64,
    /// pass@k after this many turns, for k = 10, 100 where every problem has k trajectories.
    pub pass_at_k_after: BTreeMap<String, f64>,
}

/// One n@k row.
#[derive(Debug, Clone, Serialize)]
pub struct NkRow {
    /// Submissions.
    pub n: u64,
    /// Programs (for n trajectories: at most turns x n).
    pub k: u64,
    /// The exact value per problem, averaged over the run's problems, with its bootstrap interval
    /// over problems.
    pub value: Interval,
}

/// What `results` computes beyond the defaults.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The (n, k) pairs of the budget and baseline rows (`None`: Zheng et al.'s, where no pool
    /// is too small).
    pub pairs: Option<Vec<(u64, u64)>>,
    /// What k counts.
    pub axis: Axis,
    /// Bootstrap resamples.
    pub resamples: u32,
    /// Bootstrap seed.
    pub seed: u64,
}

impl ReportOptions {
    /// The defaults, with `resamples` and `seed` for the bootstrap.
    #[must_use]
    pub fn new(resamples: u32, seed: u64) -> Self {
        ReportOptions {
            pairs: None,
            axis: Axis::Programs,
            resamples,
            seed,
        }
    }
}

/// Session spending: what the invocations sent, summed (see `codeloop_store::SessionRow`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionSpending {
    /// Invocations that worked on the run.
    pub sessions: u64,
    /// Of those, the ones that did not end (killed, or still running).
    pub unfinished: u64,
    /// Requests sent to the model (each counted before it was sent, so a kill between the two
    /// counts a request that never left).
    pub llm_sent: u64,
    /// Answers served by the response cache instead (not sent).
    pub llm_cached: u64,
    /// Answers to sent requests that were journaled.
    pub llm_answered: u64,
    /// Sent requests that ended in an error.
    pub llm_failed: u64,
    /// Sent requests whose answers were lost (in flight, or not yet journaled, at a kill).
    pub llm_lost: u64,
    /// Prompt tokens of the journaled answers (a lost answer's tokens are unknown).
    pub prompt_tokens: u64,
    /// Completion tokens of the journaled answers.
    pub completion_tokens: u64,
}

impl SessionSpending {
    /// Sums the store's sessions.
    #[must_use]
    pub fn of(sessions: &[codeloop_store::SessionRow]) -> Self {
        let mut s = SessionSpending {
            sessions: sessions.len() as u64,
            ..SessionSpending::default()
        };
        for r in sessions {
            s.unfinished += u64::from(r.end.is_none());
            s.llm_sent += r.llm_sent;
            s.llm_cached += r.llm_cached;
            s.llm_answered += r.llm_answered;
            s.llm_failed += r.llm_failed;
            s.llm_lost += r.llm_sent.saturating_sub(r.llm_answered + r.llm_failed);
            s.prompt_tokens += r.prompt_tokens;
            s.completion_tokens += r.completion_tokens;
        }
        s
    }
}

/// A run's results.
#[derive(Debug, Clone, Serialize)]
pub struct RunResults {
    /// Layout version.
    pub version: u32,
    /// The strategy's name.
    pub strategy: String,
    /// The model.
    pub model: String,
    /// The dataset.
    pub dataset: String,
    /// Problems with at least one finished trajectory.
    pub problems: u64,
    /// Problems in the run.
    pub problems_total: u64,
    /// Finished trajectories.
    pub trajectories: u64,
    /// Trajectories in the run.
    pub trajectories_total: u64,
    /// Share of finished trajectories whose answer passed the hidden tests.
    pub solved_rate: f64,
    /// Per-turn rows.
    pub turns: Vec<TurnRow>,
    /// pass n@k rows, n trajectories submitting (k = turns x n programs at most).
    pub n_at_k: Vec<NkRow>,
    /// pass n@k at a budget of k (programs, tokens or calls), trajectories bought until it is
    /// spent.
    pub budget: Vec<BudgetRow>,
    /// The single-turn baseline at the budget rows' pairs (programs): the turn-1 programs as
    /// independent samples, k of them drawn, up to n of those passing the public tests submitted
    /// (exact closed form).
    pub baseline: Vec<NkRow>,
    /// Trajectories whose first program failed the hidden tests.
    pub repair_candidates: u64,
    /// Of those, the ones whose answer passed.
    pub repaired: u64,
    /// Mean programs per trajectory.
    pub programs_per_trajectory: f64,
    /// Work spending (compare runs on this).
    pub spending: Spending,
    /// Session spending (what was sent, kills included; never compared).
    pub session_spending: SessionSpending,
    /// How many programs each extraction rule produced.
    pub extraction: BTreeMap<String, u64>,
    /// Structured answers (plans, scores, lists, verdicts) a planning or search method could not
    /// read and replaced by its documented default, by what was read (since version 5).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub read_failures: BTreeMap<String, u64>,
    /// Per-problem: trajectories and solved ones.
    pub per_problem: BTreeMap<String, (u64, u64)>,
    /// Per-problem work spending: LLM calls, tokens, programs, executions and sandbox CPU (a
    /// pool strategy's tests included).
    pub per_problem_spending: BTreeMap<String, Spending>,
    /// A pool strategy's results (since version 3; `None`: every trajectory submits its own
    /// answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolResults>,
    /// How turns change code (since version 4).
    pub turn_analyses: TurnAnalyses,
}

/// Computes a run's results from its store with the default pairs. `resamples` and `seed` drive
/// the bootstrap.
pub fn results(store: &RunStore, resamples: u32, seed: u64) -> Result<RunResults, EngineError> {
    results_with(store, &ReportOptions::new(resamples, seed))
}

/// Computes a run's results from its store.
pub fn results_with(store: &RunStore, options: &ReportOptions) -> Result<RunResults, EngineError> {
    let (resamples, seed) = (options.resamples, options.seed);
    let config = stored_config(store)?;
    let max_turns = config.strategy.most_programs();
    // Per problem: per trajectory, solved-after-t for t = 1..=T, and the final answer.
    let mut pools: BTreeMap<String, Vec<Vec<bool>>> = BTreeMap::new();
    let mut first_pools: BTreeMap<String, Vec<(bool, bool)>> = BTreeMap::new();
    let mut programs_at = vec![0u64; max_turns as usize];
    let mut public_at = vec![0u64; max_turns as usize];
    let mut hidden_at = vec![0u64; max_turns as usize];
    let mut spending = Spending::default();
    let mut per_problem_spending: BTreeMap<String, Spending> = BTreeMap::new();
    let mut extraction = BTreeMap::new();
    let mut read_failures: BTreeMap<String, u64> = BTreeMap::new();
    let (mut repair_candidates, mut repaired, mut finished, mut solved) = (0u64, 0u64, 0u64, 0u64);
    let mut bad = None;
    store.for_each_trajectory(|problem, t, data| {
        let record: TrajectoryRecord = match serde_json::from_str(data) {
            Ok(r) => r,
            Err(source) => {
                bad.get_or_insert((problem.to_owned(), t, source));
                return;
            }
        };
        finished += 1;
        solved += u64::from(record.solved);
        for f in &record.read_failures {
            *read_failures.entry(f.field.clone()).or_insert(0) += 1;
        }
        spending.add_trajectory(&record);
        per_problem_spending
            .entry(problem.to_owned())
            .or_default()
            .add_trajectory(&record);
        let mut after = Vec::with_capacity(max_turns as usize);
        for turn in 1..=max_turns {
            let answer = record
                .programs
                .iter()
                .rfind(|p| p.turn <= turn)
                .is_some_and(|p| p.hidden_passed);
            after.push(answer);
        }
        // The submitted answer decides the last column (a trajectory may stop before turn T).
        if let Some(last) = after.last_mut() {
            *last = record.solved;
        }
        for p in &record.programs {
            let i = (p.turn.max(1) - 1) as usize;
            if i < programs_at.len() {
                programs_at[i] += 1;
                public_at[i] += u64::from(p.public_passed == Some(true));
                hidden_at[i] += u64::from(p.hidden_passed);
            }
            *extraction
                .entry(
                    serde_json::to_value(p.rule)
                        .expect("rules serialise")
                        .as_str()
                        .unwrap_or("?")
                        .to_owned(),
                )
                .or_insert(0) += 1;
        }
        if record.programs.first().is_some_and(|p| !p.hidden_passed) {
            repair_candidates += 1;
            repaired += u64::from(record.solved);
        }
        if let Some(p) = record.programs.first() {
            // No public tests: every program is submittable.
            first_pools.entry(problem.to_owned()).or_default().push((
                p.public_passed != Some(false),
                p.hidden_passed && p.public_passed != Some(false),
            ));
        }
        pools.entry(problem.to_owned()).or_default().push(after);
    })?;
    if let Some((problem, trajectory, source)) = bad {
        return Err(EngineError::RecordUnreadable {
            path: store.path().to_path_buf(),
            problem,
            trajectory,
            source,
        });
    }
    let min_m = pools.values().map(Vec::len).min().unwrap_or(0) as u64;
    let mut turns = Vec::new();
    for turn in 1..=max_turns {
        let i = (turn - 1) as usize;
        let counts: Vec<(u64, u64)> = pools
            .values()
            .map(|trajs| {
                (
                    trajs.len() as u64,
                    trajs.iter().filter(|a| a[i]).count() as u64,
                )
            })
            .collect();
        let mut pass_at_k_after = BTreeMap::new();
        for k in [10u64, 100] {
            if k <= min_m
                && let Some(v) = mean_pass_at_k(&counts, k)
            {
                pass_at_k_after.insert(format!("pass@{k}"), v);
            }
        }
        let rate = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        turns.push(TurnRow {
            turn,
            programs: programs_at[i],
            public_pass: rate(public_at[i], programs_at[i]),
            hidden_pass: rate(hidden_at[i], programs_at[i]),
            pass_at_1_after: mean_pass_at_k(&counts, 1).unwrap_or(0.0),
            pass_at_k_after,
        });
    }
    // Per problem of the run, in order; a problem without a finished trajectory is 0.
    let per_problem_of = |f: &dyn Fn(&str) -> Result<f64, EngineError>| {
        config
            .problems
            .iter()
            .map(|p| f(p.as_str()))
            .collect::<Result<Vec<f64>, EngineError>>()
    };
    let mut n_at_k = Vec::new();
    let last = (max_turns - 1) as usize;
    for n in [1u64, 10, 33, 100] {
        if n > min_m {
            break;
        }
        let values = per_problem_of(&|p| {
            let Some(trajs) = pools.get(p) else {
                return Ok(0.0);
            };
            let m = trajs.len() as u64;
            let c = trajs.iter().filter(|a| a[last]).count() as u64;
            pass_n_at_k(m, m, c, n, n)
        })?;
        n_at_k.push(NkRow {
            n,
            k: n * u64::from(max_turns),
            value: budget::interval(&values, resamples, seed),
        });
    }
    let budget_pools = Pools::of(store)?;
    let pairs = if let Some(pairs) = &options.pairs {
        pairs.clone()
    } else {
        // Zheng et al.'s pairs where every problem's pool holds k programs, and always the
        // first.
        let most = budget_pools.min_programs();
        zheng_pairs(max_turns)
            .into_iter()
            .enumerate()
            .filter(|&(i, (_, k))| i == 0 || k <= most)
            .map(|(_, pair)| pair)
            .collect()
    };
    let budget = if budget_pools.is_empty() {
        Vec::new()
    } else {
        budget::budget_rows(
            &budget_pools,
            &config.problems,
            &pairs,
            options.axis,
            resamples,
            seed,
        )
    };
    let min_first = first_pools.values().map(Vec::len).min().unwrap_or(0) as u64;
    let mut baseline = Vec::new();
    for &(n, k) in &pairs {
        if k > min_first || first_pools.len() != pools.len() {
            continue;
        }
        let values = per_problem_of(&|p| {
            let Some(first) = first_pools.get(p) else {
                return Ok(0.0);
            };
            let public = first.iter().filter(|s| s.0).count() as u64;
            let correct = first.iter().filter(|s| s.1).count() as u64;
            pass_n_at_k(first.len() as u64, public, correct, n, k)
        })?;
        baseline.push(NkRow {
            n,
            k,
            value: budget::interval(&values, resamples, seed),
        });
    }
    let per_problem = pools
        .iter()
        .map(|(p, trajs)| {
            let last = (max_turns - 1) as usize;
            (
                p.clone(),
                (
                    trajs.len() as u64,
                    trajs.iter().filter(|a| a[last]).count() as u64,
                ),
            )
        })
        .collect();
    let pool = match &config.pool {
        Some(spec) => {
            let records = pool_records(store)?;
            for r in &records {
                spending.add_pool(r);
                per_problem_spending
                    .entry(r.problem.clone())
                    .or_default()
                    .add_pool(r);
            }
            Some(pool_results(
                spec,
                config.sampling.seed,
                config.problems.len(),
                &records,
                &options
                    .pairs
                    .clone()
                    .unwrap_or_else(|| default_pairs(spec.samples)),
                resamples,
                seed,
            ))
        }
        None => None,
    };
    Ok(RunResults {
        version: RESULTS_VERSION,
        strategy: config.strategy.name.clone(),
        model: config.model.clone(),
        dataset: config.dataset.clone(),
        problems: pools.len() as u64,
        problems_total: config.problems.len() as u64,
        trajectories: finished,
        trajectories_total: config.problems.len() as u64 * u64::from(config.trajectories),
        solved_rate: if finished == 0 {
            0.0
        } else {
            solved as f64 / finished as f64
        },
        turns,
        n_at_k,
        budget,
        baseline,
        repair_candidates,
        repaired,
        programs_per_trajectory: if finished == 0 {
            0.0
        } else {
            spending.programs as f64 / finished as f64
        },
        spending,
        session_spending: SessionSpending::of(&store.sessions()?),
        extraction,
        read_failures,
        per_problem,
        per_problem_spending,
        pool,
        turn_analyses: turn_analyses(store)?,
    })
}
