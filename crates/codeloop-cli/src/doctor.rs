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
        "host files hidden (/etc/shadow, /home, /root except toolchains and libraries)",
        "import os\nroot = set(os.listdir('/root')) if os.path.isdir('/root') else set()\nprint('reached' if os.path.exists('/etc/shadow') or os.path.exists('/home') or root - {'.rustup', '.pyenv', '.cache'} else 'contained')\n",
        "contained",
    ),
    (
        "runtime read-only",
        "try:\n    open('/usr/codeloop-doctor', 'w')\n    print('reached')\nexcept OSError:\n    print('contained')\n",
        "contained",
    ),
    (
        "unprivileged uid",
        "import os\nprint('contained' if os.getuid() != 0 else 'reached')\n",
        "contained",
    ),
    (
        "empty environment",
        "import os\nprint('contained' if set(os.environ) <= {'PATH', 'LANG', 'PYTHONHASHSEED', 'PYTHONDONTWRITEBYTECODE', 'LC_CTYPE'} else 'reached ' + ','.join(os.environ))\n",
        "contained",
    ),
];

pub(crate) fn doctor(opts: &ExecOptions) -> Result<ExitCode> {
    let executor = crate::commands::executor(opts)?;
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
