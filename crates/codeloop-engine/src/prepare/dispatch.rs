//! The entry point: a matching cache entry if there is one, else the suite kind the dataset's
//! records call for (stdin/stdout, program tests, or function calls, the only kind cached).

use std::path::Path;

use codeloop_data::{Dataset, RawTask};
use codeloop_sandbox::Executor;
use codeloop_types::Language;

use super::cache::{cache_path, read_cache, write_cache};
use super::calls::prepare_calls;
use super::dataset::{PREPARED_VERSION, PrepareOptions, PreparedDataset};
use super::programs::prepare_program_tests;
use super::stdio::prepare_stdio;
use crate::errors::EngineError;

/// Prepares `dataset`, from the cache under `cache` when a matching entry exists.
pub fn prepare(
    dataset: &Dataset,
    executor: &Executor,
    options: &PrepareOptions,
    cache: Option<&Path>,
    progress: impl FnMut(&str),
) -> Result<PreparedDataset, EngineError> {
    let cache_file = cache.map(|dir| cache_path(dir, dataset, executor, options));
    if let Some(file) = &cache_file
        && let Some(prepared) = read_cache(file)
        && prepared.version == PREPARED_VERSION
        && prepared.sha256 == dataset.sha256
    {
        return Ok(prepared);
    }
    if dataset
        .tasks
        .first()
        .is_some_and(|t| matches!(t, RawTask::Stdio(_)))
    {
        return Ok(prepare_stdio(dataset, executor, options));
    }
    if dataset.tasks.first().is_some_and(|t| match t {
        RawTask::HumanEvalX(r) => r.language() != Some(Language::Python),
        RawTask::MultiplE(_) => true,
        _ => false,
    }) {
        return prepare_program_tests(dataset);
    }
    let prepared = prepare_calls(dataset, executor, options, progress)?;
    if let Some(file) = &cache_file {
        // The cache is an optimisation; failing to write it must not fail the run.
        let _ = write_cache(file, &prepared);
    }
    Ok(prepared)
}
