//! Go (HumanEval-X): testify's `assert.Equal(expected, actual)` (also `assert.Equal(t, ...)`),
//! `assert.InDelta(expected, actual, delta)`, `assert.True(x)` and `assert.False(x)`; any other
//! `assert.X(...)` statement is a check of testify's own boolean result.

use std::fmt::Write as _;

use codeloop_types::ValueCompare;
use serde_json::Value;
use tree_sitter::{Node, Tree};

use super::literal::{binary, number, quoted};
use super::{
    Dialect, Shape, arguments, arithmetic, children, descendants, equality, node_text, signed,
    truth, unparen,
};

pub(crate) struct Go;

impl Dialect for Go {
    fn language(&self) -> tree_sitter::Language {
        tree_sitter_go::LANGUAGE.into()
    }

    fn asserts<'t>(&self, tree: &'t Tree, src: &str) -> (Vec<(Node<'t>, Shape)>, usize) {
        let mut found = Vec::new();
        let mut remaining = 0;
        for n in descendants(tree.root_node()) {
            let Some(name) = testify(n, src) else {
                if n.kind() == "call_expression"
                    && n.child_by_field_name("function").is_some_and(|f| {
                        matches!(
                            node_text(f, src),
                            "t.Error"
                                | "t.Errorf"
                                | "t.Fatal"
                                | "t.Fatalf"
                                | "t.Fail"
                                | "t.FailNow"
                        )
                    })
                {
                    remaining += 1;
                }
                continue;
            };
            if name == "New" {
                continue;
            }
            let stmt = n
                .parent()
                .filter(|p| p.kind() == "expression_statement" && once(*p));
            let Some(stmt) = stmt else {
                remaining += 1;
                continue;
            };
            let mut args = arguments(n);
            // The package form takes `t` first.
            if args.len() >= 2
                && args
                    .first()
                    .is_some_and(|a| a.kind() == "identifier" && node_text(*a, src) == "t")
            {
                args.remove(0);
            }
            let shape = match (name, args.as_slice()) {
                ("Equal" | "Exactly" | "EqualValues", [expected, actual, ..]) => {
                    equality(*expected, *actual, src, &eval, ValueCompare::Equal)
                }
                ("InDelta", [expected, actual, delta, ..]) => match eval(*delta, src) {
                    Some(Value::Number(d)) => d.to_string().parse().ok().and_then(|tolerance| {
                        // testify's InDelta passes at |a - b| <= delta.
                        equality(
                            *expected,
                            *actual,
                            src,
                            &eval,
                            ValueCompare::Within {
                                tolerance: f64::next_up(tolerance),
                            },
                        )
                    }),
                    _ => None,
                },
                ("True", [x, ..]) => truth(*x, src, true, &["call_expression"]),
                ("False", [x, ..]) => truth(*x, src, false, &["call_expression"]),
                _ => None,
            };
            // Anything else: testify's own boolean result is the check.
            let shape = shape.unwrap_or_else(|| Shape::Check(node_text(n, src).to_owned()));
            found.push((stmt, shape));
        }
        (found, remaining)
    }

    fn value_hook(&self, id: usize, call: &str) -> String {
        format!("codeloopValue({id}, func() interface{{}} {{ return {call} }})")
    }

    fn check_hook(&self, id: usize, condition: &str) -> String {
        format!("codeloopCheck({id}, func() bool {{ return {condition} }})")
    }

    /// `assert := assert.New(t)` may be unused once its calls are hooks.
    fn finish(&self, code: String) -> String {
        let mut out = String::with_capacity(code.len());
        for line in code.split_inclusive('\n') {
            out.push_str(line);
            let t = line.trim();
            if let Some(var) = t.strip_suffix(":= assert.New(t)") {
                let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
                if !line.ends_with('\n') {
                    out.push('\n');
                }
                let _ = writeln!(out, "{indent}_ = {}", var.trim());
            }
        }
        out
    }
}

/// The testify assertion `n` calls (`Equal` of `assert.Equal(...)`).
fn testify<'s>(n: Node<'_>, src: &'s str) -> Option<&'s str> {
    if n.kind() != "call_expression" {
        return None;
    }
    let f = n.child_by_field_name("function")?;
    if f.kind() != "selector_expression" {
        return None;
    }
    let operand = f.child_by_field_name("operand")?;
    if !matches!(node_text(operand, src), "assert" | "require") {
        return None;
    }
    Some(node_text(f.child_by_field_name("field")?, src))
}

/// Whether a statement runs once: directly in a function's body.
fn once(stmt: Node<'_>) -> bool {
    let block = stmt.parent().and_then(|p| {
        if p.kind() == "statement_list" {
            p.parent()
        } else {
            Some(p)
        }
    });
    block.is_some_and(|b| {
        b.kind() == "block"
            && b.parent()
                .is_some_and(|f| matches!(f.kind(), "function_declaration" | "method_declaration"))
    })
}

/// A Go constant's value: numbers, strings (raw too), runes (their code point, as Go's `rune` is
/// an integer), booleans, `nil`, composite literals (slices, arrays, maps) and arithmetic.
fn eval(n: Node<'_>, src: &str) -> Option<Value> {
    let n = unparen(n);
    match n.kind() {
        "int_literal" | "float_literal" => number(node_text(n, src), false),
        "interpreted_string_literal" | "raw_string_literal" => quoted(node_text(n, src)),
        "rune_literal" => match quoted(node_text(n, src))? {
            Value::String(s) if s.chars().count() == 1 => {
                Some(Value::from(u32::from(s.chars().next()?)))
            }
            _ => None,
        },
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "nil" => Some(Value::Null),
        "composite_literal" => {
            let ty = n.child_by_field_name("type")?;
            let body = n.child_by_field_name("body")?;
            elements(body, src, ty.kind() == "map_type")
        }
        "unary_expression" => signed(n, src, "operand", eval),
        "binary_expression" => {
            let (op, a, b) = arithmetic(n, src, eval)?;
            binary(op, a, b)
        }
        // float64(3), int(2): a conversion of a constant.
        "call_expression" => {
            let f = node_text(n.child_by_field_name("function")?, src);
            let args = arguments(n);
            match (f, args.as_slice()) {
                ("float64" | "float32", [x]) => {
                    let v = eval(*x, src)?;
                    Some(codeloop_sandbox::float_value(v.as_f64()?))
                }
                ("int" | "int64" | "int32" | "uint" | "rune" | "byte" | "string", [x]) => {
                    eval(*x, src)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The elements of a `{...}` literal value: a list, or (a map's) key-value pairs.
fn elements(body: Node<'_>, src: &str, map: bool) -> Option<Value> {
    let mut items = Vec::new();
    for e in children(body) {
        match e.kind() {
            "literal_element" => items.push(element(e, src)?),
            "keyed_element" if map => {
                let kv = children(e);
                let [k, v] = kv.as_slice() else {
                    return None;
                };
                items.push(Value::Array(vec![element(*k, src)?, element(*v, src)?]));
            }
            _ => return None,
        }
    }
    Some(if map {
        serde_json::json!({ "$map": items })
    } else {
        Value::Array(items)
    })
}

/// One element: an expression, or an elided composite literal's `{...}`.
fn element(e: Node<'_>, src: &str) -> Option<Value> {
    let inner = if e.kind() == "literal_element" {
        *children(e).first()?
    } else {
        e
    };
    if inner.kind() == "literal_value" {
        // The element type is elided; a key-value body is a map's.
        let is_map = children(inner).iter().any(|c| c.kind() == "keyed_element");
        return elements(inner, src, is_map);
    }
    eval(inner, src)
}
