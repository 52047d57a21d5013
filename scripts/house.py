#!/usr/bin/env python3
"""The house rules that a compiler does not check (STYLE.md), checked for CI.

1. No source file (crates/*/src/**.rs, the Python files the crates ship, and the integration
   tests in crates/*/tests) holds more than LIMIT lines of logic: lines that are not blank, not
   comments and not docstrings, outside `#[cfg(test)]` modules.
2. No import circle between the modules of a crate: module `a` naming `crate::b` and `b` naming
   `crate::a` (directly or through others) is a circle. A module naming its own ancestor or
   descendant is not (a parent declares its children, children use its items).
3. No block of WINDOW or more logic lines repeated in product code, compared after trimming
   whitespace. Test modules are left out. A repetition the project argues for is listed in
   ALLOWED_REPEATS with its reason.

Prints what it finds and exits 1 when a rule is broken. `--report` prints the largest files too.
Run from anywhere: `python3 scripts/house.py`.
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

LIMIT = 600
WINDOW = 6
ROOT = Path(__file__).resolve().parent.parent

# (file, first repeated line) pairs the project keeps on purpose, with the reason.
ALLOWED_REPEATS: dict[tuple[str, str], str] = {}


def rust_logic_lines(text: str) -> list[tuple[int, str]]:
    """Lines of logic of a Rust file, with their line numbers, test modules removed."""
    lines = text.split("\n")
    out = []
    in_block_comment = 0
    skip_depth = None  # brace depth at which a #[cfg(test)] module ends
    depth = 0
    pending_test_attr = False
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if in_block_comment:
            in_block_comment += line.count("/*") - line.count("*/")
            continue
        if line.startswith("/*"):
            in_block_comment = line.count("/*") - line.count("*/")
            continue
        if not line or line.startswith("//"):
            continue
        code = strip_strings_and_comments(line)
        opens, closes = code.count("{"), code.count("}")
        if skip_depth is not None:
            depth += opens - closes
            if depth <= skip_depth:
                skip_depth = None
            continue
        if line.startswith("#[cfg(test)]"):
            pending_test_attr = True
            continue
        if pending_test_attr and re.match(r"(pub(\(\w+\))?\s+)?mod\s+\w+\s*\{", line):
            pending_test_attr = False
            skip_depth = depth
            depth += opens - closes
            if depth <= skip_depth:
                skip_depth = None
            continue
        pending_test_attr = False
        depth += opens - closes
        out.append((number, line))
    return out


def strip_strings_and_comments(line: str) -> str:
    """The line without string literals and trailing comments, for counting braces."""
    line = re.sub(r'r#*"[^"]*"#*', '""', line)
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split("//", 1)[0]


def python_logic_lines(text: str) -> list[tuple[int, str]]:
    """Lines of logic of a Python file: no blanks, comments or docstrings."""
    out = []
    in_doc = None
    previous = ""
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if in_doc:
            if in_doc in line:
                in_doc = None
            continue
        if not line or line.startswith("#"):
            continue
        starts_doc = line[:3] in ('"""', "'''") and (
            previous.endswith(":") or previous == "" or not out
        )
        if starts_doc:
            quote = line[:3]
            if line.count(quote) == 1:
                in_doc = quote
            continue
        out.append((number, line))
        previous = line
    return out


def product_files() -> list[Path]:
    files = sorted(ROOT.glob("crates/*/src/**/*.rs"))
    files += sorted(ROOT.glob("crates/*/src/**/*.py"))
    files += sorted(ROOT.glob("crates/*/python/**/*.py"))
    return files


def test_files() -> list[Path]:
    return sorted(ROOT.glob("crates/*/tests/**/*.rs"))


