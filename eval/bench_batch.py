"""Batch throughput, cache-hit throughput and framework overhead, measured side by side in one run.

    python eval/bench_batch.py [--delay 0.1] [--out eval/results/bench_batch.json]

A loopback OpenAI-compatible server (tests/openai_stub.py) answers every request after a fixed delay, so
the numbers isolate promptrec: concurrency (1, 8, 32 workers), the whole batch path served from the cache,
and the time promptrec spends per request outside the backend call (render, parse, cache, bookkeeping).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import subprocess  # noqa: E402
from contextlib import contextmanager  # noqa: E402

from promptrec import Ranker, get_backend  # noqa: E402
from promptrec.batch import BatchSummary, read_requests, run_batch  # noqa: E402
from promptrec.cache import CompletionCache  # noqa: E402
from promptrec.cli import demo_catalog_path  # noqa: E402
from promptrec.data import read_catalog  # noqa: E402


@contextmanager
def stub_server(delay: float):
    """The loopback server in its own process, as a real server would be (it does not share our GIL)."""
    script = Path(__file__).resolve().parents[1] / "tests" / "openai_stub.py"
    process = subprocess.Popen([sys.executable, str(script), "--delay", str(delay)], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        yield url
    finally:
        process.kill()
        process.wait()


class TimedBackend:
    """Wraps a backend and adds up the wall time spent inside ``complete``."""

    def __init__(self, inner):
        self.inner = inner
        self.name, self.context_window = inner.name, inner.context_window
        self.supports_grammar, self.supports_concurrency = inner.supports_grammar, True
        self.seconds = 0.0

    def count_tokens(self, messages):
        return self.inner.count_tokens(messages)

    def complete(self, messages, params):
        start = time.perf_counter()
        try:
            return self.inner.complete(messages, params)
        finally:
            self.seconds += time.perf_counter() - start


def write_requests(path: Path, n: int, offset: int = 0) -> Path:
    ids = [f"m{i:02d}" for i in range(1, 25)]
    with path.open("w") as handle:
        for i in range(offset, offset + n):
            history = [ids[(i * 7 + j) % 24] for j in range(4)]
            candidates = [c for c in ids if c not in history][(i % 3):(i % 3) + 20]
            handle.write(json.dumps({"id": f"r{i}", "user_id": f"u{i}", "history": history, "candidates": candidates}) + "\n")
    return path


def run(server: str, requests: Path, output: Path, workers: int, cache: CompletionCache | None):
    backend = TimedBackend(get_backend("openai:stub", base_url=server))
    ranker = Ranker(backend, "movies", cache=cache)
    entries = read_requests(requests, read_catalog(demo_catalog_path()))
    start = time.perf_counter()
    summary = run_batch(entries, output, lambda scenario: ranker, workers=workers, summary=BatchSummary())
    return summary, time.perf_counter() - start, backend.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=float, default=0.1, help="server delay per request, seconds")
    parser.add_argument("--cached", type=int, default=2000, help="requests in the cache-hit run")
    parser.add_argument("--out", type=Path, default=Path("eval/results/bench_batch.json"))
    args = parser.parse_args()
    results: dict[str, object] = {"machine": f"{platform.machine()}, {platform.python_version()}", "delay_s": args.delay}
    with tempfile.TemporaryDirectory() as folder, stub_server(args.delay) as server:
        root = Path(folder)
        throughput = {}
        for workers, n in ((1, 20), (8, 80), (32, 320)):
            summary, seconds, _ = run(server, write_requests(root / f"w{workers}.jsonl", n, offset=workers * 1000),
                                      root / f"w{workers}.out", workers, cache=None)
            assert summary.succeeded == n, summary
            throughput[workers] = n / seconds
        results["rankings_per_s_by_workers"] = throughput
        results["speedup_32_vs_1"] = throughput[32] / throughput[1]

        # overhead: one worker, the server's delay removed from the picture by timing the backend call
        summary, seconds, backend_seconds = run(server, write_requests(root / "o.jsonl", 30, offset=90_000),
                                                root / "o.out", 1, cache=None)
        results["framework_overhead_pct"] = 100 * (seconds - backend_seconds) / backend_seconds
        results["framework_ms_per_request"] = 1000 * (seconds - backend_seconds) / 30

        cache = CompletionCache(root / "cache")
        requests = write_requests(root / "c.jsonl", args.cached, offset=50_000)
        run(server, requests, root / "fill.out", 32, cache)  # fill the cache
        summary, seconds, backend_seconds = run(server, requests, root / "hit.out", 1, cache)
        assert summary.cache_hits == args.cached and backend_seconds == 0.0, summary
        results["cache_hit_rankings_per_s"] = args.cached / seconds
        results["cache_hit_backend_calls"] = summary.done - summary.cache_hits
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
