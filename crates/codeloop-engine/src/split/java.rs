//! Java (HumanEval-X): `List<Boolean> correct = Arrays.asList(e1, e2, ...);` followed by
//! `if (correct.contains(false)) throw new AssertionError();`, each element an assert: `a == b`,
//! `Objects.equals(a, b)`, `a.equals(b)`, `Math.abs(a - b) < eps`, `s.f(x)`, `!s.f(x)`. Each
//! element becomes a hook expression (it returns `true`, so the list stays a list of passes).

use codeloop_types::ValueCompare;
use serde_json::Value;
use tree_sitter::{Node, Tree};

use super::literal::{binary, number, quoted};
use super::{
    Dialect, Shape, abs_within, arguments, arithmetic, check, children, descendants, equality,
    node_text, operator, signed, truth, unparen,
};

pub(crate) struct Java;

impl Dialect for Java {
    fn language(&self) -> tree_sitter::Language {
        tree_sitter_java::LANGUAGE.into()
    }

    fn asserts<'t>(&self, tree: &'t Tree, src: &str) -> (Vec<(Node<'t>, Shape)>, usize) {
        let mut found = Vec::new();
        let mut lists = Vec::new();
        for n in descendants(tree.root_node()) {
            if n.kind() != "local_variable_declaration" || !once(n) {
                continue;
            }
            let Some(ty) = n.child_by_field_name("type") else {
                continue;
            };
            if node_text(ty, src).replace(' ', "") != "List<Boolean>" {
                continue;
            }
            let Some(decl) = n.child_by_field_name("declarator") else {
                continue;
            };
            let (Some(name), Some(value)) = (
                decl.child_by_field_name("name"),
                decl.child_by_field_name("value"),
            ) else {
                continue;
            };
            if value.kind() != "method_invocation" || method(value, src) != Some("asList") {
                continue;
            }
            lists.push(node_text(name, src).to_owned());
            for element in arguments(value) {
                found.push((element, shape(element, src)));
            }
        }
        // Every `throw new AssertionError` but those of the hooked lists' `contains(false)`.
        let remaining = descendants(tree.root_node())
            .into_iter()
            .filter(|n| {
                n.kind() == "throw_statement" && node_text(*n, src).contains("AssertionError")
            })
            .filter(|t| {
                let guard = t
                    .parent()
                    .filter(|p| p.kind() == "block")
                    .and_then(|b| b.parent())
                    .or_else(|| t.parent())
                    .filter(|i| i.kind() == "if_statement")
                    .and_then(|i| i.child_by_field_name("condition"))
                    .map(|c| node_text(c, src).replace(' ', ""));
                !guard.is_some_and(|g| lists.iter().any(|l| g == format!("({l}.contains(false))")))
            })
            .count()
            + descendants(tree.root_node())
                .into_iter()
                .filter(|n| n.kind() == "assert_statement")
                .count();
        (found, remaining)
    }

    fn value_hook(&self, id: usize, call: &str) -> String {
        format!("Codeloop.value({id}, () -> ({call}))")
    }

    fn check_hook(&self, id: usize, condition: &str) -> String {
        format!("Codeloop.check({id}, () -> ({condition}))")
    }
}

/// Whether a declaration is a statement of a method's body (it runs once per call).
fn once(n: Node<'_>) -> bool {
    n.parent().is_some_and(|b| {
        b.kind() == "block" && b.parent().is_some_and(|m| m.kind() == "method_declaration")
    })
}

fn method<'s>(call: Node<'_>, src: &'s str) -> Option<&'s str> {
    call.child_by_field_name("name").map(|n| node_text(n, src))
}

fn object<'s>(call: Node<'_>, src: &'s str) -> Option<&'s str> {
    call.child_by_field_name("object")
        .map(|n| node_text(n, src))
}

/// Whether a call compares (its boolean is a comparison the test computes).
fn comparator(call: Node<'_>, src: &str) -> bool {
    matches!(
        method(call, src),
        Some("equals" | "equalsIgnoreCase" | "contentEquals" | "deepEquals" | "compareTo" | "abs")
    )
}

