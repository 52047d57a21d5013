"""Blocking and asyncio clients of `codeloop serve`, over `urllib` (standard library only).

Every method sends one JSON request and returns the server's JSON answer as a dict. An answer
other than 2xx raises `ServeError` with the status, the server's message and the field it names;
429 and 503 are retried (after `Retry-After`) up to `retries` times, since a full queue or a
draining replica is the server asking for patience, never a verdict.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, Sequence

Json = Dict[str, Any]


class ServeError(Exception):
    """A request the server refused: `status` (HTTP), `message`, and the request `field` at fault."""

    def __init__(self, status: int, message: str, field: Optional[str] = None) -> None:
        super().__init__(f"HTTP {status}: {message}" + (f" (field `{field}`)" if field else ""))
        self.status = status
        self.message = message
        self.field = field


class Client:
    """A blocking client of one `codeloop serve` at `url` (e.g. `http://127.0.0.1:8080`)."""

    def __init__(
        self,
        url: str,
        token: Optional[str] = None,
        timeout: float = 600.0,
        retries: int = 5,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries

    def _request(self, method: str, path: str, body: Optional[Json] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        attempt = 0
        while True:
            request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    text = answer.read().decode()
                    kind = answer.headers.get("Content-Type", "")
                    return json.loads(text) if "json" in kind else text
            except urllib.error.HTTPError as e:
                text = e.read().decode(errors="replace")
                if e.code in (429, 503) and attempt < self.retries:
                    attempt += 1
                    time.sleep(float(e.headers.get("Retry-After") or 1))
                    continue
                try:
                    error = json.loads(text)
                except ValueError:
                    error = {"error": text}
                raise ServeError(e.code, str(error.get("error", text)), error.get("field")) from None

    def healthz(self) -> bool:
        """Whether the server is up and not shutting down."""
        try:
            self._request("GET", "/healthz")
            return True
        except (ServeError, urllib.error.URLError):
            return False

    def run_code(
        self,
        code: str,
        language: str = "python",
        stdin: Optional[str] = None,
        compile_timeout: float = 10,
        run_timeout: float = 10,
        memory_limit_mb: int = -1,
        files: Optional[Mapping[str, str]] = None,
        fetch_files: Sequence[str] = (),
    ) -> Json:
        """SandboxFusion's `POST /run_code`; `files` maps paths to base64 contents."""
        return self._request("POST", "/run_code", {
            "code": code,
            "language": language,
            "stdin": stdin,
            "compile_timeout": compile_timeout,
            "run_timeout": run_timeout,
            "memory_limit_MB": memory_limit_mb,
            "files": dict(files or {}),
            "fetch_files": list(fetch_files),
        })

    def execute(
        self,
        program: str,
        tests: Sequence[Mapping[str, str]] = (),
        language: str = "python",
        stdin: Optional[str] = None,
        compare: str = "tokens",
        cpu_ms: int = 2000,
        memory_mib: Optional[int] = None,
        fail_fast: bool = False,
    ) -> Json:
        """`POST /v1/execute`: `tests` are `{"input", "output"}` pairs; per-test verdicts back."""
        body: Json = {
            "program": program,
            "tests": [dict(t) for t in tests],
            "language": language,
            "compare": compare,
            "cpu_ms": cpu_ms,
            "fail_fast": fail_fast,
        }
        if stdin is not None:
            body["stdin"] = stdin
        if memory_mib is not None:
            body["memory_mib"] = memory_mib
        return self._request("POST", "/v1/execute", body)

    def evaluate(
        self,
        task_id: str,
        completion: Optional[str] = None,
        solution: Optional[str] = None,
        reward: str = "binary",
    ) -> Json:
        """`POST /v1/evaluate`: a completion (or a whole `solution`) for `task_id` of the server's dataset."""
        body: Json = {"task_id": task_id, "reward": reward}
        if completion is not None:
            body["completion"] = completion
        if solution is not None:
            body["solution"] = solution
        return self._request("POST", "/v1/evaluate", body)

    # The RL environment (Gymnasium's reset and step; see `codeloop serve`'s `/v1/env/*`).

    def reset(
        self,
        task_id: Optional[str] = None,
        seed: Optional[int] = None,
        policy_seed: int = 0,
        options: Optional[Mapping[str, Any]] = None,
    ) -> Json:
        """A new episode on `task_id` (or the problem `seed` draws): `episode_id`, `observation`
        (`messages` to answer), `info`. `options`: `strategy`, `params`, `reward`, `weights`."""
        body: Json = {"policy_seed": policy_seed, "options": dict(options or {})}
        if task_id is not None:
            body["task_id"] = task_id
        if seed is not None:
            body["seed"] = seed
        return self._request("POST", "/v1/env/reset", body)

    def step(self, episode_id: str, action: str) -> Json:
        """The model's answer `action`: `observation`, `reward`, `terminated`, `truncated`, `info`."""
        return self._request("POST", "/v1/env/step", {"episode_id": episode_id, "action": action})

    def reset_batch(
        self, task_ids: Sequence[str], group_size: int = 1, options: Optional[Mapping[str, Any]] = None
    ) -> List[Json]:
        """`group_size` episodes per problem (policy seeds 0..group_size), in order."""
        body = {"task_ids": list(task_ids), "group_size": group_size, "options": dict(options or {})}
        return self._request("POST", "/v1/env/reset_batch", body)["episodes"]

    def step_batch(self, steps: Sequence[Mapping[str, str]]) -> List[Json]:
        """Many `{"episode_id", "action"}` steps at once; each result, or its `error`, in order."""
        return self._request("POST", "/v1/env/step_batch", {"steps": [dict(s) for s in steps]})["results"]

    def close(self, episode_id: str) -> bool:
        """Drops an episode; whether it was open."""
        return bool(self._request("POST", "/v1/env/close", {"episode_id": episode_id})["closed"])


class AsyncClient:
    """The asyncio twin of `Client`: each call runs the blocking one on a worker thread, so many
    requests can be in flight at once (`asyncio.gather`) with nothing beyond the standard library."""

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 600.0, retries: int = 5) -> None:
        self._client = Client(url, token=token, timeout=timeout, retries=retries)

    async def healthz(self) -> bool:
        return await asyncio.to_thread(self._client.healthz)

    async def run_code(self, code: str, language: str = "python", **kwargs: Any) -> Json:
        return await asyncio.to_thread(self._client.run_code, code, language, **kwargs)

    async def execute(self, program: str, tests: Sequence[Mapping[str, str]] = (), **kwargs: Any) -> Json:
        return await asyncio.to_thread(self._client.execute, program, tests, **kwargs)

    async def evaluate(self, task_id: str, **kwargs: Any) -> Json:
        return await asyncio.to_thread(self._client.evaluate, task_id, **kwargs)

    async def reset(self, task_id: Optional[str] = None, **kwargs: Any) -> Json:
        return await asyncio.to_thread(self._client.reset, task_id, **kwargs)

    async def step(self, episode_id: str, action: str) -> Json:
        return await asyncio.to_thread(self._client.step, episode_id, action)

    async def reset_batch(self, task_ids: Sequence[str], **kwargs: Any) -> List[Json]:
        return await asyncio.to_thread(self._client.reset_batch, task_ids, **kwargs)

    async def step_batch(self, steps: Sequence[Mapping[str, str]]) -> List[Json]:
        return await asyncio.to_thread(self._client.step_batch, steps)

    async def close(self, episode_id: str) -> bool:
        return await asyncio.to_thread(self._client.close, episode_id)


__all__: List[str] = ["AsyncClient", "Client", "ServeError"]
