//! What every suite kind shares: a suite's content key, and the limits reference solutions run
//! under while preparation measures them.

use std::fmt::Write as _;

use codeloop_types::{Call, Limits, ProblemId};
use sha2::{Digest, Sha256};

/// A suite's content key: its problem, calls, judge spec and the expected values its tests hold.
pub(crate) fn suite_key<'a>(
    id: &ProblemId,
    which: &str,
    calls: &[Call],
    spec: &str,
    expected: impl Iterator<Item = &'a str>,
) -> String {
    let mut h = Sha256::new();
    h.update(id.0.as_bytes());
    h.update(which.as_bytes());
    for c in calls {
        h.update(serde_json::to_string(c).unwrap_or_default().as_bytes());
    }
    h.update(spec.as_bytes());
    for e in expected {
        h.update(e.as_bytes());
    }
    let d = h.finalize();
    d.iter()
        .take(16)
        .fold(format!("{id}:{which}:"), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub(super) fn reference_limits() -> Limits {
    Limits {
        cpu_ms: 600_000,
        wall_ms: 1_200_000,
        memory_mib: Some(4096),
        output_bytes: 1 << 20,
        ..Limits::default()
    }
}
