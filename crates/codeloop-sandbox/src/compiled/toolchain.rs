//! Each compiled language's toolchain: where it lives (host and view paths), the shell line
//! that compiles and runs a program test under the compile step's limits and then the run's, and
//! the worker request that carries it out.

use std::fmt::Write as _;

use codeloop_types::{Language, Limits, ProgramTest};

use crate::protocol::worker::{ExecMode, RunPhase};

use super::source::{FRAME_FILE, source};

/// What a language needs: the source file, the shell lines that set up, compile and run, and the
/// compiler binary (with the Debian package that has it).
struct Toolchain {
    file: &'static str,
    /// Shell statements before anything else (each ending in `; `).
    setup: String,
    /// The compile command (`None`: the language has no compile step).
    compile: Option<String>,
    /// The command that runs the program (`exec`ed).
    run: String,
    compiler: String,
    package: &'static str,
}

impl Toolchain {
    /// The shell line of a program test: compile (exit 97 on failure), say `compiled` on the
    /// result channel, lower the limits, run.
    fn test_script(&self) -> String {
        let compile = self
            .compile
            .as_ref()
            .map(|c| format!("( ulimit -S -t {{COMPILE_CPU}}; {c} ) || {{COMPILE_FAILED}} "))
            .unwrap_or_default();
        format!(
            "{}{compile}echo compiled >&3; {{RUN_LIMITS}} exec {}",
            self.setup, self.run
        )
    }

    /// The shell line of a whole program: compile (under its own CPU limit, in a subshell) with
    /// the compiler's output kept aside; on failure, `compile-failed RC` on the result channel,
    /// that output on stderr and exit 97; else `compiled` and the output on the result channel,
    /// written by the shell itself (the worker keeps only what the run's own process writes
    /// there), which is then closed (the program never holds it), and the program runs under the
    /// lowered limits.
    fn program_script(&self) -> String {
        let compile = self.compile.as_ref().map(|c| {
            format!(
                "( ulimit -S -t {{COMPILE_CPU}}; {c} ) > .codeloop-compile 2>&1; rc=$?; if [ $rc -ne 0 ]; then echo \"compile-failed $rc\" >&3; [ $rc -gt 128 ] && echo \"codeloop: the compiler was killed by signal $((rc - 128))\" >&2; cat .codeloop-compile >&2; exit 97; fi; "
            )
        });
        let say = if compile.is_some() {
            "printf 'compiled\\n%s\\n' \"$(cat .codeloop-compile)\" >&3; rm -f .codeloop-compile; "
        } else {
            "echo compiled >&3; "
        };
        format!(
            "{}{}{say}exec 3>&-; {{RUN_LIMITS}} exec {}",
            self.setup,
            compile.unwrap_or_default(),
            self.run
        )
    }
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

/// `language`'s toolchain for a program test, or (`whole`) for a whole program: Go then builds
/// `main.go` with `go build` instead of a test binary with `go test -c`.
fn toolchain(language: Language, paths: &RunPaths, whole: bool) -> Option<Toolchain> {
    match language {
        Language::Cpp => Some(Toolchain {
            file: "main.cpp",
            setup: String::new(),
            compile: Some("g++ -std=c++17 -O0 -o prog main.cpp -lcrypto".to_owned()),
            run: "./prog".to_owned(),
            compiler: "/usr/bin/g++".to_owned(),
            package: "g++",
        }),
        Language::JavaScript => Some(Toolchain {
            file: "main.js",
            setup: "export NODE_PATH=/usr/lib/node_modules:/usr/local/lib/node_modules; ".to_owned(),
            compile: None,
            run: "/usr/bin/node main.js".to_owned(),
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
                setup: String::new(),
                compile: Some(format!(
                    "{inside} --edition 2021 -C opt-level=0 -A warnings -o prog main.rs"
                )),
                run: "./prog".to_owned(),
                compiler: host,
                package: "a Rust toolchain (rustup)",
            })
        }
        Language::Java => Some(Toolchain {
            file: "Main.java",
            setup: "export MALLOC_ARENA_MAX=2; ".to_owned(),
            compile: Some(format!("/usr/bin/javac {JAVAC_FLAGS} -d . Main.java")),
            run: format!("/usr/bin/java {JVM_FLAGS} -cp . Main"),
            compiler: "/usr/bin/javac".to_owned(),
            package: "default-jdk-headless",
        }),
        Language::Go => Some(Toolchain {
            file: if whole { "main.go" } else { "main_test.go" },
            setup: "export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=\"$PWD/.gocache\" GOFLAGS=-buildvcs=false; ".to_owned(),
            compile: Some(if whole {
                "/usr/bin/go build -o prog main.go".to_owned()
            } else {
                "/usr/bin/go test -c -o prog main_test.go".to_owned()
            }),
            run: "./prog".to_owned(),
            compiler: "/usr/bin/go".to_owned(),
            package: "golang-go and golang-github-stretchr-testify-dev",
        }),
        Language::Python => None,
    }
}

/// What the shell does when the compiler fails: exit 97 (a compile error), first saying so on
/// stderr when a signal (a limit of the compile step) killed the compiler.
const COMPILE_FAILED: &str = "{ rc=$?; [ $rc -gt 128 ] && echo \"codeloop: the compiler was killed by signal $((rc - 128))\" >&2; exit 97; };";

/// JVM flags that keep its address-space reservations under the run's memory limit.
const JVM_FLAGS: &str = "-Xmx256m -Xss8m -XX:ReservedCodeCacheSize=32m -XX:MaxMetaspaceSize=128m -XX:CompressedClassSpaceSize=32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1";

const JAVAC_FLAGS: &str = "-J-Xmx256m -J-XX:ReservedCodeCacheSize=32m -J-XX:MaxMetaspaceSize=128m -J-XX:CompressedClassSpaceSize=32m -J-XX:+UseSerialGC -J-XX:TieredStopAtLevel=1 -nowarn";

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

