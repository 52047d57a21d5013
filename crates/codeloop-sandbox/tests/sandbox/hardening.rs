//! The hardening layers, each checked by what a program inside can and cannot do, and from outside
//! where the program could lie: the C programs of `testdata/attacks` (compiled outside, run
//! inside), the cgroup's memory and task caps, the syscall filter, Landlock, the pid namespace and
//! its init, and what one run can leave for the next. Where the machine cannot give a layer (not
//! root, an old kernel), its checks are skipped with the reason, and `missing_layers` says so.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLockReadGuard};

use codeloop_sandbox::{Executor, ExecutorConfig, Job};
use codeloop_types::{ExecReport, Limits, Verdict};

use crate::support::{self, no_breach};

fn executor() -> &'static Executor {
    support::single_slot_pool()
}

/// Runs of this module go one at a time (one slot, and some tests look at the machine around
/// it), beside the tests of other modules but never beside one that has the machine alone.
fn serial() -> (RwLockReadGuard<'static, ()>, MutexGuard<'static, ()>) {
    static LOCK: Mutex<()> = Mutex::new(());
    (
        support::shared(),
        LOCK.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

fn has_layer(prefix: &str) -> bool {
    let yes = executor().layers().iter().any(|l| l.starts_with(prefix));
    if !yes {
        eprintln!(
            "skipping checks of `{prefix}`: missing layers {:?}",
            executor().missing_layers()
        );
    }
    yes
}

fn attack(name: &str) -> PathBuf {
    support::attack_path(name)
}

/// Compiles C source with gcc on the host (outside the sandbox) and returns the executable's bytes.
fn compile_c(source: &Path) -> Arc<[u8]> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("prog");
    let status = std::process::Command::new("gcc")
        .args(["-O0", "-pthread", "-o"])
        .arg(&out)
        .arg(source)
        .status()
        .expect("gcc runs (scripts/setup.sh installs it)");
    assert!(status.success(), "gcc failed on {}", source.display());
    std::fs::read(&out).unwrap().into()
}

fn compile_c_text(name: &str, text: &str) -> Arc<[u8]> {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join(format!("{name}.c"));
    std::fs::write(&src, text).unwrap();
    compile_c(&src)
}

fn run_script(program: &str) -> ExecReport {
    executor().run(Job::script(program, Limits::default()))
}

#[test]
fn attack_c01_segfault_is_a_runtime_error_with_its_signal_and_no_core() {
    let _one = serial();
    let r = executor().run(Job::binary(
        compile_c(&attack("c01_segfault.c")),
        Limits::default(),
    ));
    no_breach(&r);
    assert!(
        matches!(&r.verdict, Verdict::RuntimeError { kind, .. } if kind == "SIGSEGV"),
        "{r:?}"
    );
    assert_eq!(r.status.signal, Some(libc::SIGSEGV));
    assert_eq!(r.stdout, "about to crash\n");
    // No core dump: the run's core size limit is 0.
    let limits = run_script("print(open('/proc/self/limits').read())");
    let core = limits
        .stdout
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_default()
        .to_owned();
    assert!(core.split_whitespace().nth(4) == Some("0"), "{core}");
}

#[test]
fn attack_c02_reserving_address_space_is_not_using_memory() {
    let _one = serial();
    let r = executor().run(Job::binary(
        compile_c(&attack("c02_va_reserve_ok.c")),
        Limits::default(),
    ));
    no_breach(&r);
    if has_layer("cgroup") {
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert_eq!(r.stdout, "ok\n");
    }
}

#[test]
fn a_compiled_memory_hog_is_a_memory_limit_from_the_cgroup() {
    let _one = serial();
    if !has_layer("cgroup") {
        return;
    }
    let hog = compile_c_text(
        "hog",
        "#include <stdlib.h>\n#include <string.h>\n#include <stdio.h>\nint main(void) {\n  for (int i = 0; i < 64; i++) {\n    char *p = malloc(64 << 20);\n    if (!p) { puts(\"malloc failed\"); return 3; }\n    memset(p, 1, 64 << 20);\n  }\n  puts(\"SANDBOX-BREACH: 4 GiB touched\");\n  return 0;\n}\n",
    );
    let r = executor().run(Job::binary(hog, Limits::default()));
    no_breach(&r);
    assert_eq!(r.verdict, Verdict::MemoryLimit, "{r:?}");
    // The slot works on.
    assert_eq!(run_script("print(2)").stdout, "2\n");
}

#[test]
fn a_compiled_fork_bomb_hits_the_task_cap_and_leaves_nothing() {
    let _one = serial();
    if !has_layer("cgroup") {
        return;
    }
    // Forks until refused, counting; each child sleeps forever (orphans for the init to sweep).
    let bomb = compile_c_text(
        "bomb",
        "#include <stdio.h>\n#include <unistd.h>\nint main(void) {\n  int n = 0;\n  for (int i = 0; i < 5000; i++) {\n    pid_t p = fork();\n    if (p == 0) { for (;;) pause(); }\n    if (p < 0) break;\n    n++;\n  }\n  printf(\"%d\\n\", n);\n  if (n >= 5000) puts(\"SANDBOX-BREACH: no task cap\");\n  return 0;\n}\n",
    );
    let r = executor().run(Job::binary(bomb, Limits::default()));
    no_breach(&r);
    let made: u64 = r.stdout.trim().parse().unwrap_or(u64::MAX);
    assert!(
        made < 64,
        "{made} processes forked under a cap of 64: {r:?}"
    );
    // Everything it forked is gone before the next run: that run sees only itself and the init.
    let next = run_script(
        "import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()))",
    );
    assert_eq!(next.stdout.trim(), "[1]", "{next:?}");
}

#[test]
fn the_run_sees_only_its_own_pid_namespace_and_cannot_touch_a_same_uid_sentinel() {
    let _one = serial();
    if !has_layer("pid-namespace") {
        return;
    }
    // A sentinel on the host with the uid of the run's slot (slot 0 of a root pool: uid 61000).
    let mut sentinel = std::process::Command::new("setpriv")
        .args([
            "--reuid=61000",
            "--regid=61000",
            "--clear-groups",
            "sleep",
            "30",
        ])
        .spawn()
        .expect("setpriv (util-linux) starts the sentinel");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let r = executor().run(Job::script(
        &std::fs::read_to_string(attack("11_kill_everything.py")).unwrap(),
        Limits::default(),
    ));
    no_breach(&r);
    assert!(
        matches!(r.verdict, Verdict::Pass | Verdict::RuntimeError { .. }),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("ppid=0"),
        "the parent is outside the namespace: {r:?}"
    );
    assert!(
        sentinel.try_wait().unwrap().is_none(),
        "the same-uid sentinel on the host was killed"
    );
    sentinel.kill().unwrap();
    sentinel.wait().unwrap();
    let view = run_script(
        "import os\nprint(os.getppid(), sorted(int(p) for p in os.listdir('/proc') if p.isdigit()) == sorted({1, os.getpid()}))",
    );
    assert_eq!(view.stdout.trim(), "0 True", "{view:?}");
}

/// A Python program that calls raw syscalls through ctypes and prints `name=result/errno`.
const SYSCALLS: &str = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    r = libc.syscall(*args)
    print(f"{name}={r}/{ctypes.get_errno()}")
call("ptrace", 101, 0, 0, 0, 0)             # PTRACE_TRACEME... any request
call("unshare", 272, 0x10000000)            # CLONE_NEWUSER
# The namespaces each run makes for itself pass the filter; the kernel refuses the program, which
# holds no capability.
call("unshare_run_namespaces", 272, 0x08000000 | 0x04000000 | 0x02000000)
call("unshare_ipc", 272, 0x08000000)
call("mount", 165, b"none", b"/tmp", b"tmpfs", 0, None)
call("clone_newns", 56, 0x20000 | 17, 0, 0, 0, 0)   # clone(CLONE_NEWNS | SIGCHLD)
call("clone3", 435, None, 0)
call("io_uring_setup", 425, 8, None)
call("bpf", 321, 0, None, 0)
call("keyctl", 250, 0, 0, 0, 0, 0)
call("perf_event_open", 298, None, 0, -1, -1, 0)
print("getpid ok", os.getpid() > 0)
"#;

#[test]
fn the_syscall_filter_refuses_what_it_names_and_lets_runtimes_fall_back() {
    let _one = serial();
    if !has_layer("seccomp") {
        return;
    }
    let r = run_script(SYSCALLS);
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    let got: std::collections::HashMap<&str, &str> =
        r.stdout.lines().filter_map(|l| l.split_once('=')).collect();
    let eperm = format!("-1/{}", libc::EPERM);
    let enosys = format!("-1/{}", libc::ENOSYS);
    for name in [
        "ptrace",
        "unshare",
        "unshare_run_namespaces",
        "unshare_ipc",
        "mount",
        "clone_newns",
        "bpf",
        "keyctl",
        "perf_event_open",
    ] {
        assert_eq!(got.get(name), Some(&eperm.as_str()), "{name}: {r:?}");
    }
    for name in ["clone3", "io_uring_setup"] {
        assert_eq!(got.get(name), Some(&enosys.as_str()), "{name}: {r:?}");
    }
    assert!(r.stdout.contains("getpid ok True"));
    // Threads and subprocesses still work (glibc falls back from clone3 to clone).
    let threads = run_script(
        "import threading, subprocess\nt = threading.Thread(target=print, args=('thread',))\nt.start(); t.join()\nprint(subprocess.run(['/bin/echo', 'child'], capture_output=True, text=True).stdout.strip())",
    );
    assert_eq!(threads.stdout, "thread\nchild\n", "{threads:?}");
    // The x32 entry point (syscall number with bit 30 set) kills the process.
    let x32 = run_script(
        "import ctypes\nctypes.CDLL(None).syscall(0x40000000 + 39)\nprint('SANDBOX-BREACH: x32 syscall returned')",
    );
    no_breach(&x32);
    assert_eq!(x32.status.signal, Some(libc::SIGSYS), "{x32:?}");
}

/// Every address family (0 to 63), with each socket type, through `socket` and `socketpair`: the
/// errno, or 0 when the call succeeded.
const SOCKET_FAMILIES: &str = r"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
fds = (ctypes.c_int * 2)()
for family in range(64):
    results = []
    for kind in (1, 2, 3, 5):  # SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET
        fd = libc.socket(family, kind, 0)
        results.append(0 if fd >= 0 else ctypes.get_errno())
        if fd >= 0:
            libc.close(fd)
        r = libc.socketpair(family, kind, 0, fds)
        results.append(0 if r == 0 else ctypes.get_errno())
        if r == 0:
            libc.close(fds[0]); libc.close(fds[1])
    print(family, *results)
";

#[test]
fn sockets_of_families_other_than_unix_and_ip_are_refused() {
    let _one = serial();
    if !has_layer("seccomp") {
        return;
    }
    // The check can fail: outside the sandbox, this kernel opens netlink sockets.
    #[expect(unsafe_code, reason = "socket and close on plain integers")]
    // SAFETY: socket takes integers and returns an fd we own; close takes that fd.
    unsafe {
        let fd = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, 0);
        assert!(fd >= 0, "netlink sockets open on the host");
        libc::close(fd);
    }
    let r = run_script(SOCKET_FAMILIES);
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    let mut seen = 0;
    for line in r.stdout.lines() {
        let mut fields = line.split_whitespace().map(|f| f.parse::<i32>().unwrap());
        let family = fields.next().unwrap();
        let errnos: Vec<i32> = fields.collect();
        seen += 1;
        if [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6].contains(&family) {
            assert!(
                !errnos.contains(&libc::EAFNOSUPPORT),
                "family {family} is allowed: {errnos:?}"
            );
            assert!(errnos.contains(&0), "family {family} opens: {errnos:?}");
        } else {
            assert!(
                errnos.iter().all(|&e| e == libc::EAFNOSUPPORT),
                "family {family} (vsock is 40, netlink 16, packet 17, alg 38, xdp 44) must get EAFNOSUPPORT: {errnos:?}"
            );
        }
    }
    assert_eq!(seen, 64, "{r:?}");
}

