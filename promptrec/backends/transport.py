"""HTTP calls with a total deadline and an answer size cap, for the backends that talk to a server.

httpx's timeouts bound each socket operation, not a call: a server that sends one byte every few seconds
(or a never-ending answer) keeps a call alive for ever. :func:`http_client` makes an ``httpx.Client`` whose
connections go through a network backend that, inside :func:`call_limits`, shortens every connect, read
and write to the time left before the call's deadline and counts the bytes received; past the deadline a
read fails with ``DeadlineExceeded`` (an ``httpcore.ReadTimeout``, so it is a timeout like any other),
and past the cap with :class:`AnswerTooLarge` (not retried: the same request would get the same answer).
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from collections.abc import Iterator
from typing import Any

#: the largest answer read from a server, in bytes (a ranking of 100 candidates is a few kilobytes)
MAX_ANSWER_BYTES = 8 * 2**20

_local = threading.local()


class AnswerTooLarge(Exception):  # noqa: N818 - named for what happened, like httpx's errors
    """A server's answer went over the size cap."""


_made: dict[str, type[Exception]] = {}


def _deadline_error() -> type[Exception]:
    """``DeadlineExceeded``: a ``ReadTimeout`` of the httpcore that the current call's httpx maps (made on first
    use: importing this module imports neither)."""
    limits = _limits()
    name = limits.httpcore if limits is not None else "httpcore"
    if name not in _made:
        httpcore = importlib.import_module(name)

        class DeadlineExceeded(httpcore.ReadTimeout):  # type: ignore[name-defined,misc]
            """A call went past its total deadline."""

        _made[name] = DeadlineExceeded
    return _made[name]


class _Limits:
    __slots__ = ("deadline", "seconds", "max_bytes", "received", "httpcore")

    def __init__(self, seconds: float, max_bytes: int, httpcore: str = "httpcore") -> None:
        self.httpcore = httpcore
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.max_bytes = max_bytes
        self.received = 0

    def timeout(self, given: float | None) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self.deadline_error()
        return remaining if given is None else min(given, remaining)

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline - 0.01

    def deadline_error(self) -> Exception:
        return _deadline_error()(f"no complete answer within the {self.seconds:g} s deadline")

    def count(self, data: bytes) -> bytes:
        self.received += len(data)
        if self.received > self.max_bytes:
            raise AnswerTooLarge(f"the answer is larger than {self.max_bytes:,} bytes")
        return data


@contextlib.contextmanager
def call_limits(seconds: float, max_bytes: int = MAX_ANSWER_BYTES, httpx: Any = None) -> Iterator[None]:
    """Within this block, HTTP calls of :func:`http_client` clients on this thread end ``seconds`` from now
    at the latest and read at most ``max_bytes``. ``httpx`` is the httpx module the client is made with
    (``httpx`` or ``httpx2``, whichever the openai SDK uses)."""
    outer = getattr(_local, "limits", None)
    name = getattr(httpx, "__name__", "httpx").replace("httpx", "httpcore")
    _local.limits = _Limits(seconds, max_bytes, name)
    try:
        yield
    finally:
        _local.limits = outer


def _limits() -> _Limits | None:
    return getattr(_local, "limits", None)


@contextlib.contextmanager
def _deadline(limits: _Limits) -> Iterator[None]:
    """A timeout that happened because the deadline came is reported as the deadline."""
    try:
        yield
    except Exception as exc:
        if limits.expired() and type(exc).__name__ != "DeadlineExceeded" and not isinstance(exc, AnswerTooLarge):
            raise limits.deadline_error() from exc
        raise


class _Stream:
    """A network stream whose operations obey the current :func:`call_limits`."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limits = _limits()
        if limits is None:
            return self._stream.read(max_bytes, timeout)  # type: ignore[no-any-return]
        with _deadline(limits):
            return limits.count(self._stream.read(max_bytes, limits.timeout(timeout)))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        limits = _limits()
        if limits is None:
            self._stream.write(buffer, timeout)
            return
        with _deadline(limits):
            self._stream.write(buffer, limits.timeout(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> _Stream:
        limits = _limits()
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, limits.timeout(timeout) if limits else timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend:
    """An httpcore network backend whose streams are :class:`_Stream` s."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> _Stream:
        limits = _limits()
        if limits is None:
            return _Stream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))
        with _deadline(limits):
            return _Stream(self._backend.connect_tcp(host, port, limits.timeout(timeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> _Stream:
        limits = _limits()
        return _Stream(self._backend.connect_unix_socket(path, limits.timeout(timeout) if limits else timeout,
                                                         socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def openai_httpx() -> Any:
    """The httpx module the installed openai SDK makes its clients with (``httpx2`` in newer releases)."""
    import openai._base_client as base

    for name in ("httpx2", "httpx"):
        module = getattr(base, name, None)
        if module is not None and hasattr(module, "HTTPTransport"):
            return module
    import httpx

    return httpx


def http_client(timeout: float, httpx: Any = None, **kwargs: Any) -> Any:
    """A client of ``httpx`` (the module; default: :func:`openai_httpx`), ``timeout`` per socket operation,
    whose calls obey :func:`call_limits`."""
    httpx = httpx or openai_httpx()
    transport = httpx.HTTPTransport()
    pool = getattr(transport, "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = _Backend(pool._network_backend)
    return httpx.Client(transport=transport, timeout=timeout, **kwargs)


def limit_cause(exc: BaseException) -> BaseException | None:
    """The :class:`AnswerTooLarge` or ``DeadlineExceeded`` behind ``exc`` (its causes and contexts), if any."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        if isinstance(current, AnswerTooLarge) or type(current).__name__ == "DeadlineExceeded":
            return current
        seen.append(current)
        current = current.__cause__ or current.__context__
    return None

