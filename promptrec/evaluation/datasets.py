"""Dataset loaders, named on the command line by a short name or by ``format:path``.

Short names resolve under the data folder (``--data-dir``, ``$PROMPTREC_DATA``, or ``../shared/datasets``
beside the project root):

==================  ===============================================================================
``movielens``       ``movielens:movielens-latest-small`` (GroupLens ml-latest-small CSVs)
``games``           ``llmrank:amazon-games-llmrank/Games-6k`` (RecBole atomic files + fixed negatives)
``office``          ``minionerec:amazon-industrial-office-minionerec/Office_Products``
``industrial``      ``minionerec:amazon-industrial-office-minionerec/Industrial_and_Scientific``
``bookcrossing``    ``tallrec:bookcrossing-tallrec/test.json`` (pointwise yes/no; AUC)
``books-movies``    ``recsys24:amazon_books_cds_movies_recsys24/books-movies`` (and the other five pairs)
==================  ===============================================================================

Your own data in promptrec's formats: ``promptrec:CATALOG.jsonl,HISTORIES.jsonl`` (or ``.csv``), split
leave-last-out by time like MovieLens. Your own cross-domain data: ``crossdomain:PATH:SOURCE:TARGET``
(the format is in :mod:`promptrec.evaluation.crossdomain`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from promptrec.data import Item, read_catalog, read_histories
from promptrec.errors import DataError
from promptrec.evaluation.cases import EvalDataset, Split, UserRecord
from promptrec.evaluation.files import clean_text, csv_records, default_data_dir, number, required_text

if TYPE_CHECKING:
    from promptrec.evaluation.pointwise import PointwiseDataset

#: what a format loads: a ranking dataset, or a yes/no one (``tallrec``)
AnyDataset: TypeAlias = "EvalDataset | PointwiseDataset"

DOMAINS = ("books", "cds", "movies")

#: short name -> (format, path under the data folder, the name reports use)
SHORTCUTS: dict[str, tuple[str, str, str]] = {
    "movielens": ("movielens", "movielens-latest-small", "movielens"),
    "games": ("llmrank", "amazon-games-llmrank/Games-6k", "games"),
    "office": ("minionerec", "amazon-industrial-office-minionerec/Office_Products", "office"),
    "industrial": ("minionerec", "amazon-industrial-office-minionerec/Industrial_and_Scientific", "industrial"),
    "bookcrossing": ("tallrec", "bookcrossing-tallrec/test.json", "bookcrossing"),
    **{
        f"{s}-{t}": ("recsys24", f"amazon_books_cds_movies_recsys24/{s}-{t}", f"{s}->{t}")
        for s in DOMAINS
        for t in DOMAINS
        if s != t
    },
}


def leave_last_out(sequences: Mapping[str, Sequence[str]]) -> tuple[Split, Split]:
    """Test = each user's last item, validation = the one before; training = what precedes each.

    ``sequences`` maps a user to item ids oldest first. A user needs one earlier item to be tested and two
    to be validated; users are never filtered on anything else.
    """
    test: list[UserRecord] = []
    valid: list[UserRecord] = []
    for user_id, sequence in sequences.items():
        known = frozenset(sequence)
        if len(sequence) >= 2:
            test.append(UserRecord(user_id, tuple(sequence[:-1]), sequence[-1], known))
        if len(sequence) >= 3:
            valid.append(UserRecord(user_id, tuple(sequence[:-2]), sequence[-2], known))
    return (
        Split("test", tuple(test), tuple(tuple(s[:-1]) for s in sequences.values())),
        Split("valid", tuple(valid), tuple(tuple(s[:-2]) for s in sequences.values())),
    )


def load_movielens(folder: Path, name: str = "movielens") -> EvalDataset:
    """GroupLens ``ratings.csv`` + ``movies.csv``: every rating is an interaction, ordered by time.

    Ties in a user's timestamps keep the file's order. Titles keep their year; genres become an attribute.
    """
    items: dict[str, Item] = {}
    movies = folder / "movies.csv"
    for line, row in csv_records(movies, ("movieId", "title", "genres")):
        movie_id = required_text(row["movieId"], movies, line, "movieId")
        genres = [g for g in row["genres"].split("|") if g and g != "(no genres listed)"]
        title = clean_text(required_text(row["title"], movies, line, "title"))
        items[movie_id] = Item(id=movie_id, title=title, attributes={"genres": genres} if genres else {})
    ratings = folder / "ratings.csv"
    events: dict[str, list[tuple[float, int, str]]] = {}
    for line, row in csv_records(ratings, ("userId", "movieId", "rating", "timestamp")):
        user_id = required_text(row["userId"], ratings, line, "userId")
        movie_id = required_text(row["movieId"], ratings, line, "movieId")
        if movie_id not in items:
            raise DataError(f"movie {movie_id} is not in {movies.name}", path=ratings, line=line, field="movieId")
        number(row["rating"], ratings, line, "rating")
        events.setdefault(user_id, []).append((number(row["timestamp"], ratings, line, "timestamp"), line, movie_id))
    sequences = {user: [movie for _, _, movie in sorted(rows)] for user, rows in events.items()}
    test, valid = leave_last_out(sequences)
    rated = sorted({movie for sequence in sequences.values() for movie in sequence}, key=_natural)
    return EvalDataset(
        name=name,
        protocol="llmrank",
        scenario="movies",
        items=items,
        pool=tuple(rated),
        test=test,
        valid=valid,
        notes={
            "files": f"{ratings} , {movies}",
            "split": "per user, ratings ordered by timestamp (ties: file order); test = last, validation = "
            "second to last; every rating counts as an interaction",
            "negatives": "uniform over rated movies, excluding every movie the user rated",
            "training": "all ratings except each user's held-out one(s) (popularity, co-occurrence)",
        },
    )


def load_promptrec(paths: str, name: str = "promptrec", scenario: str = "default") -> EvalDataset:
    """``CATALOG,HISTORIES`` in promptrec's JSONL/CSV formats, split leave-last-out in the given order."""
    catalog_path, _, histories_path = paths.partition(",")
    if not histories_path:
        raise DataError("give the catalog and the histories file separated by a comma: promptrec:CATALOG,HISTORIES")
    catalog = read_catalog(catalog_path)
    histories = read_histories(histories_path, catalog)
    sequences = {user: [item.id for item in history.items] for user, history in histories.items()}
    test, valid = leave_last_out(sequences)
    return EvalDataset(
        name=name,
        protocol="llmrank",
        scenario=scenario,
        items=dict(catalog.items()),
        pool=tuple(catalog),
        test=test,
        valid=valid,
        notes={
            "files": f"{catalog_path} , {histories_path}",
            "split": "per user, in file order (CSV: by timestamp); test = last, validation = second to last",
            "negatives": "uniform over the catalog, excluding every item the user has",
            "training": "all interactions except each user's held-out one(s)",
        },
    )


