//! Strategy specifications: a turn schedule as data.
//!
//! A strategy file is TOML:
//!
//! ```toml
//! name = "cot-retry"
//! description = "..."
//! max_turns = 3                # code attempts per trajectory
//! stop_on_public_pass = true   # stop once the public tests pass
//! feedback = "F2"              # F1 | F2 | F2-all | F3 | F4 (a failing test's trace)
//!
//! [[turn]]                     # turn 1
//! instruction = "I0"           # I0..I6 (default I0)
//! # reasoning = "R1"           # R1..R8: a reasoning exchange before the code request
//! [[turn]]                     # turn 2
//! retry = "guidelines"         # a retry prompt added to the feedback
//! # reasoning = "verify"       # on a later turn: an exchange before the fix (LDB's verification)
//!
//! reflections = 0              # Reflexion: each attempt afresh with the last N reflections
//! no_repeat = 0                # ask again (at most N times a turn) when a program repeats
//!
//! [trace]                      # what F4 records (all optional; LDB's defaults)
//! level = "block"              # block | line | function
//! first = 5                    # steps kept from the start of a long trace
//! last = 5                     # and from its end
//!
//! [budget]                     # per trajectory (all optional): no call or program past them
//! llm_calls = 8
//! tokens = 4096                # prompt plus completion; no call starts past it
//! programs = 10
//! ```
//!
//! A planning or search method replaces the turn schedule (see [`crate::agent`]):
//!
//! ```toml
//! name = "mapcoder-k5"
//! [agent.mapcoder]             # mapcoder | codesim | paircoder | codetree | sfs
//! exemplars = 5                # each method's parameters, defaults from its released code
//! ```
//!
//! Turns past the last `[[turn]]` reuse it. Names of the built-in strategies: see
//! [`BUILTIN_STRATEGIES`]; a name `[Rk-]Ij-Fl[-tN]` composes a grid cell (reasoning on turn 1 only).

use std::path::Path;

use serde::{Deserialize, Serialize};

use codeloop_types::TraceSpec;

use crate::agent::Method;
use crate::errors::StrategyError;
use crate::feedback::Granularity;
use crate::prompts::PromptLibrary;

/// What one turn adds to the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnSpec {
    /// A reasoning prompt answered in words before the code request.
    #[serde(default)]
    pub reasoning: Option<String>,
    /// The instruction prompt of the code request.
    #[serde(default = "default_instruction")]
    pub instruction: String,
    /// A retry prompt (`guidelines`, `naive`) put with the feedback.
    #[serde(default)]
    pub retry: Option<String>,
}

fn default_instruction() -> String {
    "I0".to_owned()
}

fn default_true() -> bool {
    true
}

/// A turn schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySpec {
    /// Its name.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Code attempts per trajectory (Zheng's N).
    #[serde(default = "default_turns")]
    pub max_turns: u32,
    /// Stop a trajectory once its program passes the public tests.
    #[serde(default = "default_true")]
    pub stop_on_public_pass: bool,
    /// Feedback granularity after a failed attempt.
    #[serde(default = "default_feedback")]
    pub feedback: Granularity,
    /// Per-turn prompts; turns past the last reuse it.
    #[serde(default = "default_schedule", rename = "turn")]
    pub turns: Vec<TurnSpec>,
    /// What F4 traces record (`[trace]`: `level` = block | line | function, `first` and `last`
    /// steps kept, `chars` per value); LDB's defaults.
    #[serde(default)]
    pub trace: TraceSpec,
    /// Reflexion: after a failed attempt the model writes a reflection on it, and each new attempt
    /// starts a fresh conversation holding the last `reflections` of them. 0 (the default): one
    /// growing conversation.
    #[serde(default)]
    pub reflections: u32,
    /// When an answer's program repeats one the trajectory already tried, set it aside and ask
    /// again, at most this many times per turn (each a model call, counted in the budget). 0 (the
    /// default): keep every answer.
    #[serde(default)]
    pub no_repeat: u32,
    /// A planning or search method run instead of the turn schedule (`[agent.<method>]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Method>,
    /// What one trajectory may spend (`[budget]`).
    #[serde(default, skip_serializing_if = "TrajectoryBudget::is_unlimited")]
    pub budget: TrajectoryBudget,
}

