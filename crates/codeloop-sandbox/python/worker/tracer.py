# codeloop Python worker, part 4 of 6 (see base.py): the tracer of a traced run, the debugger's view
# of one call (LDB's): what the program's functions did, step by step, with their variables.
#
# A traced run (a `calls` request with `trace`) runs each call under `sys.settrace`; a traced
# script run (a stdio test) runs the module's code under it, as call 0. A step is one
# basic block executed (level "block": blocks from the program's syntax tree, below), one line
# ("line") or one function call, closed at its return ("function"). When a step ends, the
# variables of its frame are recorded (their repr, cut at `chars`; modules, functions and classes
# left out), with the value returned or the exception raised when the step ends its function.
# Steps of every function of the program are recorded, in the order they end (a helper's blocks
# come before the block of its caller that called it).
#
# Selective debugging (LDB's): the first `first` steps are written as they end and the last `last`
# are kept in a ring, written when the call ends; `total` counts them all, so a reader knows what
# was cut. A run that ends inside the call (os._exit, a crash, the wall clock) leaves the steps
# already written: a partial trace without its end line.
#
# The trace is untrusted data. It runs in the program's process, which can remove the tracer
# (`sys.settrace(None)`), replace it, or run code of its own in `__repr__` while its variables are
# written. Verdicts never come from a traced run. A trace whose tracer was removed or replaced ends
# "tampered"; one whose call hit a time or memory limit ends "limit".
#
# Lines on the result channel (read by codeloop-sandbox's `trace` module):
#   {"k": "traced", "i": call}: the call's trace begins
#   {"k": "step", "i": call, "n": step number (1-based), "f": function, "b": block or null,
#    "l": [lines executed, in order, without repeats], "v": [[name, repr], ...],
#    "r": repr of the value returned (optional), "x": "Type: message" raised (optional)}
#   {"k": "trace", "i": call, "total": steps, "end": "returned" | "raised" | "limit" | "tampered"}

import collections
import itertools

# The real ones, bound before any program runs (a program may rebind `sys`'s attributes).
_SETTRACE = sys.settrace
_GETTRACE = sys.gettrace

# Frames of these code objects belong to expressions, not to the program's functions.
_EXPRESSION_CODE = frozenset(("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>"))
# At most this many variables per step, and lines per step.
_TRACE_VARS = 40
_TRACE_LINES = 50


def _basic_blocks(source):
    """Line -> basic block number for each statement line of `source`, numbered in source order.
    A block starts at the first statement of each body, at each compound statement's header (a
    branch or loop head is a jump target), after a compound statement and after a jump (return,
    raise, break, continue); a statement's continuation lines belong to its block."""
    import ast
    blocks = {}
    count = [0]

    def mark(first, last, block):
        for line in range(first, max(first, last) + 1):
            blocks.setdefault(line, block)

    def new():
        count[0] += 1
        return count[0]

    def bodies(s):
        out = []
        for name in ("body", "orelse", "finalbody"):
            b = getattr(s, name, None)
            if b and isinstance(b, list) and isinstance(b[0], ast.stmt):
                out.append(b)
        for h in getattr(s, "handlers", ()) or ():
            out.append(h.body)
        for c in getattr(s, "cases", ()) or ():
            out.append(c.body)
        return out

    def walk(stmts):
        block = None
        for s in stmts:
            scope = isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            subs = bodies(s)
            if scope:
                # The `def` line runs in the enclosing scope; its body is a scope of its own.
                block = block or new()
                first = min([s.lineno] + [d.lineno for d in s.decorator_list])
                mark(first, s.body[0].lineno - 1 if s.body else s.lineno, block)
                walk(s.body)
                continue
            if subs:
                # The header is its own block; so is what follows the compound statement, and
                # so is each `except` or `case` line (a jump target).
                header_end = min(b[0].lineno for b in subs) - 1
                mark(s.lineno, header_end, new())
                for clause in list(getattr(s, "handlers", ()) or ()) + list(getattr(s, "cases", ()) or ()):
                    first = getattr(clause, "lineno", None) or clause.pattern.lineno
                    mark(first, clause.body[0].lineno - 1, new())
                for b in subs:
                    walk(b)
                block = None
                continue
            block = block or new()
            mark(s.lineno, getattr(s, "end_lineno", s.lineno) or s.lineno, block)
            if isinstance(s, (ast.Return, ast.Raise, ast.Break, ast.Continue)):
                block = None

    walk(ast.parse(source).body)
    return blocks


