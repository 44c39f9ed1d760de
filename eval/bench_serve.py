"""The recommendation service under load, on loopback: latency and throughput, the LLM's cost, crash safety.

    python eval/bench_serve.py [--duration 8] [--clients 1,8,32] [--writer-rate 100] [--llm-weight 0.5]
                               [--llm-delay 0.1] [--crash-seconds 4] [--workers 1,2] [--baseline DIR]
                               [--out eval/results/serve.json]

Everything runs on 127.0.0.1: ``promptrec serve`` as a real process (SQLite in a temporary folder), the load
from client threads in this process, each with its own keep-alive connection (the readers use the standard
library's ``http.client``: httpx cost 0.5 ms of CPU a request, on the same cores as the service). Every loop
is bounded by ``--duration`` seconds per cell.

Side by side: ``--workers 1,2`` runs the weight-0 cells once per worker count, and ``--baseline DIR`` once
more on the ``promptrec`` package in DIR (an older version: ``git archive REV promptrec | tar -x -C DIR``),
each on its own database; every cell runs each of them back to back, so that the machine's changing load
falls on all of them alike.

1. **Weight 0** (the shipped default: retrieval and the feedback stage, no LLM call). MovieLens
   ml-latest-small (9,742 movies, 100,836 ratings) is loaded with ``--catalog movies.csv --interactions
   ratings.csv``. For 1, 8 and 32 concurrent clients, each sends GET /users/{id}/recommendations?n=10 for a
   random MovieLens user (seeded) as fast as its answers come; then the same while a writer POSTs 100
   feedback records a second (random user, item and label; each POST carries the records that fell due
   while the previous one was answered: one at a time while answers are fast). Reported: p50/p95/p99
   latency in ms, requests/s, errors, the service's CPU time per request, and the writer's achieved record
   rate, POSTs and POST p95.
2. **Weight above 0**: the same service with ``--backend openai:stub --llm-weight W`` against
   tests/openai_stub.py (an OpenAI-compatible server that answers after ``--llm-delay`` s), its completion
   cache empty. Each cell runs twice over the same users in the same order: ``cold`` (users not asked
   before, ``--llm-users`` of them, none shared with another cell: each ranking a new prompt, an LLM call,
   until they run out) and ``warm`` (the same users again: the cache answers). The stub's call count and the service's
   /metrics (LLM calls, cache hits, coalesced requests) say what each did. LLM calls run in the service's
   thread pool, so the event loop keeps answering.
3. **Crash**: a client streams POST /feedback (one record each, timestamps 0, 1, 2, ...) and the service is
   killed with SIGKILL after ``--crash-seconds``; after a restart on the same database every record that
   got a 2xx must be there. Reported: acknowledged, present, lost (must be 0), and the ones written but not
   acknowledged (in flight at the kill).

The machine's load average is recorded: the cores are shared, and latencies move with it. The service's own
CPU time per request (its process tree's user + system time over the cell, divided by the requests and
feedback records it answered) moves much less, and says what an idle machine could do.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PROMPTREC_DATA") or ROOT.parent / "shared" / "datasets") / "movielens-latest-small"
KEY = "bench-key"
LABELS = ("liked", "disliked", "clicked", "skipped")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """``promptrec serve`` in its own process."""

    def __init__(self, db: Path, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "promptrec.cli", "serve", "--db", str(db), "--port", str(self.port),
                        "--api-key", KEY, *args]
        self.log, self.env = log, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 1800.0, workers: int = 1) -> Service:
        """Start it and wait until it answers, warm; with several workers, until each of them is up (the
        ``promptrec_worker_processes`` gauge) and a few seconds more for the last one to warm."""
        started = time.monotonic()
        with self.log.open("ab") as handle:
            # run from the database's folder: python -m puts the working folder first on the path, which would
            # shadow a --baseline package with the checkout's
            self.process = subprocess.Popen(self.command, stdout=handle, stderr=subprocess.STDOUT, env=self.env,
                                            cwd=self.log.parent)
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"promptrec serve exited:\n{self.log.read_text()[-3000:]}")
            try:
                health = httpx.get(f"{self.url}/health", timeout=5).json()
                up = workers == 1 or re.search(rf"^promptrec_worker_processes {workers}(\.0)?$",
                                               httpx.get(f"{self.url}/metrics", timeout=5).text, re.MULTILINE)
                if health.get("warm") and up:
                    if workers > 1:
                        time.sleep(10)
                    print(f"  service up in {time.monotonic() - started:.1f} s: {health}", flush=True)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"promptrec serve did not get ready in {timeout} s")

    def metrics(self) -> dict[str, float]:
        text = httpx.get(f"{self.url}/metrics", timeout=30).text
        found = {}
        for name in ("promptrec_llm_calls_total", "promptrec_llm_cache_hits_total", "promptrec_coalesced_requests_total"):
            match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
            found[name.removeprefix("promptrec_").removesuffix("_total")] = float(match.group(1)) if match else 0.0
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU time of the service's process and its children (worker processes) so far."""
        assert self.process is not None
        tick = os.sysconf("SC_CLK_TCK")
        parents: dict[int, int] = {}
        times: dict[int, float] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid = int(stat.parent.name)
            parents[pid] = int(fields[1])
            times[pid] = (int(fields[11]) + int(fields[12])) / tick
        tree = {self.process.pid}
        grew = True
        while grew:
            grew = False
            for pid, parent in parents.items():
                if parent in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        return sum(times.get(pid, 0.0) for pid in tree)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    values = np.percentile(np.asarray(latencies) * 1000, [50, 95, 99])
    return {"p50_ms": round(float(values[0]), 1), "p95_ms": round(float(values[1]), 1), "p99_ms": round(float(values[2]), 1)}


