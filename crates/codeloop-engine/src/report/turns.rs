//! How turns change code (Zheng et al.'s analyses), from a run's finished trajectories:
//!
//! - **similarity** of each program to the one before it in its trajectory: 1 minus the token
//!   edit distance (Levenshtein over tokens: runs of letters, digits and `_`, and every other
//!   non-space character alone) over the longer program's token count; and the share of **exact
//!   repeats** (the same program text);
//! - **non-code share** of each answer asked for code: characters outside its fenced code blocks
//!   over all its characters but the fence lines (an answer with no fence, taken whole as code,
//!   counts 0);
//! - the **verdict transitions** between consecutive programs: pairs (verdict class at turn t,
//!   at turn t + 1), classes as the hidden tests gave them (`pass`, `wrong_answer`,
//!   `runtime_error`, ...);
//! - **tokens per turn**: prompt and completion tokens of the model calls of each turn, reasoning
//!   and debugging exchanges included;
//! - **trajectories repeating** a program they already tried, at any earlier turn.

use std::collections::{BTreeMap, BTreeSet};

use codeloop_store::RunStore;
use codeloop_strategy::Purpose;
use serde::Serialize;

use crate::errors::EngineError;
use crate::run::TrajectoryRecord;
use crate::run::ledger::for_each_answer;

/// Programs longer than this many tokens are compared on their first this many (the edit
/// distance is quadratic; a runaway answer of thousands of lines would cost seconds).
const MAX_TOKENS: usize = 5_000;

/// One turn's similarity to the turn before.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SimilarityRow {
    /// The turn (from 2).
    pub turn: u32,
    /// Programs at this turn with a program at the turn before.
    pub pairs: u64,
    /// Mean similarity to the previous turn's program (1: identical).
    pub similarity: f64,
    /// Share of exact repeats of the previous turn's program.
    pub exact_repeats: f64,
}

/// One turn's answers and tokens.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TurnTextRow {
    /// The turn.
    pub turn: u32,
    /// Model calls of this turn.
    pub calls: u64,
    /// Mean prompt tokens per call.
    pub prompt_tokens: f64,
    /// Mean completion tokens per call.
    pub completion_tokens: f64,
    /// Answers asked for code.
    pub code_answers: u64,
    /// Their mean share of non-code characters.
    pub non_code_share: f64,
}

/// Consecutive programs going from one verdict class to another.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Transition {
    /// The earlier program's turn.
    pub from_turn: u32,
    /// Its verdict class.
    pub from: String,
    /// The next program's.
    pub to: String,
    /// How many times.
    pub count: u64,
}

/// The turn-by-turn analyses of a run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TurnAnalyses {
    /// Similarity of each turn's programs to the turn before's.
    pub similarity: Vec<SimilarityRow>,
    /// Tokens and non-code share per turn.
    pub text: Vec<TurnTextRow>,
    /// Verdict transitions between consecutive programs.
    pub transitions: Vec<Transition>,
    /// Trajectories with more than one program.
    pub multi_program_trajectories: u64,
    /// Of those, the ones that wrote a program they had already written.
    pub repeating_trajectories: u64,
}

/// A program's tokens (see the module's header).
#[must_use]
pub fn tokens(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in code.char_indices() {
        let word = c.is_alphanumeric() || c == '_';
        match (word, start) {
            (true, None) => start = Some(i),
            (true, Some(_)) => {}
            (false, s) => {
                if let Some(s) = s {
                    out.push(&code[s..i]);
                    start = None;
                }
                if !c.is_whitespace() {
                    out.push(&code[i..i + c.len_utf8()]);
                }
            }
        }
    }
    if let Some(s) = start {
        out.push(&code[s..]);
    }
    out
}

/// 1 minus the token edit distance of `a` and `b` over the longer one's token count.
#[must_use]
pub fn similarity(a: &str, b: &str) -> f64 {
    let (mut x, mut y) = (tokens(a), tokens(b));
    x.truncate(MAX_TOKENS);
    y.truncate(MAX_TOKENS);
    let longer = x.len().max(y.len());
    if longer == 0 {
        return 1.0;
    }
    1.0 - strsim::generic_levenshtein(&x, &y) as f64 / longer as f64
}

/// The share of `answer`'s characters outside its fenced code blocks (see the module's header).
#[must_use]
pub fn non_code_share(answer: &str) -> f64 {
    let (mut code, mut prose, mut inside, mut fenced) = (0usize, 0usize, false, false);
    for line in answer.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
            fenced = true;
            continue;
        }
        let n = line.chars().count() + 1;
        if inside {
            code += n;
        } else {
            prose += n;
        }
    }
    if !fenced || code + prose == 0 {
        return 0.0;
    }
    prose as f64 / (code + prose) as f64
}

/// Accumulates one turn's figures.
#[derive(Default)]
struct Sums {
    pairs: u64,
    similarity: f64,
    repeats: u64,
    calls: u64,
    prompt: u64,
    completion: u64,
    code_answers: u64,
    non_code: f64,
}

