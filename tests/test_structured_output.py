"""Structured output on OpenAI-compatible servers: the exact request body of every dialect, the fallback
of ``structured="auto"``, the clear error for a forced dialect a server rejects, and the real
``python -m llama_cpp.server`` held to the ranking schema."""

from __future__ import annotations

import json

import pytest

from openai_stub import Reply, StubServer
from promptrec import Ranker
from promptrec.backends import GenerationParams, get_backend
from promptrec.backends.openai import OpenAIBackend, ranking_schema
from promptrec.cache import completion_key
from promptrec.errors import BackendError
from promptrec.parsing import label_alphabet
from promptrec.retry import RetryPolicy

LABELS = ["A", "B", "C"]

#: the ranking schema of three labels, as each dialect must send it
SCHEMA_UNIQUE = {
    "type": "object",
    "properties": {
        "ranking": {
            "type": "array",
            "items": {"type": "string", "enum": LABELS},
            "minItems": 3,
            "maxItems": 3,
            "uniqueItems": True,
        }
    },
    "required": ["ranking"],
    "additionalProperties": False,
}
SCHEMA_STRICT = json.loads(json.dumps(SCHEMA_UNIQUE))
del SCHEMA_STRICT["properties"]["ranking"]["uniqueItems"]  # OpenAI's strict mode does not take it

EXPECTED_FIELDS = {
    "json_schema": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "ranking", "strict": True, "schema": SCHEMA_STRICT},
        }
    },
    "json_object": {"response_format": {"type": "json_object", "schema": SCHEMA_UNIQUE}},
    "vllm": {"structured_outputs": {"json": SCHEMA_UNIQUE}},
    "ollama": {"response_format": {"type": "json_schema", "json_schema": {"name": "ranking", "schema": SCHEMA_UNIQUE}}},
}

#: what python -m llama_cpp.server answers to response_format={"type": "json_schema", ...} (HTTP 500)
LLAMA_CPP_SERVER_500 = {
    "error": {
        "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
        "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}",
        "type": "internal_server_error",
    }
}


@pytest.fixture
def items(demo_catalog):
    return demo_catalog.resolve(["m01"]), demo_catalog.resolve(["m09", "m12", "m14"])


def ranker_for(server: StubServer, structured: str = "auto", **options) -> Ranker:
    backend = get_backend("openai:stub", base_url=server.url, api_key="unused", structured=structured)
    return Ranker(backend, "movies", retry=RetryPolicy(attempts=3, initial=0.01, maximum=0.05), **options)


def structured_part(body: dict) -> dict:
    return {key: body[key] for key in ("response_format", "structured_outputs") if key in body}


def rejects(dialects: set[str], status: int = 500, body: dict | None = None):
    """A stub behaviour that rejects requests in the given dialects, as a server without them does."""

    def behaviour(n: int, request: dict) -> Reply:
        fmt = request.get("response_format", {})
        dialect = "vllm" if "structured_outputs" in request else fmt.get("type") if fmt else None
        if dialect == "json_schema" and "strict" not in fmt.get("json_schema", {}):
            dialect = "ollama"
        return Reply(status, body=body or LLAMA_CPP_SERVER_500) if dialect in dialects else Reply()

    return behaviour


@pytest.mark.parametrize("dialect", sorted(EXPECTED_FIELDS))
def test_each_dialect_sends_its_exact_request_body(dialect, items):
    with StubServer() as server:
        ranking = ranker_for(server, dialect, shuffle=False).rank(*items)
    assert server.calls == 1
    body = server.bodies[0]
    assert structured_part(body) == EXPECTED_FIELDS[dialect]
    assert set(body) == {"model", "messages", "max_tokens", "temperature", "seed", *EXPECTED_FIELDS[dialect]}
    assert ranking.report.valid == 3  # the stub answers in free text, which the parser still reads


def test_off_and_unconstrained_send_free_text_requests(items):
    with StubServer() as server:
        ranker_for(server, "off").rank(*items)
        ranker_for(server, "auto", constrained=False).rank(*items)
    assert [structured_part(body) for body in server.bodies] == [{}, {}]


def test_auto_falls_back_from_json_schema_to_json_object_once(items):
    with StubServer(rejects({"json_schema"})) as server:
        ranker = ranker_for(server)
        first = ranker.rank(*items)
        second = ranker.rank(items[0], list(reversed(items[1])))
    types = [body.get("response_format", {}).get("type") for body in server.bodies]
    assert types == ["json_schema", "json_object", "json_object"]  # the rejected dialect is not tried again
    assert first.retries == 0 and first.report.valid == 3 and second.report.valid == 3
    assert first.report.structured == second.report.structured == "json_object"  # the report says which was used


def test_auto_falls_back_to_free_text_when_no_dialect_is_accepted(items):
    body = {"error": {"message": "Unrecognized request argument supplied: response_format", "type": "invalid_request_error"}}
    with StubServer(rejects({"json_schema", "json_object"}, status=400, body=body)) as server:
        ranker = ranker_for(server)
        ranker.rank(*items)
        ranker.rank(items[0], list(reversed(items[1])))
    assert [body.get("response_format", {}).get("type") for body in server.bodies] == ["json_schema", "json_object", None, None]
    assert ranker.rank(*items).report.structured is None  # free text


