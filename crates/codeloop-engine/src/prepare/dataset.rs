//! What preparation takes and makes: its options, the prepared dataset (the format the cache
//! holds, see [`super::cache`], with its version) and the notes about it.

use codeloop_data::Dataset;
use codeloop_types::{OutputCompare, Problem, ProblemId};
use serde::{Deserialize, Serialize};

/// Version of the prepared-dataset cache format; bump when suites change shape or meaning.
/// 3: recorded test statements hold no assert message (the judge drops them before recording).
/// 5: value suites hold each expected value once, in their tests (the judge spec only the tolerance
/// and oracle), and mark the tests a byte-identical value passes; 6: and keep the digests of long
/// expected values; 7: expected values shown as the reference's run made their repr; 8: notes carry
/// a kind ([`NoteKind`]).
pub const PREPARED_VERSION: u32 = 8;

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

/// What kind of thing a [`PrepNote`] tells, for readers that sort or count notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// The problem has no public test.
    NoPublicTest,
    /// The problem has no hidden test.
    NoHiddenTest,
    /// The record was skipped (a layout codeloop does not support yet): no problem was made.
    Skipped,
    /// Inputs were dropped from a suite: the reference solution fails on them.
    InputsDropped,
    /// The reference solution fails some of its own tests (they are kept, or so are the default
    /// limits).
    ReferenceFails,
    /// The dataset holds public tests only: its hidden tests are the public ones.
    HiddenIsPublic,
}

/// Something worth telling about a prepared problem (a test dropped, no public test, ...).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepNote {
    /// The problem.
    pub problem: ProblemId,
    /// What kind of note it is.
    pub kind: NoteKind,
    /// What happened, for people.
    pub message: String,
}

impl PrepNote {
    /// A note of `kind` about `problem`.
    pub(super) fn new(problem: &ProblemId, kind: NoteKind, message: impl Into<String>) -> Self {
        PrepNote {
            problem: problem.clone(),
            kind,
            message: message.into(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_keeps_its_kind_through_the_cache_format() {
        let note = PrepNote::new(
            &ProblemId("HumanEval/0".to_owned()),
            NoteKind::NoPublicTest,
            "no public test",
        );
        let json = serde_json::to_string(&note).unwrap();
        assert!(json.contains("\"kind\":\"no_public_test\""), "{json}");
        let back: PrepNote = serde_json::from_str(&json).unwrap();
        assert_eq!(back.kind, NoteKind::NoPublicTest);
        assert_eq!(back.message, "no public test");
    }
}
