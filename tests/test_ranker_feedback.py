"""Feedback through the Ranker: it enters the prompt, changes the cache key, and rejected items sink."""

import json

import pytest
from click.testing import CliRunner
from conftest import ScriptedBackend
from openai_stub import StubServer

from promptrec import Ranker, UserHistory
from promptrec.cache import CompletionCache
from promptrec.cli import main
from promptrec.errors import DataError
from promptrec.feedback import FeedbackConfig, FeedbackStore


@pytest.fixture
def store(tmp_path):
    return FeedbackStore(tmp_path / "fb.sqlite3")


@pytest.fixture
def items(demo_catalog):
    return demo_catalog.resolve(["m01", "m03"]), demo_catalog.resolve(["m09", "m12", "m14", "m16"])


def user_prompt(ranking):
    return ranking.prompt[-1]["content"]


def test_feedback_enters_the_next_prompt_and_changes_the_cache_key(tmp_path, store, items, demo_catalog):
    history, candidates = items
    backend = ScriptedBackend(["[A] > [B] > [C] > [D]"] * 2)
    ranker = Ranker(backend, "movies", cache=CompletionCache(tmp_path / "c"), feedback=FeedbackConfig(store))
    before = ranker.rank(history, candidates)
    assert "feedback" not in user_prompt(before).lower() and before.feedback_examples == 0
    ranker.feedback("anonymous", demo_catalog["m22"], "liked")
    ranker.feedback("anonymous", demo_catalog["m15"], "rating", rating=1)
    after = ranker.rank(history, candidates)
    assert not after.cached and len(backend.requests) == 2  # a cached answer from before is never served
    text = user_prompt(after)
    assert 'rated "The Notebook" 1/5' in text and 'liked "Interstellar"' in text
    assert text.index('"The Notebook"') < text.index('"Interstellar"')  # most recent first
    assert after.feedback_examples == 2


def test_a_disliked_candidate_goes_last_or_is_removed(store, items):
    history, candidates = items
    store.add("u1", "movies", candidates[0], "disliked")
    ranker = Ranker(ScriptedBackend([]), "movies", feedback=FeedbackConfig(store), shuffle=False)
    request = ranker.prepare(history, candidates)
    label = next(label for label, item in request.labelled if item.id == candidates[0].id)
    others = [lab for lab, _ in request.labelled if lab != label]
    answer = " > ".join(f"[{lab}]" for lab in [label, *others])  # the model puts it first
    backend = ScriptedBackend([answer])
    ranking = Ranker(backend, "movies", feedback=FeedbackConfig(store), shuffle=False).rank(
        UserHistory.from_items(history, user_id="u1"), candidates
    )
    assert ranking.ids()[-1] == candidates[0].id and ranking.demoted == [candidates[0].id]

    removing = Ranker(ScriptedBackend(["[A]"]), "movies", feedback=FeedbackConfig(store, rejected="remove"))
    ranking = removing.rank(UserHistory.from_items(history, user_id="u1"), candidates)
    assert candidates[0].id not in ranking.ids() and len(ranking) == 3
    with pytest.raises(DataError, match="candidate list is empty"):
        removing.rank(UserHistory.from_items(history, user_id="u1"), candidates[:1])


def test_cross_scenario_feedback_names_its_scenario(store, items):
    history, candidates = items
    store.add("anonymous", "books", "b1", "liked", title="Dune")
    plain = Ranker(ScriptedBackend(["[A]"]), "movies", feedback=FeedbackConfig(store)).rank(history, candidates)
    assert "Dune" not in user_prompt(plain)
    crossing = Ranker(ScriptedBackend(["[A]"]), "movies", feedback=FeedbackConfig(store, cross_scenario=True))
    assert 'liked "Dune" (books)' in user_prompt(crossing.rank(history, candidates))


def test_feedback_without_a_store_is_a_clear_error():
    with pytest.raises(DataError, match="no feedback store"):
        Ranker(ScriptedBackend([]), "movies").feedback("u", "m01", "liked")


def test_cli_feedback_then_rank_uses_it(tmp_path):
    runner = CliRunner()
    db = str(tmp_path / "fb.sqlite3")
    result = runner.invoke(main, ["feedback", "add", "--db", db, "--user", "u9", "--scenario", "movies",
                                  "--item", "m14", "--title", "Inception", "--label", "disliked"])
    assert result.exit_code == 0, result.output
    (tmp_path / "users.jsonl").write_text('{"user_id": "u9", "history": ["m01", "m03"]}\n')
    with StubServer() as server:
        result = runner.invoke(main, ["rank", "--catalog", "demo", "--user-file", str(tmp_path / "users.jsonl"),
                                      "--user", "u9", "--candidates", "m09,m12,m14", "--feedback-db", db,
                                      "--backend", "openai:stub", "--base-url", server.url, "--json"])
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)
    assert 'disliked "Inception"' in ranking["prompt"][-1]["content"]
    assert ranking["demoted"] == ["m14"] and ranking["items"][-1]["item"]["id"] == "m14"
