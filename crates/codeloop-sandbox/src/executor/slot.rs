//! One slot of the pool: a thread owning a zygote (or starting fresh interpreters) and a judge,
//! carrying out the jobs it pulls from the pool's queue, one at a time.

use std::path::PathBuf;
use std::sync::Arc;

use codeloop_types::{ExecReport, Expect, Language, Limits, TestSuite};
use crossbeam_channel::{Receiver, Sender};
use serde_json::value::RawValue;

use crate::errors::SandboxError;
use crate::linux;
use crate::protocol::PROTOCOL_VERSION;
use crate::protocol::judge::Judgement;
use crate::protocol::worker::{ExecMode, Killed, Ready, WorkerReply};
use crate::python::{Interpreter, LineProcess, PythonJudge, WORKER_SRC, WorkerSetup};
use crate::trace;
use crate::verdicts;

use super::job::{Isolation, Job, Task, ValueRun, effective_limits};

#[derive(Clone)]
pub(super) struct SlotConfig {
    pub(super) compile: crate::compiled::CompileLimits,
    pub(super) paths: crate::compiled::RunPaths,
    pub(super) confinement: Option<Arc<linux::Confinement>>,
    pub(super) interpreter: Interpreter,
    pub(super) isolation: Isolation,
    pub(super) work_root: PathBuf,
    pub(super) uid: Option<u32>,
    pub(super) layers: Vec<String>,
}

pub(super) struct Slot {
    pub(super) cfg: SlotConfig,
    pub(super) setup: WorkerSetup,
    pub(super) zygote: Option<LineProcess>,
    /// After the zygote: dropped once it is gone.
    pub(super) cgroup: Option<crate::cgroup::SlotCgroup>,
    pub(super) judge: Option<PythonJudge>,
    /// Suites the judge holds, oldest first: at most [`JUDGE_SUITES`].
    pub(super) loaded: std::collections::VecDeque<String>,
    /// The calls of the suite last run, as one JSON array (see [`Slot::calls_json`]).
    pub(super) calls_json: Option<(String, Arc<RawValue>)>,
    /// The request being written, kept for its capacity.
    pub(super) request: Vec<u8>,
    /// Whether runs go through the slot's zygote: always in warm mode; in fresh mode too when the
    /// interpreter gives the worker as code, which the zygote hands to the fresh interpreter it
    /// execs in each run's process (the slot's view and per-run layers are then set up as in warm
    /// mode, not rebuilt per run). Otherwise each fresh run starts a whole worker of its own.
    pub(super) uses_zygote: bool,
}

pub(super) fn slot_main(
    cfg: SlotConfig,
    setup: WorkerSetup,
    cgroup: Option<crate::cgroup::SlotCgroup>,
    rx: &Receiver<Task>,
    ready: &Sender<Result<(), SandboxError>>,
) {
    let uses_zygote =
        cfg.isolation == Isolation::Warm || cfg.interpreter.precompiled(&WORKER_SRC).is_some();
    let mut slot = Slot {
        cfg,
        setup,
        cgroup,
        zygote: None,
        judge: None,
        loaded: std::collections::VecDeque::new(),
        calls_json: None,
        request: Vec::new(),
        uses_zygote,
    };
    let started = (if slot.uses_zygote {
        slot.zygote().map(|_| ())
    } else {
        Ok(())
    })
    .and_then(|()| slot.judge().map(|_| ()));
    let ok = started.is_ok();
    let _ = ready.send(started);
    if !ok {
        return;
    }
    for task in rx {
        let report = slot.execute(&task.job);
        let _ = task.done.send((task.tag, report));
    }
}

impl Slot {
    fn zygote(&mut self) -> Result<&mut LineProcess, SandboxError> {
        if self.zygote.is_none() {
            let mut z = LineProcess::spawn(
                &self.cfg.interpreter,
                &WORKER_SRC,
                "zygote",
                "zygote",
                true,
                Some(&self.setup),
            )?;
            check_ready(z.read_line()?, PROTOCOL_VERSION)?;
            self.zygote = Some(z);
        }
        Ok(self.zygote.as_mut().expect("just set"))
    }

    pub(super) fn judge(&mut self) -> Result<&mut PythonJudge, SandboxError> {
        if self.judge.is_none() {
            self.judge = Some(PythonJudge::start(&self.cfg.interpreter)?);
            self.loaded.clear();
        }
        Ok(self.judge.as_mut().expect("just set"))
    }

