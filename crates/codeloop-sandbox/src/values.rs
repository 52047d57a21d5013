//! The canonical value form of judged program tests (compiled languages), and its comparison.
//!
//! A judged test's hook reports the value a call returned; the expected value is evaluated from the
//! test's source outside the sandbox. Both are JSON in one form, whatever the language:
//!
//! | value | form |
//! |---|---|
//! | null, `None`, `nil`, an empty `Optional` | `null` |
//! | booleans, strings (chars are strings of one) | JSON's |
//! | integers, finite floats | JSON numbers (integers keep every digit) |
//! | NaN, ±infinity | `{"$float": "nan"}`, `{"$float": "inf"}`, `{"$float": "-inf"}` |
//! | lists, arrays, vectors, tuples, pairs | arrays |
//! | maps, dictionaries, objects | `{"$map": [[key, value], ...]}` |
//! | sets | `{"$set": [...]}` |
//! | JavaScript's `undefined` | `{"$undefined": true}` |
//! | an enum variant or struct (`Ok(1)`, `Point { x: 1 }`) | `{"$variant": ["Ok", 1]}`, `{"$struct": ["Point", {"$map": ...}]}` |
//! | anything else | `{"$opaque": "what it is"}` (never equal to anything) |
//!
//! `Some(x)` and `Optional.of(x)` are `x`: the language's types already keep an optional apart
//! from its content.

use codeloop_types::ValueCompare;
use serde_json::Value;

/// Whether `got` equals `expected` under `compare`.
#[must_use]
pub fn equal(expected: &Value, got: &Value, compare: ValueCompare) -> bool {
    same(expected, got, compare)
}

/// JavaScript's `ToNumber` of a primitive, for loose equality.
fn loose_number(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) if s.trim().is_empty() => Some(0.0),
        Value::String(s) => s.trim().parse().ok(),
        _ => number(v),
    }
}

/// A number's value as a float (JSON numbers and the non-finite floats).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().or_else(|| n.to_string().parse().ok()),
        Value::Object(o) => match o.get("$float")?.as_str()? {
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => Some(f64::NAN),
        },
        _ => None,
    }
}

/// Whether a JSON number is written as an integer.
fn integer_text(n: &serde_json::Number) -> Option<String> {
    let text = n.to_string();
    (!text.contains(['.', 'e', 'E'])).then_some(text)
}

/// The tag of a tagged object (`$map`, `$set`, ...) and its content.
fn tagged(v: &Value) -> Option<(&str, &Value)> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    let (k, inner) = o.iter().next()?;
    k.starts_with('$').then_some((k.as_str(), inner))
}

/// Structural equality (see the module docs), numbers as `compare` says.
#[expect(
    clippy::float_cmp,
    reason = "the tests' own `==` on numbers is exact; tolerances are the test's, in `Within`"
)]
fn same(a: &Value, b: &Value, compare: ValueCompare) -> bool {
    if let ValueCompare::Within { tolerance } = compare
        && let (Some(x), Some(y)) = (number(a), number(b))
    {
        return (x - y).abs() < tolerance || x == y;
    }
    if compare == ValueCompare::Loose {
        let nullish = |v: &Value| v.is_null() || matches!(tagged(v), Some(("$undefined", _)));
        if nullish(a) || nullish(b) {
            return nullish(a) && nullish(b);
        }
        let primitive =
            |v: &Value| matches!(v, Value::Bool(_) | Value::String(_) | Value::Number(_));
        if primitive(a) && primitive(b) && std::mem::discriminant(a) != std::mem::discriminant(b) {
            return matches!((loose_number(a), loose_number(b)), (Some(x), Some(y)) if x == y);
        }
    }
    let same = |a: &Value, b: &Value| same(a, b, compare);
    let unordered = |x: &[Value], y: &[Value]| unordered(x, y, compare);
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => match (integer_text(x), integer_text(y)) {
            // Integers of any size, digit by digit (both are canonical: no sign on zero, no
            // leading zeros).
            (Some(x), Some(y)) => x == y,
            _ => matches!((number(a), number(b)), (Some(x), Some(y)) if x == y),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => match (tagged(a), tagged(b)) {
            (Some(("$float", _)), _) | (_, Some(("$float", _))) => {
                matches!((number(a), number(b)), (Some(x), Some(y)) if x == y)
            }
            (
                Some(("$map" | "$set", Value::Array(x))),
                Some(("$map" | "$set", Value::Array(y))),
            ) if x.is_empty() && y.is_empty() => true,
            (Some(("$map", Value::Array(x))), Some(("$map", Value::Array(y)))) => {
                // Pairs matched regardless of order.
                unordered(x, y)
            }
            (Some(("$set", Value::Array(x))), Some(("$set", Value::Array(y)))) => unordered(x, y),
            // A braced list written in the test takes the type it is compared with: a list of
            // pairs is a map's entries, a list a set's elements (C++'s `{{'a', 2}}`, `{1, 2}`).
            (Some(("$map", Value::Array(pairs))), None)
            | (None, Some(("$map", Value::Array(pairs))))
                if pairs_of(a).or(pairs_of(b)).is_some() =>
            {
                let list = pairs_of(a).or(pairs_of(b)).unwrap_or_default();
                unordered(pairs, list)
            }
            (Some(("$set", Value::Array(items))), None)
            | (None, Some(("$set", Value::Array(items))))
                if a.is_array() || b.is_array() =>
            {
                let list = a.as_array().or(b.as_array()).map_or(&[][..], Vec::as_slice);
                unordered(items, list)
            }
            (Some(("$undefined", _)), Some(("$undefined", _))) => true,
            (Some((ta @ ("$variant" | "$struct"), x)), Some((tb, y))) if ta == tb => same(x, y),
            _ => false,
        },
    }
}

