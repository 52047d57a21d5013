//! Splitting compiled-language test code into judged values, outside the sandbox.
//!
//! A dataset's test code for C++, Java, JavaScript, Go and Rust is a program of asserts
//! (`assert(f(x) == y)`, `assert.Equal(y, F(x))`, `assert_eq!(f(x), y)`, ...). Run as it is, the
//! solution shares its process with the expected values and with the code that decides the
//! verdict. This module parses the test code with the language's tree-sitter grammar and
//! rewrites each assert that runs once (a statement directly in a function's body) into a
//! harness *hook* (see `codeloop_sandbox`'s `compiled` module):
//!
//! - an assert that compares a call with a constant (`==`, `issame`, `equals`, `Objects.equals`,
//!   `JSON.stringify(a) === JSON.stringify(b)`, testify's `Equal`, `assert_eq!`, a bare call
//!   meaning `true`, a negated one meaning `false`, `abs(a - b) < eps`) becomes a value hook: the
//!   program reports the call's value, and the constant, evaluated here, stays outside
//!   ([`Expect::Judged`]);
//! - any other assert in such a place becomes a check hook reporting its own boolean
//!   ([`Expect::Check`], the weaker fallback);
//! - asserts elsewhere (in loops, helpers) stay as they are, and the suite gets a last test that
//!   needs the whole program to run to its end ([`Expect::Program`], the weakest).
//!
//! Dependencies: `tree-sitter` and the grammars `tree-sitter-{cpp,java,javascript,go,rust}`, the
//! parsers editors use for these languages (error-tolerant, byte-exact spans, maintained by the
//! tree-sitter organization); the five grammars add about 45 s to a cold build on 2 cores.

mod cpp;
mod go;
mod java;
mod js;
mod literal;
mod rust;

use codeloop_types::{Expect, Language, ValueCompare};
use serde_json::Value;
use tree_sitter::{Node, Parser, Tree};

/// The splitter's own sources: prepared suites are keyed on them, so a changed splitter never
/// reads suites an older one made.
pub(crate) const SOURCES: [&str; 7] = [
    include_str!("mod.rs"),
    include_str!("literal.rs"),
    include_str!("cpp.rs"),
    include_str!("java.rs"),
    include_str!("js.rs"),
    include_str!("go.rs"),
    include_str!("rust.rs"),
];

/// Test code split into hooks.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The test code, each split assert replaced by its hook (hook `i` is test `i`).
    pub code: String,
    /// One per hook, in hook order.
    pub tests: Vec<SplitTest>,
    /// Asserts left in the code as they were: the suite needs the whole program to end well.
    pub remaining: usize,
}

/// One hooked assert.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitTest {
    /// The call (or, for a check, the assert's condition) as the test writes it.
    pub input: String,
    /// The expected value as the test writes it, for judged tests.
    pub expected: Option<String>,
    /// [`Expect::Judged`] or [`Expect::Check`].
    pub expect: Expect,
}

impl Split {
    /// How many tests are judged by value.
    #[must_use]
    pub fn judged(&self) -> usize {
        self.tests
            .iter()
            .filter(|t| matches!(t.expect, Expect::Judged { .. }))
            .count()
    }
}

/// What one assert asks, once understood (source texts).
pub(crate) enum Shape {
    /// `call` must equal the constant `expected` (its source text `text`).
    Value {
        call: String,
        expected: Value,
        text: String,
        compare: ValueCompare,
    },
    /// The condition, computed inside (not a call compared with a constant).
    Check(String),
}

