//! `codeloop sandbox doctor`: which isolation layers are in force on this machine, which are
//! missing and why, checked by running probes inside the sandbox.

use std::process::ExitCode;

use anyhow::Result;
use codeloop_sandbox::Job;
use codeloop_types::{Limits, Verdict};

use crate::ExecOptions;

/// A probe: a program run in the sandbox, what it checks, and whether its output means "contained".
const PROBES: &[(&str, &str, &str)] = &[
    (
        "no network",
        "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=1)\n    print('reached')\nexcept OSError as e:\n    print('contained', e.errno)\n",
        "contained",
    ),
    (
        "host files hidden (/etc/shadow, /home, /root, and in mountinfo no path under /home or /root)",
        "import os\nroot = set(os.listdir('/root')) if os.path.isdir('/root') else set()\nmounts = [l.split()[3:5] for l in open('/proc/self/mountinfo')]\nhome = [p for m in mounts for p in m if p.startswith(('/home', '/root'))]\nprint('reached ' + ' '.join(home) if os.path.exists('/etc/shadow') or os.path.exists('/home') or root or home else 'contained')\n",
        "contained",
    ),
    (
        "runtime read-only",
        "try:\n    open('/usr/codeloop-doctor', 'w')\n    print('reached')\nexcept OSError:\n    print('contained')\n",
        "contained",
    ),
    (
        "unprivileged (a uid of its own, or root of a user namespace mapped to the user; no capabilities)",
        "import os\nm = open('/proc/self/uid_map').read().split()\ncaps = int([l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1], 16)\nprint('contained' if (os.getuid() != 0 or m[1] != '0') and caps == 0 else f'reached uid={os.getuid()} map={m} caps={caps:x}')\n",
        "contained",
    ),
    (
        "own pid namespace (parent outside, only the init and itself visible)",
        "import os\npids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\nprint('contained' if os.getppid() == 0 and pids == sorted({1, os.getpid()}) else f'reached ppid={os.getppid()} pids={pids[:10]}')\n",
        "contained",
    ),
    (
        "cgroup of its own (cgroup namespace root)",
        "lines = open('/proc/self/cgroup').read().split()\nprint('contained' if lines and all(l.endswith(':/') for l in lines) else 'reached ' + ' '.join(lines))\n",
        "contained",
    ),
    (
        "syscall filter (unshare refused)",
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nr = libc.syscall(272, 0x10000000)\nmode = open('/proc/self/status').read().split('Seccomp:')[1].split()[0]\nprint('contained' if r == -1 and ctypes.get_errno() == 1 and mode == '2' else f'reached unshare={r} seccomp={mode}')\n",
        "contained",
    ),
    (
        "socket families (vsock, netlink, packet and all but unix/inet/inet6 refused)",
        "import socket\nrefused = []\nfor family in (socket.AF_VSOCK, socket.AF_NETLINK, socket.AF_PACKET, socket.AF_ALG):\n    try:\n        socket.socket(family, socket.SOCK_DGRAM if family != socket.AF_ALG else socket.SOCK_SEQPACKET).close()\n    except OSError as e:\n        refused.append(e.errno == 97)\n    else:\n        refused.append(False)\na, b = socket.socketpair()\nprint('contained' if all(refused) else f'reached {refused}')\n",
        "contained",
    ),
    (
        "landlock (no write to its own /proc/self/comm, no TCP)",
        "import socket\ntry:\n    open('/proc/self/comm', 'w').write('x')\n    print('reached')\nexcept PermissionError:\n    try:\n        socket.socket().bind(('127.0.0.1', 0))\n        print('reached bind')\n    except PermissionError:\n        print('contained')\n",
        "contained",
    ),
    (
        "empty environment",
        "import os\nprint('contained' if set(os.environ) <= {'PATH', 'LANG', 'PYTHONHASHSEED', 'PYTHONDONTWRITEBYTECODE', 'LC_CTYPE'} else 'reached ' + ','.join(os.environ))\n",
        "contained",
    ),
];

pub(crate) fn doctor(opts: &ExecOptions) -> Result<ExitCode> {
    let executor = crate::commands::executor(opts, &[codeloop_types::Language::Python])?;
    println!(
        "interpreter: {} (Python {})",
        executor.interpreter().path.display(),
        executor.interpreter().version
    );
    println!("layers in force:");
    for l in executor.layers() {
        println!("  + {l}");
    }
    if executor.missing_layers().is_empty() {
        println!("missing layers: none");
    } else {
        println!("missing layers:");
        for l in executor.missing_layers() {
            println!("  - {l}");
        }
    }
    println!("probes (run inside the sandbox):");
    let mut failed = 0;
    for (what, program, want) in PROBES {
        let r = executor.run(Job::script(program, Limits::default()));
        let got = r.stdout.trim();
        let ok = r.verdict == Verdict::Pass && got.starts_with(want);
        failed += usize::from(!ok);
        println!("  {} {what}: {got}", if ok { "ok  " } else { "FAIL" });
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