/// A list whose every element is a pair: a map's entries as a braced list writes them.
fn pairs_of(v: &Value) -> Option<&[Value]> {
    let items = v.as_array()?;
    items
        .iter()
        .all(|p| p.as_array().is_some_and(|kv| kv.len() == 2))
        .then_some(items.as_slice())
}

/// Whether `x` and `y` hold the same elements, each matched once, in any order.
fn unordered(x: &[Value], y: &[Value], compare: ValueCompare) -> bool {
    if x.len() != y.len() {
        return false;
    }
    let mut used = vec![false; y.len()];
    x.iter().all(|a| {
        let hit = y
            .iter()
            .enumerate()
            .find(|(i, b)| !used[*i] && same(a, b, compare))
            .map(|(i, _)| i);
        hit.inspect(|&i| used[i] = true).is_some()
    })
}

/// A value as a person reads it in feedback: `[1, 2]`, `"ab"`, `{"a": 1}`, `None`-like `null`.
#[must_use]
pub fn display(v: &Value) -> String {
    let mut out = String::new();
    show(v, &mut out);
    out
}

fn show(v: &Value, out: &mut String) {
    let list = |items: &[Value], out: &mut String, open: &str, close: &str| {
        out.push_str(open);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            show(item, out);
        }
        out.push_str(close);
    };
    match v {
        Value::Array(items) => list(items, out, "[", "]"),
        Value::String(_) | Value::Null | Value::Bool(_) | Value::Number(_) => {
            out.push_str(&v.to_string());
        }
        Value::Object(_) => match tagged(v) {
            Some(("$float", Value::String(s))) => out.push_str(s),
            Some(("$undefined", _)) => out.push_str("undefined"),
            Some(("$set", Value::Array(items))) => list(items, out, "{", "}"),
            Some(("$map", Value::Array(pairs))) => {
                out.push('{');
                for (i, pair) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    match pair.as_array().map(Vec::as_slice) {
                        Some([k, v]) => {
                            show(k, out);
                            out.push_str(": ");
                            show(v, out);
                        }
                        _ => show(pair, out),
                    }
                }
                out.push('}');
            }
            Some(("$variant", Value::Array(items))) => match items.split_first() {
                Some((Value::String(name), [])) => out.push_str(name),
                Some((Value::String(name), args)) => {
                    out.push_str(name);
                    list(args, out, "(", ")");
                }
                _ => out.push_str(&v.to_string()),
            },
            Some(("$opaque", Value::String(what))) => {
                out.push('<');
                out.push_str(what);
                out.push('>');
            }
            _ => out.push_str(&v.to_string()),
        },
    }
}

