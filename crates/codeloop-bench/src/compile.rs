//! `codeloop bench compile`: HumanEval-X C++ canonical solutions judged the codeloop way (the
//! solution compiled once with the whole split test program, one run, every call's value judged
//! outside) and the compile-per-test way (`SandboxFusion`'s stdio path: every assert of the
//! dataset's test program its own program, compiled and run), through the same sandbox in the
//! same run. A third pass runs the dataset's test program whole (one verdict, nothing judged
//! outside): the difference to the first is what judging values costs per candidate. Prints
//! candidates/s for each, the ratio to compile-per-test, and that cost.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use codeloop_sandbox::Job;
use codeloop_types::{Expect, Outcome, Problem, ProgramTest, TestCase, TestId, TestSuite};

use crate::Host;

/// `codeloop bench compile`'s arguments.
#[derive(Args, Debug)]
pub struct BenchCompileArgs<E: Host> {
    /// A HumanEval-X C++ file (`humaneval_cpp.jsonl.gz`): a path, URL or hf:// address.
    dataset: String,
    /// Only the first N problems.
    #[arg(long, default_value_t = 40)]
    limit: usize,
    #[command(flatten)]
    exec: E,
}

/// The test program split into one program per assert: the lines before `main`, then `main` with
/// its non-assert statements and a single assert.
fn split_asserts(test: &str) -> Vec<String> {
    let Some(at) = test.find("int main") else {
        return vec![test.to_owned()];
    };
    let (head, body) = test.split_at(at);
    let inner = body.split_once('{').map_or("", |(_, rest)| {
        rest.rsplit_once('}').map_or(rest, |(b, _)| b)
    });
    let lines: Vec<&str> = inner.lines().collect();
    let setup: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.trim_start().starts_with("assert"))
        .collect();
    let asserts: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.trim_start().starts_with("assert"))
        .collect();
    if asserts.is_empty() {
        return vec![test.to_owned()];
    }
    asserts
        .iter()
        .map(|a| format!("{head}int main(){{\n{}\n{a}\n}}\n", setup.join("\n")))
        .collect()
}

/// How a pass runs each candidate.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    /// The prepared suite: the split test program, values judged outside.
    Judged,
    /// The dataset's test program, whole: one verdict.
    Whole,
    /// Each assert of the dataset's test program, its own program.
    PerTest,
}

/// A suite of one whole-program test over `code`.
fn whole_program(
    language: codeloop_types::Language,
    code: String,
    libraries: &[String],
) -> TestSuite {
    TestSuite {
        tests: vec![TestCase {
            id: TestId(0),
            calls: (0, 1),
            input: "the test program".to_owned(),
            expected: None,
            expect: Expect::Program,
        }],
        call_cpu_ms: vec![10_000],
        program_test: Some(ProgramTest {
            language,
            code,
            libraries: libraries.to_vec(),
        }),
        ..TestSuite::empty("bench")
    }
}

fn jobs_for(
    problems: &[Problem],
    raw_tests: &std::collections::HashMap<String, String>,
    way: Way,
    opts: &impl Host,
) -> Vec<Job> {
    let mut jobs = Vec::new();
    for p in problems {
        let Some(reference) = &p.reference else {
            continue;
        };
        let Some(test) = &p.hidden.0.program_test else {
            continue;
        };
        let raw = raw_tests.get(&p.id().0).cloned().unwrap_or_default();
        let suites: Vec<TestSuite> = match way {
            Way::Judged => vec![(*p.hidden.0).clone()],
            Way::Whole => vec![whole_program(test.language, raw, &test.libraries)],
            Way::PerTest => split_asserts(&raw)
                .into_iter()
                .map(|code| whole_program(test.language, code, &test.libraries))
                .collect(),
        };
        for suite in suites {
            let suite = Arc::new(suite);
            jobs.push(Job::suite(
                reference.program.as_str().into(),
                p.entry_point().unwrap_or_default(),
                suite,
                opts.limits(),
            ));
        }
    }
    jobs
}

pub(crate) fn run<E: Host>(args: &BenchCompileArgs<E>) -> Result<ExitCode> {
    let (executor, prepared) = args.exec.load_problems(&args.dataset, Some(args.limit))?;
    // The dataset's own test programs, for the baselines.
    let raw = codeloop_data::load(&codeloop_data::Source::parse(&args.dataset)?, None)?;
    let raw_tests: std::collections::HashMap<String, String> = raw
        .tasks
        .iter()
        .filter_map(|t| match t {
            codeloop_data::RawTask::HumanEvalX(r) => Some((r.task_id.clone(), r.test.clone())),
            _ => None,
        })
        .collect();
    if prepared.format != "humaneval-x"
        || prepared
            .problems
            .iter()
            .any(|p| p.hidden.0.program_test.is_none())
    {
        bail!(
            "`{}` is not a HumanEval-X file of a compiled language",
            args.dataset
        );
    }
    // CPP/38's canonical solution does not compile (a dataset bug); leave it out of both sides.
    let problems: Vec<Problem> = prepared
        .problems
        .into_iter()
        .filter(|p| p.id().0 != "CPP/38")
        .collect();
    let mut rates = Vec::new();
    let mut seconds = Vec::new();
    let mut cpu = Vec::new();
    for (name, way) in [
        (
            "codeloop (compile once, values judged outside)",
            Way::Judged,
        ),
        ("compile per test", Way::PerTest),
        ("the test program whole (one verdict)", Way::Whole),
    ] {
        let jobs = jobs_for(&problems, &raw_tests, way, &args.exec);
        let programs = jobs.len();
        let start = Instant::now();
        let mut failed = 0;
        let mut cpu_ms = 0.0;
        executor.run_all(jobs, |_, r| {
            failed += usize::from(r.outcome != Outcome::Passed);
            cpu_ms += r.cpu_ms;
        });
        cpu.push(cpu_ms);
        let secs = start.elapsed().as_secs_f64();
        let rate = problems.len() as f64 / secs;
        println!(
            "{name}: {} candidates, {programs} compiled programs, {secs:.2} s = {rate:.2} candidates/s ({failed} programs failed)",
            problems.len()
        );
        rates.push(rate);
        seconds.push(secs);
    }
    let n = problems.len() as f64;
    println!(
        "judging values: {:+.1} ms of CPU per candidate (the runs' compile and run, {:.1} ms judged against {:.1} ms whole), {:+.1} ms of wall time per candidate",
        (cpu[0] - cpu[2]) / n,
        cpu[0] / n,
        cpu[2] / n,
        (seconds[0] - seconds[2]) * 1000.0 / n
    );
    println!(
        "ratio codeloop / compile-per-test: {:.2}x",
        rates[0] / rates[1]
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asserts_split_with_their_setup() {
        let t = "#include<assert.h>\nint main(){\n    vector<int> a={1};\n    assert (f(a)==1);\n    assert (f({})==0);\n}\n";
        let parts = split_asserts(t);
        assert_eq!(parts.len(), 2);
        assert!(parts[1].contains("vector<int> a={1};") && parts[1].contains("f({})==0"));
        assert!(!parts[1].contains("f(a)==1"));
    }
}
