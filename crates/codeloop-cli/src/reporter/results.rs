//! The results reporter: when a run finishes, its results are computed from the run store (as
//! `codeloop report` computes them), written to the run directory's `results.json`, and kept for
//! the final table and for `sweep`'s comparison.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use codeloop_engine::events::Event;
use codeloop_engine::report::{RunResults, results};
use codeloop_store::RunStore;

use super::Reporter;

/// Writes `results.json` when the run finishes.
pub(crate) struct ResultsFile {
    resamples: u32,
    dir: Option<PathBuf>,
    results: Option<RunResults>,
    error: Option<anyhow::Error>,
}

impl ResultsFile {
    /// A results reporter whose n@k bootstrap draws `resamples` resamples.
    pub(crate) fn new(resamples: u32) -> Self {
        Self {
            resamples,
            dir: None,
            results: None,
            error: None,
        }
    }

    /// The run's results, if it finished.
    pub(crate) fn into_results(self) -> Option<RunResults> {
        self.results
    }

    fn write(&self, dir: &std::path::Path) -> Result<RunResults> {
        let store = RunStore::open(dir)?;
        let results = results(&store, self.resamples, 0)?;
        let file = dir.join("results.json");
        std::fs::write(&file, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("cannot write {}", file.display()))?;
        Ok(results)
    }
}