    pub(super) fn execute(&mut self, job: &Job) -> ExecReport {
        if let Some(suite) = &job.suite {
            if let Some(mode) = suite.stdio {
                return self.execute_stdio(job, suite, mode);
            }
            if let Some(test) = &suite.program_test {
                return self.execute_program_test(job, suite, test);
            }
        } else if let Some(language) = job.language.filter(|l| *l != Language::Python) {
            return self.execute_program(job, language);
        }
        let limits = effective_limits(job);
        let layers = self.cfg.layers.clone();
        let Some(suite) = &job.suite else {
            return match self.run_request(job, &limits, None, ValueRun::default()) {
                Ok(reply) => {
                    let traces = job
                        .trace
                        .map(|spec| trace::read(&reply.results, spec.level, trace::keep(spec), 1));
                    let mut report = verdicts::script_report(reply, &limits, &layers);
                    report.traces = traces.unwrap_or_default();
                    report
                }
                Err(e) => verdicts::harness_error(&e, &limits, &layers),
            };
        };
        // Values of a suite run travel as digests past `DIGEST_OVER` bytes, unless they are
        // collected (a reference run). When the verdict hangs on a digest unlike the expected
        // value's, the run goes again with every value in full, for the judge.
        let mut digests = !job.collect_values;
        // A value suite run up to its first failure streams its values: the first that the
        // judge fails stops the run, as EvalPlus stops at its first failing input (the verdict
        // still comes from outside the run's process).
        // A run collecting values (a reference's) streams them too, so that no process on the way
        // holds them twice.
        // (A fresh interpreter per run is supervised unstreamed: see
        // `python/worker/supervisor.py`.)
        // A traced run is never streamed: its trace lines come with the reply.
        let stream = self.uses_zygote
            && self.cfg.isolation == Isolation::Warm
            && job.trace.is_none()
            && (job.collect_values
                || (job.fail_fast
                    && !suite.tests.is_empty()
                    && suite
                        .tests
                        .iter()
                        .all(|t| matches!(t.expect, Expect::Value { .. }))));
        loop {
            let values = ValueRun { digests, stream };
            let reply = if stream {
                self.run_streamed(job, &limits, values, suite)
            } else {
                self.run_request(job, &limits, None, values)
            };
            let reply = match reply {
                Ok(r) => r,
                Err(e) => return verdicts::harness_error(&e, &limits, &layers),
            };
            let traces = job.trace.map(|spec| {
                trace::read(
                    &reply.results,
                    spec.level,
                    trace::keep(spec),
                    suite.calls.len(),
                )
            });
            let report = verdicts::suite_report(
                reply,
                suite,
                job.fail_fast,
                job.collect_values,
                &limits,
                &layers,
                &mut |batch| self.judge_values(suite, batch),
            );
            match report {
                Some(mut report) => {
                    report.traces = traces.unwrap_or_default();
                    return report;
                }
                None if digests => digests = false,
                None => {
                    return verdicts::harness_error(
                        "a run without digests reported a value as a digest",
                        &limits,
                        &layers,
                    );
                }
            }
        }
    }

    /// Runs one request under the slot's cgroup (caps set from `limits`) and reads the reply,
    /// completed with what the cgroup saw: an out-of-memory kill, and the CPU of every process of
    /// the run, orphans included.
    pub(super) fn run_request(
        &mut self,
        job: &Job,
        limits: &Limits,
        exec: Option<ExecMode<'_>>,
        values: ValueRun,
    ) -> Result<WorkerReply, String> {
        let request = self.request_json(job, limits, exec, values)?;
        self.begin_run(limits)?;
        let reply = self.send(&request).map_err(|e| e.to_string());
        self.request = request;
        self.end_run(&reply?, None)
    }

    /// [`Slot::run_request`] for a request with `stream` (a value suite's run, see
    /// `python/worker/supervisor.py`'s `stream`): with `job.fail_fast`, each value is judged as it
    /// comes, and the first failing one stops the run, which then reads as a run that ended by
    /// itself; without it (a run collecting values, a pool member's run on every test) nothing
    /// stops it. Restarts a dead zygote once, as [`Slot::send`].
    fn run_streamed(
        &mut self,
        job: &Job,
        limits: &Limits,
        values: ValueRun,
        suite: &TestSuite,
    ) -> Result<WorkerReply, String> {
        let request = self.request_json(job, limits, None, values)?;
        let reply = self.run_streamed_request(&request, limits, suite, job.fail_fast);
        self.request = request;
        reply
    }

