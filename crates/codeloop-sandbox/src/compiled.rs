//! Program tests in compiled languages (C++, Java, JavaScript, Go, Rust): the solution, a trusted
//! harness and the dataset's test code are compiled and run in one sandboxed run. The worker
//! writes the sources into the run's work dir and execs a shell line that compiles, reports
//! "compiled" on the result channel (fd 3) and runs the program.
//!
//! **The program never decides its verdict.** Test code comes prepared (engine `split`): each
//! assert that compares a call with a constant is a *hook* that reports the call's value, and the
//! expected constant stays outside the sandbox ([`Expect::Judged`], compared in [`report`] by
//! [`crate::values`]). Asserts that cannot be split report their own boolean ([`Expect::Check`],
//! weaker), and test code with no split at all needs the trusted `main` to report that it
//! returned ([`Expect::Program`], weakest). Every record carries the run's *framing*, a random word
//! chosen here for each run and handed to the harness in `.codeloop-frame`, which the harness
//! reads and removes before any code of the solution runs (where the language lets it go
//! first: C++ static initializers of one file run in order, Go package variables likewise, Java
//! and Rust in `main`, JavaScript at the top of the script). Lines without the framing are
//! ignored; a test reported twice means the records were forged, and every test fails. A solution
//! written against codeloop can still read the harness's memory in C++, Rust and Go, so checks and
//! whole programs are weaker than judged values, whose expected values it never sees.
//!
//! The harness sources are in `harness/` (one per language). Java writes its records to standard
//! output (a JVM cannot write to an inherited fd 3 without opening its internals) and points
//! `System.out` at standard error.
//!
//! JavaScript runs under Node.js with a `console` whose `assert` throws (Node's only prints), with
//! global npm modules on `NODE_PATH` (HumanEval-X JavaScript/162 needs `js-md5`).
//!
//! C++ links `-lcrypto` (HumanEval-X CPP/162 uses OpenSSL's MD5) and some tasks include Boost
//! headers (CPP/22, CPP/137): the Debian packages `g++`, `libssl-dev` and `libboost-dev`.

use std::fmt::Write as _;

use codeloop_types::{
    ExecReport, Expect, Language, Limits, Outcome, ProgramTest, TestResult, TestSuite, Verdict,
};

use crate::protocol::worker::{ExecMode, Killed, RunPhase, WorkerReply};
use crate::verdicts::{base_report, termination};

/// What a language needs: the source file, the compile-and-run shell line, the compiler binary.
struct Toolchain {
    file: &'static str,
    script: String,
    compiler: String,
    package: &'static str,
}

/// The Rust toolchain's sysroot (`rustc --print sysroot`), asked once; rustup's `rustc` is a proxy
/// outside the sandbox's view, so runs call the real one inside the sysroot (bound read-only).
pub(crate) fn rust_sysroot() -> Option<&'static std::path::Path> {
    static SYSROOT: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    SYSROOT
        .get_or_init(|| {
            let out = std::process::Command::new("rustc")
                .args(["--print", "sysroot"])
                .output()
                .ok()?;
            let path = std::path::PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
            path.join("bin/rustc").exists().then_some(path)
        })
        .as_deref()
}

/// Where a slot's runs find what lives outside `/usr`, for the languages its executor runs: in a
/// view of their own, at neutral mount points (`/opt/codeloop/...`), so that nothing of the
/// host's layout shows in the paths they use; the kernel still shows each bind's source path in
/// `/proc/self/mountinfo` (its `root` field), so a toolchain in a home directory (rustup's) names
/// that directory there, in the views of executors that run Rust. Without a view, the host's paths.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunPaths {
    /// The Rust sysroot as (host path, path runs use), when the executor runs Rust.
    rust_sysroot: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// The library dir as (host path, path runs use), when the executor runs Rust or Go.
    pub(crate) library_dir: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// Where the view binds the Rust toolchain and the library dir.
const VIEW_RUST: &str = "/opt/codeloop/rust";
const VIEW_LIBRARIES: &str = "/opt/codeloop/libraries";

