//! The prompt library: named templates stored as data (`prompts/default.toml`, embedded in the
//! binary), overridable entry by entry from a user file of the same layout.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::errors::StrategyError;

/// The built-in library.
pub const DEFAULT_PROMPTS: &str = include_str!("../prompts/default.toml");

/// Every template, by family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptLibrary {
    /// Format version of the file.
    pub version: u32,
    /// System messages (`default`).
    pub system: BTreeMap<String, String>,
    /// Problem statements: `code_stub` (a signature with docstring), `description` (prose, a
    /// function to write) and `stdio` (a program reading standard input).
    pub task: BTreeMap<String, String>,
    /// The request for code: `default`, and `fix` after a failed attempt.
    pub code_request: BTreeMap<String, String>,
    /// Reasoning prompts R1..R8 (answered in words before the code).
    pub reasoning: BTreeMap<String, String>,
    /// Instruction prompts I0..I6 (how the code is to be written).
    pub instruction: BTreeMap<String, String>,
    /// Prompts of retry schedules (`guidelines`, `naive`).
    pub retry: BTreeMap<String, String>,
    /// Feedback renderings F1..F3.
    pub feedback: BTreeMap<String, String>,
    /// Requests for model-written tests (`CodeT`, B4, `AlphaCode`'s inputs): `asserts` (function
    /// problems: assert statements on the entry point) and `stdio` (inputs with expected outputs).
    #[serde(default)]
    pub tests: BTreeMap<String, String>,
    /// The planning and search methods' prompts, `<method>-<role>` (`mapcoder-plan`,
    /// `codetree-critic`...): each asked after the problem statement, in a fresh conversation.
    #[serde(default)]
    pub agent: BTreeMap<String, String>,
}

/// Placeholders each family may use.
const VARS: &[(&str, &[&str])] = &[
    ("system", &["language"]),
    ("task", &["prompt", "entry_point", "language"]),
    ("code_request", &["language", "entry_point"]),
    ("reasoning", &["language", "entry_point"]),
    ("instruction", &["language", "entry_point"]),
    ("retry", &["language", "entry_point"]),
    (
        "feedback",
        &[
            "failures",
            "passed",
            "failure",
            "trace",
            "unit",
            "reflections",
            "language",
            "entry_point",
        ],
    ),
    ("tests", &["language", "entry_point", "count", "example"]),
    (
        "agent",
        &[
            "language",
            "entry_point",
            "count",
            "exemplar",
            "algorithm",
            "plan",
            "plans",
            "code",
            "feedback",
            "simulation",
            "reflection",
            "analysis",
            "strategy",
            "direction",
            "insights",
            "style",
            "new_code",
            "new_feedback",
            "change",
        ],
    ),
];

/// Required entries outside the open families.
const REQUIRED: &[(&str, &str)] = &[
    ("system", "default"),
    ("task", "code_stub"),
    ("task", "description"),
    ("task", "stdio"),
    ("code_request", "default"),
    ("code_request", "fix"),
    ("tests", "asserts"),
    ("tests", "stdio"),
];

