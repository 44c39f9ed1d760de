"""Cross-domain cold-start on any data: one documented file format, and the RecSys'24 Amazon files as one
input to the same builder.

The protocol (:func:`build_cross_domain`): a *cold-start user* has items in both the source and the target
domain. Their truth is their first target-domain item, and their history is every source-domain item
ordered *before* that truth: what they had when they chose in the new domain. Order is the interactions'
order column; ties keep the files' order (the stable rule: of two rows with the same order value, the one
read first comes first). Source items ordered after the truth never enter the history (no leak from the
future); a user with none before it drops out, and the report counts both. Candidates and negatives come
from the target catalog and are never one of the user's own items in either domain (later ones included).
The cold-start users' interactions never enter the training interactions (popularity, co-occurrence),
which hold the source- and target-domain interactions of every other user. Validation users are cold-start
users too, disjoint from the test users.

The file format (``crossdomain:PATH:SOURCE:TARGET``), either layout, ``.csv`` (also ``.csv.gz``), ``.tsv``
or ``.jsonl``::

    PATH/items.csv          id (or item_id), title, domain, and any other columns: attributes
    PATH/interactions.csv   user_id, item_id, ORDER, [rating], [domain], [split]
    PATH/splits.csv         optional: user_id, split

    PATH/<domain>/items.csv            id, title, attributes   (the folder names the domain)
    PATH/<domain>/interactions.csv     user_id, item_id, ORDER, [rating], [split]

``ORDER`` is the first of the columns ``timestamp``, ``time``, ``position``, ``seq`` that the header has:
a number (Unix seconds, a sequence position...) or an ISO 8601 date/time. ``rating`` is read and checked
but every row counts as an interaction. An interaction's domain is its item's; a ``domain`` column, where
given, must agree. An item id names one item: the same id in two domains is an error that names both
places.

Which users are test and validation users: a ``split`` column (the same value on every row of a user) or
a ``splits.csv`` file names them, ``test``, ``valid`` (or ``validation``) and ``train``; users it does not
name are training users. Without either, the users who have both domains are split by a stable hash of
their id (SHA-256, independent of ``--seed``) into cold-start users (``COLD_START_SHARE``), sampled into
test and validation users by the protocol, and *bridge* users, whose interactions in both domains are
training data (without bridges, co-occurrence could never link a source item to a target item). The
RecSys'24 files name their cold-start users themselves (:func:`load_cross_domain`).

RecSys'24 (``raw/<Source>/<source>_3_5__N.csv`` -> ``<target>_8_10.csv`` / ``_10_10.csv``): the paper's ready
cold-start pairs, found by their identical user sets, are the cold-start users; every ``raw/*/<domain>_*.csv``
and ``merged/<domain>.csv.gz`` row is an interaction. This reproduces the records, catalog order, negatives
and training interactions of the loader this module replaces.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptrec.data import Item, interaction_rows, item_from_record, table_rows
from promptrec.errors import DataError
from promptrec.evaluation.cases import EvalDataset, Split, UserRecord
from promptrec.evaluation.files import clean_text, csv_records, number, required_text
from promptrec.evaluation.interaction_log import InteractionLog, ordered

logger = logging.getLogger(__name__)

#: RecSys'24 domain -> (folder under raw/, target scenario, the attribute the CSV's 'brand' column holds)
DOMAIN_INFO: dict[str, tuple[str, str, str | None]] = {
    "books": ("Books", "books", "author"),
    "cds": ("CDs", "music", "artist"),
    "movies": ("Movies", "movies", None),
}

#: a domain name -> the promptrec scenario of its items (any other domain: ``products``)
DOMAIN_SCENARIOS: dict[str, str] = {
    "books": "books",
    "book": "books",
    "cds": "music",
    "music": "music",
    "movies": "movies",
    "movie": "movies",
    "games": "games",
    "news": "news",
}

#: share of the users who have both domains that become cold-start users (the rest are bridge users)
COLD_START_SHARE = 0.5


#: the columns that may give the interactions' order, the first one present is used
ORDER_COLUMNS: tuple[str, ...] = ("timestamp", "time", "position", "seq")

#: what a split column or file may say -> the split
SPLIT_VALUES: dict[str, str] = {"test": "test", "valid": "valid", "validation": "valid", "train": "train"}


@dataclass
class CrossDomainData:
    """Interactions and items of several domains, in the order they were read.

    ``events`` are ``(user, item, order)``; ties in a user's order values keep this (file) order.
    ``domain_of`` names every item's domain. ``cold_start`` (optional) names the users to evaluate;
    ``splits`` (optional) names test, validation and training users.
    """

    items: dict[str, Item]
    domain_of: dict[str, str]
    events: list[tuple[str, str, float]]
    source: str = ""
    cold_start: frozenset[str] | None = None
    notes: dict[str, str] = field(default_factory=dict)
    splits: dict[str, str] = field(default_factory=dict)

    @property
    def domains(self) -> list[str]:
        """The domains, in first-seen order."""
        return list(dict.fromkeys(self.domain_of.values()))


def stable_share(user_id: str) -> float:
    """A number in [0, 1) fixed by the user id alone (SHA-256), for seed-independent splits."""
    return int.from_bytes(hashlib.sha256(user_id.encode("utf-8")).digest()[:8], "big") / 2**64


def overlap_users(data: CrossDomainData, source: str, target: str) -> set[str]:
    """Users with at least one interaction in each of ``source`` and ``target``."""
    seen: dict[str, set[str]] = {}
    for user_id, item_id, _ in data.events:
        seen.setdefault(user_id, set()).add(data.domain_of[item_id])
    return {user for user, domains in seen.items() if source in domains and target in domains}


def build_cross_domain(
    data: CrossDomainData,
    source: str,
    target: str,
    name: str | None = None,
    scenario: str | None = None,
    cold_start_share: float = COLD_START_SHARE,
) -> EvalDataset:
    """The cold-start dataset ``source -> target`` of ``data`` (see the module docstring)."""
    domains = data.domains
    for role, domain in (("source", source), ("target", target)):
        if domain not in domains:
            raise DataError(f"no {role} domain '{domain}' in the data; its domains are {domains}", path=data.source, field="domain")
    if source == target:
        raise DataError("the source and the target domain must differ", path=data.source, field="domain")
    both = overlap_users(data, source, target)
    named: dict[str, str] = {}
    if data.splits:
        named = {user: split for user, split in data.splits.items() if split in ("test", "valid")}
        cohort = set(named) & both
        lacking = len(named) - len(cohort)
        how = (f"named by the split column or file: {sum(1 for u in cohort if named[u] == 'test')} test and "
               f"{sum(1 for u in cohort if named[u] == 'valid')} validation users"
               + (f" ({lacking} named users without items in both domains left out)" if lacking else ""))
    elif data.cold_start is not None:
        cohort = set(data.cold_start) & both
        how = "the users the files name as cold-start users"
    else:
        cohort = {user for user in both if stable_share(user) < cold_start_share}
        how = (f"{len(cohort)} of the {len(both)} users with both domains (a stable SHA-256 share of "
               f"{cold_start_share:.0%} of user ids); the other {len(both) - len(cohort)} are bridge users whose "
               "interactions in both domains are training data")
    if not cohort:
        raise DataError(f"no user has items in both '{source}' and '{target}'", path=data.source, field="user_id")
    # (order value, read position): the stable order of a user's events
    history: dict[str, dict[str, tuple[float, int]]] = {user: {} for user in cohort}
    heldout: dict[str, list[tuple[float, int, str]]] = {user: [] for user in cohort}
    owned: dict[str, set[str]] = {user: set() for user in cohort}
    training: dict[str, dict[str, None]] = {}
    for position, (user_id, item_id, order) in enumerate(data.events):
        domain = data.domain_of[item_id]
        if domain not in (source, target):
            continue
        if user_id not in cohort:
            training.setdefault(user_id, {})[item_id] = None
            continue
        owned[user_id].add(item_id)
        if domain == source:
            seen = history[user_id].get(item_id)
            history[user_id][item_id] = min(seen, (order, position)) if seen else (order, position)  # its first time
        else:
            heldout[user_id].append((order, position, item_id))
    records: dict[str, UserRecord] = {}
    trimmed, dropped = 0, 0
    for user_id in sorted(cohort):
        first_order, first_position, truth = min(heldout[user_id])
        before = sorted((key, item_id) for item_id, key in history[user_id].items()
                        if key < (first_order, first_position))
        if len(before) < len(history[user_id]):
            trimmed += 1
        if not before:
            dropped += 1
            continue
        records[user_id] = UserRecord(user_id, tuple(item_id for _, item_id in before), truth,
                                      frozenset(owned[user_id]))
    if not records:
        raise DataError(f"no cold-start user has a '{source}' item ordered before their first '{target}' item",
                        path=data.source, field="user_id")
    if named:
        test_records = tuple(r for u, r in records.items() if named[u] == "test")
        valid_records = tuple(r for u, r in records.items() if named[u] == "valid")
    else:
        test_records = valid_records = tuple(records.values())
    leak = (f"{trimmed} of {len(cohort)} cold-start users had {source} items ordered after their first {target} "
            f"item; those items are not in their history (they stay excluded from negatives); {dropped} users had "
            f"no {source} item before it and drop out, leaving {len(records)}")
    if trimmed:
        logger.info("%s->%s: %s", source, target, leak)
    pool = [item_id for item_id, domain in data.domain_of.items() if domain == target]
    train = tuple(tuple(items) for items in training.values())
    logger.info("%s->%s: %d cold-start users, %d training users, %d target items", source, target, len(records),
                len(train), len(pool))
    return EvalDataset(
        name=name or f"{source}->{target}",
        protocol="cross-domain",
        scenario=scenario or DOMAIN_SCENARIOS.get(target.lower(), "products"),
        items=data.items,
        pool=tuple(pool),
        test=Split("test", test_records, train),
        valid=Split("valid", valid_records, train),
        source_domain=source,
        target_domain=target,
        disjoint_valid_users=True,
        notes={
            "files": data.source,
            **data.notes,
            "cold-start users": f"{len(records)}: {how}",
            "split": f"truth = the user's first {target} item; history = the user's {source} items ordered before "
            "it (by the order column; ties: file order); validation users are cold-start users disjoint from the "
            "test users" + ("; the split column or file names both" if named else ""),
            "leak guard": leak,
            "negatives": f"uniform over the {target} catalog ({len(pool)} items), excluding every item the user "
            "has in either domain",
            "training": f"{source} and {target} interactions of the {len(train)} users who are not cold-start users; "
            f"popularity counts {target} items only",
        },
    )


# ------------------------------------------------------------------------------------ the generic format


_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".jsonl")


def _find(folder: Path, stem: str) -> Path | None:
    found = [folder / f"{stem}{suffix}" for suffix in _SUFFIXES]
    present = [path for path in found if path.is_file()]
    if len(present) > 1:
        raise DataError(f"both {present[0].name} and {present[1].name}; keep one", path=folder)
    return present[0] if present else None


def _records(path: Path, required: tuple[tuple[str, ...], ...]) -> Iterable[tuple[int, Mapping[str, Any]]]:
    """(line, record) of a CSV, TSV or JSONL file; ``required`` lists, per needed field, its accepted names."""
    for line, record in table_rows(path, required):
        if path.name.endswith(".jsonl"):
            for names in required:
                if not any(name in record for name in names):
                    raise DataError("missing field", path=path, line=line, field=names[0])
        yield line, record


def _read_items(path: Path, domain: str | None, data: CrossDomainData, seen_at: dict[str, str]) -> None:
    """Items of one file into ``data``; ``seen_at`` (item id -> ``file:line``) names where an id was first read."""
    for line, record in _records(path, (("id", "item_id"), ("title",))):
        item = item_from_record(record, path, line)
        attributes = dict(item.attributes)
        given = str(attributes.pop("domain", "") or "").strip()
        if domain is None and not given:
            raise DataError("missing domain (one items file for all domains needs a 'domain' value on every row)",
                            path=path, line=line, field="domain")
        if domain is not None and given and given != domain:
            raise DataError(f"domain '{given}' in the folder of domain '{domain}'", path=path, line=line, field="domain")
        if item.id in data.items:
            raise DataError(f"item id '{item.id}' (domain '{domain or given}') was already read at {seen_at[item.id]} "
                            f"(domain '{data.domain_of[item.id]}'); an id must name one item in one domain",
                            path=path, line=line, field="id")
        seen_at[item.id] = f"{path.name}:{line}"
        data.items[item.id] = Item(id=item.id, title=clean_text(item.title), attributes=attributes)
        data.domain_of[item.id] = domain or given


def _order_column(path: Path, record: Mapping[str, Any]) -> str:
    for name in ORDER_COLUMNS:
        if name in record:
            return name
    raise DataError(f"no order column: give one of {', '.join(ORDER_COLUMNS)}", path=path, line=1, field="timestamp")


def _split_of(value: Any, path: Path, line: int) -> str:
    text = str(value if value is not None else "").strip().lower()
    if text not in SPLIT_VALUES:
        raise DataError(f"unknown split {text!r}; use one of {', '.join(SPLIT_VALUES)}", path=path, line=line, field="split")
    return SPLIT_VALUES[text]


def _set_split(data: CrossDomainData, user_id: str, split: str, path: Path, line: int) -> None:
    known = data.splits.setdefault(user_id, split)
    if known != split:
        raise DataError(f"user '{user_id}' is in split '{known}' on an earlier line and '{split}' here",
                        path=path, line=line, field="split")


def _read_interactions(path: Path, domain: str | None, data: CrossDomainData) -> str:
    """The interactions of one file into ``data`` (parsed by :func:`promptrec.data.interaction_rows`, the one
    interaction reader); returns the order column it used."""
    column = ""
    try:
        rows = list(interaction_rows(path, times=ORDER_COLUMNS, require_time=True))
    except DataError as exc:
        if exc.line == 1 and exc.field == ORDER_COLUMNS[0] and "missing" in exc.reason:
            raise DataError(f"no order column: give one of: {', '.join(ORDER_COLUMNS)} ({exc.reason})", path=path,
                            line=1, field=exc.field) from None
        raise
    for row in rows:
        column = column or str(row.time_field)
        item_id, line = row.item_id, row.line
        if item_id not in data.domain_of:
            raise DataError(f"item '{item_id}' is not in the items file", path=path, line=line, field=row.item_field)
        given = str(row.record.get("domain") or "").strip()
        if given and given != data.domain_of[item_id]:
            raise DataError(f"item '{item_id}' is in domain '{data.domain_of[item_id]}', not '{given}'",
                            path=path, line=line, field="domain")
        if domain is not None and data.domain_of[item_id] != domain:
            raise DataError(f"item '{item_id}' is in domain '{data.domain_of[item_id]}', not this folder's '{domain}'",
                            path=path, line=line, field=row.item_field)
        if row.record.get("split") not in (None, ""):
            _set_split(data, row.user_id, _split_of(row.record["split"], path, line), path, line)
        data.events.append((row.user_id, item_id, float(row.timestamp)))  # type: ignore[arg-type]
    return column


def _read_splits(folder: Path, data: CrossDomainData) -> None:
    path = _find(folder, "splits")
    if path is None:
        return
    if data.splits:
        raise DataError("the splits are named twice: a split column in the interactions and a splits file; keep one",
                        path=path)
    for line, row in _records(path, (("user_id",), ("split",))):
        user_id = required_text(str(row["user_id"]), path, line, "user_id")
        _set_split(data, user_id, _split_of(row["split"], path, line), path, line)
    data.notes["splits"] = f"{path.name}: " + ", ".join(
        f"{sum(1 for s in data.splits.values() if s == name)} {name}" for name in ("test", "valid", "train"))


def read_crossdomain(path: str | Path) -> CrossDomainData:
    """Read a folder in the cross-domain format (either layout; see the module docstring)."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError("folder not found (give the folder that holds items and interactions)", path=folder)
    data = CrossDomainData(items={}, domain_of={}, events=[], source=str(folder))
    seen_at: dict[str, str] = {}
    items, interactions = _find(folder, "items"), _find(folder, "interactions")
    if items is not None or interactions is not None:
        if items is None or interactions is None:
            raise DataError("give both items.csv (or .tsv, .jsonl) and interactions.csv (or .tsv, .jsonl)", path=folder)
        _read_items(items, None, data, seen_at)
        column = _read_interactions(interactions, None, data)
        data.notes["layout"] = (f"{items.name} + {interactions.name}, domains from the 'domain' column, order from "
                                f"the '{column}' column (ties: file order)")
    else:
        pairs = []
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            sub_items, sub_interactions = _find(sub, "items"), _find(sub, "interactions")
            if sub_items is not None and sub_interactions is not None:
                pairs.append((sub.name, sub_items, sub_interactions))
        if len(pairs) < 2:
            raise DataError("expected items + interactions files, or one <domain>/ folder of them per domain "
                            f"(found {len(pairs)})", path=folder)
        for domain, sub_items, _ in pairs:
            _read_items(sub_items, domain, data, seen_at)
        columns = [_read_interactions(sub_interactions, domain, data) for domain, _, sub_interactions in pairs]
        data.notes["layout"] = ("one folder per domain: " + ", ".join(d for d, _, _ in pairs)
                                + f"; order from the '{'/'.join(dict.fromkeys(columns))}' column (ties: file order)")
    if data.splits:
        data.notes["splits"] = "split column: " + ", ".join(
            f"{sum(1 for s in data.splits.values() if s == name)} {name}" for name in ("test", "valid", "train"))
    _read_splits(folder, data)
    return data