/// What one trajectory may spend; the driver refuses the call or program past a cap, and the
/// policy then submits its pick of what it has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrajectoryBudget {
    /// Most LLM calls.
    #[serde(default)]
    pub llm_calls: Option<u64>,
    /// Most prompt plus completion tokens (no call starts once they are spent).
    #[serde(default)]
    pub tokens: Option<u64>,
    /// Most programs generated.
    #[serde(default)]
    pub programs: Option<u64>,
}

impl TrajectoryBudget {
    /// Whether no cap is set.
    #[must_use]
    pub fn is_unlimited(&self) -> bool {
        *self == TrajectoryBudget::default()
    }
}

fn default_turns() -> u32 {
    3
}

fn default_feedback() -> Granularity {
    Granularity::FirstFailure
}

fn default_schedule() -> Vec<TurnSpec> {
    vec![TurnSpec {
        reasoning: None,
        instruction: default_instruction(),
        retry: None,
    }]
}

/// The built-in strategies: name and description.
pub const BUILTIN_STRATEGIES: &[(&str, &str)] = &[
    (
        "cot-retry",
        "Zheng et al.'s CoT-retry: turn 1 plain; after a failure, F2 feedback and 'write guidelines, then code'; then 'write a naive solution' (3 turns, stop on public pass)",
    ),
    ("single", "one plain attempt (I0), no feedback"),
    (
        "multi-turn",
        "3 plain attempts with F2 feedback after each failure (stop on public pass)",
    ),
    (
        "ldb",
        "LDB: a plain attempt, then up to 10 rounds of: trace a failing public test block by block (F4), the model's verdict on each block, a fix (stop on public pass)",
    ),
    (
        "reflexion",
        "Reflexion: after a failure, every failing test (F2-all) and a reflection by the model; each new attempt starts afresh with the last 3 reflections; up to 6 attempts",
    ),
    (
        "self-debug",
        "Self-Debugging with unit-test feedback and explanation: after a failure, every failing test (F2-all), the model explains its code line by line, then fixes it; up to 10 rounds",
    ),
    (
        "self-debug-simple",
        "Self-Debugging, simple feedback: 'your code failed' (F1), then a fix; up to 10 rounds",
    ),
    (
        "self-debug-unit-test",
        "Self-Debugging, unit-test feedback: every failing test (F2-all), then a fix; up to 10 rounds",
    ),
    (
        "self-debug-trace",
        "Self-Debugging, trace feedback: a failing test's trace (F4) and its explanation, then a fix; up to 10 rounds",
    ),
    (
        "mapcoder",
        "MapCoder: recall k = 3 similar problems, a plan per problem with its confidence, then code from each plan in confidence order with up to t = 5 debugging rounds; stop on public pass",
    ),
    (
        "codesim",
        "CODESIM: up to p = 5 times: plan, simulate the plan on a sample input (refine it if the simulation says so), code, then up to d = 5 debugging rounds; stop on public pass",
    ),
    (
        "paircoder",
        "PairCoder: the navigator reflects and proposes plans, clustered to 3; the driver codes the navigator's chosen plan, with analysed fixes, switching plans when an attempt repeats; at most 10 programs, else the one closest to the expected outputs",
    ),
    (
        "codetree",
        "CodeTree: strategies from a thinker, then depth-first over solutions and reflections (depth 3), a critic scoring failures (abort below the parent) and accepting passes; at most 20 programs",
    ),
    (
        "sfs",
        "Scattered Forest Search: diverse seed solutions, then UCT over the forest, each expansion a new improvement direction from a scattering of them, insights shared across branches; the best-scoring program",
    ),
];

