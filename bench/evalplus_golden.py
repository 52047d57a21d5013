#!/usr/bin/env python3
"""Samples for the EvalPlus golden files (see bench/evalplus_golden.sh, which runs this script inside
a venv holding EvalPlus 0.3.1 and then scores its output with EvalPlus's own evaluator).

For every task of HumanEval+ or MBPP+ it writes the canonical solution and up to `--per-task`
mutants of it: the canonical program with one small change of the kind a wrong program makes (a
flipped comparison, an off-by-one constant, `return None`, `and`/`or` swapped, an arithmetic operator
swapped, a dropped `not`, `min`/`max` swapped, `True`/`False` swapped), plus on a few tasks a program
that does not load (a syntax error, a name error at import, the entry point misnamed) or that exits,
and hand-written wrong programs where an input's serialization matters (see HAND_WRITTEN).

The dataset is read through EvalPlus itself (`get_human_eval_plus` / `get_mbpp_plus`, which honour
HUMANEVAL_OVERRIDE_PATH / MBPP_OVERRIDE_PATH), so inputs are exactly the ones EvalPlus calls with.

Each mutant is screened before it is kept: it runs in a forked child on every base and plus input,
and is dropped if any call takes more than 0.25 s plus twice the canonical solution's time on that
input, if it uses more than 2 GiB, or if its process dies. A golden file must not depend on timing:
EvalPlus's wall-clock limits and codeloop's CPU limits are measured differently, so only programs
far from every limit are kept. The screen also sorts mutants by where they first differ from the
canonical outputs (base inputs, plus inputs only, nowhere), and each task keeps one of each kind
where it has one: the plus-only ones are those EvalPlus's `plus_status` is about.

Deterministic for a given dataset and machine speed class: sites are visited in AST order and the
candidates of a task are tried in an order drawn from SHA-256 hashes, not from a random generator.

Usage: python evalplus_golden.py {humaneval,mbpp} OUT.jsonl [--per-task N]
"""

import argparse
import ast
import copy
import hashlib
import json
import math
import os
import resource
import signal
import sys
import time

FLIP_COMPARE = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
}
SWAP_ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Mod,
              ast.Mod: ast.FloorDiv}
SLACK_S = 0.25
MEMORY = 2 << 30


def sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sites(tree):
    """(kind, description, function mutating a copy of `tree`) for every mutation site."""
    out = []
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    nodes = list(ast.walk(tree))
    for n, node in enumerate(nodes):
        def at(n=n):
            return lambda t: list(ast.walk(t))[n]
        get = at()
        if isinstance(node, ast.Compare) and type(node.ops[0]) in FLIP_COMPARE:
            def flip(t, get=get):
                c = get(t)
                c.ops[0] = FLIP_COMPARE[type(c.ops[0])]()
            out.append(("compare", f"node {n}: flip {type(node.ops[0]).__name__}", flip))
        elif isinstance(node, ast.Constant) and type(node.value) is int and id(node) not in docstrings:
            for delta in (1, -1):
                def shift(t, get=get, delta=delta):
                    get(t).value += delta
                out.append(("constant", f"node {n}: {node.value} -> {node.value + delta}", shift))
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            def negate(t, get=get):
                get(t).value = not get(t).value
            out.append(("bool_const", f"node {n}: {node.value} -> {not node.value}", negate))
        elif isinstance(node, ast.Return) and node.value is not None:
            def none(t, get=get):
                get(t).value = ast.Constant(value=None)
            out.append(("return_none", f"node {n}: return None", none))
        elif isinstance(node, ast.BoolOp):
            def swap(t, get=get):
                b = get(t)
                b.op = ast.Or() if isinstance(b.op, ast.And) else ast.And()
            out.append(("boolop", f"node {n}: and/or swapped", swap))
        elif isinstance(node, ast.BinOp) and type(node.op) in SWAP_ARITH:
            def arith(t, get=get):
                b = get(t)
                b.op = SWAP_ARITH[type(b.op)]()
            out.append(("arith", f"node {n}: {type(node.op).__name__} swapped", arith))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            def drop_not(t, get=get):
                # `not x` becomes `not not x`: the truth value of `x`, as if the `not` were gone.
                u = get(t)
                u.operand = ast.UnaryOp(op=ast.Not(), operand=u.operand)
            out.append(("drop_not", f"node {n}: `not` dropped", drop_not))
        elif isinstance(node, ast.Name) and node.id in ("min", "max"):
            def minmax(t, get=get):
                nm = get(t)
                nm.id = "max" if nm.id == "min" else "min"
            out.append(("min_max", f"node {n}: {node.id} swapped", minmax))
    return out


