//! C++ (HumanEval-X, MultiPL-E): `assert (cond);` statements, with `cond` one of `a == b`,
//! `issame(a, b)`, `abs(a - b) < eps`, `f(x)`, `!f(x)`/`not f(x)`, and `cond && "message"`.

use codeloop_types::ValueCompare;
use serde_json::Value;
use tree_sitter::{Node, Tree};

use super::literal::{binary, number, quoted};
use super::{
    Dialect, Shape, abs_within, arguments, arithmetic, check, children, descendants, equality,
    node_text, operator, runs_once, signed, truth, unparen,
};

pub(crate) struct Cpp;

/// Functions of test code that compare their two arguments.
const COMPARATORS: &[&str] = &["issame", "is_same", "isequal", "is_equal", "compare"];

impl Dialect for Cpp {
    fn language(&self) -> tree_sitter::Language {
        tree_sitter_cpp::LANGUAGE.into()
    }

    fn asserts<'t>(&self, tree: &'t Tree, src: &str) -> (Vec<(Node<'t>, Shape)>, usize) {
        let mut found = Vec::new();
        let mut remaining = 0;
        let helper = helper_compare(tree, src);
        for n in descendants(tree.root_node()) {
            if n.kind() != "call_expression" || callee(n, src) != Some("assert") {
                continue;
            }
            let stmt = n.parent().filter(|p| p.kind() == "expression_statement");
            let once = stmt.filter(|s| {
                runs_once(*s, &["compound_statement"], &["function_definition"])
                    && s.named_child_count() == 1
            });
            let (Some(stmt), Some(cond)) = (once, arguments(n).first().copied()) else {
                remaining += 1;
                continue;
            };
            found.push((stmt, shape(without_message(cond, src), src, helper)));
        }
        (found, remaining)
    }

    fn value_hook(&self, id: usize, call: &str) -> String {
        format!("codeloop::value({id}, [&]() {{ return ({call}); }});")
    }

    fn check_hook(&self, id: usize, condition: &str) -> String {
        format!("codeloop::check({id}, [&]() {{ return static_cast<bool>({condition}); }});")
    }
}

/// The name a call calls (`f` of `f(x)`, `abs` of `std::abs(x)`).
fn callee<'s>(call: Node<'_>, src: &'s str) -> Option<&'s str> {
    let f = call.child_by_field_name("function")?;
    let name = node_text(f, src);
    Some(name.rsplit("::").next().unwrap_or(name))
}

/// `cond && "message"` is `cond`.
fn without_message<'t>(cond: Node<'t>, src: &str) -> Node<'t> {
    let cond = unparen(cond);
    if cond.kind() == "binary_expression"
        && operator(cond, src) == "&&"
        && cond
            .child_by_field_name("right")
            .is_some_and(|r| unparen(r).kind() == "string_literal")
        && let Some(left) = cond.child_by_field_name("left")
    {
        return unparen(left);
    }
    cond
}

/// How the test's comparison helper (`issame`) compares numbers: within the tolerance of its
/// `abs(a[i] - b[i]) > eps` when it has one (HumanEval-X's float vectors), else exactly.
fn helper_compare(tree: &Tree, src: &str) -> ValueCompare {
    for f in descendants(tree.root_node()) {
        if f.kind() != "function_definition" {
            continue;
        }
        let named = f
            .child_by_field_name("declarator")
            .and_then(|d| d.child_by_field_name("declarator"))
            .is_some_and(|name| COMPARATORS.contains(&node_text(name, src)));
        if !named {
            continue;
        }
        for n in descendants(f) {
            if n.kind() != "binary_expression"
                || !matches!(operator(n, src), ">" | ">=" | "<" | "<=")
            {
                continue;
            }
            let (Some(l), Some(r)) = (
                n.child_by_field_name("left"),
                n.child_by_field_name("right"),
            ) else {
                continue;
            };
            let is_abs = |x: Node<'_>| {
                let x = unparen(x);
                x.kind() == "call_expression" && matches!(callee(x, src), Some("abs" | "fabs"))
            };
            let eps = if is_abs(l) {
                eval(r, src)
            } else if is_abs(r) {
                eval(l, src)
            } else {
                None
            };
            if let Some(tolerance) = eps.and_then(|e| e.as_f64()) {
                return ValueCompare::Within { tolerance };
            }
        }
    }
    ValueCompare::Equal
}

