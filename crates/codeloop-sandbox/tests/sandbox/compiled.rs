//! Programs in compiled languages and Node.js under the sandbox: the run limits, not the compile
//! limits, bind the program; a compile step past its own limits says so; nothing is left behind.

use std::sync::Arc;

use codeloop_sandbox::{Executor, ExecutorConfig, Job};
use codeloop_types::{Expect, Limits, Outcome, TestCase, TestId, TestSuite, Verdict};

use crate::support::{self, confined, slot_processes};

fn executor() -> &'static Executor {
    support::pool()
}

/// A one-test program suite in `language`.
fn program_suite(language: codeloop_types::Language, test: &str) -> Arc<TestSuite> {
    Arc::new(TestSuite {
        tests: vec![TestCase {
            id: TestId(0),
            calls: (0, 1),
            input: "the test".to_owned(),
            expected: None,
            expect: Expect::Program,
        }],
        call_cpu_ms: vec![10_000],
        program_test: Some(codeloop_types::ProgramTest {
            language,
            code: test.to_owned(),
            libraries: Vec::new(),
        }),
        ..TestSuite::empty(&format!("spawn-{language}"))
    })
}

#[test]
fn node_and_go_programs_leave_no_process_behind() {
    let _alone = support::alone();
    // A pool of its own, with uids no other test uses, so the census sees only these runs.
    let pool = Executor::start(&ExecutorConfig {
        slots: 1,
        uid_base: 63_000,
        ..ExecutorConfig::default()
    })
    .unwrap();
    let cases = [
        (
            codeloop_types::Language::JavaScript,
            "const spawnIt = () => { require('child_process').spawn('/bin/sleep', ['30'], { detached: true, stdio: 'ignore' }).unref(); };\n",
            "spawnIt();\n",
        ),
        (
            codeloop_types::Language::Go,
            "import \"os/exec\"\n\nfunc SpawnIt() {\n\texec.Command(\"/bin/sleep\", \"30\").Start()\n}\n",
            "import \"testing\"\n\nfunc TestSpawn(t *testing.T) {\n\tSpawnIt()\n}\n",
        ),
    ];
    for (language, solution, test) in cases {
        if language == codeloop_types::Language::Go && !std::path::Path::new("/usr/bin/go").exists()
        {
            continue;
        }
        let r = pool.run(Job::suite(
            solution.into(),
            "",
            program_suite(language, test),
            Limits::default(),
        ));
        assert_eq!(r.outcome, Outcome::Passed, "{language}: {r:?}");
        if std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        {
            assert_eq!(
                slot_processes(63_000),
                0,
                "{language}: a process outlived its run"
            );
        }
    }
}

/// A C++ program test whose one test has a 1 s budget.
fn cpp_suite(test: &str) -> Arc<TestSuite> {
    let mut suite = (*program_suite(codeloop_types::Language::Cpp, test)).clone();
    suite.call_cpu_ms = vec![1_000];
    Arc::new(suite)
}

#[test]
fn compiled_programs_run_under_the_run_limits_not_the_compile_limits() {
    if !std::path::Path::new("/usr/bin/g++").exists() {
        return;
    }
    // The compile step may take 10 s of CPU; the program gets the run's 2 s.
    let r = executor().run(Job::suite(
        "int spin() { volatile long x = 0; for (;;) x++; }\n".into(),
        "",
        cpp_suite("int main() { spin(); }\n"),
        Limits::default(),
    ));
    assert_eq!(r.verdict, Verdict::TimeLimit, "{r:?}");
    assert_eq!(r.limits.cpu_ms, 2_000, "{r:?}");
    assert!(
        r.cpu_ms < 10_000.0,
        "stopped by the compile step's CPU limit instead: {r:?}"
    );
}

#[test]
fn a_compile_step_past_its_own_limits_is_a_compile_error_saying_so() {
    if !std::path::Path::new("/usr/bin/g++").exists() {
        return;
    }
    let pool = Executor::start(&ExecutorConfig {
        slots: 1,
        uid_base: 63_100,
        compile: codeloop_sandbox::CompileLimits {
            cpu_ms: 1_000,
            wall_ms: 20_000,
            memory_mib: 1024,
        },
        ..ExecutorConfig::default()
    })
    .unwrap();
    // Several seconds of g++ CPU: many instantiations of heavy standard templates.
    let heavy = "#include <bits/stdc++.h>\ntemplate <int N> struct Big { std::map<std::tuple<int, std::string, double>, std::vector<std::regex>> m; void go() { m[{N, \"x\", 1.0}].push_back(std::regex(\"a+b*\")); Big<N - 1>().go(); } };\ntemplate <> struct Big<0> { void go() {} };\nvoid run() { Big<300>().go(); }\n";
    let r = pool.run(Job::suite(
        heavy.into(),
        "",
        cpp_suite("int main() { run(); }\n"),
        Limits::default(),
    ));
    assert!(
        matches!(&r.verdict, Verdict::CompileError { message } if message.contains("stopped by its CPU limit")),
        "{r:?}"
    );
}

#[test]
fn a_compiled_program_past_the_run_memory_is_a_memory_limit() {
    if !std::path::Path::new("/usr/bin/g++").exists() || !confined() {
        return;
    }
    // 512 MiB touched under the run's 256 MiB (the compile step may use 1 GiB).
    let r = executor().run(Job::suite(
        "#include <cstring>\n#include <cstdlib>\nvoid hog() { for (int i = 0; i < 8; i++) { char *p = (char *)malloc(64 << 20); if (p) memset(p, 1, 64 << 20); } }\n".into(),
        "",
        cpp_suite("int main() { hog(); return 0; }\n"),
        Limits::default(),
    ));
    assert_eq!(r.verdict, Verdict::MemoryLimit, "{r:?}");
}
