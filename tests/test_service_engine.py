"""The pipeline kept in step with the database: hidden items, in-place index updates or one lazy rebuild per
burst of writes, other processes' writes, concurrent answers, coalescing."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("sqlalchemy", reason="needs the server extra")

from service_helpers import session_cache  # noqa: E402

from promptrec.config import PipelineConfig  # noqa: E402
from promptrec.data import Item, read_catalog  # noqa: E402
from promptrec.feedback_store import FeedbackRecord  # noqa: E402
from promptrec.service import engine as engine_module  # noqa: E402
from promptrec.service.core import demo_catalog_path  # noqa: E402
from promptrec.service.engine import EmptyCatalogError, PipelineEngine, ReadWriteLock  # noqa: E402
from promptrec.service.settings import sqlalchemy_url  # noqa: E402
from promptrec.service.store import Store  # noqa: E402

CONFIG = PipelineConfig.from_dict({"scenario": "movies", "feedback": {"enabled": False}})


@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(session_cache()))  # the demo's indexes, built once
    store = Store(sqlalchemy_url(str(tmp_path / "engine.sqlite3")))
    store.upsert_items(list(read_catalog(demo_catalog_path()).values()))
    return store


@pytest.fixture
def engine(store) -> PipelineEngine:
    engine = PipelineEngine(store, CONFIG)
    engine.start()
    return engine


def demo(engine: PipelineEngine, *ids: str) -> list[Item]:
    return [engine.item(i) for i in ids]


def test_it_answers_with_the_shipped_pipeline_and_leaves_hidden_items_out(engine, store):
    history = demo(engine, "m01", "m03")
    ranking = engine.recommend(history, 5, user_id="u1")
    assert len(ranking.items) == 5 and all(r.reason for r in ranking.items)
    expected = CONFIG.make_recommender(read_catalog(demo_catalog_path())).recommend(history, 5, user_id="u1")
    assert ranking.ids() == expected.ids()  # no logic of its own: exactly what the pipeline answers
    top = ranking.ids()[0]
    store.set_hidden(top)
    again = engine.recommend(history, 5, user_id="u1")
    assert top not in again.ids() and len(again.items) == 5 and top in engine.hidden
    assert top not in engine.similar("m01", 10).ids()
    store.set_hidden(top, False)
    assert top in engine.recommend(history, 5, user_id="u1").ids()


def test_feedback_goes_to_the_pipeline(engine):
    history = demo(engine, "m01", "m03")
    top = engine.recommend(history, 5).ids()[0]
    rejected = FeedbackRecord(user_id="u1", scenario="movies", item_id=top, item_title=engine.item(top).title,
                              label="disliked")
    assert top not in engine.recommend(history, 5, feedback=[rejected]).ids()


def test_new_items_go_into_the_index_in_place_once_per_burst(engine, store):
    assert engine.incremental  # the demo's semantic retriever has add_items
    before = engine.stats.rebuilds
    store.upsert_items([Item(id=f"n{i}", title=f"Alien Invasion Part {i}", attributes={"genres": ["Sci-Fi"]})
                        for i in range(30)])
    store.upsert_items([Item(id="n30", title="Alien Invasion Finale", attributes={"genres": ["Sci-Fi"]})])
    ranking = engine.similar("n30", 5)
    assert engine.stats.incremental_updates == 1 and engine.stats.rebuilds == before
    assert set(ranking.ids()) <= {f"n{i}" for i in range(30)}  # its siblings are the most similar
    assert engine.item("n30").title == "Alien Invasion Finale"


def test_without_add_items_the_recommender_is_rebuilt_lazily_once_per_burst(engine, store, monkeypatch):
    monkeypatch.setattr(PipelineEngine, "incremental", property(lambda self: False))
    assert engine.stats.rebuilds == 1
    for i in range(20):  # twenty writes, no read between them
        store.upsert_items([Item(id=f"n{i}", title=f"Space Opera {i}")])
    assert engine.stats.rebuilds == 1  # nothing happens on a write
    engine.recommend(demo(engine, "m01"), 3)
    engine.recommend(demo(engine, "m01"), 3)
    assert engine.stats.rebuilds == 2 and engine.item("n19") is not None
    store.upsert_items([Item(id="m01", title="The Matrix (edited)")])
    engine.similar("m01", 3)
    assert engine.stats.rebuilds == 3 and engine.item("m01").title == "The Matrix (edited)"
    # a query waits for the rebuilt recommender's embedder (loaded again in the background), then is answered
    assert len(engine.recommend(demo(engine, "m01"), 3, query="space opera").items) == 3 and engine.warm


def test_what_another_process_writes_is_seen(engine, store):
    other = Store(store.url)  # a second service process on the same database
    other.upsert_items([Item(id="x1", title="Brand New Film")])
    other.set_hidden("m02")
    ranking = engine.recommend(demo(engine, "m05", "m08"), 24)
    assert "m02" not in ranking.ids() and engine.item("x1") is not None


def test_identical_requests_in_flight_share_one_answer(engine, monkeypatch):
    calls = []
    real = engine_module.call_recommend

    def slow(*args, **kwargs):
        calls.append(1)
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "call_recommend", slow)
    history = demo(engine, "m01")
    results = []
    threads = [threading.Thread(target=lambda: results.append(engine.recommend(history, 5))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and len({tuple(r.ids()) for r in results}) == 1
    assert len(calls) < 6 and engine.stats.coalesced == 6 - len(calls)
    answered, coalesced = len(calls), engine.stats.coalesced
    engine.recommend(demo(engine, "m02"), 5)  # a different request is answered on its own
    assert len(calls) == answered + 1 and engine.stats.coalesced == coalesced


def test_an_empty_catalog_says_what_to_do(tmp_path):
    engine = PipelineEngine(Store(sqlalchemy_url(str(tmp_path / "empty.sqlite3"))), CONFIG)
    with pytest.raises(EmptyCatalogError, match="POST /items"):
        engine.start()


def test_the_lock_keeps_a_writer_apart_from_readers():
    lock = ReadWriteLock()
    events: list[str] = []
    with lock.read():
        with lock.read():  # readers share
            writer = threading.Thread(target=lambda: _write(lock, events))
            writer.start()
            time.sleep(0.1)
            events.append("readers done")
    writer.join()
    assert events == ["readers done", "written"]


def _write(lock: ReadWriteLock, events: list[str]) -> None:
    with lock.write():
        events.append("written")
