//! A scripted model for the run loop's benchmark and its kill/resume test: answers come from the
//! dataset's reference solutions and a fixed script, never from a real model. It is served by the
//! mock `OpenAI` server (`codeloop bench mock-server --dataset ...`) and never answers a real run
//! unless a user points a registry at it.

use std::sync::Arc;

use codeloop_test_support::mock::Responder;
use codeloop_types::Problem;
use serde_json::Value;

/// How the scripted model answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Policy {
    /// A wrong program on turns 1 and 2, the reference solution on turn 3.
    Turn3,
    /// Deterministic in the request's text: the reference solution for about a third of requests,
    /// a wrong program otherwise.
    Hash,
}

fn fnv(text: &str) -> u64 {
    codeloop_engine::stable_hash(0, text.bytes())
}

/// The scripted model over `problems`.
pub(crate) fn responder(problems: &[Problem], policy: Policy) -> Responder {
    let known: Vec<(String, Option<String>, String, &'static str)> = problems
        .iter()
        .filter_map(|p| {
            Some((
                p.public.prompt.trim_end().to_owned(),
                p.entry_point().map(str::to_owned),
                p.reference.as_ref()?.program.clone(),
                p.public.language.name(),
            ))
        })
        .collect();
    let known = Arc::new(known);
    Arc::new(move |body: &Value, choice: u64| {
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let first_user = messages
            .iter()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or("");
        let turn = 1 + messages.iter().filter(|m| m["role"] == "assistant").count();
        let key = format!("{}|{}|{choice}", body["messages"], body["seed"]);
        let h = fnv(&key);
        let Some((_, entry, reference, language)) = known
            .iter()
            .find(|(p, _, _, _)| first_user.contains(p.as_str()))
        else {
            return "I do not know this problem.".to_owned();
        };
        let correct = match policy {
            Policy::Turn3 => turn >= 3,
            Policy::Hash => h.is_multiple_of(3),
        };
        if correct {
            format!("Here is the solution.\n\n```{language}\n{reference}\n```\n")
        } else if let Some(entry) = entry {
            format!(
                "Here is my attempt.\n\n```python\ndef {entry}(*args, **kwargs):\n    raise ValueError(\"attempt {h:x}\")\n```\n"
            )
        } else {
            format!(
                "Here is my attempt.\n\n```python\nprint({})  # attempt {h:x}\n```\n",
                h % 5
            )
        }
    })
}
