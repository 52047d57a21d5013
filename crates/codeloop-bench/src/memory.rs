//! `codeloop bench memory`: whether `codeloop eval`'s memory stays flat as the samples file grows,
//! and what a cold `codeloop check` of `HumanEval+` costs in memory and in cache on disk. Every
//! figure is the whole process tree's peak ([`crate::tree`]), of this same binary run as a
//! child, and each is printed against its target.
//!
//! - eval: the dataset's canonical solutions repeated to `--small` and to `--large` samples, scored
//!   in the same run after an untimed warm-up eval (one sample per task) has cached the prepared
//!   suites; targets: the large run's peak at most 1.2x the small one's and under 200 MiB, and its
//!   throughput at least the small one's.
//! - check: `codeloop check` of `--plus-dataset` with `CODELOOP_CACHE_DIR` pointed at a fresh empty
//!   directory (so it prepares everything and writes the prepared-suite cache); its peak against the
//!   dataset file's size, and the size of the cache files it wrote; targets: under 1 GiB and under
//!   100 MB.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::Args;
use codeloop_data::RawTask;

use crate::tree::{self, size, verdict};

const TARGET_FLAT_RATIO: f64 = 1.2;
const TARGET_EVAL_PEAK: u64 = 200 << 20;
const TARGET_CHECK_PEAK: u64 = 1 << 30;
const TARGET_CACHE_BYTES: u64 = 100_000_000;

/// `codeloop bench memory`'s arguments.
#[derive(Args, Debug)]
pub struct BenchMemoryArgs {
    /// The dataset whose canonical solutions make the samples (`HumanEval` or `HumanEval+` layout).
    #[arg(long, default_value = "humaneval")]
    dataset: String,
    /// Samples in the small eval.
    #[arg(long, default_value_t = 10_000)]
    small: usize,
    /// Samples in the large eval.
    #[arg(long, default_value_t = 100_000)]
    large: usize,
    /// The dataset of the cold-cache check (a path, or a name whose file is in the cache dir).
    #[arg(long, default_value = "humaneval+")]
    plus_dataset: String,
    /// Skip the cold-cache check.
    #[arg(long)]
    no_check: bool,
}

pub(crate) fn run(args: &BenchMemoryArgs) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let (path, dataset) = tree::dataset_file(&args.dataset)?;
    let canonical = canonical_completions(&dataset.tasks);
    if canonical.is_empty() {
        bail!(
            "`{}` has no HumanEval-layout canonical solutions (prompt + completion)\n(use humaneval or humaneval+)",
            args.dataset
        );
    }
    println!(
        "dataset: {} ({}, {} tasks)",
        path.display(),
        dataset.format,
        canonical.len()
    );
    println!("memory: {}", tree::METHOD);
    let work = tree::work_dir("memory")?;
    let eval = |label: &str, n: usize| -> Result<tree::Measured> {
        let dir = work.path().join(label);
        std::fs::create_dir_all(&dir)?;
        let samples = dir.join("samples.jsonl");
        write_repeated(&samples, &canonical, n)?;
        let m = tree::measure(
            Command::new(&exe)
                .arg("eval")
                .arg(&path)
                .arg("--samples")
                .arg(&samples),
        )?;
        if !m.status.success() {
            bail!(
                "codeloop eval of {n} samples failed: {}",
                m.last_error_line()
            );
        }
        // The results of a large run are large; only the figures are kept.
        let _ = std::fs::remove_dir_all(&dir);
        Ok(m)
    };
    let warm = eval("warm", canonical.len())?;
    println!(
        "warm-up: codeloop eval of {} samples (one per task) in {:.1} s, peak {} (caches the prepared suites)",
        canonical.len(),
        warm.wall.as_secs_f64(),
        size(warm.peak_pss)
    );
    let small = eval("small", args.small)?;
    let large = eval("large", args.large)?;
    let rate = |m: &tree::Measured, n: usize| n as f64 / m.wall.as_secs_f64().max(1e-9);
    let (small_rate, large_rate) = (rate(&small, args.small), rate(&large, args.large));
    for (m, n, r) in [
        (&small, args.small, small_rate),
        (&large, args.large, large_rate),
    ] {
        println!(
            "codeloop eval of {n} samples: {:.1} s = {r:.1} samples/s, peak {} over up to {} processes (the sampler used {:.1} s of CPU)",
            m.wall.as_secs_f64(),
            size(m.peak_pss),
            m.peak_processes,
            m.sampler_cpu.as_secs_f64()
        );
    }
    let flat = large.peak_pss as f64 / small.peak_pss.max(1) as f64;
    let mut report = String::new();
    let _ = writeln!(
        report,
        "peak ratio {} / {} samples: {flat:.2}x (target <= {TARGET_FLAT_RATIO}x, flat: {})",
        args.large,
        args.small,
        verdict(flat <= TARGET_FLAT_RATIO)
    );
    let _ = writeln!(
        report,
        "peak of eval of {} samples: {} (target < {}: {})",
        args.large,
        size(large.peak_pss),
        size(TARGET_EVAL_PEAK),
        verdict(large.peak_pss < TARGET_EVAL_PEAK)
    );
    let _ = writeln!(
        report,
        "throughput {} / {} samples: {:.2}x (target >= 1x: {})",
        args.large,
        args.small,
        large_rate / small_rate,
        verdict(large_rate >= small_rate)
    );
    if !args.no_check {
        cold_check(&exe, &args.plus_dataset, &mut report)?;
    }
    print!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// `codeloop check` with an empty cache dir: prints its figures, adds its targets to `report`.