def mutate(tree, site):
    t = copy.deepcopy(tree)
    site[2](t)
    ast.fix_missing_locations(t)
    return ast.unparse(t) + "\n"


def close(out, exp):
    """Only to sort mutants (EvalPlus decides): equal, or floats equal to EvalPlus's tolerance."""
    try:
        if out == exp:
            return True
        if isinstance(exp, float) and isinstance(out, (int, float)):
            return math.isclose(out, exp, rel_tol=1e-7, abs_tol=1e-6)
        if isinstance(exp, (list, tuple)) and isinstance(out, (list, tuple)) and len(out) == len(exp):
            return all(close(a, b) for a, b in zip(out, exp))
    except Exception:
        return False
    return False


def run_child(program, entry, groups, budgets):
    """Forks; the child runs `entry` of `program` on each group's inputs. Returns (verdict, detail):
    verdict `load`, `slow`, `died`, or `ran` with the first differing index per group (None: none)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            sys.setrecursionlimit(10000)
            result = {}
            try:
                glb = {}
                exec(compile(program, "solution.py", "exec"), glb)
                fn = glb[entry]
            except BaseException:
                result = {"verdict": "load"}
            else:
                def alarm(*_):
                    raise TimeoutError("slow")
                signal.signal(signal.SIGALRM, alarm)
                first = {}
                for name, (inputs, expected) in groups.items():
                    first[name] = None
                    for i, (inp, exp) in enumerate(zip(inputs, expected)):
                        budget = budgets[name][i]
                        t0 = time.perf_counter()
                        signal.setitimer(signal.ITIMER_REAL, budget)
                        try:
                            out = fn(*copy.deepcopy(inp))
                            ok = close(out, exp)
                        except TimeoutError:
                            result = {"verdict": "slow"}
                            break
                        except BaseException:
                            ok = False
                        finally:
                            signal.setitimer(signal.ITIMER_REAL, 0)
                        if time.perf_counter() - t0 > budget:
                            result = {"verdict": "slow"}
                            break
                        if not ok and first[name] is None:
                            first[name] = i
                    if result:
                        break
                if not result:
                    result = {"verdict": "ran", "first": first}
            os.write(w, json.dumps(result).encode())
        except BaseException:
            code = 1
        os._exit(code)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if status != 0 or not chunks:
        return {"verdict": "died"}
    return json.loads(b"".join(chunks))


def reference(problem, inputs):
    """Canonical outputs and times, as EvalPlus's `trusted_exec` computes them."""
    glb = {}
    exec(problem["prompt"] + problem["canonical_solution"], glb)
    fn = glb[problem["entry_point"]]
    outs, times = [], []
    for inp in inputs:
        inp = copy.deepcopy(inp)
        t0 = time.perf_counter()
        outs.append(fn(*inp))
        times.append(time.perf_counter() - t0)
    return outs, times


# Hand-written wrong programs where an input's serialization is worth checking: MBPP+ task 404's
# inputs hold infinities, which Python's json writes as bare `Infinity` tokens.
HAND_WRITTEN = {
    "Mbpp/404": [("infinite", "import math\n\ndef minimum(a, b):\n    if math.isinf(a) or math.isinf(b):\n"
                               "        return 0\n    return min(a, b)\n")],
}


