//! Trajectory export for fine-tuning (`codeloop export --format sft`), the rejection-sampling
//! fine-tuning recipe of Zheng et al. (reference/methods.md section 1.9): keep solved trajectories,
//! optionally strip the reasoning and instruction prompts, drop near-duplicate solutions
//! (MinHash/LSH) keeping at most M per problem, and write chat JSON Lines.
//!
//! **Format `codeloop-sft`, version 3**: one JSON object per line:
//! - `format` (`"codeloop-sft"`), `version` (1), `problem`, `trajectory`, `dataset`, `model`,
//!   `strategy`;
//! - `messages`: `[{role, content}]`, the conversation as sent (system, user, assistant, ...);
//!   for the planning and search methods (`mapcoder`, `codetree`...), whose every call is a fresh
//!   conversation, every call's request and answer in order after the system message;
//! - `calls` (since version 3, planning and search methods only): each call's own conversation as
//!   sent, `[[{role, content}]]` (system, the request, the answer), the unit to train on;
//! - `turns`: per program, `{turn, code, extraction, public_passed, hidden_passed, hidden_verdict,
//!   similarity_to_previous, repeats_earlier}` (since version 2: the token similarity to the
//!   program before, `null` for the first, and whether it repeats an earlier program exactly;
//!   see `report::turn_analyses`);
//! - `solved` (the submitted program passed the hidden tests) and `submitted_turn`;
//! - `completions`: per model answer in order, `{turn, purpose, finish_reason, prompt_tokens,
//!   completion_tokens, non_code_share, token_ids, logprobs}` (`non_code_share`, since version 2,
//!   for answers asked for code, else `null`)
//!   (`token_ids` and `logprobs` are `null` where the backend did not give them; after
//!   `--strip-reasoning-prompts` merges answers, they describe the answers as generated).
//!
//! **Stripping** removes reasoning (R), instruction (I1-I6) and retry prompts from user messages.
//! Where a reasoning answer was followed by a user message that only asked for the code, that
//! message is dropped and the two answers become one assistant message, so the model learns to
//! reason without being asked.

use std::collections::HashMap;
use std::io::Write;

use codeloop_store::RunStore;
use codeloop_strategy::{Purpose, SegmentKind, TranscriptMessage};
use codeloop_types::Role;
use serde_json::{Value, json};

use crate::errors::EngineError;
use crate::report::{non_code_share, similarity as token_similarity, tokens};
use crate::run::{LlmStep, RunConfig, TrajectoryRecord, stored_config};

/// Version of the export format.
pub const SFT_VERSION: u32 = 3;

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Only trajectories whose answer passed the hidden tests.
    pub only_solved: bool,
    /// Remove reasoning, instruction and retry prompts (see the module docs).
    pub strip_reasoning_prompts: bool,
    /// At most this many trajectories per problem after near-duplicate removal (`None`: no cap).
    pub max_per_problem: Option<usize>,
    /// Estimated Jaccard similarity (over 5-token shingles of the final code) at or above which two
    /// solutions of a problem are near-duplicates (`None`: keep duplicates).
    pub dedup_threshold: Option<f64>,
}

/// Counts of an export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportCounts {
    /// Trajectories in the store.
    pub seen: u64,
    /// Left out as unsolved.
    pub unsolved: u64,
    /// Left out as near-duplicates.
    pub duplicates: u64,
    /// Left out over the per-problem cap.
    pub over_cap: u64,
    /// Written.
    pub written: u64,
}

const PERMUTATIONS: usize = 64;
const BANDS: usize = 16;
const ROWS: usize = PERMUTATIONS / BANDS;

fn hash64(mut x: u64) -> u64 {
    // splitmix64 finaliser.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn fnv(text: &str) -> u64 {
    crate::stable_hash(0, text.bytes())
}

/// The `MinHash` signature of `code` over 5-token shingles (tokens as `report::tokens` makes
/// them; comments do not count).
#[must_use]
pub fn minhash(code: &str) -> [u64; PERMUTATIONS] {
    let tokens: Vec<&str> = code
        .lines()
        .flat_map(|line| tokens(line.split('#').next().unwrap_or("")))
        .collect();
    let mut sig = [u64::MAX; PERMUTATIONS];
    let shingles: Vec<u64> = if tokens.len() < 5 {
        vec![fnv(&tokens.join(" "))]
    } else {
        tokens.windows(5).map(|w| fnv(&w.join(" "))).collect()
    };
    for s in shingles {
        for (i, slot) in sig.iter_mut().enumerate() {
            *slot = (*slot).min(hash64(s ^ (i as u64).wrapping_mul(0x9e37_79b9)));
        }
    }
    sig
}

/// Estimated Jaccard similarity of two signatures.
#[must_use]
pub fn similarity(a: &[u64; PERMUTATIONS], b: &[u64; PERMUTATIONS]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / PERMUTATIONS as f64
}

