//! `codeloop bench run --strategy codet`: the execution matrix of a pool strategy (`CodeT`, `B4`),
//! N programs x M tests per problem, run through the real executor two ways in the same
//! invocation, with the ceiling no harness can beat here.
//!
//! **The matrix.** Per `HumanEval` problem (the prepared dataset, cut at `--limit`):
//! - N = `--samples` programs, in a fixed cycle (`matrix::KINDS`): the reference solution (a third
//!   of them), the reference made wrong on odd inputs, the reference off by one, a constant (the
//!   first test's expected value) and a program that raises. Pass rows differ, and every program
//!   is deterministic and keeps no state between calls.
//! - M = `--tests` value tests: the one-call tests of the problem's hidden suite (of its public
//!   suite when the hidden one has none), cycled to M (so they repeat when the suite is smaller),
//!   each expecting the value the reference returns: the suite's expected value where it is a
//!   value suite, else the value an untimed run of the reference on the suite returned (`HumanEval`'s
//!   hidden tests are prepared as replayed asserts, whose calls carry arguments but whose expected
//!   values live in the assert). Problems with no such test are skipped, and counted.
//!
//! The tests become the suite a pool stage builds from the model's tests
//! (`codeloop_engine::run::generated::generated_suite`, limits by `generated_limits`), and every run is
//! the engine's run of a pool member: `fail_fast = false`, `collect_values = true` (outputs on the
//! bare inputs come back with the verdicts).
//!
//! **The two ways**, timed separately over `Executor::run_all` with the user's executor options:
//! - (a) one sandbox run per program: all M tests in one run, a verdict per test (what the engine
//!   does);
//! - (b) one sandbox run per (program, test) pair: a one-test suite per pair. It takes N x M runs per
//!   problem, so it runs on the first `--pairs-limit` problems only (default 2); (a) is timed on those
//!   problems apart from the rest, so that the ratio compares the same pairs.
//!
//! Both ways must agree on every (program, test) cell of the problems (b) ran: a disagreement fails
//! the bench, with the cells named, before any ratio is printed. An untimed run of (a) on the first
//! problem warms the executor first.
//!
//! **The ceiling** (`codet_ceiling.py`): the same programs x tests in plain Python processes of
//! codeloop's interpreter, one forked worker per core, no sandbox: exec each program, call the entry
//! point on each test's arguments, compare with `==`. Pairs per second, and (a) as a share of it.
//!
//! Printed: the matrix, (a), (b), their agreement, the ceiling, and last the ratio (a)/(b) in pairs
//! per second on the same problems. Target: (a)/(b) >= 10x.

mod matrix;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use codeloop_engine::run::generated::generated_limits;
use codeloop_sandbox::{Executor, Job};
use codeloop_types::{ExecReport, Limits, Outcome, TestSuite};

use crate::Host;
use matrix::{KINDS, Kind, Matrix};

/// The ratio (a)/(b) the issue asks for.
const TARGET_RATIO: f64 = 10.0;

/// The no-harness ceiling, after the sandbox's own wire decoder.
const CEILING: &str = include_str!("codet_ceiling.py");
const WIRE: &str = include_str!("../../codeloop-sandbox/python/wire.py");

/// The matrix's shape, and how much of it runs once per pair.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// Programs per problem (N).
    pub(crate) samples: usize,
    /// Tests per problem (M).
    pub(crate) tests: usize,
    /// Problems way (b) runs on.
    pub(crate) pairs_limit: usize,
}

/// Per matrix, per program: whether it passed each test.
type Rows = Vec<Vec<bool>>;

