//! A scripted model for the run loop's benchmark and its kill/resume test: answers come from the
//! dataset's reference solutions and a fixed script, never from a real model. A request for tests
//! (a pool strategy's) is answered with the problem's public examples as asserts or input and
//! output blocks, and for one request in three a wrong test besides. It is served by the
//! mock `OpenAI` server (`codeloop bench mock-server --dataset ...`) and never answers a real run
//! unless a user points a registry at it.

use std::fmt::Write as _;
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
    /// As `hash` for code, and well-formed answers to the planning and search methods' requests
    /// for plans, lists, scores and verdicts (a model that keeps every format).
    Planner,
}

/// A well-formed answer to a planning or search method's request for words, by what it asks
/// for; `None` for a request for code.
fn structured_answer(request: &str, h: u64) -> Option<String> {
    // The request is the last paragraph (before it: the statement, plans, code and feedback).
    let last = request.rsplit("\n\n").next().unwrap_or(request);
    let asks = |phrase: &str| last.contains(phrase);
    Some(if asks("<algorithm>") {
        "<problem><description>Add two numbers.</description><code>a + b</code><plan>1. add</plan></problem>\n<problem><description>Sum a list.</description><code>sum(xs)</code><plan>1. loop</plan></problem>\n<algorithm>Brute force: try every case.</algorithm>".to_owned()
    } else if asks("Confidence: N") {
        format!("The plan looks right.\nConfidence: {}", 40 + h % 60)
    } else if asks("Plan Modification Needed") {
        if h.is_multiple_of(2) {
            "Plan Modification Needed"
        } else {
            "No Need to Modify Plan"
        }
        .to_owned()
    } else if asks("Score: N") {
        format!("Score: {}", h % 6)
    } else if asks("True if it should be accepted") {
        if h.is_multiple_of(2) { "True" } else { "False" }.to_owned()
    } else if asks("`Plan: N`") {
        format!("Plan: {}", 1 + h % 2)
    } else if asks("<plan>...</plan>") && asks("Do not write code") {
        format!("<plan>\n1. Read the input.\n2. Compute the answer ({h:x}).\n</plan>")
    } else if asks("numbered list") || asks("Update the insights") || asks("bullet points") {
        format!(
            "1. Handle the edge cases first ({h:x}).\n2. Use a simpler loop.\n3. Check the types."
        )
    } else if asks("Do not write code") {
        format!("The code misses a case ({h:x}).")
    } else {
        return None;
    })
}

fn fnv(text: &str) -> u64 {
    codeloop_engine::stable_hash(0, text.bytes())
}

/// What the scripted model knows of a problem.
struct Known {
    prompt: String,
    entry: Option<String>,
    /// The reference solution (`None`: the dataset has none, so every program is wrong).
    reference: Option<String>,
    language: &'static str,
    /// The public tests: input as shown, expected output (or value) as shown.
    examples: Vec<(String, String)>,
}

/// An answer to a request for tests: the public examples as asserts (function problems) or
/// input and output blocks (stdio), and, for one request in three, a wrong one besides.
fn tests_answer(entry: Option<&str>, examples: &[(String, String)], h: u64) -> String {
    let wrong = h.is_multiple_of(3).then(|| examples.first()).flatten();
    let mut out = String::from("Here are tests.\n\n");
    if entry.is_some() {
        out.push_str("```python\n");
        for (input, expected) in examples {
            let _ = writeln!(out, "assert {input} == {expected}");
        }
        if let Some((input, _)) = wrong {
            let _ = writeln!(out, "assert {input} == None");
        }
        out.push_str("```\n");
        return out;
    }
    let mut block = |input: &str, output: &str| {
        let _ = writeln!(
            out,
            "```input\n{}\n```\n```output\n{}\n```",
            input.trim_end(),
            output.trim_end()
        );
    };
    for (input, expected) in examples {
        block(input, expected);
    }
    if let Some((input, _)) = wrong {
        block(input, "wrong");
    }
    out
}

/// The scripted model over `problems`.
pub(crate) fn responder(problems: &[Problem], policy: Policy) -> Responder {
    let known: Vec<Known> = problems
        .iter()
        .map(|p| Known {
            prompt: p.public.prompt.trim_end().to_owned(),
            entry: p.entry_point().map(str::to_owned),
            reference: p.reference.as_ref().map(|r| r.program.clone()),
            language: p.public.language.name(),
            examples: p
                .public
                .public_tests
                .tests
                .iter()
                .filter_map(|t| Some((t.input.clone(), t.expected.clone()?)))
                .collect(),
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
        let Some(Known {
            entry,
            reference,
            language,
            examples,
            ..
        }) = known
            .iter()
            .find(|k| first_user.contains(k.prompt.as_str()))
        else {
            return "I do not know this problem.".to_owned();
        };
        let last_user = messages
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or("");
        if last_user.contains("Do not solve the problem") {
            return tests_answer(entry.as_deref(), examples, h);
        }
        if policy == Policy::Planner
            && let Some(answer) = structured_answer(last_user, h)
        {
            return answer;
        }
        let correct = match policy {
            Policy::Turn3 => turn >= 3,
            Policy::Hash | Policy::Planner => h.is_multiple_of(3),
        };
        if let Some(reference) = reference.as_ref().filter(|_| correct) {
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
