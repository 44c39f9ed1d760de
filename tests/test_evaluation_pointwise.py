"""The pointwise (yes/no, AUC) harness and the TALLRec loader: the real Book-Crossing file where present, small copies."""

import json

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import DATASETS, needs_datasets  # noqa: E402

from promptrec.errors import DataError  # noqa: E402
from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.pointwise import load_tallrec, run_pointwise  # noqa: E402


@needs_datasets
def test_tallrec_parses_titles_and_authors():
    dataset = load_dataset("bookcrossing", DATASETS)
    assert len(dataset.test) == 2427 and sum(c.label for c in dataset.test) == 1054
    first = dataset.test[0]
    assert [b.title for b in first.liked] == ["The Bean Trees", "Sula", "Pigs in Heaven"]
    assert first.liked[1].attributes == {"author": "Toni Morrison"}
    assert first.target.title == "Epitaph for a Peach: Four Seasons on My Family Farm" and first.label == 0


def test_malformed_tallrec_names_line(tmp_path):
    good = {"instruction": "", "input": 'User Preference: "A" written by B\nUser Unpreference: \nWhether the user will like the target book ""C" written by D"?', "output": "Yes."}
    bad = dict(good, output="Maybe.")
    (tmp_path / "valid.json").write_text(json.dumps([good], indent=4))
    (tmp_path / "test.json").write_text(json.dumps([good, bad], indent=4))
    with pytest.raises(DataError) as error:
        load_tallrec(tmp_path / "test.json")
    assert error.value.line == 7 and error.value.field == "output"


class TitleLengthMethod:
    """A pointwise method that sees only the query (history and target), never the label."""

    name = "LLM stand-in"

    def __init__(self):
        self.queries = []

    def score(self, query):
        from promptrec.evaluation.baselines import Scored

        self.queries.append(query)
        (target,) = query.candidates
        return Scored({target.id: float(len(target.title))}, {})


@needs_datasets
def test_pointwise_methods_are_scored_on_every_sampled_record():
    dataset = load_dataset("bookcrossing", DATASETS)
    method = TitleLengthMethod()
    run = run_pointwise(dataset, 40, seed=1, methods=[method])
    assert len(method.queries) == 40 and set(run.scores[method.name]) == {c.case_id for c in run.cases}
    assert all(q.history == c.liked for q, c in zip(method.queries, run.cases))
    assert 0.0 <= run.auc[method.name] <= 1.0 and set(run.auc) == {"random", "popularity", "bm25", method.name}


def _tallrec(path, records):
    rows = [{"instruction": "", "input": f'User Preference: {liked}\nUser Unpreference: \nWhether the user will like the '
             f'target book ""{target}" written by X"?', "output": "Yes." if label else "No."}
            for liked, target, label in records]
    path.write_text(json.dumps(rows, indent=4))


def test_a_method_that_separates_the_labels_has_auc_one_and_sees_the_liked_books(tmp_path):
    records = [(f'"Book {n}" written by A{n}, "Shared" written by S', f"Target {n}{'!' * (n % 2)}", n % 2) for n in range(8)]
    _tallrec(tmp_path / "test.json", records)
    _tallrec(tmp_path / "valid.json", records[:2])
    dataset = load_tallrec(tmp_path / "test.json", "tiny")
    assert len(dataset.test) == 8 and len(dataset.valid) == 2 and dataset.test[0].liked[1].title == "Shared"

    class LikesExclamations:
        name = "stand-in"

        def __init__(self):
            self.queries = []

        def score(self, query):
            from promptrec.evaluation.baselines import Scored

            self.queries.append(query)
            (target,) = query.candidates
            return Scored({target.id: float(target.title.endswith("!"))})

    method = LikesExclamations()
    run = run_pointwise(dataset, None, seed=0, methods=[method])
    assert run.auc["stand-in"] == 1.0 and set(run.auc) == {"random", "popularity", "bm25", "stand-in"}
    assert len(method.queries) == 8 and all(len(q.history) == 2 for q in method.queries)
    assert run_pointwise(dataset, 3, seed=0).cases == run_pointwise(dataset, 3, seed=0).cases
    assert len(run_pointwise(dataset, 3, seed=0).cases) == 3
