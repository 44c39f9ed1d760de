"""The honesty rules: the held-out item steers nothing but the metric (on real data, small samples)."""

import dataclasses
from collections import Counter

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import DATASETS, TINYCROSS, TINYLENS, needs_datasets  # noqa: E402

from promptrec import Item  # noqa: E402
from promptrec.evaluation.cases import EvalDataset, Split, UserRecord  # noqa: E402
from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.protocol import ProtocolConfig, build_cases, draw_negatives  # noqa: E402


@needs_datasets
@pytest.mark.parametrize("name", ["movielens", "games", "office", "books-movies"])
def test_negatives_never_include_history_known_items_or_the_truth(name):
    dataset = load_dataset(name, DATASETS)
    config = ProtocolConfig(users=150, valid_users=30, seed=3)
    test, valid = build_cases(dataset, config)
    _check_negatives(dataset, config, test + valid)
    assert not {c.query.user_id for c in test} & {c.query.user_id for c in valid}


@needs_datasets
def test_games_negatives_are_the_first_fixed_ones_that_are_allowed():
    dataset = load_dataset("games", DATASETS)
    record = next(r for r in dataset.test.records if set(r.fixed_negatives[:19]) & set(r.history))
    negatives = draw_negatives(record, dataset.pool, 19, seed=0, label="x")
    allowed = [i for i in record.fixed_negatives if i not in set(record.history) | {record.truth}]
    assert negatives == allowed[:19]


@needs_datasets
def test_truth_position_is_uniform():
    dataset = load_dataset("games", DATASETS)
    test, _ = build_cases(dataset, ProtocolConfig(users=4000, valid_users=0, seed=11))
    positions = Counter(next(i for i, item in enumerate(c.query.candidates) if item.id == c.truth) for c in test)
    expected = len(test) / 20
    chi2 = sum((positions[i] - expected) ** 2 / expected for i in range(20))
    assert chi2 < 43.8, positions  # the 0.999 quantile of chi-square with 19 degrees of freedom


def _swap_truths(dataset: EvalDataset) -> EvalDataset:
    """The same users and histories with a different held-out item (one the user never had)."""
    used = {i for r in dataset.test.records for i in (*r.history, *r.known, r.truth)}
    spare = [i for i in dataset.items if i not in used]
    records = tuple(dataclasses.replace(r, truth=spare[n % len(spare)]) for n, r in enumerate(dataset.test.records))
    return dataclasses.replace(dataset, test=Split("test", records, dataset.test.train))


@needs_datasets
def test_user_sample_and_histories_do_not_depend_on_the_truth():
    dataset = load_dataset("movielens", DATASETS)
    config = ProtocolConfig(users=60, valid_users=0, seed=5)
    first, _ = build_cases(dataset, config)
    second, _ = build_cases(_swap_truths(dataset), config)
    assert [c.query.user_id for c in first] == [c.query.user_id for c in second]
    assert [c.query.history for c in first] == [c.query.history for c in second]
    assert [c.truth for c in first] != [c.truth for c in second]


@needs_datasets
def test_seeds_make_runs_repeatable_and_different_seeds_differ():
    dataset = load_dataset("industrial", DATASETS)
    a = build_cases(dataset, ProtocolConfig(users=30, valid_users=5, seed=1))
    b = build_cases(dataset, ProtocolConfig(users=30, valid_users=5, seed=1))
    c = build_cases(dataset, ProtocolConfig(users=30, valid_users=5, seed=2))
    assert a == b and a != c


def test_cases_are_not_filtered_on_the_truth():
    records = tuple(UserRecord(f"u{i}", (f"h{i}",), f"t{i}") for i in range(5))
    items = {i: Item(id=i, title=i) for r in records for i in (*r.history, r.truth)}
    items.update({f"n{i}": Item(id=f"n{i}", title=f"n{i}") for i in range(30)})
    dataset = EvalDataset("toy", "llmrank", "default", items, tuple(f"n{i}" for i in range(30)),
                          Split("test", records, ()), Split("valid", (), ()))
    test, _ = build_cases(dataset, ProtocolConfig(users=None, valid_users=0, candidates=5))
    assert len(test) == 5 and all(len(c.query.candidates) == 5 for c in test)
    assert {c.truth for c in test} == {r.truth for r in records}  # truths outside the pool are kept, not dropped


# ------------------------------------------------------------------ the generated fixtures, always


