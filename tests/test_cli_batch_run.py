"""The engines behind ``promptrec batch`` (:mod:`promptrec.cli.batch_run`): the checks before a run and the
summary; the runs themselves are driven through the command in test_cli_batch.py and test_ray.py."""

import click
import pytest

from promptrec.batch import BatchSummary
from promptrec.cli.batch_run import check_generators, finish, retriever_set
from promptrec.cli.common import load_catalog


def test_retriever_generators_need_a_catalog_and_interactions_when_they_learn_from_them(tmp_path):
    requests = tmp_path / "in.jsonl"
    requests.write_text('{"id": "a", "history": ["m01"], "candidates": {"generator": "cooccurrence+bm25"}}\n')
    with pytest.raises(click.UsageError, match=r"retrieve candidates \(cooccurrence\+bm25\): give --catalog"):
        check_generators(str(requests), None, None)
    with pytest.raises(click.UsageError, match="cooccurrence\\+bm25 retriever, which learns from who interacted"):
        check_generators(str(requests), load_catalog("demo"), None)
    requests.write_text('{"id": "a", "history": ["m01"], "candidates": {"generator": "auto"}}\n')
    check_generators(str(requests), load_catalog("demo"), None)  # auto without interactions is semantic
    with pytest.raises(click.UsageError, match="--interactions needs --catalog"):
        retriever_set(None, "pairs.csv")


def test_finish_exits_1_when_a_request_failed_and_130_when_interrupted(capsys):
    finish(BatchSummary(), as_json=False)
    assert "requests   0" in capsys.readouterr().err
    failed = BatchSummary()
    failed.failed = 1
    with pytest.raises(SystemExit) as info:
        finish(failed, as_json=True)
    assert info.value.code == 1 and '"failed": 1' in capsys.readouterr().out
