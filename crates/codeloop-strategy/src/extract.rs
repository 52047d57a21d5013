//! Cutting the program out of a model's answer, by documented rules.
//!
//! **Which text is the code** (the first rule that applies fires, and is recorded):
//! 1. `last_tagged`: the last *closed* fenced block whose info string names the target language
//!    (for Python: `python`, `py`, `python3`);
//! 2. `last_fenced`: the last closed fenced block, whatever its tag;
//! 3. `unclosed`: the text after an opening fence that never closes (the answer ran out of tokens);
//! 4. `whole`: the whole answer.
//!
//! A fence is a line whose trimmed text starts with three backticks. An extraction that finds no code
//! still yields a program (prose is a syntax error, nothing is an empty program): a failed extraction
//! is a failed program, never a free retry.
//!
//! **Clean-up for function problems** (the tests call a function; nothing may read stdin or run at
//! import time by accident):
//! - a top-level `if __name__ == "__main__":` block is removed, with everything indented under it;
//! - a top-level line that calls `input(` is removed;
//!
//! **Assembly** with the problem's completion prefix (`HumanEval`'s prompt: imports, helpers, the
//! signature and docstring): if the code starts indented it is a function body and is appended to the
//! prefix; otherwise the prefix is put in front of it, so imports and helper functions the prompt
//! gives are there even when the answer drops them, and the answer's own `def` replaces the stub.
//!
//! **JavaScript** (tags `javascript`, `js`, `node`) and **Rust** (`rust`, `rs`): an answer that
//! defines the entry function (`const name`, `let`, `var`, `function name`, `fn name`) is the
//! program (a Rust answer loses its `main`); otherwise it is a body appended to the prefix.
//!
//! **Go** (`go`, `golang`): `package` lines and `func main` go; an answer defining the entry
//! function gets the prompt's imports only when it has no imports of its own (Go rejects a repeated
//! import); otherwise it is a body appended to the prefix.
//!
//! **C++** (tags `cpp`, `c++`, `cc`, `cxx`): a top-level `main` function in the answer is removed
//! (the tests bring their own). If the answer defines the entry function (`name(` followed by a
//! `{`), the prefix's `#include`, `#define` and `using` lines are put in front of it (the prefix's own
//! signature would be a second definition); otherwise the answer is a body appended to the prefix.

use serde::{Deserialize, Serialize};

/// Which extraction rule fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtractRule {
    /// The last closed block tagged with the target language.
    LastTagged,
    /// The last closed block.
    LastFenced,
    /// An opening fence that never closes.
    Unclosed,
    /// The whole answer.
    Whole,
}

/// A program cut out of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    /// The code as found (after clean-up).
    pub code: String,
    /// The program to run: the code assembled with the completion prefix.
    pub program: String,
    /// Which rule found the code.
    pub rule: ExtractRule,
    /// Whether a `__main__` block was removed.
    pub removed_main_block: bool,
    /// How many top-level `input(` lines were removed.
    pub removed_input_lines: u32,
    /// Whether the code was a bare function body appended to the prefix.
    pub body_only: bool,
}

struct Block<'a> {
    tag: &'a str,
    lines: Vec<&'a str>,
    closed: bool,
}

fn fences(text: &str) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    let mut open: Option<Block<'_>> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("```") {
            match open.take() {
                Some(mut b) if rest.trim().is_empty() => {
                    b.closed = true;
                    blocks.push(b);
                }
                Some(b) => {
                    // A new opening fence inside an open block: the first was never closed.
                    blocks.push(b);
                    open = Some(Block {
                        tag: rest.trim(),
                        lines: Vec::new(),
                        closed: false,
                    });
                }
                None => {
                    open = Some(Block {
                        tag: rest.trim(),
                        lines: Vec::new(),
                        closed: false,
                    });
                }
            }
        } else if let Some(b) = open.as_mut() {
            b.lines.push(line);
        }
    }
    blocks.extend(open);
    blocks
}

