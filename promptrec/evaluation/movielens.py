"""The GroupLens MovieLens format, in each of its own layouts (:data:`MOVIELENS_LAYOUTS`), read into an
:class:`~promptrec.evaluation.interaction_log.InteractionLog` with every rating and its time.

``ratings.csv`` + ``movies.csv`` (ml-latest, ml-latest-small, ML-20M/25M/32M); ML-100K's ``u.data`` +
``u.item`` (+ ``u.genre``); ML-1M's and ML-10M's ``ratings.dat`` + ``movies.dat``. The old files are read as
UTF-8 where valid, else as ISO-8859-1 (what GroupLens wrote them in).

Every rating is an interaction, ordered by time. The tie rule (stable): ratings with the same timestamp
keep the ratings file's order, so the same file always gives the same split, and a file sorted differently
may give another one (the report says which rule applied). Titles keep their year; genres become an
attribute.
"""

from __future__ import annotations

from pathlib import Path

from promptrec.data import Item
from promptrec.errors import DataError
from promptrec.evaluation.cases import EvalDataset
from promptrec.evaluation.files import clean_text, csv_records, legacy_lines, number, required_text
from promptrec.evaluation.interaction_log import InteractionLog, ordered, split_log

#: ML-100K's genre flags in ``u.item``, in order (``u.genre`` overrides them where present)
ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                 "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                 "War", "Western")

#: the MovieLens layouts :func:`read_log` reads: (ratings file, movies file, releases)
MOVIELENS_LAYOUTS = (("ratings.csv", "movies.csv", "ml-latest, ml-latest-small, ML-20M, ML-25M, ML-32M"),
                     ("u.data", "u.item", "ML-100K"),
                     ("ratings.dat", "movies.dat", "ML-1M, ML-10M"))

#: one rating: (user id, movie id, timestamp, rating, line)
_Rating = tuple[str, str, float, float, int]


def _genres(text: str) -> list[str]:
    return [g for g in text.strip().split("|") if g and g != "(no genres listed)"]


def _movie(movie_id: str, title: str, genres: list[str], path: Path, line: int) -> Item:
    return Item(id=required_text(movie_id, path, line, "movie id" if path.suffix != ".csv" else "movieId"),
                title=clean_text(required_text(title, path, line, "title")),
                attributes={"genres": genres} if genres else {})


def _csv_layout(folder: Path) -> tuple[dict[str, Item], list[_Rating], str]:
    items: dict[str, Item] = {}
    movies = folder / "movies.csv"
    for line, row in csv_records(movies, ("movieId", "title", "genres")):
        item = _movie(row["movieId"], row["title"], _genres(row["genres"]), movies, line)
        items[item.id] = item
    ratings = folder / "ratings.csv"
    rows = []
    for line, row in csv_records(ratings, ("userId", "movieId", "rating", "timestamp")):
        user_id = required_text(row["userId"], ratings, line, "userId")
        movie_id = required_text(row["movieId"], ratings, line, "movieId")
        rating = number(row["rating"], ratings, line, "rating")
        rows.append((user_id, movie_id, number(row["timestamp"], ratings, line, "timestamp"), rating, line))
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
        value = number(rating, path, line, "rating")
        rows.append((required_text(user, path, line, "user id"), required_text(movie, path, line, "item id"),
                     number(stamp, path, line, "timestamp"), value, line))
    return rows


def _100k_layout(folder: Path) -> tuple[dict[str, Item], list[_Rating], str]:
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
        chosen = [genres[i] for i, flag in enumerate(parts[5:]) if flag.strip() == "1" and i < len(genres)]
        item = _movie(parts[0], parts[1], [g for g in chosen if g != "unknown"], movies, line)
        items[item.id] = item
    return items, _ratings_lines(folder / "u.data", "\t"), encoding


def _dat_layout(folder: Path) -> tuple[dict[str, Item], list[_Rating], str]:
    movies = folder / "movies.dat"
    lines, encoding = legacy_lines(movies)
    items: dict[str, Item] = {}
    for line, text in lines:
        movie_id, title, genre_text = _fields(text, "::", ("movie id", "title", "genres"), movies, line)
        item = _movie(movie_id, title, _genres(genre_text), movies, line)
        items[item.id] = item
    return items, _ratings_lines(folder / "ratings.dat", "::"), encoding


_READERS = {"ratings.csv": _csv_layout, "u.data": _100k_layout, "ratings.dat": _dat_layout}


def read_log(folder: str | Path, name: str = "movielens") -> InteractionLog:
    """A GroupLens MovieLens folder in any of its layouts (module docstring), every rating kept with its time."""
    folder = Path(folder)
    found = [layout for layout in MOVIELENS_LAYOUTS if (folder / layout[0]).is_file()]
    if not found:
        expected = "; ".join(f"{r} + {m} ({what})" for r, m, what in MOVIELENS_LAYOUTS)
        raise DataError(f"no MovieLens ratings file here; expected one of: {expected}", path=folder)
    ratings_name, movies_name, releases = found[0]
    items, rows, encoding = _READERS[ratings_name](folder)
    ratings = folder / ratings_name
    events: dict[str, list[tuple[float, int, str, float | None]]] = {}
    for user_id, movie_id, timestamp, rating, line in rows:
        if movie_id not in items:
            raise DataError(f"movie {movie_id} is not in {movies_name}", path=ratings, line=line, field="movieId")
        events.setdefault(user_id, []).append((timestamp, line, movie_id, rating))
    return InteractionLog(
        name=name,
        items=items,
        sequences=ordered(events),
        scenario="movies",
        files=f"{ratings}, {folder / movies_name}",
        notes={
            "files": f"{ratings} , {folder / movies_name} ({releases} layout; {movies_name} read as {encoding})",
            "split": "per user, ratings ordered by timestamp (ties: the ratings file's order, a stable rule); "
            "test = last, validation = second to last; every rating counts as an interaction",
            "negatives": "uniform over rated movies, excluding every movie the user rated",
            "training": "all ratings except each user's held-out one(s) (popularity, co-occurrence)",
        },
    )


def load_movielens(folder: str | Path, name: str = "movielens") -> EvalDataset:
    """The leave-last-out dataset of a MovieLens folder (:func:`read_log`, then
    :func:`~promptrec.evaluation.interaction_log.split_log`): negatives are drawn from the rated movies."""
    return split_log(read_log(folder, name))


__all__ = ["ML100K_GENRES", "MOVIELENS_LAYOUTS", "load_movielens", "read_log"]