def parse_spec(spec: str) -> tuple[str, str, str]:
    """``PATH:SOURCE:TARGET`` -> (path, source, target); the path may itself hold colons."""
    path, _, rest = spec.rpartition(":")
    path, _, source = path.rpartition(":")
    target = rest
    if not path or not source or not target:
        raise DataError(f"expected crossdomain:PATH:SOURCE:TARGET, got 'crossdomain:{spec}'", field="dataset")
    return path, source, target


def load_crossdomain(spec: str, name: str | None = None) -> EvalDataset:
    """The dataset of ``crossdomain:PATH:SOURCE:TARGET``."""
    path, source, target = parse_spec(spec)
    return build_cross_domain(read_crossdomain(path), source, target, name or f"{source}->{target}")


# -------------------------------------------------------------------------------- RecSys'24 Amazon files

_COLUMNS = ("user_id", "item_id", "rating", "timestamp", "title", "brand", "category")


def _categories(value: str, path: Path, line: int) -> list[str]:
    if not value.strip():
        return []
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise DataError(f"not a list literal: {value[:60]!r}", path=path, line=line, field="category") from None
    if not isinstance(parsed, list):
        raise DataError("must be a list of strings", path=path, line=line, field="category")
    return [clean_text(str(c)) for c in parsed if str(c).strip()]


