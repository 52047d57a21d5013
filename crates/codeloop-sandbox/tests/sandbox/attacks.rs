//! The attack corpus in `testdata/attacks`: hostile programs, each with the verdict it must get
//! and the proof that it harmed nothing (no process left, no file written, no network, no host
//! secret). Attacks that need the namespace layers check them only where the pool has them.

use codeloop_sandbox::{Executor, ExecutorConfig, Job};
use codeloop_types::{Limits, Outcome, Verdict};

use crate::support::{self, confined, no_breach, run_script, slot_processes, stopped_in_time};
use crate::verdicts::run_p0;

fn executor() -> &'static Executor {
    support::pool()
}

// The fork bomb saturates every CPU until its wall limit (CPU time is limited per process, not
// per run, until cgroups come): it runs alone (`support::alone`), and other tests take the shared
// side (`support::shared`).

fn attack(name: &str) -> String {
    support::attack_source(name)
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
