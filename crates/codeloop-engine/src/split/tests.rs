use codeloop_types::{Expect, Language, ValueCompare};
use serde_json::json;

use super::{Split, split};

/// Each test's (input, expected value or `None` for a check, compare).
fn shapes(s: &Split) -> Vec<(String, Option<serde_json::Value>, Option<ValueCompare>)> {
    s.tests
        .iter()
        .map(|t| match &t.expect {
            Expect::Judged { expected, compare } => (
                t.input.clone(),
                Some(serde_json::from_str(expected).unwrap()),
                Some(*compare),
            ),
            _ => (t.input.clone(), None, None),
        })
        .collect()
}

const EQ: Option<ValueCompare> = Some(ValueCompare::Equal);

#[test]
fn cpp_asserts_split_into_calls_and_constants() {
    let code = r#"#undef NDEBUG
#include<assert.h>
bool issame(vector<float> a, vector<float> b){
    for (int i=0;i<a.size();i++) if (abs(a[i]-b[i])>1e-4) return false;
    return true;
}
int main(){
    vector<float> a={1.0, 2.0};
    assert (f(a, 0.3)==true);
    assert (false == f({1.0, 2.0}, 0.05) && "failure 1");
    assert (issame(g("a b"), {1.5, -2}));
    assert (abs(h(3) - 2.0/3.0) < 1e-4);
    assert (not(f(a, 1)));
    assert (k(1) == 'x');
    assert (abs(poly(a, h(1))) < 1e-3);
    for (int i = 0; i < 3; i++) assert (f(a, i) == true);
}
"#;
    let s = split(Language::Cpp, code);
    assert_eq!(
        shapes(&s),
        vec![
            ("f(a, 0.3)".into(), Some(json!(true)), EQ),
            ("f({1.0, 2.0}, 0.05)".into(), Some(json!(false)), EQ),
            (
                "g(\"a b\")".into(),
                Some(json!([1.5, -2])),
                Some(ValueCompare::Within { tolerance: 1e-4 })
            ),
            (
                "h(3)".into(),
                Some(json!(2.0 / 3.0)),
                Some(ValueCompare::Within { tolerance: 1e-4 })
            ),
            ("f(a, 1)".into(), Some(json!(false)), EQ),
            ("k(1)".into(), Some(json!("x")), EQ),
            ("abs(poly(a, h(1))) < 1e-3".into(), None, None),
        ]
    );
    // The loop's assert stays, and the expected values left the code.
    assert_eq!(s.remaining, 1);
    assert_eq!(s.judged(), 6);
    assert!(
        s.code
            .contains("codeloop::value(0, [&]() { return (f(a, 0.3)); });")
    );
    assert!(s.code.contains("codeloop::check(6, "));
    assert!(!s.code.contains("2.0/3.0"), "{}", s.code);
    assert!(
        s.code
            .contains("for (int i = 0; i < 3; i++) assert (f(a, i) == true);")
    );
}

#[test]
fn java_list_elements_split_into_hook_expressions() {
    let code = r#"public class Main {
    public static void main(String[] args) {
        Solution s = new Solution();
        List<Boolean> correct = Arrays.asList(
                s.f(new ArrayList<>(Arrays.asList(1, 2)), 3) == 5,
                !s.g(1),
                Objects.equals(s.h("x"), "xx"),
                s.k(2).equals(Arrays.asList("a", "b")),
                Math.abs(s.m(1.33) - 0.33) < 1e-6,
                s.o(List.of()).isEmpty(),
                s.p(1).equals(s.p(2))
        );
        if (correct.contains(false)) {
            throw new AssertionError();
        }
    }
}
"#;
    let s = split(Language::Java, code);
    assert_eq!(
        shapes(&s),
        vec![
            (
                "s.f(new ArrayList<>(Arrays.asList(1, 2)), 3)".into(),
                Some(json!(5)),
                EQ
            ),
            ("s.g(1)".into(), Some(json!(false)), EQ),
            ("s.h(\"x\")".into(), Some(json!("xx")), EQ),
            ("s.k(2)".into(), Some(json!(["a", "b"])), EQ),
            (
                "s.m(1.33)".into(),
                Some(json!(0.33)),
                Some(ValueCompare::Within { tolerance: 1e-6 })
            ),
            ("s.o(List.of()).isEmpty()".into(), Some(json!(true)), EQ),
            ("s.p(1).equals(s.p(2))".into(), None, None),
        ]
    );
    assert_eq!(s.remaining, 0, "the list's own throw is not an assert left");
    assert!(s.code.contains("Codeloop.value(1, () -> (s.g(1)))"));
}

