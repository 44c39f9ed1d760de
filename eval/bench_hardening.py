"""Try bad inputs and faults against the ``promptrec`` command line, as a new user would, and count outcomes.

Every case runs the real CLI in a fresh process (``python -m promptrec.cli``), with its own temporary folder
and cache, against a real OpenAI-compatible stub server on 127.0.0.1 where a model is needed
(``tests/openai_stub.py``), a drip-feeding raw socket server, and real files. Each outcome is one of:

- ``clear``: the run failed as it should, with an error and no traceback;
- ``handled``: the run went on as it should (a warning, the right output);
- ``traceback``: a Python traceback reached the user;
- ``hang``: no exit within the case's time limit (killed);
- ``wrong``: exit 0 with a wrong answer (a bad input accepted silently, a wrong ranking);
- ``lost``: records lost or duplicated;
- ``leak``: the secret sentinel in anything written (stdout, stderr, files);
- ``refused``: an error where the run should have gone on (a cache fault that stops the run).

Usage::

    python eval/bench_hardening.py                      # this working tree
    python eval/bench_hardening.py --tree /tmp/before   # another checkout (e.g. ``git archive`` of a commit)
    python eval/bench_hardening.py --json out.json --only templates,secrets

Each process gets a 4 GiB address-space limit (a template that builds a 10 GB string fails, not the
machine). Prints one line per case and a table per class.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from openai_stub import Reply, StubServer  # noqa: E402

SECRET = "sk-SENTINEL-27-never-write-me"
OUTCOMES = ("clear", "handled", "traceback", "hang", "wrong", "lost", "leak", "refused")
PYTHON = sys.executable


@dataclass
class Result:
    rc: int | None
    out: str
    err: str
    seconds: float
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.out + self.err

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.text


@dataclass
class Case:
    klass: str
    name: str
    run: Callable[[Path, Bench], tuple[str, Result]]


class Bench:
    def __init__(self, tree: Path, limit: float) -> None:
        self.tree = tree
        self.limit = limit
        self.stub = StubServer().__enter__()
        self.base_url = self.stub.url

    def close(self) -> None:
        self.stub.__exit__(None, None, None)

    def cli(self, tmp: Path, *args: str, env: dict[str, str] | None = None, limit: float | None = None,
            fsize: int | None = None, stdin: bytes | None = None) -> Result:
        environment = {**os.environ, "PYTHONPATH": str(self.tree), "PROMPTREC_CACHE_DIR": str(tmp / "cache"),
                       "PROMPTREC_FEEDBACK_DB": str(tmp / "feedback.sqlite3"), "NO_COLOR": "1",
                       "OPENAI_API_KEY": "", **(env or {})}

        def limits() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
            if fsize is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            os.setsid()

        started = time.monotonic()
        process = subprocess.Popen([PYTHON, "-m", "promptrec.cli", *args], cwd=tmp, env=environment,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE,
                                   preexec_fn=limits)
        try:
            out, err = process.communicate(stdin or b"", timeout=limit or self.limit)
            rc: int | None = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            rc = None
        return Result(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.monotonic() - started)

    def stub_args(self, base_url: str | None = None) -> list[str]:
        return ["--backend", "openai:stub", "--base-url", base_url or self.base_url, "--max-attempts", "1"]


# -------------------------------------------------------------------------------------------- helpers

CATALOG = "\n".join(json.dumps({"id": f"m{i:02d}", "title": f"Movie {i}", "genres": "Drama"}) for i in range(1, 13)) + "\n"


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def verdict_error(result: Result, wrong: str = "wrong") -> str:
    """An input that must be refused: a clear error, or (exit 0) a silent wrong answer."""
    if result.rc is None:
        return "hang"
    if result.traceback:
        return "traceback"
    if SECRET in result.text:
        return "leak"
    return "clear" if result.rc != 0 else wrong


def verdict_ok(result: Result, good: bool, bad: str = "wrong") -> str:
    """A fault the run must survive: exit 0 with the right output."""
    if result.rc is None:
        return "hang"
    if result.traceback:
        return "traceback"
    if SECRET in result.text:
        return "leak"
    if result.rc != 0:
        return "refused"
    return "handled" if good else bad


def rank_args(tmp: Path, bench: Bench, *extra: str) -> list[str]:
    catalog = write(tmp / "catalog.jsonl", CATALOG)
    return ["rank", "--catalog", str(catalog), "--history", "m01,m02", "--candidates", "m03,m04,m05,m06",
            *bench.stub_args(), *extra]


# ------------------------------------------------------------------------------------------ templates

BOMBS = {
    "lipsum(10**6)": "{{ lipsum(10**6) }}",
    "9**99999999": "{{ 9**99999999 }}",
    "range(10**9)": "{% for i in range(10**9) %}x{% endfor %}",
    "nested ranges": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "'a'*10**10": "{{ 'a'*10**10 }}",
    "recursive macro": "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "self include": "{% include 'bomb/user.j2' %}",
    "mutual include": "{% include 'bomb/other.j2' %}",
    "nested loops, no calls": "".join("{% for x" + str(i) + " in [1,2,3,4,5,6,7,8,9,10] %}" for i in range(9))
    + "{% endfor %}" * 9,
    "format width": "{{ '%1000000000d'|format(1) }}",
    "center(10**9)": "{{ 'a'|center(10**9) }}",
}


def template_case(name: str, source: str) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        write(tmp / "p/bomb/scenario.toml", 'extends = "default"\nname = "bomb"\n')
        write(tmp / "p/bomb/user.j2", source)
        write(tmp / "p/bomb/other.j2", "{% include 'bomb/user.j2' %}")
        result = bench.cli(tmp, "scenarios", "show", "bomb", "--prompts", str(tmp / "p"))
        return verdict_error(result), result

    return Case("templates: budget", name, run)


def symlink_case(name: str, link: str) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        write(tmp / "p/leaky/scenario.toml", 'extends = "default"\nname = "leaky"\n')
        if link == "user.j2":
            (tmp / "p/leaky/user.j2").symlink_to("/etc/passwd")
        else:
            write(tmp / "p/leaky/user.j2", "{% include 'leaky/passwd.j2' %}")
            (tmp / "p/leaky/passwd.j2").symlink_to("/etc/passwd")
        result = bench.cli(tmp, "scenarios", "show", "leaky", "--prompts", str(tmp / "p"))
        verdict = verdict_error(result)
        return ("wrong" if "root:" in result.out else verdict), result

    return Case("templates: symlinks", name, run)


# ---------------------------------------------------------------------------------------------- config

def config_case(name: str, file: str, data: bytes) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        path = write(tmp / file, data)
        result = bench.cli(tmp, "config", "show", "--config", str(path))
        return verdict_error(result), result

    return Case("config files", name, run)


# ----------------------------------------------------------------------------------------- data files

def data_case(name: str, file: str, data: bytes, role: str) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        path = write(tmp / file, data)
        catalog = write(tmp / "catalog.jsonl", CATALOG)
        if role == "catalog":
            args = ["rank", "--catalog", str(path), "--llm-weight", "0", "--retriever", "bm25", "--history-title", "Movie"]
        elif role == "candidates":
            args = ["rank", "--candidates-file", str(path), "--history-title", "Movie 1", *bench.stub_args()]
        else:
            args = ["rank", "--catalog", str(catalog), "--user-file", str(path), "--user", "u1",
                    "--candidates", "m05,m06,m07", *bench.stub_args()]
        result = bench.cli(tmp, *args)
        return verdict_error(result), result

    return Case("data files", name, run)


def cli_input_case(name: str, extra: list[str]) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        result = bench.cli(tmp, *rank_args(tmp, bench, *extra))
        return verdict_error(result), result

    return Case("command-line input", name, run)


# -------------------------------------------------------------------------------------------- batch

def requests(n: int = 4, bad: dict[str, Any] | None = None) -> str:
    lines = []
    for i in range(n):
        record: dict[str, Any] = {"id": f"r{i}", "history": ["m01", "m02"], "candidates": ["m03", "m04", "m05"]}
        if bad is not None and i == 1:
            record.update(bad)
        lines.append(json.dumps(record))
    return "\n".join(lines) + "\n"


def output_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    ids = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            ids.append(str(json.loads(line)["id"]))
        except (ValueError, KeyError, TypeError):
            ids.append("<not an output line>")
    return ids


def batch_field_case(name: str, bad: dict[str, Any]) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        catalog = write(tmp / "catalog.jsonl", CATALOG)
        write(tmp / "req.jsonl", requests(4, bad))
        result = bench.cli(tmp, "batch", "req.jsonl", "-o", "out.jsonl", "--catalog", str(catalog), *bench.stub_args())
        lines = [json.loads(line) for line in (tmp / "out.jsonl").read_text().splitlines()] if (tmp / "out.jsonl").exists() else []
        by_id = {str(line["id"]): line for line in lines}
        good = len(lines) == 4 and [by_id.get(i, {}).get("ok") for i in ("r0", "r2", "r3")] == [True] * 3 \
            and sum(1 for line in lines if not line["ok"]) == 1
        if result.rc is None or result.traceback:
            return verdict_ok(result, good), result
        if good and result.rc in (0, 1):  # every line written; exit 1 says that a request failed
            return "handled", result
        return ("refused" if result.rc != 0 else "wrong"), result  # the run stopped, or the bad request was ranked

    return Case("batch requests", name, run)


def batch_output_case(name: str, kind: str) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        catalog = write(tmp / "catalog.jsonl", CATALOG)
        write(tmp / "req.jsonl", requests(4))
        base = ["--catalog", str(catalog), *bench.stub_args()]
        if kind == "unwritable":
            calls = bench.stub.calls
            result = bench.cli(tmp, "batch", "req.jsonl", "-o", "/proc/promptrec-out.jsonl", *base)
            verdict = verdict_error(result)
            return ("wrong" if verdict == "clear" and bench.stub.calls != calls else verdict), result
        if kind == "missing folder":
            result = bench.cli(tmp, "batch", "req.jsonl", "-o", "no/such/folder/out.jsonl", *base)
            return verdict_error(result), result
        if kind == "same as input":
            before = (tmp / "req.jsonl").read_bytes()
            result = bench.cli(tmp, "batch", "req.jsonl", "-o", "req.jsonl", *base)
            changed = (tmp / "req.jsonl").read_bytes() != before
            verdict = verdict_error(result, wrong="lost")
            return ("lost" if changed and verdict in ("clear", "lost") else verdict), result
        if kind == "/dev/stdout":
            result = bench.cli(tmp, "batch", "req.jsonl", "-o", "/dev/stdout", *base)
            ids = [json.loads(line)["id"] for line in result.out.splitlines() if line.startswith("{") and '"ok"' in line]
            return verdict_ok(result, sorted(ids) == ["r0", "r1", "r2", "r3"]), result
        if kind == "second run at once":
            slow = StubServer(delay=0.4).__enter__()
            try:
                write(tmp / "req.jsonl", requests(12))
                slow_url = slow.url
                args = ["batch", "req.jsonl", "-o", "out.jsonl", "--catalog", str(catalog), "--workers", "1",
                        *bench.stub_args(slow_url), "--no-cache"]
                first: dict[str, Result] = {}
                thread = threading.Thread(target=lambda: first.setdefault("r", bench.cli(tmp, *args)))
                thread.start()
                time.sleep(4.0)
                second = bench.cli(tmp, *args)
                thread.join()
            finally:
                slow.__exit__(None, None, None)
            ids = output_ids(tmp / "out.jsonl")
            duplicated = len(ids) != len(set(ids)) or sorted(set(ids)) != sorted(f"r{i}" for i in range(12))
            result = Result(second.rc, second.out + first["r"].out, second.err + first["r"].err,
                            second.seconds)
            if result.traceback:
                return "traceback", result
            return ("lost" if duplicated else "handled" if second.rc == 0 else "clear"), result
        raise ValueError(kind)

    return Case("batch output", name, run)


# ------------------------------------------------------------------------------------------- caches

def cache_case(name: str, fault: str, weight0: bool, index: bool = False, no_cache: bool = False) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        cache = tmp / "cache"
        env: dict[str, str] = {}
        fsize = None
        if fault == "a file":
            write(cache, "not a folder")
        elif fault == "read-only":
            env["PROMPTREC_CACHE_DIR"] = "/proc/self/promptrec-cache"  # no folder can be made there, even as root
        elif fault == "full":
            fsize = 20_000
        elif fault == "corrupt":
            write(cache / "cache.db", os.urandom(50_000))
            write(cache / "retrieval" / "bm25" / "x" / "meta.json", b"\x00" * 100)
        if weight0 or index:
            catalog = write(tmp / "catalog.jsonl", CATALOG)
            args = ["rank", "--catalog", str(catalog), "--history", "m01,m02", "--retriever", "bm25", "--json",
                    *(["--llm-weight", "0"] if weight0 else ["--llm-weight", "0.5", *bench.stub_args()])]
        else:
            args = [*rank_args(tmp, bench), "--json"]
        if no_cache:
            args.append("--no-cache")
        if fault == "full":  # the file size limit is for the caches: the feedback store is not one
            args.append("--no-feedback")
        result = bench.cli(tmp, *args, env={**env, "PROMPTREC_CACHE_DIR": env.get("PROMPTREC_CACHE_DIR", str(cache))},
                           fsize=fsize)
        try:
            items = [entry["item"]["id"] for entry in json.loads(result.out)["items"]]
        except (ValueError, KeyError, TypeError):
            items = []
        return verdict_ok(result, len(items) >= 3), result

    return Case("cache faults", name, run)


def index_array_case(name: str, damage: str) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        import numpy as np

        titles = ["Alien", "Aliens", "Alien Resurrection", "Heat", "Up", "Down Periscope", "Heat Wave", "The Alien Heat",
                  "Brazil", "Aliens vs Heat", "Solaris", "Stalker"]
        catalog = write(tmp / "catalog.jsonl", "".join(json.dumps({"id": f"m{i:02d}", "title": t}) + "\n"
                                                       for i, t in enumerate(titles)))
        args = ["rank", "--catalog", str(catalog), "--history", "m00,m03", "--retriever", "bm25", "--llm-weight", "0", "--json"]
        clean = bench.cli(tmp, *args)
        arrays = sorted((tmp / "cache").glob("retrieval/**/*.npy"))
        for path in arrays:
            array = np.load(path, allow_pickle=False)
            if damage == "zeroed":
                path.write_bytes(b"\x00" * path.stat().st_size)
            elif damage == "wrong length":
                np.save(path, array[: max(len(array) // 2, 1)], allow_pickle=False)
            else:  # values zeroed, same shape and dtype
                np.save(path, np.zeros_like(array), allow_pickle=False)
        result = bench.cli(tmp, *args)
        try:
            good = [e["item"]["id"] for e in json.loads(result.out)["items"]] == [e["item"]["id"] for e in json.loads(clean.out)["items"]]
        except (ValueError, KeyError, TypeError):
            good = False
        return verdict_ok(result, good and bool(arrays)), result

    return Case("index cache arrays", name, run)


# ----------------------------------------------------------------------------------------- feedback

def feedback_case(name: str, kind: str) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        record = {"user_id": "u1", "scenario": "movies", "item_id": "m01", "item_title": "Movie 1", "label": "liked"}
        if kind in ("import NaN rating", "import NaN timestamp", "import Infinity"):
            bad = {"import NaN rating": '"label": "rating", "rating": NaN', "import NaN timestamp": '"timestamp": NaN',
                   "import Infinity": '"timestamp": Infinity'}[kind]
            text = json.dumps(record)[:-1] + ", " + bad + "}\n"
            if kind == "import NaN rating":
                text = text.replace('"label": "liked", ', "")
            write(tmp / "fb.jsonl", text)
            result = bench.cli(tmp, "feedback", "import", "fb.jsonl")
            return verdict_error(result), result
        if kind == "add --timestamp nan":
            result = bench.cli(tmp, "feedback", "add", "--user", "u1", "--item", "m01", "--title", "Movie 1",
                               "--label", "liked", "--timestamp", "nan")
            return verdict_error(result), result
        if kind == "export onto a symlink":
            target = write(tmp / "precious.txt", "keep me\n")
            (tmp / "link.jsonl").symlink_to(target)
            bench.cli(tmp, "feedback", "add", "--user", "u1", "--item", "m01", "--title", "Movie 1", "--label", "liked")
            result = bench.cli(tmp, "feedback", "export", "link.jsonl")
            intact = (tmp / "link.jsonl").is_symlink() and target.read_text() == "keep me\n"
            verdict = verdict_error(result, wrong="lost")
            return ("lost" if not intact else verdict), result
        raise ValueError(kind)

    return Case("feedback store", name, run)


# ------------------------------------------------------------------------------------------ network

class DripServer:
    """Answers every connection with HTTP headers and then one byte of body every half second."""

    def __init__(self, body_bytes: int = 10_000) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.body_bytes = body_bytes
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {self.body_bytes}\r\n\r\n".encode())
            for _ in range(self.body_bytes):
                if self.stop.is_set():
                    break
                conn.sendall(b" ")
                time.sleep(0.5)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def network_case(name: str, kind: str) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        catalog = write(tmp / "catalog.jsonl", CATALOG)
        base = ["rank", "--catalog", str(catalog), "--history", "m01,m02", "--candidates", "m03,m04,m05"]
        if kind == "drip-feed":
            drip = DripServer()
            try:
                result = bench.cli(tmp, *base, *bench.stub_args(f"http://127.0.0.1:{drip.port}/v1"), "-O", "timeout=3",
                                   limit=40)
            finally:
                drip.close()
            return verdict_error(result), result
        if kind == "30 MB answer":
            huge = {"id": "x", "object": "chat.completion", "model": "stub", "created": 0,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "[A] > " * 5_000_000}}]}
            with StubServer(lambda n, body: Reply(body=huge)) as server:
                url = server.url
                result = bench.cli(tmp, *base, *bench.stub_args(url), limit=60)
            return verdict_error(result), result
        if kind == "NaN logprobs":
            def nan_logprobs(n: int, body: dict[str, Any]) -> Reply:
                top = [{"token": t, "logprob": float("nan"), "bytes": None} for t in ("A", "B", "C")]
                return Reply(body={"id": "x", "object": "chat.completion", "model": "stub", "created": 0,
                                   "choices": [{"index": 0, "finish_reason": "stop",
                                                "message": {"role": "assistant", "content": "A"},
                                                "logprobs": {"content": [{"token": "A", "logprob": float("nan"), "bytes": None,
                                                                          "top_logprobs": top}]}}]})

            with StubServer(nan_logprobs) as server:
                url = server.url
                result = bench.cli(tmp, *base, *bench.stub_args(url), "--mode", "score", "--json")
            if result.rc == 0:
                valid = "NaN" not in result.out and "Infinity" not in result.out
                return ("handled" if valid else "wrong"), result
            return verdict_error(result), result
        raise ValueError(kind)

    return Case("network", name, run)


# ------------------------------------------------------------------------------------------ secrets

def secret_case(name: str, kind: str) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        catalog = write(tmp / "catalog.jsonl", CATALOG)
        url = bench.base_url.replace("http://", f"http://user:{SECRET}@")
        if kind == "config show -O api_key=":
            result = bench.cli(tmp, "config", "show", "--backend", "openai:x", "-O", f"api_key={SECRET}")
        elif kind == "config show base_url user:pass@":
            result = bench.cli(tmp, "config", "show", "--backend", "openai:x", "--base-url", url)
        elif kind == "rank --json, base_url user:pass@":
            result = bench.cli(tmp, "rank", "--catalog", str(catalog), "--history", "m01", "--candidates", "m03,m04",
                               "--backend", "openai:stub", "--base-url", url, "--json")
        elif kind == "rank table, base_url user:pass@":
            result = bench.cli(tmp, "rank", "--catalog", str(catalog), "--history", "m01", "--candidates", "m03,m04",
                               "--backend", "openai:stub", "--base-url", url)
        elif kind in ("error echoing Authorization", "-vv logs, echoed key"):
            def echo(n: int, body: dict[str, Any]) -> Reply:
                return Reply(401, body={"error": {"message": f"Incorrect API key provided: Bearer {SECRET}",
                                                  "type": "invalid_request_error"}})

            with StubServer(echo) as server:
                surl = server.url
                verbose = ["-vv"] if kind.startswith("-vv") else []
                result = bench.cli(tmp, *verbose, "rank", "--catalog", str(catalog), "--history", "m01", "--candidates",
                                   "m03,m04", "--backend", "openai:stub", "--base-url", surl, "--api-key", SECRET,
                                   "--max-attempts", "1")
        elif kind == "batch lines, base_url user:pass@":
            write(tmp / "req.jsonl", requests(3))
            result = bench.cli(tmp, "batch", "req.jsonl", "-o", "out.jsonl", "--catalog", str(catalog),
                               "--backend", "openai:stub", "--base-url", url)
        elif kind == "eval report, --api-key and user:pass@":
            sys.path.insert(0, str(ROOT / "tests"))
            from fixtures_helpers import fixtures_root

            result = bench.cli(tmp, "eval", "-d", f"movielens:{fixtures_root() / 'tinylens'}", "-n", "4", "--valid-users", "0",
                               "--backend", "openai:stub", "--base-url", url, "--api-key", SECRET, "-o", str(tmp / "run"),
                               limit=120)
        else:
            raise ValueError(kind)
        written = b"".join(p.read_bytes() for p in tmp.rglob("*") if p.is_file() and not p.is_symlink())
        leaked = SECRET in result.text or SECRET.encode() in written
        if result.rc is None:
            return "hang", result
        if result.traceback:
            return "traceback", result
        return ("leak" if leaked else "handled" if result.rc == 0 else "clear"), result

    return Case("secrets", name, run)


# ----------------------------------------------------------------------------------------- terminal

def terminal_case(name: str, kind: str) -> Case:
    def run(tmp: Path, bench: Bench) -> tuple[str, Result]:
        title = "Evil \x1b]0;pwned\x07\x1b[2J\x1b[31mRed\r\x08Movie"
        catalog = write(tmp / "catalog.jsonl", CATALOG + json.dumps({"id": "m99", "title": title}) + "\n")
        if kind == "table":
            result = bench.cli(tmp, "rank", "--catalog", str(catalog), "--history", "m01", "--candidates", "m99,m03",
                               *bench.stub_args())
            return verdict_ok(result, "\x1b" not in result.out and "\x08" not in result.out and "Evil" in result.out), result
        if kind == "json keeps it":
            result = bench.cli(tmp, "rank", "--catalog", str(catalog), "--history", "m01", "--candidates", "m99,m03",
                               *bench.stub_args(), "--json")
            try:
                kept = any(e["item"]["title"] == title for e in json.loads(result.out)["items"])
            except (ValueError, KeyError, TypeError):
                kept = False
            return verdict_ok(result, kept), result
        if kind == "serve-model --model not a model":
            write(tmp / "notamodel.gguf", "hello, I am text\n" * 100)
            # the model server is 'serve-model' since the service took 'serve' (before: 'serve')
            command = "serve-model" if (bench.tree / "promptrec" / "cli" / "serve.py").exists() else "serve"
            result = bench.cli(tmp, command, "--model", str(tmp / "notamodel.gguf"), "--port", "1", limit=60)
            return verdict_error(result), result
        raise ValueError(kind)

    return Case("terminal and serve", name, run)


# ---------------------------------------------------------------------------------------------- all

def cases() -> list[Case]:
    found = [template_case(name, source) for name, source in BOMBS.items()]
    found += [symlink_case("user.j2 -> /etc/passwd", "user.j2"), symlink_case("include of a link to /etc/passwd", "include")]
    deep_toml = b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"
    found += [
        config_case("TOML nested 5000 deep", "deep.toml", deep_toml),
        config_case("TOML inline tables 2000 deep", "deep2.toml", b"a = " + b"{b = " * 2000 + b"1" + b"}" * 2000 + b"\n"),
        config_case("JSON nested 100000 deep", "deep.json", b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        config_case("TOML not UTF-8", "latin1.toml", 'scenario = "caf\xe9"\n'.encode("latin-1")),
        config_case("JSON not UTF-8", "latin1.json", '{"scenario": "caf\xe9"}'.encode("latin-1")),
        config_case("pool = true", "pool.toml", b"[retrieval]\npool = true\n"),
        config_case("llm_weight = nan", "nan.toml", b"[retrieval]\nllm_weight = nan\n"),
        config_case("JSON seed NaN", "nan.json", b'{"ranker": {"seed": NaN}}'),
    ]
    found += [
        data_case("CSV catalog, unterminated quote", "catalog.csv", b'id,title\n1,"unterminated\n2,Second\n3,Third\n', "catalog"),
        data_case("JSONL title NaN", "cands.jsonl", b'{"id": "a", "title": NaN}\n{"id": "b", "title": "B"}\n', "candidates"),
        data_case("JSONL title Infinity", "cands2.jsonl", b'{"id": "a", "title": Infinity}\n{"id": "b", "title": "B"}\n', "candidates"),
        data_case("JSONL 100000 deep", "deep.jsonl", b'{"id": "a", "title": "A", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "candidates"),
        data_case("CSV history timestamp nan", "h.csv", b"user_id,item_id,timestamp\nu1,m01,nan\nu1,m02,5\n", "history"),
        data_case("CSV history rating inf", "h2.csv", b"user_id,item_id,rating\nu1,m01,inf\nu1,m02,4\n", "history"),
        cli_input_case("--history-title ''", ["--history-title", ""]),
        cli_input_case("--candidates with --candidates-file", ["--candidates-file", "catalog.jsonl"]),
    ]
    found += [batch_field_case(f'"{key}": {json.dumps(value)}', {key: value}) for key, value in
              (("scenario", 5), ("user_id", {"a": 1}), ("id", [1]), ("k", "ten"))]
    found += [batch_output_case(kind, kind) for kind in
              ("unwritable", "missing folder", "same as input", "/dev/stdout", "second run at once")]
    for fault in ("a file", "read-only", "full", "corrupt"):
        found.append(cache_case(f"cache {fault}", fault, weight0=False))
        found.append(cache_case(f"cache {fault}, weight 0", fault, weight0=True))
        found.append(cache_case(f"index cache {fault}, --no-cache", fault, weight0=False, index=True, no_cache=True))
    found += [index_array_case(f"index arrays {damage}", damage) for damage in ("zeroed", "wrong length", "values zeroed")]
    found += [feedback_case(kind, kind) for kind in
              ("import NaN rating", "import NaN timestamp", "import Infinity", "add --timestamp nan", "export onto a symlink")]
    found += [network_case(kind, kind) for kind in ("drip-feed", "30 MB answer", "NaN logprobs")]
    found += [secret_case(kind, kind) for kind in (
        "config show -O api_key=", "config show base_url user:pass@", "rank --json, base_url user:pass@",
        "rank table, base_url user:pass@", "error echoing Authorization", "-vv logs, echoed key",
        "batch lines, base_url user:pass@", "eval report, --api-key and user:pass@")]
    found += [terminal_case(kind, kind) for kind in ("table", "json keeps it", "serve-model --model not a model")]
    return found


def compare(before_files: list[Path], after_files: list[Path]) -> None:
    """Print a before/after table per class from saved ``--json`` outcomes (later files replace earlier
    outcomes of the same case, so a re-run of some cases can be merged in)."""
    def load(files: list[Path]) -> dict[tuple[str, str], str]:
        merged: dict[tuple[str, str], str] = {}
        for file in files:
            for row in json.loads(file.read_text())["outcomes"]:
                merged[(row["class"], row["case"])] = row["outcome"]
        return merged

    before, after = load(before_files), load(after_files)
    classes = list(dict.fromkeys(klass for klass, _ in [*before, *after]))
    bad = ("traceback", "hang", "wrong", "lost", "leak", "refused")
    print("| class | inputs | clear errors | handled | tracebacks | hangs | wrong | lost | leaks | refused |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for klass in [*classes, None]:
        cells = []
        for outcome in OUTCOMES:
            b = sum(1 for (k, _), o in before.items() if (klass is None or k == klass) and o == outcome)
            a = sum(1 for (k, _), o in after.items() if (klass is None or k == klass) and o == outcome)
            cells.append(f"{b} → {a}" if (b or a) else "0")
        n = sum(1 for (k, _) in after if klass is None or k == klass)
        print(f"| {klass or '**all**'} | {n} | " + " | ".join(cells) + " |")
    left = [(k, c, o) for (k, c), o in after.items() if o in bad]
    if left:
        print("\nstill failing:", *(f"{k}: {c} ({o})" for k, c, o in left), sep="\n  ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to test [default: this one]")
    parser.add_argument("--limit", type=float, default=30.0, help="seconds before a case counts as a hang")
    parser.add_argument("--only", help="comma-separated words; run the cases whose class or name contains one")
    parser.add_argument("--json", type=Path, help="write every outcome here")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"),
                        help="print a before/after table from two --json files (each may be a comma-separated "
                        "list, later files replacing earlier outcomes of the same cases) and exit")
    args = parser.parse_args()
    if args.compare:
        compare(*([Path(f) for f in group.split(",")] for group in args.compare))
        return
    bench = Bench(args.tree.resolve(), args.limit)
    selected = [c for c in cases() if not args.only or any(w in f"{c.klass} {c.name}" for w in args.only.split(","))]
    outcomes: list[dict[str, Any]] = []
    try:
        for case in selected:
            tmp = Path(tempfile.mkdtemp(prefix="bench-hardening-"))
            try:
                verdict, result = case.run(tmp, bench)
            except Exception as exc:  # noqa: BLE001 - a broken case is reported, not fatal
                verdict, result = "traceback", Result(1, "", f"bench error: {type(exc).__name__}: {exc}", 0.0)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            last = next((line for line in reversed(result.err.strip().splitlines()) if line.strip()), "")[:150]
            print(f"{verdict:9} {result.seconds:6.1f}s  {case.klass}: {case.name}  | {last}", flush=True)
            outcomes.append({"class": case.klass, "case": case.name, "outcome": verdict, "rc": result.rc,
                             "seconds": round(result.seconds, 2), "last_line": last})
    finally:
        bench.close()
    print()
    by_class: dict[str, Counter[str]] = {}
    for row in outcomes:
        by_class.setdefault(row["class"], Counter())[row["outcome"]] += 1
    print("| class | inputs | " + " | ".join(OUTCOMES) + " |")
    print("|---|---:|" + "---:|" * len(OUTCOMES))
    total: Counter[str] = Counter()
    for klass, counts in by_class.items():
        total.update(counts)
        print(f"| {klass} | {sum(counts.values())} | " + " | ".join(str(counts[o]) for o in OUTCOMES) + " |")
    print(f"| **all** | {sum(total.values())} | " + " | ".join(str(total[o]) for o in OUTCOMES) + " |")
    if args.json:
        args.json.write_text(json.dumps({"tree": str(args.tree), "outcomes": outcomes}, indent=1))


if __name__ == "__main__":
    main()
