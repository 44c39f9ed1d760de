"""The profile retriever: the model's description of the user's taste as the query of a text retriever."""

from __future__ import annotations

import logging

from conftest import ScriptedBackend
from retrieval_helpers import _catalog

from promptrec.cache import CompletionCache
from promptrec.retrieval import BM25Retriever
from promptrec.retrieval.profile import PROFILE_MAX_CHARS, ProfileRetriever, clean_profile


def test_clean_profile_drops_reasoning_and_collapses_whitespace():
    assert clean_profile("<think>they like space\nhorror</think>  Likes\n\tquiet  films ") == "Likes quiet films"
    assert clean_profile("<reasoning>never closed... Likes heat") == ""
    assert clean_profile(None) == "" and len(clean_profile("x" * 5000)) == PROFILE_MAX_CHARS


def test_the_profile_is_the_query_and_is_asked_once_per_user():
    catalog = _catalog(["Alien", "Aliens", "Summer Heat", "Up", "Down Under"])
    backend = ScriptedBackend(["<think>hmm</think> Loves heat and summer."])
    retriever = ProfileRetriever(BM25Retriever(catalog, cache=False), backend, "movies")
    history = [catalog["i3"]]
    pool = retriever.retrieve(history, 2)
    assert pool.ids()[0] == "i2" and "i3" not in pool.ids()  # "Summer Heat" matches the profile, not the history
    assert retriever.profile(history) == "Loves heat and summer."
    assert len(backend.requests) == 1  # the second time from memory
    (messages, params), = backend.requests
    assert "Up" in messages[-1]["content"] and params.temperature == 0.0


def test_an_empty_profile_falls_back_to_the_history_text(caplog):
    catalog = _catalog(["Alien", "Aliens", "Heat", "Up"])
    retriever = ProfileRetriever(BM25Retriever(catalog, cache=False), ScriptedBackend(["   "]), "movies")
    with caplog.at_level(logging.WARNING):
        pool = retriever.retrieve([catalog["i0"]], 1)
    assert pool.ids() == ["i1"] and "empty profile" in caplog.text


def test_profiles_are_kept_in_the_completion_cache_across_retrievers(tmp_path):
    catalog = _catalog(["Alien", "Aliens", "Heat", "Up"])
    cache = CompletionCache(tmp_path / "cache")
    first = ScriptedBackend(["Likes heat."])
    ProfileRetriever(BM25Retriever(catalog, cache=False), first, "movies", cache=cache).profile([catalog["i0"]])
    second = ScriptedBackend([])  # would raise if asked
    again = ProfileRetriever(BM25Retriever(catalog, cache=False), second, "movies", cache=cache)
    assert again.profile([catalog["i0"]]) == "Likes heat." and second.requests == []