def _recsys24_rows(path: Path, domain: str | None) -> Iterator[tuple[int, str, str, float, float, Callable[[], Item]]]:
    """(line, user, item id, timestamp, rating, the item) of every row of one RecSys'24 Amazon CSV; the item is
    made on demand (its title and attributes are only read the first time an id is seen)."""
    brand_attribute = DOMAIN_INFO[domain][2] if domain in DOMAIN_INFO else "brand"
    for line, row in csv_records(path, _COLUMNS):
        user_id = required_text(row["user_id"], path, line, "user_id")
        item_id = required_text(row["item_id"], path, line, "item_id")
        rating = number(row["rating"], path, line, "rating")
        timestamp = number(row["timestamp"], path, line, "timestamp")

        def item(row: dict[str, str] = row, line: int = line, item_id: str = item_id) -> Item:
            attributes: dict[str, object] = {}
            genres = _categories(row["category"], path, line)
            if genres:
                attributes["genres"] = genres
            brand = clean_text(row["brand"])
            if brand_attribute and brand:
                attributes[brand_attribute] = brand
            title = clean_text(required_text(row["title"], path, line, "title"))
            return Item(id=item_id, title=title, attributes=attributes)

        yield line, user_id, item_id, timestamp, rating, item


def _read_recsys24(path: Path, domain: str, data: CrossDomainData, events: bool = True) -> set[str]:
    """Items of one CSV into ``data`` (first title seen wins) and, if ``events``, its ratings; its users."""
    users = set()
    for line, user_id, item_id, timestamp, _, item in _recsys24_rows(path, domain):
        if item_id not in data.items:
            data.items[item_id] = item()
            data.domain_of[item_id] = domain
        elif data.domain_of[item_id] != domain:
            raise DataError(f"item '{item_id}' is also in domain '{data.domain_of[item_id]}'", path=path, line=line, field="item_id")
        if events:
            data.events.append((user_id, item_id, timestamp))
        users.add(user_id)
    return users


