"""Loaders for two published Amazon sequential sets: LLMRank's Games (RecBole atomic files) and MiniOneRec's
industrial/office CSVs with their item JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from promptrec.data import Item
from promptrec.errors import DataError
from promptrec.evaluation.cases import EvalDataset, Split, UserRecord
from promptrec.evaluation.files import clean_text, csv_records, tsv_lines


def _atomic(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a RecBole atomic file (a ``name:type`` header, tab-separated) with the ``columns`` needed."""
    lines = tsv_lines(path)
    try:
        _, header = next(lines)
    except StopIteration:
        raise DataError("empty file (no header row)", path=path, line=1) from None
    names = [field.split(":", 1)[0].strip() for field in header]
    for column in columns:
        if column not in names:
            raise DataError(f"missing column; the header has {names}", path=path, line=1, field=column)
    for line, fields in lines:
        if len(fields) != len(names):
            raise DataError(f"expected {len(names)} tab-separated fields, got {len(fields)}", path=path, line=line)
        yield line, dict(zip(names, fields))


def _sequences(path: Path, items: dict[str, Item]) -> dict[str, tuple[tuple[str, ...], str]]:
    """user -> (history ids oldest first, target id) from a ``.inter`` file."""
    result: dict[str, tuple[tuple[str, ...], str]] = {}
    for line, row in _atomic(path, ("user_id", "item_id_list", "item_id")):
        history = tuple(row["item_id_list"].split())
        target = row["item_id"].strip()
        for field, ids in (("item_id_list", history), ("item_id", (target,))):
            unknown = [item_id for item_id in ids if item_id not in items]
            if unknown or not ids:
                raise DataError(f"unknown item id {unknown[:1] or ['(empty)']}", path=path, line=line, field=field)
        result[row["user_id"].strip()] = (history, target)
    return result


def load_llmrank(prefix: str | Path, name: str = "games") -> EvalDataset:
    """LLMRank's RecBole files ``PREFIX.item``, ``.test.inter``, ``.valid.inter`` and ``.random``.

    Test: the users of ``.random`` with ``.test.inter``'s history and target; candidates are the target plus
    the first 19 of the user's fixed random negatives, as in LLMRank. LLMRank drops only the target from that
    list; here history items are dropped as well (the next ones move up), so that no negative is an item the
    user already has. Validation: the same users with ``.valid.inter`` (one step earlier), same negatives.
    """
    base = str(prefix)
    item_file = Path(base + ".item")
    items: dict[str, Item] = {}
    for line, row in _atomic(item_file, ("item_id", "title")):
        title = clean_text(row["title"])
        if not title:
            raise DataError("empty title", path=item_file, line=line, field="title")
        items[row["item_id"].strip()] = Item(id=row["item_id"].strip(), title=title)
    test_seq = _sequences(Path(base + ".test.inter"), items)
    valid_seq = _sequences(Path(base + ".valid.inter"), items)
    random_file = Path(base + ".random")
    negatives: dict[str, tuple[str, ...]] = {}
    for line, fields in tsv_lines(random_file):
        if len(fields) != 2:
            raise DataError("expected 'user<TAB>item item ...'", path=random_file, line=line)
        user_id, ids = fields[0].strip(), tuple(fields[1].split())
        if user_id not in test_seq:
            raise DataError(f"user '{user_id}' is not in the .test.inter file", path=random_file, line=line, field="user_id")
        unknown = [item_id for item_id in ids if item_id not in items]
        if unknown:
            raise DataError(f"unknown item id '{unknown[0]}'", path=random_file, line=line, field="item_id")
        negatives[user_id] = ids
    test_records, valid_records = [], []
    for user_id, fixed in negatives.items():
        history, target = test_seq[user_id]
        known = frozenset((*history, target))
        test_records.append(UserRecord(user_id, history, target, known, fixed))
        if user_id in valid_seq:
            valid_history, valid_target = valid_seq[user_id]
            valid_records.append(UserRecord(user_id, valid_history, valid_target, known, fixed))
    return EvalDataset(
        name=name,
        protocol="llmrank",
        scenario="games",
        items=items,
        pool=tuple(items),
        test=Split("test", tuple(test_records), tuple(h for h, _ in test_seq.values())),
        valid=Split("valid", tuple(valid_records), tuple(h for h, _ in valid_seq.values())),
        notes={
            "files": f"{base}.item, .test.inter, .valid.inter, .random",
            "split": "LLMRank/UniSRec: test = last item of each sequence (.test.inter), validation = the one "
            "before (.valid.inter); users = the 6,000 of .random",
            "negatives": "the first 19 of the user's fixed .random negatives, skipping the target and history "
            "items (LLMRank skips only the target)",
            "training": "the history sequences of all users in the split's .inter file (popularity, co-occurrence)",
        },
    )