fn is_language_tag(tag: &str, language: &str) -> bool {
    let first = tag
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match language {
        "python" => matches!(first.as_str(), "python" | "py" | "python3"),
        "cpp" => matches!(first.as_str(), "cpp" | "c++" | "cc" | "cxx"),
        "javascript" => matches!(first.as_str(), "javascript" | "js" | "node"),
        "rust" => matches!(first.as_str(), "rust" | "rs"),
        "java" => first == "java",
        "go" => matches!(first.as_str(), "go" | "golang"),
        other => first == other,
    }
}

/// Finds the code in `answer` for `language`.
#[must_use]
pub fn find_code(answer: &str, language: &str) -> (String, ExtractRule) {
    let blocks = fences(answer);
    let join = |b: &Block<'_>| b.lines.join("\n");
    if let Some(b) = blocks
        .iter()
        .rev()
        .find(|b| b.closed && is_language_tag(b.tag, language))
    {
        return (join(b), ExtractRule::LastTagged);
    }
    if let Some(b) = blocks.iter().rev().find(|b| b.closed) {
        return (join(b), ExtractRule::LastFenced);
    }
    if let Some(b) = blocks.iter().rev().find(|b| !b.closed) {
        return (join(b), ExtractRule::Unclosed);
    }
    (answer.trim().to_owned(), ExtractRule::Whole)
}

/// Removes top-level `__main__` blocks and `input(` lines from Python code; returns the code and what
/// was removed.
fn clean_python(code: &str) -> (String, bool, u32) {
    let mut out: Vec<&str> = Vec::new();
    let mut in_main = false;
    let mut removed_main = false;
    let mut removed_input = 0;
    for line in code.lines() {
        let top_level = !line.starts_with([' ', '\t']) && !line.trim().is_empty();
        if in_main {
            if top_level {
                in_main = false;
            } else {
                continue;
            }
        }
        if top_level {
            let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            if compact.starts_with("if__name__==") && compact.contains("__main__") {
                in_main = true;
                removed_main = true;
                continue;
            }
            if line.contains("input(") {
                removed_input += 1;
                continue;
            }
        }
        out.push(line);
    }
    (out.join("\n"), removed_main, removed_input)
}

/// Removes top-level `main` functions from C++ code (brace matching, ignoring braces in strings
/// and character literals only roughly: enough for model output).
fn strip_cpp_main(code: &str) -> (String, bool) {
    let mut out: Vec<&str> = Vec::new();
    let mut depth: i64 = 0;
    let mut skipping = false;
    let mut seen_open = false;
    let mut removed = false;
    for line in code.lines() {
        if !skipping && depth == 0 {
            let t = line.trim_start();
            let function_main = (t.starts_with("int main")
                || t.starts_with("main(")
                || t.starts_with("void main")
                || t.starts_with("fn main")
                || t.starts_with("func main("))
                && t.contains('(');
            let class_main = t.starts_with("public class Main") || t.starts_with("class Main ");
            if function_main || class_main {
                skipping = true;
                seen_open = false;
                removed = true;
            }
        }
        let opens = line.matches('{').count() as i64;
        let closes = line.matches('}').count() as i64;
        if skipping {
            seen_open |= opens > 0;
            depth += opens - closes;
            if seen_open && depth <= 0 {
                skipping = false;
                depth = 0;
            }
            continue;
        }
        depth = (depth + opens - closes).max(0);
        out.push(line);
    }
    (out.join("\n"), removed)
}

fn is_header_line(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("#include") || t.starts_with("#define") || t.starts_with("using ")
}

