//! Facts about datasets that their files do not say: the reference solutions that fail their own
//! tests, with the cause (each found by `codeloop check` and traced to the record); how MBPP's task
//! ids are written; and the `EvalPlus` tasks judged by a special oracle instead of equality.

/// The prefix of every MBPP task id (`Mbpp/2`), in every flavour: MBPP+ writes it, and original and
/// sanitized MBPP's task numbers get it.
const MBPP_PREFIX: &str = "Mbpp/";

/// The task id of MBPP task `number`, as MBPP+ writes it (`Mbpp/2`).
#[must_use]
pub fn mbpp_task_id(number: impl std::fmt::Display) -> String {
    format!("{MBPP_PREFIX}{number}")
}

/// Whether `task_id` names an MBPP task (of any flavour).
#[must_use]
pub fn is_mbpp_task(task_id: &str) -> bool {
    task_id.starts_with(MBPP_PREFIX)
}

/// The task number of an MBPP task id (`Mbpp/2` gives 2); `None` for another dataset's id.
#[must_use]
pub fn mbpp_task_number(task_id: &str) -> Option<u64> {
    task_id.strip_prefix(MBPP_PREFIX)?.parse().ok()
}

/// The special oracle `EvalPlus` judges a task of `HumanEval+` or MBPP+ with instead of equality
/// (as the judge names it), from its task id and entry point: `find_zero` (`HumanEval+`'s
/// `find_zero`), `any`, `zero_ok` or `not_none` (MBPP+ tasks).
#[must_use]
pub fn special_oracle(task_id: &str, entry_point: &str) -> Option<&'static str> {
    let mbpp = is_mbpp_task(task_id);
    match entry_point {
        "find_zero" if !mbpp => Some("find_zero"),
        "are_equivalent" if mbpp => Some("any"),
        "sum_div" if mbpp => Some("zero_ok"),
        "check_str" | "text_match_three" | "text_starta_endb" if mbpp => Some("not_none"),
        _ => None,
    }
}

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

    #[test]
    fn mbpp_task_ids_are_recognised_and_numbered_only_for_mbpp() {
        assert_eq!(mbpp_task_id(2), "Mbpp/2");
        assert!(is_mbpp_task("Mbpp/2"));
        assert_eq!(mbpp_task_number("Mbpp/255"), Some(255));
        assert_eq!(mbpp_task_number(&mbpp_task_id(974)), Some(974));
        for other in ["HumanEval/2", "CPP/0", "mbpp/2", "2"] {
            assert!(!is_mbpp_task(other), "{other}");
            assert_eq!(mbpp_task_number(other), None, "{other}");
        }
    }

    #[test]
    fn special_oracles_depend_on_the_dataset_of_the_task() {
        assert_eq!(
            special_oracle("HumanEval/32", "find_zero"),
            Some("find_zero")
        );
        assert_eq!(special_oracle("Mbpp/32", "find_zero"), None);
        assert_eq!(special_oracle("Mbpp/581", "sum_div"), Some("zero_ok"));
        assert_eq!(special_oracle("HumanEval/1", "sum_div"), None);
        assert_eq!(special_oracle("Mbpp/164", "are_equivalent"), Some("any"));
        assert_eq!(
            special_oracle("Mbpp/787", "text_match_three"),
            Some("not_none")
        );
        assert_eq!(special_oracle("Mbpp/2", "similar_elements"), None);
    }
}