def _natural(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (1 << 62, value)


def _lazy(module: str, function: str) -> Callable[..., Any]:
    def load(*args: Any) -> Any:
        return getattr(importlib.import_module(f"promptrec.evaluation.{module}"), function)(*args)

    return load


def _crossdomain_name(spec: str) -> str:
    from promptrec.evaluation.crossdomain import parse_spec

    path, source, target = parse_spec(spec)
    return f"{Path(path).name}:{source}->{target}"


@dataclass(frozen=True)
class Format:
    """One dataset format: how to load ``FORMAT:PATH`` and the default report name of a PATH."""

    load: Callable[[str, str, str | None], AnyDataset]  # (path, name, scenario) -> dataset
    name: Callable[[str], str]
    describe: str


def help_text() -> str:
    """The ``-d`` option's help, from :data:`SHORTCUTS` and :data:`FORMATS` (a new entry shows up by itself)."""
    formats = "; ".join(f"{name} ({fmt.describe})" for name, fmt in FORMATS.items())
    return f"Dataset (repeatable): {', '.join(SHORTCUTS)}; or FORMAT:PATH with FORMAT one of: {formats}."


#: every format ``FORMAT:PATH`` may name, one entry each
FORMATS: dict[str, Format] = {
    "movielens": Format(lambda p, n, s: load_movielens(Path(p), n), lambda p: Path(p).name,
                        "GroupLens folder with ratings.csv and movies.csv"),
    "llmrank": Format(lambda p, n, s: _lazy("amazon", "load_llmrank")(Path(p), n), lambda p: Path(p).name,
                      "RecBole files PREFIX.item/.test.inter/.valid.inter/.random"),
    "minionerec": Format(lambda p, n, s: _lazy("amazon", "load_minionerec")(Path(p), n), lambda p: Path(p).name,
                         "MiniOneRec DIR/DOMAIN (index/, test/, valid/)"),
    "recsys24": Format(lambda p, n, s: _lazy("crossdomain", "load_cross_domain")(Path(p), n),
                       lambda p: Path(p).name.replace("-", "->"), "RecSys'24 Amazon folder/SOURCE-TARGET"),
    "crossdomain": Format(lambda p, n, s: _lazy("crossdomain", "load_crossdomain")(p, n), _crossdomain_name,
                          "cross-domain cold-start files: PATH:SOURCE:TARGET (see eval/README.md)"),
    "tallrec": Format(lambda p, n, s: _lazy("pointwise", "load_tallrec")(Path(p), n), lambda p: Path(p).parent.name,
                      "TALLRec JSON (pointwise yes/no)"),
    "promptrec": Format(lambda p, n, s: load_promptrec(p, n, s or "default"),
                        lambda p: Path(p.partition(",")[0]).stem, "promptrec CATALOG,HISTORIES (JSONL or CSV)"),
}


def resolve(spec: str, data_dir: str | Path | None = None) -> tuple[str, str, str]:
    """``(format, path, name)`` for a short name or a ``format:path`` spec."""
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if spec in SHORTCUTS:
        fmt, relative, name = SHORTCUTS[spec]
        return fmt, str(root / relative), name
    fmt, sep, path = spec.partition(":")
    if not sep or fmt not in FORMATS:
        raise DataError(
            f"unknown dataset '{spec}'; use one of {', '.join(SHORTCUTS)} or FORMAT:PATH with FORMAT one of "
            f"{', '.join(FORMATS)}",
            field="dataset",
        )
    return fmt, path, FORMATS[fmt].name(path)


@functools.lru_cache(maxsize=8)
def _load(fmt: str, path: str, name: str, scenario: str | None) -> AnyDataset:
    return FORMATS[fmt].load(path, name, scenario)


def load_dataset(spec: str, data_dir: str | Path | None = None, scenario: str | None = None) -> AnyDataset:
    """Load a dataset by short name or ``format:path``; an :class:`EvalDataset`, or a pointwise one for
    ``tallrec``. Loaded datasets are kept for the rest of the process; treat them as read-only."""
    fmt, path, name = resolve(spec, data_dir)
    dataset = _load(fmt, path, name, scenario)
    if scenario and isinstance(dataset, EvalDataset) and dataset.scenario != scenario:
        return dataclasses.replace(dataset, scenario=scenario)
    return dataset