/// Extracts the program from `answer`: finds the code, cleans it up for a function problem
/// (`entry_point` given), and assembles it with `prefix` (empty when the problem has none).
#[must_use]
pub fn extract(answer: &str, language: &str, entry_point: Option<&str>, prefix: &str) -> Extracted {
    let (found, rule) = find_code(answer, language);
    let function_problem = entry_point.is_some();
    if language == "javascript" || language == "rust" {
        let defines_entry = entry_point.is_some_and(|e| {
            ["const ", "let ", "var ", "function ", "fn "]
                .iter()
                .any(|k| found.contains(&format!("{k}{e}")))
        });
        // A Rust answer's own `main` would clash with the tests' one.
        let found = if language == "rust" {
            strip_cpp_main(&found).0
        } else {
            found
        };
        let program = if prefix.is_empty() || defines_entry {
            format!("{found}\n")
        } else {
            format!("{}{}\n", ensure_newline(prefix), found)
        };
        return Extracted {
            code: found,
            program,
            rule,
            removed_main_block: false,
            removed_input_lines: 0,
            body_only: !defines_entry,
        };
    }
    if language == "go" {
        let (code, removed_main_block) = strip_cpp_main(&found);
        let code: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("package "))
            .collect::<Vec<_>>()
            .join("\n");
        let defines_entry = entry_point.is_some_and(|e| code.contains(&format!("func {e}(")));
        let program = if prefix.is_empty() {
            code.clone()
        } else if defines_entry {
            // Go rejects an import made twice, so the prompt's imports come only when the answer
            // has none of its own.
            if code.contains("import") {
                format!("{code}\n")
            } else {
                let imports = prefix.split("\nfunc ").next().unwrap_or("");
                format!("{imports}\n{code}\n")
            }
        } else {
            format!("{}{}\n", ensure_newline(prefix), code)
        };
        return Extracted {
            code,
            program,
            rule,
            removed_main_block,
            removed_input_lines: 0,
            body_only: !defines_entry,
        };
    }
    if language == "java" {
        let (code, removed_main_block) = strip_cpp_main(&found);
        let defines_class = code.contains("class Solution");
        let program = if prefix.is_empty() {
            code.clone()
        } else if defines_class {
            let imports: Vec<&str> = prefix
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
                .collect();
            // Imports must come first: the prompt's, then the answer's own (repeats are allowed).
            let (own, rest): (Vec<&str>, Vec<&str>) = code.lines().partition(|l| {
                l.trim_start().starts_with("import ") || l.trim_start().starts_with("package ")
            });
            let own: Vec<&str> = own
                .into_iter()
                .filter(|l| !l.trim_start().starts_with("package "))
                .collect();
            format!(
                "{}\n{}\n{}\n",
                imports.join("\n"),
                own.join("\n"),
                rest.join("\n")
            )
        } else {
            format!("{}{}\n", ensure_newline(prefix), code)
        };
        return Extracted {
            code,
            program,
            rule,
            removed_main_block,
            removed_input_lines: 0,
            body_only: !defines_class,
        };
    }
    if language == "cpp" {
        let (code, removed_main_block) = strip_cpp_main(&found);
        let defines_entry = entry_point.is_some_and(|e| {
            code.find(&format!("{e}("))
                .is_some_and(|at| code[at..].contains('{'))
        });
        let program = if prefix.is_empty() {
            code.clone()
        } else if defines_entry {
            let headers: Vec<&str> = prefix.lines().filter(|l| is_header_line(l)).collect();
            format!("{}\n{}\n", headers.join("\n"), code)
        } else {
            format!("{}{}\n", ensure_newline(prefix), code)
        };
        return Extracted {
            code,
            program,
            rule,
            removed_main_block,
            removed_input_lines: 0,
            body_only: !defines_entry,
        };
    }
    let (code, removed_main_block, removed_input_lines) = if function_problem {
        clean_python(&found)
    } else {
        (found, false, 0)
    };
    let body_only = code
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.starts_with([' ', '\t']));
    let program = if prefix.is_empty() {
        code.clone()
    } else if body_only {
        format!("{}{}\n", ensure_newline(prefix), code)
    } else {
        format!("{}\n\n{}\n", ensure_newline(prefix), code)
    };
    Extracted {
        code,
        program,
        rule,
        removed_main_block,
        removed_input_lines,
        body_only,
    }
}

