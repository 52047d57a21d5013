# codeloop Python judge, part: `parse_tests`, joined into the judge's program before judge.py (see
# `JUDGE_SRC` in python.rs; `encode` and `Refused` are judge.py's, looked up when called).
import ast
import json
import math
import re
import sys

# ----------------------------------------------------------------------------------------------------
# parse_tests: value tests from asserts a model wrote (CodeT, B4). The text is untrusted: it is only
# parsed (`ast.parse`, `ast.literal_eval`), never compiled to code or run.

PARSE_TESTS_MAX_SOURCE = 200_000
# Characters handed to the parser while joining lines into statements, past the first try of each
# line; bounds the time a text of unclosed brackets can take.
_PARSE_TESTS_JOIN_BUDGET = 2_000_000
# Lines joined at most into one statement.
_PARSE_TESTS_JOIN_LINES = 30
# Decimal digits an integer literal may have (Python's default limit; the judge lifts it for wire
# values): converting a longer one takes time quadratic in its length.
_PARSE_TESTS_MAX_DIGITS = 4300
_PARSE_ERRORS = (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError)
_LITERAL_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, OverflowError)
# Statements whose first line alone does not parse but which may hold asserts once joined with the
# lines after it.
_JOINABLE = re.compile(r"(assert|def|async|for|while|if|with|try|class)\b|@")
_ASSERT_LINE = re.compile(r"assert\b")
# `def name(param):`: the header of a function of one parameter, the name its asserts may call the
# entry point by (`def check(candidate):`).
_ONE_PARAM_DEF = re.compile(r"\s*(?:async\s+)?def\s+\w+\s*\(\s*(\w+)\s*(?::[^,()=]*)?\)\s*(?:->[^:]*)?:")


class _NotATest(Exception):
    """An assert that is not a value test: why."""


def _one_param(fn):
    a = fn.args
    params = a.posonlyargs + a.args
    if len(params) == 1 and not (a.vararg or a.kwarg or a.kwonlyargs):
        return params[0].arg
    return None


def _asserts(tree, names):
    """The asserts of `tree` in source order, each with the names that call the entry point there:
    `names`, plus the parameter of each enclosing function that takes one (`check(candidate)`)."""
    out = []
    stack = [(tree, names)]
    while stack:
        node, ns = stack.pop()
        if isinstance(node, ast.Assert):
            out.append((node, ns))
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            param = _one_param(node)
            if param is not None:
                ns = ns | {param}
        kids = [
            k for k in ast.iter_child_nodes(node)
            if isinstance(k, (ast.stmt, ast.excepthandler, ast.match_case))
        ]
        stack.extend((k, ns) for k in reversed(kids))
    return out


def _literal(node, what):
    try:
        return ast.literal_eval(node)
    except _LITERAL_ERRORS:
        raise _NotATest(f"{what} is not a literal") from None


def _tolerance(node, what):
    v = _literal(node, what)
    if type(v) not in (int, float) or not math.isfinite(v) or v < 0:
        raise _NotATest(f"{what} is not a finite non-negative number")
    return float(v)


def _number(v):
    if type(v) not in (int, float) or not math.isfinite(v):
        raise _NotATest("an approximate comparison's expected value is not a finite number")
    return v


def _value_test(test, entry_point, names):
    """(call node, expected value, atol or None) of an assert's test expression, else `_NotATest`."""
    shape = f"not a call of {entry_point} compared with a constant"

    def is_call(n):
        return isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names

    def call_and_other(a, b):
        if is_call(a):
            return a, b
        if is_call(b):
            return b, a
        raise _NotATest(shape)

    if is_call(test):
        return test, True, None
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and is_call(test.operand):
        return test.operand, False, None
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, op, right = test.left, test.ops[0], test.comparators[0]
        if isinstance(op, ast.Eq):
            call, other = call_and_other(left, right)
            return call, _literal(other, "expected value"), None
        if isinstance(op, ast.Is) and is_call(left):
            if isinstance(right, ast.Constant) and (right.value is None or type(right.value) is bool):
                return left, right.value, None
            raise _NotATest(shape)
        # abs(f(args) - c) < tol, tol > abs(c - f(args)): expected c within tol.
        if isinstance(op, (ast.Lt, ast.LtE)):
            diff, bound = left, right
        elif isinstance(op, (ast.Gt, ast.GtE)):
            diff, bound = right, left
        else:
            raise _NotATest(shape)
        if not (
            isinstance(diff, ast.Call) and isinstance(diff.func, ast.Name) and diff.func.id == "abs"
            and len(diff.args) == 1 and not diff.keywords
            and isinstance(diff.args[0], ast.BinOp) and isinstance(diff.args[0].op, ast.Sub)
        ):
            raise _NotATest(shape)
        call, other = call_and_other(diff.args[0].left, diff.args[0].right)
        expected = _number(_literal(other, "expected value"))
        return call, expected, _tolerance(bound, "tolerance")
    # math.isclose(f(args), c, rel_tol=r, abs_tol=a): expected c within max(r * |c|, a).
    if (
        isinstance(test, ast.Call) and len(test.args) == 2
        and (
            (isinstance(test.func, ast.Name) and test.func.id == "isclose")
            or (isinstance(test.func, ast.Attribute) and test.func.attr == "isclose"
                and isinstance(test.func.value, ast.Name) and test.func.value.id == "math")
        )
    ):
        call, other = call_and_other(test.args[0], test.args[1])
        expected = _number(_literal(other, "expected value"))
        tol = {"rel_tol": 1e-9, "abs_tol": 0.0}
        for kw in test.keywords:
            if kw.arg not in tol:
                raise _NotATest(shape)
            tol[kw.arg] = _tolerance(kw.value, "tolerance")
        atol = max(tol["rel_tol"] * abs(expected), tol["abs_tol"])
        if not math.isfinite(atol):
            raise _NotATest("tolerance is not a finite non-negative number")
        return call, expected, atol
    raise _NotATest(shape)


