//! Control groups: one per slot, which each run joins first thing (the zygote and the slot's init
//! stay outside, so the group holds the run's processes and nothing else). It caps memory with swap
//! (so an out-of-memory kill is told apart from other deaths by the group's own counter) and tasks,
//! and accounts CPU, orphans included. Both hierarchies are supported, detected from
//! `/proc/self/mounts`: v1 (separate `memory`, `pids` and `cpuacct` mounts) and v2 (one unified
//! mount with the `memory` and `pids` controllers available).

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Which hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

/// The executor's own group (one directory per controller), parent of the slots' groups.
#[derive(Debug)]
pub(crate) struct Cgroups {
    version: Version,
    /// v1: memory, pids, cpuacct; v2: the one directory.
    dirs: Vec<PathBuf>,
    swap: bool,
}

fn mounts() -> Vec<(String, String, String)> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, path, fstype, opts) = (f.next()?, f.next()?, f.next()?, f.next()?);
            Some((path.to_owned(), fstype.to_owned(), opts.to_owned()))
        })
        .collect()
}

impl Cgroups {
    /// Finds the hierarchy and makes `name` under it; `Err` says why there is no cgroup layer.
    pub(crate) fn create(name: &str) -> Result<Self, String> {
        let mounts = mounts();
        let v1 = |controller: &str| {
            mounts
                .iter()
                .find(|(_, fstype, opts)| {
                    fstype == "cgroup" && opts.split(',').any(|o| o == controller)
                })
                .map(|(path, _, _)| PathBuf::from(path))
        };
        let (version, roots) =
            if let (Some(m), Some(p), Some(c)) = (v1("memory"), v1("pids"), v1("cpuacct")) {
                (Version::V1, vec![m, p, c])
            } else {
                let Some((root, _, _)) = mounts.iter().find(|(_, t, _)| t == "cgroup2") else {
                    return Err(
                        "no cgroup hierarchy with the memory and pids controllers is mounted"
                            .to_owned(),
                    );
                };
                let root = PathBuf::from(root);
                let available =
                    std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
                for c in ["memory", "pids"] {
                    if !available.split_whitespace().any(|a| a == c) {
                        return Err(format!(
                            "the cgroup v2 hierarchy at {} does not offer the {c} controller",
                            root.display()
                        ));
                    }
                }
                (Version::V2, vec![root])
            };
        let mut dirs = Vec::new();
        for root in &roots {
            remove_stale(root);
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).map_err(|e| {
                format!(
                    "cannot create {} ({e}); run as root to get cgroups",
                    dir.display()
                )
            })?;
            dirs.push(dir);
        }
        if version == Version::V2 {
            // Children of our group get the controllers.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(dirs[0].join("cgroup.subtree_control"))
                .map_err(|e| format!("cannot enable cgroup controllers: {e}"))?;
            f.write_all(b"+memory +pids")
                .map_err(|e| format!("cannot enable cgroup controllers: {e}"))?;
        }
        let swap = match version {
            Version::V1 => dirs[0].join("memory.memsw.limit_in_bytes").exists(),
            Version::V2 => true,
        };
        Ok(Cgroups {
            version,
            dirs,
            swap,
        })
    }

    /// The layer it gives.
    pub(crate) fn layer(&self) -> crate::layer::Layer {
        crate::layer::Layer::Cgroup {
            v2: self.version == Version::V2,
            swap: self.swap,
        }
    }

    /// The group of slot `i`.
    pub(crate) fn slot(&self, i: usize) -> Result<SlotCgroup, String> {
        let dirs: Vec<PathBuf> = self
            .dirs
            .iter()
            .map(|d| d.join(format!("slot-{i}")))
            .collect();
        for d in &dirs {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        let (memory, pids, cpu) = match self.version {
            Version::V1 => (dirs[0].clone(), dirs[1].clone(), dirs[2].clone()),
            Version::V2 => (dirs[0].clone(), dirs[0].clone(), dirs[0].clone()),
        };
        let open = |p: PathBuf, write: bool| {
            std::fs::OpenOptions::new()
                .read(!write)
                .write(write)
                .open(&p)
                .map_err(|e| format!("cannot open {}: {e}", p.display()))
        };
        let mut procs = Vec::new();
        for d in &dirs {
            procs.push(open(d.join("cgroup.procs"), true)?);
        }
        let v1 = self.version == Version::V1;
        let mut memory_caps = Vec::new();
        if v1 {
            memory_caps.push(open(memory.join("memory.limit_in_bytes"), true)?);
            if self.swap {
                memory_caps.push(open(memory.join("memory.memsw.limit_in_bytes"), true)?);
            }
        } else {
            memory_caps.push(open(memory.join("memory.max"), true)?);
        }
        Ok(SlotCgroup {
            memory_caps,
            version: self.version,
            swap: self.swap,
            pids_current: open(pids.join("pids.current"), false)?,
            oom: open(
                memory.join(if v1 {
                    "memory.oom_control"
                } else {
                    "memory.events"
                }),
                false,
            )?,
            cpu: open(
                cpu.join(if v1 { "cpuacct.usage" } else { "cpu.stat" }),
                false,
            )?,
            procs,
            memory,
            pids,
            dirs,
            limits: None,
            before: (0, 0),
        })
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Removes the (empty) groups of executors whose process is gone: one that never dropped its
/// executor (a test binary's static pool, a killed run) leaves its directories behind.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if crate::workroot::owner_is_gone(&entry.file_name().to_string_lossy()) {
            if let Ok(slots) = std::fs::read_dir(&path) {
                for slot in slots.filter_map(Result::ok).filter(|e| e.path().is_dir()) {
                    let _ = std::fs::remove_dir(slot.path());
                }
            }
            let _ = std::fs::remove_dir(&path);
        }
    }
}