#[test]
fn landlock_confines_writes_network_and_signals() {
    let _one = serial();
    if !has_layer("landlock") {
        return;
    }
    let r = run_script(
        r#"
import errno, os, socket
def attempt(name, fn):
    try:
        fn()
        print(f"{name}=ok")
    except OSError as e:
        print(f"{name}={errno.errorcode.get(e.errno, e.errno)}")
attempt("workdir", lambda: open("here", "w").write("x"))
attempt("tmp", lambda: open("/tmp/x", "w").write("x"))
attempt("devnull", lambda: open("/dev/null", "w").write("x"))
# Allowed by file permissions (our own process), refused by Landlock.
attempt("proc", lambda: open("/proc/self/comm", "w").write("x"))
attempt("connect", lambda: socket.create_connection(("127.0.0.1", 9), timeout=1))
attempt("bind", lambda: socket.socket().bind(("127.0.0.1", 0)))
"#,
    );
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    for expected in [
        "workdir=ok",
        "tmp=ok",
        "devnull=ok",
        "proc=EACCES",
        "connect=EACCES",
        "bind=EACCES",
    ] {
        assert!(r.stdout.lines().any(|l| l == expected), "{expected}: {r:?}");
    }
}

#[test]
fn nothing_of_one_run_reaches_the_next_through_tmp_or_sysv_ipc() {
    let _one = serial();
    if !has_layer("ipc, uts and cgroup namespaces per run") {
        return;
    }
    let first = run_script(
        r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print("shm", libc.shmget(4242, 4096, 0o1000 | 0o666) >= 0)   # IPC_CREAT
open("/tmp/left-behind", "w").write("secret")
"#,
    );
    assert_eq!(first.stdout, "shm True\n", "{first:?}");
    let second = run_script(
        r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print("shm", libc.shmget(4242, 0, 0) >= 0, "tmp", os.path.exists("/tmp/left-behind"))
"#,
    );
    assert_eq!(second.stdout, "shm False tmp False\n", "{second:?}");
}

