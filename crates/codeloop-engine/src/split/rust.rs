//! Rust (HumanEval-X, MultiPL-E): `assert_eq!(a, b)`, `assert!(a == b)`,
//! `assert!((a - b).abs() < eps)`, `assert!(f(x))` and `assert!(!f(x))`; other `assert!`s and
//! `assert_ne!` are checks. Macro arguments are token trees to tree-sitter, so they are parsed
//! again as the arguments of a call.

use codeloop_types::ValueCompare;
use serde_json::Value;
use tree_sitter::{Node, Parser, Tree};

use super::literal::{binary, negate, number, quoted};
use super::{
    Dialect, Shape, arithmetic, check, children, descendants, equality, near, node_text, operator,
    truth, unparen,
};

pub(crate) struct Rust;

const ASSERTS: &[&str] = &[
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
];

impl Dialect for Rust {
    fn language(&self) -> tree_sitter::Language {
        tree_sitter_rust::LANGUAGE.into()
    }

    fn asserts<'t>(&self, tree: &'t Tree, src: &str) -> (Vec<(Node<'t>, Shape)>, usize) {
        LETS.with(|l| *l.borrow_mut() = constants(tree, src));
        let mut found = Vec::new();
        let mut remaining = 0;
        for n in descendants(tree.root_node()) {
            if n.kind() != "macro_invocation" {
                continue;
            }
            let Some(name) = n.child_by_field_name("macro").map(|m| node_text(m, src)) else {
                continue;
            };
            if !ASSERTS.contains(&name) {
                continue;
            }
            let stmt = n
                .parent()
                .filter(|p| p.kind() == "expression_statement" && once(*p));
            let args = token_args(n, src);
            let (Some(stmt), Some((tree, text))) = (stmt, args) else {
                remaining += 1;
                continue;
            };
            let Some(list) = call_arguments(&tree) else {
                remaining += 1;
                continue;
            };
            let shape = match (name.trim_start_matches("debug_"), list.as_slice()) {
                ("assert_eq", [a, b, ..]) => equality(*a, *b, &text, &eval, ValueCompare::Equal)
                    .unwrap_or_else(|| {
                        Shape::Check(format!(
                            "{} == {}",
                            node_text(*a, &text),
                            node_text(*b, &text)
                        ))
                    }),
                ("assert_ne", [a, b, ..]) => Shape::Check(format!(
                    "{} != {}",
                    node_text(*a, &text),
                    node_text(*b, &text)
                )),
                ("assert", [c, ..]) => shape(*c, &text),
                _ => {
                    remaining += 1;
                    continue;
                }
            };
            found.push((stmt, shape));
        }
        (found, remaining)
    }

    fn value_hook(&self, id: usize, call: &str) -> String {
        format!("crate::codeloop::value({id}, || {call});")
    }

    fn check_hook(&self, id: usize, condition: &str) -> String {
        format!("crate::codeloop::check({id}, || {condition});")
    }
}

std::thread_local! {
    /// The test code's immutable `let` bindings to constants, for the split under way.
    static LETS: std::cell::RefCell<std::collections::HashMap<String, Option<Value>>> =
        std::cell::RefCell::default();
}

/// The immutable `let NAME[: T] = CONSTANT;` bindings of the test code (a name bound twice to
/// different values is no constant). Rust keeps them unchanged, so a name stands for its value.
fn constants(tree: &Tree, src: &str) -> std::collections::HashMap<String, Option<Value>> {
    let mut out: std::collections::HashMap<String, Option<Value>> =
        std::collections::HashMap::new();
    for n in descendants(tree.root_node()) {
        if n.kind() != "let_declaration"
            || children(n).iter().any(|c| c.kind() == "mutable_specifier")
        {
            continue;
        }
        let (Some(pattern), Some(value)) = (
            n.child_by_field_name("pattern"),
            n.child_by_field_name("value"),
        ) else {
            continue;
        };
        if pattern.kind() != "identifier" {
            continue;
        }
        let v = eval(value, src);
        out.entry(node_text(pattern, src).to_owned())
            .and_modify(|old| {
                if *old != v {
                    *old = None;
                }
            })
            .or_insert(v);
    }
    out
}

/// Whether a statement runs once: directly in a function's body.
fn once(stmt: Node<'_>) -> bool {
    stmt.parent().is_some_and(|b| {
        b.kind() == "block" && b.parent().is_some_and(|f| f.kind() == "function_item")
    })
}

