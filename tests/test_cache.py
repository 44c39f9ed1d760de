import sqlite3

import diskcache
import pytest
from conftest import ScriptedBackend
from openai_stub import StubServer

from promptrec import Item, Ranker
from promptrec.backends import GenerationParams, get_backend
from promptrec.backends.base import Completion, Usage
from promptrec.cache import CompletionCache, completion_key, default_cache_dir

MESSAGES = [{"role": "user", "content": "rank [A] and [B]"}]
SENTINEL = "sk-SENTINEL-do-not-leak-4242"


@pytest.fixture
def history(demo_catalog):
    return demo_catalog.resolve(["m01", "m03"])


@pytest.fixture
def candidates(demo_catalog):
    return demo_catalog.resolve(["m09", "m12", "m14"])


def test_second_identical_ranking_comes_from_the_cache(tmp_path, history, candidates):
    cache = CompletionCache(tmp_path)
    with StubServer() as server:
        backend = get_backend("openai:stub", base_url=server.url)
        ranker = Ranker(backend, "movies", cache=cache)
        first = ranker.rank(history, candidates)
        second = ranker.rank(history, candidates)
        assert server.calls == 1
        assert not first.cached and second.cached
        assert second.ids() == first.ids() and second.raw == first.raw
        other = ranker.rank(history[:1], candidates)  # a different prompt is a miss
        assert server.calls == 2 and not other.cached


def test_cached_answers_are_reparsed_without_calling_the_backend(tmp_path, history, candidates):
    cache = CompletionCache(tmp_path)
    Ranker(ScriptedBackend(["[C] > [A] > [B]"]), "movies", cache=cache).rank(history, candidates)
    silent = ScriptedBackend([])  # would raise IndexError if called
    ranking = Ranker(silent, "movies", cache=cache).rank(history, candidates)
    assert ranking.cached and silent.requests == [] and ranking.raw == "[C] > [A] > [B]"


def test_cache_key_covers_the_request_but_never_the_api_key(tmp_path, history, candidates):
    params = GenerationParams(max_tokens=10)
    key = completion_key("openai:m", MESSAGES, params, mode="generate", labels=["A", "B"])
    assert key != completion_key("openai:m", MESSAGES, GenerationParams(max_tokens=11), mode="generate", labels=["A", "B"])
    assert key != completion_key("openai:m", MESSAGES, params, mode="score", labels=["A", "B"])
    assert key != completion_key("openai:other", MESSAGES, params, mode="generate", labels=["A", "B"])
    a = get_backend("openai:m", base_url="http://127.0.0.1:9/v1", api_key=SENTINEL)
    b = get_backend("openai:m", base_url="http://127.0.0.1:9/v1", api_key="another")
    assert a.name == b.name and SENTINEL not in a.name
    with StubServer() as server:
        cache = CompletionCache(tmp_path / "c")
        ranker = Ranker(get_backend("openai:stub", base_url=server.url, api_key=SENTINEL), "movies", cache=cache)
        ranker.rank(history, candidates)
        assert server.headers[0]["authorization"] == f"Bearer {SENTINEL}"
    for path in (tmp_path / "c").rglob("*"):
        if path.is_file():
            assert SENTINEL.encode() not in path.read_bytes()


class Planted:
    def __reduce__(self):
        return (open, ("/tmp/promptrec-pickle-executed", "w"))


def test_pickled_entries_are_refused_and_dropped(tmp_path, caplog):
    import os

    marker = "/tmp/promptrec-pickle-executed"
    if os.path.exists(marker):
        os.remove(marker)
    key = completion_key("x", MESSAGES, GenerationParams(), mode="generate", labels=["A"])
    attacker = diskcache.Cache(str(tmp_path))  # diskcache's default disk pickles values
    attacker.set(key, Planted())
    attacker.close()
    cache = CompletionCache(tmp_path)
    assert cache.get(key) is None
    assert not os.path.exists(marker)
    assert "pickled cache value" in caplog.text
    assert cache.stats()["entries"] == 0  # dropped, so it is recomputed next time


