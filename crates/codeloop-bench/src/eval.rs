//! `codeloop bench evalplus`: one samples file of right and wrong answers scored on `HumanEval+` (or
//! `MBPP+`) by `EvalPlus` 0.3.1's own evaluator and by `codeloop eval` (this binary) in the same run,
//! each from a warm cache; prints both wall times, throughputs, whole-tree peak memory figures
//! ([`crate::tree`]), the ratios codeloop / `EvalPlus` against their targets, and both tools'
//! pass@1 with the number of records on which they disagree.
//!
//! - `EvalPlus` is installed from `PyPI` (`evalplus==0.3.1`) into a venv under the cache dir, made with
//!   the interpreter codeloop runs programs with, and reused on later runs. It runs as
//!   `bench/evalplus_golden.sh` runs it: `PYTHONHASHSEED=0`, its ground-truth cache in
//!   `XDG_CACHE_HOME` under the cache dir, the dataset file through `HUMANEVAL_OVERRIDE_PATH` /
//!   `MBPP_OVERRIDE_PATH`, and a large `--min-time-limit` so that its wall-clock limits fail no
//!   correct program.
//! - Warm caches: before anything is timed, `EvalPlus`'s ground-truth step (`get_groundtruth`, the
//!   expected outputs it pickles and reads back on every later run) runs on its own, and `codeloop
//!   eval` runs on a one-sample file (which prepares the dataset and caches the prepared suites).
//! - The samples, unless `--samples` names a file: the canonical solutions and up to `--per-task`
//!   mutants of each (flipped comparisons, off-by-one constants, `return None`, ...), made by the
//!   generator of the repository's golden files (`bench/evalplus_golden.py`, embedded in this
//!   binary) with the installed `EvalPlus` reading the dataset; it screens out slow and crashing
//!   mutants, so that no result depends on a time limit. The file is cached under the cache dir by
//!   dataset, count and generator, and reused.
//! - The ceiling, measured in the same run: the same samples judged with no harness at all
//!   (`evalplus_ceiling.py`: one forked worker per core execs the programs in-process against
//!   `EvalPlus`'s cached expected outputs), so that a target out of reach shows in the output.
//! - Throughput counts up to the moment each tool wrote its results file: `EvalPlus` 0.3.1's
//!   process then waits for its stuck-sample watchdog thread, which sleeps in 20 s steps, before
//!   it exits; both times are printed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use codeloop_data::{Format, cache_dir};

use crate::tree::{self, Measured, size, verdict};

/// The generator of the golden samples, run as it is.
const GENERATOR: &str = include_str!("../../../bench/evalplus_golden.py");

/// The no-harness ceiling.
const CEILING: &str = include_str!("evalplus_ceiling.py");

/// `EvalPlus`'s ground-truth step alone, as `evalplus.evaluate.evaluate` calls it.
const GROUND_TRUTH: &str = "import sys
from evalplus.evaluate import get_groundtruth
from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
if sys.argv[1] == 'humaneval':
    from evalplus.data import get_human_eval_plus as get, get_human_eval_plus_hash as get_hash
    special = []
else:
    from evalplus.data import get_mbpp_plus as get, get_mbpp_plus_hash as get_hash
    special = MBPP_OUTPUT_NOT_NONE_TASKS
get_groundtruth(get(), get_hash(), special)
";

const EVALPLUS_VERSION: &str = "0.3.1";

/// The targets this bench checks.
const TARGET_THROUGHPUT_RATIO: f64 = 1.5;
const TARGET_MEMORY_RATIO: f64 = 1.0;

/// `codeloop bench evalplus`'s arguments.
#[derive(Args, Debug)]
pub struct BenchEvalplusArgs {
    /// `HumanEval+` or `MBPP+`: a path, or a name whose file is in the cache dir (`humaneval+`,
    /// `mbpp+`). Both tools read this same file.
    #[arg(long, default_value = "humaneval+")]
    dataset: String,
    /// The samples file (`.jsonl` or `.jsonl.gz`; `task_id` plus `completion` or `solution`);
    /// default: canonical solutions and mutants generated for the dataset (cached).
    #[arg(long)]
    samples: Option<PathBuf>,
    /// Mutants per task when generating samples.
    #[arg(long, default_value_t = 5)]
    per_task: usize,
    /// `EvalPlus`'s worker processes (default: the number of CPUs).
    #[arg(long)]
    parallel: Option<usize>,
    /// `EvalPlus`'s `--min-time-limit` in seconds (its default 1 fails correct programs on a busy
    /// machine).
    #[arg(long, default_value_t = 20.0)]
    min_time_limit: f64,
    /// codeloop's `--slots` (default: codeloop's default, the number of CPUs plus one).
    #[arg(long)]
    slots: Option<usize>,
    /// Timed runs of each tool, alternating; figures are medians.
    #[arg(long, default_value_t = 1)]
    runs: usize,
}

