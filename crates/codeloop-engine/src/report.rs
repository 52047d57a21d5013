//! Results of a run, computed from its store alone (`codeloop report RUN` recomputes them without
//! calling the model or running a program).
//!
//! - **per turn** `t`: how many trajectories reached it, the public and hidden pass rates of its
//!   programs, and pass@1 *after* `t` turns (a trajectory's answer after `t` turns is its last
//!   program up to turn `t`), plus pass@k after `t` turns for the k the pool allows;
//! - **pass n@k** for multi-turn (Zheng et al.): n trajectories submit their final programs, which
//!   costs up to k = T n programs. Exact (pass@n over trajectories, reference/methods.md section 1.6)
//!   and by bootstrap (10,000 seeded resamples, 95% percentile interval);
//! - **single-turn baseline** at the same budgets: the turn-1 programs as independent samples, k
//!   drawn and up to n public-passing ones submitted (exact closed form and bootstrap), where the pool
//!   holds k samples per problem;
//! - **repair rate**: of trajectories whose first program failed the hidden tests, the share whose
//!   answer passed;
//! - **spending**: work spending (what the journal's finished trajectories hold: LLM calls, tokens,
//!   programs, executions), the same for a run killed and resumed as for one left alone, so
//!   comparisons and identity checks use it; extraction rules used;
//! - **`session_spending`** (since version 2): what the invocations that worked on the run sent to
//!   the model, from the store's `sessions` table, including requests lost to kills (money a paid
//!   API charged). It differs between a run killed and resumed and one left alone, and nothing
//!   compares it.

use std::collections::BTreeMap;

use codeloop_store::RunStore;
use serde::Serialize;

use crate::errors::EngineError;
use crate::metrics::{Bootstrap, bootstrap_n_at_k, mean_pass_at_k, pass_n_at_k};
use crate::run::{Spending, TrajectoryRecord, stored_config};

/// Version of the results layout.
pub const RESULTS_VERSION: u32 = 2;

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
    /// Program budget (turns x n).
    pub k: u64,
    /// Exact value.
    pub exact: f64,
    /// Bootstrap estimate.
    pub bootstrap: Bootstrap,
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
    /// pass n@k rows.
    pub n_at_k: Vec<NkRow>,
    /// The single-turn baseline at the same budgets: the turn-1 programs as independent samples,
    /// k of them drawn, up to n of those passing the public tests submitted (exact closed form).
    pub single_turn_n_at_k: Vec<NkRow>,
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
    /// Per-problem: trajectories and solved ones.
    pub per_problem: BTreeMap<String, (u64, u64)>,
}

/// Computes a run's results from its store. `resamples` and `seed` drive the bootstrap.
pub fn results(store: &RunStore, resamples: u32, seed: u64) -> Result<RunResults, EngineError> {
    let config = stored_config(store)?;
    let max_turns = config.strategy.max_turns;
    // Per problem: per trajectory, solved-after-t for t = 1..=T, and the final answer.
    let mut pools: BTreeMap<String, Vec<Vec<bool>>> = BTreeMap::new();
    let mut first_pools: BTreeMap<String, Vec<(bool, bool)>> = BTreeMap::new();
    let mut programs_at = vec![0u64; max_turns as usize];
    let mut public_at = vec![0u64; max_turns as usize];
    let mut hidden_at = vec![0u64; max_turns as usize];
    let mut spending = Spending::default();
    let mut extraction = BTreeMap::new();
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
        spending.add_trajectory(&record);
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
    let mut n_at_k = Vec::new();
    if min_m > 0 {
        let last = (max_turns - 1) as usize;
        let bool_pools: Vec<Vec<(bool, bool)>> = pools
            .values()
            .map(|trajs| trajs.iter().map(|a| (true, a[last])).collect())
            .collect();
        for n in [1u64, 10, 33, 100] {
            if n > min_m {
                break;
            }
            let exact = bool_pools
                .iter()
                .map(|p| {
                    let c = p.iter().filter(|s| s.1).count() as u64;
                    pass_n_at_k(p.len() as u64, p.len() as u64, c, n, n)
                })
                .sum::<Result<f64, _>>()?
                / bool_pools.len() as f64;
            let bootstrap = bootstrap_n_at_k(&bool_pools, n as usize, n as usize, resamples, seed)?;
            n_at_k.push(NkRow {
                n,
                k: n * u64::from(max_turns),
                exact,
                bootstrap,
            });
        }
    }
    let mut single_turn_n_at_k = Vec::new();
    let min_first = first_pools.values().map(Vec::len).min().unwrap_or(0) as u64;
    if first_pools.len() == pools.len() && min_first > 0 {
        let first: Vec<Vec<(bool, bool)>> = first_pools.into_values().collect();
        for n in [1u64, 10, 33, 100] {
            let k = n * u64::from(max_turns);
            if k > min_first {
                break;
            }
            let exact = first
                .iter()
                .map(|p| {
                    let public = p.iter().filter(|s| s.0).count() as u64;
                    let correct = p.iter().filter(|s| s.1).count() as u64;
                    pass_n_at_k(p.len() as u64, public, correct, n, k)
                })
                .sum::<Result<f64, _>>()?
                / first.len() as f64;
            let bootstrap = bootstrap_n_at_k(&first, n as usize, k as usize, resamples, seed)?;
            single_turn_n_at_k.push(NkRow {
                n,
                k,
                exact,
                bootstrap,
            });
        }
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
        single_turn_n_at_k,
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
        per_problem,
    })
}