def test_corrupt_entries_are_dropped_not_fatal(tmp_path, caplog):
    cache = CompletionCache(tmp_path)
    key = completion_key("x", MESSAGES, GenerationParams(), mode="generate", labels=["A"])
    cache.set(key, Completion(text="[A]", model="x", usage=Usage(input_tokens=3)))
    assert cache.get(key).text == "[A]"
    with sqlite3.connect(tmp_path / "cache.db") as db:
        db.execute("UPDATE Cache SET value = ? WHERE key = ?", (b"{not json", key))
    assert cache.get(key) is None and "unreadable cache value" in caplog.text
    cache.set(key, Completion(text="[A]", model="x"))
    assert cache.get(key).text == "[A]"


def test_size_limit_evicts_least_recently_used(tmp_path):
    cache = CompletionCache(tmp_path, size_limit=200_000)
    for i in range(100):
        cache.set(f"k{i}", Completion(text="x" * 5_000 + str(i), model="m"))
    stats = cache.stats()
    assert stats["entries"] < 100 and stats["bytes"] <= 400_000
    assert cache.get("k99") is not None and cache.get("k0") is None


def test_cache_dir_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    assert CompletionCache().directory == tmp_path / "here"
    monkeypatch.delenv("PROMPTREC_CACHE_DIR")
    assert default_cache_dir().name == "promptrec"


def test_cached_ranking_of_free_items_is_stable(tmp_path):
    cache = CompletionCache(tmp_path)
    items = [Item(id=str(i), title=f"Film {i}") for i in range(5)]
    backend = ScriptedBackend(["[C] > [B]"])
    first = Ranker(backend, "default", cache=cache).rank(items[:2], items[2:])
    second = Ranker(ScriptedBackend([]), "default", cache=cache).rank(items[:2], items[2:])
    assert first.ids() == second.ids()


# ---------------------------------------------------------------------------------------- hardening (issue 27)

from promptrec.errors import PromptrecError  # noqa: E402


def _full(*args, **kwargs):
    raise sqlite3.OperationalError("database or disk is full")


#: (name, how the cache folder is broken): each gives a warning, and the cache then answers misses only
CACHE_FAULTS = [
    ("the folder is a file", lambda tmp: ((tmp / "c").write_text("not a folder"), tmp / "c")[1]),
    ("a folder that cannot be made", lambda tmp: "/proc/self/promptrec-cache"),
    ("a corrupt database", lambda tmp: ((tmp / "c").mkdir(), (tmp / "c" / "cache.db").write_bytes(b"\x13" * 40_000),
                                        tmp / "c")[2]),
]


@pytest.mark.parametrize(("name", "make"), CACHE_FAULTS, ids=[case[0] for case in CACHE_FAULTS])
def test_an_unusable_cache_folder_is_a_warning_and_the_ranking_goes_on(tmp_path, caplog, history, candidates, name, make):
    cache = CompletionCache(make(tmp_path))
    assert not cache.usable and "cannot be used" in caplog.text
    key = completion_key("b", MESSAGES, GenerationParams(), mode="generate", labels=["A"])
    cache.set(key, Completion(text="[A]", model="m"))
    assert cache.get(key) is None
    backend = ScriptedBackend(["[B] > [A] > [C]"])
    ranking = Ranker(backend, "movies", cache=cache, shuffle=False).rank(history, candidates)
    assert len(ranking.items) == 3 and not ranking.cached
    with pytest.raises(PromptrecError, match="cannot be used"):
        cache.stats()


def test_a_cache_that_fills_up_mid_run_switches_itself_off(tmp_path, caplog, monkeypatch):
    cache = CompletionCache(tmp_path)
    key = completion_key("b", MESSAGES, GenerationParams(), mode="generate", labels=["A"])
    monkeypatch.setattr(cache._cache, "set", _full)
    cache.set(key, Completion(text="[A]", model="m"))  # no exception: a warning, and the cache is off
    assert not cache.usable and "full" in caplog.text
    assert cache.get(key) is None


def test_a_read_that_fails_switches_the_cache_off(tmp_path, caplog, monkeypatch):
    cache = CompletionCache(tmp_path)
    monkeypatch.setattr(cache._cache, "get", lambda *a, **k: (_ for _ in ()).throw(sqlite3.DatabaseError("malformed")))
    assert cache.get("k" * 64) is None and not cache.usable
