//! The endpoint registry: a TOML file naming models and where they are served. Adding a model needs
//! no code.
//!
//! Format (version 1):
//! ```toml
//! [[endpoint]]
//! name = "qwen-7b"                 # what --model takes; several entries with one name form a pool
//! base_url = "http://gpu1:8000/v1"
//! model = "Qwen/Qwen2.5-Coder-7B-Instruct"
//! api_key_env = "VLLM_KEY"          # optional: the variable holding the key
//! max_concurrency = 512             # optional, default 256
//! timeout_secs = 600                # optional
//! [endpoint.capabilities]           # optional
//! n = true                          # the server honours `n` (default true; detected anyway)
//! ```
//! Unknown keys are reported as warnings, not errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::errors::LlmError;
use crate::openai::{OpenAiBackend, OpenAiConfig};
use crate::router::Router;

/// What an endpoint can do.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Capabilities {
    /// Honours `n`.
    #[serde(default = "yes")]
    pub n: bool,
}

fn yes() -> bool {
    true
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities { n: true }
    }
}

/// One registry entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    /// The name users pick.
    pub name: String,
    /// Base URL including `/v1`.
    pub base_url: String,
    /// The model name sent.
    pub model: String,
    /// Environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Most requests in flight.
    #[serde(default)]
    pub max_concurrency: Option<usize>,
    /// Per-request timeout in seconds.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Capabilities.
    #[serde(default)]
    pub capabilities: Capabilities,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    endpoint: Vec<Endpoint>,
}

/// A parsed registry.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Where it came from.
    pub path: Option<PathBuf>,
    /// The entries.
    pub endpoints: Vec<Endpoint>,
    /// Unknown keys seen, as `path.key`.
    pub warnings: Vec<String>,
}

const KNOWN_KEYS: &[&str] = &[
    "name",
    "base_url",
    "model",
    "api_key_env",
    "max_concurrency",
    "timeout_secs",
    "capabilities",
];

impl Registry {
    /// Parses registry text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, LlmError> {
        let err = |m: String| LlmError::Config(format!("failed to read registry `{origin}`: {m}"));
        let value: toml::Value = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut warnings = Vec::new();
        if let Some(table) = value.as_table() {
            for key in table.keys().filter(|k| *k != "endpoint") {
                warnings.push(format!("unknown key `{key}` in `{origin}`"));
            }
            for (i, entry) in table
                .get("endpoint")
                .and_then(|e| e.as_array())
                .into_iter()
                .flatten()
                .enumerate()
            {
                for key in entry.as_table().into_iter().flat_map(|t| t.keys()) {
                    if !KNOWN_KEYS.contains(&key.as_str()) {
                        warnings.push(format!(
                            "unknown key `{key}` in endpoint {} of `{origin}`",
                            i + 1
                        ));
                    }
                }
            }
        }
        let file: File = value
            .try_into()
            .map_err(|e: toml::de::Error| err(e.to_string()))?;
        for (i, e) in file.endpoint.iter().enumerate() {
            if !(e.base_url.starts_with("http://") || e.base_url.starts_with("https://")) {
                return Err(err(format!(
                    "endpoint {} (`{}`): field `base_url` must be an http(s) URL",
                    i + 1,
                    e.name
                )));
            }
        }
        Ok(Registry {
            path: None,
            endpoints: file.endpoint,
            warnings,
        })
    }

    /// Reads a registry file.
    pub fn load(path: &Path) -> Result<Self, LlmError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            LlmError::Config(format!("failed to read registry `{}`: {e}", path.display()))
        })?;
        let mut registry = Registry::parse(&text, &path.display().to_string())?;
        registry.path = Some(path.to_path_buf());
        Ok(registry)
    }

    /// A backend for `name`: one endpoint, or a [`Router`] over all entries with that name.
    pub fn backend(&self, name: &str) -> Result<Router, LlmError> {
        let entries: Vec<&Endpoint> = self.endpoints.iter().filter(|e| e.name == name).collect();
        if entries.is_empty() {
            let known: Vec<&str> = self.endpoints.iter().map(|e| e.name.as_str()).collect();
            return Err(LlmError::Config(format!(
                "no endpoint `{name}` in the registry (known: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
        let mut backends = Vec::new();
        for e in entries {
            let mut config = OpenAiConfig::new(&e.name, &e.base_url, &e.model);
            if let Some(var) = &e.api_key_env {
                config.api_key = Some(std::env::var(var).map_err(|_| {
                    LlmError::Config(format!(
                        "endpoint `{}` reads its API key from `{var}`, which is not set",
                        e.name
                    ))
                })?);
            }
            if let Some(c) = e.max_concurrency {
                config.max_concurrency = c.max(1);
            }
            if let Some(t) = e.timeout_secs {
                config.request_timeout = Duration::from_secs(t.max(1));
            }
            config.supports_n = e.capabilities.n;
            backends.push(Arc::new(OpenAiBackend::new(config)?));
        }
        Router::new(backends)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_warns_on_unknown_keys() {
        let text = r#"
            [[endpoint]]
            name = "m"
            base_url = "http://127.0.0.1:1/v1"
            model = "x"
            max_concurrency = 8
            colour = "blue"
            [endpoint.capabilities]
            n = false
        "#;
        let r = Registry::parse(text, "reg.toml").unwrap();
        assert_eq!(r.endpoints[0].max_concurrency, Some(8));
        assert!(!r.endpoints[0].capabilities.n);
        assert_eq!(
            r.warnings,
            vec!["unknown key `colour` in endpoint 1 of `reg.toml`"]
        );
        let Err(e) = r.backend("nope") else {
            panic!("`nope` resolved")
        };
        assert!(e.to_string().contains("known: m"), "{e}");
    }

    #[test]
    fn bad_url_names_the_field() {
        let text = "[[endpoint]]\nname = \"m\"\nbase_url = \"localhost:8000\"\nmodel = \"x\"\n";
        let e = Registry::parse(text, "reg.toml").unwrap_err().to_string();
        assert!(e.contains("field `base_url`"), "{e}");
    }
}