    fn run_streamed_request(
        &mut self,
        request: &[u8],
        limits: &Limits,
        suite: &TestSuite,
        fail_fast: bool,
    ) -> Result<WorkerReply, String> {
        self.begin_run(limits)?;
        for attempt in 0..2 {
            self.zygote().map_err(|e| e.to_string())?;
            // The zygote is out of the slot while it runs, so that judging can use the slot.
            let mut zygote = self.zygote.take().expect("just started");
            let streamed = zygote
                .request_streamed(request, |line| {
                    fail_fast
                        && verdicts::streamed_failure(suite, line, &mut |batch| {
                            self.judge_values(suite, batch)
                        })
                })
                .map(|(results, reply)| (results, reply.to_owned()));
            match streamed {
                Ok((results, reply)) => {
                    self.zygote = Some(zygote);
                    return self.end_run(&reply, Some(results));
                }
                // The zygote died (it never runs candidate code itself, so this is rare): a
                // new one runs the request again.
                Err(_) if attempt == 0 => drop(zygote),
                Err(e) => return Err(e.to_string()),
            }
        }
        unreachable!("the second attempt returns")
    }

    /// Sets the slot's cgroup caps from `limits` and begins its accounting of a run.
    fn begin_run(&mut self, limits: &Limits) -> Result<(), String> {
        if let Some(cg) = &mut self.cgroup {
            // The run's own memory plus the interpreter pages it may copy from the zygote.
            let memory = limits
                .memory_mib
                .map_or(u64::MAX, |m| (m + CGROUP_HEADROOM_MIB) << 20);
            cg.set_limits(memory, limits.processes.unwrap_or(u64::MAX))?;
            cg.begin_run();
        }
        Ok(())
    }

    /// The run's reply, completed with what the cgroup saw (an out-of-memory kill, the CPU of every
    /// process of the run, orphans included) and with its `streamed` results; a run we stopped at
    /// a failing value reads as one that ended there by itself.
    fn end_run(&mut self, reply: &str, streamed: Option<String>) -> Result<WorkerReply, String> {
        let mut reply: WorkerReply =
            serde_json::from_str(reply).map_err(|e| format!("unreadable worker reply: {e}"))?;
        // A worker that did not stream (it never does for a fresh interpreter) sent them all here.
        if let Some(results) = streamed.filter(|_| reply.results.is_empty()) {
            reply.results = results;
        }
        if reply.killed == Some(Killed::Stopped) {
            reply.killed = None;
            reply.signal = None;
            reply.exit_code = Some(0);
        }
        if let Some(cg) = &mut self.cgroup {
            let usage = cg.end_run();
            reply.oom_killed = usage.oom_killed;
            reply.cpu_ms = reply.cpu_ms.max(usage.cpu_ms);
        }
        Ok(reply)
    }

    /// Runs one request through the zygote (or a fresh interpreter); restarts a dead zygote once.
    fn send(&mut self, request: &[u8]) -> Result<String, SandboxError> {
        if !self.uses_zygote {
            let mut p = LineProcess::spawn(
                &self.cfg.interpreter,
                &WORKER_SRC,
                "fresh",
                "fresh interpreter",
                true,
                Some(&self.setup),
            )?;
            return p.request(request).map(str::to_owned);
        }
        if let Ok(r) = self.zygote()?.request(request) {
            Ok(r.to_owned())
        } else {
            // The zygote died (it never runs candidate code itself, so this is rare): start a new
            // one and try once more.
            self.zygote = None;
            self.zygote()?.request(request).map(str::to_owned)
        }
    }

    /// Judges returned values (see [`verdicts::JudgeFn`]), loading the suite into the judge
    /// first when it does not hold it; a dead judge is restarted once.
    fn judge_values(
        &mut self,
        suite: &TestSuite,
        batch: &[(usize, Vec<&RawValue>)],
    ) -> Result<Judgement, SandboxError> {
        let tests = verdicts::expected(suite, batch)?;
        for attempt in 0..2 {
            if !self.loaded.contains(&suite.key) {
                // The judge holds only the suites in flight: the oldest goes first.
                while self.loaded.len() >= JUDGE_SUITES {
                    let old = self.loaded.pop_front().expect("not empty");
                    self.judge()?.unload(&old)?;
                }
                match self.judge()?.load(&suite.key, &suite.judge_spec) {
                    Err(SandboxError::Judge { message, .. }) => {
                        return Err(SandboxError::Worker {
                            what: "judge",
                            message: format!("cannot load suite `{}`: {message}", suite.key),
                        });
                    }
                    r => r?,
                }
                self.loaded.push_back(suite.key.clone());
            }
            match self.judge()?.judge(&suite.key, batch, &tests) {
                Err(SandboxError::Judge { reload: true, .. }) if attempt == 0 => {
                    self.loaded.retain(|k| *k != suite.key);
                }
                // A dead judge is restarted once; its suites are loaded again on the retry.
                Err(SandboxError::Worker { .. }) if attempt == 0 => self.judge = None,
                r => return r,
            }
        }
        Err(SandboxError::Worker {
            what: "judge",
            message: "the judge failed twice".to_owned(),
        })
    }
}

