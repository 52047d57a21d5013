//! An executor's work root on the host: where its runs' private work dirs live, its staging dir
//! for confined roots, and the cleaning up after executors that died without doing it. Both the
//! executor and the cgroups (named like work roots) use it.

use std::path::{Path, PathBuf};

use crate::errors::SandboxError;

/// Where the runs' work dirs live inside a confined worker's view.
pub(crate) const SANDBOX_WORK_ROOT: &str = "/sandbox";

fn staging_path(work_root: &Path) -> PathBuf {
    let mut name = work_root.file_name().unwrap_or_default().to_os_string();
    name.push("-root");
    work_root.with_file_name(name)
}

/// The empty host directory each confined worker mounts its private root on.
pub(crate) fn root_staging(work_root: &Path) -> Result<PathBuf, SandboxError> {
    let dir = staging_path(work_root);
    std::fs::create_dir_all(&dir).map_err(|source| SandboxError::Io {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// Whether `name` is that of an executor's work root or cgroup (`codeloop-<pid>-<nonce>`) whose
/// process no longer exists.
pub(crate) fn owner_is_gone(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("codeloop-") else {
        return false;
    };
    let mut parts = rest.splitn(2, '-');
    match (
        parts.next().and_then(|p| p.parse::<u32>().ok()),
        parts.next(),
    ) {
        (Some(pid), Some(nonce)) if nonce.bytes().all(|b| b.is_ascii_digit()) => {
            !Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

pub(crate) fn make(parent: &Path) -> Result<PathBuf, SandboxError> {
    use std::os::unix::fs::PermissionsExt;
    // Work roots of executors that died without cleaning up (killed runs, test binaries' static
    // pools), with their empty staging dirs.
    if let Ok(entries) = std::fs::read_dir(parent) {
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let base = name.strip_suffix("-root").unwrap_or(&name);
            if owner_is_gone(base) {
                if name.ends_with("-root") {
                    let _ = std::fs::remove_dir(entry.path());
                } else {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
    let dir = parent.join(format!(
        "codeloop-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    let io = |source| SandboxError::Io {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    // Traversable (not listable) by the per-slot uids, whose work dirs are created inside.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).map_err(io)?;
    Ok(dir)
}

/// Removes the work root `dir` and its staging dir.
pub(crate) fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir(staging_path(dir));
}
