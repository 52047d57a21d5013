//! Program tests in compiled languages (C++, Java, JavaScript, Go, Rust): the solution, a trusted
//! harness and the dataset's test code are compiled and run in one sandboxed run. The worker
//! writes the sources into the run's work dir and execs a shell line that compiles, reports
//! "compiled" on the result channel (fd 3) and runs the program.
//!
//! **The program never decides its verdict.** Test code comes prepared (engine `split`): each
//! assert that compares a call with a constant is a *hook* that reports the call's value, and the
//! expected constant stays outside the sandbox ([`Expect::Judged`](codeloop_types::Expect::Judged),
//! compared in `report` by [`crate::values`]). Asserts that cannot be split report their own
//! boolean ([`Expect::Check`](codeloop_types::Expect::Check), weaker), and test code with no split
//! at all needs the trusted `main` to report that it returned
//! ([`Expect::Program`](codeloop_types::Expect::Program), weakest). Every record carries the run's
//! *framing*, a random word chosen here for each run and handed to the harness in
//! `.codeloop-frame`, which the harness reads and removes before any code of the solution runs
//! (where the language lets it go first: C++ static initializers of one file run in order, Go
//! package variables likewise, Java and Rust in `main`, JavaScript at the top of the script). Lines
//! without the framing are ignored; a test reported twice means the records were forged, and every
//! test fails. A solution written against codeloop can still read the harness's memory in C++, Rust
//! and Go, so checks and whole programs are weaker than judged values, whose expected values it
//! never sees.
//!
//! The harness sources are in `harness/` (one per language). Java writes its records to standard
//! output (a JVM cannot write to an inherited fd 3 without opening its internals) and points
//! `System.out` at standard error.
//!
//! JavaScript runs under Node.js with a `console` whose `assert` throws (Node's only prints), with
//! global npm modules on `NODE_PATH` (HumanEval-X JavaScript/162 needs `js-md5`).
//!
//! C++ links `-lcrypto` (HumanEval-X CPP/162 uses OpenSSL's MD5) and some tasks include Boost
//! headers (CPP/22, CPP/137): the Debian packages `g++`, `libssl-dev` and `libboost-dev`.
//!
//! Files: `toolchain` (each language's compiler and the run's request), `source` (the program a
//! test compiles) and `report` (its verdicts).

mod program;
mod report;
mod source;
mod toolchain;

pub(crate) use program::report as program_report;
pub(crate) use report::{new_frame, report};
pub(crate) use source::full_source;
pub use toolchain::CompileLimits;
pub(crate) use toolchain::{RunPaths, program_fields, request_fields, start_limits};