impl Reporter for ResultsFile {
    fn event(&mut self, event: &Event) {
        match event {
            Event::RunStarted(s) => self.dir = Some(s.dir.clone()),
            Event::RunFinished(_) => {
                let Some(dir) = self.dir.clone() else {
                    return;
                };
                match self.write(&dir) {
                    Ok(results) => self.results = Some(results),
                    Err(e) => self.error = Some(e),
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self) -> Result<()> {
        self.error.take().map_or(Ok(()), Err)
    }
}

/// Prints a run's results as the final table on standard output (`run`, `report`).
pub(crate) fn print_table(r: &RunResults) {
    println!(
        "{} on {} with {}: {} of {} problems, {} of {} trajectories finished",
        r.strategy,
        r.dataset,
        r.model,
        r.problems,
        r.problems_total,
        r.trajectories,
        r.trajectories_total
    );
    println!();
    println!("turn  programs  public pass  hidden pass  pass@1 after turn  more");
    for t in &r.turns {
        let more: Vec<String> = t
            .pass_at_k_after
            .iter()
            .map(|(k, v)| format!("{k} {:.1}%", 100.0 * v))
            .collect();
        println!(
            "{:>4}  {:>8}  {:>10.1}%  {:>10.1}%  {:>16.1}%  {}",
            t.turn,
            t.programs,
            100.0 * t.public_pass,
            100.0 * t.hidden_pass,
            100.0 * t.pass_at_1_after,
            more.join(", ")
        );
    }
    println!();
    if r.n_at_k.is_empty() {
        println!("pass n@k: no finished trajectories");
    }
    for row in &r.n_at_k {
        println!(
            "pass {}@{} (n = {} trajectories submit; k = turns x n = {} programs at most): {}",
            row.n,
            row.k,
            row.n,
            row.k,
            percent(&row.value)
        );
    }
    for row in &r.budget {
        let saturated = if row.saturated > 0 {
            format!(
                " ({} problem(s) spent their whole pool first)",
                row.saturated
            )
        } else {
            String::new()
        };
        println!(
            "pass {}@{} at a budget of {} {}: {}{saturated}",
            row.n,
            row.k,
            row.k,
            row.axis.name(),
            percent(&row.value)
        );
    }
    for row in &r.baseline {
        println!(
            "single-turn baseline, pass {}@{} (turn-1 programs as samples, filtered by public tests): {}",
            row.n,
            row.k,
            percent(&row.value)
        );
    }
    println!(
        "repair: {} of {} trajectories whose first program failed ended solved",
        r.repaired, r.repair_candidates
    );
    print_turns(&r.turn_analyses);
    println!(
        "spent: {} LLM calls of work, {} prompt + {} completion tokens, {} programs ({:.2} per trajectory), {} test runs ({:.1} s of sandbox CPU)",
        r.spending.llm_calls,
        r.spending.prompt_tokens,
        r.spending.completion_tokens,
        r.spending.programs,
        r.programs_per_trajectory,
        r.spending.executions,
        r.spending.sandbox_cpu_ms as f64 / 1000.0
    );
    let s = &r.session_spending;
    println!(
        "sent: {} LLM requests over {} sessions ({} cut short): {} answered, {} lost to kills, {} failed; {} answers from the response cache",
        s.llm_sent,
        s.sessions,
        s.unfinished,
        s.llm_answered,
        s.llm_lost,
        s.llm_failed,
        s.llm_cached
    );
    if let Some(pool) = &r.pool {
        print_pool(pool);
    }
    let rules: Vec<String> = r
        .extraction
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("extraction: {}", rules.join(", "));
    if !r.read_failures.is_empty() {
        let failures: Vec<String> = r
            .read_failures
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "unreadable answers, replaced by their defaults: {}",
            failures.join(", ")
        );
    }
}

/// How turns changed code (`codeloop_engine::report::turn_analyses`).
fn print_turns(a: &codeloop_engine::report::TurnAnalyses) {
    if a.text.is_empty() {
        return;
    }
    println!(
        "turn by turn: model calls, mean tokens, non-code share of code answers, similarity to the turn before"
    );
    println!("turn  calls  prompt tokens  completion tokens  non-code  similarity  exact repeats");
    for t in &a.text {
        let (similarity, repeats) = a.similarity.iter().find(|s| s.turn == t.turn).map_or(
            ("-".to_owned(), "-".to_owned()),
            |s| {
                (
                    format!("{:.2}", s.similarity),
                    format!("{:.1}%", 100.0 * s.exact_repeats),
                )
            },
        );
        println!(
            "{:>4}  {:>5}  {:>13.1}  {:>17.1}  {:>7.1}%  {:>10}  {:>13}",
            t.turn,
            t.calls,
            t.prompt_tokens,
            t.completion_tokens,
            100.0 * t.non_code_share,
            similarity,
            repeats
        );
    }
    let mut moves: std::collections::BTreeMap<(&str, &str), u64> =
        std::collections::BTreeMap::new();
    for m in &a.transitions {
        *moves.entry((m.from.as_str(), m.to.as_str())).or_insert(0) += m.count;
    }
    if !moves.is_empty() {
        let moves: Vec<String> = moves
            .iter()
            .map(|((from, to), n)| format!("{from} -> {to} {n}"))
            .collect();
        println!(
            "verdicts from one turn to the next (hidden tests): {}",
            moves.join(", ")
        );
    }
    println!(
        "trajectories repeating a program they already tried: {} of {} with more than one program",
        a.repeating_trajectories, a.multi_program_trajectories
    );
}

/// A mean over problems with its interval, in percent.
fn percent(i: &codeloop_strategy::stats::Interval) -> String {
    format!(
        "{:.1}% (95% interval {:.1}-{:.1}% over problems)",
        100.0 * i.mean,
        100.0 * i.lo,
        100.0 * i.hi
    )
}

/// The pool strategy's part of the table.
fn print_pool(p: &codeloop_engine::report::PoolResults) {
    let pct = percent;
    println!();
    println!(
        "pool strategy {}: {} programs and up to {} model-written tests per problem",
        p.selector, p.samples, p.tests
    );
    println!(
        "first submission solved {} of {} problems: pass@1 {}",
        p.solved,
        p.finished + p.unfinished,
        pct(&p.pass_at_1)
    );
    if p.unfinished > 0 {
        println!(
            "  {} problem(s) without a finished pool stage count as unsolved",
            p.unfinished
        );
    }
    for row in &p.n_at_k {
        println!("{} {}@{}: {}", p.selector, row.n, row.k, pct(&row.value));
    }
    println!(
        "model-written tests: {:.1} kept per problem, {} statements rejected, {} duplicates dropped",
        p.tests_kept, p.tests_rejected, p.tests_duplicates
    );
}
