//! Facts about datasets that their files do not say: the reference solutions that fail their own
//! tests, with the cause (each found by `codeloop check` and traced to the record).

/// Reference solutions that fail their own dataset's tests: `(format, task id, why)`. `codeloop
/// check` reports them apart and does not fail on them.
pub const KNOWN_BROKEN: &[(&str, &str, &str)] = &[
    (
        "humaneval-x",
        "CPP/38",
        "the record's `declaration` already holds the start of decode_cyclic's body, so declaration + canonical_solution does not compile (a dataset bug)",
    ),
    (
        "humaneval-x",
        "JavaScript/32",
        "the record's example_test calls `testfindZero()`, which it never defines (a dataset bug)",
    ),
    (
        "humaneval-x",
        "JavaScript/112",
        "the canonical solution fails four of its own asserts; CodeGeeX's harness does not notice because Node's console.assert does not throw",
    ),
    (
        "humaneval-x",
        "Go/95",
        "the canonical solution depends on Go's random map iteration order and fails now and then (its first key decides the case it checks)",
    ),
    (
        "mbpp+",
        "Mbpp/255",
        "the canonical solution's value on plus input 99 (82,160 tuples of 77) outgrows the default memory limit; `--memory-mib 2048` passes it (EvalPlus's own memory cap fails it too, on input 85, which codeloop's reference cannot return and drops)",
    ),
    (
        "humaneval-x",
        "JavaScript/155",
        "the canonical solution fails `evenOddCount(0) == [1, 0]`; CodeGeeX's harness does not notice because Node's console.assert does not throw",
    ),
];

/// Why `task`'s reference solution fails its own tests in datasets of `format` (as
/// [`crate::Format`] names it, e.g. `humaneval-x`, `mbpp+`), if it is known to.
#[must_use]
pub fn known_broken(format: &str, task: &str) -> Option<&'static str> {
    KNOWN_BROKEN
        .iter()
        .find(|(f, t, _)| *f == format && *t == task)
        .map(|(_, _, why)| *why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Format;

    #[test]
    fn every_entry_names_a_format_codeloop_reads_and_appears_once() {
        let formats: Vec<String> = [
            Format::HumanEval,
            Format::HumanEvalPlus,
            Format::Mbpp,
            Format::MbppSanitized,
            Format::MbppPlus,
            Format::Apps,
            Format::AppsSubset,
            Format::CodeContests,
            Format::HumanEvalX,
            Format::MultiplE,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        for (i, (format, task, why)) in KNOWN_BROKEN.iter().enumerate() {
            assert!(formats.iter().any(|f| f == format), "{format} of {task}");
            assert!(!why.is_empty(), "{task}");
            assert!(
                KNOWN_BROKEN[i + 1..]
                    .iter()
                    .all(|(f, t, _)| (f, t) != (format, task)),
                "{format} {task} twice"
            );
            assert_eq!(known_broken(format, task), Some(*why));
        }
        assert!(known_broken("humaneval-x", "Go/95").is_some());
        assert_eq!(known_broken("humaneval", "Go/95"), None);
    }
}