pub(crate) fn run<E: Host>(
    exec: &E,
    dataset: &str,
    limit: Option<usize>,
    shape: Shape,
) -> Result<ExitCode> {
    let (executor, prepared) = exec.load_problems(dataset, limit)?;
    let limits = exec.limits();
    eprintln!("building the matrices (the reference runs once on replayed suites)");
    let (matrices, skipped) = matrix::build_all(
        &executor,
        &prepared.problems,
        &limits,
        shape.samples,
        shape.tests,
    );
    if matrices.is_empty() {
        bail!("no problem has a matrix (skipped: {skipped:?})");
    }
    let subset = shape.pairs_limit.min(matrices.len());
    let (head, rest) = matrices.split_at(subset);
    eprintln!(
        "{} problems x {} programs x {} tests; warming up",
        matrices.len(),
        shape.samples,
        shape.tests
    );
    per_program(&executor, &matrices[..1], &limits)?;
    eprintln!("(a) one sandbox run per program");
    let start = Instant::now();
    let mut a = per_program(&executor, head, &limits)?;
    let a_head_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    a.extend(per_program(&executor, rest, &limits)?);
    let a_secs = a_head_secs + start.elapsed().as_secs_f64();
    eprintln!("(b) one sandbox run per (program, test) pair, on {subset} problems");
    let start = Instant::now();
    let b = per_pair(&executor, head, &limits)?;
    let b_secs = start.elapsed().as_secs_f64();
    let agreed = agree(head, &a[..subset], &b)?;
    eprintln!("ceiling");
    let ceiling = ceiling(executor.interpreter(), &matrices)?;

    let all = pairs(&matrices);
    let head_pairs = pairs(head);
    let skip_note = if skipped.is_empty() {
        "none skipped".to_owned()
    } else {
        format!(
            "{} skipped: {}",
            skipped.len(),
            skipped
                .iter()
                .map(|(id, why)| format!("{id} ({why:?})"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    println!(
        "matrix: {} problems of {} ({skip_note}) x {} programs x {} tests = {all} (program, test) pairs, run as the engine runs a pool on model-written tests (fail_fast off, values collected)",
        matrices.len(),
        dataset,
        shape.samples,
        shape.tests,
    );
    println!(
        "  pairs passing, by kind of program: {}",
        pass_shares(&matrices, &a)
    );
    let a_rate = all as f64 / a_secs.max(1e-9);
    let a_head_rate = head_pairs as f64 / a_head_secs.max(1e-9);
    println!(
        "(a) one sandbox run per program: {} runs, {all} pairs in {a_secs:.2} s = {a_rate:.0} pairs/s ({} passed); on the first {subset} problems: {head_pairs} pairs in {a_head_secs:.2} s = {a_head_rate:.0} pairs/s",
        runs(&matrices),
        passed(&a),
    );
    if subset == 0 {
        println!("(b) not run (--pairs-limit 0): no ratio");
        return Ok(ExitCode::SUCCESS);
    }
    let b_rate = head_pairs as f64 / b_secs.max(1e-9);
    println!(
        "(b) one sandbox run per (program, test) pair, on the first {subset} problems only (--pairs-limit): {head_pairs} runs, {head_pairs} pairs in {b_secs:.2} s = {b_rate:.0} pairs/s ({} passed)",
        passed(&b)
    );
    println!(
        "(a) and (b) agree on all {agreed} cells of those {subset} problems (pass/fail of every program on every test)"
    );
    println!(
        "ceiling, no harness at all ({} processes of codeloop's Python {} exec the same {} programs in-process and call them on the same tests, compared by ==: no isolation, no limits, no judging): {} pairs in {:.2} s = {:.0} pairs/s ({} passed)",
        ceiling.workers,
        executor.interpreter().version,
        runs(&matrices),
        ceiling.pairs,
        ceiling.secs,
        ceiling.rate(),
        ceiling.passed
    );
    println!(
        "(a) reaches {:.1}% of that ceiling; (b) {:.2}%",
        100.0 * a_rate / ceiling.rate(),
        100.0 * b_rate / ceiling.rate()
    );
    println!(
        "ratio (a) one run per program / (b) one run per pair, pairs/s on the same {subset} problems: {:.1}x (target >= {TARGET_RATIO:.0}x)",
        a_head_rate / b_rate
    );
    Ok(ExitCode::SUCCESS)
}

/// Way (a): each program of each matrix on its whole suite, one sandbox run per program.
pub(crate) fn per_program(
    executor: &Executor,
    matrices: &[Matrix],
    limits: &Limits,
) -> Result<Vec<Rows>> {
    let index: Vec<(usize, usize)> = matrices
        .iter()
        .enumerate()
        .flat_map(|(m, x)| (0..x.programs.len()).map(move |g| (m, g)))
        .collect();
    let mut out: Vec<Rows> = matrices
        .iter()
        .map(|m| vec![Vec::new(); m.programs.len()])
        .collect();
    let mut error = None;
    let jobs = index
        .iter()
        .map(|&(m, g)| job(&matrices[m], g, &matrices[m].suite, limits));
    executor.run_all(jobs, |k, report| {
        let (m, g) = index[k];
        match verdicts(&report, matrices[m].tests.len()) {
            Ok(row) => out[m][g] = row,
            Err(e) => {
                error.get_or_insert_with(|| format!("{} program {g}: {e}", matrices[m].problem));
            }
        }
    });
    match error {
        Some(e) => bail!("way (a): {e}"),
        None => Ok(out),
    }
}

/// Way (b): each program of each matrix on each test alone, one sandbox run per pair.
pub(crate) fn per_pair(
    executor: &Executor,
    matrices: &[Matrix],
    limits: &Limits,
) -> Result<Vec<Rows>> {
    let index: Vec<(usize, usize, usize)> = matrices
        .iter()
        .enumerate()
        .flat_map(|(m, x)| {
            (0..x.programs.len()).flat_map(move |g| (0..x.tests.len()).map(move |j| (m, g, j)))
        })
        .collect();
    let mut out: Vec<Rows> = matrices
        .iter()
        .map(|m| vec![vec![false; m.tests.len()]; m.programs.len()])
        .collect();
    let mut error = None;
    let jobs = index
        .iter()
        .map(|&(m, g, j)| job(&matrices[m], g, &matrices[m].singles[j], limits));
    executor.run_all(jobs, |k, report| {
        let (m, g, j) = index[k];
        match verdicts(&report, 1) {
            Ok(cell) => out[m][g][j] = cell[0],
            Err(e) => {
                error.get_or_insert_with(|| {
                    format!("{} program {g} test {j}: {e}", matrices[m].problem)
                });
            }
        }
    });
    match error {
        Some(e) => bail!("way (b): {e}"),
        None => Ok(out),
    }
}

/// A pool member's run: program `g` of `m` on `suite`, as the engine runs it.
fn job(m: &Matrix, g: usize, suite: &Arc<TestSuite>, limits: &Limits) -> Job {
    let mut job = Job::suite(
        m.programs[g].text.clone(),
        &m.entry_point,
        suite.clone(),
        generated_limits(limits, suite),
    );
    job.fail_fast = false;
    job.collect_values = true;
    job
}

/// Whether each of a report's `n` tests passed; an error for a run the harness failed.
fn verdicts(report: &ExecReport, n: usize) -> Result<Vec<bool>, String> {
    if report.outcome == Outcome::HarnessError {
        return Err(format!(
            "harness error ({}): {}",
            report.verdict.name(),
            report.stderr.trim_end()
        ));
    }
    if report.tests.len() != n {
        return Err(format!(
            "{} test results for {n} tests ({})",
            report.tests.len(),
            report.verdict.name()
        ));
    }
    Ok(report.tests.iter().map(|t| t.verdict.is_pass()).collect())
}

/// Checks that ways (a) and (b) found the same pass/fail in every cell; returns how many cells.
pub(crate) fn agree(matrices: &[Matrix], a: &[Rows], b: &[Rows]) -> Result<usize> {
    let mut cells = 0;
    let mut differ = Vec::new();
    for ((m, a), b) in matrices.iter().zip(a).zip(b) {
        for (g, (ra, rb)) in a.iter().zip(b).enumerate() {
            for (j, (ca, cb)) in ra.iter().zip(rb).enumerate() {
                cells += 1;
                if ca != cb {
                    differ.push(format!(
                        "{} program {g} ({}) test {j} `{}`: (a) {}, (b) {}",
                        m.problem,
                        m.programs[g].kind.name(),
                        m.tests[j].src,
                        verdict(*ca),
                        verdict(*cb)
                    ));
                }
            }
        }
    }
    if !differ.is_empty() {
        bail!(
            "the two ways disagree on {} of {cells} cells; first: {}",
            differ.len(),
            differ[..differ.len().min(5)].join("; ")
        );
    }
    Ok(cells)
}

fn verdict(pass: bool) -> &'static str {
    if pass { "pass" } else { "fail" }
}

fn pairs(matrices: &[Matrix]) -> usize {
    matrices
        .iter()
        .map(|m| m.programs.len() * m.tests.len())
        .sum()
}

fn runs(matrices: &[Matrix]) -> usize {
    matrices.iter().map(|m| m.programs.len()).sum()
}

fn passed(rows: &[Rows]) -> usize {
    rows.iter().flatten().flatten().filter(|&&p| p).count()
}

/// Per kind of program: the share of its (program, test) pairs that pass.
fn pass_shares(matrices: &[Matrix], rows: &[Rows]) -> String {
    let mut kinds: Vec<Kind> = Vec::new();
    for k in KINDS {
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    kinds
        .iter()
        .map(|&kind| {
            let (mut pass, mut all) = (0usize, 0usize);
            for (m, r) in matrices.iter().zip(rows) {
                for (program, row) in m.programs.iter().zip(r) {
                    if program.kind == kind {
                        pass += row.iter().filter(|&&p| p).count();
                        all += row.len();
                    }
                }
            }
            format!(
                "{} {:.1}%",
                kind.name(),
                100.0 * pass as f64 / all.max(1) as f64
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the ceiling measured.
struct Ceiling {
    workers: usize,
    pairs: usize,
    secs: f64,
    passed: usize,
}

impl Ceiling {
    fn rate(&self) -> f64 {
        self.pairs as f64 / self.secs.max(1e-9)
    }
}

/// The pairs/s no harness can beat here: `codet_ceiling.py` on the same matrices.
fn ceiling(interpreter: &codeloop_sandbox::Interpreter, matrices: &[Matrix]) -> Result<Ceiling> {
    let input: Vec<serde_json::Value> = matrices
        .iter()
        .map(|m| {
            serde_json::json!({
                "entry": m.entry_point,
                "programs": m.programs.iter().map(|p| &*p.text).collect::<Vec<_>>(),
                "args": m.tests.iter().map(|t| &t.args).collect::<Vec<_>>(),
                "expected": m.tests.iter().map(|t| &t.expected).collect::<Vec<_>>(),
            })
        })
        .collect();
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), serde_json::to_vec(&input)?)?;
    let (workers, reply) = crate::exec::run_ceiling(
        interpreter,
        &format!("{WIRE}\n{CEILING}"),
        &[file.path().as_os_str()],
    )?;
    let count = |key: &str| reply[key].as_u64().map_or(0, |v| v as usize);
    Ok(Ceiling {
        workers,
        pairs: count("pairs"),
        secs: reply["secs"].as_f64().unwrap_or(0.0),
        passed: count("passed"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use codeloop_data::{Source, load};
    use codeloop_engine::prepare::{PrepareOptions, prepare};
    use codeloop_sandbox::ExecutorConfig;

    /// The first two `HumanEval` problems, prepared, and the executor that prepared them.
    fn two_problems() -> (Executor, Vec<codeloop_types::Problem>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/datasets/humaneval/HumanEval.jsonl.gz");
        let mut dataset = load(&Source::Path(path), None).unwrap();
        dataset.tasks.truncate(2);
        let executor = Executor::start(&ExecutorConfig::default()).unwrap();
        let prepared = prepare(
            &dataset,
            &executor,
            &PrepareOptions::default(),
            None,
            |_| {},
        )
        .unwrap();
        (executor, prepared.problems)
    }

    #[test]
    fn matrix_is_built_right_and_both_ways_agree() {
        let (executor, problems) = two_problems();
        let limits = Limits::default();
        let (matrices, skipped) = matrix::build_all(&executor, &problems, &limits, 6, 9);
        assert!(skipped.is_empty(), "{skipped:?}");
        for m in &matrices {
            assert_eq!(m.programs.len(), 6);
            assert_eq!((m.tests.len(), m.suite.tests.len()), (9, 9));
            assert!(m.singles.iter().all(|s| s.tests.len() == 1));
            let kinds: Vec<Kind> = m.programs.iter().map(|p| p.kind).collect();
            assert_eq!(kinds, KINDS);
        }
        // Deterministic: the same problem gives the same programs and tests.
        let (again, _) = matrix::build_all(&executor, &problems[..1], &limits, 6, 9);
        assert!(
            again[0]
                .programs
                .iter()
                .zip(&matrices[0].programs)
                .all(|(x, y)| x.text == y.text)
        );
        assert_eq!(again[0].suite.key, matrices[0].suite.key);
        // The hidden tests (replayed asserts) are the inputs, not the public examples.
        assert_eq!(
            matrices[0].tests[0].args.to_string(),
            "[[1.0,2.0,3.9,4.0,5.0,2.2],0.3]"
        );

        let a = per_program(&executor, &matrices, &limits).unwrap();
        let b = per_pair(&executor, &matrices, &limits).unwrap();
        assert_eq!(agree(&matrices, &a, &b).unwrap(), 2 * 6 * 9);
        for (m, rows) in matrices.iter().zip(&a) {
            for (program, row) in m.programs.iter().zip(rows) {
                let passes = row.iter().filter(|&&p| p).count();
                match program.kind {
                    Kind::Reference => assert_eq!(passes, 9, "{}: the reference", m.problem),
                    Kind::Raises => assert_eq!(passes, 0, "{}: raises", m.problem),
                    Kind::Constant => {
                        assert!((1..9).contains(&passes), "{}: constant {passes}", m.problem);
                    }
                    Kind::OffByOne => assert!(passes < 9, "{}: off by one", m.problem),
                    Kind::Partial => {}
                }
            }
        }
        // A disagreement between the two ways is an error that names the cell.
        let mut b = b;
        b[1][5][8] = !b[1][5][8];
        let e = agree(&matrices, &a, &b).unwrap_err().to_string();
        assert!(
            e.contains("disagree on 1 of 108") && e.contains("program 5"),
            "{e}"
        );
    }
}
