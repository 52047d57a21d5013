"""A reward function for trainers, with the signature verl's custom reward functions use:
`compute_score(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs)`.

In verl: `custom_reward_function.path=.../codeloop_client/reward.py`,
`custom_reward_function.name=compute_score`, and `custom_reward_function.reward_kwargs` with
`url` (default `$CODELOOP_URL`, else `http://127.0.0.1:8080`), `token`, `reward` (`fraction`,
the default, or `binary`) and `language`.

`ground_truth` is the test cases as verl's code datasets carry them (a dict or its JSON text):
`{"inputs": [...], "outputs": [...]}`, each input fed on stdin and each output compared as tokens.
With `"fn_name"`, the tests are calls instead: each input is a JSON array of arguments (or one
argument per line of text), the function (top-level, or a method of `Solution`) is called with
them, and its result must equal the output (compared as JSON values).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Mapping, Optional, Union

from .client import Client

_FENCE = re.compile(r"```([A-Za-z0-9_+#-]*)[^\n]*\n(.*?)```", re.DOTALL)


def extract_code(text: str, language: str = "python") -> Optional[str]:
    """The last fenced block tagged `language`, else the first fenced block, else None."""
    blocks = _FENCE.findall(text)
    tagged = [body for tag, body in blocks if tag.lower() == language.lower()]
    if tagged:
        return tagged[-1]
    return blocks[0][1] if blocks else None


# Appended to the solution for call-based tests: one JSON value per line of stdin are the
# arguments; the result is printed as JSON.
_CALL_HARNESS = '''

import json as _codeloop_json
import sys as _codeloop_sys


def _codeloop_call():
    raw = _codeloop_sys.stdin.read()
    args = [_codeloop_json.loads(line) for line in raw.split("\\n") if line.strip()]
    fn = globals().get({name!r})
    if fn is None:
        fn = getattr(globals()["Solution"](), {name!r})
    result = fn(*args)
    print(_codeloop_json.dumps(list(result) if isinstance(result, tuple) else result))


if __name__ == "__main__":
    _codeloop_call()
'''


def _arguments(value: Any) -> str:
    """A call-based input as stdin: one JSON value per line."""
    if isinstance(value, list):
        return "\n".join(json.dumps(v) for v in value)
    return str(value)


def _cases(ground_truth: Union[str, Mapping[str, Any]]) -> tuple[list, list, Optional[str]]:
    cases = json.loads(ground_truth) if isinstance(ground_truth, str) else dict(ground_truth)
    inputs, outputs = cases.get("inputs") or [], cases.get("outputs") or []
    if len(inputs) != len(outputs):
        raise ValueError(f"ground_truth has {len(inputs)} inputs and {len(outputs)} outputs")
    return list(inputs), list(outputs), cases.get("fn_name")


def _returned(report: Mapping[str, Any]) -> Any:
    """The JSON value a call-based run printed, or a marker that matches nothing."""
    try:
        return json.loads(report["stdout"])
    except (KeyError, ValueError):
        return _NOTHING


_NOTHING = object()


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Union[str, Mapping[str, Any]],
    extra_info: Optional[Mapping[str, Any]] = None,
    url: Optional[str] = None,
    token: Optional[str] = None,
    reward: str = "fraction",
    language: str = "python",
) -> float:
    """The share of tests the answer's code passes (`reward="fraction"`), or 1.0 when it passes
    them all and 0.0 otherwise (`"binary"`). An answer with no fenced code scores 0.0.

    Call-based results are compared here, in the trainer's process, never by the program: a result
    passes when it equals the output or, as APPS and TACO store outputs wrapped in a list, the
    output's only element."""
    code = extract_code(solution_str, language)
    if code is None:
        return 0.0
    inputs, outputs, name = _cases(ground_truth)
    if not inputs:
        return 0.0
    client = Client(url or os.environ.get("CODELOOP_URL", "http://127.0.0.1:8080"), token=token)
    if not name:
        tests = [{"input": str(i), "output": str(o)} for i, o in zip(inputs, outputs)]
        answer = client.execute(code, tests, language=language, fail_fast=reward == "binary")
        if reward == "binary":
            return 1.0 if answer["passed"] else 0.0
        return answer["tests_passed"] / len(tests)
    program = code + _CALL_HARNESS.format(name=name)
    passed = 0
    for given, expected in zip(inputs, outputs):
        answer = client.execute(program, stdin=_arguments(given), language=language)
        got = _returned(answer["report"]) if answer["passed"] else _NOTHING
        ok = got == expected or (
            isinstance(expected, list) and len(expected) == 1 and got == expected[0]
        )
        if ok:
            passed += 1
        elif reward == "binary":
            return 0.0
    return passed / len(inputs) if reward == "fraction" else 1.0
