//! Traces from the command line: `codeloop bench trace`.

use crate::run::{codeloop, humaneval};

#[test]
fn bench_trace_runs_canonical_solutions_both_ways_and_prints_the_ratio() {
    let out = codeloop()
        .args(["bench", "trace", "--dataset"])
        .arg(humaneval())
        .args(["--limit", "6", "--copies", "1"])
        .output()
        .unwrap();
    crate::assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Every canonical solution passes both ways, and every trace ends with its call's return.
    assert!(stdout.contains("untraced: 6 runs in"), "{stdout}");
    assert!(stdout.contains("(6 passed)\ntraced (block level): 6 runs in"), "{stdout}");
    assert!(stdout.contains(" raised, 0 other;"), "{stdout}");
    assert!(stdout.contains("ratio (CPU per traced run / per untraced run): "), "{stdout}");
    let ratio: f64 = stdout
        .split("per untraced run): ")
        .nth(1)
        .and_then(|rest| rest.split('x').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no ratio in {stdout}"));
    assert!(ratio.is_finite() && ratio > 0.0, "{stdout}");
}