@pytest.mark.parametrize("spec", [f"movielens:{TINYLENS}", f"crossdomain:{TINYCROSS}:books:movies"])
def test_on_the_fixtures_negatives_never_include_history_known_items_or_the_truth(spec):
    dataset = load_dataset(spec)
    config = ProtocolConfig(users=12, valid_users=10, seed=3)
    test, valid = build_cases(dataset, config)
    assert len(test) == 12 and len(valid) == 10
    _check_negatives(dataset, config, test + valid)
    assert build_cases(dataset, config) == (test, valid)  # seeded
    if dataset.disjoint_valid_users:
        assert not {c.query.user_id for c in test} & {c.query.user_id for c in valid}


@pytest.mark.parametrize(
    "field, value, words",
    [("candidates", 1, "candidates must be at least 2"), ("history", 0, "history must be at least 1"),
     ("users", 0, "users must be at least 1"), ("valid_users", -1, "valid_users must not be negative"),
     ("llm_valid_users", -2, "llm_valid_users must not be negative")],
)
def test_protocol_settings_are_checked(field, value, words):
    with pytest.raises(ValueError, match=words):
        ProtocolConfig(**{field: value})


def _check_negatives(dataset, config, cases):
    """20 distinct candidates, the truth once, no negative the user has seen, the last H history items."""
    records = {(split, r.user_id): r for split in ("test", "valid") for r in dataset.split(split).records}
    for case in cases:
        record = records[(case.split, case.query.user_id)]
        ids = [item.id for item in case.query.candidates]
        negatives = [i for i in ids if i != case.truth]
        assert len(ids) == len(set(ids)) == 20 and ids.count(case.truth) == 1
        assert not set(negatives) & (set(record.history) | record.known | {record.truth})
        assert [item.id for item in case.query.history] == list(record.history[-config.history :])
        assert set(negatives) <= set(dataset.pool)


# ------------------------------------------------------------------ issue 26: seeds from the content, one sample


@pytest.mark.parametrize("spec", [f"movielens:{TINYLENS}", f"crossdomain:{TINYCROSS}:books:movies"])
def test_the_same_files_under_another_name_give_the_same_users_negatives_and_shuffles(tmp_path, spec):
    import shutil

    from promptrec.evaluation.datasets import resolve

    fmt, path, _ = resolve(spec)
    folder = path.split(":")[0] if fmt == "crossdomain" else path
    copy = tmp_path / "renamed-copy"
    shutil.copytree(folder, copy)
    renamed = spec.replace(str(folder), str(copy))
    a, b = load_dataset(spec), load_dataset(renamed)
    assert a.name != b.name and a.content_key == b.content_key
    config = ProtocolConfig(users=9, valid_users=7, seed=5)
    assert build_cases(a, config) == build_cases(b, config)


def test_the_content_key_follows_the_content_and_the_seed_changes_the_sample():
    dataset = load_dataset(f"movielens:{TINYLENS}")
    other = dataclasses.replace(dataset, name="another name", pool=dataset.pool[:-1])
    assert dataclasses.replace(dataset, name="x").content_key == dataset.content_key
    assert other.content_key != dataset.content_key
    one = build_cases(dataset, ProtocolConfig(users=10, valid_users=5, seed=1))
    two = build_cases(dataset, ProtocolConfig(users=10, valid_users=5, seed=2))
    assert {c.query.user_id for c in one[0]} != {c.query.user_id for c in two[0]}


def test_every_protocol_samples_the_same_users():
    from promptrec.evaluation.fullcatalog import run_full
    from promptrec.evaluation.protocol import sample_users, users_hash

    dataset = load_dataset(f"movielens:{TINYLENS}")
    config = ProtocolConfig(users=10, valid_users=6, seed=4)
    test, valid = build_cases(dataset, config)
    full = run_full(dataset, config, retrievers=("popularity",), pool_size=5)
    assert [c.user_id for c in full.test] == [c.query.user_id for c in test]
    assert [c.user_id for c in full.valid] == [c.query.user_id for c in valid]
    records, _ = sample_users(dataset, config)
    digest = users_hash([r.user_id for r in records])
    assert digest == users_hash(list(reversed([r.user_id for r in records]))) and len(digest) == 12
    assert f"ids sha256 {digest}" in full.protocol["test users"]


def test_the_default_validation_sample_is_at_least_200_users():
    assert ProtocolConfig().valid_users >= 200