#[test]
fn every_layer_is_in_force_here_and_strict_mode_starts() {
    let _one = serial();
    if !has_layer("mount-namespace") {
        return;
    }
    assert!(
        executor().missing_layers().is_empty(),
        "missing: {:?}",
        executor().missing_layers()
    );
    for layer in [
        "pid-namespace",
        "cgroup",
        "landlock",
        "seccomp",
        "uid-per-slot",
        "net-namespace",
    ] {
        assert!(
            executor().layers().iter().any(|l| l.starts_with(layer)),
            "{layer} not in {:?}",
            executor().layers()
        );
    }
    // Every report names the layers it ran under.
    let r = run_script("print(1)");
    assert_eq!(r.layers, executor().layers());
    // The run's work dir has a neutral path: nothing of the host's layout (temp dir, pids).
    let cwd = run_script("import os\nprint(os.getcwd())");
    assert!(
        cwd.stdout
            .trim()
            .strip_prefix("/sandbox/run-")
            .is_some_and(|n| n.parse::<u64>().is_ok()),
        "{cwd:?}"
    );
    let strict = Executor::start(&ExecutorConfig {
        slots: 1,
        strict: true,
        ..ExecutorConfig::default()
    })
    .expect("--strict starts where every layer is available");
    assert_eq!(
        strict
            .run(Job::script("print(3)", Limits::default()))
            .stdout,
        "3\n"
    );
}

