//! The matched-budget table with known answers: `single` with N = 30 samples against
//! `cot-retry` with n = 10 trajectories of T = 3 turns, on `HumanEval/0`, through the real
//! driver, sandbox and store, with a scripted model.
//!
//! - `single`: sample i is correct when i % 3 == 2 (10 of 30), else a program that fails the
//!   public tests;
//! - `cot-retry`: turns 1 and 2 fail the public tests, turn 3 is correct: every trajectory writes
//!   3 programs and ends solved.
//!
//! So at k programs: `single` 1@k is 1 - C(20, k)/C(30, k) (public filter: only correct programs
//! pass), and `cot-retry` 1@k is 0 below k = 3 (the one trajectory bought is cut before its
//! correct turn) and 1 from k = 3 on.

use std::sync::Arc;

use codeloop_sandbox::{Executor, ExecutorConfig};
use codeloop_store::RunStore;

use super::{Axis, compare};
use crate::run::tests::{ByTurn, config, one_problem, run_one_at_a_time};

const CORRECT: &str = "def has_close_elements(numbers, threshold):
    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])";

const WRONG: &str = "def has_close_elements(numbers, threshold):
    return False";

/// `single`: correct on every third call; a multi-turn conversation: correct at turn 3.
fn scripted() -> Arc<dyn codeloop_llm::Backend> {
    Arc::new(ByTurn::new(|turn, call| {
        let correct = if turn > 1 { turn == 3 } else { call % 3 == 2 };
        let program = if correct { CORRECT } else { WRONG };
        format!("```python\n{program}\n```")
    }))
}

fn choose(n: u64, k: u64) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

#[test]
fn single_n30_and_cot_retry_n10_stand_at_the_same_budgets() {
    let executor = Arc::new(Executor::start(&ExecutorConfig::default()).unwrap());
    let (problem, dataset) = one_problem(&executor);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut stores = Vec::new();
    for (dir, (strategy, trajectories)) in dirs.iter().zip([("single", 30), ("cot-retry", 10)]) {
        let mut config = config(&problem, &dataset, strategy);
        config.trajectories = trajectories;
        // One at a time: `single`'s i-th call is its i-th sample.
        let backend = scripted();
        run_one_at_a_time(&executor, dir.path(), config, backend, &problem);
        stores.push(RunStore::open(dir.path()).unwrap());
    }
    let runs: Vec<(String, &RunStore)> = vec![
        ("single".to_owned(), &stores[0]),
        ("cot-retry".to_owned(), &stores[1]),
    ];
    let c = compare(&runs, 1, Some(&[1, 2, 3, 10, 30]), Axis::Programs, 1_000, 0).unwrap();
    // Both spent 30 programs on the problem.
    assert!((c.runs[0].spent_per_problem - 30.0).abs() < 1e-12);
    assert!((c.runs[1].spent_per_problem - 30.0).abs() < 1e-12);
    for row in &c.rows {
        let k = row.budget;
        let single = row.cells[0].as_ref().unwrap();
        let cot = row.cells[1].as_ref().unwrap();
        let want_single = 1.0 - choose(20, k) / choose(30, k);
        let want_cot = if k >= 3 { 1.0 } else { 0.0 };
        // 30! draw orders are too many to list: 2,000 drawn (standard error below 0.012).
        assert!(
            (single.value.mean - want_single).abs() < 0.04,
            "k = {k}: single {} against {want_single}",
            single.value.mean
        );
        assert!(
            (cot.value.mean - want_cot).abs() < 1e-12,
            "k = {k}: cot-retry {} against {want_cot}",
            cot.value.mean
        );
        let d = cot.difference.expect("a paired difference");
        assert!((d.mean - (cot.value.mean - single.value.mean)).abs() < 1e-9);
        assert_eq!((single.saturated, cot.saturated), (0, 0), "k = {k}");
    }
    // Beyond both pools: saturated, and said so.
    let c = compare(&runs, 1, Some(&[31]), Axis::Programs, 100, 0).unwrap();
    assert_eq!(c.rows[0].cells[0].as_ref().unwrap().saturated, 1);
    // On the calls axis the two stand the same (one call per program).
    let calls = compare(&runs, 1, Some(&[3]), Axis::Calls, 100, 0).unwrap();
    assert!((calls.rows[0].cells[1].as_ref().unwrap().value.mean - 1.0).abs() < 1e-12);
}
