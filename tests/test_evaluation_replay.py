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
from promptrec.evaluation.replay import ARMS, answer, load, ndcg, read_movielens, run_replay, sample_users  # noqa: E402


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
    a, b = read_movielens(TINYLENS), read_movielens(copy)
    assert sample_users(a, 10, 5, 0) == sample_users(b, 10, 5, 0) != sample_users(a, 10, 5, 1)


def test_the_loop_never_shows_a_removed_dislike_again_and_the_control_repeats_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "cache"))
    data = read_movielens(TINYLENS)
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