def test_the_completion_says_which_dialect_was_used():
    messages = [{"role": "user", "content": "[A] x\n[B] y\n[C] z"}]
    params = GenerationParams(ranking_labels=tuple(LABELS))
    with StubServer(rejects({"json_schema"})) as server:
        backend = OpenAIBackend("stub", base_url=server.url, api_key="unused")
        assert backend.complete(messages, params).structured == "json_object"
        assert backend.complete(messages, GenerationParams()).structured is None
    with StubServer() as server:
        backend = OpenAIBackend("stub", base_url=server.url, api_key="unused", structured="off")
        assert backend.complete(messages, params).structured is None


@pytest.mark.parametrize("dialect", sorted(EXPECTED_FIELDS))
def test_a_forced_dialect_the_server_rejects_is_a_clear_error_at_once(dialect, items):
    with StubServer(rejects({dialect})) as server:
        with pytest.raises(BackendError, match=rf"(?s)HTTP 500.*rejected structured output '{dialect}'.*'off'"):
            ranker_for(server, dialect).rank(*items)
    assert server.calls == 1  # not retried, not silently sent as free text


def test_errors_that_do_not_blame_the_schema_are_not_fallbacks(items):
    # a 500 that says nothing about the request is a server failure: retried, in the same dialect
    with StubServer(lambda n, body: Reply(500) if n <= 2 else Reply()) as server:
        ranking = ranker_for(server).rank(*items)
    assert ranking.retries == 2
    assert [body["response_format"]["type"] for body in server.bodies] == ["json_schema"] * 3
    # a 400 about something else fails at once, naming the dialect it was sent with
    body = {"error": {"message": "unsupported parameter: seed", "type": "invalid_request_error"}}
    with StubServer(lambda n, b: Reply(400, body=body)) as server:
        with pytest.raises(BackendError, match=r"unsupported parameter: seed \(asked for structured output 'json_schema'\)"):
            ranker_for(server).rank(*items)
    assert server.calls == 1


def test_options_are_checked():
    with pytest.raises(BackendError, match="unknown structured-output option 'strict'.*auto, json_schema"):
        get_backend("openai:m", base_url="http://127.0.0.1:9/v1", structured="strict")
    backend = get_backend("openai:m", base_url="http://127.0.0.1:9/v1", structured="off")
    with pytest.raises(BackendError, match="cannot constrain output"):
        Ranker(backend, "movies", constrained=True)
    assert Ranker(backend, "movies").constrained is False


def test_score_mode_and_unset_ranking_labels_are_unchanged():
    backend = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", api_key="unused")
    assert "response_format" not in backend.score_request_body([{"role": "user", "content": "x"}])
    assert "ranking_labels" not in GenerationParams().model_dump(mode="json")  # cache keys as before
    messages = [{"role": "user", "content": "x"}]
    plain = completion_key("b", messages, GenerationParams(), mode="generate", labels=LABELS)
    held = completion_key("b", messages, GenerationParams(ranking_labels=tuple(LABELS)), mode="generate", labels=LABELS)
    assert plain != held


def test_the_batch_api_export_body_asks_for_the_schema():
    backend = OpenAIBackend("gpt-4o-mini", api_key="sk-test")
    body = backend.request_body([{"role": "user", "content": "x"}], GenerationParams(ranking_labels=tuple(LABELS)))
    assert structured_part(body) == EXPECTED_FIELDS["json_schema"]


def test_the_schema_lists_every_label_once():
    labels = label_alphabet(20)
    schema = ranking_schema(labels)["properties"]["ranking"]
    assert schema["items"]["enum"] == labels and schema["minItems"] == schema["maxItems"] == 20
    assert schema["uniqueItems"] is True and "uniqueItems" not in ranking_schema(labels, unique=False)["properties"]["ranking"]


@pytest.mark.server
def test_the_real_llama_cpp_server_is_held_to_the_schema(llama_server, demo_catalog, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    candidates = demo_catalog.resolve(["m02", "m05", "m12", "m17", "m23", "m03", "m07"])
    history = demo_catalog.resolve(["m08", "m20"])
    backend = get_backend("openai:smollm2", base_url=llama_server)
    ranking = Ranker(backend, "movies").rank(history, candidates)
    answer = json.loads(ranking.raw)  # valid JSON, as the schema demands
    assert list(answer) == ["ranking"] and len(answer["ranking"]) == len(candidates)
    assert set(answer["ranking"]) <= set(label_alphabet(len(candidates)))
    assert ranking.report.format == "json" and ranking.report.hallucinated == []
    assert ranking.report.structured == "json_object"
    assert ranking.report.valid + len(ranking.report.duplicates) == len(candidates)  # repeats are the only repair
    assert backend._dialects(GenerationParams(ranking_labels=("A",)))[0] == "json_object"  # json_schema was refused

    forced = get_backend("openai:smollm2", base_url=llama_server, structured="json_schema")
    with pytest.raises(BackendError, match=r"(?s)HTTP 500.*response_format.*rejected structured output 'json_schema'"):
        Ranker(forced, "movies").rank(history, candidates)
    held = get_backend("openai:smollm2", base_url=llama_server, structured="json_object")
    completion = held.complete(ranking.prompt, GenerationParams(max_tokens=80, ranking_labels=("A", "B", "C")))
    assert completion.structured == "json_object"
    assert set(json.loads(completion.text)["ranking"]) <= {"A", "B", "C"} and len(json.loads(completion.text)["ranking"]) == 3
