# codeloop wire encoding of Python values, shared by the worker (untrusted side) and the judge
# (trusted side); codeloop-sandbox puts this file in front of each of them.
#
# JSON: None/bool/str map to themselves, ints of up to WIRE_BIG_INT_BITS bits and finite floats to
# numbers, lists to arrays; everything else is an object with one tag key:
#   {"t": [..]} tuple, {"d": [[k, v], ..]} dict, {"s": [..]} set, {"fs": [..]} frozenset,
#   {"f": "nan"|"inf"|"-inf"} float, {"x": "hex"} a larger int, {"b": "hex"} bytes,
#   {"c": [re, im]} complex, {"o": "type name", "r": "repr"} an object with no value encoding.
# Big ints travel in hex because converting an int to and from decimal text takes time quadratic in
# its length in CPython (a 100,000-digit HumanEval+ result took seconds per call); hex is linear.
# The encoding is the same in both directions; the two sides differ only in what they accept.
import sys

# Python 3.11 refuses to convert integers of more than 4,300 digits to text; JSON inputs may hold some.
if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)

WIRE_MAX_DEPTH = 100
WIRE_BIG_INT_BITS = 4096
WIRE_REPR_CAP = 300


class Unencodable(Exception):
    """Raised by `wire_encode(..., strict=True)` for a value with no exact encoding."""


def wire_encode(v, strict=False, depth=0):
    """The wire form of `v`. Not strict (the worker, encoding what a program returned): subclasses
    of builtins are encoded as their base value, read through the base type's own methods so a
    forged `__eq__` or `__iter__` is never called, and anything else becomes an opaque tag. Strict
    (the judge, recording arguments): only exact builtin types, else `Unencodable`."""
    if depth > WIRE_MAX_DEPTH:
        if strict:
            raise Unencodable("too deep")
        return {"o": "<too deep>", "r": ""}
    t = type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int:
        return v if v.bit_length() <= WIRE_BIG_INT_BITS else {"x": hex(v)}
    if t is float:
        if v != v:
            return {"f": "nan"}
        if v in (float("inf"), float("-inf")):
            return {"f": "inf" if v > 0 else "-inf"}
        return v
    d = depth + 1
    if t is list:
        return [wire_encode(x, strict, d) for x in v]
    if t is tuple:
        return {"t": [wire_encode(x, strict, d) for x in v]}
    if t is dict:
        return {"d": [[wire_encode(k, strict, d), wire_encode(x, strict, d)] for k, x in v.items()]}
    if t is set:
        return {"s": [wire_encode(x, strict, d) for x in v]}
    if t is frozenset:
        return {"fs": [wire_encode(x, strict, d) for x in v]}
    if t is bytes:
        return {"b": v.hex()}
    if t is complex:
        return {"c": [v.real, v.imag]}
    if strict:
        raise Unencodable(t.__name__)
    if isinstance(v, bool):
        return bool.__bool__(v)
    if isinstance(v, int):
        return wire_encode(int.__index__(v), strict, depth)
    if isinstance(v, float):
        return wire_encode(float.__float__(v), strict, depth)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, tuple):
        return {"t": [wire_encode(x, strict, d) for x in tuple.__iter__(v)]}
    if isinstance(v, list):
        return [wire_encode(x, strict, d) for x in list.__iter__(v)]
    if isinstance(v, dict):
        return {"d": [[wire_encode(k, strict, d), wire_encode(x, strict, d)] for k, x in dict.items(v)]}
    if isinstance(v, (set, frozenset)):
        return {"s": [wire_encode(x, strict, d) for x in set.__iter__(set(v))]}
    try:
        r = repr(v)[:WIRE_REPR_CAP]
    except BaseException:
        r = "<repr failed>"
    return {"o": t.__name__, "r": r}


def wire_decode(w, opaque=None):
    """The value of a wire form. An opaque tag becomes `opaque(type name, repr)`; without `opaque`
    it is an error (arguments always have an exact encoding)."""
    if type(w) is list:
        return [wire_decode(x, opaque) for x in w]
    if type(w) is not dict:
        return w
    if "t" in w:
        return tuple(wire_decode(x, opaque) for x in w["t"])
    if "x" in w:
        return int(w["x"], 16)
    if "d" in w or "s" in w or "fs" in w:
        try:
            if "d" in w:
                return {wire_decode(k, opaque): wire_decode(x, opaque) for k, x in w["d"]}
            items = [wire_decode(x, opaque) for x in w.get("s", w.get("fs"))]
            return set(items) if "s" in w else frozenset(items)
        except TypeError:  # an unhashable key: only a forged wire value can hold one
            if opaque is None:
                raise
            return opaque("dict" if "d" in w else "set", "unhashable item")
    if "f" in w:
        return float(w["f"])
    if "b" in w:
        return bytes.fromhex(w["b"])
    if "c" in w:
        return complex(w["c"][0], w["c"][1])
    if "o" in w and opaque is not None:
        return opaque(str(w.get("o")), str(w.get("r", "")))
    raise ValueError("a value with no encoding cannot be an argument")


class _Full(Exception):
    pass


def safe_repr(v, cap=2000):
    """`repr(v)` cut at about `cap` characters, in time linear in `cap`: huge ints are described,
    not converted (that is quadratic), and containers stop at the cap instead of rendering whole."""
    out = []
    room = [cap]

    def put(s):
        if len(s) > room[0]:
            out.append(s[: max(room[0], 0)])
            raise _Full
        out.append(s)
        room[0] -= len(s)

    def rec(x, depth):
        t = type(x)
        if depth > 50:
            put("...")
        elif t is int and x.bit_length() > WIRE_BIG_INT_BITS:
            put(f"<int of {int(x.bit_length() * 0.30103)} digits>")
        elif t is str and len(x) > room[0]:
            put(repr(x[: room[0] + 1]))
        elif t in (list, tuple, set, frozenset) and (x or t in (list, tuple)):
            opener, closer = {list: ("[", "]"), tuple: ("(", ")")}.get(t, ("{", "}"))
            if t is frozenset:
                opener, closer = "frozenset({", "})"
            put(opener)
            for i, item in enumerate(x):
                if i:
                    put(", ")
                rec(item, depth + 1)
            put("," + closer if t is tuple and len(x) == 1 else closer)
        elif t is dict:
            put("{")
            for i, (k, item) in enumerate(x.items()):
                if i:
                    put(", ")
                rec(k, depth + 1)
                put(": ")
                rec(item, depth + 1)
            put("}")
        else:
            try:
                put(repr(x))
            except _Full:
                raise
            except Exception:
                put("<repr failed>")

    try:
        rec(v, 0)
    except _Full:
        return "".join(out) + "..."
    return "".join(out)