impl PromptLibrary {
    /// The built-in library.
    #[must_use]
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_PROMPTS, None, "<built-in prompts>")
            .expect("the built-in prompts are valid")
    }

    /// The built-in library with the entries of `path` laid over it.
    pub fn with_overrides(path: &Path) -> Result<Self, StrategyError> {
        let text = std::fs::read_to_string(path).map_err(|source| StrategyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(DEFAULT_PROMPTS, Some(&text), &path.display().to_string())
    }

    fn parse(base: &str, overlay: Option<&str>, origin: &str) -> Result<Self, StrategyError> {
        let bad = |message: String| StrategyError::Prompts {
            origin: origin.to_owned(),
            message,
        };
        let mut value: toml::Table = base.parse().map_err(|e| bad(format!("{e}")))?;
        if let Some(text) = overlay {
            let over: toml::Table = text.parse().map_err(|e| bad(format!("{e}")))?;
            for (family, entries) in over {
                match (value.get_mut(&family), entries) {
                    (Some(toml::Value::Table(mine)), toml::Value::Table(theirs)) => {
                        mine.extend(theirs);
                    }
                    (_, other) => {
                        value.insert(family, other);
                    }
                }
            }
        }
        let library: PromptLibrary = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.message().to_owned()))?;
        if library.version != 1 {
            return Err(bad(format!(
                "field `version` is {}, this codeloop reads version 1",
                library.version
            )));
        }
        for (family, key) in REQUIRED {
            if !library.family(family).contains_key(*key) {
                return Err(bad(format!("missing entry `{family}.{key}`")));
            }
        }
        for (family, vars) in VARS {
            for (key, template) in library.family(family) {
                check_template(template, vars)
                    .map_err(|m| bad(format!("entry `{family}.{key}`: {m}")))?;
            }
        }
        Ok(library)
    }

    /// One family's entries by name.
    #[must_use]
    pub fn family(&self, family: &str) -> &BTreeMap<String, String> {
        match family {
            "system" => &self.system,
            "task" => &self.task,
            "code_request" => &self.code_request,
            "reasoning" => &self.reasoning,
            "instruction" => &self.instruction,
            "retry" => &self.retry,
            "feedback" => &self.feedback,
            "tests" => &self.tests,
            "agent" => &self.agent,
            _ => panic!("no prompt family `{family}`"),
        }
    }

    /// Entry `family.key`, or an error naming it.
    pub fn get(&self, family: &str, key: &str) -> Result<&str, StrategyError> {
        self.family(family)
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| StrategyError::UnknownPrompt {
                family: family.to_owned(),
                key: key.to_owned(),
                known: self
                    .family(family)
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// Checks that `template` uses only `vars` and that its braces balance.
fn check_template(template: &str, vars: &[&str]) -> Result<(), String> {
    let mut names = Vec::new();
    scan(template, |name| names.push(name.to_owned()))?;
    for name in names {
        if !vars.contains(&name.as_str()) {
            return Err(format!(
                "unknown placeholder `{{{name}}}` (this family knows: {})",
                vars.join(", ")
            ));
        }
    }
    Ok(())
}

/// Walks `template`, calling `on_var` for each `{name}`; `{{`/`}}` are literal braces.
fn scan<'a>(template: &'a str, mut on_var: impl FnMut(&'a str)) -> Result<(), String> {
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
            b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
            b'{' => {
                let end = template[i..]
                    .find('}')
                    .ok_or_else(|| format!("unclosed `{{` at byte {i}"))?;
                on_var(&template[i + 1..i + end]);
                i += end + 1;
            }
            b'}' => return Err(format!("stray `}}` at byte {i}")),
            _ => i += 1,
        }
    }
    Ok(())
}

/// Fills `template`'s placeholders from `vars` (a checked template never names a missing one; if it
/// does, the placeholder is left as written).
#[must_use]
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let bytes = template.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'}' if bytes.get(i + 1) == Some(&bytes[i]) => {
                out.push_str(&template[last..=i]);
                i += 2;
                last = i;
            }
            b'{' => {
                let Some(end) = template[i..].find('}') else {
                    break;
                };
                let name = &template[i + 1..i + end];
                out.push_str(&template[last..i]);
                match vars.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&template[i..=i + end]),
                }
                i += end + 1;
                last = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&template[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_both_families() {
        let lib = PromptLibrary::builtin();
        // R1..R8, and the debugging exchanges `verify`, `explain` and `reflect`.
        assert_eq!(lib.reasoning.len(), 11);
        assert_eq!(lib.instruction.len(), 7);
        assert!(lib.get("feedback", "F2").unwrap().contains("{failures}"));
        let e = lib.get("reasoning", "R9").unwrap_err().to_string();
        assert!(e.contains("R9") && e.contains("R1"), "{e}");
    }

    #[test]
    fn render_fills_and_keeps_literal_braces() {
        assert_eq!(
            render("a {x} {{y}} {z}", &[("x", "1"), ("z", "{3}")]),
            "a 1 {y} {3}"
        );
    }

    #[test]
    fn overrides_replace_entries_and_bad_placeholders_are_named() {
        let lib = PromptLibrary::parse(
            DEFAULT_PROMPTS,
            Some("[reasoning]\nR1 = \"think\"\nR9 = \"more\"\n"),
            "x.toml",
        )
        .unwrap();
        assert_eq!(lib.reasoning["R1"], "think");
        assert_eq!(lib.reasoning["R9"], "more");
        let e = PromptLibrary::parse(
            DEFAULT_PROMPTS,
            Some("[feedback]\nF1 = \"{oops}\"\n"),
            "x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("x.toml") && e.contains("feedback.F1") && e.contains("oops"),
            "{e}"
        );
    }
}
