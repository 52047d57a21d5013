//! JavaScript (HumanEval-X, MultiPL-E): `console.assert(cond)` statements, with `cond` one of
//! `a === b`, `a == b`, `JSON.stringify(a) === JSON.stringify(b)`, `Math.abs(a - b) < eps`,
//! `f(x)`, `!f(x)`.

use codeloop_types::ValueCompare;
use serde_json::Value;
use tree_sitter::{Node, Tree};

use super::literal::{binary, number, quoted};
use super::{
    Dialect, Shape, abs_within, arguments, arithmetic, check, children, descendants, equality,
    node_text, operator, signed, truth, unparen,
};

pub(crate) struct JavaScript;

impl Dialect for JavaScript {
    fn language(&self) -> tree_sitter::Language {
        tree_sitter_javascript::LANGUAGE.into()
    }

    fn asserts<'t>(&self, tree: &'t Tree, src: &str) -> (Vec<(Node<'t>, Shape)>, usize) {
        let mut found = Vec::new();
        let mut remaining = 0;
        for n in descendants(tree.root_node()) {
            if n.kind() != "call_expression" {
                continue;
            }
            let f = callee(n, src);
            // `console.assert(cond)`, and Node's `assert` module as MultiPL-E uses it.
            let kind = match f.as_str() {
                "console.assert" | "assert" | "assert.ok" => Some(ValueCompare::Equal),
                "assert.deepEqual" | "assert.deepStrictEqual" | "assert.strictEqual" => {
                    Some(ValueCompare::Equal)
                }
                "assert.equal" => Some(ValueCompare::Loose),
                _ if f.starts_with("assert.") => None,
                _ => continue,
            };
            let stmt = n
                .parent()
                .filter(|p| p.kind() == "expression_statement" && once(*p));
            let args = arguments(n);
            let shape = match (kind, f.as_str(), args.as_slice()) {
                (Some(_), "console.assert" | "assert" | "assert.ok", [cond, ..]) => {
                    Some(shape(*cond, src))
                }
                (Some(compare), method, [actual, expected, ..]) => {
                    let (a, e) = (node_text(*actual, src), node_text(*expected, src));
                    Some(
                        equality(*actual, *expected, src, &eval, compare).unwrap_or_else(|| {
                            Shape::Check(match method {
                                "assert.equal" => format!("({a}) == ({e})"),
                                "assert.strictEqual" => format!("Object.is({a}, {e})"),
                                _ => format!("require('node:util').isDeepStrictEqual({a}, {e})"),
                            })
                        }),
                    )
                }
                _ => None,
            };
            match (stmt, shape) {
                (Some(stmt), Some(shape)) => found.push((stmt, shape)),
                _ => remaining += 1,
            }
        }
        (found, remaining)
    }

    fn value_hook(&self, id: usize, call: &str) -> String {
        format!("__codeloop.value({id}, () => ({call}));")
    }

    fn check_hook(&self, id: usize, condition: &str) -> String {
        format!("__codeloop.check({id}, () => ({condition}));")
    }
}

/// Whether a statement runs once: at the top level, or directly in a function's body.
fn once(stmt: Node<'_>) -> bool {
    stmt.parent().is_some_and(|b| {
        b.kind() == "program"
            || (b.kind() == "statement_block"
                && b.parent().is_some_and(|f| {
                    matches!(
                        f.kind(),
                        "arrow_function" | "function_declaration" | "function_expression"
                    )
                }))
    })
}

fn callee(call: Node<'_>, src: &str) -> String {
    call.child_by_field_name("function")
        .map(|f| node_text(f, src).replace(' ', ""))
        .unwrap_or_default()
}

/// `JSON.stringify(x)`'s `x`.
fn stringified<'t>(n: Node<'t>, src: &str) -> Option<Node<'t>> {
    let n = unparen(n);
    if n.kind() == "call_expression"
        && callee(n, src) == "JSON.stringify"
        && let [x] = arguments(n).as_slice()
    {
        return Some(*x);
    }
    None
}

