"""The interaction log every format with timed interactions reads into, and the leave-last-out split made from it."""

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from promptrec.data import Item  # noqa: E402
from promptrec.evaluation.interaction_log import (  # noqa: E402
    Event,
    InteractionLog,
    leave_last_out,
    natural,
    ordered,
    split_log,
)


def test_events_are_ordered_by_time_and_ties_keep_the_order_read():
    events = {"u": [(20.0, 1, "b", 4.0), (10.0, 3, "c", None), (20.0, 0, "a", 1.0), (10.0, 2, "d", 5.0)]}
    assert ordered(events) == {"u": (Event("d", 10.0, 5.0), Event("c", 10.0, None), Event("a", 20.0, 1.0),
                                     Event("b", 20.0, 4.0))}


def test_leave_last_out_holds_out_the_last_and_the_one_before():
    test, valid = leave_last_out({"u1": ["a", "b", "c"], "u2": ["a", "b"], "u3": ["z"]})
    assert [(r.user_id, r.history, r.truth) for r in test.records] == [("u1", ("a", "b"), "c"), ("u2", ("a",), "b")]
    assert [(r.user_id, r.history, r.truth) for r in valid.records] == [("u1", ("a",), "b")]
    assert test.records[0].known == frozenset("abc")
    assert test.train == (("a", "b"), ("a",), ()) and valid.train == (("a",), (), ())


def test_the_split_keeps_the_logs_items_notes_and_draws_negatives_from_rated_items_in_natural_order():
    items = {i: Item(id=i, title=f"T{i}") for i in ("10", "2", "x", "9")}
    log = InteractionLog("toy", items, {"u": (Event("10", 1, 5.0), Event("2", 2, 3.0), Event("x", 3, None))},
                         scenario="books", notes={"split": "by time"})
    dataset = split_log(log)
    assert dataset.pool == ("2", "10", "x") and sorted(["10", "2", "x"], key=natural) == ["2", "10", "x"]
    assert (dataset.name, dataset.scenario, dataset.notes) == ("toy", "books", {"split": "by time"})
    assert dataset.test.records[0].truth == "x" and dataset.items is items
    assert split_log(log, "other", "movies").name == "other" and log.rated
    assert log.item_sequences() == {"u": ["10", "2", "x"]}
    assert not InteractionLog("bare", items, {"u": (Event("2", 0),)}).rated
