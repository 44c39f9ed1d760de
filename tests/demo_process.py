"""One real ``promptrec serve --catalog demo`` process for the test files that drive the service only from the
outside, as its users would (tests/test_service_page.py: the page in chromium, which writes nothing;
tests/test_service_gorse.py: the Gorse SDK): started on first use, stopped when the test session ends, so
the suite pays for one start-up, not one per file."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from service_helpers import ServiceProcess, session_cache

#: What the shared service runs with besides the demo catalog: two extra Gorse feedback types.
ARGS = ("--catalog", "demo", "--gorse-feedback", "purchase=liked", "--gorse-feedback", "skip=skipped")

_RUNNING: list[ServiceProcess] = []


def demo_process() -> ServiceProcess:
    """The session's demo service (started now if it is not running yet)."""
    if not _RUNNING:
        folder = Path(tempfile.mkdtemp(prefix="promptrec-demo-service-"))
        process = ServiceProcess(*ARGS, db=str(folder / "service.sqlite3"), log=folder / "serve.log",
                                 env={"PROMPTREC_CACHE_DIR": str(session_cache())})
        try:
            process.start()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        atexit.register(shutil.rmtree, folder, True)
        atexit.register(process.stop)  # atexit runs in reverse: stop first, then remove the folder
        _RUNNING.append(process)
    return _RUNNING[0]
