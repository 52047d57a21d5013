//! The source a program test compiles: the solution, the dataset's test code and the trusted
//! harness of its language (see `harness/`), put together as each language needs.

use codeloop_types::{Language, ProgramTest};

/// The harness of each language (see `harness/`).
const CPP_HARNESS: &str = include_str!("../../harness/codeloop.hpp");

const JS_HARNESS: &str = include_str!("../../harness/codeloop.js");

const JAVA_HARNESS: &str = include_str!("../../harness/Codeloop.java");

const GO_HARNESS: &str = include_str!("../../harness/codeloop.go");

const RUST_HARNESS: &str = include_str!("../../harness/codeloop.rs");

/// Where the harness gets the run's framing.
pub(super) const FRAME_FILE: &str = ".codeloop-frame";

/// Go: the trusted `TestMain` reports the end after every test ran and passed.
const GO_TEST_MAIN: &str = "\nfunc TestMain(m *testing.M) {\n\tcode := m.Run()\n\tif code == 0 {\n\t\tcodeloopEmit(\"end\")\n\t}\n\tcodeloopos.Exit(code)\n}\n";

/// The packages the Go harness uses, under names the solution does not use.
const GO_HARNESS_IMPORTS: &[(&str, &str)] = &[
    ("codeloopos", "os"),
    ("codeloopstrings", "strings"),
    ("codeloopmath", "math"),
    ("codeloopstrconv", "strconv"),
    ("codeloopreflect", "reflect"),
    ("codeloopjson", "encoding/json"),
    ("codeloopfmt", "fmt"),
];

/// The trusted `main`: the harness starts before any class of the solution is initialized, then
/// the test's `main`, then the end.
const JAVA_MAIN: &str = "public class Main {\n    public static void main(String[] args) throws Throwable {\n        Codeloop.start();\n        CodeloopTest.main(args);\n        Codeloop.end();\n    }\n}\n";

/// JavaScript: `console.assert` only prints in Node, so the tests get a `console` of their own (a
/// block-scoped constant the solution cannot reach) whose `assert` throws, naming the failing line.
/// The source is captured before the solution runs.
const JS_PROLOGUE: &str =
    "const __codeloopSource = require('fs').readFileSync(__filename, 'utf8').split('\\n');\n";

const JS_TEST_OPEN: &str = "\n;{\nconst console = Object.assign({}, globalThis.console, { assert: (ok, ...message) => { if (!ok) { const at = /main\\.js:(\\d+)/.exec(new Error().stack.split('\\n')[2] || ''); const line = at ? __codeloopSource[Number(at[1]) - 1].trim() : message.join(' '); throw new Error('codeloop-assert: ' + line); } } });\n";

const JS_TEST_CLOSE: &str = "\n}\n__codeloop.end();\n";

/// The whole source: harness, solution, the test with its `main` renamed, the trusted `main`.
pub(super) fn source(language: Language, solution: &str, test: &str) -> String {
    match language {
        // `#line` keeps the compiler's line numbers the solution's own.
        Language::Cpp if test.trim().is_empty() => format!(
            "{CPP_HARNESS}#line 1 \"main.cpp\"\n{solution}\nint main() {{\n    codeloop::end();\n    return 0;\n}}\n"
        ),
        Language::Cpp => format!(
            "{CPP_HARNESS}#line 1 \"main.cpp\"\n{solution}\n#define main codeloop_test_main\n{test}\n#undef main\nint main() {{\n    codeloop_test_main();\n    codeloop::end();\n    return 0;\n}}\n"
        ),
        Language::JavaScript => {
            format!("{JS_HARNESS}{JS_PROLOGUE}{solution}{JS_TEST_OPEN}{test}{JS_TEST_CLOSE}")
        }
        Language::Rust => {
            // MultiPL-E's MBPP tests start with the `}` that closes a completion cut at its stop
            // token; a solution that closes its own function does not need it.
            let test = match test.trim_start().strip_prefix('}') {
                Some(rest) if braces_balanced(solution) => rest,
                _ => test,
            };
            // HumanEval-X: a `#[cfg(test)] mod tests` of `#[test]` functions. They are made plain
            // public functions that the trusted `main` calls in order.
            if test.contains("#[test]") {
                // Block comments go first: a test commented out in the dataset checks nothing.
                let test = strip_block_comments(test);
                let mut calls = Vec::new();
                let mut next_is_test = false;
                let mut lines = Vec::new();
                for line in test.lines() {
                    let t = line.trim();
                    if t == "#[test]" {
                        next_is_test = true;
                        continue;
                    }
                    if t == "#[cfg(test)]" {
                        continue;
                    }
                    if next_is_test && t.starts_with("fn ") {
                        if let Some(name) = t[3..].split('(').next() {
                            calls.push(format!("    tests::{}();\n", name.trim()));
                        }
                        lines.push(line.replacen("fn ", "pub fn ", 1));
                        next_is_test = false;
                        continue;
                    }
                    lines.push(line.to_owned());
                }
                return rust_with_main(solution, &lines.join("\n"), &calls.concat());
            }
            let test = test.replacen("fn main()", "fn codeloop_test_main()", 1);
            let calls = if test.contains("codeloop_test_main") {
                "    codeloop_test_main();\n"
            } else {
                ""
            };
            rust_with_main(solution, &test, calls)
        }
        Language::Java => {
            let test = test.replacen("public class Main", "class CodeloopTest", 1);
            if test.contains("CodeloopTest") {
                format!("{solution}\n{test}\n{JAVA_HARNESS}\n{JAVA_MAIN}")
            } else {
                format!(
                    "{solution}\n{test}\n{JAVA_HARNESS}\n{}",
                    JAVA_MAIN.replace("CodeloopTest.main(args);", "")
                )
            }
        }
        Language::Go => go_source(solution, test),
        Language::Python => solution.to_owned(),
    }
}

