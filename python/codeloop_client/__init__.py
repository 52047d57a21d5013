"""Client for `codeloop serve` (standard library only).

- `Client` (blocking) and `AsyncClient` (asyncio): `run_code` (SandboxFusion's API), `execute`
  (a program and stdin/stdout tests to per-test verdicts), `evaluate` (a completion for a problem
  of the dataset the server loaded to a reward), `healthz`, and the RL environment: `reset`,
  `step`, `reset_batch`, `step_batch`, `close`.
- `compute_score`: a reward function with the signature verl's custom reward functions use.
"""

from .client import AsyncClient, Client, ServeError
from .reward import compute_score, extract_code

__all__ = ["AsyncClient", "Client", "ServeError", "compute_score", "extract_code"]
