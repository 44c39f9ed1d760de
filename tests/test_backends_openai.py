"""The OpenAI-compatible backend: keys and local servers, the exact request body, failures, a real llama.cpp server."""

from types import SimpleNamespace

import pytest
from backends_helpers import CHOICE, MESSAGES

from promptrec.backends import GenerationParams, get_backend
from promptrec.backends.openai import OpenAIBackend
from promptrec.errors import BackendError


def test_openai_needs_a_key_or_a_local_server(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(BackendError, match="no API key: set OPENAI_API_KEY"):
        get_backend("openai:gpt-4o-mini")
    with pytest.raises(BackendError, match="needs a model name"):
        get_backend("openai")
    backend = get_backend("openai:local", base_url="http://127.0.0.1:9/v1")
    assert backend.name == "openai:local@http://127.0.0.1:9/v1"


class RecordingClient:
    """Stands in for openai.OpenAI and records the request body."""

    def __init__(self, response=None, error=None):
        self.bodies = []
        self.response, self.error = response, error
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **body):
        self.bodies.append(body)
        if self.error:
            raise self.error
        return self.response


def _response(text, choices=True):
    message = SimpleNamespace(content=text)
    return SimpleNamespace(
        choices=[SimpleNamespace(message=message, finish_reason="stop")] if choices else [],
        usage=SimpleNamespace(prompt_tokens=11, completion_tokens=3),
        model="served-model",
    )


def test_openai_request_body_is_exact():
    client = RecordingClient(_response("[B] > [A]"))
    backend = OpenAIBackend("gpt-4o-mini", client=client)
    completion = backend.complete(MESSAGES, GenerationParams(max_tokens=9, temperature=0.5, seed=7, stop=("\n",)))
    assert client.bodies == [
        {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 9, "temperature": 0.5, "seed": 7, "stop": ["\n"]}
    ]
    assert (completion.text, completion.model, completion.usage.input_tokens, completion.usage.output_tokens) == (
        "[B] > [A]", "served-model", 11, 3,
    )


def test_openai_failures_are_backend_errors():
    with pytest.raises(BackendError, match="no choices"):
        OpenAIBackend("m", client=RecordingClient(_response("", choices=False))).complete(MESSAGES, GenerationParams())
    with pytest.raises(BackendError, match="ConnectionError: refused"):
        OpenAIBackend("m", client=RecordingClient(error=ConnectionError("refused"))).complete(MESSAGES, GenerationParams())
    with pytest.raises(BackendError, match="cannot enforce a grammar"):
        OpenAIBackend("m", client=RecordingClient()).complete(MESSAGES, GenerationParams(grammar=CHOICE))


@pytest.mark.server
def test_openai_backend_against_a_real_llama_cpp_server(llama_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = get_backend("openai:smollm2", base_url=llama_server)
    completion = backend.complete(MESSAGES, GenerationParams(max_tokens=12))
    assert completion.text.strip()
    assert completion.usage.input_tokens > 20 and 0 < completion.usage.output_tokens <= 12


@pytest.mark.server
def test_openai_backend_reports_an_unreachable_server():
    backend = get_backend("openai:smollm2", base_url="http://127.0.0.1:9/v1", timeout=2)
    with pytest.raises(BackendError, match="APIConnectionError"):
        backend.complete(MESSAGES, GenerationParams(max_tokens=4))


# ---------------------------------------------------------------------------------------- hardening (issue 27)

from openai_stub import Reply, StubServer  # noqa: E402

from promptrec.safe_output import redact_text  # noqa: E402

SENTINEL_27 = "sk-SENTINEL-openai-27-zz"


def test_credentials_in_the_base_url_never_reach_the_name():
    backend = get_backend("openai:m", base_url=f"http://alice:{SENTINEL_27}@127.0.0.1:9/v1")
    assert SENTINEL_27 not in backend.name and "127.0.0.1:9/v1" in backend.name
    assert SENTINEL_27 not in redact_text(f"anything {SENTINEL_27}")  # and it is redacted wherever it shows


def test_a_key_echoed_back_by_the_server_is_redacted_from_the_error():
    def echo(n, body):
        return Reply(401, body={"error": {"message": f"Incorrect API key provided: {SENTINEL_27}", "type": "auth"}})

    with StubServer(echo) as server:
        backend = get_backend("openai:m", base_url=server.url, api_key=SENTINEL_27, structured="off")
        with pytest.raises(BackendError) as info:
            backend.complete(MESSAGES, GenerationParams())
    assert SENTINEL_27 not in str(info.value) and "401" in str(info.value)


@pytest.mark.parametrize("bad", [float("nan"), 0.5, "x", None])
def test_log_probabilities_that_are_not_are_left_out(bad):
    from promptrec.backends.openai import _top_logprobs

    entry = SimpleNamespace
    position = entry(token="A", logprob=-0.1, top_logprobs=[entry(token="A", logprob=-0.1), entry(token="B", logprob=bad),
                                                             entry(token="C", logprob=-float("inf"))])
    top = _top_logprobs(SimpleNamespace(logprobs=SimpleNamespace(content=[position])), "[")
    assert top == {"A": -0.1, "C": -float("inf")}
