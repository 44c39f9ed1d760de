"""Retries of transient backend failures with tenacity: jittered exponential backoff honouring Retry-After.

Transient: HTTP 429 (except an exhausted quota), 408, 409, 5xx, timeouts and connection errors. Anything
else (400, 401, 403, 404, 422, a server that rejects a parameter...) fails at once. The classification reads
the backend error's cause, so it works for any SDK whose errors carry ``status_code`` and ``response``.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

logger = logging.getLogger(__name__)

T = TypeVar("T")

_TRANSIENT_STATUS = {408, 409, 425, 429}
_TRANSIENT_NAMES = ("Timeout", "TimeoutError", "ConnectionError", "APIConnectionError", "APITimeoutError",
                    "ConnectError", "ReadError", "RemoteProtocolError", "ConnectionResetError")

#: words in a 5xx error that blame the request, not the server: retrying the same request cannot help
_REQUEST_FAULT = re.compile(r"not supported|unsupported|unknown (?:parameter|argument|field)|invalid (?:parameter|argument|value)"
                            r"|validation error|extra (?:inputs|fields) are not permitted", re.IGNORECASE)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``attempts`` in all (1 = no retry), backoff between ``initial`` and ``maximum`` s."""

    attempts: int = 5
    initial: float = 0.5
    maximum: float = 30.0


def _root_causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_transient(exc: BaseException) -> bool:
    """Whether retrying ``exc`` (or what caused it) can help."""
    for cause in _root_causes(exc):
        status = _status(cause)
        if status is not None:
            if status == 429:
                return "insufficient_quota" not in str(getattr(cause, "code", "") or "") + str(cause)
            if status >= 500:  # a server error, unless it says the request itself is wrong (llama.cpp's server
                return not _REQUEST_FAULT.search(str(cause))  # answers 500 to parameters it does not support)
            return status in _TRANSIENT_STATUS
        if any(type(cause).__name__ == name for name in _TRANSIENT_NAMES) or isinstance(
            cause, (TimeoutError, ConnectionError)
        ):
            return True
    return False


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` / ``retry-after-ms``), if it said."""
    for cause in _root_causes(exc):
        response = getattr(cause, "response", None)
        headers = getattr(response, "headers", None)
        if not headers:
            continue
        milliseconds = headers.get("retry-after-ms")
        if milliseconds:
            try:
                return max(0.0, float(milliseconds) / 1000)
            except ValueError:
                pass
        value = headers.get("retry-after")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                parsed = email.utils.parsedate_to_datetime(value) if value else None
                if parsed is not None:
                    return max(0.0, parsed.timestamp() - time.time())
    return None


def call_with_retries(
    call: Callable[[], T], policy: RetryPolicy, on_retry: Callable[[BaseException, float], None] | None = None
) -> T:
    """Run ``call``, retrying transient failures as ``policy`` says; the last error is re-raised as is."""
    backoff = wait_random_exponential(multiplier=policy.initial, max=policy.maximum)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = retry_after(error) if error else None
        delay = min(policy.maximum, asked) if asked is not None else backoff(state)
        if on_retry and error is not None:
            on_retry(error, delay)
        logger.info("transient failure (%s); retry %d in %.2fs", error, state.attempt_number, delay)
        return delay

    retrying = Retrying(
        stop=stop_after_attempt(max(1, policy.attempts)),
        wait=wait,
        retry=retry_if_exception(is_transient),
        reraise=True,
    )
    return retrying(call)
