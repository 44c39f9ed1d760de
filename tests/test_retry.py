from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import pytest
from openai_stub import Reply, StubServer

from promptrec import Ranker
from promptrec.backends import get_backend
from promptrec.errors import BackendError
from promptrec.retry import RetryPolicy, is_transient, retry_after

FAST = RetryPolicy(attempts=4, initial=0.01, maximum=0.2)


def status_error(status, headers=None, message="", code=None):
    error = Exception(message)
    error.status_code = status
    error.code = code
    error.response = SimpleNamespace(headers=headers or {})
    wrapper = BackendError("wrapped")
    wrapper.__cause__ = error
    return wrapper


@pytest.mark.parametrize(
    "error, transient",
    [
        (status_error(429), True),
        (status_error(429, code="insufficient_quota", message="You exceeded your current quota"), False),
        (status_error(500), True),
        (status_error(503), True),
        (status_error(408), True),
        (status_error(400), False),
        (status_error(401), False),
        (status_error(404), False),
        (TimeoutError("slow"), True),
        (ConnectionResetError("reset"), True),
        (ValueError("bad"), False),
    ],
)
def test_transient_classification(error, transient):
    assert is_transient(error) is transient


def test_retry_after_seconds_milliseconds_and_dates():
    assert retry_after(status_error(429, {"retry-after": "3"})) == 3.0
    assert retry_after(status_error(429, {"retry-after-ms": "250"})) == 0.25
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < retry_after(status_error(429, {"retry-after": later})) <= 30
    assert retry_after(status_error(429)) is None


@pytest.fixture
def items(demo_catalog):
    return demo_catalog.resolve(["m01"]), demo_catalog.resolve(["m09", "m12", "m14"])


def ranker_for(server, attempts=4, timeout=30.0):
    backend = get_backend("openai:stub", base_url=server.url, timeout=timeout)
    return Ranker(backend, "movies", retry=RetryPolicy(attempts=attempts, initial=0.01, maximum=0.5))


def test_429_twice_then_success_is_retried_and_counted(items):
    behaviour = lambda n, body: Reply(429, {"retry-after": "0.05"}) if n <= 2 else Reply()
    with StubServer(behaviour) as server:
        ranking = ranker_for(server).rank(*items)
    assert server.calls == 3 and ranking.retries == 2 and ranking.report.valid == 3


def test_400_fails_fast_with_a_clear_error(items):
    behaviour = lambda n, body: Reply(400, body={"error": {"message": "unsupported parameter: seed", "type": "invalid_request_error"}})
    with StubServer(behaviour) as server:
        with pytest.raises(BackendError, match=r"BadRequestError \(HTTP 400\).*unsupported parameter: seed"):
            ranker_for(server).rank(*items)
    assert server.calls == 1


def test_a_stalled_request_times_out_and_is_retried(items):
    behaviour = lambda n, body: Reply(delay=3.0) if n == 1 else Reply()
    with StubServer(behaviour) as server:
        ranking = ranker_for(server, timeout=0.5).rank(*items)
    assert server.calls == 2 and ranking.retries == 1


def test_a_server_that_always_fails_is_not_retried_forever(items):
    with StubServer(lambda n, body: Reply(500)) as server:
        with pytest.raises(BackendError, match="HTTP 500"):
            ranker_for(server, attempts=3).rank(*items)
    assert server.calls == 3


def test_a_500_that_blames_the_request_is_not_retried(items):
    body = {"error": {"message": "Parameter 'logit_bias' is not supported", "type": "server_error"}}
    with StubServer(lambda n, b: Reply(500, body=body)) as server:
        with pytest.raises(BackendError, match="HTTP 500.*not supported"):
            ranker_for(server, attempts=3).rank(*items)
    assert server.calls == 1


def test_exhausted_quota_is_not_retried(items):
    body = {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}
    with StubServer(lambda n, b: Reply(429, body=body)) as server:
        with pytest.raises(BackendError, match="quota"):
            ranker_for(server).rank(*items)
    assert server.calls == 1


@pytest.mark.parametrize(
    "reply, words",
    [
        (Reply(200, body=b"{not json"), "BackendError|APIError|JSON|Expecting"),
        (Reply(200, body={"id": "x", "object": "chat.completion", "choices": [], "model": "m"}), "no choices"),
    ],
)
def test_malformed_bodies_are_clear_errors(items, reply, words):
    with StubServer(lambda n, body: reply) as server:
        with pytest.raises(BackendError, match=words):
            ranker_for(server, attempts=2).rank(*items)