#[test]
fn javascript_go_and_rust_asserts_split() {
    let js = split(
        Language::JavaScript,
        "const t = () => {\n  console.assert(f([1, 2]) === 3)\n  console.assert(JSON.stringify(g('a')) === JSON.stringify([{a: 1}, null]))\n  console.assert(h(2) == '2')\n  console.assert(k(-9999999999999999) === -9999999999999999)\n}\nt()\n",
    );
    assert_eq!(
        shapes(&js),
        vec![
            ("f([1, 2])".into(), Some(json!(3)), EQ),
            (
                "g('a')".into(),
                Some(json!([{"$map": [["a", 1]]}, null])),
                EQ
            ),
            ("h(2)".into(), Some(json!("2")), Some(ValueCompare::Loose)),
            (
                "k(-9999999999999999)".into(),
                Some(json!(-10_000_000_000_000_000_i64)),
                EQ
            ),
        ]
    );
    let go = split(
        Language::Go,
        "func TestF(t *testing.T) {\n\tassert := assert.New(t)\n\tassert.Equal([]string{\"a\"}, F(1))\n\tassert.Equal(map[rune]int{'a': 2}, G(\"a\"))\n\tassert.Equal(nil, H())\n\tfor i := 0; i < 2; i++ {\n\t\tassert.Equal(1, F(i))\n\t}\n}\n",
    );
    assert_eq!(
        shapes(&go),
        vec![
            ("F(1)".into(), Some(json!(["a"])), EQ),
            ("G(\"a\")".into(), Some(json!({"$map": [[97, 2]]})), EQ),
            ("H()".into(), Some(json!(null)), EQ),
        ]
    );
    assert_eq!(go.remaining, 1);
    assert!(go.code.contains("_ = assert\n"), "{}", go.code);
    let rust = split(
        Language::Rust,
        "}\n\nfn main() {\n    let candidate = f;\n    assert_eq!(candidate(vec![1, 2]), vec![String::from(\"a\"), \"b\".to_string()]);\n    assert!(g(1) == Some((1, -2.5)));\n    assert!((h(1.0) - 0.5).abs() < 1e-4);\n    assert!(!k(3));\n    assert_ne!(candidate(vec![]), vec![]);\n}\n",
    );
    assert_eq!(
        shapes(&rust),
        vec![
            ("candidate(vec![1, 2])".into(), Some(json!(["a", "b"])), EQ),
            ("g(1)".into(), Some(json!([1, -2.5])), EQ),
            (
                "h(1.0)".into(),
                Some(json!(0.5)),
                Some(ValueCompare::Within { tolerance: 1e-4 })
            ),
            ("k(3)".into(), Some(json!(false)), EQ),
            ("candidate(vec![]) != vec![]".into(), None, None),
        ]
    );
    // MultiPL-E's leading `}` is kept.
    assert!(rust.code.starts_with('}'));
}

#[test]
fn code_that_does_not_parse_stays_one_whole_program() {
    let s = split(Language::Cpp, "int main() { assert (f(1) == ; }");
    assert!(s.tests.is_empty());
    assert_eq!(s.remaining, 1);
    assert_eq!(s.code, "int main() { assert (f(1) == ; }");
}

#[test]
fn code_with_no_assert_it_knows_is_one_whole_program() {
    let s = split(Language::JavaScript, "testfindZero()\n");
    assert!(s.tests.is_empty());
    assert_eq!(s.remaining, 1);
}

#[test]
fn multipl_e_cpp_and_javascript_layouts_split() {
    let cpp = split(
        Language::Cpp,
        "}\nint main() {\n    auto candidate = f;\n    assert(candidate((std::vector<float>({(float)1.0f, (float)2.5f})), (0.3f)) == (true));\n    assert(candidate((std::vector<long>())) == (std::vector<std::string>({(std::string)\"a\", (std::string)\"b\"})));\n    assert(candidate((std::vector<long>({1}))) == std::make_tuple(1, -2));\n    assert(candidate((std::vector<long>({}))) == std::nullopt);\n    assert(candidate((std::vector<long>({2}))) == (std::optional<long>(5)));\n}\n",
    );
    assert_eq!(
        shapes(&cpp),
        vec![
            (
                "candidate((std::vector<float>({(float)1.0f, (float)2.5f})), (0.3f))".into(),
                Some(json!(true)),
                EQ
            ),
            (
                "candidate((std::vector<long>()))".into(),
                Some(json!(["a", "b"])),
                EQ
            ),
            (
                "candidate((std::vector<long>({1})))".into(),
                Some(json!([1, -2])),
                EQ
            ),
            (
                "candidate((std::vector<long>({})))".into(),
                Some(json!(null)),
                EQ
            ),
            (
                "candidate((std::vector<long>({2})))".into(),
                Some(json!(5)),
                EQ
            ),
        ]
    );
    assert!(cpp.code.starts_with('}'));
    assert_eq!(cpp.remaining, 0);
    let js = split(
        Language::JavaScript,
        "const assert = require('node:assert');\n\n\nfunction test() {\n  let candidate = f;\n  assert.deepEqual(candidate([1.0, 2.0], 0.3),true);\n  assert.equal(candidate([]), '3');\n  assert.deepEqual(candidate([2]), candidate([3]));\n  assert.throws(() => candidate(null));\n}\n\ntest();\n",
    );
    assert_eq!(
        shapes(&js),
        vec![
            ("candidate([1.0, 2.0], 0.3)".into(), Some(json!(true)), EQ),
            (
                "candidate([])".into(),
                Some(json!("3")),
                Some(ValueCompare::Loose)
            ),
            (
                "require('node:util').isDeepStrictEqual(candidate([2]), candidate([3]))".into(),
                None,
                None
            ),
        ]
    );
    assert_eq!(js.remaining, 1, "assert.throws stays in the program");
}