def read_amazon_log(path: str | Path, name: str | None = None) -> InteractionLog:
    """One RecSys'24 Amazon CSV (``merged/books.csv.gz``, ``raw/CDs/cds_8_10.csv``...: user_id, item_id, rating,
    timestamp, title, brand, category) as an :class:`InteractionLog`: every rating kept with its time, each
    user's ratings by time (ties: file order). The domain is the file name's first word (``books``, ``cds``,
    ``movies``: its items read as the cross-domain protocol reads them; any other: ``brand`` kept as is)."""
    path = Path(path)
    domain = path.name.split(".")[0].split("_")[0].lower()
    items: dict[str, Item] = {}
    events: dict[str, list[tuple[float, int, str, float | None]]] = {}
    for line, user_id, item_id, timestamp, rating, item in _recsys24_rows(path, domain):
        if item_id not in items:
            items[item_id] = item()
        events.setdefault(user_id, []).append((timestamp, line, item_id, rating))
    scenario = DOMAIN_INFO[domain][1] if domain in DOMAIN_INFO else DOMAIN_SCENARIOS.get(domain, "products")
    return InteractionLog(
        name=name or f"amazon-{domain}",
        items=items,
        sequences=ordered(events),
        scenario=scenario,
        files=str(path),
        notes={
            "files": f"{path} (RecSys'24 Amazon CSV, domain '{domain}')",
            "split": "per user, ratings ordered by timestamp (ties: the file's order, a stable rule); test = last, "
            "validation = second to last; every rating counts as an interaction",
            "negatives": "uniform over the rated items, excluding every item the user rated",
            "training": "all ratings except each user's held-out one(s) (popularity, co-occurrence)",
        },
    )