/// Keeps the near-duplicate-free prefix: LSH buckets (16 bands of 4 rows) propose candidates, the
/// signature's estimate confirms them. Returns, per input, whether it is kept.
fn dedup(codes: &[&str], threshold: f64) -> Vec<bool> {
    let sigs: Vec<_> = codes.iter().map(|c| minhash(c)).collect();
    let mut buckets: HashMap<(usize, u64), Vec<usize>> = HashMap::new();
    let mut keep = vec![false; codes.len()];
    for (i, sig) in sigs.iter().enumerate() {
        let keys: Vec<(usize, u64)> = (0..BANDS)
            .map(|b| (b, fnv(&format!("{:?}", &sig[b * ROWS..(b + 1) * ROWS]))))
            .collect();
        let duplicate = keys.iter().any(|k| {
            buckets
                .get(k)
                .is_some_and(|c| c.iter().any(|&j| similarity(sig, &sigs[j]) >= threshold))
        });
        if !duplicate {
            keep[i] = true;
            for k in keys {
                buckets.entry(k).or_default().push(i);
            }
        }
    }
    keep
}

/// The messages of a transcript that were sent or answered (answers set aside by `no_repeat`
/// are left out).
fn sent(transcript: &[TranscriptMessage]) -> Vec<TranscriptMessage> {
    transcript
        .iter()
        .filter(|m| !m.discarded)
        .cloned()
        .collect()
}

fn strip(transcript: &[TranscriptMessage]) -> Vec<(Role, String)> {
    let drop = |k: SegmentKind| {
        matches!(
            k,
            SegmentKind::Reasoning | SegmentKind::Instruction | SegmentKind::Retry
        )
    };
    let mut out: Vec<(Role, String)> = Vec::new();
    let mut i = 0;
    while i < transcript.len() {
        let m = &transcript[i];
        let text = |m: &TranscriptMessage| {
            m.segments
                .iter()
                .filter(|s| !drop(s.kind))
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join("\n\n")
        };
        if m.purpose == Some(Purpose::Reason) {
            // Merge "reasoning answer, then a bare code request, then the code" into one answer;
            // the code request moves to the user message before.
            let next_is_bare = transcript.get(i + 1).is_some_and(|u| {
                u.role == Role::User
                    && u.segments.iter().all(|s| {
                        matches!(s.kind, SegmentKind::Instruction | SegmentKind::CodeRequest)
                    })
            });
            if next_is_bare && let Some(code) = transcript.get(i + 2) {
                if let Some(prev) = out.iter_mut().rev().find(|(r, _)| *r == Role::User) {
                    let request = text(&transcript[i + 1]);
                    if !request.is_empty() {
                        prev.1.push_str("\n\n");
                        prev.1.push_str(&request);
                    }
                }
                out.push((Role::Assistant, format!("{}\n\n{}", text(m), text(code))));
                i += 3;
                continue;
            }
        }
        let t = text(m);
        if !(m.role == Role::User && t.trim().is_empty()) {
            out.push((m.role, t));
        }
        i += 1;
    }
    out
}

/// Writes the export of `store` to `out`.
pub fn export_sft(
    store: &RunStore,
    options: &ExportOptions,
    out: &mut dyn Write,
) -> Result<ExportCounts, EngineError> {
    let config = stored_config(store)?;
    let mut counts = ExportCounts::default();
    for problem in store.finished_problems()? {
        let mut group = Vec::new();
        for (t, data) in store.trajectories_of(&problem)? {
            counts.seen += 1;
            let record: TrajectoryRecord =
                serde_json::from_str(&data).map_err(|source| EngineError::RecordUnreadable {
                    path: store.path().to_path_buf(),
                    problem: problem.clone(),
                    trajectory: t,
                    source,
                })?;
            group.push(record);
        }
        write_group(store, &config, options, &group, &mut counts, out)?;
    }
    Ok(counts)
}

/// Filters, deduplicates and writes one problem's trajectories.
fn write_group(
    store: &RunStore,
    config: &RunConfig,
    options: &ExportOptions,
    group: &[TrajectoryRecord],
    counts: &mut ExportCounts,
    out: &mut dyn Write,
) -> Result<(), EngineError> {
    let candidates: Vec<&TrajectoryRecord> = group
        .iter()
        .filter(|r| {
            let keep = r.solved || !options.only_solved;
            counts.unsolved += u64::from(!keep);
            keep
        })
        .collect();
    let finals: Vec<&str> = candidates
        .iter()
        .map(|r| {
            r.submitted_turn
                .and_then(|t| r.programs.iter().rev().find(|p| p.turn == t))
                .map_or("", |p| p.code.as_str())
        })
        .collect();
    let keep = match options.dedup_threshold {
        Some(th) => dedup(&finals, th),
        None => vec![true; finals.len()],
    };
    let mut written_here = 0usize;
    for (r, k) in candidates.iter().zip(keep) {
        if !k {
            counts.duplicates += 1;
            continue;
        }
        if options.max_per_problem.is_some_and(|m| written_here >= m) {
            counts.over_cap += 1;
            continue;
        }
        written_here += 1;
        let line = record_json(store, config, r, options.strip_reasoning_prompts)?;
        writeln!(out, "{line}").map_err(|source| EngineError::Io {
            path: "<export output>".into(),
            source,
        })?;
        counts.written += 1;
    }
    Ok(())
}