/// Checks a zygote's first line: ready, and speaking protocol version `ours`.
pub(super) fn check_ready(line: &str, ours: u32) -> Result<(), SandboxError> {
    let ready: Ready = serde_json::from_str(line).map_err(|e| SandboxError::Worker {
        what: "zygote",
        message: format!("unreadable ready line: {e}"),
    })?;
    match ready.protocol {
        Some(theirs) if theirs == ours && ready.ready => Ok(()),
        Some(theirs) if theirs == ours => Err(SandboxError::Worker {
            what: "zygote",
            message: ready
                .error
                .unwrap_or_else(|| "it did not say it is ready".to_owned()),
        }),
        theirs => Err(SandboxError::Protocol {
            what: "zygote",
            theirs: theirs.unwrap_or(0),
            ours,
        }),
    }
}

/// Suites a slot's judge holds at once (samples of one problem arrive together, a few problems
/// are in flight across the pool).
const JUDGE_SUITES: usize = 8;

/// Memory a run's cgroup allows on top of the run's limit: interpreter pages the run may copy from
/// the zygote, and the files it writes in its private file systems (tmpfs pages are memory).
const CGROUP_HEADROOM_MIB: u64 = 64;

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(config: &str) -> LineProcess {
        let interp = Interpreter::resolve(None).expect("a python3");
        let setup = WorkerSetup {
            config: config.to_owned(),
            ..WorkerSetup::default()
        };
        LineProcess::spawn(&interp, &WORKER_SRC, "zygote", "zygote", true, Some(&setup))
            .expect("the worker starts")
    }

    #[test]
    fn a_worker_of_another_protocol_version_is_a_clear_error() {
        let ours = PROTOCOL_VERSION + 1;
        let mut z = worker(&format!("{{\"protocol\":{ours}}}"));
        let err = check_ready(z.read_line().unwrap(), ours).unwrap_err();
        assert!(
            matches!(err, SandboxError::Protocol { what: "zygote", theirs, .. } if theirs == PROTOCOL_VERSION),
            "{err}"
        );
    }

    #[test]
    fn the_worker_answers_a_malformed_request_with_a_clear_error() {
        let mut z = worker(&format!("{{\"protocol\":{PROTOCOL_VERSION}}}"));
        check_ready(z.read_line().unwrap(), PROTOCOL_VERSION).expect("ready");
        let mut ask = |line: &str| {
            let reply: WorkerReply =
                serde_json::from_str(z.request(line.as_bytes()).unwrap()).expect("a reply");
            reply.harness_error.expect("refused")
        };
        assert_eq!(ask("nonsense"), "malformed request: not a JSON object");
        assert_eq!(
            ask(r#"{"limits":{}}"#),
            "malformed request: a run request needs field `source` (a string)"
        );
        let base = r#""source":"","limits":{"cpu_ms":1000,"wall_ms":2000,"stack_mib":8,"file_size_mib":1,"output_bytes":100,"result_bytes":100},"work_root":"/tmp","uid":null,"fail_fast":false"#;
        assert_eq!(
            ask(&format!(r#"{{{base},"mode":"fly"}}"#)),
            "malformed request: unknown mode `fly`"
        );
        assert_eq!(
            ask(&format!(
                r#"{{{base},"mode":"calls","entry_point":"f","call_cpu_ms":[1]}}"#
            )),
            "malformed request: a run of mode `calls` needs field `calls` (a list)"
        );
        assert_eq!(
            ask(&format!(
                r#"{{{},"mode":"script"}}"#,
                base.replace("\"cpu_ms\":1000", "\"cpu_ms\":\"x\"")
            )),
            "malformed request: `limits` needs field `cpu_ms` (an integer)"
        );
    }
}
