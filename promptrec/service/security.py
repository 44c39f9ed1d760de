"""The service's door: the API key, the body-size limit, and errors as one clear line of JSON.

* Writes (POST /items, DELETE /items/{id}, POST /feedback) need the key in the ``X-API-Key`` header. Reads
  may leave it out (unless the settings make the service ``private``), but a read that sends a wrong key
  is refused too. Either way a refusal is 401 and nothing else happens. Keys are compared in constant time.
* A body larger than ``max_body_bytes`` gets 413 before anything reads it as JSON (by its
  Content-Length, or by counting a chunked body as it streams).
* Malformed JSON, a wrong field, NaN: 422 with ``{"detail": "body[0].rating: ..."}``; an error the pipeline
  raises on purpose (:class:`~promptrec.errors.PromptrecError`) is 422 with its message; anything else is
  logged with its traceback and answered 500 without one.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptrec.errors import PromptrecError
from promptrec.service.settings import API_KEY_HEADER, ServiceSettings

logger = logging.getLogger(__name__)

UNAUTHORIZED = f"missing or wrong API key (header {API_KEY_HEADER})"


class Unauthorized(Exception):
    """A request without the right API key."""


def key_matches(given: str | None, settings: ServiceSettings) -> bool:
    """Whether ``given`` is the service's key (constant-time)."""
    return given is not None and hmac.compare_digest(given.encode(), settings.api_key.encode())


async def check_write(request: Request) -> None:
    """FastAPI dependency of every write: the key must be there and right. ``async``: it only compares a
    header, so it runs on the event loop (a plain ``def`` would cost a trip through the thread pool)."""
    settings: ServiceSettings = request.app.state.settings
    if not key_matches(request.headers.get(API_KEY_HEADER), settings):
        raise Unauthorized()


async def check_read(request: Request) -> None:
    """FastAPI dependency of every read: a key, when sent (or when the service is private), must be right."""
    settings: ServiceSettings = request.app.state.settings
    given = request.headers.get(API_KEY_HEADER)
    if (given is not None or settings.private) and not key_matches(given, settings):
        raise Unauthorized()


class BodyLimitMiddleware:
    """413 for a request body over ``limit`` bytes, by Content-Length or while a chunked body streams."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _problem(send, 400, "the Content-Length header is not a number")
                return
            if declared > self.limit:
                await _problem(send, 413, self._message(declared))
                return
            await self.app(scope, receive, send)
            return
        # no Content-Length (chunked): read it here, counting, and hand the app what was read
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await _problem(send, 413, self._message(size, at_least=True))
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _message(self, size: int, at_least: bool = False) -> str:
        return (f"request body {'over ' if at_least else 'of '}{size} bytes is larger than the limit of {self.limit} "
                "bytes; send fewer records per request")


async def _problem(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def explain(exc: RequestValidationError) -> str:
    """One line per problem: ``body[0].rating: Input should be a finite number``; malformed JSON says where."""
    lines = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "malformed JSON")
            position = error["loc"][-1] if error.get("loc") else None
            lines.append(f"malformed JSON{f' at character {position}' if isinstance(position, int) else ''}: {reason}")
            continue
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if tuple(error.get("loc", ())) == ("body",) and isinstance(error.get("input"), bytes):
            lines.append("the body must be JSON, sent with the header Content-Type: application/json")
            continue
        if error.get("type") == "missing":
            message = "required"
        elif error.get("type") == "extra_forbidden":
            message = "unknown field"
        elif error.get("type") == "finite_number":
            message = "must be a finite number (not NaN or infinity)"
        lines.append(f"{_location(error.get('loc', ()))}: {message}")
    return "; ".join(dict.fromkeys(lines)) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"detail": "<one clear line>"}`` (see the module docstring)."""

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return JSONResponse({"detail": UNAUTHORIZED}, status_code=401)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": explain(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(PromptrecError)
    async def refused(request: Request, exc: PromptrecError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); the server log has the details"},
                            status_code=500)


__all__ = ["BodyLimitMiddleware", "UNAUTHORIZED", "Unauthorized", "check_read", "check_write", "explain",
           "install_error_handlers", "key_matches"]