def _history_ids(value: str, path: Path, line: int) -> tuple[str, ...]:
    try:
        ids = json.loads(value)
    except json.JSONDecodeError:
        raise DataError(f"not a JSON list of ids: {value[:60]!r}", path=path, line=line, field="history_item_id") from None
    if not isinstance(ids, list) or not all(isinstance(i, (int, str)) and not isinstance(i, bool) for i in ids):
        raise DataError("must be a list of item ids", path=path, line=line, field="history_item_id")
    return tuple(str(i) for i in ids)


def _minionerec_rows(path: Path, items: dict[str, Item]) -> list[tuple[str, tuple[str, ...], str]]:
    rows = []
    for line, row in csv_records(path, ("user_id", "history_item_id", "item_id")):
        history = _history_ids(row["history_item_id"], path, line)
        target = row["item_id"].strip()
        for field, ids in (("history_item_id", history), ("item_id", (target,))):
            unknown = [item_id for item_id in ids if item_id not in items]
            if unknown:
                raise DataError(f"item id '{unknown[0]}' is not in the item index", path=path, line=line, field=field)
        rows.append((row["user_id"].strip(), history, target))
    return rows


def _one_file(folder: Path, domain: str) -> Path:
    found = sorted(folder.glob(f"{domain}*.csv"))
    if len(found) != 1:
        raise DataError(f"expected one {domain}*.csv file, found {len(found)}", path=folder)
    return found[0]


def load_minionerec(path: str | Path, name: str = "office") -> EvalDataset:
    """MiniOneRec's ``DIR/index/DOMAIN.item.json`` and ``DIR/{test,valid}/DOMAIN_*.csv`` (``path`` = DIR/DOMAIN).

    Each CSV row is (user, last <=10 history ids, next item), rows in time order. A user's case is their last
    row in the file: test from ``test/``, validation from ``valid/`` (which ends earlier in time).
    """
    path = Path(path)
    folder, domain = path.parent, path.name
    index = folder / "index" / f"{domain}.item.json"
    try:
        raw = json.loads(index.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("file not found", path=index) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"invalid JSON: {exc}", path=index) from None
    if not isinstance(raw, dict):
        raise DataError("expected an object of id -> item", path=index)
    items: dict[str, Item] = {}
    for item_id, record in raw.items():
        title = clean_text(str(record.get("title") or "")) if isinstance(record, dict) else ""
        if not title:
            raise DataError(f"item '{item_id}' has no title", path=index, field="title")
        brand = clean_text(str(record.get("brand") or ""))
        items[str(item_id)] = Item(id=str(item_id), title=title, attributes={"brand": brand} if brand else {})
    test_file, valid_file = _one_file(folder / "test", domain), _one_file(folder / "valid", domain)
    test_rows, valid_rows = _minionerec_rows(test_file, items), _minionerec_rows(valid_file, items)
    known: dict[str, set[str]] = {}
    for user_id, history, target in (*test_rows, *valid_rows):
        known.setdefault(user_id, set()).update((*history, target))
    last_test = {user: (history, target) for user, history, target in test_rows}
    last_valid = {user: (history, target) for user, history, target in valid_rows}
    train_test: dict[str, dict[str, None]] = {}
    for user_id, history, target in valid_rows:
        train_test.setdefault(user_id, {}).update(dict.fromkeys((*history, target)))
    for user_id, history, _ in test_rows:
        train_test.setdefault(user_id, {}).update(dict.fromkeys(history))
    train_valid: dict[str, dict[str, None]] = {}
    for user_id, history, _ in valid_rows:
        train_valid.setdefault(user_id, {}).update(dict.fromkeys(history))

    def records(last: dict[str, tuple[tuple[str, ...], str]]) -> tuple[UserRecord, ...]:
        return tuple(UserRecord(u, h, t, frozenset(known[u])) for u, (h, t) in last.items())

    return EvalDataset(
        name=name,
        protocol="llmrank",
        scenario="products",
        items=items,
        pool=tuple(items),
        test=Split("test", records(last_test), tuple(tuple(s) for s in train_test.values())),
        valid=Split("valid", records(last_valid), tuple(tuple(s) for s in train_valid.values())),
        notes={
            "files": f"{index} , {test_file} , {valid_file}",
            "split": "time-ordered (D3 / MiniOneRec): a user's last row of test/ (validation: of valid/); "
            "history = that row's <=10 items",
            "negatives": "uniform over the item index, excluding every item of the user in either file",
            "training": "test: all history items of both files plus valid/ targets; validation: valid/ "
            "histories only (counted once per user and item)",
        },
    )
