# codeloop Python judge: the trusted side of the Python runtime.
#
# Runs as `python -I -S -c <this file>` outside any sandbox and never executes candidate code. It
#   - prepares test suites from trusted dataset code: extracts the calls in a docstring's examples with
#     Python's own parser, and records the calls that a test script (HumanEval's `check`, MBPP's asserts)
#     makes, by running it once against the canonical solution;
#   - reads value tests from the asserts a model wrote (`parse_tests`), with Python's parser only: that
#     text is never run;
#   - compares the values a candidate returned (wire-encoded, see wire.py) with expected values, with
#     Python's own semantics, or by replaying the recorded test statement with the candidate's values.
# Test statements are recorded and replayed without their assert messages (see "Assert messages").
# Test code's prints go nowhere: the judge's stdout is its protocol channel.
# Protocol (codeloop-sandbox's `protocol::judge` holds its types and documents each op): one JSON
# request per line on stdin, one JSON reply per line on stdout: {"ok": payload}, or
# {"error": {"message": ..., "trace": ..., "reload": ..., "protocol": ...}} for a request that
# failed, after which the judge keeps serving. Every request is checked before it is carried out
# (see `validate`): a malformed one is refused with a message naming what is wrong. The first
# request is a `hello` carrying the protocol version, which must be PROTOCOL_VERSION.
import ast
import builtins
import json
import math
import random
import re
import sys
import time
import traceback

REPR_CAP = 2000

class Refused(Exception):
    """A request the judge answers with an error (not a failure of its own code)."""

    def __init__(self, message, reload=False, protocol=None):
        super().__init__(message)
        self.reload, self.protocol = reload, protocol


def encode(v):
    """(wire, True) for a value with an exact encoding (arguments), else (None, False)."""
    try:
        return wire_encode(v, strict=True), True
    except Unencodable:
        return None, False


class Opaque:
    """A value the program returned that has no encoding; equal to nothing."""

    def __init__(self, tname, r):  # the signature `wire_decode` calls for an opaque tag
        self.tname, self.r = tname, r

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<{self.tname} object: {self.r}>"


def decode(w):
    return wire_decode(w, Opaque)


def short_repr(v):
    return safe_repr(v, REPR_CAP)


def args_repr(args):
    return ", ".join(short_repr(a) for a in args)


# ----------------------------------------------------------------------------------------------------
# doc_calls: the calls to the entry point in a prompt's examples.


def doc_calls(prompt, entry_point):
    text = None
    arity = (0, 1 << 30)
    try:
        tree = ast.parse(prompt)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
                text = ast.get_docstring(node, clean=False)
                a = node.args
                positional = len(a.posonlyargs) + len(a.args)
                arity = (positional - len(a.defaults), (1 << 30) if a.vararg else positional)
    except SyntaxError:
        pass
    if text is None:
        text = prompt
    calls, seen = [], set()
    pos = 0
    needle = entry_point + "("
    while True:
        start = text.find(needle, pos)
        if start < 0:
            break
        pos = start + 1
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_."):
            continue
        # Try every closing parenthesis until the text parses as one call (strings may hold parens).
        end = start
        while True:
            end = text.find(")", end + 1)
            if end < 0:
                break
            src = text[start : end + 1]
            try:
                node = ast.parse(src, mode="eval").body
            except SyntaxError:
                continue
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point):
                break
            # Prose mentions ("write a function f() that ...") are not examples: the arity must fit.
            if node.keywords or not arity[0] <= len(node.args) <= arity[1]:
                break
            try:
                args = [ast.literal_eval(a) for a in node.args]
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                break
            wire, ok = encode(args)
            key = json.dumps(wire, sort_keys=True)
            if ok and key not in seen:
                seen.add(key)
                calls.append({"args": wire, "src": " ".join(src.split())})
            break
    return {"calls": calls}


# ----------------------------------------------------------------------------------------------------
# Assert messages. Python evaluates an assert's message only when the assert fails, and a message may
# call the entry point again (HumanEval/77: `assert candidate(1) == True, "..." + str(candidate(1))`),
# raise, or print. Recorded against the reference, such a message never runs; replayed with a wrong
# answer, it would make calls the recording does not hold. Its value never decides anything (a failing
# assert fails its test whatever the message does), so every assert of a test statement loses its
# message before the statement is recorded, replayed, or run inline in the sandbox: the calls recorded
# and the calls replayed are then the same by construction.