fn comparator(call: Node<'_>, src: &str) -> bool {
    let f = callee(call, src);
    let method = f.rsplit('.').next().unwrap_or("");
    f.starts_with("JSON.") || f.starts_with("Math.") || matches!(method, "every" | "some")
}

fn shape(cond: Node<'_>, src: &str) -> Shape {
    let c = unparen(cond);
    let value = match c.kind() {
        "binary_expression" => {
            let (Some(left), Some(right)) = (
                c.child_by_field_name("left"),
                c.child_by_field_name("right"),
            ) else {
                return check(c, src);
            };
            match operator(c, src) {
                "===" | "==" => match (stringified(left, src), stringified(right, src)) {
                    (Some(got), Some(want)) => equality(got, want, src, &eval, ValueCompare::Equal),
                    _ if operator(c, src) == "==" => {
                        equality(left, right, src, &eval, ValueCompare::Loose)
                    }
                    _ => equality(left, right, src, &eval, ValueCompare::Equal),
                },
                "<" | "<=" => within(left, right, src),
                _ => None,
            }
        }
        "call_expression" if !comparator(c, src) => truth(c, src, true, &["call_expression"]),
        "unary_expression" if operator(c, src) == "!" => c
            .child_by_field_name("argument")
            .map(unparen)
            .filter(|a| a.kind() == "call_expression" && !comparator(*a, src))
            .and_then(|a| truth(a, src, false, &["call_expression"])),
        _ => None,
    };
    value.unwrap_or_else(|| check(c, src))
}

/// `Math.abs(a - b) < eps`.
fn within(l: Node<'_>, r: Node<'_>, src: &str) -> Option<Shape> {
    abs_within(l, r, src, &eval, &|f| {
        f.kind() == "call_expression" && callee(f, src) == "Math.abs"
    })
}

/// A JavaScript constant's value: numbers, strings, templates without substitutions, booleans,
/// `null`, `undefined`, arrays, object literals, arithmetic.
fn eval(n: Node<'_>, src: &str) -> Option<Value> {
    let n = unparen(n);
    match n.kind() {
        // Numbers are doubles: `-9999999999999999` is -1e16, written as Node writes it.
        "number" => {
            let v = number(node_text(n, src), false)?;
            let f = v.as_f64()?;
            if f.fract() == 0.0 && f.abs() < 1e21 {
                codeloop_sandbox::number_value(&format!("{f:.0}"))
            } else {
                Some(codeloop_sandbox::float_value(f))
            }
        }
        "string" | "template_string" => quoted(node_text(n, src)),
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "null" => Some(Value::Null),
        "undefined" => Some(serde_json::json!({"$undefined": true})),
        "identifier" => match node_text(n, src) {
            "undefined" => Some(serde_json::json!({"$undefined": true})),
            "NaN" => Some(serde_json::json!({"$float": "nan"})),
            "Infinity" => Some(serde_json::json!({"$float": "inf"})),
            _ => None,
        },
        "array" => children(n)
            .into_iter()
            .map(|c| eval(c, src))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        "object" => {
            let mut pairs = Vec::new();
            for p in children(n) {
                if p.kind() != "pair" {
                    return None;
                }
                let key = p.child_by_field_name("key")?;
                let key = match key.kind() {
                    // Number keys are strings in JavaScript.
                    "property_identifier" | "number" => {
                        Value::String(node_text(key, src).to_owned())
                    }
                    "string" => quoted(node_text(key, src))?,
                    _ => return None,
                };
                pairs.push(Value::Array(vec![
                    key,
                    eval(p.child_by_field_name("value")?, src)?,
                ]));
            }
            Some(serde_json::json!({ "$map": pairs }))
        }
        "unary_expression" => signed(n, src, "argument", eval),
        "binary_expression" => {
            let (op, left, right) = arithmetic(n, src, eval)?;
            // JavaScript numbers are floats: 1 / 2 is 0.5.
            if op == "/" {
                let quotient = left?.as_f64()? / right?.as_f64()?;
                return Some(codeloop_sandbox::float_value(quotient));
            }
            binary(op, left, right)
        }
        _ => None,
    }
}
