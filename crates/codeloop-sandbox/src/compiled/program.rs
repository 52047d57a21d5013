//! Whole programs in compiled languages (`Job::language`): compiled inside the run, then run as
//! a script is, with the compile step reported on its own
//! ([`CompileReport`](codeloop_types::CompileReport)). The shell line is the toolchain's
//! `program_script`: the compiler's output goes to the result channel after `compiled` (or to
//! stderr, with `compile-failed RC`, when it fails), and the channel is closed before the program
//! starts, so nothing the program writes can pass for the compiler's.

use codeloop_types::{CompileReport, ExecReport, Limits, Outcome};

use crate::protocol::worker::{Killed, WorkerReply};
use crate::verdicts::{base_report, harness_error, script_report};

/// The report of a whole program's run; `has_compile`: its language has a compile step.
pub(crate) fn report(
    mut reply: WorkerReply,
    has_compile: bool,
    limits: &Limits,
    layers: &[String],
) -> ExecReport {
    if let Some(e) = &reply.harness_error {
        return harness_error(e, limits, layers);
    }
    let results = std::mem::take(&mut reply.results);
    let compile_ms = reply.compile_ms.unwrap_or(reply.wall_ms);
    if let Some(output) = results
        .strip_prefix("compiled\n")
        .or((results == "compiled").then_some(""))
    {
        let compile = has_compile.then(|| CompileReport {
            ok: true,
            exit_code: 0,
            timed_out: false,
            output: output.to_owned(),
            wall_ms: compile_ms,
        });
        let mut report = script_report(reply, limits, layers);
        report.compile = compile;
        return report;
    }
    // The job's files could not be written (the driver says so and exits 72 before the shell).
    if reply.exit_code == Some(72)
        && reply
            .stderr
            .contains("codeloop: cannot write the run's files")
    {
        return harness_error(reply.stderr.trim(), limits, layers);
    }
    if !has_compile {
        return harness_error(
            &format!(
                "the run ended before its program started: {}",
                reply.stderr.trim()
            ),
            limits,
            layers,
        );
    }
    // The compile step failed, or a limit stopped it.
    let rc = results
        .lines()
        .find_map(|l| l.strip_prefix("compile-failed "))
        .and_then(|n| n.trim().parse::<i32>().ok());
    let signal = rc.filter(|&c| c > 128).map(|c| c - 128).or(reply.signal);
    let timed_out = reply.killed == Some(Killed::Wall) || signal == Some(libc::SIGXCPU);
    let exit_code = match (signal, rc) {
        (Some(sig), _) => -sig,
        (None, Some(c)) => c,
        (None, None) => 1,
    };
    let verdict = super::report::compile_error(&reply);
    let output = reply.stderr.clone();
    let wall_ms = reply.wall_ms;
    let mut report = base_report(reply, limits, layers);
    report.outcome = Outcome::Failed;
    report.verdict = verdict;
    report.compile = Some(CompileReport {
        ok: false,
        exit_code,
        timed_out,
        output,
        wall_ms,
    });
    report
}