// Threats of the threat model (reference/sandbox.md section 2) that the public corpus lacks.

#[test]
fn memory_in_a_memfd_counts_against_the_cgroup() {
    let _one = serial();
    if !has_layer("cgroup") {
        return;
    }
    // Anonymous shared memory is no heap allocation: RLIMIT_AS misses it, the cgroup does not.
    // Each memfd stays under the 16 MiB file-size limit; together they hold 1 GiB.
    let r = run_script(
        "import os\nchunk = b'x' * (1 << 20)\nfds = []\nfor i in range(68):\n    fd = os.memfd_create('x')\n    fds.append(fd)\n    for j in range(15):\n        os.write(fd, chunk)\nprint('SANDBOX-BREACH: 1 GiB in memfds')\n",
    );
    no_breach(&r);
    assert_eq!(r.verdict, Verdict::MemoryLimit, "{r:?}");
}

#[test]
fn a_program_that_stops_itself_is_a_time_limit_and_is_gone() {
    let _one = serial();
    let r = executor().run(Job::script(
        "import os, signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('stopping', flush=True)\nos.kill(os.getpid(), signal.SIGSTOP)\nprint('SANDBOX-BREACH: resumed')\n",
        Limits {
            wall_ms: 1_000,
            ..Limits::default()
        },
    ));
    no_breach(&r);
    assert_eq!(r.verdict, Verdict::TimeLimit, "{r:?}");
    assert_eq!(run_script("print(4)").stdout, "4\n");
}

