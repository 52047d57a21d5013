# codeloop protocol checks, shared by the worker (untrusted side) and the judge (trusted side);
# codeloop-sandbox puts this file in front of each of them, after wire.py. The messages themselves
# are documented with their Rust types (codeloop-sandbox's `protocol` module).

# The version of the protocol both programs speak (codeloop-sandbox's `PROTOCOL_VERSION`): checked
# when each process starts, and bumped with any change to a message, on both sides at once.
PROTOCOL_VERSION = 2

_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "an object", bool: "a boolean"}


class Malformed(Exception):
    """A request that is not what the protocol says; answered with `malformed request: <message>`."""


def check_fields(fields, obj, where):
    """Raises `Malformed` unless `obj` has each of `fields` (name -> JSON type, or (type, None)
    for an optional field) with the right type; `where` names `obj` in the message."""
    for name, kind in fields.items():
        optional = type(kind) is tuple
        if optional:
            kind = kind[0]
        value = obj.get(name)
        if value is None and optional:
            continue
        if not isinstance(value, kind) or (kind is int and type(value) is bool):
            raise Malformed(f"{where} needs field `{name}` ({_TYPE_NAMES[kind]})")


def version_mismatch(theirs, side):
    """The message for codeloop speaking protocol version `theirs` to `side`, else None."""
    if theirs == PROTOCOL_VERSION:
        return None
    return f"protocol mismatch: codeloop speaks version {theirs}, this {side} speaks version {PROTOCOL_VERSION}"
