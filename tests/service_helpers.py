"""Shared by the service's tests: a throwaway PostgreSQL server, the service on 127.0.0.1 (in this process or
as a real ``promptrec serve`` process), and the database URLs each test runs against.

PostgreSQL: the Debian server binaries (``/usr/lib/postgresql/*/bin``; ``.ci/run`` installs them) start one
cluster per test session in a temporary folder, listening on 127.0.0.1 only; as root it runs as the
``postgres`` user (``runuser``), as anyone else as that user. Each test gets a fresh database in it. Where
the binaries are missing, the PostgreSQL variants skip and say why.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------------- PostgreSQL


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server binaries (initdb, pg_ctl), if installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


class PostgresServer:
    """One throwaway cluster on 127.0.0.1 (see the module docstring); :meth:`new_database` gives URLs."""

    def __init__(self) -> None:
        binaries = postgres_bin()
        if binaries is None:
            raise RuntimeError("PostgreSQL's server binaries are not installed (apt-get install postgresql)")
        self.bin = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="promptrec-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd

            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                   "--no-sync"])
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                   "-t", "60", "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}", "start"])
        atexit.register(self.stop)

    def _run(self, command: list[str]) -> None:
        done = subprocess.run([*self.as_user, *command], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr or done.stdout}\n{tail}")

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


_POSTGRES: list[PostgresServer] = []


def postgres() -> PostgresServer:
    """The session's PostgreSQL server (started on first use); skips the test where it cannot run."""
    if postgres_bin() is None:
        pytest.skip("PostgreSQL's server binaries are not installed (.ci/run installs the postgresql package)")
    pytest.importorskip("psycopg", reason="needs the server extra (psycopg)")
    if not _POSTGRES:
        _POSTGRES.append(PostgresServer())
    return _POSTGRES[0]


#: the databases every store and service test runs against
DATABASES = ("sqlite", "postgresql")


def database_url(kind: str, folder: Path) -> str:
    """A fresh database of ``kind``: a SQLite file in ``folder`` (a path, as ``--db`` takes it), or a new
    PostgreSQL database (a URL)."""
    if kind == "sqlite":
        return str(folder / f"service-{uuid.uuid4().hex[:8]}.sqlite3")
    return postgres().new_database()


# ------------------------------------------------------------------------------------------- the service


class ThreadedServer:
    """A FastAPI app under uvicorn on 127.0.0.1, in a thread of this process (real HTTP, fast to start)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class ServiceProcess:
    """``promptrec serve ...`` as a real process on 127.0.0.1; ``url`` once /health answers."""

    def __init__(self, *args: str, db: str, api_key: str = "test-key", env: dict[str, str] | None = None,
                 log: Path | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        self.command = [sys.executable, "-m", "promptrec.cli", "serve", "--db", db, "--port", str(self.port),
                        "--api-key", api_key, *args]
        self.env = {**os.environ, **(env or {})}
        self.log = log or Path(tempfile.mkstemp(prefix="promptrec-serve-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 240.0) -> ServiceProcess:
        import httpx

        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(self.command, stdout=handle, stderr=subprocess.STDOUT, env=self.env,
                                            cwd=ROOT)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"promptrec serve exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"promptrec serve did not answer in {timeout} s:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """``kill -9``: no shutdown of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


_SESSION_CACHE: list[Path] = []


def session_cache() -> Path:
    """One cache folder for the service tests of this test session: the demo catalog's indexes (keyed by its
    content) are built once, not once per test; completions the tests cache go to their own folders."""
    if not _SESSION_CACHE:
        _SESSION_CACHE.append(Path(tempfile.mkdtemp(prefix="promptrec-service-cache-")))
        atexit.register(shutil.rmtree, _SESSION_CACHE[0], True)
    return _SESSION_CACHE[0]


@contextlib.contextmanager
def private_cache(folder: Path) -> Iterator[None]:
    """``PROMPTREC_CACHE_DIR`` (:func:`session_cache`) and ``PROMPTREC_FEEDBACK_DB`` (in ``folder``) while the
    block runs (for fixtures wider than one test, which the autouse fixtures of conftest.py do not reach)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMPTREC_CACHE_DIR", str(session_cache()))
        patch.setenv("PROMPTREC_FEEDBACK_DB", str(folder / "feedback.sqlite3"))
        yield


@contextlib.contextmanager
def started_service(folder: Path, interactions: str, db: str = "service.sqlite3") -> Iterator[Any]:
    """A started :class:`~promptrec.service.core.RecommendationService` over the demo catalog, no HTTP, with
    the ``interactions`` CSV text (``user_id,item_id,timestamp,rating`` rows) as its interactions file."""
    from promptrec.config import PipelineConfig
    from promptrec.service.core import RecommendationService
    from promptrec.service.settings import ServiceSettings

    path = folder / "interactions.csv"
    path.write_text(interactions)
    with private_cache(folder):
        settings = ServiceSettings(db=str(folder / db), catalog="demo", interactions=str(path), api_key="k",
                                   config=PipelineConfig(scenario="movies"))
        service = RecommendationService(settings)
        service.start()
        try:
            yield service
        finally:
            service.close()


@contextlib.contextmanager
def demo_service(folder: Path, kind: str = "sqlite", **settings: Any) -> Iterator[Any]:
    """The service over the demo catalog, in this process, on 127.0.0.1 (``kind``: its database); yields an
    ``httpx.Client`` on its URL with ``.service`` (the RecommendationService) and ``.key`` set."""
    import httpx

    from promptrec.config import PipelineConfig
    from promptrec.service import ServiceSettings, create_app

    with private_cache(folder):
        config = PipelineConfig.from_dict({"scenario": "movies", "cache": {"dir": str(folder / "completions")}})
        options = {"db": database_url(kind, folder), "catalog": "demo", "api_key": "test-key", "config": config,
                   **settings}
        app = create_app(ServiceSettings(**options))
        with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            client.service = app.state.service  # type: ignore[attr-defined]
            client.key = options["api_key"]  # type: ignore[attr-defined]
            yield client