#[test]
fn an_orphan_burning_cpu_after_its_parent_exits_is_swept() {
    let _one = serial();
    if !has_layer("pid-namespace") {
        return;
    }
    let r = run_script(
        "import os\nif os.fork() == 0:\n    os.setsid()\n    while True:\n        pass\nprint('parent done')\n",
    );
    assert_eq!(r.stdout, "parent done\n", "{r:?}");
    let next = run_script(
        "import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()))",
    );
    assert_eq!(next.stdout.trim(), "[1]", "the orphan survived: {next:?}");
}

#[test]
fn the_i386_entry_point_kills_the_process() {
    let _one = serial();
    if !has_layer("seccomp") || !cfg!(target_arch = "x86_64") {
        return;
    }
    // getpid through `int 0x80` (i386 syscall 20): the filter's architecture check kills it.
    let bin = compile_c_text(
        "int80",
        "#include <stdio.h>\nint main(void) {\n  long r;\n  __asm__ volatile (\"int $0x80\" : \"=a\"(r) : \"a\"(20L) : \"memory\");\n  printf(\"SANDBOX-BREACH: int 0x80 returned %ld\\n\", r);\n  return 0;\n}\n",
    );
    let r = executor().run(Job::binary(bin, Limits::default()));
    no_breach(&r);
    assert_eq!(r.status.signal, Some(libc::SIGSYS), "{r:?}");
}

#[test]
fn no_shared_memory_dir_no_home_no_userfaultfd() {
    let _one = serial();
    if !has_layer("mount-namespace") {
        return;
    }
    let r = run_script(
        "import ctypes, os\nprint(os.path.exists('/dev/shm'), os.environ.get('HOME'))\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.syscall(323, 0), ctypes.get_errno())\n",
    );
    assert_eq!(
        r.stdout,
        format!("False None\n-1 {}\n", libc::EPERM),
        "{r:?}"
    );
}

/// The mount points and bind sources (`root`) of a run's `/proc/self/mountinfo`.
fn mounts(pool: &Executor) -> Vec<(String, String)> {
    let r = pool.run(Job::script(
        "print(open('/proc/self/mountinfo').read())",
        Limits::default(),
    ));
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    r.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[3].to_owned(), f[4].to_owned())
        })
        .collect()
}

#[test]
fn a_python_run_mounts_nothing_from_home_directories() {
    let _one = serial();
    if !has_layer("mount-namespace") {
        return;
    }
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()));
    // A library dir in the home directory, as the CLI's cache is (`~/.cache/codeloop/libraries`);
    // and on this machine the Rust toolchain is rustup's, in the home directory too.
    let libraries = tempfile::Builder::new()
        .prefix(".codeloop-test-libraries")
        .tempdir_in(&home)
        .unwrap();
    let under_home = |p: &str| {
        Path::new(p).starts_with(&home) || p.starts_with("/home") || p.starts_with("/root")
    };
    let python = Executor::start(&ExecutorConfig {
        slots: 1,
        library_dir: Some(libraries.path().to_path_buf()),
        ..ExecutorConfig::default()
    })
    .unwrap();
    for (root, point) in mounts(&python) {
        assert!(
            !under_home(&root) && !under_home(&point),
            "a Python run sees {root} mounted at {point}"
        );
    }
    // An executor that runs Rust binds the toolchain and the libraries at neutral mount points
    // (mountinfo still names their sources: the kernel shows each bind's root).
    let rust = Executor::start(&ExecutorConfig {
        slots: 1,
        library_dir: Some(libraries.path().to_path_buf()),
        languages: vec![codeloop_types::Language::Rust],
        ..ExecutorConfig::default()
    })
    .unwrap();
    let points: Vec<String> = mounts(&rust).into_iter().map(|(_, p)| p).collect();
    assert!(points.iter().all(|p| !under_home(p)), "{points:?}");
    assert!(
        points.iter().any(|p| p == "/opt/codeloop/libraries"),
        "{points:?}"
    );
}