fn shape(cond: Node<'_>, src: &str, helper: ValueCompare) -> Shape {
    let cond = unparen(cond);
    let value = match cond.kind() {
        "binary_expression" => {
            let (Some(l), Some(r)) = (
                cond.child_by_field_name("left"),
                cond.child_by_field_name("right"),
            ) else {
                return check(cond, src);
            };
            match operator(cond, src) {
                "==" => equality(l, r, src, &eval, ValueCompare::Equal),
                // abs(a - b) < eps
                "<" | "<=" => within(l, r, src),
                _ => None,
            }
        }
        "call_expression" => match callee(cond, src) {
            Some(name) if COMPARATORS.contains(&name) => match arguments(cond).as_slice() {
                [a, b] => equality(*a, *b, src, &eval, helper),
                _ => None,
            },
            Some("abs" | "fabs") => None,
            _ => truth(cond, src, true, &["call_expression"]),
        },
        "unary_expression" if matches!(operator(cond, src), "!" | "not") => cond
            .child_by_field_name("argument")
            .map(unparen)
            .filter(|a| {
                a.kind() == "call_expression"
                    && !callee(*a, src).is_some_and(|n| COMPARATORS.contains(&n))
            })
            .and_then(|a| truth(a, src, false, &["call_expression"])),
        _ => None,
    };
    value.unwrap_or_else(|| check(cond, src))
}

/// `abs(a - b) < eps` (or `fabs`, `std::abs`) with `eps` and one of `a`, `b` constant.
fn within(l: Node<'_>, r: Node<'_>, src: &str) -> Option<Shape> {
    abs_within(l, r, src, &eval, &|f| {
        f.kind() == "call_expression" && matches!(callee(f, src), Some("abs" | "fabs"))
    })
}

/// A C++ constant's value: numbers, strings, chars, booleans, `nullptr`, braced lists, typed
/// braced lists (`vector<int>{1, 2}`), `string("x")`, and arithmetic on them.
fn eval(n: Node<'_>, src: &str) -> Option<Value> {
    let n = unparen(n);
    match n.kind() {
        "number_literal" => number(node_text(n, src), true),
        "string_literal" | "char_literal" | "raw_string_literal" => {
            if n.kind() == "raw_string_literal" {
                return None;
            }
            let text = node_text(n, src);
            // Prefixed literals (u8"", L'') are left alone.
            if !text.starts_with(['"', '\'']) {
                return None;
            }
            quoted(text)
        }
        "concatenated_string" => {
            let mut out = String::new();
            for part in children(n) {
                match eval(part, src)? {
                    Value::String(s) => out.push_str(&s),
                    _ => return None,
                }
            }
            Some(Value::String(out))
        }
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "null" | "nullptr" => Some(Value::Null),
        "initializer_list" => children(n)
            .into_iter()
            .map(|c| eval(c, src))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        "compound_literal_expression" | "cast_expression" => {
            eval(n.child_by_field_name("value")?, src)
        }
        "qualified_identifier" | "identifier" => match node_text(n, src) {
            "std::nullopt" | "nullopt" => Some(Value::Null),
            _ => None,
        },
        // MultiPL-E: `std::vector<long>({1, 2})`, `std::make_tuple(1, 2)`, `std::string("x")`,
        // `std::optional<long>(5)`, `std::map<..>({{k, v}})`.
        "call_expression" => {
            let f = n.child_by_field_name("function")?;
            let name = node_text(f, src);
            let name = name.split('<').next().unwrap_or(name).trim();
            let name = name.rsplit("::").next().unwrap_or(name);
            let args = arguments(n);
            match (name, args.as_slice()) {
                ("make_tuple" | "make_pair" | "tuple" | "pair", items) => items
                    .iter()
                    .map(|c| eval(*c, src))
                    .collect::<Option<Vec<_>>>()
                    .map(Value::Array),
                ("string" | "optional", [x]) => eval(*x, src),
                ("vector" | "map" | "set" | "unordered_map" | "unordered_set", []) => {
                    Some(Value::Array(Vec::new()))
                }
                ("vector" | "map" | "set" | "unordered_map" | "unordered_set", [x])
                    if unparen(*x).kind() == "initializer_list" =>
                {
                    eval(*x, src)
                }
                _ => None,
            }
        }
        "unary_expression" => signed(n, src, "argument", eval),
        "binary_expression" => {
            let (op, a, b) = arithmetic(n, src, eval)?;
            // C++ does not add string literals.
            if matches!(a, Some(Value::String(_))) {
                return None;
            }
            binary(op, a, b)
        }
        _ => None,
    }
}
