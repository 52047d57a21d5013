//! The turn analyses of a real run (driver, sandbox, store) with a scripted model whose answers
//! are known, against values computed by hand.
//!
//! `multi-turn` (3 turns, F2), 2 trajectories on `HumanEval/0`. Every answer is the prose line
//! "Let me think." and one fenced program: turn 1 a wrong one, turn 2 the same wrong one again,
//! turn 3 a correct one.

use std::sync::Arc;

use codeloop_sandbox::{Executor, ExecutorConfig};

use super::turn_analyses;
use crate::run::tests::{ByTurn, config, one_problem, run_one_at_a_time};

const CORRECT: &str = "def has_close_elements(numbers, threshold):
    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])";

const WRONG: &str = "def has_close_elements(numbers, threshold):
    return False";

#[test]
fn turn_analyses_of_a_scripted_run_match_the_hand_counted_values() {
    let executor = Arc::new(Executor::start(&ExecutorConfig::default()).unwrap());
    let (problem, dataset) = one_problem(&executor);
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&problem, &dataset, "multi-turn");
    config.trajectories = 2;
    // Wrong on turns 1 and 2 (the same program), right on turn 3.
    let scripted = Arc::new(ByTurn::new(|turn, _| {
        let program = if turn == 3 { CORRECT } else { WRONG };
        format!("Let me think.\n```python\n{program}\n```")
    }));
    let (store, _) = run_one_at_a_time(&executor, dir.path(), config, scripted, &problem);
    let a = turn_analyses(&store).unwrap();

    // Turn 2 repeats turn 1 exactly. Turn 3: the wrong program's 10 tokens against the correct
    // one's 39 share their first 9; then 1 substitution and 29 insertions: 1 - 30/39.
    let similarity: Vec<(u32, u64, f64, f64)> = a
        .similarity
        .iter()
        .map(|s| (s.turn, s.pairs, s.similarity, s.exact_repeats))
        .collect();
    assert_eq!(similarity.len(), 2, "{similarity:?}");
    assert_eq!((similarity[0].0, similarity[0].1), (2, 2));
    assert!((similarity[0].2 - 1.0).abs() < 1e-12 && (similarity[0].3 - 1.0).abs() < 1e-12);
    assert_eq!((similarity[1].0, similarity[1].1), (3, 2));
    assert!(
        (similarity[1].2 - 9.0 / 39.0).abs() < 1e-12,
        "{similarity:?}"
    );
    assert!(similarity[1].3.abs() < 1e-12);

    // "Let me think.\n" is 14 characters of prose; the wrong program's lines 61 of code, the
    // correct one's 139.
    let text: Vec<(u32, u64, f64, f64, f64)> = a
        .text
        .iter()
        .map(|t| {
            (
                t.turn,
                t.calls,
                t.prompt_tokens,
                t.completion_tokens,
                t.non_code_share,
            )
        })
        .collect();
    let want = [(1, 14.0 / 75.0), (2, 14.0 / 75.0), (3, 14.0 / 153.0)];
    assert_eq!(text.len(), 3);
    for ((turn, calls, prompt, completion, share), (want_turn, want_share)) in text.iter().zip(want)
    {
        assert_eq!((*turn, *calls), (want_turn, 2));
        // The scripted model is charged 10 prompt and 5 completion tokens per call.
        assert!((prompt - 10.0).abs() < 1e-12 && (completion - 5.0).abs() < 1e-12);
        assert!(
            (share - want_share).abs() < 1e-12,
            "turn {turn}: {share} vs {want_share}"
        );
    }

    let moves: Vec<(u32, &str, &str, u64)> = a
        .transitions
        .iter()
        .map(|m| (m.from_turn, m.from.as_str(), m.to.as_str(), m.count))
        .collect();
    assert_eq!(
        moves,
        [
            (1, "wrong_answer", "wrong_answer", 2),
            (2, "wrong_answer", "pass", 2)
        ]
    );
    assert_eq!(
        (a.repeating_trajectories, a.multi_program_trajectories),
        (2, 2)
    );
}
