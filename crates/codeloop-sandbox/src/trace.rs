//! Traced runs: a Python function-call suite run with each call under the tracer
//! (`python/worker/tracer.py`), which writes the steps of each call on the result channel beside
//! its result line; or a Python stdio suite, whose traced test's run has the whole script under
//! the tracer (its trace's `call` is the test's index). The format is
//! [`codeloop_types::Trace`]'s.
//!
//! A traced run is an ordinary job with [`Job::trace`](crate::Job::trace) set: it takes a slot of
//! the same warm pool, under the same layers, and its verdicts are computed as for any run. The
//! tracer costs CPU (a Python callback per line executed), so each call's CPU limit is scaled by
//! [`TRACE_CPU_FACTOR`]; a call that loops or floods still ends at its (scaled) limit, with the
//! steps written before. The trace is the program's own account of itself, read from lines its
//! process wrote: untrusted feedback, never a verdict.

use std::borrow::Cow;
use std::collections::BTreeMap;

use codeloop_types::{TestSuite, Trace, TraceEnd, TraceLevel, TraceSpec, TraceStep};
use serde::{Deserialize, Serialize};

use crate::executor::Job;

/// How much more CPU a traced call gets than the suite's limit for it: the tracer's cost per call
/// on `HumanEval`'s canonical solutions is measured by `codeloop bench trace`, and this is above
/// its worst case there.
pub const TRACE_CPU_FACTOR: u32 = 10;

/// The per-call CPU limits `job` runs `suite` with: a traced call's scaled by
/// [`TRACE_CPU_FACTOR`].
pub(crate) fn call_cpu_ms<'s>(job: &Job, suite: &'s TestSuite) -> Cow<'s, [u32]> {
    if job.trace.is_none() {
        return Cow::Borrowed(&suite.call_cpu_ms);
    }
    Cow::Owned(
        suite
            .call_cpu_ms
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                if traced(job, i) {
                    u32::try_from(scaled(u64::from(c))).unwrap_or(u32::MAX)
                } else {
                    c
                }
            })
            .collect(),
    )
}

/// The steps a trace holds at most: the first and the last kept.
pub(crate) fn keep(spec: TraceSpec) -> usize {
    spec.first.saturating_add(spec.last) as usize
}

/// A traced call's (or stdio test's) CPU limit from its untraced one.
pub(crate) fn scaled(cpu_ms: u64) -> u64 {
    cpu_ms.saturating_mul(u64::from(TRACE_CPU_FACTOR))
}

/// Whether call `i` of `job` runs under the tracer (for a stdio suite: test `i`'s run).
pub(crate) fn traced(job: &Job, i: usize) -> bool {
    job.trace.is_some()
        && job
            .trace_calls
            .is_none_or(|(start, end)| (start as usize..end as usize).contains(&i))
}

/// The `trace` field of `job`'s run request.
pub(crate) fn request(job: &Job) -> Option<TraceRequest> {
    job.trace.map(|spec| TraceRequest {
        level: spec.level,
        first: spec.first,
        last: spec.last,
        chars: spec.chars,
        calls: job.trace_calls,
    })
}

/// A run request's `trace` field: what to record, and of which calls.
#[derive(Debug, Serialize)]
pub(crate) struct TraceRequest {
    level: TraceLevel,
    first: u32,
    last: u32,
    chars: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    calls: Option<(u32, u32)>,
}

/// A line of the tracer (a step or a call's end); other lines are not the tracer's.
#[derive(Deserialize)]
struct Line {
    k: String,
    i: u32,
    #[serde(default)]
    n: u64,
    #[serde(default)]
    f: String,
    #[serde(default)]
    b: Option<u32>,
    #[serde(default)]
    l: Vec<u32>,
    #[serde(default)]
    v: Vec<(String, String)>,
    #[serde(default)]
    r: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    total: u64,
    #[serde(default)]
    end: Option<TraceEnd>,
}

/// The traces in a traced run's result lines, one per call that wrote any, in call order. At
/// most `keep` steps of a call are taken (the tracer writes no more; a program writing lines of
/// its own gets no further); a call whose trace began (a `traced` line) but never ended ended inside the call
/// ([`TraceEnd::Unfinished`]).
pub(crate) fn read(results: &str, level: TraceLevel, keep: usize, calls: usize) -> Vec<Trace> {
    let mut traces: BTreeMap<u32, Trace> = BTreeMap::new();
    for line in results.lines() {
        if !line.starts_with("{\"k\":\"step\"") && !line.starts_with("{\"k\":\"trace") {
            continue;
        }
        let Ok(line) = serde_json::from_str::<Line>(line) else {
            continue;
        };
        if line.i as usize >= calls {
            continue;
        }
        let trace = traces.entry(line.i).or_insert_with(|| Trace {
            call: line.i,
            level,
            steps: Vec::new(),
            total: 0,
            end: TraceEnd::Unfinished,
        });
        match (line.k.as_str(), line.end) {
            ("step", _) if trace.steps.len() < keep => {
                trace.total = trace.total.max(line.n);
                trace.steps.push(TraceStep {
                    index: line.n,
                    function: line.f,
                    block: line.b,
                    lines: line.l,
                    vars: line.v,
                    returned: line.r,
                    raised: line.x,
                });
            }
            ("trace", Some(end)) if trace.end == TraceEnd::Unfinished => {
                trace.total = trace.total.max(line.total);
                trace.end = end;
            }
            _ => {}
        }
    }
    traces.into_values().collect()
}