def _test_src(node):
    """An assert as one line (`ast.unparse`), its message dropped."""
    node.msg = None
    return " ".join(ast.unparse(node).split())


def _shown(node, text):
    """A rejected assert, for people: one line, cut at REPR_CAP characters."""
    try:
        src = _test_src(node)
    except (ValueError, MemoryError, RecursionError):
        src = " ".join((ast.get_source_segment(text, node) or "assert ...").split())
    return src if len(src) <= REPR_CAP else src[:REPR_CAP] + "..."


def _statements(text):
    """(statements, whole): the statements of `text` in order, each (module, its source). When the
    text parses (`whole`), it is the one entry. Else its statements one by one (a statement may span
    lines; lines that never parse are skipped), with (None, line) for each line that starts with
    `assert` and never parses."""
    try:
        return [(ast.parse(text), text)], True
    except _PARSE_ERRORS:
        pass
    lines = text.split("\n")
    out = []
    budget = _PARSE_TESTS_JOIN_BUDGET
    i = 0
    while i < len(lines):
        first = lines[i]
        head = first.lstrip()
        if not head or head.startswith("#"):
            i += 1
            continue
        indent = first[: len(first) - len(head)]
        block = head
        end = None
        for j in range(i, min(i + _PARSE_TESTS_JOIN_LINES, len(lines))):
            if j > i:
                nxt = lines[j]
                block += "\n" + (nxt[len(indent) :] if nxt.startswith(indent) else nxt.lstrip())
                budget -= len(block)
            try:
                tree = ast.parse(block)
            except _PARSE_ERRORS:
                if (j == i and not _JOINABLE.match(head)) or budget <= 0:
                    break
                continue
            end = j
            out.append((tree, block))
            break
        if end is None:
            if _ASSERT_LINE.match(head):
                out.append((None, head))
            i += 1
        else:
            i = end + 1
    return out, False


def parse_tests(req):
    entry_point, source, limit = req["entry_point"], req["source"], req["limit"]
    if len(source) > PARSE_TESTS_MAX_SOURCE:
        raise Refused(
            f"parse_tests: the source is {len(source)} characters long, more than the "
            f"{PARSE_TESTS_MAX_SOURCE} accepted"
        )
    if not entry_point.isidentifier():
        raise Refused(f"parse_tests: the entry point `{entry_point[:100]}` is not a Python name")
    # Markdown code fences go; the lines between them stay where they were.
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    text = "\n".join("" if line.lstrip().startswith("```") else line for line in lines)
    previous_digits = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else None
    if previous_digits is not None:
        sys.set_int_max_str_digits(_PARSE_TESTS_MAX_DIGITS)
    try:
        chunks, whole = _statements(text)
        names = frozenset([entry_point])
        if not whole:
            # A function cut apart by a line that does not parse loses its header: the parameter of
            # every one-parameter function in the text may call the entry point.
            names |= {m.group(1) for m in map(_ONE_PARAM_DEF.match, text.split("\n")) if m}
        tests, rejected, seen = [], [], set()
        duplicates = beyond = 0
        for tree, chunk in chunks:
            if tree is None:
                src = " ".join(chunk.split())
                src = src if len(src) <= REPR_CAP else src[:REPR_CAP] + "..."
                rejected.append({"src": src, "reason": "does not parse"})
                continue
            for node, ns in _asserts(tree, names):
                try:
                    call, expected, atol = _value_test(node.test, entry_point, ns)
                    if call.keywords:
                        raise _NotATest("keyword arguments are not supported")
                    if any(isinstance(a, ast.Starred) for a in call.args):
                        raise _NotATest("starred arguments are not supported")
                    args = [_literal(a, "argument") for a in call.args]
                    args_wire, ok_args = encode(args)
                    expected_wire, ok_expected = encode(expected)
                    if not (ok_args and ok_expected):
                        raise _NotATest("value has no wire encoding")
                    key = json.dumps([args_wire, expected_wire, atol], sort_keys=True)
                    call.func = ast.Name(entry_point, ast.Load())
                    src = _test_src(node)
                except _NotATest as e:
                    rejected.append({"src": _shown(node, chunk), "reason": str(e)})
                    continue
                except (ValueError, MemoryError, RecursionError):
                    rejected.append({"src": _shown(node, chunk), "reason": "too large or deep to handle"})
                    continue
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                if limit and len(tests) >= limit:
                    beyond += 1
                    continue
                test = {"args": args_wire, "expected": expected_wire, "src": src}
                if atol is not None:
                    test["atol"] = atol
                tests.append(test)
    finally:
        if previous_digits is not None:
            sys.set_int_max_str_digits(previous_digits)
    return {"tests": tests, "rejected": rejected, "duplicates": duplicates, "beyond_limit": beyond}
