"""A real OpenAI-compatible HTTP server on 127.0.0.1 for fault-injection tests.

It answers ``/v1/chat/completions`` by ranking the prompt's candidate labels in reverse shown order, and a
``behaviour`` function can turn any request into a fault: a status code, headers, a delay, a broken body.
"""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LABEL_LINE = re.compile(r"^\[([A-Z]{1,2}|\d+)\] ", re.MULTILINE)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # None: a normal answer; dict: sent as JSON; bytes: sent as is
    delay: float = 0.0


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """A chat completion that ranks the labels of the last user message in reverse order."""
    user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
    labels = LABEL_LINE.findall(user) or ["A"]
    text = " > ".join(f"[{label}]" for label in reversed(labels))
    prompt_tokens = sum(len(m["content"]) // 4 for m in body["messages"])
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "stub"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(labels) * 3, "total_tokens": prompt_tokens + len(labels) * 3},
    }


def fail_some() -> Callable[[int, dict[str, Any]], Reply]:
    """A behaviour that fails about 20% of prompts, chosen by a hash of the prompt (so the same ones in every
    run): 10% for good (400, "rejected by the stub") and 10% on their first attempt only (503, then answered).
    Keyed by prompt, not by call number, so a retry never meets the 503 again however requests interleave."""
    failed_once: set[str] = set()
    lock = threading.Lock()

    def behaviour(n: int, body: dict[str, Any]) -> Reply:
        prompt = body["messages"][-1]["content"]
        bucket = zlib.crc32(prompt.encode()) % 10
        if bucket == 0:
            return Reply(400, body={"error": {"message": "rejected by the stub", "type": "invalid_request_error"}})
        if bucket == 1:
            with lock:
                first = prompt not in failed_once
                failed_once.add(prompt)
            if first:
                return Reply(503)
        return Reply()

    return behaviour


class StubServer:
    """Start with ``with StubServer(behaviour) as server:``; ``server.url`` is the base URL (…/v1)."""

    def __init__(self, behaviour: Callable[[int, dict[str, Any]], Reply] | None = None, delay: float = 0.0):
        self.behaviour = behaviour or (lambda number, body: Reply())
        self.delay = delay
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            disable_nagle_algorithm = True
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with stub._lock:
                    stub.bodies.append(body)
                    stub.headers.append({k.lower(): v for k, v in self.headers.items()})
                    number = len(stub.bodies)
                reply = stub.behaviour(number, body)
                time.sleep(stub.delay + reply.delay)
                if reply.body is None and reply.status == 200:
                    payload = json.dumps(answer(body)).encode()
                elif isinstance(reply.body, bytes):
                    payload = reply.body
                else:
                    payload = json.dumps(reply.body or {"error": {"message": f"stub error {reply.status}", "type": "stub"}}).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def calls(self) -> int:
        return len(self.bodies)

    def __enter__(self) -> StubServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


if __name__ == "__main__":  # a stand-alone server for benchmarks: prints its base URL, serves until killed
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.0)
    options = parser.parse_args()
    with StubServer(delay=options.delay) as server:
        print(server.url, flush=True)
        threading.Event().wait()
