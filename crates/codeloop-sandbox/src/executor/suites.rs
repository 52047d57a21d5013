//! Suites a slot runs as more than one run or as a compiled program: stdio suites (one run per
//! test, the output compared outside, or judged by a checker) and program tests (the solution
//! compiled with the trusted test code, one run).

use codeloop_types::{ExecReport, Language, Limits, TestSuite};

use crate::verdicts;

use super::job::{Job, ValueRun, effective_limits};
use super::slot::Slot;

impl Slot {
    /// A program-test suite: compile the solution with the test code and run it, in one run.
    pub(super) fn execute_program_test(
        &mut self,
        job: &Job,
        suite: &TestSuite,
        test: &codeloop_types::ProgramTest,
    ) -> ExecReport {
        // The run starts under the compile step's limits and lowers them to the job's once the
        // compiler is done (the shell its CPU and address space, the worker its wall clock and
        // the cgroup's memory).
        let run = effective_limits(job);
        let start = crate::compiled::start_limits(&run, self.cfg.compile);
        let frame = match crate::compiled::new_frame() {
            Ok(f) => f,
            Err(e) => return verdicts::harness_error(&e, &run, &self.cfg.layers),
        };
        let exec = match crate::compiled::request_fields(
            &job.program,
            test,
            &self.cfg.paths,
            (&run, self.cfg.compile),
            self.cgroup.is_some(),
            &frame,
        ) {
            Ok(f) => f,
            Err(e) => return verdicts::harness_error(&e, &run, &self.cfg.layers),
        };
        let reply = self.run_request(
            &Job::script("", start.clone()),
            &start,
            Some(exec),
            ValueRun::default(),
        );
        if let Some(cg) = &mut self.cgroup {
            cg.forget_limits(); // the worker lowered them for the run phase
        }
        let reply = match reply {
            Ok(r) => r,
            Err(e) => return verdicts::harness_error(&e, &run, &self.cfg.layers),
        };
        if let Some(e) = &reply.harness_error {
            return verdicts::harness_error(e, &run, &self.cfg.layers);
        }
        let source = crate::compiled::full_source(&job.program, test);
        crate::compiled::report(
            reply,
            &source,
            suite,
            test.language,
            &frame,
            &run,
            &self.cfg.layers,
        )
    }

    /// A whole program in a compiled language: compiled and run in one run, which starts under
    /// the compile step's limits and lowers them to the job's once the compiler is done.
    pub(super) fn execute_program(&mut self, job: &Job, language: Language) -> ExecReport {
        let run = effective_limits(job);
        let compile = job.compile.unwrap_or(self.cfg.compile);
        let start = crate::compiled::start_limits(&run, compile);
        let (exec, has_compile) = match crate::compiled::program_fields(
            &job.program,
            language,
            &self.cfg.paths,
            (&run, compile),
            self.cgroup.is_some(),
        ) {
            Ok(f) => f,
            Err(e) => return verdicts::harness_error(&e, &run, &self.cfg.layers),
        };
        let mut carrier = Job::script("", start.clone());
        carrier.stdin.clone_from(&job.stdin);
        carrier.files.clone_from(&job.files);
        carrier.fetch_files.clone_from(&job.fetch_files);
        let reply = self.run_request(&carrier, &start, Some(exec), ValueRun::default());
        if let Some(cg) = &mut self.cgroup {
            cg.forget_limits(); // the worker lowered them for the run phase
        }
        match reply {
            Ok(reply) => {
                crate::compiled::program_report(reply, has_compile, &run, &self.cfg.layers)
            }
            Err(e) => verdicts::harness_error(&e, &run, &self.cfg.layers),
        }
    }