/// A macro's token tree, parsed again as the argument list of a call; the tree and its source.
fn token_args(mac: Node<'_>, src: &str) -> Option<(Tree, String)> {
    let tt = children(mac)
        .into_iter()
        .find(|c| c.kind() == "token_tree")?;
    let inner = node_text(tt, src);
    let inner = &inner[1..inner.len().checked_sub(1)?];
    reparse(&format!("fn __codeloop() {{ __codeloop_args({inner}); }}"))
}

fn reparse(text: &str) -> Option<(Tree, String)> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_rust::LANGUAGE.into())
        .ok()?;
    let tree = parser.parse(text, None)?;
    (!tree.root_node().has_error()).then(|| (tree, text.to_owned()))
}

/// The arguments of the one call in a reparsed `fn __codeloop() { __codeloop_args(...); }`.
fn call_arguments(tree: &Tree) -> Option<Vec<Node<'_>>> {
    let call = descendants(tree.root_node())
        .into_iter()
        .find(|n| n.kind() == "call_expression")?;
    Some(children(call.child_by_field_name("arguments")?))
}

/// Whether a call is a comparison the test computes (`a.eq(&b)`, `a.abs()`).
fn comparator(call: Node<'_>, src: &str) -> bool {
    call.child_by_field_name("function")
        .filter(|f| f.kind() == "field_expression")
        .and_then(|f| f.child_by_field_name("field"))
        .is_some_and(|m| {
            matches!(
                node_text(m, src),
                "eq" | "ne" | "abs" | "all" | "any" | "contains" | "starts_with" | "ends_with"
            )
        })
}

fn shape(cond: Node<'_>, src: &str) -> Shape {
    let c = unparen(cond);
    let value = match c.kind() {
        "binary_expression" => {
            let (Some(l), Some(r)) = (
                c.child_by_field_name("left"),
                c.child_by_field_name("right"),
            ) else {
                return check(c, src);
            };
            match operator(c, src) {
                "==" => equality(l, r, src, &eval, ValueCompare::Equal),
                "<" | "<=" => within(l, r, src),
                _ => None,
            }
        }
        "call_expression" if !comparator(c, src) => truth(c, src, true, &["call_expression"]),
        "unary_expression" if node_text(c, src).starts_with('!') => children(c)
            .first()
            .map(|a| unparen(*a))
            .filter(|a| a.kind() == "call_expression" && !comparator(*a, src))
            .and_then(|a| truth(a, src, false, &["call_expression"])),
        _ => None,
    };
    value.unwrap_or_else(|| check(c, src))
}

/// `(a - b).abs() < eps` or `f64::abs(a - b) < eps`.
fn within(l: Node<'_>, r: Node<'_>, src: &str) -> Option<Shape> {
    let l = unparen(l);
    if l.kind() != "call_expression" {
        return None;
    }
    let f = l.child_by_field_name("function")?;
    let diff = match f.kind() {
        "field_expression" if node_text(f.child_by_field_name("field")?, src) == "abs" => {
            f.child_by_field_name("value")?
        }
        "scoped_identifier"
            if matches!(
                node_text(f, src).replace(' ', "").as_str(),
                "f64::abs" | "f32::abs"
            ) =>
        {
            let args = children(l.child_by_field_name("arguments")?);
            let [x] = args.as_slice() else {
                return None;
            };
            *x
        }
        _ => return None,
    };
    let Value::Number(eps) = eval(r, src)? else {
        return None;
    };
    near(diff, src, &eval, eps.to_string().parse().ok()?)
}

fn list(items: Vec<Node<'_>>, src: &str) -> Option<Vec<Value>> {
    items.into_iter().map(|c| eval(c, src)).collect()
}

