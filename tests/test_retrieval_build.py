"""Building an index ahead of time: locally, and through Ray Data with the same vectors as a local build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import promptrec.demo
from promptrec.data import read_catalog
from promptrec.retrieval import BM25Retriever, IndexCache, SemanticRetriever
from promptrec.retrieval.build import build_index

DEMO = Path(promptrec.demo.__file__).parent / "movies.jsonl"


def test_a_local_build_is_stored_and_found_again(tmp_path):
    catalog = read_catalog(DEMO)
    first = build_index(BM25Retriever(catalog, cache=IndexCache(tmp_path)))
    assert (first.engine, first.items, first.loaded_from_cache) == ("local", 24, False)
    assert first.entry is not None and (first.entry / "meta.json").is_file()
    again = build_index(BM25Retriever(catalog, cache=IndexCache(tmp_path)))
    assert again.loaded_from_cache and again.entry == first.entry
    with pytest.raises(ValueError, match="unknown engine"):
        build_index(BM25Retriever(catalog, cache=False), "spark")  # type: ignore[arg-type]


def test_the_ray_engine_embeds_through_ray_data_like_a_local_build(tmp_path):
    pytest.importorskip("ray")
    catalog = read_catalog(DEMO)
    cache = IndexCache(tmp_path / "ray")
    report = build_index(SemanticRetriever(catalog, embedder="minilm", cache=cache), "ray", num_cpus=1,
                         batch_size=5, concurrency=1)
    assert (report.engine, report.items, report.loaded_from_cache) == ("ray", 24, False)
    from_ray = SemanticRetriever(catalog, embedder="minilm", cache=cache).build()
    assert from_ray.index_loaded_from_cache  # stored under the key a local build uses
    local = SemanticRetriever(catalog, embedder="minilm", cache=False).build()
    np.testing.assert_allclose(from_ray._vectors, local._vectors, atol=1e-5)
    history = [catalog["m01"], catalog["m03"], catalog["m04"]]
    assert from_ray.retrieve(history, 10).ids() == local.retrieve(history, 10).ids()


def test_vectors_of_the_wrong_shape_are_refused():
    catalog = read_catalog(DEMO)
    from promptrec.errors import DataError

    with pytest.raises(DataError, match="expected 24 x 384 vectors"):
        SemanticRetriever(catalog, embedder="minilm", cache=False).build_from_vectors(np.zeros((3, 384)))