/// Which `EvalPlus` dataset a file is.
fn evalplus_name(format: Format) -> Result<(&'static str, &'static str)> {
    match format {
        Format::HumanEvalPlus => Ok(("humaneval", "HUMANEVAL_OVERRIDE_PATH")),
        Format::MbppPlus => Ok(("mbpp", "MBPP_OVERRIDE_PATH")),
        other => bail!(
            "`bench evalplus` needs HumanEval+ or MBPP+, not {other}\n(pass --dataset PATH of HumanEvalPlus-v0.1.10.jsonl.gz or MbppPlus-v0.2.0.jsonl.gz)"
        ),
    }
}

pub(crate) fn run(args: &BenchEvalplusArgs) -> Result<ExitCode> {
    let (dataset_path, dataset) = tree::dataset_file(&args.dataset)?;
    let (ep_dataset, override_var) = evalplus_name(dataset.format)?;
    let md5 = codeloop_engine::evaluate::evalplus::md5_hex(&std::fs::read(&dataset_path)?);
    println!(
        "dataset: {} ({}, {} tasks, md5 {md5})",
        dataset_path.display(),
        dataset.format,
        dataset.tasks.len()
    );
    let python = evalplus_python()?;
    let tool = EvalPlus {
        python,
        dataset: ep_dataset,
        override_var,
        dataset_path: dataset_path.clone(),
        xdg: cache_dir().join("bench").join("evalplus-xdg-cache"),
    };
    let work = tree::work_dir("evalplus")?;
    let samples = work.path().join("samples.jsonl");
    if let Some(path) = &args.samples {
        copy_samples(path, &samples)?;
        println!("samples: {}", path.display());
    } else {
        let cached = generated_samples(&tool, &md5, args.per_task)?;
        std::fs::copy(&cached, &samples)?;
    }
    let (n, tasks) = count_samples(&samples)?;
    println!("{n} samples over {tasks} tasks");

    // Warm both caches, untimed.
    let start = Instant::now();
    tool.ground_truth()?;
    println!(
        "warm-up: EvalPlus's ground-truth step in {:.1} s (its expected outputs, pickled under {})",
        start.elapsed().as_secs_f64(),
        tool.xdg.display()
    );
    let warm_dir = work.path().join("warm");
    std::fs::create_dir_all(&warm_dir)?;
    let first = std::fs::read_to_string(&samples)?
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    std::fs::write(warm_dir.join("samples.jsonl"), first + "\n")?;
    let warm = tree::measure(&mut codeloop_eval(
        &dataset_path,
        &warm_dir.join("samples.jsonl"),
        args.slots,
    )?)?;
    if !warm.status.success() {
        bail!("codeloop eval failed: {}", warm.last_error_line());
    }
    println!(
        "warm-up: codeloop eval of one sample in {:.1} s (prepares the dataset and caches the prepared suites under {})",
        warm.wall.as_secs_f64(),
        cache_dir().join("prepared").display()
    );
    println!("memory: {}", tree::METHOD);

    let parallel = args
        .parallel
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let ep_dir = work.path().join("evalplus");
    let cl_dir = work.path().join("codeloop");
    for dir in [&ep_dir, &cl_dir] {
        std::fs::create_dir_all(dir)?;
        std::fs::copy(&samples, dir.join("samples.jsonl"))?;
    }
    let results = |dir: &Path| dir.join("samples_eval_results.json");
    let mut ep_runs = Vec::new();
    let mut cl_runs = Vec::new();
    let mut ceilings = Vec::new();
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    for i in 0..args.runs.max(1) {
        let (rate, passed) = tool.ceiling(&samples, workers, args.min_time_limit)?;
        println!(
            "ceiling, no harness at all ({workers} forked workers exec the programs in-process against EvalPlus's cached expected outputs), run {}: {rate:.2} samples/s ({passed} passed base and plus)",
            i + 1
        );
        ceilings.push(rate);
        for dir in [&ep_dir, &cl_dir] {
            let _ = std::fs::remove_file(results(dir));
        }
        let m = tree::measure(&mut tool.evaluate(
            &ep_dir.join("samples.jsonl"),
            parallel,
            args.min_time_limit,
        ))?;
        if !m.status.success() {
            bail!("EvalPlus failed: {}", m.last_error_line());
        }
        let ep = Timed::of(&m, &results(&ep_dir), n)?;
        ep.print(
            &format!(
                "EvalPlus {EVALPLUS_VERSION} (--parallel {parallel} --min-time-limit {}), run {}",
                args.min_time_limit,
                i + 1
            ),
            "the process exited",
        );
        ep_runs.push(ep);
        let m = tree::measure(&mut codeloop_eval(
            &dataset_path,
            &cl_dir.join("samples.jsonl"),
            args.slots,
        )?)?;
        if !m.status.success() {
            bail!("codeloop eval failed: {}", m.last_error_line());
        }
        let cl = Timed::of(&m, &results(&cl_dir), n)?;
        cl.print(
            &format!(
                "codeloop eval ({}), run {}",
                args.slots
                    .map_or_else(|| "default slots".to_owned(), |s| format!("--slots {s}")),
                i + 1
            ),
            "exited",
        );
        cl_runs.push(cl);
    }

    let ep_scores = tree::evalplus_pass_at_1(&results(&ep_dir))?;
    let cl_scores = tree::evalplus_pass_at_1(&results(&cl_dir))?;
    let runs = ep_runs.len();
    let med = |v: &[Timed], f: fn(&Timed) -> f64| median(v.iter().map(f).collect());
    let (ep_secs, cl_secs) = (med(&ep_runs, |t| t.secs), med(&cl_runs, |t| t.secs));
    let (ep_exit, cl_exit) = (
        med(&ep_runs, |t| t.exit_secs),
        med(&cl_runs, |t| t.exit_secs),
    );
    let (ep_peak, cl_peak) = (med(&ep_runs, |t| t.peak), med(&cl_runs, |t| t.peak));
    let (ep_rate, cl_rate) = (n as f64 / ep_secs, n as f64 / cl_secs);
    println!();
    println!(
        "summary ({}; {n} samples; times to the results file):",
        if runs == 1 {
            "one run each".to_owned()
        } else {
            format!("medians of {runs} runs each")
        }
    );
    println!(
        "  EvalPlus {EVALPLUS_VERSION}: {ep_secs:.1} s ({ep_exit:.1} s to exit) = {ep_rate:.2} samples/s, peak {}; pass@1 {:.3} base, {:.3} base + extra",
        size(ep_peak as u64),
        ep_scores.base,
        ep_scores.plus
    );
    println!(
        "  codeloop eval: {cl_secs:.1} s ({cl_exit:.1} s to exit) = {cl_rate:.2} samples/s, peak {}; pass@1 {:.3} base, {:.3} base + extra",
        size(cl_peak as u64),
        cl_scores.base,
        cl_scores.plus
    );
    print_agreement(&ep_scores, &cl_scores);
    let ceiling = median(ceilings);
    println!(
        "  ceiling (no harness): {ceiling:.2} samples/s; EvalPlus reaches {:.0}% of it, codeloop {:.0}%",
        100.0 * ep_rate / ceiling,
        100.0 * cl_rate / ceiling
    );
    let throughput = cl_rate / ep_rate;
    let memory = cl_peak / ep_peak.max(1.0);
    println!(
        "throughput ratio codeloop / EvalPlus: {throughput:.2}x (target >= {TARGET_THROUGHPUT_RATIO}x: {}; the ceiling is {:.2}x EvalPlus)",
        verdict(throughput >= TARGET_THROUGHPUT_RATIO),
        ceiling / ep_rate
    );
    println!(
        "peak memory ratio codeloop / EvalPlus: {memory:.2}x (target <= {TARGET_MEMORY_RATIO}x: {})",
        verdict(memory <= TARGET_MEMORY_RATIO)
    );
    let met = throughput >= TARGET_THROUGHPUT_RATIO && memory <= TARGET_MEMORY_RATIO;
    println!(
        "target (>= {TARGET_THROUGHPUT_RATIO}x EvalPlus's throughput at <= its peak memory): {}",
        verdict(met)
    );
    Ok(ExitCode::SUCCESS)
}

