//! The integration tests of the `codeloop` binary, one test binary: the commands end to end
//! (`cli`), `codeloop run` and `sweep` against a scripted model and the embedded one (`run`),
//! killed and resumed (`resume`), pool strategies and comparisons (`pool`), traces (`trace`), and
//! snapshots of what users read (`snapshots`).

mod agents;
mod cli;
mod pool;
mod resume;
mod run;
mod serve;
mod serve_data;
mod snapshots;
mod trace;

/// Asserts that a command succeeded, showing its standard error when it did not.
#[track_caller]
pub(crate) fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