/// The limits a compile-and-run starts under, which the run then lowers to `run`'s when the
/// compiler is done (see `exec_mode`): the compile step's wall clock; CPU and memory the larger of
/// the step's and the run's (a limit can be lowered later, never raised: the compiler gets its
/// own (soft) CPU limit in a subshell, so that it gets SIGXCPU, not SIGKILL); the program's output caps.
pub(crate) fn start_limits(run: &Limits, compile: CompileLimits) -> Limits {
    Limits {
        cpu_ms: compile.cpu_ms.max(run.cpu_ms),
        wall_ms: compile.wall_ms,
        memory_mib: Some(compile.memory_mib.max(run.memory_mib.unwrap_or(0))),
        ..run.clone()
    }
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

/// The toolchain of a run in `language` (`whole`: a whole program), ready: the Go cache copied
/// in, `libraries` linked (Rust), the compiler checked to be there.
fn ready_toolchain(
    language: Language,
    paths: &RunPaths,
    whole: bool,
    libraries: &[String],
) -> Result<Toolchain, String> {
    if language == Language::Rust && paths.rust_sysroot.is_none() && rust_sysroot().is_some() {
        return Err(
            "this executor was started without Rust (its slots' views hold only what their languages need beyond /usr; list Rust in `ExecutorConfig::languages`)"
                .to_owned(),
        );
    }
    let library_dir = paths.library_dir.as_ref().map(|(host, _)| host.as_path());
    let mut tc = toolchain(language, paths, whole)
        .ok_or_else(|| format!("no compiled-language toolchain for {language}"))?;
    if language == Language::Go
        && let Some(dir) = library_dir
    {
        // A build cache holding testify, made once outside the sandbox and copied into each
        // run's work dir (Go needs its cache writable): ~1 s per compile instead of ~5.
        if let Ok(cache) = go_cache(dir) {
            tc.setup = format!(
                "cp -r {} .gocache 2>/dev/null; {}",
                paths.inside(&cache).display(),
                tc.setup
            );
        }
    }
    if !libraries.is_empty() {
        if language != Language::Rust {
            return Err(format!(
                "libraries are supported for Rust only, not {language}"
            ));
        }
        let dir = library_dir.ok_or_else(|| {
            "this program links libraries, and the executor has no library dir (`ExecutorConfig::library_dir`, with Rust among its languages)".to_owned()
        })?;
        let flags = rust_libraries(dir, libraries, |p| paths.inside(p))?;
        tc.compile = tc
            .compile
            .map(|c| c.replacen(" -o prog", &format!(" {flags} -o prog"), 1));
    }
    if !std::path::Path::new(&tc.compiler).exists() {
        return Err(format!(
            "{language} needs {} (install the Debian package `{}`)",
            tc.compiler, tc.package
        ));
    }
    Ok(tc)
}

/// The `exec` mode running `script` with `files`: once compiled, the shell lowers its limits to
/// the program's before it starts it: CPU, and, where no cgroup caps memory (the worker lowers
/// the cgroup's at the same moment), a native program's address space (not for the JVM, Go and
/// V8, which reserve large ranges up front).
fn exec_mode(
    script: &str,
    language: Language,
    files: Vec<(&'static str, String)>,
    run: &Limits,
    compile: CompileLimits,
    cgroup_memory: bool,
) -> ExecMode<'static> {
    let mut run_limits = format!("ulimit -t {};", run.cpu_ms.div_ceil(1000).max(1));
    if let (Some(mib), Language::Cpp | Language::Rust, false) =
        (run.memory_mib, language, cgroup_memory)
    {
        let _ = write!(run_limits, " ulimit -v {};", (mib + 64) * 1024);
    }
    let script = script
        .replace("{RUN_LIMITS}", &run_limits)
        .replace(
            "{COMPILE_CPU}",
            &compile.cpu_ms.div_ceil(1000).max(1).to_string(),
        )
        .replace("{COMPILE_FAILED}", COMPILE_FAILED);
    ExecMode {
        argv: vec!["/bin/sh".to_owned(), "-c".to_owned(), script],
        files,
        binary: None,
        run_phase: Some(RunPhase {
            wall_ms: run.wall_ms,
            memory_mib: run.memory_mib,
        }),
    }
}

/// The worker request's `exec` mode for a program test, or a harness error when the toolchain is
/// missing.
pub(crate) fn request_fields(
    program: &str,
    test: &ProgramTest,
    paths: &RunPaths,
    (run, compile): (&Limits, CompileLimits),
    cgroup_memory: bool,
    frame: &str,
) -> Result<ExecMode<'static>, String> {
    let tc = ready_toolchain(test.language, paths, false, &test.libraries)?;
    Ok(exec_mode(
        &tc.test_script(),
        test.language,
        vec![
            (tc.file, source(test.language, program, &test.code)),
            (FRAME_FILE, frame.to_owned()),
        ],
        run,
        compile,
        cgroup_memory,
    ))
}

/// The worker request's `exec` mode for `program`, a whole program in `language`, and whether
/// the language has a compile step; or a harness error when the toolchain is missing.
pub(crate) fn program_fields(
    program: &str,
    language: Language,
    paths: &RunPaths,
    (run, compile): (&Limits, CompileLimits),
    cgroup_memory: bool,
) -> Result<(ExecMode<'static>, bool), String> {
    let tc = ready_toolchain(language, paths, true, &[])?;
    let mode = exec_mode(
        &tc.program_script(),
        language,
        vec![(tc.file, program.to_owned())],
        run,
        compile,
        cgroup_memory,
    );
    Ok((mode, tc.compile.is_some()))
}