class _Tracer:
    """One traced run's tracer: `start(i)` before call `i`, `stop(i, how)` after it."""

    def __init__(self, spec, source, filename, res):
        self.level = spec.get("level", "block")
        self.first = max(int(spec.get("first", 5)), 0)
        self.last = max(int(spec.get("last", 5)), 0)
        self.chars = max(int(spec.get("chars", 100)), 8)
        self.filename = filename
        self.res = res
        self.blocks = _basic_blocks(source) if self.level == "block" else {}
        # One bound method, set and compared by identity (a fresh one is made per attribute read).
        self.hook = self.on_call

    def run(self, call, fn, args):
        """`fn(*args)` under the tracer, as call `call` of the run."""
        how = "raised"
        self.start(call)
        try:
            value = fn(*args)
            how = "returned"
            return value
        except (_TimeLimit, MemoryError):
            how = "limit"
            raise
        finally:
            self.stop(how)

    def start(self, call):
        self.call = call
        self.total = 0
        self.ring = collections.deque(maxlen=self.last)
        # Per frame: [block (or line), lines executed, pending exception].
        self.open = {}
        _emit(self.res, {"k": "traced", "i": call})
        _SETTRACE(self.hook)

    def stop(self, how):
        """Ends the call's trace; `how` is "returned", "raised" or "limit"."""
        ours = _GETTRACE() is self.hook
        _SETTRACE(None)
        if how != "limit" and not ours:
            how = "tampered"
        for step in self.ring:
            _emit(self.res, self.thaw(step))
        self.ring.clear()
        self.open.clear()
        _emit(self.res, {"k": "trace", "i": self.call, "total": self.total, "end": how})

    def on_call(self, frame, event, arg):
        code = frame.f_code
        if code.co_filename != self.filename or code.co_name in _EXPRESSION_CODE:
            return None
        self.open[frame] = [None, [], None]
        return self.on_event

    def on_event(self, frame, event, arg):
        state = self.open.get(frame)
        if state is None:
            return self.on_event
        try:
            if event == "line":
                # A line after an exception: it was caught here.
                state[2] = None
                line = frame.f_lineno
                if self.level == "function":
                    at = 0
                elif self.level == "line":
                    at = line
                else:
                    at = self.blocks.get(line)
                    if at is None:
                        return self.on_event
                if state[0] is not None and (at != state[0] or self.level == "line"):
                    self.close(frame, state)
                state[0] = at
                if line not in state[1] and len(state[1]) < _TRACE_LINES:
                    state[1].append(line)
            elif event == "exception":
                state[2] = arg
            elif event == "return":
                # `arg` is the value returned, or None as an exception leaves the frame.
                del self.open[frame]
                self.close(frame, state, end=(arg, state[2]))
        except (_TimeLimit, MemoryError):
            raise
        except BaseException:
            # The tracer's own failure (a hostile object, say) never becomes the program's.
            pass
        return self.on_event

    def close(self, frame, state, end=None):
        """Writes (or keeps) the step of `frame` that ends now; `end` is (value returned, exception
        leaving) when the step ends the function."""
        self.total += 1
        code = frame.f_code
        now = self.total <= self.first
        if not now and not self.last:
            state[1] = []
            return
        step = {"k": "step", "i": self.call, "n": self.total,
                "f": getattr(code, "co_qualname", code.co_name),
                "b": state[0] if self.level == "block" else None,
                "l": state[1], "v": self.variables(frame, now)}
        if end is not None:
            returned, raised = end
            if raised is not None and returned is None:
                kind, value = raised[0], raised[1]
                step["x"] = f"{getattr(kind, '__name__', 'Exception')}: {self.text(value, str)}"
            else:
                step["r"] = self.freeze(returned, now)
        state[1] = []
        state[2] = None
        if now:
            _emit(self.res, step)
        else:
            self.ring.append(step)

    def variables(self, frame, now):
        out = []
        for name, value in list(frame.f_locals.items()):
            if len(out) >= _TRACE_VARS:
                break
            if name.startswith("__") or _is_code(value):
                continue
            out.append([name, self.freeze(value, now)])
        return out

    def freeze(self, value, now):
        """The repr of `value` (`now`), or what it will be when the step is written: a step kept in
        the ring is written when the call ends, and most are dropped before then, so it keeps
        values, not reprs. Immutable values are kept as they are, lists, dicts, sets and
        bytearrays as a copy of their first `chars` items (all a cut repr can show), and anything
        else is written now."""
        kind = type(value)
        if now or kind not in _FROZEN:
            return self.text(value, repr)
        if kind is list:
            return _Frozen(value[: self.chars])
        if kind is dict:
            return _Frozen(dict(itertools.islice(value.items(), self.chars)))
        if kind is set:
            return _Frozen(set(itertools.islice(value, self.chars)))
        if kind is bytearray:
            return _Frozen(bytearray(value[: self.chars]))
        return _Frozen(value)

    def thaw(self, step):
        """A ring step's kept values, as their reprs."""
        for pair in step["v"]:
            if type(pair[1]) is _Frozen:
                pair[1] = self.text(pair[1].value, repr)
        if type(step.get("r")) is _Frozen:
            step["r"] = self.text(step["r"].value, repr)
        return step

    def text(self, value, how):
        try:
            if how is repr:
                return safe_repr(value, self.chars)
            s = str(value)
            return s if len(s) <= self.chars else s[: self.chars] + "..."
        except (_TimeLimit, MemoryError):
            raise
        except BaseException:
            return "<repr failed>"


class _Frozen:
    """A value kept for a step's repr, to be written when the call ends."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


# Types whose values a ring step keeps (immutable ones as they are, the mutable ones copied).
_FROZEN = frozenset((int, float, complex, bool, str, bytes, type(None), range, list, dict, set, bytearray))


def _is_code(value):
    """Modules, classes and functions: names a step's reader does not need."""
    import types
    return isinstance(value, type) or type(value) in (
        types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
