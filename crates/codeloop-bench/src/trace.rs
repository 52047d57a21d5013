//! `codeloop bench trace`: what the tracer costs. Each `HumanEval` canonical solution runs on its
//! public tests (the hidden ones where a problem has none) twice in the same invocation: untraced,
//! and with its first test traced as LDB traces a failing one (basic blocks, 5 + 5 steps kept).
//! Prints runs/s and CPU per run both ways and their ratio, the aim being at most 5x, and the
//! traced call's own slowdown, which [`TRACE_CPU_FACTOR`] must stay above.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use codeloop_sandbox::trace::TRACE_CPU_FACTOR;
use codeloop_sandbox::{Executor, Job};
use codeloop_types::{ExecReport, Limits, Outcome, TestSuite, TraceEnd, TraceLevel, TraceSpec};

use crate::Host;
use crate::exec::machine_busy_ms;

/// `codeloop bench trace`'s arguments.
#[derive(Args, Debug)]
pub struct BenchTraceArgs<E: Host> {
    /// Dataset whose canonical solutions are run.
    #[arg(long, default_value = "humaneval")]
    dataset: String,
    /// Runs per problem, each way.
    #[arg(long, default_value_t = 5)]
    copies: usize,
    /// The trace level: block, line or function.
    #[arg(long, default_value = "block", value_parser = parse_level)]
    level: TraceLevel,
    /// Only the first N problems.
    #[arg(long)]
    limit: Option<usize>,
    #[command(flatten)]
    exec: E,
}

fn parse_level(s: &str) -> Result<TraceLevel, String> {
    TraceLevel::parse(s).ok_or_else(|| format!("unknown trace level `{s}` (block, line, function)"))
}

/// One problem's runs: its program, suite and the calls of its first test.
struct Case {
    program: Arc<str>,
    entry_point: String,
    suite: Arc<TestSuite>,
    calls: (u32, u32),
}

/// What one way of running every case measured.
#[derive(Default)]
struct Way {
    runs: usize,
    secs: f64,
    busy_ms: f64,
    /// CPU of the first test's calls, summed over runs.
    first_test_cpu_ms: f64,
    passed: usize,
    /// Traces by how they ended: returned, raised, other.
    ends: [usize; 3],
    steps: u64,
}

impl Way {
    fn per_run_ms(&self) -> f64 {
        self.busy_ms / self.runs.max(1) as f64
    }

    fn rate(&self) -> f64 {
        self.runs as f64 / self.secs.max(1e-9)
    }
}

pub(crate) fn run<E: Host>(args: &BenchTraceArgs<E>) -> Result<std::process::ExitCode> {
    let (executor, prepared) = args.exec.load_problems(&args.dataset, args.limit)?;
    let cases: Vec<Case> = prepared
        .problems
        .iter()
        .filter_map(|p| {
            let program = p.reference.as_ref()?.program.as_str();
            let entry_point = p.entry_point()?;
            let suite = if p.public.public_tests.is_empty() {
                p.hidden.0.clone()
            } else {
                p.public.public_tests.clone()
            };
            let calls = suite.tests.first()?.calls;
            (suite.stdio.is_none() && suite.program_test.is_none()).then(|| Case {
                program: program.into(),
                entry_point: entry_point.to_owned(),
                suite,
                calls,
            })
        })
        .collect();
    if cases.is_empty() {
        bail!(
            "`{}` has no function problem with a canonical solution to trace",
            args.dataset
        );
    }
    let spec = TraceSpec {
        level: args.level,
        ..TraceSpec::default()
    };
    let limits = args.exec.limits();
    eprintln!(
        "{} canonical solutions x {} runs each way",
        cases.len(),
        args.copies
    );
    // A warm-up pass, then the two ways in turn.
    let _ = measure(&executor, &cases, 1, &limits, None);
    let plain = measure(&executor, &cases, args.copies, &limits, None);
    let traced = measure(&executor, &cases, args.copies, &limits, Some(spec));
    let line = |label: &str, w: &Way| {
        println!(
            "{label}: {} runs in {:.2} s = {:.1} runs/s, {:.3} ms CPU per run ({} passed)",
            w.runs,
            w.secs,
            w.rate(),
            w.per_run_ms(),
            w.passed
        );
    };
    line("untraced", &plain);
    line(&format!("traced ({} level)", args.level.name()), &traced);
    println!(
        "traces: {} returned, {} raised, {} other; {:.1} steps per trace",
        traced.ends[0],
        traced.ends[1],
        traced.ends[2],
        traced.steps as f64 / traced.runs.max(1) as f64
    );
    println!(
        "the traced test's own CPU: {:.3} ms traced against {:.3} ms untraced per run ({:.1}x; traced calls get {TRACE_CPU_FACTOR}x their CPU limit)",
        traced.first_test_cpu_ms / traced.runs.max(1) as f64,
        plain.first_test_cpu_ms / plain.runs.max(1) as f64,
        traced.first_test_cpu_ms / plain.first_test_cpu_ms.max(1e-9)
    );
    println!(
        "ratio (CPU per traced run / per untraced run): {:.2}x (aim <= 5x); throughput {:.2}x",
        traced.per_run_ms() / plain.per_run_ms().max(1e-9),
        plain.rate() / traced.rate().max(1e-9)
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// Runs every case `copies` times, traced with `spec` or not, and what it cost the machine.
fn measure(
    executor: &Executor,
    cases: &[Case],
    copies: usize,
    limits: &Limits,
    spec: Option<TraceSpec>,
) -> Way {
    let jobs = (0..copies).flat_map(|_| cases.iter()).map(|case| {
        let mut job = Job::suite(
            case.program.clone(),
            &case.entry_point,
            case.suite.clone(),
            limits.clone(),
        );
        job.trace = spec;
        job.trace_calls = Some(case.calls);
        job
    });
    let mut way = Way::default();
    let busy = machine_busy_ms();
    let start = Instant::now();
    executor.run_all(jobs, |_, report| record(&mut way, &report));
    way.secs = start.elapsed().as_secs_f64();
    way.busy_ms = machine_busy_ms() - busy;
    way
}

fn record(way: &mut Way, report: &ExecReport) {
    way.runs += 1;
    way.passed += usize::from(report.outcome == Outcome::Passed);
    way.first_test_cpu_ms += report.tests.first().map_or(0.0, |t| t.cpu_ms);
    for trace in &report.traces {
        let slot = match trace.end {
            TraceEnd::Returned => 0,
            TraceEnd::Raised => 1,
            _ => 2,
        };
        way.ends[slot] += 1;
        way.steps += trace.total;
    }
}
