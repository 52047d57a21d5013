//! `codeloop bench compile`: HumanEval-X C++ canonical solutions judged the codeloop way (the
//! solution compiled once with the whole test program, one run) and the compile-per-test way
//! (`SandboxFusion`'s stdio path: every assert its own program, compiled and run), through the same
//! sandbox in the same run. Prints candidates/s for both and the ratio last.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use codeloop_sandbox::Job;
use codeloop_types::{Outcome, Problem, ProgramTest, TestSuite};

use crate::{DatasetArgs, ExecOptions};

#[derive(Args, Debug)]
pub(crate) struct BenchCompileArgs {
    /// A HumanEval-X C++ file (`humaneval_cpp.jsonl.gz`): a path, URL or hf:// address.
    dataset: String,
    /// Only the first N problems.
    #[arg(long, default_value_t = 40)]
    limit: usize,
    #[command(flatten)]
    exec: ExecOptions,
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

fn jobs_for(problems: &[Problem], per_test: bool, opts: &ExecOptions) -> Vec<Job> {
    let mut jobs = Vec::new();
    for p in problems {
        let Some(reference) = &p.reference else {
            continue;
        };
        let Some(test) = &p.hidden.0.program_test else {
            continue;
        };
        let programs = if per_test {
            split_asserts(&test.code)
        } else {
            vec![test.code.clone()]
        };
        for code in programs {
            let suite = Arc::new(TestSuite {
                program_test: Some(ProgramTest {
                    language: test.language,
                    code,
                    libraries: test.libraries.clone(),
                }),
                ..(*p.hidden.0).clone()
            });
            jobs.push(Job::suite(
                reference.program.as_str().into(),
                p.entry_point().unwrap_or_default(),
                suite,
                crate::commands::limits(opts),
            ));
        }
    }
    jobs
}

pub(crate) fn run(args: &BenchCompileArgs) -> Result<ExitCode> {
    let mut data = DatasetArgs::named(&args.dataset);
    data.limit = Some(args.limit);
    let (executor, prepared) = crate::commands::load_problems(&data, &args.exec)?;
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
    for (name, per_test) in [
        ("codeloop (compile once)", false),
        ("compile per test", true),
    ] {
        let jobs = jobs_for(&problems, per_test, &args.exec);
        let programs = jobs.len();
        let start = Instant::now();
        let mut failed = 0;
        executor.run_all(jobs, |_, r| {
            failed += usize::from(r.outcome != Outcome::Passed);
        });
        let secs = start.elapsed().as_secs_f64();
        let rate = problems.len() as f64 / secs;
        println!(
            "{name}: {} candidates, {programs} compiled programs, {secs:.2} s = {rate:.2} candidates/s ({failed} programs failed)",
            problems.len()
        );
        rates.push(rate);
    }
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