fn ensure_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_owned()
    } else {
        format!("{s}\n")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn last_tagged_block_wins_over_later_untagged() {
        let a = "Here:\n```python\nx = 1\n```\nand\n```python\nx = 2\n```\nOutput:\n```\n2\n```\n";
        assert_eq!(
            find_code(a, "python"),
            ("x = 2".to_owned(), ExtractRule::LastTagged)
        );
    }

    #[test]
    fn fallbacks_in_order() {
        assert_eq!(
            find_code("```\ny = 3\n```", "python"),
            ("y = 3".to_owned(), ExtractRule::LastFenced)
        );
        assert_eq!(
            find_code("Sure!\n```python\ndef f():\n    return 1", "python"),
            ("def f():\n    return 1".to_owned(), ExtractRule::Unclosed)
        );
        assert_eq!(
            find_code("  def f(): pass  \n", "python"),
            ("def f(): pass".to_owned(), ExtractRule::Whole)
        );
    }

    #[test]
    fn main_blocks_and_input_lines_go() {
        let a = "```python\nimport sys\nn = int(input())\ndef f(x):\n    return x\n\nif __name__ == '__main__':\n    print(f(n))\n    x = input()\nprint('end')\n```";
        let e = extract(a, "python", Some("f"), "");
        assert_eq!(
            e.code,
            "import sys\ndef f(x):\n    return x\n\nprint('end')"
        );
        assert!(e.removed_main_block);
        assert_eq!(e.removed_input_lines, 1);
    }

    #[test]
    fn prefix_keeps_imports_and_bodies_append() {
        let prefix =
            "from typing import List\n\ndef f(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n";
        let full = extract(
            "```python\ndef f(xs):\n    return sum(xs)\n```",
            "python",
            Some("f"),
            prefix,
        );
        assert!(full.program.starts_with("from typing import List"));
        assert!(full.program.ends_with("def f(xs):\n    return sum(xs)\n"));
        assert!(!full.body_only);
        let body = extract(
            "```python\n    return sum(xs)\n```",
            "python",
            Some("f"),
            prefix,
        );
        assert!(body.body_only);
        assert_eq!(body.program, format!("{prefix}    return sum(xs)\n"));
    }

    #[test]
    fn cpp_answers_lose_their_main_and_keep_the_prompt_headers() {
        let prefix = "#include<vector>\nusing namespace std;\nint add(int a, int b){\n";
        let answer = "```cpp\n#include <iostream>\nint add(int a, int b) {\n    return a + b;\n}\nint main() {\n    if (1) { std::cout << add(1, 2); }\n    return 0;\n}\n```";
        let e = extract(answer, "cpp", Some("add"), prefix);
        assert_eq!(e.rule, ExtractRule::LastTagged);
        assert!(e.removed_main_block && !e.body_only);
        assert!(!e.program.contains("main"), "{}", e.program);
        assert!(
            e.program
                .starts_with("#include<vector>\nusing namespace std;\n#include <iostream>")
        );
        let body = extract(
            "```c++\n    return a + b;\n}\n```",
            "cpp",
            Some("add"),
            prefix,
        );
        assert!(body.body_only);
        assert_eq!(body.program, format!("{prefix}    return a + b;\n}}\n"));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = extract(&s, "python", Some("f"), "def f():\n    pass");
            let _ = extract(&s, "cpp", Some("f"), "#include<vector>\nint f(){\n");
        }

        #[test]
        fn code_between_prose_is_found_exactly(
            before in "[a-zA-Z .,:\n]{0,80}",
            after in "[a-zA-Z .,:\n]{0,80}",
            code in "[a-z_=+ 0-9()\n]{1,120}",
        ) {
            let answer = format!("{before}\n```python\n{code}\n```\n{after}");
            let (found, rule) = find_code(&answer, "python");
            prop_assert_eq!(rule, ExtractRule::LastTagged);
            prop_assert_eq!(found, code);
        }

        #[test]
        fn the_last_of_several_blocks_wins(codes in proptest::collection::vec("[a-z =0-9]{1,30}", 1..5)) {
            let answer: String = codes.iter().fold(String::new(), |mut a, c| {
                use std::fmt::Write as _;
                let _ = write!(a, "text\n```python\n{c}\n```\n");
                a
            });
            let (found, _) = find_code(&answer, "python");
            prop_assert_eq!(found, codes.last().unwrap().clone());
        }

        #[test]
        fn cleaned_code_has_no_top_level_input(lines in proptest::collection::vec("(x = input\\(\\)|def f\\(\\):|    return 1|if __name__ == '__main__':|    f\\(\\)|y = 2)", 0..12)) {
            let e = extract(&lines.join("\n"), "python", Some("f"), "");
            for l in e.code.lines() {
                prop_assert!(!(l.starts_with('x') && l.contains("input(")));
                prop_assert!(!l.starts_with("if __name__"));
            }
        }
    }
}