impl RunPaths {
    /// The paths for `languages`; `view`: runs have a view of their own (else they see the host).
    pub(crate) fn plan(
        languages: &[Language],
        library_dir: Option<&std::path::Path>,
        view: bool,
    ) -> Self {
        let place = |host: &std::path::Path, neutral: &str| {
            let inside = if view {
                std::path::PathBuf::from(neutral)
            } else {
                host.to_path_buf()
            };
            (host.to_path_buf(), inside)
        };
        let rust = languages.contains(&Language::Rust);
        RunPaths {
            // Under /usr (a distribution's rustc), the view has it already, at its own path.
            rust_sysroot: rust_sysroot().filter(|_| rust).map(|s| {
                if s.starts_with("/usr") {
                    (s.to_path_buf(), s.to_path_buf())
                } else {
                    place(s, VIEW_RUST)
                }
            }),
            library_dir: library_dir
                .filter(|_| rust || languages.contains(&Language::Go))
                .map(|d| place(d, VIEW_LIBRARIES)),
        }
    }

    /// The read-only binds a view needs for these paths (host, target), beyond `/usr`.
    pub(crate) fn binds(&self) -> Vec<(std::path::PathBuf, std::path::PathBuf)> {
        self.rust_sysroot
            .iter()
            .chain(&self.library_dir)
            // A distribution's toolchain is in the view's /usr already, at its own path.
            .filter(|(host, inside)| !(host == inside && host.starts_with("/usr")))
            .cloned()
            .collect()
    }

    /// `path`, a path under the host's library dir, as runs see it.
    fn inside(&self, path: &std::path::Path) -> std::path::PathBuf {
        match &self.library_dir {
            Some((host, inside)) => path
                .strip_prefix(host)
                .map_or_else(|_| path.to_path_buf(), |rest| inside.join(rest)),
            None => path.to_path_buf(),
        }
    }
}

fn toolchain(language: Language, paths: &RunPaths) -> Option<Toolchain> {
    match language {
        Language::Cpp => Some(Toolchain {
            file: "main.cpp",
            script: "g++ -std=c++17 -O0 -o prog main.cpp -lcrypto || {COMPILE_FAILED} echo compiled >&3; {RUN_LIMITS} exec ./prog".to_owned(),
            compiler: "/usr/bin/g++".to_owned(),
            package: "g++",
        }),
        Language::JavaScript => Some(Toolchain {
            file: "main.js",
            script: "echo compiled >&3; {RUN_LIMITS} NODE_PATH=/usr/lib/node_modules:/usr/local/lib/node_modules exec /usr/bin/node main.js".to_owned(),
            compiler: "/usr/bin/node".to_owned(),
            package: "nodejs",
        }),
        Language::Rust => {
            let (host, inside) = paths.rust_sysroot.as_ref().map_or_else(
                || ("rustc".to_owned(), "rustc".to_owned()),
                |(host, inside)| {
                    (
                        host.join("bin/rustc").display().to_string(),
                        inside.join("bin/rustc").display().to_string(),
                    )
                },
            );
            Some(Toolchain {
                file: "main.rs",
                script: format!(
                    "{inside} --edition 2021 -C opt-level=0 -A warnings -o prog main.rs || {{COMPILE_FAILED}} echo compiled >&3; {{RUN_LIMITS}} exec ./prog"
                ),
                compiler: host,
                package: "a Rust toolchain (rustup)",
            })
        }
        Language::Java => Some(Toolchain {
            file: "Main.java",
            script: format!(
                "export MALLOC_ARENA_MAX=2; /usr/bin/javac {JAVAC_FLAGS} -d . Main.java || {{COMPILE_FAILED}} echo compiled >&3; {{RUN_LIMITS}} exec /usr/bin/java {JVM_FLAGS} -cp . Main"
            ),
            compiler: "/usr/bin/javac".to_owned(),
            package: "default-jdk-headless",
        }),
        Language::Go => Some(Toolchain {
            file: "main_test.go",
            script: "export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=\"$PWD/.gocache\" GOFLAGS=-buildvcs=false; /usr/bin/go test -c -o prog main_test.go || {COMPILE_FAILED} echo compiled >&3; {RUN_LIMITS} exec ./prog".to_owned(),
            compiler: "/usr/bin/go".to_owned(),
            package: "golang-go and golang-github-stretchr-testify-dev",
        }),
        Language::Python => None,
    }
}