class _DropAssertMessages(ast.NodeTransformer):
    def visit_Assert(self, node):
        self.generic_visit(node)
        node.msg = None
        return node


def _has_assert_message(tree):
    return any(isinstance(n, ast.Assert) and n.msg is not None for n in ast.walk(tree))


def without_assert_messages(src):
    """`src` with no assert message; the same text when it has none (or does not parse: compiling it
    reports that)."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return src
    if not _has_assert_message(tree):
        return src
    return ast.unparse(_DropAssertMessages().visit(tree))


# ----------------------------------------------------------------------------------------------------
# record: run a trusted test script against the canonical solution, logging the calls it makes.


class _Log:
    def __init__(self):
        self.calls = []
        self.cpu_ms = []
        self.encodable = True


def _split_check(test_source):
    """Returns (prelude source, [statement source], parameter name) for a `check(candidate)` script."""
    tree = ast.parse(test_source)
    prelude, body = [], None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            body = node.body
        else:
            prelude.append(node)
    if body is None:
        raise ValueError("test has no `def check(candidate)`")
    param = tree.body and [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"][0].args.args
    if not param:
        raise ValueError("`check` takes no parameter")
    stmts = [ast.unparse(_DropAssertMessages().visit(s)) for s in body]
    return ast.unparse(ast.Module(prelude, [])), stmts, param[0].arg


def _namespace(program, prelude):
    ns = {"__name__": "__codeloop_test__", "__builtins__": builtins}
    exec(compile(program, "<reference>", "exec"), ns)
    if prelude:
        exec(compile(prelude, "<test>", "exec"), ns)
    return ns


def record(req):
    style = req["style"]
    entry = req["entry_point"]
    if style == "asserts":
        prelude, stmts = req.get("prelude", ""), [without_assert_messages(t) for t in req["statements"]]
        bind = entry
    else:
        prelude, stmts, bind = _split_check(req["test"])
    ns = _namespace(req["program"], prelude)
    real = ns[entry]
    random.seed(0)
    tests, failures = [], []
    for idx, stmt in enumerate(stmts):
        rec = _Log()
        outputs = []

        def call(*args, _rec=rec, _outs=outputs):
            wire, ok = encode(list(args))
            if not ok:
                _rec.encodable = False
            _rec.calls.append(wire)
            t0 = time.process_time()
            out = real(*args)
            _rec.cpu_ms.append((time.process_time() - t0) * 1000.0)
            _outs.append(out)
            return out

        ns[bind] = call
        try:
            exec(compile(stmt, "<test>", "exec"), ns)
            err = None
        except BaseException as e:  # noqa: BLE001 - a failing reference is reported, not fatal
            err = f"{type(e).__name__}: {e}"
        if rec.calls:
            disp = [args_repr(decode(w)) if w is not None else "<unencodable>" for w in rec.calls]
            tests.append({
                "index": idx,
                "src": stmt,
                "calls": rec.calls if rec.encodable else [],
                "inline": not rec.encodable,
                "inputs": disp,
                "outputs": [short_repr(o) for o in outputs],
                "cpu_ms": rec.cpu_ms,
            })
        if err is not None:
            failures.append({"index": idx, "src": stmt, "error": err})
    return {"prelude": prelude, "statements": stmts, "bind": bind, "tests": tests, "failures": failures}


# ----------------------------------------------------------------------------------------------------
# load + judge


SUITES = {}


def is_floats(x):
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    return False


def _flat(x):
    if isinstance(x, (list, tuple)):
        out = []
        for i in x:
            out.extend(_flat(i))
        return out
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError("not numeric")
    return [x]


def allclose(a, b, rtol, atol):
    fa, fb = _flat(a), _flat(b)
    if len(fa) != len(fb):
        return False
    for x, y in zip(fa, fb):
        if math.isinf(x) or math.isinf(y):
            if x != y:
                return False
        elif not abs(x - y) <= atol + rtol * abs(y):
            return False
    return True


def _poly(xs, x):
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def values_match(out, exp, atol, special=None, args=None):
    """EvalPlus's comparison: exact, else allclose(rtol=1e-7, atol) for float results; plus the
    special oracles EvalPlus applies to a few tasks."""
    if special == "any":  # MBPP+ are_equivalent: the task's statement admits any answer
        return True
    if special == "not_none":  # MBPP+ regex tasks: only whether a match was found counts
        return (out is not None) == (exp is not None)
    if special == "zero_ok":  # MBPP+ sum_div: 0 is accepted as well
        try:
            if out == 0:
                return True
        except Exception:
            return False
    if special == "find_zero":
        try:
            return abs(_poly(args[0], out)) <= (atol or 1e-6)
        except Exception:
            return False
    try:
        if out == exp:
            return True
    except Exception:
        return False
    if atol == 0 and is_floats(exp):
        atol = 1e-6
    if atol == 0:
        return False
    if type(out) is not type(exp):
        return False
    if isinstance(exp, (list, tuple)) and len(out) != len(exp):
        return False
    try:
        return allclose(out, exp, 1e-7, atol)
    except Exception:
        return False


def load(req):
    spec = req["spec"]
    suite = {"spec": spec}
    if spec.get("replay"):
        r = spec["replay"]
        suite["base"] = _namespace(r["program"], r["prelude"])
        # Suites recorded before assert messages were dropped (a cached preparation) hold them still.
        suite["src"] = [without_assert_messages(stmt) for stmt in r["statements"]]
        # Compiled once here, not per candidate: judging runs once per sample.
        suite["code"] = [compile(stmt, "<test>", "exec") for stmt in suite["src"]]
    SUITES[req["key"]] = suite
    return {}


def unload(req):
    SUITES.pop(req["key"], None)
    return {}


class _Diverged(BaseException):
    """The replayed statement left its recording. A BaseException, so that test code catching
    `Exception` cannot swallow it; the proxy also notes it, for bare `except:`."""


def _failed_line(e, src):
    """The line of a multi-line test statement (a loop of asserts) that raised `e`, else None."""
    if "\n" not in src.strip():
        return None
    line = None
    for frame, lineno in traceback.walk_tb(e.__traceback__):
        if frame.f_code.co_filename == "<test>":
            line = lineno
    lines = src.splitlines()
    if line is None or not 1 <= line <= len(lines):
        return None
    return lines[line - 1].strip()


def _failure(got, e, src):
    """The judgement of a statement that raised `e` (a failing assert, or the test's own code choking on
    a returned value): a wrong answer."""
    res = {"pass": False, "got": [short_repr(g) for g in got]}
    if isinstance(e, AssertionError):
        detail = str(e)
        where = _failed_line(e, src)
        if not detail and where is not None:
            detail = f"failed: {where}"
    else:
        detail = f"{type(e).__name__}: {e}"
    if detail:
        res["detail"] = detail[:500]
    return res


def _replay(suite, values):
    """Re-run the recorded statements with the candidate's values. values: {test: [wire...]}."""
    spec = suite["spec"]
    r = spec["replay"]
    ns = dict(suite["base"])
    bind = r["bind"]
    tests = spec["tests"]
    by_stmt = {t["stmt"]: ti for ti, t in enumerate(tests)}
    out = {}
    random.seed(0)
    for idx, stmt in enumerate(suite["code"]):
        ti = by_stmt.get(idx)
        if ti is None:
            # Setup statement (no call to the entry point when recorded): run it; a failure here is
            # the reference's problem, and a call now reaches no one.
            def no_call(*a):
                raise _Diverged

            ns[bind] = no_call
            try:
                exec(stmt, ns)
            except BaseException:
                pass
            continue
        if ti not in values:
            # Not judged now (its calls did not all return): keep the namespace going with no calls.
            ns[bind] = lambda *a: None
            try:
                exec(stmt, ns)
            except BaseException:
                pass
            continue
        got = [decode(w) for w in values[ti]]
        recorded = tests[ti]["calls"]
        state = {"next": 0, "diverged": None}

        def proxy(*args, _got=got, _rec=recorded, _state=state, _idx=idx):
            j = _state["next"]
            _state["next"] += 1
            if j >= len(_got):
                _state["diverged"] = (
                    f"test statement {_idx} made call {j + 1} to `{bind}({args_repr(args)[:200]})`, but only "
                    f"{len(_rec)} when recorded against the reference: its calls depend on the values "
                    "returned, which replay cannot follow"
                )
                raise _Diverged
            wire, _ = encode(list(args))
            if wire != _rec[j]:
                shown = args_repr(decode(_rec[j]))[:200] if _rec[j] is not None else "<unencodable>"
                _state["diverged"] = (
                    f"test statement {_idx} called `{bind}({args_repr(args)[:200]})` as call {j + 1}, where the "
                    f"recording has `{bind}({shown})`: its calls depend on the values returned, which replay "
                    "cannot follow"
                )
                raise _Diverged
            return _got[j]

        ns[bind] = proxy
        src = suite["src"][idx]
        try:
            exec(stmt, ns)
            err = None
        except BaseException as e:  # noqa: BLE001 - a failing test is a verdict
            err = e
        if state["diverged"] is not None:
            out[ti] = {"pass": False, "harness": state["diverged"]}
        elif err is None:
            out[ti] = {"pass": True}
        else:
            out[ti] = _failure(got, err, src)
    return out


