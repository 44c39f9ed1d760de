"""``promptrec serve`` as a user runs it: a real process on 127.0.0.1, the issue's checks over real HTTP;
``kill -9`` while a client streams feedback loses nothing that was acknowledged; bad command lines are one
clear line. ``promptrec serve-model`` is the model server that was ``serve``.

The processes here use SQLite, the default (each start costs seconds); the same API on PostgreSQL is
tested in this process by test_service_app.py, and reopening a PostgreSQL store by test_service_store.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="needs the server extra")
pytest.importorskip("sqlalchemy", reason="needs the server extra")

import httpx  # noqa: E402

#: generous: the shared test machine can be loaded many times over, and a first answer loads indexes
TIMEOUT = 60.0
from click.testing import CliRunner  # noqa: E402
from service_helpers import ROOT, ServiceProcess, database_url, session_cache  # noqa: E402

from promptrec.cli import main  # noqa: E402
from promptrec.cli.serve import serve, serve_model  # noqa: E402

KEY = "the-key"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    db = database_url("sqlite", folder)
    env = {"PROMPTREC_CACHE_DIR": str(session_cache()), "PROMPTREC_FEEDBACK_DB": str(folder / "cli.sqlite3")}
    process = ServiceProcess("--catalog", "demo", db=db, api_key=KEY, env=env, log=folder / "serve.log")
    with process:
        process.db = db  # type: ignore[attr-defined]
        yield process


def test_the_issue_checks_hold(served):
    url = served.url
    assert httpx.get(f"{url}/health", timeout=TIMEOUT).status_code == 200
    record = [{"user": "u9", "item": "m01", "label": "liked"}]
    assert httpx.post(f"{url}/feedback", json=record, timeout=TIMEOUT).status_code == 401
    answer = httpx.post(f"{url}/feedback", json=record, headers={"X-API-Key": KEY}, timeout=TIMEOUT)
    assert 200 <= answer.status_code < 300
    first = httpx.get(f"{url}/users/u9/recommendations", params={"n": 5}, timeout=TIMEOUT).json()
    assert len(first["items"]) == 5
    assert all(item["id"] and item["reason"].strip() for item in first["items"])
    top = first["items"][0]["id"]
    disliked = httpx.post(f"{url}/feedback", json=[{"user": "u9", "item": top, "label": "disliked"}],
                          headers={"X-API-Key": KEY}, timeout=TIMEOUT)
    assert 200 <= disliked.status_code < 300
    after = httpx.get(f"{url}/users/u9/recommendations", params={"n": 5}, timeout=TIMEOUT).json()
    assert top not in [item["id"] for item in after["items"]]
    assert "127.0.0.1" in served.output()  # bound to loopback unless told otherwise


def test_bad_input_leaves_it_up(served):
    url = served.url
    broken = httpx.post(f"{url}/feedback", content=b'[{"user": "u1", "item":', headers={
        "X-API-Key": KEY, "Content-Type": "application/json"}, timeout=TIMEOUT)
    assert broken.status_code == 422 and "malformed JSON" in broken.json()["detail"]
    assert httpx.get(f"{url}/users/u9/recommendations", params={"n": 10**9}, timeout=TIMEOUT).status_code == 422
    assert httpx.get(f"{url}/health", timeout=TIMEOUT).status_code == 200
    assert "Traceback" not in served.output()


def test_kill_9_while_feedback_streams_loses_nothing_acknowledged(served):
    """After the issue's checks: an item added, one hidden, then feedback streamed and the process killed."""
    url = served.url
    key = {"X-API-Key": KEY}
    assert httpx.post(f"{url}/items", json=[{"id": "x1", "title": "Crash Course"}], headers=key, timeout=TIMEOUT).status_code == 200
    assert httpx.delete(f"{url}/items/m02", headers=key, timeout=TIMEOUT).status_code == 200
    before = httpx.get(f"{url}/users/u9/feedback", timeout=TIMEOUT).json()
    acknowledged: set[float] = set()
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=url, headers=key, timeout=10) as client:
            stamp = 0
            while not stop.is_set() and stamp < 100_000:
                try:
                    answer = client.post("/feedback", json=[{"user": "crash", "item": "m03", "label": "clicked",
                                                             "timestamp": float(stamp)}])
                    if 200 <= answer.status_code < 300:
                        acknowledged.add(float(stamp))
                except httpx.HTTPError:
                    time.sleep(0.01)
                stamp += 1

    writer = threading.Thread(target=stream)
    writer.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    served.kill()  # SIGKILL: no shutdown of any kind
    stop.set()
    writer.join()
    assert len(acknowledged) >= 50
    served.start()
    stored = {f["timestamp"] for f in httpx.get(f"{url}/users/crash/feedback", timeout=TIMEOUT).json()}
    assert acknowledged <= stored  # every acknowledged write is there
    assert len(stored - acknowledged) <= 1  # at most the one in flight at the kill
    assert httpx.get(f"{url}/users/u9/feedback", timeout=TIMEOUT).json() == before
    assert httpx.get(f"{url}/items/x1", timeout=TIMEOUT).json()["title"] == "Crash Course"
    assert httpx.get(f"{url}/items/m02", timeout=TIMEOUT).json()["hidden"] is True
    answer = httpx.get(f"{url}/users/u9/recommendations", params={"n": 24}, timeout=TIMEOUT).json()
    assert "m02" not in [item["id"] for item in answer["items"]]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "promptrec.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


