//! Program tests in compiled languages (HumanEval-X C++): the solution and the trusted test code are
//! compiled and run in one sandboxed run. The worker writes the source into the run's work dir and
//! execs a shell line that compiles, reports "compiled" on the result channel (fd 3), closes it,
//! and runs the program. The test's `main` is renamed and called from a trusted `main` that reports
//! "passed" only when the test returns, so a solution that exits early (`exit(0)` inside the
//! function) fails instead of passing. A compile failure is a `compile_error` verdict with the
//! compiler's message; a failed `assert` is a wrong answer naming the assertion.
//!
//! JavaScript runs under Node.js with a `console` whose `assert` throws (Node's only prints), with
//! global npm modules on `NODE_PATH` (HumanEval-X JavaScript/162 needs `js-md5`).
//!
//! C++ links `-lcrypto` (HumanEval-X CPP/162 uses OpenSSL's MD5) and some tasks include Boost
//! headers (CPP/22, CPP/137): the Debian packages `g++`, `libssl-dev` and `libboost-dev`.
//! Limitation: the program can write to the result channel, so a solution written to attack
//! codeloop could forge the "passed" line; the judged-values design of the Python path does not
//! have this hole.

use std::fmt::Write as _;

use codeloop_types::{
    ExecReport, Language, Limits, Outcome, ProgramTest, TestId, TestResult, Verdict,
};

use crate::verdicts::{WorkerReply, base_report, termination};

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
                "export MALLOC_ARENA_MAX=2; /usr/bin/javac {JAVAC_FLAGS} -d . Main.java || {{COMPILE_FAILED}} echo compiled >&3; {{RUN_LIMITS}} /usr/bin/java {JVM_FLAGS} -cp . Main; rc=$?; if [ $rc -eq 77 ]; then echo passed >&3; exit 0; fi; exit $rc"
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

/// Go: the trusted `TestMain` reports "passed" after every test ran and passed.
const GO_TEST_MAIN: &str = "\nfunc TestMain(m *testing.M) {\n\tcode := m.Run()\n\tif code == 0 {\n\t\tcodeloopos.NewFile(3, \"result\").Write([]byte(\"passed\\n\"))\n\t}\n\tcodeloopos.Exit(code)\n}\n";

/// JVM flags that keep its address-space reservations under the run's memory limit.
const JVM_FLAGS: &str = "-Xmx256m -Xss8m -XX:ReservedCodeCacheSize=32m -XX:MaxMetaspaceSize=128m -XX:CompressedClassSpaceSize=32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1";
const JAVAC_FLAGS: &str = "-J-Xmx256m -J-XX:ReservedCodeCacheSize=32m -J-XX:MaxMetaspaceSize=128m -J-XX:CompressedClassSpaceSize=32m -J-XX:+UseSerialGC -J-XX:TieredStopAtLevel=1 -nowarn";
/// The trusted `main`: the test's, then exit code 77, which the shell turns into "passed" (a JVM
/// cannot write to an inherited fd without opening its module internals).
const JAVA_MAIN: &str = "public class Main {\n    public static void main(String[] args) throws Exception {\n        CodeloopTest.main(args);\n        System.exit(77);\n    }\n}\n";

/// JavaScript: `console.assert` only prints in Node, so the tests get a `console` of their own (a
/// block-scoped constant the solution cannot reach) whose `assert` throws, naming the failing line.
/// `fs.writeSync` and the source are captured before the solution runs.
const JS_PROLOGUE: &str = "const __codeloopWrite = require('fs').writeSync;\nconst __codeloopSource = require('fs').readFileSync(__filename, 'utf8').split('\\n');\n";
const JS_TEST_OPEN: &str = "\n;{\nconst console = Object.assign({}, globalThis.console, { assert: (ok, ...message) => { if (!ok) { const at = /main\\.js:(\\d+)/.exec(new Error().stack.split('\\n')[2] || ''); const line = at ? __codeloopSource[Number(at[1]) - 1].trim() : message.join(' '); throw new Error('codeloop-assert: ' + line); } } });\n";
const JS_TEST_CLOSE: &str = "\n}\n__codeloopWrite(3, 'passed\\n');\n";

