"""Serve a GGUF model over the OpenAI-compatible HTTP API on 127.0.0.1 (llama-cpp-python's server).

For trying the ``openai`` backend against a real server without leaving the machine, in tests and
benchmarks::

    with serve_gguf() as base_url:               # the bundled SmolLM2 model, as model "smollm2"
        backend = get_backend("openai:smollm2", base_url=base_url, api_key="unused")

From a shell, ``promptrec serve-model`` (or ``python -m promptrec.backends.local_server``) takes the arguments of
``python -m llama_cpp.server`` and runs it with the AMX protection of :mod:`promptrec.backends.amx` (a
plain ``python -m llama_cpp.server`` crashes on the first prompt on CPUs with AMX); ``--model`` defaults
to the bundled GGUF.

Needs the ``local`` extra plus the server's own packages (``pip install 'llama-cpp-python[server]'``).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from promptrec.backends.llamacpp import bundled_model_path
from promptrec.errors import BackendError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_gguf(
    model: str | Path | None = None,
    *,
    alias: str = "smollm2",
    n_ctx: int = 4096,
    threads: int | None = None,
    log: Path | None = None,
    timeout: float = 180.0,
) -> Iterator[str]:
    """Run llama-cpp-python's server (through :func:`main`, so with the AMX protection) on ``model``
    (default: the bundled GGUF) in its own process and yield its base URL once ``/v1/models`` answers;
    the server is stopped on exit.

    Raises:
        BackendError: the server exited or did not answer within ``timeout`` seconds (with its log's end).
    """
    port = free_port()
    command = [
        sys.executable, "-m", "promptrec.backends.local_server", "--model", str(model or bundled_model_path()),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", alias,
    ]
    if threads:
        command += ["--n_threads", str(threads), "--n_threads_batch", str(threads)]
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log.open("wb")) if log else subprocess.DEVNULL
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{base_url}/models", timeout=2):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        tail = log.read_text(errors="replace")[-3000:] if log else "(no log kept)"
                        raise BackendError(f"llama_cpp.server did not start:\n{tail}") from None
                    time.sleep(0.5)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def check_model_file(model: str | Path) -> None:
    """A :class:`BackendError` unless ``model`` is a readable GGUF file (it starts with the ``GGUF`` magic),
    so that a wrong file is one clear line and not a crash deep inside llama.cpp."""
    path = Path(model).expanduser()
    if not path.is_file():
        raise BackendError(f"model file not found: {model}")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise BackendError(f"cannot read the model file {model}: {exc.strerror or exc}") from None
    if magic != b"GGUF":
        raise BackendError(f"{model} is not a GGUF model file (it does not start with 'GGUF'); "
                           "give a .gguf file, e.g. from Hugging Face")


def main(argv: list[str] | None = None) -> None:
    """``python -m llama_cpp.server`` with ``argv``, every model loaded under :func:`amx.apply_to_process`
    (``PROMPTREC_LLAMA_EXTRA_BUFFERS`` decides); ``--model`` defaults to the bundled GGUF."""
    import faulthandler

    from promptrec.backends import amx

    try:
        faulthandler.enable(file=sys.__stderr__)
    except (AttributeError, ValueError, OSError):  # no stderr file descriptor (an embedding host)
        pass
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(arg == "--model" or arg.startswith("--model=") or arg == "--config_file" for arg in args):
        args = ["--model", str(bundled_model_path()), *args]
    for index, arg in enumerate(args):
        model = arg.partition("=")[2] if arg.startswith("--model=") else args[index + 1] if (
            arg == "--model" and index + 1 < len(args)) else None
        if model is not None:
            check_model_file(model)
    try:
        from llama_cpp.server.__main__ import main as server_main
    except ImportError:
        from promptrec.errors import MissingDependencyError

        raise MissingDependencyError("llama-cpp-python[server]", "dev") from None
    amx.apply_to_process()
    print(f"promptrec serve-model: {amx.describe()}", file=sys.stderr, flush=True)
    sys.argv = [sys.argv[0], *args]
    server_main()


if __name__ == "__main__":
    main()
