"""The replay protocol: the feedback loop against a no-feedback control, on the fixture and on MovieLens."""

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from conftest import DATASETS, TINYLENS, needs_datasets  # noqa: E402

from promptrec.cli.eval import eval_command  # noqa: E402
from promptrec.config import PipelineConfig  # noqa: E402
from promptrec.errors import DataError  # noqa: E402
from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.replay import (  # noqa: E402
    ARMS,
    RatedData,
    answer,
    load,
    ndcg,
    read_amazon,
    read_movielens,
    run_replay,
    sample_users,
)


def test_answers_come_from_the_future_by_rating():
    future = {"a": 5.0, "b": 2.0, "c": 3.0}
    assert [answer(i, future) for i in ("a", "b", "c", "x")] == ["liked", "disliked", "skipped", "skipped"]


def test_ndcg_with_binary_relevance():
    assert ndcg(["a", "x"], {"a"}, 10) == 1.0
    assert ndcg(["x", "a"], {"a"}, 10) == pytest.approx(1 / 1.5849625, rel=1e-6)
    assert ndcg(["x"], set(), 10) == 0.0


def test_users_depend_on_the_content_and_seed_not_the_folder(tmp_path):
    import shutil

    copy = tmp_path / "elsewhere"
    shutil.copytree(TINYLENS, copy)
    a, b = load(f"movielens:{TINYLENS}"), load(f"movielens:{copy}")
    assert sample_users(a, 10, 5, 0) == sample_users(b, 10, 5, 0) != sample_users(a, 10, 5, 1)


def test_the_loop_never_shows_a_removed_dislike_again_and_the_control_repeats_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "cache"))
    data = load(f"movielens:{TINYLENS}")
    config = PipelineConfig().updated({"retrieval": {"llm_weight": 0.0}})
    result = run_replay(data, config, users=12, rounds=3, start=5, k=5, seed=0)
    arms = result["arms"]
    assert set(arms) == set(ARMS) and result["users"] == 12
    for row in arms["remove"].get("disliked_again", []):
        assert row["mean"] == 0.0
    hits = [row["mean"] for row in arms["control"]["hit"]]
    assert len(hits) == 3
    assert all(0.0 <= row["mean"] <= 1.0 for row in arms["demote"]["ndcg"])
    assert arms["demote"]["found"][-1]["mean"] >= arms["control"]["found"][-1]["mean"]


def test_unknown_replay_datasets_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="the replay protocol reads"):
        load("games", tmp_path)
    with pytest.raises(DataError, match="the replay protocol reads.*FORMAT one of movielens, amazon, promptrec"):
        load("nope:x", tmp_path)
    (tmp_path / "c.jsonl").write_text('{"id": "a", "title": "A"}\n{"id": "b", "title": "B"}\n')
    (tmp_path / "h.jsonl").write_text('{"user_id": "u", "history": ["a", "b"]}\n')
    with pytest.raises(DataError, match="the replay protocol needs ratings"):
        load(f"promptrec:{tmp_path / 'c.jsonl'},{tmp_path / 'h.jsonl'}")


def test_the_replay_reads_the_loader_every_protocol_reads():
    """One reader: the replay's users, items and order are the leave-last-out split's, ratings added."""
    data = load(f"movielens:{TINYLENS}")
    dataset = load_dataset(f"movielens:{TINYLENS}")
    assert data.name == dataset.name == "tinylens"
    assert all(data.catalog[i] == item for i, item in dataset.items.items())
    for record in dataset.test.records:
        ids = [i for i, _ in data.sequences[record.user_id]]
        assert ids == [*record.history, record.truth]
    ratings = {r for s in data.sequences.values() for _, r in s}
    assert ratings and all(isinstance(r, float) and 0.5 <= r <= 5.0 for r in ratings)
    assert len(ratings) > 2  # real ratings, not a placeholder


def test_the_old_reader_names_warn_and_give_the_same_data(tmp_path):
    with pytest.warns(DeprecationWarning, match="read_movielens is deprecated"):
        old = read_movielens(TINYLENS)
    new = load(f"movielens:{TINYLENS}")
    assert (old.sequences, list(old.catalog)) == (new.sequences, list(new.catalog))
    amazon = tmp_path / "cds.csv"
    amazon.write_text("user_id,item_id,rating,timestamp,title,brand,category\n"
                      "u1,a,5,20,Blue &amp; Lonesome,The Stones,\"['Rock']\"\nu1,b,1,10,Kid A,Radiohead,[]\n")
    with pytest.warns(DeprecationWarning, match="read_amazon is deprecated"):
        data = read_amazon(amazon, "amazon-cds")
    assert isinstance(data, RatedData) and data.sequences == {"u1": [("b", 1.0), ("a", 5.0)]}
    assert data.catalog["a"].title == "Blue & Lonesome" and data.catalog["a"].attributes == {
        "genres": ["Rock"], "artist": "The Stones"}
    assert load(f"amazon:{amazon}").sequences == data.sequences


def test_the_command_writes_per_round_values_for_feedback_and_control(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    result = CliRunner().invoke(eval_command, ["-d", f"movielens:{TINYLENS}", "--protocol", "replay", "--no-llm",
                                               "-n", "8", "--rounds", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "results.json").read_text())
    arms = saved["datasets"][0]["arms"]
    assert len(arms["control"]["ndcg"]) == 2 and len(arms["demote"]["hit"]) == 2
    assert "| round |" in (out / "report.md").read_text() and (out / "config.toml").is_file()
    mixed = CliRunner().invoke(eval_command, ["-d", f"movielens:{TINYLENS}", "--protocol", "replay",
                                              "--protocol", "full", "--no-llm", "-o", str(tmp_path / "x")])
    assert mixed.exit_code == 2 and "runs alone" in mixed.output


@needs_datasets
def test_on_movielens_the_loop_beats_the_control_after_the_first_round(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "cache"))
    data = load("movielens", DATASETS)
    config = PipelineConfig().updated({"retrieval": {"llm_weight": 0.0}})
    result = run_replay(data, config, users=40, rounds=3, seed=0)
    found = result["paired_vs_control"]["demote"]["found"]
    assert found[0]["mean"] == 0.0  # round 1: no feedback yet, the same list
    assert found[2]["mean"] > 0
