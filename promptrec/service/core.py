"""The service's operations, apart from HTTP: what every route (and the page and the Gorse layer) calls.

:class:`RecommendationService` joins the :class:`~promptrec.service.store.Store` (what is kept) and the
:class:`~promptrec.service.engine.PipelineEngine` (the pipeline over it). It checks references (an unknown
item is refused before anything is written) and turns stored rows into the pipeline's input: a user's
history is their stored interactions, oldest first, and their feedback goes to the pipeline as
:class:`~promptrec.feedback_store.FeedbackRecord` objects. It makes no recommendation decision itself.

Every method blocks (database, pipeline): the app calls them from worker threads.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from promptrec.data import Columns, Interaction, Item, UserHistory, read_catalog, read_histories
from promptrec.errors import PromptrecError
from promptrec.feedback_store import FeedbackRecord
from promptrec.ranking import Ranking
from promptrec.service.engine import PipelineEngine
from promptrec.service.histories import HistoryCache
from promptrec.service.settings import ServiceSettings
from promptrec.service.store import Store, StoredFeedback, StoredItem, UserState

logger = logging.getLogger(__name__)


class UnknownItemsError(PromptrecError):
    """A request names items the catalog does not have; ``ids`` lists them with where they were named."""

    def __init__(self, ids: Sequence[tuple[str, str]]) -> None:
        self.ids = list(ids)
        shown = ", ".join(f"'{item}' ({where})" for item, where in self.ids[:10])
        more = f" and {len(self.ids) - 10} more" if len(self.ids) > 10 else ""
        super().__init__(f"{len(self.ids)} item id(s) not in the catalog: {shown}{more}; nothing was stored")


class NotFoundError(PromptrecError):
    """An item or user the request names does not exist."""


@dataclass(frozen=True)
class Reaction:
    """One reaction to record or use: a user (``None`` in a session), an item, a label, maybe a rating."""

    user: str | None
    item: str
    label: str
    rating: float | None = None
    timestamp: float | None = None


class RecommendationService:
    """The store, the pipeline over it, and the operations the HTTP API exposes.

    Args:
        settings: the service's settings (database, seed files, pipeline configuration).
        store: an open store [default: one opened at ``settings.url``].
    """

    def __init__(self, settings: ServiceSettings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.url)
        # the feedback the pipeline sees is this database's, given to it with each request; the configuration's
        # own feedback store (the CLI's) is not read
        self.config = settings.config.updated({"feedback": {"enabled": False}})
        self.scenario = self.config.scenario or "default"
        self.engine = PipelineEngine(self.store, self.config, feedback=settings.config.feedback)
        self.histories = HistoryCache()

    def start(self) -> None:
        """Seed the database from the settings' catalog and interactions files, then build the pipeline."""
        if self.settings.catalog is not None:
            self.seed_catalog(self.settings.catalog)
        if self.settings.interactions is not None:
            self.seed_interactions(self.settings.interactions)
        self.engine.start()

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------------------------- seeding

    def seed_catalog(self, source: str) -> int:
        """Add the items of a catalog file (or ``demo``) that the database does not have yet."""
        path = demo_catalog_path() if source == "demo" else Path(source)
        catalog = read_catalog(path, self.config.data.columns())  # your column names ([data], --id-col ...)
        added = self.store.upsert_items(list(catalog.values()), only_new=True)
        logger.info("catalog %s: %d item(s), %d new to the database", path, len(catalog), added)
        return added

    def seed_interactions(self, source: str) -> int:
        """Add the interactions of a histories file (pairs already there are kept as they are)."""
        from promptrec.data import Catalog

        catalog = Catalog(s.item for s in self.store.items())
        columns = self.config.data.columns()
        if columns.user is None:  # no name given: MovieLens' userId where the file has no user_id column
            columns = Columns.of(columns, user=(_columns(Path(source)) or Columns()).user)
        histories = read_histories(source, catalog, columns)
        rows = [(user, interaction.item.id, interaction.timestamp, interaction.rating)
                for user, history in histories.items() for interaction in history.interactions]
        added = self.store.add_interactions(rows)
        logger.info("interactions %s: %d read, %d new to the database", source, len(rows), added)
        return added

    # --------------------------------------------------------------------------------------- items

    def upsert_items(self, items: Sequence[Item]) -> int:
        """Add or replace items (their hidden flag stays); the pipeline picks them up on its next answer."""
        return self.store.upsert_items(items)

    def item(self, item_id: str) -> StoredItem:
        stored = self.store.get_item(item_id)
        if stored is None:
            raise NotFoundError(f"item '{item_id}' is not in the catalog")
        return stored

    def hide_item(self, item_id: str, hidden: bool = True) -> None:
        """Hide an item from recommendations (it stays in the catalog, and in histories)."""
        if not self.store.set_hidden(item_id, hidden):
            raise NotFoundError(f"item '{item_id}' is not in the catalog")

    def search(self, text: str, n: int, offset: int = 0) -> list[StoredItem]:
        """Visible items matching ``text`` (:meth:`Store.search_items`)."""
        return self.store.search_items(text, limit=n, offset=offset)

    # ------------------------------------------------------------------------------------ feedback

    def add_feedback(self, reactions: Sequence[Reaction]) -> int:
        """Store reactions of stored users, all or none: an unknown item refuses the whole batch."""
        self._check_items([(r.item, f"body[{i}].item") for i, r in enumerate(reactions)])
        now = time.time()
        records = [StoredFeedback(0, uuid.uuid4().hex, r.user or "", r.item, r.label, r.rating,
                                  r.timestamp if r.timestamp is not None else now) for r in reactions]
        if any(not r.user for r in reactions):
            raise PromptrecError("stored feedback needs a user")
        return self.store.add_feedback(records)

    def feedback(self, user_id: str, label: str | None = None) -> list[StoredFeedback]:
        """The user's stored feedback, oldest first; :class:`NotFoundError` for a user never seen."""
        if not self.store.user_exists(user_id):
            raise NotFoundError(f"user '{user_id}' has no feedback or history here")
        return self.store.feedback(user_id, label=label)

    # ----------------------------------------------------------------------------- recommendations

    def recommend_user(self, user_id: str, n: int, query: str | None = None,
                       exclude: Iterable[str] = ()) -> Ranking:
        """The pipeline's top ``n`` for a stored user: their stored history and feedback (a user never
        seen gets the pipeline's cold-start fallback); ``exclude``: items never to recommend."""
        engine = self.engine
        state = self.store.user_state(user_id, known_interactions=self.histories.known_version(user_id, engine.catalog_version))
        engine.refresh(wait=False, version=state.catalog_version)
        history = self._history(user_id, state)
        feedback = [self._record(user_id, f.item_id, f.label, f.rating, f.timestamp, f.uid) for f in state.feedback]
        return self.engine.recommend(history, n, feedback=[r for r in feedback if r is not None], query=query,
                                     user_id=user_id, refresh=False, exclude=frozenset(exclude),
                                     history_key=("stored", user_id, state.interactions_version, id(history)))

    def recommend_session(self, history: Sequence[str], reactions: Sequence[Reaction], n: int,
                          query: str | None = None, exclude: Iterable[str] = ()) -> Ranking:
        """The pipeline's top ``n`` for a session: a history of item ids and feedback, nothing stored;
        ``exclude``: items never to recommend."""
        self.engine.refresh(wait=False)
        self._check_items([(item, f"body.history[{i}]") for i, item in enumerate(history)]
                          + [(r.item, f"body.feedback[{i}].item") for i, r in enumerate(reactions)])
        items = [self.engine.item(item_id) for item_id in history]
        now = time.time()
        # the session's history is the pipeline's "anonymous" user: its records are that user's, so that the
        # ranker finds them for its in-context examples
        feedback = [self._record("anonymous", r.item, r.label, r.rating, r.timestamp or now, f"session-{i}")
                    for i, r in enumerate(reactions)]
        return self.engine.recommend([i for i in items if i is not None], n,
                                     feedback=[r for r in feedback if r is not None], query=query, refresh=False,
                                     exclude=frozenset(exclude))

    def similar(self, item_id: str, n: int) -> Ranking:
        """Items like ``item_id``, by the pipeline's ``similar``."""
        self.engine.refresh(wait=False)
        if self.engine.item(item_id) is None:
            raise NotFoundError(f"item '{item_id}' is not in the catalog")
        return self.engine.similar(item_id, n, refresh=False)

    # ------------------------------------------------------------------------------------- helpers

    def _history(self, user_id: str, state: UserState) -> UserHistory:
        """The user's history at ``state``'s interactions version and the engine's catalog version: the cached
        one, or one made from the rows (read again in the rare case that the catalog moved meanwhile)."""
        catalog_version = self.engine.catalog_version
        history = self.histories.get(user_id, state.interactions_version, catalog_version)
        if history is not None:
            return history
        rows = state.history if state.history is not None else self.store.history(user_id)
        item = self.engine.item
        history = UserHistory.model_construct(user_id=user_id, interactions=[  # values from the database: checked
            Interaction.model_construct(item=found, timestamp=i.timestamp, rating=i.rating)
            for i in rows if (found := item(i.item_id)) is not None])
        self.histories.put(user_id, state.interactions_version, catalog_version, history)
        return history

    def _check_items(self, named: Sequence[tuple[str, str]]) -> None:
        missing = [(item, where) for item, where in named if self.engine.item(item) is None]
        if missing:  # the engine may not have caught up with another process: ask the database
            missing = [(item, where) for item, where in missing if self.store.get_item(item) is None]
        if missing:
            raise UnknownItemsError(missing)

    def _record(self, user_id: str, item_id: str, label: str, rating: float | None, timestamp: float,
                uid: str) -> FeedbackRecord | None:
        item = self.engine.item(item_id)
        if item is None:
            return None
        # checked on the way in (the request's schema, then the database): built without validating again
        return FeedbackRecord.model_construct(uid=uid, user_id=user_id, scenario=self.scenario, item_id=item_id,
                                              item_title=item.title, label=label, rating=rating, shown=[],
                                              timestamp=timestamp, comment=None)


def _columns(path: Path) -> Columns | None:
    """MovieLens' ``userId`` as the user column of a CSV histories file that has no ``user_id`` column."""
    if path.suffix.lower() != ".csv":
        return None
    try:
        with path.open(encoding="utf-8-sig") as handle:
            header = [name.strip() for name in handle.readline().split(",")]
    except OSError:
        return None  # read_histories names the problem
    return Columns(user="userId") if "user_id" not in header and "userId" in header else None


def demo_catalog_path() -> Path:
    """The bundled demo catalog (the one ``--catalog demo`` names everywhere)."""
    from importlib import resources

    return Path(str(resources.files("promptrec.demo").joinpath("movies.jsonl")))


__all__ = ["NotFoundError", "Reaction", "RecommendationService", "UnknownItemsError", "demo_catalog_path"]
