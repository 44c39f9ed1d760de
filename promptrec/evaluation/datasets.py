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
from promptrec.evaluation.files import (
    clean_text,
    csv_records,
    default_data_dir,
    legacy_lines,
    number,
    required_text,
)

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


#: ML-100K's genre flags in ``u.item``, in order (``u.genre`` overrides them where present)
ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                 "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                 "War", "Western")

#: the MovieLens layouts :func:`load_movielens` reads: (ratings file, movies file, releases)
MOVIELENS_LAYOUTS = (("ratings.csv", "movies.csv", "ml-latest, ml-latest-small, ML-20M, ML-25M, ML-32M"),
                     ("u.data", "u.item", "ML-100K"),
                     ("ratings.dat", "movies.dat", "ML-1M, ML-10M"))

#: one rating: (user id, movie id, timestamp, line)
_Rating = tuple[str, str, float, int]


def _movielens_csv(folder: Path) -> tuple[dict[str, Item], list[_Rating], str]:
    items: dict[str, Item] = {}
    movies = folder / "movies.csv"
    for line, row in csv_records(movies, ("movieId", "title", "genres")):
        movie_id = required_text(row["movieId"], movies, line, "movieId")
        genres = [g for g in row["genres"].split("|") if g and g != "(no genres listed)"]
        title = clean_text(required_text(row["title"], movies, line, "title"))
        items[movie_id] = Item(id=movie_id, title=title, attributes={"genres": genres} if genres else {})
    ratings = folder / "ratings.csv"
    rows = []
    for line, row in csv_records(ratings, ("userId", "movieId", "rating", "timestamp")):
        user_id = required_text(row["userId"], ratings, line, "userId")
        movie_id = required_text(row["movieId"], ratings, line, "movieId")
        number(row["rating"], ratings, line, "rating")
        rows.append((user_id, movie_id, number(row["timestamp"], ratings, line, "timestamp"), line))
    return items, rows, "UTF-8"


def _fields(text: str, sep: str, names: tuple[str, ...], path: Path, line: int, at_least: bool = False) -> list[str]:
    parts = text.split(sep)
    if len(parts) < len(names) or (not at_least and len(parts) != len(names)):
        raise DataError(f"expected {len(names)} fields ({', '.join(names)}) separated by {sep!r}, got {len(parts)}",
                        path=path, line=line)
    return parts


def _ratings_lines(path: Path, sep: str) -> list[_Rating]:
    rows = []
    names = ("user id", "item id", "rating", "timestamp")
    lines, _ = legacy_lines(path)
    for line, text in lines:
        user, movie, rating, stamp = (p.strip() for p in _fields(text.strip(), sep, names, path, line))
        number(rating, path, line, "rating")
        rows.append((required_text(user, path, line, "user id"), required_text(movie, path, line, "item id"),
                     number(stamp, path, line, "timestamp"), line))
    return rows


def _movielens_100k(folder: Path) -> tuple[dict[str, Item], list[_Rating], str]:
    genres = list(ML100K_GENRES)
    if (folder / "u.genre").is_file():
        listed, _ = legacy_lines(folder / "u.genre")
        genres = [name for _, name in sorted((int(i), n) for n, i in (t.split("|") for _, t in listed) if i.isdigit())]
    movies = folder / "u.item"
    lines, encoding = legacy_lines(movies)
    items: dict[str, Item] = {}
    for line, text in lines:
        parts = _fields(text, "|", ("movie id", "title", "release date", "video release date", "IMDb URL"),
                        movies, line, at_least=True)
        movie_id = required_text(parts[0], movies, line, "movie id")
        flags = parts[5:]
        chosen = [genres[i] for i, flag in enumerate(flags) if flag.strip() == "1" and i < len(genres)]
        chosen = [g for g in chosen if g != "unknown"]
        title = clean_text(required_text(parts[1], movies, line, "title"))
        items[movie_id] = Item(id=movie_id, title=title, attributes={"genres": chosen} if chosen else {})
    return items, _ratings_lines(folder / "u.data", "\t"), encoding


def _movielens_dat(folder: Path) -> tuple[dict[str, Item], list[_Rating], str]:
    movies = folder / "movies.dat"
    lines, encoding = legacy_lines(movies)
    items: dict[str, Item] = {}
    for line, text in lines:
        movie_id, title, genre_text = _fields(text, "::", ("movie id", "title", "genres"), movies, line)
        genres = [g for g in genre_text.strip().split("|") if g and g != "(no genres listed)"]
        movie_id = required_text(movie_id, movies, line, "movie id")
        items[movie_id] = Item(id=movie_id, title=clean_text(required_text(title, movies, line, "title")),
                               attributes={"genres": genres} if genres else {})
    return items, _ratings_lines(folder / "ratings.dat", "::"), encoding


def load_movielens(folder: Path, name: str = "movielens") -> EvalDataset:
    """A GroupLens MovieLens folder in any of its own layouts (:data:`MOVIELENS_LAYOUTS`): ``ratings.csv`` +
    ``movies.csv``; ML-100K's ``u.data`` + ``u.item`` (+ ``u.genre``); ML-1M's ``ratings.dat`` + ``movies.dat``.
    The old files are read as UTF-8 where valid, else as ISO-8859-1 (what GroupLens wrote them in).

    Every rating is an interaction, ordered by time. The tie rule (stable): ratings with the same
    timestamp keep the ratings file's order, so the same file always gives the same split, and a file
    sorted differently may give another one (the report says which rule applied). Titles keep their year;
    genres become an attribute.
    """
    found = [layout for layout in MOVIELENS_LAYOUTS if (folder / layout[0]).is_file()]
    if not found:
        expected = "; ".join(f"{r} + {m} ({what})" for r, m, what in MOVIELENS_LAYOUTS)
        raise DataError(f"no MovieLens ratings file here; expected one of: {expected}", path=folder)
    ratings_name, movies_name, releases = found[0]
    reader = {"ratings.csv": _movielens_csv, "u.data": _movielens_100k, "ratings.dat": _movielens_dat}[ratings_name]
    items, rows, encoding = reader(folder)
    ratings = folder / ratings_name
    events: dict[str, list[tuple[float, int, str]]] = {}
    for user_id, movie_id, timestamp, line in rows:
        if movie_id not in items:
            raise DataError(f"movie {movie_id} is not in {movies_name}", path=ratings, line=line, field="movieId")
        events.setdefault(user_id, []).append((timestamp, line, movie_id))
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
            "files": f"{ratings} , {folder / movies_name} ({releases} layout; {movies_name} read as {encoding})",
            "split": "per user, ratings ordered by timestamp (ties: the ratings file's order, a stable rule); "
            "test = last, validation = second to last; every rating counts as an interaction",
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
                        "GroupLens folder: ratings.csv + movies.csv, ML-100K's u.data + u.item, or ML-1M's ratings.dat + movies.dat"),
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