impl StrategySpec {
    /// A built-in strategy or a composed grid cell by name, else a strategy file at that path.
    pub fn resolve(name_or_path: &str, library: &PromptLibrary) -> Result<Self, StrategyError> {
        let spec = if let Some(spec) = Self::builtin(name_or_path) {
            spec
        } else if let Some(spec) = Self::composed(name_or_path) {
            spec
        } else if Path::new(name_or_path).exists() {
            let path = Path::new(name_or_path);
            let text = std::fs::read_to_string(path).map_err(|source| StrategyError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            Self::parse(&text, name_or_path)?
        } else {
            return Err(StrategyError::Spec {
                origin: name_or_path.to_owned(),
                message: format!(
                    "no such strategy file, and not a built-in name ({}) or a grid cell like `R1-I5-F2-t3`",
                    BUILTIN_STRATEGIES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        spec.validate(library, name_or_path)?;
        Ok(spec)
    }

    /// Parses a strategy file's text.
    pub fn parse(text: &str, origin: &str) -> Result<Self, StrategyError> {
        toml::from_str(text).map_err(|e| StrategyError::Spec {
            origin: origin.to_owned(),
            message: e.message().to_owned(),
        })
    }

    fn builtin(name: &str) -> Option<Self> {
        let plain = TurnSpec {
            reasoning: None,
            instruction: "I0".to_owned(),
            retry: None,
        };
        let retry = |r: &str| TurnSpec {
            retry: Some(r.to_owned()),
            ..plain.clone()
        };
        let description = BUILTIN_STRATEGIES
            .iter()
            .find(|(n, _)| *n == name)?
            .1
            .to_owned();
        let before_fix = |r: &str| TurnSpec {
            reasoning: Some(r.to_owned()),
            ..plain.clone()
        };
        // The debugging strategies: a first attempt, then 10 rounds of feedback and a fix (LDB's
        // `max_iters`; Self-Debugging's turn cap as methods.md reads the paper).
        let debug = |feedback, exchange: Option<&str>| {
            let later = exchange.map_or_else(|| plain.clone(), before_fix);
            (11, feedback, vec![plain.clone(), later])
        };
        if let Some(method) = Method::builtin(name) {
            return Some(StrategySpec {
                name: name.to_owned(),
                description,
                max_turns: default_turns(),
                stop_on_public_pass: true,
                feedback: default_feedback(),
                turns: default_schedule(),
                trace: TraceSpec::default(),
                reflections: 0,
                no_repeat: 0,
                agent: Some(method),
                budget: TrajectoryBudget::default(),
            });
        }
        let (max_turns, feedback, turns) = match name {
            "cot-retry" => (
                3,
                Granularity::FirstFailure,
                vec![plain.clone(), retry("guidelines"), retry("naive")],
            ),
            "single" => (1, Granularity::FirstFailure, vec![plain]),
            "multi-turn" => (3, Granularity::FirstFailure, vec![plain]),
            "ldb" => debug(Granularity::Trace, Some("verify")),
            // 1 + `--max_iters 5` of the released `run_reflexion.sh`.
            "reflexion" => (6, Granularity::AllFailures, vec![plain]),
            "self-debug" => debug(Granularity::AllFailures, Some("explain")),
            "self-debug-simple" => debug(Granularity::Binary, None),
            "self-debug-unit-test" => debug(Granularity::AllFailures, None),
            "self-debug-trace" => debug(Granularity::Trace, Some("explain")),
            _ => return None,
        };
        Some(StrategySpec {
            name: name.to_owned(),
            description,
            max_turns,
            stop_on_public_pass: true,
            feedback,
            turns,
            trace: TraceSpec::default(),
            reflections: if name == "reflexion" { 3 } else { 0 },
            no_repeat: 0,
            agent: None,
            budget: TrajectoryBudget::default(),
        })
    }

    /// A grid cell: `[Rk-]Ij-Fl[-tN]` (default 3 turns; reasoning on the first turn only).
    #[must_use]
    pub fn composed(name: &str) -> Option<Self> {
        let mut parts = name.split('-').peekable();
        let reasoning = match parts.peek() {
            Some(p) if p.starts_with('R') && p[1..].parse::<u32>().is_ok() => {
                Some(parts.next()?.to_owned())
            }
            _ => None,
        };
        let instruction = parts.next().filter(|p| p.starts_with('I'))?.to_owned();
        let mut feedback = parts.next().filter(|p| p.starts_with('F'))?.to_owned();
        if parts.peek() == Some(&"all") {
            parts.next();
            feedback.push_str("-all");
        }
        let feedback = Granularity::parse(&feedback)?;
        let max_turns = match parts.next() {
            Some(t) => t.strip_prefix('t')?.parse().ok().filter(|&t| t >= 1)?,
            None => 3,
        };
        if parts.next().is_some() {
            return None;
        }
        let first = TurnSpec {
            reasoning,
            instruction: instruction.clone(),
            retry: None,
        };
        let later = TurnSpec {
            reasoning: None,
            instruction,
            retry: None,
        };
        Some(StrategySpec {
            name: name.to_owned(),
            description: format!("grid cell {name}"),
            max_turns,
            stop_on_public_pass: true,
            feedback,
            turns: vec![first, later],
            trace: TraceSpec::default(),
            reflections: 0,
            no_repeat: 0,
            agent: None,
            budget: TrajectoryBudget::default(),
        })
    }

    /// The spec with `key` set to `value` (TOML syntax; a bare word is a string). A key without a
    /// dot names a parameter of the spec's method (`exemplars` sets `agent.mapcoder.exemplars`)
    /// or else a top-level field; a dotted key is a path (`budget.llm_calls`). Unknown keys and
    /// ill-typed values are named in the error.
    pub fn with_param(&self, key: &str, value: &str) -> Result<Self, StrategyError> {
        let bad = |message: String| StrategyError::Spec {
            origin: format!("--param {key}={value}"),
            message,
        };
        let parsed: toml::Value = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_owned()));
        let mut value_tree = toml::Value::try_from(self).map_err(|e| bad(e.to_string()))?;
        let mut path: Vec<String> = key.split('.').map(str::to_owned).collect();
        if let (Some(method), 1) = (&self.agent, path.len())
            && value_tree.get(key).is_none()
        {
            path = vec!["agent".into(), method.name().into(), key.to_owned()];
        }
        let mut at = &mut value_tree;
        for (i, part) in path.iter().enumerate() {
            let table = at
                .as_table_mut()
                .ok_or_else(|| bad(format!("`{}` is not a table", path[..i].join("."))))?;
            if i + 1 == path.len() {
                table.insert(part.clone(), parsed.clone());
                break;
            }
            at = table
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        }
        value_tree
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.message().to_owned()))
    }

    /// The most programs (turns) one trajectory writes: the schedule's `max_turns`, or the
    /// method's most, within the per-trajectory `[budget]`.
    #[must_use]
    pub fn most_programs(&self) -> u32 {
        let most = self
            .agent
            .as_ref()
            .map_or(self.max_turns, Method::max_programs);
        self.budget
            .programs
            .map_or(most, |cap| most.min(u32::try_from(cap).unwrap_or(u32::MAX)))
            .max(1)
    }

    /// The prompts of turn `t` (1-based).
    #[must_use]
    pub fn turn(&self, t: u32) -> &TurnSpec {
        let i = (t as usize)
            .saturating_sub(1)
            .min(self.turns.len().saturating_sub(1));
        &self.turns[i]
    }

    /// Checks the schedule against the library: every named prompt exists.
    pub fn validate(&self, library: &PromptLibrary, origin: &str) -> Result<(), StrategyError> {
        let bad = |message: String| StrategyError::Spec {
            origin: origin.to_owned(),
            message,
        };
        if self.max_turns == 0 || self.max_turns > 100 {
            return Err(bad("field `max_turns` must be 1..=100".to_owned()));
        }
        if let Some(method) = &self.agent {
            method.validate(library).map_err(bad)?;
        }
        if self.turns.is_empty() {
            return Err(bad("needs at least one `[[turn]]`".to_owned()));
        }
        for (i, t) in self.turns.iter().enumerate() {
            let field = |f: &str| format!("turn {} field `{f}`", i + 1);
            if let Some(r) = &t.reasoning {
                library
                    .get("reasoning", r)
                    .map_err(|e| bad(format!("{}: {e}", field("reasoning"))))?;
            }
            library
                .get("instruction", &t.instruction)
                .map_err(|e| bad(format!("{}: {e}", field("instruction"))))?;
            if let Some(r) = &t.retry {
                library
                    .get("retry", r)
                    .map_err(|e| bad(format!("{}: {e}", field("retry"))))?;
            }
        }
        library
            .get("feedback", self.feedback.template())
            .map_err(|e| bad(format!("field `feedback`: {e}")))?;
        if self.reflections > 0 {
            for (family, key) in [("reasoning", "reflect"), ("feedback", "memory")] {
                library
                    .get(family, key)
                    .map_err(|e| bad(format!("field `reflections`: {e}")))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_and_grid_cells_resolve() {
        let lib = PromptLibrary::builtin();
        let c = StrategySpec::resolve("cot-retry", &lib).unwrap();
        assert_eq!(c.max_turns, 3);
        assert_eq!(c.turn(3).retry.as_deref(), Some("naive"));
        assert_eq!(c.turn(9).retry.as_deref(), Some("naive"));
        let g = StrategySpec::resolve("R5-I5-F2-all-t2", &lib).unwrap();
        assert_eq!(g.turn(1).reasoning.as_deref(), Some("R5"));
        assert_eq!(g.turn(2).reasoning, None);
        assert_eq!(g.feedback, Granularity::AllFailures);
        assert_eq!(g.max_turns, 2);
        assert_eq!(StrategySpec::resolve("I1-F1", &lib).unwrap().max_turns, 3);
        let e = StrategySpec::resolve("R9-I0-F1", &lib)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("turn 1 field `reasoning`") && e.contains("R9"),
            "{e}"
        );
        let e = StrategySpec::resolve("nope", &lib).unwrap_err().to_string();
        assert!(e.contains("cot-retry"), "{e}");
    }

    #[test]
    fn params_set_a_methods_fields_or_any_path_and_name_what_is_wrong() {
        let lib = PromptLibrary::builtin();
        let mapcoder = StrategySpec::resolve("mapcoder", &lib).unwrap();
        let mapcoder = mapcoder.with_param("exemplars", "5").unwrap();
        let mapcoder = mapcoder.with_param("budget.llm_calls", "8").unwrap();
        assert_eq!(mapcoder.budget.llm_calls, Some(8));
        let Some(Method::Mapcoder(params)) = &mapcoder.agent else {
            panic!("{mapcoder:?}")
        };
        assert_eq!((params.exemplars, params.debug_rounds), (5, 5));
        let e = mapcoder
            .with_param("nonsense", "1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--param nonsense=1") && e.contains("nonsense"),
            "{e}"
        );
        let e = mapcoder
            .with_param("exemplars", "many")
            .unwrap_err()
            .to_string();
        assert!(e.contains("exemplars"), "{e}");
        let sfs = StrategySpec::resolve("sfs", &lib).unwrap();
        let sfs = sfs.with_param("exploration", "0.5").unwrap();
        assert!(
            matches!(&sfs.agent, Some(Method::Sfs(params)) if (params.exploration - 0.5).abs() < 1e-12)
        );
        let cot = StrategySpec::resolve("cot-retry", &lib).unwrap();
        assert_eq!(cot.with_param("max_turns", "2").unwrap().max_turns, 2);
    }

    #[test]
    fn method_files_need_no_schedule() {
        let lib = PromptLibrary::builtin();
        let s = StrategySpec::parse(
            "name = \"m\"\n[agent.codetree]\nmax_programs = 8\n[budget]\nllm_calls = 8\n",
            "m.toml",
        )
        .unwrap();
        s.validate(&lib, "m.toml").unwrap();
        assert!(
            matches!(&s.agent, Some(Method::Codetree(p)) if p.max_programs == 8 && p.max_depth == 3)
        );
        let e = StrategySpec::parse("name = \"m\"\n[agent.codetree]\ndepth = 8\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.toml") && e.contains("depth"), "{e}");
    }

    #[test]
    fn files_parse_with_named_errors() {
        let s = StrategySpec::parse(
            "name = \"x\"\nmax_turns = 2\nfeedback = \"F3\"\n[[turn]]\nreasoning = \"R2\"\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(s.turn(1).instruction, "I0");
        assert!(s.stop_on_public_pass);
        let e = StrategySpec::parse("name = \"x\"\nmax_turns = 2\nfeedback = \"F9\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("F9"), "{e}");
    }
}
