"""Cross-domain cold-start from the Amazon books / CDs / movies CSVs whose users overlap (RecSys 2024).

In ``raw/<Source>/`` a file ``<source>_3_5__N.csv`` (3-5 ratings in the source domain) and a file
``<target>_8_10.csv`` or ``<target>_10_10.csv`` (8-10 ratings in the target domain) hold the same users: the
paper's ready cold-start pairs. The pairs are found by their identical user sets, not by name. A user's
history is their source ratings (time order); the truth is their first target-domain rating (earliest
timestamp, ties by item id): what they chose when they had nothing in that domain yet. Negatives come from
the whole target catalog, never one of the user's own items in either domain.

Training interactions (popularity, co-occurrence) are those of every user outside the cold-start cohort,
read from every ``raw/*/<domain>_*.csv`` and, when present, ``merged/<domain>.csv.gz``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from promptrec.data import Item
from promptrec.errors import DataError
from promptrec.evaluation.cases import EvalDataset, Split, UserRecord
from promptrec.evaluation.files import clean_text, csv_records, number, required_text

#: domain -> (folder under raw/, target scenario, the attribute the CSV's 'brand' column holds)
DOMAIN_INFO: dict[str, tuple[str, str, str | None]] = {
    "books": ("Books", "books", "author"),
    "cds": ("CDs", "music", "artist"),
    "movies": ("Movies", "movies", None),
}

_COLUMNS = ("user_id", "item_id", "rating", "timestamp", "title", "brand", "category")
Rating = tuple[str, str, float, int]  # user, item, timestamp, line


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


def _read(path: Path, domain: str, items: dict[str, Item]) -> list[Rating]:
    """Ratings of one CSV; items it names are added to ``items`` (first title seen wins)."""
    brand_attribute = DOMAIN_INFO[domain][2]
    ratings = []
    for line, row in csv_records(path, _COLUMNS):
        user_id = required_text(row["user_id"], path, line, "user_id")
        item_id = required_text(row["item_id"], path, line, "item_id")
        number(row["rating"], path, line, "rating")
        timestamp = number(row["timestamp"], path, line, "timestamp")
        if item_id not in items:
            attributes: dict[str, object] = {}
            genres = _categories(row["category"], path, line)
            if genres:
                attributes["genres"] = genres
            brand = clean_text(row["brand"])
            if brand_attribute and brand:
                attributes[brand_attribute] = brand
            title = clean_text(required_text(row["title"], path, line, "title"))
            items[item_id] = Item(id=item_id, title=title, attributes=attributes)
        ratings.append((user_id, item_id, timestamp, line))
    return ratings


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


def load_cross_domain(path: Path, name: str | None = None) -> EvalDataset:
    """``path`` = ``<folder>/<source>-<target>``, e.g. ``amazon_books_cds_movies_recsys24/books-movies``."""
    root = path.parent
    source, _, target = path.name.partition("-")
    if source not in DOMAIN_INFO or target not in DOMAIN_INFO or source == target:
        raise DataError(f"expected SOURCE-TARGET with two of {', '.join(DOMAIN_INFO)}, got '{path.name}'", path=path)
    pairs = cold_start_pairs(root, source, target)
    items: dict[str, Item] = {}
    history: dict[str, list[Rating]] = {}
    heldout: dict[str, list[Rating]] = {}
    for source_file, target_file in pairs:
        for rating in _read(source_file, source, items):
            history.setdefault(rating[0], []).append(rating)
        for rating in _read(target_file, target, items):
            heldout.setdefault(rating[0], []).append(rating)
    cohort = set(history)
    owned: dict[str, set[str]] = {user: set() for user in cohort}
    training: dict[str, dict[str, None]] = {}
    pool: dict[str, None] = {}
    for domain in (source, target):
        for file in _domain_files(root, domain):
            for user_id, item_id, _, _ in _read(file, domain, items):
                if domain == target:
                    pool[item_id] = None
                if user_id in cohort:
                    owned[user_id].add(item_id)
                else:
                    training.setdefault(user_id, {})[item_id] = None
    records = []
    for user_id in sorted(cohort):
        ordered = [item for _, item, _, _ in sorted(history[user_id], key=lambda r: (r[2], r[3]))]
        first = min(heldout[user_id], key=lambda r: (r[2], r[1]))[1]
        known = frozenset(owned[user_id] | set(ordered) | {r[1] for r in heldout[user_id]})
        records.append(UserRecord(user_id, tuple(dict.fromkeys(ordered)), first, known))
    for record in records:
        pool.setdefault(record.truth, None)
    split_train = tuple(tuple(user_items) for user_items in training.values())
    files = ", ".join(f"{s.relative_to(root)} -> {t.relative_to(root)}" for s, t in pairs)
    return EvalDataset(
        name=name or f"{source}->{target}",
        protocol="cross-domain",
        scenario=DOMAIN_INFO[target][1],
        items=items,
        pool=tuple(pool),
        test=Split("test", tuple(records), split_train),
        valid=Split("valid", tuple(records), split_train),
        source_domain=source,
        target_domain=target,
        disjoint_valid_users=True,
        notes={
            "files": f"{root}: {files}",
            "split": f"history = the user's {source} ratings (3-5, time order); truth = the user's first {target} "
            "rating (earliest timestamp); validation users are disjoint from test users",
            "negatives": f"uniform over the {target} catalog ({len(pool)} items), excluding every item the user "
            "rated in either domain",
            "training": f"{source} and {target} ratings of the {len(training)} users outside the cold-start cohort "
            f"({len(cohort)} users); popularity counts {target} items only",
        },
    )
