"""The door: the key (constant-time, 401 and nothing else), the body limit by Content-Length and by counting a
chunked body, and validation errors as one clear line."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="needs the server extra")

import httpx  # noqa: E402
from fastapi import Body, Depends, FastAPI  # noqa: E402
from pydantic import BaseModel, ConfigDict  # noqa: E402
from service_helpers import ThreadedServer  # noqa: E402

from promptrec.errors import DataError  # noqa: E402
from promptrec.service.security import (  # noqa: E402
    UNAUTHORIZED,
    BodyLimitMiddleware,
    check_read,
    check_write,
    install_error_handlers,
    key_matches,
)
from promptrec.service.settings import ServiceSettings  # noqa: E402


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str
    value: float


@pytest.fixture(scope="module")
def server():
    app = FastAPI()
    app.state.settings = ServiceSettings(api_key="s3cret")
    install_error_handlers(app)
    seen: list[int] = []

    @app.post("/write", dependencies=[Depends(check_write)])
    def write(records: list[Record] = Body(...)) -> dict:
        seen.append(len(records))
        return {"n": len(records)}

    @app.get("/read", dependencies=[Depends(check_read)])
    def read() -> dict:
        return {"ok": True}

    @app.get("/refused")
    def refused() -> dict:
        raise DataError("no such thing", field="thing")

    @app.get("/broken")
    def broken() -> dict:
        raise RuntimeError("secret internals")

    app.add_middleware(BodyLimitMiddleware, limit=2048)
    with ThreadedServer(app) as running, httpx.Client(base_url=running.url) as client:
        client.seen = seen  # type: ignore[attr-defined]
        yield client


def test_keys_compare_exactly():
    settings = ServiceSettings(api_key="s3cret")
    assert key_matches("s3cret", settings)
    assert not key_matches("s3cre", settings) and not key_matches(None, settings) and not key_matches("S3CRET", settings)


def test_a_write_needs_the_key_and_a_refusal_says_nothing_else(server):
    for headers in ({}, {"X-API-Key": "nope"}):
        answer = server.post("/write", json=[{"name": "a", "value": 1}], headers=headers)
        assert answer.status_code == 401 and answer.json() == {"detail": UNAUTHORIZED}
    assert server.seen == []
    assert server.post("/write", json=[{"name": "a", "value": 1}], headers={"X-API-Key": "s3cret"}).json() == {"n": 1}


def test_a_read_may_omit_the_key_but_a_wrong_one_is_refused(server):
    assert server.get("/read").status_code == 200
    assert server.get("/read", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert server.get("/read", headers={"X-API-Key": "nope"}).status_code == 401


def test_bodies_over_the_limit_get_413_by_length_and_while_streaming(server):
    key = {"X-API-Key": "s3cret", "Content-Type": "application/json"}
    big = b"[" + b'{"name": "a", "value": 1},' * 200 + b'{"name": "a", "value": 1}]'
    answer = server.post("/write", content=big, headers=key)
    assert answer.status_code == 413 and "larger than the limit of 2048 bytes" in answer.json()["detail"]
    streamed = server.post("/write", content=iter([big[:1000], big[1000:]]), headers=key)
    assert streamed.status_code == 413 and "over" in streamed.json()["detail"]
    small = b'[{"name": "a", "value": 1}]'
    assert server.post("/write", content=iter([small[:5], small[5:]]), headers=key).json() == {"n": 1}


@pytest.mark.parametrize(("body", "message"), [
    (b'[{"name": "a", "value": 1', "malformed JSON at character"),
    (b'[{"name": "a", "value": NaN}]', "body[0].value: must be a finite number (not NaN or infinity)"),
    (b'[{"name": "a"}]', "body[0].value: required"),
    (b'[{"name": "a", "value": 1, "x": 2}]', "body[0].x: unknown field"),
    (b'[{"name": "a", "value": "high"}]', "body[0].value: Input should be a valid number"),
])
def test_validation_errors_are_one_line_naming_the_field(server, body, message):
    answer = server.post("/write", content=body, headers={"X-API-Key": "s3cret", "Content-Type": "application/json"})
    assert answer.status_code == 422 and message in answer.json()["detail"]


def test_a_body_sent_as_form_data_is_told_to_be_json(server):
    answer = server.post("/write", content=b'[{"name": "a", "value": 1}]', headers={
        "X-API-Key": "s3cret", "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 422
    assert answer.json()["detail"] == "the body must be JSON, sent with the header Content-Type: application/json"


def test_library_errors_are_422_and_crashes_500_without_internals(server):
    refused = server.get("/refused")
    assert refused.status_code == 422 and refused.json() == {"detail": "field 'thing': no such thing"}
    broken = server.get("/broken")
    assert broken.status_code == 500 and "secret internals" not in broken.text and "RuntimeError" in broken.text