def load(url: str, clients: int, duration: float, next_user: Any, writer_rate: float = 0.0,
         users: list[str] | None = None, items: list[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """``clients`` threads sending GET recommendations for ``duration`` s (users from ``next_user(i)``), with a
    writer posting ``writer_rate`` feedback records a second when it is above 0."""
    deadline = time.monotonic() + duration
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    written: list[float] = []
    write_errors = [0]
    host, port = url.removeprefix("http://").split(":")

    def reader(index: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            while time.monotonic() < deadline:
                user = next_user(index)
                started = time.perf_counter()
                try:
                    connection.request("GET", f"/users/{user}/recommendations?n=10")
                    answer = connection.getresponse()
                    body = answer.read()
                    ok = answer.status == 200 and len(json.loads(body)["items"]) == 10
                except (OSError, http.client.HTTPException, ValueError, KeyError):
                    ok = False
                    connection.close()  # a new connection for the next request
                latencies[index].append(time.perf_counter() - started)
                if not ok:
                    errors[index] += 1
        finally:
            connection.close()

    posts: list[int] = []

    def writer() -> None:
        """Keeps ``writer_rate`` records a second: each POST carries the records that fell due while the last
        one was answered (one record a POST while answers are fast, a batch when they are slow), as an app
        that buffers its users' clicks does."""
        rng = random.Random(seed + 1000)
        assert users is not None and items is not None
        with httpx.Client(base_url=url, timeout=60, headers={"X-API-Key": KEY}) as client:
            sent = 0
            start = time.monotonic()
            while time.monotonic() < deadline:
                due = int((time.monotonic() - start) * writer_rate) + 1 - sent
                if due <= 0:
                    time.sleep((sent / writer_rate) - (time.monotonic() - start))
                    continue
                batch = [{"user": rng.choice(users), "item": rng.choice(items), "label": rng.choice(LABELS)}
                         for _ in range(min(due, 200))]
                began = time.perf_counter()
                try:
                    ok = client.post("/feedback", json=batch).status_code == 200
                except httpx.HTTPError:
                    ok = False
                written.append(time.perf_counter() - began)
                posts.append(len(batch))
                write_errors[0] += not ok
                sent += len(batch)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(clients)]
    if writer_rate > 0:
        threads.append(threading.Thread(target=writer))
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    every = [x for per in latencies for x in per]
    result = {"clients": clients, "requests": len(every), "errors": sum(errors),
              "req_per_s": round(len(every) / elapsed, 1), **percentiles(every)}
    if writer_rate > 0:
        result["writer"] = {"records": sum(posts), "posts": len(posts), "per_s": round(sum(posts) / elapsed, 1),
                            "errors": write_errors[0], "p95_ms": percentiles(written)["p95_ms"]}
    return result


def random_users(users: list[str], seed: int) -> Any:
    generators: dict[int, random.Random] = {}

    def next_user(index: int) -> str:
        rng = generators.setdefault(index, random.Random(seed * 1000 + index))
        return rng.choice(users)

    return next_user


def sequence_of(users: list[str]) -> Any:
    lock = threading.Lock()
    position = [0]

    def next_user(index: int) -> str:
        with lock:
            user = users[position[0] % len(users)]
            position[0] += 1
            return user

    return next_user


def crash(db: Path, args: list[str], log: Path, env: dict[str, str], seconds: float) -> dict[str, Any]:
    """Stream feedback, kill -9 the service, restart it, count."""
    service = Service(db, args, log, env).start()
    user = f"crash-{int(time.time())}"
    acknowledged: set[float] = set()
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=service.url, timeout=10, headers={"X-API-Key": KEY}) as client:
            stamp = 0
            failures = 0
            while not stop.is_set() and failures < 50:
                try:
                    answer = client.post("/feedback", json=[{"user": user, "item": "1", "label": "clicked",
                                                             "timestamp": float(stamp)}])
                    if 200 <= answer.status_code < 300:
                        acknowledged.add(float(stamp))
                except httpx.HTTPError:
                    failures += 1
                    time.sleep(0.02)
                stamp += 1

    thread = threading.Thread(target=stream)
    thread.start()
    time.sleep(seconds)
    service.kill()
    killed_at = len(acknowledged)
    time.sleep(1.0)
    stop.set()
    thread.join()
    again = Service(db, args, log, env).start()
    try:
        stored = {f["timestamp"] for f in httpx.get(f"{again.url}/users/{user}/feedback", timeout=60).json()}
    finally:
        again.stop()
    return {"acknowledged": len(acknowledged), "acknowledged_before_kill": killed_at, "present": len(stored),
            "lost": len(acknowledged - stored), "written_not_acknowledged": len(stored - acknowledged)}


def variants_of(workers: str, baseline: str | None) -> dict[str, tuple[int, str | None]]:
    """Name -> (worker processes, PYTHONPATH) of each service the weight-0 cells run on."""
    found: dict[str, tuple[int, str | None]] = {}
    if baseline:
        if not (Path(baseline) / "promptrec" / "__init__.py").exists():
            raise SystemExit(f"--baseline {baseline}: no promptrec package in it "
                             "(make one: git archive REV promptrec | tar -x -C DIR)")
        found["baseline"] = (1, str(Path(baseline).resolve()))
    for count in (int(w) for w in workers.split(",")):
        found[f"{count} worker" + ("s" if count > 1 else "")] = (count, None)
    return found


def warm_up(url: str, users: list[str]) -> None:
    """One answer for every user, as a service whose users come back has seen them (uncounted)."""
    with httpx.Client(base_url=url, timeout=120) as client:
        for user in users:
            client.get(f"/users/{user}/recommendations", params={"n": 10})


def table(rows: list[dict[str, Any]], title: str) -> str:
    lines = [f"**{title}**", "", "| variant | clients | phase | req/s | p50 ms | p95 ms | p99 ms | errors | server CPU ms/request "
             "| load | feedback writer |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        writer = row.get("writer")
        lines.append(f"| {row.get('variant', '')} | {row['clients']} | {row.get('phase', '')} | {row['req_per_s']} | {row['p50_ms']} | "
                     f"{row['p95_ms']} | {row['p99_ms']} | {row['errors']} | {row.get('server_cpu_ms_per_request', '-')} | "
                     f"{row.get('load_average', '-')} | "
                     + (f"{writer['per_s']} in {writer['posts']} POSTs (p95 {writer['p95_ms']} ms), {writer['errors']} errors"
                        if writer else "-") + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per cell")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--writer-rate", type=float, default=100.0)
    parser.add_argument("--llm-weight", type=float, default=0.5)
    parser.add_argument("--llm-delay", type=float, default=0.1)
    parser.add_argument("--llm-users", type=int, default=200, help="users per LLM cell, none shared between cells "
                        "(cold: asked in order, a new prompt each until they run out; warm: the same order again)")
    parser.add_argument("--crash-seconds", type=float, default=4.0)
    parser.add_argument("--workers", default="1", help="promptrec serve --workers of the weight-0 cells; a comma "
                        "list runs each, side by side")
    parser.add_argument("--baseline", default=None, help="also run the weight-0 cells on the promptrec package in "
                        "this folder (one worker), side by side")
    parser.add_argument("--skip", default="", help="comma-separated: weight0, llm, crash")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "serve.json")
    options = parser.parse_args()
    clients = [int(c) for c in options.clients.split(",")]
    skip = set(filter(None, options.skip.split(",")))
    movies, ratings = options.data / "movies.csv", options.data / "ratings.csv"
    if not movies.exists():
        raise SystemExit(f"MovieLens not found at {options.data} (set PROMPTREC_DATA)")
    import csv

    with ratings.open() as handle:
        users = sorted({row["userId"] for row in csv.DictReader(handle)}, key=int)
    with movies.open() as handle:
        items = [row["movieId"] for row in csv.DictReader(handle)]

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    env = {**os.environ, "PROMPTREC_FEEDBACK_DB": str(work / "cli-feedback.sqlite3")}
    log = work / "serve.log"
    db = work / "state.sqlite3"
    base = ["--catalog", str(movies), "--interactions", str(ratings)]
    report: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                              "load_average_start": round(os.getloadavg()[0], 2), "duration_s": options.duration,
                              "catalog": 9742, "ratings": 100836, "command": " ".join(sys.argv)}
    print(f"bench_serve: work folder {work}, load average {os.getloadavg()[0]:.1f}", flush=True)
    try:
        if "weight0" not in skip:
            print("weight 0", flush=True)
            variants = variants_of(options.workers, options.baseline)
            services: dict[str, Service] = {}
            rows = []
            try:
                for name, (workers, pythonpath) in variants.items():
                    variant_env = {**env, "PYTHONPATH": pythonpath} if pythonpath else env
                    services[name] = Service(work / f"{name}.sqlite3", [*base, "--llm-weight", "0", "--workers",
                                             str(workers)], log, variant_env).start(workers=workers)
                    warm_up(services[name].url, users)
                for count in clients:
                    for phase, rate in (("none", 0.0), ("100/s", options.writer_rate)):
                        for name, service in services.items():
                            cpu = service.cpu_seconds()
                            row = {"variant": name, "phase": phase,
                                   **load(service.url, count, options.duration, random_users(users, count), rate,
                                          users, items, seed=count)}
                            row["server_cpu_ms_per_request"] = round(
                                (service.cpu_seconds() - cpu) * 1000 / max(1, row["requests"] + row.get("writer", {}).get("posts", 0)), 1)
                            row["load_average"] = round(os.getloadavg()[0], 2)
                            print("  ", json.dumps(row), flush=True)
                            rows.append(row)
            finally:
                for service in services.values():
                    service.stop()
            report["weight0"] = rows
            report["variants"] = {name: {"workers": w, "code": p or "this checkout"} for name, (w, p) in variants.items()}
        if "llm" not in skip:
            print(f"weight {options.llm_weight}, stub LLM answering after {options.llm_delay} s", flush=True)
            stub = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_stub.py"), "--delay",
                                     str(options.llm_delay)], stdout=subprocess.PIPE, text=True)
            try:
                stub_url = stub.stdout.readline().strip()  # type: ignore[union-attr]
                service = Service(db, [*base, "--backend", "openai:stub", "--base-url", stub_url, "--backend-api-key",
                                       "unused", "--llm-weight", str(options.llm_weight), "--cache-dir",
                                       str(work / "llm-cache")], log, env).start()
                rows = []
                shuffled = random.Random(7).sample(users, len(users))
                try:
                    for cell, count in enumerate(clients):
                        chosen = shuffled[cell * options.llm_users:(cell + 1) * options.llm_users] or shuffled
                        for phase in ("cold", "warm"):
                            before, cpu = service.metrics(), service.cpu_seconds()
                            row = {"phase": phase, **load(service.url, count, options.duration, sequence_of(chosen))}
                            after = service.metrics()
                            row["server_cpu_ms_per_request"] = round((service.cpu_seconds() - cpu) * 1000 / max(1, row["requests"]), 1)
                            row["llm"] = {k: after[k] - before[k] for k in after}
                            print("  ", json.dumps(row), flush=True)
                            rows.append(row)
                finally:
                    service.stop()
                report["llm"] = {"weight": options.llm_weight, "delay_s": options.llm_delay, "rows": rows}
            finally:
                stub.terminate()
        if "crash" not in skip:
            print("crash", flush=True)
            report["crash"] = crash(db, [*base, "--llm-weight", "0"], log, env, options.crash_seconds)
            print("  ", json.dumps(report["crash"]), flush=True)
    finally:
        report["load_average_end"] = round(os.getloadavg()[0], 2)
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(report, indent=2) + "\n")
        shutil.rmtree(work, ignore_errors=True)
    if "weight0" in report:
        print(table(report["weight0"], "weight 0 (GET /users/{id}/recommendations?n=10)"))
    if "llm" in report:
        print(table(report["llm"]["rows"], f"weight {options.llm_weight}, LLM stub {options.llm_delay} s"))
        for row in report["llm"]["rows"]:
            print(f"  {row['clients']} clients {row['phase']}: {row['llm']}")
    print(f"wrote {options.out}")


if __name__ == "__main__":
    main()