/// Parses Rust's `{:?}` text of a value (what the Rust harness reports) into the canonical form:
/// numbers, `inf`/`NaN`, strings and chars with Rust's escapes, `[..]`, tuples, `Some`/`None`,
/// other variants and structs, `{k: v}` maps and `{a, b}` sets.
pub fn from_rust_debug(text: &str) -> Result<Value, String> {
    let mut p = DebugParser {
        s: text.as_bytes(),
        at: 0,
    };
    let v = p.value(0)?;
    p.blank();
    if p.at != p.s.len() {
        return Err(format!(
            "unexpected text at byte {}: {:?}",
            p.at,
            p.rest(20)
        ));
    }
    Ok(v)
}

struct DebugParser<'a> {
    s: &'a [u8],
    at: usize,
}

impl DebugParser<'_> {
    fn rest(&self, n: usize) -> String {
        String::from_utf8_lossy(&self.s[self.at..(self.at + n).min(self.s.len())]).into_owned()
    }

    fn blank(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.blank();
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Items up to `close`, separated by commas (a trailing comma allowed).
    fn items(&mut self, close: u8, depth: usize) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            if !self.eat(b',') {
                return if self.eat(close) {
                    Ok(items)
                } else {
                    Err(format!(
                        "expected `,` or `{}` at byte {}",
                        close as char, self.at
                    ))
                };
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > 200 {
            return Err("nested too deeply".to_owned());
        }
        match self.peek().ok_or("unexpected end")? {
            b'[' => {
                self.at += 1;
                Ok(Value::Array(self.items(b']', depth)?))
            }
            b'(' => {
                self.at += 1;
                let items = self.items(b')', depth)?;
                Ok(if items.is_empty() {
                    Value::Null
                } else {
                    Value::Array(items)
                })
            }
            b'{' => {
                self.at += 1;
                self.braces(depth)
            }
            b'"' => self.quoted(b'"').map(Value::String),
            b'\'' => self.quoted(b'\'').map(Value::String),
            c if c == b'-' || c.is_ascii_digit() => self.number(),
            c if c.is_ascii_alphabetic() || c == b'_' => self.named(depth),
            c => Err(format!("unexpected `{}` at byte {}", c as char, self.at)),
        }
    }

    /// `{k: v, ...}` (a map) or `{a, ...}` (a set), after the `{`.
    fn braces(&mut self, depth: usize) -> Result<Value, String> {
        if self.eat(b'}') {
            return Ok(serde_json::json!({"$map": []}));
        }
        let first = self.value(depth + 1)?;
        if self.eat(b':') {
            let mut pairs = vec![Value::Array(vec![first, self.value(depth + 1)?])];
            while self.eat(b',') {
                if self.peek() == Some(b'}') {
                    break;
                }
                let k = self.value(depth + 1)?;
                if !self.eat(b':') {
                    return Err(format!("expected `:` at byte {}", self.at));
                }
                pairs.push(Value::Array(vec![k, self.value(depth + 1)?]));
            }
            if !self.eat(b'}') {
                return Err(format!("expected `}}` at byte {}", self.at));
            }
            return Ok(serde_json::json!({ "$map": pairs }));
        }
        let mut items = vec![first];
        if self.eat(b',') {
            items.extend(self.items(b'}', depth)?);
        } else if !self.eat(b'}') {
            return Err(format!("expected `,` or `}}` at byte {}", self.at));
        }
        Ok(serde_json::json!({ "$set": items }))
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.at;
        if self.s[self.at] == b'-' {
            self.at += 1;
        }
        if self.s[self.at..].starts_with(b"inf") {
            self.at += 3;
            let tag = if start == self.at - 3 { "inf" } else { "-inf" };
            return Ok(serde_json::json!({ "$float": tag }));
        }
        while self.at < self.s.len()
            && (self.s[self.at].is_ascii_digit()
                || matches!(self.s[self.at], b'.' | b'e' | b'E')
                || (matches!(self.s[self.at], b'+' | b'-')
                    && matches!(self.s[self.at - 1], b'e' | b'E')))
        {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.at]).map_err(|e| e.to_string())?;
        number_value(text).ok_or_else(|| format!("not a number: {text:?}"))
    }

    /// An identifier: `true`, `false`, `None`, `NaN`, `Some(x)`, a variant `Name(..)`, a struct
    /// `Name { .. }` or a unit variant.
    fn named(&mut self, depth: usize) -> Result<Value, String> {
        let start = self.at;
        while self.at < self.s.len()
            && (self.s[self.at].is_ascii_alphanumeric() || matches!(self.s[self.at], b'_' | b':'))
        {
            self.at += 1;
        }
        let name = String::from_utf8_lossy(&self.s[start..self.at]).into_owned();
        match name.as_str() {
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            "None" => return Ok(Value::Null),
            "NaN" => return Ok(serde_json::json!({"$float": "nan"})),
            _ => {}
        }
        if self.eat(b'(') {
            let args = self.items(b')', depth)?;
            if name == "Some" && args.len() == 1 {
                return Ok(args.into_iter().next().unwrap_or(Value::Null));
            }
            let mut items = vec![Value::String(name)];
            items.extend(args);
            return Ok(serde_json::json!({ "$variant": items }));
        }
        if self.peek() == Some(b'{') {
            self.at += 1;
            let mut fields = Vec::new();
            loop {
                if self.eat(b'}') {
                    break;
                }
                let fstart = self.at;
                while self.at < self.s.len()
                    && (self.s[self.at].is_ascii_alphanumeric() || self.s[self.at] == b'_')
                {
                    self.at += 1;
                }
                let field = String::from_utf8_lossy(&self.s[fstart..self.at]).into_owned();
                if field.is_empty() || !self.eat(b':') {
                    return Err(format!("expected a field at byte {}", self.at));
                }
                fields.push(serde_json::json!([field, self.value(depth + 1)?]));
                if !self.eat(b',') {
                    if !self.eat(b'}') {
                        return Err(format!("expected `}}` at byte {}", self.at));
                    }
                    break;
                }
            }
            return Ok(serde_json::json!({ "$struct": [name, { "$map": fields }] }));
        }
        Ok(serde_json::json!({ "$variant": [name] }))
    }

    /// A quoted literal from its opening `quote`: a string (`"`, may be empty) or a character
    /// (`'`, whose first character may be the quote itself).
    fn quoted(&mut self, quote: u8) -> Result<String, String> {
        let what = if quote == b'"' { "string" } else { "char" };
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let c = *self
                .s
                .get(self.at)
                .ok_or_else(|| format!("unterminated {what}"))?;
            self.at += 1;
            match c {
                c if c == quote && (quote == b'"' || !out.is_empty()) => {
                    return String::from_utf8(out).map_err(|e| e.to_string());
                }
                b'\\' => self.escape(&mut out)?,
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let c = *self.s.get(self.at).ok_or("unterminated escape")?;
        self.at += 1;
        let ch = match c {
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'0' => '\0',
            b'\\' => '\\',
            b'"' => '"',
            b'\'' => '\'',
            b'u' => {
                if self.s.get(self.at) != Some(&b'{') {
                    return Err("bad \\u escape".to_owned());
                }
                let end = self.s[self.at..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or("bad \\u escape")?;
                let hex = std::str::from_utf8(&self.s[self.at + 1..self.at + end])
                    .map_err(|e| e.to_string())?;
                self.at += end + 1;
                u32::from_str_radix(hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or("bad \\u escape")?
            }
            other => return Err(format!("unknown escape \\{}", other as char)),
        };
        let mut buf = [0; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }
}

/// A number's text (`12`, `-3`, `1.5`, `1e-7`, `2E10`) as a canonical JSON number: integers with
/// every digit, without a leading `+`, leading zeros or a signed zero.
#[must_use]
pub fn number_value(text: &str) -> Option<Value> {
    let t = text.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let trimmed = digits.trim_start_matches('0');
        let body = if trimmed.is_empty() { "0" } else { trimmed };
        let sign = if t.starts_with('-') && body != "0" {
            "-"
        } else {
            ""
        };
        return serde_json::from_str(&format!("{sign}{body}")).ok();
    }
    let f: f64 = t.parse().ok()?;
    Some(float_value(f))
}

/// A float in the canonical form (non-finite ones tagged).
#[must_use]
pub fn float_value(f: f64) -> Value {
    if f.is_nan() {
        serde_json::json!({"$float": "nan"})
    } else if f.is_infinite() {
        serde_json::json!({"$float": if f > 0.0 { "inf" } else { "-inf" }})
    } else {
        // `{:?}` keeps a `.0` on whole floats, so they stay floats.
        serde_json::from_str(&format!("{f:?}")).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value_and_integers_by_every_digit() {
        let eq = |a: &str, b: &str| {
            same(
                &serde_json::from_str(a).unwrap(),
                &serde_json::from_str(b).unwrap(),
                ValueCompare::Equal,
            )
        };
        assert!(eq("3", "3.0"));
        assert!(!eq("3", "3.0000001"));
        assert!(eq(
            "123456789012345678901234567890",
            "123456789012345678901234567890"
        ));
        assert!(!eq(
            "123456789012345678901234567890",
            "123456789012345678901234567891"
        ));
        assert!(!eq(r#"{"$float":"nan"}"#, r#"{"$float":"nan"}"#));
        assert!(eq(r#"{"$float":"inf"}"#, r#"{"$float":"inf"}"#));
        assert!(!eq("[1, 2]", "[2, 1]"));
        assert!(eq(r#"{"$set":[1,2]}"#, r#"{"$set":[2,1]}"#));
        assert!(!eq(r#"{"$set":[1,1]}"#, r#"{"$set":[1,2]}"#));
        assert!(eq(
            r#"{"$map":[["a",1],["b",2]]}"#,
            r#"{"$map":[["b",2],["a",1]]}"#
        ));
        assert!(eq(r#"{"$map":[]}"#, r#"{"$set":[]}"#));
        assert!(!eq(r#"{"$opaque":"x"}"#, r#"{"$opaque":"x"}"#));
        assert!(!eq("null", r#"{"$undefined":true}"#));
        assert!(eq(r#"[["a",2],["b",2]]"#, r#"{"$map":[["b",2],["a",2]]}"#));
        assert!(eq("[2, 1]", r#"{"$set":[1,2]}"#));
        assert!(!eq("[2, 2]", r#"{"$set":[1,2]}"#));
        assert!(!eq(r#""6.00""#, "6"));
        assert!(equal(&json!(6), &json!("6.00"), ValueCompare::Loose));
        assert!(equal(
            &json!(null),
            &json!({"$undefined": true}),
            ValueCompare::Loose
        ));
        assert!(equal(&json!(1), &json!(true), ValueCompare::Loose));
        assert!(!equal(&json!(2), &json!(true), ValueCompare::Loose));
        assert!(equal(
            &json!([3.9, 4.0]),
            &json!([3.900_000_095_367_431_6, 4.0]),
            ValueCompare::Within { tolerance: 1e-4 }
        ));
        assert!(equal(
            &json!(0.33),
            &json!(0.330_000_01),
            ValueCompare::Within { tolerance: 1e-4 }
        ));
        assert!(!equal(
            &json!(0.33),
            &json!(0.34),
            ValueCompare::Within { tolerance: 1e-4 }
        ));
    }

    #[test]
    fn rust_debug_text_parses_to_the_canonical_form() {
        let parse = |t: &str| from_rust_debug(t).unwrap();
        assert_eq!(parse("[1, -2, 3]"), json!([1, -2, 3]));
        assert_eq!(parse("1.5"), json!(1.5));
        assert_eq!(parse("-inf"), json!({"$float": "-inf"}));
        assert_eq!(
            parse(r#"Some("a\"b\n\u{1f600}")"#),
            json!("a\"b\n\u{1f600}")
        );
        assert_eq!(parse("None"), Value::Null);
        assert_eq!(parse("('x', 2)"), json!(["x", 2]));
        assert_eq!(parse("Ok(3)"), json!({"$variant": ["Ok", 3]}));
        assert_eq!(parse("{\"a\": 1}"), json!({"$map": [["a", 1]]}));
        assert_eq!(parse("{1, 2}"), json!({"$set": [1, 2]}));
        assert_eq!(
            parse("P { x: 1, y: [] }"),
            json!({"$struct": ["P", {"$map": [["x", 1], ["y", []]]}]})
        );
        assert!(from_rust_debug("[1, 2").is_err());
        assert!(from_rust_debug("1 2").is_err());
    }
}