/// What a run used, read from its group.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunUsage {
    /// The kernel killed a process of the run for memory.
    pub(crate) oom_killed: bool,
    /// CPU of every process of the run, orphans included.
    pub(crate) cpu_ms: f64,
}

/// One slot's group.
#[derive(Debug)]
pub(crate) struct SlotCgroup {
    version: Version,
    swap: bool,
    memory: PathBuf,
    pids: PathBuf,
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each directory, opened for writing: the worker gets these, and each run
    /// writes `0` (itself) into them.
    procs: Vec<File>,
    memory_caps: Vec<File>,
    pids_current: File,
    oom: File,
    cpu: File,
    limits: Option<(u64, u64)>,
    before: (u64, u64),
}

fn read_at(file: &File) -> String {
    let mut buf = vec![0u8; 4096];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// `value` as the files take it; `u64::MAX` is no limit, spelled `unlimited`.
fn unlimited_or(value: u64, unlimited: &str) -> String {
    if value == u64::MAX {
        unlimited.to_owned()
    } else {
        value.to_string()
    }
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

impl SlotCgroup {
    /// The files the worker passes to each run to join this group.
    pub(crate) fn procs_files(&self) -> &[File] {
        &self.procs
    }

    /// The files that cap the group's memory, for the worker to lower at the run phase of a
    /// compiled program, in the order it writes them (v1: memory, then memory+swap; v2: memory).
    pub(crate) fn memory_files(&self) -> &[File] {
        &self.memory_caps
    }

    /// The file whose content counts the group's tasks (the worker reads it to know whether a run
    /// left processes behind).
    pub(crate) fn pids_current(&self) -> &File {
        &self.pids_current
    }

    /// The file that counts the group's CPU time (v1 `cpuacct.usage`, ns; v2 `cpu.stat`,
    /// `usage_usec`), which the worker reads when a run reaches its wall-clock limit.
    pub(crate) fn cpu_usage(&self) -> (&File, bool) {
        (&self.cpu, matches!(self.version, Version::V2))
    }

    /// Sets the caps for the next runs (written only when they change): memory (swap included)
    /// and tasks; `u64::MAX` for no cap.
    pub(crate) fn set_limits(&mut self, memory_bytes: u64, tasks: u64) -> Result<(), String> {
        if self.limits == Some((memory_bytes, tasks)) {
            return Ok(());
        }
        match self.version {
            Version::V1 => {
                let mem = self.memory.join("memory.limit_in_bytes");
                let memsw = self.memory.join("memory.memsw.limit_in_bytes");
                let value = unlimited_or(memory_bytes, "-1");
                // memory <= memory+swap must hold after each write: memory+swap is lifted first,
                // then memory set, then memory+swap.
                if self.swap {
                    write(&memsw, "-1")?;
                }
                write(&mem, &value)?;
                if self.swap {
                    write(&memsw, &value)?;
                }
            }
            Version::V2 => {
                write(
                    &self.memory.join("memory.max"),
                    &unlimited_or(memory_bytes, "max"),
                )?;
                write(&self.memory.join("memory.swap.max"), "0")?;
            }
        }
        write(&self.pids.join("pids.max"), &unlimited_or(tasks, "max"))?;
        self.limits = Some((memory_bytes, tasks));
        Ok(())
    }

    /// Forgets the caps written last (someone else changed them: the worker lowers memory for the
    /// run phase of a compiled program), so the next `set_limits` writes them all again.
    pub(crate) fn forget_limits(&mut self) {
        self.limits = None;
    }

    fn counters(&self) -> (u64, u64) {
        let oom = field(&read_at(&self.oom), "oom_kill").unwrap_or(0);
        let cpu_ns = match self.version {
            Version::V1 => read_at(&self.cpu).trim().parse().unwrap_or(0),
            Version::V2 => field(&read_at(&self.cpu), "usage_usec").unwrap_or(0) * 1000,
        };
        (oom, cpu_ns)
    }

    /// Call before a run: snapshots the counters.
    pub(crate) fn begin_run(&mut self) {
        self.before = self.counters();
    }

    /// Call after a run: what it used.
    pub(crate) fn end_run(&mut self) -> RunUsage {
        let (oom, cpu_ns) = self.counters();
        RunUsage {
            oom_killed: oom > self.before.0,
            cpu_ms: cpu_ns.saturating_sub(self.before.1) as f64 / 1e6,
        }
    }
}

impl Drop for SlotCgroup {
    fn drop(&mut self) {
        // Whatever is still in the group (nothing, normally: the slot's init swept it) dies first.
        for d in &self.dirs {
            for _ in 0..100 {
                let pids = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                if pids.trim().is_empty() {
                    break;
                }
                for pid in pids
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    #[expect(unsafe_code, reason = "kill has no memory-safety preconditions")]
                    // SAFETY: kill takes plain integers.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let _ = std::fs::remove_dir(d);
        }
    }
}
