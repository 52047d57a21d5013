//! The integration tests of the `codeloop` binary, one test binary: the commands end to end
//! (`cli`), `codeloop run` killed and resumed against a scripted model (`run`), and snapshots of
//! what users read (`snapshots`).

mod cli;
mod resume;
mod run;
mod snapshots;