def logic_lines(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return python_logic_lines(text)
    return rust_logic_lines(text)


def module_path(crate_src: Path, path: Path) -> tuple[str, ...]:
    """`src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`; `lib.rs`/`main.rs` the root `()`."""
    parts = list(path.relative_to(crate_src).with_suffix("").parts)
    if parts[-1] == "mod" or parts == ["lib"] or parts == ["main"]:
        parts.pop()
    return tuple(parts)


def resolve(modules: set[tuple[str, ...]], here: tuple[str, ...], words: list[str]):
    """The module a path like `crate::a::b::Item` or `super::c` names (its longest known prefix)."""
    if words[0] == "crate":
        base, words = (), words[1:]
    elif words[0] == "super":
        base = here[:-1]
        words = words[1:]
        while words and words[0] == "super":
            base, words = base[:-1], words[1:]
    else:
        return None
    best = None
    for i in range(len(words) + 1):
        candidate = base + tuple(words[:i])
        if candidate in modules:
            best = candidate
    return best


def circles() -> list[list[str]]:
    """Import circles between modules of a crate; a module and its ancestors are one module."""
    found = []
    for crate_src in sorted(ROOT.glob("crates/*/src")):
        files = {module_path(crate_src, p): p for p in crate_src.glob("**/*.rs")}
        modules = set(files)
        edges: dict[tuple[str, ...], set[tuple[str, ...]]] = defaultdict(set)
        for here, path in files.items():
            for _, line in rust_logic_lines(path.read_text(encoding="utf-8")):
                paths = re.findall(r"\b((?:crate|super)(?:::\w+)+)", line)
                for group_head, group in re.findall(r"\b((?:crate|super)(?:::\w+)*)::\{([^}]*)", line):
                    paths += [f"{group_head}::{name}" for name in re.findall(r"(\w+)(?:::|\s*,|\s*$)", group)]
                for text in paths:
                    target = resolve(modules, here, text.split("::"))
                    if target is None or target == here:
                        continue
                    if here[: len(target)] == target or target[: len(here)] == here:
                        continue  # a module and its ancestor or descendant
                    edges[here].add(target)
        for cycle in strongly_connected(edges):
            if len(cycle) > 1:
                names = sorted("::".join(m) or "(root)" for m in cycle)
                found.append([crate_src.parent.name] + names)
    return found


def strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            result.append(component)

    for node in list(edges):
        if node not in index:
            visit(node)
    return result


def substantive(line: str) -> bool:
    """A line that says something: not an import, attribute or bracket."""
    if line.startswith(("use ", "pub use ", "#[", "import ", "from ")):
        return False
    return len(re.sub(r"[\s{}()\[\];,]", "", line)) > 12


def repeats(files: dict[Path, list[tuple[int, str]]]) -> list[str]:
    seen: dict[tuple[str, ...], tuple[Path, int]] = {}
    found = []
    reported: set[tuple[Path, Path]] = set()
    for path, lines in files.items():
        last_hit = -WINDOW
        for i in range(len(lines) - WINDOW + 1):
            window = tuple(text for _, text in lines[i : i + WINDOW])
            if sum(substantive(text) for text in window) < WINDOW - 1:
                continue
            first = seen.get(window)
            if first is None:
                seen[window] = (path, lines[i][0])
                continue
            if first[0] == path and lines[i][0] - first[1] < WINDOW:
                continue
            rel = str(path.relative_to(ROOT))
            if (rel, window[0]) in ALLOWED_REPEATS or i - last_hit < WINDOW:
                last_hit = i
                continue
            last_hit = i
            pair = (first[0], path)
            if pair in reported:
                continue
            reported.add(pair)
            found.append(
                f"{rel}:{lines[i][0]} repeats {first[0].relative_to(ROOT)}:{first[1]}"
                f" ({WINDOW}+ lines from `{window[0][:60]}`)"
            )
    return found


def main() -> int:
    files = {path: logic_lines(path) for path in product_files()}
    tests = {path: logic_lines(path) for path in test_files()}
    broken = False
    sizes = sorted(
        ((len(lines), path) for path, lines in {**files, **tests}.items()), reverse=True
    )
    if "--report" in sys.argv:
        for size, path in sizes[:15]:
            print(f"{size:5} {path.relative_to(ROOT)}")
    for size, path in sizes:
        if size > LIMIT:
            broken = True
            print(f"too long: {path.relative_to(ROOT)} has {size} lines of logic (limit {LIMIT})")
    for cycle in circles():
        broken = True
        print(f"import circle in {cycle[0]}: {' <-> '.join(cycle[1:])}")
    for line in repeats(files):
        broken = True
        print(f"repeated block: {line}")
    if broken:
        return 1
    print(
        f"house rules hold: {len(files)} product and {len(tests)} test files,"
        f" the longest {sizes[0][0]} lines of logic"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