fn cold_check(exe: &Path, spec: &str, report: &mut String) -> Result<()> {
    let (path, _) = tree::dataset_file(spec)?;
    let cache = tree::work_dir("cold-cache")?;
    let m = tree::measure(
        Command::new(exe)
            .arg("check")
            .arg(&path)
            .env("CODELOOP_CACHE_DIR", cache.path()),
    )?;
    if m.status.code() == Some(2) {
        bail!("codeloop check failed: {}", m.last_error_line());
    }
    let dataset_bytes = std::fs::metadata(&path)?.len();
    let files = files_under(&cache.path().join("prepared"));
    let cache_bytes: u64 = files.iter().map(|(_, b)| b).sum();
    println!(
        "codeloop check {} with a cold cache: {:.1} s, peak {} over up to {} processes (the sampler used {:.1} s of CPU; {:.1}x the dataset file's {}); wrote {} of prepared suites ({})",
        path.display(),
        m.wall.as_secs_f64(),
        size(m.peak_pss),
        m.peak_processes,
        m.sampler_cpu.as_secs_f64(),
        m.peak_pss as f64 / dataset_bytes.max(1) as f64,
        size(dataset_bytes),
        size(cache_bytes),
        files
            .iter()
            .map(|(name, b)| format!("{name}: {b} bytes"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        report,
        "peak of the cold check: {} (target < {}: {})",
        size(m.peak_pss),
        size(TARGET_CHECK_PEAK),
        verdict(m.peak_pss < TARGET_CHECK_PEAK)
    );
    let _ = writeln!(
        report,
        "prepared-suite cache of the cold check: {:.1} MB (target < {} MB: {})",
        cache_bytes as f64 / 1e6,
        TARGET_CACHE_BYTES / 1_000_000,
        verdict(cache_bytes < TARGET_CACHE_BYTES)
    );
    Ok(())
}

/// Every file under `dir` (recursively) with its size.
fn files_under(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(meta) = entry.metadata() {
            out.push((entry.file_name().to_string_lossy().into_owned(), meta.len()));
        }
    }
    out.sort();
    out
}

/// (`task_id`, canonical completion) of every HumanEval-layout record.
fn canonical_completions(tasks: &[RawTask]) -> Vec<(String, String)> {
    tasks
        .iter()
        .filter_map(|t| match t {
            RawTask::HumanEval(r) => Some((r.task_id.clone(), r.canonical_solution.clone())),
            RawTask::HumanEvalPlus(r) => Some((r.task_id.clone(), r.canonical_solution.clone())),
            _ => None,
        })
        .collect()
}

/// `n` samples cycling through `canonical`, as JSON Lines.
fn write_repeated(path: &Path, canonical: &[(String, String)], n: usize) -> Result<()> {
    use std::io::Write as _;
    let file = std::fs::File::create(path)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for (task, completion) in canonical.iter().cycle().take(n) {
        writeln!(
            out,
            "{}",
            serde_json::json!({"task_id": task, "completion": completion})
        )?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_samples_cycle_through_the_tasks() {
        let dir = tree::work_dir("test").unwrap();
        let path = dir.path().join("s.jsonl");
        let canonical = vec![
            ("T/0".to_owned(), "    return 1\n".to_owned()),
            ("T/1".to_owned(), "    return 2\n".to_owned()),
        ];
        write_repeated(&path, &canonical, 5).unwrap();
        let ids: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["task_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(ids, ["T/0", "T/1", "T/0", "T/1", "T/0"]);
    }
}