/// What the shell does when the compiler fails: exit 97 (a compile error), first saying so on
/// stderr when a signal (a limit of the compile step) killed the compiler.
const COMPILE_FAILED: &str = "{ rc=$?; [ $rc -gt 128 ] && echo \"codeloop: the compiler was killed by signal $((rc - 128))\" >&2; exit 97; };";

/// The harness of each language (see `harness/`).
const CPP_HARNESS: &str = include_str!("../harness/codeloop.hpp");
const JS_HARNESS: &str = include_str!("../harness/codeloop.js");
const JAVA_HARNESS: &str = include_str!("../harness/Codeloop.java");
const GO_HARNESS: &str = include_str!("../harness/codeloop.go");
const RUST_HARNESS: &str = include_str!("../harness/codeloop.rs");

/// Where the harness gets the run's framing.
const FRAME_FILE: &str = ".codeloop-frame";

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

/// JVM flags that keep its address-space reservations under the run's memory limit.
const JVM_FLAGS: &str = "-Xmx256m -Xss8m -XX:ReservedCodeCacheSize=32m -XX:MaxMetaspaceSize=128m -XX:CompressedClassSpaceSize=32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1";
const JAVAC_FLAGS: &str = "-J-Xmx256m -J-XX:ReservedCodeCacheSize=32m -J-XX:MaxMetaspaceSize=128m -J-XX:CompressedClassSpaceSize=32m -J-XX:+UseSerialGC -J-XX:TieredStopAtLevel=1 -nowarn";
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
fn source(language: Language, solution: &str, test: &str) -> String {
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

/// Limits of the compile step, separate from the program's: compilers need more time and memory
/// than tests allow programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// CPU time of each compiler process, in milliseconds.
    pub cpu_ms: u64,
    /// Wall-clock time of the whole compile step, in milliseconds.
    pub wall_ms: u64,
    /// Memory of the compile step, in MiB.
    pub memory_mib: u64,
}

impl Default for CompileLimits {
    /// 10 s of CPU, 30 s of wall time, 1 GiB (javac and rustc with the HumanEval-X crates fit).
    fn default() -> Self {
        CompileLimits {
            cpu_ms: 10_000,
            wall_ms: 30_000,
            memory_mib: 1024,
        }
    }
}

/// The limits a compile-and-run starts under (the compile step's, with the program's output
/// caps), which the run then lowers to `run`'s when the compiler is done (see `request_fields`).
pub(crate) fn start_limits(run: &Limits, compile: CompileLimits) -> Limits {
    Limits {
        cpu_ms: compile.cpu_ms,
        wall_ms: compile.wall_ms,
        memory_mib: Some(compile.memory_mib),
        ..run.clone()
    }
}

/// The whole source a program test compiles.
pub(crate) fn full_source(program: &str, test: &ProgramTest) -> String {
    source(test.language, program, &test.code)
}