fn record_json(
    store: &RunStore,
    config: &RunConfig,
    r: &TrajectoryRecord,
    strip_prompts: bool,
) -> Result<Value, EngineError> {
    let messages: Vec<Value> = if strip_prompts {
        strip(&sent(&r.transcript))
            .into_iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect()
    } else {
        sent(&r.transcript)
            .iter()
            .map(|m| serde_json::to_value(m.message()).expect("messages serialise"))
            .collect()
    };
    let completions: Vec<Value> = store
        .steps(&r.problem, r.trajectory)?
        .into_iter()
        .filter(|s| s.kind == "llm")
        .filter_map(|s| serde_json::from_str::<LlmStep>(&s.data).ok())
        .map(|s| {
            let non_code = (s.purpose == Purpose::Code).then(|| non_code_share(&s.text));
            json!({"turn": s.turn, "purpose": s.purpose, "finish_reason": s.finish_reason,
                   "prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens,
                   "non_code_share": non_code, "token_ids": s.token_ids, "logprobs": s.logprobs})
        })
        .collect();
    let turns: Vec<Value> = r
        .programs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let before = i.checked_sub(1).map(|j| &r.programs[j]);
            let similar = before.map(|b| token_similarity(&b.code, &p.code));
            let repeat = r.programs[..i].iter().any(|b| b.program == p.program);
            json!({"turn": p.turn, "code": p.code, "extraction": p.rule, "public_passed": p.public_passed,
                   "hidden_passed": p.hidden_passed, "hidden_verdict": p.hidden_verdict,
                   "similarity_to_previous": similar, "repeats_earlier": repeat})
        })
        .collect();
    let mut line = json!({
        "format": "codeloop-sft",
        "version": SFT_VERSION,
        "problem": r.problem,
        "trajectory": r.trajectory,
        "dataset": config.dataset,
        "model": config.model,
        "strategy": config.strategy.name,
        "messages": messages,
        "turns": turns,
        "solved": r.solved,
        "submitted_turn": r.submitted_turn,
        "completions": completions,
    });
    if config.strategy.agent.is_some() {
        line["calls"] = Value::Array(calls(&sent(&r.transcript)));
    }
    Ok(line)
}

/// A planning or search method's calls, each its own conversation: the system message, a
/// request and its answer (a request the budget refused, with no answer, is left out).
fn calls(transcript: &[TranscriptMessage]) -> Vec<Value> {
    let system: Vec<Value> = transcript
        .iter()
        .take_while(|m| m.role == Role::System)
        .map(|m| serde_json::to_value(m.message()).expect("messages serialise"))
        .collect();
    transcript
        .windows(2)
        .filter(|w| w[0].role == Role::User && w[1].role == Role::Assistant)
        .map(|w| {
            let mut conversation = system.clone();
            conversation.extend(
                w.iter()
                    .map(|m| serde_json::to_value(m.message()).expect("messages serialise")),
            );
            Value::Array(conversation)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minhash_sees_renamed_whitespace_as_near_and_different_code_as_far() {
        let a =
            "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n";
        let b = "def f(xs):\n    total = 0\n    for x in xs:   # add\n        total += x\n\n    return total";
        let c = "def f(xs):\n    return sorted(set(xs))[::-1]\n";
        assert!(similarity(&minhash(a), &minhash(b)) > 0.95);
        assert!(similarity(&minhash(a), &minhash(c)) < 0.3);
        assert_eq!(dedup(&[a, c, b, a], 0.8), vec![true, true, false, false]);
    }

    #[test]
    fn stripping_merges_reasoning_into_the_answer() {
        use codeloop_strategy::Segment;
        let seg = |kind, text: &str| Segment {
            kind,
            text: text.to_owned(),
        };
        let msg = |role, purpose, segments| TranscriptMessage {
            discarded: false,
            role,
            turn: 1,
            purpose,
            segments,
        };
        let t = vec![
            msg(
                Role::User,
                None,
                vec![
                    seg(SegmentKind::Task, "task"),
                    seg(SegmentKind::Reasoning, "think first"),
                ],
            ),
            msg(
                Role::Assistant,
                Some(Purpose::Reason),
                vec![seg(SegmentKind::Answer, "thoughts")],
            ),
            msg(
                Role::User,
                None,
                vec![
                    seg(SegmentKind::Instruction, "comment lines"),
                    seg(SegmentKind::CodeRequest, "code please"),
                ],
            ),
            msg(
                Role::Assistant,
                Some(Purpose::Code),
                vec![seg(SegmentKind::Answer, "```code```")],
            ),
            msg(
                Role::User,
                None,
                vec![
                    seg(SegmentKind::Feedback, "failed"),
                    seg(SegmentKind::Retry, "naive"),
                    seg(SegmentKind::CodeRequest, "fix"),
                ],
            ),
        ];
        let s = strip(&t);
        assert_eq!(
            s,
            vec![
                (Role::User, "task\n\ncode please".to_owned()),
                (Role::Assistant, "thoughts\n\n```code```".to_owned()),
                (Role::User, "failed\n\nfix".to_owned()),
            ]
        );
    }
}