def specials(task_id, program, entry):
    """Programs that do not load or that exit, for a few tasks chosen by hash; hand-written ones."""
    if task_id in HAND_WRITTEN:
        return HAND_WRITTEN[task_id]
    h = int(sha("special:" + task_id), 16) % 23
    if h == 0:
        return [("syntax_error", program.replace("def " + entry + "(", "def " + entry + "((", 1))]
    if h == 1:
        return [("load_error", "_unused = undefined_helper\n" + program)]
    if h == 2:
        return [("misnamed", program.replace("def " + entry + "(", "def " + entry + "_v2(", 1))]
    if h == 3:
        body = program.replace("def " + entry + "(", "def _" + entry + "(", 1)
        return [("exits", body + f"\n\ndef {entry}(*args):\n    import sys\n    sys.exit(0)\n")]
    return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", choices=["humaneval", "mbpp"])
    ap.add_argument("out")
    ap.add_argument("--per-task", type=int, default=5)
    ap.add_argument("--tries", type=int, default=14)
    args = ap.parse_args()
    sys.setrecursionlimit(10000)
    if args.dataset == "humaneval":
        from evalplus.data import get_human_eval_plus as get
    else:
        from evalplus.data import get_mbpp_plus as get
    problems = get()
    rows = []
    kept = {"canonical": 0, "mutant": 0, "special": 0}
    dropped = 0
    for task_id, p in problems.items():
        entry = p["entry_point"]
        canonical = p["prompt"] + p["canonical_solution"]
        base_out, base_t = reference(p, p["base_input"])
        plus_out, plus_t = reference(p, p["plus_input"])
        groups = {"base": (p["base_input"], base_out), "plus": (p["plus_input"], plus_out)}
        budgets = {"base": [SLACK_S + 2 * t for t in base_t], "plus": [SLACK_S + 2 * t for t in plus_t]}
        if args.dataset == "humaneval":
            rows.append({"task_id": task_id, "completion": p["canonical_solution"], "mutation": "canonical"})
        else:
            rows.append({"task_id": task_id, "solution": canonical, "mutation": "canonical"})
        kept["canonical"] += 1
        for kind, program in specials(task_id, canonical, entry):
            rows.append({"task_id": task_id, "solution": program, "mutation": kind})
            kept["special"] += 1
        try:
            tree = ast.parse(canonical)
        except SyntaxError:
            continue
        candidates = sorted(sites(tree), key=lambda s: sha(task_id + "\0" + s[1]))
        seen = {canonical}
        by_class = {"base": [], "plus_only": [], "none": [], "load": []}
        tried = 0
        for site in candidates:
            if tried >= args.tries:
                break
            try:
                program = mutate(tree, site)
                ast.parse(program)
            except Exception:
                continue
            if program in seen:
                continue
            seen.add(program)
            tried += 1
            res = run_child(program, entry, groups, budgets)
            if res["verdict"] in ("slow", "died"):
                dropped += 1
                continue
            if res["verdict"] == "load":
                cls = "load"
            elif res["first"]["base"] is not None:
                cls = "base"
            elif res["first"]["plus"] is not None:
                cls = "plus_only"
            else:
                cls = "none"
            by_class[cls].append((site[0] + ": " + site[1], program))
        # One of each class first (plus-only first: the case `plus_status` is about), then the rest
        # in candidate order, at most one program that differs nowhere.
        chosen = []
        for cls in ("plus_only", "base", "none", "load"):
            if by_class[cls]:
                chosen.append(by_class[cls].pop(0))
        rest = by_class["plus_only"] + by_class["base"] + by_class["load"]
        rest.sort(key=lambda m: sha(task_id + "\0" + m[0]))
        chosen.extend(rest)
        for desc, program in chosen[: args.per_task]:
            rows.append({"task_id": task_id, "solution": program, "mutation": desc})
            kept["mutant"] += 1
        print(f"{task_id}: {min(len(chosen), args.per_task)} mutants", file=sys.stderr, flush=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"{len(rows)} samples ({kept}); {dropped} slow or dying mutants dropped", file=sys.stderr)


if __name__ == "__main__":
    main()