/// The analyses of `store`'s finished trajectories.
pub fn turn_analyses(store: &RunStore) -> Result<TurnAnalyses, EngineError> {
    let mut turns: BTreeMap<u32, Sums> = BTreeMap::new();
    let mut transitions: BTreeMap<(u32, String, String), u64> = BTreeMap::new();
    let mut finished = BTreeSet::new();
    let (mut multi, mut repeating) = (0u64, 0u64);
    let mut bad = None;
    store.for_each_trajectory(|problem, t, data| {
        let record: TrajectoryRecord = match serde_json::from_str(data) {
            Ok(r) => r,
            Err(source) => {
                bad.get_or_insert(EngineError::RecordUnreadable {
                    path: store.path().to_path_buf(),
                    problem: problem.to_owned(),
                    trajectory: t,
                    source,
                });
                return;
            }
        };
        finished.insert((problem.to_owned(), t));
        let programs = &record.programs;
        for pair in programs.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            let sums = turns.entry(after.turn).or_default();
            sums.pairs += 1;
            sums.similarity += similarity(&before.code, &after.code);
            sums.repeats += u64::from(before.program == after.program);
            *transitions
                .entry((
                    before.turn,
                    before.hidden_verdict.clone(),
                    after.hidden_verdict.clone(),
                ))
                .or_insert(0) += 1;
        }
        if programs.len() > 1 {
            multi += 1;
            let distinct: BTreeSet<&str> = programs.iter().map(|p| p.program.as_str()).collect();
            repeating += u64::from(distinct.len() < programs.len());
        }
    })?;
    if let Some(e) = bad {
        return Err(e);
    }
    for_each_answer(store, |problem, t, answer| {
        if !finished.contains(&(problem.to_owned(), t)) {
            return;
        }
        let sums = turns.entry(answer.turn).or_default();
        sums.calls += 1;
        sums.prompt += answer.prompt_tokens;
        sums.completion += answer.completion_tokens;
        if answer.purpose == Purpose::Code {
            sums.code_answers += 1;
            sums.non_code += non_code_share(&answer.text);
        }
    })?;
    let mean = |sum: f64, n: u64| if n == 0 { 0.0 } else { sum / n as f64 };
    Ok(TurnAnalyses {
        similarity: turns
            .iter()
            .filter(|(_, s)| s.pairs > 0)
            .map(|(&turn, s)| SimilarityRow {
                turn,
                pairs: s.pairs,
                similarity: mean(s.similarity, s.pairs),
                exact_repeats: mean(s.repeats as f64, s.pairs),
            })
            .collect(),
        text: turns
            .iter()
            .filter(|(_, s)| s.calls > 0)
            .map(|(&turn, s)| TurnTextRow {
                turn,
                calls: s.calls,
                prompt_tokens: mean(s.prompt as f64, s.calls),
                completion_tokens: mean(s.completion as f64, s.calls),
                code_answers: s.code_answers,
                non_code_share: mean(s.non_code, s.code_answers),
            })
            .collect(),
        transitions: transitions
            .into_iter()
            .map(|((from_turn, from, to), count)| Transition {
                from_turn,
                from,
                to,
                count,
            })
            .collect(),
        multi_program_trajectories: multi,
        repeating_trajectories: repeating,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_words_and_single_symbols() {
        assert_eq!(
            tokens("def f(x_1):\n    return x_1+10  # ok"),
            [
                "def", "f", "(", "x_1", ")", ":", "return", "x_1", "+", "10", "#", "ok"
            ]
        );
        assert!(tokens(" \n\t").is_empty());
    }

    #[test]
    fn similarity_is_one_minus_the_normalised_token_edit_distance() {
        assert!((similarity("a = 1", "a = 1") - 1.0).abs() < 1e-12);
        // `return x` -> `return x + 1`: 2 insertions over 4 tokens.
        assert!((similarity("return x", "return x + 1") - 0.5).abs() < 1e-12);
        // One substitution in 5 tokens.
        assert!((similarity("y = x * 2", "y = x * 3") - 0.8).abs() < 1e-12);
        assert!((similarity("", "") - 1.0).abs() < 1e-12);
        assert!(similarity("a b c", "").abs() < 1e-12);
    }

    #[test]
    fn non_code_share_counts_characters_outside_fences() {
        // "Here:\n" is 6 characters of prose, "x = 1\n" 6 of code; the fence lines count for
        // neither.
        let answer = "Here:\n```python\nx = 1\n```";
        assert!((non_code_share(answer) - 0.5).abs() < 1e-12);
        assert!(non_code_share("x = 1\ny = 2").abs() < 1e-12);
        assert!(non_code_share("```python\nx = 1\n```").abs() < 1e-12);
        // An unclosed fence: the rest is code.
        let unclosed = "abc\n```\nx = 1\ny = 2";
        assert!((non_code_share(unclosed) - 4.0 / 16.0).abs() < 1e-12);
    }
}