/// One tool's timed run.
struct Timed {
    /// Seconds to the results file.
    secs: f64,
    /// Seconds to exit.
    exit_secs: f64,
    /// Peak tree PSS in bytes.
    peak: f64,
    processes: usize,
    polls: u64,
    sampler_cpu: f64,
    n: usize,
}

impl Timed {
    fn of(m: &Measured, results: &Path, n: usize) -> Result<Self> {
        let exit_secs = m.wall.as_secs_f64();
        let secs = m
            .secs_until_written(results)
            .with_context(|| format!("the run wrote no `{}`", results.display()))?
            .min(exit_secs);
        Ok(Timed {
            secs,
            exit_secs,
            peak: m.peak_pss as f64,
            processes: m.peak_processes,
            polls: m.samples,
            sampler_cpu: m.sampler_cpu.as_secs_f64(),
            n,
        })
    }

    fn print(&self, label: &str, exited: &str) {
        println!(
            "{label}: results after {:.1} s = {:.2} samples/s ({exited} after {:.1} s); peak {} over up to {} processes ({} samples of the tree, which cost the sampler {:.1} s of CPU)",
            self.secs,
            self.n as f64 / self.secs.max(1e-9),
            self.exit_secs,
            size(self.peak as u64),
            self.processes,
            self.polls,
            self.sampler_cpu
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => f64::midpoint(v[n / 2 - 1], v[n / 2]),
    }
}

/// How many records the two tools judged alike (both statuses), task by task in sample order.
fn print_agreement(ep: &tree::EvalplusScores, cl: &tree::EvalplusScores) {
    let key = |s: &tree::EvalplusScores| {
        let mut v = s.statuses.clone();
        // Stable: records keep their order within a task.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let (a, b) = (key(ep), key(cl));
    let mut differ: Vec<&str> = Vec::new();
    for (x, y) in a.iter().zip(&b) {
        if x.0 != y.0 || x.1 != y.1 || x.2 != y.2 {
            differ.push(&x.0);
        }
    }
    differ.dedup();
    let same = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x.0 == y.0 && x.1 == y.1 && x.2 == y.2)
        .count();
    println!(
        "  agreement: {same} of {} records judged alike (base and plus status){}",
        a.len().max(b.len()),
        if differ.is_empty() {
            String::new()
        } else {
            format!("; they differ on tasks {}", differ.join(", "))
        }
    );
}

/// `codeloop eval DATASET --samples FILE` with this binary.
fn codeloop_eval(dataset: &Path, samples: &Path, slots: Option<usize>) -> Result<Command> {
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("eval").arg(dataset).arg("--samples").arg(samples);
    if let Some(slots) = slots {
        cmd.args(["--slots", &slots.to_string()]);
    }
    Ok(cmd)
}

/// `EvalPlus` in its venv, pointed at one dataset file.
struct EvalPlus {
    python: PathBuf,
    dataset: &'static str,
    override_var: &'static str,
    dataset_path: PathBuf,
    xdg: PathBuf,
}

impl EvalPlus {
    /// A Python command in the venv with `EvalPlus`'s environment.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.env("PYTHONHASHSEED", "0")
            .env("XDG_CACHE_HOME", &self.xdg)
            .env(self.override_var, &self.dataset_path);
        cmd
    }

