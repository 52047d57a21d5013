//! Process attributes set between fork and exec of our worker processes.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes the started worker: die with us, adopt orphans of its runs (child subreaper, so nothing a run
/// starts can escape the final sweep), and never gain privileges through exec (no-new-privs, inherited
/// by every candidate it forks).
pub(crate) fn harden_worker(cmd: &mut Command) {
    #[expect(
        unsafe_code,
        reason = "prctl between fork and exec; async-signal-safe calls only"
    )]
    // SAFETY: the closure only calls prctl, which is async-signal-safe, and touches no Rust state.
    unsafe {
        cmd.pre_exec(|| {
            for (option, arg) in [
                (libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong),
                (libc::PR_SET_CHILD_SUBREAPER, 1),
                (libc::PR_SET_NO_NEW_PRIVS, 1),
            ] {
                if libc::prctl(option, arg, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Whether this process runs as root (then each slot's runs get a uid of their own).
pub(crate) fn is_root() -> bool {
    #[expect(unsafe_code, reason = "geteuid has no preconditions")]
    // SAFETY: geteuid cannot fail and has no preconditions.
    unsafe {
        libc::geteuid() == 0
    }
}

/// The name of a signal, e.g. `SIGSEGV`.
pub(crate) fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGSYS => "SIGSYS",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGALRM => "SIGALRM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => return format!("signal {sig}"),
    };
    name.to_owned()
}