fn shape(element: Node<'_>, src: &str) -> Shape {
    let e = unparen(element);
    let value = match e.kind() {
        "binary_expression" => {
            let (Some(l), Some(r)) = (
                e.child_by_field_name("left"),
                e.child_by_field_name("right"),
            ) else {
                return check(e, src);
            };
            match operator(e, src) {
                "==" => equality(l, r, src, &eval, ValueCompare::Equal),
                "<" | "<=" => within(l, r, src),
                _ => None,
            }
        }
        "method_invocation" => match (object(e, src), method(e, src), arguments(e).as_slice()) {
            (Some("Objects"), Some("equals"), [a, b]) => {
                equality(*a, *b, src, &eval, ValueCompare::Equal)
            }
            (Some(_), Some("equals"), [b]) => e
                .child_by_field_name("object")
                .and_then(|a| equality(a, *b, src, &eval, ValueCompare::Equal)),
            _ if comparator(e, src) => None,
            _ => truth(e, src, true, &["method_invocation"]),
        },
        "unary_expression" if operator(e, src) == "!" => e
            .child_by_field_name("operand")
            .map(unparen)
            .filter(|a| a.kind() == "method_invocation" && !comparator(*a, src))
            .and_then(|a| truth(a, src, false, &["method_invocation"])),
        _ => None,
    };
    value.unwrap_or_else(|| check(e, src))
}

/// `Math.abs(a - b) < eps`.
fn within(l: Node<'_>, r: Node<'_>, src: &str) -> Option<Shape> {
    abs_within(l, r, src, &eval, &|f| {
        f.kind() == "method_invocation" && method(f, src) == Some("abs")
    })
}

fn list(items: Vec<Node<'_>>, src: &str) -> Option<Value> {
    items
        .into_iter()
        .map(|c| eval(c, src))
        .collect::<Option<Vec<_>>>()
        .map(Value::Array)
}

/// A Java constant's value: literals, `Arrays.asList`, `List.of`, `Set.of`, `Map.of`,
/// `Optional.of`/`empty`, `new ArrayList<>(...)`, array initializers, arithmetic.
fn eval(n: Node<'_>, src: &str) -> Option<Value> {
    let n = unparen(n);
    match n.kind() {
        "decimal_integer_literal"
        | "hex_integer_literal"
        | "octal_integer_literal"
        | "binary_integer_literal"
        | "decimal_floating_point_literal" => {
            let t = node_text(n, src);
            // Java's octal literals are C's.
            number(
                t,
                n.kind() != "decimal_integer_literal" || t.starts_with('0'),
            )
        }
        "string_literal" | "character_literal" => quoted(node_text(n, src)),
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "null_literal" => Some(Value::Null),
        "unary_expression" => signed(n, src, "operand", eval),
        "binary_expression" => {
            let (op, a, b) = arithmetic(n, src, eval)?;
            binary(op, a, b)
        }
        "cast_expression" | "array_creation_expression" => {
            eval(n.child_by_field_name("value")?, src)
        }
        "array_initializer" => list(children(n), src),
        "object_creation_expression" => {
            let ty = node_text(n.child_by_field_name("type")?, src);
            let args = arguments(n);
            match args.as_slice() {
                [] if ty.contains("Map") => Some(serde_json::json!({"$map": []})),
                [] if ty.contains("Set") => Some(serde_json::json!({"$set": []})),
                [] if ty.contains("List") => Some(Value::Array(Vec::new())),
                [one] if ty.contains("List") => eval(*one, src),
                [one] if ty.contains("Set") => {
                    let Value::Array(items) = eval(*one, src)? else {
                        return None;
                    };
                    Some(serde_json::json!({ "$set": items }))
                }
                _ => None,
            }
        }
        "method_invocation" => {
            let args = arguments(n);
            match (object(n, src)?, method(n, src)?) {
                ("Arrays" | "List", "asList" | "of") => list(args, src),
                ("Collections", "emptyList") => Some(Value::Array(Vec::new())),
                ("Collections", "emptyMap") => Some(serde_json::json!({"$map": []})),
                ("Set", "of") => Some(serde_json::json!({ "$set": list(args, src)? })),
                ("Map", "of") => {
                    let items = match list(args, src)? {
                        Value::Array(items) if items.len() % 2 == 0 => items,
                        _ => return None,
                    };
                    let pairs: Vec<Value> = items
                        .chunks(2)
                        .map(|kv| Value::Array(kv.to_vec()))
                        .collect();
                    Some(serde_json::json!({ "$map": pairs }))
                }
                ("Optional", "of") if args.len() == 1 => eval(args[0], src),
                ("Optional", "empty") => Some(Value::Null),
                _ => None,
            }
        }
        _ => None,
    }
}
