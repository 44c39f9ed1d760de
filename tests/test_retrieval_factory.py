"""Retrievers by name (make_retriever): auto, each kind, ensembles, and the errors for bad names."""

from __future__ import annotations

import pytest
from retrieval_helpers import _catalog

from promptrec.errors import DataError
from promptrec.retrieval import BM25Retriever, CooccurrenceRetriever, EnsembleRetriever, Interactions, SemanticRetriever
from promptrec.retrieval.factory import RETRIEVERS, make_retriever, resolve_name
from promptrec.retrieval.popularity import PopularityRetriever


@pytest.fixture
def catalog():
    return _catalog(["Alien", "Aliens", "Heat", "Up", "Down"])


def test_auto_is_cooccurrence_with_interactions_and_semantic_without():
    assert resolve_name(" AUTO ", has_interactions=True) == "cooccurrence"
    assert resolve_name("auto", has_interactions=False) == "semantic"
    assert resolve_name("Bm25", has_interactions=False) == "bm25"


def test_each_name_builds_its_retriever(catalog):
    interactions = Interactions.from_sequences(catalog, {"u1": ["i0", "i1"], "u2": ["i1", "i2"]})
    kinds = {"popularity": PopularityRetriever, "cooccurrence": CooccurrenceRetriever, "bm25": BM25Retriever,
             "semantic": SemanticRetriever}
    for name, kind in kinds.items():
        assert type(make_retriever(name, catalog, interactions=interactions, index_cache=False)) is kind
    assert type(make_retriever("auto", catalog, interactions=interactions, index_cache=False)) is CooccurrenceRetriever
    assert type(make_retriever("auto", catalog, index_cache=False)) is SemanticRetriever


def test_a_plus_b_is_an_ensemble_of_both(catalog):
    ensemble = make_retriever("bm25+semantic", catalog, index_cache=False)
    assert isinstance(ensemble, EnsembleRetriever)
    assert [type(m) for m in ensemble.retrievers] == [BM25Retriever, SemanticRetriever]
    pool = ensemble.retrieve([catalog["i0"]], 2)
    assert len(pool) == 2 and "i0" not in pool.ids()


def test_the_profile_writer_wraps_the_text_retriever(catalog):
    wrapped = []
    make_retriever("profile-bm25", catalog, profile_writer=lambda base: wrapped.append(base) or base, index_cache=False)
    make_retriever("profile", catalog, profile_writer=lambda base: wrapped.append(base) or base, index_cache=False)
    assert [type(b) for b in wrapped] == [BM25Retriever, SemanticRetriever]


@pytest.mark.parametrize(
    "spec, kwargs, words",
    [
        ("magic", {}, "unknown retriever 'magic'; choose from: " + ", ".join(RETRIEVERS)),
        ("bm25+magic", {}, "unknown retriever 'magic'"),
        (" + ", {}, "no retriever named"),
        ("popularity", {}, "the popularity retriever needs interactions"),
        ("bm25+cooccurrence", {}, "the cooccurrence retriever needs interactions"),
        ("profile", {}, "the profile retriever needs a model"),
    ],
)
def test_bad_names_are_data_errors_naming_the_field(catalog, spec, kwargs, words):
    with pytest.raises(DataError) as info:
        make_retriever(spec, catalog, index_cache=False, **kwargs)
    assert words in str(info.value) and info.value.field == "retriever"


def test_a_registered_retriever_is_built_by_name_everywhere(catalog):
    """Adding a retriever is one module plus one registry entry: the name then builds, joins ensembles and is
    a choice of the evaluation."""
    from promptrec.retrieval import factory

    kind = factory.register(factory.RetrieverKind("reverse-pop", "promptrec.retrieval.popularity:PopularityRetriever",
                                                  needs_interactions=True))
    try:
        interactions = Interactions.from_sequences(catalog, {"u1": ["i0", "i1"], "u2": ["i1", "i2"]})
        assert type(make_retriever("reverse-pop", catalog, interactions=interactions, index_cache=False)) \
            is PopularityRetriever
        assert "reverse-pop" in factory.RETRIEVERS and "reverse-pop" in factory.NEEDS_INTERACTIONS
        with pytest.raises(DataError, match="the reverse-pop retriever needs interactions"):
            make_retriever("bm25+reverse-pop", catalog, index_cache=False)
        with pytest.raises(ValueError, match="already registered"):
            factory.register(kind)
    finally:
        del factory.REGISTRY["reverse-pop"]


def test_parse_spec_names_the_embedder_and_refuses_it_where_none_is_taken():
    from promptrec.retrieval.factory import kinds_of, parse_spec

    assert [(kind.name, named) for kind, named in parse_spec("semantic:wordllama+bm25")] == [
        ("semantic", "wordllama"), ("bm25", None)]
    with pytest.raises(DataError, match=r"only semantic and profile take an embedder \(':x'\), not bm25"):
        parse_spec("bm25:x")
    assert [kind.name for kind in kinds_of("auto+profile-bm25")] == ["semantic", "profile-bm25"]
    assert [kind.name for kind in kinds_of("auto", has_interactions=True)] == ["cooccurrence"]
