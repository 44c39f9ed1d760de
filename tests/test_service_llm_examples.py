"""With an LLM weight above 0, the service's prompts carry the user's feedback as in-context examples, as
``promptrec rank --user`` does with its feedback store: the same Ranker, fed the request's records through a
RequestFeedback store, renders the same prompt. A fake OpenAI-compatible backend (tests/openai_stub.py)
records what the service sent."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("fastapi", reason="needs the server extra")

from openai_stub import StubServer  # noqa: E402
from service_helpers import demo_service  # noqa: E402

from promptrec.config import PipelineConfig  # noqa: E402
from promptrec.data import Item, UserHistory  # noqa: E402
from promptrec.feedback import FeedbackConfig, example_text  # noqa: E402
from promptrec.feedback_store import FeedbackRecord, FeedbackStore, RequestFeedback  # noqa: E402


def record(user: str, item: str, title: str, label: str, timestamp: float, rating: float | None = None) -> FeedbackRecord:
    return FeedbackRecord(user_id=user, scenario="movies", item_id=item, item_title=title, label=label,
                          rating=rating, timestamp=timestamp)


def llm_config(stub: StubServer, tmp_path, **feedback) -> PipelineConfig:
    return PipelineConfig.from_dict({"scenario": "movies", "retrieval": {"llm_weight": 0.5},
                                     "backend": {"spec": "openai:stub", "base_url": stub.url, "api_key": "x"},
                                     "cache": {"dir": str(tmp_path / "completions")}, "feedback": feedback})


def prompt(body: dict) -> str:
    return "\n".join(message["content"] for message in body["messages"])


def test_the_request_store_serves_each_thread_its_own_records():
    store = RequestFeedback()
    mine = [record("u1", "m02", "Two", "liked", 2.0), record("u1", "m01", "One", "disliked", 1.0),
            record("u2", "m03", "Three", "liked", 3.0)]
    seen_elsewhere = []
    with RequestFeedback.serving(mine):
        other = threading.Thread(target=lambda: seen_elsewhere.append(store.list()))
        other.start()
        other.join()
        assert [r.item_id for r in store.list("u1")] == ["m01", "m02"]  # oldest first
        assert store.negative_items("u1") == {"m01"} and store.list("u1", "books") == []
        assert [r.item_id for r in store] == ["m01", "m02", "m03"]
    assert seen_elsewhere == [[]] and store.list() == []  # another thread, and after the block: nothing


def test_the_services_ranker_renders_the_clis_prompt_from_the_same_records(tmp_path):
    records = [record("u1", "m01", "The Matrix", "liked", 1.0), record("u1", "m03", "Titanic", "disliked", 2.0),
               record("u1", "m05", "Alien", "rating", 3.0, rating=4.5)]
    cli_store = FeedbackStore(tmp_path / "cli.sqlite3")
    cli_store.add_records(records)
    with StubServer() as stub:
        config = llm_config(stub, tmp_path)
        history = UserHistory.from_items([Item(id="m08", title="Inception")], user_id="u1")
        candidates = [Item(id="m02", title="Up"), Item(id="m03", title="Titanic"), Item(id="m04", title="Heat")]
        cli = config.make_ranker(feedback=FeedbackConfig(cli_store)).prepare(history, candidates)
        service = config.make_ranker(feedback=FeedbackConfig(RequestFeedback()))  # type: ignore[arg-type]
        with RequestFeedback.serving(records):
            served = service.prepare(history, candidates)
        assert served.messages == cli.messages and served.examples == cli.examples and len(cli.examples) == 3
        assert served.demote == cli.demote == {"m03"}  # the rejected candidate goes last in both


def test_a_stored_users_feedback_is_in_the_prompt_the_service_sends(tmp_path):
    with StubServer() as stub, demo_service(tmp_path, config=llm_config(stub, tmp_path)) as client:
        key = {"X-API-Key": client.key}
        sent = [{"user": "ex1", "item": "m01", "label": "liked", "timestamp": 10.0},
                {"user": "ex1", "item": "m03", "label": "disliked", "timestamp": 20.0}]
        assert client.post("/feedback", json=sent, headers=key).status_code == 200
        answer = client.get("/users/ex1/recommendations", params={"n": 5})
        assert answer.status_code == 200 and answer.json()["llm_asked"] is True
        text = prompt(stub.bodies[-1])
        catalog = client.service.engine
        for reaction in sent:
            shown = example_text(record("ex1", reaction["item"], catalog.item(reaction["item"]).title,
                                        reaction["label"], reaction["timestamp"]),
                                 prompts=config_scenario(client))
            assert shown in text
        stranger = client.get("/users/nobody/recommendations", params={"n": 5})
        assert stranger.status_code == 200
        assert example_text(record("x", "m01", catalog.item("m01").title, "liked", 1.0),
                            prompts=config_scenario(client)) not in prompt(stub.bodies[-1])


def test_a_sessions_feedback_is_in_the_prompt_and_examples_can_be_turned_off(tmp_path):
    with StubServer() as stub:
        with demo_service(tmp_path, config=llm_config(stub, tmp_path)) as client:
            body = {"history": ["m08"], "feedback": [{"item": "m01", "label": "liked"}], "n": 3}
            assert client.post("/recommendations", json=body).status_code == 200
            liked = example_text(record("s", "m01", client.service.engine.item("m01").title, "liked", 1.0),
                                 prompts=config_scenario(client))
            assert liked in prompt(stub.bodies[-1])
        calls = stub.calls
        with demo_service(tmp_path / "none", config=llm_config(stub, tmp_path / "none", examples=0)) as client:
            assert client.post("/recommendations", json=body).status_code == 200
            assert stub.calls == calls + 1 and liked not in prompt(stub.bodies[-1])


def config_scenario(client):
    return client.service.config.load_scenario()
