"""What eval/bench_modes.py and eval/bench.py share: users, the model, timing, the raw engine paths.

Both benchmarks time several methods on the same MovieLens users (LLMRank protocol: the last 20 history
items, the truth plus 19 seeded negatives) and interleave them round-robin per user, the order rotated from
user to user, so that the load of other jobs on the shared machine hits every method alike; medians are
reported. Before every timed call on a llama.cpp model its KV cache is emptied (untimed), so no method
profits from the prompt another method evaluated just before.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from promptrec.backends.base import Message
from promptrec.backends.llamacpp import LlamaCppBackend
from promptrec.data import UserHistory
from promptrec.evaluation.cases import Case
from promptrec.evaluation.datasets import load_dataset
from promptrec.evaluation.protocol import ProtocolConfig, build_cases

#: the score-mode answer prefix (candidates are shown as ``[A]``)
PREFIX = "["


def machine_note(threads: int) -> str:
    """The machine in words, with the load average at the start (other jobs share the cores)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.machine()}, {os.cpu_count()} cores SHARED with other jobs (an evaluation run; load average "
        f"{load:.2f} at start), Python {platform.python_version()}, llama.cpp threads {threads} for every method"
    )


def movielens_cases(users: int, *, candidates: int = 20, history: int = 20, seed: int = 0) -> list[Case]:
    """``users`` seeded MovieLens (latest-small) test cases under the LLMRank protocol."""
    dataset = load_dataset("movielens")
    config = ProtocolConfig(users=users, valid_users=0, candidates=candidates, history=history, seed=seed)
    return build_cases(dataset, config)[0]


def user_history(case: Case) -> UserHistory:
    """The history a ranker is given for ``case`` (never its held-out item)."""
    return UserHistory.from_items(case.query.history, user_id=case.query.user_id)


def local_backend(threads: int, n_ctx: int = 4096) -> LlamaCppBackend:
    """The bundled SmolLM2-135M on ``threads`` threads, for single tokens and for prompt batches alike."""
    backend = LlamaCppBackend(None, n_ctx=n_ctx, n_threads=threads)
    backend._llm._ctx.set_n_threads(threads, threads)  # the backend leaves batch threads at all cores
    return backend


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """``(seconds, result)`` of one call, by the wall clock."""
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


@dataclass
class Runs:
    """Per method, the seconds and the result of each timed call, in user order."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    results: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, name: str, seconds: float, result: Any) -> None:
        """Record one timed call."""
        self.seconds.setdefault(name, []).append(seconds)
        self.results.setdefault(name, []).append(result)

    def median(self, name: str) -> float:
        """The median seconds of ``name``."""
        return statistics.median(self.seconds[name])

    def paired_ratio(self, name: str, base: str) -> float:
        """The median over users of ``name``'s time divided by ``base``'s time for the same user."""
        return statistics.median(a / b for a, b in zip(self.seconds[name], self.seconds[base]))


def round_robin(
    cases: Sequence[Case],
    methods: dict[str, Callable[[Case], Any]],
    *,
    before: Callable[[str], None] | None = None,
    runs: Runs | None = None,
    progress: str = "",
    deadline: float | None = None,
    first_index: int = 0,
) -> Runs:
    """Time every method on every case, user by user, the method order rotated by one each user.

    ``before(name)`` runs untimed before each call (it empties KV caches). No new user is started after
    ``deadline`` (a ``time.monotonic()`` value). ``first_index`` continues the rotation of an earlier call.
    Progress goes to stderr.
    """
    runs = runs or Runs()
    names = list(methods)
    started = time.perf_counter()
    for index, case in enumerate(cases, start=first_index):
        if deadline is not None and time.monotonic() > deadline:
            break
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            if before is not None:
                before(name)
            seconds, result = timed(lambda call=methods[name], case=case: call(case))
            runs.add(name, seconds, result)
        elapsed = time.perf_counter() - started
        print(f"\r{progress} user {index + 1 - first_index}/{len(cases)} ({elapsed:.0f} s)", end="", file=sys.stderr,
              flush=True)
    print(file=sys.stderr)
    return runs


def chat_prompt_tokens(backend: LlamaCppBackend, messages: list[Message], prefix: str = PREFIX) -> list[int]:
    """The tokens score mode evaluates for ``messages``: the chat template applied, then ``prefix``."""
    prompt = backend._chat_prompt(messages) + prefix
    return backend._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)


def bare_forward(backend: LlamaCppBackend, prompt: str) -> np.ndarray:
    """The physical floor of score mode: tokenize ``prompt``, empty the KV cache, evaluate, copy the last
    position's logits. Plain llama-cpp-python calls, nothing of promptrec."""
    llm = backend._llm
    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    llm.reset()
    llm.eval(tokens)
    pointer = llm._ctx.get_logits_ith(-1)
    return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).copy()


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def reset_peak_rss() -> None:
    """Reset this process's peak resident memory (Linux: VmHWM), so the next reading covers what follows."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mib() -> float:
    """This process's peak resident memory since the last :func:`reset_peak_rss`, MiB (NaN off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def linear_fit(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Least squares ``y = intercept + slope * x`` with R², and the quadratic term of a degree-2 fit
    (relative to the linear slope at the largest x) as a check of linearity."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    slope, intercept = np.polyfit(xs, ys, 1)
    fitted = intercept + slope * xs
    total = float(((ys - ys.mean()) ** 2).sum())
    r2 = 1 - float(((ys - fitted) ** 2).sum()) / total if total else float("nan")
    quad = np.polyfit(xs, ys, 2)[0] if len(set(xs.tolist())) > 2 else 0.0
    return {
        "slope_s_per_token": float(slope),
        "intercept_s": float(intercept),
        "r2": r2,
        "quadratic_share_at_max": float(quad * xs.max() ** 2 / (slope * xs.max())) if slope else float("nan"),
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=float))


def quiet_logs() -> None:
    """llama.cpp and litellm warnings off stderr (progress goes there)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
