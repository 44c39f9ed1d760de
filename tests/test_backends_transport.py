"""HTTP calls with a total deadline and an answer size cap, against real servers on 127.0.0.1."""

import importlib
import socket
import threading
import time

import pytest
from backends_helpers import MESSAGES
from openai_stub import Reply, StubServer

from promptrec.backends import GenerationParams, get_backend
from promptrec.backends.transport import AnswerTooLarge, call_limits, http_client, limit_cause, openai_httpx
from promptrec.errors import BackendError
from promptrec.retry import is_transient


class DripServer:
    """Sends HTTP headers, then one byte of a long body every 0.2 s (or, with ``headers_too``, the headers
    themselves a byte at a time): each read is quick, the whole answer never comes."""

    def __init__(self, headers_too: bool = False) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.headers_too = headers_too
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
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        try:
            conn.recv(65536)
            if not self.headers_too:
                conn.sendall(head)
                head = b" " * 100000
            for byte in head:
                if self.stop.is_set():
                    return
                conn.sendall(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self) -> "DripServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.sock.close()


@pytest.mark.parametrize("headers_too", [False, True], ids=["body drip-fed", "headers drip-fed"])
def test_a_drip_feeding_server_is_cut_off_at_the_deadline(headers_too):
    with DripServer(headers_too) as server:
        backend = get_backend("openai:stub", base_url=server.url, timeout=1.0)
        with pytest.raises(BackendError, match="deadline") as info:
            backend.complete(MESSAGES, GenerationParams())
    assert is_transient(info.value)  # a timeout: the retry policy may try again, each try with its own deadline


def test_an_answer_over_the_size_cap_is_an_error_that_is_not_retried():
    huge = {"id": "x", "object": "chat.completion", "model": "stub", "created": 0,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "[A] " * 400_000}}]}
    with StubServer(lambda n, body: Reply(body=huge)) as server:
        backend = get_backend("openai:stub", base_url=server.url, max_answer_bytes=1_000_000, structured="off")
        with pytest.raises(BackendError, match="larger than 1,000,000 bytes") as info:
            backend.complete(MESSAGES, GenerationParams())
        assert not is_transient(info.value) and server.calls == 1
        roomy = get_backend("openai:stub", base_url=server.url, max_answer_bytes=4_000_000, structured="off")
        assert roomy.complete(MESSAGES, GenerationParams()).text.startswith("[A] ")


def test_ordinary_calls_are_unchanged_and_limits_do_not_leak_between_calls():
    with StubServer() as server:
        backend = get_backend("openai:stub", base_url=server.url, timeout=5.0, structured="off")
        for _ in range(3):
            assert backend.complete(MESSAGES, GenerationParams()).text
        assert server.calls == 3


@pytest.mark.parametrize("flavour", ["httpx", "httpx2"])
def test_the_limits_work_with_either_httpx(flavour):
    httpx = pytest.importorskip(flavour)
    with DripServer() as server, http_client(30.0, httpx) as client:
        with call_limits(0.6, httpx=httpx), pytest.raises(httpx.ReadTimeout) as info:
            client.get(server.url)
        assert limit_cause(info.value) is not None
        with call_limits(30.0, max_bytes=64, httpx=httpx), pytest.raises(Exception) as big:  # noqa: PT011
            client.get(server.url)
        assert isinstance(limit_cause(big.value), AnswerTooLarge)
    with StubServer() as stub, http_client(30.0, httpx) as client:  # no limits outside call_limits
        assert client.post(stub.url + "/chat/completions", json={"messages": MESSAGES}).status_code == 200


def test_the_openai_sdk_flavour_is_found():
    module = openai_httpx()
    assert module.__name__ in ("httpx", "httpx2") and importlib.import_module(module.__name__) is module