@pytest.mark.parametrize(("args", "message"), [
    (["--catalog", "{tmp}/missing.jsonl"], "missing.jsonl"),
    (["--catalog", "demo", "--db", "mysql://localhost/x"], "unsupported database 'mysql'"),
    (["--catalog", "demo", "--interactions", "{tmp}/missing.csv"], "missing.csv"),
    (["--catalog", "demo", "--api-key", "tab\tkey"], "printable ASCII"),
    (["--catalog", "demo", "--retriever", "nope"], "unknown retriever 'nope'"),
])
def test_bad_command_lines_are_one_clear_line(tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(session_cache()))
    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "s.sqlite3"),
                                       *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code in (1, 2), result.output
    assert message in result.output and "Traceback" not in result.output and result.exception is None or isinstance(
        result.exception, SystemExit)


def test_with_only_the_demo_catalog_it_serves_on_loopback_with_a_printed_key(tmp_path):
    """``promptrec serve --catalog demo``: no other argument (the database goes to the user data folder)."""
    import socket

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8080)) == 0:
            pytest.skip("port 8080 is taken on this machine")
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "PROMPTREC_CACHE_DIR": str(session_cache())}
    env.pop("PROMPTREC_API_KEY", None)
    process = ServiceProcess("--catalog", "demo", db="x", env=env, log=tmp_path / "serve.log", port=8080)
    process.command = [sys.executable, "-m", "promptrec.cli", "serve", "--catalog", "demo"]
    process.env.pop("PROMPTREC_API_KEY", None)
    with process:
        health = httpx.get("http://127.0.0.1:8080/health", timeout=TIMEOUT).json()
        assert health["items"] == 24 and health["database"] == "sqlite"
        assert (tmp_path / "data" / "promptrec" / "service.sqlite3").exists()
        printed = [line for line in process.output().splitlines() if "X-API-Key:" in line]
        assert printed, process.output()
        key = printed[0].split("X-API-Key:")[1].split()[0]
        record = [{"user": "u1", "item": "m01", "label": "liked"}]
        assert httpx.post("http://127.0.0.1:8080/feedback", json=record, timeout=TIMEOUT).status_code == 401
        assert httpx.post("http://127.0.0.1:8080/feedback", json=record, headers={"X-API-Key": key}, timeout=TIMEOUT).status_code == 200


def test_serve_model_is_the_former_model_server():
    assert serve.name == "serve" and serve_model.name == "serve-model"
    assert "GGUF" in (serve_model.help or "") and "recommendation" in (serve.help or "").lower()
    done = run_cli("serve-model", "--model", "/nonexistent/model.gguf")
    assert done.returncode == 1 and "model file not found" in done.stderr


def test_several_workers_share_the_database_and_see_each_others_catalog_changes(tmp_path):
    env = {"PROMPTREC_CACHE_DIR": str(session_cache()), "PROMPTREC_FEEDBACK_DB": str(tmp_path / "cli.sqlite3")}
    with ServiceProcess("--catalog", "demo", "--workers", "2", db=str(tmp_path / "w.sqlite3"), api_key=KEY, env=env,
                        log=tmp_path / "serve.log") as process:
        written = httpx.post(f"{process.url}/items", json=[{"id": "w1", "title": "Worker Film"}],
                             headers={"X-API-Key": KEY}, timeout=TIMEOUT)
        assert written.status_code == 200
        for _ in range(8):  # new connections: the kernel spreads them over both processes
            answer = httpx.get(f"{process.url}/items/w1/similar", params={"n": 2}, timeout=TIMEOUT)
            assert answer.status_code == 200 and len(answer.json()["items"]) == 2
        assert "2 worker processes" in process.output()
