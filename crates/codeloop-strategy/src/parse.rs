//! Reading the structured parts of a model's answer: tagged fields (`<plan>...</plan>`), scores
//! (a confidence from 0 to 100, a critic's 0 to 15), lists (directions, plans) and yes/no
//! verdicts. The planning and search methods ask for these, and a weak model breaks every format,
//! so each reader returns a value and, when it had to fall back to a documented default, why
//! ([`ReadFailure`]): the driver records it and the report counts it per method. A malformed
//! answer is data, never an error.

use serde::{Deserialize, Serialize};

/// Why a reader fell back to its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFailure {
    /// What was being read (`plan`, `confidence`, `directions`...).
    pub field: String,
    /// What was wrong, and the default used.
    pub reason: String,
}

/// A value read from an answer, and the failure when it is the default.
#[derive(Debug, Clone, PartialEq)]
pub struct Read<T> {
    /// The value (read, or the default).
    pub value: T,
    /// Why the default was used.
    pub failure: Option<ReadFailure>,
}

impl<T> Read<T> {
    pub(crate) fn ok(value: T) -> Self {
        Read {
            value,
            failure: None,
        }
    }

    pub(crate) fn fallback(value: T, field: &str, reason: String) -> Self {
        Read {
            value,
            failure: Some(ReadFailure {
                field: field.to_owned(),
                reason,
            }),
        }
    }
}

/// The text inside the first `<tag>...</tag>` (tag names compared without case), trimmed. An
/// unclosed tag runs to the end of the answer (a failure, noted); a missing one gives the whole
/// answer, trimmed (a failure, noted), so a model that ignores the format still gets its words used.
#[must_use]
pub fn tagged(answer: &str, tag: &str) -> Read<String> {
    let lower = answer.to_ascii_lowercase();
    let open = format!("<{}>", tag.to_ascii_lowercase());
    let close = format!("</{}>", tag.to_ascii_lowercase());
    let Some(start) = lower.find(&open).map(|i| i + open.len()) else {
        return Read::fallback(
            answer.trim().to_owned(),
            tag,
            format!("no <{tag}> in the answer: the whole answer is used"),
        );
    };
    match lower[start..].find(&close) {
        Some(len) => Read::ok(answer[start..start + len].trim().to_owned()),
        None => Read::fallback(
            answer[start..].trim().to_owned(),
            tag,
            format!("<{tag}> is never closed: the rest of the answer is used"),
        ),
    }
}

/// The texts inside every `<tag>...</tag>` (at most `max`), trimmed, in order. None found gives
/// the whole answer as one (a failure, noted), or nothing for an empty answer.
#[must_use]
pub fn every(answer: &str, tag: &str, max: usize) -> Read<Vec<String>> {
    let lower = answer.to_ascii_lowercase();
    let open = format!("<{}>", tag.to_ascii_lowercase());
    let close = format!("</{}>", tag.to_ascii_lowercase());
    let mut found = Vec::new();
    let mut at = 0;
    while found.len() < max {
        let Some(start) = lower[at..].find(&open).map(|i| at + i + open.len()) else {
            break;
        };
        let end = lower[start..]
            .find(&close)
            .map_or(answer.len(), |i| start + i);
        found.push(answer[start..end].trim().to_owned());
        at = (end + close.len()).min(answer.len());
    }
    if found.is_empty() {
        return whole_as_one(
            answer,
            tag,
            format!("no <{tag}> in the answer: the whole answer is one"),
        );
    }
    Read::ok(found)
}

/// A number given for `field`: after `field` and a colon or inside `<field>` (case ignored), as
/// `85`, `85%`, `12.5` or `12/15` (then scaled to `range`'s top). Clamped into `range`; `default`
/// when none is found (a failure, noted).
#[must_use]
pub fn score(answer: &str, field: &str, range: (f64, f64), default: f64) -> Read<f64> {
    let lower = answer.to_ascii_lowercase();
    let key = field.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = lower[at..].find(&key) {
        let after = at + i + key.len();
        let rest = lower[after..].trim_start_matches(|c: char| {
            c == ':' || c == '>' || c == '=' || c == '*' || c.is_whitespace()
        });
        if let Some(value) = leading_number(rest) {
            let clamped = value.clamp(range.0, range.1);
            return if (clamped - value).abs() > f64::EPSILON {
                Read::fallback(
                    clamped,
                    field,
                    format!("{value} is outside {}..{}: clamped", range.0, range.1),
                )
            } else {
                Read::ok(clamped)
            };
        }
        at = after;
    }
    Read::fallback(
        default,
        field,
        format!("no number given for `{field}`: {default} is used"),
    )
}

/// The number at the start of `text` (`85`, `-3`, `12.5`; `85%` reads as 85 and `12/15` as 12: the
/// caller's range gives the scale).
fn leading_number(text: &str) -> Option<f64> {
    let end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && c == '-')))
        .map_or(text.len(), |(i, _)| i);
    let number = text[..end].trim_end_matches('.');
    number.parse().ok()
}