    /// Runs a stdio suite's checker on one output: `Ok(None)` accepts, `Ok(Some(reason))` rejects,
    /// `Err` when the checker itself failed.
    fn check_output(
        &mut self,
        checker: &str,
        input: &str,
        expected: &str,
        output: &str,
        limits: &Limits,
    ) -> Result<Option<String>, String> {
        let mut job = Job::script(checker, limits.clone());
        job.stdin = Some(
            serde_json::json!({"input": input, "expected": expected, "output": output}).to_string(),
        );
        let r = self.execute(&job);
        match (r.status.exit_code, &r.verdict) {
            (Some(0), codeloop_types::Verdict::Pass) => Ok(None),
            (Some(1), _) => Ok(Some(if r.stdout.trim().is_empty() {
                "rejected by the checker".to_owned()
            } else {
                r.stdout.trim().to_owned()
            })),
            _ => Err(format!(
                "the checker failed ({}): {}",
                r.verdict.name(),
                r.stderr.trim()
            )),
        }
    }

    /// A stdio suite: one fresh run per test, its stdout compared outside the sandbox.
    pub(super) fn execute_stdio(
        &mut self,
        job: &Job,
        suite: &TestSuite,
        mode: codeloop_types::OutputCompare,
    ) -> ExecReport {
        let mut runs = Vec::with_capacity(suite.tests.len());
        let mut traces = Vec::new();
        for (i, test) in suite.tests.iter().enumerate() {
            let mut limits = job.limits.clone();
            if let Some(&cpu) = suite.call_cpu_ms.get(i) {
                limits.cpu_ms = u64::from(cpu);
            }
            // The test a traced job asks for runs with the whole script under the tracer.
            let trace = job
                .trace
                .filter(|_| job.binary.is_none() && crate::trace::traced(job, i));
            if trace.is_some() {
                limits.cpu_ms = crate::trace::scaled(limits.cpu_ms);
            }
            limits.wall_ms = limits.wall_ms.max(limits.cpu_ms * 2 + 1_000);
            let run = Job {
                program: job.program.clone(),
                entry_point: None,
                suite: None,
                stdin: Some(test.input.clone()),
                fail_fast: false,
                limits,
                collect_values: false,
                binary: job.binary.clone(),
                trace,
                trace_calls: None,
                language: job.language,
                compile: job.compile,
                files: job.files.clone(),
                fetch_files: Vec::new(),
            };
            let mut report = self.execute(&run);
            for mut t in std::mem::take(&mut report.traces) {
                t.call = i as u32;
                traces.push(t);
            }
            if report.outcome == codeloop_types::Outcome::HarnessError {
                return report;
            }
            let expected = test.expected.as_deref().unwrap_or("");
            let mut verdict = crate::stdio::test_verdict(&report, mode, &test.input, expected);
            if let Some(checker) = &suite.checker {
                // The run ended well: the checker, not the comparison, decides.
                if report.verdict.is_pass() {
                    match self.check_output(
                        checker,
                        &test.input,
                        expected,
                        &report.stdout,
                        &job.limits,
                    ) {
                        Ok(None) => verdict = codeloop_types::Verdict::Pass,
                        Ok(Some(reason)) => {
                            verdict = codeloop_types::Verdict::WrongAnswer {
                                input: test.input.clone(),
                                expected: Some(expected.to_owned()),
                                got: Some(report.stdout.clone()),
                                detail: Some(reason),
                            };
                        }
                        Err(e) => {
                            return verdicts::harness_error(&e, &job.limits, &self.cfg.layers);
                        }
                    }
                }
            }
            let failed = !verdict.is_pass();
            runs.push((report, verdict));
            if failed && job.fail_fast {
                break;
            }
        }
        if runs.is_empty() {
            let mut report = verdicts::harness_error(
                "a stdio suite with no test",
                &job.limits,
                &self.cfg.layers,
            );
            report.outcome = codeloop_types::Outcome::Failed;
            report.verdict = codeloop_types::Verdict::NotRun;
            return report;
        }
        let mut report = crate::stdio::fold(runs, suite.tests.len());
        report.traces = traces;
        report
    }
}