/// A Rust constant's value: literals, `vec![..]`, arrays, tuples, references, `Some`/`None`,
/// `Ok`/`Err`, `String::from`, `.to_string()`/`.to_owned()`/`.into()`/`.to_vec()`, `Vec::new()`,
/// `String::new()`, `f64::INFINITY`/`NAN`, casts and arithmetic.
fn eval(n: Node<'_>, src: &str) -> Option<Value> {
    let n = unparen(n);
    match n.kind() {
        "integer_literal" | "float_literal" => number(node_text(n, src), false),
        "string_literal" | "char_literal" => quoted(node_text(n, src)),
        "raw_string_literal" => {
            let t = node_text(n, src);
            let body = t.strip_prefix('r')?.trim_matches('#');
            Some(Value::String(
                body.strip_prefix('"')?.strip_suffix('"')?.to_owned(),
            ))
        }
        "boolean_literal" => Some(Value::Bool(node_text(n, src) == "true")),
        "identifier" if node_text(n, src) == "None" => Some(Value::Null),
        "identifier" => LETS.with(|l| l.borrow().get(node_text(n, src)).cloned().flatten()),
        "scoped_identifier" => match node_text(n, src).replace(' ', "").as_str() {
            "f64::INFINITY" | "f32::INFINITY" => Some(serde_json::json!({"$float": "inf"})),
            "f64::NEG_INFINITY" | "f32::NEG_INFINITY" => {
                Some(serde_json::json!({"$float": "-inf"}))
            }
            "f64::NAN" | "f32::NAN" => Some(serde_json::json!({"$float": "nan"})),
            _ => None,
        },
        "array_expression" | "tuple_expression" => {
            let items = children(n);
            // `[x; n]`
            if n.kind() == "array_expression" && node_text(n, src).contains(';') {
                return None;
            }
            let items = list(items, src)?;
            Some(if n.kind() == "tuple_expression" && items.is_empty() {
                Value::Null
            } else {
                Value::Array(items)
            })
        }
        "reference_expression" => eval(n.child_by_field_name("value")?, src),
        "type_cast_expression" => {
            let v = eval(n.child_by_field_name("value")?, src)?;
            let ty = node_text(n.child_by_field_name("type")?, src);
            if ty.starts_with('f') {
                Some(codeloop_sandbox::float_value(v.as_f64()?))
            } else {
                Some(v)
            }
        }
        "unary_expression" => {
            let inner = *children(n).first()?;
            if node_text(n, src).starts_with('-') {
                negate(&eval(inner, src)?)
            } else {
                None
            }
        }
        "binary_expression" => {
            let (op, a, b) = arithmetic(n, src, eval)?;
            if matches!(a, Some(Value::String(_))) {
                return None;
            }
            binary(op, a, b)
        }
        "macro_invocation" => {
            let name = node_text(n.child_by_field_name("macro")?, src);
            if name != "vec" {
                return None;
            }
            let tt = children(n).into_iter().find(|c| c.kind() == "token_tree")?;
            let inner = node_text(tt, src);
            let (tree, text) = reparse(&format!(
                "fn __codeloop() {{ __codeloop_args({}); }}",
                &inner[1..inner.len().checked_sub(1)?]
            ))?;
            if inner.contains(';') {
                return None;
            }
            let args = call_arguments(&tree)?;
            list(args, &text).map(Value::Array)
        }
        "call_expression" => {
            let f = n.child_by_field_name("function")?;
            let args = children(n.child_by_field_name("arguments")?);
            let fname = node_text(f, src).replace(' ', "");
            match (fname.as_str(), args.as_slice()) {
                ("Some" | "String::from" | "Box::new" | "From::from", [x]) => eval(*x, src),
                ("HashMap::from" | "BTreeMap::from", [x]) => match eval(*x, src)? {
                    Value::Array(pairs)
                        if pairs
                            .iter()
                            .all(|p| p.as_array().is_some_and(|kv| kv.len() == 2)) =>
                    {
                        Some(serde_json::json!({ "$map": pairs }))
                    }
                    _ => None,
                },
                ("HashSet::from" | "BTreeSet::from", [x]) => match eval(*x, src)? {
                    Value::Array(items) => Some(serde_json::json!({ "$set": items })),
                    _ => None,
                },
                ("Ok" | "Err", [x]) => {
                    Some(serde_json::json!({ "$variant": [fname, eval(*x, src)?] }))
                }
                (f, []) if f.ends_with("::new") || f.ends_with("::default") => {
                    let ty = f.split("::").next().unwrap_or("");
                    match ty {
                        "Vec" | "VecDeque" => Some(Value::Array(Vec::new())),
                        "String" => Some(Value::String(String::new())),
                        "HashMap" | "BTreeMap" => Some(serde_json::json!({"$map": []})),
                        "HashSet" | "BTreeSet" => Some(serde_json::json!({"$set": []})),
                        _ => None,
                    }
                }
                _ if f.kind() == "field_expression" && args.is_empty() => {
                    let method = node_text(f.child_by_field_name("field")?, src);
                    match method {
                        "to_string" | "to_owned" | "into" | "to_vec" | "clone" => {
                            eval(f.child_by_field_name("value")?, src)
                        }
                        _ => None,
                    }
                }
                _ => None,
            }
        }
        _ => None,
    }
}
