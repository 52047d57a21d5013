//! What constants in test code evaluate to, shared by the languages: arithmetic on numbers and
//! string escapes.

use codeloop_sandbox::{float_value, number_value};
use serde_json::Value;

/// An integer's value, when `v` is a JSON integer that fits.
fn integer(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => {
            let t = n.to_string();
            if t.contains(['.', 'e', 'E']) {
                None
            } else {
                t.parse().ok()
            }
        }
        _ => None,
    }
}

/// A number's value as a float.
fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

/// `a op b` on numbers: integers stay integers (division truncates, as in C, Java, Go and Rust),
/// anything else is a float. `None` for non-numbers, overflow and division by zero.
pub(crate) fn arith(op: &str, left: &Value, right: &Value) -> Option<Value> {
    if let (Some(x), Some(y)) = (integer(left), integer(right)) {
        let result = match op {
            "+" => x.checked_add(y)?,
            "-" => x.checked_sub(y)?,
            "*" => x.checked_mul(y)?,
            "/" => x.checked_div(y)?,
            "%" => x.checked_rem(y)?,
            _ => return None,
        };
        return number_value(&result.to_string());
    }
    let (x, y) = (float(left)?, float(right)?);
    let result = match op {
        "+" => x + y,
        "-" => x - y,
        "*" => x * y,
        "/" => x / y,
        _ => return None,
    };
    Some(float_value(result))
}

/// `-v` for a number.
pub(crate) fn negate(v: &Value) -> Option<Value> {
    if let Some(i) = integer(v) {
        return number_value(&(-i).to_string());
    }
    Some(float_value(-float(v)?))
}

/// A numeric literal's text without the language's decorations: digit separators (`_`, `'`) and
/// type suffixes (`1L`, `2u`, `3.0f`, `4i64`, `5usize`); hexadecimal, octal and binary integers
/// converted. `floats_may_end_in_f`: a trailing `f`/`F` is a float suffix (C++, Java), not a hex
/// digit.
pub(crate) fn number(text: &str, floats_may_end_in_f: bool) -> Option<Value> {
    let t: String = text.chars().filter(|c| *c != '_' && *c != '\'').collect();
    let lower = t.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            let digits = digits.trim_end_matches(|c: char| !c.is_digit(radix));
            let digits = strip_int_suffix(digits);
            return number_value(&i128::from_str_radix(digits, radix).ok()?.to_string());
        }
    }
    // Rust's typed suffixes.
    for suffix in [
        "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
    ] {
        if let Some(digits) = lower.strip_suffix(suffix) {
            return number_value(digits);
        }
    }
    for suffix in ["f32", "f64"] {
        if let Some(digits) = lower.strip_suffix(suffix) {
            return Some(float_value(digits.parse().ok()?));
        }
    }
    let mut body = lower.as_str();
    let is_float = body.contains(['.', 'e']) || (floats_may_end_in_f && body.ends_with('f'));
    if is_float {
        body = body.trim_end_matches(['f', 'd', 'l']);
        return Some(float_value(body.parse().ok()?));
    }
    let body = strip_int_suffix(body);
    // C and C++: a leading 0 means octal.
    if body.len() > 1 && body.starts_with('0') && floats_may_end_in_f {
        return number_value(&i128::from_str_radix(body, 8).ok()?.to_string());
    }
    number_value(body)
}

fn strip_int_suffix(t: &str) -> &str {
    t.trim_end_matches(['u', 'l', 'n'])
}

/// A quoted literal's content with the usual escapes decoded: `\n \t \r \0 \\ \" \' \a \b \f \v`,
/// `\xHH`, `\uXXXX`, `\u{X..}`, `\UXXXXXXXX` and C's octal `\NNN`. `None` for an escape it does
/// not know.
pub(crate) fn unescape(body: &str) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        let hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| {
            let s: String = (0..n).filter_map(|_| chars.next()).collect();
            u32::from_str_radix(&s, 16).ok().and_then(char::from_u32)
        };
        out.push(match e {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            '\\' => '\\',
            '"' => '"',
            '\'' => '\'',
            '`' => '`',
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'v' => '\u{b}',
            '\n' => continue,
            'x' => hex(&mut chars, 2)?,
            'U' => hex(&mut chars, 8)?,
            'u' if chars.peek() == Some(&'{') => {
                chars.next();
                let s: String = chars.by_ref().take_while(|c| *c != '}').collect();
                char::from_u32(u32::from_str_radix(&s, 16).ok()?)?
            }
            'u' => hex(&mut chars, 4)?,
            d @ '0'..='7' => {
                let mut v = d.to_digit(8)?;
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(x) => {
                            v = v * 8 + x;
                            chars.next();
                        }
                        None => break,
                    }
                }
                char::from_u32(v)?
            }
            _ => return None,
        });
    }
    Some(out)
}

/// A quoted literal (`"..."`, `'...'`, `` `...` ``) as a string value, escapes decoded.
pub(crate) fn quoted(text: &str) -> Option<Value> {
    let t = text.trim();
    let quote = t.chars().next()?;
    if !matches!(quote, '"' | '\'' | '`') || t.len() < 2 || !t.ends_with(quote) {
        return None;
    }
    let body = &t[1..t.len() - 1];
    if quote == '`' {
        // Go's raw strings, JavaScript's templates without substitutions.
        return (!body.contains("${")).then(|| Value::String(body.replace('\r', "")));
    }
    unescape(body).map(Value::String)
}

/// A binary operation on two constants, with `eval` for the operands; string `+` concatenates.
pub(crate) fn binary(op: &str, a: Option<Value>, b: Option<Value>) -> Option<Value> {
    let (a, b) = (a?, b?);
    if op == "+"
        && let (Value::String(x), Value::String(y)) = (&a, &b)
    {
        return Some(Value::String(format!("{x}{y}")));
    }
    arith(op, &a, &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_of_every_language_read_as_values() {
        assert_eq!(number("42", true), Some(json!(42)));
        assert_eq!(number("1'000", true), Some(json!(1000)));
        assert_eq!(number("0x1F", true), Some(json!(31)));
        assert_eq!(number("017", true), Some(json!(15)));
        assert_eq!(number("017", false), Some(json!(17)));
        assert_eq!(number("10L", false), Some(json!(10)));
        assert_eq!(number("2.5f", true), Some(json!(2.5)));
        assert_eq!(number("1e-4", false), Some(json!(0.0001)));
        assert_eq!(number("3usize", false), Some(json!(3)));
        assert_eq!(number("1_000i64", false), Some(json!(1000)));
        assert_eq!(number("2f64", false), Some(json!(2.0)));
        assert_eq!(
            arith("/", &json!(7), &json!(2)),
            Some(json!(3)),
            "integer division"
        );
        assert_eq!(arith("/", &json!(2.0), &json!(4)), Some(json!(0.5)));
        assert_eq!(arith("/", &json!(1), &json!(0)), None);
        assert_eq!(
            unescape(r#"a\n\t\"\x41\u00e9\u{1F600}\101"#).as_deref(),
            Some("a\n\t\"Aé\u{1F600}A")
        );
        assert_eq!(quoted("`raw\\n`"), Some(json!("raw\\n")));
    }
}