    fn ground_truth(&self) -> Result<()> {
        let out = self
            .command()
            .args(["-c", GROUND_TRUTH, self.dataset])
            .output()
            .context("failed to run EvalPlus's ground-truth step")?;
        if !out.status.success() {
            bail!(
                "EvalPlus's ground-truth step failed: {}",
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        Ok(())
    }

    /// The no-harness rate on `samples` (samples/s) and how many passed.
    fn ceiling(&self, samples: &Path, workers: usize, alarm: f64) -> Result<(f64, u64)> {
        let out = self
            .command()
            .args(["-c", CEILING, self.dataset])
            .arg(samples)
            .args([workers.to_string(), alarm.to_string()])
            .output()
            .context("failed to run the ceiling measurement")?;
        if !out.status.success() {
            bail!(
                "the ceiling measurement failed: {}",
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        let reply: serde_json::Value = serde_json::from_slice(&out.stdout)
            .context("the ceiling measurement printed no result")?;
        let n = reply["n"].as_f64().unwrap_or(0.0);
        let secs = reply["secs"].as_f64().unwrap_or(0.0).max(1e-9);
        Ok((n / secs, reply["passed"].as_u64().unwrap_or(0)))
    }

    fn evaluate(&self, samples: &Path, parallel: usize, min_time_limit: f64) -> Command {
        let mut cmd = self.command();
        cmd.args([
            "-m",
            "evalplus.evaluate",
            "--dataset",
            self.dataset,
            "--samples",
        ])
        .arg(samples)
        .args(["--parallel", &parallel.to_string()])
        .args(["--min-time-limit", &min_time_limit.to_string()]);
        if let Some(dir) = samples.parent() {
            cmd.current_dir(dir);
        }
        cmd
    }
}

/// The venv's Python with `evalplus==0.3.1`, installed on first use.
fn evalplus_python() -> Result<PathBuf> {
    let venv = cache_dir()
        .join("bench")
        .join(format!("evalplus-{EVALPLUS_VERSION}-venv"));
    let python = venv.join("bin").join("python");
    let marker = venv.join(".codeloop-installed");
    if marker.is_file() && python.exists() {
        return Ok(python);
    }
    let interpreter = codeloop_sandbox::Interpreter::resolve(None)?;
    eprintln!(
        "installing evalplus=={EVALPLUS_VERSION} with Python {} into {} (once; it pulls in heavy dependencies)",
        interpreter.version,
        venv.display()
    );
    crate::venv::make(
        &venv,
        &interpreter.path,
        &[&format!("evalplus=={EVALPLUS_VERSION}")],
        &[],
    )?;
    let out = Command::new(&python)
        .args(["-c", "import evalplus; print(evalplus.__version__)"])
        .output()?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !version.starts_with(EVALPLUS_VERSION) {
        bail!("the venv holds evalplus `{version}`, not {EVALPLUS_VERSION}");
    }
    std::fs::write(&marker, format!("evalplus {version}\n"))?;
    Ok(python)
}

/// The generated samples for the dataset with MD5 `md5`: from the cache, else made now.
fn generated_samples(tool: &EvalPlus, md5: &str, per_task: usize) -> Result<PathBuf> {
    let script = codeloop_engine::evaluate::evalplus::md5_hex(GENERATOR.as_bytes());
    let dir = cache_dir().join("bench").join("evalplus-samples");
    let path = dir.join(format!(
        "{}-{}-{per_task}-{}.jsonl",
        tool.dataset,
        &md5[..16],
        &script[..12]
    ));
    if path.is_file() {
        println!(
            "samples: generated earlier ({per_task} mutants per task), {}",
            path.display()
        );
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)?;
    let partial = path.with_extension("partial");
    let start = Instant::now();
    eprintln!(
        "generating samples (canonical solutions and up to {per_task} mutants per task; once, then cached)"
    );
    let status = generate(
        &tool.command(),
        tool.dataset,
        &dir,
        &partial,
        per_task,
        std::process::Stdio::inherit(),
    )?;
    if !status.success() {
        bail!("the sample generator failed");
    }
    std::fs::rename(&partial, &path)?;
    println!(
        "samples: generated in {:.0} s ({per_task} mutants per task), cached at {}",
        start.elapsed().as_secs_f64(),
        path.display()
    );
    Ok(path)
}

/// Runs the embedded generator with `python` (a command carrying `EvalPlus`'s environment) and
/// writes `out`. Its progress (a line per task) goes to `progress`.
fn generate(
    python: &Command,
    dataset: &str,
    scratch: &Path,
    out: &Path,
    per_task: usize,
    progress: std::process::Stdio,
) -> Result<std::process::ExitStatus> {
    let script = scratch.join("evalplus_golden.py");
    std::fs::write(&script, GENERATOR)?;
    let mut cmd = Command::new(python.get_program());
    for (k, v) in python.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.arg(&script)
        .arg(dataset)
        .arg(out)
        .args(["--per-task", &per_task.to_string()])
        .stderr(progress);
    let status = cmd.status().context("failed to run the sample generator")?;
    let _ = std::fs::remove_file(&script);
    Ok(status)
}

/// Copies a samples file (gunzipped when it ends in `.gz`) to `to`.
fn copy_samples(from: &Path, to: &Path) -> Result<()> {
    let bytes =
        std::fs::read(from).with_context(|| format!("failed to read `{}`", from.display()))?;
    let bytes = if from.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
            .with_context(|| format!("`{}` is not gzip", from.display()))?;
        out
    } else {
        bytes
    };
    std::fs::write(to, bytes).with_context(|| format!("failed to write `{}`", to.display()))
}

/// Samples and distinct tasks in a samples file.
fn count_samples(path: &Path) -> Result<(usize, usize)> {
    let text = std::fs::read_to_string(path)?;
    let mut tasks = std::collections::HashSet::new();
    let mut n = 0;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("samples line {} is not JSON", i + 1))?;
        let task = v["task_id"]
            .as_str()
            .with_context(|| format!("samples line {} has no `task_id`", i + 1))?;
        tasks.insert(task.to_owned());
        n += 1;
    }
    Ok((n, tasks.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for `evalplus.data` (all the generator uses of `EvalPlus`): reads the dataset
    /// file named by `HUMANEVAL_OVERRIDE_PATH` as `EvalPlus` does.
    const FAKE_EVALPLUS: &str = "import gzip, json, os
def get_human_eval_plus():
    path = os.environ['HUMANEVAL_OVERRIDE_PATH']
    with gzip.open(path, 'rt') as f:
        return {r['task_id']: r for r in map(json.loads, f)}
";

    /// The first `n` tasks of the repository's `HumanEval+` file, gzipped into `dir`.
    fn small_dataset(dir: &Path, n: usize) -> PathBuf {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let full = root.join("testdata/datasets/humanevalplus/HumanEvalPlus-v0.1.10.jsonl.gz");
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(full).unwrap()),
            &mut text,
        )
        .unwrap();
        let head: String = text.lines().take(n).flat_map(|l| [l, "\n"]).collect();
        let path = dir.join("small.jsonl.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut gz, head.as_bytes()).unwrap();
        gz.finish().unwrap();
        path
    }

    #[test]
    fn generator_is_deterministic_and_writes_canonical_and_mutants() {
        let dir = tree::work_dir("test").unwrap();
        let fake = dir.path().join("fake/evalplus");
        std::fs::create_dir_all(&fake).unwrap();
        std::fs::write(fake.join("__init__.py"), "").unwrap();
        std::fs::write(fake.join("data.py"), FAKE_EVALPLUS).unwrap();
        let dataset = small_dataset(dir.path(), 3);
        let python = codeloop_sandbox::Interpreter::resolve(None).unwrap().path;
        let mut cmd = Command::new(python);
        cmd.env("PYTHONPATH", dir.path().join("fake"))
            .env("PYTHONHASHSEED", "0")
            .env("HUMANEVAL_OVERRIDE_PATH", &dataset);
        let mut outputs = Vec::new();
        for i in 0..2 {
            let out = dir.path().join(format!("out{i}.jsonl"));
            assert!(
                generate(
                    &cmd,
                    "humaneval",
                    dir.path(),
                    &out,
                    2,
                    std::process::Stdio::null()
                )
                .unwrap()
                .success()
            );
            outputs.push(std::fs::read_to_string(&out).unwrap());
        }
        assert_eq!(outputs[0], outputs[1], "two runs differ");
        let rows: Vec<serde_json::Value> = outputs[0]
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let canonical: Vec<_> = rows
            .iter()
            .filter(|r| r["mutation"] == "canonical")
            .collect();
        assert_eq!(canonical.len(), 3);
        assert!(canonical.iter().all(|r| r["completion"].is_string()));
        let mutants: Vec<_> = rows
            .iter()
            .filter(|r| r["mutation"] != "canonical")
            .collect();
        assert!(mutants.len() >= 3, "{} mutants", mutants.len());
        // Every mutant is a whole program that differs from its task's canonical program.
        for m in &mutants {
            let task = m["task_id"].as_str().unwrap();
            let program = m["solution"].as_str().unwrap();
            assert!(program.contains("def "), "{task}: {program}");
            assert!(
                !canonical.iter().any(|c| c["task_id"] == task
                    && program.ends_with(c["completion"].as_str().unwrap())),
                "{task}: a mutant equal to the canonical solution"
            );
        }
        let (n, tasks) = count_samples(&dir.path().join("out0.jsonl")).unwrap();
        assert_eq!((n, tasks), (rows.len(), 3));
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert!((median(vec![3.0, 1.0, 2.0]) - 2.0).abs() < 1e-12);
        assert!((median(vec![4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-12);
    }
}
