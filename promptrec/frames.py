"""DataFrames in and out of the pipeline: many users' recommendations as one long table.

>>> import pandas as pd
>>> from promptrec import Catalog, PipelineConfig
>>> catalog = Catalog.from_pandas(items)                       # columns id, title, genres...
>>> recommender = PipelineConfig().make_recommender(catalog)   # semantic retrieval; the LLM as configured
>>> interactions = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["m01", "m03", "m04"]})
>>> recommend_many(recommender, interactions, k=5)
   user_id  rank item_id          title     score  retrieval_score  retrieval_rank  llm_score  fused_score ...

The users come as a long DataFrame of interactions (one row per user and item, oldest first or ordered by a
time column), a mapping ``user -> [ids or titles]``, or :class:`~promptrec.data.UserHistory` objects. The
result has one row per user and recommended item, users in the order they first appear, ranks within a user.
Item entries are ids or titles (:meth:`~promptrec.data.Catalog.lookup`); pandas is the ``pandas`` extra.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from promptrec.data import UserHistory, missing_column_error
from promptrec.errors import DataError, MissingDependencyError, PromptrecError
from promptrec.ranking import RankedItem

if TYPE_CHECKING:
    from promptrec.data import Catalog

logger = logging.getLogger(__name__)

#: The columns of :func:`recommend_many`'s result, in order (the stage scores follow RankedItem's fields).
RESULT_COLUMNS: tuple[str, ...] = (
    "user_id", "rank", "item_id", "title", "score",
    *(name for name in RankedItem.model_fields if name not in ("item", "rank", "label", "score")),
)


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise MissingDependencyError("pandas", "pandas") from None
    return pandas


def histories_from_frame(
    frame: Any,
    catalog: Catalog,
    *,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str | None = None,
) -> list[UserHistory]:
    """One :class:`UserHistory` per user of a long interactions DataFrame (pandas, or polars through
    ``to_pandas``), users in the order they first appear; a user's items oldest first (by ``time_col`` when
    given, else in row order). A missing column names itself and the columns there are."""
    if hasattr(frame, "to_pandas") and not hasattr(frame, "iloc"):  # polars
        frame = frame.to_pandas()
    present = [str(name) for name in frame.columns]
    for name in (user_col, item_col, *((time_col,) if time_col else ())):
        if name not in present:
            raise missing_column_error((name,), present, path="DataFrame")
    order = frame.reset_index(drop=True)
    if time_col:
        order = order.sort_values(time_col, kind="stable")
    entries: dict[str, list[Any]] = {}
    for user, item in zip(order[user_col].tolist(), order[item_col].tolist()):
        entries.setdefault(str(user), []).append(item)
    first_seen = dict.fromkeys(str(user) for user in frame[user_col].tolist())
    return [_history(catalog, user, entries[user]) for user in first_seen]


def _history(catalog: Catalog, user: str, entries: Iterable[Any]) -> UserHistory:
    try:
        return catalog.history([str(e) if not isinstance(e, str) and hasattr(e, "__int__") else e for e in entries],
                               user_id=user)
    except DataError as exc:
        raise DataError(f"user '{user}': {exc}") from None


def as_histories(users: Any, catalog: Catalog, *, user_col: str = "user_id", item_col: str = "item_id",
                 time_col: str | None = None) -> list[UserHistory]:
    """Users in any of :func:`recommend_many`'s forms as a list of histories."""
    if hasattr(users, "columns"):
        return histories_from_frame(users, catalog, user_col=user_col, item_col=item_col, time_col=time_col)
    if isinstance(users, Mapping):
        return [_history(catalog, str(user), entries) for user, entries in users.items()]
    histories = []
    for index, user in enumerate(users):
        if not isinstance(user, UserHistory):
            raise DataError(f"users[{index}]: expected a UserHistory, got {type(user).__name__}; give a DataFrame, "
                            "a mapping user -> items or UserHistory objects")
        histories.append(user)
    return histories


def recommend_many(
    recommender: Any,
    users: Any,
    k: int = 10,
    *,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str | None = None,
    errors: str = "raise",
) -> Any:
    """Recommend ``k`` items to every user and return one long pandas DataFrame.

    Args:
        recommender: the pipeline, a :class:`~promptrec.pipeline.Recommender` (not imported here: the pipeline
            imports this module for ``Recommender.recommend_many``); its retriever's catalog resolves item ids
            and titles.
        users: a long interactions DataFrame (``user_col``, ``item_col``, optionally ``time_col``), a mapping
            ``user id -> [item ids or titles]``, or an iterable of :class:`~promptrec.data.UserHistory`.
        k: items per user.
        errors: ``"raise"`` (default): the first user that fails raises, naming the user; ``"skip"``: the
            user is left out, with a warning naming it and the reason.

    Returns:
        A DataFrame with the columns :data:`RESULT_COLUMNS` (``user_id``, ``rank``, ``item_id``, ``title``,
        ``score``, then each stage's score), one row per user and item, users in input order.
    """
    if errors not in ("raise", "skip"):
        raise DataError(f"errors must be 'raise' or 'skip', got {errors!r}", field="errors")
    pandas = _pandas()
    catalog = recommender.retriever.catalog
    rows: list[dict[str, Any]] = []
    for history in as_histories(users, catalog, user_col=user_col, item_col=item_col, time_col=time_col):
        try:
            ranking = recommender.recommend(history, k=k)
        except PromptrecError as exc:
            if errors == "raise":
                raise type(exc)(f"user '{history.user_id}': {exc}") if isinstance(exc, DataError) else exc  # noqa: B904 (the same error, or it with the user named)
            logger.warning("user '%s' left out: %s", history.user_id, exc)
            continue
        rows.extend({name: record.get(name) for name in RESULT_COLUMNS} for record in ranking.to_records())
    return pandas.DataFrame(rows, columns=list(RESULT_COLUMNS))


__all__ = ["RESULT_COLUMNS", "as_histories", "histories_from_frame", "recommend_many"]
