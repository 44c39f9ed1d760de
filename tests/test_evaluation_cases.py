"""The evaluation's data types: a Query has no held-out item, a Case does; splits by name."""

import dataclasses

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from promptrec.data import Item  # noqa: E402
from promptrec.evaluation.cases import Case, EvalDataset, Query, Split, UserRecord  # noqa: E402

ITEMS = tuple(Item(id=f"i{n}", title=f"Item {n}") for n in range(4))


def test_a_query_has_no_field_for_the_truth_and_a_case_keeps_it_beside():
    assert "truth" not in {f.name for f in dataclasses.fields(Query)}
    query = Query("test:u1", "u1", ITEMS[:2], ITEMS[2:])
    case = Case(query, truth="i3")
    assert case.case_id == "test:u1" and case.history_length == 2 and case.split == "test"
    assert Case(Query("c", "u", (), ITEMS), truth="i0").history_length == 0


def test_records_queries_and_cases_are_immutable():
    record = UserRecord("u1", ("i0",), "i1")
    assert record.known == frozenset() and record.fixed_negatives is None
    for value, field in ((record, "truth"), (Query("c", "u", (), ITEMS), "candidates"), (Case(Query("c", "u", (), ITEMS), "i0"), "truth")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, None)


def test_split_by_name():
    test = Split("test", (UserRecord("u1", ("i0",), "i1"),), (("i0",),))
    valid = Split("valid", (), ())
    dataset = EvalDataset("toy", "llmrank", "default", {i.id: i for i in ITEMS}, ("i0", "i1"), test, valid)
    assert dataset.split("test") is test and dataset.split("valid") is valid
    assert dataset.source_domain is None and not dataset.disjoint_valid_users and dataset.notes == {}
    with pytest.raises(ValueError, match="unknown split 'train'"):
        dataset.split("train")
