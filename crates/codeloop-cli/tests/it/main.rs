//! The integration tests of the `codeloop` binary, one test binary: the commands end to end
//! (`cli`), and `codeloop run` killed and resumed against a scripted model (`run`).

mod cli;
mod run;
