//! Stdio tests: each test runs the program afresh (a forked child, as every run) with the test's
//! input on standard input; its standard output is compared here, outside the sandbox, under the
//! suite's [`OutputCompare`]. The program's exit code counts only as a crash (non-zero exit with a
//! traceback is a runtime error); what it prints is judged by the comparison alone.

use codeloop_types::{ExecReport, Outcome, OutputCompare, TestResult, Verdict};

/// Longest input or output text kept in a verdict (the report stays small; feedback cuts further).
const KEEP: usize = 4096;

fn keep(s: &str) -> String {
    if s.len() <= KEEP {
        return s.to_owned();
    }
    let mut end = KEEP;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &s[..end], s.len())
}

fn numbers_close(a: &str, b: &str, abs: f64, rel: f64) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            #[expect(
                clippy::float_cmp,
                reason = "equal values (infinities included) match exactly"
            )]
            if x == y {
                return true;
            }
            let diff = (x - y).abs();
            diff <= abs || diff <= rel * x.abs().max(y.abs())
        }
        _ => a == b,
    }
}

/// Whether `got` matches `expected`; `Err` says where they first differ.
pub fn compare_output(mode: OutputCompare, expected: &str, got: &str) -> Result<(), String> {
    if let OutputCompare::Exact = mode {
        let (e, g) = (
            expected.strip_suffix('\n').unwrap_or(expected),
            got.strip_suffix('\n').unwrap_or(got),
        );
        if e == g {
            return Ok(());
        }
        let at = e
            .bytes()
            .zip(g.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(e.len().min(g.len()));
        return Err(format!("the output differs from byte {at} on"));
    }
    let e: Vec<&str> = expected.split_whitespace().collect();
    let g: Vec<&str> = got.split_whitespace().collect();
    for (i, (a, b)) in e.iter().zip(&g).enumerate() {
        let same = match mode {
            OutputCompare::Tokens | OutputCompare::Exact => a == b,
            OutputCompare::CaseInsensitive => a.to_lowercase() == b.to_lowercase(),
            OutputCompare::Float { abs, rel } => numbers_close(a, b, abs, rel),
        };
        if !same {
            return Err(format!(
                "token {} differs: expected `{}`, got `{}`",
                i + 1,
                keep(a),
                keep(b)
            ));
        }
    }
    if e.len() != g.len() {
        return Err(format!("expected {} tokens, got {}", e.len(), g.len()));
    }
    Ok(())
}

/// A Python traceback's last line `Kind: message`, if the text ends with one.
fn exception_of(stderr: &str) -> Option<(String, String)> {
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty())?;
    let (kind, message) = last.split_once(':').unwrap_or((last, ""));
    let kind = kind.trim();
    let looks_like_name = !kind.is_empty()
        && kind
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    looks_like_name.then(|| (kind.to_owned(), message.trim().to_owned()))
}

/// The verdict of one stdio test, from the report of its run.
pub(crate) fn test_verdict(
    run: &ExecReport,
    mode: OutputCompare,
    input: &str,
    expected: &str,
) -> Verdict {
    match &run.verdict {
        Verdict::Pass => match compare_output(mode, expected, &run.stdout) {
            Ok(()) => Verdict::Pass,
            Err(detail) => Verdict::WrongAnswer {
                input: keep(input),
                expected: Some(keep(expected)),
                got: Some(keep(&run.stdout)),
                detail: Some(detail),
            },
        },
        Verdict::RuntimeError { kind, .. } if kind == "exit" => {
            let traceback = (!run.stderr.trim().is_empty()).then(|| keep(&run.stderr));
            match exception_of(&run.stderr) {
                Some((kind, message)) if run.stderr.contains("Traceback") => {
                    Verdict::RuntimeError {
                        kind,
                        message,
                        traceback,
                    }
                }
                _ => Verdict::RuntimeError {
                    kind: "exit".to_owned(),
                    message: format!(
                        "exit code {}",
                        run.status
                            .exit_code
                            .map_or_else(|| "?".to_owned(), |c| c.to_string())
                    ),
                    traceback,
                },
            }
        }
        other => other.clone(),
    }
}

/// Folds per-test runs into one report: totals, per-test verdicts, and the output of the first
/// failing test (else the last one).
pub(crate) fn fold(mut runs: Vec<(ExecReport, Verdict)>, total_tests: usize) -> ExecReport {
    let show = runs
        .iter()
        .position(|(_, v)| !v.is_pass())
        .unwrap_or(runs.len().saturating_sub(1));
    let tests: Vec<TestResult> = (0..total_tests)
        .map(|i| TestResult {
            id: codeloop_types::TestId(i as u32),
            verdict: runs.get(i).map_or(Verdict::NotRun, |(_, v)| v.clone()),
            cpu_ms: runs.get(i).map_or(0.0, |(r, _)| r.cpu_ms),
        })
        .collect();
    let cpu_ms = runs.iter().map(|(r, _)| r.cpu_ms).sum();
    let wall_ms = runs.iter().map(|(r, _)| r.wall_ms).sum();
    let max_rss_kib = runs.iter().map(|(r, _)| r.max_rss_kib).max().unwrap_or(0);
    let stragglers = runs.iter().map(|(r, _)| r.stragglers).sum();
    let first_bad = tests
        .iter()
        .find(|t| !t.verdict.is_pass())
        .map(|t| t.verdict.clone());
    let passed = first_bad.is_none() && total_tests > 0;
    // Callers pass at least one run.
    let mut report = runs.swap_remove(show).0;
    report.outcome = if passed {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    report.verdict = first_bad.unwrap_or(Verdict::Pass);
    report.tests = tests;
    report.cpu_ms = cpu_ms;
    report.wall_ms = wall_ms;
    report.max_rss_kib = max_rss_kib;
    report.stragglers = stragglers;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_modes() {
        assert!(compare_output(OutputCompare::Exact, "1 2\n", "1 2").is_ok());
        assert!(compare_output(OutputCompare::Exact, "1 2\n", "1  2\n").is_err());
        assert!(compare_output(OutputCompare::Tokens, "1 2\n", " 1\n2 ").is_ok());
        let e = compare_output(OutputCompare::Tokens, "1 2 3", "1 2").unwrap_err();
        assert!(e.contains("3 tokens"), "{e}");
        assert!(compare_output(OutputCompare::CaseInsensitive, "YES", "yes\n").is_ok());
        assert!(compare_output(OutputCompare::Tokens, "YES", "yes").is_err());
        let f = OutputCompare::Float {
            abs: 1e-6,
            rel: 1e-6,
        };
        assert!(compare_output(f, "0.3333333", "0.33333331").is_ok());
        assert!(compare_output(f, "1000000", "1000000.5").is_ok());
        assert!(compare_output(f, "0.3333", "0.3334").is_err());
        assert!(compare_output(f, "abc 1.0", "abc 1").is_ok());
    }

    #[test]
    fn traceback_names_the_exception() {
        let tb =
            "Traceback (most recent call last):\n  File \"main.py\", line 1\nValueError: bad\n";
        assert_eq!(exception_of(tb), Some(("ValueError".into(), "bad".into())));
    }
}