/// Solution, tests, the harness and a trusted `main` that starts it, makes `calls` and reports
/// the end.
fn rust_with_main(solution: &str, tests: &str, calls: &str) -> String {
    format!(
        "{solution}\n{tests}\nfn main() {{\n    codeloop::start();\n{calls}    codeloop::end();\n}}\n{RUST_HARNESS}"
    )
}

/// `code` without `/* ... */` comments (not nested; enough for test code).
fn strip_block_comments(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        if let Some(end) = rest[start + 2..].find("*/") {
            rest = &rest[start + 2 + end + 2..];
        } else {
            rest = "";
            break;
        }
    }
    out.push_str(rest);
    out
}

/// Standard packages a Go file may use without importing them in the dataset (HumanEval-X Go's
/// `import` field misses some): name as used, import path.
const GO_STD: &[(&str, &str)] = &[
    ("testing", "testing"),
    ("os", "os"),
    ("math", "math"),
    ("strings", "strings"),
    ("sort", "sort"),
    ("strconv", "strconv"),
    ("fmt", "fmt"),
    ("bytes", "bytes"),
    ("unicode", "unicode"),
    ("regexp", "regexp"),
    ("time", "time"),
    ("reflect", "reflect"),
    ("errors", "errors"),
    ("rand", "math/rand"),
    ("md5", "crypto/md5"),
    ("hex", "encoding/hex"),
    ("big", "math/big"),
    ("utf8", "unicode/utf8"),
    ("bits", "math/bits"),
];

/// Splits Go source into its import specs (`alias "path"` or `"path"`) and the rest, dropping the
/// package clause.
fn split_go_imports(text: &str) -> (Vec<String>, String) {
    let mut specs = Vec::new();
    let mut rest = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let t = line.trim();
        if in_block {
            if t.starts_with(')') {
                in_block = false;
            } else if !t.is_empty() && !t.starts_with("//") {
                specs.push(t.to_owned());
            }
            continue;
        }
        if t.starts_with("package ") {
            continue;
        }
        if let Some(after) = t.strip_prefix("import") {
            let after = after.trim();
            if after.starts_with('(') {
                let inner = after.trim_start_matches('(').trim();
                if let Some(one) = inner.strip_suffix(')') {
                    specs.extend(
                        one.split(';')
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty()),
                    );
                } else {
                    in_block = true;
                    if !inner.is_empty() {
                        specs.push(inner.to_owned());
                    }
                }
                continue;
            }
            if after.contains('"') {
                specs.push(after.to_owned());
                continue;
            }
        }
        rest.push(line);
    }
    (specs, rest.join("\n"))
}

/// The name a Go import spec binds (`alias "path"` or the path's last element).
fn go_import_name(spec: &str) -> (String, String) {
    let path = spec.rsplit('"').nth(1).unwrap_or("").to_owned();
    let alias = spec.split('"').next().unwrap_or("").trim();
    let name = if alias.is_empty() {
        path.rsplit('/').next().unwrap_or("").to_owned()
    } else {
        alias.to_owned()
    };
    (name, path)
}

/// Whether Go `code` (comments aside) refers to package `name` as `name.`.
fn go_uses(code: &str, name: &str) -> bool {
    let needle = format!("{name}.");
    code.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .any(|l| {
            l.match_indices(&needle).any(|(at, _)| {
                at == 0
                    || !l[..at]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
            })
        })
}

/// One Go test file: package clause, one import block (the test's and the solution's imports,
/// each once, only those used, plus standard packages used but not imported, as goimports would),
/// the solution, the tests, the trusted `TestMain`.
fn go_source(solution: &str, test: &str) -> String {
    let (test_specs, test_rest) = split_go_imports(test);
    let (solution_specs, solution_rest) = split_go_imports(solution);
    let body = format!("{solution_rest}\n{test_rest}\n{GO_TEST_MAIN}");
    let mut imports: Vec<(String, String)> = Vec::new();
    for spec in test_specs.iter().chain(&solution_specs) {
        let (name, path) = go_import_name(spec);
        if path.is_empty() || imports.iter().any(|(_, p)| *p == path) {
            continue;
        }
        if name == "_" || go_uses(&body, &name) {
            imports.push((
                if spec.starts_with('"') {
                    String::new()
                } else {
                    name
                },
                path,
            ));
        }
    }
    for (name, path) in GO_STD {
        if go_uses(&body, name) && !imports.iter().any(|(n, p)| p == path || n == name) {
            imports.push((String::new(), (*path).to_owned()));
        }
    }
    let block: Vec<String> = imports
        .iter()
        .map(|(alias, path)| format!("\t{alias} \"{path}\""))
        .collect();
    let harness_imports: Vec<String> = GO_HARNESS_IMPORTS
        .iter()
        .map(|(alias, path)| format!("\t{alias} \"{path}\""))
        .collect();
    // The harness goes first: its package variable (the framing) is initialized before the
    // solution's.
    format!(
        "package main\n\nimport (\n{}\n{}\n)\n\n{GO_HARNESS}\n{body}",
        block.join("\n"),
        harness_imports.join("\n")
    )
}

/// Whether `{` and `}` balance in `code` (string contents counted too: enough for model output).
fn braces_balanced(code: &str) -> bool {
    let open = code.matches('{').count();
    open > 0 && open == code.matches('}').count()
}

/// The whole source a program test compiles.
pub(crate) fn full_source(program: &str, test: &ProgramTest) -> String {
    source(test.language, program, &test.code)
}