def _domain_files(root: Path, domain: str) -> list[Path]:
    files = sorted(root.glob(f"raw/*/{domain}_*.csv"))
    merged = root / "merged" / f"{domain}.csv.gz"
    return files + ([merged] if merged.is_file() else [])


_SOURCE = re.compile(r"^(?P<domain>[a-z]+)_3_5__\d+\.csv$")
_TARGET = re.compile(r"^(?P<domain>[a-z]+)_(8|10)_10\.csv$")


def cold_start_pairs(root: Path, source: str, target: str) -> list[tuple[Path, Path]]:
    """The (source file, target file) pairs in ``raw/<Source>/`` that hold exactly the same users."""
    folder = root / "raw" / DOMAIN_INFO[source][0]
    if not folder.is_dir():
        raise DataError("folder not found", path=folder)

    def users(path: Path) -> frozenset[str]:
        return frozenset(row["user_id"] for _, row in csv_records(path, ("user_id",)))

    sources = [p for p in sorted(folder.glob("*.csv")) if (m := _SOURCE.match(p.name)) and m["domain"] == source]
    targets = [p for p in sorted(folder.glob("*.csv")) if (m := _TARGET.match(p.name)) and m["domain"] == target]
    target_users = {path: users(path) for path in targets}
    pairs = []
    for path in sources:
        cohort = users(path)
        pairs += [(path, t) for t, their in target_users.items() if their == cohort]
    if not pairs:
        raise DataError(f"no {source}_3_5__N.csv file with the same users as a {target}_8_10/_10_10 file", path=folder)
    return pairs