/// The items of a numbered (`1.`, `1)`) or bulleted (`-`, `*`) list in `answer`, at most `max`,
/// each with its continuation lines. No list gives the whole answer as one item (a failure,
/// noted), or nothing for an empty answer.
#[must_use]
pub fn list(answer: &str, field: &str, max: usize) -> Read<Vec<String>> {
    let mut items: Vec<String> = Vec::new();
    let mut in_item = false;
    for line in answer.lines() {
        let trimmed = line.trim_start();
        if let Some(item) = list_item(trimmed) {
            items.push(item.trim().to_owned());
            in_item = true;
        } else if in_item && !trimmed.is_empty() && line.starts_with([' ', '\t']) {
            let last = items.last_mut().expect("an item is open");
            last.push(' ');
            last.push_str(trimmed.trim_end());
        } else {
            in_item = false;
        }
    }
    items.retain(|i| !i.is_empty());
    if items.is_empty() {
        return whole_as_one(
            answer,
            field,
            "no numbered or bulleted list: the whole answer is one item".to_owned(),
        );
    }
    items.truncate(max);
    Read::ok(items)
}

/// The fallback of the many-item readers: the whole answer as one item (nothing for an empty
/// answer), noted with `reason`.
fn whole_as_one(answer: &str, field: &str, reason: String) -> Read<Vec<String>> {
    let whole = answer.trim();
    let value = if whole.is_empty() {
        Vec::new()
    } else {
        vec![whole.to_owned()]
    };
    Read::fallback(value, field, reason)
}

/// The text of a list item line (`1. x`, `2) x`, `- x`, `* x`), or `None`.
fn list_item(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
        return Some(rest);
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    let rest = &line[digits..];
    rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") "))
}

/// A yes/no verdict: whichever of `yes` and `no` phrases (case ignored) comes last in `answer`
/// decides; neither gives `default` (a failure, noted).
#[must_use]
pub fn verdict(answer: &str, field: &str, yes: &[&str], no: &[&str], default: bool) -> Read<bool> {
    let lower = answer.to_ascii_lowercase();
    let last = |phrases: &[&str]| {
        phrases
            .iter()
            .filter_map(|p| lower.rfind(&p.to_ascii_lowercase()))
            .max()
    };
    match (last(yes), last(no)) {
        (Some(y), Some(n)) => Read::ok(y > n),
        (Some(_), None) => Read::ok(true),
        (None, Some(_)) => Read::ok(false),
        (None, None) => Read::fallback(
            default,
            field,
            format!(
                "no verdict found: {} is used",
                if default { "yes" } else { "no" }
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_fields_are_read_or_fall_back_to_the_answer() {
        let r = tagged("Here.\n<Plan>\n1. sort\n2. scan\n</plan> done", "plan");
        assert_eq!(r.value, "1. sort\n2. scan");
        assert!(r.failure.is_none());
        let unclosed = tagged("<plan> sort, then scan", "plan");
        assert_eq!(unclosed.value, "sort, then scan");
        assert!(unclosed.failure.unwrap().reason.contains("never closed"));
        let missing = tagged("  just sort it  ", "plan");
        assert_eq!(missing.value, "just sort it");
        assert_eq!(missing.failure.unwrap().field, "plan");
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "whole numbers read from text are exact")]
    fn scores_are_found_after_their_label_clamped_or_defaulted() {
        let s = |a: &str| score(a, "confidence", (0.0, 100.0), 50.0);
        assert_eq!(s("Confidence: 85").value, 85.0);
        assert_eq!(s("<confidence>72</confidence>").value, 72.0);
        assert_eq!(s("**Confidence** = 90%").value, 90.0);
        // The first label followed by a number counts.
        assert_eq!(s("confidence is high. Confidence: 60.").value, 60.0);
        let high = s("Confidence: 150");
        assert_eq!(high.value, 100.0);
        assert!(high.failure.is_some());
        let none = s("I am quite sure.");
        assert_eq!(none.value, 50.0);
        assert!(none.failure.unwrap().reason.contains("50"));
        assert_eq!(score("Score: 12/15", "score", (0.0, 15.0), 0.0).value, 12.0);
    }

    #[test]
    fn lists_are_numbered_or_bulleted_items_with_their_continuations() {
        let r = list(
            "Directions:\n1. Use a set\n   for speed.\n2) Sort first\n- handle empty\nDone.",
            "directions",
            5,
        );
        assert_eq!(
            r.value,
            ["Use a set for speed.", "Sort first", "handle empty"]
        );
        assert!(r.failure.is_none());
        assert_eq!(list("1. a\n2. b\n3. c", "d", 2).value, ["a", "b"]);
        let prose = list("Just try harder.", "directions", 3);
        assert_eq!(prose.value, ["Just try harder."]);
        assert!(prose.failure.is_some());
        assert!(list("  ", "directions", 3).value.is_empty());
        // Years and versions are not list items.
        assert!(list("2024 was a year.", "d", 3).failure.is_some());
    }

    #[test]
    fn verdicts_take_the_last_phrase_said() {
        let v = |a: &str| verdict(a, "accept", &["accept"], &["reject"], false);
        assert!(v("I accept this program.").value);
        assert!(!v("I would accept it, but no: reject.").value);
        let none = v("Looks fine.");
        assert!(!none.value);
        assert!(none.failure.is_some());
    }
}