def judge(req):
    suite = SUITES.get(req["key"])
    if suite is None:
        raise Refused(f"suite `{req['key']}` not loaded", reload=True)
    spec = suite["spec"]
    values = {int(k): v for k, v in req["values"].items()}
    if spec.get("replay"):
        res = _replay(suite, values)
    else:
        res = {}
        atol = spec.get("atol", 0) or 0
        # Per-test tolerances (model-written `abs(f(x) - c) < t` tests), by test index.
        atols = spec.get("atols") or {}
        special = spec.get("special")
        # Expected values (and arguments, for the oracles that need them) come with the request;
        # a spec may list them instead (suites built by hand).
        given = req.get("tests") or {}
        for ti, ws in values.items():
            t = given.get(str(ti)) or spec["tests"][ti]
            out = decode(ws[0])
            exp = decode(t["expected"])
            args = decode(t["args"]) if special and "args" in t else None
            if values_match(out, exp, atols.get(str(ti), atol), special, args):
                res[ti] = {"pass": True}
            else:
                res[ti] = {"pass": False, "got": [short_repr(out)]}
    return {"results": {str(k): v for k, v in res.items()}}


def _tuples(x):
    return tuple(_tuples(i) for i in x) if isinstance(x, list) else x


# MBPP+ inputs are stored as JSON, which has no tuple, set or complex: these MBPP+ tasks take such
# arguments, so their inputs are rebuilt the way EvalPlus does when it loads the dataset. Each entry:
# task numbers -> how one argument list is rebuilt.
_MBPP_INPUT_TYPES = [
    ({2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740, 744, 809},
     lambda a: [tuple(x) for x in a]),
    ({63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780},
     lambda a: [[tuple(x) for x in xs] for xs in a]),
    ({75, 413, 444, 753}, lambda a: [[tuple(x) for x in a[0]], a[1]]),
    ({106, 750}, lambda a: [a[0], tuple(a[1])]),
    ({115}, lambda a: [[set(x) if isinstance(x, list) and x else {} for x in a[0]]]),
    ({124}, lambda a: (float(a[0]), complex(a[1]))),
    ({250, 405, 446, 617, 720, 763, 808}, lambda a: [tuple(a[0]), a[1]]),
    ({259, 401, 445}, lambda a: [tuple(tuple(x) for x in xs) for xs in a]),
    ({278}, lambda a: [tuple(tuple(x) if isinstance(x, list) else x for x in a[0])]),
    ({307}, lambda a: [tuple(a[0]), a[1], a[2]]),
    ({722}, lambda a: [{k: tuple(v) for k, v in a[0].items()}] + a[1:]),
    ({252}, lambda a: [complex(a[0])]),
    ({580, 615, 791}, _tuples),
]


