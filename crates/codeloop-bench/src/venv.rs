//! The Python baselines' virtual environments, made under the cache dir on first use, one per tool.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Makes a venv at `venv` with the interpreter `python` and pip-installs `packages` into it
/// (`env` set for pip, e.g. a native build's flags).
pub(crate) fn make(
    venv: &Path,
    python: &Path,
    packages: &[&str],
    env: &[(&str, &str)],
) -> Result<()> {
    let status = Command::new(python)
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .with_context(|| format!("failed to run `{}`", python.display()))?;
    if !status.success() {
        bail!("{} -m venv failed", python.display());
    }
    let status = Command::new(venv.join("bin").join("pip"))
        .args(["install", "-q"])
        .args(packages)
        .envs(env.iter().copied())
        .status()
        .context("failed to run pip")?;
    if !status.success() {
        bail!("pip install {} failed", packages.join(" "));
    }
    Ok(())
}
