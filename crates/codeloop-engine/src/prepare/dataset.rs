//! What preparation takes and makes: its options, the prepared dataset (the format the cache
//! holds, see [`super::cache`], with its version) and the notes about it.

use codeloop_data::Dataset;
use codeloop_types::{OutputCompare, Problem, ProblemId};
use serde::{Deserialize, Serialize};

/// Version of the prepared-dataset cache format; bump when suites change shape or meaning.
/// 3: recorded test statements hold no assert message (the judge drops them before recording).
/// 5: value suites hold each expected value once, in their tests (the judge spec only the tolerance
/// and oracle), and mark the tests a byte-identical value passes; 6: and keep the digests of long
/// expected values; 7: expected values shown as the reference's run made their repr.
pub const PREPARED_VERSION: u32 = 7;

/// Options of preparation.
#[derive(Debug, Clone, Serialize)]
pub struct PrepareOptions {
    /// Least CPU time per call, in milliseconds.
    pub call_cpu_floor_ms: u32,
    /// Per-call CPU limit as a multiple of the reference's CPU time (value tests).
    pub reference_factor: f64,
    /// Per-test CPU time of stdio problems whose dataset gives no time limit, in milliseconds.
    pub stdio_cpu_ms: u32,
    /// How stdio outputs are compared.
    pub stdio_compare: OutputCompare,
    /// A checker program (Python) deciding stdio tests instead (see
    /// [`TestSuite::checker`](codeloop_types::TestSuite::checker)).
    pub stdio_checker: Option<String>,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            call_cpu_floor_ms: 1_000,
            reference_factor: 4.0,
            stdio_cpu_ms: 2_000,
            stdio_compare: OutputCompare::Tokens,
            stdio_checker: None,
        }
    }
}

/// Something worth telling about a prepared problem (a test dropped, no public test, ...).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepNote {
    /// The problem.
    pub problem: ProblemId,
    /// What happened.
    pub message: String,
}

/// A dataset turned into problems.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreparedDataset {
    /// Cache format version.
    pub version: u32,
    /// The dataset format, e.g. `humaneval+`.
    pub format: String,
    /// Where it was loaded from.
    pub origin: String,
    /// SHA-256 of the loaded bytes.
    pub sha256: String,
    /// The problems, in dataset order.
    pub problems: Vec<Problem>,
    /// Notes from preparation.
    pub notes: Vec<PrepNote>,
}
impl PreparedDataset {
    /// `problems` and `notes` prepared from `dataset`, in the current cache format.
    pub(super) fn new(dataset: &Dataset, problems: Vec<Problem>, notes: Vec<PrepNote>) -> Self {
        PreparedDataset {
            version: PREPARED_VERSION,
            format: dataset.format.to_string(),
            origin: dataset.origin.clone(),
            sha256: dataset.sha256.clone(),
            problems,
            notes,
        }
    }
}