/// The whole source: solution, then the test with its `main` renamed, then the trusted `main`.
fn source(language: Language, solution: &str, test: &str) -> String {
    match language {
        // No test code (a suite with no test): the program only has to compile and start.
        Language::Cpp if test.trim().is_empty() => format!(
            "{solution}\n#include <unistd.h>\nint main() {{\n    ::write(3, \"passed\\n\", 7);\n    return 0;\n}}\n"
        ),
        Language::Cpp => format!(
            "{solution}\n#define main codeloop_test_main\n{test}\n#undef main\n#include <unistd.h>\nint main() {{\n    codeloop_test_main();\n    ::write(3, \"passed\\n\", 7);\n    return 0;\n}}\n"
        ),
        Language::JavaScript => {
            format!("{JS_PROLOGUE}{solution}{JS_TEST_OPEN}{test}{JS_TEST_CLOSE}")
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
                format!("{solution}\n{test}\n{JAVA_MAIN}")
            } else {
                format!(
                    "{solution}\n{test}\n{}",
                    JAVA_MAIN.replace("CodeloopTest.main(args);", "")
                )
            }
        }
        Language::Go => go_source(solution, test),
        Language::Python => solution.to_owned(),
    }
}

const RUST_PASSED: &str = "fn codeloop_passed() {\n    use std::io::Write;\n    use std::os::unix::io::FromRawFd;\n    let mut f = unsafe { std::fs::File::from_raw_fd(3) };\n    let _ = f.write_all(b\"passed\\n\");\n}\n";

/// Solution, tests, and a trusted `main` that makes `calls` and then reports "passed".
fn rust_with_main(solution: &str, tests: &str, calls: &str) -> String {
    format!("{solution}\n{tests}\nfn main() {{\n{calls}    codeloop_passed();\n}}\n{RUST_PASSED}")
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
    format!(
        "package main\n\nimport (\n{}\n\tcodeloopos \"os\"\n)\n\n{body}",
        block.join("\n")
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

/// The worker request's mode-specific fields, or a harness error when the toolchain is missing.
pub(crate) fn request_fields(
    program: &str,
    test: &ProgramTest,
    paths: &RunPaths,
    run: &Limits,
    cgroup_memory: bool,
) -> Result<String, String> {
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
    let files = serde_json::json!({ tc.file: source(test.language, program, &test.code) });
    let run_phase = serde_json::json!({
        "wall_ms": run.wall_ms,
        "memory_mib": run.memory_mib,
    });
    Ok(format!(
        ",\"mode\":\"exec\",\"files\":{files},\"argv\":{},\"run_phase\":{run_phase}",
        serde_json::json!(["/bin/sh", "-c", script])
    ))
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

/// The report of a compile-and-run.
pub(crate) fn report(
    reply: WorkerReply,
    source_text: &str,
    test_input: Option<&str>,
    limits: &Limits,
    layers: &[String],
) -> ExecReport {
    let compiled = reply.results.lines().any(|l| l == "compiled");
    let passed_marker = reply.results.lines().any(|l| l == "passed");
    let verdict = if compiled {
        match termination(&reply, limits, None) {
            Verdict::Pass if passed_marker => Verdict::Pass,
            Verdict::Pass => failed_test(
                test_input.unwrap_or(""),
                "the program ended before the tests finished",
            ),
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
                        l.starts_with("expected")
                            || l.starts_with("actual")
                            || l.starts_with("Error:")
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
            // The error output is the traceback (compiled programs and Node print their own).
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
    } else {
        // The compile step failed, or was stopped at its own limits.
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
            (Some(k), _) if k == "wall" => Some("its wall-clock limit".to_owned()),
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
    };
    let mut report = base_report(reply, limits, layers);
    report.outcome = if verdict.is_pass() {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    report.tests = if test_input.is_some() {
        vec![TestResult {
            id: TestId(0),
            verdict: verdict.clone(),
            cpu_ms: report.cpu_ms,
        }]
    } else {
        Vec::new()
    };
    report.verdict = verdict;
    report
}
