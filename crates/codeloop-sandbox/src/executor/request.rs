//! A slot's worker requests (see `protocol::worker`), written into the slot's reused buffer.

use std::sync::Arc;

use codeloop_types::{Call, Limits, TestSuite};
use serde_json::value::RawValue;

use crate::protocol::worker::{CallsMode, ExecMode, Hex, RunMode, RunRequest, WorkerLimits};
use crate::verdicts;

use super::job::{Isolation, Job, ValueRun};
use super::slot::Slot;

impl Slot {
    /// The worker request for `job` (in the slot's reused buffer, taken out of the slot: give it
    /// back); `exec` (a program test's) replaces the mode the job would get.
    pub(super) fn request_json(
        &mut self,
        job: &Job,
        limits: &Limits,
        exec: Option<ExecMode<'_>>,
        values: ValueRun,
    ) -> Result<Vec<u8>, String> {
        let calls = match (&exec, &job.suite, &job.binary) {
            (None, Some(suite), None) => Some(self.calls_json(suite)?),
            _ => None,
        };
        let call_cpu_ms = job
            .suite
            .as_deref()
            .map(|suite| crate::trace::call_cpu_ms(job, suite));
        let mode = match (exec, &job.suite, calls.as_deref()) {
            (Some(exec), _, _) => RunMode::Exec(exec),
            (None, _, _) if job.binary.is_some() => RunMode::Exec(ExecMode {
                argv: vec!["./prog".to_owned()],
                binary: job.binary.as_deref().map(Hex),
                ..ExecMode::default()
            }),
            (None, Some(suite), Some(calls)) => RunMode::Calls(CallsMode {
                entry_point: job.entry_point.as_deref().unwrap_or(""),
                call_cpu_ms: call_cpu_ms.as_deref().unwrap_or(&suite.call_cpu_ms),
                calls,
                digest_over: values.digests.then_some(verdicts::DIGEST_OVER),
                stream: values.stream,
                reprs: job.collect_values,
                trace: crate::trace::request(job),
            }),
            (None, _, _) => RunMode::Script {
                filename: "main.py",
                trace: crate::trace::request(job),
            },
        };
        let request = RunRequest {
            source: &job.program,
            limits: WorkerLimits {
                cpu_ms: limits.cpu_ms,
                wall_ms: limits.wall_ms,
                memory_mib: limits.memory_mib,
                stack_mib: limits.stack_mib,
                processes: limits.processes,
                file_size_mib: limits.file_size_mib,
                output_bytes: limits.output_bytes,
                // Returned values can be large (HumanEval+ builds strings of megabytes); the cap
                // only guards the supervisor's memory.
                result_bytes: (256 << 20).max(limits.output_bytes),
            },
            work_root: &self.cfg.work_root,
            uid: self.cfg.uid,
            fail_fast: job.fail_fast,
            // Through the zygote (see `uses_zygote`): each run's process execs a fresh interpreter.
            fresh: self.cfg.isolation == Isolation::Fresh && self.uses_zygote,
            stdin: job.stdin.as_deref(),
            blobs: &job.files,
            fetch: &job.fetch_files,
            mode,
        };
        let mut buf = std::mem::take(&mut self.request);
        buf.clear();
        serde_json::to_writer(&mut buf, &request)
            .map_err(|e| format!("cannot write the run request: {e}"))?;
        Ok(buf)
    }

    /// The suite's calls as one JSON array, built once per suite and reused while the same suite
    /// keeps coming (samples of one problem arrive together).
    fn calls_json(&mut self, suite: &TestSuite) -> Result<Arc<RawValue>, String> {
        if let Some((key, json)) = &self.calls_json
            && *key == suite.key
        {
            return Ok(json.clone());
        }
        let mut s = String::from("[");
        for (i, call) in suite.calls.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            match call {
                Call::Args(wire) => s.push_str(wire),
                Call::Inline(src) => {
                    s.push_str("{\"exec\":");
                    s.push_str(&serde_json::to_string(src).expect("a string"));
                    s.push('}');
                }
            }
        }
        s.push(']');
        let json: Arc<RawValue> = RawValue::from_string(s)
            .map_err(|e| format!("the suite `{}` holds a malformed call: {e}", suite.key))?
            .into();
        self.calls_json = Some((suite.key.clone(), json.clone()));
        Ok(json)
    }
}