def _mbpp_rebuild(task, args):
    for tasks, fix in _MBPP_INPUT_TYPES:
        if task in tasks:
            return list(fix(args))
    return args


def inputs_to_wire(req):
    """EvalPlus inputs (a JSON list of argument lists, as Python's json reads it) to wire form."""
    inputs = json.loads(req["raw"])
    if req.get("mbpp_task") is not None:
        inputs = [_mbpp_rebuild(req["mbpp_task"], args) for args in inputs]
    wires, shown = [], []
    for args in inputs:
        if not isinstance(args, list):
            raise ValueError(f"an input is not a list of arguments: {short_repr(args)[:100]}")
        w, ok = encode(args)
        if not ok:
            raise ValueError("an input has no value encoding")
        wires.append(w)
        shown.append(args_repr(args))
    return {"inputs": wires, "shown": shown}


def mbpp_entry(req):
    """The function of `code` that the first test calls (MBPP records name no entry point)."""
    defs = [n.name for n in ast.walk(ast.parse(req["code"])) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    for node in ast.walk(ast.parse(req["test"])):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in defs:
            return {"entry_point": node.func.id}
    raise ValueError("the first test calls no function the reference defines")


class _Discard:
    def write(self, text):
        return len(text)

    def flush(self):
        pass


# ----------------------------------------------------------------------------------------------------
# The protocol: checking requests, dispatching them.


def hello(req):
    message = version_mismatch(req["protocol"], "judge")
    if message is not None:
        raise Refused(message, protocol=PROTOCOL_VERSION)
    return {"protocol": PROTOCOL_VERSION}


_OPS = {
    "hello": hello,
    "ping": lambda r: {},
    "doc_calls": lambda r: doc_calls(r["prompt"], r["entry_point"]),
    "record": record,
    "load": load,
    "unload": unload,
    "judge": judge,
    "inputs_to_wire": inputs_to_wire,
    "mbpp_entry": mbpp_entry,
    "parse_tests": parse_tests,
}

# Per op, its required fields and their JSON types; (type, None) is an optional field.
_FIELDS = {
    "hello": {"protocol": int},
    "ping": {},
    "doc_calls": {"prompt": str, "entry_point": str},
    "record": {"style": str, "entry_point": str, "program": str},
    "load": {"key": str, "spec": dict},
    "unload": {"key": str},
    "judge": {"key": str, "values": dict, "tests": (dict, None)},
    "inputs_to_wire": {"raw": str, "mbpp_task": (int, None)},
    "mbpp_entry": {"code": str, "test": str},
    "parse_tests": {"entry_point": str, "source": str, "limit": int},
}
_RECORD_STYLES = {"check": {"test": str}, "asserts": {"statements": list, "prelude": str}}
def validate(req):
    """The op of a request, once its required fields are there with the right types."""
    if not isinstance(req, dict):
        raise Malformed("not a JSON object")
    op = req.get("op")
    if op is None:
        raise Malformed("no `op`")
    if not isinstance(op, str) or op not in _FIELDS:
        raise Malformed(f"unknown op `{op}`")
    check_fields(_FIELDS[op], req, f"op `{op}`")
    if op == "record":
        style = _RECORD_STYLES.get(req["style"])
        if style is None:
            raise Malformed(f"op `record` has an unknown style `{req['style']}`")
        check_fields(style, req, "op `record`")
    if op == "parse_tests" and req["limit"] < 0:
        raise Malformed("op `parse_tests` needs field `limit` (a non-negative integer)")
    return op


def handle(line):
    """The reply to one request line."""
    try:
        try:
            req = json.loads(line)
        except ValueError:
            raise Malformed("not a JSON object") from None
        return {"ok": _OPS[validate(req)](req)}
    except Malformed as e:
        return {"error": {"message": f"malformed request: {e}"}}
    except Refused as e:
        return {"error": {"message": str(e), "reload": e.reload, "protocol": e.protocol}}
    except BaseException as e:  # noqa: BLE001 - report, keep serving
        return {"error": {"message": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-2000:]}}


def main():
    sys.setrecursionlimit(10000)
    inp = sys.stdin.buffer
    out = sys.stdout
    # Test code that prints (a test's own `print`, a helper's debugging output) must not write into
    # the protocol channel: whatever it prints is dropped.
    sys.stdout = _Discard()
    while True:
        line = inp.readline()
        if not line:
            return
        out.write(json.dumps(handle(line), separators=(",", ":")) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
