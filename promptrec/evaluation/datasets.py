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
``amazon-books``    ``amazon:amazon_books_cds_movies_recsys24/merged/books.csv.gz`` (also ``-cds``, ``-movies``)
==================  ===============================================================================

Your own data in promptrec's formats: ``promptrec:CATALOG.jsonl,HISTORIES.jsonl`` (or ``.csv``), split
leave-last-out by time like MovieLens. Your own cross-domain data: ``crossdomain:PATH:SOURCE:TARGET``
(the format is in :mod:`promptrec.evaluation.crossdomain`).

Every format is one entry of :data:`FORMATS`, naming the module and function that read it. A format whose
files have each user's interactions in time order names a ``log`` reader (an
:class:`~promptrec.evaluation.interaction_log.InteractionLog`, ratings and times kept): the leave-last-out
split is then made from it, and the replay protocol (:mod:`promptrec.evaluation.replay`) reads it too, so every
protocol sees the same items and users. Adding a format is one module and one entry here.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from promptrec.data import read_catalog, read_histories
from promptrec.errors import DataError
from promptrec.evaluation.cases import EvalDataset
from promptrec.evaluation.files import default_data_dir
from promptrec.evaluation.interaction_log import Event, InteractionLog, leave_last_out, split_log
from promptrec.evaluation.movielens import ML100K_GENRES, MOVIELENS_LAYOUTS, load_movielens

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
    **{f"amazon-{d}": ("amazon", f"amazon_books_cds_movies_recsys24/merged/{d}.csv.gz", f"amazon-{d}") for d in DOMAINS},
}


def load_promptrec(paths: str, name: str = "promptrec", scenario: str = "default") -> EvalDataset:
    """``CATALOG,HISTORIES`` in promptrec's JSONL/CSV formats, split leave-last-out in the given order
    (:func:`read_promptrec_log`); negatives come from the whole catalog."""
    log = read_promptrec_log(paths, name)
    catalog_path, _, histories_path = paths.partition(",")
    test, valid = leave_last_out(log.item_sequences())
    return EvalDataset(
        name=name,
        protocol="llmrank",
        scenario=scenario,
        items=dict(log.items),
        pool=tuple(log.items),
        test=test,
        valid=valid,
        notes={
            "files": f"{catalog_path} , {histories_path}",
            "split": "per user, in file order (CSV: by timestamp); test = last, validation = second to last",
            "negatives": "uniform over the catalog, excluding every item the user has",
            "training": "all interactions except each user's held-out one(s)",
        },
    )


def read_promptrec_log(paths: str, name: str = "promptrec") -> InteractionLog:
    """``CATALOG,HISTORIES`` as an :class:`InteractionLog` (ratings and times where the histories file has
    them; a history without times keeps its order)."""
    catalog_path, _, histories_path = paths.partition(",")
    if not histories_path:
        raise DataError("give the catalog and the histories file separated by a comma: promptrec:CATALOG,HISTORIES")
    catalog = read_catalog(catalog_path)
    histories = read_histories(histories_path, catalog)
    sequences = {
        user: tuple(Event(i.item.id, i.timestamp if i.timestamp is not None else float(n), i.rating)
                    for n, i in enumerate(history.interactions))
        for user, history in histories.items()
    }
    return InteractionLog(name=name, items=dict(catalog.items()), sequences=sequences,
                          files=f"{catalog_path}, {histories_path}")


def _crossdomain_name(spec: str) -> str:
    from promptrec.evaluation.crossdomain import parse_spec

    path, source, target = parse_spec(spec)
    return f"{Path(path).name}:{source}->{target}"


def _function(reference: str | Callable[..., Any] | None) -> Callable[..., Any] | None:
    """``"module:function"`` (a module of promptrec.evaluation) -> the function, imported on first use; a
    function is taken as it is."""
    if reference is None or callable(reference):
        return reference
    module, _, function = reference.partition(":")
    return getattr(importlib.import_module(f"promptrec.evaluation.{module}"), function)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Format:
    """One dataset format: how to read ``FORMAT:PATH`` and the default report name of a PATH.

    ``log``: ``"module:function"`` of :mod:`promptrec.evaluation`, ``(path, name) ->`` :class:`InteractionLog`,
    for a format whose files hold each user's interactions in time order (ratings and times kept); the
    leave-last-out dataset is made from it, and the replay protocol can read the format. ``load``: the same,
    ``(path, name) ->`` a dataset, for a format with its own split (published test users, fixed negatives,
    a cross-domain protocol...). Modules are imported on first use; a function may be given instead of its
    name (a format registered from outside the package).
    """

    describe: str
    name: Callable[[str], str] = lambda path: Path(path).name
    load: str | Callable[[str, str], AnyDataset] | None = None
    log: str | Callable[[str, str], InteractionLog] | None = None

    def read_log(self, path: str, name: str) -> InteractionLog | None:
        """The format's :class:`InteractionLog` of ``path``, or ``None`` when it has none."""
        reader = _function(self.log)
        return reader(path, name) if reader is not None else None

    def dataset(self, path: str, name: str) -> AnyDataset:
        """The dataset ``path`` holds (its own split, else the leave-last-out split of its log)."""
        loader = _function(self.load)
        if loader is not None:
            return loader(path, name)  # type: ignore[no-any-return]
        log = self.read_log(path, name)
        assert log is not None, "a format has a load or a log reader"
        return split_log(log)


