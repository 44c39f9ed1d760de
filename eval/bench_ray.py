"""Batch throughput of ``promptrec batch`` (local engine) against ``--engine ray`` (1 and 2 actors), side by
side in one run, and Ray's start-up overhead (``ray.init`` and the first result batch).

    python eval/bench_ray.py [--delay 0.1] [--requests 400] [--workers 8] [--out eval/results/bench_ray.json]

The same loopback OpenAI-compatible server (tests/openai_stub.py, in its own process) answers every request
after a fixed delay; no cache, so every request is one backend call. ``--workers`` threads run in the local
engine and in each Ray actor; the local engine also runs with as many threads as two actors have together.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_batch import stub_server, write_requests  # noqa: E402

from promptrec import Ranker, get_backend  # noqa: E402
from promptrec.batch import BatchSummary, read_requests, run_batch  # noqa: E402
from promptrec.cli import demo_catalog_path  # noqa: E402
from promptrec.data import Catalog, read_catalog  # noqa: E402
from promptrec.ray import RayTimings, import_ray, init_ray, run_ray_batch  # noqa: E402


def local_run(server: str, requests: Path, output: Path, catalog: Catalog, workers: int) -> dict[str, float]:
    """``promptrec batch`` in this process: rankings per second, end to end."""
    ranker = Ranker(get_backend("openai:stub", base_url=server), "movies")
    start = time.perf_counter()
    summary = run_batch(read_requests(requests, catalog), output, lambda scenario: ranker, workers=workers,
                        summary=BatchSummary())
    seconds = time.perf_counter() - start
    assert summary.succeeded == summary.total, summary
    return {"rankings_per_s": summary.total / seconds, "seconds": seconds}


def ray_run(server: str, requests: Path, output: Path, catalog: Catalog, workers: int, actors: int) -> dict[str, float]:
    """``promptrec batch --engine ray`` on the running Ray: end to end (actor start-up included) and steady
    state (after the first result batch)."""
    config = {"backend": "openai:stub", "backend_options": {"base_url": server}, "scenario": "movies"}
    timings = RayTimings()
    first_rows = 0

    def note(summary: BatchSummary) -> None:
        nonlocal first_rows
        first_rows = first_rows or summary.done

    start = time.perf_counter()
    summary = run_ray_batch(requests, output, config, catalog=catalog, actors=actors, concurrency_per_actor=workers,
                            num_cpus_per_actor=0.5, on_result=note, timings=timings)
    seconds = time.perf_counter() - start
    assert summary.succeeded == summary.total, summary
    steady = (summary.total - first_rows) / max(1e-9, seconds - timings.first_batch_seconds)
    return {"rankings_per_s": summary.total / seconds, "steady_rankings_per_s": steady, "seconds": seconds,
            "first_batch_s": timings.first_batch_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=float, default=0.1, help="server delay per request, seconds")
    parser.add_argument("--requests", type=int, default=400, help="requests per run")
    parser.add_argument("--workers", type=int, default=8, help="threads in the local engine and in each actor")
    parser.add_argument("--out", type=Path, default=Path("eval/results/bench_ray.json"))
    args = parser.parse_args()
    ray = import_ray()
    catalog = read_catalog(demo_catalog_path())
    n, workers = args.requests, args.workers
    results: dict[str, object] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
                                  "ray": ray.__version__, "delay_s": args.delay, "requests": n, "workers": workers}
    runs: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder, stub_server(args.delay) as server:
        root = Path(folder)

        def requests(offset: int) -> Path:
            return write_requests(root / f"in{offset}.jsonl", n, offset=offset)

        runs[f"local, {workers} threads"] = local_run(server, requests(1_000), root / "l1.out", catalog, workers)
        runs[f"local, {2 * workers} threads"] = local_run(server, requests(2_000), root / "l2.out", catalog, 2 * workers)
        start = time.perf_counter()
        init_ray(num_cpus=os.cpu_count())
        results["ray_init_s"] = time.perf_counter() - start
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            for actors, offset in ((1, 3_000), (2, 4_000)):
                runs[f"ray, {actors} actor{'s' * (actors > 1)} x {workers} threads"] = ray_run(
                    server, requests(offset), root / f"r{actors}.out", catalog, workers, actors)
        finally:
            ray.shutdown()
    results["runs"] = runs
    print(f"{'engine':<28} {'rankings/s':>11} {'steady/s':>9} {'first batch':>12} {'wall':>7}")
    for name, run in runs.items():
        steady = f"{run['steady_rankings_per_s']:.1f}" if "steady_rankings_per_s" in run else "-"
        first = f"{run['first_batch_s']:.2f}s" if "first_batch_s" in run else "-"
        print(f"{name:<28} {run['rankings_per_s']:>11.1f} {steady:>9} {first:>12} {run['seconds']:>6.1f}s")
    print(f"ray.init: {results['ray_init_s']:.2f}s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
