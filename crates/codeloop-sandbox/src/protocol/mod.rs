//! The typed protocol between codeloop and its two Python processes: the untrusted-side worker
//! (`python/worker/`, zygote or fresh runner) and the trusted judge (`python/judge.py`). Every
//! message either side writes is a type here; nothing is spliced together as text.
//!
//! # Framing
//!
//! One JSON object per line on the process's stdin (requests) and stdout (replies). The worker also
//! writes, before the reply of a streamed run, one `R <result line>` line per result as it comes,
//! and reads a bare `stop` line that ends such a run early (`worker::StreamLine`,
//! `worker::STOP_LINE`).
//!
//! # Version
//!
//! [`PROTOCOL_VERSION`] is checked when each process starts: the judge answers a `hello` request
//! (`judge::JudgeRequest::Hello`) carrying it, and the worker reads it from its setup object
//! (`worker::WorkerConfig::protocol`) and says it again in its ready line. A side that speaks
//! another version answers with an error naming both versions, which becomes a
//! [`SandboxError::Protocol`](crate::SandboxError::Protocol). Bump it with any change to a message
//! below, on both sides at once.
//!
//! # Validation
//!
//! The Python side checks every request it receives (the op is known, the required fields are
//! present with the right JSON types) and answers a malformed one with an error naming the field,
//! never with a traceback: the worker as a run reply with `harness_error`, the judge as
//! [`judge::JudgeError`].
//!
//! # Large values
//!
//! Values of hundreds of MB pass through (`HumanEval+` results, reference runs): requests borrow
//! what they send ([`serde_json::value::RawValue`] for wire values and the suite's calls, built
//! once per suite) and are written with `serde_json::to_writer` into a buffer the slot reuses;
//! result lines are read in place, borrowing their values from the reply's text.

pub mod judge;
pub(crate) mod worker;

/// The version of every message of this module; both Python processes check it at start.
pub const PROTOCOL_VERSION: u32 = 2;