/// A language's part: how asserts look, how hooks are written, how constants evaluate.
pub(crate) trait Dialect {
    /// The grammar.
    fn language(&self) -> tree_sitter::Language;
    /// The asserts in `tree` that run once, each as (the statement to replace, its shape), and
    /// how many other asserts there are.
    fn asserts<'t>(&self, tree: &'t Tree, src: &str) -> (Vec<(Node<'t>, Shape)>, usize);
    /// The hook that reports `call`'s value as test `id`.
    fn value_hook(&self, id: usize, call: &str) -> String;
    /// The hook that reports `condition`'s boolean as test `id`.
    fn check_hook(&self, id: usize, condition: &str) -> String;
    /// Edits the code needs once its asserts are hooks (Go: a now-unused `assert` variable).
    fn finish(&self, code: String) -> String {
        code
    }
}

/// Splits `code`, test code in `language`. Code that does not parse cleanly is not split (it
/// stays one whole-program test).
#[must_use]
pub fn split(language: Language, code: &str) -> Split {
    let whole = || Split {
        code: code.to_owned(),
        tests: Vec::new(),
        remaining: usize::from(!code.trim().is_empty()),
    };
    let dialect: &dyn Dialect = match language {
        Language::Cpp => &cpp::Cpp,
        Language::Java => &java::Java,
        Language::JavaScript => &js::JavaScript,
        Language::Go => &go::Go,
        Language::Rust => &rust::Rust,
        Language::Python => return whole(),
    };
    // MultiPL-E: test code that starts by closing the completion's function.
    let (lead, body) = match code.trim_start().strip_prefix('}') {
        Some(rest) => (&code[..code.len() - rest.len()], rest),
        None => ("", code),
    };
    let mut parser = Parser::new();
    if parser.set_language(&dialect.language()).is_err() {
        return whole();
    }
    let Some(tree) = parser.parse(body, None) else {
        return whole();
    };
    if tree.root_node().has_error() {
        return whole();
    }
    let (asserts, mut remaining) = dialect.asserts(&tree, body);
    // Test code with no assert it knows still has to run to its end (it may call a test function
    // that does not exist, or check in a way no dialect reads).
    if asserts.is_empty() && remaining == 0 && !body.trim().is_empty() {
        remaining = 1;
    }
    let mut edits = Vec::with_capacity(asserts.len());
    let mut tests = Vec::with_capacity(asserts.len());
    for (id, (stmt, shape)) in asserts.into_iter().enumerate() {
        let (hook, test) = match shape {
            Shape::Value {
                call,
                expected,
                text,
                compare,
            } => (
                dialect.value_hook(id, &call),
                SplitTest {
                    input: squash(&call),
                    expected: Some(squash(&text)),
                    expect: Expect::Judged {
                        expected: expected.to_string(),
                        compare,
                    },
                },
            ),
            Shape::Check(condition) => (
                dialect.check_hook(id, &condition),
                SplitTest {
                    input: squash(&condition),
                    expected: None,
                    expect: Expect::Check,
                },
            ),
        };
        edits.push((stmt.byte_range(), hook));
        tests.push(test);
    }
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = body.to_owned();
    for (range, text) in edits {
        out.replace_range(range, &text);
    }
    Split {
        code: format!("{lead}{}", dialect.finish(out)),
        tests,
        remaining,
    }
}

/// A node's source text.
pub(crate) fn node_text<'s>(n: Node<'_>, src: &'s str) -> &'s str {
    &src[n.byte_range()]
}

/// Source text on one line, runs of whitespace made one space.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A call's arguments (every grammar here names them `arguments`).
pub(crate) fn arguments(call: Node<'_>) -> Vec<Node<'_>> {
    call.child_by_field_name("arguments")
        .map(children)
        .unwrap_or_default()
}

/// An operator's text (every grammar here names it `operator`), or "".
pub(crate) fn operator<'s>(n: Node<'_>, src: &'s str) -> &'s str {
    n.child_by_field_name("operator")
        .map_or("", |o| node_text(o, src))
}

/// A unary `+` or `-` expression's value: its operand (the child named `field`) evaluated by
/// `eval`, negated for `-`; `None` for other operators.
pub(crate) fn signed(
    n: Node<'_>,
    src: &str,
    field: &str,
    eval: fn(Node<'_>, &str) -> Option<Value>,
) -> Option<Value> {
    match operator(n, src) {
        "-" => literal::negate(&eval(n.child_by_field_name(field)?, src)?),
        "+" => eval(n.child_by_field_name(field)?, src),
        _ => None,
    }
}

/// An arithmetic binary expression (`+`, `-`, `*` or `/`): its operator and its operands evaluated
/// by `eval`; `None` for other operators.
pub(crate) fn arithmetic<'s>(
    n: Node<'_>,
    src: &'s str,
    eval: fn(Node<'_>, &str) -> Option<Value>,
) -> Option<(&'s str, Option<Value>, Option<Value>)> {
    let op = operator(n, src);
    if !matches!(op, "+" | "-" | "*" | "/") {
        return None;
    }
    Some((
        op,
        eval(n.child_by_field_name("left")?, src),
        eval(n.child_by_field_name("right")?, src),
    ))
}

/// `abs(a - b) < eps` (or `a + b`), where `is_abs` says which calls are the language's `abs` and
/// the call takes the difference as its one argument: the shape [`near`] gives.
pub(crate) fn abs_within(
    l: Node<'_>,
    r: Node<'_>,
    src: &str,
    eval: &dyn Fn(Node<'_>, &str) -> Option<Value>,
    is_abs: &dyn Fn(Node<'_>) -> bool,
) -> Option<Shape> {
    let l = unparen(l);
    if !is_abs(l) {
        return None;
    }
    let Value::Number(eps) = eval(r, src)? else {
        return None;
    };
    let args = arguments(l);
    let [diff] = args.as_slice() else {
        return None;
    };
    near(*diff, src, eval, eps.to_string().parse().ok()?)
}

/// A check of `n`'s source text.
pub(crate) fn check(n: Node<'_>, src: &str) -> Shape {
    Shape::Check(node_text(n, src).to_owned())
}

/// `n` without the parentheses around it.
pub(crate) fn unparen(mut n: Node<'_>) -> Node<'_> {
    while n.kind() == "parenthesized_expression" && n.named_child_count() == 1 {
        match n.named_child(0) {
            Some(inner) => n = inner,
            None => break,
        }
    }
    n
}

/// The named children of `n` that are not comments.
pub(crate) fn children(n: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = n.walk();
    n.named_children(&mut cursor)
        .filter(|c| !c.kind().contains("comment"))
        .collect()
}

/// Every node under `root` (itself included), depth first.
pub(crate) fn descendants(root: Node<'_>) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        out.push(n);
        let mut cursor = n.walk();
        let kids: Vec<Node<'_>> = n.children(&mut cursor).collect();
        stack.extend(kids.into_iter().rev());
    }
    out
}

/// Whether statement `stmt` runs once per call of its function: its parent is the block that is
/// a function's body (`body_kinds` name the blocks, `function_kinds` the functions).
pub(crate) fn runs_once(stmt: Node<'_>, body_kinds: &[&str], function_kinds: &[&str]) -> bool {
    stmt.parent().is_some_and(|block| {
        body_kinds.contains(&block.kind())
            && block
                .parent()
                .is_some_and(|f| function_kinds.contains(&f.kind()))
    })
}

/// `call == constant` in either order: the shape, when one side evaluates and the other does not.
pub(crate) fn equality(
    a: Node<'_>,
    b: Node<'_>,
    src: &str,
    eval: &dyn Fn(Node<'_>, &str) -> Option<Value>,
    compare: ValueCompare,
) -> Option<Shape> {
    match (eval(a, src), eval(b, src)) {
        (None, Some(expected)) => Some(Shape::Value {
            call: node_text(unparen(a), src).to_owned(),
            expected,
            text: node_text(b, src).to_owned(),
            compare,
        }),
        (Some(expected), None) => Some(Shape::Value {
            call: node_text(unparen(b), src).to_owned(),
            expected,
            text: node_text(a, src).to_owned(),
            compare,
        }),
        _ => None,
    }
}

/// The `a - b` (or `a + b`) inside `abs(...) < tolerance`, one side constant: the other side
/// must be within `tolerance` of the constant (of its negation, for `+`).
pub(crate) fn near(
    diff: Node<'_>,
    src: &str,
    eval: &dyn Fn(Node<'_>, &str) -> Option<Value>,
    tolerance: f64,
) -> Option<Shape> {
    let diff = unparen(diff);
    if diff.kind() != "binary_expression" {
        return None;
    }
    let (l, r) = (
        diff.child_by_field_name("left")?,
        diff.child_by_field_name("right")?,
    );
    let compare = ValueCompare::Within { tolerance };
    match node_text(diff.child_by_field_name("operator")?, src) {
        "-" => equality(l, r, src, eval, compare),
        "+" => {
            let (call, constant) = match (eval(l, src), eval(r, src)) {
                (None, Some(c)) => (l, (c, r)),
                (Some(c), None) => (r, (c, l)),
                _ => return None,
            };
            Some(Shape::Value {
                call: node_text(unparen(call), src).to_owned(),
                expected: literal::negate(&constant.0)?,
                text: format!("-({})", node_text(constant.1, src)),
                compare,
            })
        }
        _ => None,
    }
}

/// A bare call meaning `true` (or, negated, `false`): the call's value is judged. Only calls,
/// so that comparisons the test computes itself stay checks.
pub(crate) fn truth(call: Node<'_>, src: &str, want: bool, call_kinds: &[&str]) -> Option<Shape> {
    let call = unparen(call);
    call_kinds.contains(&call.kind()).then(|| Shape::Value {
        call: node_text(call, src).to_owned(),
        expected: Value::Bool(want),
        text: want.to_string(),
        compare: ValueCompare::Equal,
    })
}

#[cfg(test)]
mod tests;