def recsys24_data(root: Path, source: str, target: str) -> CrossDomainData:
    """The RecSys'24 files of ``source`` and ``target`` as :class:`CrossDomainData`, the users of the paper's
    cold-start pairs as the cold-start users.

    Read order (it fixes the catalog order negatives are drawn from, and ties in a user's timestamps): the
    items of every ``source`` then ``target`` file, then the ratings of the pair files (so a cold-start user's
    ties keep the pair file's order), then those of every file of both domains.
    """
    pairs = cold_start_pairs(root, source, target)
    data = CrossDomainData(items={}, domain_of={}, events=[])
    for source_file, target_file in pairs:  # the item catalog's order: pair files first, as published
        _read_recsys24(source_file, source, data, events=False)
        _read_recsys24(target_file, target, data, events=False)
    target_items = CrossDomainData(items={}, domain_of={}, events=[])
    for domain in (source, target):
        for file in _domain_files(root, domain):
            _read_recsys24(file, domain, data, events=False)
            if domain == target:
                _read_recsys24(file, domain, target_items, events=False)
    cohort: set[str] = set()
    for source_file, target_file in pairs:
        cohort |= _read_recsys24(source_file, source, data)
        _read_recsys24(target_file, target, data)
    for domain in (source, target):
        for file in _domain_files(root, domain):
            _read_recsys24(file, domain, data)
    # the target catalog in the order its files list it (the order negatives were always drawn in)
    ordered = {item_id: data.items[item_id] for item_id in target_items.items}
    ordered.update(data.items)
    domain_of = {item_id: data.domain_of[item_id] for item_id in ordered}
    files = ", ".join(f"{s.relative_to(root)} -> {t.relative_to(root)}" for s, t in pairs)
    return CrossDomainData(
        items=ordered, domain_of=domain_of, events=data.events, source=f"{root}: {files}",
        cold_start=frozenset(cohort),
        notes={"layout": f"RecSys'24 Amazon CSVs: raw/*/{{{source},{target}}}_*.csv and merged/; cold-start "
               "users = the users of the paper's pairs (3-5 source ratings, 8-10 target ratings)"},
    )


def load_cross_domain(path: str | Path, name: str | None = None) -> EvalDataset:
    """``path`` = ``<folder>/<source>-<target>``, e.g. ``amazon_books_cds_movies_recsys24/books-movies``."""
    path = Path(path)
    root = path.parent
    source, _, target = path.name.partition("-")
    if source not in DOMAIN_INFO or target not in DOMAIN_INFO or source == target:
        raise DataError(f"expected SOURCE-TARGET with two of {', '.join(DOMAIN_INFO)}, got '{path.name}'", path=path)
    data = recsys24_data(root, source, target)
    return build_cross_domain(data, source, target, name or f"{source}->{target}", scenario=DOMAIN_INFO[target][1])