/// The Rust crates programs may link, built once with cargo (trusted, outside the sandbox) under
/// `dir/rust-crates`: `--extern` flags and the `-L dependency=` dir.
fn rust_libraries(
    dir: &std::path::Path,
    wanted: &[String],
    inside: impl Fn(&std::path::Path) -> std::path::PathBuf,
) -> Result<String, String> {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let project = dir.join("rust-crates");
    let deps = project.join("target/release/deps");
    let find = |name: &str| -> Option<std::path::PathBuf> {
        std::fs::read_dir(&deps)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with(&format!("lib{name}-"))
                        && std::path::Path::new(n)
                            .extension()
                            .is_some_and(|e| e == "rlib")
                })
            })
            .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
    };
    if wanted.iter().any(|w| find(w).is_none()) {
        let io = |e: std::io::Error| format!("cannot set up {}: {e}", project.display());
        std::fs::create_dir_all(project.join("src")).map_err(io)?;
        std::fs::write(
            project.join("Cargo.toml"),
            "[package]\nname = \"codeloop-libraries\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nrand = \"0.7\"\nregex = \"1\"\nmd5 = \"0.7\"\n",
        )
        .map_err(io)?;
        std::fs::write(project.join("src/lib.rs"), "").map_err(io)?;
        let out = std::process::Command::new("cargo")
            .args(["build", "--release", "--quiet"])
            .current_dir(&project)
            .env("CARGO_TARGET_DIR", project.join("target"))
            .output()
            .map_err(|e| format!("cannot run cargo to build the Rust crates: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "building the Rust crates (rand, regex, md5) failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let mut flags = format!("-L dependency={}", inside(&deps).display());
    for name in wanted {
        let rlib =
            find(name).ok_or_else(|| format!("no Rust crate `{name}` in {}", deps.display()))?;
        let _ = write!(flags, " --extern {name}={}", inside(&rlib).display());
    }
    Ok(flags)
}

/// A Go build cache with testify compiled, under `dir/gocache` (built once, trusted).
fn go_cache(dir: &std::path::Path) -> Result<std::path::PathBuf, String> {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cache = dir.join("gocache");
    let done = dir.join("gocache.done");
    if done.exists() {
        return Ok(cache);
    }
    let work = dir.join("gocache-build");
    let io = |e: std::io::Error| format!("cannot set up {}: {e}", work.display());
    std::fs::create_dir_all(&work).map_err(io)?;
    std::fs::write(
        work.join("main_test.go"),
        "package main\n\nimport (\n\t\"testing\"\n\t\"github.com/stretchr/testify/assert\"\n)\n\nfunc TestWarm(t *testing.T) {\n\tassert.New(t).Equal(1, 1)\n}\n",
    )
    .map_err(io)?;
    let out = std::process::Command::new("/usr/bin/go")
        .args(["test", "-c", "-o", "prog", "main_test.go"])
        .current_dir(&work)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", &cache)
        .env("GOFLAGS", "-buildvcs=false")
        .output()
        .map_err(|e| format!("cannot run go: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "warming the Go cache failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Readable by the runs' uids (they copy it).
    let _ = std::process::Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&cache)
        .status();
    std::fs::write(&done, "").map_err(io)?;
    Ok(cache)
}

/// The worker request's `exec` mode, or a harness error when the toolchain is missing.
pub(crate) fn request_fields(
    program: &str,
    test: &ProgramTest,
    paths: &RunPaths,
    run: &Limits,
    cgroup_memory: bool,
    frame: &str,
) -> Result<ExecMode<'static>, String> {
    if test.language == Language::Rust && paths.rust_sysroot.is_none() && rust_sysroot().is_some() {
        return Err(
            "this executor was started without Rust (its slots' views hold only what their languages need beyond /usr; list Rust in `ExecutorConfig::languages`)"
                .to_owned(),
        );
    }
    let library_dir = paths.library_dir.as_ref().map(|(host, _)| host.as_path());
    let mut tc = toolchain(test.language, paths)
        .ok_or_else(|| format!("no program-test toolchain for {}", test.language))?;
    if test.language == Language::Go
        && let Some(dir) = library_dir
    {
        // A build cache holding testify, made once outside the sandbox and copied into each
        // run's work dir (Go needs its cache writable): ~1 s per compile instead of ~5.
        if let Ok(cache) = go_cache(dir) {
            tc.script = format!(
                "cp -r {} .gocache 2>/dev/null; {}",
                paths.inside(&cache).display(),
                tc.script
            );
        }
    }
    if !test.libraries.is_empty() {
        if test.language != Language::Rust {
            return Err(format!(
                "libraries are supported for Rust only, not {}",
                test.language
            ));
        }
        let dir = library_dir.ok_or_else(|| {
            "this program links libraries, and the executor has no library dir (`ExecutorConfig::library_dir`, with Rust among its languages)".to_owned()
        })?;
        let flags = rust_libraries(dir, &test.libraries, |p| paths.inside(p))?;
        tc.script = tc
            .script
            .replacen(" -o prog", &format!(" {flags} -o prog"), 1);
    }
    if !std::path::Path::new(&tc.compiler).exists() {
        return Err(format!(
            "{} needs {} (install the Debian package `{}`)",
            test.language, tc.compiler, tc.package
        ));
    }
    // Once compiled, the shell lowers its limits to the program's before it starts it: CPU, and,
    // where no cgroup caps memory (the worker lowers the cgroup's at the same moment), a native
    // program's address space (not for the JVM, Go and V8, which reserve large ranges up front).
    let mut run_limits = format!("ulimit -t {};", run.cpu_ms.div_ceil(1000).max(1));
    if let (Some(mib), Language::Cpp | Language::Rust, false) =
        (run.memory_mib, test.language, cgroup_memory)
    {
        let _ = write!(run_limits, " ulimit -v {};", (mib + 64) * 1024);
    }
    let script = tc
        .script
        .replace("{RUN_LIMITS}", &run_limits)
        .replace("{COMPILE_FAILED}", COMPILE_FAILED);
    Ok(ExecMode {
        argv: vec!["/bin/sh".to_owned(), "-c".to_owned(), script],
        files: vec![
            (tc.file, source(test.language, program, &test.code)),
            (FRAME_FILE, frame.to_owned()),
        ],
        binary: None,
        run_phase: Some(RunPhase {
            wall_ms: run.wall_ms,
            memory_mib: run.memory_mib,
        }),
    })
}

/// A new framing for one run: 128 random bits from the kernel, in hex.
pub(crate) fn new_frame() -> Result<String, String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for the run's framing: {e}"))?;
    Ok(bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// One framed record of a run.
#[derive(Debug, PartialEq)]
enum Record {
    /// Hook `id` returned this value (its text: canonical JSON, or Rust's `{:?}`).
    Value(String),
    /// Hook `id` threw or panicked.
    Error { kind: String, message: String },
    /// Check `id` computed this boolean.
    Check(bool),
}

/// The framed records of a run: per hook id, and whether the test code returned.
#[derive(Debug, Default)]
struct Records {
    by_id: std::collections::BTreeMap<u32, Record>,
    ended: bool,
    /// Why the records cannot be trusted (a hook reported twice, a malformed framed line).
    forged: Option<String>,
}

/// Two string literals (`"kind" "message"`), JSON's or (Rust) `{:?}`'s.
fn two_strings(text: &str, rust: bool) -> Option<(String, String)> {
    if rust {
        let v = crate::values::from_rust_debug(&format!("({text})")).ok()?;
        match v.as_array().map(Vec::as_slice) {
            Some([serde_json::Value::String(a), serde_json::Value::String(b)]) => {
                Some((a.clone(), b.clone()))
            }
            _ => None,
        }
    } else {
        let mut it = serde_json::Deserializer::from_str(text).into_iter::<String>();
        Some((it.next()?.ok()?, it.next()?.ok()?))
    }
}

/// Reads the records carrying `frame` from `stream`; other lines are the program's and ignored.
fn read_records(stream: &str, frame: &str, rust: bool) -> Records {
    let mut records = Records::default();
    for line in stream.lines() {
        let Some(record) = line.strip_prefix(frame).and_then(|r| r.strip_prefix(' ')) else {
            continue;
        };
        if record == "end" {
            if records.ended {
                records.forged = Some("the end of the tests was reported twice".to_owned());
            }
            records.ended = true;
            continue;
        }
        let mut parts = record.splitn(3, ' ');
        let (kind, id, body) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        let Some(id) = id.and_then(|i| i.parse::<u32>().ok()) else {
            records.forged = Some(format!("a malformed record: {}", truncate(record, 80)));
            continue;
        };
        let record = match kind {
            Some("v") => Record::Value(body.to_owned()),
            Some("c") if body == "1" || body == "0" => Record::Check(body == "1"),
            Some("e") => match two_strings(body, rust) {
                Some((kind, message)) => Record::Error { kind, message },
                None => Record::Error {
                    kind: "error".to_owned(),
                    message: body.to_owned(),
                },
            },
            _ => {
                records.forged = Some(format!("a malformed record: {}", truncate(record, 80)));
                continue;
            }
        };
        if records.by_id.insert(id, record).is_some() {
            records.forged = Some(format!("test {id} was reported twice"));
        }
    }
    records
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_owned(),
    }
}

/// A failed test of a program test: what failed, and why.
fn failed_test(input: &str, detail: &str) -> Verdict {
    Verdict::WrongAnswer {
        input: input.trim().to_owned(),
        expected: None,
        got: None,
        detail: Some(detail.to_owned()),
    }
}

/// Line `line_no` (1-based) of `source`, trimmed; a neutral label when it is unknown.
fn source_line(source: &str, line_no: Option<usize>) -> &str {
    line_no
        .and_then(|n| source.lines().nth(n.checked_sub(1)?))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("the test program")
}

/// The report of a compile-and-run: one verdict per test of `suite`, from the framed records.
pub(crate) fn report(
    reply: WorkerReply,
    source_text: &str,
    suite: &TestSuite,
    language: Language,
    frame: &str,
    limits: &Limits,
    layers: &[String],
) -> ExecReport {
    let compiled = reply.results.lines().next() == Some("compiled");
    let (verdicts, overall) = if compiled {
        let stream = if language == Language::Java {
            &reply.stdout
        } else {
            &reply.results
        };
        let records = read_records(stream, frame, language == Language::Rust);
        let verdicts = judge_tests(&reply, &records, source_text, suite, language, limits);
        // An empty suite (a public suite with no test): the program has to start and end.
        let overall = suite
            .tests
            .is_empty()
            .then(|| program_verdict(&reply, records.ended, source_text, "the program", limits));
        (verdicts, overall)
    } else {
        let error = compile_error(&reply);
        let verdicts = (0..suite.tests.len())
            .map(|i| {
                if i == 0 {
                    error.clone()
                } else {
                    Verdict::NotRun
                }
            })
            .collect();
        (verdicts, Some(error))
    };
    let first_bad = verdicts
        .iter()
        .find(|v| !v.is_pass())
        .cloned()
        .or(overall.filter(|v| !v.is_pass()));
    let harness = verdicts
        .iter()
        .any(|v| matches!(v, Verdict::HarnessError { .. }));
    let mut report = base_report(reply, limits, layers);
    report.outcome = if harness {
        Outcome::HarnessError
    } else if first_bad.is_none() {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    report.verdict = first_bad.unwrap_or(Verdict::Pass);
    report.tests = suite
        .tests
        .iter()
        .zip(verdicts)
        .map(|(t, verdict)| TestResult {
            id: t.id,
            verdict,
            cpu_ms: 0.0,
        })
        .collect();
    report
}

/// Each test's verdict from the records, and how the run ended for those with none.
fn judge_tests(
    reply: &WorkerReply,
    records: &Records,
    source_text: &str,
    suite: &TestSuite,
    language: Language,
    limits: &Limits,
) -> Vec<Verdict> {
    let ended = termination(reply, limits, None);
    if let Some(why) = &records.forged {
        let forged = Verdict::WrongAnswer {
            input: "the whole test program".to_owned(),
            expected: None,
            got: None,
            detail: Some(format!(
                "the run's results cannot be trusted ({why}): the program wrote records in the harness's name"
            )),
        };
        return suite.tests.iter().map(|_| forged.clone()).collect();
    }
    // The first test with no record is where the run stopped: it gets the run's end.
    let mut stop_reported = false;
    let mut out = Vec::with_capacity(suite.tests.len());
    for (i, test) in suite.tests.iter().enumerate() {
        let record = records.by_id.get(&(i as u32));
        let verdict = match (&test.expect, record) {
            (Expect::Program, _) => {
                program_verdict(reply, records.ended, source_text, &test.input, limits)
            }
            (_, Some(Record::Error { kind, message })) => Verdict::RuntimeError {
                kind: kind.clone(),
                message: message.clone(),
                traceback: None,
            },
            (Expect::Judged { expected, compare }, Some(Record::Value(text))) => {
                judged(test, expected, *compare, text, language)
            }
            (Expect::Check, Some(Record::Check(true))) => Verdict::Pass,
            (Expect::Check, Some(Record::Check(false))) => Verdict::WrongAnswer {
                input: test.input.clone(),
                expected: test.expected.clone(),
                got: None,
                detail: Some("the test's check failed".to_owned()),
            },
            (_, Some(_)) => Verdict::WrongAnswer {
                input: test.input.clone(),
                expected: test.expected.clone(),
                got: None,
                detail: Some("the harness reported this test in the wrong form".to_owned()),
            },
            (_, None) if stop_reported => Verdict::NotRun,
            (_, None) => {
                stop_reported = true;
                match &ended {
                    Verdict::Pass => Verdict::WrongAnswer {
                        input: test.input.clone(),
                        expected: test.expected.clone(),
                        got: None,
                        detail: Some("the program ended before this test finished".to_owned()),
                    },
                    other => with_traceback(other.clone(), reply),
                }
            }
        };
        out.push(verdict);
    }
    // Every test reported, but the test code did not run to its end (it failed after its last
    // hook, or the program died on its way out): the last test carries how the run ended, as the
    // dataset's own harness would fail the program.
    if !records.ended
        && out.iter().all(Verdict::is_pass)
        && let Some(last) = out.last_mut()
    {
        *last = match &ended {
            Verdict::Pass => Verdict::WrongAnswer {
                input: suite
                    .tests
                    .last()
                    .map_or_else(String::new, |t| t.input.clone()),
                expected: None,
                got: None,
                detail: Some("the test program did not run to its end after this test".to_owned()),
            },
            other => with_traceback(other.clone(), reply),
        };
    }
    out
}

/// A judged test's verdict: the reported value against the expected one.
fn judged(
    test: &codeloop_types::TestCase,
    expected: &str,
    compare: codeloop_types::ValueCompare,
    reported: &str,
    language: Language,
) -> Verdict {
    let got = if language == Language::Rust {
        crate::values::from_rust_debug(reported)
    } else {
        serde_json::from_str::<serde_json::Value>(reported).map_err(|e| e.to_string())
    };
    let expected_value: Result<serde_json::Value, _> = serde_json::from_str(expected);
    match (got, expected_value) {
        (Ok(got), Ok(want)) if crate::values::equal(&want, &got, compare) => Verdict::Pass,
        (Ok(got), Ok(want)) => Verdict::WrongAnswer {
            input: test.input.clone(),
            expected: Some(
                test.expected
                    .clone()
                    .unwrap_or_else(|| crate::values::display(&want)),
            ),
            got: Some(crate::values::display(&got)),
            detail: None,
        },
        (Err(e), _) => Verdict::WrongAnswer {
            input: test.input.clone(),
            expected: test.expected.clone(),
            got: Some(truncate(reported, 200)),
            detail: Some(format!("the returned value could not be read: {e}")),
        },
        (_, Err(e)) => Verdict::HarnessError {
            message: format!(
                "test {}: the expected value is not in the canonical form: {e}",
                test.id.0
            ),
        },
    }
}

/// A runtime error with the program's error output as its traceback (compiled programs and Node
/// print their own).
fn with_traceback(verdict: Verdict, reply: &WorkerReply) -> Verdict {
    match verdict {
        Verdict::RuntimeError {
            kind,
            message,
            traceback: None,
        } if !reply.stderr.trim().is_empty() => Verdict::RuntimeError {
            kind,
            message,
            traceback: Some(reply.stderr.clone()),
        },
        other => other,
    }
}

/// The verdict of a whole test program (test code with no split): it passes when the trusted
/// `main` reported the end and the program then ended well; otherwise the failing assert, as the
/// language's runtime names it.
fn program_verdict(
    reply: &WorkerReply,
    ended_record: bool,
    source_text: &str,
    test_input: &str,
    limits: &Limits,
) -> Verdict {
    match termination(reply, limits, None) {
        Verdict::Pass if ended_record => Verdict::Pass,
        Verdict::Pass => failed_test(test_input, "the program ended before the tests finished"),
        // JavaScript: our `console.assert` names the failing line.
        Verdict::RuntimeError { .. } if reply.stderr.contains("codeloop-assert: ") => {
            let line = reply
                .stderr
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("Error: codeloop-assert: "))
                .unwrap_or("assertion failed");
            failed_test(line, "an assert of the tests failed")
        }
        // Rust: the panic's location, and its message (assert_eq!'s left and right).
        Verdict::RuntimeError { .. } if reply.stderr.contains("panicked at main.rs:") => {
            let after = reply
                .stderr
                .split("panicked at main.rs:")
                .nth(1)
                .unwrap_or("");
            let line_no = after.split(':').next().and_then(|n| n.parse().ok());
            let message: Vec<&str> = after.lines().skip(1).take(3).collect();
            failed_test(source_line(source_text, line_no), &message.join("\n"))
        }
        // Go: the failing line of the test and testify's message.
        Verdict::RuntimeError { .. } if reply.stdout.contains("--- FAIL:") => {
            let line_no = reply
                .stdout
                .lines()
                .find_map(|l| l.split("main_test.go:").nth(1))
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok());
            let detail: Vec<&str> = reply
                .stdout
                .lines()
                .map(str::trim)
                .filter(|l| {
                    l.starts_with("expected") || l.starts_with("actual") || l.starts_with("Error:")
                })
                .take(3)
                .collect();
            failed_test(source_line(source_text, line_no), &detail.join("\n"))
        }
        // Java: the line of the test that threw, from the stack trace.
        Verdict::RuntimeError { .. } if reply.stderr.contains("java.lang.AssertionError") => {
            let line_no = reply
                .stderr
                .lines()
                .find_map(|l| l.trim().strip_prefix("at CodeloopTest.main(Main.java:"))
                .and_then(|rest| rest.trim_end_matches(')').parse().ok());
            failed_test(
                source_line(source_text, line_no),
                "a check of the tests failed",
            )
        }
        // C++: assert() aborts after naming the assertion.
        Verdict::RuntimeError { kind, .. }
            if kind == "SIGABRT" && reply.stderr.contains("Assertion") =>
        {
            let line = reply
                .stderr
                .lines()
                .find(|l| l.contains("Assertion"))
                .unwrap_or("assertion failed");
            failed_test(line, "an assert of the tests failed")
        }
        other => with_traceback(other, reply),
    }
}

/// The compile step failed, or was stopped at its own limits.
fn compile_error(reply: &WorkerReply) -> Verdict {
    let killed_by = reply
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("codeloop: the compiler was killed by signal "))
        .and_then(|n| n.trim().parse::<i32>().ok());
    // Compiler drivers (g++) report a killed subprocess themselves, with the signal's name.
    let killed_by = killed_by.or_else(|| {
        reply
            .stderr
            .contains("CPU time limit exceeded")
            .then_some(libc::SIGXCPU)
    });
    let stopped = match (&reply.killed, killed_by.or(reply.signal)) {
        (Some(Killed::Wall), _) => Some("its wall-clock limit".to_owned()),
        (Some(_), _) => Some("its output limit".to_owned()),
        (None, Some(libc::SIGXCPU)) => Some("its CPU limit".to_owned()),
        (None, Some(_)) if reply.oom_killed => Some("its memory limit".to_owned()),
        (None, Some(sig)) => Some(crate::linux::signal_name(sig)),
        (None, None) => None,
    };
    Verdict::CompileError {
        message: match stopped {
            Some(why) => format!("the compile step was stopped by {why}\n{}", reply.stderr),
            None => reply.stderr.clone(),
        },
    }
}