def help_text() -> str:
    """The ``-d`` option's help, from :data:`SHORTCUTS` and :data:`FORMATS` (a new entry shows up by itself)."""
    formats = "; ".join(f"{name} ({fmt.describe})" for name, fmt in FORMATS.items())
    return f"Short names: {', '.join(SHORTCUTS)}. FORMAT is one of: {formats}."


#: every format ``FORMAT:PATH`` may name, one entry each
FORMATS: dict[str, Format] = {
    "movielens": Format("GroupLens folder: ratings.csv + movies.csv, ML-100K's u.data + u.item, or ML-1M's "
                        "ratings.dat + movies.dat", log="movielens:read_log"),
    "llmrank": Format("RecBole files PREFIX.item/.test.inter/.valid.inter/.random", load="amazon:load_llmrank"),
    "minionerec": Format("MiniOneRec DIR/DOMAIN (index/, test/, valid/)", load="amazon:load_minionerec"),
    "recsys24": Format("RecSys'24 Amazon folder/SOURCE-TARGET", lambda p: Path(p).name.replace("-", "->"),
                       load="crossdomain:load_cross_domain"),
    "amazon": Format("one RecSys'24 Amazon CSV (merged/DOMAIN.csv.gz), split leave-last-out by time",
                     lambda p: f"amazon-{Path(p).name.split('.')[0]}", log="crossdomain:read_amazon_log"),
    "crossdomain": Format("cross-domain cold-start files: PATH:SOURCE:TARGET (see eval/README.md)", _crossdomain_name,
                          load="crossdomain:load_crossdomain"),
    "tallrec": Format("TALLRec JSON (pointwise yes/no)", lambda p: Path(p).parent.name, load="pointwise:load_tallrec"),
    "promptrec": Format("promptrec CATALOG,HISTORIES (JSONL or CSV)", lambda p: Path(p.partition(",")[0]).stem,
                        load="datasets:load_promptrec", log="datasets:read_promptrec_log"),
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
def _load(fmt: str, path: str, name: str) -> AnyDataset:
    return FORMATS[fmt].dataset(path, name)


def load_dataset(spec: str, data_dir: str | Path | None = None, scenario: str | None = None) -> AnyDataset:
    """Load a dataset by short name or ``format:path``; an :class:`EvalDataset`, or a pointwise one for
    ``tallrec``. Loaded datasets are kept for the rest of the process; treat them as read-only."""
    fmt, path, name = resolve(spec, data_dir)
    dataset = _load(fmt, path, name)
    if scenario and isinstance(dataset, EvalDataset) and dataset.scenario != scenario:
        return dataclasses.replace(dataset, scenario=scenario)
    return dataset


def log_formats() -> list[str]:
    """The formats that have an :class:`InteractionLog` (each user's interactions in time order)."""
    return [name for name, fmt in FORMATS.items() if fmt.log is not None]


def load_log(spec: str, data_dir: str | Path | None = None) -> InteractionLog:
    """The :class:`InteractionLog` of a short name or ``format:path`` whose format has one (:func:`log_formats`):
    each user's interactions oldest first, with ratings and times."""
    fmt, path, name = resolve(spec, data_dir)
    log = FORMATS[fmt].read_log(path, name)
    if log is None:
        shortcuts = [short for short, (f, _, _) in SHORTCUTS.items() if FORMATS[f].log is not None]
        raise DataError(f"'{spec}' ({fmt}) has no per-user interactions in time order; use one of "
                        f"{', '.join(shortcuts)} or FORMAT:PATH with FORMAT one of {', '.join(log_formats())}",
                        field="dataset")
    return log


__all__ = ["DOMAINS", "FORMATS", "ML100K_GENRES", "MOVIELENS_LAYOUTS", "SHORTCUTS", "AnyDataset", "Format", "help_text",
           "leave_last_out", "load_dataset", "load_log", "load_movielens", "load_promptrec", "log_formats",
           "read_promptrec_log", "resolve"]
