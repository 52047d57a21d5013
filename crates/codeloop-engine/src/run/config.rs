//! A run's configuration and the store manifests that hold it: `config` (everything that
//! determines the results, compared on resume) and `environment` (what this machine ran it with:
//! codeloop's version, the interpreter, the sandbox layers; rewritten by every invocation).

use codeloop_sandbox::Executor;
use codeloop_store::RunStore;
use codeloop_strategy::{PoolSpec, PromptLibrary, StrategySpec};
use codeloop_types::Limits;
use serde::{Deserialize, Serialize};

use crate::errors::EngineError;

/// Sampling parameters sent with every request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// Temperature.
    pub temperature: f32,
    /// Nucleus mass.
    pub top_p: f32,
    /// Most tokens per answer.
    pub max_tokens: u32,
    /// Run seed; each request's seed is derived from it, the problem, the trajectory and the step.
    pub seed: u64,
}

/// Limits of a run's resources; an action past a limit is refused and its trajectory ends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Most LLM calls.
    pub llm_calls: Option<u64>,
    /// Most prompt plus completion tokens.
    pub tokens: Option<u64>,
    /// Most programs generated.
    pub programs: Option<u64>,
    /// Most test-case executions.
    pub executions: Option<u64>,
    /// Most seconds of wall time in one invocation (no new LLM call starts after it).
    #[serde(default)]
    pub wall_secs: Option<u64>,
}

/// Everything that determines a run's results; stored in the manifest, compared on resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Journal format version.
    pub journal_version: u32,
    /// Where the dataset came from.
    pub dataset: String,
    /// Its format.
    pub dataset_format: String,
    /// SHA-256 of its bytes.
    pub dataset_sha256: String,
    /// The problems, in order.
    pub problems: Vec<String>,
    /// Trajectories per problem.
    pub trajectories: u32,
    /// The turn schedule.
    pub strategy: StrategySpec,
    /// The prompt library in force.
    pub prompts: PromptLibrary,
    /// The backend's identity (engine or endpoint, and model).
    pub model: String,
    /// Sampling parameters.
    pub sampling: Sampling,
    /// Per-run limits of each execution.
    pub limits: Limits,
    /// Resource budget.
    pub budget: Budget,
    /// A pool strategy over each problem's trajectories (`None`: every trajectory's answer is
    /// its own submission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolSpec>,
}

/// The configuration of the run `store` holds (an error if it holds none).
pub fn stored_config(store: &RunStore) -> Result<RunConfig, EngineError> {
    let text = store
        .manifest("config")?
        .ok_or_else(|| EngineError::NoRun {
            path: store.path().to_path_buf(),
        })?;
    serde_json::from_str(&text).map_err(|source| EngineError::Manifest {
        path: store.path().to_path_buf(),
        key: "config",
        source,
    })
}

/// Opens `store`'s manifest for `config`: writes it on a fresh store, or checks it matches.
/// Returns whether the store already held the run (a resume).
pub fn claim_store(store: &RunStore, config: &RunConfig) -> Result<bool, EngineError> {
    let mine = serde_json::to_value(config).expect("configs serialise");
    let Some(text) = store.manifest("config")? else {
        store.set_manifest("config", &mine.to_string())?;
        return Ok(false);
    };
    let theirs: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| EngineError::Manifest {
            path: store.path().to_path_buf(),
            key: "config",
            source,
        })?;
    if theirs == mine {
        return Ok(true);
    }
    let differ: Vec<String> = match (&theirs, &mine) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => b
            .iter()
            .filter(|(k, v)| a.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => vec!["(everything)".to_owned()],
    };
    Err(EngineError::ConfigMismatch {
        path: store.path().to_path_buf(),
        differ,
    })
}

/// Writes the `environment` manifest: what this invocation runs with (JSON: `codeloop_version`,
/// `interpreter`, `python`, `sandbox_layers`).
pub fn write_environment(store: &RunStore, executor: &Executor) -> Result<(), EngineError> {
    let environment = serde_json::json!({
        "codeloop_version": env!("CARGO_PKG_VERSION"),
        "interpreter": executor.interpreter().path.display().to_string(),
        "python": executor.interpreter().version,
        "sandbox_layers": executor.layers(),
    });
    store.set_manifest("environment", &environment.to_string())?;
    Ok(())
}
